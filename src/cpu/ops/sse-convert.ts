// SSE/SSE2 conversions: CVTSI2SS/SD (32/64), CVT(T)SS2SI/CVT(T)SD2SI (32/64), CVTSS2SD/
// CVTSD2SS, CVTPS2PD/CVTPD2PS, CVTDQ2PS/CVT(T)PS2DQ, CVTDQ2PD/CVT(T)PD2DQ and the MMX forms
// CVTPI2PS/CVTPI2PD/CVT(T)PS2PI/CVT(T)PD2PI.
//
// Rounding follows MXCSR.RC (the CVTT forms truncate); NaN and out-of-range float-to-integer
// results are the "integer indefinite" 0x80000000 / 0x8000000000000000 with IE; inexact
// results raise PE. Values that are exact in doubles, and 64-bit integers under round-to-
// nearest, are converted with doubles; denormal inputs, float32 results that are tiny or
// overflow, and directed rounding of inexact results go through softfloat.ts (BigInt).

import { TWO32 } from '../u64.js';
import type { Cpu } from '../cpu.js';
import type { Handler, Instr } from '../instr.js';
import { ea, setReg } from './operands.js';
import { neg64, wideHi } from './int64.js';
import {
  A, AF32, AF64, B, BF32, BF64, commitFlags, loadA, mmxEnter, nmFault, setMM, srcM, srcX, srcX32,
  srcX64, sse, storeA,
} from './sse-common.js';
import {
  F32, F64, MX, RC, type Fmt, bits32, bits64, convert, env, fromInt, hi32, lo32, setEnv, toInt,
} from './softfloat.js';

const MIN32 = 1.1754943508222875e-38;
const MAX32 = 3.4028234663852886e38;
const MIN64 = 2.2250738585072014e-308;
const TWO63 = 9223372036854775808;

// ---- float -> integer ----

let oLo = 0, oHi = 0;

/** Round an integral-or-not finite double to an integer under rc (RC.Nearest: ties to even). */
function roundRC(x: number, rc: number): number {
  switch (rc) {
    case RC.Nearest: {
      if (Math.abs(x) >= 4503599627370496) return x;
      const f = Math.floor(x), d = x - f;
      if (d < 0.5) return f;
      if (d > 0.5) return f + 1;
      return f % 2 === 0 ? f : f + 1;
    }
    case RC.Down: return Math.floor(x);
    case RC.Up: return Math.ceil(x);
    default: return Math.trunc(x);
  }
}

/**
 * Convert the float lane (a value read through a Float32/Float64 view, or its bits for the
 * slow path) to a `bits`-bit integer in oLo/oHi; flags into env.fx.
 */
function f2i(x: number, bitsLo: number, bitsHi: number, F: Fmt, bits: number, truncate: boolean, m: number): void {
  const ax = Math.abs(x);
  if (x !== 0 && ax < (F === F32 ? MIN32 : MIN64)) {
    // Denormal: DAZ decides between an exact 0 and a rounded tiny value.
    setEnv(m);
    const v = toInt(F === F32 ? bits32(bitsLo) : bits64(bitsLo, bitsHi), F, bits, truncate);
    oLo = lo32(BigInt.asUintN(64, v));
    oHi = bits === 64 ? hi32(BigInt.asUintN(64, v)) : 0;
    return;
  }
  if (x !== x || ax === Infinity) {
    indefinite(bits);
    return;
  }
  const t = roundRC(x, truncate ? RC.Zero : (m >> 13) & 3);
  if (bits === 32 ? t < -2147483648 || t > 2147483647 : t < -TWO63 || t >= TWO63) {
    indefinite(bits);
    return;
  }
  if (t !== x) env.fx |= MX.PE;
  oLo = t | 0;
  oHi = bits === 64 ? Math.floor(t / TWO32) | 0 : 0;
}

