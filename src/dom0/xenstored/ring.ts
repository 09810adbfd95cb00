// The shared-memory transport: struct xenstore_domain_interface on the guest's store page.
// The page is guest RAM that a guest worker writes concurrently, so every index is read
// once per step with Atomics and validated before use; an index pair more than a ring apart
// marks the connection bad (XENSTORE_ERROR_RINGIDX), an oversized header likewise
// (XENSTORE_ERROR_PROTO). Reference: tools/xenstored/domain.c (readchn, writechn,
// check_indexes, domain_can_read, domain_conn_reset, ignore_connection) and
// docs/misc/xenstore-ring.txt (reconnection and error features).

import { Connection, encodeOut, type ConnectionHost, type OutMsg } from './connection.js';
import { exceeds } from './quota.js';
import {
  MessageReader, XENSTORE_CONNECTED, XENSTORE_ERROR_NONE, XENSTORE_ERROR_PROTO, XENSTORE_ERROR_RINGIDX,
  XENSTORE_RECONNECT, XENSTORE_RING_SIZE, XENSTORE_SERVER_FEATURE_ERROR, XENSTORE_SERVER_FEATURE_RECONNECTION,
  XENSTORE_SERVER_FEATURE_WATCHDEPTH, XS_RING_CONNECTION, XS_RING_ERROR, XS_RING_INTERFACE_SIZE, XS_RING_REQ,
  XS_RING_REQ_CONS, XS_RING_RSP, XS_RING_SERVER_FEATURES, type XsMessage,
} from './wire.js';
import { errorMessage } from '../../hypervisor/errors.js';

export const XENSTORE_SERVER_FEATURES =
  XENSTORE_SERVER_FEATURE_RECONNECTION | XENSTORE_SERVER_FEATURE_ERROR | XENSTORE_SERVER_FEATURE_WATCHDEPTH;

// Int32Array slots, counted from XS_RING_REQ_CONS.
const REQ_CONS = 0;
const REQ_PROD = 1;
const RSP_CONS = 2;
const RSP_PROD = 3;
const FEATURES = (XS_RING_SERVER_FEATURES - XS_RING_REQ_CONS) / 4;
const CONNECTION = (XS_RING_CONNECTION - XS_RING_REQ_CONS) / 4;
const ERROR = (XS_RING_ERROR - XS_RING_REQ_CONS) / 4;

/** Requests handled per poll before yielding to the event loop, so a busy guest cannot starve dom0. */
const MAX_REQUESTS_PER_POLL = 64;

const MASK = XENSTORE_RING_SIZE - 1;

/** Called to signal the guest's xenstore event channel; the host maps it. */
export type RingNotify = () => void;

export function checkRingView(ring: unknown): asserts ring is Uint8Array {
  if (!(ring instanceof Uint8Array)) throw new TypeError('xenstored: the store ring must be a Uint8Array view of the guest page');
  if (ring.byteLength < XS_RING_INTERFACE_SIZE) {
    throw new TypeError(`xenstored: the store ring view is ${ring.byteLength} bytes, xenstore_domain_interface needs ${XS_RING_INTERFACE_SIZE}`);
  }
  if (ring.byteOffset % 4 !== 0) throw new TypeError(`xenstored: the store ring view starts at byte ${ring.byteOffset}, not 4-byte aligned`);
}

export class RingConnection extends Connection {
  private ring: Uint8Array;
  private idx: Int32Array;
  private notifyGuest: RingNotify;
  private readonly reader = new MessageReader();
  private readonly queue: OutMsg[] = [];
  private queueBytes: Uint8Array | null = null;
  private partial = 0;
  private polling = false;
  private pollScheduled = false;

  constructor(host: ConnectionHost, domid: number, ring: Uint8Array, notify: RingNotify) {
    super(host, domid);
    checkRingView(ring);
    this.ring = ring;
    this.idx = new Int32Array(ring.buffer, ring.byteOffset + XS_RING_REQ_CONS, 7);
    this.notifyGuest = notify;
  }

  get label(): string {
    return `dom${this.domid} ring`;
  }

  /** The ring's error indicator (XENSTORE_ERROR_*), as the guest sees it. */
  get ringError(): number {
    return Atomics.load(this.idx, ERROR);
  }

  /** Points the connection at a (re)mapped page and event channel. */
  rebind(ring: Uint8Array, notify: RingNotify): void {
    checkRingView(ring);
    this.ring = ring;
    this.idx = new Int32Array(ring.buffer, ring.byteOffset + XS_RING_REQ_CONS, 7);
    this.notifyGuest = notify;
  }

  /**
   * (Re)starts the connection on INTRODUCE: like domain_conn_reset() it forgets all state and
   * zeroes the indices; a guest-initiated reconnect is acknowledged here too.
   */
  introduce(): void {
    this.resetRing();
    Atomics.store(this.idx, FEATURES, XENSTORE_SERVER_FEATURES);
    if (Atomics.load(this.idx, CONNECTION) === XENSTORE_RECONNECT) {
      Atomics.store(this.idx, CONNECTION, XENSTORE_CONNECTED);
      this.notify();
    }
  }

  private resetRing(): void {
    this.resetState();
    this.reader.reset();
    this.ignored = false;
    Atomics.store(this.idx, REQ_CONS, 0);
    Atomics.store(this.idx, REQ_PROD, 0);
    Atomics.store(this.idx, RSP_CONS, 0);
    Atomics.store(this.idx, RSP_PROD, 0);
    Atomics.store(this.idx, ERROR, XENSTORE_ERROR_NONE);
  }

  /** The host calls this when the guest signals the store event channel. */
  kick(): void {
    this.poll();
  }

