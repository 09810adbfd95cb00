// SCHEDOP_shutdown and SCHEDOP_shutdown_code against a built domain: the reason the toolstack
// is told, as xen/common/domain.c domain_shutdown (RELEASE-4.4.4) decides it.

import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
// built-domain first: it loads domain.ts, whose modules the hypercall table imports in a cycle.
import { builtDomain } from './built-domain.js';
import { Reg } from '../../src/cpu/cpu.js';
import { hypercall } from '../../src/hypervisor/hypercall/index.js';
import { hcArgs } from './hypercall-args.js';
import { HYPERVISOR, type ShutdownReason } from '../../src/hypervisor/public.js';
import { EINVAL } from '../../src/hypervisor/errno.js';

const KERNEL = fileURLToPath(new URL('../../images/vmlinuz-tiny', import.meta.url));
const SCHEDOP_shutdown = 2n, SCHEDOP_shutdown_code = 5n;
const SHUTDOWN_poweroff = 0, SHUTDOWN_crash = 3;

/** Builds a domain; `calls` get a scratch word in start_info's second half for the reason. */
function shutdownSequence(calls: [cmd: bigint, reason: number][]): { results: number[]; told: ShutdownReason[] } {
  const told: ShutdownReason[] = [];
  const d = builtDomain(KERNEL, 48, (_d, reason) => told.push(reason));
  const v = d.vcpus[0];
  const arg = v.cpu.getRegNum(Reg.RSI) + 2048;
  const results = calls.map(([cmd, reason]) => {
    v.cpu.m.wr32(arg, reason);
    return hypercall(d, v, HYPERVISOR.sched_op, hcArgs(cmd, arg, 0, 0, 0));
  });
  return { results, told };
}

describe('sched_op shutdown', () => {
  it('tells the toolstack the reason given', () => {
    expect(shutdownSequence([[SCHEDOP_shutdown, SHUTDOWN_poweroff]])).toEqual({ results: [0], told: ['poweroff'] });
  });

  it('tells the recorded shutdown code instead of a later reason', () => {
    const r = shutdownSequence([[SCHEDOP_shutdown_code, SHUTDOWN_crash], [SCHEDOP_shutdown, SHUTDOWN_poweroff]]);
    expect(r).toEqual({ results: [0, 0], told: ['crash'] });
  });

  it('keeps the first recorded code', () => {
    const r = shutdownSequence([[SCHEDOP_shutdown_code, SHUTDOWN_crash], [SCHEDOP_shutdown_code, SHUTDOWN_poweroff], [SCHEDOP_shutdown, SHUTDOWN_poweroff]]);
    expect(r.told).toEqual(['crash']);
  });

  it('refuses an unknown reason and records nothing', () => {
    const r = shutdownSequence([[SCHEDOP_shutdown_code, 99], [SCHEDOP_shutdown, SHUTDOWN_poweroff]]);
    expect(r).toEqual({ results: [-EINVAL, 0], told: ['poweroff'] });
  });
});
