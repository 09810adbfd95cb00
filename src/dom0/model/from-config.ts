// What a domain's configuration alone says of it, in DomainInfo's terms: shared by a running
// domain's record (the toolstack) and a managed domain that is not running (xend), which
// XendConfig likewise fills from the same config before the domain has any runtime state.

import type { DomainConfig } from './config.js';
import type { DomainInfo } from './info.js';

/** The fields of DomainInfo that come straight from the config. */
export type ConfigFields = Pick<DomainInfo,
  | 'memory' | 'maxmem' | 'vcpus' | 'vcpuAvail' | 'cpus' | 'cpuWeight' | 'cpuCap' | 'poolName'
  | 'onPoweroff' | 'onReboot' | 'onCrash' | 'bootloader' | 'bootloaderArgs' | 'description'
  | 'shadowMemory' | 'features' | 'onXendStart' | 'onXendStop'>;

export function configFields(c: DomainConfig): ConfigFields {
  return {
    memory: c.memory,
    maxmem: c.maxmem,
    vcpus: c.maxvcpus,
    vcpuAvail: Number(c.vcpuAvail),
    cpus: c.cpus,
    // XendConfig's defaults: credit scheduler weight 256, no cap.
    cpuWeight: c.cpuWeight ?? 256,
    cpuCap: c.cpuCap ?? 0,
    poolName: c.pool,
    onPoweroff: c.onPoweroff,
    onReboot: c.onReboot,
    onCrash: c.onCrash,
    bootloader: c.bootloader ?? '',
    bootloaderArgs: c.bootloader !== null ? c.bootargs : '',
    description: c.description,
    shadowMemory: c.shadowMemory,
    features: c.features,
    onXendStart: c.onXendStart,
    onXendStop: c.onXendStop,
  };
}

/** The `(image (linux ...))` kernel fields. */
export function imageFields(c: DomainConfig): Pick<DomainInfo['image'], 'kernel' | 'ramdisk' | 'args' | 'superpages'> {
  return { kernel: c.kernel, ramdisk: c.ramdisk ?? '', args: c.cmdline, superpages: c.superpages };
}
