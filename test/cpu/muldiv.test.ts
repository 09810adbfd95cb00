// MUL, IMUL (one, two, three operands), DIV and IDIV of 32 and 64 bits on boundary values and
// near-overflow products, against the host CPU (the differential harness of test/cpu/diff) and,
// for the 128-bit arithmetic alone, against BigInt. Every case also runs from a hot, compiled
// block (compile.ts), which calls the same handlers.
//
// Reproduce the random part: TSXEN_MULDIV_SEED=<seed printed by the run> npx vitest run test/cpu/muldiv.test.ts

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compare, report } from './diff/compare.js';
import { Rng } from './diff/gen.js';
import { InterpRunner } from './diff/interp.js';
import { AF, ARITH, PF, SF, STACK_PAGE, ZF, type Case } from './diff/layout.js';
import { NativeHarness } from './diff/native.js';

const SEED = process.env.TSXEN_MULDIV_SEED !== undefined ? Number(process.env.TSXEN_MULDIV_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);

const MIN64 = -(1n << 63n), MAX64 = (1n << 63n) - 1n;
/** Boundary values: 0, ±1, the int64/int32 extremes, 2^32±1, 2^52/2^53 (double precision),
 * sqrt(2^63) (squares that just fit or just overflow), factors of 2^63±small, hash constants. */
const EDGE64: bigint[] = [
  0n, 1n, 2n, 3n, 5n, -1n, -2n, -3n, MIN64, MAX64, MIN64 + 1n, MAX64 - 1n,
  (1n << 32n) - 1n, 1n << 32n, (1n << 32n) + 1n, -(1n << 32n), -(1n << 32n) - 1n,
  (1n << 31n) - 1n, 1n << 31n, -(1n << 31n), -(1n << 31n) - 1n,
  (1n << 52n) - 1n, 1n << 52n, (1n << 53n) + 1n, 1n << 62n, -(1n << 62n),
  3037000499n, 3037000500n, -3037000499n, -3037000500n,
  ((1n << 63n) + 1n) / 3n, ((1n << 63n) - 2n) / 3n, ((1n << 63n) + 2n) / 5n, ((1n << 63n) - 3n) / 5n,
  0x61c8864680b583ebn, 0x9e3779b97f4a7c15n, 0x123456789abcdefn, 0xfedcba9876543210n,
];
const EDGE32: bigint[] = [
  0n, 1n, 2n, 3n, -1n, -2n, 0x7fffffffn, -0x80000000n, 0x7ffffffen, -0x7fffffffn,
  0xffffn, 0x10000n, 0x10001n, 46340n, 46341n, -46341n, 0x55555556n, 0x2aaaaaabn, 0x9e3779b9n, 0x61c88647n,
];

const MUL_UNDEF = SF | ZF | AF | PF; // "The SF, ZF, AF, and PF flags are undefined."

interface Op {
  name: string;
  sz: 4 | 8;
  /** Encoding with the operand in RBX/EBX, result in RAX/RDX (or RAX alone). */
  code: (imm: bigint) => number[];
  undef: number;
}
const W = (sz: number): number[] => (sz === 8 ? [0x48] : []);
const imm32 = (v: bigint): number[] => [0, 8, 16, 24].map((s) => Number((u64(v) >> BigInt(s)) & 0xffn));
const ops = (sz: 4 | 8): Op[] => [
  { name: `mul sz${sz}`, sz, code: () => [...W(sz), 0xf7, 0xe3], undef: MUL_UNDEF },
  { name: `imul sz${sz}`, sz, code: () => [...W(sz), 0xf7, 0xeb], undef: MUL_UNDEF },
  { name: `imul G,E sz${sz}`, sz, code: () => [...W(sz), 0x0f, 0xaf, 0xc3], undef: MUL_UNDEF },
  { name: `imul G,E,iz sz${sz}`, sz, code: (i) => [...W(sz), 0x69, 0xc3, ...imm32(i)], undef: MUL_UNDEF },
  { name: `imul G,E,ib sz${sz}`, sz, code: (i) => [...W(sz), 0x6b, 0xc3, Number(u64(i) & 0xffn)], undef: MUL_UNDEF },
  { name: `div sz${sz}`, sz, code: () => [...W(sz), 0xf7, 0xf3], undef: ARITH },
  { name: `idiv sz${sz}`, sz, code: () => [...W(sz), 0xf7, 0xfb], undef: ARITH },
];

