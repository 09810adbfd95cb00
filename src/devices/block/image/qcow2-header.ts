// The qcow2 file header and header extensions, as laid out in QEMU's docs/interop/qcow2.txt.

import { DiskImageError } from './types.js';

export const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"
export const V2_HEADER_LENGTH = 72;
export const V3_MIN_HEADER_LENGTH = 104;

// Header field offsets this implementation rewrites in place (never the whole header, so fields
// and extensions we do not understand survive).
export const HDR_REFCOUNT_TABLE_OFFSET = 48; // u64, followed by refcount_table_clusters (u32)
export const HDR_INCOMPATIBLE_FEATURES = 72;
export const HDR_AUTOCLEAR_FEATURES = 88;

export const INCOMPAT_DIRTY = 0;
export const INCOMPAT_CORRUPT = 1;
export const INCOMPAT_DATA_FILE = 2;
export const INCOMPAT_COMPRESSION = 3;
export const INCOMPAT_EXTL2 = 4;

const INCOMPAT_NAMES: Record<number, string> = {
  [INCOMPAT_DIRTY]: 'dirty',
  [INCOMPAT_CORRUPT]: 'corrupt',
  [INCOMPAT_DATA_FILE]: 'external data file',
  [INCOMPAT_COMPRESSION]: 'compression type',
  [INCOMPAT_EXTL2]: 'extended L2 entries',
};

const EXT_END = 0x00000000;
const EXT_BACKING_FORMAT = 0xe2792aca;
const EXT_FEATURE_TABLE = 0x6803f857;
const EXT_BITMAPS = 0x23852875;
const EXT_CRYPTO = 0x0537be77;
const EXT_DATA_FILE = 0x44415441;

/** QEMU refuses L1 tables over 32 MiB and refcount tables over 8 MiB (docs/interop/qcow2.txt). */
const MAX_L1_BYTES = 32 * 1024 * 1024;
const MAX_REFTABLE_BYTES = 8 * 1024 * 1024;

export interface Qcow2Header {
  version: 2 | 3;
  backingFileOffset: number;
  backingFileSize: number;
  clusterBits: number;
  size: number;
  cryptMethod: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  nbSnapshots: number;
  snapshotsOffset: number;
  incompatibleFeatures: bigint;
  compatibleFeatures: bigint;
  autoclearFeatures: bigint;
  refcountOrder: number;
  headerLength: number;
  backingFile: string | null;
  backingFormat: string | null;
  hasBitmaps: boolean;
  /** Names from the feature name table extension, keyed "type:bit" (type 0 = incompatible). */
  featureNames: Map<string, string>;
}

function u64(view: DataView, off: number, path: string, field: string): number {
  const v = view.getBigUint64(off);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new DiskImageError('ECORRUPT', `qcow2 ${path}: header field ${field} (${v}) is implausibly large`);
  }
  return Number(v);
}

/** Human name of incompatible feature bit `bit`, for error messages. */
export function incompatibleFeatureName(h: Pick<Qcow2Header, 'featureNames'>, bit: number): string {
  return INCOMPAT_NAMES[bit] ?? h.featureNames.get(`0:${bit}`) ?? 'unknown';
}

/**
 * Parses and validates the header found in `first` (the file's first cluster, zero-padded past
 * the end of the file). `fileSize` is the real file length.
 */
