// Second tier: a block that ran often is compiled into one JS function. The common integer
// instructions (MOV, LEA, ALU, TEST, INC/DEC, MOVZX/MOVSX, PUSH/POP, CALL/RET, JMP/Jcc, CMOVcc,
// SETcc) become straight-line JS with their registers, displacements and immediates baked in as
// constants, and TLB probes inlined; everything else calls the instruction's own handler, which
// stays the reference: the generated code must leave exactly the state the handler would.
//
// Tricks, one line each:
// - c.rip is stored only before an instruction that can fault or call out (the run loop finds
//   the faulting instruction by that value) and once at the end.
// - A flag producer keeps its operands in JS locals; a later Jcc/CMOVcc/SETcc/INC/DEC in the
//   same block evaluates its condition from them with the size and kind known at compile time
//   (CMP+Jcc becomes one JS comparison). The lazy-flag record is still stored for later blocks.
// - A store or read-modify-write whose TLB probe misses (or that crosses a page) calls the
//   handler for the whole instruction, so no side effect happens twice and slow paths stay in
//   one place; a plain load misses into memory.ts's rdN, exactly what the handler would call.
// - Effective addresses are one double expression guarded by the same "high half below 2^20"
//   test as operands.ts ea(); anything else (32-bit address size, huge values) calls ea().

import { TWO32, hi32 } from './u64.js';
import type { Block } from './block.js';
import type { Cpu } from './cpu.js';
import { FOp, cond, getCF } from './flags.js';
import { NO_REG, Seg, type Instr } from './instr.js';
import { TERMINATORS } from './optable.js';
import { TLB_MASK } from './memory.js';
import { ea } from './ops/operands.js';

export type BlockFn = (c: Cpu) => void;

/**
 * Executions after which a block gets generated code. Each generated block is a new JS
 * function that V8 must take through its own tiers (bytecode, baseline, optimised) before it
 * pays: booting a kernel runs thousands of blocks a few thousand times each, where that
 * compile work costs more than it saves (boot took 2-3x longer with tiers at 32 and 256
 * executions), while the loops that matter run millions of times. Below this the interpreter
 * runs the block, calling handlers that V8 has long optimised.
 */
export const GEN_THRESHOLD = 50_000;

/** Flag producer known at compile time: its kind, size and the JS locals holding its operands. */
interface Producer {
  fop: FOp;
  sz: number;
  a: string; aH: string;
  b: string; bH: string;
  r: string; rH: string;
  /** Inc/Dec: the carried-over CF (0/1). */
  cf: string;
}

/** Static end of a block: go to `a`, or to `a` when `cond` holds and to `b` otherwise. */
interface Exit {
  cond: string | null;
  a: number;
  b: number;
}
/** The block's last instruction (a handler, RET, an indirect branch) has set c.rip. */
const DYNAMIC: Exit = { cond: null, a: NaN, b: NaN };

const K_ADD = 0, K_OR = 1, K_ADC = 2, K_SBB = 3, K_AND = 4, K_SUB = 5, K_XOR = 6, K_CMP = 7;

/** Numeric literal that is safe next to any operator. */
const lit = (n: number): string => (n < 0 || Object.is(n, -0) ? `(${n})` : String(n));
const MASKS: Record<number, number> = { 1: 0xff, 2: 0xffff };

class Gen {
  readonly out: string[] = [];
  readonly vars = new Set<string>();
  /** Value c.rip is known to hold (compile time), NaN when unknown. */
  rip = NaN;
  prod: Producer | null = null;
  /** Which block-level aliases the code used (hoisted once per call). */
  useMem = false;
  k = 0;
  i!: Instr;
  /** How the block ends: a static successor (maybe conditional), or RIP set dynamically. */
  exit: Exit = DYNAMIC;

  v(name: string): string {
    this.vars.add(name);
    return name;
  }
  emit(s: string): void {
    this.out.push(s);
  }
  setRip(n: number): void {
    if (this.rip !== n) this.emit(`c.rip = ${lit(n)};`);
    this.rip = n;
  }
  /** Call the instruction's own handler (the whole instruction, or its slow path). */
  call(): string {
    return `h${this.k}(c, i${this.k});`;
  }

