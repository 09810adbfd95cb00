import { errorMessage } from '../../../hypervisor/errors.js';
// The disk-image layer that the block backend (blkback) serves blkif requests from.
//
// Sync or async? Every method here is async and built on node:fs/promises. blkback runs on the
// Node main thread next to xenstored, xenconsoled, xend's control socket and the net backend; a
// synchronous pread of a cold cluster (or an fdatasync, which can take tens of milliseconds on a
// real disk) would stall all of them. With fs/promises the blocking part runs on libuv's thread
// pool and the main thread only sees completions. Each image orders its own requests (raw: fully
// independent positional I/O; qcow2: one serial queue, because a request may update shared
// metadata), so the backend can keep several ring requests in flight and answer each when its
// promise settles.

export const SECTOR_SIZE = 512;
export const SECTOR_SHIFT = 9;

export type DiskFormat = 'raw' | 'qcow2';

/**
 * Machine-readable reason on every failure, so the backend can map it (all of them end as
 * BLKIF_RSP_ERROR towards the guest; open failures are reported to xend/xm instead).
 */
export type DiskImageErrorCode =
  | 'ENOENT' // image (or a backing file) does not exist
  | 'EACCES' // the host refused access
  | 'EINVAL' // bad argument: misaligned buffer, non-integer sector, not a file, ...
  | 'ERANGE' // request reaches beyond the end of the disk
  | 'EROFS' // write/discard on an image opened read-only
  | 'EFORMAT' // file is not in the requested/probed format
  | 'EUNSUPPORTED' // valid image using something this implementation does not do
  | 'ECORRUPT' // image metadata is inconsistent
  | 'ECLOSED' // request after close()
  | 'EIO'; // the host file system failed an operation

export class DiskImageError extends Error {
  override readonly name = 'DiskImageError';
  constructor(
    readonly code: DiskImageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A sector number or count as it arrives from a ring (uint64) or from ordinary code. */
export type SectorNumber = number | bigint;

export interface DiskImage {
  readonly path: string;
  readonly format: DiskFormat;
  /** Virtual disk size in 512-byte sectors (disks up to 2^53 bytes; plenty for a guest). */
  readonly sectorCount: number;
  readonly readOnly: boolean;
  /** Fill buf (length a multiple of 512) from the disk starting at `sector`. */
  read(sector: SectorNumber, buf: Uint8Array): Promise<void>;
  /** Store buf (length a multiple of 512) at `sector`. */
  write(sector: SectorNumber, buf: Uint8Array): Promise<void>;
  /** Resolves once every write that completed before the call has reached stable storage. */
  flush(): Promise<void>;
  /**
   * Tell the image the guest no longer needs these sectors. Afterwards their content is
   * unspecified (blkif's feature-discard without discard-secure), but the call always succeeds
   * for an in-range request on a writable image.
   */
  discard(sector: SectorNumber, count: SectorNumber): Promise<void>;
  /** Waits for queued requests, then releases the file (and any backing files). */
  close(): Promise<void>;
}

export interface OpenDiskImageOptions {
  /** 'auto' (the default) probes the file: qcow2 magic means qcow2, anything else is raw. */
  format?: DiskFormat | 'auto';
  readOnly: boolean;
  /** Follow a qcow2 image's backing file (default true); false makes one an error. */
  backing?: boolean;
}

/** Converts a ring/caller sector value to a safe integer, or throws EINVAL naming `what`. */
export function toSafeInteger(value: SectorNumber, what: string): number {
  if (typeof value === 'bigint') {
    if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new DiskImageError('EINVAL', `${what} ${value} is out of range`);
    }
    return Number(value);
  }
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new DiskImageError('EINVAL', `${what} ${value} is not a non-negative integer`);
  }
  return value;
}

/**
 * Validates a sector range against the disk and returns [firstSector, sectorCount] as numbers.
 * Requests reaching past the end are refused whole: blkback answers them with BLKIF_RSP_ERROR,
 * as Linux's own blkback does when the bio fails on a too-short device.
 */
export function checkRange(
  image: Pick<DiskImage, 'path' | 'sectorCount'>,
  op: string,
  sector: SectorNumber,
  count: SectorNumber,
): [number, number] {
  const first = toSafeInteger(sector, `${op}: sector`);
  const n = toSafeInteger(count, `${op}: sector count`);
  if (first + n > image.sectorCount) {
    throw new DiskImageError(
      'ERANGE',
      `${op} of sectors [${first}, ${first + n}) is beyond the end of ${image.path} ` +
        `(${image.sectorCount} sectors)`,
    );
  }
  return [first, n];
}

/** Validates a data buffer and returns its length in sectors. */
export function bufferSectors(op: string, buf: Uint8Array): number {
  if (!(buf instanceof Uint8Array)) {
    throw new DiskImageError('EINVAL', `${op}: buffer must be a Uint8Array`);
  }
  if (buf.length % SECTOR_SIZE !== 0) {
    throw new DiskImageError(
      'EINVAL',
      `${op}: buffer length ${buf.length} is not a multiple of ${SECTOR_SIZE}`,
    );
  }
  return buf.length / SECTOR_SIZE;
}

/** Wraps a host fs error into a DiskImageError, keeping the original as `cause`. */
export function ioError(what: string, path: string, err: unknown): DiskImageError {
  if (err instanceof DiskImageError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const detail = errorMessage(err);
  if (code === 'ENOENT') {
    return new DiskImageError('ENOENT', `${what}: no such file: ${path}`, { cause: err });
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new DiskImageError('EACCES', `${what}: permission denied: ${path}`, { cause: err });
  }
  if (code === 'EISDIR') {
    return new DiskImageError('EINVAL', `${what}: ${path} is a directory`, { cause: err });
  }
  if (code === 'EROFS') {
    return new DiskImageError('EROFS', `${what}: ${path} is on a read-only file system`, {
      cause: err,
    });
  }
  return new DiskImageError('EIO', `${what} failed on ${path}: ${detail}`, { cause: err });
}
