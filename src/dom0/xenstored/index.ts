// xenstored for tsxen: the daemon, its transports and the in-process dom0 client.
export { Xenstored, type RingBinding, type XenstoredOptions } from './xenstored.js';
export { XsHandle, type WatchCallback } from './client.js';
export { RingConnection, XENSTORE_SERVER_FEATURES, type RingNotify } from './ring.js';
export { XenstoredSocketServer, defaultSocketPath } from './socket.js';
export { DEFAULT_QUOTAS, type XsQuotas } from './quota.js';
export { parsePerm, permToString, XS_PERM_NONE, XS_PERM_READ, XS_PERM_WRITE, type XsPerm } from './perms.js';
export { silentLogger, type ServiceLogger } from '../../devices/logger.js';
export * from './wire.js';
