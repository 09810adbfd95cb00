// Shifts and rotates: group 2 (ROL ROR RCL RCR SHL SHR SAL SAR), SHLD, SHRD.

import type { Cpu } from '../cpu.js';
import { Reg } from '../regs.js';
import { getCF, getFlags, setEagerFlags, setFlags, signOf, CF, OF } from '../flags.js';
import type { Handler, Instr } from '../instr.js';
import { OpF, def, defPick } from '../optable.js';
import { MASK, getReg, readE, writeE } from './operands.js';

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
    default: {
      // Rotates of 64-bit values are rare: BigInt keeps them obviously right.
      const v = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
      const M = (1n << 64n) - 1n;
      let r: bigint;
      let cf: number, of: number;
      if (kind === 0) {
        const k = BigInt(n % 64);
        r = ((v << k) | (v >> ((64n - k) % 64n))) & M;
        cf = Number(r & 1n);
        of = Number(r >> 63n) ^ cf;
      } else if (kind === 1) {
        const k = BigInt(n % 64);
        r = ((v >> k) | (v << ((64n - k) % 64n))) & M;
        cf = Number(r >> 63n);
        of = cf ^ Number((r >> 62n) & 1n);
      } else {
        let carry = BigInt(getCF(c));
        r = v;
        const of0 = Number(r >> 63n) ^ Number(carry);
        for (let j = 0; j < n % 65; j++) {
          if (kind === 2) {
            const out = r >> 63n;
            r = ((r << 1n) | carry) & M;
            carry = out;
          } else {
            const out = r & 1n;
            r = (r >> 1n) | (carry << 63n);
            carry = out;
          }
        }
        cf = Number(carry);
        of = kind === 2 ? Number(r >> 63n) ^ cf : of0;
      }
      rotFlags(c, cf, of);
      c.rh = Number(BigInt.asIntN(32, r >> 32n));
      return Number(BigInt.asIntN(32, r));
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
    // Not hot: BigInt keeps 16/32/64-bit forms (and 16-bit counts > 16) uniform.
    const W = BigInt(w);
    const M = (1n << W) - 1n;
    const dv = sz === 8 ? (BigInt(aH >>> 0) << 32n) | BigInt(a >>> 0) : BigInt(a >>> 0) & M;
    const sv = sz === 8 ? (BigInt(bH >>> 0) << 32n) | BigInt(b >>> 0) : BigInt(b >>> 0) & M;
    const N = BigInt(n);
    let r: bigint, cf: number;
    if (left) {
      const cat = (dv << W) | sv; // dest:src, shift left, take the top w bits
      r = ((cat << N) >> W) & M;
      cf = Number((cat >> (2n * W - N)) & 1n);
    } else {
      const cat = (sv << W) | dv; // src:dest, shift right, take the low w bits
      r = (cat >> N) & M;
      cf = Number((cat >> (N - 1n)) & 1n);
    }
    const rl = Number(BigInt.asIntN(32, r & 0xffffffffn));
    const rh = sz === 8 ? Number(BigInt.asIntN(32, r >> 32n)) : 0;
    const lo = sz === 4 ? rl : sz === 8 ? rl : rl & MASK[sz];
    const of = signOf(lo, rh, sz) ^ signOf(a, aH, sz);
    shiftFlags(c, sz, lo, rh, cf, of);
    writeE(c, i, sz, lo, rh);
  };
}
def(0x1a4, OpF.ModRM | OpF.Ib, 'shld', shxd(true, false));
def(0x1a5, OpF.ModRM, 'shld', shxd(true, true));
def(0x1ac, OpF.ModRM | OpF.Ib, 'shrd', shxd(false, false));
def(0x1ad, OpF.ModRM, 'shrd', shxd(false, true));
