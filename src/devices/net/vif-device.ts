// xend's side of a vif (Xen 4.4.4, tools/python/xen/xend/server/netif.py getDeviceDetails,
// DevController.py createDevice / addStoreEntries / allocateDeviceID / waitForBackend /
// destroyDevice, XendConfig.py for the generated MAC and device uuid): the xenstore nodes that
// make netback and netfront find each other. xend (src/dom0) calls these with a parsed vif
// entry (vif-spec.ts).

import { randomBytes, randomUUID } from 'node:crypto';
import { isMulticastMac, isZeroMac, parseMac } from './inet.js';
import { VIF_BRIDGE_SCRIPT } from './xenbus-net.js';
import type { VifSpec } from './vif-spec.js';
import { inTransaction, readOptional, rmQuiet, xsErrno, XenbusState, type XenstoreHandle } from '../xenbus.js';
import { errorMessage } from '../../hypervisor/errors.js';

/** A parsed vif entry, plus the device uuid a restored or managed domain keeps. */
export type VifDeviceConfig = Omit<VifSpec, 'spec' | 'policy' | 'label'> & { readonly uuid?: string | null };

export interface CreateVifOptions {
  domid: number;
  /** The domain's name (written as the backend's "domain" node). */
  domName: string;
  /** /vm/<uuid>: xend records each device under its device/vif/<devid>. */
  vmPath: string;
  backendDomid?: number;
  /** The guest ABI the domain builder reported; xend wrote it as the frontend's "protocol". */
  nativeProtocol?: string | null;
  /** Random bytes for a generated MAC (tests inject them). */
  random?: (n: number) => Uint8Array;
}

export interface VifDevice {
  devid: number;
  mac: string;
  backendPath: string;
  frontendPath: string;
  vmDevicePath: string;
  /** The dom0 interface name the hotplug step will give it. */
  vifName: string;
}

export class VifDeviceError extends Error {}

/** xend's network_script_dir. */
export const NETWORK_SCRIPT_DIR = '/etc/xen/scripts';
/** XEN_IO_PROTO_ABI_X86_64. */
export const XEN_IO_PROTO_ABI_X86_64 = 'x86_64-abi';

/**
 * netif.randomMAC(): Xensource's OUI 00:16:3e, then three random octets, the first below
 * 0x80.
 */
