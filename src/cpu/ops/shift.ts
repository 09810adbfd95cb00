// Shifts and rotates: group 2 (ROL ROR RCL RCR SHL SHR SAL SAR), SHLD, SHRD.

import type { Cpu } from '../cpu.js';
import { Reg } from '../regs.js';
import { getCF, getFlags, setEagerFlags, setFlags, signOf, CF, OF } from '../flags.js';
import type { Handler, Instr } from '../instr.js';
import { OpF, def, defPick } from '../optable.js';
import { MASK, getReg, readE, writeE } from './operands.js';
import { bit64, shl64, shr64, wideHi, wideHiPrev } from './int64.js';

/** Record a shift result: SF/ZF/PF from the result, CF and OF given, AF 0. */
const shiftFlags = setEagerFlags;

/** Rotates change only CF and OF. */
function rotFlags(c: Cpu, cf: number, of: number): void {
  const f = getFlags(c) & ~(CF | OF);
  setFlags(c, f | cf | (of << 11));
}

const bits = (sz: number) => sz * 8;

/** The top bit of a w-bit value (a plain function: a closure per shift would allocate). */
const msb = (x: number, w: number): number => (x >>> (w - 1)) & 1;

/**
 * Shift/rotate `kind` (0 ROL .. 7 SAR) of a value of sz bytes by count n (already masked).
 * Returns the low half; the high half goes to c.rh. n is non-zero.
 */
export function shift(c: Cpu, kind: number, sz: number, a: number, aH: number, n: number): number {
  if (sz === 8) return shift64(c, kind, a, aH, n);
  const w = bits(sz);
  const mask = MASK[sz];
  const v = sz === 4 ? a >>> 0 : a & mask;
  let r: number;
  switch (kind) {
    case 0: { // ROL
      const k = n % w;
      r = k === 0 ? v : ((v << k) | (v >>> (w - k))) & mask;
      if (sz === 4) r |= 0;
      const cf = r & 1;
      rotFlags(c, cf, msb(r, w) ^ cf);
      return r;
    }
    case 1: { // ROR
      const k = n % w;
      r = k === 0 ? v : ((v >>> k) | (v << (w - k))) & mask;
      if (sz === 4) r |= 0;
      const cf = msb(r, w);
      rotFlags(c, cf, msb(r, w) ^ ((r >>> (w - 2)) & 1));
      return r;
    }
    case 2: { // RCL: rotate the (w+1)-bit quantity CF:value
      const k = n % (w + 1);
      let cf = getCF(c);
      r = v;
      for (let j = 0; j < k; j++) {
        const out = msb(r, w);
        r = ((r << 1) | cf) & mask;
        if (sz === 4) r >>>= 0;
        cf = out;
      }
      if (sz === 4) r |= 0;
      rotFlags(c, cf, msb(r, w) ^ cf);
      return r;
    }
    case 3: { // RCR
      const k = n % (w + 1);
      let cf = getCF(c);
      r = v;
      const of = msb(r, w) ^ cf;
      for (let j = 0; j < k; j++) {
        const out = r & 1;
        r = ((r >>> 1) | (cf << (w - 1))) & mask;
        if (sz === 4) r >>>= 0;
        cf = out;
      }
      if (sz === 4) r |= 0;
      rotFlags(c, cf, of);
      return r;
    }
    case 4:
    case 6: { // SHL/SAL
      if (n >= w) {
        const cf = n === w ? v & 1 : 0;
        shiftFlags(c, sz, 0, 0, cf, cf); // OF undefined beyond 1
        return 0;
      }
      const cf = (v >>> (w - n)) & 1;
      r = sz === 4 ? (v << n) | 0 : (v << n) & mask;
      shiftFlags(c, sz, r, 0, cf, msb(r, w) ^ cf);
      return r;
    }
    case 5: { // SHR
      if (n >= w) {
        const cf = n === w ? msb(v, w) : 0;
        shiftFlags(c, sz, 0, 0, cf, msb(v, w));
        return 0;
      }
      const cf = (v >>> (n - 1)) & 1;
      r = v >>> n;
      if (sz === 4) r |= 0;
      shiftFlags(c, sz, r, 0, cf, msb(v, w));
      return r;
    }
    default: { // SAR
      const sv = sz === 4 ? a | 0 : sz === 2 ? (a << 16) >> 16 : (a << 24) >> 24;
      const k = n >= w ? w - 1 : n;
      const cf = n >= w ? (sv >>> 31) & 1 : (sv >> (k - 1)) & 1;
      r = (sv >> k) & mask;
      if (sz === 4) r |= 0;
      shiftFlags(c, sz, r, 0, cf, 0);
      return r;
    }
  }
}

