// xm's output formats, checked against text produced by the format strings of Xen 4.4.4's
// tools/python/xen/xm/main.py (xm_brief_list, xm_vcpu_list, xm_uptime, xm_info,
// xm_block_list, xm_network_list) and PrettyPrint.prettyprint for `xm list --long`, run
// under CPython 2.7 on the same inputs. Trailing blanks in these lines are part of xm's output.

import { describe, expect, it } from 'vitest';

import {
  domainDoesNotExist,
  domainSxpr,
  failure,
  formatBlockList,
  formatInfo,
  formatList,
  formatListLong,
  formatNetworkList,
  formatUptime,
  formatVcpuList,
  show,
  stateString,
  type DomainInfo,
  type FrontendDevice,
  type HostInfo,
} from '../../src/xm/format/index.js';

const EXPECT_LIST = [
    "Name                                        ID   Mem VCPUs      State   Time(s)",
    "Domain-0                                     0  1024     1     r-----     21.9",
    "busybox                                      2   512     1     -b----      1.4",
    "a-very-long-domain-name-that-is-longer-than-forty 1234567 123456     2     --p--- 12345678.2",
    "stopped                                          128     2                 0.0",
  ].join('\n') + '\n';

const EXPECT_VCPU = [
    "Name                                ID  VCPU   CPU State   Time(s) CPU Affinity",
    "Domain-0                             0     0     0   r--      21.9 any cpu",
    "busybox                              2     0     1   -b-       1.2 0-1,3",
    "busybox                              2     1     -   --p       0.0 2",
    "stopped                                    0                   0.0 any cpu",
  ].join('\n') + '\n';

const EXPECT_UPTIME = [
    "Name                                ID Uptime ",
    "Domain-0                             0 1 day,  2:03:05",
    "busybox                              2  0:01:16",
    "long                                 3 2 days,  5:00:07",
    "stopped                                 0:00:00",
  ].join('\n') + '\n';

const EXPECT_INFO = [
    "system                 : Linux",
    "host                   : tsxen",
    "release                : 6.1.0-tsxen",
    "version                : #1 SMP",
    "machine                : x86_64",
    "nr_cpus                : 2",
    "nr_nodes               : 1",
    "cores_per_socket       : 2",
    "threads_per_core       : 1",
    "cpu_mhz                : 2400",
    "hw_caps                : 178bfbff:00000000:00000000:00000000",
    "virt_caps              : ",
    "total_memory           : 4096",
    "free_memory            : 2048",
    "free_cpus              : 0",
    "xen_major              : 4",
    "xen_minor              : 4",
    "xen_extra              : .4",
    "xen_caps               : xen-3.0-x86_64",
    "xen_scheduler          : credit",
    "xen_pagesize           : 4096",
    "platform_params        : virt_start=0xffff800000000000",
    "xen_changeset          : tsxen",
    "xen_commandline        : ",
    "cc_compiler            : node v20",
    "cc_compile_by          : tsxen",
    "cc_compile_domain      : tsxen",
    "cc_compile_date        : 2024-01-01",
    "xend_config_format     : 4",
  ].join('\n') + '\n';

const EXPECT_BLOCK = [
    "Vdev  BE handle state evt-ch ring-ref BE-path",
    "51712  0    0     4      14     8     /local/domain/0/backend/vbd/2/51712  ",
    "268442624  0    0     1      -1     -1    ??                              ",
  ].join('\n') + '\n';

const EXPECT_NET = [
    "Idx BE     MAC Addr.     handle state evt-ch tx-/rx-ring-ref BE-path",
    "0   0  00:16:3e:72:18:9b    0     4      15    768  /769     /local/domain/0/backend/vif/2/0  ",
  ].join('\n') + '\n';

