/**
 * Kernel-image loader of the domain builder: bytes of a kernel file in, a validated
 * description of a 64-bit PV Linux kernel out (its ELF segments, Xen notes and the virtual
 * range it occupies). Laying out guest memory is the builder's job; this is the part of
 * libxenguest's xc_dom_parse_image that probes and parses the image:
 *   - tools/libs/guest/xg_dom_bzimageloader.c (bzImage header, payload decompression),
 *   - tools/libs/guest/xg_dom_elfloader.c (ELF probe, dom0-only kernels, guest type),
 *   - xen/common/libelf/libelf-dominfo.c (notes, elf_xen_note_check, elf_xen_addr_calc_check).
 * Accepted inputs: a bzImage (boot protocol >= 2.08), a bare vmlinux ELF64, or a gzipped
 * vmlinux (libxenguest gunzips kernel files transparently).
 */
import { type BzImageHeader, hasSetupHeader, parseBzImageHeader, payloadOf } from './bzimage.js';
import { decompressPayload, type KernelCompression, MAX_DECOMPRESSED_BYTES } from './decompress.js';
import { type Elf64, type ElfSegment, isElf, parseElf64 } from './elf.js';
import { fail, ImageFormatError, KernelImageError } from './errors.js';
import { hex, u64 } from './u64.js';
import { parseXenNotes, XENFEAT_dom0, type XenNotes } from './xen-notes.js';
import { errorMessage } from '../errors.js';

export { KernelImageError } from './errors.js';
export { MAX_DECOMPRESSED_BYTES } from './decompress.js';
export type { KernelCompression } from './decompress.js';
export type { BzImageHeader } from './bzimage.js';
export type { Elf64, ElfSegment } from './elf.js';
export type { XenFeatures, XenNotes } from './xen-notes.js';

const PAGE_SIZE = 4096n;

export interface LoadOptions {
  /** Refuse kernels that decompress to more than this many bytes (default 512 MiB). */
  maxDecompressedBytes?: number;
}

/** A loadable segment and the guest-virtual address libelf copies it to. */
export interface KernelSegment extends ElfSegment {
  /** p_paddr + virtOffset: where the segment's first byte lands in the guest. */
  guestVaddr: bigint;
}

export interface KernelImage {
  /** The label errors and logs use (file name). */
  name: string;
  format: 'bzImage' | 'elf';
  compression: KernelCompression;
  /** The setup header, for a bzImage. */
  bzImage?: BzImageHeader;
  elf: Elf64;
  /** The Xen notes as the kernel wrote them. */
  notes: XenNotes;
  /** libxenguest's guest type for an EM_X86_64 PV kernel. */
  guestType: 'xen-3.0-x86_64';
  /** VIRT_BASE, or 0 when the note is absent. */
  virtBase: bigint;
  /** PADDR_OFFSET, or 0 when absent (the ELF-notes default). */
  elfPaddrOffset: bigint;
  /** virtBase - elfPaddrOffset (mod 2^64): added to a p_paddr to get a guest-virtual address. */
  virtOffset: bigint;
  /** Guest-virtual start and end (exclusive) of the kernel: pstart/pend + virtOffset. */
  virtKernelStart: bigint;
  virtKernelEnd: bigint;
  /** ENTRY note, or e_entry. */
  virtEntry: bigint;
  /** HYPERCALL_PAGE note: the page the builder fills with hypercall stubs (absent on Debian 6.1). */
  hypercallPage?: bigint;
  /** INIT_P2M note: where the kernel wants the initial p2m list mapped. */
  p2mBase?: bigint;
  /** MOD_START_PFN != 0: the initrd is passed as a PFN range, not mapped. */
  unmappedInitrd: boolean;
  segments: KernelSegment[];
}

/**
 * Parses and validates a kernel file. Throws KernelImageError naming `name` and what is wrong.
 */
export function loadKernelImage(bytes: Uint8Array, name = 'kernel image', options: LoadOptions = {}): KernelImage {
  try {
    return load(bytes, name, options.maxDecompressedBytes ?? MAX_DECOMPRESSED_BYTES);
  } catch (e) {
    if (e instanceof ImageFormatError) throw new KernelImageError(name, e.message, { cause: e });
    // A bug or a library failure on hostile input must still reach the caller as a clear,
    // catchable error rather than take the host down.
    const msg = errorMessage(e);
    throw new KernelImageError(name, `cannot load kernel image: ${msg}`, { cause: e });
  }
}

