// The ext2/3/4 reader against file systems made by mke2fs -d: block sizes 1K-4K, inode sizes
// 128-1024, 32- and 64-bit group descriptors, meta_bg, block maps up to triple indirect, extent
// trees deeper than the inode, fast/slow/relative symlinks, htree directories (e2fsck -D); then
// hostile images, which must fail fast with a message naming the structure.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { copyFileSync, truncateSync } from 'node:fs';
import { openDiskImage } from '../../../src/devices/block/image/index.js';
import { off } from '../../../src/hypervisor/abi/layout.js';
import { ExtFs } from '../../../src/dom0/pygrub/ext-fs.js';
import { diskSource } from '../../../src/dom0/pygrub/source.js';
import type { PygrubError } from '../../../src/dom0/pygrub/errors.js';
import { DIR_ENTRY, EXTENT_HEADER, EXTENT_INDEX, GROUP_DESC, INODE, SUPERBLOCK } from '../../../src/dom0/pygrub/ext-layout.js';
import { GPT_ENTRY, GPT_HEADER, GPT_HEADER_SIZE, MBR_ENTRY } from '../../../src/dom0/pygrub/partition-layout.js';
import { bytes, debugfs, debugfsScript, pygrubError, makeTmpDir, mkfs, patch, readAt, run, writeTree, type TreeNode } from './helpers.js';

const tmp = makeTmpDir('pygrub-ext');
afterAll(() => tmp.cleanup());

async function withFs<T>(image: string, f: (fs: ExtFs) => Promise<T>): Promise<T> {
  const disk = await openDiskImage(image, { readOnly: true, format: 'raw' });
  try {
    return await f(await ExtFs.open(diskSource(disk, image.split('/').pop() as string)));
  } finally {
    await disk.close();
  }
}

function fsError(image: string, f: (fs: ExtFs) => Promise<unknown> = async () => undefined): Promise<PygrubError> {
  return pygrubError(() => withFs(image, f));
}

const islands = (label: string, n: number, stride: number, len: number): Array<[number, Buffer]> =>
  Array.from({ length: n }, (_, i) => [i * stride, bytes(`${label}${i}`, len)] as [number, Buffer]);

function expected(node: TreeNode): Buffer {
  if (typeof node === 'string') return Buffer.from(node);
  if (Buffer.isBuffer(node)) return node;
  if ('symlink' in node) throw new Error('symlink');
  const out = Buffer.alloc(node.sparse);
  for (const [at, data] of node.at) data.copy(out, at);
  return out;
}

// Names of 40 characters so 300 of them need several directory blocks, and e2fsck -D indexes them.
const manyNames = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`many/file-${String(i).padStart(4, '0')}-${'x'.repeat(26)}`, `n${i}`]));

const TREE: Record<string, TreeNode> = {
  'boot/small': 'hello',
  'boot/thirteen': bytes('thirteen', 13 * 1024 + 5), // past the 12 direct blocks at 1K
  'boot/vmlinuz-6.1.0-18-cloud-amd64': bytes('kernel', 300 * 1024 + 17), // double indirect at 1K
  // >4 extents: a depth-1 tree. It ends with data: mke2fs -d -O inline_data drops a trailing hole.
  'boot/frag': { sparse: 11 * 80 * 1024 + 5000, at: islands('frag', 12, 80 * 1024, 5000) },
  'vmlinuz': { symlink: 'boot/vmlinuz-6.1.0-18-cloud-amd64' }, // fast, relative
  'boot/long': { symlink: `/boot/${'d/'.repeat(0)}${'s'.repeat(70)}` }, // slow (>= 60 bytes)
  [`boot/${'s'.repeat(70)}`]: 'slow target',
  'boot/up': { symlink: '../boot/./small' },
  'boot/dirlink': { symlink: '/boot' },
  // Small enough to be inline with inline_data: a directory, a 100-byte file (i_block + xattr).
  'tiny/dir/hello': 'inline',
  'tiny/dir/up': { symlink: '../../boot/small' },
  'tiny/med': 'm'.repeat(100),
  ...manyNames,
};

