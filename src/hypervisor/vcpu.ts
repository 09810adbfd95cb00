// A PV vCPU: the interpreter plus what Xen keeps per vCPU for a 64-bit PV guest
// (xen/arch/x86/include/asm/domain.h struct pv_vcpu): guest kernel/user mode with their page
// tables and GS bases, the kernel stack for entries from user mode, the trap table and
// callbacks, where its vcpu_info lives, its timer and run state.

import { join64 } from '../cpu/u64.js';
import { Cpu, type CpuHooks } from '../cpu/cpu.js';
import { PageWalker } from '../mmu/pagewalk.js';
import { vcpu_info, shared_info } from './abi/xen.js';
import { PAGE_SIZE, type DomainMemory } from './domain_memory.js';

export interface TrapInfo {
  /** Bit 2: disable events on entry (TI_GET_IF); bits 0-1: DPL for software INT. */
  flags: number;
  cs: number;
  /** Handler address (signed double); 0 = none. */
  address: number;
}

/** Scratch for setKernelTable: which L4 slots keep their cached translations. */
const KEEP_SLOTS = new Uint8Array(512);

export class Vcpu {
  readonly cpu: Cpu;
  readonly walker: PageWalker;
  kernelMode = true;
  /** MFNs of the kernel and user L4 tables (guest_table, guest_table_user); 0 = none. */
  kernelTable = 0;
  userTable = 0;
  kernelSs = 0;
  kernelSp = 0;
  gsBaseKernel = 0;
  gsBaseUser = 0;
  readonly trapTable: TrapInfo[] = Array.from({ length: 256 }, () => ({ flags: 0, cs: 0, address: 0 }));
  eventCallback = 0;
  failsafeCallback = 0;
  syscallCallback = 0;
  /** VGCF_* flags that matter at run time (syscall/failsafe disable events). */
  callbackFlags = 0;
  /** Byte offset of this vCPU's vcpu_info in domain memory. */
  vcpuInfoOff: number;
  /** Context loaded (vcpu 0 by the builder, others by VCPUOP_initialise). */
  initialised = false;
  online = false;
  blocked = false;
  /** Next periodic-timer expiry (ns of system time) when periodNs > 0. */
  periodicNext = 0;
  /** Single-shot timer deadline in ns of system time, or -1. */
  timerDeadline = -1;
  periodNs = 0;
  /** Ports this vCPU waits on in SCHEDOP_poll (empty when not polling). */
  pollPorts: number[] = [];
  pollDeadline = -1;
  /** Guest address of its registered runstate area, or 0. */
  runstateArea = 0;
  /** Debug registers DR0-DR7 (set_debugreg). */
  readonly debugreg = [0, 0, 0, 0, 0, 0, 0xffff0ff0, 0x400];
  ldtBase = 0;
  ldtEnts = 0;
  gdtFrames: number[] = [];
  gdtEntries = 0;
  iopl = 0;
  /** The guest's view of CR4 (Xen's ctrlreg[4]): PSE PAE PGE OSFXSR OSXMMEXCPT at start. */
  cr4 = 0x10 | 0x20 | 0x80 | 0x200 | 0x400;
  private readonly ramView: DataView;
  /** Time this vCPU ran (ns), for xm list/vcpu-list. */
  cpuTimeNs = 0;

  constructor(
    readonly id: number,
    readonly mem: DomainMemory,
    hooks: CpuHooks,
    walkerHooks: ConstructorParameters<typeof PageWalker>[1],
    reservedStart: number,
    reservedEnd: number,
  ) {
    this.ramView = new DataView(mem.ram.buffer, mem.ram.byteOffset, mem.ram.byteLength);
    this.walker = new PageWalker(mem.ram, walkerHooks, reservedStart, reservedEnd);
    // Xen forces _PAGE_USER on 64-bit PV guest entries; kernel/user separation is by page tables.
    this.walker.checkUser = false;
    this.cpu = new Cpu(mem.ram, this.walker, hooks);
    this.cpu.descriptor = (sel) => this.descriptor(sel);
    this.vcpuInfoOff = mem.layout.sharedInfoMfn * PAGE_SIZE + shared_info.fields.vcpu_info.offset + id * vcpu_info.size;
  }

  // ---- vcpu_info fields the hypervisor touches on every event delivery ----
  get upcallPending(): number {
    return this.mem.ram[this.vcpuInfoOff + vcpu_info.fields.evtchn_upcall_pending.offset];
  }
  set upcallPending(v: number) {
    this.mem.ram[this.vcpuInfoOff + vcpu_info.fields.evtchn_upcall_pending.offset] = v;
  }
  get upcallMask(): number {
    return this.mem.ram[this.vcpuInfoOff + vcpu_info.fields.evtchn_upcall_mask.offset];
  }
  set upcallMask(v: number) {
    this.mem.ram[this.vcpuInfoOff + vcpu_info.fields.evtchn_upcall_mask.offset] = v;
  }

