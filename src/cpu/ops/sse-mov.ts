// SSE/SSE2/MMX data movement: MOVAPS/MOVUPS/MOVAPD/MOVUPD/MOVDQA/MOVDQU, MOVSS/MOVSD,
// MOVLPS/MOVHPS/MOVLPD/MOVHPD/MOVLHPS/MOVHLPS, MOVD/MOVQ (XMM, MMX and GPR forms),
// MOVQ2DQ/MOVDQ2Q, non-temporal stores (MOVNTPS/PD/DQ/Q/I: ordinary stores here),
// MOVMSKPS/PD, PMOVMSKB, MASKMOVDQU/MASKMOVQ, EMMS.
//
// The full-register moves are what glibc's memcpy/memset/strlen run on: they get their own
// register and memory handlers instead of the generic kernel path.

import type { Cpu } from '../cpu.js';
import type { Instr } from '../instr.js';
import { def } from '../optable.js';
import { ea, setReg } from './operands.js';
import {
  AU8, BU8, loadAM, memOnly, mmxEnter, nmFault, regOnly, rm, setMM, srcM, sse, ld128, st128, syncRaw,
} from './sse-common.js';
import { join64 } from '../u64.js';

// ---- full 128-bit moves ----

function movXX(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const x = c.xmm, d = i.reg << 2, s = i.rm << 2;
  x[d] = x[s]; x[d + 1] = x[s + 1]; x[d + 2] = x[s + 2]; x[d + 3] = x[s + 3];
}
function movXXStore(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const x = c.xmm, d = i.rm << 2, s = i.reg << 2;
  x[d] = x[s]; x[d + 1] = x[s + 1]; x[d + 2] = x[s + 2]; x[d + 3] = x[s + 3];
}
function loadAligned(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  ld128(c, ea(c, i), c.xmm, i.reg << 2, true);
}
function loadUnaligned(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  ld128(c, ea(c, i), c.xmm, i.reg << 2, false);
}
function storeAligned(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  st128(c, ea(c, i), c.xmm, i.reg << 2, true);
}
function storeUnaligned(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  st128(c, ea(c, i), c.xmm, i.reg << 2, false);
}

const loadA = rm(movXX, loadAligned);
const loadU = rm(movXX, loadUnaligned);
const storeA = rm(movXXStore, storeAligned);
const storeU = rm(movXXStore, storeUnaligned);

// ---- scalar moves ----

function movssRR(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  c.xmm[i.reg << 2] = c.xmm[i.rm << 2];
}
function movssLoad(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const x = c.xmm, d = i.reg << 2;
  x[d] = c.m.rd32(ea(c, i));
  x[d + 1] = 0; x[d + 2] = 0; x[d + 3] = 0;
}
function movssStoreRR(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  c.xmm[i.rm << 2] = c.xmm[i.reg << 2];
}
function movssStore(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  c.m.wr32(ea(c, i), c.xmm[i.reg << 2]);
}
function movsdRR(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const x = c.xmm, d = i.reg << 2, s = i.rm << 2;
  x[d] = x[s]; x[d + 1] = x[s + 1];
}
function movsdLoad(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const x = c.xmm, d = i.reg << 2;
  x[d] = c.m.rd64(ea(c, i));
  x[d + 1] = c.m.hi; x[d + 2] = 0; x[d + 3] = 0;
}
function movsdStoreRR(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const x = c.xmm, d = i.rm << 2, s = i.reg << 2;
  x[d] = x[s]; x[d + 1] = x[s + 1];
}
/** Store the low quadword (MOVSD, MOVLPS, MOVLPD, MOVQ m64, xmm). */
function storeLow64(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const x = c.xmm, s = i.reg << 2;
  c.m.wr64(ea(c, i), x[s], x[s + 1]);
}
function storeHigh64(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const x = c.xmm, s = i.reg << 2;
  c.m.wr64(ea(c, i), x[s + 2], x[s + 3]);
}
function loadLow64(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const x = c.xmm, d = i.reg << 2;
  x[d] = c.m.rd64(ea(c, i));
  x[d + 1] = c.m.hi;
}
function loadHigh64(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const x = c.xmm, d = i.reg << 2;
  x[d + 2] = c.m.rd64(ea(c, i));
  x[d + 3] = c.m.hi;
}
function movhlps(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const x = c.xmm, d = i.reg << 2, s = i.rm << 2;
  x[d] = x[s + 2]; x[d + 1] = x[s + 3];
}
function movlhps(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const x = c.xmm, d = i.reg << 2, s = i.rm << 2;
  x[d + 2] = x[s]; x[d + 3] = x[s + 1];
}

