// Linux x86-64 system calls for the user-mode runner: number in RAX, arguments in RDI, RSI,
// RDX, R10, R8, R9, result in RAX (-errno on failure). The set is what static glibc programs
// (Debian's busybox in particular) use; anything else returns -ENOSYS with a warning naming
// the call. Files are the host's own (paths map straight through), so results match what the
// same program sees natively.

import * as fs from 'node:fs';
import * as os from 'node:os';
import { randomFillSync } from 'node:crypto';
import type { Cpu } from '../cpu/cpu.js';
import { CpuFault } from '../cpu/fault.js';
import { Reg } from '../cpu/regs.js';
import { PAGE, type FileSource } from './address-space.js';
import {
  BLOCKED, FD_LIMIT, HostDir, HostFile, Pipe, PipeEnd, PIPE_CAPACITY, encodeStat, encodeStatx,
  fromHostStat, hostErrno, packDirents, type OpenFile, type StatInfo,
} from './files.js';
import { NORETURN, type Kernel } from './kernel.js';
import {
  AT_EMPTY_PATH, AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW, E2BIG, EACCES, EAGAIN, EBADF, ECHILD, EOPNOTSUPP,
  EEXIST, EFAULT, EINVAL, ENODEV, ENOENT, ENOSYS, ENOTDIR, ENOTTY, EPERM, EPIPE, ERANGE,
  ESRCH, ETIMEDOUT, MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_PRIVATE, MAP_SHARED, NSIG,
  O_ACCMODE, O_APPEND, O_CLOEXEC, O_NONBLOCK, PROT_WRITE, SIGCHLD, SIGKILL, SIGPIPE, SIGSTOP,
  syscallName,
} from './linux.js';
import { Process, SIG_DFL, SIG_IGN, State, sigbit, RLIM_INFINITY } from './process.js';
import { join64, hi32 } from '../cpu/u64.js';

const A0 = Reg.RDI, A1 = Reg.RSI, A2 = Reg.RDX, A3 = Reg.R10, A4 = Reg.R8, A5 = Reg.R9;
const SIGSET_SIZE = 8;
const UNBLOCKABLE = sigbit(SIGKILL) | sigbit(SIGSTOP);
const CLONE_VM = 0x100, CLONE_VFORK = 0x4000;

const hrNow = (): bigint => process.hrtime.bigint();
/** CLOCK_REALTIME = monotonic + this offset, fixed at start so the two advance together. */
const realtimeBase = BigInt(Date.now()) * 1000000n - hrNow();

// ---- argument and user-memory helpers ----

/** Argument as a signed double (pointers, sizes, offsets). */
const num = (c: Cpu, r: number): number => join64(c.hi[r], c.lo[r]);
/** Argument as a C int. */
const int = (c: Cpu, r: number): number => c.lo[r];