function load(bytes: Uint8Array, name: string, limit: number): KernelImage {
  let format: KernelImage['format'];
  let compression: KernelCompression = 'none';
  let bzImage: BzImageHeader | undefined;
  let elfBytes: Uint8Array;

  if (isElf(bytes)) {
    format = 'elf';
    elfBytes = bytes;
  } else if (hasSetupHeader(bytes)) {
    format = 'bzImage';
    bzImage = parseBzImageHeader(bytes);
    const out = decompressPayload(payloadOf(bytes, bzImage), limit);
    compression = out.compression;
    elfBytes = out.data;
    if (!isElf(elfBytes)) fail(`the bzImage payload (${compression}) does not decompress to an ELF vmlinux`);
  } else if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    format = 'elf';
    const out = decompressPayload(bytes, limit);
    compression = out.compression;
    elfBytes = out.data;
    if (!isElf(elfBytes)) fail('gzip-compressed file does not hold an ELF kernel');
  } else {
    fail(`not a bzImage or ELF kernel (no "HdrS" setup header at 0x202, no ELF magic; ${bytes.length} bytes)`);
  }

  const elf = parseElf64(elfBytes);
  const notes = parseXenNotes(elf);
  if (!notes) fail('kernel was not built with CONFIG_XEN_PV (no Xen ELF notes)');
  checkNotes(notes);
  if (elf.segments.length === 0) fail('ELF has no loadable (PT_LOAD) segments');

  // elf_xen_addr_calc_check, PV case, ELF-notes interface.
  if (notes.paddrOffset !== undefined && notes.virtBase === undefined) {
    fail('Xen note PADDR_OFFSET is set but VIRT_BASE is not');
  }
  const virtBase = notes.virtBase ?? 0n;
  const elfPaddrOffset = notes.paddrOffset ?? 0n;
  const virtOffset = u64(virtBase - elfPaddrOffset);
  const virtKernelStart = u64(elf.pstart + virtOffset);
  const virtKernelEnd = u64(elf.pend + virtOffset);
  const virtEntry = notes.entry ?? elf.entry;
  if (virtKernelStart > virtKernelEnd || virtEntry < virtKernelStart || virtEntry > virtKernelEnd ||
      virtBase > virtKernelStart) {
    fail(`ELF start or entry is out of bounds: kernel ${hex(virtKernelStart)}-${hex(virtKernelEnd)}, ` +
      `entry ${hex(virtEntry)}, VIRT_BASE ${hex(virtBase)}`);
  }
  if (notes.initP2m !== undefined && notes.initP2m >= virtKernelStart && notes.initP2m < virtKernelEnd) {
    fail(`INIT_P2M ${hex(notes.initP2m)} lies inside the kernel (${hex(virtKernelStart)}-${hex(virtKernelEnd)})`);
  }
  // Not a libelf check, but the builder writes a whole page of stubs there
  // (xg_dom_x86.c, alloc_magic_pages / the hypercall page setup), so it must be a kernel page.
  if (notes.hypercallPage !== undefined) {
    const hp = notes.hypercallPage;
    if (hp % PAGE_SIZE !== 0n || hp < virtKernelStart || hp + PAGE_SIZE > virtKernelEnd) {
      fail(`HYPERCALL_PAGE ${hex(hp)} is not a page-aligned page inside the kernel ` +
        `(${hex(virtKernelStart)}-${hex(virtKernelEnd)})`);
    }
  }

  return {
    name,
    format,
    compression,
    bzImage,
    elf,
    notes,
    guestType: 'xen-3.0-x86_64',
    virtBase,
    elfPaddrOffset,
    virtOffset,
    virtKernelStart,
    virtKernelEnd,
    virtEntry,
    hypercallPage: notes.hypercallPage,
    p2mBase: notes.initP2m,
    unmappedInitrd: (notes.modStartPfn ?? 0n) !== 0n,
    segments: elf.segments.map((s) => ({ ...s, guestVaddr: u64(s.paddr + virtOffset) })),
  };
}

/** elf_xen_note_check plus xc_dom_parse_elf_kernel's dom0-only refusal. */
function checkNotes(n: XenNotes): void {
  const generic = (n.loader ?? '').startsWith('generic');
  const linux = (n.guestOs ?? '').startsWith('linux');
  if (!generic && !linux) {
    fail(`will only load images built for the generic loader or Linux images ` +
      `(GUEST_OS "${n.guestOs ?? ''}", LOADER "${n.loader ?? ''}")`);
  }
  if (!(n.xenVersion ?? '').startsWith('xen-3.0')) {
    fail(`will only load images built for Xen v3.0 (XEN_VERSION "${n.xenVersion ?? ''}")`);
  }
  if (n.bsdSymtab === 'yes') fail('BSD_SYMTAB asks for the symbol table to be loaded; that is not supported');
  if (n.features.required & (1 << XENFEAT_dom0)) {
    fail('kernel does not support unprivileged (DomU) operation (FEATURES requires dom0)');
  }
}
