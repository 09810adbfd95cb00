// What Xen emulates for a PV guest when its instruction faults (xen/arch/x86/pv/emul-priv-op.c,
// emul-inv-op.c): CPUID behind the forced-emulation prefix `ud2; .ascii "xen"` (the guest's
// view of CPUID, with the hypervisor leaves), RDMSR/WRMSR of the MSRs a PV guest may touch
// (others raise #GP so the *_safe paths fail cleanly), CLTS, WBINVD. Port I/O is denied: #GP.

import { defaultCpuid } from '../cpu/cpuid.js';
import { Reg } from '../cpu/regs.js';
import type { Vcpu } from './vcpu.js';
import { XEN_MAJOR, XEN_MINOR } from './public.js';

/** XEN_MSR_PAT: the PAT value Xen runs PV guests with (xen/arch/x86/include/asm/processor.h). */
const XEN_MSR_PAT = 0x050100070406n;
const MSR = {
  EFER: 0xc0000080, STAR: 0xc0000081, LSTAR: 0xc0000082, CSTAR: 0xc0000083, SYSCALL_MASK: 0xc0000084,
  FS_BASE: 0xc0000100, GS_BASE: 0xc0000101, SHADOW_GS_BASE: 0xc0000102, TSC_AUX: 0xc0000103,
  PAT: 0x277, MISC_ENABLE: 0x1a0, APIC_BASE: 0x1b, UCODE_REV: 0x8b,
} as const;
// EFER as a 64-bit PV guest sees it: SCE | LME | LMA | NXE.
const EFER_VALUE = 0x1n | 0x100n | 0x400n | 0x800n;

const XEN_SIGNATURE = 'XenVMMXenVMM';

function str4(s: string, at: number): number {
  let v = 0;
  for (let k = 0; k < 4; k++) v |= s.charCodeAt(at + k) << (8 * k);
  return v;
}

/** The guest's CPUID (guest_cpuid for PV): the native leaves plus the hypervisor bit and leaves. */
export function guestCpuid(v: Vcpu): void {
  const c = v.cpu;
  const leaf = c.lo[0] >>> 0;
  if (leaf >= 0x40000000 && leaf < 0x40010000) {
    let a = 0, b = 0, cc = 0, d = 0;
    switch (leaf) {
      case 0x40000000:
        a = 0x40000005;
        b = str4(XEN_SIGNATURE, 0); cc = str4(XEN_SIGNATURE, 4); d = str4(XEN_SIGNATURE, 8);
        break;
      case 0x40000001: a = (XEN_MAJOR << 16) | XEN_MINOR; break;
      case 0x40000002: a = 1; b = 0x40000000; break; // one hypercall page, MSR base
      case 0x40000003: a = 0; b = 0; cc = 1000000; d = 0; break; // TSC mode default, 1 GHz (our TSC counts ns)
      default: break;
    }
    c.lo[0] = a; c.hi[0] = 0; c.lo[3] = b; c.hi[3] = 0; c.lo[1] = cc; c.hi[1] = 0; c.lo[2] = d; c.hi[2] = 0;
    return;
  }
  if (leaf === 0x16) {
    // Processor frequency leaf: base/max 1000 MHz, bus 100 MHz — our TSC counts nanoseconds.
    // Linux takes cpu_khz from here instead of calibrating against the PIT, which a domU lacks.
    c.lo[0] = 1000; c.lo[3] = 1000; c.lo[1] = 100; c.lo[2] = 0;
    c.hi[0] = c.hi[1] = c.hi[2] = c.hi[3] = 0;
    return;
  }
  defaultCpuid(c);
  if (leaf === 0) c.lo[0] = 0x16; // basic leaves up to 0x16 (unknown ones read as zero)
  if (leaf === 1) {
    c.lo[1] |= 1 << 31; // hypervisor present
    // Xen's PV policy hides PSE and PSE36 (no superpages in PV page tables) and MTRR.
    c.lo[2] &= ~((1 << 3) | (1 << 17) | (1 << 12));
  }
}

