import { afterEach, describe, expect, it } from 'vitest';

import { Console, ConsoleRing, INPUT_MAX, consolePage, RingError, XENCONS_IN_SIZE, XENCONS_OUT_SIZE } from '../../../src/dom0/xenconsoled/index.js';
import { DomainMemory } from '../../../src/hypervisor/domain_memory.js';
import { Collector, GuestDomain, GuestThread, numberedLines, recordingLogger } from './guest.js';

const IN_CONS = 0;
const IN_PROD = 1;
const OUT_CONS = 2;
const OUT_PROD = 3;

const threads: GuestThread[] = [];
afterEach(async () => {
  for (const t of threads.splice(0)) await t.terminate();
});

function setup(opts: { bufferLimit?: number } = {}): { dom: GuestDomain; con: Console; guest: GuestThread; log: ReturnType<typeof recordingLogger> } {
  const dom = new GuestDomain();
  const log = recordingLogger();
  const con = new Console({ domid: 7, name: 'ringtest', page: dom.page, notify: dom.notify, logger: log, ...opts });
  const guest = new GuestThread(dom, () => con.kick());
  threads.push(guest);
  return { dom, con, guest, log };
}

describe('console ring against a guest thread playing hvc_xen', () => {
  it('delivers guest output in order across many wrap-arounds of the 2048-byte ring', async () => {
    const { dom, con, guest } = setup();
    const out = new Collector();
    con.attach(out);
    await guest.up;
    const text = numberedLines(1200); // ~21 KiB, ten times the ring
    expect(text.length).toBeGreaterThan(8 * XENCONS_OUT_SIZE);
    // Piece sizes that do not divide 2048, so copies straddle the ring's end at varying points.
    await guest.write(text, [1, 7, 300, 2048, 1999, 13, 4096]);
    await out.until(text.length);
    expect(out.text()).toBe(text);
    expect(con.outputBytes).toBe(text.length);
    expect(Atomics.load(dom.idx, OUT_CONS) >>> 0).toBe(Atomics.load(dom.idx, OUT_PROD) >>> 0);
    expect(con.state).toBe('running');
  });

  it('keeps working when the free-running u32 indices wrap past 2^32', async () => {
    const { dom, con, guest } = setup();
    const start = 0xffffff00 | 0;
    for (const i of [IN_CONS, IN_PROD, OUT_CONS, OUT_PROD]) Atomics.store(dom.idx, i, start);
    const out = new Collector();
    con.attach(out);
    await guest.up;
    const text = numberedLines(200, 'wrap');
    await guest.write(text, [100, 2048]);
    await out.until(text.length);
    expect(out.text()).toBe(text);
    expect(Atomics.load(dom.idx, OUT_CONS) >>> 0).toBe((0xffffff00 + text.length) >>> 0);

    const typed = numberedLines(60, 'key');
    expect(con.write(typed)).toBe(true);
    const got = await guest.read(typed.length);
    expect(new TextDecoder().decode(got)).toBe(typed);
    expect(Atomics.load(dom.idx, IN_PROD) >>> 0).toBe((0xffffff00 + typed.length) >>> 0);
  });

  it('keeps input typed before the guest reads and delivers it intact as the guest consumes', async () => {
    const { dom, con, guest } = setup();
    await guest.up;
    const typed = numberedLines(250, 'typed'); // ~5 KiB, far more than in[1024]
    expect(typed.length).toBeGreaterThan(3 * XENCONS_IN_SIZE);
    const eventsBefore = dom.events;
    con.write(typed);
    // One ring's worth went in at once and the guest was told; the rest waits in dom0.
    expect((Atomics.load(dom.idx, IN_PROD) - Atomics.load(dom.idx, IN_CONS)) >>> 0).toBe(XENCONS_IN_SIZE);
    expect(con.pendingInput).toBe(typed.length - XENCONS_IN_SIZE);
    expect(dom.events).toBe(eventsBefore + 1);
    // More typing while the ring is full queues behind, in order.
    con.write('tail\n');
    const all = typed + 'tail\n';
    const got = await guest.read(all.length, 16);
    expect(new TextDecoder().decode(got)).toBe(all);
    expect(con.pendingInput).toBe(0);
    expect(guest.kicks).toBeGreaterThan(all.length / 16 - 1);
  });

  it('signals backpressure on input and emits drain when the guest catches up', async () => {
    const { con, guest } = setup();
    await guest.up;
    const big = new Uint8Array(100 * 1024).fill(0x61);
    expect(con.write(big)).toBe(false);
    const drained = new Promise<void>((resolve) => con.once('drain', resolve));
    const got = await guest.read(big.length, 4096);
    await drained;
    expect(got.length).toBe(big.length);
    expect(got.every((b) => b === 0x61)).toBe(true);
  });

  it('refuses input beyond INPUT_MAX with an error naming the limit', () => {
    const dom = new GuestDomain();
    const con = new Console({ domid: 2, page: dom.page, notify: dom.notify });
    // The first ring's worth goes straight into in[]; the rest waits, up to INPUT_MAX.
    con.write(new Uint8Array(INPUT_MAX + XENCONS_IN_SIZE - 10));
    expect(con.pendingInput).toBe(INPUT_MAX - 10);
    expect(() => con.write(new Uint8Array(100))).toThrow(/4194294 input bytes already wait .* 100 more would pass the 4194304-byte limit/);
    expect(con.pendingInput).toBe(INPUT_MAX - 10);
    expect(con.write(new Uint8Array(10))).toBe(false);
  });
});

