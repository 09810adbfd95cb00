// The x87 FPU (D8-DF, 9B), as far as glibc, gcc's long double code and busybox need it.
//
// PRECISION: register values are JS doubles (c.st), not 80-bit extended numbers. Arithmetic
// therefore rounds to 53 bits with the binary64 exponent range, as if FCW.PC selected double
// precision; FCW.PC is otherwise ignored, and PE/OE/UE are raised only where the double
// computation shows them (conversions to memory and integers, FRNDINT). Register images are
// kept exact where the data is not computed: FLD m80, FILD m64, FXRSTOR/FRSTOR and NaNs keep
// their 80-bit image in c.fpr (c.fprRaw[k] = 1), so FLD m80 / FSTP m80, FILD / FISTP m64 and
// FXSAVE / FXRSTOR round-trip bit for bit, and stores of such values round exactly once.
// FSCALE, an exact exponent adjustment, also works on the image: its results (extended
// denormals, values beyond the double range) and its OE/UE/PE/C1 are exact.
// FIP/FDP/FOP are not tracked (stored as zero). FBLD/FBSTP are not implemented (they fail
// loudly as unimplemented instructions).
//
// Stack faults (push onto a full register, use of an empty one) raise IE|SF and, masked,
// produce the QNaN indefinite, as the SDM describes (8.5.1.1). An exception flag whose
// FCW mask is clear is pending: the next waiting x87 instruction raises #MF (vector 16).
// FSW.ES and FSW.B are not stored: fswValue() derives them from the flags and masks.

import type { Cpu } from '../cpu.js';
import { CpuFault, Vector } from '../fault.js';
import { ARITH, CF, PF, ZF, cond, getFlags, setFlags } from '../flags.js';
import type { Handler, Instr } from '../instr.js';
import { OpF, def, defPick } from '../optable.js';
import { ea } from './operands.js';
import { nmFault } from './sse-common.js';
import { X80, classify80, f64ToFp80, fp80ToF64 } from './fp80.js';
import { bit64, lowBits64, neg64, shl64, shr64, wideHi } from './int64.js';
import { F32, F64, MX, Op, RC, Fmt, arith as sfArith, env, roundPack, setEnv, sqrt as sfSqrt } from './softfloat.js';
import { fswValue } from './fxsave.js';
import { join64, hi32 } from '../u64.js';

// FSW bits.
const IE = 0x1, DE = 0x2, ZE = 0x4, OE = 0x8, UE = 0x10, PE = 0x20, SF = 0x40;
const C0 = 0x100, C1 = 0x200, C2 = 0x400, C3 = 0x4000;
const CC = C0 | C1 | C2 | C3;

// ---- scratch ----
const SV = new DataView(new ArrayBuffer(16));
/** Result image of NaN selection. */
const IMG = new Int32Array(3);
/** Image of a NaN memory operand (loadMem) or of the second register operand. */
const IMG2 = new Int32Array(3);
/** Image of the first (ST0) operand. */
const IA = new Int32Array(3);
/** The QNaN indefinite: sign 1, exponent all ones, mantissa C000000000000000. */
const IND_LO = 0, IND_HI = 0xc0000000 | 0, IND_SE = 0xffff;

function mfFault(): CpuFault {
  return new CpuFault(Vector.MF, 0, 0, 'x87 floating-point error (unmasked exception pending)');
}

/** Every waiting x87 instruction: #NM under CR0.TS, #MF with an unmasked exception pending. */
function enter(c: Cpu): void {
  if (c.ts) throw nmFault();
  if (c.fsw & ~c.fcw & 0x3f) throw mfFault();
  aborted = false;
}

/**
 * Set when the current instruction raised an unmasked IE, DE or ZE: it then completes
 * without popping (the host leaves TOP alone), and its destination is left unchanged.
 */
let aborted = false;

/** Raise exception flags (an unmasked one is then pending for the next waiting insn). */
function raise(c: Cpu, fx: number): void {
  c.fsw |= fx;
  if (fx & ~c.fcw & (IE | DE | ZE)) aborted = true;
}

/** Pop after an operation, unless an unmasked exception stopped it. */
function popOk(c: Cpu): void {
  if (!aborted) pop(c);
}

function masked(c: Cpu, fx: number): boolean {
  return (c.fcw & fx) === fx;
}

function phys(c: Cpu, i: number): number {
  return (c.fpuTop + i) & 7;
}

function empty(c: Cpu, p: number): boolean {
  return ((c.ftw >> (2 * p)) & 3) === 3;
}

function setTag(c: Cpu, p: number, valid: boolean): void {
  if (valid) c.ftw &= ~(3 << (2 * p));
  else c.ftw |= 3 << (2 * p);
}

/** Write a plain (non-NaN) double to physical register p. */
function put(c: Cpu, p: number, v: number): void {
  c.st[p] = v;
  c.fprRaw[p] = 0;
}

/** Write an exact image to physical register p. */
function putImg(c: Cpu, p: number, lo: number, hi: number, se: number): void {
  const o = p << 2;
  c.fpr[o] = lo;
  c.fpr[o + 1] = hi;
  c.fpr[o + 2] = se & 0xffff;
  c.fprRaw[p] = 1;
  c.st[p] = fp80ToF64(lo, hi, se);
}

/** The masked response to an invalid operation: the indefinite, and the register in use. */
function putIndefinite(c: Cpu, p: number): void {
  setTag(c, p, true);
  putImg(c, p, IND_LO, IND_HI, IND_SE);
}

/** A result value: NaN from an invalid operation becomes the indefinite with IE. */
function putResult(c: Cpu, p: number, v: number): void {
  if (v !== v) {
    raise(c, IE);
    if (masked(c, IE)) putIndefinite(c, p);
    return;
  }
  put(c, p, v);
}

/** Image of physical register p into out (exact). */
function imgOf(c: Cpu, p: number, out: Int32Array): void {
  if (c.fprRaw[p]) {
    const o = p << 2;
    out[0] = c.fpr[o];
    out[1] = c.fpr[o + 1];
    out[2] = c.fpr[o + 2];
  } else f64ToFp80(c.st[p], out, 0);
}

function copyReg(c: Cpu, from: number, to: number): void {
  c.st[to] = c.st[from];
  c.fprRaw[to] = c.fprRaw[from];
  if (c.fprRaw[from]) {
    c.fpr[to << 2] = c.fpr[from << 2];
    c.fpr[(to << 2) + 1] = c.fpr[(from << 2) + 1];
    c.fpr[(to << 2) + 2] = c.fpr[(from << 2) + 2];
  }
}

// ---- stack ----

/** Stack underflow (an empty register used): IE|SF, C1 = 0. Returns true when masked. */
function underflow(c: Cpu): boolean {
  c.fsw &= ~C1;
  raise(c, IE | SF);
  return masked(c, IE);
}

/**
 * Make room for a push: returns the new top's physical register, or -1 when the stack
 * overflowed with IE unmasked (nothing changes then). A masked overflow pushes the
 * indefinite (the caller sees -2).
 */
function pushSlot(c: Cpu): number {
  const p = (c.fpuTop - 1) & 7;
  if (!empty(c, p)) {
    c.fsw |= C1;
    raise(c, IE | SF);
    if (!masked(c, IE)) return -1;
    c.fpuTop = p;
    putIndefinite(c, p);
    return -2;
  }
  c.fpuTop = p;
  setTag(c, p, true);
  c.fsw &= ~C1;
  return p;
}

function push(c: Cpu, v: number): void {
  const p = pushSlot(c);
  if (p >= 0) putResult(c, p, v);
}

function pushImg(c: Cpu, lo: number, hi: number, se: number): void {
  const p = pushSlot(c);
  if (p >= 0) putImg(c, p, lo, hi, se);
}

function pop(c: Cpu): void {
  setTag(c, c.fpuTop, false);
  c.fpuTop = (c.fpuTop + 1) & 7;
}

// ---- memory operands ----

const enum MemT {
  F32,
  F64,
  I16,
  I32,
  I64,
}

