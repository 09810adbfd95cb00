// The xenstore daemon as a library hosted on dom0's main thread. Request semantics follow
// tools/xenstored/ of xen-project/xen: core.c (process_message, do_read/write/mkdir/rm,
// get/set_perms, directory(_part), construct_node, errno_from_parents), watch.c,
// transaction.c, domain.c (introduce/release/resume/is_domain_introduced/get_domain_path,
// quotas) and control.c. One handler per message type serves every transport: Unix socket,
// guest ring, and the in-process handle xend uses.

import { InProcessConnection, XsHandle } from './client.js';
import type { Connection, ConnectionHost } from './connection.js';
import { silentLogger, type ServiceLogger } from '../../devices/logger.js';
import {
  parsePerms, permFor, permToString, XS_PERM_NONE, XS_PERM_OWNER, XS_PERM_READ, XS_PERM_WRITE,
  type PermSubject, type XsPerm, type XsPerms,
} from './perms.js';
import { DomainAccount, exceeds, QUOTA_NAMES, validateQuotas, type XsQuotas } from './quota.js';
import { RingConnection, type RingNotify } from './ring.js';
import { XenstoredSocketServer } from './socket.js';
import {
  baseName, canonicalize, ChangeSet, childPath, entrySize, getParent, nodeMemory, NodeStore,
  NO_GENERATION, type NodeSource, type XsNode,
} from './store.js';
import { Transaction, type AccountDelta } from './transaction.js';
import { watchMatches, WatchMatch, watchPermitted, type Watch, type WatchEvent } from './watch.js';
import {
  bytesToString, countNuls, DOMID_FIRST_RESERVED, DOMID_SELF, joinStrings, oneArg, splitStrings, stringToBytes,
  XENSTORE_PAYLOAD_MAX, XS_TYPE_COUNT, xsTypeName, XsError, XsType, type XsErrno, type XsMessage,
} from './wire.js';

/** A guest's store page as the host maps it, and how to signal the guest. */
export interface RingBinding {
  ring: Uint8Array;
  notify: RingNotify;
}

export interface XenstoredOptions {
  logger?: ServiceLogger;
  /** Overrides of xenstored's default per-domain quotas (0 disables one). */
  quotas?: Partial<XsQuotas>;
  /**
   * Maps the store page named by a wire INTRODUCE (<domid>|<gfn>|<evtchn>). Only the host can
   * reach guest memory; without this hook a wire INTRODUCE is refused (xend calls
   * introduceDomain() directly instead).
   */
  mapInterface?: (domid: number, gfn: number, port: number) => RingBinding | null;
}

interface Req {
  readonly conn: Connection | null;
  readonly subject: PermSubject;
  readonly msg: XsMessage;
  readonly tx: Transaction | null;
  readonly view: ChangeSet;
  /** Watch events of a request outside a transaction, fired once its changes are applied. */
  readonly events: WatchEvent[];
  /** Watch events of a request inside a transaction, queued until the commit. */
  readonly txEvents: Array<[string, WatchMatch]>;
  /** Work to do after the reply is queued (the initial watch event). */
  readonly after: Array<() => void>;
  /** Nodes rewritten only because a child went away: exempt from the node-size quota. */
  readonly noSizeCheck: Set<string>;
  nodeCreated: boolean;
}

type Handler = (req: Req) => Uint8Array;

interface HandlerSpec {
  readonly fn: Handler;
  /** XS_FLAG_PRIV: dom0 only. */
  readonly priv?: boolean;
  /** XS_FLAG_NOTID: the tx_id is ignored. */
  readonly notid?: boolean;
}

const OK = joinStrings(['OK']);
const EMPTY = new Uint8Array(0);
const SYSTEM: PermSubject = { domid: 0, privileged: true, targetDomid: null };
const NO_MESSAGE: XsMessage = { type: XsType.CONTROL, reqId: 0, txId: 0, payload: EMPTY };
const SPECIAL_NODES = ['@releaseDomain', '@introduceDomain'] as const;

const WATCH_NODOM = 1;
const WATCH_DOM = 2;

interface NodeLookup {
  readonly name: string;
  readonly node?: XsNode;
  readonly err?: XsErrno;
}

export class Xenstored implements ConnectionHost {
  readonly quotas: XsQuotas;
  readonly logger: ServiceLogger;
  readonly store = new NodeStore();
  private readonly connections = new Set<Connection>();
  private readonly domains = new Map<number, DomainAccount>();
  private readonly rings = new Map<number, RingConnection>();
  private readonly servers = new Map<string, XenstoredSocketServer>();
  private readonly handlers: ReadonlyArray<HandlerSpec | undefined>;
  private readonly mapInterface: XenstoredOptions['mapInterface'];

  constructor(opts: XenstoredOptions = {}) {
    this.logger = opts.logger ?? silentLogger;
    this.quotas = validateQuotas(opts.quotas ?? {});
    this.mapInterface = opts.mapInterface;
    this.handlers = this.buildHandlers();
    this.setupStructure();
  }

  // ---- set-up -------------------------------------------------------------------------------

