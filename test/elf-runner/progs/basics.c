/* argv, envp and the exit status: the output must match a native run byte for byte. */
#include "sys.h"
void main_(u64 *sp) {
  i64 argc = sp[0];
  char **argv = (char **)(sp + 1), **envp = argv + argc + 1;
  for (i64 i = 0; i < argc; i++) { out("argv: "); out(argv[i]); out("\n"); }
  for (; *envp; envp++) { out("env: "); out(*envp); out("\n"); }
  kv("stack_aligned", ((u64)sp & 15) == 0);
  kv("unknown_syscall", sys0(999)); /* -ENOSYS, natively too */
  i64 code = 0;
  if (argc > 1) for (char *p = argv[1]; *p >= '0' && *p <= '9'; p++) code = code * 10 + *p - '0';
  sys1(231, code);
}
