// A read-only ext2/3/4 reader: enough to find and read /boot's files from a guest's disk, with
// no mounting and no privileges (pygrub used libfsimage's ext2fs plugin for this).
//
// The file system is the guest's and may be hostile. Every count and pointer is checked against
// the superblock before it is used, file and directory reads are capped, symbolic links are
// followed at most MAX_SYMLINKS times (as Linux's MAXSYMLINKS), so a bad image gives a
// PygrubError naming the image and the structure, never a hang or a huge allocation.

import { type ByteSource } from './source.js';
import { PygrubError, shown } from './errors.js';
import { blockMapRuns, extentRuns, type BlockDevice, type Run } from './ext-map.js';
import {
  DIR_ENTRY,
  EXT_MAGIC,
  GROUP_DESC,
  GROUP_DESC_SIZE_32,
  GROUP_DESC_SIZE_64_MIN,
  INCOMPAT,
  INLINE_DATA_XATTR,
  INLINE_DIR,
  INODE,
  INODE_EXTRA,
  INODE_FLAG,
  I_BLOCK_BYTES,
  ROOT_INODE,
  RO_COMPAT_SPARSE_SUPER,
  SUPERBLOCK,
  SUPERBLOCK_OFFSET,
  SUPERBLOCK_SIZE,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  XATTR_ENTRY,
  XATTR_IBODY_HEADER,
  XATTR_INDEX_SYSTEM,
  XATTR_MAGIC,
  hiLo,
  view,
} from './ext-layout.js';

const MAX_SYMLINKS = 40;
const MAX_SYMLINK_SIZE = 4096; // PATH_MAX
// Real directories on a boot path are a few KiB; a bigger one only costs reading time (its
// blocks may all be the same block), so the cap keeps a hostile one to a fraction of a second.
const MAX_DIR_SIZE = 4 << 20;
// All directory data one file system may have read for lookups (a real boot reads a few KiB
// per lookup, a few dozen lookups).
const MAX_DIR_BYTES_TOTAL = 64 << 20;
const DIR_CACHE_BLOCKS = 256;
// File data is read in spans of up to this much, merging runs separated by at most a few blocks.
const SPAN_BYTES = 8 << 20;
const SPAN_GAP_BLOCKS = 8;
// A directory is read this much at a time.
const DIR_READ_BYTES = 256 << 10;
const MAX_PATH_COMPONENTS = 4096;

// Incompat features whose presence does not change how we read /boot. RECOVER (journal needs
// replay) is read as is, as libext2fs-based pygrub did; MMP, FLEX_BG, CSUM_SEED, LARGEDIR,
// EA_INODE only affect things we never look at; ENCRYPT and CASEFOLD only concern flagged
// directories/files; INLINE_DATA files and directories are read from i_block and the in-inode
// system.data attribute (where Linux keeps all of an inline inode's data).
const SUPPORTED_INCOMPAT =
  INCOMPAT.FILETYPE |
  INCOMPAT.RECOVER |
  INCOMPAT.META_BG |
  INCOMPAT.EXTENTS |
  INCOMPAT.BIT64 |
  INCOMPAT.MMP |
  INCOMPAT.FLEX_BG |
  INCOMPAT.EA_INODE |
  INCOMPAT.CSUM_SEED |
  INCOMPAT.LARGEDIR |
  INCOMPAT.INLINE_DATA |
  INCOMPAT.ENCRYPT |
  INCOMPAT.CASEFOLD;

export type FileType = 'file' | 'dir' | 'symlink' | 'other';

export interface Inode {
  readonly ino: number;
  readonly mode: number;
  readonly type: FileType;
  readonly size: number;
  readonly flags: number;
  /** The 60-byte i_block area, copied. */
  readonly iBlock: Uint8Array;
  /** With INLINE_DATA: what follows i_block's part (the system.data attribute), else empty. */
  readonly inlineMore: Uint8Array;
}


function typeOf(mode: number): FileType {
  switch (mode & S_IFMT) {
    case S_IFREG: return 'file';
    case S_IFDIR: return 'dir';
    case S_IFLNK: return 'symlink';
    default: return 'other';
  }
}

export class ExtFs {
  private readonly groupDescCache = new Map<number, number>();
  private readonly dirBlockCache = new Map<number, Uint8Array>();
  private dirBytesLeft = MAX_DIR_BYTES_TOTAL;

