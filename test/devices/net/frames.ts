// Test-side packet construction and checks, written independently of src/devices/net/inet.ts
// so a shared mistake cannot hide (tcpdump checks the captured ones again).

export function mac(s: string): number[] {
  return s.split(':').map((h) => parseInt(h, 16));
}

export function ip(s: string): number[] {
  return s.split('.').map(Number);
}

/** RFC 1071, the plain way: sum 16-bit big-endian words with end-around carry. */
export function csum(bytes: ArrayLike<number>, initial = 0): number {
  let sum = initial;
  for (let i = 0; i < bytes.length; i += 2) {
    sum += (bytes[i]! << 8) + (i + 1 < bytes.length ? bytes[i + 1]! : 0);
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  return ~sum & 0xffff;
}

const be16 = (v: number): number[] => [(v >> 8) & 0xff, v & 0xff];

export function arpRequest(srcMac: string, srcIp: string, targetIp: string): Uint8Array {
  return Uint8Array.from([
    ...mac('ff:ff:ff:ff:ff:ff'), ...mac(srcMac), 0x08, 0x06,
    0, 1, 0x08, 0x00, 6, 4, 0, 1, ...mac(srcMac), ...ip(srcIp), 0, 0, 0, 0, 0, 0, ...ip(targetIp),
  ]);
}

function ipv4Header(totalLen: number, proto: number, src: string, dst: string, id = 0x1234, ttl = 64, flagsFrag = 0x4000): number[] {
  const h = [0x45, 0, ...be16(totalLen), ...be16(id), ...be16(flagsFrag), ttl, proto, 0, 0, ...ip(src), ...ip(dst)];
  const c = csum(h);
  h[10] = c >> 8;
  h[11] = c & 0xff;
  return h;
}

/** An ICMP echo request as busybox ping sends it: id, seq, then payload bytes. */
export function icmpEcho(srcMac: string, dstMac: string, src: string, dst: string, id: number, seq: number, payloadLen: number): Uint8Array {
  const payload = Array.from({ length: payloadLen }, (_, i) => (i * 7 + seq) & 0xff);
  const icmp = [8, 0, 0, 0, ...be16(id), ...be16(seq), ...payload];
  const c = csum(icmp);
  icmp[2] = c >> 8;
  icmp[3] = c & 0xff;
  return Uint8Array.from([...mac(dstMac), ...mac(srcMac), 0x08, 0x00, ...ipv4Header(20 + icmp.length, 1, src, dst), ...icmp]);
}

/**
 * A UDP datagram the way Linux hands it to netfront with CHECKSUM_PARTIAL: the checksum field
 * holds the folded (uncomplemented) pseudo-header sum, the device is to finish it.
 */
export function udpPartialCsum(srcMac: string, dstMac: string, src: string, dst: string, sport: number, dport: number, data: number[]): Uint8Array {
  const udpLen = 8 + data.length;
  const pseudo = [...ip(src), ...ip(dst), 0, 17, ...be16(udpLen)];
  const partial = ~csum(pseudo) & 0xffff;
  const udp = [...be16(sport), ...be16(dport), ...be16(udpLen), ...be16(partial), ...data];
  return Uint8Array.from([...mac(dstMac), ...mac(srcMac), 0x08, 0x00, ...ipv4Header(20 + udpLen, 17, src, dst), ...udp]);
}

export function ethFrame(dstMac: string, srcMac: string, type: number, payload: number[]): Uint8Array {
  return Uint8Array.from([...mac(dstMac), ...mac(srcMac), ...be16(type), ...payload]);
}

export function macAt(b: Uint8Array, at: number): string {
  return Array.from(b.subarray(at, at + 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}

export function ipAt(b: Uint8Array, at: number): string {
  return Array.from(b.subarray(at, at + 4)).join('.');
}
