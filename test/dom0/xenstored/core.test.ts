import { describe, expect, it } from 'vitest';

import { Xenstored, XsError, XsType, type XsHandle } from '../../../src/dom0/xenstored/index.js';
import { GuestRing, settle } from './guest.js';

function errnoOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof XsError) return e.errno;
    throw e;
  }
  throw new Error('expected an XsError');
}

/** dom0 sets up /local/domain/<domid> owned by the guest, as a toolstack does before INTRODUCE. */
function makeGuest(d: Xenstored, h: XsHandle, domid: number): GuestRing {
  h.mkdir(`/local/domain/${domid}`);
  h.setPerms(`/local/domain/${domid}`, [`n${domid}`]);
  return new GuestRing(d, domid).introduce();
}

describe('xenstored tree', () => {
  it('starts with the structure xenstored sets up', () => {
    const d = new Xenstored();
    const h = d.openHandle();
    expect(h.directory('/')).toEqual(['tool', 'local']);
    expect(h.directory('/tool')).toEqual(['xenstored']);
    expect(h.directory('/local')).toEqual(['domain']);
    expect(h.directory('/local/domain')).toEqual([]);
    expect(h.getPerms('/')).toEqual(['n0']);
    expect(h.getPerms('@releaseDomain')).toEqual(['n0']);
    expect(h.getPerms('@introduceDomain')).toEqual(['n0']);
    expect(d.checkStore()).toEqual([]);
  });

  it('writes create missing parents with empty values; mkdir keeps values', () => {
    const d = new Xenstored();
    const h = d.openHandle();
    h.write('/a/b/c', 'value');
    expect(h.readString('/a/b/c')).toBe('value');
    expect(h.read('/a/b')).toEqual(new Uint8Array(0));
    expect(h.directory('/a')).toEqual(['b']);
    expect(h.directory('/')).toEqual(['tool', 'local', 'a']);
    h.mkdir('/a/b/c');
    expect(h.readString('/a/b/c')).toBe('value');
    h.mkdir('/a/x/y');
    expect(h.directory('/a')).toEqual(['b', 'x']);
    // Values are bytes: nuls and non-text survive.
    h.write('/bin', new Uint8Array([0, 1, 255, 0]));
    expect(h.read('/bin')).toEqual(new Uint8Array([0, 1, 255, 0]));
    expect(d.checkStore()).toEqual([]);
  });

  it('removes subtrees and follows xenstored rules for missing nodes', () => {
    const d = new Xenstored();
    const h = d.openHandle();
    h.write('/a/b/c', '1');
    h.write('/a/d', '2');
    h.rm('/a/b');
    expect(h.directory('/a')).toEqual(['d']);
    expect(errnoOf(() => h.read('/a/b/c'))).toBe('ENOENT');
    h.rm('/a/b'); // gone already, parent exists: fine
    expect(errnoOf(() => h.rm('/nope/deeper'))).toBe('ENOENT');
    expect(errnoOf(() => h.rm('/'))).toBe('EINVAL');
    expect(d.checkStore()).toEqual([]);
  });

  it('rejects malformed paths with EINVAL', () => {
    const d = new Xenstored();
    const h = d.openHandle();
    for (const p of ['/a//b', '/a/', '/a b', '', '/a\u00e9', '@foo']) {
      expect(errnoOf(() => h.write(p, 'x')), p).toBe('EINVAL');
    }
    // Relative paths are under the caller's domain path.
    h.write('name', 'Domain-0');
    expect(h.readString('/local/domain/0/name')).toBe('Domain-0');
    expect(h.getDomainPath(7)).toBe('/local/domain/7');
  });

  it('DIRECTORY_PART returns the generation and the whole list across chunks', () => {
    const d = new Xenstored();
    const h = d.openHandle();
    const names: string[] = [];
    for (let i = 0; i < 400; i++) names.push(`child-with-a-long-name-${i}`);
    for (const n of names) h.mkdir(`/big/${n}`);
    // The full list no longer fits a reply.
    expect(errnoOf(() => h.directory('/big'))).toBe('E2BIG');
    const got: string[] = [];
    let off = 0;
    let gen: string | null = null;
    for (;;) {
      const raw = h.request(XsType.DIRECTORY_PART, new TextEncoder().encode(`/big\0${off}\0`));
      const parts = new TextDecoder().decode(raw).split('\0');
      const g = parts.shift()!;
      gen ??= g;
      expect(g).toBe(gen);
      // A trailing empty string marks the end of the list.
      const done = parts.length >= 2 && parts[parts.length - 1] === '' && parts[parts.length - 2] === '';
      const chunk = parts.filter((p) => p !== '');
      got.push(...chunk);
      off += chunk.reduce((n, c) => n + c.length + 1, 0);
      if (done || chunk.length === 0) break;
    }
    expect(got).toEqual(names);
    h.mkdir('/big/one-more');
    const raw = h.request(XsType.DIRECTORY_PART, new TextEncoder().encode('/big\x000\0'));
    expect(new TextDecoder().decode(raw).split('\0')[0]).not.toBe(gen);
  });
});

