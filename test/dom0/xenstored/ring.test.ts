import { Worker } from 'node:worker_threads';

import { describe, expect, it } from 'vitest';

import {
  encodeMessage, joinStrings, XENSTORE_ERROR_PROTO, XENSTORE_ERROR_RINGIDX, XENSTORE_SERVER_FEATURES, Xenstored,
  XsType,
} from '../../../src/dom0/xenstored/index.js';
import { CONNECTION, ERROR, FEATURES, GuestRing, REQ_CONS, REQ_PROD, RSP_CONS, RSP_PROD, settle } from './guest.js';

function guestOf(d: Xenstored, domid: number): GuestRing {
  const h = d.openHandle();
  h.mkdir(`/local/domain/${domid}`);
  h.setPerms(`/local/domain/${domid}`, [`n${domid}`]);
  h.close();
  return new GuestRing(d, domid).introduce();
}

function writePayload(path: string, value: Uint8Array): Uint8Array {
  const p = new TextEncoder().encode(path);
  const out = new Uint8Array(p.length + 1 + value.length);
  out.set(p);
  out.set(value, p.length + 1);
  return out;
}

describe('xenstore ring transport', () => {
  it('advertises features, serves requests and notifies the guest', () => {
    const d = new Xenstored();
    const g = guestOf(d, 1);
    expect(Atomics.load(g.idx, FEATURES)).toBe(XENSTORE_SERVER_FEATURES);
    expect(XENSTORE_SERVER_FEATURES).toBe(7);
    const before = g.notifications;
    g.write('name', 'guest1');
    expect(g.read('name')).toBe('guest1');
    expect(g.notifications).toBeGreaterThan(before);
    expect(Atomics.load(g.idx, ERROR)).toBe(0);
  });

  it('handles several requests per kick and requests split across kicks', () => {
    const d = new Xenstored();
    const g = guestOf(d, 1);
    const a = g.send(XsType.GET_DOMAIN_PATH, ['1']);
    const b = g.send(XsType.GET_DOMAIN_PATH, ['2']);
    g.kick();
    const replies = g.readAll();
    expect(replies.map((r) => [r.reqId, r.strings[0]])).toEqual([[a, '/local/domain/1'], [b, '/local/domain/2']]);
    // Half a header, then the rest.
    const msg = encodeMessage(XsType.GET_DOMAIN_PATH, 77, 0, joinStrings(['3']));
    const cons0 = Atomics.load(g.idx, REQ_CONS);
    g.writeRaw(msg.subarray(0, 7));
    g.kick();
    expect(g.readAll()).toEqual([]);
    expect(Atomics.load(g.idx, REQ_CONS) - cons0).toBe(7);
    g.writeRaw(msg.subarray(7));
    g.kick();
    const r = g.readAll();
    expect(r).toHaveLength(1);
    expect(r[0]!.reqId).toBe(77);
    expect(r[0]!.strings).toEqual(['/local/domain/3']);
  });

  it('moves messages larger than the ring in pieces, both ways', () => {
    const d = new Xenstored();
    const g = guestOf(d, 1);
    // 2000 bytes: more than the ring, less than the node-size quota a guest is held to.
    const value = new Uint8Array(2000).map((_, i) => (i * 7) & 0xff);
    const req = encodeMessage(XsType.WRITE, 5, 0, writePayload('big', value));
    let off = 0;
    while (off < req.length) {
      off += g.writeRaw(req.subarray(off));
      g.kick();
    }
    expect(g.readAll().map((r) => r.strings[0])).toEqual(['OK']);
    const id = g.send(XsType.READ, ['big']);
    let got: Uint8Array | null = null;
    for (let i = 0; i < 10 && !got; i++) {
      g.kick();
      got = g.readAll().find((r) => r.reqId === id)?.payload ?? null;
    }
    expect(got).toEqual(value);
  });

  it('copes with indices anywhere, including across the 2^32 wrap', () => {
    const d = new Xenstored();
    const g = guestOf(d, 1);
    const start = 0xfffffff8 | 0;
    for (const i of [REQ_CONS, REQ_PROD, RSP_CONS, RSP_PROD]) Atomics.store(g.idx, i, start);
    for (let i = 0; i < 50; i++) g.write(`k${i}`, `value-${i}`);
    for (let i = 0; i < 50; i++) expect(g.read(`k${i}`)).toBe(`value-${i}`);
    expect(Atomics.load(g.idx, REQ_PROD) >>> 0).toBeLessThan(0x10000);
    expect(Atomics.load(g.idx, ERROR)).toBe(0);
  });

  it('marks the connection bad on a garbage request index and stops serving it', async () => {
    const d = new Xenstored();
    const h = d.openHandle();
    const g = guestOf(d, 1);
    g.ok(XsType.WATCH, ['w', 'tok']);
    Atomics.store(g.idx, REQ_PROD, 5000);
    g.kick();
    expect(Atomics.load(g.idx, ERROR)).toBe(XENSTORE_ERROR_RINGIDX);
    // Even with sane indices again the guest is ignored, and its watches are gone.
    Atomics.store(g.idx, REQ_PROD, Atomics.load(g.idx, REQ_CONS));
    const rspBefore = Atomics.load(g.idx, RSP_PROD);
    g.send(XsType.GET_DOMAIN_PATH, ['1']);
    g.kick();
    h.write('/local/domain/1/w/x', 'event?');
    await settle();
    expect(Atomics.load(g.idx, RSP_PROD)).toBe(rspBefore);
    expect(d.ringConnection(1)!.watches).toEqual([]);
    // The daemon itself is fine.
    expect(h.readString('/local/domain/1/w/x')).toBe('event?');
  });

  it('marks the connection bad on a garbage response index', () => {
    const d = new Xenstored();
    const g = guestOf(d, 1);
    Atomics.store(g.idx, RSP_CONS, -123456);
    g.send(XsType.GET_DOMAIN_PATH, ['1']);
    g.kick();
    expect(Atomics.load(g.idx, ERROR)).toBe(XENSTORE_ERROR_RINGIDX);
  });

  it('marks the connection bad on an oversized message', () => {
    const d = new Xenstored();
    const g = guestOf(d, 1);
    const hdr = new Uint8Array(16);
    new DataView(hdr.buffer).setUint32(12, 4097, true);
    g.writeRaw(hdr);
    g.kick();
    expect(Atomics.load(g.idx, ERROR)).toBe(XENSTORE_ERROR_PROTO);
    expect(g.readAll()).toEqual([]);
  });

  it('answers garbage message types and keeps the connection', () => {
    const d = new Xenstored();
    const g = guestOf(d, 1);
    expect(g.err(0xdeadbeef, ['x'])).toBe('ENOSYS');
    expect(g.err(XsType.WATCH_EVENT, ['a', 'b'])).toBe('ENOSYS');
    expect(g.err(XsType.READ, new Uint8Array([1, 2, 3]))).toBe('EINVAL');
    expect(g.ok(XsType.GET_DOMAIN_PATH, ['1'])).toEqual(['/local/domain/1']);
  });

  it('reconnects on request: fresh ring, no watches, error cleared', () => {
    const d = new Xenstored();
    const g = guestOf(d, 1);
    g.ok(XsType.WATCH, ['w', 'tok']);
    Atomics.store(g.idx, REQ_PROD, 99999);
    g.kick();
    expect(Atomics.load(g.idx, ERROR)).toBe(XENSTORE_ERROR_RINGIDX);
    const n = g.notifications;
    Atomics.store(g.idx, CONNECTION, 1); // XENSTORE_RECONNECT
    g.kick();
    expect(Atomics.load(g.idx, CONNECTION)).toBe(0);
    expect(Atomics.load(g.idx, ERROR)).toBe(0);
    for (const i of [REQ_CONS, REQ_PROD, RSP_CONS, RSP_PROD]) expect(Atomics.load(g.idx, i)).toBe(0);
    expect(g.notifications).toBe(n + 1);
    expect(d.ringConnection(1)!.watches).toEqual([]);
    expect(g.ok(XsType.GET_DOMAIN_PATH, ['1'])).toEqual(['/local/domain/1']);
  });

  it('stops reading a guest that does not collect its replies (outstanding quota)', () => {
    const d = new Xenstored();
    const h = d.openHandle();
    const g = guestOf(d, 1);
    h.write('/local/domain/1/v', 'x'.repeat(500));
    const ids: number[] = [];
    for (let i = 0; i < 29; i++) ids.push(g.send(XsType.READ, ['v']));
    g.kick();
    expect(d.domainUsage(1)!.outstanding).toBe(20);
    expect(Atomics.load(g.idx, REQ_CONS)).toBeLessThan(Atomics.load(g.idx, REQ_PROD));
    // Draining the replies lets the daemon carry on; every reply arrives, in order.
    const got: number[] = [];
    for (let i = 0; i < 100 && got.length < ids.length; i++) {
      got.push(...g.readAll().map((r) => r.reqId));
      g.kick();
    }
    expect(got).toEqual(ids);
    expect(d.domainUsage(1)!.outstanding).toBe(0);
  });

  it('bounds queued watch events by the memory quota', async () => {
    const d = new Xenstored({ quotas: { memory: 8192 } });
    const h = d.openHandle();
    const g = guestOf(d, 1);
    // dom0 owns the flooded nodes, so only the queued events count against dom1.
    h.mkdir('/flood');
    h.setPerms('/flood', ['n0', 'r1']);
    g.ok(XsType.WATCH, ['/flood', 'f']);
    for (let i = 0; i < 500; i++) h.write(`/flood/node-${i}`, 'x');
    await settle();
    const usage = d.domainUsage(1)!;
    expect(usage.memory).toBeLessThan(8192);
    const before = g.events.length;
    for (let i = 0; i < 50; i++) {
      g.readAll();
      g.kick();
    }
    expect(g.events.length - before).toBeGreaterThan(10);
    expect(g.events.length - before).toBeLessThan(500);
    expect(g.ok(XsType.GET_DOMAIN_PATH, ['1'])).toEqual(['/local/domain/1']);
  });

  it('survives a notify callback that throws', () => {
    const errors: string[] = [];
    const d = new Xenstored({ logger: { debug() {}, info() {}, warn() {}, error: (m) => errors.push(m) } });
    const g = new GuestRing(d, 2);
    d.introduceDomain(2, g.page, () => {
      throw new Error('evtchn gone');
    });
    expect(g.ok(XsType.GET_DOMAIN_PATH, ['2'])).toEqual(['/local/domain/2']);
    expect(errors.join('\n')).toContain('evtchn gone');
  });

  it('rejects a ring view that cannot hold the interface', () => {
    const d = new Xenstored();
    expect(() => d.introduceDomain(3, new Uint8Array(100), () => {})).toThrow(/2076/);
    expect(() => d.introduceDomain(3, new Uint8Array(new ArrayBuffer(4100), 2), () => {})).toThrow(/aligned/);
    expect(() => d.introduceDomain(0, new Uint8Array(4096), () => {})).toThrow(/EINVAL/);
    expect(d.isDomainIntroduced(3)).toBe(false);
  });

  it('serves a guest running in another thread on a shared page', async () => {
    const d = new Xenstored();
    const h = d.openHandle();
    h.mkdir('/local/domain/4');
    h.setPerms('/local/domain/4', ['n4']);
    const page = new SharedArrayBuffer(4096);
    const ctrl = new Int32Array(new SharedArrayBuffer(4));
    d.introduceDomain(4, new Uint8Array(page), () => {
      Atomics.add(ctrl, 0, 1);
      Atomics.notify(ctrl, 0);
    });
    const worker = new Worker(GUEST_WORKER, { eval: true, workerData: { page, ctrl: ctrl.buffer, n: 200 } });
    worker.on('message', (m: unknown) => {
      if (m === 'kick') d.kick(4);
    });
    const result = await new Promise<{ ok: number; errors: string[] }>((resolve, reject) => {
      worker.on('message', (m: unknown) => {
        if (typeof m === 'object' && m !== null) resolve(m as { ok: number; errors: string[] });
      });
      worker.on('error', reject);
    });
    await worker.terminate();
    expect(result.errors).toEqual([]);
    expect(result.ok).toBe(200);
    expect(h.readString('/local/domain/4/k199')).toBe('v199');
    expect(h.getPerms('/local/domain/4/k0')).toEqual(['n4']);
  });
});

