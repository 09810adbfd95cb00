// Serving one blkif ring: consuming requests, checking every guest-supplied value, running the
// I/O on the disk image and answering in completion order. The request handling follows Linux
// 6.1's drivers/block/xen-blkback/blkback.c (__do_block_io_op, dispatch_rw_block_io,
// xen_blkbk_parse_indirect, dispatch_discard_io, xen_vbd_translate, make_response); where that
// code maps grants and builds bios, this copies between the granted frames and the image.
//
// Grants are held (GTF_reading / GTF_writing set) from dispatch until just before the response is
// published, like blkback's map/unmap around a request: the frontend ends foreign access when it
// sees the response (gnttab_try_end_foreign_access), and with feature-persistent=0 it treats a
// grant still in use as a broken backend.

import type { FrontendDomain } from '../../hypervisor/frontend_domain.js';
import { GrantError } from '../../hypervisor/grant_table.js';
import { PAGE_SIZE } from '../../hypervisor/domain_memory.js';
import {
  BLKIF_MAX_SEGMENTS_PER_REQUEST, BLKIF_OP_DISCARD, BLKIF_OP_FLUSH_DISKCACHE, BLKIF_OP_INDIRECT,
  BLKIF_OP_READ, BLKIF_OP_WRITE, BLKIF_OP_WRITE_BARRIER, BLKIF_REQUEST_ID_OFFSET, BLKIF_RSP_EOPNOTSUPP,
  BLKIF_RSP_ERROR, BLKIF_RSP_OKAY, SEGS_PER_INDIRECT_FRAME, blkif_request, blkif_request_discard,
  blkif_request_indirect, blkif_request_segment, blkifOpName,
} from './blkif.js';
import type { DiskImage } from './image/index.js';
import { SECTOR_SHIFT } from './image/types.js';
import type { BlkifBackRing } from './ring.js';
import type { ServiceLogger } from '../logger.js';
import { errorMessage } from '../../hypervisor/errors.js';
import { EACCES, EIO } from '../../hypervisor/errno.js';

/** Linux blkback's MAX_INDIRECT_SEGMENTS, advertised as feature-max-indirect-segments. */
export const MAX_INDIRECT_SEGMENTS = 256;

const SECTORS_PER_PAGE = PAGE_SIZE >> SECTOR_SHIFT;
/** Bad requests logged at warn level per ring; after that at debug, so a guest cannot flood the log. */
const WARN_BUDGET = 10;
/** Requests consumed per pass before yielding to the event loop (at least a ring's worth). */
const REQUESTS_PER_PASS = 64;
/**
 * Data buffered for requests in flight on one ring. blkback maps the guest's pages; we copy, so a
 * ring full of 1 MiB indirect requests would otherwise pin up to 512 MiB of host memory.
 */
export const MAX_INFLIGHT_BYTES = 32 * 1024 * 1024;

const RW = blkif_request.fields;
const IND = blkif_request_indirect.fields;
const DIS = blkif_request_discard.fields;
const SEG_SIZE = blkif_request_segment.size;
const SEG_GREF = blkif_request_segment.fields.gref.offset;
const SEG_FIRST = blkif_request_segment.fields.first_sect.offset;
const SEG_LAST = blkif_request_segment.fields.last_sect.offset;

interface Segment {
  gref: number;
  firstSect: number;
  lastSect: number;
}

/** A request after validation, waiting to be (or being) served. */
interface RwRequest {
  id: bigint;
  /** The operation itself: READ, WRITE, WRITE_BARRIER or FLUSH_DISKCACHE (indirect_op for INDIRECT). */
  op: number;
  sector: bigint;
  segments: Segment[];
  nrSects: number;
}

/** Counters in the spirit of blkback's sysfs statistics (st_rd_req, st_wr_req, ...). */
export interface BlkifRingStats {
  rd_req: number;
  wr_req: number;
  f_req: number;
  ds_req: number;
  rd_sect: number;
  wr_sect: number;
  /** Requests answered with an error or EOPNOTSUPP before or during I/O. */
  err_req: number;
}

