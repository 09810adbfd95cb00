import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { loadKernelImage } from '../../../src/hypervisor/builder/kernel-image.js';

const images = new URL('../../../images/', import.meta.url);
const kernelPath = new URL('vmlinuz-tiny', images);
const mapPath = new URL('System.map-tiny.gz', images);
const haveKernel = existsSync(kernelPath);

/** System.map is the peer for the addresses the notes and segments give. */
function systemMap(): Map<string, bigint> {
  const map = new Map<string, bigint>();
  for (const line of gunzipSync(readFileSync(mapPath)).toString('latin1').split('\n')) {
    const [addr, , name] = line.split(' ');
    if (name) map.set(name, BigInt('0x' + addr));
  }
  return map;
}

const title = haveKernel
  ? 'the real tiny PV kernel (images/vmlinuz-tiny)'
  : 'the real tiny PV kernel (skipped: images/vmlinuz-tiny is not built; run `npm run images`)';

describe.skipIf(!haveKernel)(title, () => {
  it('parses as a 64-bit PV Linux bzImage', () => {
    const k = loadKernelImage(readFileSync(kernelPath), 'images/vmlinuz-tiny');
    expect(k.format).toBe('bzImage');
    expect(k.compression).toBe('gzip');
    expect(k.bzImage!.protocol).toBeGreaterThanOrEqual(0x0208);
    expect(k.notes.guestOs).toBe('linux');
    expect(k.notes.xenVersion).toBe('xen-3.0');
    expect(k.virtBase).toBe(0xffffffff80000000n);
    expect(k.notes.virtBase).toBe(0xffffffff80000000n);
    expect(k.virtEntry).toBeGreaterThanOrEqual(k.virtKernelStart);
    expect(k.virtEntry).toBeLessThan(k.virtKernelEnd);
    // Debian 6.1 (XSA-466 fixes) issues `syscall` itself: no hypercall page to fill.
    expect(k.hypercallPage).toBeUndefined();
    expect(k.notes.features.requiredNames).toContain('writable_page_tables');
    expect(k.segments.length).toBeGreaterThan(0);
  });

  it.skipIf(!existsSync(mapPath))('agrees with System.map on the entry and the kernel start', () => {
    const k = loadKernelImage(readFileSync(kernelPath), 'images/vmlinuz-tiny');
    const map = systemMap();
    expect(k.virtEntry).toBe(map.get('startup_xen'));
    expect(k.virtKernelStart).toBe(map.get('_text'));
    expect(k.virtKernelEnd).toBeGreaterThanOrEqual(map.get('_end')!);
  });
});
