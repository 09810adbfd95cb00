// The network backends log through whatever the host injects (pino in xend); the shape is
// xenstored's logger's, so one adapter serves both. Silent by default.

export interface NetLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

const noop = (): void => {};

export const silentNetLogger: NetLogger = { debug: noop, info: noop, warn: noop, error: noop };