export function parseQcow2Header(first: Uint8Array, fileSize: number, path: string): Qcow2Header {
  const view = new DataView(first.buffer, first.byteOffset, first.byteLength);
  if (fileSize < 4 || view.getUint32(0) !== QCOW2_MAGIC) {
    throw new DiskImageError('EFORMAT', `${path} is not a qcow2 image (no QFI\\xfb magic)`);
  }
  const version = view.getUint32(4);
  if (version === 1) {
    throw new DiskImageError('EUNSUPPORTED', `${path}: qcow version 1 (the original QCOW format) is not supported; only qcow2 versions 2 and 3`);
  }
  if (version !== 2 && version !== 3) {
    throw new DiskImageError('EUNSUPPORTED', `${path}: qcow2 version ${version} is not supported; only versions 2 and 3`);
  }
  if (fileSize < V2_HEADER_LENGTH) {
    throw new DiskImageError('ECORRUPT', `qcow2 ${path}: file is ${fileSize} bytes, too short for a header`);
  }
  const clusterBits = view.getUint32(20);
  if (clusterBits < 9) {
    throw new DiskImageError('ECORRUPT', `qcow2 ${path}: cluster_bits ${clusterBits} is below the minimum of 9`);
  }
  if (clusterBits > 21) {
    throw new DiskImageError('EUNSUPPORTED', `qcow2 ${path}: cluster_bits ${clusterBits} (cluster size over 2 MiB) is not supported`);
  }
  const clusterSize = 2 ** clusterBits;

  const h: Qcow2Header = {
    version,
    backingFileOffset: u64(view, 8, path, 'backing_file_offset'),
    backingFileSize: view.getUint32(16),
    clusterBits,
    size: u64(view, 24, path, 'size'),
    cryptMethod: view.getUint32(32),
    l1Size: view.getUint32(36),
    l1TableOffset: u64(view, 40, path, 'l1_table_offset'),
    refcountTableOffset: u64(view, 48, path, 'refcount_table_offset'),
    refcountTableClusters: view.getUint32(56),
    nbSnapshots: view.getUint32(60),
    snapshotsOffset: u64(view, 64, path, 'snapshots_offset'),
    incompatibleFeatures: 0n,
    compatibleFeatures: 0n,
    autoclearFeatures: 0n,
    refcountOrder: 4,
    headerLength: V2_HEADER_LENGTH,
    backingFile: null,
    backingFormat: null,
    hasBitmaps: false,
    featureNames: new Map(),
  };

  if (version === 3) {
    if (fileSize < V3_MIN_HEADER_LENGTH) {
      throw new DiskImageError('ECORRUPT', `qcow2 ${path}: file is ${fileSize} bytes, too short for a version 3 header`);
    }
    h.incompatibleFeatures = view.getBigUint64(72);
    h.compatibleFeatures = view.getBigUint64(80);
    h.autoclearFeatures = view.getBigUint64(88);
    h.refcountOrder = view.getUint32(96);
    h.headerLength = view.getUint32(100);
    if (h.headerLength < V3_MIN_HEADER_LENGTH || h.headerLength % 8 !== 0 || h.headerLength > clusterSize) {
      throw new DiskImageError('ECORRUPT', `qcow2 ${path}: header_length ${h.headerLength} is invalid`);
    }
  }

  // Extensions come before the feature check so an unknown bit can be reported by its name.
  const extEnd = h.backingFileOffset !== 0 ? Math.min(h.backingFileOffset, clusterSize) : clusterSize;
  parseExtensions(h, first, view, extEnd, path);

  if (h.cryptMethod !== 0) {
    const how = h.cryptMethod === 1 ? 'AES' : h.cryptMethod === 2 ? 'LUKS' : `method ${h.cryptMethod}`;
    throw new DiskImageError('EUNSUPPORTED', `qcow2 ${path} is encrypted (crypt_method ${h.cryptMethod}, ${how}); encrypted images are not supported`);
  }

  const handled = (1n << BigInt(INCOMPAT_DIRTY)) | (1n << BigInt(INCOMPAT_CORRUPT));
  const unsupported = h.incompatibleFeatures & ~handled;
  if (unsupported !== 0n) {
    const bits: string[] = [];
    for (let bit = 0; bit < 64; bit++) {
      if (unsupported & (1n << BigInt(bit))) bits.push(`bit ${bit} (${incompatibleFeatureName(h, bit)})`);
    }
    throw new DiskImageError('EUNSUPPORTED', `qcow2 ${path} uses unsupported incompatible feature ${bits.join(', ')}`);
  }
  if (version === 3 && h.headerLength > 104 && first[104] !== 0) {
    // Without incompatible bit 3 a non-zero compression_type is inconsistent.
    throw new DiskImageError('ECORRUPT', `qcow2 ${path}: compression_type ${first[104]} set without the compression type feature bit`);
  }

  if (h.refcountOrder > 6) {
    throw new DiskImageError('ECORRUPT', `qcow2 ${path}: refcount_order ${h.refcountOrder} exceeds 6`);
  }
  if (h.l1TableOffset % clusterSize !== 0) {
    throw new DiskImageError('ECORRUPT', `qcow2 ${path}: L1 table offset ${h.l1TableOffset} is not cluster aligned`);
  }
  if (h.l1Size * 8 > MAX_L1_BYTES) {
    throw new DiskImageError('EUNSUPPORTED', `qcow2 ${path}: L1 table of ${h.l1Size} entries exceeds 32 MiB`);
  }
  const l2Entries = clusterSize / 8;
  const maxSize = h.l1Size * l2Entries * clusterSize;
  if (maxSize < h.size) {
    throw new DiskImageError('ECORRUPT', `qcow2 ${path}: L1 table of ${h.l1Size} entries cannot map the virtual size of ${h.size} bytes`);
  }
  if (h.l1Size > 0 && (h.l1TableOffset === 0 || h.l1TableOffset + h.l1Size * 8 > fileSize)) {
    throw new DiskImageError('ECORRUPT', `qcow2 ${path}: L1 table at ${h.l1TableOffset} lies outside the file`);
  }
  if (h.refcountTableOffset === 0 || h.refcountTableOffset % clusterSize !== 0) {
    throw new DiskImageError('ECORRUPT', `qcow2 ${path}: refcount table offset ${h.refcountTableOffset} is invalid`);
  }
  if (h.refcountTableClusters === 0 || h.refcountTableClusters * clusterSize > MAX_REFTABLE_BYTES) {
    throw new DiskImageError('ECORRUPT', `qcow2 ${path}: refcount table of ${h.refcountTableClusters} clusters is invalid`);
  }
  if (h.refcountTableOffset + h.refcountTableClusters * clusterSize > fileSize) {
    throw new DiskImageError('ECORRUPT', `qcow2 ${path}: refcount table at ${h.refcountTableOffset} lies outside the file`);
  }
  if (h.nbSnapshots > 0 && (h.snapshotsOffset === 0 || h.snapshotsOffset % clusterSize !== 0)) {
    throw new DiskImageError('ECORRUPT', `qcow2 ${path}: snapshot table offset ${h.snapshotsOffset} is invalid`);
  }

  if (h.backingFileOffset !== 0) {
    if (h.backingFileSize === 0 || h.backingFileSize > 1023) {
      throw new DiskImageError('ECORRUPT', `qcow2 ${path}: backing file name length ${h.backingFileSize} is invalid (1..1023)`);
    }
    if (h.backingFileOffset + h.backingFileSize > clusterSize) {
      throw new DiskImageError('ECORRUPT', `qcow2 ${path}: backing file name lies outside the header cluster`);
    }
    h.backingFile = new TextDecoder().decode(first.subarray(h.backingFileOffset, h.backingFileOffset + h.backingFileSize));
  }
  return h;
}

