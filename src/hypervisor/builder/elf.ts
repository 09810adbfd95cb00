/**
 * ELF64 little-endian parsing for the vmlinux inside a bzImage (or a bare vmlinux).
 *
 * Only what the PV domain builder uses: program headers (loadable PT_LOAD segments and
 * PT_NOTE), section headers (SHT_NOTE fallback for the Xen notes) and the physical extent
 * libelf computes in elf_parse_binary (xen/common/libelf/libelf-loader.c): pstart/pend are
 * the lowest p_paddr and the highest p_paddr + p_memsz over the loadable segments, a segment
 * being loadable when it is PT_LOAD with any of R/W/X set (elf_phdr_is_loadable).
 * Every offset and size is checked against the file, so a hostile header gives an error.
 */
import { fail } from './errors.js';
import { hex, readU16, readU32, readU64, toNumber, U64_MASK } from './u64.js';

export const EM_386 = 3;
export const EM_X86_64 = 62;
export const ET_EXEC = 2;
export const PT_LOAD = 1;
export const PT_NOTE = 4;
export const SHT_NOTE = 7;
export const SHT_NOBITS = 8;
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

const ELFCLASS32 = 1;
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const EHDR_SIZE = 64;
const PHDR_SIZE = 56;
const SHDR_SIZE = 64;

export interface ElfProgramHeader {
  index: number;
  type: number;
  flags: number;
  offset: bigint;
  vaddr: bigint;
  paddr: bigint;
  filesz: bigint;
  memsz: bigint;
  align: bigint;
}

/** A loadable segment; fileBytes views the image (filesz bytes), the rest up to memsz is zero. */
export interface ElfSegment extends ElfProgramHeader {
  fileBytes: Uint8Array;
}

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: bigint;
  addr: bigint;
  offset: bigint;
  size: bigint;
}

export interface Elf64 {
  /** The whole ELF file (for a bzImage: the decompressed payload). */
  bytes: Uint8Array;
  type: number;
  machine: number;
  entry: bigint;
  programHeaders: ElfProgramHeader[];
  /** Loadable PT_LOAD segments, in program-header order. */
  segments: ElfSegment[];
  sections: ElfSection[];
  /** libelf's elf->pstart / pend / palign over the loadable segments. */
  pstart: bigint;
  pend: bigint;
  palign: bigint;
}

export function isElf(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;
}

