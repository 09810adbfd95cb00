// Packed integer instructions, shared by the MMX (no prefix, 64-bit) and SSE2 (66, 128-bit)
// forms: each kernel works on A = op(A, B) over n 32-bit lanes (sse-common.ts).
// PADD/PSUB (wrapping and saturating), multiplies, averages, min/max, PSADBW, compares,
// logic, shifts (by register and by immediate, PSLLDQ/PSRLDQ), packs, unpacks, PSHUF*,
// PINSRW/PEXTRW. PAND/POR/PXOR/PCMPEQB/PMINUB on XMM have direct handlers: glibc's string
// functions are made of them.

import type { Cpu } from '../cpu.js';
import type { Instr } from '../instr.js';
import { ea, setReg } from './operands.js';
import {
  A, AI16, AI8, AU16, AU8, B, BI16, BI8, BU16, BU8, T, TU16, TU8, intOp, intOpX, ld128,
  loadA, loadAM, mmxEnter, mK, nmFault, regOnly, rm, setMM, srcM, srcX, sse, storeA, syncRaw,
  type Kernel, xK,
} from './sse-common.js';
import { OpF } from '../optable.js';

// ---- add / subtract ----

const paddb: Kernel = (n) => {
  for (let k = 0; k < n; k++) {
    const a = A[k], b = B[k];
    A[k] = ((a & 0x7f7f7f7f) + (b & 0x7f7f7f7f)) ^ ((a ^ b) & 0x80808080);
  }
};
const paddw: Kernel = (n) => {
  for (let k = 0; k < n; k++) {
    const a = A[k], b = B[k];
    A[k] = ((a & 0x7fff7fff) + (b & 0x7fff7fff)) ^ ((a ^ b) & 0x80008000);
  }
};
const paddd: Kernel = (n) => {
  for (let k = 0; k < n; k++) A[k] = (A[k] + B[k]) | 0;
};
const paddq: Kernel = (n) => {
  for (let k = 0; k < n; k += 2) {
    const lo = (A[k] >>> 0) + (B[k] >>> 0);
    A[k] = lo | 0;
    A[k + 1] = (A[k + 1] + B[k + 1] + (lo > 0xffffffff ? 1 : 0)) | 0;
  }
};
const psubb: Kernel = (n) => {
  for (let k = 0; k < n; k++) {
    const a = A[k], b = B[k];
    A[k] = ((a | 0x80808080) - (b & 0x7f7f7f7f)) ^ ((a ^ ~b) & 0x80808080);
  }
};
const psubw: Kernel = (n) => {
  for (let k = 0; k < n; k++) {
    const a = A[k], b = B[k];
    A[k] = ((a | 0x80008000) - (b & 0x7fff7fff)) ^ ((a ^ ~b) & 0x80008000);
  }
};
const psubd: Kernel = (n) => {
  for (let k = 0; k < n; k++) A[k] = (A[k] - B[k]) | 0;
};
const psubq: Kernel = (n) => {
  for (let k = 0; k < n; k += 2) {
    const borrow = A[k] >>> 0 < B[k] >>> 0 ? 1 : 0;
    A[k] = (A[k] - B[k]) | 0;
    A[k + 1] = (A[k + 1] - B[k + 1] - borrow) | 0;
  }
};

function sat8(v: number): number {
  return v > 127 ? 127 : v < -128 ? -128 : v;
}
function satU8(v: number): number {
  return v > 255 ? 255 : v < 0 ? 0 : v;
}
function sat16(v: number): number {
  return v > 32767 ? 32767 : v < -32768 ? -32768 : v;
}
function satU16(v: number): number {
  return v > 65535 ? 65535 : v < 0 ? 0 : v;
}

const paddsb: Kernel = (n) => { for (let k = 0; k < 4 * n; k++) AI8[k] = sat8(AI8[k] + BI8[k]); };
const paddusb: Kernel = (n) => { for (let k = 0; k < 4 * n; k++) AU8[k] = satU8(AU8[k] + BU8[k]); };
const psubsb: Kernel = (n) => { for (let k = 0; k < 4 * n; k++) AI8[k] = sat8(AI8[k] - BI8[k]); };
const psubusb: Kernel = (n) => { for (let k = 0; k < 4 * n; k++) AU8[k] = satU8(AU8[k] - BU8[k]); };
const paddsw: Kernel = (n) => { for (let k = 0; k < 2 * n; k++) AI16[k] = sat16(AI16[k] + BI16[k]); };
const paddusw: Kernel = (n) => { for (let k = 0; k < 2 * n; k++) AU16[k] = satU16(AU16[k] + BU16[k]); };
const psubsw: Kernel = (n) => { for (let k = 0; k < 2 * n; k++) AI16[k] = sat16(AI16[k] - BI16[k]); };
const psubusw: Kernel = (n) => { for (let k = 0; k < 2 * n; k++) AU16[k] = satU16(AU16[k] - BU16[k]); };

