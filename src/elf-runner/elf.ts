// ELF loader for the user-mode runner: maps a static x86-64 executable (ET_EXEC, or a static
// PIE ET_DYN) into an AddressSpace and builds the initial stack the way Linux 6.1 does
// (fs/binfmt_elf.c load_elf_binary/create_elf_tables, fs/exec.c), without randomization.
// A program with PT_INTERP gets its interpreter loaded too (dynamic programs then work as far
// as the system calls allow), with AT_BASE pointing at it.

import { randomFillSync } from 'node:crypto';
import { AddressSpace, ELF_ET_DYN_BASE, PAGE, STACK_LIMIT, STACK_TOP, pageDown, pageUp, type FileSource } from './address-space.js';
import { PROT_EXEC, PROT_READ, PROT_WRITE } from './linux.js';
import { LEAF1_EDX } from '../cpu/cpuid.js';
import { ET_EXEC, PF_R, PF_W, PF_X, PT_LOAD, isElf, parseElf64, type Elf64 } from '../hypervisor/builder/elf.js';
import { errorMessage } from '../hypervisor/errors.js';

const ET_DYN = 3;
const PT_INTERP = 3, PT_PHDR = 6, PT_GNU_STACK = 0x6474e551;

// Auxiliary-vector tags (include/uapi/linux/auxvec.h, arch/x86/include/uapi/asm/auxvec.h).
export const AT_NULL = 0, AT_PHDR = 3, AT_PHENT = 4, AT_PHNUM = 5, AT_PAGESZ = 6, AT_BASE = 7,
  AT_FLAGS = 8, AT_ENTRY = 9, AT_UID = 11, AT_EUID = 12, AT_GID = 13, AT_EGID = 14,
  AT_PLATFORM = 15, AT_HWCAP = 16, AT_CLKTCK = 17, AT_SECURE = 23, AT_RANDOM = 25,
  AT_HWCAP2 = 26, AT_EXECFN = 31, AT_MINSIGSTKSZ = 51;

/** A bad or unsupported executable: the message says what was wrong (execve gets ENOEXEC). */
export class ElfError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ElfError';
  }
}

export interface Phdr {
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
  align: number;
}

export interface ElfImage {
  type: number;
  entry: number;
  phoff: number;
  phentsize: number;
  phnum: number;
  phdrs: Phdr[];
  interp?: string;
  /** PT_GNU_STACK asks for an executable stack. */
  execStack: boolean;
}

export function parseElf(file: Uint8Array, what: string): ElfImage {
  // The runner's own words for what makes a file no x86-64 executable (execve's ENOEXEC);
  // the header and program-header table are then read by the domain builder's ELF64 parser.
  if (!isElf(file) || file.length < 64) throw new ElfError(`${what}: not an ELF file`);
  if (file[4] !== 2) throw new ElfError(`${what}: not a 64-bit ELF (EI_CLASS ${file[4]})`);
  if (file[5] !== 1) throw new ElfError(`${what}: not little-endian (EI_DATA ${file[5]})`);
  let elf: Elf64;
  try {
    elf = parseElf64(file);
  } catch (e) {
    throw new ElfError(`${what}: ${errorMessage(e)}`);
  }
  const num = (v: bigint, o: string): number => {
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfError(`${what}: ${o} ${v.toString(16)} out of range`);
    return Number(v);
  };
  const { type, programHeaders } = elf;
  if (type !== ET_EXEC && type !== ET_DYN) throw new ElfError(`${what}: e_type ${type} is not an executable`);
  const phnum = programHeaders.length;
  if (phnum === 0) throw new ElfError(`${what}: no program headers`);
  const phdrs: Phdr[] = [];
  let interp: string | undefined;
  let execStack = false;
  for (const h of programHeaders) {
    const k = h.index;
    const p: Phdr = {
      type: h.type, flags: h.flags, offset: num(h.offset, 'p_offset'), vaddr: num(h.vaddr, 'p_vaddr'),
      filesz: num(h.filesz, 'p_filesz'), memsz: num(h.memsz, 'p_memsz'), align: num(h.align, 'p_align'),
    };
    if (p.type === PT_LOAD) {
      if (p.filesz > p.memsz) throw new ElfError(`${what}: PT_LOAD ${k} has p_filesz > p_memsz`);
      if (p.offset + p.filesz > file.length) throw new ElfError(`${what}: PT_LOAD ${k} extends past the end of the file`);
      if (p.align > 1 && (p.vaddr - p.offset) % PAGE !== 0) {
        throw new ElfError(`${what}: PT_LOAD ${k} p_vaddr and p_offset disagree modulo the page size`);
      }
    } else if (p.type === PT_INTERP) {
      if (p.offset + p.filesz > file.length || p.filesz < 2) throw new ElfError(`${what}: bad PT_INTERP`);
      interp = Buffer.from(file.subarray(p.offset, p.offset + p.filesz - 1)).toString('latin1');
    } else if (p.type === PT_GNU_STACK) {
      execStack = (p.flags & PF_X) !== 0;
    }
    phdrs.push(p);
  }
  if (!phdrs.some((p) => p.type === PT_LOAD)) throw new ElfError(`${what}: no PT_LOAD segment`);
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  return {
    type, entry: num(elf.entry, 'e_entry'), phoff: num(dv.getBigUint64(32, true), 'e_phoff'),
    phentsize: dv.getUint16(54, true), phnum, phdrs, interp, execStack,
  };
}

