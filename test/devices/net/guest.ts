// The guest side that a netfront needs underneath it, played in-process: the domain's memory
// and v1 grant table (written as Linux's drivers/xen/grant-table.c writes entries), its
// event channels (an unbound port offered to dom0, bound by the backend, notifications
// delivered asynchronously as they would be across threads), and its xenstore connection over
// the real shared ring on one of its own pages (drivers/xen/xenbus/xenbus_comms.c order:
// payload, then producer index), so every xenstore access runs under the guest's permissions.

import type { EventChannelEnd, FrontendDomain } from '../../../src/hypervisor/frontend_domain.js';
import { GTF, grant_entry_v1 } from '../../../src/hypervisor/abi/xen.js';
import { DomainMemory, PAGE_SIZE } from '../../../src/hypervisor/domain_memory.js';
import { GrantTable } from '../../../src/hypervisor/grant_table.js';
import type { Xenstored } from '../../../src/dom0/xenstored/index.js';
import {
  encodeMessage, joinStrings, MessageReader, splitStrings, XENSTORE_RING_SIZE, XS_RING_REQ, XS_RING_REQ_CONS, XS_RING_RSP,
  XsType,
} from '../../../src/dom0/xenstored/index.js';

/** GNTTAB_NR_RESERVED_ENTRIES: Linux leaves the first refs to the toolstack (console, xenstore). */
const GNTTAB_NR_RESERVED_ENTRIES = 8;

interface Port {
  remoteDom: number;
  state: 'unbound' | 'bound' | 'closed';
  /** The backend's handler (dom0 side), once bound. */
  backend: (() => void) | null;
  /** The guest's irq handler. */
  guest: (() => void) | null;
}

export class GuestDomain implements FrontendDomain {
  readonly mem: DomainMemory;
  readonly grants: GrantTable;
  private readonly freePages: number[] = [];
  private nextPfn = 16;
  private readonly freeRefs: number[] = [];
  private nextRef = GNTTAB_NR_RESERVED_ENTRIES;
  private readonly ports = new Map<number, Port>();
  private nextPort = 1;
  private nextDom0Port = 100;
  /** EVTCHNOP_send from dom0, per guest port. */
  readonly notificationsFromBackend = new Map<number, number>();
  private readonly u16: Uint16Array;
  private readonly dv: DataView;

  constructor(
    readonly domid: number,
    nrPages = 1024,
    grantFrames = 4,
  ) {
    this.mem = new DomainMemory(nrPages);
    this.grants = new GrantTable(this.mem);
    // GNTTABOP_setup_table.
    this.grants.nrFrames = grantFrames;
    this.u16 = new Uint16Array(this.mem.sab);
    this.dv = new DataView(this.mem.sab);
  }

  allocPage(): number {
    const pfn = this.freePages.pop() ?? this.nextPfn++;
    if (pfn >= this.mem.nrPages) throw new Error(`dom${this.domid}: out of pages`);
    this.page(pfn).fill(0);
    return pfn;
  }

  freePage(pfn: number): void {
    this.freePages.push(pfn);
  }

  page(pfn: number): Uint8Array {
    return this.mem.ram.subarray(pfn * PAGE_SIZE, (pfn + 1) * PAGE_SIZE);
  }

  private entry(ref: number): number {
    return this.mem.layout.grantMfnBase * PAGE_SIZE + ref * grant_entry_v1.size;
  }

  /** gnttab_grant_foreign_access_ref (v1): domid and frame first, then the flags after a barrier. */
  grantAccess(domid: number, pfn: number, readonly: boolean): number {
    const ref = this.freeRefs.pop() ?? this.nextRef++;
    if (ref >= this.grants.nrEntries) throw new Error(`dom${this.domid}: out of grant references`);
    this.writeGrant(ref, domid, pfn, GTF.permit_access | (readonly ? GTF.readonly : 0));
    return ref;
  }

  /** Writes an arbitrary entry (hostile tests). */
  writeGrant(ref: number, domid: number, frame: number, flags: number): void {
    const o = this.entry(ref);
    this.dv.setUint16(o + grant_entry_v1.fields.domid.offset, domid, true);
    this.dv.setUint32(o + grant_entry_v1.fields.frame.offset, frame, true);
    Atomics.store(this.u16, (o + grant_entry_v1.fields.flags.offset) >> 1, flags);
  }

