// The bridge and dom0's interface on their own: forwarding rules, MTU, invalid and link-local
// frames, ports leaving, frames sent from inside a transmit, pcap records, and what dom0's
// tiny IPv4 host answers or ignores.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Bridge, Bridges, createHostNetwork, Dom0Interface, type BridgePort, type BridgePortDevice } from '../../../src/devices/net/index.js';
import { arpRequest, csum, ethFrame, icmpEcho } from './frames.js';

class Nic implements BridgePortDevice {
  readonly got: Uint8Array[] = [];
  port: BridgePort | null = null;
  onFrame: ((f: Uint8Array) => void) | null = null;
  constructor(readonly name: string, readonly mtu = 1500) {}
  transmit(frame: Uint8Array): void {
    this.got.push(frame);
    this.onFrame?.(frame);
  }
  attached(p: BridgePort | null): void {
    this.port = p;
  }
  send(f: Uint8Array): void {
    this.port!.input(f);
  }
}

const M1 = '00:16:3e:00:00:01';
const M2 = '00:16:3e:00:00:02';
const M3 = '00:16:3e:00:00:03';
const pl = (n: number): number[] => Array.from({ length: n }, (_, i) => i & 0xff);

let dir: string | null = null;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = null;
});

describe('bridge', () => {
  it('drops runts, invalid sources and link-local frames; filters frames for the ingress port', () => {
    const br = new Bridge('xenbr0');
    const [a, b, c] = [new Nic('a'), new Nic('b'), new Nic('c')];
    for (const n of [a, b, c]) br.attach(n);
    a.send(new Uint8Array(10));
    a.send(ethFrame(M2, '01:00:5e:00:00:01', 0x88b5, pl(46)));
    a.send(ethFrame(M2, '00:00:00:00:00:00', 0x88b5, pl(46)));
    expect(br.port('a')!.stats.rxDropped).toBe(3);
    a.send(ethFrame('01:80:c2:00:00:00', M1, 0x88b5, pl(46)));
    expect(br.linkLocalDropped).toBe(1);
    expect(b.got.length + c.got.length).toBe(0);
    // M1 is learned on a even from the link-local frame; a frame for M1 arriving on a is filtered.
    b.send(ethFrame(M1, M2, 0x88b5, pl(46)));
    expect(a.got.length).toBe(1);
    c.send(ethFrame(M1, M3, 0x88b5, pl(46)));
    a.send(ethFrame(M1, M3, 0x88b5, pl(46))); // M3 moves to a; its destination M1 is on a too
    expect(a.got.length).toBe(2);
    expect(b.got.length + c.got.length).toBe(0);
    expect(br.fdb().find((e) => e.mac === M3)!.port).toBe('a');
  });

  it("drops frames bigger than the egress port's MTU, allowing a VLAN tag", () => {
    const br = new Bridge('br1');
    const a = new Nic('a', 9000);
    const small = new Nic('small', 1500);
    br.attach(a);
    br.attach(small);
    a.send(ethFrame('ff:ff:ff:ff:ff:ff', M1, 0x88b5, pl(1501)));
    a.send(ethFrame('ff:ff:ff:ff:ff:ff', M1, 0x8100, pl(1504)));
    a.send(ethFrame('ff:ff:ff:ff:ff:ff', M1, 0x88b5, pl(1500)));
    expect(small.got.map((f) => f.length)).toEqual([1518, 1514]);
    expect(br.port('small')!.stats.txDropped).toBe(1);
  });

  it('forgets a port and its addresses when it leaves; refuses duplicate names and bad MTUs', () => {
    const br = new Bridge('xenbr0');
    const a = new Nic('a');
    const b = new Nic('b');
    br.attach(a);
    br.attach(b);
    expect(() => br.attach(new Nic('a'))).toThrow(/already a member/);
    expect(() => br.attach(new Nic('bad/name'))).toThrow(/invalid interface name/);
    expect(() => br.attach(new Nic('tiny', 10))).toThrow(/invalid MTU/);
    a.send(ethFrame(M2, M1, 0x88b5, pl(46)));
    expect(br.fdb().length).toBe(1);
    a.port!.detach();
    expect(a.port).toBeNull();
    expect(br.fdb()).toEqual([]);
    b.send(ethFrame(M1, M2, 0x88b5, pl(46)));
    expect(a.got.length).toBe(0);
    const reg = new Bridges();
    reg.create('xenbr1');
    reg.create('xenbr0');
    expect(reg.list().map((x) => x.name)).toEqual(['xenbr0', 'xenbr1']);
    expect(() => reg.create('xenbr0')).toThrow(/already exists/);
    reg.get('xenbr0')!.attach(new Nic('x'));
    expect(() => reg.remove('xenbr0')).toThrow(/still has ports: x/);
    reg.remove('xenbr1');
    expect(reg.get('xenbr1')).toBeUndefined();
  });

  it('queues frames sent from inside a transmit behind the current one, keeping order', () => {
    const br = new Bridge('xenbr0');
    const a = new Nic('a');
    const echo = new Nic('echo');
    const order: string[] = [];
    br.attach(a);
    br.attach(echo);
    const c = new Nic('c');
    br.attach(c);
    echo.onFrame = (f) => {
      order.push('echo got');
      if (f[14] === 1) echo.send(ethFrame(M1, M2, 0x88b5, [2, ...pl(45)]));
      order.push('echo sent');
    };
    c.onFrame = (f) => order.push(`c got ${f[14]}`);
    a.send(ethFrame('ff:ff:ff:ff:ff:ff', M1, 0x88b5, [1, ...pl(45)]));
    expect(order).toEqual(['echo got', 'echo sent', 'c got 1']);
    expect(a.got.map((f) => f[14])).toEqual([2]);
  });

  it('a device that throws loses the frame, not the bridge', () => {
    const br = new Bridge('xenbr0');
    const a = new Nic('a');
    const boom = new Nic('boom');
    const b = new Nic('b');
    boom.onFrame = () => {
      throw new Error('device failure');
    };
    for (const n of [a, boom, b]) br.attach(n);
    a.send(ethFrame('ff:ff:ff:ff:ff:ff', M1, 0x88b5, pl(46)));
    expect(b.got.length).toBe(1);
    expect(br.port('boom')!.stats.txDropped).toBe(1);
  });

  it('writes classic little-endian pcap records with microsecond timestamps', () => {
    let t = 1_700_000_000_123.456;
    const br = new Bridge('xenbr0', { now: () => t });
    const a = new Nic('a');
    br.attach(a);
    br.attach(new Nic('b'));
    dir = mkdtempSync(join(tmpdir(), 'tsxen-pcap-'));
    const file = join(dir, 'cap.pcap');
    br.startCapture(file, 100);
    expect(() => br.startCapture(file)).toThrow(/already capturing/);
    a.send(ethFrame('ff:ff:ff:ff:ff:ff', M1, 0x88b5, pl(200)));
    t += 1.5;
    a.send(ethFrame('ff:ff:ff:ff:ff:ff', M1, 0x88b5, pl(46)));
    expect(br.stopCapture()).toBe(2);
    const b = readFileSync(file);
    expect(b.readUInt32LE(0)).toBe(0xa1b2c3d4);
    expect([b.readUInt16LE(4), b.readUInt16LE(6), b.readUInt32LE(16), b.readUInt32LE(20)]).toEqual([2, 4, 100, 1]);
    expect([b.readUInt32LE(24), b.readUInt32LE(28), b.readUInt32LE(32), b.readUInt32LE(36)]).toEqual([1_700_000_000, 123456, 100, 214]);
    const r2 = 24 + 16 + 100;
    expect([b.readUInt32LE(r2), b.readUInt32LE(r2 + 4), b.readUInt32LE(r2 + 8), b.readUInt32LE(r2 + 12)]).toEqual([1_700_000_000, 124956, 60, 60]);
    expect(b.length).toBe(r2 + 16 + 60);
    const out = execFileSync('tcpdump', ['-n', '-e', '-tttt', '-r', file], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TZ: 'UTC' },
    });
    const heads = out.split('\n').filter((l) => /^\d{4}-/.test(l));
    expect(heads).toEqual([
      '2023-11-14 22:13:20.123456 00:16:3e:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype Unknown (0x88b5), length 214: ',
      '2023-11-14 22:13:20.124956 00:16:3e:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype Unknown (0x88b5), length 60: ',
    ]);
  });
});

