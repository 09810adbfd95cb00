// Shared tooling for the disk-image tests: qemu-img/qemu-io as the reference peer, a plain sparse
// raw file as the model of what the guest disk should contain, and deterministic patterns.

import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';

export { pattern } from './patterns.js';

export function makeTmpDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `tsxen-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

export function qemuImg(...args: string[]): string {
  return run('qemu-img', args);
}

/** Runs qemu-io commands against an image (each string one -c command). */
export function qemuIo(path: string, commands: string[], format = 'qcow2'): string {
  const out = run('qemu-io', ['-f', format, ...commands.flatMap((c) => ['-c', c]), path]);
  if (/verification failed|error/i.test(out)) throw new Error(`qemu-io reported a problem:\n${out}`);
  return out;
}

export interface CheckResult {
  exitCode: number;
  checkErrors: number;
  corruptions: number;
  leaks: number;
  raw: string;
}

/** qemu-img check, parsed (exit 0 = clean, 2 = corruptions, 3 = leaks only). */
export function qemuCheck(path: string): CheckResult {
  const r = spawnSync('qemu-img', ['check', '--output=json', path], { encoding: 'utf8' });
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    throw new Error(`qemu-img check gave no JSON (exit ${r.status}): ${r.stderr}${r.stdout}`);
  }
  const num = (k: string): number => (typeof json[k] === 'number' ? (json[k] as number) : 0);
  return {
    exitCode: r.status ?? -1,
    checkErrors: num('check-errors'),
    corruptions: num('corruptions'),
    leaks: num('leaks'),
    raw: r.stdout + r.stderr,
  };
}

export function expectClean(path: string): void {
  const c = qemuCheck(path);
  expect(c, c.raw).toMatchObject({ exitCode: 0, checkErrors: 0, corruptions: 0, leaks: 0 });
}

/** qemu-img compare: true when the two images have identical guest content. */
export function sameContent(a: string, fa: string, b: string, fb: string): boolean {
  const r = spawnSync('qemu-img', ['compare', '-f', fa, '-F', fb, a, b], { encoding: 'utf8' });
  if (r.status === 0) return true;
  if (r.status === 1) return false;
  throw new Error(`qemu-img compare failed (${r.status}): ${r.stderr}`);
}

export function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
}

/** A sparse raw file holding what the guest disk should read as: the test's model. */
export class ExpectedDisk {
  private readonly fd: number;
  constructor(
    readonly path: string,
    readonly bytes: number,
  ) {
    this.fd = openSync(path, 'w+');
    ftruncateSync(this.fd, bytes);
  }
  write(sector: number, data: Uint8Array): void {
    writeSync(this.fd, data, 0, data.length, sector * 512);
  }
  zero(sector: number, count: number): void {
    this.write(sector, new Uint8Array(count * 512));
  }
  read(sector: number, count: number): Uint8Array {
    const b = new Uint8Array(count * 512);
    readSync(this.fd, b, 0, b.length, sector * 512);
    return b;
  }
  close(): void {
    closeSync(this.fd);
  }
}

/** Reads bytes [offset, offset+length) of a plain file. */
export function fileBytes(path: string, offset: number, length: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const b = new Uint8Array(length);
    readSync(fd, b, 0, length, offset);
    return b;
  } finally {
    closeSync(fd);
  }
}

export function sha(path: string): string {
  return execFileSync('sha256sum', [path], { encoding: 'utf8' }).split(' ')[0]!;
}

/** Byte-exact equality with a short description of the first difference. */
export function expectBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  if (Buffer.compare(actual, expected) === 0) return;
  let i = 0;
  while (actual[i] === expected[i]) i++;
  expect.fail(`${what}: first difference at byte ${i} (0x${i.toString(16)}): got ${actual[i]}, want ${expected[i]}`);
}
