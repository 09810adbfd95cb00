// Where the file systems on a disk start, in the order pygrub tries them.
//
// Follows get_partition_offsets() in Xen's tools/pygrub/src/pygrub (4.4.4 and newer):
// - no 0xAA55 signature in sector 0: the whole disk is one file system at offset 0;
// - otherwise the four primary MBR entries in order, skipping empty ones (start 0); an active
//   (0x80) entry goes to the front of the list, the others to the back; Solaris entries are
//   skipped (see PART_TYPE); a protective 0xEE entry means GPT: its partitions, in table order,
//   and no further MBR entries;
// - a signature but no usable entry (a boot sector that is not a partition table): offset 0.
// Beyond pygrub: logical partitions of an extended partition are followed (pygrub would only try
// the extended container itself, which holds no file system) and come after the primaries; the
// GPT header and entry array are checked against their CRC32s, falling back to the backup
// header, where pygrub read the entries blindly from LBA 2.

import { crc32 } from 'node:zlib';
import { PygrubError } from './errors.js';
import { type ByteSource } from './source.js';
import {
  GPT_ENTRY,
  GPT_HEADER,
  GPT_HEADER_SIZE,
  GPT_SIGNATURE,
  MBR_ACTIVE,
  MBR_ENTRIES_AT,
  MBR_ENTRY,
  MBR_ENTRY_COUNT,
  MBR_SIGNATURE,
  MBR_SIGNATURE_AT,
  PART_TYPE,
  SECTOR,
} from './partition-layout.js';
import { view } from './ext-layout.js';

export interface Partition {
  /** "whole disk", "partition 2" (MBR numbering as Linux: logicals from 5), "GPT partition 1". */
  readonly label: string;
  readonly offset: number;
  readonly size: number;
}

// A chain of extended boot records longer than this is a loop or hostile (Linux stops at 256
// partitions in all).
const MAX_LOGICAL = 128;
// The UEFI minimum array is 128 entries of 128 bytes; refuse arrays absurdly bigger.
const MAX_GPT_ARRAY = 1 << 20;

function isExtended(type: number): boolean {
  return type === PART_TYPE.EXTENDED_CHS || type === PART_TYPE.EXTENDED_LBA || type === PART_TYPE.EXTENDED_LINUX;
}

export async function findPartitions(disk: ByteSource): Promise<Partition[]> {
  const whole: Partition = { label: 'whole disk', offset: 0, size: disk.size };
  if (disk.size < SECTOR) return [whole];
  const mbr = await disk.read(0, SECTOR);
  const dv = new DataView(mbr.buffer, mbr.byteOffset, mbr.byteLength);
  if (dv.getUint16(MBR_SIGNATURE_AT, true) !== MBR_SIGNATURE) return [whole];

  const front: Partition[] = [];
  const back: Partition[] = [];
  const extended: Array<{ lba: number; sectors: number }> = [];
  for (let i = 0; i < MBR_ENTRY_COUNT; i++) {
    const e = view(MBR_ENTRY, mbr, MBR_ENTRIES_AT + i * MBR_ENTRY.size);
    const lba = e.get('lba_first');
    const type = e.get('type');
    if (lba === 0) continue; // pygrub: "offset == 0 implies this partition is not enabled"
    if (type === PART_TYPE.SOLARIS || type === PART_TYPE.SOLARIS_OLD) continue;
    if (type === PART_TYPE.GPT_PROTECTIVE) return [...front, ...back, ...(await gptPartitions(disk))];
    if (isExtended(type)) {
      extended.push({ lba, sectors: e.get('sectors') });
      continue;
    }
    const part = { label: `partition ${i + 1}`, offset: lba * SECTOR, size: e.get('sectors') * SECTOR };
    if (e.get('status') === MBR_ACTIVE) front.unshift(part);
    else back.push(part);
  }
  const logical: Partition[] = [];
  for (const ext of extended) logical.push(...(await logicalPartitions(disk, ext.lba, logical.length)));
  const all = [...front, ...back, ...logical];
  return all.length > 0 ? all : [whole];
}

