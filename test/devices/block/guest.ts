// The guest side a blkfront needs, played in-process: a domain's memory and grant table as the
// guest kernel writes them (drivers/xen/grant-table.c, v1 entries), its event channels
// (EVTCHNOP_alloc_unbound / send, with dom0's bind_interdomain end as the FrontendDomain
// contract), and its xenbus connection over the store ring (drivers/xen/xenbus/xenbus_comms.c
// and xenbus_xs.c: requests, transactions, watches). Nothing here is a stand-in for the code under
// test: the backend reads the same SharedArrayBuffer and talks to the same Xenstored.

import type { EventChannelEnd, FrontendDomain } from '../../../src/hypervisor/frontend_domain.js';
import { GTF, grant_entry_v1 } from '../../../src/hypervisor/abi/xen.js';
import { DomainMemory, PAGE_SIZE } from '../../../src/hypervisor/domain_memory.js';
import { GrantTable } from '../../../src/hypervisor/grant_table.js';
import {
  encodeMessage, joinStrings, MessageReader, splitStrings, XENSTORE_RING_SIZE, XsType, type Xenstored, type XsMessage,
} from '../../../src/dom0/xenstored/index.js';
import { XS_RING_REQ_CONS, XS_RING_RSP } from '../../../src/dom0/xenstored/wire.js';

/** GNTTAB_NR_RESERVED_ENTRIES: Linux never hands out the first 8 references. */
const GNTTAB_NR_RESERVED_ENTRIES = 8;

interface GuestPort {
  state: 'unbound' | 'interdomain' | 'closed';
  remoteDomid: number;
  handler: () => void;
  /** dom0's callback once bound. */
  backend: (() => void) | null;
  backendPort: number;
}

export class GuestDomain implements FrontendDomain {
  readonly mem: DomainMemory;
  readonly grants: GrantTable;
  private readonly u16: Uint16Array;
  private readonly dv: DataView;
  private readonly freePfns: number[] = [];
  private readonly freeRefs: number[] = [];
  private readonly ports = new Map<number, GuestPort>();
  private nextPort = 1;
  private static nextDom0Port = 100;
  /** Events dom0 raised at us / we raised at dom0. */
  eventsToGuest = 0;
  eventsToBackend = 0;

  constructor(
    readonly domid: number,
    nrPages = 1024,
    grantFrames = 4,
  ) {
    this.mem = new DomainMemory(nrPages);
    this.grants = new GrantTable(this.mem);
    // GNTTABOP_setup_table as the guest's gnttab_init would have done.
    this.grants.nrFrames = grantFrames;
    this.u16 = new Uint16Array(this.mem.sab);
    this.dv = new DataView(this.mem.sab);
    // Page 0 stays unused (a null pfn is a bug worth catching); pages hand out from the top so a
    // stray write at a low address would not land in one of them unnoticed.
    for (let p = nrPages - 1; p >= 1; p--) this.freePfns.push(p);
    for (let r = (grantFrames * PAGE_SIZE) / grant_entry_v1.size - 1; r >= GNTTAB_NR_RESERVED_ENTRIES; r--) this.freeRefs.push(r);
  }

  allocPage(): number {
    const p = this.freePfns.pop();
    if (p === undefined) throw new Error(`dom${this.domid}: out of guest pages`);
    this.mem.frame(p).fill(0);
    return p;
  }

  freePage(pfn: number): void {
    this.freePfns.push(pfn);
  }

  /** Byte offset of a guest page in the domain's memory. */
  pageOffset(pfn: number): number {
    return pfn * PAGE_SIZE;
  }

  private entry(ref: number): number {
    return this.mem.layout.grantMfnBase * PAGE_SIZE + ref * grant_entry_v1.size;
  }

  /** gnttab_grant_foreign_access_ref (v1): frame and domid first, flags last behind a barrier. */
  grantAccess(domid: number, pfn: number, readonly: boolean): number {
    const ref = this.freeRefs.pop();
    if (ref === undefined) throw new Error(`dom${this.domid}: out of grant references`);
    this.writeEntry(ref, domid, pfn, GTF.permit_access | (readonly ? GTF.readonly : 0));
    return ref;
  }

  /** Writes an entry verbatim (hostile tests use it for odd flags or frames). */
  writeEntry(ref: number, domid: number, frame: number, flags: number): void {
    const o = this.entry(ref);
    this.dv.setUint32(o + grant_entry_v1.fields.frame.offset, frame >>> 0, true);
    this.dv.setUint16(o + grant_entry_v1.fields.domid.offset, domid, true);
    Atomics.store(this.u16, (o + grant_entry_v1.fields.flags.offset) >> 1, flags);
  }

