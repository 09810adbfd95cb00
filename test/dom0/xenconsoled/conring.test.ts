import { describe, expect, it } from 'vitest';

import { Conring, CONRING_SIZE } from '../../../src/dom0/xenconsoled/index.js';
import { DOMAIN_TAIL_LINES } from '../../../src/dom0/xenconsoled/conring.js';

describe('conring (xm dmesg)', () => {
  it('prefixes hypervisor lines with (XEN) and continues an unfinished line', () => {
    const r = new Conring();
    expect(r.size).toBe(CONRING_SIZE);
    r.printk('Xen version 4.17 (tsxen)\n');
    r.printk('Freed 123kB');
    r.printk(' init memory\nsecond\n');
    expect(r.read()).toBe('(XEN) Xen version 4.17 (tsxen)\n(XEN) Freed 123kB init memory\n(XEN) second\n');
  });

  it('turns console_io writes from a domU into whole "(dN) " lines, printable characters only', () => {
    const r = new Conring();
    r.append('[    0.000000] Linux version 6.1', 3);
    expect(r.read()).toBe(''); // held until the newline
    r.append(' (gcc)\r\n\x1b[1mbold\x1b[0m\ttab\x07\n', 3);
    r.append(new Uint8Array([0x68, 0x69, 0xff, 0x80, 0x0a]), 5);
    expect(r.read()).toBe('(d3) [    0.000000] Linux version 6.1 (gcc)\n(d3) [1mbold[0m\ttab\n(d5) hi\n');
  });

  it('keeps partial lines of different domains apart', () => {
    const r = new Conring();
    r.append('alpha ', 1);
    r.append('beta ', 2);
    r.append('one\n', 1);
    r.append('two\n', 2);
    expect(r.read()).toBe('(d1) alpha one\n(d2) beta two\n');
  });

  it('breaks a line that would overflow the 256-byte buffer, as guest_console_write does', () => {
    const r = new Conring();
    r.append('x'.repeat(300) + '\n', 4);
    // 127-byte steps: 127 + 127 stay under 255, the third step (46 + newline) flushes all.
    expect(r.read()).toBe(`(d4) ${'x'.repeat(300)}\n`);
    r.clear();
    r.append('y'.repeat(200), 4);
    r.append('z'.repeat(100), 4);
    // 200 held; 200 + 100 would reach the end of the buffer: printed at once, no newline seen.
    expect(r.read()).toBe(`(d4) ${'y'.repeat(200)}${'z'.repeat(100)}\n`);
  });

  it('keeps only the newest bytes when full, and clear() empties it (xm dmesg -c)', () => {
    const r = new Conring(64);
    for (let i = 0; i < 10; i++) r.printk(`message ${i}\n`);
    const all = Array.from({ length: 10 }, (_, i) => `(XEN) message ${i}\n`).join('');
    expect(r.read()).toBe(all.slice(-64));
    expect(r.length).toBe(64);
    const before = r.read();
    expect(r.read()).toBe(before); // reading does not consume
    r.clear();
    expect(r.read()).toBe('');
    r.printk('after\n');
    expect(r.read()).toBe('(XEN) after\n');
  });

  it('refuses writes that name no domain, and silly sizes', () => {
    const r = new Conring();
    expect(() => r.append('x', 0)).toThrow(/invalid domain 0/);
    expect(() => r.append('x', 0x7ff0)).toThrow(/invalid domain 32752/);
    expect(() => r.append('x', 1.5)).toThrow(/invalid domain/);
    expect(() => new Conring(0)).toThrow(/conring size/);
  });
});

describe("a domain's tail of the hypervisor console", () => {
  it('keeps its own console_io lines and Xen\'s lines about it, not other domains\' or the host\'s', () => {
    const r = new Conring();
    r.printk('Xen version 4.4.4\n');
    r.append('early words\n', 3);
    r.append('someone else\n', 4);
    r.printk('Domain 3 (vcpu#0) crashed on cpu#0:\nRIP:    e033:[<ffffffff81000018>]\n', 3);
    expect(r.domainTail(3)).toEqual(['(d3) early words', '(XEN) Domain 3 (vcpu#0) crashed on cpu#0:', '(XEN) RIP:    e033:[<ffffffff81000018>]']);
    expect(r.domainTail(4)).toEqual(['(d4) someone else']);
    // Everything is in the ring itself too.
    expect(r.read()).toContain('(XEN) Domain 3 (vcpu#0) crashed on cpu#0:\n');
  });

  it('holds only the last lines, and goes with the domain', () => {
    const r = new Conring();
    for (let i = 0; i < DOMAIN_TAIL_LINES + 10; i++) r.append(`line ${i}\n`, 5);
    const t = r.domainTail(5);
    expect(t).toHaveLength(DOMAIN_TAIL_LINES);
    expect(t[t.length - 1]).toBe(`(d5) line ${DOMAIN_TAIL_LINES + 9}`);
    expect(t[0]).toBe('(d5) line 10');
    r.forgetDomain(5);
    expect(r.domainTail(5)).toEqual([]);
  });
});
