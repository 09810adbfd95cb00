// Multiply and divide: MUL, IMUL (one, two and three operands), DIV, IDIV, with 128-bit
// results for 64-bit operands. 64-bit products and quotients that do not fit the fast paths
// use BigInt: they are rare enough in practice that exactness wins over speed.

import type { Cpu } from '../cpu.js';
import { Reg } from '../regs.js';
import { getFlags, setFlags, CF, OF, SF, ZF, PF, AF } from '../flags.js';
import { CpuFault, Vector } from '../fault.js';
import type { Handler, Instr } from '../instr.js';
import { OpF, def } from '../optable.js';
import { group3Mul } from './alu.js';
import { getReg, readE, setReg } from './operands.js';

/** High 32 bits of the unsigned 64-bit product of two uint32 (16-bit limbs keep it exact). */
export function mulHiU32(a: number, b: number): number {
  const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
  const p01 = a0 * b1, p10 = a1 * b0;
  const mid = ((a0 * b0) >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  return (a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) | 0;
}

/** Low 64 bits of a 64x64 product: low half returned, high half in c.rh. */
function mul64lo(c: Cpu, a: number, aH: number, b: number, bH: number): number {
  c.rh = (mulHiU32(a, b) + Math.imul(a, bH) + Math.imul(aH, b)) | 0;
  return Math.imul(a, b);
}

/** MUL/IMUL set CF=OF; SF, ZF, PF are undefined (we leave them from the low result, AF 0). */
function mulFlags(c: Cpu, overflow: boolean): void {
  // CF = OF = the product did not fit; SF, ZF, AF, PF are undefined (SDM) and cleared here.
  setFlags(c, (getFlags(c) & ~(CF | OF | SF | ZF | PF | AF)) | (overflow ? CF | OF : 0));
}

const big = (lo: number, hi: number) => (BigInt(hi) << 32n) | BigInt(lo >>> 0);
const lo32 = (v: bigint) => Number(BigInt.asIntN(32, v));
const hi32 = (v: bigint) => Number(BigInt.asIntN(32, v >> 32n));

function divideError(): CpuFault {
  return new CpuFault(Vector.DE, 0, 0, 'divide error');
}

// ---- one-operand forms (group 3 /4../7) ----
function mul1(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const b = readE(c, i, sz), bH = c.rh;
  switch (sz) {
    case 1: {
      const r = (c.lo[0] & 0xff) * b;
      setReg(c, 0, 2, r, 0);
      mulFlags(c, r > 0xff);
      return;
    }
    case 2: {
      const r = (c.lo[0] & 0xffff) * b;
      setReg(c, 0, 2, r & 0xffff, 0);
      setReg(c, 2, 2, r >>> 16, 0);
      mulFlags(c, r > 0xffff);
      return;
    }
    case 4: {
      const a = c.lo[0];
      const hi = mulHiU32(a, b);
      setReg(c, 0, 4, Math.imul(a, b), 0);
      setReg(c, 2, 4, hi, 0);
      mulFlags(c, hi !== 0);
      return;
    }
    default: {
      const p = BigInt.asUintN(64, big(c.lo[0], c.hi[0])) * BigInt.asUintN(64, big(b, bH));
      const h = p >> 64n;
      c.lo[0] = lo32(p); c.hi[0] = hi32(p);
      c.lo[2] = lo32(h); c.hi[2] = hi32(h);
      mulFlags(c, h !== 0n);
    }
  }
}

function imul1(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const b = readE(c, i, sz), bH = c.rh;
  switch (sz) {
    case 1: {
      const r = ((c.lo[0] << 24) >> 24) * ((b << 24) >> 24);
      setReg(c, 0, 2, r & 0xffff, 0);
      mulFlags(c, r !== (r << 24) >> 24);
      return;
    }
    case 2: {
      const r = ((c.lo[0] << 16) >> 16) * ((b << 16) >> 16);
      setReg(c, 0, 2, r & 0xffff, 0);
      setReg(c, 2, 2, (r >> 16) & 0xffff, 0);
      mulFlags(c, r !== (r << 16) >> 16);
      return;
    }
    case 4: {
      const p = BigInt(c.lo[0]) * BigInt(b);
      setReg(c, 0, 4, lo32(p), 0);
      setReg(c, 2, 4, hi32(p), 0);
      mulFlags(c, p !== BigInt(lo32(p)));
      return;
    }
    default: {
      const p = big(c.lo[0], c.hi[0]) * big(b, bH);
      const h = p >> 64n;
      c.lo[0] = lo32(p); c.hi[0] = hi32(p);
      c.lo[2] = lo32(h); c.hi[2] = hi32(h);
      mulFlags(c, p !== BigInt.asIntN(64, p));
    }
  }
}

function div1(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const b = readE(c, i, sz), bH = c.rh;
  switch (sz) {
    case 1: {
      if (b === 0) throw divideError();
      const a = c.lo[0] & 0xffff;
      const q = Math.floor(a / b);
      if (q > 0xff) throw divideError();
      setReg(c, 0, 2, ((a % b) << 8) | q, 0);
      return;
    }
    case 2: {
      if (b === 0) throw divideError();
      const a = (c.lo[2] & 0xffff) * 65536 + (c.lo[0] & 0xffff);
      const q = Math.floor(a / b);
      if (q > 0xffff) throw divideError();
      setReg(c, 0, 2, q, 0);
      setReg(c, 2, 2, a % b, 0);
      return;
    }
    case 4: {
      const d = b >>> 0;
      if (d === 0) throw divideError();
      const hi = c.lo[2] >>> 0;
      if (hi === 0) {
        const a = c.lo[0] >>> 0;
        setReg(c, 0, 4, Math.floor(a / d) | 0, 0);
        setReg(c, 2, 4, a % d | 0, 0);
        return;
      }
      const a = (BigInt(hi) << 32n) | BigInt(c.lo[0] >>> 0);
      const q = a / BigInt(d);
      if (q > 0xffffffffn) throw divideError();
      setReg(c, 0, 4, lo32(q), 0);
      setReg(c, 2, 4, lo32(a % BigInt(d)), 0);
      return;
    }
    default: {
      const d = BigInt.asUintN(64, big(b, bH));
      if (d === 0n) throw divideError();
      const a = (BigInt.asUintN(64, big(c.lo[2], c.hi[2])) << 64n) | BigInt.asUintN(64, big(c.lo[0], c.hi[0]));
      const q = a / d;
      if (q >> 64n !== 0n) throw divideError();
      const r = a % d;
      c.lo[0] = lo32(q); c.hi[0] = hi32(q);
      c.lo[2] = lo32(r); c.hi[2] = hi32(r);
    }
  }
}

function idiv1(c: Cpu, i: Instr): void {
  const sz = i.opsz;
  const b = readE(c, i, sz), bH = c.rh;
  switch (sz) {
    case 1: {
      const d = (b << 24) >> 24;
      if (d === 0) throw divideError();
      const a = (c.lo[0] << 16) >> 16;
      const q = Math.trunc(a / d);
      if (q > 127 || q < -128) throw divideError();
      setReg(c, 0, 2, (((a % d) & 0xff) << 8) | (q & 0xff), 0);
      return;
    }
    case 2: {
      const d = (b << 16) >> 16;
      if (d === 0) throw divideError();
      const a = ((c.lo[2] << 16) >> 16) * 65536 + (c.lo[0] & 0xffff);
      const q = Math.trunc(a / d);
      if (q > 32767 || q < -32768) throw divideError();
      setReg(c, 0, 2, q & 0xffff, 0);
      setReg(c, 2, 2, (a % d) & 0xffff, 0);
      return;
    }
    case 4: {
      if (b === 0) throw divideError();
      const a = (BigInt(c.lo[2]) << 32n) | BigInt(c.lo[0] >>> 0);
      const q = a / BigInt(b);
      if (q > 0x7fffffffn || q < -0x80000000n) throw divideError();
      setReg(c, 0, 4, lo32(q), 0);
      setReg(c, 2, 4, lo32(a % BigInt(b)), 0);
      return;
    }
    default: {
      const d = big(b, bH);
      if (d === 0n) throw divideError();
      const a = (big(c.lo[2], c.hi[2]) << 64n) | BigInt.asUintN(64, big(c.lo[0], c.hi[0]));
      const q = a / d;
      if (q !== BigInt.asIntN(64, q)) throw divideError();
      const r = a % d;
      c.lo[0] = lo32(q); c.hi[0] = hi32(q);
      c.lo[2] = lo32(r); c.hi[2] = hi32(r);
    }
  }
}

group3Mul[4] = mul1;
group3Mul[5] = imul1;
group3Mul[6] = div1;
group3Mul[7] = idiv1;

// ---- two- and three-operand IMUL: destination is a register, result truncated ----
function imulTrunc(c: Cpu, i: Instr, a: number, aH: number, b: number, bH: number): void {
  const sz = i.opsz;
  if (sz === 8) {
    const lo = mul64lo(c, a, aH, b, bH);
    const hi = c.rh;
    // Both factors fit in int32 => the product fits in int64: no BigInt on the common path.
    const small = aH === a >> 31 && bH === b >> 31;
    const overflow = small ? false : big(a, aH) * big(b, bH) !== big(lo, hi);
    setReg(c, i.reg, 8, lo, hi);
    mulFlags(c, overflow);
  } else if (sz === 4) {
    const lo = Math.imul(a, b);
    setReg(c, i.reg, 4, lo, 0);
    mulFlags(c, a * b !== lo); // exact below 2^53, and certainly unequal above
  } else {
    const r = ((a << 16) >> 16) * ((b << 16) >> 16);
    setReg(c, i.reg, 2, r & 0xffff, 0);
    mulFlags(c, r !== (r << 16) >> 16);
  }
}

const imul2: Handler = (c, i) => {
  const sz = i.opsz;
  const b = readE(c, i, sz), bH = c.rh;
  const a = getReg(c, i.reg, sz), aH = c.rh;
  imulTrunc(c, i, a, aH, b, bH);
};
const imul3: Handler = (c, i) => {
  const sz = i.opsz;
  const a = readE(c, i, sz), aH = c.rh;
  imulTrunc(c, i, a, aH, i.imm, i.immHi);
};
def(0x1af, OpF.ModRM, 'imul', imul2);
def(0x69, OpF.ModRM | OpF.Iz, 'imul', imul3);
def(0x6b, OpF.ModRM | OpF.Ib, 'imul', imul3);

export { Reg };
