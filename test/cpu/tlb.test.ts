// The software TLB's two sets (one per PV guest mode) and its partial flushes: what survives a
// swap, a CR3 write and a flush, and that code tracking sees writes through either set.

import { describe, expect, it } from 'vitest';
import { Access, Memory, type Translator } from '../../src/cpu/memory.js';

const KERNEL = -(2 ** 31); // 0xffffffff80000000, L4 slot 511
const DIRECT = -(2 ** 47) + 2 ** 46; // 0xffffc00000000000, L4 slot 384

/** Maps linear pages to frames from a table the test edits; counts the walks. */
class CountingTranslator implements Translator {
  readonly map = new Map<number, number>();
  walks = 0;
  translate(page: number, _access: Access): number {
    this.walks++;
    const f = this.map.get(page);
    if (f === undefined) throw new Error(`unmapped page ${page}`);
    return f * 4096;
  }
}

function setup(): { m: Memory; t: CountingTranslator } {
  const t = new CountingTranslator();
  const m = new Memory(new Uint8Array(64 * 4096), t);
  return { m, t };
}

describe('the two-set software TLB', () => {
  it('keeps each mode’s translations across swaps, and the sets apart', () => {
    const { m, t } = setup();
    t.map.set(0x400000, 3);
    t.map.set(KERNEL, 4);
    m.wr32(0x400000, 0x11223344);
    m.rd32(0x400000);
    m.rd32(KERNEL);
    const walks = t.walks;
    const kernelGen = m.gen;
    m.swapTlb();
    expect(m.gen).not.toBe(kernelGen);
    // The other set is empty: a user-mode access walks, under its own mapping.
    t.map.set(0x400000, 5);
    m.wr32(0x400000, 0x55667788);
    expect(t.walks).toBe(walks + 1);
    m.swapTlb();
    // Back in the first set: its entries and its generation (block links) are as they were.
    expect(m.gen).toBe(kernelGen);
    expect(m.rd32(0x400000)).toBe(0x11223344);
    m.rd32(KERNEL);
    expect(t.walks).toBe(walks + 1);
    expect(m.ram[5 * 4096]).toBe(0x88);
  });

  it('flush and flushPage cover both sets', () => {
    const { m, t } = setup();
    t.map.set(KERNEL, 4);
    t.map.set(KERNEL + 4096, 6);
    m.rd8(KERNEL);
    m.rd8(KERNEL + 4096);
    m.swapTlb();
    m.rd8(KERNEL);
    m.rd8(KERNEL + 4096);
    m.flushPage(KERNEL);
    let w = t.walks;
    m.rd8(KERNEL);
    m.rd8(KERNEL + 4096);
    expect(t.walks).toBe(w + 1);
    m.swapTlb();
    w = t.walks;
    m.rd8(KERNEL);
    m.rd8(KERNEL + 4096);
    expect(t.walks).toBe(w + 1);
    m.flush();
    w = t.walks;
    m.rd8(KERNEL);
    m.swapTlb();
    m.rd8(KERNEL);
    expect(t.walks).toBe(w + 2);
  });

  it('a CR3 write drops the lower half and the upper-half slots that changed', () => {
    const { m, t } = setup();
    t.map.set(0x400000, 3);
    t.map.set(KERNEL, 4);
    t.map.set(DIRECT, 7);
    m.rd8(0x400000);
    m.wr8(KERNEL, 1);
    m.rd8(DIRECT);
    const gen = m.gen;
    // Same upper half, nothing in the lower half cached: nothing changes, links stay valid.
    const keep = new Uint8Array(512).fill(1);
    const { m: m2, t: t2 } = setup();
    t2.map.set(KERNEL, 4);
    m2.rd8(KERNEL);
    const gen2 = m2.gen;
    m2.flushActiveExcept(keep, true);
    expect(m2.gen).toBe(gen2);
    // Slot 384 (the direct map) differs in the new L4; slot 511 (the kernel image) does not.
    keep[384] = 0;
    m.flushActiveExcept(keep, false);
    expect(m.gen).not.toBe(gen);
    let w = t.walks;
    m.wr8(KERNEL, 2);
    expect(t.walks).toBe(w);
    m.rd8(0x400000);
    expect(t.walks).toBe(w + 1);
    m.rd8(DIRECT);
    expect(t.walks).toBe(w + 2);
    // An inactive set's root change empties that set only.
    m.flushInactive();
    w = t.walks;
    m.wr8(KERNEL, 3);
    expect(t.walks).toBe(w);
  });

  it('a frame that becomes code loses its write entries in both sets', () => {
    const { m, t } = setup();
    const written: number[] = [];
    m.onCodeWrite = (f) => written.push(f);
    t.map.set(0x400000, 9);
    m.wr8(0x400000, 1); // the active set has a write entry for frame 9
    m.swapTlb();
    m.wr8(0x400000, 2); // and so has the other one
    m.markCodeFrame(9);
    m.wr8(0x400000, 3);
    expect(written).toEqual([9]);
    m.markCodeFrame(9);
    m.swapTlb();
    m.wr8(0x400000, 4);
    expect(written).toEqual([9, 9]);
  });
});
