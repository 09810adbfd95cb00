// Exact IEEE-754 binary32/binary64 arithmetic on bit patterns, with x86 SSE semantics: the
// rounding control, DAZ/FTZ and the six exception flags of MXCSR, NaN propagation and the
// "indefinite" results. It is the slow path: the SSE handlers compute the common case with
// JS doubles and come here only when something unusual can happen (NaN, infinity, denormal,
// overflow, a flag that is not yet set, a rounding mode other than nearest). BigInt keeps it
// short and obviously exact; it never runs per instruction in the steady state.
//
// x86 specifics followed here (Intel SDM vol. 1, 4.8.3 and 11.5; SoftFloat's 8086-SSE
// specialisation agrees): tininess is detected after rounding; a NaN operand wins in operand
// order (first source first) and is quieted; an invalid operation returns the negative
// default QNaN; float-to-integer overflow returns the "integer indefinite" 0x80..0.

/** MXCSR bits. */
export const enum MX {
  IE = 0x1,
  DE = 0x2,
  ZE = 0x4,
  OE = 0x8,
  UE = 0x10,
  PE = 0x20,
  DAZ = 0x40,
  IM = 0x80,
  UM = 0x800,
  FZ = 0x8000,
  /** Exception flags that are detected before computing (SDM 11.5.2: "pre-computation"). */
  PRE = 0x7,
  FLAGS = 0x3f,
}

/** Rounding control values (MXCSR.RC, FCW.RC). */
export const enum RC {
  Nearest = 0,
  Down = 1,
  Up = 2,
  Zero = 3,
}

export class Fmt {
  readonly fracBits: bigint;
  readonly fracMask: bigint;
  readonly expMask: bigint;
  readonly signBit: bigint;
  readonly quietBit: bigint;
  /** Negative default QNaN ("QNaN floating-point indefinite"). */
  readonly defaultNaN: bigint;
  readonly maxExpField: bigint;
  readonly bias: number;
  readonly emin: number;
  readonly emax: number;
  constructor(
    /** Precision in bits, hidden bit included. */
    readonly p: number,
    readonly ebits: number,
  ) {
    const f = p - 1;
    this.fracBits = BigInt(f);
    this.fracMask = (1n << BigInt(f)) - 1n;
    this.maxExpField = (1n << BigInt(ebits)) - 1n;
    this.expMask = this.maxExpField << BigInt(f);
    this.signBit = 1n << BigInt(f + ebits);
    this.quietBit = 1n << BigInt(f - 1);
    this.defaultNaN = this.signBit | this.expMask | this.quietBit;
    this.bias = (1 << (ebits - 1)) - 1;
    this.emin = 1 - this.bias;
    this.emax = this.bias;
  }
}

export const F32 = new Fmt(24, 8);
export const F64 = new Fmt(53, 11);

/** Environment of the current slow-path operation and the flags it raised. */
export const env = {
  /** Exception flags raised so far (MX.IE..MX.PE), ORed over the lanes of one instruction. */
  fx: 0,
  rc: RC.Nearest as number,
  daz: false,
  ftz: false,
  /** Underflow unmasked: tininess alone raises UE (SDM 4.9.1.5). */
  ue: false,
  /** Overflow unmasked. */
  oe: false,
  /** The last roundPack increased the magnitude (x87 reports it in C1). */
  up: false,
};

/** Load rounding/DAZ/FTZ/UM from an MXCSR value (the raised flags are kept). */
export function setEnv(mxcsr: number): void {
  env.rc = (mxcsr >> 13) & 3;
  env.daz = (mxcsr & MX.DAZ) !== 0;
  env.ftz = (mxcsr & MX.FZ) !== 0;
  env.ue = (mxcsr & MX.UM) === 0;
  env.oe = (mxcsr & 0x400) === 0;
}

export const enum Cls {
  Zero,
  Finite,
  Inf,
  QNaN,
  SNaN,
}

/** An unpacked operand: value = (-1)^sign * sig * 2^exp. */
export class Unp {
  cls = Cls.Zero;
  sign = 0;
  sig = 0n;
  exp = 0;
  /** Was a denormal (and DAZ did not turn it into zero). */
  den = false;
}

const UA = new Unp();
const UB = new Unp();

export function unpack(u: Unp, b: bigint, F: Fmt, daz: boolean): Unp {
  u.sign = Number(b >> (F.fracBits + BigInt(F.ebits))) & 1;
  const e = (b & F.expMask) >> F.fracBits;
  const f = b & F.fracMask;
  u.den = false;
  if (e === F.maxExpField) {
    u.cls = f === 0n ? Cls.Inf : (f & F.quietBit) !== 0n ? Cls.QNaN : Cls.SNaN;
  } else if (e === 0n) {
    if (f === 0n || daz) {
      u.cls = Cls.Zero;
      u.sig = 0n;
    } else {
      u.cls = Cls.Finite;
      u.sig = f;
      u.exp = F.emin - (F.p - 1);
      u.den = true;
    }
  } else {
    u.cls = Cls.Finite;
    u.sig = f | (1n << F.fracBits);
    u.exp = Number(e) - F.bias - (F.p - 1);
  }
  return u;
}

