// Compares a native and an interpreted result under the case's masks, and formats mismatches.

import { readFileSync } from 'node:fs';
import { disassemble } from './native.js';
import { CODE_ADDR, DATA_ADDR, REG_NAMES, RF, type Case, type Result } from './layout.js';

const hex = (v: bigint | number, w = 16): string => '0x' + BigInt.asUintN(64, BigInt(v)).toString(16).padStart(w, '0');

const VECTORS: Record<number, string> = { 0: '#DE', 1: '#DB', 3: '#BP', 6: '#UD', 13: '#GP', 14: '#PF', 17: '#AC', [-1000]: 'no fault' };
const vecName = (v: number): string => VECTORS[v] ?? (v < 0 ? `signal ${-1 - v}` : `vector ${v}`);

/**
 * Known deviations of the interpreter that are tolerated (and counted, so they stay visible)
 * until src/cpu fixes them; each is reported to the lead.
 */
export const KNOWN = {
  /** #PF reports the faulting page, not the byte: Translator.translate only sees the page (memory.ts). */
  cr2Page: 'a #PF reports the page base as the address (CR2), the host the faulting byte',
  /** The host flags the read of a read-modify-write as a write (W=1); the interpreter as a read. */
  rmwRead: 'a #PF on the read of a read-modify-write has W=0 (the host sets W=1)',
  // What an Intel host does where the interpreter does what AMD hosts do (both seen as hosts
  // of this project's machines); tolerated on Intel hosts only, so an AMD host keeps them strict.
  /** Intel writes ECX, ESI, EDI of a 32-bit-address REP (clearing bits 63:32) even when it does no iteration. */
  intelRepA32Zext: 'a32 REP string op ending with ECX = 0 or faulting on its first iteration: the Intel host zero-extends RCX/RSI/RDI, the interpreter leaves them',
  /** SDM vol. 2 REP: a fault in REPE/REPNE CMPS/SCAS restores EFLAGS to their value before the instruction. */
  intelRepFaultFlags: 'a fault inside REPE/REPNE CMPS/SCAS: the Intel host reports the flags from before the instruction',
  /** A near CALL to a non-canonical target: Intel has already stored the return address below RSP. */
  intelCallStore: 'CALL to a non-canonical target: the Intel host stored the return address below RSP before the #GP',
} as const;
export type Known = keyof typeof KNOWN;

const PF_WRITE = 2;

