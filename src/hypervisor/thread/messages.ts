// What crosses between dom0's main thread and a domain's worker by postMessage (everything
// frequent crosses through DomainControl instead).

import type { StartOfDay } from '../builder/start-of-day.js';
import type { ShutdownReason } from '../public.js';

export interface DomainThreadInit {
  domid: number;
  name: string;
  uuid: Uint8Array;
  nrPages: number;
  vcpus: number;
  memSab: SharedArrayBuffer;
  ctlSab: SharedArrayBuffer;
  sod: StartOfDay;
  /** The guest's unbound ports for xenstore and the console, as the builder recorded them. */
  storePort: number;
  consolePort: number;
}

export type FromDomainThread =
  /** HYPERVISOR_console_io output (the hypervisor log). */
  | { t: 'log'; text: string }
  /** The hypervisor's own message about the domain (a crash report), for `xm dmesg`. */
  | { t: 'printk'; text: string }
  | { t: 'shutdown'; reason: ShutdownReason; detail: string }
  /** A bug of ours outside any vCPU (a vCPU's own errors crash the domain instead). */
  | { t: 'error'; message: string }
  /** The loop ended (the domain stopped or was destroyed); the worker exits next. */
  | { t: 'exit' };