export function isNaNBits(b: bigint, F: Fmt): boolean {
  return (b & F.expMask) === F.expMask && (b & F.fracMask) !== 0n;
}

export function isSNaNBits(b: bigint, F: Fmt): boolean {
  return isNaNBits(b, F) && (b & F.quietBit) === 0n;
}

/** SSE rule for two operands one of which is a NaN: IE on any SNaN, first NaN wins, quieted. */
export function propagate(a: bigint, b: bigint, F: Fmt): bigint {
  if (isSNaNBits(a, F) || isSNaNBits(b, F)) env.fx |= MX.IE;
  return (isNaNBits(a, F) ? a : b) | F.quietBit;
}

function signed(sign: number, F: Fmt): bigint {
  return sign ? F.signBit : 0n;
}

export function infBits(sign: number, F: Fmt): bigint {
  return signed(sign, F) | F.expMask;
}

function bitLength(x: bigint): number {
  return x.toString(2).length;
}

/**
 * Round (-1)^sign * (sig + δ) * 2^exp to F under env (δ in (0, 1) when sticky, else 0) and
 * raise OE/UE/PE. `sig` must be non-zero; with sticky it must carry at least p+2 bits.
 */
export function roundPack(sign: number, sig: bigint, exp: number, sticky: boolean, F: Fmt): bigint {
  const p = F.p;
  env.up = false;
  const top = exp + bitLength(sig) - 1; // exponent of the leading bit
  // First with an unbounded exponent range: decides tininess (after rounding) and overflow.
  let q = top - (p - 1);
  let m = shiftRound(sig, exp, sticky, q, sign);
  let inexact = rInexact;
  const upU = rUp;
  if (m >> BigInt(p) !== 0n) {
    m >>= 1n;
    q++;
  }
  const e = q + p - 1;
  // With OE/UE unmasked no result is delivered (#XM): PE then reports whether the
  // exponent-unbounded result was inexact, as the host CPU does.
  if (e > F.emax) {
    if (env.oe) {
      env.fx |= inexact ? MX.OE | MX.PE : MX.OE;
      return infBits(sign, F);
    }
    env.fx |= MX.OE | MX.PE;
    const toInf = env.rc === RC.Nearest || (env.rc === RC.Up && sign === 0) || (env.rc === RC.Down && sign === 1);
    return toInf ? infBits(sign, F) : signed(sign, F) | (F.expMask - (1n << F.fracBits)) | F.fracMask;
  }
  if (e < F.emin) {
    if (env.ue) {
      env.fx |= inexact ? MX.UE | MX.PE : MX.UE;
      return signed(sign, F);
    }
    if (env.ftz) {
      env.fx |= MX.UE | MX.PE;
      return signed(sign, F);
    }
    m = shiftRound(sig, exp, sticky, F.emin - (p - 1), sign);
    inexact = rInexact;
    env.up = rUp;
    if (inexact) env.fx |= MX.UE | MX.PE;
    // A denormal that rounds up to the smallest normal carries into the exponent field.
    return signed(sign, F) | m;
  }
  if (inexact) env.fx |= MX.PE;
  env.up = upU;
  return signed(sign, F) | (BigInt(e + F.bias) << F.fracBits) | (m & F.fracMask);
}

let rInexact = false;
let rUp = false;

/** sig*2^exp (+ sticky) rounded to a multiple of 2^q under env.rc; sets rInexact. */
function shiftRound(sig: bigint, exp: number, sticky: boolean, q: number, sign: number): bigint {
  if (q <= exp) {
    rInexact = sticky; // callers guarantee sticky only comes with exp < q
    rUp = false;
    return sig << BigInt(exp - q);
  }
  const s = BigInt(q - exp);
  const m = sig >> s;
  const rem = sig & ((1n << s) - 1n);
  const half = 1n << (s - 1n);
  rInexact = rem !== 0n || sticky;
  rUp = false;
  if (!rInexact) return m;
  let up: boolean;
  switch (env.rc) {
    case RC.Nearest: up = rem > half || (rem === half && (sticky || (m & 1n) === 1n)); break;
    case RC.Down: up = sign === 1; break;
    case RC.Up: up = sign === 0; break;
    default: up = false;
  }
  rUp = up;
  return up ? m + 1n : m;
}

// ---- arithmetic ----

export const enum Op {
  Add = 0,
  Sub = 1,
  Mul = 2,
  Div = 3,
}

