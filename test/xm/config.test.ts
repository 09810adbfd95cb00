// xm config files: the seed walkthrough's busybox config, overrides from the command line,
// multi-line lists, and every error path with its file, line and key.

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { parseDomainConfig, XmConfigError, type ParseOptions } from '../../src/xm/config/index.js';

/** The seed walkthrough's /etc/xen/busybox, with the web page's garbling undone. */
const SEED = `kernel = "/boot/vmlinuz-2.6.32-504.el6.x86_64"
ramdisk = "/boot/initramfs-2.6.32-504.el6.x86_64.img"
name = "busybox"
memory = "512"
vcpus = 1
disk = [ 'file:/xen/images/busybox.img,xvda,w', ]
root = "/dev/xvda ro"
extra = "selinux=0 init=/bin/sh"
vif = [ 'bridge=xenbr0', ]
`;

const NOCHECK: ParseOptions = { checkFiles: false };

function parse(text: string, opts: ParseOptions = NOCHECK, file = '/etc/xen/busybox') {
  return parseDomainConfig(text, file, { ...NOCHECK, ...opts });
}

/** The error parse() throws, checked field by field and as one message. */
function errorOf(fn: () => unknown): XmConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof XmConfigError) return e;
    throw e;
  }
  throw new Error('expected an XmConfigError, nothing was thrown');
}

function expectError(fn: () => unknown, file: string, line: number, key: string | null, message: string): void {
  const e = errorOf(fn);
  expect({ file: e.file, line: e.line, key: e.key, message: e.message }).toEqual({ file, line, key, message });
}

describe('the seed busybox config', () => {
  it('reads every value as xm and xend did', () => {
    const c = parse(SEED);
    expect(c.name).toBe('busybox');
    expect(c.kernel).toBe('/boot/vmlinuz-2.6.32-504.el6.x86_64');
    expect(c.ramdisk).toBe('/boot/initramfs-2.6.32-504.el6.x86_64.img');
    // memory = "512" is a string in the file; xend's int() made it 512.
    expect(c.memory).toBe(512);
    expect(c.maxmem).toBe(512);
    expect(c.vcpus).toBe(1);
    expect(c.maxvcpus).toBe(1);
    expect(c.vcpuAvail).toBe(1n);
    expect(c.cpus).toEqual([[]]);
    expect(c.root).toBe('/dev/xvda ro');
    expect(c.extra).toBe('selinux=0 init=/bin/sh');
    expect(c.cmdline).toBe('root=/dev/xvda ro selinux=0 init=/bin/sh');
    expect([c.onPoweroff, c.onReboot, c.onCrash]).toEqual(['destroy', 'restart', 'restart']);
    expect(c.builder).toBe('linux');
    expect(c.uuid).toBeNull();
    expect(c.localtime).toBe(false);
    expect(c.pool).toBe('Pool-0');
    expect(c.videoram).toBe(4);
    expect(c.ignored).toEqual([]);
    expect(c.disk).toHaveLength(1);
    expect(c.disk[0]).toMatchObject({
      type: 'file',
      format: 'raw',
      path: '/xen/images/busybox.img',
      vdev: 'xvda',
      devType: 'disk',
      mode: 'w',
      readOnly: false,
      xenstoreNode: 'virtual-device',
      devid: 51712,
    });
    expect(c.vif).toHaveLength(1);
    expect(c.vif[0]).toMatchObject({ bridge: 'xenbr0', mac: null, type: 'netfront', ip: [] });
  });

  it('takes the name from the config file name when the file has none', () => {
    const c = parseDomainConfig(SEED.replace('name = "busybox"\n', ''), '/etc/xen/busybox', { ...NOCHECK, defconfig: 'busybox' });
    expect(c.name).toBe('busybox');
  });
});

