// Just enough Ethernet/ARP/IPv4/ICMP/TCP/UDP for dom0's side of the virtual network: address
// text forms, the Internet checksum (RFC 1071), and completion of a checksum a guest left
// blank for offload. Every parser bound-checks against the frame it is given; frames come
// from guests.

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

export const ETH_ALEN = 6;
export const ETH_HLEN = 14;

export class AddressError extends Error {}

/** "00:16:3e:01:02:03" → 6 bytes. */
export function parseMac(s: string): Uint8Array {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(s)) {
    throw new AddressError(`invalid MAC address '${s}' (expected six hex octets like 00:16:3e:12:34:56)`);
  }
  return Uint8Array.from(s.split(':').map((h) => Number.parseInt(h, 16)));
}

export function macToString(b: Uint8Array, at = 0): string {
  const parts: string[] = [];
  for (let i = 0; i < ETH_ALEN; i++) parts.push((b[at + i] ?? 0).toString(16).padStart(2, '0'));
  return parts.join(':');
}

export function isMulticastMac(b: Uint8Array, at = 0): boolean {
  return ((b[at] ?? 0) & 1) !== 0;
}

export function isZeroMac(b: Uint8Array, at = 0): boolean {
  for (let i = 0; i < ETH_ALEN; i++) if (b[at + i] !== 0) return false;
  return true;
}

/** "172.16.31.1" → 0xac101f01. */
export function parseIpv4(s: string): number {
  const parts = s.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    throw new AddressError(`invalid IPv4 address '${s}'`);
  }
  return parts.reduce((a, p) => ((a << 8) | Number(p)) >>> 0, 0);
}

export function ipv4ToString(a: number): string {
  return [a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff].join('.');
}

export function readU16(b: Uint8Array, at: number): number {
  return ((b[at] ?? 0) << 8) | (b[at + 1] ?? 0);
}

export function readU32(b: Uint8Array, at: number): number {
  return (((b[at] ?? 0) << 24) | ((b[at + 1] ?? 0) << 16) | ((b[at + 2] ?? 0) << 8) | (b[at + 3] ?? 0)) >>> 0;
}

export function writeU16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
}

