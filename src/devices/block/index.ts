// The block backend: blkif rings served from raw/qcow2 images, and xend's device plumbing.
//
//   const { device, backend } = await attachVbd({ xs, domain, domid, domainName, spec, vmPath });
//   ...  // the guest's blkfront finds device/vbd/<devid> and connects
//   destroyVbdDevice(xs, device, false);  // xm block-detach: the frontend closes, the backend
//   await backend.whenRemoved;             // drains, unmaps, closes the image, cleans the store
//
// createVbdDevice / waitForVbdDevice / BlkBackend are the separate steps attachVbd combines.

export * from './blkif.js';
export { BlkifBackRing, RingError } from './ring.js';
export { MAX_INDIRECT_SEGMENTS, XenBlkifRing, type BlkifRingOptions, type BlkifRingStats } from './blkback.js';
export {
  BlkBackend, BlkBackendError, MAX_RING_PAGE_ORDER, XenbusState, type BlkBackendOptions, type ImageOpener, type ImageRequest,
} from './xenbus-blk.js';
export {
  DEVICE_CREATE_TIMEOUT_MS, VbdError, attachVbd, createVbdDevice, destroyVbdDevice, waitForVbdDevice,
  type AttachVbdOptions, type VbdCreateOptions, type VbdDevice, type VbdDeviceClass, type VbdSpec,
} from './vbd-device.js';
export type { XenstoreHandle } from '../xenbus.js';
export { silentLogger, type ServiceLogger } from '../logger.js';
