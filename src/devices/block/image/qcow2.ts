// qcow2 disk images (versions 2 and 3), following QEMU's docs/interop/qcow2.txt.
//
// Design:
// - All requests of one image run through a SerialQueue: a write may allocate clusters, L2
//   tables and refcount blocks, and reads must see a consistent mapping.
// - Metadata is write-through: the L1 table and the refcount table live in memory in full, L2
//   tables and refcount blocks in LRU caches, and every change is written to the file straight
//   away. Nothing unwritten ever sits only in memory, so a crash of the Node process (even
//   SIGKILL) leaves the file exactly as far as the acknowledged requests went.
// - Ordering against power loss is kept with fdatasync barriers where a pointer is about to
//   reference newly set up space: refcounts, new L2 tables/refcount blocks and the request's
//   data reach the disk before the L2/L1/refcount-table entry that points at them is written;
//   and a pointer is removed durably before the cluster it pointed to has its refcount dropped
//   (so a freed cluster can never be reused while an on-disk table still points at it). That is
//   one fdatasync per allocating request; overwrites of allocated clusters need none. flush()
//   fdatasyncs, so everything acknowledged before it is on stable storage afterwards.
// - Clusters shared with internal snapshots (refcount > 1, COPIED flag clear) are copied on
//   write, for data clusters and for L2 tables alike; so are compressed clusters (read with
//   zlib raw deflate, never written compressed) and clusters still in a backing file.

import { TWO32 } from '../../../cpu/u64.js';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import { constants as zlibConstants, inflateRaw } from 'node:zlib';
import { dirname, isAbsolute, resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  DiskImageError,
  SECTOR_SIZE,
  bufferSectors,
  checkRange,
  ioError,
  type DiskFormat,
  type DiskImage,
  type SectorNumber,
} from './types.js';
import { SerialQueue, readFull, statImage, writeFull } from './io.js';
import {
  HDR_AUTOCLEAR_FEATURES,
  HDR_INCOMPATIBLE_FEATURES,
  HDR_REFCOUNT_TABLE_OFFSET,
  INCOMPAT_CORRUPT,
  INCOMPAT_DIRTY,
  parseQcow2Header,
  type Qcow2Header,
} from './qcow2-header.js';

const inflateRawAsync = promisify(inflateRaw);

const COPIED = 0x80000000; // bit 63, in the high word
const COMPRESSED = 0x40000000; // bit 62, in the high word
const ZERO = 1; // bit 0 of a standard cluster descriptor (version 3 only)
/** Offsets are kept as JS numbers; bits 53..55 of an entry would exceed 2^53. */
const OFFSET_HI_UNSAFE = 0x00e00000;
/** Cache budget per table kind; metadata is write-through, so eviction never loses data. */
const CACHE_BYTES = 16 * 1024 * 1024;
const MAX_BACKING_DEPTH = 64;

export type BackingOpener = (
  path: string,
  format: DiskFormat | 'auto',
  chain: readonly string[],
) => Promise<DiskImage>;

export interface Qcow2OpenOptions {
  readOnly: boolean;
  /** Opens a backing file read-only (supplied by open.ts so formats can nest). */
  openBacking: BackingOpener;
  /** Real paths of the images above this one in a backing chain, to catch loops. */
  chain?: readonly string[];
}

interface Table {
  bytes: Uint8Array;
  view: DataView;
}

function makeTable(bytes: Uint8Array): Table {
  return { bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
}

class Lru<V> {
  private readonly map = new Map<number, V>();
  constructor(private readonly max: number) {}
  get(key: number): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: number, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as number);
  }
  clear(): void {
    this.map.clear();
  }
}

/** Growable per-cluster counter used when rebuilding refcounts. */
class ClusterCounts {
  counts = new Uint32Array(1024);
  length = 0;
  add(cluster: number, n = 1): void {
    if (cluster >= this.counts.length) {
      if (cluster >= 64 * 1024 * 1024) {
        throw new DiskImageError('EUNSUPPORTED', `refcount rebuild: cluster index ${cluster} too large; run qemu-img check -r all`);
      }
      const grown = new Uint32Array(Math.max(cluster + 1, this.counts.length * 2));
      grown.set(this.counts);
      this.counts = grown;
    }
    this.counts[cluster] += n;
    if (cluster >= this.length) this.length = cluster + 1;
  }
  get(cluster: number): number {
    return cluster < this.counts.length ? this.counts[cluster]! : 0;
  }
}

function entryOffset(hi: number, lo: number): number {
  return (hi & 0x00ffffff) * TWO32 + ((lo & 0xfffffe00) >>> 0);
}

function setEntry(t: Table, index: number, offset: number, copied: boolean, zero: boolean): void {
  t.view.setUint32(index * 8, (Math.floor(offset / TWO32) | (copied ? COPIED : 0)) >>> 0);
  t.view.setUint32(index * 8 + 4, ((offset % TWO32) | (zero ? ZERO : 0)) >>> 0);
}

type WriteSource = 'none' | 'zero' | 'backing' | 'old' | 'compressed';

interface WritePiece {
  inOff: number;
  len: number;
  bufOff: number;
  guestCluster: number;
  table: Table;
  tableOffset: number;
  l2Index: number;
  /** 'inplace': the data goes straight into the existing cluster; 'fill': the whole existing
   *  cluster is rewritten (it read as zeros); 'alloc': a new cluster is needed. */
  mode: 'inplace' | 'fill' | 'alloc';
  source: WriteSource;
  oldHi: number;
  oldLo: number;
  target: number;
  fresh: boolean;
  updateEntry: boolean;
  free: [firstCluster: number, count: number] | null;
}

export class Qcow2Image implements DiskImage {
  readonly format = 'qcow2' as const;
  readonly sectorCount: number;
  readonly readOnly: boolean;

