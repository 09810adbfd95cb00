// SSE/SSE2 floating point: ADD/SUB/MUL/DIV/MIN/MAX/SQRT in PS/SS/PD/SD forms, RCP/RSQRT
// PS/SS, CMPccPS/SS/PD/SD, COMISS/UCOMISS/COMISD/UCOMISD, AND/ANDN/OR/XOR PS/PD.
//
// Every lane first tries the JS double computation. It is taken under round-to-nearest
// when operands and result are finite normal numbers (or exact zeros), where the double
// result is the IEEE result:
// binary64 operations are IEEE in JS, and binary32 + - * / sqrt computed in binary64 and
// rounded once more with Math.fround are correctly rounded (53 >= 2*24+2). Anything else
// (NaN, infinity, denormal, underflow, a flag to raise, another rounding mode) goes to the
// exact bit-pattern implementation in softfloat.ts. NaN lanes never pass through JS numbers.
// PE is detected exactly on the fast path too (see laneMode), or skipped when already set.

import type { Cpu } from '../cpu.js';
import type { Handler, Instr } from '../instr.js';
import { ARITH, CF, PF, ZF, getFlags, setFlags } from '../flags.js';
import { OpF } from '../optable.js';
import {
  A, AF32, AF64, B, BF32, BF64, commitFlags, loadA, nmFault, srcX, srcX32, srcX64, sse, storeA,
} from './sse-common.js';
import {
  F32, F64, MX, Op, Rel, arith, bits32, bits64, compare, env, hi32, lo32, minmax, setEnv, sqrt,
} from './softfloat.js';
import { andX, andnX, orX, xorX } from './sse-int.js';

const MIN32 = 1.1754943508222875e-38;
const MAX32 = 3.4028234663852886e38;
const MIN64 = 2.2250738585072014e-308;
const MAX64 = Number.MAX_VALUE;

function norm32(x: number): boolean {
  const ax = Math.abs(x);
  return ax >= MIN32 && ax <= MAX32;
}
function norm64(x: number): boolean {
  const ax = Math.abs(x);
  return ax >= MIN64 && ax <= MAX64;
}

// ---- lane computations: destination lane of A with source lane of B ----
//
// Lane mode: 0 = exact slow path only (directed rounding), 1 = JS doubles with no flag
// bookkeeping (PE already set and masked), 2 = JS doubles that also detect inexactness for
// PE, exactly: error-free transformations (TwoSum, Dekker's TwoProduct) tell whether the
// rounded result equals the exact one. Programs whose arithmetic stays exact (integers in
// floats) never set PE, so mode 2 must be as cheap as possible, not a trip to BigInt.

/** MXCSR to lane mode. */
function laneMode(m: number): number {
  if (m & 0x6000) return 0; // RC other than nearest
  return (m & 0x1020) === 0x1020 ? 1 : 2;
}

/** Rounding error of s = a + b (exact for finite values: TwoSum). */
function sumErr(a: number, b: number, s: number): number {
  const bb = s - a;
  return a - (s - bb) + (b - bb);
}

const SPLIT = 134217729; // 2^27 + 1
/** Rounding error of p = a * b (Dekker; exact while no factor is near overflow or underflow). */
function prodErr(a: number, b: number, p: number): number {
  let t = SPLIT * a;
  const ah = t - (t - a), al = a - ah;
  t = SPLIT * b;
  const bh = t - (t - b), bl = b - bh;
  return ah * bh - p + ah * bl + al * bh + al * bl;
}

/** |x| within the range where prodErr is exact. */
function safe(x: number): boolean {
  const ax = Math.abs(x);
  return ax >= 1.0440148589238162e-289 && ax <= 3.2e299; // 2^-960 .. ~2^994
}

