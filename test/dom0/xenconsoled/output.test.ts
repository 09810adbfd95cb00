import { mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import {
  BoundedBuffer, Console, ConsoleLogFile, consolePage, DEFAULT_CONSOLE_LIMIT, guestLogPath, logTimestamp, Xenconsoled,
} from '../../../src/dom0/xenconsoled/index.js';
import { Collector, CONSOLE_MFN, GuestDomain, GuestThread, numberedLines, recordingLogger } from './guest.js';

const tmp = mkdtempSync(join(tmpdir(), 'xenconsoled-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const threads: GuestThread[] = [];
afterEach(async () => {
  for (const t of threads.splice(0)) await t.terminate();
});

const enc = new TextEncoder();

describe('bounded buffer', () => {
  it('keeps the newest bytes up to the limit, dropping the oldest', () => {
    const b = new BoundedBuffer(10);
    b.append(enc.encode('0123'));
    b.append(enc.encode('4567'));
    b.append(enc.encode('89ab'));
    expect(b.size).toBe(10);
    expect(b.dropped).toBe(2);
    expect(Buffer.from(b.take()).toString()).toBe('23456789ab');
    expect(b.size).toBe(0);
    b.append(enc.encode('0123456789abcdef'));
    expect(Buffer.from(b.take()).toString()).toBe('6789abcdef');
    expect(b.dropped).toBe(8);
    expect(new BoundedBuffer(0).limit).toBe(0);
    expect(() => new BoundedBuffer(-1)).toThrow(/limit must be a byte count/);
  });

  it('defaults to xend\'s console-limit of 1024 KiB', () => {
    expect(DEFAULT_CONSOLE_LIMIT).toBe(1024 * 1024);
    expect(new BoundedBuffer().limit).toBe(1024 * 1024);
  });
});

function guestConsole(opts: { bufferLimit?: number; logFile?: string; logTimestamps?: boolean } = {}): { dom: GuestDomain; con: Console; guest: GuestThread } {
  const dom = new GuestDomain();
  const con = new Console({ domid: 11, name: 'out', page: dom.page, notify: dom.notify, ...opts });
  const guest = new GuestThread(dom, () => con.kick());
  threads.push(guest);
  return { dom, con, guest };
}

describe('output while nobody is attached', () => {
  it('buffers at most bufferLimit bytes, dropping the oldest; the log file has everything', async () => {
    const logFile = join(tmp, 'guest-out.log');
    const { con, guest } = guestConsole({ bufferLimit: 4096, logFile });
    await guest.up;
    const text = numberedLines(500); // ~12 KiB through a 2 KiB ring into a 4 KiB buffer
    await guest.write(text, [333]);
    expect(con.bufferedOutput).toBe(4096);
    expect(con.droppedOutput).toBe(text.length - 4096);
    const late = new Collector();
    con.attach(late);
    expect(late.text()).toBe(text.slice(-4096));
    expect(con.bufferedOutput).toBe(0);
    // Live output follows the replay.
    await guest.write('live\r\n');
    await late.until(4096 + 6);
    expect(late.text()).toBe(text.slice(-4096) + 'live\r\n');
    expect(readFileSync(logFile, 'utf8')).toBe(text + 'live\r\n');
    expect(statSync(logFile).mode & 0o777).toBe(0o644 & ~process.umask());
    con.close();
  });

  it('does not buffer while a reader is attached, and starts again after it detaches', async () => {
    const { con, guest } = guestConsole();
    await guest.up;
    const a = new Collector();
    const att = con.attach(a, { replay: 'none' });
    await guest.write('seen\r\n');
    await a.until(6);
    expect(con.bufferedOutput).toBe(0);
    att.detach();
    expect(att.isOpen).toBe(false);
    expect(con.attached).toBe(0);
    await guest.write('missed\r\n');
    expect(con.bufferedOutput).toBe(8);
    const b = new Collector();
    con.attach(b);
    expect(b.text()).toBe('missed\r\n');
    expect(a.text()).toBe('seen\r\n');
  });

  it('feeds every attached reader the same bytes', async () => {
    const { con, guest } = guestConsole();
    await guest.up;
    const readers = [new Collector(), new Collector(), new Collector()];
    for (const r of readers) con.attach(r);
    const text = numberedLines(100);
    await guest.write(text, [17, 900]);
    for (const r of readers) await r.until(text.length);
    for (const r of readers) expect(r.text()).toBe(text);
  });

  it('drops output for a reader that stopped reading, without holding it in dom0 forever', () => {
    const dom = new GuestDomain();
    const log = recordingLogger();
    const con = new Console({ domid: 12, page: dom.page, notify: dom.notify, bufferLimit: 1000, logger: log });
    // A stream whose writes never complete: its writableLength only grows.
    const stuck = new Writable({ highWaterMark: 16, write: () => {} });
    const good = new Collector();
    const a = con.attach(stuck);
    con.attach(good);
    const put = (n: number): void => {
      const prod = Atomics.load(dom.idx, 3) >>> 0;
      for (let i = 0; i < n; i++) dom.page[1024 + ((prod + i) % 2048)] = 0x41 + (i % 26);
      Atomics.store(dom.idx, 3, (prod + n) | 0);
      con.kick();
    };
    for (let i = 0; i < 5; i++) put(600);
    expect(stuck.writableLength).toBeLessThan(1000 + 600);
    expect(a.dropped).toBeGreaterThan(0);
    expect(good.length).toBe(3000);
    expect(log.lines.filter((l) => l.includes('not keeping up'))).toHaveLength(1);
  });

  it('detaches a reader whose stream fails, and tells it why', async () => {
    const { dom, con } = guestConsole();
    const broken = new Writable({ write: (_c, _e, cb) => cb(new Error('EPIPE')) });
    const reasons: string[] = [];
    con.attach(broken, { onClose: (r) => reasons.push(r) });
    const put = (s: string): void => {
      const prod = Atomics.load(dom.idx, 3) >>> 0;
      dom.page.set(enc.encode(s), 1024 + (prod % 2048));
      Atomics.store(dom.idx, 3, (prod + s.length) | 0);
      con.kick();
    };
    put('a');
    await new Promise((r) => setImmediate(r));
    expect(reasons).toEqual(['stream error: EPIPE']);
    expect(con.attached).toBe(0);
    put('b'); // no reader: buffered, no throw
    expect(con.bufferedOutput).toBe(1);
  });

  it('on close takes the last words from the ring, tells readers, refuses input', async () => {
    const { dom, con } = guestConsole();
    const r = new Collector();
    const reasons: string[] = [];
    con.attach(r, { onClose: (why) => reasons.push(why) });
    const s = 'reboot: Power down\r\n';
    dom.page.set(enc.encode(s), 1024);
    Atomics.store(dom.idx, 3, s.length); // written, but the event never came
    con.close();
    expect(r.text()).toBe(s);
    expect(reasons).toEqual(['domain gone']);
    expect(con.state).toBe('closed');
    expect(() => con.write('x')).toThrow(/console is closed, input refused/);
    expect(() => con.attach(new Collector())).toThrow(/console is closed/);
    await con.settled();
    expect(con.screenText()[0]).toBe('reboot: Power down');
  });
});

describe('log file', () => {
  it('timestamps each line as xenconsoled --timestamp=guest does', () => {
    const path = join(tmp, 'stamped.log');
    const when = new Date(2024, 1, 3, 4, 5, 6);
    const f = new ConsoleLogFile(path, { timestamps: true, now: () => when });
    f.write(enc.encode('one\r\ntw'));
    f.write(enc.encode('o\n\r\rthree'));
    f.close();
    const ts = '[2024-02-03 04:05:06] ';
    expect(logTimestamp(when)).toBe(ts);
    expect(readFileSync(path, 'utf8')).toBe(`${ts}Logfile Opened\n${ts}one\r\n${ts}two\n${ts}three`);
  });

  it('appends across reopen (log rotation) and reports an unwritable path without failing', () => {
    const path = join(tmp, 'rotate.log');
    const f = new ConsoleLogFile(path);
    f.write(enc.encode('before\n'));
    renameSync(path, `${path}.1`);
    f.write(enc.encode('still old\n'));
    f.reopen();
    f.write(enc.encode('after\n'));
    f.close();
    expect(readFileSync(`${path}.1`, 'utf8')).toBe('before\nstill old\n');
    expect(readFileSync(path, 'utf8')).toBe('after\n');

    const log = recordingLogger();
    const bad = new ConsoleLogFile(join(tmp, 'no', 'such', 'dir', 'x.log'), { logger: log, label: 'domain 4 (x)' });
    expect(bad.isOpen).toBe(false);
    bad.write(enc.encode('lost'));
    expect(log.lines.some((l) => l.startsWith('error:') && l.includes('failed to open log') && l.includes('domain 4 (x)'))).toBe(true);
  });

  it('names guest logs as xenconsoled does and refuses names that would escape the directory', () => {
    expect(guestLogPath('/var/log/xen/console', 'busybox')).toBe('/var/log/xen/console/guest-busybox.log');
    for (const bad of ['', '.', '..', 'a/b', '../x', 'a\0b']) expect(() => guestLogPath('/d', bad)).toThrow(/cannot name a log file/);
  });
});

describe('Xenconsoled', () => {
  it('introduces domains, routes kicks, writes guest logs under logDir and releases', async () => {
    const log = recordingLogger();
    const d = new Xenconsoled({ logger: log, logDir: tmp });
    const dom = new GuestDomain();
    // Output written before the console was introduced (early boot) is picked up at once.
    const early = 'early\r\n';
    dom.page.set(enc.encode(early), 1024);
    Atomics.store(dom.idx, 3, early.length);
    const con = d.introduceDomain({ domid: 21, name: 'busybox', page: consolePage(dom.mem, CONSOLE_MFN), notify: dom.notify });
    expect(con.bufferedOutput).toBe(early.length);
    expect(d.console(21)).toBe(con);
    expect(() => d.introduceDomain({ domid: 21, name: 'again', page: dom.page, notify: dom.notify })).toThrow(/already has a console/);
    dom.page.set(enc.encode('more'), 1024 + early.length);
    Atomics.store(dom.idx, 3, early.length + 4);
    d.kick(21);
    expect(con.bufferedOutput).toBe(early.length + 4);
    d.kick(99);
    expect(log.lines).toContain('warn: xenconsoled: console event for domain 99, which has no console');
    d.conring.append('partial', 21);
    d.releaseDomain(21);
    expect(d.console(21)).toBeUndefined();
    expect(con.state).toBe('closed');
    expect(readFileSync(join(tmp, 'guest-busybox.log'), 'utf8')).toBe('early\r\nmore');
    // The released domain's half line is gone with it.
    d.conring.append('\n', 22);
    expect(d.conring.read()).toBe('(d22) \n');
    d.close();
  });
});
