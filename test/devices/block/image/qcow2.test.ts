import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync, openSync, writeSync, closeSync, statSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { openDiskImage, DiskImageError, type DiskImage } from '../../../../src/devices/block/image/index.js';
import {
  ExpectedDisk,
  expectBytes,
  expectClean,
  fileBytes,
  makeTmpDir,
  pattern,
  prng,
  qemuCheck,
  qemuImg,
  qemuIo,
  sameContent,
  sha,
} from './helpers.js';

const tmp = makeTmpDir('qcow2');
afterAll(() => tmp.cleanup());
const at = (name: string): string => join(tmp.dir, name);

async function rejects(p: Promise<unknown>, code: string, text?: RegExp): Promise<DiskImageError> {
  const err = await p.then(
    () => expect.fail(`expected a ${code} rejection`),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DiskImageError);
  const d = err as DiskImageError;
  expect(d.code, d.message).toBe(code);
  if (text) expect(d.message).toMatch(text);
  return d;
}

function headerU64(path: string, offset: number): bigint {
  return Buffer.from(fileBytes(path, offset, 8)).readBigUInt64BE(0);
}

function patchU64(path: string, offset: number, value: bigint): void {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(value);
  const fd = openSync(path, 'r+');
  writeSync(fd, b, 0, 8, offset);
  closeSync(fd);
}

function patchU32(path: string, offset: number, value: number): void {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value);
  const fd = openSync(path, 'r+');
  writeSync(fd, b, 0, 4, offset);
  closeSync(fd);
}

/**
 * Write plan for an image with cluster size cs and virtual size `bytes`: cluster-crossing,
 * multi-cluster, first-L2-table-boundary-crossing and beyond, the last sectors of the disk,
 * random scatter, and overwrites of earlier writes.
 */
function writePlan(cs: number, bytes: number, seed: number, randomCount: number): { sector: number; data: Uint8Array }[] {
  const l2Reach = (cs / 8) * cs;
  const plan: { sector: number; data: Uint8Array }[] = [];
  let n = seed * 1000;
  const add = (byteOff: number, len: number): void => {
    if (byteOff < 0 || byteOff + len > bytes) throw new Error(`bad plan entry ${byteOff}+${len}`);
    plan.push({ sector: byteOff / 512, data: pattern(n++, len) });
  };
  add(0, 3 * 512);
  add(2 * cs - 512, 4096); // crosses a cluster boundary
  add(3 * cs - 512, 2 * cs + 1024); // spans four clusters, partial at both ends
  add(l2Reach - 2048, 8192); // crosses into the second L2 table
  add(l2Reach + 5 * cs + 512, 1536); // beyond the first L2 table's reach
  add(bytes - 4096, 4096); // the very end of the disk
  const r = prng(seed);
  for (let i = 0; i < randomCount; i++) {
    const len = (1 + Math.floor(r() * 64)) * 512;
    const off = Math.floor(r() * ((bytes - len) / 512)) * 512;
    add(off, len);
  }
  add(512, 1024); // overwrite inside the first write (allocated cluster, in place)
  add(cs - 512, 1024); // overwrite straddling two allocated clusters
  return plan;
}

interface Config {
  name: string;
  options: string;
  cs: number;
  size: number;
  randomCount: number;
}

const G = 1024 ** 3;
const M = 1024 ** 2;
const configs: Config[] = [
  { name: 'v3, 64 KiB clusters', options: 'cluster_size=65536', cs: 65536, size: 1 * G, randomCount: 40 },
  { name: 'v2 (compat=0.10), 4 KiB clusters', options: 'compat=0.10,cluster_size=4096', cs: 4096, size: 16 * M, randomCount: 40 },
  { name: '512-byte clusters', options: 'cluster_size=512', cs: 512, size: 8 * M, randomCount: 60 },
  { name: '2 MiB clusters, 1.1 TB disk', options: 'cluster_size=2097152', cs: 2 * M, size: 1100 * G, randomCount: 12 },
  { name: 'preallocation=metadata, 4 KiB clusters', options: 'preallocation=metadata,cluster_size=4096', cs: 4096, size: 16 * M, randomCount: 40 },
  { name: 'refcount_bits=1, 1 KiB clusters', options: 'refcount_bits=1,cluster_size=1024', cs: 1024, size: 16 * M, randomCount: 40 },
  { name: 'refcount_bits=64, 512-byte clusters', options: 'refcount_bits=64,cluster_size=512', cs: 512, size: 8 * M, randomCount: 60 },
];