/** Binary op on binary32 lane k. */
function lane32(op: Op, k: number, mode: number, m: number): void {
  if (mode !== 0) {
    const a = AF32[k], b = BF32[k];
    if ((a === 0 || norm32(a)) && (b === 0 || norm32(b))) {
      let r: number, ok: boolean, exact = true;
      switch (op) {
        case Op.Add:
        case Op.Sub: {
          const bs = op === Op.Add ? b : -b;
          const d = a + bs;
          r = Math.fround(d);
          ok = r === 0 || norm32(r);
          if (mode === 2) exact = r === d && sumErr(a, bs, d) === 0;
          break;
        }
        case Op.Mul: {
          const d = a * b; // exact: 24 x 24 bits
          r = Math.fround(d);
          ok = norm32(r) || (r === 0 && (a === 0 || b === 0));
          exact = r === d;
          break;
        }
        default:
          r = Math.fround(a / b);
          ok = norm32(r) || (r === 0 && a === 0 && b !== 0);
          exact = r * b === a; // r * b is exact: 24 x 24 bits
          break;
      }
      if (ok) {
        if (!exact) env.fx |= MX.PE;
        AF32[k] = r;
        return;
      }
    }
  }
  setEnv(m);
  A[k] = Number(arith(op, bits32(A[k]), bits32(B[k]), F32)) | 0;
}

/** Binary op on binary64 lane q (int32 lanes 2q, 2q+1). */
function lane64(op: Op, q: number, mode: number, m: number): void {
  if (mode !== 0) {
    const a = AF64[q], b = BF64[q];
    if ((a === 0 || norm64(a)) && (b === 0 || norm64(b))) {
      let r: number, ok: boolean, exact = true;
      switch (op) {
        case Op.Add: r = a + b; ok = r === 0 || norm64(r); if (mode === 2) exact = sumErr(a, b, r) === 0; break;
        case Op.Sub: r = a - b; ok = r === 0 || norm64(r); if (mode === 2) exact = sumErr(a, -b, r) === 0; break;
        case Op.Mul:
          r = a * b;
          ok = norm64(r) || (r === 0 && (a === 0 || b === 0));
          if (mode === 2 && r !== 0) {
            if (!(safe(a) && safe(b) && safe(r))) ok = false;
            else exact = prodErr(a, b, r) === 0;
          }
          break;
        default:
          r = a / b;
          ok = norm64(r) || (r === 0 && a === 0 && b !== 0);
          if (mode === 2 && r !== 0) {
            // exact iff r * b == a with no rounding error
            if (!(safe(a) && safe(b) && safe(r))) ok = false;
            else exact = r * b === a && prodErr(r, b, a) === 0;
          }
          break;
      }
      if (ok) {
        if (!exact) env.fx |= MX.PE;
        AF64[q] = r;
        return;
      }
    }
  }
  setEnv(m);
  const r = arith(op, bits64(A[2 * q], A[2 * q + 1]), bits64(B[2 * q], B[2 * q + 1]), F64);
  A[2 * q] = lo32(r);
  A[2 * q + 1] = hi32(r);
}

function sqrt32(k: number, mode: number, m: number): void {
  if (mode !== 0) {
    const b = BF32[k];
    if (b === 0 || (b > 0 && norm32(b))) {
      const r = Math.fround(Math.sqrt(b));
      if (r * r !== b) env.fx |= MX.PE; // r * r is exact in a double
      AF32[k] = r;
      return;
    }
  }
  setEnv(m);
  A[k] = Number(sqrt(bits32(B[k]), F32)) | 0;
}

function sqrt64(q: number, mode: number, m: number): void {
  if (mode !== 0) {
    const b = BF64[q];
    if (b === 0 || (b > 0 && norm64(b) && (mode === 1 || safe(b)))) {
      const r = Math.sqrt(b);
      if (mode === 2 && r !== 0 && !(r * r === b && prodErr(r, r, b) === 0)) env.fx |= MX.PE;
      AF64[q] = r;
      return;
    }
  }
  setEnv(m);
  const r = sqrt(bits64(B[2 * q], B[2 * q + 1]), F64);
  A[2 * q] = lo32(r);
  A[2 * q + 1] = hi32(r);
}

