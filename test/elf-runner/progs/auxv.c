/* Dump the initial stack: sp, argv/envp pointers and strings, and the auxiliary vector. */
#include "sys.h"
void main_(u64 *sp) {
  out("sp "); outx((u64)sp); out("\n");
  u64 argc = sp[0], *p = sp + 1;
  for (u64 i = 0; i < argc; i++) { out("argv "); outx(p[i]); out(" "); out((char *)p[i]); out("\n"); }
  p += argc + 1;
  for (; *p; p++) { out("envp "); outx(*p); out(" "); out((char *)*p); out("\n"); }
  for (p++; p[0]; p += 2) {
    out("aux "); outn(p[0]); out(" "); outx(p[1]);
    if (p[0] == 15 || p[0] == 31) { out(" "); out((char *)p[1]); }
    if (p[0] == 25) { unsigned char *r = (unsigned char *)p[1]; u64 s = 0; for (int i = 0; i < 16; i++) s += r[i]; out(" sum "); outn(s); }
    out("\n");
  }
  sys1(231, 0);
}
