// pygrub: boot a PV guest from the kernel its own disk names. Follows the main program of Xen's
// tools/pygrub/src/pygrub (4.4.4 and newer): try each partition in get_partition_offsets order;
// on the first whose file system opens, either take --kernel/--ramdisk/--args as given, or read
// the first boot loader config that exists and pick its entry (default, or --entry); then read
// the kernel and ramdisk out of that same file system.

import { openDiskImage, type DiskFormat, type DiskImage } from '../../devices/block/image/index.js';
import { DiskImageError } from '../../devices/block/image/index.js';
import { PygrubError, shown } from './errors.js';
import { diskSource, sliceSource, type ByteSource } from './source.js';
import { findPartitions, type Partition } from './partitions.js';
import { ExtFs } from './ext-fs.js';
import { CONFIG_FILES, CONFIG_MAX_BYTES, ConfigSyntaxError, chooseEntry, type Menu, type MenuEntry, type MenuKind } from './menu.js';
import { parseGrub2 } from './grub2.js';
import { parseGrubLegacy } from './grub-legacy.js';
import { parseExtlinux } from './extlinux.js';

/** pygrub's LIMIT_FSIZE: the most it writes out for a kernel or a ramdisk. */
export const DEFAULT_MAX_FILE_SIZE = 128 << 20;

export interface PygrubOptions {
  /** --entry: an entry index or exact title; unknown ones boot the default (with a warning). */
  entry?: string;
  /** --args: kernel arguments appended to the entry's after a blank (xend: root=, ip=, extra=). */
  args?: string;
  /** --kernel: boot this path from the guest's file system; no config file is read. */
  kernel?: string;
  /** --ramdisk: with --kernel, the ramdisk path in the guest's file system. */
  ramdisk?: string;
  /** --offset: the file system starts at this byte of the disk; no partition table is read. */
  offset?: number;
  /**
   * -q/--quiet: pygrub's "no interactive menu". This pygrub never shows one (it is what xend
   * runs with -q anyway), so the flag is accepted and changes nothing.
   */
  quiet?: boolean;
  /** Disk format: 'auto' (default) probes; a probed qcow2 may not name a backing file. */
  format?: DiskFormat | 'auto';
  /** Largest kernel or ramdisk read (default 128 MiB, pygrub's LIMIT_FSIZE). */
  maxFileSize?: number;
}

export interface PygrubResult {
  kernel: Buffer;
  ramdisk: Buffer | null;
  /** The kernel command line: the entry's arguments, then options.args. */
  args: string;
  /** Title of the entry booted ("" with --kernel). */
  entryTitle: string;
  /** Index of that entry in the flattened menu (-1 with --kernel). */
  entryIndex: number;
  /** Paths inside the guest, for logs and pygrub-style output. */
  kernelPath: string;
  ramdiskPath: string | null;
  /** The config file used, null with --kernel. */
  configPath: string | null;
  /** Which partition: "whole disk", "partition 1", "GPT partition 2", "offset N". */
  partition: string;
  /** Things pygrub would only have logged: an --entry or default that names no entry. */
  warnings: string[];
}

const PARSERS: Record<MenuKind, (text: string, path: string) => Menu> = {
  grub2: parseGrub2,
  grub: parseGrubLegacy,
  extlinux: parseExtlinux,
};

interface Chosen {
  fs: ExtFs;
  partition: Partition;
  kernel: string;
  initrd: string[];
  args: string;
  entry: MenuEntry | null;
  index: number;
  configPath: string | null;
  warnings: string[];
}

/**
 * Reads the boot loader config of the disk image at `diskImagePath` (raw or qcow2, opened
 * read-only) and returns the kernel, ramdisk and command line of the entry to boot.
 * Throws PygrubError with a message naming the disk, the partition and the file.
 */
