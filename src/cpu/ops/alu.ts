// Integer arithmetic and logic: ADD OR ADC SBB AND SUB XOR CMP, TEST, INC DEC NEG NOT.

import type { Cpu } from '../cpu.js';
import { FOp, getCF } from '../flags.js';
import type { Handler, Instr } from '../instr.js';
import { OpF, def, defPick } from '../optable.js';
import { MASK, getReg, readE, setReg, writeE } from './operands.js';

const enum K { Add, Or, Adc, Sbb, And, Sub, Xor, Cmp }

/** Compute a binary op of `sz` bytes, record lazy flags, return the low half (high in c.rh). */
export function alu(c: Cpu, k: number, sz: number, a: number, aH: number, b: number, bH: number): number {
  let r = 0, rH = 0, fop: FOp;
  const mask = MASK[sz];
  switch (k) {
    case K.Add:
      if (sz === 8) {
        r = (a + b) | 0;
        rH = (aH + bH + ((a >>> 0) + (b >>> 0) > 0xffffffff ? 1 : 0)) | 0;
      } else r = (a + b) & mask;
      fop = FOp.Add;
      break;
    case K.Adc: {
      const cin = getCF(c);
      c.fcf = cin;
      if (sz === 8) {
        r = (a + b + cin) | 0;
        rH = (aH + bH + ((a >>> 0) + (b >>> 0) + cin > 0xffffffff ? 1 : 0)) | 0;
      } else r = (a + b + cin) & mask;
      fop = FOp.Adc;
      break;
    }
    case K.Sub:
    case K.Cmp:
      if (sz === 8) {
        r = (a - b) | 0;
        rH = (aH - bH - ((a >>> 0) < (b >>> 0) ? 1 : 0)) | 0;
      } else r = (a - b) & mask;
      fop = FOp.Sub;
      break;
    case K.Sbb: {
      const cin = getCF(c);
      c.fcf = cin;
      if (sz === 8) {
        r = (a - b - cin) | 0;
        rH = (aH - bH - ((a >>> 0) < (b >>> 0) + cin ? 1 : 0)) | 0;
      } else r = (a - b - cin) & mask;
      fop = FOp.Sbb;
      break;
    }
    case K.And: r = a & b; rH = aH & bH; fop = FOp.Logic; break;
    case K.Or: r = a | b; rH = aH | bH; fop = FOp.Logic; break;
    default: r = a ^ b; rH = aH ^ bH; fop = FOp.Logic; break;
  }
  if (sz !== 8) rH = 0;
  c.fop = fop;
  c.fsz = sz;
  c.fa = a; c.faH = aH;
  c.fb = b; c.fbH = bH;
  c.fr = r; c.frH = rH;
  c.rh = rH;
  return r;
}

/** Normalize a value read at size sz so that alu() sees the lazy-flag representation. */
function norm(v: number, sz: number): number {
  return sz === 4 ? v : v & MASK[sz];
}

// op E, G
function aluEG(k: number): Handler {
  return (c, i) => {
    const sz = i.opsz;
    const a = readE(c, i, sz), aH = sz === 8 ? c.rh : 0;
    const b = getReg(c, i.reg, sz), bH = sz === 8 ? c.rh : 0;
    const r = alu(c, k, sz, a, aH, b, bH);
    if (k !== K.Cmp) writeE(c, i, sz, r, c.rh);
  };
}

// op G, E
function aluGE(k: number): Handler {
  return (c, i) => {
    const sz = i.opsz;
    const b = readE(c, i, sz), bH = sz === 8 ? c.rh : 0;
    const a = getReg(c, i.reg, sz), aH = sz === 8 ? c.rh : 0;
    const r = alu(c, k, sz, a, aH, b, bH);
    if (k !== K.Cmp) setReg(c, i.reg, sz, r, c.rh);
  };
}

// op E, imm
function aluEI(k: number): Handler {
  return (c, i) => {
    const sz = i.opsz;
    const a = readE(c, i, sz), aH = sz === 8 ? c.rh : 0;
    const r = alu(c, k, sz, a, aH, norm(i.imm, sz), sz === 8 ? i.immHi : 0);
    if (k !== K.Cmp) writeE(c, i, sz, r, c.rh);
  };
}

// op AL/eAX, imm
function aluAI(k: number): Handler {
  return (c, i) => {
    const sz = i.opsz;
    const a = getReg(c, 0, sz), aH = sz === 8 ? c.rh : 0;
    const r = alu(c, k, sz, a, aH, norm(i.imm, sz), sz === 8 ? i.immHi : 0);
    if (k !== K.Cmp) setReg(c, 0, sz, r, c.rh);
  };
}

