// The Xen public ABI structures tsxen shares with guests (x86-64), from xen/include/public:
// xen.h (start_info, shared_info, vcpu_info, vcpu_time_info), arch-x86/xen.h and
// arch-x86/xen-x86_64.h (arch_vcpu_info, arch_shared_info), grant_table.h (grant_entry_v1),
// io/console.h and io/xs_wire.h (ring interfaces). Checked against Debian's libxen-dev headers.

import { struct, union } from './layout.js';

export const vcpu_time_info = struct('vcpu_time_info', [
  ['version', 'u32'],
  ['pad0', 'u32'],
  ['tsc_timestamp', 'u64'],
  ['system_time', 'u64'],
  ['tsc_to_system_mul', 'u32'],
  ['tsc_shift', 'i8'],
  ['flags', 'u8'],
  ['pad1', 'u8', 2],
]);

export const arch_vcpu_info = struct('arch_vcpu_info', [
  ['cr2', 'u64'],
  ['pad', 'u64'],
]);

export const vcpu_info = struct('vcpu_info', [
  ['evtchn_upcall_pending', 'u8'],
  ['evtchn_upcall_mask', 'u8'],
  ['evtchn_pending_sel', 'u64'],
  ['arch', arch_vcpu_info],
  ['time', vcpu_time_info],
]);

export const XEN_LEGACY_MAX_VCPUS = 32;

export const arch_shared_info = struct('arch_shared_info', [
  ['max_pfn', 'u64'],
  ['pfn_to_mfn_frame_list_list', 'u64'],
  ['nmi_reason', 'u64'],
  ['p2m_cr3', 'u64'],
  ['p2m_vaddr', 'u64'],
  ['p2m_generation', 'u64'],
]);

export const shared_info = struct('shared_info', [
  ['vcpu_info', vcpu_info, XEN_LEGACY_MAX_VCPUS],
  ['evtchn_pending', 'u64', 64],
  ['evtchn_mask', 'u64', 64],
  ['wc_version', 'u32'],
  ['wc_sec', 'u32'],
  ['wc_nsec', 'u32'],
  ['wc_sec_hi', 'u32'],
  ['arch', arch_shared_info],
]);

export const MAX_GUEST_CMDLINE = 1024;

export const start_info_console = union('start_info.console', [
  ['domU', struct('console.domU', [['mfn', 'u64'], ['evtchn', 'u32']])],
  ['dom0', struct('console.dom0', [['info_off', 'u32'], ['info_size', 'u32']])],
]);

export const start_info = struct('start_info', [
  ['magic', 'u8', 32],
  ['nr_pages', 'u64'],
  ['shared_info', 'u64'],
  ['flags', 'u32'],
  ['store_mfn', 'u64'],
  ['store_evtchn', 'u32'],
  ['console', start_info_console],
  ['pt_base', 'u64'],
  ['nr_pt_frames', 'u64'],
  ['mfn_list', 'u64'],
  ['mod_start', 'u64'],
  ['mod_len', 'u64'],
  ['cmd_line', 'i8', MAX_GUEST_CMDLINE],
  ['first_p2m_pfn', 'u64'],
  ['nr_p2m_frames', 'u64'],
]);

export const grant_entry_v1 = struct('grant_entry_v1', [
  ['flags', 'u16'],
  ['domid', 'u16'],
  ['frame', 'u32'],
]);

/** grant_table.h GTF_* flags. */
export const GTF = {
  invalid: 0,
  permit_access: 1,
  accept_transfer: 2,
  transfer_committed: 3,
  type_mask: 3,
  readonly: 1 << 2,
  reading: 1 << 3,
  writing: 1 << 4,
  sub_page: 1 << 8,
} as const;

/** io/console.h: struct xencons_interface. */
export const xencons_interface = struct('xencons_interface', [
  ['in', 'u8', 1024],
  ['out', 'u8', 2048],
  ['in_cons', 'u32'],
  ['in_prod', 'u32'],
  ['out_cons', 'u32'],
  ['out_prod', 'u32'],
]);