  // ---- registers (values in the lazy-flag representation: 1/2 bytes zero-extended) ----
  getR(sz: number, r: number): string {
    switch (sz) {
      case 1: return r < 16 ? `(lo[${r}] & 255)` : `((lo[${r - 16}] >>> 8) & 255)`;
      case 2: return `(lo[${r}] & 65535)`;
      default: return `lo[${r}]`;
    }
  }
  getRH(sz: number, r: number): string {
    return sz === 8 ? `hi[${r}]` : '0';
  }
  setR(sz: number, r: number, v: string, vH: string): string {
    switch (sz) {
      case 1:
        return r < 16
          ? `lo[${r}] = (lo[${r}] & -256) | (${v} & 255);`
          : `lo[${r - 16}] = (lo[${r - 16}] & -65281) | ((${v} & 255) << 8);`;
      case 2: return `lo[${r}] = (lo[${r}] & -65536) | (${v} & 65535);`;
      case 4: return `lo[${r}] = ${v}; hi[${r}] = 0;`;
      default: return `lo[${r}] = ${v}; hi[${r}] = ${vH};`;
    }
  }

  // ---- memory ----
  /** Emit the effective address of the current instruction into `ad`. */
  ea(): void {
    const i = this.i;
    this.v('ad');
    if (i.adsz === 4) {
      this.emit(`ad = ea(c, i${this.k});`);
      return;
    }
    const seg = i.seg === Seg.FS ? ' + c.fsBase' : i.seg === Seg.GS ? ' + c.gsBase' : '';
    const B = i.base, X = i.index;
    let sum = lit(i.disp);
    const guards: string[] = [];
    if (B !== NO_REG) {
      this.v('_hb');
      this.emit(`_hb = hi[${B}];`);
      guards.push('(_hb + 0x100000)');
      sum += ` + _hb * ${TWO32} + (lo[${B}] >>> 0)`;
    }
    if (X !== NO_REG) {
      this.v('_hx');
      this.emit(`_hx = hi[${X}];`);
      guards.push('(_hx + 0x100000)');
      sum += ` + (_hx * ${TWO32} + (lo[${X}] >>> 0)) * ${i.scale}`;
    }
    if (guards.length === 0) this.emit(`ad = ${sum}${seg};`);
    else this.emit(`ad = ((${guards.join(' | ')}) >>> 21) === 0 ? ${sum}${seg} : ea(c, i${this.k});`);
  }
  /** TLB probe of address `a` into _o (page offset) and _t (entry). */
  probe(a: string): void {
    this.useMem = true;
    this.v('_o'); this.v('_t'); this.v('_l');
    this.emit(`_l = ${a} >>> 0; _o = _l & 4095; _t = (_l >>> 12) & ${TLB_MASK};`);
  }
  /** Condition for a probe hit of `sz` bytes not crossing the page, tag arrays R or W. */
  hit(a: string, sz: number, w: 'R' | 'W'): string {
    const cross = sz === 1 ? '' : ` && _o <= ${4096 - sz}`;
    return `tag${w}[_t] === ${a} - _o${cross}`;
  }
  /** Fast read at RAM offset `off` (after a hit). */
  static ramRead(sz: number, off: string): string {
    switch (sz) {
      case 1: return `ram[${off}]`;
      case 2: return `dv.getUint16(${off}, true)`;
      default: return `dv.getInt32(${off}, true)`;
    }
  }
  /** Load `sz` bytes at `a` into locals v (and vH for 8); misses call memory.ts. */
  load(a: string, sz: number, v: string, vH: string): void {
    this.probe(a);
    this.v(v);
    if (sz === 8) {
      this.v(vH);
      this.emit(
        `if (${this.hit(a, 8, 'R')}) { _o += offR[_t]; ${v} = dv.getInt32(_o, true); ${vH} = dv.getInt32(_o + 4, true); }` +
          ` else { ${v} = m.rd64(${a}); ${vH} = m.hi; }`,
      );
    } else {
      const slow = sz === 1 ? `m.rd8(${a})` : sz === 2 ? `m.rd16(${a})` : `m.rd32(${a})`;
      this.emit(`${v} = ${this.hit(a, sz, 'R')} ? ${Gen.ramRead(sz, `offR[_t] + _o`)} : ${slow};`);
    }
  }
  /** Store at RAM offset `off` (after a write hit). */
  static ramWrite(sz: number, off: string, v: string, vH: string): string {
    switch (sz) {
      case 1: return `ram[${off}] = ${v};`;
      case 2: return `dv.setUint16(${off}, ${v}, true);`;
      case 4: return `dv.setInt32(${off}, ${v}, true);`;
      default: return `_w = ${off}; dv.setInt32(_w, ${v}, true); dv.setInt32(_w + 4, ${vH}, true);`;
    }
  }

