// How dom0's daemons and backends log (xenstored, xenconsoled, blkback, netback, bridges): a
// plain message at one of four levels, so the host's pino logger fits as it is. Silent by
// default (tests, benches).

export interface ServiceLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

const noop = (): void => {};

export const silentLogger: ServiceLogger = { debug: noop, info: noop, warn: noop, error: noop };
