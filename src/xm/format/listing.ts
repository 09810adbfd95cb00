// The text of xm's read-only commands: list, list --long, vcpu-list, uptime, info,
// block-list, network-list. Each function is pure and returns what xm wrote to stdout,
// trailing newline included. Reference: tools/python/xen/xm/main.py, Xen 4.4.4 (function
// named in each comment).

import { domainSxpr, stateString } from './domain-sxpr.js';
import { pad, padInt, pyFixed, pyRound } from './pycompat.js';
import { prettyprint, type Sxp } from './sxp.js';
import type { DomainInfo, FrontendDevice, HostInfo, VcpuInfo, XsListing } from '../../dom0/model/info.js';

/** parse_doms_info: the domid column is str(domid), or '' for a domain that is not running. */
function domidText(d: DomainInfo): string {
  return d.domid === null ? '' : String(d.domid);
}

/**
 * xm_brief_list: header '%-40s %5s %5s %5s %10s %9s', rows
 * '%(name)-40s %(domid)5s %(mem)5d %(vcpus)5d %(state)10s %(cpu_time)8.1f'.
 */
export function formatList(doms: readonly DomainInfo[]): string {
  let out = `${pad('Name', 40, true)} ${pad('ID', 5)} ${pad('Mem', 5)} ${pad('VCPUs', 5)} ${pad('State', 10)} ${pad('Time(s)', 9)}\n`;
  for (const d of doms) {
    // VCPUs is the number online when the domain is up, else the number configured. A domain
    // that is not running has no state or cpu_time in its sxpr: xm printed '' and 0.0.
    const vcpus = d.onlineVcpus ?? d.vcpus;
    const cpuTime = d.domid === null ? 0 : d.cpuTime;
    out +=
      `${pad(d.name, 40, true)} ${pad(domidText(d), 5)} ${padInt(d.memory, 5)} ${padInt(vcpus, 5)} ` +
      `${pad(d.domid === null ? '' : stateString(d.state), 10)} ${pad(pyFixed(cpuTime, 1), 8)}\n`;
  }
  return out;
}

/** xm_list --long: PrettyPrint.prettyprint of each domain's sxpr. */
export function formatListLong(doms: readonly DomainInfo[]): string {
  return doms.map((d) => prettyprint(domainSxpr(d))).join('');
}

// ---------------------------------------------------------------------------------------
// xm vcpu-list
// ---------------------------------------------------------------------------------------

/** list_to_rangepairs + format_pairs: [0,1,2,4] -> '0-2,4'. */
function cpuRanges(cpus: readonly number[]): string {
  const sorted = [...cpus].sort((a, b) => a - b);
  if (sorted.length === 0) return 'no cpus';
  const parts: string[] = [];
  let start = sorted[0];
  for (let i = 0; i < sorted.length; i++) {
    const next = sorted[i + 1];
    if (next === undefined || next - sorted[i] > 1) {
      parts.push(start === sorted[i] ? `${start}` : `${start}-${sorted[i]}`);
      if (next !== undefined) start = next;
    }
  }
  return parts.join(',');
}

/** format_cpumap: drop CPUs the host does not have, 'any cpu' when all remain. */
function formatCpumap(cpumap: readonly number[], nrCpus: number): string {
  const set = [...new Set(cpumap.filter((c) => c < nrCpus))];
  if (set.length === nrCpus) return 'any cpu';
  return cpuRanges(set);
}

/** getVCPUInfo for a domain that is not running: nothing online, affinity from config. */
function offlineVcpus(d: DomainInfo): VcpuInfo[] {
  const out: VcpuInfo[] = [];
  for (let i = 0; i < d.vcpus; i++) {
    const aff = d.cpus[i];
    out.push({
      number: i,
      online: false,
      blocked: false,
      running: false,
      cpuTime: 0,
      cpu: -1,
      cpumap: aff && aff.length > 0 ? aff : Array.from({ length: 64 }, (_, k) => k),
    });
  }
  return out;
}

