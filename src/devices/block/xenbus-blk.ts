// The block backend's xenbus side for one virtual block device: what Linux 6.1's
// drivers/block/xen-blkback/xenbus.c does (probe, frontend_changed, connect_ring, connect,
// xen_blkif_disconnect), plus the job of Xen 4.4's hotplug scripts (tools/hotplug/Linux/block,
// blktap, xen-hotplug-common.sh, xen-hotplug-cleanup): open the image named by the backend's
// type/params/mode nodes, refuse unsafe sharing, and report hotplug-status for xend.
//
// Handshake (io/xenbus.h states): xend writes both directories with state=1; we advertise our
// features and go InitWait (2); the frontend publishes ring-ref(s), event-channel and protocol and
// goes Initialised (3); once the image is open and the ring is mapped we write sectors/info/
// sector-size/feature-* and go Connected (4). Frontend Closing (5) -> we go Closing; frontend
// Closed (6) -> we drain in-flight I/O, unmap the ring and go Closed; with online=0 (xend's
// destroyDevice) the device is then removed and its store entries cleaned up.
//
// Watch events are handled one at a time, in order (Linux's xenwatch thread does the same).

import { open, realpath, stat } from 'node:fs/promises';
import type { EventChannelEnd, FrontendDomain } from '../../hypervisor/frontend_domain.js';
import { GrantError } from '../../hypervisor/grant_table.js';
import { BLKIF_MAX_SEGMENTS_PER_REQUEST, VDISK_CDROM, VDISK_READONLY, XEN_IO_PROTO_ABI_X86_64 } from './blkif.js';
import { MAX_INDIRECT_SEGMENTS, XenBlkifRing, type BlkifRingStats } from './blkback.js';
import { openDiskImage, probeFormat, type DiskFormat, type DiskImage } from './image/index.js';
import { BlkifBackRing, RingError } from './ring.js';
import { inTransaction, parseU32, readOptional, rmQuiet, xsErrno, type XenstoreHandle } from '../xenbus.js';
import { silentLogger, type ServiceLogger } from '../logger.js';

export { XenbusState } from '../xenbus.js';
import { XenbusState } from '../xenbus.js';
import { errorMessage } from '../../hypervisor/errors.js';
import { EINVAL, EIO, ENOSYS } from '../../hypervisor/errno.js';

/** XENBUS_MAX_RING_GRANT_ORDER, Linux blkback's default max_ring_page_order. */
export const MAX_RING_PAGE_ORDER = 4;


/** What the hotplug step hands to the image layer. */
export interface ImageRequest {
  readonly path: string;
  readonly format: DiskFormat;
  readonly readOnly: boolean;
  /** qcow2 backing files may be followed (not for a format that was only probed). */
  readonly backing?: boolean;
}
export type ImageOpener = (req: ImageRequest) => Promise<DiskImage>;

export interface BlkBackendOptions {
  readonly xs: XenstoreHandle;
  readonly domain: FrontendDomain;
  /** /local/domain/<backend>/backend/<vbd|tap>/<domid>/<devid>, as xend created it. */
  readonly backendPath: string;
  readonly backendDomid?: number;
  readonly logger?: ServiceLogger;
  /** How to open images (default openDiskImage); lets a host share or wrap images. */
  readonly openImage?: ImageOpener;
  readonly maxRingPageOrder?: number;
  readonly maxIndirectSegments?: number;
}

export class BlkBackendError extends Error {
  override readonly name = 'BlkBackendError';
}

/** A hotplug failure: status 'error' (fatal) or 'busy' (ebusy), as the scripts report them. */
class HotplugError extends Error {
  constructor(
    message: string,
    readonly status: 'error' | 'busy',
  ) {
    super(message);
  }
}

interface MappedRing {
  ring: BlkifBackRing;
  refs: number[];
  evtchn: EventChannelEnd;
  engine: XenBlkifRing | null;
}

/**
 * What a discard can actually free in a qcow2 image is a whole cluster (1 << cluster_bits, the
 * big-endian u32 at byte 20 of the header); a raw file is discarded (or not) per 4 KiB page.
 */
