// Open file descriptions and descriptor tables for the user-mode runner. Paths are real host
// paths; host files are read and written through host descriptors with the position kept
// here (Node has no lseek), so descriptions shared by dup and fork share the offset as on
// Linux. Pipes are in-process buffers with Linux's 64 KiB capacity; a reader or writer that
// would wait tells the scheduler so (BLOCKED) and retries its system call later.

import * as fs from 'node:fs';
import { isatty } from 'node:tty';
import {
  EAGAIN, EBADF, EINVAL, EISDIR, EPIPE, ESPIPE, EIO, O_ACCMODE, O_APPEND, O_NONBLOCK, O_RDONLY, O_WRONLY, S_IFIFO,
} from './linux.js';

/** A system call that must wait: the scheduler re-runs it when the process is woken. */
export const BLOCKED = -0x100000;

/** errno of a failed host call (Node's libuv codes are negated errno values on Linux). */
export function hostErrno(e: unknown): number {
  const n = (e as { errno?: unknown }).errno;
  if (typeof n === 'number' && n < 0) return -n;
  if (typeof n === 'number' && n > 0) return n;
  // Node rejected an argument before asking the kernel (a path with a NUL, an id out of range).
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('ERR_')) return EINVAL;
  throw e;
}

/** The fields of struct stat the runner reports (Linux's stat/statx shapes are built from it). */
export interface StatInfo {
  dev: bigint;
  ino: bigint;
  mode: number;
  nlink: bigint;
  uid: number;
  gid: number;
  rdev: bigint;
  size: bigint;
  blksize: bigint;
  blocks: bigint;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  birthtimeNs: bigint;
}

export function fromHostStat(s: fs.BigIntStats): StatInfo {
  return {
    dev: s.dev, ino: s.ino, mode: Number(s.mode), nlink: s.nlink, uid: Number(s.uid), gid: Number(s.gid),
    rdev: s.rdev, size: s.size, blksize: s.blksize, blocks: s.blocks,
    atimeNs: s.atimeNs, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs, birthtimeNs: s.birthtimeNs,
  };
}

let nextPipeIno = 100000n;
const startNs = BigInt(Date.now()) * 1000000n;

function syntheticStat(mode: number, ino: bigint): StatInfo {
  const uid = process.getuid?.() ?? 0, gid = process.getgid?.() ?? 0;
  // dev 0xc is what pipefs shows on a typical system; any constant will do.
  return {
    dev: 0xcn, ino, mode, nlink: 1n, uid, gid, rdev: 0n, size: 0n, blksize: 4096n, blocks: 0n,
    atimeNs: startNs, mtimeNs: startNs, ctimeNs: startNs, birthtimeNs: 0n,
  };
}

/** struct stat for x86-64 (arch/x86/include/uapi/asm/stat.h): 144 bytes. */
export function encodeStat(s: StatInfo): Uint8Array {
  const b = new Uint8Array(144);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(0, s.dev, true);
  dv.setBigUint64(8, s.ino, true);
  dv.setBigUint64(16, s.nlink, true);
  dv.setUint32(24, s.mode, true);
  dv.setUint32(28, s.uid, true);
  dv.setUint32(32, s.gid, true);
  dv.setBigUint64(40, s.rdev, true);
  dv.setBigInt64(48, s.size, true);
  dv.setBigInt64(56, s.blksize, true);
  dv.setBigInt64(64, s.blocks, true);
  const ts = (o: number, ns: bigint) => {
    dv.setBigInt64(o, ns / 1000000000n, true);
    dv.setBigInt64(o + 8, ns % 1000000000n, true);
  };
  ts(72, s.atimeNs);
  ts(88, s.mtimeNs);
  ts(104, s.ctimeNs);
  return b;
}

