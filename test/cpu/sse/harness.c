/*
 * Native side of the SSE/x87 differential test (test/cpu/sse): runs one instruction per test
 * case on the host CPU and reports the state it leaves.
 *
 * Input (stdin), fixed-size records until EOF:
 *   u64 r[16]      RAX..R15 (RSP points into the case's own stack)
 *   u64 rflags
 *   u8  fx[512]    FXSAVE image loaded with FXRSTOR64 (x87, MXCSR, XMM0-15)
 *   u8  mem[512]   bytes at DATA_ADDR+MEM_OFF (straddles a page boundary)
 *   u8  code_len, code[15]
 * Output (stdout), one record per case:
 *   i32 trapno (-1: the instruction completed), u32 err, u64 rip, u64 r[16], u64 rflags,
 *   u8 fx[512] (FXSAVE64 after the instruction, or the signal frame's image on a fault),
 *   u8 mem[512]
 *
 * A completed instruction falls into an indirect JMP back to after_case, which stores the
 * registers and runs FXSAVE64 before anything else touches them. A faulting one (#GP, #XM,
 * #UD, #PF) lands in the signal handler, which copies the state out of the signal frame.
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
#define DATA_ADDR 0x200000UL
#define DATA_SIZE 0x2000UL
#define MEM_OFF 0xf00UL
#define STACK_ADDR 0x300000UL
#define STACK_SIZE 0x10000UL

struct in_rec {
  uint64_t r[16];
  uint64_t rflags;
  uint8_t fx[512];
  uint8_t mem[512];
  uint8_t code_len;
  uint8_t code[15];
};

struct out_rec {
  int32_t trapno;
  uint32_t err;
  uint64_t rip;
  uint64_t r[16];
  uint64_t rflags;
  uint8_t fx[512];
  uint8_t mem[512];
};

/* Used by the asm below. */
uint64_t g_r_in[16], g_rflags_in, g_r_out[16], g_rflags_out, g_saved_rsp;
uint64_t g_code_addr = CODE_ADDR;
uint32_t g_mxcsr_default = 0x1f80;
__attribute__((aligned(64))) uint8_t g_fx_in[512];
__attribute__((aligned(64))) uint8_t g_fx_out[512];

static struct out_rec g_out;
static sigjmp_buf g_env;

void run_case(void);
void after_case(void);

#define LOADR(n, reg) "mov g_r_in+" #n "*8(%rip), %" reg "\n"
#define STORER(n, reg) "mov %" reg ", g_r_out+" #n "*8(%rip)\n"
__asm__(
    ".text\n"
    ".globl run_case\n"
    "run_case:\n"
    "push %rbx\npush %rbp\npush %r12\npush %r13\npush %r14\npush %r15\n"
    "mov %rsp, g_saved_rsp(%rip)\n"
    "fxrstor64 g_fx_in(%rip)\n"
    "pushq g_rflags_in(%rip)\n"
    "popfq\n"
    LOADR(0, "rax") LOADR(1, "rcx") LOADR(2, "rdx") LOADR(3, "rbx") LOADR(5, "rbp") LOADR(6, "rsi")
    LOADR(7, "rdi") LOADR(8, "r8") LOADR(9, "r9") LOADR(10, "r10") LOADR(11, "r11") LOADR(12, "r12")
    LOADR(13, "r13") LOADR(14, "r14") LOADR(15, "r15") LOADR(4, "rsp")
    "jmp *g_code_addr(%rip)\n"
    ".globl after_case\n"
    "after_case:\n"
    STORER(0, "rax") STORER(1, "rcx") STORER(2, "rdx") STORER(3, "rbx") STORER(4, "rsp") STORER(5, "rbp")
    STORER(6, "rsi") STORER(7, "rdi") STORER(8, "r8") STORER(9, "r9") STORER(10, "r10") STORER(11, "r11")
    STORER(12, "r12") STORER(13, "r13") STORER(14, "r14") STORER(15, "r15")
    "pushfq\n"
    "popq g_rflags_out(%rip)\n"
    "fxsave64 g_fx_out(%rip)\n"
    "cld\n"
    "fninit\n"
    "ldmxcsr g_mxcsr_default(%rip)\n"
    "mov g_saved_rsp(%rip), %rsp\n"
    "pop %r15\npop %r14\npop %r13\npop %r12\npop %rbp\npop %rbx\n"
    "ret\n");

