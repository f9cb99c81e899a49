/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-cli-run.c: `smelt run MODEL -p PROMPT [-n N] [--temp T] [--seed S] [--threads T] [--raw]
 * [--logits-out FILE] [--verbose]`: one prompt, one reply, streamed to stdout (issue 4).
 *
 * Without --raw the prompt is one user message rendered with the model's chat template (through
 * an sm_session); with --raw it is tokenized as plain text (BOS as the vocabulary says) and
 * stdout carries the generated text only. --tokens "ID ID ..." feeds token ids directly (what
 * the parity tests compare, so tokenization cannot hide a difference). Diagnostics go to stderr.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib/gstdio.h>

#include "sm-model.h"
#include "sm-sampler.h"
#include "sm-session.h"
#include "sm-tokenizer.h"
#include "smelt-cli-private.h"
#include "smelt-cli-model.h"

typedef struct
{
  gboolean verbose;
  gint64   t_first;
  int      n_pieces;
} RunOutput;

static bool
on_piece_cb (const char *piece,
             size_t      len,
             sm_token    token,
             void       *user_data)
{
  RunOutput *out = user_data;

  if (out->n_pieces++ == 0)
    out->t_first = g_get_monotonic_time ();
  fwrite (piece, 1, len, stdout);
  fflush (stdout);
  return !smelt_cli_interrupted ();
}

static bool
on_abort_cb (void *user_data)
{
  return !smelt_cli_interrupted ();
}

/* Parses "1 2 3" (spaces or commas) into ids; FALSE on anything else. */
static gboolean
parse_token_list (const char *text,
                  GArray     *ids)
{
  const char *p = text;

  while (*p != '\0')
    {
      char *end;
      long v;

      while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n')
        p++;
      if (*p == '\0')
        break;
      errno = 0;
      v = strtol (p, &end, 10);
      if (end == p || errno != 0 || v < 0 || v > G_MAXINT32)
        return FALSE;
      g_array_append_val (ids, (sm_token) { (sm_token) v });
      p = end;
    }
  return TRUE;
}

