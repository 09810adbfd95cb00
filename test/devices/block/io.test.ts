// The data path with a blkfront player: reads and writes checked against the image file itself
// (raw) or against qemu-img's view of it (qcow2), indirect requests, multi-page rings under load,
// flush / barrier / discard, out-of-order completion, notification suppression, and draining
// in-flight I/O when the frontend closes.

import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BLKIF_OP_FLUSH_DISKCACHE, BLKIF_OP_WRITE_BARRIER, XenbusState, destroyVbdDevice } from '../../../src/devices/block/index.js';
import { openDiskImage } from '../../../src/devices/block/image/index.js';
import { GatedImage } from './gated.js';
import { Host, attach, fileBytes, makeRaw, pattern, run, tmpDir, until } from './setup.js';

let t: { dir: string; cleanup: () => void };
let host: Host;
beforeEach(() => {
  t = tmpDir('io');
  host = new Host();
});
afterEach(async () => {
  await host.close();
  t.cleanup();
});

const S = 512;
const eq = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

describe('raw images', () => {
  it('reads what the file holds and writes where the guest said, for every segment shape', async () => {
    const img = join(t.dir, 'd.img');
    const model = makeRaw(img, 8192);
    const a = await attach(host, 5, `file:${img},xvda,w`);
    const fe = a.fe;
    // One sector; a run starting mid-page (first_sect 3); a full 11-segment direct request.
    for (const [sector, count, offset] of [[0, 1, 0], [777, 13, 3], [1000, 88, 0], [8191, 1, 7]] as const) {
      const r = await fe.read(sector, count, offset);
      expect(r.rsp.status, `read ${sector}+${count}`).toBe(0);
      expect(eq(r.data, model.subarray(sector * S, (sector + count) * S)), `data of ${sector}+${count}`).toBe(true);
    }
    for (const [sector, count, offset] of [[5, 1, 0], [300, 20, 5], [4000, 88, 0]] as const) {
      const data = pattern(sector, count, 42);
      expect((await fe.write(sector, data, offset)).status).toBe(0);
      model.set(data, sector * S);
    }
    expect(eq(fileBytes(img), model)).toBe(true);
    expect(a.backend.stats).toMatchObject({ rd_req: 4, wr_req: 3, rd_sect: 103, wr_sect: 109, err_req: 0 });
    expect(fe.violations).toEqual([]);
  });

  it('serves BLKIF_OP_INDIRECT reads and writes of up to 256 segments', async () => {
    const img = join(t.dir, 'd.img');
    const model = makeRaw(img, 8192);
    const a = await attach(host, 5, `file:${img},xvda,w`, { fe: { maxIndirectSegments: 256 } });
    const fe = a.fe;
    expect(fe.maxIndirect).toBe(256);
    const r = await fe.read(100, 256 * 8);
    expect(r.rsp.status).toBe(0);
    expect(eq(r.data, model.subarray(100 * S, (100 + 2048) * S))).toBe(true);
    const data = pattern(3000, 12 * 8 - 2, 7);
    expect((await fe.write(3000, data, 2)).status).toBe(0);
    model.set(data, 3000 * S);
    expect(eq(fileBytes(img), model)).toBe(true);
    expect(fe.violations).toEqual([]);
  });

  it('keeps a 16-page ring full of concurrent requests and answers each with its own data', async () => {
    const img = join(t.dir, 'd.img');
    const model = makeRaw(img, 16384);
    const a = await attach(host, 5, `file:${img},xvda,w`, { fe: { maxRingPageOrder: 4 }, guest: host.addDomain(5, 'big', 4096, 8) });
    const fe = a.fe;
    expect(fe.ringSize).toBe(512);
    expect(fe.ringPfns).toHaveLength(16);
    // Entries straddle page boundaries in a multi-page ring: 112-byte slots over 4 KiB pages.
    const jobs: Array<Promise<void>> = [];
    for (let i = 0; i < 500; i++) {
      const sector = (i * 37) % 16000;
      const count = 1 + (i % 24);
      if (i % 3 === 0) {
        const data = pattern(sector, count, i);
        model.set(data, sector * S);
        jobs.push(fe.write(sector, data, i % 8 === 0 ? 8 - Math.min(8, count) : 0, undefined, false).then((rsp) => expect(rsp.status).toBe(0)));
      } else {
        jobs.push(fe.read(sector, count, 0, false).then((r) => expect(r.rsp.status).toBe(0)));
      }
    }
    fe.push();
    await Promise.all(jobs);
    expect(eq(fileBytes(img), model)).toBe(true);
    expect(fe.completions).toHaveLength(500);
    expect(fe.violations).toEqual([]);
  });
});

