// Lazy arithmetic flags. An instruction records its kind, size, operands and result; a flag
// is computed only when something reads it (most results are overwritten unread).
//
// Values of 8/16/32-bit operations are kept zero-extended in the low half (high half 0), so
// ZF is always (r | rH) === 0. 64-bit operations keep both halves.

import type { Cpu } from './cpu.js';

export const enum FOp {
  /** Arithmetic flags live in c.flags (after POPF, IRET, or an eagerly-computed instruction). */
  None = 0,
  Add,
  Adc,
  Sub,
  Sbb,
  Logic,
  Inc,
  Dec,
  /** Shifts and rotates by a non-zero count, MUL/IMUL: CF and OF computed eagerly into fcf/fof. */
  Shift,
}

export const CF = 0x1;
export const PF = 0x4;
export const AF = 0x10;
export const ZF = 0x40;
export const SF = 0x80;
export const TF = 0x100;
export const IF = 0x200;
export const DF = 0x400;
export const OF = 0x800;
export const AC = 0x40000;
export const ID = 0x200000;
export const ARITH = CF | PF | AF | ZF | SF | OF;

const PARITY = new Uint8Array(256);
for (let v = 0; v < 256; v++) {
  let p = 1;
  for (let b = 0; b < 8; b++) p ^= (v >> b) & 1;
  PARITY[v] = p;
}

/** Sign bit (0/1) of a value of `sz` bytes. */
export function signOf(lo: number, hi: number, sz: number): number {
  switch (sz) {
    case 1: return (lo >>> 7) & 1;
    case 2: return (lo >>> 15) & 1;
    case 4: return lo >>> 31;
    default: return hi >>> 31;
  }
}

/** Unsigned a < b for values of `sz` bytes in the lazy-flag representation. */
function ult(aLo: number, aHi: number, bLo: number, bHi: number, sz: number): boolean {
  if (sz === 8 && aHi !== bHi) return aHi >>> 0 < bHi >>> 0;
  return aLo >>> 0 < bLo >>> 0;
}

export function getCF(c: Cpu): number {
  switch (c.fop) {
    case FOp.None: return c.flags & CF;
    case FOp.Add: return ult(c.fr, c.frH, c.fa, c.faH, c.fsz) ? 1 : 0;
    case FOp.Adc:
      return ult(c.fr, c.frH, c.fa, c.faH, c.fsz) || (c.fcf !== 0 && c.fr === c.fa && c.frH === c.faH) ? 1 : 0;
    case FOp.Sub: return ult(c.fa, c.faH, c.fb, c.fbH, c.fsz) ? 1 : 0;
    case FOp.Sbb:
      return ult(c.fa, c.faH, c.fb, c.fbH, c.fsz) || (c.fcf !== 0 && c.fa === c.fb && c.faH === c.fbH) ? 1 : 0;
    case FOp.Logic: return 0;
    default: return c.fcf; // Inc, Dec (carried over), Shift (eager)
  }
}

export function getZF(c: Cpu): number {
  if (c.fop === FOp.None) return (c.flags >>> 6) & 1;
  return (c.fr | c.frH) === 0 ? 1 : 0;
}

export function getSF(c: Cpu): number {
  if (c.fop === FOp.None) return (c.flags >>> 7) & 1;
  return signOf(c.fr, c.frH, c.fsz);
}

export function getPF(c: Cpu): number {
  if (c.fop === FOp.None) return (c.flags >>> 2) & 1;
  return PARITY[c.fr & 0xff];
}

export function getAF(c: Cpu): number {
  switch (c.fop) {
    case FOp.None: return (c.flags >>> 4) & 1;
    case FOp.Logic:
    case FOp.Shift: return 0; // undefined by the SDM; hardware leaves 0 for logic ops
    default: return ((c.fa ^ c.fb ^ c.fr) >>> 4) & 1;
  }
}

