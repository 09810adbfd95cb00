// Transactions as overlays with generation checks, after tools/xenstored/transaction.c: every
// node a transaction looks at is remembered with the generation it had (NO_GENERATION if it
// did not exist); TRANSACTION_END T fails with EAGAIN if any of them changed meanwhile,
// otherwise the overlay is written to the store and the queued watches fire.

import { exceeds } from './quota.js';
import { NO_GENERATION, type NodeSource, type NodeStore, type XsNode } from './store.js';
import type { XsPerms } from './perms.js';
import { WatchMatch } from './watch.js';
import { XsError } from './wire.js';

export interface AccessRecord {
  /** Generation at first access, NO_GENERATION if the node did not exist. */
  readonly generation: number;
  /** Perms at first access: a watcher that could read the node then still hears about it. */
  readonly perms: XsPerms | null;
}

export interface AccountDelta {
  nodes: number;
  memory: number;
}

export class Transaction implements NodeSource {
  readonly overlay = new Map<string, XsNode | null>();
  readonly accessed = new Map<string, AccessRecord>();
  /** Watches to fire on commit, keyed by path in first-queued order (queue_watches()). */
  readonly events = new Map<string, WatchMatch>();
  /** Per-owner accounting changes the overlay would make to the store. */
  readonly deltas = new Map<number, AccountDelta>();
  nodeCreated = false;

  constructor(
    readonly id: number,
    private readonly store: NodeStore,
    /** transaction-nodes quota for this caller, 0 for none. */
    private readonly nodeLimit: number,
  ) {}

  lookup(name: string): XsNode | undefined {
    const o = this.overlay.get(name);
    if (o !== undefined) return o ?? undefined;
    return this.access(name);
  }

  /** Reads from the store and remembers what was seen, like access_node(NODE_ACCESS_READ). */
  private access(name: string): XsNode | undefined {
    const node = this.store.lookup(name);
    if (!this.accessed.has(name)) {
      if (exceeds(this.nodeLimit, this.accessed.size + 1)) {
        throw new XsError('ENOSPC', `transaction ${this.id} touches more than transaction-nodes ${this.nodeLimit}`);
      }
      this.accessed.set(name, { generation: node ? node.generation : NO_GENERATION, perms: node ? node.perms : null });
    }
    return node;
  }

  /** Folds a finished request's writes into the overlay. */
  merge(changes: ReadonlyMap<string, XsNode | null>, deltas: ReadonlyMap<number, AccountDelta>): void {
    for (const [name, node] of changes) {
      if (!this.overlay.has(name)) this.access(name);
      this.overlay.set(name, node);
    }
    for (const [domid, d] of deltas) {
      const t = this.deltas.get(domid) ?? { nodes: 0, memory: 0 };
      t.nodes += d.nodes;
      t.memory += d.memory;
      this.deltas.set(domid, t);
    }
  }

  queueEvent(path: string, match: WatchMatch): void {
    const cur = this.events.get(path);
    if (cur === undefined || match === WatchMatch.SUBTREE) this.events.set(path, match);
  }

  /** The first changed node whose generation moved since this transaction saw it. */
  conflict(): string | null {
    for (const [name, rec] of this.accessed) {
      const cur = this.store.lookup(name);
      if ((cur ? cur.generation : NO_GENERATION) !== rec.generation) return name;
    }
    return null;
  }
}
