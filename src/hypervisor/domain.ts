// One guest domain as the hypervisor sees it: memory, vCPUs, event channels, grant table,
// timers, and the scheduler loop that runs its vCPUs round-robin. Runs on the domain's own
// thread; everything dom0 needs crosses through DomainHost.

import { PTE_P, PTE_RW } from '../mmu/pte.js';
import { CpuFault, UnimplementedInstruction, hex64 } from '../cpu/fault.js';
import { Memory, Access } from '../cpu/memory.js';
import { Reg, SReg } from '../cpu/regs.js';
import type { CpuHooks, Cpu } from '../cpu/cpu.js';
import { vcpu_info, vcpu_time_info } from './abi/xen.js';
import { PAGE_SIZE, type DomainMemory } from './domain_memory.js';
import { EventChannels } from './event_channel.js';
import { GrantTable } from './grant_table.js';
import { emulatePrivOp } from './emul_priv_op.js';
import { pvCpuid } from './cpuid.js';
import { hypercall, hypercallSchedules } from './hypercall/index.js';
import { crashReport } from './crash_report.js';
import { HypercallArgs, type Args } from './hypercall/types.js';
import { FLAT_KERNEL_CS, FLAT_KERNEL_SS, HYPERVISOR, MACH2PHYS_VIRT_START, HYPERVISOR_VIRT_START, HYPERVISOR_VIRT_END, VIRQ, type ShutdownReason } from './public.js';
import { SystemClock } from './time.js';
import { DomainCrash, deliverEvents, doIret, injectException, syscallFromUser } from './traps.js';
import { Vcpu } from './vcpu.js';
import { PageTypes, ptwrFault } from './ptwr.js';
import type { StartOfDay } from './builder/start-of-day.js';
import { writeU64 } from './guest_access.js';
import { hi32 } from '../cpu/u64.js';

export interface DomainHost {
  /** HYPERVISOR_console_io writes (the hypervisor log, `xm dmesg`). */
  consoleWrite(domid: number, bytes: Uint8Array): void;
  /** The hypervisor's own lines about this domain (printk: "(XEN) " is the log's to add). */
  printk(d: Domain, text: string): void;
  /** The domain ended (SCHEDOP_shutdown, a crash). */
  onShutdown(d: Domain, reason: ShutdownReason, detail: string): void;
  /** EVTCHNOP_bind_interdomain to a port of another domain (dom0): returns our local port or -errno. */
  bindRemote(d: Domain, remoteDom: number, remotePort: number): number;
  /** The guest notified interdomain port `port`, whose other end is `remotePort` of `remoteDom`. */
  sendRemote(d: Domain, port: number, remoteDom: number, remotePort: number): void;
}

export interface DomainOptions {
  domid: number;
  name: string;
  uuid: Uint8Array;
  mem: DomainMemory;
  vcpus: number;
  host: DomainHost;
}

/** Instructions a vCPU runs before the scheduler looks at timers and other vCPUs: small enough
 * that a 100 Hz tick is delivered on time (jiffies-based early timekeeping loses every late tick). */
const SLICE = 100_000;

export class Domain {
  readonly domid: number;
  readonly name: string;
  readonly uuid: Uint8Array;
  readonly mem: DomainMemory;
  readonly dv: DataView;
  readonly host: DomainHost;
  readonly vcpus: Vcpu[] = [];
  readonly evtchn: EventChannels;
  readonly grants: GrantTable;
  readonly clock = new SystemClock();
  vmAssist = 0;
  maxPages: number;
  /** SCHEDOP_shutdown_code's reason: the first one recorded wins over any later shutdown. */
  shutdownCode: ShutdownReason | null = null;
  stopped = false;
  shutdownReason: ShutdownReason | null = null;
  private readonly pinned = new Map<number, number>();
  readonly pageTypes: PageTypes;
  private readonly unknownHypercalls = new Set<number>();