describe('Python syntax', () => {
  it('reads lists over several lines with comments and trailing commas', () => {
    const c = parse(`kernel = '/k'
disk = [
    'file:/a.img,xvda,w',   # root
    # a comment line inside the list
    'phy:sdb1,xvdb,r',
    'tap:qcow2:/q.qcow2,xvdc,w',
]
vif = ['bridge=xenbr0, mac=00:16:3E:01:02:03',
       '']
`);
    expect(c.disk.map((d) => [d.vdev, d.type, d.path, d.format, d.mode])).toEqual([
      ['xvda', 'file', '/a.img', 'raw', 'w'],
      ['xvdb', 'phy', '/dev/sdb1', 'raw', 'r'],
      ['xvdc', 'tap', '/q.qcow2', 'qcow2', 'w'],
    ]);
    expect(c.vif.map((v) => v.mac)).toEqual(['00:16:3e:01:02:03', null]);
  });

  it('reads escapes, concatenation, tuples, numbers, booleans and helper variables', () => {
    const c = parse(`# -*- mode: python -*-
base = "/srv/" 'xen'   ; name = 'vm-' + str_id
kernel = base + '/vmlinuz'
extra = 'console=hvc0\\tquiet' \\
        " it's"
extra += ' x'
memory = 0x100
maxmem = 256 + 256
vcpus = 2
localtime = True
disk = ('file:' + base + '/d.img,xvda,w',)
cpus = ['0-1,^1', 1]
`, { vars: ['str_id=7'] });
    expect(c.name).toBe('vm-7');
    expect(c.kernel).toBe('/srv/xen/vmlinuz');
    expect(c.extra).toBe("console=hvc0\tquiet it's x");
    expect(c.memory).toBe(256);
    expect(c.maxmem).toBe(512);
    expect(c.localtime).toBe(true);
    expect(c.disk[0].path).toBe('/srv/xen/d.img');
    expect(c.cpus).toEqual([[0], [1]]);
  });

  const cases: [string, string, number, string | null, string][] = [
    ['bad integer (the brief example)', "kernel='/k'\n\n\n\n\n\nmemory = 'lots'\n", 7, 'memory', "expected an integer, got 'lots'"],
    ['unknown key', "kernel = '/k'\nmemroy = 256\n", 2, 'memroy', 'unknown key'],
    ['syntax', "kernel = '/k'\nmemory = = 5\n", 2, 'memory', "invalid syntax: unexpected '='"],
    ['two values', "kernel = '/k' '/j' 5\n", 1, null, "invalid syntax: unexpected '5'"],
    ['unclosed list', "kernel = '/k'\ndisk = ['file:/a,xvda,w',\n 'file:/b,xvdb,w'\n", 2, null, "'[' was never closed (unexpected end of file)"],
    ['unclosed string', "kernel = '/k\n", 1, null, 'EOL while scanning string literal'],
    ['indentation', "kernel = '/k'\n  memory = 5\n", 2, null, 'unexpected indent'],
    ['statement', "import os\nkernel = '/k'\n", 1, null, "unsupported syntax: 'import' starts a statement tsxen does not read; a config line assigns a value (key = value)"],
    ['call', "kernel = os.path.join('/a', 'b')\n", 1, 'kernel', "unsupported syntax: calls, indexing and attributes ('os.') are not read"],
    ['index', "kernel = '/k'\nname = ['a'][0]\n", 2, 'name', "unsupported syntax: calls, indexing and attributes ('[') are not read"],
    ['percent', "kernel = '/k'\nname = 'vm%d' % 3\n", 2, 'name', "unsupported syntax: operator '%' (tsxen reads + and - only)"],
    ['type error', "kernel = '/k'\nname = 'vm' + 3\n", 2, 'name', "cannot concatenate 'str' and 'int' objects"],
    ['undefined name', "kernel = '/k'\nname = vmid\n", 2, 'name', "name 'vmid' is not defined"],
    ['octal', "kernel = '/k'\nmemory = 09\n", 2, null, "invalid token '09'"],
    ['bad escape', "kernel = '/k\\x4'\n", 1, null, 'invalid \\x escape'],
    ['dict', "kernel = '/k'\nvif = {}\n", 2, 'vif', 'unsupported syntax: dictionaries and sets'],
  ];
  for (const [what, text, line, key, msg] of cases) {
    it(`reports ${what} with file, line and key`, () => {
      const where = `/etc/xen/busybox:${line}: ${key === null ? '' : `${key}: `}`;
      expectError(() => parse(text), '/etc/xen/busybox', line, key, where + msg);
    });
  }
});

