/**
 * Kernel payload decompression, recognising formats by magic in the order libxenguest tries
 * them (tools/libs/guest/xg_dom_bzimageloader.c, xc_dom_probe_bzimage_kernel).
 *
 * Linux appends the decompressed size as a little-endian u32 after every compressed payload
 * except gzip, whose own trailer (ISIZE) already ends in it (arch/x86/boot/compressed/Makefile,
 * *_with_size). Like libxenguest we read that size first, refuse it if it is over the limit,
 * decode into at most that many bytes and insist the result is exactly that long: a hostile
 * image can neither make the host allocate more than the limit nor hand back a short kernel.
 */
import { gunzipSync } from 'node:zlib';
import { fail, ImageFormatError } from './errors.js';
import { decodeLz4Legacy, LZ4_LEGACY_MAGIC } from './lz4.js';
import { readU32 } from './u64.js';
import { decodeXz } from './xz.js';

/** What the loader can decode. */
export type KernelCompression = 'gzip' | 'xz' | 'lz4' | 'none';
/** Every format a Linux bzImage may use (and libxenguest recognises). */
export type PayloadFormat = Exclude<KernelCompression, 'none'> | 'bzip2' | 'lzma' | 'lzo' | 'zstd';

/**
 * Refuse kernels that decompress to more than this. libxenguest's default is 1 GiB
 * (XC_DOM_DECOMPRESS_MAX); a PV vmlinux is tens of MiB, so half of that is plenty.
 */
export const MAX_DECOMPRESSED_BYTES = 512 * 1024 * 1024;

const MAGICS: ReadonlyArray<readonly [PayloadFormat, readonly number[]]> = [
  ['gzip', [0x1f, 0x8b]],
  ['bzip2', [0x42, 0x5a, 0x68]], // "BZh"
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['lzma', [0x5d, 0x00]],
  ['lzo', [0x89, 0x4c, 0x5a, 0x4f]], // lzop's "\x89LZO"
  ['lz4', [LZ4_LEGACY_MAGIC & 0xff, (LZ4_LEGACY_MAGIC >>> 8) & 0xff]],
];

export function detectCompression(b: Uint8Array): PayloadFormat | undefined {
  for (const [format, magic] of MAGICS) {
    if (b.length >= magic.length && magic.every((v, i) => b[i] === v)) return format;
  }
  return undefined;
}

export interface Decompressed {
  data: Uint8Array;
  compression: Exclude<KernelCompression, 'none'>;
}

export function describeLimit(limit: number): string {
  const mib = 1024 * 1024;
  return limit % mib === 0 ? `${limit / mib} MiB` : `${limit} bytes`;
}

/** Decompresses a bzImage payload (or a gzipped vmlinux), refusing outputs over `limit` bytes. */
export function decompressPayload(payload: Uint8Array, limit = MAX_DECOMPRESSED_BYTES): Decompressed {
  const format = detectCompression(payload);
  if (format === undefined) {
    const head = Array.from(payload.subarray(0, 6), (v) => v.toString(16).padStart(2, '0')).join(' ');
    fail(`unknown kernel compression (payload starts with ${head})`);
  }
  if (format !== 'gzip' && format !== 'xz' && format !== 'lz4') {
    fail(`unsupported kernel compression: ${format} (supported: gzip, xz, lz4)`);
  }
  if (payload.length < 8) fail(`truncated payload: ${payload.length} bytes of ${format} data`);
  const expected = readU32(payload, payload.length - 4);
  if (expected > limit) {
    fail(`decompressed kernel would be ${expected} bytes by its size trailer, over the ${describeLimit(limit)} limit`);
  }
  if (expected === 0) fail(`corrupt ${format} payload: its size trailer says 0 bytes`);

  let data: Uint8Array;
  switch (format) {
    case 'gzip':
      data = gunzip(payload, expected);
      break;
    case 'xz':
      data = decodeXz(payload.subarray(0, payload.length - 4), expected,
        `the ${expected} bytes its size trailer records`).data;
      break;
    case 'lz4':
      data = decodeLz4Legacy(payload.subarray(0, payload.length - 4), expected);
      break;
  }
  if (data.length !== expected) {
    fail(`corrupt ${format} payload: decompressed to ${data.length} bytes but the size trailer says ${expected}`);
  }
  return { data, compression: format };
}

function gunzip(payload: Uint8Array, expected: number): Uint8Array {
  try {
    return gunzipSync(payload, { maxOutputLength: expected });
  } catch (e) {
    if (e instanceof ImageFormatError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_BUFFER_TOO_LARGE') {
      fail(`corrupt gzip payload: it decompresses to more than the ${expected} bytes its size trailer records`);
    }
    if (err.code === 'Z_BUF_ERROR') fail(`truncated payload: the gzip stream ends early (${err.message})`);
    return fail(`corrupt gzip payload: ${err.message}`);
  }
}