  constructor(o: DomainOptions) {
    this.domid = o.domid;
    this.name = o.name;
    this.uuid = o.uuid;
    this.mem = o.mem;
    this.dv = new DataView(o.mem.sab);
    this.host = o.host;
    this.maxPages = o.mem.nrPages;
    const m2pStart = MACH2PHYS_VIRT_START;
    const m2pEnd = m2pStart + o.mem.layout.m2pFrames * PAGE_SIZE;
    const l = o.mem.layout;
    const walkerHooks = {
      reserved: (page: number, access: Access) =>
        page >= m2pStart && page < m2pEnd && access === Access.Read ? l.m2pMfnBase * PAGE_SIZE + (page - m2pStart) : -1,
      leafFrame: (mfn: number, access: Access) => {
        if (mfn < l.nrPages) return mfn * PAGE_SIZE;
        if (mfn === l.sharedInfoMfn || (mfn >= l.grantMfnBase && mfn < l.grantMfnBase + l.grantFrames)) {
          return access === Access.Exec ? -1 : mfn * PAGE_SIZE;
        }
        if (mfn >= l.m2pMfnBase && mfn < l.m2pMfnBase + l.m2pFrames) return access === Access.Read ? mfn * PAGE_SIZE : -1;
        return -1;
      },
      tableFrame: (mfn: number) => (mfn < l.nrPages ? mfn * PAGE_SIZE : -1),
    };
    for (let id = 0; id < o.vcpus; id++) {
      const v: Vcpu = new Vcpu(id, o.mem, this.cpuHooks(() => v), walkerHooks, HYPERVISOR_VIRT_START, HYPERVISOR_VIRT_END);
      this.vcpus.push(v);
    }
    Memory.shareCodeTracking(this.vcpus.map((v) => v.cpu.m));
    for (const v of this.vcpus) v.cpu.m.onCodeWrite = (frame) => this.codeWritten(frame);
    this.evtchn = new EventChannels(o.domid, o.mem, this.vcpus, {
      kick: (v) => { v.blocked = v.blocked && !this.wakeable(v); },
      sendRemote: (port, rd, rp) => this.host.sendRemote(this, port, rd, rp),
    });
    this.grants = new GrantTable(o.mem);
    this.pageTypes = new PageTypes(o.mem.nrPages, this.dv);
    this.initSharedFrames();
  }

  private initSharedFrames(): void {
    const l = this.mem.layout;
    // shared_info: every vCPU starts with events masked (shared_info_x86_64).
    for (let id = 0; id < 32; id++) {
      this.mem.ram[l.sharedInfoMfn * PAGE_SIZE + id * vcpu_info.size + vcpu_info.fields.evtchn_upcall_mask.offset] = 1;
    }
    // The read-only M2P: identity for RAM, INVALID_M2P_ENTRY (~0) for hypervisor frames.
    const base = l.m2pMfnBase * PAGE_SIZE;
    for (let mfn = 0; mfn < (l.m2pFrames * PAGE_SIZE) / 8; mfn++) {
      if (mfn < l.nrPages) this.dv.setBigUint64(base + mfn * 8, BigInt(mfn), true);
      else this.dv.setBigUint64(base + mfn * 8, 0xffffffffffffffffn, true);
    }
    this.clock.writeWallclock(this.mem);
  }

  private cpuHooks(vcpu: () => Vcpu): CpuHooks {
    return {
      syscall: (c: Cpu) => this.onSyscall(vcpu(), c),
      fault: (_c: Cpu, f: CpuFault) => this.onFault(vcpu(), f),
      cpuid: (_c: Cpu) => pvCpuid(vcpu()),
      rdtsc: () => this.clock.now(),
    };
  }

  now(): number {
    return this.clock.now();
  }

  /** Enter vCPU 0 at the kernel's entry point with the builder's start-of-day state. */
  boot(sod: StartOfDay): void {
    const v = this.vcpus[0];
    const c = v.cpu;
    c.setReg64(Reg.RSP, sod.rsp);
    c.setReg64(Reg.RSI, sod.rsi);
    c.rip = Number(BigInt.asIntN(64, sod.rip));
    c.flags = 0x202; // IF
    c.sreg[SReg.CS] = FLAT_KERNEL_CS;
    c.sreg[SReg.SS] = FLAT_KERNEL_SS;
    v.kernelTable = sod.l4Mfn;
    v.kernelMode = true;
    v.kernelSp = Number(BigInt.asIntN(64, sod.rsp));
    v.kernelSs = FLAT_KERNEL_SS;
    v.loadPageTables();
    this.pin(sod.l4Mfn, 4);
    v.initialised = true;
    v.online = true;
    for (const x of this.vcpus) this.clock.writeVcpuTime(this.mem, x.vcpuInfoOff);
  }

  // ---- hypercalls and faults ----

  // Hypercalls, system calls and exceptions are handled without leaving the vCPU's run loop
  // (as Xen returns straight to the guest): the loop stops only when the scheduler has work —
  // see mustSchedule.