  private constructor(
    readonly src: ByteSource,
    readonly blockSize: number,
    readonly blocksCount: number,
    private readonly firstDataBlock: number,
    private readonly blocksPerGroup: number,
    private readonly inodesPerGroup: number,
    private readonly inodesCount: number,
    private readonly inodeSize: number,
    private readonly descSize: number,
    private readonly groupCount: number,
    private readonly incompat: number,
    private readonly roCompat: number,
    private readonly firstMetaBg: number,
  ) {}

  /** Reads and checks the superblock of the file system at the start of `src`. */
  static async open(src: ByteSource): Promise<ExtFs> {
    const fail = (msg: string, code: 'EFS' | 'EUNSUPPORTED' = 'EFS'): PygrubError =>
      new PygrubError(code, `${src.name}: ${msg}`);
    if (src.size < SUPERBLOCK_OFFSET + SUPERBLOCK_SIZE) throw fail(`too small for an ext2/3/4 file system (${src.size} bytes)`);
    const sb = view(SUPERBLOCK, await src.read(SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE));
    if (sb.get('s_magic') !== EXT_MAGIC) {
      throw fail(`no ext2/3/4 file system (superblock magic 0x${sb.get('s_magic').toString(16)}, want 0xef53)`);
    }
    const logBlock = sb.get('s_log_block_size');
    // 1 KiB to 64 KiB, as Linux accepts.
    if (logBlock > 6) throw fail(`corrupt superblock: s_log_block_size ${logBlock}`);
    const blockSize = 1024 << logBlock;
    const incompat = sb.get('s_feature_incompat');
    if (incompat & INCOMPAT.JOURNAL_DEV) throw fail('is an external ext3/4 journal, not a file system', 'EUNSUPPORTED');
    const unknown = incompat & ~SUPPORTED_INCOMPAT;
    if (unknown) throw fail(`unsupported ext4 incompat features 0x${unknown.toString(16)}`, 'EUNSUPPORTED');
    const is64 = (incompat & INCOMPAT.BIT64) !== 0;
    const blocksCount = hiLo(is64 ? sb.get('s_blocks_count_hi') : 0, sb.get('s_blocks_count_lo'));
    const firstDataBlock = sb.get('s_first_data_block');
    const blocksPerGroup = sb.get('s_blocks_per_group');
    const inodesPerGroup = sb.get('s_inodes_per_group');
    const inodesCount = sb.get('s_inodes_count');
    const rev = sb.get('s_rev_level');
    const inodeSize = rev === 0 ? 128 : sb.get('s_inode_size');
    const descSize = is64 ? sb.get('s_desc_size') : GROUP_DESC_SIZE_32;
    if (blocksCount === 0 || firstDataBlock >= blocksCount) throw fail(`corrupt superblock: ${blocksCount} blocks, first data block ${firstDataBlock}`);
    if (blocksPerGroup === 0 || blocksPerGroup > 8 * blockSize) throw fail(`corrupt superblock: ${blocksPerGroup} blocks per group`);
    if (inodesPerGroup === 0 || inodesPerGroup > 8 * blockSize) throw fail(`corrupt superblock: ${inodesPerGroup} inodes per group`);
    if (inodeSize < 128 || inodeSize > blockSize || (inodeSize & (inodeSize - 1)) !== 0) throw fail(`corrupt superblock: inode size ${inodeSize}`);
    if (is64 && (descSize < GROUP_DESC_SIZE_64_MIN || descSize > blockSize || (descSize & (descSize - 1)) !== 0)) {
      throw fail(`corrupt superblock: group descriptor size ${descSize}`);
    }
    const groupCount = Math.ceil((blocksCount - firstDataBlock) / blocksPerGroup);
    if (inodesCount > groupCount * inodesPerGroup) throw fail(`corrupt superblock: ${inodesCount} inodes in ${groupCount} groups of ${inodesPerGroup}`);
    if (blocksCount * blockSize > src.size) {
      throw new PygrubError(
        'EDISK',
        `${src.name}: the file system is ${blocksCount * blockSize} bytes but only ${src.size} are there (truncated image?)`,
      );
    }
    return new ExtFs(
      src, blockSize, blocksCount, firstDataBlock, blocksPerGroup, inodesPerGroup, inodesCount,
      inodeSize, descSize, groupCount, incompat, sb.get('s_feature_ro_compat'), sb.get('s_first_meta_bg'),
    );
  }

