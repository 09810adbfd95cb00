// Shared by the runner's tests: build the small static test programs with the machine's gcc,
// and run a program natively with the same argv/env/stdin/cwd as under the runner.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { constants } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runElf, type RunElfResult } from '../../src/elf-runner/runner.js';

const PROGS = fileURLToPath(new URL('./progs', import.meta.url));

/** Compile every progs/*.c (gcc -static -nostdlib): name → path of the binary. */
export function buildPrograms(): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'tsxen-elf-progs-'));
  const out: Record<string, string> = {};
  for (const f of readdirSync(PROGS).filter((n) => n.endsWith('.c'))) {
    const name = f.slice(0, -2);
    const bin = join(dir, name);
    execFileSync('gcc', ['-static', '-nostdlib', '-O1', '-fno-stack-protector', '-fno-builtin', '-fcf-protection=none', '-o', bin, join(PROGS, f)]);
    out[name] = bin;
  }
  return out;
}

export interface Outcome {
  status: number;
  stdout: string;
}

export interface RunSpec {
  argv: string[];
  env?: string[];
  stdin?: string | Buffer;
  cwd?: string;
}

/** The same program natively; a death by signal gives 128 + n, as from a shell. */
export function runNative(path: string, s: RunSpec): Outcome & { stdoutBytes: Buffer } {
  const env = Object.fromEntries((s.env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  const r = spawnSync(path, s.argv.slice(1), { argv0: s.argv[0], env, input: s.stdin ?? '', cwd: s.cwd, maxBuffer: 1 << 28 });
  // EPIPE only says the child closed its stdin before all input was written (a race with
  // spawnSync's writer); the run itself happened and its outputs are still compared.
  if (r.error && !((r.error as NodeJS.ErrnoException).code === 'EPIPE' && (r.status !== null || r.signal !== null))) throw r.error;
  const status = r.signal ? 128 + constants.signals[r.signal] : (r.status ?? -1);
  return { status, stdout: r.stdout.toString('latin1'), stdoutBytes: r.stdout };
}

export async function runOurs(path: string, s: RunSpec): Promise<RunElfResult> {
  return runElf({ path, argv: s.argv, env: s.env ?? [], stdin: s.stdin ?? '', cwd: s.cwd });
}

/**
 * Fail with the runner's own diagnostics when it could not run the program as Linux would: a
 * missing instruction then fails the test with that instruction's message (bytes and address).
 */
export function explain(r: RunElfResult): string {
  return r.diagnostics.length ? '\n' + r.diagnostics.join('\n') : '';
}
