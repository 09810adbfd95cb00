// What Xen 4.4 does when a PV guest's instruction faults and Xen may stand in for it:
// emulate_privileged_op (on #GP(0)) and emulate_forced_invalid_op (on #UD) in
// xen/arch/x86/traps.c at RELEASE-4.4.4. The guest kernel runs at CPL 3 with the real IOPL 0,
// so CLI, STI, IN, OUT, INS, OUTS, MOV CR/DR, RDMSR, WRMSR, CLTS and WBINVD all fault; Xen
// decodes the prefixes and the opcode itself, emulates what the guest may do and lets the
// rest become the guest's #GP. What Xen does not emulate stays a #GP here too, so the guest
// reports it (with its code bytes) exactly as it would on Xen.

import { CpuFault, Vector } from '../cpu/fault.js';
import { DF, TF, getFlags } from '../cpu/flags.js';
import { Reg } from '../cpu/regs.js';
import { vcpu_info } from './abi/xen.js';
import { pvCpuid } from './cpuid.js';
import { rdmsr, wrmsr } from './msr.js';
import type { Vcpu } from './vcpu.js';

/** An emulated INS/OUTS with a REP prefix gives the guest back its vCPU after this many. */
const REP_IO_BATCH = 4096;

/** What the prefix scan found (Xen's locals of the same names). */
interface Prefixes {
  /** Address of the opcode byte. */
  at: number;
  opBytes: number;
  adBytes: number;
  rep: boolean;
  lock: boolean;
  rex: number;
  /** FS or GS override base for string I/O sources (lm_ovr). */
  segBase: number;
}

function rd64(v: Vcpu, r: number): number {
  return v.cpu.getRegNum(r);
}

function wr64(v: Vcpu, r: number, x: number): void {
  v.cpu.setRegNum(r, x);
}

/** Legacy prefixes (at most 8) and REX, as the loop at the top of emulate_privileged_op. */
function scanPrefixes(v: Vcpu): Prefixes {
  const c = v.cpu;
  const p: Prefixes = { at: c.rip, opBytes: 4, adBytes: 8, rep: false, lock: false, rex: 0, segBase: 0 };
  for (let i = 0; i < 8; i++) {
    const b = c.m.rd8(p.at);
    switch (b) {
      case 0x66: p.opBytes = 2; break;
      case 0x67: p.adBytes = 4; break;
      case 0x2e: case 0x3e: case 0x26: case 0x36: p.segBase = 0; break;
      case 0x64: p.segBase = c.fsBase; break;
      case 0x65: p.segBase = c.gsBase; break;
      case 0xf0: p.lock = true; break;
      case 0xf2: case 0xf3: p.rep = true; break;
      default:
        if ((b & 0xf0) !== 0x40) return p;
        p.rex = b;
    }
    // A REX prefix counts only right before the opcode: a legacy prefix after it voids it.
    if ((b & 0xf0) !== 0x40) p.rex = 0;
    p.at++;
  }
  return p;
}

/** guest_io_okay: the virtual IOPL (PHYSDEVOP_set_iopl) against the guest's virtual ring. */
function ioOkay(v: Vcpu): boolean {
  return v.iopl >= (v.kernelMode ? 1 : 3);
}

/**
 * guest_io_read for a domU: it owns no ports (admin_io_okay fails), so reads float high.
 * guest_io_write drops the data.
 */
function ioRead(bytes: number): number {
  return bytes === 4 ? -1 : (1 << (bytes * 8)) - 1;
}

/** IN and OUT: the AL/AX/EAX forms with an imm8 or DX port. */
function emulateInOut(v: Vcpu, opcode: number, opBytes: number): boolean {
  if (!ioOkay(v)) return false;
  const bytes = (opcode & 1) === 0 ? 1 : opBytes;
  if ((opcode & 2) === 0) {
    const c = v.cpu;
    // Xen clears all of RAX for a 4-byte IN and merges the narrower ones.
    if (bytes === 4) wr64(v, Reg.RAX, ioRead(4) >>> 0);
    else c.lo[Reg.RAX] = (c.lo[Reg.RAX] & ~ioRead(bytes)) | ioRead(bytes);
  }
  return true;
}

