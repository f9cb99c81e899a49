/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-cli-bench.c: `smelt bench MODEL [-t N] [-p N] [-n N] [-r N] [--mmap] [--json]`, prompt
 * processing and generation speed in llama-bench's table format (issue 8).
 *
 * Method, as llama-bench's: one untimed warm-up run per test, then r timed repetitions, each from
 * an empty cache. ppN evaluates N random tokens as one prompt (in batches of -b); tgN evaluates N
 * tokens one at a time. Tokens per second are averaged over the repetitions and the standard
 * deviation is that of the per-repetition rates. Not a test of output quality.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm-model.h"
#include "smelt-cli-private.h"

typedef struct
{
  char   name[32];
  double mean; /* tokens per second */
  double stddev;
} BenchResult;

static gboolean
bench_one (sm_context    *ctx,
           const int32_t *tokens,
           int            n_tokens,
           gboolean       prompt,
           int            reps,
           BenchResult   *result,
           sm_error      *err)
{
  g_autofree double *rates = g_new0 (double, reps);
  double sum = 0.0, sq = 0.0;

  /* rep == -1 is the untimed warm-up. */
  for (int rep = -1; rep < reps; rep++)
    {
      gint64 t0;
      double secs;

      sm_context_truncate (ctx, 0);
      t0 = g_get_monotonic_time ();
      if (prompt)
        {
          if (sm_context_eval (ctx, tokens, n_tokens, NULL, err) != SM_OK)
            return FALSE;
        }
      else
        {
          for (int i = 0; i < n_tokens; i++)
            if (sm_context_eval (ctx, tokens + i, 1, NULL, err) != SM_OK)
              return FALSE;
        }
      secs = (double) (g_get_monotonic_time () - t0) / 1e6;
      if (rep >= 0)
        rates[rep] = secs > 0 ? n_tokens / secs : 0.0;
    }
  for (int i = 0; i < reps; i++)
    sum += rates[i];
  result->mean = sum / reps;
  for (int i = 0; i < reps; i++)
    sq += (rates[i] - result->mean) * (rates[i] - result->mean);
  result->stddev = reps > 1 ? sqrt (sq / (reps - 1)) : 0.0;
  return TRUE;
}

/* "llama 1B Q4_0", from the metadata as llama-bench prints it. */
static char *
describe_model (const sm_model *model,
                uint64_t        n_params)
{
  const sm_gguf *g = sm_model_get_gguf (model);
  const sm_model_hparams *hp = sm_model_get_hparams (model);
  uint64_t ftype;
  const char *ftype_name = NULL;
  g_autofree char *size = NULL;

  sm_gguf_str label;

  if (sm_gguf_find_uint (g, "general.file_type", &ftype))
    ftype_name = sm_ftype_name ((uint32_t) ftype);
  if (sm_gguf_find_str (g, "general.size_label", &label) && label.len < 32)
    size = g_strndup (label.ptr, label.len);
  else if (n_params >= 1000000000ull)
    size = g_strdup_printf ("%.0fB", (double) n_params / 1e9);
  else if (n_params >= 1000000ull)
    size = g_strdup_printf ("%.0fM", (double) n_params / 1e6);
  else
    size = g_strdup_printf ("%.0fK", (double) n_params / 1e3);
  return g_strdup_printf ("%s %s %s", sm_arch_name (hp->arch), size,
                          ftype_name != NULL ? ftype_name : "?");
}

