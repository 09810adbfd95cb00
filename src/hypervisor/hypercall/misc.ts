// The small x86 PV hypercalls: fpu_taskswitch, set_segment_base, vm_assist, set_gdt,
// update_descriptor, set/get_debugreg, physdev_op, and the ones a domU may not use.
import { SReg } from '../../cpu/regs.js';
import { EFAULT, EINVAL, ENOSYS, EPERM } from '../errno.js';
import { readI64, readU32 } from '../guest_access.js';
import type { HypercallFn } from './types.js';

export const fpu_taskswitch: HypercallFn = (_d, v, a) => {
  v.cpu.ts = a.u32(0) !== 0; // CR0.TS: the next FPU/SSE instruction raises #NM
  return 0;
};

/** set_segment_base(which, base) (xen/arch/x86/pv/misc-hypercalls.c). */
export const set_segment_base: HypercallFn = (_d, v, a) => {
  const which = a.u32(0);
  const base = a.s(1);
  switch (which) {
    case 0: v.cpu.fsBase = base; return 0; // SEGBASE_FS
    case 1: // SEGBASE_GS_USER
      if (v.kernelMode) v.gsBaseUser = base;
      else v.cpu.gsBase = base;
      return 0;
    case 2: // SEGBASE_GS_KERNEL
      if (v.kernelMode) v.cpu.gsBase = base;
      else v.gsBaseKernel = base;
      return 0;
    case 3: // SEGBASE_GS_USER_SEL: load a user GS selector; a null selector zeroes the base
      v.cpu.sreg[SReg.GS] = a.lo(1) & 0xffff;
      if ((a.lo(1) & 0xfffc) === 0) {
        if (v.kernelMode) v.gsBaseUser = 0;
        else v.cpu.gsBase = 0;
      }
      return 0;
    default:
      return -EINVAL;
  }
};

/** vm_assist(cmd, type): the x86 PV types Xen allows (VM_ASSIST_VALID). */
const VALID_ASSISTS = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5);
export const vm_assist: HypercallFn = (d, _v, a) => {
  const cmd = a.u32(0);
  const type = a.u32(1);
  if (type >= 32 || !(VALID_ASSISTS & (1 << type))) return type === 32 ? 0 : -EINVAL; // m2p_strict accepted
  if (cmd === 0) d.vmAssist |= 1 << type;
  else if (cmd === 1) d.vmAssist &= ~(1 << type);
  else return -ENOSYS;
  return 0;
};

/** set_gdt(frame_list, entries): remembered; long-mode code uses flat descriptors. */
export const set_gdt: HypercallFn = (d, v, a) => {
  const list = a.s(0);
  const entries = a.u32(1);
  if (entries > 7680) return -EINVAL; // FIRST_RESERVED_GDT_ENTRY
  const frames: number[] = [];
  for (let k = 0; k < Math.ceil(entries / 512); k++) {
    const mfn = readI64(v, list + k * 8);
    if (!d.mem.isRam(mfn)) return -EINVAL;
    frames.push(mfn);
  }
  v.gdtFrames = frames;
  v.gdtEntries = entries;
  return 0;
};

/** update_descriptor(maddr, desc): write one 8-byte descriptor into a RAM frame. */
export const update_descriptor: HypercallFn = (d, _v, a) => {
  const maddr = a.unum(0); // beyond 2^53 it is beyond RAM however it rounds
  if (maddr % 8 !== 0 || !d.mem.isRam(Math.floor(maddr / 4096))) return -EINVAL;
  d.dv.setInt32(maddr, a.lo(1), true);
  d.dv.setInt32(maddr + 4, a.hi(1), true);
  return 0;
};

export const set_debugreg: HypercallFn = (_d, v, a) => {
  const reg = a.u32(0);
  if (reg > 7 || reg === 4 || reg === 5) return -EINVAL;
  v.debugreg[reg] = a.s(1); // DR0-3 hold canonical addresses, exact as signed doubles
  return 0;
};

export const get_debugreg: HypercallFn = (_d, v, a) => {
  const reg = a.u32(0);
  if (reg > 7 || reg === 4 || reg === 5) return -EINVAL;
  return v.debugreg[reg];
};

/** physdev_op: what a domU may do (xen/arch/x86/physdev.c). */
export const physdev_op: HypercallFn = (_d, v, a) => {
  const cmd = a.u32(0);
  const arg = a.s(1);
  switch (cmd) {
    case 6: { // PHYSDEVOP_set_iopl { uint32 iopl }
      const iopl = readU32(v, arg);
      if (iopl > 3) return -EINVAL;
      v.iopl = iopl;
      return 0;
    }
    case 7: // PHYSDEVOP_set_iobitmap
      return 0;
    default:
      return -ENOSYS;
  }
};

export const privileged: HypercallFn = () => -EPERM;
export const nosys: HypercallFn = () => -ENOSYS;

export { EFAULT };
