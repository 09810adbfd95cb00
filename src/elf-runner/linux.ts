// Linux x86-64 user ABI numbers the runner needs: errno values, signals, open/mmap flags and
// the system-call names (from arch/x86/entry/syscalls/syscall_64.tbl in Linux 6.1, used only
// to name unknown calls in warnings).

export const EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, EIO = 5, ENXIO = 6, E2BIG = 7,
  ENOEXEC = 8, EBADF = 9, ECHILD = 10, EAGAIN = 11, ENOMEM = 12, EACCES = 13, EFAULT = 14,
  EBUSY = 16, EEXIST = 17, EXDEV = 18, ENODEV = 19, ENOTDIR = 20, EISDIR = 21, EINVAL = 22,
  EMFILE = 24, ENOTTY = 25, EFBIG = 27, ENOSPC = 28, ESPIPE = 29, EROFS = 30, EPIPE = 32,
  ERANGE = 34, EDEADLK = 35, ENAMETOOLONG = 36, ENOSYS = 38, ENOTEMPTY = 39, ELOOP = 40,
  EOVERFLOW = 75, ENOTSOCK = 88, EOPNOTSUPP = 95, ETIMEDOUT = 110;

export const SIGHUP = 1, SIGINT = 2, SIGQUIT = 3, SIGILL = 4, SIGTRAP = 5, SIGABRT = 6,
  SIGBUS = 7, SIGFPE = 8, SIGKILL = 9, SIGUSR1 = 10, SIGSEGV = 11, SIGUSR2 = 12, SIGPIPE = 13,
  SIGALRM = 14, SIGTERM = 15, SIGSTKFLT = 16, SIGCHLD = 17, SIGCONT = 18, SIGSTOP = 19,
  SIGTSTP = 20, SIGTTIN = 21, SIGTTOU = 22, SIGURG = 23, SIGXCPU = 24, SIGXFSZ = 25,
  SIGVTALRM = 26, SIGPROF = 27, SIGWINCH = 28, SIGIO = 29, SIGPWR = 30, SIGSYS = 31;
export const NSIG = 64;

const SIGNAMES = [
  '', 'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE',
  'SIGKILL', 'SIGUSR1', 'SIGSEGV', 'SIGUSR2', 'SIGPIPE', 'SIGALRM', 'SIGTERM', 'SIGSTKFLT',
  'SIGCHLD', 'SIGCONT', 'SIGSTOP', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU', 'SIGURG', 'SIGXCPU',
  'SIGXFSZ', 'SIGVTALRM', 'SIGPROF', 'SIGWINCH', 'SIGIO', 'SIGPWR', 'SIGSYS',
];

export function signalName(n: number): string {
  return SIGNAMES[n] ?? `SIGRT${n - 32}`;
}

// open(2) flags (asm-generic/fcntl.h as used by x86-64).
export const O_ACCMODE = 3, O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40,
  O_EXCL = 0x80, O_NOCTTY = 0x100, O_TRUNC = 0x200, O_APPEND = 0x400, O_NONBLOCK = 0x800,
  O_DIRECTORY = 0x10000, O_NOFOLLOW = 0x20000, O_CLOEXEC = 0x80000, O_PATH = 0x200000;
export const AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200,
  AT_EMPTY_PATH = 0x1000;

export const PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4;
export const MAP_SHARED = 1, MAP_PRIVATE = 2, MAP_FIXED = 0x10, MAP_ANONYMOUS = 0x20,
  MAP_GROWSDOWN = 0x100, MAP_FIXED_NOREPLACE = 0x100000;

// File types in st_mode.
export const S_IFMT = 0o170000, S_IFIFO = 0o010000, S_IFCHR = 0o020000, S_IFDIR = 0o040000,
  S_IFREG = 0o100000, S_IFLNK = 0o120000;

