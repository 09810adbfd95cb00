// Boot benchmark (not a test): wall time from start to the initramfs boot marker for
// images/vmlinuz-tiny, under tsxen (PV domU) and under qemu-system-x86_64 -accel tcg booting the
// same bzImage natively over a serial console, in one run, several rounds; prints both and the
// ratio. Then, if images/debian.img exists (images/make-debian-disk), "Debian 12 disk to the
// login prompt": that disk booted natively by QEMU (virtio disk, console=ttyS0) and as a PV domU
// by tsxen (xvda, console=hvc0) until the console shows "debian login:". A side that does not
// get there prints why, with its console tail, within DEBIAN_LIMIT_MS; the other's figure stays.
// Usage: node dist/bench/boot/boot.js [rounds] [debian-rounds]   (defaults 3 and 1; 0 skips)
// TSXEN_BENCH_DEBIAN_BOOT=pygrub boots the tsxen side with bootloader = "pygrub" instead of the
// kernel and initrd taken out of the image beforehand (the default).
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import pino from 'pino';
import { createToolstack } from '../../src/dom0/toolstack/index.js';
import type { Toolstack } from '../../src/dom0/toolstack/types.js';
import { loadDomainConfig } from '../../src/xm/config/index.js';
import { errorMessage } from '../../src/hypervisor/errors.js';
import { pygrub } from '../../src/dom0/pygrub/index.js';

const IMAGES = fileURLToPath(new URL('../../../images/', import.meta.url));
const KERNEL = IMAGES + 'vmlinuz-tiny';
const RAMDISK = IMAGES + 'initramfs-busybox.cpio.gz';
const MARKER = 'tsxen-initramfs: up ';
const LIMIT_MS = 600_000;
const DEBIAN_DISK = IMAGES + 'debian.img';
// The hostname make-debian-disk sets, so the kernel's own messages cannot match.
const LOGIN = 'debian login:';
const DEBIAN_LIMIT_MS = Number(process.env.DEBIAN_LIMIT_MS ?? 900_000);

function qemuBoot(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const q = spawn('qemu-system-x86_64', ['-accel', 'tcg', '-m', '256', '-nographic', '-no-reboot', '-kernel', KERNEL,
      '-initrd', RAMDISK, '-append', 'console=ttyS0 panic=-1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => { q.kill('SIGKILL'); reject(new Error('qemu: no marker in time')); }, LIMIT_MS);
    q.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(MARKER)) {
        const ms = performance.now() - t0;
        clearTimeout(timer);
        q.kill('SIGKILL');
        resolve(ms);
      }
    });
    q.on('error', reject);
  });
}

/** A domain's console text so far and, once the domain is gone, why it ended. */
function watch(ts: Toolstack, domid: number): { out: () => string; ended: () => string | null } {
  let out = '';
  let ended: string | null = null;
  const sink = new PassThrough();
  sink.on('data', (d: Buffer) => (out += d.toString()));
  ts.console(domid).attach(sink);
  void ts.waitGone(domid).then((e) => (ended = `${e.reason}: ${e.detail}`));
  return { out: () => out, ended: () => ended };
}

