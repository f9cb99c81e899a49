/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-runtime.c: the engine <-> main loop bridge with real models from ../shared/fixtures:
 * loading with progress, a streamed reply whose pieces add up to the returned text, KV reuse on
 * the next turn, stopping, refusing a second request while busy, a bad file leaving the loaded
 * model in place; a quantization whose progress reaches the end and whose output is a valid GGUF
 * of the asked type, and a cancelled one that leaves nothing behind.
 */
#include "config.h"

#include <glib/gstdio.h>

#include "sm-gguf.h"
#include "smelt-runtime.h"

static char *fixtures;
static char *tmp;

typedef struct
{
  GAsyncResult *result;
  GString      *pieces;
  guint         n_pieces;
  double        last_progress;
  guint         n_progress;
  char         *last_tensor;
  GCancellable *cancel_on_piece;
} Ctx;

static void
ctx_clear (Ctx *c)
{
  g_clear_object (&c->result);
  if (c->pieces)
    g_string_free (c->pieces, TRUE);
  g_free (c->last_tensor);
}

static void
done_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  ((Ctx *) user_data)->result = g_object_ref (result);
}

static void
wait_result (Ctx *c)
{
  gint64 end = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;

  while (c->result == NULL && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_assert_nonnull (c->result);
}

static void
on_piece_cb (SmeltChatSession *s,
             const char       *text,
             Ctx              *c)
{
  g_string_append (c->pieces, text);
  c->n_pieces++;
  if (c->cancel_on_piece)
    g_cancellable_cancel (c->cancel_on_piece);
}

static void
on_load_progress_cb (SmeltChatSession *s,
                     double            progress,
                     Ctx              *c)
{
  g_assert_cmpfloat (progress, >=, c->last_progress);
  c->last_progress = progress;
  c->n_progress++;
}

static SmeltChatSession *
load_stories (void)
{
  SmeltChatSession *s = smelt_chat_session_new ();
  g_autofree char *path = g_build_filename (fixtures, "stories260K.gguf", NULL);
  SmeltSamplingParams p;
  Ctx c = { 0 };
  g_autoptr(GError) error = NULL;

  smelt_sampling_params_init (&p);
  p.temperature = 0;
  p.max_tokens = 24;
  p.n_threads = 1;
  p.n_ctx = 256;
  g_signal_connect (s, "load-progress", G_CALLBACK (on_load_progress_cb), &c);
  smelt_chat_session_load_async (s, path, &p, NULL, done_cb, &c);
  g_assert_true (smelt_chat_session_get_busy (s));
  wait_result (&c);
  g_assert_true (smelt_chat_session_load_finish (s, c.result, &error));
  g_assert_no_error (error);
  g_assert_false (smelt_chat_session_get_busy (s));
  g_assert_cmpstr (smelt_chat_session_get_model_path (s), ==, path);
  g_signal_handlers_disconnect_by_data (s, &c);
  ctx_clear (&c);
  return s;
}

static char *
reply (SmeltChatSession *s,
       GPtrArray        *messages,
       SmeltReplyStats  *stats,
       GCancellable     *cancel_on_piece,
       char            **streamed)
{
  Ctx c = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) cancellable = cancel_on_piece ? g_object_ref (cancel_on_piece) : NULL;
  char *text;

  c.pieces = g_string_new (NULL);
  c.cancel_on_piece = cancel_on_piece;
  g_signal_connect (s, "piece", G_CALLBACK (on_piece_cb), &c);
  smelt_chat_session_reply_async (s, NULL, messages, cancellable, done_cb, &c);
  wait_result (&c);
  text = smelt_chat_session_reply_finish (s, c.result, stats, &error);
  g_assert_no_error (error);
  g_signal_handlers_disconnect_by_data (s, &c);
  *streamed = g_strdup (c.pieces->str);
  ctx_clear (&c);
  return text;
}