// ---- register-register fast paths for the hottest forms (no size switch at run time) ----

function add64rr(c: Cpu, i: Instr): void {
  const d = i.rm, s = i.reg;
  const a = c.lo[d], aH = c.hi[d], b = c.lo[s], bH = c.hi[s];
  const r = (a + b) | 0;
  const rH = (aH + bH + ((a >>> 0) + (b >>> 0) > 0xffffffff ? 1 : 0)) | 0;
  c.lo[d] = r; c.hi[d] = rH;
  c.fop = FOp.Add; c.fsz = 8; c.fa = a; c.faH = aH; c.fb = b; c.fbH = bH; c.fr = r; c.frH = rH;
}

function sub64rr(c: Cpu, i: Instr): void {
  const d = i.rm, s = i.reg;
  const a = c.lo[d], aH = c.hi[d], b = c.lo[s], bH = c.hi[s];
  const r = (a - b) | 0;
  const rH = (aH - bH - ((a >>> 0) < (b >>> 0) ? 1 : 0)) | 0;
  c.lo[d] = r; c.hi[d] = rH;
  c.fop = FOp.Sub; c.fsz = 8; c.fa = a; c.faH = aH; c.fb = b; c.fbH = bH; c.fr = r; c.frH = rH;
}

function cmp64rr(c: Cpu, i: Instr): void {
  const d = i.rm, s = i.reg;
  const a = c.lo[d], aH = c.hi[d], b = c.lo[s], bH = c.hi[s];
  c.fr = (a - b) | 0;
  c.frH = (aH - bH - ((a >>> 0) < (b >>> 0) ? 1 : 0)) | 0;
  c.fop = FOp.Sub; c.fsz = 8; c.fa = a; c.faH = aH; c.fb = b; c.fbH = bH;
}

function cmp32rr(c: Cpu, i: Instr): void {
  const a = c.lo[i.rm], b = c.lo[i.reg];
  c.fr = (a - b) | 0; c.frH = 0;
  c.fop = FOp.Sub; c.fsz = 4; c.fa = a; c.faH = 0; c.fb = b; c.fbH = 0;
}

function add32rr(c: Cpu, i: Instr): void {
  const a = c.lo[i.rm], b = c.lo[i.reg];
  const r = (a + b) | 0;
  c.lo[i.rm] = r; c.hi[i.rm] = 0;
  c.fop = FOp.Add; c.fsz = 4; c.fa = a; c.faH = 0; c.fb = b; c.fbH = 0; c.fr = r; c.frH = 0;
}

function sub32rr(c: Cpu, i: Instr): void {
  const a = c.lo[i.rm], b = c.lo[i.reg];
  const r = (a - b) | 0;
  c.lo[i.rm] = r; c.hi[i.rm] = 0;
  c.fop = FOp.Sub; c.fsz = 4; c.fa = a; c.faH = 0; c.fb = b; c.fbH = 0; c.fr = r; c.frH = 0;
}

function xor32rr(c: Cpu, i: Instr): void {
  const r = c.lo[i.rm] ^ c.lo[i.reg];
  c.lo[i.rm] = r; c.hi[i.rm] = 0;
  c.fop = FOp.Logic; c.fsz = 4; c.fr = r; c.frH = 0;
}

function and32rr(c: Cpu, i: Instr): void {
  const r = c.lo[i.rm] & c.lo[i.reg];
  c.lo[i.rm] = r; c.hi[i.rm] = 0;
  c.fop = FOp.Logic; c.fsz = 4; c.fr = r; c.frH = 0;
}

function test64rr(c: Cpu, i: Instr): void {
  c.fr = c.lo[i.rm] & c.lo[i.reg]; c.frH = c.hi[i.rm] & c.hi[i.reg];
  c.fop = FOp.Logic; c.fsz = 8;
}

function test32rr(c: Cpu, i: Instr): void {
  c.fr = c.lo[i.rm] & c.lo[i.reg]; c.frH = 0;
  c.fop = FOp.Logic; c.fsz = 4;
}

function cmp64ri(c: Cpu, i: Instr): void {
  const d = i.rm, a = c.lo[d], aH = c.hi[d], b = i.imm, bH = i.immHi;
  c.fr = (a - b) | 0;
  c.frH = (aH - bH - ((a >>> 0) < (b >>> 0) ? 1 : 0)) | 0;
  c.fop = FOp.Sub; c.fsz = 8; c.fa = a; c.faH = aH; c.fb = b; c.fbH = bH;
}

