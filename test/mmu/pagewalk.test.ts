import { describe, expect, it } from 'vitest';
import { Cpu } from '../../src/cpu/cpu.js';
import { StopHooks } from '../../src/cpu/flat.js';
import { Access } from '../../src/cpu/memory.js';
import { CpuFault, PF_FETCH, PF_PRESENT, PF_USER, PF_WRITE } from '../../src/cpu/fault.js';
import { PageWalker } from '../../src/mmu/pagewalk.js';
import { PTE_A, PTE_D, PTE_P, PTE_RW, PTE_US, linear48, pageIndex } from '../../src/mmu/pte.js';
import { assemble } from '../cpu/asm.js';

const FRAMES = 256;
const KERNEL = -(2 ** 31); // 0xffffffff80000000

/** A tiny page-table builder over a flat RAM of FRAMES frames; frame 1 is the L4. */
class Tables {
  readonly ram = new Uint8Array(FRAMES * 4096);
  readonly dv = new DataView(this.ram.buffer);
  private next = 2;
  alloc(): number {
    return this.next++;
  }
  private entry(table: number, idx: number): number {
    return table * 4096 + idx * 8;
  }
  map(va: number, mfn: number, flags: number, nxBit = false): number {
    const u = linear48(va);
    let table = 1;
    for (let level = 4; level > 1; level--) {
      const eo = this.entry(table, pageIndex(u, level));
      let lo = this.dv.getUint32(eo, true);
      if ((lo & PTE_P) === 0) {
        const t = this.alloc();
        lo = (t << 12) | PTE_P | PTE_RW | PTE_US;
        this.dv.setUint32(eo, lo, true);
      }
      table = lo >>> 12;
    }
    const eo = this.entry(table, pageIndex(u, 1));
    this.dv.setUint32(eo, (mfn << 12) | flags, true);
    this.dv.setUint32(eo + 4, nxBit ? 0x80000000 : 0, true);
    return eo;
  }
  pte(eo: number): number {
    return this.dv.getUint32(eo, true);
  }
}

function walker(t: Tables): PageWalker {
  const w = new PageWalker(
    t.ram,
    {
      reserved: () => -1,
      leafFrame: (mfn) => (mfn < FRAMES ? mfn * 4096 : -1),
      tableFrame: (mfn) => (mfn < FRAMES ? mfn * 4096 : -1),
    },
    -(2 ** 47),
    -(2 ** 47) + 2 ** 39,
  );
  w.cr3 = 1;
  return w;
}

describe('page walk', () => {
  it('runs kernel code at 0xffffffff80000000 through 4 levels and sets A/D bits', () => {
    const t = new Tables();
    const code = assemble(`
      mov rax, 0x1122334455667788
      mov [rip + data], rax
      mov rbx, [rip + data]
      syscall
      .balign 4096
    data: .quad 0`);
    const codeFrame = 100, dataFrame = 101;
    t.ram.set(code.subarray(0, 4096), codeFrame * 4096);
    const codePte = t.map(KERNEL, codeFrame, PTE_P | PTE_US);
    const dataPte = t.map(KERNEL + 4096, dataFrame, PTE_P | PTE_RW | PTE_US);
    const hooks = new StopHooks();
    const c = new Cpu(t.ram, walker(t), hooks);
    c.rip = KERNEL;
    c.run(100);
    expect(hooks.lastFault).toBeUndefined();
    expect(c.getReg64(3)).toBe(0x1122334455667788n);
    expect(t.pte(codePte) & (PTE_A | PTE_D)).toBe(PTE_A);
    expect(t.pte(dataPte) & (PTE_A | PTE_D)).toBe(PTE_A | PTE_D);
    expect(t.dv.getBigUint64(dataFrame * 4096, true)).toBe(0x1122334455667788n);
  });

  it('faults with the SDM error codes: not present, write to read-only, user, NX fetch', () => {
    const t = new Tables();
    t.map(0x400000, 50, PTE_P | PTE_US); // read-only user page
    t.map(0x401000, 51, PTE_P | PTE_RW); // supervisor page
    t.map(0x402000, 52, PTE_P | PTE_RW | PTE_US, true); // NX
    const w = walker(t);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        if (e instanceof CpuFault) return { ec: e.errorCode, addr: e.address };
        throw e;
      }
      return undefined;
    };
    expect(code(() => w.translate(0x403000, Access.Read))).toEqual({ ec: 0, addr: 0x403000 });
    expect(code(() => w.translate(0x400000, Access.Write))).toEqual({ ec: PF_PRESENT | PF_WRITE, addr: 0x400000 });
    w.userMode = true;
    expect(code(() => w.translate(0x401000, Access.Read))).toEqual({ ec: PF_PRESENT | PF_USER, addr: 0x401000 });
    expect(code(() => w.translate(0x402000, Access.Exec))).toEqual({ ec: PF_PRESENT | PF_FETCH | PF_USER, addr: 0x402000 });
    expect(w.translate(0x402000, Access.Read)).toBe(52 * 4096);
  });

  it('drops decoded code when the kernel rewrites its text through another mapping', () => {
    const t = new Tables();
    const codeFrame = 100;
    // Code: mov eax, 1; syscall. Alias mapping of the same frame at 0x600000, writable.
    t.ram.set(assemble('mov eax, 1\nsyscall'), codeFrame * 4096);
    t.map(KERNEL, codeFrame, PTE_P | PTE_US);
    t.map(0x600000, codeFrame, PTE_P | PTE_RW | PTE_US);
    const hooks = new StopHooks();
    const c = new Cpu(t.ram, walker(t), hooks);
    for (let k = 0; k < 40; k++) { // enough runs to reach the compiled tier
      c.rip = KERNEL;
      c.run(100);
    }
    expect(c.lo[0]).toBe(1);
    c.m.wr8(0x600001, 7); // patch the immediate: mov eax, 7
    c.rip = KERNEL;
    c.run(100);
    expect(c.lo[0]).toBe(7);
  });
});
