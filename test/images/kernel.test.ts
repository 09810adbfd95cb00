import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  EM_X86_64,
  ET_EXEC,
  IMAGES_DIR,
  PT_LOAD,
  PT_NOTE,
  bzImagePayload,
  parseElf64,
  parseNotes,
  parseSetupHeader,
  type Elf64,
  type ElfNote,
  type SetupHeader,
} from './formats.js';

// Note types from xen/include/public/elfnote.h (Debian libxen-dev: /usr/include/xen/elfnote.h).
const XEN_ELFNOTE_ENTRY = 1;
const XEN_ELFNOTE_HYPERCALL_PAGE = 2;
const XEN_ELFNOTE_VIRT_BASE = 3;
const XEN_ELFNOTE_GUEST_OS = 6;
const XEN_ELFNOTE_LOADER = 8;

const image = readFileSync(join(IMAGES_DIR, 'vmlinuz-tiny'));
let hdr: SetupHeader;
let payload: Buffer;
let vmlinux: Buffer;
let elf: Elf64;
let xenNotes: ElfNote[];
let systemMap: Map<string, bigint>;

function note(type: number): ElfNote | undefined {
  return xenNotes.find((n) => n.type === type);
}

function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.toString('latin1', 0, nul < 0 ? b.length : nul);
}

beforeAll(() => {
  hdr = parseSetupHeader(image);
  payload = bzImagePayload(image, hdr);
  vmlinux = gunzipSync(payload);
  elf = parseElf64(vmlinux);
  xenNotes = elf.programHeaders
    .filter((p) => p.type === PT_NOTE)
    .flatMap((p) => parseNotes(vmlinux.subarray(p.offset, p.offset + p.filesz)))
    .filter((n) => n.owner === 'Xen');
  systemMap = new Map();
  const text = gunzipSync(readFileSync(join(IMAGES_DIR, 'System.map-tiny.gz'))).toString('latin1');
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{16}) \w (\S+)$/.exec(line);
    if (m) systemMap.set(m[2], BigInt('0x' + m[1]));
  }
});

