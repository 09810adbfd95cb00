// Runs cases on the host CPU through harness.c, compiled here with the machine's gcc.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Case, Result } from './layout.js';

const HERE = dirname(fileURLToPath(import.meta.url));

export class NativeHarness {
  private constructor(
    private readonly dir: string,
    readonly exe: string,
  ) {}

  static build(): NativeHarness {
    const dir = mkdtempSync(join(tmpdir(), 'tsxen-diff-'));
    const exe = join(dir, 'harness');
    try {
      execFileSync('gcc', ['-O1', '-Wall', '-Werror', '-o', exe, join(HERE, 'harness.c')], { stdio: 'pipe' });
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      const err = e as { stderr?: Buffer; message: string };
      throw new Error(`cannot build the native harness with gcc: ${err.stderr?.toString() || err.message}`);
    }
    return new NativeHarness(dir, exe);
  }

  run(cases: Case[]): Result[] {
    const input = encodeCases(cases);
    const p = spawnSync(this.exe, [], { input, maxBuffer: 1 << 30, timeout: 120_000 });
    if (p.error) throw new Error(`native harness failed to run: ${p.error.message}`);
    if (p.status !== 0) {
      // Name the case it died on: the one after the last complete record.
      const done = completeRecords(p.stdout);
      const c = cases[done];
      const which = c ? ` on case ${done} [${c.family}] ${c.desc}: ${Buffer.from(c.code).toString('hex')}` : '';
      throw new Error(`native harness exited with ${p.status ?? p.signal}${which}\n${p.stderr.toString()}`);
    }
    return decodeResults(p.stdout, cases.length);
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function encodeCases(cases: Case[]): Buffer {
  const parts: Buffer[] = [];
  for (const c of cases) {
    const h = Buffer.alloc(16 * 8 + 8 + 8);
    for (let r = 0; r < 16; r++) h.writeBigUInt64LE(c.regs[r], r * 8);
    h.writeBigUInt64LE(BigInt(c.rflags), 128);
    h.writeUInt32LE(c.fillSeed >>> 0, 136);
    h.writeUInt16LE(c.code.length, 140);
    h.writeUInt16LE(c.patches.length, 142);
    parts.push(h, Buffer.from(c.code));
    for (const p of c.patches) {
      const ph = Buffer.alloc(4);
      ph.writeUInt16LE(p.off, 0);
      ph.writeUInt16LE(p.bytes.length, 2);
      parts.push(ph, Buffer.from(p.bytes));
    }
  }
  return Buffer.concat(parts);
}

const RECORD_HEAD = 24 + 128 + 14;

function completeRecords(b: Buffer): number {
  let o = 0, n = 0;
  while (o + RECORD_HEAD <= b.length) {
    const next = o + RECORD_HEAD + 3 * b.readUInt16LE(o + RECORD_HEAD - 2);
    if (next > b.length) break;
    o = next;
    n++;
  }
  return n;
}

function decodeResults(b: Buffer, n: number): Result[] {
  const out: Result[] = [];
  let o = 0;
  for (let k = 0; k < n; k++) {
    if (o + RECORD_HEAD > b.length) throw new Error(`native harness output truncated at case ${k} of ${n}`);
    const vector = b.readInt32LE(o);
    const err = b.readUInt32LE(o + 4);
    const cr2 = b.readBigUInt64LE(o + 8);
    const rip = b.readBigUInt64LE(o + 16);
    o += 24;
    const regs: bigint[] = [];
    for (let r = 0; r < 16; r++) regs.push(b.readBigUInt64LE(o + r * 8));
    o += 128;
    const rflags = Number(b.readBigUInt64LE(o));
    const mxcsr = b.readUInt32LE(o + 8);
    const nd = b.readUInt16LE(o + 12);
    o += 14;
    const diff = new Map<number, number>();
    for (let d = 0; d < nd; d++) {
      diff.set(b.readUInt16LE(o), b[o + 2]);
      o += 3;
    }
    out.push({ vector, err, cr2, rip, regs, rflags, mxcsr, diff });
  }
  if (o !== b.length) throw new Error(`native harness wrote ${b.length - o} unexpected trailing bytes`);
  return out;
}

/** CPU features the host must have for a family's forms to mean what the interpreter implements. */
export function hostFeatures(): { lzcnt: boolean; bmi1: boolean; popcnt: boolean } {
  let flags = '';
  try {
    flags = readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '';
  } catch {
    // Not Linux: the harness would not run anyway.
  }
  const has = (f: string) => ` ${flags} `.includes(` ${f} `);
  return { lzcnt: has('abm') || has('lzcnt'), bmi1: has('bmi1'), popcnt: has('popcnt') };
}

/** Disassemble bytes at CODE_ADDR with objdump, for mismatch reports (best effort). */
export function disassemble(code: Uint8Array, at: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsxen-dis-'));
  try {
    const f = join(dir, 'code.bin');
    writeFileSync(f, code);
    const out = execFileSync('objdump', ['-D', '-b', 'binary', '-mi386:x86-64', '-M', 'intel', `--adjust-vma=0x${at.toString(16)}`, f], {
      encoding: 'utf8',
    });
    return out
      .split('\n')
      .filter((l) => /^\s+[0-9a-f]+:\t/.test(l))
      .map((l) => l.trim())
      .join('\n');
  } catch {
    return '(objdump unavailable)';
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