async function qcow2ClusterSize(path: string): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const b = new Uint8Array(24);
    const { bytesRead } = await fh.read(b, 0, 24, 0);
    const bits = bytesRead === 24 ? new DataView(b.buffer).getUint32(20, false) : 0;
    // qcow2 allows 512 B .. 2 MiB clusters; anything else would not have opened.
    return bits >= 9 && bits <= 21 ? 2 ** bits : 4096;
  } finally {
    await fh.close();
  }
}

/** canonicalise_mode (block-common.sh): 'r', 'w', or '!' (writable, sharing allowed). */
function canonicalMode(mode: string): 'r' | 'w' | '!' {
  if (!mode.includes('w')) return 'r';
  return mode.includes('!') ? '!' : 'w';
}

export class BlkBackend {
  readonly backendPath: string;
  readonly frontendPath: string;
  readonly frontendId: number;
  /** Our xenbus state as last switched (Linux's dev->state). */
  state: number = XenbusState.Initialising;
  private readonly xs: XenstoreHandle;
  private readonly log: ServiceLogger;
  private readonly backendDomid: number;
  private readonly name: string;
  private readonly maxOrder: number;
  private readonly maxIndirect: number;
  private image: DiskImage | null = null;
  private readOnly = true;
  private cdrom = false;
  private discardGranularity = 4096;
  private mapped: MappedRing | null = null;
  private chain: Promise<void> = Promise.resolve();
  private removed = false;
  private started = false;
  private readonly feToken: string;
  private readonly beToken: string;
  private resolveRemoved!: () => void;
  /** Settles when the device has been removed (frontend gone, or shutdown()). */
  readonly whenRemoved: Promise<void> = new Promise((r) => (this.resolveRemoved = r));
  /** Settles when the hotplug step has finished, successfully or not (see hotplug-status). */
  hotplugDone: Promise<void> = Promise.resolve();

  constructor(private readonly o: BlkBackendOptions) {
    this.xs = o.xs;
    this.log = o.logger ?? silentLogger;
    this.backendDomid = o.backendDomid ?? 0;
    this.backendPath = o.backendPath.replace(/\/+$/, '');
    this.maxOrder = o.maxRingPageOrder ?? MAX_RING_PAGE_ORDER;
    this.maxIndirect = o.maxIndirectSegments ?? MAX_INDIRECT_SEGMENTS;
    if (!Number.isInteger(this.maxOrder) || this.maxOrder < 0 || this.maxOrder > MAX_RING_PAGE_ORDER) {
      throw new BlkBackendError(`maxRingPageOrder ${this.maxOrder} is outside 0..${MAX_RING_PAGE_ORDER}`);
    }
    if (!Number.isInteger(this.maxIndirect) || this.maxIndirect < 0 || this.maxIndirect > MAX_INDIRECT_SEGMENTS) {
      throw new BlkBackendError(`maxIndirectSegments ${this.maxIndirect} is outside 0..${MAX_INDIRECT_SEGMENTS}`);
    }
    // xenbus_read_otherend_details: "frontend-id" and "frontend" must be there and readable.
    const fePath = readOptional(this.xs, `${this.backendPath}/frontend`);
    const feId = parseU32(readOptional(this.xs, `${this.backendPath}/frontend-id`));
    if (fePath === null || fePath === '' || feId === null) {
      throw new BlkBackendError(`${this.backendPath}: unable to read other end (frontend, frontend-id): missing or inaccessible`);
    }
    if (feId !== o.domain.domid) {
      throw new BlkBackendError(`${this.backendPath}: frontend-id ${feId} is not the domain served (${o.domain.domid})`);
    }
    this.frontendPath = fePath;
    this.frontendId = feId;
    const parts = this.backendPath.split('/');
    this.name = `${parts[parts.length - 3] ?? 'vbd'}-${feId}-${parts[parts.length - 1] ?? '?'}`;
    this.feToken = `blkback:${this.backendPath}:frontend-state`;
    this.beToken = `blkback:${this.backendPath}:backend`;
  }

  /** Whether the ring is being served. */
  get connected(): boolean {
    return this.state === XenbusState.Connected && this.mapped?.engine != null;
  }

