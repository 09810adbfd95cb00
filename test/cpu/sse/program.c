/*
 * A freestanding program for test/cpu/sse/program.test.ts: gcc-generated SSE/SSE2/MMX/x87
 * code (auto-vectorized loops, intrinsics, float/double/long double arithmetic and
 * conversions). It writes its results to stdout with one write(2) and exits; the test runs
 * it natively and in the interpreter and compares the bytes.
 *
 * The x87 control word is set to double precision first: the interpreter keeps x87 values
 * as doubles (src/cpu/ops/x87.ts), so long double results then agree bit for bit.
 */
#include <emmintrin.h>
#include <stdint.h>

static unsigned char out[8192];
static unsigned pos;

static void put(const void *p, unsigned n) {
  const unsigned char *s = p;
  for (unsigned k = 0; k < n; k++) out[pos++] = s[k];
}
#define PUT(x) do { __typeof__(x) v_ = (x); put(&v_, sizeof v_); } while (0)

/* gcc may emit calls to these for struct copies and loops. */
void *memcpy(void *d, const void *s, unsigned long n) {
  unsigned char *a = d;
  const unsigned char *b = s;
  while (n--) *a++ = *b++;
  return d;
}
void *memset(void *d, int c, unsigned long n) {
  unsigned char *a = d;
  while (n--) *a++ = (unsigned char)c;
  return d;
}

static int32_t ia[256], ib[256], ic[256];
static int16_t sa[256], sb[256], sc[256];
static uint8_t ua[256], ub[256], uc[256];
static float fa[256], fb[256], fc[256];
static double da[256], db[256], dc[256];

__attribute__((noinline)) static void vec_int(void) {
  for (int i = 0; i < 256; i++) ic[i] = ia[i] * ib[i] + (ia[i] >> 3) - (ib[i] ^ 0x55);
  for (int i = 0; i < 256; i++) sc[i] = (int16_t)(sa[i] * sb[i]) + (sa[i] > sb[i] ? sa[i] : sb[i]);
  for (int i = 0; i < 256; i++) uc[i] = (uint8_t)(ua[i] < ub[i] ? ua[i] : ub[i]) + (uint8_t)(ua[i] == 7);
  long long s = 0;
  for (int i = 0; i < 256; i++) s += (long long)ia[i] * ib[i];
  PUT(s);
  unsigned sum = 0;
  for (int i = 0; i < 256; i++) sum += ua[i] > 128 ? ua[i] - 128 : 128 - ua[i];
  PUT(sum);
}

__attribute__((noinline)) static void vec_float(void) {
  for (int i = 0; i < 256; i++) fc[i] = fa[i] * fb[i] + fa[i] / (fb[i] + 1.5f);
  for (int i = 0; i < 256; i++) dc[i] = da[i] * db[i] - da[i] / (db[i] * db[i] + 0.25);
  for (int i = 0; i < 256; i++) fc[i] += (float)dc[i];
  float m = 0;
  for (int i = 0; i < 256; i++) m = fc[i] > m ? fc[i] : m;
  PUT(m);
}

__attribute__((noinline)) static void intrinsics(void) {
  __m128i a = _mm_loadu_si128((const __m128i *)ua), b = _mm_loadu_si128((const __m128i *)(ua + 16));
  __m128i r = _mm_adds_epu8(a, b);
  r = _mm_xor_si128(r, _mm_subs_epi8(a, b));
  r = _mm_add_epi64(r, _mm_sad_epu8(a, b));
  __m128i w = _mm_madd_epi16(_mm_loadu_si128((const __m128i *)sa), _mm_loadu_si128((const __m128i *)sb));
  w = _mm_packs_epi32(w, _mm_shuffle_epi32(w, 0x1b));
  w = _mm_unpackhi_epi16(w, _mm_srai_epi16(w, 3));
  w = _mm_mul_epu32(w, _mm_slli_si128(w, 5));
  int mask = _mm_movemask_epi8(_mm_cmpgt_epi8(a, b));
  __m128 f = _mm_loadu_ps(fa);
  __m128 g = _mm_min_ps(_mm_sqrt_ps(_mm_max_ps(f, _mm_setzero_ps())), _mm_loadu_ps(fb));
  __m128d d = _mm_sqrt_pd(_mm_loadu_pd(da + 2));
  __m128d e = _mm_cmplt_pd(d, _mm_loadu_pd(db));
  __m128i cv = _mm_cvtps_epi32(_mm_mul_ps(g, _mm_set1_ps(1000.0f)));
  __m128i ct = _mm_cvttpd_epi32(_mm_mul_pd(d, _mm_set1_pd(-77.7)));
  __m128 sh = _mm_shuffle_ps(f, g, 0x4e);
  PUT(r); PUT(w); PUT(mask); PUT(g); PUT(d); PUT(e); PUT(cv); PUT(ct); PUT(sh);
  PUT(_mm_cvtsi128_si32(_mm_srli_epi64(r, 13)));
  PUT(_mm_extract_epi16(w, 5));
  /* MMX */
  __m64 m1 = _mm_set_pi16(1000, -2000, 3000, -32768), m2 = _mm_set_pi16(30000, 30000, -30000, -1);
  __m64 m3 = _mm_adds_pi16(m1, m2);
  m3 = _mm_mullo_pi16(m3, _mm_unpacklo_pi8(m1, m2));
  long long mm = _mm_cvtm64_si64(m3);
  _mm_empty();
  PUT(mm);
}

