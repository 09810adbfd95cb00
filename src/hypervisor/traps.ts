// Delivering exceptions, events and guest-user system calls to a 64-bit PV guest kernel, and
// returning from them (HYPERVISOR_iret). The frame layout is Xen's create_bounce_frame
// (xen/arch/x86/x86_64/entry.S): { RCX, R11, [ERRCODE,] RIP, CS, RFLAGS, RSP, SS } on the guest
// kernel stack, CS carrying the saved upcall mask in bits 32-39 and RPL 0 when the guest was
// in kernel mode; do_iret is xen/arch/x86/pv/iret.c.

import { getFlags, setFlags, IF, DF, TF, AC } from '../cpu/flags.js';
import { CpuFault } from '../cpu/fault.js';
import { Reg, SReg } from '../cpu/regs.js';
import { FLAT_KERNEL_CS, FLAT_KERNEL_SS, HYPERVISOR_VIRT_START, HYPERVISOR_VIRT_END, TBF_EXCEPTION_ERRCODE, TBF_INTERRUPT, VGCF_in_syscall, VGCF_syscall_disables_events } from './public.js';
import type { Vcpu } from './vcpu.js';
import { join64, hi32 } from '../cpu/u64.js';

const IOPL = 0x3000, VM = 0x20000, RF = 0x10000, NT = 0x4000;

/** The guest did something that kills it (Xen's domain_crash): the caller ends the domain. */
export class DomainCrash extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DomainCrash';
  }
}

function rd(v: Vcpu, r: number): number {
  return join64(v.cpu.hi[r], v.cpu.lo[r]);
}
function wr(v: Vcpu, r: number, x: number): void {
  v.cpu.lo[r] = x | 0;
  v.cpu.hi[r] = hi32(x);
}

/**
 * create_bounce_frame: push the frame, switch to guest kernel mode at `eip`. Writing the
 * guest stack uses the guest's own page tables; a fault there crashes the domain, as in Xen.
 */
export function bounce(v: Vcpu, eip: number, tbf: number, errorCode: number): void {
  const c = v.cpu;
  if (eip === 0) throw new DomainCrash('bounce to a null callback or handler');
  let cs = FLAT_KERNEL_CS;
  const ss = FLAT_KERNEL_SS;
  const rip = c.rip;
  const oldRsp = rd(v, Reg.RSP);
  const rflags = getFlags(c);
  let sp: number;
  if (!v.kernelMode) {
    v.toggleGuestMode();
    sp = v.kernelSp;
  } else {
    sp = oldRsp;
    cs &= ~3; // indicate kernel context to the guest
  }
  sp -= ((sp % 16) + 16) % 16; // frames are 16-byte aligned
  if (sp > HYPERVISOR_VIRT_START && sp < HYPERVISOR_VIRT_END + 64) {
    throw new DomainCrash(`guest stack ${sp} lies in the hypervisor's range`);
  }
  const savedMask = v.upcallMask;
  if (tbf & TBF_INTERRUPT) v.upcallMask = 1;
  const frameFlags = (rflags & ~(IF | IOPL)) | (savedMask ? 0 : IF);
  const hasErr = (tbf & TBF_EXCEPTION_ERRCODE) !== 0;
  const words: [number, number][] = [
    [c.lo[Reg.RCX], c.hi[Reg.RCX]],
    [c.lo[Reg.R11], c.hi[Reg.R11]],
  ];
  if (hasErr) words.push([errorCode | 0, 0]);
  words.push([rip | 0, hi32(rip)]);
  words.push([cs, savedMask & 0xff]);
  words.push([frameFlags, 0]);
  words.push([oldRsp | 0, hi32(oldRsp)]);
  words.push([ss, 0]);
  const base = sp - words.length * 8;
  try {
    for (let k = 0; k < words.length; k++) c.m.wr64(base + k * 8, words[k][0], words[k][1]);
  } catch (e) {
    if (e instanceof CpuFault) throw new DomainCrash(`fault writing the bounce frame at ${base.toString(16)}: ${e.message}`);
    throw e;
  }
  // TF, VM, RF, NT and AC are cleared on entry (IA32 vol. 3; entry.S).
  setFlags(c, rflags & ~(AC | VM | RF | NT | TF));
  wr(v, Reg.RSP, base);
  c.sreg[SReg.CS] = FLAT_KERNEL_CS;
  c.sreg[SReg.SS] = FLAT_KERNEL_SS;
  c.rip = eip;
}

