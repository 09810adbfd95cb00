// A frontend that lies. Each case either gets error responses (the vif stays up) or gets its
// vif disabled and the device closed with the reason in the xenbus error node; in every case
// another guest on the same bridge keeps pinging dom0, and the host process is untouched.

import { afterEach, describe, expect, it } from 'vitest';
import { NETIF_EXTRA_TYPE, NETTXF, OFF } from '../../../src/devices/net/netif.js';
import { XenbusState } from '../../../src/devices/net/index.js';
import { GTF } from '../../../src/hypervisor/abi/xen.js';
import { arpRequest, icmpEcho } from './frames.js';
import { until } from './guest.js';
import { Host } from './host.js';
import type { NetfrontPlayer } from './netfront.js';

const DOM0_IP = '172.16.31.1';
const DOM0_MAC = '02:00:ac:10:1f:01';

let host: Host | null = null;
afterEach(() => {
  host?.driver.stop();
  host = null;
});

/** Hostile guest dom 20 and a well-behaved bystander dom 21, both connected. */
async function setup(): Promise<{ h: Host; bad: NetfrontPlayer; good: NetfrontPlayer }> {
  host = new Host();
  const bad = host.netfront(20, { mac: '00:16:3e:00:00:20' }).nf;
  const good = host.netfront(21, { mac: '00:16:3e:00:00:21' }).nf;
  await bad.connected();
  await good.connected();
  return { h: host, bad, good };
}

let seq = 0;
async function pingDom0(nf: NetfrontPlayer, from: string): Promise<void> {
  const before = nf.received.length;
  const s = ++seq;
  nf.send(icmpEcho(nf.mac, DOM0_MAC, from, DOM0_IP, 77, s, 56));
  await until(() => nf.received.length > before, `echo reply ${s} to ${from}`);
  const r = nf.received[nf.received.length - 1]!;
  expect(r[34]).toBe(0);
  expect((r[40]! << 8) | r[41]!).toBe(s);
}

/** The vif was disabled: backend Closing (then Closed after the frontend closes), reason recorded. */
async function expectDisabled(h: Host, nf: NetfrontPlayer, domid: number, reason: RegExp): Promise<void> {
  const be = `/local/domain/0/backend/vif/${domid}/0`;
  await until(() => nf.state === XenbusState.Closed, 'the frontend to close');
  await until(() => h.read(`${be}/state`) === String(XenbusState.Closed), 'the backend to reach Closed');
  expect(h.read(`/local/domain/0/error/backend/vif/${domid}/0/error`)).toMatch(reason);
  expect(nf.backendStates).toContain(XenbusState.Closing);
  const vb = h.driver.device(domid, 0)!;
  expect(vb.vif!.connected).toBe(false);
  expect(vb.vif!.disabled).toMatch(reason);
  // Nothing is left mapped or bound: the guest can take its ring pages back.
  expect(nf.dom.portState(nf.txEvtchn)).toBe('unbound');
  expect(nf.releaseRings()).toBe(true);
  expect(h.log.has(/error: .*fatal error; disabling device/)).toBe(true);
}

