// String instructions: MOVS, STOS, LODS, CMPS, SCAS with REP/REPE/REPNE.
// REP MOVS and REP STOS copy whole page runs at a time through the RAM buffer.

import type { Cpu } from '../cpu.js';
import { Reg } from '../regs.js';
import { DF } from '../flags.js';
import type { Handler, Instr } from '../instr.js';
import { OpF, def } from '../optable.js';
import { alu } from './alu.js';
import { getReg, readMem, setReg, writeMem } from './operands.js';
import { join64, hi32 } from '../u64.js';

const RSI = Reg.RSI, RDI = Reg.RDI, RCX = Reg.RCX;

function rd(c: Cpu, r: number, i: Instr): number {
  return i.adsz === 4 ? c.lo[r] >>> 0 : join64(c.hi[r], c.lo[r]);
}
function wr(c: Cpu, r: number, v: number, i: Instr): void {
  if (i.adsz === 4) {
    c.lo[r] = v | 0;
    c.hi[r] = 0;
  } else {
    c.lo[r] = v | 0;
    c.hi[r] = hi32(v);
  }
}
function count(c: Cpu, i: Instr): number {
  return i.adsz === 4 ? c.lo[RCX] >>> 0 : join64(c.hi[RCX], c.lo[RCX]);
}
function segBase(c: Cpu, i: Instr): number {
  return i.seg === 4 ? c.fsBase : i.seg === 5 ? c.gsBase : 0;
}

function movs(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const step = c.flags & DF ? -sz : sz;
  const base = segBase(c, i);
  if (i.rep === 0) {
    const v = readMem(c, base + rd(c, RSI, i), sz);
    writeMem(c, rd(c, RDI, i), sz, v, c.rh);
    wr(c, RSI, rd(c, RSI, i) + step, i);
    wr(c, RDI, rd(c, RDI, i) + step, i);
    return;
  }
  let n = count(c, i);
  while (n > 0) {
    const s = rd(c, RSI, i), d = rd(c, RDI, i);
    if (step > 0) {
      // Bulk: as many elements as fit in both current pages.
      const room = Math.min(4096 - ((s + base) & 0xfff) , 4096 - (d & 0xfff));
      const k = Math.min(n, Math.floor(room / sz));
      if (k > 1) {
        const so = c.m.readableOffset(s + base), dof = c.m.writableOffset(d);
        const bytes = k * sz;
        if (dof > so && dof < so + bytes) {
          for (let j = 0; j < bytes; j++) c.m.ram[dof + j] = c.m.ram[so + j]; // overlap replicates, as hardware
        } else c.m.ram.copyWithin(dof, so, so + bytes);
        wr(c, RSI, s + bytes, i);
        wr(c, RDI, d + bytes, i);
        n -= k;
        wr(c, RCX, n, i);
        continue;
      }
    }
    const v = readMem(c, s + base, sz);
    writeMem(c, d, sz, v, c.rh);
    wr(c, RSI, s + step, i);
    wr(c, RDI, d + step, i);
    n -= 1;
    wr(c, RCX, n, i);
  }
}

function stos(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const step = c.flags & DF ? -sz : sz;
  const v = getReg(c, Reg.RAX, sz), vh = c.rh;
  if (i.rep === 0) {
    writeMem(c, rd(c, RDI, i), sz, v, vh);
    wr(c, RDI, rd(c, RDI, i) + step, i);
    return;
  }
  let n = count(c, i);
  while (n > 0) {
    const d = rd(c, RDI, i);
    if (step > 0) {
      const k = Math.min(n, Math.floor((4096 - (d & 0xfff)) / sz));
      if (k > 1) {
        const off = c.m.writableOffset(d);
        const ram = c.m.ram;
        if (sz === 1) ram.fill(v & 0xff, off, off + k);
        else {
          // Write one element, then double the filled run.
          writeMem(c, d, sz, v, vh);
          let done = sz;
          const total = k * sz;
          while (done < total) {
            const len = Math.min(done, total - done);
            ram.copyWithin(off + done, off, off + len);
            done += len;
          }
        }
        wr(c, RDI, d + k * sz, i);
        n -= k;
        wr(c, RCX, n, i);
        continue;
      }
    }
    writeMem(c, d, sz, v, vh);
    wr(c, RDI, d + step, i);
    n -= 1;
    wr(c, RCX, n, i);
  }
}

function lods(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const step = c.flags & DF ? -sz : sz;
  const base = segBase(c, i);
  let n = i.rep === 0 ? 1 : count(c, i);
  while (n > 0) {
    const s = rd(c, RSI, i);
    const v = readMem(c, s + base, sz);
    setReg(c, Reg.RAX, sz, v, c.rh);
    wr(c, RSI, s + step, i);
    n -= 1;
    if (i.rep !== 0) wr(c, RCX, n, i);
  }
}

/** CMPS/SCAS: REPE stops when ZF=0, REPNE when ZF=1. */
function cmps(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const step = c.flags & DF ? -sz : sz;
  const base = segBase(c, i);
  let n = i.rep === 0 ? 1 : count(c, i);
  while (n > 0) {
    const s = rd(c, RSI, i), d = rd(c, RDI, i);
    const a = readMem(c, s + base, sz), aH = c.rh;
    const b = readMem(c, d, sz), bH = c.rh;
    alu(c, 7, sz, a, sz === 8 ? aH : 0, b, sz === 8 ? bH : 0);
    wr(c, RSI, s + step, i);
    wr(c, RDI, d + step, i);
    if (i.rep === 0) return;
    n -= 1;
    wr(c, RCX, n, i);
    const zf = (c.fr | c.frH) === 0;
    if (i.rep === 1 ? !zf : zf) return;
  }
}

function scas(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const step = c.flags & DF ? -sz : sz;
  const a = getReg(c, Reg.RAX, sz), aH = sz === 8 ? c.rh : 0;
  let n = i.rep === 0 ? 1 : count(c, i);
  while (n > 0) {
    const d = rd(c, RDI, i);
    const b = readMem(c, d, sz), bH = c.rh;
    alu(c, 7, sz, a, aH, b, sz === 8 ? bH : 0);
    wr(c, RDI, d + step, i);
    if (i.rep === 0) return;
    n -= 1;
    wr(c, RCX, n, i);
    const zf = (c.fr | c.frH) === 0;
    if (i.rep === 1 ? !zf : zf) return;
  }
}

const table: [number, Handler][] = [
  [0xa4, movs], [0xa6, cmps], [0xaa, stos], [0xac, lods], [0xae, scas],
];
for (const [op, h] of table) {
  def(op, OpF.Byte, 'string', h);
  def(op + 1, 0, 'string', h);
}
