/* Raw Linux x86-64 system calls and a few output helpers for the runner's test programs,
   built with gcc -static -nostdlib: no libc, so no SSE, only what the tests ask for. */
typedef unsigned long u64;
typedef long i64;

static inline i64 sys6(i64 n, i64 a, i64 b, i64 c, i64 d, i64 e, i64 f) {
  i64 r;
  register i64 r10 __asm__("r10") = d;
  register i64 r8 __asm__("r8") = e;
  register i64 r9 __asm__("r9") = f;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
  return r;
}
#define sys0(n) sys6(n, 0, 0, 0, 0, 0, 0)
#define sys1(n, a) sys6(n, (i64)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b) sys6(n, (i64)(a), (i64)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c) sys6(n, (i64)(a), (i64)(b), (i64)(c), 0, 0, 0)
#define sys4(n, a, b, c, d) sys6(n, (i64)(a), (i64)(b), (i64)(c), (i64)(d), 0, 0)

static u64 slen(const char *s) { u64 n = 0; while (s[n]) n++; return n; }
static int seq(const char *a, const char *b) { while (*a && *a == *b) a++, b++; return *a == *b; }
static void out(const char *s) { sys3(1, 1, s, slen(s)); }
static char *fmtn(char *end, i64 v) {
  int neg = v < 0; u64 u = neg ? -(u64)v : (u64)v;
  *end = 0;
  do { *--end = '0' + u % 10; u /= 10; } while (u);
  if (neg) *--end = '-';
  return end;
}
static void outn(i64 v) { char b[24]; out(fmtn(b + 23, v)); }
static void outx(u64 v) {
  char b[19]; b[0] = '0'; b[1] = 'x'; b[18] = 0;
  for (int i = 17; i >= 2; i--) { b[i] = "0123456789abcdef"[v & 15]; v >>= 4; }
  out(b);
}
/* "name=value\n" in one write, so lines of processes sharing stdout do not mix. */
static void kv(const char *k, i64 v) {
  char line[128], num[24], *n = fmtn(num + 23, v);
  u64 len = 0;
  while (*k && len < 90) line[len++] = *k++;
  line[len++] = '=';
  while (*n) line[len++] = *n++;
  line[len++] = '\n';
  sys3(1, 1, line, len);
}
static void *memset_(void *d, int c, u64 n) { char *p = d; while (n--) *p++ = c; return d; }

void main_(u64 *sp);
__asm__(".globl _start\n_start:\n mov %rsp, %rdi\n and $-16, %rsp\n call main_\n hlt\n");
/* gcc may emit calls to these even without libc. */
void *memset(void *d, int c, u64 n) { return memset_(d, c, n); }
void *memcpy(void *d, const void *s, u64 n) { char *p = d; const char *q = s; while (n--) *p++ = *q++; return d; }
