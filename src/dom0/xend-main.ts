#!/usr/bin/env node
// xend: `xend start|stop|status|restart` as xend's init script (tools/hotplug/Linux/init.d/xend
// and xend's own `xend start|stop|status|restart`, tools/misc/xend, Xen 4.4.4) and
// `xend foreground`, the daemon itself, which start spawns detached.
//
// Exit statuses follow the LSB init-script convention xend's script used: status answers 0
// when running and 3 when not; start and stop answer 0 when the daemon ends up as asked.

import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { XendConnection } from './xend/client.js';
import { EXIT_ALREADY_RUNNING, XendStartError, alive, prepareStateDir, readPid, runXend, socketAnswers, type CreateToolstack } from './xend/daemon.js';
import { statePaths, type StatePaths } from './xend/paths.js';

const START_TIMEOUT_MS = Number(process.env.TSXEN_XEND_START_TIMEOUT_MS ?? 60_000);
const STOP_TIMEOUT_MS = 30_000;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function ping(p: StatePaths): Promise<{ pid: number } | null> {
  try {
    const c = await XendConnection.connect(p.socket);
    try {
      return await c.request('ping');
    } finally {
      c.close();
    }
  } catch {
    return null;
  }
}

function tail(file: string, lines: number): string {
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

async function start(p: StatePaths): Promise<number> {
  if (await ping(p)) return 0;
  try {
    prepareStateDir(p);
  } catch (e) {
    process.stderr.write(`xend: ${(e as Error).message}\n`);
    return 1;
  }
  // The daemon's own stdout/stderr (what escapes the logger) go to xend-debug.log.
  const out = openSync(p.debugLog, 'a', 0o600);
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'foreground'], {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, TSXEN_STATE_DIR: p.dir },
  });
  closeSync(out);
  let exited: number | null = null;
  child.on('exit', (code, signal) => (exited = code ?? (signal ? 128 : 1)));
  child.unref();
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (await socketAnswers(p.socket, 500)) {
      if (await ping(p)) return 0;
    }
    // Another xend starting at the same time holds the pid file: wait for its socket.
    if (exited !== null && exited !== EXIT_ALREADY_RUNNING) {
      process.stderr.write(`xend: the daemon exited with status ${exited} while starting; ${p.debugLog}:\n${tail(p.debugLog, 20)}\n`);
      return 1;
    }
    await sleep(100);
  }
  process.stderr.write(`xend: no answer on ${p.socket} after ${START_TIMEOUT_MS / 1000} s; see ${p.debugLog} and ${p.log}\n`);
  return 1;
}

async function stop(p: StatePaths): Promise<number> {
  const pid = readPid(p) ?? (await ping(p))?.pid ?? null;
  try {
    const c = await XendConnection.connect(p.socket);
    try {
      await c.request('stop');
    } finally {
      c.close();
    }
  } catch {
    // No answer: fall back to the signal init scripts used.
    if (pid !== null && alive(pid)) process.kill(pid, 'SIGTERM');
  }
  if (pid === null) return 0;
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (alive(pid)) {
    if (Date.now() > deadline) {
      process.stderr.write(`xend: pid ${pid} did not stop in ${STOP_TIMEOUT_MS / 1000} s; killing it\n`);
      process.kill(pid, 'SIGKILL');
      break;
    }
    await sleep(100);
  }
  return 0;
}

async function status(p: StatePaths): Promise<number> {
  const r = await ping(p);
  if (r) {
    process.stdout.write(`xend is running (pid ${r.pid}, ${p.socket})\n`);
    return 0;
  }
  process.stdout.write('xend is not running\n');
  return 3;
}

async function foreground(p: StatePaths): Promise<number> {
  // Imported here so that start/stop/status do not load the whole hypervisor.
  const mod: { createToolstack: CreateToolstack } = await import('./toolstack/index.js');
  try {
    const x = await runXend({ stateDir: p.dir, createToolstack: mod.createToolstack, handleSignals: true });
    await x.stopped;
    x.logger.flush();
    return 0;
  } catch (e) {
    process.stderr.write(`xend: ${(e as Error).message}\n`);
    return e instanceof XendStartError ? e.exitCode : 1;
  }
}

const USAGE = 'Usage: xend {start|stop|status|restart|foreground}\n';

async function main(argv: string[]): Promise<number> {
  const cmd = argv[0];
  if (argv.length !== 1 || cmd === undefined) {
    process.stderr.write(USAGE);
    return 2;
  }
  const p = statePaths();
  switch (cmd) {
    case 'start':
      return start(p);
    case 'stop':
      return stop(p);
    case 'status':
      return status(p);
    case 'restart': {
      const r = await stop(p);
      return r !== 0 ? r : start(p);
    }
    case 'foreground':
      return foreground(p);
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    default:
      process.stderr.write(`xend: unknown command '${cmd}'\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // foreground leaves timers of finished domains behind: end once xend has stopped.
    if (process.argv[2] === 'foreground') process.exit(code);
  },
  (e: unknown) => {
    process.stderr.write(`xend: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exit(1);
  },
);
