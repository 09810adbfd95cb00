// VCPUOP_initialise: load a secondary vCPU from a vcpu_guest_context the guest prepared
// (xen/arch/x86/domain.c arch_set_info_guest, PV part). Linux's cpu_initialize_context fills
// user_regs, trap_ctxt, gdt, kernel_ss/sp, ctrlreg[3], the callbacks and gs_base_kernel.

import { join64 } from '../cpu/u64.js';
import { SReg } from '../cpu/regs.js';
import { cpu_user_regs, vcpu_guest_context, trap_info } from './abi/xen.js';
import { setFlags } from '../cpu/flags.js';
import { EFAULT, EINVAL } from './errno.js';
import { readBytes } from './guest_access.js';
import type { Domain } from './domain.js';
import type { Vcpu } from './vcpu.js';
import { VGCF_in_kernel } from './public.js';

const REGS: [string, number][] = [
  ['rax', 0], ['rcx', 1], ['rdx', 2], ['rbx', 3], ['rsp', 4], ['rbp', 5], ['rsi', 6], ['rdi', 7],
  ['r8', 8], ['r9', 9], ['r10', 10], ['r11', 11], ['r12', 12], ['r13', 13], ['r14', 14], ['r15', 15],
];

export function initialiseVcpu(d: Domain, caller: Vcpu, t: Vcpu, ctxVa: number): number {
  let bytes: Uint8Array;
  try {
    bytes = readBytes(caller, ctxVa, vcpu_guest_context.size);
  } catch {
    return -EFAULT;
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const f = vcpu_guest_context.fields;
  const u64 = (o: number) => join64(dv.getUint32(o + 4, true), dv.getUint32(o, true));
  const i64 = (o: number) => join64(dv.getInt32(o + 4, true), dv.getUint32(o, true));
  const flags = u64(f.flags.offset);
  const cr3 = u64(f.ctrlreg.offset + 3 * 8);
  const l4 = Math.floor(cr3 / 4096);
  if (!d.mem.isRam(l4)) return -EINVAL;
  const c = t.cpu;
  const ur = f.user_regs.offset;
  for (const [name, r] of REGS) {
    const o = ur + cpu_user_regs.fields[name as keyof typeof cpu_user_regs.fields].offset;
    c.lo[r] = dv.getInt32(o, true);
    c.hi[r] = dv.getInt32(o + 4, true);
  }
  c.rip = i64(ur + cpu_user_regs.fields.rip.offset);
  c.sreg[SReg.CS] = dv.getUint16(ur + cpu_user_regs.fields.cs.offset, true) | 3;
  c.sreg[SReg.SS] = dv.getUint16(ur + cpu_user_regs.fields.ss.offset, true) | 3;
  // arch_set_info_guest (xen/arch/x86/domain.c): EFLAGS.IOPL becomes the vCPU's virtual IOPL and
  // is cleared in the real flags. Linux's cpu_initialize_context passes IOPL_RING1 this way, so
  // a secondary vCPU may do the port I/O the boot vCPU got with PHYSDEVOP_set_iopl.
  const rflags = dv.getUint32(ur + cpu_user_regs.fields.rflags.offset, true);
  t.iopl = (rflags >>> 12) & 3;
  setFlags(c, rflags & ~0x3000);
  for (let k = 0; k < 256; k++) {
    const o = f.trap_ctxt.offset + k * trap_info.size;
    const vec = dv.getUint8(o + trap_info.fields.vector.offset);
    const addr = i64(o + trap_info.fields.address.offset);
    if (addr === 0 && vec === 0 && k > 0) break; // the list ends at a zero entry
    if (addr !== 0) {
      t.trapTable[vec] = {
        flags: dv.getUint8(o + trap_info.fields.flags.offset),
        cs: dv.getUint16(o + trap_info.fields.cs.offset, true),
        address: addr,
      };
    }
  }
  t.kernelSs = u64(f.kernel_ss.offset);
  t.kernelSp = i64(f.kernel_sp.offset);
  t.eventCallback = i64(f.event_callback_eip.offset);
  t.failsafeCallback = i64(f.failsafe_callback_eip.offset);
  t.syscallCallback = i64(f.syscall_callback_eip.offset);
  t.callbackFlags = flags;
  c.fsBase = i64(f.fs_base.offset);
  t.gsBaseKernel = i64(f.gs_base_kernel.offset);
  t.gsBaseUser = i64(f.gs_base_user.offset);
  t.kernelTable = l4;
  t.userTable = Math.floor(u64(f.ctrlreg.offset + 1 * 8) / 4096);
  t.kernelMode = (flags & VGCF_in_kernel) !== 0;
  c.gsBase = t.kernelMode ? t.gsBaseKernel : t.gsBaseUser;
  t.walker.userMode = !t.kernelMode;
  t.loadPageTables();
  t.initialised = true;
  void d;
  return 0;
}