describe("dom0's interface", () => {
  function net() {
    const { bridges, dom0 } = createHostNetwork();
    const g = new Nic('vif1.0');
    bridges.get('xenbr0')!.attach(g);
    return { dom0, g };
  }

  it('defaults to 172.16.31.1/16 on xenbr0 with a locally administered MAC', () => {
    const { dom0 } = net();
    expect([dom0.name, dom0.addressString, dom0.prefixLength, dom0.macString]).toEqual(['xenbr0', '172.16.31.1', 16, '02:00:ac:10:1f:01']);
    expect(() => new Dom0Interface({ name: 'x', mac: '03:00:00:00:00:01' })).toThrow(/multicast/);
    expect(() => new Dom0Interface({ name: 'x', address: '300.1.1.1' })).toThrow(/invalid IPv4/);
  });

  it('answers ARP for its address only and learns the asker', () => {
    const { dom0, g } = net();
    g.send(arpRequest(M1, '172.16.31.10', '172.16.31.2'));
    expect(g.got.length).toBe(0);
    g.send(arpRequest(M1, '172.16.31.10', '172.16.31.1'));
    expect(g.got.length).toBe(1);
    expect(dom0.neighbours.get('172.16.31.10')).toBe(M1);
    expect(dom0.stats).toMatchObject({ arpRequests: 1, arpReplies: 1 });
  });

  it('answers echo requests with a recomputed reply; ignores broadcast pings, bad checksums and fragments', () => {
    const { dom0, g } = net();
    const DOM0 = '02:00:ac:10:1f:01';
    const req = icmpEcho(M1, DOM0, '172.16.31.10', '172.16.31.1', 1, 1, 56);
    g.send(req);
    expect(g.got.length).toBe(1);
    const r = g.got[0]!;
    expect(csum(r.subarray(14, 34))).toBe(0);
    expect(csum(r.subarray(34))).toBe(0);
    expect(r[22]).toBe(64);

    const bcast = icmpEcho(M1, 'ff:ff:ff:ff:ff:ff', '172.16.31.10', '172.16.255.255', 1, 2, 56);
    g.send(bcast);
    const badIp = icmpEcho(M1, DOM0, '172.16.31.10', '172.16.31.1', 1, 3, 56);
    badIp[24] ^= 0xff;
    g.send(badIp);
    const badIcmp = icmpEcho(M1, DOM0, '172.16.31.10', '172.16.31.1', 1, 4, 56);
    badIcmp[40] ^= 0x01;
    g.send(badIcmp);
    const frag = icmpEcho(M1, DOM0, '172.16.31.10', '172.16.31.1', 1, 5, 56);
    frag[20] = 0x20; // MF
    frag[24] = 0;
    frag[25] = 0;
    const c = csum(frag.subarray(14, 34));
    frag[24] = c >> 8;
    frag[25] = c & 0xff;
    g.send(frag);
    const truncated = icmpEcho(M1, DOM0, '172.16.31.10', '172.16.31.1', 1, 6, 56).subarray(0, 60);
    g.send(truncated);
    expect(g.got.length).toBe(1);
    expect(dom0.stats.malformed).toBe(4);
    expect(dom0.stats.echoReplies).toBe(1);
  });
});
