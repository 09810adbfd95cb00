// The disk and vif entry languages. Device numbers follow tools/python/xen/util/blkif.py
// (blkdev_name_to_number) and docs/misc/vbd-interface.txt.

import { describe, expect, it } from 'vitest';

import {
  normaliseMac,
  parseDiskSpec,
  parseRate,
  parseVifSpec,
  randomMac,
  vbdNumber,
} from '../../src/xm/config/index.js';

describe('virtual-device numbers', () => {
  it('numbers xvd, sd and hd names as blkif.py did', () => {
    const cases: [string, number, string][] = [
      ['xvda', 202 << 8, 'virtual-device'],
      ['xvda1', (202 << 8) | 1, 'virtual-device'],
      ['xvdb2', (202 << 8) | (1 << 4) | 2, 'virtual-device'],
      ['xvdp15', (202 << 8) | (15 << 4) | 15, 'virtual-device'],
      ['/dev/xvdc', (202 << 8) | (2 << 4), 'virtual-device'],
      // Disk 16 onwards: the extended encoding.
      ['xvdq', (1 << 28) | (16 << 8), 'virtual-device-ext'],
      ['xvdz3', (1 << 28) | (25 << 8) | 3, 'virtual-device-ext'],
      ['xvdaa', (1 << 28) | (26 << 8), 'virtual-device-ext'],
      ['xvdtq', -1, ''],
      ['sda', 8 << 8, 'virtual-device'],
      ['sdb3', (8 << 8) | (1 << 4) | 3, 'virtual-device'],
      ['sdq', (65 << 8) | 0, 'virtual-device'],
      ['sdaa', (65 << 8) | (10 << 4), 'virtual-device'],
      ['hda', 3 << 8, 'virtual-device'],
      ['hdb', (3 << 8) | 64, 'virtual-device'],
      ['hdc2', (22 << 8) | 2, 'virtual-device'],
      ['hdd63', (22 << 8) | 64 | 63, 'virtual-device'],
      ['hde', 33 << 8, 'virtual-device'],
      ['51712', 51712, 'virtual-device'],
      ['0xca10', 0xca10, 'virtual-device'],
    ];
    for (const [name, num, node] of cases) {
      const got = vbdNumber(name);
      if (num < 0) expect(got, name).toBeNull();
      else expect(got, name).toEqual({ node, devid: num });
    }
  });

  it('refuses names xend could not number', () => {
    for (const n of ['xvda0', 'xvda16', 'hdu', 'hda64', 'sdz16', 'vda', 'xvd', '']) expect(vbdNumber(n), n).toBeNull();
  });
});

describe('disk entries', () => {
  it('reads every backend type and mode', () => {
    const base = '/etc/xen';
    expect(parseDiskSpec('phy:sdb1,hda,r', base)).toMatchObject({
      type: 'phy', path: '/dev/sdb1', format: 'raw', vdev: 'hda', devid: 3 << 8, mode: 'r', readOnly: true,
    });
    expect(parseDiskSpec('tap:aio:/img/a.img,xvda,w', base)).toMatchObject({ type: 'tap', driver: 'aio', format: 'raw', path: '/img/a.img' });
    expect(parseDiskSpec('tap:qcow2:q.qcow2,xvdb,w!', base)).toMatchObject({
      type: 'tap', driver: 'qcow2', format: 'qcow2', path: '/etc/xen/q.qcow2', mode: 'w!', readOnly: false,
    });
    expect(parseDiskSpec('tap:tapdisk:aio:/a.img,xvdc,r', base)).toMatchObject({ type: 'tap', driver: 'aio', path: '/a.img' });
    expect(parseDiskSpec('tap2:tapdisk:qcow2:/b.qcow2,xvdd,r', base)).toMatchObject({ type: 'tap2', driver: 'qcow2', format: 'qcow2' });
    expect(parseDiskSpec('file:/iso/x.iso,hdc:cdrom,r', base)).toMatchObject({ devType: 'cdrom', vdev: 'hdc', devid: 22 << 8 });
    expect(parseDiskSpec('file:/a.img,ioemu:hda,w', base)).toMatchObject({ vdev: 'hda', devType: 'disk' });
    expect(parseDiskSpec('file:/a.img,xvda,w,0,x86_64-abi', base)).toMatchObject({ backend: '0', protocol: 'x86_64-abi' });
  });

  it('reads an empty CD-ROM drive', () => {
    expect(parseDiskSpec(',hdc:cdrom,r', '/')).toMatchObject({ type: null, path: null, format: null, devType: 'cdrom', devid: 22 << 8 });
  });

  it('rejects bad entries with xend-style messages', () => {
    const bad: [string, string][] = [
      ['file:/a.img,xvda', 'Invalid disk specifier: file:/a.img,xvda'],
      ['file:/a.img,xvda,w,0,abi,extra', 'Invalid disk specifier: file:/a.img,xvda,w,0,abi,extra'],
      ['file:/a.img,xvda,rw', "Invalid mode 'rw' (expected r, w or w!)"],
      ['file:/a.img,vda,w', 'Unable to find number for device (vda)'],
      ['file:/a.img,xvda:floppy,w', "device type 'floppy' of 'xvda:floppy' is not 'disk' or 'cdrom'"],
      ['/a.img,xvda,w', "Block device must have physical details specified (e.g. 'file:/a.img')"],
      [',xvda,w', 'Block device must have physical details specified'],
      ['iscsi:iqn.2001-04.com.example:disk,xvda,w', 'Block device type "iscsi" is invalid.'],
      ['tap:vhd:/a.vhd,xvda,w', "blktap disk type 'vhd' is not supported by tsxen (supported: aio, sync for raw images; qcow2)"],
      ['tap:floppy:/a,xvda,w', "unknown blktap disk type 'floppy' in 'tap:floppy:/a'"],
      ['tap:/a.img,xvda,w', "'tap:/a.img' needs a driver, e.g. 'tap:aio:/path/disk.img'"],
      ['file:,xvda,w', "no file after 'file:' in 'file:'"],
      ['file:/a.img,,w', "no guest device name in 'file:/a.img,,w' (e.g. 'file:/path/disk.img,xvda,w')"],
    ];
    for (const [spec, msg] of bad) expect(() => parseDiskSpec(spec, '/'), spec).toThrow(msg);
  });
});

