// The user-mode runner's kernel: processes (fork, execve, exit, wait), signals (POSIX actions,
// handler frames as Linux builds them on x86-64, sigreturn) and a round-robin scheduler that
// interleaves the processes of a pipeline on the one host thread. System calls themselves are
// in syscalls.ts.
//
// There is one Cpu, switched between processes like a real one: a switch saves and restores
// the architectural state and points the TLB at the next address space. All processes share
// one RAM (address-space.ts), so a forked or exec'd busybox runs from the same frames as its
// parent and the decoded-code cache keeps serving it.
//
// A system call that has to wait (an empty pipe, wait4 with running children, nanosleep) marks
// its process Blocked with a wake-up test and rewinds RIP onto the SYSCALL instruction; when the
// test passes the scheduler resumes the process and the call runs again from the start. That is
// Linux's -ERESTARTSYS in miniature and keeps every call free of saved continuation state.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { getSystemErrorMap } from 'node:util';
import { Cpu, type CpuHooks } from '../cpu/cpu.js';
import { defaultCpuid } from '../cpu/cpuid.js';
import { CpuFault, UnimplementedInstruction, Vector, hex64 } from '../cpu/fault.js';
import { DF, TF, getFlags, setFlags } from '../cpu/flags.js';
import { Reg } from '../cpu/regs.js';
import { fxrstorImage, fxsaveImage } from '../cpu/ops/fxsave.js';
import { AddressSpace, ELF_ET_DYN_BASE, FramePool, OutOfMemory, pageUp } from './address-space.js';
import { ET_DYN, ElfError, buildStack, loadSegments, parseElf } from './elf.js';
import { BLOCKED, FdTable, hostErrno, type OpenFile } from './files.js';
import {
  EACCES, EFAULT, EINTR, ENOEXEC, ENOMEM, ELOOP, EINVAL, ENOSYS, NSIG,
  SIGALRM, SIGBUS, SIGCHLD, SIGCONT, SIGFPE, SIGILL, SIGKILL, SIGSEGV, SIGSTOP,
  SIGTRAP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGWINCH, signalName, syscallName,
} from './linux.js';
import {
  Process, type CpuState, SA_NOCLDWAIT, SA_NODEFER, SA_ONSTACK, SA_RESETHAND, SA_RESTART, SA_RESTORER, SIG_DFL,
  SIG_IGN, State, sigbit, type SigAction, type SigInfo,
} from './process.js';
import { dispatch } from './syscalls.js';

/** A handler that set the registers itself (exit, execve, rt_sigreturn, vfork's parent). */
export const NORETURN = -0x100001;

const SLICE = 500_000;
const DEFAULT_IGNORE = new Set([SIGCHLD, SIGURG, SIGWINCH, SIGCONT]);
const STOPPING = new Set([SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU]);
const UNBLOCKABLE = sigbit(SIGKILL) | sigbit(SIGSTOP);
const SI_USER = 0, SI_KERNEL = 0x80, CLD_EXITED = 1, CLD_KILLED = 2;
const CLONE_VM = 0x100, CLONE_VFORK = 0x4000, CLONE_PARENT = 0x8000, CLONE_THREAD = 0x10000, CLONE_SETTLS = 0x80000,
  CLONE_PARENT_SETTID = 0x100000, CLONE_CHILD_CLEARTID = 0x200000, CLONE_CHILD_SETTID = 0x1000000;

export interface KernelOptions {
  /** Bytes of guest RAM per process (frames are allocated inside it on demand). */
  ramSize: number;
  /** Descriptors 0, 1 and 2 of the first process. */
  stdio: [OpenFile, OpenFile, OpenFile];
  /** Where the runner's own messages go (faults, unknown system calls, deadlocks). */
  diagnostic: (msg: string) => void;
  /** Log every system call with its arguments and result, strace-style, as diagnostics. */
  trace?: boolean;
  /**
   * A program switched the host's terminal (an inherited tty) between canonical and raw
   * input (TCSETS without ICANON): the host applies it so line editors work.
   */
  onTermios?: (raw: boolean) => void;
}

/** Loaded program, ready to become a process image. */
interface Image {
  as: AddressSpace;
  entry: number;
  sp: number;
  exe: string;
}

