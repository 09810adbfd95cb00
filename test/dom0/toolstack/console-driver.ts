// Drives a domain's console like a person at the keyboard: waits for text, types commands,
// and returns what a command printed (between unique markers).
/** What the driver needs of a domain: its console output, a way to type, and its end (see driveConsole). */
export interface DrivenConsole {
  console: { on(ev: 'data', f: (d: Buffer) => void): unknown };
  input: { write(s: string): unknown };
  exited: Promise<{ reason: string; detail: string }>;
}

export class ConsoleDriver {
  out = '';
  private seq = 0;
  constructor(private readonly b: DrivenConsole) {
    b.console.on('data', (d: Buffer) => (this.out += d.toString()));
  }

  /** Wait until `text` appears after offset `from`; fails fast when the domain ends. */
  waitFor(text: string | RegExp, ms: number, from = 0): Promise<number> {
    return new Promise((resolve, reject) => {
      const t0 = Date.now();
      let done = false;
      const check = () => {
        const hay = this.out.slice(from);
        const idx = typeof text === 'string' ? hay.indexOf(text) : hay.search(text);
        if (idx >= 0) return finish(() => resolve(from + idx));
        if (Date.now() - t0 > ms) finish(() => reject(new Error(`${String(text)} not seen within ${ms} ms; console ends with:\n${this.out.slice(-2000)}`)));
      };
      const iv = setInterval(check, 25);
      const finish = (f: () => void) => {
        if (done) return;
        done = true;
        clearInterval(iv);
        f();
      };
      void this.b.exited.then((x) => setTimeout(() => {
        check();
        finish(() => reject(new Error(`domain ended (${x.reason} ${x.detail}) waiting for ${String(text)}; console ends with:\n${this.out.slice(-2000)}`)));
      }, 100));
    });
  }

  /** Run a shell command; resolves with its output (without the echoed command line). */
  async run(cmd: string, ms = 120_000): Promise<string> {
    const n = ++this.seq;
    const start = `__tsxen_${n}_start__`;
    const end = `__tsxen_${n}_end__`;
    const from = this.out.length;
    // The markers are split in the typed line so that the echo of the line does not match.
    this.b.input.write(`echo __tsxen_${n}_st''art__; ${cmd}; echo __tsxen_${n}_e''nd__\n`);
    // The tty turns \n into \r\n: match the marker alone, output starts after its line.
    const s = await this.waitFor(new RegExp(`${start}\r?\n`), ms, from);
    const e = await this.waitFor(end, ms, s + start.length);
    return this.out.slice(s + start.length, e).replace(/\r/g, '').trim();
  }
}
