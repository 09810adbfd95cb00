// The compiled tier (src/cpu/compile.ts) against the handler path: random blocks of the
// instructions it specialises (every size, register and memory forms, SIB/RIP-relative/FS/67
// addressing, AH..BH), mixed with flag readers and handler-only instructions, run on two CPUs
// from the same state: one interpreting every block, one compiling every block before its first
// run. Registers, RFLAGS, RIP, retired count, the fault (vector, error code, address) and memory
// must agree, on a cold TLB (slow paths, faults) and on a warm one (inline fast paths).
//
// Reproduce: TSXEN_COMPILE_SEED=<seed printed by the run> npx vitest run test/cpu/compile.test.ts

import { describe, expect, it } from 'vitest';
import { Cpu } from '../../src/cpu/cpu.js';
import { decodeBlock } from '../../src/cpu/decoder.js';
import { generate } from '../../src/cpu/compile.js';
import { pageFault, PF_FETCH, PF_PRESENT, PF_USER, PF_WRITE, type CpuFault } from '../../src/cpu/fault.js';
import { StopHooks, flatCpu } from '../../src/cpu/flat.js';
import { getFlags, setFlags } from '../../src/cpu/flags.js';
import { Access, type Translator } from '../../src/cpu/memory.js';
import { Rng } from './diff/gen.js';
import { assemble } from './asm.js';

