// The `vif = [...]` entry language: comma-separated key=value pairs such as
// 'bridge=xenbr0, mac=00:16:3e:01:02:03, ip=10.0.0.2'. '' is a NIC with every default.
// References: tools/python/xen/xm/create.py (comma_sep_kv_to_dict, configure_vifs),
// tools/python/xen/xend/server/netif.py (randomMAC, parseRate, getDeviceDetails), Xen 4.4.4.

import { randomBytes } from 'node:crypto';

export interface VifRate {
  /** Bytes the interface may send per interval. */
  readonly bytesPerInterval: number;
  /** Interval length in microseconds (0 = unlimited). */
  readonly intervalUsecs: number;
}

export interface VifSpec {
  readonly spec: string;
  /** 'netfront' unless given ('ioemu' is an HVM emulated NIC). */
  readonly type: string;
  /** Normalised to lower case; null means "generate one at create time" (randomMac). */
  readonly mac: string | null;
  readonly bridge: string | null;
  /** Space-separated IPv4 addresses for the antispoof/route scripts. */
  readonly ip: readonly string[];
  readonly script: string | null;
  readonly vifname: string | null;
  readonly rate: VifRate | null;
  readonly model: string | null;
  readonly backend: string | null;
  readonly accel: string | null;
  readonly policy: string | null;
  readonly label: string | null;
}

/** A problem in one vif entry; the caller adds file, line and key. */
export class VifSpecError extends Error {}

/** configure_vifs' list of keys a vif entry may use. */
const VIF_KEYS = ['backend', 'bridge', 'ip', 'mac', 'script', 'type', 'vifname', 'rate', 'model', 'accel', 'policy', 'label'];

/** comma_sep_kv_to_dict(). */
function kvToDict(c: string): Map<string, string> {
  const d = new Map<string, string>();
  const s = c.trim();
  if (s.length === 0) return d;
  for (const b of s.split(',')) {
    const eq = b.indexOf('=');
    if (eq < 0) throw new VifSpecError(`${b} should be a pair, separated by an equals sign.`);
    d.set(b.slice(0, eq).trim(), b.slice(eq + 1).trim());
  }
  return d;
}

/**
 * Check a MAC address and return it in lower case. Netfront refuses multicast and all-zero
 * addresses (is_valid_ether_addr), so they are refused here instead of failing in the guest.
 */
export function normaliseMac(mac: string): string {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac)) {
    throw new VifSpecError(`invalid MAC address '${mac}' (expected six hex octets like 00:16:3e:12:34:56)`);
  }
  const m = mac.toLowerCase();
  if (Number.parseInt(m.slice(0, 2), 16) & 1) throw new VifSpecError(`MAC address '${mac}' is a multicast address`);
  if (m === '00:00:00:00:00:00') throw new VifSpecError(`MAC address '${mac}' is all zeros`);
  return m;
}

/**
 * netif.randomMAC(): Xensource's OUI 00:16:3e, then three random octets with the first
 * below 0x80. `random` supplies the three octets (tests inject it).
 */
export function randomMac(random: (n: number) => Uint8Array = (n) => randomBytes(n)): string {
  const r = random(3);
  if (r.length < 3) throw new Error('randomMac: the random source returned fewer than 3 bytes');
  const octets = [0x00, 0x16, 0x3e, r[0] & 0x7f, r[1], r[2]];
  return octets.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/**
 * netif.parseRate(): 'N[GMK](B|b)/s[@N[mu]s]' to bytes per interval and interval. xend
 * fell back to "unlimited" on a string it could not read; tsxen refuses it instead.
 */
export function parseRate(rate: string): VifRate {
  const m = /^([0-9]+)([GMK]?)([Bb])\/s(@([0-9]+)([mu]?)s)?$/.exec(rate);
  if (!m) throw new VifSpecError(`invalid rate '${rate}' (expected e.g. 10MB/s, 100Mb/s or 10MB/s@20ms)`);
  let bytesPerSec = BigInt(m[1]);
  if (m[2] === 'G') bytesPerSec *= 1000n * 1000n * 1000n;
  else if (m[2] === 'M') bytesPerSec *= 1000n * 1000n;
  else if (m[2] === 'K') bytesPerSec *= 1000n;
  if (m[3] === 'b') bytesPerSec /= 8n;
  let interval: bigint;
  if (m[5] === undefined) interval = 50000n;
  else {
    interval = BigInt(m[5]);
    if (m[6] === '') interval *= 1000n * 1000n;
    else if (m[6] === 'm') interval *= 1000n;
  }
  let perInterval = (bytesPerSec * interval) / 1000000n;
  // Out of range either way: xend's "unlimited".
  if (perInterval === 0n || perInterval > 0xffffffffn || interval === 0n || interval > 0xffffffffn) {
    perInterval = 0xffffffffn;
    interval = 0n;
  }
  return { bytesPerInterval: Number(perInterval), intervalUsecs: Number(interval) };
}

function ipv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

export function parseVifSpec(spec: string): VifSpec {
  const d = kvToDict(spec);
  for (const k of d.keys()) {
    if (!VIF_KEYS.includes(k)) throw new VifSpecError(`Invalid vif option: ${k}`);
  }
  const opt = (k: string): string | null => {
    const v = d.get(k);
    return v === undefined || v === '' ? null : v;
  };
  const mac = opt('mac');
  const ip = (opt('ip') ?? '').split(/\s+/).filter((s) => s !== '');
  for (const a of ip) if (!ipv4(a)) throw new VifSpecError(`invalid IPv4 address '${a}' in ip=`);
  const vifname = opt('vifname');
  // Linux interface names: at most 15 bytes (IFNAMSIZ-1), no '/', no blanks, not '.'/'..'.
  if (vifname !== null && (vifname.length > 15 || /[/\s:]/.test(vifname) || vifname === '.' || vifname === '..')) {
    throw new VifSpecError(`invalid vifname '${vifname}' (a Linux interface name: up to 15 characters, no '/', ':' or blanks)`);
  }
  const rate = opt('rate');
  return {
    spec,
    type: opt('type') ?? 'netfront',
    mac: mac === null ? null : normaliseMac(mac),
    bridge: opt('bridge'),
    ip,
    script: opt('script'),
    vifname,
    rate: rate === null ? null : parseRate(rate),
    model: opt('model'),
    backend: opt('backend'),
    accel: opt('accel'),
    policy: opt('policy'),
    label: opt('label'),
  };
}
