/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * engine-bench.c: `smelt bench` without GLib, for machines that have no GTK stack (it links the
 * engine only and can be built statically):
 *   engine-bench MODEL THREADS N_PROMPT N_GEN REPS [auto|mmap|copy]
 * Same method and the same JSON as `smelt bench --json`: an untimed warm-up, then REPS runs from
 * an empty cache; ppN is one N-token prompt, tgN is N single-token evaluations. The optional last
 * argument picks where the weights live (sm_weight_storage; default auto) and then the load time
 * and the storage used go to stderr. N_PROMPT = N_GEN = 0 only loads the model. Not a test.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sm-model.h"

static double
now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
measure (sm_context    *c,
         const int32_t *tokens,
         int            n,
         int            prompt,
         int            reps,
         double        *mean,
         double        *sd)
{
  double sum = 0, sq = 0, *rates = calloc ((size_t) reps, sizeof *rates);
  sm_error err = { 0 };

  for (int rep = -1; rep < reps; rep++)
    {
      double t0;
      sm_context_truncate (c, 0);
      t0 = now ();
      if (prompt)
        {
          if (sm_context_eval (c, tokens, n, NULL, &err) != SM_OK)
            goto fail;
        }
      else
        for (int i = 0; i < n; i++)
          if (sm_context_eval (c, tokens + i, 1, NULL, &err) != SM_OK)
            goto fail;
      if (rep >= 0)
        rates[rep] = n / (now () - t0);
    }
  for (int i = 0; i < reps; i++)
    sum += rates[i];
  *mean = sum / reps;
  for (int i = 0; i < reps; i++)
    sq += (rates[i] - *mean) * (rates[i] - *mean);
  *sd = reps > 1 ? sqrt (sq / (reps - 1)) : 0;
  free (rates);
  return 0;
fail:
  fprintf (stderr, "engine-bench: %s\n", err.msg);
  free (rates);
  return 1;
}

int
main (int    argc,
      char **argv)
{
  sm_error err = { 0 };
  sm_model *m = NULL;
  sm_context *c = NULL;
  sm_context_params cp = sm_context_default_params ();
  sm_model_params mp = sm_model_default_params ();
  int n_prompt, n_gen, reps, n_max;
  double t_load;
  int32_t *tokens;
  double mean, sd;
  uint64_t state = 1234;

  if (argc != 6 && argc != 7)
    {
      fprintf (stderr, "usage: engine-bench MODEL THREADS N_PROMPT N_GEN REPS [auto|mmap|copy]\n");
      return 2;
    }
  if (argc == 7)
    {
      if (strcmp (argv[6], "mmap") == 0)
        mp.storage = SM_WEIGHTS_MMAP;
      else if (strcmp (argv[6], "copy") == 0)
        mp.storage = SM_WEIGHTS_COPY;
      else if (strcmp (argv[6], "auto") != 0)
        return 2;
    }
  cp.n_threads = atoi (argv[2]);
  n_prompt = atoi (argv[3]);
  n_gen = atoi (argv[4]);
  reps = atoi (argv[5]);
  n_max = n_prompt > n_gen ? n_prompt : n_gen;
  if (reps < 1 || n_prompt < 0 || n_gen < 0)
    return 2;
  cp.n_ctx = (uint32_t) (n_max > 0 ? n_max : 1);
  t_load = now ();
  if (sm_model_open (argv[1], &mp, &m, &err) != SM_OK || sm_context_new (m, &cp, &c, &err) != SM_OK)
    {
      fprintf (stderr, "engine-bench: %s\n", err.msg);
      return 1;
    }
  t_load = now () - t_load;
  if (argc == 7)
    fprintf (stderr, "engine-bench: loaded in %.3f s, weights %s\n", t_load,
             sm_model_get_weight_storage (m) == SM_WEIGHTS_COPY ? "copied (huge pages)"
                                                                : "mapped");
  tokens = malloc (sizeof *tokens * (size_t) n_max);
  for (int i = 0; i < n_max; i++)
    {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      tokens[i] = (int32_t) ((state >> 33) % (uint64_t) sm_model_get_hparams (m)->n_vocab);
    }
  printf ("[");
  if (n_prompt > 0)
    {
      if (measure (c, tokens, n_prompt, 1, reps, &mean, &sd))
        return 1;
      printf ("{\"test\":\"pp%d\",\"tokens_per_second\":%.3f,\"stddev\":%.3f}", n_prompt, mean, sd);
    }
  if (n_gen > 0)
    {
      if (measure (c, tokens, n_gen, 0, reps, &mean, &sd))
        return 1;
      printf ("%s{\"test\":\"tg%d\",\"tokens_per_second\":%.3f,\"stddev\":%.3f}",
              n_prompt > 0 ? "," : "", n_gen, mean, sd);
    }
  printf ("]\n");
  free (tokens);
  sm_context_free (c);
  sm_model_free (m);
  return 0;
}
