// xm's commands other than create/new, each after its xm_* function in
// tools/python/xen/xm/main.py (and shutdown.py for shutdown/reboot), Xen 4.4.4: the same
// argument checks, messages and output; xend does the work.

import type { CallArgs, OpName } from '../../dom0/xend/protocol.js';
import { uptime as hostUptime } from 'node:os';

import type { DomainEnd } from '../../dom0/toolstack/types.js';
import { parseDiskSpec, DiskSpecError } from '../../devices/block/disk-spec.js';
import { parseVifSpec, VifSpecError } from '../../devices/net/vif-spec.js';
import {
  formatBlockList,
  formatInfo,
  formatList,
  formatListLong,
  formatNetworkList,
  formatUptime,
  formatVcpuList,
  type DomainInfo,
  type FrontendDevice,
  type HostInfo,
  type PowerState,
} from '../format/index.js';
import { XendConnection, XendRequestError } from '../../dom0/xend/client.js';
import { runConsole } from './console.js';
import type { Ctx } from './context.js';
import { OptionError, PlainError, XmExit, pyInt } from './errors.js';
import { runTop } from './top.js';

// ---------------------------------------------------------------------------------------
// list, uptime, vcpu-list, domid, domname, info, dmesg, log
// ---------------------------------------------------------------------------------------

const POWER_STATES: readonly PowerState[] = ['halted', 'paused', 'running', 'suspended', 'shuttingdown', 'crashed', 'unknown'];

/** getDomains(): the named domains, or all of them. */
async function getDomains(ctx: Ctx, names: readonly string[]): Promise<DomainInfo[]> {
  return ctx.call('list', { doms: names });
}

export async function xmList(
  ctx: Ctx,
  opts: { long?: boolean; vcpus?: boolean; label?: boolean; state?: string; pool?: string },
  params: readonly string[],
): Promise<number> {
  const state = opts.state ?? 'all';
  if (state !== 'all' && params.length > 0) throw new OptionError('You may specify either a state or a particular VM, but not both');
  if (opts.pool && params.length > 0) throw new OptionError('You may specify either a pool or a particular VM, but not both');
  if (opts.vcpus) {
    ctx.err('xm list -v is deprecated.  Please use xm vcpu-list.\n');
    return xmVcpuList(ctx, params);
  }
  if (opts.label) throw new PlainError('security labels (--label) are not supported by tsxen: it has no XSM/ACM policy');
  let doms = await getDomains(ctx, params);
  if (state !== 'all') {
    // XendDomain.domains_with_state: a Xen-API power state name.
    if (!(POWER_STATES as readonly string[]).includes(state)) throw new OptionError(`Invalid state '${state}'`);
    doms = doms.filter((d) => d.status === state);
  }
  if (opts.pool) doms = doms.filter((d) => d.poolName === opts.pool);
  ctx.out(opts.long ? formatListLong(doms) : formatList(doms));
  return 0;
}

export async function xmVcpuList(ctx: Ctx, params: readonly string[]): Promise<number> {
  const [doms, info] = [await getDomains(ctx, params), await ctx.call('info')];
  // Without arguments xm asked for running domains only (domains_with_state(False, ...)).
  const shown = params.length > 0 ? doms : doms.filter((d) => d.domid !== null);
  ctx.out(formatVcpuList(shown, info.nr_cpus));
  return 0;
}

export async function xmUptime(ctx: Ctx, opts: { short?: boolean }, params: readonly string[]): Promise<number> {
  const doms = await getDomains(ctx, params);
  const now = new Date();
  // Domain-0 is xend's process, so its uptime is how long xend has run; without a start
  // time xm's /proc/uptime reading is used.
  const dom0 = doms.find((d) => d.domid === 0);
  const up = dom0?.startTime !== undefined ? now.getTime() / 1000 - dom0.startTime : hostUptime();
  ctx.out(formatUptime(doms, { short: opts.short ?? false, now, hostUptime: up }));
  return 0;
}

export async function xmDomid(ctx: Ctx): Promise<number> {
  ctx.argCheck(1);
  const d = await ctx.call('domain', { dom: ctx.raw[0] });
  // print sxp.child_value(dom, 'domid'): None for a domain that is not running.
  ctx.out(`${d.domid === null ? 'None' : d.domid}\n`);
  return 0;
}

export async function xmDomname(ctx: Ctx): Promise<number> {
  ctx.argCheck(1);
  const d = await ctx.call('domain', { dom: ctx.raw[0] });
  ctx.out(`${d.name}\n`);
  return 0;
}

