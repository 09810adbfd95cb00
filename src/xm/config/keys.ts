// Every variable `xm create` accepted: the gopts.var(...) declarations of
// tools/python/xen/xm/create.py (Xen 4.4.4), with the setter that converted command-line
// VAR=VAL values (set_value, set_int, set_long, set_bool, append_value) and what tsxen does
// with each key:
//   pv          used for a PV domain
//   ignored     accepted and ignored: HVM/device-model only, or without effect in tsxen
//   unsupported applies to PV domains but tsxen does not have it: refused unless left at
//               its default value

export type KeyKind = 'value' | 'int' | 'long' | 'bool' | 'list';
export type KeyUse = 'pv' | 'ignored' | 'unsupported';

export interface KeyDef {
  readonly kind: KeyKind;
  readonly use: KeyUse;
  /** For 'unsupported' keys: what tsxen lacks. */
  readonly why?: string;
}

const pv = (kind: KeyKind): KeyDef => ({ kind, use: 'pv' });
const ign = (kind: KeyKind): KeyDef => ({ kind, use: 'ignored' });
const uns = (kind: KeyKind, why: string): KeyDef => ({ kind, use: 'unsupported', why });

export const XM_KEYS: Readonly<Record<string, KeyDef>> = {
  vncpasswd: ign('value'),
  vncviewer: ign('bool'),
  vncconsole: ign('bool'),
  name: pv('value'),
  bootloader: pv('value'),
  bootargs: pv('value'),
  bootentry: ign('value'),
  kernel: pv('value'),
  ramdisk: pv('value'),
  loader: ign('value'),
  features: pv('value'),
  builder: pv('value'),
  memory: pv('int'),
  maxmem: pv('int'),
  shadow_memory: pv('int'),
  memory_sharing: pv('bool'),
  cpu: pv('int'),
  cpus: pv('value'),
  rtc_timeoffset: ign('int'),
  pae: ign('int'),
  hpet: ign('int'),
  timer_mode: ign('int'),
  tsc_mode: pv('int'),
  nomigrate: pv('int'),
  vpt_align: ign('int'),
  viridian: ign('int'),
  acpi: ign('int'),
  apic: ign('int'),
  vcpus: pv('int'),
  vcpu_avail: pv('long'),
  vhpt: ign('int'),
  cpu_cap: pv('int'),
  cpu_weight: pv('int'),
  restart: pv('value'),
  on_poweroff: pv('value'),
  on_reboot: pv('value'),
  on_crash: pv('value'),
  blkif: uns('bool', 'driver domains (a domU serving block devices) are not supported'),
  netif: uns('bool', 'driver domains (a domU serving network interfaces) are not supported'),
  disk: pv('list'),
  pci: uns('list', 'PCI passthrough is not supported'),
  vscsi: uns('list', 'SCSI passthrough (vscsi) is not supported'),
  vusb: uns('list', 'virtual USB host controllers are not supported'),
  ioports: uns('list', 'I/O port passthrough is not supported'),
  irq: uns('list', 'IRQ passthrough is not supported'),
  vfb: uns('list', 'the virtual framebuffer (vfb/vkbd) is not supported'),
  vif: pv('list'),
  vif2: uns('list', 'netchannel2 interfaces (vif2) are not supported'),
  access_control: uns('list', 'XSM/ACM security labels are not supported'),
  nics: pv('int'),
  root: pv('value'),
  extra: pv('value'),
  ip: pv('value'),
  gateway: pv('value'),
  netmask: pv('value'),
  hostname: pv('value'),
  interface: pv('value'),
  dhcp: pv('value'),
  nfs_server: pv('value'),
  nfs_root: pv('value'),
  device_model: ign('value'),
  fda: ign('value'),
  fdb: ign('value'),
  parallel: ign('value'),
  serial: ign('value'),
  monitor: ign('bool'),
  monitor_path: ign('value'),
  localtime: pv('bool'),
  keymap: ign('value'),
  usb: ign('bool'),
  usbdevice: ign('value'),
  description: pv('value'),
  guest_os_type: ign('value'),
  stdvga: ign('bool'),
  isa: ign('bool'),
  boot: ign('value'),
  nographic: ign('bool'),
  soundhw: ign('value'),
  vnc: ign('value'),
  vncdisplay: ign('value'),
  vnclisten: ign('value'),
  vncunused: ign('bool'),
  videoram: pv('int'),
  sdl: ign('value'),
  gfx_passthru: ign('value'),
  opengl: ign('value'),
  display: ign('value'),
  xauthority: ign('value'),
  uuid: pv('value'),
  on_xend_start: pv('value'),
  on_xend_stop: pv('value'),
  target: uns('int', 'device-model target domains (stub domains) are not supported'),
  hap: ign('int'),
  nestedhvm: ign('int'),
  s3_integrity: ign('int'),
  oos: ign('int'),
  cpuid: ign('list'),
  cpuid_check: ign('list'),
  machine_address_size: ign('int'),
  suppress_spurious_page_faults: ign('bool'),
  pool: pv('value'),
  pci_msitranslate: ign('int'),
  pci_power_mgmt: ign('int'),
  xen_platform_pci: ign('int'),
  superpages: pv('int'),
  // Not declared with gopts.var, yet honoured from config files: make_config reads
  // vals.maxvcpus and configure_hvm vals.xen_extended_power_mgmt via hasattr/__dict__.
  maxvcpus: pv('int'),
  xen_extended_power_mgmt: ign('int'),
};
