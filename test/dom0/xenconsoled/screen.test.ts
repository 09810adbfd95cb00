import type { Terminal } from '@xterm/headless';
import { afterEach, describe, expect, it } from 'vitest';

import { Console, newTerminal, Screen, sgrOf } from '../../../src/dom0/xenconsoled/index.js';
import { Collector, GuestDomain, GuestThread, numberedLines } from './guest.js';

const threads: GuestThread[] = [];
afterEach(async () => {
  for (const t of threads.splice(0)) await t.terminate();
});

function setup(): { dom: GuestDomain; con: Console; guest: GuestThread } {
  const dom = new GuestDomain();
  const con = new Console({ domid: 3, name: 'screen', page: dom.page, notify: dom.notify });
  const guest = new GuestThread(dom, () => con.kick());
  threads.push(guest);
  return { dom, con, guest };
}

function writeTerm(t: Terminal, data: string | Uint8Array): Promise<void> {
  return new Promise((resolve) => t.write(data, resolve));
}

/** Every visible cell of a terminal: character, width and attributes. */
function cells(t: Terminal): string[] {
  const buf = t.buffer.active;
  const cell = buf.getNullCell();
  const rows: string[] = [];
  for (let y = 0; y < t.rows; y++) {
    const line = buf.getLine(buf.baseY + y)!;
    const parts: string[] = [];
    for (let x = 0; x < t.cols; x++) {
      line.getCell(x, cell);
      parts.push(`${cell.getChars()}/${cell.getWidth()}/${sgrOf(cell)}`);
    }
    rows.push(parts.join(' '));
  }
  return rows;
}

function screenOf(t: Terminal): string[] {
  const buf = t.buffer.active;
  const rows: string[] = [];
  for (let y = 0; y < t.rows; y++) rows.push(buf.getLine(buf.baseY + y)!.translateToString(true));
  return rows;
}

describe('the console screen (headless terminal)', () => {
  it('shows what the guest drew, after a clear-screen, with the cursor where it was left', async () => {
    const { con, guest } = setup();
    await guest.up;
    await guest.write(numberedLines(30, 'garbage'), [64]);
    await guest.write('\x1b[2J\x1b[Htop line\r\n\x1b[5;10Hmid', [3]);
    await con.settled();
    const rows = con.screenText();
    expect(rows).toHaveLength(25);
    expect(rows[0]).toBe('top line');
    expect(rows[4]).toBe('         mid');
    expect(rows.filter((r, i) => i !== 0 && i !== 4 && r !== '')).toEqual([]);
    expect(con.cursor()).toEqual({ x: 12, y: 4, visible: true });
  });

  it('scrolls like a terminal: the last rows on screen, earlier ones in scrollback', async () => {
    const { con, guest } = setup();
    await guest.up;
    const text = numberedLines(40, 'row');
    await guest.write(text, [100]);
    await con.settled();
    const lines = text.split('\r\n').slice(0, 40);
    expect(con.screenText()).toEqual([...lines.slice(16), '']);
    expect(con.screen.allText().slice(0, 40)).toEqual(lines);
    expect(con.cursor()).toEqual({ x: 0, y: 24, visible: true });
  });

  it('decodes UTF-8 that the ring split between two reads', async () => {
    const { con, guest } = setup();
    await guest.up;
    await guest.write('caf\u00e9 \u65e5\u672c \u2713', [1]); // one byte per ring write
    await con.settled();
    expect(con.screenText()[0]).toBe('caf\u00e9 \u65e5\u672c \u2713');
  });

  it('tracks cursor visibility (DECTCEM, reset by RIS)', async () => {
    const s = new Screen();
    s.write(new TextEncoder().encode('\x1b[?25l'));
    await s.settled();
    expect(s.cursor().visible).toBe(false);
    s.write(new TextEncoder().encode('\x1bc'));
    await s.settled();
    expect(s.cursor().visible).toBe(true);
    s.dispose();
  });

  it('honours the size it is given and refuses silly ones', async () => {
    const s = new Screen({ cols: 40, rows: 10 });
    s.write(new TextEncoder().encode('x'.repeat(45)));
    await s.settled();
    expect(s.screenText().slice(0, 2)).toEqual(['x'.repeat(40), 'xxxxx']);
    s.resize(100, 30);
    expect(s.screenText()).toHaveLength(30);
    expect(() => new Screen({ cols: 0 })).toThrow(/cols must be an integer in 2..1000, got 0/);
    expect(() => s.resize(80, 1.5)).toThrow(/rows must be an integer/);
    s.dispose();
  });
});