// ---- multiply ----

const pmullw: Kernel = (n) => { for (let k = 0; k < 2 * n; k++) AI16[k] = Math.imul(AI16[k], BI16[k]); };
const pmulhw: Kernel = (n) => { for (let k = 0; k < 2 * n; k++) AI16[k] = Math.imul(AI16[k], BI16[k]) >> 16; };
const pmulhuw: Kernel = (n) => { for (let k = 0; k < 2 * n; k++) AU16[k] = (AU16[k] * BU16[k]) >>> 16; };

/** High 32 bits of the unsigned 64-bit product of two uint32. */
export function mulhu32(a: number, b: number): number {
  const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
  const lh = al * bh, hl = ah * bl;
  const mid = ((al * bl) >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (ah * bh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) | 0;
}
const pmuludq: Kernel = (n) => {
  for (let k = 0; k < n; k += 2) {
    const a = A[k] >>> 0, b = B[k] >>> 0;
    A[k] = Math.imul(a, b);
    A[k + 1] = mulhu32(a, b);
  }
};
const pmaddwd: Kernel = (n) => {
  for (let k = 0; k < n; k++) {
    A[k] = (Math.imul(AI16[2 * k], BI16[2 * k]) + Math.imul(AI16[2 * k + 1], BI16[2 * k + 1])) | 0;
  }
};

// ---- average, min, max, sum of absolute differences ----

const pavgb: Kernel = (n) => { for (let k = 0; k < 4 * n; k++) AU8[k] = (AU8[k] + BU8[k] + 1) >> 1; };
const pavgw: Kernel = (n) => { for (let k = 0; k < 2 * n; k++) AU16[k] = (AU16[k] + BU16[k] + 1) >> 1; };
const pminub: Kernel = (n) => { for (let k = 0; k < 4 * n; k++) if (BU8[k] < AU8[k]) AU8[k] = BU8[k]; };
const pmaxub: Kernel = (n) => { for (let k = 0; k < 4 * n; k++) if (BU8[k] > AU8[k]) AU8[k] = BU8[k]; };
const pminsw: Kernel = (n) => { for (let k = 0; k < 2 * n; k++) if (BI16[k] < AI16[k]) AI16[k] = BI16[k]; };
const pmaxsw: Kernel = (n) => { for (let k = 0; k < 2 * n; k++) if (BI16[k] > AI16[k]) AI16[k] = BI16[k]; };
const psadbw: Kernel = (n) => {
  for (let q = 0; q < n; q += 2) {
    let s = 0;
    for (let b = 4 * q; b < 4 * q + 8; b++) s += Math.abs(AU8[b] - BU8[b]);
    A[q] = s;
    A[q + 1] = 0;
  }
};

// ---- compare ----

const pcmpeqb: Kernel = (n) => { for (let k = 0; k < 4 * n; k++) AU8[k] = AU8[k] === BU8[k] ? 0xff : 0; };
const pcmpeqw: Kernel = (n) => { for (let k = 0; k < 2 * n; k++) AU16[k] = AU16[k] === BU16[k] ? 0xffff : 0; };
const pcmpeqd: Kernel = (n) => { for (let k = 0; k < n; k++) A[k] = A[k] === B[k] ? -1 : 0; };
const pcmpgtb: Kernel = (n) => { for (let k = 0; k < 4 * n; k++) AU8[k] = AI8[k] > BI8[k] ? 0xff : 0; };
const pcmpgtw: Kernel = (n) => { for (let k = 0; k < 2 * n; k++) AU16[k] = AI16[k] > BI16[k] ? 0xffff : 0; };
const pcmpgtd: Kernel = (n) => { for (let k = 0; k < n; k++) A[k] = A[k] > B[k] ? -1 : 0; };

// ---- logic ----

const pand: Kernel = (n) => { for (let k = 0; k < n; k++) A[k] &= B[k]; };
const pandn: Kernel = (n) => { for (let k = 0; k < n; k++) A[k] = ~A[k] & B[k]; };
const por: Kernel = (n) => { for (let k = 0; k < n; k++) A[k] |= B[k]; };
const pxor: Kernel = (n) => { for (let k = 0; k < n; k++) A[k] ^= B[k]; };

// ---- shifts ----
// The count is the whole low quadword of the source (B[0], B[1]); counts beyond the element
// width clear the element (logical) or fill it with the sign (arithmetic).

let cnt = 0;
function count(): number {
  return B[1] !== 0 || B[0] >>> 0 > 255 ? 255 : B[0];
}
function sllw(n: number): void {
  if (cnt > 15) { for (let k = 0; k < n; k++) A[k] = 0; return; }
  for (let k = 0; k < 2 * n; k++) AU16[k] = AU16[k] << cnt;
}
function srlw(n: number): void {
  if (cnt > 15) { for (let k = 0; k < n; k++) A[k] = 0; return; }
  for (let k = 0; k < 2 * n; k++) AU16[k] = AU16[k] >>> cnt;
}
function sraw(n: number): void {
  const s = cnt > 15 ? 15 : cnt;
  for (let k = 0; k < 2 * n; k++) AI16[k] = AI16[k] >> s;
}
function slld(n: number): void {
  if (cnt > 31) { for (let k = 0; k < n; k++) A[k] = 0; return; }
  for (let k = 0; k < n; k++) A[k] = A[k] << cnt;
}
function srld(n: number): void {
  if (cnt > 31) { for (let k = 0; k < n; k++) A[k] = 0; return; }
  for (let k = 0; k < n; k++) A[k] = A[k] >>> cnt;
}
function srad(n: number): void {
  const s = cnt > 31 ? 31 : cnt;
  for (let k = 0; k < n; k++) A[k] = A[k] >> s;
}
function sllq(n: number): void {
  const s = cnt;
  for (let k = 0; k < n; k += 2) {
    const lo = A[k], hi = A[k + 1];
    if (s > 63) { A[k] = 0; A[k + 1] = 0; }
    else if (s >= 32) { A[k + 1] = lo << (s - 32); A[k] = 0; }
    else if (s > 0) { A[k + 1] = (hi << s) | (lo >>> (32 - s)); A[k] = lo << s; }
  }
}
function srlq(n: number): void {
  const s = cnt;
  for (let k = 0; k < n; k += 2) {
    const lo = A[k], hi = A[k + 1];
    if (s > 63) { A[k] = 0; A[k + 1] = 0; }
    else if (s >= 32) { A[k] = hi >>> (s - 32); A[k + 1] = 0; }
    else if (s > 0) { A[k] = (lo >>> s) | (hi << (32 - s)); A[k + 1] = hi >>> s; }
  }
}
/** PSLLDQ / PSRLDQ: whole-register byte shifts (XMM only). */
function slldq(bytes: number): void {
  const s = bytes > 16 ? 16 : bytes;
  for (let k = 15; k >= 0; k--) AU8[k] = k >= s ? AU8[k - s] : 0;
}
function srldq(bytes: number): void {
  const s = bytes > 16 ? 16 : bytes;
  for (let k = 0; k < 16; k++) AU8[k] = k + s < 16 ? AU8[k + s] : 0;
}

function byReg(f: (n: number) => void): Kernel {
  return (n) => {
    cnt = count();
    f(n);
  };
}
intOp(0x1d1, 'psrlw', byReg(srlw));
intOp(0x1d2, 'psrld', byReg(srld));
intOp(0x1d3, 'psrlq', byReg(srlq));
intOp(0x1e1, 'psraw', byReg(sraw));
intOp(0x1e2, 'psrad', byReg(srad));
intOp(0x1f1, 'psllw', byReg(sllw));
intOp(0x1f2, 'pslld', byReg(slld));
intOp(0x1f3, 'psllq', byReg(sllq));

// Groups 12-14 (0F 71/72/73): shift the rm register by imm8; ModRM.reg selects the shift.
function shiftImmX(f: (n: number) => void) {
  return (c: Cpu, i: Instr): void => {
    if (c.ts) throw nmFault();
    loadA(c, i.rm);
    cnt = i.imm & 0xff;
    f(4);
    storeA(c, i.rm);
  };
}
function shiftImmM(f: (n: number) => void) {
  return (c: Cpu, i: Instr): void => {
    if (c.ts) throw nmFault();
    const k = i.rm & 7;
    loadAM(c, k);
    cnt = i.imm & 0xff;
    f(2);
    mmxEnter(c);
    setMM(c, k, A[0], A[1]);
  };
}
const psrldqX = (c: Cpu, i: Instr): void => {
  if (c.ts) throw nmFault();
  loadA(c, i.rm);
  srldq(i.imm & 0xff);
  storeA(c, i.rm);
};
const pslldqX = (c: Cpu, i: Instr): void => {
  if (c.ts) throw nmFault();
  loadA(c, i.rm);
  slldq(i.imm & 0xff);
  storeA(c, i.rm);
};
type Shift = (n: number) => void;
type XHandler = (c: Cpu, i: Instr) => void;
/** A shift group: ModRM.reg selects the shift (MMX and XMM), or a whole-XMM byte shift. */
function group(table: Record<number, Shift>, extraX: Record<number, XHandler> = {}) {
  const X: (XHandler | undefined)[] = [];
  const M: (XHandler | undefined)[] = [];
  for (let r = 0; r < 8; r++) {
    const f = table[r];
    X[r] = extraX[r] ?? (f ? shiftImmX(f) : undefined);
    M[r] = f ? shiftImmM(f) : undefined;
  }
  return {
    none: (i: Instr) => (i.mod === 3 ? M[i.reg & 7] : undefined),
    p66: (i: Instr) => (i.mod === 3 ? X[i.reg & 7] : undefined),
  };
}
sse(0x171, 'group12', group({ 2: srlw, 4: sraw, 6: sllw }), OpF.Ib);
sse(0x172, 'group13', group({ 2: srld, 4: srad, 6: slld }), OpF.Ib);
sse(0x173, 'group14', group({ 2: srlq, 6: sllq }, { 3: psrldqX, 7: pslldqX }), OpF.Ib);

// ---- pack / unpack ----

const packsswb: Kernel = (n) => {
  const w = 2 * n;
  for (let k = 0; k < w; k++) TU8[k] = sat8(AI16[k]) & 0xff;
  for (let k = 0; k < w; k++) TU8[w + k] = sat8(BI16[k]) & 0xff;
  for (let k = 0; k < n; k++) A[k] = T[k];
};
const packuswb: Kernel = (n) => {
  const w = 2 * n;
  for (let k = 0; k < w; k++) TU8[k] = satU8(AI16[k]);
  for (let k = 0; k < w; k++) TU8[w + k] = satU8(BI16[k]);
  for (let k = 0; k < n; k++) A[k] = T[k];
};
const packssdw: Kernel = (n) => {
  for (let k = 0; k < n; k++) TU16[k] = sat16(A[k]) & 0xffff;
  for (let k = 0; k < n; k++) TU16[n + k] = sat16(B[k]) & 0xffff;
  for (let k = 0; k < n; k++) A[k] = T[k];
};

/** Interleave elements of `e` bytes from the low (or high) halves of A and B. */
function unpack(e: number, high: boolean): Kernel {
  return (n) => {
    const half = 2 * n; // bytes per half
    const off = high ? half : 0;
    for (let k = 0; k < half; k += e) {
      for (let b = 0; b < e; b++) {
        TU8[2 * k + b] = AU8[off + k + b];
        TU8[2 * k + e + b] = BU8[off + k + b];
      }
    }
    for (let k = 0; k < n; k++) A[k] = T[k];
  };
}

/** MMX PUNPCKL* read a 32-bit memory operand (SDM: mm/m32). */
function mUnpackLow(k: Kernel): (i: Instr) => (c: Cpu, i: Instr) => void {
  const h = (c: Cpu, i: Instr): void => {
    if (c.ts) throw nmFault();
    const r = i.reg & 7;
    loadAM(c, r);
    if (i.mod === 3) srcM(c, i);
    else B[0] = c.m.rd32(ea(c, i));
    k(2, 0);
    mmxEnter(c);
    setMM(c, r, A[0], A[1]);
  };
  return () => h;
}
function unpackLowOp(op: number, name: string, e: number): void {
  const k = unpack(e, false);
  sse(op, name, { none: mUnpackLow(k), p66: xK(k) });
}
unpackLowOp(0x160, 'punpcklbw', 1);
unpackLowOp(0x161, 'punpcklwd', 2);
unpackLowOp(0x162, 'punpckldq', 4);
intOp(0x163, 'packsswb', packsswb);
intOp(0x164, 'pcmpgtb', pcmpgtb);
intOp(0x165, 'pcmpgtw', pcmpgtw);
intOp(0x166, 'pcmpgtd', pcmpgtd);
intOp(0x167, 'packuswb', packuswb);
intOp(0x168, 'punpckhbw', unpack(1, true));
intOp(0x169, 'punpckhwd', unpack(2, true));
intOp(0x16a, 'punpckhdq', unpack(4, true));
intOp(0x16b, 'packssdw', packssdw);
intOpX(0x16c, 'punpcklqdq', unpack(8, false));
intOpX(0x16d, 'punpckhqdq', unpack(8, true));

// ---- shuffles (0F 70) ----

const pshufd: Kernel = (_n, imm) => {
  for (let k = 0; k < 4; k++) A[k] = B[(imm >> (2 * k)) & 3];
};
const pshufhw: Kernel = (_n, imm) => {
  A[0] = B[0];
  A[1] = B[1];
  for (let k = 0; k < 4; k++) AU16[4 + k] = BU16[4 + ((imm >> (2 * k)) & 3)];
};
const pshuflw: Kernel = (_n, imm) => {
  for (let k = 0; k < 4; k++) AU16[k] = BU16[(imm >> (2 * k)) & 3];
  A[2] = B[2];
  A[3] = B[3];
};
const pshufw: Kernel = (_n, imm) => {
  for (let k = 0; k < 4; k++) AU16[k] = BU16[(imm >> (2 * k)) & 3];
};
sse(0x170, 'pshufd', { none: mK(pshufw), p66: xK(pshufd), f3: xK(pshufhw), f2: xK(pshuflw) }, OpF.Ib);

// ---- PINSRW / PEXTRW ----

function pinsrwX(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const v = i.mod === 3 ? c.lo[i.rm] : c.m.rd16(ea(c, i));
  const w = (i.reg << 3) + (i.imm & 7); // word index in the XMM file
  const x = c.xmm, d = w >> 1;
  x[d] = w & 1 ? (x[d] & 0xffff) | (v << 16) : (x[d] & ~0xffff) | (v & 0xffff);
}
function pinsrwM(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const v = i.mod === 3 ? c.lo[i.rm] : c.m.rd16(ea(c, i));
  const r = i.reg & 7;
  loadAM(c, r);
  AU16[i.imm & 3] = v;
  mmxEnter(c);
  setMM(c, r, A[0], A[1]);
}
function pextrwX(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const w = (i.rm << 3) + (i.imm & 7);
  const d = c.xmm[w >> 1];
  setReg(c, i.reg, 8, w & 1 ? d >>> 16 : d & 0xffff, 0);
}
function pextrwM(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  mmxEnter(c);
  const k = i.rm & 7;
  syncRaw(c, k);
  const w = i.imm & 3;
  const d = c.fpr[(k << 2) + (w >> 1)];
  setReg(c, i.reg, 8, w & 1 ? d >>> 16 : d & 0xffff, 0);
}
sse(0x1c4, 'pinsrw', { none: () => pinsrwM, p66: () => pinsrwX }, OpF.Ib);
sse(0x1c5, 'pextrw', { none: regOnly(pextrwM), p66: regOnly(pextrwX) }, OpF.Ib);

// ---- direct XMM handlers for the string-function core ----

function logicX(op: number) {
  const r = (c: Cpu, i: Instr): void => {
    if (c.ts) throw nmFault();
    const x = c.xmm, d = i.reg << 2, s = i.rm << 2;
    switch (op) {
      case 0: x[d] &= x[s]; x[d + 1] &= x[s + 1]; x[d + 2] &= x[s + 2]; x[d + 3] &= x[s + 3]; break;
      case 1: x[d] = ~x[d] & x[s]; x[d + 1] = ~x[d + 1] & x[s + 1]; x[d + 2] = ~x[d + 2] & x[s + 2]; x[d + 3] = ~x[d + 3] & x[s + 3]; break;
      case 2: x[d] |= x[s]; x[d + 1] |= x[s + 1]; x[d + 2] |= x[s + 2]; x[d + 3] |= x[s + 3]; break;
      default: x[d] ^= x[s]; x[d + 1] ^= x[s + 1]; x[d + 2] ^= x[s + 2]; x[d + 3] ^= x[s + 3];
    }
  };
  const m = (c: Cpu, i: Instr): void => {
    if (c.ts) throw nmFault();
    ld128(c, ea(c, i), B, 0, true);
    const x = c.xmm, d = i.reg << 2;
    switch (op) {
      case 0: x[d] &= B[0]; x[d + 1] &= B[1]; x[d + 2] &= B[2]; x[d + 3] &= B[3]; break;
      case 1: x[d] = ~x[d] & B[0]; x[d + 1] = ~x[d + 1] & B[1]; x[d + 2] = ~x[d + 2] & B[2]; x[d + 3] = ~x[d + 3] & B[3]; break;
      case 2: x[d] |= B[0]; x[d + 1] |= B[1]; x[d + 2] |= B[2]; x[d + 3] |= B[3]; break;
      default: x[d] ^= B[0]; x[d + 1] ^= B[1]; x[d + 2] ^= B[2]; x[d + 3] ^= B[3];
    }
  };
  return rm(r, m);
}
export const andX = logicX(0), andnX = logicX(1), orX = logicX(2), xorX = logicX(3);
sse(0x1db, 'pand', { none: mK(pand), p66: andX });
sse(0x1df, 'pandn', { none: mK(pandn), p66: andnX });
sse(0x1eb, 'por', { none: mK(por), p66: orX });
sse(0x1ef, 'pxor', { none: mK(pxor), p66: xorX });

/** Byte lanes equal: 0xff, else 0, for one 32-bit lane pair (SWAR). */
function eqBytes(a: number, b: number): number {
  const x = a ^ b; // zero bytes where equal
  const t = ((x & 0x7f7f7f7f) + 0x7f7f7f7f) | x; // top bit set where the byte is non-zero
  const ne = (t >>> 7) & 0x01010101;
  return ~(ne * 0xff);
}
function pcmpeqbX(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  srcX(c, i, true);
  const x = c.xmm, d = i.reg << 2;
  x[d] = eqBytes(x[d], B[0]);
  x[d + 1] = eqBytes(x[d + 1], B[1]);
  x[d + 2] = eqBytes(x[d + 2], B[2]);
  x[d + 3] = eqBytes(x[d + 3], B[3]);
}
sse(0x174, 'pcmpeqb', { none: mK(pcmpeqb), p66: () => pcmpeqbX });
intOp(0x175, 'pcmpeqw', pcmpeqw);
intOp(0x176, 'pcmpeqd', pcmpeqd);

function minubLane(a: number, b: number): number {
  let r = 0;
  for (let s = 0; s < 32; s += 8) {
    const x = (a >>> s) & 0xff, y = (b >>> s) & 0xff;
    r |= (x < y ? x : y) << s;
  }
  return r;
}
function pminubX(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  srcX(c, i, true);
  const x = c.xmm, d = i.reg << 2;
  x[d] = minubLane(x[d], B[0]);
  x[d + 1] = minubLane(x[d + 1], B[1]);
  x[d + 2] = minubLane(x[d + 2], B[2]);
  x[d + 3] = minubLane(x[d + 3], B[3]);
}
sse(0x1da, 'pminub', { none: mK(pminub), p66: () => pminubX });

// ---- the rest: generic kernels ----

intOp(0x1d4, 'paddq', paddq);
intOp(0x1d5, 'pmullw', pmullw);
intOp(0x1d8, 'psubusb', psubusb);
intOp(0x1d9, 'psubusw', psubusw);
intOp(0x1dc, 'paddusb', paddusb);
intOp(0x1dd, 'paddusw', paddusw);
intOp(0x1de, 'pmaxub', pmaxub);
intOp(0x1e0, 'pavgb', pavgb);
intOp(0x1e3, 'pavgw', pavgw);
intOp(0x1e4, 'pmulhuw', pmulhuw);
intOp(0x1e5, 'pmulhw', pmulhw);
intOp(0x1e8, 'psubsb', psubsb);
intOp(0x1e9, 'psubsw', psubsw);
intOp(0x1ea, 'pminsw', pminsw);
intOp(0x1ec, 'paddsb', paddsb);
intOp(0x1ed, 'paddsw', paddsw);
intOp(0x1ee, 'pmaxsw', pmaxsw);
intOp(0x1f4, 'pmuludq', pmuludq);
intOp(0x1f5, 'pmaddwd', pmaddwd);
intOp(0x1f6, 'psadbw', psadbw);
intOp(0x1f8, 'psubb', psubb);
intOp(0x1f9, 'psubw', psubw);
intOp(0x1fa, 'psubd', psubd);
intOp(0x1fb, 'psubq', psubq);
intOp(0x1fc, 'paddb', paddb);
intOp(0x1fd, 'paddw', paddw);
intOp(0x1fe, 'paddd', paddd);
