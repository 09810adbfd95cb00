// The netif data path for one vif (one queue: multi-queue is not offered), following Linux
// 6.1's xen-netback (drivers/net/xen-netback/netback.c for the guest's transmit ring, rx.c for
// its receive ring), with grant copies done as direct copies out of / into the frontend's
// granted pages after GrantTable.acquire() checked the grant.
//
// Guest transmit: requests are copied out of the ring once, then validated as
// xenvif_tx_build_gops / xenvif_count_requests do: a bogus producer index, a missing extra
// slot, an unknown extra type, more than 20 slots after the first, or a slot crossing its page
// end disables the vif (the frontend is broken or hostile); 19 or 20 slots after the first
// (a packet may use 1 + XEN_NETIF_NR_SLOTS_MIN), slots larger than the packet (a >64 KiB
// packet whose 16-bit size wrapped), a first slot shorter than an Ethernet header, or a grant
// that cannot be read get error responses and the packet is dropped.
// Checksum offload: Linux's netfront always sends local TCP/UDP with NETTXF_csum_blank; the
// checksum is completed here before the frame reaches the bridge, so every peer (other
// guests, dom0, a pcap capture) sees correct checksums. GSO is not offered: a GSO extra
// gets an error response. Multicast-control extras are refused (not offered either).
//
// Guest receive: rx-copy only. A frame waits until the frontend has posted enough rx
// requests (one per 4 KiB); each slot's response goes in the slot of its request, as netfront
// requires; a grant that cannot be written gives that slot a negative GNTST status, which
// netfront drops. Frames go out fully checksummed and unflagged.

import type { EventChannelEnd, FrontendDomain } from '../../hypervisor/frontend_domain.js';
import { GrantError } from '../../hypervisor/grant_table.js';
import { PAGE_SIZE } from '../../hypervisor/domain_memory.js';
import type { BridgePort, BridgePortDevice } from './bridge.js';
import { completeIpv4Checksum } from './inet.js';
import { silentLogger, type ServiceLogger } from '../logger.js';
import {
  ETH_HLEN, NETBK_FATAL_SKB_SLOTS, NETIF_EXTRA_FLAG_MORE, NETIF_EXTRA_TYPE, NETIF_NR_SLOTS_MIN, NETIF_RSP, NETRXF,
  NETTXF, OFF, xen_netif_rx_sring_entry, xen_netif_tx_sring_entry, type RxRequest, type TxRequest,
} from './netif.js';
import { BackRing } from './ring.js';
import { errorMessage } from '../../hypervisor/errors.js';

/** Packets taken off the tx ring (or frames put on the rx ring) per pass before yielding. */
const BATCH = 64;
/** Frames waiting for rx slots, at most (beyond: dropped, as the kernel's rx queue limit does). */
const RX_QUEUE_MAX_FRAMES = 512;
const RX_QUEUE_MAX_BYTES = 2 * 1024 * 1024;
/** ETH_FRAME_LEN: the largest frame for a frontend without scatter-gather. */
const ETH_FRAME_LEN = 1514;
/** tx_add_credit's burst floor: enough for a 128 KiB packet. */
const MIN_CREDIT_BURST = 131072;

export interface VifRate {
  bytesPerInterval: number;
  /** 0 means unlimited. */
  intervalUsecs: number;
}

export interface VifConnectParams {
  txRingRef: number;
  rxRingRef: number;
  /** Frontend ports; equal when the frontend uses one event channel for both rings. */
  txEvtchn: number;
  rxEvtchn: number;
  /** feature-sg: the frontend takes multi-slot receives. */
  canSg: boolean;
  rate: VifRate | null;
}

/** Counters as `ip -s link show vifD.H` shows them in dom0: rx is what the guest sent. */
export interface VifStats {
  rxPackets: number;
  rxBytes: number;
  rxErrors: number;
  rxDropped: number;
  txPackets: number;
  txBytes: number;
  txErrors: number;
  txDropped: number;
}

