/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * storage-bench.c: generation speed with the weights in the file mapping against the same weights
 * copied onto 2 MiB huge pages (sm_weight_storage), in one process:
 *   storage-bench MODEL THREADS N_GEN ROUNDS
 * Opens MODEL twice (SM_WEIGHTS_MMAP and SM_WEIGHTS_COPY), warms both up, then alternates
 * tgN runs (N single-token evaluations from an empty cache) between the two, ROUNDS times each,
 * so a busy machine slows both alike. Prints every run (tokens per second of wall time, and
 * milliseconds of process CPU time per token: with THREADS = 1 the CPU time ignores the time the
 * machine gave to others, stalls on memory included), then the best and median per storage and
 * the load time of each. Not a test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sm-model.h"

static double
now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
cpu_now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
cmp_double (const void *a,
            const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

/* Seconds for n single-token evaluations from an empty cache, and the CPU seconds in *cpu;
 * < 0 on error. */
static double
run_tg (sm_context    *c,
        const int32_t *tokens,
        int            n,
        double        *cpu)
{
  sm_error err = { 0 };
  double t0, c0;

  sm_context_truncate (c, 0);
  c0 = cpu_now ();
  t0 = now ();
  for (int i = 0; i < n; i++)
    if (sm_context_eval (c, tokens + i, 1, NULL, &err) != SM_OK)
      {
        fprintf (stderr, "storage-bench: %s\n", err.msg);
        return -1;
      }
  t0 = now () - t0;
  *cpu = cpu_now () - c0;
  return t0;
}

int
main (int    argc,
      char **argv)
{
  static const char *names[2] = { "mmap", "copy" };
  sm_model *m[2] = { NULL, NULL };
  sm_context *c[2] = { NULL, NULL };
  double load[2], *rates[2], *cpus[2], cpu;
  int n_gen, rounds, n_threads;
  int32_t *tokens;
  uint64_t state = 1234;

  if (argc != 5)
    {
      fprintf (stderr, "usage: storage-bench MODEL THREADS N_GEN ROUNDS\n");
      return 2;
    }
  n_threads = atoi (argv[2]);
  n_gen = atoi (argv[3]);
  rounds = atoi (argv[4]);
  if (n_gen < 1 || rounds < 1)
    return 2;
  for (int s = 0; s < 2; s++)
    {
      sm_model_params mp = sm_model_default_params ();
      sm_context_params cp = sm_context_default_params ();
      sm_error err = { 0 };
      double t0 = now ();

      mp.storage = s == 0 ? SM_WEIGHTS_MMAP : SM_WEIGHTS_COPY;
      cp.n_ctx = (uint32_t) n_gen;
      cp.n_threads = n_threads;
      if (sm_model_open (argv[1], &mp, &m[s], &err) != SM_OK
          || sm_context_new (m[s], &cp, &c[s], &err) != SM_OK)
        {
          fprintf (stderr, "storage-bench: %s\n", err.msg);
          return 1;
        }
      load[s] = now () - t0;
      rates[s] = calloc ((size_t) rounds, sizeof (double));
      cpus[s] = calloc ((size_t) rounds, sizeof (double));
    }
  tokens = malloc (sizeof *tokens * (size_t) n_gen);
  for (int i = 0; i < n_gen; i++)
    {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      tokens[i] = (int32_t) ((state >> 33) % (uint64_t) sm_model_get_hparams (m[0])->n_vocab);
    }
  /* Warm-up: brings the mapped file's pages in and every thread up. */
  for (int s = 0; s < 2; s++)
    if (run_tg (c[s], tokens, n_gen, &cpu) < 0)
      return 1;
  for (int r = 0; r < rounds; r++)
    for (int k = 0; k < 2; k++)
      {
        int s = (r + k) % 2; /* mmap first in even rounds, copy first in odd ones */
        double t = run_tg (c[s], tokens, n_gen, &cpu);

        if (t < 0)
          return 1;
        rates[s][r] = n_gen / t;
        cpus[s][r] = 1e3 * cpu / n_gen;
        printf ("round %d %s tg%d %.3f t/s %.2f cpu-ms/token\n", r + 1, names[s], n_gen,
                rates[s][r], cpus[s][r]);
      }
  for (int s = 0; s < 2; s++)
    {
      qsort (rates[s], (size_t) rounds, sizeof (double), cmp_double);
      qsort (cpus[s], (size_t) rounds, sizeof (double), cmp_double);
      printf ("%s: best %.3f median %.3f t/s; cpu-ms/token best %.2f median %.2f; load %.3f s\n",
              names[s], rates[s][rounds - 1], rates[s][rounds / 2], cpus[s][0],
              cpus[s][rounds / 2], load[s]);
      free (cpus[s]);
      sm_context_free (c[s]);
      sm_model_free (m[s]);
      free (rates[s]);
    }
  free (tokens);
  return 0;
}
