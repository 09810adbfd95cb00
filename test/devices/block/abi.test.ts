// The blkif layouts against Xen's own header: gcc compiles Debian's /usr/include/xen/io/blkif.h
// and prints every offset and size, including __CONST_RING_SIZE for 1..16-page rings.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BLKIF_OP_DISCARD, BLKIF_OP_FLUSH_DISKCACHE, BLKIF_OP_INDIRECT, BLKIF_OP_WRITE_BARRIER, BLKIF_RING_ENTRY_SIZE,
  BLKIF_RSP_EOPNOTSUPP, BLKIF_RSP_ERROR, blkif_request, blkif_request_discard, blkif_request_indirect,
  blkif_request_segment, blkif_response, blkif_sring_header, blkifRingSize, SEGS_PER_INDIRECT_FRAME, VDISK_CDROM,
  VDISK_READONLY,
} from '../../../src/devices/block/blkif.js';
import { off, type Layout } from '../../../src/hypervisor/abi/layout.js';
import { tmpDir } from './setup.js';

const t = tmpDir('abi');
afterAll(() => t.cleanup());

const fields: Array<[Layout, string, string]> = [
  [blkif_request_segment, 'struct blkif_request_segment', 'gref first_sect last_sect'],
  [blkif_request, 'struct blkif_request', 'operation nr_segments handle id sector_number seg'],
  [blkif_request_discard, 'struct blkif_request_discard', 'operation flag handle id sector_number nr_sectors'],
  [blkif_request_indirect, 'struct blkif_request_indirect', 'operation indirect_op nr_segments id sector_number handle indirect_grefs'],
  [blkif_response, 'struct blkif_response', 'id operation status'],
];

function cValues(): Map<string, number> {
  const lines: string[] = [];
  for (const [, cname, names] of fields) {
    lines.push(`P("${cname}.size", sizeof(${cname}));`);
    for (const f of names.split(' ')) lines.push(`P("${cname}.${f}", offsetof(${cname}, ${f}));`);
  }
  lines.push('P("sring.ring", offsetof(struct blkif_sring, ring));');
  lines.push('P("entry", sizeof(union blkif_sring_entry));');
  for (const n of [1, 2, 4, 8, 16]) lines.push(`P("ring${n}", __CONST_RING_SIZE(blkif, ${n} * 4096));`);
  for (const m of ['BLKIF_OP_WRITE_BARRIER', 'BLKIF_OP_FLUSH_DISKCACHE', 'BLKIF_OP_DISCARD', 'BLKIF_OP_INDIRECT', 'BLKIF_RSP_ERROR', 'BLKIF_RSP_EOPNOTSUPP', 'VDISK_CDROM', 'VDISK_READONLY']) {
    lines.push(`P("${m}", (long)(${m}));`);
  }
  const src = `#include <stdio.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <xen/xen.h>\n#include <xen/io/blkif.h>\n#define P(n, v) printf("%s\\t%ld\\n", n, (long)(v))\nint main(void) {\n${lines.join('\n')}\nreturn 0; }\n`;
  const c = join(t.dir, 'blkif.c');
  const exe = join(t.dir, 'blkif');
  writeFileSync(c, src);
  execFileSync('gcc', ['-o', exe, c]);
  const out = execFileSync(exe, { encoding: 'utf8' });
  return new Map(out.trim().split('\n').map((l) => {
    const [k, v] = l.split('\t');
    return [k!, Number(v)];
  }));
}

describe('blkif ABI matches io/blkif.h', () => {
  const c = cValues();
  it('has the header\'s offsets and sizes for every request and response kind', () => {
    for (const [layout, cname, names] of fields) {
      expect(layout.size, `${cname} size`).toBe(c.get(`${cname}.size`));
      for (const f of names.split(' ')) expect(off(layout, f), `${cname}.${f}`).toBe(c.get(`${cname}.${f}`));
    }
  });
  it('lays out the shared ring as DEFINE_RING_TYPES does', () => {
    expect(blkif_sring_header.size).toBe(c.get('sring.ring'));
    expect(BLKIF_RING_ENTRY_SIZE).toBe(c.get('entry'));
    for (const n of [1, 2, 4, 8, 16]) expect(blkifRingSize(n), `${n}-page ring`).toBe(c.get(`ring${n}`));
    expect(SEGS_PER_INDIRECT_FRAME).toBe(4096 / c.get('struct blkif_request_segment.size')!);
  });
  it('uses the header\'s operation, status and VDISK numbers', () => {
    expect(BLKIF_OP_WRITE_BARRIER).toBe(c.get('BLKIF_OP_WRITE_BARRIER'));
    expect(BLKIF_OP_FLUSH_DISKCACHE).toBe(c.get('BLKIF_OP_FLUSH_DISKCACHE'));
    expect(BLKIF_OP_DISCARD).toBe(c.get('BLKIF_OP_DISCARD'));
    expect(BLKIF_OP_INDIRECT).toBe(c.get('BLKIF_OP_INDIRECT'));
    expect(BLKIF_RSP_ERROR).toBe(c.get('BLKIF_RSP_ERROR'));
    expect(BLKIF_RSP_EOPNOTSUPP).toBe(c.get('BLKIF_RSP_EOPNOTSUPP'));
    expect(VDISK_CDROM).toBe(c.get('VDISK_CDROM'));
    expect(VDISK_READONLY).toBe(c.get('VDISK_READONLY'));
  });
});
