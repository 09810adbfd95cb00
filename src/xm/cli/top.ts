// `xm top`: xm ran xentop (tools/xenstat/xentop/xentop.c). tsxen has no xentop, so this is a
// small one with xentop's first columns: on a terminal it redraws every 3 s until 'q' or
// Ctrl-C; otherwise it prints one round, as `xentop -b -i 1` did.

import type { DomainInfo, HostInfo } from '../../dom0/model/info.js';
import { stateString } from '../format/domain-sxpr.js';
import type { Ctx } from './context.js';

const DELAY_MS = 3000;

function header(): string {
  return `${'NAME'.padStart(10)}  STATE   CPU(sec) CPU(%)     MEM(k) MEM(%)  MAXMEM(k) MAXMEM(%) VCPUS NETS VBDS\n`;
}

function row(d: DomainInfo, cpuPct: number, totalMiB: number): string {
  const memK = d.memory * 1024;
  const maxK = d.maxmem * 1024;
  const pct = (k: number): string => (totalMiB > 0 ? ((k / 1024 / totalMiB) * 100).toFixed(1) : '0.0');
  const nets = d.devices.filter((x) => x.class === 'vif').length;
  const vbds = d.devices.filter((x) => x.class === 'vbd' || x.class === 'tap' || x.class === 'tap2').length;
  const state = d.domid === null ? '------' : stateString(d.state);
  return (
    `${d.name.slice(0, 10).padStart(10)} ${state.padStart(6)} ${Math.floor(d.cpuTime).toString().padStart(10)} ` +
    `${cpuPct.toFixed(1).padStart(6)} ${String(memK).padStart(10)} ${pct(memK).padStart(6)} ` +
    `${String(maxK).padStart(10)} ${pct(maxK).padStart(9)} ${String(d.onlineVcpus ?? d.vcpus).padStart(5)} ` +
    `${String(nets).padStart(4)} ${String(vbds).padStart(4)}\n`
  );
}

export async function runTop(ctx: Ctx): Promise<number> {
  const tty = process.stdout.isTTY === true && process.stdin.isTTY === true;
  let prev = new Map<string, { cpu: number; at: number }>();
  const round = async (): Promise<string> => {
    const [doms, info] = [await ctx.call('list'), await ctx.call('info')];
    const now = Date.now() / 1000;
    let out = `xentop - ${new Date().toTimeString().slice(0, 8)}   Xen ${info.xen_major}.${info.xen_minor}${info.xen_extra}\n`;
    out += `${doms.filter((d) => d.domid !== null).length} domains: Mem: ${info.total_memory * 1024}k total, ${info.free_memory * 1024}k free    CPUs: ${info.nr_cpus}\n`;
    out += header();
    const next = new Map<string, { cpu: number; at: number }>();
    for (const d of doms) {
      const key = `${d.domid ?? ''}:${d.name}`;
      const p = prev.get(key);
      const pct = p && now > p.at ? ((d.cpuTime - p.cpu) / (now - p.at)) * 100 : 0;
      next.set(key, { cpu: d.cpuTime, at: now });
      out += row(d, Math.max(0, pct), info.total_memory);
    }
    prev = next;
    return out;
  };
  if (!tty) {
    ctx.out(await round());
    return 0;
  }
  process.stdin.setRawMode(true);
  let quit: () => void = () => {};
  const done = new Promise<void>((r) => (quit = r));
  process.stdin.on('data', (b: Buffer) => {
    if (b.includes(0x71) || b.includes(0x51) || b.includes(0x03)) quit();
  });
  try {
    for (;;) {
      ctx.out(`\x1b[H\x1b[2J${await round()}`);
      const t = new Promise<'tick'>((r) => setTimeout(() => r('tick'), DELAY_MS));
      if ((await Promise.race([t, done.then(() => 'quit' as const)])) === 'quit') break;
    }
  } finally {
    process.stdin.setRawMode(false);
    process.stdin.pause();
  }
  return 0;
}
