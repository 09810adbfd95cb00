// copy_from_guest / copy_to_guest: hypercall arguments are guest-virtual addresses, read and
// written through the vCPU's current page tables. A fault becomes -EFAULT for the hypercall.

import { CpuFault } from '../cpu/fault.js';
import type { Vcpu } from './vcpu.js';
import { join64 } from '../cpu/u64.js';

export class GuestFault extends Error {
  constructor(readonly va: number) {
    super(`guest address ${va.toString(16)} is not accessible`);
    this.name = 'GuestFault';
  }
}

function guard<T>(va: number, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof CpuFault) throw new GuestFault(va);
    throw e;
  }
}

/** Unsigned 64-bit value as a double (exact below 2^53: frame numbers, counts, sizes). */
export function readU64(v: Vcpu, va: number): number {
  return guard(va, () => {
    const lo = v.cpu.m.rd64(va);
    return join64(v.cpu.m.hi >>> 0, lo);
  });
}

/** Signed 64-bit value as a double (addresses: canonical values are exact). */
export function readI64(v: Vcpu, va: number): number {
  return guard(va, () => {
    const lo = v.cpu.m.rd64(va);
    return join64(v.cpu.m.hi, lo);
  });
}

/** The u64 at va as halves, without allocating: returns the low half (int32) and leaves the
 * high half in v.cpu.m.hi (as Memory.rd64 does). */
export function read64Halves(v: Vcpu, va: number): number {
  try {
    return v.cpu.m.rd64(va);
  } catch (e) {
    if (e instanceof CpuFault) throw new GuestFault(va);
    throw e;
  }
}

export function readBig(v: Vcpu, va: number): bigint {
  return guard(va, () => {
    const lo = v.cpu.m.rd64(va);
    return (BigInt(v.cpu.m.hi >>> 0) << 32n) | BigInt(lo >>> 0);
  });
}

export function readU32(v: Vcpu, va: number): number {
  return guard(va, () => v.cpu.m.rd32(va) >>> 0);
}
export function readU16(v: Vcpu, va: number): number {
  return guard(va, () => v.cpu.m.rd16(va));
}
export function readU8(v: Vcpu, va: number): number {
  return guard(va, () => v.cpu.m.rd8(va));
}

export function writeU64(v: Vcpu, va: number, x: number | bigint): void {
  const b = BigInt.asUintN(64, BigInt(x));
  guard(va, () => v.cpu.m.wr64(va, Number(b & 0xffffffffn) | 0, Number(b >> 32n) | 0));
}
export function writeU32(v: Vcpu, va: number, x: number): void {
  guard(va, () => v.cpu.m.wr32(va, x | 0));
}
export function writeU16(v: Vcpu, va: number, x: number): void {
  guard(va, () => v.cpu.m.wr16(va, x & 0xffff));
}

export function readBytes(v: Vcpu, va: number, len: number): Uint8Array {
  return guard(va, () => v.cpu.m.readBytes(va, len));
}
export function writeBytes(v: Vcpu, va: number, data: Uint8Array): void {
  guard(va, () => v.cpu.m.writeBytes(va, data));
}

/** A NUL-padded string into a fixed-size guest buffer. */
export function writeString(v: Vcpu, va: number, s: string, size: number): void {
  const out = new Uint8Array(size);
  out.set(new TextEncoder().encode(s).subarray(0, size - 1));
  writeBytes(v, va, out);
}
