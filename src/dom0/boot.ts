// bootDomain(): the programmatic entry point tests and xend share. Builds a PV domain from a
// kernel (+ ramdisk), connects its console and xenstore rings to dom0's services, and runs its
// vCPUs. (This first cut runs the domain on the calling thread, yielding to the event loop
// between slices; xend moves each domain to its own worker.)

import { readFileSync } from 'node:fs';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { DomainMemory, PAGE_SIZE } from '../hypervisor/domain_memory.js';
import { Domain, type DomainHost } from '../hypervisor/domain.js';
import { loadKernelImage } from '../hypervisor/builder/kernel-image.js';
import { buildStartOfDay } from '../hypervisor/builder/start-of-day.js';
import type { ShutdownReason } from '../hypervisor/public.js';
import { Xenstored } from './xenstored/index.js';
import { ConsoleRing } from './console-ring.js';

export interface BootOptions {
  kernel: string | Uint8Array;
  ramdisk?: string | Uint8Array;
  /** Kernel command line (xm's root + extra). */
  extra?: string;
  /** MiB. */
  memory?: number;
  vcpus?: number;
  name?: string;
  domid?: number;
  /** Hypervisor log lines (console_io), e.g. for `xm dmesg`. */
  onHypervisorLog?: (text: string) => void;
}

export interface BootedDomain {
  readonly domain: Domain;
  /** Guest console output. */
  readonly console: Readable;
  /** Guest console input. */
  readonly input: Writable;
  /** Resolves when the domain ends. */
  readonly exited: Promise<{ reason: ShutdownReason; detail: string }>;
  destroy(): void;
}

function bytesOf(x: string | Uint8Array): Uint8Array {
  return typeof x === 'string' ? new Uint8Array(readFileSync(x)) : x;
}

export function bootDomain(o: BootOptions): BootedDomain {
  const domid = o.domid ?? 1;
  const name = o.name ?? `domain-${domid}`;
  const kernelBytes = bytesOf(o.kernel);
  const kernel = loadKernelImage(kernelBytes, typeof o.kernel === 'string' ? o.kernel : 'kernel');
  const ramdisk = o.ramdisk === undefined ? undefined : bytesOf(o.ramdisk);
  const nrPages = ((o.memory ?? 64) * 1024 * 1024) / PAGE_SIZE;
  const mem = new DomainMemory(nrPages);
  const consoleOut = new PassThrough();
  const input = new PassThrough();
  let resolveExit!: (x: { reason: ShutdownReason; detail: string }) => void;
  const exited = new Promise<{ reason: ShutdownReason; detail: string }>((r) => (resolveExit = r));

  const xs = new Xenstored({});
  let consoleRing: ConsoleRing | undefined;
  const dom0Ports = new Map<number, () => void>();
  let nextDom0Port = 1;
  const host: DomainHost = {
    consoleWrite: (_id, bytes) => o.onHypervisorLog?.(new TextDecoder().decode(bytes)),
    onShutdown: (_d, reason, detail) => resolveExit({ reason, detail }),
    bindRemote: () => -1,
    sendRemote: (_d, _port, remoteDom, remotePort) => {
      if (remoteDom === 0) dom0Ports.get(remotePort)?.();
    },
  };
  const d = new Domain({ domid, name, uuid: randomBytes(16), mem, vcpus: o.vcpus ?? 1, host });

  // The toolstack's unbound ports for xenstore and the console (remote: dom0), then the
  // dom0 ends bound to them as xenstored and xenconsoled do.
  const storePort = d.evtchn.allocUnbound(0);
  const consPort = d.evtchn.allocUnbound(0);
  const sod = buildStartOfDay(mem, { kernel, ramdisk, cmdline: o.extra ?? '', storeEvtchn: storePort, consoleEvtchn: consPort });
  const bindDom0 = (guestPort: number, onEvent: () => void) => {
    const p = nextDom0Port++;
    d.evtchn.connectUnbound(guestPort, 0, p);
    dom0Ports.set(p, onEvent);
  };
  const storePage = mem.frame(sod.storeMfn);
  xs.introduceDomain(domid, storePage, () => d.evtchn.setPending(storePort));
  bindDom0(storePort, () => xs.kick(domid));
  const h = xs.openHandle();
  const dp = `/local/domain/${domid}`;
  h.mkdir(dp);
  h.setPerms(dp, [`n0`, `r${domid}`]);
  h.write(`${dp}/name`, name);
  h.write(`${dp}/domid`, String(domid));
  for (const sub of ['device', 'control', 'data', 'error', 'drivers', 'attr', 'memory', 'cpu']) {
    h.mkdir(`${dp}/${sub}`);
    h.setPerms(`${dp}/${sub}`, [`n${domid}`]);
  }
  h.write(`${dp}/memory/target`, String((o.memory ?? 64) * 1024));
  h.write(`${dp}/console/ring-ref`, String(sod.consoleMfn));
  h.write(`${dp}/console/port`, String(consPort));
  h.write(`${dp}/store/ring-ref`, String(sod.storeMfn));
  h.write(`${dp}/store/port`, String(storePort));

  consoleRing = new ConsoleRing(mem.frame(sod.consoleMfn), () => d.evtchn.setPending(consPort));
  bindDom0(consPort, () => consoleRing!.drain((b) => consoleOut.write(b)));
  input.on('data', (b: Buffer) => {
    consoleRing!.write(new Uint8Array(b));
  });

  d.boot(sod);

  let destroyed = false;
  const loop = () => {
    if (destroyed || d.stopped) {
      consoleRing!.drain((b) => consoleOut.write(b));
      consoleOut.end();
      void xs.close();
      return;
    }
    const r = d.runFor(20);
    consoleRing!.drain((b) => consoleOut.write(b));
    consoleRing!.flushInput();
    if (r.state === 'idle') {
      // Every vCPU is blocked: sleep until the next timer (an idle guest costs no CPU).
      const ms = Math.min(50, Math.max(0, r.idleNs / 1e6));
      setTimeout(loop, ms);
    } else setImmediate(loop);
  };
  setImmediate(loop);

  return {
    domain: d,
    console: consoleOut,
    input,
    exited,
    destroy() {
      destroyed = true;
      d.shutdown('poweroff', 'destroyed');
    },
  };
}