export async function xmInfo(ctx: Ctx, opts: { config?: boolean; numa?: boolean }): Promise<number> {
  ctx.argCheck(0, 1);
  if (opts.config) throw new PlainError('xm info -c lists xend-config.sxp settings; tsxen has no xend-config.sxp');
  const info = await ctx.call('info');
  ctx.out(formatInfo(info));
  return 0;
}

export async function xmDmesg(ctx: Ctx, opts: { clear?: boolean }, params: readonly string[]): Promise<number> {
  ctx.argCheck(0, 1);
  if (params.length > 0) {
    ctx.error('No parameter required');
    ctx.usage();
  }
  const text = await ctx.call('dmesg', { clear: opts.clear ?? false });
  // print text, : the text as it is, with the line end Python's softspace gave at exit.
  ctx.out(text.endsWith('\n') || text === '' ? text : `${text}\n`);
  return 0;
}

/** One xend.log line (pino JSON) in XendLogging's format: [DATE TIME PID] LEVEL (who) msg. */
function logLine(line: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const levels: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARNING', 50: 'ERROR', 60: 'CRITICAL' };
  const t = typeof o.time === 'string' || typeof o.time === 'number' ? new Date(o.time) : new Date(NaN);
  const two = (n: number): string => String(n).padStart(2, '0');
  const date = Number.isNaN(t.getTime())
    ? '?'
    : `${t.getFullYear()}-${two(t.getMonth() + 1)}-${two(t.getDate())} ${two(t.getHours())}:${two(t.getMinutes())}:${two(t.getSeconds())}`;
  const level = (levels[Number(o.level)] ?? String(o.level)).padStart(8);
  const who = typeof o.component === 'string' ? o.component : 'xend';
  let msg = String(o.msg ?? '');
  const ids: string[] = [];
  if (o.domid !== undefined && !msg.includes(`(${String(o.domid)})`) && !msg.includes(`id=${String(o.domid)}`)) ids.push(`domid=${String(o.domid)}`);
  if (typeof o.name === 'string' && !msg.includes(o.name)) ids.push(`name=${o.name}`);
  if (ids.length > 0) msg += ` [${ids.join(' ')}]`;
  const err = o.err as { message?: string } | undefined;
  if (err?.message && !msg.includes(err.message)) msg += `: ${err.message}`;
  return `[${date} ${String(o.pid ?? '?')}] ${level} (${who}) ${msg}`;
}

export async function xmLog(ctx: Ctx): Promise<number> {
  ctx.argCheck(0);
  const text = await ctx.call('log');
  const lines = text.split('\n').filter((l) => l !== '');
  ctx.out(`${lines.map(logLine).join('\n')}\n`);
  return 0;
}

// ---------------------------------------------------------------------------------------
// Lifecycle
// ---------------------------------------------------------------------------------------

async function simple<K extends OpName>(ctx: Ctx, op: K, ...args: CallArgs<K>): Promise<number> {
  await ctx.call(op, ...args);
  return 0;
}

export async function xmDestroy(ctx: Ctx): Promise<number> {
  ctx.argCheck(1);
  return simple(ctx, 'destroy', { dom: ctx.raw[0] });
}

export async function xmPause(ctx: Ctx): Promise<number> {
  ctx.argCheck(1);
  return simple(ctx, 'pause', { dom: ctx.raw[0] });
}

export async function xmUnpause(ctx: Ctx): Promise<number> {
  ctx.argCheck(1);
  return simple(ctx, 'unpause', { dom: ctx.raw[0] });
}

export async function xmRename(ctx: Ctx): Promise<number> {
  ctx.argCheck(2);
  return simple(ctx, 'rename', { dom: ctx.raw[0], name: ctx.raw[1] });
}

export async function xmSysrq(ctx: Ctx): Promise<number> {
  ctx.argCheck(2);
  return simple(ctx, 'sysrq', { dom: ctx.raw[0], key: ctx.raw[1] });
}

export async function xmDelete(ctx: Ctx): Promise<number> {
  ctx.argCheck(1);
  return simple(ctx, 'delete', { dom: ctx.raw[0] });
}

export async function xmStart(
  ctx: Ctx,
  opts: { paused?: boolean; console_autoconnect?: boolean; vncviewer?: boolean },
  params: readonly string[],
): Promise<number> {
  if (params.length !== 1) throw new OptionError('Expects 1 argument');
  if (opts.vncviewer) throw new PlainError('tsxen domains have no VNC display');
  const r = await ctx.call('start', { dom: params[0], paused: opts.paused ?? false });
  if (!opts.console_autoconnect) return 0;
  const s = await ctx.stream('console', { dom: String(r.domid), replay: 'buffer' });
  return runConsole(s, r, { paths: ctx.paths });
}

