// Constants of the Xen public interface used by the hypervisor (xen/include/public: xen.h,
// arch-x86/xen-x86_64.h, sched.h, vcpu.h, callback.h, event_channel.h, memory.h, version.h,
// features.h, physdev.h, grant_table.h), checked against Debian's libxen-dev headers.

export const HYPERVISOR = {
  set_trap_table: 0, mmu_update: 1, set_gdt: 2, stack_switch: 3, set_callbacks: 4, fpu_taskswitch: 5,
  sched_op_compat: 6, platform_op: 7, set_debugreg: 8, get_debugreg: 9, update_descriptor: 10,
  memory_op: 12, multicall: 13, update_va_mapping: 14, set_timer_op: 15, event_channel_op_compat: 16,
  xen_version: 17, console_io: 18, physdev_op_compat: 19, grant_table_op: 20, vm_assist: 21,
  update_va_mapping_otherdomain: 22, iret: 23, vcpu_op: 24, set_segment_base: 25, mmuext_op: 26,
  xsm_op: 27, nmi_op: 28, sched_op: 29, callback_op: 30, xenoprof_op: 31, event_channel_op: 32,
  physdev_op: 33, hvm_op: 34, sysctl: 35, domctl: 36, kexec_op: 37, tmem_op: 38, argo_op: 39,
  xenpmu_op: 40, dm_op: 41, hypfs_op: 42,
} as const;

/** arch-x86/xen-x86_64.h: flat selectors (kernel and user share them; RPL tells them apart). */
export const FLAT_RING3_CS64 = 0xe033;
export const FLAT_RING3_SS64 = 0xe02b;
export const FLAT_KERNEL_CS = FLAT_RING3_CS64;
export const FLAT_KERNEL_SS = FLAT_RING3_SS64;
export const FLAT_USER_CS = FLAT_RING3_CS64;
export const FLAT_USER_SS = FLAT_RING3_SS64;

/** The hypervisor's virtual range (xen-x86_64.h) and the read-only M2P at its start. */
export const HYPERVISOR_VIRT_START = -(2 ** 47); // 0xFFFF800000000000
export const HYPERVISOR_VIRT_END = -(2 ** 47) + 2 ** 43; // 0xFFFF880000000000
export const MACH2PHYS_VIRT_START = HYPERVISOR_VIRT_START;

export const VGCF_in_syscall = 1 << 8;
export const VGCF_syscall_disables_events = 1 << 4;
export const VGCF_failsafe_disables_events = 1 << 3;
export const VGCF_in_kernel = 1 << 2;
export const VGCF_online = 1 << 5;

/** Trap-bounce flags (xen/arch/x86/include/asm/domain.h). */
export const TBF_EXCEPTION = 1;
export const TBF_EXCEPTION_ERRCODE = 2;
export const TBF_INTERRUPT = 8;

export const SHUTDOWN = { poweroff: 0, reboot: 1, suspend: 2, crash: 3, watchdog: 4, soft_reset: 5 } as const;
export type ShutdownReason = 'poweroff' | 'reboot' | 'suspend' | 'crash' | 'watchdog' | 'soft_reset';
export const SHUTDOWN_NAMES: ShutdownReason[] = ['poweroff', 'reboot', 'suspend', 'crash', 'watchdog', 'soft_reset'];

export const VIRQ = { timer: 0, debug: 1, console: 2, dom_exc: 3, tbuf: 4, debugger: 6, xenoprof: 7, con_ring: 8, pcpu_state: 9, mem_event: 10, argo: 11, enomem: 12, xenpmu: 13 } as const;
export const NR_VIRQS = 24;

export const XENFEAT = {
  writable_page_tables: 0, writable_descriptor_tables: 1, auto_translated_physmap: 2, supervisor_mode_kernel: 3,
  pae_pgdir_above_4gb: 4, mmu_pt_update_preserve_ad: 5, highmem_assist: 6, gnttab_map_avail_bits: 7,
  hvm_callback_vector: 8, hvm_safe_pvclock: 9, hvm_pirqs: 10, dom0: 11, grant_map_identity: 12,
  memory_op_vnode_supported: 13, ARM_SMCCC_supported: 14, linux_rsdp_unrestricted: 15,
  not_direct_mapped: 16, direct_mapped: 17, runstate_phys_area: 18, vcpu_time_phys_area: 19,
} as const;

/** What tsxen reports as its Xen version (xm and the seed walkthrough are of the 4.x era). */
export const XEN_MAJOR = 4;
export const XEN_MINOR = 4;
export const XEN_EXTRAVERSION = '.4-tsxen';
