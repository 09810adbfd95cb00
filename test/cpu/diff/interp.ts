// Runs cases in the interpreter with the native harness's address space: the code page and the
// two data pages mapped, everything else a #PF (as unmapped pages are for the harness process).

import { Cpu } from '../../../src/cpu/cpu.js';
import { CpuFault, PF_FETCH, PF_PRESENT, PF_USER, PF_WRITE, pageFault } from '../../../src/cpu/fault.js';
import { StopHooks } from '../../../src/cpu/flat.js';
import { getFlags, setFlags } from '../../../src/cpu/flags.js';
import { Access, type Translator } from '../../../src/cpu/memory.js';
import { CODE_ADDR, DATA_ADDR, DATA_SIZE, INT3, initialData, type Case, type Result } from './layout.js';

const DATA_FRAME = 0x1000;

class DiffTranslator implements Translator {
  translate(page: number, access: Access): number {
    const why = PF_USER | (access === Access.Write ? PF_WRITE : 0) | (access === Access.Exec ? PF_FETCH : 0);
    if (page === CODE_ADDR) return 0;
    if (page >= DATA_ADDR && page < DATA_ADDR + DATA_SIZE) {
      // The harness maps data without PROT_EXEC: a fetch there is a protection fault.
      if (access === Access.Exec) throw pageFault(page, why | PF_PRESENT);
      return DATA_FRAME + (page - DATA_ADDR);
    }
    // The host process has the kernel half mapped (supervisor-only): a protection fault there.
    throw pageFault(page, page < 0 ? why | PF_PRESENT : why);
  }
}

const u64 = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
const NO_FAULT = -1000;

/** Runs of a hot case before its block is compiled (instead of the production threshold). */
const HOT = 32;

export class InterpRunner {
  readonly ram = new Uint8Array(DATA_FRAME + DATA_SIZE);
  readonly hooks = new StopHooks();
  readonly cpu = new Cpu(this.ram, new DiffTranslator(), this.hooks);
  private readonly data32 = new Int32Array(this.ram.buffer, DATA_FRAME, DATA_SIZE / 4);

  constructor() {
    this.ram.fill(INT3, 0, 0x1000);
    // A hot case ends in generated code (compile.ts) after HOT runs.
    this.cpu.compileAt = HOT;
  }

  /**
   * Run a case from a fresh decode; `hot` repeats it until its block runs compiled
   * (compile.ts) and reports that last run.
   */
  run(c: Case, hot = false): Result {
    // Every case ends in a CpuFault, an Error: capturing its stack costs more than the case.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    let r: Result;
    try {
      r = this.once(c, true);
      for (let k = 0; hot && k < HOT; k++) r = this.once(c, false);
    } finally {
      Error.stackTraceLimit = limit;
    }
    return r.error === undefined ? r : this.once(c, true); // again, for the stack of a real error
  }

  private once(c: Case, fresh: boolean): Result {
    const cpu = this.cpu;
    const ram = this.ram;
    if (fresh) {
      ram.fill(INT3, 0, 0x1000);
      ram.set(c.code, 0);
      cpu.invalidateFrame(0);
    }
    const before = initialData(c);
    ram.set(before, DATA_FRAME);
    for (let r = 0; r < 16; r++) cpu.setReg64(r, c.regs[r]);
    setFlags(cpu, c.rflags);
    cpu.rip = CODE_ADDR;
    cpu.mxcsr = 0x1f80;
    cpu.fsBase = 0;
    cpu.gsBase = 0;
    this.hooks.lastFault = undefined;
    let error: string | undefined;
    try {
      cpu.run(10_000);
    } catch (e) {
      error = `interpreter threw ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e)}`;
    }
    const f = this.hooks.lastFault as CpuFault | undefined; // set by the run, which TS cannot see
    const regs: bigint[] = [];
    for (let r = 0; r < 16; r++) regs.push(u64(cpu.lo[r], cpu.hi[r]));
    const diff = new Map<number, number>();
    const now32 = this.data32, was32 = new Int32Array(before.buffer, before.byteOffset, DATA_SIZE / 4);
    for (let w = 0; w < DATA_SIZE / 4; w++) {
      if (now32[w] === was32[w]) continue;
      for (let k = w * 4; k < w * 4 + 4; k++) if (ram[DATA_FRAME + k] !== before[k]) diff.set(k, ram[DATA_FRAME + k]);
    }
    return {
      vector: f ? f.vector : NO_FAULT,
      err: f ? f.errorCode : 0,
      cr2: f ? BigInt.asUintN(64, BigInt(f.address)) : 0n,
      rip: BigInt.asUintN(64, BigInt(cpu.rip)),
      regs,
      rflags: getFlags(cpu),
      mxcsr: cpu.mxcsr,
      diff,
      error,
      faultMsg: f?.message,
    };
  }
}
