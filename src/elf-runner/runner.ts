// Programmatic entry of the user-mode runner: run a static x86-64 Linux program (and whatever
// it forks and execs) on the interpreter, with its output captured or passed through.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tty from 'node:tty';
import { Kernel } from './kernel.js';
import { HostFile, Sink, bytesSource, type OpenFile } from './files.js';
import { O_RDONLY, O_WRONLY } from './linux.js';

export interface RunElfOptions {
  /** Host path of the program (relative paths start at `cwd`). */
  path: string;
  /** argv (argv[0] included); defaults to [path]. */
  argv?: string[];
  /** Environment as NAME=value strings or an object; defaults to empty. */
  env?: string[] | Record<string, string | undefined>;
  /** Bytes for standard input, or 'inherit' for the host's descriptor 0; default: empty. */
  stdin?: string | Uint8Array | 'inherit';
  /** 'capture' (default) collects stdout and stderr; 'inherit' writes to the host's 1 and 2. */
  output?: 'capture' | 'inherit';
  /** Working directory (a host path); defaults to the host's. */
  cwd?: string;
  /** Guest RAM per process in bytes (default 512 MiB; frames are used on demand). */
  ramSize?: number;
  /** The runner's own messages as they happen (they are also returned in `diagnostics`). */
  onDiagnostic?: (msg: string) => void;
  /** Log each system call (strace-like) as a diagnostic. */
  trace?: boolean;
}

export interface RunElfResult {
  /** Exit status as a shell shows it: the exit code, or 128 + signal. */
  status: number;
  /** The terminating signal, when the program was killed. */
  signal?: number;
  stdout?: Buffer;
  stderr?: Buffer;
  /** Instructions retired by all the processes of the run. */
  instructions: number;
  /** Messages of the runner (faults, unsupported calls), one line each. */
  diagnostics: string[];
}

const DEFAULT_RAM = 512 * 1024 * 1024;

export async function runElf(o: RunElfOptions): Promise<RunElfResult> {
  const env = Array.isArray(o.env)
    ? o.env
    : Object.entries(o.env ?? {}).filter((e): e is [string, string] => e[1] !== undefined).map(([k, v]) => `${k}=${v}`);
  const argv = o.argv ?? [o.path];
  const cwd = fs.realpathSync(o.cwd ?? process.cwd());
  // What the host descriptor really is (/dev/pts/3, a file, pipe:[…]): ttyname() reads it back.
  const hostName = (fd: number, dflt: string): string => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return dflt;
    }
  };
  let stdin: OpenFile;
  if (o.stdin === 'inherit') stdin = new HostFile(0, O_RDONLY, hostName(0, '/dev/stdin'), false);
  else stdin = bytesSource(typeof o.stdin === 'string' ? Buffer.from(o.stdin) : o.stdin ?? new Uint8Array(0));
  const capture = o.output !== 'inherit';
  const out = capture ? new Sink() : new HostFile(1, O_WRONLY, hostName(1, '/dev/stdout'), false);
  const err = capture ? new Sink() : new HostFile(2, O_WRONLY, hostName(2, '/dev/stderr'), false);
  const diagnostics: string[] = [];
  // Raw terminal input for line editors, through the host's tty (created only if asked for).
  let ttyIn: tty.ReadStream | undefined;
  const onTermios = o.stdin === 'inherit' && tty.isatty(0)
    ? (raw: boolean) => {
        ttyIn ??= new tty.ReadStream(0);
        ttyIn.setRawMode(raw);
      }
    : undefined;
  const k = new Kernel({
    ramSize: o.ramSize ?? DEFAULT_RAM,
    trace: o.trace,
    onTermios,
    stdio: [stdin, out, err],
    diagnostic: (m) => {
      diagnostics.push(m);
      o.onDiagnostic?.(m);
    },
  });
  // A relative program path is taken from the program's working directory, as execve would.
  const p = k.spawn(path.resolve(cwd, o.path), argv, env, cwd, o.path);
  try {
    await k.run();
  } finally {
    ttyIn?.setRawMode(false);
  }
  const result: RunElfResult = {
    status: p.termSignal ? 128 + p.termSignal : p.exitCode,
    instructions: k.instructions,
    diagnostics,
  };
  if (p.termSignal) result.signal = p.termSignal;
  if (out instanceof Sink) result.stdout = out.text();
  if (err instanceof Sink) result.stderr = err.text();
  return result;
}
