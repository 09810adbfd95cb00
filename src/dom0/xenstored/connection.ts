// A client of the daemon: a domain's ring, a Unix-socket tool, or an in-process dom0 handle.
// The connection owns its watches, transactions and queued output; transports decide how
// queued messages leave. Accounting mirrors tools/xenstored/core.c send_reply()/send_event():
// queued output is charged to the domain's memory quota, replies also to "outstanding".

import type { ServiceLogger } from '../../devices/logger.js';
import type { PermSubject } from './perms.js';
import { DomainAccount, exceeds, type XsQuotas } from './quota.js';
import type { Transaction } from './transaction.js';
import type { Watch } from './watch.js';
import {
  encodeMessage, joinStrings, XENSTORE_PAYLOAD_MAX, XSD_SOCKMSG_SIZE, XsType,
  type XsErrno, type XsMessage,
} from './wire.js';

/** What a connection needs from the daemon hosting it. */
export interface ConnectionHost {
  readonly quotas: XsQuotas;
  readonly logger: ServiceLogger;
  account(domid: number): DomainAccount;
  handleMessage(conn: Connection, msg: XsMessage): void;
  /** Adds the connection to those watch events are delivered to. */
  connectionOpened(conn: Connection): void;
  connectionClosed(conn: Connection): void;
}

export interface OutMsg {
  readonly type: number;
  readonly reqId: number;
  readonly txId: number;
  readonly payload: Uint8Array;
  readonly event: boolean;
  /** path\0token of a watch event, for dropping duplicates still queued. */
  readonly key: string | null;
  /** Header plus payload, what the memory quota is charged. */
  readonly size: number;
}

export function encodeOut(m: OutMsg): Uint8Array {
  return encodeMessage(m.type, m.reqId, m.txId, m.payload);
}

let nextConnectionId = 1;

export abstract class Connection implements PermSubject {
  readonly id = nextConnectionId++;
  readonly watches: Watch[] = [];
  readonly transactions = new Map<number, Transaction>();
  /** Set when the peer misbehaved: nothing more is read or sent until a reconnect. */
  ignored = false;
  closed = false;
  private nextTransactionId = 1;
  private readonly queuedEvents = new Map<string, number>();

  protected constructor(
    protected readonly host: ConnectionHost,
    readonly domid: number,
  ) {}

  /** A short name for logs, e.g. "dom3 ring" or "socket#4". */
  abstract get label(): string;

  /** Hands a message to the transport; it calls sent() once the message has left. */
  protected abstract enqueue(msg: OutMsg): void;

  /** xenstored's priv_domid is dom0, the host itself. */
  get privileged(): boolean {
    return this.domid === 0;
  }

  get targetDomid(): number | null {
    return this.host.account(this.domid).target;
  }

  /** Base of relative paths: /local/domain/<domid>. */
  get implicitPath(): string {
    return `/local/domain/${this.domid}`;
  }

  get account(): DomainAccount {
    return this.host.account(this.domid);
  }

  allocTransactionId(): number {
    // Skip 0 ("no transaction") and ids still in use, wrapping at 2^32 like xenstored.
    for (;;) {
      const id = this.nextTransactionId;
      this.nextTransactionId = (this.nextTransactionId + 1) >>> 0;
      if (id !== 0 && !this.transactions.has(id)) return id;
    }
  }

  addTransaction(tx: Transaction): void {
    this.transactions.set(tx.id, tx);
    this.account.transactions++;
  }

  removeTransaction(tx: Transaction): void {
    if (this.transactions.delete(tx.id)) this.account.transactions--;
  }

  deleteAllTransactions(): void {
    for (const tx of [...this.transactions.values()]) this.removeTransaction(tx);
  }

  addWatch(w: Watch): void {
    this.watches.push(w);
    const acc = this.account;
    acc.watches++;
    acc.watchMemory += w.path.length + w.token.length;
  }