sse(0x110, 'movups', { none: loadU, p66: loadU, f3: rm(movssRR, movssLoad), f2: rm(movsdRR, movsdLoad) });
sse(0x111, 'movups', { none: storeU, p66: storeU, f3: rm(movssStoreRR, movssStore), f2: rm(movsdStoreRR, storeLow64) });
sse(0x112, 'movlps', { none: rm(movhlps, loadLow64), p66: memOnly(loadLow64) });
sse(0x113, 'movlps', { none: memOnly(storeLow64), p66: memOnly(storeLow64) });
sse(0x116, 'movhps', { none: rm(movlhps, loadHigh64), p66: memOnly(loadHigh64) });
sse(0x117, 'movhps', { none: memOnly(storeHigh64), p66: memOnly(storeHigh64) });
sse(0x128, 'movaps', { none: loadA, p66: loadA });
sse(0x129, 'movaps', { none: storeA, p66: storeA });
sse(0x12b, 'movntps', { none: memOnly(storeAligned), p66: memOnly(storeAligned) });
sse(0x16f, 'movdqa', { none: rm(movqMM, movqMMLoad), p66: loadA, f3: loadU });
sse(0x17f, 'movdqa', { none: rm(movqMMStoreRR, movqMMStore), p66: storeA, f3: storeU });
sse(0x1e7, 'movntdq', { none: memOnly(movqMMStore), p66: memOnly(storeAligned) });

// ---- MOVD / MOVQ ----

function movdXR(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const x = c.xmm, d = i.reg << 2;
  x[d] = i.mod === 3 ? c.lo[i.rm] : c.m.rd32(ea(c, i));
  x[d + 1] = 0; x[d + 2] = 0; x[d + 3] = 0;
}
function movqXR(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const x = c.xmm, d = i.reg << 2;
  if (i.mod === 3) {
    x[d] = c.lo[i.rm]; x[d + 1] = c.hi[i.rm];
  } else {
    x[d] = c.m.rd64(ea(c, i)); x[d + 1] = c.m.hi;
  }
  x[d + 2] = 0; x[d + 3] = 0;
}
function movdRX(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const v = c.xmm[i.reg << 2];
  if (i.mod === 3) setReg(c, i.rm, 4, v, 0);
  else c.m.wr32(ea(c, i), v);
}
function movqRX(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const x = c.xmm, s = i.reg << 2;
  if (i.mod === 3) setReg(c, i.rm, 8, x[s], x[s + 1]);
  else c.m.wr64(ea(c, i), x[s], x[s + 1]);
}
/** F3 0F 7E: MOVQ xmm, xmm/m64 (upper quadword zeroed). */
function movqXX(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const x = c.xmm, d = i.reg << 2;
  if (i.mod === 3) {
    const s = i.rm << 2;
    x[d] = x[s]; x[d + 1] = x[s + 1];
  } else {
    x[d] = c.m.rd64(ea(c, i)); x[d + 1] = c.m.hi;
  }
  x[d + 2] = 0; x[d + 3] = 0;
}
/** 66 0F D6: MOVQ xmm/m64, xmm (a register destination has its upper quadword zeroed). */
function movqXXStore(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const x = c.xmm, d = i.rm << 2, s = i.reg << 2;
  x[d] = x[s]; x[d + 1] = x[s + 1]; x[d + 2] = 0; x[d + 3] = 0;
}

