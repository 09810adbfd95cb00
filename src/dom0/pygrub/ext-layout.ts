// On-disk structures of ext2/3/4, described once (Linux fs/ext4/ext4.h, ext4_extents.h; the
// kernel.org "ext4 Data Structures and Algorithms" document). Every field offset the reader
// uses comes from these tables; the C structures have no implicit padding, so laying the fields
// out in order with natural alignment reproduces them (test/dom0/pygrub/ext.test.ts pins a few
// offsets against the documented ones).

import { struct, View, type Layout } from '../../hypervisor/abi/layout.js';

/** The superblock (1024 bytes at byte 1024 of the file system); fields up to s_blocks_count_hi. */
export const SUPERBLOCK = struct('ext4_super_block', [
  ['s_inodes_count', 'u32'],
  ['s_blocks_count_lo', 'u32'],
  ['s_r_blocks_count_lo', 'u32'],
  ['s_free_blocks_count_lo', 'u32'],
  ['s_free_inodes_count', 'u32'],
  ['s_first_data_block', 'u32'],
  ['s_log_block_size', 'u32'],
  ['s_log_cluster_size', 'u32'],
  ['s_blocks_per_group', 'u32'],
  ['s_clusters_per_group', 'u32'],
  ['s_inodes_per_group', 'u32'],
  ['s_mtime', 'u32'],
  ['s_wtime', 'u32'],
  ['s_mnt_count', 'u16'],
  ['s_max_mnt_count', 'i16'],
  ['s_magic', 'u16'],
  ['s_state', 'u16'],
  ['s_errors', 'u16'],
  ['s_minor_rev_level', 'u16'],
  ['s_lastcheck', 'u32'],
  ['s_checkinterval', 'u32'],
  ['s_creator_os', 'u32'],
  ['s_rev_level', 'u32'],
  ['s_def_resuid', 'u16'],
  ['s_def_resgid', 'u16'],
  ['s_first_ino', 'u32'],
  ['s_inode_size', 'u16'],
  ['s_block_group_nr', 'u16'],
  ['s_feature_compat', 'u32'],
  ['s_feature_incompat', 'u32'],
  ['s_feature_ro_compat', 'u32'],
  ['s_uuid', 'u8', 16],
  ['s_volume_name', 'u8', 16],
  ['s_last_mounted', 'u8', 64],
  ['s_algorithm_usage_bitmap', 'u32'],
  ['s_prealloc_blocks', 'u8'],
  ['s_prealloc_dir_blocks', 'u8'],
  ['s_reserved_gdt_blocks', 'u16'],
  ['s_journal_uuid', 'u8', 16],
  ['s_journal_inum', 'u32'],
  ['s_journal_dev', 'u32'],
  ['s_last_orphan', 'u32'],
  ['s_hash_seed', 'u32', 4],
  ['s_def_hash_version', 'u8'],
  ['s_jnl_backup_type', 'u8'],
  ['s_desc_size', 'u16'],
  ['s_default_mount_opts', 'u32'],
  ['s_first_meta_bg', 'u32'],
  ['s_mkfs_time', 'u32'],
  ['s_jnl_blocks', 'u32', 17],
  ['s_blocks_count_hi', 'u32'],
]);
export const SUPERBLOCK_OFFSET = 1024;
export const SUPERBLOCK_SIZE = 1024;
export const EXT_MAGIC = 0xef53;

/** Block group descriptor: 32 bytes, or s_desc_size (>= 64) with INCOMPAT_64BIT. */
export const GROUP_DESC = struct('ext4_group_desc', [
  ['bg_block_bitmap_lo', 'u32'],
  ['bg_inode_bitmap_lo', 'u32'],
  ['bg_inode_table_lo', 'u32'],
  ['bg_free_blocks_count_lo', 'u16'],
  ['bg_free_inodes_count_lo', 'u16'],
  ['bg_used_dirs_count_lo', 'u16'],
  ['bg_flags', 'u16'],
  ['bg_exclude_bitmap_lo', 'u32'],
  ['bg_block_bitmap_csum_lo', 'u16'],
  ['bg_inode_bitmap_csum_lo', 'u16'],
  ['bg_itable_unused_lo', 'u16'],
  ['bg_checksum', 'u16'],
  // Only present when the descriptor is 64 bytes or more.
  ['bg_block_bitmap_hi', 'u32'],
  ['bg_inode_bitmap_hi', 'u32'],
  ['bg_inode_table_hi', 'u32'],
]);
export const GROUP_DESC_SIZE_32 = 32;
export const GROUP_DESC_SIZE_64_MIN = 64;

/** The first 128 bytes of an inode (all the reader needs, whatever s_inode_size is). */
export const INODE = struct('ext4_inode', [
  ['i_mode', 'u16'],
  ['i_uid', 'u16'],
  ['i_size_lo', 'u32'],
  ['i_atime', 'u32'],
  ['i_ctime', 'u32'],
  ['i_mtime', 'u32'],
  ['i_dtime', 'u32'],
  ['i_gid', 'u16'],
  ['i_links_count', 'u16'],
  ['i_blocks_lo', 'u32'],
  ['i_flags', 'u32'],
  ['i_osd1', 'u32'],
  ['i_block', 'u32', 15],
  ['i_generation', 'u32'],
  ['i_file_acl_lo', 'u32'],
  ['i_size_high', 'u32'],
  ['i_obso_faddr', 'u32'],
  ['i_osd2', 'u8', 12],
]);
/** Right after the 128-byte inode, in inodes bigger than that: how much more it uses. */
export const INODE_EXTRA = struct('ext4_inode_extra', [
  ['i_extra_isize', 'u16'],
  ['i_checksum_hi', 'u16'],
]);