describe.each(configs)('qcow2 read/write against qemu-img: $name', (cfg) => {
  it('keeps every write, stays clean for qemu-img check, and converts to the same bytes', async () => {
    const img = at(`rw-${cfg.cs}-${cfg.options.length}.qcow2`);
    const model = new ExpectedDisk(at(`rw-${cfg.cs}-${cfg.options.length}.expected`), cfg.size);
    qemuImg('create', '-q', '-f', 'qcow2', '-o', cfg.options, img, String(cfg.size));
    const plan = writePlan(cfg.cs, cfg.size, cfg.cs + cfg.options.length, cfg.randomCount);

    const disk = await openDiskImage(img, { format: 'qcow2', readOnly: false });
    expect(disk.format).toBe('qcow2');
    expect(disk.sectorCount).toBe(cfg.size / 512);
    for (const w of plan) {
      await disk.write(w.sector, w.data);
      model.write(w.sector, w.data);
    }
    await disk.flush();
    // Read back through the still-open image (caches warm)...
    for (const w of plan) {
      const got = new Uint8Array(w.data.length);
      await disk.read(w.sector, got);
      expectBytes(got, model.read(w.sector, w.data.length / 512), `read-back at sector ${w.sector}`);
    }
    await disk.close();

    // ...and after reopening read-only (caches cold), including a never-written area.
    const again = await openDiskImage(img, { readOnly: true });
    expect(again.format).toBe('qcow2');
    for (const w of plan) {
      const got = new Uint8Array(w.data.length + 1024);
      const first = Math.max(0, w.sector - 1);
      const count = Math.min(got.length / 512, cfg.size / 512 - first);
      await again.read(first, got.subarray(0, count * 512));
      expectBytes(got.subarray(0, count * 512), model.read(first, count), `reopened read at sector ${first}`);
    }
    const hole = new Uint8Array(8192);
    await again.read(cfg.size / 512 / 2 + 7, hole);
    expectBytes(hole, model.read(cfg.size / 512 / 2 + 7, 16), 'unwritten area');
    await again.close();
    model.close();

    expectClean(img);
    expect(sameContent(img, 'qcow2', model.path, 'raw')).toBe(true);
    if (cfg.size <= 64 * M) {
      const out = at(`rw-${cfg.cs}-${cfg.options.length}.converted`);
      qemuImg('convert', '-O', 'raw', img, out);
      expectBytes(readFileSync(out), readFileSync(model.path), 'qemu-img convert -O raw output');
    }
  });
});

describe('qcow2 refcount table growth', () => {
  it('moves the refcount table when the file outgrows it, and qemu-img agrees', async () => {
    // 512-byte clusters with 64-bit refcounts: a one-cluster refcount table covers only
    // 64 blocks x 64 clusters = 2 MiB of file.
    const img = at('grow.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=512,refcount_bits=64', img, '16M');
    const before = Number(Buffer.from(fileBytes(img, 56, 4)).readUInt32BE(0));
    const disk = await openDiskImage(img, { readOnly: false });
    const chunk = 64 * 1024;
    for (let i = 0; i < 48; i++) await disk.write((i * chunk) / 512, pattern(i, chunk));
    await disk.close();
    const after = Number(Buffer.from(fileBytes(img, 56, 4)).readUInt32BE(0));
    expect(before).toBe(1);
    expect(after).toBeGreaterThan(1);
    expectClean(img);
    const out = at('grow.raw');
    qemuImg('convert', '-O', 'raw', img, out);
    const raw = readFileSync(out);
    for (let i = 0; i < 48; i++) expectBytes(raw.subarray(i * chunk, (i + 1) * chunk), pattern(i, chunk), `chunk ${i}`);
    expect(raw.subarray(48 * chunk).every((b) => b === 0)).toBe(true);
  });
});

