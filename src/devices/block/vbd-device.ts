// xend's side of a virtual block device: turning a parsed `disk = [...]` entry into the xenstore
// entries that make the backend and the guest's blkfront meet, waiting for the hotplug step, and
// taking the device down. Follows Xen 4.4.4's tools/python/xen/xend/server/DevController.py
// (createDevice, addStoreEntries, waitForDevice, destroyDevice, backendPath/frontendPath),
// server/blkif.py (getDeviceDetails), server/BlktapController.py (tap devices: backend class
// "tap", frontend still under device/vbd) and xm/create.py (configure_disks picks the class).

import type { DiskSpec } from './disk-spec.js';
import { randomUUID } from 'node:crypto';
import type { FrontendDomain } from '../../hypervisor/frontend_domain.js';
import { BlkBackend, XenbusState, type ImageOpener } from './xenbus-blk.js';
import { inTransaction, readOptional, rmQuiet, type XenstoreHandle } from '../xenbus.js';
import type { ServiceLogger } from '../logger.js';
import { errorMessage } from '../../hypervisor/errors.js';

/** io/protocols.h: the ring ABI xc_dom_x86.c reports for a 64-bit PV guest (native_protocol). */
const NATIVE_PROTOCOL_X86_64 = 'x86_64-abi';

/** DevConstants.DEVICE_CREATE_TIMEOUT: seconds xend waits for hotplug-status. */
export const DEVICE_CREATE_TIMEOUT_MS = 100_000;

export class VbdError extends Error {
  override readonly name = 'VbdError';
}

export type VbdDeviceClass = 'vbd' | 'tap' | 'tap2';

/** The parts of a parsed disk entry (disk-spec.ts) used here. */
export type VbdSpec = Pick<DiskSpec, 'type' | 'driver' | 'path' | 'vdev' | 'devType' | 'mode' | 'backend' | 'protocol' | 'xenstoreNode' | 'devid'>;

export interface VbdDevice {
  readonly devid: number;
  /** xend's device class: 'vbd', or 'tap'/'tap2' for tap: and tap2: disks (configure_disks). */
  readonly deviceClass: VbdDeviceClass;
  readonly backendDomid: number;
  readonly backendPath: string;
  readonly frontendPath: string;
  /** /vm/<uuid>/device/<class>/<devid>, when the domain has a /vm path. */
  readonly vmDevicePath: string | null;
}

export interface VbdCreateOptions {
  readonly domid: number;
  /** The domain's name (written as the backend's "domain" node). */
  readonly domainName: string;
  readonly spec: VbdSpec;
  /** /vm/<uuid> of the domain; xend records backend/frontend there (devicePath). */
  readonly vmPath?: string | null;
  /** The device's uuid (XendConfig gives every device one); generated when absent. */
  readonly uuid?: string;
  /** XendConfig's compatibility rule: the domain's first disk is bootable. */
  readonly bootable?: boolean;
  /** The ring ABI of the guest kernel (xc_dom native_protocol); x86_64-abi for tsxen's guests. */
  readonly nativeProtocol?: string | null;
}

/** Which controller xend used: configure_disks picks the class from the uname prefix. */
function deviceClassOf(spec: VbdSpec): VbdDeviceClass {
  if (spec.type === 'tap2') return 'tap2';
  if (spec.type === 'tap') return 'tap';
  return 'vbd';
}

/** blkif.getDeviceDetails's (typ, params): uname split at its first ':'; paths made absolute. */
function typeAndParams(spec: VbdSpec): { type: string; params: string } {
  if (spec.type === null || spec.path === null) return { type: '', params: '' };
  if (spec.type === 'tap' || spec.type === 'tap2') return { type: spec.type, params: `${spec.driver}:${spec.path}` };
  return { type: spec.type, params: spec.path };
}

function backendDomidOf(spec: VbdSpec): number {
  const b = spec.backend;
  if (b === null || b === '0' || b === 'Domain-0') return 0;
  // addStoreEntries: "Cannot configure device for unknown backend %s" for a domain it cannot
  // find; tsxen has no driver domains, so every other backend is unknown.
  throw new VbdError(`Cannot configure device for unknown backend ${b} (tsxen serves disks from Domain-0 only)`);
}

