// Stack: PUSH, POP, PUSHF, POPF, ENTER, LEAVE.

import type { Cpu } from '../cpu.js';
import { Reg } from '../regs.js';
import { getFlags, setFlags } from '../flags.js';
import type { Instr } from '../instr.js';
import { OpF, def, defPick } from '../optable.js';
import { groupFF } from './alu.js';
import { opReg } from './mov.js';
import { ea, getReg, readE, readMem, setReg, storeE } from './operands.js';
import { join64, hi32 } from '../u64.js';

const RSP = Reg.RSP;

/** Push a value of 8 (or 2) bytes; RSP changes only after the write succeeded. */
export function push64(c: Cpu, lo: number, hi: number): void {
  const sp = join64(c.hi[RSP], c.lo[RSP]) - 8;
  c.m.wr64(sp, lo, hi);
  c.lo[RSP] = sp | 0;
  c.hi[RSP] = hi32(sp);
}

/** Pop 8 bytes: low half returned, high half in c.rh. */
export function pop64(c: Cpu): number {
  const sp = join64(c.hi[RSP], c.lo[RSP]);
  const lo = c.m.rd64(sp);
  c.rh = c.m.hi;
  const nsp = sp + 8;
  c.lo[RSP] = nsp | 0;
  c.hi[RSP] = hi32(nsp);
  return lo;
}

function push16(c: Cpu, v: number): void {
  const sp = join64(c.hi[RSP], c.lo[RSP]) - 2;
  c.m.wr16(sp, v);
  c.lo[RSP] = sp | 0;
  c.hi[RSP] = hi32(sp);
}

function pop16(c: Cpu): number {
  const sp = join64(c.hi[RSP], c.lo[RSP]);
  const v = c.m.rd16(sp);
  const nsp = sp + 2;
  c.lo[RSP] = nsp | 0;
  c.hi[RSP] = hi32(nsp);
  return v;
}

export function push(c: Cpu, sz: number, lo: number, hi: number): void {
  if (sz === 2) push16(c, lo);
  else push64(c, lo, hi);
}

function pushR(c: Cpu, i: Instr): void {
  const r = i.rm;
  if (i.opsz === 2) push16(c, c.lo[r] & 0xffff);
  else push64(c, c.lo[r], c.hi[r]);
}
function popR(c: Cpu, i: Instr): void {
  if (i.opsz === 2) setReg(c, i.rm, 2, pop16(c), 0);
  else {
    const v = pop64(c);
    c.lo[i.rm] = v; // POP RSP loads the popped value, after the increment
    c.hi[i.rm] = c.rh;
  }
}
for (let r = 0; r < 8; r++) {
  defPick(0x50 + r, OpF.D64, 'push', (i) => ((i.rm = opReg(i, false)), pushR));
  defPick(0x58 + r, OpF.D64, 'pop', (i) => ((i.rm = opReg(i, false)), popR));
}

function pushI(c: Cpu, i: Instr): void {
  if (i.opsz === 2) push16(c, i.imm & 0xffff);
  else push64(c, i.imm, i.immHi);
}
def(0x68, OpF.D64 | OpF.Iz, 'push', pushI);
def(0x6a, OpF.D64 | OpF.Ib, 'push', pushI);

function pushE(c: Cpu, i: Instr): void {
  const v = readE(c, i, i.opsz);
  push(c, i.opsz, v, c.rh);
}
groupFF[6] = pushE;

function popE(c: Cpu, i: Instr): void {
  // The address is computed with RSP already incremented (SDM: POP r/m).
  const sz = i.opsz;
  const sp = join64(c.hi[RSP], c.lo[RSP]);
  const v = readMem(c, sp, sz);
  const vh = c.rh;
  const old0 = c.lo[RSP], old1 = c.hi[RSP];
  const nsp = sp + sz;
  c.lo[RSP] = nsp | 0;
  c.hi[RSP] = hi32(nsp);
  try {
    storeE(c, i, sz, v, vh);
  } catch (e) {
    c.lo[RSP] = old0;
    c.hi[RSP] = old1;
    throw e;
  }
}
defPick(0x8f, OpF.ModRM | OpF.D64, 'pop', (i) => ((i.reg & 7) === 0 ? popE : undefined));

// PUSHF/POPF: RF and VM read as 0; POPF at CPL 3 cannot change IOPL or IF (a PV guest's
// "interrupt flag" is its event mask, not this bit).
const POPF_MASK = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x4000 | 0x40000 | 0x200000;
def(0x9c, OpF.D64, 'pushf', (c, i) => {
  const f = getFlags(c) & ~0x30000;
  if (i.opsz === 2) push16(c, f & 0xffff);
  else push64(c, f, 0);
});
def(0x9d, OpF.D64, 'popf', (c, i) => {
  const v = i.opsz === 2 ? pop16(c) | (getFlags(c) & 0xffff0000) : pop64(c);
  setFlags(c, (getFlags(c) & ~POPF_MASK) | (v & POPF_MASK));
});

function leave(c: Cpu): void {
  // RSP = RBP, then pop RBP.
  const sp = join64(c.hi[Reg.RBP], c.lo[Reg.RBP]);
  const v = c.m.rd64(sp);
  const vh = c.m.hi;
  const nsp = sp + 8;
  c.lo[RSP] = nsp | 0;
  c.hi[RSP] = hi32(nsp);
  c.lo[Reg.RBP] = v;
  c.hi[Reg.RBP] = vh;
}
defPick(0xc9, OpF.D64, 'leave', (i) => (i.opsz === 2 ? undefined : leave));

function enter(c: Cpu, i: Instr): void {
  const size = i.imm & 0xffff;
  const level = i.imm2 & 31;
  // RSP and RBP change only once every push has landed: a fault midway leaves them as they were.
  let sp = join64(c.hi[RSP], c.lo[RSP]) - 8;
  c.m.wr64(sp, c.lo[Reg.RBP], c.hi[Reg.RBP]);
  const frame = sp;
  let bp = join64(c.hi[Reg.RBP], c.lo[Reg.RBP]);
  for (let k = 1; k < level; k++) {
    bp -= 8;
    const v = c.m.rd64(bp);
    sp -= 8;
    c.m.wr64(sp, v, c.m.hi);
  }
  if (level > 0) {
    sp -= 8;
    c.m.wr64(sp, frame | 0, hi32(frame));
  }
  sp -= size;
  // SDM (ENTER, #PF): "if a write using the final value of the stack pointer ... would cause a page fault".
  c.m.writableOffset(sp);
  c.lo[Reg.RBP] = frame | 0;
  c.hi[Reg.RBP] = hi32(frame);
  c.lo[RSP] = sp | 0;
  c.hi[RSP] = hi32(sp);
}
defPick(0xc8, OpF.D64 | OpF.Iw | OpF.IwIb, 'enter', (i) => (i.opsz === 2 ? undefined : enter));

export { ea, getReg };
