// xend's side of a vif (the nodes netif.py / DevController.py wrote) and the hotplug step:
// what lands in xenstore and with which permissions, device ids, generated MACs, refusals,
// bridges chosen or missing, rate limits reaching netback, and devices vanishing with their
// directories.

import { afterEach, describe, expect, it } from 'vitest';
import {
  createVifDevice, destroyVifDevice, randomVifMac, VifDeviceError, waitForVifHotplug, XenbusState,
} from '../../../src/devices/net/index.js';
import { parseVifSpec } from '../../../src/devices/net/vif-spec.js';
import { icmpEcho } from './frames.js';
import { until } from './guest.js';
import { defaultVif, Host } from './host.js';

let host: Host | null = null;
afterEach(() => {
  host?.driver.stop();
  host = null;
});

function tree(h: Host, path: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string, rel: string): void => {
    for (const c of h.xs.directory(p)) {
      const cp = `${p}/${c}`;
      const r = rel ? `${rel}/${c}` : c;
      const v = h.xs.readString(cp);
      if (h.xs.directory(cp).length > 0) walk(cp, r);
      else out[r] = v;
    }
  };
  walk(path, '');
  return out;
}

describe("xend's vif nodes", () => {
  it('writes the backend, frontend and /vm nodes of netif.py for a parsed vif entry, with their permissions', () => {
    host = new Host();
    host.driver.stop(); // look at what xend wrote, before any backend touches it
    const g = host.guest(5, 'busybox');
    const spec = parseVifSpec('bridge=xenbr0, mac=00:16:3E:0A:0B:0C, ip=172.16.31.5, vifname=bb0, rate=10MB/s');
    const dev = createVifDevice(host.xs, { ...spec, uuid: '3c7a2d1e-0000-4000-8000-000000000001' }, { domid: 5, domName: 'busybox', vmPath: g.vmPath });
    expect(dev).toMatchObject({ devid: 0, mac: '00:16:3e:0a:0b:0c', vifName: 'bb0' });
    expect(tree(host, dev.backendPath)).toEqual({
      script: '/etc/xen/scripts/vif-bridge',
      mac: '00:16:3e:0a:0b:0c',
      ip: '172.16.31.5',
      bridge: 'xenbr0',
      vifname: 'bb0',
      rate: '500000,50000',
      uuid: '3c7a2d1e-0000-4000-8000-000000000001',
      handle: '0',
      domain: 'busybox',
      frontend: '/local/domain/5/device/vif/0',
      'frontend-id': '5',
      state: '1',
      online: '1',
    });
    expect(tree(host, dev.frontendPath)).toEqual({
      handle: '0',
      mac: '00:16:3e:0a:0b:0c',
      backend: '/local/domain/0/backend/vif/5/0',
      'backend-id': '0',
      state: '1',
      protocol: 'x86_64-abi',
    });
    expect(tree(host, `${g.vmPath}/device/vif/0`)).toEqual({
      backend: '/local/domain/0/backend/vif/5/0',
      'backend-id': '0',
      frontend: '/local/domain/5/device/vif/0',
      'frontend-id': '5',
    });
    expect(host.xs.getPerms(dev.backendPath)).toEqual(['n0', 'r5']);
    expect(host.xs.getPerms(dev.frontendPath)).toEqual(['n5', 'r0']);
    // The guest reads its backend's nodes and writes its own, nothing more.
    expect(g.xb.read(`${dev.backendPath}/mac`)).toBe('00:16:3e:0a:0b:0c');
    expect(g.xb.write(`${dev.frontendPath}/state`, '1')).toBeNull();
    expect(g.xb.write(`${dev.backendPath}/online`, '0')).toBe('EACCES');

    // Device ids come from device-misc/vif/nextDeviceID; a second vif gets 1 and a fresh MAC.
    const dev2 = createVifDevice(host.xs, defaultVif, { domid: 5, domName: 'busybox', vmPath: g.vmPath, random: () => Uint8Array.of(0xff, 0x12, 0x34) });
    expect(dev2.devid).toBe(1);
    expect(dev2.mac).toBe('00:16:3e:7f:12:34');
    expect(host.read('/local/domain/5/device-misc/vif/nextDeviceID')).toBe('2');
    expect(host.read(`${dev2.backendPath}/bridge`)).toBeNull();
    expect(host.read(`${dev2.backendPath}/uuid`)).toMatch(/^[0-9a-f-]{36}$/);
    expect(dev2.vifName).toBe('vif5.1');
  });

  it('generates MACs in the Xensource OUI with the first random octet below 0x80', () => {
    for (let i = 0; i < 50; i++) expect(randomVifMac()).toMatch(/^00:16:3e:[0-7][0-9a-f]:[0-9a-f]{2}:[0-9a-f]{2}$/);
  });

  it('refuses what tsxen cannot back: ioemu NICs, driver domains, multicast MACs', () => {
    host = new Host();
    const g = host.guest(6);
    const o = { domid: 6, domName: 'g', vmPath: g.vmPath };
    expect(() => createVifDevice(host!.xs, { ...defaultVif, type: 'ioemu' }, o)).toThrow(/HVM/);
    expect(() => createVifDevice(host!.xs, { ...defaultVif, backend: 'netdom' }, o)).toThrow(/driver domains are not supported/);
    expect(() => createVifDevice(host!.xs, { ...defaultVif, mac: '01:16:3e:00:00:01' }, o)).toThrow(VifDeviceError);
    expect(() => createVifDevice(host!.xs, defaultVif, { ...o, domid: 0 })).toThrow(/not a guest domain id/);
    expect(host.read('/local/domain/6/device/vif')).toBeNull();
  });
});