/** Operand from memory as a double; NaN operands leave their image in IMG2; sets `memFx`. */
let memFx = 0;
let memNaN = false;
function loadMem(c: Cpu, a: number, t: MemT): number {
  memFx = 0;
  memNaN = false;
  switch (t) {
    case MemT.F32: {
      const b = c.m.rd32(a);
      const e = (b >>> 23) & 0xff, f = b & 0x7fffff;
      if (e === 0xff && f !== 0) {
        memNaN = true;
        if (!(f & 0x400000)) memFx |= IE;
        IMG2[0] = 0;
        IMG2[1] = (0x80000000 | (f << 8)) | 0;
        IMG2[2] = ((b >>> 31) << 15) | 0x7fff;
        return NaN;
      }
      if (e === 0 && f !== 0) memFx |= DE;
      SV.setInt32(0, b, true);
      return SV.getFloat32(0, true);
    }
    case MemT.F64: {
      const lo = c.m.rd64(a), hi = c.m.hi;
      const e = (hi >>> 20) & 0x7ff, fh = hi & 0xfffff;
      if (e === 0x7ff && (fh | lo) !== 0) {
        memNaN = true;
        if (!(fh & 0x80000)) memFx |= IE;
        IMG2[0] = lo << 11;
        IMG2[1] = (0x80000000 | (fh << 11) | (lo >>> 21)) | 0;
        IMG2[2] = ((hi >>> 31) << 15) | 0x7fff;
        return NaN;
      }
      if (e === 0 && (fh | lo) !== 0) memFx |= DE;
      SV.setInt32(0, lo, true);
      SV.setInt32(4, hi, true);
      return SV.getFloat64(0, true);
    }
    case MemT.I16: return (c.m.rd16(a) << 16) >> 16;
    case MemT.I32: return c.m.rd32(a);
    default: {
      const lo = c.m.rd64(a);
      return join64(c.m.hi, lo); // rounded once when beyond 2^53
    }
  }
}

// ---- NaN propagation (SDM table 4-7, x87 column) ----

/**
 * Choose the NaN result of an operation with operand images a and b (either may be a
 * non-NaN); IE for SNaN or unsupported operands. Result image in IMG.
 */
function nanPick(a: Int32Array, aNaN: boolean, b: Int32Array, bNaN: boolean): number {
  const ca = aNaN ? classify80(a[0], a[1], a[2]) : X80.Normal;
  const cb = bNaN ? classify80(b[0], b[1], b[2]) : X80.Normal;
  let fx = 0;
  if (ca === X80.Unsupported || cb === X80.Unsupported) {
    IMG[0] = IND_LO; IMG[1] = IND_HI; IMG[2] = IND_SE;
    return IE;
  }
  if (ca === X80.SNaN || cb === X80.SNaN) fx = IE;
  let pickA: boolean;
  if (!bNaN || cb === X80.Inf) pickA = true;
  else if (!aNaN || ca === X80.Inf) pickA = false;
  else if (ca !== cb) pickA = ca === X80.QNaN;
  else {
    // larger significand wins; ties keep the first operand
    const ah = a[1] >>> 0, bh = b[1] >>> 0;
    pickA = ah > bh || (ah === bh && a[0] >>> 0 >= b[0] >>> 0);
  }
  const s = pickA ? a : b;
  IMG[0] = s[0]; IMG[1] = s[1] | 0x40000000; IMG[2] = s[2];
  return fx;
}

// ---- arithmetic ----

const enum AOp {
  Add = 0,
  Mul = 1,
  Com = 2,
  Comp = 3,
  Sub = 4,
  Subr = 5,
  Div = 6,
  Divr = 7,
}

function compute(op: number, a: number, b: number): number {
  switch (op) {
    case AOp.Add: return a + b;
    case AOp.Mul: return a * b;
    case AOp.Sub: return a - b;
    case AOp.Subr: return b - a;
    case AOp.Div: return a / b;
    default: return b / a;
  }
}

/**
 * dest = ST0 op src for arithmetic kinds (Add, Mul, Sub, Subr, Div, Divr); `a` is the
 * ST0 side, `b` the other operand (its image in bImg when bNaN).
 */
function arith(c: Cpu, op: number, dest: number, pa: number, b: number, bImg: Int32Array | null, fx: number): void {
  const a = c.st[pa];
  if (a !== a || b !== b) {
    imgOf(c, pa, IA);
    if (!bImg) {
      f64ToFp80(b, IMG2, 0);
      bImg = IMG2;
    }
    // A NaN operand takes precedence over a denormal one: no DE then (as the host does).
    const f = nanPick(IA, a !== a, bImg, b !== b);
    raise(c, f);
    if (!(f & IE) || masked(c, IE)) putImg(c, dest, IMG[0], IMG[1], IMG[2]);
    return;
  }
  // Zero divide outranks a denormal operand (SDM vol. 1, 4.9.2: divide-by-zero is priority
  // 3, denormal 4): a float32/64 denormal divided by zero reports ZE alone, as the host does.
  let zeroDiv = false;
  if ((op === AOp.Div && b === 0) || (op === AOp.Divr && a === 0)) {
    const num = op === AOp.Div ? a : b;
    zeroDiv = num !== 0 && Math.abs(num) !== Infinity;
  }
  if (zeroDiv) {
    raise(c, ZE);
    if (!masked(c, ZE)) return;
  } else if (fx) {
    raise(c, fx);
    if (aborted) return; // an unmasked DE leaves the destination as it was
  }
  c.fsw &= ~C1;
  const rc = (c.fcw >> 10) & 3;
  putResult(c, dest, rc === RC.Nearest ? compute(op, a, b) : directed(op, a, b, rc));
}

/** a op b rounded to double under a directed rounding mode (exact, through softfloat). */
function directed(op: number, a: number, b: number, rc: number): number {
  setEnv((rc << 13) | 0x1f80);
  let x = a, y = b, o: Op;
  switch (op) {
    case AOp.Add: o = Op.Add; break;
    case AOp.Mul: o = Op.Mul; break;
    case AOp.Sub: o = Op.Sub; break;
    case AOp.Subr: o = Op.Sub; x = b; y = a; break;
    case AOp.Div: o = Op.Div; break;
    default: o = Op.Div; x = b; y = a; break;
  }
  return fromBits(sfArith(o, toBits(x), toBits(y), F64));
}

function toBits(v: number): bigint {
  SV.setFloat64(0, v, true);
  return SV.getBigUint64(0, true);
}
function fromBits(b: bigint): number {
  SV.setBigUint64(0, b, true);
  return SV.getFloat64(0, true);
}

/** FCOM-style compare of ST0 with b: C3 C2 C0 (and EFLAGS for FCOMI). */
function compareST0(c: Cpu, pa: number, b: number, bNaN: boolean, bImg: Int32Array | null, signalQNaN: boolean, fx: number): number {
  const a = c.st[pa];
  c.fsw &= ~CC;
  if (a !== a || b !== b) {
    let f = 0; // no DE next to a NaN
    if (a !== a) {
      imgOf(c, pa, IA);
      const k = classify80(IA[0], IA[1], IA[2]);
      if (k !== X80.QNaN || signalQNaN) f |= IE;
    }
    if (b !== b) {
      const img = bImg ?? IMG2;
      const k = bNaN ? classify80(img[0], img[1], img[2]) : X80.QNaN;
      if (k !== X80.QNaN || signalQNaN) f |= IE;
    }
    raise(c, f);
    c.fsw |= C0 | C2 | C3; // unordered, even with IE unmasked (as the host does)
    return 3;
  }
  if (fx) raise(c, fx);
  if (a > b) return 0;
  if (a < b) {
    c.fsw |= C0;
    return 1;
  }
  c.fsw |= C3;
  return 2;
}

/** 0 greater, 1 less, 2 equal, 3 unordered: to EFLAGS (FCOMI). */
function toEflags(c: Cpu, r: number): void {
  c.fsw &= ~(C0 | C2 | C3); // FCOMI leaves C0 C2 C3 undefined: keep them clear
  const f = r === 3 ? ZF | PF | CF : r === 1 ? CF : r === 2 ? ZF : 0;
  setFlags(c, (getFlags(c) & ~ARITH) | f);
}

// ---- conversions to memory ----

/** Set softfloat's environment from FCW (rounding, exception masks; no DAZ/FTZ on x87). */
function fcwEnv(c: Cpu): void {
  // MXCSR layout for setEnv: RC at 13, UM at 11, OM at 10.
  const rc = (c.fcw >> 10) & 3;
  setEnv((rc << 13) | (c.fcw & UE ? 0x800 : 0) | (c.fcw & OE ? 0x400 : 0));
  env.fx = 0;
  env.up = false;
}

