// dom0's handle on a domain running on its own worker thread: spawns the worker, carries
// event-channel notifications both ways through DomainControl, and is the FrontendDomain the
// block and network backends use (memory, grant table, interdomain binding).

import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DomainMemory } from '../domain_memory.js';
import { CMD_DESTROY, CMD_PAUSE, RunState } from '../domain_control.js';
import { GrantTable } from '../grant_table.js';
import type { EventChannelEnd, FrontendDomain } from '../frontend_domain.js';
import type { StartOfDay } from '../builder/start-of-day.js';
import type { ShutdownReason } from '../public.js';
import type { DomainThreadInit, FromDomainThread } from './messages.js';

export type { DomainThreadInit } from './messages.js';

/** Interval of the doorbell safety net (ms). */
const DOORBELL_POLL_MS = 100;
/** How long a destroyed domain's worker may take to notice before it is terminated (ms). */
const DESTROY_GRACE_MS = 2000;

/**
 * The worker's script. Under the TypeScript test runner this module is loaded from src/*.ts,
 * which a worker cannot load: the compiled twin in dist/ (built by `tsc -p .`, which `npm test`
 * runs first) is used instead.
 */
function workerScript(): URL {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return new URL('./domain-thread.js', import.meta.url);
  const m = /^(.*)[\\/]src[\\/]hypervisor[\\/]thread[\\/]index\.ts$/.exec(here);
  const built = m ? `${m[1]}/dist/src/hypervisor/thread/domain-thread.js` : '';
  if (!built || !existsSync(built)) throw new Error(`domain worker script not built (${built || here}): run \`npx tsc -p .\` first`);
  return new URL(`file://${built}`);
}

export interface DomainThreadOptions {
  domid: number;
  name: string;
  uuid: Uint8Array;
  mem: DomainMemory;
  vcpus: number;
  sod: StartOfDay;
  storePort: number;
  consolePort: number;
}

export interface DomainThreadEvents {
  log: [text: string];
  printk: [text: string];
  shutdown: [reason: ShutdownReason, detail: string];
  /** The domain thread failed (the domain is dead). */
  error: [message: string];
  /** A dom0 port handler threw (the domain runs on). */
  handlerError: [message: string];
  exit: [];
}

export class DomainThread extends EventEmitter<DomainThreadEvents> implements FrontendDomain {
  readonly domid: number;
  readonly mem: DomainMemory;
  readonly grants: GrantTable;
  private readonly worker: Worker;
  private readonly ports = new Map<number, () => void>();
  private running = true;
  private exitedPromise: Promise<void>;

  constructor(o: DomainThreadOptions) {
    super();
    this.domid = o.domid;
    this.mem = o.mem;
    this.grants = new GrantTable(o.mem);
    const init: DomainThreadInit = {
      domid: o.domid,
      name: o.name,
      uuid: o.uuid,
      nrPages: o.mem.nrPages,
      vcpus: o.vcpus,
      memSab: o.mem.sab,
      ctlSab: o.mem.ctl.sab,
      sod: o.sod,
      storePort: o.storePort,
      consolePort: o.consolePort,
    };
    this.worker = new Worker(workerScript(), { workerData: init, name: `domain-${o.domid}` });
    this.worker.on('message', (m: FromDomainThread) => {
      if (m.t === 'log') this.emit('log', m.text);
      else if (m.t === 'printk') this.emit('printk', m.text);
      else if (m.t === 'shutdown') this.emit('shutdown', m.reason, m.detail);
      else if (m.t === 'error') this.emit('error', m.message);
    });
    this.worker.on('error', (e) => this.emit('error', e.stack ?? e.message));
    this.exitedPromise = new Promise((resolve) => {
      this.worker.once('exit', () => {
        this.running = false;
        this.mem.ctl.pokeDom0();
        this.emit('exit');
        resolve();
      });
    });
    void this.serveDoorbells();
  }

  /** Guest → dom0 notifications, dispatched on the main thread. */
  private async serveDoorbells(): Promise<void> {
    const ctl = this.mem.ctl;
    // A safety net under Atomics.waitAsync: should a wake-up ever be missed, the ports are
    // still served within this many ms instead of the guest waiting forever.
    const net = setInterval(() => this.drainDoorbells(), DOORBELL_POLL_MS);
    net.unref();
    try {
      while (this.running) {
        const seq = ctl.dom0Seq();
        this.drainDoorbells();
        if (!this.running) break;
        await ctl.waitDom0(seq);
      }
    } finally {
      clearInterval(net);
    }
  }

  private drainDoorbells(): void {
    this.mem.ctl.takeDom0Doorbells((p) => {
      const f = this.ports.get(p);
      if (!f) return;
      try {
        f();
      } catch (e) {
        // A backend's bug must not stop the other ports' service.
        this.emit('handlerError', `port ${p} handler: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      }
    });
  }

  /** dom0's end of one of the toolstack's ports (xenstore, console), bound at build time. */
  onPort(port: number, onEvent: () => void): EventChannelEnd {
    this.ports.set(port, onEvent);
    return { port, notify: () => this.notify(port), close: () => this.ports.delete(port) };
  }

  /** Raise the guest's end of `port`. */
  notify(port: number): void {
    if (this.running) this.mem.ctl.ringGuest(port);
  }

  bindInterdomain(remotePort: number, onEvent: () => void): EventChannelEnd {
    if (!this.running) throw new Error(`domain ${this.domid} is not running`);
    if (!this.mem.ctl.claim(remotePort)) {
      throw new Error(`domain ${this.domid} port ${remotePort} is not an unbound port offered to dom0`);
    }
    return this.onPort(remotePort, onEvent);
  }

  get alive(): boolean {
    return this.running;
  }

  get runState(): RunState {
    return this.mem.ctl.runState;
  }

  pause(): void {
    this.mem.ctl.setCommand(CMD_PAUSE, true);
  }
  unpause(): void {
    this.mem.ctl.setCommand(CMD_PAUSE, false);
  }
  get paused(): boolean {
    return this.mem.ctl.command(CMD_PAUSE);
  }

  /** Stop the vCPUs and end the worker; resolves when it has exited. */
  async destroy(): Promise<void> {
    if (!this.running) return this.exitedPromise;
    this.mem.ctl.setCommand(CMD_DESTROY, true);
    const t = setTimeout(() => void this.worker.terminate(), DESTROY_GRACE_MS);
    await this.exitedPromise;
    clearTimeout(t);
  }

  exited(): Promise<void> {
    return this.exitedPromise;
  }
}
