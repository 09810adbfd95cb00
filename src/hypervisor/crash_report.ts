// What Xen prints when it crashes a PV guest (xen/common/domain.c __domain_crash, then
// show_execution_state: xen/arch/x86/x86_64/traps.c show_registers/_show_registers at
// RELEASE-4.4.4): a header, the CPU, and the guest's registers at the fault. It goes to the
// hypervisor console (`xm dmesg`), where a domain that dies before its own console is up
// leaves its last words.

import { Reg, SReg } from '../cpu/regs.js';
import { getFlags } from '../cpu/flags.js';
import { PAGE_SIZE } from './domain_memory.js';
import { XEN_EXTRAVERSION, XEN_MAJOR, XEN_MINOR } from './public.js';
import type { Domain } from './domain.js';
import type { Vcpu } from './vcpu.js';

/** CR0 as a PV guest runs: PE MP ET NE WP AM PG (TS follows fpu_taskswitch, not kept here). */
const PV_CR0 = 0x80050033;

const hex16 = (v: bigint | number): string => BigInt.asUintN(64, BigInt(v)).toString(16).padStart(16, '0');
const hex4 = (v: number): string => (v & 0xffff).toString(16).padStart(4, '0');

export function crashReport(d: Domain, v: Vcpu): string {
  const c = v.cpu;
  const r = (n: Reg): string => hex16(c.getReg64(n));
  const cs = c.sreg[SReg.CS];
  const cr3 = v.kernelMode ? v.kernelTable : v.userTable;
  return [
    `Domain ${d.domid} (vcpu#${v.id}) crashed on cpu#0:`,
    `----[ Xen-${XEN_MAJOR}.${XEN_MINOR}${XEN_EXTRAVERSION}  x86_64  debug=n  Not tainted ]----`,
    'CPU:    0',
    `RIP:    ${hex4(cs)}:[<${hex16(c.rip)}>]`,
    `RFLAGS: ${hex16(getFlags(c))}   EM: ${v.upcallMask ? 1 : 0}   CONTEXT: pv guest (d${d.domid}v${v.id})`,
    `rax: ${r(Reg.RAX)}   rbx: ${r(Reg.RBX)}   rcx: ${r(Reg.RCX)}`,
    `rdx: ${r(Reg.RDX)}   rsi: ${r(Reg.RSI)}   rdi: ${r(Reg.RDI)}`,
    `rbp: ${r(Reg.RBP)}   rsp: ${r(Reg.RSP)}   r8:  ${r(Reg.R8)}`,
    `r9:  ${r(Reg.R9)}   r10: ${r(Reg.R10)}   r11: ${r(Reg.R11)}`,
    `r12: ${r(Reg.R12)}   r13: ${r(Reg.R13)}   r14: ${r(Reg.R14)}`,
    `r15: ${r(Reg.R15)}   cr0: ${hex16(PV_CR0)}   cr4: ${hex16(v.cr4)}`,
    `cr3: ${hex16(cr3 * PAGE_SIZE)}   cr2: ${hex16(v.cr2())}`,
    `ds: ${hex4(c.sreg[SReg.DS])}   es: ${hex4(c.sreg[SReg.ES])}   fs: ${hex4(c.sreg[SReg.FS])}   gs: ${hex4(c.sreg[SReg.GS])}   ` +
      `ss: ${hex4(c.sreg[SReg.SS])}   cs: ${hex4(cs)}`,
    '',
  ].join('\n');
}