  private onSyscall(v: Vcpu, c: Cpu): void {
    if (!v.kernelMode) {
      try {
        syscallFromUser(v);
      } catch (e) {
        this.hypervisorError(v, e);
      }
      if (this.mustSchedule(v, false)) c.stop = true;
      return;
    }
    const nr = c.lo[Reg.RAX] >>> 0;
    if (nr === HYPERVISOR.iret) {
      try {
        doIret(v);
      } catch (e) {
        this.hypervisorError(v, e);
      }
      if (this.mustSchedule(v, false)) c.stop = true;
      return;
    }
    // The arguments' halves into the one scratch (hypercalls never nest across vCPUs of a thread).
    const a = ARGS;
    a.set(0, c.lo[Reg.RDI], c.hi[Reg.RDI]);
    a.set(1, c.lo[Reg.RSI], c.hi[Reg.RSI]);
    a.set(2, c.lo[Reg.RDX], c.hi[Reg.RDX]);
    a.set(3, c.lo[Reg.R10], c.hi[Reg.R10]);
    a.set(4, c.lo[Reg.R8], c.hi[Reg.R8]);
    let r = 0;
    try {
      r = hypercall(this, v, nr, a);
    } catch (e) {
      this.hypervisorError(v, e);
    }
    if (r >= -0x80000000 && r <= 0x7fffffff) {
      // Almost every result is an int32 (0 or -errno): no division for the high half.
      c.lo[Reg.RAX] = r;
      c.hi[Reg.RAX] = r < 0 ? -1 : 0;
    } else c.setRegNum(Reg.RAX, r);
    if (this.mustSchedule(v, hypercallSchedules(nr))) c.stop = true;
  }

  /**
   * Must the run loop return to runFor? When the domain ended, the vCPU blocked, an event
   * upcall can be delivered (runFor delivers it, as Xen's test_all_events does on the way
   * back to the guest), or the caller knows its hypercall changed what runFor schedules
   * (timers, other vCPUs, yields).
   */
  private mustSchedule(v: Vcpu, hypercallSchedules: boolean): boolean {
    return hypercallSchedules || this.stopped || v.blocked || (v.upcallPending === 1 && v.upcallMask === 0);
  }

  private onFault(v: Vcpu, f: CpuFault): void {
    const c = v.cpu;
    if (f instanceof UnimplementedInstruction) {
      c.stop = true;
      this.crash(`${f.message} in guest ${v.kernelMode ? 'kernel' : 'user'} mode (vcpu ${v.id})`, v);
      return;
    }
    try {
      this.handleFault(v, f);
    } catch (e) {
      this.hypervisorError(v, e);
    }
    if (this.mustSchedule(v, false)) c.stop = true;
  }

  private handleFault(v: Vcpu, fault: CpuFault): void {
    const c = v.cpu;
    let f = fault;
    if (f.vector === 6 || f.vector === 13) {
      try {
        if (emulatePrivOp(v, f)) return;
      } catch (e) {
        // The emulation raised the guest's exception instead (a #PF copying, #UD, #DB).
        if (!(e instanceof CpuFault)) throw e;
        f = e;
      }
    }
    // A kernel write to one of its (read-only) page tables: the writable-pagetables assist.
    if (f.vector === 14 && (f.errorCode & 3) === 3 && v.kernelMode && ptwrFault(this, v, f.address)) return;
    if (f.vector === 14) {
      writeU64Raw(this, v.vcpuInfoOff + vcpu_info.fields.arch.offset, f.address);
    }
    const withError = f.vector === 8 || (f.vector >= 10 && f.vector <= 14) || f.vector === 17;
    if (TRACE_TRAPS) this.log(`exception ${f.vector} (${f.message}) at ${hex64(c.rip)} in ${v.kernelMode ? 'kernel' : 'user'} mode`);
    injectException(v, f.vector, withError ? f.errorCode : undefined);
  }

  private guard(v: Vcpu, f: () => void): void {
    try {
      f();
    } catch (e) {
      this.hypervisorError(v, e);
    }
  }