export class Kernel {
  readonly procs = new Map<number, Process>();
  private nextPid = 1000;
  init: Process | undefined;
  /** The process whose state is in the CPU. */
  current: Process | undefined;
  readonly cpu: Cpu;
  readonly pool: FramePool;
  /** An empty space the CPU points at between processes. */
  private readonly idle: AddressSpace;
  /** A fresh CPU's state: what execve starts from. */
  private readonly pristine: CpuState;
  /** Instructions of processes that are gone. */
  private retired = 0;
  /** cpu.icount when the current process was switched in. */
  private icountIn = 0;
  private readonly warned = new Set<string>();
  readonly uid = process.getuid?.() ?? 0;
  readonly gid = process.getgid?.() ?? 0;

  constructor(readonly opts: KernelOptions) {
    // Page-map entries keep flags in the low bits of frame offsets handled as int32.
    if (opts.ramSize > 2 ** 31 - PAGE_SIZE || opts.ramSize < 16 * PAGE_SIZE) throw new RangeError(`guest RAM of ${opts.ramSize} bytes: must be 64 KiB to 2 GiB`);
    this.pool = new FramePool(new Uint8Array(opts.ramSize));
    const t0 = process.hrtime.bigint();
    const hooks: CpuHooks = {
      syscall: (c) => this.onSyscall(this.running(), c),
      fault: (c, f) => this.onFault(this.running(), c, f),
      cpuid: defaultCpuid,
      // A 1 GHz time-stamp counter from the host clock.
      rdtsc: () => Number(process.hrtime.bigint() - t0),
    };
    this.idle = new AddressSpace(this.pool);
    this.cpu = new Cpu(this.pool.ram, this.idle, hooks);
    this.pool.cpu = this.cpu;
    this.pristine = saveState(this.cpu);
  }

  private running(): Process {
    const p = this.current;
    if (!p) throw new Error('CPU event with no current process');
    return p;
  }

  /** Put `p` on the CPU (saving whoever was there). */
  switchTo(p: Process): void {
    if (this.current === p) return;
    this.switchOut();
    const c = this.cpu;
    restoreState(c, p.saved);
    c.m.translator = p.as;
    c.m.flush();
    this.current = p;
    this.icountIn = c.icount;
  }

  private switchOut(): void {
    const q = this.current;
    if (!q) return;
    q.instructions += this.cpu.icount - this.icountIn;
    this.icountIn = this.cpu.icount;
    if (q.state !== State.Zombie) q.saved = saveState(this.cpu);
    this.current = undefined;
  }

  diag(msg: string): void {
    this.opts.diagnostic(msg);
  }

  /** A warning printed once per distinct key. */
  warnOnce(key: string, msg: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.diag(msg);
  }

  get instructions(): number {
    let n = this.retired;
    for (const p of this.procs.values()) n += p.instructions;
    if (this.current) n += this.cpu.icount - this.icountIn;
    return n;
  }

  // ---- process creation ----

  /** The first process: `hostPath` with argv/envp, stdio from the options. */
  spawn(hostPath: string, argv: string[], envp: string[], cwd: string, execfn = hostPath): Process {
    const img = this.load(hostPath, argv, envp, execfn, cwd, 0);
    if (typeof img === 'number') throw new ElfError(`${hostPath}: cannot execute (${errnoText(img)})`);
    const fds = new FdTable();
    for (const f of this.opts.stdio) fds.add(f, false);
    const p = new Process(this.nextPid++, img.as, fds, cwd, this.pristine);
    this.procs.set(p.pid, p);
    this.init = p;
    this.switchTo(p);
    this.startImage(p, img, argv[0] ?? hostPath);
    return p;
  }

  /** The current process starts `img` with fresh registers. */
  private startImage(p: Process, img: Image, comm: string): void {
    const c = this.cpu;
    restoreState(c, this.pristine);
    c.m.translator = img.as;
    c.m.flush();
    c.setRegNum(Reg.RSP, img.sp);
    c.rip = img.entry;
    p.as = img.as;
    p.exe = img.exe;
    p.comm = path.basename(comm).slice(0, 15);
  }

