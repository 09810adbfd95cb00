// Test-case generator for the differential CPU test: random and edge operands for every
// integer instruction family the interpreter implements, encoded by hand so that every
// prefix/REX/ModRM/SIB/displacement form is reachable (an assembler would pick one encoding).
//
// Each case is one instruction (two in `pairs`) placed at CODE_ADDR; the page around it is
// INT3, so the run ends at the next INT3 (wherever a branch lands), or at the case's own fault.
// Undefined flags and results are masked per case, citing the rule from the Intel SDM vol. 2
// instruction pages ("Flags Affected") next to the instruction that needs it.

import {
  AF, ARITH, CF, CODE_ADDR, DATA_ADDR, DATA_SIZE, DF, ID, IF, NT, OF, PF, SF, STACK_PAGE, ZF,
  type Case, type Patch,
} from './layout.js';

const M64 = (1n << 64n) - 1n;
const DATA_END = DATA_ADDR + DATA_SIZE;

/** sfc32: small, fast, and the same stream on every machine for a given seed. */
export class Rng {
  private a = 0x9e3779b9;
  private b = 0x243f6a88;
  private c = 0xb7e15162;
  private d: number;
  constructor(seed: number) {
    this.d = seed >>> 0;
    for (let k = 0; k < 16; k++) this.u32();
  }
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 4294967296) * n);
  }
  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  bool(p = 0.5): boolean {
    return this.u32() < p * 4294967296;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }
}

/** Values that sit on carry, sign and overflow boundaries of a `bits`-wide operand. */
function edges(bits: number): bigint[] {
  const w = BigInt(bits);
  const m = (1n << w) - 1n;
  const min = 1n << (w - 1n);
  return [0n, 1n, 2n, 3n, m, m - 1n, min, min - 1n, min + 1n, m >> 1n, 0x7fn, 0x80n, 0xffn, 0x100n].map((v) => v & m);
}
const EDGES: Record<number, bigint[]> = { 1: edges(8), 2: edges(16), 4: edges(32), 8: edges(64) };
const EDGE64_EXTRA = [0x7fffn, 0x8000n, 0xffffn, 0x10000n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n,
  0x100000001n, 0xffffffff00000000n, 0x00000000ffffffffn, 0x8000000080000000n];

/** An operand value of `sz` bytes: edge values half the time, with the bits above sz random. */
export function val(rng: Rng, sz = 8): bigint {
  const m = sz === 8 ? M64 : (1n << BigInt(sz * 8)) - 1n;
  let low: bigint;
  const r = rng.int(20);
  if (r < 8) low = rng.u64() & m;
  else if (r < 10) low = BigInt(rng.range(-16, 16)) & m;
  else if (r < 11) low = (1n << BigInt(rng.int(sz * 8))) & m;
  else if (r < 13 && sz === 8) low = rng.pick(EDGE64_EXTRA);
  else low = rng.pick(EDGES[sz]);
  if (sz === 8) return low;
  const upper = rng.pick([0n, M64, rng.u64()]);
  return (upper & ~m & M64) | low;
}

function le(v: bigint | number, n: number): number[] {
  let x = BigInt.asUintN(n * 8, BigInt(v));
  const out: number[] = [];
  for (let k = 0; k < n; k++) {
    out.push(Number(x & 0xffn));
    x >>= 8n;
  }
  return out;
}

/** A ModRM memory operand as encoded, with the address it reaches. */
export interface MemEnc {
  mod: number;
  rmLow: number;
  sib?: number;
  dispLen: 0 | 1 | 4;
  disp: number;
  ripRel: boolean;
  rexX: boolean;
  rexB: boolean;
  adsz32: boolean;
  /** Linear address of the operand (for pokes; LEA's arbitrary value). */
  addr: bigint;
  base: number;
  index: number;
}

export type Rm = { kind: 'reg'; r: number } | { kind: 'mem'; m: MemEnc };

export interface Insn {
  pre?: number[];
  w?: boolean;
  /** Emit a REX prefix even with no bits (byte registers SPL..DIL instead of AH..BH). */
  rexForce?: boolean;
  op: number[];
  /** ModRM.reg: a register 0..15 or a group digit. */
  reg?: number;
  rm?: Rm;
  /** Register encoded in the opcode's low 3 bits (with REX.B). */
  opreg?: number;
  imm?: number[];
  /** No random ignored prefixes (when a prefix would change the meaning). */
  noNoise?: boolean;
}

export interface MemOpts {
  align?: number;
  /** Offsets within the data region the whole operand stays in. */
  lo?: number;
  hi?: number;
  /** Probability of a deliberately faulting address (straddling the region's edge). */
  fault?: number;
  /** LEA: any address; nothing is accessed. */
  any?: boolean;
  /** Base/index registers with arbitrary 64-bit values (sums wrap around 2^64 / 2^32). */
  huge?: boolean;
  /** Probability of a 32-bit address size (67 prefix). */
  p67?: number;
  /** Base and index registers to use (held in Ctx.keep for this operand); not RSP. */
  regs?: number[];
}

export interface Features {
  lzcnt: boolean;
  bmi1: boolean;
  popcnt: boolean;
}

/** Builds one case: register and memory setup, then the instruction bytes. */
export class Ctx {
  readonly regs: bigint[] = [];
  readonly reserved = new Set<number>();
  /** Registers held for a later instruction of the case: nothing before it may write them. */
  readonly keep = new Set<number>();
  flags: number;
  readonly patches: Patch[] = [];
  undefFlags = 0;
  /** Flags undefined when the case ends in a fault before its last instruction completes. */
  faultUndefFlags = 0;
  /** No instruction may leave a register undefined (a later one reads it). */
  noWild = false;
  readonly undefRegs: { reg: number; mask: bigint }[] = [];
  readonly code: number[] = [];
  readonly desc: string[] = [];
  readonly fillSeed: number;

  constructor(
    readonly rng: Rng,
    readonly features: Features,
  ) {
    for (let r = 0; r < 16; r++) this.regs.push(val(rng, 8));
    this.flags = 0x202 | (rng.u32() & ARITH) | (rng.bool(0.3) ? DF : 0) | (rng.bool(0.2) ? ID : 0);
    this.fillSeed = rng.u32();
  }

  note(s: string): void {
    this.desc.push(s);
  }

  reserve(...rs: number[]): void {
    for (const r of rs) this.reserved.add(r);
  }

  set(r: number, v: bigint): void {
    this.regs[r] = v & M64;
  }

  /** A register not holding an address or implicit operand; RSP only if allowed. */
  freeReg(allowRsp = true): number {
    for (;;) {
      const r = this.rng.int(16);
      if (this.reserved.has(r) || this.keep.has(r) || (!allowRsp && r === 4)) continue;
      return r;
    }
  }

  /** An operand register: usually a fresh one with a new value, sometimes one already in use. */
  opReg(sz: number): number {
    if (this.rng.bool(0.12)) {
      const r = this.rng.int(16);
      if (!this.keep.has(r)) return r;
    }
    const r = this.freeReg();
    this.set(r, val(this.rng, sz === 1 ? 8 : sz));
    return r;
  }

  /** Write bytes into the data region at linear address a (ignored where outside it). */
  poke(a: bigint | number, bytes: number[]): void {
    const off = Number(a) - DATA_ADDR;
    const from = Math.max(0, -off), to = Math.min(bytes.length, DATA_SIZE - off);
    if (from < to) this.patches.push({ off: off + from, bytes: Uint8Array.from(bytes.slice(from, to)) });
  }

  pokeVal(a: bigint | number, sz: number, v: bigint): void {
    this.poke(a, le(v, sz));
  }

