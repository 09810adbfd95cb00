import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { openDiskImage } from '../../../../src/devices/block/image/index.js';
import { CRASH_FLUSHED } from './patterns.js';
import { expectBytes, makeTmpDir, pattern, qemuCheck, qemuImg } from './helpers.js';

const tmp = makeTmpDir('crash');
afterAll(() => tmp.cleanup());

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const child = fileURLToPath(new URL('./crash-child.ts', import.meta.url));

/** Runs crash-child.ts on the image, SIGKILLs it once it reports its flush, waits for it to die. */
async function writeFlushAndKill(image: string, format: 'raw' | 'qcow2'): Promise<void> {
  const proc = spawn(join(root, 'node_modules/.bin/vite-node'), [child, image, format], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<NodeJS.Signals | null>((res) => proc.on('exit', (_code, signal) => res(signal)));
  await new Promise<void>((res, rej) => {
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('FLUSHED\n')) res();
    });
    proc.on('exit', (code) => rej(new Error(`crash child exited (${code}) before flushing: ${err}`)));
  });
  // Let it get some unflushed writes (and allocations) in flight, then kill it hard.
  await new Promise((r) => setTimeout(r, 150));
  proc.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
}

describe.each(['raw', 'qcow2'] as const)('crash safety (%s)', (format) => {
  it('a flushed write survives SIGKILL of the process that made it', async () => {
    const image = join(tmp.dir, `crash.${format}`);
    qemuImg('create', '-q', '-f', format, ...(format === 'qcow2' ? ['-o', 'cluster_size=4096'] : []), image, '32M');
    await writeFlushAndKill(image, format);

    if (format === 'qcow2') {
      // Killed mid-request, at worst clusters leak; metadata must be consistent.
      const c = qemuCheck(image);
      expect(c.checkErrors, c.raw).toBe(0);
      expect(c.corruptions, c.raw).toBe(0);
    }
    const disk = await openDiskImage(image, { format, readOnly: true });
    for (const [sector, seed, bytes] of CRASH_FLUSHED) {
      const got = new Uint8Array(bytes);
      await disk.read(sector, got);
      expectBytes(got, pattern(seed, bytes), `flushed data at sector ${sector}`);
    }
    await disk.close();
  });
});
