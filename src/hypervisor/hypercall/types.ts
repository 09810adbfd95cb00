import type { Domain } from '../domain.js';
import type { Vcpu } from '../vcpu.js';

/** Hypercall arguments (RDI, RSI, RDX, R10, R8) as exact 64-bit values. */
export type Args = readonly bigint[];

/** A hypercall handler: returns the value for RAX (negative errno on failure). */
export type HypercallFn = (d: Domain, v: Vcpu, a: Args) => number | bigint;

/** A 64-bit argument as a signed double: exact for addresses and small integers. */
export function sarg(x: bigint): number {
  return Number(BigInt.asIntN(64, x));
}

/** A 32-bit (int) argument as C sees it. */
export function iarg(x: bigint): number {
  return Number(BigInt.asIntN(32, x));
}

export function uarg(x: bigint): number {
  return Number(BigInt.asUintN(32, x));
}
