// The console side of `xm console` and `xm create -c` (xenconsole, tools/console/client/main.c
// in Xen 4.4, which xm exec'd). On a terminal: raw mode, Ctrl-] detaches and the domain keeps
// running. Without a terminal (CI): stdin feeds the guest console, its output goes to stdout,
// and xm exits once the domain is gone, with a status saying how it ended:
//   0  the guest powered off
//   1  it ended any other way (crash, destroy, reboot, ...); the reason and the domain's last
//      hypervisor-console lines (its earlyprintk=xen output, Xen's crash report) go to stderr
//   2  --timeout ran out; xm destroyed the domain

import type { Socket } from 'node:net';

import type { DomainEnd } from '../../dom0/toolstack/types.js';
import { XendConnection, type ConsoleStream } from '../../dom0/xend/client.js';
import type { StatePaths } from '../../dom0/xend/paths.js';

/** Ctrl-]: xenconsole's escape character. */
const ESCAPE = 0x1d;
export const EXIT_POWEROFF = 0;
export const EXIT_OTHER_END = 1;
export const EXIT_TIMEOUT = 2;
/** Output still in flight when the domain is reported gone gets this long to arrive. */
const FINAL_OUTPUT_GRACE_MS = 3000;

export interface ConsoleTarget {
  readonly domid: number;
  readonly name: string;
}

export interface ConsoleOptions {
  readonly paths: StatePaths;
  /** Seconds before xm destroys the domain and exits EXIT_TIMEOUT; none when undefined. */
  readonly timeoutSec?: number;
  readonly stdin?: NodeJS.ReadStream;
  readonly stdout?: NodeJS.WriteStream;
  readonly stderr?: NodeJS.WriteStream;
}

function describe(end: DomainEnd): string {
  const how: Record<string, string> = {
    crash: 'crashed',
    destroyed: 'was destroyed',
    reboot: 'rebooted',
    poweroff: 'powered off',
    suspend: 'suspended',
    watchdog: 'was stopped by its watchdog',
    soft_reset: 'did a soft reset',
  };
  return `Domain ${end.name} (id=${end.domid}) ${how[end.reason] ?? `ended (${end.reason})`}${end.detail ? `: ${end.detail}` : ''}`;
}

async function destroy(paths: StatePaths, domid: number): Promise<void> {
  const c = await XendConnection.connect(paths.socket);
  try {
    await c.request('destroy', { dom: String(domid) });
  } finally {
    c.close();
  }
}

/** Run an attached console until detach, the domain's end, or the timeout; the exit status. */
export async function runConsole(stream: ConsoleStream<unknown>, target: ConsoleTarget, opts: ConsoleOptions): Promise<number> {
  const stdin = opts.stdin ?? process.stdin;
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const sock: Socket = stream.socket;
  const tty = stdin.isTTY === true;

  // A second connection learns how the domain ended; the console stream carries only bytes.
  const waiter = await XendConnection.connect(opts.paths.socket);
  const gone = waiter.request('wait', { domid: target.domid });
  // Settled either way here; the outcome is read below.
  gone.catch(() => {});

  let outputClosed = false;
  let onOutputClosed: () => void = () => {};
  const outputDone = new Promise<void>((r) => (onOutputClosed = r));
  if (stream.head.length > 0) stdout.write(stream.head);
  sock.on('data', (b: Buffer) => stdout.write(b));
  sock.on('error', () => {});
  sock.on('close', () => {
    outputClosed = true;
    onOutputClosed();
  });

  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((r) => (finish = r));

  const onInput = (b: Buffer): void => {
    if (tty) {
      const esc = b.indexOf(ESCAPE);
      if (esc >= 0) {
        if (esc > 0) sock.write(b.subarray(0, esc));
        finish(0);
        return;
      }
    }
    if (!sock.destroyed) sock.write(b);
  };
  if (tty) stdin.setRawMode(true);
  stdin.on('data', onInput);
  // At end of input the console stays open: the guest may still be working on it.
  stdin.on('error', () => {});

  let timer: NodeJS.Timeout | undefined;
  if (opts.timeoutSec !== undefined) {
    timer = setTimeout(() => {
      stderr.write(
        `Error: domain ${target.name} (id=${target.domid}) still running after --timeout ${opts.timeoutSec} s; destroying it\n`,
      );
      destroy(opts.paths, target.domid).then(
        () => finish(EXIT_TIMEOUT),
        (e: unknown) => {
          stderr.write(`Error: destroying domain ${target.name} failed: ${(e as Error).message}\n`);
          finish(EXIT_TIMEOUT);
        },
      );
    }, opts.timeoutSec * 1000);
  }

  gone.then(
    async (end) => {
      // The console stream ends when the domain does; its last bytes may still be on the way.
      if (!outputClosed) await Promise.race([outputDone, new Promise((r) => setTimeout(r, FINAL_OUTPUT_GRACE_MS))]);
      if (end.reason === 'poweroff') finish(EXIT_POWEROFF);
      else {
        if (tty) stdout.write('\r\n');
        stderr.write(`${describe(end)}\n`);
        // A domain that died before its console was up said why only to the hypervisor.
        if (end.log !== undefined && end.log.length > 0) {
          stderr.write(`Its last lines on the hypervisor console (all in \`xm dmesg\`):\n${end.log.join('\n')}\n`);
        }
        finish(EXIT_OTHER_END);
      }
    },
    (e: unknown) => {
      stderr.write(`Error: lost track of domain ${target.name} (id=${target.domid}): ${(e as Error).message}\n`);
      finish(EXIT_OTHER_END);
    },
  );

  const code = await finished;
  if (timer) clearTimeout(timer);
  stdin.off('data', onInput);
  if (tty) stdin.setRawMode(false);
  stdin.pause();
  sock.destroy();
  waiter.close();
  return code;
}
