// A frontend player that behaves as Linux 6.1's drivers/net/xen-netfront.c does on the wire:
// the xenbus handshake (xennet_create_dev, netback_changed, xennet_connect, talk_to_netback,
// setup_netfront), the rx ring kept full of granted pages (xennet_alloc_rx_buffers), receive
// processing with the response-in-request-slot rule (xennet_poll, xennet_get_responses),
// transmit with NETTXF_more_data chains and checksum flags (xennet_start_xmit), and transmit
// completion that insists every grant was given back (xennet_tx_buf_gc). Hostile tests use
// the raw ring accessors to write what a broken or malicious frontend would.

import {
  NETRXF, NETTXF, NETIF_RSP, OFF, constRingSize, xen_netif_rx_sring_entry, xen_netif_tx_sring_entry, type TxRequest,
} from '../../../src/devices/net/netif.js';
import { SRING_ENTRIES_OFFSET } from '../../../src/devices/net/netif.js';
import { XenbusState } from '../../../src/devices/xenbus.js';
import type { Layout } from '../../../src/hypervisor/abi/layout.js';
import { PAGE_SIZE } from '../../../src/hypervisor/domain_memory.js';
import type { GuestDomain, GuestXenbus } from './guest.js';
import { until } from './guest.js';

/** XEN_NETIF_NR_SLOTS_MIN + 1 (netfront's NET_RX_SLOTS_MIN). */
const NET_RX_SLOTS_MIN = 19;
const RX_COPY_THRESHOLD = 256;

/** The frontend's view of a shared ring (struct __name##_front_ring) on a page of its memory. */
export class FrontRing {
  readonly size: number;
  readonly base: number;
  reqProdPvt = 0;
  rspCons = 0;
  readonly dv: DataView;
  private readonly i32: Int32Array;

  constructor(
    readonly dom: GuestDomain,
    readonly pfn: number,
    readonly entry: Layout,
  ) {
    this.size = constRingSize(entry);
    this.base = pfn * PAGE_SIZE;
    this.dv = new DataView(dom.mem.sab);
    this.i32 = dom.mem.i32;
    // SHARED_RING_INIT.
    this.set(OFF.reqProd, 0);
    this.set(OFF.rspProd, 0);
    this.set(OFF.reqEvent, 1);
    this.set(OFF.rspEvent, 1);
  }

  get(field: number): number {
    return Atomics.load(this.i32, (this.base + field) >> 2) >>> 0;
  }

  set(field: number, v: number): void {
    Atomics.store(this.i32, (this.base + field) >> 2, v | 0);
  }

  slot(idx: number): number {
    return this.base + SRING_ENTRIES_OFFSET + ((idx >>> 0) & (this.size - 1)) * this.entry.size;
  }

  /** RING_PUSH_REQUESTS_AND_CHECK_NOTIFY. */
  pushRequests(): boolean {
    const old = this.get(OFF.reqProd);
    const now = this.reqProdPvt >>> 0;
    this.set(OFF.reqProd, now);
    const ev = this.get(OFF.reqEvent);
    return ((now - ev) >>> 0) < ((now - old) >>> 0);
  }

  /** RING_FINAL_CHECK_FOR_RESPONSES. */
  finalCheckForResponses(): boolean {
    if (this.get(OFF.rspProd) !== this.rspCons) return true;
    this.set(OFF.rspEvent, (this.rspCons + 1) >>> 0);
    return this.get(OFF.rspProd) !== this.rspCons;
  }
}

interface TxPending {
  gref: number;
  pfn: number | null;
  /** Whether this player granted gref (hostile requests may name any number). */
  owned: boolean;
}

interface RxBuf {
  gref: number;
  pfn: number;
}

export interface SendOptions {
  /** Bytes per slot; default: the frame from `firstOffset` split at page boundaries. */
  chunks?: number[];
  firstOffset?: number;
  /** CHECKSUM_PARTIAL: NETTXF_csum_blank | NETTXF_data_validated. */
  csumBlank?: boolean;
}

