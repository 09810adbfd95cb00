// One domU's console, as xenconsoled's struct console (tools/console/daemon/io.c): the shared
// page with its event channel on one side; on the other, what dom0 does with the output:
// the log file, a bounded buffer for when nobody is attached, any number of attached streams
// (`xm console`, `xm create -c`), and a headless terminal holding the screen.
//
// The host calls kick() whenever the guest's console event arrives. A kick drains the guest's
// output (copy, then release with out_cons, then notify so a guest waiting for room goes on)
// and moves queued input into in[] (notify if any went in). Input that does not fit stays
// queued for later kicks; the guest's hvc_xen notifies after it reads in[], so room appearing
// always brings a kick.

import { EventEmitter } from 'node:events';
import type { Writable } from 'node:stream';

import { BoundedBuffer, DEFAULT_CONSOLE_LIMIT } from './buffer.js';
import { ConsoleLogFile } from './logfile.js';
import { silentLogger, type ServiceLogger } from '../../devices/logger.js';
import { ConsoleRing, RingError } from './ring.js';
import { Screen, type CursorPosition, type ScreenOptions } from './screen.js';

/** Input queued beyond this makes write() return false (the caller should wait for 'drain'). */
export const INPUT_HIGH_WATER = 64 * 1024;
/** Input queued beyond this is refused: the guest is not reading its console. */
export const INPUT_MAX = 4 * 1024 * 1024;
/**
 * Unparsed output the terminal may hold before the console stops draining the ring. The guest
 * then waits for room as hvc_xen does (SCHEDOP_yield in domU_write_console), so a flood is
 * slowed to what the terminal parses instead of piling up in memory.
 */
export const SCREEN_BACKLOG_MAX = 1024 * 1024;

export type ConsoleState = 'running' | 'broken' | 'closed';

/** What an attaching reader gets before live output. */
export type Replay =
  /** The bytes buffered while nobody was attached (what xenconsoled's pty hands a new reader). */
  | 'buffer'
  /** A repaint of the screen as it stands (a re-attaching `xm console` on a terminal). */
  | 'screen'
  /** Nothing: live output only. */
  | 'none';

export interface AttachOptions {
  replay?: Replay;
  /** Runs once when the attachment ends: detach(), the console closing, or the stream failing. */
  onClose?: (reason: string) => void;
}

export interface ConsoleOptions {
  domid: number;
  /** The domain's name, for messages. */
  name?: string;
  /** The console frame: struct xencons_interface at its start, inside the domain's memory buffer. */
  page: Uint8Array;
  /** Raise the guest's console event channel. */
  notify: () => void;
  /** Bytes kept while nobody is attached (xenstore console/limit; xend's default is 1 MiB). */
  bufferLimit?: number;
  /** Append all output here (xenconsoled's guest-NAME.log); none when absent. */
  logFile?: string;
  /** Timestamp each line of the log (xenconsoled --timestamp=guest). */
  logTimestamps?: boolean;
  screen?: ScreenOptions;
  logger?: ServiceLogger;
  /** Unparsed terminal output above which the ring is left alone; default SCREEN_BACKLOG_MAX. */
  screenBacklogMax?: number;
}

export class Attachment {
  private closed = false;
  private pending: Uint8Array[] | null = null;
  private congested = false;
  /** Output this reader missed because its stream stopped taking data. */
  dropped = 0;
  private readonly onError = (e: Error): void => this.end(`stream error: ${e.message}`);

  /** Resolves when the replay has been written and live output flows. */
  readonly ready: Promise<void>;
  private markReady: () => void = () => {};

