/* nanosleep and the clocks. */
#include "sys.h"
static i64 now(int clk) { u64 ts[2]; sys2(228, clk, ts); return ts[0] * 1000000000 + ts[1]; }
void main_(u64 *sp) {
  (void)sp;
  i64 t0 = now(1);
  u64 req[2] = { 0, 50000000 };
  kv("nanosleep", sys2(35, req, 0));
  i64 dt = now(1) - t0;
  kv("slept_50ms", dt >= 50000000 && dt < 2000000000);
  u64 tv[2];
  sys2(96, tv, 0);
  kv("realtime_sane", now(0) / 1000000000 - (i64)tv[0] < 2 && tv[0] > 1600000000);
  kv("time", sys1(201, 0) > 1600000000);
  kv("bad_clock", sys2(228, 12345, tv));
  u64 bad[2] = { 0, 1000000000 };
  kv("nanosleep_einval", sys2(35, bad, 0));
  sys1(231, 0);
}
