// Device creation as xend did it and the xenbus handshake with a blkfront player: store layout
// and permissions, backend features, close/reconnect/destroy, hotplug failures with xend's
// messages, and frontends that publish bad ring details.

import { chmodSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BlkBackend, VDISK_CDROM, VDISK_READONLY, XenbusState, createVbdDevice, destroyVbdDevice, waitForVbdDevice,
  type VbdDevice,
} from '../../../src/devices/block/index.js';
import { parseDiskSpec } from '../../../src/devices/block/disk-spec.js';
import { Blkfront } from './blkfront.js';
import { GuestDomain, GuestXenbus, XenbusError } from './guest.js';
import { Host, attach, makeRaw, pattern, tmpDir, until } from './setup.js';

let t: { dir: string; cleanup: () => void };
let host: Host;
let img: string;
beforeEach(() => {
  t = tmpDir('xenbus');
  host = new Host();
  img = join(t.dir, 'disk.img');
  makeRaw(img, 4096);
});
afterEach(async () => {
  await host.close();
  t.cleanup();
});

function ls(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of host.xs.directory(path)) out[k] = host.xs.readString(`${path}/${k}`);
  return out;
}

describe('xend device creation (DevController.createDevice, blkif.getDeviceDetails)', () => {
  it('writes backend and frontend directories with xend\'s nodes and permissions', () => {
    const g = host.addDomain(5);
    const spec = parseDiskSpec(`file:${img},xvda,w`, '/');
    const dev = createVbdDevice(host.xs, { domid: 5, domainName: 'guest5', spec, vmPath: g.vmPath, uuid: 'u-1', bootable: true });
    expect(dev).toMatchObject({
      devid: 51712,
      deviceClass: 'vbd',
      backendPath: '/local/domain/0/backend/vbd/5/51712',
      frontendPath: '/local/domain/5/device/vbd/51712',
      vmDevicePath: `${g.vmPath}/device/vbd/51712`,
    });
    expect(ls(dev.backendPath)).toEqual({
      dev: 'xvda', type: 'file', params: img, mode: 'w', uuid: 'u-1', bootable: '1', domain: 'guest5',
      frontend: dev.frontendPath, 'frontend-id': '5', state: '1', online: '1',
    });
    expect(ls(dev.frontendPath)).toEqual({
      'virtual-device': '51712', 'device-type': 'disk', protocol: 'x86_64-abi',
      backend: dev.backendPath, 'backend-id': '0', state: '1',
    });
    expect(ls(dev.vmDevicePath!)).toEqual({
      backend: dev.backendPath, 'backend-id': '0', frontend: dev.frontendPath, 'frontend-id': '5',
    });
    expect(host.xs.getPerms(dev.backendPath)).toEqual(['n0', 'r5']);
    expect(host.xs.getPerms(dev.frontendPath)).toEqual(['n5', 'r0']);
    // The guest reads its backend but cannot change it; its own directory is its own.
    expect(g.xb.read(`${dev.backendPath}/mode`)).toBe('w');
    expect(() => g.xb.write(`${dev.backendPath}/mode`, 'w!')).toThrow(XenbusError);
    g.xb.write(`${dev.frontendPath}/state`, '1');
  });

  it('puts tap: disks under backend/tap with driver:path params, xvdq under virtual-device-ext', () => {
    host.addDomain(7);
    const tap = createVbdDevice(host.xs, { domid: 7, domainName: 'g7', spec: parseDiskSpec(`tap:qcow2:${img},xvdb,r`, '/') });
    expect(tap.backendPath).toBe('/local/domain/0/backend/tap/7/51728');
    expect(tap.frontendPath).toBe('/local/domain/7/device/vbd/51728');
    expect(host.xs.readString(`${tap.backendPath}/type`)).toBe('tap');
    expect(host.xs.readString(`${tap.backendPath}/params`)).toBe(`qcow2:${img}`);
    expect(host.xs.readString(`${tap.backendPath}/bootable`)).toBe('0');
    const ext = createVbdDevice(host.xs, { domid: 7, domainName: 'g7', spec: parseDiskSpec(`file:${img},xvdq,r`, '/') });
    expect(ext.devid).toBe((1 << 28) + (16 << 8));
    expect(host.xs.readString(`${ext.frontendPath}/virtual-device-ext`)).toBe(String(ext.devid));
    const cd = createVbdDevice(host.xs, { domid: 7, domainName: 'g7', spec: parseDiskSpec(',hdc:cdrom,r', '/') });
    expect(host.xs.readString(`${cd.backendPath}/type`)).toBe('');
    expect(host.xs.readString(`${cd.backendPath}/params`)).toBe('');
    expect(host.xs.readString(`${cd.frontendPath}/device-type`)).toBe('cdrom');
  });

  it('refuses a second device on the same virtual device, and backends other than Domain-0', () => {
    const g = host.addDomain(5);
    const spec = parseDiskSpec(`file:${img},xvda,w`, '/');
    createVbdDevice(host.xs, { domid: 5, domainName: 'guest5', spec, vmPath: g.vmPath });
    expect(() => createVbdDevice(host.xs, { domid: 5, domainName: 'guest5', spec, vmPath: g.vmPath })).toThrow(
      'Device xvda (51712, vbd) is already connected.',
    );
    expect(() => createVbdDevice(host.xs, { domid: 5, domainName: 'guest5', spec: parseDiskSpec(`file:${img},xvdc,w,drv`, '/') })).toThrow(
      /Cannot configure device for unknown backend drv/,
    );
  });
});