export class NetfrontPlayer {
  readonly nodename: string;
  backend = '';
  backendId = -1;
  /** Our xenbus state (dev->state). */
  state: number = XenbusState.Initialising;
  mac = '';
  tx!: FrontRing;
  rx!: FrontRing;
  txRingRef = -1;
  rxRingRef = -1;
  txEvtchn = -1;
  rxEvtchn = -1;
  carrier = false;
  /** netfront's info->broken, with the alert it printed. */
  broken: string | null = null;
  readonly received: Uint8Array[] = [];
  readonly rxErrors: string[] = [];
  readonly rxStatuses: number[] = [];
  readonly txResults: Array<{ id: number; status: number }> = [];
  readonly backendStates: number[] = [];
  private readonly txPending = new Map<number, TxPending>();
  private readonly txFreeIds: number[] = [];
  private readonly rxBufs: Array<RxBuf | null>;

  constructor(
    readonly dom: GuestDomain,
    readonly xb: GuestXenbus,
    readonly opts: { devid?: number; split?: boolean } = {},
  ) {
    this.nodename = `/local/domain/${dom.domid}/device/vif/${opts.devid ?? 0}`;
    const txSize = constRingSize(xen_netif_tx_sring_entry);
    for (let i = txSize - 1; i >= 0; i--) this.txFreeIds.push(i);
    this.rxBufs = new Array<RxBuf | null>(constRingSize(xen_netif_rx_sring_entry)).fill(null);
  }

  /** xenbus_probe_frontend + talk_to_otherend: find the backend and watch its state. */
  probe(): void {
    const be = this.xb.read(`${this.nodename}/backend`);
    const id = this.xb.read(`${this.nodename}/backend-id`);
    if (be === null || id === null) throw new Error(`${this.nodename}: no backend details`);
    this.backend = be;
    this.backendId = Number(id);
    this.xb.watch(`${be}/state`, `otherend:${this.nodename}`, () => {
      // xenbus_read_driver_state: any failure (gone, no longer readable) reads as Unknown.
      let s: number = XenbusState.Unknown;
      try {
        const v = this.xb.read(`${this.backend}/state`);
        if (v !== null && /^\d+$/.test(v)) s = Number(v);
      } catch {
        s = XenbusState.Unknown;
      }
      this.backendStates.push(s);
      this.netbackChanged(s);
    });
  }

  /** __xenbus_switch_state. */
  switchState(s: number): void {
    if (s === this.state) return;
    for (;;) {
      const tx = this.xb.transactionStart();
      if (this.xb.read(`${this.nodename}/state`, tx) === null) {
        this.xb.transactionEnd(tx, false);
        return;
      }
      this.xb.writeOk(`${this.nodename}/state`, String(s), tx);
      const err = this.xb.transactionEnd(tx, true);
      if (err === 'EAGAIN') continue;
      if (err) throw new Error(`switch state: ${err}`);
      this.state = s;
      return;
    }
  }

  /** netback_changed(). */
  private netbackChanged(s: number): void {
    switch (s) {
      case XenbusState.InitWait:
        if (this.state !== XenbusState.Initialising) break;
        if (!this.connect()) break;
        this.switchState(XenbusState.Connected);
        break;
      case XenbusState.Closed:
        if (this.state === XenbusState.Closed) break;
        this.switchState(XenbusState.Closed);
        break;
      case XenbusState.Closing:
        this.switchState(XenbusState.Closed);
        break;
      default:
        break;
    }
  }

  private readBackendUnsigned(key: string, def: number): number {
    const v = this.xb.read(`${this.backend}/${key}`);
    return v !== null && /^\d+$/.test(v) ? Number(v) : def;
  }

