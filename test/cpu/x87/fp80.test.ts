// The 80-bit extended <-> double conversions used by FLD/FSTP m80, FXSAVE/FXRSTOR and MMX.

import { describe, expect, it } from 'vitest';
import { f64ToFp80, fp80ToF64, classify80, X80 } from '../../../src/cpu/ops/fp80.js';
import { Rng, seedFromEnv } from '../sse/gen.js';

const SEED = seedFromEnv('TSXEN_X87_SEED');

function img(v: number): [number, number, number] {
  const f = new Int32Array(3);
  f64ToFp80(v, f, 0);
  return [f[0], f[1], f[2]];
}

describe('fp80 conversions', () => {
  it('encode known values like the x87 does', () => {
    expect(img(1)).toEqual([0, 0x80000000 | 0, 0x3fff]);
    expect(img(-2)).toEqual([0, 0x80000000 | 0, 0xc000]);
    expect(img(0)).toEqual([0, 0, 0]);
    expect(img(-0)).toEqual([0, 0, 0x8000]);
    expect(img(Infinity)).toEqual([0, 0x80000000 | 0, 0x7fff]);
    expect(img(5e-324)).toEqual([0, 0x80000000 | 0, 16383 - 1074]); // a double denormal is normal here
    expect(img(Math.PI)).toEqual([0x2168c000, 0xc90fdaa2 | 0, 0x4000]);
  });

  it('round-trips every kind of double exactly', () => {
    const rng = new Rng(SEED);
    const dv = new DataView(new ArrayBuffer(8));
    for (let k = 0; k < 20000; k++) {
      dv.setUint32(0, rng.u32(), true);
      dv.setUint32(4, rng.u32(), true);
      const v = dv.getFloat64(0, true);
      if (v !== v) continue;
      const [lo, hi, se] = img(v);
      expect(Object.is(fp80ToF64(lo, hi, se), v)).toBe(true);
    }
  });

  it('rounds 64-bit mantissas to nearest even, into denormals and to infinity', () => {
    // 1 + 2^-53 (a tie) rounds to 1; 1 + 2^-53 + 2^-63 rounds up.
    expect(fp80ToF64(0x400, 0x80000000 | 0, 0x3fff)).toBe(1);
    expect(fp80ToF64(0x401, 0x80000000 | 0, 0x3fff)).toBe(1 + 2 ** -52);
    expect(fp80ToF64(0, 0x80000000 | 0, 16383 + 1024)).toBe(Infinity);
    expect(fp80ToF64(0, 0x80000000 | 0, 16383 - 1075)).toBe(0); // exactly half the smallest denormal: ties to 0
    expect(fp80ToF64(1, 0x80000000 | 0, 16383 - 1075)).toBe(5e-324);
    expect(fp80ToF64(0, 0xc0000000 | 0, 16383 - 1074)).toBe(1e-323); // 1.5 * 2^-1074 rounds to even: 2^-1073
    // Compare with a BigInt reference on random extended values inside the double range.
    const rng = new Rng(SEED ^ 7);
    for (let k = 0; k < 5000; k++) {
      const hi = (rng.u32() | 0x80000000) >>> 0, lo = rng.u32();
      const e = rng.int(2098) - 1074; // exponent of the integer bit: -1074 .. 1023
      const got = fp80ToF64(lo | 0, hi | 0, 16383 + e);
      // Reference: keep as many bits as the double has at this exponent, round to nearest even.
      const m = (BigInt(hi) << 32n) | BigInt(lo);
      const keep = e >= -1022 ? 53 : 53 - (-1022 - e);
      const drop = BigInt(64 - keep);
      let q = m >> drop;
      const rem = m - (q << drop);
      const half = 1n << (drop - 1n);
      if (rem > half || (rem === half && (q & 1n) === 1n)) q++;
      const ref = Number(q) * 2 ** (e - keep + 1);
      expect(got).toBe(ref);
    }
  });

  it('classifies NaNs, infinities and the unsupported encodings', () => {
    expect(classify80(0, 0xc0000000 | 0, 0x7fff)).toBe(X80.QNaN);
    expect(classify80(1, 0x80000000 | 0, 0xffff)).toBe(X80.SNaN);
    expect(classify80(0, 0x80000000 | 0, 0x7fff)).toBe(X80.Inf);
    expect(classify80(0, 0x40000000, 0x3fff)).toBe(X80.Unsupported); // unnormal
    expect(classify80(0, 0, 0x7fff)).toBe(X80.Unsupported); // pseudo-infinity
    expect(classify80(5, 0, 0)).toBe(X80.Denormal);
    expect(Number.isNaN(fp80ToF64(0, 0x40000000, 0x3fff))).toBe(true);
  });
});
