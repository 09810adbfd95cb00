// The user-mode runner with small static programs (raw system calls, no libc): each is run
// under the runner and natively, and the two must agree byte for byte, exit status included.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPrograms, explain, runNative, runOurs, type RunSpec } from './helpers.js';

let bin: Record<string, string>;
beforeAll(() => {
  bin = buildPrograms();
});
afterAll(() => {
  if (bin) rmSync(dirname(bin.basics), { recursive: true, force: true });
});

async function same(prog: string, s: RunSpec): Promise<{ stdout: string; diagnostics: string[]; status: number }> {
  const nat = runNative(bin[prog], s);
  const ours = await runOurs(bin[prog], s);
  const stdout = ours.stdout?.toString('latin1') ?? '';
  expect(stdout, `stdout of ${prog} ${s.argv.slice(1).join(' ')}${explain(ours)}`).toBe(nat.stdout);
  expect(ours.status, `status of ${prog} ${s.argv.slice(1).join(' ')}${explain(ours)}`).toBe(nat.status);
  return { stdout, diagnostics: ours.diagnostics, status: ours.status };
}

describe('tsxen-elf: small static programs against native runs', () => {
  it('passes argv and envp and returns the exit status', async () => {
    const r = await same('basics', { argv: ['basics', '42', 'two words', ''], env: ['A=1', 'LONG=' + 'x'.repeat(300), 'E='] });
    expect(r.status).toBe(42);
    expect(r.stdout).toContain('argv: two words\n');
    expect(r.stdout).toContain('unknown_syscall=-38\n');
    expect(r.diagnostics).toEqual(['tsxen-elf: basics[1000]: unsupported system call 999 (unknown): returning -ENOSYS']);
  });

  it('builds the initial stack as Linux does (compared with a native run without ASLR)', async () => {
    const s: RunSpec = { argv: [bin.auxv, 'x', 'yy'], env: ['A=1', 'BB=xyz'] };
    const nat = spawnSync('setarch', ['x86_64', '-R', 'env', '-i', ...s.env!, bin.auxv, 'x', 'yy'], { encoding: 'latin1' });
    expect(nat.status, nat.stderr).toBe(0);
    const ours = await runOurs(bin.auxv, s);
    expect(ours.status, explain(ours)).toBe(0);
    const parse = (t: string) => {
      const aux = new Map<number, string>();
      const order: number[] = [];
      const strs: string[] = [];
      let sp = 0n;
      for (const l of t.split('\n')) {
        const w = l.split(' ');
        if (w[0] === 'sp') sp = BigInt(w[1]);
        if (w[0] === 'argv' || w[0] === 'envp') strs.push(w.slice(1).join(' ').replace(/^\S+ /, ''), w[1]);
        if (w[0] === 'aux') {
          order.push(Number(w[1]));
          aux.set(Number(w[1]), w.slice(2).join(' '));
        }
      }
      return { aux, order, strs, sp };
    };
    const n = parse(nat.stdout);
    const o = parse(ours.stdout!.toString());
    // Strings and the pointers to them sit at the same addresses as on Linux.
    expect(o.strs).toEqual(n.strs);
    // AT_PHDR AT_PHENT AT_PHNUM AT_PAGESZ AT_BASE AT_FLAGS AT_ENTRY AT_CLKTCK AT_SECURE AT_RANDOM
    // (address) AT_EXECFN AT_PLATFORM: the same values.
    for (const k of [3, 4, 5, 6, 7, 8, 9, 17, 23, 31, 15]) expect(o.aux.get(k), `auxv entry ${k}`).toBe(n.aux.get(k));
    expect(o.aux.get(25)?.split(' ')[0]).toBe(n.aux.get(25)?.split(' ')[0]);
    expect(o.aux.get(11)).toBe(n.aux.get(11)); // AT_UID
    // Our entries come in the kernel's order (6.1 has no AT_SYSINFO_EHDR-less vDSO or rseq ones).
    expect(n.order.filter((k) => o.order.includes(k))).toEqual(o.order);
    // The vectors end where the native ones do, less the entries only the host kernel has.
    const extra = n.order.filter((k) => !o.order.includes(k)).length;
    expect(o.sp - n.sp).toBe(BigInt(16 * extra));
    expect(o.sp % 16n).toBe(0n);
  });

  it('manages memory: brk, mmap, mremap, mprotect, munmap, file mappings', async () => {
    const r = await same('memory', { argv: ['memory'] });
    expect(r.stdout).toContain('mremap_kept=1\n');
    expect(r.stdout).toContain('munmap_misaligned=-22\n');
    await same('memory', { argv: ['memory', 'big'] });
  });

  for (const mode of ['segv-unmapped', 'segv-readonly', 'segv-exec']) {
    it(`dies of SIGSEGV on a bad access (${mode})`, async () => {
      const r = await same('memory', { argv: ['memory', mode] });
      expect(r.status).toBe(128 + 11);
      expect(r.diagnostics.join('\n')).toMatch(/killed by SIGSEGV: page fault at 0x[0-9a-f]{16}/);
    });
  }

  for (const [mode, sig, name] of [['null', 11, 'SIGSEGV'], ['ud2', 4, 'SIGILL'], ['div0', 8, 'SIGFPE'], ['int3', 5, 'SIGTRAP'], ['hlt', 11, 'SIGSEGV']] as const) {
    it(`delivers a CPU exception as ${name} (${mode})`, async () => {
      const r = await same('faults', { argv: ['faults', mode] });
      expect(r.status).toBe(128 + sig);
      expect(r.stdout).toBe('before\n');
      expect(r.diagnostics.join('\n')).toContain(`killed by ${name}`);
    });
  }

  it('names the bytes and address of an unimplemented instruction and dies of SIGILL', async () => {
    const r = await runOurs(bin.faults, { argv: ['faults', 'femms'] });
    expect(r.status).toBe(128 + 4);
    expect(r.stdout?.toString()).toBe('before\n');
    expect(r.diagnostics.join('\n')).toMatch(/killed by SIGILL: unimplemented instruction opcode 0f 0e \[0f 0e\] at 0x0000000000401[0-9a-f]{3}/);
  });

  it('forks, passes data through a pipe and reaps the child', async () => {
    const r = await same('procs', { argv: ['procs', 'fork'] });
    expect(r.stdout).toContain('from child\n');
    expect(r.stdout).toContain('status=1792\n');
    expect(r.stdout).toContain('parent_global=5\nparent_big=112\nshared_seen=42\nshared_untouched_seen=43\n');
  });

  it('execs another program, and vfork+exec', async () => {
    const r = await same('procs', { argv: ['procs', 'exec', bin.basics], env: ['X=y'] });
    expect(r.stdout).toContain('argv: fromexec\n');
    await same('procs', { argv: ['procs', 'vfork', bin.basics], env: ['X=y'] });
  });

  it('interleaves a writer and a reader through a full pipe', async () => {
    const r = await same('procs', { argv: ['procs', 'pipeline'] });
    expect(r.stdout).toContain('reader_total=300000\n');
  });

  it('runs signal handlers, blocks, ignores and dies of default actions', async () => {
    const r = await same('procs', { argv: ['procs', 'signal'] });
    expect(r.status).toBe(128 + 15);
    expect(r.stdout).toContain('unblocked_got=10\n');
    await same('procs', { argv: ['procs', 'sigpipe'] });
    const segv = await same('procs', { argv: ['procs', 'segvhandler'] });
    expect(segv.stdout).toBe('segv_handled=11\nsi_addr_ok=1\nvalue=119\n');
    const timers = await same('procs', { argv: ['procs', 'timers'] });
    expect(timers.stdout).toContain('pause=-4\ngot=14\n');
    expect(timers.stdout).toContain('sigsuspend=-4\ngot=17\nsi_code=1\nmask_restored=1\n');
    await same('procs', { argv: ['procs', 'killchild'] });
  });

  it('works with host files and directories', async () => {
    const d = mkdtempSync(join(tmpdir(), 'tsxen-elf-files-'));
    try {
      const nat = runNative(bin.files, { argv: ['files'], cwd: d });
      const ours = await runOurs(bin.files, { argv: ['files'], cwd: d });
      expect(ours.stdout?.toString() + explain(ours)).toBe(nat.stdout);
      expect(ours.status).toBe(0);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('sleeps and tells the time', async () => {
    await same('timing', { argv: ['timing'] });
  });
});
