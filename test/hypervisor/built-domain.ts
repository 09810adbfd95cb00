// A domain built from a kernel as the domain builder lays it out, not yet run: for tests of
// hypercalls against start-of-day state. Nothing of dom0 is involved (no store, no console).
import { readFileSync } from 'node:fs';
import { Domain, type DomainHost } from '../../src/hypervisor/domain.js';
import { DomainMemory, PAGE_SIZE } from '../../src/hypervisor/domain_memory.js';
import { loadKernelImage } from '../../src/hypervisor/builder/kernel-image.js';
import { buildStartOfDay } from '../../src/hypervisor/builder/start-of-day.js';
import { EINVAL } from '../../src/hypervisor/errno.js';

export function builtDomain(kernelPath: string, memoryMiB: number, onShutdown: DomainHost['onShutdown'] = () => {}): Domain {
  const kernel = loadKernelImage(new Uint8Array(readFileSync(kernelPath)), kernelPath);
  const mem = new DomainMemory((memoryMiB * 1024 * 1024) / PAGE_SIZE);
  const host: DomainHost = {
    consoleWrite: () => {},
    printk: () => {},
    onShutdown,
    bindRemote: () => -EINVAL,
    sendRemote: () => {},
  };
  const d = new Domain({ domid: 1, name: 'built', uuid: new Uint8Array(16), mem, vcpus: 1, host });
  const storeEvtchn = d.evtchn.allocUnbound(0);
  const consoleEvtchn = d.evtchn.allocUnbound(0);
  d.boot(buildStartOfDay(mem, { kernel, cmdline: '', storeEvtchn, consoleEvtchn }));
  return d;
}
