// The Unix-socket transport for dom0 tools. Debian's libxenstore (Xen 4.17,
// tools/xenstore/xs_lib.c xs_daemon_socket()) connects to $XENSTORED_PATH if set, else to
// $XENSTORED_RUNDIR/socket, else to /var/run/xenstored/socket; if that path is not a socket
// it falls back to xs_domain_dev(), which again honours $XENSTORED_PATH. So for a daemon
// listening at STATE_DIR/xenstored/socket, either XENSTORED_PATH=STATE_DIR/xenstored/socket or
// XENSTORED_RUNDIR=STATE_DIR/xenstored lets xenstore-read & co. reach it.
// Every socket client is privileged dom0, as in xenstored.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { Connection, encodeOut, type ConnectionHost, type OutMsg } from './connection.js';
import { MessageReader } from './wire.js';

/** Unsent bytes a tool may leave piled up (it is not reading its events) before it is cut off. */
const MAX_SOCKET_BACKLOG = 64 * 1024 * 1024;

export function defaultSocketPath(stateDir: string): string {
  return path.join(stateDir, 'xenstored', 'socket');
}

export class SocketConnection extends Connection {
  private readonly reader = new MessageReader();

  constructor(host: ConnectionHost, private readonly socket: net.Socket) {
    super(host, 0);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('close', () => this.destroy());
    socket.on('error', (e: Error) => {
      host.logger.debug(`xenstored: ${this.label}: ${e.message}`);
    });
  }

  get label(): string {
    return `socket#${this.id}`;
  }

  private onData(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length && !this.closed) {
      const r = this.reader.feed(chunk.subarray(off));
      off += r.used;
      if (r.tooLong !== undefined) {
        // xenstored kills a client that sends more than XENSTORE_PAYLOAD_MAX.
        this.host.logger.warn(`xenstored: ${this.label} sent a ${r.tooLong}-byte payload; connection dropped`);
        this.destroy();
        return;
      }
      if (r.message) this.host.handleMessage(this, r.message);
    }
  }

  protected enqueue(msg: OutMsg): void {
    if (!this.socket.destroyed) this.socket.write(encodeOut(msg));
    this.sent(msg);
    if (this.socket.writableLength > MAX_SOCKET_BACKLOG) {
      this.host.logger.error(`xenstored: ${this.label} is not reading its replies (${this.socket.writableLength} bytes pending); connection dropped`);
      this.destroy();
    }
  }

  protected dropOutput(): void {
    // Nothing is held here: the socket buffers what was written.
  }

  override destroy(): void {
    super.destroy();
    if (!this.socket.destroyed) this.socket.destroy();
  }
}

export class XenstoredSocketServer {
  private server: net.Server | null = null;
  private readonly conns = new Set<SocketConnection>();

  constructor(private readonly host: ConnectionHost, readonly socketPath: string) {}

  async listen(): Promise<void> {
    if (this.server) throw new Error(`xenstored: already listening on ${this.socketPath}`);
    await fs.promises.mkdir(path.dirname(this.socketPath), { recursive: true, mode: 0o700 });
    await this.removeStale();
    const server = net.createServer((sock) => {
      const conn = new SocketConnection(this.host, sock);
      this.host.connectionOpened(conn);
      this.conns.add(conn);
      sock.on('close', () => this.conns.delete(conn));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (e) => this.host.logger.error(`xenstored: socket ${this.socketPath}: ${e.message}`));
    // Any local user reaching the socket would act as dom0.
    await fs.promises.chmod(this.socketPath, 0o600);
    this.server = server;
    this.host.logger.info(`xenstored: listening on ${this.socketPath}`);
  }

  /** A socket file left by a dead daemon is removed; a live one, or a non-socket, is an error. */
  private async removeStale(): Promise<void> {
    let st: fs.Stats;
    try {
      st = await fs.promises.lstat(this.socketPath);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    if (!st.isSocket()) throw new Error(`xenstored: ${this.socketPath} exists and is not a socket`);
    const live = await new Promise<boolean>((resolve) => {
      const probe = net.connect(this.socketPath);
      probe.once('connect', () => {
        probe.destroy();
        resolve(true);
      });
      probe.once('error', () => resolve(false));
    });
    if (live) throw new Error(`xenstored: another daemon is listening on ${this.socketPath}`);
    await fs.promises.unlink(this.socketPath);
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    for (const c of [...this.conns]) c.destroy();
    this.conns.clear();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await fs.promises.rm(this.socketPath, { force: true });
  }
}