  /**
   * Read and map a program (following #! up to 4 levels, like binfmt_script); an errno
   * (positive) when it cannot be executed.
   */
  private load(hostPath: string, argv: string[], envp: string[], execfn: string, cwd: string, depth: number): Image | number {
    let data: Buffer;
    let key: string;
    try {
      const st = fs.statSync(hostPath, { bigint: true });
      if (!st.isFile()) return EACCES;
      fs.accessSync(hostPath, fs.constants.X_OK);
      data = fs.readFileSync(hostPath);
      key = fileKey(st);
    } catch (e) {
      return hostErrno(e);
    }
    if (data[0] === 0x23 && data[1] === 0x21) {
      if (depth >= 4) return ELOOP;
      const line = data.subarray(2, Math.min(data.length, 256)).toString('latin1').split('\n')[0].trim();
      const m = /^(\S+)(?:\s+(.*))?$/.exec(line);
      if (!m) return ENOEXEC;
      const interp = m[1];
      const args = [interp, ...(m[2] !== undefined ? [m[2].trim()] : []), execfn, ...argv.slice(1)];
      return this.load(this.hostPathFor(interp, cwd), args, envp, execfn, cwd, depth + 1);
    }
    const as = new AddressSpace(this.pool);
    try {
      const elf = parseElf(data, hostPath);
      const main = loadSegments(as, data, key, elf, hostPath, elf.type === ET_DYN && elf.interp ? ELF_ET_DYN_BASE : undefined);
      let entry = main.entry, interpBase = 0;
      if (elf.interp !== undefined) {
        const ipath = this.hostPathFor(elf.interp, cwd);
        let idata: Buffer, ikey: string;
        try {
          idata = fs.readFileSync(ipath);
          ikey = fileKey(fs.statSync(ipath, { bigint: true }));
        } catch (e) {
          as.release();
          return hostErrno(e);
        }
        const ielf = parseElf(idata, ipath);
        if (ielf.interp !== undefined) {
          as.release();
          return ELOOP;
        }
        const il = loadSegments(as, idata, ikey, ielf, ipath);
        interpBase = il.bias;
        entry = il.entry;
      }
      // Static PIE: brk moves to ELF_ET_DYN_BASE (binfmt_elf.c, "brk" handling).
      const brk = pageUp(elf.type === ET_DYN && elf.interp === undefined ? ELF_ET_DYN_BASE : main.end);
      as.brkStart = as.brk = brk;
      const sp = buildStack(as, elf, main, interpBase, {
        argv, envp, execfn, uid: this.uid, euid: this.uid, gid: this.gid, egid: this.gid,
      });
      let exe = hostPath;
      try {
        exe = fs.realpathSync(hostPath);
      } catch {
        // keep the path as given
      }
      return { as, entry, sp, exe };
    } catch (e) {
      as.release();
      if (e instanceof ElfError) {
        this.diag(`tsxen-elf: ${e.message}`);
        return ENOEXEC;
      }
      if (e instanceof OutOfMemory) return ENOMEM;
      throw e;
    }
  }

  /** The host path a guest path names: what /proc/self/exe means is per process. */
  hostPathFor(guestPath: string, cwd: string, p?: Process): string {
    if (p && (guestPath === '/proc/self/exe' || guestPath === `/proc/${p.pid}/exe`)) return p.exe;
    return guestPath.startsWith('/') ? guestPath : cwd + '/' + guestPath;
  }

  /** execve: on success the process runs the new image (NORETURN); else -errno. */
  execve(p: Process, guestPath: string, argv: string[], envp: string[], hostPath: string): number {
    const img = this.load(hostPath, argv, envp, guestPath, p.cwd, 0);
    if (typeof img === 'number') return -img;
    this.cpu.stop = true; // the old image's block ends here
    // A vfork child gives its parent's memory back; anyone else's old image goes away.
    if (!p.vforkShared) p.as.release();
    p.vforkShared = false;
    this.startImage(p, img, guestPath);
    p.fds.closeOnExec();
    // Caught signals revert to their defaults; ignored ones stay ignored (execve(2)).
    for (const a of p.sigactions) {
      if (a.handler !== SIG_IGN) {
        a.handler = SIG_DFL;
        a.flags = 0;
        a.restorer = 0;
        a.mask = 0n;
      }
    }
    p.altStack = { sp: 0, size: 0, flags: 2 };
    p.clearChildTid = 0;
    p.vforkDone = true;
    return NORETURN;
  }