export class NetbackError extends Error {
  constructor(
    readonly errno: string,
    message: string,
  ) {
    super(message);
    this.name = 'NetbackError';
  }
}

export interface NetbackVifOptions {
  logger?: ServiceLogger;
  /** The vif had to be disabled; the xenbus side reports it and closes the device. */
  onFatal?: (reason: string) => void;
  /** Clock in ms, for rate limiting. */
  now?: () => number;
}

interface Connection {
  tx: BackRing;
  rx: BackRing;
  txRingRef: number;
  rxRingRef: number;
  txEvt: EventChannelEnd;
  rxEvt: EventChannelEnd;
  canSg: boolean;
  rate: VifRate | null;
}

export class NetbackVif implements BridgePortDevice {
  readonly mtu = 1500;
  readonly stats: VifStats = {
    rxPackets: 0, rxBytes: 0, rxErrors: 0, rxDropped: 0, txPackets: 0, txBytes: 0, txErrors: 0, txDropped: 0,
  };
  private conn: Connection | null = null;
  private port: BridgePort | null = null;
  private disabledReason: string | null = null;
  private readonly rxQueue: Uint8Array[] = [];
  private rxQueueBytes = 0;
  private scheduled = false;
  private immediate: NodeJS.Immediate | null = null;
  private creditTimer: NodeJS.Timeout | null = null;
  private remainingCredit = Number.MAX_SAFE_INTEGER;
  private creditWindowStart = 0;
  private readonly logger: ServiceLogger;
  private readonly onFatal: (reason: string) => void;
  private readonly now: () => number;

  constructor(
    readonly name: string,
    readonly frontend: FrontendDomain,
    opts: NetbackVifOptions = {},
  ) {
    this.logger = opts.logger ?? silentLogger;
    this.onFatal = opts.onFatal ?? (() => {});
    this.now = opts.now ?? Date.now;
  }

  get connected(): boolean {
    return this.conn !== null;
  }

  /** Why the vif was disabled, or null. */
  get disabled(): string | null {
    return this.disabledReason;
  }

  get bridgePort(): BridgePort | null {
    return this.port;
  }

  attached(port: BridgePort | null): void {
    this.port = port;
  }

  /**
   * Maps the rings and binds the event channels (xenvif_connect_data). Throws NetbackError
   * naming what was wrong; nothing stays mapped or bound on failure.
   */
  connect(p: VifConnectParams): void {
    if (this.conn) throw new NetbackError('EBUSY', `${this.name} is already connected`);
    const { grants, mem } = this.frontend;
    const acquired: number[] = [];
    const bound: EventChannelEnd[] = [];
    try {
      const map = (ref: number, what: string): number => {
        try {
          const base = grants.acquire(ref, 0, true);
          acquired.push(ref);
          return base;
        } catch (e) {
          throw new NetbackError('EINVAL', `cannot map ${what} grant ${ref}: ${errorMessage(e)}`);
        }
      };
      const tx = new BackRing(mem, map(p.txRingRef, 'tx ring'), xen_netif_tx_sring_entry);
      const rx = new BackRing(mem, map(p.rxRingRef, 'rx ring'), xen_netif_rx_sring_entry);
      // xenvif_map_frontend_data_rings: a ring already holding more requests than it can is bogus.
      if (tx.prodOverflow()) throw new NetbackError('EIO', `tx ring holds an impossible ${tx.pendingRequests()} requests`);
      if (rx.prodOverflow()) throw new NetbackError('EIO', `rx ring holds an impossible ${rx.pendingRequests()} requests`);
      const bind = (port: number, onEvent: () => void): EventChannelEnd => {
        try {
          const end = this.frontend.bindInterdomain(port, onEvent);
          bound.push(end);
          return end;
        } catch (e) {
          throw new NetbackError('EINVAL', `cannot bind event channel ${port}: ${errorMessage(e)}`);
        }
      };
      const kick = (): void => this.schedule();
      const txEvt = bind(p.txEvtchn, kick);
      const rxEvt = p.rxEvtchn === p.txEvtchn ? txEvt : bind(p.rxEvtchn, kick);
      this.conn = {
        tx, rx, txRingRef: p.txRingRef, rxRingRef: p.rxRingRef, txEvt, rxEvt, canSg: p.canSg,
        rate: p.rate && p.rate.intervalUsecs > 0 ? p.rate : null,
      };
    } catch (e) {
      for (const end of bound) end.close();
      for (const ref of acquired) grants.release(ref, true);
      throw e;
    }
    this.disabledReason = null;
    this.remainingCredit = this.conn.rate ? this.conn.rate.bytesPerInterval : Number.MAX_SAFE_INTEGER;
    this.creditWindowStart = this.now();
    this.logger.info(`${this.name}: connected (tx ring ${p.txRingRef}, rx ring ${p.rxRingRef}, event channel${p.txEvtchn === p.rxEvtchn ? ` ${p.txEvtchn}` : `s ${p.txEvtchn}/${p.rxEvtchn}`})`);
    // The frontend may have queued requests before we looked.
    this.schedule();
  }