describe('hotplug (vif-bridge) and device lifetime', () => {
  it('reports hotplug-status connected, or error with the vif-bridge message for a missing bridge', async () => {
    host = new Host();
    const g = host.guest(7);
    const ok = host.addVif(g);
    await expect(waitForVifHotplug(host.xs, ok.backendPath, 2000)).resolves.toEqual({ status: 'connected', error: null });
    expect(host.xenbr0.port('vif7.0')).toBeDefined();

    const bad = host.addVif(g, { bridge: 'xenbr9' });
    await expect(waitForVifHotplug(host.xs, bad.backendPath, 2000)).resolves.toEqual({ status: 'error', error: 'Could not find bridge device xenbr9' });

    const script = host.addVif(g, { script: 'vif-route' });
    const r = await waitForVifHotplug(host.xs, script.backendPath, 2000);
    expect(r.status).toBe('error');
    expect(r.error).toMatch(/vif-route is not supported/);

    // A second bridge, named in the spec; and vifname.
    host.net.bridges.create('xenbr1');
    const named = host.addVif(g, { bridge: 'xenbr1', vifname: 'web0' });
    await expect(waitForVifHotplug(host.xs, named.backendPath, 2000)).resolves.toMatchObject({ status: 'connected' });
    expect(host.net.bridges.get('xenbr1')!.port('web0')).toBeDefined();
    const dup = host.addVif(g, { vifname: 'web0' });
    await expect(waitForVifHotplug(host.xs, dup.backendPath, 2000)).resolves.toEqual({
      status: 'error', error: 'Cannot rename interface vif7.4. An interface with name web0 already exists.',
    });
    const timeout = await waitForVifHotplug(host.xs, '/local/domain/0/backend/vif/7/99', 30);
    expect(timeout.status).toBe('timeout');
  });

  it('removes the device when its backend directory goes (domain destroyed) or its frontend vanishes', async () => {
    host = new Host();
    const h = host;
    const a = h.netfront(8);
    const b = h.netfront(9);
    await a.nf.connected();
    await b.nf.connected();
    destroyVifDevice(h.xs, 8, 0, { vmPath: a.g.vmPath, force: true });
    await until(() => h.driver.device(8, 0) === undefined, 'removal of dom8 vif');
    expect(h.xenbr0.port('vif8.0')).toBeUndefined();
    expect(a.nf.releaseRings()).toBe(true);

    // The frontend's directory disappears (its state reads Unknown): the backend closes and goes.
    h.xs.rm(b.dev.frontendPath);
    await until(() => h.driver.device(9, 0) === undefined, 'removal of dom9 vif');
    expect(h.read(`${b.dev.backendPath}/state`)).toBe(String(XenbusState.Closed));
    expect(h.xenbr0.ports.map((p) => p.name)).toEqual(['xenbr0']);
  });

  it('probes devices that existed before it started, and fails loudly for a frontend domain that does not exist', async () => {
    host = new Host();
    const h = host;
    h.driver.stop();
    const g = h.guest(13);
    const dev = h.addVif(g);
    const ghost = h.guest(14);
    const ghostDev = h.addVif(ghost);
    h.domains.delete(14);
    const { NetbackDriver } = await import('../../../src/devices/net/index.js');
    const d2 = new NetbackDriver({ xs: h.xs, domain: (id) => h.domains.get(id), bridges: h.net.bridges, logger: h.log });
    d2.start();
    try {
      await until(() => h.read(`${dev.backendPath}/state`) === String(XenbusState.InitWait), 'InitWait for the existing device');
      expect(h.xenbr0.port('vif13.0')).toBeDefined();
      await until(() => h.read(`${ghostDev.backendPath}/state`) === String(XenbusState.Closing), 'Closing for the ghost');
      expect(h.read('/local/domain/0/error/backend/vif/14/0/error')).toBe('2 frontend domain 14 does not exist');
    } finally {
      d2.stop();
    }
    expect(h.xenbr0.port('vif13.0')).toBeUndefined();
  });

  it('applies the rate limit xend wrote: packets beyond the credit wait for the next interval', async () => {
    const t = 5_000_000;
    host = new Host(() => t);
    // 250 bytes per 300 ms: two 98-byte pings fit, the third waits for more credit.
    const { nf } = host.netfront(12, { rate: { bytesPerInterval: 250, intervalUsecs: 300_000 } });
    await nf.connected();
    expect(host.read('/local/domain/0/backend/vif/12/0/rate')).toBe('250,300000');
    for (let s = 1; s <= 3; s++) nf.send(icmpEcho(nf.mac, '02:00:ac:10:1f:01', '172.16.31.12', '172.16.31.1', 5, s, 56));
    await until(() => nf.received.length === 2, 'two replies');
    const at = Date.now();
    expect(nf.txOutstanding).toBe(1);
    await until(() => nf.received.length === 3, 'the third reply after the credit interval', 5000);
    expect(Date.now() - at).toBeGreaterThanOrEqual(200);
  });
});