  /** fork, vfork and clone: the child gets a copy of the whole process. */
  clone(p: Process, flags: number, newSp: number, ptid: number, ctid: number, tls: number): number {
    if (flags & CLONE_THREAD || ((flags & CLONE_VM) && !(flags & CLONE_VFORK))) {
      this.diag(`tsxen-elf: ${p.comm}[${p.pid}]: clone flags 0x${(flags >>> 0).toString(16)} ask for threads, which the runner does not support`);
      return -ENOSYS;
    }
    // Without threads, sharing the cwd, descriptor table or handlers (CLONE_FS, CLONE_FILES,
    // CLONE_SIGHAND) only matters to a vfork child, which execs or exits before the parent
    // runs again: copies behave the same.
    if (flags & CLONE_PARENT) {
      this.diag(`tsxen-elf: ${p.comm}[${p.pid}]: CLONE_PARENT is not supported`);
      return -EINVAL;
    }
    const pid = this.nextPid++;
    const c = this.cpu;
    // A vfork child borrows the parent's memory until it execs or exits (the parent waits);
    // a fork child shares every page copy-on-write.
    const shared = (flags & CLONE_VM) !== 0;
    const as = shared ? p.as : p.as.clone();
    // The child's registers: the parent's, with RAX = 0 and the requested stack and TLS.
    const parentState = saveState(c);
    c.setRegNum(Reg.RAX, 0);
    if (newSp !== 0) c.setRegNum(Reg.RSP, newSp);
    if (flags & CLONE_SETTLS) c.fsBase = tls;
    const childState = saveState(c);
    restoreState(c, parentState);
    const child = new Process(pid, as, p.fds.clone(), p.cwd, childState);
    child.vforkShared = shared;
    child.pgid = p.pgid;
    child.sid = p.sid;
    child.umask = p.umask;
    child.exe = p.exe;
    child.comm = p.comm;
    p.sigactions.forEach((a, k) => Object.assign(child.sigactions[k], a));
    child.sigmask = p.sigmask;
    child.altStack = { ...p.altStack };
    for (const [k, v] of p.rlimits) child.rlimits.set(k, v);
    child.parent = p;
    p.children.add(child);
    this.procs.set(pid, child);
    try {
      if (flags & CLONE_PARENT_SETTID) c.m.wr32(ptid, pid);
      if (flags & CLONE_CHILD_SETTID) {
        // Written in the child's memory: through its space for a moment.
        c.m.translator = as;
        c.m.flush();
        try {
          c.m.wr32(ctid, pid);
        } finally {
          c.m.translator = p.as;
          c.m.flush();
        }
      }
    } catch (e) {
      if (!(e instanceof CpuFault)) throw e;
    }
    if (flags & CLONE_CHILD_CLEARTID) child.clearChildTid = ctid;
    if (flags & CLONE_VFORK) {
      c.setRegNum(Reg.RAX, pid);
      this.suspend(p, () => child.vforkDone);
      return NORETURN;
    }
    return pid;
  }

  // ---- blocking ----

  /** Make the current system call wait and run again once `wake` says so (returns BLOCKED). */
  block(p: Process, wake: () => boolean, deadline?: number, restartable = true): number {
    p.blockedIn = this.cpu.lo[Reg.RAX];
    p.state = State.Blocked;
    p.wake = wake;
    p.deadline = deadline;
    p.restartable = restartable;
    p.resumes = false;
    return BLOCKED;
  }

  /** Stop the process with its system call complete (RAX set) until `wake` says so. */
  suspend(p: Process, wake: () => boolean): void {
    p.state = State.Blocked;
    p.wake = wake;
    p.deadline = undefined;
    p.restartable = false;
    p.resumes = true;
    this.cpu.stop = true;
  }

  // ---- CPU events ----

  private onSyscall(p: Process, c: Cpu): void {
    const nr = c.lo[Reg.RAX];
    let r: number;
    try {
      r = dispatch(this, p, c, nr);
    } catch (e) {
      if (e instanceof OutOfMemory) {
        this.kill(p, SIGKILL, `${e.message} during system call ${nr}`);
        return;
      }
      if (e instanceof CpuFault) r = -EFAULT;
      else {
        const msg = e instanceof Error ? e.stack ?? e.message : String(e);
        this.kill(p, SIGKILL, `internal error in system call ${nr}: ${msg}`);
        return;
      }
    }
    if (this.opts.trace) this.traceCall(p, c, nr, r);
    if (r === BLOCKED) {
      c.rip -= 2; // back onto SYSCALL (0F 05): it runs again when woken
      c.stop = true;
      return;
    }
    if (r !== NORETURN) c.setRegNum(Reg.RAX, r);
    // ppoll/pselect6/sigsuspend's temporary mask ends with the call unless a handler ran
    // (then the frame carries the caller's mask back).
    if (p.suspendMask !== undefined) {
      p.sigmask = p.suspendMask;
      p.suspendMask = undefined;
    }
    if (p.state === State.Running && this.current === p && (p.pending & ~p.sigmask) !== 0n) this.deliverPending(p);
  }

  private traceCall(p: Process, c: Cpu, nr: number, r: number): void {
    const args = [Reg.RDI, Reg.RSI, Reg.RDX, Reg.R10, Reg.R8, Reg.R9].map((x) => {
      const v = c.getReg64(x);
      return v > 0xffffn || v < 0n ? '0x' + BigInt.asUintN(64, v).toString(16) : v.toString();
    });
    const res = r === BLOCKED ? '? (blocked)' : r === NORETURN ? '?' : r < 0 && r > -4096 ? `-1 errno ${-r}` : r > 0xffff ? '0x' + r.toString(16) : String(r);
    this.diag(`[${p.pid}] ${syscallName(nr)}(${args.join(', ')}) = ${res}`);
  }

