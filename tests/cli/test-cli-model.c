/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-cli-model.c: `smelt run`, `smelt chat`, `smelt perplexity` and `smelt bench`, spawned as
 * a user runs them, on the real stories260K model: output, files, exit codes, error messages,
 * and the resident memory `run --verbose` reports.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static char *smelt;
static char *model;

typedef struct
{
  char *out;
  char *err;
  int   status;
} result;

static void
result_clear (result *r)
{
  g_free (r->out);
  g_free (r->err);
}

/* Runs smelt with the NULL-terminated args and optional stdin text. */
static result
run_smelt (const char  *input,
           const char  *first,
           ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) out = NULL, err = NULL;
  g_autoptr(GBytes) in = input ? g_bytes_new (input, strlen (input)) : NULL;
  result r = { 0 };
  va_list ap;

  g_ptr_array_add (argv, smelt);
  va_start (ap, first);
  for (const char *a = first; a != NULL; a = va_arg (ap, const char *))
    g_ptr_array_add (argv, (char *) a);
  va_end (ap);
  g_ptr_array_add (argv, NULL);
  proc = g_subprocess_newv ((const char *const *) argv->pdata,
                            G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE
                              | (input ? G_SUBPROCESS_FLAGS_STDIN_PIPE : 0), &error);
  g_assert_no_error (error);
  g_subprocess_communicate (proc, in, NULL, &out, &err, &error);
  g_assert_no_error (error);
  /* An empty GBytes has NULL data: make that "". */
  r.out = g_strndup (g_bytes_get_size (out) ? g_bytes_get_data (out, NULL) : "",
                     g_bytes_get_size (out));
  r.err = g_strndup (g_bytes_get_size (err) ? g_bytes_get_data (err, NULL) : "",
                     g_bytes_get_size (err));
  r.status = g_subprocess_get_exit_status (proc);
  return r;
}

static void
test_run_raw (void)
{
  result r = run_smelt (NULL, "run", model, "-p", "Once upon a time", "--raw", "--temp", "0",
                        "-n", "24", "--threads", "2", NULL);
  g_assert_cmpint (r.status, ==, 0);
  /* stdout is the generated text only: the real model's story, nothing else. */
  g_assert_true (g_str_has_prefix (r.out, ", there was a little girl named Lily. She loved"));
  g_assert_cmpstr (r.err, ==, "");
  result_clear (&r);
}

static void
test_run_logits (void)
{
  g_autofree char *dir = g_dir_make_tmp ("smelt-cli-run-XXXXXX", NULL);
  g_autofree char *file = g_build_filename (dir, "logits.f32", NULL);
  g_autofree char *data = NULL;
  gsize len = 0;
  result r = run_smelt (NULL, "run", model, "--tokens", "1 403 407 261 378", "-n", "0",
                        "--logits-out", file, NULL);
  const float *v;
  int best = 0;

  g_assert_cmpint (r.status, ==, 0);
  g_assert_true (g_file_get_contents (file, &data, &len, NULL));
  g_assert_cmpuint (len, ==, 512 * sizeof (float));
  v = (const float *) data;
  for (int i = 1; i < 512; i++)
    if (v[i] > v[best])
      best = i;
  /* "," after "Once upon a time", as llama.cpp predicts (tests/parity). */
  g_assert_cmpint (best, ==, 432);
  g_assert_cmpfloat_with_epsilon (v[432], 17.7989, 0.02);
  result_clear (&r);
  g_unlink (file);
  g_rmdir (dir);
}

static void
test_run_verbose_memory (void)
{
  result r = run_smelt (NULL, "run", model, "-p", "Once upon a time", "--raw", "--temp", "0",
                        "-n", "16", "--verbose", NULL);
  const char *mem;
  double mib;

  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.err, "tokens/s"));
  mem = strstr (r.err, "resident memory ");
  g_assert_nonnull (mem);
  mib = g_ascii_strtod (mem + strlen ("resident memory "), NULL);
  g_test_message ("resident %.1f MiB", mib);
  /* Weights 1.1 MiB + KV cache (4096 x 5 layers x 256 x 2 x 2 bytes, mostly untouched) + the
   * process itself: well under 100 MB. */
  g_assert_cmpfloat (mib, >, 1.0);
  g_assert_cmpfloat (mib, <, 100.0);
  result_clear (&r);
}

static void
test_run_errors (void)
{
  g_autoptr(GString) big = g_string_new (NULL);
  result r;

  r = run_smelt (NULL, "run", model, "-p", "", "--raw", NULL);
  g_assert_cmpint (r.status, ==, 1);
  g_assert_nonnull (strstr (r.err, "empty prompt"));
  result_clear (&r);

  for (int i = 0; i < 20; i++)
    g_string_append (big, "Once upon a time ");
  r = run_smelt (NULL, "run", model, "-p", big->str, "--raw", "--ctx", "16", NULL);
  g_assert_cmpint (r.status, ==, 1);
  g_assert_nonnull (strstr (r.err, "does not fit the context of 16"));
  result_clear (&r);

  r = run_smelt (NULL, "run", "/nonexistent/model.gguf", "-p", "hi", NULL);
  g_assert_cmpint (r.status, ==, 1);
  g_assert_true (g_str_has_prefix (r.err, "smelt: /nonexistent/model.gguf: "));
  result_clear (&r);

  r = run_smelt (NULL, "run", model, NULL);
  g_assert_cmpint (r.status, ==, 2);
  result_clear (&r);

  r = run_smelt (NULL, "run", model, "--tokens", "1 99999", NULL);
  g_assert_cmpint (r.status, ==, 1);
  g_assert_nonnull (strstr (r.err, "outside the vocabulary"));
  result_clear (&r);
}

