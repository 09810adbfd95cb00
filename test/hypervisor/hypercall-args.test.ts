// Hypercall arguments and results as 64-bit register values, without BigInt in the hypervisor:
// C ints taken from the low half, canonical kernel addresses, values above 2^53 that only the
// halves carry exactly (a PTE with NX, bit 63), and multicall results that are negative errnos.

import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
// built-domain first: it loads domain.ts, whose modules the hypercall table imports in a cycle.
import { builtDomain } from './built-domain.js';
import { hcArgs } from './hypercall-args.js';
import { Reg } from '../../src/cpu/cpu.js';
import { hypercall } from '../../src/hypervisor/hypercall/index.js';
import { HYPERVISOR } from '../../src/hypervisor/public.js';
import { EINVAL, ENOENT, ENOSYS } from '../../src/hypervisor/errno.js';
import type { Domain } from '../../src/hypervisor/domain.js';

const KERNEL = fileURLToPath(new URL('../../images/vmlinuz-tiny', import.meta.url));
const H = HYPERVISOR;
const u64 = (x: bigint): bigint => BigInt.asUintN(64, x);
/** A 64-bit value as the signed double a handler gets from Args.s. */
const signed = (x: bigint): number => Number(BigInt.asIntN(64, x));

function domain(): { d: Domain; v: Domain['vcpus'][number]; scratch: number } {
  const d = builtDomain(KERNEL, 48);
  const v = d.vcpus[0];
  // start_info is mapped and writable at RSI; its second half is free.
  return { d, v, scratch: v.cpu.getRegNum(Reg.RSI) + 2048 };
}

/** Machine address of the L1 entry mapping va in the vCPU's kernel tables (4 KiB pages only). */
function l1Entry(d: Domain, kernelTable: number, va: number): number {
  const u = BigInt.asUintN(48, BigInt(va));
  let table = kernelTable * 4096;
  for (let level = 4; level > 1; level--) {
    const e = d.dv.getBigUint64(table + Number((u >> BigInt(12 + 9 * (level - 1))) & 511n) * 8, true);
    table = Number((e >> 12n) & 0xffffffffffn) * 4096;
  }
  return table + Number((u >> 12n) & 511n) * 8;
}