  /**
   * setup_structure(): the root, /tool/xenstored and the two special watch nodes, all owned by
   * dom0 with no access for others; /local/domain is added here because every tsxen domain
   * lives below it (xend writes /local/domain/0 itself).
   */
  private setupStructure(): void {
    const perms: XsPerms = [{ id: 0, perms: XS_PERM_NONE }];
    const req = this.systemReq();
    const mk = (name: string, children: string[]): void =>
      req.view.put({ name, data: EMPTY, perms, children, generation: NO_GENERATION });
    mk('/', ['tool', 'local']);
    mk('/tool', ['xenstored']);
    mk('/tool/xenstored', []);
    mk('/local', ['domain']);
    mk('/local/domain', []);
    for (const s of SPECIAL_NODES) mk(s, []);
    this.commitRequest(req);
  }

  private buildHandlers(): Array<HandlerSpec | undefined> {
    const h: Array<HandlerSpec | undefined> = new Array<HandlerSpec | undefined>(XS_TYPE_COUNT).fill(undefined);
    h[XsType.CONTROL] = { fn: (r) => this.doControl(r), priv: true };
    h[XsType.DIRECTORY] = { fn: (r) => this.doDirectory(r) };
    h[XsType.READ] = { fn: (r) => this.doRead(r) };
    h[XsType.GET_PERMS] = { fn: (r) => this.doGetPerms(r) };
    h[XsType.WATCH] = { fn: (r) => this.doWatch(r), notid: true };
    h[XsType.UNWATCH] = { fn: (r) => this.doUnwatch(r), notid: true };
    h[XsType.TRANSACTION_START] = { fn: (r) => this.doTransactionStart(r) };
    h[XsType.TRANSACTION_END] = { fn: (r) => this.doTransactionEnd(r) };
    h[XsType.INTRODUCE] = { fn: (r) => this.doIntroduce(r), priv: true };
    h[XsType.RELEASE] = { fn: (r) => this.doRelease(r), priv: true };
    h[XsType.GET_DOMAIN_PATH] = { fn: (r) => this.doGetDomainPath(r) };
    h[XsType.WRITE] = { fn: (r) => this.doWrite(r) };
    h[XsType.MKDIR] = { fn: (r) => this.doMkdir(r) };
    h[XsType.RM] = { fn: (r) => this.doRm(r) };
    h[XsType.SET_PERMS] = { fn: (r) => this.doSetPerms(r) };
    h[XsType.IS_DOMAIN_INTRODUCED] = { fn: (r) => this.doIsDomainIntroduced(r), priv: true };
    h[XsType.RESUME] = { fn: (r) => this.doResume(r), priv: true };
    h[XsType.SET_TARGET] = { fn: (r) => this.doSetTarget(r), priv: true };
    h[XsType.RESET_WATCHES] = { fn: (r) => this.doResetWatches(r) };
    h[XsType.DIRECTORY_PART] = { fn: (r) => this.doDirectoryPart(r) };
    // WATCH_EVENT and ERROR are replies only: like xenstored they have no handler (ENOSYS).
    return h;
  }

  // ---- ConnectionHost -----------------------------------------------------------------------

  account(domid: number): DomainAccount {
    let acc = this.domains.get(domid);
    if (!acc) {
      acc = new DomainAccount(domid);
      this.domains.set(domid, acc);
    }
    return acc;
  }

  private prune(domid: number): void {
    const acc = this.domains.get(domid);
    if (acc && domid !== 0 && acc.idle) this.domains.delete(domid);
  }

  connectionOpened(conn: Connection): void {
    if (!conn.closed) this.connections.add(conn);
  }

  connectionClosed(conn: Connection): void {
    this.connections.delete(conn);
    if (conn instanceof RingConnection && this.rings.get(conn.domid) === conn) this.rings.delete(conn.domid);
  }