describe('values', () => {
  const K = "kernel = '/k'\n";
  const cases: [string, string, number, string, string][] = [
    ['vcpus = 0', 'vcpus = 0', 2, 'vcpus', 'expected a positive integer, got 0'],
    ['memory float', 'memory = 12.5', 2, 'memory', 'expected an integer, got 12.5'],
    ['memory bool', 'memory = True', 2, 'memory', 'expected an integer, got True'],
    ['maxmem < memory', 'memory = 512\nmaxmem = 256', 3, 'maxmem', 'must be at least memory (512), got 256'],
    ['maxvcpus < vcpus', 'vcpus = 4\nmaxvcpus = 2', 3, 'maxvcpus', 'must be at least vcpus (4), got 2'],
    ['on_crash', "on_crash = 'explode'", 2, 'on_crash',
      "expected one of destroy, restart, preserve, rename-restart, coredump-destroy, coredump-restart, got 'explode'"],
    ['uuid', "uuid = '1234'", 2, 'uuid', "expected a UUID like 7b4c3f3e-8f2a-4b6e-9d1c-0a1b2c3d4e5f, got '1234'"],
    ['name', "name = 'my vm'", 2, 'name', "Invalid VM Name 'my vm': use letters, digits and _ - . : + only"],
    ['empty name', "name = ''", 2, 'name', 'Missing VM Name'],
    ['builder', "builder = 'hvm'", 2, 'builder', "tsxen runs paravirtualized ('linux') domains only, got 'hvm'"],
    ['bootloader', "bootloader = '/usr/bin/grub-pv'", 2, 'bootloader',
      "unsupported bootloader '/usr/bin/grub-pv': tsxen has pygrub (bootloader = \"pygrub\"); pv-grub is a kernel= image"],
    ['pci', "pci = ['01:00.0']", 2, 'pci', 'PCI passthrough is not supported'],
    ['memory_sharing', 'memory_sharing = 1', 2, 'memory_sharing', 'memory_sharing can only be enabled for HVM domains'],
    ['disk as string', "disk = 'file:/a,xvda,w'", 2, 'disk',
      "expected a list of strings, got 'file:/a,xvda,w' (write it as a list: disk = ['file:/a,xvda,w'])"],
    ['disk item', 'disk = [1]', 2, 'disk', 'expected a string in the list, got 1'],
    ['localtime', "localtime = 'maybe'", 2, 'localtime', "expected True/False, 1/0 or yes/no, got 'maybe'"],
    ['cpus', "cpus = '0-x'", 2, 'cpus', "'0-x': '0-x' is not a CPU number, range (0-3) or exclusion (^1)"],
    ['cpus list length', "vcpus = 2\ncpus = ['0']", 3, 'cpus', 'a list needs one entry per VCPU (2), got 1'],
    ['pool', "pool = 'other'", 2, 'pool', 'unknown pool other'],
    ['nfs', "nfs_root = '/export'", 2, 'nfs_root', 'Must set nfs root and nfs server'],
    ['tsc_mode', 'tsc_mode = 7', 2, 'tsc_mode', 'expected 0 (default), 1 (always emulate), 2 (never emulate) or 3 (pvrdtscp), got 7'],
  ];
  for (const [what, text, line, key, msg] of cases) {
    it(`rejects ${what}`, () => {
      expectError(() => parse(K + text + '\n'), '/etc/xen/busybox', line, key, `/etc/xen/busybox:${line}: ${key}: ${msg}`);
    });
  }

  it('takes bootloader = "pygrub" (found where xm finds it), without a kernel, passing kernel/ramdisk/bootargs to it', () => {
    const c = parse("bootloader = 'pygrub'\nbootargs = '--entry=1'\nkernel = '/boot/vmlinuz'\nextra = 'quiet'\n");
    expect(c.bootloader).toBe('/usr/lib/xen/bin/pygrub');
    expect(c.bootargs).toBe('--entry=1');
    // A path inside the guest's disk: neither resolved nor checked on the host.
    expect(c.kernel).toBe('/boot/vmlinuz');
    expect(c.ramdisk).toBeNull();
    expect(c.cmdline).toBe('quiet');
    const q = parse("bootloader = '/usr/lib/xen-4.4/bin/pygrub'\n");
    expect([q.bootloader, q.bootargs, q.kernel]).toEqual(['/usr/lib/xen-4.4/bin/pygrub', '-q', '']);
  });

  it('names the line of the bad entry inside a multi-line list', () => {
    const text = `${K}disk = [
  'file:/a.img,xvda,w',
  'file:/b.img,xvdb,rw',
]
`;
    expectError(() => parse(text), '/etc/xen/busybox', 4, 'disk', "/etc/xen/busybox:4: disk: Invalid mode 'rw' (expected r, w or w!)");
    const vif = `${K}vif = [ 'bridge=xenbr0',
        'mac=00:16:3e:zz:00:01' ]
`;
    expectError(() => parse(vif), '/etc/xen/busybox', 3, 'vif',
      "/etc/xen/busybox:3: vif: invalid MAC address '00:16:3e:zz:00:01' (expected six hex octets like 00:16:3e:12:34:56)");
  });

  it('refuses the same guest device or MAC twice, as XendConfig did', () => {
    expectError(() => parse(`${K}disk = ['file:/a,xvda,w', 'phy:/dev/sdb,51712,r']\n`), '/etc/xen/busybox', 2, 'disk',
      '/etc/xen/busybox:2: disk: The device "51712" is already defined');
    expectError(() => parse(`${K}vif = ['mac=00:16:3e:00:00:01', 'mac=00:16:3E:00:00:01']\n`), '/etc/xen/busybox', 2, 'vif',
      '/etc/xen/busybox:2: vif: The mac "00:16:3e:00:00:01" is already defined');
  });

  it('requires a kernel', () => {
    expectError(() => parse('memory = 64\n'), '/etc/xen/busybox', 0, 'kernel',
      '/etc/xen/busybox: kernel: no kernel given; a PV domain needs kernel = "/path/to/vmlinuz" (or bootloader = "pygrub")');
  });

  it('canonicalises the UUID as xend did and keeps None as "not set"', () => {
    const c = parse(`${K}uuid = '6FD1E3A85B3C4E2F9A7D1C2B3A4D5E6F'\nbootloader = None\nmaxmem = None\n`);
    expect(c.uuid).toBe('6fd1e3a8-5b3c-4e2f-9a7d-1c2b3a4d5e6f');
    expect(c.maxmem).toBe(128);
  });

  it('accepts and lists keys that do not apply to a PV domain', () => {
    const c = parse(`${K}acpi = 1\nvnc = 1\nvncunused = 1\nserial = 'pty'\ncpuid = []\n`);
    expect(c.ignored).toEqual(['serial', 'vnc', 'vncunused', 'acpi', 'cpuid'].sort((a, b) => order(a) - order(b)));
  });

  it('maps the deprecated restart key, explicit on_* winning', () => {
    expect(parse(`${K}restart = 'always'\n`)).toMatchObject({ onPoweroff: 'restart', onReboot: 'restart', onCrash: 'restart' });
    expect(parse(`${K}restart = 'never'\non_crash = 'preserve'\n`)).toMatchObject({
      onPoweroff: 'destroy',
      onReboot: 'destroy',
      onCrash: 'preserve',
    });
  });

  it('builds the kernel command line from root, ip and nfs keys as xend did', () => {
    const c = parse(`${K}root = 'root=/dev/xvda1'\nip = '10.0.0.2'\nextra = 'quiet'\nhostname = 'bb'\n`);
    expect(c.root).toBe('/dev/xvda1');
    expect(c.cmdline).toBe('root=/dev/xvda1 ip=10.0.0.2:127.0.255.255:::bb:eth0:off quiet');
    // xend's re.search('root=') also matches 'nfsroot=', so root= is then not added.
    const nfs = parse(`${K}root = '/dev/nfs'\ndhcp = 'dhcp'\nnfs_server = '10.0.0.1'\nnfs_root = '/export'\n`);
    expect(nfs.cmdline).toBe('ip=:10.0.0.1::::eth0:dhcp nfsroot=10.0.0.1:/export ');
    // extra given with root= already: left alone.
    expect(parse(`${K}root = '/dev/xvda'\nextra = 'root=/dev/xvdb'\n`).cmdline).toBe('root=/dev/xvdb');
  });

  it('pins VCPUs with cpus, cpu and maxvcpus', () => {
    expect(parse(`${K}vcpus = 2\ncpus = '0-3,^1'\n`).cpus).toEqual([[0, 2, 3], [0, 2, 3]]);
    expect(parse(`${K}cpu = 1\n`).cpus).toEqual([[1]]);
    const c = parse(`${K}vcpus = 2\nmaxvcpus = 4\n`);
    expect([c.vcpus, c.maxvcpus, c.vcpuAvail, c.cpus.length]).toEqual([2, 4, 3n, 4]);
  });

  it('pads the interface list with the deprecated nics key', () => {
    expect(parse(`${K}nics = 2\nvif = ['bridge=xenbr1']\n`).vif.map((v) => v.bridge)).toEqual(['xenbr1', null]);
  });
});

