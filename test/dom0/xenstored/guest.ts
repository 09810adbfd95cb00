// A guest's side of the xenstore ring, written the way Linux's xenbus_comms.c does it:
// payload bytes first, then the producer index; responses read up to rsp_prod, then rsp_cons
// advanced. The page is a plain SharedArrayBuffer, as guest RAM is.

import type { Xenstored } from '../../../src/dom0/xenstored/index.js';
import {
  encodeMessage, joinStrings, MessageReader, splitStrings, XENSTORE_RING_SIZE, XsType, type XsMessage,
} from '../../../src/dom0/xenstored/index.js';

export const REQ_CONS = 0;
export const REQ_PROD = 1;
export const RSP_CONS = 2;
export const RSP_PROD = 3;
export const FEATURES = 4;
export const CONNECTION = 5;
export const ERROR = 6;

export interface Reply {
  type: number;
  reqId: number;
  txId: number;
  payload: Uint8Array;
  strings: string[];
}

export class GuestRing {
  readonly sab = new SharedArrayBuffer(4096);
  /** The store page, as the host maps it. */
  readonly page = new Uint8Array(this.sab);
  readonly idx = new Int32Array(this.sab, 2048, 7);
  notifications = 0;
  readonly events: Array<[string, string]> = [];
  private readonly reader = new MessageReader();
  private nextReqId = 1;

  constructor(readonly daemon: Xenstored, readonly domid: number) {}

  readonly notify = (): void => {
    this.notifications++;
  };

  introduce(): this {
    this.daemon.introduceDomain(this.domid, this.page, this.notify);
    return this;
  }

  /** Copies bytes into the request ring as far as there is room; returns how many. */
  writeRaw(bytes: Uint8Array): number {
    const cons = Atomics.load(this.idx, REQ_CONS) >>> 0;
    const prod = Atomics.load(this.idx, REQ_PROD) >>> 0;
    const space = XENSTORE_RING_SIZE - ((prod - cons) >>> 0);
    const n = Math.min(space, bytes.length);
    for (let i = 0; i < n; i++) this.page[((prod + i) & (XENSTORE_RING_SIZE - 1))] = bytes[i]!;
    Atomics.store(this.idx, REQ_PROD, (prod + n) | 0);
    return n;
  }

  /**
   * Queues one request; returns its req_id. A request bigger than the free space goes in
   * pieces with a kick in between, as a guest blocks on the ring; throws if no room appears.
   */
  send(type: number, payload: Uint8Array | string[], txId = 0, reqId = this.nextReqId++): number {
    const body = payload instanceof Uint8Array ? payload : joinStrings(payload);
    const msg = encodeMessage(type, reqId, txId, body);
    let off = this.writeRaw(msg);
    while (off < msg.length) {
      this.kick();
      const n = this.writeRaw(msg.subarray(off));
      if (n === 0) throw new Error(`guest ring full: wrote ${off} of ${msg.length} bytes`);
      off += n;
    }
    return reqId;
  }

  kick(): void {
    this.daemon.kick(this.domid);
  }

  /** Reads every complete response available; watch events go to `events`. */
  readAll(): Reply[] {
    const out: Reply[] = [];
    for (;;) {
      const cons = Atomics.load(this.idx, RSP_CONS) >>> 0;
      const prod = Atomics.load(this.idx, RSP_PROD) >>> 0;
      if (cons === prod) return out;
      const want = Math.min(this.reader.wanted(), (prod - cons) >>> 0);
      const chunk = new Uint8Array(want);
      for (let i = 0; i < want; i++) chunk[i] = this.page[1024 + ((cons + i) & (XENSTORE_RING_SIZE - 1))]!;
      Atomics.store(this.idx, RSP_CONS, (cons + want) | 0);
      const r = this.reader.feed(chunk);
      if (r.tooLong !== undefined) throw new Error(`daemon sent an oversized reply (${r.tooLong})`);
      if (r.message) {
        const m = toReply(r.message);
        if (m.type === XsType.WATCH_EVENT) this.events.push([m.strings[0]!, m.strings[1]!]);
        else out.push(m);
      }
    }
  }

  /** One request, one kick, its reply. */
  request(type: number, payload: Uint8Array | string[], txId = 0): Reply {
    const reqId = this.send(type, payload, txId);
    this.kick();
    const replies = this.readAll();
    const mine = replies.find((r) => r.reqId === reqId);
    if (!mine) throw new Error(`no reply to request ${reqId} (type ${type})`);
    return mine;
  }

  /** The reply's value, or throws with the ERROR name. */
  ok(type: number, payload: Uint8Array | string[], txId = 0): string[] {
    const r = this.request(type, payload, txId);
    if (r.type === XsType.ERROR) throw new Error(`${XsType[type]} failed: ${r.strings[0]!}`);
    if (r.type !== type) throw new Error(`reply type ${r.type} to ${type}`);
    return r.strings;
  }

  /** The ERROR name of a request expected to fail. */
  err(type: number, payload: Uint8Array | string[], txId = 0): string {
    const r = this.request(type, payload, txId);
    if (r.type !== XsType.ERROR) throw new Error(`${XsType[type]} unexpectedly succeeded: ${JSON.stringify(r.strings)}`);
    return r.strings[0]!;
  }

  write(path: string, value: string, txId = 0): void {
    const p = new TextEncoder().encode(path);
    const v = new TextEncoder().encode(value);
    const body = new Uint8Array(p.length + 1 + v.length);
    body.set(p);
    body.set(v, p.length + 1);
    this.ok(XsType.WRITE, body, txId);
  }

  read(path: string, txId = 0): string {
    const r = this.request(XsType.READ, [path], txId);
    if (r.type === XsType.ERROR) throw new Error(`READ ${path} failed: ${r.strings[0]!}`);
    return new TextDecoder().decode(r.payload);
  }
}

function toReply(m: XsMessage): Reply {
  return { type: m.type, reqId: m.reqId, txId: m.txId, payload: m.payload, strings: splitStrings(m.payload) };
}

/** Lets queued microtasks and immediates (watch delivery, re-polls) run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
