// dom0 as the tests need it: a real xenstored with xend's privileged handle, the host network
// (xenbr0 with dom0's 172.16.31.1), the netback driver watching the backend directory, and
// guests introduced the way xend introduces them, each with a netfront player.

import { Xenstored, type XsHandle } from '../../../src/dom0/xenstored/index.js';
import { createHostNetwork, NetbackDriver, createVifDevice, type HostNetwork, type VifDeviceConfig, type VifDevice } from '../../../src/devices/net/index.js';
import type { ServiceLogger } from '../../../src/devices/logger.js';
import { GuestDomain, GuestXenbus } from './guest.js';
import { NetfrontPlayer } from './netfront.js';

export class MemLogger implements ServiceLogger {
  readonly lines: string[] = [];
  debug(m: string): void { this.lines.push(`debug: ${m}`); }
  info(m: string): void { this.lines.push(`info: ${m}`); }
  warn(m: string): void { this.lines.push(`warn: ${m}`); }
  error(m: string): void { this.lines.push(`error: ${m}`); }
  has(re: RegExp): boolean { return this.lines.some((l) => re.test(l)); }
}

export const defaultVif: VifDeviceConfig = {
  type: 'netfront', mac: null, bridge: null, ip: [], script: null, vifname: null, rate: null, model: null, backend: null, accel: null,
};

export interface Guest {
  dom: GuestDomain;
  xb: GuestXenbus;
  vmPath: string;
  name: string;
}

export class Host {
  readonly xenstored = new Xenstored();
  readonly xs: XsHandle = this.xenstored.openHandle();
  readonly log = new MemLogger();
  readonly net: HostNetwork;
  readonly domains = new Map<number, GuestDomain>();
  readonly driver: NetbackDriver;

  constructor(now?: () => number) {
    this.net = createHostNetwork({ logger: this.log, now });
    this.driver = new NetbackDriver({ xs: this.xs, domain: (id) => this.domains.get(id), bridges: this.net.bridges, logger: this.log, now });
    this.driver.start();
  }

  get xenbr0() {
    return this.net.bridges.get('xenbr0')!;
  }

  /** What xend does before devices: the domain's xenstore home and its /vm record, then INTRODUCE. */
  guest(domid: number, name = `guest${domid}`): Guest {
    const dom = new GuestDomain(domid);
    this.domains.set(domid, dom);
    const home = `/local/domain/${domid}`;
    this.xs.mkdir(home);
    this.xs.setPerms(home, [`n${domid}`]);
    this.xs.write(`${home}/name`, name);
    const vmPath = `/vm/00000000-0000-0000-0000-${String(domid).padStart(12, '0')}`;
    this.xs.mkdir(vmPath);
    this.xs.write(`${home}/vm`, vmPath);
    const xb = new GuestXenbus(this.xenstored, dom);
    return { dom, xb, vmPath, name };
  }

  addVif(g: Guest, cfg: Partial<VifDeviceConfig> = {}): VifDevice {
    return createVifDevice(this.xs, { ...defaultVif, ...cfg }, { domid: g.dom.domid, domName: g.name, vmPath: g.vmPath });
  }

  /** A guest with one vif whose netfront has probed (the handshake then runs by itself). */
  netfront(domid: number, cfg: Partial<VifDeviceConfig> = {}, opts: { split?: boolean } = {}): { g: Guest; nf: NetfrontPlayer; dev: VifDevice } {
    const g = this.guest(domid);
    const dev = this.addVif(g, cfg);
    const nf = new NetfrontPlayer(g.dom, g.xb, { devid: dev.devid, split: opts.split });
    nf.probe();
    return { g, nf, dev };
  }

  read(path: string): string | null {
    try {
      return this.xs.readString(path);
    } catch {
      return null;
    }
  }
}