  /** An exception out of hypervisor code: the guest's doing (DomainCrash) or a bug of ours. */
  private hypervisorError(v: Vcpu, e: unknown): void {
    if (e instanceof DomainCrash) {
      this.crash(`${e.message} (vcpu ${v.id}, rip ${hex64(v.cpu.rip)})`, v);
      return;
    }
    // A bug of ours must end this domain, never the host process and its other domains.
    const msg = e instanceof Error ? (e.stack ?? e.message) : String(e);
    this.crash(`internal hypervisor error at rip ${hex64(v.cpu.rip)} (vcpu ${v.id}): ${msg}`, v);
  }

  noteUnknownHypercall(nr: number, a: Args): void {
    if (this.unknownHypercalls.has(nr)) return;
    this.unknownHypercalls.add(nr);
    this.log(`unimplemented hypercall ${nr} (args ${a.describe()}): -ENOSYS`);
  }

  /** A hypervisor message about this domain, as Xen's gdprintk prefixes them ("d1: ..."). */
  log(text: string): void {
    this.host.printk(this, `d${this.domid}: ${text}\n`);
  }

  /** domain_crash(): the reason and, as Xen prints for a crashed PV guest, its vCPU's registers. */
  crash(detail: string, v?: Vcpu): void {
    if (this.stopped) return;
    this.log(`domain crashed: ${detail}`);
    if (v !== undefined) this.host.printk(this, crashReport(this, v));
    this.shutdown('crash', detail);
  }

  shutdown(reason: ShutdownReason, detail = ''): void {
    if (this.stopped) return;
    // xen/common/domain.c domain_shutdown (RELEASE-4.4.4): a code the guest recorded with
    // SCHEDOP_shutdown_code (say crash, before kexec) is what the toolstack is told.
    if (this.shutdownCode === null) this.shutdownCode = reason;
    reason = this.shutdownCode;
    this.stopped = true;
    this.shutdownReason = reason;
    for (const v of this.vcpus) v.cpu.stop = true;
    this.host.onShutdown(this, reason, detail);
  }

  // ---- memory management helpers for the hypercalls ----

  pin(mfn: number, level: number): number {
    this.pinned.set(mfn, level);
    this.pageTypes.markTree(mfn, level);
    return 0;
  }
  unpin(mfn: number): number {
    if (!this.pinned.delete(mfn)) return -22;
    this.pageTypes.clear(mfn);
    return 0;
  }
  /** May a page-table entry with this value be installed (only this domain's frames)? */
  /**
   * May the guest write this page-table entry (as 32-bit halves)? It may only map this
   * domain's frames: RAM, shared_info and grant frames, and the M2P read-only (what Xen's
   * get_page_from_l1e checks for mmu_update and for writable-page-table emulation alike).
   */
  pteAllowed(lo: number, hi: number): boolean {
    if ((lo & PTE_P) === 0) return true;
    const mfn = (hi & 0xfffff) * 1048576 + (lo >>> 12); // bits 12-51
    if (this.mem.isRam(mfn)) return true;
    const l = this.mem.layout;
    if (mfn === l.sharedInfoMfn) return true;
    if (mfn >= l.grantMfnBase && mfn < l.grantMfnBase + l.grantFrames) return true;
    if (mfn >= l.m2pMfnBase && mfn < l.m2pMfnBase + l.m2pFrames) return (lo & PTE_RW) === 0;
    return false;
  }
  flushAllTlbs(): void {
    for (const v of this.vcpus) v.cpu.m.flush();
  }
  flushPageAll(va: number): void {
    const page = va - (((va % 4096) + 4096) % 4096);
    for (const v of this.vcpus) v.cpu.m.flushPage(page);
  }
  /** A frame was written behind the CPUs' backs: drop decoded code from it. */
  codeWritten(frame: number): void {
    this.vcpus[0].cpu.m.codeFrame[frame] = 0;
    for (const v of this.vcpus) v.cpu.invalidateFrame(frame);
  }
  closePort(port: number): number {
    return this.evtchn.close(port);
  }
  moveVcpuInfo(v: Vcpu, off: number): void {
    // Copy the current contents (pending state, mask) to the new place, as Xen does.
    this.mem.ram.copyWithin(off, v.vcpuInfoOff, v.vcpuInfoOff + vcpu_info.size);
    v.vcpuInfoOff = off;
    this.clock.writeVcpuTime(this.mem, off);
  }
  /** A copy of the vCPU's vcpu_time_info as published in its vcpu_info. */
  vcpuTimeRecord(v: Vcpu): Uint8Array {
    const o = v.vcpuInfoOff + vcpu_info.fields.time.offset;
    return this.mem.ram.slice(o, o + vcpu_time_info.size);
  }
  writeRunstate(caller: Vcpu, t: Vcpu, va: number): void {
    // struct vcpu_runstate_info { int state; uint64 state_entry_time; uint64 time[4]; }
    const now = Math.round(this.now());
    const running = t.online && !t.blocked;
    writeU64(caller, va, running ? 0 : t.online ? 1 : 3);
    writeU64(caller, va + 8, now);
    writeU64(caller, va + 16, t.cpuTimeNs);
    writeU64(caller, va + 24, running ? 0 : Math.max(0, now - t.cpuTimeNs));
    writeU64(caller, va + 32, 0);
    writeU64(caller, va + 40, 0);
  }