/** MIN/MAX raise only IE (NaN) and DE (denormal): plain values need no MXCSR state at all. */
function minmax32(max: boolean, k: number, m: number): void {
  const a = AF32[k], b = BF32[k];
  const aa = Math.abs(a), ab = Math.abs(b);
  if ((aa >= MIN32 || a === 0) && (ab >= MIN32 || b === 0)) {
    // Bit copies: the winner keeps its exact pattern (-0 included); ties go to the source.
    if (max ? !(a > b) : !(a < b)) A[k] = B[k];
    return;
  }
  setEnv(m);
  A[k] = Number(minmax(bits32(A[k]), bits32(B[k]), F32, max)) | 0;
}

function minmax64(max: boolean, q: number, m: number): void {
  const a = AF64[q], b = BF64[q];
  const aa = Math.abs(a), ab = Math.abs(b);
  if ((aa >= MIN64 || a === 0) && (ab >= MIN64 || b === 0)) {
    if (max ? !(a > b) : !(a < b)) {
      A[2 * q] = B[2 * q];
      A[2 * q + 1] = B[2 * q + 1];
    }
    return;
  }
  setEnv(m);
  const r = minmax(bits64(A[2 * q], A[2 * q + 1]), bits64(B[2 * q], B[2 * q + 1]), F64, max);
  A[2 * q] = lo32(r);
  A[2 * q + 1] = hi32(r);
}

// ---- handlers ----

/** Op values first (the same numbers as softfloat's Op), then the non-rounding kinds. */
const enum K {
  Add = 0,
  Sub = 1,
  Mul = 2,
  Div = 3,
  Min = 4,
  Max = 5,
  Sqrt = 6,
}

const enum Shape {
  PS,
  SS,
  PD,
  SD,
}

function compute(kind: K, shape: Shape, m: number): void {
  const fast = laneMode(m);
  const lanes = shape === Shape.PS ? 4 : shape === Shape.PD ? 2 : 1;
  const single = shape === Shape.PS || shape === Shape.SS;
  for (let k = 0; k < lanes; k++) {
    switch (kind) {
      case K.Min:
      case K.Max:
        if (single) minmax32(kind === K.Max, k, m);
        else minmax64(kind === K.Max, k, m);
        break;
      case K.Sqrt:
        if (single) sqrt32(k, fast, m);
        else sqrt64(k, fast, m);
        break;
      default:
        if (single) lane32(kind as number as Op, k, fast, m);
        else lane64(kind as number as Op, k, fast, m);
    }
  }
}

function fpOp(kind: K, shape: Shape): Handler {
  return (c: Cpu, i: Instr): void => {
    if (c.ts) throw nmFault();
    loadA(c, i.reg);
    if (shape === Shape.SS) srcX32(c, i);
    else if (shape === Shape.SD) srcX64(c, i);
    else srcX(c, i, true);
    env.fx = 0;
    compute(kind, shape, c.mxcsr);
    if (env.fx !== 0) commitFlags(c, env.fx);
    storeA(c, i.reg);
  };
}

function fpFamily(op: number, name: string, kind: K): void {
  const ps = fpOp(kind, Shape.PS), ss = fpOp(kind, Shape.SS), pd = fpOp(kind, Shape.PD), sd = fpOp(kind, Shape.SD);
  sse(op, name, { none: () => ps, f3: () => ss, p66: () => pd, f2: () => sd });
}

fpFamily(0x158, 'addps', K.Add);
fpFamily(0x159, 'mulps', K.Mul);
fpFamily(0x15c, 'subps', K.Sub);
fpFamily(0x15d, 'minps', K.Min);
fpFamily(0x15e, 'divps', K.Div);
fpFamily(0x15f, 'maxps', K.Max);
fpFamily(0x151, 'sqrtps', K.Sqrt);

