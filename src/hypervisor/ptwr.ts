// Writable page tables (VMASST_TYPE_writable_pagetables; xen/arch/x86/pv/ro-page-fault.c,
// ptwr_do_page_fault): a guest kernel may write a page-table entry directly, although its
// page tables are mapped read-only. The write faults; if the target frame is one of the
// guest's page tables, the hypervisor performs the single instruction on its behalf, checks
// the entry it produced, and resumes the guest after it.

import { CpuFault } from '../cpu/fault.js';
import type { Domain } from './domain.js';
import type { Vcpu } from './vcpu.js';

/** Frame types the hypervisor tracks: 0 none, 1..4 = L1..L4 page table. */
export class PageTypes {
  readonly type: Uint8Array;
  constructor(nrFrames: number, private readonly dv: DataView) {
    this.type = new Uint8Array(nrFrames);
  }

  /** Mark a pinned table and, as Xen's validation does, every table below it. */
  markTree(mfn: number, level: number, depthGuard = 0): void {
    if (mfn < 0 || mfn >= this.type.length || level < 1 || depthGuard > 4) return;
    if (this.type[mfn] === level) return;
    this.type[mfn] = level;
    if (level === 1) return;
    for (let k = 0; k < 512; k++) {
      // L4 slots 256..271 are the hypervisor's in a 64-bit PV guest: never guest tables.
      if (level === 4 && k >= 256 && k < 272) continue;
      const lo = this.dv.getUint32(mfn * 4096 + k * 8, true);
      if ((lo & 1) === 0 || (lo & 0x80) !== 0) continue;
      const hi = this.dv.getUint32(mfn * 4096 + k * 8 + 4, true);
      const child = (hi & 0xfffff) * 1048576 + (lo >>> 12);
      this.markTree(child, level - 1, depthGuard + 1);
    }
  }

  clear(mfn: number): void {
    if (mfn >= 0 && mfn < this.type.length) this.type[mfn] = 0;
  }
}

/**
 * A write fault at `addr` in guest kernel mode: emulate it if it targets a page table.
 * Returns true when the instruction was completed (RIP advanced).
 */
export function ptwrFault(d: Domain, v: Vcpu, addr: number): boolean {
  const page = addr - (((addr % 4096) + 4096) % 4096);
  const off = v.walker.probe(page);
  if (off < 0) return false;
  const mfn = Math.floor(off / 4096);
  if (!d.mem.isRam(mfn) || d.pageTypes.type[mfn] === 0) return false;
  const c = v.cpu;
  const entry = off + ((((addr % 4096) + 4096) % 4096) & ~7);
  // The entry as int32 halves: this runs on every trapped page-table write, so no BigInt.
  const beforeLo = d.dv.getInt32(entry, true), beforeHi = d.dv.getInt32(entry + 4, true);
  v.walker.writeOverride = mfn;
  c.m.flushPage(page);
  try {
    c.step();
  } catch (e) {
    if (e instanceof CpuFault) return false; // some other fault: deliver the original one
    throw e;
  } finally {
    v.walker.writeOverride = -1;
    c.m.flushPage(page);
  }
  // The new entry may only name this domain's frames (what mod_l1_entry validates here).
  const lo = d.dv.getInt32(entry, true), hi = d.dv.getInt32(entry + 4, true);
  if ((lo !== beforeLo || hi !== beforeHi) && !d.pteAllowed(lo, hi)) {
    d.dv.setInt32(entry, beforeLo, true);
    d.dv.setInt32(entry + 4, beforeHi, true);
    const pte = (hi >>> 0).toString(16) + (lo >>> 0).toString(16).padStart(8, '0');
    d.crash(`page-table write of ${pte.replace(/^0+(?=.)/, '')} at ${addr.toString(16)} names a frame outside the domain`);
  }
  return true;
}
