// The xenbus side of netback, as Linux 6.1 runs it in a driver domain
// (drivers/net/xen-netback/xenbus.c, drivers/xen/xenbus/xenbus_probe_backend.c,
// xenbus_client.c), plus the part of the vif-bridge hotplug script
// (tools/hotplug/Linux/vif-bridge, xen-hotplug-common.sh, Xen 4.4.4) that puts the vif on its
// bridge and reports hotplug-status to xend.
//
// A device is probed when /local/domain/0/backend/vif/<domid>/<handle> appears with
// state Initialising (xenbus_probe_node); the backend advertises its features, goes to InitWait
// and attaches vif<domid>.<handle> to the bridge. When the frontend reaches Connected the rings
// and event channels it wrote are read and mapped and the backend goes Connected. Closing and
// Closed follow set_backend_state(); a frontend that goes away (state Unknown) or closes while
// the device is offline removes the device, as does the backend directory disappearing.
// Every value the frontend wrote is parsed strictly; problems are reported as
// xenbus_dev_fatal() does (error/backend/vif/D/H/error = "<errno> <message>", state Closing).

import type { FrontendDomain } from '../../hypervisor/frontend_domain.js';
import { checkIfName, type Bridge, type Bridges } from './bridge.js';
import { parseMac } from './inet.js';
import { silentLogger, type ServiceLogger } from '../logger.js';
import { NetbackError, NetbackVif, type VifRate } from './netback.js';
import {
  exists, inTransaction, parseUnsigned, readOptional, readUnsigned, rmQuiet, xenbusStateName, XenbusState, xsErrno, type XenstoreHandle,
} from '../xenbus.js';
import { errorMessage } from '../../hypervisor/errors.js';

/** Linux errno values for the error nodes xenbus_dev_fatal writes. */
const ERRNO: Record<string, number> = {
  ENOENT: 2, EIO: 5, E2BIG: 7, ENOMEM: 12, EBUSY: 16, ENODEV: 19, EINVAL: 22, EOPNOTSUPP: 95,
};

/** The script xend names by default (XendOptions: network_script_dir + vif-bridge). */
export const VIF_BRIDGE_SCRIPT = 'vif-bridge';

/**
 * Backend feature nodes, as netback_probe() writes them, with the values for what tsxen's
 * netback does: scatter-gather and rx-copy yes; GSO, IPv6 checksum offload, multicast
 * control, XDP headroom and rx-flip no; split event channels yes (one channel works too).
 */
export const NETBACK_FEATURES: ReadonlyArray<readonly [string, string]> = [
  ['feature-sg', '1'],
  ['feature-gso-tcpv4', '0'],
  ['feature-gso-tcpv6', '0'],
  ['feature-ipv6-csum-offload', '0'],
  ['feature-rx-copy', '1'],
  ['feature-xdp-headroom', '0'],
  ['feature-rx-flip', '0'],
  ['feature-multicast-control', '0'],
  ['feature-dynamic-multicast-control', '0'],
];

export interface NetbackDriverOptions {
  xs: XenstoreHandle;
  /** The frontend domain behind a domid (the hypervisor's), or undefined if there is none. */
  domain: (domid: number) => FrontendDomain | undefined;
  bridges: Bridges;
  logger?: ServiceLogger;
  /** The domain this backend runs in (dom0). */
  backendDomid?: number;
  now?: () => number;
}

let tokenSeq = 0;

export class NetbackDriver {
  readonly root: string;
  readonly backendDomid: number;
  readonly logger: ServiceLogger;
  private readonly devices = new Map<string, VifBackend>();
  private readonly token = `netback/${++tokenSeq}`;
  private started = false;

  constructor(readonly opts: NetbackDriverOptions) {
    this.backendDomid = opts.backendDomid ?? 0;
    this.root = `/local/domain/${this.backendDomid}/backend/vif`;
    this.logger = opts.logger ?? silentLogger;
  }

  get xs(): XenstoreHandle {
    return this.opts.xs;
  }