function mkCase(op: Op, rax: bigint, rdx: bigint, rbx: bigint, imm: bigint, fill: number): Case {
  const regs: bigint[] = new Array(16).fill(0n).map((_, k) => u64(0x0101010101010101n * BigInt(k + 1)));
  regs[0] = u64(rax);
  regs[2] = u64(rdx);
  regs[3] = u64(rbx);
  regs[4] = BigInt(STACK_PAGE + 0x800);
  const desc = `${op.name} rax=${regs[0].toString(16)} rdx=${regs[2].toString(16)} rbx=${regs[3].toString(16)} imm=${imm}`;
  return { family: 'muldiv', desc, code: Uint8Array.from(op.code(imm)), regs, rflags: 0x202 | (fill & 0x8d5), fillSeed: fill, patches: [], undefFlags: op.undef, faultUndefFlags: 0, undefRegs: [] };
}

/** Boundary grid: every (RAX, operand) pair; for divisions several RDX per pair. */
function edgeCases(): Case[] {
  const out: Case[] = [];
  let fill = 1;
  for (const sz of [4, 8] as const) {
    const edge = sz === 8 ? EDGE64 : EDGE32;
    const bits = BigInt(sz * 8), m = (1n << bits) - 1n;
    const sext = (v: bigint): bigint => (BigInt.asIntN(sz * 8, v) < 0n ? -1n : 0n);
    for (const op of ops(sz)) {
      const isDiv = op.name.startsWith('div') || op.name.startsWith('idiv');
      for (const a of edge) {
        for (const b of edge) {
          const imm = op.name.includes(',ib') ? BigInt.asIntN(8, b) : BigInt.asIntN(32, b);
          if (!isDiv) {
            out.push(mkCase(op, a, 0x5555555555555555n, b, imm, fill++));
            continue;
          }
          // RDX: zero, the sign extension of RAX (CQO/CDQ), just below and at the divisor (the
          // largest quotient that fits, and the first that does not), one.
          const dv = b & m;
          for (const hi of [0n, sext(a), dv - 1n, dv, 1n]) {
            const rdx = sz === 8 ? hi : (0xdeadbeefn << 32n) | (hi & m);
            const rax = sz === 8 ? a : (0xcafef00dn << 32n) | (a & m);
            const rbx = sz === 8 ? b : (0x0badc0den << 32n) | (b & m);
            out.push(mkCase(op, rax, rdx, rbx, 0n, fill++));
          }
        }
      }
    }
  }
  // IDIV of INT64_MIN by -1 and INT32_MIN by -1: the quotient does not fit (#DE).
  out.push(mkCase(ops(8)[6], MIN64, -1n, -1n, 0n, 7));
  out.push(mkCase(ops(4)[6], 0x80000000n, 0xffffffffn, 0xffffffffn, 0n, 7));
  return out;
}

/** Random operands: full-width, small, and products that land within a few units of ±2^63. */
function randomCases(seed: number, n: number): Case[] {
  const rng = new Rng(seed);
  const rnd64 = (): bigint => {
    switch (rng.int(4)) {
      case 0: return BigInt.asIntN(64, rng.u64());
      case 1: return BigInt.asIntN(64, rng.u64()) >> BigInt(rng.int(64));
      case 2: return EDGE64[rng.int(EDGE64.length)] + BigInt(rng.range(-2, 2));
      default: return BigInt(rng.range(-1000, 1000));
    }
  };
  const out: Case[] = [];
  const all = [...ops(4), ...ops(8)];
  for (let k = 0; k < n; k++) {
    const op = all[rng.int(all.length)];
    let a = rnd64(), b = rnd64();
    if (!op.name.startsWith('div') && !op.name.startsWith('idiv') && rng.bool(0.3)) {
      // b near ±2^(width-1) / a: the product just fits or just overflows.
      a = BigInt(rng.range(2, 100000)) * (rng.bool() ? 1n : -1n);
      const top = 1n << BigInt(op.sz * 8 - 1);
      b = (top + BigInt(rng.range(-3, 3))) / a;
    }
    const imm = op.name.includes(',ib') ? BigInt.asIntN(8, b) : BigInt.asIntN(32, b);
    let rdx = rnd64();
    const divisor = op.sz === 8 ? u64(b) : b & 0xffffffffn;
    if (op.name.startsWith('div') && rng.bool(0.7)) rdx = divisor === 0n ? 0n : u64(rdx) % divisor;
    if (op.name.startsWith('idiv') && rng.bool(0.7)) rdx = BigInt.asIntN(op.sz * 8, a) < 0n ? -1n : 0n;
    out.push(mkCase(op, a, rdx, b, imm, rng.int(0x10000) + 1));
  }
  return out;
}