export interface BlkifRingOptions {
  /** For log lines, e.g. "vbd-5-51712". */
  readonly name: string;
  readonly domain: FrontendDomain;
  /** The domain the grants must name (dom0). */
  readonly backendDomid: number;
  readonly ring: BlkifBackRing;
  readonly image: DiskImage;
  readonly readOnly: boolean;
  readonly logger: ServiceLogger;
  /** Raise the ring's event channel at the frontend. */
  readonly notify: () => void;
  /** The frontend broke the ring protocol beyond answering one request with an error. */
  readonly onFatal: (errno: number, message: string) => void;
  readonly maxIndirectSegments?: number;
}

class BadRequest extends Error {}

export class XenBlkifRing {
  readonly stats: BlkifRingStats = { rd_req: 0, wr_req: 0, f_req: 0, ds_req: 0, rd_sect: 0, wr_sect: 0, err_req: 0 };
  private inflight = 0;
  private inflightBytes = 0;
  private running = false;
  private halted = false;
  private scheduled = false;
  /** A consumed WRITE_BARRIER waiting for earlier requests to finish (xen_blk_drain_io). */
  private barrier: RwRequest | null = null;
  private idleWaiters: Array<() => void> = [];
  private warnings = 0;
  private readonly req = new Uint8Array(blkif_request.size);
  private readonly reqView = new DataView(this.req.buffer);
  private readonly maxIndirect: number;

  constructor(private readonly o: BlkifRingOptions) {
    this.maxIndirect = o.maxIndirectSegments ?? MAX_INDIRECT_SEGMENTS;
  }

  /** Requests consumed and not yet answered. */
  get inFlight(): number {
    return this.inflight + (this.barrier ? 1 : 0);
  }

  /** Begin consuming (the device is Connected). */
  start(): void {
    this.running = true;
    this.kick();
  }

  /** Stop consuming new requests; those in flight still complete and are answered. */
  stop(): void {
    this.running = false;
  }

