// Software Ethernet bridges (xenbr0 …), inside the process: each is a learning switch with
// the behaviour of Linux's bridge (net/bridge/br_input.c, br_fdb.c, br_forward.c) that the
// vif-bridge hotplug script attached vifs to: source addresses are learned per port and age
// out after 300 s (BR_DEFAULT_AGEING_TIME); broadcast, multicast and unknown unicast are
// flooded to every other port; frames with an invalid source address are dropped; 802.1D
// link-local frames (01:80:c2:00:00:0X) are not forwarded; a frame bigger than the egress
// port's MTU is dropped there (is_skb_forwardable). No traffic ever leaves the process.
//
// Frames are immutable once handed to a bridge: the same bytes may go to several ports.

import { isMulticastMac, isZeroMac, macToString, ETH_HLEN, ETHERTYPE_VLAN, readU16 } from './inet.js';
import { silentLogger, type ServiceLogger } from '../logger.js';
import { PcapWriter } from './pcap.js';
import { errorMessage } from '../../hypervisor/errors.js';

/** A device that can be a bridge port: vifs and dom0's interface. */
export interface BridgePortDevice {
  readonly name: string;
  /** Largest payload (Ethernet frame minus its 14-byte header) the device takes. */
  readonly mtu: number;
  /** The bridge hands the device a frame (egress). Must not modify it. */
  transmit(frame: Uint8Array): void;
  /** Called when the device is attached / detached, with the port to send frames through. */
  attached?(port: BridgePort | null): void;
}

export interface PortStats {
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  /** Frames from this port the bridge refused (runts, invalid source, link-local). */
  rxDropped: number;
  /** Frames for this port dropped (too big for its MTU, or the device threw). */
  txDropped: number;
}

export class BridgePort {
  readonly stats: PortStats = { rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0, rxDropped: 0, txDropped: 0 };
  private live = true;

  constructor(
    readonly bridge: Bridge,
    readonly device: BridgePortDevice,
  ) {}

  get name(): string {
    return this.device.name;
  }

  get attached(): boolean {
    return this.live;
  }

  /** A frame arrives from the device into the bridge (ingress). */
  input(frame: Uint8Array): void {
    if (!this.live) return;
    this.bridge.input(this, frame);
  }

  detach(): void {
    if (!this.live) return;
    this.bridge.detach(this);
  }

  /** @internal */
  markDetached(): void {
    this.live = false;
  }
}

export interface FdbEntry {
  readonly mac: string;
  readonly port: string;
  /** Milliseconds since the address was last seen. */
  readonly ageMs: number;
}

export interface BridgeOptions {
  logger?: ServiceLogger;
  /** Ageing time of learned addresses in ms (Linux's default 300 s). */
  ageingTimeMs?: number;
  /** Clock in ms (tests inject one). */
  now?: () => number;
  /** Most learned addresses kept; beyond it new ones are flooded, not learned. */
  maxFdbEntries?: number;
}

export const BR_DEFAULT_AGEING_TIME_MS = 300_000;
const DEFAULT_MAX_FDB = 4096;

/** Linux interface names: 1..15 bytes (IFNAMSIZ-1), no '/', ':' or blanks, not '.' or '..'. */
export function checkIfName(name: string, what: string): void {
  if (name.length === 0 || Buffer.byteLength(name) > 15 || /[/\s:]/.test(name) || name === '.' || name === '..') {
    throw new Error(`invalid ${what} name '${name}' (a Linux interface name: 1-15 characters, no '/', ':' or blanks)`);
  }
}

export class Bridge {
  readonly ageingTimeMs: number;
  private readonly portList: BridgePort[] = [];
  private readonly fdbTable = new Map<string, { port: BridgePort; seen: number }>();
  private readonly logger: ServiceLogger;
  private readonly now: () => number;
  /** Capture timestamps: the injected clock, else the microsecond-resolution wall clock. */
  private readonly captureNow: () => number;
  private readonly maxFdb: number;
  private readonly backlog: Array<[BridgePort, Uint8Array]> = [];
  private draining = false;
  private capture: PcapWriter | null = null;
  /** Frames not forwarded anywhere because they were link-local. */
  linkLocalDropped = 0;

