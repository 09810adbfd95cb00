// Data movement: MOV, MOVZX/MOVSX/MOVSXD, LEA, XCHG, CMOVcc, SETcc, BSWAP, CBW/CWD family,
// LAHF/SAHF, MOV from/to segment registers.

import type { Cpu } from '../cpu.js';
import { cond, getFlags, setFlags, ARITH, SF, ZF, AF, PF, CF } from '../flags.js';
import type { Instr } from '../instr.js';
import { OpF, def, defPick } from '../optable.js';
import { udFault } from '../fault.js';
import { ea, eaHalves, getReg, readE, readMem, setReg, storeE, writeMem, writeE, sext } from './operands.js';

/** Register number encoded in the opcode's low 3 bits (+REX.B); byte regs without REX map 4-7 to AH..BH. */
export function opReg(i: Instr, byte: boolean): number {
  const r = (i.op & 7) | ((i.rex & 1) << 3);
  return byte && i.rex === 0 && r >= 4 && r < 8 ? r + 12 : r;
}

// ---- MOV ----
function movEG(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const v = getReg(c, i.reg, sz);
  storeE(c, i, sz, v, c.rh);
}
function movGE(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const v = readE(c, i, sz);
  setReg(c, i.reg, sz, v, c.rh);
}
function mov64rr(c: Cpu, i: Instr): void {
  c.lo[i.rm] = c.lo[i.reg];
  c.hi[i.rm] = c.hi[i.reg];
}
function mov32rr(c: Cpu, i: Instr): void {
  c.lo[i.rm] = c.lo[i.reg];
  c.hi[i.rm] = 0;
}
function load64(c: Cpu, i: Instr): void {
  const r = i.reg;
  c.lo[r] = c.m.rd64(ea(c, i));
  c.hi[r] = c.m.hi;
}
function load32(c: Cpu, i: Instr): void {
  const r = i.reg;
  c.lo[r] = c.m.rd32(ea(c, i));
  c.hi[r] = 0;
}
function store64(c: Cpu, i: Instr): void {
  c.m.wr64(ea(c, i), c.lo[i.reg], c.hi[i.reg]);
}
function store32(c: Cpu, i: Instr): void {
  c.m.wr32(ea(c, i), c.lo[i.reg]);
}
def(0x88, OpF.ModRM | OpF.Byte, 'mov', movEG);
defPick(0x89, OpF.ModRM, 'mov', (i) =>
  i.mod === 3 ? (i.opsz === 8 ? mov64rr : i.opsz === 4 ? mov32rr : movEG) : i.opsz === 8 ? store64 : i.opsz === 4 ? store32 : movEG,
);
def(0x8a, OpF.ModRM | OpF.Byte, 'mov', movGE);
defPick(0x8b, OpF.ModRM, 'mov', (i) =>
  i.mod === 3 ? movGE : i.opsz === 8 ? load64 : i.opsz === 4 ? load32 : movGE,
);

function movEI(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  storeE(c, i, sz, sz === 1 ? i.imm & 0xff : sz === 2 ? i.imm & 0xffff : i.imm, i.immHi);
}
defPick(0xc6, OpF.ModRM | OpF.Byte | OpF.Ib, 'mov', (i) => ((i.reg & 7) === 0 ? movEI : undefined));
defPick(0xc7, OpF.ModRM | OpF.Iz, 'mov', (i) => ((i.reg & 7) === 0 ? movEI : undefined));

function movRI(c: Cpu, i: Instr): void {
  setReg(c, i.rm, i.opsz, i.imm, i.immHi);
}
for (let r = 0; r < 8; r++) {
  defPick(0xb0 + r, OpF.Byte | OpF.Iv, 'mov', (i) => ((i.rm = opReg(i, true)), movRI));
  defPick(0xb8 + r, OpF.Iv, 'mov', (i) => ((i.rm = opReg(i, false)), movRI));
}

// MOV AL/rAX <-> moffs
function movAO(c: Cpu, i: Instr): void {
  setReg(c, 0, i.opsz, readMem(c, ea(c, i), i.opsz), c.rh);
}
function movOA(c: Cpu, i: Instr): void {
  const v = getReg(c, 0, i.opsz);
  writeMem(c, ea(c, i), i.opsz, v, c.rh);
}
def(0xa0, OpF.Byte | OpF.Moffs, 'mov', movAO);
def(0xa1, OpF.Moffs, 'mov', movAO);
def(0xa2, OpF.Byte | OpF.Moffs, 'mov', movOA);
def(0xa3, OpF.Moffs, 'mov', movOA);

// ---- LEA: exact 64-bit arithmetic in halves (LEA is used for arithmetic, not just addresses) ----
function lea(c: Cpu, i: Instr): void {
  const lo = eaHalves(c, i);
  const hi = i.adsz === 4 ? 0 : c.rh;
  setReg(c, i.reg, i.opsz, i.opsz === 2 ? lo & 0xffff : lo, hi);
}
defPick(0x8d, OpF.ModRM, 'lea', (i) => (i.mod === 3 ? undefined : lea));