  /**
   * A descriptor as the guest's GDT holds it: Xen's reserved flat selectors (its own GDT page
   * above FIRST_RESERVED_GDT_ENTRY: ring-3 code 32/64 and data) or an entry of the guest's
   * GDT frames (set_gdt). Local descriptor tables are not consulted.
   */
  descriptor(sel: number): [number, number] | null {
    const idx = sel >>> 3;
    if (sel & 4) return null;
    switch (sel & ~3) {
      case 0xe020: return [0x0000ffff, 0x00cffa00]; // FLAT_RING3_CS32
      case 0xe028: return [0x0000ffff, 0x00cff200]; // FLAT_RING3_DS32/SS
      case 0xe030: return [0x0000ffff, 0x00affa00]; // FLAT_RING3_CS64
    }
    if (idx >= this.gdtEntries) return null;
    const frame = this.gdtFrames[idx >> 9];
    if (frame === undefined) return null;
    const dv = new DataView(this.mem.sab);
    const o = frame * PAGE_SIZE + (idx & 511) * 8;
    return [dv.getUint32(o, true), dv.getUint32(o + 4, true)];
  }

  /** vcpu_info.arch.cr2 (the last page-fault address). */
  cr2(): number {
    const o = this.vcpuInfoOff + vcpu_info.fields.arch.offset;
    const dv = new DataView(this.mem.sab);
    return join64(dv.getInt32(o + 4, true), dv.getUint32(o, true));
  }

  /** Switch between guest kernel and guest user mode (Xen's toggle_guest_mode). */
  toggleGuestMode(): void {
    const c = this.cpu;
    if (this.kernelMode) {
      this.gsBaseKernel = c.gsBase;
      c.gsBase = this.gsBaseUser;
    } else {
      this.gsBaseUser = c.gsBase;
      c.gsBase = this.gsBaseKernel;
    }
    this.kernelMode = !this.kernelMode;
    this.walker.userMode = !this.kernelMode;
    this.walker.cr3 = this.kernelMode ? this.kernelTable : this.userTable;
    // Each mode keeps its own TLB (memory.ts): a mode switch loses no translations.
    this.cpu.m.swapTlb();
  }

  /** Point the walker at the active mode's L4 and flush both TLBs (a context load). */
  loadPageTables(): void {
    this.walker.cr3 = this.kernelMode ? this.kernelTable : this.userTable;
    this.cpu.m.flush();
  }

  /**
   * MMUEXT_NEW_BASEPTR: a new kernel L4 (a process switch, or text_poke's temporary mm). As
   * on hardware, where the kernel's own mappings are global and survive CR3 writes, kernel
   * half translations stay cached where the new L4 has the same entry as the old one; the
   * user half is dropped. Linux flushes kernel mappings it changes explicitly (mmuext TLB
   * flushes, update_va_mapping with a flush flag), as it must on hardware.
   */
  setKernelTable(mfn: number): void {
    const keep = KEEP_SLOTS.fill(0);
    let allKept = this.kernelTable !== 0;
    if (allKept) {
      const dv = this.ramView;
      const o = this.kernelTable * PAGE_SIZE, n = mfn * PAGE_SIZE;
      for (let slot = 256; slot < 512; slot++) {
        // Accessed and dirty bits (5, 6) change under the walker; they do not change a translation.
        const same = (dv.getUint32(o + slot * 8, true) & ~0x60) === (dv.getUint32(n + slot * 8, true) & ~0x60) &&
          dv.getUint32(o + slot * 8 + 4, true) === dv.getUint32(n + slot * 8 + 4, true);
        keep[slot] = same ? 1 : 0;
        allKept &&= same;
      }
    }
    this.kernelTable = mfn;
    if (!this.kernelMode) {
      this.cpu.m.flushInactive();
      return;
    }
    this.walker.cr3 = mfn;
    this.cpu.m.flushActiveExcept(keep, allKept);
  }

  /** MMUEXT_NEW_USER_BASEPTR: a new user L4; the user-mode TLB starts empty. */
  setUserTable(mfn: number): void {
    this.userTable = mfn;
    if (this.kernelMode) {
      this.cpu.m.flushInactive();
      return;
    }
    this.walker.cr3 = mfn;
    this.cpu.m.flushActiveExcept(KEEP_SLOTS.fill(0), false);
  }
}