__attribute__((noinline)) static void scalars(void) {
  double s = 0;
  for (int i = 1; i <= 2000; i++) s += 1.0 / ((double)i * i);
  PUT(s);
  float fs = 0;
  for (int i = 1; i <= 2000; i++) fs += 1.0f / (float)i;
  PUT(fs);
  for (int i = 0; i < 16; i++) {
    double x = da[i] * 1e6;
    PUT((long long)x);
    PUT((int)(x / 1e3));
    PUT((unsigned)(fa[i] * 100.0f));
    PUT((float)x);
    PUT((double)(long long)(ia[i] * 12345LL));
    PUT(__builtin_sqrt(x > 0 ? x : -x));
    PUT((float)ia[i]);
    PUT((unsigned long long)(x > 0 ? x : -x));
    PUT(x < db[i]);
    PUT(__builtin_isnan(x / 0.0 * 0.0));
  }
}

__attribute__((noinline)) static void longdouble(void) {
  long double s = 0, p = 1;
  for (int i = 1; i <= 300; i++) {
    s += 1.0L / i;
    p *= 1.0L + 1.0L / (i * i);
  }
  long double q = s / p - __builtin_sqrtl(s);
  double back = (double)q;
  long long ll = (long long)(q * 1e12L);
  int cmp = s > p;
  long double a = __builtin_fabsl(-q) * 3;
  PUT(back); PUT(ll); PUT(cmp); PUT((double)a); PUT((float)s); PUT((long long)p);
  long double x = 12345.678L;
  for (int i = 0; i < 10; i++) x = x * 1.5L - (long double)i / 7;
  PUT((double)x);
  PUT((long long)x);
  PUT((int)(x / 1000));
}

static void init(void) {
  uint32_t st = 12345;
  for (int i = 0; i < 256; i++) {
    st = st * 1103515245 + 12345;
    ia[i] = (int32_t)st >> 7;
    st = st * 1103515245 + 12345;
    ib[i] = (int32_t)(st >> 9) - 4000000;
    sa[i] = (int16_t)(st >> 3);
    sb[i] = (int16_t)(st >> 17);
    ua[i] = (uint8_t)(st >> 11);
    ub[i] = (uint8_t)(st >> 21);
    fa[i] = (float)((int32_t)st) / 65536.0f;
    fb[i] = (float)(st & 0xffff) / 1024.0f;
    da[i] = (double)((int32_t)st) / 3.0e5;
    db[i] = (double)(st >> 12) / 777.0;
  }
}

__attribute__((force_align_arg_pointer)) void _start(void) {
  unsigned short cw = 0x27f;
  __asm__ volatile("fldcw %0" : : "m"(cw));
  init();
  vec_int();
  vec_float();
  intrinsics();
  scalars();
  longdouble();
  put(ic, sizeof ic); put(sc, sizeof sc); put(uc, sizeof uc); put(fc, sizeof fc); put(dc, sizeof dc);
  long ret;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(1L), "D"(1L), "S"(out), "d"((long)pos) : "rcx", "r11", "memory");
  __asm__ volatile("syscall" : : "a"(60L), "D"(0L) : "rcx", "r11", "memory");
  __builtin_unreachable();
}