function indefinite(bits: number): void {
  env.fx |= MX.IE;
  if (bits === 32) {
    oLo = 0x80000000 | 0;
    oHi = 0;
  } else {
    oLo = 0;
    oHi = 0x80000000 | 0;
  }
}

/** CVT(T)SS2SI / CVT(T)SD2SI r32/r64, xmm/m32|m64. */
function cvtToGpr(double: boolean, truncate: boolean): (i: Instr) => Handler {
  const h = (c: Cpu, i: Instr): void => {
    if (c.ts) throw nmFault();
    env.fx = 0;
    const bits = i.opsz === 8 ? 64 : 32;
    if (double) {
      srcX64(c, i);
      f2i(BF64[0], B[0], B[1], F64, bits, truncate, c.mxcsr);
    } else {
      srcX32(c, i);
      f2i(BF32[0], B[0], 0, F32, bits, truncate, c.mxcsr);
    }
    if (env.fx !== 0) commitFlags(c, env.fx);
    setReg(c, i.reg, bits === 64 ? 8 : 4, oLo, oHi);
  };
  return () => h;
}

// ---- integer -> float ----

/** Signed integer value v (exact double, |v| < 2^53) to lane k of A as binary32 or binary64. */
function i2f(v: number, F: Fmt, k: number, m: number): void {
  if (F === F64) {
    // Exact whenever |v| < 2^53.
    AF64[k] = v;
    return;
  }
  const r = Math.fround(v);
  if (r === v) {
    AF32[k] = r;
  } else if (((m >> 13) & 3) === RC.Nearest) {
    env.fx |= MX.PE;
    AF32[k] = r;
  } else {
    setEnv(m);
    A[k] = Number(fromInt(BigInt(v), F32)) | 0;
  }
}

/**
 * A 64-bit integer (lo, hi halves) to lane k. Beyond 2^53 under round-to-nearest (the MXCSR
 * default) doubles still do it; only directed rounding goes through softfloat (BigInt).
 */
function i64f(lo: number, hi: number, F: Fmt, k: number, m: number): void {
  if (hi >= -0x200000 && hi < 0x200000) {
    i2f(hi * TWO32 + (lo >>> 0), F, k, m);
    return;
  }
  if (((m >> 13) & 3) === RC.Nearest) {
    if (F === F64) {
      // hi * 2^32 is exact, so the sum is the one correctly rounded (ties-to-even) double.
      const r = hi * TWO32 + (lo >>> 0);
      const rH = Math.floor(r / TWO32); // r is an integer: its halves are exact
      if (rH !== hi || r - rH * TWO32 !== lo >>> 0) env.fx |= MX.PE;
      AF64[k] = r;
      return;
    }
    // float32: the magnitude cut to 53 bits with a sticky lowest bit for the 11 dropped ones
    // (round to odd) is exact as a double and rounds to 24 bits exactly as the full value does.
    const neg = hi < 0;
    const mL = neg ? neg64(lo, hi) : lo, mH = neg ? wideHi : hi;
    const sticky = (mL & 0x7ff) !== 0 ? 1 : 0;
    const t = ((mH >>> 0) * 2097152 + ((mL >>> 11) | sticky)) * 2048;
    const r = Math.fround(t);
    if (sticky !== 0 || r !== t) env.fx |= MX.PE;
    AF32[k] = neg ? -r : r;
    return;
  }
  setEnv(m);
  const r = fromInt(BigInt.asIntN(64, bits64(lo, hi)), F);
  if (F === F32) A[k] = Number(r) | 0;
  else {
    A[2 * k] = lo32(r);
    A[2 * k + 1] = hi32(r);
  }
}