/** struct statx (include/uapi/linux/stat.h): 256 bytes; the basic stats plus birth time. */
export function encodeStatx(s: StatInfo): Uint8Array {
  const b = new Uint8Array(256);
  const dv = new DataView(b.buffer);
  const STATX_BASIC_STATS = 0x7ff, STATX_BTIME = 0x800;
  dv.setUint32(0, STATX_BASIC_STATS | (s.birthtimeNs ? STATX_BTIME : 0), true);
  dv.setUint32(4, Number(s.blksize), true);
  dv.setBigUint64(8, 0n, true); // stx_attributes
  dv.setUint32(16, Number(s.nlink), true);
  dv.setUint32(20, s.uid, true);
  dv.setUint32(24, s.gid, true);
  dv.setUint16(28, s.mode, true);
  dv.setBigUint64(32, s.ino, true);
  dv.setBigUint64(40, s.size, true);
  dv.setBigUint64(48, s.blocks, true);
  dv.setBigUint64(56, 0n, true); // stx_attributes_mask
  const ts = (o: number, ns: bigint) => {
    dv.setBigInt64(o, ns / 1000000000n, true);
    dv.setUint32(o + 8, Number(ns % 1000000000n), true);
  };
  ts(64, s.atimeNs);
  ts(80, s.birthtimeNs);
  ts(96, s.ctimeNs);
  ts(112, s.mtimeNs);
  // Major/minor in Linux's encoding (include/linux/kdev_t.h new_decode_dev).
  const major = (d: bigint) => Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
  const minor = (d: bigint) => Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
  dv.setUint32(128, major(s.rdev), true);
  dv.setUint32(132, minor(s.rdev), true);
  dv.setUint32(136, major(s.dev), true);
  dv.setUint32(140, minor(s.dev), true);
  return b;
}

export abstract class OpenFile {
  refs = 1;
  /** Access mode and status flags (O_APPEND, O_NONBLOCK) as fcntl(F_GETFL) shows them. */
  flags: number;
  constructor(flags: number, readonly path: string) {
    this.flags = flags;
  }
  get readable(): boolean {
    return (this.flags & O_ACCMODE) !== O_WRONLY;
  }
  get writable(): boolean {
    return (this.flags & O_ACCMODE) !== O_RDONLY;
  }
  /** Bytes read (empty at end of file), or -errno, or BLOCKED. */
  abstract read(n: number): Uint8Array | number;
  /** Bytes written, or -errno (-EPIPE: the caller raises SIGPIPE), or BLOCKED. */
  abstract write(data: Uint8Array): number;
  pread(_n: number, _pos: number): Uint8Array | number {
    return -ESPIPE;
  }
  pwrite(_data: Uint8Array, _pos: number): number {
    return -ESPIPE;
  }
  seek(_off: number, _whence: number): number {
    return -ESPIPE;
  }
  abstract stat(): StatInfo | number;
  readReady(): boolean {
    return true;
  }
  writeReady(): boolean {
    return true;
  }
  isatty(): boolean {
    return false;
  }
  /** Host descriptor, when there is one (fchmod, ftruncate, fsync...). */
  hostFd(): number | undefined {
    return undefined;
  }
  /** Directory entries for getdents64, when this is a directory. */
  dir(): HostDir | undefined {
    return undefined;
  }
  /** Last reference gone. */
  release(): void {}
}

// ---- pipes ----

export const PIPE_CAPACITY = 65536;
const PIPE_BUF = 4096;

export class Pipe {
  private chunks: Uint8Array[] = [];
  size = 0;
  readers = 0;
  writers = 0;
  readonly ino = nextPipeIno++;

  push(d: Uint8Array): void {
    if (d.length === 0) return;
    this.chunks.push(d);
    this.size += d.length;
  }

