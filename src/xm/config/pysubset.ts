// xm config files are Python: opts.load() execfile()d them and took the variables they set.
// tsxen reads the part of Python 2 that configs are written in: assignments (`=`, `+=`) of
// strings, numbers, booleans, None, lists and tuples, `+` and `-`, names bound earlier or
// given on the command line, comments, blank lines, `;`, and line joining inside brackets or
// after a backslash. Anything else is refused with the line it is on, rather than guessed at.
// Lexical rules follow Python 2.7's tokenizer (Parser/tokenizer.c) and string literal
// decoding (Python/ast.c decode_*); error wording follows Python where it has one.

import { XmConfigError } from './errors.js';

/** A Python value with the line its expression started on (for error messages). */
export type PyValue =
  | { readonly t: 'str'; readonly v: string; readonly line: number }
  | { readonly t: 'int'; readonly v: bigint; readonly line: number }
  | { readonly t: 'float'; readonly v: number; readonly line: number }
  | { readonly t: 'bool'; readonly v: boolean; readonly line: number }
  | { readonly t: 'none'; readonly line: number }
  | { readonly t: 'list' | 'tuple'; readonly items: readonly PyValue[]; readonly line: number };

export interface PyBinding {
  readonly value: PyValue;
  /** Line of the (last) assignment. */
  readonly line: number;
}

export interface PyScript {
  /** Names the file assigned, with their final values, in first-assignment order. */
  readonly bindings: ReadonlyMap<string, PyBinding>;
  /** Names the file read (so predefined variables it used are not "unknown"). */
  readonly referenced: ReadonlySet<string>;
}

// ---------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------

type Tok =
  | { k: 'name'; s: string; line: number }
  | { k: 'num'; v: PyValue; text: string; line: number }
  | { k: 'str'; s: string; line: number }
  | { k: 'op'; s: string; line: number }
  | { k: 'nl'; line: number }
  | { k: 'end'; line: number };