/** CVTSI2SS / CVTSI2SD xmm, r/m32|r/m64. */
function cvtFromGpr(F: Fmt): (i: Instr) => Handler {
  const h = (c: Cpu, i: Instr): void => {
    if (c.ts) throw nmFault();
    let lo: number, hi: number;
    if (i.mod === 3) {
      lo = c.lo[i.rm];
      hi = i.opsz === 8 ? c.hi[i.rm] : lo >> 31;
    } else if (i.opsz === 8) {
      lo = c.m.rd64(ea(c, i));
      hi = c.m.hi;
    } else {
      lo = c.m.rd32(ea(c, i));
      hi = lo >> 31;
    }
    loadA(c, i.reg);
    env.fx = 0;
    i64f(lo, hi, F, 0, c.mxcsr);
    if (env.fx !== 0) commitFlags(c, env.fx);
    storeA(c, i.reg);
  };
  return () => h;
}

// ---- float <-> float ----

/** Lane k of B (binary32) to lane k of A (binary64): exact unless NaN or denormal. */
function s2d(kSrc: number, kDst: number, m: number): void {
  const v = BF32[kSrc], av = Math.abs(v);
  if (av >= MIN32 || v === 0) {
    AF64[kDst] = v; // NaN fails both tests: it takes the bit-exact path below
    return;
  }
  setEnv(m);
  const r = convert(bits32(B[kSrc]), F32, F64);
  A[2 * kDst] = lo32(r);
  A[2 * kDst + 1] = hi32(r);
}

/** Binary64 lane q of B to binary32 lane k of A. */
function d2s(q: number, k: number, m: number): void {
  const v = BF64[q], av = Math.abs(v);
  if ((av >= MIN64 && av <= Number.MAX_VALUE) || v === 0) {
    const r = Math.fround(v), ar = Math.abs(r);
    if ((ar >= MIN32 && ar <= MAX32) || v === 0) {
      if (r === v) {
        AF32[k] = r;
        return;
      }
      if (((m >> 13) & 3) === RC.Nearest) {
        env.fx |= MX.PE;
        AF32[k] = r;
        return;
      }
    }
  }
  setEnv(m);
  A[k] = Number(convert(bits64(B[2 * q], B[2 * q + 1]), F64, F32)) | 0;
}

function fpConv(body: (c: Cpu, m: number) => void, load: (c: Cpu, i: Instr) => void): (i: Instr) => Handler {
  const h = (c: Cpu, i: Instr): void => {
    if (c.ts) throw nmFault();
    loadA(c, i.reg);
    load(c, i);
    env.fx = 0;
    body(c, c.mxcsr);
    if (env.fx !== 0) commitFlags(c, env.fx);
    storeA(c, i.reg);
  };
  return () => h;
}
const load128 = (c: Cpu, i: Instr): void => srcX(c, i, true);

// CVTPS2PD: lanes 0,1 of the source (xmm or m64).
const cvtps2pd = fpConv((_c, m) => {
  s2d(1, 1, m);
  s2d(0, 0, m);
}, srcX64);
// CVTPD2PS: two doubles to lanes 0,1; upper half zeroed.
const cvtpd2ps = fpConv((_c, m) => {
  d2s(0, 0, m);
  d2s(1, 1, m);
  A[2] = 0;
  A[3] = 0;
}, load128);
const cvtss2sd = fpConv((_c, m) => s2d(0, 0, m), srcX32);
const cvtsd2ss = fpConv((_c, m) => d2s(0, 0, m), srcX64);
sse(0x15a, 'cvtps2pd', { none: cvtps2pd, p66: cvtpd2ps, f3: cvtss2sd, f2: cvtsd2ss });

// ---- packed integer <-> float ----

const cvtdq2ps = fpConv((_c, m) => {
  for (let k = 0; k < 4; k++) i2f(B[k], F32, k, m);
}, load128);
function ps2dq(truncate: boolean): (i: Instr) => Handler {
  return fpConv((_c, m) => {
    for (let k = 0; k < 4; k++) {
      f2i(BF32[k], B[k], 0, F32, 32, truncate, m);
      A[k] = oLo;
    }
  }, load128);
}
sse(0x15b, 'cvtdq2ps', { none: cvtdq2ps, p66: ps2dq(false), f3: ps2dq(true) });

