// Differential runner for SSE/MMX/x87 instructions: the same cases run on the host CPU
// (harness.c, compiled here with gcc) and in src/cpu, and the resulting states are compared
// bit for bit. Record layouts match harness.c.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { flatCpu, StopHooks } from '../../../src/cpu/flat.js';
import type { Cpu } from '../../../src/cpu/cpu.js';
import type { CpuFault } from '../../../src/cpu/fault.js';
import { getFlags, setFlags } from '../../../src/cpu/flags.js';
import { fxrstorImage, fxsaveImage } from '../../../src/cpu/ops/fxsave.js';

export const CODE_ADDR = 0x100000;
export const DATA_ADDR = 0x200000;
export const DATA_SIZE = 0x2000;
export const MEM_OFF = 0xf00;
/** Linear address of the 512-byte compared memory block (it straddles a page boundary). */
export const MEM_ADDR = DATA_ADDR + MEM_OFF;
export const STACK_TOP = 0x30f000;
const IN_SIZE = 1176;
const OUT_SIZE = 1176;

export interface Case {
  /** Short description for reports (the form's name). */
  name: string;
  code: Uint8Array;
  r: bigint[]; // 16 GPRs
  rflags: number;
  fx: Uint8Array; // 512-byte FXSAVE image
  mem: Uint8Array; // 512 bytes at MEM_ADDR
}

export interface Result {
  /** -1: completed; otherwise the exception vector. */
  trap: number;
  rip: bigint;
  r: bigint[];
  rflags: number;
  fx: Uint8Array;
  mem: Uint8Array;
  /** Emulator only: the fault message. */
  detail?: string;
}

let harnessPath: string | undefined;