  // ---- flags ----
  /** Store the lazy-flag record and remember the producer for later readers in the block. */
  flags(p: Producer): void {
    const logic = p.fop === FOp.Logic;
    let s = `c.fop = ${p.fop}; c.fsz = ${p.sz}; c.fr = ${p.r}; c.frH = ${p.rH};`;
    // Logic results never read fa/fb (AF and OF are 0 for them, see flags.ts).
    if (!logic) s += ` c.fa = ${p.a}; c.faH = ${p.aH}; c.fb = ${p.b}; c.fbH = ${p.bH};`;
    if (p.fop === FOp.Inc || p.fop === FOp.Dec) s += ` c.fcf = ${p.cf};`;
    this.emit(s);
    this.prod = p;
  }
  sign(sz: number, x: string, xH: string): string {
    switch (sz) {
      case 1: return `((${x}) & 128) !== 0`;
      case 2: return `((${x}) & 32768) !== 0`;
      case 4: return `(${x}) < 0`;
      default: return `(${xH}) < 0`;
    }
  }
  ult(sz: number, a: string, aH: string, b: string, bH: string): string {
    if (sz === 8) return `(${aH} !== ${bH} ? (${aH} >>> 0) < (${bH} >>> 0) : (${a} >>> 0) < (${b} >>> 0))`;
    return `((${a} >>> 0) < (${b} >>> 0))`;
  }
  /** CF of the known producer as a JS boolean expression, or null. */
  cfExpr(p: Producer): string | null {
    switch (p.fop) {
      case FOp.Add: return this.ult(p.sz, p.r, p.rH, p.a, p.aH);
      case FOp.Sub: return this.ult(p.sz, p.a, p.aH, p.b, p.bH);
      case FOp.Logic: return 'false';
      case FOp.Inc: case FOp.Dec: return `(${p.cf} !== 0)`;
      default: return null;
    }
  }
  zfExpr(p: Producer): string {
    return p.sz === 8 ? `((${p.r} | ${p.rH}) === 0)` : `(${p.r} === 0)`;
  }
  ofExpr(p: Producer): string | null {
    const sz = p.sz;
    switch (p.fop) {
      case FOp.Add:
        return `(${this.sign(sz, `(${p.a} ^ ${p.r}) & (${p.b} ^ ${p.r})`, `(${p.aH} ^ ${p.rH}) & (${p.bH} ^ ${p.rH})`)})`;
      case FOp.Sub:
        return `(${this.sign(sz, `(${p.a} ^ ${p.b}) & (${p.a} ^ ${p.r})`, `(${p.aH} ^ ${p.bH}) & (${p.aH} ^ ${p.rH})`)})`;
      case FOp.Logic: return 'false';
      case FOp.Inc: return `(!(${this.sign(sz, p.a, p.aH)}) && ${this.sign(sz, p.r, p.rH)})`;
      case FOp.Dec: return `(${this.sign(sz, p.a, p.aH)} && !(${this.sign(sz, p.r, p.rH)}))`;
      default: return null;
    }
  }
  /** Condition code cc as a JS boolean expression (from the known producer when there is one). */
  condExpr(cc: number): string {
    const p = this.prod;
    const generic = `cond(c, ${cc})`;
    if (p === null) return generic;
    const neg = (cc & 1) !== 0;
    let e: string | null = null;
    const sz = p.sz;
    const sf = `(${this.sign(sz, p.r, p.rH)})`;
    const zf = this.zfExpr(p);
    const cf = this.cfExpr(p);
    const of = this.ofExpr(p);
    switch (cc >> 1) {
      case 0: e = of; break;
      case 1: e = cf; break;
      case 2: e = zf; break;
      case 3: e = cf === null ? null : `(${cf} || ${zf})`; break;
      case 4: e = sf; break;
      case 5: e = null; break; // PF: the table lookup in flags.ts
      case 6:
      case 7: {
        // SF != OF; after a subtraction that is the signed compare of its operands.
        let lt: string | null;
        if (p.fop === FOp.Sub) {
          if (sz === 8) lt = `(${p.aH} !== ${p.bH} ? ${p.aH} < ${p.bH} : (${p.a} >>> 0) < (${p.b} >>> 0))`;
          else if (sz === 4) lt = `(${p.a} < ${p.b})`;
          else {
            const s = sz === 1 ? 24 : 16;
            lt = `(((${p.a} << ${s}) >> ${s}) < ((${p.b} << ${s}) >> ${s}))`;
          }
        } else if (p.fop === FOp.Logic) lt = sf;
        else lt = of === null ? null : `(${sf} !== ${of})`;
        e = lt === null ? null : cc >> 1 === 6 ? lt : `(${zf} || ${lt})`;
        break;
      }
    }
    if (e === null) return generic;
    return neg ? `!${e}` : e;
  }
}

// ---- per-instruction emitters: return false to fall back to the handler call ----

type Emitter = (g: Gen, i: Instr) => boolean;

/** Read the E operand of `sz` into locals (a, aH); memory reads go through load(). */
function readE(g: Gen, i: Instr, sz: number, a: string, aH: string): void {
  g.v(a); g.v(aH);
  if (i.mod === 3) {
    g.emit(`${a} = ${g.getR(sz, i.rm)}; ${aH} = ${g.getRH(sz, i.rm)};`);
  } else {
    g.ea();
    g.load('ad', sz, a, aH);
    if (sz !== 8) g.emit(`${aH} = 0;`);
  }
}

