/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * gemv-stream.c: how close each type's one-token kernel (sm_gemv_fn, the dispatched variant)
 * comes to the memory's read rate:
 *   gemv-stream [THREADS [ROUNDS [CHUNK]]]        (defaults 2, 8, 512)
 * For each type and row length, THREADS threads run the kernel over a 256 MiB matrix on huge
 * pages, each its own contiguous share in calls of CHUNK rows (as the compute pool hands out a
 * one-token product), then the same threads read the same bytes without arithmetic, in the
 * same order and with the same prefetch; ROUNDS such pairs alternate, so both meet the same
 * state of a shared machine. Prints the best rate of each and the median of the per-round
 * ratio kernel / read: below 1, the kernel's arithmetic holds the memory back. (A plain
 * sequential loop of 16-byte loads reads only 15-22 GB/s here, where four prefetched runs per
 * thread read 28-29.6, the 28.8.) Not a test.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "sm-dispatch.h"
#include "sm-quant.h"
#include "sm-types.h"

#define MATRIX_BYTES ((size_t) 256 << 20)
#define HUGE_PAGE ((size_t) 2 << 20)
#define MAX_THREADS 64
#define READ_AHEAD 2048 /* SM_GEMV_STREAM_AHEAD */

typedef struct
{
  sm_gemv_fn     gemv;   /* NULL: the read loop */
  const uint8_t *w;
  size_t         ws;
  int64_t        n_in;
  int64_t        rows;
  int64_t        chunk;
  const void    *act;
  float         *out;
  int            n_threads;
  int            ith;
  uint64_t       sink;
} stream_job;

static double
now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *
stream_thread (void *data)
{
  stream_job *j = data;
  const int64_t per = j->rows / j->n_threads;
  const int64_t begin = per * j->ith;
  const int64_t end = j->ith == j->n_threads - 1 ? j->rows : begin + per;

  if (j->gemv != NULL)
    {
      for (int64_t r = begin; r < end; r += j->chunk)
        {
          const int64_t e = r + j->chunk < end ? r + j->chunk : end;
          j->gemv (j->n_in, j->w + (size_t) r * j->ws, j->ws, e - r, j->act, j->out + r);
        }
      return NULL;
    }
  /* The read loop: the thread's rows as four runs read side by side, one cache line of each
   * per step (the order the kernels read in, arch/sm-gemv-walk.h), with the same prefetch,
   * by 16-byte vector loads (portable vector extensions) into four sums. */
  typedef uint64_t v2u64 __attribute__ ((vector_size (16)));
  const size_t run = (size_t) (end - begin) * j->ws / 4 / 64 * 64;
  const uint8_t *r0 = j->w + (size_t) begin * j->ws;
  v2u64 s[4] = { { 0, 0 }, { 0, 0 }, { 0, 0 }, { 0, 0 } };
  for (size_t off = 0; off < run; off += 64)
    for (int k = 0; k < 4; k++)
      {
        const v2u64 *p = (const v2u64 *) (r0 + (size_t) k * run + off);
        __builtin_prefetch ((const char *) p + READ_AHEAD);
        s[k] += (p[0] + p[1]) ^ (p[2] + p[3]);
      }
  const v2u64 a = s[0] ^ s[1] ^ s[2] ^ s[3];
  j->sink = a[0] ^ a[1];
  return NULL;
}

/* One pass of every thread over the matrix; GB/s. */
static double
run_pass (stream_job *proto,
          sm_gemv_fn  gemv)
{
  pthread_t th[MAX_THREADS];
  stream_job jobs[MAX_THREADS];
  const double t0 = now ();

  for (int t = 0; t < proto->n_threads; t++)
    {
      jobs[t] = *proto;
      jobs[t].gemv = gemv;
      jobs[t].ith = t;
      if (pthread_create (&th[t], NULL, stream_thread, &jobs[t]) != 0)
        {
          fprintf (stderr, "gemv-stream: cannot start a thread\n");
          exit (1);
        }
    }
  for (int t = 0; t < proto->n_threads; t++)
    pthread_join (th[t], NULL);
  return (double) proto->rows * proto->ws / (now () - t0) / 1e9;
}

