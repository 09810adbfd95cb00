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

/** arch-x86/xen.h: struct trap_info (set_trap_table, vcpu_guest_context). */
export const trap_info = struct('trap_info', [
  ['vector', 'u8'],
  ['flags', 'u8'],
  ['cs', 'u16'],
  ['address', 'u64'],
]);

/** arch-x86/xen-x86_64.h: struct cpu_user_regs. */
export const cpu_user_regs = struct('cpu_user_regs', [
  ['r15', 'u64'], ['r14', 'u64'], ['r13', 'u64'], ['r12', 'u64'], ['rbp', 'u64'], ['rbx', 'u64'],
  ['r11', 'u64'], ['r10', 'u64'], ['r9', 'u64'], ['r8', 'u64'], ['rax', 'u64'], ['rcx', 'u64'],
  ['rdx', 'u64'], ['rsi', 'u64'], ['rdi', 'u64'],
  ['error_code', 'u32'], ['entry_vector', 'u32'],
  ['rip', 'u64'],
  ['cs', 'u16'], ['_pad0', 'u16'], ['saved_upcall_mask', 'u8'], ['_pad1', 'u8', 3],
  ['rflags', 'u64'], ['rsp', 'u64'],
  ['ss', 'u16'], ['_pad2', 'u16', 3],
  ['es', 'u16'], ['_pad3', 'u16', 3],
  ['ds', 'u16'], ['_pad4', 'u16', 3],
  ['fs', 'u16'], ['_pad5', 'u16', 3],
  ['gs', 'u16'], ['_pad6', 'u16', 3],
]);

/** arch-x86/xen.h: struct vcpu_guest_context (x86-64 guest view). */
export const vcpu_guest_context = struct('vcpu_guest_context', [
  ['fpu_ctxt', 'u8', 512],
  ['flags', 'u64'],
  ['user_regs', cpu_user_regs],
  ['trap_ctxt', trap_info, 256],
  ['ldt_base', 'u64'], ['ldt_ents', 'u64'],
  ['gdt_frames', 'u64', 16], ['gdt_ents', 'u64'],
  ['kernel_ss', 'u64'], ['kernel_sp', 'u64'],
  ['ctrlreg', 'u64', 8],
  ['debugreg', 'u64', 8],
  ['event_callback_eip', 'u64'],
  ['failsafe_callback_eip', 'u64'],
  ['syscall_callback_eip', 'u64'],
  ['vm_assist', 'u64'],
  ['fs_base', 'u64'], ['gs_base_kernel', 'u64'], ['gs_base_user', 'u64'],
]);