export function arith(op: Op, a: bigint, b: bigint, F: Fmt): bigint {
  const A = unpack(UA, a, F, env.daz);
  const B = unpack(UB, b, F, env.daz);
  if (A.cls >= Cls.QNaN || B.cls >= Cls.QNaN) return propagate(a, b, F);
  // Division by zero is reported alone: a denormal dividend then raises no DE (host CPU).
  const byZero = op === Op.Div && B.cls === Cls.Zero && A.cls === Cls.Finite;
  if ((A.den || B.den) && !byZero) env.fx |= MX.DE;
  switch (op) {
    case Op.Add:
    case Op.Sub:
      return addUnp(A, B, op === Op.Sub ? 1 : 0, F);
    case Op.Mul: {
      const s = A.sign ^ B.sign;
      if (A.cls === Cls.Inf || B.cls === Cls.Inf) {
        if (A.cls === Cls.Zero || B.cls === Cls.Zero) return invalid(F);
        return infBits(s, F);
      }
      if (A.cls === Cls.Zero || B.cls === Cls.Zero) return signed(s, F);
      return roundPack(s, A.sig * B.sig, A.exp + B.exp, false, F);
    }
    default: {
      const s = A.sign ^ B.sign;
      if (A.cls === Cls.Inf) return B.cls === Cls.Inf ? invalid(F) : infBits(s, F);
      if (B.cls === Cls.Inf) return signed(s, F);
      if (B.cls === Cls.Zero) {
        if (A.cls === Cls.Zero) return invalid(F);
        env.fx |= MX.ZE;
        return infBits(s, F);
      }
      if (A.cls === Cls.Zero) return signed(s, F);
      // Enough quotient bits for rounding: at least p+2 of them.
      const k = Math.max(0, F.p + 2 + bitLength(B.sig) - bitLength(A.sig));
      const n = A.sig << BigInt(k);
      const qt = n / B.sig;
      return roundPack(s, qt, A.exp - B.exp - k, qt * B.sig !== n, F);
    }
  }
}

function addUnp(A: Unp, B: Unp, negB: number, F: Fmt): bigint {
  const sb = B.sign ^ negB;
  if (A.cls === Cls.Inf || B.cls === Cls.Inf) {
    if (A.cls === Cls.Inf && B.cls === Cls.Inf && A.sign !== sb) return invalid(F);
    return A.cls === Cls.Inf ? infBits(A.sign, F) : infBits(sb, F);
  }
  if (A.cls === Cls.Zero && B.cls === Cls.Zero) {
    return signed(A.sign === sb ? A.sign : env.rc === RC.Down ? 1 : 0, F);
  }
  let va: bigint, vb: bigint, e: number;
  if (A.cls === Cls.Zero) {
    e = B.exp; va = 0n; vb = B.sig;
  } else if (B.cls === Cls.Zero) {
    e = A.exp; va = A.sig; vb = 0n;
  } else {
    e = Math.min(A.exp, B.exp);
    va = A.sig << BigInt(A.exp - e);
    vb = B.sig << BigInt(B.exp - e);
  }
  const s = (A.sign ? -va : va) + (sb ? -vb : vb);
  if (s === 0n) return signed(env.rc === RC.Down ? 1 : 0, F);
  return s < 0n ? roundPack(1, -s, e, false, F) : roundPack(0, s, e, false, F);
}

function invalid(F: Fmt): bigint {
  env.fx |= MX.IE;
  return F.defaultNaN;
}

export function sqrt(a: bigint, F: Fmt): bigint {
  const A = unpack(UA, a, F, env.daz);
  if (A.cls >= Cls.QNaN) {
    if (A.cls === Cls.SNaN) env.fx |= MX.IE;
    return a | F.quietBit;
  }
  if (A.cls === Cls.Zero) return signed(A.sign, F);
  if (A.sign) return invalid(F); // before DE: sqrt of a negative denormal raises IE alone
  if (A.den) env.fx |= MX.DE;
  if (A.cls === Cls.Inf) return a;
  // sqrt(sig * 2^exp): make the exponent even and the radicand wide enough for p+2 root bits.
  let k = Math.max(0, 2 * (F.p + 2) - bitLength(A.sig) + 1);
  if ((A.exp - k) & 1) k++;
  const n = A.sig << BigInt(k);
  const r = isqrt(n);
  return roundPack(0, r, (A.exp - k) / 2, r * r !== n, F);
}