/** ALU result of kind k into locals r, rH (k is not ADC/SBB). */
function aluExpr(g: Gen, k: number, sz: number, a: string, aH: string, b: string, bH: string, r: string, rH: string): void {
  g.v(r); g.v(rH);
  const mask = sz === 8 ? '' : sz === 4 ? ' | 0' : ` & ${MASKS[sz]}`;
  switch (k) {
    case K_ADD:
      if (sz === 8) g.emit(`${r} = (${a} + ${b}) | 0; ${rH} = (${aH} + ${bH} + ((${a} >>> 0) + (${b} >>> 0) > 4294967295 ? 1 : 0)) | 0;`);
      else g.emit(`${r} = (${a} + ${b})${mask}; ${rH} = 0;`);
      break;
    case K_SUB:
    case K_CMP:
      if (sz === 8) g.emit(`${r} = (${a} - ${b}) | 0; ${rH} = (${aH} - ${bH} - ((${a} >>> 0) < (${b} >>> 0) ? 1 : 0)) | 0;`);
      else g.emit(`${r} = (${a} - ${b})${mask}; ${rH} = 0;`);
      break;
    case K_AND: g.emit(`${r} = ${a} & ${b}; ${rH} = ${sz === 8 ? `${aH} & ${bH}` : '0'};`); break;
    case K_OR: g.emit(`${r} = ${a} | ${b}; ${rH} = ${sz === 8 ? `${aH} | ${bH}` : '0'};`); break;
    default: g.emit(`${r} = ${a} ^ ${b}; ${rH} = ${sz === 8 ? `${aH} ^ ${bH}` : '0'};`); break;
  }
}

function producer(k: number, sz: number, n: number): Producer {
  const fop = k === K_ADD ? FOp.Add : k === K_SUB || k === K_CMP ? FOp.Sub : FOp.Logic;
  return { fop, sz, a: `a${n}`, aH: `aH${n}`, b: `b${n}`, bH: `bH${n}`, r: `r${n}`, rH: `rH${n}`, cf: '0' };
}

/** Reload a producer's locals from the lazy-flag record after a handler ran instead. */
function reload(p: Producer): string {
  return `${p.a} = c.fa; ${p.aH} = c.faH; ${p.b} = c.fb; ${p.bH} = c.fbH; ${p.r} = c.fr; ${p.rH} = c.frH;`;
}

/**
 * op E,G / op G,E / op E,imm / op A,imm / TEST of kind k at size sz. `dst` names where the
 * result goes: 'E' (the ModRM operand), 'G' (ModRM.reg), 'A' (accumulator) or '' (CMP/TEST).
 * `src` is the other operand: 'G', 'E' or 'I'.
 */
function aluForm(g: Gen, i: Instr, k: number, sz: number, first: 'E' | 'G' | 'A', src: 'G' | 'E' | 'I', write: boolean): boolean {
  if (k === K_ADC || k === K_SBB) return false;
  const n = g.k;
  const p = producer(k, sz, n);
  for (const x of [p.a, p.aH, p.b, p.bH, p.r, p.rH]) g.v(x);
  const bFromImm = (): void => {
    const imm = sz === 4 || sz === 8 ? i.imm | 0 : i.imm & MASKS[sz];
    g.emit(`${p.b} = ${lit(imm)}; ${p.bH} = ${sz === 8 ? lit(i.immHi | 0) : '0'};`);
  };
  // Memory destination written back: probe both TLBs first, else the handler does it all.
  if (first === 'E' && i.mod !== 3 && write) {
    g.setRip(i.next);
    g.ea();
    g.probe('ad');
    g.v('_f');
    g.emit(`if (${g.hit('ad', sz, 'R')} && tagW[_t] === ad - _o) {`);
    if (sz === 8) g.emit(`_f = offR[_t] + _o; ${p.a} = dv.getInt32(_f, true); ${p.aH} = dv.getInt32(_f + 4, true);`);
    else g.emit(`${p.a} = ${Gen.ramRead(sz, 'offR[_t] + _o')}; ${p.aH} = 0;`);
    if (src === 'G') g.emit(`${p.b} = ${g.getR(sz, i.reg)}; ${p.bH} = ${g.getRH(sz, i.reg)};`);
    else bFromImm();
    aluExpr(g, k, sz, p.a, p.aH, p.b, p.bH, p.r, p.rH);
    g.v('_w');
    g.emit(Gen.ramWrite(sz, 'offW[_t] + _o', p.r, p.rH));
    g.emit(`} else { ${g.call()} ${reload(p)} }`);
    g.flags(p);
    return true;
  }
  if ((first === 'E' || src === 'E') && i.mod !== 3) g.setRip(i.next);
  if (first === 'E') readE(g, i, sz, p.a, p.aH);
  else if (first === 'G') g.emit(`${p.a} = ${g.getR(sz, i.reg)}; ${p.aH} = ${g.getRH(sz, i.reg)};`);
  else g.emit(`${p.a} = ${g.getR(sz, 0)}; ${p.aH} = ${g.getRH(sz, 0)};`);
  if (src === 'G') g.emit(`${p.b} = ${g.getR(sz, i.reg)}; ${p.bH} = ${g.getRH(sz, i.reg)};`);
  else if (src === 'E') readE(g, i, sz, p.b, p.bH);
  else bFromImm();
  aluExpr(g, k, sz, p.a, p.aH, p.b, p.bH, p.r, p.rH);
  if (write) {
    const dst = first === 'E' ? i.rm : first === 'G' ? i.reg : 0;
    g.emit(g.setR(sz, dst, p.r, p.rH));
  }
  g.flags(p);
  return true;
}