/** main.unit / int_unit: '512', '512m', '1g', '65536k' in the unit `dest`. */
export function intUnit(s: string, dest: string): number {
  const unit = (c: string): number => {
    if (!/[A-Za-z]/.test(c)) return 0;
    if (c === 'G' || c === 'g') return 1024 * 1024 * 1024;
    if (c === 'M' || c === 'm') return 1024 * 1024;
    if (c === 'K' || c === 'k') return 1024;
    return 1;
  };
  const base = unit(s.slice(-1));
  if (!base) return pyInt(s);
  const value = pyInt(s.slice(0, -1));
  const dst = unit(dest) || 1;
  return dst > base ? Math.floor(value / (dst / base)) : value * (base / dst);
}

export async function xmMemSet(ctx: Ctx): Promise<number> {
  ctx.argCheck(2);
  return simple(ctx, 'memSet', { dom: ctx.raw[0], mib: intUnit(ctx.raw[1]!, 'm') });
}

export async function xmMemMax(ctx: Ctx): Promise<number> {
  ctx.argCheck(2);
  return simple(ctx, 'memMax', { dom: ctx.raw[0], mib: intUnit(ctx.raw[1]!, 'm') });
}

export async function xmVcpuSet(ctx: Ctx): Promise<number> {
  ctx.argCheck(2);
  return simple(ctx, 'vcpuSet', { dom: ctx.raw[0], n: pyInt(ctx.raw[1]!) });
}

/** shutdown.py: opts.err prints "Error: MSG" and exits 1. */
function shutdownErr(ctx: Ctx, msg: string): never {
  ctx.error(msg);
  throw new XmExit(1);
}

/** shutdown.main for `xm shutdown` and (with reboot set) `xm reboot`. */
export async function xmShutdown(
  ctx: Ctx,
  opts: { all?: boolean; wait?: boolean; halt?: boolean; reboot?: boolean },
  params: readonly string[],
): Promise<number> {
  if (opts.halt && opts.reboot) shutdownErr(ctx, "Can't specify halt and reboot");
  const kind = opts.halt ? 'halt' : opts.reboot ? 'reboot' : 'poweroff';
  let targets: { domid: number; name: string }[];
  if (opts.all) targets = await ctx.call('shutdown', { all: true, kind });
  else {
    if (params.length === 0) shutdownErr(ctx, 'No domain parameter given');
    if (params.length > 1) shutdownErr(ctx, 'No multiple domain parameters allowed');
    targets = await ctx.call('shutdown', { dom: params[0], kind });
  }
  if (!opts.wait) return 0;
  if (kind === 'reboot') {
    // wait_reboot: each domain comes back with a new domid, or is given up on.
    await Promise.all(
      targets.map(async (t) => {
        const c = await connectFresh(ctx);
        try {
          const r = await c.request('waitReboot', { domid: t.domid, name: t.name });
          ctx.out(r.rebooted ? `Domain ${t.name} rebooted\n` : `Domain ${t.name} destroyed for failing to reboot\n`);
        } finally {
          c.close();
        }
      }),
    );
    ctx.out('All domains rebooted\n');
    return 0;
  }
  // wait_shutdown: "Domain X terminated" as each one goes.
  await Promise.all(
    targets.map(async (t) => {
      const c = await connectFresh(ctx);
      try {
        await c.request('wait', { domid: t.domid });
        ctx.out(`Domain ${t.name} terminated\n`);
      } finally {
        c.close();
      }
    }),
  );
  ctx.out('All domains terminated\n');
  return 0;
}

/** A connection of its own, for a wait that runs alongside others. */
function connectFresh(ctx: Ctx): Promise<XendConnection> {
  return XendConnection.connect(ctx.paths.socket);
}

export async function xmConsole(ctx: Ctx, opts: { quiet?: boolean; num?: string; timeout?: string }, params: readonly string[]): Promise<number> {
  ctx.argCheck(1, 5);
  if (params.length !== 1) {
    ctx.error('No domain given');
    ctx.usage();
  }
  if (opts.num !== undefined && pyInt(opts.num) !== 0) throw new PlainError('tsxen domains have one console (--num 0)');
  let timeoutSec: number | undefined;
  if (opts.timeout !== undefined) {
    timeoutSec = Number(opts.timeout);
    if (!Number.isFinite(timeoutSec) || timeoutSec <= 0) throw new PlainError(`--timeout expects a positive number of seconds, got '${opts.timeout}'`);
  }
  const dom = params[0]!;
  let info: DomainInfo;
  try {
    info = await ctx.call('domain', { dom });
  } catch (e) {
    if (opts.quiet) throw new XmExit(1);
    throw e;
  }
  if (info.domid === null) {
    if (opts.quiet) throw new XmExit(1);
    // xmlrpclib.Fault(0, ...): err + usage.
    throw new XendRequestError({ message: `Domain '${dom}' is not started`, exitCode: 1 });
  }
  // On a terminal a re-attach repaints the screen; a pipe gets what was buffered meanwhile.
  const replay = process.stdin.isTTY ? 'screen' : 'buffer';
  const s = await ctx.stream('console', { dom: String(info.domid), replay });
  return runConsole(s, s.result, { paths: ctx.paths, timeoutSec });
}