  /** @internal Console.attach() makes these. */
  constructor(
    private readonly owner: Console,
    readonly stream: Writable,
    private readonly onClose: ((reason: string) => void) | undefined,
    waitForReplay: boolean,
  ) {
    this.ready = new Promise((resolve) => {
      this.markReady = resolve;
    });
    if (waitForReplay) this.pending = [];
    else this.markReady();
    stream.on('error', this.onError);
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** @internal Live output, or queued while the replay is being prepared. */
  deliver(bytes: Uint8Array): void {
    if (this.closed) return;
    if (this.pending !== null) {
      this.pending.push(bytes);
      return;
    }
    this.push(bytes);
  }

  /** @internal The replay, then whatever arrived meanwhile. */
  startLive(replay: Uint8Array | string): void {
    if (this.closed) return;
    const queued = this.pending ?? [];
    this.pending = null;
    if (replay.length > 0) this.push(typeof replay === 'string' ? Buffer.from(replay, 'utf8') : replay);
    for (const q of queued) this.push(q);
    this.markReady();
  }

  private push(bytes: Uint8Array): void {
    const s = this.stream;
    if (s.destroyed || s.writableEnded) {
      this.end('stream closed');
      return;
    }
    // A reader that stops reading must not make dom0 hold the guest's output forever: beyond
    // the console limit its share is dropped (xenconsoled's discard_overflowed_data).
    if (s.writableLength >= this.owner.bufferLimit) {
      this.dropped += bytes.length;
      if (!this.congested) {
        this.congested = true;
        this.owner.log.warn(`xenconsoled: ${this.owner.label}: a console reader is not keeping up, dropping output for it`);
      }
      return;
    }
    this.congested = false;
    try {
      s.write(bytes);
    } catch (e) {
      this.end(`stream write failed: ${(e as Error).message}`);
    }
  }

  detach(): void {
    this.end('detached');
  }

  /** @internal */
  end(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = null;
    this.stream.off('error', this.onError);
    this.owner.forget(this);
    this.markReady();
    this.onClose?.(reason);
  }
}

export class Console extends EventEmitter {
  readonly domid: number;
  readonly name: string;
  readonly screen: Screen;
  readonly log: ServiceLogger;
  readonly bufferLimit: number;
  private readonly ring: ConsoleRing;
  private readonly notifyGuest: () => void;
  private readonly buffer: BoundedBuffer;
  private readonly logFile: ConsoleLogFile | null;
  private readonly attachments = new Set<Attachment>();
  private readonly screenBacklogMax: number;
  private input: Uint8Array[] = [];
  private inputHead = 0;
  private inputBytes = 0;
  private inputBlocked = false;
  private waitingForScreen = false;
  private kicking = false;
  private kickAgain = false;
  private _state: ConsoleState = 'running';
  private _brokenReason = '';
  /** Guest output bytes taken from the ring. */
  outputBytes = 0;

  constructor(opts: ConsoleOptions) {
    super();
    if (!Number.isInteger(opts.domid) || opts.domid < 0) throw new RangeError(`xenconsoled: bad domain id ${opts.domid}`);
    if (typeof opts.notify !== 'function') throw new TypeError('xenconsoled: notify must be a function');
    this.domid = opts.domid;
    this.name = opts.name ?? `domain-${opts.domid}`;
    this.log = opts.logger ?? silentLogger;
    this.ring = new ConsoleRing(opts.page);
    this.notifyGuest = opts.notify;
    this.bufferLimit = opts.bufferLimit ?? DEFAULT_CONSOLE_LIMIT;
    this.buffer = new BoundedBuffer(this.bufferLimit);
    this.screenBacklogMax = opts.screenBacklogMax ?? SCREEN_BACKLOG_MAX;
    this.screen = new Screen(opts.screen);
    this.logFile = opts.logFile === undefined
      ? null
      : new ConsoleLogFile(opts.logFile, { timestamps: opts.logTimestamps ?? false, logger: this.log, label: this.label });
  }

  /** "domain 3 (busybox)", for messages. */
  get label(): string {
    return `domain ${this.domid} (${this.name})`;
  }

  get state(): ConsoleState {
    return this._state;
  }

  /** Why the ring was abandoned, when state is 'broken'. */
  get brokenReason(): string {
    return this._brokenReason;
  }

  /** Input bytes waiting for room in the guest's ring. */
  get pendingInput(): number {
    return this.inputBytes;
  }

  /** Output held for the next reader (nobody attached). */
  get bufferedOutput(): number {
    return this.buffer.size;
  }

  /** Output dropped from the bounded buffer so far. */
  get droppedOutput(): number {
    return this.buffer.dropped;
  }

  get attached(): number {
    return this.attachments.size;
  }

  /** The guest's console event arrived. */
  kick(): void {
    // A notify that comes straight back as an event (a host that delivers synchronously)
    // must not nest a second pass inside the first: note it and go round again.
    if (this.kicking) {
      this.kickAgain = true;
      return;
    }
    this.kicking = true;
    try {
      do {
        this.kickAgain = false;
        if (this._state !== 'running') return;
        const drained = this.drainOutput();
        const fed = this.feedInput();
        if (drained || fed) this.notifyGuest();
      } while (this.kickAgain);
    } catch (e) {
      if (!(e instanceof RingError)) throw e;
      this.breakRing(e.message);
    } finally {
      this.kicking = false;
    }
  }

  private drainOutput(): boolean {
    if (this.screen.pending > this.screenBacklogMax) {
      this.waitingForScreen = true;
      return false;
    }
    const bytes = this.ring.readOutput();
    if (bytes.length === 0) return false;
    this.outputBytes += bytes.length;
    this.deliver(bytes);
    return true;
  }

  private deliver(bytes: Uint8Array): void {
    // The log first: it must have the output even when no reader is there (io.c buffer_append).
    this.logFile?.write(bytes);
    this.screen.write(bytes, () => {
      if (this.waitingForScreen && this.screen.pending <= this.screenBacklogMax) {
        this.waitingForScreen = false;
        this.kick();
      }
    });
    if (this.attachments.size === 0) this.buffer.append(bytes);
    else for (const a of this.attachments) a.deliver(bytes);
  }

