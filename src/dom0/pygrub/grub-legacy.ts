// GRUB legacy's menu.lst / grub.conf, as Xen's tools/pygrub/src/GrubConf.py (GrubConfigFile,
// GrubImage) reads it: `title` starts an entry and everything up to the next `title` belongs to
// it; before the first title only `default` matters here ("saved" means 0). In an entry,
// `kernel PATH ARGS` and `initrd PATH` (a "(hd0,0)" prefix dropped); root, module,
// chainloader and the rest are not needed to boot a PV kernel and are ignored.

import { configLines, splitCommand, splitKernelLine, stripDevice, type Menu, type MenuEntry } from './menu.js';

export function parseGrubLegacy(text: string, path: string): Menu {
  const entries: MenuEntry[] = [];
  let current: { title: string; line: number; kernel: string | null; args: string; initrd: string[] } | null = null;
  let dflt = '0';
  const flush = (): void => {
    if (current) entries.push({ ...current });
  };
  for (const { line: l, lineNo } of configLines(text)) {
    if (l.startsWith('title')) {
      flush();
      // GrubConf takes the title as l[6:]: whatever follows "title" and one separator.
      current = { title: l.slice(6).trim(), line: lineNo, kernel: null, args: '', initrd: [] };
      continue;
    }
    const [com, arg] = splitCommand(l);
    if (current) {
      if (com === 'kernel') {
        const k = splitKernelLine(arg, lineNo);
        current.kernel = k.kernel;
        current.args = k.args;
      } else if (com === 'initrd') {
        current.initrd = [stripDevice(arg.trim(), lineNo)];
      }
      continue;
    }
    if (com === 'default') {
      const v = arg.trim();
      dflt = v === 'saved' ? '0' : v;
    }
  }
  flush();
  return { kind: 'grub', path, entries, default: dflt };
}
