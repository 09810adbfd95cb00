// Builds guest disks with Debian's own tools (mke2fs -d, sfdisk, sgdisk, qemu-img, debugfs), so
// the reader is tested against the layouts real guests have, not against our idea of them.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, symlinkSync, writeFileSync, openSync, writeSync, closeSync, readSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { PygrubError } from '../../../src/dom0/pygrub/errors.js';

export { makeTmpDir } from '../../devices/block/image/helpers.js';

/** The PygrubError `f` rejects with; anything else (or success) fails the test. */
export async function pygrubError(f: () => Promise<unknown>): Promise<PygrubError> {
  try {
    await f();
  } catch (err) {
    if (err instanceof PygrubError) return err;
    throw err;
  }
  throw new Error('expected a PygrubError, but it succeeded');
}

// The Debian package of each tool these tests run (fdisk and gdisk are not in a minimal Debian:
// .ci/run has to install them).
const PACKAGE: Record<string, string> = {
  sfdisk: 'fdisk', sgdisk: 'gdisk', mke2fs: 'e2fsprogs', e2fsck: 'e2fsprogs', debugfs: 'e2fsprogs', 'qemu-img': 'qemu-utils',
};

export function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT' && PACKAGE[cmd]) {
    throw new Error(`${cmd} is not installed: apt-get install ${PACKAGE[cmd]} (and list it in .ci/run)`);
  }
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Deterministic bytes: a file's contents depend only on its label and length. */
export function bytes(label: string, length: number): Buffer {
  const out = Buffer.alloc(length);
  let block = createHash('sha256').update(label).digest();
  for (let off = 0; off < length; off += block.length) {
    block.copy(out, off, 0, Math.min(block.length, length - off));
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

export type TreeNode = string | Buffer | { symlink: string } | { sparse: number; at: Array<[number, Buffer]> };

/** Writes a directory tree: path -> contents, a symlink target, or a sparse file with islands. */
export function writeTree(root: string, tree: Record<string, TreeNode>): void {
  mkdirSync(root, { recursive: true });
  for (const [rel, node] of Object.entries(tree)) {
    const p = join(root, rel);
    mkdirSync(dirname(p), { recursive: true });
    if (typeof node === 'string' || Buffer.isBuffer(node)) writeFileSync(p, node);
    else if ('symlink' in node) symlinkSync(node.symlink, p);
    else {
      writeFileSync(p, '');
      const fd = openSync(p, 'r+');
      for (const [at, data] of node.at) writeSync(fd, data, 0, data.length, at);
      closeSync(fd);
      spawnSync('truncate', ['-s', String(node.sparse), p]);
    }
  }
}

/** mke2fs -t TYPE -d DIR IMAGE SIZE, plus extra options (-b, -I, -O ...). */
export function mkfs(image: string, type: 'ext2' | 'ext3' | 'ext4', dir: string, size: string, extra: string[] = []): void {
  run('mke2fs', ['-q', '-F', '-t', type, ...extra, '-d', dir, image, size]);
}

export function debugfs(image: string, command: string, write = false): string {
  return run('debugfs', [...(write ? ['-w'] : []), '-R', command, image]);
}

/** Several debugfs commands in one run, writing. */
export function debugfsScript(image: string, commands: string[]): string {
  return run('debugfs', ['-w', '-f', '-', image], commands.join('\n') + '\n');
}

/** Overwrites bytes of a file in place. */
export function patch(file: string, offset: number, data: Buffer | number[]): void {
  const fd = openSync(file, 'r+');
  const b = Buffer.isBuffer(data) ? data : Buffer.from(data);
  writeSync(fd, b, 0, b.length, offset);
  closeSync(fd);
}

export function readAt(file: string, offset: number, length: number): Buffer {
  const fd = openSync(file, 'r');
  const b = Buffer.alloc(length);
  readSync(fd, b, 0, length, offset);
  closeSync(fd);
  return b;
}

/** Copies a file system image into a disk image at a byte offset (dd conv=notrunc). */
export function placeAt(disk: string, fsImage: string, offset: number): void {
  run('dd', [`if=${fsImage}`, `of=${disk}`, 'bs=64K', `seek=${offset}`, 'oflag=seek_bytes', 'conv=notrunc,sparse', 'status=none']);
}

export const UUID = 'b6f3c1de-5a4e-4a1b-9d0c-3e2f1a0b9c8d';

/** A grub.cfg shaped like the one grub-mkconfig writes on a Debian 12 cloud image. */
export function debianGrubCfg(versions: string[], opts: { defaultLine?: string; extraArgs?: string } = {}): string {
  const first = versions[0];
  const args = opts.extraArgs ?? 'ro  console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0';
  const entry = (v: string, title: string, id: string, indent: string): string => `${indent}menuentry '${title}' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option '${id}' {
${indent}	load_video
${indent}	insmod gzio
${indent}	if [ x$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi
${indent}	insmod part_gpt
${indent}	insmod ext2
${indent}	search --no-floppy --fs-uuid --set=root ${UUID}
${indent}	echo	'Loading Linux ${v} ...'
${indent}	linux	/boot/vmlinuz-${v} root=UUID=${UUID} ${args}
${indent}	echo	'Loading initial ramdisk ...'
${indent}	initrd	/boot/initrd.img-${v}
${indent}}
`;
  return `#
# DO NOT EDIT THIS FILE
#
# It is automatically generated by grub-mkconfig using templates
# from /etc/grub.d and settings from /etc/default/grub
#

### BEGIN /etc/grub.d/00_header ###
if [ -s $prefix/grubenv ]; then
  set have_grubenv=true
  load_env
fi
if [ "\${next_entry}" ] ; then
   set default="\${next_entry}"
   set next_entry=
   save_env next_entry
   set boot_once=true
else
   ${opts.defaultLine ?? 'set default="0"'}
fi

if [ x"\${feature_menuentry_id}" = xy ]; then
  menuentry_id_option="--id"
else
  menuentry_id_option=""
fi

export menuentry_id_option

if [ "\${prev_saved_entry}" ]; then
  set saved_entry="\${prev_saved_entry}"
  save_env saved_entry
  set prev_saved_entry=
  save_env prev_saved_entry
  set boot_once=true
fi

function savedefault {
  if [ -z "\${boot_once}" ]; then
    saved_entry="\${chosen}"
    save_env saved_entry
  fi
}
function load_video {
  if [ x$feature_all_video_module = xy ]; then
    insmod all_video
  else
    insmod efi_gop
    insmod efi_uga
    insmod ieee1275_fb
    insmod vbe
    insmod vga
    insmod video_bochs
    insmod video_cirrus
  fi
}

if [ x$feature_default_font_path = xy ] ; then
   font=unicode
else
insmod part_gpt
insmod ext2
search --no-floppy --fs-uuid --set=root ${UUID}
    font="/usr/share/grub/unicode.pf2"
fi

if loadfont $font ; then
  set gfxmode=auto
  load_video
  insmod gfxterm
  set locale_dir=$prefix/locale
  set lang=C.UTF-8
  insmod gettext
fi
terminal_output gfxterm
if [ "\${recordfail}" = 1 ] ; then
  set timeout=30
else
  if [ x$feature_timeout_style = xy ] ; then
    set timeout_style=menu
    set timeout=1
  # Fallback normal timeout code in case the timeout_style feature is
  # unavailable.
  else
    set timeout=1
  fi
fi
### END /etc/grub.d/00_header ###

### BEGIN /etc/grub.d/05_debian_theme ###
set menu_color_normal=cyan/blue
set menu_color_highlight=white/blue
### END /etc/grub.d/05_debian_theme ###

### BEGIN /etc/grub.d/10_linux ###
function gfxmode {
	set gfxpayload="\${1}"
}
set linux_gfx_mode=
export linux_gfx_mode
${entry(first, 'Debian GNU/Linux', `gnulinux-simple-${UUID}`, '')}submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-${UUID}' {
${versions.map((v) => entry(v, `Debian GNU/Linux, with Linux ${v}`, `gnulinux-${v}-advanced-${UUID}`, '\t')).join('')}}
### END /etc/grub.d/10_linux ###

### BEGIN /etc/grub.d/30_os-prober ###
### END /etc/grub.d/30_os-prober ###

### BEGIN /etc/grub.d/30_uefi-firmware ###
if [ "$grub_platform" = "efi" ]; then
	fwsetup --is-supported
	if [ "$?" = 0 ]; then
		menuentry 'UEFI Firmware Settings' $menuentry_id_option 'uefi-firmware' {
			fwsetup
		}
	fi
fi
### END /etc/grub.d/30_uefi-firmware ###

### BEGIN /etc/grub.d/40_custom ###
# This file provides an easy way to add custom menu entries.  Simply type the
# menu entries you want to add after this comment.  Be careful not to change
# the 'exec tail' line above.
### END /etc/grub.d/40_custom ###

### BEGIN /etc/grub.d/41_custom ###
if [ -f  \${config_directory}/custom.cfg ]; then
  source \${config_directory}/custom.cfg
elif [ -z "\${config_directory}" -a -f  $prefix/custom.cfg ]; then
  source $prefix/custom.cfg
fi
### END /etc/grub.d/41_custom ###
`;
}