export function harness(): string {
  if (harnessPath) return harnessPath;
  const dir = mkdtempSync(join(tmpdir(), 'tsxen-sse-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const src = fileURLToPath(new URL('./harness.c', import.meta.url));
  const exe = join(dir, 'harness');
  execFileSync('gcc', ['-O1', '-o', exe, src]);
  harnessPath = exe;
  return exe;
}

export function runNative(cases: Case[]): Result[] {
  const input = Buffer.alloc(cases.length * IN_SIZE);
  cases.forEach((c, n) => {
    const o = n * IN_SIZE;
    for (let k = 0; k < 16; k++) input.writeBigUInt64LE(BigInt.asUintN(64, c.r[k]), o + 8 * k);
    input.writeBigUInt64LE(BigInt(c.rflags), o + 128);
    input.set(c.fx, o + 136);
    input.set(c.mem, o + 648);
    input[o + 1160] = c.code.length;
    input.set(c.code, o + 1161);
  });
  const p = spawnSync(harness(), [], { input, maxBuffer: 1 << 30 });
  if (p.status !== 0 || p.stdout.length !== cases.length * OUT_SIZE) {
    throw new Error(`native harness failed: status ${p.status} signal ${p.signal} ${p.stderr}`);
  }
  const out = p.stdout;
  return cases.map((_c, n) => {
    const o = n * OUT_SIZE;
    const r: bigint[] = [];
    for (let k = 0; k < 16; k++) r.push(out.readBigUInt64LE(o + 16 + 8 * k));
    return {
      trap: out.readInt32LE(o),
      rip: out.readBigUInt64LE(o + 8),
      r,
      rflags: Number(out.readBigUInt64LE(o + 144)),
      fx: new Uint8Array(out.subarray(o + 152, o + 664)),
      mem: new Uint8Array(out.subarray(o + 664, o + 1176)),
    };
  });
}

let emu: { c: Cpu; hooks: StopHooks } | undefined;

export function runEmu(cases: Case[]): Result[] {
  if (!emu) {
    const hooks = new StopHooks();
    emu = { c: flatCpu(0x400000, hooks), hooks };
  }
  const { c, hooks } = emu;
  const zeroData = new Uint8Array(DATA_SIZE);
  // Every case re-decodes its code and ends in a fault: Error stack capture dominates the
  // run time otherwise (the decoder builds a CpuFault placeholder per instruction).
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return cases.map((k) => runOne(c, hooks, k, zeroData));
  } finally {
    Error.stackTraceLimit = limit;
  }
}

function runOne(c: Cpu, hooks: StopHooks, k: Case, zeroData: Uint8Array): Result {
  {
    const code = new Uint8Array(k.code.length + 1);
    code.set(k.code);
    code[k.code.length] = 0xf4; // HLT: #GP at CPL 3 marks the end
    c.m.writeBytes(CODE_ADDR, code);
    c.m.writeBytes(DATA_ADDR, zeroData);
    c.m.writeBytes(MEM_ADDR, k.mem);
    for (let n = 0; n < 16; n++) c.setReg64(n, k.r[n]);
    setFlags(c, k.rflags);
    c.ts = false;
    fxrstorImage(c, k.fx);
    hooks.lastFault = undefined;
    c.rip = CODE_ADDR;
    c.run(10);
    const f = hooks.lastFault as CpuFault | undefined; // set by the run (TS cannot see it)
    const end = CODE_ADDR + k.code.length;
    let trap = -1;
    let detail: string | undefined;
    if (f === undefined) {
      trap = -2;
      detail = 'did not stop';
    } else if (!(f.vector === 13 && c.rip === end)) {
      trap = f.vector;
      detail = f.message;
    }
    const fx = new Uint8Array(512);
    fxsaveImage(c, fx);
    const r: bigint[] = [];
    for (let n = 0; n < 16; n++) r.push(BigInt.asUintN(64, c.getReg64(n)));
    return {
      trap,
      rip: BigInt(c.rip),
      r,
      rflags: getFlags(c),
      fx,
      mem: c.m.readBytes(MEM_ADDR, 512),
      detail,
    };
  }
}

/** Per-case comparison override: return a message for a tolerated-or-not difference. */
export type Check = (k: Case, native: Result, emu: Result) => string | undefined;

const FLAG_MASK = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x400 | 0x800;

/** Byte ranges of the FXSAVE image that are architectural here (FOP/FIP/FDP, MXCSR_MASK skipped). */
function fxFields(): [string, number, number][] {
  const f: [string, number, number][] = [
    ['FCW', 0, 2],
    ['FSW', 2, 4],
    ['FTW', 4, 5],
    ['MXCSR', 24, 28],
  ];
  for (let i = 0; i < 8; i++) f.push([`ST${i}`, 32 + 16 * i, 42 + 16 * i]);
  for (let i = 0; i < 16; i++) f.push([`XMM${i}`, 160 + 16 * i, 176 + 16 * i]);
  return f;
}
const FX_FIELDS = fxFields();

export function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** 128-bit register as four 32-bit lanes, high first, like a debugger shows it. */
function lanes(b: Uint8Array): string {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: string[] = [];
  for (let k = b.length - 4; k >= 0; k -= 4) out.push(v.getUint32(k, true).toString(16).padStart(8, '0'));
  return out.join('_');
}

function regField(name: string, b: Uint8Array): string {
  return name.startsWith('XMM') || name === 'MXCSR' ? lanes(b) : hex(b.slice().reverse());
}

export function disasm(code: Uint8Array): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsxen-dis-'));
  try {
    const f = join(dir, 'c.bin');
    writeFileSync(f, code);
    const out = execFileSync('objdump', ['-D', '-b', 'binary', '-mi386:x86-64', '-M', 'intel', f]).toString();
    const line = out.split('\n').find((l) => /^\s+0:/.test(l));
    return line ? line.split('\t').slice(2).join(' ').trim() : '?';
  } catch {
    return '?';
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Differences between native and emulated results, as readable lines (empty: equal). */
export function diff(
  k: Case,
  n: Result,
  e: Result,
  fxSkip: Set<string> = new Set(),
  fswIgnore = 0,
  memIgnore: [number, number][] = [],
): string[] {
  const d: string[] = [];
  if (n.trap !== e.trap) d.push(`trap: native ${n.trap} emu ${e.trap}${e.detail ? ` (${e.detail})` : ''}`);
  if (n.rip !== e.rip) d.push(`rip: native ${n.rip.toString(16)} emu ${e.rip.toString(16)}`);
  for (let r = 0; r < 16; r++) {
    if (n.r[r] !== e.r[r]) d.push(`r${r}: native ${n.r[r].toString(16)} emu ${e.r[r].toString(16)}`);
  }
  if ((n.rflags & FLAG_MASK) !== (e.rflags & FLAG_MASK)) {
    d.push(`rflags: native ${(n.rflags & FLAG_MASK).toString(16)} emu ${(e.rflags & FLAG_MASK).toString(16)}`);
  }
  for (const [name, a, b] of FX_FIELDS) {
    if (fxSkip.has(name)) continue;
    const x = n.fx.subarray(a, b), y = e.fx.subarray(a, b);
    if (name === 'FSW' && fswIgnore) {
      const fn = x[0] | (x[1] << 8), fe = y[0] | (y[1] << 8);
      if (((fn ^ fe) & ~fswIgnore) === 0) continue;
    }
    if (hex(x) !== hex(y)) {
      const input = k.fx.subarray(a, b);
      d.push(`${name}: native ${regField(name, x)} emu ${regField(name, y)} (input ${regField(name, input)})`);
    }
  }
  for (let o = 0; o < 512; o++) {
    if (memIgnore.some(([a, b]) => o >= a && o < b)) continue;
    if (n.mem[o] !== e.mem[o]) {
      d.push(`mem+${o.toString(16)}: native ${hex(n.mem.subarray(o, o + 16))} emu ${hex(e.mem.subarray(o, o + 16))}`);
      break;
    }
  }
  return d;
}

/** Run cases on both sides; return a report of at most `max` failing cases (empty: all equal). */
export function compareAll(
  cases: Case[],
  opts: {
    check?: Check;
    fxSkip?: (k: Case) => Set<string>;
    fswIgnore?: (k: Case) => number;
    /** Byte ranges of the memory block not to compare. */
    memIgnore?: (k: Case) => [number, number][];
    max?: number;
  } = {},
): { failures: string[]; count: number } {
  const nat = runNative(cases);
  const em = runEmu(cases);
  const failures: string[] = [];
  let count = 0;
  cases.forEach((k, idx) => {
    const skip = opts.fxSkip ? opts.fxSkip(k) : new Set<string>();
    const d = diff(k, nat[idx], em[idx], skip, opts.fswIgnore ? opts.fswIgnore(k) : 0, opts.memIgnore ? opts.memIgnore(k) : []);
    const extra = opts.check ? opts.check(k, nat[idx], em[idx]) : undefined;
    if (extra) d.push(extra);
    if (d.length === 0) return;
    count++;
    if (failures.length >= (opts.max ?? 8)) return;
    const mx = new DataView(k.fx.buffer, k.fx.byteOffset).getUint32(24, true);
    failures.push(
      `#${idx} ${k.name}: ${hex(k.code)}  ${disasm(k.code)}  MXCSR in ${mx.toString(16)}\n    ` + d.join('\n    '),
    );
  });
  return { failures, count };
}
