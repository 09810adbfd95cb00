// Idle-cost benchmark (not a test): host CPU time used by a domU idling at its busybox shell
// over 10 s (SCHEDOP_block sleeps until the next timer or event), as a percentage of one core.
// Usage: node dist/bench/boot/idle.js [seconds]
import { fileURLToPath } from 'node:url';
import { bootDomain } from '../../src/dom0/boot.js';

const IMAGES = fileURLToPath(new URL('../../../images/', import.meta.url));

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 10);
  const b = bootDomain({ kernel: IMAGES + 'vmlinuz-tiny', ramdisk: IMAGES + 'initramfs-busybox.cpio.gz', extra: 'console=hvc0', memory: 64 });
  let out = '';
  b.console.on('data', (d: Buffer) => (out += d.toString()));
  const t0 = Date.now();
  while (!/\n\/ # /.test(out)) {
    if (Date.now() - t0 > 300_000 || b.domain.stopped) throw new Error(`no shell prompt; console ends with:\n${out.slice(-500)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 3000)); // let boot-time work (timers, watchdogs) settle
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  const i0 = b.domain.vcpus[0].cpu.icount;
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const c = process.cpuUsage(c0);
  const wall = performance.now() - w0;
  const pct = ((c.user + c.system) / 1000 / wall) * 100;
  console.log(`idle domU at its shell for ${(wall / 1000).toFixed(1)} s: host CPU ${pct.toFixed(2)}% of one core ` +
    `(user ${(c.user / 1000).toFixed(0)} ms, system ${(c.system / 1000).toFixed(0)} ms), ` +
    `${b.domain.vcpus[0].cpu.icount - i0} guest instructions (bar: < 2%)`);
  b.destroy();
  await b.exited;
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
