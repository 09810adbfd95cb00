// pygrub end to end: disks built with mke2fs -d, sfdisk, sgdisk and qemu-img, read through
// src/devices/block/image, checked byte for byte against the kernel and initrd put in.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pygrub, formatSxp, formatSimple, parsePygrubArgs, pygrubOptionsFromConfig, type PygrubError, type PygrubOptions } from '../../../src/dom0/pygrub/index.js';
import { off } from '../../../src/hypervisor/abi/layout.js';
import { MBR_ENTRIES_AT, MBR_ENTRY } from '../../../src/dom0/pygrub/partition-layout.js';
import { bytes, debianGrubCfg, debugfs, debugfsScript, pygrubError, makeTmpDir, mkfs, patch, placeAt, readAt, run, writeTree, UUID, type TreeNode } from './helpers.js';

const tmp = makeTmpDir('pygrub');
afterAll(() => tmp.cleanup());

const V1 = '6.1.0-18-cloud-amd64';
const V2 = '6.1.0-17-cloud-amd64';
const K1 = bytes('kernel1', 700_000);
const I1 = bytes('initrd1', 1_300_000);
const K2 = bytes('kernel2', 650_001);
const I2 = bytes('initrd2', 90_000);
const ARGS = `root=UUID=${UUID} ro  console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0`;

function debianRoot(extra: Record<string, TreeNode> = {}, grubCfg = debianGrubCfg([V1, V2])): Record<string, TreeNode> {
  return {
    'boot/grub/grub.cfg': grubCfg,
    [`boot/vmlinuz-${V1}`]: K1,
    [`boot/initrd.img-${V1}`]: I1,
    [`boot/vmlinuz-${V2}`]: K2,
    [`boot/initrd.img-${V2}`]: I2,
    'vmlinuz': { symlink: `boot/vmlinuz-${V1}` },
    'initrd.img': { symlink: `boot/initrd.img-${V1}` },
    'etc/hostname': 'debian\n',
    ...extra,
  };
}

let n = 0;
/** A file system image holding `tree`. */
function fsImage(tree: Record<string, TreeNode>, type: 'ext2' | 'ext3' | 'ext4' = 'ext4', size = '16M', extra: string[] = []): string {
  const id = `fs${n++}`;
  const dir = join(tmp.dir, `${id}-tree`);
  writeTree(dir, tree);
  const img = join(tmp.dir, `${id}.img`);
  mkfs(img, type, dir, size, extra);
  return img;
}

function fails(path: string, options: PygrubOptions = {}): Promise<PygrubError> {
  return pygrubError(() => pygrub(path, options));
}