  private onFault(p: Process, c: Cpu, f: CpuFault): void {
    c.stop = true;
    if (f instanceof OutOfMemory) {
      this.kill(p, SIGKILL, f.message);
      return;
    }
    const { sig, code } = faultSignal(f);
    const info: SigInfo = { signo: sig, code, addr: f.vector === Vector.PF ? f.address : f.vector === Vector.BP ? 0 : c.rip, trapno: f.vector, err: f.errorCode };
    const act = p.sigactions[sig];
    const where = `at rip ${hex64(c.rip)}`;
    if (act.handler !== SIG_DFL && act.handler !== SIG_IGN && (p.sigmask & sigbit(sig)) === 0n) {
      if (f instanceof UnimplementedInstruction) this.diag(`tsxen-elf: ${p.comm}[${p.pid}]: ${f.message}; delivering ${signalName(sig)} to its handler`);
      if (!this.setupFrame(p, sig, act, info)) this.kill(p, SIGSEGV, `cannot build a signal frame for ${signalName(sig)} (${f.message})`);
      c.stop = false;
      return;
    }
    // A blocked or ignored synchronous signal cannot be held off: it kills (force_sig_fault).
    this.kill(p, sig, f instanceof UnimplementedInstruction ? f.message : `${f.message} ${where}`);
  }

  // ---- exit and wait ----

  /** Terminate by signal, with a message naming the cause (stderr of the runner). */
  kill(p: Process, sig: number, why?: string): void {
    if (p.state === State.Zombie) return;
    if (why !== undefined) this.diag(`tsxen-elf: ${p.comm}[${p.pid}]: killed by ${signalName(sig)}: ${why}`);
    this.exit(p, 0, sig);
  }

  exit(p: Process, code: number, sig = 0): void {
    if (p.state === State.Zombie) return;
    p.state = State.Zombie;
    p.wake = undefined;
    p.termSignal = sig;
    p.exitCode = code & 0xff;
    p.waitStatus = sig ? sig & 0x7f : (code & 0xff) << 8;
    if (this.current === p) {
      this.cpu.stop = true;
      this.switchOut();
      // Nothing may keep translating through a space that is going away.
      this.cpu.m.translator = this.idle;
      this.cpu.m.flush();
    }
    if (!p.vforkShared) p.as.release();
    p.fds.closeAll();
    p.vforkDone = true;
    p.alarmAt = undefined;
    for (const ch of p.children) {
      ch.parent = undefined;
      if (ch.state === State.Zombie) this.reap(ch);
    }
    p.children.clear();
    const parent = p.parent;
    if (parent && parent.state !== State.Zombie) {
      const act = parent.sigactions[SIGCHLD];
      if (act.handler === SIG_IGN || act.flags & SA_NOCLDWAIT) this.reap(p);
      this.post(parent, SIGCHLD, { signo: SIGCHLD, code: sig ? CLD_KILLED : CLD_EXITED, pid: p.pid, uid: this.uid, status: sig || code & 0xff });
    } else if (p !== this.init) {
      this.reap(p);
    }
  }

  reap(p: Process): void {
    this.retired += p.instructions;
    p.parent?.children.delete(p);
    this.procs.delete(p.pid);
  }

  // ---- signals ----

  private ignored(p: Process, sig: number): boolean {
    const h = p.sigactions[sig].handler;
    return h === SIG_IGN || (h === SIG_DFL && DEFAULT_IGNORE.has(sig));
  }

  /** Send a signal (kill, SIGPIPE, SIGCHLD, alarms). */
  post(p: Process, sig: number, info?: SigInfo): void {
    if (p.state === State.Zombie || sig <= 0 || sig > NSIG) return;
    if (sig === SIGKILL) {
      this.exit(p, 0, SIGKILL);
      return;
    }
    const bit = sigbit(sig);
    if ((p.sigmask & bit) === 0n && this.ignored(p, sig)) return;
    p.pending |= bit;
    p.pendingInfo.set(sig, info ?? { signo: sig, code: SI_USER, pid: 0, uid: this.uid });
  }

