// What the network backend needs of a xenstore connection: the calls of dom0's in-process
// xenstored handle (src/dom0/xenstored XsHandle satisfies this structurally; devices must not
// import from dom0). Errors are expected to carry xenstored's wire name in `errno`
// ('ENOENT', 'EAGAIN', ...), as XsError does.

import { parseU32, readOptional, rmQuiet, type XenstoreHandle } from '../xenbus.js';

export { XenbusState, xenbusStateName, xsErrno, inTransaction, type XenbusStateValue } from '../xenbus.js';
export type XsClient = XenstoreHandle;

/** Reads a node as text, or null if it does not exist (other errors propagate). */
export const readOrNull = readOptional;

export function exists(xs: XsClient, path: string, tx = 0): boolean {
  return readOptional(xs, path, tx) !== null;
}

/** Removes a node; a node that is already gone is fine. */
export const rmIfPresent = rmQuiet;

/** An unsigned decimal the way a careful backend reads a frontend-written node. */
export function parseUnsigned(s: string | null, max = 0xffffffff): number | null {
  // Frontend values are read untrimmed here: whitespace makes them invalid.
  return s !== null && s.trim() !== s ? null : parseU32(s, max);
}

/** xenbus_read_unsigned(): the value, or `def` when missing or unparsable. */
export function readUnsigned(xs: XsClient, path: string, def: number): number {
  return parseUnsigned(readOptional(xs, path)) ?? def;
}