describe('MUL/IMUL/DIV/IDIV against the host CPU', () => {
  let harness: NativeHarness;
  beforeAll(() => {
    console.log(`muldiv: seed ${SEED} (TSXEN_MULDIV_SEED=${SEED} reproduces the random part)`);
    harness = NativeHarness.build();
  });
  afterAll(() => harness?.dispose());

  const check = (cases: Case[]): void => {
    const native = harness.run(cases);
    const interp = new InterpRunner();
    const failures: string[] = [];
    let faults = 0;
    cases.forEach((c, k) => {
      const n = native[k];
      if (n.vector === 0) faults++;
      // Every case from the interpreter, and every tenth one again from a compiled block.
      for (const hot of k % 10 === 0 ? [false, true] : [false]) {
        const d = compare(c, n, interp.run(c, hot));
        if (d.length > 0 && failures.length < 6) failures.push(report(c, n, interp.run(c, hot), d) + (hot ? '\n  (compiled block)' : ''));
      }
    });
    expect(failures.join('\n\n')).toBe('');
    expect(faults).toBeGreaterThan(0); // the divisions' #DE cases are there
  };

  it('boundary values (0, ±1, INT64_MIN/MAX, 2^32±1, sqrt(2^63), quotient overflow, INT64_MIN/-1)', () => {
    check(edgeCases());
  });

  it('random and near-overflow operands', () => {
    check(randomCases(SEED, 6000));
  });
});

describe('MUL/IMUL/DIV/IDIV against BigInt arithmetic', () => {
  // The host test above cannot cover many millions of operands; this checks the 64-bit
  // handlers through the interpreter on random ones against exact BigInt results.
  it('64-bit products, quotients and remainders', () => {
    const rng = new Rng(SEED ^ 0x5a5a5a5a);
    const interp = new InterpRunner();
    const mulOp = ops(8)[0], imulOp = ops(8)[1], divOp = ops(8)[5], idivOp = ops(8)[6];
    for (let k = 0; k < 3000; k++) {
      const shiftA = BigInt(rng.int(64)), shiftB = BigInt(rng.int(64));
      const a = u64(rng.u64() >> shiftA), b = u64(rng.u64() >> shiftB) | 1n;
      for (const [op, signed] of [[mulOp, false], [imulOp, true]] as const) {
        const r = interp.run(mkCase(op, a, 0n, b, 0n, 1));
        const p = signed ? BigInt.asIntN(64, a) * BigInt.asIntN(64, b) : a * b;
        const got = (r.regs[2] << 64n) | r.regs[0];
        expect(got, `${op.name} ${a} ${b}`).toBe(p & ((1n << 128n) - 1n));
      }
      // Unsigned: high part below the divisor; signed: the sign extension.
      const hi = u64(rng.u64()) % b;
      const rd = interp.run(mkCase(divOp, a, hi, b, 0n, 1));
      const n = (hi << 64n) | a;
      expect([rd.regs[0], rd.regs[2]], `div ${n} ${b}`).toEqual([n / b, n % b]);
      const sa = BigInt.asIntN(64, a), sb = BigInt.asIntN(64, b);
      const ri = interp.run(mkCase(idivOp, a, sa < 0n ? -1n : 0n, b, 0n, 1));
      if (!(sa === MIN64 && sb === -1n)) expect([ri.regs[0], ri.regs[2]], `idiv ${sa} ${sb}`).toEqual([u64(sa / sb), u64(sa % sb)]);
    }
  });
});
