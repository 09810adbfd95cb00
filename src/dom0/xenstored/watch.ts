// Watches and the matching rules of tools/xenstored/watch.c (is_child, fire_watches,
// watch_permitted).

import { permFor, XS_PERM_READ, type PermSubject, type XsPerms } from './perms.js';

export interface Watch {
  /** Canonical (absolute or @special) path watched. */
  readonly path: string;
  readonly token: string;
  /** Directory levels below `path` that still match; -1 for unlimited. */
  readonly depth: number;
  /** Characters stripped from event paths: the watch was set with a relative path. */
  readonly prefixLen: number;
}

export enum WatchMatch {
  /** The event path must equal the watched path (children of a removed subtree). */
  EXACT,
  /** The event path is the watched path or below it. */
  SUBTREE,
  /** Special watches with a /<domid> suffix: depth watches on the bare name match too. */
  DEPTH,
  /** Special watches without suffix: only depth-less watches on the exact name. */
  NODEPTH,
}

/**
 * A change that may fire watches. The permissions are captured when the change happened
 * (before a removal, after a write), as xenstored fires while the node is still visible.
 */
export interface WatchEvent {
  readonly path: string;
  readonly match: WatchMatch;
  /** Perms of the node, or null if it does not exist. */
  readonly nodePerms: XsPerms | null;
  /** Perms of its parent, consulted when the node itself is unreadable. */
  readonly parentPerms: XsPerms | null;
  /** Perms before a SET_PERMS or at a transaction's first access, so losing access still notifies. */
  readonly oldPerms: XsPerms | null;
}

/** is_child(): whether `child` is `parent` or below it, limited to `depth` levels (-1: any). */
export function isChild(child: string, parent: string, depth: number): boolean {
  let len = parent.length;
  let subLevels = len === 1 ? 1 : 0;
  if (!child.startsWith(parent)) return false;
  const next = child.charAt(len);
  if (next !== '/' && next !== '' && len > 1) return false;
  if (depth < 0 || next === '') return true;
  while (subLevels <= depth) {
    const c = child.charAt(len);
    if (c === '') return true;
    if (c === '/') subLevels++;
    len++;
  }
  return false;
}

export function watchMatches(watch: Watch, path: string, match: WatchMatch): boolean {
  switch (match) {
    case WatchMatch.EXACT:
      return path === watch.path;
    case WatchMatch.SUBTREE:
      return isChild(path, watch.path, watch.depth);
    case WatchMatch.DEPTH:
      return path === watch.path || (watch.depth > 0 && isChild(path, watch.path, watch.depth));
    case WatchMatch.NODEPTH:
      return path === watch.path && watch.depth < 0;
  }
}

/** watch_permitted(): the watcher may read the node, its parent, or could read it before. */
export function watchPermitted(subject: PermSubject, ev: WatchEvent): boolean {
  if (ev.oldPerms && permFor(subject, ev.oldPerms) & XS_PERM_READ) return true;
  if (!ev.nodePerms) return false;
  if (permFor(subject, ev.nodePerms) & XS_PERM_READ) return true;
  if (!ev.parentPerms) return false;
  return (permFor(subject, ev.parentPerms) & XS_PERM_READ) !== 0;
}
