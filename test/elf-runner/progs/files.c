/* Files and directories in the current directory (a fresh temporary one). */
#include "sys.h"
static char buf[8192];
static i64 statsize(const char *p, int nofollow) {
  static u64 st[18];
  i64 r = sys4(262, -100, p, st, nofollow ? 0x100 : 0);
  return r < 0 ? r : (i64)st[6];
}
static int has(const char *dir, const char *name) {
  i64 fd = sys3(257, -100, dir, 0x10000), n, found = 0;
  while ((n = sys3(217, fd, buf, sizeof buf)) > 0)
    for (i64 off = 0; off < n; off += *(unsigned short *)(buf + off + 16))
      if (seq(buf + off + 19, name)) found = 1;
  sys1(3, fd);
  return found;
}
void main_(u64 *sp) {
  (void)sp;
  kv("umask", sys1(95, 022));
  kv("mkdir", sys2(83, "d", 0755));
  kv("mkdir_again", sys2(83, "d", 0755));
  i64 fd = sys4(257, -100, "d/f", 0x241 /* O_WRONLY|O_CREAT|O_TRUNC */, 0666);
  kv("open_create", fd >= 0);
  for (int i = 0; i < 5000; i++) buf[i] = 'A' + i % 26;
  kv("write", sys3(1, fd, buf, 5000));
  kv("lseek_end", sys3(8, fd, 0, 2));
  kv("lseek_set", sys3(8, fd, 100, 0));
  kv("write_mid", sys3(1, fd, "xyz", 3));
  kv("read_wronly", sys3(0, fd, buf, 10));
  sys1(3, fd);
  kv("size", statsize("d/f", 0));
  fd = sys3(2, "d/f", 0, 0);
  kv("read", sys3(0, fd, buf, 200));
  buf[110] = 0;
  out(buf + 95); out("\n");
  kv("pread", sys4(17, fd, buf, 5, 4998));
  kv("read_eof_pos", sys3(0, fd, buf, 10000));
  kv("read_eof", sys3(0, fd, buf, 10));
  kv("dup2", sys2(33, fd, 9));
  kv("lseek_shared", sys3(8, 9, 0, 1));
  sys1(3, fd); sys1(3, 9);
  kv("append_open", (fd = sys3(2, "d/f", 0x401 /* O_WRONLY|O_APPEND */, 0)) >= 0);
  kv("append_write", sys3(1, fd, "END", 3));
  sys1(3, fd);
  kv("size_after_append", statsize("d/f", 0));
  kv("rename", sys2(82, "d/f", "d/g"));
  kv("stat_old", statsize("d/f", 0));
  kv("symlink", sys2(88, "g", "d/link"));
  kv("readlink", sys3(89, "d/link", buf, sizeof buf));
  buf[1] = 0; out(buf); out("\n");
  kv("lstat_link", statsize("d/link", 1));
  kv("stat_link", statsize("d/link", 0));
  kv("dirents_g", has("d", "g"));
  kv("dirents_link", has("d", "link"));
  kv("dirents_dot", has("d", ".") + has("d", ".."));
  kv("access_ok", sys2(21, "d/g", 4));
  kv("access_missing", sys2(21, "d/nope", 0));
  kv("open_missing", sys3(2, "d/nope", 0, 0));
  kv("open_dir_write", sys3(2, "d", 1, 0));
  kv("rmdir_notempty", sys1(84, "d"));
  kv("chdir", sys1(80, "d"));
  kv("getcwd_len_ok", sys2(79, buf, sizeof buf) > 1);
  i64 n = slen(buf);
  out("cwd ends with /d: "); outn(n > 2 && buf[n - 1] == 'd' && buf[n - 2] == '/'); out("\n");
  kv("unlink", sys1(87, "g") + sys1(87, "link"));
  kv("chdir_up", sys1(80, ".."));
  kv("rmdir", sys1(84, "d"));
  kv("stat_gone", statsize("d", 0));
  sys1(231, 0);
}
