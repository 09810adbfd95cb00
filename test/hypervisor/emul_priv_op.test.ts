// emulate_privileged_op and emulate_forced_invalid_op as Xen 4.4 has them
// (xen/arch/x86/traps.c at RELEASE-4.4.4), and the PV CPUID policy, against a built (not yet
// running) domain: instruction bytes are placed in its start_info page and "fault" there.

import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { builtDomain } from './built-domain.js';
import { Reg } from '../../src/cpu/cpu.js';
import { CpuFault } from '../../src/cpu/fault.js';
import { emulatePrivOp } from '../../src/hypervisor/emul_priv_op.js';
import { pvCpuid } from '../../src/hypervisor/cpuid.js';
import type { Vcpu } from '../../src/hypervisor/vcpu.js';

const KERNEL = fileURLToPath(new URL('../../images/vmlinuz-tiny', import.meta.url));
const GP0 = new CpuFault(13, 0, 0, 'privileged instruction at CPL 3');
const UD = new CpuFault(6, 0, 0, 'ud2');

interface Fixture {
  v: Vcpu;
  /** Put `bytes` at a fresh code address and point RIP at it; returns that address. */
  code(bytes: number[]): number;
  /** A writable scratch buffer's address. */
  scratch: number;
}

function withVcpu(f: (x: Fixture) => void): void {
  const v = builtDomain(KERNEL, 48).vcpus[0];
  // start_info is mapped and writable at RSI; its second half is free.
  const base = v.cpu.getRegNum(Reg.RSI) + 2048;
  f({
    v,
    code(bytes) {
      v.cpu.m.writeBytes(base, new Uint8Array(bytes));
      v.cpu.rip = base;
      return base;
    },
    scratch: base + 1024,
  });
}

function cpuid(v: Vcpu, leaf: number, sub = 0): [number, number, number, number] {
  v.cpu.setRegNum(Reg.RAX, leaf);
  v.cpu.setRegNum(Reg.RCX, sub);
  pvCpuid(v);
  const c = v.cpu;
  return [c.lo[Reg.RAX] >>> 0, c.lo[Reg.RBX] >>> 0, c.lo[Reg.RCX] >>> 0, c.lo[Reg.RDX] >>> 0];
}

