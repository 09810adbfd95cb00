// Per-domain accounting and quotas, so a hostile guest cannot exhaust the host.
// Defaults and semantics follow tools/xenstored/domain.c (struct quota quotas[],
// domain_quota_val_exceeds: a value at or above the quota is "exceeded"; 0 disables a quota;
// privileged domains are never limited).

import { XENSTORE_REL_PATH_MAX } from './wire.js';

export interface XsQuotas {
  /** Nodes owned by a domain ("nodes"). */
  nodes: number;
  /** Watches per domain ("watches"). */
  watches: number;
  /** Concurrent transactions per domain ("transactions"). */
  transactions: number;
  /** Nodes a single transaction may touch ("transaction-nodes"). */
  transactionNodes: number;
  /** Permission entries per node ("node-permissions"). */
  nodePermissions: number;
  /** Path length below /local/domain/<domid>/ ("path-max"). */
  pathMax: number;
  /** Database entry size of one node: header, perms, data, children ("node-size"). */
  nodeSize: number;
  /** Replies queued but not yet written to the domain ("outstanding"). */
  outstanding: number;
  /** Memory charged to a domain: owned nodes, watches, queued output ("memory"). */
  memory: number;
}

export const DEFAULT_QUOTAS: Readonly<XsQuotas> = Object.freeze({
  nodes: 1000,
  watches: 128,
  transactions: 10,
  transactionNodes: 1024,
  nodePermissions: 5,
  pathMax: XENSTORE_REL_PATH_MAX,
  nodeSize: 2048,
  outstanding: 20,
  memory: 2 * 1024 * 1024 + 512 * 1024,
});

/** xenstored's names for the quotas, as CONTROL quota prints them. */
export const QUOTA_NAMES: Record<keyof XsQuotas, string> = {
  nodes: 'nodes',
  watches: 'watches',
  transactions: 'transactions',
  transactionNodes: 'transaction-nodes',
  nodePermissions: 'node-permissions',
  pathMax: 'path-max',
  nodeSize: 'node-size',
  outstanding: 'outstanding',
  memory: 'memory',
};

export function validateQuotas(q: Partial<XsQuotas>): XsQuotas {
  const out: XsQuotas = { ...DEFAULT_QUOTAS };
  for (const [k, v] of Object.entries(q)) {
    if (!(k in DEFAULT_QUOTAS)) throw new TypeError(`xenstored: unknown quota '${k}'`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      throw new TypeError(`xenstored: quota '${k}' must be a non-negative integer, got ${String(v)}`);
    }
    out[k as keyof XsQuotas] = v;
  }
  return out;
}

/** The accounting state xenstored keeps in struct domain. */
export class DomainAccount {
  nodes = 0;
  watches = 0;
  transactions = 0;
  outstanding = 0;
  /** Bytes of owned nodes (entry size plus path), as db_write() charges them. */
  nodeMemory = 0;
  /** Bytes of watch paths and tokens. */
  watchMemory = 0;
  /** Bytes of replies and events queued for the domain's connection. */
  outputMemory = 0;
  introduced = false;
  /** Set when @releaseDomain fired for a shutdown; RESUME clears it. */
  shutdown = false;
  /** The domain this one may act for (SET_TARGET), or null. */
  target: number | null = null;
  /** Logged once per crossing so a guest cannot flood the log. */
  memoryReported = false;

  constructor(readonly domid: number) {}

  get memory(): number {
    return this.nodeMemory + this.watchMemory + this.outputMemory;
  }

  get path(): string {
    return `/local/domain/${this.domid}`;
  }

  /** Whether anything still ties this record to the daemon. */
  get idle(): boolean {
    return !this.introduced && this.nodes === 0 && this.watches === 0 && this.transactions === 0 &&
      this.outstanding === 0 && this.memory === 0 && this.target === null;
  }
}

/** domain_quota_val_exceeds(): `value` reaching `quota` counts as exceeded; 0 disables. */
export function exceeds(quota: number, value: number): boolean {
  return quota !== 0 && value >= quota;
}
