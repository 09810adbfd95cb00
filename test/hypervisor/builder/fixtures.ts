/**
 * Test kernels built with the real toolchain: a small x86-64 ELF with Xen notes emitted the way
 * Linux's arch/x86/xen/xen-head.S does (ELFNOTE macro of include/linux/elfnote.h), linked like
 * vmlinux (virtual 0xffffffff81000000, physical 0x1000000, notes in a PT_NOTE), then compressed
 * with the real gzip/xz/lz4 using the kernel's own flags and wrapped in a bzImage setup header.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const XEN_ELFNOTE = {
  ENTRY: 1, HYPERCALL_PAGE: 2, VIRT_BASE: 3, PADDR_OFFSET: 4, XEN_VERSION: 5, GUEST_OS: 6,
  GUEST_VERSION: 7, LOADER: 8, PAE_MODE: 9, FEATURES: 10, HV_START_LOW: 12, L1_MFN_VALID: 13,
  SUSPEND_CANCEL: 14, INIT_P2M: 15, MOD_START_PFN: 16, SUPPORTED_FEATURES: 17,
} as const;

/** A note as assembler text for its descriptor, e.g. '.quad startup_xen' or '.asciz "linux"'. */
export interface NoteSpec { type: number; desc: string; owner?: string }

/** The notes of Debian's 6.1 kernel (xen-head.S), which has no HYPERCALL_PAGE. */
export function linuxNotes(): NoteSpec[] {
  const N = XEN_ELFNOTE;
  return [
    { type: N.GUEST_OS, desc: '.asciz "linux"' },
    { type: N.GUEST_VERSION, desc: '.asciz "2.6"' },
    { type: N.XEN_VERSION, desc: '.asciz "xen-3.0"' },
    { type: N.VIRT_BASE, desc: '.quad 0xffffffff80000000' },
    { type: N.INIT_P2M, desc: '.quad 0x8000000000' },
    { type: N.ENTRY, desc: '.quad startup_xen' },
    // .ascii, not .asciz, exactly as Linux writes it: the string ends with the descriptor.
    { type: N.FEATURES, desc: '.ascii "!writable_page_tables|pae_pgdir_above_4gb"' },
    { type: N.SUPPORTED_FEATURES, desc: '.long (1 << 0) | (1 << 11) | (1 << 15)' },
    { type: N.PAE_MODE, desc: '.asciz "yes"' },
    { type: N.LOADER, desc: '.asciz "generic"' },
    { type: N.L1_MFN_VALID, desc: '.quad 1; .quad 1' },
    { type: N.SUSPEND_CANCEL, desc: '.long 1' },
    { type: N.MOD_START_PFN, desc: '.long 1' },
    { type: N.HV_START_LOW, desc: '.quad 0xffff800000000000' },
    { type: N.PADDR_OFFSET, desc: '.quad 0' },
    { type: 0x99, desc: '.long 7' },
    { type: 1, desc: '.long 0', owner: 'GNU' },
  ];
}

export interface VmlinuxOptions {
  notes?: NoteSpec[];
  /** Leave the notes in a SHT_NOTE section without a PT_NOTE program header. */
  noPtNote?: boolean;
  /** Assembly run at startup_xen (in place of the default calls and jumps). */
  startup?: string;
}

export interface BuiltElf {
  bytes: Buffer;
  path: string;
  /** Symbol values from `nm`, the peer for addresses. */
  symbols: Map<string, bigint>;
}

export class FixtureDir {
  readonly dir = mkdtempSync(join(tmpdir(), 'tsxen-kimage-'));
  private n = 0;

