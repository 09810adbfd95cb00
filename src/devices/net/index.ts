// dom0's virtual network: bridges, dom0's own interface, netback and xend's vif nodes.
export { Bridge, BridgePort, Bridges, BR_DEFAULT_AGEING_TIME_MS, checkIfName, type BridgeOptions, type BridgePortDevice, type FdbEntry, type PortStats } from './bridge.js';
export { Dom0Interface, DOM0_DEFAULT_ADDRESS, DOM0_DEFAULT_PREFIX, IP_DEFAULT_TTL, type Dom0InterfaceOptions, type Dom0Stats } from './dom0-iface.js';
export { silentLogger, type ServiceLogger } from '../logger.js';
export { NetbackError, NetbackVif, type NetbackVifOptions, type VifConnectParams, type VifRate, type VifStats } from './netback.js';
export { PcapWriter, LINKTYPE_ETHERNET, PCAP_DEFAULT_SNAPLEN } from './pcap.js';
export {
  allocateVifDeviceId, createVifDevice, destroyVifDevice, randomVifMac, vifDeviceName, waitForVifHotplug, NETWORK_SCRIPT_DIR,
  VifDeviceError, XEN_IO_PROTO_ABI_X86_64, type CreateVifOptions, type HotplugResult, type VifDevice, type VifDeviceConfig,
} from './vif-device.js';
export { NetbackDriver, NETBACK_FEATURES, VifBackend, VIF_BRIDGE_SCRIPT, type NetbackDriverOptions } from './xenbus-net.js';
export { XenbusState, xenbusStateName, type XenstoreHandle } from '../xenbus.js';

import { Bridges, type BridgeOptions } from './bridge.js';
import { Dom0Interface } from './dom0-iface.js';
import type { ServiceLogger } from '../logger.js';

export interface HostNetwork {
  bridges: Bridges;
  dom0: Dom0Interface;
}

/**
 * The network xend starts with, as the walkthrough's host had it: bridge xenbr0 carrying
 * dom0's address (172.16.31.1/16 unless told otherwise).
 */
export function createHostNetwork(opts: { bridge?: string; address?: string; prefixLength?: number; mac?: string; logger?: ServiceLogger } & BridgeOptions = {}): HostNetwork {
  const bridges = new Bridges({ logger: opts.logger, now: opts.now, ageingTimeMs: opts.ageingTimeMs });
  const name = opts.bridge ?? 'xenbr0';
  const br = bridges.create(name);
  const dom0 = new Dom0Interface({ name, address: opts.address, prefixLength: opts.prefixLength, mac: opts.mac, logger: opts.logger });
  br.attach(dom0);
  return { bridges, dom0 };
}