  /**
   * The journal holds changes not yet written to their places (the guest did not shut down
   * cleanly). Like pygrub, we read the file system as it is; files changed just before the crash
   * (a kernel update's grub.cfg) may be older than the guest thinks.
   */
  get needsRecovery(): boolean {
    return (this.incompat & INCOMPAT.RECOVER) !== 0;
  }

  private where(ino?: number): string {
    return ino === undefined ? this.src.name : `${this.src.name}: inode ${ino}`;
  }

  readBlock(block: number): Promise<Uint8Array> {
    return this.src.read(block * this.blockSize, this.blockSize);
  }

  private groupHasSuper(group: number): boolean {
    if (!(this.roCompat & RO_COMPAT_SPARSE_SUPER) || group <= 1) return true;
    for (const p of [3, 5, 7]) {
      let n = p;
      while (n < group) n *= p;
      if (n === group) return true;
    }
    return false;
  }

  /** Byte offset of group `group`'s descriptor (contiguous table, or per meta group with META_BG). */
  private descOffset(group: number): number {
    const perBlock = this.blockSize / this.descSize;
    const descBlock = Math.floor(group / perBlock);
    let block: number;
    if (!(this.incompat & INCOMPAT.META_BG) || descBlock < this.firstMetaBg) {
      block = this.firstDataBlock + 1 + descBlock;
    } else {
      // META_BG: each meta group's descriptors sit in its first group, after any superblock copy.
      const metaFirstGroup = descBlock * perBlock;
      block = this.firstDataBlock + metaFirstGroup * this.blocksPerGroup + (this.groupHasSuper(metaFirstGroup) ? 1 : 0);
    }
    return block * this.blockSize + (group % perBlock) * this.descSize;
  }

  private async inodeTable(group: number): Promise<number> {
    const cached = this.groupDescCache.get(group);
    if (cached !== undefined) return cached;
    const size = Math.min(this.descSize, GROUP_DESC.size);
    const d = view(GROUP_DESC, padTo(await this.src.read(this.descOffset(group), size), GROUP_DESC.size));
    const hi = this.descSize >= GROUP_DESC_SIZE_64_MIN ? d.get('bg_inode_table_hi') : 0;
    const table = hiLo(hi, d.get('bg_inode_table_lo'));
    const tableBlocks = Math.ceil((this.inodesPerGroup * this.inodeSize) / this.blockSize);
    if (table === 0 || table + tableBlocks > this.blocksCount) {
      throw new PygrubError('EFS', `${this.src.name}: group ${group}'s inode table at block ${table} is outside the file system`);
    }
    this.groupDescCache.set(group, table);
    return table;
  }

  async inode(ino: number): Promise<Inode> {
    if (!Number.isInteger(ino) || ino < 1 || ino > this.inodesCount) {
      throw new PygrubError('EFS', `${this.src.name}: inode number ${ino} out of range (1..${this.inodesCount})`);
    }
    const group = Math.floor((ino - 1) / this.inodesPerGroup);
    if (group >= this.groupCount) throw new PygrubError('EFS', `${this.where(ino)}: in group ${group} of ${this.groupCount}`);
    const table = await this.inodeTable(group);
    const index = (ino - 1) % this.inodesPerGroup;
    const bytes = await this.src.read(table * this.blockSize + index * this.inodeSize, this.inodeSize);
    const v = view(INODE, bytes);
    const mode = v.get('i_mode');
    const type = typeOf(mode);
    // As Linux's ext4_isize: the high half counts for regular files, and for directories only
    // with LARGEDIR (in old ext2 it was i_dir_acl, which may hold anything).
    const large = type === 'file' || (type === 'dir' && (this.incompat & INCOMPAT.LARGEDIR) !== 0);
    const size = hiLo(large ? v.get('i_size_high') : 0, v.get('i_size_lo'));
    const iBlockAt = v.addr('i_block');
    const flags = v.get('i_flags');
    const inlineMore = flags & INODE_FLAG.INLINE_DATA ? this.inlineXattr(ino, bytes) : new Uint8Array(0);
    return { ino, mode, type, size, flags, iBlock: bytes.slice(iBlockAt, iBlockAt + I_BLOCK_BYTES), inlineMore };
  }