/** INS and OUTS (with REP): one element at a time through the guest's page tables. */
function emulateStringIo(v: Vcpu, p: Prefixes, opcode: number): 'done' | 'again' | false {
  const c = v.cpu;
  const mask = p.adBytes === 8 ? 0 : p.adBytes === 4 ? 0xffffffff : 0xffff;
  const get = (r: number) => (mask ? (c.lo[r] >>> 0) & mask : rd64(v, r));
  const set = (r: number, x: number) => {
    if (mask === 0) wr64(v, r, x);
    else if (mask === 0xffffffff) wr64(v, r, x >>> 0);
    else c.lo[r] = (c.lo[r] & ~0xffff) | (x & 0xffff);
  };
  if (p.rep && get(Reg.RCX) === 0) return 'done';
  if (!ioOkay(v)) return false;
  const bytes = (opcode & 1) === 0 ? 1 : p.opBytes;
  const step = getFlags(c) & DF ? -bytes : bytes;
  for (let n = 0; n < REP_IO_BATCH; n++) {
    if (opcode <= 0x6d) {
      // INS writes ES:rDI (ES has base 0 in long mode); a #PF here is the guest's.
      const at = get(Reg.RDI);
      const x = ioRead(bytes);
      if (bytes === 1) c.m.wr8(at, x);
      else if (bytes === 2) c.m.wr16(at, x);
      else c.m.wr32(at, x);
      set(Reg.RDI, get(Reg.RDI) + step);
    } else {
      const at = p.segBase + get(Reg.RSI);
      if (bytes === 1) c.m.rd8(at);
      else if (bytes === 2) c.m.rd16(at);
      else c.m.rd32(at);
      set(Reg.RSI, get(Reg.RSI) + step);
    }
    if (!p.rep) return 'done';
    set(Reg.RCX, get(Reg.RCX) - 1);
    if (get(Reg.RCX) === 0) return 'done';
  }
  // Like Xen's hypercall_preempt_check: leave RIP on the instruction; it faults again.
  return 'again';
}

// CR0 as a PV guest reads it: PE MP ET NE WP AM PG (+TS from fpu_taskswitch).
const CR0_BASE = 0x80050033;
// pv_guest_cr4_fixup: the guest's CR4 view keeps only what it may control: VME PVI TSD DE
// PSE PAE PGE OSFXSR OSXMMEXCPT (no OSXSAVE: the policy offers no XSAVE).
const CR4_GUEST_MASK = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x80 | 0x200 | 0x400;

function getReg(v: Vcpu, r: number): bigint {
  return (BigInt(v.cpu.hi[r] >>> 0) << 32n) | BigInt(v.cpu.lo[r] >>> 0);
}

function putReg(v: Vcpu, r: number, x: bigint): void {
  v.cpu.lo[r] = Number(BigInt.asIntN(32, x & 0xffffffffn));
  v.cpu.hi[r] = Number(BigInt.asIntN(32, x >> 32n));
}

/** MOV to/from CRn and DRn (0f 20..23, register operand only); n includes REX.R and LOCK. */
function movCrDr(v: Vcpu, op: number, n: number, gpr: number): boolean {
  const c = v.cpu;
  switch (op) {
    case 0x20: // MOV from CRn
      if (n === 0) putReg(v, gpr, BigInt((CR0_BASE | (c.ts ? 8 : 0)) >>> 0));
      else if (n === 2) putReg(v, gpr, BigInt.asUintN(64, BigInt(v.cr2())));
      else if (n === 3) putReg(v, gpr, BigInt(v.kernelTable) << 12n);
      else if (n === 4) putReg(v, gpr, BigInt(v.cr4));
      else return false;
      return true;
    case 0x22: { // MOV to CRn
      const x = getReg(v, gpr);
      if (n === 0) {
        // Only TS may change ("Attempt to change unmodifiable CR0 flags").
        if (((Number(x & 0xffffffffn) & ~8) >>> 0) !== CR0_BASE) return false;
        c.ts = (x & 8n) !== 0n;
        return true;
      }
      if (n === 2) { // arch_set_cr2: the guest's view in vcpu_info
        const o = v.vcpuInfoOff + vcpu_info.fields.arch.offset;
        const dv = new DataView(v.mem.sab);
        dv.setBigUint64(o, BigInt.asUintN(64, x), true);
        return true;
      }
      if (n === 3) { // new_guest_cr3, as MMUEXT_NEW_BASEPTR
        const mfn = Number(BigInt.asUintN(64, x) >> 12n);
        if (!v.mem.isRam(mfn)) return false;
        v.setKernelTable(mfn);
        return true;
      }
      if (n === 4) {
        v.cr4 = Number(x & 0xffffffffn) & CR4_GUEST_MASK;
        return true;
      }
      return false;
    }
    case 0x21: // MOV from DRn (do_get_debugreg: DR4/DR5 alias nothing here)
      if (n >= 8 || n === 4 || n === 5) return false;
      putReg(v, gpr, BigInt(v.debugreg[n] ?? 0));
      return true;
    default: // 0x23 MOV to DRn
      if (n >= 8 || n === 4 || n === 5) return false;
      v.debugreg[n] = Number(getReg(v, gpr) & 0xffffffffn);
      return true;
  }
}