/**
 * xm_vcpu_list: header '%-32s %5s %5s %5s %5s %9s %s', rows
 * '%(name)-32s %(domid)5s %(number)5d %(c)5s %(s)5s  %(cpu_time)8.1f %(cpumap)s'.
 * nrCpus is the host's nr_cpus (xend node info).
 */
export function formatVcpuList(doms: readonly DomainInfo[], nrCpus: number): string {
  let out = `${pad('Name', 32, true)} ${pad('ID', 5)} ${pad('VCPU', 5)} ${pad('CPU', 5)} ${pad('State', 5)} ${pad('Time(s)', 9)} CPU Affinity\n`;
  for (const d of doms) {
    const vcpus = d.domid === null || d.vcpuInfo === undefined ? offlineVcpus(d) : d.vcpuInfo;
    for (const v of vcpus) {
      let c: string;
      let s: string;
      if (v.cpu < 0) {
        c = '';
        s = '';
      } else if (v.online) {
        c = String(v.cpu);
        s = `${v.running ? 'r' : '-'}${v.blocked ? 'b' : '-'}-`;
      } else {
        c = '-';
        s = '--p';
      }
      out +=
        `${pad(d.name, 32, true)} ${pad(domidText(d), 5)} ${padInt(v.number, 5)} ${pad(c, 5)} ${pad(s, 5)}  ` +
        `${pad(pyFixed(v.cpuTime, 1), 8)} ${formatCpumap(v.cpumap, nrCpus)}\n`;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// xm uptime
// ---------------------------------------------------------------------------------------

export interface UptimeOptions {
  /** -s/--short. */
  readonly short?: boolean;
  /** Current time. */
  readonly now: Date;
  /** Seconds the host has been up (/proc/uptime): what xm showed for Domain-0. */
  readonly hostUptime: number;
}

function two(n: number): string {
  return String(n).padStart(2, '0');
}

/** xm_uptime: header '%-33s %4s %s ', rows '%(name)-32s %(domid)5s ' + '[D day(s), ]%2d:%02d:%02d'. */
export function formatUptime(doms: readonly DomainInfo[], opts: UptimeOptions): string {
  let out = opts.short ? '' : `${pad('Name', 33, true)} ${pad('ID', 4)} Uptime \n`;
  const nowSec = opts.now.getTime() / 1000;
  for (const d of doms) {
    let uptime: number;
    if (d.domid === null) uptime = 0;
    else if (d.domid > 0) uptime = pyRound(d.startTime === undefined ? -1 : nowSec - d.startTime);
    else uptime = pyRound(opts.hostUptime);
    // Python 2 integer division floors.
    const days = Math.floor(uptime / 86400);
    uptime -= days * 86400;
    const hours = Math.floor(uptime / 3600);
    uptime -= hours * 3600;
    const minutes = Math.floor(uptime / 60);
    const seconds = uptime - minutes * 60;
    let up = '';
    if (days > 0) up += `${days} day${days > 1 ? 's' : ''}, `;
    up += `${pad(String(hours), 2)}:${two(minutes)}`;
    if (opts.short) {
      const n = opts.now;
      up = ` ${two(n.getHours())}:${two(n.getMinutes())}:${two(n.getSeconds())} up ${up}, ${d.name} (${domidText(d)})`;
    } else {
      up = `${pad(d.name, 32, true)} ${pad(domidText(d), 5)} ${up}:${two(seconds)}`;
    }
    out += `${up}\n`;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// xm info
// ---------------------------------------------------------------------------------------

/**
 * XendNode.info(show_numa=0): nodeinfo, physinfo's ITEM_ORDER, xeninfo's ITEM_ORDER, then
 * xendinfo. xenstored_socket is ours and comes last.
 */
const INFO_ORDER: readonly (keyof HostInfo)[] = [
  'system', 'host', 'release', 'version', 'machine',
  'nr_cpus', 'nr_nodes', 'cores_per_socket', 'threads_per_core', 'cpu_mhz', 'hw_caps',
  'virt_caps', 'total_memory', 'free_memory', 'free_cpus',
  'xen_major', 'xen_minor', 'xen_extra', 'xen_caps', 'xen_scheduler', 'xen_pagesize',
  'platform_params', 'xen_changeset', 'xen_commandline', 'cc_compiler', 'cc_compile_by',
  'cc_compile_domain', 'cc_compile_date',
  'xend_config_format',
  'xenstored_socket',
];

/** xm_info: print "%-23s:" % key, value (print's comma adds the space). */
export function formatInfo(h: HostInfo): string {
  let out = '';
  for (const k of INFO_ORDER) out += `${pad(k, 23, true)}: ${String(h[k])}\n`;
  return out;
}

// ---------------------------------------------------------------------------------------
// xm block-list / network-list
// ---------------------------------------------------------------------------------------

/** Python int() of a xenstore string. */
function pyInt(name: string, v: string): number {
  if (!/^\s*[+-]?\d+\s*$/.test(v)) throw new Error(`xenstore node '${name}' is not an integer: '${v}'`);
  return Number.parseInt(v, 10);
}

/** parse_dev_info's get_info: the first node called `name`, converted; the default if none. */
function devInt(nodes: XsListing, name: string, dflt: number): number {
  const hit = nodes.find(([k]) => k === name);
  if (!hit) return dflt;
  const v = hit[1];
  if (typeof v !== 'string') throw new Error(`xenstore node '${name}' is a directory, expected an integer`);
  return pyInt(name, v);
}

function devStr(nodes: XsListing, name: string, dflt: string): string {
  const hit = nodes.find(([k]) => k === name);
  if (!hit) return dflt;
  const v = hit[1];
  if (typeof v !== 'string') throw new Error(`xenstore node '${name}' is a directory, expected a value`);
  return v;
}

function listingSxpr(nodes: XsListing): Sxp {
  return nodes.map(([k, v]) => [k, typeof v === 'string' ? v : listingSxpr(v)]);
}

/** --long: PrettyPrint.prettyprint of each [devid, listing]. */
function devicesLong(devs: readonly FrontendDevice[]): string {
  return devs.map((d) => prettyprint([String(d.devid), listingSxpr(d.nodes)])).join('');
}

/** xm_block_list: the header only when there is at least one device. */
export function formatBlockList(devs: readonly FrontendDevice[], long = false): string {
  if (long) return devicesLong(devs);
  let out = '';
  for (const d of devs) {
    if (out === '') out = 'Vdev  BE handle state evt-ch ring-ref BE-path\n';
    const n = d.nodes;
    out +=
      `${padInt(d.devid, 5, true)}  ${padInt(devInt(n, 'backend-id', -1), 3, true)}  ` +
      `${padInt(devInt(n, 'handle', 0), 3, true)}   ${padInt(devInt(n, 'state', -1), 3, true)}    ` +
      `${padInt(devInt(n, 'event-channel', -1), 3, true)}    ${padInt(devInt(n, 'ring-ref', -1), 5, true)} ` +
      `${pad(devStr(n, 'backend', '??'), 30, true)}  \n`;
  }
  return out;
}

/** xm_network_list. */
export function formatNetworkList(devs: readonly FrontendDevice[], long = false): string {
  if (long) return devicesLong(devs);
  let out = '';
  for (const d of devs) {
    if (out === '') out = 'Idx BE     MAC Addr.     handle state evt-ch tx-/rx-ring-ref BE-path\n';
    const n = d.nodes;
    out +=
      `${padInt(d.devid, 3, true)} ${padInt(devInt(n, 'backend-id', -1), 3, true)}` +
      `${pad(devStr(n, 'mac', '??'), 17, true)}    ${padInt(devInt(n, 'handle', 0), 3, true)}   ` +
      `${padInt(devInt(n, 'state', -1), 3, true)}    ${padInt(devInt(n, 'event-channel', -1), 3, true)}   ` +
      `${padInt(devInt(n, 'tx-ring-ref', -1), 5, true)}/${padInt(devInt(n, 'rx-ring-ref', -1), 5, true)}   ` +
      `${pad(devStr(n, 'backend', '??'), 30, true)}  \n`;
  }
  return out;
}
