// What `xm info` and Domain-0's row say about the host: the Node process is Domain-0, its
// hypervisor is us (XendNode.info / XendDomainInfo for dom0, Xen 4.4.4 tools/python/xen/xend).

import os from 'node:os';
import type { DomainInfo, HostInfo } from '../model/info.js';
import { XEN_EXTRAVERSION, XEN_MAJOR, XEN_MINOR } from '../../hypervisor/public.js';

const MiB = 1024 * 1024;

export function hostInfo(xenstoredSocket: string): HostInfo {
  const cpus = os.cpus();
  return {
    system: os.type(),
    host: os.hostname(),
    release: os.release(),
    version: os.version(),
    machine: os.machine(),
    nr_cpus: cpus.length,
    nr_nodes: 1,
    cores_per_socket: cpus.length,
    threads_per_core: 1,
    cpu_mhz: cpus[0]?.speed ?? 0,
    hw_caps: '00000000:00000000:00000000:00000000:00000000:00000000:00000000:00000000',
    virt_caps: '',
    total_memory: Math.floor(os.totalmem() / MiB),
    free_memory: Math.floor(os.freemem() / MiB),
    free_cpus: 0,
    xen_major: XEN_MAJOR,
    xen_minor: XEN_MINOR,
    xen_extra: XEN_EXTRAVERSION,
    xen_caps: 'xen-3.0-x86_64',
    xen_scheduler: 'credit',
    xen_pagesize: 4096,
    platform_params: 'virt_start=0xffff800000000000',
    xen_changeset: 'tsxen',
    xen_commandline: '',
    cc_compiler: `node ${process.version}`,
    cc_compile_by: 'tsxen',
    cc_compile_domain: 'tsxen',
    cc_compile_date: '',
    xend_config_format: 4,
    xenstored_socket: xenstoredSocket,
  };
}

/** Domain-0: this process (its resident memory, one VCPU per host core, its CPU time). */
export function dom0Info(startTime: number): DomainInfo {
  const n = os.cpus().length;
  const mem = Math.ceil(process.memoryUsage().rss / MiB);
  const u = process.cpuUsage();
  const cpuTime = (u.user + u.system) / 1e6;
  return {
    domid: 0,
    name: 'Domain-0',
    uuid: '00000000-0000-0000-0000-000000000000',
    memory: mem,
    maxmem: Math.floor(os.totalmem() / MiB),
    vcpus: n,
    onlineVcpus: n,
    vcpuAvail: 2 ** n - 1,
    cpus: Array.from({ length: n }, () => []),
    cpuWeight: 256,
    cpuCap: 0,
    poolName: 'Pool-0',
    onPoweroff: 'destroy',
    onReboot: 'restart',
    onCrash: 'restart',
    bootloader: '',
    bootloaderArgs: '',
    description: '',
    shadowMemory: 0,
    features: '',
    onXendStart: 'ignore',
    onXendStop: 'ignore',
    startTime,
    cpuTime,
    image: { kernel: '', ramdisk: '', args: '', superpages: 0, platform: {}, notes: [] },
    status: 'running',
    state: { running: true, blocked: false, paused: false, shutdown: false, crashed: false, dying: false },
    devices: [],
    vcpuInfo: Array.from({ length: n }, (_, i) => ({
      number: i,
      online: true,
      blocked: false,
      running: true,
      cpuTime: cpuTime / n,
      cpu: i,
      cpumap: Array.from({ length: n }, (_, j) => j),
    })),
  };
}

/**
 * The hypervisor's boot messages, as the first lines of `xm dmesg` on a Xen host
 * (xen/arch/x86/setup.c __start_xen and xen/drivers/char/console.c print_xen_info,
 * RELEASE-4.4.4), with what is true of this host.
 */
export function bootBanner(): string {
  const cpus = os.cpus().length;
  const v = `${XEN_MAJOR}.${XEN_MINOR}${XEN_EXTRAVERSION}`;
  return [
    `Xen version ${v} (tsxen@tsxen) (node ${process.version}) debug=n ${new Date().toUTCString()}`,
    'Latest ChangeSet: tsxen',
    `Bootloader: tsxen (Node.js ${process.version} on ${os.type()} ${os.release()} ${os.machine()})`,
    'Command line: (none)',
    `System RAM: ${Math.floor(os.totalmem() / MiB)}MB (host memory)`,
    `Brought up ${cpus} CPU${cpus === 1 ? '' : 's'}`,
    'Using scheduler: SMP Credit Scheduler (credit)',
    '*** LOADING DOMAIN 0 ***',
    'Domain 0 is the tsxen process (xend, xenstored, xenconsoled, blkback, netback)',
    '',
  ].join('\n');
}