  private feedInput(): boolean {
    let fed = false;
    while (this.inputBytes > 0) {
      const chunk = this.input[0]!;
      const n = this.ring.writeInput(chunk.subarray(this.inputHead));
      if (n === 0) break;
      fed = true;
      this.inputHead += n;
      this.inputBytes -= n;
      if (this.inputHead === chunk.length) {
        this.input.shift();
        this.inputHead = 0;
      }
    }
    if (this.inputBlocked && this.inputBytes <= INPUT_HIGH_WATER) {
      this.inputBlocked = false;
      queueMicrotask(() => this.emit('drain'));
    }
    return fed;
  }

  /**
   * Type into the guest's console. Bytes that do not fit in the ring yet wait for the guest to
   * read. Returns false when more than INPUT_HIGH_WATER is waiting (wait for 'drain'); throws
   * beyond INPUT_MAX, or when the console no longer works.
   */
  write(data: Uint8Array | string): boolean {
    if (this._state !== 'running') {
      throw new Error(`xenconsoled: ${this.label}: console is ${this._state}${this._brokenReason ? ` (${this._brokenReason})` : ''}, input refused`);
    }
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data.slice();
    if (bytes.length === 0) return this.inputBytes <= INPUT_HIGH_WATER;
    try {
      // Only input that waits counts against the limit; what fits in in[] now does not wait.
      const room = this.inputBytes === 0 ? this.ring.inputFree() : 0;
      if (this.inputBytes + bytes.length - room > INPUT_MAX) {
        throw new RangeError(`xenconsoled: ${this.label}: ${this.inputBytes} input bytes already wait for the guest to read; ${bytes.length} more would pass the ${INPUT_MAX}-byte limit`);
      }
      this.input.push(bytes);
      this.inputBytes += bytes.length;
      if (this.feedInput()) this.notifyGuest();
    } catch (e) {
      if (!(e instanceof RingError)) throw e;
      this.breakRing(e.message);
      return false;
    }
    if (this.inputBytes > INPUT_HIGH_WATER) {
      this.inputBlocked = true;
      return false;
    }
    return true;
  }

  private breakRing(reason: string): void {
    this._state = 'broken';
    this._brokenReason = reason;
    this.log.error(`xenconsoled: ${this.label}: console ring is broken, no longer served: ${reason}`);
    this.emit('broken', reason);
  }

  /**
   * Add a reader. Output reaches it from now on; before that it gets the replay: the buffered
   * bytes (default), a repaint of the screen, or nothing. The buffer is emptied either way:
   * what it held is on the screen the reader is shown or was handed over.
   */
  attach(stream: Writable, opts: AttachOptions = {}): Attachment {
    if (this._state === 'closed') throw new Error(`xenconsoled: ${this.label}: console is closed`);
    const replay = opts.replay ?? 'buffer';
    if (replay !== 'buffer' && replay !== 'screen' && replay !== 'none') {
      throw new TypeError(`xenconsoled: unknown replay ${String(replay)} (buffer, screen or none)`);
    }
    const a = new Attachment(this, stream, opts.onClose, replay === 'screen');
    this.attachments.add(a);
    if (replay === 'screen') {
      this.buffer.clear();
      // Output that arrives from here on is queued in the attachment and also written to the
      // terminal after this marker, so the repaint and the queue meet without gap or overlap.
      this.screen.atCurrentState(() => a.startLive(this.screen.repaint()));
    } else if (replay === 'buffer') {
      a.startLive(this.buffer.take());
    } else {
      this.buffer.clear();
      a.startLive('');
    }
    return a;
  }

  /** @internal An attachment ended. */
  forget(a: Attachment): void {
    this.attachments.delete(a);
  }

  screenText(): string[] {
    return this.screen.screenText();
  }

  cursor(): CursorPosition {
    return this.screen.cursor();
  }

  /** Resolves when the screen shows all output taken so far. */
  settled(): Promise<void> {
    return this.screen.settled();
  }

  /** Close and reopen the log file (log rotation; xenconsoled does it on SIGHUP). */
  reopenLog(): void {
    this.logFile?.reopen();
  }

  /**
   * The domain is gone. What the guest left in the ring is taken first (its last words, e.g.
   * "reboot: Power down"), then readers are told and the log is closed. The screen stays
   * readable.
   */
  close(): void {
    if (this._state === 'closed') return;
    if (this._state === 'running') {
      try {
        const bytes = this.ring.readOutput();
        if (bytes.length > 0) {
          this.outputBytes += bytes.length;
          this.deliver(bytes);
        }
      } catch (e) {
        if (!(e instanceof RingError)) throw e;
        this.log.warn(`xenconsoled: ${this.label}: final output not read: ${e.message}`);
      }
    }
    this._state = 'closed';
    for (const a of [...this.attachments]) a.end('domain gone');
    this.logFile?.close();
    this.input = [];
    this.inputBytes = 0;
    this.emit('close');
  }
}