describe('xenstored permissions', () => {
  it('lets a guest use its own subtree and denies it the rest', () => {
    const d = new Xenstored();
    const h = d.openHandle();
    h.write('/local/domain/0/secret', 's3cret');
    const g = makeGuest(d, h, 5);
    g.write('data/x', 'hello'); // relative to /local/domain/5
    expect(h.readString('/local/domain/5/data/x')).toBe('hello');
    expect(g.read('data/x')).toBe('hello');
    // Created nodes inherit the parent's perms with the creator as owner.
    expect(h.getPerms('/local/domain/5/data/x')).toEqual(['n5']);
    expect(g.err(XsType.READ, ['/local/domain/0/secret'])).toBe('EACCES');
    // Nonexistent nodes under unreadable parents must not leak existence: EACCES, not ENOENT.
    expect(g.err(XsType.READ, ['/local/domain/0/nothing'])).toBe('EACCES');
    expect(g.err(XsType.READ, ['/local/domain/5/nothing'])).toBe('ENOENT');
    expect(g.err(XsType.WRITE, ['/tool/evil', 'x'])).toBe('EACCES');
    expect(g.err(XsType.MKDIR, ['/local/domain/6'])).toBe('EACCES');
    expect(g.err(XsType.RM, ['/local/domain/0'])).toBe('EACCES');
    expect(g.err(XsType.DIRECTORY, ['/'])).toBe('EACCES');
    // Privileged operations are dom0's.
    expect(g.err(XsType.INTRODUCE, ['9', '1', '1'])).toBe('EACCES');
    expect(g.err(XsType.RELEASE, ['5'])).toBe('EACCES');
    expect(g.err(XsType.IS_DOMAIN_INTRODUCED, ['5'])).toBe('EACCES');
    expect(g.err(XsType.CONTROL, ['check'])).toBe('EACCES');
    expect(g.ok(XsType.GET_DOMAIN_PATH, ['5'])).toEqual(['/local/domain/5']);
  });

  it('honours per-domain entries, owner rules and the "n0 r1" string form', () => {
    const d = new Xenstored();
    const h = d.openHandle();
    const g5 = makeGuest(d, h, 5);
    const g7 = makeGuest(d, h, 7);
    g5.write('shared', 'from5');
    expect(g7.err(XsType.READ, ['/local/domain/5/shared'])).toBe('EACCES');
    // The owner may grant access without changing the owner.
    g5.ok(XsType.SET_PERMS, ['/local/domain/5/shared', 'n5', 'r7']);
    expect(h.getPerms('/local/domain/5/shared')).toEqual(['n5', 'r7']);
    expect(g7.read('/local/domain/5/shared')).toBe('from5');
    expect(g7.err(XsType.WRITE, ['/local/domain/5/shared', 'x'])).toBe('EACCES');
    expect(g7.err(XsType.SET_PERMS, ['/local/domain/5/shared', 'b7'])).toBe('EACCES');
    // Only dom0 changes owners.
    expect(g5.err(XsType.SET_PERMS, ['/local/domain/5/shared', 'n7'])).toBe('EPERM');
    h.setPerms('/local/domain/5/shared', ['n7', 'b5']);
    expect(g7.read('/local/domain/5/shared')).toBe('from5');
    g7.write('/local/domain/5/shared', 'now7');
    // The first entry's letter is everyone else's access.
    h.setPerms('/local/domain/5/shared', ['r0']);
    expect(g7.read('/local/domain/5/shared')).toBe('now7');
    // Malformed permission strings.
    expect(errnoOf(() => h.setPerms('/local/domain/5/shared', ['x1']))).toBe('EINVAL');
    expect(errnoOf(() => h.setPerms('/local/domain/5/shared', ['r']))).toBe('EINVAL');
    expect(errnoOf(() => h.setPerms('/local/domain/5/shared', ['r70000']))).toBe('EINVAL');
    expect(errnoOf(() => h.setPerms('/local/domain/5/nope', ['r0']))).toBe('ENOENT');
    h.setPerms('/local/domain/5/shared', ['b0x10']);
    expect(h.getPerms('/local/domain/5/shared')).toEqual(['b16']);
  });

  it('drops a released domain\'s nodes and permission entries', async () => {
    const d = new Xenstored();
    const h = d.openHandle();
    const g5 = makeGuest(d, h, 5);
    g5.write('mine/a', '1');
    h.write('/vm/shared', 'x');
    h.setPerms('/vm/shared', ['n0', 'r5', 'b6']);
    const events: string[] = [];
    h.watch('@releaseDomain', 'rel', (p) => events.push(p));
    h.watch('/local/domain/5', 'dom5', (p) => events.push(p));
    await settle();
    events.length = 0;
    expect(d.isDomainIntroduced(5)).toBe(true);
    d.releaseDomain(5);
    expect(d.isDomainIntroduced(5)).toBe(false);
    expect(h.exists('/local/domain/5')).toBe(false);
    expect(h.getPerms('/vm/shared')).toEqual(['n0', 'b6']);
    expect(d.domainUsage(5)).toBeUndefined();
    await settle();
    expect(events).toContain('@releaseDomain');
    expect(events).toContain('/local/domain/5');
    expect(errnoOf(() => d.releaseDomain(5))).toBe('ENOENT');
    expect(d.checkStore()).toEqual([]);
  });
});