  /** Watches the backend directory (xenbus_probe_backend's watch on "backend"). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.xs.watch(this.root, this.token, (path) => this.guard(`watch event ${path}`, () => this.changed(path)));
  }

  /** Removes every device (as unloading the driver would) and stops watching. */
  stop(): void {
    if (!this.started) return;
    this.started = false;
    try {
      this.xs.unwatch(this.root, this.token);
    } catch (e) {
      this.logger.warn(`netback: unwatch ${this.root}: ${errorMessage(e)}`);
    }
    for (const d of [...this.devices.values()]) d.remove('driver stopped');
  }

  /** The devices probed so far. */
  list(): VifBackend[] {
    return [...this.devices.values()];
  }

  device(domid: number, handle: number): VifBackend | undefined {
    return this.devices.get(`${domid}/${handle}`);
  }

  /** Whether an interface name is taken on this host (bridges, their ports, vifs). */
  nameInUse(name: string): boolean {
    for (const b of this.opts.bridges.list()) {
      if (b.name === name || b.port(name)) return true;
    }
    for (const d of this.devices.values()) if (d.vif?.name === name) return true;
    return false;
  }

  /** @internal */
  forget(d: VifBackend): void {
    if (this.devices.get(d.key) === d) this.devices.delete(d.key);
  }

