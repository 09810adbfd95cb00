// Shared machinery of the SSE/SSE2/MMX families: the #NM check (CR0.TS), 128/64-bit operand
// fetch into scratch lanes, MXCSR flag commit with #XM, MMX register access (MMX registers
// are the mantissas of the x87 physical registers, kept exact in c.fpr), and the opcode
// registration helper that dispatches on the mandatory prefix.
//
// Operand convention for the generic kernels: the destination operand is copied into the
// scratch A, the source into B; a kernel computes A = op(A, B) over `n` 32-bit lanes (4 for
// XMM, 2 for MMX) and the handler writes A back. Copying 4 lanes costs less than one memory
// access and lets byte/word kernels use typed views without per-CPU view objects.

import type { Cpu } from '../cpu.js';
import { CpuFault, Vector, gpFault } from '../fault.js';
import type { Handler, Instr } from '../instr.js';
import { OpF, defPick } from '../optable.js';
import { ea } from './operands.js';
import { MX } from './softfloat.js';
import { f64ToFp80 } from './fp80.js';

const SCRATCH = new ArrayBuffer(64);
/** Destination scratch (16 bytes) and source scratch (16 bytes) with all lane views. */
export const A = new Int32Array(SCRATCH, 0, 4);
export const B = new Int32Array(SCRATCH, 16, 4);
export const AU8 = new Uint8Array(SCRATCH, 0, 16);
export const BU8 = new Uint8Array(SCRATCH, 16, 16);
export const AI8 = new Int8Array(SCRATCH, 0, 16);
export const BI8 = new Int8Array(SCRATCH, 16, 16);
export const AU16 = new Uint16Array(SCRATCH, 0, 8);
export const BU16 = new Uint16Array(SCRATCH, 16, 8);
export const AI16 = new Int16Array(SCRATCH, 0, 8);
export const BI16 = new Int16Array(SCRATCH, 16, 8);
export const AF32 = new Float32Array(SCRATCH, 0, 4);
export const BF32 = new Float32Array(SCRATCH, 16, 4);
export const AF64 = new Float64Array(SCRATCH, 0, 2);
export const BF64 = new Float64Array(SCRATCH, 16, 2);
/** A third 16-byte scratch for kernels that need a copy of the destination (shuffles). */
export const T = new Int32Array(SCRATCH, 32, 4);
export const TU8 = new Uint8Array(SCRATCH, 32, 16);
export const TU16 = new Uint16Array(SCRATCH, 32, 8);

/** CR0.TS set: the first SSE/MMX/x87 instruction raises #NM (Xen's fpu_taskswitch). */
export function nmFault(): CpuFault {
  return new CpuFault(Vector.NM, 0, 0, 'device not available (CR0.TS set)');
}

export function alignFault(a: number): CpuFault {
  return gpFault(`misaligned 16-byte SSE operand at 0x${a.toString(16)}`);
}

// ---- 128-bit memory access ----

/** Load 16 bytes at `a` into lanes dst[0..3]; `aligned` demands 16-byte alignment (#GP). */
export function ld128(c: Cpu, a: number, dst: Int32Array, di: number, aligned: boolean): void {
  if (aligned && (a & 15) !== 0) throw alignFault(a);
  const m = c.m;
  const l0 = m.rd64(a), h0 = m.hi;
  const l1 = m.rd64(a + 8);
  dst[di] = l0;
  dst[di + 1] = h0;
  dst[di + 2] = l1;
  dst[di + 3] = m.hi;
}

export function st128(c: Cpu, a: number, src: Int32Array, si: number, aligned: boolean): void {
  if (aligned && (a & 15) !== 0) throw alignFault(a);
  const m = c.m;
  // All or nothing: a store that crosses into an unwritable page must change nothing.
  if ((a & 0xfff) > 0xff0) m.writableOffset(a + 15);
  m.wr64(a, src[si], src[si + 1]);
  m.wr64(a + 8, src[si + 2], src[si + 3]);
}

/** B = the 128-bit source operand (XMM rm or memory). */
export function srcX(c: Cpu, i: Instr, aligned: boolean): void {
  if (i.mod === 3) {
    const x = c.xmm, s = i.rm << 2;
    B[0] = x[s]; B[1] = x[s + 1]; B[2] = x[s + 2]; B[3] = x[s + 3];
  } else ld128(c, ea(c, i), B, 0, aligned);
}

/** B[0..1] = a 64-bit source: low quadword of XMM rm, or 8 bytes of memory. */
export function srcX64(c: Cpu, i: Instr): void {
  if (i.mod === 3) {
    const x = c.xmm, s = i.rm << 2;
    B[0] = x[s]; B[1] = x[s + 1];
  } else {
    B[0] = c.m.rd64(ea(c, i));
    B[1] = c.m.hi;
  }
}

/** B[0] = a 32-bit source: lane 0 of XMM rm, or 4 bytes of memory. */
export function srcX32(c: Cpu, i: Instr): void {
  if (i.mod === 3) B[0] = c.xmm[i.rm << 2];
  else B[0] = c.m.rd32(ea(c, i));
}

export function loadA(c: Cpu, r: number): void {
  const x = c.xmm, s = r << 2;
  A[0] = x[s]; A[1] = x[s + 1]; A[2] = x[s + 2]; A[3] = x[s + 3];
}

export function storeA(c: Cpu, r: number): void {
  const x = c.xmm, d = r << 2;
  x[d] = A[0]; x[d + 1] = A[1]; x[d + 2] = A[2]; x[d + 3] = A[3];
}

// ---- MMX registers ----
//
// mmN is the 64-bit mantissa of x87 physical register N. c.fpr holds the exact 80-bit image
// of each physical register (mantissa low, mantissa high, sign+exponent) when c.fprRaw[N] is
// set; otherwise the register is the double c.st[N] and its image is made on demand.

