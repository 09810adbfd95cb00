// The instruction forms the differential tests cover, grouped by family.

import type { Form, Lane } from './gen.js';

type Extra = Partial<Form>;

/** xmm, xmm/mem form. */
function X(name: string, pfx: number | undefined, op: number, mem: number, lane: Lane, extra: Extra = {}): Form {
  return { name, pfx, op: [op], reg: 'x', rm: 'x', mem, align: mem === 16, lane, ...extra };
}
/** mm, mm/m64 form. */
function M(name: string, op: number, lane: Lane, extra: Extra = {}): Form {
  return { name, op: [op], reg: 'm', rm: 'm', mem: 8, lane, ...extra };
}

// ---- floating point ----

const ARITH: [number, string][] = [
  [0x58, 'add'], [0x59, 'mul'], [0x5c, 'sub'], [0x5d, 'min'], [0x5e, 'div'], [0x5f, 'max'], [0x51, 'sqrt'],
];

export const floatArith: Form[] = ARITH.flatMap(([op, n]) => [
  X(`${n}ps`, undefined, op, 16, 'f32'),
  X(`${n}ss`, 0xf3, op, 4, 'f32'),
  X(`${n}pd`, 0x66, op, 16, 'f64'),
  X(`${n}sd`, 0xf2, op, 8, 'f64'),
]);

export const floatCompare: Form[] = [
  X('cmpps', undefined, 0xc2, 16, 'f32', { imm: true }),
  X('cmpss', 0xf3, 0xc2, 4, 'f32', { imm: true }),
  X('cmppd', 0x66, 0xc2, 16, 'f64', { imm: true }),
  X('cmpsd', 0xf2, 0xc2, 8, 'f64', { imm: true }),
  X('ucomiss', undefined, 0x2e, 4, 'f32'),
  X('comiss', undefined, 0x2f, 4, 'f32'),
  X('ucomisd', 0x66, 0x2e, 8, 'f64'),
  X('comisd', 0x66, 0x2f, 8, 'f64'),
];

export const floatLogicShuffle: Form[] = [
  X('andps', undefined, 0x54, 16, 'f32'), X('andpd', 0x66, 0x54, 16, 'f64'),
  X('andnps', undefined, 0x55, 16, 'f32'), X('andnpd', 0x66, 0x55, 16, 'f64'),
  X('orps', undefined, 0x56, 16, 'f32'), X('orpd', 0x66, 0x56, 16, 'f64'),
  X('xorps', undefined, 0x57, 16, 'f32'), X('xorpd', 0x66, 0x57, 16, 'f64'),
  X('shufps', undefined, 0xc6, 16, 'f32', { imm: true }), X('shufpd', 0x66, 0xc6, 16, 'f64', { imm: true }),
  X('unpcklps', undefined, 0x14, 16, 'f32'), X('unpcklpd', 0x66, 0x14, 16, 'f64'),
  X('unpckhps', undefined, 0x15, 16, 'f32'), X('unpckhpd', 0x66, 0x15, 16, 'f64'),
];

export const approx: Form[] = [
  X('rcpps', undefined, 0x53, 16, 'f32'), X('rcpss', 0xf3, 0x53, 4, 'f32'),
  X('rsqrtps', undefined, 0x52, 16, 'f32'), X('rsqrtss', 0xf3, 0x52, 4, 'f32'),
];

// ---- conversions ----

const G = (name: string, pfx: number, op: number, mem: number, lane: Lane, w: boolean): Form =>
  ({ name, pfx, op: [op], reg: 'x', rm: 'g', mem, lane, rexW: w });
const toG = (name: string, pfx: number, op: number, mem: number, lane: Lane, w: boolean): Form =>
  ({ name, pfx, op: [op], reg: 'g', rm: 'x', mem, lane, rexW: w, regWritesGpr: true });

