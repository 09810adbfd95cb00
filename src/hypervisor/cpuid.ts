// The CPUID a PV domU sees, as Xen 4.4 answers it (pv_cpuid in xen/arch/x86/traps.c at
// RELEASE-4.4.4): the hypervisor leaves first (cpuid_hypervisor_leaves), else the domain's
// policy, which the toolstack made from the host's leaves with xc_cpuid_pv_policy
// (tools/libxc/xc_cpuid_x86.c): features a PV guest cannot use are cleared, the hypervisor bit
// is set. Our "host" is the interpreter's CPU (src/cpu/cpuid.ts). Xen answers this for CPUID
// behind the forced-emulation prefix and, on hosts with CPUID faulting, for plain CPUID too.

import { defaultCpuid, str4 } from '../cpu/cpuid.js';
import type { Cpu } from '../cpu/cpu.js';
import type { Vcpu } from './vcpu.js';
import { XEN_MAJOR, XEN_MINOR } from './public.js';

const XEN_SIGNATURE = 'XenVMMXenVMM';
/** XEN_CPUID_FEAT1_MMU_PT_UPDATE_PRESERVE_AD (public/arch-x86/cpuid.h). */
const XEN_CPUID_FEAT1_MMU_PT_UPDATE_PRESERVE_AD = 1 << 0;
/**
 * cpuid_hypervisor_leaves hides leaf 3 (the PVRDTSCP time leaf) unless tsc_mode is pvrdtscp,
 * "for Solaris PV drivers"; our domains run the default TSC mode.
 */
const HYPERVISOR_LEAF_LIMIT = 2;

const bit = (n: number) => 1 << n;

// xc_cpuid_pv_policy, leaves 1 and 0x80000001 EDX: VME PSE PGE MCE MCA MTRR PSE36 (no
// superpages, machine checks or MTRRs in a PV domain); leaf 1 EDX also DS ACC PBE.
const PAGING_EDX_CLEAR = bit(1) | bit(3) | bit(13) | bit(7) | bit(14) | bit(12) | bit(17);
const LEAF1_EDX_CLEAR = PAGING_EDX_CLEAR | bit(21) | bit(22) | bit(31);
// Leaf 1 ECX: DTES64 MWAIT DSCPL VMXE SMXE EST TM2 XTPR PDCM PCID DCA, and XSAVE/AVX since
// the domain has no extended state (xfeature_mask 0).
const LEAF1_ECX_CLEAR = bit(2) | bit(3) | bit(4) | bit(5) | bit(6) | bit(7) | bit(8) | bit(14) | bit(15) | bit(17) | bit(18) | bit(26) | bit(28);
const X86_FEATURE_HYPERVISOR = bit(31);
// Leaf 7.0 EBX keeps only FSGSBASE BMI1 HLE AVX2 BMI2 ERMS RTM.
const LEAF7_EBX_KEEP = bit(0) | bit(3) | bit(4) | bit(5) | bit(8) | bit(9) | bit(11);
// 0x80000001 EDX: SYSCALL is set for a 64-bit guest; PAGE1GB and RDTSCP are cleared.
const EXT1_EDX_SET = bit(11);
const EXT1_EDX_CLEAR = PAGING_EDX_CLEAR | bit(26) | bit(27);
// 0x80000001 ECX: SVM OSVW IBS SKINIT WDT LWP NODEID_MSR TOPOEXT.
const EXT1_ECX_CLEAR = bit(2) | bit(9) | bit(10) | bit(12) | bit(13) | bit(15) | bit(19) | bit(22);
/** Leaves the policy zeroes: MONITOR/MWAIT, perfmon, topology, SVM, IBS, LWP, AMD topology. */
const ZEROED = new Set([0x5, 0xa, 0xb, 0x8000000a, 0x8000001b, 0x8000001c, 0x8000001e]);

function put(c: Cpu, a: number, b: number, cc: number, d: number): void {
  c.lo[0] = a; c.hi[0] = 0; c.lo[3] = b; c.hi[3] = 0; c.lo[1] = cc; c.hi[1] = 0; c.lo[2] = d; c.hi[2] = 0;
}

/** cpuid_hypervisor_leaves: true if `leaf` is one of Xen's (and the registers are set). */
function hypervisorLeaves(c: Cpu, leaf: number): boolean {
  const idx = leaf - 0x40000000;
  if (idx < 0 || idx > HYPERVISOR_LEAF_LIMIT) return false;
  switch (idx) {
    case 0: put(c, 0x40000000 + HYPERVISOR_LEAF_LIMIT, str4(XEN_SIGNATURE, 0), str4(XEN_SIGNATURE, 4), str4(XEN_SIGNATURE, 8)); break;
    case 1: put(c, (XEN_MAJOR << 16) | XEN_MINOR, 0, 0, 0); break;
    // One hypercall page, the hypercall-page MSR at 0x40000000, and the PV-only feature bit.
    default: put(c, 1, 0x40000000, XEN_CPUID_FEAT1_MMU_PT_UPDATE_PRESERVE_AD, 0); break;
  }
  return true;
}

/** Leaf 1 EDX: APIC. */
const X86_FEATURE_APIC = bit(9);

/**
 * The host leaves the toolstack builds the policy from: the interpreter's, as a machine Xen
 * runs on has them. That machine has a local APIC, which the PV policy leaves visible; Linux
 * then drives its Xen PV APIC (arch/x86/xen/apic.c) instead of falling back to the no-op one,
 * whose APIC IDs disagree with the vCPUs' ("[Firmware Bug]: CPU1: APIC id mismatch"). Leaf
 * 0x16 gives base and maximum frequency 1000 MHz, bus 100 MHz: our TSC counts nanoseconds and
 * a domU has no PIT for Linux to calibrate against.
 */
function hostCpuid(c: Cpu, leaf: number): void {
  if (leaf === 0x16) {
    put(c, 1000, 1000, 100, 0);
    return;
  }
  defaultCpuid(c);
  if (leaf === 0) c.lo[0] = 0x16; // basic leaves up to 0x16; the ones we lack read as zero
  if (leaf === 1) c.lo[2] |= X86_FEATURE_APIC;
}

/** pv_cpuid for a domU: EAX (leaf) and ECX (subleaf) in, EAX EBX ECX EDX out. */
export function pvCpuid(v: Vcpu): void {
  const c = v.cpu;
  const leaf = c.lo[0] >>> 0;
  const subleaf = c.lo[1] >>> 0;
  if (hypervisorLeaves(c, leaf)) return;
  if (ZEROED.has(leaf)) {
    put(c, 0, 0, 0, 0);
    return;
  }
  hostCpuid(c, leaf);
  switch (leaf) {
    case 1:
      c.lo[2] &= ~LEAF1_EDX_CLEAR;
      c.lo[1] = (c.lo[1] & ~LEAF1_ECX_CLEAR) | X86_FEATURE_HYPERVISOR;
      break;
    case 7:
      put(c, 0, subleaf === 0 ? c.lo[3] & LEAF7_EBX_KEEP : 0, 0, 0);
      break;
    case 0x80000001:
      c.lo[2] = (c.lo[2] | EXT1_EDX_SET) & ~EXT1_EDX_CLEAR;
      c.lo[1] &= ~EXT1_ECX_CLEAR;
      break;
    default:
      break;
  }
}
