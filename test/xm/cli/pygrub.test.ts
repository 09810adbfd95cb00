// bootloader = "pygrub" through the real xm: the guest's own grub.cfg on its disk (raw, and a
// qcow2 copy given as file: as the seed walkthrough gives its qcow2 disk) picks the kernel,
// initrd and arguments; bootargs choose another entry; a disk with no /boot or an unsupported
// bootloader is a clear error that leaves no domain behind.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CAN_BOOT, IMAGES, ensureBuilt, parseList, XmEnv } from './harness.js';

const BOOT_MS = 240_000;
const PROMPT = '/ # ';
let env: XmEnv;
let raw: string;
let qcow2: string;
let bare: string;

/** debugfs -w with a command script: writes into the ext4 image without mounting it. */
function debugfs(image: string, commands: string[]): void {
  const script = join(env.stateDir, 'debugfs.cmds');
  writeFileSync(script, commands.join('\n') + '\n');
  execFileSync('debugfs', ['-w', '-f', script, image], { stdio: 'ignore' });
}

function config(name: string, disk: string, extra: string[] = []): string {
  const p = join(env.configDir, `${name}.cfg`);
  writeFileSync(p, [`name = "${name}"`, 'bootloader = "pygrub"', 'memory = 64', `disk = ['file:${disk},xvda,w']`,
    'on_crash = "destroy"', ...extra, ''].join('\n'));
  return p;
}

beforeAll(() => {
  ensureBuilt();
  env = new XmEnv();
  raw = join(env.stateDir, 'guest.img');
  bare = join(env.stateDir, 'bare.img');
  qcow2 = join(env.stateDir, 'guest.qcow2');
  execFileSync(join(IMAGES, 'make-busybox-disk'), [raw], { stdio: 'ignore' });
  execFileSync(join(IMAGES, 'make-busybox-disk'), [bare], { stdio: 'ignore' });
  debugfs(bare, ['rmdir /boot']);
  // Two entries shaped like Debian's grub.cfg; each names itself on the kernel command line.
  const cfg = join(env.stateDir, 'grub.cfg');
  writeFileSync(cfg, [
    'set default="0"',
    'set timeout=5',
    "menuentry 'tiny busybox' --class gnu-linux {",
    '\tinsmod ext2',
    '\tlinux /boot/vmlinuz-tiny console=hvc0 tsxen.entry=first',
    '\tinitrd /boot/initramfs.cpio.gz',
    '}',
    "menuentry 'tiny busybox, second entry' {",
    '\tlinux /boot/vmlinuz-tiny console=hvc0 tsxen.entry=second',
    '\tinitrd /boot/initramfs.cpio.gz',
    '}',
    '',
  ].join('\n'));
  debugfs(raw, [
    'mkdir /boot/grub',
    `write ${cfg} /boot/grub/grub.cfg`,
    `write ${join(IMAGES, 'vmlinuz-tiny')} /boot/vmlinuz-tiny`,
    `write ${join(IMAGES, 'initramfs-busybox.cpio.gz')} /boot/initramfs.cpio.gz`,
  ]);
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);
}, 120_000);

afterAll(async () => {
  await env?.cleanup();
});

async function bootAndReadCmdline(cfg: string, name: string): Promise<string> {
  const x = env.spawnXm(['create', '-c', cfg, '--timeout', String(BOOT_MS / 1000)]);
  try {
    await x.waitFor(PROMPT, BOOT_MS);
    const from = x.stdout.length;
    // The marker is split in the typed line so that the echo of the line does not match.
    x.write("echo cmd''line=$(cat /proc/cmdline)=end\n");
    await x.waitFor(/cmdline=.*=end/, 60_000, from);
    const line = /cmdline=(.*)=end/.exec(x.stdout.slice(from))![1];
    x.write('poweroff -f\n');
    expect((await x.exit).code).toBe(0);
    return line;
  } finally {
    x.kill();
    await env.xm(['destroy', name]);
  }
}

describe.skipIf(!CAN_BOOT)('bootloader = "pygrub"', () => {
  it("boots the default entry of the guest's grub.cfg from a raw disk, with extra= appended", async () => {
    const line = await bootAndReadCmdline(config('pyraw', raw, ['extra = "tsxen.extra=yes"']), 'pyraw');
    expect(line).toContain('tsxen.entry=first');
    expect(line).toContain('tsxen.extra=yes');
    expect(line).not.toContain('tsxen.entry=second');
  }, BOOT_MS + 60_000);

  it('boots the entry bootargs name, from a qcow2 copy given as file:', async () => {
    const line = await bootAndReadCmdline(config('pyqcow', qcow2, ['bootargs = "--entry=1"']), 'pyqcow');
    expect(line).toContain('tsxen.entry=second');
  }, BOOT_MS + 60_000);

  it('shows the bootloader in xm list --long while the domain runs', async () => {
    const x = env.spawnXm(['create', config('pylong', raw)]);
    expect((await x.exit).code).toBe(0);
    const r = await env.xm(['list', '--long', 'pylong']);
    expect(r.stdout).toContain('(bootloader /usr/lib/xen/bin/pygrub)');
    expect(r.stdout).toContain('(bootloader_args -q)');
    await env.xm(['destroy', 'pylong']);
  }, 120_000);
});

describe('bootloader errors', () => {
  it('a disk with no /boot: the error names the disk and what was looked for; no domain is left', async () => {
    const r = await env.xm(['create', config('nobootdir', bare)], { timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${bare}: no /boot/grub/grub.cfg`);
    expect(r.stderr).toContain('the file system has no /boot');
    const list = parseList((await env.xm(['list'])).stdout);
    expect(list.map((d) => d.name)).not.toContain('nobootdir');
  }, 90_000);

  it('an unsupported bootloader is a config error naming file, line and key', async () => {
    const p = join(env.configDir, 'pvgrub.cfg');
    writeFileSync(p, `name = "pvgrub"\nmemory = 64\nbootloader = "/usr/lib/xen/boot/pv-grub-x86_64.gz"\n`);
    const r = await env.xm(['create', p]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${p}:3: bootloader: unsupported bootloader '/usr/lib/xen/boot/pv-grub-x86_64.gz'`);
  }, 60_000);
});