static void
test_chat (void)
{
  result r = run_smelt ("Hello there\n/reset\nOnce upon a time\n/exit\n", "chat", model,
                        "--temp", "0", "-n", "8", NULL);
  g_auto(GStrv) lines = NULL;

  g_assert_cmpint (r.status, ==, 0);
  lines = g_strsplit (r.out, "\n", -1);
  /* Two replies, one line each (not a terminal: no prompt marker). */
  g_assert_cmpuint (g_strv_length (lines), ==, 3);
  g_assert_cmpstr (lines[2], ==, "");
  g_assert_cmpuint (strlen (lines[0]), >, 0);
  g_assert_nonnull (strstr (r.err, "conversation reset"));
  result_clear (&r);
}

static void
test_perplexity (void)
{
  g_autofree char *dir = g_dir_make_tmp ("smelt-cli-ppl-XXXXXX", NULL);
  g_autofree char *file = g_build_filename (dir, "story.txt", NULL);
  g_autoptr(GString) text = g_string_new (NULL);
  result r;
  const char *p;
  double ppl;

  for (int i = 0; i < 8; i++)
    g_string_append (text, "Once upon a time, there was a little girl named Lily. She loved to "
                           "play outside in the park. One day, she saw a big, red ball.\n");
  g_assert_true (g_file_set_contents (file, text->str, (gssize) text->len, NULL));
  r = run_smelt (NULL, "perplexity", model, file, "--ctx", "64", NULL);
  g_assert_cmpint (r.status, ==, 0);
  p = strstr (r.out, "Final estimate: PPL = ");
  g_assert_nonnull (p);
  ppl = g_ascii_strtod (p + strlen ("Final estimate: PPL = "), NULL);
  g_test_message ("PPL %.3f", ppl);
  /* A story the model writes itself, repeated: very predictable, but not trivially so. */
  g_assert_cmpfloat (ppl, >, 1.0);
  g_assert_cmpfloat (ppl, <, 5.0);
  result_clear (&r);

  r = run_smelt (NULL, "perplexity", model, file, "--ctx", "100000", NULL);
  g_assert_cmpint (r.status, ==, 1);
  g_assert_nonnull (strstr (r.err, "fewer than one chunk"));
  result_clear (&r);
  g_unlink (file);
  g_rmdir (dir);
}

static void
test_bench (void)
{
  result r = run_smelt (NULL, "bench", model, "-p", "16", "-n", "4", "-r", "2", "-t", "2",
                        "--json", NULL);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  JsonArray *arr;

  g_assert_cmpint (r.status, ==, 0);
  json_parser_load_from_data (parser, r.out, -1, &error);
  g_assert_no_error (error);
  arr = json_node_get_array (json_parser_get_root (parser));
  g_assert_cmpuint (json_array_get_length (arr), ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      JsonObject *o = json_array_get_object_element (arr, i);
      g_assert_cmpstr (json_object_get_string_member (o, "test"), ==, i == 0 ? "pp16" : "tg4");
      g_assert_cmpfloat (json_object_get_double_member (o, "tokens_per_second"), >, 0.0);
      g_assert_cmpfloat (json_object_get_double_member (o, "stddev"), >=, 0.0);
    }
  result_clear (&r);

  r = run_smelt (NULL, "bench", model, "-p", "8", "-n", "0", "-r", "1", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_true (g_str_has_prefix (r.out, "| model "));
  g_assert_nonnull (strstr (r.out, " t/s |"));
  g_assert_nonnull (strstr (r.out, "pp8 |"));
  g_assert_null (strstr (r.out, "tg"));
  result_clear (&r);

  /* --mmap: the weights stay in the file mapping; same output shape. */
  r = run_smelt (NULL, "bench", model, "-p", "8", "-n", "2", "-r", "1", "--mmap", "--json", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_true (g_str_has_prefix (r.out, "[{\"test\":\"pp8\""));
  g_assert_nonnull (strstr (r.out, "{\"test\":\"tg2\""));
  result_clear (&r);

  r = run_smelt (NULL, "bench", model, "-r", "0", NULL);
  g_assert_cmpint (r.status, ==, 2);
  result_clear (&r);
}

int
main (int    argc,
      char **argv)
{
  const char *build = g_getenv ("SMELT_BUILD_DIR");
  const char *shared = g_getenv ("SMELT_SHARED_DIR");
  int status;

  g_test_init (&argc, &argv, NULL);
  smelt = g_build_filename (build ? build : ".", "src", "app", "smelt", NULL);
  model = g_build_filename (shared ? shared : "../shared", "fixtures", "models",
                            "stories260K.gguf", NULL);
  g_test_add_func ("/cli/run/raw", test_run_raw);
  g_test_add_func ("/cli/run/logits-out", test_run_logits);
  g_test_add_func ("/cli/run/verbose-memory", test_run_verbose_memory);
  g_test_add_func ("/cli/run/errors", test_run_errors);
  g_test_add_func ("/cli/chat", test_chat);
  g_test_add_func ("/cli/perplexity", test_perplexity);
  g_test_add_func ("/cli/bench", test_bench);
  status = g_test_run ();
  g_free (smelt);
  g_free (model);
  return status;
}
