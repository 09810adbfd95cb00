import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { IMAGES_DIR } from './formats.js';

type Value = string | number | string[];

// Just enough of xm's Python-assignment syntax for these two files; the real parser is in
// src/xm. Anything else in the file is an error, so a typo cannot slip through as "ignored".
function parseCfg(text: string): Record<string, Value> {
  const out: Record<string, Value> = {};
  const str = /^(?:"([^"]*)"|'([^']*)')$/;
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_]\w*)\s*=\s*(.+)$/.exec(line);
    if (!m) throw new Error(`line ${i + 1}: not an assignment: ${raw}`);
    const [, key, rhs] = m;
    let value: Value;
    const s = str.exec(rhs);
    if (s) value = s[1] ?? s[2];
    else if (/^\d+$/.test(rhs)) value = Number(rhs);
    else if (/^\[.*\]$/.test(rhs)) {
      // Items are quoted strings separated by commas (a trailing comma is Python-legal).
      const items: string[] = [];
      let rest = rhs.slice(1, -1).trim();
      while (rest !== '') {
        const e = /^(?:"([^"]*)"|'([^']*)')\s*(?:,\s*|$)/.exec(rest);
        if (!e) throw new Error(`line ${i + 1}: list item is not a string: ${rest}`);
        items.push(e[1] ?? e[2]);
        rest = rest.slice(e[0].length);
      }
      value = items;
    } else throw new Error(`line ${i + 1}: unsupported value: ${rhs}`);
    if (key in out) throw new Error(`line ${i + 1}: ${key} assigned twice`);
    out[key] = value;
  }
  return out;
}

const load = (name: string): { cfg: Record<string, Value>; dir: string } => {
  const path = join(IMAGES_DIR, name);
  return { cfg: parseCfg(readFileSync(path, 'utf8')), dir: dirname(path) };
};

describe('images/busybox.cfg (the seed walkthrough domain)', () => {
  const { cfg, dir } = load('busybox.cfg');

  it('has the seed walkthrough keys and values', () => {
    expect(Object.keys(cfg).sort()).toEqual(
      ['disk', 'extra', 'kernel', 'memory', 'name', 'ramdisk', 'root', 'vcpus', 'vif'].sort(),
    );
    expect(cfg).toMatchObject({
      kernel: 'vmlinuz-tiny',
      ramdisk: 'initramfs-busybox.cpio.gz',
      name: 'busybox',
      vcpus: 1,
      disk: ['file:busybox.img,xvda,w'],
      root: '/dev/xvda ro',
      extra: 'selinux=0 init=/bin/sh',
      vif: ['bridge=xenbr0'],
    });
    expect(typeof cfg.memory).toBe('number');
    expect(cfg.memory as number).toBeGreaterThanOrEqual(32);
    expect(cfg.memory as number).toBeLessThanOrEqual(256);
  });

  it('names a kernel and ramdisk that exist relative to the cfg file', () => {
    expect(existsSync(resolve(dir, cfg.kernel as string))).toBe(true);
    expect(existsSync(resolve(dir, cfg.ramdisk as string))).toBe(true);
  });

  it("names the disk that make-busybox-disk writes by default (it is not committed)", () => {
    const target = (cfg.disk as string[])[0].split(',')[0].replace(/^file:/, '');
    const help = execFileSync('bash', [join(IMAGES_DIR, 'make-busybox-disk'), '--help'], { encoding: 'utf8' });
    const m = /^Default OUTPUT: (.+)$/m.exec(help);
    expect(m?.[1]).toBe(resolve(dir, target));
  });
});

describe('images/busybox-ramdisk.cfg (initramfs only)', () => {
  const { cfg, dir } = load('busybox-ramdisk.cfg');

  it('boots the same kernel and initramfs with no disk, network or root/init override', () => {
    expect(cfg.kernel).toBe('vmlinuz-tiny');
    expect(cfg.ramdisk).toBe('initramfs-busybox.cpio.gz');
    for (const k of ['disk', 'vif', 'root', 'extra']) expect(cfg[k], k).toBeUndefined();
    expect(typeof cfg.name).toBe('string');
    expect(cfg.name).not.toBe('busybox');
    expect(cfg.vcpus).toBe(1);
    expect(existsSync(resolve(dir, cfg.kernel as string))).toBe(true);
    expect(existsSync(resolve(dir, cfg.ramdisk as string))).toBe(true);
  });

  it('rejects what it cannot parse (the checker itself can fail)', () => {
    expect(() => parseCfg('kernel = vmlinuz')).toThrow(/unsupported value/);
    expect(() => parseCfg('disk = [1]')).toThrow(/not a string/);
    expect(() => parseCfg('a = 1\na = 2')).toThrow(/twice/);
  });
});
