// Float shuffles: SHUFPS/SHUFPD (0F C6 ib) and UNPCKLPS/UNPCKHPS/UNPCKLPD/UNPCKHPD (0F 14/15).
// Pure lane moves on the bit patterns (no MXCSR effects).

import { OpF } from '../optable.js';
import { A, B, T, type Kernel, sse, xK } from './sse-common.js';

const shufps: Kernel = (_n, imm) => {
  T[0] = A[imm & 3];
  T[1] = A[(imm >> 2) & 3];
  T[2] = B[(imm >> 4) & 3];
  T[3] = B[(imm >> 6) & 3];
  A[0] = T[0]; A[1] = T[1]; A[2] = T[2]; A[3] = T[3];
};
const shufpd: Kernel = (_n, imm) => {
  const a = (imm & 1) << 1, b = imm & 2;
  T[0] = A[a]; T[1] = A[a + 1];
  A[2] = B[b]; A[3] = B[b + 1];
  A[0] = T[0]; A[1] = T[1];
};
sse(0x1c6, 'shufps', { none: xK(shufps), p66: xK(shufpd) }, OpF.Ib);

const unpcklps: Kernel = () => {
  A[3] = B[1]; A[2] = A[1]; A[1] = B[0];
};
const unpckhps: Kernel = () => {
  A[0] = A[2]; A[1] = B[2]; A[2] = A[3]; A[3] = B[3];
};
const unpcklpd: Kernel = () => {
  A[2] = B[0]; A[3] = B[1];
};
const unpckhpd: Kernel = () => {
  A[0] = A[2]; A[1] = A[3]; A[2] = B[2]; A[3] = B[3];
};
sse(0x114, 'unpcklps', { none: xK(unpcklps), p66: xK(unpcklpd) });
sse(0x115, 'unpckhps', { none: xK(unpckhps), p66: xK(unpckhpd) });
