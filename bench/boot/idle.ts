// Idle-cost benchmark (not a test): host CPU time used by a domU idling at its busybox shell
// over 10 s, as a percentage of one core. The domain runs as xend runs it: on its own worker
// thread (SCHEDOP_block → Atomics.wait until the next timer or event), with xenstored and
// xenconsoled on the main thread; process.cpuUsage() counts every thread.
// Usage: node dist/bench/boot/idle.js [seconds]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { createToolstack } from '../../src/dom0/toolstack/index.js';
import { loadDomainConfig } from '../../src/xm/config/index.js';

const IMAGES = fileURLToPath(new URL('../../../images/', import.meta.url));

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 10);
  const work = mkdtempSync(join(tmpdir(), 'tsxen-idle-'));
  const ts = await createToolstack({ stateDir: join(work, 'state'), logger: pino({ level: 'silent' }) });
  try {
    const cfg = join(work, 'idle.cfg');
    writeFileSync(cfg, `kernel = "${IMAGES}vmlinuz-tiny"\nramdisk = "${IMAGES}initramfs-busybox.cpio.gz"\nname = "idle"\nmemory = 64\n`);
    const { domid } = await ts.create(loadDomainConfig(cfg));
    let out = '';
    const p = new PassThrough();
    p.on('data', (d: Buffer) => (out += d.toString()));
    ts.console(domid).attach(p);
    const t0 = Date.now();
    while (!out.includes("Enter 'help'")) {
      if (Date.now() - t0 > 300_000) throw new Error(`no shell prompt; console ends with:\n${out.slice(-500)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 3000)); // let boot-time work (timers, watchdogs) settle
    const cpu0 = ts.list().find((d) => d.domid === domid)!.cpuTime;
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const c = process.cpuUsage(c0);
    const wall = performance.now() - w0;
    const guest = ts.list().find((d) => d.domid === domid)!.cpuTime - cpu0;
    const pct = ((c.user + c.system) / 1000 / wall) * 100;
    console.log(
      `idle domU at its shell for ${(wall / 1000).toFixed(1)} s: host CPU ${pct.toFixed(2)}% of one core ` +
        `(user ${(c.user / 1000).toFixed(0)} ms, system ${(c.system / 1000).toFixed(0)} ms; ` +
        `the domain's vCPU ran ${(guest * 1000).toFixed(0)} ms) (bar: < 2%)`,
    );
  } finally {
    await ts.close();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
