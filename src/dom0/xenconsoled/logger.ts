// The daemon logs through whatever the host injects (pino later); by default it is silent.
// Same shape as xenstored's logger, so one pino child serves both.

export interface ConsoleLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

const noop = (): void => {};

export const silentLogger: ConsoleLogger = { debug: noop, info: noop, warn: noop, error: noop };