describe('vmlinuz-tiny bzImage', () => {
  it('has the x86 boot protocol header, version >= 2.08', () => {
    expect(hdr.magic).toBe('HdrS');
    expect(hdr.version).toBeGreaterThanOrEqual(0x0208);
    // LOADED_HIGH: a bzImage, loaded at 1 MiB.
    expect(hdr.loadflags & 1).toBe(1);
    expect(hdr.kernelVersion).toMatch(/^6\.1\.\d+ \(tsxen@tsxen\) #1 SMP /);
    // Reproducible build: the fixed KBUILD_BUILD_TIMESTAMP, not the build machine's clock.
    expect(hdr.kernelVersion).toContain('2015');
    expect(image.length).toBeGreaterThan(1_000_000);
    expect(image.length).toBeLessThan(4_000_000);
  });

  it('carries a gzip payload whose trailer size matches what it inflates to', () => {
    expect(hdr.payloadLength).toBeGreaterThan(500_000);
    expect([payload[0], payload[1]]).toEqual([0x1f, 0x8b]);
    // arch/x86/boot/compressed appends the inflated size (size_append) after the gzip stream;
    // it is the last 4 bytes of the payload.
    expect(payload.readUInt32LE(payload.length - 4)).toBe(vmlinux.length);
  });

  it('inflates to an ELF64 x86-64 executable whose loadable segments sit in the kernel map', () => {
    expect(elf.type).toBe(ET_EXEC);
    expect(elf.machine).toBe(EM_X86_64);
    const loads = elf.programHeaders.filter((p) => p.type === PT_LOAD);
    expect(loads.length).toBeGreaterThan(1);
    // Every segment's physical address, seen through __START_KERNEL_map, is its link address,
    // except the SMP per-CPU template, which is linked at 0 (percpu offsets) but loaded in
    // line with the rest: a loader must place segments by p_paddr, not p_vaddr (as Xen's
    // xen/common/libelf/libelf-loader.c elf_load_binary does).
    const kernelMap = 0xffffffff80000000n;
    const percpu = loads.filter((p) => p.vaddr === 0n);
    expect(percpu.length).toBe(1);
    for (const p of loads.filter((x) => x.vaddr !== 0n)) expect(p.vaddr).toBe(p.paddr + kernelMap);
    const start = loads.reduce((m, p) => (p.paddr < m ? p.paddr : m), percpu[0].paddr);
    expect(start + kernelMap).toBe(0xffffffff81000000n);
  });

  it('has the Xen PV ELF notes: GUEST_OS linux, LOADER generic, VIRT_BASE, ENTRY', () => {
    expect(xenNotes.length).toBeGreaterThan(5);
    expect(cString(note(XEN_ELFNOTE_GUEST_OS)!.desc)).toBe('linux');
    expect(cString(note(XEN_ELFNOTE_LOADER)!.desc)).toBe('generic');
    const virtBase = note(XEN_ELFNOTE_VIRT_BASE)!.desc.readBigUInt64LE(0);
    expect(virtBase).toBe(0xffffffff80000000n);
  });

  it('names startup_xen (per System.map) as the Xen ENTRY, inside an executable segment', () => {
    const entry = note(XEN_ELFNOTE_ENTRY)!.desc.readBigUInt64LE(0);
    expect(systemMap.get('startup_xen')).toBe(entry);
    const seg = elf.programHeaders.find(
      (p) => p.type === PT_LOAD && entry >= p.vaddr && entry < p.vaddr + p.memsz,
    );
    expect(seg).toBeDefined();
    expect(seg!.flags & 1).toBe(1); // PF_X
  });

  it('has no HYPERCALL_PAGE note: hypercalls are direct syscall instructions', () => {
    expect(note(XEN_ELFNOTE_HYPERCALL_PAGE)).toBeUndefined();
    expect(systemMap.has('xen_hypercall_pv')).toBe(true);
    expect(systemMap.has('hypercall_page')).toBe(false);
  });

  it('System.map symbols agree with the ELF entry point', () => {
    expect(systemMap.size).toBeGreaterThan(5000);
    // e_entry is startup_64's physical address; __START_KERNEL_map maps it at VIRT_BASE.
    expect(systemMap.get('startup_64')).toBe(elf.entry + 0xffffffff80000000n);
    expect(systemMap.get('_text')).toBe(0xffffffff81000000n);
  });
});

describe('kernel/config-tiny (the resolved .config)', () => {
  const config = readFileSync(join(IMAGES_DIR, 'kernel/config-tiny'), 'utf8');
  const fragment = readFileSync(join(IMAGES_DIR, 'kernel/xen-pv-tiny.config'), 'utf8');
  const value = (sym: string): string | undefined =>
    new RegExp(`^CONFIG_${sym}=(.*)$`, 'm').exec(config)?.[1];

  it('builds in every option the issue asks for', () => {
    const yes = [
      '64BIT', 'SMP', 'PRINTK', 'PRINTK_TIME', 'BUG', 'MULTIUSER', 'FUTEX', 'EPOLL', 'SIGNALFD',
      'TIMERFD', 'EVENTFD', 'SHMEM', 'TMPFS', 'POSIX_TIMERS', 'MODULES', 'MODULE_UNLOAD',
      'HYPERVISOR_GUEST', 'PARAVIRT', 'XEN', 'XEN_PV', 'HVC_XEN', 'BLK_DEV_INITRD', 'RD_GZIP',
      'KERNEL_GZIP', 'BINFMT_ELF', 'BINFMT_SCRIPT', 'DEVTMPFS', 'DEVTMPFS_MOUNT', 'PROC_FS',
      'SYSFS', 'BLOCK', 'XEN_BLKDEV_FRONTEND', 'EXT4_FS', 'NET', 'INET', 'PACKET', 'UNIX',
      'NETDEVICES', 'TTY', 'MAGIC_SYSRQ', 'SERIAL_8250', 'SERIAL_8250_CONSOLE',
    ];
    const wrong = yes.filter((s) => value(s) !== 'y');
    expect(wrong).toEqual([]);
    expect(value('NR_CPUS')).toBe('8');
    expect(value('XEN_NETDEV_FRONTEND')).toBe('m');
  });

  it('leaves out IA32_EMULATION, CPU mitigations and KASLR', () => {
    for (const s of ['IA32_EMULATION', 'SPECULATION_MITIGATIONS', 'CPU_MITIGATIONS', 'RANDOMIZE_BASE']) {
      expect(value(s), s).toBeUndefined();
    }
  });

  it('keeps every line of the fragment (nothing dropped by merge_config.sh)', () => {
    const lost: string[] = [];
    for (const line of fragment.split('\n')) {
      const set = /^(CONFIG_\w+)=(.*)$/.exec(line);
      const unset = /^# (CONFIG_\w+) is not set$/.exec(line);
      if (set && !config.split('\n').includes(line)) lost.push(line);
      if (unset && new RegExp(`^${unset[1]}=`, 'm').test(config)) lost.push(line);
    }
    expect(lost).toEqual([]);
  });
});
