// Guest-linear memory access through a software TLB.
//
// Linear addresses are carried as signed doubles: canonical x86-64 addresses are 48-bit
// sign-extended, so a double holds them exactly and address arithmetic stays in plain numbers.
// Each TLB entry maps a linear page to the byte offset of its frame in `ram` (a domain's RAM
// buffer, hypervisor frames included). Read, write and fetch have separate entries so that a
// frame holding decoded code never gets a write entry: writes to it take the slow path, which
// tells the code cache to drop that frame's blocks (Linux rewrites its own text at boot).

import { CpuFault, hex64, gpFault } from './fault.js';

export const enum Access {
  Read = 0,
  Write = 1,
  Exec = 2,
}

export interface Translator {
  /**
   * The byte offset in RAM of the 4 KiB frame backing the linear page `page` (page-aligned,
   * canonical) for `access`; throws a CpuFault (#PF) when the mapping does not allow it,
   * reporting `addr` (the exact faulting address, within the page) as CR2.
   */
  translate(page: number, access: Access, addr?: number): number;
}

const TLB_BITS = 12;
const TLB_SIZE = 1 << TLB_BITS;
export const TLB_MASK = TLB_SIZE - 1;
const CANONICAL_LIMIT = 0x800000000000; // 2^47
let genCounter = 0;

export class Memory {
  readonly dv: DataView;
  // NaN never compares equal: an empty entry.
  tagR = new Float64Array(TLB_SIZE).fill(NaN);
  offR = new Int32Array(TLB_SIZE);
  tagW = new Float64Array(TLB_SIZE).fill(NaN);
  offW = new Int32Array(TLB_SIZE);
  tagX = new Float64Array(TLB_SIZE).fill(NaN);
  offX = new Int32Array(TLB_SIZE);
  // A second TLB, swapped in by swapTlb(): a PV guest's kernel and user mode run on different
  // page tables, and keeping one TLB per mode (a two-entry PCID, in effect) saves a refill
  // on every system call and return. Every flush covers both.
  private altTagR = new Float64Array(TLB_SIZE).fill(NaN);
  private altOffR = new Int32Array(TLB_SIZE);
  private altTagW = new Float64Array(TLB_SIZE).fill(NaN);
  private altOffW = new Int32Array(TLB_SIZE);
  private altTagX = new Float64Array(TLB_SIZE).fill(NaN);
  private altOffX = new Int32Array(TLB_SIZE);
  // Where the active TLB holds lower-half (user) pages, as kind * TLB_SIZE + index (kind 0
  // read, 1 write, 2 fetch): a CR3 write drops just those instead of scanning every entry.
  private low = new Int32Array(3 * TLB_SIZE);
  private lowCount = 0;
  private altLow = new Int32Array(3 * TLB_SIZE);
  private altLowCount = 0;
  // Whether each TLB got an entry since it was last emptied.
  private filled = false;
  private altFilled = false;
  /** 1 for each RAM frame that has decoded code in the code cache (shared by a domain's vCPUs). */
  codeFrame: Uint8Array;
  /** The Memory objects (vCPUs) sharing codeFrame: each one's write entries must see code. */
  peers: Memory[] = [this];
  /** Called (with the frame number) before the first write to a frame holding code. */
  onCodeWrite: (frame: number) => void = () => {};
  /**
   * The active TLB's generation, renewed by every flush of it: links between decoded blocks
   * made under another generation are stale. Drawn from one counter, so each value names one
   * TLB state; swapTlb() exchanges it with the inactive TLB's.
   */
  gen = ++genCounter;
  private altGen = ++genCounter;
  /** Second half of the last rd64 (the low half is its return value): keeps rd64 allocation-free. */
  hi = 0;

  constructor(
    readonly ram: Uint8Array,
    public translator: Translator,
  ) {
    this.dv = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
    this.codeFrame = new Uint8Array(Math.ceil(ram.byteLength / 4096));
  }

