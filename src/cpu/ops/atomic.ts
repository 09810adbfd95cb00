// Compare-and-exchange family: CMPXCHG, XADD, CMPXCHG8B, CMPXCHG16B. A vCPU's memory is only
// touched by its own thread, so the LOCK prefix needs no extra work here.

import type { Cpu } from '../cpu.js';
import { getFlags, setFlags, ZF } from '../flags.js';
import { gpFault } from '../fault.js';
import type { Instr } from '../instr.js';
import { OpF, def, defPick } from '../optable.js';
import { alu } from './alu.js';
import { ea, getReg, readE, setReg, writeE } from './operands.js';

function cmpxchg(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const d = readE(c, i, sz), dH = sz === 8 ? c.rh : 0;
  const a = getReg(c, 0, sz), aH = sz === 8 ? c.rh : 0;
  alu(c, 7, sz, a, aH, d, dH);
  if (a === d && aH === dH) {
    const s = getReg(c, i.reg, sz);
    writeE(c, i, sz, s, c.rh);
  } else {
    // The destination is written back unchanged (a locked RMW always writes), then rAX loads it.
    writeE(c, i, sz, d, dH);
    setReg(c, 0, sz, d, dH);
  }
}
def(0x1b0, OpF.ModRM | OpF.Byte, 'cmpxchg', cmpxchg);
def(0x1b1, OpF.ModRM, 'cmpxchg', cmpxchg);

function xadd(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const d = readE(c, i, sz), dH = sz === 8 ? c.rh : 0;
  const s = getReg(c, i.reg, sz), sH = sz === 8 ? c.rh : 0;
  const r = alu(c, 0, sz, d, dH, s, sH);
  const rH = c.rh;
  setReg(c, i.reg, sz, d, dH);
  writeE(c, i, sz, r, rH);
}
def(0x1c0, OpF.ModRM | OpF.Byte, 'xadd', xadd);
def(0x1c1, OpF.ModRM, 'xadd', xadd);

function cmpxchg8b(c: Cpu, i: Instr): void {
  const a = ea(c, i);
  const lo = c.m.rd32(a), hi = c.m.rd32(a + 4);
  if (lo === c.lo[0] && hi === c.lo[2]) {
    c.m.wr32(a, c.lo[3]);
    c.m.wr32(a + 4, c.lo[1]);
    setFlags(c, getFlags(c) | ZF);
  } else {
    c.m.wr32(a, lo);
    c.m.wr32(a + 4, hi);
    c.lo[0] = lo; c.hi[0] = 0;
    c.lo[2] = hi; c.hi[2] = 0;
    setFlags(c, getFlags(c) & ~ZF);
  }
}

function cmpxchg16b(c: Cpu, i: Instr): void {
  const a = ea(c, i);
  if (a % 16 !== 0) throw gpFault('CMPXCHG16B operand not 16-byte aligned');
  const l0 = c.m.rd64(a), h0 = c.m.hi;
  const l1 = c.m.rd64(a + 8), h1 = c.m.hi;
  if (l0 === c.lo[0] && h0 === c.hi[0] && l1 === c.lo[2] && h1 === c.hi[2]) {
    c.m.wr64(a, c.lo[3], c.hi[3]);
    c.m.wr64(a + 8, c.lo[1], c.hi[1]);
    setFlags(c, getFlags(c) | ZF);
  } else {
    c.m.wr64(a, l0, h0);
    c.m.wr64(a + 8, l1, h1);
    c.lo[0] = l0; c.hi[0] = h0;
    c.lo[2] = l1; c.hi[2] = h1;
    setFlags(c, getFlags(c) & ~ZF);
  }
}

/** 0F C7: /1 CMPXCHG8B/16B; /6 RDRAND and /7 RDSEED are not advertised (CPUID), so #UD. */
defPick(0x1c7, OpF.ModRM, 'group9', (i) => {
  if ((i.reg & 7) === 1 && i.mod !== 3) return (i.rex & 8) !== 0 ? cmpxchg16b : cmpxchg8b;
  return undefined;
});