const EXPECT_LONG = [
    "(domain",
    "    (domid 2)",
    "    (cpu_weight 256)",
    "    (cpu_cap 0)",
    "    (pool_name Pool-0)",
    "    (bootloader '')",
    "    (vcpus 1)",
    "    (cpus (()))",
    "    (on_poweroff destroy)",
    "    (description '')",
    "    (on_crash restart)",
    "    (uuid 6fd1e3a8-5b3c-4e2f-9a7d-1c2b3a4d5e6f)",
    "    (bootloader_args '')",
    "    (name busybox)",
    "    (on_reboot restart)",
    "    (maxmem 512)",
    "    (memory 512)",
    "    (shadow_memory 0)",
    "    (vcpu_avail 1)",
    "    (features '')",
    "    (on_xend_start ignore)",
    "    (on_xend_stop ignore)",
    "    (start_time 1423227315.62)",
    "    (cpu_time 1.405329712)",
    "    (online_vcpus 1)",
    "    (image",
    "        (linux",
    "            (kernel /boot/vmlinuz-2.6.32-504.el6.x86_64)",
    "            (ramdisk /boot/initramfs-2.6.32-504.el6.x86_64.img)",
    "            (args 'root=/dev/xvda ro selinux=0 init=/bin/sh')",
    "            (superpages 0)",
    "            (videoram 4)",
    "            (pci ())",
    "            (nomigrate 0)",
    "            (tsc_mode 0)",
    "            (notes",
    "                (HV_START_LOW 18446603336221196288)",
    "                (FEATURES '!writable_page_tables|pae_pgdir_above_4gb')",
    "                (VIRT_BASE 18446744071562067968)",
    "                (GUEST_VERSION 2.6)",
    "                (PADDR_OFFSET 0)",
    "                (GUEST_OS linux)",
    "                (HYPERCALL_PAGE 18446744071562076160)",
    "                (LOADER generic)",
    "                (INIT_P2M 18446719884453740544)",
    "                (SUSPEND_CANCEL 1)",
    "                (ENTRY 18446744071589425664)",
    "                (XEN_VERSION xen-3.0)",
    "                (MOD_START_PFN 1)",
    "            )",
    "        )",
    "    )",
    "    (status 2)",
    "    (state -b----)",
    "    (store_mfn 1044476)",
    "    (console_mfn 1044475)",
    "    (device",
    "        (vif",
    "            (bridge xenbr0)",
    "            (mac 00:16:3e:72:18:9b)",
    "            (script /etc/xen/scripts/vif-bridge)",
    "            (uuid c1d2e3f4-0000-4000-8000-000000000001)",
    "            (backend 0)",
    "        )",
    "    )",
    "    (device",
    "        (console",
    "            (protocol vt100)",
    "            (location 2)",
    "            (uuid a0b1c2d3-1111-4222-8333-444455556666)",
    "        )",
    "    )",
    "    (device",
    "        (vbd",
    "            (uuid 9f3b8a52-33e1-4c86-8e0b-2d1f3a4b5c6d)",
    "            (bootable 1)",
    "            (dev xvda:disk)",
    "            (uname file:/xen/images/busybox.img)",
    "            (mode w)",
    "            (backend 0)",
    "            (VDI '')",
    "        )",
    "    )",
    ")",
    "(domain",
    "    (domid 0)",
    "    (cpu_weight 256)",
    "    (cpu_cap 0)",
    "    (pool_name Pool-0)",
    "    (bootloader '')",
    "    (vcpus 2)",
    "    (cpus (() ()))",
    "    (on_poweroff destroy)",
    "    (description '')",
    "    (on_crash restart)",
    "    (uuid 00000000-0000-0000-0000-000000000000)",
    "    (bootloader_args '')",
    "    (name Domain-0)",
    "    (on_reboot restart)",
    "    (maxmem 16777215)",
    "    (memory 1024)",
    "    (shadow_memory 0)",
    "    (vcpu_avail 3)",
    "    (features '')",
    "    (on_xend_start ignore)",
    "    (on_xend_stop ignore)",
    "    (start_time 1423227000.0)",
    "    (cpu_time 21.912345678)",
    "    (online_vcpus 2)",
    "    (image (linux (kernel '') (superpages 0)))",
    "    (status 2)",
    "    (state r-----)",
    ")",
  ].join('\n') + '\n';