/** MOV-like store of (v, vH) to the E operand; a memory miss calls the handler. */
function storeE(g: Gen, i: Instr, sz: number, v: string, vH: string): void {
  if (i.mod === 3) {
    g.emit(g.setR(sz, i.rm, v, vH));
    return;
  }
  g.setRip(i.next);
  g.ea();
  g.probe('ad');
  g.v('_w');
  g.emit(`if (${g.hit('ad', sz, 'W')}) { ${Gen.ramWrite(sz, 'offW[_t] + _o', v, vH)} } else ${g.call()}`);
}

/** INC/DEC of the E operand (flags keep CF). */
function incDec(g: Gen, i: Instr, dec: boolean): boolean {
  const sz = i.opsz, n = g.k;
  const p: Producer = {
    fop: dec ? FOp.Dec : FOp.Inc, sz, a: `a${n}`, aH: `aH${n}`, b: '1', bH: '0', r: `r${n}`, rH: `rH${n}`, cf: `cf${n}`,
  };
  for (const x of [p.a, p.aH, p.r, p.rH, p.cf]) g.v(x);
  const prev = g.prod !== null ? g.cfExpr(g.prod) : null;
  g.emit(`${p.cf} = ${prev === null ? 'getCF(c)' : `${prev} ? 1 : 0`};`);
  const k = dec ? K_SUB : K_ADD;
  if (i.mod === 3) {
    g.emit(`${p.a} = ${g.getR(sz, i.rm)}; ${p.aH} = ${g.getRH(sz, i.rm)};`);
    aluExpr(g, k, sz, p.a, p.aH, '1', '0', p.r, p.rH);
    g.emit(g.setR(sz, i.rm, p.r, p.rH));
  } else {
    g.setRip(i.next);
    g.ea();
    g.probe('ad');
    g.v('_f'); g.v('_w');
    g.emit(`if (${g.hit('ad', sz, 'R')} && tagW[_t] === ad - _o) {`);
    if (sz === 8) g.emit(`_f = offR[_t] + _o; ${p.a} = dv.getInt32(_f, true); ${p.aH} = dv.getInt32(_f + 4, true);`);
    else g.emit(`${p.a} = ${Gen.ramRead(sz, 'offR[_t] + _o')}; ${p.aH} = 0;`);
    aluExpr(g, k, sz, p.a, p.aH, '1', '0', p.r, p.rH);
    g.emit(Gen.ramWrite(sz, 'offW[_t] + _o', p.r, p.rH));
    g.emit(`} else { ${g.call()} ${p.a} = c.fa; ${p.aH} = c.faH; ${p.r} = c.fr; ${p.rH} = c.frH; }`);
  }
  g.flags(p);
  return true;
}

const CANON = 0x800000000000;

/** PUSH of (v, vH) (64-bit); a miss calls the handler. */
function push(g: Gen, v: string, vH: string): void {
  g.v('_sp'); g.v('_w');
  g.emit(`_sp = hi[4] * ${TWO32} + (lo[4] >>> 0) - 8;`);
  g.probe('_sp');
  g.emit(
    `if (${g.hit('_sp', 8, 'W')}) { ${Gen.ramWrite(8, 'offW[_t] + _o', v, vH)} lo[4] = _sp | 0; hi[4] = Math.floor(_sp / ${TWO32}) | 0; } else ${g.call()}`,
  );
}

const EMIT: (Emitter | undefined)[] = new Array(0x400).fill(undefined);

