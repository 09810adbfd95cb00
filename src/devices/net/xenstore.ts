// What the network backend needs of a xenstore connection: the calls of dom0's in-process
// xenstored handle (src/dom0/xenstored XsHandle satisfies this structurally; devices must not
// import from dom0). Errors are expected to carry xenstored's wire name in `errno`
// ('ENOENT', 'EAGAIN', ...), as XsError does.

export interface XsClient {
  read(path: string, tx?: number): Uint8Array;
  readString(path: string, tx?: number): string;
  write(path: string, value: string | Uint8Array, tx?: number): void;
  mkdir(path: string, tx?: number): void;
  rm(path: string, tx?: number): void;
  directory(path: string, tx?: number): string[];
  setPerms(path: string, perms: readonly string[], tx?: number): void;
  watch(path: string, token: string, cb?: (path: string, token: string) => void): void;
  unwatch(path: string, token: string): void;
  transactionStart(): number;
  transactionEnd(tx: number, commit?: boolean): void;
}

/** xenbus_state (io/xenbus.h). */
export const XenbusState = {
  Unknown: 0,
  Initialising: 1,
  InitWait: 2,
  Initialised: 3,
  Connected: 4,
  Closing: 5,
  Closed: 6,
  Reconfiguring: 7,
  Reconfigured: 8,
} as const;

export type XenbusStateValue = (typeof XenbusState)[keyof typeof XenbusState];

const STATE_NAMES = ['Unknown', 'Initialising', 'InitWait', 'Initialised', 'Connected', 'Closing', 'Closed', 'Reconfiguring', 'Reconfigured'];

/** xenbus_strstate(). */
export function xenbusStateName(s: number): string {
  return STATE_NAMES[s] ?? 'INVALID';
}

export function xsErrno(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'errno' in e) {
    const v = (e as { errno: unknown }).errno;
    return typeof v === 'string' ? v : undefined;
  }
  return undefined;
}

/** Reads a node as text, or null if it does not exist (other errors propagate). */
export function readOrNull(xs: XsClient, path: string, tx = 0): string | null {
  try {
    return xs.readString(path, tx);
  } catch (e) {
    if (xsErrno(e) === 'ENOENT') return null;
    throw e;
  }
}

export function exists(xs: XsClient, path: string, tx = 0): boolean {
  return readOrNull(xs, path, tx) !== null;
}

/** Removes a node; a node that is already gone is fine. */
export function rmIfPresent(xs: XsClient, path: string, tx = 0): void {
  try {
    xs.rm(path, tx);
  } catch (e) {
    if (xsErrno(e) !== 'ENOENT') throw e;
  }
}

/**
 * An unsigned decimal the way a careful backend reads a frontend-written node: digits only,
 * within 32 bits. Null for anything else (the guest wrote it, so it may be anything).
 */
export function parseUnsigned(s: string | null, max = 0xffffffff): number | null {
  if (s === null || !/^[0-9]{1,10}$/.test(s)) return null;
  const v = Number(s);
  return v <= max ? v : null;
}

/** xenbus_read_unsigned(): the value, or `def` when missing or unparsable. */
export function readUnsigned(xs: XsClient, path: string, def: number): number {
  return parseUnsigned(readOrNull(xs, path)) ?? def;
}

/** Runs `fn` in a transaction, retrying on EAGAIN as xenbus callers and xstransact do. */
export function inTransaction<T>(xs: XsClient, fn: (tx: number) => T, what: string, tries = 100): T {
  for (let i = 0; i < tries; i++) {
    const tx = xs.transactionStart();
    let result: T;
    try {
      result = fn(tx);
    } catch (e) {
      try {
        xs.transactionEnd(tx, false);
      } catch {
        // The transaction may already be gone; the original error matters.
      }
      throw e;
    }
    try {
      xs.transactionEnd(tx, true);
      return result;
    } catch (e) {
      if (xsErrno(e) !== 'EAGAIN') throw e;
    }
  }
  throw new Error(`${what}: xenstore transaction kept conflicting (${tries} attempts)`);
}
