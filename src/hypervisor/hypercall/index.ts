// The hypercall table (xen/arch/x86/pv/hypercall.c pv_hypercall): number -> handler. Anything
// not listed answers -ENOSYS, never a host crash.
import { ENOSYS, EINVAL } from '../errno.js';
import { HYPERVISOR } from '../public.js';
import { GuestFault, readBig, writeU64 } from '../guest_access.js';
import { EFAULT } from '../errno.js';
import { callback_op, set_callbacks, set_trap_table, stack_switch } from './callback.js';
import { console_io } from './console_io.js';
import { event_channel_op } from './event_channel.js';
import { grant_table_op } from './grant_table.js';
import { memory_op } from './memory.js';
import { fpu_taskswitch, get_debugreg, nosys, physdev_op, privileged, set_debugreg, set_gdt, set_segment_base, update_descriptor, vm_assist } from './misc.js';
import { mmu_update, mmuext_op, update_va_mapping } from './mm.js';
import { sched_op, set_timer_op } from './sched.js';
import { sarg, uarg, type Args, type HypercallFn } from './types.js';
import { vcpu_op } from './vcpu.js';
import { xen_version } from './version.js';
import type { Domain } from '../domain.js';
import type { Vcpu } from '../vcpu.js';

export const HYPERCALLS: (HypercallFn | undefined)[] = [];
const H = HYPERVISOR;
HYPERCALLS[H.set_trap_table] = set_trap_table;
HYPERCALLS[H.mmu_update] = mmu_update;
HYPERCALLS[H.set_gdt] = set_gdt;
HYPERCALLS[H.stack_switch] = stack_switch;
HYPERCALLS[H.set_callbacks] = set_callbacks;
HYPERCALLS[H.fpu_taskswitch] = fpu_taskswitch;
HYPERCALLS[H.platform_op] = privileged;
HYPERCALLS[H.set_debugreg] = set_debugreg;
HYPERCALLS[H.get_debugreg] = get_debugreg;
HYPERCALLS[H.update_descriptor] = update_descriptor;
HYPERCALLS[H.memory_op] = memory_op;
HYPERCALLS[H.update_va_mapping] = update_va_mapping;
HYPERCALLS[H.set_timer_op] = set_timer_op;
HYPERCALLS[H.xen_version] = xen_version;
HYPERCALLS[H.console_io] = console_io;
HYPERCALLS[H.grant_table_op] = grant_table_op;
HYPERCALLS[H.vm_assist] = vm_assist;
HYPERCALLS[H.vcpu_op] = vcpu_op;
HYPERCALLS[H.set_segment_base] = set_segment_base;
HYPERCALLS[H.mmuext_op] = mmuext_op;
HYPERCALLS[H.nmi_op] = nosys;
HYPERCALLS[H.sched_op] = sched_op;
HYPERCALLS[H.callback_op] = callback_op;
HYPERCALLS[H.event_channel_op] = event_channel_op;
HYPERCALLS[H.physdev_op] = physdev_op;
HYPERCALLS[H.hvm_op] = nosys;
HYPERCALLS[H.sysctl] = privileged;
HYPERCALLS[H.domctl] = privileged;
HYPERCALLS[H.xenpmu_op] = nosys;

/** Run one hypercall; guest-memory faults in its arguments become -EFAULT. */
export function hypercall(d: Domain, v: Vcpu, nr: number, a: Args): number | bigint {
  const fn = HYPERCALLS[nr];
  if (fn === undefined) {
    d.noteUnknownHypercall(nr, a);
    return -ENOSYS;
  }
  let r: number | bigint;
  try {
    r = fn(d, v, a);
  } catch (e) {
    if (e instanceof GuestFault) r = -EFAULT;
    else throw e;
  }
  if (TRACE) d.log(`hypercall ${nr}(${a.map((x) => '0x' + BigInt.asUintN(64, x).toString(16)).join(', ')}) = ${r}`);
  return r;
}

/** TSXEN_TRACE_HYPERCALLS=1 logs every hypercall to the hypervisor log (debugging a boot). */
const TRACE = process.env.TSXEN_TRACE_HYPERCALLS === '1';

/** multicall(entries, nr): { op, result, args[6] } each 64 bytes; results written back. */
HYPERCALLS[H.multicall] = (d, v, a) => {
  const list = sarg(a[0]);
  const nr = uarg(a[1]);
  if (nr > 4096) return -EINVAL;
  for (let k = 0; k < nr; k++) {
    const e = list + k * 64;
    const op = Number(readBig(v, e));
    if (op === H.multicall || op === H.iret) {
      writeU64(v, e + 8, BigInt(-EINVAL));
      continue;
    }
    const args: bigint[] = [];
    for (let j = 0; j < 6; j++) args.push(readBig(v, e + 16 + j * 8));
    const r = hypercall(d, v, op, args);
    writeU64(v, e + 8, BigInt.asUintN(64, BigInt(r)));
    if (d.stopped || v.blocked) {
      // A shutdown or block inside a batch ends it here (Xen preempts the same way).
      break;
    }
  }
  return 0;
};