describe('emulate_privileged_op', () => {
  it('lets CLI and STI through under virtual IOPL 1 as no-ops, leaving the upcall mask alone', () => withVcpu(({ v, code }) => {
    v.iopl = 1;
    v.upcallMask = 0;
    const at = code([0xfa, 0xfb]);
    expect(emulatePrivOp(v, GP0)).toBe(true);
    expect(v.cpu.rip).toBe(at + 1);
    expect(v.upcallMask).toBe(0);
    expect(emulatePrivOp(v, GP0)).toBe(true);
    expect(v.cpu.rip).toBe(at + 2);
    v.upcallMask = 1;
    code([0xfb]);
    expect(emulatePrivOp(v, GP0)).toBe(true);
    expect(v.upcallMask).toBe(1);
  }));

  it('leaves CLI to the guest as #GP without IOPL, with LOCK, or for a #GP with an error code', () => withVcpu(({ v, code }) => {
    v.iopl = 0;
    const at = code([0xfa]);
    expect(emulatePrivOp(v, GP0)).toBe(false);
    expect(v.cpu.rip).toBe(at);
    v.iopl = 1;
    code([0xf0, 0xfa]);
    expect(emulatePrivOp(v, GP0)).toBe(false);
    code([0xcd, 0x80]); // INT 0x80 through a DPL-0 gate: #GP(0x80 << 3 | 2)
    expect(emulatePrivOp(v, new CpuFault(13, (0x80 << 3) | 2, 0, 'int'))).toBe(false);
    code([0xf4]); // HLT is not Xen's to emulate
    expect(emulatePrivOp(v, GP0)).toBe(false);
  }));

  it('reads ports a domU does not own as all ones, merging 8 and 16 bits and zero-extending 32', () => withVcpu(({ v, code }) => {
    v.iopl = 1;
    v.cpu.setReg64(Reg.RAX, 0x1122334455667788n);
    let at = code([0xec]); // in al, dx
    expect(emulatePrivOp(v, GP0)).toBe(true);
    expect(v.cpu.getReg64(Reg.RAX)).toBe(0x11223344556677ffn);
    expect(v.cpu.rip).toBe(at + 1);
    at = code([0x2e, 0x66, 0xe5, 0x71]); // cs in ax, 0x71 (the prefix is scanned past)
    expect(emulatePrivOp(v, GP0)).toBe(true);
    expect(v.cpu.getReg64(Reg.RAX)).toBe(0x112233445566ffffn);
    expect(v.cpu.rip).toBe(at + 4);
    at = code([0x48, 0xed]); // REX.W in eax, dx: still 4 bytes
    expect(emulatePrivOp(v, GP0)).toBe(true);
    expect(v.cpu.getReg64(Reg.RAX)).toBe(0xffffffffn);
    expect(v.cpu.rip).toBe(at + 2);
    v.cpu.setReg64(Reg.RAX, 5n);
    code([0xe6, 0x80]); // out 0x80, al: dropped
    expect(emulatePrivOp(v, GP0)).toBe(true);
    expect(v.cpu.getReg64(Reg.RAX)).toBe(5n);
  }));

  it('runs REP INSB through the guest page tables and counts RCX down', () => withVcpu(({ v, code, scratch }) => {
    v.iopl = 1;
    v.cpu.m.writeBytes(scratch, new Uint8Array(8));
    v.cpu.setRegNum(Reg.RDI, scratch);
    v.cpu.setRegNum(Reg.RCX, 5);
    const at = code([0xf3, 0x6c]);
    expect(emulatePrivOp(v, GP0)).toBe(true);
    expect(Array.from(v.cpu.m.readBytes(scratch, 8))).toEqual([255, 255, 255, 255, 255, 0, 0, 0]);
    expect(v.cpu.getRegNum(Reg.RCX)).toBe(0);
    expect(v.cpu.getRegNum(Reg.RDI)).toBe(scratch + 5);
    expect(v.cpu.rip).toBe(at + 2);
  }));

  it('reads and writes MSRs as Xen 4.4: the PAT is Xen’s, unknown-but-present MSRs ignore writes, absent ones #GP', () => withVcpu(({ v, code }) => {
    v.cpu.setRegNum(Reg.RCX, 0x277);
    code([0x0f, 0x32]);
    expect(emulatePrivOp(v, GP0)).toBe(true);
    expect(v.cpu.getReg64(Reg.RAX)).toBe(0x00070406n);
    expect(v.cpu.getReg64(Reg.RDX)).toBe(0x0501n); // XEN_MSR_PAT 0x050100070406
    v.cpu.setRegNum(Reg.RAX, 0);
    code([0x0f, 0x30]); // WRMSR PAT: "Domain attempted WRMSR", dropped
    expect(emulatePrivOp(v, GP0)).toBe(true);
    code([0x0f, 0x32]);
    expect(emulatePrivOp(v, GP0)).toBe(true);
    expect(v.cpu.getReg64(Reg.RAX)).toBe(0x00070406n);
    v.cpu.setRegNum(Reg.RCX, 0x12345);
    code([0x0f, 0x32]);
    expect(emulatePrivOp(v, GP0)).toBe(false);
    code([0x0f, 0x30]);
    expect(emulatePrivOp(v, GP0)).toBe(false);
    v.cpu.setRegNum(Reg.RCX, 0x40000000); // the hypercall-page MSR reads as zero
    code([0x0f, 0x32]);
    expect(emulatePrivOp(v, GP0)).toBe(true);
    expect(v.cpu.getReg64(Reg.RAX)).toBe(0n);
  }));

  it('keeps CR0 but for TS, gives #UD for XSETBV, and #DB after an emulated instruction under TF', () => withVcpu(({ v, code }) => {
    v.cpu.setReg64(Reg.RBX, 0x80050033n | 8n);
    code([0x0f, 0x22, 0xc3]); // mov cr0, rbx
    expect(emulatePrivOp(v, GP0)).toBe(true);
    expect(v.cpu.ts).toBe(true);
    v.cpu.setReg64(Reg.RBX, 0x80050033n & ~0x10000n); // clearing WP
    code([0x0f, 0x22, 0xc3]);
    expect(emulatePrivOp(v, GP0)).toBe(false);
    v.cpu.setReg64(Reg.R9, 0x12345000n);
    code([0x44, 0x0f, 0x22, 0xd1]); // REX.R: mov cr10, rcx, which does not exist: #GP
    expect(emulatePrivOp(v, GP0)).toBe(false);
    const at = code([0x41, 0x0f, 0x22, 0xd1]); // mov cr2, r9
    expect(emulatePrivOp(v, GP0)).toBe(true);
    expect(v.cpu.rip).toBe(at + 4);
    expect(v.cr2()).toBe(0x12345000);
    code([0x41, 0x66, 0x0f, 0x20, 0xd1]); // a REX before a legacy prefix is void: mov rcx, cr2
    expect(emulatePrivOp(v, GP0)).toBe(true);
    expect(v.cpu.getReg64(Reg.RCX)).toBe(0x12345000n);
    code([0x0f, 0x01, 0xd1]);
    expect(() => emulatePrivOp(v, GP0)).toThrow(expect.objectContaining({ vector: 6 }));
  }));
});

