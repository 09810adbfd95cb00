// x87 differential tests against the host CPU (harness in test/cpu/sse). The interpreter
// keeps x87 values as doubles, so the cases run with FCW.PC = double precision and
// moderate magnitudes, where the host's results are exactly the double results; then
// registers (as 80-bit images), status/control/tag words, memory and EFLAGS must match bit
// for bit. Two things are masked, as documented in src/cpu/ops/x87.ts: FSW.PE and FSW.C1
// after arithmetic (inexactness of double arithmetic is not tracked), and transcendental
// results are compared within a few ulps (the host's FSIN etc. are not correctly rounded).

import { describe, expect, it } from 'vitest';
import { MEM_ADDR, STACK_TOP, compareAll, type Case, type Result } from '../sse/native.js';
import { Rng, f32, fxImage, seedFromEnv } from '../sse/gen.js';

const SEED = seedFromEnv('TSXEN_X87_SEED');
console.log(`x87 differential seed: TSXEN_X87_SEED=${SEED}`);

// ---- values ----

function img80(v: number): Uint8Array {
  // Exact extended image of a double (the same conversion FXSAVE does, written independently).
  const b = new Uint8Array(10);
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, v, true);
  const bits = dv.getBigUint64(0, true);
  const sign = bits >> 63n;
  const e = Number((bits >> 52n) & 0x7ffn);
  let f = bits & 0xfffffffffffffn;
  let ex: number, mant: bigint;
  if (e === 0x7ff) {
    ex = 0x7fff;
    mant = (1n << 63n) | (f << 11n);
  } else if (e === 0) {
    if (f === 0n) {
      ex = 0;
      mant = 0n;
    } else {
      ex = 15361;
      while (!(f & (1n << 52n))) {
        f <<= 1n;
        ex--;
      }
      mant = f << 11n;
    }
  } else {
    ex = e - 1023 + 16383;
    mant = (1n << 63n) | (f << 11n);
  }
  const v2 = new DataView(b.buffer);
  v2.setBigUint64(0, mant, true);
  v2.setUint16(8, (Number(sign) << 15) | ex, true);
  return b;
}

const NICE = [0, -0, 1, -1, 0.5, 1.5, 2, -2, 3, 10, 100, 1e10, -1e10, 123.456, Math.PI, 1 / 3, 2.5, 3.5, -2.5, -3.5,
  0.1, 7, 32767.5, 32768, -32768.5, 65535, 2147483647.5, 2147483648, -2147483648.5, 4294967296.25, 2 ** 53,
  9.2233720368547758e18, -9.2233720368547758e18, 1e-5, 1e30, -1e-30, 0.75, 1 - 2 ** -53];

function niceValue(rng: Rng): number {
  const r = rng.int(10);
  if (r < 4) return rng.pick(NICE);
  if (r < 5) return rng.pick([Infinity, -Infinity]);
  const m = 1 + rng.int(1 << 30) / (1 << 30);
  return (rng.chance(0.5) ? -1 : 1) * m * 2 ** (rng.int(80) - 40);
}

/** A register image: mostly doubles, sometimes NaNs (80-bit payloads) or raw 80-bit values. */
function regImage(rng: Rng, raw: boolean): Uint8Array {
  const r = rng.int(20);
  if (r === 0) {
    // NaN: quiet or signalling, random payload
    const b = new Uint8Array(10);
    const v = new DataView(b.buffer);
    const q = rng.chance(0.6) ? 0x40000000 : 0;
    v.setUint32(0, rng.u32(), true);
    v.setUint32(4, (0x80000000 | q | (rng.u32() & 0x3fffffff) | (q ? 0 : 1)) >>> 0, true);
    v.setUint16(8, (rng.int(2) << 15) | 0x7fff, true);
    return b;
  }
  if (raw && r === 1) {
    const b = new Uint8Array(10);
    const v = new DataView(b.buffer);
    v.setUint32(0, rng.u32(), true);
    v.setUint32(4, (rng.u32() | 0x80000000) >>> 0, true);
    v.setUint16(8, (rng.int(2) << 15) | (16383 - 20 + rng.int(40)), true);
    return b;
  }
  return img80(niceValue(rng));
}

/**
 * A raw image around the integer limits (2^15, 2^31, 2^52..2^64) whose fraction is empty,
 * exactly one half, just above a half or random: the ties and overflows of FIST and of the
 * rounding of 64-bit mantissas to float32/float64 (FST), where the interpreter cannot use doubles.
 */