describe('handshake with a blkfront player', () => {
  it('reaches Connected with the features Linux blkfront reads', async () => {
    const a = await attach(host, 5, `file:${img},xvda,w`);
    const be = ls(a.device.backendPath);
    expect(be).toMatchObject({
      state: String(XenbusState.Connected), 'hotplug-status': 'connected', sectors: '4096', info: '0',
      'sector-size': '512', 'physical-sector-size': '512', 'feature-flush-cache': '1', 'feature-barrier': '1',
      'feature-discard': '1', 'discard-granularity': '4096', 'discard-alignment': '0', 'discard-secure': '0',
      'feature-persistent': '0', 'feature-max-indirect-segments': '256', 'max-ring-page-order': '4',
    });
    expect(be['multi-queue-max-queues']).toBeUndefined();
    const fe = a.fe;
    expect(fe.backendStates).toContain(XenbusState.InitWait);
    expect(fe).toMatchObject({ sectors: 4096, sectorSize: 512, featureFlush: true, featureFua: false, featureDiscard: true, featurePersistent: false, maxIndirect: 32 });
    expect(a.xb.read(`${fe.nodename}/state`)).toBe('4');
    expect(a.backend.connected).toBe(true);
  });

  it('marks read-only disks and CD-ROMs in "info" and offers no flush or discard on them', async () => {
    const ro = await attach(host, 5, `file:${img},xvda,r`);
    expect(ro.fe.info).toBe(VDISK_READONLY);
    expect(host.xs.readString(`${ro.device.backendPath}/feature-flush-cache`)).toBe('0');
    expect(host.xs.readString(`${ro.device.backendPath}/feature-discard`)).toBe('0');
    expect(ro.fe.featureFlush).toBe(false);
    const iso = join(t.dir, 'cd.iso');
    copyFileSync(img, iso);
    const cd = await attach(host, 6, `file:${iso},hdc:cdrom,r`);
    expect(cd.fe.info).toBe(VDISK_CDROM | VDISK_READONLY);
  });

  it('leaves an empty CD-ROM drive waiting in InitWait', async () => {
    const g = host.addDomain(5);
    const dev = createVbdDevice(host.xs, { domid: 5, domainName: 'g', spec: parseDiskSpec(',hdc:cdrom,r', '/') });
    const be = host.track(new BlkBackend({ xs: host.xs, domain: g.dom, backendPath: dev.backendPath, logger: host.log }));
    be.start();
    await waitForVbdDevice(host.xs, dev, 2000);
    const fe = new Blkfront(g.dom, g.xb, dev.devid);
    fe.probe();
    await fe.waitState((s) => s === XenbusState.Initialised, 'Initialised');
    await until(() => host.log.has('info', /ring of 1 page/), 'ring mapped');
    expect(host.xs.readString(`${dev.backendPath}/state`)).toBe(String(XenbusState.InitWait));
    expect(fe.state).toBe(XenbusState.Initialised);
    await be.shutdown();
  });

  it('closes cleanly, keeps an online device, and reconnects when the frontend starts over', async () => {
    const a = await attach(host, 5, `file:${img},xvda,w`, { fe: { maxRingPageOrder: 1 } });
    expect((await a.fe.write(8, pattern(8, 8, 1))).status).toBe(0);
    const oldRefs = [...a.fe.ringRefs];
    await a.fe.close();
    expect(a.fe.violations).toEqual([]);
    expect(host.xs.readString(`${a.device.backendPath}/state`)).toBe(String(XenbusState.Closed));
    for (const r of oldRefs) expect(a.dom.entryFlags(r)).toBe(0);
    // A kexec'd or rebooted guest: xenbus_reset_frontend writes Initialising and waits for the
    // backend's InitWait before probing the device again.
    a.xb.write(`${a.device.frontendPath}/state`, String(XenbusState.Initialising));
    await until(() => host.xs.readString(`${a.device.backendPath}/state`) === String(XenbusState.InitWait), 'backend InitWait');
    // Same kernel, same module parameters: a two-page ring again (the old ring-page-order node
    // stays in the store, as Linux leaves it).
    const fe2 = new Blkfront(a.dom, a.xb, a.device.devid, { maxRingPageOrder: 1 });
    fe2.probe();
    await fe2.connected();
    const r = await fe2.read(8, 8);
    expect(r.rsp.status).toBe(0);
    expect(Buffer.from(r.data).equals(Buffer.from(pattern(8, 8, 1)))).toBe(true);
    expect(fe2.violations).toEqual([]);
  });

  it('takes the device down on xend\'s destroyDevice and cleans the store up', async () => {
    const a = await attach(host, 5, `file:${img},xvda,w`);
    destroyVbdDevice(host.xs, a.device, false);
    await a.backend.whenRemoved;
    expect(a.fe.state).toBe(XenbusState.Closed);
    expect(a.fe.violations).toEqual([]);
    for (const p of [a.device.backendPath, a.device.frontendPath, a.device.vmDevicePath!]) {
      expect(host.xs.exists(p), p).toBe(false);
    }
    expect(a.backend.diskImage).toBeNull();
    a.fe.free();
    expect(a.fe.violations).toEqual([]);
  });

  it('removes the device when the guest domain is released from xenstore', async () => {
    const a = await attach(host, 5, `file:${img},xvda,w`);
    expect((await a.fe.write(0, pattern(0, 8, 3))).status).toBe(0);
    host.xsd.releaseDomain(5);
    await a.backend.whenRemoved;
    expect(host.xs.exists(a.device.backendPath)).toBe(false);
    expect(a.backend.diskImage).toBeNull();
    // The ring and data grants are all back with the (dead) guest.
    for (const r of a.fe.ringRefs) expect(a.dom.entryFlags(r) & 0x18).toBe(0);
  });

  it('removes the device when xend forces the store entries away', async () => {
    const a = await attach(host, 5, `file:${img},xvda,w`);
    destroyVbdDevice(host.xs, a.device, true);
    await a.backend.whenRemoved;
    a.fe.free();
    expect(a.fe.violations).toEqual([]);
  });
});

