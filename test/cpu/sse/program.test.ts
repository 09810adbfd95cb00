// A real gcc-compiled program (program.c: auto-vectorized loops, SSE2 and MMX intrinsics,
// float/double/long double arithmetic and conversions) runs natively and in the interpreter;
// the bytes it writes must be identical.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { flatCpu, StopHooks } from '../../../src/cpu/flat.js';

const SRC = fileURLToPath(new URL('./program.c', import.meta.url));

function build(opt: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsxen-prog-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const exe = join(dir, 'prog');
  execFileSync('gcc', [...opt, '-fno-math-errno', '-static', '-nostdlib', '-fno-pie', '-no-pie', '-fno-stack-protector', '-ffreestanding', '-o', exe, SRC]);
  return exe;
}

/** Load the PT_LOAD segments of a static ELF into a flat CPU and run to the first SYSCALL. */
function emulate(exe: string): { out: Buffer; icount: number } {
  const elf = readFileSync(exe);
  const hooks = new StopHooks();
  const c = flatCpu(8 << 20, hooks);
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36), phnum = elf.readUInt16LE(0x38);
  for (let k = 0; k < phnum; k++) {
    const o = phoff + k * phentsize;
    if (elf.readUInt32LE(o) !== 1) continue; // PT_LOAD
    const off = Number(elf.readBigUInt64LE(o + 8)), vaddr = Number(elf.readBigUInt64LE(o + 16));
    const filesz = Number(elf.readBigUInt64LE(o + 32));
    c.m.ram.set(elf.subarray(off, off + filesz), vaddr);
  }
  c.rip = Number(elf.readBigUInt64LE(0x18));
  c.setRegNum(4, 0x7ff000);
  c.run(200_000_000);
  if (hooks.lastFault) throw hooks.lastFault;
  expect(hooks.syscalls).toBe(1);
  expect(c.lo[0]).toBe(1); // write
  const buf = Buffer.from(c.m.readBytes(c.getRegNum(6), c.getRegNum(2)));
  return { out: buf, icount: c.icount };
}

describe('a gcc-compiled SSE/x87 program', () => {
  for (const opt of [['-O2'], ['-O3', '-funroll-loops']]) {
    it(`gives the host's bytes (${opt.join(' ')})`, () => {
      const exe = build(opt);
      const native = execFileSync(exe);
      expect(native.length).toBeGreaterThan(4000);
      const { out } = emulate(exe);
      // Report the first differing 8-byte word (the program writes 8-byte-ish values).
      let at = -1;
      for (let k = 0; k < Math.max(out.length, native.length); k++) if (out[k] !== native[k]) { at = k; break; }
      expect(at === -1 ? 'same' : `differs at byte ${at}: native ${native.subarray(at & ~7, (at & ~7) + 16).toString('hex')} emu ${out.subarray(at & ~7, (at & ~7) + 16).toString('hex')}`).toBe('same');
    });
  }
});
