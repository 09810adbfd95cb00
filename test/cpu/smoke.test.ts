import { describe, expect, it } from 'vitest';
import { flatCpu, StopHooks } from '../../src/cpu/flat.js';
import { assemble } from './asm.js';

function run(src: string) {
  const hooks = new StopHooks();
  const c = flatCpu(1 << 20, hooks);
  const code = assemble(src + '\nsyscall');
  c.m.ram.set(code, 0x1000);
  c.rip = 0x1000;
  c.setRegNum(4, 0x80000);
  c.run(10_000_000);
  if (hooks.lastFault) throw hooks.lastFault;
  return c;
}

describe('cpu smoke', () => {
  it('computes fib(40) mod 2^64 with a loop', () => {
    const c = run(`
      mov rcx, 90
      xor eax, eax
      mov edx, 1
    1: lea rbx, [rax+rdx]
      mov rax, rdx
      mov rdx, rbx
      dec rcx
      jnz 1b`);
    expect(c.getReg64(0)).toBe(2880067194370816120n);
  });

  it('calls and returns through the stack', () => {
    const c = run(`
      mov edi, 10
      call f
      jmp done
    f: push rbx
      mov rbx, rdi
      imul rax, rbx, 7
      pop rbx
      ret
    done:`);
    expect(c.getReg64(0)).toBe(70n);
  });

  it('divides 128 by 64 bits', () => {
    const c = run(`
      mov rdx, 1
      xor eax, eax
      mov rcx, 3
      div rcx`);
    expect(c.getReg64(0)).toBe((1n << 64n) / 3n);
    expect(c.getReg64(2)).toBe((1n << 64n) % 3n);
  });

  it('reports an unimplemented instruction with its bytes and address', () => {
    const hooks = new StopHooks();
    const c = flatCpu(1 << 20, hooks);
    c.m.ram.set([0x90, 0x0f, 0x0e], 0x1000); // NOP; FEMMS (3DNow!, never implemented)
    c.rip = 0x1000;
    c.run(100);
    expect(hooks.lastFault?.message).toMatch(/unimplemented instruction opcode 0f 0e \[0f 0e\] at 0x0000000000001001/);
    expect(c.rip).toBe(0x1001);
  });
});
