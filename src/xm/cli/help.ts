// xm's help texts and their layout: cmdHelp, shortHelp and longHelp of
// tools/python/xen/xm/main.py (SUBCOMMAND_HELP, SUBCOMMAND_OPTIONS, common_commands,
// all_commands) and wrap() of tools/python/xen/xm/opts.py, Xen 4.4.4. Only the commands
// tsxen has are listed; xm's others are in UNSUPPORTED_COMMANDS.

/** opts._line_wrap. */
function lineWrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let current = '';
  for (const word of text.trim().split(/\s+/).filter((w) => w !== '')) {
    if (current.length + word.length + 1 < width) current += `${word} `;
    else {
      lines.push(current.trim());
      current = `${word} `;
    }
  }
  if (current) lines.push(current.trim());
  return lines;
}

/** opts.wrap: short texts as they are, longer ones wrapped line by line. */
export function wrap(text: string, width = 70): string[] {
  if (text.length < width) return [text];
  return text.split('\n').flatMap((l) => lineWrap(l, width));
}

/** Python's '%-Ns'. */
function ljust(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

export const SUBCOMMAND_HELP: Readonly<Record<string, readonly [string, string]>> = {
  console: ['[-q|--quiet] <Domain>', "Attach to <Domain>'s console."],
  create: ['<ConfigFile> [options] [vars]', 'Create a domain based on <ConfigFile>.'],
  destroy: ['<Domain>', 'Terminate a domain immediately.'],
  help: ['', 'Display this message.'],
  list: ['[options] [Domain, ...]', 'List information about all/some domains.'],
  'mem-max': ['<Domain> <Mem>', 'Set the maximum amount reservation for a domain.'],
  'mem-set': ['<Domain> <Mem>', 'Set the current memory usage for a domain.'],
  pause: ['<Domain>', 'Pause execution of a domain.'],
  reboot: ['<Domain> [-wa]', 'Reboot a domain.'],
  shutdown: ['<Domain> [-waRH]', 'Shutdown a domain.'],
  top: ['', 'Monitor a host and the domains in real time.'],
  unpause: ['<Domain>', 'Unpause a paused domain.'],
  uptime: ['[-s] [Domain, ...]', 'Print uptime for all/some domains.'],
  new: ['<ConfigFile> [options] [vars]', 'Adds a domain to Xend domain management'],
  delete: ['<DomainName>', 'Remove a domain from Xend domain management.'],
  start: ['<DomainName>', 'Start a Xend managed domain'],
  dmesg: ['[-c|--clear]', "Read and/or clear Xend's message buffer."],
  domid: ['<DomainName>', 'Convert a domain name to domain id.'],
  domname: ['<DomId>', 'Convert a domain id to domain name.'],
  info: ['[-c|--config] [-n|--numa]', 'Get information about Xen host.'],
  log: ['', 'Print Xend log'],
  rename: ['<Domain> <NewDomainName>', 'Rename a domain.'],
  sysrq: ['<Domain> <letter>', 'Send a sysrq to a domain.'],
  'vcpu-list': ['[Domain, ...]', 'List the VCPUs for all/some domains.'],
  'vcpu-set': ['<Domain> <vCPUs>', 'Set the number of active VCPUs allowed for the domain.'],
  'block-attach': ['<Domain> <BackDev> <FrontDev> <Mode> [BackDomain]', 'Create a new virtual block device.'],
  'block-detach': ['<Domain> <DevId> [-f|--force]', "Destroy a domain's virtual block device."],
  'block-list': ['<Domain> [--long]', 'List virtual block devices for a domain.'],
  'network-attach': [
    '<Domain> [type=<type>] [mac=<mac>] [bridge=<bridge>] [ip=<ip>] [script=<script>] [backend=<BackDomain>] ' +
      '[vifname=<name>] [rate=<rate>] [model=<model>][accel=<accel>]',
    'Create a new virtual network device.',
  ],
  'network-detach': ['<Domain> <DevId|mac> [-f|--force]', "Destroy a domain's virtual network device."],
  'network-list': ['<Domain> [--long]', 'List virtual network interfaces for a domain.'],
};

/** [short, long, description]; tsxen's additions are marked in their text. */
export const SUBCOMMAND_OPTIONS: Readonly<Record<string, readonly (readonly [string, string, string])[]>> = {
  list: [
    ['-l', '--long', 'Output all VM details in SXP'],
    ['', '--label', 'Include security labels'],
    ['', '--state=<state>', 'Select only VMs with the specified state'],
    ['', '--pool=<pool>', 'Select only VMs in specified cpu pool'],
  ],
  console: [
    ['-q', '--quiet', 'Do not print an error message if the domain does not exist'],
    ['', '--timeout=SECONDS', 'Destroy the domain and exit 2 when it runs longer (tsxen)'],
  ],
  dmesg: [['-c', '--clear', 'Clear dmesg buffer as well as printing it']],
  'network-list': [['-l', '--long', 'List resources as SXP']],
  start: [
    ['-p', '--paused', 'Do not unpause domain after starting it'],
    ['-c', '--console_autoconnect', 'Connect to the console after the domain is created'],
  ],
  info: [
    ['-c', '--config', 'List Xend configuration parameters'],
    ['-n', '--numa', 'List host NUMA topology information'],
  ],
};

/** xm's common_commands that tsxen has, in xm's order. */
const COMMON_COMMANDS = [
  'console', 'create', 'new', 'delete', 'destroy', 'help', 'list', 'mem-set', 'pause', 'reboot',
  'shutdown', 'start', 'top', 'unpause', 'uptime', 'vcpu-set',
];

/** xm's all_commands (domain, host, device commands) that tsxen has, in xm's order. */
export const ALL_COMMANDS = [
  'console', 'create', 'new', 'delete', 'destroy', 'domid', 'domname', 'list', 'mem-max', 'mem-set',
  'pause', 'reboot', 'rename', 'shutdown', 'start', 'sysrq', 'top', 'unpause', 'uptime', 'vcpu-list',
  'vcpu-set', 'dmesg', 'info', 'log', 'block-attach', 'block-detach', 'block-list', 'network-attach',
  'network-detach', 'network-list',
];

/** xm commands tsxen does not have (yet): they fail saying so instead of "not found". */
export const UNSUPPORTED_COMMANDS = [
  'vncviewer', 'dump-core', 'migrate', 'reset', 'restore', 'resume', 'save', 'shell', 'suspend',
  'usb-add', 'usb-del', 'domstate', 'trigger', 'vcpu-pin', 'debug-keys', 'serve', 'sched-sedf',
  'sched-credit', 'sched-credit2', 'block-configure', 'network2-attach', 'network2-detach',
  'network2-list', 'vnet-list', 'vnet-create', 'vnet-delete', 'pci-attach', 'pci-detach', 'pci-list',
  'pci-list-assignable-devices', 'scsi-attach', 'scsi-detach', 'scsi-list', 'usb-attach', 'usb-detach',
  'usb-list', 'usb-list-assignable-devices', 'usb-hc-create', 'usb-hc-destroy', 'tmem-list', 'tmem-thaw',
  'tmem-freeze', 'tmem-destroy', 'tmem-set', 'tmem-freeable', 'tmem-shared-auth', 'cpupool-create',
  'cpupool-new', 'cpupool-start', 'cpupool-list', 'cpupool-destroy', 'cpupool-delete', 'cpupool-cpu-add',
  'cpupool-cpu-remove', 'cpupool-migrate', 'labels', 'addlabel', 'rmlabel', 'getlabel', 'dry-run',
  'resources', 'dumppolicy', 'setpolicy', 'resetpolicy', 'getpolicy', 'getenforce', 'setenforce',
  'event-monitor', 'network-new', 'network-del', 'network-show',
];

const USAGE_HELP = 'Usage: xm <subcommand> [args]\n\nControl, list, and manipulate Xen guest instances.\n';
const USAGE_FOOTER =
  "<Domain> can either be the Domain Name or Id.\nFor more help on 'xm' see the xm(1) man page.\n" +
  "For more help on 'xm create' see the xmdomain.cfg(5)  man page.\n";

function commandLines(cmds: readonly string[]): string {
  let out = '';
  for (const c of cmds) {
    const h = SUBCOMMAND_HELP[c];
    if (h === undefined) continue;
    const w = wrap(h[1], 50);
    out += ` ${ljust(c, 20)} ${ljust(w[0] ?? '', 50)}\n`;
    for (const l of w.slice(1)) out += `${' '.repeat(22)}${l}\n`;
  }
  return out;
}

/** shortHelp(): what a bare `xm` prints. */
export function shortHelp(): string {
  return `${USAGE_HELP}\nCommon 'xm' commands:\n\n${commandLines(COMMON_COMMANDS)}\n${USAGE_FOOTER}\nFor a complete list of subcommands run 'xm help'.\n`;
}

/** longHelp(): `xm help`. */
export function longHelp(): string {
  return `${USAGE_HELP}\nxm full list of subcommands:\n\n${commandLines(ALL_COMMANDS)}\n${USAGE_FOOTER}\n`;
}

/**
 * cmdHelp(cmd): usage line, description and options. A command with its own option parser
 * (create, new, shutdown) appends that parser's help, as xm did for IMPORTED_COMMANDS.
 */
export function cmdHelp(cmd: string, extra?: string): string {
  let name = cmd;
  if (SUBCOMMAND_HELP[name] === undefined) {
    const hit = Object.keys(SUBCOMMAND_HELP).find((c) => c.startsWith(cmd));
    if (hit === undefined) return shortHelp();
    name = hit;
  }
  const [args, desc] = SUBCOMMAND_HELP[name]!;
  let out = `Usage: xm ${name} ${args}\n\n${desc}\n`;
  const opts = SUBCOMMAND_OPTIONS[name];
  if (opts !== undefined) {
    for (const [s, l, d] of opts) {
      const optdesc = s && l ? `${s}, ${l}` : s || l;
      const w = wrap(d, 43);
      out += `  ${ljust(optdesc, 30)} ${ljust(w[0] ?? '', 43)}\n`;
      for (const line of w.slice(1)) out += `${' '.repeat(33)}${line}\n`;
    }
    out += '\n';
  } else if (extra !== undefined) out += `${extra}\n`;
  return out;
}