const SEED = process.env.TSXEN_COMPILE_SEED !== undefined ? Number(process.env.TSXEN_COMPILE_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
const CASES = Number(process.env.TSXEN_COMPILE_CASES ?? 1200);

// Address space: two code pages (read/execute) at CODE, and a data window of 16 pages plus one
// read-only page at a linear address chosen per case (low, across 2^32, across zero, at the
// bottom of the upper half, at the top of the lower half) so that address and stack arithmetic
// carries between the 32-bit halves; everything else is unmapped.
const CODE = 0x400000;
const CODE_RAM = 0x1000;
const CODE_LEN = 0x2000;
const DATA_RAM = 0x10000;
const DATA_LEN = 0x10000;
const RAM = DATA_RAM + DATA_LEN + 0x2000;
const WINDOWS = [0x10000, 0xffff8000, -0x8000, -0x800000000000, 0x7fffffff0000];

class TestTranslator implements Translator {
  window = WINDOWS[0];
  translate(page: number, access: Access, addr = page): number {
    const why = PF_USER | (access === Access.Write ? PF_WRITE : 0) | (access === Access.Exec ? PF_FETCH : 0);
    if (page >= CODE && page < CODE + CODE_LEN) {
      if (access === Access.Write) throw pageFault(addr, why | PF_PRESENT);
      return CODE_RAM + (page - CODE);
    }
    const d = page - this.window;
    // Data is not executable (a RET to a random value faults instead of running data).
    if (d >= 0 && d < DATA_LEN && access !== Access.Exec) return DATA_RAM + d;
    if (d === DATA_LEN) {
      if (access !== Access.Read) throw pageFault(addr, why | PF_PRESENT);
      return DATA_RAM + d;
    }
    throw pageFault(addr, why);
  }
}

// ---- a small encoder: only valid encodings matter, not their meaning (both CPUs decode them) ----

type E = { r: number } | { base: number | 'rip' | null; index: number | null; scale: number; disp: number; target?: number };

interface Enc {
  pfx?: number[];
  /** 2 (66 prefix), 8 (REX.W) or anything else for none. */
  sz?: number;
  op: number[];
  reg?: number;
  e?: E;
  imm?: number[];
  forceRex?: boolean;
}

function encode(x: Enc, at: number): number[] {
  let rex = x.sz === 8 ? 8 : 0;
  const body: number[] = [];
  let ripFix = -1;
  let ripTarget = 0;
  if (x.e !== undefined) {
    const reg = x.reg ?? 0;
    if (reg & 8) rex |= 4;
    const e = x.e;
    if ('r' in e) {
      if (e.r & 8) rex |= 1;
      body.push(0xc0 | ((reg & 7) << 3) | (e.r & 7));
    } else if (e.base === 'rip') {
      body.push(((reg & 7) << 3) | 5);
      ripFix = body.length;
      ripTarget = e.target ?? 0;
      body.push(0, 0, 0, 0);
    } else {
      const { base, index, scale, disp } = e;
      const needSib = index !== null || base === null || (base & 7) === 4;
      const mod = base === null ? 0 : disp === 0 && (base & 7) !== 5 ? 0 : disp >= -128 && disp < 128 ? 1 : 2;
      body.push((mod << 6) | ((reg & 7) << 3) | (needSib ? 4 : base! & 7));
      if (needSib) {
        const ss = [1, 2, 4, 8].indexOf(scale);
        const idx = index === null ? 4 : index & 7;
        body.push((ss << 6) | (idx << 3) | (base === null ? 5 : base & 7));
        if (index !== null && index & 8) rex |= 2;
      }
      if (base !== null && base & 8) rex |= 1;
      const d = base === null || mod === 2 ? 4 : mod === 1 ? 1 : 0;
      for (let k = 0; k < d; k++) body.push((disp >> (8 * k)) & 0xff);
    }
  } else if (x.reg !== undefined && x.reg & 8) rex |= 1; // opcode-register forms (50+r, b8+r)
  const head = [...(x.pfx ?? []), ...(x.sz === 2 ? [0x66] : [])];
  if (rex !== 0 || x.forceRex) head.push(0x40 | rex);
  const bytes = [...head, ...x.op, ...body, ...(x.imm ?? [])];
  if (ripFix >= 0) {
    const at0 = head.length + x.op.length + ripFix;
    const d = ripTarget - (at + bytes.length);
    for (let k = 0; k < 4; k++) bytes[at0 + k] = (d >> (8 * k)) & 0xff;
  }
  return bytes;
}

const le = (v: number, n: number): number[] => Array.from({ length: n }, (_, k) => Number((BigInt(v) >> BigInt(8 * k)) & 0xffn));

// Register roles: values are computed in VAL; memory operands mostly use PTR bases and IDX indexes.
const VAL = [0, 2, 8, 10, 11, 14, 15];
const PTR = [3, 5, 6, 7, 12, 13];
const IDX = [1, 9];

class CaseGen {
  constructor(readonly rng: Rng) {}
  val(): number {
    return this.rng.bool(0.85) ? this.rng.pick(VAL) : this.rng.int(16);
  }
  sz(): number {
    return this.rng.pick([2, 4, 4, 8, 8, 8]);
  }
  mem(): E {
    const r = this.rng;
    const k = r.int(20);
    // RIP-relative and absolute forms reach data only in the low window (else they fault).
    if (k === 0) return { base: 'rip', index: null, scale: 1, disp: 0, target: WINDOWS[0] + r.int(DATA_LEN - 8) };
    if (k === 1) return { base: null, index: r.bool() ? r.pick(IDX) : null, scale: r.pick([1, 2, 4, 8]), disp: WINDOWS[0] + r.int(0x8000) };
    const base = r.bool(0.9) ? r.pick(PTR) : r.int(16);
    const index = r.bool(0.4) ? (r.bool(0.9) ? r.pick(IDX) : r.int(16)) : null;
    const disp = r.pick([0, r.range(-128, 127), r.range(-0x800, 0x800), r.range(-4, 4)]);
    return { base, index: index === 4 ? null : index, scale: r.pick([1, 2, 4, 8]), disp };
  }
  e(): E {
    return this.rng.bool(0.5) ? { r: this.val() } : this.mem();
  }
  imm(sz: number): number[] {
    const v = this.rng.pick([0, 1, -1, 0x7f, 0x80, this.rng.u32(), this.rng.u32() & 0xff, 0x7fffffff, -0x80000000]);
    return le(v, sz === 1 ? 1 : sz === 2 ? 2 : 4);
  }
  /** Segment/address-size prefixes on some memory operands. */
  pfx(e: E): number[] {
    if ('r' in e) return [];
    const p: number[] = [];
    if (this.rng.bool(0.08)) p.push(0x64);
    if (this.rng.bool(0.04)) p.push(0x67);
    return p;
  }

  /** One non-terminating instruction. */
  insn(): Enc {
    const r = this.rng;
    switch (r.int(22)) {
      case 0: case 1: case 2: case 3: { // ALU 00-3F
        const k = r.int(8), form = r.int(6);
        const byte = form % 2 === 0;
        const sz = byte ? 1 : this.sz();
        if (form >= 4) return { sz, op: [k * 8 + form], imm: this.imm(sz), forceRex: r.bool(0.2) };
        const e = this.e();
        return { pfx: this.pfx(e), sz, op: [k * 8 + form], reg: this.val(), e, forceRex: byte && r.bool(0.5) };
      }
      case 4: case 5: { // group 1
        const op = r.pick([0x80, 0x81, 0x83]);
        const sz = op === 0x80 ? 1 : this.sz();
        const e = this.e();
        return { pfx: this.pfx(e), sz, op: [op], reg: r.int(8), e, imm: this.imm(op === 0x81 ? sz : 1), forceRex: r.bool(0.3) };
      }
      case 6: { // TEST
        const f = r.int(4);
        const sz = f % 2 === 0 ? 1 : this.sz();
        if (f < 2) { const e = this.e(); return { pfx: this.pfx(e), sz, op: [0x84 + f], reg: this.val(), e }; }
        if (r.bool()) return { sz, op: [0xa8 + (f - 2)], imm: this.imm(sz) };
        const e = this.e();
        return { pfx: this.pfx(e), sz, op: [f === 2 ? 0xf6 : 0xf7], reg: 0, e, imm: this.imm(sz) };
      }
      case 7: { // INC/DEC
        const byte = r.bool(0.3);
        const e = this.e();
        return { pfx: this.pfx(e), sz: byte ? 1 : this.sz(), op: [byte ? 0xfe : 0xff], reg: r.int(2), e };
      }
      case 8: case 9: case 10: { // MOV
        const op = r.pick([0x88, 0x89, 0x8a, 0x8b]);
        const sz = op & 1 ? this.sz() : 1;
        const e = this.e();
        return { pfx: this.pfx(e), sz, op: [op], reg: this.val(), e, forceRex: r.bool(0.3) };
      }
      case 11: { // MOV imm
        if (r.bool()) {
          const byte = r.bool(0.3);
          const sz = byte ? 1 : this.sz();
          const e = this.e();
          return { pfx: this.pfx(e), sz, op: [byte ? 0xc6 : 0xc7], reg: 0, e, imm: this.imm(sz) };
        }
        const reg = this.val(), byte = r.bool(0.3);
        const sz = byte ? 1 : this.sz();
        const imm = sz === 8 ? [...this.imm(4), ...this.imm(4)] : this.imm(sz);
        return { sz, op: [(byte ? 0xb0 : 0xb8) + (reg & 7)], reg, imm, forceRex: r.bool(0.3) };
      }
      case 12: { // LEA
        const e = this.mem();
        return { pfx: r.bool(0.1) ? [0x67] : [], sz: this.sz(), op: [0x8d], reg: this.val(), e };
      }
      case 13: { // MOVZX/MOVSX/MOVSXD
        const e = r.bool() ? { r: r.int(16) } : this.mem();
        const op = r.pick([[0x0f, 0xb6], [0x0f, 0xb7], [0x0f, 0xbe], [0x0f, 0xbf], [0x63]]);
        return { pfx: this.pfx(e), sz: this.sz(), op, reg: this.val(), e, forceRex: r.bool(0.3) };
      }
      case 14: { // PUSH/POP
        const reg = r.bool(0.7) ? this.val() : r.int(16);
        const k = r.int(5);
        if (k === 0) return { op: [0x50 + (reg & 7)], reg };
        if (k === 1) return { op: [0x58 + (reg & 7)], reg };
        if (k === 2) return { op: [0x68], imm: this.imm(4) };
        if (k === 3) return { op: [0x6a], imm: this.imm(1) };
        return { sz: 2, op: [r.bool() ? 0x50 + (reg & 7) : 0x58 + (reg & 7)], reg };
      }
      case 15: case 16: { // CMOVcc / SETcc
        const e = r.bool(0.7) ? { r: r.int(16) } : this.mem();
        if (r.bool()) return { pfx: this.pfx(e), sz: this.sz(), op: [0x0f, 0x40 + r.int(16)], reg: this.val(), e };
        return { pfx: this.pfx(e), op: [0x0f, 0x90 + r.int(16)], reg: 0, e, forceRex: r.bool(0.3) };
      }
      case 17: { // handler-only flag readers and writers
        const k = r.int(4);
        if (k === 0) return { op: [0x9c] }; // PUSHF
        if (k === 1) return { sz: this.sz(), op: [0xc1], reg: r.pick([4, 5, 7, 0]), e: { r: this.val() }, imm: [r.int(70)] };
        if (k === 2) return { sz: this.sz(), op: [0x0f, 0xaf], reg: this.val(), e: { r: this.val() } }; // IMUL
        return { op: [0x9e] }; // SAHF
      }
      case 18: { // LOCK on a memory RMW (handler path) or on a register (#UD)
        const e = r.bool(0.8) ? this.mem() : { r: this.val() };
        return { pfx: [0xf0], sz: this.sz(), op: [r.pick([0x01, 0x29, 0x31])], reg: this.val(), e };
      }
      case 19: // a block boundary: flag producer and reader in different blocks
        return { op: [0xeb, 0x00] };
      case 20: { // CALL to the next instruction (pushes a real return address)
        return { op: [0xe8], imm: [0, 0, 0, 0] };
      }
      default: { // RET: to what is on the stack (often the CALL's address, else a fault)
        return { op: [0xc3] };
      }
    }
  }
}

interface Case {
  code: Uint8Array;
  regs: [number, number][];
  flags: number;
  fsBase: number;
  window: number;
  data: Uint8Array;
}

/** `wide`: index and value registers mostly near the 2^52 bound of exact double arithmetic. */
function makeCase(rng: Rng, wide = false): Case {
  const g = new CaseGen(rng);
  const code: number[] = [];
  const n = rng.range(1, 14);
  for (let k = 0; k < n; k++) code.push(...encode(g.insn(), CODE + code.length));
  if (rng.bool(0.3)) {
    // A compare right before the Jcc, often of equal values (signed/unsigned boundaries).
    const a = g.val(), b = rng.bool() ? a : g.val();
    code.push(...encode({ sz: g.sz(), op: [rng.pick([0x39, 0x29, 0x85, 0x31])], reg: a, e: { r: b } }, CODE + code.length));
  }
  // End: a Jcc over one SYSCALL (where the run ends tells the condition), or a fall-through.
  if (rng.bool(0.7)) code.push(0x70 + rng.int(16), 0x02);
  code.push(0x0f, 0x05, 0x0f, 0x05);
  const window = rng.pick(WINDOWS);
  const regs: [number, number][] = [];
  const small = () => BigInt(rng.range(-3, 3)) & ((1n << 64n) - 1n);
  for (let r = 0; r < 16; r++) {
    let v: bigint;
    if (r === 4) v = BigInt(window + DATA_LEN / 2 + rng.range(-64, 64) * 8 + (rng.bool(0.05) ? rng.int(8) : 0));
    else if (PTR.includes(r)) {
      // Mostly mapped data; sometimes at the end of the read-write pages, at the end of the
      // read-only page, or anywhere low.
      const p = rng.int(20);
      v = BigInt(p < 17 ? window + rng.int(DATA_LEN) : p === 17 ? window + DATA_LEN - rng.int(16) : p === 18 ? window + DATA_LEN + 0x1000 - rng.int(16) : rng.int(0x40000));
    } else if (wide && rng.bool(0.6)) v = (BigInt(rng.range(-(2 ** 21), 2 ** 21)) << 32n) | BigInt(rng.u32());
    else if (IDX.includes(r)) v = rng.bool(0.9) ? BigInt(rng.int(64)) : rng.bool() ? small() : BigInt(rng.u32());
    else {
      const k = rng.int(9);
      // k 6: around the 2^52 bound of the double address and LEA arithmetic (high half within ±2^21).
      v = k === 0 ? 0n : k === 1 ? (1n << 64n) - 1n : k === 2 ? BigInt(rng.u32()) : k === 3 ? 0x8000000000000000n : k < 6 ? small()
        : k === 6 ? (BigInt(rng.range(-(2 ** 21), 2 ** 21)) << 32n) | BigInt(rng.u32()) : (BigInt(rng.u32()) << 32n) | BigInt(rng.u32());
    }
    v &= (1n << 64n) - 1n;
    regs.push([Number(BigInt.asIntN(32, v)), Number(BigInt.asIntN(32, v >> 32n))]);
  }
  const data = new Uint8Array(DATA_LEN + 0x1000);
  for (let k = 0; k < data.length; k += 4) {
    const w = rng.bool(0.2) ? 0 : rng.u32();
    data[k] = w; data[k + 1] = w >>> 8; data[k + 2] = w >>> 16; data[k + 3] = w >>> 24;
  }
  return { code: Uint8Array.from(code), regs, flags: rng.u32() & 0xcd5, fsBase: rng.bool() ? 0 : window, window, data };
}

class Runner {
  readonly hooks = new StopHooks();
  readonly tr = new TestTranslator();
  readonly cpu: Cpu;
  /** compileAt: generated code from that execution on. */
  constructor(compileAt: number) {
    this.cpu = new Cpu(new Uint8Array(RAM), this.tr, this.hooks);
    this.cpu.compileAt = compileAt;
  }
  load(c: Case, fresh: boolean): void {
    const cpu = this.cpu;
    if (fresh) {
      cpu.m.ram.fill(0xcc, CODE_RAM, CODE_RAM + CODE_LEN);
      cpu.m.ram.set(c.code, CODE_RAM);
      this.tr.window = c.window;
      cpu.invalidateAll();
      cpu.m.flush();
    }
    cpu.m.ram.set(c.data, DATA_RAM);
    for (let r = 0; r < 16; r++) {
      cpu.lo[r] = c.regs[r][0];
      cpu.hi[r] = c.regs[r][1];
    }
    setFlags(cpu, c.flags | 2);
    cpu.fsBase = c.fsBase;
    cpu.rip = CODE;
    this.hooks.lastFault = undefined;
  }
  state(): string {
    const c = this.cpu;
    const f = this.hooks.lastFault as CpuFault | undefined;
    const regs = Array.from({ length: 16 }, (_, r) => `r${r}=${(c.hi[r] >>> 0).toString(16)}:${(c.lo[r] >>> 0).toString(16)}`).join(' ');
    return `${regs} flags=${getFlags(c).toString(16)} rip=${c.rip.toString(16)} icount=${c.icount}` +
      (f ? ` fault=${f.vector}/${f.errorCode}/${f.address.toString(16)}` : '');
  }
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

describe('compiled blocks match the handler path', () => {
  it(`${CASES} random blocks (seed ${SEED}), cold and warm TLB`, () => {
    console.log(`compile test: TSXEN_COMPILE_SEED=${SEED} reproduces this run`);
    const rng = new Rng(SEED);
    const interp = new Runner(Infinity);
    // Generated code from the first run, and from the second (after a run interpreted).
    const comps = [new Runner(1), new Runner(2)];
    const failures: string[] = [];
    let ranThrough = 0, faulted = 0;
    for (let n = 0; n < CASES && failures.length < 5; n++) {
      const c = makeCase(rng, n % 4 === 3);
      // Pass 0 runs on a cold TLB and fresh code; later passes on a warm TLB, with regions.
      for (let pass = 0; pass < 4; pass++) {
        interp.cpu.icount = 0;
        interp.load(c, pass === 0);
        interp.cpu.run(200);
        const a = interp.state();
        if (pass === 0) {
          if (interp.hooks.lastFault) faulted++;
          else ranThrough++;
        }
        for (const comp of comps) {
          comp.cpu.icount = 0;
          comp.load(c, pass === 0);
          comp.cpu.run(200);
          const b = comp.state();
          const memSame = Buffer.compare(interp.cpu.m.ram.subarray(DATA_RAM), comp.cpu.m.ram.subarray(DATA_RAM)) === 0;
          if (a !== b || !memSame) {
            const blk = decodeBlock(comp.cpu, CODE);
            failures.push(
              `case ${n} pass ${pass} compileAt ${comp.cpu.compileAt}: code ${hex(c.code)}\n  handlers: ${a}\n  compiled: ${b}\n` +
                `  memory ${memSame ? 'same' : 'differs'}\n  first block's generated code:\n${generate(blk).body}`,
            );
            pass = 4;
            break;
          }
        }
      }
    }
    if (failures.length) throw new Error(`seed ${SEED}:\n${failures.join('\n\n')}`);
    // Guard the generator: both endings must be common.
    expect(ranThrough).toBeGreaterThan(CASES * 0.3);
    expect(faulted).toBeGreaterThan(CASES * 0.05);
  });

  it('LEA and memory addresses agree on operands around the 2^52 bound of exact doubles', () => {
    const M = (1n << 64n) - 1n;
    const vals = [0n, 1n, M, (1n << 51n) - 1n, 1n << 51n, (1n << 52n) + 1n, (1n << 50n) + 1n, (1n << 53n) + 3n, 1n << 63n,
      M - (1n << 51n), M - (1n << 52n) - 2n, 0x7fffffff12345677n, 0xfffff00000000001n, 0x00000fffffffffffn];
    const interp = new Runner(Infinity), comp = new Runner(1);
    let checked = 0;
    for (const scale of [1, 2, 4, 8]) {
      for (const disp of [0, 1, -1, 0x7fffffff, -0x80000000]) {
        for (const [sz, pfx, op] of [[8, [], 0x8d], [4, [], 0x8d], [8, [0x67], 0x8d], [8, [], 0x8b], [4, [0x67], 0x8b]] as const) {
          const code = Uint8Array.from([...encode({ pfx: [...pfx], sz, op: [op], reg: 0, e: { base: 3, index: 1, scale, disp } }, CODE), 0x0f, 0x05]);
          for (const b of vals) {
            for (const x of vals) {
              const regs: [number, number][] = Array.from({ length: 16 }, () => [0, 0]);
              regs[3] = [Number(BigInt.asIntN(32, b)), Number(BigInt.asIntN(32, b >> 32n))];
              regs[1] = [Number(BigInt.asIntN(32, x)), Number(BigInt.asIntN(32, x >> 32n))];
              const c: Case = { code, regs, flags: 0, fsBase: 0, window: WINDOWS[0], data: new Uint8Array(DATA_LEN + 0x1000) };
              const first = b === vals[0] && x === vals[0];
              interp.cpu.icount = comp.cpu.icount = 0;
              interp.load(c, first);
              comp.load(c, first);
              interp.cpu.run(10);
              comp.cpu.run(10);
              expect(comp.state(), `${hex(code)} base ${b.toString(16)} index ${x.toString(16)}`).toBe(interp.state());
              checked++;
            }
          }
        }
      }
    }
    expect(checked).toBe(4 * 5 * 5 * vals.length ** 2);
  });

  it('specialised forms compile to inline code, not handler calls', () => {
    const forms = [
      'add rax, rbx', 'sub ecx, edx', 'cmp byte ptr [rdx+rax], r14b', 'and r8d, 0x7fff', 'xor eax, eax', 'or word ptr [rbx+8], 3',
      'cmp dword ptr [rsp+0x1c], r8d', 'test al, 1', 'test qword ptr [rdi], rsi', 'inc rcx', 'dec r9d', 'dec byte ptr [rbx]',
      'mov edx, r8d', 'mov r15b, byte ptr [r10+rax-1]', 'mov qword ptr [rsp+8], rax', 'mov rax, qword ptr [rip+0x100]',
      'mov byte ptr [rsp+0x17], al', 'mov ah, bl', 'mov dword ptr [rbx], 5', 'mov eax, 0x102', 'movabs rax, 0x123456789abc',
      'lea rax, [r11+rdx+0x102]', 'lea edi, [rsi+1]', 'movzx r8d, word ptr [r13+r8*2]', 'movsxd rax, ecx', 'movsx eax, byte ptr [rdi]',
      'push rbx', 'pop r12', 'push 5', 'cmovae eax, edi', 'sete al', 'mov rax, fs:[0x28]',
    ];
    const cpu = flatCpu(1 << 16);
    for (const f of forms) {
      const code = assemble(`${f}\nsyscall`);
      cpu.m.ram.fill(0);
      cpu.m.ram.set(code, 0x1000);
      cpu.invalidateAll();
      const body = generate(decodeBlock(cpu, 0x1000)).body;
      // A plain handler call is a line of its own; inline code only calls one on a slow path.
      expect(body, f).not.toMatch(/^h0\(c, i0\);$/m);
    }
  });

  it('writes to a compiled block\'s code page invalidate it (self-modifying code)', () => {
    // Outer loop: run the inner block 50 times (hot, compiled), then patch its immediate.
    const code = assemble(`
      xor ebx, ebx
      mov esi, 3
    outer:
      mov ecx, 50
    inner:
      .byte 0x48, 0x81, 0xc3, 1, 0, 0, 0 # add rbx, imm32 1
      dec ecx
      jnz inner
      mov dword ptr [rip + inner + 3], 0x100
      dec esi
      jnz outer
      syscall`);
    for (const compileAt of [1, 32, Infinity]) {
      const hooks = new StopHooks();
      const cpu = flatCpu(1 << 16, hooks);
      cpu.compileAt = compileAt;
      cpu.m.ram.set(code, 0x1000);
      cpu.rip = 0x1000;
      cpu.setRegNum(4, 0x8000);
      cpu.run(100_000);
      expect(hooks.lastFault, String(compileAt)).toBeUndefined();
      // First round adds 1 fifty times; the next two add 0x100 (the patched imm32 of `add rbx, imm32`).
      expect(cpu.getRegNum(3), String(compileAt)).toBe(50 + 2 * 50 * 0x100);
    }
  });

  it('an undecodable instruction at the end of a compiled block faults at its own address', () => {
    for (const compileAt of [1, Infinity]) {
      const hooks = new StopHooks();
      const cpu = flatCpu(1 << 16, hooks);
      cpu.compileAt = compileAt;
      cpu.m.ram.set([0x48, 0x01, 0xd8, 0x90, 0x0f, 0x0e], 0x1000); // add rax, rbx; nop; FEMMS (not implemented)
      cpu.rip = 0x1000;
      cpu.run(100);
      expect(hooks.lastFault?.vector, String(compileAt)).toBe(6);
      expect(cpu.rip, String(compileAt)).toBe(0x1004);
      expect(cpu.icount, String(compileAt)).toBe(2);
    }
  });
});