const OPS3 = ['**=', '//=', '>>=', '<<='];
const OPS2 = ['+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '==', '!=', '<>', '<=', '>=', '**', '//', '<<', '>>'];
const OPS1 = '+-*/%&|^~<>()[]{},:.;@=`';

class Lexer {
  private i = 0;
  private line = 1;
  private depth = 0;
  /** Line and character of each open bracket, for "never closed" errors. */
  private readonly open: { line: number; c: string }[] = [];
  private atLineStart = true;
  readonly toks: Tok[] = [];

  constructor(
    private readonly src: string,
    private readonly file: string,
  ) {}

  private err(msg: string, line = this.line): never {
    throw new XmConfigError(this.file, line, null, msg);
  }

  run(): Tok[] {
    const s = this.src;
    while (this.i < s.length) {
      const c = s[this.i];
      if (c === '\n' || c === '\r') {
        this.newline();
        continue;
      }
      if (c === ' ' || c === '\t' || c === '\f') {
        // Whitespace before the first token of a logical line is indentation, which only
        // blank and comment lines may have at the top level of a config.
        let j = this.i;
        while (j < s.length && (s[j] === ' ' || s[j] === '\t' || s[j] === '\f')) j++;
        const next = s[j];
        const blank = next === undefined || next === '\n' || next === '\r' || next === '#';
        if (this.atLineStart && this.depth === 0 && !blank) this.err('unexpected indent');
        this.i = j;
        continue;
      }
      if (c === '#') {
        while (this.i < s.length && s[this.i] !== '\n' && s[this.i] !== '\r') this.i++;
        continue;
      }
      if (c === '\\') {
        const n = s[this.i + 1];
        if (n === '\n' || n === '\r') {
          this.i += 1;
          this.skipNewlineChars();
          continue;
        }
        this.err('unexpected character after line continuation character');
      }
      this.atLineStart = false;
      if (/[A-Za-z_]/.test(c)) {
        const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(this.i))![0];
        const q = s[this.i + m.length];
        if ((q === "'" || q === '"') && /^(?:[uUbB]?[rR]?)$/.test(m)) {
          this.string(m);
          continue;
        }
        this.toks.push({ k: 'name', s: m, line: this.line });
        this.i += m.length;
        continue;
      }
      if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(s[this.i + 1] ?? ''))) {
        this.number();
        continue;
      }
      if (c === "'" || c === '"') {
        this.string('');
        continue;
      }
      const op = [...OPS3, ...OPS2].find((o) => s.startsWith(o, this.i)) ?? (OPS1.includes(c) ? c : null);
      if (op === null) this.err(`invalid character ${JSON.stringify(c)}`);
      if ('([{'.includes(op)) {
        this.depth++;
        this.open.push({ line: this.line, c: op });
      }
      if (')]}'.includes(op)) {
        const o = this.open.pop();
        if (o === undefined) this.err(`unmatched '${op}'`);
        const want = { '(': ')', '[': ']', '{': '}' }[o.c];
        if (want !== op) this.err(`'${op}' does not match '${o.c}' opened on line ${o.line}`);
        this.depth--;
      }
      this.toks.push({ k: 'op', s: op, line: this.line });
      this.i += op.length;
    }
    const o = this.open.pop();
    if (o !== undefined) this.err(`'${o.c}' was never closed (unexpected end of file)`, o.line);
    if (!this.atLineStart) this.toks.push({ k: 'nl', line: this.line });
    this.toks.push({ k: 'end', line: this.line });
    return this.toks;
  }

  private skipNewlineChars(): void {
    if (this.src[this.i] === '\r' && this.src[this.i + 1] === '\n') this.i += 2;
    else this.i += 1;
    this.line++;
  }

  private newline(): void {
    // Inside brackets a newline only continues the line (implicit line joining).
    if (this.depth === 0 && !this.atLineStart) {
      this.toks.push({ k: 'nl', line: this.line });
      this.atLineStart = true;
    }
    this.skipNewlineChars();
  }

  private number(): void {
    const s = this.src.slice(this.i);
    const line = this.line;
    const m =
      /^(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+)[lLjJ]?/.exec(s);
    if (!m) this.err('invalid syntax');
    const text = m[0];
    if (/[A-Za-z0-9_.]/.test(s[text.length] ?? '')) this.err(`invalid number '${text}${s[text.length]}'`);
    this.i += text.length;
    const suffix = text.slice(-1);
    if (suffix === 'j' || suffix === 'J') this.err(`complex numbers are not supported: ${text}`);
    const body = suffix === 'l' || suffix === 'L' ? text.slice(0, -1) : text;
    let v: PyValue;
    if (/^0[xX]/.test(body)) v = { t: 'int', v: BigInt(body), line };
    else if (/^0[oO]/.test(body)) v = { t: 'int', v: BigInt(`0o${body.slice(2)}`), line };
    else if (/^0[bB]/.test(body)) v = { t: 'int', v: BigInt(body), line };
    else if (/[.eE]/.test(body)) {
      if (body !== text) this.err(`invalid number '${text}'`);
      v = { t: 'float', v: Number(body), line };
    } else if (body.length > 1 && body[0] === '0') {
      // Python 2: a leading 0 means octal (0755).
      if (!/^[0-7]+$/.test(body)) this.err(`invalid token '${text}'`);
      v = { t: 'int', v: BigInt(`0o${body.slice(1)}`), line };
    } else v = { t: 'int', v: BigInt(body), line };
    this.toks.push({ k: 'num', v, text, line });
  }

  private string(prefix: string): void {
    const s = this.src;
    const line = this.line;
    this.i += prefix.length;
    const raw = /[rR]/.test(prefix);
    const unicode = /[uU]/.test(prefix);
    const q = s[this.i];
    const triple = s.startsWith(q.repeat(3), this.i);
    const close = triple ? q.repeat(3) : q;
    this.i += close.length;
    let out = '';
    for (;;) {
      if (this.i >= s.length) this.err(triple ? 'EOF while scanning triple-quoted string literal' : 'EOL while scanning string literal', line);
      if (s.startsWith(close, this.i)) {
        this.i += close.length;
        break;
      }
      const c = s[this.i];
      if (c === '\n' || c === '\r') {
        if (!triple) this.err('EOL while scanning string literal', line);
        // Universal newlines: \r\n and \r read as \n.
        out += '\n';
        this.skipNewlineChars();
        continue;
      }
      if (c !== '\\') {
        out += c;
        this.i++;
        continue;
      }
      const n = s[this.i + 1];
      if (n === undefined) this.err('EOL while scanning string literal', line);
      if (n === '\n' || n === '\r') {
        // Backslash-newline continues the literal; a raw string keeps both characters.
        this.i += 1;
        this.skipNewlineChars();
        if (raw) out += '\\\n';
        continue;
      }
      if (raw) {
        // Python 2's raw-unicode-escape codec still decodes \uXXXX in ur'' literals.
        if (unicode && (n === 'u' || n === 'U')) {
          this.i += 2;
          out += this.escape(n, true, line);
          continue;
        }
        // In a raw string a backslash still stops the quote from ending the literal.
        out += c + n;
        this.i += 2;
        continue;
      }
      this.i += 2;
      out += this.escape(n, unicode, line);
    }
    // Adjacent literals are concatenated by the parser, like Python does.
    this.toks.push({ k: 'str', s: out, line });
  }

  /** Decode the escape after a backslash; this.i is past the escape letter. */
  private escape(n: string, unicode: boolean, line: number): string {
    const simple: Record<string, string> = {
      '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v',
    };
    if (n in simple) return simple[n];
    const s = this.src;
    if (/[0-7]/.test(n)) {
      let digits = n;
      while (digits.length < 3 && /[0-7]/.test(s[this.i] ?? '')) digits += s[this.i++];
      return String.fromCharCode(Number.parseInt(digits, 8) & 0xff);
    }
    if (n === 'x') {
      const h = s.slice(this.i, this.i + 2);
      if (!/^[0-9a-fA-F]{2}$/.test(h)) this.err('invalid \\x escape', line);
      this.i += 2;
      return String.fromCharCode(Number.parseInt(h, 16));
    }
    if (unicode && (n === 'u' || n === 'U')) {
      const len = n === 'u' ? 4 : 8;
      const h = s.slice(this.i, this.i + len);
      if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(h)) this.err(`truncated \\${n}${'X'.repeat(len)} escape`, line);
      const cp = Number.parseInt(h, 16);
      if (cp > 0x10ffff) this.err('illegal Unicode character', line);
      this.i += len;
      return String.fromCodePoint(cp);
    }
    // Python keeps unknown escapes as they are, backslash included.
    return `\\${n}`;
  }
}

