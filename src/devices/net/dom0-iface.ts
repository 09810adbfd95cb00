// Domain-0's own interface on a bridge: the address the seed walkthrough gave xenbr0
// (172.16.31.1/16). A tiny IPv4 host, as far as a domU's `ping` needs: it answers ARP
// requests for its address (RFC 826) and ICMP echo requests sent to it (RFC 792) with
// correct IPv4 and ICMP checksums and TTL 64 (Linux's ip_default_ttl). Everything else is
// counted and ignored. It never sends anything but those replies unless asked to.
// Like Linux (icmp_echo_ignore_broadcasts=1) it does not answer pings to broadcast addresses,
// and it does not reassemble fragments.

import type { BridgePort, BridgePortDevice } from './bridge.js';
import {
  ETH_HLEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, IPPROTO_ICMP, inetChecksum, ipv4ToString, macToString, parseIpv4,
  parseIpv4Header, parseMac, readU16, readU32, writeEthHeader, writeIpv4Header, writeU16, writeU32,
} from './inet.js';
import { silentLogger, type ServiceLogger } from '../logger.js';

export const DOM0_DEFAULT_ADDRESS = '172.16.31.1';
export const DOM0_DEFAULT_PREFIX = 16;
/** Linux's net.ipv4.ip_default_ttl. */
export const IP_DEFAULT_TTL = 64;

const ARPHRD_ETHER = 1;
const ARPOP_REQUEST = 1;
const ARPOP_REPLY = 2;
const ICMP_ECHOREPLY = 0;
const ICMP_ECHO = 8;

export interface Dom0InterfaceOptions {
  /** Port name on the bridge (default: the bridge's own name, where the walkthrough put the address). */
  name: string;
  address?: string;
  prefixLength?: number;
  /** Default: locally administered 02:00 followed by the four address octets. */
  mac?: string;
  mtu?: number;
  logger?: ServiceLogger;
}

export interface Dom0Stats {
  arpRequests: number;
  arpReplies: number;
  echoRequests: number;
  echoReplies: number;
  /** Frames for this host refused as malformed (bad checksums, truncated, fragments). */
  malformed: number;
  /** Frames not for this host or of a kind it does not handle. */
  ignored: number;
}

export class Dom0Interface implements BridgePortDevice {
  readonly name: string;
  readonly mtu: number;
  readonly address: number;
  readonly prefixLength: number;
  readonly mac: Uint8Array;
  readonly stats: Dom0Stats = { arpRequests: 0, arpReplies: 0, echoRequests: 0, echoReplies: 0, malformed: 0, ignored: 0 };
  /** IPv4 neighbours learned from ARP traffic addressed to this host: address → MAC. */
  readonly neighbours = new Map<string, string>();
  private port: BridgePort | null = null;
  private ipId = 0;
  private readonly logger: ServiceLogger;

  constructor(opts: Dom0InterfaceOptions) {
    this.name = opts.name;
    this.mtu = opts.mtu ?? 1500;
    this.address = parseIpv4(opts.address ?? DOM0_DEFAULT_ADDRESS);
    this.prefixLength = opts.prefixLength ?? DOM0_DEFAULT_PREFIX;
    if (!Number.isInteger(this.prefixLength) || this.prefixLength < 0 || this.prefixLength > 32) {
      throw new RangeError(`invalid prefix length /${this.prefixLength} for ${ipv4ToString(this.address)}`);
    }
    const a = this.address;
    this.mac = opts.mac !== undefined ? parseMac(opts.mac) : Uint8Array.of(0x02, 0x00, a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff);
    if (this.mac[0]! & 1) throw new Error(`dom0 interface MAC ${macToString(this.mac)} is a multicast address`);
    this.logger = opts.logger ?? silentLogger;
  }

  get macString(): string {
    return macToString(this.mac);
  }

  get addressString(): string {
    return ipv4ToString(this.address);
  }

  attached(port: BridgePort | null): void {
    this.port = port;
  }

  /** Sends a frame from dom0 into the bridge. */
  send(frame: Uint8Array): void {
    if (!this.port) throw new Error(`dom0 interface ${this.name} is not attached to a bridge`);
    this.port.input(frame);
  }