  /** Unbinds, unmaps and drops queued frames (xenvif_disconnect_data). Idempotent. */
  disconnect(): void {
    const c = this.conn;
    if (!c) return;
    this.conn = null;
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = null;
    if (this.creditTimer) clearTimeout(this.creditTimer);
    this.creditTimer = null;
    c.txEvt.close();
    if (c.rxEvt !== c.txEvt) c.rxEvt.close();
    this.frontend.grants.release(c.txRingRef, true);
    this.frontend.grants.release(c.rxRingRef, true);
    this.stats.txDropped += this.rxQueue.length;
    this.rxQueue.length = 0;
    this.rxQueueBytes = 0;
    this.logger.info(`${this.name}: disconnected`);
  }

  /** The bridge hands the guest a frame. */
  transmit(frame: Uint8Array): void {
    const c = this.conn;
    if (!c || this.disabledReason) {
      this.stats.txDropped++;
      return;
    }
    if (!c.canSg && frame.length > ETH_FRAME_LEN) {
      this.stats.txDropped++;
      return;
    }
    if (this.rxQueue.length >= RX_QUEUE_MAX_FRAMES || this.rxQueueBytes + frame.length > RX_QUEUE_MAX_BYTES) {
      this.stats.txDropped++;
      return;
    }
    this.rxQueue.push(frame);
    this.rxQueueBytes += frame.length;
    this.schedule();
  }

  /** Frames waiting for the guest to post rx buffers. */
  get rxQueued(): number {
    return this.rxQueue.length;
  }

