// Multiply and divide: MUL, IMUL (one, two and three operands), DIV, IDIV, with 128-bit
// results for 64-bit operands. No BigInt anywhere (issue 10: distro kernels multiply by 64-bit
// hash constants all the time): 128-bit products are summed from 32x32-bit partial products in
// 32-bit limbs, 128/64 quotients come from a double estimate corrected with exact limb
// arithmetic. Results go through preallocated module scratch (no allocation per instruction).

import type { Cpu } from '../cpu.js';
import { Reg } from '../regs.js';
import { setEagerFlags } from '../flags.js';
import { CpuFault, Vector } from '../fault.js';
import type { Handler, Instr } from '../instr.js';
import { OpF, defPick } from '../optable.js';
import { group3Mul } from './alu.js';
import { getReg, readE, setReg } from './operands.js';
import { neg64, wideHi } from './int64.js';
import { TWO32 } from '../u64.js';

/**
 * High 32 bits (as a uint32 double) of the product of two uint32: a*(b>>>16) and
 * a*(b&0xffff) are below 2^48, so both are exact doubles, and floor((u + floor(t/2^16)) / 2^16)
 * is floor((u*2^16 + t) / 2^32) (nested floors of divisions by powers of two compose).
 */
function mulHiU(a: number, b: number): number {
  return Math.floor((a * (b >>> 16) + Math.floor((a * (b & 0xffff)) / 65536)) / 65536);
}

/** High 32 bits of the unsigned 64-bit product of two uint32, as an int32. */
export function mulHiU32(a: number, b: number): number {
  return mulHiU(a >>> 0, b >>> 0) | 0;
}

/** 128-bit scratch, least significant 32-bit limb first: the product of mul128 and friends. */
const P = new Int32Array(4);

/**
 * Unsigned 64x64 -> 128-bit product into P. Column sums of uint32 partial-product halves stay
 * below 2^34, so they are exact doubles; `| 0` takes them modulo 2^32.
 */
function mul128(aL: number, aH: number, bL: number, bH: number): void {
  const a0 = aL >>> 0, a1 = aH >>> 0, b0 = bL >>> 0, b1 = bH >>> 0;
  const s1 = mulHiU(a0, b0) + (Math.imul(a0, b1) >>> 0) + (Math.imul(a1, b0) >>> 0);
  const s2 = mulHiU(a0, b1) + mulHiU(a1, b0) + (Math.imul(a1, b1) >>> 0) + Math.floor(s1 / TWO32);
  P[0] = Math.imul(a0, b0);
  P[1] = s1 | 0;
  P[2] = s2 | 0;
  P[3] = (mulHiU(a1, b1) + Math.floor(s2 / TWO32)) | 0;
}

/** P's high 64 bits minus (xL, xH), modulo 2^64. */
function subHigh(xL: number, xH: number): void {
  const l = (P[2] >>> 0) - (xL >>> 0);
  P[2] = l | 0;
  P[3] = (P[3] - xH - (l < 0 ? 1 : 0)) | 0;
}

/** Signed 64x64 -> 128-bit product into P: the unsigned product, minus b*2^64 for a negative a
 * and a*2^64 for a negative b (two's complement reinterpretation of each factor). */
function imul128(aL: number, aH: number, bL: number, bH: number): void {
  mul128(aL, aH, bL, bH);
  if (aH < 0) subHigh(bL, bH);
  if (bH < 0) subHigh(aL, aH);
}

/** P holds a signed 128-bit value that is the sign extension of its low 64 bits. */
function fits64(): boolean {
  const s = P[1] >> 31;
  return P[2] === s && P[3] === s;
}

// A double product of the two factors (each rounded to 53 bits, then the product) is within a
// relative 2^-51 of the exact one, so beyond these bounds around 2^63 it decides the signed
// overflow of a truncating 64-bit IMUL by itself; between them the exact product decides.
const SURE_FITS = 2 ** 63 - 2 ** 13;
const SURE_OVERFLOWS = 2 ** 63 + 2 ** 13;

