// A frontend player that follows Linux 6.1's drivers/block/xen-blkfront.c: blkfront_probe,
// blkback_changed, talk_to_blkback (setup_blkring, write_per_ring_nodes), blkfront_connect and
// blkfront_gather_backend_features, blkif_queue_rw_req / blkif_queue_discard_req (segments per
// 4 KiB grant, BLKIF_OP_INDIRECT above 11 segments), flush_requests
// (RING_PUSH_REQUESTS_AND_CHECK_NOTIFY), blkif_interrupt and blkif_completion (response checks,
// gnttab_try_end_foreign_access on every grant), blkfront_closing.
//
// Everything the backend could get wrong is recorded in `violations` instead of thrown, the way
// blkfront logs "illegal number of responses" or "backed has not unmapped grant": tests assert
// that list stays empty.

import {
  BLKIF_MAX_SEGMENTS_PER_REQUEST, BLKIF_OP_DISCARD, BLKIF_OP_FLUSH_DISKCACHE, BLKIF_OP_INDIRECT, BLKIF_OP_READ,
  BLKIF_OP_WRITE, BLKIF_OP_WRITE_BARRIER,
} from '../../../src/devices/block/blkif.js';
import { PAGE_SIZE } from '../../../src/hypervisor/domain_memory.js';
import type { GuestDomain, GuestXenbus } from './guest.js';

// Offsets straight from io/blkif.h and io/ring.h (x86-64), written out here rather than taken
// from the code under test so that a wrong layout there cannot agree with itself.
const SRING_REQ_PROD = 0;
const SRING_REQ_EVENT = 4;
const SRING_RSP_PROD = 8;
const SRING_RSP_EVENT = 12;
const SRING_RING = 64;
const ENTRY = 112;
const SEG_BYTES = 8;
const SECTOR = 512;
const SEGS_PER_INDIRECT_FRAME = PAGE_SIZE / SEG_BYTES;

export const XenbusStateN = { Unknown: 0, Initialising: 1, InitWait: 2, Initialised: 3, Connected: 4, Closing: 5, Closed: 6 } as const;

export interface Response {
  id: bigint;
  operation: number;
  status: number;
}

export interface SegmentSpec {
  pfn: number;
  firstSect: number;
  lastSect: number;
}

interface Shadow {
  waiting: boolean;
  op: number;
  grefs: number[];
  resolve: (r: Response) => void;
}

export interface BlkfrontOptions {
  /** xen_blkif_max_ring_order (module parameter; Linux's default is 0). */
  maxRingPageOrder?: number;
  /** xen_blkif_max_segments (default 32). */
  maxIndirectSegments?: number;
}

export class Blkfront {
  readonly nodename: string;
  otherend = '';
  otherendId = -1;
  state: number = XenbusStateN.Initialising;
  vdevice = 0;
  readonly violations: string[] = [];
  // From the backend at connect time.
  sectors = 0;
  info = 0;
  sectorSize = 0;
  physicalSectorSize = 0;
  featureFlush = false;
  featureFua = false;
  featureDiscard = false;
  discardGranularity = 0;
  discardAlignment = 0;
  featureSecdiscard = false;
  featurePersistent = false;
  maxIndirect = 0;
  backendStates: number[] = [];
  // Ring.
  nrRingPages = 1;
  ringPfns: number[] = [];
  ringRefs: number[] = [];
  evtchn = 0;
  ringSize = 0;
  reqProdPvt = 0;
  rspCons = 0;
  private shadow: Shadow[] = [];
  private freeIds: number[] = [];
  private stateWaiters: Array<{ pred: (s: number) => boolean; resolve: () => void }> = [];
  private watchToken = '';
  responsesSeen = 0;
  /** Response ids in the order the backend put them on the ring. */
  readonly completions: bigint[] = [];
  /** Ids handed to requests, in submission order (queueRaw). */
  readonly submitted: number[] = [];

  constructor(
    readonly dom: GuestDomain,
    readonly xb: GuestXenbus,
    readonly devid: number,
    readonly opts: BlkfrontOptions = {},
  ) {
    this.nodename = `/local/domain/${dom.domid}/device/vbd/${devid}`;
  }

