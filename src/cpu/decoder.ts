// Decodes x86-64 instructions into Instr records, a block at a time, driven by optable.ts.

import { TWO32 } from './u64.js';
import { Block } from './block.js';
import type { Cpu } from './cpu.js';
import { CpuFault, UnimplementedInstruction, hexBytes, hex64 } from './fault.js';
import { Instr, NO_REG, Pfx, Seg, type Handler } from './instr.js';
import { OPS, OpF, TERMINATORS } from './optable.js';
import './ops/index.js';
import { lockable } from './ops/atomic.js';

const MAX_BLOCK = 64;
const MAX_INSN_LEN = 15;
/** 8-bit opcodes whose ModRM.reg selects the operation (80 C0 C6 D0 D2 F6 FE). */
const BYTE_GROUPS = new Set([0x80, 0xc0, 0xc6, 0xd0, 0xd2, 0xf6, 0xfe]);

/** Raised inside decode when the bytes end (fetch fault) or are not an instruction we know. */
class DecodeStop {
  constructor(readonly fault: CpuFault) {}
}

/** Fetch cursor: reads instruction bytes through the TLB with fetch permission. */
class Fetcher {
  c!: Cpu;
  pos = 0;
  start = 0;
  frames: number[] = [];
  byte(): number {
    if (this.pos - this.start >= MAX_INSN_LEN) {
      throw new DecodeStop(new CpuFault(13, 0, 0, `instruction longer than 15 bytes at ${hex64(this.start)}`));
    }
    let off: number;
    try {
      off = this.c.m.fetchOffset(this.pos);
    } catch (e) {
      if (e instanceof CpuFault) throw new DecodeStop(e);
      throw e;
    }
    const f = off >>> 12;
    if (this.frames[this.frames.length - 1] !== f && !this.frames.includes(f)) this.frames.push(f);
    this.pos++;
    return this.c.m.ram[off];
  }
  s8(): number {
    return (this.byte() << 24) >> 24;
  }
  u16(): number {
    return this.byte() | (this.byte() << 8);
  }
  s32(): number {
    return this.byte() | (this.byte() << 8) | (this.byte() << 16) | (this.byte() << 24);
  }
}

const fetcher = new Fetcher();

/** Placeholder handler while an Instr is being decoded (never executed: decode sets the real one). */
const UNDECODED: Handler = () => {
  throw new CpuFault(6, 0, 0, 'executed an instruction that was never decoded');
};

function raiser(f: CpuFault): Handler {
  return () => {
    throw f;
  };
}

