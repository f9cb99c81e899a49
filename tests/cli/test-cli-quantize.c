/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-cli-quantize.c: `smelt quantize` run as a user runs it (the real binary, spawned): a model
 * written with Smelt's writer is quantized and read back with the GGUF reader (and `smelt info
 * --json` when that command exists), usage errors exit 2 with a clear message, Ctrl-C (SIGINT)
 * cancels and leaves nothing behind.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sm-gguf.h"
#include "sm-test-model.h"

typedef struct
{
  char *dir;
  char *model;
  char *smelt;
} Fixture;

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  const char *build = g_getenv ("SMELT_BUILD_DIR");
  sm_test_model_spec spec;
  sm_error err = { 0 };
  GError *error = NULL;

  g_assert_nonnull (build);
  f->smelt = g_build_filename (build, "src", "app", "smelt", NULL);
  f->dir = g_dir_make_tmp ("smelt-cli-quantize-XXXXXX", &error);
  g_assert_no_error (error);
  f->model = g_build_filename (f->dir, "model.gguf", NULL);
  sm_test_model_default_spec (&spec);
  spec.odd_tensor = true;
  if (data != NULL) /* a bigger model for the Ctrl-C test */
    {
      spec.n_layer = 4;
      spec.dim = 512;
      spec.ffn = 1536;
      spec.weight_type = SM_TYPE_F32;
    }
  g_assert_cmpint (sm_test_model_write (f->model, &spec, &err), ==, SM_OK);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  GDir *d = g_dir_open (f->dir, 0, NULL);
  const char *n;

  while (d != NULL && (n = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *p = g_build_filename (f->dir, n, NULL);
      g_unlink (p);
    }
  if (d != NULL)
    g_dir_close (d);
  g_rmdir (f->dir);
  g_free (f->dir);
  g_free (f->model);
  g_free (f->smelt);
}

/* Runs smelt with args (NULL-terminated); returns the exit status, output in *out / *errout. */
static int
run_smelt (Fixture     *f,
           char       **out,
           char       **errout,
           const char  *first,
           ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  GError *error = NULL;
  int status = -1;
  va_list ap;

  g_ptr_array_add (argv, f->smelt);
  va_start (ap, first);
  for (const char *a = first; a != NULL; a = va_arg (ap, const char *))
    g_ptr_array_add (argv, (gpointer) a);
  va_end (ap);
  g_ptr_array_add (argv, NULL);
  g_spawn_sync (f->dir, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, out, errout,
                &status, &error);
  g_assert_no_error (error);
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

static char *
dir_listing (Fixture *f)
{
  GDir *d = g_dir_open (f->dir, 0, NULL);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *n;

  while ((n = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (names, g_strdup (n));
  g_dir_close (d);
  g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

static gboolean
smelt_has_command (Fixture    *f,
                   const char *name)
{
  g_autofree char *out = NULL, *err = NULL;
  g_autofree char *needle = g_strdup_printf ("\n  %s ", name);

  run_smelt (f, &out, &err, "--help", NULL);
  return strstr (out, needle) != NULL;
}

static void
test_quantize (Fixture       *f,
               gconstpointer  data)
{
  g_autofree char *out = NULL, *err = NULL;
  g_autofree char *path = g_build_filename (f->dir, "out.gguf", NULL);
  sm_gguf *g = NULL;
  uint64_t v;
  int rc;

  rc = run_smelt (f, &out, &err, "quantize", "model.gguf", "out.gguf", "q4_k_m", "--threads", "2",
                  "--output-tensor-type", "q8_0", "--token-embedding-type", "Q8_0", NULL);
  if (rc != 0)
    g_error ("exit %d: %s", rc, err);
  g_assert_nonnull (strstr (out, "out.gguf: Q4_K_M"));
  /* Not a terminal: plain progress lines, the last at 100%. */
  g_assert_nonnull (strstr (err, "quantize: 100%"));
  g_assert_null (strstr (err, "\r"));
  g_assert_cmpint (sm_gguf_open (path, &g, NULL), ==, SM_OK);
  g_assert_true (sm_gguf_find_uint (g, "general.file_type", &v));
  g_assert_cmpuint (v, ==, 15);
  g_assert_cmpint (sm_gguf_find_tensor (g, "output.weight")->type, ==, SM_TYPE_Q8_0);
  g_assert_cmpint (sm_gguf_find_tensor (g, "token_embd.weight")->type, ==, SM_TYPE_Q8_0);
  /* use_more_bits(i, 2): layer 1 only. */
  g_assert_cmpint (sm_gguf_find_tensor (g, "blk.0.attn_v.weight")->type, ==, SM_TYPE_Q4_K);
  g_assert_cmpint (sm_gguf_find_tensor (g, "blk.1.attn_v.weight")->type, ==, SM_TYPE_Q6_K);
  g_assert_cmpint (sm_gguf_find_tensor (g, "blk.0.attn_q.weight")->type, ==, SM_TYPE_Q4_K);
  /* Rows of 96: Q4_K falls back to Q5_0. */
  g_assert_cmpint (sm_gguf_find_tensor (g, "blk.0.ffn_odd.weight")->type, ==, SM_TYPE_Q5_0);
  sm_gguf_free (g);

  if (smelt_has_command (f, "info"))
    {
      g_autofree char *iout = NULL, *ierr = NULL;

      g_autoptr(JsonParser) parser = json_parser_new ();
      GError *error = NULL;
      JsonObject *root, *meta;
      JsonArray *tensors;

      rc = run_smelt (f, &iout, &ierr, "info", "--json", "out.gguf", NULL);
      g_assert_cmpint (rc, ==, 0);
      json_parser_load_from_data (parser, iout, -1, &error);
      g_assert_no_error (error);
      root = json_node_get_object (json_parser_get_root (parser));
      meta = json_object_get_object_member (root, "metadata");
      g_assert_cmpint (json_object_get_int_member (meta, "general.file_type"), ==, 15);
      g_assert_cmpint (json_object_get_int_member (meta, "general.quantization_version"), ==, 2);
      /* smelt info agrees with the reader on every tensor's type. */
      g_assert_cmpint (sm_gguf_open (path, &g, NULL), ==, SM_OK);
      tensors = json_object_get_array_member (root, "tensors");
      g_assert_cmpuint (json_array_get_length (tensors), ==, sm_gguf_get_n_tensors (g));
      for (guint i = 0; i < json_array_get_length (tensors); i++)
        {
          JsonObject *t = json_array_get_object_element (tensors, i);
          const char *name = json_object_get_string_member (t, "name");
          const sm_gguf_tensor *gt = sm_gguf_find_tensor (g, name);

          g_assert_nonnull (gt);
          g_assert_cmpstr (json_object_get_string_member (t, "type"), ==,
                           sm_type_get_traits (gt->type)->upper);
        }
      sm_gguf_free (g);
    }
  else
    g_test_message ("`smelt info` is not in this build: read back with the GGUF reader only");

  /* The dynamic-gate policy, split output. */
  g_free (out);
  g_free (err);
  rc = run_smelt (f, &out, &err, "quantize", "model.gguf", "dg.gguf", "IQ4_XS", "--layer-policy",
                  "dynamic-gate", "--split-max-size", "300K", NULL);
  if (rc != 0)
    g_error ("exit %d: %s", rc, err);
  {
    g_autofree char *ls = dir_listing (f);
    g_autofree char *p1 = NULL;
    const char *at = strstr (ls, "dg-00001-of-");
    int n_parts;

    g_assert_nonnull (at);
    n_parts = atoi (at + strlen ("dg-00001-of-"));
    g_assert_cmpint (n_parts, >=, 2);
    p1 = g_strdup_printf ("%s/dg-00001-of-%05d.gguf", f->dir, n_parts);
    g_assert_cmpint (sm_gguf_open (p1, &g, NULL), ==, SM_OK);
    g_assert_cmpint (sm_gguf_get_n_splits (g), ==, n_parts);
    g_assert_cmpint (sm_gguf_find_tensor (g, "token_embd.weight")->type, ==, SM_TYPE_Q5_K);
    g_assert_cmpint (sm_gguf_find_tensor (g, "blk.1.attn_q.weight")->type, ==, SM_TYPE_Q5_K);
    sm_gguf_free (g);
  }
}

static void
test_usage_errors (Fixture       *f,
                   gconstpointer  data)
{
  static const char *const cases[][8] = {
    { "quantize", "model.gguf", "out.gguf", "Q9_K", NULL },
    { "quantize", "model.gguf", "out.gguf", NULL },
    { "quantize", "model.gguf", "out.gguf", "Q4_K_M", "--output-tensor-type", "q7", NULL },
    { "quantize", "model.gguf", "out.gguf", "Q4_K_M", "--layer-policy", "fancy", NULL },
    { "quantize", "model.gguf", "out.gguf", "Q4_K_M", "--split-max-size", "lots", NULL },
    { "quantize", "model.gguf", "out.gguf", "Q4_K_M", "--threads", "-3", NULL },
  };
  g_autofree char *ls = NULL;

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *out = NULL, *err = NULL;
      int rc = run_smelt (f, &out, &err, cases[i][0], cases[i][1], cases[i][2], cases[i][3],
                          cases[i][4], cases[i][5], cases[i][6], NULL);

      g_assert_cmpint (rc, ==, 2);
      g_assert_true (g_str_has_prefix (err, "smelt: "));
      if (i == 0)
        {
          g_assert_nonnull (strstr (err, "unknown TYPE 'Q9_K'"));
          g_assert_nonnull (strstr (err, "Q4_K_M"));
          g_assert_nonnull (strstr (err, "IQ4_XS"));
        }
    }

  /* --dry-run prints the plan and writes nothing. */
  {
    g_autofree char *out = NULL, *err = NULL;
    g_assert_cmpint (run_smelt (f, &out, &err, "quantize", "model.gguf", "out.gguf", "Q3_K_M",
                                "--dry-run", NULL), ==, 0);
    g_assert_nonnull (strstr (out, "blk.0.attn_v.weight"));
    g_assert_nonnull (strstr (out, "-> Q5_K    attn_v: Q3_K_M"));
    g_assert_nonnull (strstr (out, "Q3_K_M: "));
    g_assert_nonnull (strstr (out, "1 shape fallbacks"));
  }

  /* Failures after parsing exit 1 with the engine's message. */
  {
    g_autofree char *out = NULL, *err = NULL;
    g_assert_cmpint (run_smelt (f, &out, &err, "quantize", "model.gguf", "model.gguf", "Q8_0",
                                NULL), ==, 1);
    g_assert_nonnull (strstr (err, "is the input"));
  }
  {
    g_autofree char *out = NULL, *err = NULL;
    g_assert_cmpint (run_smelt (f, &out, &err, "quantize", "missing.gguf", "out.gguf", "Q8_0",
                                NULL), ==, 1);
    g_assert_nonnull (strstr (err, "missing.gguf"));
  }
  {
    g_autofree char *out = NULL, *err = NULL;
    g_assert_cmpint (run_smelt (f, &out, &err, "quantize", "model.gguf", "out.gguf", "Q8_0",
                                "--layer-policy", "dynamic-gate", NULL), ==, 1);
    g_assert_nonnull (strstr (err, "dynamic-gate"));
  }
  ls = dir_listing (f);
  g_assert_cmpstr (ls, ==, "model.gguf");
}

/* Ctrl-C while quantizing: exit 130, no output and no .part. */
static void
test_sigint (Fixture       *f,
             gconstpointer  data)
{
  const char *argv[] = { f->smelt, "quantize", "model.gguf", "out.gguf", "IQ4_XS", "--threads",
                         "1", NULL };
  g_autoptr(GIOChannel) ch = NULL;
  g_autofree char *line = NULL;
  g_autofree char *ls = NULL;
  GError *error = NULL;
  GPid pid;
  int err_fd, status;

  g_spawn_async_with_pipes (f->dir, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                            &pid, NULL, NULL, &err_fd, &error);
  g_assert_no_error (error);
  ch = g_io_channel_unix_new (err_fd);
  g_io_channel_set_close_on_unref (ch, TRUE);
  /* The first progress line means the work has started. */
  g_assert_cmpint (g_io_channel_read_line (ch, &line, NULL, NULL, &error), ==, G_IO_STATUS_NORMAL);
  g_assert_true (g_str_has_prefix (line, "quantize:"));
  g_assert_cmpint (kill (pid, SIGINT), ==, 0);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_spawn_close_pid (pid);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 130);
  ls = dir_listing (f);
  g_assert_cmpstr (ls, ==, "model.gguf");
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/cli-quantize/quantize", Fixture, NULL, fixture_setup, test_quantize,
              fixture_teardown);
  g_test_add ("/cli-quantize/usage-errors", Fixture, NULL, fixture_setup, test_usage_errors,
              fixture_teardown);
  g_test_add ("/cli-quantize/sigint", Fixture, "big", fixture_setup, test_sigint,
              fixture_teardown);
  return g_test_run ();
}
