// Random damage to the metadata pygrub reads in real images: whatever it is, pygrub must either boot
// (the damage missed what it reads) or throw a PygrubError, quickly — never another exception
// (a RangeError from a bad offset), a hang or a huge allocation. Deterministic (seeded).

import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { pygrub, PygrubError, parseGrub2, parseGrubLegacy, parseExtlinux, chooseEntry, type Menu } from '../../../src/dom0/pygrub/index.js';
import { ConfigSyntaxError } from '../../../src/dom0/pygrub/menu.js';
import { bytes, debianGrubCfg, debugfs, makeTmpDir, mkfs, patch, placeAt, run, writeTree } from './helpers.js';

const tmp = makeTmpDir('pygrub-fuzz');
afterAll(() => tmp.cleanup());

/** xorshift32: the same damage on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x1_0000_0000;
  };
}

const V = '6.1.0-18-cloud-amd64';
const TREE = {
  'boot/grub/grub.cfg': debianGrubCfg([V]),
  [`boot/vmlinuz-${V}`]: bytes('k', 30_000),
  [`boot/initrd.img-${V}`]: bytes('i', 50_000),
  vmlinuz: { symlink: `boot/vmlinuz-${V}` },
};

/**
 * Byte ranges [start, length) of what pygrub reads to boot this image (as debugfs locates them):
 * the superblock, the first group descriptor block, the inodes on the boot path, their
 * directory blocks and the files' indirect blocks. Damage there is damage pygrub must meet.
 */
function metadataPygrubReads(image: string, bs: number): Array<[number, number]> {
  const ranges: Array<[number, number]> = [[1024, 1024], [(bs === 1024 ? 2 : 1) * bs, bs]];
  const paths = ['/', '/boot', '/boot/grub', '/boot/grub/grub.cfg', `/boot/vmlinuz-${V}`, `/boot/initrd.img-${V}`, '/vmlinuz'];
  for (const p of paths) {
    const at = /located at block (\d+), offset 0x([0-9a-f]+)/.exec(debugfs(image, `imap ${p}`));
    if (at) ranges.push([Number(at[1]) * bs + Number.parseInt(at[2], 16), 160]);
    if (p === '/' || p === '/boot' || p === '/boot/grub') {
      for (const b of debugfs(image, `blocks ${p}`).trim().split(/\s+/).filter(Boolean)) ranges.push([Number(b) * bs, bs]);
    }
    for (const m of debugfs(image, `stat ${p}`).matchAll(/\((?:IND|DIND|TIND)\):(\d+)/g)) ranges.push([Number(m[1]) * bs, bs]);
  }
  expect(ranges.length).toBeGreaterThan(10);
  return ranges;
}

/**
 * 150 rounds of damaging a few bytes of `targets` in a copy of `image` (in place, put back after
 * each round): each pygrub run must boot or throw a PygrubError, within 2 s.
 */
async function survivesDamage(image: string, copy: string, targets: Array<[number, number]>, seed: number, label: string): Promise<{ booted: number; refused: number }> {
  const original = readFileSync(image);
  writeFileSync(copy, original);
  const random = rng(seed);
  const outcomes = { booted: 0, refused: 0 };
  for (let round = 0; round < 150; round++) {
    const spots: number[] = [];
    for (let h = 0, hits = 1 + Math.floor(random() * 4); h < hits; h++) {
      const [start, length] = targets[Math.floor(random() * targets.length)];
      spots.push(start + Math.floor(random() * length));
      patch(copy, spots[spots.length - 1], [Math.floor(random() * 256)]);
    }
    const t0 = Date.now();
    try {
      await pygrub(copy, { format: 'raw', maxFileSize: 16 << 20 });
      outcomes.booted++;
    } catch (err) {
      if (!(err instanceof PygrubError)) throw new Error(`${label} round ${round}: ${String(err)}`, { cause: err });
      outcomes.refused++;
    }
    expect(Date.now() - t0, `${label} round ${round}`).toBeLessThan(2000);
    for (const spot of spots) patch(copy, spot, [original[spot]]);
  }
  return outcomes;
}

