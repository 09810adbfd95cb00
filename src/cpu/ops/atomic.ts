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
    // Memory gets its old value written back (a locked RMW always writes); a register is not
    // written at all, so a 32-bit one keeps its high half (what hardware does). Then rAX loads it.
    if (i.mod !== 3) writeE(c, i, sz, d, dH);
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

/**
 * Whether a LOCK prefix is allowed: ADD ADC AND BTC BTR BTS CMPXCHG CMPXCHG8B/16B DEC INC NEG
 * NOT OR SBB SUB XOR XADD XCHG with a memory destination (SDM vol. 2, LOCK); otherwise #UD.
 */
export function lockable(i: Instr): boolean {
  if (i.mod === 3) return false;
  const op = i.op, d = i.reg & 7;
  if (op < 0x40) return (op & 7) < 2 && op >> 3 !== 7; // ALU E,G forms except CMP
  switch (op) {
    case 0x80: case 0x81: case 0x83: return d !== 7; // not CMP
    case 0x86: case 0x87: return true;
    case 0xf6: case 0xf7: return d === 2 || d === 3; // NOT NEG
    case 0xfe: case 0xff: return d < 2; // INC DEC
    case 0x1ab: case 0x1b3: case 0x1bb: // BTS BTR BTC
    case 0x1b0: case 0x1b1: case 0x1c0: case 0x1c1: return true; // CMPXCHG XADD
    case 0x1ba: return d >= 5; // BTS BTR BTC imm8
    case 0x1c7: return d === 1; // CMPXCHG8B/16B
    default: return false;
  }
}