describe('vif entries', () => {
  it('reads every key', () => {
    const v = parseVifSpec(
      ' bridge=xenbr0, mac=00:16:3E:72:18:9B, ip=10.0.0.2 10.0.0.3, script=vif-bridge, vifname=bb0, model=e1000, type=netfront, rate=10Mb/s, backend=0 ',
    );
    expect(v).toMatchObject({
      bridge: 'xenbr0',
      mac: '00:16:3e:72:18:9b',
      ip: ['10.0.0.2', '10.0.0.3'],
      script: 'vif-bridge',
      vifname: 'bb0',
      model: 'e1000',
      type: 'netfront',
      backend: '0',
      // 10 Mbit/s = 1250000 B/s over xend's default 50 ms interval.
      rate: { bytesPerInterval: 62500, intervalUsecs: 50000 },
    });
    expect(parseVifSpec('')).toMatchObject({ type: 'netfront', mac: null, bridge: null, ip: [] });
  });

  it('rejects bad entries', () => {
    const bad: [string, string][] = [
      ['bridge', 'bridge should be a pair, separated by an equals sign.'],
      ['colour=red', 'Invalid vif option: colour'],
      ['mac=00:16:3e:00:00', "invalid MAC address '00:16:3e:00:00'"],
      ['mac=01:16:3e:00:00:01', "MAC address '01:16:3e:00:00:01' is a multicast address"],
      ['mac=00:00:00:00:00:00', "MAC address '00:00:00:00:00:00' is all zeros"],
      ['ip=10.0.0.256', "invalid IPv4 address '10.0.0.256' in ip="],
      ['vifname=a/b', "invalid vifname 'a/b'"],
      ['vifname=sixteen-chars-xx', "invalid vifname 'sixteen-chars-xx'"],
      ['rate=fast', "invalid rate 'fast'"],
    ];
    for (const [spec, msg] of bad) expect(() => parseVifSpec(spec), spec).toThrow(msg);
  });

  it("parses rates as netif.parseRate, with xend's unlimited fallback for out-of-range", () => {
    expect(parseRate('1MB/s@20ms')).toEqual({ bytesPerInterval: 20000, intervalUsecs: 20000 });
    expect(parseRate('8Kb/s@1s')).toEqual({ bytesPerInterval: 1000, intervalUsecs: 1000000 });
    expect(parseRate('100GB/s')).toEqual({ bytesPerInterval: 0xffffffff, intervalUsecs: 0 });
  });

  it('normalises MACs', () => {
    expect(normaliseMac('AA:BB:CC:DD:EE:FE')).toBe('aa:bb:cc:dd:ee:fe');
  });
});

describe('randomMac', () => {
  it("uses Xen's OUI and keeps the fourth octet below 0x80 (netif.randomMAC)", () => {
    expect(randomMac(() => Uint8Array.of(0xff, 0x12, 0xab))).toBe('00:16:3e:7f:12:ab');
    expect(randomMac(() => Uint8Array.of(0x00, 0x00, 0x01))).toBe('00:16:3e:00:00:01');
  });

  it('draws fresh valid addresses from the system source', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const m = randomMac();
      expect(m).toMatch(/^00:16:3e:[0-7][0-9a-f]:[0-9a-f]{2}:[0-9a-f]{2}$/);
      expect(normaliseMac(m)).toBe(m);
      seen.add(m);
    }
    // 2^23 possibilities: 200 draws colliding more than twice would mean a broken source.
    expect(seen.size).toBeGreaterThan(197);
  });
});