function wideImage(rng: Rng): Uint8Array {
  const b = new Uint8Array(10);
  const v = new DataView(b.buffer);
  const k = rng.pick([14, 15, 16, 23, 24, 30, 31, 32, 51, 52, 53, 54, 61, 62, 63, 64, rng.int(66)]);
  let mant = (1n << 63n) | (rng.u64() & ((1n << 63n) - 1n));
  const frac = k >= 63 ? 0n : BigInt(63 - k); // bits below the binary point
  if (frac > 0n) {
    mant &= ~((1n << frac) - 1n);
    const kind = rng.int(4);
    if (kind === 1) mant |= 1n << (frac - 1n); // exactly .5
    else if (kind === 2) mant |= (1n << (frac - 1n)) | 1n; // just above .5
    else if (kind === 3) mant |= rng.u64() & ((1n << frac) - 1n);
  }
  if (k === 63 && rng.chance(0.3)) mant = 1n << 63n; // 2^63: INT64_MIN when negative
  // Low mantissa bits that a double cannot hold (the round-to-double tie and sticky cases).
  if (rng.chance(0.3)) mant = (mant & ~0x7ffn) | BigInt(rng.pick([0x400, 0x401, 0x3ff, 0x7ff, 0x001]));
  v.setBigUint64(0, mant, true);
  v.setUint16(8, (rng.int(2) << 15) | (16383 + k), true);
  return b;
}

// ---- forms ----

interface XForm {
  name: string;
  bytes: number[]; // opcode and ModRM (memory forms: [op, digit] with [rsi+disp8] added)
  mem?: 'f32' | 'f64' | 'f80' | 'i16' | 'i32' | 'i64' | 'env' | 'save' | 'cw' | 'none';
  /** Arithmetic: mask PE and C1. */
  inexact?: boolean;
  /** Transcendental: compare ST values within a tolerance. */
  approx?: boolean;
  /** Registers may hold raw 80-bit values not representable as doubles (loads/stores/moves only). */
  raw?: boolean;
  /** Largest magnitude of transcendental arguments (F2XM1 is only defined on [-1, 1]). */
  range?: number;
  /** Registers hold wideImage() values (integer stores and float stores of 64-bit mantissas). */
  wide?: boolean;
}

const forms: XForm[] = [];
const ARITH_NAMES = ['add', 'mul', 'com', 'comp', 'sub', 'subr', 'div', 'divr'];
for (let d = 0; d < 8; d++) {
  const ar = d !== 2 && d !== 3;
  forms.push({ name: `f${ARITH_NAMES[d]} m32`, bytes: [0xd8, d], mem: 'f32', inexact: ar });
  forms.push({ name: `f${ARITH_NAMES[d]} m64`, bytes: [0xdc, d], mem: 'f64', inexact: ar });
  forms.push({ name: `fi${ARITH_NAMES[d]} m32`, bytes: [0xda, d], mem: 'i32', inexact: ar });
  forms.push({ name: `fi${ARITH_NAMES[d]} m16`, bytes: [0xde, d], mem: 'i16', inexact: ar });
  for (let k = 0; k < 8; k++) {
    forms.push({ name: `f${ARITH_NAMES[d]} st,st(${k})`, bytes: [0xd8, 0xc0 | (d << 3) | k], inexact: ar });
    if (ar) {
      forms.push({ name: `dc /${d} st(${k}),st`, bytes: [0xdc, 0xc0 | (d << 3) | k], inexact: true });
      forms.push({ name: `de /${d} st(${k}),st (pop)`, bytes: [0xde, 0xc0 | (d << 3) | k], inexact: true });
    }
  }
}
const mems: [string, number, number, XForm['mem']][] = [
  ['fld m32', 0xd9, 0, 'f32'], ['fst m32', 0xd9, 2, 'f32'], ['fstp m32', 0xd9, 3, 'f32'],
  ['fldenv', 0xd9, 4, 'env'], ['fldcw', 0xd9, 5, 'cw'], ['fnstenv', 0xd9, 6, 'env'], ['fnstcw', 0xd9, 7, 'cw'],
  ['fild m32', 0xdb, 0, 'i32'], ['fisttp m32', 0xdb, 1, 'i32'], ['fist m32', 0xdb, 2, 'i32'], ['fistp m32', 0xdb, 3, 'i32'],
  ['fld m80', 0xdb, 5, 'f80'], ['fstp m80', 0xdb, 7, 'f80'],
  ['fld m64', 0xdd, 0, 'f64'], ['fisttp m64', 0xdd, 1, 'i64'], ['fst m64', 0xdd, 2, 'f64'], ['fstp m64', 0xdd, 3, 'f64'],
  ['frstor', 0xdd, 4, 'save'], ['fnsave', 0xdd, 6, 'save'], ['fnstsw m16', 0xdd, 7, 'cw'],
  ['fild m16', 0xdf, 0, 'i16'], ['fisttp m16', 0xdf, 1, 'i16'], ['fist m16', 0xdf, 2, 'i16'], ['fistp m16', 0xdf, 3, 'i16'],
  ['fild m64', 0xdf, 5, 'i64'], ['fistp m64', 0xdf, 7, 'i64'],
];
for (const [name, op, d, mem] of mems) forms.push({ name, bytes: [op, d], mem, raw: true });
const wideForms: XForm[] = mems
  .filter(([name]) => /^(fist|fst)/.test(name) && !name.includes('sw'))
  .map(([name, op, d, mem]) => ({ name: `${name} (wide)`, bytes: [op, d], mem, raw: true, wide: true }));