export const conversions: Form[] = [
  G('cvtsi2ss r32', 0xf3, 0x2a, 4, 'i32', false), G('cvtsi2ss r64', 0xf3, 0x2a, 8, 'i32', true),
  G('cvtsi2sd r32', 0xf2, 0x2a, 4, 'i32', false), G('cvtsi2sd r64', 0xf2, 0x2a, 8, 'i32', true),
  toG('cvttss2si r32', 0xf3, 0x2c, 4, 'cvt32', false), toG('cvttss2si r64', 0xf3, 0x2c, 4, 'cvt32', true),
  toG('cvtss2si r32', 0xf3, 0x2d, 4, 'cvt32', false), toG('cvtss2si r64', 0xf3, 0x2d, 4, 'cvt32', true),
  toG('cvttsd2si r32', 0xf2, 0x2c, 8, 'cvt64', false), toG('cvttsd2si r64', 0xf2, 0x2c, 8, 'cvt64', true),
  toG('cvtsd2si r32', 0xf2, 0x2d, 8, 'cvt64', false), toG('cvtsd2si r64', 0xf2, 0x2d, 8, 'cvt64', true),
  X('cvtps2pd', undefined, 0x5a, 8, 'f32'), X('cvtpd2ps', 0x66, 0x5a, 16, 'f64'),
  X('cvtss2sd', 0xf3, 0x5a, 4, 'f32'), X('cvtsd2ss', 0xf2, 0x5a, 8, 'f64'),
  X('cvtdq2ps', undefined, 0x5b, 16, 'i32'), X('cvtps2dq', 0x66, 0x5b, 16, 'cvt32'),
  X('cvttps2dq', 0xf3, 0x5b, 16, 'cvt32'),
  X('cvttpd2dq', 0x66, 0xe6, 16, 'cvt64'), X('cvtdq2pd', 0xf3, 0xe6, 8, 'i32'), X('cvtpd2dq', 0xf2, 0xe6, 16, 'cvt64'),
];

/** Conversions with an MMX operand (need the MMX register state). */
export const mmxConversions: Form[] = [
  { name: 'cvtpi2ps', op: [0x2a], reg: 'x', rm: 'm', mem: 8, lane: 'i32' },
  { name: 'cvtpi2pd', pfx: 0x66, op: [0x2a], reg: 'x', rm: 'm', mem: 8, lane: 'i32' },
  { name: 'cvttps2pi', op: [0x2c], reg: 'm', rm: 'x', mem: 8, lane: 'cvt32' },
  { name: 'cvtps2pi', op: [0x2d], reg: 'm', rm: 'x', mem: 8, lane: 'cvt32' },
  { name: 'cvttpd2pi', pfx: 0x66, op: [0x2c], reg: 'm', rm: 'x', mem: 16, align: true, lane: 'cvt64' },
  { name: 'cvtpd2pi', pfx: 0x66, op: [0x2d], reg: 'm', rm: 'x', mem: 16, align: true, lane: 'cvt64' },
];

// ---- moves ----

