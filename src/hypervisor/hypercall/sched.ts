// HYPERVISOR_sched_op (xen/common/sched/core.c do_sched_op) and set_timer_op.
import { EINVAL, ENOSYS, EPERM } from '../errno.js';
import { readI64, readU32 } from '../guest_access.js';
import { SHUTDOWN_NAMES } from '../public.js';
import type { HypercallFn } from './types.js';

export const sched_op: HypercallFn = (d, v, a) => {
  const cmd = a.u32(0);
  const arg = a.s(1);
  switch (cmd) {
    case 0: // SCHEDOP_yield: the run loop returns to the scheduler after sched_op anyway
      return 0;
    case 1: // SCHEDOP_block: events are re-enabled and the vCPU sleeps until one is pending
      v.upcallMask = 0;
      if (v.upcallPending === 0) v.blocked = true;
      return 0;
    case 2: // SCHEDOP_shutdown { unsigned int reason }
    case 5: { // SCHEDOP_shutdown_code: record the reason for a later shutdown
      const reason = readU32(v, arg);
      if (reason >= SHUTDOWN_NAMES.length) return -EINVAL;
      if (cmd === 5) {
        // xen/common/schedule.c (RELEASE-4.4.4): only the first code recorded counts.
        d.shutdownCode ??= SHUTDOWN_NAMES[reason];
        return 0;
      }
      d.shutdown(SHUTDOWN_NAMES[reason]);
      return 0;
    }
    case 3: { // SCHEDOP_poll { handle ports; unsigned int nr_ports; uint64 timeout }
      const portsVa = readI64(v, arg);
      const nr = readU32(v, arg + 8);
      const timeout = readI64(v, arg + 16);
      if (nr > 128) return -EINVAL;
      const ports: number[] = [];
      for (let k = 0; k < nr; k++) {
        const p = readU32(v, portsVa + k * 4);
        if (!d.evtchn.valid(p)) return -EINVAL;
        if (d.evtchn.isPending(p)) return 0;
        ports.push(p);
      }
      v.pollPorts = ports;
      v.pollDeadline = timeout > 0 ? timeout : -1;
      v.blocked = true;
      return 0;
    }
    case 4: // SCHEDOP_remote_shutdown: privileged
      return -EPERM;
    case 6: // SCHEDOP_watchdog
      return -ENOSYS;
    default:
      return -ENOSYS;
  }
};

/** HYPERVISOR_set_timer_op(u64 timeout): single-shot timer in system time; 0 cancels. */
export const set_timer_op: HypercallFn = (d, v, a) => {
  const t = a.unum(0); // ns: rounding beyond 2^53 (285 years) cannot move a deadline that matters
  v.timerDeadline = t === 0 ? -1 : t;
  return 0;
};
