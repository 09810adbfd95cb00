/**
 * Errors of the kernel-image loader.
 *
 * The inner parsers (bzImage header, decompressors, ELF, Xen notes) know nothing about which
 * file they are looking at, so they throw ImageFormatError with just the reason;
 * loadKernelImage() wraps that into a KernelImageError naming the file, which is what callers
 * (xend, xm create) report to the user.
 */

export class ImageFormatError extends Error {
  override readonly name = 'ImageFormatError';
}

export class KernelImageError extends Error {
  override readonly name = 'KernelImageError';
  /** The file (or label) the caller gave for the image. */
  readonly file: string;
  /** What is wrong, without the file name. */
  readonly reason: string;

  constructor(file: string, reason: string, options?: { cause?: unknown }) {
    super(`${file}: ${reason}`, options);
    this.file = file;
    this.reason = reason;
  }
}

/** Throws an ImageFormatError; typed `never` so it can end an expression. */
export function fail(reason: string): never {
  throw new ImageFormatError(reason);
}
