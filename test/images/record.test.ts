import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { IMAGES_DIR } from './formats.js';

const ARTIFACTS = ['vmlinuz-tiny', 'System.map-tiny.gz', 'kernel/config-tiny', 'xen-netfront.ko', 'initramfs-busybox.cpio.gz'];

describe('images/README.md build record', () => {
  const readme = readFileSync(join(IMAGES_DIR, 'README.md'), 'utf8');
  const record = /<!-- build-record:start[^\n]*\n([\s\S]*?)<!-- build-record:end -->/.exec(readme)?.[1] ?? '';

  it('records the sha256 of every committed artifact, and they match the files', () => {
    const sums = new Map<string, string>();
    for (const m of record.matchAll(/^([0-9a-f]{64})  (\S+)$/gm)) sums.set(m[2], m[1]);
    expect([...sums.keys()].sort()).toEqual([...ARTIFACTS].sort());
    for (const f of ARTIFACTS) {
      const actual = createHash('sha256').update(readFileSync(join(IMAGES_DIR, f))).digest('hex');
      expect(sums.get(f), f).toBe(actual);
    }
  });

  it('records the Debian package versions the build used', () => {
    expect(record).toMatch(/^\| linux-source-6\.1 \| 6\.1\.\d+-\S+ \|$/m);
    expect(record).toMatch(/^\| busybox-static \| 1:1\.35\.0-\S+ \|$/m);
    expect(record).toMatch(/^\| gcc-12 \| 12\.\S+ \|$/m);
  });

  it('keeps the committed artifacts under the 10 MB budget', () => {
    const total = ARTIFACTS.reduce((n, f) => n + statSync(join(IMAGES_DIR, f)).size, 0);
    expect(total).toBeLessThan(10 * 1024 * 1024);
  });
});