/**
 * A guest's xenbus in plain JS: writes a request, kicks the host, waits on the notification
 * word with Atomics.wait for the reply, as a vCPU thread blocked on its event channel would.
 */
const GUEST_WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const page = new Uint8Array(workerData.page);
const idx = new Int32Array(workerData.page, 2048, 7);
const ctrl = new Int32Array(workerData.ctrl);
const enc = new TextEncoder();
const dec = new TextDecoder();
function put(bytes) {
  let off = 0;
  while (off < bytes.length) {
    const cons = Atomics.load(idx, 0) >>> 0, prod = Atomics.load(idx, 1) >>> 0;
    const space = 1024 - ((prod - cons) >>> 0);
    const n = Math.min(space, bytes.length - off);
    for (let i = 0; i < n; i++) page[(prod + i) & 1023] = bytes[off + i];
    Atomics.store(idx, 1, (prod + n) | 0);
    off += n;
    parentPort.postMessage('kick');
    if (off < bytes.length) wait();
  }
}
let seen = 0;
function wait() {
  const v = Atomics.load(ctrl, 0);
  if (v === seen) Atomics.wait(ctrl, 0, seen, 5000);
  seen = Atomics.load(ctrl, 0);
}
function take(n) {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const cons = Atomics.load(idx, 2) >>> 0, prod = Atomics.load(idx, 3) >>> 0;
    const avail = (prod - cons) >>> 0;
    if (avail === 0) { wait(); continue; }
    const k = Math.min(avail, n - got);
    for (let i = 0; i < k; i++) out[got + i] = page[1024 + ((cons + i) & 1023)];
    Atomics.store(idx, 2, (cons + k) | 0);
    got += k;
  }
  return out;
}
function call(type, reqId, body) {
  const msg = new Uint8Array(16 + body.length);
  const dv = new DataView(msg.buffer);
  dv.setUint32(0, type, true); dv.setUint32(4, reqId, true); dv.setUint32(8, 0, true); dv.setUint32(12, body.length, true);
  msg.set(body, 16);
  put(msg);
  for (;;) {
    const hdr = new DataView(take(16).buffer);
    const rtype = hdr.getUint32(0, true), rid = hdr.getUint32(4, true), len = hdr.getUint32(12, true);
    const payload = take(len);
    if (rtype === 15) continue; // watch event
    if (rid !== reqId) throw new Error('reply to ' + rid + ' while waiting for ' + reqId);
    return { type: rtype, payload };
  }
}
const errors = [];
let ok = 0;
for (let i = 0; i < workerData.n; i++) {
  const w = call(11, 2 * i + 1, enc.encode('k' + i + '\\0v' + i));
  if (w.type !== 11) { errors.push('write ' + i + ': ' + dec.decode(w.payload)); continue; }
  const r = call(2, 2 * i + 2, enc.encode('k' + i + '\\0'));
  if (r.type === 2 && dec.decode(r.payload) === 'v' + i) ok++;
  else errors.push('read ' + i + ': ' + dec.decode(r.payload));
}
parentPort.postMessage({ ok, errors });
`;