  /** Consumes requests and produces replies as far as the ring and quotas allow. */
  poll(): void {
    if (this.closed || this.polling) return;
    this.polling = true;
    let changed = false;
    try {
      if (Atomics.load(this.idx, CONNECTION) === XENSTORE_RECONNECT) {
        this.reconnect();
        return;
      }
      if (this.ignored) return;
      let handled = 0;
      for (;;) {
        changed = this.writeOutput() || changed;
        if (this.ignored || !this.mayRead()) break;
        if (handled >= MAX_REQUESTS_PER_POLL) {
          this.schedulePoll('immediate');
          break;
        }
        const r = this.readInput();
        if (r.consumed) changed = true;
        if (r.message === undefined) break;
        handled++;
        this.host.handleMessage(this, r.message);
        if (this.closed) return;
      }
    } finally {
      this.polling = false;
    }
    if (changed && !this.ignored && !this.closed) this.notify();
  }

  /** domain_can_read(): an unprivileged guest stops being read while over its quotas. */
  private mayRead(): boolean {
    if (this.privileged) return true;
    const acc = this.account;
    const q = this.host.quotas;
    return !exceeds(q.outstanding, acc.outstanding) && !exceeds(q.memory, acc.memory);
  }

  private readInput(): { consumed: boolean; message?: XsMessage } {
    let consumed = false;
    for (;;) {
      const cons = Atomics.load(this.idx, REQ_CONS) >>> 0;
      const prod = Atomics.load(this.idx, REQ_PROD) >>> 0;
      const avail = (prod - cons) >>> 0;
      if (avail > XENSTORE_RING_SIZE) {
        this.bad(XENSTORE_ERROR_RINGIDX, `bad request ring index (cons ${cons}, prod ${prod})`);
        return { consumed };
      }
      if (avail === 0) return { consumed };
      const n = Math.min(avail, this.reader.wanted());
      const chunk = this.copyOut(XS_RING_REQ, cons, n);
      Atomics.store(this.idx, REQ_CONS, (cons + n) | 0);
      consumed = true;
      const r = this.reader.feed(chunk);
      if (r.tooLong !== undefined) {
        this.bad(XENSTORE_ERROR_PROTO, `request of ${r.tooLong} bytes exceeds XENSTORE_PAYLOAD_MAX`);
        return { consumed };
      }
      if (r.message) return { consumed, message: r.message };
    }
  }

  private copyOut(base: number, index: number, n: number): Uint8Array {
    const out = new Uint8Array(n);
    const off = index & MASK;
    const first = Math.min(n, XENSTORE_RING_SIZE - off);
    out.set(this.ring.subarray(base + off, base + off + first), 0);
    if (first < n) out.set(this.ring.subarray(base, base + n - first), first);
    return out;
  }

  private copyIn(base: number, index: number, src: Uint8Array): void {
    const off = index & MASK;
    const first = Math.min(src.length, XENSTORE_RING_SIZE - off);
    this.ring.set(src.subarray(0, first), base + off);
    if (first < src.length) this.ring.set(src.subarray(first), base);
  }

  /** Writes queued output into the response ring; returns whether rsp_prod moved. */
  private writeOutput(): boolean {
    let moved = false;
    while (this.queue.length > 0 && !this.ignored) {
      const cons = Atomics.load(this.idx, RSP_CONS) >>> 0;
      const prod = Atomics.load(this.idx, RSP_PROD) >>> 0;
      const used = (prod - cons) >>> 0;
      if (used > XENSTORE_RING_SIZE) {
        this.bad(XENSTORE_ERROR_RINGIDX, `bad response ring index (cons ${cons}, prod ${prod})`);
        return moved;
      }
      const space = XENSTORE_RING_SIZE - used;
      if (space === 0) return moved;
      const msg = this.queue[0]!;
      this.queueBytes ??= encodeOut(msg);
      const n = Math.min(space, this.queueBytes.length - this.partial);
      this.copyIn(XS_RING_RSP, prod, this.queueBytes.subarray(this.partial, this.partial + n));
      Atomics.store(this.idx, RSP_PROD, (prod + n) | 0);
      moved = true;
      this.partial += n;
      if (this.partial === this.queueBytes.length) {
        this.queue.shift();
        this.queueBytes = null;
        this.partial = 0;
        this.sent(msg);
      }
    }
    return moved;
  }

  protected enqueue(msg: OutMsg): void {
    this.queue.push(msg);
    if (!this.polling) this.schedulePoll('microtask');
  }

  protected dropOutput(): void {
    for (const m of this.queue.splice(0)) this.sent(m);
    this.queueBytes = null;
    this.partial = 0;
  }

  private schedulePoll(when: 'microtask' | 'immediate'): void {
    if (this.pollScheduled) return;
    this.pollScheduled = true;
    const run = (): void => {
      this.pollScheduled = false;
      this.poll();
    };
    if (when === 'microtask') queueMicrotask(run);
    else setImmediate(run);
  }

  /** ignore_connection(): report the error in the page and stop serving the guest. */
  private bad(err: number, why: string): void {
    this.host.logger.warn(`xenstored: dom${this.domid}: ${why}; connection ignored`);
    Atomics.store(this.idx, ERROR, err);
    this.ignored = true;
    this.resetState();
    this.reader.reset();
  }

  /** The ring reconnection feature: the guest asked for a clean slate. */
  private reconnect(): void {
    this.host.logger.info(`xenstored: dom${this.domid} reconnects its ring`);
    this.resetRing();
    Atomics.store(this.idx, CONNECTION, XENSTORE_CONNECTED);
    this.notify();
  }

  private notify(): void {
    try {
      this.notifyGuest();
    } catch (e) {
      this.host.logger.error(`xenstored: notifying dom${this.domid} failed: ${errorMessage(e)}`);
    }
  }
}