  take(n: number): Uint8Array {
    n = Math.min(n, this.size);
    const out = new Uint8Array(n);
    let k = 0;
    while (k < n) {
      const c = this.chunks[0];
      const m = Math.min(c.length, n - k);
      out.set(c.subarray(0, m), k);
      k += m;
      if (m === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(m);
    }
    this.size -= n;
    return out;
  }
}

export class PipeEnd extends OpenFile {
  constructor(readonly pipe: Pipe, readonly writeEnd: boolean, flags = 0) {
    super((writeEnd ? O_WRONLY : O_RDONLY) | (flags & O_NONBLOCK), 'pipe:[' + pipe.ino + ']');
    if (writeEnd) pipe.writers++;
    else pipe.readers++;
  }
  read(n: number): Uint8Array | number {
    if (this.writeEnd) return -EBADF;
    const p = this.pipe;
    if (p.size > 0) return p.take(n);
    if (p.writers === 0) return new Uint8Array(0);
    return this.flags & O_NONBLOCK ? -EAGAIN : BLOCKED;
  }
  write(data: Uint8Array): number {
    if (!this.writeEnd) return -EBADF;
    const p = this.pipe;
    if (p.readers === 0) return -EPIPE;
    if (data.length === 0) return 0;
    const space = PIPE_CAPACITY - p.size;
    // Writes of up to PIPE_BUF bytes are atomic; larger ones may be split.
    if (space === 0 || (data.length <= PIPE_BUF && space < data.length)) {
      return this.flags & O_NONBLOCK ? -EAGAIN : BLOCKED;
    }
    const n = Math.min(space, data.length);
    p.push(data.slice(0, n));
    return n;
  }
  stat(): StatInfo {
    return syntheticStat(S_IFIFO | 0o600, this.pipe.ino);
  }
  override readReady(): boolean {
    return this.pipe.size > 0 || this.pipe.writers === 0;
  }
  override writeReady(): boolean {
    return this.pipe.readers === 0 || this.pipe.size < PIPE_CAPACITY;
  }
  override release(): void {
    if (this.writeEnd) this.pipe.writers--;
    else this.pipe.readers--;
  }
}

/** Input given as bytes (runElf's stdin): a pipe that already holds everything and has no writer. */
export function bytesSource(data: Uint8Array): PipeEnd {
  const p = new Pipe();
  p.push(data);
  return new PipeEnd(p, false);
}

/** Output collected in memory (runElf's stdout/stderr): looks like a pipe to the program. */
export class Sink extends OpenFile {
  readonly chunks: Buffer[] = [];
  private readonly ino = nextPipeIno++;
  constructor(private readonly limit = 256 * 1024 * 1024) {
    super(O_WRONLY, 'pipe:[sink]');
  }
  private bytes = 0;
  read(): number {
    return -EBADF;
  }
  write(data: Uint8Array): number {
    if (this.bytes + data.length > this.limit) return -EIO;
    this.chunks.push(Buffer.from(data));
    this.bytes += data.length;
    return data.length;
  }
  stat(): StatInfo {
    return syntheticStat(S_IFIFO | 0o600, this.ino);
  }
  text(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

// ---- host files ----

const MAX_IO = 1 << 20;

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export class HostFile extends OpenFile {
  pos = 0;
  private readonly seekable: boolean;
  /**
   * Inherited descriptors (the runner's own stdio) share their offset with processes outside:
   * reads and writes go through the host offset, never a private copy.
   */
  private readonly hostOffset: boolean;
  private readonly tty: boolean;
  constructor(
    private readonly fd: number,
    flags: number,
    path: string,
    /** The runner opened it (and closes it); false for the inherited stdio descriptors. */
    readonly owned: boolean,
  ) {
    super(flags, path);
    const st = fs.fstatSync(fd);
    this.seekable = st.isFile() || st.isBlockDevice();
    this.hostOffset = !owned;
    this.tty = !this.seekable && isatty(fd);
  }
  read(n: number): Uint8Array | number {
    if (!this.readable) return -EBADF;
    const buf = Buffer.alloc(Math.min(n, MAX_IO));
    for (;;) {
      try {
        const got = fs.readSync(this.fd, buf, 0, buf.length, this.seekable && !this.hostOffset ? this.pos : null);
        if (this.seekable) this.pos += got;
        return buf.subarray(0, got);
      } catch (e) {
        const err = hostErrno(e);
        if (err === EISDIR) return -EISDIR;
        // Node may have left an inherited descriptor non-blocking: wait for data like a
        // blocking read would (the whole runner waits; the input comes from outside).
        if (err === EAGAIN && !(this.flags & O_NONBLOCK)) {
          sleepMs(5);
          continue;
        }
        return -err;
      }
    }
  }
  write(data: Uint8Array): number {
    if (!this.writable) return -EBADF;
    let done = 0;
    while (done < data.length) {
      try {
        const append = (this.flags & O_APPEND) !== 0;
        const n = fs.writeSync(this.fd, data, done, Math.min(data.length - done, MAX_IO), this.seekable && !append && !this.hostOffset ? this.pos : null);
        done += n;
        if (this.seekable) this.pos = append ? Number(fs.fstatSync(this.fd).size) : this.pos + n;
      } catch (e) {
        const err = hostErrno(e);
        if (err === EAGAIN && !(this.flags & O_NONBLOCK)) {
          sleepMs(5);
          continue;
        }
        return done > 0 ? done : -err;
      }
    }
    return done;
  }
  override pread(n: number, pos: number): Uint8Array | number {
    if (!this.seekable) return -ESPIPE;
    if (!this.readable) return -EBADF;
    const buf = Buffer.alloc(Math.min(n, MAX_IO));
    try {
      return buf.subarray(0, fs.readSync(this.fd, buf, 0, buf.length, pos));
    } catch (e) {
      return -hostErrno(e);
    }
  }
  override pwrite(data: Uint8Array, pos: number): number {
    if (!this.seekable) return -ESPIPE;
    if (!this.writable) return -EBADF;
    try {
      return fs.writeSync(this.fd, data, 0, data.length, pos);
    } catch (e) {
      return -hostErrno(e);
    }
  }
  override seek(off: number, whence: number): number {
    if (!this.seekable) return -ESPIPE;
    if (this.hostOffset) {
      // Node cannot lseek; the current offset is readable from /proc, moving it is not.
      if (whence !== 1 || off !== 0) return -ESPIPE;
      const m = /^pos:\s+(\d+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${this.fd}`, 'latin1'));
      return m ? Number(m[1]) : -ESPIPE;
    }
    let base: number;
    if (whence === 0) base = 0;
    else if (whence === 1) base = this.pos;
    else if (whence === 2) base = Number(fs.fstatSync(this.fd).size);
    else return -EINVAL;
    if (base + off < 0) return -EINVAL;
    this.pos = base + off;
    return this.pos;
  }
  stat(): StatInfo | number {
    try {
      return fromHostStat(fs.fstatSync(this.fd, { bigint: true }));
    } catch (e) {
      return -hostErrno(e);
    }
  }
  override isatty(): boolean {
    return this.tty;
  }
  override hostFd(): number {
    return this.fd;
  }
  override release(): void {
    if (this.owned) fs.closeSync(this.fd);
  }
}

export interface DirEntry {
  /** Raw bytes of the name: host names need not be UTF-8. */
  name: Buffer;
  ino: bigint;
  type: number;
}

/** An open directory: the host descriptor for fstat/fchdir and a listing for getdents64. */
export class HostDir extends OpenFile {
  private entries: DirEntry[] | undefined;
  index = 0;
  constructor(private readonly fd: number, flags: number, path: string) {
    super(flags, path);
  }
  read(): number {
    return -EISDIR;
  }
  write(): number {
    return -EBADF;
  }
  override seek(off: number, whence: number): number {
    if (whence !== 0 || off < 0) return -EINVAL;
    this.index = off;
    if (off === 0) this.entries = undefined; // rewinddir sees new entries
    return off;
  }
  stat(): StatInfo | number {
    try {
      return fromHostStat(fs.fstatSync(this.fd, { bigint: true }));
    } catch (e) {
      return -hostErrno(e);
    }
  }
  override hostFd(): number {
    return this.fd;
  }
  override dir(): HostDir {
    return this;
  }
  list(): DirEntry[] | number {
    if (this.entries) return this.entries;
    try {
      const self = fs.statSync(this.path, { bigint: true });
      const parent = fs.statSync(this.path + '/..', { bigint: true });
      const out: DirEntry[] = [
        { name: Buffer.from('.'), ino: self.ino, type: DT_DIR },
        { name: Buffer.from('..'), ino: parent.ino, type: DT_DIR },
      ];
      for (const d of fs.readdirSync(this.path, { withFileTypes: true, encoding: 'buffer' })) {
        const name = d.name;
        let ino = 0n;
        try {
          ino = fs.lstatSync(Buffer.concat([Buffer.from(this.path + '/'), name]), { bigint: true }).ino;
        } catch {
          continue; // gone since the listing
        }
        out.push({ name, ino, type: direntType(d) });
      }
      this.entries = out;
      return out;
    } catch (e) {
      return -hostErrno(e);
    }
  }
  override release(): void {
    fs.closeSync(this.fd);
  }
}

const DT_FIFO = 1, DT_CHR = 2, DT_DIR = 4, DT_BLK = 6, DT_REG = 8, DT_LNK = 10, DT_SOCK = 12;

function direntType(d: fs.Dirent<Buffer>): number {
  if (d.isFile()) return DT_REG;
  if (d.isDirectory()) return DT_DIR;
  if (d.isSymbolicLink()) return DT_LNK;
  if (d.isFIFO()) return DT_FIFO;
  if (d.isCharacterDevice()) return DT_CHR;
  if (d.isBlockDevice()) return DT_BLK;
  if (d.isSocket()) return DT_SOCK;
  return 0;
}

/** Pack entries as struct linux_dirent64 into at most `size` bytes; -EINVAL if none fits. */
export function packDirents(d: HostDir, size: number): Uint8Array | number {
  const list = d.list();
  if (typeof list === 'number') return list;
  const parts: Uint8Array[] = [];
  let used = 0;
  while (d.index < list.length) {
    const e = list[d.index];
    const name = e.name;
    const reclen = Math.ceil((19 + name.length + 1) / 8) * 8;
    if (used + reclen > size) break;
    const rec = new Uint8Array(reclen);
    const dv = new DataView(rec.buffer);
    dv.setBigUint64(0, e.ino, true);
    dv.setBigInt64(8, BigInt(d.index + 1), true);
    dv.setUint16(16, reclen, true);
    rec[18] = e.type;
    rec.set(name, 19);
    parts.push(rec);
    used += reclen;
    d.index++;
  }
  if (parts.length === 0 && d.index < list.length) return -EINVAL;
  const out = new Uint8Array(used);
  let k = 0;
  for (const p of parts) {
    out.set(p, k);
    k += p.length;
  }
  return out;
}

// ---- descriptor tables ----

export interface FdEntry {
  file: OpenFile;
  cloexec: boolean;
}

export const FD_LIMIT = 1024;

export class FdTable {
  private fds: (FdEntry | undefined)[] = [];

  get(fd: number): OpenFile | undefined {
    return fd >= 0 ? this.fds[fd]?.file : undefined;
  }
  entry(fd: number): FdEntry | undefined {
    return fd >= 0 ? this.fds[fd] : undefined;
  }
  /** Lowest free descriptor >= min holding `file` (whose reference the table takes). */
  add(file: OpenFile, cloexec: boolean, min = 0): number {
    for (let fd = min; fd < FD_LIMIT; fd++) {
      if (this.fds[fd] === undefined) {
        this.fds[fd] = { file, cloexec };
        return fd;
      }
    }
    release(file);
    return -24; // EMFILE
  }
  /** Put `file` at `fd` (dup2), closing what was there. */
  set(fd: number, file: OpenFile, cloexec: boolean): void {
    const old = this.fds[fd];
    this.fds[fd] = { file, cloexec };
    if (old) release(old.file);
  }
  close(fd: number): number {
    const e = this.entry(fd);
    if (!e) return -EBADF;
    this.fds[fd] = undefined;
    release(e.file);
    return 0;
  }
  closeAll(): void {
    for (let fd = 0; fd < this.fds.length; fd++) if (this.fds[fd]) this.close(fd);
  }
  closeOnExec(): void {
    for (let fd = 0; fd < this.fds.length; fd++) if (this.fds[fd]?.cloexec) this.close(fd);
  }
  /** fork: the child shares every open file description. */
  clone(): FdTable {
    const t = new FdTable();
    t.fds = this.fds.map((e) => {
      if (!e) return undefined;
      e.file.refs++;
      return { ...e };
    });
    return t;
  }
  *open(): Iterable<[number, FdEntry]> {
    for (let fd = 0; fd < this.fds.length; fd++) {
      const e = this.fds[fd];
      if (e) yield [fd, e];
    }
  }
}

export function release(f: OpenFile): void {
  if (--f.refs === 0) f.release();
}