export function getOF(c: Cpu): number {
  const sz = c.fsz;
  switch (c.fop) {
    case FOp.None: return (c.flags >>> 11) & 1;
    case FOp.Add:
    case FOp.Adc:
      return signOf((c.fa ^ c.fr) & (c.fb ^ c.fr), (c.faH ^ c.frH) & (c.fbH ^ c.frH), sz);
    case FOp.Sub:
    case FOp.Sbb:
      return signOf((c.fa ^ c.fb) & (c.fa ^ c.fr), (c.faH ^ c.fbH) & (c.faH ^ c.frH), sz);
    case FOp.Logic: return 0;
    case FOp.Inc: // positive operand wrapped to negative
      return signOf(c.fa, c.faH, sz) === 0 && signOf(c.fr, c.frH, sz) === 1 ? 1 : 0;
    case FOp.Dec: // operand was the smallest signed value
      return signOf(c.fa, c.faH, sz) === 1 && signOf(c.fr, c.frH, sz) === 0 ? 1 : 0;
    default: return c.fof;
  }
}

/** The full RFLAGS value (arithmetic bits materialized from the lazy state). */
export function getFlags(c: Cpu): number {
  if (c.fop === FOp.None) return c.flags | 2;
  return (
    (c.flags & ~ARITH) |
    2 |
    getCF(c) |
    (getPF(c) << 2) |
    (getAF(c) << 4) |
    (getZF(c) << 6) |
    (getSF(c) << 7) |
    (getOF(c) << 11)
  );
}

/**
 * Record a result whose CF and OF are computed eagerly (shifts, multiplies): SF/ZF/PF come
 * from the result (r, rH in the lazy representation above), AF reads 0.
 */
export function setEagerFlags(c: Cpu, sz: number, r: number, rH: number, cf: number, of: number): void {
  c.fop = FOp.Shift;
  c.fsz = sz;
  c.fr = r;
  c.frH = rH;
  c.fa = 0; c.faH = 0; c.fb = 0; c.fbH = 0;
  c.fcf = cf;
  c.fof = of;
}

/** Overwrite RFLAGS (POPF, IRET, SAHF...): the lazy state is dropped. */
export function setFlags(c: Cpu, v: number): void {
  c.flags = (v & ~0x8028) | 2; // bits 3, 5 and 15 read as 0, bit 1 as 1
  c.fop = FOp.None;
}

/** Materialize, then set or clear one arithmetic flag bit. */
export function putFlag(c: Cpu, bit: number, on: number | boolean): void {
  if (c.fop !== FOp.None) setFlags(c, getFlags(c));
  if (on) c.flags |= bit;
  else c.flags &= ~bit;
}

/** Evaluate condition code 0..15 (Jcc/SETcc/CMOVcc encoding). */
export function cond(c: Cpu, cc: number): boolean {
  // Fast paths for the common CMP/SUB and TEST/AND producers.
  if (c.fop === FOp.Sub) {
    const sz = c.fsz;
    switch (cc) {
      case 2: return ult(c.fa, c.faH, c.fb, c.fbH, sz);
      case 3: return !ult(c.fa, c.faH, c.fb, c.fbH, sz);
      case 4: return (c.fr | c.frH) === 0;
      case 5: return (c.fr | c.frH) !== 0;
      case 6: return (c.fr | c.frH) === 0 || ult(c.fa, c.faH, c.fb, c.fbH, sz);
      case 7: return (c.fr | c.frH) !== 0 && !ult(c.fa, c.faH, c.fb, c.fbH, sz);
    }
  } else if (c.fop === FOp.Logic) {
    switch (cc) {
      case 4: return (c.fr | c.frH) === 0;
      case 5: return (c.fr | c.frH) !== 0;
    }
  }
  let r: boolean;
  switch (cc >> 1) {
    case 0: r = getOF(c) === 1; break;
    case 1: r = getCF(c) === 1; break;
    case 2: r = getZF(c) === 1; break;
    case 3: r = (getCF(c) | getZF(c)) === 1; break;
    case 4: r = getSF(c) === 1; break;
    case 5: r = getPF(c) === 1; break;
    case 6: r = getSF(c) !== getOF(c); break;
    default: r = getZF(c) === 1 || getSF(c) !== getOF(c); break;
  }
  return (cc & 1) === 0 ? r : !r;
}
