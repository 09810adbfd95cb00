// Case generation for the SSE/MMX differential tests: a seeded PRNG, pools of edge values per
// lane type, MXCSR states, and an encoder for instruction forms (prefix, REX, 0F opcode,
// ModRM with register, [rsi+disp8] or [rip+disp32] operands, imm8).

import { CODE_ADDR, MEM_ADDR, STACK_TOP, type Case } from './native.js';


export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  /** xorshift32: uniform uint32. */
  u32(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  int(n: number): number {
    return Math.floor((this.u32() / 4294967296) * n);
  }
  chance(p: number): boolean {
    return this.u32() / 4294967296 < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }
}

export function seedFromEnv(name: string): number {
  const v = process.env[name];
  return v ? Number(v) >>> 0 : (Math.random() * 4294967296) >>> 0;
}

// ---- lane values ----

export const F32_EDGE = [
  0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x3fc00000, 0x40490fdb, 0x00000001, 0x80000001, 0x007fffff,
  0x807fffff, 0x00400000, 0x00800000, 0x80800000, 0x00800001, 0x7f7fffff, 0xff7fffff, 0x7f800000, 0xff800000,
  0x7fc00000, 0xffc00000, 0x7fc12345, 0x7f800001, 0xff812345, 0x7fbfffff, 0x4b000000, 0x4b000001, 0x3f000000,
  0x3f800001, 0x4f000000, 0xcf000000, 0x4effffff, 0x5f000000, 0xdf000000, 0x5effffff, 0x0c000000, 0x72000000,
  0x1f800000, 0x3effffff, 0x3fbfffff, 0x40200000, 0xbfc00000, 0x40100000,
];
export const F64_EDGE: bigint[] = [
  0x0000000000000000n, 0x8000000000000000n, 0x3ff0000000000000n, 0xbff0000000000000n, 0x3ff8000000000000n,
  0x0000000000000001n, 0x8000000000000001n, 0x000fffffffffffffn, 0x0008000000000000n, 0x0010000000000000n,
  0x8010000000000000n, 0x7fefffffffffffffn, 0xffefffffffffffffn, 0x7ff0000000000000n, 0xfff0000000000000n,
  0x7ff8000000000000n, 0xfff8000000000000n, 0x7ff8000012345678n, 0x7ff0000000000001n, 0xfff0000012345678n,
  0x4330000000000000n, 0x4330000000000001n, 0x3fe0000000000000n, 0x3ff0000000000001n, 0x41e0000000000000n,
  0xc1e0000000000000n, 0x41dfffffffc00000n, 0x41dfffffffe00000n, 0xc1e0000000100000n, 0x43e0000000000000n,
  0xc3e0000000000000n, 0x43dfffffffffffffn, 0x47efffffe0000000n, 0x47efffffffffffffn, 0x47f0000000000000n,
  0x3810000000000000n, 0x380fffffffffffffn, 0x36a0000000000000n, 0x3690000000000000n, 0x369fffffffffffffn,
  0x3ff0000010000000n, 0x3ff0000030000000n, 0x3ff0000020000000n, 0x3fdfffffffffffffn, 0x4004000000000000n,
];

function f32Bits(x: number): number {
  const b = new DataView(new ArrayBuffer(4));
  b.setFloat32(0, x, true);
  return b.getUint32(0, true);
}
function f64Bits(x: number): bigint {
  const b = new DataView(new ArrayBuffer(8));
  b.setFloat64(0, x, true);
  return b.getBigUint64(0, true);
}

/** A binary32 pattern: edge values, random bits, or ordinary numbers of moderate size. */
export function f32(rng: Rng): number {
  const r = rng.int(10);
  if (r < 3) return rng.pick(F32_EDGE);
  if (r < 4) return rng.u32();
  if (r < 5) {
    // near the denormal / overflow ends
    const e = rng.pick([0, 1, 2, 0xfd, 0xfe]);
    return ((rng.int(2) << 31) | (e << 23) | (rng.u32() & 0x7fffff)) >>> 0;
  }
  const e = 127 - 20 + rng.int(40);
  return ((rng.int(2) << 31) | (e << 23) | (rng.chance(0.3) ? rng.u32() & 0x7ff000 : rng.u32() & 0x7fffff)) >>> 0;
}

export function f64(rng: Rng): bigint {
  const r = rng.int(10);
  if (r < 3) return rng.pick(F64_EDGE);
  if (r < 4) return rng.u64();
  if (r < 5) {
    const e = BigInt(rng.pick([0, 1, 2, 0x7fd, 0x7fe, 0x380, 0x36a, 0x47e, 0x47f]));
    return (BigInt(rng.int(2)) << 63n) | (e << 52n) | (rng.u64() & 0xfffffffffffffn);
  }
  const e = BigInt(1023 - 30 + rng.int(60));
  const m = rng.chance(0.3) ? rng.u64() & 0xffffff0000000n : rng.u64() & 0xfffffffffffffn;
  return (BigInt(rng.int(2)) << 63n) | (e << 52n) | m;
}