describe('command-line VAR=VAL (xm create vars)', () => {
  it('lets a key on the command line win over the file', () => {
    const c = parse(SEED, { vars: ['memory=256', 'name = other', 'localtime=yes', 'vcpus=2'] });
    expect([c.memory, c.name, c.localtime, c.vcpus]).toEqual([256, 'other', true, 2]);
  });

  it('replaces the file list with the command-line entries, which accumulate', () => {
    const c = parse(SEED, { vars: ['disk=file:/b.img,xvdb,r', 'disk=phy:/dev/sdc,xvdc,w'] });
    expect(c.disk.map((d) => d.vdev)).toEqual(['xvdb', 'xvdc']);
  });

  it('resolves relative command-line paths against the current directory', () => {
    const c = parse(SEED, { vars: ['kernel=k/vmlinuz', 'disk=file:d.img,xvdb,r'], cwd: '/home/me' });
    expect(c.kernel).toBe('/home/me/k/vmlinuz');
    expect(c.disk[0].path).toBe('/home/me/d.img');
  });

  it('passes other variables to the file', () => {
    const c = parse("kernel = '/k'\nname = 'vm' + vmid\nmemory = mem\n", { vars: ['vmid=3', 'mem=96'] });
    expect([c.name, c.memory]).toEqual(['vm3', 96]);
  });

  it('reports bad values and unused variables', () => {
    expectError(() => parse(SEED, { vars: ['memory=lots'] }), 'command line', 0, 'memory', "command line: memory: expected an integer, got 'lots'");
    expectError(() => parse(SEED, { vars: ['localtime=maybe'] }), 'command line', 0, 'localtime',
      "command line: localtime: expected yes, y, no or n, got 'maybe'");
    expectError(() => parse(SEED, { vars: ['memroy=64'] }), 'command line', 0, 'memroy', 'command line: memroy: unknown key');
    expectError(() => parse(SEED, { vars: ['memory'] }), 'command line', 0, null, "command line: expected VAR=VALUE, got 'memory'");
  });
});

