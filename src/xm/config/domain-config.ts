// From a config file's variables (and `xm create` VAR=VAL arguments) to a checked, typed
// DomainConfig for a PV domain.
//
// Precedence, as opts.parse/opts.load gave it: a known key given on the command line wins
// over the file (a list key given several times there accumulates, and replaces the file's
// list); then the file; then create.py's default. A VAR=VAL whose VAR is not a key is a
// variable the file may use (xm's `vars`, e.g. vmid=3).
//
// Differences from xm, on purpose: xm copied every variable of the file into its options, so
// a misspelt key was silently ignored; tsxen refuses a variable that is neither a key nor used
// later in the file ("unknown key"). xm silently dropped booleans and tuples (opts.load only
// took str, list, int and float); tsxen accepts True/False for yes/no keys and tuples for
// lists. Values xend would only have rejected at create time are checked here, with the line.

import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { existsSync } from 'node:fs';

import type { DomainConfig, RestartAction } from '../../dom0/model/index.js';
import { pyReprFloat, pyReprStr } from '../format/pycompat.js';
import { DiskSpecError, parseDiskSpec, type DiskSpec } from '../../devices/block/disk-spec.js';
import { COMMAND_LINE, XmConfigError } from './errors.js';
import { XM_KEYS, type KeyDef } from './keys.js';
import { parsePyConfig, type PyValue } from './pysubset.js';
import { parseVifSpec, VifSpecError, type VifSpec } from '../../devices/net/vif-spec.js';

export type { DomainConfig, RestartAction };

export interface ParseOptions {
  /** `xm create` VAR=VAL arguments, in command-line order. */
  readonly vars?: readonly string[];
  /** The config argument as typed (its basename is the default name). Default: the file. */
  readonly defconfig?: string;
  /** Whether kernel and ramdisk must exist, as create.configure_image required. Default true. */
  readonly checkFiles?: boolean;
  /** Whether disk image files must exist (not for a dry run, which touches no device). Default true. */
  readonly checkDisks?: boolean;
  /** Base of relative paths given on the command line. Default process.cwd(). */
  readonly cwd?: string;
}

/** A value with where it came from. */
interface Sourced {
  readonly value: PyValue;
  readonly file: string;
  readonly line: number;
}

/** Where xm found pygrub (auxbin.pathTo on a default Xen 4.4 build: LIBEXEC_BIN). */
export const PYGRUB_PATH = '/usr/lib/xen/bin/pygrub';

const RESTART_ACTIONS: readonly RestartAction[] = [
  'destroy', 'restart', 'preserve', 'rename-restart', 'coredump-destroy', 'coredump-restart',
];

/** Python repr() of a value, for "got ..." in messages. */
export function pyRepr(v: PyValue): string {
  switch (v.t) {
    case 'str':
      return pyReprStr(v.v);
    case 'int':
      return v.v.toString();
    case 'float':
      return pyReprFloat(v.v);
    case 'bool':
      return v.v ? 'True' : 'False';
    case 'none':
      return 'None';
    case 'list':
      return `[${v.items.map(pyRepr).join(', ')}]`;
    case 'tuple':
      return v.items.length === 1 ? `(${pyRepr(v.items[0])},)` : `(${v.items.map(pyRepr).join(', ')})`;
  }
}

/** Python int() of a string: optional blanks and sign around decimal digits. */
function pyIntString(s: string): bigint | null {
  const m = /^\s*([+-]?\d+)\s*$/.exec(s);
  return m ? BigInt(m[1]) : null;
}

/** opts.set_int / set_long / set_bool / set_value / append_value for a VAR=VAL string. */
function fromCommandLine(key: string, def: KeyDef, val: string): PyValue {
  const line = 0;
  switch (def.kind) {
    case 'int':
    case 'long': {
      const n = pyIntString(val);
      if (n === null) throw new XmConfigError(COMMAND_LINE, 0, key, `expected an integer, got ${pyReprStr(val)}`);
      return { t: 'int', v: n, line };
    }
    case 'bool':
      if (val === 'yes' || val === 'y') return { t: 'bool', v: true, line };
      if (val === 'no' || val === 'n') return { t: 'bool', v: false, line };
      throw new XmConfigError(COMMAND_LINE, 0, key, `expected yes, y, no or n, got ${pyReprStr(val)}`);
    case 'value':
    case 'list':
      return { t: 'str', v: val, line };
  }
}

