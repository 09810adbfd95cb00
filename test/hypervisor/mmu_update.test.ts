// HYPERVISOR_mmu_update against a built (not yet running) domain: what a guest may write into
// its page tables, and the error codes of Xen's do_mmu_update for what it may not.

import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { builtDomain } from './built-domain.js';
import { Reg } from '../../src/cpu/cpu.js';
import { hypercall } from '../../src/hypervisor/hypercall/index.js';
import { hcArgs } from './hypercall-args.js';
import { EFAULT, EINVAL, ENOSYS } from '../../src/hypervisor/errno.js';

const KERNEL = fileURLToPath(new URL('../../images/vmlinuz-tiny', import.meta.url));
const MMU_UPDATE = 1;

const nrPages = (48 * 1024 * 1024) / 4096;

interface Fixture {
  mmuUpdate(list: [bigint, bigint][]): { rc: number; done: number };
  entry(slot: number): bigint;
  read(slot: number): bigint;
  write(slot: number, val: bigint): void;
  raw(args: bigint[]): number;
}

/** Build a domain and run `f` on its start-of-day state, before the guest's first instruction. */
function withDomain(f: (x: Fixture) => void): void {
  const d = builtDomain(KERNEL, 48);
  const v = d.vcpus[0];
  // start_info is mapped and writable at RSI; its second half is free for a request list.
  const reqs = v.cpu.getRegNum(Reg.RSI) + 2048;
  const doneVa = reqs + 1024;
  const l4 = v.kernelTable * 4096;
  f({
    mmuUpdate(list) {
      list.forEach(([ptr, val], k) => {
        v.cpu.m.wr64(reqs + k * 16, Number(ptr & 0xffffffffn) | 0, Number(ptr >> 32n) | 0);
        v.cpu.m.wr64(reqs + k * 16 + 8, Number(val & 0xffffffffn) | 0, Number(val >> 32n) | 0);
      });
      v.cpu.m.wr32(doneVa, -1);
      const rc = hypercall(d, v, MMU_UPDATE, hcArgs(reqs, list.length, doneVa, 0x7ff0, 0));
      return { rc, done: v.cpu.m.rd32(doneVa) };
    },
    entry: (slot) => BigInt(l4 + slot * 8),
    read: (slot) => d.dv.getBigUint64(l4 + slot * 8, true),
    write: (slot, val) => d.dv.setBigUint64(l4 + slot * 8, val, true),
    raw: (args) => hypercall(d, v, MMU_UPDATE, hcArgs(...args)),
  });
}

describe('mmu_update', () => {
  it('writes an entry naming one of the domain’s frames', () => withDomain(({ mmuUpdate, entry, read }) => {
    const val = (5n << 12n) | 0x67n;
    expect(mmuUpdate([[entry(300), val]])).toEqual({ rc: 0, done: 1 });
    expect(read(300)).toBe(val);
    // A not-present entry may hold anything in its other bits.
    expect(mmuUpdate([[entry(301), 0xfffff000n]]).rc).toBe(0);
    expect(read(301)).toBe(0xfffff000n);
  }));

  it('keeps the accessed and dirty bits with MMU_PT_UPDATE_PRESERVE_AD', () => withDomain(({ mmuUpdate, entry, read, write }) => {
    write(302, (6n << 12n) | 0x61n);
    expect(mmuUpdate([[entry(302) | 2n, (7n << 12n) | 0x3n]]).rc).toBe(0);
    expect(read(302)).toBe((7n << 12n) | 0x63n);
  }));

  it('refuses frames outside the domain and pointers outside its RAM, leaving memory alone', () => withDomain(({ mmuUpdate, entry, read }) => {
    const before = read(303);
    expect(mmuUpdate([[entry(303), (BigInt(nrPages + 1000) << 12n) | 0x67n]]).rc).toBe(-EINVAL);
    expect(read(303)).toBe(before);
    // A frame number with high bits set (bits 32-51 of the PTE).
    expect(mmuUpdate([[entry(303), (1n << 40n) | 0x67n]]).rc).toBe(-EINVAL);
    expect(read(303)).toBe(before);
    expect(mmuUpdate([[BigInt(nrPages + 10) << 12n, 0x67n]]).rc).toBe(-EINVAL);
    // The low three bits of ptr are the command: 4-7 name none.
    expect(mmuUpdate([[entry(303) + 4n, 0n]]).rc).toBe(-ENOSYS);
  }));

  it('stops at the first bad request and reports how many were done', () => withDomain(({ mmuUpdate, entry, read }) => {
    const r = mmuUpdate([[entry(304), (8n << 12n) | 0x67n], [entry(305), (BigInt(nrPages + 500) << 12n) | 0x67n], [entry(306), 0x67n]]);
    expect(r).toEqual({ rc: -EINVAL, done: 1 });
    expect(read(304)).toBe((8n << 12n) | 0x67n);
  }));

  it('accepts only identity machine-to-phys updates and refuses unknown commands', () => withDomain(({ mmuUpdate, entry }) => {
    expect(mmuUpdate([[(9n << 12n) | 1n, 9n]]).rc).toBe(0);
    expect(mmuUpdate([[(9n << 12n) | 1n, 10n]]).rc).toBe(-EINVAL);
    expect(mmuUpdate([[entry(307) | 3n, 0n]]).rc).toBe(-ENOSYS);
  }));

  it('answers -EFAULT for a request list the guest has not mapped', () => withDomain(({ raw }) => {
    expect(raw([0x1000n, 1n, 0n, 0x7ff0n, 0n])).toBe(-EFAULT);
  }));
});