  /** Drop every translation, in both TLBs. */
  flush(): void {
    this.gen = ++genCounter;
    this.altGen = ++genCounter;
    this.lowCount = this.altLowCount = 0;
    this.filled = this.altFilled = false;
    for (const t of [this.tagR, this.tagW, this.tagX, this.altTagR, this.altTagW, this.altTagX]) t.fill(NaN);
  }

  /** Drop the translations of one linear page, in both TLBs. */
  flushPage(a: number): void {
    const lo = a >>> 0;
    const i = (lo >>> 12) & TLB_MASK;
    const page = a - (lo & 0xfff);
    for (const t of [this.tagR, this.tagW, this.altTagR, this.altTagW]) if (t[i] === page) t[i] = NaN;
    // Block links depend on fetch translations only: a generation ends when one is dropped.
    if (this.tagX[i] === page) {
      this.tagX[i] = NaN;
      this.gen = ++genCounter;
    }
    if (this.altTagX[i] === page) {
      this.altTagX[i] = NaN;
      this.altGen = ++genCounter;
    }
  }

  /**
   * A new root table in the active TLB (a CR3 write): drop the lower half (user mappings) and
   * those upper-half pages whose L4 slot (linear bits 47-39) is not marked in `keepSlot`. The
   * kept pages behave as global pages do on hardware: only explicit flushes remove them.
   */
  flushActiveExcept(keepSlot: Uint8Array, allKept: boolean): void {
    const tags = [this.tagR, this.tagW, this.tagX];
    let fetchDropped = false; // block links depend on fetch translations only
    for (let k = 0; k < this.lowCount; k++) {
      const e = this.low[k];
      const kind = e >>> TLB_BITS, t = tags[kind], i = e & TLB_MASK;
      if (t[i] >= 0) {
        t[i] = NaN;
        fetchDropped ||= kind === 2;
      }
    }
    this.lowCount = 0;
    if (!allKept) {
      fetchDropped = true;
      for (const t of tags) {
        for (let i = 0; i < TLB_SIZE; i++) {
          const page = t[i];
          if (page < 0 && !keepSlot[Math.floor((page + 2 ** 48) / 2 ** 39)]) t[i] = NaN;
        }
      }
    }
    if (fetchDropped) this.gen = ++genCounter;
  }

  /** Drop every translation of the inactive TLB (its root table changed). */
  flushInactive(): void {
    this.altLowCount = 0;
    if (!this.altFilled) return; // already empty (text_poke switches root twice per patch)
    this.altFilled = false;
    this.altGen = ++genCounter;
    this.altTagR.fill(NaN);
    this.altTagW.fill(NaN);
    this.altTagX.fill(NaN);
  }

  /** Exchange the active and inactive TLBs (a switch between two address spaces). */
  swapTlb(): void {
    const g = this.gen; this.gen = this.altGen; this.altGen = g;
    let t = this.tagR; this.tagR = this.altTagR; this.altTagR = t;
    t = this.tagW; this.tagW = this.altTagW; this.altTagW = t;
    t = this.tagX; this.tagX = this.altTagX; this.altTagX = t;
    let o = this.offR; this.offR = this.altOffR; this.altOffR = o;
    o = this.offW; this.offW = this.altOffW; this.altOffW = o;
    o = this.offX; this.offX = this.altOffX; this.altOffX = o;
    o = this.low; this.low = this.altLow; this.altLow = o;
    const n = this.lowCount; this.lowCount = this.altLowCount; this.altLowCount = n;
    const f = this.filled; this.filled = this.altFilled; this.altFilled = f;
  }

  /** A lower-half page entered the active TLB (kind 0 read, 1 write, 2 fetch; index i). */
  private noteLow(kind: number, i: number): void {
    // Bounded: each entry is listed at most once per fill, and a full list means a full flush.
    if (this.lowCount < this.low.length) this.low[this.lowCount++] = (kind << TLB_BITS) | i;
    else {
      this.lowCount = 0;
      for (const t of [this.tagR, this.tagW, this.tagX]) for (let k = 0; k < TLB_SIZE; k++) if (t[k] >= 0) t[k] = NaN;
      this.gen = ++genCounter;
    }
  }

