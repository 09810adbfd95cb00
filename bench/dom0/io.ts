// Disk and network benchmark (not a test): in a busybox domU on the toolstack, sequential read
// and write on a PV disk (dd on /dev/xvdb, MB/s) and ping round trips domU→dom0 and
// domU→domU over xenbr0. Usage: node dist/bench/dom0/io.js [MiB]
//
// The peer: images/vmlinuz-tiny is a PV-only kernel (no virtio, ATA or NIC drivers), so QEMU
// cannot run the same guest disk and network paths; comparing with another kernel's virtio
// would not be fair. What both can run is the guest-side copy cost: dd between /dev/zero and a
// tmpfs file in the same kernel + initramfs, under tsxen and under qemu-system-x86_64 TCG.
// That line is printed with its ratio; the I/O lines are tsxen's alone, and say so.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PassThrough } from 'node:stream';
import pino from 'pino';
import { createToolstack } from '../../src/dom0/toolstack/index.js';
import { loadDomainConfig } from '../../src/xm/config/index.js';

const IMAGES = fileURLToPath(new URL('../../../images/', import.meta.url));
const MIB = Number(process.argv[2] ?? 32);
const LIMIT_MS = 600_000;

/** A console we can type into and wait on. */
class Term {
  out = '';
  constructor(private readonly write: (s: string) => void) {}
  feed(s: string): void {
    this.out += s;
  }
  async until(re: RegExp, from: number): Promise<RegExpMatchArray> {
    const t0 = Date.now();
    for (;;) {
      const m = this.out.slice(from).match(re);
      if (m) return m;
      if (Date.now() - t0 > LIMIT_MS) throw new Error(`${re} not seen; console ends with:\n${this.out.slice(-600)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  /** Run a command; resolve with its output (between markers). */
  async run(cmd: string): Promise<string> {
    const n = Math.random().toString(36).slice(2, 8);
    const from = this.out.length;
    this.write(`echo S${n}''S; ${cmd}; echo E${n}''E\n`);
    await this.until(new RegExp(`S${n}S\\r?\\n`), from);
    const s = this.out.indexOf(`S${n}S`, from);
    await this.until(new RegExp(`E${n}E`), s);
    return this.out.slice(s + n.length + 3, this.out.indexOf(`E${n}E`, s)).replace(/\r/g, '').trim();
  }
}

/** Bytes per second of a dd of `bytes`, timed by the guest's own clock (/proc/uptime; Debian's
 * busybox dd prints no rate line). */
async function timedDd(t: Term, bytes: number, dd: string): Promise<number> {
  const out = await t.run(`a=$(cut -d' ' -f1 /proc/uptime); ${dd} 2>/dev/null; b=$(cut -d' ' -f1 /proc/uptime); echo "T $a $b"`);
  const m = /T ([\d.]+) ([\d.]+)/.exec(out);
  if (!m) throw new Error(`no timing in:\n${out}`);
  return bytes / Math.max(0.01, Number(m[2]) - Number(m[1]));
}

function pingAvg(out: string): number {
  const m = /min\/avg\/max = [\d.]+\/([\d.]+)\//.exec(out);
  if (!m) throw new Error(`no ping summary in:\n${out}`);
  return Number(m[1]);
}

const fmt = (bps: number) => `${(bps / 1e6).toFixed(2)} MB/s`;

async function tsxen(work: string): Promise<{ read: number; write: number; tmpfs: number; ping0: number; pingU: number }> {
  const stateDir = join(work, 'state');
  const ts = await createToolstack({ stateDir, logger: pino({ level: 'silent' }) });
  try {
    const disk = join(work, 'xvdb.img');
    writeFileSync(disk, '');
    truncateSync(disk, (MIB + 16) * 1024 * 1024);
    const cfg = (name: string, extra: string[]) => {
      const f = join(work, `${name}.cfg`);
      writeFileSync(f, [`kernel = "${IMAGES}vmlinuz-tiny"`, `ramdisk = "${IMAGES}initramfs-busybox.cpio.gz"`, `name = "${name}"`, 'memory = 96', ...extra, "vif = ['bridge=xenbr0']", ''].join('\n'));
      return loadDomainConfig(f);
    };
    const terms: Term[] = [];
    for (const [name, extra] of [['io-a', [`disk = ['file:${disk},xvdb,w']`]], ['io-b', []]] as const) {
      const { domid } = await ts.create(cfg(name, [...extra]));
      const con = ts.console(domid);
      const t = new Term((s) => con.write(s));
      const p = new PassThrough();
      p.on('data', (d: Buffer) => t.feed(d.toString()));
      con.attach(p);
      terms.push(t);
    }
    const [a, b] = terms;
    await Promise.all(terms.map((t) => t.until(/Enter 'help'/, 0)));
    for (const [t, ip] of [[a, '172.16.31.100'], [b, '172.16.31.101']] as const) {
      await t.run(`dmesg -n 1; insmod /lib/modules/xen-netfront.ko; sleep 1; ifconfig eth0 ${ip} up`);
    }
    const bytes = MIB * 1024 * 1024;
    const write = await timedDd(a, bytes, `dd if=/dev/zero of=/dev/xvdb bs=1M count=${MIB} conv=fsync`);
    await a.run('echo 3 > /proc/sys/vm/drop_caches');
    const read = await timedDd(a, bytes, `dd if=/dev/xvdb of=/dev/null bs=1M count=${MIB}`);
    const tmpfs = await timedDd(a, 16 * 1024 * 1024, 'dd if=/dev/zero of=/tmp/z bs=1M count=16; rm /tmp/z');
    const ping0 = pingAvg(await a.run('ping -c 10 172.16.31.1'));
    const pingU = pingAvg(await a.run('ping -c 10 172.16.31.101'));
    return { read, write, tmpfs, ping0, pingU };
  } finally {
    await ts.close();
  }
}

async function qemuTmpfs(): Promise<number> {
  const q = spawn('qemu-system-x86_64', ['-accel', 'tcg', '-m', '256', '-nographic', '-no-reboot', '-kernel', `${IMAGES}vmlinuz-tiny`,
    '-initrd', `${IMAGES}initramfs-busybox.cpio.gz`, '-append', 'console=ttyS0 panic=-1'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const t = new Term((s) => q.stdin.write(s));
  q.stdout.on('data', (d: Buffer) => t.feed(d.toString()));
  try {
    await t.until(/Enter 'help'/, 0);
    await t.run('dmesg -n 1');
    return await timedDd(t, 16 * 1024 * 1024, 'dd if=/dev/zero of=/tmp/z bs=1M count=16; rm /tmp/z');
  } finally {
    q.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'tsxen-bench-io-'));
  try {
    console.log(`guest I/O in a busybox domU (images/vmlinuz-tiny), ${MIB} MiB`);
    const r = await tsxen(work);
    const q = await qemuTmpfs();
    console.log(`disk write  (dd to xvdb, conv=fsync): tsxen ${fmt(r.write)}   [no QEMU peer: the kernel has no virtio/ATA driver]`);
    console.log(`disk read   (dd from xvdb, cold)    : tsxen ${fmt(r.read)}   [no QEMU peer: same reason]`);
    console.log(`ping domU→dom0 (avg of 10)          : tsxen ${r.ping0.toFixed(3)} ms   [no QEMU peer: the kernel has no NIC driver]`);
    console.log(`ping domU→domU (avg of 10)          : tsxen ${r.pingU.toFixed(3)} ms`);
    console.log(`guest copy to tmpfs (the fair peer)  : tsxen ${fmt(r.tmpfs)}, QEMU TCG ${fmt(q)}, ratio ${(q / r.tmpfs).toFixed(2)}x slower under tsxen`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