describe('whole-disk images', () => {
  let disk: string;
  let qcow: string;
  beforeAll(() => {
    disk = fsImage(debianRoot());
    qcow = join(tmp.dir, 'debian.qcow2');
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', disk, qcow]);
  });

  it("boots Debian 12's default entry from a raw image", async () => {
    const t0 = Date.now();
    const r = await pygrub(disk, { quiet: true });
    expect(r.kernel.equals(K1)).toBe(true);
    expect(r.ramdisk?.equals(I1)).toBe(true);
    expect(r).toMatchObject({
      args: ARGS, entryTitle: 'Debian GNU/Linux', entryIndex: 0, kernelPath: `/boot/vmlinuz-${V1}`,
      ramdiskPath: `/boot/initrd.img-${V1}`, configPath: '/boot/grub/grub.cfg', partition: 'whole disk', warnings: [],
    });
    expect(formatSxp(r.kernelPath, r.ramdiskPath, r.args)).toBe(`linux (kernel /boot/vmlinuz-${V1})(ramdisk /boot/initrd.img-${V1})(args "${ARGS}")`);
    expect(formatSimple(r.kernelPath, null, '', '\0')).toBe(`kernel /boot/vmlinuz-${V1}\0\0`);
    expect(formatSimple(r.kernelPath, r.ramdiskPath, 'ro')).toBe(`kernel /boot/vmlinuz-${V1}\nramdisk /boot/initrd.img-${V1}\nargs ro\n\n`);
    expect(() => formatSimple('/k', null, 'a\nb')).toThrow(/delimiter/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('the same from a qcow2 copy', async () => {
    const r = await pygrub(qcow);
    expect(r.kernel.equals(K1)).toBe(true);
    expect(r.ramdisk?.equals(I1)).toBe(true);
    expect(r.entryTitle).toBe('Debian GNU/Linux');
  });

  it('--entry by index and by title, bootargs appended', async () => {
    const byIndex = await pygrub(qcow, { ...parsePygrubArgs('-q --entry=2'), args: 'console=hvc0 xencons=tty' });
    expect(byIndex.kernel.equals(K2)).toBe(true);
    expect(byIndex.ramdisk?.equals(I2)).toBe(true);
    expect(byIndex.entryTitle).toBe(`Debian GNU/Linux, with Linux ${V2}`);
    expect(byIndex.args).toBe(`${ARGS} console=hvc0 xencons=tty`);
    const byTitle = await pygrub(disk, { entry: `Debian GNU/Linux, with Linux ${V2}` });
    expect(byTitle.entryIndex).toBe(2);
    const unknown = await pygrub(disk, { entry: 'Windows' });
    expect(unknown.entryIndex).toBe(0);
    expect(unknown.warnings[0]).toMatch(/--entry "Windows" names no entry of \/boot\/grub\/grub.cfg/);
  });

  it('--kernel/--ramdisk/--args bypass the config', async () => {
    const r = await pygrub(disk, parsePygrubArgs(['--kernel=/vmlinuz', '--ramdisk=/initrd.img', '--args=root=/dev/xvda1 ro']));
    expect(r.kernel.equals(K1)).toBe(true);
    expect(r.ramdisk?.equals(I1)).toBe(true);
    expect(r).toMatchObject({ args: 'root=/dev/xvda1 ro', entryTitle: '', configPath: null, kernelPath: '/vmlinuz' });
    const e = await fails(disk, { kernel: '/boot/nope' });
    expect(e.code).toBe('ENOENT');
    expect(e.message).toBe(`${disk}: kernel /boot/nope not found (--kernel)`);
  });

  it('a file system left with its journal not replayed boots as is, with a warning', async () => {
    const dirty = join(tmp.dir, 'dirty.img');
    copyFileSync(disk, dirty);
    debugfs(dirty, 'feature needs_recovery', true);
    const r = await pygrub(dirty);
    expect(r.kernel.equals(K1)).toBe(true);
    expect(r.warnings).toEqual([`${dirty}: the file system's journal was not replayed (not shut down cleanly); files changed just before may be stale`]);
  });

  it('the size cap', async () => {
    const e = await fails(disk, { maxFileSize: 1 << 20 });
    expect(e.code).toBe('ETOOBIG');
    expect(e.message).toMatch(/initrd\.img-6\.1\.0-18-cloud-amd64 is 1300000 bytes, more than the 1048576-byte limit \(entry 0 "Debian GNU\/Linux", \/boot\/grub\/grub.cfg line \d+\)/);
  });
});

describe('config files pygrub looks for', () => {
  it('menu.lst on ext3, extlinux.conf on ext2; grub.cfg wins over menu.lst', async () => {
    const legacy = fsImage({
      'boot/grub/menu.lst': `default 1\ntimeout 5\ntitle old\nroot (hd0,0)\nkernel /boot/old root=/dev/xvda1\ntitle Debian xen\nroot (hd0,0)\nkernel (hd0,0)/boot/vmlinuz root=/dev/xvda1 ro\ninitrd /boot/initrd\n`,
      'boot/vmlinuz': K2,
      'boot/initrd': I2,
    }, 'ext3');
    const r = await pygrub(legacy, { args: 'quiet' });
    expect(r.kernel.equals(K2)).toBe(true);
    expect(r.ramdisk?.equals(I2)).toBe(true);
    expect(r).toMatchObject({ entryTitle: 'Debian xen', args: 'root=/dev/xvda1 ro quiet', configPath: '/boot/grub/menu.lst' });

    const ext = fsImage({
      'boot/extlinux/extlinux.conf': `DEFAULT linux\nLABEL linux\n  KERNEL ../vmlinuz\n  APPEND initrd=/boot/initrd root=/dev/xvda1 ro\n`,
      'boot/vmlinuz': K1,
      'boot/initrd': I1,
    }, 'ext2', '8M', ['-b', '1024']);
    const x = await pygrub(ext);
    expect(x.kernel.equals(K1)).toBe(true);
    expect(x.ramdisk?.equals(I1)).toBe(true);
    expect(x).toMatchObject({ entryTitle: 'linux', args: 'root=/dev/xvda1 ro', configPath: '/boot/extlinux/extlinux.conf', kernelPath: '/boot/vmlinuz' });

    const both = fsImage(debianRoot({ 'boot/grub/menu.lst': 'title x\nkernel /nope\n' }));
    expect((await pygrub(both)).configPath).toBe('/boot/grub/grub.cfg');
  });

  it('a separate /boot partition: /grub/grub.cfg with paths from its root', async () => {
    const cfg = debianGrubCfg([V1]).replaceAll('/boot/', '/');
    const boot = fsImage({ 'grub/grub.cfg': cfg, [`vmlinuz-${V1}`]: K1, [`initrd.img-${V1}`]: I1 }, 'ext2');
    const r = await pygrub(boot);
    expect(r.configPath).toBe('/grub/grub.cfg');
    expect(r.kernel.equals(K1)).toBe(true);
  });

  it('no /boot at all, and a /boot without a config: the error lists what was looked for', async () => {
    const bare = fsImage({ 'bin/sh': 'x', 'etc/hostname': 'busybox' });
    const e = await fails(bare);
    expect(e.code).toBe('ENOCONFIG');
    expect(e.message).toBe(
      `${bare}: no /boot/grub/grub.cfg, /grub/grub.cfg, /boot/grub2/grub.cfg, /grub2/grub.cfg, /boot/isolinux/isolinux.cfg, ` +
        '/boot/extlinux/extlinux.conf, /boot/extlinux.conf, /extlinux/extlinux.conf, /extlinux.conf, /boot/grub/menu.lst, ' +
        '/boot/grub/grub.conf, /grub/menu.lst, /grub/grub.conf found (the file system has no /boot)',
    );
    const noCfg = fsImage({ 'boot/vmlinuz': 'k' });
    expect((await fails(noCfg)).message).toMatch(/\/grub\/grub\.conf found$/);
  });

  it('broken and garbage configs name the file and the line', async () => {
    const lines = debianGrubCfg([V1]).split('\n');
    lines.splice(11, 0, '}'); // line 12
    const broken = fsImage(debianRoot({}, lines.join('\n')));
    const e = await fails(broken);
    expect(e.code).toBe('ECONFIG');
    expect(e.message).toBe(`${broken}: /boot/grub/grub.cfg line 12: "}" closes no menuentry or submenu`);

    const g = fsImage({ 'boot/grub/grub.cfg': Buffer.from(bytes('garbage', 3000)) });
    expect((await fails(g)).message).toBe(`${g}: /boot/grub/grub.cfg: not UTF-8 text (a binary or corrupt file?)`);
    const text = fsImage({ 'boot/grub/grub.cfg': 'lorem ipsum dolor\nsit amet = 3\n[[[ ]]]\n' });
    expect((await fails(text)).message).toBe(`${text}: /boot/grub/grub.cfg: no boot entries`);
    const uefi = fsImage(debianRoot({}, debianGrubCfg([V1], { defaultLine: 'set default="UEFI Firmware Settings"' })));
    expect((await fails(uefi)).message).toMatch(/\/boot\/grub\/grub\.cfg line \d+: entry 2 "UEFI Firmware Settings" names no kernel$/);
    const missing = fsImage({ 'boot/grub/grub.cfg': "menuentry 'x' {\n linux /boot/vmlinuz-gone ro\n}\n" });
    const m = await fails(missing);
    expect(m.code).toBe('ENOENT');
    expect(m.message).toBe(`${missing}: kernel /boot/vmlinuz-gone not found (entry 0 "x", /boot/grub/grub.cfg line 1)`);
  });

  it('not an image, an empty file, a truncated image', async () => {
    expect((await fails(join(tmp.dir, 'no-such.img'))).code).toBe('EDISK');
    const empty = join(tmp.dir, 'empty.img');
    writeFileSync(empty, '');
    expect((await fails(empty)).message).toMatch(/too small for an ext2\/3\/4 file system/);
    const trunc = join(tmp.dir, 'trunc.img');
    copyFileSync(fsImage(debianRoot()), trunc);
    run('truncate', ['-s', '5M', trunc]);
    const t0 = Date.now();
    expect((await fails(trunc)).message).toMatch(/truncated image\?/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});

describe("the walkthrough's busybox disk (images/make-busybox-disk)", () => {
  const images = fileURLToPath(new URL('../../../images/', import.meta.url));
  it('as made: a clear error; with a grub.cfg and the tiny kernel added: boots them', async () => {
    const disk = join(tmp.dir, 'busybox.img');
    run(join(images, 'make-busybox-disk'), [disk]);
    const e = await fails(disk);
    expect(e.code).toBe('ENOCONFIG');
    expect(e.message).toMatch(new RegExp(`^${disk}: no /boot/grub/grub.cfg, /grub/grub.cfg, .*, /grub/grub.conf found$`));
    const cfg = join(tmp.dir, 'busybox-grub.cfg');
    writeFileSync(cfg, "set default=0\nmenuentry 'busybox' {\n\tlinux /boot/vmlinuz-tiny root=/dev/xvda init=/bin/sh\n\tinitrd /boot/initramfs.cpio.gz\n}\n");
    debugfsScript(disk, [
      'mkdir /boot/grub',
      `write ${cfg} /boot/grub/grub.cfg`,
      `write ${join(images, 'vmlinuz-tiny')} /boot/vmlinuz-tiny`,
      `write ${join(images, 'initramfs-busybox.cpio.gz')} /boot/initramfs.cpio.gz`,
    ]);
    const r = await pygrub(disk, pygrubOptionsFromConfig({ bootargs: '-q', args: 'console=hvc0' }));
    expect(r.kernel.equals(readFileSync(join(images, 'vmlinuz-tiny')))).toBe(true);
    expect(r.ramdisk?.equals(readFileSync(join(images, 'initramfs-busybox.cpio.gz')))).toBe(true);
    expect(r).toMatchObject({ entryTitle: 'busybox', args: 'root=/dev/xvda init=/bin/sh console=hvc0' });
  });
});

describe('partitioned disks', () => {
  const MiB = 1 << 20;
  function disk(name: string, sizeMiB: number): string {
    const p = join(tmp.dir, name);
    run('truncate', ['-s', `${sizeMiB}M`, p]);
    return p;
  }

  it('MBR: the active partition is tried first', async () => {
    const d = disk('mbr-active.img', 40);
    run('sfdisk', ['-q', d], 'label: dos\nunit: sectors\nstart=2048, size=32768, type=83\nstart=34816, size=32768, type=83, bootable\n');
    placeAt(d, fsImage({ 'boot/grub/grub.cfg': "menuentry 'first' {\n linux /k1\n}\n", k1: K1 }, 'ext4', '16M'), MiB);
    placeAt(d, fsImage({ 'boot/grub/grub.cfg': "menuentry 'second' {\n linux /k2 a=b\n}\n", k2: K2 }, 'ext4', '16M'), 17 * MiB);
    const r = await pygrub(d);
    expect(r).toMatchObject({ entryTitle: 'second', partition: 'partition 2', args: 'a=b' });
    expect(r.kernel.equals(K2)).toBe(true);
  });

  it('MBR: swap and empty partitions skipped, a logical partition in an extended one found', async () => {
    const d = disk('mbr-logical.img', 40);
    run('sfdisk', ['-q', d], 'label: dos\nunit: sectors\nstart=2048, size=8192, type=82\nstart=10240, size=4096, type=83\nstart=16384, size=65536, type=5\nstart=18432, size=40960, type=83\n');
    placeAt(d, fsImage(debianRoot(), 'ext4', '20M'), 18432 * 512);
    const r = await pygrub(d);
    expect(r.partition).toBe('partition 5');
    expect(r.kernel.equals(K1)).toBe(true);
    expect(r.ramdisk?.equals(I1)).toBe(true);
  });

  it('a broken config on one partition: pygrub goes on to the next; all failing lists each', async () => {
    const d = disk('mbr-fallback.img', 40);
    run('sfdisk', ['-q', d], 'label: dos\nunit: sectors\nstart=2048, size=32768, type=83\nstart=34816, size=32768, type=83\n');
    placeAt(d, fsImage({ 'boot/grub/grub.cfg': "menuentry 'broken' {\n" }, 'ext4', '16M'), MiB);
    placeAt(d, fsImage({ 'boot/grub/menu.lst': 'title ok\nkernel /k\n', k: K2 }, 'ext2', '16M'), 17 * MiB);
    const r = await pygrub(d);
    expect(r).toMatchObject({ entryTitle: 'ok', partition: 'partition 2' });
    const d2 = join(tmp.dir, 'mbr-allbad.img');
    copyFileSync(d, d2);
    run('dd', ['if=/dev/zero', `of=${d2}`, 'bs=1M', 'seek=17', 'count=2', 'conv=notrunc', 'status=none']);
    const e = await fails(d2);
    expect(e.message).toBe(
      `${d2}: no partition holds a bootable config:\n` +
        `  ${d2} partition 1: /boot/grub/grub.cfg line 1: menuentry "broken" is not closed before the end of the file\n` +
        `  ${d2} partition 2: no ext2/3/4 file system (superblock magic 0x0, want 0xef53)`,
    );
  });

  it('GPT: BIOS boot + root partitions; the backup header when the primary is corrupt; both corrupt', async () => {
    const d = disk('gpt.img', 40);
    run('sgdisk', ['-o', '-n', '1:2048:+1M', '-t', '1:ef02', '-n', '2:4096:+30M', '-t', '2:8300', d]);
    placeAt(d, fsImage(debianRoot(), 'ext4', '30M'), 4096 * 512);
    const r = await pygrub(d);
    expect(r.partition).toBe('GPT partition 2');
    expect(r.kernel.equals(K1)).toBe(true);
    // Debian's cloud images ship as compressed qcow2: the same disk that way.
    const qcow = join(tmp.dir, 'gpt.qcow2');
    run('qemu-img', ['convert', '-c', '-f', 'raw', '-O', 'qcow2', d, qcow]);
    const q = await pygrub(qcow);
    expect(q.partition).toBe('GPT partition 2');
    expect(q.kernel.equals(K1)).toBe(true);
    expect(q.ramdisk?.equals(I1)).toBe(true);

    const bad = join(tmp.dir, 'gpt-bad-primary.img');
    copyFileSync(d, bad);
    const hdr = readAt(bad, 512, 92);
    hdr[40] ^= 0xff; // first_usable_lba: the header CRC no longer matches
    patch(bad, 512, hdr);
    expect((await pygrub(bad)).partition).toBe('GPT partition 2');

    const worse = join(tmp.dir, 'gpt-bad-both.img');
    copyFileSync(bad, worse);
    const size = 40 * MiB;
    patch(worse, size - 512 + 40, [0xff]);
    const e = await fails(worse);
    expect(e.code).toBe('EPART');
    expect(e.message).toBe(`${worse}: GPT: header at LBA 1 fails its CRC32 check; header at LBA ${size / 512 - 1} fails its CRC32 check`);
  });

  it('an extended partition chain that loops', async () => {
    const d = disk('ebr-loop.img', 40);
    run('sfdisk', ['-q', d], 'label: dos\nunit: sectors\nstart=2048, size=65536, type=5\nstart=4096, size=8192, type=83\nstart=14336, size=8192, type=83\n');
    // The second EBR sits 2048 sectors before its partition; point its link at itself.
    const second = 14336 - 2048;
    const linkAt = second * 512 + MBR_ENTRIES_AT + MBR_ENTRY.size;
    const link = readAt(d, linkAt, MBR_ENTRY.size);
    expect(link[off(MBR_ENTRY, 'type')]).toBe(0); // the last EBR: no link yet
    link[off(MBR_ENTRY, 'type')] = 0x05;
    link.writeUInt32LE(second - 2048, off(MBR_ENTRY, 'lba_first')); // relative to the extended partition
    link.writeUInt32LE(8192, off(MBR_ENTRY, 'sectors'));
    patch(d, linkAt, link);
    const e = await fails(d);
    expect(e.code).toBe('EPART');
    expect(e.message).toBe(`${d}: extended partition chain loops or is longer than 128 (EBR at sector ${second})`);
  });

  it('a probed qcow2 may not name a backing file; an explicit qcow2 may', async () => {
    const base = join(tmp.dir, 'backing.img');
    copyFileSync(fsImage(debianRoot()), base);
    const overlay = join(tmp.dir, 'overlay.qcow2');
    run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', base, overlay]);
    const e = await fails(overlay);
    expect(e.code).toBe('EDISK');
    expect(e.message).toMatch(/names backing file/);
    expect((await pygrub(overlay, { format: 'qcow2' })).kernel.equals(K1)).toBe(true);
  });

  it('--offset names the file system directly', async () => {
    const d = disk('offset.img', 24);
    placeAt(d, fsImage(debianRoot(), 'ext4', '20M'), 3 * MiB);
    expect((await pygrub(d, parsePygrubArgs('--offset=3145728'))).partition).toBe('offset 3145728');
  });
});
