// Two guests on xenbr0: frames between them, the bridge learning (and forgetting) where each
// MAC lives, checksum completion for offloaded UDP, and a capture of it all read back by the
// real tcpdump.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { arpRequest, csum, ethFrame, icmpEcho, ip, macAt, udpPartialCsum } from './frames.js';
import { until } from './guest.js';
import { Host } from './host.js';

const DOM0_IP = '172.16.31.1';
const DOM0_MAC = '02:00:ac:10:1f:01';
const A_MAC = '00:16:3e:00:00:0a';
const B_MAC = '00:16:3e:00:00:0b';

let host: Host | null = null;
let dir: string | null = null;
afterEach(() => {
  host?.driver.stop();
  host = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = null;
});

async function twoGuests(now?: () => number) {
  host = new Host(now);
  const a = host.netfront(10, { mac: A_MAC });
  const b = host.netfront(11, { mac: B_MAC });
  await a.nf.connected();
  await b.nf.connected();
  return { h: host, a: a.nf, b: b.nf };
}

describe('two guests on one bridge', () => {
  it('floods to unknown destinations, learns source MACs, then forwards only where the MAC lives', async () => {
    const { h, a, b } = await twoGuests();
    const dom0 = h.net.dom0;
    const payload = Array.from({ length: 46 }, (_, i) => i);

    // B's MAC is unknown: flooded to B and to dom0's port.
    const ignored0 = dom0.stats.ignored;
    a.send(ethFrame(B_MAC, A_MAC, 0x88b5, payload));
    await until(() => b.received.length === 1, 'B to receive the flooded frame');
    await until(() => dom0.stats.ignored === ignored0 + 1, "dom0's port to see the flood");
    expect(Array.from(b.received[0]!)).toEqual(Array.from(ethFrame(B_MAC, A_MAC, 0x88b5, payload)));
    expect(h.xenbr0.fdb().map((e) => [e.mac, e.port])).toEqual([[A_MAC, 'vif10.0']]);

    // A is learned: B's answer goes to A only.
    b.send(ethFrame(A_MAC, B_MAC, 0x88b5, payload));
    await until(() => a.received.length === 1, 'A to receive the answer');
    expect(macAt(a.received[0]!, 6)).toBe(B_MAC);
    expect(h.xenbr0.fdb().map((e) => [e.mac, e.port])).toEqual([[A_MAC, 'vif10.0'], [B_MAC, 'vif11.0']]);

    // Now both are known: A to B is no longer flooded.
    a.send(ethFrame(B_MAC, A_MAC, 0x88b5, payload));
    await until(() => b.received.length === 2, 'B to receive the second frame');
    await a.drainTx();
    await b.drainTx();
    expect(dom0.stats.ignored).toBe(ignored0 + 1);
    expect(h.xenbr0.port('xenbr0')!.stats.txFrames).toBe(1);

    // Broadcast reaches everyone but the sender.
    a.send(ethFrame('ff:ff:ff:ff:ff:ff', A_MAC, 0x88b5, payload));
    await until(() => b.received.length === 3, 'B to receive the broadcast');
    await until(() => dom0.stats.ignored === ignored0 + 2, 'dom0 to receive the broadcast');
    expect(a.received.length).toBe(1);
  });

  it('forgets a MAC after the ageing time and floods again', async () => {
    let t = 1_000_000;
    const { h, a, b } = await twoGuests(() => t);
    const dom0 = h.net.dom0;
    const payload = Array.from({ length: 46 }, () => 0x55);
    b.send(ethFrame(A_MAC, B_MAC, 0x88b5, payload)); // B is learned on vif11.0
    await until(() => a.received.length === 1, 'A to receive');
    const ignored = dom0.stats.ignored;
    a.send(ethFrame(B_MAC, A_MAC, 0x88b5, payload));
    await until(() => b.received.length === 1, 'B to receive a forwarded frame');
    await a.drainTx();
    expect(dom0.stats.ignored).toBe(ignored);

    t += 300_001;
    expect(h.xenbr0.fdb().some((e) => e.mac === B_MAC)).toBe(false);
    a.send(ethFrame(B_MAC, A_MAC, 0x88b5, payload));
    await until(() => b.received.length === 2, 'B to receive the flooded frame');
    await until(() => dom0.stats.ignored === ignored + 1, 'the flood to reach dom0');
  });

  it('completes a UDP checksum the sender left to offload (NETTXF_csum_blank)', async () => {
    const { a, b } = await twoGuests();
    const data = Array.from({ length: 333 }, (_, i) => (i * 13) & 0xff);
    const frame = udpPartialCsum(A_MAC, B_MAC, '172.16.31.10', '172.16.31.11', 40000, 7, data);
    a.send(frame, { csumBlank: true });
    await until(() => b.received.length === 1, 'B to receive the datagram');
    const got = b.received[0]!;
    const udpLen = 8 + data.length;
    const pseudo = [...ip('172.16.31.10'), ...ip('172.16.31.11'), 0, 17, udpLen >> 8, udpLen & 0xff];
    const sum = csum([...pseudo, ...got.subarray(34)]);
    expect(sum).toBe(0);
    expect(got.subarray(40, 42)).not.toEqual(frame.subarray(40, 42));
    expect(Array.from(got.subarray(42))).toEqual(data);
  });

  it("writes a pcap of the bridge's traffic that tcpdump reads: ARP, ICMP echo, and a checked UDP sum", async () => {
    const { h, a, b } = await twoGuests();
    dir = mkdtempSync(join(tmpdir(), 'tsxen-pcap-'));
    const file = join(dir, 'xenbr0.pcap');
    h.xenbr0.startCapture(file);
    a.send(arpRequest(A_MAC, '172.16.31.10', DOM0_IP));
    await until(() => a.received.length === 1, 'ARP reply');
    a.send(icmpEcho(A_MAC, DOM0_MAC, '172.16.31.10', DOM0_IP, 0x1d, 3, 56));
    await until(() => a.received.length === 2, 'echo reply');
    a.send(udpPartialCsum(A_MAC, B_MAC, '172.16.31.10', '172.16.31.11', 40000, 9, [1, 2, 3, 4, 5]), { csumBlank: true });
    // B saw the broadcast ARP request first.
    await until(() => b.received.length === 2, 'UDP datagram');
    expect(h.xenbr0.stopCapture()).toBe(5);

    const out = execFileSync('tcpdump', ['-n', '-e', '-vv', '-r', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = out.trim().split('\n');
    expect(lines.filter((l) => /^\d\d:\d\d:\d\d\.\d{6} /.test(l)).length).toBe(5);
    expect(out).toMatch(/00:16:3e:00:00:0a > ff:ff:ff:ff:ff:ff, ethertype ARP \(0x0806\), length 42: Ethernet \(len 6\), IPv4 \(len 4\), Request who-has 172\.16\.31\.1 tell 172\.16\.31\.10, length 28/);
    expect(out).toMatch(/02:00:ac:10:1f:01 > 00:16:3e:00:00:0a, ethertype ARP \(0x0806\), length 42: Ethernet \(len 6\), IPv4 \(len 4\), Reply 172\.16\.31\.1 is-at 02:00:ac:10:1f:01, length 28/);
    expect(out).toMatch(/172\.16\.31\.10 > 172\.16\.31\.1: ICMP echo request, id 29, seq 3, length 64/);
    expect(out).toMatch(/ttl 64, id 0, offset 0, flags \[none\], proto ICMP \(1\), length 84\)\n\s+172\.16\.31\.1 > 172\.16\.31\.10: ICMP echo reply, id 29, seq 3, length 64/);
    expect(out).toMatch(/172\.16\.31\.10\.40000 > 172\.16\.31\.11\.9: \[udp sum ok\] UDP, length 5/);
    expect(out).not.toMatch(/bad cksum|wrong|incorrect/);
  });
});