describe('hotplug failures reach xend as its messages', () => {
  async function attachError(domid: number, line: string): Promise<string> {
    try {
      await attach(host, domid, line);
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error(`attaching ${line} unexpectedly worked`);
  }

  it('reports a missing image and leaves nothing behind', async () => {
    const msg = await attachError(5, `file:${t.dir}/nope.img,xvda,w`);
    expect(msg).toBe(`Device 51712 (vbd) could not be connected. ${t.dir}/nope.img does not exist.`);
    expect(host.xs.exists('/local/domain/0/backend/vbd/5/51712')).toBe(false);
    expect(host.xs.exists('/local/domain/5/device/vbd/51712')).toBe(false);
  });

  it('refuses phy: on something that is not a block device', async () => {
    expect(await attachError(5, 'phy:/dev/null,xvda,w')).toBe('Device 51712 (vbd) could not be connected. /dev/null is not a block device.');
  });

  it('refuses read-write use of a read-only file', async () => {
    chmodSync(img, 0o444);
    expect(await attachError(5, `file:${img},xvda,w`)).toBe(
      `Device 51712 (vbd) could not be connected.\nFile ${img} is read-only, and so I will not\nmount it read-write in a guest domain.`,
    );
  });

  it('refuses sharing a disk written by another domain, unless w! asks for it', async () => {
    await attach(host, 5, `file:${img},xvda,w`);
    expect(await attachError(6, `file:${img},xvda,r`)).toBe(
      `Device 51712 (vbd) could not be connected.\nFile ${img} is mounted read-write in a guest domain,\nand so cannot be mounted read-only now.`,
    );
    expect(await attachError(7, `file:${img},xvda,w`)).toBe(
      `Device 51712 (vbd) could not be connected.\nFile ${img} is mounted in a guest domain,\nand so cannot be mounted now.`,
    );
    expect(await attachError(8, `tap:aio:${img},xvda,r`)).toBe(`Device 51712 (tap) could not be connected.\n${img} already in use by other domain`);
    const shared = await attach(host, 9, `file:${img},xvda,w!`);
    expect(shared.backend.connected).toBe(true);
  });

  it('lets several domains read one read-only disk', async () => {
    await attach(host, 5, `file:${img},xvda,r`);
    const b = await attach(host, 6, `file:${img},xvda,r`);
    expect((await b.fe.read(0, 8)).rsp.status).toBe(0);
  });
});

describe('frontends publishing bad ring details', () => {
  /** Drives the frontend's nodes by hand up to Initialised. */
  async function manual(domid: number, nodes: (fe: string, g: { dom: GuestDomain; xb: GuestXenbus }) => Record<string, string>): Promise<{ dev: VbdDevice; g: { dom: GuestDomain; xb: GuestXenbus }; be: BlkBackend }> {
    const g = host.addDomain(domid);
    const dev = createVbdDevice(host.xs, { domid, domainName: `g${domid}`, spec: parseDiskSpec(`file:${img},xvda,w!`, '/'), vmPath: g.vmPath });
    const be = host.track(new BlkBackend({ xs: host.xs, domain: g.dom, backendPath: dev.backendPath, logger: host.log }));
    be.start();
    await waitForVbdDevice(host.xs, dev, 2000);
    for (const [k, v] of Object.entries(nodes(dev.frontendPath, g))) g.xb.write(`${dev.frontendPath}/${k}`, v);
    g.xb.write(`${dev.frontendPath}/state`, String(XenbusState.Initialised));
    return { dev, g, be };
  }

  async function expectFatal(dev: VbdDevice, re: RegExp): Promise<void> {
    const node = `/local/domain/0/error${dev.backendPath.slice('/local/domain/0'.length)}/error`;
    await until(() => host.xs.exists(node), 'error node');
    const err = host.xs.readString(node);
    expect(err).toMatch(re);
    expect(host.xs.readString(`${dev.backendPath}/state`)).toBe(String(XenbusState.Closing));
  }

  const ring = (g: { dom: GuestDomain }): number => {
    const pfn = g.dom.allocPage();
    return g.dom.grantAccess(0, pfn, false);
  };

  it('refuses protocols other than x86_64-abi', async () => {
    const { dev } = await manual(5, (_, g) => ({ 'ring-ref': String(ring(g)), 'event-channel': String(g.dom.allocUnbound(0, () => {})), protocol: 'x86_32-abi' }));
    await expectFatal(dev, /^38 unknown fe protocol x86_32-abi/);
  });

  it('refuses more than one queue', async () => {
    const { dev } = await manual(5, (_, g) => ({ 'ring-ref': String(ring(g)), 'event-channel': String(g.dom.allocUnbound(0, () => {})), 'multi-queue-num-queues': '4' }));
    await expectFatal(dev, /guest requested 4 queues, exceeding the maximum of 1/);
  });

  it('refuses a ring-page-order above max-ring-page-order', async () => {
    const { dev } = await manual(5, (_, g) => ({ 'ring-page-order': '5', 'ring-ref0': String(ring(g)), 'event-channel': String(g.dom.allocUnbound(0, () => {})) }));
    await expectFatal(dev, /^22 requested ring page order 5 exceed max:4/);
  });

  it('refuses a garbage event-channel or a missing ring-ref', async () => {
    const a = await manual(5, (_, g) => ({ 'ring-ref': String(ring(g)), 'event-channel': 'seven' }));
    await expectFatal(a.dev, /^22 reading \/local\/domain\/5\/device\/vbd\/51712\/event-channel/);
    const b = await manual(6, (_, g) => ({ 'ring-page-order': '1', 'ring-ref0': String(ring(g)), 'event-channel': String(g.dom.allocUnbound(0, () => {})) }));
    await expectFatal(b.dev, /reading \/local\/domain\/6\/device\/vbd\/51712\/ring-ref1/);
  });

  it('refuses ring grants that are bad, read-only or for another domain, and ports not offered', async () => {
    const bad = await manual(5, (_, g) => ({ 'ring-ref': '999999', 'event-channel': String(g.dom.allocUnbound(0, () => {})) }));
    await expectFatal(bad.dev, /mapping ring-ref port 1: bad grant reference 999999/);
    const ro = await manual(6, (_, g) => ({ 'ring-ref': String(g.dom.grantAccess(0, g.dom.allocPage(), true)), 'event-channel': String(g.dom.allocUnbound(0, () => {})) }));
    await expectFatal(ro.dev, /is read-only/);
    const other = await manual(7, (_, g) => ({ 'ring-ref': String(g.dom.grantAccess(3, g.dom.allocPage(), false)), 'event-channel': String(g.dom.allocUnbound(0, () => {})) }));
    await expectFatal(other.dev, /does not permit access by domain 0/);
    const port = await manual(8, (_, g) => ({ 'ring-ref': String(ring(g)), 'event-channel': '77' }));
    await expectFatal(port.dev, /binding event channel: port 77 of dom8 is not an unbound port/);
    // Nothing stays mapped after a refused ring.
    for (const g of [bad.g, ro.g, other.g, port.g]) {
      for (let r = 8; r < 16; r++) expect(g.dom.entryFlags(r) & 0x18).toBe(0);
    }
  });

  it('refuses a ring whose req_prod is already beyond a ring ahead', async () => {
    const { dev } = await manual(5, (_, g) => {
      const pfn = g.dom.allocPage();
      new DataView(g.dom.mem.sab).setUint32(pfn * 4096, 1000, true);
      return { 'ring-ref': String(g.dom.grantAccess(0, pfn, false)), 'event-channel': String(g.dom.allocUnbound(0, () => {})) };
    });
    await expectFatal(dev, /^5 mapping ring-ref port 1: shared ring has req_prod 1000/);
  });

  it('recovers when the frontend closes and tries again with good details', async () => {
    const { dev, g } = await manual(5, () => ({ 'ring-ref': '999999', 'event-channel': '1' }));
    await expectFatal(dev, /bad grant reference/);
    g.xb.write(`${dev.frontendPath}/state`, String(XenbusState.Closed));
    await until(() => host.xs.readString(`${dev.backendPath}/state`) === String(XenbusState.Closed), 'backend Closed');
    g.xb.write(`${dev.frontendPath}/state`, String(XenbusState.Initialising));
    await until(() => host.xs.readString(`${dev.backendPath}/state`) === String(XenbusState.InitWait), 'backend InitWait');
    const fe = new Blkfront(g.dom, g.xb, dev.devid);
    fe.probe();
    await fe.connected();
    expect((await fe.read(0, 8)).rsp.status).toBe(0);
  });

  it('reports a frontend state outside the protocol', async () => {
    const g = host.addDomain(5);
    const dev = createVbdDevice(host.xs, { domid: 5, domainName: 'g5', spec: parseDiskSpec(`file:${img},xvda,w`, '/') });
    host.track(new BlkBackend({ xs: host.xs, domain: g.dom, backendPath: dev.backendPath, logger: host.log })).start();
    g.xb.write(`${dev.frontendPath}/state`, '42');
    await expectFatal(dev, /^22 saw state 42 at frontend/);
  });
});