/** Floats around integer-conversion boundaries and rounding ties. */
function cvtValue(rng: Rng, double: boolean): number {
  const bases = [0, 1, 2, 3, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 63, 2 ** 64, 2 ** 24, 100, 12345];
  let v = rng.pick(bases) + rng.pick([0, 0.5, -0.5, 0.25, 0.75, 1, -1, 1.5, -1.5]);
  if (rng.chance(0.3)) v = rng.int(1 << 20) + rng.int(4) / 4;
  if (rng.chance(0.5)) v = -v;
  if (!double) v = Math.fround(v);
  return v;
}

export type Lane = 'f32' | 'f64' | 'int' | 'cvt32' | 'cvt64' | 'i32' | 'cnt';

const INT_EDGE = [0, 1, 0xff, 0x7f, 0x80, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 0x01, 0xfe];

/** 16 bytes of lane data of the given kind. */
export function lane16(rng: Rng, kind: Lane): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  switch (kind) {
    case 'f32':
      for (let k = 0; k < 4; k++) v.setUint32(4 * k, f32(rng), true);
      break;
    case 'f64':
      for (let k = 0; k < 2; k++) v.setBigUint64(8 * k, f64(rng), true);
      break;
    case 'cvt32':
      for (let k = 0; k < 4; k++) v.setUint32(4 * k, rng.chance(0.2) ? f32(rng) : f32Bits(cvtValue(rng, false)), true);
      break;
    case 'cvt64':
      for (let k = 0; k < 2; k++) v.setBigUint64(8 * k, rng.chance(0.2) ? f64(rng) : f64Bits(cvtValue(rng, true)), true);
      break;
    case 'i32':
      for (let k = 0; k < 4; k++) {
        const r = rng.int(4);
        v.setUint32(4 * k, r === 0 ? rng.pick(INT_EDGE) : r === 1 ? rng.u32() & 0xffffff : r === 2 ? (rng.u32() | 0x40000000) >>> 0 : rng.u32(), true);
      }
      break;
    case 'cnt':
      // Shift counts: half the time a small count in the low quadword.
      if (rng.chance(0.5)) {
        v.setUint32(0, rng.chance(0.8) ? rng.int(70) : rng.pick(INT_EDGE), true);
        v.setUint32(4, rng.chance(0.9) ? 0 : rng.u32(), true);
        v.setUint32(8, rng.u32(), true);
        v.setUint32(12, rng.u32(), true);
        break;
      }
      return lane16(rng, 'int');
    default:
      // Integers: per 32-bit lane an edge pattern, a repeated byte, or random bits.
      for (let k = 0; k < 4; k++) {
        const r = rng.int(5);
        let x: number;
        if (r === 0) x = rng.pick(INT_EDGE);
        else if (r === 1) x = (rng.int(256) * 0x01010101) >>> 0;
        else if (r === 2) x = ((rng.pick(INT_EDGE) & 0xffff) * 0x10001) >>> 0;
        else x = rng.u32();
        v.setUint32(4 * k, x, true);
      }
  }
  return b;
}

// ---- MXCSR and the FXSAVE image ----

export function mxcsr(rng: Rng): number {
  const r = rng.int(20);
  if (r < 6) return 0x1f80;
  if (r < 11) return 0x1fa0; // PE already set: the fast paths
  if (r < 13) return 0x1f80 | (rng.int(4) << 13);
  let m = 0;
  for (let b = 7; b <= 12; b++) if (!rng.chance(0.25)) m |= 1 << b;
  for (let b = 0; b <= 5; b++) if (rng.chance(0.2)) m |= 1 << b;
  m |= rng.int(4) << 13;
  if (rng.chance(0.25)) m |= 0x40; // DAZ
  if (rng.chance(0.25)) m |= 0x8000; // FTZ
  return m;
}

export interface FxState {
  fcw?: number;
  fsw?: number;
  /** Abridged tag byte (bit k: physical register k in use). */
  ftw?: number;
  mxcsr: number;
  /** ST(i) images as 10 bytes each (stack order). */
  st?: Uint8Array[];
  xmm: Uint8Array[];
}

export function fxImage(s: FxState): Uint8Array {
  const fx = new Uint8Array(512);
  const v = new DataView(fx.buffer);
  v.setUint16(0, s.fcw ?? 0x37f, true);
  v.setUint16(2, s.fsw ?? 0, true);
  fx[4] = s.ftw ?? 0;
  v.setUint32(24, s.mxcsr, true);
  v.setUint32(28, 0xffff, true);
  if (s.st) s.st.forEach((b, i) => fx.set(b.subarray(0, 10), 32 + 16 * i));
  s.xmm.forEach((b, i) => fx.set(b, 160 + 16 * i));
  return fx;
}

/** A random 80-bit register image holding an MMX-style value (any exponent). */
export function mmxImage(rng: Rng): Uint8Array {
  const b = new Uint8Array(10);
  b.set(lane16(rng, 'int').subarray(0, 8));
  const se = rng.chance(0.5) ? 0xffff : rng.int(0x10000);
  b[8] = se & 0xff;
  b[9] = se >> 8;
  return b;
}

