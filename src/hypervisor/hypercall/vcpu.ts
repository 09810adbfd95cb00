// HYPERVISOR_vcpu_op (xen/common/domain.c do_vcpu_op, xen/arch/x86/domain.c arch_do_vcpu_op).
import { EEXIST, EFAULT, EINVAL, ENOENT, ENOSYS, ETIME } from '../errno.js';
import { GuestFault, readI64, readU64, readU32, writeBytes, writeU64 } from '../guest_access.js';
import { HYPERVISOR_VIRT_END, HYPERVISOR_VIRT_START } from '../public.js';
import { initialiseVcpu } from '../vcpu_context.js';
import type { HypercallFn } from './types.js';

export const vcpu_op: HypercallFn = (d, v, a) => {
  const cmd = a.u32(0);
  const id = a.i32(1);
  const arg = a.s(2);
  if (id < 0 || id >= d.vcpus.length) return -ENOENT;
  const t = d.vcpus[id];
  switch (cmd) {
    case 0: // VCPUOP_initialise(vcpu_guest_context)
      if (t.online) return -EEXIST;
      return initialiseVcpu(d, v, t, arg);
    case 1: // VCPUOP_up
      if (!t.initialised) return -EINVAL;
      t.online = true;
      t.blocked = false;
      return 0;
    case 2: // VCPUOP_down
      t.online = false;
      return 0;
    case 3: // VCPUOP_is_up
      return t.online ? 1 : 0;
    case 4: // VCPUOP_get_runstate_info
      d.writeRunstate(v, t, arg);
      return 0;
    case 5: // VCPUOP_register_runstate_memory_area { handle addr }
      t.runstateArea = readI64(v, arg);
      if (t.runstateArea !== 0) d.writeRunstate(v, t, t.runstateArea);
      return 0;
    case 6: { // VCPUOP_set_periodic_timer { uint64 period_ns }
      const p = readU64(v, arg);
      if (p < 1_000_000) return -EINVAL; // Xen refuses periods under 1 ms
      t.periodNs = p;
      t.periodicNext = d.now() + p;
      return 0;
    }
    case 7: // VCPUOP_stop_periodic_timer
      t.periodNs = 0;
      return 0;
    case 8: { // VCPUOP_set_singleshot_timer { uint64 timeout_abs_ns; uint32 flags }
      const deadline = readU64(v, arg);
      const flags = readU32(v, arg + 8);
      if (flags & 1 && deadline < d.now()) return -ETIME; // VCPU_SSHOTTMR_future
      t.timerDeadline = deadline;
      return 0;
    }
    case 9: // VCPUOP_stop_singleshot_timer
      t.timerDeadline = -1;
      return 0;
    case 10: { // VCPUOP_register_vcpu_info { uint64 mfn; uint32 offset; uint32 rsvd }
      const mfn = readU64(v, arg);
      const offset = readU32(v, arg + 8);
      if (!d.mem.isRam(mfn) || offset > 4096 - 64) return -EINVAL;
      d.moveVcpuInfo(t, mfn * 4096 + offset);
      return 0;
    }
    case 11: // VCPUOP_send_nmi
      return -ENOSYS;
    case 12: // VCPUOP_get_physid: dom0 only
      return -EINVAL;
    case 13: { // VCPUOP_register_vcpu_time_memory_area { handle addr } (arch_do_vcpu_op)
      // A second copy of the vCPU's time record at a guest address, for the vDSO's pvclock.
      // Xen rewrites it with each system-time update; ours never drift (our TSC counts system
      // time, scaled by the identity), so the copy taken now stays exact. Only an address
      // outside the guest's range is refused (guest_handle_okay); copy faults are ignored, as
      // Xen ignores its __copy_to_guest results.
      const va = readI64(v, arg);
      if (va >= HYPERVISOR_VIRT_START && va < HYPERVISOR_VIRT_END) return -EFAULT;
      if (va !== 0) {
        try {
          writeBytes(v, va, d.vcpuTimeRecord(t));
        } catch (e) {
          if (!(e instanceof GuestFault)) throw e;
        }
      }
      return 0;
    }
    default:
      return -ENOSYS;
  }
};

export { writeU64 };