// ---- RCPPS / RSQRTPS (0F 53 / 0F 52) ----
// No MXCSR effects (SDM: "not affected by the rounding control ... no exceptions"). Denormal
// inputs count as zero; tiny results flush to zero. The value returned is the correctly
// rounded reciprocal, well inside the documented 1.5*2^-12 relative error (Intel's and AMD's
// tables give different approximations; none is architectural).

const RC32 = new Float32Array(1);
const RC32I = new Int32Array(RC32.buffer);

function approx(v: number, rsqrt: boolean): number {
  const e = (v >>> 23) & 0xff, f = v & 0x7fffff, neg = v < 0;
  if (e === 0xff) {
    if (f !== 0) return v | 0x400000; // NaN: quieted, payload kept
    if (rsqrt) return neg ? (0xffc00000 | 0) : 0; // rsqrt(-inf) is invalid; rsqrt(+inf) = +0
    return neg ? (0x80000000 | 0) : 0;
  }
  if (e === 0) return (neg ? 0xff800000 : 0x7f800000) | 0; // zero or denormal: signed infinity
  if (rsqrt && neg) return 0xffc00000 | 0;
  RC32I[0] = v;
  const x = RC32[0];
  const r = rsqrt ? 1 / Math.sqrt(x) : 1 / x;
  if (Math.abs(r) < MIN32) return neg ? (0x80000000 | 0) : 0;
  RC32[0] = r;
  return RC32I[0];
}
function approxPS(rsqrt: boolean, lanes: number): Handler {
  return (c: Cpu, i: Instr): void => {
    if (c.ts) throw nmFault();
    loadA(c, i.reg);
    if (lanes === 1) srcX32(c, i);
    else srcX(c, i, true);
    for (let k = 0; k < lanes; k++) A[k] = approx(B[k], rsqrt);
    storeA(c, i.reg);
  };
}
{
  const rs = approxPS(true, 4), rss = approxPS(true, 1), rc = approxPS(false, 4), rcs = approxPS(false, 1);
  sse(0x152, 'rsqrtps', { none: () => rs, f3: () => rss });
  sse(0x153, 'rcpps', { none: () => rc, f3: () => rcs });
}

// ---- logic on packed floats: the same bits as PAND/PANDN/POR/PXOR ----
sse(0x154, 'andps', { none: andX, p66: andX });
sse(0x155, 'andnps', { none: andnX, p66: andnX });
sse(0x156, 'orps', { none: orX, p66: orX });
sse(0x157, 'xorps', { none: xorX, p66: xorX });

// ---- CMPccPS/SS/PD/SD (0F C2 ib) ----
// Predicates 0-7: EQ LT LE UNORD NEQ NLT NLE ORD. LT/LE/NLT/NLE signal IE on QNaN operands
// too; the others only on SNaN (SDM CMPPS, table "comparison predicates").

function predicate(p: number, r: Rel): boolean {
  switch (p) {
    case 0: return r === Rel.Equal;
    case 1: return r === Rel.Less;
    case 2: return r === Rel.Less || r === Rel.Equal;
    case 3: return r === Rel.Unordered;
    case 4: return r !== Rel.Equal;
    case 5: return r !== Rel.Less;
    case 6: return !(r === Rel.Less || r === Rel.Equal);
    default: return r !== Rel.Unordered;
  }
}

function relOf(a: number, b: number): Rel {
  return a < b ? Rel.Less : a > b ? Rel.Greater : a === b ? Rel.Equal : Rel.Unordered;
}

function cmpLane32(p: number, k: number, m: number): void {
  const a = AF32[k], b = BF32[k];
  const aa = Math.abs(a), ab = Math.abs(b);
  let r: Rel;
  if ((aa >= MIN32 || a === 0) && (ab >= MIN32 || b === 0)) r = relOf(a, b);
  else {
    setEnv(m);
    r = compare(bits32(A[k]), bits32(B[k]), F32, p === 1 || p === 2 || p === 5 || p === 6);
  }
  A[k] = predicate(p, r) ? -1 : 0;
}