// ---------------------------------------------------------------------------------------
// Parser and evaluator
// ---------------------------------------------------------------------------------------

/** Python 2's name for a value's type, for TypeError-style messages. */
export function pyTypeName(v: PyValue): string {
  return v.t === 'none' ? 'NoneType' : v.t;
}

class Parser {
  private p = 0;
  private readonly env = new Map<string, PyValue>();
  private readonly bindings = new Map<string, PyBinding>();
  private readonly referenced = new Set<string>();
  /** The name being assigned, for error messages. */
  private target: string | null = null;

  constructor(
    private readonly toks: Tok[],
    private readonly file: string,
    predefined: ReadonlyMap<string, PyValue>,
  ) {
    for (const [k, v] of predefined) this.env.set(k, v);
  }

  private err(msg: string, line: number): never {
    throw new XmConfigError(this.file, line, this.target, msg);
  }

  private peek(): Tok {
    return this.toks[this.p];
  }

  private isOp(s: string): boolean {
    const t = this.peek();
    return t.k === 'op' && t.s === s;
  }

  private expectOp(s: string): void {
    if (!this.isOp(s)) this.unexpected();
    this.p++;
  }

  private unexpected(): never {
    const t = this.peek();
    const what =
      t.k === 'nl' ? 'end of line' : t.k === 'end' ? 'end of file' : t.k === 'str' ? 'a string' : t.k === 'num' ? `'${t.text}'` : `'${t.s}'`;
    this.err(`invalid syntax: unexpected ${what}`, t.line);
  }

  run(): PyScript {
    while (this.peek().k !== 'end') {
      if (this.peek().k === 'nl') {
        this.p++;
        continue;
      }
      this.statement();
      while (this.isOp(';')) {
        this.p++;
        const t = this.peek();
        if (t.k === 'nl' || t.k === 'end') break;
        this.statement();
      }
      const t = this.peek();
      if (t.k !== 'nl' && t.k !== 'end') this.unexpected();
    }
    return { bindings: this.bindings, referenced: this.referenced };
  }