class Builder {
  private readonly values = new Map<string, Sourced>();
  readonly ignored: string[] = [];

  constructor(
    private readonly file: string,
    /** Directory relative paths in the file are resolved against. */
    readonly fileDir: string,
    /** Directory relative paths on the command line are resolved against. */
    readonly cwd: string,
  ) {}

  set(key: string, s: Sourced): void {
    this.values.set(key, s);
  }

  has(key: string): boolean {
    return this.values.has(key);
  }

  private fail(s: Sourced | undefined, key: string, msg: string): never {
    throw new XmConfigError(s?.file ?? this.file, s?.line ?? 0, key, msg);
  }

  private got(s: Sourced): string {
    return `got ${pyRepr(s.value)}`;
  }

  str(key: string, dflt: string): string;
  str(key: string, dflt: null): string | null;
  str(key: string, dflt: string | null): string | null {
    const s = this.values.get(key);
    if (!s) return dflt;
    if (s.value.t !== 'str') this.fail(s, key, `expected a string, ${this.got(s)}`);
    return s.value.v;
  }

  int(key: string, dflt: number | null, min: number): number | null {
    const s = this.values.get(key);
    if (!s) return dflt;
    const v = s.value;
    let n: bigint | null = null;
    if (v.t === 'int') n = v.v;
    else if (v.t === 'str') n = pyIntString(v.v);
    else if (v.t === 'float' && Number.isInteger(v.v)) n = BigInt(v.v);
    if (n === null) this.fail(s, key, `expected an integer, ${this.got(s)}`);
    if (n < BigInt(min)) {
      this.fail(s, key, min === 1 ? `expected a positive integer, ${this.got(s)}` : `must be at least ${min}, ${this.got(s)}`);
    }
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(s, key, `${n} is too large`);
    return Number(n);
  }

  /** set_long values: bit masks that may exceed 2^53. */
  bigint(key: string): bigint | null {
    const s = this.values.get(key);
    if (!s) return null;
    const v = s.value;
    const n = v.t === 'int' ? v.v : v.t === 'str' ? pyIntString(v.v) : null;
    if (n === null || n < 0n) this.fail(s, key, `expected a non-negative integer, ${this.got(s)}`);
    return n;
  }

  bool(key: string, dflt: boolean): boolean {
    const s = this.values.get(key);
    if (!s) return dflt;
    const v = s.value;
    if (v.t === 'bool') return v.v;
    if (v.t === 'int' && (v.v === 0n || v.v === 1n)) return v.v === 1n;
    if (v.t === 'str') {
      if (['yes', 'y', '1'].includes(v.v)) return true;
      if (['no', 'n', '0'].includes(v.v)) return false;
    }
    this.fail(s, key, `expected True/False, 1/0 or yes/no, ${this.got(s)}`);
  }

  /** A list of strings, each with the line it is on. */
  strList(key: string): { s: string; line: number; file: string }[] {
    const s = this.values.get(key);
    if (!s) return [];
    const v = s.value;
    if (v.t === 'str' && s.file === COMMAND_LINE) return [{ s: v.v, line: 0, file: s.file }];
    if (v.t !== 'list' && v.t !== 'tuple') {
      const hint = v.t === 'str' ? ` (write it as a list: ${key} = [${pyRepr(v)}])` : '';
      this.fail(s, key, `expected a list of strings, ${this.got(s)}${hint}`);
    }
    return v.items.map((it) => {
      if (it.t !== 'str') this.fail({ value: it, file: s.file, line: it.line || s.line }, key, `expected a string in the list, got ${pyRepr(it)}`);
      return { s: it.v, line: s.file === COMMAND_LINE ? 0 : it.line, file: s.file };
    });
  }

  choice<T extends string>(key: string, choices: readonly T[], dflt: T): T {
    const v = this.str(key, null);
    if (v === null) return dflt;
    if (!(choices as readonly string[]).includes(v)) {
      this.fail(this.values.get(key), key, `expected one of ${choices.join(', ')}, got ${pyReprStr(v)}`);
    }
    return v as T;
  }

