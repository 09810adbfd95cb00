// Debian 12's stock kernels (linux-image-cloud-amd64 and linux-image-amd64, 6.1.x), unmodified,
// boot as PV domUs with the busybox initramfs to a shell on 1, 2 and 4 vCPUs, with a clean
// console. They exercise what the tiny kernel does not: code that runs before alternatives are
// patched (cmpxchg16b_emu's pushf/cli/popf under the virtual IOPL), the full CPUID and MSR
// probing of a distribution kernel, SLUB, crypto self-tests, LSMs. The kernels are not
// committed: images/fetch-debian-kernels downloads them (CI runs it).
//
// Boots run on the toolstack's worker threads, two at a time (the CI machine has two cores;
// more at once starve vCPUs into RCU-stall reports). The 1-vCPU boots run everything the
// kernel runs by default; the SMP boots skip the crypto self-tests (cryptomgr.notests), which
// cost about 30 s of interpreter time per boot and test nothing SMP-specific.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDomainConfig } from '../../src/xm/config/index.js';
import type { Toolstack } from '../../src/dom0/toolstack/types.js';
import { IMAGES, driveConsole, testToolstack } from '../dom0/toolstack/helpers.js';

/** Where images/fetch-debian-kernels puts them (TSXEN_DEBIAN_KERNELS moves both). */
const DEBIAN = process.env.TSXEN_DEBIAN_KERNELS ?? join(IMAGES, 'build-work', 'debian');
const FLAVOURS = ['cloud-amd64', 'amd64'] as const;
const VCPUS = [1, 2, 4] as const;
const BAD = ['BUG:', 'WARNING:', 'Oops', 'Kernel panic', 'Call Trace'];
/** One boot takes 40-90 s on a quiet 2-core machine; a busy one is several times slower. */
const BOOT_MS = 600_000;
const LANES = Math.max(1, Math.min(2, availableParallelism()));

const missing = FLAVOURS.filter((f) => !existsSync(join(DEBIAN, `vmlinuz-${f}`)));

/** A counting semaphore: at most LANES boots at once. */
let free = LANES;
const waiting: (() => void)[] = [];
async function lane<T>(f: () => Promise<T>): Promise<T> {
  if (free === 0) await new Promise<void>((r) => waiting.push(r));
  else free--;
  try {
    return await f();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else free++;
  }
}

let ts: Toolstack;
let stateDir: string;
let work: string;

describe('Debian 12 kernels as PV domUs', () => {
  it('are present (run images/fetch-debian-kernels to download them)', () => {
    expect(missing, `missing ${missing.map((f) => join(DEBIAN, `vmlinuz-${f}`)).join(', ')}: run images/fetch-debian-kernels`).toEqual([]);
  });

  describe.skipIf(missing.length > 0)('boot to a shell', () => {
    beforeAll(async () => {
      work = mkdtempSync(join(tmpdir(), 'tsxen-debian-'));
      ({ ts, stateDir } = await testToolstack());
    });

    afterAll(async () => {
      await ts?.close();
      if (stateDir) rmSync(stateDir, { recursive: true, force: true });
      if (work) rmSync(work, { recursive: true, force: true });
    });

    for (const flavour of FLAVOURS) {
      for (const n of VCPUS) {
        it.concurrent(`${flavour} on ${n} vCPU${n > 1 ? 's' : ''}`, () => lane(async () => {
          const name = `debian-${flavour}-${n}`;
          const file = join(work, `${name}.cfg`);
          const extra = n === 1 ? 'console=hvc0' : 'console=hvc0 cryptomgr.notests';
          writeFileSync(file, [
            `kernel = "${join(DEBIAN, `vmlinuz-${flavour}`)}"`,
            `ramdisk = "${join(IMAGES, 'initramfs-busybox.cpio.gz')}"`,
            `name = "${name}"`, 'memory = 128', `vcpus = ${n}`, `extra = "${extra}"`,
            'on_crash = "destroy"', 'on_reboot = "destroy"', '',
          ].join('\n'));
          const t0 = Date.now();
          const { domid } = await ts.create(loadDomainConfig(file));
          const c = driveConsole(ts, domid);
          let ended: string | undefined;
          void ts.waitGone(domid).then((e) => (ended = `${e.reason}${e.detail ? ` (${e.detail})` : ''}`));
          try {
            await c.waitFor("Enter 'help'", BOOT_MS);
          } catch (e) {
            // The driver's message has the console tail; add how the domain ended.
            throw new Error(`${name} did not reach the shell${ended ? `; the domain ended: ${ended}` : ''}\n${(e as Error).message}`);
          }
          const bootS = (Date.now() - t0) / 1000;
          const release = readFileSync(join(DEBIAN, `version-${flavour}`), 'utf8').split(' ')[0].replace('linux-image-', '');
          const out = await c.run('uname -r; grep -c ^processor /proc/cpuinfo; cat /sys/devices/system/cpu/online; echo $((6*7))');
          // Kernel messages (crng init, ...) may land on the console between the command's lines.
          expect(out.split('\n').filter((l) => !/^\[ *\d+\.\d+\] /.test(l))).toEqual([release, String(n), n === 1 ? '0' : `0-${n - 1}`, '42']);
          void c.run('poweroff -f').catch(() => undefined);
          const end = await ts.waitGone(domid);
          expect(end.reason, c.out.slice(-2000)).toBe('poweroff');
          for (const bad of BAD) {
            const at = c.out.indexOf(bad);
            // On failure, show the report itself, not the start of the log.
            expect(at < 0 ? '' : c.out.slice(Math.max(0, at - 1500), at + 2500), `${name}: ${bad}`).toBe('');
          }
          console.log(`${name}: shell after ${bootS.toFixed(1)} s`);
        }), BOOT_MS * 2);
      }
    }
  });
});