// MMX forms: #NM first, memory next, and only then the switch to MMX state (TOP = 0, tags
// valid), so a faulting access leaves the x87 state as it was (as the host CPU does).

/** Value of mm k (low, high in c.rh). */
function mmLo(c: Cpu, k: number): number {
  if (!c.fprRaw[k]) syncRaw(c, k);
  c.rh = c.fpr[(k << 2) + 1];
  return c.fpr[k << 2];
}
function movdMR(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const v = i.mod === 3 ? c.lo[i.rm] : c.m.rd32(ea(c, i));
  mmxEnter(c);
  setMM(c, i.reg & 7, v, 0);
}
function movqMR(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  let lo: number, hi: number;
  if (i.mod === 3) {
    lo = c.lo[i.rm]; hi = c.hi[i.rm];
  } else {
    lo = c.m.rd64(ea(c, i)); hi = c.m.hi;
  }
  mmxEnter(c);
  setMM(c, i.reg & 7, lo, hi);
}
function movdRM(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const v = mmLo(c, i.reg & 7);
  if (i.mod === 3) setReg(c, i.rm, 4, v, 0);
  else c.m.wr32(ea(c, i), v);
  mmxEnter(c);
}
function movqRM(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const lo = mmLo(c, i.reg & 7), hi = c.rh;
  if (i.mod === 3) setReg(c, i.rm, 8, lo, hi);
  else c.m.wr64(ea(c, i), lo, hi);
  mmxEnter(c);
}
function movqMM(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const lo = mmLo(c, i.rm & 7), hi = c.rh;
  mmxEnter(c);
  setMM(c, i.reg & 7, lo, hi);
}
function movqMMLoad(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const lo = c.m.rd64(ea(c, i)), hi = c.m.hi;
  mmxEnter(c);
  setMM(c, i.reg & 7, lo, hi);
}
function movqMMStoreRR(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const lo = mmLo(c, i.reg & 7), hi = c.rh;
  mmxEnter(c);
  setMM(c, i.rm & 7, lo, hi);
}
function movqMMStore(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const lo = mmLo(c, i.reg & 7), hi = c.rh;
  c.m.wr64(ea(c, i), lo, hi);
  mmxEnter(c);
}
/** F3 0F D6: MOVQ2DQ xmm, mm. */
function movq2dq(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const lo = mmLo(c, i.rm & 7), hi = c.rh;
  mmxEnter(c);
  const x = c.xmm, d = i.reg << 2;
  x[d] = lo; x[d + 1] = hi; x[d + 2] = 0; x[d + 3] = 0;
}
/** F2 0F D6: MOVDQ2Q mm, xmm. */
function movdq2q(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  mmxEnter(c);
  const s = i.rm << 2;
  setMM(c, i.reg & 7, c.xmm[s], c.xmm[s + 1]);
}

sse(0x16e, 'movd', {
  none: (i) => (i.opsz === 8 ? movqMR : movdMR),
  p66: (i) => (i.opsz === 8 ? movqXR : movdXR),
});
sse(0x17e, 'movd', {
  none: (i) => (i.opsz === 8 ? movqRM : movdRM),
  p66: (i) => (i.opsz === 8 ? movqRX : movdRX),
  f3: () => movqXX,
});
sse(0x1d6, 'movq', { p66: rm(movqXXStore, storeLow64), f3: regOnly(movq2dq), f2: regOnly(movdq2q) });

// MOVNTI m32/m64, r: an ordinary store (no caches to bypass).
function movnti(c: Cpu, i: Instr): void {
  const a = ea(c, i);
  if (i.opsz === 8) c.m.wr64(a, c.lo[i.reg], c.hi[i.reg]);
  else c.m.wr32(a, c.lo[i.reg]);
}
sse(0x1c3, 'movnti', { none: memOnly(movnti) });

