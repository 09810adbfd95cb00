// Console output kept on dom0's side while nobody is attached. xenconsoled keeps what the pty
// reader has not taken, up to the domain's console/limit (xend writes console-limit KiB,
// default 1024: XendDomainInfo._storeDomDetails, XendOptions.get_console_limit in
// RELEASE-4.4.4). Over the limit io.c (buffer_append, discard_overflowed_data) throws away
// the middle of the data; here the oldest bytes go, so what a late reader gets is the tail
// that leads up to the screen it will see.

/** xend's default console-limit, 1024 KiB. */
export const DEFAULT_CONSOLE_LIMIT = 1024 * 1024;

export class BoundedBuffer {
  private chunks: Uint8Array[] = [];
  private head = 0; // bytes of chunks[0] already dropped
  private total = 0;
  /** Bytes dropped since the buffer was created. */
  dropped = 0;

  constructor(readonly limit: number = DEFAULT_CONSOLE_LIMIT) {
    if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`console buffer limit must be a byte count >= 0, got ${limit}`);
  }

  get size(): number {
    return this.total;
  }

  append(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (bytes.length >= this.limit) {
      this.dropped += this.total + bytes.length - this.limit;
      this.chunks = this.limit === 0 ? [] : [bytes.slice(bytes.length - this.limit)];
      this.head = 0;
      this.total = this.limit;
      return;
    }
    this.chunks.push(bytes.slice());
    this.total += bytes.length;
    let over = this.total - this.limit;
    while (over > 0) {
      const first = this.chunks[0]!;
      const avail = first.length - this.head;
      if (avail <= over) {
        this.chunks.shift();
        this.head = 0;
        over -= avail;
        this.total -= avail;
        this.dropped += avail;
      } else {
        this.head += over;
        this.total -= over;
        this.dropped += over;
        over = 0;
      }
    }
  }

  /** Everything held, oldest first; the buffer is left empty. */
  take(): Uint8Array {
    const out = new Uint8Array(this.total);
    let o = 0;
    for (let i = 0; i < this.chunks.length; i++) {
      const c = i === 0 ? this.chunks[i]!.subarray(this.head) : this.chunks[i]!;
      out.set(c, o);
      o += c.length;
    }
    this.clear();
    return out;
  }

  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.total = 0;
  }
}
