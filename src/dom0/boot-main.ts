#!/usr/bin/env node
// Development entry point until xend/xm land: boot one domain from an xm config file in this
// process, console on the terminal (stdin/stdout). Exit status 0 after poweroff, 1 otherwise.
// Only kernel, ramdisk, root/extra, memory, vcpus and name are used; disks and vifs are not
// attached yet.  Usage: node dist/src/dom0/boot-main.js images/busybox-ramdisk.cfg
import { loadDomainConfig } from '../xm/config/lookup.js';
import { bootDomain } from './boot.js';

const arg = process.argv[2];
if (!arg) {
  console.error('usage: boot-main CONFIG   (e.g. images/busybox-ramdisk.cfg)');
  process.exit(2);
}
let cfg;
try {
  cfg = loadDomainConfig(arg);
} catch (e) {
  console.error(`Error: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
if (cfg.disk.length || cfg.vif.length) {
  console.error(`note: ${cfg.file}: disks and vifs are not attached yet by this development entry point`);
}
const b = bootDomain({
  kernel: cfg.kernel,
  ramdisk: cfg.ramdisk ?? undefined,
  extra: `console=hvc0 ${cfg.cmdline}`.trim(),
  memory: cfg.memory,
  vcpus: cfg.vcpus,
  name: cfg.name,
  onHypervisorLog: (t) => process.stderr.write(t),
});
b.console.pipe(process.stdout);
if (process.stdin.isTTY) {
  process.stdin.setRawMode(true);
  process.stdin.on('data', (d: Buffer) => {
    if (d.includes(0x1d)) b.destroy(); // Ctrl-]
    else b.input.write(d);
  });
} else process.stdin.pipe(b.input);
void b.exited.then(async (r) => {
  // The last console output (a panic message, say) is drained when the domain stops: wait for it.
  if (!b.console.readableEnded) await new Promise((res) => b.console.once('end', res));
  if (process.stdin.isTTY) process.stdin.setRawMode(false);
  process.stderr.write(`\n[domain ${cfg.name} ended: ${r.reason}${r.detail ? ` (${r.detail})` : ''}]\n`);
  process.exit(r.reason === 'poweroff' ? 0 : 1);
});
