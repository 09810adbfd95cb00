// Trap table, callbacks and the kernel stack (xen/arch/x86/pv/traps.c do_set_trap_table,
// pv/callback.c do_set_callbacks / do_callback_op, x86_64/mm.c do_stack_switch).
import { EINVAL, ENOSYS } from '../errno.js';
import { readI64, readU16, readU8 } from '../guest_access.js';
import { trap_info } from '../abi/xen.js';
import { VGCF_failsafe_disables_events, VGCF_syscall_disables_events } from '../public.js';
import type { HypercallFn } from './types.js';

export const set_trap_table: HypercallFn = (_d, v, a) => {
  const traps = a.s(0);
  if (traps === 0) {
    for (const t of v.trapTable) { t.address = 0; t.flags = 0; t.cs = 0; }
    return 0;
  }
  for (let k = 0; k < 256; k++) {
    const o = traps + k * trap_info.size;
    const address = readI64(v, o + trap_info.fields.address.offset);
    if (address === 0) break;
    const vector = readU8(v, o);
    v.trapTable[vector] = {
      flags: readU8(v, o + trap_info.fields.flags.offset),
      cs: readU16(v, o + trap_info.fields.cs.offset),
      address,
    };
  }
  return 0;
};

export const stack_switch: HypercallFn = (_d, v, a) => {
  v.kernelSs = a.lo(0) & 0xffff;
  v.kernelSp = a.s(1);
  return 0;
};

/** set_callbacks(event, failsafe, syscall) (x86-64 form). */
export const set_callbacks: HypercallFn = (_d, v, a) => {
  v.eventCallback = a.s(0);
  v.failsafeCallback = a.s(1);
  v.syscallCallback = a.s(2);
  return 0;
};

const CALLBACKTYPE = { event: 0, failsafe: 1, syscall: 2, sysenter: 3, nmi: 4, syscall32: 7 } as const;
const CALLBACKF_mask_events = 1;

function register(v: Parameters<HypercallFn>[1], type: number, flags: number, address: number): number {
  const mask = (flags & CALLBACKF_mask_events) !== 0;
  switch (type) {
    case CALLBACKTYPE.event: v.eventCallback = address; return 0;
    case CALLBACKTYPE.failsafe:
      v.failsafeCallback = address;
      v.callbackFlags = mask ? v.callbackFlags | VGCF_failsafe_disables_events : v.callbackFlags & ~VGCF_failsafe_disables_events;
      return 0;
    case CALLBACKTYPE.syscall:
      v.syscallCallback = address;
      v.callbackFlags = mask ? v.callbackFlags | VGCF_syscall_disables_events : v.callbackFlags & ~VGCF_syscall_disables_events;
      return 0;
    case CALLBACKTYPE.syscall32:
    case CALLBACKTYPE.sysenter:
      return 0; // no 32-bit user space (IA32_EMULATION is off); accepted and never used
    case CALLBACKTYPE.nmi:
      return address === 0 ? 0 : -EINVAL; // NMIs are never delivered to a domU
    default:
      return -ENOSYS;
  }
}

export const callback_op: HypercallFn = (_d, v, a) => {
  const cmd = a.u32(0);
  const arg = a.s(1);
  if (cmd === 0) { // CALLBACKOP_register { uint16 type; uint16 flags; xen_callback_t address }
    return register(v, readU16(v, arg), readU16(v, arg + 2), readI64(v, arg + 8));
  }
  if (cmd === 1) { // CALLBACKOP_unregister { uint16 type }
    const type = readU16(v, arg);
    return type === CALLBACKTYPE.nmi ? 0 : register(v, type, 0, 0) === 0 ? 0 : -EINVAL;
  }
  return -ENOSYS;
};