function shift64(c: Cpu, kind: number, lo: number, hi: number, n: number): number {
  let rl: number, rh: number;
  switch (kind) {
    case 4:
    case 6: { // SHL
      let cf: number;
      if (n < 32) {
        cf = (hi >>> (32 - n)) & 1;
        rh = (hi << n) | (n === 0 ? 0 : lo >>> (32 - n));
        rl = lo << n;
      } else {
        cf = n === 32 ? hi & 1 : (lo >>> (64 - n)) & 1; // bit 64-n; JS shift counts are mod 32
        rh = lo << (n - 32);
        rl = 0;
      }
      shiftFlags(c, 8, rl, rh, cf, (rh >>> 31) ^ cf);
      c.rh = rh;
      return rl;
    }
    case 5: { // SHR
      let cf: number;
      if (n < 32) {
        cf = (lo >>> (n - 1)) & 1;
        rl = (lo >>> n) | (hi << (32 - n));
        rh = hi >>> n;
      } else {
        cf = n === 32 ? lo >>> 31 : (hi >>> (n - 33)) & 1;
        rl = n === 32 ? hi : hi >>> (n - 32);
        rh = 0;
      }
      rl |= 0; rh |= 0;
      shiftFlags(c, 8, rl, rh, cf, hi >>> 31);
      c.rh = rh;
      return rl;
    }
    case 7: { // SAR
      let cf: number;
      if (n < 32) {
        cf = (lo >>> (n - 1)) & 1;
        rl = (lo >>> n) | (hi << (32 - n));
        rh = hi >> n;
      } else {
        cf = n === 32 ? lo >>> 31 : (hi >>> (n - 33)) & 1;
        rl = hi >> (n - 32);
        rh = hi >> 31;
      }
      rl |= 0;
      shiftFlags(c, 8, rl, rh, cf, 0);
      c.rh = rh;
      return rl;
    }
    case 0: // ROL
    case 1: { // ROR: a left rotate by 64 - n
      const k = kind === 0 ? n : 64 - n;
      rl = shl64(lo, hi, k) | shr64(lo, hi, 64 - k);
      rh = wideHi | wideHiPrev;
      const cf = kind === 0 ? rl & 1 : rh >>> 31;
      rotFlags(c, cf, kind === 0 ? (rh >>> 31) ^ cf : cf ^ ((rh >>> 30) & 1));
      c.rh = rh;
      return rl;
    }
    case 2: { // RCL: the 65-bit CF:value rotated left by n (1..63)
      const cin = getCF(c);
      rl = shl64(lo, hi, n) | shr64(lo, hi, 65 - n);
      rh = wideHi | wideHiPrev;
      if (n <= 32) rl |= cin << (n - 1);
      else rh |= cin << (n - 33);
      const cf = bit64(lo, hi, 64 - n);
      rotFlags(c, cf, (rh >>> 31) ^ cf);
      c.rh = rh;
      return rl;
    }
    default: { // RCR: rotated right by n (1..63)
      const cin = getCF(c);
      const of = (hi >>> 31) ^ cin;
      rl = shr64(lo, hi, n) | shl64(lo, hi, 65 - n);
      rh = wideHi | wideHiPrev;
      if (n <= 32) rh |= cin << (32 - n);
      else rl |= cin << (64 - n);
      rotFlags(c, bit64(lo, hi, n - 1), of);
      c.rh = rh;
      return rl;
    }
  }
}

function countOf(c: Cpu, i: Instr, src: number): number {
  const raw = src === 0 ? 1 : src === 1 ? c.lo[Reg.RCX] & 0xff : i.imm & 0xff;
  return raw & (i.opsz === 8 ? 63 : 31);
}

