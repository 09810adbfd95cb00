// What a dom0 backend needs of the frontend domain it serves: its memory, its grant table (dom0
// side), and interdomain event channels. The hypervisor provides the implementation; backends
// depend only on this contract.

import type { DomainMemory } from './domain_memory.js';
import type { GrantTable } from './grant_table.js';

export interface EventChannelEnd {
  /** dom0's local port number. */
  readonly port: number;
  /** Raise the event at the frontend (EVTCHNOP_send from dom0's end). */
  notify(): void;
  /** Unbind (EVTCHNOP_close). */
  close(): void;
}

export interface FrontendDomain {
  readonly domid: number;
  readonly mem: DomainMemory;
  readonly grants: GrantTable;
  /**
   * Bind dom0's end to the frontend's unbound port `remotePort` (EVTCHNOP_bind_interdomain);
   * `onEvent` runs on dom0's main thread each time the frontend notifies. Throws if the port
   * is not an unbound port offered to dom0.
   */
  bindInterdomain(remotePort: number, onEvent: () => void): EventChannelEnd;
}