export interface Loaded {
  /** Load bias (0 for ET_EXEC). */
  bias: number;
  entry: number;
  /** Address of the program headers in memory (AT_PHDR). */
  phdr: number;
  /** End of the highest segment (where brk starts). */
  end: number;
}

function protOf(flags: number): number {
  return (flags & PF_R ? PROT_READ : 0) | (flags & PF_W ? PROT_WRITE : 0) | (flags & PF_X ? PROT_EXEC : 0);
}

/**
 * Map the PT_LOAD segments. ET_EXEC goes at its addresses; ET_DYN at `dynBase` if given
 * (a PIE with an interpreter: ELF_ET_DYN_BASE), else wherever the top-down mmap allocator puts
 * the whole image (a static PIE or an interpreter: "load_bias of 0" in binfmt_elf.c). File
 * pages come from the page cache under `key` (the file's identity), as mmap would give them.
 */
export function loadSegments(as: AddressSpace, file: Uint8Array, key: string, elf: ElfImage, what: string, dynBase?: number): Loaded {
  const loads = elf.phdrs.filter((p) => p.type === PT_LOAD);
  const first = loads[0];
  let bias = 0;
  if (elf.type === ET_DYN) {
    const lo = pageDown(first.vaddr);
    const hi = Math.max(...loads.map((p) => p.vaddr + p.memsz));
    const total = pageUp(hi) - lo;
    const align = Math.max(PAGE, ...loads.map((p) => p.align));
    if (dynBase !== undefined) {
      bias = pageDown(Math.floor(dynBase / align) * align - first.vaddr);
    } else {
      // Find room for the whole image so the segments keep their relative places; a larger
      // alignment rounds the found address down, as binfmt_elf.c does.
      const at = as.map(0, total, 0, { name: what });
      if (at < 0) throw new ElfError(`${what}: no room for a ${total}-byte image`);
      as.unmap(at, total);
      bias = Math.floor(at / align) * align - lo;
    }
  }
  const src: FileSource = { key, size: file.length, read: (buf, off) => buf.set(file.subarray(off, off + buf.length)) };
  for (const p of loads) {
    const start = pageDown(bias + p.vaddr);
    const fileEnd = bias + p.vaddr + p.filesz;
    const fileMapEnd = p.filesz > 0 ? pageUp(fileEnd) : start;
    const memEnd = pageUp(bias + p.vaddr + p.memsz);
    const prot = protOf(p.flags);
    if (fileMapEnd > start) {
      // The file from the segment's page start, like elf_map's mmap of the file.
      const r = as.mapFile(start, fileMapEnd - start, prot, src, pageDown(p.offset), { fixed: true, name: what });
      if (r < 0) throw new ElfError(`${what}: cannot map segment at 0x${start.toString(16)} (errno ${-r})`);
      // padzero: the bss part of the last file page is zeros, not the file's next bytes.
      if (p.memsz > p.filesz && fileMapEnd > fileEnd) as.zero(fileEnd, Math.min(fileMapEnd, memEnd) - fileEnd);
    }
    if (memEnd > fileMapEnd) {
      const r = as.map(fileMapEnd, memEnd - fileMapEnd, prot, { fixed: true, anon: true, name: what });
      if (r < 0) throw new ElfError(`${what}: cannot map bss at 0x${fileMapEnd.toString(16)} (errno ${-r})`);
    }
  }
  let phdr = 0;
  const ph = elf.phdrs.find((p) => p.type === PT_PHDR);
  if (ph) phdr = bias + ph.vaddr;
  else {
    for (const p of loads) {
      if (p.offset <= elf.phoff && elf.phoff < p.offset + p.filesz) phdr = bias + p.vaddr + (elf.phoff - p.offset);
    }
  }
  const end = bias + Math.max(...loads.map((p) => p.vaddr + p.memsz));
  return { bias, entry: bias + elf.entry, phdr, end };
}

