// What dom0's split-device backends need of xenstore, shared by blkback and netback: the calls
// of the in-process xenstored handle (src/dom0/xenstored's XsHandle satisfies this structurally:
// devices sit below dom0 and do not import it), xenbus states, and the careful read, remove and
// transaction helpers both drivers use. Errors carry xenstored's wire name in `errno`.

export interface XenstoreHandle {
  read(path: string, tx?: number): Uint8Array;
  readString(path: string, tx?: number): string;
  write(path: string, value: string | Uint8Array, tx?: number): void;
  mkdir(path: string, tx?: number): void;
  rm(path: string, tx?: number): void;
  directory(path: string, tx?: number): string[];
  /** xenstored's string form, owner first: ["n0", "r5"]. */
  setPerms(path: string, perms: readonly string[], tx?: number): void;
  /** Events (including the initial one) arrive asynchronously, never inside a call. */
  watch(path: string, token: string, cb: (path: string, token: string) => void): void;
  unwatch(path: string, token: string): void;
  transactionStart(): number;
  /** Throws an error whose `errno` is 'EAGAIN' when a commit conflicts. */
  transactionEnd(tx: number, commit?: boolean): void;
}

/** enum xenbus_state (io/xenbus.h). */
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

/** The xs_wire error name carried by a failed xenstore call (XsError.errno), if any. */
export function xsErrno(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'errno' in e) {
    const v = (e as { errno: unknown }).errno;
    if (typeof v === 'string') return v;
  }
  return undefined;
}

/** Reads a node as text, or null if it does not exist (other failures throw). */
export function readOptional(xs: XenstoreHandle, path: string, tx = 0): string | null {
  try {
    return xs.readString(path, tx);
  } catch (e) {
    if (xsErrno(e) === 'ENOENT') return null;
    throw e;
  }
}

/** Removes a node and its children; a node already gone is fine (xenstore-rm -t ... || true). */
export function rmQuiet(xs: XenstoreHandle, path: string, tx = 0): void {
  try {
    xs.rm(path, tx);
  } catch (e) {
    if (xsErrno(e) !== 'ENOENT') throw e;
  }
}

/**
 * sscanf("%u")-style parse of a guest-written value, strictly: decimal digits only, at most
 * `max` (32 bits by default). Null for anything else.
 */
export function parseU32(value: string | null, max = 0xffffffff): number | null {
  if (value === null) return null;
  const s = value.trim();
  if (!/^[0-9]{1,10}$/.test(s)) return null;
  const n = Number(s);
  return n <= max ? n : null;
}

/**
 * Runs `body` in a transaction, retrying on EAGAIN as xend's xstransact and Linux's
 * xenbus_transaction_end callers do. A throw from `body` aborts the transaction.
 */
export function inTransaction<T>(xs: XenstoreHandle, body: (tx: number) => T, what = 'xenstore transaction', maxTries = 100): T {
  for (let attempt = 1; attempt <= maxTries; attempt++) {
    const tx = xs.transactionStart();
    let result: T;
    try {
      result = body(tx);
    } catch (e) {
      try {
        xs.transactionEnd(tx, false);
      } catch {
        // The abort's own failure adds nothing to the error being reported.
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
  throw new Error(`${what}: xenstore transaction kept conflicting (${maxTries} attempts)`);
}

export function exists(xs: XenstoreHandle, path: string, tx = 0): boolean {
  return readOptional(xs, path, tx) !== null;
}

/** An unsigned decimal read strictly, untrimmed: whitespace makes a frontend's value invalid. */
export function parseUnsigned(s: string | null, max = 0xffffffff): number | null {
  return s !== null && s.trim() !== s ? null : parseU32(s, max);
}

/** xenbus_read_unsigned(): the value, or `def` when missing or unparsable. */
export function readUnsigned(xs: XenstoreHandle, path: string, def: number): number {
  return parseUnsigned(readOptional(xs, path)) ?? def;
}