describe('qcow2 images (tap:qcow2)', () => {
  it('reads data qemu wrote and writes data qemu reads back', async () => {
    const q = join(t.dir, 'd.qcow2');
    run('qemu-img', ['create', '-q', '-f', 'qcow2', q, '8M']);
    run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xab 65536 131072', q]);
    const a = await attach(host, 5, `tap:qcow2:${q},xvda,w`, { fe: { maxIndirectSegments: 64 } });
    expect(a.device.backendPath).toBe('/local/domain/0/backend/tap/5/51712');
    expect(host.xs.readString(`${a.device.backendPath}/discard-granularity`)).toBe('65536');
    const r = await a.fe.read(120, 40);
    expect(r.rsp.status).toBe(0);
    // Sectors 120..127 are unallocated (zeros), 128..159 carry qemu's 0xab.
    expect(r.data.subarray(0, 8 * S).every((b) => b === 0)).toBe(true);
    expect(r.data.subarray(8 * S).every((b) => b === 0xab)).toBe(true);
    const model = new Uint8Array(8 * 1024 * 1024);
    model.fill(0xab, 65536, 65536 + 131072);
    for (const [sector, count] of [[0, 8], [250, 300], [16000, 384]] as const) {
      const data = pattern(sector, count, 3);
      expect((await a.fe.write(sector, data)).status).toBe(0);
      model.set(data, sector * S);
    }
    expect((await a.fe.flush()).status).toBe(0);
    destroyVbdDevice(host.xs, a.device, false);
    await a.backend.whenRemoved;
    const out = join(t.dir, 'out.raw');
    run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', q, out]);
    expect(eq(fileBytes(out), model)).toBe(true);
    expect(run('qemu-img', ['check', q])).toMatch(/No errors were found/);
    expect(a.fe.violations).toEqual([]);
  });

  it('discards whole clusters so qemu-img map shows them unallocated', async () => {
    const q = join(t.dir, 'd.qcow2');
    run('qemu-img', ['create', '-q', '-f', 'qcow2', q, '4M']);
    const a = await attach(host, 5, `tap:qcow2:${q},xvda,w`, { fe: { maxIndirectSegments: 256 } });
    expect((await a.fe.write(0, pattern(0, 2048, 1), 0)).status).toBe(0);
    expect((await a.fe.discard(128, 512)).status).toBe(0);
    const r = await a.fe.read(128, 16);
    expect(r.data.every((b) => b === 0)).toBe(true);
    destroyVbdDevice(host.xs, a.device, false);
    await a.backend.whenRemoved;
    const map = JSON.parse(run('qemu-img', ['map', '--output=json', q])) as Array<{ start: number; length: number; data: boolean }>;
    const at = (off: number): boolean => map.find((m) => off >= m.start && off < m.start + m.length)!.data;
    expect(at(0)).toBe(true);
    expect(at(65536)).toBe(false);
    expect(at(65536 + 262143)).toBe(false);
    expect(at(65536 + 262144)).toBe(true);
    expect(a.backend.stats).toBeNull();
    expect(a.fe.violations).toEqual([]);
  });
});