function cmp32ri(c: Cpu, i: Instr): void {
  const a = c.lo[i.rm], b = i.imm;
  c.fr = (a - b) | 0; c.frH = 0;
  c.fop = FOp.Sub; c.fsz = 4; c.fa = a; c.faH = 0; c.fb = b; c.fbH = 0;
}

function add64ri(c: Cpu, i: Instr): void {
  const d = i.rm, a = c.lo[d], aH = c.hi[d], b = i.imm, bH = i.immHi;
  const r = (a + b) | 0;
  const rH = (aH + bH + ((a >>> 0) + (b >>> 0) > 0xffffffff ? 1 : 0)) | 0;
  c.lo[d] = r; c.hi[d] = rH;
  c.fop = FOp.Add; c.fsz = 8; c.fa = a; c.faH = aH; c.fb = b; c.fbH = bH; c.fr = r; c.frH = rH;
}

function sub64ri(c: Cpu, i: Instr): void {
  const d = i.rm, a = c.lo[d], aH = c.hi[d], b = i.imm, bH = i.immHi;
  const r = (a - b) | 0;
  const rH = (aH - bH - ((a >>> 0) < (b >>> 0) ? 1 : 0)) | 0;
  c.lo[d] = r; c.hi[d] = rH;
  c.fop = FOp.Sub; c.fsz = 8; c.fa = a; c.faH = aH; c.fb = b; c.fbH = bH; c.fr = r; c.frH = rH;
}

function add32ri(c: Cpu, i: Instr): void {
  const a = c.lo[i.rm], b = i.imm;
  const r = (a + b) | 0;
  c.lo[i.rm] = r; c.hi[i.rm] = 0;
  c.fop = FOp.Add; c.fsz = 4; c.fa = a; c.faH = 0; c.fb = b; c.fbH = 0; c.fr = r; c.frH = 0;
}

function pickEG(k: number): (i: Instr) => Handler {
  const generic = aluEG(k);
  return (i) => {
    if (i.mod === 3 && !i.lock) {
      if (i.opsz === 8) {
        if (k === K.Add) return add64rr;
        if (k === K.Sub) return sub64rr;
        if (k === K.Cmp) return cmp64rr;
      } else if (i.opsz === 4) {
        if (k === K.Cmp) return cmp32rr;
        if (k === K.Add) return add32rr;
        if (k === K.Sub) return sub32rr;
        if (k === K.Xor) return xor32rr;
        if (k === K.And) return and32rr;
      }
    }
    return generic;
  };
}

const NAMES = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
const GROUP1 = [0, 1, 2, 3, 4, 5, 6, 7].map(aluEI);

function pickGroup1(i: Instr): Handler {
  const k = i.reg & 7;
  if (i.mod === 3 && i.op !== 0x80) {
    if (i.opsz === 8) {
      if (k === K.Cmp) return cmp64ri;
      if (k === K.Add) return add64ri;
      if (k === K.Sub) return sub64ri;
    } else if (i.opsz === 4) {
      if (k === K.Cmp) return cmp32ri;
      if (k === K.Add) return add32ri;
    }
  }
  return GROUP1[k];
}

for (let k = 0; k < 8; k++) {
  const base = k * 8;
  def(base + 0, OpF.ModRM | OpF.Byte, NAMES[k], aluEG(k));
  defPick(base + 1, OpF.ModRM, NAMES[k], pickEG(k));
  def(base + 2, OpF.ModRM | OpF.Byte, NAMES[k], aluGE(k));
  def(base + 3, OpF.ModRM, NAMES[k], aluGE(k));
  def(base + 4, OpF.Byte | OpF.Ib, NAMES[k], aluAI(k));
  def(base + 5, OpF.Iz, NAMES[k], aluAI(k));
}
defPick(0x80, OpF.ModRM | OpF.Byte | OpF.Ib, 'group1', pickGroup1);
defPick(0x81, OpF.ModRM | OpF.Iz, 'group1', pickGroup1);
defPick(0x83, OpF.ModRM | OpF.Ib, 'group1', pickGroup1);