  private readonly queue = new SerialQueue();
  private closed = false;
  private readonly cs: number; // cluster size
  private readonly l2Entries: number;
  private readonly rcOrder: number;
  private readonly rcPerBlock: number;
  private readonly rcMax: number;
  private readonly l2Cache: Lru<Table>;
  private readonly rbCache: Lru<Table>;
  private l1!: Table;
  private refTable!: Table;
  private refTableOffset: number;
  private refTableClusters: number;
  private fileLength: number;
  private freeHint = 0;
  /** Allocation never goes below this cluster (raised while refcounts are being rebuilt). */
  private allocFloor = 0;
  /** Writes issued since the last fdatasync. */
  private dirty = false;
  /** Clusters holding metadata; data writes there would be corruption (QEMU's overlap check). */
  private readonly metadata = new Set<number>();
  /** Set once corruption is detected: further writes are refused. */
  private broken: string | null = null;
  private backing: DiskImage | null = null;
  private lastInflated: { offset: number; data: Uint8Array } | null = null;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private readonly header: Qcow2Header,
    fileLength: number,
    readOnly: boolean,
  ) {
    this.readOnly = readOnly;
    this.fileLength = fileLength;
    this.cs = 2 ** header.clusterBits;
    this.l2Entries = this.cs / 8;
    this.rcOrder = header.refcountOrder;
    this.rcPerBlock = (this.cs * 8) >> this.rcOrder;
    this.rcMax = this.rcOrder === 6 ? Number.MAX_SAFE_INTEGER : 2 ** (1 << this.rcOrder) - 1;
    this.sectorCount = Math.floor(header.size / SECTOR_SIZE);
    this.refTableOffset = header.refcountTableOffset;
    this.refTableClusters = header.refcountTableClusters;
    const entries = Math.max(8, Math.floor(CACHE_BYTES / this.cs));
    this.l2Cache = new Lru(entries);
    this.rbCache = new Lru(entries);
  }

  static async open(path: string, options: Qcow2OpenOptions): Promise<Qcow2Image> {
    await statImage(path, 'opening qcow2 image', false);
    let fh: FileHandle;
    try {
      fh = await open(path, options.readOnly ? 'r' : 'r+');
    } catch (err) {
      throw ioError('opening qcow2 image', path, err);
    }
    let image: Qcow2Image | null = null;
    try {
      const st = await fh.stat();
      if (!st.isFile()) {
        throw new DiskImageError('EINVAL', `qcow2 image ${path} is not a regular file`);
      }
      const probe = new Uint8Array(4096);
      await readFull(fh, probe, 0);
      // cluster_bits decides how much header area there is; read it before parsing fully.
      const bits = new DataView(probe.buffer).getUint32(20);
      let first = probe;
      if (bits >= 12 && bits <= 21) {
        first = new Uint8Array(2 ** bits);
        await readFull(fh, first, 0);
      }
      const header = parseQcow2Header(first, st.size, path);
      image = new Qcow2Image(path, fh, header, st.size, options.readOnly);
      await image.init(options);
      return image;
    } catch (err) {
      await image?.backing?.close().catch(() => undefined);
      await fh.close().catch(() => undefined);
      throw ioError('opening qcow2 image', path, err);
    }
  }

  // ---------------------------------------------------------------- public interface

  read(sector: SectorNumber, buf: Uint8Array): Promise<void> {
    return this.request(async () => {
      const [first] = checkRange(this, 'read', sector, bufferSectors('read', buf));
      try {
        await this.readBytes(first * SECTOR_SIZE, buf);
      } catch (err) {
        throw ioError('read', this.path, err);
      }
    });
  }

  write(sector: SectorNumber, buf: Uint8Array): Promise<void> {
    return this.request(async () => {
      this.checkWritable('write');
      const [first, count] = checkRange(this, 'write', sector, bufferSectors('write', buf));
      if (count === 0) return;
      await this.mutate('write', () => this.writeBytes(first * SECTOR_SIZE, buf));
    });
  }

  flush(): Promise<void> {
    return this.request(async () => {
      if (this.readOnly) return;
      try {
        await this.sync();
      } catch (err) {
        throw ioError('flush', this.path, err);
      }
    });
  }

  discard(sector: SectorNumber, count: SectorNumber): Promise<void> {
    return this.request(async () => {
      this.checkWritable('discard');
      const [first, n] = checkRange(this, 'discard', sector, count);
      if (n === 0) return;
      await this.mutate('discard', () => this.discardBytes(first * SECTOR_SIZE, n * SECTOR_SIZE));
    });
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return this.queue.run(async () => {
      try {
        await this.fh.close();
      } catch (err) {
        throw ioError('close', this.path, err);
      } finally {
        await this.backing?.close();
      }
    });
  }

  // ---------------------------------------------------------------- setup

  private async init(options: Qcow2OpenOptions): Promise<void> {
    const h = this.header;
    if (!this.readOnly && h.incompatibleFeatures & (1n << BigInt(INCOMPAT_CORRUPT))) {
      throw new DiskImageError(
        'ECORRUPT',
        `qcow2 ${this.path} has incompatible feature bit ${INCOMPAT_CORRUPT} (corrupt) set; ` +
          `it can only be opened read-only (repair it with qemu-img check -r all)`,
      );
    }
    const l1 = new Uint8Array(h.l1Size * 8);
    await readFull(this.fh, l1, h.l1TableOffset);
    this.l1 = makeTable(l1);
    await this.loadRefTable();

    if (h.backingFile !== null) await this.openBacking(options);

    if (this.readOnly) return;
    // An image with auto-clear bits we do not maintain must have them cleared before we write
    // (docs/interop/qcow2.txt; QEMU does the same in block/qcow2.c, qcow2_do_open).
    if (h.autoclearFeatures !== 0n) {
      await this.writeHeaderU64(HDR_AUTOCLEAR_FEATURES, 0n);
      h.autoclearFeatures = 0n;
    }
    await this.buildMetadataSet();
    // A dirty image (lazy refcounts, not closed cleanly) has untrustworthy refcounts: rebuild them
    // from the mapping before writing, then mark it clean, as QEMU does on a read-write open
    // (block/qcow2.c, qcow2_do_open: qcow2_check with BDRV_FIX_ERRORS | BDRV_FIX_LEAKS).
    if (h.incompatibleFeatures & (1n << BigInt(INCOMPAT_DIRTY))) {
      await this.rebuildRefcounts();
      await this.sync();
      h.incompatibleFeatures &= ~(1n << BigInt(INCOMPAT_DIRTY));
      await this.writeHeaderU64(HDR_INCOMPATIBLE_FEATURES, h.incompatibleFeatures);
      await this.sync();
    }
  }

  private async loadRefTable(): Promise<void> {
    const t = new Uint8Array(this.refTableClusters * this.cs);
    await readFull(this.fh, t, this.refTableOffset);
    this.refTable = makeTable(t);
  }

  private async openBacking(options: Qcow2OpenOptions): Promise<void> {
    const name = this.header.backingFile!;
    const chain = [...(options.chain ?? []), await realpath(this.path)];
    if (chain.length > MAX_BACKING_DEPTH) {
      throw new DiskImageError('EUNSUPPORTED', `qcow2 ${this.path}: backing chain deeper than ${MAX_BACKING_DEPTH}`);
    }
    if (/^[a-z][a-z0-9+.-]*:/i.test(name) && !name.startsWith('file:')) {
      throw new DiskImageError('EUNSUPPORTED', `qcow2 ${this.path}: backing file "${name}" is not a local file`);
    }
    // A relative name is relative to the directory of the image that names it
    // (QEMU block.c, bdrv_get_full_backing_filename_from_filename / path_combine).
    const plain = name.startsWith('file:') ? name.slice(5) : name;
    const full = isAbsolute(plain) ? plain : resolve(dirname(this.path), plain);
    let real: string;
    try {
      real = await realpath(full);
    } catch (err) {
      throw new DiskImageError('ENOENT', `qcow2 ${this.path}: backing file ${full} not found`, { cause: err });
    }
    if (chain.includes(real)) {
      throw new DiskImageError('ECORRUPT', `qcow2 ${this.path}: backing chain loops back to ${real}`);
    }
    const fmt = this.header.backingFormat;
    if (fmt !== null && fmt !== 'raw' && fmt !== 'qcow2') {
      throw new DiskImageError('EUNSUPPORTED', `qcow2 ${this.path}: backing file ${full} has format "${fmt}"; only raw and qcow2 are supported`);
    }
    try {
      this.backing = await options.openBacking(full, fmt ?? 'auto', chain);
    } catch (err) {
      if (err instanceof DiskImageError) {
        throw new DiskImageError(err.code, `qcow2 ${this.path}: backing file: ${err.message}`, { cause: err });
      }
      throw err;
    }
  }

  /** Records every metadata cluster, so a bogus mapping cannot make a data write hit one. */
  private async buildMetadataSet(): Promise<void> {
    const m = this.metadata;
    m.add(0);
    this.addRange(m, this.header.l1TableOffset, this.header.l1Size * 8);
    this.addRange(m, this.refTableOffset, this.refTableClusters * this.cs);
    for (let i = 0; i < this.refTableEntries(); i++) {
      const off = this.refTableEntry(i);
      if (off !== 0) m.add(off / this.cs);
    }
    for (const l1 of await this.allL1Tables()) {
      if (l1.offset !== this.header.l1TableOffset) this.addRange(m, l1.offset, l1.table.bytes.length);
      for (let i = 0; i < l1.table.bytes.length / 8; i++) {
        const off = this.tableEntryOffset(l1.table, i, 'L1');
        if (off !== 0) m.add(off / this.cs);
      }
    }
    const snaps = await this.snapshotTableBytes();
    if (snaps > 0) this.addRange(m, this.header.snapshotsOffset, snaps);
  }

  private addRange(set: { add(c: number): unknown }, offset: number, bytes: number): void {
    if (bytes <= 0) return;
    const last = Math.floor((offset + bytes - 1) / this.cs);
    for (let c = Math.floor(offset / this.cs); c <= last; c++) set.add(c);
  }

  /** The active L1 table plus every internal snapshot's L1 table. */
  private async allL1Tables(): Promise<{ offset: number; table: Table }[]> {
    const out = [{ offset: this.header.l1TableOffset, table: this.l1 }];
    for (const s of await this.readSnapshotTable()) {
      const bytes = new Uint8Array(s.l1Size * 8);
      await readFull(this.fh, bytes, s.l1Offset);
      out.push({ offset: s.l1Offset, table: makeTable(bytes) });
    }
    return out;
  }

  private async readSnapshotTable(): Promise<{ l1Offset: number; l1Size: number }[]> {
    const out: { l1Offset: number; l1Size: number }[] = [];
    let off = this.header.snapshotsOffset;
    for (let i = 0; i < this.header.nbSnapshots; i++) {
      const fixed = new Uint8Array(40);
      await readFull(this.fh, fixed, off);
      const v = new DataView(fixed.buffer);
      const l1Offset = Number(v.getBigUint64(0));
      const l1Size = v.getUint32(8);
      if (l1Offset % this.cs !== 0 || l1Size * 8 > 32 * 1024 * 1024) {
        throw new DiskImageError('ECORRUPT', `qcow2 ${this.path}: snapshot ${i} has an invalid L1 table (${l1Offset}, ${l1Size} entries)`);
      }
      out.push({ l1Offset, l1Size });
      const len = 40 + v.getUint32(36) + v.getUint16(12) + v.getUint16(14);
      off += Math.ceil(len / 8) * 8;
    }
    return out;
  }

  private async snapshotTableBytes(): Promise<number> {
    let off = this.header.snapshotsOffset;
    for (let i = 0; i < this.header.nbSnapshots; i++) {
      const fixed = new Uint8Array(40);
      await readFull(this.fh, fixed, off);
      const v = new DataView(fixed.buffer);
      off += Math.ceil((40 + v.getUint32(36) + v.getUint16(12) + v.getUint16(14)) / 8) * 8;
    }
    return off - this.header.snapshotsOffset;
  }

  // ---------------------------------------------------------------- request plumbing

  private request(job: () => Promise<void>): Promise<void> {
    if (this.closed) {
      return Promise.reject(new DiskImageError('ECLOSED', `${this.path} is closed`));
    }
    return this.queue.run(job);
  }

  private checkWritable(op: string): void {
    if (this.readOnly) {
      throw new DiskImageError('EROFS', `${op}: ${this.path} is opened read-only`);
    }
    if (this.broken !== null) {
      throw new DiskImageError('ECORRUPT', `${op}: ${this.path} was found corrupt (${this.broken}); writes are refused`);
    }
  }

  /**
   * Runs a metadata-changing operation. On corruption the image is marked corrupt; on an I/O
   * error the caches are dropped and reloaded from the file, so memory never claims more than
   * the file holds.
   */
  private async mutate(op: string, job: () => Promise<void>): Promise<void> {
    try {
      await job();
    } catch (err) {
      if (err instanceof DiskImageError && err.code === 'ECORRUPT') {
        await this.markCorrupt(err.message);
        throw err;
      }
      try {
        this.l2Cache.clear();
        this.rbCache.clear();
        this.lastInflated = null;
        await readFull(this.fh, this.l1.bytes, this.header.l1TableOffset);
        await this.loadRefTable();
      } catch (reloadErr) {
        this.broken = `metadata could not be reloaded after a failed ${op}`;
        throw ioError(op, this.path, reloadErr);
      }
      throw ioError(op, this.path, err);
    }
  }

  /** Like QEMU's qcow2_signal_corruption: stop writing and flag the image for qemu-img check. */
  private async markCorrupt(reason: string): Promise<void> {
    if (this.broken !== null) return;
    this.broken = reason;
    if (this.header.version === 3) {
      this.header.incompatibleFeatures |= 1n << BigInt(INCOMPAT_CORRUPT);
      await this.writeHeaderU64(HDR_INCOMPATIBLE_FEATURES, this.header.incompatibleFeatures).catch(() => undefined);
    }
  }

  private corrupt(what: string): DiskImageError {
    return new DiskImageError('ECORRUPT', `qcow2 ${this.path}: ${what}`);
  }

  // ---------------------------------------------------------------- raw file access

  private async put(bytes: Uint8Array, pos: number): Promise<void> {
    await writeFull(this.fh, bytes, pos);
    this.dirty = true;
    if (pos + bytes.length > this.fileLength) this.fileLength = pos + bytes.length;
  }

  private async sync(): Promise<void> {
    await this.fh.datasync();
    this.dirty = false;
  }

  /** Makes everything written so far durable before a pointer to it is written. */
  private async barrier(): Promise<void> {
    if (this.dirty) await this.sync();
  }

  private async writeHeaderU64(offset: number, value: bigint): Promise<void> {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, value);
    await this.put(b, offset);
  }

  // ---------------------------------------------------------------- L1 / L2

  /** Host offset in entry `index` of an L1 or refcount-style table, validated. */
  private tableEntryOffset(t: Table, index: number, what: string): number {
    const hi = t.view.getUint32(index * 8);
    const lo = t.view.getUint32(index * 8 + 4);
    if (hi & OFFSET_HI_UNSAFE) throw this.corrupt(`${what} entry ${index} points beyond 2^53`);
    const off = entryOffset(hi, lo);
    if (off % this.cs !== 0) throw this.corrupt(`${what} entry ${index} offset ${off} is not cluster aligned`);
    return off;
  }

  private async loadL2(offset: number): Promise<Table> {
    const cached = this.l2Cache.get(offset);
    if (cached) return cached;
    if (offset + this.cs > this.fileLength) throw this.corrupt(`L2 table at ${offset} lies beyond the end of the file`);
    const bytes = new Uint8Array(this.cs);
    await readFull(this.fh, bytes, offset);
    const t = makeTable(bytes);
    this.l2Cache.set(offset, t);
    return t;
  }

  /** The L2 entry of guest cluster `gc` as [hi, lo]; [0, 0] when its L2 table is unallocated. */
  private async lookup(gc: number): Promise<[number, number]> {
    const l1Index = Math.floor(gc / this.l2Entries);
    const l2Off = this.tableEntryOffset(this.l1, l1Index, 'L1');
    if (l2Off === 0) return [0, 0];
    const t = await this.loadL2(l2Off);
    const i = gc % this.l2Entries;
    return [t.view.getUint32(i * 8), t.view.getUint32(i * 8 + 4)];
  }

  private async setL1Entry(index: number, offset: number): Promise<void> {
    setEntry(this.l1, index, offset, true, false);
    await this.put(this.l1.bytes.subarray(index * 8, index * 8 + 8), this.header.l1TableOffset + index * 8);
  }

  /** The L2 table for L1 slot `l1Index`, allocated or unshared (copied) as needed for writing. */
  private async l2ForWrite(l1Index: number): Promise<{ table: Table; offset: number }> {
    const hi = this.l1.view.getUint32(l1Index * 8);
    const off = this.tableEntryOffset(this.l1, l1Index, 'L1');
    if (off === 0) {
      const c = await this.allocate(1);
      const t = makeTable(new Uint8Array(this.cs));
      this.metadata.add(c);
      await this.put(t.bytes, c * this.cs);
      await this.barrier();
      await this.setL1Entry(l1Index, c * this.cs);
      this.l2Cache.set(c * this.cs, t);
      return { table: t, offset: c * this.cs };
    }
    const table = await this.loadL2(off);
    if (hi & COPIED) return { table, offset: off };
    const rc = await this.getRefcount(off / this.cs);
    if (rc === 0) throw this.corrupt(`L2 table at ${off} is in use but has refcount 0`);
    if (rc === 1) {
      await this.setL1Entry(l1Index, off);
      return { table, offset: off };
    }
    // Shared with a snapshot: give the active L1 its own copy. Data clusters keep their
    // refcounts: they already count one reference per L1 table that reaches them.
    const c = await this.allocate(1);
    const copy = makeTable(table.bytes.slice());
    this.metadata.add(c);
    await this.put(copy.bytes, c * this.cs);
    await this.barrier();
    await this.setL1Entry(l1Index, c * this.cs);
    this.l2Cache.set(c * this.cs, copy);
    await this.barrier();
    await this.adjustRefcounts(off / this.cs, 1, (old) => old - 1);
    return { table: copy, offset: c * this.cs };
  }

  // ---------------------------------------------------------------- refcounts

  private refTableEntries(): number {
    return this.refTable.bytes.length / 8;
  }

  private refTableEntry(i: number): number {
    return this.tableEntryOffset(this.refTable, i, 'refcount table');
  }

  private async refBlock(bi: number): Promise<Table | null> {
    if (bi >= this.refTableEntries()) return null;
    const off = this.refTableEntry(bi);
    if (off === 0) return null;
    const cached = this.rbCache.get(off);
    if (cached) return cached;
    if (off + this.cs > this.fileLength) throw this.corrupt(`refcount block at ${off} lies beyond the end of the file`);
    const bytes = new Uint8Array(this.cs);
    await readFull(this.fh, bytes, off);
    const t = makeTable(bytes);
    this.rbCache.set(off, t);
    return t;
  }

  private rcGet(b: Table, i: number): number {
    switch (this.rcOrder) {
      case 3:
        return b.bytes[i]!;
      case 4:
        return b.view.getUint16(i * 2);
      case 5:
        return b.view.getUint32(i * 4);
      case 6: {
        const v = b.view.getBigUint64(i * 8);
        if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.corrupt(`refcount ${v} is implausibly large`);
        return Number(v);
      }
      default: {
        // 1, 2 or 4 bits; entry 0 in the least significant bits of a byte.
        const bits = 1 << this.rcOrder;
        const bit = i * bits;
        return (b.bytes[bit >> 3]! >> (bit & 7)) & ((1 << bits) - 1);
      }
    }
  }

  /** Stores a refcount; returns the byte index it touched. */
  private rcSet(b: Table, i: number, v: number): number {
    switch (this.rcOrder) {
      case 3:
        b.bytes[i] = v;
        return i;
      case 4:
        b.view.setUint16(i * 2, v);
        return i * 2;
      case 5:
        b.view.setUint32(i * 4, v);
        return i * 4;
      case 6:
        b.view.setBigUint64(i * 8, BigInt(v));
        return i * 8;
      default: {
        const bits = 1 << this.rcOrder;
        const bit = i * bits;
        const mask = ((1 << bits) - 1) << (bit & 7);
        b.bytes[bit >> 3] = (b.bytes[bit >> 3]! & ~mask) | ((v << (bit & 7)) & mask);
        return bit >> 3;
      }
    }
  }

  private rcBytes(): number {
    return Math.max(1, (1 << this.rcOrder) / 8);
  }

  private async getRefcount(cluster: number): Promise<number> {
    const b = await this.refBlock(Math.floor(cluster / this.rcPerBlock));
    return b ? this.rcGet(b, cluster % this.rcPerBlock) : 0;
  }

  /**
   * Sets the refcounts of clusters [start, start+count) to change(old). Writes each touched
   * refcount block once. A missing refcount block is created when a count becomes non-zero.
   */
  private async adjustRefcounts(start: number, count: number, change: (old: number, cluster: number) => number): Promise<void> {
    const end = start + count;
    let c = start;
    while (c < end) {
      const bi = Math.floor(c / this.rcPerBlock);
      const blockEnd = Math.min(end, (bi + 1) * this.rcPerBlock);
      const block = await this.refBlock(bi);
      if (!block) {
        let needed = false;
        for (let x = c; x < blockEnd && !needed; x++) needed = change(0, x) !== 0;
        if (needed) {
          await this.createRefBlock(bi);
          continue;
        }
        c = blockEnd;
        continue;
      }
      let lo = Infinity;
      let hi = -1;
      for (let x = c; x < blockEnd; x++) {
        const i = x % this.rcPerBlock;
        const old = this.rcGet(block, i);
        const nv = change(old, x);
        if (nv === old) continue;
        if (nv < 0) throw this.corrupt(`refcount of cluster ${x} would drop below zero`);
        if (nv > this.rcMax) {
          throw new DiskImageError('EUNSUPPORTED', `qcow2 ${this.path}: refcount of cluster ${x} would exceed ${this.rcMax} (refcount_bits ${1 << this.rcOrder})`);
        }
        const byte = this.rcSet(block, i, nv);
        lo = Math.min(lo, byte);
        hi = Math.max(hi, byte + this.rcBytes());
        if (nv === 0 && x < this.freeHint) this.freeHint = x;
      }
      if (hi >= 0) await this.put(block.bytes.subarray(lo, hi), this.refTableEntry(bi) + lo);
      c = blockEnd;
    }
  }

  /**
   * First cluster of a run of n clusters with refcount 0 (clusters past the file are free), and
   * the first free cluster seen at all: everything between the hint and it is in use.
   */
  private async findFree(n: number): Promise<[start: number, firstFree: number]> {
    let start = Math.max(this.freeHint, this.allocFloor);
    let firstFree = -1;
    let c = start;
    while (c - start < n) {
      const bi = Math.floor(c / this.rcPerBlock);
      const block = await this.refBlock(bi);
      if (!block) {
        if (firstFree < 0) firstFree = c;
        c = (bi + 1) * this.rcPerBlock;
        continue;
      }
      const blockEnd = (bi + 1) * this.rcPerBlock;
      for (; c < blockEnd && c - start < n; c++) {
        if (this.rcGet(block, c % this.rcPerBlock) !== 0) start = c + 1;
        else if (firstFree < 0) firstFree = c;
      }
    }
    return [start, firstFree];
  }

  /** Allocates n contiguous clusters (refcount 1) and returns the first cluster index. */
  private async allocate(n: number): Promise<number> {
    for (let attempt = 0; attempt < 1000; attempt++) {
      const [start, firstFree] = await this.findFree(n);
      let created = false;
      for (let bi = Math.floor(start / this.rcPerBlock); bi <= Math.floor((start + n - 1) / this.rcPerBlock); bi++) {
        if (!(await this.refBlock(bi))) {
          // The new block may occupy part of the run just found: search again.
          await this.createRefBlock(bi);
          created = true;
          break;
        }
      }
      if (created) continue;
      await this.adjustRefcounts(start, n, (old, x) => {
        if (old !== 0) throw this.corrupt(`allocating cluster ${x} that has refcount ${old}`);
        return 1;
      });
      // Without this the next search would rescan every used cluster from the old hint.
      if (this.allocFloor === 0) this.freeHint = firstFree === start ? start + n : firstFree;
      return start;
    }
    throw new DiskImageError('EIO', `qcow2 ${this.path}: cluster allocation did not converge`);
  }

  /** Creates refcount block `bi`, growing the refcount table first if it is too small. */
  private async createRefBlock(bi: number): Promise<void> {
    if (bi >= this.refTableEntries()) {
      await this.growRefTable(bi + 1);
      return; // the caller looks again: the growth may already have created this block
    }
    const [b] = await this.findFree(1);
    const bb = Math.floor(b / this.rcPerBlock);
    const block = makeTable(new Uint8Array(this.cs));
    if (bb === bi) {
      // The block describes its own cluster.
      this.rcSet(block, b % this.rcPerBlock, 1);
    } else if (!(await this.refBlock(bb))) {
      await this.createRefBlock(bb);
      return;
    } else {
      await this.adjustRefcounts(b, 1, () => 1);
    }
    this.metadata.add(b);
    await this.put(block.bytes, b * this.cs);
    this.rbCache.set(b * this.cs, block);
    await this.barrier();
    this.refTable.view.setBigUint64(bi * 8, BigInt(b * this.cs));
    await this.put(this.refTable.bytes.subarray(bi * 8, bi * 8 + 8), this.refTableOffset + bi * 8);
    if (b === this.freeHint && this.allocFloor === 0) this.freeHint = b + 1;
  }

  /**
   * Moves the refcount table to a bigger one at the end of the file, together with the refcount
   * blocks needed to describe the new area itself (the scheme QEMU uses in
   * block/qcow2-refcount.c, qcow2_refcount_area).
   */
  private async growRefTable(minEntries: number): Promise<void> {
    const per = this.rcPerBlock;
    const perCluster = this.cs / 8;
    let k = Math.max(Math.ceil(minEntries / perCluster), this.refTableClusters * 2);
    let t = Math.max(Math.ceil(this.fileLength / this.cs), this.allocFloor);
    let need: number[] = [];
    for (;;) {
      // Refcount blocks still missing for [t, t + k + need.length); iterate to a fixed point.
      need = [];
      for (;;) {
        const areaEnd = t + k + need.length;
        const next: number[] = [];
        for (let bi = Math.floor(t / per); bi <= Math.floor((areaEnd - 1) / per); bi++) {
          if (!(await this.refBlock(bi))) next.push(bi);
        }
        const same = next.length === need.length;
        need = next;
        if (same) break;
      }
      const maxIndex = Math.max(minEntries - 1, ...need);
      if (maxIndex >= k * perCluster) {
        k = Math.ceil((maxIndex + 1) / perCluster);
        continue;
      }
      let busy = -1;
      for (let c = t; c < t + k + need.length; c++) if ((await this.getRefcount(c)) !== 0) busy = c;
      if (busy >= 0) {
        t = busy + 1;
        continue;
      }
      break;
    }
    const areaEnd = t + k + need.length;
    // Count the area in the refcount blocks that already exist...
    for (let bi = Math.floor(t / per); bi <= Math.floor((areaEnd - 1) / per); bi++) {
      if (need.includes(bi)) continue;
      const from = Math.max(t, bi * per);
      await this.adjustRefcounts(from, Math.min(areaEnd, (bi + 1) * per) - from, () => 1);
    }
    // ...and write the new blocks and the new table.
    const table = makeTable(new Uint8Array(k * this.cs));
    table.bytes.set(this.refTable.bytes);
    for (let j = 0; j < need.length; j++) {
      const bi = need[j]!;
      const at = (t + k + j) * this.cs;
      const block = makeTable(new Uint8Array(this.cs));
      for (let c = Math.max(t, bi * per); c < Math.min(areaEnd, (bi + 1) * per); c++) this.rcSet(block, c % per, 1);
      await this.put(block.bytes, at);
      this.rbCache.set(at, block);
      table.view.setBigUint64(bi * 8, BigInt(at));
    }
    await this.put(table.bytes, t * this.cs);
    await this.barrier();
    const hdr = new Uint8Array(12);
    new DataView(hdr.buffer).setBigUint64(0, BigInt(t * this.cs));
    new DataView(hdr.buffer).setUint32(8, k);
    await this.put(hdr, HDR_REFCOUNT_TABLE_OFFSET);
    // The header must point at the new table for good before the old one can be reused.
    await this.sync();
    const oldOffset = this.refTableOffset;
    const oldClusters = this.refTableClusters;
    this.refTable = table;
    this.refTableOffset = t * this.cs;
    this.refTableClusters = k;
    for (let c = t; c < areaEnd; c++) this.metadata.add(c);
    for (let c = oldOffset / this.cs; c < oldOffset / this.cs + oldClusters; c++) this.metadata.delete(c);
    await this.adjustRefcounts(oldOffset / this.cs, oldClusters, (old) => old - 1);
  }

  /** Recounts every reference in the image and makes the refcounts match (dirty images). */
  private async rebuildRefcounts(): Promise<void> {
    if (this.header.hasBitmaps) {
      throw new DiskImageError('EUNSUPPORTED', `qcow2 ${this.path} is dirty and has persistent bitmaps, whose refcounts this implementation cannot rebuild; run qemu-img check -r all`);
    }
    let refs = await this.countReferences();
    for (let pass = 0; pass < 4; pass++) {
      let lastBlockEnd = 0;
      for (let i = 0; i < this.refTableEntries(); i++) {
        if (this.refTableEntry(i) !== 0) lastBlockEnd = (i + 1) * this.rcPerBlock;
      }
      const n = Math.max(refs.length, Math.ceil(this.fileLength / this.cs), lastBlockEnd);
      // Blocks created while fixing go above everything being fixed.
      this.allocFloor = n;
      let changed = false;
      const counts = refs;
      for (let c = 0; c < n; c += this.rcPerBlock) {
        await this.adjustRefcounts(c, Math.min(this.rcPerBlock, n - c), (old, x) => {
          const want = counts.get(x);
          if (want !== old) changed = true;
          return want;
        });
      }
      this.allocFloor = 0;
      refs = await this.countReferences();
      if (!changed) break;
    }
    this.freeHint = 0;
    // COPIED flags in the active tables must say "refcount is exactly 1".
    for (let i = 0; i < this.l1.bytes.length / 8; i++) {
      const l2Off = this.tableEntryOffset(this.l1, i, 'L1');
      if (l2Off === 0) continue;
      const hi = this.l1.view.getUint32(i * 8);
      const wantCopied = refs.get(l2Off / this.cs) === 1;
      if (wantCopied !== ((hi & COPIED) !== 0)) {
        this.l1.view.setUint32(i * 8, wantCopied ? (hi | COPIED) >>> 0 : hi & ~COPIED);
        await this.put(this.l1.bytes.subarray(i * 8, i * 8 + 8), this.header.l1TableOffset + i * 8);
      }
      const t = await this.loadL2(l2Off);
      let lo = Infinity;
      let hiIdx = -1;
      for (let j = 0; j < this.l2Entries; j++) {
        const ehi = t.view.getUint32(j * 8);
        const elo = t.view.getUint32(j * 8 + 4);
        let want: boolean;
        if (ehi & COMPRESSED) want = false;
        else {
          const off = entryOffset(ehi, elo);
          if (off === 0) continue;
          want = refs.get(off / this.cs) === 1;
        }
        if (want !== ((ehi & COPIED) !== 0)) {
          t.view.setUint32(j * 8, want ? (ehi | COPIED) >>> 0 : ehi & ~COPIED);
          lo = Math.min(lo, j);
          hiIdx = j;
        }
      }
      if (hiIdx >= 0) await this.put(t.bytes.subarray(lo * 8, (hiIdx + 1) * 8), l2Off + lo * 8);
    }
  }

  /** How many references each host cluster has, from the header and every table. */
  private async countReferences(): Promise<ClusterCounts> {
    const refs = new ClusterCounts();
    const cs = this.cs;
    const range = (offset: number, bytes: number): void => {
      if (bytes <= 0) return;
      for (let c = Math.floor(offset / cs); c <= Math.floor((offset + bytes - 1) / cs); c++) refs.add(c);
    };
    refs.add(0);
    for (const l1 of await this.allL1Tables()) {
      range(l1.offset, l1.table.bytes.length);
      for (let i = 0; i < l1.table.bytes.length / 8; i++) {
        const l2Off = this.tableEntryOffset(l1.table, i, 'L1');
        if (l2Off === 0) continue;
        refs.add(l2Off / cs);
        const t = await this.loadL2(l2Off);
        for (let j = 0; j < this.l2Entries; j++) {
          const hi = t.view.getUint32(j * 8);
          const lo = t.view.getUint32(j * 8 + 4);
          if (hi & COMPRESSED) {
            const [coff, csize] = this.compressedExtent(hi, lo);
            range(coff, csize);
          } else {
            const off = entryOffset(hi, lo);
            if (off !== 0) refs.add(off / cs);
          }
        }
      }
    }
    range(this.refTableOffset, this.refTableClusters * cs);
    for (let i = 0; i < this.refTableEntries(); i++) {
      const off = this.refTableEntry(i);
      if (off !== 0) refs.add(off / cs);
    }
    range(this.header.snapshotsOffset, await this.snapshotTableBytes());
    return refs;
  }

  // ---------------------------------------------------------------- compressed clusters

  /** [host byte offset, byte length] of a compressed cluster's data. */
  private compressedExtent(hi: number, lo: number): [number, number] {
    // Descriptor: offset in bits 0..x-1, additional 512-byte sectors in bits x..61,
    // x = 62 - (cluster_bits - 8) (docs/interop/qcow2.txt; block/qcow2-cluster.c,
    // qcow2_parse_compressed_l2_entry).
    const e = (BigInt(hi) << 32n) | BigInt(lo);
    const x = BigInt(62 - (this.header.clusterBits - 8));
    const offset = Number(e & ((1n << x) - 1n));
    const sectors = Number((e >> x) & ((1n << BigInt(this.header.clusterBits - 8)) - 1n)) + 1;
    return [offset, sectors * 512 - (offset & 511)];
  }

  private async inflateCluster(hi: number, lo: number): Promise<Uint8Array> {
    const [offset, size] = this.compressedExtent(hi, lo);
    if (this.lastInflated?.offset === offset) return this.lastInflated.data;
    if (offset + size > this.fileLength + 512) throw this.corrupt(`compressed cluster at ${offset} lies beyond the end of the file`);
    const raw = new Uint8Array(size);
    await readFull(this.fh, raw, offset);
    let out: Buffer;
    try {
      // The stream need not fill its last sector, and what follows it is not ours: a sync
      // flush stops at the end of the deflate stream without demanding more input.
      out = await inflateRawAsync(raw, { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: this.cs });
    } catch (err) {
      throw new DiskImageError('ECORRUPT', `qcow2 ${this.path}: compressed cluster at ${offset} does not inflate: ${(err as Error).message}`, { cause: err });
    }
    if (out.length < this.cs) throw this.corrupt(`compressed cluster at ${offset} inflates to ${out.length} bytes, not ${this.cs}`);
    const data = new Uint8Array(out.buffer, out.byteOffset, this.cs);
    this.lastInflated = { offset, data };
    return data;
  }

  // ---------------------------------------------------------------- reads

  /** Fills out with guest bytes from pos (guest clusters read from wherever they live). */
  private async readBytes(pos: number, out: Uint8Array): Promise<void> {
    type Seg = { kind: 'data' | 'zero' | 'backing'; host: number; off: number; len: number };
    const segs: Seg[] = [];
    let off = 0;
    while (off < out.length) {
      const g = pos + off;
      const gc = Math.floor(g / this.cs);
      const inOff = g - gc * this.cs;
      const len = Math.min(this.cs - inOff, out.length - off);
      const [hi, lo] = await this.lookup(gc);
      if (hi & COMPRESSED) {
        const data = await this.inflateCluster(hi, lo);
        out.set(data.subarray(inOff, inOff + len), off);
        off += len;
        continue;
      }
      if (hi & OFFSET_HI_UNSAFE) throw this.corrupt(`L2 entry for guest cluster ${gc} points beyond 2^53`);
      const host = entryOffset(hi, lo);
      let seg: Seg;
      if (this.header.version === 3 && lo & ZERO) seg = { kind: 'zero', host: 0, off, len };
      else if (host === 0) seg = { kind: 'backing', host: 0, off, len };
      else {
        if (host % this.cs !== 0) throw this.corrupt(`L2 entry for guest cluster ${gc} has unaligned offset ${host}`);
        seg = { kind: 'data', host: host + inOff, off, len };
      }
      const prev = segs[segs.length - 1];
      if (prev && prev.kind === seg.kind && prev.off + prev.len === off && (seg.kind !== 'data' || prev.host + prev.len === seg.host)) {
        prev.len += len;
      } else {
        segs.push(seg);
      }
      off += len;
    }
    for (const s of segs) {
      const dst = out.subarray(s.off, s.off + s.len);
      if (s.kind === 'zero') dst.fill(0);
      else if (s.kind === 'data') await readFull(this.fh, dst, s.host);
      else await this.readBacking(pos + s.off, dst);
    }
  }

  /** Guest bytes from the backing file; zeros where there is none or it is shorter. */
  private async readBacking(pos: number, out: Uint8Array): Promise<void> {
    const b = this.backing;
    const avail = b ? Math.max(0, Math.min(out.length, b.sectorCount * SECTOR_SIZE - pos)) : 0;
    if (avail > 0) await b!.read(pos / SECTOR_SIZE, out.subarray(0, avail));
    out.fill(0, avail);
  }

  // ---------------------------------------------------------------- writes

  private async writeBytes(pos: number, buf: Uint8Array): Promise<void> {
    const cs = this.cs;
    const v3 = this.header.version === 3;
    const tables = new Map<number, { table: Table; offset: number }>();
    const pieces: WritePiece[] = [];

    // 1. Decide, per guest cluster, where its data goes.
    for (let bufOff = 0; bufOff < buf.length; ) {
      const g = pos + bufOff;
      const gc = Math.floor(g / cs);
      const inOff = g - gc * cs;
      const len = Math.min(cs - inOff, buf.length - bufOff);
      const l1Index = Math.floor(gc / this.l2Entries);
      let l2 = tables.get(l1Index);
      if (!l2) {
        l2 = await this.l2ForWrite(l1Index);
        tables.set(l1Index, l2);
      }
      const l2Index = gc % this.l2Entries;
      const hi = l2.table.view.getUint32(l2Index * 8);
      const lo = l2.table.view.getUint32(l2Index * 8 + 4);
      const p: WritePiece = {
        inOff, len, bufOff, guestCluster: gc, table: l2.table, tableOffset: l2.offset, l2Index,
        mode: 'alloc', source: 'zero', oldHi: hi, oldLo: lo, target: 0, fresh: false, updateEntry: true, free: null,
      };
      const zeroFlag = v3 && (lo & ZERO) !== 0;
      if (hi & COMPRESSED) {
        const [coff, csize] = this.compressedExtent(hi, lo);
        p.source = 'compressed';
        p.free = [Math.floor(coff / cs), Math.floor((coff + csize - 1) / cs) - Math.floor(coff / cs) + 1];
      } else {
        if (hi & OFFSET_HI_UNSAFE) throw this.corrupt(`L2 entry for guest cluster ${gc} points beyond 2^53`);
        const host = entryOffset(hi, lo);
        if (host % cs !== 0) throw this.corrupt(`L2 entry for guest cluster ${gc} has unaligned offset ${host}`);
        if (host !== 0) {
          let exclusive = (hi & COPIED) !== 0;
          if (!exclusive) {
            const rc = await this.getRefcount(host / cs);
            if (rc === 0) throw this.corrupt(`data cluster at ${host} is in use but has refcount 0`);
            exclusive = rc === 1;
          }
          if (exclusive) {
            p.target = host;
            p.mode = zeroFlag ? 'fill' : 'inplace';
            p.updateEntry = zeroFlag || (hi & COPIED) === 0;
          } else {
            // Shared with a snapshot: copy on write, and drop our reference to the old one.
            p.source = zeroFlag ? 'zero' : 'old';
            p.free = [host / cs, 1];
          }
        } else if (!zeroFlag && this.backing) {
          p.source = 'backing';
        }
      }
      if (inOff === 0 && len === cs) p.source = 'none';
      pieces.push(p);
      bufOff += len;
    }

    // 2. Allocate new clusters, contiguously if possible.
    const allocs = pieces.filter((p) => p.mode === 'alloc');
    if (allocs.length > 0) {
      const first = await this.allocate(allocs.length);
      allocs.forEach((p, j) => {
        p.target = (first + j) * cs;
        p.fresh = p.target >= this.fileLength;
      });
    }

    // 3. Data, before anything points at it.
    let run: { pos: number; bufOff: number; len: number } | null = null;
    const flushRun = async (): Promise<void> => {
      if (run) await this.put(buf.subarray(run.bufOff, run.bufOff + run.len), run.pos);
      run = null;
    };
    let extendTo = 0;
    for (const p of pieces) {
      if (this.metadata.has(p.target / cs)) {
        throw this.corrupt(`guest cluster ${p.guestCluster} maps onto metadata cluster at ${p.target}`);
      }
      const sliceOnly = p.mode === 'inplace' || p.source === 'none' || (p.fresh && p.source === 'zero');
      if (sliceOnly) {
        const at = p.target + p.inOff;
        const r = run as { pos: number; bufOff: number; len: number } | null;
        if (r && r.pos + r.len === at && r.bufOff + r.len === p.bufOff) r.len += p.len;
        else {
          await flushRun();
          run = { pos: at, bufOff: p.bufOff, len: p.len };
        }
        if (p.fresh) extendTo = Math.max(extendTo, p.target + cs);
        continue;
      }
      await flushRun();
      const cluster = await this.cowSource(p);
      cluster.set(buf.subarray(p.bufOff, p.bufOff + p.len), p.inOff);
      await this.put(cluster, p.target);
    }
    await flushRun();
    if (extendTo > this.fileLength) {
      // A partly written fresh cluster must still lie inside the file (the rest reads as zero).
      await this.fh.truncate(extendTo);
      this.fileLength = extendTo;
      this.dirty = true;
    }

    // 4. Point the L2 entries at the data.
    const changed = pieces.filter((p) => p.updateEntry);
    if (changed.length > 0) {
      if (allocs.length > 0 || changed.some((p) => p.mode === 'fill')) await this.barrier();
      await this.updateL2Entries(changed.map((p) => ({ table: p.table, tableOffset: p.tableOffset, index: p.l2Index, target: p.target, zero: false })));
    }

    // 5. Drop references to clusters no longer pointed at.
    const frees = pieces.filter((p) => p.free !== null);
    if (frees.length > 0) {
      this.lastInflated = null;
      await this.barrier();
      for (const p of frees) await this.adjustRefcounts(p.free![0], p.free![1], (old) => old - 1);
    }
  }

  /** Full-cluster buffer with what the guest cluster held before this write. */
  private async cowSource(p: WritePiece): Promise<Uint8Array> {
    const cluster = new Uint8Array(this.cs);
    switch (p.source) {
      case 'backing':
        await this.readBacking(p.guestCluster * this.cs, cluster);
        break;
      case 'old':
        await readFull(this.fh, cluster, entryOffset(p.oldHi, p.oldLo));
        break;
      case 'compressed':
        cluster.set(await this.inflateCluster(p.oldHi, p.oldLo));
        break;
      default:
        break;
    }
    return cluster;
  }

  /** Rewrites L2 entries, one write per table covering the changed span. */
  private async updateL2Entries(updates: { table: Table; tableOffset: number; index: number; target: number; zero: boolean }[]): Promise<void> {
    const byTable = new Map<number, typeof updates>();
    for (const u of updates) {
      const list = byTable.get(u.tableOffset);
      if (list) list.push(u);
      else byTable.set(u.tableOffset, [u]);
    }
    for (const [tableOffset, list] of byTable) {
      const t = list[0]!.table;
      let lo = Infinity;
      let hi = -1;
      for (const u of list) {
        setEntry(t, u.index, u.target, u.target !== 0, u.zero);
        lo = Math.min(lo, u.index);
        hi = Math.max(hi, u.index);
      }
      await this.put(t.bytes.subarray(lo * 8, (hi + 1) * 8), tableOffset + lo * 8);
    }
  }

  // ---------------------------------------------------------------- discard

  /**
   * Unmaps whole clusters inside [pos, pos+len) and frees them; partial clusters are left
   * alone. Like QEMU's full discard (block/qcow2-cluster.c, discard_in_l2_slice) a cluster
   * becomes unallocated, or reads-as-zero (version 3) when a backing file would otherwise show
   * through. Nothing is allocated or unshared just to record a discard.
   */
  private async discardBytes(pos: number, len: number): Promise<void> {
    const cs = this.cs;
    const firstGc = Math.ceil(pos / cs);
    const endGc = Math.floor((pos + len) / cs);
    const useZero = this.header.version === 3 && this.backing !== null;
    let gc = firstGc;
    while (gc < endGc) {
      const l1Index = Math.floor(gc / this.l2Entries);
      const tableEnd = Math.min(endGc, (l1Index + 1) * this.l2Entries);
      if (this.tableEntryOffset(this.l1, l1Index, 'L1') === 0) {
        gc = tableEnd;
        continue;
      }
      const { table, offset } = await this.l2ForWrite(l1Index);
      const updates: { table: Table; tableOffset: number; index: number; target: number; zero: boolean }[] = [];
      const frees: [number, number][] = [];
      for (; gc < tableEnd; gc++) {
        const i = gc % this.l2Entries;
        const hi = table.view.getUint32(i * 8);
        const lo = table.view.getUint32(i * 8 + 4);
        if (hi & COMPRESSED) {
          const [coff, csize] = this.compressedExtent(hi, lo);
          frees.push([Math.floor(coff / cs), Math.floor((coff + csize - 1) / cs) - Math.floor(coff / cs) + 1]);
        } else {
          const host = entryOffset(hi, lo);
          if (host === 0) continue;
          if (host % cs !== 0) throw this.corrupt(`L2 entry for guest cluster ${gc} has unaligned offset ${host}`);
          frees.push([host / cs, 1]);
        }
        updates.push({ table, tableOffset: offset, index: i, target: 0, zero: useZero });
      }
      if (updates.length === 0) continue;
      await this.updateL2Entries(updates);
      this.lastInflated = null;
      await this.barrier();
      for (const [c, n] of frees) await this.adjustRefcounts(c, n, (old) => old - 1);
    }
  }
}

/** True when `bytes` (the start of a file) carry the qcow2 magic. */
export function looksLikeQcow2(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x51 && bytes[1] === 0x46 && bytes[2] === 0x49 && bytes[3] === 0xfb;
}

