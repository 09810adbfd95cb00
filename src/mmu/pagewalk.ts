// The 4-level page walk behind the CPU's software TLB: permission checks, accessed/dirty bits
// as hardware sets them, #PF with error code and address. Knows nothing of Xen beyond two
// hooks: a reserved linear range resolved by the layer above (Xen's read-only M2P lives
// there), and a check of which machine frames may be mapped and how.

import { Access, type Translator } from '../cpu/memory.js';
import { PF_FETCH, PF_PRESENT, PF_RSVD, PF_USER, PF_WRITE, pageFault } from '../cpu/fault.js';
import { PTE_A, PTE_D, PTE_NX_HI, PTE_P, PTE_PS, PTE_RW, PTE_US, linear48, pageIndex, pteFrame } from './pte.js';

export interface PagingHooks {
  /**
   * A linear page inside the reserved range: return the RAM offset that backs it for this
   * access, or -1 for a fault. Called only for pages in [reservedStart, reservedEnd).
   */
  reserved(page: number, access: Access): number;
  /**
   * May the guest map machine frame `mfn` (leaf of a walk) for this access? Returns its byte
   * offset, or -1 (the walk then faults as a reserved-bit violation).
   */
  leafFrame(mfn: number, access: Access): number;
  /** May a page-table frame be read during the walk? Returns its byte offset or -1. */
  tableFrame(mfn: number): number;
}

export class PageWalker implements Translator {
  /** MFN of the active L4 table. */
  cr3 = 0;
  /** Faults carry the U bit and user pages are required when set. */
  userMode = false;
  /** When false, U/S is not checked (Xen forces _PAGE_USER on 64-bit PV guest entries anyway). */
  checkUser = true;
  nxe = true;
  /** A frame the next walks may write despite a read-only mapping (emulated page-table writes), or -1. */
  writeOverride = -1;
  /** Walks done (TLB misses): a statistic. */
  walks = 0;
  private readonly dv: DataView;

  constructor(
    readonly ram: Uint8Array,
    readonly hooks: PagingHooks,
    readonly reservedStart: number,
    readonly reservedEnd: number,
  ) {
    this.dv = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  }

  translate(page: number, access: Access, addr = page): number {
    this.walks++;
    if (page >= this.reservedStart && page < this.reservedEnd) {
      const off = this.hooks.reserved(page, access);
      if (off < 0) throw pageFault(addr, this.errorCode(access, 0));
      return off;
    }
    const u = linear48(page);
    let table = this.hooks.tableFrame(this.cr3);
    if (table < 0) throw pageFault(addr, this.errorCode(access, PF_RSVD));
    let writable = true, user = true, nx = false;
    const dv = this.dv;
    for (let level = 4; level >= 1; level--) {
      const eo = table + pageIndex(u, level) * 8;
      let lo = dv.getUint32(eo, true);
      const hi = dv.getUint32(eo + 4, true);
      if ((lo & PTE_P) === 0) throw pageFault(addr, this.errorCode(access, 0));
      writable &&= (lo & PTE_RW) !== 0;
      user &&= (lo & PTE_US) !== 0;
      nx ||= this.nxe && (hi & PTE_NX_HI) !== 0;
      const leaf = level === 1 || ((level === 2 || level === 3) && (lo & PTE_PS) !== 0);
      if (leaf) {
        if (this.checkUser && this.userMode && !user) throw pageFault(addr, this.errorCode(access, PF_PRESENT));
        if (access === Access.Exec && nx) throw pageFault(addr, this.errorCode(access, PF_PRESENT));
        let mfn = pteFrame(lo, hi);
        if (access === Access.Write && !writable && mfn !== this.writeOverride) {
          throw pageFault(addr, this.errorCode(access, PF_PRESENT));
        }
        if (level > 1) {
          // Large page: the frame is the base plus the index of the 4 KiB page within it.
          const span = level === 2 ? 512 : 512 * 512;
          mfn = mfn - (mfn % span) + (Math.floor(u / 4096) % span);
        }
        const off = this.hooks.leafFrame(mfn, access);
        if (off < 0) throw pageFault(addr, this.errorCode(access, PF_PRESENT | PF_RSVD));
        // Accessed, and dirty on a write, as the hardware walker sets them.
        const want = PTE_A | (access === Access.Write ? PTE_D : 0);
        if ((lo & want) !== want) {
          lo |= want;
          dv.setUint32(eo, lo, true);
        }
        return off;
      }
      if ((lo & PTE_A) === 0) dv.setUint32(eo, lo | PTE_A, true);
      table = this.hooks.tableFrame(pteFrame(lo, hi));
      if (table < 0) throw pageFault(addr, this.errorCode(access, PF_PRESENT | PF_RSVD));
    }
    throw new Error('unreachable');
  }

  private errorCode(access: Access, bits: number): number {
    return (
      bits |
      (access === Access.Write ? PF_WRITE : 0) |
      (access === Access.Exec ? PF_FETCH : 0) |
      (this.userMode ? PF_USER : 0)
    );
  }

  /**
   * Walk without side effects (no A/D updates, no faults): the RAM offset of the 4 KiB page of
   * `page`, or -1. For hypercalls that take guest virtual addresses and for debugging.
   */
  probe(page: number): number {
    if (page >= this.reservedStart && page < this.reservedEnd) return this.hooks.reserved(page, Access.Read);
    const u = linear48(page);
    let table = this.hooks.tableFrame(this.cr3);
    for (let level = 4; level >= 1 && table >= 0; level--) {
      const eo = table + pageIndex(u, level) * 8;
      const lo = this.dv.getUint32(eo, true);
      const hi = this.dv.getUint32(eo + 4, true);
      if ((lo & PTE_P) === 0) return -1;
      if (level === 1 || (lo & PTE_PS) !== 0) {
        let mfn = pteFrame(lo, hi);
        if (level > 1) {
          const span = level === 2 ? 512 : 512 * 512;
          mfn = mfn - (mfn % span) + (Math.floor(u / 4096) % span);
        }
        return this.hooks.leafFrame(mfn, Access.Read);
      }
      table = this.hooks.tableFrame(pteFrame(lo, hi));
    }
    return -1;
  }
}
