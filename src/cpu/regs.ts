// General-register numbers (ModRM/REX encoding order).
export const enum Reg {
  RAX = 0, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15,
}