  constructor(
    readonly name: string,
    opts: BridgeOptions = {},
  ) {
    checkIfName(name, 'bridge');
    this.logger = opts.logger ?? silentLogger;
    this.now = opts.now ?? Date.now;
    this.captureNow = opts.now ?? (() => performance.timeOrigin + performance.now());
    this.ageingTimeMs = opts.ageingTimeMs ?? BR_DEFAULT_AGEING_TIME_MS;
    this.maxFdb = opts.maxFdbEntries ?? DEFAULT_MAX_FDB;
    if (!(this.ageingTimeMs >= 0)) throw new RangeError(`bridge ${name}: bad ageing time ${this.ageingTimeMs}`);
  }

  get ports(): readonly BridgePort[] {
    return this.portList;
  }

  port(name: string): BridgePort | undefined {
    return this.portList.find((p) => p.name === name);
  }

  /** brctl addif. */
  attach(device: BridgePortDevice): BridgePort {
    checkIfName(device.name, 'interface');
    if (this.port(device.name)) throw new Error(`device ${device.name} is already a member of bridge ${this.name}`);
    if (!(Number.isInteger(device.mtu) && device.mtu >= 68 && device.mtu <= 65535)) {
      throw new RangeError(`device ${device.name} has an invalid MTU ${device.mtu}`);
    }
    const port = new BridgePort(this, device);
    this.portList.push(port);
    device.attached?.(port);
    this.logger.info(`${this.name}: port ${device.name} entered forwarding state`);
    return port;
  }

  /** brctl delif: the port's learned addresses go with it. */
  detach(port: BridgePort): void {
    const i = this.portList.indexOf(port);
    if (i < 0) return;
    this.portList.splice(i, 1);
    port.markDetached();
    for (const [mac, e] of this.fdbTable) if (e.port === port) this.fdbTable.delete(mac);
    port.device.attached?.(null);
    this.logger.info(`${this.name}: port ${port.name} entered disabled state`);
  }

  /** brctl showmacs: learned addresses that have not aged out. */
  fdb(): FdbEntry[] {
    const now = this.now();
    const out: FdbEntry[] = [];
    for (const [mac, e] of this.fdbTable) {
      const age = now - e.seen;
      if (age > this.ageingTimeMs) this.fdbTable.delete(mac);
      else out.push({ mac, port: e.port.name, ageMs: age });
    }
    return out.sort((a, b) => (a.mac < b.mac ? -1 : a.mac > b.mac ? 1 : 0));
  }

  /** Starts writing every frame entering the bridge to a pcap file (what `tcpdump -i NAME` would see). */
  startCapture(path: string, snaplen?: number): void {
    if (this.capture) throw new Error(`bridge ${this.name} is already capturing to ${this.capture.path}`);
    this.capture = new PcapWriter(path, snaplen);
    this.logger.info(`${this.name}: capturing to ${path}`);
  }

  /** Stops the capture; returns the number of frames written. */
  stopCapture(): number {
    const c = this.capture;
    if (!c) return 0;
    this.capture = null;
    c.close();
    this.logger.info(`${this.name}: capture to ${c.path} stopped after ${c.packets} frames`);
    return c.packets;
  }

  get capturing(): string | null {
    return this.capture?.path ?? null;
  }

  /**
   * A frame from `port`. Frames a device sends while the bridge is forwarding (dom0's
   * interface answering inside transmit) queue behind the current one, as a softirq backlog.
   */
  input(port: BridgePort, frame: Uint8Array): void {
    this.backlog.push([port, frame]);
    if (this.draining) return;
    this.draining = true;
    try {
      for (let item = this.backlog.shift(); item; item = this.backlog.shift()) this.handle(item[0], item[1]);
    } finally {
      this.draining = false;
    }
  }