  /** A memory operand of sz bytes in the data region, through a random addressing form. */
  mem(sz: number, o: MemOpts = {}): MemEnc {
    const rng = this.rng;
    const adsz32 = rng.bool(o.p67 ?? 0.08);
    const amask = adsz32 ? 0xffffffffn : M64;
    const mode = rng.int(100);
    let T: bigint;
    if (o.any && mode < 10) T = BigInt(CODE_ADDR + rng.range(-0x7fff0000, 0x7fff0000)) & amask; // RIP-relative
    else if (o.any) T = adsz32 ? val(rng, 4) & 0xffffffffn : val(rng, 8);
    else if (rng.bool(o.fault ?? 0.02)) {
      // Straddle an edge of the data region: the unmapped side takes the #PF.
      const k = rng.range(1, sz);
      T = BigInt(rng.bool() ? DATA_ADDR - k : DATA_END - sz + k);
    } else {
      const lo = o.lo ?? 0;
      const hi = (o.hi ?? DATA_SIZE) - sz;
      let off = rng.range(lo, hi);
      const al = o.align ?? (rng.bool(0.7) ? sz : 1);
      off -= off % al;
      if (off < lo) off += al;
      T = BigInt(DATA_ADDR + off);
    }
    const pickReg = (isIndex: boolean): number => {
      for (;;) {
        const r = o.regs ? rng.pick(o.regs) : this.freeReg();
        if (isIndex && r === 4) continue;
        return r;
      }
    };
    const regVal = (): bigint => {
      if (o.huge || o.any) return val(rng, 8);
      return BigInt.asUintN(64, BigInt(rng.range(-0x4000000, 0x4000000)) * BigInt(rng.pick([1, 1, 1, 0x1000, 0x100000])));
    };
    // With a 32-bit address size only the low halves count: fill the high halves with garbage.
    const garbage = (v: bigint): bigint => (adsz32 ? (rng.u64() & ~0xffffffffn & M64) | (v & 0xffffffffn) : v & M64);
    let base = -1, index = -1, scale = 1, disp = 0, dispLen: 0 | 1 | 4 = 0;
    let ripRel = false, noBase = false;
    if (mode < 10) {
      ripRel = true;
      dispLen = 4;
    } else if (mode < 16) {
      noBase = true; // [disp32] through a SIB with no base and no index
      dispLen = 4;
    } else if (mode < 24) {
      noBase = true; // [index*scale + disp32]
      dispLen = 4;
      index = pickReg(true);
      scale = rng.pick([1, 2, 4, 8]);
    } else {
      base = pickReg(false);
      if (mode >= 60) {
        index = pickReg(true);
        scale = rng.pick([1, 2, 4, 8]);
      }
      const d = rng.int(4);
      dispLen = d === 0 ? 0 : d === 3 ? 4 : 1;
      if (dispLen === 0 && (base & 7) === 5) dispLen = 1; // RBP/R13 with mod 0 means something else
    }
    if (dispLen === 1) disp = rng.range(-128, 127);
    else if (dispLen === 4 && !ripRel) {
      disp = noBase && index < 0 ? 0 : rng.pick([rng.range(-0x80000000, 0x7fffffff), rng.range(-4096, 4096), 0x7fffffff, -0x80000000]);
    }
    let addr = T;
    if (ripRel) {
      // Displacement fixed once the instruction's length is known (emit()).
    } else if (noBase && index < 0) {
      // [disp32] sign-extends: the data region is below 2^31, so the displacement is the address.
      disp = Number(T) | 0;
      addr = BigInt.asUintN(64, BigInt(disp)) & amask;
    } else {
      let iv = 0n;
      if (index >= 0) {
        iv = garbage(regVal());
        if (base === index) {
          // One register twice: solve v*(scale+1) + disp = T with an exact v.
          const v = (T - BigInt(disp)) / BigInt(scale + 1);
          disp = Number(T - v * BigInt(scale + 1));
          if (disp > 0x7fffffff || disp < -0x80000000 || (dispLen === 1 && (disp > 127 || disp < -128))) {
            dispLen = 4;
          }
          if (dispLen === 0 && disp !== 0) dispLen = 4;
          iv = garbage(v);
        }
        this.set(index, iv);
      }
      if (base >= 0 && base !== index) {
        const bv = (T - BigInt(disp) - iv * BigInt(scale)) & amask;
        this.set(base, garbage(bv));
      } else if (base < 0 && index >= 0) {
        // [index*scale + disp32]: pick disp so the sum lands on T.
        const need = BigInt.asIntN(64, T - iv * BigInt(scale));
        if (need >= -0x80000000n && need <= 0x7fffffffn) disp = Number(need);
        else {
          iv = garbage(BigInt(rng.range(0, 0x1000)));
          this.set(index, iv);
          disp = Number(T - iv * BigInt(scale));
        }
      }
      addr = (BigInt(disp) + (base >= 0 ? this.regs[base] : 0n) + (index >= 0 ? this.regs[index] * BigInt(scale) : 0n)) & amask;
    }
    if (base >= 0) this.reserve(base);
    if (index >= 0) this.reserve(index);
    let mod = 0, rmLow = 0;
    let sib: number | undefined;
    if (ripRel) {
      mod = 0;
      rmLow = 5;
    } else if (noBase) {
      mod = 0;
      rmLow = 4;
      sib = ((Math.log2(scale) & 3) << 6) | ((index < 0 ? 4 : index & 7) << 3) | 5;
    } else {
      mod = dispLen === 0 ? 0 : dispLen === 1 ? 1 : 2;
      if (index >= 0 || (base & 7) === 4) {
        rmLow = 4;
        sib = ((Math.log2(scale) & 3) << 6) | ((index < 0 ? 4 : index & 7) << 3) | (base & 7);
      } else rmLow = base & 7;
    }
    this.note(
      ripRel ? 'mem [rip+d32]' : noBase ? (index < 0 ? 'mem [d32]' : 'mem [idx*s+d32]') :
        `mem [base${index >= 0 ? '+idx*s' : ''}${dispLen ? `+d${dispLen * 8}` : ''}]${adsz32 ? ' a32' : ''}`,
    );
    return {
      mod, rmLow, sib, dispLen, disp, ripRel,
      rexX: index >= 8, rexB: base >= 8, adsz32, addr: ripRel ? T : addr, base, index,
    };
  }

  /** A register or memory E operand of sz bytes; memory gets an edge value poked in. */
  rm(sz: number, pMem = 0.4, o: MemOpts = {}): Rm {
    if (this.rng.bool(pMem)) {
      const m = this.mem(sz, o);
      if (this.rng.bool(0.6)) this.pokeVal(m.addr, sz, val(this.rng, sz));
      return { kind: 'mem', m };
    }
    return { kind: 'reg', r: this.opReg(sz) };
  }

  /** Operand size 2, 4 or 8 and the prefixes that select it. */
  size(): { sz: number; pre: number[]; w: boolean } {
    const r = this.rng.int(10);
    if (r < 2) return { sz: 2, pre: [0x66], w: false };
    if (r < 5) return { sz: 4, pre: [], w: false };
    if (r < 6) return { sz: 8, pre: [0x66], w: true }; // REX.W wins over 66
    return { sz: 8, pre: [], w: true };
  }

  emit(ins: Insn): void {
    const rng = this.rng;
    const pre = [...(ins.pre ?? [])];
    const m = ins.rm?.kind === 'mem' ? ins.rm.m : undefined;
    if (m?.adsz32) pre.push(0x67);
    if (!ins.noNoise) {
      // Prefixes 64-bit mode ignores (CS/DS/ES/SS overrides), and GS with base 0.
      if (rng.bool(0.08)) pre.splice(rng.int(pre.length + 1), 0, rng.pick([0x2e, 0x3e, 0x26, 0x36]));
      if (m && rng.bool(0.05)) pre.splice(rng.int(pre.length + 1), 0, 0x65);
    }
    for (let k = pre.length - 1; k > 0 && !ins.noNoise; k--) {
      // Legacy prefixes may come in any order.
      if (rng.bool(0.3)) {
        const j = rng.int(k + 1);
        [pre[k], pre[j]] = [pre[j], pre[k]];
      }
    }
    // A REX before a legacy prefix is ignored by hardware.
    if (!ins.noNoise && pre.length > 0 && rng.bool(0.04)) pre.splice(pre.length - 1, 0, 0x40 | rng.int(16));
    let rex = 0;
    if (ins.w) rex |= 8;
    if ((ins.reg ?? 0) >= 8) rex |= 4;
    if (m?.rexX) rex |= 2;
    if (m?.rexB || (ins.rm?.kind === 'reg' && ins.rm.r >= 8) || (ins.opreg ?? 0) >= 8) rex |= 1;
    const bytes = [...pre];
    if (rex !== 0 || ins.rexForce) bytes.push(0x40 | rex);
    const op = [...ins.op];
    if (ins.opreg !== undefined) op[op.length - 1] |= ins.opreg & 7;
    bytes.push(...op);
    let ripAt = -1;
    if (ins.rm) {
      const reg = (ins.reg ?? 0) & 7;
      if (ins.rm.kind === 'reg') bytes.push(0xc0 | (reg << 3) | (ins.rm.r & 7));
      else {
        const mm = ins.rm.m;
        bytes.push((mm.mod << 6) | (reg << 3) | mm.rmLow);
        if (mm.sib !== undefined) bytes.push(mm.sib);
        if (mm.ripRel) {
          ripAt = bytes.length;
          bytes.push(0, 0, 0, 0);
        } else bytes.push(...le(mm.disp, mm.dispLen));
      }
    }
    bytes.push(...(ins.imm ?? []));
    if (ripAt >= 0 && m) {
      const next = BigInt(CODE_ADDR + this.code.length + bytes.length);
      bytes.splice(ripAt, 4, ...le(m.addr - next, 4)); // the CPU adds it back modulo 2^64 (2^32 with 67)
    }
    this.code.push(...bytes);
  }