  /** A path: relative ones resolve against the config's directory (command line: cwd). */
  path(key: string): string | null {
    const v = this.str(key, null);
    if (v === null || v === '') return null;
    if (isAbsolute(v)) return v;
    const s = this.values.get(key)!;
    return resolve(s.file === COMMAND_LINE ? this.cwd : this.fileDir, v);
  }

  where(key: string): Sourced | undefined {
    return this.values.get(key);
  }

  isDefaultish(key: string): boolean {
    const v = this.values.get(key)?.value;
    if (v === undefined) return true;
    switch (v.t) {
      case 'none':
        return true;
      case 'str':
        return v.v === '' || v.v === '0' || v.v === 'no' || v.v === 'n';
      case 'int':
        return v.v === 0n;
      case 'float':
        return v.v === 0;
      case 'bool':
        return !v.v;
      case 'list':
      case 'tuple':
        return v.items.length === 0;
    }
  }

  failAt(key: string, msg: string): never {
    this.fail(this.values.get(key), key, msg);
  }
}

/** XendConfig._convert_cpus_to_list(): '0-3,^1' -> [0, 2, 3]. */
function cpuList(spec: string): number[] {
  let l: number[] = [];
  if (spec === '') return l;
  for (const c of spec.split(',')) {
    const t = c.trim();
    const range = /^(\d+)-(\d+)$/.exec(t);
    if (range) {
      const a = Number(range[1]);
      const b = Number(range[2]);
      if (b < a) throw new Error(`empty range '${t}'`);
      if (b > 4095) throw new Error(`CPU ${b} is out of range`);
      for (let i = a; i <= b; i++) l.push(i);
    } else if (/^\^\d+$/.test(t)) {
      const x = Number(t.slice(1));
      l = l.filter((y) => y !== x);
    } else if (/^\d+$/.test(t)) {
      if (Number(t) > 4095) throw new Error(`CPU ${t} is out of range`);
      l.push(Number(t));
    } else throw new Error(`'${t}' is not a CPU number, range (0-3) or exclusion (^1)`);
  }
  return l;
}

/** The cpus key: a string or int for all VCPUs, or a list with one entry per VCPU. */
function cpusFor(b: Builder, maxvcpus: number): number[][] {
  const s = b.where('cpus');
  const cpu = b.int('cpu', null, 0);
  const conv = (spec: string): number[] => {
    try {
      return cpuList(spec);
    } catch (e) {
      return b.failAt('cpus', `${pyReprStr(spec)}: ${(e as Error).message}`);
    }
  };
  if (s === undefined || s.value.t === 'none') {
    // Deprecated 'cpu': pin every VCPU to that CPU.
    return Array.from({ length: maxvcpus }, () => (cpu === null ? [] : [cpu]));
  }
  const v = s.value;
  if (v.t === 'list' || v.t === 'tuple') {
    if (v.items.length !== maxvcpus) {
      b.failAt('cpus', `a list needs one entry per VCPU (${maxvcpus}), got ${v.items.length}`);
    }
    return v.items.map((it) => {
      if (it.t === 'str') return conv(it.v);
      if (it.t === 'int') return conv(it.v.toString());
      if (it.t === 'list' || it.t === 'tuple') {
        return it.items.map((x) => (x.t === 'int' ? Number(x.v) : b.failAt('cpus', `expected CPU numbers, got ${pyRepr(x)}`)));
      }
      return b.failAt('cpus', `expected a CPU list string per VCPU, got ${pyRepr(it)}`);
    });
  }
  let spec: string;
  if (v.t === 'str') spec = v.v;
  else if (v.t === 'int') spec = v.v.toString();
  else return b.failAt('cpus', `expected a CPU list like '0-3,^1', got ${pyRepr(v)}`);
  if (cpu !== null) spec = `${cpu},${spec}`;
  const l = conv(spec);
  return Array.from({ length: maxvcpus }, () => [...l]);
}

/**
 * Turn a config file's text into a DomainConfig. `file` is the path it was read from (used
 * in messages and for relative paths).
 */