function setEdxEax(v: Vcpu, x: bigint): void {
  const c = v.cpu;
  c.lo[Reg.RAX] = Number(BigInt.asIntN(32, x & 0xffffffffn)); c.hi[Reg.RAX] = 0;
  c.lo[Reg.RDX] = Number(BigInt.asIntN(32, x >> 32n)); c.hi[Reg.RDX] = 0;
}

function toBig(n: number): bigint {
  return BigInt.asUintN(64, BigInt(n));
}

function rdmsr(v: Vcpu, msr: number): bigint | undefined {
  switch (msr) {
    case MSR.EFER: return EFER_VALUE;
    case MSR.FS_BASE: return toBig(v.cpu.fsBase);
    case MSR.GS_BASE: return toBig(v.cpu.gsBase);
    case MSR.SHADOW_GS_BASE: return toBig(v.kernelMode ? v.gsBaseUser : v.gsBaseKernel);
    case MSR.TSC_AUX: return BigInt(v.cpu.tscAux);
    case MSR.PAT: return XEN_MSR_PAT;
    case MSR.MISC_ENABLE: return 0x1n | (1n << 11n) | (1n << 12n); // fast strings, no BTS/PEBS
    case MSR.UCODE_REV: return 0n; // Intel microcode revision: 0 for a PV guest (xen/arch/x86/msr.c)
    default: return undefined;
  }
}

function wrmsr(v: Vcpu, msr: number, x: bigint): boolean {
  const n = Number(BigInt.asIntN(64, x));
  switch (msr) {
    case MSR.FS_BASE: v.cpu.fsBase = n; return true;
    case MSR.GS_BASE: v.cpu.gsBase = n; return true;
    case MSR.SHADOW_GS_BASE:
      if (v.kernelMode) v.gsBaseUser = n;
      else v.gsBaseKernel = n;
      return true;
    case MSR.TSC_AUX: v.cpu.tscAux = Number(x & 0xffffffffn); return true;
    case MSR.PAT: return x === XEN_MSR_PAT;
    case MSR.EFER: return x === EFER_VALUE;
    case MSR.UCODE_REV: return x === 0n; // writing 0 before reading the revision is allowed
    default: return false;
  }
}

// CR0 as a PV guest sees it: PE MP ET NE WP AM PG (+TS from fpu_taskswitch).
const CR0_BASE = 0x80050033;
// CR4 bits a PV guest may set in its virtual CR4 (pv_fixup_guest_cr4 keeps the guest's view;
// the real CR4 is Xen's): VME PVI TSD DE PSE PAE PGE OSFXSR OSXMMEXCPT.
const CR4_GUEST_MASK = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x80 | 0x200 | 0x400;

function movCrDr(v: Vcpu, op: number, n: number, gpr: number): boolean {
  const c = v.cpu;
  const get = () => (BigInt(c.hi[gpr] >>> 0) << 32n) | BigInt(c.lo[gpr] >>> 0);
  const put = (x: bigint) => {
    c.lo[gpr] = Number(BigInt.asIntN(32, x & 0xffffffffn));
    c.hi[gpr] = Number(BigInt.asIntN(32, x >> 32n));
  };
  switch (op) {
    case 0x20: // MOV from CRn
      if (n === 0) put(BigInt((CR0_BASE | (c.ts ? 8 : 0)) >>> 0));
      else if (n === 2) put(BigInt.asUintN(64, BigInt(v.cr2())));
      else if (n === 3) put(BigInt(v.kernelMode ? v.kernelTable : v.userTable) << 12n);
      else if (n === 4) put(BigInt(v.cr4));
      else return false;
      return true;
    case 0x22: { // MOV to CRn: only CR0.TS may change (do_write_cr0); CR4 keeps the guest's view
      const x = get();
      if (n === 0) {
        if (((Number(x & 0xffffffffn) & ~8) >>> 0) !== CR0_BASE) return false;
        c.ts = (x & 8n) !== 0n;
        return true;
      }
      if (n === 4) {
        // Xen's write_cr: ctrlreg[4] = pv_fixup_guest_cr4(v, val) — accepted, masked.
        v.cr4 = Number(x & 0xffffffffn) & CR4_GUEST_MASK;
        return true;
      }
      return false;
    }
    case 0x21: // MOV from DRn
      put(BigInt(v.debugreg[n] ?? 0));
      return n < 8 && n !== 4 && n !== 5;
    default: { // 0x23 MOV to DRn
      if (n >= 8 || n === 4 || n === 5) return false;
      v.debugreg[n] = Number(get() & 0xffffffffn);
      return true;
    }
  }
}

