// FXSAVE / FXRSTOR (0F AE /0 /1, with and without REX.W) and LDMXCSR / STMXCSR (0F AE /2 /3),
// hooked into group 15 through `groupAE` from system.ts.
//
// The 512-byte image (Intel SDM vol. 1, table 10-2): FCW, FSW, abridged FTW, FOP, FIP, FDP,
// MXCSR, MXCSR_MASK, ST0-7 in stack order (10 bytes in 16-byte slots), XMM0-15; bytes
// 416-511 are left alone. x87 registers whose exact 80-bit image is known (c.fpr) are stored
// bit for bit, so FXRSTOR+FXSAVE round-trips whatever a guest kernel saved for a process.
// FOP, FIP and FDP are not tracked: they are stored as zero, which is what AMD processors
// store when no x87 exception is pending (AMD APM vol. 5, FXSAVE); the 32-bit format (no
// REX.W) differs from the 64-bit one only in those fields, so both forms write the same bytes.

import type { Cpu } from '../cpu.js';
import { gpFault } from '../fault.js';
import type { Handler, Instr } from '../instr.js';
import { groupAE } from './system.js';
import { ea } from './operands.js';
import { alignFault, nmFault } from './sse-common.js';
import { f64ToFp80, fp80ToF64 } from './fp80.js';

/** MXCSR bits this CPU implements (DAZ included): reported in the image, enforced on load. */
export const MXCSR_MASK = 0xffff;

const IMG = new Uint8Array(512);
const IMGV = new DataView(IMG.buffer);
const X80 = new Int32Array(3);

/**
 * The status word as software sees it: TOP from c.fpuTop, and ES and B derived from the
 * exception flags and the FCW masks (the host CPU recomputes them the same way: a flag
 * whose exception is masked leaves ES clear, and FXRSTOR of a stale ES does not stick).
 */
export function fswValue(c: Cpu): number {
  const es = c.fsw & ~c.fcw & 0x3f ? 0x8080 : 0;
  return (c.fsw & ~0xb880) | ((c.fpuTop & 7) << 11) | es;
}

/** Fill the first 416 bytes of `out` with the FXSAVE image of c. */
export function fxsaveImage(c: Cpu, out: Uint8Array): void {
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  v.setUint16(0, c.fcw, true);
  v.setUint16(2, fswValue(c), true);
  let abridged = 0;
  for (let k = 0; k < 8; k++) if (((c.ftw >> (2 * k)) & 3) !== 3) abridged |= 1 << k;
  v.setUint8(4, abridged);
  v.setUint8(5, 0);
  v.setUint16(6, 0, true); // FOP
  for (let o = 8; o < 24; o += 4) v.setUint32(o, 0, true); // FIP, FDP (and FCS, FDS)
  v.setUint32(24, c.mxcsr, true);
  v.setUint32(28, MXCSR_MASK, true);
  for (let i = 0; i < 8; i++) {
    const p = (c.fpuTop + i) & 7;
    let lo: number, hi: number, se: number;
    if (c.fprRaw[p]) {
      lo = c.fpr[p << 2]; hi = c.fpr[(p << 2) + 1]; se = c.fpr[(p << 2) + 2];
    } else {
      f64ToFp80(c.st[p], X80, 0);
      lo = X80[0]; hi = X80[1]; se = X80[2];
    }
    const o = 32 + 16 * i;
    v.setInt32(o, lo, true);
    v.setInt32(o + 4, hi, true);
    v.setUint16(o + 8, se & 0xffff, true);
    for (let b = 10; b < 16; b++) v.setUint8(o + b, 0);
  }
  for (let k = 0; k < 64; k++) v.setInt32(160 + 4 * k, c.xmm[k], true);
}

/** Load c's x87/SSE state from an FXSAVE image; a reserved MXCSR bit is #GP and changes nothing. */
export function fxrstorImage(c: Cpu, img: Uint8Array): void {
  const v = new DataView(img.buffer, img.byteOffset, img.byteLength);
  const mxcsr = v.getUint32(24, true);
  if (mxcsr & ~MXCSR_MASK) throw gpFault(`FXRSTOR: reserved MXCSR bits 0x${mxcsr.toString(16)}`);
  c.mxcsr = mxcsr;
  c.fcw = v.getUint16(0, true);
  const fsw = v.getUint16(2, true);
  c.fpuTop = (fsw >> 11) & 7;
  c.fsw = fsw & ~0xb880;
  const abridged = v.getUint8(4);
  let ftw = 0;
  for (let k = 0; k < 8; k++) if (!(abridged & (1 << k))) ftw |= 3 << (2 * k);
  c.ftw = ftw;
  for (let i = 0; i < 8; i++) {
    const p = (c.fpuTop + i) & 7;
    const o = 32 + 16 * i;
    const lo = v.getInt32(o, true), hi = v.getInt32(o + 4, true), se = v.getUint16(o + 8, true);
    c.fpr[p << 2] = lo;
    c.fpr[(p << 2) + 1] = hi;
    c.fpr[(p << 2) + 2] = se;
    c.fprRaw[p] = 1;
    c.st[p] = fp80ToF64(lo, hi, se);
  }
  for (let k = 0; k < 64; k++) c.xmm[k] = v.getInt32(160 + 4 * k, true);
}

function fxsave(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const a = ea(c, i);
  if (a & 15) throw alignFault(a);
  // Probe both ends first: a fault must leave memory untouched.
  c.m.writableOffset(a);
  c.m.writableOffset(a + 415);
  fxsaveImage(c, IMG);
  for (let o = 0; o < 416; o += 8) c.m.wr64(a + o, IMGV.getInt32(o, true), IMGV.getInt32(o + 4, true));
}

function fxrstor(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const a = ea(c, i);
  if (a & 15) throw alignFault(a);
  for (let o = 0; o < 416; o += 8) {
    const lo = c.m.rd64(a + o);
    IMGV.setInt32(o, lo, true);
    IMGV.setInt32(o + 4, c.m.hi, true);
  }
  fxrstorImage(c, IMG);
}

function ldmxcsr(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const v = c.m.rd32(ea(c, i)) >>> 0;
  if (v & ~MXCSR_MASK) throw gpFault(`LDMXCSR: reserved MXCSR bits 0x${v.toString(16)}`);
  c.mxcsr = v;
}

function stmxcsr(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  c.m.wr32(ea(c, i), c.mxcsr);
}

const handlers: Handler[] = [fxsave, fxrstor, ldmxcsr, stmxcsr];
for (let r = 0; r < 4; r++) groupAE[r] = handlers[r];
