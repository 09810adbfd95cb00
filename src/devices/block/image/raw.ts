// Raw disk images: the guest's sector N is the file's bytes [N*512, N*512+512).

import { open, readFile, type FileHandle } from 'node:fs/promises';
import {
  DiskImageError,
  SECTOR_SIZE,
  bufferSectors,
  checkRange,
  ioError,
  toSafeInteger,
  type DiskImage,
  type SectorNumber,
} from './types.js';
import { isAllZero, readFull, statImage, writeFull } from './io.js';

// Zero-detection granularity: the usual file-system block size, so a skipped chunk is a chunk
// the file system would otherwise have had to allocate.
const ZERO_GRANULE = 4096;

export interface RawOpenOptions {
  readOnly: boolean;
  /**
   * The format was guessed by probing rather than named by the caller. Then a guest must not be
   * able to turn its disk into something that probes as another format (say a qcow2 header whose
   * backing file is a host file), so writes of a qcow2 magic into sector 0 are refused, as QEMU
   * does for probed raw images (block/raw-format.c, raw_co_pwritev's probe check).
   */
  probed?: boolean;
}

const QCOW_MAGIC = [0x51, 0x46, 0x49, 0xfb];

export class RawImage implements DiskImage {
  readonly format = 'raw' as const;
  private closed = false;
  private readonly inflight = new Set<Promise<unknown>>();

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly sectorCount: number,
    readonly readOnly: boolean,
    private readonly regularFile: boolean,
    private readonly probed: boolean,
  ) {}

  static async open(path: string, options: RawOpenOptions): Promise<RawImage> {
    await statImage(path, 'opening raw image', true);
    let fh: FileHandle;
    try {
      fh = await open(path, options.readOnly ? 'r' : 'r+');
    } catch (err) {
      throw ioError('opening raw image', path, err);
    }
    try {
      const st = await fh.stat();
      let bytes: number;
      if (st.isFile()) {
        bytes = st.size;
      } else if (st.isBlockDevice()) {
        bytes = await blockDeviceBytes(path, st.rdev);
      } else {
        throw new DiskImageError('EINVAL', `raw image ${path} is neither a regular file nor a block device`);
      }
      // A trailing partial sector is not part of the disk: Xen's blkback reaches file: images
      // through a loop device, whose size is the file size rounded down to whole sectors
      // (Linux drivers/block/loop.c, get_size()).
      const sectors = Math.floor(bytes / SECTOR_SIZE);
      return new RawImage(path, fh, sectors, options.readOnly, st.isFile(), options.probed ?? false);
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw ioError('opening raw image', path, err);
    }
  }

  read(sector: SectorNumber, buf: Uint8Array): Promise<void> {
    return this.track(async () => {
      const [first] = checkRange(this, 'read', sector, bufferSectors('read', buf));
      try {
        await readFull(this.fh, buf, first * SECTOR_SIZE);
      } catch (err) {
        throw ioError('read', this.path, err);
      }
    });
  }

  write(sector: SectorNumber, buf: Uint8Array): Promise<void> {
    return this.track(async () => {
      this.checkWritable('write');
      const [first, count] = checkRange(this, 'write', sector, bufferSectors('write', buf));
      if (count === 0) return;
      if (this.probed && first === 0 && QCOW_MAGIC.every((b, i) => buf[i] === b)) {
        throw new DiskImageError(
          'EACCES',
          `write: refusing to put a qcow2 header into sector 0 of ${this.path}, whose raw format ` +
            `was only probed; open it with format 'raw' to allow this`,
        );
      }
      try {
        if (this.regularFile) await this.writeKeepingHoles(first * SECTOR_SIZE, buf);
        else await writeFull(this.fh, buf, first * SECTOR_SIZE);
      } catch (err) {
        throw ioError('write', this.path, err);
      }
    });
  }

  flush(): Promise<void> {
    return this.track(async () => {
      if (this.readOnly) return;
      try {
        // fdatasync covers the data and the metadata needed to read it back (size, block map).
        await this.fh.datasync();
      } catch (err) {
        throw ioError('flush', this.path, err);
      }
    });
  }

  discard(sector: SectorNumber, count: SectorNumber): Promise<void> {
    return this.track(async () => {
      this.checkWritable('discard');
      checkRange(this, 'discard', sector, count);
      // Deliberately a successful no-op: punching a hole needs fallocate(FALLOC_FL_PUNCH_HOLE),
      // which Node does not expose, and spawning fallocate(1) per request would cost far more
      // than the space it returns. blkif discard leaves the content unspecified, so keeping the
      // old data is a valid outcome.
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inflight]);
    try {
      await this.fh.close();
    } catch (err) {
      throw ioError('close', this.path, err);
    }
  }

  private track(job: () => Promise<void>): Promise<void> {
    if (this.closed) {
      return Promise.reject(new DiskImageError('ECLOSED', `${this.path} is closed`));
    }
    const p = job();
    this.inflight.add(p);
    const done = (): void => void this.inflight.delete(p);
    p.then(done, done);
    return p;
  }

  private checkWritable(op: string): void {
    if (this.readOnly) {
      throw new DiskImageError('EROFS', `${op}: ${this.path} is opened read-only`);
    }
  }

  /**
   * Writes buf at pos, except for file-system-block-sized pieces that are all zero and already
   * read as zero (a hole, or zeros written before): writing them would only turn holes into
   * allocated blocks. Guests zero large ranges (mkfs, dd if=/dev/zero, blkdev_issue_zeroout
   * without write-zeroes support), which on a sparse image would otherwise fill it up.
   */
  private async writeKeepingHoles(pos: number, buf: Uint8Array): Promise<void> {
    // Cut the request at ZERO_GRANULE boundaries of the file and classify each piece.
    const cuts: number[] = [0];
    for (let b = (Math.floor(pos / ZERO_GRANULE) + 1) * ZERO_GRANULE - pos; b < buf.length; b += ZERO_GRANULE) {
      cuts.push(b);
    }
    cuts.push(buf.length);
    const pieces = cuts.length - 1;
    const needed: boolean[] = new Array<boolean>(pieces);
    let i = 0;
    while (i < pieces) {
      if (!isAllZero(buf, cuts[i]!, cuts[i + 1]!)) {
        needed[i++] = true;
        continue;
      }
      // A run of zero pieces: read what is there in one go.
      let j = i;
      while (j < pieces && isAllZero(buf, cuts[j]!, cuts[j + 1]!)) j++;
      const existing = new Uint8Array(cuts[j]! - cuts[i]!);
      await readFull(this.fh, existing, pos + cuts[i]!);
      for (let k = i; k < j; k++) {
        needed[k] = !isAllZero(existing, cuts[k]! - cuts[i]!, cuts[k + 1]! - cuts[i]!);
      }
      i = j;
    }
    for (let k = 0; k < pieces; ) {
      if (!needed[k]) {
        k++;
        continue;
      }
      let e = k;
      while (e < pieces && needed[e]) e++;
      await writeFull(this.fh, buf.subarray(cuts[k]!, cuts[e]!), pos + cuts[k]!);
      k = e;
    }
  }
}

/** Size of a block device from sysfs (Node has no BLKGETSIZE64 ioctl). */
async function blockDeviceBytes(path: string, rdev: number): Promise<number> {
  // glibc's gnu_dev_major/gnu_dev_minor encoding of dev_t.
  const dev = BigInt(rdev);
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  const sysfs = `/sys/dev/block/${major}:${minor}/size`;
  let text: string;
  try {
    text = await readFile(sysfs, 'utf8');
  } catch (err) {
    throw new DiskImageError('EIO', `cannot size block device ${path}: reading ${sysfs} failed`, {
      cause: err,
    });
  }
  // sysfs reports 512-byte sectors whatever the device's logical block size.
  return toSafeInteger(BigInt(text.trim()) * 512n, `size of block device ${path}`);
}