export async function xmTop(ctx: Ctx): Promise<number> {
  ctx.argCheck(0);
  return runTop(ctx);
}

// ---------------------------------------------------------------------------------------
// Devices
// ---------------------------------------------------------------------------------------

/** arg_check_for_resource_list: its messages go to stdout, as xm printed them. */
function resourceListDom(ctx: Ctx, params: readonly string[]): string {
  if (params.length === 0) {
    ctx.out('No domain parameter given\n');
    ctx.usage();
  }
  if (params.length > 1) {
    ctx.out('No multiple domain parameters allowed\n');
    ctx.usage();
  }
  return params[0]!;
}

export async function xmBlockList(ctx: Ctx, opts: { long?: boolean }, params: readonly string[]): Promise<number> {
  const dom = resourceListDom(ctx, params);
  const devs = await ctx.call('blockList', { dom });
  ctx.out(formatBlockList(devs, opts.long ?? false));
  return 0;
}

export async function xmNetworkList(ctx: Ctx, opts: { long?: boolean }, params: readonly string[]): Promise<number> {
  const dom = resourceListDom(ctx, params);
  const devs = await ctx.call('networkList', { dom });
  ctx.out(formatNetworkList(devs, opts.long ?? false));
  return 0;
}

export async function xmBlockAttach(ctx: Ctx): Promise<number> {
  ctx.argCheck(4, 5);
  const [dom, uname, dev, mode, backend] = ctx.raw as string[];
  let spec;
  try {
    // parse_block_configuration: the same pieces a config's disk entry has.
    spec = parseDiskSpec([uname, dev, mode, ...(backend !== undefined ? [backend] : [])].join(','), process.cwd());
  } catch (e) {
    if (e instanceof DiskSpecError) throw new OptionError(e.message);
    throw e;
  }
  return simple(ctx, 'blockAttach', { dom, spec });
}

export async function xmBlockDetach(ctx: Ctx, opts: { force?: boolean }, params: readonly string[]): Promise<number> {
  ctx.argCheck(2, 3);
  return simple(ctx, 'blockDetach', { dom: params[0], dev: params[1], force: opts.force ?? false });
}

const VIF_PARAMS = ['type', 'mac', 'bridge', 'ip', 'script', 'backend', 'vifname', 'rate', 'model', 'accel'];

export async function xmNetworkAttach(ctx: Ctx): Promise<number> {
  ctx.argCheck(1, 11);
  const [dom, ...rest] = ctx.raw as string[];
  for (const a of rest) {
    const kv = a.split('=');
    if (kv.length !== 2 || kv[1] === '' || !VIF_PARAMS.includes(kv[0]!)) {
      ctx.error(`Invalid argument: ${a}`);
      ctx.usage();
    }
  }
  let spec;
  try {
    spec = parseVifSpec(rest.join(','));
  } catch (e) {
    if (e instanceof VifSpecError) throw new OptionError(e.message);
    throw e;
  }
  return simple(ctx, 'networkAttach', { dom, spec });
}

export async function xmNetworkDetach(ctx: Ctx, opts: { force?: boolean }, params: readonly string[]): Promise<number> {
  ctx.argCheck(2, 3);
  const dom = params[0]!;
  let devid = params[1]!;
  if (devid.split(':').length === 6) {
    // A MAC address: the device id of the vif that has it.
    const mac = devid.toLowerCase();
    const devs = await ctx.call('networkList', { dom });
    const hit = devs.find((d) => d.nodes.some(([k, v]) => k === 'mac' && typeof v === 'string' && v.toLowerCase() === mac));
    if (hit === undefined) throw new OptionError(`Cannot find device '${devid}' in domain '${dom}'`);
    devid = String(hit.devid);
  }
  return simple(ctx, 'networkDetach', { dom, devid: pyInt(devid), force: opts.force ?? false });
}
