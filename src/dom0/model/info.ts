// The domain model: the facts xend knows about domains, their devices and the host, in the
// units and shapes xend handed to xm in Xen 4.4 (memory in MiB, times in seconds, xenstore
// values as strings). The toolstack and xend fill these; src/xm/format turns them into the
// exact text xm printed.

/** A Python float on the wire: it prints with str(float), unlike an int. */
export interface SxpFloat {
  readonly float: number;
}

/** What xm received from xend over XML-RPC: strings, ints, floats and lists of them. */
export type Sxp = string | number | SxpFloat | readonly Sxp[];

/** xend's restart actions (XendConfig.CONFIG_RESTART_MODES). */
export type RestartAction =
  | 'destroy'
  | 'restart'
  | 'preserve'
  | 'rename-restart'
  | 'coredump-destroy'
  | 'coredump-restart';

/** The six flags behind xm's "r-----" state column (XendConfig.CONFIG_OLD_DOM_STATES). */
export interface DomainStateFlags {
  readonly running: boolean;
  readonly blocked: boolean;
  readonly paused: boolean;
  readonly shutdown: boolean;
  readonly crashed: boolean;
  readonly dying: boolean;
}

/**
 * XendDomainInfo._stateGet(): the Xen-API power state, printed as its index in
 * XendAPIConstants.XEN_API_VM_POWER_STATE in `(status N)`.
 */
export type PowerState = 'halted' | 'paused' | 'running' | 'suspended' | 'shuttingdown' | 'crashed' | 'unknown';

/** The `(image (linux ...))` part of `xm list --long` (XendConfig.image_sxpr). */
export interface ImageInfo {
  /** PV_kernel: the kernel path ('' for a bootloader domain). */
  readonly kernel: string;
  /** PV_ramdisk ('' when none; then it is left out). */
  readonly ramdisk: string;
  /** PV_args: the full kernel command line ('' when none; then it is left out). */
  readonly args: string;
  readonly superpages: number;
  /**
   * The domain's 'platform' dict. For a PV domain created by xm these are what
   * create.configure_image put in the image: videoram (4), tsc_mode (0), nomigrate (0),
   * plus pci ([]) and localtime when set. Keys must be XENAPI_PLATFORM_CFG_TYPES names.
   */
  readonly platform: Readonly<Record<string, Sxp>>;
  /**
   * The guest kernel's Xen ELF notes by XEN_ELFNOTE_* name, numbers as bigint (they are
   * 64-bit), e.g. ['ENTRY', 18446744071589425664n]. Empty when there are none.
   */
  readonly notes: readonly (readonly [string, string | bigint])[];
}

/** A block device as its controller reported it (blkif.getDeviceConfiguration). */
export interface VbdConfig {
  readonly class: 'vbd' | 'tap' | 'tap2';
  /** Backend domain id. */
  readonly backend: number;
  /** Backend 'dev' node plus ':' + frontend 'device-type' when present, e.g. 'xvda:disk'. */
  readonly dev: string | null;
  /** type + ':' + params, e.g. 'file:/xen/images/busybox.img'; null for an empty cdrom. */
  readonly uname: string | null;
  readonly mode?: string;
  readonly uuid?: string;
  readonly bootable?: number;
  readonly protocol?: string;
  /** XendConfig keeps a Xen-API VDI reference per disk; '' when there is none. */
  readonly vdi?: string;
}

/** A network interface as netif.getDeviceConfiguration reported it (backend nodes). */
export interface VifConfig {
  readonly class: 'vif';
  readonly backend: number;
  readonly script?: string;
  readonly ip?: string;
  readonly bridge?: string;
  readonly mac?: string;
  readonly type?: string;
  readonly vifname?: string;
  readonly rate?: string;
  readonly uuid?: string;
  readonly model?: string;
  readonly accel?: string;
  readonly securityLabel?: string;
}

/** The console pseudo-device (ConsoleController). */
export interface ConsoleConfig {
  readonly class: 'console';
  readonly location?: string;
  readonly uuid?: string;
  readonly protocol?: string;
}

export type DeviceConfig = VbdConfig | VifConfig | ConsoleConfig;