describe('qcow2 images written by qemu-io', () => {
  it('reads data, zero and compressed clusters, and copies on write into them', async () => {
    const img = at('qio.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', img, '4M');
    qemuIo(img, [
      'write -P 0xab 0 256k',
      'write -c -P 0xcd 256k 64k', // compressed
      'write -c -P 0xce 320k 64k', // compressed, sharing a host sector with the previous one
      'write -z 64k 64k', // zero cluster (keeps its allocation)
      'discard 128k 64k',
      'write -P 0x5a 1M 4k',
    ]);
    const disk = await openDiskImage(img, { readOnly: false });
    const all = new Uint8Array(1088 * 1024);
    await disk.read(0, all);
    const expected = new Uint8Array(all.length);
    expected.fill(0xab, 0, 256 * 1024);
    expected.fill(0, 64 * 1024, 192 * 1024);
    expected.fill(0xcd, 256 * 1024, 320 * 1024);
    expected.fill(0xce, 320 * 1024, 384 * 1024);
    expected.fill(0x5a, 1024 * 1024, 1028 * 1024);
    expectBytes(all, expected, 'image written by qemu-io');

    // Partial writes into a compressed cluster, a zero cluster and a discarded cluster.
    await disk.write(300 * 2, new Uint8Array(1024).fill(0x11));
    await disk.write(100 * 2, new Uint8Array(1024).fill(0x22));
    await disk.write(130 * 2, new Uint8Array(512).fill(0x33));
    await disk.close();
    expected.fill(0x11, 300 * 1024, 301 * 1024);
    expected.fill(0x22, 100 * 1024, 101 * 1024);
    expected.fill(0x33, 130 * 1024, 130 * 1024 + 512);
    expectClean(img);
    qemuIo(img, [
      'read -P 0xcd 256k 44k',
      'read -P 0x11 300k 1k',
      'read -P 0xcd 301k 19k',
      'read -P 0xce 320k 64k',
      'read -P 0 64k 36k',
      'read -P 0x22 100k 1k',
      'read -P 0 101k 27k',
      'read -P 0x33 130k 512',
    ]);
    const out = at('qio.raw');
    qemuImg('convert', '-O', 'raw', img, out);
    expectBytes(readFileSync(out).subarray(0, expected.length), expected, 'converted image');
  });

  it('reads an image qemu-img compressed as a whole (convert -c)', async () => {
    const src = at('forc.raw');
    const data = new Uint8Array(3 * M);
    for (let i = 0; i < data.length; i += 4096) data.set(pattern(i / 4096, 1024), i); // compressible
    writeFileSync(src, data);
    const img = at('forc.qcow2');
    qemuImg('convert', '-c', '-f', 'raw', '-O', 'qcow2', '-o', 'cluster_size=4096', src, img);
    const disk = await openDiskImage(img, { readOnly: true });
    const got = new Uint8Array(data.length);
    await disk.read(0, got);
    expectBytes(got, data, 'compressed image');
    await disk.close();
  });
});