for (let k = 0; k < 8; k++) {
  forms.push({ name: `fld st(${k})`, bytes: [0xd9, 0xc0 | k], raw: true });
  forms.push({ name: `fxch st(${k})`, bytes: [0xd9, 0xc8 | k], raw: true });
  forms.push({ name: `ffree st(${k})`, bytes: [0xdd, 0xc0 | k], raw: true });
  forms.push({ name: `fst st(${k})`, bytes: [0xdd, 0xd0 | k], raw: true });
  forms.push({ name: `fstp st(${k})`, bytes: [0xdd, 0xd8 | k], raw: true });
  forms.push({ name: `fucom st(${k})`, bytes: [0xdd, 0xe0 | k] });
  forms.push({ name: `fucomp st(${k})`, bytes: [0xdd, 0xe8 | k] });
  forms.push({ name: `fucomi st(${k})`, bytes: [0xdb, 0xe8 | k] });
  forms.push({ name: `fcomi st(${k})`, bytes: [0xdb, 0xf0 | k] });
  forms.push({ name: `fucomip st(${k})`, bytes: [0xdf, 0xe8 | k] });
  forms.push({ name: `fcomip st(${k})`, bytes: [0xdf, 0xf0 | k] });
  forms.push({ name: `ffreep st(${k})`, bytes: [0xdf, 0xc0 | k], raw: true });
  for (let cc = 0; cc < 4; cc++) {
    forms.push({ name: `fcmov${cc} st(${k})`, bytes: [0xda, 0xc0 | (cc << 3) | k], raw: true });
    forms.push({ name: `fcmovn${cc} st(${k})`, bytes: [0xdb, 0xc0 | (cc << 3) | k], raw: true });
  }
}
const singles: [string, number[], Partial<XForm>?][] = [
  ['fchs', [0xd9, 0xe0], { raw: true }], ['fabs', [0xd9, 0xe1], { raw: true }], ['ftst', [0xd9, 0xe4]],
  ['fxam', [0xd9, 0xe5], { raw: true }], ['fld1', [0xd9, 0xe8]], ['fldl2t', [0xd9, 0xe9]], ['fldl2e', [0xd9, 0xea]],
  ['fldpi', [0xd9, 0xeb]], ['fldlg2', [0xd9, 0xec]], ['fldln2', [0xd9, 0xed]], ['fldz', [0xd9, 0xee]],
  ['fdecstp', [0xd9, 0xf6], { raw: true }], ['fincstp', [0xd9, 0xf7], { raw: true }], ['fnop', [0xd9, 0xd0]],
  // FSCALE works on the 80-bit image (exact, extended denormals and the 2^24576 wrap included),
  // so its PE and C1 are compared too.
  ['fsqrt', [0xd9, 0xfa], { inexact: true }], ['frndint', [0xd9, 0xfc]], ['fscale', [0xd9, 0xfd]],
  ['fprem', [0xd9, 0xf8]], ['fprem1', [0xd9, 0xf5]], ['fxtract', [0xd9, 0xf4]],
  ['fucompp', [0xda, 0xe9]], ['fcompp', [0xde, 0xd9]], ['fnclex', [0xdb, 0xe2], { raw: true }],
  ['fninit', [0xdb, 0xe3], { raw: true }], ['fnstsw ax', [0xdf, 0xe0], { raw: true }], ['fwait', [0x9b], { raw: true }],
  ['fsin', [0xd9, 0xfe], { approx: true }], ['fcos', [0xd9, 0xff], { approx: true }],
  ['fsincos', [0xd9, 0xfb], { approx: true }], ['fptan', [0xd9, 0xf2], { approx: true }],
  ['fpatan', [0xd9, 0xf3], { approx: true }], ['f2xm1', [0xd9, 0xf0], { approx: true, range: 1 }],
  ['fyl2x', [0xd9, 0xf1], { approx: true }], ['fyl2xp1', [0xd9, 0xf9], { approx: true, range: 0.29 }],
];
for (const [name, bytes, extra] of singles) forms.push({ name, bytes, ...extra });