export async function pygrub(diskImagePath: string, options: PygrubOptions = {}): Promise<PygrubResult> {
  const name = diskImagePath;
  const maxFileSize = options.maxFileSize ?? DEFAULT_MAX_FILE_SIZE;
  if (options.offset !== undefined && (!Number.isSafeInteger(options.offset) || options.offset < 0)) {
    throw new PygrubError('EINVAL', `${name}: offset ${options.offset} is not a byte offset`);
  }
  const format = options.format ?? 'auto';
  let image: DiskImage;
  try {
    // A probed image is the guest's to shape: it must not reach host files as a backing file.
    image = await openDiskImage(diskImagePath, { format, readOnly: true, backing: format !== 'auto' });
  } catch (err) {
    const detail = err instanceof DiskImageError ? err.message : String(err);
    throw new PygrubError('EDISK', `${name}: cannot open the disk image: ${detail}`, { cause: err });
  }
  try {
    const disk = diskSource(image, name);
    const chosen = await choose(disk, options);
    if (chosen.fs.needsRecovery) {
      chosen.warnings.push(`${chosen.fs.src.name}: the file system's journal was not replayed (not shut down cleanly); files changed just before may be stale`);
    }
    const kernel = await readBootFile(chosen, chosen.kernel, 'kernel', maxFileSize);
    let ramdisk: Buffer | null = null;
    if (chosen.initrd.length > 0) {
      const parts: Buffer[] = [];
      for (const p of chosen.initrd) parts.push(await readBootFile(chosen, p, 'ramdisk', maxFileSize));
      ramdisk = parts.length === 1 ? parts[0] : Buffer.concat(parts);
      if (ramdisk.length > maxFileSize) {
        throw new PygrubError('ETOOBIG', `${chosen.fs.src.name}: ramdisk ${shown(chosen.initrd.join(' '))} is ${ramdisk.length} bytes, more than ${maxFileSize}`);
      }
    }
    return {
      kernel,
      ramdisk,
      args: chosen.args,
      entryTitle: chosen.entry?.title ?? '',
      entryIndex: chosen.index,
      kernelPath: chosen.kernel,
      ramdiskPath: chosen.initrd.length > 0 ? chosen.initrd.join(' ') : null,
      configPath: chosen.configPath,
      partition: chosen.partition.label,
      warnings: chosen.warnings,
    };
  } finally {
    await image.close();
  }
}

function joinArgs(a: string, b: string | undefined): string {
  // pygrub appends " " + args; joining only non-empty parts avoids a leading blank.
  return [a.trim(), (b ?? '').trim()].filter((s) => s !== '').join(' ');
}

function partitionName(disk: ByteSource, p: Partition): string {
  return p.label === 'whole disk' ? disk.name : `${disk.name} ${p.label}`;
}

/** pygrub's loop over partitions: the first that yields a kernel path wins. */
async function choose(disk: ByteSource, options: PygrubOptions): Promise<Chosen> {
  const partitions: Partition[] = options.offset !== undefined
    ? [{ label: `offset ${options.offset}`, offset: options.offset, size: disk.size - options.offset }]
    : await findPartitions(disk);
  const failures: PygrubError[] = [];
  for (const p of partitions) {
    const src = sliceSource(disk, p.offset, p.size, partitionName(disk, p));
    try {
      const fs = await ExtFs.open(src);
      if (options.kernel) {
        return {
          fs, partition: p, kernel: options.kernel, initrd: options.ramdisk ? [options.ramdisk] : [],
          args: joinArgs('', options.args), entry: null, index: -1, configPath: null, warnings: [],
        };
      }
      return await fromConfig(fs, p, options);
    } catch (err) {
      if (!(err instanceof PygrubError)) throw err;
      failures.push(err);
    }
  }
  if (failures.length === 1) throw failures[0];
  // Name every partition's reason: "no config" on one and "not ext4" on another both matter.
  const code = failures.find((f) => f.code !== 'EFS')?.code ?? 'EFS';
  throw new PygrubError(code, `${disk.name}: no partition holds a bootable config:\n  ${failures.map((f) => f.message).join('\n  ')}`);
}

