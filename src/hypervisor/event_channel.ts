// Event channels, 2-level ABI (xen/common/event_channel.c, event_2l.c): ports, their bindings,
// and the pending/mask bitmaps in shared_info. FIFO is not offered (EVTCHNOP_init_control
// answers -ENOSYS and Linux falls back to 2-level).

import { shared_info, vcpu_info } from './abi/xen.js';
import { PAGE_SIZE, type DomainMemory } from './domain_memory.js';
import { EEXIST, EINVAL, ENOSPC, ENOENT } from './errno.js';
import { Offer } from './domain_control.js';
import type { Vcpu } from './vcpu.js';

/** 64 words x 64 bits (2-level ABI on 64-bit guests). */
export const NR_EVENT_CHANNELS = 4096;

export const enum PortState {
  Free = 0,
  Reserved,
  Unbound,
  Interdomain,
  Pirq,
  Virq,
  Ipi,
}

export interface Port {
  state: PortState;
  /** vCPU notified when this port becomes pending. */
  vcpu: number;
  /** Unbound: domain allowed to bind; Interdomain: the remote domain and port. */
  remoteDom: number;
  remotePort: number;
  virq: number;
}

export interface EventHost {
  /** Wake a vCPU that may be blocked (an event became pending for it). */
  kick(v: Vcpu): void;
  /** The guest sent on interdomain port `port` whose other end is in another domain (dom0). */
  sendRemote(port: number, remoteDom: number, remotePort: number): void;
}

export class EventChannels {
  readonly ports: Port[] = [];
  /** virq -> port, per vCPU. */
  readonly virqPort: number[][] = [];
  private readonly pendingOff: number;
  private readonly maskOff: number;

  constructor(
    readonly domid: number,
    readonly mem: DomainMemory,
    readonly vcpus: Vcpu[],
    private readonly host: EventHost,
  ) {
    const base = mem.layout.sharedInfoMfn * PAGE_SIZE;
    this.pendingOff = base + shared_info.fields.evtchn_pending.offset;
    this.maskOff = base + shared_info.fields.evtchn_mask.offset;
    this.ports.push({ state: PortState.Reserved, vcpu: 0, remoteDom: 0, remotePort: 0, virq: 0 });
  }

  private bit(off: number, port: number): boolean {
    return (this.mem.ram[off + (port >> 3)] & (1 << (port & 7))) !== 0;
  }
  private setBit(off: number, port: number, on: boolean): boolean {
    const i = off + (port >> 3);
    const m = 1 << (port & 7);
    const was = (this.mem.ram[i] & m) !== 0;
    if (on) this.mem.ram[i] |= m;
    else this.mem.ram[i] &= ~m;
    return was;
  }

  isPending(port: number): boolean {
    return this.bit(this.pendingOff, port);
  }
  isMasked(port: number): boolean {
    return this.bit(this.maskOff, port);
  }

  valid(port: number): boolean {
    return Number.isInteger(port) && port > 0 && port < this.ports.length && this.ports[port].state !== PortState.Free;
  }

  /** get_free_port. */
  alloc(): number {
    for (let p = 1; p < this.ports.length; p++) if (this.ports[p].state === PortState.Free) return p;
    if (this.ports.length >= NR_EVENT_CHANNELS) return -ENOSPC;
    this.ports.push({ state: PortState.Free, vcpu: 0, remoteDom: 0, remotePort: 0, virq: 0 });
    return this.ports.length - 1;
  }

  allocUnbound(remoteDom: number): number {
    const p = this.alloc();
    if (p < 0) return p;
    Object.assign(this.ports[p], { state: PortState.Unbound, vcpu: 0, remoteDom, remotePort: 0, virq: 0 });
    // dom0 runs on another thread: it binds by claiming the offer (DomainControl.claim).
    if (remoteDom === 0) this.mem.ctl.setOffer(p, Offer.Unbound);
    return p;
  }

  /**
   * dom0 claimed our unbound port: connect it. dom0 keys its end by our port number, so that is
   * also the remote port EVTCHNOP_status reports.
   */
  connectClaimed(port: number): void {
    if (!this.valid(port)) return;
    const e = this.ports[port];
    if (e.state !== PortState.Unbound || e.remoteDom !== 0) return;
    e.state = PortState.Interdomain;
    e.remotePort = port;
  }

  /** Bind a local port to a remote domain's port (the other side is kept by the caller). */
  bindInterdomain(remoteDom: number, remotePort: number): number {
    const p = this.alloc();
    if (p < 0) return p;
    Object.assign(this.ports[p], { state: PortState.Interdomain, vcpu: 0, remoteDom, remotePort, virq: 0 });
    return p;
  }

