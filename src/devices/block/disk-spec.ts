// The `disk = [...]` entry language: 'UNAME,VDEV[:TYPE],MODE[,BACKEND[,PROTOCOL]]', e.g.
// 'file:/xen/images/busybox.img,xvda,w', 'tap:qcow2:/srv/d.qcow2,xvdb,r', ',hdc:cdrom,r'.
// References: tools/python/xen/xm/create.py (preprocess_disk, configure_disks),
// tools/python/xen/util/blkif.py (parse_uname, blkdev_name_to_number),
// tools/python/xen/xend/server/blkif.py (getDeviceDetails: mode and device-type checks),
// server/BlktapController.py (blktap disk types), docs/misc/vbd-interface.txt, Xen 4.4.4.

import { isAbsolute, resolve } from 'node:path';

/** The backend class xend picked from the uname prefix (configure_disks). */
export type DiskType = 'file' | 'phy' | 'tap' | 'tap2';
export type DiskFormat = 'raw' | 'qcow2';
export type DiskMode = 'r' | 'w' | 'w!';

export interface DiskSpec {
  /** The entry as written. */
  readonly spec: string;
  /** null for an empty CD-ROM drive (',hdc:cdrom,r'). */
  readonly type: DiskType | null;
  /** blktap driver for tap:/tap2: ('aio', 'sync', 'qcow2'); null otherwise. */
  readonly driver: string | null;
  readonly format: DiskFormat | null;
  /** Image file or block device, absolute; null for an empty CD-ROM drive. */
  readonly path: string | null;
  /** Guest device name without ':cdrom' / 'ioemu:', e.g. 'xvda' ('' never). */
  readonly vdev: string;
  readonly devType: 'disk' | 'cdrom';
  readonly mode: DiskMode;
  /** 'w!' shares a writable disk with other domains; 'r' is read-only. */
  readonly readOnly: boolean;
  /** Backend domain (name or id) when given. */
  readonly backend: string | null;
  /** Frontend ring ABI when given, e.g. 'x86_64-abi'. */
  readonly protocol: string | null;
  /** The xenstore frontend node the number goes in: 'virtual-device' or 'virtual-device-ext'. */
  readonly xenstoreNode: 'virtual-device' | 'virtual-device-ext';
  /** The virtual-device number (also the device id in xenstore paths). */
  readonly devid: number;
}

/** A problem in one disk entry; the caller adds file, line and key. */
export class DiskSpecError extends Error {}

/**
 * blkdev_name_to_number(): the xenstore virtual-device number of a guest device name, or
 * null when xend could not number it. Names: xvd[a-p] (202<<8 | disk<<4 | part),
 * xvd[q-z] and xvd[a-i][a-z] (1<<28 | disk<<8 | part), sd (majors 8, 65-71, 128-135),
 * hd[a-t] (IDE majors 3, 22, 33, ...), or a number ('0x..' hex or decimal).
 */
export function vbdNumber(name: string): { node: 'virtual-device' | 'virtual-device-ext'; devid: number } | null {
  const n = name.startsWith('/') ? name : `/dev/${name}`;
  const ord = (c: string): number => c.charCodeAt(0) - 97;
  const part = (s: string): number => (s === '' ? 0 : Number.parseInt(s, 10));
  const scsiMajor = [8, 65, 66, 67, 68, 69, 70, 71, 128, 129, 130, 131, 132, 133, 134, 135];
  let m: RegExpExecArray | null;
  if ((m = /^\/dev\/sd([a-z])((?:[1-9]|1[0-5])?)$/.exec(n))) {
    const disk = ord(m[1]);
    return { node: 'virtual-device', devid: scsiMajor[Math.floor(disk / 16)] * 256 + (disk % 16) * 16 + part(m[2]) };
  }
  if ((m = /^\/dev\/sd([a-i])([a-z])((?:[1-9]|1[0-5])?)$/.exec(n))) {
    const disk = (ord(m[1]) + 1) * 26 + ord(m[2]);
    return { node: 'virtual-device', devid: scsiMajor[Math.floor(disk / 16)] * 256 + (disk % 16) * 16 + part(m[3]) };
  }
  if ((m = /^\/dev\/hd([a-t])((?:[1-9]|[1-5][0-9]|6[0-3])?)$/.exec(n))) {
    const ideMajors = [3, 22, 33, 34, 56, 57, 88, 89, 90, 91];
    const disk = ord(m[1]);
    return { node: 'virtual-device', devid: ideMajors[Math.floor(disk / 2)] * 256 + (disk % 2) * 64 + part(m[2]) };
  }
  if ((m = /^\/dev\/xvd([a-p])((?:[1-9]|1[0-5])?)$/.exec(n))) {
    return { node: 'virtual-device', devid: (202 << 8) + (ord(m[1]) << 4) + part(m[2]) };
  }
  if ((m = /^\/dev\/xvd([q-z])((?:[1-9]|1[0-5])?)$/.exec(n))) {
    return { node: 'virtual-device-ext', devid: (1 << 28) + (ord(m[1]) << 8) + part(m[2]) };
  }
  if ((m = /^\/dev\/xvd([a-i])([a-z])((?:[1-9]|1[0-5])?)$/.exec(n))) {
    const disk = (ord(m[1]) + 1) * 26 + ord(m[2]);
    return { node: 'virtual-device-ext', devid: (1 << 28) + (disk << 8) + part(m[3]) };
  }
  if (/^0x[0-9a-fA-F]+$/.test(name)) return { node: 'virtual-device', devid: Number.parseInt(name.slice(2), 16) };
  if (/^[0-9]+$/.test(name)) return { node: 'virtual-device', devid: Number.parseInt(name, 10) };
  return null;
}