  /** The value of the in-inode "system.data" attribute (empty if there is none). */
  private inlineXattr(ino: number, inode: Uint8Array): Uint8Array {
    const none = new Uint8Array(0);
    if (inode.length <= INODE.size + INODE_EXTRA.size) return none;
    const extra = view(INODE_EXTRA, inode, INODE.size).get('i_extra_isize');
    const start = INODE.size + extra;
    if (extra % 4 !== 0 || start + XATTR_IBODY_HEADER.size > inode.length) return none;
    if (view(XATTR_IBODY_HEADER, inode, start).get('h_magic') !== XATTR_MAGIC) return none;
    const first = start + XATTR_IBODY_HEADER.size;
    for (let pos = first; pos + XATTR_ENTRY.size <= inode.length;) {
      const e = view(XATTR_ENTRY, inode, pos);
      // The list ends with a zero word where the next entry's first fields would be.
      if (e.get('e_name_len') === 0 && e.get('e_name_index') === 0 && e.get('e_value_offs') === 0) break;
      const nameLen = e.get('e_name_len');
      const nameAt = pos + XATTR_ENTRY.size;
      const name = Buffer.from(inode.subarray(nameAt, nameAt + nameLen)).toString('latin1');
      if (e.get('e_name_index') === XATTR_INDEX_SYSTEM && name === INLINE_DATA_XATTR) {
        const at = first + e.get('e_value_offs');
        const size = e.get('e_value_size');
        if (e.get('e_value_inum') !== 0 || at + size > inode.length) {
          throw new PygrubError('EFS', `${this.where(ino)}: system.data attribute out of the inode`);
        }
        return inode.slice(at, at + size);
      }
      pos = nameAt + Math.ceil(nameLen / 4) * 4;
    }
    return none;
  }

  /**
   * Counts directory data (and the mapping blocks behind it) read so far. A hostile file system
   * can make every step of a long path scan a directory of MAX_DIR_SIZE whose blocks are all
   * the same few blocks; this total is what keeps that to a second or so.
   */
  private chargeDirectoryRead(bytes: number, ino: number): void {
    this.dirBytesLeft -= bytes;
    if (this.dirBytesLeft < 0) {
      throw new PygrubError('EFS', `${this.where(ino)}: directory lookups have read more than ${MAX_DIR_BYTES_TOTAL} bytes (a hostile file system?)`);
    }
  }

  private device(ino: number, directory: boolean): BlockDevice {
    return {
      blockSize: this.blockSize,
      blocksCount: this.blocksCount,
      where: this.where(ino),
      readBlock: (b) => {
        if (directory) this.chargeDirectoryRead(this.blockSize, ino);
        return this.readBlock(b);
      },
    };
  }

  /** The runs of blocks holding an inode's data (not for inline data). */
  private runs(inode: Inode): Promise<Run[]> {
    const fileBlocks = Math.ceil(inode.size / this.blockSize);
    const dev = this.device(inode.ino, inode.type === 'dir');
    return inode.flags & INODE_FLAG.EXTENTS
      ? extentRuns(dev, inode.iBlock, fileBlocks)
      : blockMapRuns(dev, inode.iBlock, fileBlocks);
  }

  private checkReadable(inode: Inode, cap: number, what: string): void {
    if (inode.size > cap) {
      throw new PygrubError('ETOOBIG', `${this.where(inode.ino)}: ${what} is ${inode.size} bytes, more than the ${cap}-byte limit`);
    }
    if (inode.flags & INODE_FLAG.ENCRYPT) throw new PygrubError('EUNSUPPORTED', `${this.where(inode.ino)}: ${what} is encrypted`);
  }

  /** The contents of an inode, refused if larger than `cap` bytes. */
  async readInode(inode: Inode, cap: number, what: string): Promise<Buffer> {
    this.checkReadable(inode, cap, what);
    if (inode.flags & INODE_FLAG.INLINE_DATA) {
      const data = Buffer.concat([inode.iBlock, inode.inlineMore]);
      if (inode.size > data.length) {
        throw new PygrubError('EFS', `${this.where(inode.ino)}: ${what} has ${inode.size} bytes of inline data but holds ${data.length}`);
      }
      return data.subarray(0, inode.size);
    }
    const out = Buffer.alloc(inode.size);
    await this.copyRuns(await this.runs(inode), out);
    return out;
  }