export const moves: Form[] = [
  X('movups', undefined, 0x10, 16, 'int', { align: false }), X('movupd', 0x66, 0x10, 16, 'int', { align: false }),
  X('movss', 0xf3, 0x10, 4, 'int'), X('movsd', 0xf2, 0x10, 8, 'int'),
  X('movups st', undefined, 0x11, 16, 'int', { align: false }), X('movupd st', 0x66, 0x11, 16, 'int', { align: false }),
  X('movss st', 0xf3, 0x11, 4, 'int'), X('movsd st', 0xf2, 0x11, 8, 'int'),
  X('movlps/movhlps', undefined, 0x12, 8, 'int'), X('movlpd', 0x66, 0x12, 8, 'int', { memOnly: true }),
  X('movlps st', undefined, 0x13, 8, 'int', { memOnly: true }), X('movlpd st', 0x66, 0x13, 8, 'int', { memOnly: true }),
  X('movhps/movlhps', undefined, 0x16, 8, 'int'), X('movhpd', 0x66, 0x16, 8, 'int', { memOnly: true }),
  X('movhps st', undefined, 0x17, 8, 'int', { memOnly: true }), X('movhpd st', 0x66, 0x17, 8, 'int', { memOnly: true }),
  X('movaps', undefined, 0x28, 16, 'int'), X('movapd', 0x66, 0x28, 16, 'int'),
  X('movaps st', undefined, 0x29, 16, 'int'), X('movapd st', 0x66, 0x29, 16, 'int'),
  X('movntps', undefined, 0x2b, 16, 'int', { memOnly: true }), X('movntpd', 0x66, 0x2b, 16, 'int', { memOnly: true }),
  X('movmskps', undefined, 0x50, 0, 'f32', { reg: 'g', regWritesGpr: true }),
  X('movmskpd', 0x66, 0x50, 0, 'f64', { reg: 'g', regWritesGpr: true }),
  X('movd x,r/m32', 0x66, 0x6e, 4, 'int', { rm: 'g' }), X('movq x,r/m64', 0x66, 0x6e, 8, 'int', { rm: 'g', rexW: true }),
  X('movd r/m32,x', 0x66, 0x7e, 4, 'int', { rm: 'g' }), X('movq r/m64,x', 0x66, 0x7e, 8, 'int', { rm: 'g', rexW: true }),
  X('movq x,x/m64', 0xf3, 0x7e, 8, 'int'),
  X('movdqa', 0x66, 0x6f, 16, 'int'), X('movdqu', 0xf3, 0x6f, 16, 'int', { align: false }),
  X('movdqa st', 0x66, 0x7f, 16, 'int'), X('movdqu st', 0xf3, 0x7f, 16, 'int', { align: false }),
  X('movq x/m64,x', 0x66, 0xd6, 8, 'int'),
  X('pmovmskb x', 0x66, 0xd7, 0, 'int', { reg: 'g', regWritesGpr: true }),
  X('movntdq', 0x66, 0xe7, 16, 'int', { memOnly: true }),
  { name: 'movnti 32', op: [0xc3], reg: 'g', rm: 'g', mem: 4, memOnly: true, lane: 'int', regWritesGpr: false },
  { name: 'movnti 64', op: [0xc3], reg: 'g', rm: 'g', mem: 8, memOnly: true, lane: 'int', rexW: true, regWritesGpr: false },
  X('maskmovdqu', 0x66, 0xf7, 0, 'int'),
];

export const mmxMoves: Form[] = [
  { name: 'movd mm,r/m32', op: [0x6e], reg: 'm', rm: 'g', mem: 4, lane: 'int' },
  { name: 'movq mm,r/m64', op: [0x6e], reg: 'm', rm: 'g', mem: 8, lane: 'int', rexW: true },
  { name: 'movd r/m32,mm', op: [0x7e], reg: 'm', rm: 'g', mem: 4, lane: 'int' },
  { name: 'movq r/m64,mm', op: [0x7e], reg: 'm', rm: 'g', mem: 8, lane: 'int', rexW: true },
  M('movq mm,mm/m64', 0x6f, 'int'),
  M('movq mm/m64,mm', 0x7f, 'int'),
  M('movntq', 0xe7, 'int', { memOnly: true }),
  { name: 'movq2dq', pfx: 0xf3, op: [0xd6], reg: 'x', rm: 'm', lane: 'int' },
  { name: 'movdq2q', pfx: 0xf2, op: [0xd6], reg: 'm', rm: 'x', lane: 'int' },
  { name: 'pmovmskb mm', op: [0xd7], reg: 'g', rm: 'm', lane: 'int', regWritesGpr: true },
  M('maskmovq', 0xf7, 'int', { mem: 0 }),
  { name: 'emms', op: [0x77], reg: 'm', rm: 'm', lane: 'int', noModrm: true },
];

// ---- packed integers ----

