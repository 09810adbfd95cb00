// One decoded instruction. Decoded once, executed many times from the code cache, so every
// field is a plain number and every Instr has the same shape (one hidden class for V8).

import type { Cpu } from './cpu.js';

export type Handler = (c: Cpu, i: Instr) => void;

/** Segment override that matters in 64-bit mode. */
export const enum Seg {
  None = 0,
  FS = 4,
  GS = 5,
}

/** Mandatory-prefix class of an SSE opcode: none, 66, F3, F2. */
export const enum Pfx {
  None = 0,
  P66 = 1,
  PF3 = 2,
  PF2 = 3,
}

/** Base/index value meaning "RIP-relative" for `base` (disp already holds the absolute address). */
export const NO_REG = -1;

export class Instr {
  exec: Handler;
  /** Linear address of the first byte and of the next instruction (signed doubles). */
  rip = 0;
  next = 0;
  len = 0;
  /** Opcode: one-byte map 0x00-0xff, 0F map 0x100-0x1ff, 0F38 0x200-0x2ff, 0F3A 0x300-0x3ff. */
  op = 0;
  /** Operand size in bytes (1, 2, 4, 8) and address size (4 or 8). */
  opsz = 4;
  adsz = 8;
  /** ModRM.reg with REX.R; for 8-bit operands 16..19 name AH, CH, DH, BH. */
  reg = 0;
  /** ModRM.rm with REX.B when mod == 3 (same 8-bit convention as reg). */
  rm = 0;
  mod = 0;
  /** Memory operand: base and index registers (NO_REG if absent), scale multiplier, disp. */
  base = NO_REG;
  index = NO_REG;
  scale = 1;
  disp = 0;
  seg: Seg = Seg.None;
  /** Immediate as sign-extended halves; imm2 is ENTER's second immediate. */
  imm = 0;
  immHi = 0;
  imm2 = 0;
  /** Branch target (signed double) for relative branches. */
  target = 0;
  /** Condition code for Jcc/SETcc/CMOVcc. */
  cc = 0;
  rex = 0;
  /** REP prefix: 0 none, 1 REPE/REP (F3), 2 REPNE (F2). */
  rep = 0;
  lock = false;
  pfx: Pfx = Pfx.None;
  /** VEX-free SSE register operands: XMM numbers for reg and rm. */
  constructor(exec: Handler) {
    this.exec = exec;
  }
}