async function fromConfig(fs: ExtFs, partition: Partition, options: PygrubOptions): Promise<Chosen> {
  let found: (typeof CONFIG_FILES)[number] | undefined;
  for (const c of CONFIG_FILES) {
    if (await fs.exists(c.path)) {
      found = c;
      break;
    }
  }
  if (!found) {
    const hasBoot = await fs.exists('/boot');
    throw new PygrubError(
      'ENOCONFIG',
      `${fs.src.name}: no ${CONFIG_FILES.map((c) => c.path).join(', ')} found` +
        (hasBoot ? '' : ' (the file system has no /boot)'),
    );
  }
  const where = `${fs.src.name}: ${found.path}`;
  const bytes = await fs.readFile(found.path, CONFIG_MAX_BYTES);
  if (bytes === null) throw new PygrubError('ENOCONFIG', `${where} vanished while reading it`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new PygrubError('ECONFIG', `${where}: not UTF-8 text (a binary or corrupt file?)`);
  }
  if (text.includes('\0')) throw new PygrubError('ECONFIG', `${where}: contains NUL bytes (a binary or corrupt file?)`);
  let menu: Menu;
  try {
    menu = PARSERS[found.kind](text, found.path);
  } catch (err) {
    if (err instanceof ConfigSyntaxError) throw new PygrubError('ECONFIG', `${where} line ${err.line}: ${err.detail}`);
    throw err;
  }
  if (menu.entries.length === 0) throw new PygrubError('ECONFIG', `${where}: no boot entries`);
  const { index, warnings } = chooseEntry(menu, options.entry);
  const entry = menu.entries[index];
  if (entry.kernel === null || entry.kernel === '') {
    throw new PygrubError('ECONFIG', `${where} line ${entry.line}: entry ${index} "${shown(entry.title)}" names no kernel`);
  }
  return {
    fs, partition, kernel: entry.kernel, initrd: [...entry.initrd], args: joinArgs(entry.args, options.args),
    entry, index, configPath: found.path, warnings,
  };
}

async function readBootFile(chosen: Chosen, path: string, what: 'kernel' | 'ramdisk', cap: number): Promise<Buffer> {
  const origin = chosen.entry && chosen.configPath
    ? ` (entry ${chosen.index} "${shown(chosen.entry.title)}", ${chosen.configPath} line ${chosen.entry.line})`
    : ` (--${what})`;
  const data = await chosen.fs.readFile(path, cap).catch((err: unknown) => {
    if (err instanceof PygrubError) throw new PygrubError(err.code, `${err.message}${origin}`, { cause: err });
    throw err;
  });
  if (data === null) throw new PygrubError('ENOENT', `${chosen.fs.src.name}: ${what} ${shown(path)} not found${origin}`);
  return data;
}

/** pygrub's sxp output as xend read it (4.4.4's format_sxp). */
export function formatSxp(kernelPath: string, ramdiskPath: string | null, args: string): string {
  let s = `linux (kernel ${kernelPath})`;
  if (ramdiskPath) s += `(ramdisk ${ramdiskPath})`;
  if (args) s += `(args "${args}")`;
  return s;
}

/**
 * pygrub's "simple"/"simple0" output (what libxl reads): "kernel PATH", "ramdisk PATH", "args
 * ARGS" each ended by `sep`, then one more `sep`. A value containing `sep` cannot be written.
 */
export function formatSimple(kernelPath: string, ramdiskPath: string | null, args: string, sep: '\n' | '\0' = '\n'): string {
  for (const v of [kernelPath, ramdiskPath, args]) {
    if (v !== null && v.includes(sep)) throw new PygrubError('EINVAL', 'simple format cannot represent delimiter-containing value');
  }
  let s = `kernel ${kernelPath}${sep}`;
  if (ramdiskPath) s += `ramdisk ${ramdiskPath}${sep}`;
  if (args) s += `args ${args}${sep}`;
  return s + sep;
}
