// FXSAVE/FXRSTOR/LDMXCSR/STMXCSR and RCPPS/RSQRTPS against the host CPU, and the CR0.TS
// (#NM) and unimplemented-form behaviour of the interpreter.

import { describe, expect, it } from 'vitest';
import { compareAll, type Case, type Result } from './native.js';
import { Rng, makeCase, mmxImage, mxcsr, seedFromEnv, type Form } from './gen.js';
import * as F from './forms.js';
import { flatCpu, StopHooks } from '../../../src/cpu/flat.js';
import { assemble } from '../asm.js';

const SEED = seedFromEnv('TSXEN_SSE_SEED');
console.log(`SSE state seed: TSXEN_SSE_SEED=${SEED}`);

function report(r: { failures: string[]; count: number }, total: number): void {
  if (r.count) console.log(r.failures.join('\n'));
  expect(`${r.count} of ${total} differ (seed ${SEED})\n${r.failures.join('\n')}`).toBe(`0 of ${total} differ (seed ${SEED})\n`);
}

/**
 * AMD CPUs accept MXCSR bit 17 (MM, misaligned-exception mask; their MXCSR_MASK is 0x2ffff) where
 * Intel and our CPU (MXCSR_MASK 0xffff) raise #GP. A value whose only reserved bit is 17 would
 * compare the host's vendor, not our implementation: give it another reserved bit, which every
 * vendor rejects.
 */
function vendorNeutral(v: number): number {
  return (v >>> 16) === 2 ? (v | 0x40000) >>> 0 : v;
}

/** The same for every (possibly misaligned) 32-bit window of a block LDMXCSR may read. */
function vendorNeutralBlock(m: Uint8Array): void {
  // Setting bit 18 of the window at o touches byte o+2 only: later windows' high halves are
  // untouched, earlier ones gain reserved bit 26 — one ascending pass is enough.
  const v = new DataView(m.buffer, m.byteOffset, m.byteLength);
  for (let o = 0; o + 4 <= m.byteLength; o++) if ((v.getUint32(o, true) >>> 16) === 2) m[o + 2] |= 0x04;
}

/** A plausible FXSAVE image in the case's memory block: valid MXCSR (mostly), random registers. */
function fxsaveArea(rng: Rng, k: Case): void {
  const m = k.mem;
  const v = new DataView(m.buffer, m.byteOffset, m.byteLength);
  v.setUint16(0, 0x0040 | (rng.int(4) << 8) | (rng.int(4) << 10) | (rng.chance(0.8) ? 0x3f : rng.int(64)), true);
  v.setUint16(2, (rng.int(8) << 11) | (rng.chance(0.3) ? rng.int(0x80) : 0) | (rng.chance(0.2) ? 0x4700 : 0), true);
  m[4] = rng.int(256);
  v.setUint32(24, vendorNeutral(rng.chance(0.9) ? mxcsr(rng) : rng.u32()), true);
  for (let i = 0; i < 8; i++) m.set(mmxImage(rng), 32 + 16 * i);
}

describe('FXSAVE, FXRSTOR, LDMXCSR, STMXCSR', () => {
  const base = { rm: 'x' as const, lane: 'int' as const, memOnly: true };
  it('FXSAVE writes the host image', () => {
    const rng = new Rng(SEED ^ 21);
    const forms: Form[] = [
      { name: 'fxsave', op: [0xae], reg: 0, mem: 512, align: true, ...base },
      { name: 'fxsave64', op: [0xae], reg: 0, mem: 512, align: true, rexW: true, ...base },
    ];
    const cases: Case[] = [];
    for (const f of forms) {
      for (let n = 0; n < 60; n++) {
        // Random x87 contents as well: the image must carry them bit for bit.
        cases.push(makeCase(rng, f, (r) => ({ st: Array.from({ length: 8 }, () => mmxImage(r)), fsw: r.int(8) << 11, ftw: r.int(256), fcw: 0x37f })));
      }
    }
    // MXCSR_MASK (bytes 28-31) is the host's own (AMD also reports its MM bit): not compared.
    // The image sits at the start of the memory block (offset 0: the only aligned 512 bytes).
    report(compareAll(cases, { memIgnore: () => [[28, 32]] }), cases.length);
  });

  it('FXRSTOR, LDMXCSR and STMXCSR load what the host loads (#GP on reserved MXCSR bits)', () => {
    const rng = new Rng(SEED ^ 22);
    const cases: Case[] = [];
    for (let n = 0; n < 80; n++) {
      const k = makeCase(rng, { name: 'fxrstor', op: [0xae], reg: 1, mem: 512, align: true, rexW: rng.chance(0.5), ...base });
      fxsaveArea(rng, k);
      cases.push(k);
    }
    for (let n = 0; n < 80; n++) {
      const k = makeCase(rng, { name: 'ldmxcsr', op: [0xae], reg: 2, mem: 4, ...base });
      for (let o = 0; o < 512; o += 4) new DataView(k.mem.buffer).setUint32(o, rng.chance(0.85) ? mxcsr(rng) : rng.u32(), true);
      vendorNeutralBlock(k.mem);
      cases.push(k);
    }
    for (let n = 0; n < 40; n++) cases.push(makeCase(rng, { name: 'stmxcsr', op: [0xae], reg: 3, mem: 4, ...base }));
    report(compareAll(cases), cases.length);
  });
});

