/**
 * The Xen ELF notes of a PV kernel (owner "Xen"; numbers from xen/include/public/elfnote.h).
 *
 * Where they are looked for and how each is read follows libelf's elf_xen_parse and
 * elf_xen_parse_note (xen/common/libelf/libelf-dominfo.c): PT_NOTE segments first (skipping
 * ones with p_offset 0, which old binutils produced), then SHT_NOTE sections if the segments
 * held no Xen note. Linux emits them from arch/x86/xen/xen-head.S.
 *
 * Notes are kept as found (absent = undefined); the defaults and address arithmetic libelf
 * applies afterwards live in kernel-image.ts.
 */
import { fail } from './errors.js';
import { type Elf64, fileRange, PT_NOTE, SHT_NOTE } from './elf.js';
import { hex, readU32, readUnsigned } from './u64.js';

export const XEN_ELFNOTE_INFO = 0;
export const XEN_ELFNOTE_ENTRY = 1;
export const XEN_ELFNOTE_HYPERCALL_PAGE = 2;
export const XEN_ELFNOTE_VIRT_BASE = 3;
export const XEN_ELFNOTE_PADDR_OFFSET = 4;
export const XEN_ELFNOTE_XEN_VERSION = 5;
export const XEN_ELFNOTE_GUEST_OS = 6;
export const XEN_ELFNOTE_GUEST_VERSION = 7;
export const XEN_ELFNOTE_LOADER = 8;
export const XEN_ELFNOTE_PAE_MODE = 9;
export const XEN_ELFNOTE_FEATURES = 10;
export const XEN_ELFNOTE_BSD_SYMTAB = 11;
export const XEN_ELFNOTE_HV_START_LOW = 12;
export const XEN_ELFNOTE_L1_MFN_VALID = 13;
export const XEN_ELFNOTE_SUSPEND_CANCEL = 14;
export const XEN_ELFNOTE_INIT_P2M = 15;
export const XEN_ELFNOTE_MOD_START_PFN = 16;
export const XEN_ELFNOTE_SUPPORTED_FEATURES = 17;
export const XEN_ELFNOTE_PHYS32_ENTRY = 18;
export const XEN_ELFNOTE_PHYS32_RELOC = 19;

/** XENFEAT_* bit numbers (xen/include/public/features.h), for naming bits of the bitmaps. */
export const XENFEAT_NAMES: readonly string[] = [
  'writable_page_tables', 'writable_descriptor_tables', 'auto_translated_physmap',
  'supervisor_mode_kernel', 'pae_pgdir_above_4gb', 'mmu_pt_update_preserve_ad', 'highmem_assist',
  'gnttab_map_avail_bits', 'hvm_callback_vector', 'hvm_safe_pvclock', 'hvm_pirqs', 'dom0',
  'grant_map_identity', 'memory_op_vnode_supported', 'ARM_SMCCC_supported',
  'linux_rsdp_unrestricted', 'not_direct_mapped', 'direct_mapped',
];
export const XENFEAT_writable_page_tables = 0;
export const XENFEAT_pae_pgdir_above_4gb = 4;
export const XENFEAT_dom0 = 11;

/**
 * The only names the FEATURES string may use: libelf's elf_xen_feature_names table. Xen
 * ignores other names unless they are required ('!'), which makes the image unloadable.
 */
const STRING_FEATURES: ReadonlyMap<string, number> = new Map([
  ['writable_page_tables', 0], ['writable_descriptor_tables', 1], ['auto_translated_physmap', 2],
  ['supervisor_mode_kernel', 3], ['pae_pgdir_above_4gb', 4], ['hvm_callback_vector', 8], ['dom0', 11],
]);

export interface XenFeatures {
  /** The FEATURES string notes as written, e.g. "!writable_page_tables|pae_pgdir_above_4gb". */
  strings: string[];
  /** XENFEAT bitmap (submap 0) of features the kernel supports: FEATURES names plus SUPPORTED_FEATURES. */
  supported: number;
  /** XENFEAT bitmap of features the kernel requires ('!' in FEATURES); always a subset of supported. */
  required: number;
  supportedNames: string[];
  requiredNames: string[];
}