// ---- TEST ----
function testEG(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const a = readE(c, i, sz), aH = sz === 8 ? c.rh : 0;
  const b = getReg(c, i.reg, sz), bH = sz === 8 ? c.rh : 0;
  alu(c, K.And, sz, a, aH, b, bH);
}
function testEI(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const a = readE(c, i, sz), aH = sz === 8 ? c.rh : 0;
  alu(c, K.And, sz, a, aH, norm(i.imm, sz), sz === 8 ? i.immHi : 0);
}
function testAI(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const a = getReg(c, 0, sz), aH = sz === 8 ? c.rh : 0;
  alu(c, K.And, sz, a, aH, norm(i.imm, sz), sz === 8 ? i.immHi : 0);
}
def(0x84, OpF.ModRM | OpF.Byte, 'test', testEG);
defPick(0x85, OpF.ModRM, 'test', (i) =>
  i.mod === 3 ? (i.opsz === 8 ? test64rr : i.opsz === 4 ? test32rr : testEG) : testEG,
);
def(0xa8, OpF.Byte | OpF.Ib, 'test', testAI);
def(0xa9, OpF.Iz, 'test', testAI);

// ---- unary: NOT NEG (group 3 /2 /3), INC DEC (FE/FF /0 /1, and group 3 TEST /0 /1) ----
function not(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const a = readE(c, i, sz);
  writeE(c, i, sz, ~a & MASK[sz], sz === 8 ? ~c.rh : 0);
}
function neg(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const a = readE(c, i, sz), aH = sz === 8 ? c.rh : 0;
  const r = alu(c, K.Sub, sz, 0, 0, a, aH);
  writeE(c, i, sz, r, c.rh);
}
export function incdec(c: Cpu, i: Instr, dec: boolean): void {
  const sz = i.opsz;
  const cf = getCF(c);
  const a = readE(c, i, sz), aH = sz === 8 ? c.rh : 0;
  const r = alu(c, dec ? K.Sub : K.Add, sz, a, aH, 1, 0);
  c.fop = dec ? FOp.Dec : FOp.Inc;
  c.fcf = cf;
  writeE(c, i, sz, r, c.rh);
}
const inc: Handler = (c, i) => incdec(c, i, false);
const dec: Handler = (c, i) => incdec(c, i, true);

function inc64r(c: Cpu, i: Instr): void {
  const d = i.rm, a = c.lo[d], aH = c.hi[d];
  c.fcf = getCF(c);
  const r = (a + 1) | 0, rH = r === 0 ? (aH + 1) | 0 : aH;
  c.lo[d] = r; c.hi[d] = rH;
  c.fop = FOp.Inc; c.fsz = 8; c.fa = a; c.faH = aH; c.fb = 1; c.fbH = 0; c.fr = r; c.frH = rH;
}
function dec64r(c: Cpu, i: Instr): void {
  const d = i.rm, a = c.lo[d], aH = c.hi[d];
  c.fcf = getCF(c);
  const r = (a - 1) | 0, rH = a === 0 ? (aH - 1) | 0 : aH;
  c.lo[d] = r; c.hi[d] = rH;
  c.fop = FOp.Dec; c.fsz = 8; c.fa = a; c.faH = aH; c.fb = 1; c.fbH = 0; c.fr = r; c.frH = rH;
}

/** Group 3 (F6/F7): TEST, NOT, NEG here; MUL/IMUL/DIV/IDIV come from muldiv.ts. */
export const group3Mul: (Handler | undefined)[] = [];
function pickGroup3(i: Instr): Handler | undefined {
  switch (i.reg & 7) {
    case 0:
    case 1: return testEI;
    case 2: return not;
    case 3: return neg;
    default: return group3Mul[i.reg & 7];
  }
}
defPick(0xf6, OpF.ModRM | OpF.Byte | OpF.Grp3Imm, 'group3', pickGroup3);
defPick(0xf7, OpF.ModRM | OpF.Grp3Imm, 'group3', pickGroup3);

function pickIncDec(i: Instr): Handler | undefined {
  const r = i.reg & 7;
  if (r === 0) return i.mod === 3 && i.opsz === 8 ? inc64r : inc;
  if (r === 1) return i.mod === 3 && i.opsz === 8 ? dec64r : dec;
  return groupFF[r];
}
/** FF /2../6 (CALL, JMP, PUSH) are registered by branch.ts and stack.ts. */
export const groupFF: (Handler | undefined)[] = [];
defPick(0xfe, OpF.ModRM | OpF.Byte, 'group4', (i) => ((i.reg & 7) < 2 ? pickIncDec(i) : undefined));
defPick(0xff, OpF.ModRM | OpF.Grp5, 'group5', pickIncDec);
