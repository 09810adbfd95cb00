// Opening a disk image by path: format selection (given or probed) and backing chains.

import { open } from 'node:fs/promises';
import { RawImage } from './raw.js';
import { statImage } from './io.js';
import { Qcow2Image, looksLikeQcow2 } from './qcow2.js';
import { DiskImageError, ioError, type DiskFormat, type DiskImage, type OpenDiskImageOptions } from './types.js';

/**
 * Opens `path` as a disk image. Backing files of qcow2 images are opened read-only,
 * recursively. Errors are DiskImageErrors naming the file and what was wrong with it.
 */
export async function openDiskImage(path: string, options: OpenDiskImageOptions): Promise<DiskImage> {
  if (typeof path !== 'string' || path === '') {
    throw new DiskImageError('EINVAL', 'openDiskImage: path must be a non-empty string');
  }
  if (typeof options?.readOnly !== 'boolean') {
    throw new DiskImageError('EINVAL', `openDiskImage ${path}: options.readOnly must be true or false`);
  }
  const format = options.format ?? 'auto';
  if (format !== 'auto' && format !== 'raw' && format !== 'qcow2') {
    throw new DiskImageError('EINVAL', `openDiskImage ${path}: unknown format "${String(format)}" (raw, qcow2 or auto)`);
  }
  return openInChain(path, format, options.readOnly, [], options.backing ?? true);
}

async function openInChain(
  path: string,
  format: DiskFormat | 'auto',
  readOnly: boolean,
  chain: readonly string[],
  backing = true,
): Promise<DiskImage> {
  let fmt = format;
  const probed = fmt === 'auto';
  if (fmt === 'auto') fmt = await probeFormat(path);
  if (fmt === 'raw') return RawImage.open(path, { readOnly, probed });
  return Qcow2Image.open(path, {
    readOnly,
    chain,
    openBacking: (backingPath, backingFormat, backingChain) => {
      if (!backing) {
        return Promise.reject(new DiskImageError('EACCES', `${path}: qcow2 image names backing file ${backingPath}, which a probed (file:) disk may not use; give the disk as tap:qcow2:`));
      }
      return openInChain(backingPath, backingFormat, true, backingChain);
    },
  });
}

/** qcow2 if the file starts with the qcow2 magic, raw otherwise (as QEMU's raw fallback). */
export async function probeFormat(path: string): Promise<DiskFormat> {
  await statImage(path, 'probing disk image format', true);
  try {
    const fh = await open(path, 'r');
    try {
      const head = new Uint8Array(4);
      const { bytesRead } = await fh.read(head, 0, 4, 0);
      return looksLikeQcow2(head.subarray(0, bytesRead)) ? 'qcow2' : 'raw';
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw ioError('probing disk image format', path, err);
  }
}
