// The CPUID the interpreter answers: a coherent feature set that advertises exactly what is
// implemented (baseline x86-64: FPU, TSC, CX8, CMOV, FXSR, SSE, SSE2, CX16, POPCNT, LAHF, LZCNT,
// NX, SYSCALL, LM, RDTSCP). Hosts may adjust leaves (the hypervisor adds 0x40000000+).

import type { Cpu } from './cpu.js';

const VENDOR = 'GenuineIntel';
const BRAND = 'tsxen x86-64 interpreter';

/** Four characters of `s` from `at` as a CPUID register holds them (little-endian; past the end, NUL). */
export function str4(s: string, at: number): number {
  let v = 0;
  for (let k = 0; k < 4; k++) v |= (s.charCodeAt(at + k) || 0) << (8 * k);
  return v;
}

// Leaf 1 EDX: FPU(0) PSE(3) TSC(4) MSR(5) PAE(6) CX8(8) SEP(11)? no, PGE(13) CMOV(15) PAT(16)
// CLFSH(19) MMX(23) FXSR(24) SSE(25) SSE2(26).
export const LEAF1_EDX =
  (1 << 0) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 8) | (1 << 13) | (1 << 15) | (1 << 16) |
  (1 << 19) | (1 << 23) | (1 << 24) | (1 << 25) | (1 << 26);
// Leaf 1 ECX: CX16(13) POPCNT(23).
export const LEAF1_ECX = (1 << 13) | (1 << 23);
// 0x80000001 EDX: SYSCALL(11) NX(20) RDTSCP(27) LM(29); ECX: LAHF_LM(0) ABM/LZCNT(5).
export const EXT1_EDX = (1 << 11) | (1 << 20) | (1 << 27) | (1 << 29);
export const EXT1_ECX = (1 << 0) | (1 << 5);

/** Fill EAX, EBX, ECX, EDX for the leaf in EAX (subleaf in ECX). */
export function defaultCpuid(c: Cpu): void {
  const leaf = c.lo[0] >>> 0;
  let a = 0, b = 0, cc = 0, d = 0;
  switch (leaf) {
    case 0:
      a = 1;
      b = str4(VENDOR, 0); d = str4(VENDOR, 4); cc = str4(VENDOR, 8);
      break;
    case 1:
      a = 0x000306a9; // family 6 model 58 stepping 9: a plain SSE2-era signature
      b = (8 << 8) | (1 << 16); // CLFLUSH line 64 bytes, 1 logical processor
      cc = LEAF1_ECX;
      d = LEAF1_EDX;
      break;
    case 0x80000000: a = 0x80000008; break;
    case 0x80000001: cc = EXT1_ECX; d = EXT1_EDX; break;
    case 0x80000002: case 0x80000003: case 0x80000004: {
      const at = (leaf - 0x80000002) * 16;
      const s = BRAND.padEnd(48, '\0');
      a = str4(s, at); b = str4(s, at + 4); cc = str4(s, at + 8); d = str4(s, at + 12);
      break;
    }
    case 0x80000008: a = (48 << 8) | 40; break; // 48-bit linear, 40-bit physical
    default: break; // unknown leaves read as zero (Intel returns the highest basic leaf's data)
  }
  c.lo[0] = a; c.hi[0] = 0;
  c.lo[3] = b; c.hi[3] = 0;
  c.lo[1] = cc; c.hi[1] = 0;
  c.lo[2] = d; c.hi[2] = 0;
}