  private schedule(): void {
    if (this.scheduled || !this.conn) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.run();
    });
  }

  private run(): void {
    if (!this.conn || this.disabledReason) return;
    let more = false;
    try {
      more = this.txAction() || more;
      if (this.conn) more = this.rxAction() || more;
    } catch (e) {
      // A bug here must not take the host down; the vif goes, the rest carries on.
      this.fatal(`internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
      return;
    }
    if (more && this.conn && !this.immediate) {
      this.immediate = setImmediate(() => {
        this.immediate = null;
        this.run();
      });
    }
  }

  private fatal(reason: string): void {
    if (this.disabledReason) return;
    this.disabledReason = reason;
    this.logger.error(`${this.name}: fatal error; disabling device: ${reason}`);
    this.disconnect();
    this.onFatal(reason);
  }

  // ---- guest transmit -----------------------------------------------------------------------

  private readTxReq(ring: BackRing, idx: number): TxRequest {
    const o = ring.entryOffset(idx);
    const dv = ring.dv;
    return {
      gref: dv.getUint32(o + OFF.txReq.gref, true),
      offset: dv.getUint16(o + OFF.txReq.offset, true),
      flags: dv.getUint16(o + OFF.txReq.flags, true),
      id: dv.getUint16(o + OFF.txReq.id, true),
      size: dv.getUint16(o + OFF.txReq.size, true),
    };
  }

  /** _make_tx_response: the request's response, then NULL responses for its extra slots. */
  private txResponse(ring: BackRing, id: number, status: number, extraCount: number): void {
    let i = ring.rspProdPvt;
    const dv = ring.dv;
    let o = ring.entryOffset(i);
    dv.setUint16(o + OFF.txRsp.id, id, true);
    dv.setInt16(o + OFF.txRsp.status, status, true);
    for (let k = 0; k < extraCount; k++) {
      i = (i + 1) >>> 0;
      o = ring.entryOffset(i);
      dv.setInt16(o + OFF.txRsp.status, NETIF_RSP.null, true);
    }
    ring.rspProdPvt = (i + 1) >>> 0;
  }

  /** Returns true if the ring still has work after this batch. */
  private txAction(): boolean {
    const c = this.conn!;
    const ring = c.tx;
    let packets = 0;
    let responded = false;
    let more = false;
    for (;;) {
      const prod = ring.reqProd();
      if (ring.prodOverflow(prod)) {
        this.fatal(`Impossible number of requests. req_prod ${prod}, req_cons ${ring.reqCons}, size ${ring.size}`);
        return false;
      }
      let work = ring.unconsumedRequests(prod);
      if (work === 0) {
        if (responded && ring.pushResponses()) c.txEvt.notify();
        responded = false;
        if (ring.finalCheckForRequests()) continue;
        break;
      }
      if (packets >= BATCH) {
        more = true;
        break;
      }
      const first = this.readTxReq(ring, ring.reqCons);
      if (c.rate && first.size > this.remainingCredit && this.creditExceeded(first.size, c.rate)) break;
      if (c.rate) this.remainingCredit -= first.size;
      work--;
      ring.reqCons = (ring.reqCons + 1) >>> 0;
      packets++;
      responded = true;

      // xenvif_get_extras.
      let extraCount = 0;
      const extraTypes = new Set<number>();
      if (first.flags & NETTXF.extra_info) {
        let flags: number;
        do {
          if (work-- <= 0) {
            this.fatal('Missing extra info');
            return false;
          }
          const o = ring.entryOffset(ring.reqCons);
          const type = ring.dv.getUint8(o + OFF.extra.type);
          flags = ring.dv.getUint8(o + OFF.extra.flags);
          ring.reqCons = (ring.reqCons + 1) >>> 0;
          extraCount++;
          if (type === NETIF_EXTRA_TYPE.none || type >= NETIF_EXTRA_TYPE.max) {
            this.fatal(`Invalid extra type: ${type}`);
            return false;
          }
          extraTypes.add(type);
        } while (flags & NETIF_EXTRA_FLAG_MORE);
      }
      if (extraTypes.has(NETIF_EXTRA_TYPE.mcast_add) || extraTypes.has(NETIF_EXTRA_TYPE.mcast_del)) {
        // feature-multicast-control is not offered, so there is no filter to amend.
        this.txResponse(ring, first.id, NETIF_RSP.error, extraCount);
        this.logger.debug(`${this.name}: refused a multicast-control request (not offered)`);
        continue;
      }

      // xenvif_count_requests.
      const frags: TxRequest[] = [];
      const total = first.size;
      let firstSize = first.size;
      let dropReason: string | null = null;
      if (first.flags & NETTXF.more_data) {
        let moreData: boolean;
        do {
          const slots = frags.length;
          if (slots >= work) {
            this.fatal(`Asked for ${slots} slots but exceeds this limit (${work} queued)`);
            return false;
          }
          if (slots >= NETBK_FATAL_SKB_SLOTS) {
            this.fatal(`Malicious frontend using ${slots} slots, threshold ${NETBK_FATAL_SKB_SLOTS}`);
            return false;
          }
          if (!dropReason && slots >= NETIF_NR_SLOTS_MIN) {
            dropReason = `Too many slots (${slots}) exceeding limit (${NETIF_NR_SLOTS_MIN}), dropping packet`;
          }
          const txp = this.readTxReq(ring, (ring.reqCons + slots) >>> 0);
          if (!dropReason && txp.size > firstSize) {
            dropReason = `Invalid tx request, slot size ${txp.size} > remaining size ${firstSize}`;
          }
          firstSize = (firstSize - txp.size) & 0xffff;
          if (txp.offset + txp.size > PAGE_SIZE) {
            this.fatal(`Cross page boundary, txp->offset: ${txp.offset}, size: ${txp.size}`);
            return false;
          }
          frags.push(txp);
          moreData = (txp.flags & NETTXF.more_data) !== 0;
        } while (moreData);
      }
      const slotsUsed = frags.length;
      const responses = (status: number): void => {
        this.txResponse(ring, first.id, status, extraCount);
        for (const f of frags) this.txResponse(ring, f.id, status, 0);
        ring.reqCons = (ring.reqCons + slotsUsed) >>> 0;
      };
      if (dropReason) {
        this.logger.debug(`${this.name}: ${dropReason}`);
        this.stats.rxErrors++;
        responses(NETIF_RSP.error);
        continue;
      }
      if (firstSize < ETH_HLEN) {
        this.logger.debug(`${this.name}: Bad packet size: ${firstSize}`);
        this.stats.rxErrors++;
        responses(NETIF_RSP.error);
        continue;
      }
      if (first.offset + firstSize > PAGE_SIZE) {
        this.fatal(`Cross page boundary, txreq.offset: ${first.offset}, size: ${firstSize}`);
        return false;
      }
      if (extraTypes.has(NETIF_EXTRA_TYPE.gso)) {
        this.logger.debug(`${this.name}: refused a GSO packet (feature-gso-tcpv4/6 not offered)`);
        this.stats.rxErrors++;
        responses(NETIF_RSP.error);
        continue;
      }

      const frame = this.copyFromGuest(first, firstSize, frags, total);
      if (!frame) {
        this.stats.rxErrors++;
        responses(NETIF_RSP.error);
        continue;
      }
      responses(NETIF_RSP.okay);
      if (first.flags & NETTXF.csum_blank) {
        const r = completeIpv4Checksum(frame);
        if (!r.ok) {
          // xenvif_tx_submit drops a packet whose checksum cannot be set up; the slots were fine.
          this.logger.debug(`${this.name}: dropped a packet: ${r.reason}`);
          this.stats.rxErrors++;
          continue;
        }
      }
      this.stats.rxPackets++;
      this.stats.rxBytes += frame.length;
      if (this.port) this.port.input(frame);
      else this.stats.rxDropped++;
      if (!this.conn) return false;
    }
    if (responded && ring.pushResponses()) c.txEvt.notify();
    return more;
  }

  /**
   * Copies a packet's slots out of the granted pages. Null (logged) if a grant cannot be
   * read; every grant taken is given back before returning.
   */
  private copyFromGuest(first: TxRequest, firstSize: number, frags: TxRequest[], total: number): Uint8Array | null {
    const { grants, mem } = this.frontend;
    const frame = new Uint8Array(total);
    let at = 0;
    const slots: Array<[TxRequest, number]> = [[first, firstSize], ...frags.map((f): [TxRequest, number] => [f, f.size])];
    for (const [req, size] of slots) {
      if (size === 0) continue;
      let base: number;
      try {
        base = grants.acquire(req.gref, 0, false);
      } catch (e) {
        if (!(e instanceof GrantError)) throw e;
        this.logger.debug(`${this.name}: tx grant copy failed: ${e.message}`);
        return null;
      }
      try {
        frame.set(mem.ram.subarray(base + req.offset, base + req.offset + size), at);
      } finally {
        grants.release(req.gref, false);
      }
      at += size;
    }
    return frame;
  }

  /** tx_credit_exceeded: true (and a timer set) if the packet must wait for more credit. */
  private creditExceeded(size: number, rate: VifRate): boolean {
    if (this.creditTimer) return true;
    const now = this.now();
    const nextCredit = this.creditWindowStart + rate.intervalUsecs / 1000;
    if (now >= nextCredit) {
      this.creditWindowStart = now;
      this.addCredit(rate);
    }
    if (size > this.remainingCredit) {
      this.creditWindowStart = nextCredit;
      this.creditTimer = setTimeout(() => {
        this.creditTimer = null;
        if (this.conn?.rate) this.addCredit(this.conn.rate);
        this.schedule();
      }, Math.max(0, nextCredit - now));
      return true;
    }
    return false;
  }

  private addCredit(rate: VifRate): void {
    const maxBurst = Math.max(MIN_CREDIT_BURST, rate.bytesPerInterval);
    this.remainingCredit = Math.min(this.remainingCredit + rate.bytesPerInterval, maxBurst);
  }

  // ---- guest receive ------------------------------------------------------------------------

  private readRxReq(ring: BackRing, idx: number): RxRequest {
    const o = ring.entryOffset(idx);
    return { id: ring.dv.getUint16(o + OFF.rxReq.id, true), gref: ring.dv.getUint32(o + OFF.rxReq.gref, true) };
  }

  /** xenvif_rx_action. Returns true if frames remain and slots may be available. */
  private rxAction(): boolean {
    const c = this.conn!;
    const ring = c.rx;
    let done = 0;
    while (this.rxQueue.length > 0) {
      if (done >= BATCH) break;
      const frame = this.rxQueue[0]!;
      const needed = Math.max(1, Math.ceil(frame.length / PAGE_SIZE));
      // xenvif_rx_ring_slots_available: re-arm req_event, then look again.
      let prod = ring.reqProd();
      if (ring.prodOverflow(prod)) {
        this.fatal(`rx ring: impossible number of requests. req_prod ${prod}, req_cons ${ring.reqCons}, size ${ring.size}`);
        return false;
      }
      if (ring.pendingRequests(prod) < needed) {
        ring.setReqEvent((prod + 1) >>> 0);
        prod = ring.reqProd();
        if (ring.prodOverflow(prod)) {
          this.fatal(`rx ring: impossible number of requests. req_prod ${prod}, req_cons ${ring.reqCons}, size ${ring.size}`);
          return false;
        }
        if (ring.pendingRequests(prod) < needed) break;
      }
      this.rxQueue.shift();
      this.rxQueueBytes -= frame.length;
      this.rxFrame(ring, frame);
      done++;
    }
    if (done > 0 && ring.pushResponses()) c.rxEvt.notify();
    return done >= BATCH && this.rxQueue.length > 0;
  }

  /** xenvif_rx_skb with rx-copy: one slot per page-sized chunk, responses in the request slots. */
  private rxFrame(ring: BackRing, frame: Uint8Array): void {
    const { grants, mem } = this.frontend;
    const dv = ring.dv;
    let at = 0;
    let failed = false;
    do {
      const idx = ring.reqCons;
      const req = this.readRxReq(ring, idx);
      const len = Math.min(PAGE_SIZE, frame.length - at);
      let status = len;
      try {
        const base = grants.acquire(req.gref, 0, true);
        try {
          mem.ram.set(frame.subarray(at, at + len), base);
        } finally {
          grants.release(req.gref, true);
        }
      } catch (e) {
        if (!(e instanceof GrantError)) throw e;
        status = e.status;
        failed = true;
        this.logger.debug(`${this.name}: rx grant copy failed: ${e.message}`);
      }
      at += len;
      const o = ring.entryOffset(idx);
      dv.setUint16(o + OFF.rxRsp.id, req.id, true);
      dv.setUint16(o + OFF.rxRsp.offset, 0, true);
      dv.setUint16(o + OFF.rxRsp.flags, at < frame.length ? NETRXF.more_data : 0, true);
      dv.setInt16(o + OFF.rxRsp.status, status, true);
      ring.reqCons = (idx + 1) >>> 0;
    } while (at < frame.length);
    ring.rspProdPvt = ring.reqCons;
    if (failed) this.stats.txErrors++;
    else {
      this.stats.txPackets++;
      this.stats.txBytes += frame.length;
    }
  }
}
