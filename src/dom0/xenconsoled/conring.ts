// The hypervisor's console ring, what `xm dmesg` prints and `xm dmesg -c` prints then clears.
// Semantics of xen/drivers/char/console.c: a byte ring of conring_size (16 KiB by default,
// _CONRING_SIZE) that overwrites its oldest bytes (conring_puts); the hypervisor's own lines
// start with "(XEN) " (CONSOLE_PREFIX); a domU's HYPERVISOR_console_io(CONSOLEIO_write) is
// filtered to printable characters, \n and \t, collected per domain until a newline or
// until the 256-byte line buffer would overflow, and printed as one line prefixed "(dN) "
// (guest_console_write, guest_printk). Release builds of Xen drop those guest lines by log
// level (XENLOG_G_DEBUG is below the default guest_loglvl); tsxen keeps them all, as a
// debug build does (XENLOG_GUEST_UPPER_THRESHOLD 4), since earlyprintk=xen is how a domU that
// dies before hvc0 tells anyone why.

/** _CONRING_SIZE in console.c. */
export const CONRING_SIZE = 16384;

/** sizeof(struct domain_console.buf) in xen/include/xen/sched.h. */
const GUEST_LINE_BUF = 256;
/** sizeof(kbuf) - 1 in guest_console_write: how much is taken from the guest per step. */
const GUEST_CHUNK = 127;

/** DOMID_FIRST_RESERVED in xen.h: domain ids at or above it name no domain. */
const DOMID_FIRST_RESERVED = 0x7ff0;

const XEN_PREFIX = '(XEN) ';

/** How many of a domain's last hypervisor-console lines are kept for its obituary. */
export const DOMAIN_TAIL_LINES = 40;

// is_console_printable() in xen/include/xen/console.h: isprint() in Xen's C locale, \n, \t.
function printable(c: number): boolean {
  return (c >= 0x20 && c < 0x7f) || c === 0x0a || c === 0x09;
}

export class Conring {
  private readonly ring: Uint8Array;
  private cons = 0;
  private prod = 0;
  private continued = false;
  private readonly lines = new Map<number, number[]>();
  /** Per domain, its last lines in the ring: its own console_io lines and Xen's about it. */
  private readonly tails = new Map<number, string[]>();
  private readonly enc = new TextEncoder();

  constructor(readonly size: number = CONRING_SIZE) {
    if (!Number.isSafeInteger(size) || size < 1 || size > 64 * 1024 * 1024) {
      throw new RangeError(`conring size must be 1..64 MiB in bytes, got ${size}`);
    }
    this.ring = new Uint8Array(size);
  }

  /** Bytes held now. */
  get length(): number {
    return this.prod - this.cons;
  }

  private puts(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) this.ring[(this.prod + i) % this.size] = bytes[i]!;
    this.prod += bytes.length;
    if (this.prod - this.cons > this.size) this.cons = this.prod - this.size;
  }

  /**
   * A message from the hypervisor itself (printk): each line begins "(XEN) ". With `domid`
   * it is about that domain (a crash report) and is kept in the domain's tail too.
   */
  printk(text: string, domid?: number): void {
    if (domid !== undefined) {
      for (const l of text.split('\n')) if (l !== '') this.remember(domid, XEN_PREFIX + l);
    }
    const pieces = text.split('\n');
    for (let i = 0; i < pieces.length; i++) {
      const last = i === pieces.length - 1;
      const piece = pieces[i]!;
      if (last && piece === '') break;
      if (!this.continued) this.puts(this.enc.encode(XEN_PREFIX));
      this.puts(this.enc.encode(last ? piece : `${piece}\n`));
      this.continued = last;
    }
  }

  /** HYPERVISOR_console_io(CONSOLEIO_write, ...) from domain `domid`. */
  append(text: Uint8Array | string, domid: number): void {
    if (!Number.isInteger(domid) || domid < 1 || domid >= DOMID_FIRST_RESERVED) {
      // Domain 0 is the host process here; it has no console_io to call.
      throw new RangeError(`conring: console_io write from invalid domain ${domid}`);
    }
    const bytes = typeof text === 'string' ? this.enc.encode(text) : text;
    let line = this.lines.get(domid);
    if (line === undefined) {
      line = [];
      this.lines.set(domid, line);
    }
    let p = 0;
    while (p < bytes.length) {
      const kept: number[] = [];
      let sawNewline = false;
      const end = Math.min(bytes.length, p + GUEST_CHUNK);
      while (p < end) {
        const c = bytes[p++]!;
        if (c === 0x0a) {
          sawNewline = true;
          break;
        }
        if (printable(c)) kept.push(c);
      }
      if (!sawNewline && line.length + kept.length < GUEST_LINE_BUF - 1) {
        for (const c of kept) line.push(c);
      } else {
        this.guestLine(domid, [...line, ...kept]);
        line.length = 0;
      }
    }
  }

  private guestLine(domid: number, chars: number[]): void {
    this.remember(domid, `(d${domid}) ${String.fromCharCode(...chars)}`);
    // guest_printk goes through vprintk_common: a line the hypervisor left open continues.
    if (!this.continued) this.puts(this.enc.encode(`(d${domid}) `));
    this.puts(Uint8Array.from(chars));
    this.puts(Uint8Array.of(0x0a));
    this.continued = false;
  }

  private remember(domid: number, line: string): void {
    let t = this.tails.get(domid);
    if (t === undefined) this.tails.set(domid, (t = []));
    t.push(line);
    if (t.length > DOMAIN_TAIL_LINES) t.shift();
  }

  /** The domain's last lines (console_io output and Xen's messages about it), oldest first. */
  domainTail(domid: number): readonly string[] {
    return this.tails.get(domid) ?? [];
  }

  /** A domain is gone: its unfinished line goes with it, as struct domain does in Xen. */
  forgetDomain(domid: number): void {
    this.lines.delete(domid);
    this.tails.delete(domid);
  }

  /** Everything in the ring, oldest first (sysctl readconsole). */
  read(): string {
    const n = this.prod - this.cons;
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.ring[(this.cons + i) % this.size]!;
    return new TextDecoder().decode(out);
  }

  /** Forget what has been read (readconsole with clear=1). */
  clear(): void {
    this.cons = this.prod;
  }
}
