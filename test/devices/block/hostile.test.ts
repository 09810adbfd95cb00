// A frontend that lies. Every malformed request must get an error (or EOPNOTSUPP) response, or
// the device must be shut down with a recorded reason; the image, the guest's pages it had no
// right to touch, other domains' devices and the host process stay untouched.

import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BLKIF_OP_DISCARD, BLKIF_OP_FLUSH_DISKCACHE, BLKIF_OP_INDIRECT, BLKIF_OP_READ, BLKIF_OP_WRITE, BLKIF_RSP_EOPNOTSUPP,
  BLKIF_RSP_ERROR, XenbusState,
} from '../../../src/devices/block/index.js';
import { GTF } from '../../../src/hypervisor/abi/xen.js';
import type { Blkfront, Response } from './blkfront.js';
import { Host, attach, fileBytes, makeRaw, pattern, tmpDir, until, type Attached } from './setup.js';

let t: { dir: string; cleanup: () => void };
let host: Host;
let img: string;
let model: Uint8Array;
let a: Attached;
beforeEach(async () => {
  t = tmpDir('hostile');
  host = new Host();
  img = join(t.dir, 'd.img');
  model = makeRaw(img, 1024);
  a = await attach(host, 5, `file:${img},xvda,w`, { fe: { maxIndirectSegments: 64 } });
});
afterEach(async () => {
  // The image never changed, and the frontend never saw a malformed response.
  expect(Buffer.from(fileBytes(img)).equals(Buffer.from(model))).toBe(true);
  expect(a.fe.violations).toEqual([]);
  await host.close();
  t.cleanup();
});

interface Seg {
  gref: number;
  first: number;
  last: number;
}

/** Posts one direct request exactly as given and returns its response. */
function direct(fe: Blkfront, op: number, sector: bigint, segs: Seg[], nrSegments = segs.length, grefsToEnd: number[] = segs.map((s) => s.gref)): Promise<Response> {
  const done = fe.queueRaw((dv, id) => {
    dv.setUint8(0, op);
    dv.setUint8(1, nrSegments);
    dv.setBigUint64(8, BigInt(id), true);
    dv.setBigUint64(16, sector, true);
    // Only 11 fit in the ring entry whatever nr_segments claims.
    segs.slice(0, 11).forEach((s, i) => {
      dv.setUint32(24 + 8 * i, s.gref, true);
      dv.setUint8(28 + 8 * i, s.first);
      dv.setUint8(29 + 8 * i, s.last);
    });
  }, op, grefsToEnd);
  fe.push();
  return done;
}

/** A page granted to dom0, filled with `fill`. */
function page(fe: Blkfront, readonly: boolean, fill = 0x5a): { pfn: number; gref: number } {
  const pfn = fe.dom.allocPage();
  fe.dom.mem.frame(pfn).fill(fill);
  return { pfn, gref: fe.dom.grantAccess(0, pfn, readonly) };
}

const ERR = { status: BLKIF_RSP_ERROR };