interface Variant {
  name: string;
  type: 'ext2' | 'ext3' | 'ext4';
  opts: string[];
}
const VARIANTS: Variant[] = [
  { name: 'ext2, 1K blocks, 128-byte inodes', type: 'ext2', opts: ['-b', '1024', '-I', '128'] },
  { name: 'ext3, 1K blocks', type: 'ext3', opts: ['-b', '1024'] },
  { name: 'ext4, 4K blocks, 64-bit descriptors, metadata_csum', type: 'ext4', opts: [] },
  { name: 'ext4 without extents (block maps), 1K blocks', type: 'ext4', opts: ['-b', '1024', '-O', '^extent,^64bit'] },
  { name: 'ext4, 32-bit descriptors, 2K blocks, 1024-byte inodes', type: 'ext4', opts: ['-b', '2048', '-I', '1024', '-O', '^64bit'] },
  { name: 'ext4 with meta_bg, 1K blocks', type: 'ext4', opts: ['-b', '1024', '-O', 'meta_bg,^resize_inode'] },
  { name: 'ext4 with inline_data', type: 'ext4', opts: ['-O', 'inline_data'] },
];

describe('ext2/3/4 reader on mke2fs -d images', () => {
  const src = join(tmp.dir, 'tree');
  beforeAll(() => writeTree(src, TREE));

  it('structure layouts match the documented offsets', () => {
    expect(off(SUPERBLOCK, 's_magic')).toBe(0x38);
    expect(off(SUPERBLOCK, 's_feature_incompat')).toBe(0x60);
    expect(off(SUPERBLOCK, 's_desc_size')).toBe(0xfe);
    expect(off(SUPERBLOCK, 's_first_meta_bg')).toBe(0x104);
    expect(off(SUPERBLOCK, 's_blocks_count_hi')).toBe(0x150);
    expect(off(GROUP_DESC, 'bg_inode_table_hi')).toBe(0x28);
    expect(off(INODE, 'i_block')).toBe(0x28);
    expect(off(INODE, 'i_size_high')).toBe(0x6c);
    expect(INODE.size).toBe(128);
    expect(EXTENT_HEADER.size).toBe(12);
    expect(MBR_ENTRY.size).toBe(16);
    expect([off(GPT_HEADER, 'entries_lba'), off(GPT_HEADER, 'entry_count'), off(GPT_HEADER, 'entries_crc32'), GPT_HEADER_SIZE]).toEqual([72, 80, 88, 92]);
    expect([off(GPT_ENTRY, 'first_lba'), GPT_ENTRY.size]).toEqual([32, 128]);
  });

  for (const v of VARIANTS) {
    it(v.name, async () => {
      const img = join(tmp.dir, `${v.name.replace(/\W+/g, '-')}.img`);
      mkfs(img, v.type, src, '24M', v.opts);
      run('e2fsck', ['-fyD', img]); // index the big directory (htree), as a long-lived system has
      await withFs(img, async (fs) => {
        for (const [path, node] of Object.entries(TREE)) {
          if (typeof node === 'object' && !Buffer.isBuffer(node) && 'symlink' in node) continue;
          if (path.startsWith('many/') && !path.endsWith('0299-' + 'x'.repeat(26)) && !path.includes('0000')) continue;
          expect((await fs.readFile(`/${path}`, 1 << 30))?.equals(expected(node)), path).toBe(true);
        }
        expect((await fs.readFile('/vmlinuz', 1 << 30))?.equals(expected(TREE['boot/vmlinuz-6.1.0-18-cloud-amd64']))).toBe(true);
        expect((await fs.readFile('/boot/long', 100))?.toString()).toBe('slow target');
        expect((await fs.readFile('/boot/up', 100))?.toString()).toBe('hello');
        expect((await fs.readFile('/boot/dirlink/dirlink/small', 100))?.toString()).toBe('hello');
        expect((await fs.readFile('/tiny/dir/up', 100))?.toString()).toBe('hello');
        expect(await fs.readFile('/boot/nope', 100)).toBeNull();
        expect(await fs.readFile('/boot/small/under-a-file', 100)).toBeNull();
        await expect(fs.readFile('/boot', 100)).rejects.toThrow(/\/boot is not a regular file \(dir\)/);
        await expect(fs.readFile('/boot/thirteen', 1000)).rejects.toThrow(/more than the 1000-byte limit/);
      });
      if (v.type === 'ext4' && !v.opts.includes('^extent,^64bit')) {
        expect(debugfs(img, 'ex /boot/frag')).toMatch(/^\s*0\/\s*1\s/m); // really a depth-1 tree
      }
      expect(debugfs(img, 'htree /many')).not.toMatch(/Not a hash-indexed directory/);
      if (v.opts.includes('inline_data')) {
        expect(debugfs(img, 'stat /tiny/dir')).toMatch(/Flags: 0x10000000/);
        expect(debugfs(img, 'stat /tiny/med')).toMatch(/Size of inline data: 100/);
      }
    });
  }

  it('triple-indirect blocks (1K blocks, a 70 MiB sparse file)', async () => {
    const dir = join(tmp.dir, 'tind');
    const size = 70 << 20;
    const tail = bytes('tail', 3000);
    writeTree(dir, { big: { sparse: size, at: [[size - tail.length, tail], [0, bytes('head', 100)]] } });
    const img = join(tmp.dir, 'tind.img');
    mkfs(img, 'ext2', dir, '4M', ['-b', '1024']);
    expect(debugfs(img, 'stat /big')).toMatch(/\(TIND\)/);
    await withFs(img, async (fs) => {
      const data = await fs.readFile('/big', 128 << 20);
      expect(data?.length).toBe(size);
      expect(data?.subarray(size - tail.length).equals(tail)).toBe(true);
      expect(data?.subarray(0, 100).equals(bytes('head', 100))).toBe(true);
    });
  });
});

