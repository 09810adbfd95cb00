// The back end of a blkif shared ring (io/ring.h: BACK_RING_ATTACH, RING_COPY_REQUEST,
// RING_PUSH_RESPONSES_AND_CHECK_NOTIFY, RING_FINAL_CHECK_FOR_REQUESTS), laid over one or more
// granted guest frames that need not be contiguous: a multi-page ring ("ring-ref%u") is one
// virtual area to the frontend, so an entry may straddle two of our frames.
//
// The frontend's vCPU runs on another thread and writes the same memory at any time. Indices are
// read and written with Atomics (sequentially consistent, so they double as the ring's rmb/wmb/mb),
// every guest index is checked before use, and requests are copied out once (RING_COPY_REQUEST)
// so a guest rewriting an entry after we looked at it cannot change what we act on.

import type { DomainMemory } from '../../hypervisor/domain_memory.js';
import { PAGE_SIZE } from '../../hypervisor/domain_memory.js';
import {
  BLKIF_RING_ENTRY_SIZE, blkif_request, blkif_response, blkif_sring_header, blkifRingSize,
} from './blkif.js';

const REQ_PROD = blkif_sring_header.fields.req_prod.offset;
const REQ_EVENT = blkif_sring_header.fields.req_event.offset;
const RSP_PROD = blkif_sring_header.fields.rsp_prod.offset;
const RSP_EVENT = blkif_sring_header.fields.rsp_event.offset;
const RING_BASE = blkif_sring_header.size;

const RSP_ID = blkif_response.fields.id.offset;
const RSP_OP = blkif_response.fields.operation.offset;
const RSP_STATUS = blkif_response.fields.status.offset;

export class RingError extends Error {
  override readonly name = 'RingError';
}

export class BlkifBackRing {
  /** RING_SIZE: entries (a power of two). */
  readonly size: number;
  /** Private producer index of responses (rsp_prod_pvt). */
  rspProdPvt: number;
  /** Private consumer index of requests (req_cons). */
  reqCons: number;
  private readonly i32: Int32Array;
  private readonly ram: Uint8Array;
  private readonly hdr: number;
  private readonly scratch = new Uint8Array(blkif_response.size);
  private readonly scratchView = new DataView(this.scratch.buffer);

  /**
   * `frames` are the byte offsets in `mem` of the ring's pages, in ring order (the caller has
   * already checked the grants). Attaches as BACK_RING_ATTACH does, at the current rsp_prod, and
   * refuses a ring whose req_prod is already more than a ring ahead of it (xen_blkif_map).
   */
  constructor(
    mem: DomainMemory,
    private readonly frames: readonly number[],
  ) {
    if (frames.length === 0 || (frames.length & (frames.length - 1)) !== 0) {
      throw new RingError(`a blkif ring needs a power-of-two number of pages, not ${frames.length}`);
    }
    for (const f of frames) {
      if (!Number.isInteger(f) || f < 0 || f % PAGE_SIZE !== 0 || f + PAGE_SIZE > mem.ram.length) {
        throw new RingError(`ring frame offset ${f} is not a page of the domain`);
      }
    }
    this.i32 = mem.i32;
    this.ram = mem.ram;
    this.hdr = frames[0]!;
    this.size = blkifRingSize(frames.length);
    const rspProd = this.load(RSP_PROD);
    const reqProd = this.load(REQ_PROD);
    if (((reqProd - rspProd) >>> 0) > this.size) {
      throw new RingError(`shared ring has req_prod ${reqProd} more than ${this.size} requests ahead of rsp_prod ${rspProd}`);
    }
    this.rspProdPvt = rspProd;
    this.reqCons = rspProd;
  }

  get nrPages(): number {
    return this.frames.length;
  }

  private load(field: number): number {
    return Atomics.load(this.i32, (this.hdr + field) >> 2) >>> 0;
  }

  private store(field: number, value: number): void {
    Atomics.store(this.i32, (this.hdr + field) >> 2, value | 0);
  }

  /** The frontend's req_prod as it is now (one read: the caller works from this snapshot). */
  reqProd(): number {
    return this.load(REQ_PROD);
  }

  /** RING_REQUEST_PROD_OVERFLOW: more requests than the ring can hold are claimed. */
  prodOverflow(prod: number): boolean {
    return ((prod - this.rspProdPvt) >>> 0) > this.size;
  }

  /** RING_REQUEST_CONS_OVERFLOW: consuming `cons` would overwrite an unanswered slot. */
  consOverflow(cons: number): boolean {
    return ((cons - this.rspProdPvt) >>> 0) >= this.size;
  }

  /** XEN_RING_NR_UNCONSUMED_REQUESTS, bounded by the free response slots. */
  unconsumedRequests(): number {
    const req = (this.load(REQ_PROD) - this.reqCons) >>> 0;
    const rsp = (this.size - ((this.reqCons - this.rspProdPvt) >>> 0)) >>> 0;
    return Math.min(req, rsp);
  }

  /** RING_FINAL_CHECK_FOR_REQUESTS: true if there is more work; otherwise arms req_event. */
  finalCheckForRequests(): boolean {
    if (this.unconsumedRequests() > 0) return true;
    this.store(REQ_EVENT, this.reqCons + 1);
    return this.unconsumedRequests() > 0;
  }

  /** Byte offset in the domain of ring byte `pos` (0 = start of the first page). */
  private at(pos: number): number {
    return this.frames[Math.floor(pos / PAGE_SIZE)]! + (pos % PAGE_SIZE);
  }

  private entryPos(idx: number): number {
    return RING_BASE + (idx & (this.size - 1)) * BLKIF_RING_ENTRY_SIZE;
  }

  /** RING_COPY_REQUEST: copy request slot `idx` into `dst` (blkif_request.size bytes). */
  copyRequest(idx: number, dst: Uint8Array): void {
    const n = blkif_request.size;
    let pos = this.entryPos(idx);
    let done = 0;
    while (done < n) {
      const inPage = Math.min(n - done, PAGE_SIZE - (pos % PAGE_SIZE));
      const o = this.at(pos);
      dst.set(this.ram.subarray(o, o + inPage), done);
      done += inPage;
      pos += inPage;
    }
  }

  /**
   * Queue one response at rsp_prod_pvt and publish it (RING_PUSH_RESPONSES_AND_CHECK_NOTIFY);
   * returns whether the frontend asked to be notified (rsp_event crossed).
   */
  pushResponse(id: bigint, operation: number, status: number): boolean {
    const v = this.scratchView;
    this.scratch.fill(0);
    v.setBigUint64(RSP_ID, BigInt.asUintN(64, id), true);
    v.setUint8(RSP_OP, operation & 0xff);
    v.setInt16(RSP_STATUS, status, true);
    let pos = this.entryPos(this.rspProdPvt);
    let done = 0;
    const n = this.scratch.length;
    while (done < n) {
      const inPage = Math.min(n - done, PAGE_SIZE - (pos % PAGE_SIZE));
      this.ram.set(this.scratch.subarray(done, done + inPage), this.at(pos));
      done += inPage;
      pos += inPage;
    }
    // Linux reads the old index back from the shared page; ours is the same number unless the
    // guest scribbled on rsp_prod, which must not change whom we notify.
    const old = this.rspProdPvt;
    const next = (this.rspProdPvt + 1) >>> 0;
    this.rspProdPvt = next;
    // The Atomics store orders the entry before the index (wmb) and the load after it (mb).
    this.store(RSP_PROD, next);
    const event = this.load(RSP_EVENT);
    return ((next - event) >>> 0) < ((next - old) >>> 0);
  }
}
