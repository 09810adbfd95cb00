// pygrub for tsxen: boots a PV domain from the kernel, initrd and command line its own disk's
// boot loader config names, as Xen's tools/pygrub/src/pygrub does, but in-process and in
// TypeScript (no mounting, no root, no temporary files).
//
//   import { pygrub, pygrubOptionsFromConfig, parsePygrubArgs, formatSxp } from '../pygrub/index.js';
//
//   const boot = await pygrub('/srv/xen/debian.qcow2', { entry: '1', args: 'console=hvc0' });
//   // boot.kernel: Buffer, boot.ramdisk: Buffer | null, boot.args: string, boot.entryTitle,
//   // boot.kernelPath / ramdiskPath / configPath / partition / entryIndex, boot.warnings
//
//   // From an xm config, with the options xend 4.4 gave pygrub: bootargs (bootloader_args,
//   // e.g. "-q --entry=1") parsed as pygrub's command line; kernel/ramdisk naming paths in
//   // the guest; the root=/ip=/extra= kernel arguments appended to the entry's:
//   const opts = pygrubOptionsFromConfig({ bootargs: cfg.bootargs, kernel: cfg.kernel,
//                                          ramdisk: cfg.ramdisk, args: 'root=/dev/xvda1 ro' });
//
//   formatSxp(boot.kernelPath, boot.ramdiskPath, boot.args)
//   // 'linux (kernel /boot/vmlinuz-...)(ramdisk /boot/initrd.img-...)(args "root=... ro")'
//   // (formatSimple gives pygrub's --output-format=simple/simple0, as libxl reads it)
//
// What it does, in pygrub's order:
// 1. Opens the image read-only through src/devices/block/image (raw or qcow2; options.format,
//    default 'auto'; a probed qcow2 may not use a backing file).
// 2. Partitions (partitions.ts): whole disk, MBR primaries (active one first) and logicals, or
//    GPT (CRC-checked, backup header fallback); --offset skips this.
// 3. On each partition in turn, an ext2/3/4 file system (ext-fs.ts) and the first existing file
//    of CONFIG_FILES (menu.ts): grub.cfg (grub2.ts), extlinux.conf (extlinux.ts), menu.lst
//    (grub-legacy.ts). The first partition that yields an entry with a kernel is used.
//    --kernel skips the config: the first ext file system is used with --kernel/--ramdisk.
// 4. Entry: --entry (index or exact title), else the config's default (index, title, or
//    "submenu>title"; saved_entry/next_entry/"saved" mean 0 as in pygrub), else 0.
// 5. Reads the kernel and initrd(s) from that file system (each at most 128 MiB by default);
//    args = the entry's arguments, a blank, then options.args (pygrub's --args).
//
// Every failure is a PygrubError (errors.ts) whose message names the disk, the partition and
// the file, e.g. "debian.img: no /boot/grub/grub.cfg, ... found (the file system has no /boot)",
// "debian.img partition 1: /boot/grub/grub.cfg line 12: "}" closes no menuentry or submenu".
// Guest text in a result (entryTitle, the paths, args) is the guest's: escape it before printing
// it on a terminal (shown() does, as every PygrubError message already has).
// Not supported: file systems other than ext2/3/4, interactive menus, grubenv's saved_entry,
// GRUB script evaluation (if/else are not evaluated), defaults naming menuentry ids or index
// paths such as "1>2" (pygrub matches titles only: entry 0, with a warning), encrypted files,
// journal replay (a warning says when the journal was not replayed).
// Limits against hostile images: kernel/ramdisk 128 MiB (maxFileSize), config 1 MiB, directory
// 4 MiB, 64 MiB of directory reads per file system, 40 symlinks per path, extent depth 5.

export { pygrub, formatSxp, formatSimple, DEFAULT_MAX_FILE_SIZE, type PygrubOptions, type PygrubResult } from './pygrub.js';
export { parsePygrubArgs, pygrubOptionsFromConfig, shellSplit, type BootloaderConfig } from './args.js';
export { PygrubError, shown, type PygrubErrorCode } from './errors.js';
export { CONFIG_FILES, chooseEntry, type Menu, type MenuEntry, type MenuKind } from './menu.js';
export { parseGrub2 } from './grub2.js';
export { parseGrubLegacy } from './grub-legacy.js';
export { parseExtlinux } from './extlinux.js';
export { findPartitions, type Partition } from './partitions.js';
export { ExtFs } from './ext-fs.js';
export { diskSource, sliceSource, bufferSource, type ByteSource } from './source.js';