  /** xennet_connect + talk_to_netback + setup_netfront. */
  private connect(): boolean {
    if (!this.readBackendUnsigned('feature-rx-copy', 0)) {
      this.broken = 'backend does not support copying receive path';
      return false;
    }
    const maxQueues = this.readBackendUnsigned('multi-queue-max-queues', 1);
    const numQueues = Math.min(maxQueues, 1);
    const split = (this.opts.split ?? true) && this.readBackendUnsigned('feature-split-event-channels', 0) !== 0;
    const mac = this.xb.read(`${this.nodename}/mac`);
    if (mac === null || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)) throw new Error(`parsing ${this.nodename}/mac`);
    this.mac = mac.toLowerCase();
    const xdp = this.readBackendUnsigned('feature-xdp-headroom', 0);

    const txPfn = this.dom.allocPage();
    this.txRingRef = this.dom.grantAccess(this.backendId, txPfn, false);
    this.tx = new FrontRing(this.dom, txPfn, xen_netif_tx_sring_entry);
    const rxPfn = this.dom.allocPage();
    this.rxRingRef = this.dom.grantAccess(this.backendId, rxPfn, false);
    this.rx = new FrontRing(this.dom, rxPfn, xen_netif_rx_sring_entry);
    if (split) {
      this.txEvtchn = this.dom.allocUnbound(this.backendId);
      this.rxEvtchn = this.dom.allocUnbound(this.backendId);
      this.dom.setHandler(this.txEvtchn, () => this.txInterrupt());
      this.dom.setHandler(this.rxEvtchn, () => this.rxInterrupt());
    } else {
      this.txEvtchn = this.rxEvtchn = this.dom.allocUnbound(this.backendId);
      this.dom.setHandler(this.txEvtchn, () => {
        this.txInterrupt();
        this.rxInterrupt();
      });
    }