describe('flush, barrier and ordering', () => {
  async function gated(mode = 'w'): Promise<{ a: Awaited<ReturnType<typeof attach>>; g: GatedImage; img: string; model: Uint8Array }> {
    const img = join(t.dir, 'd.img');
    const model = makeRaw(img, 4096);
    let g!: GatedImage;
    const a = await attach(host, 5, `file:${img},xvda,${mode}`, {
      openImage: async (r) => (g = new GatedImage(await openDiskImage(r.path, { format: r.format, readOnly: r.readOnly }))),
    });
    return { a, g, img, model };
  }

  it('answers a flush only after the image flushed', async () => {
    const { a, g } = await gated();
    let flushedBeforeResponse = false;
    const rsp = await a.fe.flush().then((r) => {
      flushedBeforeResponse = g.events.includes('flush done');
      return r;
    });
    expect(rsp).toMatchObject({ operation: BLKIF_OP_FLUSH_DISKCACHE, status: 0 });
    expect(flushedBeforeResponse).toBe(true);
  });

  it('writes the data of a FLUSH_DISKCACHE with segments, then flushes', async () => {
    const { a, g, img, model } = await gated();
    const data = pattern(10, 8, 5);
    const rsp = await a.fe.write(10, data, 0, BLKIF_OP_FLUSH_DISKCACHE);
    expect(rsp).toMatchObject({ operation: BLKIF_OP_FLUSH_DISKCACHE, status: 0 });
    model.set(data, 10 * S);
    expect(eq(fileBytes(img), model)).toBe(true);
    expect(g.events.slice(-3)).toEqual(['write 10 done', 'flush', 'flush done']);
  });

  it('holds a WRITE_BARRIER until earlier requests are done, and answers in completion order', async () => {
    const { a, g, img, model } = await gated();
    const fe = a.fe;
    g.hold(100);
    const slow = fe.write(100, pattern(100, 8, 1), 0, undefined, false);
    const quick = fe.read(200, 8, 0, false);
    const barrier = fe.write(300, pattern(300, 8, 2), 0, BLKIF_OP_WRITE_BARRIER, false);
    const after = fe.read(400, 8, 0, false);
    const [idSlow, idQuick, idBarrier, idAfter] = fe.submitted.slice(-4).map(BigInt);
    fe.push();
    await until(() => fe.completions.includes(idQuick!), 'the quick read');
    await new Promise((r) => setTimeout(r, 30));
    // The barrier waits for the held write; requests behind the barrier wait too.
    expect(g.events.some((e) => e.startsWith('write 300'))).toBe(false);
    expect(g.events.some((e) => e.startsWith('read 400'))).toBe(false);
    expect(a.backend.stats!.wr_req).toBe(1);
    g.release(100);
    expect((await slow).status).toBe(0);
    expect((await barrier).status).toBe(0);
    expect((await after).rsp.status).toBe(0);
    expect((await quick).rsp.status).toBe(0);
    const wi = g.events.indexOf('write 100 done');
    expect(wi).toBeGreaterThan(-1);
    expect(g.events.indexOf('write 300+8')).toBeGreaterThan(wi);
    expect(g.events.indexOf('flush')).toBeGreaterThan(g.events.indexOf('write 300 done'));
    expect(fe.completions.indexOf(idQuick!)).toBeLessThan(fe.completions.indexOf(idSlow!));
    expect(fe.completions.indexOf(idSlow!)).toBeLessThan(fe.completions.indexOf(idBarrier!));
    expect(fe.completions).toContain(idAfter);
    model.set(pattern(100, 8, 1), 100 * S);
    model.set(pattern(300, 8, 2), 300 * S);
    expect(eq(fileBytes(img), model)).toBe(true);
    expect(fe.violations).toEqual([]);
  });

  it('stops consuming while 32 MiB of data is in flight, and resumes as requests complete', async () => {
    const img = join(t.dir, 'd.img');
    const model = makeRaw(img, 4096);
    let g!: GatedImage;
    const a = await attach(host, 5, `file:${img},xvda,w`, {
      fe: { maxRingPageOrder: 1, maxIndirectSegments: 256 },
      guest: host.addDomain(5, 'big', 11_000, 24),
      openImage: async (r) => (g = new GatedImage(await openDiskImage(r.path, { format: r.format, readOnly: r.readOnly }))),
    });
    const fe = a.fe;
    g.hold(0);
    const reads = Array.from({ length: 40 }, () => fe.read(0, 2048, 0, false));
    fe.push();
    await until(() => g.events.filter((e) => e.startsWith('read 0+')).length >= 32, '32 reads in flight');
    await new Promise((r) => setTimeout(r, 30));
    expect(g.events.filter((e) => e.startsWith('read 0+'))).toHaveLength(32);
    g.release(0);
    for (const r of await Promise.all(reads)) {
      expect(r.rsp.status).toBe(0);
      expect(eq(r.data, model.subarray(0, 2048 * S))).toBe(true);
    }
    expect(fe.violations).toEqual([]);
  });

  it('puts responses on the ring in completion order, not request order', async () => {
    const { a, g } = await gated();
    const fe = a.fe;
    g.hold(0);
    const first = fe.read(0, 8, 0, false);
    const second = fe.read(64, 8, 0, false);
    const third = fe.read(128, 8, 0, false);
    const ids = fe.submitted.slice(-3).map(BigInt);
    fe.push();
    await until(() => fe.completions.length >= 2, 'two completions');
    g.release(0);
    await Promise.all([first, second, third]);
    expect(fe.completions.slice(-1)).toEqual([ids[0]]);
    expect(new Set(fe.completions.slice(-3))).toEqual(new Set(ids));
    expect(fe.violations).toEqual([]);
  });

  it('drains in-flight I/O before going Closed and releasing the grants', async () => {
    const { a, g } = await gated();
    const fe = a.fe;
    g.hold(500);
    const pending = fe.write(500, pattern(500, 16, 9));
    await until(() => g.events.includes('write 500+16'), 'the write reaching the image');
    const closing = fe.close();
    await new Promise((r) => setTimeout(r, 40));
    expect(host.xs.readString(`${a.device.backendPath}/state`)).not.toBe(String(XenbusState.Closed));
    // The ring is still mapped by the backend while the write is outstanding.
    expect(fe.dom.entryFlags(fe.ringRefs[0]!) & 0x18).not.toBe(0);
    g.release(500);
    expect((await pending).status).toBe(0);
    await closing;
    expect(host.xs.readString(`${a.device.backendPath}/state`)).toBe(String(XenbusState.Closed));
    expect(fe.violations).toEqual([]);
  });
});

describe('ring notifications (rsp_event / req_event)', () => {
  it('re-arms req_event after going idle and notifies only as rsp_event asks', async () => {
    const img = join(t.dir, 'd.img');
    makeRaw(img, 4096);
    const a = await attach(host, 5, `file:${img},xvda,w`);
    const fe = a.fe;
    await fe.read(0, 8);
    // RING_FINAL_CHECK_FOR_REQUESTS left req_event one past what was consumed.
    await until(() => fe.loadIdx(4) === fe.reqProdPvt + 1, 'req_event re-armed');
    // Ask to be woken only once the fourth of four responses is there.
    const before = fe.dom.eventsToGuest;
    fe.storeIdx(12, fe.rspCons + 4);
    const batch = [0, 1, 2, 3].map((i) => fe.read(i * 8, 8, 0, false));
    expect(fe.push()).toBe(true);
    await Promise.all(batch);
    expect(fe.dom.eventsToGuest - before).toBe(1);
    // A second push while the backend is idle must notify again.
    const more = fe.read(64, 8, 0, false);
    expect(fe.push()).toBe(true);
    expect((await more).rsp.status).toBe(0);
    expect(fe.violations).toEqual([]);
  });
});