  /** The remote end connected to our unbound port: it becomes interdomain. */
  connectUnbound(port: number, remoteDom: number, remotePort: number): number {
    if (!this.valid(port)) return -EINVAL;
    const e = this.ports[port];
    if (e.state !== PortState.Unbound || e.remoteDom !== remoteDom) return -EINVAL;
    e.state = PortState.Interdomain;
    e.remotePort = remotePort;
    if (remoteDom === 0) this.mem.ctl.setOffer(port, Offer.None);
    return 0;
  }

  bindVirq(virq: number, vcpu: number): number {
    if (vcpu < 0 || vcpu >= this.vcpus.length) return -ENOENT;
    const table = (this.virqPort[vcpu] ??= []);
    if (table[virq]) return -EEXIST;
    const p = this.alloc();
    if (p < 0) return p;
    Object.assign(this.ports[p], { state: PortState.Virq, vcpu, remoteDom: 0, remotePort: 0, virq });
    table[virq] = p;
    return p;
  }

  bindIpi(vcpu: number): number {
    if (vcpu < 0 || vcpu >= this.vcpus.length) return -ENOENT;
    const p = this.alloc();
    if (p < 0) return p;
    Object.assign(this.ports[p], { state: PortState.Ipi, vcpu, remoteDom: 0, remotePort: 0, virq: 0 });
    return p;
  }

  close(port: number): number {
    if (!this.valid(port)) return -EINVAL;
    const e = this.ports[port];
    if (e.state === PortState.Reserved) return -EINVAL;
    if (e.state === PortState.Virq) {
      const t = this.virqPort[e.vcpu];
      if (t) t[e.virq] = 0;
    }
    Object.assign(e, { state: PortState.Free, vcpu: 0, remoteDom: 0, remotePort: 0, virq: 0 });
    this.mem.ctl.setOffer(port, Offer.None);
    this.setBit(this.pendingOff, port, false);
    return 0;
  }

  bindVcpu(port: number, vcpu: number): number {
    if (!this.valid(port)) return -ENOENT;
    if (vcpu < 0 || vcpu >= this.vcpus.length) return -ENOENT;
    const e = this.ports[port];
    if (e.state === PortState.Virq && e.virq !== 0 /* only global virqs move */) return -EINVAL;
    if (e.state === PortState.Ipi) return -EINVAL;
    e.vcpu = vcpu;
    return 0;
  }

  /** EVTCHNOP_send from the guest. */
  send(port: number): number {
    if (!this.valid(port)) return -EINVAL;
    const e = this.ports[port];
    switch (e.state) {
      case PortState.Interdomain:
        if (e.remoteDom === this.domid) this.setPending(e.remotePort);
        else this.host.sendRemote(port, e.remoteDom, e.remotePort);
        return 0;
      case PortState.Ipi:
        this.setPending(port);
        return 0;
      case PortState.Unbound:
        // dom0 may have bound it since the worker last looked: connect now so nothing is lost.
        if (e.remoteDom === 0 && this.mem.ctl.takeClaim(port)) {
          this.connectClaimed(port);
          this.host.sendRemote(port, 0, port);
        }
        return 0; // otherwise silently dropped, as Xen does
      default:
        return -EINVAL;
    }
  }

  sendVirq(vcpu: number, virq: number): void {
    const p = this.virqPort[vcpu]?.[virq];
    if (p) this.setPending(p);
  }

  /** evtchn_2l_set_pending. */
  setPending(port: number): void {
    if (!this.valid(port)) return;
    if (this.setBit(this.pendingOff, port, true)) return;
    const v = this.vcpus[this.ports[port].vcpu];
    if (!this.isMasked(port)) this.markSelected(v, port);
    // A vCPU polling this port wakes even if it is masked (SCHEDOP_poll).
    if (v.pollPorts.includes(port)) this.host.kick(v);
  }

  /** evtchn_2l_unmask. */
  unmask(port: number): number {
    if (!this.valid(port)) return -EINVAL;
    this.setBit(this.maskOff, port, false);
    if (this.isPending(port)) this.markSelected(this.vcpus[this.ports[port].vcpu], port);
    return 0;
  }

  private markSelected(v: Vcpu, port: number): void {
    const selOff = v.vcpuInfoOff + vcpu_info.fields.evtchn_pending_sel.offset;
    const word = port >> 6;
    const o = selOff + (word >> 3);
    const m = 1 << (word & 7);
    if (this.mem.ram[o] & m) return;
    this.mem.ram[o] |= m;
    v.upcallPending = 1;
    this.host.kick(v);
  }

  status(port: number): { state: PortState; port: Port } | number {
    if (!Number.isInteger(port) || port < 0 || port >= NR_EVENT_CHANNELS) return -EINVAL;
    if (port >= this.ports.length) return { state: PortState.Free, port: { state: PortState.Free, vcpu: 0, remoteDom: 0, remotePort: 0, virq: 0 } };
    return { state: this.ports[port].state, port: this.ports[port] };
  }
}
