// The seed walkthrough end to end on the real toolstack: two busybox domUs on worker threads,
// one on the walkthrough's raw ext4 disk and one on a qcow2 copy of it (given as `file:`, as the
// seed gives its qcow2 disk), both with a vif on xenbr0. They load xen-netfront, ping dom0 and
// each other, write files that are in the images afterwards, and Debian's xenstore-utils and
// tcpdump read our xenstore and our bridge capture meanwhile.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDomainConfig } from '../../../src/xm/config/index.js';
import type { Toolstack } from '../../../src/dom0/toolstack/types.js';
import type { HostNetwork } from '../../../src/devices/net/index.js';
import type { ConsoleDriver } from './console-driver.js';
import { IMAGES, driveConsole, testToolstack } from './helpers.js';

const BOOT_MS = 300_000;
const BAD = ['BUG:', 'WARNING:', 'Oops', 'Kernel panic', 'Call Trace'];

let ts: Toolstack & { net: HostNetwork };
let stateDir: string;
let work: string;
const dom: Record<'a' | 'b', { domid: number; c: ConsoleDriver }> = {} as never;

function cfg(name: string, disk: string): string {
  const p = join(work, `${name}.cfg`);
  writeFileSync(
    p,
    [
      `kernel = "${IMAGES}vmlinuz-tiny"`,
      `ramdisk = "${IMAGES}initramfs-busybox.cpio.gz"`,
      `name = "${name}"`,
      'memory = 64',
      'vcpus = 1',
      `disk = ['file:${disk},xvda,w']`,
      'root = "/dev/xvda ro"',
      'extra = "selinux=0 init=/bin/sh"',
      "vif = ['bridge=xenbr0']",
      '',
    ].join('\n'),
  );
  return p;
}

/** Debian's xenstore tools on our socket (asynchronously: xenstored answers on this thread). */
async function xenstore(tool: string, ...args: string[]): Promise<string> {
  const r = await promisify(execFile)(tool, args, { env: { ...process.env, XENSTORED_PATH: ts.xenstoredSocket }, encoding: 'utf8', timeout: 10_000 });
  return r.stdout;
}

