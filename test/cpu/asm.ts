// Assemble x86-64 (GNU as, Intel or AT&T syntax) to flat bytes with the machine's binutils.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function assemble(src: string, intel = true): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'tsxen-asm-'));
  try {
    const s = join(dir, 'a.s');
    writeFileSync(s, (intel ? '.intel_syntax noprefix\n' : '') + src + '\n');
    execFileSync('as', ['--64', '-o', join(dir, 'a.o'), s]);
    execFileSync('objcopy', ['-O', 'binary', '-j', '.text', join(dir, 'a.o'), join(dir, 'a.bin')]);
    return new Uint8Array(readFileSync(join(dir, 'a.bin')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