function write64(v: Domain['vcpus'][number], va: number, x: bigint): void {
  const b = u64(x);
  v.cpu.m.wr64(va, Number(BigInt.asIntN(32, b)), Number(BigInt.asIntN(32, b >> 32n)));
}
function read64(v: Domain['vcpus'][number], va: number): bigint {
  const lo = v.cpu.m.rd64(va);
  return (BigInt(v.cpu.m.hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

describe('hypercall arguments', () => {
  it('reads a C int from the low half: -1 is -1, junk in the high half is ignored', () => {
    const { d, v } = domain();
    const VCPUOP_is_up = 3;
    // vcpu_op(cmd, int vcpuid, arg): -1 as the kernel passes it (sign-extended) and as 32 bits.
    expect(hypercall(d, v, H.vcpu_op, hcArgs(VCPUOP_is_up, -1n, 0))).toBe(-ENOENT);
    expect(hypercall(d, v, H.vcpu_op, hcArgs(VCPUOP_is_up, 0xffffffffn, 0))).toBe(-ENOENT);
    // vCPU 0 with garbage above bit 31 is still vCPU 0; so is an unsigned int cmd.
    const up = hypercall(d, v, H.vcpu_op, hcArgs(VCPUOP_is_up, 0));
    expect(hypercall(d, v, H.vcpu_op, hcArgs(0xdead00000000n | BigInt(VCPUOP_is_up), 0x1234500000000n, 0))).toBe(up);
  });

  it('takes canonical kernel addresses exactly', () => {
    const { d, v } = domain();
    const ev = 0xffffffff81000123n, fs = 0xffff888000001000n, sp = 0xffffc90000003ff8n;
    expect(hypercall(d, v, H.set_callbacks, hcArgs(ev, ev + 16n, ev + 32n))).toBe(0);
    expect(v.eventCallback).toBe(signed(ev));
    expect(v.syscallCallback).toBe(signed(ev + 32n));
    expect(hypercall(d, v, H.set_segment_base, hcArgs(0, fs))).toBe(0);
    expect(v.cpu.fsBase).toBe(signed(fs));
    expect(hypercall(d, v, H.stack_switch, hcArgs(0xe02b, sp))).toBe(0);
    expect([v.kernelSs, v.kernelSp]).toEqual([0xe02b, signed(sp)]);
    // A debug register holding a kernel address comes back as that address.
    expect(hypercall(d, v, H.set_debugreg, hcArgs(0, fs))).toBe(0);
    expect(hypercall(d, v, H.get_debugreg, hcArgs(0))).toBe(signed(fs));
  });

  it('writes a PTE above 2^53 (NX, bit 63) with update_va_mapping bit for bit', () => {
    const { d, v, scratch } = domain();
    const va = scratch - 2048;
    const eo = l1Entry(d, v.kernelTable, va);
    const old = d.dv.getBigUint64(eo, true);
    // NX and a software-available bit in 52-62: no double holds this value.
    const pte = old | (1n << 63n) | (1n << 58n);
    expect(BigInt(Number(pte))).not.toBe(pte);
    const UVMF_INVLPG = 2;
    expect(hypercall(d, v, H.update_va_mapping, hcArgs(va, pte, UVMF_INVLPG))).toBe(0);
    expect(d.dv.getBigUint64(eo, true)).toBe(pte);
    // The page is still readable and writable through the new entry.
    v.cpu.m.wr32(scratch, 0x5a5a);
    expect(v.cpu.m.rd32(scratch)).toBe(0x5a5a);
  });

  it('writes a descriptor above 2^53 with update_descriptor bit for bit', () => {
    const { d, v } = domain();
    const maddr = 20 * 4096 + 8;
    const desc = 0xffaf9b000000ffffn;
    expect(hypercall(d, v, H.update_descriptor, hcArgs(maddr, desc))).toBe(0);
    expect(d.dv.getBigUint64(maddr, true)).toBe(desc);
    // A machine address far beyond RAM (and beyond 2^53) is refused.
    expect(hypercall(d, v, H.update_descriptor, hcArgs(0xfff0000000000008n, desc))).toBe(-EINVAL);
  });

  it('writes Xen’s own addresses (canonical, negative as doubles) to the guest as 64 bits', () => {
    const { d, v, scratch } = domain();
    const XENVER_platform_parameters = 5, XENMEM_machphys_mapping = 12;
    expect(hypercall(d, v, H.xen_version, hcArgs(XENVER_platform_parameters, scratch))).toBe(0);
    expect(read64(v, scratch)).toBe(0xffff800000000000n);
    expect(hypercall(d, v, H.memory_op, hcArgs(XENMEM_machphys_mapping, scratch))).toBe(0);
    expect(read64(v, scratch)).toBe(0xffff800000000000n);
    expect(read64(v, scratch + 8) > 0xffff800000000000n).toBe(true);
    expect(read64(v, scratch + 16)).toBe(BigInt(d.mem.layout.totalFrames - 1));
  });
});

describe('multicall', () => {
  it('runs each entry with its 64-bit arguments and writes results, negative errnos as 64 bits', () => {
    const { d, v, scratch } = domain();
    const list = scratch;
    const va = scratch - 2048;
    const eo = l1Entry(d, v.kernelTable, va);
    const pte = d.dv.getBigUint64(eo, true) | (1n << 63n);
    const fs = 0xffff888000042000n;
    const entries: bigint[][] = [
      [BigInt(H.update_va_mapping), BigInt(va), pte, 2n],
      [BigInt(H.set_segment_base), 0n, fs],
      [BigInt(H.vm_assist), 0n, 31n], // an assist Xen does not know: -EINVAL
      [BigInt(H.multicall), BigInt(list), 1n], // nested: refused
      [0xffff00000000000dn], // an op with high bits set names no hypercall
      [BigInt(H.xen_version), 7n], // XENVER_pagesize
      [BigInt(H.vcpu_op), 3n, -1n], // is_up on vCPU -1
    ];
    entries.forEach((e, k) => {
      write64(v, list + k * 64, e[0]);
      write64(v, list + k * 64 + 8, 0x1111n); // result: overwritten
      for (let j = 0; j < 6; j++) write64(v, list + k * 64 + 16 + j * 8, e[j + 1] ?? 0n);
    });
    expect(hypercall(d, v, H.multicall, hcArgs(list, entries.length))).toBe(0);
    const results = entries.map((_, k) => read64(v, list + k * 64 + 8));
    expect(results).toEqual([0n, 0n, u64(BigInt(-EINVAL)), u64(BigInt(-EINVAL)), u64(BigInt(-ENOSYS)), 4096n, u64(BigInt(-ENOENT))]);
    // Writing the results through the new entry set its dirty bit (the MMU's doing).
    expect(d.dv.getBigUint64(eo, true) & ~0x60n).toBe(pte & ~0x60n);
    expect(v.cpu.fsBase).toBe(signed(fs));
  });
});