  /** The decoder found code in this frame: from now on writes to it must be seen. */
  markCodeFrame(frame: number): void {
    if (this.codeFrame[frame]) return;
    this.codeFrame[frame] = 1;
    const base = frame * 4096;
    for (const p of this.peers) {
      for (let i = 0; i < TLB_SIZE; i++) {
        if (p.offW[i] === base) p.tagW[i] = NaN;
        if (p.altOffW[i] === base) p.altTagW[i] = NaN;
      }
    }
  }

  /** Make a group of vCPUs' memories share code tracking (one domain, several vCPUs). */
  static shareCodeTracking(group: Memory[]): void {
    for (const m of group) {
      m.codeFrame = group[0].codeFrame;
      m.peers = group;
    }
  }

  // ---- fast paths: one truncation, one compare, one typed-array access ----

  rd8(a: number): number {
    const lo = a >>> 0, o = lo & 0xfff, i = (lo >>> 12) & TLB_MASK;
    if (this.tagR[i] === a - o) return this.ram[this.offR[i] + o];
    return this.slowRead(a, 1);
  }
  rd16(a: number): number {
    const lo = a >>> 0, o = lo & 0xfff, i = (lo >>> 12) & TLB_MASK;
    if (this.tagR[i] === a - o && o <= 0xffe) return this.dv.getUint16(this.offR[i] + o, true);
    return this.slowRead(a, 2);
  }
  /** Signed 32-bit result (registers hold int32 halves). */
  rd32(a: number): number {
    const lo = a >>> 0, o = lo & 0xfff, i = (lo >>> 12) & TLB_MASK;
    if (this.tagR[i] === a - o && o <= 0xffc) return this.dv.getInt32(this.offR[i] + o, true);
    return this.slowRead(a, 4) | 0;
  }
  /** Low half returned, high half left in this.hi. */
  rd64(a: number): number {
    const lo = a >>> 0, o = lo & 0xfff, i = (lo >>> 12) & TLB_MASK;
    if (this.tagR[i] === a - o && o <= 0xff8) {
      const off = this.offR[i] + o;
      this.hi = this.dv.getInt32(off + 4, true);
      return this.dv.getInt32(off, true);
    }
    const l = this.slowRead(a, 4) | 0;
    this.hi = this.slowRead(a + 4, 4) | 0;
    return l;
  }

  wr8(a: number, v: number): void {
    const lo = a >>> 0, o = lo & 0xfff, i = (lo >>> 12) & TLB_MASK;
    if (this.tagW[i] === a - o) this.ram[this.offW[i] + o] = v;
    else this.slowWrite(a, v, 1);
  }
  wr16(a: number, v: number): void {
    const lo = a >>> 0, o = lo & 0xfff, i = (lo >>> 12) & TLB_MASK;
    if (this.tagW[i] === a - o && o <= 0xffe) this.dv.setUint16(this.offW[i] + o, v, true);
    else this.slowWrite(a, v, 2);
  }
  wr32(a: number, v: number): void {
    const lo = a >>> 0, o = lo & 0xfff, i = (lo >>> 12) & TLB_MASK;
    if (this.tagW[i] === a - o && o <= 0xffc) this.dv.setInt32(this.offW[i] + o, v, true);
    else this.slowWrite(a, v, 4);
  }
  wr64(a: number, vlo: number, vhi: number): void {
    const lo = a >>> 0, o = lo & 0xfff, i = (lo >>> 12) & TLB_MASK;
    if (this.tagW[i] === a - o && o <= 0xff8) {
      const off = this.offW[i] + o;
      this.dv.setInt32(off, vlo, true);
      this.dv.setInt32(off + 4, vhi, true);
    } else {
      // Both pages must be writable before either half lands (an instruction is all or nothing).
      this.writableOffset(a);
      this.writableOffset(a + 7);
      this.slowWrite(a, vlo, 4);
      this.slowWrite(a + 4, vhi, 4);
    }
  }