export function writeU32(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

/** One's-complement sum of b[start..end) as big-endian 16-bit words, unfolded, added to `sum`. */
export function onesSum(b: Uint8Array, start: number, end: number, sum = 0): number {
  let s = sum;
  let i = start;
  for (; i + 1 < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (i < end) s += b[i]! << 8;
  // Fold often enough that the running sum stays an exact integer.
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The Internet checksum of b[start..end): the complement of the folded one's-complement sum. */
export function inetChecksum(b: Uint8Array, start: number, end: number, initial = 0): number {
  return ~onesSum(b, start, end, initial) & 0xffff;
}

/** Where the IPv4 header starts (after an optional 802.1Q tag), or -1 for other frames. */
export function ipv4Offset(frame: Uint8Array): number {
  if (frame.length < ETH_HLEN) return -1;
  let type = readU16(frame, 12);
  let at = ETH_HLEN;
  if (type === ETHERTYPE_VLAN) {
    if (frame.length < ETH_HLEN + 4) return -1;
    type = readU16(frame, 16);
    at += 4;
  }
  return type === ETHERTYPE_IPV4 ? at : -1;
}

export interface Ipv4Header {
  /** Offset of the header in the frame. */
  readonly at: number;
  readonly ihl: number;
  readonly totalLength: number;
  readonly protocol: number;
  readonly src: number;
  readonly dst: number;
  readonly ttl: number;
  readonly tos: number;
  readonly fragment: boolean;
  readonly headerChecksumOk: boolean;
}

/** Parses the IPv4 header of a frame; null when it is not IPv4 or does not fit the frame. */
export function parseIpv4Header(frame: Uint8Array): Ipv4Header | null {
  const at = ipv4Offset(frame);
  if (at < 0 || frame.length < at + 20) return null;
  const vihl = frame[at]!;
  if (vihl >> 4 !== 4) return null;
  const ihl = (vihl & 0xf) * 4;
  const totalLength = readU16(frame, at + 2);
  if (ihl < 20 || totalLength < ihl || at + totalLength > frame.length) return null;
  const fragField = readU16(frame, at + 6);
  return {
    at,
    ihl,
    totalLength,
    protocol: frame[at + 9]!,
    src: readU32(frame, at + 12),
    dst: readU32(frame, at + 16),
    ttl: frame[at + 8]!,
    tos: frame[at + 1]!,
    // MF set or a non-zero offset (ip_is_fragment()).
    fragment: (fragField & 0x3fff) !== 0,
    headerChecksumOk: inetChecksum(frame, at, at + ihl) === 0,
  };
}

/** One's-complement sum of the IPv4 pseudo-header for an upper-layer segment. */
export function ipv4PseudoSum(src: number, dst: number, protocol: number, length: number): number {
  let s = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

export type ChecksumResult = { ok: true; protocol: number } | { ok: false; reason: string };

/**
 * Fills in the TCP or UDP checksum of an IPv4 packet whose sender left it to offload
 * (NETTXF_csum_blank): the checksum is computed over the pseudo-header and the whole segment,
 * as skb_checksum_help() would after skb_checksum_setup() located it. Modifies `frame`.
 * Like skb_checksum_setup_ipv4(), fragments and other protocols are refused.
 */
export function completeIpv4Checksum(frame: Uint8Array): ChecksumResult {
  const ip = parseIpv4Header(frame);
  if (!ip) return { ok: false, reason: 'checksum offload requested for a frame that is not a well-formed IPv4 packet' };
  if (ip.fragment) return { ok: false, reason: 'checksum offload requested for an IPv4 fragment' };
  const l4 = ip.at + ip.ihl;
  const end = ip.at + ip.totalLength;
  let field: number;
  if (ip.protocol === IPPROTO_TCP) {
    if (end - l4 < 20) return { ok: false, reason: 'checksum offload requested for a truncated TCP header' };
    field = l4 + 16;
  } else if (ip.protocol === IPPROTO_UDP) {
    if (end - l4 < 8) return { ok: false, reason: 'checksum offload requested for a truncated UDP header' };
    field = l4 + 6;
  } else {
    return { ok: false, reason: `checksum offload requested for IP protocol ${ip.protocol} (only TCP and UDP are offloaded)` };
  }
  writeU16(frame, field, 0);
  let c = inetChecksum(frame, l4, end, ipv4PseudoSum(ip.src, ip.dst, ip.protocol, end - l4));
  // A computed zero is sent as 0xffff (CSUM_MANGLED_0); for UDP zero would mean "no checksum".
  if (c === 0) c = 0xffff;
  writeU16(frame, field, c);
  return { ok: true, protocol: ip.protocol };
}

/** Writes an Ethernet header at the start of `frame`. */
export function writeEthHeader(frame: Uint8Array, dst: Uint8Array, src: Uint8Array, type: number): void {
  frame.set(dst.subarray(0, ETH_ALEN), 0);
  frame.set(src.subarray(0, ETH_ALEN), ETH_ALEN);
  writeU16(frame, 12, type);
}

export interface Ipv4Fields {
  tos: number;
  id: number;
  ttl: number;
  protocol: number;
  src: number;
  dst: number;
}

/** Writes a 20-byte IPv4 header (no options, DF clear) with its checksum at `at`. */
export function writeIpv4Header(frame: Uint8Array, at: number, totalLength: number, f: Ipv4Fields): void {
  frame[at] = 0x45;
  frame[at + 1] = f.tos & 0xff;
  writeU16(frame, at + 2, totalLength);
  writeU16(frame, at + 4, f.id & 0xffff);
  writeU16(frame, at + 6, 0);
  frame[at + 8] = f.ttl & 0xff;
  frame[at + 9] = f.protocol & 0xff;
  writeU16(frame, at + 10, 0);
  writeU32(frame, at + 12, f.src);
  writeU32(frame, at + 16, f.dst);
  writeU16(frame, at + 10, inetChecksum(frame, at, at + 20));
}
