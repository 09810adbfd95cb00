// The hypercall table (xen/arch/x86/pv/hypercall.c pv_hypercall, xen/include/hypercall-defs.c):
// number -> handler and what the run loop does after it. Anything not listed answers -ENOSYS,
// never a host crash.
import { EFAULT, EINVAL, ENOSYS } from '../errno.js';
import { HYPERVISOR } from '../public.js';
import { GuestFault, read64Halves, write64Halves } from '../guest_access.js';
import { hi32 } from '../../cpu/u64.js';
import { callback_op, set_callbacks, set_trap_table, stack_switch } from './callback.js';
import { console_io } from './console_io.js';
import { event_channel_op } from './event_channel.js';
import { grant_table_op } from './grant_table.js';
import { memory_op } from './memory.js';
import { fpu_taskswitch, get_debugreg, nosys, physdev_op, privileged, set_debugreg, set_gdt, set_segment_base, update_descriptor, vm_assist } from './misc.js';
import { mmu_update, mmuext_op, update_va_mapping } from './mm.js';
import { sched_op, set_timer_op } from './sched.js';
import { HypercallArgs, type Args, type HypercallFn } from './types.js';
import { vcpu_op } from './vcpu.js';
import { xen_version } from './version.js';
import type { Domain } from '../domain.js';
import type { Vcpu } from '../vcpu.js';

const H = HYPERVISOR;

/** Scratch for a multicall entry's arguments, apart from the caller's (kept for its trace line). */
const ENTRY = new HypercallArgs();

/** multicall(entries, nr): { op, result, args[6] } each 64 bytes; results written back. */
function multicall(d: Domain, v: Vcpu, a: Args): number {
  const list = a.s(0);
  const nr = a.u32(1);
  if (nr > 4096) return -EINVAL;
  for (let k = 0; k < nr; k++) {
    const e = list + k * 64;
    const opLo = read64Halves(v, e);
    // An op with high bits set names no hypercall: -1 finds no handler (-ENOSYS).
    const op = v.cpu.m.hi === 0 ? opLo >>> 0 : -1;
    if (op === H.multicall || op === H.iret) {
      write64Halves(v, e + 8, -EINVAL, -1);
      continue;
    }
    for (let j = 0; j < 6; j++) {
      const lo = read64Halves(v, e + 16 + j * 8);
      ENTRY.set(j, lo, v.cpu.m.hi);
    }
    const r = hypercall(d, v, op, ENTRY);
    write64Halves(v, e + 8, r | 0, hi32(r)); // the result double as 64 bits, as RAX gets it
    if (d.stopped || v.blocked) {
      // A shutdown or block inside a batch ends it here (Xen preempts the same way).
      break;
    }
  }
  return 0;
}

/**
 * What the run loop does after a hypercall: RESUME goes straight back to the guest (unless the
 * vCPU blocked, the domain ended or an event became deliverable: Domain.mustSchedule);
 * SCHEDULE returns to the scheduler, for calls that change what it runs (timers, other vCPUs,
 * yields, event channels) or may batch such calls (multicall). An unknown call schedules.
 */
const RESUME = false;
const SCHEDULE = true;

/**
 * One row per hypercall, as Xen keeps them (xen/include/hypercall-defs.c): number, handler,
 * and what follows it. iret is not here: the guest's iret stub is a return, not a call
 * (Domain.onSyscall runs it), and multicall refuses to batch it.
 */
const DEFS: readonly (readonly [nr: number, fn: HypercallFn, after: boolean])[] = [
  [H.set_trap_table, set_trap_table, RESUME],
  [H.mmu_update, mmu_update, RESUME],
  [H.set_gdt, set_gdt, RESUME],
  [H.stack_switch, stack_switch, RESUME],
  [H.set_callbacks, set_callbacks, RESUME],
  [H.fpu_taskswitch, fpu_taskswitch, RESUME],
  [H.platform_op, privileged, SCHEDULE],
  [H.set_debugreg, set_debugreg, RESUME],
  [H.get_debugreg, get_debugreg, RESUME],
  [H.update_descriptor, update_descriptor, RESUME],
  [H.memory_op, memory_op, RESUME],
  [H.multicall, multicall, SCHEDULE],
  [H.update_va_mapping, update_va_mapping, RESUME],
  [H.set_timer_op, set_timer_op, SCHEDULE],
  [H.xen_version, xen_version, RESUME],
  [H.console_io, console_io, RESUME],
  [H.grant_table_op, grant_table_op, RESUME],
  [H.vm_assist, vm_assist, RESUME],
  [H.vcpu_op, vcpu_op, SCHEDULE],
  [H.set_segment_base, set_segment_base, RESUME],
  [H.mmuext_op, mmuext_op, RESUME],
  [H.nmi_op, nosys, SCHEDULE],
  [H.sched_op, sched_op, SCHEDULE],
  [H.callback_op, callback_op, RESUME],
  [H.event_channel_op, event_channel_op, SCHEDULE],
  [H.physdev_op, physdev_op, RESUME],
  [H.hvm_op, nosys, SCHEDULE],
  [H.sysctl, privileged, SCHEDULE],
  [H.domctl, privileged, SCHEDULE],
  [H.xenpmu_op, nosys, SCHEDULE],
];

/** Handlers by number (dense, for the lookup on every hypercall). */
const HANDLERS: (HypercallFn | undefined)[] = [];
/** After-action by number; undefined (an unknown call) schedules. */
const RESUMES: boolean[] = [];
for (const [nr, fn, after] of DEFS) {
  HANDLERS[nr] = fn;
  RESUMES[nr] = after === RESUME;
}

/** Must the run loop return to the scheduler after hypercall `nr`? */
export function hypercallSchedules(nr: number): boolean {
  return RESUMES[nr] !== true;
}

/** Run one hypercall; guest-memory faults in its arguments become -EFAULT. */
export function hypercall(d: Domain, v: Vcpu, nr: number, a: Args): number {
  const fn = HANDLERS[nr];
  if (fn === undefined) {
    d.noteUnknownHypercall(nr, a);
    return -ENOSYS;
  }
  let r: number;
  try {
    r = fn(d, v, a);
  } catch (e) {
    if (e instanceof GuestFault) r = -EFAULT;
    else throw e;
  }
  if (TRACE) d.log(`hypercall ${nr}(${a.describe()}) = ${r}`);
  return r;
}

/** TSXEN_TRACE_HYPERCALLS=1 logs every hypercall to the hypervisor log (debugging a boot). */
const TRACE = process.env.TSXEN_TRACE_HYPERCALLS === '1';