  /** RAM offset of an instruction byte (fetch permission). */
  fetchOffset(a: number): number {
    const lo = a >>> 0, o = lo & 0xfff, i = (lo >>> 12) & TLB_MASK;
    const page = a - o;
    if (this.tagX[i] !== page) {
      this.offX[i] = this.translate(page, Access.Exec, a);
      this.tagX[i] = page;
      this.filled = true;
      if (page >= 0) this.noteLow(2, i);
    }
    return this.offX[i] + o;
  }

  /** RAM offset for reading byte `a` (fills the TLB). */
  readableOffset(a: number): number {
    const lo = a >>> 0, o = lo & 0xfff, i = (lo >>> 12) & TLB_MASK;
    const page = a - o;
    if (this.tagR[i] !== page) {
      this.offR[i] = this.translate(page, Access.Read, a);
      this.tagR[i] = page;
      this.filled = true;
      if (page >= 0) this.noteLow(0, i);
    }
    return this.offR[i] + o;
  }

  /** RAM offset for writing byte `a` (fills the TLB; drops code of the frame first). */
  writableOffset(a: number): number {
    const lo = a >>> 0, o = lo & 0xfff, i = (lo >>> 12) & TLB_MASK;
    const page = a - o;
    if (this.tagW[i] === page) return this.offW[i] + o;
    const off = this.translate(page, Access.Write, a);
    const frame = off >>> 12;
    if (this.codeFrame[frame]) {
      this.codeFrame[frame] = 0;
      this.onCodeWrite(frame);
    }
    this.offW[i] = off;
    this.tagW[i] = page;
    this.filled = true;
    if (page >= 0) this.noteLow(1, i);
    return off + o;
  }

  private translate(page: number, access: Access, addr: number): number {
    if (page >= CANONICAL_LIMIT || page < -CANONICAL_LIMIT) {
      throw gpFault(`non-canonical address ${hex64(addr)}`);
    }
    return this.translator.translate(page, access, addr);
  }

  private slowRead(a: number, size: number): number {
    if (((a >>> 0) & 0xfff) + size <= 4096) {
      // A TLB miss within one page: one translation, then the access.
      const off = this.readableOffset(a);
      return size === 1 ? this.ram[off] : size === 2 ? this.dv.getUint16(off, true) : this.dv.getUint32(off, true);
    }
    let v = 0;
    for (let k = 0; k < size; k++) v += this.ram[this.readableOffset(a + k)] * 2 ** (8 * k);
    return v;
  }

  private slowWrite(a: number, v: number, size: number): void {
    if (((a >>> 0) & 0xfff) + size <= 4096) {
      const off = this.writableOffset(a);
      if (size === 1) this.ram[off] = v;
      else if (size === 2) this.dv.setUint16(off, v, true);
      else this.dv.setInt32(off, v, true);
      return;
    }
    // Probe every byte first so a page-crossing write that faults changes nothing.
    if (size > 1) this.writableOffset(a + size - 1);
    for (let k = 0; k < size; k++) this.ram[this.writableOffset(a + k)] = (v >>> (8 * k)) & 0xff;
  }

  // ---- bulk helpers for hosts (syscall emulation, loaders): not on the hot path ----

  readBytes(a: number, len: number): Uint8Array {
    const out = new Uint8Array(len);
    for (let k = 0; k < len; ) {
      const off = this.readableOffset(a + k);
      const n = Math.min(len - k, 4096 - (off & 0xfff));
      out.set(this.ram.subarray(off, off + n), k);
      k += n;
    }
    return out;
  }

  writeBytes(a: number, data: Uint8Array): void {
    for (let k = 0; k < data.length; ) {
      const off = this.writableOffset(a + k);
      const n = Math.min(data.length - k, 4096 - (off & 0xfff));
      this.ram.set(data.subarray(k, k + n), off);
      k += n;
    }
  }

  readCString(a: number, max = 1 << 20): string {
    const bytes: number[] = [];
    for (let k = 0; k < max; k++) {
      const b = this.rd8(a + k);
      if (b === 0) break;
      bytes.push(b);
    }
    return Buffer.from(bytes).toString('utf8');
  }
}

export { CpuFault };
