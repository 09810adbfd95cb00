// The boot issue's acceptance: images/vmlinuz-tiny + the busybox initramfs boot to a shell on
// the PV console, commands run, time is right, and `poweroff -f` ends the domain with reason
// poweroff; the console shows no kernel BUG/WARNING/Oops/panic/Call Trace.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import type { Toolstack } from '../../../src/dom0/toolstack/types.js';
import type { ConsoleDriver } from './console-driver.js';
import { IMAGES, driveConsole, testToolstack, tinyConfig } from './helpers.js';

const KERNEL = IMAGES + 'vmlinuz-tiny';
const MARKER = 'tsxen-initramfs: up ';
const BOOT_MS = Number(process.env.TSXEN_BOOT_TEST_MS ?? 300_000);

/** A minimal static x86-64 ELF executable whose code is `code`, loaded at 0x400000. */
function tinyElf(code: number[]): Uint8Array {
  const b = Buffer.alloc(120 + code.length);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0); // ELFCLASS64, little-endian, version 1
  b.writeUInt16LE(2, 16); // ET_EXEC
  b.writeUInt16LE(0x3e, 18); // EM_X86_64
  b.writeUInt32LE(1, 20);
  b.writeBigUInt64LE(0x400078n, 24); // entry: right after the headers
  b.writeBigUInt64LE(64n, 32); // e_phoff
  b.writeUInt16LE(64, 52); // e_ehsize
  b.writeUInt16LE(56, 54); // e_phentsize
  b.writeUInt16LE(1, 56); // e_phnum
  b.writeUInt32LE(1, 64); // PT_LOAD
  b.writeUInt32LE(5, 68); // R+X
  b.writeBigUInt64LE(0x400000n, 80); // p_vaddr
  b.writeBigUInt64LE(0x400000n, 88); // p_paddr
  b.writeBigUInt64LE(BigInt(b.length), 96); // p_filesz
  b.writeBigUInt64LE(BigInt(b.length), 104); // p_memsz
  b.writeBigUInt64LE(0x1000n, 112); // p_align
  b.set(code, 120);
  return b;
}

/** A shell command that writes `bytes` to `path` with printf octal escapes, and makes it executable. */
function writeFileCmd(path: string, bytes: Uint8Array): string {
  const esc = Array.from(bytes, (x) => '\\' + x.toString(8).padStart(3, '0')).join('');
  return `printf '${esc}' > ${path} && chmod +x ${path}`;
}

let ts: Toolstack;
let stateDir: string;

beforeAll(async () => {
  ({ ts, stateDir } = await testToolstack());
});

afterAll(async () => {
  await ts?.close();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

/** The tiny kernel and the busybox initramfs on the console, as images/busybox-ramdisk.cfg. */
async function bootShell(name: string): Promise<{ domid: number; con: ConsoleDriver }> {
  const { domid } = await ts.create(tinyConfig(stateDir, name));
  const con = driveConsole(ts, domid);
  await con.waitFor(MARKER, BOOT_MS);
  await con.waitFor('# ', BOOT_MS);
  return { domid, con };
}

describe.skipIf(!existsSync(KERNEL))('a busybox shell on a PV domU', () => {
  let domid: number;
  let con: ConsoleDriver;

  beforeAll(async () => {
    ({ domid, con } = await bootShell('shell'));
  }, BOOT_MS + 10_000);

  afterAll(async () => {
    if (ts.list().some((d) => d.domid === domid)) await ts.destroy(domid);
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

  it('delivers SIGILL to a user process executing UD2 and SIGSEGV to one touching unmapped memory; the guest survives', async () => {
    await con.run(writeFileCmd('/tmp/ud2', tinyElf([0x0f, 0x0b])));
    await con.run(writeFileCmd('/tmp/segv', tinyElf([0x89, 0x04, 0x25, 0, 0, 0, 0]))); // mov [0], eax
    expect(await con.run('/tmp/ud2; echo status=$?')).toMatch(/status=132$/); // 128 + SIGILL
    expect(await con.run('/tmp/segv; echo status=$?')).toMatch(/status=139$/); // 128 + SIGSEGV
    expect(await con.run('echo still-$((40+2))')).toBe('still-42');
  }, 120_000);

  it('ends with reason poweroff on `poweroff -f`, with a clean console', async () => {
    const gone = ts.waitGone(domid);
    ts.console(domid).write('poweroff -f\n');
    expect((await gone).reason).toBe('poweroff');
    const hv = ts.dmesg(false);
    for (const bad of ['BUG:', 'WARNING:', 'Oops', 'Kernel panic', 'Call Trace']) {
      expect(hv + con.out, `console shows "${bad}"`).not.toContain(bad);
    }
  }, 120_000);
});

describe.skipIf(!existsSync(KERNEL))('a guest kernel panic', () => {
  it('is a crashed domain; the host process carries on', async () => {
    const { domid, con } = await bootShell('panic');
    const gone = ts.waitGone(domid);
    ts.console(domid).write('echo c > /proc/sysrq-trigger\n');
    expect((await gone).reason).toBe('crash');
    expect(con.out).toContain('Kernel panic');
    expect(ts.list().map((d) => d.name)).toEqual(['Domain-0']);
    // This process (the host) is alive and well: it can still run work.
    expect([1, 2, 3].reduce((x, y) => x + y)).toBe(6);
  }, BOOT_MS + 60_000);
});