export function parseDomainConfig(text: string, file: string, opts: ParseOptions = {}): DomainConfig {
  const fileDir = dirname(resolve(file));
  const cwd = opts.cwd ?? process.cwd();
  const b = new Builder(file, fileDir, cwd);

  // 1. Command line: known keys are "specified" (they win); others become variables.
  const specified = new Map<string, Sourced>();
  const predefined = new Map<string, PyValue>();
  for (const arg of opts.vars ?? []) {
    const eq = arg.indexOf('=');
    if (eq < 0) throw new XmConfigError(COMMAND_LINE, 0, null, `expected VAR=VALUE, got ${pyReprStr(arg)}`);
    const key = arg.slice(0, eq).trim();
    const val = arg.slice(eq + 1).trim();
    const def = XM_KEYS[key];
    if (def === undefined) {
      predefined.set(key, { t: 'str', v: val, line: 0 });
      continue;
    }
    const v = fromCommandLine(key, def, val);
    if (def.kind === 'list') {
      const prev = specified.get(key)?.value;
      const items = prev && prev.t === 'list' ? [...prev.items, v] : [v];
      specified.set(key, { value: { t: 'list', items, line: 0 }, file: COMMAND_LINE, line: 0 });
    } else specified.set(key, { value: v, file: COMMAND_LINE, line: 0 });
  }

  // 2. The file.
  const script = parsePyConfig(text, file, predefined);
  for (const [key, bind] of script.bindings) {
    if (XM_KEYS[key] === undefined) {
      // A helper variable the file uses later is fine; anything else is a misspelt key.
      if (script.referenced.has(key)) continue;
      throw new XmConfigError(file, bind.line, key, 'unknown key');
    }
    if (specified.has(key)) continue;
    // opts.load ignored None: the key keeps its default.
    if (bind.value.t === 'none') continue;
    b.set(key, { value: bind.value, file, line: bind.line });
  }
  for (const [key] of predefined) {
    if (!script.referenced.has(key) && !script.bindings.has(key)) {
      throw new XmConfigError(COMMAND_LINE, 0, key, 'unknown key');
    }
  }
  for (const [key, s] of specified) b.set(key, s);

  // 3. Keys tsxen accepts but ignores or lacks.
  for (const [key, def] of Object.entries(XM_KEYS)) {
    if (!b.has(key)) continue;
    if (def.use === 'ignored') b.ignored.push(key);
    else if (def.use === 'unsupported' && !b.isDefaultish(key)) b.failAt(key, def.why ?? 'not supported');
  }

  return build(b, file, opts);
}

