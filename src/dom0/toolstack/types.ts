// The toolstack: what xend's control socket and `xm` ask of dom0, in one interface. xend (the
// daemon) owns one Toolstack and serves requests with it; tests may drive one in process.
// It holds the domains (each domU on its own worker thread), xenstored, xenconsoled, the block
// and network backends and the bridges.

import type { EventEmitter } from 'node:events';
import type { Console } from '../xenconsoled/console.js';
import type { DomainConfig } from '../model/index.js';
import type { DiskSpec } from '../../devices/block/disk-spec.js';
import type { VifSpec } from '../../devices/net/vif-spec.js';
import type { DomainInfo, FrontendDevice, HostInfo } from '../model/info.js';
import type { ShutdownReason } from '../../hypervisor/public.js';

/** An error xm prints as "Error: MESSAGE" (XendError / XendInvalidDomain in xend). */
export class XendError extends Error {
  constructor(
    message: string,
    /** xm's exit status for it. */
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'XendError';
  }
}

/** How a domain ended; 'destroyed' is `xm destroy` (or xend going away). */
export type EndReason = ShutdownReason | 'destroyed';

export interface DomainEnd {
  readonly domid: number;
  readonly name: string;
  readonly reason: EndReason;
  /** Free text: the shutdown code, the crash cause. */
  readonly detail: string;
  /**
   * Its last hypervisor-console lines (its own console_io output, such as earlyprintk=xen,
   * and Xen's report of a crash): what a domain that dies before its console is up leaves.
   */
  readonly log?: readonly string[];
}

export interface CreateOptions {
  /** `xm create -p`: built but left paused. */
  paused?: boolean;
}

/**
 * Events:
 * - 'created' (domid: number, name: string)
 * - 'shutdown' (end: DomainEnd): the guest stopped (before on_* actions run)
 * - 'gone' (end: DomainEnd): the domain no longer exists (destroyed, or its on_* action was
 *   destroy); a restart fires 'created' again with a new domid.
 */
export interface Toolstack extends EventEmitter {
  /** Build and start a domU; resolves once its vCPUs run (devices are being connected). */
  create(config: DomainConfig, opts?: CreateOptions): Promise<{ domid: number; name: string }>;
  /** Domain-0 first, then domUs by domid. */
  list(): DomainInfo[];
  /** By name, or by id given as a decimal string; XendError "Domain 'X' does not exist." */
  lookup(dom: string): DomainInfo;
  info(): HostInfo;
  destroy(domid: number): Promise<void>;
  /** Ask the guest through xenstore control/shutdown (xm shutdown / reboot). */
  shutdown(domid: number, kind: 'poweroff' | 'reboot' | 'halt'): void;
  /** Resolves when the domain is gone (immediately when it already is). */
  waitGone(domid: number): Promise<DomainEnd>;
  pause(domid: number): void;
  unpause(domid: number): void;
  rename(domid: number, name: string): void;
  sysrq(domid: number, key: string): void;
  /** MiB. */
  setMemoryTarget(domid: number, mib: number): void;
  setMaxMemory(domid: number, mib: number): void;
  setVcpus(domid: number, n: number): void;
  /** The domain's console (xenconsoled): attach streams, write keystrokes, read the screen. */
  console(domid: number): Console;
  /** The hypervisor log (`xm dmesg`); clear empties it after reading. */
  dmesg(clear: boolean): string;
  blockList(domid: number): FrontendDevice[];
  blockAttach(domid: number, spec: DiskSpec): Promise<void>;
  blockDetach(domid: number, dev: string, force: boolean): Promise<void>;
  networkList(domid: number): FrontendDevice[];
  networkAttach(domid: number, spec: VifSpec): Promise<void>;
  networkDetach(domid: number, devid: number, force: boolean): Promise<void>;
  /** Path of xenstored's unix socket (also in info()). */
  readonly xenstoredSocket: string;
  /** Destroy every domain and stop the services. */
  close(): Promise<void>;
}