/** Register p rounded to binary32/binary64 bits (exact rounding from the 80-bit image). */
function toFloatBits(c: Cpu, p: number, F: Fmt): bigint {
  imgOf(c, p, IMG);
  const lo = IMG[0], hi = IMG[1], se = IMG[2];
  const sign = (se >> 15) & 1;
  const cls = classify80(lo, hi, se);
  fcwEnv(c);
  switch (cls) {
    case X80.Zero: return sign ? F.signBit : 0n;
    case X80.Inf: return (sign ? F.signBit : 0n) | F.expMask;
    case X80.Unsupported:
      env.fx |= MX.IE;
      return F.defaultNaN;
    case X80.QNaN:
    case X80.SNaN: {
      if (cls === X80.SNaN) env.fx |= MX.IE;
      const mant = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
      const frac = (mant >> BigInt(63 - Number(F.fracBits))) & F.fracMask;
      return (sign ? F.signBit : 0n) | F.expMask | F.quietBit | frac;
    }
    default: {
      const mant = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
      const e = cls === X80.Denormal ? -16382 : (se & 0x7fff) - 16383;
      if (cls === X80.Denormal) env.fx |= MX.DE;
      return roundPack(sign, mant, e - 63, false, F);
    }
  }
}

/** Store ST0 as m32/m64; returns false when an unmasked exception suppressed the store. */
function storeFloat(c: Cpu, a: number, t: MemT): boolean {
  const p = c.fpuTop;
  if (empty(c, p)) {
    if (!underflow(c)) return false;
    if (t === MemT.F32) c.m.wr32(a, 0xffc00000 | 0);
    else c.m.wr64(a, 0, 0xfff80000 | 0);
    return true;
  }
  const v = c.st[p];
  if (!c.fprRaw[p] && v === v) {
    // Fast paths: a double stored as a double is exact; as a float, fround when that is
    // the whole story (nearest, normal result).
    if (t === MemT.F64) {
      SV.setFloat64(0, v, true);
      c.m.wr64(a, SV.getInt32(0, true), SV.getInt32(4, true));
      c.fsw &= ~C1;
      return true;
    }
    const r = Math.fround(v), ar = Math.abs(r);
    if (((c.fcw >> 10) & 3) === RC.Nearest && ((ar >= 1.1754943508222875e-38 && ar < Infinity) || v === 0 || Math.abs(v) === Infinity)) {
      SV.setFloat32(0, r, true);
      c.m.wr32(a, SV.getInt32(0, true));
      if (r !== v) raise(c, PE); // PE is post-computation: the value is stored anyway
      c.fsw = Math.abs(r) > Math.abs(v) ? c.fsw | C1 : c.fsw & ~C1;
      return true;
    }
  }
  const bits = toFloatBits(c, p, t === MemT.F32 ? F32 : F64);
  const fx = env.fx;
  raise(c, fx);
  if (fx & ~c.fcw & (IE | DE | OE | UE)) return false;
  if (t === MemT.F32) c.m.wr32(a, Number(bits) | 0);
  else c.m.wr64(a, Number(bits & 0xffffffffn) | 0, Number(bits >> 32n) | 0);
  // C1: the stored value was rounded away from zero.
  c.fsw = env.up ? c.fsw | C1 : c.fsw & ~C1;
  return true;
}

let roundedUp = false;

/** ST0 to an integer of `bytes` bytes; FISTTP truncates. Returns false if suppressed. */
function storeInt(c: Cpu, a: number, bytes: number, truncate: boolean): boolean {
  const p = c.fpuTop;
  let lo = 0, hi = 0, ok = true;
  const v = c.st[p];
  if (!c.fprRaw[p] && !empty(c, p) && Math.abs(v) < 4503599627370496) {
    // Common case: a double below 2^52 rounds with plain arithmetic.
    const r = rint(v, truncate ? RC.Zero : (c.fcw >> 10) & 3);
    const lim = bytes === 2 ? 32768 : bytes === 4 ? 2147483648 : 9223372036854775808;
    if (r >= -lim && r < lim) {
      // Memory first: a page fault must leave the status word alone.
      if (bytes === 2) c.m.wr16(a, r & 0xffff);
      else if (bytes === 4) c.m.wr32(a, r | 0);
      else c.m.wr64(a, r | 0, hi32(r));
      if (r !== v) raise(c, PE); // PE is post-computation: stored anyway
      c.fsw = Math.abs(r) > Math.abs(v) ? c.fsw | C1 : c.fsw & ~C1;
      return true;
    }
  }
  if (empty(c, p)) {
    if (!underflow(c)) return false;
    ok = false;
  } else {
    imgOf(c, p, IMG);
    const cls = classify80(IMG[0], IMG[1], IMG[2]);
    if (cls === X80.QNaN || cls === X80.SNaN || cls === X80.Inf || cls === X80.Unsupported) ok = false;
    else if (cls !== X80.Zero) {
      const rc = truncate ? RC.Zero : (c.fcw >> 10) & 3;
      const e = (cls === X80.Denormal ? -16382 : (IMG[2] & 0x7fff) - 16383) - 63;
      const neg = (IMG[2] & 0x8000) !== 0;
      // The magnitude mant * 2^e rounded to an integer (mL, mH), in halves.
      let mL = 0, mH = 0;
      let inexact = false, big = false;
      roundedUp = false;
      if (e > 0) big = true; // the integer bit is set (normal): at least 2^64
      else if (e === 0) { mL = IMG[0]; mH = IMG[1]; }
      else {
        const s = -e;
        mL = shr64(IMG[0], IMG[1], s);
        mH = wideHi;
        const half = s <= 64 && bit64(IMG[0], IMG[1], s - 1) === 1;
        const rest = lowBits64(IMG[0], IMG[1], s > 64 ? 64 : s - 1);
        if (half || rest) {
          inexact = true;
          let up: boolean;
          switch (rc) {
            case RC.Nearest: up = half && (rest || (mL & 1) === 1); break;
            case RC.Down: up = neg; break;
            case RC.Up: up = !neg; break;
            default: up = false;
          }
          if (up) {
            // s >= 1 keeps the magnitude below 2^63, so the increment cannot overflow.
            mL = (mL + 1) | 0;
            if (mL === 0) mH = (mH + 1) | 0;
          }
          roundedUp = up;
        }
      }
      // In range: below 2^(8*bytes-1), or exactly that for a negative value.
      const uH = mH >>> 0, uL = mL >>> 0;
      let fits: boolean;
      if (big) fits = false;
      else if (bytes === 8) fits = uH < 0x80000000 || (neg && uH === 0x80000000 && uL === 0);
      else {
        const lim = bytes === 4 ? 0x80000000 : 0x8000;
        fits = uH === 0 && (uL < lim || (neg && uL === lim));
      }
      if (!fits) ok = false;
      else {
        if (inexact) raise(c, PE); // stored anyway
        c.fsw = roundedUp ? c.fsw | C1 : c.fsw & ~C1;
        lo = neg ? neg64(mL, mH) : mL;
        hi = neg ? wideHi : mH;
      }
    }
    if (!ok) {
      raise(c, IE);
      if (!masked(c, IE)) return false;
    }
  }
  if (!ok) {
    // integer indefinite
    lo = bytes === 8 ? 0 : bytes === 4 ? 0x80000000 | 0 : 0x8000;
    hi = bytes === 8 ? 0x80000000 | 0 : 0;
  }
  if (bytes === 2) c.m.wr16(a, lo & 0xffff);
  else if (bytes === 4) c.m.wr32(a, lo);
  else c.m.wr64(a, lo, hi);
  return true;
}

// ---- loads ----

function fldMem(c: Cpu, a: number, t: MemT): void {
  if (t === MemT.I64) {
    const lo = c.m.rd64(a), hi = c.m.hi;
    if (hi >= -0x200000 && hi < 0x200000) {
      push(c, join64(hi, lo));
      return;
    }
    // Beyond 2^53: keep the exact 80-bit image, the magnitude normalized to bit 63.
    const neg = hi < 0;
    const mL = neg ? neg64(lo, hi) : lo, mH = neg ? wideHi : hi;
    const z = Math.clz32(mH); // mH is not 0 (|v| >= 2^53); INT64_MIN's magnitude is 2^63
    const nL = shl64(mL, mH, z);
    pushImg(c, nL, wideHi, (neg ? 0x8000 : 0) | (16383 + 63 - z));
    return;
  }
  const v = loadMem(c, a, t);
  // A stack overflow wins over the operand's own exceptions (the host reports only IE|SF).
  if (!empty(c, (c.fpuTop - 1) & 7)) {
    pushSlot(c);
    return;
  }
  if (memFx) {
    raise(c, memFx); // SNaN: IE; denormal: DE
    // An unmasked IE loads nothing. A float32/64 denormal converts exactly to a normal
    // extended number, and the host CPU of the differential tests (AMD EPYC) pushes it even
    // with DE unmasked, although the SDM (vol. 1, 8.5.2) and the APM (vol. 1, table 6-22)
    // say TOP stays unchanged. The arithmetic forms do leave their destination alone.
    if ((memFx & IE) !== 0 && aborted) return;
  }
  if (memNaN) pushImg(c, IMG2[0], IMG2[1] | 0x40000000, IMG2[2]);
  else push(c, v);
}