// ---- cases ----

function memValue(rng: Rng, t: XForm['mem'], b: Uint8Array, arith: boolean): void {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  switch (t) {
    case 'f32':
      v.setFloat32(0, niceValue(rng), true);
      if (rng.chance(0.5)) v.setUint32(0, f32(rng), true);
      break;
    case 'f64':
      v.setFloat64(0, niceValue(rng), true);
      // NaNs; denormals only for loads (as operands they leave the double range)
      if (rng.chance(0.1)) v.setBigUint64(0, rng.pick([0x7ff8000000000001n, 0x7ff0000000000001n, 0xfff4000000000000n, ...(arith ? [] : [1n, 0x000fffffffffffffn])]), true);
      break;
    case 'f80': b.set(regImage(rng, true)); break;
    case 'i16': v.setInt16(0, rng.pick([0, 1, -1, 32767, -32768, 1234, -4321, rng.int(65536) - 32768]), true); break;
    case 'i32': v.setInt32(0, rng.pick([0, 1, -1, 0x7fffffff, -0x80000000, 12345678, rng.u32() | 0]), true); break;
    case 'i64': v.setBigInt64(0, BigInt.asIntN(64, rng.pick([0n, 1n, -1n, (1n << 63n) - 1n, -(1n << 63n), 1n << 53n, (1n << 53n) + 1n, rng.u64(), BigInt(rng.u32())])), true); break;
    case 'cw': v.setUint16(0, 0x0200 | (rng.int(4) << 10) | (rng.chance(0.8) ? 0x3f : rng.int(64)) | 0x40, true); break;
    case 'env': case 'save': {
      // A plausible environment: control word (PC double), status with TOP, tags; then registers.
      v.setUint16(0, 0x027f | (rng.int(4) << 10), true);
      v.setUint16(4, (rng.int(8) << 11) | (rng.chance(0.2) ? rng.int(64) & 0x3f : 0), true);
      let tags = 0;
      for (let k = 0; k < 8; k++) tags |= (rng.chance(0.3) ? 3 : rng.int(3)) << (2 * k);
      v.setUint16(8, tags, true);
      if (t === 'save') for (let i = 0; i < 8; i++) b.set(regImage(rng, true), 28 + 10 * i);
      break;
    }
    default:
  }
}

function makeX87Case(rng: Rng, f: XForm): Case {
  const mem = new Uint8Array(512);
  for (let k = 0; k < 512; k++) mem[k] = rng.int(256);
  const off = 16 * rng.int(24);
  const code: number[] = [];
  let rsi = BigInt(MEM_ADDR);
  if (f.mem) {
    memValue(rng, f.mem, mem.subarray(off, off + 128), f.inexact ?? false);
    const disp = rng.int(256) - 128;
    code.push(f.bytes[0], 0x46 | (f.bytes[1] << 3), disp & 0xff);
    rsi = BigInt(MEM_ADDR + off - disp);
  } else code.push(...f.bytes);
  const st: Uint8Array[] = [];
  for (let i = 0; i < 8; i++) {
    // Transcendentals: moderate arguments (the host reduces large ones with a 66-bit pi).
    const special = f.range ? [0, -0, NaN] : [0, -0, Infinity, -Infinity, NaN, 1, -1, 0.5];
    st.push(
      f.wide ? wideImage(rng) : !f.approx ? regImage(rng, f.raw ?? false)
        : rng.chance(0.1) ? (rng.chance(0.3) ? regImage(rng, false).fill(0xff, 8) : img80(rng.pick(special)))
          : img80((rng.u32() / 2 ** 32 - 0.5) * (f.range ? 2 * f.range : 2 ** rng.int(8))),
    );
  }
  // FCW: double precision, random rounding, usually all masked.
  let fcw = 0x0240 | (rng.int(4) << 10) | 0x3f;
  // Unmask one exception now and then (not PE where inexactness is not tracked).
  if (rng.chance(0.1)) fcw &= ~(1 << rng.int(f.inexact || f.approx ? 5 : 6));
  let fsw = rng.int(8) << 11;
  if (rng.chance(0.1)) fsw |= 1 << rng.int(6); // a sticky flag already set
  if (rng.chance(0.03)) fsw |= 0x8081; // an exception pending: #MF
  // Tags: mostly full stacks near TOP, some empty registers.
  let ftw = 0;
  for (let k = 0; k < 8; k++) if (!rng.chance(0.15)) ftw |= 1 << k;
  const xmm: Uint8Array[] = [];
  for (let k = 0; k < 16; k++) xmm.push(new Uint8Array(16));
  const r: bigint[] = [];
  for (let k = 0; k < 16; k++) r.push(rng.u64());
  r[4] = BigInt(STACK_TOP);
  r[6] = rsi;
  const fx = fxImage({ fcw, fsw, ftw, mxcsr: 0x1f80, st, xmm });
  return { name: f.name, code: Uint8Array.from(code), r, rflags: 0x202 | (rng.u32() & 0x8d5), fx, mem };
}

