// General-register numbers (ModRM/REX encoding order).
export const enum Reg {
  RAX = 0, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15,
}

/** Segment-register numbers (the ModRM reg encoding of MOV Sreg), indexes of Cpu.sreg. */
export const enum SReg {
  ES = 0, CS, SS, DS, FS, GS,
}
