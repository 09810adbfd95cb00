// GRUB 2's grub.cfg, the subset pygrub understands (Xen's tools/pygrub/src/GrubConf.py,
// Grub2ConfigFile and Grub2Image): a line-by-line reading, not a script interpreter.
//
// - `menuentry TITLE [options] {` ... `}` is an entry; entries inside `submenu ... {` ... `}` are
//   listed flat after the ones before them, so indexes count across submenus as pygrub's do.
// - In an entry, `linux`/`linux16` give the kernel and its arguments, `initrd`/`initrd16` the
//   ramdisk; every other command (insmod, search, echo, load_video, set, if/fi ...) is ignored.
// - At top level only `set default=` (and `set timeout=`) matter. `if`/`else`/`fi` are not
//   evaluated: every `set default` line counts, in order, so Debian's
//   `if [ "${next_entry}" ]; then set default="${next_entry}" ... else set default="0" fi`
//   ends with "0". `${saved_entry}` and `${next_entry}` read as 0, "saved" too (pygrub does not
//   read grubenv).
// - `function NAME {` ... `}` bodies are skipped.
// Beyond GrubConf: titles are read with GRUB's quoting rules (so 'it'\''s' is "it's" and an
// unquoted title works), `initrd` with several files loads them all, and malformed input (an
// unbalanced brace, an entry or submenu left open, a nested menuentry) is an error naming the
// line, where GrubConf raised only for some of these.

import { shown } from './errors.js';
import { ConfigSyntaxError, configLines, splitCommand, splitKernelLine, stripDevice, type Menu, type MenuEntry } from './menu.js';

/** Splits a GRUB script line into words: '...' literal, "..." with \ escapes, \x, blanks. */
export function grubWords(line: string, lineNo: number): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && (line[i] === ' ' || line[i] === '\t')) i++;
    if (i >= line.length) break;
    if (line[i] === '#') break; // a comment runs to the end of the line
    let word = '';
    while (i < line.length && line[i] !== ' ' && line[i] !== '\t') {
      const c = line[i];
      if (c === "'") {
        const end = line.indexOf("'", i + 1);
        if (end === -1) throw new ConfigSyntaxError(lineNo, 'unterminated single quote');
        word += line.slice(i + 1, end);
        i = end + 1;
      } else if (c === '"') {
        i++;
        while (i < line.length && line[i] !== '"') {
          if (line[i] === '\\' && i + 1 < line.length && '$"\\'.includes(line[i + 1])) i++;
          word += line[i++];
        }
        if (i >= line.length) throw new ConfigSyntaxError(lineNo, 'unterminated double quote');
        i++;
      } else if (c === '\\' && i + 1 < line.length) {
        word += line[i + 1];
        i += 2;
      } else {
        word += c;
        i++;
      }
    }
    words.push(word);
  }
  return words;
}

/** GrubConf's grub2_handle_set: "name=value", the value without one pair of outer quotes. */
function parseSet(arg: string): [string, string] {
  const [name, raw] = splitCommand(arg);
  const v = raw.trim();
  const m = /^(["'])(.*)\1$/.exec(v);
  return [name, m ? m[2] : v];
}

function readDefault(value: string): string {
  // GrubConf maps these to entry 0: pygrub does not read grubenv.
  if (value === '${saved_entry}' || value === '${next_entry}' || value === 'saved') return '0';
  return value;
}

/** Parses `text` (the contents of `path`) as pygrub's Grub2ConfigFile does. */
export function parseGrub2(text: string, path: string): Menu {
  const entries: MenuEntry[] = [];
  const submenus: number[] = []; // lines where open submenus started
  let inFunction = false;
  let current: { title: string; line: number; kernel: string | null; args: string; initrd: string[] } | null = null;
  let dflt = '0';
  for (const { line: l, lineNo } of configLines(text)) {
    if (l.startsWith('function')) {
      inFunction = true;
      continue;
    }
    if (inFunction) {
      if (l.startsWith('}')) inFunction = false;
      continue;
    }
    const [com, arg] = splitCommand(l);
    if (com === 'menuentry' || com === 'submenu') {
      const words = grubWords(l, lineNo);
      if (words.length < 3 || words[words.length - 1] !== '{') {
        throw new ConfigSyntaxError(lineNo, `${com} needs a title and must end with "{"`);
      }
      if (current) {
        throw new ConfigSyntaxError(lineNo, `${com} inside menuentry "${shown(current.title)}" (opened at line ${current.line})`);
      }
      if (com === 'submenu') submenus.push(lineNo);
      else current = { title: words[1].trim(), line: lineNo, kernel: null, args: '', initrd: [] };
      continue;
    }
    if (l.startsWith('}')) {
      if (current) {
        entries.push({ title: current.title, kernel: current.kernel, args: current.args, initrd: current.initrd, line: current.line });
        current = null;
      } else if (submenus.length > 0) {
        submenus.pop();
      } else {
        throw new ConfigSyntaxError(lineNo, '"}" closes no menuentry or submenu');
      }
      continue;
    }
    if (current) {
      if (com === 'linux' || com === 'linux16') {
        const k = splitKernelLine(arg, lineNo);
        current.kernel = k.kernel;
        current.args = k.args;
      } else if (com === 'initrd' || com === 'initrd16') {
        current.initrd = arg.split(/[ \t]+/).filter((p) => p !== '').map((p) => stripDevice(p, lineNo));
      }
      continue;
    }
    if (com === 'set') {
      const [name, value] = parseSet(arg);
      if (name === 'default') dflt = readDefault(value);
    }
  }
  if (current) throw new ConfigSyntaxError(current.line, `menuentry "${shown(current.title)}" is not closed before the end of the file`);
  if (submenus.length > 0) throw new ConfigSyntaxError(submenus[submenus.length - 1], 'submenu is not closed before the end of the file');
  return { kind: 'grub2', path, entries, default: dflt };
}