function group2(src: number): Handler {
  return (c, i) => {
    const sz = i.opsz;
    const a = readE(c, i, sz), aH = sz === 8 ? c.rh : 0;
    const n = countOf(c, i, src);
    if (n === 0) {
      if (i.mod === 3 && sz === 4) c.hi[i.rm] = 0; // a 32-bit destination is still zero-extended
      return;
    }
    const r = shift(c, i.reg & 7, sz, a, aH, n);
    writeE(c, i, sz, r, c.rh);
  };
}

// Fast paths for register shifts by an immediate, the common compiler output.
function shift64ri(kind: number): Handler {
  return (c, i) => {
    const n = i.imm & 63;
    if (n === 0) return;
    const r = shift64(c, kind, c.lo[i.rm], c.hi[i.rm], n);
    c.lo[i.rm] = r;
    c.hi[i.rm] = c.rh;
  };
}
const shl64ri = shift64ri(4), shr64ri = shift64ri(5), sar64ri = shift64ri(7), rol64ri = shift64ri(0), ror64ri = shift64ri(1);

// 32-bit register shifts by a count below the width (an immediate, or CL for variable-length
// bit-buffer code such as inflate): shift() reduces to one-liners.
function shl32(c: Cpu, i: Instr, n: number): void {
  const a = c.lo[i.rm];
  c.hi[i.rm] = 0; // a 32-bit destination is zero-extended even for a zero count
  if (n === 0) return;
  const r = a << n, cf = (a >>> (32 - n)) & 1;
  c.lo[i.rm] = r;
  shiftFlags(c, 4, r, 0, cf, (r >>> 31) ^ cf);
}
function shr32(c: Cpu, i: Instr, n: number): void {
  const a = c.lo[i.rm];
  c.hi[i.rm] = 0;
  if (n === 0) return;
  const r = (a >>> n) | 0;
  c.lo[i.rm] = r;
  shiftFlags(c, 4, r, 0, (a >>> (n - 1)) & 1, a >>> 31);
}
function sar32(c: Cpu, i: Instr, n: number): void {
  const a = c.lo[i.rm];
  c.hi[i.rm] = 0;
  if (n === 0) return;
  const r = a >> n;
  c.lo[i.rm] = r;
  shiftFlags(c, 4, r, 0, (a >> (n - 1)) & 1, 0);
}
// Rotates (ChaCha, BLAKE2s, hashes): CF and OF only, from the rotated value.
function rol32(c: Cpu, i: Instr, n: number): void {
  const a = c.lo[i.rm];
  c.hi[i.rm] = 0;
  if (n === 0) return;
  const r = (a << n) | (a >>> (32 - n)), cf = r & 1;
  c.lo[i.rm] = r;
  rotFlags(c, cf, (r >>> 31) ^ cf);
}
function ror32(c: Cpu, i: Instr, n: number): void {
  const a = c.lo[i.rm];
  c.hi[i.rm] = 0;
  if (n === 0) return;
  const r = (a >>> n) | (a << (32 - n)), cf = r >>> 31;
  c.lo[i.rm] = r;
  rotFlags(c, cf, cf ^ ((r >>> 30) & 1));
}
const shl32ri = (c: Cpu, i: Instr): void => shl32(c, i, i.imm & 31);
const sar32ri = (c: Cpu, i: Instr): void => sar32(c, i, i.imm & 31);
const rol32ri = (c: Cpu, i: Instr): void => rol32(c, i, i.imm & 31);
const ror32ri = (c: Cpu, i: Instr): void => ror32(c, i, i.imm & 31);
const shr32ri = (c: Cpu, i: Instr): void => shr32(c, i, i.imm & 31);
const shl32rcl = (c: Cpu, i: Instr): void => shl32(c, i, c.lo[Reg.RCX] & 31);
const shr32rcl = (c: Cpu, i: Instr): void => shr32(c, i, c.lo[Reg.RCX] & 31);
const sar32rcl = (c: Cpu, i: Instr): void => sar32(c, i, c.lo[Reg.RCX] & 31);
function shift64rcl(kind: number): Handler {
  return (c, i) => {
    const n = c.lo[Reg.RCX] & 63;
    if (n === 0) return;
    const r = shift64(c, kind, c.lo[i.rm], c.hi[i.rm], n);
    c.lo[i.rm] = r;
    c.hi[i.rm] = c.rh;
  };
}
const shl64rcl = shift64rcl(4), shr64rcl = shift64rcl(5), sar64rcl = shift64rcl(7);