  private statement(): void {
    const t = this.peek();
    this.target = null;
    if (t.k !== 'name') {
      this.err(
        'unsupported syntax: a config line must assign a value to a name (key = value)',
        t.line,
      );
    }
    const next = this.toks[this.p + 1];
    if (next.k !== 'op' || (next.s !== '=' && next.s !== '+=')) {
      if (next.k === 'op' && next.s.endsWith('=') && next.s.length > 1 && !['==', '!=', '<=', '>='].includes(next.s)) {
        this.err(`unsupported syntax: only '=' and '+=' assignments are understood, not '${next.s}'`, t.line);
      }
      this.err(
        `unsupported syntax: '${t.s}' starts a statement tsxen does not read; a config line assigns a value (key = value)`,
        t.line,
      );
    }
    if (['True', 'False', 'None'].includes(t.s)) this.err(`cannot assign to ${t.s}`, t.line);
    this.target = t.s;
    this.p += 2;
    let value = this.testlist();
    if (this.isOp('=')) this.err('unsupported syntax: chained assignment', this.peek().line);
    if (next.s === '+=') {
      const cur = this.env.get(t.s);
      if (cur === undefined) this.err(`name '${t.s}' is not defined`, t.line);
      this.referenced.add(t.s);
      value = this.add(cur, value, t.line);
    }
    this.env.set(t.s, value);
    this.bindings.delete(t.s);
    this.bindings.set(t.s, { value, line: t.line });
    this.target = null;
  }

  /** expr (',' expr)* [','] — a bare comma list is a tuple. */
  private testlist(): PyValue {
    const line = this.peek().line;
    const first = this.expr();
    if (!this.isOp(',')) return first;
    const items = [first];
    while (this.isOp(',')) {
      this.p++;
      if (!this.startsExpr()) break;
      items.push(this.expr());
    }
    return { t: 'tuple', items, line };
  }

  private startsExpr(): boolean {
    const t = this.peek();
    if (t.k === 'name' || t.k === 'num' || t.k === 'str') return true;
    return t.k === 'op' && ['(', '[', '-', '+'].includes(t.s);
  }

  private expr(): PyValue {
    let left = this.unary();
    for (;;) {
      const t = this.peek();
      if (t.k !== 'op') return left;
      if (t.s === '+' || t.s === '-') {
        this.p++;
        const right = this.unary();
        left = t.s === '+' ? this.add(left, right, t.line) : this.sub(left, right, t.line);
        continue;
      }
      if (['*', '/', '%', '//', '**', '&', '|', '^', '<<', '>>'].includes(t.s)) {
        this.err(`unsupported syntax: operator '${t.s}' (tsxen reads + and - only)`, t.line);
      }
      if (['==', '!=', '<', '>', '<=', '>=', '<>'].includes(t.s)) {
        this.err(`unsupported syntax: comparison '${t.s}'`, t.line);
      }
      if (t.s === '(' || t.s === '[' || t.s === '.') {
        this.err(`unsupported syntax: calls, indexing and attributes ('${t.s}') are not read`, t.line);
      }
      return left;
    }
  }

  private unary(): PyValue {
    const t = this.peek();
    if (t.k === 'op' && (t.s === '-' || t.s === '+')) {
      this.p++;
      const v = this.unary();
      if (v.t === 'int') return { t: 'int', v: t.s === '-' ? -v.v : v.v, line: t.line };
      if (v.t === 'float') return { t: 'float', v: t.s === '-' ? -v.v : v.v, line: t.line };
      if (v.t === 'bool') return { t: 'int', v: BigInt(t.s === '-' ? -Number(v.v) : Number(v.v)), line: t.line };
      this.err(`bad operand type for unary ${t.s}: '${pyTypeName(v)}'`, t.line);
    }
    return this.atom();
  }

