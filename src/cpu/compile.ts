// Second tier: a block that ran often is compiled into one JS function that calls each
// instruction's handler in sequence. Every call site in it sees exactly one handler, so V8
// can inline the handlers into the block: decode-time specialisation becomes machine code
// without a code generator per instruction. RIP constants are baked into the source.

import type { Block } from './block.js';
import type { Cpu } from './cpu.js';
import type { Handler, Instr } from './instr.js';

export type BlockFn = (c: Cpu) => void;

/** Runs of this many executions make a block hot. */
export const HOT_THRESHOLD = 32;

export function compileBlock(b: Block): BlockFn {
  const ins = b.instrs;
  const n = ins.length;
  const lines: string[] = [];
  for (let k = 0; k < n; k++) lines.push(`c.rip = ${ins[k].next}; h${k}(c, i${k});`);
  const params: string[] = [];
  for (let k = 0; k < n; k++) params.push(`h${k}`, `i${k}`);
  const args: (Handler | Instr)[] = [];
  for (let k = 0; k < n; k++) args.push(ins[k].exec, ins[k]);
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const factory = new Function(...params, `return function block(c) {\n${lines.join('\n')}\n};`) as (
    ...a: (Handler | Instr)[]
  ) => BlockFn;
  return factory(...args);
}
