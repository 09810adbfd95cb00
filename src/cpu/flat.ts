// A flat address space for tests and tools: linear address == RAM offset, all pages
// readable, writable and executable, anything beyond RAM a page fault.

import { Cpu, type CpuHooks } from './cpu.js';
import { defaultCpuid } from './cpuid.js';
import { pageFault, type CpuFault, PF_USER, PF_WRITE, PF_FETCH } from './fault.js';
import { Access, type Translator } from './memory.js';

export class FlatTranslator implements Translator {
  constructor(private readonly size: number) {}
  translate(page: number, access: Access, addr = page): number {
    if (page < 0 || page + 4096 > this.size) {
      throw pageFault(addr, PF_USER | (access === Access.Write ? PF_WRITE : 0) | (access === Access.Exec ? PF_FETCH : 0));
    }
    return page;
  }
}

/** Hooks that make SYSCALL and faults stop the run: what a bare-metal test needs. */
export class StopHooks implements CpuHooks {
  lastFault: CpuFault | undefined;
  syscalls = 0;
  tsc = 0;
  syscall(c: Cpu): void {
    this.syscalls++;
    c.stop = true;
  }
  fault(c: Cpu, f: CpuFault): void {
    this.lastFault = f;
    c.stop = true;
  }
  cpuid(c: Cpu): void {
    defaultCpuid(c);
  }
  rdtsc(): number {
    return (this.tsc += 1000);
  }
}

export function flatCpu(size: number, hooks: CpuHooks = new StopHooks()): Cpu {
  return new Cpu(new Uint8Array(size), new FlatTranslator(size), hooks);
}
