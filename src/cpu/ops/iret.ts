// IRETQ at CPL 3: a same-privilege return (Linux's iret_to_self in sync_core() runs it in a PV
// guest kernel, which Xen does not trap). Returning to a more privileged CS is #GP.

import { SReg } from '../regs.js';
import type { Cpu } from '../cpu.js';
import { getFlags, setFlags } from '../flags.js';
import { gpFault } from '../fault.js';
import type { Instr } from '../instr.js';
import { OpF, defPick, terminator } from '../optable.js';
import { pop64 } from './stack.js';
import { join64 } from '../u64.js';

// At CPL 3 with IOPL 0, IRET may not change IF, IOPL or VM (SDM IRET pseudo-code).
const KEEP = 0x200 | 0x3000 | 0x20000;

const iretq = terminator((c: Cpu, _i: Instr) => {
  const sp0 = c.lo[4], sp1 = c.hi[4];
  const ripLo = pop64(c), ripHi = c.rh;
  const cs = pop64(c) & 0xffff;
  const fl = pop64(c);
  const rspLo = pop64(c), rspHi = c.rh;
  const ss = pop64(c) & 0xffff;
  if ((cs & 3) !== 3) {
    c.lo[4] = sp0;
    c.hi[4] = sp1;
    throw gpFault(`iret to CS ${cs.toString(16)} from CPL 3`, cs & ~3);
  }
  setFlags(c, (getFlags(c) & KEEP) | (fl & ~KEEP & 0x3f7fd5));
  c.sreg[SReg.CS] = cs;
  c.sreg[SReg.SS] = ss;
  c.lo[4] = rspLo;
  c.hi[4] = rspHi;
  c.rip = join64(ripHi, ripLo);
});

defPick(0xcf, OpF.D64, 'iret', (i) => (i.opsz === 8 ? iretq : undefined));
