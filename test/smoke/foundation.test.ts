import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';

describe('foundation', () => {
  it('package.json names the tsxen binaries', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    expect(pkg.name).toBe('tsxen');
    expect(Object.keys(pkg.bin).sort()).toEqual(['tsxen-elf', 'xend', 'xm']);
  });
});
