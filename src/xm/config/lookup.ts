// Where `xm create NAME` finds its config. xm (opts.load_defconfig) tried NAME itself
// (relative to the current directory), then each directory of --path, default
// '.:' + the Xen config dir (/etc/xen). tsxen keeps that order, lets TSXEN_CONFIG_DIR move
// /etc/xen, then also looks in the project's images/ directory (so `xm create busybox`
// works from a fresh clone), and at each place tries NAME and NAME.cfg.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { parseDomainConfig, type DomainConfig, type ParseOptions } from './domain-config.js';
import { XmConfigError } from './errors.js';

export interface LookupOptions {
  /** Xen config dir. Default: $TSXEN_CONFIG_DIR, else /etc/xen. */
  readonly configDir?: string;
  /** The project's images directory. Default: images/ of the tsxen checkout this runs from. */
  readonly imagesDir?: string | null;
  /** Directory a relative NAME is taken from. Default process.cwd(). */
  readonly cwd?: string;
}

/** xm's OptionError wording; `searched` lists every path tried. */
export class ConfigNotFoundError extends Error {
  override readonly name = 'ConfigNotFoundError';
  constructor(
    readonly config: string,
    readonly searched: readonly string[],
  ) {
    super(`Unable to open config file: ${config}`);
  }
}

/** The tsxen checkout's images/ directory: the nearest package.json named tsxen, upwards. */
export function projectImagesDir(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        const name: unknown = (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name;
        if (name === 'tsxen') return join(dir, 'images');
      } catch {
        // Not a readable package.json: keep walking up.
      }
    }
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

export function defaultConfigDir(): string {
  const env = process.env.TSXEN_CONFIG_DIR;
  return env !== undefined && env !== '' ? env : '/etc/xen';
}

/** The places `name` is looked for, in order. */
export function configCandidates(name: string, opts: LookupOptions = {}): string[] {
  const cwd = opts.cwd ?? process.cwd();
  const dirs = [cwd, opts.configDir ?? defaultConfigDir()];
  const images = opts.imagesDir === undefined ? projectImagesDir() : opts.imagesDir;
  if (images !== null) dirs.push(images);
  const names = name.endsWith('.cfg') ? [name] : [name, `${name}.cfg`];
  const out: string[] = [];
  for (const d of dirs) {
    for (const n of names) {
      const p = resolve(d, n);
      if (!out.includes(p)) out.push(p);
    }
  }
  return out;
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** The config file `xm create name` would read. */
export function findConfigFile(name: string, opts: LookupOptions = {}): string {
  if (name === '') throw new ConfigNotFoundError(name, []);
  const candidates = configCandidates(name, opts);
  const hit = candidates.find(isFile);
  if (hit === undefined) throw new ConfigNotFoundError(name, candidates);
  return hit;
}

/** Find, read and parse a domain config the way `xm create name VAR=VAL...` did. */
export function loadDomainConfig(name: string, opts: ParseOptions & LookupOptions = {}): DomainConfig {
  const path = findConfigFile(name, opts);
  const text = readFileSync(path, 'utf8');
  // load_defconfig sent files starting with '<' to the XML loader.
  if (text.startsWith('<')) {
    throw new XmConfigError(path, 1, null, "XML domain configs are not supported; write the config in xm's Python form");
  }
  return parseDomainConfig(text, path, { ...opts, defconfig: opts.defconfig ?? name });
}
