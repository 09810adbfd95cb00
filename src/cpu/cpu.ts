// The x86-64 long-mode interpreter: register state, the run loop and the code cache.
// It knows nothing of Xen: SYSCALL and faults leave through hooks that the layer above sets.

import { Memory, type Translator } from './memory.js';
import { FOp } from './flags.js';
import { CpuFault } from './fault.js';
import { Block } from './block.js';
import { decodeBlock, decodeSingle } from './decoder.js';
import { compileBlock, GEN_THRESHOLD } from './compile.js';
import type { Instr } from './instr.js';
import { join64, hi32 } from './u64.js';

export { Reg } from './regs.js';
export { Block } from './block.js';

const BLOCK_TABLE_BITS = 18;
const BLOCK_TABLE_MASK = (1 << BLOCK_TABLE_BITS) - 1;

export interface CpuHooks {
  /** SYSCALL executed; c.rip is already the next instruction. */
  syscall(c: Cpu): void;
  /** A fault; c.rip is the faulting instruction. Deliver it (change state) or throw to stop. */
  fault(c: Cpu, f: CpuFault): void;
  /** CPUID with the leaf in EAX/ECX; fill EAX..EDX. */
  cpuid(c: Cpu): void;
  /** Time-stamp counter as a double (exact below 2^53). */
  rdtsc(c: Cpu): number;
}

export class Cpu {
  // ---- architectural state (plain typed arrays and numbers: save, restore, move) ----
  /** Low and high 32-bit halves of the 16 general registers. */
  readonly lo = new Int32Array(16);
  readonly hi = new Int32Array(16);
  /** RIP as a signed double (canonical addresses are exact). */
  rip = 0;
  /** Materialized RFLAGS bits (all of them when fop is None; the non-arithmetic ones otherwise). */
  flags = 2;
  // Lazy-flag record (flags.ts).
  fop: FOp = FOp.None;
  fsz = 8;
  fa = 0; faH = 0;
  fb = 0; fbH = 0;
  fr = 0; frH = 0;
  fcf = 0;
  fof = 0;
  fsBase = 0;
  gsBase = 0;
  /** Segment selectors ES CS SS DS FS GS (flat in long mode: remembered, not enforced). */
  readonly sreg = new Uint16Array(6);
  /** XMM0-15 as 64 int32 lanes, with float views on the same bytes. */
  readonly xmm = new Int32Array(64);
  readonly xmmF32 = new Float32Array(this.xmm.buffer);
  readonly xmmF64 = new Float64Array(this.xmm.buffer);
  readonly xmmU8 = new Uint8Array(this.xmm.buffer);
  mxcsr = 0x1f80;
  /** x87: physical registers, top-of-stack, control/status/tag words. */
  readonly st = new Float64Array(8);
  fpuTop = 0;
  fcw = 0x37f;
  fsw = 0;
  ftw = 0xffff;
  /**
   * Exact 80-bit images of the x87 physical registers (mantissa low, mantissa high,
   * sign+exponent, unused) — valid for register k when fprRaw[k] is 1: after FLD m80,
   * FXRSTOR, an MMX write (mmN is the mantissa) or a NaN result. st[k] is then its double
   * approximation. Written by ops/x87.ts, ops/mmx.ts, ops/fxsave.ts.
   */
  readonly fpr = new Int32Array(32);
  readonly fprRaw = new Uint8Array(8);
  /** IA32_TSC_AUX (what RDTSCP returns in ECX). */
  tscAux = 0;
  /** Segment descriptor (low, high dwords) for a selector, for LAR/LSL; null if invalid. */
  descriptor: (sel: number) => [number, number] | null = () => null;
  /** CR0.TS: SSE/x87 instructions raise #NM while set (PV fpu_taskswitch). */
  ts = false;

  // ---- scratch for allocation-free handlers (not architectural) ----
  /** High half of the last 64-bit operand read or result computed. */
  rh = 0;
  /** Linear address of the current instruction's memory operand (read-modify-write). */
  eaddr = 0;

  // ---- machinery ----
  readonly m: Memory;
  hooks: CpuHooks;
  /** Instructions retired. */
  icount = 0;
  /** Set by a hook (or another caller) to make run() return after the current block. */
  stop = false;
  /** PAUSE (a spin-wait) stops run() too: the hypervisor sets this while other vCPUs of the
   * domain could run, so a vCPU waiting for another yields to it instead of spinning its slice. */
  pauseYields = false;
  /** Executions after which a block runs as generated code (compile.ts); tests set 1 or Infinity. */
  compileAt = GEN_THRESHOLD;
  private readonly blockTable: (Block | undefined)[] = new Array(1 << BLOCK_TABLE_BITS).fill(undefined);
  private readonly frameBlocks = new Map<number, Block[]>();

  constructor(ram: Uint8Array, translator: Translator, hooks: CpuHooks) {
    this.m = new Memory(ram, translator);
    this.hooks = hooks;
    this.m.onCodeWrite = (frame) => this.invalidateFrame(frame);
  }