function build(b: Builder, file: string, opts: ParseOptions): DomainConfig {
  // Name: given, else the config's basename (create.parseCommandLine).
  const name = b.str('name', basename(opts.defconfig ?? file));
  if (name === '') b.failAt('name', 'Missing VM Name');
  if (!/^[A-Za-z0-9_\-.:+]+$/.test(name)) {
    b.failAt('name', `Invalid VM Name ${pyReprStr(name)}: use letters, digits and _ - . : + only`);
  }

  const builder = b.str('builder', 'linux');
  if (builder !== 'linux') {
    b.failAt('builder', `tsxen runs paravirtualized ('linux') domains only, got ${pyReprStr(builder)}`);
  }

  // create.py make_config: "pygrub" is found in xen's libexec directory (auxbin.pathTo); with a
  // bootloader, kernel and ramdisk name files inside the guest (configure_image).
  const bootloaderGiven = b.str('bootloader', null);
  let bootloader: string | null = null;
  if (bootloaderGiven !== null && bootloaderGiven !== '') {
    if (basename(bootloaderGiven) !== 'pygrub') {
      b.failAt('bootloader', `unsupported bootloader ${pyReprStr(bootloaderGiven)}: tsxen has pygrub (bootloader = "pygrub"); pv-grub is a kernel= image`);
    }
    bootloader = bootloaderGiven === 'pygrub' ? PYGRUB_PATH : bootloaderGiven;
  }
  const bootargs = b.str('bootargs', '') || '-q';
  const kernel = bootloader !== null ? b.str('kernel', '') ?? '' : b.path('kernel');
  if (kernel === null) {
    throw new XmConfigError(file, 0, 'kernel', 'no kernel given; a PV domain needs kernel = "/path/to/vmlinuz" (or bootloader = "pygrub")');
  }
  const ramdisk = bootloader !== null ? b.str('ramdisk', null) || null : b.path('ramdisk');
  if ((opts.checkFiles ?? true) && bootloader === null) {
    // configure_image's checks and wording.
    if (!existsSync(kernel)) b.failAt('kernel', `Cannot find kernel "${kernel}"`);
    if (ramdisk !== null && !existsSync(ramdisk)) b.failAt('ramdisk', `Cannot find ramdisk "${ramdisk}"`);
  }

  const memory = b.int('memory', 128, 1)!;
  const maxmem = b.int('maxmem', null, 1) ?? memory;
  if (maxmem < memory) b.failAt('maxmem', `must be at least memory (${memory}), got ${maxmem}`);
  if (b.bool('memory_sharing', false)) b.failAt('memory_sharing', 'memory_sharing can only be enabled for HVM domains');

  // make_config's vcpu_conf: with maxvcpus, vcpus says how many start online.
  const vcpus = b.int('vcpus', 1, 1)!;
  const maxvcpusGiven = b.int('maxvcpus', null, 1);
  const maxvcpus = maxvcpusGiven ?? vcpus;
  if (maxvcpus < vcpus) b.failAt('maxvcpus', `must be at least vcpus (${vcpus}), got ${maxvcpus}`);
  const vcpuAvail = b.bigint('vcpu_avail') ?? (1n << BigInt(vcpus)) - 1n;
  const cpus = cpusFor(b, maxvcpus);

  // The deprecated 'restart' sets all three actions; explicit on_* keys win (XendConfig).
  const restart = b.choice('restart', ['onreboot', 'always', 'never'], 'onreboot');
  const fromRestart: Record<string, [RestartAction, RestartAction, RestartAction]> = {
    onreboot: ['destroy', 'restart', 'destroy'],
    always: ['restart', 'restart', 'restart'],
    // xend stored 'never', which its own sanity check then refused; it meant "destroy".
    never: ['destroy', 'destroy', 'destroy'],
  };
  const base: [RestartAction, RestartAction, RestartAction] = b.has('restart')
    ? fromRestart[restart]
    : ['destroy', 'restart', 'restart'];
  const onPoweroff = b.choice('on_poweroff', RESTART_ACTIONS, base[0]);
  const onReboot = b.choice('on_reboot', RESTART_ACTIONS, base[1]);
  const onCrash = b.choice('on_crash', RESTART_ACTIONS, base[2]);

  let uuid = b.str('uuid', null);
  if (uuid !== null) {
    // xend's uuid.fromString drops the dashes and reads 16 hex bytes; toString re-dashes.
    const hex = uuid.replace(/-/g, '');
    if (!/^[0-9a-fA-F]{32}$/.test(hex)) {
      b.failAt('uuid', `expected a UUID like 7b4c3f3e-8f2a-4b6e-9d1c-0a1b2c3d4e5f, got ${pyReprStr(uuid)}`);
    }
    const h = hex.toLowerCase();
    uuid = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  const disk = diskList(b, (opts.checkFiles ?? true) && (opts.checkDisks ?? true));
  const vif = vifList(b);

  // Kernel command line: preprocess_ip, preprocess_nfs, then update_with_image_sxp.
  const root = b.str('root', '').replace(/^root=/, '') || null;
  let extra = b.str('extra', '');
  const nfsServer = b.str('nfs_server', null);
  const nfsRoot = b.str('nfs_root', null);
  if (nfsRoot) {
    if (!nfsServer) b.failAt('nfs_root', 'Must set nfs root and nfs server');
    extra = `nfsroot=${nfsServer}:${nfsRoot} ${extra}`;
  }
  const ipAddr = b.str('ip', '');
  const dhcp = b.str('dhcp', 'off');
  let cmdline = extra;
  if (ipAddr || dhcp !== 'off') {
    const ipArg = [
      ipAddr,
      nfsServer ?? '127.0.255.255',
      b.str('gateway', ''),
      b.str('netmask', ''),
      b.str('hostname', ''),
      b.str('interface', 'eth0'),
      dhcp,
    ].join(':');
    if (!/ip=[^ ]+/.test(cmdline)) cmdline = `ip=${ipArg} ${cmdline}`;
  }
  if (root !== null && !/root=/.test(cmdline)) cmdline = `root=${root} ${cmdline}`;

  const pool = b.str('pool', 'Pool-0');
  // XendDomainInfo: only existing pools; tsxen has the one.
  if (pool !== 'Pool-0') b.failAt('pool', `unknown pool ${pool}`);

  const cpuCap = b.int('cpu_cap', null, 0);
  const cpuWeight = b.int('cpu_weight', null, 1);
  if (cpuWeight !== null && cpuWeight > 65535) b.failAt('cpu_weight', `must be 1..65535, got ${cpuWeight}`);
  const tscMode = b.int('tsc_mode', 0, 0)!;
  if (tscMode > 3) b.failAt('tsc_mode', `expected 0 (default), 1 (always emulate), 2 (never emulate) or 3 (pvrdtscp), got ${tscMode}`);

  return {
    file,
    name,
    builder: 'linux',
    kernel,
    ramdisk,
    bootloader,
    bootargs,
    root,
    extra,
    cmdline,
    memory,
    maxmem,
    maxvcpus,
    vcpus,
    vcpuAvail,
    cpus,
    cpuCap,
    cpuWeight,
    onPoweroff,
    onReboot,
    onCrash,
    onXendStart: b.choice('on_xend_start', ['ignore', 'start'] as const, 'ignore'),
    onXendStop: b.choice('on_xend_stop', ['ignore', 'shutdown', 'suspend'] as const, 'ignore'),
    uuid,
    localtime: b.bool('localtime', false),
    disk,
    vif,
    features: b.str('features', ''),
    description: b.str('description', ''),
    shadowMemory: b.int('shadow_memory', 0, 0)!,
    tscMode,
    nomigrate: b.int('nomigrate', 0, 0)!,
    superpages: b.int('superpages', 0, 0)!,
    videoram: b.int('videoram', 4, 0)!,
    pool,
    ignored: b.ignored,
  };
}

function diskList(b: Builder, checkFiles: boolean): DiskSpec[] {
  const out: DiskSpec[] = [];
  for (const e of b.strList('disk')) {
    let d: DiskSpec;
    try {
      // Entries from the command line are relative to the current directory.
      d = parseDiskSpec(e.s, e.file === COMMAND_LINE ? b.cwd : b.fileDir);
    } catch (err) {
      if (err instanceof DiskSpecError) throw new XmConfigError(e.file, e.line, 'disk', err.message);
      throw err;
    }
    // XendConfig.device_add refuses a second device with the same name.
    if (out.some((o) => o.devid === d.devid)) {
      throw new XmConfigError(e.file, e.line, 'disk', `The device "${d.vdev}" is already defined`);
    }
    // xend only found a missing image when the backend's hotplug script failed, after the domain
    // was built; tsxen says so here, naming the line, and starts nothing.
    if (checkFiles && d.path !== null && d.type !== 'phy' && !existsSync(d.path)) {
      const hint = basename(d.path) === 'busybox.img' ? ' (images/make-busybox-disk makes the walkthrough\'s disk)' : '';
      throw new XmConfigError(e.file, e.line, 'disk', `Disk image "${d.path}" does not exist${hint}`);
    }
    out.push(d);
  }
  return out;
}

function vifList(b: Builder): VifSpec[] {
  const out: VifSpec[] = [];
  const entries = b.strList('vif');
  for (const e of entries) {
    let v: VifSpec;
    try {
      v = parseVifSpec(e.s);
    } catch (err) {
      if (err instanceof VifSpecError) throw new XmConfigError(e.file, e.line, 'vif', err.message);
      throw err;
    }
    if (v.mac !== null && out.some((o) => o.mac === v.mac)) {
      throw new XmConfigError(e.file, e.line, 'vif', `The mac "${v.mac}" is already defined`);
    }
    out.push(v);
  }
  // Deprecated nics: pad with default interfaces (configure_vifs).
  const nics = b.int('nics', -1, -1)!;
  while (nics > out.length) out.push(parseVifSpec(''));
  return out;
}
