// What a person looking at the console would see: every byte of guest output also goes into
// an @xterm/headless terminal. It gives tests the screen as text, and a re-attaching
// `xm console` a repaint of the screen as it stands instead of a replay of megabytes of
// history. (C xenconsoled has no such thing; its pty just hands over the unread bytes.)
//
// The terminal never answers the guest: replies to queries such as DSR come from the
// user's real terminal on the other end of `xm console`, and two answers would confuse
// the guest.

import xterm from '@xterm/headless';
import type { IBufferCell, IDisposable, Terminal } from '@xterm/headless';

export const DEFAULT_COLS = 80;
export const DEFAULT_ROWS = 25;
export const DEFAULT_SCROLLBACK = 1000;

export interface ScreenOptions {
  cols?: number;
  rows?: number;
  scrollback?: number;
}

export interface CursorPosition {
  /** Column, 0-based; equals cols when a character was just printed in the last column (pending wrap). */
  x: number;
  /** Row within the visible screen, 0-based. */
  y: number;
  visible: boolean;
}

// The terminal's limits: below xterm's minimum it clamps silently, and far above nothing
// useful is drawn but memory goes fast.
const MAX_COLS = 1000;
const MAX_ROWS = 500;
const MAX_SCROLLBACK = 100_000;

function checkSize(what: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`console ${what} must be an integer in ${min}..${max}, got ${v}`);
  return v;
}

export function newTerminal(opts: ScreenOptions = {}): Terminal {
  return new xterm.Terminal({
    cols: checkSize('cols', opts.cols ?? DEFAULT_COLS, 2, MAX_COLS),
    rows: checkSize('rows', opts.rows ?? DEFAULT_ROWS, 1, MAX_ROWS),
    scrollback: checkSize('scrollback', opts.scrollback ?? DEFAULT_SCROLLBACK, 0, MAX_SCROLLBACK),
    // The buffer and parser APIs are "proposed" in xterm.js and gated behind this flag.
    allowProposedApi: true,
  });
}

/** The SGR sequence that sets exactly this cell's attributes, starting from a reset. */
export function sgrOf(cell: IBufferCell): string {
  if (cell.isAttributeDefault()) return '\x1b[0m';
  const p: string[] = ['0'];
  if (cell.isBold()) p.push('1');
  if (cell.isDim()) p.push('2');
  if (cell.isItalic()) p.push('3');
  if (cell.isUnderline()) p.push('4');
  if (cell.isBlink()) p.push('5');
  if (cell.isInverse()) p.push('7');
  if (cell.isInvisible()) p.push('8');
  if (cell.isStrikethrough()) p.push('9');
  if (cell.isOverline()) p.push('53');
  if (cell.isFgRGB()) {
    const c = cell.getFgColor();
    p.push(`38;2;${(c >> 16) & 0xff};${(c >> 8) & 0xff};${c & 0xff}`);
  } else if (cell.isFgPalette()) {
    const c = cell.getFgColor();
    p.push(c < 8 ? String(30 + c) : c < 16 ? String(90 + c - 8) : `38;5;${c}`);
  }
  if (cell.isBgRGB()) {
    const c = cell.getBgColor();
    p.push(`48;2;${(c >> 16) & 0xff};${(c >> 8) & 0xff};${c & 0xff}`);
  } else if (cell.isBgPalette()) {
    const c = cell.getBgColor();
    p.push(c < 8 ? String(40 + c) : c < 16 ? String(100 + c - 8) : `48;5;${c}`);
  }
  return `\x1b[${p.join(';')}m`;
}

/** A cell that holds nothing: a cleared screen has only these. */
function isEmpty(cell: IBufferCell): boolean {
  return cell.getChars() === '' && cell.isAttributeDefault();
}

export class Screen {
  readonly terminal: Terminal;
  private cursorHidden = false;
  private readonly hooks: IDisposable[] = [];
  /** Bytes written to the terminal that it has not parsed yet. */
  private backlog = 0;

  constructor(opts: ScreenOptions = {}) {
    this.terminal = newTerminal(opts);
    // xterm.js keeps cursor visibility (DECTCEM) private; follow the sequences that change it.
    // Returning false lets xterm's own handlers run as well.
    const p = this.terminal.parser;
    this.hooks.push(
      p.registerCsiHandler({ prefix: '?', final: 'h' }, (params) => {
        if (params.includes(25)) this.cursorHidden = false;
        return false;
      }),
      p.registerCsiHandler({ prefix: '?', final: 'l' }, (params) => {
        if (params.includes(25)) this.cursorHidden = true;
        return false;
      }),
      p.registerCsiHandler({ intermediates: '!', final: 'p' }, () => {
        this.cursorHidden = false; // DECSTR
        return false;
      }),
      p.registerEscHandler({ final: 'c' }, () => {
        this.cursorHidden = false; // RIS
        return false;
      }),
    );
  }

