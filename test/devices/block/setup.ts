// Test wiring: a real Xenstored, dom0's handle, guest domains as xend lays them out in the store,
// disk images made with qemu-img, and a blkfront player connected through the real handshake.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Xenstored, type XsHandle } from '../../../src/dom0/xenstored/index.js';
import { attachVbd, type BlkBackend, type ImageOpener, type VbdDevice } from '../../../src/devices/block/index.js';
import { parseDiskSpec } from '../../../src/devices/block/disk-spec.js';
import { Blkfront, type BlkfrontOptions } from './blkfront.js';
import { GuestDomain, GuestXenbus } from './guest.js';

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
}

export class TestLogger {
  readonly lines: LogLine[] = [];
  debug = (msg: string): void => void this.lines.push({ level: 'debug', msg });
  info = (msg: string): void => void this.lines.push({ level: 'info', msg });
  warn = (msg: string): void => void this.lines.push({ level: 'warn', msg });
  error = (msg: string): void => void this.lines.push({ level: 'error', msg });
  has(level: LogLine['level'], re: RegExp): boolean {
    return this.lines.some((l) => l.level === level && re.test(l.msg));
  }
}

export function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

export function tmpDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `tsxen-blkback-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Deterministic, position-dependent bytes: each sector says which sector it is. */
export function pattern(sector: number, count: number, seed = 0): Uint8Array {
  const out = new Uint8Array(count * 512);
  for (let s = 0; s < count; s++) {
    for (let i = 0; i < 512; i++) out[s * 512 + i] = ((sector + s) * 31 + i * 7 + seed * 13) & 0xff;
  }
  return out;
}

/** A raw image of `sectors` sectors filled with pattern(0, sectors). */
export function makeRaw(path: string, sectors: number): Uint8Array {
  const data = pattern(0, sectors);
  writeFileSync(path, data);
  return data;
}

export function fileBytes(path: string): Uint8Array {
  return new Uint8Array(readFileSync(path));
}

export class Host {
  readonly xsd: Xenstored;
  readonly xs: XsHandle;
  readonly log = new TestLogger();
  /** Backends to take down before xenstored goes, so no image stays open. */
  readonly backends: BlkBackend[] = [];

  track(be: BlkBackend): BlkBackend {
    this.backends.push(be);
    return be;
  }

  constructor() {
    this.xsd = new Xenstored();
    this.xs = this.xsd.openHandle();
  }

  /** What xend's domain creation leaves in the store before devices are created. */
  addDomain(domid: number, name = `guest${domid}`, nrPages = 1024, grantFrames = 4): { dom: GuestDomain; xb: GuestXenbus; vmPath: string } {
    const vmPath = `/vm/00000000-0000-4000-8000-${String(domid).padStart(12, '0')}`;
    this.xs.mkdir(vmPath);
    this.xs.write(`${vmPath}/name`, name);
    const dp = `/local/domain/${domid}`;
    this.xs.mkdir(dp);
    this.xs.setPerms(dp, [`n${domid}`]);
    this.xs.write(`${dp}/vm`, vmPath);
    this.xs.write(`${dp}/name`, name);
    this.xs.write(`${dp}/domid`, String(domid));
    const dom = new GuestDomain(domid, nrPages, grantFrames);
    const xb = new GuestXenbus(this.xsd, dom);
    return { dom, xb, vmPath };
  }

  async close(): Promise<void> {
    await Promise.all(this.backends.map((b) => b.shutdown()));
    await this.xsd.close();
  }
}

export interface Attached {
  dom: GuestDomain;
  xb: GuestXenbus;
  device: VbdDevice;
  backend: BlkBackend;
  fe: Blkfront;
}

/** xm create's disk line -> attachVbd -> a connected blkfront. */
export async function attach(
  host: Host,
  domid: number,
  diskLine: string,
  o: { openImage?: ImageOpener; fe?: BlkfrontOptions; guest?: { dom: GuestDomain; xb: GuestXenbus; vmPath: string } } = {},
): Promise<Attached> {
  const g = o.guest ?? host.addDomain(domid);
  const spec = parseDiskSpec(diskLine, '/');
  const { device, backend } = await attachVbd({
    xs: host.xs,
    domain: g.dom,
    domid,
    domainName: `guest${domid}`,
    spec,
    vmPath: g.vmPath,
    bootable: true,
    logger: host.log,
    openImage: o.openImage,
    timeoutMs: 5000,
  });
  host.track(backend);
  const fe = new Blkfront(g.dom, g.xb, device.devid, o.fe);
  fe.probe();
  await fe.connected();
  return { dom: g.dom, xb: g.xb, device, backend, fe };
}

/** Lets pending immediates and microtasks (event delivery, I/O completions) run. */
export function settle(rounds = 3): Promise<void> {
  return new Promise((resolve) => {
    let n = rounds;
    const step = (): void => {
      if (--n <= 0) resolve();
      else setImmediate(step);
    };
    setImmediate(step);
  });
}

/** Polls `pred` until true (I/O completes on libuv's pool, so there is no single event to await). */
export async function until(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