int
smelt_cli_run (int    argc,
               char **argv)
{
  g_autofree char *prompt = NULL;
  g_autofree char *token_list = NULL;
  g_autofree char *logits_out = NULL;
  g_autofree char *system_prompt = NULL;
  g_auto(GStrv) rest = NULL;
  int n_predict = 256, n_threads = 0, n_ctx = 0;
  double temp = 0.8;
  gint64 seed = -1;
  gboolean raw = FALSE, verbose = FALSE;
  GOptionEntry entries[] = {
    { "prompt", 'p', 0, G_OPTION_ARG_STRING, &prompt, "The prompt", "TEXT" },
    { "tokens", 0, 0, G_OPTION_ARG_STRING, &token_list, "The prompt as token ids (implies --raw)", "\"ID ID ...\"" },
    { "system", 0, 0, G_OPTION_ARG_STRING, &system_prompt, "A system message (chat mode)", "TEXT" },
    { "n-predict", 'n', 0, G_OPTION_ARG_INT, &n_predict, "Tokens to generate at most (default 256; 0: none)", "N" },
    { "temp", 0, 0, G_OPTION_ARG_DOUBLE, &temp, "Sampling temperature (0: greedy; default 0.8)", "T" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Sampler seed (default: random)", "S" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &n_threads, "Compute threads (default: physical cores)", "N" },
    { "ctx", 'c', 0, G_OPTION_ARG_INT, &n_ctx, "Context size in tokens (default: min(train, 4096))", "N" },
    { "raw", 0, 0, G_OPTION_ARG_NONE, &raw, "No chat template; stdout is the generated text only", NULL },
    { "logits-out", 0, 0, G_OPTION_ARG_FILENAME, &logits_out, "Write the next-token logits after the prompt (float32 LE)", "FILE" },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Print load time, speed and memory on stderr", NULL },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, "MODEL" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("MODEL");
  sm_error err = { 0 };
  sm_model *model = NULL;
  sm_session *session = NULL;
  sm_session_params sp;
  sm_session_stats stats = { 0 };
  RunOutput out = { 0 };
  gint64 t0;
  int status = 1;

  g_option_context_set_summary (context, "Runs one prompt through a model and prints the reply.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!smelt_cli_parse (context, &argc, &argv))
    return 2;
  if (rest == NULL || rest[0] == NULL || rest[1] != NULL)
    {
      smelt_cli_fail ("run needs exactly one MODEL (see --help)");
      return 2;
    }
  if ((prompt == NULL) == (token_list == NULL))
    {
      smelt_cli_fail ("give the prompt with -p TEXT or --tokens \"ID ...\"");
      return 2;
    }
  if (n_predict < 0 || n_threads < 0 || n_ctx < 0 || temp < 0)
    {
      smelt_cli_fail ("bad -n/--threads/--ctx/--temp value");
      return 2;
    }

  t0 = g_get_monotonic_time ();
  if (!smelt_cli_load_model (rest[0], verbose, &model))
    return 1;
  if (verbose)
    fprintf (stderr, "smelt: loaded %s in %.1f ms\n", rest[0],
             (g_get_monotonic_time () - t0) / 1000.0);

  sp = sm_session_default_params ();
  sp.n_ctx = (uint32_t) n_ctx;
  sp.n_threads = n_threads;
  sp.temperature = (float) temp;
  sp.seed = seed >= 0 ? (uint64_t) seed : g_random_int ();
  sp.max_tokens = n_predict > 0 ? n_predict : -1; /* -n 0: the prompt only */
  if (sm_session_new (model, &sp, &session, &err) != SM_OK)
    {
      smelt_cli_fail ("%s", err.msg);
      goto out;
    }

  smelt_cli_catch_interrupt ();
  sm_session_set_abort (session, on_abort_cb, NULL);
  if (token_list != NULL || raw)
    {
      g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (sm_token));
      if (token_list != NULL && !parse_token_list (token_list, ids))
        {
          smelt_cli_fail ("--tokens: expected token ids separated by spaces");
          goto out;
        }
      if (sm_session_complete (session, prompt,
                               token_list != NULL ? (const sm_token *) ids->data : NULL,
                               ids->len, logits_out != NULL, on_piece_cb, &out, &stats,
                               &err) != SM_OK)
        {
          smelt_cli_fail ("%s", err.msg);
          goto out;
        }
    }
  else
    {
      if (system_prompt != NULL
          && sm_session_add_message (session, SM_ROLE_SYSTEM, system_prompt, &err) != SM_OK)
        {
          smelt_cli_fail ("%s", err.msg);
          goto out;
        }
      if (sm_session_add_message (session, SM_ROLE_USER, prompt, &err) != SM_OK
          || sm_session_generate (session, logits_out != NULL, on_piece_cb, &out, &stats,
                                  &err) != SM_OK)
        {
          smelt_cli_fail ("%s", err.msg);
          goto out;
        }
    }
  if (!raw && token_list == NULL)
    printf ("\n");
  fflush (stdout);

  if (logits_out != NULL)
    {
      const float *lg = sm_session_get_prompt_logits (session);
      int32_t n_vocab = sm_model_get_hparams (model)->n_vocab;
      g_autoptr(GError) error = NULL;

      /* float32 little-endian (this is an x86/ARM little-endian build). */
      if (lg == NULL
          || !g_file_set_contents (logits_out, (const char *) lg,
                                   (gssize) (sizeof (float) * (size_t) n_vocab), &error))
        {
          smelt_cli_fail ("--logits-out %s: %s", logits_out,
                          error != NULL ? error->message : "no logits");
          goto out;
        }
    }

  if (verbose)
    {
      fprintf (stderr, "smelt: prompt %d tokens in %.1f ms (%.2f tokens/s)\n",
               stats.n_prompt_tokens, stats.prompt_seconds * 1000.0,
               stats.prompt_seconds > 0 ? stats.n_prompt_tokens / stats.prompt_seconds : 0.0);
      fprintf (stderr, "smelt: generated %d tokens in %.1f ms (%.2f tokens/s)\n",
               stats.n_generated, stats.generate_seconds * 1000.0,
               stats.generate_seconds > 0 ? stats.n_generated / stats.generate_seconds : 0.0);
      fprintf (stderr, "smelt: resident memory %.1f MiB (weights %.1f MiB mapped)\n",
               smelt_cli_resident_bytes () / (1024.0 * 1024.0),
               sm_model_get_weight_bytes (model) / (1024.0 * 1024.0));
    }
  status = smelt_cli_interrupted () ? 130 : 0;

out:
  sm_session_free (session);
  sm_model_free (model);
  return status;
}
