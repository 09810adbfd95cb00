// What xm's Python 2 printed, reproduced byte for byte: %-style number formatting, str() and
// repr() of floats and strings, and the iteration order of a Python 2 dict (xend built many
// of the S-expressions that `xm list --long` prints by iterating dicts, so their element
// order is CPython 2.7's hash-table order, not insertion order).
//
// References (CPython 2.7): Python/pystrtod.c (PyOS_double_to_string, 'g'/'r'/'f' modes and
// Py_DTSF_ADD_DOT_0), Objects/stringobject.c (string_repr, string_hash),
// Objects/dictobject.c (lookdict_string, insertdict, dictresize, _PyDict_NewPresized).

// ---------------------------------------------------------------------------------------
// Exact decimal rounding of a double
// ---------------------------------------------------------------------------------------

/** |x| as mantissa * 2^exp with an integer mantissa: the exact value of the double. */
function decompose(x: number): { mant: bigint; exp: number } {
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat64(0, Math.abs(x));
  const hi = buf.getUint32(0);
  const lo = buf.getUint32(4);
  const biased = (hi >>> 20) & 0x7ff;
  const frac = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  if (biased === 0) return { mant: frac, exp: -1074 };
  return { mant: frac | (1n << 52n), exp: biased - 1075 };
}

/**
 * round(|x| * 10^scale) to an integer, ties to even, computed exactly. CPython's dtoa rounds
 * the exact binary value half-even; JS toFixed/toPrecision break exact ties upwards, which is
 * why they cannot be used (e.g. '%.1f' % 0.25 is '0.2' in Python, (0.25).toFixed(1) is '0.3').
 */
function roundScaled(x: number, scale: number): bigint {
  const { mant, exp } = decompose(x);
  let num = mant;
  let den = 1n;
  if (exp >= 0) num <<= BigInt(exp);
  else den <<= BigInt(-exp);
  if (scale >= 0) num *= 10n ** BigInt(scale);
  else den *= 10n ** BigInt(-scale);
  const q = num / den;
  const r2 = (num % den) * 2n;
  if (r2 > den || (r2 === den && (q & 1n) === 1n)) return q + 1n;
  return q;
}

/** floor(log10(|x|)) for finite non-zero x, exactly. */
function decimalExponent(x: number): number {
  const { mant, exp } = decompose(x);
  let e = Math.floor(Math.log10(Math.abs(x)));
  // Compare |x| with 10^e exactly and correct the float estimate by one either way.
  const cmp = (k: number): number => {
    let lhsNum = mant;
    let rhs = 1n;
    if (exp >= 0) lhsNum <<= BigInt(exp);
    else rhs <<= BigInt(-exp);
    // |x| >= 10^k  <=>  mant*2^exp >= 10^k
    if (k >= 0) rhs *= 10n ** BigInt(k);
    else lhsNum *= 10n ** BigInt(-k);
    return lhsNum >= rhs ? 1 : -1;
  };
  if (cmp(e) < 0) e -= 1;
  else if (cmp(e + 1) >= 0) e += 1;
  return e;
}

function nonFinite(x: number): string | null {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  return null;
}

function signOf(x: number): string {
  return x < 0 || Object.is(x, -0) ? '-' : '';
}

/** Python's '%.Nf' % x. */
export function pyFixed(x: number, prec: number): string {
  const nf = nonFinite(x);
  if (nf !== null) return nf;
  const q = roundScaled(x, prec).toString();
  let body: string;
  if (prec === 0) body = q;
  else {
    const padded = q.padStart(prec + 1, '0');
    body = `${padded.slice(0, -prec)}.${padded.slice(-prec)}`;
  }
  return signOf(x) + body;
}

function expSuffix(e: number): string {
  const a = Math.abs(e);
  return `e${e < 0 ? '-' : '+'}${a < 10 ? '0' : ''}${a}`;
}

