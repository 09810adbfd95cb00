// xm's command line: commander parses each command's options; which command runs, the help
// texts, the argument checks and what errors look like follow tools/python/xen/xm/main.py
// (main, xm_lookup_cmd, _run_cmd, aliases, deprecated), Xen 4.4.4.

import { Command, CommanderError } from 'commander';

import { XendRequestError, XendUnreachableError } from '../../dom0/xend/client.js';
import * as c from './commands.js';
import { Ctx } from './context.js';
import { createOptionsHelp, xmCreate, xmNew, type CreateFlags } from './create.js';
import { InvalidArgument, OptionError, PlainError, XmExit } from './errors.js';
import { ALL_COMMANDS, UNSUPPORTED_COMMANDS, cmdHelp, longHelp, shortHelp } from './help.js';
import { errorMessage } from '../../hypervisor/errors.js';

/** main.aliases: old names, each with a deprecation note on stderr. */
const ALIASES: Readonly<Record<string, string>> = {
  balloon: 'mem-set',
  'set-vcpus': 'vcpu-set',
  'vif-list': 'network-list',
  'vbd-create': 'block-attach',
  'vbd-destroy': 'block-detach',
  'vbd-list': 'block-list',
};

/** Commands whose xend failures print "Error: MSG" only (create.py's err), not usage too. */
const PLAIN_FAULT_COMMANDS = new Set(['create', 'new', 'shutdown', 'reboot']);

type Action = (ctx: Ctx, opts: Record<string, unknown>, params: string[]) => Promise<number>;

interface CommandDef {
  readonly options?: readonly (readonly [string, string])[];
  readonly run: Action;
}

const SHUTDOWN_OPTIONS: readonly (readonly [string, string])[] = [
  ['-a, --all', 'Shutdown all domains.'],
  ['-w, --wait', 'Wait for shutdown to complete.'],
  ['-H, --halt', 'Shutdown without reboot.'],
  ['-R, --reboot', 'Shutdown and reboot.'],
];

const CREATE_OPTIONS: readonly (readonly [string, string])[] = [
  ['--help_config', 'Print the available configuration variables.'],
  ['-q, --quiet', 'Quiet.'],
  ['--path <PATH>', 'Search path for configuration scripts.'],
  ['-f, --defconfig <FILE>', 'Use the given Python configuration script.'],
  ['-F, --config <FILE>', 'Domain configuration to use (SXP).'],
  ['-n, --dryrun', 'Dry run.'],
  ['-x, --xmldryrun', 'XML dry run.'],
  ['-s, --skipdtd', 'Skip DTD checking.'],
  ['-p, --paused', 'Leave the domain paused after it is created.'],
  ['-c, --console_autoconnect', 'Connect to the console after the domain is created.'],
  ['--timeout <SECONDS>', 'With -c: destroy the domain after SECONDS (tsxen).'],
];

