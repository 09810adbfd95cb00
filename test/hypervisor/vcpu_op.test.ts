// VCPUOP_register_vcpu_time_memory_area (Xen 4.4's arch_do_vcpu_op, xen/arch/x86/domain.c):
// the vCPU's time record copied to a guest address, which Linux maps into its vDSO.

import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { builtDomain } from './built-domain.js';
import { Reg } from '../../src/cpu/cpu.js';
import { hypercall } from '../../src/hypervisor/hypercall/index.js';
import { hcArgs } from './hypercall-args.js';
import { HYPERVISOR } from '../../src/hypervisor/public.js';
import { EFAULT } from '../../src/hypervisor/errno.js';

const KERNEL = fileURLToPath(new URL('../../images/vmlinuz-tiny', import.meta.url));
const VCPUOP_register_vcpu_time_memory_area = 13;

describe('VCPUOP_register_vcpu_time_memory_area', () => {
  it('copies the published vcpu_time_info (even version, TSC-stable flag) to the guest address', () => {
    const d = builtDomain(KERNEL, 48);
    const v = d.vcpus[0];
    // start_info is mapped and writable at RSI: the argument and the area in its second half.
    const arg = v.cpu.getRegNum(Reg.RSI) + 2048;
    const area = arg + 64;
    v.cpu.m.wr64(arg, area | 0, Math.floor(area / 4294967296) | 0);
    const rc = hypercall(d, v, HYPERVISOR.vcpu_op, hcArgs(VCPUOP_register_vcpu_time_memory_area, 0, arg, 0, 0));
    expect(Number(rc)).toBe(0);
    const copy = v.cpu.m.readBytes(area, 32);
    expect(Array.from(copy)).toEqual(Array.from(d.vcpuTimeRecord(v)));
    expect(copy[0] & 1).toBe(0); // version
    expect(copy[29] & 1).toBe(1); // flags: XEN_PVCLOCK_TSC_STABLE_BIT
    // A null address unregisters; an unmapped one is ignored, as Xen ignores copy faults.
    v.cpu.m.wr64(arg, 0, 0);
    expect(Number(hypercall(d, v, HYPERVISOR.vcpu_op, hcArgs(VCPUOP_register_vcpu_time_memory_area, 0, arg, 0, 0)))).toBe(0);
    v.cpu.m.wr64(arg, 0x1000, 0);
    expect(Number(hypercall(d, v, HYPERVISOR.vcpu_op, hcArgs(VCPUOP_register_vcpu_time_memory_area, 0, arg, 0, 0)))).toBe(0);
    // Xen's own range is not the guest's to name: -EFAULT.
    v.cpu.m.wr64(arg, 0, 0xffff8000 | 0);
    expect(Number(hypercall(d, v, HYPERVISOR.vcpu_op, hcArgs(VCPUOP_register_vcpu_time_memory_area, 0, arg, 0, 0)))).toBe(-EFAULT);
  });
});
