// Faults leave the CPU as structured events; the layer above (hypervisor or user-mode runner)
// decides how to deliver them. RIP is rewound to the faulting instruction by the run loop.

import { TWO32 } from './u64.js';

export const enum Vector {
  DE = 0, // divide error
  DB = 1,
  BP = 3,
  UD = 6,
  NM = 7,
  GP = 13,
  PF = 14,
  MF = 16,
  XM = 19,
}

// #PF error-code bits (Intel SDM vol. 3, 4.7).
export const PF_PRESENT = 1;
export const PF_WRITE = 2;
export const PF_USER = 4;
export const PF_RSVD = 8;
export const PF_FETCH = 16;

/**
 * Not an Error subclass on purpose: guests take page faults and #GPs (port I/O, MSRs) by the
 * hundred thousand, and capturing a JS stack trace for each cost a quarter of boot time.
 */
export class CpuFault {
  name = 'CpuFault';
  constructor(
    readonly vector: number,
    readonly errorCode: number,
    /** Faulting linear address (#PF's CR2); 0 otherwise. */
    readonly address: number,
    readonly message: string,
  ) {}
  toString(): string {
    return `${this.name}: ${this.message}`;
  }
}

/** An instruction the interpreter does not implement: never silently wrong (brief: fail loudly). */
export class UnimplementedInstruction extends CpuFault {
  constructor(readonly bytes: Uint8Array, readonly rip: number, what: string) {
    super(Vector.UD, 0, 0, `unimplemented instruction ${what} [${hexBytes(bytes)}] at ${hex64(rip)}`);
    this.name = 'UnimplementedInstruction';
  }
}

export function hexBytes(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

/** Format a linear address held as a signed double (canonical) as 0x-prefixed 64-bit hex. */
export function hex64(a: number): string {
  // In halves, not BigInt: every page fault formats its address.
  const hi = Math.floor(a / TWO32), lo = a - hi * TWO32;
  return '0x' + (hi >>> 0).toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

export function pageFault(address: number, errorCode: number): CpuFault {
  return new CpuFault(Vector.PF, errorCode, address, `page fault at ${hex64(address)} (error ${errorCode})`);
}

export function gpFault(detail: string, errorCode = 0): CpuFault {
  return new CpuFault(Vector.GP, errorCode, 0, `general protection: ${detail}`);
}

export function udFault(detail: string): CpuFault {
  return new CpuFault(Vector.UD, 0, 0, `invalid opcode: ${detail}`);
}