/** The two-byte opcodes (after 0f); false = not emulated (#GP); 'ud' = #UD for the guest. */
function twoByte(v: Vcpu, p: Prefixes, at: number): number | false | 'ud' {
  const c = v.cpu;
  const opcode = c.m.rd8(at++);
  // Only RDTSC(P) and CPUID may come from guest user mode (virtual ring 3).
  if (!v.kernelMode && opcode !== 0x01 && opcode !== 0x31 && opcode !== 0xa2) return false;
  if (p.lock && (opcode & ~3) !== 0x20) return false;
  switch (opcode) {
    case 0x01: {
      const modrm = c.m.rd8(at++);
      if (modrm === 0xf9) { // RDTSCP: our CPU runs it natively; reaching here means it faulted
        return false;
      }
      // XSETBV: #UD without CR4.OSXSAVE, which a PV guest here cannot set.
      if (modrm === 0xd1) return 'ud';
      return false;
    }
    case 0x06: c.ts = false; return at; // CLTS: do_fpu_taskswitch(0)
    case 0x09: return at; // WBINVD: ignored for a domain without cache-flush permission
    case 0x20: case 0x21: case 0x22: case 0x23: {
      const modrm = c.m.rd8(at++);
      if (modrm < 0xc0) return false;
      // A LOCK prefix selects CR8 (AMD's alias), which Xen does not emulate for PV.
      const n = ((modrm >> 3) & 7) + ((p.rex & 4) << 1) + (p.lock ? 8 : 0);
      const gpr = (modrm & 7) | ((p.rex & 1) << 3);
      return movCrDr(v, opcode, n, gpr) ? at : false;
    }
    case 0x30: { // WRMSR
      const x = (BigInt(c.lo[Reg.RDX] >>> 0) << 32n) | BigInt(c.lo[Reg.RAX] >>> 0);
      return wrmsr(v, c.lo[Reg.RCX] >>> 0, x) ? at : false;
    }
    case 0x32: { // RDMSR
      const x = rdmsr(v, c.lo[Reg.RCX] >>> 0);
      if (x === undefined) return false;
      wr64(v, Reg.RAX, Number(x & 0xffffffffn));
      wr64(v, Reg.RDX, Number(x >> 32n));
      return at;
    }
    case 0xa2: // CPUID, when the host faults it (CPUID faulting)
      pvCpuid(v);
      return at;
    default:
      return false;
  }
}

/** The one-byte opcodes; the new RIP, or false when the guest gets its #GP. */
function oneByte(v: Vcpu, p: Prefixes, opcode: number, at: number): number | false | 'again' {
  if (p.lock) return false;
  if (opcode >= 0x6c && opcode <= 0x6f) {
    const r = emulateStringIo(v, p, opcode);
    return r === 'done' ? at : r;
  }
  // REX.W does not make IN/OUT 64-bit: Xen emulates them with 4-byte operands.
  switch (opcode) {
    case 0xe4: case 0xe5: case 0xe6: case 0xe7:
      return emulateInOut(v, opcode, p.opBytes) ? at + 1 : false; // imm8 port
    case 0xec: case 0xed: case 0xee: case 0xef:
      return emulateInOut(v, opcode, p.opBytes) ? at : false;
    case 0xfa: // CLI
    case 0xfb: // STI
      // Allowed by the virtual IOPL, and then a no-op: Xen 4.4 deliberately does not touch
      // evtchn_upcall_mask here ("too dangerous": a later POPF could not restore it). Linux
      // runs such code (cmpxchg16b_emu's pushf; cli; ...; popf) before it patches alternatives.
      return ioOkay(v) ? at : false;
    default:
      return false;
  }
}

/**
 * instruction_done: RIP past the instruction, and a single-step trap if TF was set (a #DB the
 * caller delivers).
 */
function instructionDone(v: Vcpu, rip: number): void {
  v.cpu.rip = rip;
  if (getFlags(v.cpu) & TF) {
    v.debugreg[6] |= 0xffff0ff0 | 0x4000;
    throw new CpuFault(Vector.DB, 0, 0, 'single step after an emulated instruction');
  }
}

/** emulate_forced_invalid_op: `ud2; .ascii "xen"; cpuid` is CPUID as the guest should see it. */
function emulateForcedInvalidOp(v: Vcpu): boolean {
  const c = v.cpu;
  const sig = [0x0f, 0x0b, 0x78, 0x65, 0x6e, 0x0f, 0xa2];
  for (let k = 0; k < sig.length; k++) if (c.m.rd8(c.rip + k) !== sig[k]) return false;
  pvCpuid(v);
  instructionDone(v, c.rip + sig.length);
  return true;
}

/**
 * Try to emulate the instruction that raised `f` (#UD or #GP). True if handled; false if the
 * guest gets `f`. Throws a CpuFault for a different exception the guest must get instead: a
 * #PF while fetching or copying (Xen's propagate_page_fault), #UD (XSETBV), #DB (TF set).
 */
export function emulatePrivOp(v: Vcpu, f: CpuFault): boolean {
  if (f.vector === Vector.UD) return emulateForcedInvalidOp(v);
  // Only #GP(0): a #GP with a selector or vector in its error code is something else.
  if (f.vector !== Vector.GP || f.errorCode !== 0) return false;
  const p = scanPrefixes(v);
  const opcode = v.cpu.m.rd8(p.at);
  if (p.rex & 8) p.opBytes = 4;
  const r = opcode === 0x0f ? twoByte(v, p, p.at + 1) : oneByte(v, p, opcode, p.at + 1);
  if (r === false) return false;
  if (r === 'ud') throw new CpuFault(Vector.UD, 0, 0, 'XSETBV without CR4.OSXSAVE');
  if (r !== 'again') instructionDone(v, r);
  return true;
}