function st80ToNumber(b: Uint8Array): number {
  const v = new DataView(b.buffer, b.byteOffset, 10);
  const mant = v.getBigUint64(0, true);
  const se = v.getUint16(8, true);
  const e = se & 0x7fff;
  if (e === 0x7fff) return (mant << 1n) === 0n ? (se & 0x8000 ? -Infinity : Infinity) : NaN;
  const x = Number(mant) * 2 ** (e - 16383 - 63);
  return se & 0x8000 ? -x : x;
}

/** Tolerant comparison of ST registers for transcendental results (relative 1e-15). */
const approxCheck = (k: Case, n: Result, e: Result): string | undefined => {
  for (let i = 0; i < 8; i++) {
    const a = st80ToNumber(n.fx.subarray(32 + 16 * i, 42 + 16 * i));
    const b = st80ToNumber(e.fx.subarray(32 + 16 * i, 42 + 16 * i));
    if (Object.is(a, b) || (a !== a && b !== b)) continue;
    if (Math.abs(a - b) <= 4e-16 * Math.max(Math.abs(a), Math.abs(b)) + 1e-300) continue;
    return `ST${i}: native ${a} emu ${b} (${k.name})`;
  }
  return undefined;
};

function run(fs: XForm[], per: number, salt: number): { count: number; failures: string[]; total: number } {
  const rng = new Rng(SEED ^ salt);
  const cases: Case[] = [];
  const byName = new Map<string, XForm>();
  for (const f of fs) {
    byName.set(f.name, f);
    for (let n = 0; n < per; n++) cases.push(makeX87Case(rng, f));
  }
  const { failures, count } = compareAll(cases, {
    check: (k, n, e) => (byName.get(k.name)!.approx ? approxCheck(k, n, e) : undefined),
    fxSkip: (k) => {
      const f = byName.get(k.name)!;
      const s = new Set<string>();
      if (f.approx) for (let i = 0; i < 8; i++) s.add(`ST${i}`);
      return s;
    },
    // PE (0x20) and C1 (0x200) after arithmetic: inexactness is not tracked.
    fswIgnore: (k) => {
      const f = byName.get(k.name)!;
      return f.inexact || f.approx ? 0x220 : 0;
    },
  });
  return { count, failures, total: cases.length };
}

function expectClean(r: { count: number; failures: string[]; total: number }): void {
  if (r.count) console.log(r.failures.join('\n'));
  expect(`${r.count} of ${r.total} differ (seed ${SEED})\n${r.failures.join('\n')}`).toBe(`0 of ${r.total} differ (seed ${SEED})\n`);
}

describe('x87 against the host CPU', () => {
  it('loads, stores, environment', () => expectClean(run(forms.filter((f) => f.mem && !f.inexact && !f.name.startsWith('fcom')), 30, 11)));
  it('integer and float stores of wide 80-bit values (ties, overflow, INT64_MIN)', () => expectClean(run(wideForms, 150, 16)));
  it('arithmetic with memory operands', () => expectClean(run(forms.filter((f) => f.mem && (f.inexact || f.name.includes('com'))), 25, 12)));
  it('register arithmetic', () => expectClean(run(forms.filter((f) => !f.mem && f.inexact), 6, 13)));
  it('register moves, compares, cmov', () => expectClean(run(forms.filter((f) => !f.mem && !f.inexact && !f.approx && f.bytes.length === 2 && /st\(/.test(f.name)), 6, 14)));
  it('single-byte-operand instructions', () => expectClean(run(forms.filter((f) => !f.mem && !/st\(/.test(f.name) && !f.inexact), 40, 15)));
});
