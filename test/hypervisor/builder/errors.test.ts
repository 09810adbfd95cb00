import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KernelImageError, loadKernelImage, type LoadOptions } from '../../../src/hypervisor/builder/kernel-image.js';
import { decodeXz } from '../../../src/hypervisor/builder/xz.js';
import {
  type BuiltElf, FixtureDir, kernelCompress, linuxNotes, makeBzImage, type NoteSpec, XEN_ELFNOTE,
} from './fixtures.js';

let fx: FixtureDir;
let vmlinux: BuiltElf;

beforeAll(() => {
  fx = new FixtureDir();
  vmlinux = fx.vmlinux();
});
afterAll(() => fx.remove());

/** Loads and returns the KernelImageError, failing the test if loading succeeds or throws anything else. */
function loadError(bytes: Uint8Array, name = 'vmlinuz-test', options?: LoadOptions): KernelImageError {
  try {
    loadKernelImage(bytes, name, options);
  } catch (e) {
    expect(e).toBeInstanceOf(KernelImageError);
    const err = e as KernelImageError;
    expect(err.file).toBe(name);
    expect(err.message.startsWith(`${name}: `)).toBe(true);
    return err;
  }
  throw new Error('loadKernelImage accepted a bad image');
}

function withNotes(edit: (notes: NoteSpec[]) => NoteSpec[]): Buffer {
  return fx.vmlinux({ notes: edit(linuxNotes()) }).bytes;
}

function replaceNote(type: number, desc: string): (notes: NoteSpec[]) => NoteSpec[] {
  return (notes) => notes.map((n) => (n.type === type && !n.owner ? { type, desc } : n));
}

