// The daemon logs through whatever the host injects (pino later); by default it is silent.
// Methods take a plain message string so pino's LogFn fits without an adapter.

export interface XsLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

const noop = (): void => {};

export const silentLogger: XsLogger = { debug: noop, info: noop, warn: noop, error: noop };