describe('hostile ext images fail fast and say why', () => {
  const src = join(tmp.dir, 'hostile-tree');
  const base = join(tmp.dir, 'hostile-base.img');
  const base1k = join(tmp.dir, 'hostile-base-1k.img');
  beforeAll(() => {
    writeTree(src, { 'boot/grub/grub.cfg': 'x', 'boot/kernel': bytes('k', 40000), 'boot/frag': { sparse: 1 << 20, at: islands('f', 10, 64 * 1024, 3000) } });
    mkfs(base, 'ext4', src, '8M', ['-b', '4096']);
    mkfs(base1k, 'ext2', src, '8M', ['-b', '1024']);
  });
  const copy = (name: string, from = base): string => {
    const p = join(tmp.dir, name);
    copyFileSync(from, p);
    return p;
  };

  it('no file system at all, and a corrupt superblock', async () => {
    const blank = join(tmp.dir, 'blank.img');
    run('truncate', ['-s', '4M', blank]);
    expect((await fsError(blank)).message).toMatch(/blank\.img: no ext2\/3\/4 file system \(superblock magic 0x0/);
    const bad = copy('badsb.img');
    patch(bad, 1024 + off(SUPERBLOCK, 's_log_block_size'), [40, 0, 0, 0]);
    expect((await fsError(bad)).message).toMatch(/corrupt superblock: s_log_block_size 40/);
    const badIpg = copy('badipg.img');
    patch(badIpg, 1024 + off(SUPERBLOCK, 's_inodes_per_group'), [0xff, 0xff, 0xff, 0x7f]);
    expect((await fsError(badIpg)).message).toMatch(/corrupt superblock: \d+ inodes per group/);
    const feat = copy('feature.img');
    const incompat = readAt(feat, 1024 + off(SUPERBLOCK, 's_feature_incompat'), 4).readUInt32LE(0);
    patch(feat, 1024 + off(SUPERBLOCK, 's_feature_incompat'), Buffer.from(new Uint32Array([incompat | 0x1000000]).buffer));
    expect((await fsError(feat)).code).toBe('EUNSUPPORTED');
  });

  it('a truncated image', async () => {
    const t = copy('trunc.img');
    truncateSync(t, 3 << 20);
    const err = await fsError(t);
    expect(err.message).toMatch(/truncated image\?/);
  });

  it('an extent header claiming 65535 entries, and a tree deeper than Linux allows', async () => {
    const huge = copy('huge-extents.img');
    debugfs(huge, 'sif /boot/kernel block[0] 0xfffff30a', true); // eh_entries 0xffff, magic
    const t0 = Date.now();
    expect((await fsError(huge, (fs) => fs.readFile('/boot/kernel', 1 << 20))).message).toMatch(/inode \d+: extent root: extent node claims 65535 of \d+ entries/);
    const deep = copy('deep-extents.img');
    debugfs(deep, 'sif /boot/frag block[1] 0x00090004', true); // eh_max 4, eh_depth 9
    expect((await fsError(deep, (fs) => fs.readFile('/boot/frag', 1 << 20))).message).toMatch(/extent tree depth 9 exceeds 5/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('an extent child pointing back at its parent (a loop) or outside the file system', async () => {
    const loop = copy('extent-loop.img');
    // /boot/frag has a depth-1 tree: make the index entry point to the inode-table block...
    const leaf = Number(/^\s*0\/\s*1\s+1\/\s*1\s+\d+\s*-\s*\d+\s+(\d+)/m.exec(debugfs(loop, 'ex /boot/frag'))?.[1]);
    expect(leaf).toBeGreaterThan(0);
    // ...rewrite the leaf's header as depth 1 whose first index points at itself.
    const bs = 4096;
    const node = readAt(loop, leaf * bs, 24);
    node.writeUInt16LE(1, off(EXTENT_HEADER, 'eh_depth'));
    // The first entry, read as an index, points at this very block.
    node.writeUInt32LE(leaf, EXTENT_HEADER.size + off(EXTENT_INDEX, 'ei_leaf_lo'));
    node.writeUInt16LE(0, EXTENT_HEADER.size + off(EXTENT_INDEX, 'ei_leaf_hi'));
    patch(loop, leaf * bs, node);
    expect((await fsError(loop, (fs) => fs.readFile('/boot/frag', 1 << 20))).message).toMatch(/extent node depth 1, its parent expects 0/);
    const outside = copy('extent-outside.img');
    debugfs(outside, 'sif /boot/kernel block[5] 0x7fffffff', true); // first extent's ee_start_lo
    expect((await fsError(outside, (fs) => fs.readFile('/boot/kernel', 1 << 20))).message).toMatch(/outside the file system/);
  });

  it('block-map pointers outside the file system', async () => {
    const bad = copy('blockmap-outside.img', base1k);
    debugfs(bad, 'sif /boot/kernel block[IND] 0x7fffffff', true);
    expect((await fsError(bad, (fs) => fs.readFile('/boot/kernel', 1 << 20))).message).toMatch(/indirect block points at blocks \[2147483647/);
  });

  it('a directory claiming 2 GiB, a file claiming more than the cap', async () => {
    const big = copy('bigdir.img');
    debugfs(big, 'sif /boot size 0x7fffffff', true);
    const t0 = Date.now();
    const e = await fsError(big, (fs) => fs.readFile('/boot/kernel', 1 << 20));
    expect(e.code).toBe('ETOOBIG');
    expect(e.message).toMatch(/inode \d+: directory is 2147483647 bytes, more than the 4194304-byte limit/);
    debugfs(big, 'sif /boot size 4096', true);
    debugfs(big, 'sif /boot/kernel size 0x1000000000', true); // 64 GiB
    expect((await fsError(big, (fs) => fs.readFile('/boot/kernel', 128 << 20))).code).toBe('ETOOBIG');
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('a path whose every step scans 4 MiB of directory stops at the lookup budget', async () => {
    // /boot gets an entry "boot" naming itself, then a block map of ~4 MiB in which every block
    // but the last (the real one) is an empty directory block: each step of /boot/boot/boot...
    // scans it all before finding "boot".
    const img = copy('dirscan.img', base1k);
    debugfs(img, 'ln /boot /boot/boot', true);
    const real = Number(/^(\d+)/.exec(debugfs(img, 'bmap /boot 0'))?.[1]);
    const [empty, ind1, ind2, dind] = (/Free blocks found: ([\d ]+)/.exec(debugfs(img, 'ffb 4 3000'))?.[1] ?? '').trim().split(' ').map(Number);
    expect(dind).toBeGreaterThan(0);
    const emptyBlock = Buffer.alloc(1024);
    emptyBlock.writeUInt16LE(1024, off(DIR_ENTRY, 'rec_len')); // one unused entry spanning the block
    patch(img, empty * 1024, emptyBlock);
    const pointers = (last: number): Buffer => {
      const b = Buffer.alloc(1024);
      for (let i = 0; i < 256; i++) b.writeUInt32LE(i === 255 ? last : empty, i * 4);
      return b;
    };
    patch(img, ind1 * 1024, pointers(empty));
    patch(img, ind2 * 1024, pointers(real));
    const d = Buffer.alloc(1024);
    for (let i = 0; i < 14; i++) d.writeUInt32LE(i === 13 ? ind2 : ind1, i * 4);
    patch(img, dind * 1024, d);
    const blocks = 12 + 256 + 14 * 256;
    debugfsScript(img, [
      ...Array.from({ length: 12 }, (_, i) => `sif /boot block[${i}] ${empty}`),
      `sif /boot block[IND] ${ind1}`,
      `sif /boot block[DIND] ${dind}`,
      `sif /boot size ${blocks * 1024}`,
    ]);
    const t0 = Date.now();
    await withFs(img, async (fs) => {
      expect((await fs.readFile('/boot/boot/kernel', 1 << 20))?.length).toBe(40000); // two full scans: fine
      const e = await pygrubError(() => fs.readFile(`${'/boot'.repeat(20)}/kernel`, 1 << 20));
      expect(e.message).toMatch(/: inode 12: directory lookups have read more than 67108864 bytes \(a hostile file system\?\)/);
    });
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('a 64 MiB block map naming one block 65536 times costs one read', async () => {
    const img = copy('sameblock.img', base1k);
    const x = Number(/^(\d+)/.exec(debugfs(img, 'bmap /boot/kernel 0'))?.[1]);
    const [p1, p2] = (/Free blocks found: ([\d ]+)/.exec(debugfs(img, 'ffb 2 3000'))?.[1] ?? '').trim().split(' ').map(Number);
    const fill = (ptr: number): Buffer => Buffer.alloc(1024, Buffer.from(new Uint32Array([ptr]).buffer));
    patch(img, p1 * 1024, fill(x));
    patch(img, p2 * 1024, fill(p1));
    debugfsScript(img, [
      ...Array.from({ length: 12 }, (_, i) => `sif /boot/kernel block[${i}] ${x}`),
      `sif /boot/kernel block[IND] ${p1}`,
      `sif /boot/kernel block[DIND] ${p2}`,
      `sif /boot/kernel size ${64 << 20}`,
    ]);
    const first = readAt(img, x * 1024, 1024);
    const t0 = Date.now();
    await withFs(img, async (fs) => {
      const data = await fs.readFile('/boot/kernel', 128 << 20);
      expect(data?.length).toBe(64 << 20);
      expect(data?.subarray(63 << 20, (63 << 20) + 1024).equals(first)).toBe(true);
    });
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('a directory entry with rec_len 0 (the classic infinite loop)', async () => {
    const bad = copy('reclen0.img', base1k);
    const block = Number(/\(0\):(\d+)/.exec(debugfs(bad, 'stat /boot'))?.[1] ?? /^(\d+)/.exec(debugfs(bad, 'bmap /boot 0'))?.[1]);
    patch(bad, block * 1024 + 12 + off(DIR_ENTRY, 'rec_len'), [0, 0]); // ".." follows the 12-byte "."
    const t0 = Date.now();
    expect((await fsError(bad, (fs) => fs.readFile('/boot/grub/grub.cfg', 100))).message).toMatch(/corrupt directory entry at byte 12 of a block \(rec_len 0/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('symlink loops and directory cycles end quickly', async () => {
    const loop = copy('symloop.img');
    debugfs(loop, 'symlink /boot/a /boot/b', true);
    debugfs(loop, 'symlink /boot/b /boot/a', true);
    expect((await fsError(loop, (fs) => fs.readFile('/boot/a/grub.cfg', 100))).message).toMatch(/too many levels of symbolic links/);
    const cycle = copy('dircycle.img');
    debugfs(cycle, 'ln /boot /boot/grub/up', true); // a hard link to a parent directory
    await withFs(cycle, async (fs) => {
      expect((await fs.readFile('/boot/grub/up/grub/up/grub/up/kernel', 1 << 20))?.length).toBe(40000);
      expect(await fs.readFile('/boot/grub/up/grub/up/missing', 100)).toBeNull();
    });
  });

  it('a directory entry naming an inode past the end', async () => {
    const bad = copy('badino.img', base1k);
    const block = Number(/^(\d+)/.exec(debugfs(bad, 'bmap /boot 0'))?.[1]);
    patch(bad, block * 1024, [0xff, 0xff, 0xff, 0x0f]); // "." -> inode 268435455
    await withFs(bad, async (fs) => {
      // "." is never looked up (paths are normalised), so walk via a name that is.
      expect(await fs.readFile('/boot/kernel', 1 << 20)).not.toBeNull();
    });
    const bad2 = copy('badino2.img', base1k);
    const grubIno = Number(/^(\d+)/.exec(debugfs(bad2, 'bmap /boot 0'))?.[1]);
    // Rewrite every entry's inode in /boot's block to a huge number.
    const blk = readAt(bad2, grubIno * 1024, 1024);
    for (let pos = 0; pos < 1024;) {
      const rec = blk.readUInt16LE(pos + off(DIR_ENTRY, 'rec_len'));
      if (rec < DIR_ENTRY.size) break;
      if (pos >= 24) blk.writeUInt32LE(0x0fffffff, pos + off(DIR_ENTRY, 'inode')); // past "." and ".."

      pos += rec;
    }
    patch(bad2, grubIno * 1024, blk);
    expect((await fsError(bad2, (fs) => fs.readFile('/boot/kernel', 100))).message).toMatch(/inode number 268435455 out of range/);
  });
});