const INT_OPS: [number, string, Lane?][] = [
  [0x60, 'punpcklbw'], [0x61, 'punpcklwd'], [0x62, 'punpckldq'], [0x63, 'packsswb'], [0x64, 'pcmpgtb'],
  [0x65, 'pcmpgtw'], [0x66, 'pcmpgtd'], [0x67, 'packuswb'], [0x68, 'punpckhbw'], [0x69, 'punpckhwd'],
  [0x6a, 'punpckhdq'], [0x6b, 'packssdw'], [0x74, 'pcmpeqb'], [0x75, 'pcmpeqw'], [0x76, 'pcmpeqd'],
  [0xd1, 'psrlw', 'cnt'], [0xd2, 'psrld', 'cnt'], [0xd3, 'psrlq', 'cnt'], [0xd4, 'paddq'],
  [0xd5, 'pmullw'], [0xd8, 'psubusb'], [0xd9, 'psubusw'], [0xda, 'pminub'], [0xdb, 'pand'], [0xdc, 'paddusb'],
  [0xdd, 'paddusw'], [0xde, 'pmaxub'], [0xdf, 'pandn'], [0xe0, 'pavgb'], [0xe1, 'psraw', 'cnt'],
  [0xe2, 'psrad', 'cnt'], [0xe3, 'pavgw'], [0xe4, 'pmulhuw'], [0xe5, 'pmulhw'], [0xe8, 'psubsb'],
  [0xe9, 'psubsw'], [0xea, 'pminsw'], [0xeb, 'por'], [0xec, 'paddsb'], [0xed, 'paddsw'], [0xee, 'pmaxsw'],
  [0xef, 'pxor'], [0xf1, 'psllw', 'cnt'], [0xf2, 'pslld', 'cnt'], [0xf3, 'psllq', 'cnt'],
  [0xf4, 'pmuludq'], [0xf5, 'pmaddwd'], [0xf6, 'psadbw'], [0xf8, 'psubb'], [0xf9, 'psubw'], [0xfa, 'psubd'],
  [0xfb, 'psubq'], [0xfc, 'paddb'], [0xfd, 'paddw'], [0xfe, 'paddd'],
];

export const intXmm: Form[] = [
  ...INT_OPS.map(([op, n, lane]) => X(n, 0x66, op, 16, lane ?? 'int')),
  X('punpcklqdq', 0x66, 0x6c, 16, 'int'), X('punpckhqdq', 0x66, 0x6d, 16, 'int'),
  X('pshufd', 0x66, 0x70, 16, 'int', { imm: true }), X('pshufhw', 0xf3, 0x70, 16, 'int', { imm: true }),
  X('pshuflw', 0xf2, 0x70, 16, 'int', { imm: true }),
  ...[2, 4, 6].flatMap((d) => [
    X(`group12 /${d}`, 0x66, 0x71, 0, 'int', { reg: d, imm: true }),
    X(`group13 /${d}`, 0x66, 0x72, 0, 'int', { reg: d, imm: true }),
  ]),
  ...[2, 3, 6, 7].map((d) => X(`group14 /${d}`, 0x66, 0x73, 0, 'int', { reg: d, imm: true })),
  X('pinsrw x', 0x66, 0xc4, 2, 'int', { rm: 'g', imm: true }),
  X('pextrw x', 0x66, 0xc5, 0, 'int', { reg: 'g', imm: true, regWritesGpr: true }),
];

export const intMmx: Form[] = [
  ...INT_OPS.map(([op, n, lane]) => M(`${n} mm`, op, lane ?? 'int', op <= 0x62 ? { mem: 4 } : {})),
  M('pshufw', 0x70, 'int', { imm: true }),
  ...[2, 4, 6].flatMap((d) => [
    M(`group12 /${d} mm`, 0x71, 'int', { reg: d, imm: true, mem: 0 }),
    M(`group13 /${d} mm`, 0x72, 'int', { reg: d, imm: true, mem: 0 }),
  ]),
  ...[2, 6].map((d) => M(`group14 /${d} mm`, 0x73, 'int', { reg: d, imm: true, mem: 0 })),
  { name: 'pinsrw mm', op: [0xc4], reg: 'm', rm: 'g', mem: 2, imm: true, lane: 'int' },
  { name: 'pextrw mm', op: [0xc5], reg: 'g', rm: 'm', imm: true, lane: 'int', regWritesGpr: true },
];