/** Try to emulate the instruction at RIP that raised #UD or #GP; true if handled (RIP advanced). */
export function emulatePrivOp(v: Vcpu, vector: number): boolean {
  const c = v.cpu;
  let b: Uint8Array;
  try {
    b = c.m.readBytes(c.rip, 8);
  } catch {
    return false;
  }
  if (vector === 6) {
    // Forced emulation: 0f 0b 'x' 'e' 'n' then CPUID (0f a2).
    if (b[0] === 0x0f && b[1] === 0x0b && b[2] === 0x78 && b[3] === 0x65 && b[4] === 0x6e && b[5] === 0x0f && b[6] === 0xa2) {
      guestCpuid(v);
      c.rip += 7;
      return true;
    }
    return false;
  }
  if (vector !== 13) return false;
  if (b[0] === 0x0f && b[1] === 0x32) { // RDMSR
    const x = rdmsr(v, c.lo[Reg.RCX] >>> 0);
    if (x === undefined) return false;
    setEdxEax(v, x);
    c.rip += 2;
    return true;
  }
  if (b[0] === 0x0f && b[1] === 0x30) { // WRMSR
    const x = (BigInt(c.lo[Reg.RDX] >>> 0) << 32n) | BigInt(c.lo[Reg.RAX] >>> 0);
    if (!wrmsr(v, c.lo[Reg.RCX] >>> 0, x)) return false;
    c.rip += 2;
    return true;
  }
  // MOV to/from CRn/DRn: 0f 20..23 (register forms; a REX prefix may come first).
  const rex = (b[0] & 0xf0) === 0x40 ? b[0] : 0;
  const o = rex ? 1 : 0;
  if (b[o] === 0x0f && b[o + 1] >= 0x20 && b[o + 1] <= 0x23 && b[o + 2] >> 6 === 3) {
    const op = b[o + 1];
    const n = ((b[o + 2] >> 3) & 7) | ((rex & 4) << 1);
    const gpr = (b[o + 2] & 7) | ((rex & 1) << 3);
    if (!movCrDr(v, op, n, gpr)) return false;
    c.rip += o + 3;
    return true;
  }
  // Port I/O: allowed by the guest's IOPL (PHYSDEVOP_set_iopl; the PV kernel counts as ring 1),
  // but a domU owns no ports: reads give all ones, writes are dropped (guest_io_read/_write).
  const p66 = b[0] === 0x66 ? 1 : 0;
  const io = b[p66];
  if (io >= 0xe4 && io <= 0xef && io !== 0xe8 && io !== 0xe9 && io !== 0xea && io !== 0xeb) {
    if (v.iopl < (v.kernelMode ? 1 : 3)) return false;
    const imm = io <= 0xe7;
    const isIn = (io & 2) === 0;
    const size = (io & 1) === 0 ? 1 : p66 ? 2 : 4;
    if (isIn) {
      if (size === 1) c.lo[Reg.RAX] |= 0xff;
      else if (size === 2) c.lo[Reg.RAX] |= 0xffff;
      else { c.lo[Reg.RAX] = -1; c.hi[Reg.RAX] = 0; }
    }
    c.rip += p66 + (imm ? 2 : 1);
    return true;
  }
  if (b[0] === 0x0f && b[1] === 0x06) { // CLTS
    c.ts = false;
    c.rip += 2;
    return true;
  }
  if (b[0] === 0x0f && b[1] === 0x09) { // WBINVD
    c.rip += 2;
    return true;
  }
  return false;
}
