// checkInitrd against initrds made by Debian's cpio and gzip: what unpack_to_rootfs (Linux 6.1
// init/initramfs.c) can unpack passes; broken ones are refused with where and why.
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { checkInitrd, InitrdError } from '../../../src/hypervisor/builder/initrd.js';

const dir = mkdtempSync(join(tmpdir(), 'tsxen-initrd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A newc archive of a small tree, by GNU cpio as initramfs-tools and the kernel's usr/ make it. */
function cpio(files: Record<string, string>): Buffer {
  const root = mkdtempSync(join(dir, 'tree-'));
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), text);
  }
  const list = execFileSync('find', ['.', '-print'], { cwd: root, encoding: 'utf8' });
  return execFileSync('cpio', ['-o', '-H', 'newc', '--quiet'], { cwd: root, input: list, maxBuffer: 1 << 26 });
}

const refused = (b: Uint8Array): string => {
  try {
    checkInitrd(b, 'initrd.img');
  } catch (e) {
    expect(e).toBeInstanceOf(InitrdError);
    return (e as Error).message;
  }
  throw new Error('accepted');
};

describe('checkInitrd', () => {
  const plain = cpio({ init: '#!/bin/sh\necho hi\n', 'etc/motd': 'hello\n'.repeat(100) });
  const micro = cpio({ 'kernel/x86/microcode/GenuineIntel.bin': 'u'.repeat(1000) });

  it('accepts a newc archive, its gzip, and an early microcode archive followed by a compressed one', () => {
    expect(() => checkInitrd(plain, 'a')).not.toThrow();
    expect(() => checkInitrd(gzipSync(plain), 'b')).not.toThrow();
    expect(() => checkInitrd(Buffer.concat([micro, Buffer.alloc(512), gzipSync(plain)]), 'c')).not.toThrow();
    // zstd (Debian 12's initramfs-tools default) is recognised by its magic; the kernel unpacks it.
    expect(() => checkInitrd(Buffer.concat([micro, Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3])]), 'd')).not.toThrow();
  });

  it('refuses garbage, a truncated gzip stream, a truncated archive, zeros and an empty file', () => {
    expect(refused(Buffer.from('this is not an initramfs at all'))).toMatch(/^initrd.img: not an initramfs at byte 0 \(found 74 68 69 73/);
    const gz = gzipSync(plain);
    expect(refused(gz.subarray(0, gz.length - 20))).toMatch(/^initrd.img: the gzip stream at byte 0 is corrupt/);
    expect(refused(plain.subarray(0, plain.length - 700))).toMatch(/runs past the end of the \d+-byte initrd \(truncated\)|truncated at byte/);
    expect(refused(Buffer.concat([micro, Buffer.from('garbage!')]))).toMatch(new RegExp(`not an initramfs at byte ${micro.length}`));
    expect(refused(Buffer.alloc(4096))).toBe('initrd.img: the initrd holds only zeros');
    expect(refused(Buffer.alloc(0))).toBe('initrd.img: the initrd is empty');
  });
});
