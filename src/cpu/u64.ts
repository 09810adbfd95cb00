// 64-bit values as two int32 halves (the registers' form) and as one JS number (addresses and
// counts, exact below 2^53): the one place the 2^32 arithmetic between them is written.

/** 2^32, the weight of the high half. */
export const TWO32 = 4294967296;

/** hi:lo as a number; a signed hi gives a signed result (canonical addresses stay exact). */
export function join64(hi: number, lo: number): number {
  return hi * TWO32 + (lo >>> 0);
}

/** The high half of a number, as int32 (floor: negative numbers borrow from it). */
export function hi32(v: number): number {
  return Math.floor(v / TWO32) | 0;
}