function fldM80(c: Cpu, a: number): void {
  const lo = c.m.rd64(a), hi = c.m.hi;
  const se = c.m.rd16(a + 8);
  pushImg(c, lo, hi, se);
}

// Constants as 80-bit images rounded to nearest, and which way that rounding went (+1 up,
// -1 down, 0 exact): FCW.RC picks the neighbour for directed rounding (the constants are
// positive, so toward zero is down), as the host does.
const CONSTS: [number, number, number, number][] = [
  [0, 0x80000000 | 0, 0x3fff, 0], // 1
  [0xcd1b8afe | 0, 0xd49a784b | 0, 0x4000, -1], // log2(10)
  [0x5c17f0bc | 0, 0xb8aa3b29 | 0, 0x3fff, 1], // log2(e)
  [0x2168c235 | 0, 0xc90fdaa2 | 0, 0x4000, 1], // pi
  [0xfbcff799 | 0, 0x9a209a84 | 0, 0x3ffd, 1], // log10(2)
  [0xd1cf79ac | 0, 0xb17217f7 | 0, 0x3ffe, 1], // ln(2)
  [0, 0, 0, 0], // +0
];

function fldConst(k: number): Handler {
  const [lo, hi, se, dir] = CONSTS[k];
  const v = fp80ToF64(lo, hi, se);
  return (c: Cpu) => {
    enter(c);
    if (dir === 0) {
      push(c, v);
      return;
    }
    const rc = (c.fcw >> 10) & 3;
    // The low mantissa words of these constants never carry or borrow out of 32 bits.
    const adj = (rc === RC.Down || rc === RC.Zero) && dir > 0 ? -1 : rc === RC.Up && dir < 0 ? 1 : 0;
    pushImg(c, (lo + adj) | 0, hi, se);
  };
}

// ---- environment (FNSTENV/FLDENV/FNSAVE/FRSTOR), 32-bit protected-mode layout ----

/** The full tag word, computed from the register contents (SDM 8.1.7). */
function fullTags(c: Cpu): number {
  let t = 0;
  for (let p = 0; p < 8; p++) {
    let tag: number;
    if (empty(c, p)) tag = 3;
    else {
      imgOf(c, p, IMG);
      const k = classify80(IMG[0], IMG[1], IMG[2]);
      tag = k === X80.Zero ? 1 : k === X80.Normal ? 0 : 2;
    }
    t |= tag << (2 * p);
  }
  return t;
}

function storeEnv(c: Cpu, a: number): void {
  // Probe the whole area first so a fault changes nothing.
  c.m.writableOffset(a);
  c.m.writableOffset(a + 27);
  c.m.wr32(a, c.fcw | 0xffff0000);
  c.m.wr32(a + 4, fswValue(c) | 0xffff0000);
  c.m.wr32(a + 8, fullTags(c) | 0xffff0000);
  c.m.wr32(a + 12, 0); // FIP
  c.m.wr32(a + 16, 0); // FOP, FCS
  c.m.wr32(a + 20, 0); // FDP
  c.m.wr32(a + 24, 0xffff0000 | 0); // FDS
}

function loadEnv(c: Cpu, a: number): void {
  const fcw = c.m.rd16(a), fsw = c.m.rd16(a + 4), ftw = c.m.rd16(a + 8);
  c.fcw = fcw;
  c.fpuTop = (fsw >> 11) & 7;
  c.fsw = fsw & ~0x3800;
  let t = 0;
  for (let p = 0; p < 8; p++) if (((ftw >> (2 * p)) & 3) === 3) t |= 3 << (2 * p);
  c.ftw = t;
  c.fsw &= ~0x8080; // ES and B follow from the flags and masks
}

function fninit(c: Cpu): void {
  c.fcw = 0x37f;
  c.fsw = 0;
  c.fpuTop = 0;
  c.ftw = 0xffff;
}

// ---- handlers ----

type MemHandler = (c: Cpu, i: Instr, a: number) => void;

/** Memory-form handler: waiting check, then the operation with the operand address. */
function memForm(h: MemHandler, wait = true): Handler {
  return (c: Cpu, i: Instr) => {
    if (wait) enter(c);
    else if (c.ts) throw nmFault();
    h(c, i, ea(c, i));
  };
}

/** ST0 op memory operand (D8 m32fp, DC m64fp, DA m32int, DE m16int). */
function arithMem(op: number, t: MemT): MemHandler {
  return (c, _i, a) => {
    const b = loadMem(c, a, t);
    const p = c.fpuTop;
    if (empty(c, p)) {
      const m = underflow(c);
      if (op === AOp.Com || op === AOp.Comp) {
        c.fsw |= C0 | C2 | C3;
        if (op === AOp.Comp) popOk(c);
      } else if (m) putIndefinite(c, p);
      return;
    }
    if (op === AOp.Com || op === AOp.Comp) {
      compareST0(c, p, b, memNaN, IMG2, true, memFx & DE);
      if (op === AOp.Comp) popOk(c);
      return;
    }
    arith(c, op, p, p, b, memNaN ? IMG2 : null, memFx);
  };
}

/** D8 / DC / DE register forms: a = ST0, b = ST(i); dest ST0 (D8) or ST(i) (DC, DE+pop). */
function arithReg(op: number, toSTi: boolean, popAfter: boolean): Handler {
  return (c: Cpu, i: Instr) => {
    enter(c);
    const pa = c.fpuTop, pb = phys(c, i.rm & 7);
    if (op === AOp.Com || op === AOp.Comp) {
      if (empty(c, pa) || empty(c, pb)) {
        underflow(c);
        c.fsw |= C0 | C2 | C3;
      } else {
        imgOf(c, pb, IMG2);
        compareST0(c, pa, c.st[pb], c.st[pb] !== c.st[pb], IMG2, true, 0);
      }
      if (op === AOp.Comp) popOk(c);
      return;
    }
    const dest = toSTi ? pb : pa;
    if (empty(c, pa) || empty(c, pb)) {
      if (underflow(c)) putIndefinite(c, dest);
    } else {
      const b = c.st[pb];
      if (b !== b) imgOf(c, pb, IMG2);
      arith(c, op, dest, pa, b, b !== b ? IMG2 : null, 0);
    }
    if (popAfter) popOk(c);
  };
}

function arithGroup(opByte: number, t: MemT, regToSTi: boolean, regPop: boolean): void {
  const mem: Handler[] = [];
  const reg: Handler[] = [];
  for (let r = 0; r < 8; r++) {
    mem.push(memForm(arithMem(r, t)));
    reg.push(arithReg(r, regToSTi && r !== AOp.Com && r !== AOp.Comp, regPop));
  }
  defPick(opByte, OpF.ModRM, 'x87 arith', (i) => (i.mod === 3 ? reg[i.reg & 7] : mem[i.reg & 7]));
}

// ---- D9 register forms ----

function fldSTi(c: Cpu, i: Instr): void {
  enter(c);
  const ps = phys(c, i.rm & 7);
  if (empty(c, ps)) {
    // Underflow wins: the indefinite goes onto the stack whatever the new top held.
    if (underflow(c)) {
      c.fpuTop = (c.fpuTop - 1) & 7;
      putIndefinite(c, c.fpuTop);
    }
    return;
  }
  const p = pushSlot(c);
  if (p >= 0) copyReg(c, ps, p);
}

function fxch(c: Cpu, i: Instr): void {
  enter(c);
  const pa = c.fpuTop, pb = phys(c, i.rm & 7);
  if (empty(c, pa) || empty(c, pb)) {
    if (!underflow(c)) return;
    if (empty(c, pa)) { setTag(c, pa, true); putIndefinite(c, pa); }
    if (empty(c, pb)) { setTag(c, pb, true); putIndefinite(c, pb); }
  }
  imgOf(c, pa, IMG);
  const raw = c.fprRaw[pa], v = c.st[pa];
  copyReg(c, pb, pa);
  c.st[pb] = v;
  c.fprRaw[pb] = raw;
  if (raw) {
    c.fpr[pb << 2] = IMG[0];
    c.fpr[(pb << 2) + 1] = IMG[1];
    c.fpr[(pb << 2) + 2] = IMG[2];
  }
  c.fsw &= ~C1;
}