  removeWatch(w: Watch): void {
    const i = this.watches.indexOf(w);
    if (i < 0) return;
    this.watches.splice(i, 1);
    const acc = this.account;
    acc.watches--;
    acc.watchMemory -= w.path.length + w.token.length;
  }

  deleteAllWatches(): void {
    for (const w of [...this.watches]) this.removeWatch(w);
  }

  sendReply(req: XsMessage, type: number, payload: Uint8Array): void {
    if (this.closed || this.ignored) return;
    if (payload.length > XENSTORE_PAYLOAD_MAX) {
      this.sendError(req, 'E2BIG');
      return;
    }
    const size = XSD_SOCKMSG_SIZE + payload.length;
    // Short replies are never refused: an error reply must always get through.
    if (payload.length > 16 && !this.privileged && exceeds(this.host.quotas.memory, this.account.memory + size)) {
      this.reportMemory();
      this.sendError(req, 'ENOMEM');
      return;
    }
    this.push({ type, reqId: req.reqId, txId: req.txId, payload, event: false, key: null, size });
  }

  sendError(req: XsMessage, errno: XsErrno): void {
    if (this.closed || this.ignored) return;
    const payload = joinStrings([errno]);
    this.push({ type: XsType.ERROR, reqId: req.reqId, txId: req.txId, payload, event: false, key: null, size: XSD_SOCKMSG_SIZE + payload.length });
  }

  /** send_event(): duplicates still queued are dropped, as are events over quota. */
  sendEvent(path: string, token: string): void {
    if (this.closed || this.ignored) return;
    const payload = joinStrings([path, token]);
    if (payload.length > XENSTORE_PAYLOAD_MAX) return;
    const key = path.startsWith('@') ? null : `${path}\0${token}`;
    if (key !== null && this.queuedEvents.has(key)) return;
    const size = XSD_SOCKMSG_SIZE + payload.length;
    if (!this.privileged && exceeds(this.host.quotas.memory, this.account.memory + size)) {
      this.reportMemory();
      return;
    }
    this.push({ type: XsType.WATCH_EVENT, reqId: 0, txId: 0, payload, event: true, key, size });
  }

  private push(msg: OutMsg): void {
    const acc = this.account;
    acc.outputMemory += msg.size;
    if (!msg.event) acc.outstanding++;
    if (msg.key !== null) this.queuedEvents.set(msg.key, (this.queuedEvents.get(msg.key) ?? 0) + 1);
    this.enqueue(msg);
  }

  /** The transport has fully written (or dropped) a message: release its accounting. */
  protected sent(msg: OutMsg): void {
    const acc = this.account;
    acc.outputMemory -= msg.size;
    if (!msg.event) acc.outstanding--;
    if (msg.key !== null) {
      const n = (this.queuedEvents.get(msg.key) ?? 1) - 1;
      if (n <= 0) this.queuedEvents.delete(msg.key);
      else this.queuedEvents.set(msg.key, n);
    }
    if (acc.memoryReported && !exceeds(this.host.quotas.memory, acc.memory)) acc.memoryReported = false;
  }

  private reportMemory(): void {
    const acc = this.account;
    if (acc.memoryReported) return;
    acc.memoryReported = true;
    this.host.logger.warn(`xenstored: dom${this.domid} exceeds its memory quota (${this.host.quotas.memory} bytes); replies refused and watch events dropped`);
  }

  /** Drops watches, transactions and queued output (ignore_connection()/domain_conn_reset()). */
  protected resetState(): void {
    this.deleteAllWatches();
    this.deleteAllTransactions();
    this.dropOutput();
  }

  /** Transport-specific: discard every queued message, calling sent() for each. */
  protected abstract dropOutput(): void;

  /** Closes the connection for good and unregisters it from the daemon. */
  destroy(): void {
    if (this.closed) return;
    this.resetState();
    this.closed = true;
    this.host.connectionClosed(this);
  }
}
