// Runs the built xm and xend binaries as a user would: subprocesses with their own state
// directory (TSXEN_STATE_DIR) and config directory (TSXEN_CONFIG_DIR).

import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const XM = join(ROOT, 'dist/src/xm/main.js');
export const XEND = join(ROOT, 'dist/src/dom0/xend-main.js');
export const IMAGES = join(ROOT, 'images');
export const RAMDISK_CFG = join(IMAGES, 'busybox-ramdisk.cfg');
export const CAN_BOOT = existsSync(join(IMAGES, 'vmlinuz-tiny')) && existsSync(join(IMAGES, 'initramfs-busybox.cpio.gz'));

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newestMtime(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

/**
 * `npx tsc -p .` when dist is older than src (tests run the built binaries). Test files
 * running at once take turns through a lock directory.
 */
export function ensureBuilt(): void {
  const lock = join(ROOT, 'dist', '.xm-test-build.lock');
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  const fresh = (): boolean =>
    existsSync(XM) && existsSync(XEND) && Math.min(statSync(XM).mtimeMs, statSync(XEND).mtimeMs) >= newestMtime(join(ROOT, 'src'));
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (fresh()) return;
    try {
      mkdirSync(lock);
    } catch {
      if (Date.now() > deadline) throw new Error(`waited too long for ${lock}`);
      spawnSync('sleep', ['0.5']);
      continue;
    }
    try {
      if (!fresh()) {
        // Errors in files other tests do not run must not stop these; the binaries must exist.
        spawnSync('npx', ['tsc', '-p', '.'], { cwd: ROOT, stdio: 'ignore' });
        if (!existsSync(XM) || !existsSync(XEND)) throw new Error('npx tsc -p . produced no xm/xend binaries');
      }
      return;
    } finally {
      rmdirSync(lock);
    }
  }
}

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** One user's world: a state directory for xend and a config directory for xm. */
export class XmEnv {
  readonly stateDir: string;
  readonly configDir: string;

  constructor() {
    // Short: the control socket path must fit in sockaddr_un.
    this.stateDir = mkdtempSync('/tmp/tsx-');
    this.configDir = join(this.stateDir, 'etc-xen');
    mkdirSync(this.configDir);
  }

  get env(): NodeJS.ProcessEnv {
    return { ...process.env, TSXEN_STATE_DIR: this.stateDir, TSXEN_CONFIG_DIR: this.configDir };
  }

  /** Run a binary to completion. */
  run(bin: string, args: readonly string[], opts: { input?: string; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [bin, ...args], { env: this.env, cwd: opts.cwd ?? ROOT });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${args.join(' ')}: no exit within ${opts.timeoutMs ?? 60_000} ms\nstdout: ${stdout.slice(-2000)}\nstderr: ${stderr}`));
      }, opts.timeoutMs ?? 60_000);
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(t);
        resolve({ code, signal, stdout, stderr });
      });
      if (opts.input !== undefined) child.stdin.end(opts.input);
      else child.stdin.end();
    });
  }

  xm(args: readonly string[], opts: { input?: string; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
    return this.run(XM, args, opts);
  }

  xend(args: readonly string[]): Promise<RunResult> {
    return this.run(XEND, args, { timeoutMs: 90_000 });
  }

  /** A long-running xm whose output the test watches. */
  spawnXm(args: readonly string[]): Watched {
    return new Watched(spawn(process.execPath, [XM, ...args], { env: this.env, cwd: ROOT }));
  }

  /** Stop this env's xend (if any) and remove its directory. */
  async cleanup(): Promise<void> {
    await this.xend(['stop']).catch(() => undefined);
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

/** A child process whose output is collected, with waits for text in it. */
export class Watched {
  stdout = '';
  stderr = '';
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited = false;

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.on('data', (b: Buffer) => (this.stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (this.stderr += b.toString()));
    this.exit = new Promise((resolve) =>
      child.on('close', (code, signal) => {
        this.exited = true;
        resolve({ code, signal });
      }),
    );
  }

  write(s: string): void {
    this.child.stdin.write(s);
  }

  /** Wait until stdout (from `from` on) contains `text`; fail fast with what was seen if the process ends. */
  async waitFor(text: string | RegExp, timeoutMs: number, from = 0): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hay = this.stdout.slice(from);
      const i = typeof text === 'string' ? hay.indexOf(text) : hay.search(text);
      if (i >= 0) return from + i;
      if (this.exited) {
        throw new Error(`process ended before ${String(text)} appeared\nstdout tail: ${this.stdout.slice(-3000)}\nstderr: ${this.stderr}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`${String(text)} did not appear within ${timeoutMs} ms\nstdout tail: ${this.stdout.slice(-3000)}\nstderr: ${this.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  kill(sig: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.exited) this.child.kill(sig);
  }
}

/** `xm list` rows, parsed as a script would: whitespace-separated columns. */
export interface ListRow {
  name: string;
  id: number | null;
  mem: number;
  vcpus: number;
  state: string;
  time: number;
}

export const LIST_HEADER = 'Name                                        ID   Mem VCPUs      State   Time(s)';

export function parseList(out: string): ListRow[] {
  const lines = out.split('\n').filter((l) => l !== '');
  if (lines[0] !== LIST_HEADER) throw new Error(`xm list header is ${JSON.stringify(lines[0])}`);
  return lines.slice(1).map((l) => {
    // xm_brief_list: '%-40s %5s %5d %5d %10s %8.1f'.
    const m = /^(.{40}) (.{5}) (.{5}) (.{5}) (.{10}) (.{8})$/.exec(l);
    if (!m) throw new Error(`xm list row does not have xm's layout: ${JSON.stringify(l)}`);
    return {
      name: m[1]!.trimEnd(),
      id: m[2]!.trim() === '' ? null : Number(m[2]),
      mem: Number(m[3]),
      vcpus: Number(m[4]),
      state: m[5]!.trim(),
      time: Number(m[6]),
    };
  });
}