/** Signed overflow of the 64x64 product (IMUL's CF/OF). */
function imul64Overflows(aL: number, aH: number, bL: number, bH: number): boolean {
  // Both factors int32 (sign-extended): |product| <= 2^62, the most common case in compiled code.
  if (aH === aL >> 31 && bH === bL >> 31) return false;
  const p = Math.abs((aH * TWO32 + (aL >>> 0)) * (bH * TWO32 + (bL >>> 0)));
  if (p < SURE_FITS) return false;
  if (p > SURE_OVERFLOWS) return true;
  imul128(aL, aH, bL, bH);
  return !fits64();
}

/**
 * MUL/IMUL: CF = OF = the product did not fit; SF, ZF, AF, PF are undefined (SDM). Recorded
 * lazily like a shift (CF/OF eager, SF/ZF/PF from the low result, AF 0) so no RFLAGS is
 * materialized per multiply. `r` is the destination-sized low result in the lazy-flag
 * representation (1/2-byte values zero-extended).
 */
function mulFlags(c: Cpu, sz: number, r: number, rH: number, overflow: boolean): void {
  const f = overflow ? 1 : 0;
  setEagerFlags(c, sz, r, rH, f, f);
}

function divideError(): CpuFault {
  return new CpuFault(Vector.DE, 0, 0, 'divide error');
}

// ---- division helpers: results in Q (quotient low, high) and R (remainder low, high) ----
const Q = new Int32Array(2);
const R = new Int32Array(2);

/**
 * (nH:nL) / d for uint32 nH < d (so the quotient fits 32 bits) in two 16-bit steps: each
 * partial dividend is below 2^48 and each partial quotient below 2^16, so floor(x / d) of the
 * doubles is exact (the gap to the next integer, >= 1/d, exceeds the rounding error). Quotient
 * returned as a uint32 double, remainder in divRem.
 */
let divRem = 0;
function div64by32(nH: number, nL: number, d: number): number {
  const x = nH * 65536 + (nL >>> 16);
  const q1 = Math.floor(x / d);
  const y = (x - q1 * d) * 65536 + (nL & 0xffff);
  const q0 = Math.floor(y / d);
  divRem = y - q0 * d;
  return q1 * 65536 + q0;
}

/** Makes the double estimate of a quotient an underestimate (its error is below 2^-50). */
const SHRINK = 1 - 2 ** -48;

/** 128-bit work value for the long division, least significant limb first (uint32 doubles). */
const N = new Float64Array(4);

/** N -= (P as a 128-bit value); the caller guarantees no borrow out. */
function subP(): void {
  let borrow = 0;
  for (let k = 0; k < 4; k++) {
    const v = N[k] - (P[k] >>> 0) - borrow;
    borrow = v < 0 ? 1 : 0;
    N[k] = v < 0 ? v + TWO32 : v;
  }
}

/**
 * Unsigned 128/64 division of N by (dL, dH) with N's high 64 bits below the divisor (the
 * quotient fits 64 bits); quotient in Q, remainder in R. Otherwise-slow case: a double estimate
 * of N/d, shrunk by 2^-48 so it never exceeds the true quotient, is added to the quotient and
 * its product with d (exact, 128 bits) subtracted from N; each round leaves at most 2^-47 of
 * what was left, so at most three rounds and a final compare finish it.
 */
function udiv128(dL: number, dH: number): void {
  const d0 = dL >>> 0, d1 = dH >>> 0;
  // Fast path, the dividend below 2^53: floor(n / d) of the doubles is exact, as the rounding
  // error of n / d (at most n/d * 2^-53 < 1/d) is smaller than its distance to the next integer.
  if (N[3] === 0 && N[2] === 0 && N[1] < 0x200000) {
    const n = N[1] * TWO32 + N[0], d = d1 * TWO32 + d0;
    const q = Math.floor(n / d), r = n - q * d;
    Q[0] = q | 0; Q[1] = Math.floor(q / TWO32) | 0;
    R[0] = r | 0; R[1] = Math.floor(r / TWO32) | 0;
    return;
  }
  // Divisor below 2^32: short division by 16-bit digits from the high part (below d) down.
  if (d1 === 0) {
    const qH = div64by32(N[2], N[1], d0);
    const qL = div64by32(divRem, N[0], d0);
    Q[0] = qL | 0; Q[1] = qH | 0;
    R[0] = divRem | 0; R[1] = 0;
    return;
  }
  const dd = d1 * TWO32 + d0;
  let qL = 0, qH = 0;
  for (;;) {
    const n = ((N[3] * TWO32 + N[2]) * TWO32 + N[1]) * TWO32 + N[0];
    const e = Math.floor((n / dd) * SHRINK);
    if (e === 0) break;
    const eH = Math.floor(e / TWO32), eL = e - eH * TWO32;
    mul128(eL, eH, d0, d1);
    subP();
    qL += eL;
    qH += eH;
    if (qL >= TWO32) { qL -= TWO32; qH++; }
  }
  // Now N < 2d: one exact compare and subtract.
  if (N[3] !== 0 || N[2] !== 0 || N[1] > d1 || (N[1] === d1 && N[0] >= d0)) {
    P[0] = d0; P[1] = d1; P[2] = 0; P[3] = 0;
    subP();
    if (++qL === TWO32) { qL = 0; qH++; }
  }
  Q[0] = qL | 0; Q[1] = qH | 0;
  R[0] = N[0] | 0; R[1] = N[1] | 0;
}

