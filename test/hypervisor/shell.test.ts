// The boot issue's acceptance: images/vmlinuz-tiny + the busybox initramfs boot to a shell on
// the PV console, commands run, time is right, and `poweroff -f` ends the domain with reason
// poweroff; the console shows no kernel BUG/WARNING/Oops/panic/Call Trace.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bootDomain, type BootedDomain } from '../../src/dom0/boot.js';
import { ConsoleDriver } from './console-driver.js';

const IMAGES = fileURLToPath(new URL('../../images/', import.meta.url));
const KERNEL = IMAGES + 'vmlinuz-tiny';
const MARKER = 'tsxen-initramfs: up ';
const BOOT_MS = Number(process.env.TSXEN_BOOT_TEST_MS ?? 300_000);

describe.skipIf(!existsSync(KERNEL))('a busybox shell on a PV domU', () => {
  let b: BootedDomain;
  let con: ConsoleDriver;
  let hv = '';

  beforeAll(async () => {
    b = bootDomain({ kernel: KERNEL, ramdisk: IMAGES + 'initramfs-busybox.cpio.gz', extra: 'console=hvc0', memory: 64, onHypervisorLog: (t) => (hv += t) });
    con = new ConsoleDriver(b);
    await con.waitFor(MARKER, BOOT_MS);
    await con.waitFor('# ', BOOT_MS);
  }, BOOT_MS + 10_000);

  afterAll(async () => {
    if (b && !b.domain.stopped) {
      b.destroy();
      await b.exited;
    }
  });

  it('runs sh loops, functions and arithmetic', async () => {
    expect(await con.run('f() { echo $(( $1 * $1 )); }; s=0; for i in 1 2 3 4 5 6 7 8 9 10; do s=$((s + $(f $i))); done; echo $s')).toBe('385');
  }, 120_000);

  it('md5sums a file the guest wrote, as the host computes it', async () => {
    const text = 'tsxen says hello from a PV domU\n'.repeat(100);
    const want = createHash('md5').update(text).digest('hex');
    const got = await con.run("i=0; while [ $i -lt 100 ]; do echo 'tsxen says hello from a PV domU'; i=$((i+1)); done > /tmp/f; md5sum /tmp/f");
    expect(got).toBe(`${want}  /tmp/f`);
  }, 120_000);

  it('does floating point in awk', async () => {
    // Debian's busybox-static awk has no libm functions (atan2, sin): plain arithmetic only.
    expect(await con.run("awk 'BEGIN { printf \"%.6f %e %g\\n\", 22/7, 1/3, 1/7 }'")).toBe('3.142857 3.333333e-01 0.142857');
  }, 120_000);

  it('lists the vCPU in /proc/cpuinfo', async () => {
    const info = await con.run('grep -c ^processor /proc/cpuinfo; grep -m1 "model name" /proc/cpuinfo');
    expect(info.split('\n')[0]).toBe('1');
    expect(info).toMatch(/model name\s*: tsxen/);
  }, 120_000);

  it('keeps the wall clock: `date` is within seconds of the host', async () => {
    const guest = Number(await con.run('date +%s'));
    // The guest reads the wallclock exactly, then keeps time with jiffies until its Xen timer
    // starts; that early stretch is lost, and lasts as long as our early boot takes (about
    // 2 s here today). The bound covers a slower CI machine; the boot issue tracks the gap.
    expect(Math.abs(guest - Date.now() / 1000)).toBeLessThan(10);
  }, 120_000);

  it('sleeps for real time: `sleep 2` takes about 2 s', async () => {
    const t0 = Date.now();
    await con.run('sleep 2');
    const dt = (Date.now() - t0) / 1000;
    expect(dt).toBeGreaterThanOrEqual(1.9);
    expect(dt).toBeLessThan(10);
  }, 120_000);

  it('ends with reason poweroff on `poweroff -f`, with a clean console', async () => {
    b.input.write('poweroff -f\n');
    const r = await b.exited;
    expect(r.reason).toBe('poweroff');
    for (const bad of ['BUG:', 'WARNING:', 'Oops', 'Kernel panic', 'Call Trace']) {
      expect(hv + con.out, `console shows "${bad}"`).not.toContain(bad);
    }
  }, 120_000);
});