/**
 * In-inode extended attributes (after the extra fields): a magic word, then entries each
 * followed by its name padded to 4 bytes, ended by a zero word; values are addressed from the
 * first entry. Inline data keeps what does not fit in i_block in "system.data".
 */
export const XATTR_IBODY_HEADER = struct('ext4_xattr_ibody_header', [['h_magic', 'u32']]);
export const XATTR_ENTRY = struct('ext4_xattr_entry', [
  ['e_name_len', 'u8'],
  ['e_name_index', 'u8'],
  ['e_value_offs', 'u16'],
  ['e_value_inum', 'u32'],
  ['e_value_size', 'u32'],
  ['e_hash', 'u32'],
]);
export const XATTR_MAGIC = 0xea020000;
export const XATTR_INDEX_SYSTEM = 7;
export const INLINE_DATA_XATTR = 'data';

/** i_block: 15 words = 60 bytes (block map, extent root, fast symlink target or inline data). */
export const I_BLOCK_BYTES = 60;
/** Block-map pointers (i_block's first 15 words, and every indirect block) are u32 arrays. */
export const BLOCK_POINTER_BYTES = 4;

/** An inline-data directory's i_block: its parent's inode number, then directory entries. */
export const INLINE_DIR = struct('ext4_inline_dir_header', [['i_parent', 'u32']]);
export const N_DIRECT = 12;
export const IND_BLOCK = 12;
export const DIND_BLOCK = 13;
export const TIND_BLOCK = 14;

/** Extent tree node header, then eh_max 12-byte entries (struct ext4_extent_header). */
export const EXTENT_HEADER = struct('ext4_extent_header', [
  ['eh_magic', 'u16'],
  ['eh_entries', 'u16'],
  ['eh_max', 'u16'],
  ['eh_depth', 'u16'],
  ['eh_generation', 'u32'],
]);
export const EXTENT_MAGIC = 0xf30a;
/** Linux refuses trees deeper than this (EXT4_MAX_EXTENT_DEPTH). */
export const EXTENT_MAX_DEPTH = 5;

/** Leaf entry (struct ext4_extent). */
export const EXTENT = struct('ext4_extent', [
  ['ee_block', 'u32'],
  ['ee_len', 'u16'],
  ['ee_start_hi', 'u16'],
  ['ee_start_lo', 'u32'],
]);
/** ee_len above this marks an unwritten (preallocated) extent of ee_len - this blocks: zeros. */
export const EXTENT_INIT_MAX_LEN = 32768;

/** Interior entry (struct ext4_extent_idx). */
export const EXTENT_INDEX = struct('ext4_extent_idx', [
  ['ei_block', 'u32'],
  ['ei_leaf_lo', 'u32'],
  ['ei_leaf_hi', 'u16'],
  ['ei_unused', 'u16'],
]);

/** Directory entry header (struct ext4_dir_entry_2); the name follows. */
export const DIR_ENTRY = struct('ext4_dir_entry_2', [
  ['inode', 'u32'],
  ['rec_len', 'u16'],
  ['name_len', 'u8'],
  ['file_type', 'u8'],
]);

// s_feature_incompat bits.
export const INCOMPAT = {
  COMPRESSION: 0x1,
  FILETYPE: 0x2,
  RECOVER: 0x4,
  JOURNAL_DEV: 0x8,
  META_BG: 0x10,
  EXTENTS: 0x40,
  BIT64: 0x80,
  MMP: 0x100,
  FLEX_BG: 0x200,
  EA_INODE: 0x400,
  DIRDATA: 0x1000,
  CSUM_SEED: 0x2000,
  LARGEDIR: 0x4000,
  INLINE_DATA: 0x8000,
  ENCRYPT: 0x10000,
  CASEFOLD: 0x20000,
} as const;
// s_feature_ro_compat bits we look at.
export const RO_COMPAT_SPARSE_SUPER = 0x1;

// i_flags bits.
export const INODE_FLAG = {
  INDEX: 0x1000, // htree directory: still readable linearly
  EXTENTS: 0x80000,
  INLINE_DATA: 0x10000000,
  ENCRYPT: 0x800,
} as const;

// i_mode file types.
export const S_IFMT = 0xf000;
export const S_IFDIR = 0x4000;
export const S_IFREG = 0x8000;
export const S_IFLNK = 0xa000;

export const ROOT_INODE = 2;

/** A typed view of one structure at `base` in `bytes`. */
export function view<N extends string>(layout: Layout<N>, bytes: Uint8Array, base = 0): View<N> {
  return new View(layout, bytes, base);
}

/** A 64-bit value stored as lo/hi 32-bit halves (exact below 2^53, which caps every use). */
export function hiLo(hi: number, lo: number): number {
  return hi * 0x1_0000_0000 + lo;
}