  path(name: string): string {
    return join(this.dir, name);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Assembles and links a vmlinux-like ELF64 with gcc and ld. */
  vmlinux(opts: VmlinuxOptions = {}): BuiltElf {
    const id = `k${this.n++}`;
    const notes = (opts.notes ?? linuxNotes()).map((n) => [
      '  .pushsection .note.' + (n.owner ?? 'Xen') + ', "a", @note',
      '  .balign 4',
      '  .long 2f - 1f',
      '  .long 4f - 3f',
      `  .long ${n.type}`,
      `1: .asciz "${n.owner ?? 'Xen'}"`,
      '2: .balign 4',
      `3: ${n.desc}`,
      '4: .balign 4',
      '  .popsection',
    ].join('\n')).join('\n');
    const asm = `
  .text
  .globl startup_xen
startup_xen:
${opts.startup ?? `
  /* calls and jumps give the x86 BCJ filter something to convert */
  .rept 300
  call helper
  jmp 1f
1:
  .endr`}
helper:
  hlt
  ret
  .balign 4096
  .globl hypercall_page
hypercall_page:
  .fill 4096, 1, 0xcc
  .data
  .globl some_data
some_data:
  .quad 0x1122334455667788
  .ascii "tsxen kernel-image fixture"
  .bss
  .skip 12288
${notes}
  .section .note.GNU-stack, "", @progbits
`;
    const lds = `
ENTRY(startup_xen)
PHDRS { text PT_LOAD FLAGS(5); data PT_LOAD FLAGS(6); ${opts.noPtNote ? '' : 'note PT_NOTE FLAGS(4);'} }
SECTIONS {
  . = 0xffffffff81000000;
  .text : AT(ADDR(.text) - 0xffffffff80000000) { *(.text) } :text
  .notes : AT(ADDR(.notes) - 0xffffffff80000000) { *(.note.*) } :text ${opts.noPtNote ? '' : ':note'}
  . = ALIGN(4096);
  .data : AT(ADDR(.data) - 0xffffffff80000000) { *(.data) } :data
  .bss : AT(ADDR(.bss) - 0xffffffff80000000) { *(.bss) } :data
  _end = .;
  /DISCARD/ : { *(.comment) *(.note.GNU-stack) }
}
`;
    writeFileSync(this.path(`${id}.S`), asm);
    writeFileSync(this.path(`${id}.lds`), lds);
    execFileSync('gcc', ['-c', '-o', this.path(`${id}.o`), this.path(`${id}.S`)]);
    execFileSync('ld', ['-T', this.path(`${id}.lds`), '-o', this.path(id), this.path(`${id}.o`)]);
    return { bytes: readFileSync(this.path(id)), path: this.path(id), symbols: nmSymbols(this.path(id)) };
  }

  /** A 32-bit (i386) ELF, as a 32-bit PV kernel would be. */
  elf32(): Buffer {
    const src = this.path('k32.S');
    writeFileSync(src, '  .text\n  .globl startup_32\nstartup_32:\n  hlt\n  .section .note.GNU-stack, "", @progbits\n');
    execFileSync('gcc', ['-m32', '-c', '-o', this.path('k32.o'), src]);
    execFileSync('ld', ['-m', 'elf_i386', '-e', 'startup_32', '-Ttext=0xc0100000', '-o', this.path('k32'), this.path('k32.o')]);
    return readFileSync(this.path('k32'));
  }
}

function nmSymbols(path: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of execFileSync('nm', [path], { encoding: 'utf8' }).split('\n')) {
    const m = /^([0-9a-f]+) \S (\S+)$/.exec(line);
    if (m) out.set(m[2], BigInt('0x' + m[1]));
  }
  return out;
}

function sizeTrailer(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

/** Compresses like arch/x86/boot/compressed/Makefile (with the u32 size appended, except gzip). */
export function kernelCompress(kind: 'gzip' | 'xz' | 'lz4' | 'bzip2' | 'lzma' | 'zstd', data: Buffer, xzArgs?: string[]): Buffer {
  const run = (cmd: string, args: string[]): Buffer => execFileSync(cmd, args, { input: data, maxBuffer: 1 << 28 });
  switch (kind) {
    case 'gzip': return run('gzip', ['-9', '-n', '-c']);
    case 'xz': return Buffer.concat([run('xz', xzArgs ?? ['--check=crc32', '--x86', '--lzma2=dict=32MiB', '-c']), sizeTrailer(data.length)]);
    case 'lz4': return Buffer.concat([run('lz4', ['-l', '-9', '-c', '-']), sizeTrailer(data.length)]);
    case 'bzip2': return Buffer.concat([run('bzip2', ['-9', '-c']), sizeTrailer(data.length)]);
    case 'lzma': return Buffer.concat([run('lzma', ['-9', '-c']), sizeTrailer(data.length)]);
    case 'zstd': return Buffer.concat([run('zstd', ['-q', '-c']), sizeTrailer(data.length)]);
  }
}

export interface BzImageOptions {
  setupSects?: number;
  protocol?: number;
  /** payload_offset, relative to the protected-mode code. */
  relOffset?: number;
  /** Override payload_length (to describe a payload longer than the file). */
  payloadLength?: number;
}

/**
 * A bzImage around `payload`: boot sector and setup sectors with the header fields of
 * Documentation/x86/boot.rst, then protected-mode code whose payload_offset points at the
 * compressed vmlinux.
 */
export function makeBzImage(payload: Buffer, o: BzImageOptions = {}): Buffer {
  const setupSects = o.setupSects ?? 4;
  const relOffset = o.relOffset ?? 0x40;
  const pm = (setupSects + 1) * 512;
  const img = Buffer.alloc(pm + relOffset + payload.length, 0);
  img[0x1f1] = setupSects;
  img.writeUInt16LE(0xaa55, 0x1fe);
  img.write('HdrS', 0x202, 'latin1');
  img.writeUInt16LE(o.protocol ?? 0x020f, 0x206);
  const version = 'tsxen-test 6.1.0 #1';
  img.writeUInt16LE(0x300 - 0x200, 0x20e);
  img.write(version + '\0', 0x300, 'latin1');
  img.writeUInt16LE(0x7f, 0x236);
  img.writeUInt32LE(relOffset, 0x248);
  img.writeUInt32LE(o.payloadLength ?? payload.length, 0x24c);
  img.writeUInt32LE(0x100000, 0x260);
  img.fill(0xcc, pm, pm + relOffset); // stands in for the decompressor stub
  payload.copy(img, pm + relOffset);
  return img;
}

export function expectedPayloadOffset(o: BzImageOptions = {}): number {
  return ((o.setupSects ?? 4) + 1) * 512 + (o.relOffset ?? 0x40);
}
