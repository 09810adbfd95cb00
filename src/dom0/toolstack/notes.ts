// The guest kernel's Xen ELF notes as xend listed them (XendConfig's notes dict:
// XEN_ELFNOTE_* names from tools/python/xen/xend/XendConfig.py / xc.py), for `xm list --long`
// and the image/* xenstore nodes.

import type { KernelImage } from '../../hypervisor/builder/kernel-image.js';

export function kernelNotes(k: KernelImage): (readonly [string, string | bigint])[] {
  const n = k.notes;
  const out: (readonly [string, string | bigint])[] = [];
  const num = (name: string, v: bigint | undefined) => {
    if (v !== undefined) out.push([name, v]);
  };
  const str = (name: string, v: string | undefined) => {
    if (v !== undefined) out.push([name, v]);
  };
  num('ENTRY', n.entry);
  num('HYPERCALL_PAGE', n.hypercallPage);
  num('VIRT_BASE', n.virtBase);
  num('PADDR_OFFSET', n.paddrOffset);
  str('XEN_VERSION', n.xenVersion);
  str('GUEST_OS', n.guestOs);
  str('GUEST_VERSION', n.guestVersion);
  str('LOADER', n.loader);
  str('PAE_MODE', n.paeMode);
  if (n.features.strings.length) out.push(['FEATURES', n.features.strings.join('|')]);
  num('HV_START_LOW', n.hvStartLow);
  num('SUSPEND_CANCEL', n.suspendCancel);
  num('INIT_P2M', n.initP2m);
  num('MOD_START_PFN', n.modStartPfn);
  return out;
}
