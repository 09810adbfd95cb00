// What the block backend needs of xenstore and of a logger. src/devices sits below src/dom0, so
// instead of importing xenstored's XsHandle this states the calls used; an XsHandle from
// Xenstored.openHandle() (the privileged dom0 client) satisfies it as it is.

export type { XenstoreHandle } from '../xenbus.js';
export { xsErrno, readOptional, rmQuiet, inTransaction, parseU32 } from '../xenbus.js';

/** Same shape as xenstored's XsLogger, so the host's logger (pino) fits without an adapter. */
export interface BlkLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

const noop = (): void => {};
export const silentBlkLogger: BlkLogger = { debug: noop, info: noop, warn: noop, error: noop };
