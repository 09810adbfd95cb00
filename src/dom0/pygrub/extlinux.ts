// SYSLINUX/EXTLINUX's extlinux.conf (and isolinux.cfg), as Xen's
// tools/pygrub/src/ExtLinuxConf.py reads it: keywords are case-insensitive; `label NAME` starts
// an entry titled NAME; `kernel PATH [ARGS]` and `append ARGS` (which replaces the kernel line's
// arguments) make it; an `initrd=PATH` word in append is the ramdisk and is taken out of the
// arguments (leaving one blank where pygrub left two); a `kernel mboot.c32` entry boots the kernel and initrd of its `append
// xen --- kernel args --- initrd` modules; a top-level `default NAME` names the label to boot
// (no match: entry 0).
// Beyond ExtLinuxConf: the `linux` and `initrd` keywords SYSLINUX also accepts (Debian's
// extlinux-update writes `linux`), `initrd=a,b` loading both, and paths without a leading '/'
// taken relative to the config file's directory, as SYSLINUX does.

import { posix } from 'node:path';
import { configLines, splitCommand, type Menu, type MenuEntry } from './menu.js';

interface Draft {
  title: string;
  line: number;
  kernel: string | null;
  args: string;
  initrd: string[];
}

/** ExtLinuxConf strips one pair of double quotes around a value. */
function unquote(v: string): string {
  const m = /^"(.+)"$/.exec(v.trim());
  return m ? m[1] : v.trim();
}

export function parseExtlinux(text: string, path: string): Menu {
  const dir = posix.dirname(path);
  const abs = (p: string): string => (p.startsWith('/') ? p : posix.join(dir, p));
  const entries: MenuEntry[] = [];
  let current: Draft | null = null;
  let dflt = '';
  const flush = (): void => {
    if (!current) return;
    const c = current;
    entries.push({ title: c.title, kernel: c.kernel === null ? null : abs(c.kernel), args: c.args, initrd: c.initrd.map(abs), line: c.line });
  };
  for (const { line: l, lineNo } of configLines(text)) {
    const [rawCom, arg] = splitCommand(l);
    const com = rawCom.toLowerCase();
    if (com === 'label') {
      flush();
      current = { title: unquote(arg), line: lineNo, kernel: null, args: '', initrd: [] };
      continue;
    }
    if (!current) {
      if (com === 'default') dflt = arg.trim();
      continue;
    }
    const c = current;
    if (com === 'kernel' || com === 'linux') {
      const v = unquote(arg);
      const blank = v.search(/[ \t]/);
      c.kernel = blank === -1 ? v : v.slice(0, blank);
      c.args = blank === -1 ? '' : v.slice(blank).trim();
    } else if (com === 'initrd') {
      c.initrd = unquote(arg).split(',').filter((p) => p !== '');
    } else if (com === 'append') {
      if (c.kernel !== null && c.kernel.endsWith('mboot.c32')) {
        // mboot.c32: "xen.gz xen-args --- vmlinuz args --- initrd" (or without the hypervisor).
        const modules = arg.split('---').map((m) => m.trim());
        const mods = modules.length === 3 ? modules.slice(1) : modules.length === 2 ? modules : [];
        if (mods.length === 2) {
          const blank = mods[0].search(/[ \t]/);
          c.kernel = blank === -1 ? mods[0] : mods[0].slice(0, blank);
          c.args = blank === -1 ? '' : mods[0].slice(blank).trim();
          c.initrd = [mods[1]];
        }
        continue;
      }
      const words = unquote(arg).split(/[ \t]+/).filter((w) => w !== '');
      const rest: string[] = [];
      for (const w of words) {
        if (w.toLowerCase().startsWith('initrd=')) c.initrd = w.slice('initrd='.length).split(',').filter((p) => p !== '');
        else rest.push(w);
      }
      c.args = rest.join(' ');
    }
  }
  flush();
  const idx = entries.findIndex((e) => e.title === dflt);
  return { kind: 'extlinux', path, entries, default: String(idx >= 0 ? idx : 0) };
}