/** (aH:aL) >= (bH:bL), unsigned. */
function geU64(aL: number, aH: number, bL: number, bH: number): boolean {
  const x = aH >>> 0, y = bH >>> 0; // int32 and uint32 forms of one limb compare equal here
  return x !== y ? x > y : aL >>> 0 >= bL >>> 0;
}

// ---- one-operand forms (group 3 /4../7) ----
function mul1(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const b = readE(c, i, sz), bH = c.rh;
  switch (sz) {
    case 1: {
      const r = (c.lo[0] & 0xff) * b;
      setReg(c, 0, 2, r, 0);
      mulFlags(c, 1, r & 0xff, 0, r > 0xff);
      return;
    }
    case 2: {
      const r = (c.lo[0] & 0xffff) * b;
      setReg(c, 0, 2, r & 0xffff, 0);
      setReg(c, 2, 2, r >>> 16, 0);
      mulFlags(c, 2, r & 0xffff, 0, r > 0xffff);
      return;
    }
    case 4: {
      const a = c.lo[0];
      const hi = mulHiU32(a, b), lo = Math.imul(a, b);
      setReg(c, 0, 4, lo, 0);
      setReg(c, 2, 4, hi, 0);
      mulFlags(c, 4, lo, 0, hi !== 0);
      return;
    }
    default: {
      mul128(c.lo[0], c.hi[0], b, bH);
      c.lo[0] = P[0]; c.hi[0] = P[1];
      c.lo[2] = P[2]; c.hi[2] = P[3];
      mulFlags(c, 8, P[0], P[1], (P[2] | P[3]) !== 0);
    }
  }
}

function imul1(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const b = readE(c, i, sz), bH = c.rh;
  switch (sz) {
    case 1: {
      const r = ((c.lo[0] << 24) >> 24) * ((b << 24) >> 24);
      setReg(c, 0, 2, r & 0xffff, 0);
      mulFlags(c, 1, r & 0xff, 0, r !== (r << 24) >> 24);
      return;
    }
    case 2: {
      const r = ((c.lo[0] << 16) >> 16) * ((b << 16) >> 16);
      setReg(c, 0, 2, r & 0xffff, 0);
      setReg(c, 2, 2, (r >> 16) & 0xffff, 0);
      mulFlags(c, 2, r & 0xffff, 0, r !== (r << 16) >> 16);
      return;
    }
    case 4: {
      const a = c.lo[0];
      const lo = Math.imul(a, b);
      // Signed high half: the unsigned one minus each factor where the other is negative.
      const hi = (mulHiU32(a, b) - (a < 0 ? b : 0) - (b < 0 ? a : 0)) | 0;
      setReg(c, 0, 4, lo, 0);
      setReg(c, 2, 4, hi, 0);
      mulFlags(c, 4, lo, 0, hi !== lo >> 31);
      return;
    }
    default: {
      imul128(c.lo[0], c.hi[0], b, bH);
      c.lo[0] = P[0]; c.hi[0] = P[1];
      c.lo[2] = P[2]; c.hi[2] = P[3];
      mulFlags(c, 8, P[0], P[1], !fits64());
    }
  }
}

