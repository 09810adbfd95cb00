// System time and the pvclock (public/xen.h vcpu_time_info): the TSC the guest reads counts
// nanoseconds of system time, so tsc_to_system_mul/shift are the identity (mul 2^31, shift 1)
// and the published record never drifts from RDTSC. The wallclock in shared_info is the host's
// time at system time 0, so the guest's `date` follows the host.

import { shared_info, vcpu_info, vcpu_time_info } from './abi/xen.js';
import type { DomainMemory } from './domain_memory.js';
import { PAGE_SIZE } from './domain_memory.js';
import { hi32 } from '../cpu/u64.js';

export class SystemClock {
  private readonly origin = performance.now();
  /** Host wall time (ns since the epoch) at system time 0. */
  readonly wallAtZeroNs = BigInt(Date.now()) * 1_000_000n;

  /** Nanoseconds since the domain started (a double: exact for 104 days). */
  now(): number {
    // performance.now() has sub-microsecond resolution and no BigInt on this frequent path.
    return Math.floor((performance.now() - this.origin) * 1e6);
  }

  /** Publish the wallclock into shared_info (version odd while updating). */
  writeWallclock(mem: DomainMemory): void {
    const base = mem.layout.sharedInfoMfn * PAGE_SIZE;
    const dv = new DataView(mem.sab);
    const f = shared_info.fields;
    const ver = dv.getUint32(base + f.wc_version.offset, true);
    dv.setUint32(base + f.wc_version.offset, (ver + 1) | 1, true);
    const sec = this.wallAtZeroNs / 1_000_000_000n;
    dv.setUint32(base + f.wc_sec.offset, Number(sec & 0xffffffffn), true);
    dv.setUint32(base + f.wc_nsec.offset, Number(this.wallAtZeroNs % 1_000_000_000n), true);
    dv.setUint32(base + f.wc_sec_hi.offset, Number(sec >> 32n), true);
    dv.setUint32(base + f.wc_version.offset, ((ver + 1) | 1) + 1, true);
  }

  /** Publish a vCPU's time record at its vcpu_info. */
  writeVcpuTime(mem: DomainMemory, vcpuInfoOff: number): void {
    const o = vcpuInfoOff + vcpu_info.fields.time.offset;
    const dv = new DataView(mem.sab);
    const f = vcpu_time_info.fields;
    const ver = dv.getUint32(o + f.version.offset, true);
    dv.setUint32(o + f.version.offset, (ver + 1) | 1, true);
    // As int32 halves: this runs at every timer interrupt, so no BigInt.
    const t = this.now(), lo = t | 0, hi = hi32(t); // ToInt32 keeps the low 32 bits of an integer
    dv.setInt32(o + f.tsc_timestamp.offset, lo, true);
    dv.setInt32(o + f.tsc_timestamp.offset + 4, hi, true);
    dv.setInt32(o + f.system_time.offset, lo, true);
    dv.setInt32(o + f.system_time.offset + 4, hi, true);
    dv.setUint32(o + f.tsc_to_system_mul.offset, 0x80000000, true);
    dv.setInt8(o + f.tsc_shift.offset, 1);
    dv.setUint8(o + f.flags.offset, 1); // XEN_PVCLOCK_TSC_STABLE_BIT
    dv.setUint32(o + f.version.offset, ((ver + 1) | 1) + 1, true);
  }
}
