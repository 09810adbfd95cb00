// The toolstack xend serves requests with: builds domains (each on its own worker thread),
// writes their xenstore trees, introduces them to xenstored and xenconsoled, connects their
// disks and vifs to the backends, and carries out on_poweroff/on_reboot/on_crash.
// Lifecycle rules follow Xen 4.4.4 tools/python/xen/xend/XendDomainInfo.py (create, _cleanup,
// restart, _restart MINIMUM_RESTART_TIME) and XendDomain.py (domain_lookup_nr).

import { configFields, imageFields } from '../model/from-config.js';
import { pygrub, pygrubOptionsFromConfig, type PygrubResult } from '../pygrub/index.js';
import { EventEmitter } from 'node:events';
import { mkdirSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';

import { DomainMemory, PAGE_SIZE } from '../../hypervisor/domain_memory.js';
import { loadKernelImage, type KernelImage } from '../../hypervisor/builder/kernel-image.js';
import { buildStartOfDay } from '../../hypervisor/builder/start-of-day.js';
import { checkInitrd } from '../../hypervisor/builder/initrd.js';
import { DomainThread } from '../../hypervisor/thread/index.js';
import { CMD_PAUSE, RunState } from '../../hypervisor/domain_control.js';
import type { ShutdownReason } from '../../hypervisor/public.js';
import { Xenstored, defaultSocketPath, type XsHandle } from '../xenstored/index.js';
import { Xenconsoled, consolePage } from '../xenconsoled/index.js';
import type { Console } from '../xenconsoled/console.js';
import { attachVbd, destroyVbdDevice, type VbdDevice } from '../../devices/block/vbd-device.js';
import { rmQuiet } from '../../devices/xenbus.js';
import type { BlkBackend } from '../../devices/block/xenbus-blk.js';
import {
  createHostNetwork,
  createVifDevice,
  destroyVifDevice,
  NetbackDriver,
  waitForVifHotplug,
  XEN_IO_PROTO_ABI_X86_64,
  type HostNetwork,
  type VifDevice,
} from '../../devices/net/index.js';
import type { DomainConfig } from '../model/index.js';
import type { DiskSpec } from '../../devices/block/disk-spec.js';
import type { VifSpec } from '../../devices/net/vif-spec.js';
import type { DeviceConfig, DomainInfo, FrontendDevice, HostInfo, RestartAction, XsListing } from '../model/info.js';
import { CONSOLE_LIMIT_KIB, domainPath, removeDomainTree, writeDomainTree } from './store-tree.js';
import { XendError, type CreateOptions, type DomainEnd, type EndReason, type Toolstack } from './types.js';
import { bootBanner, dom0Info, hostInfo } from './host.js';
import { kernelNotes } from './notes.js';
import { errorMessage } from '../../hypervisor/errors.js';

export * from './types.js';

/** The store and console ports the builder records (the first two ports the guest allocates). */
const STORE_PORT = 1;
const CONSOLE_PORT = 2;
/** XendDomainInfo.MINIMUM_RESTART_TIME: a domain that dies sooner is not restarted again. */
const MINIMUM_RESTART_TIME_S = 60;
/** How long a detach waits for the frontend to close before its nodes are removed anyway (ms). */
const DETACH_TIMEOUT_MS = 10_000;
/** How long xend waits for a device's hotplug verdict (DEVICE_CREATE_TIMEOUT is 100 s). */
const DEVICE_TIMEOUT_MS = 100_000;

export interface ToolstackOptions {
  /** xend's state directory: xenstored/socket, console logs. */
  stateDir: string;
  logger: Logger;
  /** Listen on STATE_DIR/xenstored/socket (xend does; in-process tests may not need it). */
  xenstoredSocket?: boolean;
}

interface DomainRecord {
  domid: number;
  name: string;
  uuid: string;
  vmPath: string;
  config: DomainConfig;
  kernel: KernelImage;
  mem: DomainMemory;
  thread: DomainThread;
  console: Console;
  storeMfn: number;
  consoleMfn: number;
  startTime: number;
  /** Set once the guest stopped: why. */
  ended: EndReason | null;
  endDetail: string;
  gone: boolean;
  vbds: { device: VbdDevice; backend: BlkBackend; spec: DiskSpec }[];
  vifs: { device: VifDevice; spec: VifSpec }[];
  goneWaiters: ((e: DomainEnd) => void)[];
}

class TsxenToolstack extends EventEmitter implements Toolstack {
  private readonly domains = new Map<number, DomainRecord>();
  private nextDomid = 1;
  private readonly h: XsHandle;
  private readonly netback: NetbackDriver;
  readonly net: HostNetwork;
  readonly xenstoredSocket: string;
  private readonly started = Date.now() / 1000;
  private closing = false;
  /** Domains that ended, for waitGone() after the fact (by domid). */
  private readonly ends = new Map<number, DomainEnd>();

  constructor(
    private readonly opts: ToolstackOptions,
    readonly xs: Xenstored,
    readonly xc: Xenconsoled,
  ) {
    super();
    this.xenstoredSocket = defaultSocketPath(opts.stateDir);
    this.h = xs.openHandle();
    this.h.write('/local/domain/0/name', 'Domain-0');
    this.h.write('/local/domain/0/domid', '0');
    const log = opts.logger;
    this.net = createHostNetwork({ logger: log.child({ component: 'net' }) });
    this.netback = new NetbackDriver({
      xs: this.h,
      domain: (id) => {
        const r = this.domains.get(id);
        return r && !r.gone ? r.thread : undefined;
      },
      bridges: this.net.bridges,
      logger: log.child({ component: 'netback' }),
    });
    this.netback.start();
  }

  private get log(): Logger {
    return this.opts.logger;
  }

  // ---- create ----

  async create(config: DomainConfig, opts: CreateOptions = {}): Promise<{ domid: number; name: string }> {
    // XendDomainInfo.create (RELEASE-4.4.4): a running domain with this name, or this uuid.
    // (Its other rule, _checkName over running and managed domains, is xend's: it owns those.)
    for (const r of this.domains.values()) {
      if (!r.gone && (r.name === config.name || (config.uuid !== null && r.uuid === config.uuid))) {
        throw new XendError(`Domain '${config.name}' already exists with ID '${r.domid}'`);
      }
    }
    const domid = this.nextDomid++;
    return this.build(config, domid, config.uuid ?? randomUUID(), opts);
  }

  private async build(config: DomainConfig, domid: number, uuid: string, opts: CreateOptions): Promise<{ domid: number; name: string }> {
    const name = config.name;
    let kernel: KernelImage;
    let ramdisk: Uint8Array | undefined;
    let cmdline = config.cmdline;
    try {
      if (config.bootloader !== null) {
        // Every (re)start asks the guest's disk again, so a kernel it installed boots next.
        const boot = await this.runBootloader(config);
        kernel = loadKernelImage(new Uint8Array(boot.kernel), `${boot.disk}:${boot.kernelPath}`);
        ramdisk = boot.ramdisk === null ? undefined : new Uint8Array(boot.ramdisk);
        if (ramdisk) checkInitrd(ramdisk, `${boot.disk}:${boot.ramdiskPath}`);
        cmdline = boot.args;
      } else {
        kernel = loadKernelImage(new Uint8Array(readFileSync(config.kernel)), config.kernel);
        ramdisk = config.ramdisk ? new Uint8Array(readFileSync(config.ramdisk)) : undefined;
        if (ramdisk && config.ramdisk) checkInitrd(ramdisk, config.ramdisk);
      }
    } catch (e) {
      throw new XendError(errorMessage(e));
    }
    const mem = new DomainMemory((config.memory * 1024 * 1024) / PAGE_SIZE);
    let sod;
    try {
      sod = buildStartOfDay(mem, { kernel, ramdisk, cmdline, storeEvtchn: STORE_PORT, consoleEvtchn: CONSOLE_PORT });
    } catch (e) {
      throw new XendError(errorMessage(e));
    }
    const startTime = Date.now() / 1000;
    const vmPath = `/vm/${uuid}`;
    writeDomainTree(this.h, {
      domid,
      name,
      uuid,
      vmPath,
      config,
      storeMfn: sod.storeMfn,
      consoleMfn: sod.consoleMfn,
      storePort: STORE_PORT,
      consolePort: CONSOLE_PORT,
      notes: kernelNotes(kernel),
      startTime,
    });
    // Built paused, as xend does (xc.domain_create, then unpause once the devices are there).
    mem.ctl.setCommand(CMD_PAUSE, true);
    const thread = new DomainThread({
      domid,
      name,
      uuid: uuidBytes(uuid),
      mem,
      vcpus: config.maxvcpus,
      sod,
      storePort: STORE_PORT,
      consolePort: CONSOLE_PORT,
    });
    const console = this.xc.introduceDomain({
      domid,
      name,
      page: consolePage(mem, sod.consoleMfn),
      notify: () => thread.notify(CONSOLE_PORT),
      bufferLimit: CONSOLE_LIMIT_KIB * 1024,
    });
    this.xs.introduceDomain(domid, mem.frame(sod.storeMfn), () => thread.notify(STORE_PORT));
    thread.onPort(STORE_PORT, () => this.xs.kick(domid));
    thread.onPort(CONSOLE_PORT, () => console.kick());
    const r: DomainRecord = {
      domid,
      name,
      uuid,
      vmPath,
      config,
      kernel,
      mem,
      thread,
      console,
      storeMfn: sod.storeMfn,
      consoleMfn: sod.consoleMfn,
      startTime,
      ended: null,
      endDetail: '',
      gone: false,
      vbds: [],
      vifs: [],
      goneWaiters: [],
    };
    this.domains.set(domid, r);
    thread.on('log', (text) => this.xc.conring.append(text, domid));
    thread.on('printk', (text) => this.xc.conring.printk(text, domid));
    thread.on('shutdown', (reason, detail) => void this.onGuestShutdown(r, reason, detail));
    thread.on('error', (message) => {
      this.log.error({ domid, name }, `domain thread error: ${message}`);
      if (!r.ended) void this.onGuestShutdown(r, 'crash', `internal error: ${message.split('\n')[0]}`);
    });
    thread.on('handlerError', (message) => this.log.error({ domid, name }, message));
    thread.on('exit', () => {
      // A worker that ends without the guest stopping (killed, out of memory) is a crash.
      if (!r.ended && !r.gone) void this.onGuestShutdown(r, 'crash', 'domain thread exited');
    });
    this.log.info({ domid, name, memory: config.memory, vcpus: config.vcpus }, 'domain created');

    try {
      await this.connectDevices(r);
    } catch (e) {
      this.log.error({ domid, name }, `device setup failed: ${errorMessage(e)}`);
      await this.teardown(r, 'destroyed', 'device setup failed');
      throw e instanceof XendError ? e : new XendError(errorMessage(e));
    }
    if (!opts.paused) thread.unpause();
    this.emit('created', domid, name);
    return { domid, name };
  }

  private async connectDevices(r: DomainRecord): Promise<void> {
    let first = true;
    for (const spec of r.config.disk) {
      await this.attachDisk(r, spec, first);
      first = false;
    }
    for (const spec of r.config.vif) await this.addVif(r, spec);
  }

  private async addVif(r: DomainRecord, spec: VifSpec): Promise<void> {
    const device = createVifDevice(this.h, spec, { domid: r.domid, domName: r.name, vmPath: r.vmPath, nativeProtocol: XEN_IO_PROTO_ABI_X86_64 });
    const verdict = await waitForVifHotplug(this.h, device.backendPath, DEVICE_TIMEOUT_MS);
    if (verdict.status !== 'connected') {
      destroyVifDevice(this.h, r.domid, device.devid, { vmPath: r.vmPath, force: true });
      // DevController.waitForDevice's messages.
      const why = verdict.status === 'timeout' ? 'Hotplug scripts not working.' : verdict.status === 'busy' ? 'Device is busy.' : (verdict.error ?? 'Hotplug error.');
      throw new XendError(`Device ${device.devid} (vif) could not be connected. ${why}`);
    }
    r.vifs.push({ device, spec });
  }

  // ---- ending ----

  private async onGuestShutdown(r: DomainRecord, reason: ShutdownReason, detail: string): Promise<void> {
    if (r.ended || r.gone) return;
    r.ended = reason;
    r.endDetail = detail;
    this.xs.domainShutdown(r.domid);
    const end: DomainEnd = { domid: r.domid, name: r.name, reason, detail };
    this.log.info({ domid: r.domid, name: r.name, reason, detail }, 'domain shut down');
    this.emit('shutdown', end);
    const action = actionFor(r.config, reason);
    if (this.closing) return;
    switch (action) {
      case 'preserve':
        // Kept in the list (shut down or crashed) until xm destroy.
        await r.thread.destroy();
        return;
      case 'destroy':
      case 'coredump-destroy':
        await this.teardown(r, reason, detail);
        return;
      case 'restart':
      case 'coredump-restart':
      case 'rename-restart': {
        const ran = Date.now() / 1000 - r.startTime;
        if (ran < MINIMUM_RESTART_TIME_S && reason !== 'reboot') {
          this.log.error(
            { domid: r.domid, name: r.name },
            `VM ${r.name} restarting too fast (Elapsed time: ${ran.toFixed(6)} seconds). Refusing to restart to avoid loops.`,
          );
          await this.teardown(r, reason, detail);
          return;
        }
        if (action === 'rename-restart') {
          // The old domain stays (preserved) under a new name; a fresh one takes name and uuid.
          const config = r.config;
          await r.thread.destroy();
          this.renameRecord(r, `Domain-${r.uuid}`);
          const uuid = randomUUID();
          await this.restart({ ...config, uuid }, uuid);
          return;
        }
        await this.teardown(r, reason, detail);
        await this.restart(r.config, r.uuid);
        return;
      }
    }
  }

  /**
   * XendBootloader.bootloader: pygrub on the domain's bootable disk (its first), with xend's
   * --kernel/--ramdisk/--args from the config and the user's bootloader_args.
   */
  private async runBootloader(config: DomainConfig): Promise<PygrubResult & { disk: string }> {
    const disk = config.disk[0];
    if (disk === undefined || disk.path === null) {
      throw new XendError(`Boot loader ${config.bootloader}: the domain has no disk to boot from (disk = [...] is empty)`);
    }
    const options = pygrubOptionsFromConfig({ bootargs: config.bootargs, kernel: config.kernel, ramdisk: config.ramdisk ?? '', args: config.cmdline });
    // A file: disk is probed as blkback probes it, read-only and without backing files (its
    // contents are the guest's to shape); tap:qcow2 and tap:aio say what they are.
    const result = await pygrub(disk.path, { ...options, format: disk.type === 'file' ? 'auto' : (disk.format ?? 'auto') });
    for (const w of result.warnings) this.log.warn({ name: config.name, disk: disk.path }, `pygrub: ${w}`);
    this.log.info(
      { name: config.name, disk: disk.path, entry: result.entryTitle, kernel: result.kernelPath, ramdisk: result.ramdiskPath },
      `pygrub: booting ${result.kernelPath} from ${result.partition} of ${disk.path}`,
    );
    return { ...result, disk: disk.path };
  }

  private async restart(config: DomainConfig, uuid: string): Promise<void> {
    try {
      const { domid } = await this.build(config, this.nextDomid++, uuid, {});
      this.log.info({ domid, name: config.name }, 'domain restarted');
    } catch (e) {
      this.log.error({ name: config.name }, `restart failed: ${errorMessage(e)}`);
    }
  }

  /** XendDomainInfo._cleanup / destroy: stop the vCPUs, disconnect devices, drop store and console. */
  private async teardown(r: DomainRecord, reason: EndReason, detail: string): Promise<void> {
    if (r.gone) return;
    r.gone = true;
    await r.thread.destroy();
    for (const v of r.vbds) {
      try {
        await v.backend.shutdown();
        destroyVbdDevice(this.h, v.device, true);
      } catch (e) {
        this.log.warn({ domid: r.domid }, `vbd ${v.device.devid} teardown: ${errorMessage(e)}`);
      }
    }
    for (const v of r.vifs) {
      try {
        destroyVifDevice(this.h, r.domid, v.device.devid, { vmPath: r.vmPath, force: true });
      } catch (e) {
        this.log.warn({ domid: r.domid }, `vif ${v.device.devid} teardown: ${errorMessage(e)}`);
      }
    }
    try {
      this.xs.releaseDomain(r.domid);
    } catch {
      // not introduced any more
    }
    removeDomainTree(this.h, r.domid, r.vmPath);
    // The per-domain backend directories the device controllers left (libxl__devices_destroy
    // removes them too).
    for (const cls of ['vbd', 'tap', 'tap2', 'vif']) rmQuiet(this.h, `/local/domain/0/backend/${cls}/${r.domid}`);
    const log = [...this.xc.conring.domainTail(r.domid)];
    this.xc.releaseDomain(r.domid);
    this.domains.delete(r.domid);
    const end: DomainEnd = { domid: r.domid, name: r.name, reason: r.ended ?? reason, detail: r.ended ? r.endDetail : detail, log };
    this.ends.set(r.domid, end);
    this.log.info({ domid: r.domid, name: r.name, reason: end.reason }, 'domain gone');
    for (const w of r.goneWaiters.splice(0)) w(end);
    this.emit('gone', end);
  }

  async destroy(domid: number): Promise<void> {
    const r = this.record(domid);
    this.log.info({ domid, name: r.name }, 'destroy requested');
    await this.teardown(r, 'destroyed', 'xm destroy');
  }

  waitGone(domid: number): Promise<DomainEnd> {
    const done = this.ends.get(domid);
    if (done) return Promise.resolve(done);
    const r = this.domains.get(domid);
    if (!r) return Promise.reject(new XendError(`Domain '${domid}' does not exist.`, 3));
    return new Promise((resolve) => r.goneWaiters.push(resolve));
  }

  shutdown(domid: number, kind: 'poweroff' | 'reboot' | 'halt'): void {
    const r = this.record(domid);
    // XendDomainInfo.shutdown writes the reason to control/shutdown; 'poweroff' and 'halt' are
    // both what Linux's xenbus shutdown handler understands.
    this.h.write(`${domainPath(domid)}/control/shutdown`, kind);
    this.log.info({ domid, name: r.name, kind }, 'shutdown requested');
  }

  pause(domid: number): void {
    this.liveRecord(domid).thread.pause();
    this.log.info({ domid }, 'paused');
  }
  unpause(domid: number): void {
    this.liveRecord(domid).thread.unpause();
    this.log.info({ domid }, 'unpaused');
  }

  rename(domid: number, name: string): void {
    const r = this.record(domid);
    for (const o of this.domains.values()) {
      if (o !== r && o.name === name) throw new XendError(`VM name '${name}' already exists as domain ${o.domid}`);
    }
    this.renameRecord(r, name);
  }

  private renameRecord(r: DomainRecord, name: string): void {
    this.log.info({ domid: r.domid, from: r.name, to: name }, 'renamed');
    r.name = name;
    r.config = { ...r.config, name };
    if (!r.gone) {
      this.h.write(`${domainPath(r.domid)}/name`, name);
      this.h.write(`${r.vmPath}/name`, name);
    }
  }

  sysrq(domid: number, key: string): void {
    this.liveRecord(domid);
    this.h.write(`${domainPath(domid)}/control/sysrq`, key);
  }

  setMemoryTarget(domid: number, mib: number): void {
    const r = this.liveRecord(domid);
    if (mib > r.config.maxmem) throw new XendError(`memory_dynamic_max must be less than or equal to memory_static_max`);
    r.config = { ...r.config, memory: mib };
    this.h.write(`${domainPath(domid)}/memory/target`, String(mib * 1024));
  }

  setMaxMemory(domid: number, mib: number): void {
    const r = this.record(domid);
    r.config = { ...r.config, maxmem: mib };
    this.h.write(`${r.vmPath}/maxmem`, String(mib));
  }

  setVcpus(domid: number, n: number): void {
    const r = this.liveRecord(domid);
    if (n < 1 || n > r.config.maxvcpus) {
      throw new XendError(`Cannot set vcpus greater than max vcpus on running domain`);
    }
    let avail = 0n;
    for (let v = 0; v < r.config.maxvcpus; v++) {
      if (v < n) avail |= 1n << BigInt(v);
      this.h.write(`${domainPath(domid)}/cpu/${v}/availability`, v < n ? 'online' : 'offline');
    }
    r.config = { ...r.config, vcpus: n, vcpuAvail: avail };
  }

  console(domid: number): Console {
    return this.liveRecord(domid).console;
  }

  dmesg(clear: boolean): string {
    const text = this.xc.conring.read();
    if (clear) this.xc.conring.clear();
    return text;
  }

  // ---- devices ----

  private listDevices(domid: number, cls: 'vbd' | 'vif'): FrontendDevice[] {
    this.record(domid);
    const base = `${domainPath(domid)}/device/${cls}`;
    const ids = this.h.exists(base) ? this.h.directory(base) : [];
    return ids
      .map((id) => ({ devid: Number(id), nodes: this.listRecursive(`${base}/${id}`) }))
      .sort((a, b) => a.devid - b.devid);
  }

  private listRecursive(path: string): XsListing {
    return this.h.directory(path).map((k) => {
      const p = `${path}/${k}`;
      const kids = this.h.directory(p);
      return kids.length ? ([k, this.listRecursive(p)] as const) : ([k, this.h.readString(p)] as const);
    });
  }

  blockList(domid: number): FrontendDevice[] {
    return this.listDevices(domid, 'vbd');
  }

  async blockAttach(domid: number, spec: DiskSpec): Promise<void> {
    const r = this.liveRecord(domid);
    if (r.vbds.some((v) => v.spec.vdev === spec.vdev)) throw new XendError(`Device ${spec.vdev} is already connected.`);
    await this.attachDisk(r, spec, false);
    this.log.info({ domid, dev: spec.vdev }, 'block device attached');
  }

  /** xend's device creation for one disk entry: backend and frontend nodes, then blkback. */
  private async attachDisk(r: DomainRecord, spec: DiskSpec, bootable: boolean): Promise<void> {
    const a = await attachVbd({
      xs: this.h,
      domain: r.thread,
      domid: r.domid,
      domainName: r.name,
      spec,
      vmPath: r.vmPath,
      bootable,
      nativeProtocol: XEN_IO_PROTO_ABI_X86_64,
      logger: this.log.child({ component: 'blkback', domid: r.domid }),
      timeoutMs: DEVICE_TIMEOUT_MS,
    });
    r.vbds.push({ ...a, spec });
  }

  async blockDetach(domid: number, dev: string, force: boolean): Promise<void> {
    const r = this.liveRecord(domid);
    const i = r.vbds.findIndex((v) => v.spec.vdev === dev || String(v.device.devid) === dev);
    if (i < 0) throw new XendError(`Device ${dev} not connected`);
    const v = r.vbds[i];
    destroyVbdDevice(this.h, v.device, force);
    await v.backend.shutdown();
    r.vbds.splice(i, 1);
    this.log.info({ domid, dev }, 'block device detached');
  }

  networkList(domid: number): FrontendDevice[] {
    return this.listDevices(domid, 'vif');
  }

  async networkAttach(domid: number, spec: VifSpec): Promise<void> {
    const r = this.liveRecord(domid);
    await this.addVif(r, spec);
    this.log.info({ domid }, 'network device attached');
  }

  async networkDetach(domid: number, devid: number, force: boolean): Promise<void> {
    const r = this.liveRecord(domid);
    const i = r.vifs.findIndex((v) => v.device.devid === devid);
    if (i < 0) throw new XendError(`Device ${devid} not connected`);
    const fe = `${domainPath(domid)}/device/vif/${devid}`;
    destroyVifDevice(this.h, domid, devid, { vmPath: r.vmPath, force });
    if (!force) {
      // XendDomainInfo.destroyDevice then waits for the device to go (_waitForDevice_destroy):
      // the frontend closes in answer to the backend's Closing; then its nodes are removed.
      const deadline = Date.now() + DETACH_TIMEOUT_MS;
      while (Date.now() < deadline && this.h.exists(`${fe}/state`) && this.h.readString(`${fe}/state`) !== '6') {
        await new Promise((res) => setTimeout(res, 100));
      }
      destroyVifDevice(this.h, domid, devid, { vmPath: r.vmPath, force: true });
    }
    r.vifs.splice(i, 1);
    this.log.info({ domid, devid }, 'network device detached');
  }

  // ---- queries ----

  private record(domid: number): DomainRecord {
    const r = this.domains.get(domid);
    if (!r) throw new XendError(`Domain '${domid}' does not exist.`, 3);
    return r;
  }

  private liveRecord(domid: number): DomainRecord {
    const r = this.record(domid);
    if (r.ended) throw new XendError(`Domain '${r.name}' is not running.`);
    return r;
  }

  list(): DomainInfo[] {
    const out: DomainInfo[] = [dom0Info(this.started)];
    for (const r of [...this.domains.values()].sort((a, b) => a.domid - b.domid)) out.push(this.infoOf(r));
    return out;
  }

  lookup(dom: string): DomainInfo {
    // XendDomain.domain_lookup_nr: by name first, then by id.
    const all = this.list();
    const byName = all.find((d) => d.name === dom);
    if (byName) return byName;
    if (/^\d+$/.test(dom)) {
      const byId = all.find((d) => d.domid === Number(dom));
      if (byId) return byId;
    }
    throw new XendError(`Domain '${dom}' does not exist.`, 3);
  }

  private infoOf(r: DomainRecord): DomainInfo {
    const c = r.config;
    const ctl = r.mem.ctl;
    const alive = r.thread.alive && !r.ended;
    const rs = ctl.runState;
    let cpuTime = 0;
    const vcpuInfo = [];
    let online = 0;
    for (let v = 0; v < c.maxvcpus; v++) {
      const ns = ctl.vcpuCpuNs(v);
      cpuTime += ns / 1e9;
      const on = ctl.vcpuOnline(v);
      if (on) online++;
      vcpuInfo.push({
        number: v,
        online: on,
        blocked: on && ctl.vcpuBlocked(v),
        running: alive && on && !ctl.vcpuBlocked(v) && rs === RunState.Running,
        cpuTime: ns / 1e9,
        cpu: alive ? v : -1,
        cpumap: c.cpus[v] ?? [],
      });
    }
    const paused = alive && r.thread.paused;
    const state = {
      running: alive && !paused && rs === RunState.Running,
      blocked: alive && !paused && rs !== RunState.Running,
      paused,
      shutdown: r.ended !== null && r.ended !== 'crash',
      crashed: r.ended === 'crash',
      dying: r.gone,
    };
    const devices: DeviceConfig[] = [
      ...r.vbds.map((v) => ({
        class: 'vbd' as const,
        backend: 0,
        dev: `${v.spec.vdev}:${v.spec.devType}`,
        uname: v.spec.type === null ? null : `${v.spec.type}:${v.spec.driver ? v.spec.driver + ':' : ''}${v.spec.path}`,
        mode: v.spec.mode,
        bootable: r.vbds[0] === v ? 1 : 0,
      })),
      { class: 'console' as const, location: '2', protocol: 'vt100' },
      ...r.vifs.map((v) => ({
        class: 'vif' as const,
        backend: 0,
        bridge: v.spec.bridge ?? 'xenbr0',
        mac: v.device.mac,
        script: '/etc/xen/scripts/vif-bridge',
        ...(v.spec.ip.length ? { ip: v.spec.ip.join(' ') } : {}),
      })),
    ];
    return {
      domid: r.domid,
      name: r.name,
      uuid: r.uuid,
      ...configFields(c),
      onlineVcpus: alive ? Math.max(online, 1) : c.vcpus,
      startTime: r.startTime,
      cpuTime,
      image: {
        ...imageFields(c),
        platform: { tsc_mode: c.tscMode, nomigrate: c.nomigrate, pci: [], videoram: c.videoram },
        notes: kernelNotes(r.kernel),
      },
      status: state.crashed ? 'crashed' : r.ended ? 'halted' : paused ? 'paused' : 'running',
      state,
      storeMfn: r.storeMfn,
      consoleMfn: r.consoleMfn,
      devices,
      vcpuInfo,
    };
  }

  info(): HostInfo {
    return hostInfo(this.xenstoredSocket);
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const r of [...this.domains.values()]) await this.teardown(r, 'destroyed', 'xend stopped');
    this.netback.stop();
    await this.xs.close();
  }
}

function actionFor(c: DomainConfig, reason: ShutdownReason): RestartAction {
  if (reason === 'reboot') return c.onReboot;
  if (reason === 'crash' || reason === 'watchdog') return c.onCrash;
  // poweroff, suspend (no save file to go to), soft_reset
  return c.onPoweroff;
}

/** The 16 bytes of a canonical UUID (the config parser has checked its form). */
function uuidBytes(uuid: string): Uint8Array {
  return new Uint8Array(Buffer.from(uuid.replace(/-/g, ''), 'hex'));
}

export async function createToolstack(opts: ToolstackOptions): Promise<Toolstack & { readonly net: HostNetwork }> {
  mkdirSync(join(opts.stateDir, 'console'), { recursive: true, mode: 0o700 });
  const xs = new Xenstored({ logger: opts.logger.child({ component: 'xenstored' }) });
  if (opts.xenstoredSocket !== false) await xs.listen(defaultSocketPath(opts.stateDir));
  const xc = new Xenconsoled({ logger: opts.logger.child({ component: 'xenconsoled' }), logDir: join(opts.stateDir, 'console') });
  xc.conring.printk(bootBanner());
  return new TsxenToolstack(opts, xs, xc);
}
