// `xm create -n`: the `(vm ...)` S-expression create.make_config built and
// PrettyPrint.prettyprint printed, for a PV domain (tools/python/xen/xm/create.py: make_config,
// configure_image, configure_mem_prot, configure_disks, configure_vifs; Xen 4.4.4).
//
// make_config only wrote keys whose option value was set and true. A DomainConfig keeps
// values, not whether they were written, so an optional key (maxmem, on_poweroff, ...) is
// shown when it differs from what leaving it out gives; for the files people write that is
// the same thing.

import type { DomainConfig } from '../config/domain-config.js';
import { py2DictOrder } from '../format/pycompat.js';
import { prettyprint, type Sxp } from '../format/sxp.js';

/** cpus as a string xm would have taken: '0-3' style ranges of the first VCPU's list. */
function cpusString(cpus: readonly number[]): string {
  const s = [...new Set(cpus)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j]! + 1) j++;
    parts.push(i === j ? `${s[i]}` : `${s[i]}-${s[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** comma_sep_kv_to_dict(), items in CPython 2's dict order. */
function vifItems(spec: string): [string, string][] {
  const d = new Map<string, string>();
  const s = spec.trim();
  if (s !== '') {
    for (const b of s.split(',')) {
      const eq = b.indexOf('=');
      if (eq >= 0) d.set(b.slice(0, eq).trim(), b.slice(eq + 1).trim());
    }
  }
  return py2DictOrder([...d.keys()]).map((k) => [k, d.get(k)!]);
}

export function makeConfigSxp(c: DomainConfig): Sxp {
  const config: Sxp[] = ['vm'];
  const add = (k: string, v: Sxp | null | undefined | false): void => {
    if (v === null || v === undefined || v === false || v === '' || v === 0) return;
    config.push([k, v]);
  };
  add('name', c.name);
  add('memory', c.memory);
  if (c.maxmem !== c.memory) add('maxmem', c.maxmem);
  add('shadow_memory', c.shadowMemory);
  if (c.onPoweroff !== 'destroy') add('on_poweroff', c.onPoweroff);
  add('tsc_mode', c.tscMode);
  add('nomigrate', c.nomigrate);
  if (c.onReboot !== 'restart') add('on_reboot', c.onReboot);
  if (c.onCrash !== 'restart') add('on_crash', c.onCrash);
  add('features', c.features);
  add('on_xend_start', c.onXendStart);
  add('on_xend_stop', c.onXendStop);
  add('description', c.description);
  // vcpu_conf()
  if (c.maxvcpus !== c.vcpus) {
    config.push(['vcpu_avail', Number(c.vcpuAvail)]);
    config.push(['vcpus', c.maxvcpus]);
  } else config.push(['vcpus', c.vcpus]);
  if (c.uuid !== null) config.push(['uuid', c.uuid]);
  const first = c.cpus[0];
  if (first !== undefined && first.length > 0) config.push(['cpus', cpusString(first)]);
  if (c.cpuCap !== null) config.push(['cpu_cap', c.cpuCap]);
  if (c.cpuWeight !== null) config.push(['cpu_weight', c.cpuWeight]);
  if (c.localtime) config.push(['localtime', 1]);
  config.push(['oos', 1]);
  if (c.pool !== 'Pool-0') config.push(['pool_name', c.pool]);

  // configure_image()
  const image: Sxp[] = ['linux', ['kernel', c.kernel]];
  if (c.ramdisk !== null) image.push(['ramdisk', c.ramdisk]);
  if (c.root !== null) image.push(['root', c.root]);
  if (c.videoram) image.push(['videoram', c.videoram]);
  if (c.extra) image.push(['args', c.extra]);
  if (c.superpages) image.push(['superpages', c.superpages]);
  image.push(['tsc_mode', c.tscMode]);
  image.push(['nomigrate', c.nomigrate]);
  config.push(['image', image]);
  // configure_mem_prot() appends to the vm, not the image.
  config.push(['s3_integrity', 1]);

  for (const d of c.disk) {
    const f = d.spec.split(',').map((x) => x.trim());
    const uname = f[0] ?? '';
    const cls = uname.startsWith('tap2:') ? 'tap2' : uname.startsWith('tap:') ? 'tap' : 'vbd';
    const vbd: Sxp[] = [cls, ['uname', uname], ['dev', f[1] ?? ''], ['mode', f[2] ?? '']];
    if (f[3]) vbd.push(['backend', f[3]]);
    if (f[4]) vbd.push(['protocol', f[4]]);
    config.push(['device', vbd]);
  }
  for (const v of c.vif) config.push(['device', ['vif', ...vifItems(v.spec)]]);
  return config;
}

export function formatDryRun(c: DomainConfig): string {
  return prettyprint(makeConfigSxp(c));
}