export interface StackSetup {
  argv: string[];
  envp: string[];
  /** AT_EXECFN: the filename as passed to execve. */
  execfn: string;
  uid: number;
  euid: number;
  gid: number;
  egid: number;
}

/** Map the stack and lay out argc/argv/envp/auxv exactly as create_elf_tables does; returns RSP. */
export function buildStack(as: AddressSpace, elf: ElfImage, main: Loaded, interpBase: number, s: StackSetup): number {
  const enc = (t: string) => Buffer.from(t + '\0', 'utf8');
  const strings = [...s.argv.map(enc), ...s.envp.map(enc)];
  const execfn = enc(s.execfn);
  const stringBytes = strings.reduce((n, b) => n + b.length, 0) + execfn.length;
  if (stringBytes > STACK_LIMIT / 4) throw new ElfError(`argument list too long (${stringBytes} bytes)`);
  const stackProt = PROT_READ | PROT_WRITE | (elf.execStack ? PROT_EXEC : 0);
  const r = as.map(STACK_TOP - STACK_LIMIT, STACK_LIMIT, stackProt, { fixed: true, name: '[stack]' });
  if (r < 0) throw new ElfError(`cannot map the stack (errno ${-r})`);

  // fs/exec.c: p starts one pointer below the top; the filename goes first, then envp and
  // argv strings, each block in order, argv lowest.
  let p = STACK_TOP - 8;
  p -= execfn.length;
  const execfnAddr = p;
  as.poke(p, execfn);
  p -= strings.reduce((n, b) => n + b.length, 0);
  const stringsStart = p;
  const ptrs: number[] = [];
  for (const b of strings) {
    ptrs.push(p);
    as.poke(p, b);
    p += b.length;
  }
  p = stringsStart;

  // create_elf_tables: align, platform string, 16 random bytes, then the vectors.
  p = Math.floor(p / 16) * 16;
  const platform = enc('x86_64');
  p -= platform.length;
  const platformAddr = p;
  as.poke(p, platform);
  p -= 16;
  const randomAddr = p;
  as.poke(p, randomFillSync(new Uint8Array(16)));

  const aux: [number, number][] = [
    // ARCH_DLINFO: no vDSO (AT_SYSINFO_EHDR absent: glibc then makes real system calls);
    // AT_MINSIGSTKSZ is get_sigframe_size() for an FXSAVE-only CPU: rt_sigframe (440) + 15
    // alignment + 512 FXSAVE + 63 XSAVE padding, rounded to 16.
    [AT_MINSIGSTKSZ, 1040],
    [AT_HWCAP, LEAF1_EDX >>> 0],
    [AT_PAGESZ, PAGE],
    [AT_CLKTCK, 100],
    [AT_PHDR, main.phdr],
    [AT_PHENT, 56],
    [AT_PHNUM, elf.phnum],
    [AT_BASE, interpBase],
    [AT_FLAGS, 0],
    [AT_ENTRY, main.entry],
    [AT_UID, s.uid],
    [AT_EUID, s.euid],
    [AT_GID, s.gid],
    [AT_EGID, s.egid],
    [AT_SECURE, 0],
    [AT_RANDOM, randomAddr],
    [AT_HWCAP2, 0],
    [AT_EXECFN, execfnAddr],
    [AT_PLATFORM, platformAddr],
    [AT_NULL, 0],
  ];
  const argc = s.argv.length;
  const items = argc + 1 + (s.envp.length + 1) + 1;
  const sp = Math.floor((p - aux.length * 16 - items * 8) / 16) * 16;
  const words: number[] = [argc, ...ptrs.slice(0, argc), 0, ...ptrs.slice(argc), 0];
  for (const [k, v] of aux) words.push(k, v);
  const block = new Uint8Array(words.length * 8);
  const dv = new DataView(block.buffer);
  words.forEach((w, k) => dv.setBigUint64(k * 8, BigInt(w), true));
  as.poke(sp, block);
  return sp;
}

export { ET_DYN, ET_EXEC, ELF_ET_DYN_BASE };