/** Decode one instruction at fetcher.pos. */
function decodeOne(c: Cpu, rip: number): Instr {
  const F = fetcher;
  F.start = rip;
  F.pos = rip;
  const i = new Instr(UNDECODED);
  i.rip = rip;
  let rex = 0;
  let opsz16 = false;
  let adsz32 = false;
  let b: number;
  let last66 = false, lastF2 = false, lastF3 = false;
  // Legacy prefixes, then REX (a REX followed by a legacy prefix is ignored, as on hardware).
  for (;;) {
    b = F.byte();
    if (b === 0x66) { opsz16 = true; last66 = true; rex = 0; continue; }
    if (b === 0x67) { adsz32 = true; rex = 0; continue; }
    if (b === 0xf0) { i.lock = true; rex = 0; continue; }
    if (b === 0xf2) { i.rep = 2; lastF2 = true; lastF3 = false; rex = 0; continue; }
    if (b === 0xf3) { i.rep = 1; lastF3 = true; lastF2 = false; rex = 0; continue; }
    if (b === 0x2e || b === 0x36 || b === 0x3e || b === 0x26) { rex = 0; continue; }
    if (b === 0x64) { i.seg = Seg.FS; rex = 0; continue; }
    if (b === 0x65) { i.seg = Seg.GS; rex = 0; continue; }
    if ((b & 0xf0) === 0x40) { rex = b; continue; }
    break;
  }
  let op = b;
  if (b === 0x0f) {
    const b2 = F.byte();
    if (b2 === 0x38) op = 0x200 | F.byte();
    else if (b2 === 0x3a) op = 0x300 | F.byte();
    else op = 0x100 | b2;
  }
  i.op = op;
  i.rex = rex;
  // Mandatory-prefix class for SSE: F2/F3 win over 66.
  i.pfx = lastF2 ? Pfx.PF2 : lastF3 ? Pfx.PF3 : last66 ? Pfx.P66 : Pfx.None;
  const e = OPS[op];
  if (e === undefined) {
    const bytes = c.m.readBytes(rip, Math.max(1, F.pos - rip));
    throw new DecodeStop(new UnimplementedInstruction(bytes, rip, `opcode ${opName(op)}`));
  }
  const fl = e.flags;
  const rexW = (rex & 8) !== 0;
  if (fl & OpF.Byte) i.opsz = 1;
  else if (fl & OpF.F64) i.opsz = 8;
  else if (rexW) i.opsz = 8;
  else if (opsz16 && !(fl & OpF.NoOpsz)) i.opsz = 2;
  else if (fl & OpF.D64) i.opsz = 8;
  else i.opsz = 4;
  i.adsz = adsz32 ? 4 : 8;
  let ripRel = false;
  if (fl & OpF.ModRM) {
    const m = F.byte();
    const mod = m >> 6;
    let reg = ((m >> 3) & 7) | ((rex & 4) << 1);
    let rm = (m & 7) | ((rex & 1) << 3);
    i.mod = mod;
    // AH..BH = 16..19; in the byte groups ModRM.reg is an opcode digit, not a register.
    if (fl & OpF.Byte && rex === 0 && reg >= 4 && reg < 8 && !BYTE_GROUPS.has(op)) reg += 12;
    i.reg = reg;
    if (mod === 3) {
      if ((fl & (OpF.Byte | OpF.RmByte)) && rex === 0 && rm >= 4 && rm < 8) rm += 12;
      i.rm = rm;
    } else {
      let disp = 0;
      if ((m & 7) === 4) {
        const sib = F.byte();
        const scale = sib >> 6;
        const index = ((sib >> 3) & 7) | ((rex & 2) << 2);
        let base = (sib & 7) | ((rex & 1) << 3);
        i.index = index === 4 ? NO_REG : index;
        i.scale = 1 << scale;
        if ((sib & 7) === 5 && mod === 0) {
          base = NO_REG;
          disp = F.s32();
        }
        i.base = base;
      } else if ((m & 7) === 5 && mod === 0) {
        ripRel = true;
        i.base = NO_REG;
        disp = F.s32();
      } else {
        i.base = rm;
      }
      if (mod === 1) disp = F.s8();
      else if (mod === 2) disp = F.s32();
      i.disp = disp;
    }
    if (fl & OpF.Grp5) {
      const r = (m >> 3) & 7;
      if (r >= 2 && r <= 5) i.opsz = 8;
      else if (r === 6) i.opsz = opsz16 && !rexW ? 2 : 8; // REX.W wins over 66
    }
  }
  let grp3imm = false;
  if (fl & OpF.Grp3Imm && (i.reg & 7) < 2) grp3imm = true;
  // Immediates.
  if (fl & OpF.Ib) {
    i.imm = F.s8();
    i.immHi = i.imm >> 31;
  } else if (fl & OpF.Iw) {
    i.imm = F.u16();
    if (fl & OpF.IwIb) i.imm2 = F.byte();
  } else if (fl & OpF.Iz || grp3imm) {
    if (i.opsz === 2) i.imm = (F.u16() << 16) >> 16;
    else if (i.opsz === 1) i.imm = F.s8();
    else i.imm = F.s32();
    i.immHi = i.imm >> 31;
  } else if (fl & OpF.Iv) {
    if (i.opsz === 1) i.imm = F.byte();
    else if (i.opsz === 2) i.imm = F.u16();
    else if (i.opsz === 4) i.imm = F.s32();
    else {
      i.imm = F.s32();
      i.immHi = F.s32();
    }
  } else if (fl & OpF.Moffs) {
    if (adsz32) i.disp = F.s32() >>> 0;
    else {
      const l = F.s32() >>> 0;
      const h = F.s32();
      i.disp = h * TWO32 + l;
    }
    i.base = NO_REG;
    i.mod = 0;
  }
  let rel = 0;
  if (fl & OpF.Jb) rel = F.s8();
  else if (fl & OpF.Jz) rel = F.s32();
  i.len = F.pos - rip;
  i.next = rip + i.len;
  if (fl & (OpF.Jb | OpF.Jz)) i.target = canonicalWrap(i.next + rel);
  if (ripRel) i.disp = i.next + i.disp;
  i.cc = op & 0xf;
  const h = e.pick(i);
  if (h === undefined) {
    const bytes = c.m.readBytes(rip, i.len);
    throw new DecodeStop(new UnimplementedInstruction(bytes, rip, `${e.name} (form not implemented)`));
  }
  // LOCK on anything but a lockable read-modify-write of memory is #UD (not an unimplemented form).
  i.exec = i.lock && !lockable(i) ? raiser(new CpuFault(6, 0, 0, `LOCK prefix not allowed on ${e.name} at ${hex64(rip)}`)) : h;
  return i;
}

