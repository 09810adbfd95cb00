// The console daemon as a library for dom0's main thread: one Console per domU, plus the
// hypervisor's console ring for `xm dmesg`. In C xenconsoled finds domains by watching
// xenstore (@introduceDomain, console/ring-ref and console/port); here xend, which builds
// the domain and so knows the page and the event channel, introduces it directly.

import type { DomainMemory } from '../../hypervisor/domain_memory.js';
import { Conring, CONRING_SIZE } from './conring.js';
import { Console, type ConsoleOptions } from './console.js';
import { guestLogPath } from './logfile.js';
import { silentLogger, type ServiceLogger } from '../../devices/logger.js';
import type { ScreenOptions } from './screen.js';

export interface XenconsoledOptions {
  logger?: ServiceLogger;
  /** Where guest-NAME.log files go (xenconsoled --log=guest --log-dir=DIR); no guest logs when absent. */
  logDir?: string;
  /** xenconsoled --timestamp=guest. */
  logTimestamps?: boolean;
  conringSize?: number;
  screen?: ScreenOptions;
}

export interface IntroduceOptions {
  domid: number;
  name: string;
  /** The console frame; see consolePage(). */
  page: Uint8Array;
  notify: () => void;
  bufferLimit?: number;
  /** Overrides the log path derived from logDir and the name. */
  logFile?: string;
}

/**
 * The console page of a domain: start_info.console.domU.mfn, which the builder takes from the
 * guest's RAM. Anything else (a hypervisor frame, a frame outside the domain) is refused.
 */
export function consolePage(mem: DomainMemory, mfn: number): Uint8Array {
  if (!mem.isRam(mfn)) throw new RangeError(`xenconsoled: console frame ${mfn} is not RAM of the domain (0..${mem.nrPages - 1})`);
  return mem.frame(mfn);
}

export class Xenconsoled {
  readonly conring: Conring;
  private readonly consoles = new Map<number, Console>();
  private readonly logger: ServiceLogger;

  constructor(private readonly opts: XenconsoledOptions = {}) {
    this.logger = opts.logger ?? silentLogger;
    this.conring = new Conring(opts.conringSize ?? CONRING_SIZE);
  }

  introduceDomain(o: IntroduceOptions): Console {
    if (this.consoles.has(o.domid)) throw new Error(`xenconsoled: domain ${o.domid} already has a console`);
    const logFile = o.logFile ?? (this.opts.logDir !== undefined ? guestLogPath(this.opts.logDir, o.name) : undefined);
    const copts: ConsoleOptions = {
      domid: o.domid,
      name: o.name,
      page: o.page,
      notify: o.notify,
      logger: this.logger,
      logTimestamps: this.opts.logTimestamps ?? false,
    };
    if (o.bufferLimit !== undefined) copts.bufferLimit = o.bufferLimit;
    if (logFile !== undefined) copts.logFile = logFile;
    if (this.opts.screen !== undefined) copts.screen = this.opts.screen;
    const c = new Console(copts);
    this.consoles.set(o.domid, c);
    this.logger.info(`xenconsoled: console for ${c.label} introduced`);
    // The guest may have written before we looked (earlyprintk through hvc happens early).
    c.kick();
    return c;
  }

  console(domid: number): Console | undefined {
    return this.consoles.get(domid);
  }

  /** The guest's console event arrived; events for unknown domains are logged and dropped. */
  kick(domid: number): void {
    const c = this.consoles.get(domid);
    if (c === undefined) {
      this.logger.warn(`xenconsoled: console event for domain ${domid}, which has no console`);
      return;
    }
    c.kick();
  }

  /** The domain is gone: take its last output, close readers and its log, drop it. */
  releaseDomain(domid: number): void {
    const c = this.consoles.get(domid);
    this.conring.forgetDomain(domid);
    if (c === undefined) return;
    c.close();
    this.consoles.delete(domid);
  }

  /** Reopen every guest log (SIGHUP in xenconsoled, after logrotate). */
  reopenLogs(): void {
    for (const c of this.consoles.values()) c.reopenLog();
  }

  close(): void {
    for (const domid of [...this.consoles.keys()]) this.releaseDomain(domid);
  }
}