// ---- MOVZX / MOVSX / MOVSXD ----
function movzx8(c: Cpu, i: Instr): void {
  setReg(c, i.reg, i.opsz, readE(c, i, 1), 0);
}
function movzx16(c: Cpu, i: Instr): void {
  setReg(c, i.reg, i.opsz, readE(c, i, 2), 0);
}
function movsx8(c: Cpu, i: Instr): void {
  const v = (readE(c, i, 1) << 24) >> 24;
  setReg(c, i.reg, i.opsz, i.opsz === 2 ? v & 0xffff : v, v >> 31);
}
function movsx16(c: Cpu, i: Instr): void {
  const v = (readE(c, i, 2) << 16) >> 16;
  setReg(c, i.reg, i.opsz, i.opsz === 2 ? v & 0xffff : v, v >> 31);
}
function movsxd(c: Cpu, i: Instr): void {
  const v = readE(c, i, 4);
  setReg(c, i.reg, i.opsz, i.opsz === 2 ? v & 0xffff : v, v >> 31);
}
def(0x1b6, OpF.ModRM | OpF.RmByte, 'movzx', movzx8);
def(0x1b7, OpF.ModRM, 'movzx', movzx16);
def(0x1be, OpF.ModRM | OpF.RmByte, 'movsx', movsx8);
def(0x1bf, OpF.ModRM, 'movsx', movsx16);
def(0x63, OpF.ModRM, 'movsxd', movsxd);

// ---- XCHG (with memory it is always locked: atomic here since a vCPU runs alone) ----
function xchgEG(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const a = readE(c, i, sz), aH = c.rh;
  const b = getReg(c, i.reg, sz), bH = c.rh;
  writeE(c, i, sz, b, bH);
  setReg(c, i.reg, sz, a, aH);
}
def(0x86, OpF.ModRM | OpF.Byte, 'xchg', xchgEG);
def(0x87, OpF.ModRM, 'xchg', xchgEG);
function xchgA(c: Cpu, i: Instr): void {
  const sz = i.opsz, r = i.rm;
  const a = getReg(c, 0, sz), aH = c.rh;
  const b = getReg(c, r, sz), bH = c.rh;
  setReg(c, 0, sz, b, bH);
  setReg(c, r, sz, a, aH);
}
function nop(): void {}
function pause(c: Cpu): void {
  if (c.pauseYields) c.stop = true;
}
for (let r = 0; r < 8; r++) {
  defPick(0x90 + r, 0, 'xchg', (i) => {
    i.rm = opReg(i, false);
    // 90 is NOP (F3 90 is PAUSE) unless REX.B makes it XCHG R8.
    return i.rm === 0 ? (i.rep === 1 ? pause : nop) : xchgA;
  });
}

// ---- CMOVcc / SETcc ----
function cmov(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const v = readE(c, i, sz); // the source is read (and may fault) even when not taken
  if (cond(c, i.cc)) setReg(c, i.reg, sz, v, c.rh);
  else if (sz === 4) c.hi[i.reg] = 0; // a 32-bit CMOV zero-extends even when not taken
}
function setcc(c: Cpu, i: Instr): void {
  storeE(c, i, 1, cond(c, i.cc) ? 1 : 0, 0);
}
for (let cc = 0; cc < 16; cc++) {
  def(0x140 + cc, OpF.ModRM, 'cmovcc', cmov);
  def(0x190 + cc, OpF.ModRM | OpF.Byte, 'setcc', setcc);
}

// ---- BSWAP ----
function bswap(c: Cpu, i: Instr): void {
  const r = i.rm;
  const sw = (x: number) => ((x >>> 24) | ((x >>> 8) & 0xff00) | ((x << 8) & 0xff0000) | (x << 24)) | 0;
  if (i.opsz === 8) {
    const l = c.lo[r];
    c.lo[r] = sw(c.hi[r]);
    c.hi[r] = sw(l);
  } else if (i.opsz === 4) {
    c.lo[r] = sw(c.lo[r]);
    c.hi[r] = 0;
  } else {
    c.lo[r] &= ~0xffff; // BSWAP r16 is undefined; hardware gives 0 in the low word
  }
}
for (let r = 0; r < 8; r++) defPick(0x1c8 + r, 0, 'bswap', (i) => ((i.rm = opReg(i, false)), bswap));

// ---- CBW/CWDE/CDQE and CWD/CDQ/CQO ----
function cbw(c: Cpu, i: Instr): void {
  if (i.opsz === 2) setReg(c, 0, 2, ((c.lo[0] << 24) >> 24) & 0xffff, 0);
  else if (i.opsz === 4) setReg(c, 0, 4, (c.lo[0] << 16) >> 16, 0);
  else c.hi[0] = c.lo[0] >> 31;
}
function cwd(c: Cpu, i: Instr): void {
  if (i.opsz === 2) setReg(c, 2, 2, ((c.lo[0] << 16) >> 31) & 0xffff, 0);
  else if (i.opsz === 4) setReg(c, 2, 4, c.lo[0] >> 31, 0);
  else {
    const s = c.hi[0] >> 31;
    c.lo[2] = s;
    c.hi[2] = s;
  }
}
def(0x98, 0, 'cbw', cbw);
def(0x99, 0, 'cwd', cwd);

// ---- LAHF / SAHF ----
def(0x9f, 0, 'lahf', (c) => {
  c.lo[0] = (c.lo[0] & ~0xff00) | ((getFlags(c) & 0xff) << 8);
});
def(0x9e, 0, 'sahf', (c) => {
  const ah = (c.lo[0] >>> 8) & (SF | ZF | AF | PF | CF);
  setFlags(c, (getFlags(c) & ~(ARITH & 0xff)) | ah);
});

// ---- MOV Sreg: flat 64-bit segments; selectors are remembered, not enforced ----
function movFromSeg(c: Cpu, i: Instr): void {
  const s = i.reg & 7;
  storeE(c, i, i.mod === 3 ? i.opsz : 2, c.sreg[s], 0);
}
function movToSeg(c: Cpu, i: Instr): void {
  const s = i.reg & 7;
  if (s === 1 || s > 5) throw udFault('mov to CS or a reserved segment register');
  c.sreg[s] = readE(c, i, 2);
}
def(0x8c, OpF.ModRM, 'mov sreg', movFromSeg);
def(0x8e, OpF.ModRM, 'mov sreg', movToSeg);

export { sext };