describe('qcow2 backing files', () => {
  it('reads through a raw <- qcow2 <- qcow2 chain and copies on write into the top', async () => {
    const base = at('base.raw');
    const mid = at('mid.qcow2');
    const top = at('top.qcow2');
    qemuImg('create', '-q', '-f', 'raw', base, '2M'); // shorter than the images above it
    qemuIo(base, ['write -P 0x10 0 2M'], 'raw');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=65536', '-b', 'base.raw', '-F', 'raw', mid, '8M');
    qemuIo(mid, ['write -P 0x20 64k 64k', 'write -P 0x21 3M 64k']);
    // A relative backing name, resolved against the top image's directory; 4 KiB clusters so
    // top and mid clusters do not line up.
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', '-b', 'mid.qcow2', '-F', 'qcow2', top, '8M');
    qemuIo(top, ['write -P 0x30 8k 4k']);
    const baseSum = sha(base);
    const midSum = sha(mid);

    const expected = new Uint8Array(8 * M);
    expected.fill(0x10, 0, 2 * M);
    expected.fill(0x20, 64 * 1024, 128 * 1024);
    expected.fill(0x21, 3 * M, 3 * M + 64 * 1024);
    expected.fill(0x30, 8 * 1024, 12 * 1024);

    const disk = await openDiskImage(top, { readOnly: false });
    const got = new Uint8Array(8 * M);
    await disk.read(0, got);
    expectBytes(got, expected, 'chain read');

    // Partial-cluster writes: the rest of each cluster must come from below.
    const writes: [number, Uint8Array][] = [
      [66 * 2, pattern(1, 1024)], // inside mid's 0x20 area
      [512 * 2 + 1, pattern(2, 512)], // inside base's area
      [3 * 2048 + 7, pattern(3, 2048)], // mid's 0x21 area, crossing a 4 KiB cluster boundary
      [6 * 2048, pattern(4, 1536)], // beyond the end of base: zeros below
      [16 * 2, pattern(5, 512)], // already in top
    ];
    for (const [s, d] of writes) {
      await disk.write(s, d);
      expected.set(d, s * 512);
    }
    await disk.flush();
    await disk.read(0, got);
    expectBytes(got, expected, 'chain read after writes');
    await disk.close();

    expect(sha(base)).toBe(baseSum);
    expect(sha(mid)).toBe(midSum);
    expectClean(top);
    const out = at('top.raw');
    qemuImg('convert', '-O', 'raw', top, out);
    expectBytes(readFileSync(out), expected, 'converted chain');
  });

  it('refuses to follow a backing file when told not to (a probed file: disk)', async () => {
    const base = at('probe-base.raw');
    writeFileSync(base, new Uint8Array(1 << 20));
    const top = at('probe-top.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', base, '-F', 'raw', top, '1M');
    await rejects(openDiskImage(top, { readOnly: true, backing: false }), 'EACCES', /backing file .*probe-base\.raw.*tap:qcow2:/);
    const img = await openDiskImage(top, { readOnly: true });
    expect(img.format).toBe('qcow2');
    await img.close();
  });

  it('refuses a missing backing file and a backing loop, naming them', async () => {
    const lonely = at('lonely.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-u', '-b', 'gone.qcow2', '-F', 'qcow2', lonely, '1M');
    await rejects(openDiskImage(lonely, { readOnly: true }), 'ENOENT', /backing file .*gone\.qcow2/);

    const a = at('loop-a.qcow2');
    const b = at('loop-b.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', b, '1M');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', 'loop-b.qcow2', '-F', 'qcow2', a, '1M');
    qemuImg('rebase', '-u', '-f', 'qcow2', '-b', 'loop-a.qcow2', '-F', 'qcow2', b);
    await rejects(openDiskImage(a, { readOnly: true }), 'ECORRUPT', /loops back/);
  });
});

describe('qcow2 internal snapshots', () => {
  it('copies shared clusters and L2 tables on write, leaving the snapshot intact', async () => {
    const img = at('snap.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', img, '8M');
    qemuIo(img, ['write -P 0x41 0 1M', 'write -P 0x42 3M 512k']);
    const before = at('snap-before.raw');
    qemuImg('convert', '-O', 'raw', img, before);
    qemuImg('snapshot', '-c', 's1', img);

    const expected = readFileSync(before);
    const disk = await openDiskImage(img, { readOnly: false });
    const writes: [number, Uint8Array][] = [
      [9, pattern(11, 1024)], // partial, shared data cluster and shared L2 table
      [64, pattern(12, 4096)], // a whole shared cluster
      [6 * 2048, pattern(13, 8192)], // unallocated area
    ];
    for (const [s, d] of writes) {
      await disk.write(s, d);
      expected.set(d, s * 512);
    }
    await disk.discard(3 * 2048, 256 * 2); // drops shared clusters' active references
    expected.fill(0, 3 * M, 3 * M + 256 * 1024);
    await disk.close();

    expectClean(img);
    const s1 = at('snap-s1.raw');
    qemuImg('convert', '-l', 'snapshot.name=s1', '-O', 'raw', img, s1);
    expectBytes(readFileSync(s1), readFileSync(before), 'snapshot s1 content');
    const active = at('snap-active.raw');
    qemuImg('convert', '-O', 'raw', img, active);
    expectBytes(readFileSync(active), expected, 'active content');
    // Deleting the snapshot only works out if our refcounts were right.
    qemuImg('snapshot', '-d', 's1', img);
    expectClean(img);
  });
});

