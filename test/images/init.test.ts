// Runs the initramfs /init for real — Debian's busybox sh from the committed archive, as PID 1
// of a private PID + mount namespace on this host — against a disk made by make-busybox-disk,
// attached read-only to a loop device that stands in for the PV disk /dev/xvda. This is the
// root= / switch_root path that the native qemu check in images/build cannot reach (the tiny
// kernel has no native block driver). Needs root (mounts, loop devices); skipped otherwise.
//
// Two edits to the copy of /init under test, both to keep it off the host: it reads its command
// line from /cmdline.test instead of the host's /proc/cmdline, and its fallback shell is plain
// `sh` on the piped stdin instead of `setsid cttyhack sh`, which would open the host's console.
// (The piped stdin is kept on fd 3: ash gives a background job /dev/null as its stdin.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IMAGES_DIR } from './formats.js';

function usable(): boolean {
  if (process.getuid?.() !== 0) return false;
  for (const tool of ['unshare', 'losetup', 'chroot', 'cpio', 'mke2fs']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return false;
  }
  // A free loop device must exist (containers often have none).
  return spawnSync('losetup', ['-f'], { stdio: 'ignore' }).status === 0;
}

const canRun = usable();
let dir = '';
let loop = '';

beforeAll(() => {
  if (!canRun) return;
  dir = mkdtempSync(join(tmpdir(), 'tsxen-init-'));
  execFileSync('bash', [join(IMAGES_DIR, 'make-busybox-disk'), join(dir, 'busybox.img')], { stdio: 'ignore' });
  loop = execFileSync('losetup', ['-f', '--show', '-r', join(dir, 'busybox.img')], { encoding: 'utf8' }).trim();
});

afterAll(() => {
  if (loop) spawnSync('losetup', ['-d', loop]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Boots /init with `cmdline`, feeds `input` to its stdin, returns what it printed. */
function runInit(cmdline: string, input: string): string {
  const root = join(dir, 'rootfs');
  const script = `
set -e
mkdir -p '${root}'
mount -t tmpfs -o mode=0755 tmpfs '${root}'
cd '${root}'
gzip -dc '${join(IMAGES_DIR, 'initramfs-busybox.cpio.gz')}' | cpio -idm --quiet
sed -i -e 's#/proc/cmdline#/cmdline.test#' -e 's#setsid cttyhack sh &#sh <\\&3 \\&#' -e '2i exec 3<\\&0' init
if grep -q -e 'setsid cttyhack sh' -e /proc/cmdline init; then echo 'run.sh: host-safety edit of /init failed' >&2; exit 97; fi
printf '%s\\n' "$TSXEN_CMDLINE" > cmdline.test
exec chroot '${root}' /init
`;
  writeFileSync(join(dir, 'run.sh'), script);
  const r = spawnSync('timeout', ['60', 'unshare', '--mount', '--pid', '--fork', '--propagation', 'private', 'bash', join(dir, 'run.sh')], {
    input,
    encoding: 'utf8',
    env: { ...process.env, TSXEN_CMDLINE: cmdline },
  });
  return r.stdout + r.stderr;
}

describe.skipIf(!canRun)('initramfs /init (run in a PID + mount namespace)', () => {
  it('prints the boot marker, mounts root= read-only and switch_roots into init= on it', () => {
    const out = runInit(
      `root=${loop} ro selinux=0 init=/bin/sh`,
      'echo pid=$$; ls /; grep -E " / | /dev | /proc " /proc/mounts; ls /lib/modules; touch /x; exit\n',
    );
    expect(out).toMatch(/^tsxen-initramfs: up \d+\.\d\d$/m);
    expect(out).toContain(`tsxen-initramfs: switch_root to ${loop} (ro), init=/bin/sh`);
    expect(out).toMatch(/^pid=1$/m);
    // The disk's tree, not the initramfs's: no /init, and the walkthrough's directories.
    const listing = out.split('\n');
    for (const d of ['bin', 'boot', 'dev', 'etc', 'lib', 'media', 'misc', 'mnt', 'opt', 'proc', 'sbin', 'sys', 'usr']) {
      expect(listing, d).toContain(d);
    }
    expect(listing).not.toContain('init');
    expect(out).toMatch(new RegExp(`^${loop} / ext4 ro`, 'm'));
    expect(out).toMatch(/^devtmpfs \/dev devtmpfs/m);
    expect(out).toMatch(/^proc \/proc proc/m);
    expect(out).toContain('xen-netfront.ko');
    expect(out).toMatch(/Read-only file system/);
  });

  it('says so and falls back to the initramfs shell when root= cannot be mounted as asked', () => {
    const out = runInit(`root=${loop} rootfstype=nosuchfs init=/bin/sh`, 'echo after-mount-failure; exit\n');
    expect(out).toContain(`tsxen-initramfs: cannot mount root=${loop} (ro); starting the initramfs shell`);
    expect(out).toContain('after-mount-failure');
  });

  it('says what is wrong and falls back to the initramfs shell when init= is missing', () => {
    const out = runInit(`root=${loop} ro init=/sbin/nosuch`, 'echo fallback-$((6*7)); ls /init; exit\n');
    expect(out).toContain(`tsxen-initramfs: no init /sbin/nosuch on root=${loop}; starting the initramfs shell`);
    expect(out).toContain('fallback-42');
    expect(out).toMatch(/^\/init$/m);
    expect(out).toContain('tsxen-initramfs: console shell exited');
  });

  it('gives up waiting for a root device that never appears', () => {
    const out = runInit('root=/dev/xvdz rootdelay=1', 'echo still-here; exit\n');
    expect(out).toContain('tsxen-initramfs: root device /dev/xvdz did not appear within 1s; starting the initramfs shell');
    expect(out).toContain('still-here');
  });

  it('the copy under test differs from the committed /init only by the two host-safety edits', () => {
    const init = readFileSync(join(IMAGES_DIR, 'initramfs/init'), 'utf8');
    expect(init.match(/\/proc\/cmdline/g)?.length).toBe(1);
    expect(init.match(/setsid cttyhack sh/g)?.length).toBe(1);
  });
});
