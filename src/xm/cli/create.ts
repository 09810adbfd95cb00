// `xm create` and `xm new`: options as create.py's gopts had them, the config found and
// checked here (nothing reaches xend when it is wrong), then xend builds the domain.
// Reference: tools/python/xen/xm/create.py (gopts, parseCommandLine, main, make_domain) and
// opts.py (Opts.parse, Opt.__str__, err, info), Xen 4.4.4.

import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';

import { ConfigNotFoundError, loadDomainConfig, type DomainConfig } from '../config/index.js';
import { XmConfigError } from '../config/errors.js';
import { runConsole } from './console.js';
import type { Ctx } from './context.js';
import { formatDryRun } from './dryrun.js';
import { PlainError } from './errors.js';
import { wrap } from './help.js';

export interface CreateFlags {
  quiet?: boolean;
  path?: string;
  defconfig?: string;
  config?: string;
  dryrun?: boolean;
  xmldryrun?: boolean;
  skipdtd?: boolean;
  paused?: boolean;
  console_autoconnect?: boolean;
  help_config?: boolean;
  timeout?: string;
}

/** [keys, val, use] of the create options tsxen has (Opt.__str__ layout). */
const CREATE_OPTIONS: readonly (readonly [string[], string | null, string])[] = [
  [['-h', '--help'], null, 'Print this help.'],
  [['--help_config'], null, 'Print the available configuration variables (vars) for the configuration script.'],
  [['-q', '--quiet'], null, 'Quiet.'],
  [['--path'], 'PATH', 'Search path for configuration scripts. The value of PATH is a colon-separated directory list.'],
  [['-f', '--defconfig'], 'FILE', 'Use the given Python configuration script.'],
  [['-n', '--dryrun'], null, 'Dry run - prints the resulting configuration in SXP but does not create the domain.'],
  [['-p', '--paused'], null, 'Leave the domain paused after it is created.'],
  [['-c', '--console_autoconnect'], null, 'Connect to the console after the domain is created.'],
  [['--timeout'], 'SECONDS', 'With -c: destroy the domain and exit 2 when it runs longer than SECONDS (tsxen).'],
];

/** str(gopts): the "Options:" block cmdHelp appends for create and new. */
export function createOptionsHelp(): string {
  const lines = CREATE_OPTIONS.map(([keys, val, use]) => {
    const k = val ? keys.map((x) => `${x}=${val}`).join(', ') : keys.join(', ');
    let desc = wrap(use, 55);
    if (k.length > 20) desc = ['', ...desc];
    return k.padEnd(21) + desc.join(`\n${' '.repeat(21)}`);
  });
  return `\nOptions:\n\n${lines.join('\n')}\n`;
}

/** Find the config: --path directories first when given, else the usual lookup. */
function load(defconfig: string, vars: string[], path: string | undefined, checkDisks: boolean): DomainConfig {
  if (path === undefined) return loadDomainConfig(defconfig, { vars, checkDisks });
  const names = defconfig.endsWith('.cfg') ? [defconfig] : [defconfig, `${defconfig}.cfg`];
  const tried: string[] = [];
  for (const dir of path.split(':')) {
    for (const n of names) {
      const p = resolve(dir === '' ? '.' : dir, n);
      tried.push(p);
      if (existsSync(p) && statSync(p).isFile()) return loadDomainConfig(p, { vars, defconfig, checkDisks });
    }
  }
  throw new ConfigNotFoundError(defconfig, tried);
}

/** parseCommandLine(): VAR=VAL arguments are vars; a bare argument names the config. */
function parseConfig(flags: CreateFlags, args: readonly string[]): DomainConfig {
  if (flags.config !== undefined) {
    throw new PlainError('SXP domain configs (-F/--config) are not supported by tsxen; write the config in xm\'s Python form');
  }
  if (flags.xmldryrun) throw new PlainError('XML dry run (-x) needs the Xen-API server, which tsxen does not have');
  let defconfig = flags.defconfig ?? 'xmdefconfig';
  const vars: string[] = [];
  for (const a of args) {
    if (a.includes('=')) vars.push(a);
    else defconfig = a;
  }
  try {
    // A dry run touches no device, so a disk that is not there yet is no error for it.
    return load(defconfig, vars, flags.path, !flags.dryrun);
  } catch (e) {
    if (e instanceof XmConfigError || e instanceof ConfigNotFoundError) throw new PlainError(e.message);
    throw e;
  }
}

function timeoutOf(flags: CreateFlags): number | undefined {
  if (flags.timeout === undefined) return undefined;
  const t = Number(flags.timeout);
  if (!Number.isFinite(t) || t <= 0) throw new PlainError(`--timeout expects a positive number of seconds, got '${flags.timeout}'`);
  return t;
}

export async function xmCreate(ctx: Ctx, flags: CreateFlags, args: readonly string[]): Promise<number> {
  if (flags.help_config) {
    ctx.out('See xmdomain.cfg(5) for the configuration variables; tsxen accepts the keys of src/xm/config/keys.ts.\n');
    return 0;
  }
  const timeoutSec = timeoutOf(flags);
  const config = parseConfig(flags, args);
  if (flags.dryrun) {
    ctx.out(formatDryRun(config));
    return 0;
  }
  const info = (msg: string): void => {
    if (!flags.quiet) ctx.out(`${msg}\n`);
  };
  if (!flags.console_autoconnect) {
    const r = await ctx.call('create', { config, paused: flags.paused ?? false });
    info(`Started domain ${r.name} (id=${r.domid})`);
    return 0;
  }
  const s = await ctx.stream('create', { config, paused: flags.paused ?? false, console: true });
  info(`Started domain ${s.result.name} (id=${s.result.domid})`);
  return runConsole(s, s.result, { paths: ctx.paths, timeoutSec });
}

export async function xmNew(ctx: Ctx, flags: CreateFlags, args: readonly string[]): Promise<number> {
  if (flags.dryrun) {
    ctx.out(formatDryRun(parseConfig(flags, args)));
    return 0;
  }
  const config = parseConfig(flags, args);
  await ctx.call('new', { config });
  return 0;
}