  /** Run (or act on) every deliverable pending signal. */
  deliverPending(p: Process): void {
    while (p.state === State.Running) {
      const ready = p.pending & ~p.sigmask;
      if (ready === 0n) return;
      const sig = lowestSignal(ready);
      p.pending &= ~sigbit(sig);
      const info = p.pendingInfo.get(sig) ?? { signo: sig, code: SI_USER };
      p.pendingInfo.delete(sig);
      const act = p.sigactions[sig];
      if (act.handler === SIG_IGN) continue;
      if (act.handler === SIG_DFL) {
        if (DEFAULT_IGNORE.has(sig)) continue;
        if (STOPPING.has(sig)) {
          this.warnOnce(`stop${sig}`, `tsxen-elf: ${p.comm}[${p.pid}]: ${signalName(sig)} would stop the process; job control is not supported, ignored`);
          continue;
        }
        this.exit(p, 0, sig);
        return;
      }
      if (!this.setupFrame(p, sig, act, info)) {
        this.kill(p, SIGSEGV, `cannot build a signal frame for ${signalName(sig)}`);
        return;
      }
    }
  }

  /** A blocked process got a signal: end or restart its system call, then deliver. */
  private interrupt(p: Process): boolean {
    // Pending signals that are ignored now are dropped without waking the process.
    let ready = p.pending & ~p.sigmask;
    for (let s = 1; ready !== 0n && s <= NSIG; s++) {
      if ((ready & sigbit(s)) !== 0n && this.ignored(p, s)) {
        p.pending &= ~sigbit(s);
        p.pendingInfo.delete(s);
      }
    }
    ready = p.pending & ~p.sigmask;
    if (ready === 0n) return false;
    if (p.resumes) return false; // vfork's parent: not interruptible
    const act = p.sigactions[lowestSignal(ready)];
    this.switchTo(p);
    const c = this.cpu;
    if (p.partial !== undefined) {
      // A write interrupted after some bytes returns that count (pipe_write).
      c.rip += 2;
      c.setRegNum(Reg.RAX, p.partial);
      p.partial = undefined;
    } else if (act.handler === SIG_DFL || !(p.restartable && act.flags & SA_RESTART)) {
      c.rip += 2;
      c.setRegNum(Reg.RAX, -EINTR);
    }
    p.state = State.Running;
    p.wake = undefined;
    p.deadline = undefined;
    p.restartDeadline = undefined;
    this.deliverPending(p);
    return true;
  }

  /** Build struct rt_sigframe on the user stack (arch/x86/kernel/signal.c) and enter the handler. */
  private setupFrame(p: Process, sig: number, act: SigAction, info: SigInfo): boolean {
    const c = this.cpu;
    if (!(act.flags & SA_RESTORER)) return false; // x86-64 has no default restorer
    const rsp = c.getRegNum(Reg.RSP);
    let sp = rsp - 128; // red zone
    const alt = p.altStack;
    const onAlt = alt.size > 0 && rsp > alt.sp && rsp - alt.sp <= alt.size;
    if (act.flags & SA_ONSTACK && !(alt.flags & 2) && !onAlt) sp = alt.sp + alt.size;
    sp = Math.floor((sp - 512) / 64) * 64;
    const fpAddr = sp;
    const frame = Math.floor((sp - 440) / 16) * 16 - 8;
    const f = new Uint8Array(440);
    const dv = new DataView(f.buffer);
    const q = (o: number, v: number | bigint) => dv.setBigUint64(o, BigInt.asUintN(64, typeof v === 'bigint' ? v : BigInt(v)), true);
    const reg = (r: number) => c.getReg64(r);
    q(0, act.restorer);
    q(8, 0x6); // uc_flags: UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS
    q(24, alt.sp);
    dv.setInt32(32, onAlt ? 1 : alt.flags, true);
    q(40, alt.size);
    const sc = 48;
    const order = [Reg.R8, Reg.R9, Reg.R10, Reg.R11, Reg.R12, Reg.R13, Reg.R14, Reg.R15, Reg.RDI, Reg.RSI, Reg.RBP, Reg.RBX, Reg.RDX, Reg.RAX, Reg.RCX, Reg.RSP];
    order.forEach((r, k) => q(sc + k * 8, reg(r)));
    q(sc + 128, c.rip);
    q(sc + 136, getFlags(c));
    dv.setUint16(sc + 144, 0x33, true); // cs
    dv.setUint16(sc + 150, 0x2b, true); // ss
    q(sc + 152, info.err ?? 0);
    q(sc + 160, info.trapno ?? 0);
    const saved = p.suspendMask ?? p.sigmask;
    q(sc + 168, saved & 0xffffffffffffffffn);
    q(sc + 176, info.trapno === Vector.PF ? info.addr ?? 0 : 0);
    q(sc + 184, fpAddr);
    q(304, saved);
    // siginfo
    const si = 312;
    dv.setInt32(si, sig, true);
    dv.setInt32(si + 8, info.code, true);
    if (sig === SIGSEGV || sig === SIGBUS || sig === SIGILL || sig === SIGFPE || sig === SIGTRAP) {
      if (info.addr !== undefined) q(si + 16, info.addr);
    } else {
      dv.setInt32(si + 16, info.pid ?? 0, true);
      dv.setUint32(si + 20, info.uid ?? 0, true);
      if (sig === SIGCHLD) dv.setInt32(si + 24, info.status ?? 0, true);
    }
    try {
      const fx = new Uint8Array(512);
      fxsaveImage(c, fx);
      c.m.writeBytes(fpAddr, fx);
      c.m.writeBytes(frame, f);
    } catch (e) {
      if (e instanceof CpuFault) return false;
      throw e;
    }
    p.suspendMask = undefined;
    p.sigmask = (p.sigmask | act.mask | (act.flags & SA_NODEFER ? 0n : sigbit(sig))) & ~UNBLOCKABLE;
    if (act.flags & SA_RESETHAND) {
      act.handler = SIG_DFL;
      act.flags &= ~SA_RESETHAND;
    }
    c.setRegNum(Reg.RDI, sig);
    c.setRegNum(Reg.RSI, frame + si);
    c.setRegNum(Reg.RDX, frame + 8);
    c.setRegNum(Reg.RAX, 0);
    c.setRegNum(Reg.RSP, frame);
    c.rip = act.handler;
    setFlags(c, getFlags(c) & ~(DF | TF | 0x10000));
    return true;
  }

