// Control transfer: JMP, Jcc, CALL, RET, LOOP/LOOPcc, JRCXZ. Every handler ends its block.

import type { Cpu } from '../cpu.js';
import { Reg } from '../regs.js';
import { cond, getZF } from '../flags.js';
import { gpFault } from '../fault.js';
import type { Instr } from '../instr.js';
import { OpF, def, defPick, terminator } from '../optable.js';
import { groupFF } from './alu.js';
import { push64 } from './stack.js';
import { readE } from './operands.js';
import { join64, hi32 } from '../u64.js';

const CANON = 0x800000000000;

/** Indirect target from a 64-bit value; a non-canonical one is #GP at the branch. */
function target(lo: number, hi: number): number {
  const t = join64(hi, lo);
  if (t >= CANON || t < -CANON) throw gpFault('non-canonical branch target');
  return t;
}

const jmp = terminator((c: Cpu, i: Instr) => {
  c.rip = i.target;
});
def(0xeb, OpF.Jb | OpF.F64, 'jmp', jmp);
def(0xe9, OpF.Jz | OpF.F64, 'jmp', jmp);

const jcc = terminator((c: Cpu, i: Instr) => {
  if (cond(c, i.cc)) c.rip = i.target;
});
for (let cc = 0; cc < 16; cc++) {
  def(0x70 + cc, OpF.Jb | OpF.F64, 'jcc', jcc);
  def(0x180 + cc, OpF.Jz | OpF.F64, 'jcc', jcc);
}

const call = terminator((c: Cpu, i: Instr) => {
  const n = i.next;
  push64(c, n | 0, hi32(n));
  c.rip = i.target;
});
def(0xe8, OpF.Jz | OpF.F64, 'call', call);

/** Near RET: a non-canonical return address faults with RSP not yet moved (as on hardware). */
function retTo(c: Cpu, release: number): void {
  const sp = join64(c.hi[Reg.RSP], c.lo[Reg.RSP]);
  const lo = c.m.rd64(sp);
  c.rip = target(lo, c.m.hi);
  const nsp = sp + 8 + release;
  c.lo[Reg.RSP] = nsp | 0;
  c.hi[Reg.RSP] = hi32(nsp);
}
const ret = terminator((c: Cpu) => retTo(c, 0));
const retImm = terminator((c: Cpu, i: Instr) => retTo(c, i.imm & 0xffff));
def(0xc3, OpF.F64, 'ret', ret);
def(0xc2, OpF.F64 | OpF.Iw, 'ret', retImm);

const callE = terminator((c: Cpu, i: Instr) => {
  const lo = readE(c, i, 8);
  const t = target(lo, c.rh);
  const n = i.next;
  push64(c, n | 0, hi32(n));
  c.rip = t;
});
const jmpE = terminator((c: Cpu, i: Instr) => {
  const lo = readE(c, i, 8);
  c.rip = target(lo, c.rh);
});
groupFF[2] = callE;
groupFF[4] = jmpE;

/** Decrement RCX (or ECX with 67) and report whether it is now non-zero. */
function decCount(c: Cpu, i: Instr): boolean {
  if (i.adsz === 4) {
    const v = (c.lo[Reg.RCX] - 1) | 0;
    c.lo[Reg.RCX] = v;
    c.hi[Reg.RCX] = 0;
    return v !== 0;
  }
  const l = c.lo[Reg.RCX];
  const nl = (l - 1) | 0;
  c.lo[Reg.RCX] = nl;
  if (l === 0) c.hi[Reg.RCX] = (c.hi[Reg.RCX] - 1) | 0;
  return (nl | c.hi[Reg.RCX]) !== 0;
}
const loop = terminator((c: Cpu, i: Instr) => {
  if (decCount(c, i)) c.rip = i.target;
});
const loope = terminator((c: Cpu, i: Instr) => {
  if (decCount(c, i) && getZF(c) === 1) c.rip = i.target;
});
const loopne = terminator((c: Cpu, i: Instr) => {
  if (decCount(c, i) && getZF(c) === 0) c.rip = i.target;
});
const jrcxz = terminator((c: Cpu, i: Instr) => {
  const z = i.adsz === 4 ? c.lo[Reg.RCX] === 0 : (c.lo[Reg.RCX] | c.hi[Reg.RCX]) === 0;
  if (z) c.rip = i.target;
});
def(0xe0, OpF.Jb | OpF.F64, 'loopne', loopne);
def(0xe1, OpF.Jb | OpF.F64, 'loope', loope);
def(0xe2, OpF.Jb | OpF.F64, 'loop', loop);
def(0xe3, OpF.Jb | OpF.F64, 'jrcxz', jrcxz);

export { defPick };
