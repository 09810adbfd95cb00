// SMP guests: 2 and 4 vCPUs (brought up with VCPUOP_initialise/up, IPIs over event channels)
// boot to the shell on their worker threads; /proc/cpuinfo lists every vCPU and a parallel
// workload runs on more than one of them.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDomainConfig } from '../../../src/xm/config/index.js';
import type { Toolstack } from '../../../src/dom0/toolstack/types.js';
import type { ConsoleDriver } from './console-driver.js';
import { IMAGES, driveConsole, testToolstack } from './helpers.js';

const BOOT_MS = 300_000;
const BAD = ['BUG:', 'WARNING:', 'Oops', 'Kernel panic', 'Call Trace'];

let ts: Toolstack;
let stateDir: string;
let work: string;
const doms: { n: number; domid: number; c: ConsoleDriver }[] = [];

/** Per-CPU user+system jiffies from /proc/stat. */
function cpuTicks(stat: string): number[] {
  return stat
    .split('\n')
    .filter((l) => /^cpu\d+ /.test(l))
    .map((l) => {
      const f = l.trim().split(/\s+/).slice(1).map(Number);
      return f[0] + f[1] + f[2];
    });
}

describe('SMP domUs', () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'tsxen-smp-'));
    ({ ts, stateDir } = await testToolstack());
    for (const n of [2, 4]) {
      const file = join(work, `smp${n}.cfg`);
      writeFileSync(
        file,
        [`kernel = "${IMAGES}vmlinuz-tiny"`, `ramdisk = "${IMAGES}initramfs-busybox.cpio.gz"`, `name = "smp${n}"`, 'memory = 64', `vcpus = ${n}`, ''].join('\n'),
      );
      const { domid } = await ts.create(loadDomainConfig(file));
      doms.push({ n, domid, c: driveConsole(ts, domid) });
    }
    await Promise.all(doms.map((d) => d.c.waitFor('Enter \'help\'', BOOT_MS)));
  }, BOOT_MS + 30_000);

  afterAll(async () => {
    await ts?.close();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('lists every vCPU in /proc/cpuinfo and in xm list', async () => {
    for (const d of doms) {
      expect(await d.c.run('grep -c ^processor /proc/cpuinfo')).toBe(String(d.n));
      expect(await d.c.run('cat /sys/devices/system/cpu/online')).toBe(`0-${d.n - 1}`);
      const info = ts.list().find((x) => x.domid === d.domid)!;
      expect(info.vcpus).toBe(d.n);
      expect(info.onlineVcpus).toBe(d.n);
    }
  }, 120_000);

  it('runs a parallel workload on more than one vCPU', async () => {
    for (const d of doms) {
      const before = cpuTicks(await d.c.run('cat /proc/stat'));
      const out = await d.c.run(
        `for j in $(seq ${d.n}); do (i=0; while [ $i -lt 1000 ]; do i=$((i+1)); done; echo job$j:$i) & done; wait`,
        240_000,
      );
      for (let j = 1; j <= d.n; j++) expect(out).toContain(`job${j}:1000`);
      const after = cpuTicks(await d.c.run('cat /proc/stat'));
      expect(after.length).toBe(d.n);
      // Each job is a busy loop; the scheduler spreads them: at least two CPUs did real work.
      const busy = after.map((t, i) => t - before[i]).filter((x) => x >= 5);
      expect(busy.length).toBeGreaterThanOrEqual(2);
    }
  }, 300_000);

  it('powers off cleanly, with a clean console', async () => {
    for (const d of doms) void d.c.run('poweroff -f').catch(() => undefined);
    const ends = await Promise.all(doms.map((d) => ts.waitGone(d.domid)));
    expect(ends.map((e) => e.reason)).toEqual(['poweroff', 'poweroff']);
    for (const d of doms) {
      for (const bad of BAD) {
        const at = d.c.out.indexOf(bad);
        // On failure, show the report itself, not the start of the log.
        expect(at < 0 ? '' : d.c.out.slice(Math.max(0, at - 1500), at + 2500), `smp${d.n}: ${bad}`).toBe('');
      }
    }
  }, 60_000);
});