/** Unary operation on ST0 with the empty check; f gets the physical register. */
function unary(f: (c: Cpu, p: number) => void): Handler {
  return (c: Cpu) => {
    enter(c);
    const p = c.fpuTop;
    if (empty(c, p)) {
      if (underflow(c)) putIndefinite(c, p);
      return;
    }
    f(c, p);
  };
}

/** Sign operations work on the image so NaN payloads survive. */
function signOp(kind: 0 | 1): (c: Cpu, p: number) => void {
  return (c, p) => {
    c.fsw &= ~C1;
    if (c.fprRaw[p]) {
      const o = (p << 2) + 2;
      c.fpr[o] = kind === 0 ? c.fpr[o] ^ 0x8000 : c.fpr[o] & 0x7fff;
      c.st[p] = fp80ToF64(c.fpr[p << 2], c.fpr[(p << 2) + 1], c.fpr[o]);
    } else c.st[p] = kind === 0 ? -c.st[p] : Math.abs(c.st[p]);
  };
}

/** A NaN (or unsupported) ST0 for a one-operand operation: propagate (IE on SNaN). */
function unaryNaN(c: Cpu, p: number): boolean {
  if (c.st[p] === c.st[p]) return false;
  imgOf(c, p, IMG2);
  const f = nanPick(IMG2, true, IMG2, false);
  raise(c, f);
  if (!(f & IE) || masked(c, IE)) putImg(c, p, IMG[0], IMG[1], IMG[2]);
  return true;
}

function ftst(c: Cpu, p: number): void {
  compareST0(c, p, 0, false, null, true, 0);
}

/** FXAM: C3 C2 C0 = class, C1 = sign (SDM FXAM table). A waiting instruction. */
function fxam(c: Cpu): void {
  enter(c);
  const p = c.fpuTop;
  c.fsw &= ~CC;
  imgOf(c, p, IMG);
  if (IMG[2] & 0x8000) c.fsw |= C1;
  if (empty(c, p)) {
    c.fsw |= C3 | C0;
    return;
  }
  switch (classify80(IMG[0], IMG[1], IMG[2])) {
    case X80.Unsupported: break;
    case X80.QNaN: case X80.SNaN: c.fsw |= C0; break;
    case X80.Normal: c.fsw |= C2; break;
    case X80.Inf: c.fsw |= C2 | C0; break;
    case X80.Zero: c.fsw |= C3; break;
    default: c.fsw |= C3 | C2; break; // denormal
  }
}

/** Round to an integer under FCW.RC (ties to even). */
function rint(x: number, rc: number): number {
  switch (rc) {
    case RC.Nearest: {
      if (Math.abs(x) >= 4503599627370496) return x;
      const f = Math.floor(x), d = x - f;
      const r = d < 0.5 ? f : d > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
      return r === 0 ? (x < 0 || Object.is(x, -0) ? -0 : 0) : r; // zero keeps the sign
    }
    case RC.Down: return Math.floor(x);
    case RC.Up: {
      const r = Math.ceil(x);
      return r === 0 && x < 0 ? -0 : r;
    }
    default: return Math.trunc(x);
  }
}

function frndint(c: Cpu, p: number): void {
  if (unaryNaN(c, p)) return;
  if (c.fprRaw[p] && classify80(c.fpr[p << 2], c.fpr[(p << 2) + 1], c.fpr[(p << 2) + 2]) === X80.Normal) {
    // An exact image (e.g. a 64-bit integer from FILD m64) beyond 2^53 is already integral.
    if (((c.fpr[(p << 2) + 2] & 0x7fff) - 16383) >= 63) return;
  }
  const v = c.st[p];
  const r = rint(v, (c.fcw >> 10) & 3);
  if (r !== v) {
    raise(c, PE);
    c.fsw = Math.abs(r) > Math.abs(v) ? c.fsw | C1 : c.fsw & ~C1;
  }
  put(c, p, r);
}

function fsqrt(c: Cpu, p: number): void {
  if (unaryNaN(c, p)) return;
  const v = c.st[p];
  if (v < 0) {
    raise(c, IE);
    if (masked(c, IE)) putIndefinite(c, p);
    return;
  }
  const rc = (c.fcw >> 10) & 3;
  if (rc === RC.Nearest) put(c, p, Math.sqrt(v));
  else {
    setEnv((rc << 13) | 0x1f80);
    put(c, p, fromBits(sfSqrt(toBits(v), F64)));
  }
}

/** x * 2^n without intermediate overflow or underflow. */
function ldexp(x: number, n: number): number {
  if (n > 2100) n = 2100;
  if (n < -2100) n = -2100;
  while (n > 1000) { x *= 2 ** 1000; n -= 1000; }
  while (n < -1000) { x *= 2 ** -1000; n += 1000; }
  return x * 2 ** n;
}

/** Two-operand helpers on ST0 and ST1; returns false when an operand is empty or NaN (handled). */
function st01(c: Cpu): boolean {
  const p0 = c.fpuTop, p1 = phys(c, 1);
  if (empty(c, p0) || empty(c, p1)) {
    if (underflow(c)) putIndefinite(c, p0);
    return false;
  }
  const a = c.st[p0], b = c.st[p1];
  if (a !== a || b !== b) {
    imgOf(c, p0, IA);
    imgOf(c, p1, IMG2);
    const f = nanPick(IA, a !== a, IMG2, b !== b);
    raise(c, f);
    if (!(f & IE) || masked(c, IE)) putImg(c, p0, IMG[0], IMG[1], IMG[2]);
    return false;
  }
  return true;
}

/**
 * FSCALE: ST0 * 2^trunc(ST1). Scaling is an exact exponent adjustment, so it works on the
 * 80-bit image and produces extended results (denormals included) whatever FCW.PC says (PC
 * governs only the basic arithmetic and FSQRT, SDM vol. 1, 8.1.5.2). Outside the exponent
 * range it responds as the host CPU does (SDM vol. 1, 4.9.1.4-5 and 8.5.4-5):
 * - overflow, OE masked: infinity or the largest finite value by FCW.RC, OE PE (C1 if up);
 * - overflow, OE unmasked: the significand with the exponent reduced by 24576, OE only;
 *   where even that overflows, infinity with OE PE C1;
 * - underflow, UE masked: the denormalised significand rounded by FCW.RC; UE PE (C1 if up)
 *   only when bits were lost (a tiny exact result raises nothing);
 * - underflow, UE unmasked: the exponent increased by 24576, UE only; where even that
 *   underflows, zero with UE PE.
 */
function fscale(c: Cpu): void {
  enter(c);
  if (!st01(c)) return;
  const p0 = c.fpuTop;
  imgOf(c, p0, IA);
  const cls = classify80(IA[0], IA[1], IA[2]);
  const p1 = phys(c, 1);
  let b = c.st[p1];
  let den = cls === X80.Denormal;
  if (c.fprRaw[p1]) {
    // ST1 as an exact image: a denormal, or a value beyond the double range (saturates).
    imgOf(c, p1, IMG2);
    const k = classify80(IMG2[0], IMG2[1], IMG2[2]);
    if (k === X80.Denormal) den = true;
    else if (k === X80.Normal && Math.abs(b) === Infinity) b = b > 0 ? 70000 : -70000;
  }
  const sign = IA[2] & 0x8000;
  c.fsw &= ~C1;
  if (den) {
    raise(c, DE);
    if (aborted) return;
  }
  if (Math.abs(b) === Infinity) {
    const zero = cls === X80.Zero, inf = cls === X80.Inf;
    if ((b > 0 && zero) || (b < 0 && inf)) {
      raise(c, IE);
      if (masked(c, IE)) putIndefinite(c, p0);
      return;
    }
    if (!zero && !inf) put(c, p0, b > 0 ? (sign ? -Infinity : Infinity) : sign ? -0 : 0);
    return;
  }
  if (cls === X80.Zero || cls === X80.Inf) return;
  // Normalise (a denormal's significand has leading zeros), then move the exponent.
  let lo = IA[0], hi = IA[1], e = IA[2] & 0x7fff;
  if (e === 0) {
    e = 1;
    while ((hi & 0x80000000) === 0) {
      hi = (hi << 1) | (lo >>> 31);
      lo <<= 1;
      e--;
    }
  }
  e += Math.trunc(Math.max(-70000, Math.min(70000, b)));
  if (e >= 1 && e <= 0x7ffe) {
    putImg(c, p0, lo, hi, sign | e);
    if (isDoubleImage(c, p0)) c.fprRaw[p0] = 0;
    return;
  }
  if (e > 0x7ffe) {
    if (!masked(c, OE) && e - 24576 <= 0x7ffe) {
      raise(c, OE);
      putImg(c, p0, lo, hi, sign | (e - 24576));
      return;
    }
    raise(c, OE | PE);
    const rc = (c.fcw >> 10) & 3;
    if (masked(c, OE) && (rc === RC.Zero || (rc === RC.Down && !sign) || (rc === RC.Up && sign))) {
      putImg(c, p0, -1, -1, sign | 0x7ffe); // the largest finite extended value
      return;
    }
    c.fsw |= C1;
    put(c, p0, sign ? -Infinity : Infinity);
    return;
  }
  if (!masked(c, UE)) {
    if (e + 24576 >= 1) {
      raise(c, UE);
      putImg(c, p0, lo, hi, sign | (e + 24576));
      return;
    }
    raise(c, UE | PE);
    put(c, p0, sign ? -0 : 0);
    return;
  }
  denormalise(c, p0, lo, hi, sign, Math.min(1 - e, 130));
}

