// Where a file's blocks are: the extent tree (ext4) or the classic block map (ext2/3, and ext4
// files without EXTENTS_FL). Both produce the same thing, a list of runs of logical blocks that
// live at consecutive physical blocks; anything not covered by a run is a hole (zeros).
//
// The image is the guest's, so it may be hostile: every node is checked before use, work is
// bounded by the number of blocks the file really has (its size, itself capped by the caller),
// and extent trees cannot loop because each level must be exactly one shallower than its parent.

import {
  BLOCK_POINTER_BYTES,
  EXTENT,
  EXTENT_HEADER,
  EXTENT_INDEX,
  EXTENT_INIT_MAX_LEN,
  EXTENT_MAGIC,
  EXTENT_MAX_DEPTH,
  DIND_BLOCK,
  IND_BLOCK,
  N_DIRECT,
  TIND_BLOCK,
  hiLo,
  view,
} from './ext-layout.js';
import { PygrubError } from './errors.js';

export interface Run {
  /** First logical block of the file in this run. */
  readonly logical: number;
  /** Physical block it starts at. */
  readonly physical: number;
  readonly count: number;
}

/** What the mappers need from the file system. */
export interface BlockDevice {
  readonly blockSize: number;
  readonly blocksCount: number;
  /** Message prefix naming the file system and the inode. */
  readonly where: string;
  readBlock(block: number): Promise<Uint8Array>;
}

// An extent tree of a file capped at 128 MiB can need at most a few hundred nodes; far more
// nodes than that means a hostile tree (say every leaf repeated in many index entries).
const MAX_EXTENT_NODES = 4096;

function corrupt(dev: BlockDevice, what: string): PygrubError {
  return new PygrubError('EFS', `${dev.where}: ${what}`);
}

function checkPhysical(dev: BlockDevice, start: number, count: number, what: string): void {
  if (start === 0 || start + count > dev.blocksCount) {
    throw corrupt(dev, `${what} points at blocks [${start}, ${start + count}) outside the file system (${dev.blocksCount} blocks)`);
  }
}

/** Runs of the extent tree whose root is the inode's i_block, limited to `fileBlocks`. */
export async function extentRuns(dev: BlockDevice, iBlock: Uint8Array, fileBlocks: number): Promise<Run[]> {
  const runs: Run[] = [];
  let nodes = 0;
  const walk = async (node: Uint8Array, expectDepth: number | null, what: string): Promise<void> => {
    if (++nodes > MAX_EXTENT_NODES) throw corrupt(dev, `extent tree has more than ${MAX_EXTENT_NODES} nodes`);
    const h = view(EXTENT_HEADER, node);
    if (h.get('eh_magic') !== EXTENT_MAGIC) {
      throw corrupt(dev, `${what}: bad extent header magic 0x${h.get('eh_magic').toString(16)}`);
    }
    const entries = h.get('eh_entries');
    const max = h.get('eh_max');
    const depth = h.get('eh_depth');
    const room = Math.floor((node.length - EXTENT_HEADER.size) / EXTENT.size);
    if (max > room || entries > max) {
      throw corrupt(dev, `${what}: extent node claims ${entries} of ${max} entries, room for ${room}`);
    }
    if (depth > EXTENT_MAX_DEPTH) throw corrupt(dev, `${what}: extent tree depth ${depth} exceeds ${EXTENT_MAX_DEPTH}`);
    if (expectDepth !== null && depth !== expectDepth) {
      throw corrupt(dev, `${what}: extent node depth ${depth}, its parent expects ${expectDepth}`);
    }
    for (let i = 0; i < entries; i++) {
      const base = EXTENT_HEADER.size + i * EXTENT.size;
      if (depth === 0) {
        const e = view(EXTENT, node, base);
        const logical = e.get('ee_block');
        if (logical >= fileBlocks) continue;
        let len = e.get('ee_len');
        const unwritten = len > EXTENT_INIT_MAX_LEN;
        if (unwritten) len -= EXTENT_INIT_MAX_LEN;
        const physical = hiLo(e.get('ee_start_hi'), e.get('ee_start_lo'));
        checkPhysical(dev, physical, len, `extent ${i} of ${what}`);
        // Unwritten extents read as zeros, like holes: leave them out.
        if (!unwritten && len > 0) runs.push({ logical, physical, count: Math.min(len, fileBlocks - logical) });
      } else {
        const x = view(EXTENT_INDEX, node, base);
        if (x.get('ei_block') >= fileBlocks) continue;
        const child = hiLo(x.get('ei_leaf_hi'), x.get('ei_leaf_lo'));
        checkPhysical(dev, child, 1, `extent index ${i} of ${what}`);
        await walk(await dev.readBlock(child), depth - 1, `extent node at block ${child}`);
      }
    }
  };
  await walk(iBlock, null, 'extent root');
  return runs;
}

/** Runs of a classic block map: 12 direct pointers, then single, double, triple indirect. */
export async function blockMapRuns(dev: BlockDevice, iBlock: Uint8Array, fileBlocks: number): Promise<Run[]> {
  const runs: Run[] = [];
  const perBlock = dev.blockSize / BLOCK_POINTER_BYTES;
  const root = new DataView(iBlock.buffer, iBlock.byteOffset, iBlock.byteLength);
  const add = (logical: number, physical: number, what: string): void => {
    if (physical === 0) return; // a hole
    checkPhysical(dev, physical, 1, what);
    const last = runs[runs.length - 1];
    if (last && last.logical + last.count === logical && last.physical + last.count === physical) {
      runs[runs.length - 1] = { ...last, count: last.count + 1 };
    } else {
      runs.push({ logical, physical, count: 1 });
    }
  };
  // `level` 1 = the block holds data-block pointers; each level up multiplies the span.
  const indirect = async (block: number, level: number, firstLogical: number, what: string): Promise<void> => {
    if (block === 0 || firstLogical >= fileBlocks) return;
    checkPhysical(dev, block, 1, what);
    const data = await dev.readBlock(block);
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const span = perBlock ** (level - 1);
    for (let i = 0; i < perBlock; i++) {
      const logical = firstLogical + i * span;
      if (logical >= fileBlocks) break;
      const ptr = dv.getUint32(i * BLOCK_POINTER_BYTES, true);
      if (level === 1) add(logical, ptr, `${what} entry ${i}`);
      else await indirect(ptr, level - 1, logical, `${what} entry ${i}`);
    }
  };
  for (let i = 0; i < N_DIRECT && i < fileBlocks; i++) add(i, root.getUint32(i * BLOCK_POINTER_BYTES, true), `direct block ${i}`);
  let first = N_DIRECT;
  const levels: Array<[number, number, string]> = [
    [IND_BLOCK, 1, 'indirect block'],
    [DIND_BLOCK, 2, 'double-indirect block'],
    [TIND_BLOCK, 3, 'triple-indirect block'],
  ];
  for (const [slot, level, what] of levels) {
    await indirect(root.getUint32(slot * BLOCK_POINTER_BYTES, true), level, first, what);
    first += perBlock ** level;
  }
  return runs;
}