  get cols(): number {
    return this.terminal.cols;
  }

  get rows(): number {
    return this.terminal.rows;
  }

  /** Bytes queued in the terminal's parser. */
  get pending(): number {
    return this.backlog;
  }

  /** Queue guest output; `parsed` runs once the terminal has taken it in. */
  write(bytes: Uint8Array, parsed?: () => void): void {
    if (bytes.length === 0) return;
    this.backlog += bytes.length;
    this.terminal.write(bytes, () => {
      this.backlog -= bytes.length;
      parsed?.();
    });
  }

  /**
   * Runs `fn` when everything written so far has been parsed and nothing written later has:
   * the screen it sees is the screen as of this call.
   */
  atCurrentState(fn: () => void): void {
    this.terminal.write('', fn);
  }

  /** Resolves when everything written so far is on the screen. */
  settled(): Promise<void> {
    return new Promise((resolve) => this.atCurrentState(resolve));
  }

  resize(cols: number, rows: number): void {
    this.terminal.resize(checkSize('cols', cols, 2, MAX_COLS), checkSize('rows', rows, 1, MAX_ROWS));
  }

  /** The visible rows as text, trailing blanks trimmed. */
  screenText(): string[] {
    const buf = this.terminal.buffer.active;
    const out: string[] = [];
    for (let y = 0; y < this.terminal.rows; y++) out.push(buf.getLine(buf.baseY + y)?.translateToString(true) ?? '');
    return out;
  }

  /** Scrollback and screen together, oldest line first. */
  allText(): string[] {
    const buf = this.terminal.buffer.active;
    const out: string[] = [];
    for (let y = 0; y < buf.length; y++) out.push(buf.getLine(y)?.translateToString(true) ?? '');
    return out;
  }

  cursor(): CursorPosition {
    const buf = this.terminal.buffer.active;
    return { x: buf.cursorX, y: buf.cursorY, visible: !this.cursorHidden };
  }

  /**
   * An ANSI string that redraws the visible screen on a terminal of the same size: reset and
   * clear, each row's cells with their attributes, then the cursor where it stands. Only what
   * has been parsed is drawn; call it from atCurrentState() for the screen as of a moment.
   */
  repaint(): string {
    const t = this.terminal;
    const buf = t.buffer.active;
    const cell = buf.getNullCell();
    const parts: string[] = ['\x1b[0m\x1b[H\x1b[2J'];
    for (let y = 0; y < t.rows; y++) {
      const line = buf.getLine(buf.baseY + y);
      if (line === undefined) continue;
      let end = t.cols - 1;
      while (end >= 0 && isEmpty(line.getCell(end, cell)!)) end--;
      if (end < 0) continue;
      parts.push(`\x1b[${y + 1};1H`);
      let sgr = '\x1b[0m';
      let x = 0;
      while (x <= end) {
        line.getCell(x, cell);
        if (cell.getWidth() === 0) {
          x++; // right half of a wide character, drawn with its left half
          continue;
        }
        if (cell.getChars() === '') {
          // Cells holding no character: never written, or erased in some background colour.
          // Step over them, erasing first when coloured, so they come out empty as they were
          // rather than as spaces.
          const s = sgrOf(cell);
          let n = 1;
          while (x + n <= end) {
            line.getCell(x + n, cell);
            if (cell.getChars() !== '' || cell.getWidth() === 0 || sgrOf(cell) !== s) break;
            n++;
          }
          if (s !== '\x1b[0m') {
            if (s !== sgr) {
              parts.push(s);
              sgr = s;
            }
            parts.push(`\x1b[${n}X`);
          }
          parts.push(`\x1b[${n}C`);
          x += n;
          continue;
        }
        const s = sgrOf(cell);
        if (s !== sgr) {
          parts.push(s);
          sgr = s;
        }
        parts.push(cell.getChars());
        x++;
      }
      if (sgr !== '\x1b[0m') parts.push('\x1b[0m');
    }
    const cx = buf.cursorX;
    const cy = buf.cursorY;
    const last = cx >= t.cols ? buf.getLine(buf.baseY + cy)?.getCell(t.cols - 1, cell) : undefined;
    if (last !== undefined && last.getWidth() === 1) {
      // Pending wrap: reprinting the last cell leaves the cursor past the margin, as it was.
      parts.push(`\x1b[${cy + 1};${t.cols}H`, sgrOf(last), last.getChars() || ' ', '\x1b[0m');
    } else {
      parts.push(`\x1b[${cy + 1};${Math.min(cx, t.cols - 1) + 1}H`);
    }
    parts.push(this.cursorHidden ? '\x1b[?25l' : '\x1b[?25h');
    return parts.join('');
  }

  dispose(): void {
    for (const h of this.hooks) h.dispose();
    this.terminal.dispose();
  }
}
