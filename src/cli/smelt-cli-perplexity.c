/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-cli-perplexity.c: `smelt perplexity MODEL TEXTFILE [--ctx N] [--threads N]` (issue 4).
 *
 * llama-perplexity's method: the file is tokenized once (BOS as the vocabulary says) and cut
 * into chunks of N tokens; each chunk starts from an empty cache with its first token replaced
 * by BOS (when the vocabulary adds one), and only the second half of each chunk is scored, so
 * every scored token has at least N/2 tokens of context. Prints the running estimate per chunk
 * and "Final estimate: PPL = X +/- E" (E from the spread of the token log-likelihoods).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm-model.h"
#include "sm-tokenizer.h"
#include "smelt-cli-model.h"
#include "smelt-cli-private.h"

/* -log p(target) from one row of logits, in double for the sum over the vocabulary. */
static double
neg_log_prob (const float *logits,
              int32_t      n_vocab,
              sm_token     target)
{
  float max = logits[0];
  double sum = 0.0;

  for (int32_t i = 1; i < n_vocab; i++)
    if (logits[i] > max)
      max = logits[i];
  for (int32_t i = 0; i < n_vocab; i++)
    sum += exp ((double) logits[i] - max);
  return -(((double) logits[target] - max) - log (sum));
}

int
smelt_cli_perplexity (int    argc,
                      char **argv)
{
  g_auto(GStrv) rest = NULL;
  int n_ctx = 512, n_threads = 0, n_batch = 64;
  GOptionEntry entries[] = {
    { "ctx", 'c', 0, G_OPTION_ARG_INT, &n_ctx, "Tokens per chunk (default 512)", "N" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &n_threads, "Compute threads (default: physical cores)", "N" },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, "MODEL TEXTFILE" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("MODEL TEXTFILE");
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_autofree float *logits = NULL;
  gsize text_len = 0;
  sm_error err = { 0 };
  sm_model *model = NULL;
  sm_tokenizer *tok = NULL;
  sm_context *ctx = NULL;
  sm_context_params cp = sm_context_default_params ();
  sm_token *ids = NULL;
  size_t n_ids = 0;
  int32_t n_vocab, n_chunks;
  double nll = 0.0, nll2 = 0.0;
  int64_t count = 0;
  bool add_bos;
  int status = 1;

  g_option_context_set_summary (context, "Measures perplexity on a text file (llama-perplexity's "
                                         "method: second half of each chunk scored).");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!smelt_cli_parse (context, &argc, &argv))
    return 2;
  if (rest == NULL || rest[0] == NULL || rest[1] == NULL || rest[2] != NULL)
    {
      smelt_cli_fail ("perplexity needs MODEL and TEXTFILE (see --help)");
      return 2;
    }
  if (n_ctx < 4 || n_threads < 0)
    {
      smelt_cli_fail ("--ctx must be at least 4");
      return 2;
    }
  if (!g_file_get_contents (rest[1], &text, &text_len, &error))
    return smelt_cli_fail ("%s", error->message);

  if (!smelt_cli_load_model (rest[0], FALSE, &model))
    return 1;
  n_vocab = sm_model_get_hparams (model)->n_vocab;
  if (sm_tokenizer_load (sm_model_get_gguf (model), &tok, &err) != SM_OK
      || sm_tokenizer_tokenize (tok, text, text_len, true, false, &ids, &n_ids, &err) != SM_OK)
    {
      smelt_cli_fail ("%s", err.msg);
      goto out;
    }
  add_bos = sm_tokenizer_get_add_bos (tok) && sm_tokenizer_bos (tok) >= 0;
  n_chunks = (int32_t) (n_ids / (size_t) n_ctx);
  if (n_chunks < 1)
    {
      smelt_cli_fail ("%s has %zu tokens, fewer than one chunk of %d (use a smaller --ctx)",
                      rest[1], n_ids, n_ctx);
      goto out;
    }

  cp.n_ctx = (uint32_t) n_ctx;
  cp.n_batch = (uint32_t) n_batch;
  cp.n_threads = n_threads;
  if (sm_context_new (model, &cp, &ctx, &err) != SM_OK)
    {
      smelt_cli_fail ("%s", err.msg);
      goto out;
    }
  logits = g_new (float, (size_t) n_batch * n_vocab);
  fprintf (stderr, "smelt: %zu tokens, %d chunks of %d\n", n_ids, n_chunks, n_ctx);

  for (int32_t c = 0; c < n_chunks; c++)
    {
      sm_token *chunk = ids + (size_t) c * n_ctx;
      sm_token first = chunk[0];
      int first_scored = n_ctx / 2;

      if (add_bos)
        chunk[0] = sm_tokenizer_bos (tok);
      sm_context_truncate (ctx, 0);
      for (int b = 0; b < n_ctx; b += n_batch)
        {
          int n = MIN (n_batch, n_ctx - b);
          if (sm_context_eval (ctx, chunk + b, n, logits, &err) != SM_OK)
            {
              smelt_cli_fail ("%s", err.msg);
              goto out;
            }
          /* Logits after token i predict token i + 1. */
          for (int i = 0; i < n; i++)
            {
              int pos = b + i;
              if (pos >= first_scored && pos + 1 < n_ctx)
                {
                  double v = neg_log_prob (logits + (size_t) i * n_vocab, n_vocab,
                                           chunk[pos + 1]);
                  nll += v;
                  nll2 += v * v;
                  count++;
                }
            }
          if (smelt_cli_interrupted ())
            goto out;
        }
      chunk[0] = first;
      printf ("[%d]%.4f,", c + 1, exp (nll / count));
      fflush (stdout);
    }
  {
    double mean = nll / count;
    double var = nll2 / count - mean * mean;
    double ppl = exp (mean);
    double err_ppl = var > 0 && count > 1 ? ppl * sqrt (var / (count - 1)) : 0.0;
    printf ("\nFinal estimate: PPL = %.4f +/- %.5f\n", ppl, err_ppl);
  }
  status = 0;

out:
  free (ids);
  sm_context_free (ctx);
  sm_tokenizer_free (tok);
  sm_model_free (model);
  return status;
}
