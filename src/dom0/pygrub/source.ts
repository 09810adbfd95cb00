// Random-access byte sources: what the partition and file-system readers read from.
//
// Everything below works on `read(offset, length)` over a source with a known size, so the same
// code reads a raw file, a qcow2 image (through src/devices/block/image) or a slice of either
// (a partition). Each source has a human name that ends up in error messages.

import { DiskImageError, SECTOR_SIZE, type DiskImage } from '../../devices/block/image/index.js';
import { PygrubError } from './errors.js';

export interface ByteSource {
  /** Used in messages: "disk.img", "disk.img partition 2". */
  readonly name: string;
  readonly size: number;
  /** Exactly `length` bytes from `offset`; a request past the end is an error, never short. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

// One request to the image layer at most this big: a 60 MB initrd is read in pieces, so a single
// read never needs a second buffer of the whole file next to the result.
const MAX_CHUNK = 8 << 20;

function checkRange(src: { name: string; size: number }, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new PygrubError('EFS', `${src.name}: bad read of ${length} bytes at ${offset}`);
  }
  if (offset + length > src.size) {
    throw new PygrubError(
      'EDISK',
      `${src.name}: read of bytes [${offset}, ${offset + length}) is past the end ` +
        `(${src.size} bytes; truncated image?)`,
    );
  }
}

/** A disk image opened by src/devices/block/image, read in whole sectors underneath. */
export function diskSource(image: DiskImage, name: string): ByteSource {
  const size = image.sectorCount * SECTOR_SIZE;
  return {
    name,
    size,
    async read(offset, length) {
      checkRange({ name, size }, offset, length);
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const pos = offset + done;
        const first = Math.floor(pos / SECTOR_SIZE);
        const skip = pos - first * SECTOR_SIZE;
        const want = Math.min(length - done, MAX_CHUNK);
        const sectors = Math.ceil((skip + want) / SECTOR_SIZE);
        const buf = new Uint8Array(sectors * SECTOR_SIZE);
        try {
          await image.read(first, buf);
        } catch (err) {
          const detail = err instanceof DiskImageError ? err.message : String(err);
          throw new PygrubError('EDISK', `${name}: reading bytes at ${pos}: ${detail}`, { cause: err });
        }
        out.set(buf.subarray(skip, skip + want), done);
        done += want;
      }
      return out;
    },
  };
}

/** Bytes [offset, offset + size) of `parent`, as a source of its own (a partition). */
export function sliceSource(parent: ByteSource, offset: number, size: number, name: string): ByteSource {
  const avail = Math.max(0, Math.min(size, parent.size - offset));
  return {
    name,
    size: avail,
    read(off, length) {
      checkRange({ name, size: avail }, off, length);
      return parent.read(offset + off, length);
    },
  };
}

/** A source over bytes in memory (config parsing tests, inline data). */
export function bufferSource(bytes: Uint8Array, name: string): ByteSource {
  return {
    name,
    size: bytes.length,
    read(offset, length) {
      checkRange({ name, size: bytes.length }, offset, length);
      return Promise.resolve(bytes.slice(offset, offset + length));
    },
  };
}