/**
 * DevController.createDevice for a disk: writes the backend directory (owned by the backend
 * domain, readable by the guest) and the frontend directory (owned by the guest, readable by the
 * backend) in one transaction, plus /vm/<uuid>/device/<class>/<devid> when vmPath is given.
 */
export function createVbdDevice(xs: XenstoreHandle, o: VbdCreateOptions): VbdDevice {
  const { spec, domid } = o;
  if (!Number.isInteger(domid) || domid <= 0 || domid >= 0x7ff0) {
    throw new VbdError(`cannot attach ${spec.vdev} to domain ${domid}: not a guest domain id`);
  }
  const backendDomid = backendDomidOf(spec);
  const cls = deviceClassOf(spec);
  const devid = spec.devid;
  // Blktap2Controller.backendPath puts tap2 disks under "vbd"; BlktapController's under "tap".
  const backClass = cls === 'tap2' ? 'vbd' : cls;
  const backendPath = `/local/domain/${backendDomid}/backend/${backClass}/${domid}/${devid}`;
  // BlktapController.frontendRoot: tap disks are still "vbd" devices to the guest.
  const frontendPath = `/local/domain/${domid}/device/vbd/${devid}`;
  const vmDevicePath = o.vmPath ? `${o.vmPath}/device/${cls}/${devid}` : null;
  const { type, params } = typeAndParams(spec);

  const front: Record<string, string> = {
    [spec.xenstoreNode]: String(devid),
    'device-type': spec.devType,
  };
  if (spec.protocol) front.protocol = spec.protocol;
  // addStoreEntries runs after getDeviceDetails: the native protocol wins over the config's.
  const native = o.nativeProtocol === undefined ? NATIVE_PROTOCOL_X86_64 : o.nativeProtocol;
  Object.assign(front, {
    backend: backendPath,
    'backend-id': String(backendDomid),
    state: String(XenbusState.Initialising),
  });
  if (native) front.protocol = native;

  const back: Record<string, string> = {
    dev: spec.vdev,
    type,
    params,
    mode: spec.mode,
    uuid: o.uuid ?? randomUUID(),
    bootable: o.bootable ? '1' : '0',
    domain: o.domainName,
    frontend: frontendPath,
    'frontend-id': String(domid),
    state: String(XenbusState.Initialising),
    online: '1',
  };
  if (cls === 'tap2') back['tapdisk-params'] = params;

  inTransaction(xs, (t) => {
    const taken =
      (vmDevicePath !== null && readOptional(xs, vmDevicePath, t) !== null) ||
      readOptional(xs, `${frontendPath}/backend`, t) !== null;
    if (taken) throw new VbdError(`Device ${spec.vdev} (${devid}, ${cls}) is already connected.`);
    rmQuiet(xs, frontendPath, t);
    rmQuiet(xs, backendPath, t);
    if (vmDevicePath) rmQuiet(xs, vmDevicePath, t);
    xs.mkdir(backendPath, t);
    xs.setPerms(backendPath, [`n${backendDomid}`, `r${domid}`], t);
    xs.mkdir(frontendPath, t);
    xs.setPerms(frontendPath, [`n${domid}`, `r${backendDomid}`], t);
    for (const [k, v] of Object.entries(front)) xs.write(`${frontendPath}/${k}`, v, t);
    for (const [k, v] of Object.entries(back)) xs.write(`${backendPath}/${k}`, v, t);
    if (vmDevicePath) {
      xs.mkdir(vmDevicePath, t);
      xs.write(`${vmDevicePath}/backend`, backendPath, t);
      xs.write(`${vmDevicePath}/backend-id`, String(backendDomid), t);
      xs.write(`${vmDevicePath}/frontend`, frontendPath, t);
      xs.write(`${vmDevicePath}/frontend-id`, String(domid), t);
    }
  });
  return { devid, deviceClass: cls, backendDomid, backendPath, frontendPath, vmDevicePath };
}