describe('repaint', () => {
  // A screen with colours of every kind, attributes, wide characters, a full-width row and
  // the cursor hidden, parked past the right margin (pending wrap).
  const scene =
    'plain line\r\n' +
    '\x1b[31mred\x1b[0m \x1b[1;44mbold on blue\x1b[0m \x1b[38;5;200mpal200\x1b[0m \x1b[38;2;1;2;3;48;2;250;128;7mrgb\x1b[0m\r\n' +
    '\x1b[7minverse\x1b[27m \x1b[4munder\x1b[24m \x1b[3;9mital-strike\x1b[0m \x1b[92;103mbright\x1b[0m\r\n' +
    '\u65e5\u672c\u8a9e wide \u00e9\r\n' +
    '\x1b[10;5H\x1b[45m   \x1b[0m<- coloured blanks\r\n' +
    '\x1b[?25l' +
    '\x1b[25;1H' + 'z'.repeat(80);

  it('redraws the same screen on a fresh terminal: text, attributes and cursor', async () => {
    const s = new Screen();
    s.write(new TextEncoder().encode(numberedLines(50, 'old') + '\x1b[2J\x1b[H' + scene));
    await s.settled();
    expect(s.cursor()).toEqual({ x: 80, y: 24, visible: false });
    const paint = s.repaint();

    const fresh = newTerminal();
    // The terminal it lands on had something else on it.
    await writeTerm(fresh, 'junk that must vanish\r\n\x1b[33mmore junk\x1b[5;5H');
    await writeTerm(fresh, paint);
    expect(screenOf(fresh)).toEqual(s.screenText());
    expect(cells(fresh)).toEqual(cells(s.terminal));
    expect({ x: fresh.buffer.active.cursorX, y: fresh.buffer.active.cursorY }).toEqual({ x: 80, y: 24 });
    expect(paint.endsWith('\x1b[?25l')).toBe(true);
    // And what it redraws is what a person sees.
    expect(s.screenText()[1]).toBe('red bold on blue pal200 rgb');
    expect(s.screenText()[3]).toBe('\u65e5\u672c\u8a9e wide \u00e9');
    s.dispose();
  });

  it('keeps coloured erased areas (a status bar drawn with erase-in-line)', async () => {
    const s = new Screen();
    s.write(new TextEncoder().encode('\x1b[25;1H\x1b[44m\x1b[K status \x1b[0m\x1b[1;1Hprompt$ '));
    await s.settled();
    const fresh = newTerminal();
    await writeTerm(fresh, s.repaint());
    expect(cells(fresh)).toEqual(cells(s.terminal));
    expect(cells(fresh)[24]).toContain(' /1/\x1b[0;44m');
    expect(screenOf(fresh)[24]).toBe(' status ');
    expect(screenOf(fresh)[0]).toBe('prompt$ ');
    s.dispose();
  });

  it('places an ordinary cursor exactly', async () => {
    const s = new Screen();
    s.write(new TextEncoder().encode('abc\r\n\x1b[12;33Hx'));
    await s.settled();
    const fresh = newTerminal();
    await writeTerm(fresh, s.repaint());
    expect({ x: fresh.buffer.active.cursorX, y: fresh.buffer.active.cursorY }).toEqual({ x: 33, y: 11 });
    expect(screenOf(fresh)).toEqual(s.screenText());
    s.dispose();
  });

  it('a reader attaching with replay "screen" gets the screen, then live output, with no gap or overlap', async () => {
    const { con, guest } = setup();
    await guest.up;
    await guest.write('\x1b[2J\x1b[H' + numberedLines(10, 'before') + '\x1b[31mcolour\x1b[0m\r\n', [50]);
    // Attach while the guest keeps writing.
    const writing = guest.write(numberedLines(60, 'during'), [7, 2048, 33]);
    const out = new Collector();
    const a = con.attach(out, { replay: 'screen' });
    await a.ready;
    await writing;
    await guest.write('after\r\n');
    await con.settled();
    const viewer = newTerminal();
    await writeTerm(viewer, out.bytes());
    expect(screenOf(viewer)).toEqual(con.screenText());
    expect(cells(viewer)).toEqual(cells(con.screen.terminal));
    expect(con.screenText()[23]).toBe('after');
  });
});

describe('screen backlog', () => {
  it('stops draining the ring while the terminal is behind, and resumes by itself', async () => {
    const dom = new GuestDomain();
    const con = new Console({ domid: 5, page: dom.page, notify: dom.notify, screenBacklogMax: 100 });
    const out = new Collector();
    con.attach(out);
    const put = (s: string): void => {
      const prod = Atomics.load(dom.idx, 3) >>> 0;
      const b = new TextEncoder().encode(s);
      for (let i = 0; i < b.length; i++) dom.page[1024 + ((prod + i) % 2048)] = b[i]!;
      Atomics.store(dom.idx, 3, (prod + b.length) | 0);
    };
    put('x'.repeat(1500));
    con.kick();
    expect(out.length).toBe(1500);
    put('second');
    con.kick(); // the terminal has 1500 unparsed bytes > 100: leave the ring alone
    expect(Atomics.load(dom.idx, 2)).toBe(1500);
    expect(out.length).toBe(1500);
    await con.settled();
    await con.settled();
    expect(Atomics.load(dom.idx, 2)).toBe(1506);
    expect(out.text().endsWith('second')).toBe(true);
  });
});
