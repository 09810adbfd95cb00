// Test data shared by the vitest files and the crash child process (which cannot import vitest).

/** Deterministic, never-all-zero bytes that differ per seed and per position. */
export function pattern(seed: number, length: number): Uint8Array {
  const b = new Uint8Array(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  b[0] = (seed & 0x7f) | 0x80; // a recognisable first byte, never zero
  return b;
}

/** What the crash child writes and flushes before it is killed: [sector, seed, bytes]. */
export const CRASH_FLUSHED: [number, number, number][] = [
  [0, 1, 4096],
  [37, 2, 512],
  [1000, 3, 65536],
  [5000, 4, 12288],
  [20001, 5, 1536],
];

/** Where the crash child keeps writing, unflushed, until it is killed. */
export const CRASH_SCRATCH_SECTOR = 30000;