static const int greg_of[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
                                REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15};

static void on_fault(int sig, siginfo_t *si, void *ctx) {
  (void)si;
  ucontext_t *uc = ctx;
  g_out.trapno = (int32_t)uc->uc_mcontext.gregs[REG_TRAPNO];
  if (sig != SIGSEGV && sig != SIGFPE && sig != SIGILL && sig != SIGBUS) g_out.trapno = -1000 - sig;
  g_out.err = (uint32_t)uc->uc_mcontext.gregs[REG_ERR];
  g_out.rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
  for (int k = 0; k < 16; k++) g_out.r[k] = (uint64_t)uc->uc_mcontext.gregs[greg_of[k]];
  g_out.rflags = (uint64_t)uc->uc_mcontext.gregs[REG_EFL];
  uint8_t *fp = (uint8_t *)uc->uc_mcontext.fpregs;
  memcpy(g_out.fx, fp, 512);
  /* An XSAVE-format frame (sw_reserved magic at 464) may omit components in their initial
     state (XSTATE_BV bit clear): fill those in. */
  uint32_t magic;
  memcpy(&magic, fp + 464, 4);
  if (magic == 0x46505853U /* FP_XSTATE_MAGIC1 */) {
    uint64_t bv;
    memcpy(&bv, fp + 512, 8);
    if (!(bv & 1)) {
      memset(g_out.fx, 0, 24);
      g_out.fx[0] = 0x7f;
      g_out.fx[1] = 0x03;
      memset(g_out.fx + 32, 0, 128);
    }
    if (!(bv & 2)) memset(g_out.fx + 160, 0, 256);
  }
  siglongjmp(g_env, 1);
}

static int read_full(void *buf, size_t n) {
  uint8_t *p = buf;
  while (n) {
    ssize_t k = read(0, p, n);
    if (k <= 0) return 0;
    p += k;
    n -= (size_t)k;
  }
  return 1;
}

static void write_full(const void *buf, size_t n) {
  const uint8_t *p = buf;
  while (n) {
    ssize_t k = write(1, p, n);
    if (k <= 0) exit(3);
    p += k;
    n -= (size_t)k;
  }
}

int main(void) {
  uint8_t *code = mmap((void *)CODE_ADDR, 0x1000, PROT_READ | PROT_WRITE | PROT_EXEC,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  uint8_t *data = mmap((void *)DATA_ADDR, DATA_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  void *stack = mmap((void *)STACK_ADDR, STACK_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (code != (void *)CODE_ADDR || data != (void *)DATA_ADDR || stack != (void *)STACK_ADDR) {
    perror("mmap");
    return 2;
  }
  static uint8_t altstack[65536];
  stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
  sigaltstack(&ss, NULL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, NULL);
  sigaction(SIGFPE, &sa, NULL);
  sigaction(SIGILL, &sa, NULL);
  sigaction(SIGBUS, &sa, NULL);

  static struct in_rec in;
  while (read_full(&in, sizeof in)) {
    memset(code, 0xf4, 0x1000);
    memcpy(code, in.code, in.code_len);
    /* jmp *0(%rip); .quad after_case */
    uint8_t *j = code + in.code_len;
    j[0] = 0xff;
    j[1] = 0x25;
    memset(j + 2, 0, 4);
    uint64_t back = (uint64_t)(uintptr_t)after_case;
    memcpy(j + 6, &back, 8);
    __builtin___clear_cache((char *)code, (char *)code + 64);
    memset(data, 0, DATA_SIZE);
    memcpy(data + MEM_OFF, in.mem, 512);
    memcpy(g_r_in, in.r, sizeof g_r_in);
    g_rflags_in = in.rflags;
    memcpy(g_fx_in, in.fx, 512);
    memset(&g_out, 0, sizeof g_out);
    if (sigsetjmp(g_env, 1) == 0) {
      run_case();
      g_out.trapno = -1;
      g_out.rip = CODE_ADDR + in.code_len;
      memcpy(g_out.r, g_r_out, sizeof g_out.r);
      g_out.rflags = g_rflags_out;
      memcpy(g_out.fx, g_fx_out, 512);
    }
    memcpy(g_out.mem, data + MEM_OFF, 512);
    write_full(&g_out, sizeof g_out);
  }
  return 0;
}