describe('hostile frontends', () => {
  it('garbage tx ring index: the vif is disabled, the bridge and the other guest carry on', async () => {
    const { h, bad, good } = await setup();
    await pingDom0(good, '172.16.31.21');
    bad.tx.set(OFF.reqProd, (bad.tx.rspCons + 1000) >>> 0);
    bad.dom.notify(bad.txEvtchn);
    await expectDisabled(h, bad, 20, /Impossible number of requests/);
    await pingDom0(good, '172.16.31.21');
    expect(h.xenbr0.port('vif21.0')!.attached).toBe(true);
  });

  it('garbage rx ring index: disabled when a frame is to be delivered', async () => {
    const { h, bad, good } = await setup();
    bad.rx.set(OFF.reqProd, (bad.rx.rspCons + 4000) >>> 0);
    // A broadcast from the other guest reaches the hostile one's rx path.
    good.send(arpRequest(good.mac, '172.16.31.21', '172.16.31.99'));
    await expectDisabled(h, bad, 20, /rx ring: impossible number of requests/);
    await pingDom0(good, '172.16.31.21');
  });

  it('bad grant references in tx requests get error responses; the vif stays up', async () => {
    const { h, bad } = await setup();
    const frame = icmpEcho(bad.mac, DOM0_MAC, '172.16.31.20', DOM0_IP, 1, 1, 56);
    // Beyond the grant table.
    bad.writeRawTx({ gref: 60000, offset: 0, flags: 0, size: frame.length });
    // Inside the table but never granted.
    bad.writeRawTx({ gref: 1500, offset: 0, flags: 0, size: frame.length });
    // Granted, but to another domain.
    const pg = bad.grantPage(frame);
    bad.dom.writeGrant(pg.gref, 7, pg.pfn, GTF.permit_access | GTF.readonly);
    bad.writeRawTx({ gref: pg.gref, offset: 0, flags: 0, size: frame.length });
    // A two-slot packet whose second slot's grant is bad: the whole packet fails.
    const ok = bad.grantPage(frame.subarray(0, 40));
    bad.writeRawTx({ gref: ok.gref, offset: 0, flags: NETTXF.more_data, size: frame.length }, true, ok.pfn);
    bad.writeRawTx({ gref: 59999, offset: 0, flags: 0, size: frame.length - 40 });
    bad.pushTx();
    await bad.drainTx();
    expect(bad.txResults.map((r) => r.status)).toEqual([-1, -1, -1, -1, -1]);
    expect(h.driver.device(20, 0)!.vif!.connected).toBe(true);
    expect(h.read('/local/domain/0/backend/vif/20/0/state')).toBe(String(XenbusState.Connected));
    expect(h.driver.device(20, 0)!.vif!.stats.rxErrors).toBe(4);
    await pingDom0(bad, '172.16.31.20');
  });

  it('an rx request with a bad grant gets a negative status in its slot; the next frame arrives', async () => {
    const { h, bad } = await setup();
    // The next request netback will consume sits at the frontend's rsp_cons.
    const o = bad.rx.slot(bad.rx.rspCons);
    bad.rx.dv.setUint32(o + OFF.rxReq.gref, 65000, true);
    bad.send(arpRequest(bad.mac, '172.16.31.20', DOM0_IP));
    await until(() => bad.rxErrors.length === 1, 'the failed rx slot');
    expect(bad.rxErrors[0]).toBe('rx->offset: 0, size: -3'); // GNTST_bad_gntref
    expect(bad.received.length).toBe(0);
    bad.send(arpRequest(bad.mac, '172.16.31.20', DOM0_IP));
    await until(() => bad.received.length === 1, 'the second ARP reply');
    expect(h.driver.device(20, 0)!.vif!.stats.txErrors).toBe(1);
    expect(bad.broken).toBeNull();
  });

  it('oversized packets: a wrapped 16-bit size and too many slots are dropped; 19 slots are fine', async () => {
    const { h, bad } = await setup();
    const page = bad.grantPage(new Uint8Array(4096).fill(0xee));
    const hdr = icmpEcho(bad.mac, DOM0_MAC, '172.16.31.20', DOM0_IP, 1, 1, 0).subarray(0, 14);
    bad.dom.page(page.pfn).set(hdr, 0);

    // A 70000-byte packet: its size field wrapped to 4464, the slots add up to more.
    bad.writeRawTx({ gref: page.gref, offset: 0, flags: NETTXF.more_data, size: 70000 & 0xffff });
    for (let i = 0; i < 16; i++) bad.writeRawTx({ gref: page.gref, offset: 0, flags: NETTXF.more_data, size: 4096 });
    bad.writeRawTx({ gref: page.gref, offset: 0, flags: 0, size: 70000 - 17 * 4096 });
    bad.pushTx();
    await until(() => bad.txResults.length === 18, 'responses to the wrapped packet');
    expect(bad.txResults.every((r) => r.status === -1)).toBe(true);
    expect(h.log.has(/Invalid tx request, slot size 4096 > remaining size 368/)).toBe(true);

    // 20 slots (19 after the first): dropped, not fatal.
    const chain = (frags: number): void => {
      bad.writeRawTx({ gref: page.gref, offset: 0, flags: NETTXF.more_data, size: 14 + frags * 10 });
      for (let i = 0; i < frags; i++) {
        bad.writeRawTx({ gref: page.gref, offset: 100 + i * 10, flags: i < frags - 1 ? NETTXF.more_data : 0, size: 10 });
      }
      bad.pushTx();
    };
    chain(19);
    await until(() => bad.txResults.length === 38, 'responses to the 20-slot packet');
    expect(bad.txResults.slice(18).every((r) => r.status === -1)).toBe(true);
    expect(h.log.has(/Too many slots \(18\) exceeding limit \(18\)/)).toBe(true);

    // 19 slots is what a backend must accept (XEN_NETIF_NR_SLOTS_MIN + the first).
    chain(18);
    await until(() => bad.txResults.length === 57, 'responses to the 19-slot packet');
    expect(bad.txResults.slice(38).every((r) => r.status === 0)).toBe(true);
    expect(h.driver.device(20, 0)!.vif!.connected).toBe(true);

    // 22 slots: a malicious frontend; disabled.
    chain(21);
    await expectDisabled(h, bad, 20, /Malicious frontend using 20 slots, threshold 20/);
  });

  it('a tx request reaching past its page end disables the vif', async () => {
    const { h, bad, good } = await setup();
    const page = bad.grantPage(new Uint8Array(196).fill(1), 3900);
    bad.writeRawTx({ gref: page.gref, offset: 4000, flags: 0, size: 200 }, true, page.pfn);
    bad.pushTx();
    await expectDisabled(h, bad, 20, /Cross page boundary, txreq\.offset: 4000, size: 200/);
    await pingDom0(good, '172.16.31.21');
  });

  it('a following slot past its page end disables the vif too', async () => {
    const { h, bad } = await setup();
    const page = bad.grantPage(new Uint8Array(64));
    bad.writeRawTx({ gref: page.gref, offset: 0, flags: NETTXF.more_data, size: 64 + 100 });
    bad.writeRawTx({ gref: page.gref, offset: 4090, flags: 0, size: 100 });
    bad.pushTx();
    await expectDisabled(h, bad, 20, /Cross page boundary, txp->offset: 4090, size: 100/);
  });

  it('a first slot shorter than an Ethernet header gets an error response', async () => {
    const { h, bad } = await setup();
    const page = bad.grantPage(new Uint8Array(64));
    bad.writeRawTx({ gref: page.gref, offset: 0, flags: NETTXF.more_data, size: 60 });
    bad.writeRawTx({ gref: page.gref, offset: 0, flags: 0, size: 50 });
    bad.pushTx();
    await bad.drainTx();
    expect(bad.txResults.map((r) => r.status)).toEqual([-1, -1]);
    expect(h.driver.device(20, 0)!.vif!.connected).toBe(true);
  });

  it('extra-info slots: GSO and multicast control are refused, an invalid type is fatal', async () => {
    const { h, bad } = await setup();
    const frame = icmpEcho(bad.mac, DOM0_MAC, '172.16.31.20', DOM0_IP, 1, 1, 56);
    const page = bad.grantPage(frame);
    bad.writeRawTx({ gref: page.gref, offset: 0, flags: NETTXF.extra_info, size: frame.length });
    bad.writeTxExtra(NETIF_EXTRA_TYPE.gso, 0);
    bad.pushTx();
    await until(() => bad.txResults.length === 1, 'the GSO refusal');
    bad.writeRawTx({ gref: page.gref, offset: 0, flags: NETTXF.extra_info, size: 0 });
    bad.writeTxExtra(NETIF_EXTRA_TYPE.mcast_add, 0);
    bad.pushTx();
    await until(() => bad.txResults.length === 2, 'the multicast refusal');
    expect(bad.txResults.map((r) => r.status)).toEqual([-1, -1]);
    expect(h.driver.device(20, 0)!.vif!.connected).toBe(true);
    await pingDom0(bad, '172.16.31.20');

    bad.writeRawTx({ gref: page.gref, offset: 0, flags: NETTXF.extra_info, size: frame.length });
    bad.writeTxExtra(9, 0);
    bad.pushTx();
    await expectDisabled(h, bad, 20, /Invalid extra type: 9/);
  });

  it('bad ring references and event channels from the frontend fail the connection, not the host', async () => {
    host = new Host();
    const h = host;
    const g = h.guest(30);
    const dev = h.addVif(g);
    // A frontend that writes nonsense and says it is connected.
    await until(() => h.read(`${dev.backendPath}/state`) === String(XenbusState.InitWait), 'InitWait');
    const fe = dev.frontendPath;
    g.xb.writeOk(`${fe}/tx-ring-ref`, '12x');
    g.xb.writeOk(`${fe}/rx-ring-ref`, '9');
    g.xb.writeOk(`${fe}/event-channel`, '5');
    g.xb.writeOk(`${fe}/request-rx-copy`, '1');
    g.xb.writeOk(`${fe}/feature-rx-notify`, '1');
    g.xb.writeOk(`${fe}/state`, String(XenbusState.Connected));
    await until(() => h.read(`${dev.backendPath}/state`) === String(XenbusState.Closing), 'Closing');
    expect(h.read('/local/domain/0/error/backend/vif/30/0/error')).toBe(`2 reading ${fe}/ring-ref`);

    // Well-formed numbers that name nothing: an ungranted ring page.
    const dev2 = h.addVif(g);
    await until(() => h.read(`${dev2.backendPath}/state`) === String(XenbusState.InitWait), 'InitWait');
    const fe2 = dev2.frontendPath;
    for (const [k, v] of [['tx-ring-ref', '1000'], ['rx-ring-ref', '1001'], ['event-channel', '3'], ['request-rx-copy', '1'], ['feature-rx-notify', '1']]) {
      g.xb.writeOk(`${fe2}/${k!}`, v!);
    }
    g.xb.writeOk(`${fe2}/state`, String(XenbusState.Connected));
    await until(() => h.read(`${dev2.backendPath}/state`) === String(XenbusState.Closing), 'Closing');
    expect(h.read('/local/domain/0/error/backend/vif/30/1/error')).toMatch(/^22 mapping shared-frames 1000\/1001 port tx 3 rx 3: cannot map tx ring grant 1000: grant 1000 does not permit access by domain 0$/);

    // A frontend that does not do rx-copy is refused.
    const dev3 = h.addVif(g);
    await until(() => h.read(`${dev3.backendPath}/state`) === String(XenbusState.InitWait), 'InitWait');
    g.xb.writeOk(`${dev3.frontendPath}/state`, String(XenbusState.Connected));
    await until(() => h.read(`${dev3.backendPath}/state`) === String(XenbusState.Closing), 'Closing');
    expect(h.read('/local/domain/0/error/backend/vif/30/2/error')).toMatch(/^95 frontend does not request rx-copy/);

    // The guest cannot touch the backend's nodes.
    expect(g.xb.write(`${dev.backendPath}/state`, '4')).toBe('EACCES');
    expect(h.xenbr0.ports.map((p) => p.name).sort()).toEqual(['vif30.0', 'vif30.1', 'vif30.2', 'xenbr0']);
  });
});