  /** Resolves once nothing is in flight. */
  drain(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** The frontend notified us (or a completion freed a slot): look at the ring soon. */
  kick(): void {
    if (!this.running || this.halted || this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => this.pass());
  }

  private pass(): void {
    this.scheduled = false;
    try {
      this.doBlockIoOp();
    } catch (e) {
      // A bug here must not take the host down with it: stop this ring, report, carry on.
      this.halted = true;
      this.o.logger.error(`blkback ${this.o.name}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      this.o.onFatal(EIO, `internal error while serving the ring: ${errorMessage(e)}`);
    }
  }

  /** do_block_io_op. */
  private doBlockIoOp(): void {
    if (!this.running || this.halted) return;
    let budget = Math.max(REQUESTS_PER_PASS, this.o.ring.size);
    for (;;) {
      const r = this.consume(budget);
      if (r.stop === 'blocked') return;
      if (r.stop === 'budget') {
        // Like blkback's cond_resched(): a frontend refilling the ring as fast as we answer must
        // not keep the main thread (xenstored, consoles, other disks) from running.
        this.scheduled = true;
        setImmediate(() => this.pass());
        return;
      }
      budget -= r.consumed;
      if (!this.o.ring.finalCheckForRequests()) return;
    }
  }

  /**
   * __do_block_io_op: consume up to `budget` requests. Stops early ('blocked') when the ring is
   * halted or stopped, a barrier waits for a drain, or too much data is in flight; completions
   * kick the ring again.
   */
  private consume(budget: number): { stop: 'done' | 'blocked' | 'budget'; consumed: number } {
    const ring = this.o.ring;
    let rc = ring.reqCons;
    const rp = ring.reqProd();
    if (ring.prodOverflow(rp)) {
      this.halted = true;
      // Linux's xen-blkback __do_block_io_op answers a ring overflow with -EACCES.
      this.o.onFatal(
        EACCES,
        `frontend provided bogus ring requests (req_prod ${rp} - rsp_prod ${ring.rspProdPvt} = ${(rp - ring.rspProdPvt) >>> 0}, ring size ${ring.size}); halting ring processing`,
      );
      return { stop: 'blocked', consumed: 0 };
    }
    let consumed = 0;
    while (rc !== rp) {
      if (!this.running || this.halted || this.barrier) return { stop: 'blocked', consumed };
      if (ring.consOverflow(rc) || this.inflightBytes >= MAX_INFLIGHT_BYTES) return { stop: 'blocked', consumed };
      if (consumed >= budget) return { stop: 'budget', consumed };
      ring.copyRequest(rc, this.req);
      rc = (rc + 1) >>> 0;
      ring.reqCons = rc;
      consumed++;
      this.dispatch();
    }
    return { stop: 'done', consumed };
  }

  /** Acts on the private copy in this.req. */
  private dispatch(): void {
    const v = this.reqView;
    const op = v.getUint8(RW.operation.offset);
    const id = v.getBigUint64(BLKIF_REQUEST_ID_OFFSET, true);
    switch (op) {
      case BLKIF_OP_READ:
      case BLKIF_OP_WRITE:
      case BLKIF_OP_WRITE_BARRIER:
      case BLKIF_OP_FLUSH_DISKCACHE:
      case BLKIF_OP_INDIRECT: {
        const opForReply = op === BLKIF_OP_INDIRECT ? v.getUint8(IND.indirect_op.offset) : op;
        let r: RwRequest;
        try {
          r = this.parseRw(op, id);
        } catch (e) {
          if (!(e instanceof BadRequest)) throw e;
          this.bad(id, opForReply, e.message);
          return;
        }
        if (r.op === BLKIF_OP_WRITE_BARRIER && this.inflight > 0) {
          this.barrier = r;
          return;
        }
        this.submitRw(r);
        return;
      }
      case BLKIF_OP_DISCARD:
        this.dispatchDiscard(id);
        return;
      default:
        // dispatch_other_io: unknown operations are answered, not fatal.
        this.stats.err_req++;
        this.note(`request id ${id}: unsupported operation ${op}`);
        this.respond(id, op, BLKIF_RSP_EOPNOTSUPP);
    }
  }

  private parseRw(op: number, id: bigint): RwRequest {
    const v = this.reqView;
    let reqOp = op;
    let nseg: number;
    let sector: bigint;
    let segments: Segment[];
    if (op === BLKIF_OP_INDIRECT) {
      reqOp = v.getUint8(IND.indirect_op.offset);
      if (reqOp !== BLKIF_OP_READ && reqOp !== BLKIF_OP_WRITE) {
        throw new BadRequest(`indirect request carries operation ${reqOp} (only read and write may be indirect)`);
      }
      nseg = v.getUint16(IND.nr_segments.offset, true);
      if (nseg === 0 || nseg > this.maxIndirect) {
        throw new BadRequest(`indirect ${blkifOpName(reqOp)} has ${nseg} segments (1..${this.maxIndirect} allowed)`);
      }
      sector = v.getBigUint64(IND.sector_number.offset, true);
      segments = this.readIndirectSegments(nseg);
    } else {
      nseg = v.getUint8(RW.nr_segments.offset);
      const flush = op === BLKIF_OP_FLUSH_DISKCACHE || op === BLKIF_OP_WRITE_BARRIER;
      if (nseg === 0 && !flush) throw new BadRequest(`${blkifOpName(op)} with no segments`);
      if (nseg > BLKIF_MAX_SEGMENTS_PER_REQUEST) {
        throw new BadRequest(`${blkifOpName(op)} has ${nseg} segments (at most ${BLKIF_MAX_SEGMENTS_PER_REQUEST} without BLKIF_OP_INDIRECT)`);
      }
      sector = v.getBigUint64(RW.sector_number.offset, true);
      segments = [];
      const segBase = RW.seg.offset;
      for (let i = 0; i < nseg; i++) {
        const o = segBase + i * SEG_SIZE;
        segments.push({
          gref: v.getUint32(o + SEG_GREF, true),
          firstSect: v.getUint8(o + SEG_FIRST),
          lastSect: v.getUint8(o + SEG_LAST),
        });
      }
    }
    let nrSects = 0;
    for (let i = 0; i < segments.length; i++) {
      const s = segments[i]!;
      if (s.lastSect >= SECTORS_PER_PAGE || s.lastSect < s.firstSect) {
        throw new BadRequest(`segment ${i} covers sectors ${s.firstSect}..${s.lastSect} of its page (0..${SECTORS_PER_PAGE - 1}, first <= last)`);
      }
      nrSects += s.lastSect - s.firstSect + 1;
    }
    this.translate(reqOp !== BLKIF_OP_READ, sector, BigInt(nrSects), blkifOpName(reqOp));
    return { id, op: reqOp, sector, segments, nrSects };
  }

  /** xen_vbd_translate: writes to a read-only disk and ranges past the end are refused. */
  private translate(write: boolean, sector: bigint, nrSects: bigint, what: string): void {
    if (write && this.o.readOnly) throw new BadRequest(`${what} on a read-only disk`);
    if (nrSects === 0n) return;
    const end = sector + nrSects;
    if (end > BigInt(this.o.image.sectorCount)) {
      throw new BadRequest(`${what} of sectors [${sector}, ${end}) is beyond the end of the disk (${this.o.image.sectorCount} sectors)`);
    }
  }

  /** xen_blkbk_parse_indirect: the segment array lives in granted pages we only read. */
  private readIndirectSegments(nseg: number): Segment[] {
    const v = this.reqView;
    const { grants, mem } = this.o.domain;
    const pages = Math.ceil(nseg / SEGS_PER_INDIRECT_FRAME);
    const segments: Segment[] = [];
    for (let p = 0; p < pages; p++) {
      const gref = v.getUint32(IND.indirect_grefs.offset + 4 * p, true);
      let frame: number;
      try {
        frame = grants.acquire(gref, this.o.backendDomid, false);
      } catch (e) {
        if (e instanceof GrantError) throw new BadRequest(`indirect page ${p}: ${e.message}`);
        throw e;
      }
      try {
        const count = Math.min(SEGS_PER_INDIRECT_FRAME, nseg - p * SEGS_PER_INDIRECT_FRAME);
        const copy = mem.ram.slice(frame, frame + count * SEG_SIZE);
        const cv = new DataView(copy.buffer);
        for (let i = 0; i < count; i++) {
          segments.push({
            gref: cv.getUint32(i * SEG_SIZE + SEG_GREF, true),
            firstSect: cv.getUint8(i * SEG_SIZE + SEG_FIRST),
            lastSect: cv.getUint8(i * SEG_SIZE + SEG_LAST),
          });
        }
      } finally {
        grants.release(gref, false);
      }
    }
    return segments;
  }

  /** Maps the data grants and starts the I/O; the response follows its completion. */
  private submitRw(r: RwRequest): void {
    const toGuest = r.op === BLKIF_OP_READ;
    const { grants, mem } = this.o.domain;
    const held: number[] = [];
    const frames: number[] = [];
    try {
      for (const s of r.segments) {
        frames.push(grants.acquire(s.gref, this.o.backendDomid, toGuest));
        held.push(s.gref);
      }
    } catch (e) {
      for (const g of held) grants.release(g, toGuest);
      if (!(e instanceof GrantError)) throw e;
      this.bad(r.id, r.op, `${blkifOpName(r.op)}: ${e.message}`);
      return;
    }
    let data: Uint8Array | null = null;
    if (!toGuest && r.nrSects > 0) {
      data = new Uint8Array(r.nrSects << SECTOR_SHIFT);
      let at = 0;
      r.segments.forEach((s, i) => {
        const from = frames[i]! + (s.firstSect << SECTOR_SHIFT);
        const len = (s.lastSect - s.firstSect + 1) << SECTOR_SHIFT;
        data!.set(mem.ram.subarray(from, from + len), at);
        at += len;
      });
    }
    if (r.op === BLKIF_OP_READ) {
      this.stats.rd_req++;
      this.stats.rd_sect += r.nrSects;
    } else if (r.op === BLKIF_OP_WRITE) {
      this.stats.wr_req++;
      this.stats.wr_sect += r.nrSects;
    } else {
      this.stats.f_req++;
      this.stats.wr_sect += r.nrSects;
    }
    const bytes = r.nrSects << SECTOR_SHIFT;
    this.inflight++;
    this.inflightBytes += bytes;
    void this.runRw(r, frames, data).then(
      () => BLKIF_RSP_OKAY,
      (e: unknown) => {
        this.stats.err_req++;
        this.note(`${blkifOpName(r.op)} id ${r.id} of ${r.nrSects} sectors at ${r.sector} failed: ${errorMessage(e)}`);
        return BLKIF_RSP_ERROR;
      },
    ).then((status) => {
      this.inflightBytes -= bytes;
      this.guarded(() => {
        for (const g of held) grants.release(g, toGuest);
      });
      this.complete(r.id, r.op, status);
    });
  }

  private async runRw(r: RwRequest, frames: number[], data: Uint8Array | null): Promise<void> {
    const img = this.o.image;
    const mem = this.o.domain.mem;
    if (r.op === BLKIF_OP_READ) {
      const buf = new Uint8Array(r.nrSects << SECTOR_SHIFT);
      await img.read(r.sector, buf);
      let at = 0;
      r.segments.forEach((s, i) => {
        const len = (s.lastSect - s.firstSect + 1) << SECTOR_SHIFT;
        mem.ram.set(buf.subarray(at, at + len), frames[i]! + (s.firstSect << SECTOR_SHIFT));
        at += len;
      });
      return;
    }
    if (data !== null) await img.write(r.sector, data);
    // FLUSH_DISKCACHE and WRITE_BARRIER are REQ_PREFLUSH writes in blkback. Flushing after the
    // data covers both the writes completed before the request and this one's own data.
    if (r.op === BLKIF_OP_FLUSH_DISKCACHE || r.op === BLKIF_OP_WRITE_BARRIER) await img.flush();
  }

  private dispatchDiscard(id: bigint): void {
    const v = this.reqView;
    const sector = v.getBigUint64(DIS.sector_number.offset, true);
    const count = v.getBigUint64(DIS.nr_sectors.offset, true);
    try {
      this.translate(true, sector, count, 'discard');
    } catch (e) {
      if (!(e instanceof BadRequest)) throw e;
      this.bad(id, BLKIF_OP_DISCARD, e.message);
      return;
    }
    this.stats.ds_req++;
    if (count === 0n) {
      this.respond(id, BLKIF_OP_DISCARD, BLKIF_RSP_OKAY);
      return;
    }
    this.inflight++;
    // discard-secure is 0, so BLKIF_DISCARD_SECURE in `flag` is ignored, as blkif.h allows.
    void this.o.image.discard(sector, count).then(
      () => BLKIF_RSP_OKAY,
      (e: unknown) => {
        this.stats.err_req++;
        this.note(`discard id ${id} of ${count} sectors at ${sector} failed: ${errorMessage(e)}`);
        return BLKIF_RSP_ERROR;
      },
    ).then((status) => this.complete(id, BLKIF_OP_DISCARD, status));
  }

  /** Runs completion-side work that must not turn into an unhandled rejection. */
  private guarded(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.halted = true;
      this.o.logger.error(`blkback ${this.o.name}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    }
  }

  private complete(id: bigint, op: number, status: number): void {
    this.inflight--;
    this.guarded(() => this.respond(id, op, status));
    if (this.inflight === 0 && this.barrier) {
      const b = this.barrier;
      this.barrier = null;
      this.guarded(() => this.submitRw(b));
    }
    if (this.inFlight === 0) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
    // A slot is free again (and a barrier may have stopped consumption): look at the ring.
    this.kick();
  }

  private bad(id: bigint, op: number, reason: string): void {
    this.stats.err_req++;
    this.note(`request id ${id}: ${reason}`);
    this.respond(id, op, BLKIF_RSP_ERROR);
  }

  private note(msg: string): void {
    const line = `blkback ${this.o.name}: ${msg}`;
    if (this.warnings < WARN_BUDGET) {
      this.warnings++;
      this.o.logger.warn(this.warnings === WARN_BUDGET ? `${line} (further bad requests are logged at debug level)` : line);
    } else {
      this.o.logger.debug(line);
    }
  }

  /** make_response. */
  private respond(id: bigint, op: number, status: number): void {
    if (this.o.ring.pushResponse(id, op, status)) this.o.notify();
  }
}