function isqrt(n: bigint): bigint {
  // Newton from an overestimate.
  let x = 1n << BigInt((bitLength(n) >> 1) + 1);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

// ---- comparisons, min/max ----

/** Compare result: relation of a to b. */
export const enum Rel {
  Less,
  Equal,
  Greater,
  Unordered,
}

/**
 * Compare (DAZ applied); `signalQNaN` raises IE for QNaN operands too (ordered compares,
 * COMISS, MIN/MAX); SNaN always does. Denormals raise DE only when neither is a NaN.
 */
export function compare(a: bigint, b: bigint, F: Fmt, signalQNaN: boolean): Rel {
  const A = unpack(UA, a, F, env.daz);
  const B = unpack(UB, b, F, env.daz);
  if (A.cls >= Cls.QNaN || B.cls >= Cls.QNaN) {
    if (signalQNaN || A.cls === Cls.SNaN || B.cls === Cls.SNaN) env.fx |= MX.IE;
    return Rel.Unordered;
  }
  if (A.den || B.den) env.fx |= MX.DE;
  const va = value(A), vb = value(B);
  return va < vb ? Rel.Less : va > vb ? Rel.Greater : Rel.Equal;
}

/** The unpacked operand as a double: exact for every finite binary32/binary64 value. */
function value(u: Unp): number {
  if (u.cls === Cls.Zero) return 0;
  const v = u.cls === Cls.Inf ? Infinity : Number(u.sig) * 2 ** u.exp;
  return u.sign ? -v : v;
}

/**
 * MINPS/MAXPS and friends: a NaN in either operand or two zeros return the second operand
 * (SDM: "the second source is returned"); IE for any NaN. DAZ flushes the returned operand too.
 */
export function minmax(a: bigint, b: bigint, F: Fmt, max: boolean): bigint {
  const r = compare(a, b, F, true);
  const pick = r === Rel.Unordered ? b : max ? (r === Rel.Greater ? a : b) : r === Rel.Less ? a : b;
  if (env.daz && (pick & F.expMask) === 0n) return pick & F.signBit;
  return pick;
}

// ---- conversions ----

/** Between binary32 and binary64 (CVTSS2SD, CVTSD2SS, CVTPS2PD, CVTPD2PS). */
export function convert(a: bigint, from: Fmt, to: Fmt): bigint {
  const A = unpack(UA, a, from, env.daz);
  if (A.cls >= Cls.QNaN) {
    if (A.cls === Cls.SNaN) env.fx |= MX.IE;
    const frac = a & from.fracMask;
    const shift = to.fracBits - from.fracBits;
    const f = shift >= 0n ? frac << shift : frac >> -shift;
    return signed(A.sign, to) | to.expMask | to.quietBit | f;
  }
  if (A.den) env.fx |= MX.DE;
  if (A.cls === Cls.Zero) return signed(A.sign, to);
  if (A.cls === Cls.Inf) return infBits(A.sign, to);
  return roundPack(A.sign, A.sig, A.exp, false, to);
}

/** Signed integer (as a BigInt) to F, rounded under env (CVTSI2SS/SD, CVTDQ2PS). */
export function fromInt(v: bigint, F: Fmt): bigint {
  if (v === 0n) return 0n;
  return v < 0n ? roundPack(1, -v, 0, false, F) : roundPack(0, v, 0, false, F);
}

/**
 * F to a signed integer of `bits` bits, rounded under env.rc or truncated; NaN and
 * out-of-range give the integer indefinite (-2^(bits-1)) and IE (CVT(T)SS2SI and friends).
 */
export function toInt(a: bigint, F: Fmt, bits: number, truncate: boolean): bigint {
  const A = unpack(UA, a, F, env.daz);
  const indefinite = -(1n << BigInt(bits - 1));
  if (A.cls >= Cls.Inf) {
    env.fx |= MX.IE;
    return indefinite;
  }
  if (A.cls === Cls.Zero) return 0n;
  let m: bigint;
  let inexact = false;
  if (A.exp >= 0) {
    m = A.sig << BigInt(A.exp);
  } else {
    const s = BigInt(-A.exp);
    m = A.sig >> s;
    const rem = A.sig & ((1n << s) - 1n);
    if (rem !== 0n) {
      inexact = true;
      const half = 1n << (s - 1n);
      const rc = truncate ? RC.Zero : env.rc;
      let up: boolean;
      switch (rc) {
        case RC.Nearest: up = rem > half || (rem === half && (m & 1n) === 1n); break;
        case RC.Down: up = A.sign === 1; break;
        case RC.Up: up = A.sign === 0; break;
        default: up = false;
      }
      if (up) m++;
    }
  }
  const v = A.sign ? -m : m;
  if (v < indefinite || v > -indefinite - 1n) {
    env.fx |= MX.IE;
    return indefinite;
  }
  if (inexact) env.fx |= MX.PE;
  return v;
}

// ---- glue for the handlers: bit patterns held as int32 halves ----

export function bits64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

export function bits32(v: number): bigint {
  return BigInt(v >>> 0);
}

/** Low and high int32 halves of a 64-bit pattern. */
export function lo32(b: bigint): number {
  return Number(b & 0xffffffffn) | 0;
}
export function hi32(b: bigint): number {
  return Number((b >> 32n) & 0xffffffffn) | 0;
}