function div1(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const b = readE(c, i, sz), bH = c.rh;
  switch (sz) {
    case 1: {
      if (b === 0) throw divideError();
      const a = c.lo[0] & 0xffff;
      const q = Math.floor(a / b);
      if (q > 0xff) throw divideError();
      setReg(c, 0, 2, ((a % b) << 8) | q, 0);
      return;
    }
    case 2: {
      if (b === 0) throw divideError();
      const a = (c.lo[2] & 0xffff) * 65536 + (c.lo[0] & 0xffff);
      const q = Math.floor(a / b);
      if (q > 0xffff) throw divideError();
      setReg(c, 0, 2, q, 0);
      setReg(c, 2, 2, a % b, 0);
      return;
    }
    case 4: {
      const d = b >>> 0;
      if (d === 0) throw divideError();
      const hi = c.lo[2] >>> 0;
      if (hi >= d) throw divideError(); // the quotient would need more than 32 bits
      const q = div64by32(hi, c.lo[0], d);
      setReg(c, 0, 4, q | 0, 0);
      setReg(c, 2, 4, divRem | 0, 0);
      return;
    }
    default: {
      if ((b | bH) === 0) throw divideError();
      // RDX >= divisor: the quotient would need more than 64 bits.
      if (geU64(c.lo[2], c.hi[2], b, bH)) throw divideError();
      N[0] = c.lo[0] >>> 0; N[1] = c.hi[0] >>> 0; N[2] = c.lo[2] >>> 0; N[3] = c.hi[2] >>> 0;
      udiv128(b, bH);
      c.lo[0] = Q[0]; c.hi[0] = Q[1];
      c.lo[2] = R[0]; c.hi[2] = R[1];
    }
  }
}

function idiv1(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const b = readE(c, i, sz), bH = c.rh;
  switch (sz) {
    case 1: {
      const d = (b << 24) >> 24;
      if (d === 0) throw divideError();
      const a = (c.lo[0] << 16) >> 16;
      const q = Math.trunc(a / d);
      if (q > 127 || q < -128) throw divideError();
      setReg(c, 0, 2, (((a % d) & 0xff) << 8) | (q & 0xff), 0);
      return;
    }
    case 2: {
      const d = (b << 16) >> 16;
      if (d === 0) throw divideError();
      const a = ((c.lo[2] << 16) >> 16) * 65536 + (c.lo[0] & 0xffff);
      const q = Math.trunc(a / d);
      if (q > 32767 || q < -32768) throw divideError();
      setReg(c, 0, 2, q & 0xffff, 0);
      setReg(c, 2, 2, (a % d) & 0xffff, 0);
      return;
    }
    case 4: {
      if (b === 0) throw divideError();
      // Magnitudes: |EDX:EAX| by |divisor|, unsigned, then the signs (quotient truncates toward
      // zero, the remainder takes the dividend's sign).
      const neg = c.lo[2] < 0;
      const mL = neg ? neg64(c.lo[0], c.lo[2]) : c.lo[0], nH = (neg ? wideHi : c.lo[2]) >>> 0;
      const d = Math.abs(b);
      if (nH >= d) throw divideError(); // |quotient| >= 2^32
      const q = div64by32(nH, mL, d);
      const qNeg = neg !== b < 0;
      if (q > (qNeg ? 0x80000000 : 0x7fffffff)) throw divideError();
      setReg(c, 0, 4, qNeg ? -q | 0 : q | 0, 0);
      setReg(c, 2, 4, neg ? -divRem | 0 : divRem | 0, 0);
      return;
    }
    default: {
      if ((b | bH) === 0) throw divideError();
      const neg = c.hi[2] < 0, dNeg = bH < 0;
      // |RDX:RAX| into N (two's complement negation across four limbs).
      let carry = neg ? 1 : 0;
      const flip = neg ? -1 : 0;
      const src0 = c.lo[0], src1 = c.hi[0], src2 = c.lo[2], src3 = c.hi[2];
      carry = negLimb(0, src0 ^ flip, carry);
      carry = negLimb(1, src1 ^ flip, carry);
      carry = negLimb(2, src2 ^ flip, carry);
      negLimb(3, src3 ^ flip, carry);
      // |divisor| (INT64_MIN stays 2^63 as an unsigned value).
      const dL = dNeg ? neg64(b, bH) : b, dH2 = dNeg ? wideHi : bH;
      // |dividend| / |divisor| >= 2^64 fails every signed range.
      if (geU64(N[2], N[3], dL, dH2)) throw divideError();
      udiv128(dL, dH2);
      const qNeg = neg !== dNeg;
      // |quotient| at most 2^63 - 1, or 2^63 for a negative one.
      if (Q[1] < 0 && !(qNeg && Q[1] === -0x80000000 && Q[0] === 0)) throw divideError();
      if (qNeg) negate64(Q);
      if (neg) negate64(R);
      c.lo[0] = Q[0]; c.hi[0] = Q[1];
      c.lo[2] = R[0]; c.hi[2] = R[1];
    }
  }
}