/** pv_inject_event for an exception: through the trap table. */
export function injectException(v: Vcpu, vector: number, errorCode: number | undefined): void {
  const ti = v.trapTable[vector];
  if (ti.address === 0) throw new DomainCrash(`unhandled exception ${vector} (no trap-table entry)`);
  let tbf = 1; // TBF_EXCEPTION
  if (errorCode !== undefined) tbf |= TBF_EXCEPTION_ERRCODE;
  if (ti.flags & 4) tbf |= TBF_INTERRUPT; // TI_GET_IF: disable events on entry
  bounce(v, ti.address, tbf, errorCode ?? 0);
}

/** Pending and unmasked events: enter the event callback with events masked (test_guest_events). */
export function deliverEvents(v: Vcpu): boolean {
  if (v.upcallPending === 1 && v.upcallMask === 0 && v.eventCallback !== 0) {
    bounce(v, v.eventCallback, TBF_INTERRUPT, 0);
    return true;
  }
  return false;
}

/** SYSCALL from guest user mode: to the registered syscall callback (switch_to_kernel). */
export function syscallFromUser(v: Vcpu): void {
  if (v.syscallCallback === 0) {
    // No callback: #UD at the SYSCALL instruction (entry.S syscall_no_callback).
    v.cpu.rip -= 2;
    injectException(v, 6, undefined);
    return;
  }
  const tbf = v.callbackFlags & VGCF_syscall_disables_events ? TBF_INTERRUPT : 0;
  bounce(v, v.syscallCallback, tbf, 0);
  // The PV ABI hard-codes that DF is cleared on syscall entry.
  setFlags(v.cpu, getFlags(v.cpu) & ~DF);
}

/** Scratch for doIret: the nine quadwords of the IRET context as (low, high) int32 pairs. */
const IRET_CTX = new Int32Array(18);
const enum Iret { RAX = 0, R11 = 2, RCX = 4, FLAGS = 6, RIP = 8, CS = 10, RFLAGS = 12, RSP = 14, SS = 16 }

/** HYPERVISOR_iret: pop { RAX, R11, RCX, FLAGS, RIP, CS, RFLAGS, RSP, SS } and return. */
export function doIret(v: Vcpu): void {
  const c = v.cpu;
  const sp = rd(v, Reg.RSP);
  const q = IRET_CTX;
  try {
    for (let k = 0; k < 9; k++) {
      q[2 * k] = c.m.rd64(sp + k * 8);
      q[2 * k + 1] = c.m.hi;
    }
  } catch (e) {
    if (e instanceof CpuFault) throw new DomainCrash('fault while reading the IRET context from the guest stack');
    throw e;
  }
  if ((q[Iret.CS] & 3) === 3) {
    if (v.userTable === 0) throw new DomainCrash('guest switching to user mode with no user page tables');
    if (v.kernelMode) v.toggleGuestMode();
  }
  c.rip = join64(q[Iret.RIP + 1], q[Iret.RIP]);
  c.sreg[SReg.CS] = q[Iret.CS] | 3;
  c.sreg[SReg.SS] = q[Iret.SS] | 3;
  const rflags = q[Iret.RFLAGS];
  setFlags(c, ((rflags & 0x3f7fd7) & ~(IOPL | VM)) | IF | 2);
  c.lo[Reg.RSP] = q[Iret.RSP];
  c.hi[Reg.RSP] = q[Iret.RSP + 1];
  if ((q[Iret.FLAGS] & VGCF_in_syscall) === 0) {
    c.lo[Reg.R11] = q[Iret.R11]; c.hi[Reg.R11] = q[Iret.R11 + 1];
    c.lo[Reg.RCX] = q[Iret.RCX]; c.hi[Reg.RCX] = q[Iret.RCX + 1];
  }
  // Restore the upcall mask from the supplied EFLAGS.IF.
  v.upcallMask = rflags & IF ? 0 : 1;
  c.lo[Reg.RAX] = q[Iret.RAX];
  c.hi[Reg.RAX] = q[Iret.RAX + 1];
}
