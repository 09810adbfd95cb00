// The built xm without booting anything: help and usage, argument checks, bad configs and
// unknown domains with xm's messages and exit statuses, dry runs, managed domains; xend is
// started on first use and survives every one of these.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ensureBuilt, IMAGES, LIST_HEADER, parseList, RAMDISK_CFG, XmEnv } from './harness.js';

let env: XmEnv;

beforeAll(() => {
  ensureBuilt();
  env = new XmEnv();
});

afterAll(async () => {
  await env?.cleanup();
});

describe('help and usage (main.py shortHelp, longHelp, cmdHelp, arg_check)', () => {
  it('bare xm prints the short help and exits 1', async () => {
    const r = await env.xm([]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^Usage: xm <subcommand> \[args\]\n\nControl, list, and manipulate Xen guest instances\.\n/);
    expect(r.stdout).toContain("\nCommon 'xm' commands:\n\n console              Attach to <Domain>'s console.");
    expect(r.stdout).toContain("For a complete list of subcommands run 'xm help'.\n");
  });

  it('xm help lists every command; xm help CMD and CMD --help give its usage', async () => {
    const all = await env.xm(['help']);
    expect(all.code).toBe(0);
    for (const c of ['create', 'list', 'destroy', 'shutdown', 'console', 'vcpu-list', 'block-list', 'network-attach', 'new', 'start', 'delete', 'top', 'log']) {
      expect(all.stdout).toMatch(new RegExp(`^ ${c.padEnd(20)} `, 'm'));
    }
    const one = await env.xm(['help', 'list']);
    expect(one.code).toBe(0);
    expect(one.stdout).toBe(
      'Usage: xm list [options] [Domain, ...]\n\nList information about all/some domains.\n' +
        '  -l, --long                     Output all VM details in SXP               \n' +
        '  --label                        Include security labels                    \n' +
        '  --state=<state>                Select only VMs with the specified state   \n' +
        '  --pool=<pool>                  Select only VMs in specified cpu pool      \n\n',
    );
    // main(): --help after a command prints its usage and exits 1.
    const h = await env.xm(['destroy', '--help']);
    expect(h.code).toBe(1);
    expect(h.stdout).toBe('Usage: xm destroy <Domain>\n\nTerminate a domain immediately.\n');
    const c = await env.xm(['create', '--help']);
    expect(c.stdout).toContain('\nOptions:\n\n');
    expect(c.stdout).toContain('-c, --console_autoconnect');
  });

  it('unknown, unsupported and deprecated commands', async () => {
    const u = await env.xm(['frobnicate']);
    expect(u.code).toBe(1);
    expect(u.stderr).toBe('Error: Subcommand frobnicate not found!\n');
    const s = await env.xm(['migrate', 'x', 'host']);
    expect(s.code).toBe(1);
    expect(s.stderr).toMatch(/^Error: 'xm migrate' is not supported by tsxen/);
  });

  it('argument counts and options are checked as xm did', async () => {
    const d = await env.xm(['destroy']);
    expect(d.code).toBe(1);
    expect(d.stderr).toBe("Error: 'xm destroy' requires 1 argument.\n\n");
    expect(d.stdout).toBe('Usage: xm destroy <Domain>\n\nTerminate a domain immediately.\n');
    const r = await env.xm(['rename', 'a']);
    expect(r.stderr).toBe("Error: 'xm rename' requires 2 arguments.\n\n");
    const b = await env.xm(['list', '--bogus']);
    expect(b.code).toBe(1);
    expect(b.stderr).toBe('Error: option --bogus not recognized\n');
    const v = await env.xm(['vcpu-set', 'Domain-0', 'many']);
    expect(v.code).toBe(1);
    expect(v.stderr).toBe('Error: Invalid argument.\n');
  });
});