// ---- instruction forms ----

/** Operand kinds: xmm, mmx, general register. */
export type RK = 'x' | 'm' | 'g';

export interface Form {
  name: string;
  pfx?: number;
  /** Opcode bytes after 0F. */
  op: number[];
  /** ModRM.reg: an operand kind or a fixed /digit (groups). */
  reg: RK | number;
  /** The register kind of ModRM.rm when mod = 3. */
  rm: RK;
  /** Memory operand size in bytes; 0 or absent: register form only. */
  mem?: number;
  memOnly?: boolean;
  /** 16-byte alignment required: a few cases get a misaligned address (#GP on both sides). */
  align?: boolean;
  imm?: boolean;
  rexW?: boolean;
  lane: Lane;
  /** Fixed MXCSR instead of random states. */
  mx?: number;
  /** ModRM-less instruction (EMMS). */
  noModrm?: boolean;
  /** The destination (reg) is written: never RSP. */
  regWritesGpr?: boolean;
}

/** Build one random case of a form. */
export function makeCase(rng: Rng, f: Form, x87?: (rng: Rng) => Partial<FxState>): Case {
  const xmm: Uint8Array[] = [];
  for (let k = 0; k < 16; k++) xmm.push(lane16(rng, f.lane));
  const mem = new Uint8Array(512);
  for (let k = 0; k < 32; k++) mem.set(lane16(rng, f.lane), 16 * k);
  const r: bigint[] = [];
  for (let k = 0; k < 16; k++) {
    const t = rng.int(4);
    r.push(t === 0 ? BigInt(rng.pick(INT_EDGE)) : t === 1 ? BigInt.asUintN(64, BigInt(rng.u32() | 0)) : rng.u64());
  }
  r[4] = BigInt(STACK_TOP);
  r[7] = BigInt(MEM_ADDR + rng.int(496)); // RDI: MASKMOVDQU target
  const bytes: number[] = [];
  if (f.pfx !== undefined) bytes.push(f.pfx);
  let regN = 0, rmN = 0;
  const pickReg = (k: RK, written: boolean): number => {
    if (k === 'm') return rng.int(8);
    if (k === 'x') return rng.int(16);
    let n: number;
    do n = rng.int(16);
    while (n === 4 && written);
    return n;
  };
  if (typeof f.reg === 'number') regN = f.reg;
  else regN = pickReg(f.reg, f.regWritesGpr ?? f.reg === 'g');
  const useMem = !f.noModrm && f.mem !== undefined && f.mem > 0 && (f.memOnly || rng.chance(0.4));
  if (!useMem) rmN = pickReg(f.rm, f.rm === 'g');
  let rex = 0x40;
  if (f.rexW) rex |= 8;
  if (typeof f.reg !== 'number' && f.reg !== 'm' && regN >= 8) rex |= 4;
  if (!useMem && f.rm !== 'm' && rmN >= 8) rex |= 1;
  if (rex !== 0x40 || rng.chance(0.1)) bytes.push(rex);
  bytes.push(0x0f, ...f.op);
  let ripRelAt = -1;
  let target = 0;
  if (!f.noModrm) {
    const reg3 = (typeof f.reg === 'number' ? f.reg : regN) & 7;
    if (useMem) {
      const size = f.mem!;
      let off: number;
      if (f.align) {
        off = 16 * rng.int(Math.floor((512 - size) / 16) + 1);
        if (rng.chance(0.05)) off += 1 + rng.int(15);
        if (off + size > 512) off -= 16;
      } else off = rng.int(512 - size + 1);
      target = MEM_ADDR + off;
      if (rng.chance(0.3)) {
        bytes.push((reg3 << 3) | 5);
        ripRelAt = bytes.length;
        bytes.push(0, 0, 0, 0);
      } else {
        const disp = rng.int(256) - 128;
        bytes.push(0x40 | (reg3 << 3) | 6, disp & 0xff);
        r[6] = BigInt(target - disp);
      }
    } else {
      bytes.push(0xc0 | (reg3 << 3) | (rmN & 7));
    }
  }
  if (f.imm) bytes.push(rng.int(256));
  if (ripRelAt >= 0) {
    const disp = target - (CODE_ADDR + bytes.length);
    for (let k = 0; k < 4; k++) bytes[ripRelAt + k] = (disp >> (8 * k)) & 0xff;
  }
  const extra = x87 ? x87(rng) : {};
  const fx = fxImage({ mxcsr: f.mx ?? mxcsr(rng), xmm, ...extra });
  // Random arithmetic flags: COMISS must clear or set each of them.
  const rflags = 0x202 | (rng.u32() & 0x8d5);
  return { name: f.name, code: Uint8Array.from(bytes), r, rflags, fx, mem };
}

/** MMX register file for MMX forms: random images, random TOP and tags. */
export function mmxState(rng: Rng): Partial<FxState> {
  const st: Uint8Array[] = [];
  for (let i = 0; i < 8; i++) st.push(mmxImage(rng));
  return { st, fsw: rng.int(8) << 11, ftw: rng.int(256) };
}
