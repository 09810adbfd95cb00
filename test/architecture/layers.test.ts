// The layers of ../shared/docs/architecture.md hold in the code: every import between the
// folders of src/ points down (xm -> dom0 -> devices -> hypervisor -> mmu -> cpu), type-only
// imports included, and the folders' import graph has no cycle. The ELF runner is a program on
// top of the CPU: it may use anything below dom0, and nothing may use it.

import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/** Lower rank = lower layer; a file may import only from its own folder or a lower rank. */
const RANK: Record<string, number> = { cpu: 0, mmu: 1, hypervisor: 2, devices: 3, dom0: 4, xm: 5, 'elf-runner': 3.5 };
/** Folders nothing else may import. */
const TOP = new Set(['xm', 'elf-runner']);

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []);
}

/** Every module specifier a file names: import/export ... from, import('...'), import '...'. */
function specifiers(text: string): string[] {
  const out: string[] = [];
  // `from '...'` needs the space (Buffer.from('..') is no import); `import(` and `import '` don't.
  const re = /\bfrom\s+['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]|\bimport\s+['"]([^'"]+)['"]/g;
  for (let m; (m = re.exec(text)); ) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

const folderOf = (file: string): string => relative(SRC, file).split(/[\\/]/)[0];

interface Edge { from: string; to: string; file: string; spec: string }

function edges(): Edge[] {
  const out: Edge[] = [];
  for (const file of tsFiles(SRC)) {
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.')) continue;
      const target = normalize(join(dirname(file), spec));
      if (!target.startsWith(SRC)) {
        out.push({ from: folderOf(file), to: '(outside src)', file: relative(SRC, file), spec });
        continue;
      }
      const from = folderOf(file), to = folderOf(target);
      if (from !== to) out.push({ from, to, file: relative(SRC, file), spec });
    }
  }
  return out;
}

describe('the layers of src/', () => {
  const all = edges();

  it('knows every folder of src/', () => {
    const folders = readdirSync(SRC, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    expect(folders.filter((f) => !(f in RANK))).toEqual([]);
    // The graph is not empty: the reader finds the imports that are there.
    expect(all.some((e) => e.from === 'dom0' && e.to === 'hypervisor')).toBe(true);
  });

  it('has imports that only point down', () => {
    const bad = all.filter((e) => e.to === '(outside src)' || TOP.has(e.to) || RANK[e.to] > RANK[e.from])
      .map((e) => `${e.file}: ${e.spec} (${e.from} -> ${e.to})`);
    expect(bad).toEqual([]);
  });

  it('has no cycle between folders', () => {
    const next = new Map<string, Set<string>>();
    for (const e of all) {
      if (!next.has(e.from)) next.set(e.from, new Set());
      next.get(e.from)!.add(e.to);
    }
    const cycles: string[] = [];
    const walk = (node: string, path: string[]): void => {
      if (path.includes(node)) {
        cycles.push([...path.slice(path.indexOf(node)), node].join(' -> '));
        return;
      }
      for (const n of next.get(node) ?? []) walk(n, [...path, node]);
    };
    for (const f of next.keys()) walk(f, []);
    expect(cycles).toEqual([]);
  });
});

describe('the import reader', () => {
  it('sees type-only, re-export and dynamic imports', () => {
    const text = [
      "import type { A } from '../xm/a.js';",
      "export { B } from './b.js';",
      "export type * from '../dom0/c.js';",
      "const m = await import('../devices/d.js');",
      "import '../cpu/side-effect.js';",
      "const b = Buffer.from('..');",
    ].join('\n');
    expect(specifiers(text)).toEqual(['../xm/a.js', './b.js', '../dom0/c.js', '../devices/d.js', '../cpu/side-effect.js']);
  });
});
