// What the block backend needs of xenstore and of a logger. src/devices sits below src/dom0, so
// instead of importing xenstored's XsHandle this states the calls used; an XsHandle from
// Xenstored.openHandle() (the privileged dom0 client) satisfies it as it is.

export interface XenstoreHandle {
  readString(path: string, tx?: number): string;
  write(path: string, value: string, tx?: number): void;
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

/** Same shape as xenstored's XsLogger, so the host's logger (pino) fits without an adapter. */
export interface BlkLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

const noop = (): void => {};
export const silentBlkLogger: BlkLogger = { debug: noop, info: noop, warn: noop, error: noop };

/** The xs_wire error name carried by a failed xenstore call (XsError.errno), if any. */
export function xsErrno(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'errno' in e) {
    const v = (e as { errno: unknown }).errno;
    if (typeof v === 'string') return v;
  }
  return undefined;
}

/** Reads a node, or null if it does not exist (other failures throw). */
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
 * Runs `body` in a transaction, retrying on EAGAIN as xend's xstransact and Linux's
 * xenbus_transaction_end callers do. A throw from `body` aborts the transaction.
 */
export function inTransaction<T>(xs: XenstoreHandle, body: (tx: number) => T, maxTries = 100): T {
  for (let attempt = 1; ; attempt++) {
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
      if (xsErrno(e) !== 'EAGAIN' || attempt >= maxTries) throw e;
    }
  }
}

/** sscanf("%u")-style parse of a xenstore value, strictly: decimal digits only, fits in u32. */
export function parseU32(value: string | null): number | null {
  if (value === null) return null;
  const s = value.trim();
  if (!/^[0-9]{1,10}$/.test(s)) return null;
  const n = Number(s);
  return n <= 0xffffffff ? n : null;
}
