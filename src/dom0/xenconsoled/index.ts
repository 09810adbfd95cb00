// xenconsoled for tsxen: domU consoles and the hypervisor's console ring.
export { Xenconsoled, consolePage, type IntroduceOptions, type XenconsoledOptions } from './xenconsoled.js';
export {
  Attachment, Console, INPUT_HIGH_WATER, INPUT_MAX, SCREEN_BACKLOG_MAX, type AttachOptions, type ConsoleOptions,
  type ConsoleState, type Replay,
} from './console.js';
export { ConsoleRing, RingError, XENCONS_IN_SIZE, XENCONS_OUT_SIZE } from './ring.js';
export { BoundedBuffer, DEFAULT_CONSOLE_LIMIT } from './buffer.js';
export { ConsoleLogFile, guestLogPath, logTimestamp } from './logfile.js';
export { Screen, newTerminal, sgrOf, DEFAULT_COLS, DEFAULT_ROWS, DEFAULT_SCROLLBACK, type CursorPosition, type ScreenOptions } from './screen.js';
export { Conring, CONRING_SIZE } from './conring.js';
export { silentLogger, type ServiceLogger } from '../../devices/logger.js';