const EXPECT_BLOCKLONG = [
    "(51712",
    "    ((backend-id 0)",
    "        (virtual-device 51712)",
    "        (device-type disk)",
    "        (state 4)",
    "        (backend /local/domain/0/backend/vbd/2/51712)",
    "        (ring-ref 8)",
    "        (event-channel 14)",
    "        (protocol x86_64-abi)",
    "    )",
    ")",
  ].join('\n') + '\n';

const RUNNING = { running: false, blocked: true, paused: false, shutdown: false, crashed: false, dying: false };

function domain(over: Partial<DomainInfo> & Pick<DomainInfo, 'name' | 'domid'>): DomainInfo {
  return {
    uuid: '00000000-0000-0000-0000-000000000000',
    memory: 128,
    maxmem: 128,
    vcpus: 1,
    cpus: [[]],
    cpuWeight: 256,
    cpuCap: 0,
    poolName: 'Pool-0',
    onPoweroff: 'destroy',
    onReboot: 'restart',
    onCrash: 'restart',
    bootloader: '',
    bootloaderArgs: '',
    description: '',
    shadowMemory: 0,
    features: '',
    onXendStart: 'ignore',
    onXendStop: 'ignore',
    cpuTime: 0,
    image: { kernel: '', ramdisk: '', args: '', superpages: 0, platform: {}, notes: [] },
    status: 'running',
    state: RUNNING,
    devices: [],
    ...over,
  };
}

/** The seed walkthrough's domain, as xend 4.4 would have described it. */
const BUSYBOX = domain({
  name: 'busybox',
  domid: 2,
  uuid: '6fd1e3a8-5b3c-4e2f-9a7d-1c2b3a4d5e6f',
  memory: 512,
  maxmem: 512,
  vcpus: 1,
  onlineVcpus: 1,
  vcpuAvail: 1,
  startTime: 1423227315.62,
  cpuTime: 1.405329712,
  image: {
    kernel: '/boot/vmlinuz-2.6.32-504.el6.x86_64',
    ramdisk: '/boot/initramfs-2.6.32-504.el6.x86_64.img',
    args: 'root=/dev/xvda ro selinux=0 init=/bin/sh',
    superpages: 0,
    platform: { tsc_mode: 0, nomigrate: 0, pci: [], videoram: 4 },
    // Deliberately not in note-type order: xend's dict order must not depend on it.
    notes: [
      ['MOD_START_PFN', 1n],
      ['ENTRY', 18446744071589425664n],
      ['HYPERCALL_PAGE', 18446744071562076160n],
      ['VIRT_BASE', 18446744071562067968n],
      ['PADDR_OFFSET', 0n],
      ['XEN_VERSION', 'xen-3.0'],
      ['GUEST_OS', 'linux'],
      ['GUEST_VERSION', '2.6'],
      ['LOADER', 'generic'],
      ['FEATURES', '!writable_page_tables|pae_pgdir_above_4gb'],
      ['HV_START_LOW', 18446603336221196288n],
      ['SUSPEND_CANCEL', 1n],
      ['INIT_P2M', 18446719884453740544n],
    ],
  },
  storeMfn: 1044476,
  consoleMfn: 1044475,
  devices: [
    {
      class: 'vbd',
      backend: 0,
      dev: 'xvda:disk',
      uname: 'file:/xen/images/busybox.img',
      mode: 'w',
      uuid: '9f3b8a52-33e1-4c86-8e0b-2d1f3a4b5c6d',
      bootable: 1,
    },
    { class: 'console', location: '2', uuid: 'a0b1c2d3-1111-4222-8333-444455556666', protocol: 'vt100' },
    {
      class: 'vif',
      backend: 0,
      script: '/etc/xen/scripts/vif-bridge',
      bridge: 'xenbr0',
      mac: '00:16:3e:72:18:9b',
      uuid: 'c1d2e3f4-0000-4000-8000-000000000001',
    },
  ],
});

const DOM0 = domain({
  name: 'Domain-0',
  domid: 0,
  memory: 1024,
  maxmem: 16777215,
  vcpus: 2,
  onlineVcpus: 2,
  vcpuAvail: 3,
  cpus: [[], []],
  startTime: 1423227000.0,
  cpuTime: 21.912345678,
  state: { running: true, blocked: false, paused: false, shutdown: false, crashed: false, dying: false },
});

