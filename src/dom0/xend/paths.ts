// Where one user's xend keeps its state: the control socket, the pid file, xend.log and the
// managed domains. Each user gets their own directory so two users' xends never meet:
// /var/run/tsxen as root (xend's /var/run/xend), else $XDG_RUNTIME_DIR/tsxen, else
// /tmp/tsxen-$UID. TSXEN_STATE_DIR overrides all of them (tests, several xends at once).

import { join } from 'node:path';

export interface StatePaths {
  readonly dir: string;
  /** The control socket xm talks to. */
  readonly socket: string;
  readonly pidFile: string;
  /** pino's JSON lines (`xm log` prints them in xend.log's old form). */
  readonly log: string;
  /** stdout/stderr of the daemon process: what escapes the logger (xend-debug.log in Xen). */
  readonly debugLog: string;
  /** Managed domains (`xm new`): one config file each. */
  readonly domains: string;
}

function uid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : 0;
}

export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const override = env.TSXEN_STATE_DIR;
  if (override !== undefined && override !== '') return override;
  if (uid() === 0) return '/var/run/tsxen';
  const xdg = env.XDG_RUNTIME_DIR;
  if (xdg !== undefined && xdg !== '') return join(xdg, 'tsxen');
  return `/tmp/tsxen-${uid()}`;
}

export function statePaths(dir: string = defaultStateDir()): StatePaths {
  return {
    dir,
    socket: join(dir, 'xend.sock'),
    pidFile: join(dir, 'xend.pid'),
    log: join(dir, 'xend.log'),
    debugLog: join(dir, 'xend-debug.log'),
    domains: join(dir, 'domains'),
  };
}