/** One boot on the real toolstack (a worker thread per domain, as xend runs it). */
async function tsxenBoot(ts: Toolstack, work: string, round: number): Promise<number> {
  const cfg = join(work, `boot${round}.cfg`);
  writeFileSync(cfg, [`name = "boot${round}"`, `kernel = "${KERNEL}"`, `ramdisk = "${RAMDISK}"`, 'extra = "console=hvc0"',
    'memory = 64', 'on_crash = "destroy"', ''].join('\n'));
  const config = loadDomainConfig(cfg);
  const t0 = performance.now();
  const { domid } = await ts.create(config);
  const con = watch(ts, domid);
  while (!con.out().includes(MARKER)) {
    if (con.ended() !== null) throw new Error(`tsxen: domain ended (${con.ended()}) before the marker; last output:\n${con.out().slice(-800)}`);
    if (performance.now() - t0 > LIMIT_MS) {
      await ts.destroy(domid);
      throw new Error(`tsxen: no marker in time; last output:\n${con.out().slice(-800)}`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  const ms = performance.now() - t0;
  await ts.destroy(domid);
  return ms;
}

/** How the tsxen side boots the Debian disk; QEMU always gets the kernel and initrd as files. */
type DebianBoot = 'extracted' | 'pygrub';

interface DebianKernel {
  kernel: string;
  ramdisk: string;
  /** The default grub.cfg entry's command line: root=UUID=... ro console=hvc0 quiet. */
  args: string;
}

/**
 * The kernel, initrd and command line of the disk's default boot entry, read from its
 * /boot/grub/grub.cfg by pygrub's reader and written to `work` (QEMU needs files; tsxen's
 * 'extracted' mode too). The grub.cfg is Debian's update-grub output, so this is what
 * bootloader = "pygrub" boots as well.
 */
async function debianKernel(work: string): Promise<DebianKernel> {
  const boot = await pygrub(DEBIAN_DISK, { quiet: true });
  if (boot.ramdisk === null) throw new Error(`${DEBIAN_DISK}: the default entry has no initrd`);
  const kernel = join(work, 'debian-vmlinuz');
  const ramdisk = join(work, 'debian-initrd');
  writeFileSync(kernel, boot.kernel);
  writeFileSync(ramdisk, boot.ramdisk);
  if (!/\broot=UUID=\S+/.test(boot.args) || !/\bconsole=hvc0\b/.test(boot.args)) {
    throw new Error(`${DEBIAN_DISK}: the default entry's command line lacks root=UUID= or console=hvc0: ${boot.args}`);
  }
  return { kernel, ramdisk, args: boot.args };
}

type Outcome = { ok: true; ms: number } | { ok: false; why: string };

/** QEMU TCG booting the disk natively: virtio disk, serial console, no NIC, writes discarded. */
function qemuDebian(k: DebianKernel): Promise<Outcome> {
  return new Promise((resolve) => {
    const append = k.args.replace(/\bconsole=hvc0\b/, 'console=ttyS0') + ' panic=-1';
    const t0 = performance.now();
    const q = spawn('qemu-system-x86_64', ['-accel', 'tcg', '-m', '1024', '-nographic', '-no-reboot', '-snapshot',
      '-nic', 'none', '-kernel', k.kernel, '-initrd', k.ramdisk, '-append', append,
      '-drive', `file=${DEBIAN_DISK},format=raw,if=virtio`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let done = false;
    const finish = (o: Outcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      q.kill('SIGKILL');
      resolve(o);
    };
    const timer = setTimeout(() => finish({ ok: false, why: `no "${LOGIN}" in ${DEBIAN_LIMIT_MS / 1000} s; last output:\n${out.slice(-800)}` }), DEBIAN_LIMIT_MS);
    q.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(LOGIN)) finish({ ok: true, ms: performance.now() - t0 });
    });
    q.stderr.on('data', (d: Buffer) => (out += d.toString()));
    q.on('error', (e) => finish({ ok: false, why: errorMessage(e) }));
    q.on('exit', (code) => finish({ ok: false, why: `qemu exited (${code}) before "${LOGIN}"; last output:\n${out.slice(-800)}` }));
  });
}

/**
 * tsxen booting the disk as a PV domU through the toolstack (memory and vcpus of
 * images/debian.cfg less the second vCPU, no vif: the login prompt does not wait for eth0),
 * on a sparse copy of the image so the domain's writes do not change it.
 */
async function tsxenDebian(ts: Toolstack, work: string, k: DebianKernel, mode: DebianBoot, round: number): Promise<Outcome> {
  const disk = join(work, `debian${round}.img`);
  const cp = spawnSync('cp', ['--sparse=always', DEBIAN_DISK, disk]);
  if (cp.status !== 0) return { ok: false, why: `cp: ${cp.stderr?.toString().trim()}` };
  const boot = mode === 'pygrub'
    ? ['bootloader = "pygrub"']
    // The entry's own command line: root=UUID=... ro console=hvc0 quiet, as pygrub would pass.
    : [`kernel = "${k.kernel}"`, `ramdisk = "${k.ramdisk}"`, `extra = "${k.args}"`];
  const cfg = join(work, `debian${round}.cfg`);
  writeFileSync(cfg, [`name = "debian${round}"`, ...boot, 'memory = 512', 'vcpus = 1',
    `disk = ['file:${disk},xvda,w']`, 'on_crash = "destroy"', ''].join('\n'));
  let domid: number | null = null;
  let tail = () => '';
  try {
    const config = loadDomainConfig(cfg);
    const t0 = performance.now();
    domid = (await ts.create(config)).domid;
    const con = watch(ts, domid);
    // A kernel that dies before hvc0 is up leaves an empty console: the hypervisor log
    // (xm dmesg: the builder's lines, the guest's console_io writes) says how far it got.
    tail = () => `; console tail:\n${con.out().slice(-1500) || '(nothing)'}\nhypervisor log tail (xm dmesg):\n${ts.dmesg(false).trimEnd().split('\n').slice(-8).join('\n')}`;
    while (!con.out().includes(LOGIN)) {
      if (con.ended() !== null) {
        domid = null;
        return { ok: false, why: `domain ended (${con.ended()}) before "${LOGIN}"${tail()}` };
      }
      if (performance.now() - t0 > DEBIAN_LIMIT_MS) return { ok: false, why: `no "${LOGIN}" in ${DEBIAN_LIMIT_MS / 1000} s${tail()}` };
      await new Promise((r) => setTimeout(r, 20));
    }
    return { ok: true, ms: performance.now() - t0 };
  } catch (e) {
    return { ok: false, why: `${errorMessage(e)}${tail()}` };
  } finally {
    if (domid !== null) await ts.destroy(domid).catch(() => undefined);
    rmSync(disk, { force: true });
  }
}

async function debianRows(ts: Toolstack, work: string, rounds: number): Promise<void> {
  if (rounds <= 0) return;
  if (!existsSync(DEBIAN_DISK)) {
    console.log(`Debian 12 disk to the login prompt: skipped, no ${DEBIAN_DISK} (make it with images/make-debian-disk, as root)`);
    return;
  }
  const mode: DebianBoot = process.env.TSXEN_BENCH_DEBIAN_BOOT === 'pygrub' ? 'pygrub' : 'extracted';
  const k = await debianKernel(work);
  console.log(`Debian 12 disk to "${LOGIN}": qemu-tcg (virtio, console=ttyS0, -m 1024) vs tsxen (xvda, console=hvc0, ${mode === 'pygrub' ? 'bootloader = "pygrub"' : 'kernel and initrd from the disk\'s grub.cfg entry'}), ${rounds} round(s), limit ${DEBIAN_LIMIT_MS / 1000} s each`);
  const fmt = (o: Outcome) => (o.ok ? `${(o.ms / 1000).toFixed(2)} s` : 'FAILED');
  for (let r = 0; r < rounds; r++) {
    const q = await qemuDebian(k);
    const t = await tsxenDebian(ts, work, k, mode, r);
    const ratio = q.ok && t.ok ? `, ratio ${(t.ms / q.ms).toFixed(1)}x` : '';
    console.log(`Debian round ${r + 1}: qemu-tcg ${fmt(q)}, tsxen ${fmt(t)}${ratio}`);
    if (!q.ok) console.log(`  qemu-tcg did not reach the login prompt: ${q.why}`);
    if (!t.ok) console.log(`  tsxen did not reach the login prompt: ${t.why}`);
  }
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 3);
  const qv = spawnSync('qemu-system-x86_64', ['--version']).stdout?.toString().split('\n')[0] ?? 'qemu-system-x86_64 missing';
  if (rounds > 0) console.log(`boot to "${MARKER}": tsxen vs ${qv} (TCG), ${rounds} rounds`);
  const q: number[] = [];
  const t: number[] = [];
  const work = mkdtempSync(join(tmpdir(), 'tsxen-bootbench-'));
  const ts = await createToolstack({ stateDir: join(work, 'state'), logger: pino({ level: 'silent' }) });
  for (let r = 0; r < rounds; r++) {
    q.push(await qemuBoot());
    t.push(await tsxenBoot(ts, work, r));
    console.log(`round ${r + 1}: qemu-tcg ${(q[r] / 1000).toFixed(2)} s, tsxen ${(t[r] / 1000).toFixed(2)} s, ratio ${(t[r] / q[r]).toFixed(1)}x`);
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  if (rounds > 0) console.log(`median: qemu-tcg ${(med(q) / 1000).toFixed(2)} s, tsxen ${(med(t) / 1000).toFixed(2)} s, tsxen/qemu ${(med(t) / med(q)).toFixed(1)}x (bar: <= 5x)`);
  await debianRows(ts, work, Number(process.argv[3] ?? 1));
  await ts.close();
  rmSync(work, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(errorMessage(e));
  process.exit(1);
});