describe('xenstored transactions', () => {
  it('commits atomically and reads its own writes', () => {
    const d = new Xenstored();
    const h = d.openHandle();
    h.write('/t/a', 'old');
    const tx = h.transactionStart();
    h.write('/t/a', 'new', tx);
    h.write('/t/b/c', 'created', tx);
    expect(h.readString('/t/a', tx)).toBe('new');
    expect(h.readString('/t/a')).toBe('old');
    expect(h.exists('/t/b')).toBe(false);
    h.transactionEnd(tx, true);
    expect(h.readString('/t/a')).toBe('new');
    expect(h.readString('/t/b/c')).toBe('created');
    expect(d.checkStore()).toEqual([]);
  });

  it('fails with EAGAIN when something it read changed, and applies nothing', () => {
    const d = new Xenstored();
    const h = d.openHandle();
    const other = d.openHandle();
    h.write('/t/a', '1');
    const tx = h.transactionStart();
    expect(h.readString('/t/a', tx)).toBe('1');
    h.write('/t/b', 'from-tx', tx);
    other.write('/t/a', '2');
    expect(errnoOf(() => h.transactionEnd(tx, true))).toBe('EAGAIN');
    expect(h.exists('/t/b')).toBe(false);
    // The transaction is gone after END either way.
    expect(errnoOf(() => h.read('/t/a', tx))).toBe('ENOENT');
  });

  it('detects a node created elsewhere that it saw missing', () => {
    const d = new Xenstored();
    const h = d.openHandle();
    const other = d.openHandle();
    const tx = h.transactionStart();
    expect(h.exists('/race', tx)).toBe(false);
    h.write('/race', 'mine', tx);
    other.write('/race', 'theirs');
    expect(errnoOf(() => h.transactionEnd(tx, true))).toBe('EAGAIN');
    expect(h.readString('/race')).toBe('theirs');
  });

  it('does not conflict on unrelated nodes; abort discards', () => {
    const d = new Xenstored();
    const h = d.openHandle();
    const other = d.openHandle();
    h.write('/t/a', '1');
    const tx = h.transactionStart();
    h.write('/t/a', '10', tx);
    other.write('/u/unrelated', 'x');
    h.transactionEnd(tx, true);
    expect(h.readString('/t/a')).toBe('10');
    const tx2 = h.transactionStart();
    h.rm('/t', tx2);
    h.transactionEnd(tx2, false);
    expect(h.readString('/t/a')).toBe('10');
  });

  it('answers protocol misuse as xenstored does', () => {
    const d = new Xenstored();
    const h = d.openHandle();
    const tx = h.transactionStart();
    expect(errnoOf(() => h.request(XsType.TRANSACTION_START, new Uint8Array([0]), tx))).toBe('EBUSY');
    expect(errnoOf(() => h.request(XsType.TRANSACTION_END, new TextEncoder().encode('X\0'), tx))).toBe('EINVAL');
    expect(errnoOf(() => h.transactionEnd(0))).toBe('ENOENT');
    expect(errnoOf(() => h.read('/', 12345))).toBe('ENOENT');
    h.transactionEnd(tx, false);
    // Ids are never 0 and are not reused while live.
    const a = h.transactionStart();
    const b = h.transactionStart();
    expect(a).toBeGreaterThan(0);
    expect(b).not.toBe(a);
  });
});

