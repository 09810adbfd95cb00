import type { Cpu } from './cpu.js';
import type { Instr } from './instr.js';

/** A run of decoded instructions ending at a branch, a page end or a size limit. */
export class Block {
  valid = true;
  /** Executions so far (counting stops at the generated tier); the compiled form once hot. */
  hits = 0;
  fn: ((c: Cpu) => void) | null = null;
  /** Successors seen (taken / fall-through), valid while the TLB generation is linkGen. */
  succ0: Block | null = null;
  succ1: Block | null = null;
  linkGen = -1;
  constructor(
    readonly rip: number,
    readonly phys: number,
    readonly instrs: Instr[],
    /** RAM frames the block's bytes come from (one, or two when an instruction straddles). */
    readonly frames: number[],
  ) {}
}
