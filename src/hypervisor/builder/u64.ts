/**
 * 64-bit helpers for the loader. Kernel addresses such as 0xffffffff80000000 do not fit a JS
 * number, so the loader keeps them as bigint; these helpers read them from bytes, do the
 * modulo-2^64 arithmetic that libelf does in uint64_t, and split them for code that works in
 * 32-bit halves.
 */
import { fail } from './errors.js';

export const U64_MASK = (1n << 64n) - 1n;

/** Wraps like C's uint64_t arithmetic. */
export function u64(v: bigint): bigint {
  return BigInt.asUintN(64, v);
}

export function hex(v: bigint | number): string {
  return '0x' + v.toString(16);
}

/** { hi, lo } 32-bit halves, both as unsigned numbers. */
export function splitU64(v: bigint): { hi: number; lo: number } {
  const x = u64(v);
  return { hi: Number(x >> 32n), lo: Number(x & 0xffffffffn) };
}

export function joinU64(hi: number, lo: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** A bigint as a number, for sizes and file offsets; refuses values a number cannot hold. */
export function toNumber(v: bigint, what: string): number {
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} ${hex(v)} is out of range`);
  return Number(v);
}

export function readU16(b: Uint8Array, off: number): number {
  return b[off] | (b[off + 1] << 8);
}

export function readU32(b: Uint8Array, off: number): number {
  return (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
}

export function readU64(b: Uint8Array, off: number): bigint {
  return joinU64(readU32(b, off + 4), readU32(b, off));
}

/** Reads an unsigned little-endian value of 1, 2, 4 or 8 bytes. */
export function readUnsigned(b: Uint8Array, off: number, size: number): bigint {
  switch (size) {
    case 1: return BigInt(b[off]);
    case 2: return BigInt(readU16(b, off));
    case 4: return BigInt(readU32(b, off));
    case 8: return readU64(b, off);
    default: return fail(`cannot read a ${size}-byte integer`);
  }
}
