// Debian's busybox-static under the runner, compared byte for byte (stdout and exit status)
// with the same binary run natively. A run that stops at an instruction the interpreter lacks
// fails with that instruction's message (bytes and address), not with a bare mismatch.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { explain, runNative, runOurs, type RunSpec } from './helpers.js';

const BUSYBOX = '/bin/busybox';
const ENV = ['PATH=/usr/bin:/bin', 'LC_ALL=C', 'HOME=/'];
const work = mkdtempSync(join(tmpdir(), 'tsxen-elf-bb-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// A few KB of deterministic text: words, integers and decimals on each line.
const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet'];
let seed = 12345;
const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n;
const TEXT = Array.from({ length: 150 }, (_, i) => `${words[rnd(10)]} ${rnd(1000)} ${(rnd(100000) / 100).toFixed(2)} ${i % 7 === 0 ? '# comment ' : ''}${words[rnd(10)]}-${i}`).join('\n') + '\n';
const BINARY = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7 + (i >> 5)) & 0xff));

/** Run natively and under the runner; `setup` prepares a fresh working directory for each. */
async function bb(args: string[], stdin: string | Buffer = '', setup?: (dir: string) => void): Promise<Buffer> {
  const dir = (): string => {
    const d = mkdtempSync(join(work, 'run-'));
    setup?.(d);
    return d;
  };
  const s: RunSpec = { argv: ['busybox', ...args], env: ENV, stdin };
  const nat = runNative(BUSYBOX, { ...s, cwd: dir() });
  const ours = await runOurs(BUSYBOX, { ...s, cwd: dir() });
  const missing = ours.diagnostics.find((d) => /unimplemented instruction/.test(d));
  if (missing) throw new Error(`busybox ${args.join(' ')}: ${missing}`);
  expect(ours.stdout?.toString('latin1'), `stdout of busybox ${args.join(' ')}${explain(ours)}`).toBe(nat.stdout);
  expect(ours.status, `exit status of busybox ${args.join(' ')}${explain(ours)}`).toBe(nat.status);
  expect(ours.instructions).toBeGreaterThan(0);
  return ours.stdout!;
}

describe('busybox applets under tsxen-elf match native busybox', () => {
  it('sh: loops, arithmetic, functions, case and parameter expansion', async () => {
    const out = await bb(['sh', '-c', `
      fib() { a=0; b=1; i=0; while [ $i -lt $1 ]; do t=$((a+b)); a=$b; b=$t; i=$((i+1)); done; echo "fib($1)=$a"; }
      for n in 1 10 60; do fib $n; done
      i=0; s=0; until [ $i -ge 40 ]; do s=$(( s + i*i % 7 )); i=$((i+1)); done; echo "sum=$s"
      echo $(( (1<<40) / 3 )) $(( -17 % 5 )) $(( 0x1f ^ 052 )) $(( 7 > 3 ? 1 : 2 ))
      v="hello/world/file.tar.gz"; echo "\${v##*/} \${v%.*} \${#v} \${v#hello}"
      for w in apple banana cherry; do case $w in a*) echo "A:$w";; *an*) echo "AN:$w";; *) echo "?:$w";; esac; done
      set -- x y z; echo "$# $2 $*"; shift; echo "$@"
      exit 3`]);
    expect(out.toString()).toContain('fib(60)=1548008755920');
  });

  it('sh: pipelines and external applets (fork, exec, wait)', async () => {
    await bb(['sh', '-c', 'seq 1 200 | sort -rn | head -n 5; echo piped | tr a-z A-Z; x=$(echo inner | wc -c); echo "x=$x"; false || echo "status $?"']);
  });

  it('sed', async () => {
    await bb(['sed', '-e', 's/\\([a-z]*\\) \\([0-9]*\\)/\\2 \\1/', '-e', '/# comment/d', '-e', 's/alpha/ALPHA/g', '-e', '$a\\the end'], TEXT);
  });

  it('awk with floating point and printf %f/%e', async () => {
    await bb(['awk', '{ s += $2 * 1.5; t += $3; n++ } $2 > 900 { print NR": "$1 } END { printf "%f %e %.3f %g\\n", s, t, t / n, s / 7; printf "%d %5.2f|%-8s|%x\\n", n, 3.14159, "ab", 255 }'], TEXT);
  });

  it('sort', async () => {
    await bb(['sort'], TEXT);
    await bb(['sort', '-n', '-k2', '-s'], TEXT);
    await bb(['sort', '-r', '-u', '-k1,1'], TEXT);
  });

  it('md5sum and sha256sum', async () => {
    await bb(['md5sum'], TEXT);
    await bb(['sha256sum'], BINARY);
  });

  it('gzip -9 and gunzip round trip', async () => {
    const gz = await bb(['gzip', '-9', '-c'], TEXT);
    const back = await bb(['gunzip', '-c'], gz);
    expect(back.toString()).toBe(TEXT);
  });

  it('bzip2 round trip', async () => {
    const bz = await bb(['bzip2', '-c'], TEXT);
    const back = await bb(['bzip2', '-d', '-c'], bz);
    expect(back.toString()).toBe(TEXT);
  });

  it('od', async () => {
    await bb(['od', '-A', 'x', '-t', 'x1z', '-v'], BINARY.subarray(0, 512));
    await bb(['od', '-t', 'd4', '-t', 'o2'], BINARY.subarray(0, 256));
  });

  it('expr', async () => {
    await bb(['expr', '7', '*', '6', '+', '1']);
    await bb(['expr', 'length', 'hello world']);
    await bb(['expr', 'abcdef', ':', 'a\\(..\\)']);
    await bb(['expr', '5', '<', '3']); // false: exit status 1
  });

  it('seq', async () => {
    await bb(['seq', '1', '3', '40']);
    await bb(['seq', '-w', '8', '12']);
    await bb(['seq', '-s', ',', '0.5', '0.25', '3']);
  });

  it('files in a directory: ls, cp, cat, wc, rm, find', async () => {
    await bb(['sh', '-c', 'cp a.txt b.txt && cat a.txt b.txt | wc -l && ls && rm b.txt && ls -1 && mkdir -p sub/deeper && echo hi > sub/deeper/f && find . | sort && ls -ld sub | cut -c1-10 && cat < sub/deeper/f && rm -r sub && ls'], '', (d) =>
      writeFileSync(join(d, 'a.txt'), TEXT),
    );
  });
});