  entryFlags(ref: number): number {
    return Atomics.load(this.u16, (this.entry(ref) + grant_entry_v1.fields.flags.offset) >> 1);
  }

  /**
   * gnttab_end_foreign_access_ref_v1: clear the entry unless the remote end still has it in
   * use (GTF_reading / GTF_writing). Returns whether the guest got the page back.
   */
  endAccess(ref: number): boolean {
    const fi = (this.entry(ref) + grant_entry_v1.fields.flags.offset) >> 1;
    let flags = Atomics.load(this.u16, fi);
    for (;;) {
      if (flags & (GTF.reading | GTF.writing)) return false;
      const seen = Atomics.compareExchange(this.u16, fi, flags, 0);
      if (seen === flags) break;
      flags = seen;
    }
    this.freeRefs.push(ref);
    return true;
  }

  /** EVTCHNOP_alloc_unbound for remoteDomid; `handler` is the guest's interrupt handler. */
  allocUnbound(remoteDomid: number, handler: () => void): number {
    const port = this.nextPort++;
    this.ports.set(port, { state: 'unbound', remoteDomid, handler, backend: null, backendPort: 0 });
    return port;
  }

  /** EVTCHNOP_send from the guest. Delivery is asynchronous, as from another vCPU thread. */
  notify(port: number): void {
    const p = this.ports.get(port);
    if (!p || p.state !== 'interdomain' || !p.backend) return;
    const cb = p.backend;
    this.eventsToBackend++;
    setImmediate(() => {
      if (p.state === 'interdomain') cb();
    });
  }

  /** EVTCHNOP_close from the guest. */
  closePort(port: number): void {
    const p = this.ports.get(port);
    if (p) p.state = 'closed';
    this.ports.delete(port);
  }

  isBound(port: number): boolean {
    return this.ports.get(port)?.state === 'interdomain';
  }

  /** dom0's EVTCHNOP_bind_interdomain (the FrontendDomain contract). */
  bindInterdomain(remotePort: number, onEvent: () => void): EventChannelEnd {
    const p = this.ports.get(remotePort);
    if (!p || p.state !== 'unbound' || p.remoteDomid !== 0) {
      throw new Error(`port ${remotePort} of dom${this.domid} is not an unbound port offered to dom0`);
    }
    p.state = 'interdomain';
    p.backend = onEvent;
    p.backendPort = GuestDomain.nextDom0Port++;
    return {
      port: p.backendPort,
      notify: () => {
        if (p.state !== 'interdomain') return;
        this.eventsToGuest++;
        // The event is pending in the guest from now on; dom0 closing its end afterwards does not
        // take it back. Only the guest closing its own port does.
        setImmediate(() => {
          if (this.ports.get(remotePort) === p) p.handler();
        });
      },
      close: () => {
        // evtchn_close: the guest's end goes back to unbound.
        if (p.state === 'interdomain') {
          p.state = 'unbound';
          p.backend = null;
        }
      },
    };
  }
}

// ---- xenbus over the store ring ------------------------------------------------------------

export class XenbusError extends Error {
  constructor(readonly errno: string, what: string) {
    super(`${what}: ${errno}`);
  }
}

type WatchCb = (path: string) => void;

const REQ_CONS = 0;
const REQ_PROD = 1;
const RSP_CONS = 2;
const RSP_PROD = 3;

/** The guest kernel's xenstore client: xs_talkv over the ring, watches dispatched like xenwatch. */
export class GuestXenbus {
  private readonly page: Uint8Array;
  private readonly idx: Int32Array;
  private readonly reader = new MessageReader();
  private readonly replies = new Map<number, XsMessage>();
  private readonly watches = new Map<string, WatchCb>();
  private readonly pendingEvents: Array<[string, string]> = [];
  private dispatching = false;
  private nextReq = 1;
  private nextToken = 1;

  constructor(
    private readonly daemon: Xenstored,
    private readonly dom: GuestDomain,
  ) {
    const pfn = dom.allocPage();
    const o = dom.pageOffset(pfn);
    this.page = dom.mem.ram.subarray(o, o + PAGE_SIZE);
    this.idx = new Int32Array(dom.mem.sab, o + XS_RING_REQ_CONS, 4);
    // xend's introduceDomain; the store event channel is modelled by kicks and the notify hook.
    daemon.introduceDomain(dom.domid, this.page, () => queueMicrotask(() => this.pump()));
  }

