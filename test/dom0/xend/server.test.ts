// xend's control protocol in process: a XendServer on a real unix socket in front of a small
// in-test Toolstack (the protocol is what is tested here; the built binaries with the real
// toolstack are tested in test/xm/cli and daemon.test.ts). Bad requests, failing requests and
// clients that vanish mid-request cost only that request.

import { EventEmitter } from 'node:events';
import { connect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { XendError, type CreateOptions, type DomainEnd, type Toolstack } from '../../../src/dom0/toolstack/types.js';
import type { Console } from '../../../src/dom0/xenconsoled/console.js';
import { XendConnection, XendRequestError } from '../../../src/dom0/xend/client.js';
import { dormantDomainInfo } from '../../../src/dom0/xend/managed.js';
import { XendServer } from '../../../src/dom0/xend/server.js';
import { parseDomainConfig, type DomainConfig } from '../../../src/xm/config/index.js';
import type { DomainInfo, FrontendDevice, HostInfo } from '../../../src/dom0/model/info.js';

function config(name: string): DomainConfig {
  return parseDomainConfig(`name = "${name}"\nkernel = "/boot/vmlinuz"\nmemory = 64\n`, '/etc/xen/test.cfg', { checkFiles: false });
}

/** Domains as records; create can be held open to test clients that vanish meanwhile. */
class TestToolstack extends EventEmitter implements Toolstack {
  readonly xenstoredSocket = '/nonexistent/xenstored';
  doms = new Map<number, DomainInfo>();
  next = 1;
  hold: Promise<void> | null = null;
  private waiters = new Map<number, ((e: DomainEnd) => void)[]>();

  constructor() {
    super();
    this.doms.set(0, { ...dormantDomainInfo(config('Domain-0')), domid: 0, status: 'running' });
  }
  async create(c: DomainConfig, _o?: CreateOptions): Promise<{ domid: number; name: string }> {
    if (this.hold) await this.hold;
    const domid = this.next++;
    this.doms.set(domid, { ...dormantDomainInfo(c), domid, status: 'running' });
    this.emit('created', domid, c.name);
    return { domid, name: c.name };
  }
  /** Ends seen, as the real toolstack keeps them for waitGone after the fact. */
  private readonly ends = new Map<number, DomainEnd>();
  list(): DomainInfo[] {
    return [...this.doms.values()];
  }
  lookup(dom: string): DomainInfo {
    const d = [...this.doms.values()].find((x) => x.name === dom || String(x.domid) === dom);
    if (!d) throw new XendError(`Domain '${dom}' does not exist.`, 3);
    return d;
  }
  info(): HostInfo {
    throw new Error('host info exploded');
  }
  async destroy(domid: number): Promise<void> {
    const d = this.doms.get(domid);
    if (!d) throw new XendError(`Domain '${domid}' does not exist.`, 3);
    this.doms.delete(domid);
    const end: DomainEnd = { domid, name: d.name, reason: 'destroyed', detail: '' };
    this.ends.set(domid, end);
    this.emit('gone', end);
    for (const w of this.waiters.get(domid) ?? []) w(end);
  }
  shutdown(): void {}
  waitGone(domid: number): Promise<DomainEnd> {
    const end = this.ends.get(domid);
    if (end) return Promise.resolve(end);
    if (!this.doms.has(domid)) return Promise.reject(new XendError(`Domain '${domid}' does not exist.`, 3));
    return new Promise((r) => this.waiters.set(domid, [...(this.waiters.get(domid) ?? []), r]));
  }
  pause(): void {}
  unpause(): void {}
  rename(): void {}
  sysrq(): void {}
  setMemoryTarget(): void {}
  setMaxMemory(): void {}
  setVcpus(): void {}
  console(): Console {
    throw new XendError('this test toolstack has no consoles');
  }
  dmesg(): string {
    return '(XEN) test\n';
  }
  blockList(): FrontendDevice[] {
    return [];
  }
  async blockAttach(): Promise<void> {}
  async blockDetach(): Promise<void> {}
  networkList(): FrontendDevice[] {
    return [];
  }
  async networkAttach(): Promise<void> {}
  async networkDetach(): Promise<void> {}
  async close(): Promise<void> {}
}

let dir: string;
let sock: string;
let ts: TestToolstack;
let server: XendServer;

beforeAll(async () => {
  dir = mkdtempSync('/tmp/tsx-srv-');
  sock = join(dir, 'xend.sock');
  ts = new TestToolstack();
  server = new XendServer({ toolstack: ts, logger: pino({ level: 'silent' }), domainsDir: join(dir, 'domains'), logFile: join(dir, 'xend.log') });
  await server.listen(sock);
});

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Send raw bytes, collect the answer lines. */
function raw(bytes: string, lines: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const s = connect(sock);
    let buf = '';
    s.on('data', (b) => {
      buf += b.toString();
      const got = buf.split('\n').filter((l) => l !== '');
      if (got.length >= lines) {
        s.destroy();
        resolve(got);
      }
    });
    s.on('error', reject);
    s.write(bytes);
  });
}