function rdU64(c: Cpu, a: number): number {
  const lo = c.m.rd64(a);
  return join64(c.m.hi, lo);
}
function rdBig(c: Cpu, a: number): bigint {
  const lo = c.m.rd64(a);
  return (BigInt(c.m.hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
function wrU64(c: Cpu, a: number, v: number): void {
  c.m.wr64(a, v | 0, hi32(v));
}
function wrBig(c: Cpu, a: number, v: bigint): void {
  const u = BigInt.asUintN(64, v);
  c.m.wr64(a, Number(u & 0xffffffffn) | 0, Number(u >> 32n) | 0);
}
function str(c: Cpu, a: number): string {
  if (a === 0) throw new CpuFault(14, 0, 0, 'NULL string');
  return c.m.readCString(a, 4096 * 32);
}
function strArray(c: Cpu, a: number): string[] {
  const out: string[] = [];
  if (a === 0) return out;
  for (let k = 0; ; k++) {
    const p = rdU64(c, a + 8 * k);
    if (p === 0) return out;
    if (k > 100000) throw new ArgListTooLong();
    out.push(str(c, p));
  }
}
class ArgListTooLong extends Error {}

/** True if every page of [a, a+n) is writable by the program (checked before consuming input). */
function writable(c: Cpu, a: number, n: number): boolean {
  try {
    for (let p = Math.floor(a / PAGE) * PAGE; p < a + n; p += PAGE) c.m.writableOffset(Math.max(p, a));
    return true;
  } catch (e) {
    if (e instanceof CpuFault) return false;
    throw e;
  }
}

function timespecNs(c: Cpu, a: number): bigint {
  const s = rdBig(c, a), ns = rdBig(c, a + 8);
  return BigInt.asIntN(64, s) * 1000000000n + BigInt.asIntN(64, ns);
}
function putTimespec(c: Cpu, a: number, ns: bigint): void {
  wrBig(c, a, ns / 1000000000n);
  wrBig(c, a + 8, ns % 1000000000n);
}
function putTimeval(c: Cpu, a: number, ns: bigint): void {
  wrBig(c, a, ns / 1000000000n);
  wrBig(c, a + 8, (ns % 1000000000n) / 1000n);
}

function withUmask<T>(mask: number, f: () => T): T {
  let old: number | undefined;
  try {
    old = process.umask(mask);
  } catch {
    old = undefined; // worker threads cannot change the umask: the host's applies instead
  }
  try {
    return f();
  } finally {
    if (old !== undefined) process.umask(old);
  }
}

function hostCall(f: () => void): number {
  try {
    f();
    return 0;
  } catch (e) {
    return -hostErrno(e);
  }
}

/** Host path for (dirfd, path) as the *at calls take them, or -errno. */
function at(k: Kernel, p: Process, c: Cpu, dirfd: number, pathAddr: number): string | number {
  const s = str(c, pathAddr);
  if (s === '') return -ENOENT;
  if (s.startsWith('/')) return k.hostPathFor(s, '/', p);
  if (dirfd === AT_FDCWD) return p.cwd + '/' + s;
  const f = p.fds.get(dirfd);
  if (!f) return -EBADF;
  const d = f.dir();
  if (!d) return -ENOTDIR;
  return d.path + '/' + s;
}

/**
 * /dev/stdin, /dev/fd/N, /proc/self/fd/N and the like name the program's own descriptors,
 * not the host process's: the descriptor number, or undefined for other paths.
 */
function ownFd(p: Process, path: string): number | undefined {
  const std = ['/dev/stdin', '/dev/stdout', '/dev/stderr'].indexOf(path);
  if (std >= 0) return std;
  const m = /^(?:\/dev\/fd|\/proc\/(?:self|thread-self|(\d+))\/fd)\/(\d+)$/.exec(path);
  if (!m || (m[1] !== undefined && Number(m[1]) !== p.pid)) return undefined;
  return Number(m[2]);
}

// ---- the table ----

export function dispatch(k: Kernel, p: Process, c: Cpu, nr: number): number {
  switch (nr) {
    case 0: return sysRead(k, p, c, int(c, A0), num(c, A1), num(c, A2));
    case 1: return sysWrite(k, p, c, int(c, A0), num(c, A1), num(c, A2));
    case 2: return sysOpen(k, p, c, AT_FDCWD, num(c, A0), int(c, A1), int(c, A2));
    case 3: return p.fds.close(int(c, A0));
    case 4: return sysStat(k, p, c, AT_FDCWD, num(c, A0), num(c, A1), 0, false);
    case 5: return sysFstat(p, c, int(c, A0), num(c, A1), false);
    case 6: return sysStat(k, p, c, AT_FDCWD, num(c, A0), num(c, A1), AT_SYMLINK_NOFOLLOW, false);
    case 7: return sysPoll(k, p, c, num(c, A0), num(c, A1), int(c, A2));
    case 8: return sysLseek(p, int(c, A0), num(c, A1), int(c, A2));
    case 9: return sysMmap(k, p, c);
    case 10: return p.as.protect(num(c, A0), num(c, A1), int(c, A2));
    case 11: return p.as.unmap(num(c, A0), num(c, A1));
    case 12: return p.as.setBrk(num(c, A0));
    case 13: return sysSigaction(k, p, c, int(c, A0), num(c, A1), num(c, A2), num(c, A3));
    case 14: return sysSigprocmask(p, c, int(c, A0), num(c, A1), num(c, A2), num(c, A3));
    case 15: return k.sigreturn(p);
    case 16: return sysIoctl(k, p, c, int(c, A0), c.lo[A1] >>> 0, num(c, A2));
    case 17: return sysPread(p, c, int(c, A0), num(c, A1), num(c, A2), num(c, A3));
    case 18: return sysPwrite(p, c, int(c, A0), num(c, A1), num(c, A2), num(c, A3));
    case 19: return sysReadv(k, p, c, int(c, A0), num(c, A1), int(c, A2));
    case 20: return sysWritev(k, p, c, int(c, A0), num(c, A1), int(c, A2));
    case 21: return sysAccess(k, p, c, AT_FDCWD, num(c, A0), int(c, A1));
    case 22: return sysPipe(p, c, num(c, A0), 0);
    case 23: return sysSelect(k, p, c, int(c, A0), num(c, A1), num(c, A2), num(c, A3), num(c, A4), false);
    case 24: c.stop = true; return 0; // sched_yield: let the others run
    case 25: return sysMremap(k, p, c);
    case 26: return 0; // msync: private copies have nothing to write back
    case 27: return sysMincore(p, c, num(c, A0), num(c, A1), num(c, A2));
    case 28: return sysMadvise(p, num(c, A0), num(c, A1), int(c, A2));
    case 32: return sysDup(p, int(c, A0));
    case 33: return sysDup3(p, int(c, A0), int(c, A1), 0, true);
    case 34: return k.block(p, () => false, undefined, false); // pause
    case 35: return sysNanosleep(k, p, c, num(c, A0), num(c, A1), false, false);
    case 36: return sysGetitimer(p, c, int(c, A0), num(c, A1));
    case 37: return sysAlarm(p, c.lo[A0] >>> 0);
    case 38: return sysSetitimer(p, c, int(c, A0), num(c, A1), num(c, A2));
    case 39: return p.pid; // getpid
    case 40: return sysSendfile(k, p, c, int(c, A0), int(c, A1), num(c, A2), num(c, A3));
    case 56: return k.clone(p, c.lo[A0] >>> 0, num(c, A1), num(c, A2), num(c, A3), num(c, A4));
    case 57: return k.clone(p, SIGCHLD, 0, 0, 0, 0); // fork
    case 58: return k.clone(p, CLONE_VM | CLONE_VFORK | SIGCHLD, 0, 0, 0, 0); // vfork
    case 59: return sysExecve(k, p, c, AT_FDCWD, num(c, A0), num(c, A1), num(c, A2), 0);
    case 60: case 231: k.exit(p, int(c, A0)); return NORETURN; // exit, exit_group (one thread)
    case 61: return sysWait4(k, p, c, int(c, A0), num(c, A1), int(c, A2), num(c, A3));
    case 62: return sysKill(k, p, int(c, A0), int(c, A1));
    case 63: return sysUname(c, num(c, A0));
    case 72: return sysFcntl(p, c, int(c, A0), int(c, A1), num(c, A2));
    case 73: return p.fds.get(int(c, A0)) ? 0 : -EBADF; // flock: one runner, no other lockers
    case 74: case 75: return sysFsync(p, int(c, A0));
    case 76: return sysTruncate(k, p, c, num(c, A0), num(c, A1));
    case 77: return sysFtruncate(p, int(c, A0), num(c, A1));
    case 79: return sysGetcwd(p, c, num(c, A0), num(c, A1));
    case 80: return sysChdir(k, p, c, num(c, A0));
    case 81: return sysFchdir(p, int(c, A0));
    case 82: return sysRename(k, p, c, AT_FDCWD, num(c, A0), AT_FDCWD, num(c, A1), 0);
    case 83: return sysMkdir(k, p, c, AT_FDCWD, num(c, A0), int(c, A1));
    case 84: return sysUnlink(k, p, c, AT_FDCWD, num(c, A0), AT_REMOVEDIR);
    case 85: return sysOpen(k, p, c, AT_FDCWD, num(c, A0), 0o1101, int(c, A1)); // creat
    case 86: return sysLink(k, p, c, AT_FDCWD, num(c, A0), AT_FDCWD, num(c, A1));
    case 87: return sysUnlink(k, p, c, AT_FDCWD, num(c, A0), 0);
    case 88: return sysSymlink(k, p, c, num(c, A0), AT_FDCWD, num(c, A1));
    case 89: return sysReadlink(k, p, c, AT_FDCWD, num(c, A0), num(c, A1), num(c, A2));
    case 90: return sysChmod(k, p, c, AT_FDCWD, num(c, A0), int(c, A1));
    case 91: return sysFchmod(p, int(c, A0), int(c, A1));
    case 92: return sysChown(k, p, c, AT_FDCWD, num(c, A0), int(c, A1), int(c, A2), 0);
    case 93: return sysFchown(p, int(c, A0), int(c, A1), int(c, A2));
    case 94: return sysChown(k, p, c, AT_FDCWD, num(c, A0), int(c, A1), int(c, A2), AT_SYMLINK_NOFOLLOW);
    case 95: { const old = p.umask; p.umask = int(c, A0) & 0o777; return old; }
    case 96: return sysGettimeofday(c, num(c, A0));
    case 97: return sysPrlimit(k, p, c, 0, int(c, A0), 0, num(c, A1));
    case 98: return sysGetrusage(p, c, int(c, A0), num(c, A1));
    case 99: return sysSysinfo(k, p, c, num(c, A0));
    case 100: return sysTimes(p, c, num(c, A0));
    case 102: case 107: return k.uid; // getuid, geteuid
    case 104: case 108: return k.gid; // getgid, getegid
    case 105: case 113: case 117: return sameIds(k.uid, c, nr === 105 ? 1 : nr === 113 ? 2 : 3);
    case 106: case 114: case 119: return sameIds(k.gid, c, nr === 106 ? 1 : nr === 114 ? 2 : 3);
    case 109: return sysSetpgid(k, p, int(c, A0), int(c, A1));
    case 110: return p.parent ? p.parent.pid : p === k.init ? process.pid : 1; // getppid
    case 111: return p.pgid; // getpgrp
    case 112: return sysSetsid(k, p);
    case 115: return sysGetgroups(c, int(c, A0), num(c, A1));
    case 116: return sameGroups(c, int(c, A0), num(c, A1));
    case 118: case 120: return sysGetresid(c, nr === 118 ? k.uid : k.gid);
    case 121: return sysGetpgid(k, p, int(c, A0));
    case 124: return sysGetsid(k, p, int(c, A0));
    case 127: return sysSigpending(p, c, num(c, A0), num(c, A1));
    case 128: return sysSigtimedwait(k, p, c, num(c, A0), num(c, A1), num(c, A2), num(c, A3));
    case 130: return sysSigsuspend(k, p, c, num(c, A0), num(c, A1));
    case 131: return sysSigaltstack(p, c, num(c, A0), num(c, A1));
    case 137: return sysStatfs(k, p, c, num(c, A0), -1, num(c, A1));
    case 138: return sysStatfs(k, p, c, 0, int(c, A0), num(c, A1));
    case 140: return 20; // getpriority: nice 0, as the kernel encodes it (20 - nice)
    case 141: return 0; // setpriority
    case 157: return sysPrctl(p, c, int(c, A0), num(c, A1));
    case 158: return sysArchPrctl(c, int(c, A0), num(c, A1));
    case 160: return sysPrlimit(k, p, c, 0, int(c, A0), num(c, A1), 0);
    case 162: return 0; // sync
    case 186: return p.pid; // gettid: one thread per process
    case 200: return sysKill(k, p, int(c, A0), int(c, A1)); // tkill
    case 201: return sysTime(c, num(c, A0));
    case 202: return sysFutex(k, p, c);
    case 204: return sysSchedGetaffinity(c, num(c, A1), num(c, A2));
    case 221: return p.fds.get(int(c, A0)) ? 0 : -EBADF; // fadvise64: a hint
    case 217: return sysGetdents64(p, c, int(c, A0), num(c, A1), num(c, A2));
    case 218: p.clearChildTid = num(c, A0); return p.pid; // set_tid_address
    case 228: return sysClockGettime(p, c, int(c, A0), num(c, A1));
    case 229: return sysClockGetres(c, int(c, A0), num(c, A1));
    case 230: return sysNanosleep(k, p, c, num(c, A2), num(c, A3), (int(c, A1) & 1) !== 0, int(c, A0) === 0);
    case 234: return sysKill(k, p, int(c, A1), int(c, A2)); // tgkill
    case 247: return sysWaitid(k, p, c, int(c, A0), int(c, A1), num(c, A2), int(c, A3));
    case 257: return sysOpen(k, p, c, int(c, A0), num(c, A1), int(c, A2), int(c, A3));
    case 258: return sysMkdir(k, p, c, int(c, A0), num(c, A1), int(c, A2));
    case 260: return sysChown(k, p, c, int(c, A0), num(c, A1), int(c, A2), int(c, A3), int(c, A4));
    case 262: return sysStat(k, p, c, int(c, A0), num(c, A1), num(c, A2), int(c, A3), false);
    case 263: return sysUnlink(k, p, c, int(c, A0), num(c, A1), int(c, A2));
    case 264: return sysRename(k, p, c, int(c, A0), num(c, A1), int(c, A2), num(c, A3), 0);
    case 265: return sysLink(k, p, c, int(c, A0), num(c, A1), int(c, A2), num(c, A3));
    case 266: return sysSymlink(k, p, c, num(c, A0), int(c, A1), num(c, A2));
    case 267: return sysReadlink(k, p, c, int(c, A0), num(c, A1), num(c, A2), num(c, A3));
    case 268: return sysChmod(k, p, c, int(c, A0), num(c, A1), int(c, A2));
    case 269: case 439: return sysAccess(k, p, c, int(c, A0), num(c, A1), int(c, A2));
    case 270: return sysSelect(k, p, c, int(c, A0), num(c, A1), num(c, A2), num(c, A3), num(c, A4), true);
    case 271: return sysPpoll(k, p, c);
    case 273: return 0; // set_robust_list: nothing to clean up without threads
    case 280: return sysUtimensat(k, p, c, int(c, A0), num(c, A1), num(c, A2), int(c, A3));
    case 292: return sysDup3(p, int(c, A0), int(c, A1), int(c, A2), false);
    case 293: return sysPipe(p, c, num(c, A0), int(c, A1));
    case 302: return sysPrlimit(k, p, c, int(c, A0), int(c, A1), num(c, A2), num(c, A3));
    case 316: return sysRename(k, p, c, int(c, A0), num(c, A1), int(c, A2), num(c, A3), c.lo[A4] >>> 0);
    case 318: return sysGetrandom(c, num(c, A0), num(c, A1));
    case 322: return sysExecve(k, p, c, int(c, A0), num(c, A1), num(c, A2), num(c, A3), int(c, A4));
    case 332: return sysStat(k, p, c, int(c, A0), num(c, A1), num(c, A4), int(c, A2), true);
    // Extended attributes: Node has no interface to them; answer as a filesystem without
    // xattr support does (ls and cp take that in their stride).
    case 188: case 189: case 190: case 191: case 192: case 193: case 194: case 195: case 196:
    case 197: case 198: case 199:
      return -EOPNOTSUPP;
    // glibc probes these and copes with ENOSYS: no warning.
    case 334: case 435: return -ENOSYS; // rseq, clone3
    case 436: return sysCloseRange(p, c.lo[A0] >>> 0, c.lo[A1] >>> 0, int(c, A2));
    default:
      k.warnOnce(`sys${nr}`, `tsxen-elf: ${p.comm}[${p.pid}]: unsupported system call ${nr} (${syscallName(nr)}): returning -ENOSYS`);
      return -ENOSYS;
  }
}

// ---- I/O ----

function sysRead(k: Kernel, p: Process, c: Cpu, fd: number, buf: number, count: number): number {
  const f = p.fds.get(fd);
  if (!f) return -EBADF;
  if (!f.readable) return -EBADF;
  if (count < 0) return -EINVAL;
  if (count === 0) return 0;
  if (!writable(c, buf, count)) return -EFAULT;
  const r = f.read(count);
  if (r === BLOCKED) return k.block(p, () => f.readReady());
  if (typeof r === 'number') return r;
  c.m.writeBytes(buf, r);
  return r.length;
}

function sysWrite(k: Kernel, p: Process, c: Cpu, fd: number, buf: number, count: number): number {
  const f = p.fds.get(fd);
  if (!f) return -EBADF;
  if (!f.writable) return -EBADF;
  if (count < 0) return -EINVAL;
  return writeData(k, p, f, c.m.readBytes(buf, count));
}

/**
 * A blocking write completes in full, as pipe_write does: a partial write to a pipe waits for
 * room and the call runs again for the rest (p.partial remembers how much is done).
 */
function writeData(k: Kernel, p: Process, f: OpenFile, data: Uint8Array): number {
  const done = p.partial ?? 0;
  const r = f.write(done ? data.subarray(done) : data);
  if (r === BLOCKED) return k.block(p, () => f.writeReady());
  if (r < 0) {
    p.partial = undefined;
    if (r === -EPIPE) k.post(p, SIGPIPE, { signo: SIGPIPE, code: 0, pid: p.pid, uid: k.uid });
    return done > 0 ? done : r;
  }
  const total = done + r;
  if (total < data.length && !(f.flags & O_NONBLOCK)) {
    p.partial = total;
    return k.block(p, () => f.writeReady());
  }
  p.partial = undefined;
  return total;
}

function iovecs(c: Cpu, iov: number, cnt: number): [number, number][] | number {
  if (cnt < 0 || cnt > 1024) return -EINVAL;
  const out: [number, number][] = [];
  for (let k = 0; k < cnt; k++) {
    const base = rdU64(c, iov + 16 * k), len = rdU64(c, iov + 16 * k + 8);
    if (len < 0) return -EINVAL;
    out.push([base, len]);
  }
  return out;
}

function sysReadv(k: Kernel, p: Process, c: Cpu, fd: number, iov: number, cnt: number): number {
  const f = p.fds.get(fd);
  if (!f || !f.readable) return -EBADF;
  const v = iovecs(c, iov, cnt);
  if (typeof v === 'number') return v;
  const total = v.reduce((n, [, l]) => n + l, 0);
  if (total === 0) return 0;
  for (const [b, l] of v) if (l > 0 && !writable(c, b, l)) return -EFAULT;
  const r = f.read(total);
  if (r === BLOCKED) return k.block(p, () => f.readReady());
  if (typeof r === 'number') return r;
  scatter(c, v, r);
  return r.length;
}

function scatter(c: Cpu, v: [number, number][], data: Uint8Array): void {
  let off = 0;
  for (const [b, l] of v) {
    if (off >= data.length) break;
    const n = Math.min(l, data.length - off);
    c.m.writeBytes(b, data.subarray(off, off + n));
    off += n;
  }
}

function gather(c: Cpu, v: [number, number][]): Uint8Array {
  const parts = v.map(([b, l]) => c.m.readBytes(b, l));
  return Buffer.concat(parts);
}

function sysWritev(k: Kernel, p: Process, c: Cpu, fd: number, iov: number, cnt: number): number {
  const f = p.fds.get(fd);
  if (!f || !f.writable) return -EBADF;
  const v = iovecs(c, iov, cnt);
  if (typeof v === 'number') return v;
  return writeData(k, p, f, gather(c, v));
}

function sysPread(p: Process, c: Cpu, fd: number, buf: number, count: number, off: number): number {
  const f = p.fds.get(fd);
  if (!f) return -EBADF;
  if (off < 0 || count < 0) return -EINVAL;
  if (!writable(c, buf, count)) return -EFAULT;
  const r = f.pread(count, off);
  if (typeof r === 'number') return r;
  c.m.writeBytes(buf, r);
  return r.length;
}

function sysPwrite(p: Process, c: Cpu, fd: number, buf: number, count: number, off: number): number {
  const f = p.fds.get(fd);
  if (!f) return -EBADF;
  if (off < 0 || count < 0) return -EINVAL;
  return f.pwrite(c.m.readBytes(buf, count), off);
}

function sysLseek(p: Process, fd: number, off: number, whence: number): number {
  const f = p.fds.get(fd);
  if (!f) return -EBADF;
  return f.seek(off, whence);
}

function sysSendfile(k: Kernel, p: Process, c: Cpu, outFd: number, inFd: number, offPtr: number, count: number): number {
  const out = p.fds.get(outFd), inp = p.fds.get(inFd);
  if (!out || !inp || !out.writable || !inp.readable) return -EBADF;
  if (count <= 0) return count < 0 ? -EINVAL : 0;
  let chunk = Math.min(count, PIPE_CAPACITY);
  // Never take more from the input than the output can take now: nothing may be lost.
  if (out instanceof PipeEnd) {
    if (out.pipe.readers === 0) return writeData(k, p, out, new Uint8Array(1));
    chunk = Math.min(chunk, PIPE_CAPACITY - out.pipe.size);
    if (chunk === 0) return k.block(p, () => out.writeReady());
  }
  let data: Uint8Array | number;
  if (offPtr !== 0) {
    const off = rdU64(c, offPtr);
    data = inp.pread(chunk, off);
    if (typeof data !== 'number') wrU64(c, offPtr, off + data.length);
  } else {
    data = inp.read(chunk);
    if (data === BLOCKED) return k.block(p, () => inp.readReady());
  }
  if (typeof data === 'number') return data;
  if (data.length === 0) return 0;
  // One write, no retry: the input is already consumed (the pipe had room for all of it).
  const w = out.write(data);
  if (w === BLOCKED) return -EAGAIN;
  if (w === -EPIPE) k.post(p, SIGPIPE, { signo: SIGPIPE, code: 0, pid: p.pid, uid: k.uid });
  if (w >= 0 && w < data.length && offPtr === 0) inp.seek(-(data.length - w), 1);
  return w;
}

// ---- descriptors ----

function sysOpen(k: Kernel, p: Process, c: Cpu, dirfd: number, pathAddr: number, flags: number, mode: number): number {
  const own = ownFd(p, str(c, pathAddr));
  if (own !== undefined) {
    // Linux opens the same file anew; a pipe or captured stream is shared as it is.
    const f = p.fds.get(own);
    if (!f) return -ENOENT;
    if (!(f instanceof HostFile) || !f.owned) {
      f.refs++;
      return p.fds.add(f, (flags & O_CLOEXEC) !== 0);
    }
  }
  const hp = own !== undefined ? (p.fds.get(own) as HostFile).path : at(k, p, c, dirfd, pathAddr);
  if (typeof hp === 'number') return hp;
  let fd: number;
  try {
    fd = withUmask(p.umask, () => fs.openSync(hp, flags & ~O_CLOEXEC, mode & 0o7777));
  } catch (e) {
    return -hostErrno(e);
  }
  // F_GETFL shows the access mode, the status flags and O_LARGEFILE (forced on 64-bit).
  const fl = (flags & (O_ACCMODE | O_APPEND | O_NONBLOCK)) | 0x8000;
  let file: OpenFile;
  try {
    file = fs.fstatSync(fd).isDirectory() ? new HostDir(fd, fl, hp) : new HostFile(fd, fl, hp, true);
  } catch (e) {
    fs.closeSync(fd);
    return -hostErrno(e);
  }
  return p.fds.add(file, (flags & O_CLOEXEC) !== 0);
}

function sysDup(p: Process, fd: number): number {
  const f = p.fds.get(fd);
  if (!f) return -EBADF;
  f.refs++;
  return p.fds.add(f, false);
}

function sysDup3(p: Process, oldfd: number, newfd: number, flags: number, dup2: boolean): number {
  const f = p.fds.get(oldfd);
  if (!f) return -EBADF;
  if (newfd < 0 || newfd >= FD_LIMIT) return -EBADF;
  if (oldfd === newfd) return dup2 ? newfd : -EINVAL;
  if (flags & ~O_CLOEXEC) return -EINVAL;
  f.refs++;
  p.fds.set(newfd, f, (flags & O_CLOEXEC) !== 0);
  return newfd;
}

function sysPipe(p: Process, c: Cpu, fdsAddr: number, flags: number): number {
  if (flags & ~(O_CLOEXEC | O_NONBLOCK)) return -EINVAL;
  if (!writable(c, fdsAddr, 8)) return -EFAULT;
  const pipe = new Pipe();
  const cloexec = (flags & O_CLOEXEC) !== 0;
  const r = p.fds.add(new PipeEnd(pipe, false, flags), cloexec);
  if (r < 0) return r;
  const w = p.fds.add(new PipeEnd(pipe, true, flags), cloexec);
  if (w < 0) {
    p.fds.close(r);
    return w;
  }
  c.m.wr32(fdsAddr, r);
  c.m.wr32(fdsAddr + 4, w);
  return 0;
}

function sysCloseRange(p: Process, first: number, last: number, flags: number): number {
  if (first > last) return -EINVAL;
  const CLOSE_RANGE_CLOEXEC = 4;
  for (const [fd, e] of Array.from(p.fds.open())) {
    if (fd < first || fd > last) continue;
    if (flags & CLOSE_RANGE_CLOEXEC) e.cloexec = true;
    else p.fds.close(fd);
  }
  return 0;
}

const F_DUPFD = 0, F_GETFD = 1, F_SETFD = 2, F_GETFL = 3, F_SETFL = 4, F_GETLK = 5, F_SETLK = 6,
  F_SETLKW = 7, F_DUPFD_CLOEXEC = 1030, F_SETPIPE_SZ = 1031, F_GETPIPE_SZ = 1032, F_OFD_GETLK = 36,
  F_OFD_SETLK = 37, F_OFD_SETLKW = 38;

function sysFcntl(p: Process, c: Cpu, fd: number, cmd: number, arg: number): number {
  const e = p.fds.entry(fd);
  if (!e) return -EBADF;
  switch (cmd) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
      if (arg < 0 || arg >= FD_LIMIT) return -EINVAL;
      e.file.refs++;
      return p.fds.add(e.file, cmd === F_DUPFD_CLOEXEC, arg);
    case F_GETFD: return e.cloexec ? 1 : 0;
    case F_SETFD: e.cloexec = (arg & 1) !== 0; return 0;
    case F_GETFL: return e.file.flags;
    case F_SETFL:
      e.file.flags = (e.file.flags & ~(O_APPEND | O_NONBLOCK)) | (arg & (O_APPEND | O_NONBLOCK));
      return 0;
    case F_GETLK:
    case F_OFD_GETLK:
      c.m.wr16(arg, 2); // l_type = F_UNLCK: no other process holds a lock
      return 0;
    case F_SETLK: case F_SETLKW: case F_OFD_SETLK: case F_OFD_SETLKW:
      return 0;
    case F_GETPIPE_SZ: case F_SETPIPE_SZ:
      return e.file instanceof PipeEnd ? PIPE_CAPACITY : -EBADF;
    default:
      return -EINVAL;
  }
}

// Terminal requests (asm-generic/ioctls.h).
const TCGETS = 0x5401, TCSETS = 0x5402, TCSETSW = 0x5403, TCSETSF = 0x5404, TIOCSCTTY = 0x540e,
  TIOCGPGRP = 0x540f, TIOCSPGRP = 0x5410, TIOCGWINSZ = 0x5413, TIOCSWINSZ = 0x5414, FIONREAD = 0x541b,
  TIOCNOTTY = 0x5422, FIONBIO = 0x5421, FIONCLEX = 0x5450, FIOCLEX = 0x5451;

/** A terminal's settings as a program changed them (the host terminal itself is not touched). */
const termiosOf = new WeakMap<OpenFile, Uint8Array>();

function defaultTermios(): Uint8Array {
  const b = new Uint8Array(36);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, 0x500, true); // ICRNL | IXON
  dv.setUint32(4, 0x5, true); // OPOST | ONLCR
  dv.setUint32(8, 0xbf, true); // B38400 | CS8 | CREAD
  dv.setUint32(12, 0x8a3b, true); // ISIG ICANON ECHO ECHOE ECHOK ECHOCTL ECHOKE IEXTEN
  b.set([3, 0x1c, 0x7f, 0x15, 4, 0, 1, 0, 0x11, 0x13, 0x1a, 0, 0x12, 0x0f, 0x17, 0x16, 0], 17);
  return b;
}

function sysIoctl(k: Kernel, p: Process, c: Cpu, fd: number, req: number, arg: number): number {
  const e = p.fds.entry(fd);
  if (!e) return -EBADF;
  const f = e.file;
  switch (req) {
    case FIOCLEX: e.cloexec = true; return 0;
    case FIONCLEX: e.cloexec = false; return 0;
    case FIONBIO:
      if (c.m.rd32(arg)) f.flags |= O_NONBLOCK;
      else f.flags &= ~O_NONBLOCK;
      return 0;
    case FIONREAD:
      if (f instanceof PipeEnd) {
        c.m.wr32(arg, f.pipe.size);
        return 0;
      }
      if (f instanceof HostFile && !f.isatty()) {
        const st = f.stat();
        if (typeof st === 'number') return st;
        c.m.wr32(arg, Math.max(0, Number(st.size) - f.pos));
        return 0;
      }
      return -ENOTTY;
  }
  if (!f.isatty()) {
    if (![TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, TIOCSWINSZ, TIOCGPGRP, TIOCSPGRP, TIOCSCTTY, TIOCNOTTY].includes(req)) {
      k.warnOnce(`ioctl${req}`, `tsxen-elf: ${p.comm}[${p.pid}]: unsupported ioctl 0x${req.toString(16)} on fd ${fd}: returning -ENOTTY`);
    }
    return -ENOTTY;
  }
  switch (req) {
    case TCGETS:
      c.m.writeBytes(arg, termiosOf.get(f) ?? defaultTermios());
      return 0;
    case TCSETS: case TCSETSW: case TCSETSF: {
      const t = c.m.readBytes(arg, 36);
      termiosOf.set(f, t);
      const ICANON = 2;
      if (f instanceof HostFile && !f.owned) k.opts.onTermios?.((new DataView(t.buffer).getUint32(12, true) & ICANON) === 0);
      return 0;
    }
    case TIOCGWINSZ: {
      const rows = Number(process.env.LINES) || 24, cols = Number(process.env.COLUMNS) || 80;
      const b = new Uint8Array(8);
      const dv = new DataView(b.buffer);
      dv.setUint16(0, rows, true);
      dv.setUint16(2, cols, true);
      c.m.writeBytes(arg, b);
      return 0;
    }
    case TIOCSWINSZ: case TIOCSCTTY: case TIOCNOTTY: case TIOCSPGRP:
      return 0;
    case TIOCGPGRP:
      c.m.wr32(arg, p.pgid);
      return 0;
    default:
      k.warnOnce(`ioctl${req}`, `tsxen-elf: ${p.comm}[${p.pid}]: unsupported terminal ioctl 0x${req.toString(16)}: returning -EINVAL`);
      return -EINVAL;
  }
}

const POLLIN = 1, POLLOUT = 4, POLLERR = 8, POLLHUP = 0x10, POLLNVAL = 0x20;

function readiness(f: OpenFile, events: number): number {
  let r = 0;
  if (events & POLLIN && f.readable && f.readReady()) r |= POLLIN;
  if (events & POLLOUT && f.writable && f.writeReady()) r |= POLLOUT;
  if (f instanceof PipeEnd) {
    if (!f.writeEnd && f.pipe.writers === 0) r |= POLLHUP;
    if (f.writeEnd && f.pipe.readers === 0) r |= POLLERR;
  }
  return r;
}

/** Shared by poll and ppoll: timeoutNs < 0 waits for ever. */
function pollCommon(k: Kernel, p: Process, c: Cpu, fdsAddr: number, nfds: number, timeoutNs: number): number {
  if (nfds < 0 || nfds > FD_LIMIT) return -EINVAL;
  const ents: { fd: number; events: number }[] = [];
  for (let i = 0; i < nfds; i++) ents.push({ fd: c.m.rd32(fdsAddr + 8 * i), events: c.m.rd16(fdsAddr + 8 * i + 4) });
  const scan = (write: boolean): number => {
    let n = 0;
    ents.forEach((e, i) => {
      let r = 0;
      if (e.fd >= 0) {
        const f = p.fds.get(e.fd);
        r = f ? readiness(f, e.events | POLLERR | POLLHUP) & (e.events | POLLERR | POLLHUP | POLLNVAL) : POLLNVAL;
      }
      if (r) n++;
      if (write) c.m.wr16(fdsAddr + 8 * i + 6, r);
    });
    return n;
  };
  return waitFor(k, p, timeoutNs, () => scan(false) > 0, () => scan(true));
}

/**
 * The common shape of a waiting call with a timeout: finish now if `ready` or the deadline
 * passed (`finish` writes results), else block until one of them (restart re-runs the call).
 */
function waitFor(k: Kernel, p: Process, timeoutNs: number, ready: () => boolean, finish: () => number): number {
  const now = performance.now();
  if (p.restartDeadline === undefined && timeoutNs >= 0) p.restartDeadline = now + timeoutNs / 1e6;
  const dl = p.restartDeadline;
  if (ready() || (dl !== undefined && now >= dl)) {
    p.restartDeadline = undefined;
    return finish();
  }
  return k.block(p, () => ready() || (dl !== undefined && performance.now() >= dl), dl, false);
}

function sysPoll(k: Kernel, p: Process, c: Cpu, fdsAddr: number, nfds: number, timeoutMs: number): number {
  return pollCommon(k, p, c, fdsAddr, nfds, timeoutMs < 0 ? -1 : timeoutMs * 1e6);
}

function sysPpoll(k: Kernel, p: Process, c: Cpu): number {
  const tsp = num(c, A2), maskp = num(c, A3);
  const t = tsp ? Number(timespecNs(c, tsp)) : -1;
  if (maskp) applyTempMask(p, c, maskp);
  return pollCommon(k, p, c, num(c, A0), num(c, A1), t);
}

/** ppoll/pselect's signal mask: in force while waiting, the caller's back afterwards. */
function applyTempMask(p: Process, c: Cpu, maskp: number): void {
  // Delivered handlers restore the caller's mask through the frame (as for sigsuspend).
  if (p.suspendMask === undefined) p.suspendMask = p.sigmask;
  p.sigmask = rdBig(c, maskp) & ~UNBLOCKABLE;
}

function sysSelect(k: Kernel, p: Process, c: Cpu, nfds: number, rfds: number, wfds: number, efds: number, tp: number, pselect: boolean): number {
  if (nfds < 0 || nfds > FD_LIMIT) return -EINVAL;
  const words = Math.ceil(nfds / 64);
  const readSet = (a: number): bigint[] => (a ? Array.from({ length: words }, (_, i) => rdBig(c, a + 8 * i)) : []);
  const rs = readSet(rfds), ws = readSet(wfds), es = readSet(efds);
  const bit = (s: bigint[], fd: number) => s.length > 0 && ((s[fd >> 6] >> BigInt(fd & 63)) & 1n) === 1n;
  for (let fd = 0; fd < nfds; fd++) if ((bit(rs, fd) || bit(ws, fd) || bit(es, fd)) && !p.fds.get(fd)) return -EBADF;
  let timeoutNs = -1;
  if (tp) timeoutNs = pselect ? Number(timespecNs(c, tp)) : Number(rdBig(c, tp)) * 1e9 + Number(rdBig(c, tp + 8)) * 1e3;
  if (pselect) {
    const sigp = num(c, A5);
    if (sigp) {
      const maskp = rdU64(c, sigp);
      if (maskp) applyTempMask(p, c, maskp);
    }
  }
  const scan = (write: boolean): number => {
    const or = Array<bigint>(words).fill(0n), ow = Array<bigint>(words).fill(0n);
    let n = 0;
    for (let fd = 0; fd < nfds; fd++) {
      const f = p.fds.get(fd);
      if (!f) continue;
      if (bit(rs, fd) && readiness(f, POLLIN) & (POLLIN | POLLHUP | POLLERR)) { or[fd >> 6] |= 1n << BigInt(fd & 63); n++; }
      if (bit(ws, fd) && readiness(f, POLLOUT) & (POLLOUT | POLLERR)) { ow[fd >> 6] |= 1n << BigInt(fd & 63); n++; }
    }
    if (write) {
      or.forEach((v, i) => rfds && wrBig(c, rfds + 8 * i, v));
      ow.forEach((v, i) => wfds && wrBig(c, wfds + 8 * i, v));
      for (let i = 0; i < words && efds; i++) wrBig(c, efds + 8 * i, 0n);
    }
    return n;
  };
  return waitFor(k, p, timeoutNs, () => scan(false) > 0, () => scan(true));
}

// ---- files and directories ----

function statOf(hp: string, follow: boolean): StatInfo | number {
  try {
    return fromHostStat(follow ? fs.statSync(hp, { bigint: true }) : fs.lstatSync(hp, { bigint: true }));
  } catch (e) {
    return -hostErrno(e);
  }
}

function putStat(c: Cpu, buf: number, st: StatInfo | number, statx: boolean): number {
  if (typeof st === 'number') return st;
  c.m.writeBytes(buf, statx ? encodeStatx(st) : encodeStat(st));
  return 0;
}

function sysFstat(p: Process, c: Cpu, fd: number, buf: number, statx: boolean): number {
  const f = p.fds.get(fd);
  if (!f) return -EBADF;
  return putStat(c, buf, f.stat(), statx);
}

function sysStat(k: Kernel, p: Process, c: Cpu, dirfd: number, pathAddr: number, buf: number, flags: number, statx: boolean): number {
  if (flags & AT_EMPTY_PATH && pathAddr !== 0 && c.m.rd8(pathAddr) === 0) {
    if (dirfd === AT_FDCWD) return putStat(c, buf, statOf(p.cwd, true), statx);
    return sysFstat(p, c, dirfd, buf, statx);
  }
  const own = ownFd(p, str(c, pathAddr));
  if (own !== undefined && !(flags & AT_SYMLINK_NOFOLLOW)) return sysFstat(p, c, own, buf, statx);
  const hp = at(k, p, c, dirfd, pathAddr);
  if (typeof hp === 'number') return hp;
  return putStat(c, buf, statOf(hp, !(flags & AT_SYMLINK_NOFOLLOW)), statx);
}

function sysAccess(k: Kernel, p: Process, c: Cpu, dirfd: number, pathAddr: number, mode: number): number {
  const hp = at(k, p, c, dirfd, pathAddr);
  if (typeof hp === 'number') return hp;
  if (mode & ~7) return -EINVAL;
  return hostCall(() => fs.accessSync(hp, mode));
}

function sysReadlink(k: Kernel, p: Process, c: Cpu, dirfd: number, pathAddr: number, buf: number, size: number): number {
  if (size <= 0) return -EINVAL;
  const s = str(c, pathAddr);
  let target: Buffer;
  const own = s.startsWith('/proc/') ? ownFd(p, s) : undefined;
  if (s === '/proc/self/exe' || s === `/proc/${p.pid}/exe`) target = Buffer.from(p.exe);
  else if (own !== undefined) {
    const f = p.fds.get(own);
    if (!f) return -ENOENT;
    target = Buffer.from(f.path);
  } else {
    const hp = at(k, p, c, dirfd, pathAddr);
    if (typeof hp === 'number') return hp;
    try {
      target = fs.readlinkSync(hp, { encoding: 'buffer' });
    } catch (e) {
      return -hostErrno(e);
    }
  }
  const n = Math.min(size, target.length);
  c.m.writeBytes(buf, target.subarray(0, n));
  return n;
}

function sysGetcwd(p: Process, c: Cpu, buf: number, size: number): number {
  const b = Buffer.from(p.cwd + '\0');
  if (size < b.length) return -ERANGE;
  c.m.writeBytes(buf, b);
  return b.length;
}

function setCwd(p: Process, hp: string): number {
  try {
    if (!fs.statSync(hp).isDirectory()) return -ENOTDIR;
    fs.accessSync(hp, fs.constants.X_OK);
    p.cwd = fs.realpathSync(hp);
    return 0;
  } catch (e) {
    return -hostErrno(e);
  }
}

function sysChdir(k: Kernel, p: Process, c: Cpu, pathAddr: number): number {
  const hp = at(k, p, c, AT_FDCWD, pathAddr);
  return typeof hp === 'number' ? hp : setCwd(p, hp);
}

function sysFchdir(p: Process, fd: number): number {
  const f = p.fds.get(fd);
  if (!f) return -EBADF;
  const d = f.dir();
  return d ? setCwd(p, d.path) : -ENOTDIR;
}

function sysMkdir(k: Kernel, p: Process, c: Cpu, dirfd: number, pathAddr: number, mode: number): number {
  const hp = at(k, p, c, dirfd, pathAddr);
  if (typeof hp === 'number') return hp;
  return hostCall(() => withUmask(p.umask, () => fs.mkdirSync(hp, { mode: mode & 0o7777 })));
}

function sysUnlink(k: Kernel, p: Process, c: Cpu, dirfd: number, pathAddr: number, flags: number): number {
  const hp = at(k, p, c, dirfd, pathAddr);
  if (typeof hp === 'number') return hp;
  if (flags & ~AT_REMOVEDIR) return -EINVAL;
  return hostCall(() => (flags & AT_REMOVEDIR ? fs.rmdirSync(hp) : fs.unlinkSync(hp)));
}

function sysRename(k: Kernel, p: Process, c: Cpu, od: number, op: number, nd: number, np: number, flags: number): number {
  const a = at(k, p, c, od, op), b = at(k, p, c, nd, np);
  if (typeof a === 'number') return a;
  if (typeof b === 'number') return b;
  const RENAME_NOREPLACE = 1;
  if (flags & ~RENAME_NOREPLACE) {
    k.warnOnce('renameat2', `tsxen-elf: ${p.comm}[${p.pid}]: renameat2 flags 0x${flags.toString(16)} are not supported`);
    return -EINVAL;
  }
  if (flags & RENAME_NOREPLACE && typeof statOf(b, false) !== 'number') return -EEXIST;
  return hostCall(() => fs.renameSync(a, b));
}

function sysLink(k: Kernel, p: Process, c: Cpu, od: number, op: number, nd: number, np: number): number {
  const a = at(k, p, c, od, op), b = at(k, p, c, nd, np);
  if (typeof a === 'number') return a;
  if (typeof b === 'number') return b;
  return hostCall(() => fs.linkSync(a, b));
}

function sysSymlink(k: Kernel, p: Process, c: Cpu, targetAddr: number, nd: number, np: number): number {
  const target = str(c, targetAddr);
  const b = at(k, p, c, nd, np);
  if (typeof b === 'number') return b;
  return hostCall(() => fs.symlinkSync(target, b));
}

function sysChmod(k: Kernel, p: Process, c: Cpu, dirfd: number, pathAddr: number, mode: number): number {
  const hp = at(k, p, c, dirfd, pathAddr);
  if (typeof hp === 'number') return hp;
  return hostCall(() => fs.chmodSync(hp, mode & 0o7777));
}

function sysFchmod(p: Process, fd: number, mode: number): number {
  const h = p.fds.get(fd)?.hostFd();
  if (h === undefined) return p.fds.get(fd) ? -EINVAL : -EBADF;
  return hostCall(() => fs.fchmodSync(h, mode & 0o7777));
}

function sysChown(k: Kernel, p: Process, c: Cpu, dirfd: number, pathAddr: number, uid: number, gid: number, flags: number): number {
  const hp = at(k, p, c, dirfd, pathAddr);
  if (typeof hp === 'number') return hp;
  return hostCall(() => (flags & AT_SYMLINK_NOFOLLOW ? fs.lchownSync(hp, uid, gid) : fs.chownSync(hp, uid, gid)));
}

function sysFchown(p: Process, fd: number, uid: number, gid: number): number {
  const h = p.fds.get(fd)?.hostFd();
  if (h === undefined) return p.fds.get(fd) ? -EINVAL : -EBADF;
  return hostCall(() => fs.fchownSync(h, uid, gid));
}

function sysTruncate(k: Kernel, p: Process, c: Cpu, pathAddr: number, len: number): number {
  const hp = at(k, p, c, AT_FDCWD, pathAddr);
  if (typeof hp === 'number') return hp;
  if (len < 0) return -EINVAL;
  return hostCall(() => fs.truncateSync(hp, len));
}

function sysFtruncate(p: Process, fd: number, len: number): number {
  const f = p.fds.get(fd);
  const h = f?.hostFd();
  if (!f) return -EBADF;
  if (h === undefined || len < 0) return -EINVAL;
  return hostCall(() => fs.ftruncateSync(h, len));
}

function sysFsync(p: Process, fd: number): number {
  const f = p.fds.get(fd);
  if (!f) return -EBADF;
  const h = f.hostFd();
  return h === undefined ? -EINVAL : hostCall(() => fs.fsyncSync(h));
}

function sysUtimensat(k: Kernel, p: Process, c: Cpu, dirfd: number, pathAddr: number, times: number, flags: number): number {
  const UTIME_NOW = 0x3fffffff, UTIME_OMIT = 0x3ffffffe;
  let hp: string | number | undefined;
  let fd: number | undefined;
  if (pathAddr === 0) {
    const f = p.fds.get(dirfd);
    if (!f) return -EBADF;
    fd = f.hostFd();
    if (fd === undefined) return -EINVAL;
  } else {
    hp = at(k, p, c, dirfd, pathAddr);
    if (typeof hp === 'number') return hp;
  }
  const now = Date.now() / 1000;
  let atime = now, mtime = now;
  if (times !== 0) {
    const pick = (o: number, cur: () => number): number => {
      const nsec = rdU64(c, times + o + 8);
      if (nsec === UTIME_NOW) return now;
      if (nsec === UTIME_OMIT) return cur();
      if (nsec < 0 || nsec >= 1e9) throw new RangeError('tv_nsec');
      return rdU64(c, times + o) + nsec / 1e9;
    };
    const cur = (): fs.Stats => (fd !== undefined ? fs.fstatSync(fd) : flags & AT_SYMLINK_NOFOLLOW ? fs.lstatSync(hp as string) : fs.statSync(hp as string));
    try {
      atime = pick(0, () => cur().atimeMs / 1000);
      mtime = pick(16, () => cur().mtimeMs / 1000);
    } catch (e) {
      if (e instanceof RangeError) return -EINVAL;
      return -hostErrno(e);
    }
  }
  const h = fd, path = hp as string;
  return hostCall(() => {
    if (h !== undefined) fs.futimesSync(h, atime, mtime);
    else if (flags & AT_SYMLINK_NOFOLLOW) fs.lutimesSync(path, atime, mtime);
    else fs.utimesSync(path, atime, mtime);
  });
}

function sysGetdents64(p: Process, c: Cpu, fd: number, buf: number, count: number): number {
  const f = p.fds.get(fd);
  if (!f) return -EBADF;
  const d = f.dir();
  if (!d) return -ENOTDIR;
  if (!writable(c, buf, Math.min(count, 1 << 20))) return -EFAULT;
  const r = packDirents(d, count);
  if (typeof r === 'number') return r;
  c.m.writeBytes(buf, r);
  return r.length;
}

function sysStatfs(k: Kernel, p: Process, c: Cpu, pathAddr: number, fd: number, buf: number): number {
  let hp: string | number;
  if (fd >= 0) {
    const f = p.fds.get(fd);
    if (!f) return -EBADF;
    hp = f.path;
  } else hp = at(k, p, c, AT_FDCWD, pathAddr);
  if (typeof hp === 'number') return hp;
  let s: fs.BigIntStatsFs;
  try {
    s = fs.statfsSync(hp, { bigint: true });
  } catch (e) {
    return -hostErrno(e);
  }
  const b = new Uint8Array(120);
  const dv = new DataView(b.buffer);
  [s.type, s.bsize, s.blocks, s.bfree, s.bavail, s.files, s.ffree].forEach((v, i) => dv.setBigInt64(i * 8, BigInt(v), true));
  dv.setBigInt64(64, 255n, true); // f_namelen
  dv.setBigInt64(72, BigInt(s.bsize), true); // f_frsize
  c.m.writeBytes(buf, b);
  return 0;
}

// ---- memory ----

function sysMmap(k: Kernel, p: Process, c: Cpu): number {
  const addr = num(c, A0), len = num(c, A1), prot = int(c, A2), flags = int(c, A3), fd = int(c, A4), off = num(c, A5);
  const type = flags & 3;
  if (type !== MAP_PRIVATE && type !== MAP_SHARED && type !== 3) return -EINVAL;
  if (len <= 0 || off % PAGE !== 0 || off < 0) return -EINVAL;
  const fixed = (flags & MAP_FIXED) !== 0, noReplace = (flags & MAP_FIXED_NOREPLACE) !== 0;
  if (flags & MAP_ANONYMOUS) return p.as.map(addr, len, prot, { fixed, noReplace, anon: true, shared: type === MAP_SHARED });
  const f = p.fds.get(fd);
  if (!f) return -EBADF;
  if (!f.readable) return -EACCES;
  if (!(f instanceof HostFile)) return -ENODEV;
  if (type === MAP_SHARED && prot & PROT_WRITE) {
    // Writes through the mapping would have to reach the file: not possible with copies.
    k.warnOnce('mapshared', `tsxen-elf: ${p.comm}[${p.pid}]: writable MAP_SHARED file mappings are not supported (${f.path})`);
    return -ENODEV;
  }
  const st = f.stat();
  if (typeof st === 'number') return st;
  const src: FileSource = {
    key: `${st.dev}:${st.ino}:${st.mtimeNs}:${st.size}`,
    size: Number(st.size),
    read: (buf, at) => {
      const r = f.pread(buf.length, at);
      if (typeof r !== 'number') buf.set(r);
    },
  };
  return p.as.mapFile(addr, len, prot, src, off, { fixed, noReplace, shared: type === MAP_SHARED, name: f.path });
}

function sysMremap(k: Kernel, p: Process, c: Cpu): number {
  const flags = int(c, A3);
  const MREMAP_MAYMOVE = 1;
  if (flags & ~MREMAP_MAYMOVE) {
    k.warnOnce('mremap', `tsxen-elf: ${p.comm}[${p.pid}]: mremap flags 0x${flags.toString(16)} are not supported`);
    return -EINVAL;
  }
  return p.as.remap(num(c, A0), num(c, A1), num(c, A2), (flags & MREMAP_MAYMOVE) !== 0);
}

function sysMadvise(p: Process, addr: number, len: number, advice: number): number {
  const MADV_DONTNEED = 4, MADV_FREE = 8;
  if (addr % PAGE !== 0 || len < 0) return -EINVAL;
  if (advice === MADV_DONTNEED || advice === MADV_FREE) return p.as.dontNeed(addr, len);
  return 0; // the rest are hints
}

function sysMincore(p: Process, c: Cpu, addr: number, len: number, vec: number): number {
  if (addr % PAGE !== 0) return -EINVAL;
  const n = Math.ceil(len / PAGE);
  for (let i = 0; i < n; i++) if (!p.as.find(addr + i * PAGE)) return -12; // ENOMEM
  c.m.writeBytes(vec, new Uint8Array(n).fill(1));
  return 0;
}

// ---- processes ----

function sysExecve(k: Kernel, p: Process, c: Cpu, dirfd: number, pathAddr: number, argvAddr: number, envpAddr: number, flags: number): number {
  let argv: string[], envp: string[];
  try {
    argv = strArray(c, argvAddr);
    envp = strArray(c, envpAddr);
  } catch (e) {
    if (e instanceof ArgListTooLong) return -E2BIG;
    throw e;
  }
  const guest = str(c, pathAddr);
  let hp: string | number;
  if (guest === '' && flags & AT_EMPTY_PATH) {
    const f = p.fds.get(dirfd);
    if (!f) return -EBADF;
    hp = f.path;
  } else hp = at(k, p, c, dirfd, pathAddr);
  if (typeof hp === 'number') return hp;
  return k.execve(p, guest, argv, envp, hp);
}

function childMatcher(p: Process, pid: number): (ch: Process) => boolean {
  if (pid > 0) return (ch) => ch.pid === pid;
  if (pid === 0) return (ch) => ch.pgid === p.pgid;
  if (pid < -1) return (ch) => ch.pgid === -pid;
  return () => true;
}

function sysWait4(k: Kernel, p: Process, c: Cpu, pid: number, statusAddr: number, options: number, rusage: number): number {
  const WNOHANG = 1;
  const match = childMatcher(p, pid);
  const kids = Array.from(p.children).filter(match);
  if (kids.length === 0) return -ECHILD;
  const z = kids.find((ch) => ch.state === State.Zombie);
  if (z) {
    if (statusAddr) c.m.wr32(statusAddr, z.waitStatus);
    if (rusage) c.m.writeBytes(rusage, new Uint8Array(144));
    k.reap(z);
    return z.pid;
  }
  if (options & WNOHANG) return 0;
  return k.block(p, () => Array.from(p.children).some((ch) => match(ch) && ch.state === State.Zombie) || !Array.from(p.children).some(match));
}

function sysWaitid(k: Kernel, p: Process, c: Cpu, idtype: number, id: number, infop: number, options: number): number {
  const WNOHANG = 1, WEXITED = 4, WNOWAIT = 0x1000000;
  const P_ALL = 0, P_PID = 1, P_PGID = 2;
  if (!(options & WEXITED)) return -EINVAL;
  const match = idtype === P_ALL ? childMatcher(p, -1) : idtype === P_PID ? childMatcher(p, id) : idtype === P_PGID ? childMatcher(p, id === 0 ? 0 : -id) : undefined;
  if (!match) return -EINVAL;
  const kids = Array.from(p.children).filter(match);
  if (kids.length === 0) return -ECHILD;
  const z = kids.find((ch) => ch.state === State.Zombie);
  if (z) {
    if (infop) {
      const b = new Uint8Array(128);
      const dv = new DataView(b.buffer);
      dv.setInt32(0, SIGCHLD, true);
      dv.setInt32(8, z.termSignal ? 2 : 1, true); // CLD_KILLED / CLD_EXITED
      dv.setInt32(16, z.pid, true);
      dv.setUint32(20, k.uid, true);
      dv.setInt32(24, z.termSignal || z.exitCode, true);
      c.m.writeBytes(infop, b);
    }
    if (!(options & WNOWAIT)) k.reap(z);
    return 0;
  }
  if (options & WNOHANG) {
    if (infop) c.m.writeBytes(infop, new Uint8Array(128));
    return 0;
  }
  return k.block(p, () => Array.from(p.children).some((ch) => match(ch) && ch.state === State.Zombie) || !Array.from(p.children).some(match));
}

function sysKill(k: Kernel, p: Process, pid: number, sig: number): number {
  if (sig < 0 || sig > NSIG) return -EINVAL;
  let targets: Process[];
  if (pid > 0) targets = [k.procs.get(pid)].filter((t): t is Process => t !== undefined);
  else if (pid === 0) targets = Array.from(k.procs.values()).filter((t) => t.pgid === p.pgid);
  else if (pid === -1) targets = Array.from(k.procs.values()).filter((t) => t !== k.init || t === p);
  else targets = Array.from(k.procs.values()).filter((t) => t.pgid === -pid);
  targets = targets.filter((t) => t.state !== State.Zombie || sig === 0);
  if (targets.length === 0) return -ESRCH;
  if (sig === 0) return 0;
  for (const t of targets) k.post(t, sig, { signo: sig, code: 0, pid: p.pid, uid: k.uid });
  return 0;
}

function sysSetpgid(k: Kernel, p: Process, pid: number, pgid: number): number {
  const t = pid === 0 ? p : k.procs.get(pid);
  if (!t || (t !== p && t.parent !== p)) return -ESRCH;
  if (pgid < 0) return -EINVAL;
  t.pgid = pgid === 0 ? t.pid : pgid;
  return 0;
}

function sysGetpgid(k: Kernel, p: Process, pid: number): number {
  const t = pid === 0 ? p : k.procs.get(pid);
  return t ? t.pgid : -ESRCH;
}

function sysGetsid(k: Kernel, p: Process, pid: number): number {
  const t = pid === 0 ? p : k.procs.get(pid);
  return t ? t.sid : -ESRCH;
}

function sysSetsid(k: Kernel, p: Process): number {
  if (Array.from(k.procs.values()).some((t) => t.pgid === p.pid && t !== p)) return -EPERM;
  if (p.pgid === p.pid && p.sid === p.pid) return -EPERM;
  p.sid = p.pgid = p.pid;
  return p.pid;
}

/** set*uid/set*gid to the ids the process already has succeed; anything else is EPERM. */
function sameIds(id: number, c: Cpu, n: number): number {
  for (const r of [A0, A1, A2].slice(0, n)) {
    const v = int(c, r);
    if (v !== -1 && v >>> 0 !== id) return -EPERM;
  }
  return 0;
}

function sameGroups(c: Cpu, size: number, list: number): number {
  const have = new Set(process.getgroups?.() ?? []);
  for (let i = 0; i < size; i++) if (!have.has(c.m.rd32(list + 4 * i) >>> 0)) return -EPERM;
  return 0;
}

function sysGetgroups(c: Cpu, size: number, list: number): number {
  const g = process.getgroups?.() ?? [];
  if (size === 0) return g.length;
  if (size < g.length) return -EINVAL;
  g.forEach((v, i) => c.m.wr32(list + 4 * i, v));
  return g.length;
}

function sysGetresid(c: Cpu, id: number): number {
  for (const r of [A0, A1, A2]) c.m.wr32(num(c, r), id);
  return 0;
}

// ---- signals ----

function sysSigaction(_k: Kernel, p: Process, c: Cpu, sig: number, act: number, oact: number, size: number): number {
  if (size !== SIGSET_SIZE) return -EINVAL;
  if (sig < 1 || sig > NSIG) return -EINVAL;
  if (act && (sig === SIGKILL || sig === SIGSTOP)) return -EINVAL;
  const a = p.sigactions[sig];
  let next: typeof a | undefined;
  if (act) next = { handler: rdU64(c, act), flags: c.m.rd32(act + 8) >>> 0, restorer: rdU64(c, act + 16), mask: rdBig(c, act + 24) };
  if (oact) {
    wrU64(c, oact, a.handler);
    wrBig(c, oact + 8, BigInt(a.flags >>> 0));
    wrU64(c, oact + 16, a.restorer);
    wrBig(c, oact + 24, a.mask);
  }
  if (next) {
    Object.assign(a, next);
    // Setting a signal to be ignored discards it if pending (POSIX).
    const ign = next.handler === SIG_IGN || (next.handler === SIG_DFL && [SIGCHLD, 23, 28, 18].includes(sig));
    if (ign) {
      p.pending &= ~sigbit(sig);
      p.pendingInfo.delete(sig);
    }
  }
  return 0;
}

function sysSigprocmask(p: Process, c: Cpu, how: number, set: number, oset: number, size: number): number {
  if (size !== SIGSET_SIZE) return -EINVAL;
  let next: bigint | undefined;
  if (set) {
    const s = rdBig(c, set);
    if (how === 0) next = p.sigmask | s;
    else if (how === 1) next = p.sigmask & ~s;
    else if (how === 2) next = s;
    else return -EINVAL;
  }
  if (oset) wrBig(c, oset, p.sigmask);
  if (next !== undefined) p.sigmask = next & ~UNBLOCKABLE;
  return 0;
}

function sysSigpending(p: Process, c: Cpu, set: number, size: number): number {
  if (size !== SIGSET_SIZE) return -EINVAL;
  wrBig(c, set, p.pending & p.sigmask);
  return 0;
}

function sysSigsuspend(k: Kernel, p: Process, c: Cpu, maskp: number, size: number): number {
  if (size !== SIGSET_SIZE) return -EINVAL;
  applyTempMask(p, c, maskp);
  return k.block(p, () => false, undefined, false);
}

function sysSigtimedwait(k: Kernel, p: Process, c: Cpu, setp: number, info: number, tsp: number, size: number): number {
  if (size !== SIGSET_SIZE) return -EINVAL;
  const set = rdBig(c, setp) & ~UNBLOCKABLE;
  const timeout = tsp ? Number(timespecNs(c, tsp)) : -1;
  return waitFor(k, p, timeout, () => (p.pending & set) !== 0n, () => {
    const ready = p.pending & set;
    if (ready === 0n) return -EAGAIN;
    let sig = 1;
    while ((ready & sigbit(sig)) === 0n) sig++;
    p.pending &= ~sigbit(sig);
    const si = p.pendingInfo.get(sig);
    p.pendingInfo.delete(sig);
    if (info) {
      const b = new Uint8Array(128);
      const dv = new DataView(b.buffer);
      dv.setInt32(0, sig, true);
      dv.setInt32(8, si?.code ?? 0, true);
      dv.setInt32(16, si?.pid ?? 0, true);
      dv.setUint32(20, si?.uid ?? 0, true);
      c.m.writeBytes(info, b);
    }
    return sig;
  });
}

function sysSigaltstack(p: Process, c: Cpu, ss: number, old: number): number {
  const SS_ONSTACK = 1, SS_DISABLE = 2, MINSIGSTKSZ = 2048;
  const sp = c.getRegNum(Reg.RSP);
  const on = p.altStack.size > 0 && sp > p.altStack.sp && sp - p.altStack.sp <= p.altStack.size;
  if (old) {
    wrU64(c, old, p.altStack.sp);
    c.m.wr32(old + 8, on ? SS_ONSTACK : p.altStack.flags);
    wrU64(c, old + 16, p.altStack.size);
  }
  if (ss) {
    if (on) return -EPERM;
    const nsp = rdU64(c, ss), flags = c.m.rd32(ss + 8), size = rdU64(c, ss + 16);
    if (flags & ~(SS_DISABLE | 0x80000000)) return -EINVAL;
    if (flags & SS_DISABLE) p.altStack = { sp: 0, size: 0, flags: SS_DISABLE };
    else {
      if (size < MINSIGSTKSZ) return -12; // ENOMEM
      p.altStack = { sp: nsp, size, flags: 0 };
    }
  }
  return 0;
}

function sysAlarm(p: Process, secs: number): number {
  const now = performance.now();
  const left = p.alarmAt !== undefined ? Math.max(1, Math.round((p.alarmAt - now) / 1000)) : 0;
  p.alarmAt = secs ? now + secs * 1000 : undefined;
  p.alarmInterval = 0;
  return left;
}

function sysGetitimer(p: Process, c: Cpu, which: number, cur: number): number {
  if (which !== 0) return -EINVAL;
  const left = p.alarmAt !== undefined ? Math.max(0, p.alarmAt - performance.now()) : 0;
  putTimeval(c, cur, BigInt(Math.round(p.alarmInterval * 1e6)));
  putTimeval(c, cur + 16, BigInt(Math.round(left * 1e6)));
  return 0;
}

function sysSetitimer(p: Process, c: Cpu, which: number, nv: number, old: number): number {
  if (which !== 0) return -EINVAL; // ITIMER_VIRTUAL/PROF would need CPU-time accounting
  if (old) sysGetitimer(p, c, which, old);
  if (nv) {
    const ms = (a: number) => Number(rdBig(c, a)) * 1000 + Number(rdBig(c, a + 8)) / 1000;
    const interval = ms(nv), value = ms(nv + 16);
    p.alarmInterval = interval;
    p.alarmAt = value > 0 ? performance.now() + value : undefined;
  }
  return 0;
}

// ---- time ----

function clockNs(p: Process, clk: number): bigint | undefined {
  switch (clk) {
    case 0: case 5: case 8: case 11: return realtimeBase + hrNow(); // REALTIME(_COARSE, _ALARM), TAI
    case 1: case 4: case 6: case 7: case 9: return hrNow(); // MONOTONIC(_RAW, _COARSE), BOOTTIME(_ALARM)
    case 2: case 3: return BigInt(Math.round((performance.now() - p.startedAt) * 1e6)); // CPU time
    default: return undefined;
  }
}

function sysClockGettime(p: Process, c: Cpu, clk: number, tp: number): number {
  const ns = clockNs(p, clk);
  if (ns === undefined) return -EINVAL;
  putTimespec(c, tp, ns);
  return 0;
}

function sysClockGetres(c: Cpu, clk: number, tp: number): number {
  if (clk < 0 || clk > 11) return -EINVAL;
  if (tp) putTimespec(c, tp, 1n);
  return 0;
}

function sysGettimeofday(c: Cpu, tv: number): number {
  if (tv) putTimeval(c, tv, realtimeBase + hrNow());
  return 0;
}

function sysTime(c: Cpu, tp: number): number {
  const s = Number((realtimeBase + hrNow()) / 1000000000n);
  if (tp) wrU64(c, tp, s);
  return s;
}

function sysNanosleep(k: Kernel, p: Process, c: Cpu, req: number, rem: number, abs: boolean, realtime: boolean): number {
  if (p.restartDeadline === undefined) {
    const ns = timespecNs(c, req);
    if (ns < 0n || rdBig(c, req + 8) >= 1000000000n) return -EINVAL;
    let ms = Number(ns) / 1e6;
    if (abs) ms -= Number(realtime ? realtimeBase + hrNow() : hrNow()) / 1e6;
    if (ms <= 0) return 0;
    p.restartDeadline = performance.now() + ms;
  }
  const dl = p.restartDeadline;
  if (performance.now() >= dl) {
    p.restartDeadline = undefined;
    if (rem && !abs) putTimespec(c, rem, 0n);
    return 0;
  }
  return k.block(p, () => performance.now() >= dl, dl, false);
}

function sysTimes(p: Process, c: Cpu, buf: number): number {
  const ticks = Math.floor((performance.now() - p.startedAt) / 10);
  if (buf) {
    wrU64(c, buf, ticks);
    wrU64(c, buf + 8, 0);
    wrU64(c, buf + 16, 0);
    wrU64(c, buf + 24, 0);
  }
  return Math.floor(performance.now() / 10);
}

function sysGetrusage(p: Process, c: Cpu, who: number, ru: number): number {
  if (who !== 0 && who !== -1 && who !== 1) return -EINVAL;
  const b = new Uint8Array(144);
  c.m.writeBytes(ru, b);
  if (who === 0 || who === 1) putTimeval(c, ru, BigInt(Math.round((performance.now() - p.startedAt) * 1e6)));
  return 0;
}

// ---- system information ----

function sysUname(c: Cpu, buf: number): number {
  const fields = ['Linux', os.hostname(), '6.1.0-tsxen', '#1 SMP PREEMPT_DYNAMIC tsxen user-mode runner', 'x86_64', '(none)'];
  const b = new Uint8Array(65 * 6);
  fields.forEach((s, i) => b.set(Buffer.from(s).subarray(0, 64), 65 * i));
  c.m.writeBytes(buf, b);
  return 0;
}

function sysSysinfo(k: Kernel, p: Process, c: Cpu, buf: number): number {
  const b = new Uint8Array(112);
  const dv = new DataView(b.buffer);
  const total = BigInt(p.as.ram.length), used = BigInt(p.as.pool.used);
  dv.setBigInt64(0, BigInt(Math.floor(os.uptime())), true);
  os.loadavg().forEach((l, i) => dv.setBigUint64(8 + 8 * i, BigInt(Math.round(l * 65536)), true));
  dv.setBigUint64(32, total, true);
  dv.setBigUint64(40, total - used, true);
  dv.setUint16(80, k.procs.size, true);
  dv.setUint32(104, 1, true);
  c.m.writeBytes(buf, b);
  return 0;
}

const RLIMIT_STACK = 3, RLIMIT_CORE = 4, RLIMIT_NOFILE = 7;

function rlimitOf(p: Process, res: number): [number, number] {
  const set = p.rlimits.get(res);
  if (set) return set;
  if (res === RLIMIT_STACK) return [8 * 1024 * 1024, RLIM_INFINITY];
  if (res === RLIMIT_CORE) return [0, RLIM_INFINITY];
  if (res === RLIMIT_NOFILE) return [FD_LIMIT, FD_LIMIT];
  return [RLIM_INFINITY, RLIM_INFINITY];
}

function sysPrlimit(k: Kernel, p: Process, c: Cpu, pid: number, res: number, nw: number, old: number): number {
  const t = pid === 0 ? p : k.procs.get(pid);
  if (!t) return -ESRCH;
  if (res < 0 || res > 15) return -EINVAL;
  if (old) {
    const [cur, max] = rlimitOf(t, res);
    wrU64(c, old, cur);
    wrU64(c, old + 8, max);
  }
  if (nw) {
    const cur = rdU64(c, nw), max = rdU64(c, nw + 8);
    const [, oldMax] = rlimitOf(t, res);
    const big = (v: number) => (v === RLIM_INFINITY ? Infinity : v);
    if (big(cur) > big(max)) return -EINVAL;
    if (big(max) > big(oldMax)) return -EPERM;
    if (res === RLIMIT_NOFILE && big(max) > FD_LIMIT) return -EPERM;
    t.rlimits.set(res, [cur, max]);
  }
  return 0;
}

function sysGetrandom(c: Cpu, buf: number, len: number): number {
  if (len < 0) return -EINVAL;
  const n = Math.min(len, 33554431);
  c.m.writeBytes(buf, randomFillSync(new Uint8Array(n)));
  return n;
}

function sysPrctl(p: Process, c: Cpu, option: number, arg2: number): number {
  const PR_SET_PDEATHSIG = 1, PR_GET_DUMPABLE = 3, PR_SET_DUMPABLE = 4, PR_SET_NAME = 15, PR_GET_NAME = 16;
  switch (option) {
    case PR_SET_NAME:
      p.comm = c.m.readCString(arg2, 16).slice(0, 15);
      return 0;
    case PR_GET_NAME: {
      const b = new Uint8Array(16);
      b.set(Buffer.from(p.comm).subarray(0, 15));
      c.m.writeBytes(arg2, b);
      return 0;
    }
    case PR_SET_PDEATHSIG: case PR_SET_DUMPABLE: return 0;
    case PR_GET_DUMPABLE: return 1;
    default: return -EINVAL;
  }
}

function sysArchPrctl(c: Cpu, code: number, addr: number): number {
  const ARCH_SET_GS = 0x1001, ARCH_SET_FS = 0x1002, ARCH_GET_FS = 0x1003, ARCH_GET_GS = 0x1004;
  switch (code) {
    case ARCH_SET_FS: c.fsBase = addr; return 0;
    case ARCH_SET_GS: c.gsBase = addr; return 0;
    case ARCH_GET_FS: wrU64(c, addr, c.fsBase); return 0;
    case ARCH_GET_GS: wrU64(c, addr, c.gsBase); return 0;
    default: return -EINVAL; // CET and the rest: not available
  }
}

function sysSchedGetaffinity(c: Cpu, size: number, mask: number): number {
  if (size < 8 || size % 8 !== 0) return -EINVAL;
  const b = new Uint8Array(8);
  b[0] = 1; // one CPU
  c.m.writeBytes(mask, b);
  return 8;
}

function sysFutex(k: Kernel, p: Process, c: Cpu): number {
  const uaddr = num(c, A0), op = int(c, A1) & 0x7f, val = int(c, A2), tp = num(c, A3);
  const FUTEX_WAIT = 0, FUTEX_WAKE = 1, FUTEX_REQUEUE = 3, FUTEX_CMP_REQUEUE = 4, FUTEX_WAKE_OP = 5,
    FUTEX_WAIT_BITSET = 9, FUTEX_WAKE_BITSET = 10;
  switch (op) {
    case FUTEX_WAIT:
    case FUTEX_WAIT_BITSET: {
      if (p.restartDeadline === undefined) {
        if (uaddr % 4 !== 0) return -EINVAL;
        if (c.m.rd32(uaddr) !== val) return -EAGAIN;
        if (tp === 0) {
          // One thread per process: nothing can ever wake this waiter.
          k.kill(p, SIGKILL, `futex wait on ${uaddr.toString(16)} with no timeout and no other thread to wake it (deadlock)`);
          return NORETURN;
        }
        let ms = Number(timespecNs(c, tp)) / 1e6;
        if (op === FUTEX_WAIT_BITSET) ms -= Number((int(c, A1) & 256 ? realtimeBase + hrNow() : hrNow())) / 1e6;
        p.restartDeadline = performance.now() + Math.max(0, ms);
      }
      const dl = p.restartDeadline;
      if (performance.now() >= dl) {
        p.restartDeadline = undefined;
        return -ETIMEDOUT;
      }
      return k.block(p, () => performance.now() >= dl, dl, true);
    }
    case FUTEX_WAKE: case FUTEX_WAKE_BITSET: case FUTEX_WAKE_OP: case FUTEX_REQUEUE: case FUTEX_CMP_REQUEUE:
      return 0; // no other threads are waiting
    default:
      k.warnOnce(`futex${op}`, `tsxen-elf: ${p.comm}[${p.pid}]: futex operation ${op} is not supported`);
      return -ENOSYS;
  }
}