describe('xm list', () => {
  it('prints the header and rows width by width (xm_brief_list)', () => {
    const doms = [
      domain({ name: 'Domain-0', domid: 0, memory: 1024, onlineVcpus: 1, cpuTime: 21.9, state: DOM0.state }),
      domain({ name: 'busybox', domid: 2, memory: 512, vcpus: 4, onlineVcpus: 1, cpuTime: 1.4 }),
      domain({
        name: 'a-very-long-domain-name-that-is-longer-than-forty',
        domid: 1234567,
        memory: 123456,
        vcpus: 2,
        cpuTime: 12345678.25,
        state: { running: false, blocked: false, paused: true, shutdown: false, crashed: false, dying: false },
      }),
      domain({ name: 'stopped', domid: null, memory: 128, vcpus: 2, cpuTime: 99, status: 'halted' }),
    ];
    expect(formatList(doms)).toBe(EXPECT_LIST);
  });

  it('has the seed walkthrough header', () => {
    expect(formatList([]).split('\n')[0].replace(/ +/g, ' ')).toBe('Name ID Mem VCPUs State Time(s)');
  });

  it('spells every state flag in its column', () => {
    const all = { running: true, blocked: true, paused: true, shutdown: true, crashed: true, dying: true };
    expect(stateString(all)).toBe('rbpscd');
    expect(stateString({ ...all, running: false, paused: false, crashed: false })).toBe('-b-s-d');
  });
});

describe('xm list --long', () => {
  it('prints XendConfig.to_sxp through PrettyPrint, in xend order', () => {
    expect(formatListLong([BUSYBOX, DOM0])).toBe(EXPECT_LONG);
  });

  it('leaves out what a stopped domain does not have', () => {
    const s = show(domainSxpr(domain({ name: 'off', domid: null, status: 'halted', cpuTime: 5 })));
    expect(s).not.toContain('(domid');
    expect(s).not.toContain('(state');
    expect(s).not.toContain('cpu_time');
    expect(s).toContain('(status 0)');
  });

  it('refuses platform keys and notes xend did not know', () => {
    const bad = domain({ name: 'x', domid: 1, image: { ...BUSYBOX.image, platform: { bogus: 1 } } });
    expect(() => domainSxpr(bad)).toThrow(/bogus/);
    const badNote = domain({ name: 'x', domid: 1, image: { ...BUSYBOX.image, notes: [['NOPE', 1n]] } });
    expect(() => domainSxpr(badNote)).toThrow(/NOPE/);
  });
});

describe('xm vcpu-list', () => {
  it('prints xm_vcpu_list rows with affinity ranges', () => {
    const dom0 = domain({
      name: 'Domain-0',
      domid: 0,
      vcpuInfo: [{ number: 0, online: true, blocked: false, running: true, cpuTime: 21.95, cpu: 0, cpumap: [0, 1, 2, 3] }],
    });
    const bb = domain({
      name: 'busybox',
      domid: 2,
      vcpus: 2,
      vcpuInfo: [
        { number: 0, online: true, blocked: true, running: false, cpuTime: 1.25, cpu: 1, cpumap: [3, 1, 0, 1, 7] },
        { number: 1, online: false, blocked: false, running: false, cpuTime: 0, cpu: 2, cpumap: [2] },
      ],
    });
    const stopped = domain({ name: 'stopped', domid: null });
    expect(formatVcpuList([dom0, bb, stopped], 4)).toBe(EXPECT_VCPU);
  });
});

describe('xm uptime', () => {
  it('prints days, hours, minutes and seconds (xm_uptime)', () => {
    const now = new Date(1_700_000_000_000);
    const t = now.getTime() / 1000;
    const doms = [
      domain({ name: 'Domain-0', domid: 0 }),
      domain({ name: 'busybox', domid: 2, startTime: t - 75.5 }),
      domain({ name: 'long', domid: 3, startTime: t - (2 * 86400 + 5 * 3600 + 7) }),
      domain({ name: 'stopped', domid: null }),
    ];
    expect(formatUptime(doms, { now, hostUptime: 93784.6 })).toBe(EXPECT_UPTIME);
  });

  it('has the short form', () => {
    const now = new Date(2024, 0, 2, 3, 4, 5);
    const out = formatUptime([domain({ name: 'busybox', domid: 2, startTime: now.getTime() / 1000 - 3600 })], {
      now,
      hostUptime: 0,
      short: true,
    });
    expect(out).toBe(' 03:04:05 up  1:00, busybox (2)\n');
  });
});

