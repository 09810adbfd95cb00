// System and miscellany: SYSCALL, CPUID, RDTSC(P), flag instructions, NOPs and hints, fences,
// UD2/INT3/INT n, and the privileged instructions that fault at CPL 3 (the PV hypervisor
// emulates some of them on #GP, as Xen's emul-priv-op.c does).

import type { Cpu } from '../cpu.js';
import { Reg } from '../regs.js';
import { CF, DF, getFlags, putFlag } from '../flags.js';
import { CpuFault, Vector, gpFault, udFault } from '../fault.js';
import type { Handler, Instr } from '../instr.js';
import { OpF, def, defPick, terminator } from '../optable.js';
import { ea } from './operands.js';
import { hi32 } from '../u64.js';

const syscall = terminator((c: Cpu, i: Instr) => {
  // Architectural effects first (RCX = return address, R11 = RFLAGS), then the layer above.
  const n = i.next;
  c.lo[Reg.RCX] = n | 0;
  c.hi[Reg.RCX] = hi32(n);
  c.lo[Reg.R11] = getFlags(c) & ~0x10000;
  c.hi[Reg.R11] = 0;
  c.hooks.syscall(c);
});
def(0x105, 0, 'syscall', syscall);

def(0x1a2, 0, 'cpuid', (c) => c.hooks.cpuid(c));

function rdtsc(c: Cpu): void {
  const t = c.hooks.rdtsc(c);
  c.lo[0] = t | 0;
  c.hi[0] = 0;
  c.lo[2] = hi32(t);
  c.hi[2] = 0;
}
def(0x131, 0, 'rdtsc', rdtsc);

// 0F 01: RDTSCP (F9) is unprivileged; everything else here faults at CPL 3.
const rdtscp: Handler = (c) => {
  rdtsc(c);
  c.lo[Reg.RCX] = c.tscAux;
  c.hi[Reg.RCX] = 0;
};
const privileged: Handler = () => {
  throw gpFault('privileged instruction at CPL 3');
};
defPick(0x101, OpF.ModRM, 'group7', (i) => (i.mod === 3 && (i.reg & 7) === 7 && i.rm === 1 ? rdtscp : privileged));

// Flag instructions.
def(0xf5, 0, 'cmc', (c) => putFlag(c, CF, (getFlags(c) & CF) === 0));
def(0xf8, 0, 'clc', (c) => putFlag(c, CF, false));
def(0xf9, 0, 'stc', (c) => putFlag(c, CF, true));
def(0xfc, 0, 'cld', (c) => {
  c.flags &= ~DF;
});
def(0xfd, 0, 'std', (c) => {
  c.flags |= DF;
});

// NOPs and hints: 0F 1F /0 (multi-byte NOP), 0F 18..1E (prefetch and reserved hint NOPs),
// 0F 0D (PREFETCHW).
const nop: Handler = () => {};
def(0x11f, OpF.ModRM, 'nop', nop);
for (let op = 0x118; op <= 0x11e; op++) def(op, OpF.ModRM, 'hint nop', nop);
def(0x10d, OpF.ModRM, 'prefetchw', nop);

/** CLFLUSH: no caches to flush, but it is a load for permission checks (#PF on an unmapped page). */
const clflush: Handler = (c, i) => {
  c.m.readableOffset(ea(c, i));
};

/** 0F AE: fences here; FXSAVE/FXRSTOR/LDMXCSR/STMXCSR (memory forms /0../3) come from sse. */
export const groupAE: (Handler | undefined)[] = [];
defPick(0x1ae, OpF.ModRM, 'group15', (i) => {
  const r = i.reg & 7;
  if (i.mod === 3) return r >= 5 ? nop : undefined; // LFENCE, MFENCE, SFENCE
  if (r === 7) return clflush;
  return groupAE[r];
});

// Traps and invalid opcodes: leave as structured events.
def(0x10b, 0, 'ud2', terminator(() => {
  throw udFault('ud2');
}));
def(0xcc, 0, 'int3', terminator((c: Cpu) => {
  // A trap: the reported RIP is after the instruction, so the fault carries it.
  throw new CpuFault(Vector.BP, 0, c.rip, 'int3');
}));
def(0xcd, OpF.Ib, 'int', terminator((_c: Cpu, i: Instr) => {
  // INT n from CPL 3 through a DPL-0 gate is #GP with the vector in the error code.
  throw gpFault(`int 0x${(i.imm & 0xff).toString(16)}`, ((i.imm & 0xff) << 3) | 2);
}));

// Privileged at CPL 3 (IOPL 0): HLT, CLI, STI, IN, OUT, INS, OUTS, MOV CR/DR, RDMSR, WRMSR,
// WBINVD, INVD, CLTS, SWAPGS (in group 7), RDPMC.
for (const op of [0xf4, 0xfa, 0xfb, 0xe4, 0xe5, 0xe6, 0xe7, 0xec, 0xed, 0xee, 0xef, 0x6c, 0x6d, 0x6e, 0x6f]) {
  def(op, op >= 0xe4 && op <= 0xe7 ? OpF.Ib : 0, 'privileged', privileged);
}
for (const op of [0x120, 0x121, 0x122, 0x123]) def(op, OpF.ModRM, 'mov cr/dr', privileged);
for (const op of [0x130, 0x132, 0x133, 0x106, 0x108, 0x109]) def(op, 0, 'privileged', privileged);