const COMMANDS: Readonly<Record<string, CommandDef>> = {
  console: {
    options: [
      ['-q, --quiet', 'quiet'],
      ['-n, --num <N>', 'console number'],
      ['--timeout <SECONDS>', 'destroy the domain after SECONDS (tsxen)'],
    ],
    run: (ctx, o, p) => c.xmConsole(ctx, o, p),
  },
  create: { options: CREATE_OPTIONS, run: (ctx, o, p) => xmCreate(ctx, o as CreateFlags, p) },
  new: { options: CREATE_OPTIONS, run: (ctx, o, p) => xmNew(ctx, o as CreateFlags, p) },
  delete: { run: (ctx) => c.xmDelete(ctx) },
  destroy: { run: (ctx) => c.xmDestroy(ctx) },
  domid: { run: (ctx) => c.xmDomid(ctx) },
  domname: { run: (ctx) => c.xmDomname(ctx) },
  list: {
    options: [
      ['-l, --long', 'long'],
      ['-v, --vcpus', 'vcpus'],
      ['--label', 'label'],
      ['--state <state>', 'state'],
      ['--pool <pool>', 'pool'],
    ],
    run: (ctx, o, p) => c.xmList(ctx, o, p),
  },
  'mem-max': { run: (ctx) => c.xmMemMax(ctx) },
  'mem-set': { run: (ctx) => c.xmMemSet(ctx) },
  pause: { run: (ctx) => c.xmPause(ctx) },
  reboot: {
    options: SHUTDOWN_OPTIONS,
    run: (ctx, o, p) => {
      ctx.argCheck(1, 3);
      return c.xmShutdown(ctx, { ...o, reboot: true }, p);
    },
  },
  rename: { run: (ctx) => c.xmRename(ctx) },
  shutdown: {
    options: SHUTDOWN_OPTIONS,
    run: (ctx, o, p) => {
      ctx.argCheck(1, 4);
      return c.xmShutdown(ctx, o, p);
    },
  },
  start: {
    options: [
      ['-p, --paused', 'paused'],
      ['-c, --console_autoconnect', 'console'],
      ['--vncviewer', 'vnc'],
      ['--vncviewer-autopass', 'vnc'],
    ],
    run: (ctx, o, p) => c.xmStart(ctx, o, p),
  },
  sysrq: { run: (ctx) => c.xmSysrq(ctx) },
  top: { run: (ctx) => c.xmTop(ctx) },
  unpause: { run: (ctx) => c.xmUnpause(ctx) },
  uptime: { options: [['-s, --short', 'short']], run: (ctx, o, p) => c.xmUptime(ctx, o, p) },
  'vcpu-list': { run: (ctx, _o, p) => c.xmVcpuList(ctx, p) },
  'vcpu-set': { run: (ctx) => c.xmVcpuSet(ctx) },
  dmesg: { options: [['-c, --clear', 'clear']], run: (ctx, o, p) => c.xmDmesg(ctx, o, p) },
  info: {
    options: [
      ['-c, --config', 'config'],
      ['-n, --numa', 'numa'],
    ],
    run: (ctx, o) => c.xmInfo(ctx, o),
  },
  log: { run: (ctx) => c.xmLog(ctx) },
  'block-attach': { run: (ctx) => c.xmBlockAttach(ctx) },
  'block-detach': { options: [['-f, --force', 'force']], run: (ctx, o, p) => c.xmBlockDetach(ctx, o, p) },
  'block-list': { options: [['-l, --long', 'long']], run: (ctx, o, p) => c.xmBlockList(ctx, o, p) },
  'network-attach': { run: (ctx) => c.xmNetworkAttach(ctx) },
  'network-detach': { options: [['-f, --force', 'force']], run: (ctx, o, p) => c.xmNetworkDetach(ctx, o, p) },
  'network-list': { options: [['-l, --long', 'long']], run: (ctx, o, p) => c.xmNetworkList(ctx, o, p) },
};

/** The extra help text a command's own option parser had (create.py / shutdown.py gopts). */
function extraHelp(cmd: string): string | undefined {
  if (cmd === 'create' || cmd === 'new') return createOptionsHelp();
  return undefined;
}

/** xm_lookup_cmd: exact, alias, or the one command the prefix names. */
function lookup(name: string): { cmd: string; alias: boolean } | null {
  if (COMMANDS[name] !== undefined) return { cmd: name, alias: false };
  const alias = ALIASES[name];
  if (alias !== undefined) return { cmd: alias, alias: true };
  if (name.length > 1) {
    const hits = Object.keys(COMMANDS).filter((k) => k.startsWith(name));
    if (hits.length === 1) return { cmd: hits[0]!, alias: false };
  }
  return null;
}

/** getopt's wording for commander's option errors. */
function getoptMessage(e: CommanderError): string {
  const opt = /'(-[^' ]*)/.exec(e.message)?.[1] ?? '';
  if (e.code === 'commander.unknownOption') return `option ${opt} not recognized`;
  if (e.code === 'commander.optionMissingArgument') return `option ${opt} requires argument`;
  return e.message.replace(/^error: /, '');
}

