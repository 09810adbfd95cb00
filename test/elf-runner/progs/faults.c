/* One CPU exception per mode: the runner must turn each into the signal Linux sends. */
#include "sys.h"
void main_(u64 *sp) {
  char **argv = (char **)(sp + 1);
  const char *mode = sp[0] > 1 ? argv[1] : "";
  out("before\n");
  if (seq(mode, "null")) { volatile int *z = 0; *z = 1; }
  if (seq(mode, "ud2")) __asm__ volatile("ud2");
  if (seq(mode, "div0")) { volatile int a = 1, b = 0; a /= b; }
  if (seq(mode, "int3")) __asm__ volatile("int3");
  if (seq(mode, "hlt")) __asm__ volatile("hlt");
  if (seq(mode, "femms")) __asm__ volatile(".byte 0x0f, 0x0e");
  out("after\n");
  sys1(231, 0);
}
