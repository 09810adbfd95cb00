// What the native harness (harness.c) and the interpreter runner (interp.ts) agree on: the
// address-space layout, the case and result records, and the data region's initial contents.

/** One page of code, filled with INT3 around the instruction under test. */
export const CODE_ADDR = 0x100000;
/** Two pages of data: the first for memory operands, the second for the stack. */
export const DATA_ADDR = 0x200000;
export const DATA_SIZE = 0x2000;
export const STACK_PAGE = DATA_ADDR + 0x1000;
export const INT3 = 0xcc;

export const CF = 0x1;
export const PF = 0x4;
export const AF = 0x10;
export const ZF = 0x40;
export const SF = 0x80;
export const TF = 0x100;
export const IF = 0x200;
export const DF = 0x400;
export const OF = 0x800;
export const NT = 0x4000;
export const RF = 0x10000;
export const ID = 0x200000;
export const ARITH = CF | PF | AF | ZF | SF | OF;

export const REG_NAMES = [
  'rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
];

export interface Patch {
  /** Offset in the data region. */
  off: number;
  bytes: Uint8Array;
}

export interface Case {
  family: string;
  /** What was generated (operand forms, counts), for the report. */
  desc: string;
  code: Uint8Array;
  /** RAX..R15 as unsigned 64-bit values. */
  regs: bigint[];
  rflags: number;
  fillSeed: number;
  patches: Patch[];
  /** RFLAGS bits the SDM leaves undefined after this case: not compared. */
  undefFlags: number;
  /** The same when the case ends in a fault (its flags are then those of the instructions before). */
  faultUndefFlags: number;
  /** Register bits the SDM leaves undefined after this case: not compared. */
  undefRegs: { reg: number; mask: bigint }[];
}

export interface Result {
  /** Exception vector the case ended with (3 for the INT3 after it), or a negative signal number. */
  vector: number;
  err: number;
  /** Faulting address of a #PF. */
  cr2: bigint;
  rip: bigint;
  regs: bigint[];
  rflags: number;
  mxcsr: number;
  /** Data-region bytes that differ from the initial contents, by offset. */
  diff: Map<number, number>;
  /** Set when the interpreter failed other than through a CPU fault. */
  error?: string;
  /** The interpreter's description of the fault it raised. */
  faultMsg?: string;
}

/** The data region before patches: xorshift32 (the same stream as fill() in harness.c). */
export function initialData(c: Case): Uint8Array {
  const out = new Uint8Array(DATA_SIZE);
  const dv = new DataView(out.buffer);
  let s = (c.fillSeed ^ 0x9e3779b9) >>> 0;
  if (s === 0) s = 1;
  for (let k = 0; k < DATA_SIZE; k += 4) {
    s = (s ^ (s << 13)) >>> 0;
    s = (s ^ (s >>> 17)) >>> 0;
    s = (s ^ (s << 5)) >>> 0;
    dv.setUint32(k, s, true);
  }
  for (const p of c.patches) out.set(p.bytes, p.off);
  return out;
}