    for (;;) {
      const t = this.xb.transactionStart();
      const w = (k: string, v: string): void => this.xb.writeOk(`${this.nodename}/${k}`, v, t);
      if (this.xb.read(`${this.backend}/multi-queue-max-queues`) !== null) w('multi-queue-num-queues', String(numQueues));
      w('tx-ring-ref', String(this.txRingRef));
      w('rx-ring-ref', String(this.rxRingRef));
      if (split) {
        w('event-channel-tx', String(this.txEvtchn));
        w('event-channel-rx', String(this.rxEvtchn));
      } else {
        w('event-channel', String(this.txEvtchn));
      }
      if (xdp) w('xdp-headroom', '0');
      w('request-rx-copy', '1');
      w('feature-rx-notify', '1');
      w('feature-sg', '1');
      w('feature-gso-tcpv4', '1');
      w('feature-gso-tcpv6', '1');
      w('feature-ipv6-csum-offload', '1');
      const err = this.xb.transactionEnd(t, true);
      if (err === 'EAGAIN') continue;
      if (err) throw new Error(`completing transaction: ${err}`);
      break;
    }
    this.carrier = true;
    this.dom.notify(this.txEvtchn);
    if (this.rxEvtchn !== this.txEvtchn) this.dom.notify(this.rxEvtchn);
    this.allocRxBuffers();
    return true;
  }

  // ---- receive ----------------------------------------------------------------------------

  /** xennet_alloc_rx_buffers. */
  allocRxBuffers(): void {
    if (!this.carrier) return;
    let reqProd = this.rx.reqProdPvt;
    for (; ((reqProd - this.rx.rspCons) >>> 0) < this.rx.size; reqProd = (reqProd + 1) >>> 0) {
      const id = reqProd & (this.rx.size - 1);
      if (this.rxBufs[id]) throw new Error(`BUG: rx slot ${id} still holds a buffer`);
      const pfn = this.dom.allocPage();
      const gref = this.dom.grantAccess(this.backendId, pfn, false);
      this.rxBufs[id] = { pfn, gref };
      const o = this.rx.slot(reqProd);
      this.rx.dv.setUint16(o + OFF.rxReq.id, id, true);
      this.rx.dv.setUint32(o + OFF.rxReq.gref, gref, true);
    }
    this.rx.reqProdPvt = reqProd;
    if (((reqProd - this.rx.rspCons) >>> 0) < NET_RX_SLOTS_MIN) return;
    if (this.rx.pushRequests()) this.dom.notify(this.rxEvtchn);
  }

  /** xennet_move_rx_slot: re-post a buffer the backend failed to fill. */
  private moveRxSlot(buf: RxBuf): void {
    const idx = this.rx.reqProdPvt & (this.rx.size - 1);
    this.rxBufs[idx] = buf;
    const o = this.rx.slot(this.rx.reqProdPvt);
    this.rx.dv.setUint16(o + OFF.rxReq.id, idx, true);
    this.rx.dv.setUint32(o + OFF.rxReq.gref, buf.gref, true);
    this.rx.reqProdPvt = (this.rx.reqProdPvt + 1) >>> 0;
  }

  private readRxRsp(idx: number): { id: number; offset: number; flags: number; status: number } {
    const o = this.rx.slot(idx);
    const dv = this.rx.dv;
    return {
      id: dv.getUint16(o + OFF.rxRsp.id, true),
      offset: dv.getUint16(o + OFF.rxRsp.offset, true),
      flags: dv.getUint16(o + OFF.rxRsp.flags, true),
      status: dv.getInt16(o + OFF.rxRsp.status, true),
    };
  }

  private rxInterrupt(): void {
    if (this.broken || !this.carrier) return;
    this.poll();
  }

  /** xennet_poll. */
  poll(): void {
    for (;;) {
      const rp = this.rx.get(OFF.rspProd);
      if (((rp - this.rx.rspCons) >>> 0) > this.rx.size) {
        this.broken = `Illegal number of responses ${(rp - this.rx.rspCons) >>> 0}`;
        return;
      }
      while (this.rx.rspCons !== rp) {
        if (!this.getResponses(rp)) return;
      }
      this.allocRxBuffers();
      if (!this.rx.finalCheckForResponses()) return;
    }
  }

  /** xennet_get_responses + fill_frags for the packet at rspCons; false if the device broke. */
  private getResponses(rp: number): boolean {
    const cons = this.rx.rspCons;
    let rsp = this.readRxRsp(cons);
    const max = 18 + (rsp.status <= RX_COPY_THRESHOLD ? 1 : 0);
    let slots = 1;
    let err: string | null = null;
    const parts: Uint8Array[] = [];
    let idx = cons & (this.rx.size - 1);
    if (rsp.flags & NETRXF.extra_info) err = 'unexpected extra info (no GSO or XDP was negotiated)';
    for (;;) {
      const buf = this.rxBufs[idx] ?? null;
      this.rxBufs[idx] = null;
      this.rxStatuses.push(rsp.status);
      if (!buf) {
        err ??= `Bad rx response id ${rsp.id}.`;
      } else if (rsp.status < 0 || rsp.offset + rsp.status > PAGE_SIZE) {
        err ??= `rx->offset: ${rsp.offset}, size: ${rsp.status}`;
        this.moveRxSlot(buf);
      } else {
        // Stricter than netfront, which ignores the id: the backend must echo it.
        if (rsp.id !== idx) err ??= `response id ${rsp.id} in slot ${idx}`;
        if (!this.dom.endForeignAccess(buf.gref)) {
          this.broken = 'Grant still in use by backend domain';
          return false;
        }
        const page = this.dom.page(buf.pfn);
        parts.push(page.slice(rsp.offset, rsp.offset + rsp.status));
        this.dom.releaseRef(buf.gref);
        this.dom.freePage(buf.pfn);
      }
      if (!(rsp.flags & NETRXF.more_data)) break;
      if (((cons + slots) >>> 0) === rp) {
        err ??= 'Need more slots';
        break;
      }
      rsp = this.readRxRsp((cons + slots) >>> 0);
      idx = (cons + slots) & (this.rx.size - 1);
      slots++;
    }
    if (slots > max) err ??= 'Too many slots';
    this.rx.rspCons = (cons + slots) >>> 0;
    if (err) {
      this.rxErrors.push(err);
      return true;
    }
    const len = parts.reduce((a, p) => a + p.length, 0);
    const frame = new Uint8Array(len);
    let at = 0;
    for (const p of parts) {
      frame.set(p, at);
      at += p.length;
    }
    if (len < 14) this.rxErrors.push(`runt of ${len} bytes`);
    else this.received.push(frame);
    return true;
  }

  // ---- transmit ---------------------------------------------------------------------------

  private txInterrupt(): void {
    if (this.broken || !this.carrier) return;
    this.txGc();
  }

  /** xennet_tx_buf_gc. */
  txGc(): void {
    for (;;) {
      const prod = this.tx.get(OFF.rspProd);
      if (((prod - this.tx.rspCons) >>> 0) > this.tx.size) {
        this.broken = `Illegal number of responses ${(prod - this.tx.rspCons) >>> 0}`;
        return;
      }
      for (let cons = this.tx.rspCons; cons !== prod; cons = (cons + 1) >>> 0) {
        const o = this.tx.slot(cons);
        const status = this.tx.dv.getInt16(o + OFF.txRsp.status, true);
        if (status === NETIF_RSP.null) continue;
        const id = this.tx.dv.getUint16(o + OFF.txRsp.id, true);
        if (id >= this.tx.size) {
          this.broken = `Response has incorrect id (${id})`;
          return;
        }
        const p = this.txPending.get(id);
        if (!p) {
          this.broken = 'Response for inactive request';
          return;
        }
        if (p.owned) {
          if (!this.dom.endForeignAccess(p.gref)) {
            this.broken = 'Grant still in use by backend domain';
            return;
          }
          this.dom.releaseRef(p.gref);
        }
        if (p.pfn !== null) this.dom.freePage(p.pfn);
        this.txPending.delete(id);
        this.txFreeIds.push(id);
        this.txResults.push({ id, status });
      }
      this.tx.rspCons = prod;
      if (!this.tx.finalCheckForResponses()) return;
    }
  }

  /** xennet_start_xmit for a frame: granted read-only pages, a more_data chain. Returns the ids. */
  send(frame: Uint8Array, opts: SendOptions = {}): number[] {
    const firstOffset = opts.firstOffset ?? 128;
    let chunks = opts.chunks;
    if (!chunks) {
      chunks = [];
      let left = frame.length;
      let room = PAGE_SIZE - firstOffset;
      while (left > 0) {
        const n = Math.min(left, room);
        chunks.push(n);
        left -= n;
        room = PAGE_SIZE;
      }
    }
    if (chunks.reduce((a, b) => a + b, 0) !== frame.length) throw new Error('player: chunks do not add up to the frame');
    const ids: number[] = [];
    let at = 0;
    chunks.forEach((len, i) => {
      const offset = i === 0 ? firstOffset : 0;
      if (offset + len > PAGE_SIZE) throw new Error('player: chunk crosses its page');
      const pfn = this.dom.allocPage();
      this.dom.page(pfn).set(frame.subarray(at, at + len), offset);
      at += len;
      const gref = this.dom.grantAccess(this.backendId, pfn, true);
      const id = this.takeId();
      this.txPending.set(id, { gref, pfn, owned: true });
      let flags = i < chunks!.length - 1 ? NETTXF.more_data : 0;
      if (i === 0 && opts.csumBlank) flags |= NETTXF.csum_blank | NETTXF.data_validated;
      this.writeTxRequest({ gref, offset, flags, id, size: i === 0 ? frame.length : len });
      ids.push(id);
    });
    this.pushTx();
    return ids;
  }

  takeId(): number {
    const id = this.txFreeIds.pop();
    if (id === undefined) throw new Error('player: no free tx ids');
    return id;
  }

  /** Writes a request at req_prod_pvt (not yet pushed); returns its ring index. */
  writeTxRequest(r: TxRequest): number {
    const idx = this.tx.reqProdPvt;
    const o = this.tx.slot(idx);
    const dv = this.tx.dv;
    dv.setUint32(o + OFF.txReq.gref, r.gref >>> 0, true);
    dv.setUint16(o + OFF.txReq.offset, r.offset & 0xffff, true);
    dv.setUint16(o + OFF.txReq.flags, r.flags & 0xffff, true);
    dv.setUint16(o + OFF.txReq.id, r.id & 0xffff, true);
    dv.setUint16(o + OFF.txReq.size, r.size & 0xffff, true);
    this.tx.reqProdPvt = (idx + 1) >>> 0;
    return idx;
  }

  /** A raw request with a pending entry (so its response is accepted) for a gref we may not own. */
  writeRawTx(r: Omit<TxRequest, 'id'>, owned = false, pfn: number | null = null): number {
    const id = this.takeId();
    this.txPending.set(id, { gref: r.gref, pfn, owned });
    this.writeTxRequest({ ...r, id });
    return id;
  }

  /** An extra-info slot (struct xen_netif_extra_info overlaying a request). */
  writeTxExtra(type: number, flags: number): void {
    const o = this.tx.slot(this.tx.reqProdPvt);
    for (let i = 0; i < 12; i++) this.tx.dv.setUint8(o + i, 0);
    this.tx.dv.setUint8(o + OFF.extra.type, type);
    this.tx.dv.setUint8(o + OFF.extra.flags, flags);
    this.tx.reqProdPvt = (this.tx.reqProdPvt + 1) >>> 0;
  }

  /** Allocates and grants a read-only page holding `data` at `offset`. */
  grantPage(data: Uint8Array, offset = 0): { pfn: number; gref: number } {
    const pfn = this.dom.allocPage();
    this.dom.page(pfn).set(data, offset);
    return { pfn, gref: this.dom.grantAccess(this.backendId, pfn, true) };
  }

  pushTx(): void {
    if (this.tx.pushRequests()) this.dom.notify(this.txEvtchn);
  }

  get txOutstanding(): number {
    return this.txPending.size;
  }

  /** Waits until every transmitted request has its response. */
  async drainTx(what = 'tx responses'): Promise<void> {
    await until(() => this.txPending.size === 0 || this.broken !== null, what);
    if (this.broken) throw new Error(`netfront broke: ${this.broken}`);
  }

  /** Waits for the handshake to finish. */
  async connected(): Promise<void> {
    await until(() => this.state === XenbusState.Connected && this.backendStates.includes(XenbusState.Connected), `${this.nodename} to connect`);
  }

  /** xennet_bus_close: Closing, wait for the backend to follow, then Closed. */
  async close(): Promise<void> {
    const be = (): number => Number(this.xb.read(`${this.backend}/state`) ?? XenbusState.Unknown);
    this.switchState(XenbusState.Closing);
    await until(() => be() === XenbusState.Closing || be() === XenbusState.Closed, 'the backend to close');
    this.switchState(XenbusState.Closed);
    await until(() => be() === XenbusState.Closed, 'the backend to reach Closed');
  }

  /**
   * xennet_disconnect_backend, then netfront_resume's reconnect: every page back (each grant
   * must be free of backend use), fresh rings and channels, state Initialising again.
   * Returns false if the backend still held any grant.
   */
  async reconnect(): Promise<boolean> {
    let free = this.releaseRings();
    for (let i = 0; i < this.rxBufs.length; i++) {
      const b = this.rxBufs[i];
      if (!b) continue;
      free = this.dom.endForeignAccess(b.gref) && free;
      this.rxBufs[i] = null;
    }
    for (const [id, p] of this.txPending) {
      if (p.owned) free = this.dom.endForeignAccess(p.gref) && free;
      this.txPending.delete(id);
      this.txFreeIds.push(id);
    }
    this.backendStates.length = 0;
    this.switchState(XenbusState.Initialising);
    await this.connected();
    return free;
  }

  /** xennet_disconnect_backend's ring teardown: true if the backend let go of both ring pages. */
  releaseRings(): boolean {
    this.carrier = false;
    return this.dom.endForeignAccess(this.txRingRef) && this.dom.endForeignAccess(this.rxRingRef);
  }
}