// ALU 00-3F: op E,G (byte/full), op G,E, op AL/eAX,imm.
for (let k = 0; k < 8; k++) {
  const base = k * 8;
  const w = k !== K_CMP;
  EMIT[base] = (g, i) => aluForm(g, i, k, 1, 'E', 'G', w);
  EMIT[base + 1] = (g, i) => aluForm(g, i, k, i.opsz, 'E', 'G', w);
  EMIT[base + 2] = (g, i) => aluForm(g, i, k, 1, 'G', 'E', w);
  EMIT[base + 3] = (g, i) => aluForm(g, i, k, i.opsz, 'G', 'E', w);
  EMIT[base + 4] = (g, i) => aluForm(g, i, k, 1, 'A', 'I', w);
  EMIT[base + 5] = (g, i) => aluForm(g, i, k, i.opsz, 'A', 'I', w);
}
// Group 1: op E,imm.
EMIT[0x80] = (g, i) => aluForm(g, i, i.reg & 7, 1, 'E', 'I', (i.reg & 7) !== K_CMP);
EMIT[0x81] = EMIT[0x83] = (g, i) => aluForm(g, i, i.reg & 7, i.opsz, 'E', 'I', (i.reg & 7) !== K_CMP);
// TEST.
EMIT[0x84] = (g, i) => aluForm(g, i, K_AND, 1, 'E', 'G', false);
EMIT[0x85] = (g, i) => aluForm(g, i, K_AND, i.opsz, 'E', 'G', false);
EMIT[0xa8] = (g, i) => aluForm(g, i, K_AND, 1, 'A', 'I', false);
EMIT[0xa9] = (g, i) => aluForm(g, i, K_AND, i.opsz, 'A', 'I', false);
EMIT[0xf6] = (g, i) => (i.reg & 7) < 2 && aluForm(g, i, K_AND, 1, 'E', 'I', false);
EMIT[0xf7] = (g, i) => (i.reg & 7) < 2 && aluForm(g, i, K_AND, i.opsz, 'E', 'I', false);
// INC/DEC.
EMIT[0xfe] = EMIT[0xff] = (g, i) => (i.reg & 7) < 2 && incDec(g, i, (i.reg & 7) === 1);

// MOV.
const movEG: Emitter = (g, i) => {
  const sz = i.op === 0x88 ? 1 : i.opsz;
  g.v('v'); g.v('vH');
  g.emit(`v = ${g.getR(sz, i.reg)}; vH = ${g.getRH(sz, i.reg)};`);
  storeE(g, i, sz, 'v', 'vH');
  return true;
};
EMIT[0x88] = EMIT[0x89] = movEG;
EMIT[0x8a] = EMIT[0x8b] = (g, i) => {
  const sz = i.op === 0x8a ? 1 : i.opsz;
  if (i.mod !== 3) g.setRip(i.next);
  readE(g, i, sz, 'v', 'vH');
  g.emit(g.setR(sz, i.reg, 'v', 'vH'));
  return true;
};
EMIT[0xc6] = EMIT[0xc7] = (g, i) => {
  if ((i.reg & 7) !== 0) return false;
  const sz = i.op === 0xc6 ? 1 : i.opsz;
  const v = sz === 1 ? i.imm & 0xff : sz === 2 ? i.imm & 0xffff : i.imm | 0;
  storeE(g, i, sz, lit(v), lit(i.immHi | 0));
  return true;
};
for (let r = 0; r < 16; r++) {
  EMIT[0xb0 + r] = (g, i) => {
    const sz = i.opsz;
    g.emit(g.setR(sz, i.rm, lit(sz === 4 || sz === 8 ? i.imm | 0 : i.imm), lit(i.immHi | 0)));
    return true;
  };
}
// LEA: exact 64-bit arithmetic; the low 32 bits need only the low halves.
EMIT[0x8d] = (g, i) => {
  const B = i.base, X = i.index, sh = Math.log2(i.scale);
  if (i.opsz === 4 || i.opsz === 2 || i.adsz === 4) {
    let s = lit(i.disp | 0);
    if (B !== NO_REG) s += ` + lo[${B}]`;
    if (X !== NO_REG) s += ` + (lo[${X}] << ${sh})`;
    g.v('v');
    g.emit(`v = (${s}) | 0;`);
    if (i.opsz === 8) g.emit(`lo[${i.reg}] = v; hi[${i.reg}] = 0;`); // 32-bit address size zero-extends
    else g.emit(g.setR(i.opsz, i.reg, 'v', '0'));
    return true;
  }
  if (B === NO_REG && X === NO_REG) {
    g.emit(`lo[${i.reg}] = ${lit(i.disp | 0)}; hi[${i.reg}] = ${lit(hi32(i.disp))};`);
    return true;
  }
  // 64-bit: one double sum while it is exact, else the handler. Base below 2^51 and
  // index*scale below 2^51 (disp is 32-bit) keep every partial sum below 2^52.
  const guards: string[] = [];
  let sum = lit(i.disp);
  g.v('v');
  if (B !== NO_REG) {
    g.v('_hb');
    g.emit(`_hb = hi[${B}];`);
    guards.push(`((_hb + 0x80000) >>> 20)`);
    sum += ` + _hb * ${TWO32} + (lo[${B}] >>> 0)`;
  }
  if (X !== NO_REG) {
    g.v('_hx');
    g.emit(`_hx = hi[${X}];`);
    guards.push(`((_hx + ${0x80000 >> sh}) >>> ${20 - sh})`);
    sum += ` + (_hx * ${TWO32} + (lo[${X}] >>> 0)) * ${i.scale}`;
  }
  g.setRip(i.next);
  g.emit(
    `if ((${guards.join(' | ')}) === 0) { v = ${sum}; lo[${i.reg}] = v | 0; hi[${i.reg}] = Math.floor(v / ${TWO32}) | 0; } else ${g.call()}`,
  );
  return true;
};
// MOVZX / MOVSX / MOVSXD.
const movx = (src: number, signed: boolean): Emitter => (g, i) => {
  const sz = i.opsz;
  if (i.mod !== 3) g.setRip(i.next);
  readE(g, i, src, 'v', 'vH');
  if (signed) {
    if (src === 1) g.emit('v = (v << 24) >> 24;');
    else if (src === 2) g.emit('v = (v << 16) >> 16;');
    g.emit(g.setR(sz, i.reg, sz === 2 ? 'v & 65535' : 'v', 'v >> 31'));
  } else g.emit(g.setR(sz, i.reg, 'v', '0'));
  return true;
};
EMIT[0x1b6] = movx(1, false);
EMIT[0x1b7] = movx(2, false);
EMIT[0x1be] = movx(1, true);
EMIT[0x1bf] = movx(2, true);
EMIT[0x63] = movx(4, true);

