// Host side of the console test fixture: a domain's memory (a real DomainMemory), its console
// frame, an event channel in both directions (guest → dom0: a message that makes the host
// call kick(), as the hypervisor will; dom0 → guest: an event word the guest thread waits on),
// and the guest thread itself (guest-worker.mjs, which plays hvc_xen).

import { Writable } from 'node:stream';
import { Worker } from 'node:worker_threads';

import { DomainMemory } from '../../../src/hypervisor/domain_memory.js';
import type { ServiceLogger } from '../../../src/dom0/xenconsoled/index.js';

export const CONSOLE_MFN = 5;

export class GuestDomain {
  readonly mem = new DomainMemory(16);
  readonly evt = new Int32Array(new SharedArrayBuffer(4));
  /** The console frame, as dom0 maps it. */
  readonly page = this.mem.frame(CONSOLE_MFN);
  readonly idx = new Int32Array(this.mem.sab, CONSOLE_MFN * 4096 + 3072, 4);

  /** dom0 → guest: raise the console event (EVTCHNOP_send). */
  readonly notify = (): void => {
    Atomics.add(this.evt, 0, 1);
    Atomics.notify(this.evt, 0);
  };

  get events(): number {
    return Atomics.load(this.evt, 0);
  }
}

type Reply = { op: 'written'; n: number } | { op: 'read'; data: Uint8Array } | { op: 'error'; rc: number; at: number };

/** The guest's vCPU thread running hvc_xen's ring code. */
export class GuestThread {
  private readonly worker: Worker;
  private readonly replies: Array<{ resolve: (r: Reply) => void; reject: (e: Error) => void }> = [];
  readonly up: Promise<void>;
  kicks = 0;

  constructor(dom: GuestDomain, onKick: () => void) {
    this.worker = new Worker(new URL('./guest-worker.mjs', import.meta.url), {
      workerData: { sab: dom.mem.sab, pageOffset: CONSOLE_MFN * 4096, evtSab: dom.evt.buffer },
    });
    let upResolve: () => void = () => {};
    this.up = new Promise((r) => {
      upResolve = r;
    });
    this.worker.on('message', (m: { op: string }) => {
      if (m.op === 'kick') {
        this.kicks++;
        onKick();
      } else if (m.op === 'up') upResolve();
      else this.replies.shift()?.resolve(m as Reply);
    });
    this.worker.on('error', (e: Error) => {
      for (const r of this.replies.splice(0)) r.reject(e);
    });
  }

  private request(msg: object): Promise<Reply> {
    return new Promise((resolve, reject) => {
      this.replies.push({ resolve, reject });
      this.worker.postMessage(msg);
    });
  }

  /** Writes through hvc_xen's domU_write_console, in pieces cycling through `chunks` sizes. */
  async write(data: Uint8Array | string, chunks: number[] = [4096]): Promise<void> {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    const r = await this.request({ op: 'write', data: bytes, chunks });
    if (r.op !== 'written') throw new Error(`guest write failed: ${JSON.stringify(r)}`);
  }

  /** Reads `want` bytes of console input, `max` at a time; rejects with the guest's error code. */
  async read(want: number, max = 16, timeoutMs = 10000): Promise<Uint8Array> {
    const r = await this.request({ op: 'read', want, max, timeoutMs });
    if (r.op !== 'read') throw new Error(`guest read failed: rc ${(r as { rc: number }).rc}`);
    return r.data;
  }

  /** The raw reply, for tests that expect the guest to refuse. */
  async writeRaw(data: Uint8Array, timeoutMs = 2000): Promise<Reply> {
    return this.request({ op: 'write', data, chunks: [data.length], timeoutMs });
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

/** A reader that keeps every byte it is given (an `xm console` on the other end). */
export class Collector extends Writable {
  private parts: Buffer[] = [];
  private waiters: Array<{ n: number; resolve: () => void }> = [];

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.parts.push(chunk);
    const len = this.length;
    this.waiters = this.waiters.filter((w) => (len >= w.n ? (w.resolve(), false) : true));
    cb();
  }

  get length(): number {
    let n = 0;
    for (const p of this.parts) n += p.length;
    return n;
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }

  text(): string {
    return this.bytes().toString('utf8');
  }

  /** Resolves once `n` bytes have arrived. */
  until(n: number): Promise<void> {
    if (this.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }
}

/** A logger that keeps what it is told. */
export function recordingLogger(): ServiceLogger & { lines: string[] } {
  const lines: string[] = [];
  const rec = (level: string) => (msg: string): void => {
    lines.push(`${level}: ${msg}`);
  };
  return { lines, debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error') };
}

/** Deterministic test data: numbered lines, so a lost, doubled or reordered byte shows. */
export function numberedLines(count: number, tag = 'line'): string {
  let s = '';
  for (let i = 0; i < count; i++) s += `${tag} ${String(i).padStart(5, '0')} ${'abcdefghij'.slice(0, i % 11)}\r\n`;
  return s;
}