  /** Runs a handler for an event; nothing a guest or xenstore does may escape into the host. */
  guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.logger.error(`netback: ${what}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    }
  }

  private changed(path: string): void {
    if (!this.started) return;
    if (path !== this.root && !path.startsWith(`${this.root}/`)) return;
    const rel = path === this.root ? [] : path.slice(this.root.length + 1).split('/');
    if (rel.length >= 2) this.check(rel[0]!, rel[1]!);
    else this.rescan(rel[0]);
  }

  private list2(path: string): string[] {
    try {
      return this.xs.directory(path);
    } catch (e) {
      if (xsErrno(e) === 'ENOENT') return [];
      throw e;
    }
  }

  private rescan(domid?: string): void {
    const seen = new Set<string>();
    for (const d of domid === undefined ? this.list2(this.root) : [domid]) {
      for (const h of this.list2(`${this.root}/${d}`)) {
        seen.add(`${d}/${h}`);
        this.check(d, h);
      }
    }
    for (const dev of [...this.devices.values()]) {
      if ((domid === undefined || String(dev.frontendId) === domid) && !seen.has(dev.key)) this.check(String(dev.frontendId), String(dev.handle));
    }
  }

  private check(domidStr: string, handleStr: string): void {
    const domid = parseUnsigned(domidStr, 0x7fef);
    const handle = parseUnsigned(handleStr, 0x7fffffff);
    if (domid === null || handle === null) {
      this.logger.warn(`netback: ignoring ${this.root}/${domidStr}/${handleStr}: not a <domid>/<handle> device directory`);
      return;
    }
    const key = `${domid}/${handle}`;
    const nodename = `${this.root}/${domid}/${handle}`;
    const dev = this.devices.get(key);
    if (!exists(this.xs, nodename)) {
      if (dev) dev.remove('backend directory removed');
      return;
    }
    if (dev) return;
    // xenbus_probe_node: only a device in state Initialising is probed.
    const state = parseUnsigned(readOptional(this.xs, `${nodename}/state`));
    if (state !== XenbusState.Initialising) return;
    const be = new VifBackend(this, key, nodename, domid, handle);
    this.devices.set(key, be);
    be.probe();
  }
}

/** One backend device: backend/vif/<domid>/<handle> (netback's struct backend_info). */
export class VifBackend {
  /** set_backend_state's be->state. */
  state: number = XenbusState.Initialising;
  /** What was last written to our state node (the xenbus device's dev->state). */
  private xbState: number = XenbusState.Initialising;
  frontendState: number = XenbusState.Unknown;
  otherend = '';
  vif: NetbackVif | null = null;
  bridge: Bridge | null = null;
  /** hotplug-status as the vif-bridge step left it. */
  hotplugStatus: 'connected' | 'error' | null = null;
  /** The reason of the last xenbus_dev_fatal, if any. */
  lastError: string | null = null;
  private otherendWatched = false;
  private readonly watchToken: string;
  private removed = false;
  private pendingConnected = false;

  constructor(
    readonly driver: NetbackDriver,
    readonly key: string,
    readonly nodename: string,
    readonly frontendId: number,
    readonly handle: number,
  ) {
    this.watchToken = `netback/${key}/${++tokenSeq}`;
  }

  private get xs(): XenstoreHandle {
    return this.driver.xs;
  }

  private get logger(): ServiceLogger {
    return this.driver.logger;
  }

  get isRemoved(): boolean {
    return this.removed;
  }

  /** xenbus_dev_probe + netback_probe + the vif-bridge "online" step. */
  probe(): void {
    // xenbus_read_otherend_details.
    const feId = parseUnsigned(readOptional(this.xs, `${this.nodename}/frontend-id`), 0x7fef);
    const fe = readOptional(this.xs, `${this.nodename}/frontend`);
    if (feId === null || fe === null || fe === '' || feId !== this.frontendId) {
      this.devFatal('ENOENT', `reading other end details from ${this.nodename}`);
      return;
    }
    if (!exists(this.xs, fe)) {
      this.devFatal('ENOENT', `unable to read other end from ${this.nodename}.  missing or inaccessible.`);
      return;
    }
    this.otherend = fe;
    const dom = this.driver.opts.domain(feId);
    if (!dom) {
      this.devFatal('ENOENT', `frontend domain ${feId} does not exist`);
      return;
    }
    this.xs.watch(`${fe}/state`, this.watchToken, (path) => {
      if (path === `${this.otherend}/state`) this.driver.guard(`${this.nodename}: frontend state`, () => this.otherendChanged());
    });
    this.otherendWatched = true;

    try {
      inTransaction(this.xs, (tx) => {
        for (const [k, v] of NETBACK_FEATURES) this.xs.write(`${this.nodename}/${k}`, v, tx);
      }, `${this.nodename}: writing features`);
    } catch (e) {
      this.devFatal('EIO', `writing features: ${errorMessage(e)}`);
      return;
    }
    this.xs.write(`${this.nodename}/feature-split-event-channels`, '1');
    this.backendSwitchState(XenbusState.InitWait);

    const script = readOptional(this.xs, `${this.nodename}/script`);
    if (script === null) {
      this.devFatal('ENOENT', 'reading script');
      return;
    }
    // backend_create_xenvif.
    const handle = parseUnsigned(readOptional(this.xs, `${this.nodename}/handle`), 0x7fffffff);
    if (handle === null) {
      this.devFatal('EINVAL', 'reading handle');
      return;
    }
    const vifname = readOptional(this.xs, `${this.nodename}/vifname`);
    this.hotplugOnline(script, dom, `vif${this.frontendId}.${handle}`, vifname);
  }

  /** The vif-bridge "online" step: name the vif, put it on the bridge, report to xend. */
  private hotplugOnline(script: string, dom: FrontendDomain, defaultName: string, vifname: string | null): void {
    const base = script.slice(script.lastIndexOf('/') + 1);
    if (base !== VIF_BRIDGE_SCRIPT) {
      this.hotplugFail(`tsxen attaches vifs the way ${VIF_BRIDGE_SCRIPT} does; the hotplug script ${script} is not supported`);
      return;
    }
    let name = defaultName;
    if (vifname !== null && vifname !== '') {
      try {
        checkIfName(vifname, 'vif');
      } catch (e) {
        this.hotplugFail(errorMessage(e));
        return;
      }
      if (this.driver.nameInUse(vifname)) {
        this.hotplugFail(`Cannot rename interface ${defaultName}. An interface with name ${vifname} already exists.`);
        return;
      }
      name = vifname;
    } else if (this.driver.nameInUse(name)) {
      this.hotplugFail(`An interface with name ${name} already exists.`);
      return;
    }
    const bridges = this.driver.opts.bridges;
    const wanted = readOptional(this.xs, `${this.nodename}/bridge`);
    let bridge: Bridge | undefined;
    if (wanted === null || wanted === '') {
      // vif-bridge: `brctl show | awk 'NR==2{print$1}'`, the first bridge.
      bridge = bridges.list()[0];
      if (!bridge) {
        this.hotplugFail('Could not find bridge, and none was specified');
        return;
      }
    } else {
      bridge = bridges.get(wanted);
      if (!bridge) {
        this.hotplugFail(`Could not find bridge device ${wanted}`);
        return;
      }
    }
    const vif = new NetbackVif(name, dom, {
      logger: this.logger,
      now: this.driver.opts.now,
      onFatal: (reason) => this.driver.guard(`${this.nodename}: fatal`, () => this.devFatal('EIO', reason)),
    });
    try {
      bridge.attach(vif);
    } catch (e) {
      this.hotplugFail(`brctl addif ${bridge.name} ${name} failed: ${errorMessage(e)}`);
      return;
    }
    this.vif = vif;
    this.bridge = bridge;
    this.hotplugStatus = 'connected';
    this.xs.write(`${this.nodename}/hotplug-status`, 'connected');
    this.logger.info(`netback: ${name} (dom${this.frontendId} handle ${this.handle}) attached to ${bridge.name}`);
    if (this.pendingConnected) {
      this.pendingConnected = false;
      this.xenbusSwitchState(this.state);
    }
  }

  /** xen-hotplug-common.sh fatal(): hotplug-error, then hotplug-status=error. */
  private hotplugFail(msg: string): void {
    this.hotplugStatus = 'error';
    this.logger.error(`netback: ${this.nodename}: ${msg}`);
    this.xs.write(`${this.nodename}/hotplug-error`, msg);
    this.xs.write(`${this.nodename}/hotplug-status`, 'error');
  }

  private otherendChanged(): void {
    if (this.removed) return;
    // xenbus_read_driver_state: an absent or unreadable node is Unknown.
    const s = parseUnsigned(readOptional(this.xs, `${this.otherend}/state`)) ?? XenbusState.Unknown;
    this.frontendChanged(s);
  }

  /** netback's frontend_changed(). */
  frontendChanged(s: number): void {
    this.logger.debug(`netback: ${this.otherend} -> ${xenbusStateName(s)}`);
    this.frontendState = s;
    switch (s) {
      case XenbusState.Initialising:
        this.setBackendState(XenbusState.InitWait);
        break;
      case XenbusState.Initialised:
        break;
      case XenbusState.Connected:
        this.setBackendState(XenbusState.Connected);
        break;
      case XenbusState.Reconfiguring: {
        // Only XDP headroom is renegotiated this way, and it is not offered.
        const headroom = readUnsigned(this.xs, `${this.otherend}/xdp-headroom`, 0);
        if (headroom !== 0) {
          this.devFatal('EOPNOTSUPP', `frontend asked for ${headroom} bytes of XDP headroom; feature-xdp-headroom is not offered`);
          break;
        }
        this.xenbusSwitchState(XenbusState.Reconfigured);
        break;
      }
      case XenbusState.Closing:
        this.setBackendState(XenbusState.Closing);
        break;
      case XenbusState.Closed:
        this.setBackendState(XenbusState.Closed);
        if (this.isOnline()) break;
        this.remove('frontend closed and device offline');
        break;
      case XenbusState.Unknown:
        this.setBackendState(XenbusState.Closed);
        this.remove('frontend gone');
        break;
      default:
        this.devFatal('EINVAL', `saw state ${s} at frontend`);
        break;
    }
  }

  /** xenbus_dev_is_online. */
  private isOnline(): boolean {
    return readUnsigned(this.xs, `${this.nodename}/online`, 0) !== 0;
  }

  /** set_backend_state(): the shortest path through Linux's backend state graph. */
  private setBackendState(target: number): void {
    const S = XenbusState;
    for (let steps = 0; this.state !== target && !this.removed; steps++) {
      if (steps > 8) throw new Error(`set_backend_state ${xenbusStateName(this.state)} -> ${xenbusStateName(target)} does not converge`);
      switch (this.state) {
        case S.Initialising:
          if (target === S.Closed) this.backendSwitchState(S.Closed);
          else if (target === S.InitWait || target === S.Connected || target === S.Closing) this.backendSwitchState(S.InitWait);
          else return this.badTransition(target);
          break;
        case S.Closed:
          if (target === S.InitWait || target === S.Connected) this.backendSwitchState(S.InitWait);
          else if (target === S.Closing) this.backendSwitchState(S.Closing);
          else return this.badTransition(target);
          break;
        case S.InitWait:
          if (target === S.Connected) {
            if (!this.backendConnect()) {
              this.state = this.xbState;
              return;
            }
            this.backendSwitchState(S.Connected);
          } else if (target === S.Closing || target === S.Closed) this.backendSwitchState(S.Closing);
          else return this.badTransition(target);
          break;
        case S.Connected:
          if (target === S.InitWait || target === S.Closing || target === S.Closed) {
            this.vif?.disconnect();
            this.backendSwitchState(S.Closing);
          } else return this.badTransition(target);
          break;
        case S.Closing:
          if (target === S.InitWait || target === S.Connected || target === S.Closed) this.backendSwitchState(S.Closed);
          else return this.badTransition(target);
          break;
        default:
          return this.badTransition(target);
      }
    }
  }

  private badTransition(target: number): void {
    this.logger.error(`netback: ${this.nodename}: no backend transition ${xenbusStateName(this.state)} -> ${xenbusStateName(target)}`);
  }

  /** backend_switch_state: Connected waits for the hotplug step, as Linux waits for hotplug-status. */
  private backendSwitchState(s: number): void {
    this.state = s;
    if (s === XenbusState.Connected && this.hotplugStatus !== 'connected') {
      this.pendingConnected = true;
      this.logger.warn(`netback: ${this.nodename}: not going Connected until the vif is on a bridge (hotplug-status ${this.hotplugStatus ?? 'unset'})`);
      return;
    }
    this.xenbusSwitchState(s);
  }

  /**
   * __xenbus_switch_state: write our state unless it is already that, and never re-create a
   * removed device directory.
   */
  private xenbusSwitchState(s: number): void {
    if (s === this.xbState) return;
    for (let tries = 0; tries < 100; tries++) {
      const tx = this.xs.transactionStart();
      let abort = true;
      try {
        if (readOptional(this.xs, `${this.nodename}/state`, tx) !== null) {
          this.xs.write(`${this.nodename}/state`, String(s), tx);
          abort = false;
        }
      } finally {
        if (abort) this.endQuietly(tx);
      }
      if (abort) return;
      try {
        this.xs.transactionEnd(tx, true);
        this.xbState = s;
        this.logger.debug(`netback: ${this.nodename} -> ${xenbusStateName(s)}`);
        return;
      } catch (e) {
        if (xsErrno(e) !== 'EAGAIN') throw e;
      }
    }
    this.logger.error(`netback: ${this.nodename}: could not write state ${s}: transactions kept conflicting`);
  }

  private endQuietly(tx: number): void {
    try {
      this.xs.transactionEnd(tx, false);
    } catch {
      // Already ended; nothing to undo.
    }
  }

  /** xenbus_dev_fatal: error node, log, state Closing. */
  devFatal(errno: string, msg: string): void {
    const text = `${ERRNO[errno] ?? 5} ${msg}`;
    this.lastError = msg;
    this.logger.error(`netback: ${this.nodename}: ${text}`);
    const rel = this.nodename.replace(/^\/local\/domain\/\d+\//, '');
    try {
      this.xs.write(`/local/domain/${this.driver.backendDomid}/error/${rel}/error`, text);
    } catch (e) {
      this.logger.warn(`netback: ${this.nodename}: writing the error node: ${errorMessage(e)}`);
    }
    this.xenbusSwitchState(XenbusState.Closing);
  }

  /** netback's connect(): read what the frontend wrote, map rings, bind event channels. */
  private backendConnect(): boolean {
    const vif = this.vif;
    if (!vif) {
      this.devFatal('ENODEV', 'no vif to connect (the hotplug step failed)');
      return false;
    }
    const fe = this.otherend;
    const queues = readUnsigned(this.xs, `${fe}/multi-queue-num-queues`, 1);
    if (queues !== 1) {
      this.devFatal('EINVAL', `guest requested ${queues} queues, but valid range is 1 - 1.`);
      return false;
    }
    const macText = readOptional(this.xs, `${this.nodename}/mac`);
    try {
      if (macText === null) throw new Error('missing');
      parseMac(macText);
    } catch {
      this.devFatal('ENOENT', `parsing ${this.nodename}/mac`);
      return false;
    }
    const rate = this.readRate();

    // read_xenbus_vif_flags.
    const rxCopy = readOptional(this.xs, `${fe}/request-rx-copy`);
    const rxCopyVal = rxCopy === null ? 0 : parseUnsigned(rxCopy);
    if (rxCopyVal === null) {
      this.devFatal('EINVAL', `reading ${fe}/request-rx-copy`);
      return false;
    }
    if (rxCopyVal === 0) {
      this.devFatal('EOPNOTSUPP', 'frontend does not request rx-copy; the rx-flip path is not supported');
      return false;
    }
    if (readUnsigned(this.xs, `${fe}/feature-rx-notify`, 0) === 0) {
      this.devFatal('EOPNOTSUPP', 'frontend lacks feature-rx-notify; polling for rx buffers is not implemented');
      return false;
    }
    const canSg = readUnsigned(this.xs, `${fe}/feature-sg`, 0) !== 0;
    const headroom = readUnsigned(this.xs, `${fe}/xdp-headroom`, 0);
    if (headroom !== 0) {
      this.devFatal('EOPNOTSUPP', `frontend asked for ${headroom} bytes of XDP headroom; feature-xdp-headroom is not offered`);
      return false;
    }
    if (readOptional(this.xs, `${fe}/ctrl-ring-ref`) !== null) {
      this.logger.warn(`netback: ${fe} offers a control ring; feature-ctrl-ring is not offered, ignoring it`);
    }

    // connect_data_rings.
    const txRef = parseUnsigned(readOptional(this.xs, `${fe}/tx-ring-ref`));
    const rxRef = parseUnsigned(readOptional(this.xs, `${fe}/rx-ring-ref`));
    if (txRef === null || rxRef === null) {
      this.devFatal('ENOENT', `reading ${fe}/ring-ref`);
      return false;
    }
    let txEvt = parseUnsigned(readOptional(this.xs, `${fe}/event-channel-tx`));
    let rxEvt = parseUnsigned(readOptional(this.xs, `${fe}/event-channel-rx`));
    if (txEvt === null || rxEvt === null) {
      txEvt = parseUnsigned(readOptional(this.xs, `${fe}/event-channel`));
      rxEvt = txEvt;
      if (txEvt === null) {
        this.devFatal('ENOENT', `reading ${fe}/event-channel(-tx/rx)`);
        return false;
      }
    }
    try {
      vif.connect({ txRingRef: txRef, rxRingRef: rxRef, txEvtchn: txEvt, rxEvtchn: rxEvt!, canSg, rate });
    } catch (e) {
      if (!(e instanceof NetbackError)) throw e;
      this.devFatal(e.errno, `mapping shared-frames ${txRef}/${rxRef} port tx ${txEvt} rx ${rxEvt}: ${e.message}`);
      return false;
    }
    return true;
  }

  /** xen_net_read_rate: "bytes,usecs"; unreadable means unlimited. */
  private readRate(): VifRate | null {
    const s = readOptional(this.xs, `${this.nodename}/rate`);
    if (s === null) return null;
    const m = /^([0-9]+),([0-9]+)$/.exec(s);
    if (!m) {
      this.logger.warn(`netback: ${this.nodename}: Failed to parse network rate limit. Traffic unlimited.`);
      return null;
    }
    const bytes = Number(m[1]);
    const usecs = Number(m[2]);
    return usecs === 0 || !Number.isSafeInteger(bytes) || !Number.isSafeInteger(usecs) ? null : { bytesPerInterval: bytes, intervalUsecs: usecs };
  }

  /** netback_remove + vif-bridge "offline": the device goes away. */
  remove(reason: string): void {
    if (this.removed) return;
    this.removed = true;
    this.logger.info(`netback: removing ${this.nodename}: ${reason}`);
    if (this.otherendWatched) {
      try {
        this.xs.unwatch(`${this.otherend}/state`, this.watchToken);
      } catch (e) {
        this.logger.warn(`netback: unwatch ${this.otherend}/state: ${errorMessage(e)}`);
      }
    }
    try {
      rmQuiet(this.xs, `${this.nodename}/hotplug-status`);
    } catch (e) {
      this.logger.warn(`netback: ${this.nodename}: removing hotplug-status: ${errorMessage(e)}`);
    }
    if (this.vif) {
      this.vif.disconnect();
      this.vif.bridgePort?.detach();
    }
    this.driver.forget(this);
  }
}