static void
test_chat_streams (void)
{
  g_autoptr(SmeltChatSession) s = load_stories ();
  g_autoptr(GPtrArray) msgs = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_chat_message_free);
  SmeltReplyStats st1 = { 0 }, st2 = { 0 };
  g_autofree char *text1 = NULL, *streamed1 = NULL, *text2 = NULL, *streamed2 = NULL;

  g_ptr_array_add (msgs, smelt_chat_message_new (SMELT_CHAT_ROLE_USER, "Once upon a time"));
  text1 = reply (s, msgs, &st1, NULL, &streamed1);
  g_assert_cmpstr (text1, ==, streamed1);
  g_assert_cmpint (st1.n_generated, >, 0);
  g_assert_cmpint (strlen (text1), >, 0);
  g_assert_cmpuint (st1.n_ctx, ==, 256);
  g_assert_cmpuint (st1.context_used, >, st1.n_generated);
  g_assert_cmpuint (st1.context_used, <=, 256);

  /* The next turn reuses the cache: only the new tokens are evaluated. */
  g_ptr_array_add (msgs, smelt_chat_message_new (SMELT_CHAT_ROLE_ASSISTANT, text1));
  g_ptr_array_add (msgs, smelt_chat_message_new (SMELT_CHAT_ROLE_USER, "The cat"));
  text2 = reply (s, msgs, &st2, NULL, &streamed2);
  g_assert_cmpstr (text2, ==, streamed2);
  g_assert_cmpuint (st2.context_used, >, st1.context_used);
  g_assert_cmpint (st2.n_prompt_tokens, <, (int) st1.context_used);

  /* New sampling settings rebuild the context (and the template with it) between replies. */
  {
    SmeltSamplingParams p;
    g_autofree char *again = NULL, *streamed = NULL;
    SmeltReplyStats st = { 0 };

    smelt_sampling_params_init (&p);
    p.temperature = 0;
    p.max_tokens = 24;
    p.n_threads = 1;
    p.n_ctx = 256;
    p.seed = 7;
    smelt_chat_session_set_params (s, &p);
    again = reply (s, msgs, &st, NULL, &streamed);
    g_assert_cmpstr (again, ==, streamed);
    g_assert_cmpuint (st.context_used, >, 0);
  }

  /* Regenerate (history no longer a prefix) starts over and, greedy, gives the same reply. */
  g_ptr_array_set_size (msgs, 1);
  {
    g_autofree char *again = NULL, *streamed = NULL;
    SmeltReplyStats st = { 0 };

    again = reply (s, msgs, &st, NULL, &streamed);
    g_assert_cmpstr (again, ==, text1);
  }
}

static void
test_chat_stop_and_busy (void)
{
  g_autoptr(SmeltChatSession) s = load_stories ();
  g_autoptr(GPtrArray) msgs = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_chat_message_free);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  SmeltReplyStats st = { 0 };
  g_autofree char *text = NULL, *streamed = NULL;

  g_ptr_array_add (msgs, smelt_chat_message_new (SMELT_CHAT_ROLE_USER, "Lily"));

  /* A second request while the first runs is refused, and the first still completes. */
  {
    Ctx a = { 0 }, b = { 0 };
    g_autoptr(GError) error = NULL;
    g_autofree char *ra = NULL;

    smelt_chat_session_reply_async (s, NULL, msgs, NULL, done_cb, &a);
    smelt_chat_session_reply_async (s, NULL, msgs, NULL, done_cb, &b);
    wait_result (&b);
    g_assert_null (smelt_chat_session_reply_finish (s, b.result, NULL, &error));
    g_assert_error (error, SMELT_RUNTIME_ERROR, SMELT_RUNTIME_ERROR_BUSY);
    g_clear_error (&error);
    wait_result (&a);
    ra = smelt_chat_session_reply_finish (s, a.result, NULL, &error);
    g_assert_no_error (error);
    g_assert_nonnull (ra);
    ctx_clear (&a);
    ctx_clear (&b);
  }

  /* Stopping keeps the text so far and is not an error. The tiny model outruns any stop from
   * the main loop, so stop before the first token: the worker stops at its first piece. */
  g_cancellable_cancel (cancellable);
  text = reply (s, msgs, &st, cancellable, &streamed);
  g_assert_true (st.stopped);
  g_assert_cmpstr (text, ==, streamed);
  g_assert_cmpint (st.n_generated, <=, 1);

  /* A conversation must end with the user. */
  {
    Ctx c = { 0 };
    g_autoptr(GError) error = NULL;

    g_ptr_array_add (msgs, smelt_chat_message_new (SMELT_CHAT_ROLE_ASSISTANT, "x"));
    smelt_chat_session_reply_async (s, NULL, msgs, NULL, done_cb, &c);
    wait_result (&c);
    g_assert_null (smelt_chat_session_reply_finish (s, c.result, NULL, &error));
    g_assert_error (error, SMELT_RUNTIME_ERROR, SMELT_RUNTIME_ERROR_INVALID);
    ctx_clear (&c);
  }
}