const G2_IMM = group2(2), G2_ONE = group2(0), G2_CL = group2(1);
defPick(0xc0, OpF.ModRM | OpF.Byte | OpF.Ib, 'group2', () => G2_IMM);
defPick(0xc1, OpF.ModRM | OpF.Ib, 'group2', (i) => {
  if (i.mod === 3 && (i.opsz === 8 || i.opsz === 4)) {
    const k = i.reg & 7;
    const h = i.opsz === 8 ? [rol64ri, ror64ri, G2_IMM, G2_IMM, shl64ri, shr64ri, shl64ri, sar64ri][k]
      : [rol32ri, ror32ri, G2_IMM, G2_IMM, shl32ri, shr32ri, shl32ri, sar32ri][k];
    return h;
  }
  return G2_IMM;
});
def(0xd0, OpF.ModRM | OpF.Byte, 'group2', G2_ONE);
def(0xd1, OpF.ModRM, 'group2', G2_ONE);
def(0xd2, OpF.ModRM | OpF.Byte, 'group2', G2_CL);
defPick(0xd3, OpF.ModRM, 'group2', (i) => {
  if (i.mod === 3) {
    const k = i.reg & 7;
    if (i.opsz === 8) return k === 4 || k === 6 ? shl64rcl : k === 5 ? shr64rcl : k === 7 ? sar64rcl : G2_CL;
    if (i.opsz === 4) return k === 4 || k === 6 ? shl32rcl : k === 5 ? shr32rcl : k === 7 ? sar32rcl : G2_CL;
  }
  return G2_CL;
});

// ---- SHLD / SHRD ----
function shxd(left: boolean, byCl: boolean): Handler {
  return (c, i) => {
    const sz = i.opsz;
    const w = sz * 8;
    const n = (byCl ? c.lo[Reg.RCX] : i.imm) & (sz === 8 ? 63 : 31);
    const a = readE(c, i, sz), aH = sz === 8 ? c.rh : 0;
    if (n === 0) {
      if (i.mod === 3 && sz === 4) c.hi[i.rm] = 0;
      return;
    }
    const b = getReg(c, i.reg, sz), bH = sz === 8 ? c.rh : 0;
    let rl: number, rh: number, cf: number;
    if (sz === 8) {
      // dest:src (SHLD) or src:dest (SHRD) shifted by 1..63, in halves.
      if (left) {
        rl = shl64(a, aH, n) | shr64(b, bH, 64 - n);
        cf = bit64(a, aH, 64 - n);
      } else {
        rl = shr64(a, aH, n) | shl64(b, bH, 64 - n);
        cf = bit64(a, aH, n - 1);
      }
      rh = wideHi | wideHiPrev;
    } else {
      // The 2w-bit concatenation fits 64 bits; the result is its w-bit window (16-bit counts
      // above 16 reach into the other operand, as the hardware does for these undefined cases).
      const m = MASK[sz];
      const hiPart = left ? a & m : b & m, loPart = left ? b & m : a & m;
      const catL = w === 32 ? loPart : (hiPart << 16) | loPart, catH = w === 32 ? hiPart : 0;
      if (left) {
        // bits [w - n, 2w - n) of the concatenation
        rl = w - n >= 0 ? shr64(catL, catH, w - n) : shl64(catL, catH, n - w);
        cf = bit64(catL, catH, 2 * w - n);
      } else {
        rl = shr64(catL, catH, n);
        cf = bit64(catL, catH, n - 1);
      }
      rl &= m;
      rh = 0;
    }
    const of = signOf(rl, rh, sz) ^ signOf(a, aH, sz);
    shiftFlags(c, sz, rl, rh, cf, of);
    writeE(c, i, sz, rl, rh);
  };
}
def(0x1a4, OpF.ModRM | OpF.Ib, 'shld', shxd(true, false));
def(0x1a5, OpF.ModRM, 'shld', shxd(true, true));
def(0x1ac, OpF.ModRM | OpF.Ib, 'shrd', shxd(false, false));
def(0x1ad, OpF.ModRM, 'shrd', shxd(false, true));
