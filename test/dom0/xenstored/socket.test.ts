// The Unix socket against Debian's xenstore-utils (libxenstore 4.17). The daemon lives in
// this process, so the tools must be spawned asynchronously.

import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { defaultSocketPath, encodeMessage, joinStrings, MessageReader, splitStrings, Xenstored, XsType, type XsHandle } from '../../../src/dom0/xenstored/index.js';

const TOOLS = ['xenstore-read', 'xenstore-write', 'xenstore-ls', 'xenstore-rm', 'xenstore-list', 'xenstore-chmod', 'xenstore-exists', 'xenstore-watch'];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let dir: string;
let sock: string;
let d: Xenstored;
let h: XsHandle;

function run(tool: string, args: string[], env: Record<string, string> = { XENSTORED_PATH: sock }): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(tool, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, timeout: 10_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(new Error(`${tool} ${args.join(' ')}: ${err.message}`));
        return;
      }
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

/** Polls until `cond` holds; fails with `what` after five seconds. */
async function waitFor(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  const missing = TOOLS.filter((t) => !(process.env.PATH ?? '').split(':').some((p) => fs.existsSync(path.join(p, t))));
  if (missing.length) throw new Error(`xenstore-utils missing (apt-get install xenstore-utils): ${missing.join(', ')}`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xsd-'));
  sock = defaultSocketPath(dir);
  d = new Xenstored();
  await d.listen(sock);
  h = d.openHandle();
});