/** N[k] = (v as uint32) + carry, modulo 2^32; returns the carry out. */
function negLimb(k: number, v: number, carry: number): number {
  const s = (v >>> 0) + carry;
  N[k] = s === TWO32 ? 0 : s;
  return s === TWO32 ? 1 : 0;
}

/** Two's complement negation of a 64-bit (low, high) pair in place. */
function negate64(x: Int32Array): void {
  x[0] = neg64(x[0], x[1]);
  x[1] = wideHi;
}

group3Mul[4] = mul1;
group3Mul[5] = imul1;
group3Mul[6] = div1;
group3Mul[7] = idiv1;

// ---- two- and three-operand IMUL: destination is a register, result truncated ----
function imulTrunc(c: Cpu, i: Instr, a: number, aH: number, b: number, bH: number): void {
  const sz = i.opsz;
  if (sz === 8) {
    imulRR64(c, i.reg, a, aH, b, bH);
  } else if (sz === 4) {
    const lo = Math.imul(a, b);
    setReg(c, i.reg, 4, lo, 0);
    mulFlags(c, 4, lo, 0, a * b !== lo); // exact below 2^53, and certainly unequal above
  } else {
    const r = ((a << 16) >> 16) * ((b << 16) >> 16);
    setReg(c, i.reg, 2, r & 0xffff, 0);
    mulFlags(c, 2, r & 0xffff, 0, r !== (r << 16) >> 16);
  }
}

const imul2: Handler = (c, i) => {
  const sz = i.opsz;
  const b = readE(c, i, sz), bH = c.rh;
  const a = getReg(c, i.reg, sz), aH = c.rh;
  imulTrunc(c, i, a, aH, b, bH);
};
const imul3: Handler = (c, i) => {
  const sz = i.opsz;
  const a = readE(c, i, sz), aH = c.rh;
  imulTrunc(c, i, a, aH, i.imm, i.immHi);
};
// IMUL r64, r64 and IMUL r64, r64, imm (hash_64() and friends in distro kernels) get their own
// handlers: no operand-size switches and no c.rh round trips on the hot form.
const imul2rr64: Handler = (c, i) => {
  const lo = c.lo, hi = c.hi;
  imulRR64(c, i.reg, lo[i.reg], hi[i.reg], lo[i.rm], hi[i.rm]);
};
const imul3rr64: Handler = (c, i) => {
  imulRR64(c, i.reg, c.lo[i.rm], c.hi[i.rm], i.imm, i.immHi);
};
function imulRR64(c: Cpu, r: number, a: number, aH: number, b: number, bH: number): void {
  const overflow = imul64Overflows(a, aH, b, bH);
  const rl = Math.imul(a, b);
  const rh = (mulHiU32(a, b) + Math.imul(a, bH) + Math.imul(aH, b)) | 0;
  c.lo[r] = rl;
  c.hi[r] = rh;
  mulFlags(c, 8, rl, rh, overflow);
}
defPick(0x1af, OpF.ModRM, 'imul', (i) => (i.mod === 3 && i.opsz === 8 ? imul2rr64 : imul2));
defPick(0x69, OpF.ModRM | OpF.Iz, 'imul', (i) => (i.mod === 3 && i.opsz === 8 ? imul3rr64 : imul3));
defPick(0x6b, OpF.ModRM | OpF.Ib, 'imul', (i) => (i.mod === 3 && i.opsz === 8 ? imul3rr64 : imul3));

export { Reg };
