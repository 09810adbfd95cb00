// Boots the real tiny kernel (images/vmlinuz-tiny) as a PV domU and follows it through early
// boot: Xen detection, the switch from console_io to the hvc0 console ring, the event-channel
// and grant-table set-up. Fails fast with what the console showed last.
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bootDomain } from '../../src/dom0/boot.js';

const IMAGES = fileURLToPath(new URL('../../images/', import.meta.url));
const KERNEL = IMAGES + 'vmlinuz-tiny';
const RAMDISK = IMAGES + 'initramfs-busybox.cpio.gz';
const LIMIT_MS = Number(process.env.TSXEN_BOOT_TEST_MS ?? 240_000);

/** Resolve when `text` appears in the accumulated output; reject on exit or timeout. */
function waitFor(get: () => string, text: string, exited: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const iv = setInterval(() => {
      if (get().includes(text)) {
        clearInterval(iv);
        resolve();
      } else if (Date.now() - t0 > ms) {
        clearInterval(iv);
        reject(new Error(`"${text}" did not appear within ${ms} ms; console ended with:\n${get().slice(-1500)}`));
      }
    }, 50);
    void exited.then((x) => {
      if (get().includes(text)) return;
      clearInterval(iv);
      reject(new Error(`domain ended (${JSON.stringify(x)}) before "${text}"; console ended with:\n${get().slice(-1500)}`));
    });
  });
}

describe.skipIf(!existsSync(KERNEL))('booting images/vmlinuz-tiny as a PV domU', () => {
  it('detects Xen PV, moves to hvc0 and sets up event channels and grant tables', async () => {
    let hv = '';
    let cons = '';
    const b = bootDomain({
      kernel: KERNEL,
      ramdisk: RAMDISK,
      extra: 'console=hvc0 earlyprintk=xen',
      memory: 64,
      onHypervisorLog: (t) => (hv += t),
    });
    b.console.on('data', (d: Buffer) => (cons += d.toString()));
    try {
      await waitFor(() => hv, 'Hypervisor detected: Xen PV', b.exited, LIMIT_MS);
      await waitFor(() => hv, 'xen:events: Using 2-level ABI', b.exited, LIMIT_MS);
      await waitFor(() => cons, 'printk: bootconsole [xenboot0] disabled', b.exited, LIMIT_MS);
      await waitFor(() => cons, 'Grant table initialized', b.exited, LIMIT_MS);
      for (const bad of ['BUG:', 'Oops', 'Kernel panic', 'unimplemented']) {
        expect(hv + cons, `console shows "${bad}"`).not.toContain(bad);
      }
    } finally {
      b.destroy();
      await b.exited;
    }
  }, LIMIT_MS + 30_000);
});