  grantFlags(ref: number): number {
    return Atomics.load(this.u16, (this.entry(ref) + grant_entry_v1.fields.flags.offset) >> 1);
  }

  /**
   * gnttab_end_foreign_access_ref (v1): revoke unless the backend is still reading or writing
   * the frame; false means "still in use by the backend".
   */
  endForeignAccess(ref: number): boolean {
    const fi = (this.entry(ref) + grant_entry_v1.fields.flags.offset) >> 1;
    for (;;) {
      const flags = Atomics.load(this.u16, fi);
      if (flags & (GTF.reading | GTF.writing)) return false;
      if (Atomics.compareExchange(this.u16, fi, flags, 0) === flags) return true;
    }
  }

  releaseRef(ref: number): void {
    this.freeRefs.push(ref);
  }

  // ---- event channels ---------------------------------------------------------------------

  /** EVTCHNOP_alloc_unbound with remote_dom. */
  allocUnbound(remoteDom: number): number {
    const port = this.nextPort++;
    this.ports.set(port, { remoteDom, state: 'unbound', backend: null, guest: null });
    return port;
  }

  /** bind_evtchn_to_irqhandler. */
  setHandler(port: number, fn: () => void): void {
    const p = this.ports.get(port);
    if (!p) throw new Error(`dom${this.domid}: no port ${port}`);
    p.guest = fn;
  }

  /** EVTCHNOP_send from the guest. */
  notify(port: number): void {
    const p = this.ports.get(port);
    if (p?.state !== 'bound' || !p.backend) return;
    const fn = p.backend;
    queueMicrotask(fn);
  }

  portState(port: number): Port['state'] | undefined {
    return this.ports.get(port)?.state;
  }

  /** The FrontendDomain contract: EVTCHNOP_bind_interdomain from dom0. */
  bindInterdomain(remotePort: number, onEvent: () => void): EventChannelEnd {
    const p = this.ports.get(remotePort);
    if (!p || p.state !== 'unbound' || p.remoteDom !== 0) {
      throw new Error(`port ${remotePort} of dom${this.domid} is not an unbound port offered to dom0`);
    }
    p.state = 'bound';
    p.backend = onEvent;
    const local = this.nextDom0Port++;
    return {
      port: local,
      notify: () => {
        if (p.state !== 'bound') return;
        this.notificationsFromBackend.set(remotePort, (this.notificationsFromBackend.get(remotePort) ?? 0) + 1);
        const fn = p.guest;
        if (fn) queueMicrotask(fn);
      },
      close: () => {
        if (p.state !== 'bound') return;
        p.state = 'unbound';
        p.backend = null;
      },
    };
  }
}

export interface XsReply {
  type: number;
  strings: string[];
  payload: Uint8Array;
}

/** The guest's xenstore connection over the real ring page in its memory. */
export class GuestXenbus {
  readonly ring: Uint8Array;
  private readonly idx: Int32Array;
  private readonly reader = new MessageReader();
  private reqId = 1;
  private readonly pending = new Map<number, XsReply>();
  private readonly watches = new Map<string, (path: string) => void>();
  private readonly events: Array<[string, string]> = [];
  private dispatching = false;

  constructor(
    readonly daemon: Xenstored,
    readonly dom: GuestDomain,
  ) {
    const pfn = dom.allocPage();
    this.ring = dom.page(pfn);
    this.idx = new Int32Array(dom.mem.sab, pfn * PAGE_SIZE + XS_RING_REQ_CONS, 4);
    daemon.introduceDomain(dom.domid, this.ring, () => queueMicrotask(() => this.pump()));
  }

  private writeReq(bytes: Uint8Array): void {
    let off = 0;
    while (off < bytes.length) {
      const cons = Atomics.load(this.idx, 0) >>> 0;
      const prod = Atomics.load(this.idx, 1) >>> 0;
      const space = XENSTORE_RING_SIZE - ((prod - cons) >>> 0);
      const n = Math.min(space, bytes.length - off);
      if (n === 0) {
        this.daemon.kick(this.dom.domid);
        continue;
      }
      for (let i = 0; i < n; i++) this.ring[XS_RING_REQ + ((prod + i) & (XENSTORE_RING_SIZE - 1))] = bytes[off + i]!;
      Atomics.store(this.idx, 1, (prod + n) | 0);
      off += n;
    }
  }