  /** rt_sigreturn: restore what setupFrame saved (the handler's RET popped pretcode). */
  sigreturn(p: Process): number {
    const c = this.cpu;
    const frame = c.getRegNum(Reg.RSP) - 8;
    let f: Uint8Array;
    try {
      f = c.m.readBytes(frame, 440);
    } catch (e) {
      if (!(e instanceof CpuFault)) throw e;
      this.kill(p, SIGSEGV, `bad signal frame at ${hex64(frame)}`);
      return NORETURN;
    }
    const dv = new DataView(f.buffer);
    const g = (o: number) => dv.getBigUint64(o, true);
    const sc = 48;
    const order = [Reg.R8, Reg.R9, Reg.R10, Reg.R11, Reg.R12, Reg.R13, Reg.R14, Reg.R15, Reg.RDI, Reg.RSI, Reg.RBP, Reg.RBX, Reg.RDX, Reg.RAX, Reg.RCX, Reg.RSP];
    order.forEach((r, k) => c.setReg64(r, g(sc + k * 8)));
    c.rip = Number(BigInt.asIntN(64, g(sc + 128)));
    // FIX_EFLAGS: the bits user code may change.
    const FIX = 0x40000 | 0x800 | 0x400 | 0x100 | 0x80 | 0x40 | 0x10 | 0x4 | 0x1 | 0x10000;
    const fl = Number(g(sc + 136) & 0xffffffffn);
    setFlags(c, (getFlags(c) & ~FIX) | (fl & FIX));
    p.sigmask = g(304) & ~UNBLOCKABLE;
    const fp = Number(g(sc + 184));
    if (fp !== 0) {
      try {
        fxrstorImage(c, c.m.readBytes(fp, 512));
      } catch (e) {
        if (!(e instanceof CpuFault)) throw e;
        this.kill(p, SIGSEGV, `bad FPU state in signal frame at ${hex64(fp)}`);
      }
    }
    return NORETURN;
  }

  // ---- scheduler ----

