// HYPERVISOR_memory_op (xen/common/memory.c do_memory_op, xen/arch/x86/mm.c arch_memory_op).
import { EINVAL, ENOSYS, EPERM, ESRCH } from '../errno.js';
import { readU16, writeU64 } from '../guest_access.js';
import { MACH2PHYS_VIRT_START } from '../public.js';
import type { HypercallFn } from './types.js';

const DOMID_SELF = 0x7ff0;

export const memory_op: HypercallFn = (d, v, a) => {
  const cmd = a.u32(0) & 0x3f; // the rest is the continuation start extent
  const arg = a.s(1);
  switch (cmd) {
    case 2: // XENMEM_maximum_ram_page: highest machine frame
      return d.mem.layout.totalFrames - 1;
    case 3: // XENMEM_current_reservation (domid_t *)
    case 4: { // XENMEM_maximum_reservation
      const dom = readU16(v, arg);
      if (dom !== DOMID_SELF && dom !== d.domid) return -ESRCH;
      return cmd === 3 ? d.mem.nrPages : d.maxPages;
    }
    case 12: { // XENMEM_machphys_mapping { v_start, v_end, max_mfn }
      const maxMfn = d.mem.layout.totalFrames - 1;
      writeU64(v, arg, MACH2PHYS_VIRT_START);
      writeU64(v, arg + 8, MACH2PHYS_VIRT_START + d.mem.layout.m2pFrames * 4096);
      writeU64(v, arg + 16, maxMfn);
      return 0;
    }
    case 9: // XENMEM_memory_map: no e820 set for a PV domU; Linux then uses one RAM region
      return -ENOSYS;
    case 0: // XENMEM_increase_reservation
    case 1: // XENMEM_decrease_reservation
    case 6: // XENMEM_populate_physmap
      // Ballooning is not offered: the domain's memory is fixed at creation.
      return -ENOSYS;
    case 5: // XENMEM_machphys_mfn_list
      return -ENOSYS;
    case 10: // XENMEM_machine_memory_map: privileged
      return -EPERM;
    default:
      return cmd > 40 ? -EINVAL : -ENOSYS;
  }
};
