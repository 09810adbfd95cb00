// The `(domain ...)` S-expression xend sent xm for `xm list --long`, element for element in
// the order XendConfig.to_sxp(legacy_only=True) built it.
// Reference: tools/python/xen/xend/XendConfig.py (to_sxp, image_sxpr, notes_sxp,
// _get_old_state_string), server/DevController.py (configuration), server/blkif.py,
// server/netif.py and server/ConsoleController.py (getDeviceConfiguration), XendDevices.py,
// Xen 4.4.4. Where xend iterated a dict, py2DictOrder reproduces CPython 2.7's order.

import { py2DictOrder } from './pycompat.js';
import { sxpFloat, type Sxp } from './sxp.js';
import type {
  ConsoleConfig,
  DeviceConfig,
  DomainInfo,
  DomainStateFlags,
  ImageInfo,
  PowerState,
  VbdConfig,
  VifConfig,
} from '../../dom0/model/info.js';

/**
 * XENAPI_CFG_TO_LEGACY_CFG.items() order under CPython 2.7 (the dict display of 11 entries in
 * XendConfig.py; checked against python2.7 and py2DictOrder).
 */
const LEGACY_CFG_ORDER = [
  'pool_name',
  'bootloader',
  'vcpus',
  'cpus',
  'on_poweroff',
  'description',
  'on_crash',
  'uuid',
  'bootloader_args',
  'name',
  'on_reboot',
] as const;

/** XENAPI_PLATFORM_CFG_TYPES.keys() order under CPython 2.7 (49 entries, XendConfig.py). */
export const PLATFORM_KEY_ORDER: readonly string[] = [
  'videoram', 'hpet', 'monitor_path', 'stdvga', 'vnclisten', 'loader', 'xen_platform_pci',
  'monitor', 'opengl', 'nestedhvm', 'rtc_timeoffset', 'parallel', 'pci', 'hap', 'localtime',
  'timer_mode', 'xen_extended_power_mgmt', 'vncdisplay', 'pci_msitranslate', 'oos', 'apic',
  'sdl', 'fda', 'fdb', 'usbdevice', 'display', 'vpt_align', 'vncconsole', 'serial', 'vncunused',
  'soundhw', 'gfx_passthru', 'boot', 'vncpasswd', 'pae', 'vhpt', 'viridian', 'acpi', 'vnc',
  'nographic', 'nomigrate', 'usb', 'tsc_mode', 'guest_os_type', 'device_model', 'keymap',
  'pci_power_mgmt', 'xauthority', 'isa',
];

/** XendDevices.valid_devices(): controllers.keys() order under CPython 2.7. */
export const DEVICE_CLASS_ORDER: readonly string[] = [
  'tap2', 'vif', 'vkbd', 'ioports', 'tap', 'vif2', 'console', 'vscsi', 'vbd', 'irq', 'vfb', 'pci', 'vusb',
];

/** XEN_ELFNOTE_* type numbers (xen/include/public/elfnote.h): libxc's elf_notes[] index. */
const ELFNOTE_TYPE: Readonly<Record<string, number>> = {
  ENTRY: 1,
  HYPERCALL_PAGE: 2,
  VIRT_BASE: 3,
  PADDR_OFFSET: 4,
  XEN_VERSION: 5,
  GUEST_OS: 6,
  GUEST_VERSION: 7,
  LOADER: 8,
  PAE_MODE: 9,
  FEATURES: 10,
  BSD_SYMTAB: 11,
  HV_START_LOW: 12,
  L1_MFN_VALID: 13,
  SUSPEND_CANCEL: 14,
  INIT_P2M: 15,
  MOD_START_PFN: 16,
  SUPPORTED_FEATURES: 17,
};

const POWER_STATES: readonly PowerState[] = [
  'halted', 'paused', 'running', 'suspended', 'shuttingdown', 'crashed', 'unknown',
];

/** _get_old_state_string(): one letter per CONFIG_OLD_DOM_STATES flag, '-' when off. */
export function stateString(s: DomainStateFlags): string {
  return (
    (s.running ? 'r' : '-') +
    (s.blocked ? 'b' : '-') +
    (s.paused ? 'p' : '-') +
    (s.shutdown ? 's' : '-') +
    (s.crashed ? 'c' : '-') +
    (s.dying ? 'd' : '-')
  );
}

/** Items of a dict whose keys were inserted in `inserted` order, as dict.items() gives them. */
function dictItems(inserted: readonly (readonly [string, Sxp | null])[]): [string, Sxp][] {
  const byKey = new Map(inserted);
  const out: [string, Sxp][] = [];
  for (const k of py2DictOrder(inserted.map(([key]) => key))) {
    const v = byKey.get(k);
    // DevController.configuration() skips None values.
    if (v !== null && v !== undefined) out.push([k, v]);
  }
  return out;
}

function vbdSxpr(d: VbdConfig): Sxp {
  // blkif.getDeviceConfiguration: backend first (DevController), then what is present.
  const ins: [string, Sxp | null][] = [['backend', d.backend]];
  if (d.dev) ins.push(['dev', d.dev]);
  ins.push(['uname', d.uname]);
  if (d.mode) ins.push(['mode', d.mode]);
  if (d.uuid) ins.push(['uuid', d.uuid]);
  if (d.bootable !== undefined) ins.push(['bootable', d.bootable]);
  if (d.protocol) ins.push(['protocol', d.protocol]);
  const out: Sxp[] = [d.class, ...dictItems(ins)];
  // to_sxp adds what the controller did not report from the stored config.
  if (d.bootable === undefined) out.push(['bootable', 0]);
  out.push(['VDI', d.vdi ?? '']);
  return out;
}

