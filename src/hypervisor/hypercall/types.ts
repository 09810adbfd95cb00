import type { Domain } from '../domain.js';
import type { Vcpu } from '../vcpu.js';
import { join64 } from '../../cpu/u64.js';

/**
 * Hypercall arguments (RDI, RSI, RDX, R10, R8; a multicall entry's six) as the registers hold
 * them: int32 halves. A boot makes hundreds of thousands of hypercalls, so the arguments are
 * never BigInts: one scratch object is filled in place per call, and handlers read each
 * argument through the accessor that says how much of it they mean, so none loses precision
 * without saying so.
 */
export class HypercallArgs {
  /** Low halves, as int32. */
  readonly los = new Int32Array(6);
  /** High halves, as int32. */
  readonly his = new Int32Array(6);

  /** Argument i as a signed double: exact for C ints, counts and (canonical) addresses. */
  s(i: number): number {
    return join64(this.his[i], this.los[i]);
  }

  /** Argument i as C's unsigned int (its low 32 bits). */
  u32(i: number): number {
    return this.los[i] >>> 0;
  }

  /** Argument i as C's int (its low 32 bits, signed). */
  i32(i: number): number {
    return this.los[i];
  }

  /**
   * Argument i as an unsigned double: exact below 2^53, the nearest double above. Only for
   * magnitudes compared against bounds (a machine address past RAM, a far-off ns deadline),
   * where the rounding cannot change the answer.
   */
  unum(i: number): number {
    return join64(this.his[i] >>> 0, this.los[i]);
  }

  /** Low 32 bits of argument i (int32): with hi(i), the exact 64-bit value. */
  lo(i: number): number {
    return this.los[i];
  }

  /** High 32 bits of argument i (int32). */
  hi(i: number): number {
    return this.his[i];
  }

  /** Set argument i from halves. */
  set(i: number, lo: number, hi: number): void {
    this.los[i] = lo;
    this.his[i] = hi;
  }

  /** Argument i in hex, for the trace log (a debug path: allocates). */
  hex(i: number): string {
    const hi = this.his[i] >>> 0;
    const lo = (this.los[i] >>> 0).toString(16);
    return hi === 0 ? `0x${lo}` : `0x${hi.toString(16)}${lo.padStart(8, '0')}`;
  }

  /** The first n arguments in hex, comma-separated (trace and unknown-hypercall messages). */
  describe(n = 5): string {
    const parts: string[] = [];
    for (let i = 0; i < n; i++) parts.push(this.hex(i));
    return parts.join(', ');
  }
}

/** Read-only view handlers get: they cannot change the scratch under a batch. */
export type Args = Pick<HypercallArgs, 's' | 'u32' | 'i32' | 'unum' | 'lo' | 'hi' | 'describe'>;

/**
 * A hypercall handler: returns the value for RAX (negative errno on failure) as an integer
 * double; it is written to RAX exactly as that double (int32 halves, no BigInt).
 */
export type HypercallFn = (d: Domain, v: Vcpu, a: Args) => number;
