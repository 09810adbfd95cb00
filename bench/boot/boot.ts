// Boot benchmark (not a test): wall time from start to the initramfs boot marker for
// images/vmlinuz-tiny, under tsxen (PV domU) and under qemu-system-x86_64 -accel tcg booting the
// same bzImage natively over a serial console, in one run, several rounds; prints both and the
// ratio. Usage: node dist/bench/boot/boot.js [rounds]
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import pino from 'pino';
import { createToolstack } from '../../src/dom0/toolstack/index.js';
import type { Toolstack } from '../../src/dom0/toolstack/types.js';
import { loadDomainConfig } from '../../src/xm/config/index.js';
import { errorMessage } from '../../src/hypervisor/errors.js';

const IMAGES = fileURLToPath(new URL('../../../images/', import.meta.url));
const KERNEL = IMAGES + 'vmlinuz-tiny';
const RAMDISK = IMAGES + 'initramfs-busybox.cpio.gz';
const MARKER = 'tsxen-initramfs: up ';
const LIMIT_MS = 600_000;

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

/** One boot on the real toolstack (a worker thread per domain, as xend runs it). */
async function tsxenBoot(ts: Toolstack, work: string, round: number): Promise<number> {
  const cfg = join(work, `boot${round}.cfg`);
  writeFileSync(cfg, [`name = "boot${round}"`, `kernel = "${KERNEL}"`, `ramdisk = "${RAMDISK}"`, 'extra = "console=hvc0"',
    'memory = 64', 'on_crash = "destroy"', ''].join('\n'));
  const config = loadDomainConfig(cfg);
  const t0 = performance.now();
  const { domid } = await ts.create(config);
  let out = '';
  const sink = new PassThrough();
  sink.on('data', (d: Buffer) => (out += d.toString()));
  ts.console(domid).attach(sink);
  let ended: string | null = null;
  void ts.waitGone(domid).then((e) => (ended = `${e.reason}: ${e.detail}`));
  while (!out.includes(MARKER)) {
    if (ended !== null) throw new Error(`tsxen: domain ended (${ended}) before the marker; last output:\n${out.slice(-800)}`);
    if (performance.now() - t0 > LIMIT_MS) {
      await ts.destroy(domid);
      throw new Error(`tsxen: no marker in time; last output:\n${out.slice(-800)}`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  const ms = performance.now() - t0;
  await ts.destroy(domid);
  return ms;
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 3);
  const qv = spawnSync('qemu-system-x86_64', ['--version']).stdout?.toString().split('\n')[0] ?? 'qemu-system-x86_64 missing';
  console.log(`boot to "${MARKER}": tsxen vs ${qv} (TCG), ${rounds} rounds`);
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
  console.log(`median: qemu-tcg ${(med(q) / 1000).toFixed(2)} s, tsxen ${(med(t) / 1000).toFixed(2)} s, tsxen/qemu ${(med(t) / med(q)).toFixed(1)}x (bar: <= 5x)`);
  await ts.close();
  rmSync(work, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(errorMessage(e));
  process.exit(1);
});