describe('RCPPS / RSQRTPS', () => {
  it('match the host on special values and stay within 1.5*2^-12 elsewhere', () => {
    const rng = new Rng(SEED ^ 23);
    const cases: Case[] = [];
    for (const f of F.approx) for (let n = 0; n < 100; n++) cases.push(makeCase(rng, f));
    const lanesOf = (fx: Uint8Array, r: number) => {
      const v = new DataView(fx.buffer, fx.byteOffset + 160 + 16 * r, 16);
      return [0, 1, 2, 3].map((k) => v.getUint32(4 * k, true));
    };
    const f32 = (b: number) => new Float32Array(new Uint32Array([b]).buffer)[0];
    const check = (_k: Case, n: Result, e: Result): string | undefined => {
      for (let r = 0; r < 16; r++) {
        const a = lanesOf(n.fx, r), b = lanesOf(e.fx, r);
        for (let l = 0; l < 4; l++) {
          if (a[l] === b[l]) continue;
          const x = f32(a[l]), y = f32(b[l]);
          if (!(Number.isFinite(x) && Number.isFinite(y) && x !== 0 && y !== 0)) {
            return `XMM${r} lane ${l}: native ${a[l].toString(16)} emu ${b[l].toString(16)}`;
          }
          // Both approximate the same exact value: each within 1.5*2^-12 of it, so of each other
          // within about 3*2^-12.
          if (Math.abs(x - y) > 3 * 2 ** -12 * Math.abs(x)) return `XMM${r} lane ${l}: native ${x} emu ${y}`;
        }
      }
      return undefined;
    };
    const all = new Set<string>();
    for (let r = 0; r < 16; r++) all.add(`XMM${r}`);
    report(compareAll(cases, { check, fxSkip: () => all }), cases.length);
  });
});

describe('CR0.TS and unimplemented forms', () => {
  function runWith(src: string, ts: boolean) {
    const hooks = new StopHooks();
    const c = flatCpu(1 << 20, hooks);
    c.m.ram.set(assemble(src + '\nsyscall'), 0x1000);
    c.rip = 0x1000;
    c.setRegNum(4, 0x80000);
    c.setRegNum(6, 0x8000);
    c.ts = ts;
    c.run(100);
    return { c, hooks };
  }
  for (const insn of ['addps xmm0, xmm1', 'movdqa xmm0, [rsi]', 'paddb mm0, mm1', 'emms', 'fld1', 'fwait', 'fxsave [rsi]', 'ldmxcsr [rsi]', 'cvtsi2sd xmm0, eax', 'fnstsw ax', 'fninit', 'pxor xmm3, xmm3']) {
    it(`${insn} raises #NM while CR0.TS is set, and runs when clear`, () => {
      const t = runWith(insn, true);
      expect(t.hooks.lastFault?.vector).toBe(7);
      expect(t.c.rip).toBe(0x1000);
      const u = runWith(insn, false);
      expect(u.hooks.lastFault).toBeUndefined();
      expect(u.hooks.syscalls).toBe(1);
    });
  }
  it('a form that is not implemented fails loudly with its bytes', () => {
    // FBLD (DF /4) and MOVDDUP (SSE3, F2 0F 12) are not implemented.
    for (const [src, bytes] of [['fbld tbyte ptr [rsi]', 'df 26'], ['movddup xmm0, xmm1', 'f2 0f 12 c1']]) {
      const t = runWith(src, false);
      expect(t.hooks.lastFault?.message).toContain(`[${bytes}]`);
      expect(t.hooks.lastFault?.message).toMatch(/unimplemented instruction/);
    }
  });
  it('an x87 exception unmasked by FLDCW is raised as #MF by the next waiting instruction', () => {
    const t = runWith(`
      fninit
      fldz
      fld1
      fdiv st, st(1)     # 1/0: ZE, masked
      mov word ptr [rsi], 0x37b
      fldcw [rsi]        # unmask ZE: now pending
      fnstsw ax          # no-wait: fine
      fwait`, false);
    expect(t.hooks.lastFault?.vector).toBe(16);
    expect(t.c.lo[0] & 0xffff & 0x4).toBe(4);
    expect(t.c.lo[0] & 0x8080).toBe(0x8080);
  });
  it('an unmasked SSE exception raises #XM and leaves the destination alone', () => {
    const t = runWith(`
      mov dword ptr [rsi], 0x1d80   # ZM clear
      ldmxcsr [rsi]
      mov eax, 0x3f800000
      movd xmm0, eax
      pxor xmm1, xmm1
      divss xmm0, xmm1`, false);
    expect(t.hooks.lastFault?.vector).toBe(19);
    expect(t.c.xmm[0]).toBe(0x3f800000);
    expect(t.c.mxcsr & 0x4).toBe(4);
  });
});
