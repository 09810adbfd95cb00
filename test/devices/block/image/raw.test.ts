import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { openDiskImage, probeFormat, DiskImageError } from '../../../../src/devices/block/image/index.js';
import { expectBytes, fileBytes, makeTmpDir, pattern, prng, qemuImg, sha } from './helpers.js';

const tmp = makeTmpDir('raw');
afterAll(() => tmp.cleanup());
const at = (name: string): string => join(tmp.dir, name);

async function rejects(p: Promise<unknown>, code: string, text?: RegExp): Promise<void> {
  const err = await p.then(
    () => expect.fail(`expected a ${code} rejection`),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DiskImageError);
  expect((err as DiskImageError).code, (err as Error).message).toBe(code);
  if (text) expect((err as Error).message).toMatch(text);
}

/** Bytes the file system has actually allocated for a file. */
const allocated = (path: string): number => statSync(path).blocks * 512;

describe('raw images', () => {
  it('writes land at sector*512 in the file and read back, scattered and unaligned to 4 KiB', async () => {
    const img = at('scatter.img');
    qemuImg('create', '-q', '-f', 'raw', img, '64M');
    const disk = await openDiskImage(img, { format: 'raw', readOnly: false });
    expect(disk.format).toBe('raw');
    expect(disk.sectorCount).toBe(131072);
    const r = prng(5);
    const writes: [number, Uint8Array][] = [];
    for (let i = 0; i < 50; i++) {
      const n = 1 + Math.floor(r() * 40);
      writes.push([Math.floor(r() * (131072 - n)), pattern(i + 1, n * 512)]);
    }
    writes.push([131071, pattern(99, 512)]); // last sector
    for (const [s, d] of writes) await disk.write(s, d);
    await disk.flush();
    // Later writes win where they overlap; the file itself is the reference.
    const model = new Uint8Array(64 * 1024 * 1024);
    for (const [s, d] of writes) model.set(d, s * 512);
    for (const [s, d] of writes) {
      const got = new Uint8Array(d.length);
      await disk.read(s, got);
      expectBytes(got, model.subarray(s * 512, s * 512 + d.length), `read at ${s}`);
    }
    await disk.close();
    expectBytes(readFileSync(img), model, 'file content');
  });

  it('keeps sparse files sparse: no zero-filling, zero writes to holes allocate nothing', async () => {
    const img = at('sparse.img');
    qemuImg('create', '-q', '-f', 'raw', img, '1G');
    // qemu-img allocates the first block of a new raw file (file-posix allocate_first_block).
    const initial = allocated(img);
    expect(initial).toBeLessThanOrEqual(4096);
    const disk = await openDiskImage(img, { readOnly: false });
    for (let i = 0; i < 10; i++) await disk.write(i * 200_000 + 3, pattern(i, 8192));
    await disk.flush();
    const afterData = allocated(img);
    // Ten 8 KiB writes, each touching at most three 4 KiB blocks (plus slack for fs metadata).
    expect(afterData - initial).toBeGreaterThanOrEqual(10 * 8192);
    expect(afterData - initial).toBeLessThanOrEqual(10 * 3 * 4096 + 64 * 1024);

    // A guest zeroing 4 MiB of never-written disk (mkfs, dd if=/dev/zero) changes nothing.
    await disk.write(1_000_000, new Uint8Array(4 * 1024 * 1024));
    await disk.flush();
    expect(allocated(img)).toBe(afterData);

    // Zeros over real data are written, of course.
    await disk.write(3, new Uint8Array(8192));
    const back = new Uint8Array(8192);
    await disk.read(3, back);
    expect(back.every((b) => b === 0)).toBe(true);
    expect(fileBytes(img, 3 * 512, 8192).every((b) => b === 0)).toBe(true);
    // A request mixing zeros and data writes the data and keeps the rest right.
    const mixed = new Uint8Array(16384);
    mixed.set(pattern(77, 512), 8192 + 512);
    await disk.write(600_003, mixed);
    const got = new Uint8Array(16384);
    await disk.read(600_003, got);
    expectBytes(got, mixed, 'mixed zero/data request');
    await disk.close();
  });

  it('uses whole sectors of a file whose size is not a multiple of 512', async () => {
    const img = at('odd.img');
    writeFileSync(img, Buffer.alloc(512 * 3 + 100, 0x61));
    const disk = await openDiskImage(img, { readOnly: false });
    expect(disk.sectorCount).toBe(3);
    await rejects(disk.read(3, new Uint8Array(512)), 'ERANGE');
    await disk.write(2, pattern(4, 512));
    await disk.close();
    expect(statSync(img).size).toBe(512 * 3 + 100);
    expectBytes(fileBytes(img, 1536, 100), new Uint8Array(100).fill(0x61), 'tail beyond the last sector');
  });

  it('read-only opening refuses writes and discards and leaves the file alone', async () => {
    const img = at('ro.img');
    writeFileSync(img, pattern(8, 1024 * 1024));
    const sum = sha(img);
    const disk = await openDiskImage(img, { format: 'raw', readOnly: true });
    expect(disk.readOnly).toBe(true);
    await rejects(disk.write(0, new Uint8Array(512)), 'EROFS', /read-only/);
    await rejects(disk.discard(0, 8), 'EROFS');
    const b = new Uint8Array(1024);
    await disk.read(0, b);
    expectBytes(b, pattern(8, 1024), 'read-only read');
    await disk.flush();
    await disk.close();
    expect(sha(img)).toBe(sum);
  });

  it('refuses out-of-range and malformed requests; discard in range succeeds', async () => {
    const img = at('range.img');
    qemuImg('create', '-q', '-f', 'raw', img, '1M');
    const disk = await openDiskImage(img, { readOnly: false });
    await rejects(disk.read(2047, new Uint8Array(1024)), 'ERANGE', /\[2047, 2049\)/);
    await rejects(disk.write(2048, new Uint8Array(512)), 'ERANGE');
    await rejects(disk.discard(2040, 9), 'ERANGE');
    await rejects(disk.write(0, new Uint8Array(513)), 'EINVAL', /multiple of 512/);
    await rejects(disk.read(-3, new Uint8Array(512)), 'EINVAL');
    await rejects(disk.read(Number.NaN, new Uint8Array(512)), 'EINVAL');
    await disk.write(5n, pattern(1, 512));
    await disk.discard(0n, 2048n);
    await disk.flush();
    await disk.close();
    await rejects(disk.read(0, new Uint8Array(512)), 'ECLOSED');
  });

  it('gives clear open errors', async () => {
    await rejects(openDiskImage(at('missing.img'), { format: 'raw', readOnly: true }), 'ENOENT', /missing\.img/);
    await rejects(openDiskImage(at('missing.img'), { readOnly: true }), 'ENOENT', /missing\.img/);
    mkdirSync(at('adir'));
    await rejects(openDiskImage(at('adir'), { format: 'raw', readOnly: true }), 'EINVAL', /directory/);
    const fifo = at('fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    await rejects(openDiskImage(fifo, { format: 'raw', readOnly: true }), 'EINVAL', /not a regular file or block device/);
    await rejects(openDiskImage(at('x'), { format: 'vmdk' as 'raw', readOnly: true }), 'EINVAL', /unknown format "vmdk"/);
    await rejects(openDiskImage(at('x'), {} as { readOnly: boolean }), 'EINVAL', /readOnly/);
  });
});

describe('format probing', () => {
  it('probes qcow2 by its magic and anything else as raw', async () => {
    const q = at('probe.qcow2');
    const r = at('probe.raw');
    qemuImg('create', '-q', '-f', 'qcow2', q, '1M');
    qemuImg('create', '-q', '-f', 'raw', r, '1M');
    expect(await probeFormat(q)).toBe('qcow2');
    expect(await probeFormat(r)).toBe('raw');
    const dq = await openDiskImage(q, { readOnly: true });
    expect(dq.format).toBe('qcow2');
    expect(dq.sectorCount).toBe(2048);
    await dq.close();
    // Named explicitly as raw, a qcow2 file is just bytes.
    const asRaw = await openDiskImage(q, { format: 'raw', readOnly: true });
    expect(asRaw.format).toBe('raw');
    await asRaw.close();
  });

  it('a probed raw image cannot be turned into a qcow2 header by the guest', async () => {
    const r = at('guard.raw');
    qemuImg('create', '-q', '-f', 'raw', r, '1M');
    const evil = new Uint8Array(512);
    evil.set([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]);
    const probed = await openDiskImage(r, { readOnly: false });
    await rejects(probed.write(0, evil), 'EACCES', /qcow2 header/);
    await probed.write(1, evil); // elsewhere it is ordinary data
    await probed.close();
    expect(await probeFormat(r)).toBe('raw');
    const named = await openDiskImage(r, { format: 'raw', readOnly: false });
    await named.write(0, evil);
    await named.close();
    expect(await probeFormat(r)).toBe('qcow2');
  });
});

describe('raw block devices', () => {
  const loopOk =
    process.getuid?.() === 0 && existsSync('/dev/loop-control') && spawnSync('losetup', ['--version']).status === 0;
  it.skipIf(!loopOk)('sizes a loop device from sysfs and reads/writes through it', async () => {
    const backing = at('loop-backing.img');
    writeFileSync(backing, Buffer.alloc(3 * 1024 * 1024));
    const attach = spawnSync('losetup', ['-f', '--show', backing], { encoding: 'utf8' });
    expect(attach.status, `losetup: ${attach.stderr}`).toBe(0);
    const dev = attach.stdout.trim();
    try {
      const disk = await openDiskImage(dev, { format: 'raw', readOnly: false });
      expect(disk.sectorCount).toBe(6144);
      await disk.write(100, pattern(3, 4096));
      await disk.flush();
      const b = new Uint8Array(4096);
      await disk.read(100, b);
      expectBytes(b, pattern(3, 4096), 'loop device read');
      await rejects(disk.read(6144, b.subarray(0, 512)), 'ERANGE');
      await disk.close();
    } finally {
      spawnSync('losetup', ['-d', dev]);
    }
    expectBytes(fileBytes(backing, 100 * 512, 4096), pattern(3, 4096), 'data in the backing file');
  });
});
