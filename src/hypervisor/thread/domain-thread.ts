// A domain's worker thread: runs its vCPUs round-robin (so the domain's memory model stays
// single-threaded) and sleeps in Atomics.wait when every vCPU is blocked, so an idle guest costs
// no host CPU. dom0 reaches it only through DomainControl (doorbells, commands): this loop never
// returns to the worker's event loop while the domain lives, so it cannot receive messages.

import { parentPort, workerData } from 'node:worker_threads';
import { Domain, type DomainHost } from '../domain.js';
import { DomainMemory } from '../domain_memory.js';
import { CMD_DESTROY, CMD_PAUSE, RunState } from '../domain_control.js';
import { PortState } from '../event_channel.js';
import { EINVAL } from '../errno.js';
import type { DomainThreadInit, FromDomainThread } from './messages.js';

/** Longest sleep between looks at the control block when nothing wakes us (ms). */
const MAX_SLEEP_MS = 1000;
/** Wall time the vCPUs run between looks at doorbells and commands (ms). */
const RUN_MS = 5;

function post(m: FromDomainThread): void {
  parentPort!.postMessage(m);
}

function main(init: DomainThreadInit): void {
  const mem = new DomainMemory(init.nrPages, init.memSab, init.ctlSab);
  const ctl = mem.ctl;
  const decoder = new TextDecoder();
  const host: DomainHost = {
    consoleWrite: (_id, bytes) => post({ t: 'log', text: decoder.decode(bytes) }),
    printk: (_d, text) => post({ t: 'printk', text }),
    onShutdown: (_d, reason, detail) => post({ t: 'shutdown', reason, detail }),
    // No dom0 port is ever offered to a domU (dom0's backends bind the guests' ports instead).
    bindRemote: () => -EINVAL,
    sendRemote: (_d, port, remoteDom) => {
      if (remoteDom === 0) ctl.ringDom0(port);
    },
  };
  const d = new Domain({ domid: init.domid, name: init.name, uuid: init.uuid, mem, vcpus: init.vcpus, host });
  // The toolstack's ports for xenstore and the console: unbound to dom0, then bound by dom0's
  // daemons at once (as xenstored and xenconsoled do before the guest runs).
  for (const want of [init.storePort, init.consolePort]) {
    const p = d.evtchn.allocUnbound(0);
    if (p !== want) throw new Error(`domain ${init.domid}: port ${p} allocated where the builder recorded ${want}`);
    d.evtchn.connectUnbound(p, 0, p);
  }
  d.boot(init.sod);

  for (;;) {
    const seq = ctl.wakeSeq();
    // Destroyed: just stop running it (no guest shutdown: dom0 already knows why it ends).
    if (ctl.command(CMD_DESTROY)) break;
    ctl.takeClaims((p) => d.evtchn.connectClaimed(p));
    ctl.takeGuestDoorbells((p) => {
      const e = d.evtchn.valid(p) ? d.evtchn.ports[p] : undefined;
      // Only ports really bound to dom0: a stale bit for a closed or reused port is dropped.
      if (e && e.state === PortState.Interdomain && e.remoteDom === 0) d.evtchn.setPending(p);
    });
    if (ctl.command(CMD_PAUSE)) {
      ctl.runState = RunState.Paused;
      ctl.publishVcpus(d.vcpus);
      ctl.sleep(seq, MAX_SLEEP_MS);
      continue;
    }
    const r = d.runFor(RUN_MS);
    ctl.publishVcpus(d.vcpus);
    if (r.state === 'stopped') break;
    if (r.state === 'idle') {
      ctl.runState = RunState.Idle;
      ctl.sleep(seq, Math.min(MAX_SLEEP_MS, Math.max(0, r.idleNs / 1e6)));
    } else ctl.runState = RunState.Running;
  }
  ctl.runState = RunState.Stopped;
  ctl.publishVcpus(d.vcpus);
  ctl.pokeDom0();
  post({ t: 'exit' });
}

try {
  main(workerData as DomainThreadInit);
} catch (e) {
  post({ t: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  post({ t: 'exit' });
}
