import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKernelImage } from '../../../src/hypervisor/builder/kernel-image.js';
import { splitU64, toNumber } from '../../../src/hypervisor/builder/u64.js';
import { bcjX86Decode } from '../../../src/hypervisor/builder/xz.js';
import { lzma2 } from '@napi-rs/lzma';
import {
  type BuiltElf, expectedPayloadOffset, FixtureDir, kernelCompress, makeBzImage, XEN_ELFNOTE,
} from './fixtures.js';

let fx: FixtureDir;
let vmlinux: BuiltElf;

beforeAll(() => {
  fx = new FixtureDir();
  vmlinux = fx.vmlinux();
});
afterAll(() => fx.remove());

/** Program headers as readelf prints them: the peer for our ELF parsing. */
function readelfSegments(path: string): Array<{ type: string; vaddr: bigint; paddr: bigint; filesz: bigint; memsz: bigint; flags: string }> {
  const out = execFileSync('readelf', ['-lW', path], { encoding: 'utf8' });
  const rows = [];
  for (const line of out.split('\n')) {
    const m = /^\s+(LOAD|NOTE)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+([RWE ]+?)\s+0x/.exec(line);
    if (m) {
      rows.push({
        type: m[1], vaddr: BigInt('0x' + m[2]), paddr: BigInt('0x' + m[3]),
        filesz: BigInt('0x' + m[4]), memsz: BigInt('0x' + m[5]), flags: m[6].replace(/ /g, ''),
      });
    }
  }
  return rows;
}

function flagString(f: number): string {
  return (f & 4 ? 'R' : '') + (f & 2 ? 'W' : '') + (f & 1 ? 'E' : '');
}

describe('raw vmlinux ELF', () => {
  it('parses segments exactly as readelf sees them', () => {
    const k = loadKernelImage(vmlinux.bytes, 'vmlinux');
    expect(k.format).toBe('elf');
    expect(k.compression).toBe('none');
    const peer = readelfSegments(vmlinux.path).filter((s) => s.type === 'LOAD');
    expect(peer.length).toBe(2);
    expect(k.segments.map((s) => ({
      vaddr: s.vaddr, paddr: s.paddr, filesz: s.filesz, memsz: s.memsz, flags: flagString(s.flags),
    }))).toEqual(peer.map(({ type: _t, ...rest }) => rest));
    // The data segment carries .bss: memory beyond the file bytes.
    const data = k.segments[1];
    expect(data.memsz - data.filesz).toBeGreaterThanOrEqual(12288n);
    expect(data.fileBytes.length).toBe(Number(data.filesz));
    const tag = Buffer.from('tsxen kernel-image fixture');
    expect(Buffer.from(data.fileBytes).indexOf(tag)).toBe(8);
  });

  it('reads the Xen notes: strings, 4- and 8-byte numbers, features', () => {
    const k = loadKernelImage(vmlinux.bytes, 'vmlinux');
    const n = k.notes;
    expect(n.source).toBe('PT_NOTE');
    expect(n.count).toBe(16); // the GNU note is not counted
    expect(n.guestOs).toBe('linux');
    expect(n.guestVersion).toBe('2.6');
    expect(n.xenVersion).toBe('xen-3.0');
    expect(n.loader).toBe('generic');
    expect(n.paeMode).toBe('yes');
    expect(n.virtBase).toBe(0xffffffff80000000n);
    expect(n.entry).toBe(vmlinux.symbols.get('startup_xen'));
    expect(n.initP2m).toBe(0x8000000000n);
    expect(n.hvStartLow).toBe(0xffff800000000000n);
    expect(n.paddrOffset).toBe(0n);
    expect(n.suspendCancel).toBe(1n);
    expect(n.modStartPfn).toBe(1n);
    expect(n.l1MfnValid).toEqual([1n, 1n]);
    expect(n.hypercallPage).toBeUndefined();
    expect(n.unknownTypes).toEqual([0x99]);
    expect(n.features.strings).toEqual(['!writable_page_tables|pae_pgdir_above_4gb']);
    expect(n.features.requiredNames).toEqual(['writable_page_tables']);
    expect(n.features.supportedNames).toEqual([
      'writable_page_tables', 'pae_pgdir_above_4gb', 'dom0', 'linux_rsdp_unrestricted',
    ]);
    expect(n.features.required).toBe(1);
    expect(n.features.supported).toBe((1 << 0) | (1 << 4) | (1 << 11) | (1 << 15));
  });

  it('computes the virtual range like elf_xen_addr_calc_check', () => {
    const k = loadKernelImage(vmlinux.bytes);
    expect(k.guestType).toBe('xen-3.0-x86_64');
    expect(k.virtBase).toBe(0xffffffff80000000n);
    expect(k.elfPaddrOffset).toBe(0n);
    expect(k.virtOffset).toBe(0xffffffff80000000n);
    expect(k.elf.pstart).toBe(0x1000000n);
    expect(k.virtKernelStart).toBe(0xffffffff81000000n);
    // _end (from nm) is the end of .bss, the last byte the kernel occupies.
    expect(k.virtKernelEnd).toBe(vmlinux.symbols.get('_end'));
    expect(k.virtEntry).toBe(vmlinux.symbols.get('startup_xen'));
    expect(k.p2mBase).toBe(0x8000000000n);
    expect(k.unmappedInitrd).toBe(true);
    for (const s of k.segments) expect(s.guestVaddr).toBe(s.vaddr);
    expect(splitU64(k.virtKernelStart)).toEqual({ hi: 0xffffffff, lo: 0x81000000 });
    expect(() => toNumber(k.virtKernelStart, 'start')).toThrow(/out of range/);
  });

  it('records HYPERCALL_PAGE when an older kernel names one', () => {
    const hp = fx.vmlinux({ notes: [
      { type: XEN_ELFNOTE.GUEST_OS, desc: '.asciz "linux"' },
      { type: XEN_ELFNOTE.XEN_VERSION, desc: '.asciz "xen-3.0"' },
      { type: XEN_ELFNOTE.VIRT_BASE, desc: '.quad 0xffffffff80000000' },
      { type: XEN_ELFNOTE.HYPERCALL_PAGE, desc: '.quad hypercall_page' },
    ] });
    const k = loadKernelImage(hp.bytes);
    expect(k.hypercallPage).toBe(hp.symbols.get('hypercall_page'));
    // Without an ENTRY note the ELF entry point is used.
    expect(k.virtEntry).toBe(hp.symbols.get('startup_xen'));
    expect(k.notes.features.required).toBe(0);
  });

  it('falls back to SHT_NOTE sections when no PT_NOTE holds Xen notes', () => {
    const s = fx.vmlinux({ noPtNote: true });
    expect(readelfSegments(s.path).some((r) => r.type === 'NOTE')).toBe(false);
    const k = loadKernelImage(s.bytes);
    expect(k.notes.source).toBe('SHT_NOTE');
    expect(k.notes.guestOs).toBe('linux');
    expect(k.virtEntry).toBe(s.symbols.get('startup_xen'));
  });

  it('accepts a gzipped vmlinux, as libxenguest gunzips kernel files', () => {
    const k = loadKernelImage(kernelCompress('gzip', vmlinux.bytes), 'vmlinux.gz');
    expect(k.format).toBe('elf');
    expect(k.compression).toBe('gzip');
    expect(Buffer.from(k.elf.bytes).equals(vmlinux.bytes)).toBe(true);
  });
});