  /** process_message(): one request in, one reply (or ERROR) out, never an exception. */
  handleMessage(conn: Connection, msg: XsMessage): void {
    if (conn.closed || conn.ignored) return;
    const spec = msg.type < XS_TYPE_COUNT ? this.handlers[msg.type] : undefined;
    if (!spec) {
      this.logger.debug(`xenstored: ${conn.label} sent unknown message type ${msg.type}`);
      conn.sendError(msg, 'ENOSYS');
      return;
    }
    if (spec.priv && !conn.privileged) {
      conn.sendError(msg, 'EACCES');
      return;
    }
    let tx: Transaction | null = null;
    if (!spec.notid && msg.txId !== 0) {
      tx = conn.transactions.get(msg.txId) ?? null;
      if (!tx) {
        conn.sendError(msg, 'ENOENT');
        return;
      }
    }
    const req = this.newReq(conn, conn, msg, tx);
    let reply: Uint8Array;
    try {
      reply = spec.fn(req);
      this.commitRequest(req);
    } catch (e) {
      if (e instanceof XsError) {
        this.logger.debug(`xenstored: ${conn.label} ${xsTypeName(msg.type)}: ${e.message}`);
        conn.sendError(msg, e.errno);
      } else {
        this.logger.error(`xenstored: internal error handling ${xsTypeName(msg.type)} from ${conn.label}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
        conn.sendError(msg, 'EIO');
      }
      return;
    }
    conn.sendReply(msg, msg.type, reply);
    for (const f of req.after) f();
  }

  private newReq(conn: Connection | null, subject: PermSubject, msg: XsMessage, tx: Transaction | null): Req {
    return {
      conn, subject, msg, tx,
      view: new ChangeSet(tx ?? this.store),
      events: [], txEvents: [], after: [], noSizeCheck: new Set(),
      nodeCreated: false,
    };
  }

  private systemReq(): Req {
    return this.newReq(null, SYSTEM, NO_MESSAGE, null);
  }

  // ---- applying changes ---------------------------------------------------------------------

  private computeDeltas(changes: ReadonlyMap<string, XsNode | null>, base: NodeSource): Map<number, AccountDelta> {
    const out = new Map<number, AccountDelta>();
    const add = (domid: number, nodes: number, memory: number): void => {
      const d = out.get(domid) ?? { nodes: 0, memory: 0 };
      d.nodes += nodes;
      d.memory += memory;
      out.set(domid, d);
    };
    for (const [name, node] of changes) {
      const old = base.lookup(name);
      if (old) add(old.perms[0]!.id, -1, -nodeMemory(old));
      if (node) add(node.perms[0]!.id, 1, nodeMemory(node));
    }
    return out;
  }

  /** Quotas a request's changes must respect before anything is applied. */
  private checkRequestQuotas(req: Req, deltas: ReadonlyMap<number, AccountDelta>): void {
    const q = this.quotas;
    for (const [name, node] of req.view.changes) {
      if (!node || req.noSizeCheck.has(name)) continue;
      const size = entrySize(node);
      if (exceeds(q.nodeSize, size)) throw new XsError('ENOSPC', `${name}: node of ${size} bytes exceeds node-size ${q.nodeSize}`);
    }
    for (const [domid, d] of deltas) {
      if (domid === 0) continue;
      const acc = this.account(domid);
      const txd = req.tx?.deltas.get(domid);
      const nodes = acc.nodes + (txd?.nodes ?? 0) + d.nodes;
      if (d.nodes > 0 && exceeds(q.nodes, nodes)) throw new XsError('ENOSPC', `dom${domid} would own ${nodes} nodes, quota ${q.nodes}`);
      const mem = acc.memory + (txd?.memory ?? 0) + d.memory;
      if (d.memory > 0 && exceeds(q.memory, mem)) throw new XsError('ENOMEM', `dom${domid} would use ${mem} bytes, memory quota ${q.memory}`);
    }
  }

  private commitRequest(req: Req): void {
    const changes = req.view.changes;
    if (changes.size === 0 && req.events.length === 0 && req.txEvents.length === 0) return;
    const deltas = this.computeDeltas(changes, req.view.base);
    if (!req.subject.privileged) this.checkRequestQuotas(req, deltas);
    if (req.tx) {
      const staged = new Map<string, XsNode | null>();
      for (const [name, node] of changes) staged.set(name, node ? { ...node, generation: this.store.nextGeneration() } : null);
      req.tx.merge(staged, deltas);
      for (const [path, match] of req.txEvents) req.tx.queueEvent(path, match);
      if (req.nodeCreated) req.tx.nodeCreated = true;
      return;
    }
    this.applyChanges(changes, deltas);
    for (const ev of req.events) this.fire(ev);
  }

  private applyChanges(changes: ReadonlyMap<string, XsNode | null>, deltas: ReadonlyMap<number, AccountDelta>): void {
    for (const [name, node] of changes) {
      if (node) this.store.set({ ...node, generation: this.store.nextGeneration() });
      else this.store.delete(name);
    }
    for (const [domid, d] of deltas) {
      const acc = this.account(domid);
      acc.nodes += d.nodes;
      acc.nodeMemory += d.memory;
      this.prune(domid);
    }
  }

  private commitTransaction(conn: Connection, tx: Transaction): void {
    const changed = tx.conflict();
    if (changed !== null) throw new XsError('EAGAIN', `transaction ${tx.id}: ${changed} changed since it was read`);
    if (!conn.privileged && tx.nodeCreated) {
      for (const [domid, d] of tx.deltas) {
        if (domid === 0 || d.nodes <= 0) continue;
        const nodes = this.account(domid).nodes + d.nodes;
        if (exceeds(this.quotas.nodes, nodes)) throw new XsError('ENOSPC', `dom${domid} would own ${nodes} nodes, quota ${this.quotas.nodes}`);
      }
    }
    this.applyChanges(tx.overlay, tx.deltas);
    for (const [path, match] of tx.events) {
      const node = this.store.lookup(path);
      const parent = node ? this.store.lookup(getParent(path)) : undefined;
      this.fire({
        path, match,
        nodePerms: node?.perms ?? null,
        parentPerms: parent?.perms ?? null,
        oldPerms: tx.accessed.get(path)?.perms ?? null,
      });
    }
  }

  // ---- watches ------------------------------------------------------------------------------

  /** Records a change for the watches: captured now, fired when the request's changes land. */
  private event(req: Req, path: string, match: WatchMatch, oldPerms: XsPerms | null = null): void {
    if (req.tx) {
      req.txEvents.push([path, match]);
      return;
    }
    const node = req.view.lookup(path);
    const parent = node ? req.view.lookup(getParent(path)) : undefined;
    req.events.push({ path, match, nodePerms: node?.perms ?? null, parentPerms: parent?.perms ?? null, oldPerms });
  }

  /** fire_watches(): every connection allowed to see the change gets each matching watch. */
  private fire(ev: WatchEvent): void {
    for (const conn of this.connections) {
      if (conn.closed || conn.ignored || conn.watches.length === 0) continue;
      if (!watchPermitted(conn, ev)) continue;
      for (const w of conn.watches) {
        if (watchMatches(w, ev.path, ev.match)) conn.sendEvent(ev.path.slice(w.prefixLen), w.token);
      }
    }
  }

  /** fire_special_watches(): @introduceDomain / @releaseDomain, bare and with /<domid>. */
  private fireSpecial(name: (typeof SPECIAL_NODES)[number], domid: number, flags: number): void {
    const node = this.store.lookup(name);
    if (!node) {
      this.logger.error(`xenstored: special node ${name} not found`);
      return;
    }
    const parentPerms = this.store.lookup('/')?.perms ?? null;
    if (flags & WATCH_NODOM) this.fire({ path: name, match: WatchMatch.NODEPTH, nodePerms: node.perms, parentPerms, oldPerms: null });
    if (flags & WATCH_DOM) this.fire({ path: `${name}/${domid}`, match: WatchMatch.DEPTH, nodePerms: node.perms, parentPerms, oldPerms: null });
  }

  // ---- node helpers -------------------------------------------------------------------------

  private canon(req: Req, path: string | null, allowSpecial: boolean): string {
    const implicit = req.conn ? req.conn.implicitPath : '/local/domain/0';
    return canonicalize(path, implicit, allowSpecial, req.subject.privileged ? null : this.quotas.pathMax);
  }

  /**
   * get_node() with get_node_chk_perm(): the node if the caller has `perm` on it; otherwise
   * the error, which is EACCES unless the nearest existing ancestor grants some of `perm`
   * (so a caller learns nothing about nodes it cannot see).
   */
  private getNode(req: Req, path: string | null, perm: number, allowSpecial: boolean): NodeLookup {
    const name = this.canon(req, path, allowSpecial);
    const node = req.view.lookup(name);
    let err: XsErrno;
    if (node) {
      if ((permFor(req.subject, node.perms) & perm) === perm) return { name, node };
      err = 'EACCES';
    } else {
      err = 'ENOENT';
    }
    return { name, err: this.errnoFromParents(req, name, err, perm) };
  }

  private mustGetNode(req: Req, path: string | null, perm: number, allowSpecial: boolean): { name: string; node: XsNode } {
    const r = this.getNode(req, path, perm, allowSpecial);
    if (!r.node) throw new XsError(r.err ?? 'ENOENT', r.name);
    return { name: r.name, node: r.node };
  }

  private errnoFromParents(req: Req, name: string, err: XsErrno, perm: number): XsErrno {
    let p = name;
    let parent: XsNode | undefined;
    do {
      p = getParent(p);
      parent = req.view.lookup(p);
    } while (!parent && p !== '/');
    if (!parent) {
      this.logger.error('xenstored: no root node: store corrupt');
      return 'EACCES';
    }
    return (permFor(req.subject, parent.perms) & perm) !== 0 ? err : 'EACCES';
  }

  /** construct_node() + create_node(): missing ancestors inherit their parent's perms. */
  private createNode(req: Req, name: string, data: Uint8Array): void {
    const missing: string[] = [];
    let p = name;
    let parent: XsNode | undefined;
    for (;;) {
      missing.push(p);
      if (p === '/') throw new XsError('EIO', 'root node missing');
      p = getParent(p);
      parent = req.view.lookup(p);
      if (parent) break;
    }
    for (let i = missing.length - 1; i >= 0; i--) {
      const childName = missing[i]!;
      const updated: XsNode = { ...parent, children: [...parent.children, baseName(childName)] };
      req.view.put(updated);
      const perms: XsPerm[] = parent.perms.map((x) => ({ ...x }));
      // Unprivileged domains own what they create.
      if (!req.subject.privileged) perms[0] = { id: req.subject.domid, perms: perms[0]!.perms };
      const node: XsNode = { name: childName, data: i === 0 ? data : EMPTY, perms, children: [], generation: NO_GENERATION };
      req.view.put(node);
      parent = node;
    }
    req.nodeCreated = true;
  }

  /** rm_node(): the subtree goes bottom-up, each node firing as it goes. */
  private rmNode(req: Req, name: string): void {
    const parentName = getParent(name);
    if (!req.view.lookup(parentName)) throw new XsError('EINVAL', `parent of ${name} missing`);
    // Iterative post-order walk: paths may nest about two thousand levels deep.
    const stack: Array<{ name: string; next: number }> = [{ name, next: 0 }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const node = req.view.lookup(top.name);
      if (node && top.next < node.children.length) {
        stack.push({ name: childPath(top.name, node.children[top.next++]!), next: 0 });
        continue;
      }
      stack.pop();
      if (!node) continue;
      this.event(req, top.name, top.name === name ? WatchMatch.SUBTREE : WatchMatch.EXACT);
      req.view.remove(top.name);
    }
    const parent = req.view.lookup(parentName)!;
    const leaf = baseName(name);
    req.view.put({ ...parent, children: parent.children.filter((c) => c !== leaf) });
    req.noSizeCheck.add(parentName);
  }

  // ---- handlers -----------------------------------------------------------------------------

  private doRead(req: Req): Uint8Array {
    return this.mustGetNode(req, oneArg(req.msg.payload), XS_PERM_READ, false).node.data;
  }

  private doDirectory(req: Req): Uint8Array {
    return joinStrings(this.mustGetNode(req, oneArg(req.msg.payload), XS_PERM_READ, false).node.children);
  }

  /** send_directory_part(): <gencnt>| then children from a byte offset, an extra nul at the end. */
  private doDirectoryPart(req: Req): Uint8Array {
    const payload = req.msg.payload;
    if (countNuls(payload) !== 2) throw new XsError('EINVAL', 'DIRECTORY_PART needs <path>|<offset>|');
    const [path = '', offStr = ''] = splitStrings(payload);
    const { node } = this.mustGetNode(req, path, XS_PERM_READ, false);
    const off = atoi(offStr);
    const gen = stringToBytes(`${node.generation}\0`);
    const children = joinStrings(node.children);
    const total = children.length;
    if (off < 0 || off >= total) return concat(gen, new Uint8Array(1));
    const maxlen = XENSTORE_PAYLOAD_MAX - gen.length - 1;
    let len = 0;
    for (;;) {
      const start = off + len;
      const strlen = children.indexOf(0, start) - start;
      if (len + strlen >= maxlen) break;
      len += strlen + 1;
      if (off + len === total) break;
    }
    const body = children.subarray(off, off + len);
    return off + len === total ? concat(gen, body, new Uint8Array(1)) : concat(gen, body);
  }

  private doGetPerms(req: Req): Uint8Array {
    const { node } = this.mustGetNode(req, oneArg(req.msg.payload), XS_PERM_READ, true);
    return joinStrings(node.perms.map(permToString));
  }

  private doWrite(req: Req): Uint8Array {
    const payload = req.msg.payload;
    const nul = payload.indexOf(0);
    if (nul < 0) throw new XsError('EINVAL', 'WRITE needs <path>|<value>');
    const path = bytesToString(payload.subarray(0, nul));
    const data = payload.slice(nul + 1);
    const r = this.getNode(req, path, XS_PERM_WRITE, false);
    if (r.node) {
      req.view.put({ ...r.node, data });
    } else {
      if (r.err !== 'ENOENT') throw new XsError(r.err ?? 'EACCES', r.name);
      this.createNode(req, r.name, data);
    }
    this.event(req, r.name, WatchMatch.SUBTREE);
    return OK;
  }

  private doMkdir(req: Req): Uint8Array {
    const r = this.getNode(req, oneArg(req.msg.payload), XS_PERM_WRITE, false);
    if (!r.node) {
      if (r.err !== 'ENOENT') throw new XsError(r.err ?? 'EACCES', r.name);
      this.createNode(req, r.name, EMPTY);
      this.event(req, r.name, WatchMatch.SUBTREE);
    }
    return OK;
  }

  private doRm(req: Req): Uint8Array {
    const r = this.getNode(req, oneArg(req.msg.payload), XS_PERM_WRITE, false);
    if (!r.node) {
      // Removing what is already gone is fine, as long as the parent exists.
      if (r.err === 'ENOENT' && req.view.lookup(getParent(r.name))) return OK;
      throw new XsError(r.err ?? 'ENOENT', r.name);
    }
    if (r.name === '/') throw new XsError('EINVAL', 'cannot remove /');
    this.rmNode(req, r.name);
    return OK;
  }

  private doSetPerms(req: Req): Uint8Array {
    const payload = req.msg.payload;
    const num = countNuls(payload) - 1;
    if (num < 1) throw new XsError('EINVAL', 'SET_PERMS needs <path>|<perm>|+');
    if (!req.subject.privileged && exceeds(this.quotas.nodePermissions, num)) {
      throw new XsError('ENOSPC', `${num} permissions exceed node-permissions ${this.quotas.nodePermissions}`);
    }
    const strs = splitStrings(payload);
    const perms = parsePerms(strs.slice(1, 1 + num));
    const { name, node } = this.mustGetNode(req, strs[0] ?? null, XS_PERM_WRITE | XS_PERM_OWNER, true);
    if (!req.subject.privileged && perms[0]!.id !== node.perms[0]!.id) {
      throw new XsError('EPERM', `only dom0 may change the owner of ${name}`);
    }
    req.view.put({ ...node, perms });
    this.event(req, name, WatchMatch.SUBTREE, node.perms);
    return OK;
  }

  private doWatch(req: Req): Uint8Array {
    const conn = req.conn!;
    const strs = splitStrings(req.msg.payload);
    let depth = -1;
    if (strs.length === 3) {
      depth = atoi(strs[2]!);
      if (depth < 0) throw new XsError('EINVAL', `watch depth ${depth}`);
    } else if (strs.length !== 2) {
      throw new XsError('EINVAL', 'WATCH needs <path>|<token>|[<depth>|]');
    }
    const path = strs[0]!;
    const token = strs[1]!;
    const relative = !path.startsWith('/') && !path.startsWith('@');
    const name = this.canon(req, path, true);
    if (conn.watches.some((w) => w.path === name && w.token === token)) throw new XsError('EEXIST', `watch ${name} ${token}`);
    if (!conn.privileged) {
      const acc = conn.account;
      if (exceeds(this.quotas.watches, acc.watches + 1)) throw new XsError('ENOSPC', `watches quota ${this.quotas.watches}`);
      if (exceeds(this.quotas.memory, acc.memory + name.length + token.length)) throw new XsError('ENOMEM', 'memory quota');
    }
    const w: Watch = { path: name, token, depth, prefixLen: relative ? conn.implicitPath.length + 1 : 0 };
    conn.addWatch(w);
    // xenstored fires once straight away, after the acknowledgement.
    req.after.push(() => conn.sendEvent(name.slice(w.prefixLen), token));
    return OK;
  }

  private doUnwatch(req: Req): Uint8Array {
    const conn = req.conn!;
    const strs = splitStrings(req.msg.payload);
    if (strs.length !== 2) throw new XsError('EINVAL', 'UNWATCH needs <path>|<token>|');
    const name = this.canon(req, strs[0]!, true);
    const w = conn.watches.find((x) => x.path === name && x.token === strs[1]);
    if (!w) throw new XsError('ENOENT', `no watch ${name} ${strs[1]!}`);
    conn.removeWatch(w);
    return OK;
  }

  private doTransactionStart(req: Req): Uint8Array {
    const conn = req.conn!;
    if (req.tx) throw new XsError('EBUSY', 'transactions do not nest');
    if (!conn.privileged && exceeds(this.quotas.transactions, conn.account.transactions + 1)) {
      throw new XsError('ENOSPC', `transactions quota ${this.quotas.transactions}`);
    }
    const tx = new Transaction(conn.allocTransactionId(), this.store, conn.privileged ? 0 : this.quotas.transactionNodes);
    conn.addTransaction(tx);
    return joinStrings([String(tx.id)]);
  }

  private doTransactionEnd(req: Req): Uint8Array {
    const conn = req.conn!;
    const arg = oneArg(req.msg.payload);
    if (arg !== 'T' && arg !== 'F') throw new XsError('EINVAL', 'TRANSACTION_END takes T or F');
    const tx = req.tx;
    if (!tx) throw new XsError('ENOENT', 'no transaction');
    conn.removeTransaction(tx);
    if (arg === 'T') this.commitTransaction(conn, tx);
    return OK;
  }

  private doIntroduce(req: Req): Uint8Array {
    const strs = splitStrings(req.msg.payload);
    if (strs.length < 3) throw new XsError('EINVAL', 'INTRODUCE needs <domid>|<gfn>|<evtchn>|');
    const domid = parseDomid(strs[0]!);
    const gfn = Number(strs[1]);
    const port = atoi(strs[2]!);
    if (port <= 0) throw new XsError('EINVAL', `event channel ${strs[2]!}`);
    if (!Number.isInteger(gfn)) throw new XsError('EINVAL', `gfn ${strs[1]!}`);
    const existing = this.rings.get(domid);
    if (existing) {
      existing.introduce();
      return OK;
    }
    if (!this.mapInterface) {
      this.logger.error(`xenstored: INTRODUCE of dom${domid} over the wire needs the host's mapInterface hook, which was not given`);
      throw new XsError('ENOSYS', 'INTRODUCE without a mapInterface hook');
    }
    const binding = this.mapInterface(domid, gfn, port);
    if (!binding) throw new XsError('EINVAL', `cannot map the store page of dom${domid}`);
    this.introduceDomain(domid, binding.ring, binding.notify);
    return OK;
  }

  /** onearg_domain(): a connected domain other than dom0. */
  private oneArgDomain(req: Req): number {
    const domid = parseDomid(oneArg(req.msg.payload));
    if (domid === 0) throw new XsError('EINVAL', 'dom0 cannot be released or resumed');
    if (!this.rings.has(domid)) throw new XsError('ENOENT', `dom${domid} is not introduced`);
    return domid;
  }

  private doRelease(req: Req): Uint8Array {
    this.releaseDomain(this.oneArgDomain(req));
    return OK;
  }

  private doResume(req: Req): Uint8Array {
    this.account(this.oneArgDomain(req)).shutdown = false;
    return OK;
  }

  private doGetDomainPath(req: Req): Uint8Array {
    return joinStrings([this.getDomainPath(parseDomid(oneArg(req.msg.payload)))]);
  }

  private doIsDomainIntroduced(req: Req): Uint8Array {
    const domid = parseDomid(oneArg(req.msg.payload));
    return joinStrings([domid === DOMID_SELF || this.isDomainIntroduced(domid) ? 'T' : 'F']);
  }

  private doSetTarget(req: Req): Uint8Array {
    const strs = splitStrings(req.msg.payload);
    if (strs.length < 2) throw new XsError('EINVAL', 'SET_TARGET needs <domid>|<tdomid>|');
    const domid = parseDomid(strs[0]!);
    const tdomid = parseDomid(strs[1]!);
    for (const d of [domid, tdomid]) if (!this.rings.has(d)) throw new XsError('ENOENT', `dom${d} is not introduced`);
    this.account(domid).target = tdomid;
    return OK;
  }

  private doResetWatches(req: Req): Uint8Array {
    const conn = req.conn!;
    conn.deleteAllWatches();
    conn.deleteAllTransactions();
    return OK;
  }

  /** A minimal CONTROL (control.c): check, help, log, print, quota. */
  private doControl(req: Req): Uint8Array {
    const strs = splitStrings(req.msg.payload);
    const [cmd, ...args] = strs;
    switch (cmd) {
      case 'check': {
        if (args.length) throw new XsError('EINVAL', 'check takes no arguments');
        const problems = this.checkStore();
        if (problems.length) {
          for (const p of problems) this.logger.error(`xenstored: check: ${p}`);
          throw new XsError('EIO', `store inconsistent: ${problems[0]!}`);
        }
        return OK;
      }
      case 'help':
        return joinStrings([
          ['check', 'log', 'print', 'quota', 'help'].map((c) => `${c.padEnd(15)} ${CONTROL_HELP[c] ?? ''}\n`).join(''),
        ]);
      case 'log':
        if (args.length === 0) return joinStrings(['Log switch settings: logging goes to the host logger\n']);
        if (args.length !== 1) throw new XsError('EINVAL', 'log takes one argument');
        return OK;
      case 'print':
        if (args.length !== 1) throw new XsError('EINVAL', 'print takes one argument');
        this.logger.info(`xenstored: control: ${args[0]!}`);
        return OK;
      case 'quota':
        return joinStrings([this.quotaReport(args)]);
      default:
        throw new XsError('EINVAL', `unknown control command ${cmd ?? '(none)'}`);
    }
  }

  private quotaReport(args: string[]): string {
    if (args.length === 0) {
      let s = 'Quota settings:\n';
      for (const [k, name] of Object.entries(QUOTA_NAMES)) {
        s += `${name.padEnd(17)}: ${String(this.quotas[k as keyof XsQuotas]).padStart(8)}\n`;
      }
      return s;
    }
    if (args.length !== 1) throw new XsError('EINVAL', 'quota takes at most a domid');
    const domid = parseDomid(args[0]!);
    const acc = this.domains.get(domid);
    if (!acc) throw new XsError('ENOENT', `no accounting data for dom${domid}`);
    const rows: Array<[string, number]> = [
      ['nodes', acc.nodes], ['watches', acc.watches], ['transactions', acc.transactions],
      ['outstanding', acc.outstanding], ['memory', acc.memory],
    ];
    return `Domain ${domid}:\n${rows.map(([n, v]) => `${n.padEnd(17)}: ${String(v).padStart(8)}\n`).join('')}`;
  }

  // ---- domain management (xend's API) -------------------------------------------------------

  /**
   * Starts serving a guest's store ring (INTRODUCE). `ring` views the guest's store page,
   * `notify` signals its event channel. Fires @introduceDomain. Introducing a domain again
   * resets its connection, as xenstored does.
   */
  introduceDomain(domid: number, ring: Uint8Array, notify: RingNotify): RingConnection {
    if (!Number.isInteger(domid) || domid <= 0 || domid >= DOMID_FIRST_RESERVED) {
      throw new XsError('EINVAL', `cannot introduce domain ${domid}: not a guest domain id`);
    }
    const existing = this.rings.get(domid);
    if (existing) {
      existing.rebind(ring, notify);
      existing.introduce();
      this.logger.info(`xenstored: dom${domid} re-introduced`);
      return existing;
    }
    const conn = new RingConnection(this, domid, ring, notify);
    this.connectionOpened(conn);
    this.rings.set(domid, conn);
    const acc = this.account(domid);
    acc.introduced = true;
    acc.shutdown = false;
    conn.introduce();
    this.logger.info(`xenstored: dom${domid} introduced`);
    this.fireSpecial('@introduceDomain', domid, WATCH_NODOM | WATCH_DOM);
    return conn;
  }

  /**
   * Stops serving a domain (RELEASE / domain destruction): its watches and transactions go,
   * nodes it owns are removed, its permission entries elsewhere are dropped, and
   * @releaseDomain fires.
   */
  releaseDomain(domid: number): void {
    const conn = this.rings.get(domid);
    if (!conn) throw new XsError('ENOENT', `dom${domid} is not introduced`);
    // Its own watches go first so the removals below do not queue events for it.
    conn.deleteAllWatches();
    conn.destroy();
    const acc = this.account(domid);
    acc.introduced = false;
    acc.shutdown = false;
    acc.target = null;
    for (const other of this.domains.values()) if (other.target === domid) other.target = null;
    this.domainTreeRemove(domid);
    this.logger.info(`xenstored: dom${domid} released`);
    this.fireSpecial('@releaseDomain', domid, WATCH_NODOM | WATCH_DOM);
    this.prune(domid);
  }

  /**
   * The hypervisor reported the domain shut down (xenstored learns this from VIRQ_DOM_EXC):
   * @releaseDomain fires once until RESUME. Returns whether it fired.
   */
  domainShutdown(domid: number): boolean {
    const acc = this.domains.get(domid);
    if (!acc?.introduced || acc.shutdown) return false;
    acc.shutdown = true;
    this.fireSpecial('@releaseDomain', domid, WATCH_DOM);
    this.fireSpecial('@releaseDomain', domid, WATCH_NODOM);
    return true;
  }

  /** domain_tree_remove(): drop nodes the domain owns and its entries in other nodes' perms. */
  private domainTreeRemove(domid: number): void {
    const req = this.systemReq();
    const strip = (node: XsNode): void => {
      let perms = node.perms.filter((p, i) => i === 0 || p.id !== domid);
      if (perms[0]!.id === domid) perms = [{ id: 0, perms: perms[0]!.perms }, ...perms.slice(1)];
      if (perms.length !== node.perms.length || perms[0]!.id !== node.perms[0]!.id) {
        req.view.put({ ...node, perms });
        req.noSizeCheck.add(node.name);
      }
    };
    const stack = ['/'];
    while (stack.length > 0) {
      const name = stack.pop()!;
      const node = req.view.lookup(name);
      if (!node) continue;
      if (name !== '/' && node.perms[0]!.id === domid) {
        this.rmNode(req, name);
        continue;
      }
      strip(node);
      for (let i = node.children.length - 1; i >= 0; i--) stack.push(childPath(name, node.children[i]!));
    }
    for (const s of SPECIAL_NODES) {
      const node = req.view.lookup(s);
      if (node) strip(node);
    }
    this.commitRequest(req);
  }

  getDomainPath(domid: number): string {
    return `/local/domain/${domid}`;
  }

  isDomainIntroduced(domid: number): boolean {
    return domid === 0 || this.rings.has(domid);
  }

  /** The host calls this when a guest signals its store event channel. False if unknown. */
  kick(domid: number): boolean {
    const conn = this.rings.get(domid);
    if (!conn) return false;
    conn.kick();
    return true;
  }

  ringConnection(domid: number): RingConnection | undefined {
    return this.rings.get(domid);
  }

  /** A privileged dom0 client for in-process use (xend). */
  openHandle(): XsHandle {
    const conn = new InProcessConnection(this);
    this.connectionOpened(conn);
    return new XsHandle(this, conn);
  }

  /** Serves dom0 tools on a Unix socket (xenstore-utils find it through XENSTORED_PATH). */
  async listen(socketPath: string): Promise<XenstoredSocketServer> {
    if (this.servers.has(socketPath)) throw new Error(`xenstored: already listening on ${socketPath}`);
    const server = new XenstoredSocketServer(this, socketPath);
    await server.listen();
    this.servers.set(socketPath, server);
    return server;
  }

  /** Closes the sockets and every connection. */
  async close(): Promise<void> {
    const servers = [...this.servers.values()];
    this.servers.clear();
    await Promise.all(servers.map((s) => s.close()));
    for (const c of [...this.connections]) c.destroy();
    this.rings.clear();
  }

  /** Accounting snapshot for one domain (tests, xm debugging). */
  domainUsage(domid: number): Readonly<DomainAccount> | undefined {
    return this.domains.get(domid);
  }

  /** CONTROL check: tree links and per-owner accounting agree. Returns the problems found. */
  checkStore(): string[] {
    const problems: string[] = [];
    const tally = new Map<number, { nodes: number; memory: number }>();
    for (const node of this.store.values()) {
      const owner = node.perms[0]!.id;
      const t = tally.get(owner) ?? { nodes: 0, memory: 0 };
      t.nodes++;
      t.memory += nodeMemory(node);
      tally.set(owner, t);
      if (node.name.startsWith('@')) continue;
      if (node.name !== '/') {
        const parent = this.store.lookup(getParent(node.name));
        if (!parent) problems.push(`${node.name} has no parent`);
        else if (!parent.children.includes(baseName(node.name))) problems.push(`${node.name} missing from its parent's children`);
      }
      if (new Set(node.children).size !== node.children.length) problems.push(`${node.name} lists a child twice`);
      for (const c of node.children) {
        if (!this.store.lookup(childPath(node.name, c))) problems.push(`${node.name} lists missing child ${c}`);
      }
    }
    const domids = new Set([...tally.keys(), ...this.domains.keys()]);
    for (const domid of domids) {
      const t = tally.get(domid) ?? { nodes: 0, memory: 0 };
      const acc = this.domains.get(domid);
      const nodes = acc?.nodes ?? 0;
      const memory = acc?.nodeMemory ?? 0;
      if (t.nodes !== nodes) problems.push(`dom${domid} owns ${t.nodes} nodes but is charged ${nodes}`);
      if (t.memory !== memory) problems.push(`dom${domid} node memory ${t.memory} but is charged ${memory}`);
    }
    return problems;
  }
}

const CONTROL_HELP: Record<string, string> = {
  check: '',
  log: '[on|off|+<switch>|-<switch>]',
  print: '<string>',
  quota: '[<domid>]',
  help: '',
};

/** parse_domid(): a decimal domain id up to 65535. */
function parseDomid(s: string | null): number {
  if (s === null || !/^[0-9]{1,5}$/.test(s)) throw new XsError('EINVAL', `bad domain id '${s ?? ''}'`);
  const domid = Number(s);
  if (domid > 65535) throw new XsError('EINVAL', `domain id ${domid} out of range`);
  return domid;
}

/** C atoi(): leading digits after optional space and sign, 0 if none. */
function atoi(s: string): number {
  const m = /^\s*([+-]?\d+)/.exec(s);
  if (!m) return 0;
  const v = parseInt(m[1]!, 10);
  return Math.max(-0x80000000, Math.min(0x7fffffff, v));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
