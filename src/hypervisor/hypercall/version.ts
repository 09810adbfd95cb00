// HYPERVISOR_xen_version (xen/common/kernel.c do_xen_version).
import { EFAULT, EINVAL, EPERM, ENOSYS } from '../errno.js';
import { readU32, writeBytes, writeString, writeU32, writeU64 } from '../guest_access.js';
import { HYPERVISOR_VIRT_START, XENFEAT, XEN_EXTRAVERSION, XEN_MAJOR, XEN_MINOR } from '../public.js';
import type { HypercallFn } from './types.js';

const VMASST_pae_extended_cr3 = 3;

export const xen_version: HypercallFn = (d, v, a) => {
  const cmd = a.u32(0);
  const arg = a.s(1);
  switch (cmd) {
    case 0: // XENVER_version
      return (XEN_MAJOR << 16) | XEN_MINOR;
    case 1: // XENVER_extraversion: char[16]
      writeString(v, arg, XEN_EXTRAVERSION, 16);
      return 0;
    case 2: { // XENVER_compile_info
      writeString(v, arg, 'tsxen (TypeScript)', 64);
      writeString(v, arg + 64, 'tsxen', 16);
      writeString(v, arg + 80, 'localdomain', 32);
      writeString(v, arg + 112, 'Wed Nov 25 2026', 32);
      return 0;
    }
    case 3: // XENVER_capabilities: char[1024]
      writeString(v, arg, 'xen-3.0-x86_64 ', 1024);
      return 0;
    case 4: // XENVER_changeset: char[64]
      writeString(v, arg, 'tsxen', 64);
      return 0;
    case 5: // XENVER_platform_parameters: { unsigned long virt_start }
      writeU64(v, arg, HYPERVISOR_VIRT_START);
      return 0;
    case 6: { // XENVER_get_features: { unsigned int submap_idx; uint32_t submap; }
      const idx = readU32(v, arg);
      let submap = 0;
      if (idx === 0) {
        // What Xen gives a PV domU (kernel.c): preserve-A/D updates, highmem assist, grant
        // map avail bits, direct-mapped; pae_pgdir_above_4gb with the pae_extended_cr3 assist.
        submap = (1 << XENFEAT.mmu_pt_update_preserve_ad) | (1 << XENFEAT.highmem_assist) |
          (1 << XENFEAT.gnttab_map_avail_bits) | (1 << XENFEAT.direct_mapped);
        if (d.vmAssist & (1 << VMASST_pae_extended_cr3)) submap |= 1 << XENFEAT.pae_pgdir_above_4gb;
      }
      writeU32(v, arg + 4, submap >>> 0);
      return 0;
    }
    case 7: // XENVER_pagesize
      return 4096;
    case 8: // XENVER_guest_handle: the domain's UUID
      writeBytes(v, arg, d.uuid);
      return 0;
    case 9: // XENVER_commandline: Xen's own command line
      writeString(v, arg, '', 1024);
      return 0;
    case 10: // XENVER_build_id: privileged
      return -EPERM;
    default:
      return cmd > 10 ? -ENOSYS : -EINVAL;
  }
};

export { EFAULT };
