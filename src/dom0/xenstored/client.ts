// The in-process, privileged dom0 client xend uses: each call is encoded as a wire request and
// goes through the same handler a socket or ring request does, so there is one implementation
// of the semantics. Replies come back synchronously; watch events are delivered on a
// microtask, never re-entering the caller.

import { Connection, type ConnectionHost, type OutMsg } from './connection.js';
import { permToString, type XsPerm } from './perms.js';
import {
  bytesToString, isXsErrno, joinStrings, splitStrings, stringToBytes, XsError, XsType, type XsMessage,
} from './wire.js';

export type WatchCallback = (path: string, token: string) => void;

export class InProcessConnection extends Connection {
  reply: OutMsg | null = null;
  private readonly events: OutMsg[] = [];
  private scheduled = false;
  deliver: WatchCallback = () => {};

  constructor(host: ConnectionHost) {
    super(host, 0);
  }

  get label(): string {
    return `dom0 handle#${this.id}`;
  }

  protected enqueue(msg: OutMsg): void {
    if (!msg.event) {
      this.reply = msg;
      this.sent(msg);
      return;
    }
    this.events.push(msg);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    for (const msg of this.events.splice(0)) {
      this.sent(msg);
      if (this.closed) continue;
      const [path = '', token = ''] = splitStrings(msg.payload);
      try {
        this.deliver(path, token);
      } catch (e) {
        this.host.logger.error(`xenstored: watch callback for ${path} (token ${token}) threw: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
      }
    }
  }

  protected dropOutput(): void {
    for (const m of this.events.splice(0)) this.sent(m);
  }
}

const utf8 = new TextDecoder();
const utf8enc = new TextEncoder();

export class XsHandle {
  private nextReqId = 1;
  private readonly callbacks = new Map<string, WatchCallback>();
  private listener: WatchCallback | null = null;

  constructor(private readonly host: ConnectionHost, private readonly conn: InProcessConnection) {
    conn.deliver = (path, token) => {
      const cb = this.callbacks.get(token);
      if (cb) cb(path, token);
      else this.listener?.(path, token);
    };
  }

  get closed(): boolean {
    return this.conn.closed;
  }

  /** Sends one request and returns the reply payload; an ERROR reply throws XsError. */
  request(type: XsType, payload: Uint8Array, tx = 0): Uint8Array {
    if (this.conn.closed) throw new Error('xenstored: this handle is closed');
    const msg: XsMessage = { type, reqId: this.nextReqId++ >>> 0, txId: tx, payload };
    this.conn.reply = null;
    this.host.handleMessage(this.conn, msg);
    const reply = this.conn.reply as OutMsg | null;
    this.conn.reply = null;
    if (!reply) throw new Error(`xenstored: no reply to ${XsType[type]}`);
    if (reply.type === XsType.ERROR) {
      const name = splitStrings(reply.payload)[0] ?? '';
      throw new XsError(isXsErrno(name) ? name : 'EINVAL', `${XsType[type]} ${describe(payload)}`);
    }
    // The payload may be the stored node's own buffer: callers get a copy.
    return reply.payload.slice();
  }

  read(path: string, tx = 0): Uint8Array {
    return this.request(XsType.READ, joinStrings([path]), tx);
  }

  /** Reads a value as UTF-8 text. */
  readString(path: string, tx = 0): string {
    return utf8.decode(this.read(path, tx));
  }

  /** Whether the node exists (ENOENT is false; other errors, e.g. EACCES, throw). */
  exists(path: string, tx = 0): boolean {
    try {
      this.read(path, tx);
      return true;
    } catch (e) {
      if (e instanceof XsError && e.errno === 'ENOENT') return false;
      throw e;
    }
  }

  /** Writes a value (strings as UTF-8), creating missing parents as xenstored does. */
  write(path: string, value: string | Uint8Array, tx = 0): void {
    const p = stringToBytes(path);
    const v = typeof value === 'string' ? utf8enc.encode(value) : value;
    const payload = new Uint8Array(p.length + 1 + v.length);
    payload.set(p, 0);
    payload.set(v, p.length + 1);
    this.request(XsType.WRITE, payload, tx);
  }

  mkdir(path: string, tx = 0): void {
    this.request(XsType.MKDIR, joinStrings([path]), tx);
  }

  rm(path: string, tx = 0): void {
    this.request(XsType.RM, joinStrings([path]), tx);
  }

  directory(path: string, tx = 0): string[] {
    return splitStrings(this.request(XsType.DIRECTORY, joinStrings([path]), tx));
  }

  /** Permissions in xenstored's string form, owner first: ["n0", "r5"]. */
  getPerms(path: string, tx = 0): string[] {
    return splitStrings(this.request(XsType.GET_PERMS, joinStrings([path]), tx));
  }

  setPerms(path: string, perms: readonly (string | XsPerm)[], tx = 0): void {
    if (perms.length === 0) throw new XsError('EINVAL', `setPerms ${path}: at least the owner entry is needed`);
    const strs = perms.map((p) => (typeof p === 'string' ? p : permToString(p)));
    this.request(XsType.SET_PERMS, joinStrings([path, ...strs]), tx);
  }

  /**
   * Adds a watch; `cb` receives events carrying this token (also the initial one xenstored
   * sends straight away). Without `cb`, events go to onWatchEvent's listener.
   */
  watch(path: string, token: string, cb?: WatchCallback): void {
    this.request(XsType.WATCH, joinStrings([path, token]));
    if (cb) this.callbacks.set(token, cb);
  }

  unwatch(path: string, token: string): void {
    this.request(XsType.UNWATCH, joinStrings([path, token]));
    if (!this.conn.watches.some((w) => w.token === token)) this.callbacks.delete(token);
  }

  onWatchEvent(listener: WatchCallback | null): void {
    this.listener = listener;
  }

  transactionStart(): number {
    const id = Number(splitStrings(this.request(XsType.TRANSACTION_START, joinStrings([''])))[0]);
    if (!Number.isInteger(id) || id <= 0) throw new Error(`xenstored: bad transaction id ${id}`);
    return id;
  }

  /** Ends a transaction; committing throws XsError EAGAIN on conflict (the caller retries). */
  transactionEnd(tx: number, commit = true): void {
    this.request(XsType.TRANSACTION_END, joinStrings([commit ? 'T' : 'F']), tx);
  }

  getDomainPath(domid: number): string {
    return splitStrings(this.request(XsType.GET_DOMAIN_PATH, joinStrings([String(domid)])))[0] ?? '';
  }

  control(...args: string[]): string {
    return bytesToString(this.request(XsType.CONTROL, joinStrings(args))).replace(/\0$/, '');
  }

  close(): void {
    this.callbacks.clear();
    this.listener = null;
    this.conn.destroy();
  }
}

function describe(payload: Uint8Array): string {
  const first = splitStrings(payload)[0];
  return first === undefined ? '' : first.length > 80 ? `${first.slice(0, 80)}...` : first;
}