  private writeBytes(bytes: Uint8Array): void {
    let off = 0;
    while (off < bytes.length) {
      const cons = Atomics.load(this.idx, REQ_CONS) >>> 0;
      const prod = Atomics.load(this.idx, REQ_PROD) >>> 0;
      const space = XENSTORE_RING_SIZE - ((prod - cons) >>> 0);
      if (space === 0) {
        this.daemon.kick(this.dom.domid);
        this.pump();
        if (XENSTORE_RING_SIZE - (((Atomics.load(this.idx, REQ_PROD) >>> 0) - (Atomics.load(this.idx, REQ_CONS) >>> 0)) >>> 0) === 0) {
          throw new Error('xenstore request ring stuck full');
        }
        continue;
      }
      const n = Math.min(space, bytes.length - off);
      for (let i = 0; i < n; i++) this.page[(prod + i) & (XENSTORE_RING_SIZE - 1)] = bytes[off + i]!;
      Atomics.store(this.idx, REQ_PROD, (prod + n) | 0);
      off += n;
    }
  }

  /** Reads every reply and event the daemon has written; events are dispatched afterwards. */
  private pump(): void {
    for (;;) {
      const cons = Atomics.load(this.idx, RSP_CONS) >>> 0;
      const prod = Atomics.load(this.idx, RSP_PROD) >>> 0;
      if (cons === prod) break;
      const n = Math.min(this.reader.wanted(), (prod - cons) >>> 0);
      const chunk = new Uint8Array(n);
      for (let i = 0; i < n; i++) chunk[i] = this.page[XS_RING_RSP + ((cons + i) & (XENSTORE_RING_SIZE - 1))]!;
      Atomics.store(this.idx, RSP_CONS, (cons + n) | 0);
      const r = this.reader.feed(chunk);
      if (r.tooLong !== undefined) throw new Error(`oversized xenstore message (${r.tooLong})`);
      if (!r.message) continue;
      if (r.message.type === XsType.WATCH_EVENT) {
        const [path = '', token = ''] = splitStrings(r.message.payload);
        this.pendingEvents.push([path, token]);
      } else {
        this.replies.set(r.message.reqId, r.message);
      }
    }
    // Output we consumed may have made room for more: tell the daemon (the guest's notify).
    this.daemon.kick(this.dom.domid);
    if (this.pendingEvents.length > 0) queueMicrotask(() => this.dispatch());
  }

  private dispatch(): void {
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      for (let ev = this.pendingEvents.shift(); ev; ev = this.pendingEvents.shift()) {
        this.watches.get(ev[1])?.(ev[0]);
      }
    } finally {
      this.dispatching = false;
    }
  }

  private talk(type: XsType, payload: Uint8Array, tx: number, what: string): Uint8Array {
    const reqId = this.nextReq++;
    this.writeBytes(encodeMessage(type, reqId, tx, payload));
    this.daemon.kick(this.dom.domid);
    this.pump();
    const reply = this.replies.get(reqId);
    if (!reply) throw new Error(`no xenstore reply to ${what}`);
    this.replies.delete(reqId);
    if (reply.type === XsType.ERROR) throw new XenbusError(splitStrings(reply.payload)[0] ?? 'EINVAL', what);
    return reply.payload;
  }

  read(path: string, tx = 0): string | null {
    try {
      return new TextDecoder().decode(this.talk(XsType.READ, joinStrings([path]), tx, `read ${path}`));
    } catch (e) {
      if (e instanceof XenbusError && e.errno === 'ENOENT') return null;
      throw e;
    }
  }

  write(path: string, value: string, tx = 0): void {
    const p = new TextEncoder().encode(path);
    const v = new TextEncoder().encode(value);
    const body = new Uint8Array(p.length + 1 + v.length);
    body.set(p);
    body.set(v, p.length + 1);
    this.talk(XsType.WRITE, body, tx, `write ${path}`);
  }

  transactionStart(): number {
    return Number(splitStrings(this.talk(XsType.TRANSACTION_START, joinStrings(['']), 0, 'transaction start'))[0]);
  }

  /** Returns false on EAGAIN (the caller retries, as every xenbus user does). */
  transactionEnd(tx: number, commit: boolean): boolean {
    try {
      this.talk(XsType.TRANSACTION_END, joinStrings([commit ? 'T' : 'F']), tx, 'transaction end');
      return true;
    } catch (e) {
      if (e instanceof XenbusError && e.errno === 'EAGAIN') return false;
      throw e;
    }
  }

  watch(path: string, cb: WatchCb): string {
    const token = `fe${this.nextToken++}`;
    this.watches.set(token, cb);
    this.talk(XsType.WATCH, joinStrings([path, token]), 0, `watch ${path}`);
    return token;
  }

  unwatch(path: string, token: string): void {
    this.watches.delete(token);
    this.talk(XsType.UNWATCH, joinStrings([path, token]), 0, `unwatch ${path}`);
  }
}
