/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-cli-chat.c: `smelt chat MODEL [--system TEXT] [--temp T] [--seed S] [--threads N]
 * [--ctx N] [-n N]`: an interactive conversation in the terminal (issue 4).
 *
 * Reads one user message per line from stdin, streams the reply to stdout and keeps the
 * history. "/reset" forgets the conversation (the system prompt is re-added), "/exit" or end of
 * input quits, Ctrl-C stops the reply being written (a second Ctrl-C quits). When old turns are
 * dropped to fit the context, a note goes to stderr.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sm-session.h"
#include "smelt-cli-model.h"
#include "smelt-cli-private.h"

static bool
on_piece_cb (const char *piece,
             size_t      len,
             sm_token    token,
             void       *user_data)
{
  fwrite (piece, 1, len, stdout);
  fflush (stdout);
  return !smelt_cli_interrupted ();
}

static bool
on_abort_cb (void *user_data)
{
  return !smelt_cli_interrupted ();
}

int
smelt_cli_chat (int    argc,
                char **argv)
{
  g_autofree char *system_prompt = NULL;
  g_auto(GStrv) rest = NULL;
  int n_predict = 0, n_threads = 0, n_ctx = 0;
  double temp = 0.8;
  gint64 seed = -1;
  GOptionEntry entries[] = {
    { "system", 's', 0, G_OPTION_ARG_STRING, &system_prompt, "A system message", "TEXT" },
    { "n-predict", 'n', 0, G_OPTION_ARG_INT, &n_predict, "Tokens per reply at most (default: until the end of the turn)", "N" },
    { "temp", 0, 0, G_OPTION_ARG_DOUBLE, &temp, "Sampling temperature (0: greedy; default 0.8)", "T" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Sampler seed (default: random)", "S" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &n_threads, "Compute threads (default: physical cores)", "N" },
    { "ctx", 'c', 0, G_OPTION_ARG_INT, &n_ctx, "Context size in tokens (default: min(train, 4096))", "N" },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, "MODEL" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("MODEL");
  sm_error err = { 0 };
  sm_model *model = NULL;
  sm_session *session = NULL;
  sm_session_params sp = sm_session_default_params ();
  gboolean interactive = isatty (STDIN_FILENO);
  GString *line = g_string_new (NULL);
  int status = 1;

  g_option_context_set_summary (context,
                                "Chats with a model. One message per line; /reset starts over, "
                                "/exit quits, Ctrl-C stops a reply.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!smelt_cli_parse (context, &argc, &argv))
    return 2;
  if (rest == NULL || rest[0] == NULL || rest[1] != NULL)
    {
      smelt_cli_fail ("chat needs exactly one MODEL (see --help)");
      return 2;
    }
  if (n_predict < 0 || n_threads < 0 || n_ctx < 0 || temp < 0)
    {
      smelt_cli_fail ("bad -n/--threads/--ctx/--temp value");
      return 2;
    }

  if (!smelt_cli_load_model (rest[0], interactive, &model))
    goto out;
  sp.n_ctx = (uint32_t) n_ctx;
  sp.n_threads = n_threads;
  sp.temperature = (float) temp;
  sp.seed = seed >= 0 ? (uint64_t) seed : g_random_int ();
  sp.max_tokens = n_predict;
  if (sm_session_new (model, &sp, &session, &err) != SM_OK
      || (system_prompt != NULL
          && sm_session_add_message (session, SM_ROLE_SYSTEM, system_prompt, &err) != SM_OK))
    {
      smelt_cli_fail ("%s", err.msg);
      goto out;
    }
  smelt_cli_catch_interrupt ();
  /* Ctrl-C also stops a long prompt being evaluated, between layers. */
  sm_session_set_abort (session, on_abort_cb, NULL);

  for (;;)
    {
      sm_session_stats stats;
      int c;

      if (interactive)
        {
          fputs ("> ", stdout);
          fflush (stdout);
        }
      g_string_truncate (line, 0);
      while ((c = getchar ()) != EOF && c != '\n')
        g_string_append_c (line, (char) c);
      if (c == EOF && line->len == 0)
        break;
      if (smelt_cli_interrupted () && line->len == 0)
        break;
      smelt_cli_clear_interrupt ();
      g_strstrip (line->str);
      line->len = strlen (line->str);
      if (line->len == 0)
        continue;
      if (strcmp (line->str, "/exit") == 0 || strcmp (line->str, "/quit") == 0)
        break;
      if (strcmp (line->str, "/reset") == 0)
        {
          sm_session_reset (session);
          if (system_prompt != NULL)
            sm_session_add_message (session, SM_ROLE_SYSTEM, system_prompt, NULL); /* first
                                                                                      message:
                                                                                      cannot fail
                                                                                      but for
                                                                                      memory */
          fprintf (stderr, "smelt: conversation reset\n");
          continue;
        }
      if (sm_session_add_message (session, SM_ROLE_USER, line->str, &err) != SM_OK
          || sm_session_generate (session, false, on_piece_cb, NULL, &stats, &err) != SM_OK)
        {
          if (err.status == SM_ERR_CANCELLED)
            fprintf (stderr, "\nsmelt: reply stopped\n");
          else
            smelt_cli_fail ("%s", err.msg);
          /* The message that could not be answered is not kept. */
          if (sm_session_get_n_messages (session) > 0
              && sm_session_get_message_role (session, sm_session_get_n_messages (session) - 1)
                   == SM_ROLE_USER)
            sm_session_pop_message (session);
          continue;
        }
      printf ("\n");
      fflush (stdout);
      if (stats.n_dropped_messages > 0)
        fprintf (stderr, "smelt: the conversation outgrew the context: dropped the %d oldest "
                         "message%s\n", stats.n_dropped_messages,
                 stats.n_dropped_messages == 1 ? "" : "s");
      if (stats.stopped)
        fprintf (stderr, "smelt: reply stopped\n");
      if (stats.context_full)
        fprintf (stderr, "smelt: the context is full\n");
    }
  status = 0;

out:
  g_string_free (line, TRUE);
  sm_session_free (session);
  sm_model_free (model);
  return status;
}