int
smelt_cli_bench (int    argc,
                 char **argv)
{
  int n_threads = 0, n_prompt = 512, n_gen = 128, reps = 5, n_batch = 0;
  gboolean json = FALSE, mmap = FALSE;
  g_auto(GStrv) rest = NULL;
  GOptionEntry entries[] = {
    { "threads", 't', 0, G_OPTION_ARG_INT, &n_threads, "Compute threads (default: physical cores)", "N" },
    { "n-prompt", 'p', 0, G_OPTION_ARG_INT, &n_prompt, "Prompt tokens for the pp test (0: skip; default 512)", "N" },
    { "n-gen", 'n', 0, G_OPTION_ARG_INT, &n_gen, "Generated tokens for the tg test (0: skip; default 128)", "N" },
    { "repetitions", 'r', 0, G_OPTION_ARG_INT, &reps, "Timed repetitions per test (default 5)", "N" },
    { "batch-size", 'b', 0, G_OPTION_ARG_INT, &n_batch, "Prompt tokens per forward pass (default: engine's)", "N" },
    { "mmap", 0, 0, G_OPTION_ARG_NONE, &mmap, "Read the weights through the file mapping instead of copying them onto huge pages", NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON instead of the table", NULL },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, "MODEL" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("MODEL");
  sm_error err = { 0 };
  sm_model *model = NULL;
  sm_context *ctx = NULL;
  sm_model_params mp = sm_model_default_params ();
  sm_context_params cp = sm_context_default_params ();
  BenchResult results[2];
  int n_results = 0;
  const sm_model_hparams *hp;
  const sm_gguf *g;
  uint64_t n_params = 0;
  g_autofree int32_t *tokens = NULL;
  g_autofree char *desc = NULL;
  int n_max;
  GRand *rand;
  int status = 1;

  g_option_context_set_summary (context, "Measures prompt processing and generation speed.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!smelt_cli_parse (context, &argc, &argv))
    return 2;
  if (rest == NULL || rest[0] == NULL || rest[1] != NULL)
    return smelt_cli_fail ("bench needs exactly one MODEL (see --help)") + 1;
  if (n_prompt < 0 || n_gen < 0 || reps < 1 || n_threads < 0 || n_batch < 0
      || (n_prompt == 0 && n_gen == 0))
    return smelt_cli_fail ("bad -p/-n/-r/-t/-b value") + 1;

  mp.storage = mmap ? SM_WEIGHTS_MMAP : SM_WEIGHTS_AUTO;
  if (sm_model_open (rest[0], &mp, &model, &err) != SM_OK)
    return smelt_cli_fail ("%s: %s", rest[0], err.msg);
  hp = sm_model_get_hparams (model);
  g = sm_model_get_gguf (model);
  for (int64_t i = 0; i < sm_gguf_get_n_tensors (g); i++)
    n_params += (uint64_t) sm_gguf_tensor_nelements (sm_gguf_get_tensor (g, i));

  n_max = MAX (n_prompt, n_gen);
  cp.n_ctx = (uint32_t) MAX (n_max, 1);
  cp.n_threads = n_threads;
  cp.n_batch = (uint32_t) n_batch;
  if (sm_context_new (model, &cp, &ctx, &err) != SM_OK)
    {
      smelt_cli_fail ("%s", err.msg);
      goto out;
    }

  /* Random tokens from a fixed seed: the speed does not depend on which. */
  tokens = g_new (int32_t, n_max);
  rand = g_rand_new_with_seed (1234);
  for (int i = 0; i < n_max; i++)
    tokens[i] = (int32_t) g_rand_int_range (rand, 0, hp->n_vocab);
  g_rand_free (rand);

  if (n_prompt > 0)
    {
      g_snprintf (results[n_results].name, sizeof results[0].name, "pp%d", n_prompt);
      if (!bench_one (ctx, tokens, n_prompt, TRUE, reps, &results[n_results], &err))
        {
          smelt_cli_fail ("%s", err.msg);
          goto out;
        }
      n_results++;
    }
  if (n_gen > 0)
    {
      g_snprintf (results[n_results].name, sizeof results[0].name, "tg%d", n_gen);
      if (!bench_one (ctx, tokens, n_gen, FALSE, reps, &results[n_results], &err))
        {
          smelt_cli_fail ("%s", err.msg);
          goto out;
        }
      n_results++;
    }

  desc = describe_model (model, n_params);
  if (json)
    {
      printf ("[");
      for (int i = 0; i < n_results; i++)
        printf ("%s{\"test\":\"%s\",\"tokens_per_second\":%.3f,\"stddev\":%.3f}", i ? "," : "",
                results[i].name, results[i].mean, results[i].stddev);
      printf ("]\n");
    }
  else
    {
      double size = (double) sm_gguf_get_file_size (g);
      g_autofree char *size_str = size >= 1024.0 * 1024 * 1024
                                    ? g_strdup_printf ("%.2f GiB", size / (1024.0 * 1024 * 1024))
                                    : g_strdup_printf ("%.2f MiB", size / (1024.0 * 1024));
      g_autofree char *params_str = n_params >= 1000000000ull
                                      ? g_strdup_printf ("%.2f B", (double) n_params / 1e9)
                                      : g_strdup_printf ("%.2f M", (double) n_params / 1e6);

      printf ("| %-30s | %10s | %10s | %-10s | %7s | %15s | %20s |\n", "model", "size", "params",
              "backend", "threads", "test", "t/s");
      printf ("| ------------------------------ | ---------: | ---------: | ---------- | ------: "
              "| --------------: | -------------------: |\n");
      for (int i = 0; i < n_results; i++)
        {
          g_autofree char *ts = g_strdup_printf ("%.2f ± %.2f", results[i].mean,
                                                 results[i].stddev);
          /* "±" is two bytes but one column: pad by one more. */
          printf ("| %-30s | %10s | %10s | %-10s | %7d | %15s | %21s |\n", desc, size_str,
                  params_str, "CPU", sm_context_get_n_threads (ctx), results[i].name, ts);
        }
    }
  fflush (stdout);
  status = 0;

out:
  sm_context_free (ctx);
  sm_model_free (model);
  return status;
}
