// A domain's console log, /var/log/xen/console/guest-NAME.log in xenconsoled (io.c
// create_console_log: open O_WRONLY|O_CREAT|O_APPEND, mode 0644; write_with_timestamp for
// --timestamp=guest). Writes are synchronous, as xenconsoled's are, so the log has the guest's
// last words even when the host dies right after. A failing log is reported and the console
// goes on without it, as in io.c.

import { closeSync, openSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';

import { silentLogger, type ServiceLogger } from '../../devices/logger.js';

/** io.c create_console_log: LOG_DIR/guest-NAME.log. */
export function guestLogPath(logDir: string, name: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0') || basename(name) !== name) {
    throw new Error(`xenconsoled: domain name ${JSON.stringify(name)} cannot name a log file`);
  }
  return join(logDir, `guest-${name}.log`);
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** strftime "[%Y-%m-%d %H:%M:%S] " in local time, as io.c write_with_timestamp. */
export function logTimestamp(now: Date = new Date()): string {
  return `[${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())} ${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}] `;
}

const NL = 0x0a;
const CR = 0x0d;

export interface ConsoleLogFileOptions {
  /** Prefix each line with the time (xenconsoled --timestamp=guest). */
  timestamps?: boolean;
  logger?: ServiceLogger;
  /** Names the domain in error messages. */
  label?: string;
  /** Clock for timestamps. */
  now?: () => Date;
}

export class ConsoleLogFile {
  private fd = -1;
  private needTs = true;
  private readonly timestamps: boolean;
  private readonly logger: ServiceLogger;
  private readonly label: string;
  private readonly now: () => Date;

  constructor(readonly path: string, opts: ConsoleLogFileOptions = {}) {
    this.timestamps = opts.timestamps ?? false;
    this.logger = opts.logger ?? silentLogger;
    this.label = opts.label ?? path;
    this.now = opts.now ?? (() => new Date());
    this.open();
  }

  get isOpen(): boolean {
    return this.fd !== -1;
  }

  private open(): void {
    try {
      this.fd = openSync(this.path, 'a', 0o644);
    } catch (e) {
      this.fd = -1;
      this.logger.error(`xenconsoled: failed to open log ${this.path} for ${this.label}: ${(e as Error).message}`);
      return;
    }
    if (this.timestamps) this.write(new TextEncoder().encode('Logfile Opened\n'));
  }

  write(bytes: Uint8Array): void {
    if (this.fd === -1 || bytes.length === 0) return;
    try {
      if (this.timestamps) this.writeStamped(bytes);
      else this.writeAll(bytes);
    } catch (e) {
      this.logger.error(`xenconsoled: write to log ${this.path} failed for ${this.label}: ${(e as Error).message}`);
    }
  }

  private writeAll(bytes: Uint8Array): void {
    let o = 0;
    while (o < bytes.length) {
      const n = writeSync(this.fd, bytes, o, bytes.length - o);
      if (n <= 0) throw new Error(`write returned ${n}`);
      o += n;
    }
  }

  // One timestamp per line start; the \r a guest sends right after a \n is dropped so the
  // stamp begins the line in the file (write_with_timestamp).
  private writeStamped(bytes: Uint8Array): void {
    const ts = new TextEncoder().encode(logTimestamp(this.now()));
    let p = 0;
    while (p < bytes.length) {
      let nl = bytes.indexOf(NL, p);
      const found = nl !== -1;
      if (!found) nl = bytes.length - 1;
      if (this.needTs) this.writeAll(ts);
      this.writeAll(bytes.subarray(p, nl + 1));
      this.needTs = found;
      p = nl + 1;
      if (found) while (p < bytes.length && bytes[p] === CR) p++;
    }
  }

  /** Close and open again (xenconsoled's SIGHUP: log rotation moved the file away). */
  reopen(): void {
    this.close();
    this.needTs = true;
    this.open();
  }

  close(): void {
    if (this.fd === -1) return;
    try {
      closeSync(this.fd);
    } catch (e) {
      this.logger.error(`xenconsoled: closing log ${this.path} failed: ${(e as Error).message}`);
    }
    this.fd = -1;
  }
}
