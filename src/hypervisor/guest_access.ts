// copy_from_guest / copy_to_guest: hypercall arguments are guest-virtual addresses, read and
// written through the vCPU's current page tables. A fault becomes -EFAULT for the hypercall.

import { CpuFault } from '../cpu/fault.js';
import type { Vcpu } from './vcpu.js';
import { hi32, join64 } from '../cpu/u64.js';

export class GuestFault extends Error {
  constructor(readonly va: number) {
    super(`guest address ${va.toString(16)} is not accessible`);
    this.name = 'GuestFault';
  }
}

// Each helper catches the CPU's fault itself rather than through a shared wrapper taking a
// closure: these run several times per hypercall, and a closure per access allocates.

/** A CPU fault in a guest access becomes the hypercall's GuestFault (-EFAULT). */
function fault(va: number, e: unknown): never {
  if (e instanceof CpuFault) throw new GuestFault(va);
  throw e;
}

/** Unsigned 64-bit value as a double (exact below 2^53: frame numbers, counts, sizes). */
export function readU64(v: Vcpu, va: number): number {
  try {
    const lo = v.cpu.m.rd64(va);
    return join64(v.cpu.m.hi >>> 0, lo);
  } catch (e) {
    return fault(va, e);
  }
}

/** Signed 64-bit value as a double (addresses: canonical values are exact). */
export function readI64(v: Vcpu, va: number): number {
  try {
    const lo = v.cpu.m.rd64(va);
    return join64(v.cpu.m.hi, lo);
  } catch (e) {
    return fault(va, e);
  }
}

/** The u64 at va as halves, without allocating: returns the low half (int32) and leaves the
 * high half in v.cpu.m.hi (as Memory.rd64 does). */
export function read64Halves(v: Vcpu, va: number): number {
  try {
    return v.cpu.m.rd64(va);
  } catch (e) {
    return fault(va, e);
  }
}

export function readU32(v: Vcpu, va: number): number {
  try {
    return v.cpu.m.rd32(va) >>> 0;
  } catch (e) {
    return fault(va, e);
  }
}
export function readU16(v: Vcpu, va: number): number {
  try {
    return v.cpu.m.rd16(va);
  } catch (e) {
    return fault(va, e);
  }
}
export function readU8(v: Vcpu, va: number): number {
  try {
    return v.cpu.m.rd8(va);
  } catch (e) {
    return fault(va, e);
  }
}

/** A 64-bit value from its int32 halves. */
export function write64Halves(v: Vcpu, va: number, lo: number, hi: number): void {
  try {
    v.cpu.m.wr64(va, lo, hi);
  } catch (e) {
    fault(va, e);
  }
}
/**
 * An integer double as a 64-bit value, exactly as that double: a negative one in two's
 * complement (a canonical address, an errno), a non-negative one unsigned.
 */
export function writeU64(v: Vcpu, va: number, x: number): void {
  write64Halves(v, va, x | 0, hi32(x)); // ToInt32 keeps the low 32 bits of an integer double
}
export function writeU32(v: Vcpu, va: number, x: number): void {
  try {
    v.cpu.m.wr32(va, x | 0);
  } catch (e) {
    fault(va, e);
  }
}
export function writeU16(v: Vcpu, va: number, x: number): void {
  try {
    v.cpu.m.wr16(va, x & 0xffff);
  } catch (e) {
    fault(va, e);
  }
}

export function readBytes(v: Vcpu, va: number, len: number): Uint8Array {
  try {
    return v.cpu.m.readBytes(va, len);
  } catch (e) {
    return fault(va, e);
  }
}
export function writeBytes(v: Vcpu, va: number, data: Uint8Array): void {
  try {
    v.cpu.m.writeBytes(va, data);
  } catch (e) {
    fault(va, e);
  }
}

/** A NUL-padded string into a fixed-size guest buffer. */
export function writeString(v: Vcpu, va: number, s: string, size: number): void {
  const out = new Uint8Array(size);
  out.set(new TextEncoder().encode(s).subarray(0, size - 1));
  writeBytes(v, va, out);
}
