// Bit operations: BT BTS BTR BTC, BSF BSR, TZCNT LZCNT POPCNT.

import type { Cpu } from '../cpu.js';
import { FOp, getFlags, setFlags, CF, ZF, SF, OF, PF, AF } from '../flags.js';
import type { Handler, Instr } from '../instr.js';
import { Pfx } from '../instr.js';
import { OpF, def, defPick } from '../optable.js';
import { ea, getReg, readE, readMem, setReg, writeMem, writeE } from './operands.js';
import { join64 } from '../u64.js';

/** BT family: kind 0 BT, 1 BTS, 2 BTR, 3 BTC. Only CF is defined; the rest are kept. */
function btOp(c: Cpu, i: Instr, kind: number, bitLo: number, bitHi: number, fromReg: boolean): void {
  const sz = i.opsz;
  const w = sz * 8;
  let a: number, aH: number, addr = 0;
  let bit: number;
  if (i.mod === 3) {
    a = getReg(c, i.rm, sz);
    aH = c.rh;
    bit = bitLo & (w - 1);
  } else {
    // A register bit offset is signed and may address memory beyond the operand.
    addr = ea(c, i);
    if (fromReg) {
      const off = sz === 8 ? join64(bitHi, bitLo) : sz === 4 ? bitLo | 0 : (bitLo << 16) >> 16;
      addr += Math.floor(off / w) * sz;
      bit = ((off % w) + w) % w;
    } else bit = bitLo & (w - 1);
    a = readMem(c, addr, sz);
    aH = c.rh;
  }
  let cf: number;
  let r = a, rH = aH;
  if (bit >= 32) {
    const m = 1 << (bit - 32);
    cf = (aH & m) !== 0 ? 1 : 0;
    if (kind === 1) rH = aH | m;
    else if (kind === 2) rH = aH & ~m;
    else if (kind === 3) rH = aH ^ m;
  } else {
    const m = 1 << bit;
    cf = (a & m) !== 0 ? 1 : 0;
    if (kind === 1) r = a | m;
    else if (kind === 2) r = a & ~m;
    else if (kind === 3) r = a ^ m;
    if (sz < 4) r &= sz === 1 ? 0xff : 0xffff;
  }
  setFlags(c, (getFlags(c) & ~CF) | cf);
  if (kind !== 0) {
    if (i.mod === 3) setReg(c, i.rm, sz, r, rH);
    else writeMem(c, addr, sz, r, rH);
  }
}

function btReg(kind: number): Handler {
  return (c, i) => {
    const b = getReg(c, i.reg, i.opsz);
    btOp(c, i, kind, b, c.rh, true);
  };
}
def(0x1a3, OpF.ModRM, 'bt', btReg(0));
def(0x1ab, OpF.ModRM, 'bts', btReg(1));
def(0x1b3, OpF.ModRM, 'btr', btReg(2));
def(0x1bb, OpF.ModRM, 'btc', btReg(3));
const BT_IMM = [0, 1, 2, 3].map((k): Handler => (c, i) => btOp(c, i, k, i.imm & 0xff, 0, false));
defPick(0x1ba, OpF.ModRM | OpF.Ib, 'group8', (i) => ((i.reg & 7) >= 4 ? BT_IMM[(i.reg & 7) - 4] : undefined));

function clz32(x: number): number {
  return Math.clz32(x);
}
function ctz32(x: number): number {
  return x === 0 ? 32 : 31 - Math.clz32(x & -x);
}

/** Set ZF (and CF for TZCNT/LZCNT); the other arithmetic flags are undefined: cleared here. */
function zfcf(c: Cpu, zf: boolean, cf: boolean, keepOthers: boolean): void {
  let f = getFlags(c);
  if (!keepOthers) f &= ~(SF | OF | PF | AF);
  f = (f & ~(ZF | CF)) | (zf ? ZF : 0) | (cf ? CF : 0);
  setFlags(c, f);
  c.fop = FOp.None;
}

function bsf(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const a = readE(c, i, sz), aH = c.rh;
  const v = sz === 2 ? a & 0xffff : a;
  if (v === 0 && (sz !== 8 || aH === 0)) {
    // Source zero: ZF=1 and the destination is left unchanged (AMD documents it; Intel does it).
    zfcf(c, true, false, true);
    return;
  }
  const n = v !== 0 ? ctz32(v) : 32 + ctz32(aH);
  setReg(c, i.reg, sz, n, 0);
  zfcf(c, false, false, true);
}

function bsr(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const a = readE(c, i, sz), aH = c.rh;
  const v = sz === 2 ? a & 0xffff : a;
  if (v === 0 && (sz !== 8 || aH === 0)) {
    zfcf(c, true, false, true);
    return;
  }
  const n = sz === 8 && aH !== 0 ? 63 - clz32(aH) : 31 - clz32(v);
  setReg(c, i.reg, sz, n, 0);
  zfcf(c, false, false, true);
}

function tzcnt(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const a = readE(c, i, sz), aH = c.rh;
  let n: number;
  if (sz === 8) n = a !== 0 ? ctz32(a) : 32 + ctz32(aH);
  else if (sz === 4) n = ctz32(a);
  else n = Math.min(ctz32(a & 0xffff), 16);
  setReg(c, i.reg, sz, n, 0);
  zfcf(c, n === 0, n === sz * 8, false);
}

function lzcnt(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const a = readE(c, i, sz), aH = c.rh;
  let n: number;
  if (sz === 8) n = aH !== 0 ? clz32(aH) : 32 + clz32(a);
  else if (sz === 4) n = clz32(a);
  else n = clz32(a & 0xffff) - 16;
  setReg(c, i.reg, sz, n, 0);
  zfcf(c, n === 0, n === sz * 8, false);
}

function popcnt32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}

function popcnt(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const a = readE(c, i, sz), aH = c.rh;
  const n = sz === 8 ? popcnt32(a) + popcnt32(aH) : popcnt32(sz === 2 ? a & 0xffff : a);
  setReg(c, i.reg, sz, n, 0);
  setFlags(c, (getFlags(c) & ~(ZF | CF | SF | OF | PF | AF)) | (n === 0 ? ZF : 0));
}

defPick(0x1bc, OpF.ModRM, 'bsf', (i) => (i.pfx === Pfx.PF3 ? tzcnt : bsf));
defPick(0x1bd, OpF.ModRM, 'bsr', (i) => (i.pfx === Pfx.PF3 ? lzcnt : bsr));
defPick(0x1b8, OpF.ModRM, 'popcnt', (i) => (i.pfx === Pfx.PF3 ? popcnt : undefined));

export { writeE };
