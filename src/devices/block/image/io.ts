// Positional file I/O helpers shared by the raw and qcow2 images, plus the per-image request
// queue.

import { stat, type FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { DiskImageError, ioError } from './types.js';

/**
 * Checks that `path` is a regular file (or, where allowed, a block device) before anything opens
 * it: opening a FIFO or a character device could block a libuv thread indefinitely.
 */
export async function statImage(path: string, what: string, allowBlockDevice: boolean): Promise<Stats> {
  let st: Stats;
  try {
    st = await stat(path);
  } catch (err) {
    throw ioError(what, path, err);
  }
  if (st.isFile() || (allowBlockDevice && st.isBlockDevice())) return st;
  if (st.isDirectory()) throw new DiskImageError('EINVAL', `${what}: ${path} is a directory`);
  throw new DiskImageError('EINVAL', `${what}: ${path} is not a regular file${allowBlockDevice ? ' or block device' : ''}`);
}

/**
 * Reads buf.length bytes at `position`. Bytes past the end of the file read as zero: a sparse
 * or not-yet-extended image legitimately ends before its last cluster/sector.
 * Returns how many bytes actually came from the file.
 */
export async function readFull(fh: FileHandle, buf: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  if (done < buf.length) buf.fill(0, done);
  return done;
}

/** Writes all of buf at `position` (a regular file may in principle accept a short write). */
export async function writeFull(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    if (bytesWritten === 0) throw new Error(`short write at offset ${position + done}`);
    done += bytesWritten;
  }
}

export function isAllZero(buf: Uint8Array, start = 0, end = buf.length): boolean {
  // Word-at-a-time when aligned: zero-detection runs on every raw write and every COW.
  let i = start;
  if ((buf.byteOffset + i) % 4 === 0) {
    const words = Math.floor((end - i) / 4);
    const u32 = new Uint32Array(buf.buffer, buf.byteOffset + i, words);
    for (let w = 0; w < words; w++) if (u32[w] !== 0) return false;
    i += words * 4;
  }
  for (; i < end; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * Runs async jobs one at a time in submission order. A failed job does not stop later ones:
 * each request reports its own error.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(job: () => Promise<T>): Promise<T> {
    const result = this.tail.then(job);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
