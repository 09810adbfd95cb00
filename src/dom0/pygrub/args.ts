// pygrub's command line as xend hands it over: `bootloader_args` (shlex-split by XendBootloader)
// plus the -q, --kernel, --ramdisk and --args that xend adds itself. Parsed as pygrub's
// getopt.gnu_getopt does (tools/pygrub/src/pygrub, __main__), keeping what matters without a
// terminal or output files; output options are accepted and ignored since the caller gets the
// files back in memory.

import { PygrubError } from './errors.js';
import type { PygrubOptions } from './pygrub.js';

const WITH_VALUE = new Set(['entry', 'args', 'kernel', 'ramdisk', 'offset', 'output', 'output-format', 'output-directory', 'runas']);
const FLAGS = new Set(['quiet', 'interactive', 'list-entries', 'not-really', 'isconfig', 'debug', 'help']);

/** POSIX shell-style word splitting, as Python's shlex.split (quotes and backslashes). */
export function shellSplit(s: string): string[] {
  const out: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === ' ' || c === '\t' || c === '\n') {
      if (word !== null) out.push(word);
      word = null;
    } else if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end === -1) throw new PygrubError('EINVAL', `bootloader arguments: unterminated quote in ${s}`);
      word = (word ?? '') + s.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      let w = '';
      while (j < s.length && s[j] !== '"') {
        if (s[j] === '\\' && j + 1 < s.length && '"\\$`'.includes(s[j + 1])) j++;
        w += s[j++];
      }
      if (j >= s.length) throw new PygrubError('EINVAL', `bootloader arguments: unterminated quote in ${s}`);
      word = (word ?? '') + w;
      i = j;
    } else if (c === '\\' && i + 1 < s.length) {
      word = (word ?? '') + s[++i];
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== null) out.push(word);
  return out;
}

/** A long option by its full name or, as getopt allows, a prefix of exactly one name. */
function longOption(given: string): string {
  if (WITH_VALUE.has(given) || FLAGS.has(given)) return given;
  const matches = [...WITH_VALUE, ...FLAGS].filter((o) => o.startsWith(given));
  if (given !== '' && matches.length === 1) return matches[0];
  if (matches.length > 1 && given !== '') {
    throw new PygrubError('EINVAL', `pygrub: option --${given} is ambiguous (${matches.map((m) => `--${m}`).join(', ')})`);
  }
  throw new PygrubError('EINVAL', `pygrub: unknown option --${given}`);
}

/**
 * Options from pygrub arguments ("-q --entry=2", or already split words). Later options win, as
 * in pygrub. Positional words (the disk, which the caller passes separately) are refused.
 */
export function parsePygrubArgs(argv: string | readonly string[]): PygrubOptions {
  const words = typeof argv === 'string' ? shellSplit(argv) : [...argv];
  const opts: PygrubOptions = {};
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (w === '--') break;
    let name: string;
    let value: string | undefined;
    if (w.startsWith('--')) {
      const eq = w.indexOf('=');
      name = longOption(eq === -1 ? w.slice(2) : w.slice(2, eq));
      if (eq !== -1) value = w.slice(eq + 1);
      if (WITH_VALUE.has(name)) {
        if (value === undefined) {
          if (i + 1 >= words.length) throw new PygrubError('EINVAL', `pygrub: option --${name} requires an argument`);
          value = words[++i];
        }
      } else if (value !== undefined) {
        throw new PygrubError('EINVAL', `pygrub: option --${name} takes no argument`);
      }
    } else if (w.startsWith('-') && w.length > 1) {
      // Short flags, possibly bundled (-qn). -h takes an optional value in pygrub's getopt string.
      for (const ch of w.slice(1)) {
        const long = { q: 'quiet', i: 'interactive', l: 'list-entries', n: 'not-really', h: 'help' }[ch];
        if (long === undefined) throw new PygrubError('EINVAL', `pygrub: unknown option -${ch}`);
        if (long === 'quiet') opts.quiet = true;
      }
      continue;
    } else {
      throw new PygrubError('EINVAL', `pygrub: unexpected argument "${w}" (the disk is given separately)`);
    }
    switch (name) {
      case 'quiet': opts.quiet = true; break;
      case 'entry': opts.entry = value; break;
      case 'args': opts.args = value; break;
      case 'kernel': opts.kernel = value; break;
      case 'ramdisk': opts.ramdisk = value; break;
      case 'offset': {
        const n = /^\s*\d+\s*$/.test(value ?? '') ? Number.parseInt(value as string, 10) : NaN;
        if (!Number.isSafeInteger(n)) throw new PygrubError('EINVAL', `pygrub: offset value must be an integer, not "${value}"`);
        opts.offset = n;
        break;
      }
      default: break; // accepted, nothing to do in-process
    }
  }
  return opts;
}

/** What a domain config gives a bootloader (xm create's names). */
export interface BootloaderConfig {
  /** xm's `bootargs` (xend's bootloader_args): pygrub options such as "-q --entry=1". */
  bootargs?: string;
  /** xm's `kernel` and `ramdisk` with a bootloader: paths inside the guest (--kernel/--ramdisk). */
  kernel?: string;
  ramdisk?: string;
  /** The kernel arguments xend built from root=, ip= and extra= (--args). */
  args?: string;
}

/**
 * The options pygrub ran with under xend 4.4 (XendBootloader.bootloader): --kernel, --ramdisk
 * and --args from the config first, then the shell-split `bootargs`, whose options win. xm
 * itself supplies bootargs "-q" when the console is not attached (xm/create.py); pass that in
 * if you want the same default; it changes nothing here (there is never an interactive menu).
 */
export function pygrubOptionsFromConfig(config: BootloaderConfig): PygrubOptions {
  const argv: string[] = [];
  if (config.kernel) argv.push(`--kernel=${config.kernel}`);
  if (config.ramdisk) argv.push(`--ramdisk=${config.ramdisk}`);
  if (config.args) argv.push(`--args=${config.args}`);
  return parsePygrubArgs([...argv, ...shellSplit(config.bootargs ?? '')]);
}