describe('malformed requests get error responses', () => {
  it('refuses bad grant references and releases the good ones of the same request', async () => {
    const fe = a.fe;
    expect(await direct(fe, BLKIF_OP_READ, 0n, [{ gref: 999_999, first: 0, last: 7 }], 1, [])).toMatchObject({ ...ERR, operation: BLKIF_OP_READ });
    // Granted to another domain; an entry never filled in; a frame outside the guest's RAM.
    const other = fe.dom.grantAccess(3, fe.dom.allocPage(), false);
    expect(await direct(fe, BLKIF_OP_READ, 0n, [{ gref: other, first: 0, last: 7 }])).toMatchObject(ERR);
    expect(await direct(fe, BLKIF_OP_WRITE, 0n, [{ gref: 2000, first: 0, last: 7 }], 1, [])).toMatchObject(ERR);
    const wild = fe.dom.grantAccess(0, 1, false);
    fe.dom.writeEntry(wild, 0, 0x7fffffff, GTF.permit_access);
    expect(await direct(fe, BLKIF_OP_READ, 0n, [{ gref: wild, first: 0, last: 7 }])).toMatchObject(ERR);
    const good = page(fe, false);
    const res = await direct(fe, BLKIF_OP_READ, 0n, [good, { gref: 999_999, first: 0, last: 7 }].map((s) => ({ gref: s.gref, first: 0, last: 7 })), 2, [good.gref]);
    expect(res).toMatchObject(ERR);
    // The player ended `good` after the response: the backend had let go of it, and wrote nothing.
    expect(fe.dom.mem.frame(good.pfn).every((b) => b === 0x5a)).toBe(true);
    expect(a.backend.stats!.err_req).toBe(5);
  });

  it('refuses too many segments, none for a read or write, and sector ranges outside a page', async () => {
    const fe = a.fe;
    const segs = Array.from({ length: 12 }, () => ({ gref: page(fe, true).gref, first: 0, last: 7 }));
    expect(await direct(fe, BLKIF_OP_WRITE, 0n, segs)).toMatchObject(ERR);
    expect(await direct(fe, BLKIF_OP_READ, 0n, [])).toMatchObject(ERR);
    expect(await direct(fe, BLKIF_OP_WRITE, 0n, [])).toMatchObject(ERR);
    const p = page(fe, false);
    expect(await direct(fe, BLKIF_OP_READ, 0n, [{ gref: p.gref, first: 5, last: 4 }])).toMatchObject(ERR);
    const q = page(fe, false);
    expect(await direct(fe, BLKIF_OP_READ, 0n, [{ gref: q.gref, first: 0, last: 8 }])).toMatchObject(ERR);
    const r = page(fe, true);
    expect(await direct(fe, BLKIF_OP_WRITE, 0n, [{ gref: r.gref, first: 255, last: 255 }])).toMatchObject(ERR);
    for (const x of [p, q]) expect(fe.dom.mem.frame(x.pfn).every((b) => b === 0x5a)).toBe(true);
  });

  it('refuses sector ranges past the end of the disk, including ones that wrap around 2^64', async () => {
    const fe = a.fe;
    const seg = (): Seg => ({ gref: page(fe, false).gref, first: 0, last: 7 });
    expect(await direct(fe, BLKIF_OP_READ, 1020n, [seg()])).toMatchObject(ERR);
    expect(await direct(fe, BLKIF_OP_READ, 2n ** 64n - 4n, [seg()])).toMatchObject(ERR);
    expect(await direct(fe, BLKIF_OP_WRITE, 1024n, [{ gref: page(fe, true).gref, first: 0, last: 0 }])).toMatchObject(ERR);
    expect(await fe.discard(1000, 100)).toMatchObject({ ...ERR, operation: BLKIF_OP_DISCARD });
    expect(await fe.discard(2n ** 64n - 1n, 2)).toMatchObject(ERR);
    // The last sector itself is fine.
    const ok = await fe.read(1023, 1);
    expect(ok.rsp.status).toBe(0);
    expect(Buffer.from(ok.data).equals(Buffer.from(model.subarray(1023 * 512)))).toBe(true);
  });

  it('never writes into a page granted read-only, even for a read', async () => {
    const fe = a.fe;
    const ro = page(fe, true, 0x3c);
    expect(await direct(fe, BLKIF_OP_READ, 0n, [{ gref: ro.gref, first: 0, last: 7 }])).toMatchObject(ERR);
    expect(fe.dom.mem.frame(ro.pfn).every((b) => b === 0x3c)).toBe(true);
  });

  it('answers unknown operations with EOPNOTSUPP, echoing operation and id', async () => {
    const fe = a.fe;
    for (const op of [4, 7, 0xff]) {
      const rsp = await direct(fe, op, 0n, [], 0);
      expect(rsp).toMatchObject({ operation: op, status: BLKIF_RSP_EOPNOTSUPP });
      expect(Number(rsp.id)).toBe(fe.submitted[fe.submitted.length - 1]);
    }
  });

  it('checks indirect requests: operation, segment count, indirect grants and the segments inside', async () => {
    const fe = a.fe;
    const indirect = (indirectOp: number, nseg: number, indGrefs: number[], endGrefs: number[] = indGrefs): Promise<Response> => {
      const done = fe.queueRaw((dv, id) => {
        dv.setUint8(0, BLKIF_OP_INDIRECT);
        dv.setUint8(1, indirectOp);
        dv.setUint16(2, nseg, true);
        dv.setBigUint64(8, BigInt(id), true);
        dv.setBigUint64(16, 0n, true);
        indGrefs.forEach((g, i) => dv.setUint32(28 + 4 * i, g, true));
      }, indirectOp, endGrefs);
      fe.push();
      return done;
    };
    /** An indirect page listing `segs`. */
    const list = (segs: Seg[]): number => {
      const pfn = fe.dom.allocPage();
      const dv = new DataView(fe.dom.mem.sab, pfn * 4096, 4096);
      segs.forEach((s, i) => {
        dv.setUint32(8 * i, s.gref, true);
        dv.setUint8(8 * i + 4, s.first);
        dv.setUint8(8 * i + 5, s.last);
      });
      return fe.dom.grantAccess(0, pfn, true);
    };
    const data = (n: number, readonly: boolean): Seg[] => Array.from({ length: n }, () => ({ gref: page(fe, readonly).gref, first: 0, last: 7 }));
    expect(await indirect(BLKIF_OP_FLUSH_DISKCACHE, 12, [list(data(12, true))])).toMatchObject({ ...ERR, operation: BLKIF_OP_FLUSH_DISKCACHE });
    expect(await indirect(BLKIF_OP_READ, 0, [list([])])).toMatchObject(ERR);
    expect(await indirect(BLKIF_OP_READ, 300, [list(data(12, false))])).toMatchObject(ERR);
    expect(await indirect(BLKIF_OP_READ, 12, [999_999], [])).toMatchObject(ERR);
    const badSeg = data(12, false);
    badSeg[7] = { ...badSeg[7]!, first: 6, last: 2 };
    expect(await indirect(BLKIF_OP_READ, 12, [list(badSeg)])).toMatchObject(ERR);
    const wrongGref = data(12, false);
    wrongGref[11] = { gref: 999_999, first: 0, last: 7 };
    expect(await indirect(BLKIF_OP_READ, 12, [list(wrongGref)])).toMatchObject(ERR);
    // A read-only grant as the indirect page is fine (the backend only reads it); the data pages
    // must be writable for a read.
    const ok = data(12, false);
    const okRef = list(ok);
    expect(await indirect(BLKIF_OP_READ, 12, [okRef], [okRef, ...ok.map((s) => s.gref)])).toMatchObject({ status: 0, operation: BLKIF_OP_READ });
  });

  it('refuses writes, flushes and discards on a read-only disk but serves reads', async () => {
    const roImg = join(t.dir, 'ro.img');
    const roModel = makeRaw(roImg, 256);
    const ro = await attach(host, 6, `file:${roImg},xvda,r`, { fe: { maxIndirectSegments: 32 } });
    const fe = ro.fe;
    expect(await direct(fe, BLKIF_OP_WRITE, 0n, [{ gref: page(fe, true).gref, first: 0, last: 7 }])).toMatchObject(ERR);
    expect(await direct(fe, BLKIF_OP_FLUSH_DISKCACHE, 0n, [])).toMatchObject({ ...ERR, operation: BLKIF_OP_FLUSH_DISKCACHE });
    expect(await fe.discard(0, 8)).toMatchObject(ERR);
    // An indirect write too (the player builds it: 16 segments).
    expect(fe.maxIndirect).toBe(32);
    expect(await fe.write(0, pattern(0, 128, 4))).toMatchObject({ ...ERR, operation: BLKIF_OP_WRITE });
    const r = await fe.read(8, 8);
    expect(r.rsp.status).toBe(0);
    expect(Buffer.from(r.data).equals(Buffer.from(roModel.subarray(8 * 512, 16 * 512)))).toBe(true);
    expect(Buffer.from(fileBytes(roImg)).equals(Buffer.from(roModel))).toBe(true);
    expect(fe.violations).toEqual([]);
  });

  it('keeps logging bounded when a guest floods the ring with garbage', async () => {
    const fe = a.fe;
    const before = host.log.lines.filter((l) => l.level === 'warn').length;
    for (let round = 0; round < 20; round++) {
      const batch = Array.from({ length: 30 }, () => fe.queueRaw((dv, id) => {
        dv.setUint8(0, BLKIF_OP_READ);
        dv.setUint8(1, 200);
        dv.setBigUint64(8, BigInt(id), true);
      }, BLKIF_OP_READ, []));
      fe.push();
      for (const r of await Promise.all(batch)) expect(r.status).toBe(BLKIF_RSP_ERROR);
    }
    expect(host.log.lines.filter((l) => l.level === 'warn').length - before).toBeLessThanOrEqual(10);
    expect(a.backend.stats!.err_req).toBe(600);
  });
});

