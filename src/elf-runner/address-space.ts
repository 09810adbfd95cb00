// Process address spaces for the user-mode runner.
//
// All processes share one guest-RAM buffer, cut into 4 KiB frames by a FramePool with
// reference counts. Each AddressSpace has virtual memory areas (VMAs) with permissions and a
// page map from linear pages to frames. Frames are handed out on first touch (demand paging);
// fork shares every private page copy-on-write; file mappings come from a page cache, so every
// process running the same binary maps the very same frames, and the CPU's decoded blocks
// (keyed by frame) serve them all. The CPU's software TLB caches translations: every change
// here flushes it.
//
// Layout follows Linux 6.1 on x86-64 with address-space randomization off
// (arch/x86/mm/mmap.c, fs/binfmt_elf.c, fs/exec.c): the stack ends at 0x7ffffffff000, the mmap
// area grows down from mmap_base = stack top - 128 MiB, brk follows the program's bss.

import { Access, type Translator } from '../cpu/memory.js';
import { CpuFault, Vector, pageFault, PF_PRESENT, PF_USER, PF_WRITE, PF_FETCH } from '../cpu/fault.js';
import type { Cpu } from '../cpu/cpu.js';
import { EEXIST, EFAULT, EINVAL, ENOMEM, PROT_EXEC, PROT_READ, PROT_WRITE } from './linux.js';

export const PAGE = 4096;
/** Top of the user stack (STACK_TOP on x86-64 with 4-level paging). */
export const STACK_TOP = 0x7ffffffff000;
/** Default RLIMIT_STACK: how far the stack VMA may reach below STACK_TOP. */
export const STACK_LIMIT = 8 * 1024 * 1024;
/** mmap_base without randomization: the gap below the stack is clamped to 128 MiB. */
export const MMAP_BASE = STACK_TOP - 128 * 1024 * 1024;
/** ELF_ET_DYN_BASE: where PIE programs with an interpreter go (2/3 of the 47-bit space). */
export const ELF_ET_DYN_BASE = Math.floor(0x7ffffffff000 / 3) * 2;
/** vm.mmap_min_addr default. */
const MMAP_MIN_ADDR = 0x10000;
const USER_LIMIT = 0x7ffffffff000;

export interface Vma {
  start: number;
  end: number;
  prot: number;
  /** Anonymous memory (madvise(DONTNEED) drops its pages); false for file-backed copies. */
  anon: boolean;
  /** MAP_SHARED: fork shares the pages instead of copying them. */
  shared: boolean;
  name: string;
}

/** The guest ran out of RAM frames: Linux would OOM-kill the process. */
export class OutOfMemory extends CpuFault {
  constructor(readonly bytes: number) {
    super(Vector.PF, 0, 0, `out of guest memory (all ${bytes / (1024 * 1024)} MiB of guest RAM in use)`);
    this.name = 'OutOfMemory';
  }
}

export const pageUp = (a: number): number => Math.ceil(a / PAGE) * PAGE;
export const pageDown = (a: number): number => Math.floor(a / PAGE) * PAGE;

// Page-map entry: frame byte offset | prot (bits 0-2) | COW (bit 3).
const PROT_MASK = 7;
const COW = 8;
const FLAG_MASK = 0xfff;

/** The RAM buffer's frames, shared by every address space of a run. */
export class FramePool {
  readonly refs: Int32Array;
  private next = 0;
  private free: number[] = [];
  /** Page cache: "file identity:offset" → frame (the cache holds one reference). */
  private readonly cache = new Map<string, number>();
  /** The CPU whose code cache must forget a frame when it is freed. */
  cpu: Cpu | undefined;

  constructor(readonly ram: Uint8Array) {
    this.refs = new Int32Array(Math.floor(ram.length / PAGE));
  }

  /** A zeroed frame with one reference. */
  alloc(): number {
    let f = this.free.pop();
    if (f === undefined) {
      if (this.next >= this.refs.length) this.evict();
      f = this.free.pop() ?? (this.next < this.refs.length ? this.next++ : undefined);
      if (f === undefined) throw new OutOfMemory(this.ram.length);
    }
    this.refs[f] = 1;
    return f;
  }

