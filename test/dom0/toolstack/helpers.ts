// In-process toolstack for tests: real domains on worker threads, real xenstored/xenconsoled,
// real backends; a ConsoleDriver on a domain's console.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import pino from 'pino';
import { createToolstack } from '../../../src/dom0/toolstack/index.js';
import type { Toolstack } from '../../../src/dom0/toolstack/types.js';
import { ConsoleDriver } from '../../hypervisor/console-driver.js';

export const IMAGES = new URL('../../../images/', import.meta.url).pathname;

export async function testToolstack(): Promise<{ ts: Toolstack & { net: import('../../../src/devices/net/index.js').HostNetwork }; stateDir: string; logFile: string }> {
  const stateDir = mkdtempSync(join(tmpdir(), 'tsxen-ts-'));
  const logFile = join(stateDir, 'xend.log');
  const logger = pino({ level: 'debug' }, pino.destination({ dest: logFile, sync: true }));
  const ts = await createToolstack({ stateDir, logger });
  return { ts, stateDir, logFile };
}

export function driveConsole(ts: Toolstack, domid: number): ConsoleDriver {
  const out = new PassThrough();
  const con = ts.console(domid);
  con.attach(out, { replay: 'buffer' });
  const input = { write: (s: string) => con.write(s) };
  const exited = ts.waitGone(domid).then((e) => ({ reason: String(e.reason), detail: e.detail }));
  return new ConsoleDriver({ console: out, input, exited });
}