/** Branch arithmetic wraps at 2^64; keep the signed-double representation. */
function canonicalWrap(a: number): number {
  if (a >= 2 ** 63) return a - 2 ** 64;
  if (a < -(2 ** 63)) return a + 2 ** 64;
  return a;
}

function opName(op: number): string {
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  if (op < 0x100) return hex(op);
  if (op < 0x200) return `0f ${hex(op & 0xff)}`;
  if (op < 0x300) return `0f 38 ${hex(op & 0xff)}`;
  return `0f 3a ${hex(op & 0xff)}`;
}

/** Decode one instruction at `rip` without caching it (single-stepping); faults are thrown. */
export function decodeSingle(c: Cpu, rip: number): Instr {
  fetcher.c = c;
  fetcher.frames = [];
  try {
    return decodeOne(c, rip);
  } catch (e) {
    if (e instanceof DecodeStop) throw e.fault;
    throw e;
  }
}

/** Decode the block starting at `rip`. A fault on the first instruction is thrown. */
export function decodeBlock(c: Cpu, rip: number): Block {
  fetcher.c = c;
  fetcher.frames = [];
  const instrs: Instr[] = [];
  const phys = c.m.fetchOffset(rip);
  const firstFrame = phys >>> 12;
  let pc = rip;
  while (instrs.length < MAX_BLOCK) {
    let i: Instr;
    try {
      i = decodeOne(c, pc);
    } catch (e) {
      if (!(e instanceof DecodeStop)) throw e;
      // A fetch fault may be fixed by the guest (page mapped in): never cache it. End the
      // block before it, or raise it now if it is the first instruction.
      if (!(e.fault instanceof UnimplementedInstruction)) {
        if (instrs.length === 0) throw e.fault;
        break;
      }
      // Not decodable: raise it only if execution gets there.
      const stop = new Instr(raiser(e.fault));
      stop.rip = pc;
      stop.next = pc;
      instrs.push(stop);
      break;
    }
    instrs.push(i);
    pc = i.next;
    if (TERMINATORS.has(i.exec)) break;
    // Stay within the first page so the block's frames are exactly known.
    if (Math.floor(pc / 4096) !== Math.floor(rip / 4096)) break;
  }
  const frames = fetcher.frames.length ? fetcher.frames.slice() : [firstFrame];
  return new Block(rip, phys, instrs, frames);
}

export function describeBytes(c: Cpu, rip: number, n: number): string {
  return hexBytes(c.m.readBytes(rip, n));
}