  /** Run up to `budget` instructions (a block is never split); returns instructions retired. */
  run(budget: number): number {
    const start = this.icount;
    const end = start + budget;
    this.stop = false;
    const m = this.m;
    let prev: Block | null = null;
    while (this.icount < end && !this.stop) {
      // Chained successor: skips the TLB probe and hash lookup between hot blocks.
      let b: Block | null = null;
      if (prev !== null && prev.linkGen === m.gen) {
        const rip = this.rip;
        const s0: Block | null = prev.succ0;
        if (s0 !== null && s0.rip === rip && s0.valid) b = s0;
        else {
          const s1: Block | null = prev.succ1;
          if (s1 !== null && s1.rip === rip && s1.valid) b = s1;
        }
      }
      if (b === null) {
        try {
          b = this.lookup();
        } catch (e) {
          this.fault(e);
          prev = null;
          continue;
        }
        if (prev !== null) {
          if (prev.linkGen !== m.gen) {
            prev.linkGen = m.gen;
            prev.succ0 = b;
            prev.succ1 = null;
          } else if (prev.succ0 === null || !prev.succ0.valid) prev.succ0 = b;
          else prev.succ1 = b;
        }
      }
      prev = b;
      const ins = b.instrs;
      const n = ins.length;
      let fn = b.fn;
      if (b.hits < this.compileAt) {
        // Counting stops once the block has its generated code.
        const h = ++b.hits;
        if (h >= this.compileAt) fn = b.fn = compileBlock(b);
      }
      if (fn !== null) {
        try {
          fn(this);
          this.icount += n;
        } catch (e) {
          // The compiled block stored the next RIP of an instruction that can fault before
          // running it (NaN for the decoder's stop, which runs last).
          let k = 0;
          while (k < n - 1 && ins[k].next !== this.rip) k++;
          this.faultAt(e, ins, k);
          prev = null;
        }
        continue;
      }
      let k = 0;
      try {
        // RIP is stored once per block, before the last instruction: only terminators (always
        // last) read or write it; a fault mid-block rewinds it from ins[k] below.
        const last = n - 1;
        for (; k < last; k++) {
          const i = ins[k];
          i.exec(this, i);
        }
        const i = ins[last];
        this.rip = i.next;
        i.exec(this, i);
        this.icount += n;
      } catch (e) {
        this.faultAt(e, ins, k);
        prev = null;
      }
    }
    return this.icount - start;
  }

  /**
   * Execute exactly one instruction at RIP, outside the code cache. Faults are thrown to the
   * caller, not delivered (the hypervisor uses this to emulate a write it allowed).
   */
  step(): void {
    const i = decodeSingle(this, this.rip);
    this.rip = i.next;
    try {
      i.exec(this, i);
    } catch (e) {
      this.rip = i.rip;
      throw e;
    }
    this.icount++;
  }

  /** Instruction k of a block raised e: rewind RIP, count what retired, deliver. */
  private faultAt(e: unknown, ins: Instr[], k: number): void {
    // Faults report the faulting instruction; traps (INT3) the one after it.
    const trap = e instanceof CpuFault && e.vector === 3;
    this.rip = trap ? ins[k].next : ins[k].rip;
    this.icount += trap ? k + 1 : k;
    this.fault(e);
  }

  private fault(e: unknown): void {
    if (e instanceof CpuFault) this.hooks.fault(this, e);
    else throw e;
  }

  private lookup(): Block {
    const rip = this.rip;
    const phys = this.m.fetchOffset(rip);
    const h = (Math.imul(phys, 0x9e3779b1) >>> (32 - BLOCK_TABLE_BITS)) & BLOCK_TABLE_MASK;
    const b = this.blockTable[h];
    if (b !== undefined && b.phys === phys && b.rip === rip && b.valid) return b;
    const nb = decodeBlock(this, rip);
    this.blockTable[h] = nb;
    for (const f of nb.frames) {
      let list = this.frameBlocks.get(f);
      if (list === undefined) this.frameBlocks.set(f, (list = []));
      list.push(nb);
      this.m.markCodeFrame(f);
    }
    return nb;
  }

  /** Drop decoded code of a RAM frame (it is being written). */
  invalidateFrame(frame: number): void {
    const list = this.frameBlocks.get(frame);
    if (list === undefined) return;
    for (const b of list) b.valid = false;
    this.frameBlocks.delete(frame);
  }

  /** Drop all decoded code (e.g. a new address space whose mappings differ). */
  invalidateAll(): void {
    for (const list of this.frameBlocks.values()) for (const b of list) b.valid = false;
    this.frameBlocks.clear();
    this.m.codeFrame.fill(0);
    this.blockTable.fill(undefined);
  }

  // ---- register helpers for hosts and tests (not the hot path) ----

  getReg64(r: number): bigint {
    return (BigInt(this.hi[r]) << 32n) | BigInt(this.lo[r] >>> 0);
  }

  setReg64(r: number, v: bigint): void {
    this.lo[r] = Number(BigInt.asIntN(32, v));
    this.hi[r] = Number(BigInt.asIntN(32, v >> 32n));
  }

  /** Register as a signed double: exact for addresses and small values. */
  getRegNum(r: number): number {
    return join64(this.hi[r], this.lo[r]);
  }

  /** Store a double (an address or a small signed value) into a register. */
  setRegNum(r: number, v: number): void {
    this.lo[r] = v | 0; // ToInt32 keeps the low 32 bits of an exact integer
    this.hi[r] = hi32(v);
  }
}
