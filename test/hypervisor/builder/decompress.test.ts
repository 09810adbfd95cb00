import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decompressPayload, detectCompression } from '../../../src/hypervisor/builder/decompress.js';
import { decodeLz4Legacy } from '../../../src/hypervisor/builder/lz4.js';
import { kernelCompress } from './fixtures.js';

/** Long random literals, byte runs (overlapping matches, offset 1) and repeats far back. */
function mixedData(): Buffer {
  const rnd = randomBytes(70_000);
  const parts: Buffer[] = [];
  for (let i = 0; i < 40; i++) {
    parts.push(rnd.subarray(i * 1000, i * 1000 + 1 + i * 37));
    parts.push(Buffer.alloc(3 + i * 11, i));
    parts.push(rnd.subarray(0, 300)); // repeats an earlier stretch
  }
  return Buffer.concat(parts);
}

describe('payload decompressors against the real tools', () => {
  it('lz4 legacy: literals, overlapping matches and more than one 8 MiB block', () => {
    const unit = mixedData();
    const data = Buffer.concat(Array.from({ length: Math.ceil((9 << 20) / unit.length) }, () => unit));
    const frame = execFileSync('lz4', ['-l', '-c', '-'], { input: data, maxBuffer: 1 << 26 });
    // Two [size][block] records after the magic: the legacy format's 8 MiB block limit.
    const first = frame.readUInt32LE(4);
    expect(frame.length).toBeGreaterThan(8 + first + 4);
    const out = decodeLz4Legacy(frame, data.length);
    expect(Buffer.from(out).equals(data)).toBe(true);
  });

  it('lz4 legacy: concatenated frames (a repeated magic) decode as one stream', () => {
    const a = mixedData();
    const b = randomBytes(5000);
    const frames = Buffer.concat([
      execFileSync('lz4', ['-l', '-c', '-'], { input: a }),
      execFileSync('lz4', ['-l', '-c', '-'], { input: b }),
    ]);
    expect(Buffer.from(decodeLz4Legacy(frames, a.length + b.length)).equals(Buffer.concat([a, b]))).toBe(true);
  });

  it('xz: incompressible data stored in uncompressed LZMA2 chunks', () => {
    const data = randomBytes(200_000);
    const out = decompressPayload(kernelCompress('xz', data));
    expect(out.compression).toBe('xz');
    expect(Buffer.from(out.data).equals(data)).toBe(true);
  });

  it('recognises every format libxenguest knows by its magic', () => {
    const sample = Buffer.from('sample kernel payload '.repeat(20));
    expect(detectCompression(kernelCompress('gzip', sample))).toBe('gzip');
    expect(detectCompression(kernelCompress('xz', sample))).toBe('xz');
    expect(detectCompression(kernelCompress('lz4', sample))).toBe('lz4');
    expect(detectCompression(kernelCompress('bzip2', sample))).toBe('bzip2');
    expect(detectCompression(kernelCompress('lzma', sample))).toBe('lzma');
    expect(detectCompression(kernelCompress('zstd', sample))).toBe('zstd');
    expect(detectCompression(Buffer.from([0x89, 0x4c, 0x5a, 0x4f, 0x00]))).toBe('lzo');
    expect(detectCompression(Buffer.from('\x7fELF', 'latin1'))).toBeUndefined();
  });
});
