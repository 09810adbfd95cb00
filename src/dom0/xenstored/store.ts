// The node database: nodes keyed by full path (xenstored keeps a hashtable keyed the same
// way), a global generation counter, and change sets that stage a request's or a
// transaction's writes over a base so failures leave nothing half-done.
// Reference: tools/xenstored/core.c (struct node, node_hdr, canonicalize, get_parent).

import type { XsPerms } from './perms.js';
import { XsError } from './wire.js';

/** node_hdr's NO_GENERATION: a node that did not exist when it was looked at. */
export const NO_GENERATION = -1;

export interface XsNode {
  readonly name: string;
  readonly data: Uint8Array;
  readonly perms: XsPerms;
  /** Child leaf names, in creation order as xenstored keeps them. */
  readonly children: readonly string[];
  readonly generation: number;
}

export interface NodeSource {
  lookup(name: string): XsNode | undefined;
}

export function childLen(children: readonly string[]): number {
  let n = 0;
  for (const c of children) n += c.length + 1;
  return n;
}

/**
 * calc_node_acc_size(): the bytes a node occupies in xenstored's database (header, 8 bytes
 * per permission, data, nul-separated children). The node-size quota limits this.
 */
export function entrySize(node: Pick<XsNode, 'data' | 'perms' | 'children'>): number {
  return 16 + 8 * node.perms.length + node.data.length + childLen(node.children);
}

/** What db_write() charges the owner's memory quota for a node: entry plus its name. */
export function nodeMemory(node: XsNode): number {
  return entrySize(node) + node.name.length;
}

export function getParent(name: string): string {
  const slash = name.lastIndexOf('/');
  return slash > 0 ? name.slice(0, slash) : '/';
}

export function baseName(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1);
}

export function childPath(parent: string, leaf: string): string {
  return parent === '/' ? `/${leaf}` : `${parent}/${leaf}`;
}

const VALID_CHARS = /^[A-Za-z0-9\-/_@]*$/;

/**
 * canonicalize(): validate a path and make a relative one absolute under `implicitPath`.
 * `pathLimit` is the path-max quota for unprivileged callers (null: none); like xenstored it
 * applies to the part after /local/domain/<domid>/.
 */
export function canonicalize(
  path: string | null,
  implicitPath: string,
  allowSpecial: boolean,
  pathLimit: number | null,
): string {
  if (path === null) throw new XsError('EINVAL', 'missing path');
  if (!VALID_CHARS.test(path)) throw new XsError('EINVAL', `path '${printable(path)}' has characters outside A-Za-z0-9-/_@`);
  if (path.startsWith('@') && !allowSpecial) throw new XsError('EINVAL', `special path '${path}' not allowed here`);
  const name = path.startsWith('/') || path.startsWith('@') ? path : `${implicitPath}/${path}`;
  if (name.endsWith('/') && name !== '/') throw new XsError('EINVAL', `path '${name}' ends in /`);
  if (name.includes('//')) throw new XsError('EINVAL', `path '${name}' contains //`);
  if (pathLimit !== null && pathLimit > 0) {
    const m = /^\/local\/domain\/(\d{1,5})\//.exec(name);
    const len = name.length - (m ? m[0].length : 0);
    if (len >= pathLimit) throw new XsError('EINVAL', `path of ${len} bytes exceeds path-max ${pathLimit}`);
  }
  return name;
}

function printable(s: string): string {
  const cut = s.length > 64 ? `${s.slice(0, 64)}...` : s;
  return cut.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export class NodeStore implements NodeSource {
  private readonly nodes = new Map<string, XsNode>();
  private generation = 0;

  nextGeneration(): number {
    return ++this.generation;
  }

  lookup(name: string): XsNode | undefined {
    return this.nodes.get(name);
  }

  set(node: XsNode): void {
    this.nodes.set(node.name, node);
  }

  delete(name: string): void {
    this.nodes.delete(name);
  }

  get size(): number {
    return this.nodes.size;
  }

  values(): IterableIterator<XsNode> {
    return this.nodes.values();
  }
}

/** Writes staged over a base source; `null` marks a deletion. */
export class ChangeSet implements NodeSource {
  readonly changes = new Map<string, XsNode | null>();

  constructor(readonly base: NodeSource) {}

  lookup(name: string): XsNode | undefined {
    const c = this.changes.get(name);
    if (c !== undefined) return c ?? undefined;
    return this.base.lookup(name);
  }

  put(node: XsNode): void {
    this.changes.set(node.name, node);
  }

  remove(name: string): void {
    this.changes.set(name, null);
  }
}
