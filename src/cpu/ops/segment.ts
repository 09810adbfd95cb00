// LAR and LSL: read a segment descriptor's access rights / limit (Linux's force_valid_ss uses
// LAR on the saved SS when it builds a signal frame). Descriptors come from the layer above
// (c.descriptor): the CPU has no GDT of its own in a PV guest.

import type { Cpu } from '../cpu.js';
import { getFlags, setFlags, ZF } from '../flags.js';
import type { Instr } from '../instr.js';
import { OpF, def } from '../optable.js';
import { readE, setReg } from './operands.js';

function lookup(c: Cpu, i: Instr): [number, number] | null {
  const sel = readE(c, i, 2) & 0xffff;
  if ((sel & ~3) === 0) return null; // the null selector is never valid
  return c.descriptor(sel);
}

function lar(c: Cpu, i: Instr): void {
  const d = lookup(c, i);
  const f = getFlags(c) & ~ZF;
  // Only code/data descriptors and a few system types are "valid" for LAR; flat guests use the former.
  if (d === null || ((d[1] >>> 12) & 1) === 0) {
    setFlags(c, f);
    return;
  }
  setReg(c, i.reg, i.opsz === 2 ? 2 : 4, d[1] & 0x00f0ff00, 0);
  setFlags(c, f | ZF);
}

function lsl(c: Cpu, i: Instr): void {
  const d = lookup(c, i);
  const f = getFlags(c) & ~ZF;
  if (d === null || ((d[1] >>> 12) & 1) === 0) {
    setFlags(c, f);
    return;
  }
  let limit = (d[0] & 0xffff) | (d[1] & 0xf0000);
  if (d[1] & (1 << 23)) limit = ((limit << 12) | 0xfff) >>> 0; // granularity: 4 KiB units
  setReg(c, i.reg, i.opsz === 2 ? 2 : 4, limit | 0, 0);
  setFlags(c, f | ZF);
}

def(0x102, OpF.ModRM, 'lar', lar);
def(0x103, OpF.ModRM, 'lsl', lsl);
