// The xend process: one per user, holding every domain. It takes the state directory (owner
// only), claims the pid file, opens xend.log, builds the Toolstack and serves the control
// socket until `xend stop` or a signal, then destroys its domains and removes its files.

import { closeSync, lstatSync, mkdirSync, openSync, readFileSync, rmSync, writeSync, chmodSync } from 'node:fs';
import { connect } from 'node:net';
import pino, { type Logger } from 'pino';

import type { Toolstack } from '../toolstack/types.js';
import { statePaths, type StatePaths } from './paths.js';
import { XendServer } from './server.js';

/** `xend foreground` exits with this when another xend holds the state directory. */
export const EXIT_ALREADY_RUNNING = 75;

/** sockaddr_un.sun_path is 108 bytes, the terminating NUL included. */
const SUN_PATH_MAX = 107;

export type CreateToolstack = (opts: { stateDir: string; logger: Logger }) => Promise<Toolstack>;

export class XendStartError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

function myUid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : 0;
}

/** Create the state directory 0700, or check that an existing one is ours and private. */
export function prepareStateDir(p: StatePaths): void {
  mkdirSync(p.dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(p.dir);
  if (!st.isDirectory()) throw new XendStartError(`${p.dir} is not a directory`);
  if (st.uid !== myUid()) {
    throw new XendStartError(`${p.dir} belongs to uid ${st.uid}, not to you (uid ${myUid()}); set TSXEN_STATE_DIR to a directory of your own`);
  }
  if ((st.mode & 0o077) !== 0) chmodSync(p.dir, 0o700);
  mkdirSync(p.domains, { recursive: true, mode: 0o700 });
}

/** Is process `pid` running (EPERM: it exists but belongs to another user)? */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function readPid(p: StatePaths): number | null {
  try {
    const n = Number.parseInt(readFileSync(p.pidFile, 'utf8').trim(), 10);
    return Number.isSafeInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/**
 * Claim the pid file (created exclusively, so of two xends starting at once one wins). A pid
 * file whose process is gone is stale: it is removed, if it still names that process.
 */
export function claimPidFile(p: StatePaths): void {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(p.pidFile, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const pid = readPid(p);
    if (pid !== null && alive(pid)) {
      throw new XendStartError(`xend is already running (pid ${pid}, ${p.pidFile})`, EXIT_ALREADY_RUNNING);
    }
    // Re-read just before removing: another xend may have replaced the stale file meanwhile.
    if (readPid(p) === pid) rmSync(p.pidFile, { force: true });
  }
  throw new XendStartError(`could not claim ${p.pidFile}`, EXIT_ALREADY_RUNNING);
}

/** Does something answer on the socket? */
export function socketAnswers(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

export interface RunningXend {
  readonly server: XendServer;
  readonly logger: Logger;
  /** Resolves when xend has stopped (domains destroyed, files removed). */
  readonly stopped: Promise<void>;
  stop(reason: string): Promise<void>;
}

/**
 * Run xend in this process. `createToolstack` builds the domains' world; the daemon entry
 * point passes the real one.
 */
export async function runXend(opts: { stateDir?: string; createToolstack: CreateToolstack; handleSignals?: boolean }): Promise<RunningXend> {
  const p = statePaths(opts.stateDir);
  if (Buffer.byteLength(p.socket) > SUN_PATH_MAX) {
    throw new XendStartError(`control socket path ${p.socket} is longer than ${SUN_PATH_MAX} bytes; use a shorter TSXEN_STATE_DIR`);
  }
  // Everything xend creates is for its owner only.
  process.umask(0o077);
  prepareStateDir(p);
  claimPidFile(p);

  const logger = pino(
    { base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: p.log, sync: true, mode: 0o600 }),
  );
  let server: XendServer | undefined;
  let toolstack: Toolstack | undefined;
  try {
    logger.info({ stateDir: p.dir }, `Xend started, state directory ${p.dir}`);
    // A socket with no xend behind it (the pid file said none runs) is left from a crash.
    if (await socketAnswers(p.socket)) throw new XendStartError(`something already answers on ${p.socket}`, EXIT_ALREADY_RUNNING);
    rmSync(p.socket, { force: true });
    toolstack = await opts.createToolstack({ stateDir: p.dir, logger });
    server = new XendServer({
      toolstack,
      logger,
      domainsDir: p.domains,
      logFile: p.log,
      onStop: () => void stop('xend stop'),
    });
    await server.listen(p.socket);
  } catch (e) {
    logger.fatal({ err: e }, `Xend failed to start: ${(e as Error).message}`);
    await toolstack?.close().catch(() => {});
    rmSync(p.pidFile, { force: true });
    throw e;
  }
  const srv = server;
  const ts = toolstack;

  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  let stopping: Promise<void> | null = null;
  const stop = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      logger.info({ reason }, `Xend stopping: ${reason}`);
      await srv.close();
      try {
        await ts.close();
      } catch (e) {
        logger.error({ err: e }, `stopping the toolstack failed: ${(e as Error).message}`);
      }
      rmSync(p.socket, { force: true });
      if (readPid(p) === process.pid) rmSync(p.pidFile, { force: true });
      logger.info('Xend stopped');
      resolveStopped();
    })();
    return stopping;
  };

  if (opts.handleSignals ?? false) {
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => void stop(sig));
    // A bug behind one request must not take every domain down with xend: log it and go on.
    process.on('uncaughtException', (e) => logger.error({ err: e }, `uncaught exception: ${e.message}`));
    process.on('unhandledRejection', (e) => logger.error({ err: e }, `unhandled rejection: ${String(e)}`));
  }
  logger.info({ socket: p.socket }, `Xend listening on ${p.socket}`);
  return { server: srv, logger, stopped, stop };
}