  private handle(port: BridgePort, frame: Uint8Array): void {
    if (!port.attached) return;
    if (frame.length < ETH_HLEN) {
      port.stats.rxDropped++;
      this.logger.debug(`${this.name}: dropped a ${frame.length}-byte runt from ${port.name}`);
      return;
    }
    // br_handle_frame: is_valid_ether_addr(h_source).
    if (isMulticastMac(frame, 6) || isZeroMac(frame, 6)) {
      port.stats.rxDropped++;
      this.logger.debug(`${this.name}: dropped a frame from ${port.name} with invalid source ${macToString(frame, 6)}`);
      return;
    }
    port.stats.rxFrames++;
    port.stats.rxBytes += frame.length;
    this.record(frame);
    this.learn(macToString(frame, 6), port);

    if (frame[0] === 0x01 && frame[1] === 0x80 && frame[2] === 0xc2 && frame[3] === 0 && frame[4] === 0 && (frame[5]! & 0xf0) === 0) {
      this.linkLocalDropped++;
      return;
    }
    if (isMulticastMac(frame, 0)) {
      this.flood(port, frame);
      return;
    }
    const dst = this.lookup(macToString(frame, 0));
    if (!dst) this.flood(port, frame);
    else if (dst !== port) this.deliver(dst, frame);
    // else: the destination sits behind the port it came from; a bridge filters it.
  }

  private record(frame: Uint8Array): void {
    if (!this.capture) return;
    try {
      this.capture.write(frame, this.captureNow());
    } catch (e) {
      const path = this.capture.path;
      this.capture.close();
      this.capture = null;
      this.logger.error(`${this.name}: capture to ${path} stopped: ${errorMessage(e)}`);
    }
  }

  private learn(mac: string, port: BridgePort): void {
    const e = this.fdbTable.get(mac);
    if (e) {
      if (e.port !== port) this.logger.debug(`${this.name}: ${mac} moved from ${e.port.name} to ${port.name}`);
      e.port = port;
      e.seen = this.now();
      return;
    }
    if (this.fdbTable.size >= this.maxFdb) {
      const now = this.now();
      for (const [m, x] of this.fdbTable) if (now - x.seen > this.ageingTimeMs) this.fdbTable.delete(m);
      if (this.fdbTable.size >= this.maxFdb) return;
    }
    this.fdbTable.set(mac, { port, seen: this.now() });
  }

  private lookup(mac: string): BridgePort | undefined {
    const e = this.fdbTable.get(mac);
    if (!e) return undefined;
    if (this.now() - e.seen > this.ageingTimeMs) {
      this.fdbTable.delete(mac);
      return undefined;
    }
    return e.port;
  }

  private flood(from: BridgePort, frame: Uint8Array): void {
    for (const p of [...this.portList]) if (p !== from) this.deliver(p, frame);
  }

  private deliver(port: BridgePort, frame: Uint8Array): void {
    const vlan = frame.length >= ETH_HLEN && readU16(frame, 12) === ETHERTYPE_VLAN ? 4 : 0;
    if (frame.length - ETH_HLEN - vlan > port.device.mtu) {
      port.stats.txDropped++;
      this.logger.debug(`${this.name}: dropped a ${frame.length}-byte frame for ${port.name} (MTU ${port.device.mtu})`);
      return;
    }
    port.stats.txFrames++;
    port.stats.txBytes += frame.length;
    try {
      port.device.transmit(frame);
    } catch (e) {
      port.stats.txDropped++;
      this.logger.error(`${this.name}: port ${port.name} failed to take a frame: ${errorMessage(e)}`);
    }
  }
}

/** The host's bridges by name; xend creates xenbr0 at start, as network-bridge did. */
export class Bridges {
  private readonly map = new Map<string, Bridge>();

  constructor(private readonly opts: BridgeOptions = {}) {}

  /** brctl addbr. */
  create(name: string, opts: BridgeOptions = {}): Bridge {
    if (this.map.has(name)) throw new Error(`bridge ${name} already exists`);
    const b = new Bridge(name, { ...this.opts, ...opts });
    this.map.set(name, b);
    return b;
  }

  get(name: string): Bridge | undefined {
    return this.map.get(name);
  }

  /** Bridges in the order `brctl show` lists them (by name). */
  list(): Bridge[] {
    return [...this.map.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** brctl delbr; refused while ports remain, since their vifs would be left on no bridge. */
  remove(name: string): void {
    const b = this.map.get(name);
    if (!b) throw new Error(`bridge ${name} does not exist`);
    if (b.ports.length > 0) throw new Error(`bridge ${name} still has ports: ${b.ports.map((p) => p.name).join(', ')}`);
    b.stopCapture();
    this.map.delete(name);
  }
}