// PUSH/POP r64, PUSH imm.
for (let r = 0; r < 8; r++) {
  EMIT[0x50 + r] = (g, i) => {
    if (i.opsz !== 8) return false;
    g.setRip(i.next);
    g.v('v'); g.v('vH');
    g.emit(`v = lo[${i.rm}]; vH = hi[${i.rm}];`);
    push(g, 'v', 'vH');
    return true;
  };
  EMIT[0x58 + r] = (g, i) => {
    if (i.opsz !== 8) return false;
    g.setRip(i.next);
    g.v('_sp'); g.v('v'); g.v('vH');
    g.emit(`_sp = hi[4] * ${TWO32} + (lo[4] >>> 0);`);
    g.probe('_sp');
    g.emit(
      `if (${g.hit('_sp', 8, 'R')}) { _o += offR[_t]; v = dv.getInt32(_o, true); vH = dv.getInt32(_o + 4, true);` +
        ` _sp += 8; lo[4] = _sp | 0; hi[4] = Math.floor(_sp / ${TWO32}) | 0; lo[${i.rm}] = v; hi[${i.rm}] = vH; } else ${g.call()}`,
    );
    return true;
  };
}
EMIT[0x68] = EMIT[0x6a] = (g, i) => {
  if (i.opsz !== 8) return false;
  g.setRip(i.next);
  push(g, lit(i.imm | 0), lit(i.immHi | 0));
  return true;
};

// Branches (block terminators): they leave their successors in g.exit, which generate() turns
// into the final RIP store.
EMIT[0xeb] = EMIT[0xe9] = (g, i) => {
  g.exit = { cond: null, a: i.target, b: NaN };
  return true;
};
const jcc: Emitter = (g, i) => {
  g.exit = { cond: g.condExpr(i.cc), a: i.target, b: i.next };
  return true;
};
for (let cc = 0; cc < 16; cc++) EMIT[0x70 + cc] = EMIT[0x180 + cc] = jcc;
EMIT[0xe8] = (g, i) => {
  g.setRip(i.next);
  const n = i.next;
  // After a miss the handler has pushed and set RIP to the same target (or it threw).
  push(g, lit(n | 0), lit(hi32(n)));
  g.exit = { cond: null, a: i.target, b: NaN };
  return true;
};
EMIT[0xc3] = (g) => {
  g.setRip(g.i.next);
  g.v('_sp'); g.v('_tg');
  g.emit(`_sp = hi[4] * ${TWO32} + (lo[4] >>> 0);`);
  g.probe('_sp');
  g.emit(`if (${g.hit('_sp', 8, 'R')}) { _o += offR[_t]; _tg = dv.getInt32(_o + 4, true) * ${TWO32} + (dv.getInt32(_o, true) >>> 0); } else _tg = NaN;`);
  // A miss or a non-canonical target (NaN fails both tests): the handler, which faults with RSP unchanged.
  g.emit(
    `if (_tg < ${CANON} && _tg >= ${-CANON}) { c.rip = _tg; _sp += 8; lo[4] = _sp | 0; hi[4] = Math.floor(_sp / ${TWO32}) | 0; } else ${g.call()}`,
  );
  g.exit = DYNAMIC;
  return true;
};