  /** I/O counters of the current ring, if any. */
  get stats(): Readonly<BlkifRingStats> | null {
    return this.mapped?.engine?.stats ?? null;
  }

  /** The open image (null before hotplug or for an empty CD-ROM drive). */
  get diskImage(): DiskImage | null {
    return this.image;
  }

  /**
   * xen_blkbk_probe: advertise features, go InitWait, watch the frontend, then run the hotplug
   * step (opening the image) in the background; `hotplugDone` follows it.
   */
  start(): void {
    if (this.started) throw new BlkBackendError(`${this.backendPath}: already started`);
    this.started = true;
    if (readOptional(this.xs, `${this.backendPath}/state`) === null) {
      throw new BlkBackendError(`${this.backendPath}: backend directory has no state node (not created by xend?)`);
    }
    if (this.maxIndirect > BLKIF_MAX_SEGMENTS_PER_REQUEST) {
      this.xs.write(`${this.backendPath}/feature-max-indirect-segments`, String(this.maxIndirect));
    }
    this.xs.write(`${this.backendPath}/max-ring-page-order`, String(this.maxOrder));
    this.switchState(XenbusState.InitWait);
    this.xs.watch(`${this.frontendPath}/state`, this.feToken, () => {
      // Read when handled, not when fired: like xenwatch, a late handler sees the latest state.
      this.enqueue(() => this.frontendChanged(this.readDriverState(this.frontendPath)));
    });
    this.xs.watch(this.backendPath, this.beToken, (path) => {
      if (path !== this.backendPath && path !== `${this.backendPath}/state`) return;
      this.enqueue(() => {
        if (readOptional(this.xs, `${this.backendPath}/state`) === null) {
          this.log.info(`blkback ${this.name}: backend directory removed; removing the device`);
          return this.unregister(false);
        }
      });
    });
    this.hotplugDone = this.hotplug();
  }

  /**
   * Remove the device now (xend destroying the domain or the device): stop consuming, wait for
   * in-flight requests, unmap, close the image and clean the store entries up.
   */
  shutdown(): Promise<void> {
    this.enqueue(() => this.unregister(true));
    return this.whenRemoved;
  }

