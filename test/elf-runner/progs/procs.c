/* fork, pipes, wait4, execve and signals; argv[1] picks the scenario. */
#include "sys.h"
struct ksigaction { void *handler; u64 flags; void *restorer; u64 mask; };
extern void restorer(void);
__asm__(".globl restorer\nrestorer:\n mov $15, %eax\n syscall\n");
static volatile i64 got, gotcode;
static void handler(int sig, void *info, void *uc) { got = sig; gotcode = *(int *)((char *)info + 8); (void)uc; }
static char *page;
static volatile u64 faultaddr;
static void segv(int sig, void *info, void *uc) {
  got = sig;
  faultaddr = *(u64 *)((char *)info + 16);
  sys3(10, page, 4096, 3);
  (void)uc;
}
static void on(int sig, void *h, u64 flags) {
  struct ksigaction a = { h, flags | 0x04000000 /* SA_RESTORER */, (void *)restorer, 0 };
  sys4(13, sig, &a, 0, 8);
}
static void readall(int fd) {
  char buf[4096]; i64 n, total = 0;
  while ((n = sys3(0, fd, buf, sizeof buf)) > 0) { if (total < 4096) sys3(1, 1, buf, n); total += n; }
  kv("read_total", total);
}
void main_(u64 *sp) {
  i64 argc = sp[0];
  char **argv = (char **)(sp + 1), **envp = argv + argc + 1;
  const char *mode = argc > 1 ? argv[1] : "";
  int st = 0;
  if (seq(mode, "fork")) {
    static volatile i64 global = 5;
    static char big[3 * 4096];
    int fds[2];
    volatile i64 *shared = (i64 *)sys6(9, 0, 8192, 3, 0x21 /* MAP_SHARED|MAP_ANONYMOUS */, -1, 0);
    *shared = 1;
    big[5000] = 'p';
    kv("pipe", sys1(22, fds));
    i64 pid = sys0(57);
    if (pid == 0) {
      sys1(3, fds[0]);
      global = 6; /* copy-on-write: the parent keeps 5 */
      big[5000] = 'c';
      *shared = 42; /* MAP_SHARED: the parent sees it */
      shared[512] = 43; /* even on a page nobody had touched before the fork */
      out("child runs\n");
      sys3(1, fds[1], "from child\n", 11);
      sys1(231, 7);
    }
    sys1(3, fds[1]);
    readall(fds[0]);
    kv("waited", sys4(61, pid, &st, 0, 0) == pid);
    kv("status", st);
    kv("no_more_children", sys4(61, -1, &st, 0, 0));
    kv("parent_global", global);
    kv("parent_big", big[5000]);
    kv("shared_seen", *shared);
    kv("shared_untouched_seen", shared[512]);
  } else if (seq(mode, "vfork")) {
    i64 pid = sys0(58);
    if (pid == 0) { char *av[] = { argv[2], "via-vfork", 0 }; sys3(59, argv[2], av, envp); sys1(60, 99); }
    kv("waited", sys4(61, pid, &st, 0, 0) == pid);
    kv("status", st);
  } else if (seq(mode, "exec")) {
    char *av[] = { argv[2], "fromexec", 0 };
    kv("exec_missing", sys3(59, "/nonexistent/prog", av, envp));
    sys3(59, argv[2], av, envp);
    out("exec failed\n");
  } else if (seq(mode, "pipeline")) {
    /* 300 KB through a 64 KB pipe: writer and reader must take turns. */
    int fds[2];
    sys1(22, fds);
    i64 w = sys0(57);
    if (w == 0) {
      static char chunk[10000];
      for (int i = 0; i < 10000; i++) chunk[i] = 'a' + i % 26;
      sys1(3, fds[0]);
      for (int i = 0; i < 30; i++) if (sys3(1, fds[1], chunk, sizeof chunk) != sizeof chunk) { i64 off = 0; (void)off; }
      sys1(231, 0);
    }
    i64 r = sys0(57);
    if (r == 0) {
      sys1(3, fds[1]);
      char buf[3000]; i64 n, total = 0;
      while ((n = sys3(0, fds[0], buf, sizeof buf)) > 0) total += n;
      kv("reader_total", total);
      sys1(231, 3);
    }
    sys1(3, fds[0]); sys1(3, fds[1]);
    /* The reader prints before it exits, so waiting for it first fixes the output order. */
    sys4(61, r, &st, 0, 0); kv("reader_status", st);
    sys4(61, w, &st, 0, 0); kv("writer_status", st);
  } else if (seq(mode, "signal")) {
    on(10, handler, 0x4 /* SA_SIGINFO */);
    kv("kill", sys2(62, sys0(39), 10));
    kv("got", got);
    kv("si_code", gotcode);
    u64 set = 1ul << 9, old = 0;
    sys4(14, 0, &set, 0, 8); /* block SIGUSR1 */
    sys2(62, sys0(39), 10);
    kv("blocked_got", got == 10 && 1);
    got = 0;
    u64 pending = 0;
    sys2(127, &pending, 8);
    kv("pending", pending == set);
    sys4(14, 2, &old, 0, 8); /* unblock: delivered now */
    kv("unblocked_got", got);
    on(12, (void *)1 /* SIG_IGN */, 0);
    sys2(62, sys0(39), 12);
    out("ignored SIGUSR2\n");
    sys2(62, sys0(39), 15); /* SIGTERM, default action: die */
    out("not reached\n");
  } else if (seq(mode, "segvhandler")) {
    /* A write to a read-only page: the handler makes it writable and the write is retried. */
    page = (char *)sys6(9, 0, 4096, 1, 0x22, -1, 0);
    on(11, segv, 0x4);
    page[10] = 'w';
    kv("segv_handled", got);
    /* The page, not the byte: the CPU core's translator hook sees pages only (for now). */
    kv("si_addr_ok", (faultaddr & ~4095ul) == (u64)page);
    kv("value", page[10]);
  } else if (seq(mode, "timers")) {
    /* setitimer + pause; then SIGCHLD caught in rt_sigsuspend. */
    on(14, handler, 0x4);
    u64 it[4] = { 0, 0, 0, 30000 };
    kv("setitimer", sys3(38, 0, it, 0));
    kv("pause", sys0(34));
    kv("got", got);
    u64 chld = 1ul << 16, old = 0, none = 0;
    on(17, handler, 0x4 | 0x10000000);
    sys4(14, 0, &chld, &old, 8);
    i64 pid = sys0(57);
    if (pid == 0) sys1(60, 5);
    kv("sigsuspend", sys2(130, &none, 8));
    kv("got", got);
    kv("si_code", gotcode);
    u64 now = 0;
    sys4(14, 0, 0, &now, 8);
    kv("mask_restored", now == chld);
    kv("waited", sys4(61, pid, &st, 0, 0) == pid);
    kv("status", st);
  } else if (seq(mode, "sigpipe")) {
    int fds[2];
    sys1(22, fds);
    sys1(3, fds[0]);
    on(13, (void *)1, 0);
    kv("write_ignored", sys3(1, fds[1], "x", 1));
    on(13, (void *)0, 0);
    sys3(1, fds[1], "x", 1);
    out("not reached\n");
  } else if (seq(mode, "killchild")) {
    i64 pid = sys0(57);
    if (pid == 0) { for (;;) sys0(24); }
    kv("kill", sys2(62, pid, 9));
    kv("waited", sys4(61, pid, &st, 0, 0) == pid);
    kv("status", st);
  }
  sys1(231, 0);
}
