// Operand access shared by the instruction families: registers by size, the memory operand's
// linear address, and the ModRM "E" operand read/written by size.
//
// Convention: a value of 1, 2 or 4 bytes is a number in the low half (1/2-byte values
// zero-extended, 4-byte values as int32); a 64-bit value is (low, high) with the high half
// passed separately or left in c.rh. Writing a 4-byte register zero-extends to 64 bits.

import type { Cpu } from '../cpu.js';
import { Seg, type Instr } from '../instr.js';
import { join64, hi32 } from '../u64.js';

/** Linear address of the ModRM memory operand. */
export function ea(c: Cpu, i: Instr): number {
  if (i.adsz === 4) return ea32(c, i);
  let a = i.disp;
  // Terms below 2^52 keep the double sum exact; larger ones (a sum that relies on wrapping
  // around 2^64) take the exact path.
  if (i.base >= 0) {
    const h = c.hi[i.base];
    if ((h + 0x100000) >>> 21 !== 0) return eaWide(c, i);
    a += join64(h, c.lo[i.base]);
  }
  if (i.index >= 0) {
    const h = c.hi[i.index];
    if ((h + 0x100000) >>> 21 !== 0) return eaWide(c, i);
    a += join64(h, c.lo[i.index]) * i.scale;
  }
  if (i.seg !== Seg.None) a += i.seg === Seg.FS ? c.fsBase : c.gsBase;
  return a;
}

/**
 * base + index*scale + disp modulo 2^64 in 32-bit halves, without segment base: the low half is
 * returned, the high half left in c.rh. LEA's arithmetic and the exact address path share it.
 */
export function eaHalves(c: Cpu, i: Instr): number {
  let lo = i.disp | 0;
  let hi = hi32(i.disp);
  if (i.base >= 0) {
    const s = (lo >>> 0) + (c.lo[i.base] >>> 0);
    hi = (hi + c.hi[i.base] + (s > 0xffffffff ? 1 : 0)) | 0;
    lo = s | 0;
  }
  if (i.index >= 0) {
    let xl = c.lo[i.index], xh = c.hi[i.index];
    for (let s = i.scale; s > 1; s >>= 1) {
      xh = (xh << 1) | (xl >>> 31);
      xl <<= 1;
    }
    const s = (lo >>> 0) + (xl >>> 0);
    hi = (hi + xh + (s > 0xffffffff ? 1 : 0)) | 0;
    lo = s | 0;
  }
  c.rh = hi;
  return lo;
}

/** The address modulo 2^64, computed in 32-bit halves, as a signed double. */
function eaWide(c: Cpu, i: Instr): number {
  const lo = eaHalves(c, i);
  let a = join64(c.rh, lo);
  if (i.seg !== Seg.None) a += i.seg === Seg.FS ? c.fsBase : c.gsBase;
  return a;
}

/** 32-bit address size: only the low halves count (high ones would make the sum inexact). */
function ea32(c: Cpu, i: Instr): number {
  let a = i.disp;
  if (i.base >= 0) a += c.lo[i.base] >>> 0;
  if (i.index >= 0) a += (c.lo[i.index] >>> 0) * i.scale;
  a >>>= 0; // exact below 2^53, and ToUint32 is the wrap modulo 2^32
  if (i.seg !== Seg.None) a += i.seg === Seg.FS ? c.fsBase : c.gsBase;
  return a;
}

export function getR8(c: Cpu, n: number): number {
  return n < 16 ? c.lo[n] & 0xff : (c.lo[n - 16] >>> 8) & 0xff;
}

export function setR8(c: Cpu, n: number, v: number): void {
  if (n < 16) c.lo[n] = (c.lo[n] & ~0xff) | (v & 0xff);
  else c.lo[n - 16] = (c.lo[n - 16] & ~0xff00) | ((v & 0xff) << 8);
}

/** Register value of `sz` bytes; for sz 8 the high half is left in c.rh. */
export function getReg(c: Cpu, r: number, sz: number): number {
  switch (sz) {
    case 1: return getR8(c, r);
    case 2: return c.lo[r] & 0xffff;
    case 4: return c.lo[r];
    default:
      c.rh = c.hi[r];
      return c.lo[r];
  }
}

export function setReg(c: Cpu, r: number, sz: number, v: number, vh: number): void {
  switch (sz) {
    case 1: setR8(c, r, v); break;
    case 2: c.lo[r] = (c.lo[r] & ~0xffff) | (v & 0xffff); break;
    case 4: c.lo[r] = v; c.hi[r] = 0; break;
    default: c.lo[r] = v; c.hi[r] = vh;
  }
}

/** Read memory of `sz` bytes at a; for sz 8 the high half goes to c.rh. */
export function readMem(c: Cpu, a: number, sz: number): number {
  switch (sz) {
    case 1: return c.m.rd8(a);
    case 2: return c.m.rd16(a);
    case 4: return c.m.rd32(a);
    default: {
      const l = c.m.rd64(a);
      c.rh = c.m.hi;
      return l;
    }
  }
}

export function writeMem(c: Cpu, a: number, sz: number, v: number, vh: number): void {
  switch (sz) {
    case 1: c.m.wr8(a, v); break;
    case 2: c.m.wr16(a, v); break;
    case 4: c.m.wr32(a, v); break;
    default: c.m.wr64(a, v, vh);
  }
}

/** Read the E operand; a memory operand's address is kept in c.eaddr for writeE. */
export function readE(c: Cpu, i: Instr, sz: number): number {
  if (i.mod === 3) return getReg(c, i.rm, sz);
  c.eaddr = ea(c, i);
  return readMem(c, c.eaddr, sz);
}

/** Write the E operand (after readE for read-modify-write, or after setEaddr). */
export function writeE(c: Cpu, i: Instr, sz: number, v: number, vh: number): void {
  if (i.mod === 3) setReg(c, i.rm, sz, v, vh);
  else writeMem(c, c.eaddr, sz, v, vh);
}

/** Write-only E operand: computes the address itself. */
export function storeE(c: Cpu, i: Instr, sz: number, v: number, vh: number): void {
  if (i.mod === 3) setReg(c, i.rm, sz, v, vh);
  else writeMem(c, ea(c, i), sz, v, vh);
}

export const MASK = [0, 0xff, 0xffff, 0, -1, 0, 0, 0, -1];

/** Sign-extend a value of `sz` bytes into an int32 (4-byte values unchanged). */
export function sext(v: number, sz: number): number {
  return sz === 1 ? (v << 24) >> 24 : sz === 2 ? (v << 16) >> 16 : v | 0;
}

/** 64-bit value as a signed double (exact for |v| < 2^53; addresses and counters). */
export function toNum(lo: number, hi: number): number {
  return join64(hi, lo);
}

export function regNum(c: Cpu, r: number): number {
  return join64(c.hi[r], c.lo[r]);
}

export function setRegNum(c: Cpu, r: number, v: number): void {
  c.lo[r] = v | 0;
  c.hi[r] = hi32(v);
}