describe('qcow2 dirty images (lazy refcounts)', () => {
  it('reads a dirty image read-only, and rebuilds refcounts when opened read-write', async () => {
    const img = at('dirty.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'lazy_refcounts=on', img, '64M');
    // qemu-io dies by SIGKILL with the image open: dirty bit set, refcounts never written.
    // (The same recipe as QEMU's iotest 039.)
    const r = spawnSync('qemu-io', ['-c', 'write -P 0x5a 0 128k', '-c', 'write -P 0x6b 1M 64k', '-c', 'sigraise 9', img]);
    expect(r.signal).toBe('SIGKILL');
    expect(headerU64(img, 72) & 1n).toBe(1n);
    expect(qemuCheck(img).corruptions).toBeGreaterThan(0);

    const ro = await openDiskImage(img, { readOnly: true });
    const b = new Uint8Array(512);
    await ro.read(2048, b);
    expect(b.every((x) => x === 0x6b)).toBe(true);
    await ro.close();
    expect(headerU64(img, 72) & 1n).toBe(1n);

    const rw = await openDiskImage(img, { readOnly: false });
    expect(headerU64(img, 72) & 1n).toBe(0n);
    await rw.write(4096, pattern(7, 8192));
    await rw.close();
    expectClean(img);
    qemuIo(img, ['read -P 0x5a 0 128k', 'read -P 0x6b 1M 64k']);
    const out = at('dirty.raw');
    qemuImg('convert', '-O', 'raw', img, out);
    expectBytes(fileBytes(out, 4096 * 512, 8192), pattern(7, 8192), 'write after repair');
  });
});

describe('qcow2 discard', () => {
  it('frees whole clusters for reuse, reads them as zeros, and stays clean', async () => {
    const img = at('discard.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', img, '16M');
    const disk = await openDiskImage(img, { readOnly: false });
    for (let i = 0; i < 64; i++) await disk.write(i * 8, pattern(i, 4096));
    await disk.flush();
    const sizeFull = statSync(img).size;
    // Sectors 4..(32*8+4): whole clusters 1..31 go, the partial first cluster stays.
    await disk.discard(4, 32 * 8);
    const got = new Uint8Array(4096);
    await disk.read(8, got);
    expect(got.every((x) => x === 0)).toBe(true);
    await disk.read(0, got);
    expectBytes(got, pattern(0, 4096), 'partially discarded cluster is kept');
    await disk.read(32 * 8, got);
    expectBytes(got, pattern(32, 4096), 'cluster after the range is kept');
    // New data reuses the 31 freed clusters instead of growing the file: 29 data clusters plus
    // two new L2 tables (the writes straddle the 4 MiB L2 boundary).
    for (let i = 0; i < 29; i++) await disk.write((1000 + i) * 8, pattern(100 + i, 4096));
    await disk.close();
    expect(statSync(img).size).toBe(sizeFull);
    expectClean(img);
    qemuIo(img, ['read -P 0 4k 124k']);
  });

  it('with a backing file, discarded clusters read as zeros (v3) instead of showing the backing data', async () => {
    const base = at('dbase.qcow2');
    const top = at('dtop.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', base, '1M');
    qemuIo(base, ['write -P 0x77 0 1M']);
    qemuImg('create', '-q', '-f', 'qcow2', '-b', 'dbase.qcow2', '-F', 'qcow2', top, '1M');
    const disk = await openDiskImage(top, { readOnly: false });
    await disk.write(0, pattern(1, 128 * 1024));
    await disk.discard(0, 256);
    const got = new Uint8Array(128 * 1024);
    await disk.read(0, got);
    expect(got.every((x) => x === 0)).toBe(true);
    await disk.close();
    expectClean(top);
  });
});

describe('qcow2 refusals and errors', () => {
  it('refuses encrypted images and unsupported incompatible features, naming them', async () => {
    const luks = at('luks.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '--object', 'secret,id=sec0,data=123456', '-o', 'encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10', luks, '1M');
    await rejects(openDiskImage(luks, { readOnly: true }), 'EUNSUPPORTED', /encrypted.*LUKS/);
    const aes = at('aes.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '--object', 'secret,id=sec0,data=123456', '-o', 'encryption=on,encrypt.key-secret=sec0', aes, '1M');
    await rejects(openDiskImage(aes, { readOnly: true }), 'EUNSUPPORTED', /encrypted.*AES/);

    const extl2 = at('extl2.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'extended_l2=on', extl2, '1M');
    await rejects(openDiskImage(extl2, { readOnly: true }), 'EUNSUPPORTED', /bit 4 \(extended L2 entries\)/);
    const datafile = at('datafile.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', `data_file=${at('datafile.data')}`, datafile, '1M');
    await rejects(openDiskImage(datafile, { readOnly: true }), 'EUNSUPPORTED', /bit 2 \(external data file\)/);
    const zstd = at('zstd.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'compression_type=zstd', zstd, '1M');
    await rejects(openDiskImage(zstd, { readOnly: true }), 'EUNSUPPORTED', /bit 3 \(compression type\)/);

    const unknown = at('unknown-bit.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', unknown, '1M');
    patchU64(unknown, 72, 1n << 40n);
    await rejects(openDiskImage(unknown, { readOnly: true }), 'EUNSUPPORTED', /bit 40 \(unknown\)/);
  });

  it('opens an image marked corrupt only read-only', async () => {
    const img = at('corrupt-bit.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', img, '1M');
    qemuIo(img, ['write -P 0x99 0 4k']);
    patchU64(img, 72, 2n);
    await rejects(openDiskImage(img, { readOnly: false }), 'ECORRUPT', /bit 1 \(corrupt\)/);
    const ro = await openDiskImage(img, { readOnly: true });
    const b = new Uint8Array(4096);
    await ro.read(0, b);
    expect(b.every((x) => x === 0x99)).toBe(true);
    await ro.close();
  });

  it('gives clear open errors for missing, foreign, truncated and malformed files', async () => {
    await rejects(openDiskImage(at('nope.qcow2'), { format: 'qcow2', readOnly: true }), 'ENOENT', /nope\.qcow2/);
    const notq = at('plain.bin');
    writeFileSync(notq, Buffer.alloc(65536, 1));
    await rejects(openDiskImage(notq, { format: 'qcow2', readOnly: true }), 'EFORMAT', /not a qcow2 image/);
    const short = at('short.qcow2');
    writeFileSync(short, Buffer.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3, 0, 0]));
    await rejects(openDiskImage(short, { readOnly: true }), 'ECORRUPT', /too short/);

    const base = at('hdr.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', base, '1M');
    const v4 = at('v4.qcow2');
    copyFileSync(base, v4);
    patchU32(v4, 4, 4);
    await rejects(openDiskImage(v4, { readOnly: true }), 'EUNSUPPORTED', /version 4/);
    const bigc = at('bigcluster.qcow2');
    copyFileSync(base, bigc);
    patchU32(bigc, 20, 30);
    await rejects(openDiskImage(bigc, { readOnly: true }), 'EUNSUPPORTED', /cluster_bits 30/);
    const badl1 = at('badl1.qcow2');
    copyFileSync(base, badl1);
    patchU64(badl1, 40, 12345n);
    await rejects(openDiskImage(badl1, { readOnly: true }), 'ECORRUPT', /L1 table offset 12345/);
    const smalll1 = at('smalll1.qcow2');
    copyFileSync(base, smalll1);
    patchU64(smalll1, 24, 1n << 40n); // virtual size the one-entry L1 cannot map
    await rejects(openDiskImage(smalll1, { readOnly: true }), 'ECORRUPT', /cannot map/);
  });

  it('refuses to write a data cluster over metadata and marks the image corrupt', async () => {
    const img = at('overlap.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', img, '1M');
    qemuIo(img, ['write -P 0x12 0 64k']);
    // Point guest cluster 0 at the L1 table's cluster.
    const l1 = headerU64(img, 40);
    const l2 = headerU64(img, Number(l1)) & 0x00fffffffffffe00n;
    patchU64(img, Number(l2), l1 | (1n << 63n));
    const disk = await openDiskImage(img, { readOnly: false });
    await rejects(disk.write(0, new Uint8Array(512).fill(1)), 'ECORRUPT', /metadata/);
    await rejects(disk.write(2048, new Uint8Array(512).fill(1)), 'ECORRUPT', /writes are refused/);
    await disk.close();
    expect(headerU64(img, 72) & 2n).toBe(2n);
    expect(qemuImg('info', img)).toMatch(/corrupt: true/);
  });

  it('read-only images refuse writes and discards and stay unchanged', async () => {
    const img = at('ro.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', img, '1M');
    qemuIo(img, ['write -P 0x44 0 64k']);
    const sum = sha(img);
    const disk = await openDiskImage(img, { readOnly: true });
    expect(disk.readOnly).toBe(true);
    await rejects(disk.write(0, new Uint8Array(512)), 'EROFS');
    await rejects(disk.discard(0, 128), 'EROFS');
    await disk.flush();
    await disk.close();
    expect(sha(img)).toBe(sum);
  });

  it('refuses requests beyond the end of the disk and malformed requests', async () => {
    const img = at('range.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', img, '1M');
    const disk = await openDiskImage(img, { readOnly: false });
    expect(disk.sectorCount).toBe(2048);
    await rejects(disk.read(2047, new Uint8Array(1024)), 'ERANGE', /\[2047, 2049\).*2048 sectors/);
    await rejects(disk.write(2048, new Uint8Array(512)), 'ERANGE');
    await rejects(disk.discard(2000, 49), 'ERANGE');
    await rejects(disk.write(0, new Uint8Array(100)), 'EINVAL', /multiple of 512/);
    await rejects(disk.read(-1, new Uint8Array(512)), 'EINVAL');
    await rejects(disk.read(1.5, new Uint8Array(512)), 'EINVAL');
    await rejects(disk.read(2n ** 64n, new Uint8Array(512)), 'EINVAL');
    // bigint sectors, as read from a ring, work; the last sector is in range.
    await disk.write(2047n, pattern(3, 512));
    const b = new Uint8Array(512);
    await disk.read(2047n, b);
    expectBytes(b, pattern(3, 512), 'last sector');
    await disk.close();
    await rejects(disk.read(0, b), 'ECLOSED');
    expectClean(img);
  });

  it('runs concurrent requests in submission order', async () => {
    const img = at('concurrent.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', img, '4M');
    const disk: DiskImage = await openDiskImage(img, { readOnly: false });
    const reads: Promise<Uint8Array>[] = [];
    const pending: Promise<void>[] = [];
    for (let i = 0; i < 40; i++) {
      // Overlapping writes: each later one partly covers the previous.
      pending.push(disk.write(i * 4, pattern(i, 4096)));
      const buf = new Uint8Array(512);
      reads.push(disk.read(i * 4, buf).then(() => buf));
    }
    pending.push(disk.flush());
    await Promise.all(pending);
    const seen = await Promise.all(reads);
    seen.forEach((b, i) => expectBytes(b, pattern(i, 512), `read ${i} sees write ${i}`));
    await disk.close();
    expectClean(img);
  });
});