export interface XenNotes {
  /** Where the notes were found. */
  source: 'PT_NOTE' | 'SHT_NOTE';
  /** Number of notes with owner "Xen". */
  count: number;
  guestOs?: string;
  guestVersion?: string;
  xenVersion?: string;
  loader?: string;
  paeMode?: string;
  bsdSymtab?: string;
  entry?: bigint;
  hypercallPage?: bigint;
  virtBase?: bigint;
  paddrOffset?: bigint;
  hvStartLow?: bigint;
  initP2m?: bigint;
  /** Non-zero: the kernel takes its initrd as an unmapped PFN range (start_info.mod_start is a PFN). */
  modStartPfn?: bigint;
  suspendCancel?: bigint;
  phys32Entry?: bigint;
  /** PHYS32_RELOC (PVH only): present or not, with the optional align/min/max words. */
  phys32Reloc?: number[];
  /** L1_MFN_VALID mask/value pairs, as 64-bit words. */
  l1MfnValid?: bigint[];
  features: XenFeatures;
  /** Types of Xen notes this loader does not know (libelf logs and skips them too). */
  unknownTypes: number[];
}

interface RawNote { type: number; desc: Uint8Array }

/** Finds and parses the Xen notes; undefined when the image has none (not a PV kernel). */
export function parseXenNotes(elf: Elf64): XenNotes | undefined {
  const fromSegments: RawNote[] = [];
  for (const ph of elf.programHeaders) {
    if (ph.type !== PT_NOTE || ph.offset === 0n) continue;
    collectXenNotes(fileRange(elf, ph.offset, ph.filesz, `PT_NOTE segment ${ph.index}`), ph.offset, fromSegments);
  }
  if (fromSegments.length > 0) return interpret(fromSegments, 'PT_NOTE');

  const fromSections: RawNote[] = [];
  for (const sh of elf.sections) {
    if (sh.index === 0 || sh.type !== SHT_NOTE) continue;
    collectXenNotes(fileRange(elf, sh.offset, sh.size, `note section ${sh.name || sh.index}`), sh.offset, fromSections);
  }
  if (fromSections.length > 0) return interpret(fromSections, 'SHT_NOTE');

  if (elf.sections.some((s) => s.name === '__xen_guest')) {
    fail('the kernel describes itself with a legacy __xen_guest section; only Xen ELF notes are supported');
  }
  return undefined;
}

/** Elf64_Nhdr is {namesz, descsz, type} (3 x u32), name and desc each padded to 4 bytes. */
function collectXenNotes(b: Uint8Array, base: bigint, out: RawNote[]): void {
  let p = 0;
  // A note area may end in alignment padding shorter than a header.
  while (b.length - p >= 12) {
    const namesz = readU32(b, p);
    const descsz = readU32(b, p + 4);
    const type = readU32(b, p + 8);
    const nameStart = p + 12;
    const descStart = nameStart + align4(namesz);
    const next = descStart + align4(descsz);
    if (descStart + descsz > b.length || nameStart + namesz > b.length) {
      fail(`truncated ELF note at file offset ${hex(base + BigInt(p))}: namesz ${namesz}, descsz ${descsz}`);
    }
    const name = cString(b.subarray(nameStart, nameStart + namesz));
    if (name === 'Xen') out.push({ type, desc: b.subarray(descStart, descStart + descsz) });
    p = next;
  }
}

