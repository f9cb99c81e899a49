/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * bench-quant-dot.c: nanoseconds per dot product of a 4096-element row, for every weight type
 * and every CPU variant this machine supports, plus the cost of converting one activation row.
 * Two figures per kernel: "hot" times single dots on one row that stays in L1 (the kernel's own
 * speed) and reports the minimum and the median over 3000 calls, minus the cost of reading the
 * clock (the minimum is what the kernel costs when no other process disturbs it, which matters
 * on a shared machine); "stream" walks a matrix of 16384 rows (about 40-140 MB) once per pass, as
 * a matrix-vector product does during generation (best of 3 passes), and also prints the weight
 * bytes read per second. Single-threaded. Not a test: it checks nothing and is never run by
 * `meson test`.
 *
 * Usage: bench-quant-dot [TYPE...]   (e.g. `bench-quant-dot q4_K q8_0`; default: all)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sm-dispatch.h"
#include "sm-quant.h"

#define N 4096
#define STREAM_ROWS 16384
#define HOT_CALLS 3000

static int
cmp_double (const void *a, const void *b)
{
  const double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static double
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static uint64_t rng_state = 42;

static float
frand (void)
{
  rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (float) ((double) (rng_state >> 11) / 9007199254740992.0 * 2 - 1);
}

static const sm_type types[] = {
  SM_TYPE_F32, SM_TYPE_F16, SM_TYPE_BF16, SM_TYPE_Q8_0, SM_TYPE_Q4_0, SM_TYPE_Q4_1,
  SM_TYPE_Q5_0, SM_TYPE_Q5_1, SM_TYPE_Q2_K, SM_TYPE_Q3_K, SM_TYPE_Q4_K, SM_TYPE_Q5_K,
  SM_TYPE_Q6_K, SM_TYPE_IQ4_NL, SM_TYPE_IQ4_XS,
};

int
main (int argc, char **argv)
{
  float *x = malloc (N * sizeof (float));
  float *act_src = malloc (N * sizeof (float));
  volatile float sink = 0;

  for (int i = 0; i < N; i++)
    {
      x[i] = frand ();
      act_src[i] = frand ();
    }

  printf ("dispatch default: %s\n", sm_cpu_variant_name (sm_dispatch_variant ()));
  /* What reading the clock twice costs, to subtract from the single-call timings. */
  double clock_cost = 1e30;
  for (int it = 0; it < 1000; it++)
    {
      double t0 = now_ns ();
      double dt = now_ns () - t0;
      if (dt < clock_cost)
        clock_cost = dt;
    }
  static double samples[HOT_CALLS];

  printf ("%-7s %-7s %9s %9s %10s %8s %12s\n", "type", "variant", "hot min", "hot med",
          "stream ns", "GB/s", "act ns/row");

  for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
    {
      const sm_type t = types[ti];
      const char *name = sm_type_get_traits (t)->name;
      bool wanted = argc < 2;
      for (int k = 1; k < argc; k++)
        if (strcasecmp (argv[k], name) == 0)
          wanted = true;
      if (!wanted)
        continue;

      const sm_type at = sm_quant_vec_dot_type (t);
      const size_t row = sm_type_row_size (t, N);
      uint8_t *w = malloc (row);
      uint8_t *a = malloc (sm_type_row_size (at, N));
      uint8_t *mat = malloc (row * STREAM_ROWS);

      sm_quantize_row (t, x, w, N, NULL);
      for (int r = 0; r < STREAM_ROWS; r++)
        memcpy (mat + (size_t) r * row, w, row);

      for (int v = 0; v < SM_CPU_VARIANT_COUNT; v++)
        {
          sm_vec_dot_fn dot = sm_dispatch_vec_dot_variant (t, v);
          sm_activation_fn act = sm_dispatch_activation_variant (t, v);
          if (dot == NULL || act == NULL)
            continue;
          act (act_src, a, N);

          /* Hot: single calls, minimum and median, clock overhead removed. */
          for (int it = 0; it < HOT_CALLS; it++)
            {
              double t0 = now_ns ();
              sink += dot (N, w, a);
              samples[it] = now_ns () - t0 - clock_cost;
            }
          qsort (samples, HOT_CALLS, sizeof (double), cmp_double);
          const double best = samples[0], median = samples[HOT_CALLS / 2];

          /* Stream: one pass over the matrix, best of 3 passes. */
          double best_s = 1e30;
          for (int rep = 0; rep < 3; rep++)
            {
              double t0 = now_ns ();
              for (int r = 0; r < STREAM_ROWS; r++)
                sink += dot (N, mat + (size_t) r * row, a);
              double dt = (now_ns () - t0) / STREAM_ROWS;
              if (dt < best_s)
                best_s = dt;
            }

          double best_a = 1e30;
          for (int rep = 0; rep < 3; rep++)
            {
              double t0 = now_ns ();
              for (int it = 0; it < 200; it++)
                act (act_src, a, N);
              double dt = (now_ns () - t0) / 200;
              if (dt < best_a)
                best_a = dt;
            }

          printf ("%-7s %-7s %9.1f %9.1f %10.1f %8.2f %12.1f\n", name, sm_cpu_variant_name (v),
                  best, median, best_s, row / best_s, best_a);
          fflush (stdout);
        }
      free (w);
      free (a);
      free (mat);
    }
  free (x);
  free (act_src);
  return sink == 12345.f;
}