describe('xenstored watches', () => {
  it('fires the initial event, then for the node and below, with the token', async () => {
    const d = new Xenstored();
    const h = d.openHandle();
    const w = d.openHandle();
    const seen: Array<[string, string]> = [];
    w.watch('/vm', 'tok', (p, t) => seen.push([p, t]));
    await settle();
    expect(seen).toEqual([['/vm', 'tok']]);
    seen.length = 0;
    h.write('/vm/a', '1');
    await settle();
    h.write('/vmx', 'not a child');
    h.write('/other/x', 'no');
    h.write('/vm/b/c', '2');
    await settle();
    expect(seen).toEqual([['/vm/a', 'tok'], ['/vm/b/c', 'tok']]);
    seen.length = 0;
    // Removal: the watched node fires for a subtree removal; children only when watched exactly.
    w.watch('/vm/b/c', 'deep', (p, t) => seen.push([p, t]));
    await settle();
    seen.length = 0;
    h.rm('/vm');
    await settle();
    expect(seen).toContainEqual(['/vm', 'tok']);
    expect(seen).toContainEqual(['/vm/b/c', 'deep']);
    expect(seen).toHaveLength(2);
    w.unwatch('/vm', 'tok');
    expect(errnoOf(() => w.unwatch('/vm', 'tok'))).toBe('ENOENT');
    expect(errnoOf(() => w.watch('/vm/b/c', 'deep'))).toBe('EEXIST');
  });

  it('fires watches for transaction writes only on commit', async () => {
    const d = new Xenstored();
    const h = d.openHandle();
    const w = d.openHandle();
    const seen: string[] = [];
    w.watch('/t', 'x', (p) => seen.push(p));
    await settle();
    seen.length = 0;
    const tx = h.transactionStart();
    h.write('/t/a', '1', tx);
    await settle();
    expect(seen).toEqual([]);
    h.transactionEnd(tx);
    await settle();
    expect(seen).toEqual(['/t/a']);
  });

  it('gives guests relative event paths and only events they may read', async () => {
    const d = new Xenstored();
    const h = d.openHandle();
    const g = makeGuest(d, h, 3);
    g.ok(XsType.WATCH, ['device', 'dev']);
    expect(g.events).toEqual([['device', 'dev']]);
    h.write('/local/domain/3/device/vif/0/state', '1');
    g.ok(XsType.WATCH, ['/local/domain/0', 'spy']);
    h.write('/local/domain/0/private', 'x');
    await settle();
    g.readAll();
    expect(g.events).toEqual([['device', 'dev'], ['device/vif/0/state', 'dev'], ['/local/domain/0', 'spy']]);
  });

  it('honours the watch depth parameter', async () => {
    const d = new Xenstored();
    const h = d.openHandle();
    const seen: string[] = [];
    h.watch('/dp', 'ignored', () => {});
    const c = d.openHandle();
    c.onWatchEvent((p) => seen.push(p));
    c.request(XsType.WATCH, new TextEncoder().encode('/dp\0depth1\x001\0'));
    await settle();
    seen.length = 0;
    h.write('/dp/a', '1');
    h.write('/dp/a/b', '2');
    await settle();
    expect(seen).toEqual(['/dp/a']);
  });

  it('fires @introduceDomain and @releaseDomain for privileged watchers', async () => {
    const d = new Xenstored();
    const h = d.openHandle();
    const seen: string[] = [];
    h.watch('@introduceDomain', 'intro', (p) => seen.push(p));
    h.watch('@releaseDomain', 'rel', (p) => seen.push(p));
    await settle();
    seen.length = 0;
    const g = new GuestRing(d, 4).introduce();
    await settle();
    expect(seen).toEqual(['@introduceDomain']);
    expect(d.domainShutdown(4)).toBe(true);
    expect(d.domainShutdown(4)).toBe(false); // once, until RESUME
    h.request(XsType.RESUME, new TextEncoder().encode('4\0'));
    expect(d.domainShutdown(4)).toBe(true);
    await settle();
    expect(seen).toEqual(['@introduceDomain', '@releaseDomain', '@releaseDomain']);
    seen.length = 0;
    h.request(XsType.RELEASE, new TextEncoder().encode('4\0'));
    await settle();
    expect(seen).toEqual(['@releaseDomain']);
    expect(g.daemon.isDomainIntroduced(4)).toBe(false);
  });

  it('keeps special events from guests unless @-node perms allow them', async () => {
    const d = new Xenstored();
    const h = d.openHandle();
    const g = makeGuest(d, h, 2);
    g.ok(XsType.WATCH, ['@introduceDomain', 'i']);
    expect(g.events).toEqual([['@introduceDomain', 'i']]); // the initial event is unconditional
    g.events.length = 0;
    new GuestRing(d, 8).introduce();
    await settle();
    g.readAll();
    expect(g.events).toEqual([]);
    h.setPerms('@introduceDomain', ['n0', 'r2']);
    await settle();
    g.readAll();
    // Like any node, a SET_PERMS on the special node fires its watchers.
    expect(g.events).toEqual([['@introduceDomain', 'i']]);
    g.events.length = 0;
    new GuestRing(d, 9).introduce();
    await settle();
    g.readAll();
    expect(g.events).toEqual([['@introduceDomain', 'i']]);
  });

  it('RESET_WATCHES drops the caller\'s watches and transactions', async () => {
    const d = new Xenstored();
    const h = d.openHandle();
    const w = d.openHandle();
    const seen: string[] = [];
    w.watch('/r', 'x', (p) => seen.push(p));
    const tx = w.transactionStart();
    w.request(XsType.RESET_WATCHES, new Uint8Array([0]));
    await settle();
    seen.length = 0;
    h.write('/r/a', '1');
    await settle();
    expect(seen).toEqual([]);
    expect(errnoOf(() => w.read('/r/a', tx))).toBe('ENOENT');
  });
});