describe('ring arithmetic, step by step', () => {
  it('copies output that straddles the end of out[] and input that straddles the end of in[]', () => {
    const dom = new GuestDomain();
    const con = new Console({ domid: 6, page: dom.page, notify: dom.notify });
    const out = new Collector();
    con.attach(out);
    const msg = new TextEncoder().encode('0123456789'.repeat(10));
    // Guest output from offset 2000: 48 bytes at the end of out[], 52 at its start.
    Atomics.store(dom.idx, OUT_CONS, 2000);
    for (let i = 0; i < msg.length; i++) dom.page[1024 + ((2000 + i) % 2048)] = msg[i]!;
    Atomics.store(dom.idx, OUT_PROD, 2100);
    con.kick();
    expect(out.bytes()).toEqual(Buffer.from(msg));
    expect(Atomics.load(dom.idx, OUT_CONS)).toBe(2100);
    // Input from offset 1000: 24 bytes at the end of in[], the rest at its start.
    Atomics.store(dom.idx, IN_CONS, 1000);
    Atomics.store(dom.idx, IN_PROD, 1000);
    con.write(msg);
    expect(Atomics.load(dom.idx, IN_PROD)).toBe(1100);
    const got = new Uint8Array(100);
    for (let i = 0; i < 100; i++) got[i] = dom.page[(1000 + i) % 1024]!;
    expect(got).toEqual(msg);
  });
});

describe('event delivery', () => {
  it('copes with a host that turns notify straight into another kick', () => {
    const dom = new GuestDomain();
    let notifies = 0;
    let pendingGuestOutput = 'second\r\n';
    const put = (s: string): void => {
      const prod = Atomics.load(dom.idx, OUT_PROD) >>> 0;
      dom.page.set(new TextEncoder().encode(s), 1024 + (prod % 2048));
      Atomics.store(dom.idx, OUT_PROD, (prod + s.length) | 0);
    };
    // The "guest" answers each notify at once with more output and an event of its own.
    const con: Console = new Console({
      domid: 8,
      page: dom.page,
      notify: () => {
        notifies++;
        if (pendingGuestOutput !== '') {
          put(pendingGuestOutput);
          pendingGuestOutput = '';
        }
        con.kick();
      },
    });
    const out = new Collector();
    con.attach(out);
    put('first\r\n');
    con.kick();
    expect(out.text()).toBe('first\r\nsecond\r\n');
    expect(notifies).toBe(2);
  });
});

