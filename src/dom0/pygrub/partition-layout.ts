// MBR and GPT structures, described once (UEFI spec 2.10, 5.2 and 5.3; the classic PC MBR).

import { off, struct } from '../../hypervisor/abi/layout.js';

export const SECTOR = 512;

/** One of the four 16-byte MBR (or EBR) partition entries. */
export const MBR_ENTRY = struct('mbr_partition', [
  ['status', 'u8'], // 0x80: active ("bootable")
  ['chs_first', 'u8', 3],
  ['type', 'u8'],
  ['chs_last', 'u8', 3],
  ['lba_first', 'u32'],
  ['sectors', 'u32'],
]);
export const MBR_ENTRIES_AT = 446;
export const MBR_ENTRY_COUNT = 4;
export const MBR_SIGNATURE_AT = 510;
export const MBR_SIGNATURE = 0xaa55;
export const MBR_ACTIVE = 0x80;

export const PART_TYPE = {
  EMPTY: 0x00,
  EXTENDED_CHS: 0x05,
  EXTENDED_LBA: 0x0f,
  EXTENDED_LINUX: 0x85,
  GPT_PROTECTIVE: 0xee,
  // pygrub looks for a Solaris VTOC in these two and skips the partition when there is none; we
  // read no Solaris file systems, so both are skipped (0x82 is also Linux swap).
  SOLARIS: 0xbf,
  SOLARIS_OLD: 0x82,
} as const;

/** GPT header (LBA 1, and its backup in the last LBA). */
export const GPT_HEADER = struct('gpt_header', [
  ['signature', 'u8', 8], // "EFI PART"
  ['revision', 'u32'],
  ['header_size', 'u32'],
  ['header_crc32', 'u32'],
  ['reserved', 'u32'],
  ['my_lba', 'u64'],
  ['alternate_lba', 'u64'],
  ['first_usable_lba', 'u64'],
  ['last_usable_lba', 'u64'],
  ['disk_guid', 'u8', 16],
  ['entries_lba', 'u64'],
  ['entry_count', 'u32'],
  ['entry_size', 'u32'],
  ['entries_crc32', 'u32'],
]);
export const GPT_SIGNATURE = 'EFI PART';
/** The header's defined size (92): the struct above rounds up to 96 for its u64 alignment. */
export const GPT_HEADER_SIZE = off(GPT_HEADER, 'entries_crc32') + 4;

/** A GPT partition entry (entry_size bytes, at least this). */
export const GPT_ENTRY = struct('gpt_entry', [
  ['type_guid', 'u8', 16],
  ['unique_guid', 'u8', 16],
  ['first_lba', 'u64'],
  ['last_lba', 'u64'],
  ['attributes', 'u64'],
  ['name', 'u16', 36],
]);
