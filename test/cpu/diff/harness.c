/*
 * Native side of the differential CPU test (test/cpu/diff): runs each test case's instruction
 * bytes on the host CPU and reports the architectural state they leave.
 *
 * Input (stdin, little-endian), repeated until EOF:
 *   u64 r[16]        RAX..R15 (RSP included: the case runs on its own stack)
 *   u64 rflags
 *   u32 fill_seed    data region contents before patches (xorshift32 stream, see fill())
 *   u16 code_len, u16 n_patches
 *   u8  code[code_len]
 *   n_patches x { u16 offset, u16 len, u8 bytes[len] }   written over the filled data region
 *
 * Every case ends in an exception: the code page is filled with INT3, so the instruction under
 * test either falls through into the INT3 after it, branches to another one, or faults itself.
 * The signal handler takes the registers from the signal context, so the reported state is
 * exactly the state at the fault (after the INT3 trap: RIP is one past it).
 *
 * Output (stdout), one record per case:
 *   i32 vector (trap number, or -1-signo when the kernel gave none), u32 error code,
 *   u64 cr2, u64 rip, u64 r[16], u64 rflags, u32 mxcsr,
 *   u16 n_diff, n_diff x { u16 offset, u8 value }   data bytes that differ from the input
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#define CODE_ADDR 0x100000UL
#define CODE_SIZE 0x1000UL
#define DATA_ADDR 0x200000UL
#define DATA_SIZE 0x2000UL
#define INT3 0xcc
#define MAX_CODE 256

/* Read by enter_case (asm below): the state the case starts with. */
struct in_state {
  uint64_t r[16];
  uint64_t rflags;
};
struct in_state g_in;
uint64_t g_code_addr = CODE_ADDR;

struct out_state {
  int32_t vector;
  uint32_t err;
  uint64_t cr2;
  uint64_t rip;
  uint64_t r[16];
  uint64_t rflags;
  uint32_t mxcsr;
};
static struct out_state g_out;
static sigjmp_buf g_env;

void enter_case(void) __attribute__((noreturn));
/* Load RFLAGS through the harness stack, then every GPR (MOV leaves flags alone), then jump.
 * It never returns: the case ends in a signal and the handler siglongjmps back. */
__asm__(
    ".intel_syntax noprefix\n"
    ".text\n"
    ".globl enter_case\n"
    "enter_case:\n"
    "  push qword ptr [rip + g_in + 128]\n"
    "  popfq\n"
    "  mov rax, [rip + g_in + 0]\n"
    "  mov rcx, [rip + g_in + 8]\n"
    "  mov rdx, [rip + g_in + 16]\n"
    "  mov rbx, [rip + g_in + 24]\n"
    "  mov rsp, [rip + g_in + 32]\n"
    "  mov rbp, [rip + g_in + 40]\n"
    "  mov rsi, [rip + g_in + 48]\n"
    "  mov rdi, [rip + g_in + 56]\n"
    "  mov r8, [rip + g_in + 64]\n"
    "  mov r9, [rip + g_in + 72]\n"
    "  mov r10, [rip + g_in + 80]\n"
    "  mov r11, [rip + g_in + 88]\n"
    "  mov r12, [rip + g_in + 96]\n"
    "  mov r13, [rip + g_in + 104]\n"
    "  mov r14, [rip + g_in + 112]\n"
    "  mov r15, [rip + g_in + 120]\n"
    "  jmp qword ptr [rip + g_code_addr]\n"
    ".att_syntax prefix\n");

static void on_signal(int sig, siginfo_t *si, void *ctx) {
  (void)si;
  ucontext_t *uc = ctx;
  greg_t *g = uc->uc_mcontext.gregs;
  static const int order[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
                                REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15};
  for (int k = 0; k < 16; k++) g_out.r[k] = (uint64_t)g[order[k]];
  g_out.rip = (uint64_t)g[REG_RIP];
  g_out.rflags = (uint64_t)g[REG_EFL];
  g_out.vector = sig == SIGSEGV || sig == SIGILL || sig == SIGFPE || sig == SIGBUS || sig == SIGTRAP
                     ? (int32_t)g[REG_TRAPNO]
                     : -1 - sig;
  g_out.err = (uint32_t)g[REG_ERR];
  g_out.cr2 = (uint64_t)g[REG_CR2];
  g_out.mxcsr = uc->uc_mcontext.fpregs ? uc->uc_mcontext.fpregs->mxcsr : 0;
  siglongjmp(g_env, 1);
}