function vifSxpr(d: VifConfig): Sxp {
  const ins: [string, Sxp | null][] = [['backend', d.backend]];
  const opt: [string, string | undefined][] = [
    ['script', d.script],
    ['ip', d.ip],
    ['bridge', d.bridge],
    ['mac', d.mac],
    ['type', d.type],
    ['vifname', d.vifname],
    ['rate', d.rate],
    ['uuid', d.uuid],
    ['model', d.model],
    ['accel', d.accel],
    ['security_label', d.securityLabel],
  ];
  for (const [k, v] of opt) if (v) ins.push([k, v]);
  return ['vif', ...dictItems(ins)];
}

function consoleSxpr(d: ConsoleConfig): Sxp {
  // dict(zip(valid_cfg, values)), then a second dict of its non-None items.
  const first = dictItems([
    ['location', d.location ?? null],
    ['uuid', d.uuid ?? null],
    ['protocol', d.protocol ?? null],
  ]);
  return ['console', ...dictItems(first)];
}

export function deviceSxpr(d: DeviceConfig): Sxp {
  switch (d.class) {
    case 'vbd':
    case 'tap':
    case 'tap2':
      return vbdSxpr(d);
    case 'vif':
      return vifSxpr(d);
    case 'console':
      return consoleSxpr(d);
  }
}

/** image_sxpr() for a PV ('linux') domain. */
export function imageSxpr(img: ImageInfo): Sxp {
  const linux: Sxp[] = ['linux', ['kernel', img.kernel]];
  if (img.ramdisk) linux.push(['ramdisk', img.ramdisk]);
  if (img.args) linux.push(['args', img.args]);
  linux.push(['superpages', img.superpages]);
  for (const key of Object.keys(img.platform)) {
    if (!PLATFORM_KEY_ORDER.includes(key)) {
      throw new Error(`image platform key '${key}' is not one of xend's XENAPI_PLATFORM_CFG_TYPES`);
    }
  }
  for (const key of PLATFORM_KEY_ORDER) {
    const v = img.platform[key];
    if (v !== undefined) linux.push([key, v]);
  }
  if (img.notes.length > 0) {
    // libxc filled the dict by walking elf_notes[] in XEN_ELFNOTE_* type order.
    const sorted = img.notes.map((n) => [noteType(n[0]), n] as const).sort((a, b) => a[0] - b[0]).map(([, n]) => n);
    // notes_sxp(): [k, str(v)] over the dict libxc filled in note-type order.
    const items = dictItems(sorted.map(([k, v]) => [k, String(v)]));
    linux.push(['notes', ...items]);
  }
  return linux;
}

function noteType(name: string): number {
  const t = ELFNOTE_TYPE[name];
  if (t === undefined) throw new Error(`unknown Xen ELF note '${name}'`);
  return t;
}

/** XendConfig.to_sxp(domain, legacy_only=True): what `xm list --long` prints per domain. */
export function domainSxpr(d: DomainInfo): Sxp {
  const s: Sxp[] = ['domain'];
  if (d.domid !== null) s.push(['domid', d.domid]);
  s.push(['cpu_weight', d.cpuWeight], ['cpu_cap', d.cpuCap]);

  const legacy: Record<(typeof LEGACY_CFG_ORDER)[number], Sxp> = {
    pool_name: d.poolName,
    bootloader: d.bootloader,
    vcpus: d.vcpus,
    cpus: d.cpus.map((c) => [...c]),
    on_poweroff: d.onPoweroff,
    description: d.description,
    on_crash: d.onCrash,
    uuid: d.uuid,
    bootloader_args: d.bootloaderArgs,
    name: d.name,
    on_reboot: d.onReboot,
  };
  for (const k of LEGACY_CFG_ORDER) {
    const v = legacy[k];
    // "not in (None, [])": an empty list is left out, empty strings are not.
    if (Array.isArray(v) && v.length === 0) continue;
    s.push([k, v]);
  }

  s.push(['maxmem', d.maxmem], ['memory', d.memory]);

  // LEGACY_UNSUPPORTED_BY_XENAPI_CFG, skipping domid, uuid and cpus as to_sxp does.
  s.push(['shadow_memory', d.shadowMemory]);
  if (d.vcpuAvail !== undefined) s.push(['vcpu_avail', d.vcpuAvail]);
  s.push(['features', d.features], ['on_xend_start', d.onXendStart], ['on_xend_stop', d.onXendStop]);
  if (d.startTime !== undefined) s.push(['start_time', sxpFloat(d.startTime)]);
  // cpu_time comes from xc.domain_getinfo, so only a running domain has it.
  if (d.domid !== null) s.push(['cpu_time', sxpFloat(d.cpuTime)]);
  if (d.onlineVcpus !== undefined) s.push(['online_vcpus', d.onlineVcpus]);

  s.push(['image', imageSxpr(d.image)]);
  s.push(['status', POWER_STATES.indexOf(d.status)]);
  if (d.domid !== null) s.push(['state', stateString(d.state)]);
  if (d.storeMfn) s.push(['store_mfn', d.storeMfn]);
  if (d.consoleMfn) s.push(['console_mfn', d.consoleMfn]);

  for (const cls of DEVICE_CLASS_ORDER) {
    for (const dev of d.devices) if (dev.class === cls) s.push(['device', deviceSxpr(dev)]);
  }
  return s;
}