  /**
   * Fills `out` from the runs, reading each stretch of the disk once and in large pieces: runs
   * sorted by where they are on disk, merged across small gaps (an ext2 file's indirect blocks sit
   * between its data blocks) into spans of at most SPAN_BYTES. A hostile block map that names
   * the same block 100000 times then costs one read, not 100000.
   */
  private async copyRuns(runs: readonly Run[], out: Buffer): Promise<void> {
    const bs = this.blockSize;
    const maxSpan = Math.max(1, Math.floor(SPAN_BYTES / bs));
    // Cut runs longer than a span, so that every piece fits in one read.
    const pieces: Run[] = [];
    for (const r of runs) {
      for (let d = 0; d < r.count; d += maxSpan) {
        pieces.push({ logical: r.logical + d, physical: r.physical + d, count: Math.min(maxSpan, r.count - d) });
      }
    }
    pieces.sort((a, b) => a.physical - b.physical);
    for (let i = 0; i < pieces.length;) {
      const start = pieces[i].physical;
      let end = start + pieces[i].count;
      let j = i + 1;
      for (; j < pieces.length; j++) {
        const p = pieces[j];
        const newEnd = Math.max(end, p.physical + p.count);
        if (p.physical > end + SPAN_GAP_BLOCKS || newEnd - start > maxSpan) break;
        end = newEnd;
      }
      const data = await this.src.read(start * bs, (end - start) * bs);
      for (let k = i; k < j; k++) {
        const p = pieces[k];
        const at = p.logical * bs;
        const length = Math.min(p.count * bs, out.length - at);
        const from = (p.physical - start) * bs;
        if (length > 0) out.set(data.subarray(from, from + length), at);
      }
      i = j;
    }
  }

  /**
   * Looks `name` up in directory `dir`; null if absent. A linear scan of the blocks the
   * directory really has (htree index blocks read as empty entries), a few at a time, so a
   * directory claiming a huge size costs nothing until it has the blocks to match.
   */
  async lookup(dir: Inode, name: string): Promise<number | null> {
    if (dir.type !== 'dir') throw new PygrubError('EFS', `${this.where(dir.ino)}: not a directory`);
    this.checkReadable(dir, MAX_DIR_SIZE, 'directory');
    const want = Buffer.from(name, 'utf8');
    if (dir.flags & INODE_FLAG.INLINE_DATA) {
      // No "." or ".." entries: the parent is i_block's first word.
      if (name === '..') return view(INLINE_DIR, dir.iBlock).get('i_parent');
      return this.scanDirBlock(dir, dir.iBlock.subarray(INLINE_DIR.size), want) ??
        (dir.inlineMore.length > 0 ? this.scanDirBlock(dir, dir.inlineMore, want) : null);
    }
    const perRead = Math.max(1, Math.floor(DIR_READ_BYTES / this.blockSize));
    for (const run of await this.runs(dir)) {
      for (let done = 0; done < run.count; done += perRead) {
        const count = Math.min(perRead, run.count - done);
        this.chargeDirectoryRead(count * this.blockSize, dir.ino);
        const data = await this.readDirBlocks(run.physical + done, count);
        for (let b = 0; b < count; b++) {
          const found = this.scanDirBlock(dir, data.subarray(b * this.blockSize, (b + 1) * this.blockSize), want);
          if (found !== null) return found;
        }
      }
    }
    return null;
  }

  /**
   * Directory blocks, single ones through a small cache: the few directories on a boot path are
   * read again for every config file pygrub looks for.
   */
  private async readDirBlocks(first: number, count: number): Promise<Uint8Array> {
    if (count !== 1) return this.src.read(first * this.blockSize, count * this.blockSize);
    const hit = this.dirBlockCache.get(first);
    if (hit) return hit;
    const data = await this.readBlock(first);
    if (this.dirBlockCache.size >= DIR_CACHE_BLOCKS) {
      const oldest = this.dirBlockCache.keys().next();
      if (!oldest.done) this.dirBlockCache.delete(oldest.value);
    }
    this.dirBlockCache.set(first, data);
    return data;
  }

