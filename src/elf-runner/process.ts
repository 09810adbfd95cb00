// A guest process of the user-mode runner: one CPU (single-threaded), its address space, its
// descriptor table and the Linux per-process state the system calls read and change.

import type { AddressSpace } from './address-space.js';
import type { FdTable } from './files.js';
import { NSIG } from './linux.js';

export const SIG_DFL = 0, SIG_IGN = 1;
export const SA_NOCLDSTOP = 1, SA_NOCLDWAIT = 2, SA_SIGINFO = 4, SA_ONSTACK = 0x08000000,
  SA_RESTART = 0x10000000, SA_NODEFER = 0x40000000, SA_RESETHAND = 0x80000000, SA_RESTORER = 0x04000000;

export interface SigAction {
  handler: number;
  flags: number;
  restorer: number;
  mask: bigint;
}

export interface SigInfo {
  signo: number;
  code: number;
  /** si_pid/si_uid for kill-like signals, si_addr for faults, status for SIGCHLD. */
  pid?: number;
  uid?: number;
  addr?: number;
  status?: number;
  /** Fault details for the signal frame's sigcontext (trapno, err, cr2). */
  trapno?: number;
  err?: number;
}

export const enum State {
  Running,
  Blocked,
  Zombie,
}

export function sigbit(sig: number): bigint {
  return 1n << BigInt(sig - 1);
}

export const RLIM_INFINITY = -1; // all ones as a 64-bit value

export class Process {
  pgid: number;
  sid: number;
  parent: Process | undefined;
  readonly children = new Set<Process>();
  state = State.Running;
  /** While Blocked: true when the system call can be retried. */
  wake: (() => boolean) | undefined;
  /** While Blocked: a signal handler may restart the call (SA_RESTART); false for sleeps. */
  restartable = true;
  /** While Blocked: the call already completed (vfork's parent), so wake without re-running it. */
  resumes = false;
  /** While Blocked with a timeout: performance.now() value to wake at. */
  deadline: number | undefined;
  /** Bytes a blocking write has already written, kept while it is retried. */
  partial: number | undefined;
  /** A sleeping system call's deadline, kept while it is retried. */
  restartDeadline: number | undefined;
  /** Wait status (as wait4 reports it) once a zombie. */
  waitStatus = 0;
  /** Killed by this signal (0 = exited). */
  termSignal = 0;
  exitCode = 0;

  cwd: string;
  umask = 0o022;
  exe = '';
  comm = '';
  readonly sigactions: SigAction[] = Array.from({ length: NSIG + 1 }, () => ({ handler: SIG_DFL, flags: 0, restorer: 0, mask: 0n }));
  sigmask = 0n;
  pending = 0n;
  /** Details of pending signals that carry them (faults, SIGCHLD, kill's sender). */
  readonly pendingInfo = new Map<number, SigInfo>();
  /** rt_sigsuspend's caller mask, restored by the handler's sigreturn. */
  suspendMask: bigint | undefined;
  altStack = { sp: 0, size: 0, flags: 2 /* SS_DISABLE */ };
  /** set_tid_address / CLONE_CHILD_CLEARTID. */
  clearChildTid = 0;
  /** vfork: the parent waits until this child has exec'd or exited. */
  vforkDone = false;
  /** A vfork child still running in its parent's address space. */
  vforkShared = false;
  /** ITIMER_REAL / alarm: performance.now() of the next SIGALRM, and its interval (ms). */
  alarmAt: number | undefined;
  alarmInterval = 0;
  readonly rlimits = new Map<number, [number, number]>();
  /** Process start (performance.now()) for times() and the CPU-time clocks. */
  readonly startedAt = performance.now();
  /** Instructions retired while this process was on the CPU (up to its last switch-out). */
  instructions = 0;
  /** Register state while off the CPU. */
  saved: CpuState;
  /** The system call a Blocked process waits in (for diagnostics). */
  blockedIn = 0;

  constructor(
    readonly pid: number,
    public as: AddressSpace,
    public fds: FdTable,
    cwd: string,
    state: CpuState,
  ) {
    this.pgid = pid;
    this.sid = pid;
    this.cwd = cwd;
    this.saved = state;
  }
}

/** A snapshot of the CPU's architectural state (registers, flags, FPU/SSE, segment bases). */
export type CpuState = Record<string, unknown>;
