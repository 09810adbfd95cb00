// 64-bit integer helpers on 32-bit halves (lo, hi as int32), for the instructions that need
// shifts by any count, bit tests, rounding of wide mantissas or negation without BigInt (issue
// 10: no BigInt on a path a guest reaches per instruction). A result's high half goes to the
// live binding `wideHi`; each call first moves the previous one to `wideHiPrev`, so
// `shl64(..) | shr64(..)` with `wideHi | wideHiPrev` combines two results without allocating.

export let wideHi = 0;
export let wideHiPrev = 0;

/** (lo, hi) << n for n >= 0 (64 and above give 0); low half returned. */
export function shl64(lo: number, hi: number, n: number): number {
  wideHiPrev = wideHi;
  if (n === 0) { wideHi = hi; return lo; }
  if (n < 32) { wideHi = (hi << n) | (lo >>> (32 - n)); return lo << n; }
  wideHi = n < 64 ? lo << (n - 32) : 0; // JS shift counts are taken mod 32
  return 0;
}

/** (lo, hi) >>> n (logical) for n >= 0 (64 and above give 0); low half returned. */
export function shr64(lo: number, hi: number, n: number): number {
  wideHiPrev = wideHi;
  if (n === 0) { wideHi = hi; return lo; }
  if (n < 32) { wideHi = (hi >>> n) | 0; return (lo >>> n) | (hi << (32 - n)); }
  wideHi = 0;
  return n < 64 ? (hi >>> (n - 32)) | 0 : 0;
}

/** Bit k (0..63) of a 64-bit value. */
export function bit64(lo: number, hi: number, k: number): number {
  return k < 32 ? (lo >>> k) & 1 : (hi >>> (k - 32)) & 1;
}

/** Some bit below bit k (k >= 0; 64 and above: the whole value) is set. */
export function lowBits64(lo: number, hi: number, k: number): boolean {
  if (k <= 0) return false;
  if (k < 32) return (lo & ((1 << k) - 1)) !== 0;
  if (lo !== 0) return true;
  return k < 64 ? (hi & (2 ** (k - 32) - 1)) !== 0 : hi !== 0;
}

/** Two's complement negation: low half returned, high half in wideHi. */
export function neg64(lo: number, hi: number): number {
  wideHiPrev = wideHi;
  wideHi = (~hi + (lo === 0 ? 1 : 0)) | 0;
  return -lo | 0;
}