describe('xm talks to its own xend', () => {
  it('starts xend on first use; xm list shows Domain-0 in xm\'s layout', async () => {
    const r = await env.xm(['list']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rows = parseList(r.stdout);
    expect(rows[0]).toMatchObject({ name: 'Domain-0', id: 0, vcpus: expect.any(Number) as number, state: 'r-----' });
    expect(rows[0]!.mem).toBeGreaterThan(0);
    expect(r.stdout.startsWith(`${LIST_HEADER}\n`)).toBe(true);
    const st = await env.xend(['status']);
    expect(st.code).toBe(0);
  });

  it('xm info, uptime, vcpu-list, domid, domname, dmesg and log', async () => {
    const info = await env.xm(['info']);
    expect(info.code).toBe(0);
    expect(info.stdout).toMatch(/^system                 : Linux\n/);
    expect(info.stdout).toMatch(/^xenstored_socket       : \/.+\n/m);
    const up = await env.xm(['uptime']);
    expect(up.stdout).toMatch(/^Name {32}ID Uptime \nDomain-0 {29}0 +\d+:\d\d:\d\d\n$/);
    const vl = await env.xm(['vcpu-list', 'Domain-0']);
    expect(vl.stdout.split('\n')[0]).toBe('Name                                ID  VCPU   CPU State   Time(s) CPU Affinity');
    expect((await env.xm(['domid', 'Domain-0'])).stdout).toBe('0\n');
    expect((await env.xm(['domname', '0'])).stdout).toBe('Domain-0\n');
    expect((await env.xm(['dmesg'])).code).toBe(0);
    const log = await env.xm(['log']);
    expect(log.code).toBe(0);
    expect(log.stdout).toMatch(/^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \d+\] +INFO \(xend\) Xend started/m);
  });

  it('xm top without a terminal prints one round, as xentop -b -i 1 did', async () => {
    const top = await env.xm(['top']);
    expect(top.code).toBe(0);
    const lines = top.stdout.split('\n').filter(Boolean);
    expect(lines[0]).toMatch(/^xentop - \d\d:\d\d:\d\d +Xen 4\.4\.4-tsxen$/);
    expect(lines.find((l) => /^ +NAME +STATE/.test(l))).toMatch(/^ +NAME +STATE +CPU\(sec\) +CPU\(%\) +MEM\(k\)/);
    expect(lines.find((l) => l.trim().startsWith('Domain-0'))).toMatch(/^ +Domain-0 +r----- +\d+ +[\d.]+ +\d+/);
  });

  it('unknown domains: "Error: Domain \'nosuch\' does not exist." and exit 3', async () => {
    for (const args of [['destroy', 'nosuch'], ['pause', 'nosuch'], ['list', 'nosuch'], ['domid', 'nosuch'], ['shutdown', 'nosuch'], ['console', 'nosuch'], ['block-list', 'nosuch'], ['sysrq', 'nosuch', 's']]) {
      const r = await env.xm(args);
      expect(r.stderr, args.join(' ')).toBe("Error: Domain 'nosuch' does not exist.\n");
      expect(r.code, args.join(' ')).toBe(3);
    }
    const q = await env.xm(['console', '-q', 'nosuch']);
    expect(q.code).toBe(1);
    expect(q.stderr).toBe('');
    const p = await env.xm(['destroy', '0']);
    expect(p.code).toBe(1);
    expect(p.stderr).toBe('Error: Cannot destroy privileged domain 0\n');
    expect(p.stdout).toBe('Usage: xm destroy <Domain>\n\nTerminate a domain immediately.\n');
  });

  it('bad configs name file, line and key, exit 1 and start nothing', async () => {
    const kernel = join(IMAGES, 'vmlinuz-tiny');
    const cfg = (name: string, text: string): string => {
      const p = join(env.configDir, name);
      writeFileSync(p, text);
      return p;
    };
    const cases: [string[], RegExp][] = [
      [[cfg('syntax.cfg', `name = "s"\nkernel = "${kernel}"\nmemory = [64\n`)], /^Error: .*syntax\.cfg:3: '\[' was never closed/],
      [[cfg('unknown.cfg', `name = "u"\nkernel = "${kernel}"\nmemroy = 64\n`)], /^Error: .*unknown\.cfg:3: memroy: unknown key\n$/],
      [[cfg('nokernel.cfg', 'name = "k"\nkernel = "/nonexistent/vmlinuz"\n')], /^Error: .*nokernel\.cfg:2: kernel: Cannot find kernel "\/nonexistent\/vmlinuz"\n$/],
      [[cfg('baddisk.cfg', `name = "d"\nkernel = "${kernel}"\ndisk = ['file:/tmp/x.img,xvda']\n`)], /^Error: .*baddisk\.cfg:3: disk: Invalid disk specifier: file:\/tmp\/x\.img,xvda\n$/],
      [['nosuchconfig'], /^Error: Unable to open config file: nosuchconfig\n$/],
      [[RAMDISK_CFG, 'memory=1'], /^Error: .*memory/],
    ];
    for (const [args, msg] of cases) {
      const r = await env.xm(['create', ...args]);
      expect(r.stderr, args.join(' ')).toMatch(msg);
      expect(r.code, args.join(' ')).toBe(1);
    }
    // Nothing was started and xend is still there.
    const l = await env.xm(['list']);
    expect(l.code).toBe(0);
    expect(parseList(l.stdout).map((r) => r.name)).toEqual(['Domain-0']);
  });

  it('xm create -n prints the config as xm did and starts nothing', async () => {
    const r = await env.xm(['create', '-n', join(IMAGES, 'busybox.cfg'), 'memory=96']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        '(vm',
        '    (name busybox)',
        '    (memory 96)',
        '    (on_xend_start ignore)',
        '    (on_xend_stop ignore)',
        '    (vcpus 1)',
        '    (oos 1)',
        '    (image',
        '        (linux',
        `            (kernel ${IMAGES}/vmlinuz-tiny)`,
        `            (ramdisk ${IMAGES}/initramfs-busybox.cpio.gz)`,
        "            (root '/dev/xvda ro')",
        '            (videoram 4)',
        "            (args 'selinux=0 init=/bin/sh')",
        '            (tsc_mode 0)',
        '            (nomigrate 0)',
        '        )',
        '    )',
        '    (s3_integrity 1)',
        '    (device (vbd (uname file:busybox.img) (dev xvda) (mode w)))',
        '    (device (vif (bridge xenbr0)))',
        ')',
        '',
      ].join('\n'),
    );
    expect(parseList((await env.xm(['list'])).stdout)).toHaveLength(1);
  });

  it('managed domains: new, list, rename, start errors, delete', async () => {
    const n = await env.xm(['new', RAMDISK_CFG, 'name=managed1']);
    expect(n.stderr).toBe('');
    expect(n.code).toBe(0);
    let rows = parseList((await env.xm(['list'])).stdout);
    expect(rows.find((r) => r.name === 'managed1')).toEqual({ name: 'managed1', id: null, mem: 64, vcpus: 1, state: '', time: 0 });
    const long = await env.xm(['list', '-l', 'managed1']);
    expect(long.stdout).toMatch(/^\(domain\n {4}\(cpu_weight 256\)/);
    expect(long.stdout).toContain('(status 0)');
    expect((await env.xm(['domid', 'managed1'])).stdout).toBe('None\n');
    // A second domain of that name is refused; an unmanaged domain cannot be started.
    const dup = await env.xm(['new', RAMDISK_CFG, 'name=managed1']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toBe("Error: VM name 'managed1' already exists\n");
    const ns = await env.xm(['start', 'nosuch']);
    expect(ns.code).toBe(3);
    const pause = await env.xm(['pause', 'managed1']);
    expect(pause.stderr).toBe("Error: Domain 'managed1' is not started\n");
    expect(pause.code).toBe(1);
    expect((await env.xm(['rename', 'managed1', 'managed2'])).code).toBe(0);
    rows = parseList((await env.xm(['list'])).stdout);
    expect(rows.map((r) => r.name)).toEqual(['Domain-0', 'managed2']);
    const del = await env.xm(['delete', 'managed2']);
    expect(del.code).toBe(0);
    expect(parseList((await env.xm(['list'])).stdout).map((r) => r.name)).toEqual(['Domain-0']);
    expect((await env.xm(['delete', 'managed2'])).code).toBe(3);
  });

  it('xend survived all of it', async () => {
    const st = await env.xend(['status']);
    expect(st.code).toBe(0);
    expect(st.stdout).toMatch(/^xend is running \(pid \d+/);
  });
});