export function randomVifMac(random: (n: number) => Uint8Array = (n) => randomBytes(n)): string {
  const r = random(3);
  if (r.length < 3) throw new Error('randomVifMac: the random source returned fewer than 3 bytes');
  return [0x00, 0x16, 0x3e, r[0]! & 0x7f, r[1]!, r[2]!].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** The name vif-bridge leaves the interface with: vifname if given, else vif<domid>.<devid>. */
export function vifDeviceName(domid: number, devid: number, vifname?: string | null): string {
  return vifname ? vifname : `vif${domid}.${devid}`;
}

function checkMac(mac: string): string {
  let b: Uint8Array;
  try {
    b = parseMac(mac);
  } catch (e) {
    throw new VifDeviceError(errorMessage(e));
  }
  if (isMulticastMac(b)) throw new VifDeviceError(`MAC address '${mac}' is a multicast address`);
  if (isZeroMac(b)) throw new VifDeviceError(`MAC address '${mac}' is all zeros`);
  return mac.toLowerCase();
}

/** os.path.join(network_script_dir, script). */
function scriptPath(script: string | null): string {
  const s = script ?? VIF_BRIDGE_SCRIPT;
  return s.startsWith('/') ? s : `${NETWORK_SCRIPT_DIR}/${s}`;
}

/** DevController.allocateDeviceID: device-misc/vif/nextDeviceID, in its own transaction. */
export function allocateVifDeviceId(xs: XenstoreHandle, domid: number): number {
  const path = `/local/domain/${domid}/device-misc/vif/nextDeviceID`;
  return inTransaction(xs, (tx) => {
    const cur = readOptional(xs, path, tx);
    const n = cur === null ? 0 : Number.parseInt(cur, 10);
    if (!Number.isInteger(n) || n < 0) throw new VifDeviceError(`${path} holds '${cur}', not a device number`);
    xs.write(path, String(n + 1), tx);
    return n;
  }, 'allocating a vif device id');
}

/**
 * NetifController.createDevice: allocate the device id and write the backend and frontend
 * directories (with their permissions) and the /vm record, in one transaction.
 */
export function createVifDevice(xs: XenstoreHandle, cfg: VifDeviceConfig, opts: CreateVifOptions): VifDevice {
  const { domid } = opts;
  const backdom = opts.backendDomid ?? 0;
  if (!Number.isInteger(domid) || domid <= 0 || domid >= 0x7ff0) throw new VifDeviceError(`cannot give domain ${domid} a vif: not a guest domain id`);
  if (cfg.type === 'ioemu') throw new VifDeviceError('vif type=ioemu is an emulated NIC for HVM guests; tsxen runs PV guests, use the default netfront');
  if (cfg.backend !== null && cfg.backend !== '0' && cfg.backend !== 'Domain-0') {
    throw new VifDeviceError(`vif backend=${cfg.backend}: driver domains are not supported, the backend is Domain-0`);
  }
  // XendConfig generated the MAC when the config had none; netif.py then insists on one.
  const mac = cfg.mac !== null ? checkMac(cfg.mac) : randomVifMac(opts.random);
  const devid = allocateVifDeviceId(xs, domid);

  const back: Record<string, string> = { script: scriptPath(cfg.script), mac };
  if (cfg.type && cfg.type !== 'netfront') back.type = cfg.type;
  if (cfg.ip.length > 0) back.ip = cfg.ip.join(' ');
  if (cfg.bridge) back.bridge = cfg.bridge;
  if (cfg.vifname) back.vifname = cfg.vifname;
  if (cfg.rate) back.rate = `${cfg.rate.bytesPerInterval},${cfg.rate.intervalUsecs}`;
  back.uuid = cfg.uuid ?? randomUUID();
  if (cfg.model) back.model = cfg.model;
  if (cfg.accel) back.accel = cfg.accel;
  back.handle = String(devid);

  const frontendPath = `/local/domain/${domid}/device/vif/${devid}`;
  const backendPath = `/local/domain/${backdom}/backend/vif/${domid}/${devid}`;
  const vmDevicePath = `${opts.vmPath}/device/vif/${devid}`;
  const front: Record<string, string> = {
    handle: String(devid),
    mac,
    backend: backendPath,
    'backend-id': String(backdom),
    state: String(XenbusState.Initialising),
  };
  const protocol = opts.nativeProtocol === undefined ? XEN_IO_PROTO_ABI_X86_64 : opts.nativeProtocol;
  if (protocol) front.protocol = protocol;
  Object.assign(back, {
    domain: opts.domName,
    frontend: frontendPath,
    'frontend-id': String(domid),
    state: String(XenbusState.Initialising),
    online: '1',
  });

  inTransaction(xs, (tx) => {
    let existing: string[] = [];
    try {
      existing = xs.directory(`${opts.vmPath}/device/vif`, tx);
    } catch (e) {
      if (xsErrno(e) !== 'ENOENT') throw e;
    }
    if (existing.includes(String(devid))) throw new VifDeviceError(`Device ${devid} (vif) is already connected.`);
    rmQuiet(xs, frontendPath, tx);
    rmQuiet(xs, backendPath, tx);
    rmQuiet(xs, vmDevicePath, tx);
    xs.mkdir(backendPath, tx);
    xs.setPerms(backendPath, [`n${backdom}`, `r${domid}`], tx);
    xs.mkdir(frontendPath, tx);
    xs.setPerms(frontendPath, [`n${domid}`, `r${backdom}`], tx);
    for (const [k, v] of Object.entries(front)) xs.write(`${frontendPath}/${k}`, v, tx);
    for (const [k, v] of Object.entries(back)) xs.write(`${backendPath}/${k}`, v, tx);
    xs.mkdir(vmDevicePath, tx);
    xs.write(`${vmDevicePath}/backend`, backendPath, tx);
    xs.write(`${vmDevicePath}/backend-id`, String(backdom), tx);
    xs.write(`${vmDevicePath}/frontend`, frontendPath, tx);
    xs.write(`${vmDevicePath}/frontend-id`, String(domid), tx);
  }, `creating vif ${devid} of domain ${domid}`);

  return { devid, mac, backendPath, frontendPath, vmDevicePath, vifName: vifDeviceName(domid, devid, cfg.vifname) };
}

export type HotplugResult =
  | { status: 'connected'; error: null }
  | { status: 'error' | 'busy' | 'timeout'; error: string | null };

/**
 * DevController.waitForBackend: wait for the backend's hotplug-status ("connected", "error",
 * "busy"), up to `timeoutMs` (xend's device-create-timeout, 100 s by default).
 */
export function waitForVifHotplug(xs: XenstoreHandle, backendPath: string, timeoutMs = 100_000): Promise<HotplugResult> {
  const statusPath = `${backendPath}/hotplug-status`;
  const token = `xend/hotplug/${backendPath}/${Math.random().toString(36).slice(2)}`;
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: HotplugResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        xs.unwatch(statusPath, token);
      } catch {
        // The watch may be gone with the connection; nothing to undo.
      }
      resolve(r);
    };
    const timer = setTimeout(() => finish({ status: 'timeout', error: readOptional(xs, `${backendPath}/hotplug-error`) }), timeoutMs);
    xs.watch(statusPath, token, () => {
      const s = readOptional(xs, statusPath);
      if (s === null) return;
      const error = readOptional(xs, `${backendPath}/hotplug-error`);
      if (s === 'error') finish({ status: 'error', error });
      else if (s === 'busy') finish({ status: 'busy', error });
      else finish({ status: 'connected', error: null });
    });
  });
}

/**
 * DevController.destroyDevice: online=0 and state Closing on the backend (in that order, as
 * the drivers watch state); with `force` the backend, frontend and /vm records go at once.
 */
export function destroyVifDevice(xs: XenstoreHandle, domid: number, devid: number, opts: { vmPath: string; force?: boolean }): void {
  const vmDevicePath = `${opts.vmPath}/device/vif/${devid}`;
  const backendPath = readOptional(xs, `${vmDevicePath}/backend`);
  if (backendPath === null) throw new VifDeviceError(`Device ${devid} not connected`);
  xs.write(`${backendPath}/online`, '0');
  xs.write(`${backendPath}/state`, String(XenbusState.Closing));
  if (opts.force) {
    rmQuiet(xs, backendPath);
    rmQuiet(xs, `/local/domain/${domid}/device/vif/${devid}`);
    rmQuiet(xs, vmDevicePath);
  }
}
