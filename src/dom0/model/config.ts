// A domain's configuration as the toolstack builds it: what xm's config file (or xl's, or a
// restored domain's record) says, checked and typed. The parsers live with the command lines
// (src/xm/config); this is the contract between them and dom0.

import type { DiskSpec } from '../../devices/block/disk-spec.js';
import type { VifSpec } from '../../devices/net/vif-spec.js';
import type { RestartAction } from './info.js';

export interface DomainConfig {
  /** The config file read. */
  readonly file: string;
  readonly name: string;
  readonly builder: 'linux';
  /**
   * Absolute path of the kernel image; with a bootloader, the path inside the guest's disk
   * that pygrub is to boot instead of its menu's (--kernel), or '' for the menu's choice.
   */
  readonly kernel: string;
  /** Absolute path of the initial ramdisk (with a bootloader: inside the guest), or null. */
  readonly ramdisk: string | null;
  /** The PV bootloader (pygrub, its path as xm shows it), or null for kernel= and ramdisk=. */
  readonly bootloader: string | null;
  /** bootloader_args: pygrub's own options (xm's bootargs; '-q' when not given). */
  readonly bootargs: string;
  /** root= as given (without 'root='), or null. */
  readonly root: string | null;
  readonly extra: string;
  /** The guest kernel command line as xend assembled it from root, ip and extra. */
  readonly cmdline: string;
  /** MiB at start (memory_dynamic_max). */
  readonly memory: number;
  /** MiB the domain may grow to (memory_static_max). */
  readonly maxmem: number;
  /** VCPUs_max: VCPUs the domain is built with. */
  readonly maxvcpus: number;
  /** VCPUs online at start. */
  readonly vcpus: number;
  /** Bitmap of VCPUs the guest may bring online. */
  readonly vcpuAvail: bigint;
  /** Affinity per VCPU (maxvcpus entries); [] means any CPU. */
  readonly cpus: readonly (readonly number[])[];
  readonly cpuCap: number | null;
  readonly cpuWeight: number | null;
  readonly onPoweroff: RestartAction;
  readonly onReboot: RestartAction;
  readonly onCrash: RestartAction;
  readonly onXendStart: 'ignore' | 'start';
  readonly onXendStop: 'ignore' | 'shutdown' | 'suspend';
  /** Canonical lower-case UUID, or null for "generate one". */
  readonly uuid: string | null;
  readonly localtime: boolean;
  readonly disk: readonly DiskSpec[];
  readonly vif: readonly VifSpec[];
  readonly features: string;
  readonly description: string;
  readonly shadowMemory: number;
  readonly tscMode: number;
  readonly nomigrate: number;
  readonly superpages: number;
  readonly videoram: number;
  /** CPU pool; 'Pool-0' is the only one. */
  readonly pool: string;
  /** Keys that were given but do not apply to a tsxen PV domain, in the order seen. */
  readonly ignored: readonly string[];
}