  ref(f: number): void {
    this.refs[f]++;
  }

  unref(f: number): void {
    if (--this.refs[f] > 0) return;
    const c = this.cpu;
    if (c) {
      c.invalidateFrame(f);
      c.m.codeFrame[f] = 0;
    }
    this.ram.fill(0, f * PAGE, (f + 1) * PAGE);
    this.free.push(f);
  }

  /** The cached frame for `key` (filled by `fill` on a miss), with a reference for the caller. */
  cached(key: string, fill: (frame: Uint8Array) => void): number {
    let f = this.cache.get(key);
    if (f === undefined) {
      f = this.alloc();
      fill(this.ram.subarray(f * PAGE, (f + 1) * PAGE));
      this.cache.set(key, f);
    }
    this.ref(f);
    return f;
  }

  /** Frames handed out so far (the high-water mark of RAM use). */
  get used(): number {
    return this.next * PAGE;
  }

  /** Out of frames: drop cached file pages nobody maps any more. */
  private evict(): void {
    for (const [k, f] of this.cache) {
      if (this.refs[f] === 1) {
        this.cache.delete(k);
        this.unref(f);
      }
    }
  }
}

/** How an mmap'ed file is read into the page cache. */
export interface FileSource {
  /** Identity of the file's current contents (device, inode, mtime, size). */
  key: string;
  size: number;
  /** Read up to buf.length bytes at `offset` into buf. */
  read(buf: Uint8Array, offset: number): void;
}

export interface MapOptions {
  fixed?: boolean;
  noReplace?: boolean;
  anon?: boolean;
  shared?: boolean;
  name?: string;
}

export class AddressSpace implements Translator {
  /** Linear page number → frame byte offset | prot | COW. */
  private pages = new Map<number, number>();
  /** Sorted, non-overlapping. */
  private vmas: Vma[] = [];
  brkStart = 0;
  brk = 0;

  constructor(readonly pool: FramePool) {}

  get ram(): Uint8Array {
    return this.pool.ram;
  }

  // ---- Translator ----

  translate(page: number, access: Access): number {
    const pn = page / PAGE;
    let e = this.pages.get(pn);
    if (e === undefined) {
      const v = page >= 0 ? this.find(page) : undefined;
      if (v === undefined || !allowed(v.prot, access)) throw pageFault(page, faultCode(access, false));
      e = this.pool.alloc() * PAGE + v.prot;
      this.pages.set(pn, e);
    }
    if (!allowed(e & PROT_MASK, access)) throw pageFault(page, faultCode(access, true));
    if (access === Access.Write && e & COW) e = this.breakCow(pn, e);
    return e - (e & FLAG_MASK);
  }

  /** First write to a shared copy-on-write page: take a private copy (or keep the last one). */
  private breakCow(pn: number, e: number): number {
    const off = e - (e & FLAG_MASK);
    const f = off / PAGE;
    const pool = this.pool;
    let n: number;
    if (pool.refs[f] === 1) n = (e & ~COW);
    else {
      const nf = pool.alloc();
      pool.ram.copyWithin(nf * PAGE, off, off + PAGE);
      pool.unref(f);
      n = nf * PAGE + (e & PROT_MASK);
    }
    this.pages.set(pn, n);
    // Read and fetch entries of the TLB still name the shared frame.
    if (this.active) pool.cpu?.m.flushPage(pn * PAGE);
    return n;
  }

  /** This space is the one the CPU is translating through. */
  private get active(): boolean {
    return this.pool.cpu?.m.translator === this;
  }

  // ---- queries ----