/**
 * The x87-to-MMX transition every MMX instruction makes: TOP = 0 and all tags valid (SDM
 * 9.5.1). Handlers check CR0.TS first and call this only after their memory accesses, so a
 * faulting instruction leaves the x87 state alone.
 */
export function mmxEnter(c: Cpu): void {
  c.fpuTop = 0;
  c.ftw = 0;
}

/** Make physical register k's 80-bit image current (it was last written by x87 code). */
export function syncRaw(c: Cpu, k: number): void {
  if (c.fprRaw[k]) return;
  f64ToFp80(c.st[k], c.fpr, k << 2);
  c.fprRaw[k] = 1;
}

/** Write mmN: the mantissa takes the value, sign and exponent become all ones (SDM 9.5.1). */
export function setMM(c: Cpu, k: number, lo: number, hi: number): void {
  const f = c.fpr, o = k << 2;
  f[o] = lo;
  f[o + 1] = hi;
  f[o + 2] = 0xffff;
  c.fprRaw[k] = 1;
  // As an x87 value: -infinity for mantissa 8000...0, otherwise a NaN or an invalid encoding.
  c.st[k] = hi === -0x80000000 && lo === 0 ? -Infinity : NaN;
}

/** B[0..1] = MMX rm register or 8 bytes of memory. */
export function srcM(c: Cpu, i: Instr): void {
  if (i.mod === 3) {
    const k = i.rm & 7;
    if (!c.fprRaw[k]) syncRaw(c, k);
    B[0] = c.fpr[k << 2];
    B[1] = c.fpr[(k << 2) + 1];
  } else {
    B[0] = c.m.rd64(ea(c, i));
    B[1] = c.m.hi;
  }
}

export function loadAM(c: Cpu, k: number): void {
  if (!c.fprRaw[k]) syncRaw(c, k);
  A[0] = c.fpr[k << 2];
  A[1] = c.fpr[(k << 2) + 1];
}

// ---- MXCSR ----

/**
 * Fold the flags an instruction raised into MXCSR and raise #XM if one is unmasked. SDM
 * 11.5.2: an unmasked pre-computation exception (IE, DE, ZE) stops before the
 * post-computation ones are looked at; in every #XM case the destination is left unchanged
 * (callers commit before writing back).
 */
export function commitFlags(c: Cpu, fx: number): void {
  const m = c.mxcsr;
  const unmasked = ~(m >> 7) & MX.FLAGS;
  if (fx & unmasked & MX.PRE) {
    c.mxcsr = m | (fx & MX.PRE);
    throw xmFault(c);
  }
  c.mxcsr = m | fx;
  if (fx & unmasked) throw xmFault(c);
}

function xmFault(c: Cpu): CpuFault {
  return new CpuFault(Vector.XM, 0, 0, `SIMD floating-point exception (MXCSR 0x${c.mxcsr.toString(16)})`);
}

// ---- registration ----

export interface Forms {
  /** No prefix (packed single, or the MMX form of an integer op). */
  none?: (i: Instr) => Handler | undefined;
  p66?: (i: Instr) => Handler | undefined;
  f3?: (i: Instr) => Handler | undefined;
  f2?: (i: Instr) => Handler | undefined;
}

/** Register an SSE opcode whose meaning depends on the mandatory prefix (none/66/F3/F2). */
export function sse(op: number, name: string, forms: Forms, flags = 0): void {
  const table = [forms.none, forms.p66, forms.f3, forms.f2];
  defPick(op, OpF.ModRM | OpF.NoOpsz | flags, name, (i) => {
    const f = table[i.pfx];
    return f === undefined ? undefined : f(i);
  });
}

/** Register/memory handler pair chosen at decode time. */
export function rm(r: Handler, m: Handler): (i: Instr) => Handler {
  return (i) => (i.mod === 3 ? r : m);
}

/** Only the register form exists. */
export function regOnly(h: Handler): (i: Instr) => Handler | undefined {
  return (i) => (i.mod === 3 ? h : undefined);
}

/** Only the memory form exists. */
export function memOnly(h: Handler): (i: Instr) => Handler | undefined {
  return (i) => (i.mod === 3 ? undefined : h);
}

/** Kernel over A/B: `n` is the number of 32-bit lanes (4 XMM, 2 MMX); imm for Ib forms. */
export type Kernel = (n: number, imm: number) => void;

/** XMM handler: A = xmm[reg], B = source (aligned 128-bit unless `unaligned`), kernel, write back. */
export function xK(k: Kernel, unaligned = false): (i: Instr) => Handler {
  const h: Handler = (c, i) => {
    if (c.ts) throw nmFault();
    loadA(c, i.reg);
    srcX(c, i, !unaligned);
    k(4, i.imm & 0xff);
    storeA(c, i.reg);
  };
  return () => h;
}

/** MMX handler: A = mm[reg], B = mm[rm] or m64. */
export function mK(k: Kernel): (i: Instr) => Handler {
  const h: Handler = (c, i) => {
    if (c.ts) throw nmFault();
    const r = i.reg & 7;
    loadAM(c, r);
    srcM(c, i);
    k(2, i.imm & 0xff);
    mmxEnter(c);
    setMM(c, r, A[0], A[1]);
  };
  return () => h;
}

/** Integer op with both an MMX (no prefix) and an XMM (66) form. */
export function intOp(op: number, name: string, k: Kernel, flags = 0): void {
  sse(op, name, { none: mK(k), p66: xK(k) }, flags);
}

/** Integer op that exists only for XMM (66). */
export function intOpX(op: number, name: string, k: Kernel, flags = 0): void {
  sse(op, name, { p66: xK(k) }, flags);
}

