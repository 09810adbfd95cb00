// S-expressions as xm printed them: sxp.show() for the flat form and PrettyPrint.prettyprint()
// for `xm list --long` and `xm block-list --long`.
// Reference: tools/python/xen/xend/sxp.py (atomp, show) and
// tools/python/xen/xend/PrettyPrint.py (SXPPrettyPrinter, Line, PrettyBlock), Xen 4.4.4.

import { pyReprStr, pyStrFloat } from './pycompat.js';

import type { Sxp, SxpFloat } from '../../dom0/model/info.js';

export type { Sxp, SxpFloat };

export function sxpFloat(value: number): SxpFloat {
  return { float: value };
}

const ATOM_REJECT = '"\'\\(){}[]<>$#&%^';
const ATOM_EXTRA = '.-_:/~';

/** sxp.atomp(): may this string be printed bare, without quotes? */
export function atomp(s: string): boolean {
  if (s === '') return false;
  if (/^[A-Za-z0-9]+$/.test(s) || s === '@') return true;
  for (const c of s) {
    // string.whitespace in Python 2: space, \t, \n, \v, \f, \r.
    if (' \t\n\v\f\r'.includes(c)) return false;
    if (ATOM_REJECT.includes(c)) return false;
    if (/[A-Za-z0-9]/.test(c)) continue;
    if (ATOM_EXTRA.includes(c)) continue;
    return false;
  }
  return true;
}

/** One atom as sxp.show() writes it. */
function showAtom(x: string | number | SxpFloat): string {
  if (typeof x === 'number') {
    if (!Number.isInteger(x)) throw new TypeError(`sxp int must be an integer, got ${x}; wrap floats with sxpFloat()`);
    return String(x);
  }
  if (typeof x === 'string') return atomp(x) ? x : pyReprStr(x);
  return pyStrFloat(x.float);
}

/** sxp.show(): the one-line bracketed form. */
export function show(x: Sxp): string {
  if (Array.isArray(x)) return `(${(x as readonly Sxp[]).map(show).join(' ')})`;
  return showAtom(x as string | number | SxpFloat);
}

// ---------------------------------------------------------------------------------------
// PrettyPrint.prettyprint: Oppen-style layout. Every list is a block whose items are joined
// by breaks (width 1, indent 4) and closed by a break of width 0, indent 0 before ')'. A block
// that does not fit in what is left of the line is "broken": all of its breaks become
// newlines (SXPPrettyPrinter uses all=1). Otherwise a break turns into a newline only if the
// text up to the next break does not fit.
// ---------------------------------------------------------------------------------------

interface PText { readonly kind: 'text'; readonly text: string; readonly width: number }
interface PBreak { readonly kind: 'break'; readonly width: number; readonly indent: number; space: number }
interface PBlock { readonly kind: 'block'; readonly items: PItem[]; width: number }
type PItem = PText | PBreak | PBlock;

function text(s: string): PText {
  return { kind: 'text', text: s, width: s.length };
}

function brk(width: number, indent: number): PBreak {
  return { kind: 'break', width, indent, space: 0 };
}

/** SXPPrettyPrinter.pprint() followed by PrettyBlock.end()/PrettyLine.end(). */
function layout(x: readonly Sxp[]): PBlock {
  const items: PItem[] = [text('(')];
  x.forEach((e, i) => {
    if (i > 0) items.push(brk(1, 4));
    items.push(Array.isArray(e) ? layout(e as readonly Sxp[]) : text(showAtom(e as string | number | SxpFloat)));
  });
  items.push(brk(0, 0));
  items.push(text(')'));
  // A break's "space" is the width from it to the next break (or the end of the block).
  let width = 0;
  let lastWidth = 0;
  let last: PBreak | null = null;
  for (const it of items) {
    if (it.kind === 'break') {
      if (last) last.space = width - lastWidth;
      last = it;
      lastWidth = width;
    }
    width += it.width;
  }
  if (last) last.space = width - lastWidth;
  return { kind: 'block', items, width };
}

class Line {
  out = '';
  used = 0;
  space: number;
  constructor(readonly width: number) {
    this.space = width;
  }
  newline(indent: number): void {
    this.out += `\n${' '.repeat(indent)}`;
    this.used = indent;
    this.space = this.width - this.used;
  }
  fits(n: number): boolean {
    return this.space - n >= 0;
  }
  output(s: string, n: number): void {
    this.space -= n;
    this.used += n;
    // Line.output clamps at zero, which later fits() tests see.
    if (this.space < 0) this.space = 0;
    this.out += s;
  }
}

function printBlock(b: PBlock, line: Line): void {
  const indent = line.used;
  const broken = !line.fits(b.width);
  for (const it of b.items) {
    if (it.kind === 'text') line.output(it.text, it.width);
    else if (it.kind === 'block') printBlock(it, line);
    else if (broken || !line.fits(it.space)) line.newline(indent + it.indent);
    else line.output(' '.repeat(it.width), it.width);
  }
}

/** PrettyPrint.prettyprint(sxpr, width=80): the layout plus the final newline. */
export function prettyprint(x: Sxp, width = 80): string {
  if (!Array.isArray(x)) return `${show(x)}\n`;
  const line = new Line(width);
  printBlock(layout(x as readonly Sxp[]), line);
  return `${line.out}\n`;
}
