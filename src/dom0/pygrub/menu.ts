// What every boot loader config parser produces, the config files pygrub looks for, and how it
// picks the entry to boot. Follows Xen's tools/pygrub/src/pygrub (read_config, image_index,
// get_entry_idx, run_grub) and GrubConf.py (grub_split, get_path).

import { shown } from './errors.js';

export type MenuKind = 'grub2' | 'grub' | 'extlinux';

export interface MenuEntry {
  readonly title: string;
  /** Kernel path inside the guest file system (a grub "(hd0,0)" prefix already removed). */
  readonly kernel: string | null;
  /** The kernel's own arguments, as written in the config. */
  readonly args: string;
  /** Initrd paths; grub loads several as one concatenated ramdisk. */
  readonly initrd: readonly string[];
  /** 1-based line of the entry's title in the config, for messages. */
  readonly line: number;
}

export interface Menu {
  readonly kind: MenuKind;
  readonly path: string;
  readonly entries: readonly MenuEntry[];
  /** A number, a digit string, a title, or a "submenu>title" path, as the config gave it. */
  readonly default: string;
}

/** Where pygrub looks, in this order; the first file that exists is used, broken or not. */
export const CONFIG_FILES: ReadonlyArray<{ readonly path: string; readonly kind: MenuKind }> = [
  { path: '/boot/grub/grub.cfg', kind: 'grub2' },
  { path: '/grub/grub.cfg', kind: 'grub2' },
  { path: '/boot/grub2/grub.cfg', kind: 'grub2' },
  { path: '/grub2/grub.cfg', kind: 'grub2' },
  { path: '/boot/isolinux/isolinux.cfg', kind: 'extlinux' },
  { path: '/boot/extlinux/extlinux.conf', kind: 'extlinux' },
  { path: '/boot/extlinux.conf', kind: 'extlinux' },
  { path: '/extlinux/extlinux.conf', kind: 'extlinux' },
  { path: '/extlinux.conf', kind: 'extlinux' },
  { path: '/boot/grub/menu.lst', kind: 'grub' },
  { path: '/boot/grub/grub.conf', kind: 'grub' },
  { path: '/grub/menu.lst', kind: 'grub' },
  { path: '/grub/grub.conf', kind: 'grub' },
];

/**
 * pygrub reads at most this much of a config file (FS_READ_MAX) and parses what it got; a
 * bigger one is refused here instead, since a config cut mid-entry would parse as another one.
 */
export const CONFIG_MAX_BYTES = 1 << 20;

/**
 * The lines every parser looks at: trimmed, with blank lines and '#' comments dropped (as all
 * three of pygrub's parsers skip them), each with its 1-based number for messages.
 */
export function* configLines(text: string): Generator<{ line: string; lineNo: number }> {
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].trim();
    if (line !== '' && !line.startsWith('#')) yield { line, lineNo: n + 1 };
  }
}

/** A parse failure at a line of a config file. */
export class ConfigSyntaxError extends Error {
  constructor(
    readonly line: number,
    readonly detail: string,
  ) {
    super(`line ${line}: ${detail}`);
  }
}

/**
 * GrubConf.grub_split(s, 1) padded to two words: a command and the rest. "key=value" splits at
 * the '=' when it comes before the first blank, otherwise at the first run of blanks.
 */
export function splitCommand(line: string): [string, string] {
  const eq = line.indexOf('=');
  const blank = line.search(/[ \t]/);
  if (eq !== -1 && (blank === -1 || eq < blank)) return [line.slice(0, eq), line.slice(eq + 1)];
  if (blank === -1) return [line, ''];
  return [line.slice(0, blank), line.slice(blank).replace(/^[ \t]+/, '')];
}

/** GrubConf.get_path: drops a leading "(hd0,1)"-style device; the path is on the same disk. */
export function stripDevice(path: string, line: number): string {
  if (!path.startsWith('(')) return path;
  const close = path.indexOf(')');
  if (close === -1) throw new ConfigSyntaxError(line, `unable to find matching ')' in "${shown(path)}"`);
  return path.slice(close + 1);
}

/** "kernel ARGS..." as GrubConf's set_kernel: the path, then the rest verbatim. */
export function splitKernelLine(value: string, line: number): { kernel: string; args: string } {
  const v = value.trim();
  const blank = v.search(/[ \t]/);
  if (blank === -1) return { kernel: stripDevice(v, line), args: '' };
  return { kernel: stripDevice(v.slice(0, blank), line), args: v.slice(blank).trim() };
}

/** Python's int() on a string, as pygrub uses it: optional blanks and sign around digits. */
function parseIntLike(s: string): number | null {
  return /^\s*[+-]?\d+\s*$/.test(s) ? Number.parseInt(s.trim(), 10) : null;
}

/**
 * What pygrub's image_index() keeps of a "submenu>...>title" default: it takes what follows the
 * first '>' that has a non-blank before it and a non-blank plus at least one more character
 * after it (re.search(r'(\S)>(\S.+$)')), again and again. One pass from the left does the same
 * in linear time (the regex loop is quadratic, and the string is the guest's).
 */
export function leafTitle(path: string): string {
  let start = 0;
  for (let j = 1; j + 2 < path.length; j++) {
    if (path[j] === '>' && j - 1 >= start && /\S/.test(path[j - 1]) && /\S/.test(path[j + 1])) start = j + 1;
  }
  return path.slice(start);
}

/**
 * pygrub's Grub.image_index(): the default as an index, or as a title (for a "sub>menu>title"
 * path, the part after the last '>' between non-blanks), else entry 0. Out of range also gives 0.
 */
export function defaultIndex(menu: Menu): { index: number; warning?: string } {
  const d = menu.default.trim();
  if (/^\d+$/.test(d)) {
    const n = Number.parseInt(d, 10);
    if (n < menu.entries.length) return { index: n };
    return { index: 0, warning: `default ${d} is past the last entry of ${menu.path}; using entry 0` };
  }
  const title = leafTitle(d);
  const sel = menu.entries.findIndex((e) => e.title === title);
  if (sel >= 0) return { index: sel };
  return { index: 0, warning: `default "${shown(menu.default)}" names no entry of ${menu.path}; using entry 0` };
}

/**
 * The entry to boot, and why. `entry` is pygrub's --entry: an index (Python int() syntax), else
 * an exact title; one that names no entry leaves the default, as pygrub does (with a warning).
 */
export function chooseEntry(menu: Menu, entry?: string): { index: number; warnings: string[] } {
  const warnings: string[] = [];
  const def = defaultIndex(menu);
  let index = def.index;
  if (def.warning) warnings.push(def.warning);
  if (entry !== undefined) {
    const n = parseIntLike(entry);
    let idx: number | null = n;
    if (n === null) {
      const t = menu.entries.findIndex((e) => e.title === entry);
      idx = t >= 0 ? t : null;
    }
    if (idx !== null && idx >= 0 && idx < menu.entries.length) index = idx;
    else warnings.push(`--entry "${shown(entry)}" names no entry of ${menu.path}; booting the default, entry ${index}`);
  }
  return { index, warnings };
}
