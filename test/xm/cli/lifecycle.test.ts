// A domain's life through the built xm: disks and vifs attached and detached while it runs (the
// guest sees them come and go), `on_reboot=restart` (a new id, the same name), then
// `on_poweroff=preserve` (listed as shut down until xm destroy).

import { join } from 'node:path';
import { writeFileSync, truncateSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAN_BOOT, ensureBuilt, parseList, RAMDISK_CFG, type Watched, XmEnv } from './harness.js';

const BOOT_MS = 300_000;
const PROMPT = '/ # ';

let env: XmEnv;
let con: Watched | undefined;
let firstId = 0;

/** Type a command at the guest's shell; resolve with what it printed (between markers). */
async function guest(cmd: string, ms = 120_000): Promise<string> {
  const w = con!;
  const n = Math.random().toString(36).slice(2, 8);
  const from = w.stdout.length;
  w.write(`echo B${n}''B; ${cmd}; echo E${n}''E\n`);
  const s = await w.waitFor(new RegExp(`B${n}B\\r?\\n`), ms, from);
  const e = await w.waitFor(`E${n}E`, ms, s);
  return w.stdout.slice(s, e).replace(/\r/g, '').split('\n').slice(1).join('\n').trim();
}

async function attachConsole(): Promise<void> {
  con?.kill();
  con = env.spawnXm(['console', 'life']);
  await con.waitFor("Enter 'help'", BOOT_MS);
  await con.waitFor(PROMPT, 60_000);
  await guest('dmesg -n 1');
}

async function listed(): Promise<ReturnType<typeof parseList>[number] | undefined> {
  return parseList((await env.xm(['list'])).stdout).find((r) => r.name === 'life');
}

describe.skipIf(!CAN_BOOT)('a domain through its life with xm', () => {
  beforeAll(async () => {
    ensureBuilt();
    env = new XmEnv();
    const r = await env.xm(['create', RAMDISK_CFG, 'name=life', 'on_reboot=restart', 'on_poweroff=preserve']);
    expect(r.stderr).toBe('');
    firstId = Number(/id=(\d+)/.exec(r.stdout)?.[1]);
    await attachConsole();
  }, BOOT_MS + 60_000);

  afterAll(async () => {
    con?.kill();
    await env?.cleanup();
  });

  it('block-attach gives the running guest a disk; block-list shows it; block-detach takes it away', async () => {
    const img = join(env.stateDir, 'life-disk.img');
    writeFileSync(img, '');
    truncateSync(img, 8 * 1024 * 1024);
    const a = await env.xm(['block-attach', 'life', `file:${img}`, 'xvdb', 'w']);
    expect(a.stderr).toBe('');
    expect(a.code).toBe(0);
    const list = await env.xm(['block-list', 'life']);
    expect(list.stdout).toMatch(/^Vdev\s+BE\s+handle\s+state\s+evt-ch\s+ring-ref\s+BE-path/);
    expect(list.stdout).toMatch(/^51728\s+0\s+0\s+[1-4]\s/m);
    // The guest's blkfront connects: 8 MiB is 16384 sectors.
    expect(await guest('i=0; while [ ! -e /sys/block/xvdb ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i+1)); done; cat /sys/block/xvdb/size')).toBe('16384');
    expect(await guest('dd if=/dev/zero of=/dev/xvdb bs=4k count=1 seek=7 2>/dev/null && echo wrote')).toBe('wrote');
    const d = await env.xm(['block-detach', 'life', 'xvdb']);
    expect(d.stderr).toBe('');
    expect(d.code).toBe(0);
    expect(await guest('i=0; while [ -e /sys/block/xvdb ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i+1)); done; ls /sys/block')).not.toContain('xvdb');
    expect((await env.xm(['block-list', 'life'])).stdout).not.toMatch(/^51728/m);
  }, 180_000);

  it('network-attach gives the guest a vif on xenbr0 that answers ping; network-detach removes it', async () => {
    const a = await env.xm(['network-attach', 'life', 'bridge=xenbr0', 'mac=00:16:3e:00:11:22']);
    expect(a.stderr).toBe('');
    expect(a.code).toBe(0);
    expect((await env.xm(['network-list', 'life'])).stdout).toMatch(/^0\s+0\s+00:16:3e:00:11:22\s/m);
    const out = await guest('insmod /lib/modules/xen-netfront.ko; sleep 1; ifconfig eth0 172.16.31.50 up && ping -c 1 172.16.31.1');
    expect(out).toContain('1 packets transmitted, 1 packets received');
    const d = await env.xm(['network-detach', 'life', '0']);
    expect(d.stderr).toBe('');
    expect(d.code).toBe(0);
    expect((await env.xm(['network-list', 'life'])).stdout).not.toMatch(/^0\s/m);
  }, 180_000);

  it('on_reboot=restart: the guest reboots into a new domain with the same name and a higher id', async () => {
    con!.write('reboot -f\n');
    const deadline = Date.now() + 120_000;
    let row = await listed();
    while (!row || row.id === firstId || row.id === null) {
      if (Date.now() > deadline) throw new Error(`no restarted domain: ${JSON.stringify(row)}`);
      await new Promise((r) => setTimeout(r, 500));
      row = await listed();
    }
    expect(row.id).toBeGreaterThan(firstId);
    await attachConsole();
    expect(await guest('echo again-$((2+3))')).toBe('again-5');
  }, BOOT_MS + 180_000);

  it('on_poweroff=preserve: after poweroff the domain stays listed as shut down until xm destroy', async () => {
    con!.write('poweroff -f\n');
    const deadline = Date.now() + 120_000;
    let row = await listed();
    while (!row || !/^---s--$/.test(row.state)) {
      if (Date.now() > deadline) throw new Error(`not shut down: ${JSON.stringify(row)}`);
      await new Promise((r) => setTimeout(r, 500));
      row = await listed();
    }
    expect(row.id).not.toBeNull();
    expect((await env.xm(['destroy', 'life'])).code).toBe(0);
    expect(await listed()).toBeUndefined();
  }, 180_000);
});
