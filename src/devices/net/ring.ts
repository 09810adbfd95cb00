// The back end of an io/ring.h shared ring on a page of a frontend's memory. The frontend's
// vCPU runs on another thread and writes req_prod / rsp_event concurrently, so the indices
// are read and written with Atomics (sequentially consistent: the barriers of the ring
// macros), and entries are copied out once before being checked (RING_COPY_REQUEST), never
// re-read. Index arithmetic is modulo 2^32, as RING_IDX is an unsigned int.

import type { Layout } from '../../hypervisor/abi/layout.js';
import type { DomainMemory } from '../../hypervisor/domain_memory.js';
import { PAGE_SIZE } from '../../hypervisor/domain_memory.js';
import { OFF, SRING_ENTRIES_OFFSET, constRingSize } from './netif.js';

export class BackRing {
  /** RING_SIZE: entries in the ring (a power of two). */
  readonly size: number;
  /** Next request to consume (back_ring.req_cons). */
  reqCons: number;
  /** Responses produced but not yet pushed (back_ring.rsp_prod_pvt). */
  rspProdPvt: number;
  /** The rsp_prod value last published, kept privately so the guest cannot skew notify decisions. */
  private pushed: number;
  readonly dv: DataView;
  private readonly i32: Int32Array;

  /**
   * Attaches to a ring page at byte `pageBase` of `mem` (BACK_RING_ATTACH at the page's
   * current rsp_prod, as xenvif_map_frontend_data_rings does, so a reconnect resumes).
   */
  constructor(
    readonly mem: DomainMemory,
    readonly pageBase: number,
    readonly entry: Layout,
  ) {
    if (pageBase % PAGE_SIZE !== 0) throw new RangeError(`ring page at byte ${pageBase} is not page aligned`);
    this.size = constRingSize(entry);
    this.dv = new DataView(mem.sab);
    this.i32 = mem.i32;
    const rspProd = this.load(OFF.rspProd);
    this.reqCons = rspProd;
    this.rspProdPvt = rspProd;
    this.pushed = rspProd;
  }

  private load(field: number): number {
    return Atomics.load(this.i32, (this.pageBase + field) >> 2) >>> 0;
  }

  private store(field: number, v: number): void {
    Atomics.store(this.i32, (this.pageBase + field) >> 2, v | 0);
  }

  reqProd(): number {
    return this.load(OFF.reqProd);
  }

  /** Requests the guest claims to have queued beyond reqCons (may be garbage: check it). */
  pendingRequests(prod = this.reqProd()): number {
    return (prod - this.reqCons) >>> 0;
  }

  /**
   * RING_REQUEST_PROD_OVERFLOW-style check: more unconsumed requests than the ring holds means
   * the frontend wrote a bogus producer index.
   */
  prodOverflow(prod = this.reqProd()): boolean {
    return this.pendingRequests(prod) > this.size;
  }

  /** XEN_RING_NR_UNCONSUMED_REQUESTS: bounded by the room left for responses. */
  unconsumedRequests(prod = this.reqProd()): number {
    const req = this.pendingRequests(prod);
    const rsp = this.size - ((this.reqCons - this.rspProdPvt) >>> 0);
    return Math.max(0, Math.min(req, rsp));
  }

  /** Byte offset (in the domain's buffer) of ring entry `idx` (masked, so always in the page). */
  entryOffset(idx: number): number {
    return this.pageBase + SRING_ENTRIES_OFFSET + ((idx >>> 0) & (this.size - 1)) * this.entry.size;
  }

  setReqEvent(v: number): void {
    this.store(OFF.reqEvent, v);
  }

  /** RING_PUSH_RESPONSES_AND_CHECK_NOTIFY: publish responses; true if the frontend wants an event. */
  pushResponses(): boolean {
    const old = this.pushed;
    const now = this.rspProdPvt >>> 0;
    this.store(OFF.rspProd, now);
    this.pushed = now;
    const event = this.load(OFF.rspEvent);
    return ((now - event) >>> 0) < ((now - old) >>> 0);
  }

  /** RING_FINAL_CHECK_FOR_REQUESTS: re-arm req_event, then look again. True if work remains. */
  finalCheckForRequests(): boolean {
    if (this.unconsumedRequests() > 0) return true;
    this.setReqEvent((this.reqCons + 1) >>> 0);
    return this.unconsumedRequests() > 0;
  }
}