  // ---- scheduling ----

  private wakeable(v: Vcpu): boolean {
    if (v.pollPorts.length) return v.pollPorts.some((p) => this.evtchn.isPending(p));
    return v.upcallPending === 1;
  }

  /** Fire expired timers (VIRQ_TIMER) and wake vCPUs with work. Returns ns to the next deadline (or Infinity). */
  private serviceTimers(): number {
    const now = this.now();
    let next = Infinity;
    for (const v of this.vcpus) {
      if (!v.online) continue;
      if (v.timerDeadline >= 0 && v.timerDeadline <= now) {
        v.timerDeadline = -1;
        this.clock.writeVcpuTime(this.mem, v.vcpuInfoOff);
        this.evtchn.sendVirq(v.id, VIRQ.timer);
      }
      if (v.periodNs > 0 && v.periodicNext <= now) {
        v.periodicNext = now + v.periodNs;
        this.evtchn.sendVirq(v.id, VIRQ.timer);
      }
      if (v.pollPorts.length && v.pollDeadline >= 0 && v.pollDeadline <= now) {
        v.pollPorts = [];
        v.pollDeadline = -1;
        v.blocked = false;
      }
      if (v.blocked && this.wakeable(v)) {
        v.blocked = false;
        v.pollPorts = [];
      }
      if (v.timerDeadline >= 0) next = Math.min(next, v.timerDeadline - now);
      if (v.periodNs > 0) next = Math.min(next, v.periodicNext - now);
      if (v.pollDeadline >= 0) next = Math.min(next, v.pollDeadline - now);
    }
    return next;
  }

  /**
   * Run the vCPUs for up to `maxMs` of wall time. Returns 'stopped' when the domain ended,
   * 'idle' with the ns until the next timer when every vCPU is blocked, 'busy' otherwise.
   */
  runFor(maxMs: number): { state: 'stopped' | 'idle' | 'busy'; idleNs: number } {
    const end = performance.now() + maxMs;
    while (!this.stopped) {
      const next = this.serviceTimers();
      let ran = false;
      let runnable = 0;
      for (const v of this.vcpus) if (v.online && !v.blocked) runnable++;
      for (const v of this.vcpus) {
        // With another vCPU runnable, a spin-wait (PAUSE) ends this one's turn: what it waits
        // for is usually that other vCPU (an IPI answer, a lock holder), as pause-loop exiting.
        v.cpu.pauseYields = runnable > 1;
        if (!v.online || v.blocked || this.stopped) continue;
        ran = true;
        this.guard(v, () => deliverEvents(v));
        if (this.stopped) break;
        const t0 = performance.now();
        v.cpu.run(SLICE);
        v.cpuTimeNs += Math.round((performance.now() - t0) * 1e6);
      }
      if (!ran) return { state: 'idle', idleNs: next };
      if (performance.now() >= end) return { state: 'busy', idleNs: 0 };
    }
    return { state: 'stopped', idleNs: 0 };
  }
}

/** TSXEN_TRACE_TRAPS=1 logs every exception bounced to the guest (debugging a boot). */
const TRACE_TRAPS = process.env.TSXEN_TRACE_TRAPS === '1';

/** An integer double (CR2: a canonical address) as 64 bits into domain memory, without BigInt. */
function writeU64Raw(d: Domain, off: number, value: number): void {
  d.dv.setInt32(off, value | 0, true); // ToInt32 keeps the low 32 bits of an integer double
  d.dv.setInt32(off + 4, hi32(value), true);
}

/**
 * The hypercall arguments' scratch, shared by every domain of this thread: a hypercall runs to
 * completion before the next instruction of any vCPU, and multicall keeps its own.
 */
const ARGS = new HypercallArgs();