  /** Reads every complete message: replies are kept by id, watch events queued. */
  private drain(): void {
    for (;;) {
      const cons = Atomics.load(this.idx, 2) >>> 0;
      const prod = Atomics.load(this.idx, 3) >>> 0;
      if (cons === prod) break;
      const want = Math.min(this.reader.wanted(), (prod - cons) >>> 0);
      const chunk = new Uint8Array(want);
      for (let i = 0; i < want; i++) chunk[i] = this.ring[XS_RING_RSP + ((cons + i) & (XENSTORE_RING_SIZE - 1))]!;
      Atomics.store(this.idx, 2, (cons + want) | 0);
      const r = this.reader.feed(chunk);
      if (r.tooLong !== undefined) throw new Error(`xenstored sent an oversized message (${r.tooLong})`);
      if (!r.message) continue;
      const m = r.message;
      const strings = splitStrings(m.payload);
      if (m.type === XsType.WATCH_EVENT) this.events.push([strings[0]!, strings[1]!]);
      else this.pending.set(m.reqId, { type: m.type, strings, payload: m.payload });
    }
  }

  /**
   * Reads the ring and runs watch callbacks, one event at a time and never nested (the
   * xenwatch thread's order). Called on the store event channel and by tests.
   */
  pump(): void {
    this.drain();
    // Consuming responses may let queued output in.
    this.daemon.kick(this.dom.domid);
    this.drain();
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      for (let ev = this.events.shift(); ev; ev = this.events.shift()) this.watches.get(ev[1])?.(ev[0]);
    } finally {
      this.dispatching = false;
    }
  }

  request(type: XsType, payload: Uint8Array | string[], tx = 0): XsReply {
    const id = this.reqId++;
    const body = payload instanceof Uint8Array ? payload : joinStrings(payload);
    this.writeReq(encodeMessage(type, id, tx, body));
    this.daemon.kick(this.dom.domid);
    this.drain();
    if (this.events.length > 0) queueMicrotask(() => this.pump());
    const r = this.pending.get(id);
    if (!r) throw new Error(`dom${this.dom.domid}: no xenstore reply to ${XsType[type]}`);
    this.pending.delete(id);
    return r;
  }

  /** The ERROR name, or null on success. */
  private check(r: XsReply): string | null {
    return r.type === XsType.ERROR ? r.strings[0] ?? 'EINVAL' : null;
  }

  read(path: string, tx = 0): string | null {
    const r = this.request(XsType.READ, [path], tx);
    const err = this.check(r);
    if (err === 'ENOENT') return null;
    if (err) throw new Error(`dom${this.dom.domid}: read ${path}: ${err}`);
    return new TextDecoder().decode(r.payload);
  }

  /** The ERROR name, or null. */
  write(path: string, value: string, tx = 0): string | null {
    const p = new TextEncoder().encode(path);
    const v = new TextEncoder().encode(value);
    const body = new Uint8Array(p.length + 1 + v.length);
    body.set(p);
    body.set(v, p.length + 1);
    return this.check(this.request(XsType.WRITE, body, tx));
  }

  writeOk(path: string, value: string, tx = 0): void {
    const err = this.write(path, value, tx);
    if (err) throw new Error(`dom${this.dom.domid}: write ${path}: ${err}`);
  }

  transactionStart(): number {
    const r = this.request(XsType.TRANSACTION_START, ['']);
    const err = this.check(r);
    if (err) throw new Error(`transaction start: ${err}`);
    return Number(r.strings[0]);
  }

  /** The ERROR name (EAGAIN on conflict) or null. */
  transactionEnd(tx: number, commit: boolean): string | null {
    return this.check(this.request(XsType.TRANSACTION_END, [commit ? 'T' : 'F'], tx));
  }

  watch(path: string, token: string, cb: (path: string) => void): void {
    this.watches.set(token, cb);
    const err = this.check(this.request(XsType.WATCH, [path, token]));
    if (err) throw new Error(`watch ${path}: ${err}`);
  }
}

/** Lets microtasks and immediates run (notifications, watch delivery). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Waits, letting the event loop turn, until `cond` holds; throws with `what` after `ms`. */
export async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await settle();
  }
}