/** Walks the chain of extended boot records; each holds one logical partition and a link. */
async function logicalPartitions(disk: ByteSource, extStart: number, numbered: number): Promise<Partition[]> {
  const out: Partition[] = [];
  const seen = new Set<number>();
  let ebr = extStart;
  while (true) {
    if (seen.has(ebr) || seen.size >= MAX_LOGICAL) {
      throw new PygrubError('EPART', `${disk.name}: extended partition chain loops or is longer than ${MAX_LOGICAL} (EBR at sector ${ebr})`);
    }
    seen.add(ebr);
    const sec = await disk.read(ebr * SECTOR, SECTOR);
    const dv = new DataView(sec.buffer, sec.byteOffset, sec.byteLength);
    if (dv.getUint16(MBR_SIGNATURE_AT, true) !== MBR_SIGNATURE) break;
    const data = view(MBR_ENTRY, sec, MBR_ENTRIES_AT);
    const link = view(MBR_ENTRY, sec, MBR_ENTRIES_AT + MBR_ENTRY.size);
    // The data entry is relative to this EBR, the link relative to the extended partition.
    if (data.get('lba_first') !== 0 && data.get('type') !== PART_TYPE.EMPTY) {
      out.push({
        label: `partition ${5 + numbered + out.length}`,
        offset: (ebr + data.get('lba_first')) * SECTOR,
        size: data.get('sectors') * SECTOR,
      });
    }
    if (link.get('lba_first') === 0 || !isExtended(link.get('type'))) break;
    ebr = extStart + link.get('lba_first');
  }
  return out;
}

function gptError(disk: ByteSource, msg: string): PygrubError {
  return new PygrubError('EPART', `${disk.name}: GPT: ${msg}`);
}

async function readGptHeader(disk: ByteSource, lba: number): Promise<{ entriesLba: number; count: number; size: number; crc: number } | string> {
  if ((lba + 1) * SECTOR > disk.size) return `header LBA ${lba} is past the end of the disk`;
  const sec = await disk.read(lba * SECTOR, SECTOR);
  const h = view(GPT_HEADER, sec);
  const sigAt = h.addr('signature');
  const sig = Buffer.from(sec.subarray(sigAt, sigAt + GPT_SIGNATURE.length)).toString('latin1');
  if (sig !== GPT_SIGNATURE) return `no "EFI PART" signature at LBA ${lba}`;
  const headerSize = h.get('header_size');
  if (headerSize < GPT_HEADER_SIZE || headerSize > SECTOR) return `header at LBA ${lba} has size ${headerSize}`;
  const copy = Buffer.from(sec.subarray(0, headerSize));
  copy.writeUInt32LE(0, h.addr('header_crc32'));
  if (crc32(copy) !== h.get('header_crc32')) return `header at LBA ${lba} fails its CRC32 check`;
  const count = h.get('entry_count');
  const size = h.get('entry_size');
  if (size < GPT_ENTRY.size || size % GPT_ENTRY.size !== 0 || count * size > MAX_GPT_ARRAY) {
    return `header at LBA ${lba} describes ${count} entries of ${size} bytes`;
  }
  return { entriesLba: h.get('entries_lba'), count, size, crc: h.get('entries_crc32') };
}

async function gptPartitions(disk: ByteSource): Promise<Partition[]> {
  const lastLba = Math.floor(disk.size / SECTOR) - 1;
  const problems: string[] = [];
  for (const lba of [1, lastLba]) {
    const hdr = await readGptHeader(disk, lba);
    if (typeof hdr === 'string') {
      problems.push(hdr);
      continue;
    }
    const bytes = hdr.count * hdr.size;
    if (hdr.entriesLba * SECTOR + bytes > disk.size) {
      problems.push(`entry array of the header at LBA ${lba} is past the end of the disk`);
      continue;
    }
    const array = await disk.read(hdr.entriesLba * SECTOR, bytes);
    if (crc32(array) !== hdr.crc) {
      problems.push(`entry array of the header at LBA ${lba} fails its CRC32 check`);
      continue;
    }
    const parts: Partition[] = [];
    for (let i = 0; i < hdr.count; i++) {
      const base = i * hdr.size;
      const e = view(GPT_ENTRY, array, base);
      const type = e.addr('type_guid');
      if (array.subarray(type, type + GPT_ENTRY.fields.type_guid.count).every((b) => b === 0)) continue; // unused entry
      const first = e.get('first_lba');
      const last = e.get('last_lba');
      if (first === 0 || last < first) continue;
      parts.push({ label: `GPT partition ${i + 1}`, offset: first * SECTOR, size: (last - first + 1) * SECTOR });
    }
    return parts;
  }
  throw gptError(disk, problems.join('; '));
}