// ---- masks ----

function movmskps(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const x = c.xmm, s = i.rm << 2;
  const v = (x[s] >>> 31) | ((x[s + 1] >>> 31) << 1) | ((x[s + 2] >>> 31) << 2) | ((x[s + 3] >>> 31) << 3);
  setReg(c, i.reg, 8, v, 0);
}
function movmskpd(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const x = c.xmm, s = i.rm << 2;
  setReg(c, i.reg, 8, (x[s + 1] >>> 31) | ((x[s + 3] >>> 31) << 1), 0);
}
sse(0x150, 'movmskps', { none: regOnly(movmskps), p66: regOnly(movmskpd) });

/** Sign bits of the 8 bytes of a 32-bit pair gathered into 8 bits. */
function msb8(lo: number, hi: number): number {
  const l = lo & 0x80808080, h = hi & 0x80808080;
  return (
    ((l >>> 7) & 1) | ((l >>> 14) & 2) | ((l >>> 21) & 4) | ((l >>> 28) & 8) |
    ((h >>> 3) & 0x10) | ((h >>> 10) & 0x20) | ((h >>> 17) & 0x40) | ((h >>> 24) & 0x80)
  );
}
function pmovmskbX(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const x = c.xmm, s = i.rm << 2;
  const v = msb8(x[s], x[s + 1]) | (msb8(x[s + 2], x[s + 3]) << 8);
  c.lo[i.reg] = v;
  c.hi[i.reg] = 0;
}
function pmovmskbM(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const lo = mmLo(c, i.rm & 7);
  mmxEnter(c);
  c.lo[i.reg] = msb8(lo, c.rh);
  c.hi[i.reg] = 0;
}
sse(0x1d7, 'pmovmskb', { none: regOnly(pmovmskbM), p66: regOnly(pmovmskbX) });

/** MASKMOVDQU / MASKMOVQ: store the bytes of reg whose mask byte (rm) has its top bit set at [rDI]. */
function maskmovdqu(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const base = maskBase(c, i);
  const u8 = c.xmmU8, s = i.reg << 4, k = i.rm << 4;
  // Probe the whole span first: a fault must leave memory untouched.
  for (let b = 0; b < 16; b++) if (u8[k + b] & 0x80) c.m.writableOffset(base + b);
  for (let b = 0; b < 16; b++) if (u8[k + b] & 0x80) c.m.wr8(base + b, u8[s + b]);
}
function maskmovq(c: Cpu, i: Instr): void {
  if (c.ts) throw nmFault();
  const base = maskBase(c, i);
  loadAM(c, i.reg & 7);
  srcM(c, i);
  for (let b = 0; b < 8; b++) if (BU8[b] & 0x80) c.m.writableOffset(base + b);
  for (let b = 0; b < 8; b++) if (BU8[b] & 0x80) c.m.wr8(base + b, AU8[b]);
  mmxEnter(c);
}
function maskBase(c: Cpu, i: Instr): number {
  // DS:rDI (segment overrides apply; 67 selects EDI).
  let a = join64(c.hi[7], c.lo[7]);
  if (i.adsz === 4) a = c.lo[7] >>> 0;
  if (i.seg === 4) a += c.fsBase;
  else if (i.seg === 5) a += c.gsBase;
  return a;
}
sse(0x1f7, 'maskmovdqu', { none: regOnly(maskmovq), p66: regOnly(maskmovdqu) });

// ---- EMMS ----
def(0x177, 0, 'emms', (c: Cpu) => {
  if (c.ts) throw nmFault();
  // SDM table 9-2: EMMS empties every tag and, like the other MMX instructions, sets TOP = 0.
  c.fpuTop = 0;
  c.ftw = 0xffff;
});
