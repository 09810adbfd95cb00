// Small readers for the formats the images/ artifacts are made of: the x86 boot protocol
// header of a bzImage, ELF64 (headers, sections, notes) and newc cpio. Written for the tests,
// independent of the domain builder in src/ so that each can check the other.
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

export const IMAGES_DIR = fileURLToPath(new URL('../../images/', import.meta.url));

export interface SetupHeader {
  setupSects: number;
  /** "HdrS" at 0x202 */
  magic: string;
  /** boot protocol version, e.g. 0x020f */
  version: number;
  loadflags: number;
  /** offset of the compressed kernel from the start of the protected-mode code */
  payloadOffset: number;
  payloadLength: number;
  /** the NUL-terminated string that kernel_version (0x20e) points at */
  kernelVersion: string;
  /** where the protected-mode code (and so payload_offset's origin) starts in the file */
  protectedModeStart: number;
}

// Offsets from Documentation/x86/boot.rst (THE REAL-MODE KERNEL HEADER).
export function parseSetupHeader(image: Buffer): SetupHeader {
  if (image.length < 0x268) throw new Error(`bzImage too short: ${image.length} bytes`);
  let setupSects = image.readUInt8(0x1f1);
  // boot.rst: "If this field is 0, the real value is 4."
  if (setupSects === 0) setupSects = 4;
  const protectedModeStart = (setupSects + 1) * 512;
  const versionPtr = image.readUInt16LE(0x20e);
  const versionStart = versionPtr + 0x200;
  const versionEnd = image.indexOf(0, versionStart);
  return {
    setupSects,
    magic: image.toString('latin1', 0x202, 0x206),
    version: image.readUInt16LE(0x206),
    loadflags: image.readUInt8(0x211),
    payloadOffset: image.readUInt32LE(0x248),
    payloadLength: image.readUInt32LE(0x24c),
    kernelVersion: image.toString('latin1', versionStart, versionEnd),
    protectedModeStart,
  };
}

export function bzImagePayload(image: Buffer, hdr: SetupHeader): Buffer {
  const start = hdr.protectedModeStart + hdr.payloadOffset;
  const end = start + hdr.payloadLength;
  if (end > image.length) {
    throw new Error(`payload [${start}, ${end}) runs past the end of the bzImage (${image.length})`);
  }
  return image.subarray(start, end);
}

export const ET_REL = 1;
export const ET_EXEC = 2;
export const EM_X86_64 = 62;
export const PT_LOAD = 1;
export const PT_NOTE = 4;
export const SHT_NOTE = 7;

export interface ProgramHeader {
  type: number;
  flags: number;
  offset: number;
  vaddr: bigint;
  paddr: bigint;
  filesz: number;
  memsz: bigint;
}

export interface SectionHeader {
  name: string;
  type: number;
  offset: number;
  size: number;
}

export interface ElfNote {
  owner: string;
  type: number;
  desc: Buffer;
}

export interface Elf64 {
  type: number;
  machine: number;
  entry: bigint;
  programHeaders: ProgramHeader[];
  sections: SectionHeader[];
}

export function parseElf64(buf: Buffer): Elf64 {
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  if (buf[4] !== 2) throw new Error(`not ELF64 (EI_CLASS ${buf[4]})`);
  if (buf[5] !== 1) throw new Error(`not little-endian (EI_DATA ${buf[5]})`);
  const phoff = Number(buf.readBigUInt64LE(0x20));
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const phentsize = buf.readUInt16LE(0x36);
  const phnum = buf.readUInt16LE(0x38);
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  const shstrndx = buf.readUInt16LE(0x3e);
  const programHeaders: ProgramHeader[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    programHeaders.push({
      type: buf.readUInt32LE(o),
      flags: buf.readUInt32LE(o + 4),
      offset: Number(buf.readBigUInt64LE(o + 8)),
      vaddr: buf.readBigUInt64LE(o + 16),
      paddr: buf.readBigUInt64LE(o + 24),
      filesz: Number(buf.readBigUInt64LE(o + 32)),
      memsz: buf.readBigUInt64LE(o + 40),
    });
  }
  const raw: { nameOff: number; type: number; offset: number; size: number }[] = [];
  for (let i = 0; i < shnum && shoff !== 0; i++) {
    const o = shoff + i * shentsize;
    raw.push({
      nameOff: buf.readUInt32LE(o),
      type: buf.readUInt32LE(o + 4),
      offset: Number(buf.readBigUInt64LE(o + 24)),
      size: Number(buf.readBigUInt64LE(o + 32)),
    });
  }
  const strtab = raw[shstrndx];
  const sections = raw.map((s) => {
    let name = '';
    if (strtab) {
      const start = strtab.offset + s.nameOff;
      name = buf.toString('latin1', start, buf.indexOf(0, start));
    }
    return { name, type: s.type, offset: s.offset, size: s.size };
  });
  return {
    type: buf.readUInt16LE(0x10),
    machine: buf.readUInt16LE(0x12),
    entry: buf.readBigUInt64LE(0x18),
    programHeaders,
    sections,
  };
}

/** Notes in one note segment/section: namesz, descsz, type, name and desc padded to 4. */
export function parseNotes(data: Buffer): ElfNote[] {
  const notes: ElfNote[] = [];
  const align4 = (n: number): number => (n + 3) & ~3;
  let o = 0;
  while (o + 12 <= data.length) {
    const namesz = data.readUInt32LE(o);
    const descsz = data.readUInt32LE(o + 4);
    const type = data.readUInt32LE(o + 8);
    const nameStart = o + 12;
    const descStart = nameStart + align4(namesz);
    if (descStart + descsz > data.length) throw new Error(`note at ${o} runs past its segment`);
    // namesz counts the terminating NUL.
    const owner = data.toString('latin1', nameStart, nameStart + Math.max(0, namesz - 1));
    notes.push({ owner, type, desc: data.subarray(descStart, descStart + descsz) });
    o = descStart + align4(descsz);
  }
  return notes;
}

export function gunzip(buf: Buffer): Buffer {
  return gunzipSync(buf);
}

export interface CpioEntry {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  rdevmajor: number;
  rdevminor: number;
  nlink: number;
  data: Buffer;
}

/** newc ("070701") archive, as the kernel's initramfs unpacker reads it. */
export function parseNewc(buf: Buffer): CpioEntry[] {
  const entries: CpioEntry[] = [];
  const align4 = (n: number): number => (n + 3) & ~3;
  let o = 0;
  for (;;) {
    if (o + 110 > buf.length) throw new Error(`cpio truncated at ${o}: no TRAILER!!!`);
    const magic = buf.toString('latin1', o, o + 6);
    if (magic !== '070701') throw new Error(`bad newc magic '${magic}' at ${o}`);
    const header = o;
    const field = (i: number): number => parseInt(buf.toString('latin1', header + 6 + i * 8, header + 14 + i * 8), 16);
    const namesize = field(11);
    const filesize = field(6);
    const nameStart = header + 110;
    const name = buf.toString('latin1', nameStart, nameStart + namesize - 1);
    const dataStart = align4(nameStart + namesize);
    const data = buf.subarray(dataStart, dataStart + filesize);
    o = align4(dataStart + filesize);
    if (name === 'TRAILER!!!') break;
    entries.push({
      name,
      mode: field(1),
      uid: field(2),
      gid: field(3),
      nlink: field(4),
      mtime: field(5),
      rdevmajor: field(9),
      rdevminor: field(10),
      data,
    });
  }
  return entries;
}

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