/** blktap1 + blktap2 disk types (BlktapController.blktap_disk_types). */
const BLKTAP_TYPES = ['aio', 'sync', 'vmdk', 'ram', 'qcow', 'qcow2', 'ioemu', 'vhd', 'remus'];
/** The ones tsxen's block backend can serve, and the image format each reads. */
const TAP_FORMATS: Readonly<Record<string, DiskFormat>> = { aio: 'raw', sync: 'raw', qcow2: 'qcow2' };

/**
 * Parse one disk entry. Relative image paths are resolved against `baseDir` (the config
 * file's directory: tsxen's extension so images/*.cfg work from a fresh clone; xm used the
 * current directory). Fields are trimmed of surrounding blanks, which xm did not do.
 */
export function parseDiskSpec(spec: string, baseDir: string): DiskSpec {
  const fields = spec.split(',').map((f) => f.trim());
  // preprocess_disk: 3, 4 or 5 comma-separated fields.
  if (fields.length < 3 || fields.length > 5) throw new DiskSpecError(`Invalid disk specifier: ${spec}`);
  const [uname, rawDev, rawMode] = fields;
  const backend = fields[3] || null;
  const protocol = fields[4] || null;

  // blkif.getDeviceDetails: strip 'ioemu:', split off ':TYPE' (default 'disk').
  let dev = rawDev;
  if (dev.includes('ioemu:')) dev = dev.slice(dev.indexOf('ioemu:') + 'ioemu:'.length);
  let devType = 'disk';
  const colon = dev.indexOf(':');
  if (colon >= 0) {
    devType = dev.slice(colon + 1);
    dev = dev.slice(0, colon);
  }
  if (devType !== 'disk' && devType !== 'cdrom') {
    throw new DiskSpecError(`device type '${devType}' of '${rawDev}' is not 'disk' or 'cdrom'`);
  }
  if (dev === '') throw new DiskSpecError(`no guest device name in '${spec}' (e.g. 'file:/path/disk.img,xvda,w')`);
  const num = vbdNumber(dev);
  if (num === null) throw new DiskSpecError(`Unable to find number for device (${dev})`);

  if (rawMode !== 'r' && rawMode !== 'w' && rawMode !== 'w!') {
    throw new DiskSpecError(`Invalid mode '${rawMode}' (expected r, w or w!)`);
  }
  const mode: DiskMode = rawMode;

  const base = {
    spec,
    vdev: dev,
    devType: devType as 'disk' | 'cdrom',
    mode,
    readOnly: mode === 'r',
    backend,
    protocol,
    xenstoreNode: num.node,
    devid: num.devid,
  };

  if (uname === '') {
    if (devType !== 'cdrom') throw new DiskSpecError('Block device must have physical details specified');
    return { ...base, type: null, driver: null, format: null, path: null };
  }
  const sep = uname.indexOf(':');
  if (sep < 0) throw new DiskSpecError(`Block device must have physical details specified (e.g. 'file:${uname}')`);
  const typ = uname.slice(0, sep);
  let rest = uname.slice(sep + 1);

  if (typ === 'phy') {
    // parse_uname: a phy: name that is not a path is under /dev.
    const path = rest.startsWith('/') ? rest : `/dev/${rest}`;
    if (rest === '') throw new DiskSpecError(`no device after 'phy:' in '${uname}'`);
    return { ...base, type: 'phy', driver: null, format: 'raw', path };
  }
  if (typ === 'file') {
    if (rest === '') throw new DiskSpecError(`no file after 'file:' in '${uname}'`);
    return { ...base, type: 'file', driver: null, format: 'raw', path: absolute(rest, baseDir) };
  }
  if (typ === 'tap' || typ === 'tap2') {
    // parse_uname: 'tap:DRIVER:PATH', with 'tapdisk:' / 'ioemu:' possibly in front of DRIVER.
    let cut = rest.indexOf(':');
    if (cut < 0) throw new DiskSpecError(`'${uname}' needs a driver, e.g. '${typ}:aio:/path/disk.img'`);
    let driver = rest.slice(0, cut);
    rest = rest.slice(cut + 1);
    if (driver === 'tapdisk' || driver === 'ioemu') {
      cut = rest.indexOf(':');
      if (cut < 0) throw new DiskSpecError(`'${uname}' needs a driver after '${driver}:', e.g. '${typ}:${driver}:aio:/path'`);
      driver = rest.slice(0, cut);
      rest = rest.slice(cut + 1);
    }
    if (!BLKTAP_TYPES.includes(driver)) throw new DiskSpecError(`unknown blktap disk type '${driver}' in '${uname}'`);
    const format = TAP_FORMATS[driver];
    if (format === undefined) {
      throw new DiskSpecError(
        `blktap disk type '${driver}' is not supported by tsxen (supported: aio, sync for raw images; qcow2)`,
      );
    }
    if (rest === '') throw new DiskSpecError(`no file in '${uname}'`);
    return { ...base, type: typ, driver, format, path: absolute(rest, baseDir) };
  }
  // blkif._isValidProtocol: anything else needs a /etc/xen/scripts/block-TYPE script.
  throw new DiskSpecError(`Block device type "${typ}" is invalid.`);
}

function absolute(p: string, baseDir: string): string {
  return isAbsolute(p) ? p : resolve(baseDir, p);
}