describe('a corrupted ring shuts the device down', () => {
  it('stops at garbage ring indices, records why, and other domains carry on', async () => {
    const otherImg = join(t.dir, 'other.img');
    const otherModel = makeRaw(otherImg, 256);
    const other = await attach(host, 6, `file:${otherImg},xvda,w`);
    const fe = a.fe;
    expect((await fe.read(0, 8)).rsp.status).toBe(0);
    // A request that would write, then req_prod pushed a thousand slots ahead.
    const p = page(fe, true, 0x11);
    void fe.queueRaw((dv, id) => {
      dv.setUint8(0, BLKIF_OP_WRITE);
      dv.setUint8(1, 1);
      dv.setBigUint64(8, BigInt(id), true);
      dv.setUint32(24, p.gref, true);
      dv.setUint8(29, 7);
    }, BLKIF_OP_WRITE, []);
    fe.storeIdx(0, fe.rspCons + 1000);
    fe.dom.notify(fe.evtchn);
    const errNode = `/local/domain/0/error${a.device.backendPath.slice('/local/domain/0'.length)}/error`;
    await until(() => host.xs.exists(errNode), 'the error node');
    expect(host.xs.readString(errNode)).toMatch(/^13 frontend provided bogus ring requests \(req_prod \d+ - rsp_prod 1 = 1000, ring size 32\)/);
    // Closing; blkfront answers that by closing, and the backend then unmaps and goes Closed.
    await until(() => fe.backendStates.includes(XenbusState.Closing), 'backend Closing');
    const seen = fe.responsesSeen;
    // Putting req_prod back does not restart a halted ring.
    fe.storeIdx(0, fe.reqProdPvt);
    fe.dom.notify(fe.evtchn);
    await new Promise((r) => setTimeout(r, 30));
    expect(fe.responsesSeen).toBe(seen);
    expect(fe.dom.entryFlags(p.gref) & (GTF.reading | GTF.writing)).toBe(0);
    // The other domain's disk is unaffected.
    const data = pattern(3, 8, 77);
    expect((await other.fe.write(3, data)).status).toBe(0);
    otherModel.set(data, 3 * 512);
    expect(Buffer.from(fileBytes(otherImg)).equals(Buffer.from(otherModel))).toBe(true);
    // The frontend closes; the backend unmaps and goes Closed.
    await fe.close();
    expect(host.xs.readString(`${a.device.backendPath}/state`)).toBe(String(XenbusState.Closed));
    fe.violations.length = 0;
  });

  it('treats req_prod moving backwards as garbage too', async () => {
    const fe = a.fe;
    expect((await fe.read(0, 8)).rsp.status).toBe(0);
    fe.storeIdx(0, (fe.rspCons - 5) >>> 0);
    fe.dom.notify(fe.evtchn);
    await until(() => fe.backendStates.includes(XenbusState.Closing), 'backend Closing');
    expect(host.log.has('error', /bogus ring requests/)).toBe(true);
    await fe.close();
  });
});
