// xm's output formats: pure functions from typed domain/host facts to the exact text.
export * from '../../dom0/model/info.js';
export { show, prettyprint, sxpFloat, atomp, type Sxp, type SxpFloat } from './sxp.js';
export { domainSxpr, deviceSxpr, imageSxpr, stateString, PLATFORM_KEY_ORDER, DEVICE_CLASS_ORDER } from './domain-sxpr.js';
export {
  formatList,
  formatListLong,
  formatVcpuList,
  formatUptime,
  formatInfo,
  formatBlockList,
  formatNetworkList,
  type UptimeOptions,
} from './listing.js';
export * from './errors.js';
