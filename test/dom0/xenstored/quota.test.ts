import { describe, expect, it } from 'vitest';

import { DEFAULT_QUOTAS, Xenstored, XsType } from '../../../src/dom0/xenstored/index.js';
import { GuestRing } from './guest.js';

function guestOf(d: Xenstored, domid: number): GuestRing {
  const h = d.openHandle();
  h.mkdir(`/local/domain/${domid}`);
  h.setPerms(`/local/domain/${domid}`, [`n${domid}`]);
  h.close();
  return new GuestRing(d, domid).introduce();
}

/** Runs requests until the first error; returns how many succeeded and the error name. */
function untilError(g: GuestRing, limit: number, req: (i: number) => [number, string[]]): { ok: number; err: string } {
  for (let i = 0; i < limit; i++) {
    const [type, payload] = req(i);
    const r = g.request(type, payload);
    if (r.type === XsType.ERROR) return { ok: i, err: r.strings[0]! };
  }
  return { ok: limit, err: '' };
}

describe('xenstored quotas (xenstored defaults)', () => {
  it('uses xenstored\'s default values', () => {
    expect(DEFAULT_QUOTAS).toMatchObject({
      nodes: 1000, watches: 128, transactions: 10, nodeSize: 2048, pathMax: 2048,
      nodePermissions: 5, transactionNodes: 1024, outstanding: 20, memory: 2621440,
    });
  });

  it('limits the nodes a guest owns (a count reaching the quota is over it)', () => {
    const d = new Xenstored();
    const g = guestOf(d, 5); // owns /local/domain/5 already: 1 node
    // Spread over directories: a parent's children list counts toward its node size.
    const r = untilError(g, 1100, (i) => [XsType.WRITE, [`g${Math.floor(i / 20)}/n${i}`, 'x']]);
    expect(r.err).toBe('ENOSPC');
    expect(r.ok).toBeGreaterThan(900);
    expect(d.domainUsage(5)!.nodes).toBe(999);
    expect(g.err(XsType.MKDIR, ['g0/one-more'])).toBe('ENOSPC');
    // Overwriting an existing node still works; removing frees room.
    g.write('g0/n0', 'again');
    g.ok(XsType.RM, ['g0/n1']);
    g.write('fresh', 'y');
    expect(d.checkStore()).toEqual([]);
  });

  it('applies nothing of a write whose new parents would exceed the quota', () => {
    const d = new Xenstored({ quotas: { nodes: 5 } });
    const h = d.openHandle();
    const g = guestOf(d, 5);
    expect(g.err(XsType.WRITE, ['a/b/c/d', 'x'])).toBe('ENOSPC');
    expect(h.exists('/local/domain/5/a')).toBe(false);
    g.write('a/b/c', 'x');
    expect(d.domainUsage(5)!.nodes).toBe(4);
    expect(d.checkStore()).toEqual([]);
  });

  it('does not limit dom0', () => {
    const d = new Xenstored({ quotas: { nodes: 10, nodeSize: 100 } });
    const h = d.openHandle();
    for (let i = 0; i < 50; i++) h.write(`/dom0/n${i}`, 'x'.repeat(200));
    expect(h.directory('/dom0')).toHaveLength(50);
  });

  it('limits watches and transactions per guest', () => {
    const d = new Xenstored();
    const g = guestOf(d, 5);
    const w = untilError(g, 200, (i) => [XsType.WATCH, ['w', `t${i}`]]);
    expect(w).toEqual({ ok: 127, err: 'ENOSPC' });
    g.ok(XsType.UNWATCH, ['w', 't0']);
    g.ok(XsType.WATCH, ['w', 'again']);
    const t = untilError(g, 20, () => [XsType.TRANSACTION_START, ['']]);
    expect(t).toEqual({ ok: 9, err: 'ENOSPC' });
    expect(d.domainUsage(5)!.transactions).toBe(9);
  });

  it('limits node size, path length and permission entries', () => {
    const d = new Xenstored();
    const g = guestOf(d, 5);
    // Entry size = 16 header + 8 per permission + data + children.
    expect(g.err(XsType.WRITE, ['big', 'x'.repeat(2048 - 16 - 8)])).toBe('ENOSPC');
    g.write('big', 'x'.repeat(2048 - 16 - 8 - 1));
    // path-max counts what follows /local/domain/<domid>/ (short components, so that no
    // parent's children list outgrows node-size first).
    const deep = `${'abcdefghi/'.repeat(204)}abcdefg`;
    expect(deep.length).toBe(2047);
    expect(g.err(XsType.WRITE, [`${deep}h`, 'x'])).toBe('EINVAL');
    g.write(deep, 'x');
    // Permission entries count toward the entry size too.
    expect(g.err(XsType.SET_PERMS, ['big', 'n5', 'r1'])).toBe('ENOSPC');
    g.write('small', 'x');
    expect(g.err(XsType.SET_PERMS, ['small', 'n5', 'r1', 'r2', 'r3', 'r4'])).toBe('ENOSPC');
    g.ok(XsType.SET_PERMS, ['small', 'n5', 'r1', 'r2', 'r3']);
  });

  it('limits the nodes one transaction may touch', () => {
    const d = new Xenstored();
    const h = d.openHandle();
    const g = guestOf(d, 5);
    h.mkdir('/shared');
    h.setPerms('/shared', ['n0', 'r5']);
    for (let i = 0; i < 1100; i++) h.write(`/shared/k${i}`, 'v');
    const [id] = g.ok(XsType.TRANSACTION_START, ['']);
    const tx = Number(id);
    let ok = 0;
    let err = '';
    for (let i = 0; i < 1100 && !err; i++) {
      const r = g.request(XsType.READ, [`/shared/k${i}`], tx);
      if (r.type === XsType.ERROR) err = r.strings[0]!;
      else ok++;
    }
    expect(err).toBe('ENOSPC');
    expect(ok).toBe(1023);
  });

  it('validates configured quotas', () => {
    expect(() => new Xenstored({ quotas: { nodes: -1 } })).toThrow(/nodes/);
    expect(() => new Xenstored({ quotas: { bogus: 1 } as never })).toThrow(/bogus/);
    // 0 disables a quota, as in xenstored.
    const d = new Xenstored({ quotas: { watches: 0 } });
    const g = guestOf(d, 5);
    for (let i = 0; i < 200; i++) g.ok(XsType.WATCH, ['w', `t${i}`]);
  });
});