function interpret(raw: RawNote[], source: XenNotes['source']): XenNotes {
  const notes: XenNotes = {
    source,
    count: raw.length,
    features: { strings: [], supported: 0, required: 0, supportedNames: [], requiredNames: [] },
    unknownTypes: [],
  };
  for (const n of raw) {
    switch (n.type) {
      case XEN_ELFNOTE_ENTRY: notes.entry = numeric(n, 'ENTRY'); break;
      case XEN_ELFNOTE_HYPERCALL_PAGE: notes.hypercallPage = numeric(n, 'HYPERCALL_PAGE'); break;
      case XEN_ELFNOTE_VIRT_BASE: notes.virtBase = numeric(n, 'VIRT_BASE'); break;
      case XEN_ELFNOTE_PADDR_OFFSET: notes.paddrOffset = numeric(n, 'PADDR_OFFSET'); break;
      case XEN_ELFNOTE_HV_START_LOW: notes.hvStartLow = numeric(n, 'HV_START_LOW'); break;
      case XEN_ELFNOTE_INIT_P2M: notes.initP2m = numeric(n, 'INIT_P2M'); break;
      case XEN_ELFNOTE_MOD_START_PFN: notes.modStartPfn = numeric(n, 'MOD_START_PFN'); break;
      case XEN_ELFNOTE_SUSPEND_CANCEL: notes.suspendCancel = numeric(n, 'SUSPEND_CANCEL'); break;
      case XEN_ELFNOTE_PHYS32_ENTRY: notes.phys32Entry = numeric(n, 'PHYS32_ENTRY'); break;
      case XEN_ELFNOTE_XEN_VERSION: notes.xenVersion = str(n); break;
      case XEN_ELFNOTE_GUEST_OS: notes.guestOs = str(n); break;
      case XEN_ELFNOTE_GUEST_VERSION: notes.guestVersion = str(n); break;
      case XEN_ELFNOTE_LOADER: notes.loader = str(n); break;
      case XEN_ELFNOTE_PAE_MODE: notes.paeMode = str(n); break;
      case XEN_ELFNOTE_BSD_SYMTAB: notes.bsdSymtab = str(n); break;
      case XEN_ELFNOTE_FEATURES: {
        const s = str(n);
        notes.features.strings.push(s);
        parseFeatureString(s, notes.features);
        break;
      }
      case XEN_ELFNOTE_SUPPORTED_FEATURES:
        // libelf ORs the first XENFEAT_NR_SUBMAPS (1) 32-bit words into f_supported.
        if (n.desc.length >= 4 && n.desc.length % 4 === 0) {
          notes.features.supported = (notes.features.supported | readU32(n.desc, 0)) >>> 0;
        } else {
          fail(`Xen note SUPPORTED_FEATURES has a ${n.desc.length}-byte descriptor (need a multiple of 4)`);
        }
        break;
      case XEN_ELFNOTE_L1_MFN_VALID:
        notes.l1MfnValid = words(n, 8);
        break;
      case XEN_ELFNOTE_PHYS32_RELOC:
        notes.phys32Reloc = words(n, 4).map(Number);
        break;
      default:
        notes.unknownTypes.push(n.type);
    }
  }
  const f = notes.features;
  f.supportedNames = bitNames(f.supported);
  f.requiredNames = bitNames(f.required);
  return notes;
}

/**
 * FEATURES is a '|'-separated list of XENFEAT names, '!' marking required ones
 * (elf_xen_parse_features). A required name Xen does not know makes the kernel unloadable.
 */
export function parseFeatureString(s: string, into: XenFeatures): void {
  for (const item of s.split('|')) {
    if (item === '') continue;
    const required = item.startsWith('!');
    const name = required ? item.slice(1) : item;
    const bit = STRING_FEATURES.get(name);
    if (bit === undefined) {
      if (required) fail(`kernel requires Xen feature "${name}", which this host does not know (FEATURES "${s}")`);
      continue;
    }
    into.supported = (into.supported | (1 << bit)) >>> 0;
    if (required) into.required = (into.required | (1 << bit)) >>> 0;
  }
}

export function bitNames(bitmap: number): string[] {
  const names: string[] = [];
  for (let bit = 0; bit < 32; bit++) {
    if (bitmap & (1 << bit)) names.push(XENFEAT_NAMES[bit] ?? `bit${bit}`);
  }
  return names;
}

/** Numeric notes are 4 or 8 bytes in practice; libelf also reads 1 and 2 (elf_note_numeric). */
function numeric(n: RawNote, what: string): bigint {
  const size = n.desc.length;
  if (size !== 1 && size !== 2 && size !== 4 && size !== 8) {
    fail(`Xen note ${what} has a ${size}-byte descriptor (a number must be 1, 2, 4 or 8 bytes)`);
  }
  return readUnsigned(n.desc, 0, size);
}

/**
 * String notes are NUL-terminated; Linux writes FEATURES with .ascii and relies on the zero
 * padding of the note, so a string may also simply end with the descriptor.
 */
function str(n: RawNote): string {
  return cString(n.desc);
}

function words(n: RawNote, size: 4 | 8): bigint[] {
  const out: bigint[] = [];
  for (let o = 0; o + size <= n.desc.length; o += size) out.push(readUnsigned(n.desc, o, size));
  return out;
}

function cString(b: Uint8Array): string {
  const nul = b.indexOf(0);
  return new TextDecoder('latin1').decode(nul < 0 ? b : b.subarray(0, nul));
}

/** namesz/descsz are u32, so stay in plain arithmetic (bitwise ops would go negative). */
function align4(n: number): number {
  return Math.ceil(n / 4) * 4;
}