/** The host's CPU vendor, for the vendor-specific deviations above. */
export const HOST_IS_INTEL = ((): boolean => {
  try {
    return /^vendor_id\s*:\s*GenuineIntel$/m.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
})();

const U32 = 0xffffffffn;
const REG_RCX = 1, REG_RSI = 6, REG_RDI = 7;

/** Differences that matter, as readable lines; empty when the interpreter matches the host. */
export function compare(c: Case, n: Result, i: Result, known?: Set<Known>): string[] {
  const out: string[] = [];
  if (i.error) out.push(i.error);
  if (n.vector !== i.vector) out.push(`ended with ${vecName(n.vector)} on the host, ${vecName(i.vector)} in the interpreter`);
  if (n.rip !== i.rip) out.push(`rip: host ${hex(n.rip)}, interpreter ${hex(i.rip)}`);
  if (n.vector === i.vector && n.vector === 14) {
    if (n.cr2 !== i.cr2) {
      if (known && i.cr2 === (n.cr2 & ~0xfffn)) known.add('cr2Page');
      else out.push(`#PF address: host ${hex(n.cr2)}, interpreter ${hex(i.cr2)}`);
    }
    if (n.err !== i.err) {
      if (known && (n.err ^ i.err) === PF_WRITE && (n.err & PF_WRITE) !== 0) known.add('rmwRead');
      else out.push(`#PF error code: host ${hex(n.err, 2)}, interpreter ${hex(i.err, 2)}`);
    }
  }
  if (n.vector === i.vector && n.vector === 13 && n.err !== i.err) {
    out.push(`#GP error code: host ${hex(n.err, 4)}, interpreter ${hex(i.err, 4)}`);
  }
  const intel = known !== undefined && HOST_IS_INTEL;
  // The case (or a pair's first instruction) is a 32-bit-address REP string op.
  const repA32Zero = intel && /^rep\w* \w+ n=\d+ [^,]*\ba32\b/.test(c.desc);
  for (let r = 0; r < 16; r++) {
    let mask = (1n << 64n) - 1n;
    for (const u of c.undefRegs) if (u.reg === r) mask &= ~u.mask;
    if ((n.regs[r] & mask) !== (i.regs[r] & mask)) {
      const hostHi = n.regs[r] >> 32n;
      if (repA32Zero && (r === REG_RCX || r === REG_RSI || r === REG_RDI) && (n.regs[r] & U32) === (i.regs[r] & U32) &&
        (hostHi === 0n || hostHi === U32)) {
        known.add('intelRepA32Zext');
        continue;
      }
      out.push(`${REG_NAMES[r]}: host ${hex(n.regs[r])}, interpreter ${hex(i.regs[r])}`);
    }
  }
  // RF is set in the image of a fault's flags on the host (SDM vol. 3, 17.3.1.1); it means nothing here.
  // The case's last instruction completed when it ends at the INT3 after it (vector 3).
  const fmask = ~(RF | (n.vector === 3 ? c.undefFlags : c.faultUndefFlags));
  const repFault = intel && n.vector !== 3 && /^(?:\[\w+\] )?rep(?:ne)? (?:cmps|scas)\b/.test(c.desc);
  if ((n.rflags & fmask) !== (i.rflags & fmask) && repFault && (n.rflags & fmask) === (c.rflags & fmask)) {
    known.add('intelRepFaultFlags');
  } else if ((n.rflags & fmask) !== (i.rflags & fmask)) {
    out.push(`rflags: host ${hex(n.rflags, 6)}, interpreter ${hex(i.rflags, 6)} (differing ${flagNames((n.rflags ^ i.rflags) & fmask)})`);
  }
  if (n.mxcsr !== i.mxcsr) out.push(`mxcsr: host ${hex(n.mxcsr, 4)}, interpreter ${hex(i.mxcsr, 4)}`);
  const offs = new Set([...n.diff.keys(), ...i.diff.keys()]);
  const bad: string[] = [];
  // The 8 bytes below RSP that a faulting CALL may already have written on an Intel host.
  const callStore = intel && n.vector === 13 && i.vector === 13 && /\bcall E$/.test(c.desc) ? BigInt.asUintN(64, n.regs[4] - 8n) : -1n;
  for (const o of [...offs].sort((a, b) => a - b)) {
    const nv = n.diff.get(o), iv = i.diff.get(o);
    const addr = BigInt(DATA_ADDR + o);
    if (nv !== iv && iv === undefined && addr >= callStore && addr < callStore + 8n) {
      known.add('intelCallStore');
      continue;
    }
    if (nv !== iv) bad.push(`${hex(DATA_ADDR + o, 6)}: host ${nv === undefined ? 'unchanged' : hex(nv, 2)}, interpreter ${iv === undefined ? 'unchanged' : hex(iv, 2)}`);
  }
  if (bad.length) out.push(`memory (${bad.length} bytes): ${bad.slice(0, 8).join('; ')}${bad.length > 8 ? '; ...' : ''}`);
  return out;
}

function flagNames(bits: number): string {
  const names: [number, string][] = [[0x1, 'CF'], [0x4, 'PF'], [0x10, 'AF'], [0x40, 'ZF'], [0x80, 'SF'], [0x100, 'TF'],
    [0x200, 'IF'], [0x400, 'DF'], [0x800, 'OF'], [0x3000, 'IOPL'], [0x4000, 'NT'], [0x40000, 'AC'], [0x200000, 'ID']];
  const s = names.filter(([b]) => bits & b).map(([, n]) => n);
  const rest = bits & ~names.reduce((a, [b]) => a | b, 0);
  if (rest) s.push(hex(rest, 6));
  return s.join(' ');
}

function regLine(regs: bigint[]): string {
  const parts = regs.map((v, r) => `${REG_NAMES[r]}=${hex(v)}`);
  const lines: string[] = [];
  for (let k = 0; k < 16; k += 4) lines.push('    ' + parts.slice(k, k + 4).join(' '));
  return lines.join('\n');
}

function endLine(r: Result): string {
  return `${vecName(r.vector)} at rip=${hex(r.rip)}${r.vector === 14 ? ` cr2=${hex(r.cr2)} err=${hex(r.err, 2)}` : ''} rflags=${hex(r.rflags, 6)}` +
    (r.faultMsg ? ` (${r.faultMsg})` : '');
}

export function report(c: Case, n: Result, i: Result, diffs: string[]): string {
  const bytes = Array.from(c.code, (b) => b.toString(16).padStart(2, '0')).join(' ');
  const patches = c.patches.map((p) => `${hex(DATA_ADDR + p.off, 6)}+${p.bytes.length}`).join(' ');
  return [
    `[${c.family}] ${c.desc}`,
    `  bytes: ${bytes}`,
    ...disassemble(c.code, CODE_ADDR).split('\n').map((l) => `    ${l}`),
    `  input: rflags=${hex(c.rflags, 6)} fill seed=${hex(c.fillSeed, 8)} patches: ${patches || 'none'}` +
      (c.undefFlags ? ` (undefined flags masked: ${flagNames(c.undefFlags)})` : '') +
      (c.faultUndefFlags ? ` (on a fault: ${flagNames(c.faultUndefFlags)})` : ''),
    regLine(c.regs),
    `  host:        ${endLine(n)}`,
    `  interpreter: ${endLine(i)}`,
    ...diffs.map((d) => `  MISMATCH ${d}`),
  ].join('\n');
}