afterAll(async () => {
  await d?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('xenstored socket with xenstore-utils', () => {
  it('listens at STATE_DIR/xenstored/socket, owner-only', () => {
    expect(sock).toBe(path.join(dir, 'xenstored', 'socket'));
    const st = fs.statSync(sock);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
  });

  it('write, read, exists, list, ls, rm', async () => {
    expect(await run('xenstore-write', ['/local/domain/0/name', 'Domain-0', '/vm/one', 'first', '/vm/two', 'second'])).toMatchObject({ code: 0 });
    expect(h.readString('/vm/two')).toBe('second');
    expect(await run('xenstore-read', ['/local/domain/0/name'])).toEqual({ code: 0, stdout: 'Domain-0\n', stderr: '' });
    // Relative paths are dom0's.
    expect((await run('xenstore-read', ['name'])).stdout).toBe('Domain-0\n');
    expect((await run('xenstore-exists', ['/vm/one'])).code).toBe(0);
    expect((await run('xenstore-exists', ['/vm/nope'])).code).toBe(1);
    expect((await run('xenstore-list', ['/vm'])).stdout).toBe('one\ntwo\n');
    const ls = await run('xenstore-ls', ['/vm']);
    expect(ls.stdout).toBe('one = "first"\ntwo = "second"\n');
    const all = await run('xenstore-ls', ['/']);
    expect(all.stdout).toContain('tool = ""\n xenstored = ""\nlocal = ""\n domain = ""\n  0 = ""\n   name = "Domain-0"\n');
    expect(await run('xenstore-rm', ['/vm/one'])).toMatchObject({ code: 0 });
    expect(h.exists('/vm/one')).toBe(false);
    const gone = await run('xenstore-read', ['/vm/one']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("couldn't read path /vm/one");
  });

  it('chmod sets permissions that ls -p and dom0 see', async () => {
    h.write('/perm/node', 'v');
    expect((await run('xenstore-chmod', ['/perm/node', 'n1', 'r2', 'b3'])).code).toBe(0);
    expect(h.getPerms('/perm/node')).toEqual(['n1', 'r2', 'b3']);
    const ls = await run('xenstore-ls', ['-p', '/perm']);
    expect(ls.stdout).toMatch(/^node = "v" [ .]*\(n1,r2,b3\)\n$/);
    // Recursive chmod reaches the children.
    h.write('/perm/tree/a/b', 'x');
    expect((await run('xenstore-chmod', ['-r', '/perm/tree', 'n4'])).code).toBe(0);
    expect(h.getPerms('/perm/tree/a/b')).toEqual(['n4']);
  });

  it('lists a directory too big for one reply (libxenstore falls back to DIRECTORY_PART)', async () => {
    const names: string[] = [];
    for (let i = 0; i < 300; i++) names.push(`a-rather-long-child-name-number-${i}`);
    for (const n of names) h.mkdir(`/wide/${n}`);
    const r = await run('xenstore-list', ['/wide']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(names.map((n) => `${n}\n`).join(''));
  });

  it('is found through XENSTORED_RUNDIR as well', async () => {
    h.write('/rundir', 'found');
    const r = await run('xenstore-read', ['/rundir'], { XENSTORED_RUNDIR: path.dirname(sock) });
    expect(r).toEqual({ code: 0, stdout: 'found\n', stderr: '' });
  });

  it('xenstore-watch sees the initial event and later changes', async () => {
    const child = spawn('xenstore-watch', ['-n', '3', '/watched'], { env: { PATH: process.env.PATH ?? '', XENSTORED_PATH: sock } });
    let out = '';
    const lines: string[] = [];
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const parts = out.split('\n');
      out = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        // The initial event means the watch is in place: now make changes.
        if (lines.length === 1) {
          h.write('/elsewhere', 'no');
          h.write('/watched/a', '1');
          h.write('/watched/b/c', '2');
        }
      }
    });
    const code = await exited;
    clearTimeout(timer);
    expect(code).toBe(0);
    expect(lines).toEqual(['/watched', '/watched/a', '/watched/b/c']);
    // The tool's connection and its watch are gone with it.
    await waitFor(() => d.domainUsage(0)!.watches === 0, "the tool's watch to go with its connection");
  });

  it('speaks the wire to a raw client: replies by req_id, ENOSYS, and drops oversized input', async () => {
    const c = net.connect(sock);
    await new Promise<void>((resolve) => c.once('connect', () => resolve()));
    const reader = new MessageReader();
    const replies: Array<{ type: number; reqId: number; strings: string[] }> = [];
    c.on('data', (chunk: Buffer) => {
      let off = 0;
      while (off < chunk.length) {
        const r = reader.feed(chunk.subarray(off));
        off += r.used;
        if (r.message) replies.push({ type: r.message.type, reqId: r.message.reqId, strings: splitStrings(r.message.payload) });
      }
    });
    c.write(encodeMessage(XsType.GET_DOMAIN_PATH, 41, 0, joinStrings(['9'])));
    c.write(encodeMessage(1234, 42, 0, joinStrings(['x'])));
    await waitFor(() => replies.length >= 2, 'two replies');
    expect(replies).toEqual([
      { type: XsType.GET_DOMAIN_PATH, reqId: 41, strings: ['/local/domain/9'] },
      { type: XsType.ERROR, reqId: 42, strings: ['ENOSYS'] },
    ]);
    const hdr = encodeMessage(XsType.READ, 43, 0, new Uint8Array(0));
    new DataView(hdr.buffer).setUint32(12, 5000, true);
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    c.write(hdr);
    await closed;
    // The daemon carries on.
    expect((await run('xenstore-read', ['/rundir'])).stdout).toBe('found\n');
  });

  it('refuses a socket path held by a live daemon and replaces a stale one', async () => {
    const other = new Xenstored();
    await expect(other.listen(sock)).rejects.toThrow(/another daemon/);
    const stalePath = path.join(dir, 'stale', 'socket');
    fs.mkdirSync(path.dirname(stalePath));
    // A daemon killed while listening leaves its socket file behind.
    await new Promise<void>((resolve) => {
      const child = spawn(process.execPath, ['-e',
        `require('net').createServer().listen(${JSON.stringify(stalePath)}, () => process.kill(process.pid, 'SIGKILL'))`]);
      child.on('exit', () => resolve());
    });
    expect(fs.existsSync(stalePath)).toBe(true);
    await other.listen(stalePath);
    const r = await run('xenstore-read', ['/local/domain'], { XENSTORED_PATH: stalePath });
    expect(r.code).toBe(0);
    await other.close();
    expect(fs.existsSync(stalePath)).toBe(false);
    fs.writeFileSync(path.join(dir, 'notasocket'), 'x');
    await expect(other.listen(path.join(dir, 'notasocket'))).rejects.toThrow(/not a socket/);
  });
});
