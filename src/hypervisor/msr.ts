// RDMSR and WRMSR from a PV guest kernel, as Xen 4.4's emulate_privileged_op answers them
// (xen/arch/x86/traps.c at RELEASE-4.4.4, cases 0x32 and 0x30). Xen lets a guest read any MSR
// the host has ("Everyone can read the MSR space"), with a few replaced by the vCPU's own
// values; a write to an MSR it does not handle is dropped with a warning in Xen's log, not
// refused. Our host is the interpreter's CPU: the MSRs below are the ones it has; any other
// raises #GP, as rdmsr_safe failing on the host makes Xen do, so Linux's *_safe paths fail
// cleanly.

import type { Vcpu } from './vcpu.js';
import { DomainCrash } from './traps.js';

/** XEN_MSR_PAT: the PAT Xen runs with, which the guest reads (xen/include/asm-x86/processor.h). */
const XEN_MSR_PAT = 0x050100070406n;
export const MSR = {
  EFER: 0xc0000080, STAR: 0xc0000081, LSTAR: 0xc0000082, CSTAR: 0xc0000083, SYSCALL_MASK: 0xc0000084,
  FS_BASE: 0xc0000100, GS_BASE: 0xc0000101, SHADOW_GS_BASE: 0xc0000102, TSC_AUX: 0xc0000103,
  PAT: 0x277, MISC_ENABLE: 0x1a0, APIC_BASE: 0x1b, UCODE_REV: 0x8b,
  /** The hypercall-page MSR (rdmsr_hypervisor_regs / wrmsr_hypervisor_regs), base 0x40000000. */
  HYPERCALL_PAGE: 0x40000000,
} as const;
// The host's EFER as Xen runs it: SCE | LME | LMA | NXE.
const EFER_VALUE = 0x1n | 0x100n | 0x400n | 0x800n;
// MISC_ENABLE after guest_misc_enable: fast strings (the host's), BTS and PEBS unavailable and
// xTPR disabled (set by Xen), no perfmon and no MONITOR (cleared by Xen).
const MISC_ENABLE_VALUE = (1n << 0n) | (1n << 11n) | (1n << 12n) | (1n << 23n);

function toBig(n: number): bigint {
  return BigInt.asUintN(64, BigInt(n));
}

/** The value RDMSR gives, or undefined for #GP. */
export function rdmsr(v: Vcpu, msr: number): bigint | undefined {
  switch (msr) {
    case MSR.FS_BASE: return toBig(v.cpu.fsBase);
    case MSR.GS_BASE: return toBig(v.cpu.gsBase);
    // Xen keeps gs_base_user for the guest kernel to read (the kernel runs with its own GS base).
    case MSR.SHADOW_GS_BASE: return toBig(v.kernelMode ? v.gsBaseUser : v.gsBaseKernel);
    case MSR.HYPERCALL_PAGE: return 0n; // "Write hypercall page MSR. Read as zero."
    case MSR.UCODE_REV: return 0n; // Xen writes 0 then reads the host's revision: ours is 0
    case MSR.MISC_ENABLE: return MISC_ENABLE_VALUE;
    // rdmsr_normal: the host's own registers.
    case MSR.EFER: return EFER_VALUE;
    case MSR.PAT: return XEN_MSR_PAT;
    case MSR.TSC_AUX: return BigInt(v.cpu.tscAux);
    default: return undefined;
  }
}

/** WRMSR: false for #GP; true when done (which, for most MSRs, means ignored). */
export function wrmsr(v: Vcpu, msr: number, x: bigint): boolean {
  const n = Number(BigInt.asIntN(64, x));
  switch (msr) {
    case MSR.FS_BASE: v.cpu.fsBase = n; return true;
    case MSR.GS_BASE: v.cpu.gsBase = n; return true;
    case MSR.SHADOW_GS_BASE:
      if (v.kernelMode) v.gsBaseUser = n;
      else v.gsBaseKernel = n;
      return true;
    case MSR.TSC_AUX: v.cpu.tscAux = Number(x & 0xffffffffn); return true;
    case MSR.HYPERCALL_PAGE:
      // wrmsr_hypervisor_regs would fill the page at gmfn with hypercall stubs. PV kernels get
      // theirs from the builder (or use no page at all); say so rather than pretend.
      throw new DomainCrash(`WRMSR 0x40000000 (hypercall page at 0x${x.toString(16)}) is not implemented`);
    default:
      // vmce_wrmsr has no machine-check MSRs to offer (the policy hides MCE/MCA); then an MSR
      // the host has takes no write from a guest ("Domain attempted WRMSR"), one it lacks is #GP.
      return rdmsr(v, msr) !== undefined;
  }
}