function pd2dq(truncate: boolean): (i: Instr) => Handler {
  return fpConv((_c, m) => {
    f2i(BF64[0], B[0], B[1], F64, 32, truncate, m);
    const r0 = oLo;
    f2i(BF64[1], B[2], B[3], F64, 32, truncate, m);
    A[0] = r0;
    A[1] = oLo;
    A[2] = 0;
    A[3] = 0;
  }, load128);
}
const cvtdq2pd = fpConv((_c, m) => {
  const b0 = B[0], b1 = B[1];
  i2f(b1, F64, 1, m);
  i2f(b0, F64, 0, m);
}, srcX64);
sse(0x1e6, 'cvtpd2dq', { p66: pd2dq(true), f3: cvtdq2pd, f2: pd2dq(false) });

sse(0x12a, 'cvtsi2ss', { none: cvtpi2ps(), p66: cvtpi2pd(), f3: cvtFromGpr(F32), f2: cvtFromGpr(F64) });
sse(0x12c, 'cvttss2si', {
  none: cvtToMM(false, true), p66: cvtToMM(true, true), f3: cvtToGpr(false, true), f2: cvtToGpr(true, true),
});
sse(0x12d, 'cvtss2si', {
  none: cvtToMM(false, false), p66: cvtToMM(true, false), f3: cvtToGpr(false, false), f2: cvtToGpr(true, false),
});

// ---- MMX forms ----
// A register MMX source or destination switches the x87 unit to MMX state; CVTPI2PS/PD with
// a memory source do not (SDM CVTPI2PS: "if the source is an MMX register").

function mmxSource(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  if (i.mod === 3) {
    srcM(c, i);
    mmxEnter(c);
  } else {
    B[0] = c.m.rd64(ea(c, i));
    B[1] = c.m.hi;
  }
}

/** CVTPI2PS xmm, mm/m64: lanes 0,1 (upper lanes kept). */
function cvtpi2ps(): (i: Instr) => Handler {
  const h = (c: Cpu, i: Instr): void => {
    mmxSource(c, i);
    loadA(c, i.reg);
    env.fx = 0;
    const m = c.mxcsr;
    i2f(B[0], F32, 0, m);
    i2f(B[1], F32, 1, m);
    if (env.fx !== 0) commitFlags(c, env.fx);
    storeA(c, i.reg);
  };
  return () => h;
}
/** CVTPI2PD xmm, mm/m64 (exact). */
function cvtpi2pd(): (i: Instr) => Handler {
  const h = (c: Cpu, i: Instr): void => {
    mmxSource(c, i);
    const b0 = B[0], b1 = B[1];
    const x = c.xmm, d = i.reg << 2;
    AF64[0] = b0;
    AF64[1] = b1;
    x[d] = A[0]; x[d + 1] = A[1]; x[d + 2] = A[2]; x[d + 3] = A[3];
  };
  return () => h;
}
/** CVT(T)PS2PI mm, xmm/m64 and CVT(T)PD2PI mm, xmm/m128. */
function cvtToMM(double: boolean, truncate: boolean): (i: Instr) => Handler {
  const h = (c: Cpu, i: Instr): void => {
    if (c.ts) throw nmFault();
    env.fx = 0;
    const m = c.mxcsr;
    let r0: number;
    if (double) {
      srcX(c, i, true);
      f2i(BF64[0], B[0], B[1], F64, 32, truncate, m);
      r0 = oLo;
      f2i(BF64[1], B[2], B[3], F64, 32, truncate, m);
    } else {
      srcX64(c, i);
      f2i(BF32[0], B[0], 0, F32, 32, truncate, m);
      r0 = oLo;
      f2i(BF32[1], B[1], 0, F32, 32, truncate, m);
    }
    // The host switches to MMX state even when the conversion then raises #XM.
    mmxEnter(c);
    if (env.fx !== 0) commitFlags(c, env.fx);
    setMM(c, i.reg & 7, r0, oLo);
  };
  return () => h;
}