static void
test_chat_bad_file (void)
{
  g_autoptr(SmeltChatSession) s = load_stories ();
  g_autofree char *bad = g_build_filename (tmp, "not-a-model.gguf", NULL);
  g_autofree char *before = g_strdup (smelt_chat_session_get_model_path (s));
  SmeltSamplingParams p;
  Ctx c = { 0 };
  g_autoptr(GError) error = NULL;

  g_assert_true (g_file_set_contents (bad, "plain text, not a model file at all", -1, NULL));
  smelt_sampling_params_init (&p);
  smelt_chat_session_load_async (s, bad, &p, NULL, done_cb, &c);
  wait_result (&c);
  g_assert_false (smelt_chat_session_load_finish (s, c.result, &error));
  g_assert_error (error, SMELT_RUNTIME_ERROR, SMELT_RUNTIME_ERROR_FORMAT);
  g_assert_cmpstr (smelt_chat_session_get_model_path (s), ==, before);
  ctx_clear (&c);
}

static void
on_quantize_progress_cb (SmeltQuantizeJob *job,
                         double            fraction,
                         const char       *tensor,
                         double            eta,
                         Ctx              *c)
{
  g_assert_cmpfloat (fraction, >=, c->last_progress);
  c->last_progress = fraction;
  c->n_progress++;
  if (tensor != NULL)
    {
      g_free (c->last_tensor);
      c->last_tensor = g_strdup (tensor);
    }
}

static void
test_quantize (void)
{
  g_autofree char *in = g_build_filename (fixtures, "llama-2-tiny-random.gguf", NULL);
  g_autofree char *out = g_build_filename (tmp, "tiny-Q8_0.gguf", NULL);
  g_autofree char *part = g_strconcat (out, ".part", NULL);
  SmeltQuantizeOptions opt = { 0 };
  g_autoptr(SmeltQuantizeJob) job = NULL;
  g_autoptr(GError) error = NULL;
  Ctx c = { 0 };
  sm_gguf *g = NULL;
  sm_error err = { 0 };

  opt.ftype = g_strdup ("NOPE");
  g_assert_null (smelt_quantize_job_new (in, out, &opt, &error));
  g_assert_error (error, SMELT_RUNTIME_ERROR, SMELT_RUNTIME_ERROR_INVALID);
  g_clear_error (&error);
  g_free (opt.ftype);

  opt.ftype = g_strdup ("Q8_0");
  opt.n_threads = 1;
  job = smelt_quantize_job_new (in, out, &opt, &error);
  g_assert_no_error (error);
  g_signal_connect (job, "progress", G_CALLBACK (on_quantize_progress_cb), &c);
  smelt_quantize_job_run_async (job, NULL, done_cb, &c);
  wait_result (&c);
  g_assert_true (smelt_quantize_job_run_finish (job, c.result, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (c.last_progress, ==, 1.0);
  g_assert_cmpuint (c.n_progress, >=, 1);
  g_assert_true (g_file_test (out, G_FILE_TEST_IS_REGULAR));
  g_assert_false (g_file_test (part, G_FILE_TEST_EXISTS));
  g_assert_cmpint (sm_gguf_open (out, &g, &err), ==, SM_OK);
  sm_gguf_free (g);
  ctx_clear (&c);
  smelt_quantize_options_clear (&opt);
}

static void
test_quantize_cancel (void)
{
  g_autofree char *in = g_build_filename (fixtures, "llama-2-tiny-random.gguf", NULL);
  g_autofree char *out = g_build_filename (tmp, "tiny-Q4_K_M.gguf", NULL);
  g_autofree char *part = g_strconcat (out, ".part", NULL);
  SmeltQuantizeOptions opt = { .ftype = (char *) "Q4_K_M", .n_threads = 1 };
  g_autoptr(SmeltQuantizeJob) job = smelt_quantize_job_new (in, out, &opt, NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  Ctx c = { 0 };

  g_assert_nonnull (job);
  g_cancellable_cancel (cancellable);
  smelt_quantize_job_run_async (job, cancellable, done_cb, &c);
  wait_result (&c);
  g_assert_false (smelt_quantize_job_run_finish (job, c.result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (part, G_FILE_TEST_EXISTS));
  ctx_clear (&c);
}

int
main (int    argc,
      char **argv)
{
  const char *shared = g_getenv ("SMELT_SHARED_DIR");
  int ret;

  g_test_init (&argc, &argv, NULL);
  fixtures = g_build_filename (shared ? shared : "../shared", "fixtures", "models", NULL);
  tmp = g_dir_make_tmp ("smelt-test-runtime-XXXXXX", NULL);

  g_test_add_func ("/runtime/chat/streams", test_chat_streams);
  g_test_add_func ("/runtime/chat/stop-and-busy", test_chat_stop_and_busy);
  g_test_add_func ("/runtime/chat/bad-file", test_chat_bad_file);
  g_test_add_func ("/runtime/quantize/run", test_quantize);
  g_test_add_func ("/runtime/quantize/cancel", test_quantize_cancel);
  ret = g_test_run ();

  {
    g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", tmp);

    (void) !system (cmd); /* best-effort clean-up */
  }
  return ret;
}