/**
 * DevController.waitForDevice: wait for the hotplug step's verdict in <backend>/hotplug-status.
 * On failure the device is taken down (destroyDevice) and the error carries xend's message.
 */
export function waitForVbdDevice(
  xs: XenstoreHandle,
  dev: VbdDevice,
  timeoutMs = DEVICE_CREATE_TIMEOUT_MS,
): Promise<void> {
  const what = `Device ${dev.devid} (${dev.deviceClass}) could not be connected.`;
  const token = `xend:wait:${dev.backendPath}`;
  const statusPath = `${dev.backendPath}/hotplug-status`;
  return new Promise<void>((resolve, reject) => {
    let done = false;
    const finish = (err: VbdError | null, destroy: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        xs.unwatch(statusPath, token);
      } catch {
        // The watch is gone with the connection; nothing left to undo.
      }
      if (destroy) {
        try {
          destroyVbdDevice(xs, dev, false);
        } catch {
          // Already gone: the error below is what matters.
        }
      }
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => finish(new VbdError(`${what} Hotplug scripts not working.`), true), timeoutMs);
    const check = (): void => {
      if (done) return;
      if (readOptional(xs, `${dev.backendPath}/frontend`) === null) {
        finish(new VbdError(`${what} Device not found.`), false);
        return;
      }
      const status = readOptional(xs, statusPath);
      if (status === null) return;
      const err = readOptional(xs, `${dev.backendPath}/hotplug-error`);
      if (status === 'error') finish(new VbdError(`${what} ${err ?? 'Backend device not found.'}`), true);
      else if (status === 'busy') finish(new VbdError(`${what}\n${err ?? 'Busy.'}`), true);
      else finish(null, false);
    };
    try {
      xs.watch(statusPath, token, check);
    } catch (e) {
      finish(new VbdError(`${what} ${errorMessage(e)}`), false);
    }
  });
}

/**
 * DevController.destroyDevice: online=0 then state=Closing (in that order: drivers watch the
 * state); with force the store entries go at once instead of after the frontend has closed.
 */
export function destroyVbdDevice(xs: XenstoreHandle, dev: VbdDevice, force: boolean): void {
  if (readOptional(xs, `${dev.backendPath}/state`) === null) {
    if (!force) throw new VbdError(`Device ${dev.devid} not connected`);
  } else {
    xs.write(`${dev.backendPath}/online`, '0');
    xs.write(`${dev.backendPath}/state`, String(XenbusState.Closing));
  }
  if (force) {
    rmQuiet(xs, dev.backendPath);
    rmQuiet(xs, dev.frontendPath);
    if (dev.vmDevicePath) rmQuiet(xs, dev.vmDevicePath);
  }
}

export interface AttachVbdOptions extends VbdCreateOptions {
  readonly xs: XenstoreHandle;
  readonly domain: FrontendDomain;
  readonly logger?: ServiceLogger;
  readonly openImage?: ImageOpener;
  readonly timeoutMs?: number;
}

/**
 * The whole of creating one disk for a domain: the store entries (xend), the backend and its
 * hotplug step (opening the image), and xend's wait for the verdict. On failure nothing is left
 * behind and the error is xend's "Device N (vbd) could not be connected. ..." message.
 */
export async function attachVbd(o: AttachVbdOptions): Promise<{ device: VbdDevice; backend: BlkBackend }> {
  const device = createVbdDevice(o.xs, o);
  let backend: BlkBackend;
  try {
    backend = new BlkBackend({
      xs: o.xs,
      domain: o.domain,
      backendPath: device.backendPath,
      backendDomid: device.backendDomid,
      logger: o.logger,
      openImage: o.openImage,
    });
    backend.start();
  } catch (e) {
    destroyVbdDevice(o.xs, device, true);
    throw e instanceof VbdError ? e : new VbdError(`Device ${device.devid} (${device.deviceClass}) could not be connected. ${errorMessage(e)}`);
  }
  try {
    await waitForVbdDevice(o.xs, device, o.timeoutMs);
  } catch (e) {
    await backend.shutdown();
    throw e;
  }
  return { device, backend };
}
