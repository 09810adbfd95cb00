// netback against a frontend that behaves as Linux 6.1's netfront: the xenbus handshake, ARP
// and ICMP echo with dom0's interface on xenbr0 (single- and multi-slot transmits, split and
// shared event channels), and clean teardown with every grant given back.

import { afterEach, describe, expect, it } from 'vitest';
import { NETBACK_FEATURES, XenbusState } from '../../../src/devices/net/index.js';
import { arpRequest, csum, icmpEcho, ipAt, macAt } from './frames.js';
import { settle, until } from './guest.js';
import { Host } from './host.js';

const DOM0_IP = '172.16.31.1';
const DOM0_MAC = '02:00:ac:10:1f:01';

let host: Host | null = null;
afterEach(() => {
  host?.driver.stop();
  host = null;
});

describe('netback handshake', () => {
  it('goes InitWait at probe, Connected after the frontend, with Linux netback feature nodes and the vif on xenbr0', async () => {
    host = new Host();
    const { nf, dev } = host.netfront(3);
    const be = dev.backendPath;
    expect(be).toBe('/local/domain/0/backend/vif/3/0');
    await nf.connected();

    expect(host.read(`${be}/state`)).toBe(String(XenbusState.Connected));
    expect(host.read(`${dev.frontendPath}/state`)).toBe(String(XenbusState.Connected));
    for (const [k, v] of NETBACK_FEATURES) expect(host.read(`${be}/${k}`), k).toBe(v);
    expect(host.read(`${be}/feature-split-event-channels`)).toBe('1');
    expect(host.read(`${be}/multi-queue-max-queues`)).toBeNull();
    expect(host.read(`${be}/hotplug-status`)).toBe('connected');
    // The backend went through InitWait before Connected, as netfront requires.
    expect(nf.backendStates.filter((s, i, a) => a.indexOf(s) === i)).toEqual([XenbusState.InitWait, XenbusState.Connected]);

    // What netfront wrote was taken: split channels bound, both rings mapped.
    expect(host.read(`${dev.frontendPath}/event-channel-tx`)).toBe(String(nf.txEvtchn));
    expect(nf.dom.portState(nf.txEvtchn)).toBe('bound');
    expect(nf.dom.portState(nf.rxEvtchn)).toBe('bound');
    expect(nf.dom.endForeignAccess(nf.txRingRef)).toBe(false);

    const port = host.xenbr0.port('vif3.0');
    expect(port).toBeDefined();
    const vb = host.driver.device(3, 0)!;
    expect(vb.vif!.connected).toBe(true);
    expect(vb.bridge!.name).toBe('xenbr0');
  });

  it('answers an ARP request and a ping from the guest (shared event channel, one slot each)', async () => {
    host = new Host();
    const { nf } = host.netfront(1, { mac: '00:16:3e:00:00:01' }, { split: false });
    await nf.connected();
    expect(host.read('/local/domain/1/device/vif/0/event-channel')).toBe(String(nf.txEvtchn));

    nf.send(arpRequest(nf.mac, '172.16.31.10', DOM0_IP));
    await until(() => nf.received.length >= 1, 'ARP reply');
    const arp = nf.received[0]!;
    expect(arp.length).toBe(42);
    expect(macAt(arp, 0)).toBe('00:16:3e:00:00:01');
    expect(macAt(arp, 6)).toBe(DOM0_MAC);
    expect(Array.from(arp.subarray(12, 22))).toEqual([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]);
    expect(macAt(arp, 22)).toBe(DOM0_MAC);
    expect(ipAt(arp, 28)).toBe(DOM0_IP);
    expect(macAt(arp, 32)).toBe('00:16:3e:00:00:01');
    expect(ipAt(arp, 38)).toBe('172.16.31.10');

    const req = icmpEcho(nf.mac, DOM0_MAC, '172.16.31.10', DOM0_IP, 0x4242, 1, 56);
    nf.send(req);
    await until(() => nf.received.length >= 2, 'echo reply');
    const rep = nf.received[1]!;
    expect(rep.length).toBe(req.length);
    expect(macAt(rep, 0)).toBe(nf.mac);
    expect(rep[14]).toBe(0x45);
    expect(rep[22]).toBe(64); // TTL
    expect(rep[23]).toBe(1);
    expect(ipAt(rep, 26)).toBe(DOM0_IP);
    expect(ipAt(rep, 30)).toBe('172.16.31.10');
    expect(csum(rep.subarray(14, 34))).toBe(0);
    expect(rep[34]).toBe(0); // echo reply
    expect(csum(rep.subarray(34))).toBe(0);
    expect(Array.from(rep.subarray(38))).toEqual(Array.from(req.subarray(38)));

    await nf.drainTx();
    expect(nf.txResults.every((r) => r.status === 0)).toBe(true);
    expect(nf.rxErrors).toEqual([]);
    expect(nf.broken).toBeNull();
    const stats = host.driver.device(1, 0)!.vif!.stats;
    expect(stats.rxPackets).toBe(2);
    expect(stats.txPackets).toBe(2);
  });

  it('takes multi-slot (scatter-gather) transmits and returns big frames in several rx slots', async () => {
    host = new Host();
    const { nf } = host.netfront(2);
    await nf.connected();
    nf.send(arpRequest(nf.mac, '172.16.31.20', DOM0_IP));
    await until(() => nf.received.length >= 1, 'ARP reply');

    // 1400 bytes of ICMP in three slots on three pages, the first starting near its page end.
    const req = icmpEcho(nf.mac, DOM0_MAC, '172.16.31.20', DOM0_IP, 7, 9, 1400 - 42);
    const ids = nf.send(req, { chunks: [100, 700, req.length - 800], firstOffset: 4096 - 100 });
    expect(ids.length).toBe(3);
    await until(() => nf.received.length >= 2, 'echo reply to a 3-slot request');
    const rep = nf.received[1]!;
    expect(rep.length).toBe(req.length);
    expect(csum(rep.subarray(34))).toBe(0);
    expect(Array.from(rep.subarray(42))).toEqual(Array.from(req.subarray(42)));
    await nf.drainTx();
    expect(nf.txResults.slice(-3).map((r) => r.status)).toEqual([0, 0, 0]);

    // A frame bigger than a page comes back to the guest in several rx slots (more_data).
    const big = icmpEcho(nf.mac, DOM0_MAC, '172.16.31.20', DOM0_IP, 8, 1, 1500 - 42);
    nf.send(big, { chunks: [64, 1500 - 64], firstOffset: 0 });
    await until(() => nf.received.length >= 3, 'echo reply to a full-size request');
    expect(nf.received[2]!.length).toBe(1500);
    expect(nf.rxErrors).toEqual([]);
  });

  it('follows a frontend that closes and later reconnects with new rings (netfront resume)', async () => {
    host = new Host();
    const { nf, dev } = host.netfront(5);
    await nf.connected();
    const oldTx = nf.txRingRef;
    await nf.close();
    const vb = host.driver.device(5, 0)!;
    expect(vb.vif!.connected).toBe(false);
    expect(host.read(`${dev.backendPath}/state`)).toBe(String(XenbusState.Closed));
    // online=1: the device stays, ready for the frontend to come back.
    expect(host.xenbr0.port('vif5.0')).toBeDefined();
    expect(await nf.reconnect()).toBe(true);
    expect(nf.txRingRef).not.toBe(oldTx);
    expect(vb.vif!.connected).toBe(true);
    nf.send(arpRequest(nf.mac, '172.16.31.50', DOM0_IP));
    await until(() => nf.received.length === 1, 'ARP reply after reconnecting');
    expect(nf.rxErrors).toEqual([]);
  });

  it('tears down when xend detaches the vif: frontend Closed, device removed, grants back', async () => {
    host = new Host();
    const { nf, dev, g } = host.netfront(4);
    await nf.connected();
    const { destroyVifDevice } = await import('../../../src/devices/net/index.js');
    destroyVifDevice(host.xs, 4, dev.devid, { vmPath: g.vmPath });
    await until(() => host!.driver.device(4, 0) === undefined, 'device removal');
    expect(nf.state).toBe(XenbusState.Closed);
    expect(host.read(`${dev.backendPath}/hotplug-status`)).toBeNull();
    expect(host.xenbr0.port('vif4.0')).toBeUndefined();
    expect(nf.dom.portState(nf.txEvtchn)).toBe('unbound');
    expect(nf.releaseRings()).toBe(true);
    // xend then removes the directories; nothing is re-probed.
    destroyVifDevice(host.xs, 4, dev.devid, { vmPath: g.vmPath, force: true });
    await settle();
    await settle();
    expect(host.driver.list()).toEqual([]);
  });
});
