// The built xend binary as an init script drives it: start, status (0 running, 3 not),
// stop, restart; owner-only state; one daemon per state directory even when several starts
// race; two state directories (two users) do not collide.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ensureBuilt, XmEnv } from '../../xm/cli/harness.js';

let a: XmEnv;
let b: XmEnv;

beforeAll(() => {
  ensureBuilt();
  a = new XmEnv();
  b = new XmEnv();
});

afterAll(async () => {
  await a?.cleanup();
  await b?.cleanup();
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('xend start/status/stop', () => {
  it('status is 3 before start', async () => {
    const r = await a.xend(['status']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('xend is not running\n');
  });

  it('start brings up one daemon with owner-only state, even when started three times at once', async () => {
    const rs = await Promise.all([a.xend(['start']), a.xend(['start']), a.xend(['start'])]);
    for (const r of rs) {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    const st = await a.xend(['status']);
    expect(st.code).toBe(0);
    const pid = Number(readFileSync(join(a.stateDir, 'xend.pid'), 'utf8'));
    expect(st.stdout).toBe(`xend is running (pid ${pid}, ${join(a.stateDir, 'xend.sock')})\n`);
    expect(alive(pid)).toBe(true);
    expect(statSync(a.stateDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(a.stateDir, 'xend.sock')).mode & 0o777).toBe(0o600);
    expect(statSync(join(a.stateDir, 'xend.log')).mode & 0o777).toBe(0o600);
    // The losers of the race logged nothing as a running xend: one "Xend started" only.
    const started = readFileSync(join(a.stateDir, 'xend.log'), 'utf8').split('\n').filter((l) => l.includes('Xend listening'));
    expect(started).toHaveLength(1);
  });

  it('a second state directory gets its own xend', async () => {
    expect((await b.xend(['start'])).code).toBe(0);
    const pa = Number(readFileSync(join(a.stateDir, 'xend.pid'), 'utf8'));
    const pb = Number(readFileSync(join(b.stateDir, 'xend.pid'), 'utf8'));
    expect(pb).not.toBe(pa);
    expect((await b.xm(['list'])).code).toBe(0);
    expect((await b.xend(['stop'])).code).toBe(0);
    expect(alive(pb)).toBe(false);
    // a's xend did not notice.
    expect((await a.xend(['status'])).code).toBe(0);
  });

  it('restart replaces the daemon; stop removes socket and pid file', async () => {
    const before = Number(readFileSync(join(a.stateDir, 'xend.pid'), 'utf8'));
    expect((await a.xend(['restart'])).code).toBe(0);
    const after = Number(readFileSync(join(a.stateDir, 'xend.pid'), 'utf8'));
    expect(after).not.toBe(before);
    expect(alive(before)).toBe(false);
    expect((await a.xend(['stop'])).code).toBe(0);
    expect(alive(after)).toBe(false);
    expect(existsSync(join(a.stateDir, 'xend.sock'))).toBe(false);
    expect(existsSync(join(a.stateDir, 'xend.pid'))).toBe(false);
    expect((await a.xend(['status'])).code).toBe(3);
    // Stopping a stopped xend is not an error (LSB).
    expect((await a.xend(['stop'])).code).toBe(0);
  });

  it('a killed xend leaves a stale pid file and socket that the next start replaces', async () => {
    expect((await a.xend(['start'])).code).toBe(0);
    const pid = Number(readFileSync(join(a.stateDir, 'xend.pid'), 'utf8'));
    process.kill(pid, 'SIGKILL');
    while (alive(pid)) await new Promise((r) => setTimeout(r, 50));
    expect((await a.xend(['status'])).code).toBe(3);
    const r = await a.xm(['list']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(Number(readFileSync(join(a.stateDir, 'xend.pid'), 'utf8'))).not.toBe(pid);
  });

  it('bad usage', async () => {
    const r = await a.xend(['frob']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("xend: unknown command 'frob'\nUsage: xend {start|stop|status|restart|foreground}\n");
  });
});