static int
cmp_double (const void *a,
            const void *b)
{
  const double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

int
main (int    argc,
      char **argv)
{
  static const struct
  {
    sm_type type;
    int64_t n_in;
  } cases[] = {
    { SM_TYPE_F16, 2048 },    { SM_TYPE_BF16, 2048 },   { SM_TYPE_Q8_0, 2048 },
    { SM_TYPE_Q8_0, 8192 },   { SM_TYPE_Q4_0, 2048 },   { SM_TYPE_Q4_0, 8192 },
    { SM_TYPE_Q4_K, 2048 },   { SM_TYPE_Q4_K, 8192 },   { SM_TYPE_Q6_K, 2048 },
    { SM_TYPE_Q6_K, 8192 },   { SM_TYPE_IQ4_XS, 2048 }, { SM_TYPE_IQ4_XS, 8192 },
  };
  const int n_threads = argc > 1 ? atoi (argv[1]) : 2;
  const int rounds = argc > 2 ? atoi (argv[2]) : 8;
  const int64_t chunk = argc > 3 ? atoll (argv[3]) : 512;
  uint8_t *base, *w;
  float *x, *out;
  uint8_t *act, *row;

  if (n_threads < 1 || n_threads > MAX_THREADS || rounds < 1 || chunk < 1)
    {
      fprintf (stderr, "usage: gemv-stream [THREADS [ROUNDS [CHUNK]]]\n");
      return 2;
    }
  base = mmap (NULL, MATRIX_BYTES + HUGE_PAGE, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED)
    {
      perror ("gemv-stream: mmap");
      return 1;
    }
  w = (uint8_t *) (((uintptr_t) base + HUGE_PAGE - 1) & ~(uintptr_t) (HUGE_PAGE - 1));
  madvise (w, MATRIX_BYTES, MADV_HUGEPAGE);
  x = malloc (sizeof *x * 8192);
  out = malloc (sizeof *out * (MATRIX_BYTES / 64));
  act = malloc (65536);
  row = malloc (65536);
  if (x == NULL || out == NULL || act == NULL || row == NULL)
    return 1;

  printf ("one-token kernels (%s) against a read loop, %d threads, calls of %lld rows, "
          "%d rounds\n\n",
          sm_cpu_variant_name (sm_dispatch_variant ()), n_threads, (long long) chunk, rounds);
  printf ("| type | row elements | kernel GB/s (best) | read GB/s (best) | kernel / read "
          "(median) |\n| --- | ---: | ---: | ---: | ---: |\n");
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    {
      const sm_type t = cases[c].type;
      const int64_t n = cases[c].n_in;
      const sm_gemv_fn gemv = sm_dispatch_gemv (t);
      const size_t ws = sm_type_row_size (t, n);
      double best_k = 0, best_r = 0, ratio[64];
      stream_job proto = { 0 };

      if (gemv == NULL)
        continue;
      /* Rows of one real quantized row (the kernels' speed does not depend on the values, but
       * finite scales keep the float work ordinary); activations of a ramp. */
      uint32_t s = 12345;
      for (int64_t i = 0; i < n; i++)
        {
          s = s * 1664525u + 1013904223u;
          x[i] = (float) ((int32_t) (s >> 8) % 2001 - 1000) / 1000.0f;
        }
      if (sm_quantize_row (t, x, row, n, NULL) == 0)
        continue;
      proto.rows = (int64_t) (MATRIX_BYTES / ws);
      for (int64_t r = 0; r < proto.rows; r++)
        memcpy (w + (size_t) r * ws, row, ws);
      sm_quant_activation_row (t, x, act, n);
      proto.w = w;
      proto.ws = ws;
      proto.n_in = n;
      proto.chunk = chunk;
      proto.act = act;
      proto.out = out;
      proto.n_threads = n_threads;

      const int r_max = rounds < 64 ? rounds : 64;
      for (int r = 0; r < r_max; r++)
        {
          const double k = run_pass (&proto, gemv);
          const double rd = run_pass (&proto, NULL);
          best_k = k > best_k ? k : best_k;
          best_r = rd > best_r ? rd : best_r;
          ratio[r] = k / rd;
        }
      qsort (ratio, (size_t) r_max, sizeof ratio[0], cmp_double);
      printf ("| %s | %lld | %.1f | %.1f | %.2f |\n", sm_type_get_traits (t)->upper, (long long) n, best_k,
              best_r, ratio[r_max / 2]);
      fflush (stdout);
    }
  return 0;
}