function general(x: number, prec: number, addDot0: boolean): string {
  const nf = nonFinite(x);
  if (nf !== null) return nf;
  const p = prec === 0 ? 1 : prec;
  if (x === 0) return `${signOf(x)}0`;
  let e = decimalExponent(x);
  let q = roundScaled(x, p - 1 - e);
  if (q >= 10n ** BigInt(p)) {
    q /= 10n;
    e += 1;
  }
  const digits = q.toString();
  let out: string;
  // format_float_short(): with Py_DTSF_ADD_DOT_0 the switch to exponent form comes one
  // digit earlier (decpt > precision-1), so str(123456789012.0) is '1.23456789012e+11'.
  if (e < -4 || e >= (addDot0 ? p - 1 : p)) {
    const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}`.replace(/\.?0+$/, '') : digits;
    out = mant + expSuffix(e);
  } else if (e >= 0) {
    const int = digits.slice(0, e + 1);
    const frac = digits.slice(e + 1).replace(/0+$/, '');
    out = frac ? `${int}.${frac}` : int;
  } else {
    const frac = ('0'.repeat(-e - 1) + digits).replace(/0+$/, '');
    out = `0.${frac}`;
  }
  return signOf(x) + out;
}

/** Python 2.7 str(float): '%.12g' plus '.0' when the result would look like an integer. */
export function pyStrFloat(x: number): string {
  const s = general(x, 12, true);
  return /^-?\d+$/.test(s) ? `${s}.0` : s;
}

/**
 * Python 2.7 repr(float): the shortest string that round-trips (JS computes the same
 * digits), laid out in 'r' mode: exponent form below 1e-4 and from 1e16 on.
 */
export function pyReprFloat(x: number): string {
  const nf = nonFinite(x);
  if (nf !== null) return nf;
  if (x === 0) return `${signOf(x)}0.0`;
  const [m, ex] = Math.abs(x).toExponential().split('e');
  const digits = m.replace('.', '');
  const e = Number(ex);
  let out: string;
  if (e < -4 || e >= 16) {
    out = (digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits) + expSuffix(e);
  } else if (e >= 0) {
    const int = digits.slice(0, e + 1).padEnd(e + 1, '0');
    const frac = digits.slice(e + 1);
    out = `${int}.${frac || '0'}`;
  } else {
    out = `0.${'0'.repeat(-e - 1)}${digits}`;
  }
  return signOf(x) + out;
}

/** Python 2 round(x) (half away from zero), as an integer. */
export function pyRound(x: number): number {
  const r = Math.round(Math.abs(x));
  // Math.round breaks .5 upwards; for |x| that is away from zero already.
  return x < 0 ? -r : r;
}

// ---------------------------------------------------------------------------------------
// %-formatting of strings and integers
// ---------------------------------------------------------------------------------------

/** '%-Ns' (left) or '%Ns' (right): pad, never truncate. */
export function pad(s: string, width: number, left = false): string {
  return left ? s.padEnd(width, ' ') : s.padStart(width, ' ');
}

/** '%Nd' / '%-Nd' of an integer. */
export function padInt(n: number, width: number, left = false): string {
  if (!Number.isInteger(n)) throw new TypeError(`%d needs an integer, got ${n}`);
  return pad(String(n), width, left);
}

// ---------------------------------------------------------------------------------------
// repr() of a Python 2 byte string
// ---------------------------------------------------------------------------------------

/**
 * Python 2 repr(str). Python 2 strings are bytes, so text is taken as its UTF-8 encoding and
 * every byte outside printable ASCII comes out as \xNN, exactly as xm showed it.
 */
export function pyReprStr(s: string): string {
  const bytes = Buffer.from(s, 'utf8');
  const hasSingle = bytes.includes(0x27);
  const hasDouble = bytes.includes(0x22);
  const quote = hasSingle && !hasDouble ? '"' : "'";
  let out = quote;
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    if (c === quote || c === '\\') out += `\\${c}`;
    else if (c === '\t') out += '\\t';
    else if (c === '\n') out += '\\n';
    else if (c === '\r') out += '\\r';
    else if (b < 0x20 || b >= 0x7f) out += `\\x${b.toString(16).padStart(2, '0')}`;
    else out += c;
  }
  return out + quote;
}

// ---------------------------------------------------------------------------------------
// Python 2.7 dict iteration order (64-bit build, hash randomisation off as xend ran it)
// ---------------------------------------------------------------------------------------

const U64 = (1n << 64n) - 1n;

/** string_hash() of CPython 2.7 on a 64-bit build, as an unsigned 64-bit pattern. */
export function py2StrHash(s: string): bigint {
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length === 0) return 0n;
  let x = (BigInt(bytes[0]) << 7n) & U64;
  for (const b of bytes) x = ((1000003n * x) & U64) ^ BigInt(b);
  x ^= BigInt(bytes.length);
  // -1 is reserved for errors in C; CPython maps it to -2.
  if (x === U64) x = U64 - 1n;
  return x;
}

/** Order in which `for k in d` visits the keys of a dict that had `keys` set, in that order. */
export function py2DictOrder(keys: readonly string[], presize = 0): string[] {
  interface Entry { key: string; hash: bigint }
  let table: (Entry | null)[] = [];
  let used = 0;
  let fill = 0;

  const slotFor = (t: (Entry | null)[], key: string, hash: bigint): number => {
    const mask = BigInt(t.length - 1);
    let i = hash & mask;
    let perturb = hash;
    for (;;) {
      const e = t[Number(i & mask)];
      if (e === null || e.key === key) return Number(i & mask);
      i = ((i << 2n) + i + perturb + 1n) & U64;
      perturb >>= 5n;
    }
  };
  const resize = (minused: number): void => {
    let size = 8;
    while (size <= minused) size <<= 1;
    const old = table;
    table = new Array<Entry | null>(size).fill(null);
    fill = used;
    for (const e of old) if (e !== null) table[slotFor(table, e.key, e.hash)] = e;
  };

  table = new Array<Entry | null>(8).fill(null);
  // _PyDict_NewPresized: a dict display of more than 5 items starts presized (BUILD_MAP n).
  if (presize > 5) resize(presize);
  for (const key of keys) {
    const hash = py2StrHash(key);
    const i = slotFor(table, key, hash);
    if (table[i] !== null) continue;
    table[i] = { key, hash };
    used += 1;
    fill += 1;
    if (fill * 3 >= table.length * 2) resize((used > 50000 ? 2 : 4) * used);
  }
  return table.filter((e): e is Entry => e !== null).map((e) => e.key);
}