/**
 * A tiny result with UE masked: the 64-bit significand (lo, hi) shifted right by s bits and
 * rounded by FCW.RC into an extended denormal (or, carrying, the smallest normal). Rare, so
 * BigInt is fine here.
 */
function denormalise(c: Cpu, p: number, lo: number, hi: number, sign: number, s: number): void {
  const mant = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  const sh = BigInt(s);
  let m = mant >> sh;
  const rem = mant & ((1n << sh) - 1n);
  if (rem !== 0n) {
    const half = 1n << (sh - 1n);
    let up: boolean;
    switch ((c.fcw >> 10) & 3) {
      case RC.Nearest: up = rem > half || (rem === half && (m & 1n) === 1n); break;
      case RC.Down: up = sign !== 0; break;
      case RC.Up: up = sign === 0; break;
      default: up = false;
    }
    if (up) {
      m++;
      c.fsw |= C1;
    }
    raise(c, UE | PE);
  }
  // A carry into bit 63 makes the smallest normal number: exponent field 1.
  const normal = (m >> 63n) !== 0n;
  putImg(c, p, Number(m & 0xffffffffn) | 0, Number(m >> 32n) | 0, sign | (normal ? 1 : 0));
}

/**
 * FPREM (truncating quotient) and FPREM1 (round-to-nearest quotient), exactly, on the 80-bit
 * images. Like the hardware, a reduction over an exponent difference D >= 64 is partial: it
 * divides by ST1 * 2^k with k = 32*floor(D/32) - 32 (what the host CPU does; the SDM leaves
 * the step implementation-defined) and sets C2, so software loops until C2 = 0. A complete
 * reduction leaves quotient bits 2, 1, 0 in C0, C3, C1.
 */
function fprem(ieee: boolean): Handler {
  return (c: Cpu) => {
    enter(c);
    if (!st01(c)) return;
    const p0 = c.fpuTop, p1 = phys(c, 1);
    const a = c.st[p0], b = c.st[p1];
    c.fsw &= ~CC;
    if (b === 0 || Math.abs(a) === Infinity) {
      raise(c, IE);
      if (masked(c, IE)) putIndefinite(c, p0);
      return;
    }
    if (Math.abs(b) === Infinity || a === 0) return; // ST0 unchanged
    imgOf(c, p0, IA);
    imgOf(c, p1, IMG2);
    const ma = (BigInt(IA[1] >>> 0) << 32n) | BigInt(IA[0] >>> 0);
    const mb = (BigInt(IMG2[1] >>> 0) << 32n) | BigInt(IMG2[0] >>> 0);
    const ea = (IA[2] & 0x7fff) - 16383, eb = (IMG2[2] & 0x7fff) - 16383;
    const d = ea - eb;
    const partial = d >= 64;
    const k = partial ? 32 * Math.floor(d / 32) - 32 : 0;
    // |a| = ma * 2^(ea-63), divisor = mb * 2^(eb+k-63): bring both to the smaller exponent.
    const dd = d - k;
    const X = dd > 0 ? ma << BigInt(dd) : ma;
    const Y = dd < 0 ? mb << BigInt(-dd) : mb;
    let q = X / Y;
    let rem = X - q * Y;
    let neg = (IA[2] & 0x8000) !== 0;
    if (ieee && !partial && (2n * rem > Y || (2n * rem === Y && (q & 1n) === 1n))) {
      q += 1n;
      rem = Y - rem;
      neg = !neg;
    }
    const unit = Math.min(ea, eb + k) - 63; // exponent of one unit of X and Y
    if (rem === 0n) put(c, p0, (IA[2] & 0x8000) !== 0 ? -0 : 0);
    else {
      const n = rem.toString(2).length;
      const m = rem << BigInt(64 - n);
      putImg(c, p0, Number(m & 0xffffffffn) | 0, Number(m >> 32n) | 0, (neg ? 0x8000 : 0) | (unit + n - 1 + 16383));
      if (!c.fprRaw[p0] || (c.st[p0] === c.st[p0] && isDoubleImage(c, p0))) c.fprRaw[p0] = 0;
    }
    if (partial) {
      c.fsw |= C2;
      return;
    }
    if (q & 4n) c.fsw |= C0;
    if (q & 2n) c.fsw |= C3;
    if (q & 1n) c.fsw |= C1;
  };
}

/** The image of register p is exactly its double (so the image need not be kept). */
function isDoubleImage(c: Cpu, p: number): boolean {
  f64ToFp80(c.st[p], IMG, 0);
  const o = p << 2;
  return IMG[0] === c.fpr[o] && IMG[1] === c.fpr[o + 1] && IMG[2] === (c.fpr[o + 2] & 0xffff);
}

/**
 * Stack check for the two-result instructions (FXTRACT, FPTAN, FSINCOS): ST0 must be in use
 * and ST7 free. On a fault both results are the indefinite (masked), TOP moves, as the host does.
 */
function twoResultFault(c: Cpu): boolean {
  const p = c.fpuTop, q = (p - 1) & 7;
  const under = empty(c, p);
  if (!under && empty(c, q)) return false;
  if (under) c.fsw &= ~C1;
  else c.fsw |= C1;
  raise(c, IE | SF);
  if (masked(c, IE)) {
    putIndefinite(c, p);
    c.fpuTop = q;
    putIndefinite(c, q);
  }
  return true;
}

function fxtract(c: Cpu): void {
  enter(c);
  if (twoResultFault(c)) return;
  const p = c.fpuTop;
  if (unaryNaN(c, p)) {
    if (aborted) return;
    imgOf(c, p, IMG2);
    pushImg(c, IMG2[0], IMG2[1], IMG2[2]);
    return;
  }
  const v = c.st[p];
  if (v === 0) {
    raise(c, ZE);
    if (!masked(c, ZE)) return;
    put(c, p, -Infinity);
    push(c, v);
    return;
  }
  if (Math.abs(v) === Infinity) {
    put(c, p, Infinity);
    push(c, v);
    return;
  }
  imgOf(c, p, IMG);
  const e = (IMG[2] & 0x7fff) - 16383;
  if (c.fprRaw[p]) {
    // Keep the exact significand of an 80-bit value.
    const lo = IMG[0], hi = IMG[1], sign = IMG[2] & 0x8000;
    put(c, p, e);
    pushImg(c, lo, hi, sign | 0x3fff);
    return;
  }
  put(c, p, e);
  push(c, ldexp(v, -e));
}

/** Transcendental on ST0 (FSIN, FCOS, F2XM1): out-of-range operands set C2 and stay. */
function trans(f: (x: number) => number, rangeCheck: boolean): Handler {
  return unary((c, p) => {
    if (unaryNaN(c, p)) return;
    const v = c.st[p];
    c.fsw &= ~(C1 | C2);
    if (rangeCheck && !(Math.abs(v) < 9223372036854775808)) {
      if (Math.abs(v) === Infinity) {
        raise(c, IE);
        if (masked(c, IE)) putIndefinite(c, p);
        return;
      }
      c.fsw |= C2;
      return;
    }
    put(c, p, f(v));
  });
}

/**
 * A NaN or infinite operand of FPTAN / FSINCOS: both results are the (quieted) NaN, or the
 * indefinite for infinity, as the host does. Returns true when it handled the operand.
 */