describe('files on disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsxen-xmcfg-'));
  mkdirSync(join(dir, 'boot'));
  writeFileSync(join(dir, 'boot', 'vmlinuz'), 'kernel');
  writeFileSync(join(dir, 'boot', 'initrd'), 'initrd');
  writeFileSync(join(dir, 'disk.img'), '');

  it('resolves kernel, ramdisk and disk paths against the config file directory', () => {
    const file = join(dir, 'bb.cfg');
    const c = parseDomainConfig("kernel = 'boot/vmlinuz'\nramdisk = 'boot/initrd'\ndisk = ['file:disk.img,xvda,w', 'phy:/abs.img,xvdb,r']\n", file);
    expect(c.kernel).toBe(join(dir, 'boot', 'vmlinuz'));
    expect(c.ramdisk).toBe(join(dir, 'boot', 'initrd'));
    expect(c.disk.map((d) => d.path)).toEqual([join(dir, 'disk.img'), '/abs.img']);
    expect(c.name).toBe('bb.cfg');
  });

  it('checks the kernel and ramdisk exist, in create.py wording', () => {
    const file = join(dir, 'bb.cfg');
    expectError(() => parseDomainConfig("kernel = 'boot/nope'\n", file), file, 1, 'kernel',
      `${file}:1: kernel: Cannot find kernel "${join(dir, 'boot', 'nope')}"`);
    expectError(() => parseDomainConfig("kernel = 'boot/vmlinuz'\n\nramdisk = '/no/initrd'\n", file), file, 3, 'ramdisk',
      `${file}:3: ramdisk: Cannot find ramdisk "/no/initrd"`);
  });

  it('checks file disk images exist, naming the line (phy: devices and empty CD-ROMs are not files)', () => {
    const file = join(dir, 'bb.cfg');
    expectError(() => parseDomainConfig("kernel = 'boot/vmlinuz'\ndisk = ['file:/no/disk.img,xvda,w']\n", file), file, 2, 'disk',
      `${file}:2: disk: Disk image "/no/disk.img" does not exist`);
    expectError(() => parseDomainConfig("kernel = 'boot/vmlinuz'\ndisk = [\n  'tap:qcow2:busybox.img,xvda,w']\n", file), file, 3, 'disk',
      `${file}:3: disk: Disk image "${join(dir, 'busybox.img')}" does not exist (images/make-busybox-disk makes the walkthrough's disk)`);
    const ok = parseDomainConfig("kernel = 'boot/vmlinuz'\ndisk = ['phy:/dev/nosuch,xvda,w', ',hdc:cdrom,r']\n", file);
    expect(ok.disk.map((d) => d.vdev)).toEqual(['xvda', 'hdc']);
  });
});

import { XM_KEYS } from '../../src/xm/config/keys.js';
function order(k: string): number {
  return Object.keys(XM_KEYS).indexOf(k);
}
