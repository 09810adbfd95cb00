// The x87 80-bit extended format <-> JS doubles. An image is three int32s: mantissa low,
// mantissa high (bit 63 is the explicit integer bit), sign<<15 | exponent (bias 16383).

import { join64 } from '../u64.js';
import { bit64, lowBits64, shr64, wideHi } from './int64.js';

const CV = new Float64Array(1);
const CI = new Int32Array(CV.buffer);

/** Convert a double to an extended image at f[o..o+2]: exact (every double is representable). */
export function f64ToFp80(v: number, f: Int32Array, o: number): void {
  CV[0] = v;
  const lo = CI[0], hi = CI[1];
  const sign = (hi >>> 31) << 15;
  const e = (hi >>> 20) & 0x7ff;
  let mhi = ((hi & 0xfffff) << 11) | (lo >>> 21);
  let mlo = lo << 11;
  let ex: number;
  if (e === 0x7ff) {
    ex = 0x7fff;
    mhi |= 0x80000000; // infinity, or a NaN whose payload moves up with the quiet bit in place
  } else if (e === 0) {
    if ((mhi | mlo) === 0) {
      ex = 0;
    } else {
      // A double denormal is a normal extended number.
      ex = 1 - 1023 + 16383;
      while ((mhi & 0x80000000) === 0) {
        mhi = (mhi << 1) | (mlo >>> 31);
        mlo <<= 1;
        ex--;
      }
    }
  } else {
    ex = e - 1023 + 16383;
    mhi |= 0x80000000;
  }
  f[o] = mlo;
  f[o + 1] = mhi;
  f[o + 2] = sign | ex;
}

/** Classes of an extended image that matter to the x87 unit. */
export const enum X80 {
  Zero,
  Normal,
  /** Exponent 0 with a non-zero mantissa (denormal or pseudo-denormal). */
  Denormal,
  Inf,
  QNaN,
  SNaN,
  /** Unnormal, pseudo-NaN, pseudo-infinity: invalid operands since the 387. */
  Unsupported,
}

export function classify80(lo: number, hi: number, se: number): X80 {
  const e = se & 0x7fff;
  const top = hi >>> 31;
  if (e === 0x7fff) {
    if (!top) return X80.Unsupported;
    if ((hi & 0x7fffffff) === 0 && lo === 0) return X80.Inf;
    return hi & 0x40000000 ? X80.QNaN : X80.SNaN;
  }
  if (e === 0) return (hi | lo) === 0 ? X80.Zero : X80.Denormal;
  return top ? X80.Normal : X80.Unsupported;
}

/**
 * The double nearest to an extended image (round to nearest even): exact whenever the value
 * is representable. NaNs and unsupported encodings give NaN; values beyond the double range
 * give ±Infinity or ±0.
 */
export function fp80ToF64(lo: number, hi: number, se: number): number {
  const neg = (se & 0x8000) !== 0;
  const cls = classify80(lo, hi, se);
  let v: number;
  switch (cls) {
    case X80.Zero: v = 0; break;
    case X80.Inf: v = Infinity; break;
    case X80.QNaN: case X80.SNaN: case X80.Unsupported: return NaN;
    default: {
      const e = (se & 0x7fff) - 16383; // exponent of the integer bit (denormals: e = -16382 below)
      v = roundMant(lo, hi, cls === X80.Denormal ? -16382 : e);
    }
  }
  return neg ? -v : v;
}

/** mantissa (64 bits, integer bit at 63) * 2^(e - 63), rounded once to a double. */
function roundMant(lo: number, hi: number, e: number): number {
  if (e > 1023) return Infinity;
  if (e < -1075 - 1) return 0;
  // Fast path: a mantissa with at most 53 significant bits in the normal double range is exact.
  // (Scaled in two exact steps: 2^(e-63) alone underflows for small e.)
  if ((lo & 0x7ff) === 0 && e >= -1022) return join64(hi >>> 0, lo) * 2 ** -63 * 2 ** e;
  // Keep 53 bits (fewer for double denormals) and round the rest by hand, ties to even.
  const keep = e >= -1022 ? 53 : 53 - (-1022 - e);
  if (keep <= 0) {
    // Below half the smallest denormal (or exactly half with nothing else: ties to even 0).
    const half = keep === 0 && hi >>> 31 === 1 && ((hi & 0x7fffffff) | lo) !== 0;
    return half ? 2 ** -1074 : 0;
  }
  // m = the top `keep` bits (below 2^53: an exact double), rounded on the dropped ones.
  const drop = 64 - keep;
  const mL = shr64(lo, hi, drop);
  let m = join64(wideHi >>> 0, mL);
  if (bit64(lo, hi, drop - 1) === 1 && (lowBits64(lo, hi, drop - 1) || (mL & 1) === 1)) m++;
  return m * 2 ** (e - keep + 1);
}