describe('hostile indices', () => {
  it('treats out_prod - out_cons > 2048 as a broken ring: logs, stops reading, host unharmed', () => {
    const dom = new GuestDomain();
    const log = recordingLogger();
    let notified = 0;
    const con = new Console({ domid: 9, name: 'evil', page: dom.page, notify: () => notified++, logger: log });
    const broken: string[] = [];
    con.on('broken', (r: string) => broken.push(r));
    const out = new Collector();
    con.attach(out);
    Atomics.store(dom.idx, OUT_CONS, 100);
    Atomics.store(dom.idx, OUT_PROD, 100 + 5000);
    expect(() => con.kick()).not.toThrow();
    expect(con.state).toBe('broken');
    expect(con.brokenReason).toMatch(/out_prod 5100 - out_cons 100 = 5000 exceeds the 2048-byte output ring/);
    expect(broken).toEqual([con.brokenReason]);
    expect(log.lines.some((l) => l.startsWith('error:') && l.includes('domain 9 (evil)') && l.includes('broken'))).toBe(true);
    expect(out.length).toBe(0);
    expect(notified).toBe(0);
    // The guest "repairs" the indices: the console stays out of it, nothing more is read.
    Atomics.store(dom.idx, OUT_PROD, 110);
    con.kick();
    expect(Atomics.load(dom.idx, OUT_CONS)).toBe(100);
    expect(out.length).toBe(0);
    expect(() => con.write('x')).toThrow(/console is broken .*input refused/);
  });

  it('treats a negative-looking distance (cons ahead of prod) as broken', () => {
    const dom = new GuestDomain();
    const con = new Console({ domid: 9, page: dom.page, notify: dom.notify });
    Atomics.store(dom.idx, OUT_CONS, 10);
    Atomics.store(dom.idx, OUT_PROD, 9);
    con.kick();
    expect(con.state).toBe('broken');
    expect(con.brokenReason).toMatch(/= 4294967295 exceeds/);
  });

  it('treats in_prod - in_cons > 1024 as broken when input is delivered', () => {
    const dom = new GuestDomain();
    const log = recordingLogger();
    const con = new Console({ domid: 4, page: dom.page, notify: dom.notify, logger: log });
    Atomics.store(dom.idx, IN_CONS, 0);
    Atomics.store(dom.idx, IN_PROD, 2000);
    expect(() => con.write('ls\n')).not.toThrow();
    expect(con.state).toBe('broken');
    expect(con.brokenReason).toMatch(/in_prod 2000 - in_cons 0 = 2000 exceeds the 1024-byte input ring/);
    // Nothing was written past the ring.
    expect(Atomics.load(dom.idx, IN_PROD)).toBe(2000);
    expect(dom.page.subarray(0, 1024).every((b) => b === 0)).toBe(true);
  });

  it('accepts exactly a full ring (prod - cons == size) as legal', () => {
    const dom = new GuestDomain();
    const con = new Console({ domid: 4, page: dom.page, notify: dom.notify });
    const out = new Collector();
    con.attach(out);
    dom.page.fill(0x5a, 1024, 3072);
    Atomics.store(dom.idx, OUT_CONS, 77);
    Atomics.store(dom.idx, OUT_PROD, 77 + XENCONS_OUT_SIZE);
    con.kick();
    expect(con.state).toBe('running');
    expect(out.length).toBe(XENCONS_OUT_SIZE);
  });

  it('the guest player refuses impossible indices the way hvc_xen does (-EINVAL)', async () => {
    const dom = new GuestDomain();
    const guest = new GuestThread(dom, () => {});
    threads.push(guest);
    await guest.up;
    Atomics.store(dom.idx, OUT_CONS, 0);
    Atomics.store(dom.idx, OUT_PROD, 3000);
    const r = await guest.writeRaw(new Uint8Array([65]));
    expect(r).toEqual({ op: 'error', rc: -22, at: 0 });
  });

  it('rejects a page view that cannot hold struct xencons_interface', () => {
    const mem = new DomainMemory(8);
    expect(() => new ConsoleRing(mem.ram.subarray(0, 100))).toThrow(/100 bytes, struct xencons_interface needs 3088/);
    expect(() => new ConsoleRing(mem.ram.subarray(2, 4098))).toThrow(/4-byte aligned/);
    expect(() => consolePage(mem, 8)).toThrow(/console frame 8 is not RAM/);
    expect(() => consolePage(mem, -1)).toThrow(/not RAM/);
    expect(consolePage(mem, 3).byteOffset).toBe(3 * 4096);
    expect(new RingError('x')).toBeInstanceOf(Error);
  });
});