describe('bzImage', () => {
  const cases: Array<[string, 'gzip' | 'xz' | 'lz4', string[] | undefined]> = [
    ['gzip', 'gzip', undefined],
    ['xz with x86 BCJ, CRC32 (scripts/xz_wrap.sh)', 'xz', undefined],
    ['xz with CRC64', 'xz', ['--check=crc64', '--x86', '--lzma2=dict=1MiB', '-c']],
    ['xz with SHA-256 and no BCJ', 'xz', ['--check=sha256', '-c']],
    ['xz in 4 KiB blocks', 'xz', ['--check=crc32', '--x86', '--lzma2=preset=6', '--block-size=4KiB', '-T1', '-c']],
    ['xz with a BCJ start offset', 'xz', ['--check=crc32', '--x86=start=4096', '--lzma2=dict=1MiB', '-c']],
    ['lz4 legacy frame', 'lz4', undefined],
  ];
  for (const [label, kind, args] of cases) {
    it(`decompresses ${label} to the original vmlinux`, () => {
      const img = makeBzImage(kernelCompress(kind, vmlinux.bytes, args));
      const k = loadKernelImage(img, 'bzImage');
      expect(k.format).toBe('bzImage');
      expect(k.compression).toBe(kind);
      expect(Buffer.from(k.elf.bytes).equals(vmlinux.bytes)).toBe(true);
      expect(k.virtKernelStart).toBe(0xffffffff81000000n);
      expect(k.virtEntry).toBe(vmlinux.symbols.get('startup_xen'));
    });
  }

  it('undoes the x86 BCJ filter itself (lzma-rs has no BCJ)', () => {
    // xz --format=raw --x86 gives raw LZMA2 of the BCJ-filtered bytes: LZMA2 alone must not
    // reproduce the ELF, LZMA2 plus our BCJ decoder must.
    const raw = execFileSync('xz', ['--format=raw', '--x86', '--lzma2=preset=0', '-c'], { input: vmlinux.bytes });
    const filtered = lzma2.decompressSync(raw);
    expect(filtered.equals(vmlinux.bytes)).toBe(false);
    bcjX86Decode(filtered);
    expect(filtered.equals(vmlinux.bytes)).toBe(true);
  });

  it('reads the setup header fields', () => {
    const opts = { setupSects: 7, relOffset: 0x123, protocol: 0x020d };
    const img = makeBzImage(kernelCompress('gzip', vmlinux.bytes), opts);
    const k = loadKernelImage(img);
    expect(k.bzImage).toMatchObject({
      protocol: 0x020d,
      protocolText: '2.13',
      setupSects: 7,
      protectedModeOffset: 8 * 512,
      payloadOffset: expectedPayloadOffset(opts),
      kernelVersion: 'tsxen-test 6.1.0 #1',
      xloadflags: 0x7f,
      initSize: 0x100000,
    });
  });

  it('accepts boot protocol 2.08, the oldest with payload_offset', () => {
    const k = loadKernelImage(makeBzImage(kernelCompress('gzip', vmlinux.bytes), { protocol: 0x0208 }));
    expect(k.bzImage?.protocolText).toBe('2.08');
    expect(k.bzImage?.xloadflags).toBe(0);
  });
});
