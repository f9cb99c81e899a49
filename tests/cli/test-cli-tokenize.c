/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-cli-tokenize.c: `smelt tokenize` run as users run it (the built binary, found through
 * SMELT_BUILD_DIR): output format, the --add-special / --parse-special flags, --file read byte
 * for byte (trailing newline and NUL bytes included, one line per repeated --file), and usage
 * and input errors. Expected ids come from llama.cpp (see tests/engine/test-tokenizer.c).
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

typedef struct
{
  int   status;
  char *out;
  char *err;
} Run;

static void
run_clear (Run *r)
{
  g_free (r->out);
  g_free (r->err);
}

/* argv after "smelt tokenize", NULL-terminated. */
static Run
run_tokenize (const char *const *args)
{
  const char *build = g_getenv ("SMELT_BUILD_DIR");
  g_autofree char *exe = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  Run r = { 0 };
  int wait_status = 0;

  g_assert_nonnull (build);
  exe = g_build_filename (build, "src", "app", "smelt", NULL);
  g_ptr_array_add (argv, exe);
  g_ptr_array_add (argv, (char *) "tokenize");
  for (; *args; args++)
    g_ptr_array_add (argv, (char *) *args);
  g_ptr_array_add (argv, NULL);
  if (!g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &r.out,
                     &r.err, &wait_status, &error))
    g_error ("cannot run %s: %s", exe, error->message);
  g_assert_true (WIFEXITED (wait_status));
  r.status = WEXITSTATUS (wait_status);
  return r;
}

static char *
vocab (const char *name)
{
  const char *shared = g_getenv ("SMELT_SHARED_DIR");
  g_autofree char *file = g_strdup_printf ("ggml-vocab-%s.gguf", name);
  char *path;

  if (!shared)
    return NULL;
  path = g_build_filename (shared, "fixtures", "vocab", file, NULL);
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_free (path);
      return NULL;
    }
  return path;
}

static void
test_text (void)
{
  g_autofree char *spm = vocab ("llama-spm");
  g_autofree char *qwen = vocab ("qwen2");
  Run r;

  if (!spm || !qwen)
    {
      g_test_skip ("fixture vocabularies not found");
      return;
    }
  r = run_tokenize ((const char *[]) { spm, "--text", "Hello world", NULL });
  g_assert_cmpint (r.status, ==, 0);
  g_assert_cmpstr (r.out, ==, "15043 3186\n");
  run_clear (&r);
  /* SPM adds BOS with --add-special. */
  r = run_tokenize ((const char *[]) { spm, "--text", "Hello world", "--add-special", NULL });
  g_assert_cmpstr (r.out, ==, "1 15043 3186\n");
  run_clear (&r);
  /* Special-token text: plain text by default, the tokens with --parse-special. */
  r = run_tokenize ((const char *[]) { qwen, "--text", "<|im_start|>user\nHi<|im_end|>", NULL });
  g_assert_cmpstr (r.out, ==, "27 91 318 4906 91 29 872 198 13048 27 91 318 6213 91 29\n");
  run_clear (&r);
  r = run_tokenize ((const char *[]) { qwen, "--text", "<|im_start|>user\nHi<|im_end|>",
                                       "--parse-special", NULL });
  g_assert_cmpstr (r.out, ==, "151644 872 198 13048 151645\n");
  run_clear (&r);
  /* An empty text is an empty line. */
  r = run_tokenize ((const char *[]) { qwen, "--text", "", NULL });
  g_assert_cmpint (r.status, ==, 0);
  g_assert_cmpstr (r.out, ==, "\n");
  run_clear (&r);
}

static void
test_files (void)
{
  g_autofree char *qwen = vocab ("qwen2");
  g_autofree char *dir = NULL, *a = NULL, *b = NULL;
  Run r;

  if (!qwen)
    {
      g_test_skip ("fixture vocabularies not found");
      return;
    }
  dir = g_dir_make_tmp ("smelt-test-tokenize-XXXXXX", NULL);
  a = g_build_filename (dir, "a.txt", NULL);
  b = g_build_filename (dir, "b.txt", NULL);
  /* "Hello world\n": the trailing newline is a token of its own (198). */
  g_assert_true (g_file_set_contents (a, "Hello world\n", -1, NULL));
  g_assert_true (g_file_set_contents (b, "a\0b", 3, NULL));
  r = run_tokenize ((const char *[]) { qwen, "--file", a, NULL });
  g_assert_cmpint (r.status, ==, 0);
  g_assert_cmpstr (r.out, ==, "9707 1879 198\n");
  run_clear (&r);
  /* Repeated --file: one line each, in order; NUL bytes are text (byte-level token 188). */
  r = run_tokenize ((const char *[]) { qwen, "--file", a, "--file", b, NULL });
  g_assert_cmpint (r.status, ==, 0);
  g_assert_cmpstr (r.out, ==, "9707 1879 198\n64 188 65\n");
  run_clear (&r);
  g_unlink (a);
  g_unlink (b);
  g_rmdir (dir);
}

static void
test_errors (void)
{
  g_autofree char *qwen = vocab ("qwen2");
  g_autofree char *notgguf = NULL;
  g_autofree char *dir = NULL;
  Run r;

  if (!qwen)
    {
      g_test_skip ("fixture vocabularies not found");
      return;
    }
  /* Usage: neither or both of --text/--file, no model. */
  r = run_tokenize ((const char *[]) { qwen, NULL });
  g_assert_cmpint (r.status, ==, 2);
  g_assert_nonnull (strstr (r.err, "--text or --file"));
  run_clear (&r);
  r = run_tokenize ((const char *[]) { qwen, "--text", "a", "--file", "/dev/null", NULL });
  g_assert_cmpint (r.status, ==, 2);
  run_clear (&r);
  r = run_tokenize ((const char *[]) { "--text", "a", NULL });
  g_assert_cmpint (r.status, ==, 2);
  run_clear (&r);
  /* Missing input file, missing model, a file that is not GGUF: one clear line, status 1. */
  r = run_tokenize ((const char *[]) { qwen, "--file", "/nonexistent/input.txt", NULL });
  g_assert_cmpint (r.status, ==, 1);
  g_assert_nonnull (strstr (r.err, "/nonexistent/input.txt"));
  run_clear (&r);
  r = run_tokenize ((const char *[]) { "/nonexistent/model.gguf", "--text", "a", NULL });
  g_assert_cmpint (r.status, ==, 1);
  g_assert_nonnull (strstr (r.err, "/nonexistent/model.gguf"));
  run_clear (&r);
  dir = g_dir_make_tmp ("smelt-test-tokenize-XXXXXX", NULL);
  notgguf = g_build_filename (dir, "x.gguf", NULL);
  g_assert_true (g_file_set_contents (notgguf, "not a model at all", -1, NULL));
  r = run_tokenize ((const char *[]) { notgguf, "--text", "a", NULL });
  g_assert_cmpint (r.status, ==, 1);
  g_assert_nonnull (strstr (r.err, "GGUF"));
  g_assert_cmpstr (r.out, ==, "");
  run_clear (&r);
  g_unlink (notgguf);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cli/tokenize/text", test_text);
  g_test_add_func ("/cli/tokenize/files", test_files);
  g_test_add_func ("/cli/tokenize/errors", test_errors);
  return g_test_run ();
}
