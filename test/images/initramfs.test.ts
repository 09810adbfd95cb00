import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  EM_X86_64,
  ET_EXEC,
  IMAGES_DIR,
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  gunzip,
  parseElf64,
  parseNewc,
  type CpioEntry,
} from './formats.js';

const gz = readFileSync(join(IMAGES_DIR, 'initramfs-busybox.cpio.gz'));
const archive = gunzip(gz);
const entries = parseNewc(archive);
const byName = new Map<string, CpioEntry>(entries.map((e) => [e.name.replace(/^\.\//, ''), e]));
const get = (name: string): CpioEntry => {
  const e = byName.get(name);
  if (!e) throw new Error(`initramfs has no '${name}'`);
  return e;
};
const type = (e: CpioEntry): number => e.mode & S_IFMT;

// The boot marker documented in images/README.md; tests and the boot benchmark wait for it.
const MARKER = 'tsxen-initramfs: up ';

describe('initramfs-busybox.cpio.gz', () => {
  it('is gzip without a name or timestamp in its header (gzip -9n)', () => {
    expect([gz[0], gz[1], gz[2]]).toEqual([0x1f, 0x8b, 8]);
    expect(gz[3] & 0x08).toBe(0); // FNAME
    expect(gz.readUInt32LE(4)).toBe(0); // MTIME
  });

  it('lists the same names as GNU cpio -t, in C-locale sorted order', () => {
    const listed = execFileSync('cpio', ['-t', '--quiet'], { input: archive, encoding: 'latin1' })
      .split('\n')
      .filter((l) => l !== '');
    expect(listed).toEqual(entries.map((e) => e.name));
    const sorted = [...listed].sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : a === b ? 0 : 1));
    expect(listed).toEqual(sorted);
  });

  it('is owned by root with one fixed mtime throughout', () => {
    expect(entries.filter((e) => e.uid !== 0 || e.gid !== 0)).toEqual([]);
    const mtimes = new Set(entries.map((e) => e.mtime));
    expect([...mtimes]).toEqual([1420070400]);
  });

  it('has /init: an executable busybox sh script that prints the boot marker', () => {
    const init = get('init');
    expect(type(init)).toBe(S_IFREG);
    expect(init.mode & 0o111).toBe(0o111);
    const text = init.data.toString('utf8');
    expect(text.startsWith('#!/bin/busybox sh\n')).toBe(true);
    expect(text).toContain(`say "up $uptime"`);
    expect(text).toContain('say() { echo "tsxen-initramfs: $*"; }');
    const readme = readFileSync(join(IMAGES_DIR, 'README.md'), 'utf8');
    expect(readme).toContain(`fixed prefix \`${MARKER}\``);
    expect(text).toBe(readFileSync(join(IMAGES_DIR, 'initramfs/init'), 'utf8'));
    expect(text).toContain('switch_root');
    expect(text).toContain('cttyhack');
  });

  it('has bin/busybox: a static x86-64 executable (Debian busybox-static)', () => {
    const bb = get('bin/busybox');
    expect(type(bb)).toBe(S_IFREG);
    const elf = parseElf64(bb.data);
    expect(elf.type).toBe(ET_EXEC);
    expect(elf.machine).toBe(EM_X86_64);
    expect(elf.programHeaders.some((p) => p.type === 3)).toBe(false); // no PT_INTERP
    expect(bb.data.includes(Buffer.from('BusyBox v1.35.0 (Debian'))).toBe(true);
  });

  it('links every applet to /bin/busybox across bin, sbin, usr/bin, usr/sbin', () => {
    const links = entries.filter((e) => type(e) === S_IFLNK);
    expect(links.length).toBeGreaterThan(250);
    expect(links.filter((e) => e.data.toString() !== '/bin/busybox').map((e) => e.name)).toEqual([]);
    for (const applet of ['bin/sh', 'sbin/insmod', 'sbin/switch_root', 'bin/cttyhack', 'usr/bin/setsid', 'sbin/poweroff', 'sbin/ifconfig']) {
      expect(type(get(applet)), applet).toBe(S_IFLNK);
    }
    expect(byName.has('linuxrc')).toBe(false);
  });

  it('has lib/modules/xen-netfront.ko identical to images/xen-netfront.ko', () => {
    const ko = get('lib/modules/xen-netfront.ko');
    expect(type(ko)).toBe(S_IFREG);
    expect(ko.data.equals(readFileSync(join(IMAGES_DIR, 'xen-netfront.ko')))).toBe(true);
  });

  it('has /dev/console (char 5:1) and the mount points /init uses', () => {
    const console = get('dev/console');
    expect(type(console)).toBe(S_IFCHR);
    expect([console.rdevmajor, console.rdevminor]).toEqual([5, 1]);
    for (const d of ['proc', 'sys', 'dev', 'newroot', 'tmp']) expect(type(get(d)), d).toBe(S_IFDIR);
  });
});
