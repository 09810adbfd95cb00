/**
 * What the guest kernel will make of an initrd, checked before the domain is built: Linux's
 * unpack_to_rootfs (init/initramfs.c, 6.1) reads a sequence of members, each a "newc" cpio
 * archive (magic 070701, or 070702 with checksums) ending in TRAILER!!!, or a compressed
 * stream of one (gzip, bzip2, lzma, xz, lzo, lz4, zstd: decompress.c's magics), with zero
 * padding between members. Anything else makes it panic or boot without its root file system
 * long after `xm create` said the domain started, so the toolstack refuses it up front. A
 * compressed member is checked by its magic, and a gzip one also decompressed in full (the
 * format Node reads itself); the others are the kernel's to unpack.
 */
import { gunzipSync } from 'node:zlib';
import { detectCompression } from './decompress.js';

const CPIO_HEADER = 110;
const NEWC = '070701';
const NEWC_CRC = '070702';
const TRAILER = 'TRAILER!!!';
/** A cpio member name longer than this is no initramfs (PATH_MAX). */
const PATH_MAX = 4096;

export class InitrdError extends Error {
  override readonly name = 'InitrdError';
}

const align4 = (n: number): number => (n + 3) & ~3;

/** Throws an InitrdError saying where and why `initrd` is not something Linux can unpack. */
export function checkInitrd(initrd: Uint8Array, name: string): void {
  if (initrd.length === 0) throw new InitrdError(`${name}: the initrd is empty`);
  const latin1 = (at: number, n: number): string => Buffer.from(initrd.buffer, initrd.byteOffset + at, n).toString('latin1');
  let at = 0;
  let members = 0;
  while (at < initrd.length) {
    // Zero padding between members (unpack_to_rootfs skips it four bytes at a time).
    if (initrd[at] === 0) {
      at++;
      continue;
    }
    const compression = detectCompression(initrd.subarray(at));
    if (compression !== undefined) {
      if (compression === 'gzip') {
        try {
          gunzipSync(initrd.subarray(at));
        } catch (e) {
          throw new InitrdError(`${name}: the gzip stream at byte ${at} is corrupt (${(e as Error).message})`);
        }
      }
      return; // The kernel hands the rest to the decompressor, which consumes it.
    }
    const magic = initrd.length - at >= 6 ? latin1(at, 6) : '';
    if (magic !== NEWC && magic !== NEWC_CRC) {
      const seen = Array.from(initrd.subarray(at, at + 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
      throw new InitrdError(
        `${name}: not an initramfs at byte ${at} (found ${seen}; expected a newc cpio archive or a gzip, xz, zstd, lz4, bzip2, lzma or lzo stream)`,
      );
    }
    at = skipCpio(initrd, at, name, latin1);
    members++;
  }
  if (members === 0) throw new InitrdError(`${name}: the initrd holds only zeros`);
}

/** Walks one newc archive from `at` to just after its TRAILER!!! entry; returns that offset. */
function skipCpio(b: Uint8Array, at: number, name: string, latin1: (at: number, n: number) => string): number {
  for (;;) {
    if (b.length - at < CPIO_HEADER) throw new InitrdError(`${name}: cpio archive truncated at byte ${at} (a header needs ${CPIO_HEADER} bytes)`);
    const magic = latin1(at, 6);
    if (magic !== NEWC && magic !== NEWC_CRC) throw new InitrdError(`${name}: cpio header at byte ${at} has no newc magic (broken archive)`);
    const field = (k: number): number => {
      const s = latin1(at + 6 + k * 8, 8);
      if (!/^[0-9a-fA-F]{8}$/.test(s)) throw new InitrdError(`${name}: cpio header at byte ${at}: field ${k} '${s}' is not hexadecimal`);
      return Number.parseInt(s, 16);
    };
    const fileSize = field(6);
    const nameSize = field(11);
    if (nameSize === 0 || nameSize > PATH_MAX) throw new InitrdError(`${name}: cpio header at byte ${at}: name size ${nameSize}`);
    const nameAt = at + CPIO_HEADER;
    const dataAt = align4(nameAt + nameSize);
    const next = align4(dataAt + fileSize);
    if (nameAt + nameSize > b.length || dataAt + fileSize > b.length) {
      throw new InitrdError(`${name}: cpio entry at byte ${at} runs past the end of the ${b.length}-byte initrd (truncated)`);
    }
    const entry = latin1(nameAt, nameSize - 1);
    at = Math.min(next, b.length);
    if (entry === TRAILER) return at;
  }
}