  private atom(): PyValue {
    const t = this.peek();
    if (t.k === 'num') {
      this.p++;
      return t.v;
    }
    if (t.k === 'str') {
      let s = '';
      while (this.peek().k === 'str') {
        s += (this.peek() as { s: string }).s;
        this.p++;
      }
      return { t: 'str', v: s, line: t.line };
    }
    if (t.k === 'name') {
      this.p++;
      if (t.s === 'True' || t.s === 'False') return { t: 'bool', v: t.s === 'True', line: t.line };
      if (t.s === 'None') return { t: 'none', line: t.line };
      const after = this.peek();
      if (after.k === 'op' && (after.s === '(' || after.s === '.' || after.s === '[')) {
        // xm's configs could call os.path.join() and friends; say so rather than NameError.
        this.err(`unsupported syntax: calls, indexing and attributes ('${t.s}${after.s}') are not read`, t.line);
      }
      const v = this.env.get(t.s);
      if (v === undefined) {
        if (['lambda', 'not', 'and', 'or', 'if', 'for', 'in', 'is'].includes(t.s)) {
          this.err(`unsupported syntax: '${t.s}'`, t.line);
        }
        this.err(`name '${t.s}' is not defined`, t.line);
      }
      this.referenced.add(t.s);
      return { ...v, line: t.line } as PyValue;
    }
    if (t.k === 'op' && t.s === '[') {
      this.p++;
      const items: PyValue[] = [];
      while (!this.isOp(']')) {
        items.push(this.expr());
        if (this.isOp(',')) this.p++;
        else if (!this.isOp(']')) {
          if (this.peek().k === 'name' && (this.peek() as { s: string }).s === 'for') {
            this.err('unsupported syntax: list comprehension', this.peek().line);
          }
          this.unexpected();
        }
      }
      this.p++;
      return { t: 'list', items, line: t.line };
    }
    if (t.k === 'op' && t.s === '(') {
      this.p++;
      if (this.isOp(')')) {
        this.p++;
        return { t: 'tuple', items: [], line: t.line };
      }
      const first = this.expr();
      if (this.isOp(')')) {
        this.p++;
        return first;
      }
      const items = [first];
      while (this.isOp(',')) {
        this.p++;
        if (this.isOp(')')) break;
        items.push(this.expr());
      }
      this.expectOp(')');
      return { t: 'tuple', items, line: t.line };
    }
    if (t.k === 'op' && t.s === '{') this.err('unsupported syntax: dictionaries and sets', t.line);
    this.unexpected();
  }

  private num(v: PyValue): number | bigint | null {
    if (v.t === 'int') return v.v;
    if (v.t === 'bool') return BigInt(Number(v.v));
    if (v.t === 'float') return v.v;
    return null;
  }

  private arith(a: PyValue, b: PyValue, line: number, op: '+' | '-'): PyValue | null {
    const x = this.num(a);
    const y = this.num(b);
    if (x === null || y === null) return null;
    if (typeof x === 'bigint' && typeof y === 'bigint') return { t: 'int', v: op === '+' ? x + y : x - y, line };
    const fx = Number(x);
    const fy = Number(y);
    return { t: 'float', v: op === '+' ? fx + fy : fx - fy, line };
  }

  private add(a: PyValue, b: PyValue, line: number): PyValue {
    const n = this.arith(a, b, line, '+');
    if (n) return n;
    if (a.t === 'str' && b.t === 'str') return { t: 'str', v: a.v + b.v, line };
    if ((a.t === 'list' && b.t === 'list') || (a.t === 'tuple' && b.t === 'tuple')) {
      return { t: a.t, items: [...a.items, ...b.items], line };
    }
    // Python 2's TypeError wording.
    if (a.t === 'str') this.err(`cannot concatenate 'str' and '${pyTypeName(b)}' objects`, line);
    if (a.t === 'list' || a.t === 'tuple') this.err(`can only concatenate ${a.t} (not "${pyTypeName(b)}") to ${a.t}`, line);
    this.err(`unsupported operand type(s) for +: '${pyTypeName(a)}' and '${pyTypeName(b)}'`, line);
  }

  private sub(a: PyValue, b: PyValue, line: number): PyValue {
    const n = this.arith(a, b, line, '-');
    if (n) return n;
    this.err(`unsupported operand type(s) for -: '${pyTypeName(a)}' and '${pyTypeName(b)}'`, line);
  }
}

/**
 * Read a config file's text. `predefined` are the variables the file may use before it sets
 * them: xm put the command line's VAR=VAL arguments there (opts.load: locs.update(self.vars)).
 */
export function parsePyConfig(src: string, file: string, predefined: ReadonlyMap<string, PyValue> = new Map()): PyScript {
  const text = src.startsWith('\ufeff') ? src.slice(1) : src;
  const toks = new Lexer(text, file).run();
  return new Parser(toks, file, predefined).run();
}