function buildCommand(name: string, def: CommandDef, ctx: Ctx, setResult: (p: Promise<number>) => void): Command {
  const cmd = new Command(name)
    .helpOption(false)
    .allowExcessArguments(true)
    .argument('[args...]')
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {}, outputError: () => {} });
  for (const [flags, desc] of def.options ?? []) cmd.option(flags, desc);
  cmd.action((params: string[], opts: Record<string, unknown>) => {
    setResult(def.run(ctx, opts, params ?? []));
  });
  return cmd;
}

/** Report a failure as _run_cmd did; the exit status. */
function report(ctx: Ctx, e: unknown): number {
  if (e instanceof XmExit) return e.code;
  if (e instanceof XendRequestError) {
    ctx.error(e.message);
    if (e.exitCode === 3) return 3;
    if (!PLAIN_FAULT_COMMANDS.has(ctx.cmd)) ctx.out(cmdHelp(ctx.cmd, extraHelp(ctx.cmd)));
    return 1;
  }
  if (e instanceof XendUnreachableError) {
    ctx.error(`Unable to connect to xend: ${e.message}. Is xend running?`);
    return 1;
  }
  if (e instanceof OptionError) {
    ctx.error(e.message);
    ctx.out(cmdHelp(ctx.cmd, extraHelp(ctx.cmd)));
    ctx.out(`${e.usageText}\n`);
    return 1;
  }
  if (e instanceof InvalidArgument) {
    ctx.error('Invalid argument.');
    ctx.out(cmdHelp(ctx.cmd, extraHelp(ctx.cmd)));
    return 1;
  }
  if (e instanceof PlainError) {
    ctx.error(e.message);
    return e.code;
  }
  ctx.error(errorMessage(e));
  return 1;
}

/** Run `xm ARGV...`; resolves to the exit status. */
export async function runXm(argv: readonly string[]): Promise<number> {
  const out = (s: string): boolean => process.stdout.write(s);
  if (argv.length === 0) {
    out(shortHelp());
    return 1;
  }
  // main(): -h/--help anywhere. First: the full list; after a command: its usage, status 1.
  for (const h of ['--help', '-h']) {
    if (argv.includes(h)) {
      if (argv[0] === h) {
        out(longHelp());
        return 0;
      }
      const hit = lookup(argv[0]!);
      out(cmdHelp(hit?.cmd ?? argv[0]!, extraHelp(hit?.cmd ?? '')));
      return 1;
    }
  }
  const name = argv[0]!;
  if (name === 'help') {
    // xm help: the full list. `xm help CMD` (tsxen) shows that command's usage.
    if (argv.length > 1) {
      const hit = lookup(argv[1]!);
      if (hit === null) {
        process.stderr.write(`Error: Subcommand ${argv[1]} not found!\n`);
        out(shortHelp());
        return 1;
      }
      out(cmdHelp(hit.cmd, extraHelp(hit.cmd)));
      return 0;
    }
    out(longHelp());
    return 0;
  }
  const hit = lookup(name);
  if (hit === null) {
    if (UNSUPPORTED_COMMANDS.includes(name)) {
      process.stderr.write(`Error: 'xm ${name}' is not supported by tsxen. Its commands: ${ALL_COMMANDS.join(', ')}.\n`);
      return 1;
    }
    process.stderr.write(`Error: Subcommand ${name} not found!\n`);
    out(shortHelp());
    return 1;
  }
  if (hit.alias) process.stderr.write(`Command ${name} is deprecated.  Please use xm ${hit.cmd} instead.\n`);

  const ctx = new Ctx(hit.cmd, argv.slice(1));
  let result: Promise<number> | null = null;
  const program = new Command('xm')
    .helpOption(false)
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {}, outputError: () => {} });
  program.addCommand(buildCommand(hit.cmd, COMMANDS[hit.cmd]!, ctx, (p) => (result = p)));
  try {
    try {
      await program.parseAsync([hit.cmd, ...argv.slice(1)], { from: 'user' });
    } catch (e) {
      if (e instanceof CommanderError) throw new OptionError(getoptMessage(e));
      throw e;
    }
    if (result === null) throw new Error(`xm ${hit.cmd}: command did not run`);
    return await result;
  } catch (e) {
    return report(ctx, e);
  } finally {
    ctx.close();
  }
}
