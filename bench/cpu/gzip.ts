// CPU benchmark (not a test): `busybox gzip -9 -c` of a deterministic 2 MB text under tsxen's
// user-mode runner, under qemu-x86_64 (Debian's qemu-user) and natively, in one run. Prints
// wall time, instructions (the emulator's own counter for tsxen; the same count is used for the
// peers' MIPS, as they run the same program on the same input) and MIPS, and the ratios.
// Usage: node dist/bench/cpu/gzip.js [rounds]
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { runElf } from '../../src/elf-runner/runner.js';

const BUSYBOX = '/bin/busybox';

/** Deterministic, compressible but not trivial text (a seeded word generator), 2 MB. */
function makeInput(): Buffer {
  const words = ['xen', 'domain', 'hypervisor', 'event', 'channel', 'grant', 'table', 'page', 'frame', 'vcpu', 'ring',
    'console', 'store', 'block', 'network', 'bridge', 'kernel', 'initramfs', 'busybox', 'shell', 'typescript', 'node'];
  let s = 0x12345678;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8);
  const parts: string[] = [];
  let len = 0;
  while (len < 2_000_000) {
    const line: string[] = [];
    const n = 4 + (rnd() % 12);
    for (let k = 0; k < n; k++) line.push(words[rnd() % words.length] + (rnd() % 7 === 0 ? String(rnd() % 1000) : ''));
    const l = line.join(' ') + '\n';
    parts.push(l);
    len += l.length;
  }
  return Buffer.from(parts.join('').slice(0, 2_000_000));
}

function timeNative(cmd: string, args: string[], input: Buffer): { ms: number; out: Buffer } {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { input, maxBuffer: 64 << 20 });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr?.toString()}`);
  return { ms, out: r.stdout };
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 3);
  const input = makeInput();
  const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
  console.log(`busybox gzip -9 -c of ${input.length} bytes (input md5 ${md5(input)}), ${rounds} rounds`);
  for (let r = 0; r < rounds; r++) {
    const native = timeNative(BUSYBOX, ['gzip', '-9', '-c'], input);
    const qemu = timeNative('qemu-x86_64', [BUSYBOX, 'gzip', '-9', '-c'], input);
    const t0 = performance.now();
    const ts = await runElf({ path: BUSYBOX, argv: ['busybox', 'gzip', '-9', '-c'], stdin: input });
    const tsMs = performance.now() - t0;
    if (ts.status !== 0) throw new Error(`tsxen-elf: status ${ts.status}: ${ts.diagnostics.join('; ')}`);
    const same = md5(ts.stdout!) === md5(native.out) && md5(qemu.out) === md5(native.out);
    const n = ts.instructions;
    const mips = (ms: number) => (n / ms / 1000).toFixed(1);
    console.log(`round ${r + 1}: instructions ${n} (tsxen's count); output identical to native: ${same}`);
    console.log(`  native      ${native.ms.toFixed(0).padStart(7)} ms  ${mips(native.ms).padStart(8)} MIPS`);
    console.log(`  qemu-x86_64 ${qemu.ms.toFixed(0).padStart(7)} ms  ${mips(qemu.ms).padStart(8)} MIPS`);
    console.log(`  tsxen       ${tsMs.toFixed(0).padStart(7)} ms  ${mips(tsMs).padStart(8)} MIPS   (bar: >= 40 MIPS)`);
    console.log(`  tsxen/native ${(tsMs / native.ms).toFixed(1)}x, tsxen/qemu ${(tsMs / qemu.ms).toFixed(1)}x`);
    if (!same) process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
