// The blkif ring protocol (xen/include/public/io/blkif.h and io/ring.h, x86-64 ABI): request and
// response layouts, operation and status codes, VDISK_* flags and the shared-ring geometry.
// Layouts use natural alignment exactly as Xen's header (and Debian's libxen-dev copy) declares
// them; test/devices/blkback/abi.test.ts compiles that header with gcc and compares every offset.

import { struct } from '../../hypervisor/abi/layout.js';
import { PAGE_SIZE } from '../../hypervisor/domain_memory.js';

export const BLKIF_OP_READ = 0;
export const BLKIF_OP_WRITE = 1;
export const BLKIF_OP_WRITE_BARRIER = 2;
export const BLKIF_OP_FLUSH_DISKCACHE = 3;
export const BLKIF_OP_DISCARD = 5;
export const BLKIF_OP_INDIRECT = 6;

export const BLKIF_RSP_EOPNOTSUPP = -2;
export const BLKIF_RSP_ERROR = -1;
export const BLKIF_RSP_OKAY = 0;

export const BLKIF_MAX_SEGMENTS_PER_REQUEST = 11;
export const BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST = 8;
export const BLKIF_DISCARD_SECURE = 1;

export const VDISK_CDROM = 0x1;
export const VDISK_REMOVABLE = 0x2;
export const VDISK_READONLY = 0x4;

/** The only frontend ABI served (io/protocols.h XEN_IO_PROTO_ABI_X86_64). */
export const XEN_IO_PROTO_ABI_X86_64 = 'x86_64-abi';

export const blkif_request_segment = struct('blkif_request_segment', [
  ['gref', 'u32'],
  ['first_sect', 'u8'],
  ['last_sect', 'u8'],
]);

export const blkif_request = struct('blkif_request', [
  ['operation', 'u8'],
  ['nr_segments', 'u8'],
  ['handle', 'u16'],
  ['id', 'u64'],
  ['sector_number', 'u64'],
  ['seg', blkif_request_segment, BLKIF_MAX_SEGMENTS_PER_REQUEST],
]);

export const blkif_request_discard = struct('blkif_request_discard', [
  ['operation', 'u8'],
  ['flag', 'u8'],
  ['handle', 'u16'],
  ['id', 'u64'],
  ['sector_number', 'u64'],
  ['nr_sectors', 'u64'],
]);

export const blkif_request_indirect = struct('blkif_request_indirect', [
  ['operation', 'u8'],
  ['indirect_op', 'u8'],
  ['nr_segments', 'u16'],
  ['id', 'u64'],
  ['sector_number', 'u64'],
  ['handle', 'u16'],
  ['indirect_grefs', 'u32', BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST],
]);

export const blkif_response = struct('blkif_response', [
  ['id', 'u64'],
  ['operation', 'u8'],
  ['status', 'i16'],
]);

/** DEFINE_RING_TYPES' shared page header; `ring[]` starts right after it. */
export const blkif_sring_header = struct('blkif_sring', [
  ['req_prod', 'u32'],
  ['req_event', 'u32'],
  ['rsp_prod', 'u32'],
  ['rsp_event', 'u32'],
  ['__pad', 'u8', 48],
]);

/** union blkif_sring_entry: the larger of request and response. */
export const BLKIF_RING_ENTRY_SIZE = Math.max(blkif_request.size, blkif_response.size);
/** Every request kind carries its id at the same offset (blkif.h comments "offsetof(...id) == 8"). */
export const BLKIF_REQUEST_ID_OFFSET = blkif_request.fields.id.offset;

/** Segments one indirect page holds (PAGE_SIZE / sizeof(struct blkif_request_segment)). */
export const SEGS_PER_INDIRECT_FRAME = PAGE_SIZE / blkif_request_segment.size;

/** __RD32: round a 32-bit count down to a power of two. */
function rd32(x: number): number {
  if (x <= 0) return 0;
  return 2 ** Math.floor(Math.log2(x));
}

/** __CONST_RING_SIZE(blkif, nrPages * PAGE_SIZE): entries in a ring of nrPages pages. */
export function blkifRingSize(nrPages: number): number {
  return rd32(Math.floor((nrPages * PAGE_SIZE - blkif_sring_header.size) / BLKIF_RING_ENTRY_SIZE));
}

export function blkifOpName(op: number): string {
  switch (op) {
    case BLKIF_OP_READ: return 'read';
    case BLKIF_OP_WRITE: return 'write';
    case BLKIF_OP_WRITE_BARRIER: return 'barrier';
    case BLKIF_OP_FLUSH_DISKCACHE: return 'flush';
    case BLKIF_OP_DISCARD: return 'discard';
    case BLKIF_OP_INDIRECT: return 'indirect';
    default: return `op ${op}`;
  }
}
