// The declarative opcode table. Instruction families (ops/*.ts, one file per family, as in
// Blink) register their opcodes here with their operand format; decoder.ts is driven by it.

import type { Handler, Instr } from './instr.js';

export const enum OpF {
  ModRM = 1 << 0,
  /** 8-bit immediate, sign-extended. */
  Ib = 1 << 1,
  /** 16-bit immediate (RET imm16; ENTER's first). */
  Iw = 1 << 2,
  /** Immediate of operand size, at most 32 bits, sign-extended to 64. */
  Iz = 1 << 3,
  /** Immediate of full operand size (MOV r64, imm64). */
  Iv = 1 << 4,
  /** 8-bit / 32-bit relative branch target. */
  Jb = 1 << 5,
  Jz = 1 << 6,
  /** Operand size defaults to 64 in long mode (PUSH, POP, ...); 66 gives 16. */
  D64 = 1 << 7,
  /** Operand size is always 64 (near branches). */
  F64 = 1 << 8,
  /** 8-bit operands: reg and rm use the byte-register numbering (AH..BH as 16..19). */
  Byte = 1 << 9,
  /** Only the rm operand is 8-bit (MOVZX/MOVSX r, r/m8). */
  RmByte = 1 << 10,
  /** 64-bit absolute memory offset (MOV AL/rAX <-> moffs). */
  Moffs = 1 << 11,
  /** ENTER: Iw then Ib. */
  IwIb = 1 << 12,
  /** Operand size ignores 66 (SSE, where 66 is a mandatory prefix). */
  NoOpsz = 1 << 13,
  /** Group 3 (F6/F7): /0 and /1 (TEST) carry an immediate, the others none. */
  Grp3Imm = 1 << 14,
  /** Group 5 (FF): /2../5 (CALL, JMP) are 64-bit, /6 (PUSH) defaults to 64. */
  Grp5 = 1 << 15,
}

export type Pick = (i: Instr) => Handler | undefined;

export interface OpEntry {
  readonly flags: number;
  readonly name: string;
  readonly pick: Pick;
}

/** Index: one-byte map 0x000-0x0ff, 0F 0x100-0x1ff, 0F38 0x200-0x2ff, 0F3A 0x300-0x3ff. */
export const OPS: (OpEntry | undefined)[] = new Array(0x400).fill(undefined);

/** Handlers that end a block (branches, SYSCALL, anything that changes RIP or mode). */
export const TERMINATORS = new Set<Handler>();

export function def(op: number, flags: number, name: string, h: Handler): void {
  defPick(op, flags, name, () => h);
}

/** Register an opcode whose handler depends on the decoded instruction (size, mod, group). */
export function defPick(op: number, flags: number, name: string, pick: Pick): void {
  const old = OPS[op];
  if (old !== undefined) throw new Error(`opcode 0x${op.toString(16)} defined twice (${old.name}, ${name})`);
  OPS[op] = { flags, name, pick };
}

export function terminator<H extends Handler>(h: H): H {
  TERMINATORS.add(h);
  return h;
}
