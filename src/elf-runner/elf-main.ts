#!/usr/bin/env node
// tsxen-elf PROGRAM [ARGS...]: run a static x86-64 Linux program on the tsxen interpreter,
// like qemu-x86_64 does. Standard input, output and error and the exit status pass through;
// a program killed by a signal exits with 128 + the signal number, after a message on stderr.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { runElf } from './runner.js';
import { ElfError } from './elf.js';

function say(msg: string): void {
  // Direct writes: process.stderr could switch the shared descriptor to non-blocking mode.
  fs.writeSync(2, msg + '\n');
}

function usage(): never {
  say('usage: tsxen-elf [--ram=MIB] [--trace] PROGRAM [ARGS...]\nRuns a static x86-64 Linux ELF program on the tsxen interpreter.');
  process.exit(2);
}

/** PROGRAM without a slash is looked up in PATH, as execvp does. */
function locate(prog: string): string | undefined {
  if (prog.includes('/')) return prog;
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':')) {
    const p = path.join(dir || '.', prog);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  let ramSize: number | undefined;
  let trace = false;
  while (args.length && args[0].startsWith('--')) {
    const a = args.shift() as string;
    if (a === '--') break;
    const m = /^--ram=(\d+)$/.exec(a);
    if (m) ramSize = Number(m[1]) * 1024 * 1024;
    else if (a === '--trace') trace = true;
    else usage();
  }
  if (args.length === 0) usage();
  const prog = locate(args[0]);
  if (prog === undefined) {
    say(`tsxen-elf: ${args[0]}: command not found`);
    return 127;
  }
  try {
    const r = await runElf({
      path: prog,
      argv: args,
      env: process.env,
      stdin: 'inherit',
      output: 'inherit',
      ramSize,
      trace,
      onDiagnostic: say,
    });
    return r.status;
  } catch (e) {
    if (e instanceof ElfError) {
      say(`tsxen-elf: ${e.message}`);
      return /No such file/.test(e.message) ? 127 : 126;
    }
    throw e;
  }
}

main().then(
  (status) => process.exit(status),
  (e: unknown) => {
    say(`tsxen-elf: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    process.exit(70);
  },
);
