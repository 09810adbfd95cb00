// Page-table hypercalls (xen/arch/x86/mm.c do_mmu_update, do_mmuext_op, do_update_va_mapping).
// MFNs are domain-local, so a guest can only ever name its own frames; updates are checked
// to stay inside the domain (frames beyond RAM: shared_info and grant frames only). As on Xen,
// the guest flushes what it changed (a stale translation can only reach the domain's own RAM).

import { EFAULT, EINVAL, ENOSYS, EPERM } from '../errno.js';
import { read64Halves, readI64, readU32, writeU32 } from '../guest_access.js';
import { linear48, pageIndex } from '../../mmu/pte.js';
import type { Domain } from '../domain.js';
import type { Vcpu } from '../vcpu.js';
import type { HypercallFn } from './types.js';
import { join64 } from '../../cpu/u64.js';

const MMU_NORMAL_PT_UPDATE = 0;
const MMU_MACHPHYS_UPDATE = 1;
const MMU_PT_UPDATE_PRESERVE_AD = 2;
// PTE bits in the low half; PTEs are handled as two 32-bit halves (no BigInt per update:
// a boot makes some 20,000 of them).
const PTE_AD = 0x60;

function writePte(d: Domain, maddr: number, lo: number, hi: number, preserveAd: boolean): number {
  const mfn = Math.floor(maddr / 4096);
  if (!d.mem.isRam(mfn) || maddr % 8 !== 0) return -EINVAL;
  if (!d.pteAllowed(lo, hi)) return -EINVAL;
  const dv = d.dv;
  if (preserveAd) lo = (lo & ~PTE_AD) | (dv.getUint32(maddr, true) & PTE_AD);
  dv.setInt32(maddr, lo, true);
  dv.setInt32(maddr + 4, hi, true);
  return 0;
}

export const mmu_update: HypercallFn = (d, v, a) => {
  const reqs = a.s(0);
  const count = a.u32(1);
  const doneVa = a.s(2);
  let done = 0;
  let rc = 0;
  for (; done < count; done++) {
    // struct mmu_update { uint64 ptr; uint64 val; }
    const e = reqs + done * 16;
    const ptrLo = read64Halves(v, e), ptrHi = v.cpu.m.hi;
    const valLo = read64Halves(v, e + 8), valHi = v.cpu.m.hi;
    const cmd = ptrLo & 7; // xen/arch/x86/mm.c do_mmu_update: req.ptr & (sizeof(l1_pgentry_t)-1)
    const maddr = join64(ptrHi >>> 0, ptrLo & ~7);
    if (cmd === MMU_NORMAL_PT_UPDATE || cmd === MMU_PT_UPDATE_PRESERVE_AD) {
      rc = writePte(d, maddr, valLo, valHi, cmd === MMU_PT_UPDATE_PRESERVE_AD);
    } else if (cmd === MMU_MACHPHYS_UPDATE) {
      // The M2P is identity for a domain-local machine; accept only what keeps it so.
      rc = Math.floor(maddr / 4096) === join64(valHi >>> 0, valLo) ? 0 : -EINVAL;
    } else rc = -ENOSYS;
    if (rc) break;
  }
  // No flush: as on Xen (mod_l1_entry) the guest flushes what it changed; our TLB, like
  // hardware's, never caches a not-present entry.
  if (doneVa !== 0) writeU32(v, doneVa, done);
  return rc;
};

/** Machine address of the L1 entry mapping `va` in the vCPU's current tables, or -1. */
function l1EntryFor(d: Domain, v: Vcpu, va: number): number {
  const u = linear48(va);
  let table = v.walker.cr3 * 4096;
  for (let level = 4; level > 1; level--) {
    const eo = table + pageIndex(u, level) * 8;
    const lo = d.dv.getUint32(eo, true);
    const hi = d.dv.getUint32(eo + 4, true);
    if ((lo & 1) === 0 || (lo & 0x80) !== 0) return -1;
    const mfn = (hi & 0xfffff) * 1048576 + (lo >>> 12);
    if (!d.mem.isRam(mfn)) return -1;
    table = mfn * 4096;
  }
  return table + pageIndex(u, 1) * 8;
}

export const update_va_mapping: HypercallFn = (d, v, a) => {
  const va = a.s(0);
  const flags = a.u32(2);
  const eo = l1EntryFor(d, v, va);
  if (eo < 0) return -EINVAL;
  const rc = writePte(d, eo, a.lo(1), a.hi(1), false);
  if (rc) return rc;
  // UVMF_TLB_FLUSH (1) flushes everything, UVMF_INVLPG (2) the one page; LOCAL/ALL/mask
  // name vCPUs, and every vCPU of the domain is covered here.
  const type = flags & 3;
  if (type === 1) d.flushAllTlbs();
  else if (type === 2) d.flushPageAll(va);
  return 0;
};

export const mmuext_op: HypercallFn = (d, v, a) => {
  const ops = a.s(0);
  const count = a.u32(1);
  const doneVa = a.s(2);
  let done = 0;
  let rc = 0;
  for (; done < count && rc === 0; done++) {
    const op = ops + done * 24;
    const cmd = readU32(v, op);
    const arg1 = readI64(v, op + 8);
    switch (cmd) {
      case 0: case 1: case 2: case 3: // MMUEXT_PIN_L1..L4_TABLE
        rc = d.mem.isRam(arg1) ? d.pin(arg1, cmd + 1) : -EINVAL;
        break;
      case 4: // MMUEXT_UNPIN_TABLE
        rc = d.unpin(arg1);
        break;
      case 5: // MMUEXT_NEW_BASEPTR
        if (!d.mem.isRam(arg1)) { rc = -EINVAL; break; }
        v.setKernelTable(arg1);
        break;
      case 15: // MMUEXT_NEW_USER_BASEPTR
        if (arg1 !== 0 && !d.mem.isRam(arg1)) { rc = -EINVAL; break; }
        v.setUserTable(arg1);
        break;
      case 6: case 8: case 10: // TLB_FLUSH_LOCAL / MULTI / ALL
        d.flushAllTlbs();
        break;
      case 7: case 9: case 11: // INVLPG_LOCAL / MULTI / ALL (linear_addr)
        d.flushPageAll(arg1);
        break;
      case 12: case 20: // FLUSH_CACHE(_GLOBAL): no caches
        break;
      case 13: { // MMUEXT_SET_LDT { linear_addr; nr_ents }
        const ents = readU32(v, op + 16);
        if (ents > 8192 || arg1 % 4096 !== 0) rc = -EINVAL;
        else { v.ldtBase = arg1; v.ldtEnts = ents; }
        break;
      }
      case 16: // MMUEXT_CLEAR_PAGE
        if (!d.mem.isRam(arg1)) rc = -EINVAL;
        else { d.mem.ram.fill(0, arg1 * 4096, arg1 * 4096 + 4096); d.codeWritten(arg1); }
        break;
      case 17: { // MMUEXT_COPY_PAGE { mfn dst; src_mfn }
        const src = readI64(v, op + 16);
        if (!d.mem.isRam(arg1) || !d.mem.isRam(src)) rc = -EINVAL;
        else { d.mem.ram.copyWithin(arg1 * 4096, src * 4096, src * 4096 + 4096); d.codeWritten(arg1); }
        break;
      }
      case 18: case 19: // MARK/UNMARK_SUPER: superpages not offered
        rc = -ENOSYS;
        break;
      default:
        rc = -ENOSYS;
    }
    if (rc) break;
  }
  if (doneVa !== 0) writeU32(v, doneVa, done);
  return rc;
};

export { EFAULT, EPERM };
