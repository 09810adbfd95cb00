/* brk, anonymous and file mmap, mremap, mprotect, munmap; argv[1] picks a fatal access. */
#include "sys.h"
void main_(u64 *sp) {
  char **argv = (char **)(sp + 1);
  const char *mode = sp[0] > 1 ? argv[1] : "";
  u64 b0 = sys1(12, 0);
  kv("brk0_page_aligned", (b0 & 4095) == 0);
  kv("brk_grow", (u64)sys1(12, b0 + 100000) == b0 + 100000);
  volatile char *p = (char *)b0;
  p[0] = 1; p[99999] = 2;
  kv("brk_rw", p[0] + p[99999]);
  kv("brk_shrink", (u64)sys1(12, b0 + 10) == b0 + 10);
  kv("brk_below_start", (u64)sys1(12, b0 - 4096) == b0 + 10);
  volatile char *m = (char *)sys6(9, 0, 1 << 20, 3, 0x22, -1, 0);
  kv("mmap_ok", (i64)m > 0 && ((u64)m & 4095) == 0);
  kv("mmap_zero", m[12345] == 0 && m[(1 << 20) - 1] == 0);
  m[0] = 7; m[(1 << 20) - 1] = 9;
  volatile char *r = (char *)sys6(25, (i64)m, 1 << 20, 4 << 20, 1, 0, 0);
  kv("mremap_ok", (i64)r > 0);
  kv("mremap_kept", r[0] == 7 && r[(1 << 20) - 1] == 9 && r[(4 << 20) - 1] == 0);
  kv("mremap_shrink", sys6(25, (i64)r, 4 << 20, 2 << 20, 0, 0, 0) == (i64)r);
  kv("mprotect", sys3(10, r, 4096, 1));
  kv("read_after_mprotect", r[0]);
  kv("munmap", sys2(11, r, 2 << 20));
  kv("munmap_misaligned", sys2(11, (u64)r + 1, 4096));
  kv("mmap_bad_flags", sys6(9, 0, 4096, 3, 0x20, -1, 0));
  kv("mmap_zero_len", sys6(9, 0, 0, 3, 0x22, -1, 0));
  volatile char *fx = (char *)sys6(9, 0x10000000, 8192, 3, 0x32, -1, 0);
  kv("mmap_fixed", (u64)fx == 0x10000000);
  kv("mmap_noreplace", sys6(9, 0x10000000, 4096, 3, 0x100022, -1, 0));
  i64 fd = sys3(2, "/proc/self/exe", 0, 0);
  kv("open_self", fd >= 0);
  char *f = (char *)sys6(9, 0, 8192, 1, 2, fd, 0);
  kv("filemap_elf", f[0] == 0x7f && f[1] == 'E' && f[2] == 'L' && f[3] == 'F');
  char *f2 = (char *)sys6(9, 0, 4096, 1, 2, fd, 4096);
  kv("filemap_offset", f2[0] == f[4096]);
  kv("close", sys1(3, fd));
  kv("close_again", sys1(3, fd));
  if (seq(mode, "segv-unmapped")) r[0] = 1;
  if (seq(mode, "segv-readonly")) { volatile char *q = (char *)sys6(9, 0, 4096, 1, 0x22, -1, 0); q[0] = 1; }
  if (seq(mode, "segv-exec")) { void (*fn)(void) = (void (*)(void))m; fn(); }
  if (seq(mode, "big")) {
    /* 64 MiB reserved, only two pages touched: frames come on demand */
    volatile char *g = (char *)sys6(9, 0, 64 << 20, 3, 0x22, -1, 0);
    g[0] = 1; g[(64 << 20) - 1] = 2;
    kv("big", g[0] + g[(64 << 20) - 1]);
  }
  sys1(231, 0);
}