describe('xm info', () => {
  it('prints XendNode.info in its order, with our xenstored socket last', () => {
    const host: HostInfo = {
      system: 'Linux',
      host: 'tsxen',
      release: '6.1.0-tsxen',
      version: '#1 SMP',
      machine: 'x86_64',
      nr_cpus: 2,
      nr_nodes: 1,
      cores_per_socket: 2,
      threads_per_core: 1,
      cpu_mhz: 2400,
      hw_caps: '178bfbff:00000000:00000000:00000000',
      virt_caps: '',
      total_memory: 4096,
      free_memory: 2048,
      free_cpus: 0,
      xen_major: 4,
      xen_minor: 4,
      xen_extra: '.4',
      xen_caps: 'xen-3.0-x86_64',
      xen_scheduler: 'credit',
      xen_pagesize: 4096,
      platform_params: 'virt_start=0xffff800000000000',
      xen_changeset: 'tsxen',
      xen_commandline: '',
      cc_compiler: 'node v20',
      cc_compile_by: 'tsxen',
      cc_compile_domain: 'tsxen',
      cc_compile_date: '2024-01-01',
      xend_config_format: 4,
      xenstored_socket: '/run/tsxen/xenstored/socket',
    };
    expect(formatInfo(host)).toBe(`${EXPECT_INFO}xenstored_socket       : /run/tsxen/xenstored/socket\n`);
  });
});

describe('xm block-list and network-list', () => {
  const vbds: FrontendDevice[] = [
    {
      devid: 51712,
      nodes: [
        ['backend-id', '0'],
        ['virtual-device', '51712'],
        ['device-type', 'disk'],
        ['state', '4'],
        ['backend', '/local/domain/0/backend/vbd/2/51712'],
        ['ring-ref', '8'],
        ['event-channel', '14'],
        ['protocol', 'x86_64-abi'],
      ],
    },
    { devid: 268442624, nodes: [['backend-id', '0'], ['state', '1']] },
  ];

  it('prints xm_block_list rows, defaults for missing nodes', () => {
    expect(formatBlockList(vbds)).toBe(EXPECT_BLOCK);
  });

  it('prints the --long form with PrettyPrint', () => {
    expect(formatBlockList(vbds.slice(0, 1), true)).toBe(EXPECT_BLOCKLONG);
  });

  it('prints nothing at all for a domain without devices', () => {
    expect(formatBlockList([])).toBe('');
    expect(formatNetworkList([])).toBe('');
  });

  it('prints xm_network_list rows', () => {
    const vifs: FrontendDevice[] = [
      {
        devid: 0,
        nodes: [
          ['backend-id', '0'],
          ['mac', '00:16:3e:72:18:9b'],
          ['handle', '0'],
          ['state', '4'],
          ['backend', '/local/domain/0/backend/vif/2/0'],
          ['tx-ring-ref', '768'],
          ['rx-ring-ref', '769'],
          ['event-channel', '15'],
          ['request-rx-copy', '1'],
        ],
      },
    ];
    expect(formatNetworkList(vifs)).toBe(EXPECT_NET);
  });

  it('refuses a node that is not a number where xm needed one', () => {
    expect(() => formatBlockList([{ devid: 1, nodes: [['state', 'four']] }])).toThrow(/state.*four/);
  });
});

describe('xm errors', () => {
  it('reports an unknown domain with the fault code as exit status', () => {
    expect(domainDoesNotExist('nosuch')).toEqual({ stderr: "Error: Domain 'nosuch' does not exist.\n", exitCode: 3 });
    expect(failure('Unable to open config file: busybox')).toEqual({
      stderr: 'Error: Unable to open config file: busybox\n',
      exitCode: 1,
    });
  });
});