  /** xenbus_probe_frontend + blkfront_probe: read our node, watch the backend's state. */
  probe(): void {
    const vd = this.xb.read(`${this.nodename}/virtual-device`) ?? this.xb.read(`${this.nodename}/virtual-device-ext`);
    if (vd === null) throw new Error('reading virtual-device');
    this.vdevice = Number.parseInt(vd, 10);
    const backend = this.xb.read(`${this.nodename}/backend`);
    const backendId = this.xb.read(`${this.nodename}/backend-id`);
    if (backend === null || backendId === null) throw new Error('no backend for the device');
    this.otherend = backend;
    this.otherendId = Number(backendId);
    this.state = Number(this.xb.read(`${this.nodename}/state`) ?? '0');
    this.watchToken = this.xb.watch(`${this.otherend}/state`, () => this.otherendChanged());
  }

  /** Resolves when our state satisfies `pred` (or at once if it does). */
  waitState(pred: (s: number) => boolean, what: string, ms = 5000): Promise<void> {
    if (pred(this.state)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for frontend ${what} (state ${this.state}, backend states ${this.backendStates.join(',')})`)), ms);
      this.stateWaiters.push({
        pred,
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
      });
    });
  }

  connected(): Promise<void> {
    return this.waitState((s) => s === XenbusStateN.Connected, 'Connected');
  }

  /** xenbus_read_driver_state: any failure (gone, or no longer readable) is Unknown. */
  private backendState(): number {
    let v: string | null;
    try {
      v = this.xb.read(`${this.otherend}/state`);
    } catch {
      return XenbusStateN.Unknown;
    }
    return v === null ? XenbusStateN.Unknown : Number(v);
  }

  /** xenbus_switch_state: in a transaction, and only if our node still exists. */
  switchState(s: number): void {
    if (s === this.state) return;
    for (;;) {
      const tx = this.xb.transactionStart();
      const cur = this.xb.read(`${this.nodename}/state`, tx);
      if (cur === null) {
        this.xb.transactionEnd(tx, false);
        break;
      }
      this.xb.write(`${this.nodename}/state`, String(s), tx);
      if (this.xb.transactionEnd(tx, true)) break;
    }
    this.state = s;
    for (const w of [...this.stateWaiters]) {
      if (w.pred(s)) {
        this.stateWaiters.splice(this.stateWaiters.indexOf(w), 1);
        w.resolve();
      }
    }
  }

  /** blkback_changed. */
  private otherendChanged(): void {
    const bs = this.backendState();
    this.backendStates.push(bs);
    switch (bs) {
      case XenbusStateN.InitWait:
        if (this.state !== XenbusStateN.Initialising) break;
        this.talkToBlkback();
        break;
      case XenbusStateN.Connected:
        if (this.state !== XenbusStateN.Initialised && this.state !== XenbusStateN.Connected) this.talkToBlkback();
        this.blkfrontConnect();
        break;
      case XenbusStateN.Closed:
        // Linux falls through to Closing unless already Closed.
        if (this.state !== XenbusStateN.Closed) this.blkfrontClosing();
        break;
      case XenbusStateN.Closing:
        this.blkfrontClosing();
        break;
      default:
        break;
    }
  }

  /** talk_to_blkback + setup_blkring + write_per_ring_nodes. */
  private talkToBlkback(): void {
    const maxOrder = Number(this.xb.read(`${this.otherend}/max-ring-page-order`) ?? '0');
    const order = Math.min(this.opts.maxRingPageOrder ?? 0, maxOrder);
    this.nrRingPages = 1 << order;
    // xenbus_setup_ring: the pages are virtually contiguous to the guest; here their frames are
    // deliberately not, so a backend that assumes contiguity reads the wrong memory.
    this.ringPfns = [];
    for (let i = 0; i < this.nrRingPages; i++) {
      this.ringPfns.push(this.dom.allocPage());
      if (this.nrRingPages > 1) this.dom.allocPage();
    }
    this.ringRefs = this.ringPfns.map((p) => this.dom.grantAccess(this.otherendId, p, false));
    // XEN_FRONT_RING_INIT: SHARED_RING_INIT then FRONT_RING_INIT.
    this.storeIdx(SRING_REQ_PROD, 0);
    this.storeIdx(SRING_RSP_PROD, 0);
    this.storeIdx(SRING_REQ_EVENT, 1);
    this.storeIdx(SRING_RSP_EVENT, 1);
    this.ringSize = 2 ** Math.floor(Math.log2((this.nrRingPages * PAGE_SIZE - SRING_RING) / ENTRY));
    this.reqProdPvt = 0;
    this.rspCons = 0;
    this.evtchn = this.dom.allocUnbound(this.otherendId, () => this.interrupt());
    for (;;) {
      const tx = this.xb.transactionStart();
      if (this.nrRingPages > 1) {
        this.xb.write(`${this.nodename}/ring-page-order`, String(order), tx);
        this.ringRefs.forEach((r, i) => this.xb.write(`${this.nodename}/ring-ref${i}`, String(r), tx));
      } else {
        this.xb.write(`${this.nodename}/ring-ref`, String(this.ringRefs[0]), tx);
      }
      this.xb.write(`${this.nodename}/event-channel`, String(this.evtchn), tx);
      this.xb.write(`${this.nodename}/protocol`, 'x86_64-abi', tx);
      this.xb.write(`${this.nodename}/feature-persistent`, '1', tx);
      if (this.xb.transactionEnd(tx, true)) break;
    }
    this.shadow = [];
    this.freeIds = [];
    for (let i = this.ringSize - 1; i >= 0; i--) this.freeIds.push(i);
    this.switchState(XenbusStateN.Initialised);
  }

  /** blkfront_connect + blkfront_gather_backend_features. */
  private blkfrontConnect(): void {
    if (this.state === XenbusStateN.Connected) return;
    const rd = (n: string): string | null => this.xb.read(`${this.otherend}/${n}`);
    const num = (n: string, dflt: number): number => {
      const v = rd(n);
      return v === null ? dflt : Number(v);
    };
    const sectors = rd('sectors');
    const info = rd('info');
    const ss = rd('sector-size');
    if (sectors === null || info === null || ss === null) {
      this.violations.push(`backend connected without sectors/info/sector-size at ${this.otherend}`);
      return;
    }
    this.sectors = Number(sectors);
    this.info = Number(info);
    this.sectorSize = Number(ss);
    this.physicalSectorSize = num('physical-sector-size', this.sectorSize);
    this.featureFlush = false;
    this.featureFua = false;
    if (num('feature-barrier', 0)) {
      this.featureFlush = true;
      this.featureFua = true;
    }
    if (num('feature-flush-cache', 0)) {
      this.featureFlush = true;
      this.featureFua = false;
    }
    if (num('feature-discard', 0)) {
      this.featureDiscard = true;
      this.discardGranularity = num('discard-granularity', 0);
      this.discardAlignment = num('discard-alignment', 0);
      this.featureSecdiscard = !!num('discard-secure', 0);
    }
    this.featurePersistent = !!num('feature-persistent', 0);
    let ind = num('feature-max-indirect-segments', 0);
    ind = Math.min(ind, this.opts.maxIndirectSegments ?? 32);
    this.maxIndirect = ind <= BLKIF_MAX_SEGMENTS_PER_REQUEST ? 0 : ind;
    this.switchState(XenbusStateN.Connected);
  }

  /** blkfront_closing. */
  private blkfrontClosing(): void {
    if (this.state === XenbusStateN.Closing) return;
    this.switchState(XenbusStateN.Closed);
  }

  /**
   * The driver going away (xenbus_dev_remove, e.g. rmmod): stop watching, blkfront_remove, then
   * Closed since blkfront does not allow rebinding. The ring pages come back once the backend has
   * unmapped them (gnttab_end_foreign_access defers until then): checked when it reports Closed.
   */
  async close(): Promise<void> {
    this.unwatchOtherend();
    this.switchState(XenbusStateN.Closed);
    await this.waitBackend((s) => s === XenbusStateN.Closed || s === XenbusStateN.Unknown, 'backend Closed');
    this.free();
  }

  /**
   * xenbus_frontend_dev_shutdown (guest poweroff): Closing, and the backend follows to Closing.
   * blkfront_closing then does nothing (we are Closing already) and Linux gives up after 5 s.
   */
  async shutdown(): Promise<void> {
    this.switchState(XenbusStateN.Closing);
    await this.waitBackend((s) => s === XenbusStateN.Closing, 'backend Closing');
  }

  private unwatchOtherend(): void {
    if (this.watchToken) {
      this.xb.unwatch(`${this.otherend}/state`, this.watchToken);
      this.watchToken = '';
    }
  }

  /** blkif_free: the ring grants must come back; a backend still holding them is a violation. */
  free(): void {
    this.unwatchOtherend();
    for (const r of this.ringRefs) {
      if (!this.dom.endAccess(r)) this.violations.push(`ring grant ${r} still mapped by the backend after it closed`);
    }
    this.ringRefs = [];
    this.dom.closePort(this.evtchn);
  }

  waitBackend(pred: (s: number) => boolean, what: string, ms = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const deadline = Date.now() + ms;
      const tick = (): void => {
        if (pred(this.backendState())) {
          resolve();
          return;
        }
        if (Date.now() > deadline) {
          reject(new Error(`timed out waiting for ${what} (backend state ${this.backendState()})`));
          return;
        }
        setTimeout(tick, 2);
      };
      tick();
    });
  }

  // ---- the shared ring ----------------------------------------------------------------------

  private idxAddr(field: number): number {
    return (this.dom.pageOffset(this.ringPfns[0]!) + field) >> 2;
  }

  storeIdx(field: number, v: number): void {
    Atomics.store(this.dom.mem.i32, this.idxAddr(field), v | 0);
  }

  loadIdx(field: number): number {
    return Atomics.load(this.dom.mem.i32, this.idxAddr(field)) >>> 0;
  }

  /** Byte offset in guest memory of ring byte `pos` (the ring is virtually contiguous). */
  private ringByte(pos: number): number {
    return this.dom.pageOffset(this.ringPfns[Math.floor(pos / PAGE_SIZE)]!) + (pos % PAGE_SIZE);
  }

  private writeRing(pos: number, bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) this.dom.mem.ram[this.ringByte(pos + i)] = bytes[i]!;
  }

  private readRing(pos: number, n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.dom.mem.ram[this.ringByte(pos + i)]!;
    return out;
  }

  private slot(idx: number): number {
    return SRING_RING + (idx & (this.ringSize - 1)) * ENTRY;
  }

  get freeSlots(): number {
    return this.ringSize - ((this.reqProdPvt - this.rspCons) >>> 0);
  }

  /**
   * Puts one request on the ring (not yet pushed). `build` fills the 112 bytes given the id.
   * Returns the response promise; `grefs` are ended when it arrives.
   */
  queueRaw(build: (req: DataView, id: number) => void, op: number, grefs: number[]): Promise<Response> {
    if (this.state !== XenbusStateN.Connected) throw new Error(`frontend not connected (state ${this.state})`);
    if (this.freeSlots === 0) throw new Error('ring full');
    const id = this.freeIds.pop();
    if (id === undefined) throw new Error('no free request id');
    const bytes = new Uint8Array(ENTRY);
    build(new DataView(bytes.buffer), id);
    this.submitted.push(id);
    this.writeRing(this.slot(this.reqProdPvt), bytes);
    this.reqProdPvt = (this.reqProdPvt + 1) >>> 0;
    return new Promise((resolve) => {
      this.shadow[id] = { waiting: true, op, grefs, resolve };
    });
  }

  /** flush_requests: RING_PUSH_REQUESTS_AND_CHECK_NOTIFY, notify only when req_event asks. */
  push(): boolean {
    const old = this.loadIdx(SRING_REQ_PROD);
    const next = this.reqProdPvt;
    this.storeIdx(SRING_REQ_PROD, next);
    const ev = this.loadIdx(SRING_REQ_EVENT);
    const notify = ((next - ev) >>> 0) < ((next - old) >>> 0);
    if (notify) this.dom.notify(this.evtchn);
    return notify;
  }

  /** blkif_interrupt. */
  interrupt(): void {
    for (;;) {
      const rp = this.loadIdx(SRING_RSP_PROD);
      if (((rp - this.rspCons) >>> 0) > this.ringSize) {
        this.violations.push(`illegal number of responses ${(rp - this.rspCons) >>> 0}`);
        return;
      }
      let i = this.rspCons;
      for (; i !== rp; i = (i + 1) >>> 0) {
        const b = this.readRing(this.slot(i), 16);
        const v = new DataView(b.buffer);
        const rsp: Response = { id: v.getBigUint64(0, true), operation: v.getUint8(8), status: v.getInt16(10, true) };
        this.responsesSeen++;
        this.completions.push(rsp.id);
        if (rsp.id >= BigInt(this.ringSize)) {
          this.violations.push(`response has incorrect id (${rsp.id})`);
          continue;
        }
        const id = Number(rsp.id);
        const s = this.shadow[id];
        if (!s || !s.waiting) {
          this.violations.push(`response ${id} references no pending request`);
          continue;
        }
        if (rsp.operation !== s.op) this.violations.push(`response ${id} has wrong operation (${rsp.operation} instead of ${s.op})`);
        s.waiting = false;
        for (const g of s.grefs) {
          if (!this.dom.endAccess(g)) this.violations.push(`backend has not unmapped grant ${g} (response ${id})`);
        }
        this.freeIds.push(id);
        s.resolve(rsp);
      }
      this.rspCons = i;
      if (i !== this.reqProdPvt) {
        // RING_FINAL_CHECK_FOR_RESPONSES
        if (((this.loadIdx(SRING_RSP_PROD) - this.rspCons) >>> 0) > 0) continue;
        this.storeIdx(SRING_RSP_EVENT, this.rspCons + 1);
        if (((this.loadIdx(SRING_RSP_PROD) - this.rspCons) >>> 0) > 0) continue;
      } else {
        this.storeIdx(SRING_RSP_EVENT, i + 1);
      }
      return;
    }
  }

  // ---- requests as blkif_queue_request builds them ---------------------------------------------

  /**
   * blkif_queue_rw_req for a list of (page, first..last) segments: a direct request up to 11
   * segments, BLKIF_OP_INDIRECT beyond when the backend offers it.
   */
  queueRw(op: number, sector: bigint, segs: SegmentSpec[]): Promise<Response> {
    const toBackendReadOnly = op !== BLKIF_OP_READ;
    const grefs = segs.map((s) => this.dom.grantAccess(this.otherendId, s.pfn, toBackendReadOnly));
    const segBytes = (dv: DataView, at: number, i: number): void => {
      dv.setUint32(at, grefs[i]!, true);
      dv.setUint8(at + 4, segs[i]!.firstSect);
      dv.setUint8(at + 5, segs[i]!.lastSect);
    };
    if (segs.length > BLKIF_MAX_SEGMENTS_PER_REQUEST) {
      if (this.maxIndirect === 0 || segs.length > this.maxIndirect) throw new Error(`${segs.length} segments need indirect support`);
      if (op !== BLKIF_OP_READ && op !== BLKIF_OP_WRITE) throw new Error('indirect requests are reads or writes');
      const nInd = Math.ceil(segs.length / SEGS_PER_INDIRECT_FRAME);
      const indPfns: number[] = [];
      const indRefs: number[] = [];
      for (let p = 0; p < nInd; p++) {
        const pfn = this.dom.allocPage();
        const dv = new DataView(this.dom.mem.sab, this.dom.pageOffset(pfn), PAGE_SIZE);
        for (let i = p * SEGS_PER_INDIRECT_FRAME; i < Math.min(segs.length, (p + 1) * SEGS_PER_INDIRECT_FRAME); i++) {
          segBytes(dv, (i % SEGS_PER_INDIRECT_FRAME) * SEG_BYTES, i);
        }
        indPfns.push(pfn);
        indRefs.push(this.dom.grantAccess(this.otherendId, pfn, true));
      }
      const done = this.queueRaw((dv, id) => {
        dv.setUint8(0, BLKIF_OP_INDIRECT);
        dv.setUint8(1, op);
        dv.setUint16(2, segs.length, true);
        dv.setBigUint64(8, BigInt(id), true);
        dv.setBigUint64(16, sector, true);
        dv.setUint16(24, this.devid & 0xffff, true);
        indRefs.forEach((r, i) => dv.setUint32(28 + 4 * i, r, true));
      }, op, [...grefs, ...indRefs]);
      return done.then((r) => {
        for (const p of indPfns) this.dom.freePage(p);
        return r;
      });
    }
    return this.queueRaw((dv, id) => {
      dv.setUint8(0, op);
      dv.setUint8(1, segs.length);
      dv.setUint16(2, this.devid & 0xffff, true);
      dv.setBigUint64(8, BigInt(id), true);
      dv.setBigUint64(16, sector, true);
      segs.forEach((_, i) => segBytes(dv, 24 + i * SEG_BYTES, i));
    }, op, grefs);
  }

  /** Pages and segments for `count` sectors starting `offsetSectors` into the first page. */
  private layout(count: number, offsetSectors: number): { pfns: number[]; segs: SegmentSpec[] } {
    const pfns: number[] = [];
    const segs: SegmentSpec[] = [];
    let left = count;
    let first = offsetSectors;
    while (left > 0) {
      const pfn = this.dom.allocPage();
      const n = Math.min(left, PAGE_SIZE / SECTOR - first);
      pfns.push(pfn);
      segs.push({ pfn, firstSect: first, lastSect: first + n - 1 });
      left -= n;
      first = 0;
    }
    return { pfns, segs };
  }

  /**
   * Reads `count` sectors (data lands in fresh pages, then is copied out). The request is on the
   * ring when this returns its promise; with push=false it is not yet published (batching).
   */
  async read(sector: number, count: number, offsetSectors = 0, push = true): Promise<{ rsp: Response; data: Uint8Array }> {
    const { pfns, segs } = this.layout(count, offsetSectors);
    for (const p of pfns) this.dom.mem.frame(p).fill(0xee);
    const done = this.queueRw(BLKIF_OP_READ, BigInt(sector), segs);
    if (push) this.push();
    const rsp = await done;
    const data = new Uint8Array(count * SECTOR);
    let at = 0;
    for (const s of segs) {
      const o = this.dom.pageOffset(s.pfn) + s.firstSect * SECTOR;
      const len = (s.lastSect - s.firstSect + 1) * SECTOR;
      data.set(this.dom.mem.ram.subarray(o, o + len), at);
      at += len;
    }
    for (const p of pfns) this.dom.freePage(p);
    return { rsp, data };
  }

  /** Writes whole sectors from `data`. `op` may be FLUSH_DISKCACHE or WRITE_BARRIER for FUA-style writes. */
  async write(sector: number, data: Uint8Array, offsetSectors = 0, op: number = BLKIF_OP_WRITE, push = true): Promise<Response> {
    if (data.length % SECTOR !== 0) throw new Error('whole sectors only');
    const { pfns, segs } = this.layout(data.length / SECTOR, offsetSectors);
    let at = 0;
    for (const s of segs) {
      const len = (s.lastSect - s.firstSect + 1) * SECTOR;
      this.dom.mem.ram.set(data.subarray(at, at + len), this.dom.pageOffset(s.pfn) + s.firstSect * SECTOR);
      at += len;
    }
    const done = this.queueRw(op, BigInt(sector), segs);
    if (push) this.push();
    const rsp = await done;
    for (const p of pfns) this.dom.freePage(p);
    return rsp;
  }

  /** A REQ_OP_FLUSH: an empty FLUSH_DISKCACHE, or WRITE_BARRIER when only barriers are offered. */
  flush(push = true): Promise<Response> {
    const op = this.featureFlush && this.featureFua ? BLKIF_OP_WRITE_BARRIER : BLKIF_OP_FLUSH_DISKCACHE;
    const done = this.queueRw(op, 0n, []);
    if (push) this.push();
    return done;
  }

  /** blkif_queue_discard_req. */
  discard(sector: number | bigint, count: number | bigint, secure = false): Promise<Response> {
    const done = this.queueRaw((dv, id) => {
      dv.setUint8(0, BLKIF_OP_DISCARD);
      dv.setUint8(1, secure && this.featureSecdiscard ? 1 : 0);
      dv.setBigUint64(8, BigInt(id), true);
      dv.setBigUint64(16, BigInt(sector), true);
      dv.setBigUint64(24, BigInt(count), true);
    }, BLKIF_OP_DISCARD, []);
    this.push();
    return done;
  }
}

export { BLKIF_OP_FLUSH_DISKCACHE, BLKIF_OP_WRITE_BARRIER };