  /** Run until the first process exits. */
  async run(): Promise<void> {
    const init = this.init;
    if (!init) throw new Error('no process to run');
    let lastYield = performance.now();
    const over = (): boolean => init.state === State.Zombie; // re-read: calls below change it
    while (!over()) {
      let ran = false;
      for (const p of Array.from(this.procs.values())) {
        if (p.state === State.Zombie) continue;
        const now = performance.now();
        if (p.alarmAt !== undefined && now >= p.alarmAt) {
          p.alarmAt = p.alarmInterval > 0 ? now + p.alarmInterval : undefined;
          this.post(p, SIGALRM, { signo: SIGALRM, code: SI_KERNEL });
        }
        if (p.state === State.Blocked) {
          if ((p.pending & ~p.sigmask) !== 0n && this.interrupt(p)) {
            // woken by a signal
          } else if (p.wake?.()) {
            p.state = State.Running;
            p.wake = undefined;
            p.deadline = undefined;
          } else continue;
        }
        this.switchTo(p);
        this.deliverPending(p);
        if (p.state !== State.Running) continue;
        this.cpu.run(SLICE);
        ran = true;
        if (over()) break;
      }
      if (over()) break;
      if (!ran) {
        let wakeAt = Infinity;
        for (const p of this.procs.values()) {
          if (p.state === State.Blocked && p.deadline !== undefined) wakeAt = Math.min(wakeAt, p.deadline);
          if (p.state !== State.Zombie && p.alarmAt !== undefined) wakeAt = Math.min(wakeAt, p.alarmAt);
        }
        if (wakeAt === Infinity) {
          this.deadlock();
          break;
        }
        await sleep(Math.max(0, wakeAt - performance.now()));
        lastYield = performance.now();
      } else if (performance.now() - lastYield > 25) {
        // Let the host's event loop breathe (timers, test runners) between slices.
        await new Promise<void>((r) => setImmediate(r));
        lastYield = performance.now();
      }
    }
    // The first process is gone: what is left would be orphans of a closed session.
    for (const p of Array.from(this.procs.values())) if (p !== init && p.state !== State.Zombie) this.exit(p, 0, SIGKILL);
  }

  private deadlock(): void {
    const waiting = Array.from(this.procs.values())
      .filter((p) => p.state === State.Blocked)
      .map((p) => `${p.comm}[${p.pid}] in ${p.resumes ? 'vfork' : syscallName(p.blockedIn)}`);
    this.diag(`tsxen-elf: deadlock: every process waits and nothing can wake them (${waiting.join(', ')}); killing them`);
    for (const p of Array.from(this.procs.values())) if (p.state !== State.Zombie) this.exit(p, 0, SIGKILL);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.min(ms, 2_147_000_000)));
}

function lowestSignal(set: bigint): number {
  for (let s = 1; s <= NSIG; s++) if ((set & sigbit(s)) !== 0n) return s;
  return 0;
}

/** The signal Linux sends for a CPU exception (arch/x86/kernel/traps.c) and its si_code. */
function faultSignal(f: CpuFault): { sig: number; code: number } {
  switch (f.vector) {
    case Vector.DE: return { sig: SIGFPE, code: 1 }; // FPE_INTDIV
    case Vector.DB: case Vector.BP: return { sig: SIGTRAP, code: Vector.BP === f.vector ? SI_KERNEL : 1 };
    case Vector.UD: return { sig: SIGILL, code: 2 }; // ILL_ILLOPN
    case Vector.NM: return { sig: SIGILL, code: 2 };
    case Vector.MF: case Vector.XM: return { sig: SIGFPE, code: 0 };
    case Vector.PF: return { sig: SIGSEGV, code: f.errorCode & 1 ? 2 : 1 }; // SEGV_ACCERR / SEGV_MAPERR
    default: return { sig: SIGSEGV, code: SI_KERNEL }; // #GP and the rest
  }
}

/**
 * The architectural state of the CPU, generically over its fields so that state added to Cpu
 * later (FPU images and the like) is carried too; the machinery (memory, hooks, code cache,
 * counters) is not state. Only numbers, booleans and typed arrays are copied.
 */
const NOT_STATE = new Set(['m', 'hooks', 'icount', 'stop', 'blockTable', 'frameBlocks']);
type TypedArray = Int32Array | Uint8Array | Uint16Array | Float64Array | Float32Array;

export function saveState(c: Cpu): CpuState {
  const s: CpuState = {};
  const src = c as unknown as Record<string, unknown>;
  for (const k of Object.keys(src)) {
    if (NOT_STATE.has(k)) continue;
    const v = src[k];
    if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') s[k] = v;
    else if (ArrayBuffer.isView(v) && !(v instanceof DataView)) s[k] = (v as TypedArray).slice();
  }
  return s;
}

export function restoreState(c: Cpu, s: CpuState): void {
  const dst = c as unknown as Record<string, unknown>;
  for (const k of Object.keys(s)) {
    const v = s[k];
    if (ArrayBuffer.isView(v)) (dst[k] as TypedArray).set(v as TypedArray);
    else dst[k] = v;
  }
}

/** Identity of a file's contents for the page cache. */
function fileKey(st: fs.BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.mtimeNs}:${st.size}`;
}

const PAGE_SIZE = 4096;

/** "No such file or directory" and the like, for messages about a program that cannot run. */
export function errnoText(e: number): string {
  const m = getSystemErrorMap().get(-e)?.[1];
  return m ? m.charAt(0).toUpperCase() + m.slice(1) : `errno ${e}`;
}
