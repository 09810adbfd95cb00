// The xenstore nodes xend wrote for a domain, so that the guest's xenbus finds its store and
// console and dom0 tools find the domain (Xen 4.4.4 tools/python/xen/xend/XendDomainInfo.py:
// _storeDomDetails, _vcpuDomDetails, _storeVmDetails, and the directory permissions of
// _introduceDomain / XendDomainInfo._initDomain).

import type { XsHandle } from '../xenstored/index.js';
import { rmQuiet } from '../../devices/xenbus.js';
import type { DomainConfig } from '../model/index.js';

export interface DomainTree {
  domid: number;
  name: string;
  uuid: string;
  vmPath: string;
  config: DomainConfig;
  storeMfn: number;
  consoleMfn: number;
  storePort: number;
  consolePort: number;
  /** The guest kernel's Xen notes as (NAME, value) pairs. */
  notes: readonly (readonly [string, string | bigint])[];
  startTime: number;
}

/** xend's console_limit default (xend-config.sxp: 1024 KiB). */
export const CONSOLE_LIMIT_KIB = 1024;

export function domainPath(domid: number): string {
  return `/local/domain/${domid}`;
}

export function writeDomainTree(h: XsHandle, t: DomainTree): void {
  const dp = domainPath(t.domid);
  const c = t.config;
  const tx = h.transactionStart();
  try {
    h.mkdir(dp, tx);
    // The guest reads its own directory; only dom0 writes it (XendDomainInfo: n0 r<domid>).
    h.setPerms(dp, ['n0', `r${t.domid}`], tx);
    // Subtrees the guest writes itself (xenbus device and control directories).
    for (const sub of ['device', 'control', 'data', 'error', 'drivers', 'attr', 'feature']) {
      h.mkdir(`${dp}/${sub}`, tx);
      h.setPerms(`${dp}/${sub}`, [`n${t.domid}`], tx);
    }
    const put: Record<string, string> = {
      domid: String(t.domid),
      vm: t.vmPath,
      name: t.name,
      'console/limit': String(CONSOLE_LIMIT_KIB * 1024),
      'memory/target': String(c.memory * 1024),
      description: c.description,
      'console/port': String(t.consolePort),
      'console/ring-ref': String(t.consoleMfn),
      'console/type': 'xenconsoled',
      'store/port': String(t.storePort),
      'store/ring-ref': String(t.storeMfn),
      'control/platform-feature-xs_reset_watches': '1',
      'control/platform-feature-multiprocessor-suspend': '1',
    };
    for (const [n, v] of t.notes) {
      const key = n.toLowerCase().replace(/_/g, '-');
      if (key === 'features' && typeof v === 'string') {
        for (const f of v.split('|')) {
          const ff = f.replace(/_/g, '-');
          if (ff.startsWith('!')) put[`image/features/${ff.slice(1)}`] = '0';
          else if (ff) put[`image/features/${ff}`] = '1';
        }
      } else put[`image/${key}`] = String(v);
    }
    for (let v = 0; v < c.maxvcpus; v++) {
      put[`cpu/${v}/availability`] = (c.vcpuAvail >> BigInt(v)) & 1n ? 'online' : 'offline';
    }
    for (const [k, v] of Object.entries(put)) h.write(`${dp}/${k}`, v, tx);
    // control/shutdown and control/sysrq are written by dom0 and read by the guest.

    // /vm/<uuid>: the domain's configuration as xend kept it (_storeVmDetails).
    h.mkdir(t.vmPath, tx);
    h.setPerms(t.vmPath, ['n0', `r${t.domid}`], tx);
    const vm: Record<string, string> = {
      uuid: t.uuid,
      name: t.name,
      memory: String(c.memory),
      maxmem: String(c.maxmem),
      vcpus: String(c.maxvcpus),
      vcpu_avail: String(c.vcpuAvail),
      on_poweroff: c.onPoweroff,
      on_reboot: c.onReboot,
      on_crash: c.onCrash,
      start_time: t.startTime.toFixed(2),
      'image/ostype': 'linux',
      'image/kernel': c.kernel,
      'image/ramdisk': c.ramdisk ?? '',
      'image/cmdline': c.cmdline,
    };
    for (const [k, v] of Object.entries(vm)) h.write(`${t.vmPath}/${k}`, v, tx);
    h.transactionEnd(tx, true);
  } catch (e) {
    try {
      h.transactionEnd(tx, false);
    } catch {
      // the transaction is gone already
    }
    throw e;
  }
}

/** Already gone is fine: xenstored drops a released domain's own nodes. */
export function removeDomainTree(h: XsHandle, domid: number, vmPath: string): void {
  for (const p of [domainPath(domid), vmPath]) rmQuiet(h, p);
}
