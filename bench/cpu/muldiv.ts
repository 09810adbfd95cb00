// Micro-benchmark (not a test): loops of 64-bit MUL/IMUL/DIV/IDIV under tsxen's user-mode runner,
// natively and under qemu-x86_64. Each program is a few lines of assembly built with gcc
// -static -nostdlib; the loop runs the operation 4 times an iteration on values a hash mixes
// (a 64-bit golden-ratio constant, as the kernel's hash_64 uses), so the products overflow.
// Prints instructions (tsxen's count), wall time and MIPS for each kind.
// Usage: node dist/bench/cpu/muldiv.js [iterations]
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runElf } from '../../src/elf-runner/runner.js';

const KINDS: Record<string, string> = {
  // two-operand IMUL by a 64-bit constant: the kernel's hash_64()
  imul2: 'imul rax, rbx\n imul rax, rbx\n imul rax, rbx\n imul rax, rbx\n add rax, rcx',
  // three-operand IMUL by a 32-bit immediate; the 2nd and 4th products overflow
  imul3: 'imul rax, rax, 0x5bd1e995\n imul rax, rax, -0x61c88647\n imul rax, rax, 3\n imul rax, rax, -7\n add rax, rcx',
  // one-operand IMUL/MUL: 128-bit products in RDX:RAX
  mul1: 'mul rbx\n add rax, rcx\n imul rbx\n add rax, rcx\n mul rbx\n imul rbx',
  // 128/64 divisions with a full 64-bit divisor; RDX < divisor keeps the quotient in range
  div: 'mov rax, rsi\n xor edx, edx\n div rbx\n mov rax, rsi\n mov rdx, rcx\n div rbx\n add rsi, rbx',
  idiv: 'mov rax, rsi\n cqo\n idiv rbx\n mov rax, rsi\n neg rax\n cqo\n idiv rbx\n add rsi, rbx',
};

function build(dir: string, kind: string, iterations: number): string {
  const src = join(dir, `${kind}.s`), bin = join(dir, kind);
  writeFileSync(src, `.intel_syntax noprefix
.globl _start
_start:
  mov rbx, 0x61c8864680b583eb
  mov rsi, 0x123456789abcdef
  mov rcx, ${iterations}
1:
  ${KINDS[kind]}
  dec rcx
  jnz 1b
  mov eax, 60
  xor edi, edi
  syscall
`);
  execFileSync('gcc', ['-static', '-nostdlib', '-o', bin, src]);
  return bin;
}

function wall(cmd: string, args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: status ${r.status}`);
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const iterations = Number(process.argv[2] ?? 2_000_000);
  const dir = mkdtempSync(join(tmpdir(), 'tsxen-bench-muldiv-'));
  try {
    console.log(`${iterations} iterations per kind`);
    for (const kind of Object.keys(KINDS)) {
      const bin = build(dir, kind, iterations);
      const t0 = performance.now();
      const r = await runElf({ path: bin, argv: [kind] });
      const ms = performance.now() - t0;
      if (r.status !== 0) throw new Error(`${kind} under tsxen-elf: status ${r.status}: ${r.diagnostics.join('; ')}`);
      const n = r.instructions;
      const mips = (t: number) => (n / t / 1000).toFixed(1).padStart(8);
      const nat = wall(bin, []), qemu = wall('qemu-x86_64', [bin]);
      console.log(`${kind.padEnd(6)} ${n} instructions: tsxen ${ms.toFixed(0).padStart(6)} ms ${mips(ms)} MIPS | ` +
        `qemu-x86_64 ${qemu.toFixed(0).padStart(5)} ms ${mips(qemu)} MIPS | native ${nat.toFixed(0).padStart(4)} ms`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