describe('file format errors', () => {
  it('refuses something that is neither bzImage nor ELF', () => {
    expect(loadError(randomBytes(4096)).reason).toMatch(/^not a bzImage or ELF kernel/);
    expect(loadError(new Uint8Array(0)).reason).toMatch(/^not a bzImage or ELF kernel/);
  });

  it('refuses boot protocols older than 2.08', () => {
    const img = makeBzImage(kernelCompress('gzip', vmlinux.bytes), { protocol: 0x0206 });
    expect(loadError(img).reason).toBe('boot protocol too old: 2.06 (need >= 2.08)');
  });

  it('refuses a payload_length beyond the end of the file', () => {
    const payload = kernelCompress('gzip', vmlinux.bytes);
    const img = makeBzImage(payload, { payloadLength: payload.length + 100 });
    expect(loadError(img).reason).toMatch(/^truncated payload: .* but the file is 0x[0-9a-f]+ bytes$/);
  });

  it('refuses a file cut off in the middle of the payload', () => {
    const img = makeBzImage(kernelCompress('xz', vmlinux.bytes));
    expect(loadError(img.subarray(0, img.length - 500)).reason).toMatch(/^truncated payload: /);
  });

  it('refuses a payload_offset past the end of the file', () => {
    const img = makeBzImage(kernelCompress('gzip', vmlinux.bytes));
    img.writeUInt32LE(img.length, 0x248);
    expect(loadError(img).reason).toMatch(/^truncated payload: it would start at /);
  });

  it('refuses a header cut off before payload_length', () => {
    const img = makeBzImage(kernelCompress('gzip', vmlinux.bytes));
    expect(loadError(img.subarray(0, 0x220)).reason).toMatch(/^truncated bzImage/);
  });

  for (const kind of ['bzip2', 'lzma', 'zstd'] as const) {
    it(`names ${kind} as an unsupported kernel compression`, () => {
      const img = makeBzImage(kernelCompress(kind, vmlinux.bytes));
      expect(loadError(img).reason).toMatch(new RegExp(`^unsupported kernel compression: ${kind} `));
    });
  }

  it('names lzo as an unsupported kernel compression (lzop header magic, no lzop tool here)', () => {
    const lzop = Buffer.concat([Buffer.from([0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64)]);
    expect(loadError(makeBzImage(lzop)).reason).toMatch(/^unsupported kernel compression: lzo /);
  });

  it('refuses an unknown compression, showing its first bytes', () => {
    const img = makeBzImage(Buffer.from('PK\x03\x04 not a kernel at all', 'latin1'));
    expect(loadError(img).reason).toBe('unknown kernel compression (payload starts with 50 4b 03 04 20 6e)');
  });

  it('refuses a 32-bit kernel, bare or inside a bzImage', () => {
    const elf32 = fx.elf32();
    expect(loadError(elf32).reason).toMatch(/^32-bit PV kernels are not supported/);
    expect(loadError(makeBzImage(kernelCompress('gzip', elf32))).reason).toMatch(/^32-bit PV kernels are not supported/);
  });

  it('refuses a kernel without Xen notes', () => {
    const plain = fx.vmlinux({ notes: [{ type: 1, desc: '.long 0', owner: 'GNU' }] });
    const want = 'kernel was not built with CONFIG_XEN_PV (no Xen ELF notes)';
    expect(loadError(plain.bytes).reason).toBe(want);
    expect(loadError(makeBzImage(kernelCompress('lz4', plain.bytes))).reason).toBe(want);
  });

  it('refuses a truncated ELF', () => {
    expect(loadError(vmlinux.bytes.subarray(0, vmlinux.bytes.length - 1000)).reason).toMatch(/^truncated ELF: /);
  });

  it('refuses a payload that is not an ELF', () => {
    const img = makeBzImage(kernelCompress('xz', randomBytes(3000)));
    expect(loadError(img).reason).toBe('the bzImage payload (xz) does not decompress to an ELF vmlinux');
  });
});

describe('decompression bounds and corruption', () => {
  it('refuses, before decoding, a size trailer over the 512 MiB limit', () => {
    const payload = kernelCompress('lz4', vmlinux.bytes);
    payload.writeUInt32LE(600 * 1024 * 1024, payload.length - 4);
    expect(loadError(makeBzImage(payload)).reason).toBe(
      `decompressed kernel would be ${600 * 1024 * 1024} bytes by its size trailer, over the 512 MiB limit`);
  });

  for (const kind of ['gzip', 'xz', 'lz4'] as const) {
    it(`applies a caller's smaller limit to ${kind}`, () => {
      const err = loadError(makeBzImage(kernelCompress(kind, vmlinux.bytes)), 'k', { maxDecompressedBytes: 4096 });
      expect(err.reason).toMatch(/over the 4096 bytes limit$/);
    });

    it(`refuses ${kind} data larger than its size trailer says`, () => {
      const payload = kernelCompress(kind, vmlinux.bytes);
      payload.writeUInt32LE(vmlinux.bytes.length - 100, payload.length - 4);
      expect(loadError(makeBzImage(payload)).reason).toMatch(new RegExp(`^corrupt ${kind} payload: `));
    });

    it(`refuses corrupt ${kind} data`, () => {
      const payload = kernelCompress(kind, vmlinux.bytes);
      const mid = payload.length >> 1;
      for (let i = 0; i < 16; i++) payload[mid + i] ^= 0x5a;
      expect(loadError(makeBzImage(payload)).reason).toMatch(new RegExp(`^(corrupt|truncated) (${kind} )?payload`));
    });
  }

  it('refuses an xz stream whose CRC32 does not match', () => {
    const payload = kernelCompress('xz', vmlinux.bytes);
    // The block check sits right before the index; the index before the 12-byte footer.
    const stream = payload.subarray(0, payload.length - 4);
    const good = decodeXz(stream, 1 << 20);
    expect(good.blocks).toBe(1);
    expect(good.checks).toEqual(['crc32']);
    const index = stream.length - 12 - ((stream.readUInt32LE(stream.length - 8) + 1) * 4);
    stream[index - 1] ^= 0xff;
    expect(loadError(makeBzImage(payload)).reason).toBe(
      'corrupt xz payload: CRC32 of the decompressed data does not match');
  });

  it('walks multi-block xz streams', () => {
    const payload = kernelCompress('xz', vmlinux.bytes, ['--check=crc64', '--x86', '--lzma2=preset=6', '--block-size=4KiB', '-T1', '-c']);
    const r = decodeXz(payload.subarray(0, payload.length - 4), 1 << 20);
    expect(r.blocks).toBe(Math.ceil(vmlinux.bytes.length / 4096));
    expect(Buffer.from(r.data).equals(vmlinux.bytes)).toBe(true);
  });
});

describe('Xen note errors (libelf elf_xen_note_check / addr_calc_check)', () => {
  it('refuses a required feature Xen does not know', () => {
    const bytes = withNotes(replaceNote(XEN_ELFNOTE.FEATURES, '.asciz "!writable_page_tables|!teleport"'));
    expect(loadError(bytes).reason).toMatch(/requires Xen feature "teleport"/);
  });

  it('ignores an unknown feature that is only supported, not required', () => {
    const k = loadKernelImage(withNotes(replaceNote(XEN_ELFNOTE.FEATURES, '.asciz "teleport|!writable_page_tables"')));
    expect(k.notes.features.requiredNames).toEqual(['writable_page_tables']);
  });

  it('refuses a dom0-only kernel', () => {
    const bytes = withNotes(replaceNote(XEN_ELFNOTE.FEATURES, '.asciz "!dom0"'));
    expect(loadError(bytes).reason).toMatch(/does not support unprivileged \(DomU\) operation/);
  });

  it('refuses a kernel that is neither Linux nor for the generic loader', () => {
    const bytes = withNotes((n) => replaceNote(XEN_ELFNOTE.LOADER, '.asciz "plan9"')(
      replaceNote(XEN_ELFNOTE.GUEST_OS, '.asciz "plan9"')(n)));
    expect(loadError(bytes).reason).toBe(
      'will only load images built for the generic loader or Linux images (GUEST_OS "plan9", LOADER "plan9")');
  });

  it('accepts another guest OS that uses the generic loader, and records it', () => {
    const k = loadKernelImage(withNotes(replaceNote(XEN_ELFNOTE.GUEST_OS, '.asciz "NetBSD"')));
    expect(k.notes.guestOs).toBe('NetBSD');
  });

  it('refuses a kernel for another Xen interface version', () => {
    const bytes = withNotes(replaceNote(XEN_ELFNOTE.XEN_VERSION, '.asciz "xen-2.0"'));
    expect(loadError(bytes).reason).toBe('will only load images built for Xen v3.0 (XEN_VERSION "xen-2.0")');
  });

  it('refuses an entry point outside the kernel', () => {
    const bytes = withNotes(replaceNote(XEN_ELFNOTE.ENTRY, '.quad 0xffffffff90000000'));
    expect(loadError(bytes).reason).toMatch(/^ELF start or entry is out of bounds: .*entry 0xffffffff90000000/);
  });

  it('refuses a VIRT_BASE above the kernel start', () => {
    const bytes = withNotes(replaceNote(XEN_ELFNOTE.VIRT_BASE, '.quad 0xffffffff88000000'));
    expect(loadError(bytes).reason).toMatch(/^ELF start or entry is out of bounds/);
  });

  it('refuses PADDR_OFFSET without VIRT_BASE', () => {
    const bytes = withNotes((n) => n.filter((x) => x.type !== XEN_ELFNOTE.VIRT_BASE));
    expect(loadError(bytes).reason).toBe('Xen note PADDR_OFFSET is set but VIRT_BASE is not');
  });

  it('refuses an INIT_P2M inside the kernel', () => {
    const bytes = withNotes(replaceNote(XEN_ELFNOTE.INIT_P2M, '.quad 0xffffffff81000000'));
    expect(loadError(bytes).reason).toMatch(/^INIT_P2M 0xffffffff81000000 lies inside the kernel/);
  });

  it('refuses a HYPERCALL_PAGE outside the kernel', () => {
    const bytes = withNotes((n) => [...n, { type: XEN_ELFNOTE.HYPERCALL_PAGE, desc: '.quad 0xffffffff70000000' }]);
    expect(loadError(bytes).reason).toMatch(/^HYPERCALL_PAGE 0xffffffff70000000 is not a page-aligned page inside the kernel/);
  });

  it('refuses a numeric note of an odd size', () => {
    const bytes = withNotes(replaceNote(XEN_ELFNOTE.VIRT_BASE, '.byte 1, 2, 3'));
    expect(loadError(bytes).reason).toBe('Xen note VIRT_BASE has a 3-byte descriptor (a number must be 1, 2, 4 or 8 bytes)');
  });

  it('reads 4-byte VIRT_BASE and ENTRY notes as libelf does', () => {
    // A kernel linked low (as a 32-bit-style layout would be) with 4-byte numeric notes.
    const bytes = withNotes((n) => replaceNote(XEN_ELFNOTE.ENTRY, '.long 0x81000000')(
      replaceNote(XEN_ELFNOTE.VIRT_BASE, '.long 0x80000000')(n)));
    const k = loadKernelImage(bytes);
    expect(k.notes.virtBase).toBe(0x80000000n);
    expect(k.virtKernelStart).toBe(0x81000000n);
    expect(k.virtEntry).toBe(0x81000000n);
    expect(k.segments[0].guestVaddr).toBe(0x81000000n);
  });
});