function twoResultSpecial(c: Cpu, p: number): boolean {
  const v = c.st[p];
  if (v === v && Math.abs(v) !== Infinity) return false;
  if (v !== v) {
    imgOf(c, p, IA);
    raise(c, nanPick(IA, true, IA, false));
  } else {
    raise(c, IE);
    IMG[0] = IND_LO; IMG[1] = IND_HI; IMG[2] = IND_SE;
  }
  if (aborted) return true;
  const lo = IMG[0], hi = IMG[1], se = IMG[2];
  putImg(c, p, lo, hi, se);
  pushImg(c, lo, hi, se);
  return true;
}

function fptan(c: Cpu): void {
  enter(c);
  if (twoResultFault(c)) return;
  const p = c.fpuTop;
  if (twoResultSpecial(c, p)) return;
  const v = c.st[p];
  c.fsw &= ~(C1 | C2);
  if (!(Math.abs(v) < 9223372036854775808)) {
    c.fsw |= C2; // out of range: unchanged
    return;
  }
  put(c, p, Math.tan(v));
  push(c, 1);
}

function fsincos(c: Cpu): void {
  enter(c);
  if (twoResultFault(c)) return;
  const p = c.fpuTop;
  if (twoResultSpecial(c, p)) return;
  const v = c.st[p];
  c.fsw &= ~(C1 | C2);
  if (!(Math.abs(v) < 9223372036854775808)) {
    c.fsw |= C2;
    return;
  }
  put(c, p, Math.sin(v));
  push(c, Math.cos(v));
}

/** ST1 = f(ST1, ST0), pop (FYL2X, FYL2XP1, FPATAN). */
function binPop(f: (st1: number, st0: number) => number): Handler {
  return (c: Cpu) => {
    enter(c);
    const p0 = c.fpuTop, p1 = phys(c, 1);
    if (empty(c, p0) || empty(c, p1)) {
      if (underflow(c)) putIndefinite(c, p1);
      popOk(c);
      return;
    }
    const a = c.st[p0], b = c.st[p1];
    if (a !== a || b !== b) {
      imgOf(c, p0, IA);
      imgOf(c, p1, IMG2);
      raise(c, nanPick(IA, a !== a, IMG2, b !== b));
      if (!aborted) putImg(c, p1, IMG[0], IMG[1], IMG[2]);
      popOk(c);
      return;
    }
    const r = f(b, a);
    c.fsw &= ~C1;
    if (r !== r) {
      raise(c, IE);
      if (masked(c, IE)) putIndefinite(c, p1);
    } else {
      // log2(±0) times a finite non-zero ST1 is a zero divide; times ±infinity it is an
      // exact infinity (SDM FYL2X table: no exception), as the host reports.
      if (f === fyl2x && a === 0 && b !== 0 && Math.abs(b) !== Infinity) raise(c, ZE);
      if (!aborted) put(c, p1, r);
    }
    popOk(c);
  };
}
function fyl2x(y: number, x: number): number {
  if (x < 0) return NaN;
  if (x === 0) return y === 0 ? NaN : -Infinity * Math.sign(y);
  return y * Math.log2(x);
}
function fyl2xp1(y: number, x: number): number {
  return (y * Math.log1p(x)) / Math.LN2;
}

const D9reg: (Handler | undefined)[] = new Array(64).fill(undefined);
for (let k = 0; k < 8; k++) {
  D9reg[k] = fldSTi; // C0+i
  D9reg[8 + k] = fxch; // C8+i
}
D9reg[0x10] = (c) => enter(c); // FNOP (D9 D0)
D9reg[0x20] = unary(signOp(0)); // FCHS
D9reg[0x21] = unary(signOp(1)); // FABS
D9reg[0x24] = (c) => {
  // FTST: a compare; an empty ST0 gives "unordered" and is left empty.
  enter(c);
  const p = c.fpuTop;
  if (empty(c, p)) {
    underflow(c);
    c.fsw = (c.fsw & ~CC) | C0 | C2 | C3;
    return;
  }
  ftst(c, p);
};
D9reg[0x25] = fxam;
for (let k = 0; k < 7; k++) D9reg[0x28 + k] = fldConst(k); // FLD1 FLDL2T FLDL2E FLDPI FLDLG2 FLDLN2 FLDZ
D9reg[0x30] = trans((x) => Math.expm1(x * Math.LN2), false); // F2XM1
D9reg[0x31] = binPop(fyl2x); // FYL2X
D9reg[0x32] = fptan;
D9reg[0x33] = binPop((y, x) => Math.atan2(y, x)); // FPATAN
D9reg[0x34] = fxtract;
D9reg[0x35] = fprem(true); // FPREM1
D9reg[0x36] = (c) => { enter(c); c.fpuTop = (c.fpuTop - 1) & 7; c.fsw &= ~C1; }; // FDECSTP
D9reg[0x37] = (c) => { enter(c); c.fpuTop = (c.fpuTop + 1) & 7; c.fsw &= ~C1; }; // FINCSTP
D9reg[0x38] = fprem(false); // FPREM
D9reg[0x39] = binPop(fyl2xp1); // FYL2XP1
D9reg[0x3a] = unary(fsqrt);
D9reg[0x3b] = fsincos;
D9reg[0x3c] = unary(frndint);
D9reg[0x3d] = fscale;
D9reg[0x3e] = trans(Math.sin, true); // FSIN
D9reg[0x3f] = trans(Math.cos, true); // FCOS

const D9mem: (Handler | undefined)[] = [
  memForm((c, _i, a) => fldMem(c, a, MemT.F32)),
  undefined,
  memForm((c, _i, a) => { storeFloat(c, a, MemT.F32); }),
  memForm((c, _i, a) => { if (storeFloat(c, a, MemT.F32)) pop(c); }),
  memForm((c, _i, a) => loadEnv(c, a)), // FLDENV
  memForm((c, _i, a) => {
    c.fcw = c.m.rd16(a); // unmasking a raised exception makes it pending
  }),
  memForm((c, _i, a) => { storeEnv(c, a); c.fcw |= 0x3f; }, false), // FNSTENV masks all
  memForm((c, _i, a) => c.m.wr16(a, c.fcw), false), // FNSTCW
];
defPick(0xd9, OpF.ModRM, 'x87 d9', (i) => {
  if (i.mod === 3) return D9reg[((i.reg & 7) << 3) | (i.rm & 7)];
  if ((i.reg & 7) >= 4 && (i.reg & 7) !== 5 && (i.reg & 7) !== 7 && i.opsz === 2) return undefined; // 16-bit env
  return D9mem[i.reg & 7];
});

// ---- DA / DB / DD / DF ----

function fcmov(cc: number): Handler {
  return (c: Cpu, i: Instr) => {
    enter(c);
    const pa = c.fpuTop, pb = phys(c, i.rm & 7);
    if (empty(c, pa) || empty(c, pb)) {
      if (underflow(c)) putIndefinite(c, pa);
      return;
    }
    c.fsw &= ~C1;
    if (cond(c, cc)) copyReg(c, pb, pa);
  };
}

function comi(signalQNaN: boolean, popAfter: boolean): Handler {
  return (c: Cpu, i: Instr) => {
    enter(c);
    const pa = c.fpuTop, pb = phys(c, i.rm & 7);
    if (empty(c, pa) || empty(c, pb)) {
      underflow(c);
      toEflags(c, 3); // unordered, whether or not IE is masked (as the host does)
    } else {
      imgOf(c, pb, IMG2);
      toEflags(c, compareST0(c, pa, c.st[pb], c.st[pb] !== c.st[pb], IMG2, signalQNaN, 0));
    }
    if (popAfter) popOk(c);
  };
}

function fucom(popN: number): Handler {
  return (c: Cpu, i: Instr) => {
    enter(c);
    const pa = c.fpuTop, pb = phys(c, popN === 2 ? 1 : i.rm & 7);
    if (empty(c, pa) || empty(c, pb)) {
      underflow(c);
      c.fsw = (c.fsw & ~CC) | C0 | C2 | C3;
    } else {
      imgOf(c, pb, IMG2);
      compareST0(c, pa, c.st[pb], c.st[pb] !== c.st[pb], IMG2, false, 0);
    }
    for (let k = 0; k < popN; k++) popOk(c);
  };
}

