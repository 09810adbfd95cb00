// Differential tests: every implemented SSE/SSE2/MMX form, random and edge operands, run on
// the host CPU and in src/cpu, compared bit for bit (registers, RFLAGS, MXCSR, x87/MMX
// state, memory, faults). Set TSXEN_SSE_SEED to reproduce a run; the seed is printed.

import { describe, expect, it } from 'vitest';
import { compareAll, type Case } from './native.js';
import { Rng, makeCase, mmxState, seedFromEnv, type Form } from './gen.js';
import * as F from './forms.js';

const SEED = seedFromEnv('TSXEN_SSE_SEED');
console.log(`SSE differential seed: TSXEN_SSE_SEED=${SEED}`);

function cases(forms: Form[], per: number, salt: number, mmx = false): Case[] {
  const rng = new Rng(SEED ^ salt);
  const out: Case[] = [];
  for (const f of forms) for (let n = 0; n < per; n++) out.push(makeCase(rng, f, mmx ? mmxState : undefined));
  return out;
}

function expectSame(cs: Case[]): void {
  const { failures, count } = compareAll(cs);
  if (count) console.log(failures.join('\n'));
  expect(`${count} of ${cs.length} cases differ (seed ${SEED})\n${failures.join('\n')}`).toBe(`0 of ${cs.length} cases differ (seed ${SEED})\n`);
}

describe('SSE/SSE2/MMX against the host CPU', () => {
  // Cases per form; TSXEN_SSE_SCALE multiplies them for a longer local run.
  const S = Number(process.env.TSXEN_SSE_SCALE ?? 1);
  it('moves', () => expectSame(cases(F.moves, 25 * S, 1)));
  it('MMX moves', () => expectSame(cases(F.mmxMoves, 25 * S, 2, true)));
  it('packed integer (XMM)', () => expectSame(cases(F.intXmm, 15 * S, 3)));
  it('packed integer (MMX)', () => expectSame(cases(F.intMmx, 12 * S, 4, true)));
  it('float arithmetic', () => expectSame(cases(F.floatArith, 50 * S, 5)));
  it('float compares', () => expectSame(cases(F.floatCompare, 60 * S, 6)));
  it('float logic and shuffles', () => expectSame(cases(F.floatLogicShuffle, 20 * S, 7)));
  it('conversions', () => expectSame(cases(F.conversions, 50 * S, 8)));
  it('MMX conversions', () => expectSame(cases(F.mmxConversions, 40 * S, 9, true)));
});
