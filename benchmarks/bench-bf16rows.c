/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * bench-bf16rows.c: the cost per element of the BF16 row decoders (sm_bf16_rows_fn) of the AMX
 * prompt tiles, for every type the active variant decodes. One pass decodes 32 rows of 2048
 * elements in the tile order of the AMX path: row r of a 16-row block goes to dst + 64 r, its
 * groups of 32 elements 1024 bytes apart (step 1024), so one 16-row block fills 64 tiles of
 * 16 x 64 bytes. Weights (70-110 KB) and output (128 KB) stay in L2, as they do in the prompt
 * path, which decodes a panel and then multiplies it with every token. Prints the minimum over
 * many passes in TSC ticks and in nanoseconds per element (TSC calibrated against
 * CLOCK_MONOTONIC) of the dispatched decoder, of the integer-rounding build of the avx512
 * decoders (what CPUs without AVX512-BF16 get; the dispatched one where it is that one), and of
 * the scalar reference sm_bf16_rows_ref for scale. Single-threaded. Not a test: it checks nothing
 * and is never run by `meson test`.
 *
 * Usage: bench-bf16rows [-n PASSES] [TYPE...]   (e.g. `bench-bf16rows q4_K q8_0`; default: all)
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <x86intrin.h>

#include "sm-dispatch.h"
#include "sm-quant.h"
#include "sm-quant-private.h"
#include "sm-types.h"

#define ROWS 32
#define COLS 2048
#define STEP 1024

static double
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* TSC ticks per nanosecond, over about 50 ms. */
static double
tsc_per_ns (void)
{
  const double t0 = now_ns ();
  const uint64_t c0 = __rdtsc ();
  while (now_ns () - t0 < 5e7)
    ;
  const double t1 = now_ns ();
  const uint64_t c1 = __rdtsc ();
  return (double) (c1 - c0) / (t1 - t0);
}

static uint64_t
lcg (uint64_t *s)
{
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return *s >> 11;
}

/* One pass over the 32 rows; the reference when f is NULL. */
static void
pass (sm_type t, sm_bf16_rows_fn f, const uint8_t *w, size_t row_bytes, uint8_t *dst)
{
  for (int r = 0; r < ROWS; r++)
    {
      uint8_t *d = dst + (size_t) (r / 16) * (COLS / 32) * STEP + (size_t) (r % 16) * 64;
      if (f != NULL)
        f (w + (size_t) r * row_bytes, 0, COLS, d, STEP);
      else
        sm_bf16_rows_ref (t, w + (size_t) r * row_bytes, 0, COLS, d, STEP);
    }
}

static uint64_t
min_ticks (sm_type t, sm_bf16_rows_fn f, const uint8_t *w, size_t row_bytes, uint8_t *dst,
           int passes)
{
  uint64_t best = UINT64_MAX;

  for (int i = 0; i < passes; i++)
    {
      const uint64_t c0 = __rdtsc ();
      pass (t, f, w, row_bytes, dst);
      const uint64_t c = __rdtsc () - c0;
      if (c < best)
        best = c;
    }
  return best;
}

int
main (int argc, char **argv)
{
  static const sm_type all[] = {
    SM_TYPE_Q8_0, SM_TYPE_Q4_0, SM_TYPE_Q4_1, SM_TYPE_Q5_0, SM_TYPE_Q5_1, SM_TYPE_IQ4_NL,
    SM_TYPE_IQ4_XS, SM_TYPE_Q4_K, SM_TYPE_Q5_K, SM_TYPE_Q6_K, SM_TYPE_BF16,
  };
  int passes = 3000;
  int first = 1;

  if (argc > 2 && strcmp (argv[1], "-n") == 0)
    {
      passes = atoi (argv[2]);
      first = 3;
    }
  if (passes < 1)
    passes = 1;

  const double tpn = tsc_per_ns ();
  const double elems = (double) ROWS * COLS;
  uint8_t *dst = aligned_alloc (64, (size_t) 2 * (COLS / 32) * STEP);
  float *x = malloc (sizeof (float) * COLS);
  uint64_t seed = 12345;

  printf ("variant %s, TSC %.3f GHz, %d rows x %d elements, step %d, min of %d passes\n",
          sm_cpu_variant_name (sm_dispatch_variant ()), tpn, ROWS, COLS, STEP, passes);
  sm_bf16_rows_fn int_build[SM_TYPE_COUNT] = { 0 };
  if (sm_cpu_variant_supported (SM_CPU_VARIANT_AVX512))
    sm_bf16_rows_fill_avx512 (int_build);
  printf ("%-8s %12s %12s %14s %12s %9s\n", "type", "ticks/elem", "ns/elem", "int ns/elem",
          "ref ns/elem", "speed-up");
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    {
      const sm_type t = all[i];
      const char *name = sm_type_get_traits (t)->name;
      int wanted = argc <= first;
      for (int a = first; a < argc; a++)
        if (sm_type_from_name (argv[a]) == (int) t)
          wanted = 1;
      sm_bf16_rows_fn f = sm_dispatch_bf16_rows (t);
      if (!wanted || f == NULL)
        continue;

      const size_t row_bytes = sm_type_row_size (t, COLS);
      uint8_t *w = malloc (row_bytes * ROWS);
      for (int r = 0; r < ROWS; r++)
        {
          for (int j = 0; j < COLS; j++)
            {
              const double u = (lcg (&seed) + 1.0) / 9007199254740993.0;
              const double v = lcg (&seed) / 9007199254740992.0;
              x[j] = (float) (sqrt (-2 * log (u)) * cos (6.283185307179586 * v));
            }
          sm_quantize_row (t, x, w + (size_t) r * row_bytes, COLS, NULL);
        }
      const uint64_t fast = min_ticks (t, f, w, row_bytes, dst, passes);
      const uint64_t in = int_build[t] == NULL ? 0
                          : int_build[t] == f ? fast
                          : min_ticks (t, int_build[t], w, row_bytes, dst, passes);
      const uint64_t ref = min_ticks (t, NULL, w, row_bytes, dst, passes / 100 + 3);
      printf ("%-8s %12.4f %12.4f %14.4f %12.3f %8.1fx\n", name, fast / elems,
              fast / elems / tpn, in / elems / tpn, ref / elems / tpn, (double) ref / fast);
      free (w);
    }
  free (x);
  free (dst);
  return 0;
}