const DAreg: (Handler | undefined)[] = new Array(64).fill(undefined);
const DBreg: (Handler | undefined)[] = new Array(64).fill(undefined);
for (let k = 0; k < 8; k++) {
  DAreg[k] = fcmov(2); // FCMOVB
  DAreg[8 + k] = fcmov(4); // FCMOVE
  DAreg[16 + k] = fcmov(6); // FCMOVBE
  DAreg[24 + k] = fcmov(10); // FCMOVU
  DBreg[k] = fcmov(3); // FCMOVNB
  DBreg[8 + k] = fcmov(5); // FCMOVNE
  DBreg[16 + k] = fcmov(7); // FCMOVNBE
  DBreg[24 + k] = fcmov(11); // FCMOVNU
  DBreg[0x28 + k] = comi(false, false); // FUCOMI
  DBreg[0x30 + k] = comi(true, false); // FCOMI
}
DAreg[0x29] = fucom(2); // FUCOMPP
DBreg[0x22] = (c) => { if (c.ts) throw nmFault(); c.fsw &= ~(0x3f | SF); }; // FNCLEX
DBreg[0x23] = (c) => { if (c.ts) throw nmFault(); fninit(c); }; // FNINIT
DBreg[0x20] = (c) => enter(c); // FENI/FDISI: no-ops since the 287
DBreg[0x21] = (c) => enter(c);
DBreg[0x24] = (c) => enter(c); // FSETPM

{
  const daMem: Handler[] = [];
  for (let r = 0; r < 8; r++) daMem.push(memForm(arithMem(r, MemT.I32)));
  defPick(0xda, OpF.ModRM, 'x87 da', (i) => (i.mod === 3 ? DAreg[((i.reg & 7) << 3) | (i.rm & 7)] : daMem[i.reg & 7]));
}

function fistForm(bytes: number, truncate: boolean, popAfter: boolean): Handler {
  return memForm((c, _i, a) => {
    if (storeInt(c, a, bytes, truncate) && popAfter) pop(c);
  });
}

const DBmem: (Handler | undefined)[] = [
  memForm((c, _i, a) => fldMem(c, a, MemT.I32)),
  fistForm(4, true, true), // FISTTP m32
  fistForm(4, false, false),
  fistForm(4, false, true),
  undefined,
  memForm((c, _i, a) => fldM80(c, a)),
  undefined,
  memForm((c, _i, a) => {
    // FSTP m80: the exact image (empty: the indefinite under a masked IE).
    const p = c.fpuTop;
    if (empty(c, p)) {
      if (!underflow(c)) return;
      IMG[0] = IND_LO; IMG[1] = IND_HI; IMG[2] = IND_SE;
    } else imgOf(c, p, IMG);
    c.m.writableOffset(a + 9);
    c.m.wr64(a, IMG[0], IMG[1]);
    c.m.wr16(a + 8, IMG[2] & 0xffff);
    c.fsw &= ~C1;
    pop(c);
  }),
];
defPick(0xdb, OpF.ModRM, 'x87 db', (i) => (i.mod === 3 ? DBreg[((i.reg & 7) << 3) | (i.rm & 7)] : DBmem[i.reg & 7]));

arithGroup(0xd8, MemT.F32, false, false);
arithGroup(0xdc, MemT.F64, true, false);
{
  // DE: m16int arithmetic; register forms pop (DE D9 = FCOMPP).
  const mem: Handler[] = [];
  const reg: Handler[] = [];
  for (let r = 0; r < 8; r++) {
    mem.push(memForm(arithMem(r, MemT.I16)));
    reg.push(arithReg(r, true, true));
  }
  const fcompp: Handler = (c) => {
    enter(c);
    const pa = c.fpuTop, pb = phys(c, 1);
    if (empty(c, pa) || empty(c, pb)) {
      underflow(c);
      c.fsw = (c.fsw & ~CC) | C0 | C2 | C3;
    } else {
      imgOf(c, pb, IMG2);
      compareST0(c, pa, c.st[pb], c.st[pb] !== c.st[pb], IMG2, true, 0);
    }
    popOk(c);
    popOk(c);
  };
  defPick(0xde, OpF.ModRM, 'x87 de', (i) => {
    if (i.mod !== 3) return mem[i.reg & 7];
    const r = i.reg & 7;
    if (r === 3) return (i.rm & 7) === 1 ? fcompp : undefined;
    if (r === 2) return undefined;
    return reg[r];
  });
}

function ffree(popAfter: boolean): Handler {
  return (c: Cpu, i: Instr) => {
    enter(c);
    setTag(c, phys(c, i.rm & 7), false);
    if (popAfter) pop(c);
  };
}
function fstSTi(popAfter: boolean): Handler {
  return (c: Cpu, i: Instr) => {
    enter(c);
    const pa = c.fpuTop, pb = phys(c, i.rm & 7);
    if (empty(c, pa)) {
      if (!underflow(c)) return;
      setTag(c, pb, true);
      putIndefinite(c, pb);
    } else {
      setTag(c, pb, true);
      copyReg(c, pa, pb);
    }
    c.fsw &= ~C1;
    if (popAfter) pop(c);
  };
}

const DDreg: (Handler | undefined)[] = new Array(64).fill(undefined);
for (let k = 0; k < 8; k++) {
  DDreg[k] = ffree(false); // FFREE
  DDreg[0x10 + k] = fstSTi(false); // FST ST(i)
  DDreg[0x18 + k] = fstSTi(true); // FSTP ST(i)
  DDreg[0x20 + k] = fucom(0); // FUCOM
  DDreg[0x28 + k] = fucom(1); // FUCOMP
}

function fsave(c: Cpu, a: number): void {
  c.m.writableOffset(a + 107);
  storeEnv(c, a);
  for (let i = 0; i < 8; i++) {
    imgOf(c, phys(c, i), IMG);
    c.m.wr64(a + 28 + 10 * i, IMG[0], IMG[1]);
    c.m.wr16(a + 36 + 10 * i, IMG[2] & 0xffff);
  }
  fninit(c);
}
function frstor(c: Cpu, a: number): void {
  const regs: number[] = [];
  for (let i = 0; i < 8; i++) {
    regs.push(c.m.rd64(a + 28 + 10 * i), c.m.hi, c.m.rd16(a + 36 + 10 * i));
  }
  loadEnv(c, a);
  for (let i = 0; i < 8; i++) putImg(c, phys(c, i), regs[3 * i], regs[3 * i + 1], regs[3 * i + 2]);
}

const DDmem: (Handler | undefined)[] = [
  memForm((c, _i, a) => fldMem(c, a, MemT.F64)),
  fistForm(8, true, true), // FISTTP m64
  memForm((c, _i, a) => { storeFloat(c, a, MemT.F64); }),
  memForm((c, _i, a) => { if (storeFloat(c, a, MemT.F64)) pop(c); }),
  memForm((c, _i, a) => frstor(c, a)),
  undefined,
  memForm((c, _i, a) => fsave(c, a), false), // FNSAVE
  memForm((c, _i, a) => c.m.wr16(a, fswValue(c)), false), // FNSTSW m16
];
defPick(0xdd, OpF.ModRM, 'x87 dd', (i) => {
  if (i.mod === 3) return DDreg[((i.reg & 7) << 3) | (i.rm & 7)];
  const r = i.reg & 7;
  if ((r === 4 || r === 6) && i.opsz === 2) return undefined; // 16-bit FSAVE/FRSTOR layout
  return DDmem[r];
});

const DFreg: (Handler | undefined)[] = new Array(64).fill(undefined);
for (let k = 0; k < 8; k++) {
  DFreg[k] = ffree(true); // FFREEP
  DFreg[0x28 + k] = comi(false, true); // FUCOMIP
  DFreg[0x30 + k] = comi(true, true); // FCOMIP
}
DFreg[0x20] = (c) => {
  // FNSTSW AX
  if (c.ts) throw nmFault();
  c.lo[0] = (c.lo[0] & ~0xffff) | fswValue(c);
};
const DFmem: (Handler | undefined)[] = [
  memForm((c, _i, a) => fldMem(c, a, MemT.I16)),
  fistForm(2, true, true), // FISTTP m16
  fistForm(2, false, false),
  fistForm(2, false, true),
  undefined, // FBLD
  memForm((c, _i, a) => fldMem(c, a, MemT.I64)),
  undefined, // FBSTP
  fistForm(8, false, true),
];
defPick(0xdf, OpF.ModRM, 'x87 df', (i) => (i.mod === 3 ? DFreg[((i.reg & 7) << 3) | (i.rm & 7)] : DFmem[i.reg & 7]));

// FWAIT: #NM under CR0.TS (MP is set in PV guests), #MF with an exception pending.
def(0x9b, 0, 'fwait', (c) => enter(c));