// CMOVcc / SETcc.
for (let cc = 0; cc < 16; cc++) {
  EMIT[0x140 + cc] = (g, i) => {
    const sz = i.opsz;
    if (sz === 2) return false;
    if (i.mod !== 3) g.setRip(i.next);
    readE(g, i, sz, 'v', 'vH');
    const set = sz === 8 ? `lo[${i.reg}] = v; hi[${i.reg}] = vH;` : `lo[${i.reg}] = v; hi[${i.reg}] = 0;`;
    // A 32-bit CMOV zero-extends even when not taken.
    g.emit(`if (${g.condExpr(cc)}) { ${set} }${sz === 4 ? ` else hi[${i.reg}] = 0;` : ''}`);
    return true;
  };
  EMIT[0x190 + cc] = (g, i) => {
    g.v('v');
    g.emit(`v = ${g.condExpr(cc)} ? 1 : 0;`);
    storeE(g, i, 1, 'v', '0');
    return true;
  };
}

/** Emit one block's instructions into g; leaves its end in g.exit. */
function emitBlock(g: Gen, b: Block): void {
  const ins = b.instrs;
  const n = ins.length;
  g.prod = null;
  g.rip = b.rip; // the run loop leaves the block's address in c.rip
  g.exit = DYNAMIC;
  for (let k = 0; k < n; k++) {
    const i = ins[k];
    g.k = k;
    g.i = i;
    if (i.len === 0) {
      // Undecodable bytes (decoder's stop): its next equals the previous instruction's, so a
      // RIP no instruction has tells the run loop that this one raised the fault.
      g.emit(`c.rip = NaN; ${g.call()}`);
      g.exit = DYNAMIC;
      return;
    }
    const e = i.lock ? undefined : EMIT[i.op];
    const mark = g.out.length;
    const prod = g.prod;
    const rip = g.rip;
    if (e !== undefined && e(g, i)) continue;
    // Undo a partial emission, then call the handler for the whole instruction.
    g.out.length = mark;
    g.prod = prod;
    g.rip = rip;
    g.setRip(i.next);
    g.emit(g.call());
    g.prod = null; // a handler may have written the flags
    g.exit = TERMINATORS.has(i.exec) ? DYNAMIC : g.exit;
  }
  const last = ins[n - 1];
  if (!TERMINATORS.has(last.exec)) g.exit = { cond: null, a: last.next, b: NaN };
}

/**
 * The JS source of a hot block's function and what it closes over. Multi-block regions (a
 * loop/switch over several blocks in one function) were tried and were slower here: V8 took
 * several times longer to optimise them and deoptimised them whenever a cold path first ran.
 */
export function generate(b: Block): { params: string[]; args: unknown[]; body: string } {
  const g = new Gen();
  emitBlock(g, b);
  const x = g.exit;
  if (!Number.isNaN(x.a)) {
    if (x.cond === null) g.setRip(x.a);
    else g.emit(`c.rip = ${x.cond} ? ${lit(x.a)} : ${lit(x.b)};`);
  }
  // Only the aliases the code uses: the prologue runs on every call.
  const text = g.out.join('\n');
  const used = (name: string): boolean => new RegExp(`\\b${name}\\b`).test(text);
  const pre: string[] = [];
  for (const a of ['lo', 'hi']) if (used(a)) pre.push(`const ${a} = c.${a};`);
  if (g.useMem) {
    pre.push('const m = c.m;');
    for (const a of ['ram', 'dv', 'tagR', 'offR', 'tagW', 'offW']) if (used(a)) pre.push(`const ${a} = m.${a};`);
  }
  if (g.vars.size > 0) pre.push(`let ${[...g.vars].map((v) => `${v} = 0`).join(', ')};`);
  const params = ['cond', 'getCF', 'ea'];
  const args: unknown[] = [cond, getCF, ea];
  b.instrs.forEach((i, k) => {
    params.push(`h${k}`, `i${k}`);
    args.push(i.exec, i);
  });
  return { params, args, body: `${pre.join('\n')}\n${text}` };
}

/** A hot block as generated JS. */
export function compileBlock(b: Block): BlockFn {
  const { params, args, body } = generate(b);
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const factory = new Function(...params, `return function block(c) {\n${body}\n};`) as (...a: unknown[]) => BlockFn;
  return factory(...args);
}
