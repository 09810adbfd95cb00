// The client side of xend's control socket, for xm and `xend stop/status`: requests and
// answers, console streams, and starting xend when nothing answers (xm's first use).

import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

import { statePaths, type StatePaths } from './paths.js';
import {
  LineSplitter, encodeLine, parseResponse,
  type ArgsOf, type CallArgs, type OpName, type ResultOf, type StreamOp, type WireError,
} from './protocol.js';

/** An error answer from xend, with xm's exit status for it. */
export class XendRequestError extends Error {
  readonly exitCode: number;
  constructor(e: WireError) {
    super(e.message);
    this.name = 'XendRequestError';
    this.exitCode = e.exitCode;
  }
}

/** Nothing (usable) answers on the control socket. */
export class XendUnreachableError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'XendUnreachableError';
  }
}

/** A console stream: raw guest bytes both ways on `socket`; `head` arrived with the answer. */
export interface ConsoleStream<T> {
  readonly result: T;
  readonly socket: Socket;
  readonly head: Buffer;
}

export class XendConnection {
  private readonly lines = new LineSplitter();
  private waiting: { resolve: (line: string) => void; reject: (e: Error) => void } | null = null;
  private failed: Error | null = null;

  private constructor(readonly socket: Socket) {
    socket.on('data', this.onData);
    socket.on('error', (e) => this.fail(new XendUnreachableError(`xend connection failed: ${e.message}`, (e as NodeJS.ErrnoException).code)));
    socket.on('close', () => this.fail(new XendUnreachableError('xend closed the connection', undefined)));
  }

  static connect(path: string): Promise<XendConnection> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      const onErr = (e: NodeJS.ErrnoException): void => {
        reject(new XendUnreachableError(`Unable to connect to xend at ${path}: ${e.message}`, e.code));
      };
      s.once('error', onErr);
      s.once('connect', () => {
        s.off('error', onErr);
        resolve(new XendConnection(s));
      });
    });
  }

  private readonly onData = (chunk: Buffer): void => {
    try {
      this.lines.push(chunk);
    } catch (e) {
      this.fail(e as Error);
      return;
    }
    this.deliver();
  };

  private deliver(): void {
    if (this.waiting === null) return;
    const line = this.lines.next();
    if (line === null) return;
    const w = this.waiting;
    this.waiting = null;
    w.resolve(line);
  }

  private fail(e: Error): void {
    this.failed ??= e;
    const w = this.waiting;
    this.waiting = null;
    w?.reject(e);
  }

  private nextLine(): Promise<string> {
    return new Promise((resolve, reject) => {
      if (this.waiting !== null) throw new Error('one request at a time on a xend connection');
      const line = this.lines.next();
      if (line !== null) {
        resolve(line);
        return;
      }
      if (this.failed) {
        reject(this.failed);
        return;
      }
      this.waiting = { resolve, reject };
    });
  }

  async request<K extends OpName>(op: K, ...[args]: CallArgs<K>): Promise<ResultOf<K>> {
    // The wire is untyped; xend answers each op with its XendOps result.
    return (await this.send(op, args ?? {})) as ResultOf<K>;
  }

  /** A request whose answer turns the connection into a console stream. */
  async stream<K extends StreamOp>(op: K, args: ArgsOf<K>): Promise<ConsoleStream<ResultOf<K>>> {
    const result = (await this.send(op, args)) as ResultOf<K>;
    this.socket.off('data', this.onData);
    this.socket.removeAllListeners('close');
    this.socket.removeAllListeners('error');
    return { result, socket: this.socket, head: this.lines.rest() };
  }

  private async send(op: OpName, args: object): Promise<unknown> {
    if (this.failed) throw this.failed;
    this.socket.write(encodeLine({ op, args }));
    const line = await this.nextLine();
    const r = parseResponse(line);
    if (!r.ok) throw new XendRequestError(r.error);
    return r.result;
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }
}

/** dist/src/dom0/xend-main.js next to this file's directory. */
export function xendMainPath(): string {
  return fileURLToPath(new URL('../xend-main.js', import.meta.url));
}

function notRunning(e: unknown): boolean {
  return e instanceof XendUnreachableError && (e.code === 'ENOENT' || e.code === 'ECONNREFUSED');
}

/** Run `xend start` and wait for it; it returns once the socket answers. */
export function startXend(paths: StatePaths): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [xendMainPath(), 'start'], {
      env: { ...process.env, TSXEN_STATE_DIR: paths.dir },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', (e) => reject(new Error(`could not run xend: ${e.message}`)));
    child.on('exit', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`xend did not start${err.trim() ? `: ${err.trim()}` : ` (exit status ${code})`}`));
    });
  });
}

/** Connect to this user's xend, starting it first when nothing answers. */
export async function connectXend(opts: { paths?: StatePaths; autostart?: boolean } = {}): Promise<XendConnection> {
  const paths = opts.paths ?? statePaths();
  try {
    return await XendConnection.connect(paths.socket);
  } catch (e) {
    if (!(opts.autostart ?? true) || !notRunning(e)) throw e;
  }
  await startXend(paths);
  return XendConnection.connect(paths.socket);
}