describe('randomly damaged images', () => {
  const variants: Array<[string, 'ext2' | 'ext4', string[]]> = [
    ['ext2-1k', 'ext2', ['-b', '1024']],
    ['ext4-1k', 'ext4', ['-b', '1024', '-O', '^has_journal']],
    ['ext4-4k', 'ext4', ['-b', '4096', '-O', '^has_journal']],
  ];
  for (const [name, type, opts] of variants) {
    it(`${name}: 150 damaged copies end in a boot or a PygrubError`, async () => {
      const dir = join(tmp.dir, `${name}-tree`);
      writeTree(dir, TREE);
      const clean = join(tmp.dir, `${name}.img`);
      mkfs(clean, type, dir, '2M', opts);
      expect((await pygrub(clean)).kernel.equals(TREE[`boot/vmlinuz-${V}`] as Buffer)).toBe(true);
      const targets = metadataPygrubReads(clean, opts.includes('1024') ? 1024 : 4096);
      const outcomes = await survivesDamage(clean, join(tmp.dir, `${name}-damaged.img`), targets, 0x5eed + name.length, name);
      expect(outcomes.booted + outcomes.refused).toBe(150);
      expect(outcomes.refused).toBeGreaterThan(0); // the damage does reach what pygrub reads
    });
  }
});

describe('randomly damaged partition tables', () => {
  it('MBR with logical partitions, and GPT: 150 damaged copies each end in a boot or a PygrubError', async () => {
    const dir = join(tmp.dir, 'parts-tree');
    writeTree(dir, TREE);
    const fs = join(tmp.dir, 'parts-fs.img');
    mkfs(fs, 'ext2', dir, '2M', ['-b', '1024']);
    const mbr = join(tmp.dir, 'mbr.img');
    run('truncate', ['-s', '8M', mbr]);
    run('sfdisk', ['-q', mbr], 'label: dos\nunit: sectors\nstart=2048, size=2048, type=83\nstart=4096, size=12288, type=5\nstart=6144, size=4096, type=83\nstart=12288, size=4096, type=83\n');
    placeAt(mbr, fs, 12288 * 512);
    const gpt = join(tmp.dir, 'gpt-fuzz.img');
    run('truncate', ['-s', '8M', gpt]);
    run('sgdisk', ['-o', '-n', '1:2048:+1M', '-t', '1:ef02', '-n', '2:4096:+4M', gpt]);
    placeAt(gpt, fs, 4096 * 512);
    const tables: Array<[string, string, Array<[number, number]>]> = [
      // The MBR's entries, and the two EBRs (each 2048 sectors before its logical partition).
      ['mbr', mbr, [[446, 66], [4096 * 512 + 446, 66], [10240 * 512 + 446, 66]]],
      // Protective MBR, primary header and entries, backup entries and header.
      ['gpt', gpt, [[446, 66], [512, 92], [1024, 512], [(16384 - 33) * 512, 512], [(16384 - 1) * 512, 92]]],
    ];
    for (const [name, image, targets] of tables) {
      expect((await pygrub(image)).kernel.equals(TREE[`boot/vmlinuz-${V}`] as Buffer), name).toBe(true);
      await survivesDamage(image, join(tmp.dir, `${name}-damaged.img`), targets, 0x7ab1e + name.length, name);
    }
  });
});

describe('randomly damaged configs', () => {
  const parsers: Array<[string, (text: string, path: string) => Menu, string]> = [
    ['grub.cfg', parseGrub2, debianGrubCfg([V, '6.1.0-17-cloud-amd64'])],
    ['menu.lst', parseGrubLegacy, 'default 1\ntitle a\nroot (hd0,0)\nkernel (hd0,0)/vmlinuz ro\ninitrd /initrd\ntitle b\nkernel /k\n'],
    ['extlinux.conf', parseExtlinux, 'DEFAULT l1\nLABEL l0\n KERNEL mboot.c32\n APPEND /xen --- /k a --- /i\nLABEL l1\n LINUX ../k\n APPEND initrd=/i,/j root=/dev/xvda1\n'],
  ];
  const ALPHABET = ['{', '}', "'", '"', '\\', '(', ')', '>', '=', ' ', '\t', '\n', '#', 'menuentry ', 'submenu ', 'set default=', 'title', 'label ', '---', '$', 'x'];
  for (const [name, parse, text] of parsers) {
    it(`${name}: 3000 mutations parse or fail with a line number`, () => {
      const random = rng(0xc0f + name.length);
      let failed = 0;
      for (let round = 0; round < 3000; round++) {
        let t = text;
        const edits = 1 + Math.floor(random() * 6);
        for (let e = 0; e < edits; e++) {
          const at = Math.floor(random() * (t.length + 1));
          const del = Math.floor(random() * 4);
          t = t.slice(0, at) + ALPHABET[Math.floor(random() * ALPHABET.length)] + t.slice(at + del);
        }
        try {
          const menu = parse(t, `/${name}`);
          if (menu.entries.length > 0) chooseEntry(menu, String(Math.floor(random() * 5)));
        } catch (err) {
          if (!(err instanceof ConfigSyntaxError)) throw new Error(`round ${round}: ${String(err)}`, { cause: err });
          expect(err.line).toBeGreaterThan(0);
          failed++;
        }
      }
      expect(failed).toBeLessThan(3000);
    });
  }
});