describe('the PV CPUID policy (pv_cpuid, xc_cpuid_pv_policy)', () => {
  it('answers the forced-emulation prefix with Xen’s leaves: 0x40000000..2, preserve-AD', () => withVcpu(({ v, code }) => {
    v.cpu.setRegNum(Reg.RAX, 0x40000000);
    const at = code([0x0f, 0x0b, 0x78, 0x65, 0x6e, 0x0f, 0xa2]);
    expect(emulatePrivOp(v, UD)).toBe(true);
    expect(v.cpu.rip).toBe(at + 7);
    const c = v.cpu;
    const sig = Buffer.alloc(12);
    sig.writeUInt32LE(c.lo[Reg.RBX] >>> 0, 0); sig.writeUInt32LE(c.lo[Reg.RCX] >>> 0, 4); sig.writeUInt32LE(c.lo[Reg.RDX] >>> 0, 8);
    expect(sig.toString()).toBe('XenVMMXenVMM');
    expect(c.lo[Reg.RAX] >>> 0).toBe(0x40000002);
    expect(cpuid(v, 0x40000001)[0]).toBe(0x40004);
    expect(cpuid(v, 0x40000002)).toEqual([1, 0x40000000, 1, 0]);
    expect(cpuid(v, 0x40000003)).toEqual([0, 0, 0, 0]); // hidden with the default TSC mode
    code([0x0f, 0x0b, 0x78, 0x65, 0x6e, 0x90]);
    expect(emulatePrivOp(v, UD)).toBe(false);
  }));

  it('shows the hypervisor bit and the APIC, hides superpages, global pages, MTRRs, MCE, RDTSCP', () => withVcpu(({ v }) => {
    const [, , ecx, edx] = cpuid(v, 1);
    expect(ecx >>> 31).toBe(1);
    expect(edx & (1 << 9)).not.toBe(0); // APIC
    for (const b of [3, 7, 12, 13, 14, 17]) expect(edx & (1 << b), `leaf 1 EDX bit ${b}`).toBe(0);
    expect(edx & (1 << 26)).not.toBe(0); // SSE2 stays
    const ext = cpuid(v, 0x80000001);
    expect(ext[3] & (1 << 27)).toBe(0); // RDTSCP
    expect(ext[3] & (1 << 11)).not.toBe(0); // SYSCALL
    expect(cpuid(v, 5)).toEqual([0, 0, 0, 0]);
    expect(cpuid(v, 0xb)).toEqual([0, 0, 0, 0]);
  }));
});