/* The data region's contents before patches: a xorshift32 stream (mirrored in interp.ts). */
static void fill(uint8_t *p, uint32_t seed) {
  uint32_t s = seed ^ 0x9e3779b9u;
  if (s == 0) s = 1;
  for (unsigned long k = 0; k < DATA_SIZE; k += 4) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    memcpy(p + k, &s, 4);
  }
}

static int read_exact(void *p, size_t n) {
  return fread(p, 1, n, stdin) == n;
}

static void die(const char *what) {
  fprintf(stderr, "harness: %s\n", what);
  exit(2);
}

int main(void) {
  uint8_t *code = mmap((void *)CODE_ADDR, CODE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  uint8_t *data = mmap((void *)DATA_ADDR, DATA_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (code != (uint8_t *)CODE_ADDR || data != (uint8_t *)DATA_ADDR) die("cannot map the code/data pages");
  memset(code, INT3, CODE_SIZE);

  static uint8_t altstack[1 << 16];
  stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
  if (sigaltstack(&ss, NULL) != 0) die("sigaltstack");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  /* SIGALRM: a case that never faults (a runaway loop) is reported, not waited for. */
  const int sigs[] = {SIGSEGV, SIGILL, SIGFPE, SIGBUS, SIGTRAP, SIGALRM};
  for (unsigned k = 0; k < sizeof sigs / sizeof sigs[0]; k++)
    if (sigaction(sigs[k], &sa, NULL) != 0) die("sigaction");

  static uint8_t before[DATA_SIZE];
  static uint8_t patch[DATA_SIZE];
  uint8_t hdr[4 + 2 + 2];
  for (;;) {
    if (!read_exact(&g_in, sizeof g_in)) break;
    if (!read_exact(hdr, sizeof hdr)) die("truncated case header");
    uint32_t seed;
    uint16_t code_len, n_patches;
    memcpy(&seed, hdr, 4);
    memcpy(&code_len, hdr + 4, 2);
    memcpy(&n_patches, hdr + 6, 2);
    if (code_len > MAX_CODE) die("code too long");
    if (!read_exact(code, code_len)) die("truncated code");
    fill(before, seed);
    for (unsigned k = 0; k < n_patches; k++) {
      uint16_t ph[2];
      if (!read_exact(ph, sizeof ph)) die("truncated patch");
      if ((unsigned long)ph[0] + ph[1] > DATA_SIZE) die("patch outside the data region");
      if (!read_exact(patch, ph[1])) die("truncated patch bytes");
      memcpy(before + ph[0], patch, ph[1]);
    }
    memcpy(data, before, DATA_SIZE);

    memset(&g_out, 0, sizeof g_out);
    alarm(2);
    if (sigsetjmp(g_env, 1) == 0) enter_case();
    alarm(0);
    /* DF may be set in the case; the kernel clears it for the handler, and we are back in C. */

    fwrite(&g_out.vector, 4, 1, stdout);
    fwrite(&g_out.err, 4, 1, stdout);
    fwrite(&g_out.cr2, 8, 1, stdout);
    fwrite(&g_out.rip, 8, 1, stdout);
    fwrite(g_out.r, 8, 16, stdout);
    fwrite(&g_out.rflags, 8, 1, stdout);
    fwrite(&g_out.mxcsr, 4, 1, stdout);
    uint16_t n_diff = 0;
    for (unsigned long k = 0; k < DATA_SIZE; k++) n_diff += data[k] != before[k];
    fwrite(&n_diff, 2, 1, stdout);
    for (unsigned long k = 0; k < DATA_SIZE; k++) {
      if (data[k] != before[k]) {
        uint16_t off = (uint16_t)k;
        fwrite(&off, 2, 1, stdout);
        fwrite(&data[k], 1, 1, stdout);
      }
    }
    memset(code, INT3, code_len);
    fflush(stdout); /* whole records only: if a case kills us, the runner can name it */
  }
  if (ferror(stdin)) die("read error");
  fflush(stdout);
  return 0;
}