describe('xenstored requests', () => {
  it('answers unknown and reply-only types with ENOSYS and keeps serving', () => {
    const d = new Xenstored();
    const h = d.openHandle();
    for (const t of [20, 23, 99, 0xffff, XsType.WATCH_EVENT, XsType.ERROR]) {
      expect(errnoOf(() => h.request(t as XsType, new Uint8Array([0]))), String(t)).toBe('ENOSYS');
    }
    h.write('/still', 'alive');
    expect(h.readString('/still')).toBe('alive');
  });

  it('rejects malformed payloads', () => {
    const d = new Xenstored();
    const h = d.openHandle();
    const raw = (t: XsType, s: string): string => errnoOf(() => h.request(t, new TextEncoder().encode(s)));
    expect(raw(XsType.READ, '/a')).toBe('EINVAL'); // no nul
    expect(raw(XsType.READ, '/a\0/b\0')).toBe('EINVAL'); // two args
    expect(raw(XsType.WRITE, '/a')).toBe('EINVAL');
    expect(raw(XsType.WATCH, '/a\0')).toBe('EINVAL');
    expect(raw(XsType.SET_PERMS, '/a\0')).toBe('EINVAL');
    expect(raw(XsType.DIRECTORY_PART, '/\0')).toBe('EINVAL');
    expect(raw(XsType.GET_DOMAIN_PATH, 'abc\0')).toBe('EINVAL');
    expect(raw(XsType.GET_DOMAIN_PATH, '70000\0')).toBe('EINVAL');
    expect(raw(XsType.INTRODUCE, '5\x001\x000\0')).toBe('EINVAL');
    expect(raw(XsType.RELEASE, '0\0')).toBe('EINVAL');
    expect(raw(XsType.RELEASE, '42\0')).toBe('ENOENT');
    expect(raw(XsType.CONTROL, 'bogus\0')).toBe('EINVAL');
  });

  it('answers IS_DOMAIN_INTRODUCED and CONTROL', () => {
    const d = new Xenstored();
    const h = d.openHandle();
    const q = (s: string): string => new TextDecoder().decode(h.request(XsType.IS_DOMAIN_INTRODUCED, new TextEncoder().encode(s)));
    expect(q('0\0')).toBe('T\0');
    expect(q('6\0')).toBe('F\0');
    expect(q(`${0x7ff0}\0`)).toBe('T\0'); // DOMID_SELF
    new GuestRing(d, 6).introduce();
    expect(q('6\0')).toBe('T\0');
    expect(h.control('check')).toBe('OK');
    expect(h.control('quota')).toContain('transaction-nodes');
    expect(h.control('help')).toContain('check');
  });

  it('refuses a wire INTRODUCE it cannot map, and uses the host hook when given', () => {
    const d = new Xenstored();
    const h = d.openHandle();
    expect(errnoOf(() => h.request(XsType.INTRODUCE, new TextEncoder().encode('5\x00100\x003\0')))).toBe('ENOSYS');
    const page = new Uint8Array(new SharedArrayBuffer(4096));
    const calls: Array<[number, number, number]> = [];
    const d2 = new Xenstored({
      mapInterface: (domid, gfn, port) => {
        calls.push([domid, gfn, port]);
        return { ring: page, notify: () => {} };
      },
    });
    const h2 = d2.openHandle();
    h2.request(XsType.INTRODUCE, new TextEncoder().encode('5\x00100\x003\0'));
    expect(calls).toEqual([[5, 100, 3]]);
    expect(d2.isDomainIntroduced(5)).toBe(true);
  });
});