describe('xend control protocol', () => {
  it('answers requests; bigints survive the wire', async () => {
    const c = await XendConnection.connect(sock);
    const ping = await c.request<{ pid: number }>('ping');
    expect(ping.pid).toBe(process.pid);
    const r = await c.request<{ domid: number }>('create', { config: config('one') });
    expect(r.domid).toBe(1);
    const list = await c.request<DomainInfo[]>('list');
    expect(list.map((d) => d.name)).toEqual(['Domain-0', 'one']);
    c.close();
  });

  it('unknown domains are exit status 3; other failures 1; the connection goes on', async () => {
    const c = await XendConnection.connect(sock);
    await expect(c.request('destroy', { dom: 'nosuch' })).rejects.toMatchObject({ message: "Domain 'nosuch' does not exist.", exitCode: 3 });
    await expect(c.request('info')).rejects.toMatchObject({ message: 'host info exploded', exitCode: 1 });
    await expect(c.request('frobnicate')).rejects.toBeInstanceOf(XendRequestError);
    await expect(c.request('destroy', { dom: 7 })).rejects.toMatchObject({ message: "request argument 'dom' must be a string" });
    await expect(c.request('create', { config: { name: 'x' } })).rejects.toMatchObject({ exitCode: 1 });
    expect(await c.request('dmesg')).toBe('(XEN) test\n');
    c.close();
  });

  it('lines that are not requests get an error answer each', async () => {
    const got = await raw('this is not json\n[1,2]\n{"args":{}}\n{"op":"ping"}\n', 4);
    expect(got.slice(0, 3).map((l) => JSON.parse(l) as { ok: boolean }).every((x) => !x.ok)).toBe(true);
    expect(got[0]).toContain('request is not JSON');
    expect((JSON.parse(got[3]!) as { ok: boolean }).ok).toBe(true);
  });

  it('a client that goes away mid-request costs only its answer', async () => {
    let release!: () => void;
    ts.hold = new Promise((r) => (release = r));
    const s = connect(sock);
    await new Promise((r) => s.once('connect', r));
    s.write(`${JSON.stringify({ op: 'create', args: { config: { ...config('orphan'), vcpuAvail: { $bigint: '1' } } } })}\n`);
    await new Promise((r) => setTimeout(r, 100));
    s.destroy();
    ts.hold = null;
    release();
    await new Promise((r) => setTimeout(r, 100));
    const c = await XendConnection.connect(sock);
    const names = (await c.request<DomainInfo[]>('list')).map((d) => d.name);
    expect(names).toContain('orphan');
    c.close();
  });

  it('wait answers when the domain is gone, also after the fact', async () => {
    const c = await XendConnection.connect(sock);
    const w = await XendConnection.connect(sock);
    const { domid } = await c.request<{ domid: number }>('create', { config: config('waited') });
    const gone = w.request<DomainEnd>('wait', { domid });
    await c.request('destroy', { dom: 'waited' });
    expect(await gone).toEqual({ domid, name: 'waited', reason: 'destroyed', detail: '' });
    expect(await c.request<DomainEnd>('wait', { domid })).toMatchObject({ reason: 'destroyed' });
    c.close();
    w.close();
  });

  it('managed domains are listed without an id and refuse a second of the same name', async () => {
    const c = await XendConnection.connect(sock);
    await c.request('new', { config: config('kept') });
    const kept = (await c.request<DomainInfo[]>('list')).find((d) => d.name === 'kept');
    expect(kept?.domid).toBeNull();
    await expect(c.request('create', { config: config('kept') })).rejects.toMatchObject({ message: "VM name 'kept' already exists" });
    const started = await c.request<{ domid: number }>('start', { dom: 'kept' });
    expect(started.domid).toBeGreaterThan(0);
    await expect(c.request('delete', { dom: 'kept' })).rejects.toMatchObject({ message: 'Domain is not halted.' });
    await c.request('destroy', { dom: 'kept' });
    await c.request('delete', { dom: 'kept' });
    await expect(c.request('start', { dom: 'kept' })).rejects.toMatchObject({ exitCode: 3 });
    c.close();
  });
});
