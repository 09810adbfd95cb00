// In-process toolstack for tests: real domains on worker threads, real xenstored/xenconsoled,
// real backends; a ConsoleDriver on a domain's console.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import pino from 'pino';
import { createToolstack } from '../../../src/dom0/toolstack/index.js';
import type { Toolstack } from '../../../src/dom0/toolstack/types.js';
import type { DomainConfig } from '../../../src/dom0/model/index.js';
import { parseDomainConfig } from '../../../src/xm/config/index.js';
import { ConsoleDriver } from './console-driver.js';

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

/**
 * The tiny kernel with the busybox initramfs, console on hvc0, written to DIR/NAME.cfg: a
 * domain that ends for good when it powers off or crashes (no restart), plus `lines`.
 */
export function tinyConfig(dir: string, name: string, lines: string[] = []): DomainConfig {
  const file = join(dir, `${name}.cfg`);
  const text = [
    `name = "${name}"`,
    `kernel = "${IMAGES}vmlinuz-tiny"`,
    `ramdisk = "${IMAGES}initramfs-busybox.cpio.gz"`,
    'extra = "console=hvc0"',
    'memory = 64',
    'on_poweroff = "destroy"',
    'on_crash = "destroy"',
    ...lines,
    '',
  ].join('\n');
  writeFileSync(file, text);
  return parseDomainConfig(text, file);
}
