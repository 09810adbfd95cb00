import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IMAGES_DIR } from './formats.js';

const script = join(IMAGES_DIR, 'make-busybox-disk');
let dir: string;
let disk: string;

function debugfs(request: string): string {
  return execFileSync('debugfs', ['-R', request, disk], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsxen-disk-'));
  disk = join(dir, 'busybox.img');
  const out = execFileSync('bash', [script, disk], { encoding: 'utf8' });
  expect(out.trim()).toBe(disk);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('images/make-busybox-disk', () => {
  it('makes a 2 GiB file that is sparse', () => {
    const st = statSync(disk);
    expect(st.size).toBe(2 * 1024 * 1024 * 1024);
    expect(st.blocks * 512).toBeLessThan(64 * 1024 * 1024);
  });

  it('makes an ext4 filesystem that e2fsck -fn accepts', () => {
    const r = spawnSync('e2fsck', ['-fn', disk], { encoding: 'utf8' });
    expect(r.stderr + r.stdout).not.toMatch(/error|corrupt/i);
    expect(r.status).toBe(0);
    const features = execFileSync('dumpe2fs', ['-h', disk], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(features).toMatch(/Filesystem features:.*\bhas_journal\b.*\bextent\b/);
    expect(features).toMatch(/Filesystem volume name:\s+busybox/);
  });

  it("holds busybox's _install layout plus the walkthrough's directories", () => {
    const names = debugfs('ls -l /')
      .split('\n')
      .map((l) => l.trim().split(/\s+/).pop() ?? '')
      .filter((n) => n !== '' && n !== '.' && n !== '..');
    expect(names.sort()).toEqual(
      ['bin', 'boot', 'dev', 'etc', 'lib', 'lost+found', 'media', 'misc', 'mnt', 'opt', 'proc', 'sbin', 'sys', 'usr'].sort(),
    );
    expect(debugfs('ls /etc')).toMatch(/\brc\.d\b/);
    expect(debugfs('ls /usr')).toMatch(/\bbin\b[\s\S]*\bsbin\b|\bsbin\b[\s\S]*\bbin\b/);
  });

  it('has bin/busybox from the initramfs, /bin/sh linked to it, all owned by root', () => {
    const bb = debugfs('stat /bin/busybox');
    expect(bb).toMatch(/Type: regular/);
    expect(bb).toMatch(/User:\s+0\s+Group:\s+0/);
    const sh = debugfs('stat /bin/sh');
    expect(sh).toMatch(/Type: symlink/);
    expect(sh).toMatch(/Fast link dest: "\/bin\/busybox"/);
    expect(sh).toMatch(/User:\s+0\s+Group:\s+0/);
    expect(debugfs('stat /sbin/insmod')).toMatch(/Fast link dest: "\/bin\/busybox"/);
  });

  it('has lib/modules/xen-netfront.ko byte for byte', () => {
    const dumped = join(dir, 'xen-netfront.ko');
    debugfs(`dump /lib/modules/xen-netfront.ko ${dumped}`);
    expect(readFileSync(dumped).equals(readFileSync(join(IMAGES_DIR, 'xen-netfront.ko')))).toBe(true);
  });

  it('fails with a clear message when the initramfs is missing or arguments are wrong', () => {
    const missing = spawnSync('bash', [script, join(dir, 'x.img')], {
      encoding: 'utf8',
      env: { ...process.env, INITRAMFS: join(dir, 'nope.cpio.gz') },
    });
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain(`initramfs '${join(dir, 'nope.cpio.gz')}' not found`);
    const nodir = spawnSync('bash', [script, join(dir, 'no/such/dir/x.img')], { encoding: 'utf8' });
    expect(nodir.status).not.toBe(0);
    expect(nodir.stderr).toContain('does not exist');
    const extra = spawnSync('bash', [script, 'a', 'b'], { encoding: 'utf8' });
    expect(extra.status).not.toBe(0);
    expect(extra.stderr).toContain('too many arguments');
  });
});
