// Disk images for the block backend.
//
//   const disk = await openDiskImage(path, { format: 'raw' | 'qcow2' | 'auto', readOnly });
//   await disk.read(sector, buf) / write(sector, buf) / flush() / discard(sector, count) / close()
//
// - Everything is async (fs/promises on libuv's pool), so blkback can keep several ring requests
//   in flight; each promise settles when its request is done. Requests to one image may be
//   issued concurrently: raw runs them in parallel, qcow2 in submission order.
// - Sectors are 512 bytes; sector and count may be numbers or bigints (uint64 from the ring);
//   sectorCount is a number. Buffers must be a multiple of 512 bytes long.
// - Every failure is a DiskImageError with a `code`; the backend answers any failed request
//   with BLKIF_RSP_ERROR. ERANGE is a request reaching past the end, EROFS a write to a
//   read-only image.
// - flush() returns once every write completed before it is on stable storage
//   (BLKIF_OP_FLUSH_DISKCACHE / WRITE_BARRIER). discard() always succeeds in range
//   (feature-discard, contents afterwards unspecified; qcow2 really frees clusters).

export { openDiskImage, probeFormat } from './open.js';
export { RawImage } from './raw.js';
export { Qcow2Image } from './qcow2.js';
export {
  DiskImageError,
  SECTOR_SIZE,
  type DiskFormat,
  type DiskImage,
  type DiskImageErrorCode,
  type OpenDiskImageOptions,
  type SectorNumber,
} from './types.js';