const SYSCALL_NAMES = (
  'read write open close stat fstat lstat poll lseek mmap mprotect munmap brk rt_sigaction ' +
  'rt_sigprocmask rt_sigreturn ioctl pread64 pwrite64 readv writev access pipe select ' +
  'sched_yield mremap msync mincore madvise shmget shmat shmctl dup dup2 pause nanosleep ' +
  'getitimer alarm setitimer getpid sendfile socket connect accept sendto recvfrom sendmsg ' +
  'recvmsg shutdown bind listen getsockname getpeername socketpair setsockopt getsockopt clone ' +
  'fork vfork execve exit wait4 kill uname semget semop semctl shmdt msgget msgsnd msgrcv ' +
  'msgctl fcntl flock fsync fdatasync truncate ftruncate getdents getcwd chdir fchdir rename ' +
  'mkdir rmdir creat link unlink symlink readlink chmod fchmod chown fchown lchown umask ' +
  'gettimeofday getrlimit getrusage sysinfo times ptrace getuid syslog getgid setuid setgid ' +
  'geteuid getegid setpgid getppid getpgrp setsid setreuid setregid getgroups setgroups ' +
  'setresuid getresuid setresgid getresgid getpgid setfsuid setfsgid getsid capget capset ' +
  'rt_sigpending rt_sigtimedwait rt_sigqueueinfo rt_sigsuspend sigaltstack utime mknod uselib ' +
  'personality ustat statfs fstatfs sysfs getpriority setpriority sched_setparam ' +
  'sched_getparam sched_setscheduler sched_getscheduler sched_get_priority_max ' +
  'sched_get_priority_min sched_rr_get_interval mlock munlock mlockall munlockall vhangup ' +
  'modify_ldt pivot_root _sysctl prctl arch_prctl adjtimex setrlimit chroot sync acct ' +
  'settimeofday mount umount2 swapon swapoff reboot sethostname setdomainname iopl ioperm ' +
  'create_module init_module delete_module get_kernel_syms query_module quotactl nfsservctl ' +
  'getpmsg putpmsg afs_syscall tuxcall security gettid readahead setxattr lsetxattr fsetxattr ' +
  'getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr removexattr lremovexattr ' +
  'fremovexattr tkill time futex sched_setaffinity sched_getaffinity set_thread_area io_setup ' +
  'io_destroy io_getevents io_submit io_cancel get_thread_area lookup_dcookie epoll_create ' +
  'epoll_ctl_old epoll_wait_old remap_file_pages getdents64 set_tid_address restart_syscall ' +
  'semtimedop fadvise64 timer_create timer_settime timer_gettime timer_getoverrun timer_delete ' +
  'clock_settime clock_gettime clock_getres clock_nanosleep exit_group epoll_wait epoll_ctl ' +
  'tgkill utimes vserver mbind set_mempolicy get_mempolicy mq_open mq_unlink mq_timedsend ' +
  'mq_timedreceive mq_notify mq_getsetattr kexec_load waitid add_key request_key keyctl ' +
  'ioprio_set ioprio_get inotify_init inotify_add_watch inotify_rm_watch migrate_pages openat ' +
  'mkdirat mknodat fchownat futimesat newfstatat unlinkat renameat linkat symlinkat readlinkat ' +
  'fchmodat faccessat pselect6 ppoll unshare set_robust_list get_robust_list splice tee ' +
  'sync_file_range vmsplice move_pages utimensat epoll_pwait signalfd timerfd_create eventfd ' +
  'fallocate timerfd_settime timerfd_gettime accept4 signalfd4 eventfd2 epoll_create1 dup3 ' +
  'pipe2 inotify_init1 preadv pwritev rt_tgsigqueueinfo perf_event_open recvmmsg fanotify_init ' +
  'fanotify_mark prlimit64 name_to_handle_at open_by_handle_at clock_adjtime syncfs sendmmsg ' +
  'setns getcpu process_vm_readv process_vm_writev kcmp finit_module sched_setattr ' +
  'sched_getattr renameat2 seccomp getrandom memfd_create kexec_file_load bpf execveat ' +
  'userfaultfd membarrier mlock2 copy_file_range preadv2 pwritev2 pkey_mprotect pkey_alloc ' +
  'pkey_free statx io_pgetevents rseq ' +
  ''
).trim().split(' ');

export function syscallName(n: number): string {
  if (n >= 0 && n < SYSCALL_NAMES.length) return SYSCALL_NAMES[n];
  const late: Record<number, string> = {
    424: 'pidfd_send_signal', 425: 'io_uring_setup', 426: 'io_uring_enter', 427: 'io_uring_register',
    428: 'open_tree', 429: 'move_mount', 430: 'fsopen', 431: 'fsconfig', 432: 'fsmount', 433: 'fspick',
    434: 'pidfd_open', 435: 'clone3', 436: 'close_range', 437: 'openat2', 438: 'pidfd_getfd',
    439: 'faccessat2', 440: 'process_madvise', 441: 'epoll_pwait2', 442: 'mount_setattr',
    443: 'quotactl_fd', 444: 'landlock_create_ruleset', 445: 'landlock_add_rule',
    446: 'landlock_restrict_self', 447: 'memfd_secret', 448: 'process_mrelease', 449: 'futex_waitv',
    450: 'set_mempolicy_home_node',
  };
  return late[n] ?? 'unknown';
}
