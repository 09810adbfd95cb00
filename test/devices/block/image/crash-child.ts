// Child process for the crash test: writes and flushes known data, says so on stdout, then
// keeps writing elsewhere until the parent kills it with SIGKILL.
// Run with vite-node: crash-child.ts <image> <raw|qcow2>

import { openDiskImage } from '../../../../src/devices/block/image/index.js';
import { CRASH_FLUSHED, CRASH_SCRATCH_SECTOR, pattern } from './patterns.js';

const [path, format] = process.argv.slice(2);
if (!path || (format !== 'raw' && format !== 'qcow2')) {
  process.stderr.write('usage: crash-child.ts <image> <raw|qcow2>\n');
  process.exit(2);
}
const disk = await openDiskImage(path, { format, readOnly: false });
for (const [sector, seed, bytes] of CRASH_FLUSHED) await disk.write(sector, pattern(seed, bytes));
await disk.flush();
process.stdout.write('FLUSHED\n');
for (let i = 0; ; i++) {
  await disk.write(CRASH_SCRATCH_SECTOR + (i % 64) * 8, pattern(1000 + i, 4096));
}