export function parseElf64(b: Uint8Array): Elf64 {
  if (!isElf(b)) fail('not an ELF file');
  if (b.length < 20) fail(`truncated ELF: ${b.length} bytes`);
  const cls = b[4];
  const machine = readU16(b, 18);
  if (cls === ELFCLASS32 || machine === EM_386) {
    fail('32-bit PV kernels are not supported (this is an ELFCLASS32/i386 image; tsxen runs 64-bit PV guests only)');
  }
  if (cls !== ELFCLASS64) fail(`unknown ELF class ${cls}`);
  if (b[5] !== ELFDATA2LSB) fail('ELF is not little-endian, so not an x86-64 kernel');
  if (machine !== EM_X86_64) fail(`ELF machine ${machine} is not x86-64 (EM_X86_64 = 62)`);
  if (b.length < EHDR_SIZE) fail(`truncated ELF: ${b.length} bytes, the ELF64 header needs ${EHDR_SIZE}`);

  const type = readU16(b, 16);
  const entry = readU64(b, 24);
  const phoff = readU64(b, 32);
  const shoff = readU64(b, 40);
  const phentsize = readU16(b, 54);
  const phnum = readU16(b, 56);
  const shentsize = readU16(b, 58);
  const shnum = readU16(b, 60);
  const shstrndx = readU16(b, 62);
  if (phnum > 0 && phentsize !== PHDR_SIZE) fail(`ELF e_phentsize is ${phentsize}, expected ${PHDR_SIZE}`);
  if (shnum > 0 && shentsize !== SHDR_SIZE) fail(`ELF e_shentsize is ${shentsize}, expected ${SHDR_SIZE}`);
  const phStart = tableStart(b, phoff, phnum, PHDR_SIZE, 'program headers');
  const shStart = tableStart(b, shoff, shnum, SHDR_SIZE, 'section headers');

  const programHeaders: ElfProgramHeader[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phStart + i * PHDR_SIZE;
    programHeaders.push({
      index: i,
      type: readU32(b, o),
      flags: readU32(b, o + 4),
      offset: readU64(b, o + 8),
      vaddr: readU64(b, o + 16),
      paddr: readU64(b, o + 24),
      filesz: readU64(b, o + 32),
      memsz: readU64(b, o + 40),
      align: readU64(b, o + 48),
    });
  }

  const segments: ElfSegment[] = [];
  let pstart = U64_MASK;
  let pend = 0n;
  let palign = 0n;
  for (const ph of programHeaders) {
    if (ph.type !== PT_LOAD || (ph.flags & (PF_R | PF_W | PF_X)) === 0) continue;
    if (ph.filesz > ph.memsz) fail(`ELF segment ${ph.index}: p_filesz ${hex(ph.filesz)} > p_memsz ${hex(ph.memsz)}`);
    if (ph.paddr + ph.memsz > U64_MASK || ph.vaddr + ph.memsz > U64_MASK + 1n) {
      fail(`ELF segment ${ph.index} wraps around the end of the address space`);
    }
    const start = rangeIn(b, ph.offset, ph.filesz, `segment ${ph.index}`);
    segments.push({ ...ph, fileBytes: b.subarray(start, start + Number(ph.filesz)) });
    if (ph.paddr < pstart) pstart = ph.paddr;
    if (ph.paddr + ph.memsz > pend) pend = ph.paddr + ph.memsz;
    if (ph.align > palign) palign = ph.align;
  }

  const raw: Array<Omit<ElfSection, 'name'> & { nameOff: number }> = [];
  for (let i = 0; i < shnum; i++) {
    const o = shStart + i * SHDR_SIZE;
    raw.push({
      index: i,
      nameOff: readU32(b, o),
      type: readU32(b, o + 4),
      flags: readU64(b, o + 8),
      addr: readU64(b, o + 16),
      offset: readU64(b, o + 24),
      size: readU64(b, o + 32),
    });
  }
  const strtab = shstrndx > 0 && shstrndx < raw.length ? raw[shstrndx] : undefined;
  const strBytes = strtab && strtab.type !== SHT_NOBITS
    ? b.subarray(rangeIn(b, strtab.offset, strtab.size, 'section name table'),
      Number(strtab.offset + strtab.size))
    : new Uint8Array(0);
  const sections = raw.map(({ nameOff, ...s }) => ({ ...s, name: cString(strBytes, nameOff) }));

  return { bytes: b, type, machine, entry, programHeaders, segments, sections, pstart, pend, palign };
}

/** The file bytes of a section or program header's range (empty for SHT_NOBITS). */
export function fileRange(elf: Elf64, offset: bigint, size: bigint, what: string): Uint8Array {
  const start = rangeIn(elf.bytes, offset, size, what);
  return elf.bytes.subarray(start, start + Number(size));
}

function tableStart(b: Uint8Array, off: bigint, count: number, entSize: number, what: string): number {
  if (count === 0) return 0;
  return rangeIn(b, off, BigInt(count * entSize), what);
}

function rangeIn(b: Uint8Array, off: bigint, size: bigint, what: string): number {
  if (off + size > BigInt(b.length)) {
    fail(`truncated ELF: ${what} (${hex(size)} bytes at ${hex(off)}) runs past the end of the ${hex(b.length)}-byte image`);
  }
  return toNumber(off, `${what} offset`);
}

function cString(b: Uint8Array, off: number): string {
  if (off >= b.length) return '';
  let end = off;
  while (end < b.length && b[end] !== 0) end++;
  return new TextDecoder('latin1').decode(b.subarray(off, end));
}
