// on_reboot=rename-restart (XendDomainInfo._restart with rename): the old domain is kept,
// renamed Domain-<uuid> and shut down, and a new domain with the config's name, a new uuid and a
// higher id boots in its place.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDomainConfig } from '../../../src/xm/config/index.js';
import type { Toolstack } from '../../../src/dom0/toolstack/types.js';
import { IMAGES, driveConsole, testToolstack } from './helpers.js';

const BOOT_MS = 300_000;

let ts: Toolstack;
let stateDir: string;
let work: string;

describe('on_reboot=rename-restart', () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'tsxen-rr-'));
    ({ ts, stateDir } = await testToolstack());
  });
  afterAll(async () => {
    await ts?.close();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('keeps the old domain as Domain-<uuid> and boots a new one under the name', async () => {
    const file = join(work, 'rr.cfg');
    writeFileSync(
      file,
      [`kernel = "${IMAGES}vmlinuz-tiny"`, `ramdisk = "${IMAGES}initramfs-busybox.cpio.gz"`, 'name = "rr"', 'memory = 64', 'on_reboot = "rename-restart"', ''].join('\n'),
    );
    const first = await ts.create(loadDomainConfig(file));
    const uuid = ts.lookup('rr').uuid;
    const c = driveConsole(ts, first.domid);
    await c.waitFor("Enter 'help'", BOOT_MS);
    const created = new Promise<number>((res) => ts.once('created', (domid: number) => res(domid)));
    ts.console(first.domid).write('reboot -f\n');
    const second = await created;
    expect(second).toBeGreaterThan(first.domid);
    const old = ts.lookup(`Domain-${uuid}`);
    expect(old.domid).toBe(first.domid);
    expect(old.state.shutdown).toBe(true);
    const now = ts.lookup('rr');
    expect(now.domid).toBe(second);
    expect(now.uuid).not.toBe(uuid);
    const c2 = driveConsole(ts, second);
    await c2.waitFor("Enter 'help'", BOOT_MS);
    expect(await c2.run('echo renamed-$((40+2))')).toBe('renamed-42');
    await ts.destroy(first.domid);
    await ts.destroy(second);
    expect(ts.list().map((d) => d.name)).toEqual(['Domain-0']);
  }, 2 * BOOT_MS);
});
