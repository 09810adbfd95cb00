// Bad domains on the real toolstack: each gives its message and leaves nothing behind (no
// domain in the list, no xenstore directory, no console), and the toolstack carries on.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDomainConfig } from '../../../src/xm/config/index.js';
import type { Toolstack } from '../../../src/dom0/toolstack/types.js';
import { XendError } from '../../../src/dom0/toolstack/types.js';
import { XsHandle } from '../../../src/dom0/xenstored/index.js';
import { IMAGES, testToolstack } from './helpers.js';

let ts: Toolstack;
let stateDir: string;
let work: string;

function config(lines: string[]) {
  const file = join(work, `bad-${Math.random().toString(36).slice(2)}.cfg`);
  const text = [`name = "bad"`, ...lines, ''].join('\n');
  writeFileSync(file, text);
  // checkFiles off: these reach the toolstack (xm's own checks are tested in test/xm).
  return parseDomainConfig(text, file, { checkFiles: false });
}

async function createError(lines: string[]): Promise<XendError> {
  try {
    await ts.create(config(lines));
  } catch (e) {
    expect(e).toBeInstanceOf(XendError);
    return e as XendError;
  }
  throw new Error('create succeeded');
}

function expectNothingLeft(): void {
  expect(ts.list().map((d) => d.name)).toEqual(['Domain-0']);
  const xs = (ts as unknown as { xs: { openHandle(): XsHandle } }).xs.openHandle();
  expect(xs.directory('/local/domain')).toEqual(['0']);
  expect(xs.exists('/vm') ? xs.directory('/vm') : []).toEqual([]);
  expect(xs.directory('/local/domain/0').includes('backend') ? xs.directory('/local/domain/0/backend/vbd') : []).toEqual([]);
}

describe('the toolstack refuses bad domains cleanly', () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'tsxen-bad-'));
    ({ ts, stateDir } = await testToolstack());
  });
  afterAll(async () => {
    await ts?.close();
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  it('a kernel file that is not a kernel', async () => {
    const junk = join(work, 'junk');
    writeFileSync(junk, 'this is not a kernel\n'.repeat(100));
    const e = await createError([`kernel = "${junk}"`, 'memory = 64']);
    expect(e.message).toMatch(/junk: .*(not a bzImage|neither)/i);
    expectNothingLeft();
  });

  it('a corrupt initrd (a truncated gzip stream)', async () => {
    const whole = readFileSync(`${IMAGES}initramfs-busybox.cpio.gz`);
    const cut = join(work, 'initrd-cut.gz');
    writeFileSync(cut, whole.subarray(0, whole.length >> 1));
    const e = await createError([`kernel = "${IMAGES}vmlinuz-tiny"`, `ramdisk = "${cut}"`, 'memory = 64']);
    expect(e.message).toContain(`${cut}: the gzip stream at byte 0 is corrupt`);
    expectNothingLeft();
  });

  it('memory too small for the kernel and ramdisk', async () => {
    const e = await createError([`kernel = "${IMAGES}vmlinuz-tiny"`, `ramdisk = "${IMAGES}initramfs-busybox.cpio.gz"`, 'memory = 4']);
    expect(e.message).toMatch(/memory|too small/i);
    expectNothingLeft();
  });

  it('a disk image that does not exist (the worker was started paused, then torn down)', async () => {
    const e = await createError([
      `kernel = "${IMAGES}vmlinuz-tiny"`,
      `ramdisk = "${IMAGES}initramfs-busybox.cpio.gz"`,
      'memory = 64',
      `disk = ['file:${join(work, 'missing.img')},xvda,w']`,
    ]);
    expect(e.message).toMatch(/Device 51712 \(vbd\) could not be connected\..*missing\.img does not exist/s);
    expectNothingLeft();
  }, 30_000);

  it('a bridge that does not exist', async () => {
    const e = await createError([`kernel = "${IMAGES}vmlinuz-tiny"`, 'memory = 64', "vif = ['bridge=nosuchbr']"]);
    expect(e.message).toMatch(/Device 0 \(vif\) could not be connected\..*nosuchbr/s);
    expectNothingLeft();
  }, 30_000);
});