  private scanDirBlock(dir: Inode, block: Uint8Array, want: Buffer): number | null {
    const bs = block.length;
    let pos = 0;
    while (pos + DIR_ENTRY.size <= bs) {
      const e = view(DIR_ENTRY, block, pos);
      let recLen = e.get('rec_len');
      // With 64 KiB blocks a whole-block entry's rec_len (65536) is stored as 0 or 65535.
      if (bs === 65536 && (recLen === 0 || recLen === 65535) && pos === 0) recLen = bs;
      const nameLen = e.get('name_len');
      if (recLen < DIR_ENTRY.size || recLen % 4 !== 0 || pos + recLen > bs || DIR_ENTRY.size + nameLen > recLen) {
        throw new PygrubError(
          'EFS',
          `${this.where(dir.ino)}: corrupt directory entry at byte ${pos} of a block (rec_len ${recLen}, name_len ${nameLen})`,
        );
      }
      const ino = e.get('inode');
      if (ino !== 0 && nameLen === want.length) {
        const at = pos + DIR_ENTRY.size;
        if (want.equals(block.subarray(at, at + nameLen))) return ino;
      }
      pos += recLen;
    }
    return null;
  }

  /**
   * Resolves an absolute path from the file system's root, following symbolic links in every
   * component (absolute targets from this root, relative ones from the link's directory) and
   * in the last one too unless `followLast` is false. Null if something is missing.
   */
  async resolve(path: string, followLast = true): Promise<Inode | null> {
    const root = await this.inode(ROOT_INODE);
    if (root.type !== 'dir') throw new PygrubError('EFS', `${this.src.name}: the root inode is not a directory`);
    const pending = splitPath(path);
    let dir = root;
    let cur = root;
    let links = 0;
    let steps = 0;
    while (pending.length > 0) {
      if (++steps > MAX_PATH_COMPONENTS) throw new PygrubError('EFS', `${this.src.name}: ${shown(path)}: path too long`);
      const name = pending.shift() as string;
      if (dir.type !== 'dir') return null;
      const ino = await this.lookup(dir, name);
      if (ino === null) return null;
      const next = await this.inode(ino);
      if (next.type === 'symlink' && (pending.length > 0 || followLast)) {
        if (++links > MAX_SYMLINKS) {
          throw new PygrubError('EFS', `${this.src.name}: ${shown(path)}: too many levels of symbolic links (a loop?)`);
        }
        const target = await this.readLink(next);
        pending.unshift(...splitPath(target));
        if (target.startsWith('/')) dir = root;
        cur = dir;
        continue;
      }
      cur = next;
      dir = next;
    }
    return cur;
  }

  async readLink(inode: Inode): Promise<string> {
    if (inode.size === 0 || inode.size > MAX_SYMLINK_SIZE) {
      throw new PygrubError('EFS', `${this.where(inode.ino)}: symbolic link of ${inode.size} bytes`);
    }
    // A fast symlink keeps its target in i_block itself.
    const fast = inode.size < I_BLOCK_BYTES && !(inode.flags & (INODE_FLAG.EXTENTS | INODE_FLAG.INLINE_DATA));
    const bytes = fast ? Buffer.from(inode.iBlock.subarray(0, inode.size)) : await this.readInode(inode, MAX_SYMLINK_SIZE, 'symbolic link');
    return bytes.toString('utf8');
  }

  /** A regular file's contents by path, or null if the path does not exist. */
  async readFile(path: string, cap: number): Promise<Buffer | null> {
    const inode = await this.resolve(path);
    if (inode === null) return null;
    if (inode.type !== 'file') {
      throw new PygrubError('EFS', `${this.src.name}: ${shown(path)} is not a regular file (${inode.type})`);
    }
    return this.readInode(inode, cap, shown(path));
  }

  async exists(path: string): Promise<boolean> {
    return (await this.resolve(path)) !== null;
  }
}

function splitPath(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

function padTo(bytes: Uint8Array, size: number): Uint8Array {
  if (bytes.length >= size) return bytes;
  const out = new Uint8Array(size);
  out.set(bytes);
  return out;
}