function parseExtensions(h: Qcow2Header, first: Uint8Array, view: DataView, end: number, path: string): void {
  let off = h.headerLength;
  while (off + 8 <= end) {
    const type = view.getUint32(off);
    const len = view.getUint32(off + 4);
    if (type === EXT_END) return;
    const data = off + 8;
    if (data + len > end) {
      throw new DiskImageError('ECORRUPT', `qcow2 ${path}: header extension 0x${type.toString(16)} at ${off} runs past the header area`);
    }
    switch (type) {
      case EXT_BACKING_FORMAT:
        h.backingFormat = new TextDecoder().decode(first.subarray(data, data + len)).replace(/\0+$/, '');
        break;
      case EXT_FEATURE_TABLE:
        for (let e = data; e + 48 <= data + len; e += 48) {
          const raw = first.subarray(e + 2, e + 48);
          const nul = raw.indexOf(0);
          h.featureNames.set(`${first[e]}:${first[e + 1]}`, new TextDecoder().decode(nul < 0 ? raw : raw.subarray(0, nul)));
        }
        break;
      case EXT_BITMAPS:
        h.hasBitmaps = true;
        break;
      case EXT_CRYPTO:
      case EXT_DATA_FILE:
        // Only meaningful with crypt_method / incompatible bit 2, both refused by the caller.
        break;
      default:
        // Unknown extensions may be ignored (docs/interop/qcow2.txt, "Header extensions").
        break;
    }
    off = data + Math.ceil(len / 8) * 8;
  }
}
