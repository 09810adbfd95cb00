// A domain that dies before its console is up is never silent: `xm create -c` says how it
// ended and prints its last hypervisor-console lines (its console_io output, as
// earlyprintk=xen gives, and Xen's crash report); `xm dmesg` holds the host's boot lines
// and the same. The kernel is a fixture that writes one line through
// HYPERVISOR_console_io and then executes UD2 before it has a trap table.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { FixtureDir } from '../../hypervisor/builder/fixtures.js';
import { ensureBuilt, XmEnv } from './harness.js';

const EARLY_WORDS = 'tsxen-early: about to fault';
let env: XmEnv;
let fx: FixtureDir;
let cfg: string;

beforeAll(() => {
  ensureBuilt();
  env = new XmEnv();
  fx = new FixtureDir();
  const kernel = fx.vmlinux({
    startup: `
  mov $18, %eax            /* __HYPERVISOR_console_io */
  mov $0, %edi             /* CONSOLEIO_write */
  mov $(msg_end - msg), %esi
  lea msg(%rip), %rdx
  syscall                  /* a hypercall from guest kernel mode */
  ud2
msg:
  .ascii "${EARLY_WORDS}\\n"
msg_end:`,
  });
  cfg = join(env.configDir, 'early.cfg');
  writeFileSync(cfg, [`name = "early"`, `kernel = "${kernel.path}"`, 'memory = 32', 'on_crash = "destroy"', ''].join('\n'));
}, 60_000);

afterAll(async () => {
  await env?.cleanup();
  fx?.remove();
});

describe('a domain that dies before its console is up', () => {
  it('xm create -c says why on stderr, with its last hypervisor-console lines, and exits 1', async () => {
    const r = await env.xm(['create', '-c', cfg], { timeoutMs: 120_000 });
    expect(r.code).toBe(1);
    const m = /Domain early \(id=(\d+)\) crashed: (.*)/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const domid = m![1];
    expect(m![2]).toContain('no trap-table entry');
    expect(r.stderr).toContain(`(d${domid}) ${EARLY_WORDS}`);
    expect(r.stderr).toContain(`(XEN) Domain ${domid} (vcpu#0) crashed on cpu#0:`);
    // Xen's register dump: the faulting RIP in the kernel's flat code segment.
    expect(r.stderr).toMatch(/\(XEN\) RIP: {4}e033:\[<ffffffff81[0-9a-f]{6}>\]/);
    expect(r.stderr).toMatch(/\(XEN\) rax: [0-9a-f]{16} {3}rbx: [0-9a-f]{16} {3}rcx: [0-9a-f]{16}/);
  }, 150_000);

  it('xm dmesg holds the host boot lines and the domain\'s words', async () => {
    const r = await env.xm(['dmesg']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\(XEN\) Xen version 4\.4\.4-tsxen /m);
    expect(r.stdout).toMatch(/^\(XEN\) Brought up \d+ CPUs?$/m);
    expect(r.stdout).toMatch(new RegExp(`^\\(d\\d+\\) ${EARLY_WORDS}$`, 'm'));
    expect(r.stdout).toMatch(/^\(XEN\) Domain \d+ \(vcpu#0\) crashed on cpu#0:$/m);
  }, 60_000);
});