describe('the seed walkthrough on the toolstack', () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'tsxen-walk-'));
    execFileSync(join(IMAGES, 'make-busybox-disk'), [join(work, 'a.img')], { stdio: 'ignore' });
    execFileSync(join(IMAGES, 'make-busybox-disk'), [join(work, 'b-src.img')], { stdio: 'ignore' });
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', '-o', 'preallocation=metadata', join(work, 'b-src.img'), join(work, 'b.qcow2')]);
    rmSync(join(work, 'b-src.img'));
    ({ ts, stateDir } = await testToolstack());
    ts.net.bridges.get('xenbr0')!.startCapture(join(work, 'xenbr0.pcap'));
    const [a, b] = await Promise.all([
      ts.create(loadDomainConfig(cfg('walk-a', join(work, 'a.img')))),
      ts.create(loadDomainConfig(cfg('walk-b', join(work, 'b.qcow2')))),
    ]);
    dom.a = { domid: a.domid, c: driveConsole(ts, a.domid) };
    dom.b = { domid: b.domid, c: driveConsole(ts, b.domid) };
    await Promise.all([dom.a.c.waitFor('job control turned off', BOOT_MS), dom.b.c.waitFor('job control turned off', BOOT_MS)]);
  }, BOOT_MS + 60_000);

  afterAll(async () => {
    await ts?.close();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('lists both domains next to Domain-0', () => {
    const l = ts.list();
    expect(l.map((d) => [d.domid, d.name])).toEqual([[0, 'Domain-0'], [dom.a.domid, 'walk-a'], [dom.b.domid, 'walk-b']]);
    for (const d of l.slice(1)) {
      expect(d.state.crashed || d.state.shutdown).toBe(false);
      expect(d.memory).toBe(64);
      expect(d.devices.map((x) => x.class)).toEqual(['vbd', 'console', 'vif']);
    }
  });

  it('boots from xvda (raw and qcow2): the root filesystem is the disk', async () => {
    // Kernel messages would interleave with command output on the console.
    for (const d of [dom.a, dom.b]) await d.c.run('dmesg -n 1');
    expect(await dom.a.c.run('mount | grep " / "')).toMatch(/^\/dev\/xvda on \/ type ext4 \(ro/);
    expect(await dom.b.c.run('mount | grep " / "')).toMatch(/^\/dev\/xvda on \/ type ext4 \(ro/);
  }, 120_000);

  it('loads xen-netfront and pings dom0 (172.16.31.1) and the other domU over xenbr0', async () => {
    for (const [d, ip] of [[dom.a, '172.16.31.100'], [dom.b, '172.16.31.101']] as const) {
      const out = await d.c.run(`insmod /lib/modules/xen-netfront.ko && sleep 1 && ifconfig eth0 ${ip} up && ifconfig eth0`);
      expect(out).toMatch(/HWaddr 00:16:3E/i);
      expect(out).toContain(`inet addr:${ip}`);
    }
    expect(await dom.a.c.run('ping -c 2 172.16.31.1')).toMatch(/2 packets transmitted, 2 packets received, 0% packet loss/);
    expect(await dom.b.c.run('ping -c 2 172.16.31.100')).toMatch(/2 packets transmitted, 2 packets received, 0% packet loss/);
    // tcpdump reads our capture of the bridge: the echo requests and replies are there.
    ts.net.bridges.get('xenbr0')!.stopCapture();
    const dump = execFileSync('tcpdump', ['-nn', '-r', join(work, 'xenbr0.pcap')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(dump).toMatch(/172\.16\.31\.100 > 172\.16\.31\.1: ICMP echo request/);
    expect(dump).toMatch(/172\.16\.31\.1 > 172\.16\.31\.100: ICMP echo reply/);
    expect(dump).toMatch(/172\.16\.31\.101 > 172\.16\.31\.100: ICMP echo request/);
    expect(dump).toMatch(/172\.16\.31\.100 > 172\.16\.31\.101: ICMP echo reply/);
  }, 180_000);

  it("serves Debian's xenstore-utils on its socket: ls, read, write, list, watch", async () => {
    const ls = await xenstore('xenstore-ls', `/local/domain/${dom.a.domid}`);
    expect(ls).toMatch(/^name = "walk-a"$/m);
    expect(ls).toMatch(/^ *backend = "\/local\/domain\/0\/backend\/vbd\/\d+\/51712"$/m);
    expect((await xenstore('xenstore-read', `/local/domain/${dom.b.domid}/name`)).trim()).toBe('walk-b');
    expect((await xenstore('xenstore-list', '/local/domain')).split('\n').filter(Boolean).sort()).toEqual(['0', String(dom.a.domid), String(dom.b.domid)].sort());
    // A watch: xenstore-watch prints the path at once, then again on our write.
    const w = spawn('xenstore-watch', ['-n', '2', '/tool/walk'], { env: { ...process.env, XENSTORED_PATH: ts.xenstoredSocket } });
    let seen = '';
    w.stdout.on('data', (d: Buffer) => (seen += d.toString()));
    const exited = new Promise<number | null>((r) => w.on('exit', r));
    await new Promise((r) => setTimeout(r, 500));
    await xenstore('xenstore-write', '/tool/walk', 'hello');
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 10_000))]);
    w.kill();
    expect(code).toBe(0);
    expect(seen.trim().split('\n')).toEqual(['/tool/walk', '/tool/walk']);
    expect((await xenstore('xenstore-read', '/tool/walk')).trim()).toBe('hello');
  }, 60_000);

  it('keeps a synced file on the raw image and the qcow2 image; qemu-img check is clean', async () => {
    for (const [d, text] of [[dom.a, 'raw says hello'], [dom.b, 'qcow2 says hello']] as const) {
      expect(await d.c.run(`mount -o remount,rw / && echo '${text}' > /hello.txt && sync && cat /hello.txt`)).toBe(text);
    }
    dom.a.c.run('poweroff -f').catch(() => undefined);
    dom.b.c.run('poweroff -f').catch(() => undefined);
    const [ea, eb] = await Promise.all([ts.waitGone(dom.a.domid), ts.waitGone(dom.b.domid)]);
    expect([ea.reason, eb.reason]).toEqual(['poweroff', 'poweroff']);
    expect(execFileSync('debugfs', ['-R', 'cat /hello.txt', join(work, 'a.img')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).toBe('raw says hello\n');
    const check = execFileSync('qemu-img', ['check', join(work, 'b.qcow2')], { encoding: 'utf8' });
    expect(check).toContain('No errors were found on the image.');
    execFileSync('qemu-img', ['convert', '-O', 'raw', join(work, 'b.qcow2'), join(work, 'b.raw')]);
    expect(execFileSync('debugfs', ['-R', 'cat /hello.txt', join(work, 'b.raw')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).toBe('qcow2 says hello\n');
    for (const d of [dom.a, dom.b]) for (const bad of BAD) expect(d.c.out).not.toContain(bad);
    // Gone means gone: no trace in the store or the list.
    expect(ts.list().map((d) => d.name)).toEqual(['Domain-0']);
    expect((await xenstore('xenstore-list', '/local/domain')).trim()).toBe('0');
    expect(readFileSync(join(stateDir, 'console', 'guest-walk-a.log'), 'utf8')).toContain('tsxen-initramfs: switch_root to /dev/xvda');
  }, 180_000);
});