/** One VCPU as xc.vcpu_getinfo reported it (XendDomainInfo.getVCPUInfo). */
export interface VcpuInfo {
  readonly number: number;
  readonly online: boolean;
  readonly blocked: boolean;
  readonly running: boolean;
  /** Seconds of CPU time. */
  readonly cpuTime: number;
  /** Physical CPU it runs on, -1 when the domain is not running. */
  readonly cpu: number;
  /** Physical CPUs it may run on. */
  readonly cpumap: readonly number[];
}

/** Everything xm printed about one domain. */
export interface DomainInfo {
  /** null for a managed domain that is not running (xm printed an empty ID). */
  readonly domid: number | null;
  readonly name: string;
  readonly uuid: string;
  /** memory_dynamic_max, MiB: xm list's "Mem". */
  readonly memory: number;
  /** memory_static_max, MiB. */
  readonly maxmem: number;
  /** VCPUs_max. */
  readonly vcpus: number;
  /** VCPUs online while the domain runs; xm list shows this when present. */
  readonly onlineVcpus?: number;
  /** Bitmap of VCPUs the guest may use. */
  readonly vcpuAvail?: number;
  /** Per-VCPU affinity, one list per VCPU; [] means any CPU. */
  readonly cpus: readonly (readonly number[])[];
  readonly cpuWeight: number;
  readonly cpuCap: number;
  readonly poolName: string;
  readonly onPoweroff: RestartAction;
  readonly onReboot: RestartAction;
  readonly onCrash: RestartAction;
  readonly bootloader: string;
  readonly bootloaderArgs: string;
  readonly description: string;
  readonly shadowMemory: number;
  readonly features: string;
  readonly onXendStart: 'ignore' | 'start';
  readonly onXendStop: 'ignore' | 'shutdown' | 'suspend';
  /** Unix time (seconds, fractional) the domain started; absent when not running. */
  readonly startTime?: number;
  /** Seconds of CPU time, all VCPUs. */
  readonly cpuTime: number;
  readonly image: ImageInfo;
  readonly status: PowerState;
  readonly state: DomainStateFlags;
  readonly storeMfn?: number;
  readonly consoleMfn?: number;
  /** Devices as their controllers report them, in xenstore device-id order per class. */
  readonly devices: readonly DeviceConfig[];
  /** Per-VCPU detail for `xm vcpu-list`; absent when the domain is not running. */
  readonly vcpuInfo?: readonly VcpuInfo[];
}

/** A xenstore node as xstransact.ListRecursive returns it: a value, or its children. */
export type XsListing = readonly (readonly [string, string | XsListing])[];

/**
 * A frontend device directory as `xm block-list` / `xm network-list` read it
 * (getDeviceSxprs: xstransact.ListRecursive of /local/domain/N/device/vbd|vif): the device
 * id and the directory's nodes in listing order.
 */
export interface FrontendDevice {
  readonly devid: number;
  readonly nodes: XsListing;
}

/** `xm info`: XendNode.info() for a PV host, plus tsxen's xenstored socket. */
export interface HostInfo {
  readonly system: string;
  readonly host: string;
  readonly release: string;
  readonly version: string;
  readonly machine: string;
  readonly nr_cpus: number;
  readonly nr_nodes: number;
  readonly cores_per_socket: number;
  readonly threads_per_core: number;
  readonly cpu_mhz: number;
  readonly hw_caps: string;
  readonly virt_caps: string;
  /** MiB. */
  readonly total_memory: number;
  /** MiB. */
  readonly free_memory: number;
  readonly free_cpus: number;
  readonly xen_major: number;
  readonly xen_minor: number;
  readonly xen_extra: string;
  readonly xen_caps: string;
  readonly xen_scheduler: string;
  readonly xen_pagesize: number;
  readonly platform_params: string;
  readonly xen_changeset: string;
  readonly xen_commandline: string;
  readonly cc_compiler: string;
  readonly cc_compile_by: string;
  readonly cc_compile_domain: string;
  readonly cc_compile_date: string;
  readonly xend_config_format: number;
  /** Path of our xenstored's unix socket (tsxen's own line). */
  readonly xenstored_socket: string;
}