  private enqueue(fn: () => void | Promise<void>): void {
    this.chain = this.chain.then(fn).catch((e: unknown) => {
      this.log.error(`blkback ${this.name}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    });
  }

  /** xenbus_read_driver_state: a missing or unparsable state is XenbusStateUnknown. */
  private readDriverState(path: string): number {
    let v: string | null;
    try {
      v = readOptional(this.xs, `${path}/state`);
    } catch {
      return XenbusState.Unknown;
    }
    return parseU32(v) ?? XenbusState.Unknown;
  }

  /** __xenbus_switch_state: write only if changed, and never resurrect a removed directory. */
  private switchState(s: number): void {
    if (s === this.state) return;
    try {
      inTransaction(this.xs, (tx) => {
        if (readOptional(this.xs, `${this.backendPath}/state`, tx) === null) return;
        this.xs.write(`${this.backendPath}/state`, String(s), tx);
      });
    } catch (e) {
      this.log.error(`blkback ${this.name}: writing state ${s}: ${errorMessage(e)}`);
    }
    this.state = s;
  }

  /** xenbus_dev_fatal: record "<errno> <message>" under error/<nodename> and go Closing. */
  private fatal(errno: number, message: string): void {
    this.log.error(`blkback ${this.name}: ${message}`);
    const home = `/local/domain/${this.backendDomid}/`;
    const rel = this.backendPath.startsWith(home) ? this.backendPath.slice(home.length) : this.backendPath.replace(/^\/+/, '');
    try {
      this.xs.write(`${home}error/${rel}/error`, `${errno} ${message}`);
    } catch (e) {
      this.log.warn(`blkback ${this.name}: could not record the error in xenstore: ${errorMessage(e)}`);
    }
    this.switchState(XenbusState.Closing);
  }

  // ---- frontend state machine -----------------------------------------------------------------

  private async frontendChanged(fe: number): Promise<void> {
    if (this.removed) return;
    this.log.debug(`blkback ${this.name}: frontend state ${fe}, ours ${this.state}`);
    switch (fe) {
      case XenbusState.Initialising:
        if (this.state === XenbusState.Closed) {
          this.log.info(`blkback ${this.name}: prepare for reconnect`);
          this.switchState(XenbusState.InitWait);
        }
        return;
      case XenbusState.Initialised:
      case XenbusState.Connected:
        // Both may be seen in quick succession; connect once.
        if (this.state === XenbusState.Connected) return;
        // A frontend may only reach here with requests in flight by restarting; let them finish.
        await this.disconnect();
        if (!this.connectRing()) {
          await this.disconnect();
          return;
        }
        this.updateStatus();
        return;
      case XenbusState.Closing:
        this.switchState(XenbusState.Closing);
        return;
      case XenbusState.Closed: {
        await this.disconnect();
        this.switchState(XenbusState.Closed);
        // xenbus_dev_is_online: a missing or unparsable "online" counts as offline.
        if ((parseU32(readOptional(this.xs, `${this.backendPath}/online`)) ?? 0) !== 0) return;
        await this.unregister(true);
        return;
      }
      case XenbusState.Unknown:
        await this.unregister(true);
        return;
      default:
        this.fatal(EINVAL, `saw state ${fe} at frontend`);
    }
  }

  /** connect_ring + read_per_ring_refs + xen_blkif_map. Returns false after a fatal error. */
  private connectRing(): boolean {
    const fe = this.frontendPath;
    const protocol = readOptional(this.xs, `${fe}/protocol`);
    if (protocol !== null && protocol !== XEN_IO_PROTO_ABI_X86_64) {
      this.fatal(ENOSYS, `unknown fe protocol ${protocol} (only ${XEN_IO_PROTO_ABI_X86_64} is served)`);
      return false;
    }
    const queues = readOptional(this.xs, `${fe}/multi-queue-num-queues`);
    if (queues !== null && parseU32(queues) !== 1) {
      this.fatal(ENOSYS, `guest requested ${queues} queues, exceeding the maximum of 1.`);
      return false;
    }
    // As connect_ring: an unreadable ring-page-order means a single page named "ring-ref".
    const order = parseU32(readOptional(this.xs, `${fe}/ring-page-order`));
    if (order !== null && order > this.maxOrder) {
      this.fatal(EINVAL, `requested ring page order ${order} exceed max:${this.maxOrder}`);
      return false;
    }
    const nrPages = order === null ? 1 : 2 ** order;
    const evtchnPort = parseU32(readOptional(this.xs, `${fe}/event-channel`));
    if (evtchnPort === null) {
      this.fatal(EINVAL, `reading ${fe}/event-channel`);
      return false;
    }
    const refs: number[] = [];
    for (let i = 0; i < nrPages; i++) {
      const node = order === null ? 'ring-ref' : `ring-ref${i}`;
      const ref = parseU32(readOptional(this.xs, `${fe}/${node}`));
      if (ref === null) {
        this.fatal(EINVAL, `reading ${fe}/${node}`);
        return false;
      }
      refs.push(ref);
    }
    const { grants } = this.o.domain;
    const held: number[] = [];
    const release = (): void => {
      for (const r of held) grants.release(r, true);
    };
    let ring: BlkifBackRing;
    try {
      const frames = refs.map((r) => {
        const f = grants.acquire(r, this.backendDomid, true);
        held.push(r);
        return f;
      });
      ring = new BlkifBackRing(this.o.domain.mem, frames);
    } catch (e) {
      release();
      if (!(e instanceof GrantError) && !(e instanceof RingError)) throw e;
      this.fatal(e instanceof GrantError ? EINVAL : EIO, `mapping ring-ref port ${evtchnPort}: ${e.message}`);
      return false;
    }
    let evtchn: EventChannelEnd;
    try {
      evtchn = this.o.domain.bindInterdomain(evtchnPort, () => this.mapped?.engine?.kick());
    } catch (e) {
      release();
      this.fatal(EINVAL, `mapping ring-ref port ${evtchnPort}: binding event channel: ${errorMessage(e)}`);
      return false;
    }
    this.mapped = { ring, refs: held, evtchn, engine: null };
    this.log.info(
      `blkback ${this.name}: ring of ${nrPages} page(s), ${ring.size} slots, event channel ${evtchnPort}, protocol ${protocol ?? 'unspecified, assuming default'}`,
    );
    return true;
  }

  /** xen_update_blkif_status: connect once both the image and the ring are there. */
  private updateStatus(): void {
    if (this.removed || !this.mapped || !this.image) return;
    if (this.state === XenbusState.Connected) return;
    if (!this.connect()) return;
    const m = this.mapped;
    m.engine = new XenBlkifRing({
      name: this.name,
      domain: this.o.domain,
      backendDomid: this.backendDomid,
      ring: m.ring,
      image: this.image,
      readOnly: this.readOnly,
      logger: this.log,
      notify: () => m.evtchn.notify(),
      onFatal: (errno, msg) => this.fatal(errno, msg),
      maxIndirectSegments: this.maxIndirect,
    });
    m.engine.start();
  }

  /** connect(): publish what the frontend needs to know about the disk, then Connected. */
  private connect(): boolean {
    const img = this.image!;
    const be = this.backendPath;
    // Flushing and discarding are writes to Linux's blkback (xen_vbd_translate refuses them on a
    // read-only vbd), so a read-only disk does not offer them.
    const writable = !this.readOnly;
    try {
      inTransaction(this.xs, (tx) => {
        this.xs.write(`${be}/feature-flush-cache`, writable ? '1' : '0', tx);
        if (writable) {
          this.xs.write(`${be}/discard-granularity`, String(this.discardGranularity), tx);
          this.xs.write(`${be}/discard-alignment`, '0', tx);
          this.xs.write(`${be}/discard-secure`, '0', tx);
        }
        this.xs.write(`${be}/feature-discard`, writable ? '1' : '0', tx);
        this.xs.write(`${be}/feature-barrier`, writable ? '1' : '0', tx);
        this.xs.write(`${be}/feature-persistent`, '0', tx);
        this.xs.write(`${be}/sectors`, String(img.sectorCount), tx);
        this.xs.write(`${be}/info`, String((this.cdrom ? VDISK_CDROM : 0) | (this.readOnly ? VDISK_READONLY : 0)), tx);
        this.xs.write(`${be}/sector-size`, '512', tx);
        this.xs.write(`${be}/physical-sector-size`, '512', tx);
      });
    } catch (e) {
      if (xsErrno(e) === undefined) throw e;
      this.fatal(EIO, `writing ${be}/sectors: ${errorMessage(e)}`);
      return false;
    }
    this.switchState(XenbusState.Connected);
    return this.state === XenbusState.Connected;
  }

  /** xen_blkif_disconnect, waiting for in-flight I/O instead of answering EBUSY. */
  private async disconnect(): Promise<void> {
    const m = this.mapped;
    if (!m) return;
    if (m.engine) {
      m.engine.stop();
      await m.engine.drain();
    }
    m.evtchn.close();
    for (const r of m.refs) this.o.domain.grants.release(r, true);
    this.mapped = null;
  }

  /** device_unregister: xen_blkbk_remove, the hotplug "remove" and xen-hotplug-cleanup. */
  private async unregister(cleanStore: boolean): Promise<void> {
    if (this.removed) return;
    this.removed = true;
    for (const [path, token] of [[`${this.frontendPath}/state`, this.feToken], [this.backendPath, this.beToken]] as const) {
      try {
        this.xs.unwatch(path, token);
      } catch (e) {
        this.log.debug(`blkback ${this.name}: unwatch ${path}: ${errorMessage(e)}`);
      }
    }
    await this.disconnect();
    await this.hotplugDone;
    const img = this.image;
    this.image = null;
    if (img) {
      try {
        await img.close();
      } catch (e) {
        this.log.warn(`blkback ${this.name}: closing ${img.path}: ${errorMessage(e)}`);
      }
    }
    if (cleanStore) this.cleanupStore();
    this.log.info(`blkback ${this.name}: removed`);
    this.resolveRemoved();
  }

  /** xen-hotplug-cleanup: frontend, backend, error/backend and /vm/<uuid>/device entries go. */
  private cleanupStore(): void {
    const xs = this.xs;
    try {
      const parts = this.backendPath.split('/');
      const cls = parts[parts.length - 3];
      const devid = parts[parts.length - 1];
      const vm = readOptional(xs, `/local/domain/${this.frontendId}/vm`);
      let vmDev: string | null = null;
      if (vm) {
        vmDev = `${vm}/device/${cls}/${devid}`;
        if (readOptional(xs, vmDev) === null && cls === 'vbd') vmDev = `${vm}/device/tap2/${devid}`;
      }
      rmQuiet(xs, this.frontendPath);
      rmQuiet(xs, this.backendPath);
      const home = `/local/domain/${this.backendDomid}/`;
      if (this.backendPath.startsWith(home)) rmQuiet(xs, `${home}error/${this.backendPath.slice(home.length)}`);
      if (vmDev) rmQuiet(xs, vmDev);
    } catch (e) {
      this.log.warn(`blkback ${this.name}: cleaning store entries: ${errorMessage(e)}`);
    }
  }

  // ---- hotplug: the block / blktap scripts --------------------------------------------------------

  private async hotplug(): Promise<void> {
    const be = this.backendPath;
    try {
      const type = readOptional(this.xs, `${be}/type`) ?? '';
      const params = readOptional(this.xs, `${be}/params`) ?? '';
      const mode = readOptional(this.xs, `${be}/mode`) ?? 'r';
      this.cdrom = readOptional(this.xs, `${this.frontendPath}/device-type`) === 'cdrom';
      if (type === '' || params === '') {
        if (!this.cdrom) throw new HotplugError(`${be}: no image given (type "${type}", params "${params}")`, 'error');
        // An empty CD-ROM drive: nothing to open; the device stays in InitWait, as with Xen.
        this.writeHotplug('connected');
        this.log.info(`blkback ${this.name}: empty CD-ROM drive`);
        return;
      }
      const target = await this.resolveImage(type, params, mode);
      await this.checkSharing(target.path, canonicalMode(mode), type);
      // Linux's blkback: read-only unless the mode has a 'w'; a CD-ROM is never written.
      const readOnly = !mode.includes('w') || this.cdrom;
      const opener =
        this.o.openImage ?? ((r: ImageRequest) => openDiskImage(r.path, { format: r.format, readOnly: r.readOnly, backing: r.backing }));
      let image: DiskImage;
      try {
        image = await opener({ path: target.path, format: target.format, readOnly, backing: !target.probed });
      } catch (e) {
        throw new HotplugError(errorMessage(e), 'error');
      }
      if (this.removed) {
        await image.close();
        return;
      }
      this.image = image;
      this.readOnly = readOnly;
      if (target.format === 'qcow2') this.discardGranularity = await qcow2ClusterSize(target.path).catch(() => 4096);
      this.writeHotplug('connected');
      this.log.info(`blkback ${this.name}: ${target.format} image ${target.path}, ${image.sectorCount} sectors, ${readOnly ? 'read-only' : 'read-write'}`);
      this.enqueue(() => this.updateStatus());
    } catch (e) {
      const status = e instanceof HotplugError ? e.status : 'error';
      const msg = errorMessage(e);
      this.log.error(`blkback ${this.name}: hotplug: ${msg}`);
      this.writeHotplug(status, msg);
    }
  }

  private writeHotplug(status: 'connected' | 'error' | 'busy', error?: string): void {
    const be = this.backendPath;
    try {
      inTransaction(this.xs, (tx) => {
        if (readOptional(this.xs, `${be}/state`, tx) === null) return;
        if (error !== undefined) this.xs.write(`${be}/hotplug-error`, error, tx);
        this.xs.write(`${be}/hotplug-status`, status, tx);
      });
    } catch (e) {
      this.log.error(`blkback ${this.name}: writing hotplug-status: ${errorMessage(e)}`);
    }
  }

  /** The checks the block and blktap scripts make before losetup / tapdisk. */
  private async resolveImage(type: string, params: string, mode: string): Promise<{ path: string; format: DiskFormat; probed?: boolean }> {
    if (type === 'phy') {
      const dev = params.startsWith('/') ? params : `/dev/${params}`;
      let real: string;
      try {
        real = await realpath(dev);
      } catch {
        throw new HotplugError(`${dev} does not exist.`, 'error');
      }
      const st = await stat(real);
      if (!st.isBlockDevice()) throw new HotplugError(`${real} is not a block device.`, 'error');
      return { path: real, format: 'raw' };
    }
    if (type === 'file') {
      const file = await this.existingFile(params, `${params} does not exist.`);
      const st = await stat(file);
      if (canonicalMode(mode) === 'w' && (st.mode & 0o222) === 0) {
        throw new HotplugError(`File ${file} is read-only, and so I will not\nmount it read-write in a guest domain.`, 'busy');
      }
      // Xen's block script loop-mounts a file: as raw. The seed walkthrough gives a qcow2 image
      // as file:, so tsxen probes it (as QEMU does for an unnamed format) — but a probed qcow2
      // may not name a backing file: a guest that wrote a qcow2 header into its raw disk must
      // not get to read host files through it on the next boot.
      const format = await probeFormat(file).catch(() => 'raw' as const);
      return { path: file, format, probed: true };
    }
    if (type === 'tap' || type === 'tap2') {
      // blktap: strip "tapdisk:", then the driver up to the first ':'.
      let p = params.startsWith('tapdisk:') ? params.slice('tapdisk:'.length) : params;
      if (p.startsWith('ioemu:')) p = p.slice('ioemu:'.length);
      const colon = p.indexOf(':');
      const driver = colon >= 0 ? p.slice(0, colon) : '';
      const file = colon >= 0 ? p.slice(colon + 1) : p;
      const format: DiskFormat | undefined = driver === 'aio' || driver === 'sync' ? 'raw' : driver === 'qcow2' ? 'qcow2' : undefined;
      if (format === undefined) {
        throw new HotplugError(`blktap disk type '${driver}' is not supported by tsxen (aio, sync, qcow2)`, 'error');
      }
      return { path: await this.existingFile(file, `${file} does not exist`), format };
    }
    throw new HotplugError(`Block device type "${type}" is invalid.`, 'error');
  }

  private async existingFile(p: string, missing: string): Promise<string> {
    let file: string;
    try {
      file = await realpath(p);
    } catch {
      throw new HotplugError(missing, 'error');
    }
    if (!(await stat(file)).isFile()) throw new HotplugError(`${file} does not exist.`, 'error');
    return file;
  }

  /**
   * check_sharing / check_blktap_sharing: a disk used read-write by another domain may not be
   * attached again, and a read-write attach needs the disk unused elsewhere; 'w!' skips the check.
   */
  private async checkSharing(path: string, mode: 'r' | 'w' | '!', type: string): Promise<void> {
    if (mode === '!') return;
    const base = `/local/domain/${this.backendDomid}/backend`;
    for (const cls of ['vbd', 'tap']) {
      for (const dom of this.listQuiet(`${base}/${cls}`)) {
        if (Number(dom) === this.frontendId) continue;
        for (const dev of this.listQuiet(`${base}/${cls}/${dom}`)) {
          const p = `${base}/${cls}/${dom}/${dev}`;
          if (p === this.backendPath || readOptional(this.xs, `${p}/hotplug-status`) !== 'connected') continue;
          const t = readOptional(this.xs, `${p}/type`) ?? '';
          const prm = readOptional(this.xs, `${p}/params`) ?? '';
          let other: string;
          try {
            other = (await this.resolveImage(t, prm, 'r')).path;
          } catch {
            continue;
          }
          if (other !== path) continue;
          const otherMode = canonicalMode(readOptional(this.xs, `${p}/mode`) ?? '');
          if (mode === 'w' || otherMode === 'w') {
            if (type === 'tap' || type === 'tap2') throw new HotplugError(`${path} already in use by other domain`, 'busy');
            throw new HotplugError(
              mode === 'w'
                ? `File ${path} is mounted in a guest domain,\nand so cannot be mounted now.`
                : `File ${path} is mounted read-write in a guest domain,\nand so cannot be mounted read-only now.`,
              'busy',
            );
          }
        }
      }
    }
  }

  private listQuiet(path: string): string[] {
    try {
      return this.xs.directory(path);
    } catch (e) {
      if (xsErrno(e) === 'ENOENT') return [];
      throw e;
    }
  }
}