  finish(family: string): Case {
    return {
      family,
      desc: this.desc.join(', '),
      code: Uint8Array.from(this.code),
      regs: this.regs.slice(),
      rflags: this.flags,
      fillSeed: this.fillSeed,
      patches: this.patches,
      undefFlags: this.undefFlags,
      faultUndefFlags: this.faultUndefFlags,
      undefRegs: this.undefRegs,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Families. Each adds one instruction to the context and records what the SDM leaves undefined.

const imm = (rng: Rng, sz: number): number[] => le(val(rng, sz), sz);
/** Immediate of operand size, at most 4 bytes (sign-extended to 64 by the CPU). */
const immZ = (rng: Rng, sz: number): number[] => imm(rng, Math.min(sz, 4));
const LOGIC = [1, 4, 6]; // OR AND XOR
const ALU_NAMES = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];

function byteOrSize(x: Ctx, pByte = 0.3): { sz: number; pre: number[]; w: boolean; byte: boolean; rexForce: boolean } {
  if (x.rng.bool(pByte)) return { sz: 1, pre: [], w: false, byte: true, rexForce: x.rng.bool(0.3) };
  return { ...x.size(), byte: false, rexForce: false };
}

function alu(x: Ctx): void {
  const rng = x.rng;
  const k = rng.int(8);
  // OR/AND/XOR/TEST: "The OF and CF flags are cleared; ... The state of the AF flag is undefined."
  if (LOGIC.includes(k)) x.undefFlags |= AF;
  const form = rng.int(6);
  if (form <= 1) {
    const s = byteOrSize(x);
    const e = x.rm(s.sz);
    const g = x.opReg(s.sz);
    x.note(`${ALU_NAMES[k]} ${form === 0 ? 'E,G' : 'G,E'} sz${s.sz}`);
    x.emit({ pre: s.pre, w: s.w, rexForce: s.rexForce, op: [k * 8 + (s.byte ? 0 : 1) + (form === 0 ? 0 : 2)], reg: g, rm: e });
  } else if (form === 2) {
    const s = byteOrSize(x);
    x.set(0, val(rng, s.sz));
    x.note(`${ALU_NAMES[k]} rAX,imm sz${s.sz}`);
    x.emit({ pre: s.pre, w: s.w, op: [k * 8 + (s.byte ? 4 : 5)], imm: immZ(rng, s.sz) });
  } else {
    const op = form === 3 ? 0x80 : form === 4 ? 0x81 : 0x83;
    const s = op === 0x80 ? byteOrSize(x, 1) : { ...x.size(), rexForce: false };
    const e = x.rm(s.sz);
    x.note(`${ALU_NAMES[k]} E,imm (${op.toString(16)}) sz${s.sz}`);
    x.emit({ pre: s.pre, w: s.w, rexForce: s.rexForce, op: [op], reg: k, rm: e, imm: op === 0x81 ? immZ(rng, s.sz) : imm(rng, 1) });
  }
}

function test(x: Ctx): void {
  const rng = x.rng;
  x.undefFlags |= AF; // TEST: "The state of the AF flag is undefined."
  const s = byteOrSize(x);
  const form = rng.int(3);
  if (form === 0) {
    const e = x.rm(s.sz);
    x.note(`test E,G sz${s.sz}`);
    x.emit({ pre: s.pre, w: s.w, rexForce: s.rexForce, op: [s.byte ? 0x84 : 0x85], reg: x.opReg(s.sz), rm: e });
  } else if (form === 1) {
    x.set(0, val(rng, s.sz));
    x.note(`test rAX,imm sz${s.sz}`);
    x.emit({ pre: s.pre, w: s.w, op: [s.byte ? 0xa8 : 0xa9], imm: immZ(rng, s.sz) });
  } else {
    const e = x.rm(s.sz);
    x.note(`test E,imm sz${s.sz}`);
    x.emit({ pre: s.pre, w: s.w, rexForce: s.rexForce, op: [s.byte ? 0xf6 : 0xf7], reg: rng.int(2), rm: e, imm: immZ(rng, s.sz) });
  }
}

function unary(x: Ctx): void {
  const rng = x.rng;
  const s = byteOrSize(x);
  const e = x.rm(s.sz);
  const kind = rng.int(4); // inc dec not neg
  x.note(`${['inc', 'dec', 'not', 'neg'][kind]} sz${s.sz}`);
  if (kind < 2) x.emit({ pre: s.pre, w: s.w, rexForce: s.rexForce, op: [s.byte ? 0xfe : 0xff], reg: kind, rm: e });
  else x.emit({ pre: s.pre, w: s.w, rexForce: s.rexForce, op: [s.byte ? 0xf6 : 0xf7], reg: kind, rm: e });
}

function mul(x: Ctx): void {
  const rng = x.rng;
  // MUL/IMUL: "The SF, ZF, AF, and PF flags are undefined."
  x.undefFlags |= SF | ZF | AF | PF;
  const form = rng.int(4);
  if (form === 0) {
    const s = byteOrSize(x);
    x.reserve(0, 2);
    x.set(0, val(rng, s.sz));
    x.set(2, val(rng, 8));
    const e = x.rm(s.sz);
    const signed = rng.bool();
    x.note(`${signed ? 'imul' : 'mul'} E sz${s.sz}`);
    x.emit({ pre: s.pre, w: s.w, rexForce: s.rexForce, op: [s.byte ? 0xf6 : 0xf7], reg: signed ? 5 : 4, rm: e });
  } else {
    const s = x.size();
    const e = x.rm(s.sz);
    const g = x.opReg(s.sz);
    x.note(`imul ${['', 'G,E', 'G,E,iz', 'G,E,ib'][form]} sz${s.sz}`);
    if (form === 1) x.emit({ pre: s.pre, w: s.w, op: [0x0f, 0xaf], reg: g, rm: e });
    else if (form === 2) x.emit({ pre: s.pre, w: s.w, op: [0x69], reg: g, rm: e, imm: immZ(rng, s.sz) });
    else x.emit({ pre: s.pre, w: s.w, op: [0x6b], reg: g, rm: e, imm: imm(rng, 1) });
  }
}

function div(x: Ctx): void {
  const rng = x.rng;
  // DIV/IDIV: "The CF, OF, SF, ZF, AF, and PF flags are undefined."
  x.undefFlags |= ARITH;
  const s = byteOrSize(x);
  const signed = rng.bool();
  const bits = BigInt(s.sz * 8);
  const m = (1n << bits) - 1n;
  x.reserve(0, 2);
  let d = val(rng, s.sz) & m;
  if (d === 0n && rng.bool(0.7)) d = BigInt(rng.range(1, 255));
  const lo = val(rng, s.sz) & m;
  let hi: bigint;
  const r = rng.int(10);
  if (r < 6) {
    if (signed) hi = lo >> (bits - 1n) ? m : 0n; // sign extension (CQO and friends): quotient fits
    else hi = d === 0n ? 0n : (val(rng, s.sz) & m) % d; // high part below the divisor: quotient fits
  } else hi = val(rng, s.sz) & m;
  const g0 = rng.u64(), g2 = rng.u64();
  if (s.sz === 1) {
    x.set(0, (g0 & ~0xffffn) | (hi << 8n) | lo);
    x.set(2, g2);
  } else {
    x.set(0, (g0 & ~m) | lo);
    x.set(2, (g2 & ~m) | hi);
  }
  const e = x.rm(s.sz, 0.4);
  if (e.kind === 'reg') {
    if (!x.reserved.has(e.r)) x.set(e.r, (x.regs[e.r] & ~m) | d);
  } else x.pokeVal(e.m.addr, s.sz, d);
  x.note(`${signed ? 'idiv' : 'div'} sz${s.sz}`);
  x.emit({ pre: s.pre, w: s.w, rexForce: s.rexForce, op: [s.byte ? 0xf6 : 0xf7], reg: signed ? 7 : 6, rm: e });
}

const COUNTS = [0, 1, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 255];

function shiftCount(x: Ctx): number {
  return x.rng.bool(0.7) ? x.rng.pick(COUNTS) : x.rng.int(256);
}

/** SDM rules for group 2 by masked count `n` on a `w`-bit operand. */
function shiftUndef(kind: number, n: number, w: number): number {
  if (n === 0) return 0; // "If the count is 0, the flags are not affected."
  let u = 0;
  if (n !== 1) u |= OF; // "The OF flag is affected only for 1-bit shifts/rotates; otherwise it is undefined."
  if (kind >= 4) {
    u |= AF; // SAL/SAR/SHL/SHR: "For a non-zero count, the AF flag is undefined."
    // "CF ... is undefined for SHL and SHR instructions where the count is greater than or
    // equal to the size (in bits) of the destination operand."
    if (kind !== 7 && n >= w) u |= CF;
  }
  return u;
}

function shift(x: Ctx): void {
  const rng = x.rng;
  const kind = rng.int(8); // ROL ROR RCL RCR SHL SHR SAL(/6) SAR
  const s = byteOrSize(x);
  const form = rng.int(3); // by 1, by CL, by imm8
  let count = 1;
  if (form === 1) {
    count = shiftCount(x);
    x.reserve(1);
    x.set(1, (rng.u64() & ~0xffn) | BigInt(count));
  } else if (form === 2) count = shiftCount(x);
  const e = x.rm(s.sz);
  const w = s.sz * 8;
  const n = count & (s.sz === 8 ? 63 : 31);
  x.undefFlags |= shiftUndef(kind, n, w);
  x.note(`${['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'][kind]} ${['1', 'cl', 'imm'][form]}=${count} sz${s.sz}`);
  const op = form === 0 ? (s.byte ? 0xd0 : 0xd1) : form === 1 ? (s.byte ? 0xd2 : 0xd3) : s.byte ? 0xc0 : 0xc1;
  x.emit({ pre: s.pre, w: s.w, rexForce: s.rexForce, op: [op], reg: kind, rm: e, imm: form === 2 ? [count] : [] });
}

function shxd(x: Ctx): void {
  const rng = x.rng;
  const left = rng.bool();
  const byCl = rng.bool();
  const s = x.size();
  let count = shiftCount(x);
  if (x.noWild && s.sz === 2 && (count & 31) > 16) count = 16;
  if (byCl) {
    x.reserve(1);
    x.set(1, (rng.u64() & ~0xffn) | BigInt(count));
  }
  const n = count & (s.sz === 8 ? 63 : 31);
  // "If the count is greater than the operand size, the result is undefined" and so are the flags:
  // only register destinations then, with the low 16 bits masked.
  const wild = s.sz === 2 && n > 16;
  const e = x.rm(s.sz, wild ? 0 : 0.4);
  const g = x.opReg(s.sz);
  if (wild && e.kind === 'reg') {
    x.undefFlags |= ARITH;
    x.undefRegs.push({ reg: e.r, mask: 0xffffn });
  } else if (n !== 0) {
    x.undefFlags |= AF; // "For a non-zero count, the AF flag is undefined."
    if (n !== 1) x.undefFlags |= OF; // "OF ... for a 1-bit shift...; for shifts greater than 1 bit, the OF flag is undefined."
  }
  x.note(`${left ? 'shld' : 'shrd'} ${byCl ? 'cl' : 'imm'}=${count} sz${s.sz}`);
  x.emit({ pre: s.pre, w: s.w, op: [0x0f, (left ? 0xa4 : 0xac) + (byCl ? 1 : 0)], reg: g, rm: e, imm: byCl ? [] : [count] });
}

function bt(x: Ctx): void {
  const rng = x.rng;
  // BT/BTS/BTR/BTC: "The ZF flag is unaffected. The OF, SF, AF, and PF flags are undefined."
  x.undefFlags |= OF | SF | AF | PF;
  const kind = rng.int(4); // bt bts btr btc
  const s = x.size();
  const byImm = rng.bool(0.4);
  const name = ['bt', 'bts', 'btr', 'btc'][kind];
  if (byImm) {
    const e = x.rm(s.sz);
    x.note(`${name} E,imm sz${s.sz}`);
    x.emit({ pre: s.pre, w: s.w, op: [0x0f, 0xba], reg: 4 + kind, rm: e, imm: [rng.int(256)] });
    return;
  }
  const op = [0xa3, 0xab, 0xb3, 0xbb][kind];
  if (rng.bool(0.5)) {
    const e = x.rm(s.sz, 0);
    const g = x.opReg(s.sz);
    x.note(`${name} reg,reg sz${s.sz}`);
    x.emit({ pre: s.pre, w: s.w, op: [0x0f, op], reg: g, rm: e });
    return;
  }
  // Memory with a register bit offset: signed, and it may reach far from the operand.
  const m = x.mem(s.sz, { lo: 0x800, hi: 0x1000, fault: 0 });
  const g = x.freeReg();
  const w = s.sz * 8;
  const off = rng.bool(0.3) ? rng.range(-w, w) : rng.range(-0x600 * 8, 0x600 * 8);
  const bm = (1n << BigInt(w)) - 1n;
  x.set(g, (s.sz === 8 ? 0n : rng.u64() & ~bm) | (BigInt(off) & bm));
  x.reserve(g);
  x.note(`${name} mem,reg off=${off} sz${s.sz}`);
  x.emit({ pre: s.pre, w: s.w, op: [0x0f, op], reg: g, rm: { kind: 'mem', m } });
}

function bitscan(x: Ctx): void {
  const rng = x.rng;
  const f = x.features;
  const kinds = ['bsf', 'bsr', ...(f.bmi1 ? ['tzcnt'] : []), ...(f.lzcnt ? ['lzcnt'] : []), ...(f.popcnt ? ['popcnt'] : [])];
  const kind = rng.pick(kinds);
  const s = x.size();
  const bm = (1n << BigInt(s.sz * 8)) - 1n;
  const r = rng.int(10);
  const src = r < 3 ? rng.u64() & ~bm & M64 : r < 5 ? (rng.u64() & ~bm & M64) | (1n << BigInt(rng.int(s.sz * 8))) : val(rng, s.sz);
  const e = x.rm(s.sz, 0.4);
  if (e.kind === 'reg') {
    if (!x.reserved.has(e.r)) x.set(e.r, src);
  } else x.pokeVal(e.m.addr, s.sz, src);
  const g = x.opReg(s.sz);
  // BSF/BSR: "The ZF flag is set to 1 if the source operand is 0; otherwise cleared. The CF, OF,
  // SF, AF, and PF flags are undefined." (The destination for a zero source is compared: AMD
  // documents it unchanged and Intel hardware leaves it so.)
  if (kind === 'bsf' || kind === 'bsr') {
    x.undefFlags |= CF | OF | SF | AF | PF;
    // Zero source, 32-bit: AMD keeps all of the destination, Intel clears its high half (Linux,
    // arch/x86/include/asm/bitops.h, ffs(): "except that the top 32 bits will be cleared").
    const maybeZero = e.kind === 'reg' ? x.reserved.has(e.r) || (src & bm) === 0n : (src & bm) === 0n;
    if (s.sz === 4 && maybeZero) x.undefRegs.push({ reg: g, mask: 0xffffffff00000000n });
  }
  // TZCNT/LZCNT: "ZF is set to 1 in case of zero output ...; CF is set to 1 if the input was
  // zero... The OF, SF, PF and AF flags are undefined." POPCNT defines all six.
  else if (kind !== 'popcnt') x.undefFlags |= OF | SF | PF | AF;
  x.note(`${kind} sz${s.sz}`);
  const op = kind === 'popcnt' ? 0xb8 : kind === 'bsf' || kind === 'tzcnt' ? 0xbc : 0xbd;
  const pre = kind === 'bsf' || kind === 'bsr' ? s.pre : [...s.pre, 0xf3];
  // The mandatory F3 must stay the last F2/F3 prefix: no reordering noise for these.
  x.emit({ pre, w: s.w, op: [0x0f, op], reg: g, rm: e, noNoise: kind !== 'bsf' && kind !== 'bsr' });
}

function mov(x: Ctx): void {
  const rng = x.rng;
  const form = rng.int(12);
  if (form === 11) {
    // MOVNTI m32/m64, r: a plain store here (no caches to bypass).
    const w = rng.bool();
    const m = x.mem(w ? 8 : 4);
    x.note(`movnti sz${w ? 8 : 4}`);
    x.emit({ w, op: [0x0f, 0xc3], reg: x.opReg(w ? 8 : 4), rm: { kind: 'mem', m } });
  } else if (form <= 1) {
    const s = byteOrSize(x);
    const e = x.rm(s.sz, 0.5);
    const g = x.opReg(s.sz);
    x.note(`mov ${form === 0 ? 'E,G' : 'G,E'} sz${s.sz}`);
    x.emit({ pre: s.pre, w: s.w, rexForce: s.rexForce, op: [(s.byte ? 0x88 : 0x89) + form * 2], reg: g, rm: e });
  } else if (form === 2) {
    const s = byteOrSize(x);
    const e = x.rm(s.sz, 0.5);
    x.note(`mov E,imm sz${s.sz}`);
    x.emit({ pre: s.pre, w: s.w, rexForce: s.rexForce, op: [s.byte ? 0xc6 : 0xc7], reg: 0, rm: e, imm: immZ(rng, s.sz) });
  } else if (form === 3) {
    const s = byteOrSize(x);
    const r = rng.int(16);
    x.note(`mov r,imm${s.sz * 8} sz${s.sz}`);
    x.emit({ pre: s.pre, w: s.w, rexForce: s.rexForce, op: [s.byte ? 0xb0 : 0xb8], opreg: r, imm: imm(rng, s.sz) });
  } else if (form === 4) {
    // MOV AL/rAX <-> moffs: a 64-bit absolute address (32-bit with 67).
    const s = byteOrSize(x);
    const a32 = rng.bool(0.2);
    const store = rng.bool();
    const a = DATA_ADDR + rng.range(0, DATA_SIZE - s.sz);
    if (store) x.set(0, val(rng, s.sz));
    else x.pokeVal(a, s.sz, val(rng, s.sz));
    x.note(`mov ${store ? 'moffs,rAX' : 'rAX,moffs'} sz${s.sz}${a32 ? ' a32' : ''}`);
    x.emit({ pre: [...s.pre, ...(a32 ? [0x67] : [])], w: s.w, op: [(s.byte ? 0xa0 : 0xa1) + (store ? 2 : 0)], imm: le(a, a32 ? 4 : 8) });
  } else if (form <= 6) {
    // MOVZX/MOVSX r, r/m8 or r/m16
    const s = x.size();
    const src16 = rng.bool();
    const sx = form === 6;
    const e = x.rm(src16 ? 2 : 1, 0.4);
    const g = x.opReg(s.sz);
    x.note(`${sx ? 'movsx' : 'movzx'} sz${s.sz}<-${src16 ? 16 : 8}`);
    x.emit({ pre: s.pre, w: s.w, rexForce: !src16 && rng.bool(0.3), op: [0x0f, (sx ? 0xbe : 0xb6) + (src16 ? 1 : 0)], reg: g, rm: e });
  } else if (form === 7) {
    // MOVSXD; without REX.W it is a plain 32-bit move (zero-extending).
    const w = rng.bool(0.8);
    const e = x.rm(4, 0.4);
    x.note(`movsxd w=${w}`);
    x.emit({ w, op: [0x63], reg: x.opReg(8), rm: e });
  } else {
    // LEA: pure address arithmetic in 64, 32 (67) or 16 (66) bits; nothing is accessed.
    const s = x.size();
    const m = x.mem(8, { any: true, p67: 0.3 });
    x.note(`lea sz${s.sz}`);
    x.emit({ pre: s.pre, w: s.w, op: [0x8d], reg: x.opReg(s.sz), rm: { kind: 'mem', m } });
  }
}

function xchg(x: Ctx): void {
  const rng = x.rng;
  if (rng.bool(0.6)) {
    const s = byteOrSize(x);
    const e = x.rm(s.sz, 0.4);
    x.note(`xchg E,G sz${s.sz}`);
    x.emit({ pre: s.pre, w: s.w, rexForce: s.rexForce, op: [s.byte ? 0x86 : 0x87], reg: x.opReg(s.sz), rm: e });
  } else {
    // 90+r: XCHG rAX, r; plain 90 (and 48 90) is NOP, F3 90 is PAUSE, 41 90 is XCHG eAX, R8D.
    const s = x.size();
    const r = rng.bool(0.15) ? 0 : rng.int(16);
    const pause = r === 0 && rng.bool(0.3);
    x.set(r, val(rng, s.sz));
    x.note(`xchg rAX,r${r} sz${s.sz}${pause ? ' pause' : ''}`);
    x.emit({ pre: [...s.pre, ...(pause ? [0xf3] : [])], w: s.w, op: [0x90], opreg: r });
  }
}

function cmpxchg(x: Ctx): void {
  const rng = x.rng;
  const form = rng.int(4);
  if (form === 0) {
    // CMPXCHG: flags as CMP rAX, dest.
    const s = byteOrSize(x);
    x.reserve(0);
    x.set(0, val(rng, 8));
    const e = x.rm(s.sz, 0.5);
    const g = x.opReg(s.sz);
    const bm = s.sz === 8 ? M64 : (1n << BigInt(s.sz * 8)) - 1n;
    if (rng.bool(0.5)) {
      // Make the comparison succeed.
      if (e.kind === 'mem') {
        const v = val(rng, s.sz) & bm;
        x.pokeVal(e.m.addr, s.sz, v);
        x.set(0, (x.regs[0] & ~bm) | v);
      } else if (s.sz !== 1 || e.r < 4 || s.rexForce || e.r >= 8) {
        x.set(0, (x.regs[0] & ~bm) | (x.regs[e.r] & bm));
      }
    }
    x.note(`cmpxchg sz${s.sz}`);
    x.emit({ pre: s.pre, w: s.w, rexForce: s.rexForce, op: [0x0f, s.byte ? 0xb0 : 0xb1], reg: g, rm: e });
  } else if (form === 1) {
    const s = byteOrSize(x);
    const e = x.rm(s.sz, 0.5);
    x.note(`xadd sz${s.sz}`);
    x.emit({ pre: s.pre, w: s.w, rexForce: s.rexForce, op: [0x0f, s.byte ? 0xc0 : 0xc1], reg: x.opReg(s.sz), rm: e });
  } else {
    // CMPXCHG8B / CMPXCHG16B: compare rDX:rAX with m64/m128; only ZF changes.
    const wide = form === 3;
    const sz = wide ? 16 : 8;
    x.reserve(0, 1, 2, 3);
    for (const r of [0, 1, 2, 3]) x.set(r, val(rng, 8));
    // CMPXCHG16B needs 16-byte alignment (#GP otherwise): sometimes only 8.
    const m = x.mem(sz, { align: wide ? (rng.bool(0.1) ? 8 : 16) : rng.pick([1, 8]), fault: 0.01 });
    const half = wide ? 8 : 4;
    const hm = wide ? M64 : 0xffffffffn;
    const lo = val(rng, half) & hm, hi = val(rng, half) & hm;
    x.pokeVal(m.addr, half, lo);
    x.pokeVal(m.addr + BigInt(half), half, hi);
    if (rng.bool(0.5)) {
      x.set(0, (x.regs[0] & ~hm) | lo);
      x.set(2, (x.regs[2] & ~hm) | hi);
    }
    x.note(wide ? 'cmpxchg16b' : 'cmpxchg8b');
    x.emit({ w: wide, op: [0x0f, 0xc7], reg: 1, rm: { kind: 'mem', m } });
  }
}

function cmov(x: Ctx): void {
  const rng = x.rng;
  const cc = rng.int(16);
  if (rng.bool(0.6)) {
    const s = x.size();
    const e = x.rm(s.sz, 0.4);
    x.note(`cmov${cc.toString(16)} sz${s.sz}`);
    x.emit({ pre: s.pre, w: s.w, op: [0x0f, 0x40 + cc], reg: x.opReg(s.sz), rm: e });
  } else {
    const e = x.rm(1, 0.4);
    x.note(`set${cc.toString(16)}`);
    x.emit({ rexForce: rng.bool(0.3), op: [0x0f, 0x90 + cc], reg: rng.int(16), rm: e });
  }
}

/** A branch target in the code page after the instruction (sometimes inside it, or off the page). */
function relTarget(x: Ctx, len: number, rel32: boolean): number {
  const rng = x.rng;
  const r = rng.int(20);
  if (r === 0) return rel32 ? rng.range(-0xf0000, -len - 1) : -len - rng.range(1, 120); // before the page: #PF
  if (r === 1) return -1; // onto the branch's last byte (FF CC there: DEC ESP, then INT3)
  if (r === 2 && rel32) return rng.pick([0x7fffffff, 0x1000 - len, rng.range(0x1000, 0x100000)]); // beyond: #PF
  return rng.range(0, rel32 ? 0xf00 : 127);
}

function branch(x: Ctx): void {
  const rng = x.rng;
  x.reserve(4);
  x.set(4, BigInt(STACK_PAGE + rng.range(0x40, 0xf00)) & ~7n);
  const form = rng.int(10);
  const cc = rng.int(16);
  if (form <= 1) {
    const rel32 = form === 1;
    const len = rel32 ? 6 : 2;
    x.note(`j${cc.toString(16)} rel${rel32 ? 32 : 8}`);
    const rel = relTarget(x, len, rel32);
    x.emit({ op: rel32 ? [0x0f, 0x80 + cc] : [0x70 + cc], imm: le(rel, rel32 ? 4 : 1) });
  } else if (form === 2) {
    const rel32 = rng.bool();
    x.note(`jmp rel${rel32 ? 32 : 8}`);
    x.emit({ op: [rel32 ? 0xe9 : 0xeb], imm: le(relTarget(x, rel32 ? 5 : 2, rel32), rel32 ? 4 : 1) });
  } else if (form === 3) {
    // LOOP/LOOPE/LOOPNE/JRCXZ, with 67 counting in ECX.
    const op = rng.range(0xe0, 0xe3);
    const a32 = rng.bool(0.3);
    x.reserve(1);
    x.set(1, rng.pick([0n, 1n, 2n, 0x100000000n, 0x100000001n, M64, val(rng, 8)]));
    x.note(`${['loopne', 'loope', 'loop', 'jrcxz'][op - 0xe0]}${a32 ? ' a32' : ''}`);
    x.emit({ pre: a32 ? [0x67] : [], op: [op], imm: le(relTarget(x, a32 ? 3 : 2, false), 1) });
  } else if (form === 4) {
    x.note('call rel32');
    x.emit({ op: [0xe8], imm: le(relTarget(x, 5, true), 4) });
  } else if (form <= 6) {
    // CALL/JMP r/m64 (FF /2, /4) to an address in the code page (or a non-canonical one).
    const t = rng.bool(0.05) ? 0x0000800000000000n + BigInt(rng.int(0x1000)) : BigInt(CODE_ADDR + rng.range(0x10, 0xfff)); // past the branch: it must not run again
    const e = x.rm(8, 0.4);
    if (e.kind === 'mem') x.pokeVal(e.m.addr, 8, t);
    else if (!x.reserved.has(e.r)) x.set(e.r, t);
    const isCall = form === 5;
    x.note(`${isCall ? 'call' : 'jmp'} E`);
    x.emit({ op: [0xff], reg: isCall ? 2 : 4, rm: e });
  } else {
    // RET / RET imm16: the return address waits on the stack.
    const t = rng.bool(0.05) ? 0xffff800000000000n - 0x1000n : BigInt(CODE_ADDR + rng.range(0x10, 0xfff)); // past the branch: it must not run again
    x.pokeVal(x.regs[4], 8, t);
    const withImm = form === 8;
    x.note(withImm ? 'ret imm16' : 'ret');
    x.emit({ op: [withImm ? 0xc2 : 0xc3], imm: withImm ? le(rng.pick([0, 8, rng.int(0x10000)]), 2) : [] });
  }
}

function convert(x: Ctx): void {
  const rng = x.rng;
  const form = rng.int(4);
  if (form === 0) {
    const s = x.size();
    const r = rng.int(16);
    x.set(r, val(rng, 8));
    // "When the BSWAP instruction references a 16-bit register, the result is undefined."
    if (s.sz === 2) x.undefRegs.push({ reg: r, mask: 0xffffn });
    x.note(`bswap sz${s.sz}`);
    x.emit({ pre: s.pre, w: s.w, op: [0x0f, 0xc8], opreg: r });
  } else if (form === 1 || form === 2) {
    const s = x.size();
    x.set(0, val(rng, 8));
    x.note(`${form === 1 ? 'cbw/cwde/cdqe' : 'cwd/cdq/cqo'} sz${s.sz}`);
    x.emit({ pre: s.pre, w: s.w, op: [form === 1 ? 0x98 : 0x99] });
  } else {
    const sahf = rng.bool();
    x.set(0, val(rng, 8));
    x.note(sahf ? 'sahf' : 'lahf');
    x.emit({ op: [sahf ? 0x9e : 0x9f] });
  }
}

function flagops(x: Ctx): void {
  const op = x.rng.pick([0xf5, 0xf8, 0xf9, 0xfc, 0xfd]);
  x.note(['cmc', 'clc', 'stc', 'cld', 'std'][[0xf5, 0xf8, 0xf9, 0xfc, 0xfd].indexOf(op)]);
  x.emit({ op: [op] });
}

/**
 * Instructions that change nothing (NOPs with memory operands that are never accessed,
 * prefetch hints, fences, CLFLUSH) and ones that must fault at CPL 3 (UD2, HLT, CLI, STI,
 * port I/O with IOPL 0, CR/MSR access, CLTS, INVD, WBINVD).
 */
function system(x: Ctx): void {
  const rng = x.rng;
  const form = rng.int(8);
  if (form === 0) {
    x.note('nop E (0f 1f)');
    x.emit({ pre: rng.bool(0.3) ? [0x66] : [], w: rng.bool(0.2), op: [0x0f, 0x1f], reg: 0, rm: x.rm(4, 0.8, { any: true }) });
  } else if (form === 1) {
    const op = rng.pick([0x18, 0x0d]);
    // PREFETCHh and PREFETCHW never fault, not even on an unmapped address.
    x.note(`prefetch (0f ${op.toString(16)}) /${op === 0x18 ? 'h' : '1'}`);
    x.emit({ op: [0x0f, op], reg: op === 0x18 ? rng.int(4) : 1, rm: { kind: 'mem', m: x.mem(1, { any: rng.bool(0.3) }) } });
  } else if (form === 2) {
    const r = rng.pick([5, 6, 7]);
    x.note(['lfence', 'mfence', 'sfence'][r - 5]);
    x.emit({ op: [0x0f, 0xae], rm: { kind: 'reg', r: rng.int(8) }, reg: r });
  } else if (form === 3) {
    x.note('clflush');
    x.emit({ op: [0x0f, 0xae], reg: 7, rm: { kind: 'mem', m: x.mem(1, { fault: 0.05 }) } });
  } else if (form === 4) {
    x.note('ud2');
    x.emit({ op: [0x0f, 0x0b] });
  } else {
    const [name, op, im] = rng.pick<[string, number[], number]>([
      ['hlt', [0xf4], 0], ['cli', [0xfa], 0], ['sti', [0xfb], 0], ['in al,dx', [0xec], 0], ['in eax,dx', [0xed], 0],
      ['out dx,al', [0xee], 0], ['out dx,eax', [0xef], 0], ['in al,ib', [0xe4], 1], ['out ib,eax', [0xe7], 1],
      ['insb', [0x6c], 0], ['outsd', [0x6f], 0], ['rdmsr', [0x0f, 0x32], 0], ['wrmsr', [0x0f, 0x30], 0],
      ['clts', [0x0f, 0x06], 0], ['invd', [0x0f, 0x08], 0], ['wbinvd', [0x0f, 0x09], 0],
    ]);
    x.note(name);
    x.emit({ op, imm: im ? [rng.int(256)] : [] });
  }
}

function stack(x: Ctx): void {
  const rng = x.rng;
  x.reserve(4);
  let sp = STACK_PAGE + rng.range(0x100, 0xf00);
  sp -= sp % rng.pick([8, 8, 8, 2, 1]);
  if (rng.bool(0.03)) sp = DATA_ADDR + rng.range(0, 8); // pushes run off the region: #PF
  x.set(4, BigInt(sp));
  const form = rng.int(10);
  const o16 = rng.bool(0.15);
  const pre = o16 ? [0x66] : [];
  const sz = o16 ? 2 : 8;
  if (form === 0) {
    const r = rng.int(16);
    if (r !== 4) x.set(r, val(rng, 8));
    x.note(`push r${r} sz${sz}`);
    x.emit({ pre, op: [0x50], opreg: r });
  } else if (form === 1) {
    const r = rng.int(16);
    x.pokeVal(sp, 8, val(rng, 8));
    x.note(`pop r${r} sz${sz}`);
    x.emit({ pre, op: [0x58], opreg: r });
  } else if (form === 2) {
    const byte = rng.bool();
    x.note(`push imm${byte ? 8 : sz === 2 ? 16 : 32} sz${sz}`);
    x.emit({ pre, op: [byte ? 0x6a : 0x68], imm: byte ? imm(rng, 1) : immZ(rng, sz) });
  } else if (form === 3) {
    const e = x.rm(sz, 0.5, { hi: 0x1000 });
    x.note(`push E sz${sz}`);
    x.emit({ pre, op: [0xff], reg: 6, rm: e });
  } else if (form === 4) {
    x.pokeVal(sp, 8, val(rng, 8));
    let e: Rm;
    if (rng.bool(0.2)) {
      // POP [RSP+d8]: the address uses RSP after the pop's increment.
      const d = rng.range(-0x40, 0x40);
      e = { kind: 'mem', m: { mod: 1, rmLow: 4, sib: 0x24, dispLen: 1, disp: d, ripRel: false, rexX: false, rexB: false, adsz32: false, addr: BigInt(sp + sz + d), base: 4, index: -1 } };
      x.note('mem [rsp+d8]');
    } else e = x.rm(sz, 0.5, { hi: 0x1000 });
    x.note(`pop E sz${sz}`);
    x.emit({ pre, op: [0x8f], reg: 0, rm: e });
  } else if (form === 5) {
    x.note(`pushf sz${sz}`);
    x.emit({ pre, op: [0x9c] });
  } else if (form === 6) {
    // POPF at CPL 3: IOPL and IF stay (IOPL 0 < CPL), TF/AC are left out so the harness is not
    // single-stepped or alignment-checked; reserved and VM/RF/VIF/VIP bits are ignored.
    const v = (BigInt(rng.u32()) << 32n) |
      BigInt((rng.u32() & (ARITH | DF | NT | ID | IF | 0x3000 | 0x8028 | 0x1b0000 | 0xffc00000)) >>> 0);
    x.pokeVal(sp, 8, v);
    x.note(`popf sz${sz}`);
    x.emit({ pre, op: [0x9d] });
  } else if (form === 7) {
    x.reserve(5);
    const bp = STACK_PAGE + rng.range(0x100, 0xf00);
    x.set(5, BigInt(bp - (bp % 8)));
    x.pokeVal(BigInt(bp - (bp % 8)), 8, BigInt(STACK_PAGE + rng.range(0, 0xff8)));
    x.note('leave');
    x.emit({ op: [0xc9] });
  } else {
    // ENTER size, level: level > 0 copies frame pointers from [rbp-8], [rbp-16], ...
    x.reserve(5);
    const bp = STACK_PAGE + rng.range(0x200, 0xf00);
    x.set(5, BigInt(bp - (bp % 8)));
    const level = rng.pick([0, 0, 1, 2, 3, 5, rng.int(32)]);
    const size = rng.pick([0, 8, 0x20, rng.int(0x400)]);
    x.note(`enter ${size},${level}`);
    x.emit({ op: [0xc8], imm: [...le(size, 2), level] });
  }
}

function strings(x: Ctx): void {
  const rng = x.rng;
  const kind = rng.int(5); // movs cmps stos lods scas
  const name = ['movs', 'cmps', 'stos', 'lods', 'scas'][kind];
  const op = [0xa4, 0xa6, 0xaa, 0xac, 0xae][kind];
  const s = byteOrSize(x, 0.35);
  const cmp = kind === 1 || kind === 4;
  const rep = rng.pick(cmp ? [0, 0xf3, 0xf2] : [0, 0xf3, 0xf3]);
  const a32 = rng.bool(0.15);
  x.reserve(0, 1, 6, 7);
  const n = rep === 0 ? 1 : rng.pick([0, 1, 2, 3, rng.range(4, 40), rng.range(40, 300)]);
  const down = (x.flags & DF) !== 0;
  const span = Math.max(1, n) * s.sz;
  const place = (): number => {
    if (rng.bool(0.04)) return down ? DATA_ADDR + rng.range(0, span) : DATA_END - rng.range(1, span); // runs off: #PF
    let lo = DATA_ADDR, hi = DATA_END - span;
    if (down) {
      lo += span - s.sz;
      hi += span - s.sz;
    }
    const p = rng.range(lo, hi);
    return rng.bool(0.7) ? p - (p % s.sz) + (down && p % s.sz ? s.sz : 0) : p;
  };
  const src = place(), dst = place();
  const hiGarbage = (v: number): bigint => (a32 ? (rng.u64() & ~0xffffffffn) | BigInt(v) : BigInt(v));
  x.set(6, hiGarbage(src));
  x.set(7, hiGarbage(dst));
  x.set(1, rep === 0 ? val(rng, 8) : a32 ? (rng.u64() & ~0xffffffffn) | BigInt(n) : BigInt(n));
  x.set(0, val(rng, 8));
  const elems = Math.max(1, n);
  const first = (p: number): number => (down ? p - (elems - 1) * s.sz : p);
  if (kind === 1) {
    // CMPS: make the destination a copy of the source with maybe one difference.
    const data: number[] = [];
    for (let k = 0; k < elems * s.sz; k++) data.push(rng.int(256));
    x.poke(first(src), data);
    const copy = data.slice();
    if (rng.bool(0.6)) copy[rng.int(copy.length)] ^= 1 << rng.int(8);
    x.poke(first(dst), copy);
  } else if (kind === 4) {
    // SCAS: a run of rAX's value with maybe one other element (REPE stops there, REPNE hits it).
    const bm = s.sz === 8 ? M64 : (1n << BigInt(s.sz * 8)) - 1n;
    const v = x.regs[0] & bm;
    const other = rng.int(elems);
    for (let k = 0; k < elems; k++) {
      const same = rep === 0xf2 ? k === other && rng.bool(0.7) : !(k === other && rng.bool(0.6));
      x.pokeVal(first(dst) + k * s.sz, s.sz, same ? v : val(rng, s.sz));
    }
  }
  x.note(`${rep === 0xf3 ? 'rep ' : rep === 0xf2 ? 'repne ' : ''}${name} n=${n} sz${s.sz}${down ? ' DF' : ''}${a32 ? ' a32' : ''}`);
  const pre = [...s.pre, ...(rep ? [rep] : []), ...(a32 ? [0x67] : [])];
  if (kind <= 1 || kind === 3) {
    if (rng.bool(0.1)) pre.push(0x65); // GS override on the source (base 0 here)
  }
  x.emit({ pre, w: s.w, op: [op + (s.byte ? 0 : 1)], noNoise: true });
}

function lock(x: Ctx): void {
  const rng = x.rng;
  // Lockable read-modify-write forms, with a memory destination (valid) or not (#UD).
  const valid = rng.bool(0.7);
  const s = byteOrSize(x, 0.25);
  const sz = s.sz;
  const wop = (op8: number): number[] => [s.byte ? op8 : op8 + 1];
  const e: Rm = valid ? { kind: 'mem', m: x.mem(sz, { fault: 0.01 }) } : rng.bool(0.5) ? x.rm(sz, 0) : { kind: 'mem', m: x.mem(sz, { fault: 0 }) };
  if (e.kind === 'mem' && rng.bool(0.6)) x.pokeVal(e.m.addr, sz, val(rng, sz));
  const g = x.opReg(sz);
  const form = rng.int(valid || e.kind === 'reg' ? 8 : 4);
  let op: number[], reg: number, im: number[] = [];
  if (!valid && e.kind === 'mem') {
    // Not lockable even with a memory operand: CMP, TEST, MOV, BT.
    x.note('lock (not lockable)');
    if (form === 0) { op = wop(0x38); reg = g; }
    else if (form === 1) { op = wop(0x84); reg = g; }
    else if (form === 2) { op = wop(0x88); reg = g; }
    else { op = [0x0f, 0xa3]; reg = g; if (s.byte) return lockFallback(x); }
  } else {
    const k = rng.int(7); // ADD..XOR (not CMP)
    if (form === 0) { op = [k * 8 + (s.byte ? 0 : 1)]; reg = g; x.note(`lock ${ALU_NAMES[k]}`); if (LOGIC.includes(k)) x.undefFlags |= AF; }
    else if (form === 1) { op = [s.byte ? 0x80 : 0x83]; reg = k; im = imm(rng, 1); x.note(`lock ${ALU_NAMES[k]} imm`); if (LOGIC.includes(k)) x.undefFlags |= AF; }
    else if (form === 2) { op = wop(0xfe); reg = rng.int(2); x.note('lock inc/dec'); if (s.byte) op = [0xfe]; else op = [0xff]; }
    else if (form === 3) { op = wop(0xf6); reg = rng.range(2, 3); x.note('lock not/neg'); }
    else if (form === 4) { op = wop(0x86); reg = g; x.note('lock xchg'); }
    else if (form === 5) { op = [0x0f, s.byte ? 0xb0 : 0xb1]; reg = g; x.note('lock cmpxchg'); }
    else if (form === 6) { op = [0x0f, s.byte ? 0xc0 : 0xc1]; reg = g; x.note('lock xadd'); }
    else {
      if (s.byte) return lockFallback(x);
      x.undefFlags |= OF | SF | AF | PF;
      // A bit offset in a register addresses memory beyond the operand: keep it inside.
      reg = x.freeReg();
      x.set(reg, BigInt(rng.int(sz * 8)));
      op = [0x0f, rng.pick([0xab, 0xb3, 0xbb])]; x.note('lock bts/btr/btc');
    }
  }
  x.note(`sz${sz}`);
  x.emit({ pre: [0xf0, ...s.pre], w: s.w, rexForce: s.rexForce, op, reg, rm: e, imm: im });
}

function lockFallback(x: Ctx): void {
  x.note('lock inc');
  x.emit({ pre: [0xf0], op: [0xff], reg: 0, rm: { kind: 'mem', m: x.mem(4, { fault: 0 }) } });
}

/** Addressing stress: every ModRM/SIB form with arbitrary register values, wrapping sums. */
function addr(x: Ctx): void {
  const rng = x.rng;
  const s = byteOrSize(x, 0.2);
  const m = x.mem(s.sz, { huge: rng.bool(0.5), p67: 0.35, fault: 0.03 });
  const store = rng.bool();
  if (!store && rng.bool(0.5)) x.pokeVal(m.addr, s.sz, val(rng, s.sz));
  x.note(`mov ${store ? 'store' : 'load'} sz${s.sz}`);
  x.emit({ pre: s.pre, w: s.w, rexForce: s.rexForce, op: [(s.byte ? 0x88 : 0x89) + (store ? 0 : 2)], reg: x.opReg(s.sz), rm: { kind: 'mem', m } });
}

/** Flags each condition code reads (Jcc/SETcc/CMOVcc encoding). */
const CC_READS = [OF, OF, CF, CF, ZF, ZF, CF | ZF, CF | ZF, SF, SF, PF, PF, SF | OF, SF | OF, ZF | SF | OF, ZF | SF | OF];

/**
 * A flag producer followed by a flag consumer: the consumer sees the interpreter's lazy flag
 * state (ADD, SUB, logic, INC/DEC, shifts), not flags materialized from RFLAGS. Consumers only
 * read flags the producer defines; the producer's undefined flags stay masked if not rewritten.
 */
function pairs(x: Ctx): void {
  const rng = x.rng;
  // The second instruction's address registers and RSP must survive the first one.
  const a = rng.range(8, 15);
  const b = rng.pick([a, ...[8, 9, 10, 11, 12, 13, 14, 15].filter((r) => r !== a)]);
  x.keep.add(a).add(b).add(4);
  x.set(4, BigInt(STACK_PAGE + 0x800));
  x.noWild = true;
  rng.pick([alu, alu, test, unary, shift, shxd, cmpxchg, strings, bt])(x);
  x.keep.clear();
  x.reserve(4);
  const memo: MemOpts = { regs: [a, b] };
  const U = x.undefFlags;
  x.faultUndefFlags = U; // if the second instruction faults, the first one's flags are what is left
  const ccs = [...Array(16).keys()].filter((cc) => (CC_READS[cc] & U) === 0);
  const kinds = ['inc', 'alu'];
  if (ccs.length > 0) kinds.push('jcc', 'jcc', 'setcc', 'cmov');
  if ((U & CF) === 0) kinds.push('adc', 'rcx', 'cmc');
  if ((U & (SF | ZF | AF | PF | CF)) === 0) kinds.push('lahf');
  if (U === 0) kinds.push('pushf');
  if ((U & ZF) === 0) kinds.push('loopz');
  const kind = rng.pick(kinds);
  x.note('then');
  switch (kind) {
    case 'jcc': {
      const cc = rng.pick(ccs);
      const rel32 = rng.bool(0.3);
      x.note(`j${cc.toString(16)}`);
      x.emit({ op: rel32 ? [0x0f, 0x80 + cc] : [0x70 + cc], imm: le(rng.range(0, 100), rel32 ? 4 : 1), noNoise: true });
      break; // flags unchanged: the producer's undefined ones stay undefined
    }
    case 'setcc': {
      const cc = rng.pick(ccs);
      x.note(`set${cc.toString(16)}`);
      x.emit({ op: [0x0f, 0x90 + cc], rm: x.rm(1, 0.3, memo) });
      break;
    }
    case 'cmov': {
      const cc = rng.pick(ccs);
      const s = x.size();
      x.note(`cmov${cc.toString(16)} sz${s.sz}`);
      x.emit({ pre: s.pre, w: s.w, op: [0x0f, 0x40 + cc], reg: x.opReg(s.sz), rm: x.rm(s.sz, 0.3, memo) });
      break;
    }
    case 'inc': {
      // INC/DEC keep CF: whatever the producer left there, defined or not.
      const s = byteOrSize(x);
      x.undefFlags = U & CF;
      x.note(`inc/dec sz${s.sz}`);
      x.emit({ pre: s.pre, w: s.w, rexForce: s.rexForce, op: [s.byte ? 0xfe : 0xff], reg: rng.int(2), rm: x.rm(s.sz, 0.3, memo) });
      break;
    }
    case 'alu': {
      const s = byteOrSize(x);
      const k = rng.pick([0, 1, 4, 5, 6, 7]); // not reading CF: everything is rewritten
      x.undefFlags = LOGIC.includes(k) ? AF : 0;
      x.note(`${ALU_NAMES[k]} sz${s.sz}`);
      x.emit({ pre: s.pre, w: s.w, rexForce: s.rexForce, op: [k * 8 + (s.byte ? 0 : 1)], reg: x.opReg(s.sz), rm: x.rm(s.sz, 0.3, memo) });
      break;
    }
    case 'adc': {
      const s = byteOrSize(x);
      const k = rng.pick([2, 3]);
      x.undefFlags = 0;
      x.note(`${ALU_NAMES[k]} sz${s.sz}`);
      x.emit({ pre: s.pre, w: s.w, rexForce: s.rexForce, op: [k * 8 + (s.byte ? 0 : 1)], reg: x.opReg(s.sz), rm: x.rm(s.sz, 0.3, memo) });
      break;
    }
    case 'rcx': {
      const s = byteOrSize(x);
      const count = rng.pick([1, 1, 2, 7, 9, 17, 33]);
      const n = count & (s.sz === 8 ? 63 : 31);
      // Rotates leave SF ZF AF PF alone; OF is undefined beyond a count of 1.
      x.undefFlags = (U & ~CF & ~OF) | (n === 1 ? 0 : OF);
      x.note(`${count === 1 ? 'rcl/rcr 1' : `rcl/rcr imm=${count}`} sz${s.sz}`);
      const reg = rng.pick([2, 3]);
      if (count === 1) x.emit({ pre: s.pre, w: s.w, rexForce: s.rexForce, op: [s.byte ? 0xd0 : 0xd1], reg, rm: x.rm(s.sz, 0.3, memo) });
      else x.emit({ pre: s.pre, w: s.w, rexForce: s.rexForce, op: [s.byte ? 0xc0 : 0xc1], reg, rm: x.rm(s.sz, 0.3, memo), imm: [count] });
      break;
    }
    case 'cmc':
      x.note('cmc');
      x.emit({ op: [0xf5] });
      break;
    case 'lahf':
      x.note('lahf');
      x.emit({ op: [0x9f] });
      break;
    case 'pushf': {
      x.note('pushf');
      x.emit({ op: [0x9c] });
      break;
    }
    default: {
      // LOOPE/LOOPNE read ZF after decrementing RCX (which keeps the flags).
      if (!x.reserved.has(1)) x.set(1, rng.pick([1n, 2n, 0x100000000n]));
      x.note('loope/loopne');
      x.emit({ op: [rng.pick([0xe0, 0xe1])], imm: [rng.range(0, 100)], noNoise: true });
    }
  }
}

export const FAMILIES: Record<string, (x: Ctx) => void> = {
  alu, test, unary, mul, div, shift, shxd, bt, bitscan, mov, xchg, cmpxchg, cmov, branch,
  convert, flagops, system, stack, strings, lock, addr, pairs,
};

/** Derive a per-family seed so that each family's cases do not depend on the others. */
export function familySeed(seed: number, family: string): number {
  let h = seed >>> 0;
  for (let k = 0; k < family.length; k++) h = Math.imul(h ^ family.charCodeAt(k), 0x01000193) >>> 0;
  return h;
}

export function generate(seed: number, family: string, n: number, features: Features): Case[] {
  const gen = FAMILIES[family];
  if (gen === undefined) throw new Error(`unknown differential-test family '${family}'`);
  const rng = new Rng(familySeed(seed, family));
  const out: Case[] = [];
  for (let k = 0; k < n; k++) {
    const x = new Ctx(rng, features);
    gen(x);
    out.push(x.finish(family));
  }
  return out;
}
