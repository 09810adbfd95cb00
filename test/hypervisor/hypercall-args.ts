// Hypercall arguments for tests that call hypercall() directly, from the values a guest would
// put in RDI, RSI, RDX, R10, R8 (a bigint is taken modulo 2^64, as a register holds it).
import { HypercallArgs } from '../../src/hypervisor/hypercall/types.js';

export function hcArgs(...xs: (bigint | number)[]): HypercallArgs {
  const a = new HypercallArgs();
  xs.forEach((x, i) => {
    const b = BigInt.asUintN(64, BigInt(x));
    a.set(i, Number(BigInt.asIntN(32, b)), Number(BigInt.asIntN(32, b >> 32n)));
  });
  return a;
}