function cmpLane64(p: number, q: number, m: number): void {
  const a = AF64[q], b = BF64[q];
  const aa = Math.abs(a), ab = Math.abs(b);
  let r: Rel;
  if ((aa >= MIN64 || a === 0) && (ab >= MIN64 || b === 0)) r = relOf(a, b);
  else {
    setEnv(m);
    r = compare(bits64(A[2 * q], A[2 * q + 1]), bits64(B[2 * q], B[2 * q + 1]), F64, p === 1 || p === 2 || p === 5 || p === 6);
  }
  const v = predicate(p, r) ? -1 : 0;
  A[2 * q] = v;
  A[2 * q + 1] = v;
}

function cmpOp(shape: Shape): Handler {
  return (c: Cpu, i: Instr): void => {
    if (c.ts) throw nmFault();
    loadA(c, i.reg);
    if (shape === Shape.SS) srcX32(c, i);
    else if (shape === Shape.SD) srcX64(c, i);
    else srcX(c, i, true);
    const p = i.imm & 7, m = c.mxcsr;
    env.fx = 0;
    if (shape === Shape.PS) for (let k = 0; k < 4; k++) cmpLane32(p, k, m);
    else if (shape === Shape.SS) cmpLane32(p, 0, m);
    else if (shape === Shape.PD) { cmpLane64(p, 0, m); cmpLane64(p, 1, m); }
    else cmpLane64(p, 0, m);
    if (env.fx !== 0) commitFlags(c, env.fx);
    storeA(c, i.reg);
  };
}
{
  const ps = cmpOp(Shape.PS), ss = cmpOp(Shape.SS), pd = cmpOp(Shape.PD), sd = cmpOp(Shape.SD);
  sse(0x1c2, 'cmpps', { none: () => ps, f3: () => ss, p66: () => pd, f2: () => sd }, OpF.Ib);
}

// ---- COMISS / UCOMISS / COMISD / UCOMISD ----
// ZF PF CF = 111 unordered, 000 greater, 001 less, 100 equal; OF SF AF cleared (SDM COMISS).

function comi(double: boolean, signalQNaN: boolean): Handler {
  return (c: Cpu, i: Instr): void => {
    if (c.ts) throw nmFault();
    const x = c.xmm, d = i.reg << 2;
    let r: Rel;
    env.fx = 0;
    if (double) {
      srcX64(c, i);
      A[0] = x[d]; A[1] = x[d + 1];
      const a = AF64[0], b = BF64[0];
      if ((Math.abs(a) >= MIN64 || a === 0) && (Math.abs(b) >= MIN64 || b === 0)) r = relOf(a, b);
      else {
        setEnv(c.mxcsr);
        r = compare(bits64(A[0], A[1]), bits64(B[0], B[1]), F64, signalQNaN);
      }
    } else {
      srcX32(c, i);
      A[0] = x[d];
      const a = AF32[0], b = BF32[0];
      if ((Math.abs(a) >= MIN32 || a === 0) && (Math.abs(b) >= MIN32 || b === 0)) r = relOf(a, b);
      else {
        setEnv(c.mxcsr);
        r = compare(bits32(A[0]), bits32(B[0]), F32, signalQNaN);
      }
    }
    if (env.fx !== 0) commitFlags(c, env.fx);
    const f = r === Rel.Unordered ? ZF | PF | CF : r === Rel.Less ? CF : r === Rel.Equal ? ZF : 0;
    setFlags(c, (getFlags(c) & ~ARITH) | f);
  };
}
{
  const ucomiss = comi(false, false), comiss = comi(false, true), ucomisd = comi(true, false), comisd = comi(true, true);
  sse(0x12e, 'ucomiss', { none: () => ucomiss, p66: () => ucomisd });
  sse(0x12f, 'comiss', { none: () => comiss, p66: () => comisd });
}