  find(a: number): Vma | undefined {
    const vs = this.vmas;
    let lo = 0, hi = vs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = vs[mid];
      if (a < v.start) hi = mid - 1;
      else if (a >= v.end) lo = mid + 1;
      else return v;
    }
    return undefined;
  }

  /** True if no VMA overlaps [start, end). */
  isFree(start: number, end: number): boolean {
    return !this.vmas.some((v) => v.start < end && v.end > start);
  }

  /** A /proc/PID/maps-like listing (for diagnostics and tests). */
  describe(): string {
    const h = (n: number) => n.toString(16).padStart(8, '0');
    return this.vmas
      .map((v) => `${h(v.start)}-${h(v.end)} ${v.prot & PROT_READ ? 'r' : '-'}${v.prot & PROT_WRITE ? 'w' : '-'}${v.prot & PROT_EXEC ? 'x' : '-'}${v.shared ? 's' : 'p'} ${v.name}`)
      .join('\n');
  }

  // ---- mapping operations: each returns an address or -errno ----

  /**
   * Map [addr, addr+len) with `prot`. `fixed` replaces whatever is there (MAP_FIXED);
   * otherwise addr is a hint and a free range is chosen top-down below mmap_base, as
   * arch_get_unmapped_area_topdown does. `noReplace` is MAP_FIXED_NOREPLACE.
   */
  map(addr: number, len: number, prot: number, opts: MapOptions = {}): number {
    len = pageUp(len);
    if (len <= 0 || len > USER_LIMIT) return -ENOMEM;
    let start: number;
    if (opts.fixed || opts.noReplace) {
      if (addr % PAGE !== 0) return -EINVAL;
      if (addr < MMAP_MIN_ADDR || addr + len > USER_LIMIT) return opts.fixed ? -EINVAL : -ENOMEM;
      if (opts.noReplace && !this.isFree(addr, addr + len)) return -EEXIST;
      start = addr;
      this.unmapRange(start, start + len);
    } else {
      const hint = pageDown(addr);
      if (hint >= MMAP_MIN_ADDR && hint + len <= USER_LIMIT && this.isFree(hint, hint + len)) start = hint;
      else {
        const found = this.findFree(len);
        if (found < 0) return -ENOMEM;
        start = found;
      }
    }
    this.insert({ start, end: start + len, prot: prot & PROT_MASK, anon: opts.anon ?? true, shared: opts.shared ?? false, name: opts.name ?? '' });
    this.flush();
    return start;
  }

  /**
   * Map a file: pages come from the page cache, shared copy-on-write (a private mapping) or
   * read-only (a shared one, which the caller allows only without PROT_WRITE). Pages past the
   * end of the file read as zeros.
   */
  mapFile(addr: number, len: number, prot: number, src: FileSource, offset: number, opts: MapOptions = {}): number {
    const a = this.map(addr, len, prot, { ...opts, anon: false });
    if (a < 0) return a;
    const n = pageUp(len) / PAGE;
    for (let i = 0; i < n; i++) {
      const off = offset + i * PAGE;
      if (off >= src.size) break;
      const f = this.pool.cached(`${src.key}:${off}`, (buf) => src.read(buf, off));
      this.pages.set(a / PAGE + i, f * PAGE + (prot & PROT_MASK) + COW);
    }
    return a;
  }

  unmap(addr: number, len: number): number {
    if (addr % PAGE !== 0 || len <= 0) return -EINVAL;
    this.unmapRange(addr, addr + pageUp(len));
    this.flush();
    return 0;
  }

  protect(addr: number, len: number, prot: number): number {
    if (addr % PAGE !== 0) return -EINVAL;
    const end = addr + pageUp(len);
    if (end === addr) return 0;
    if (!this.covered(addr, end)) return -ENOMEM;
    this.split(addr);
    this.split(end);
    prot &= PROT_MASK;
    for (const v of this.vmas) if (v.start >= addr && v.end <= end) v.prot = prot;
    this.merge();
    this.forEachPage(addr, end, (pn, e) => this.pages.set(pn, e - (e & PROT_MASK) + prot));
    this.flush();
    return 0;
  }

  /** mremap(2) with MREMAP_MAYMOVE (`mayMove`); pages move with their frames, no copy. */
  remap(old: number, oldLen: number, newLen: number, mayMove: boolean): number {
    if (old % PAGE !== 0) return -EINVAL;
    oldLen = pageUp(oldLen);
    newLen = pageUp(newLen);
    if (newLen === 0) return -EINVAL;
    const v = this.find(old);
    if (v === undefined || (oldLen > 0 && old + oldLen > v.end)) return -EFAULT;
    if (oldLen === 0) return -EINVAL; // duplicating shared mappings is not supported here
    if (newLen <= oldLen) {
      this.unmapRange(old + newLen, old + oldLen);
      this.flush();
      return old;
    }
    if (this.isFree(old + oldLen, old + newLen) && old + newLen <= USER_LIMIT) {
      this.insert({ ...v, start: old + oldLen, end: old + newLen });
      this.flush();
      return old;
    }
    if (!mayMove) return -ENOMEM;
    const dest = this.findFree(newLen);
    if (dest < 0) return -ENOMEM;
    const moved: [number, number][] = [];
    this.forEachPage(old, old + oldLen, (pn, e) => moved.push([pn, e]));
    for (const [pn] of moved) this.pages.delete(pn);
    this.removeVmas(old, old + oldLen);
    const delta = (dest - old) / PAGE;
    for (const [pn, e] of moved) this.pages.set(pn + delta, e);
    this.insert({ ...v, start: dest, end: dest + newLen });
    this.flush();
    return dest;
  }

  /** madvise(MADV_DONTNEED): private anonymous pages read back as zeros. */
  dontNeed(addr: number, len: number): number {
    if (addr % PAGE !== 0) return -EINVAL;
    const end = addr + pageUp(len);
    if (!this.covered(addr, end)) return -ENOMEM;
    const drop: number[] = [];
    this.forEachPage(addr, end, (pn) => {
      const v = this.find(pn * PAGE);
      if (v?.anon && !v.shared) drop.push(pn);
    });
    for (const pn of drop) this.dropPage(pn);
    this.flush();
    return 0;
  }

  /** brk(2): returns the new break, or the old one when the request cannot be met. */
  setBrk(addr: number): number {
    if (addr < this.brkStart) return this.brk;
    const oldEnd = pageUp(this.brk), newEnd = pageUp(addr);
    if (newEnd > oldEnd) {
      if (!this.isFree(oldEnd, newEnd) || newEnd > MMAP_BASE) return this.brk;
      this.insert({ start: oldEnd, end: newEnd, prot: PROT_READ | PROT_WRITE, anon: true, shared: false, name: '[heap]' });
    } else if (newEnd < oldEnd) {
      this.unmapRange(newEnd, oldEnd);
    }
    this.flush();
    this.brk = addr;
    return addr;
  }

  // ---- host access that ignores page permissions (the loader) ----

  /** Copy bytes into the space (a private copy of any shared page); the range must be mapped. */
  poke(addr: number, data: Uint8Array): void {
    for (let k = 0; k < data.length; ) {
      const a = addr + k;
      const page = pageDown(a);
      const off = this.privateFrame(page) + (a - page);
      const n = Math.min(data.length - k, PAGE - (a - page));
      this.ram.set(data.subarray(k, k + n), off);
      k += n;
    }
  }

  /** Zero [addr, addr+len) (bss after the file part of a segment's last page). */
  zero(addr: number, len: number): void {
    this.poke(addr, new Uint8Array(len));
  }

  private privateFrame(page: number): number {
    const pn = page / PAGE;
    let e = this.pages.get(pn);
    if (e === undefined) {
      const v = this.find(page);
      if (v === undefined) throw new Error(`loader write to unmapped page 0x${page.toString(16)}`);
      e = this.pool.alloc() * PAGE + v.prot;
      this.pages.set(pn, e);
    }
    if (e & COW) e = this.breakCow(pn, e);
    const off = e - (e & FLAG_MASK);
    const c = this.pool.cpu;
    if (c) {
      c.invalidateFrame(off / PAGE);
      c.m.codeFrame[off / PAGE] = 0;
    }
    return off;
  }

  // ---- fork and teardown ----

  /** fork: the child shares every page; private ones become copy-on-write in both. */
  clone(): AddressSpace {
    const a = new AddressSpace(this.pool);
    // Pages of shared mappings must exist now, or parent and child would each fault in their own.
    for (const v of this.vmas) {
      if (!v.shared) continue;
      for (let pn = v.start / PAGE; pn < v.end / PAGE; pn++) {
        if (!this.pages.has(pn)) this.pages.set(pn, this.pool.alloc() * PAGE + v.prot);
      }
    }
    for (const [pn, e] of this.pages) {
      const v = this.find(pn * PAGE);
      const ne = v?.shared ? e : e | COW;
      this.pages.set(pn, ne);
      a.pages.set(pn, ne);
      this.pool.ref(Math.floor(ne / PAGE));
    }
    a.vmas = this.vmas.map((v) => ({ ...v }));
    a.brkStart = this.brkStart;
    a.brk = this.brk;
    // The parent's TLB may hold write entries for pages that are now copy-on-write.
    this.flush();
    return a;
  }

  /** Drop every mapping (exit, or execve replacing the image). */
  release(): void {
    for (const e of this.pages.values()) this.pool.unref(Math.floor(e / PAGE));
    this.pages.clear();
    this.vmas = [];
  }

  // ---- internals ----

  private dropPage(pn: number): void {
    const e = this.pages.get(pn);
    if (e === undefined) return;
    this.pages.delete(pn);
    this.pool.unref(Math.floor(e / PAGE));
  }

  private forEachPage(start: number, end: number, f: (pn: number, e: number) => void): void {
    const p0 = start / PAGE, p1 = end / PAGE;
    if (p1 - p0 > this.pages.size) {
      for (const [pn, e] of Array.from(this.pages)) if (pn >= p0 && pn < p1) f(pn, e);
    } else {
      for (let pn = p0; pn < p1; pn++) {
        const e = this.pages.get(pn);
        if (e !== undefined) f(pn, e);
      }
    }
  }

  private unmapRange(start: number, end: number): void {
    const drop: number[] = [];
    this.forEachPage(start, end, (pn) => drop.push(pn));
    for (const pn of drop) this.dropPage(pn);
    this.removeVmas(start, end);
  }

  private removeVmas(start: number, end: number): void {
    this.split(start);
    this.split(end);
    this.vmas = this.vmas.filter((v) => v.end <= start || v.start >= end);
  }

  /** Split the VMA containing `a` (if any, and a is inside it) into two at `a`. */
  private split(a: number): void {
    const i = this.vmas.findIndex((v) => v.start < a && a < v.end);
    if (i < 0) return;
    const v = this.vmas[i];
    this.vmas.splice(i + 1, 0, { ...v, start: a });
    v.end = a;
  }

  private covered(start: number, end: number): boolean {
    let a = start;
    for (const v of this.vmas) {
      if (v.end <= a) continue;
      if (v.start > a) return false;
      a = v.end;
      if (a >= end) return true;
    }
    return a >= end;
  }

  private insert(v: Vma): void {
    let i = 0;
    while (i < this.vmas.length && this.vmas[i].start < v.start) i++;
    this.vmas.splice(i, 0, v);
    this.merge();
  }

  /** Join neighbouring VMAs that are alike, as vma_merge does (mremap needs one VMA). */
  private merge(): void {
    const out: Vma[] = [];
    for (const v of this.vmas) {
      const last = out[out.length - 1];
      if (last && last.end === v.start && last.prot === v.prot && last.anon === v.anon && last.shared === v.shared && last.name === v.name) last.end = v.end;
      else out.push(v);
    }
    this.vmas = out;
  }

  /** Highest free range of `len` bytes below mmap_base (the top-down allocator). */
  private findFree(len: number): number {
    let top = MMAP_BASE;
    for (let i = this.vmas.length - 1; i >= 0; i--) {
      const v = this.vmas[i];
      if (v.start >= top) continue;
      if (v.end <= top - len) return top - len;
      top = Math.min(top, v.start);
    }
    return top - len >= MMAP_MIN_ADDR ? top - len : -1;
  }

  private flush(): void {
    if (this.active) this.pool.cpu?.m.flush();
  }
}

function allowed(prot: number, access: Access): boolean {
  // x86 page tables cannot express write-only or execute-only: any mapped page is readable.
  if (access === Access.Read) return prot !== 0;
  if (access === Access.Write) return (prot & PROT_WRITE) !== 0;
  return (prot & PROT_EXEC) !== 0;
}

function faultCode(access: Access, present: boolean): number {
  return (present ? PF_PRESENT : 0) | PF_USER | (access === Access.Write ? PF_WRITE : 0) | (access === Access.Exec ? PF_FETCH : 0);
}