  transmit(frame: Uint8Array): void {
    if (frame.length < ETH_HLEN) {
      this.stats.malformed++;
      return;
    }
    const type = readU16(frame, 12);
    if (type === ETHERTYPE_ARP) this.arp(frame);
    else if (type === ETHERTYPE_IPV4) this.ipv4(frame);
    else this.stats.ignored++;
  }

  private forMe(frame: Uint8Array): boolean {
    for (let i = 0; i < 6; i++) if (frame[i] !== this.mac[i]) return false;
    return true;
  }

  private arp(frame: Uint8Array): void {
    const a = ETH_HLEN;
    if (frame.length < a + 28) {
      this.stats.malformed++;
      return;
    }
    if (readU16(frame, a) !== ARPHRD_ETHER || readU16(frame, a + 2) !== ETHERTYPE_IPV4 || frame[a + 4] !== 6 || frame[a + 5] !== 4) {
      this.stats.ignored++;
      return;
    }
    const op = readU16(frame, a + 6);
    const sha = frame.slice(a + 8, a + 14);
    const spa = readU32(frame, a + 14);
    const tpa = readU32(frame, a + 24);
    if (tpa !== this.address) {
      this.stats.ignored++;
      return;
    }
    if (spa !== 0 && !(sha[0]! & 1)) this.neighbours.set(ipv4ToString(spa), macToString(sha));
    if (op !== ARPOP_REQUEST) {
      if (op !== ARPOP_REPLY) this.stats.ignored++;
      return;
    }
    this.stats.arpRequests++;
    const r = new Uint8Array(ETH_HLEN + 28);
    writeEthHeader(r, sha, this.mac, ETHERTYPE_ARP);
    writeU16(r, a, ARPHRD_ETHER);
    writeU16(r, a + 2, ETHERTYPE_IPV4);
    r[a + 4] = 6;
    r[a + 5] = 4;
    writeU16(r, a + 6, ARPOP_REPLY);
    r.set(this.mac, a + 8);
    writeU32(r, a + 14, this.address);
    r.set(sha, a + 18);
    writeU32(r, a + 24, spa);
    this.stats.arpReplies++;
    this.send(r);
  }

  private ipv4(frame: Uint8Array): void {
    if (!this.forMe(frame)) {
      this.stats.ignored++;
      return;
    }
    const ip = parseIpv4Header(frame);
    if (!ip || !ip.headerChecksumOk) {
      this.stats.malformed++;
      this.logger.debug(`${this.name}: dropped a malformed IPv4 packet from ${macToString(frame, 6)}`);
      return;
    }
    if (ip.dst !== this.address || ip.protocol !== IPPROTO_ICMP) {
      this.stats.ignored++;
      return;
    }
    if (ip.fragment) {
      this.stats.malformed++;
      this.logger.warn(`${this.name}: dropped an ICMP fragment from ${ipv4ToString(ip.src)}: dom0's interface does not reassemble`);
      return;
    }
    const l4 = ip.at + ip.ihl;
    const end = ip.at + ip.totalLength;
    if (end - l4 < 8 || inetChecksum(frame, l4, end) !== 0) {
      this.stats.malformed++;
      this.logger.debug(`${this.name}: dropped an ICMP message with a bad checksum from ${ipv4ToString(ip.src)}`);
      return;
    }
    if (frame[l4] !== ICMP_ECHO || frame[l4 + 1] !== 0) {
      this.stats.ignored++;
      return;
    }
    this.stats.echoRequests++;
    const icmpLen = end - l4;
    const r = new Uint8Array(ETH_HLEN + 20 + icmpLen);
    writeEthHeader(r, frame.subarray(6, 12), this.mac, ETHERTYPE_IPV4);
    // Linux's icmp_reply() keeps the request's TOS.
    writeIpv4Header(r, ETH_HLEN, 20 + icmpLen, {
      tos: ip.tos, id: this.ipId++ & 0xffff, ttl: IP_DEFAULT_TTL, protocol: IPPROTO_ICMP, src: this.address, dst: ip.src,
    });
    const ic = ETH_HLEN + 20;
    r.set(frame.subarray(l4, end), ic);
    r[ic] = ICMP_ECHOREPLY;
    r[ic + 1] = 0;
    writeU16(r, ic + 2, 0);
    writeU16(r, ic + 2, inetChecksum(r, ic, ic + icmpLen));
    this.stats.echoReplies++;
    this.send(r);
  }
}
