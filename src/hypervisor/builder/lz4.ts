/**
 * LZ4 "legacy" frames, the format `lz4 -l` writes and Linux uses for CONFIG_KERNEL_LZ4 (Debian's
 * cloud kernels): the magic 0x184C2102, then blocks of [u32 compressed size][LZ4 block], each
 * block independent (no references into earlier blocks). A repeated magic starts another frame.
 * The walk follows libxenguest (tools/libs/guest/xg_dom_bzimageloader.c, xc_try_lz4_decode);
 * the block decoder is written here because it is small and must write into a buffer whose
 * size was bounded in advance.
 */
import { fail } from './errors.js';
import { hex, readU32 } from './u64.js';

export const LZ4_LEGACY_MAGIC = 0x184c2102;

/**
 * Decodes the frames in `input` into exactly `outSize` bytes (the size Linux appends after the
 * compressed data); any block that would write past it is an error.
 */
export function decodeLz4Legacy(input: Uint8Array, outSize: number): Uint8Array {
  if (input.length < 4 || readU32(input, 0) !== LZ4_LEGACY_MAGIC) fail('lz4 payload lacks the legacy frame magic 0x184c2102');
  const out = new Uint8Array(outSize);
  let p = 4;
  let o = 0;
  while (p < input.length) {
    if (p + 4 > input.length) fail(`truncated lz4 payload: block size field at ${hex(p)} is cut off`);
    const chunk = readU32(input, p);
    p += 4;
    if (chunk === LZ4_LEGACY_MAGIC) continue;
    if (chunk > input.length - p) {
      fail(`truncated lz4 payload: block at ${hex(p - 4)} claims ${chunk} bytes, ${input.length - p} remain`);
    }
    o = decodeLz4Block(input, p, p + chunk, out, o);
    p += chunk;
  }
  if (o !== outSize) fail(`corrupt lz4 payload: decompressed to ${o} bytes but the size trailer says ${outSize}`);
  return out;
}

/**
 * One LZ4 block: sequences of [token][literal length ext][literals][offset u16][match length ext];
 * the last sequence carries only literals. Returns the new output position.
 */
export function decodeLz4Block(src: Uint8Array, start: number, end: number, dst: Uint8Array, dstStart: number): number {
  let s = start;
  let d = dstStart;
  const bad = (what: string): never => fail(`corrupt lz4 payload: ${what} in the block at payload offset ${hex(start - 4)}`);
  if (s >= end) bad('empty block');
  for (;;) {
    const token = src[s++];
    let lit = token >>> 4;
    if (lit === 15) {
      let byte: number;
      do {
        if (s >= end) bad('literal length runs past the block');
        byte = src[s++];
        lit += byte;
      } while (byte === 255);
    }
    if (lit > end - s) bad('literals run past the block');
    if (lit > dst.length - d) bad('output larger than the size trailer');
    // Most literal runs and matches are a few bytes: a plain loop beats subarray()+set() there.
    if (lit < 32) {
      for (let k = 0; k < lit; k++) dst[d + k] = src[s + k];
    } else {
      dst.set(src.subarray(s, s + lit), d);
    }
    s += lit;
    d += lit;
    if (s === end) return d;

    if (end - s < 2) bad('match offset cut off');
    const offset = src[s] | (src[s + 1] << 8);
    s += 2;
    if (offset === 0 || offset > d - dstStart) bad(`match offset ${offset} points before the block`);
    let len = token & 15;
    if (len === 15) {
      let byte: number;
      do {
        if (s >= end) bad('match length runs past the block');
        byte = src[s++];
        len += byte;
      } while (byte === 255);
    }
    len += 4;
    if (len > dst.length - d) bad('output larger than the size trailer');
    const from = d - offset;
    if (offset >= len && len >= 32) {
      dst.copyWithin(d, from, from + len);
    } else {
      // Short, or overlapping (repeating the last `offset` bytes): copy forwards byte by byte.
      for (let k = 0; k < len; k++) dst[d + k] = dst[from + k];
    }
    d += len;
    if (s >= end) bad('block ends after a match (the last sequence must be literals)');
  }
}
