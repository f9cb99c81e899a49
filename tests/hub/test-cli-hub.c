/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-cli-hub.c: `smelt search`, `smelt files` and `smelt pull` as built, run as subprocesses
 * against the loopback fake Hub (served by this process's main loop meanwhile). Checks the JSON
 * contracts key by key, exit statuses and the messages people see.
 */
#include "config.h"

#include <string.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "smelt-fake-hub.h"

typedef struct
{
  SmeltFakeHub *hub;
  char         *tmp;
  char         *smelt;
  gboolean      offline;
} Fixture;

typedef struct
{
  gboolean done;
  char    *out;
  char    *err;
  int      status;
} Run;

static void
rm_rf (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir != NULL)
    while ((name = g_dir_read_name (dir)) != NULL)
      {
        g_autofree char *child = g_build_filename (path, name, NULL);

        if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
          rm_rf (child);
        else
          g_unlink (child);
      }
  g_rmdir (path);
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) q4 = g_bytes_new_take (g_malloc0 (3000), 3000);
  g_autoptr(GBytes) part = g_bytes_new_take (g_strnfill (2000, 'x'), 2000);
  g_autoptr(GBytes) readme = g_bytes_new_static ("# card\n", 7);

  f->smelt = g_build_filename (g_getenv ("SMELT_BUILD_DIR"), "src", "app", "smelt", NULL);
  f->hub = smelt_fake_hub_new ();
  smelt_fake_hub_add_file (f->hub, "org/Model-GGUF", "README.md", readme);
  smelt_fake_hub_add_file (f->hub, "org/Model-GGUF", "Model-Q4_K_M.gguf", q4);
  smelt_fake_hub_add_file (f->hub, "org/Model-GGUF", "Q8_0/Model-Q8_0-00001-of-00002.gguf", part);
  smelt_fake_hub_add_file (f->hub, "org/Model-GGUF", "Q8_0/Model-Q8_0-00002-of-00002.gguf", part);
  smelt_fake_hub_set_stats (f->hub, "org/Model-GGUF", 1234, 56, 7.0, "2026-02-03T04:05:06.000Z");
  smelt_fake_hub_add_file (f->hub, "org/Other-GGUF", "Other-IQ3_XS.gguf", part);
  smelt_fake_hub_set_stats (f->hub, "org/Other-GGUF", 10, 99, 1.0, NULL);
  smelt_fake_hub_add_file (f->hub, "org/Gated-GGUF", "Gated-Q4_K_M.gguf", part);
  {
    g_autoptr(GBytes) a = g_bytes_new_take (g_strnfill (1500, 'a'), 1500);
    g_autoptr(GBytes) b = g_bytes_new_take (g_strnfill (700, 'b'), 700);

    smelt_fake_hub_add_file (f->hub, "org/Pieces-GGUF", "Big-Q6_K.gguf.part1of2", a);
    smelt_fake_hub_add_file (f->hub, "org/Pieces-GGUF", "Big-Q6_K.gguf.part2of2", b);
  }
  smelt_fake_hub_set_gated (f->hub, "org/Gated-GGUF", TRUE);
  g_assert_true (smelt_fake_hub_start (f->hub, 0, &error));
  f->tmp = g_dir_make_tmp ("smelt-cli-hub-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_clear_pointer (&f->hub, smelt_fake_hub_free);
  rm_rf (f->tmp);
  g_free (f->tmp);
  g_free (f->smelt);
}

static void
on_communicate_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  Run *run = user_data;
  g_autoptr(GError) error = NULL;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &run->out, &run->err, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (G_SUBPROCESS (source)));
  run->status = g_subprocess_get_exit_status (G_SUBPROCESS (source));
  run->done = TRUE;
}

/* Runs smelt with args (NULL-terminated) and returns its stdout; stderr and status out. */
static char *
run_smelt (Fixture    *f,
           int        *status,
           char      **err,
           ...)
{
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *cache = g_build_filename (f->tmp, "hub", NULL);
  g_autofree char *data = g_build_filename (f->tmp, "data", NULL);
  Run run = { 0 };
  const char *arg;
  va_list ap;

  g_subprocess_launcher_setenv (launcher, "HF_ENDPOINT", smelt_fake_hub_get_url (f->hub), TRUE);
  g_subprocess_launcher_setenv (launcher, "HF_HUB_CACHE", cache, TRUE);
  g_subprocess_launcher_setenv (launcher, "XDG_DATA_HOME", data, TRUE);
  g_subprocess_launcher_setenv (launcher, "HF_TOKEN_PATH", "/nonexistent/smelt-test-token", TRUE);
  g_subprocess_launcher_unsetenv (launcher, "HF_TOKEN");
  if (f->offline)
    g_subprocess_launcher_setenv (launcher, "HF_HUB_OFFLINE", "1", TRUE);
  else
    g_subprocess_launcher_unsetenv (launcher, "HF_HUB_OFFLINE");
  g_ptr_array_add (argv, f->smelt);
  va_start (ap, err);
  while ((arg = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (argv, (gpointer) arg);
  va_end (ap);
  g_ptr_array_add (argv, NULL);

  proc = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (proc, NULL, NULL, on_communicate_cb, &run);
  while (!run.done)
    g_main_context_iteration (NULL, TRUE);
  *status = run.status;
  if (err != NULL)
    *err = g_steal_pointer (&run.err);
  g_free (run.err);
  return run.out;
}

static JsonNode *
parse (const char *text)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  json_parser_load_from_data (parser, text, -1, &error);
  g_assert_no_error (error);
  return json_node_copy (json_parser_get_root (parser));
}

static void
assert_members (JsonObject         *obj,
                const char * const *names)
{
  g_autoptr(GList) members = json_object_get_members (obj);

  g_assert_cmpuint (g_list_length (members), ==, g_strv_length ((char **) names));
  for (guint i = 0; names[i] != NULL; i++)
    g_assert_true (json_object_has_member (obj, names[i]));
}

static gboolean
have_smelt (Fixture *f)
{
  if (g_file_test (f->smelt, G_FILE_TEST_IS_EXECUTABLE))
    return TRUE;
  g_test_skip ("smelt binary not built");
  return FALSE;
}

static void
test_search (Fixture       *f,
             gconstpointer  data)
{
  static const char *keys[] = { "id", "downloads", "likes", "last_modified", NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(JsonNode) root = NULL;
  JsonArray *arr;
  JsonObject *first;
  int status;

  if (!have_smelt (f))
    return;
  out = run_smelt (f, &status, NULL, "search", "gguf", "--json", NULL);
  g_assert_cmpint (status, ==, 0);
  root = parse (out);
  arr = json_node_get_array (root);
  g_assert_cmpuint (json_array_get_length (arr), ==, 4);
  first = json_array_get_object_element (arr, 0);
  assert_members (first, keys);
  g_assert_cmpstr (json_object_get_string_member (first, "id"), ==, "org/Model-GGUF");
  g_assert_cmpint (json_object_get_int_member (first, "downloads"), ==, 1234);
  g_assert_cmpint (json_object_get_int_member (first, "likes"), ==, 56);
  g_assert_cmpstr (json_object_get_string_member (first, "last_modified"), ==, "2026-02-03T04:05:06.000Z");
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&root, json_node_unref);

  out = run_smelt (f, &status, NULL, "search", "gguf", "--sort", "likes", "--json", NULL);
  g_assert_cmpint (status, ==, 0);
  root = parse (out);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (json_node_get_array (root), 0), "id"),
                   ==, "org/Other-GGUF");
  g_clear_pointer (&out, g_free);

  out = run_smelt (f, &status, NULL, "search", "other", NULL);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "org/Other-GGUF"));
  g_assert_null (strstr (out, "org/Model-GGUF"));
  g_clear_pointer (&out, g_free);

  out = run_smelt (f, &status, &err, "search", "x", "--sort", "stars", NULL);
  g_assert_cmpint (status, ==, 2);
  g_assert_nonnull (strstr (err, "unknown sort"));
}

static void
test_files (Fixture       *f,
            gconstpointer  data)
{
  static const char *file_keys[] = { "path", "size", "sha256", NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(JsonNode) root = NULL;
  JsonObject *obj, *v;
  JsonArray *variants, *files;
  int status;

  if (!have_smelt (f))
    return;
  out = run_smelt (f, &status, NULL, "files", "org/Model-GGUF", "--json", NULL);
  g_assert_cmpint (status, ==, 0);
  root = parse (out);
  obj = json_node_get_object (root);
  g_assert_cmpstr (json_object_get_string_member (obj, "repo"), ==, "org/Model-GGUF");
  variants = json_object_get_array_member (obj, "variants");
  g_assert_cmpuint (json_array_get_length (variants), ==, 2);

  /* Largest first: Q8_0 (2 parts, 4000 bytes), then Q4_K_M. */
  v = json_array_get_object_element (variants, 0);
  g_assert_cmpstr (json_object_get_string_member (v, "name"), ==, "Q8_0");
  g_assert_cmpint (json_object_get_int_member (v, "size_bytes"), ==, 4000);
  g_assert_true (json_object_has_member (v, "files"));
  files = json_object_get_array_member (v, "files");
  g_assert_cmpuint (json_array_get_length (files), ==, 2);
  assert_members (json_array_get_object_element (files, 0), file_keys);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (files, 0), "path"), ==,
                   "Q8_0/Model-Q8_0-00001-of-00002.gguf");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (files, 0), "sha256"), ==,
                   smelt_fake_hub_get_sha256 (f->hub, "org/Model-GGUF", "Q8_0/Model-Q8_0-00001-of-00002.gguf"));
  v = json_array_get_object_element (variants, 1);
  g_assert_cmpstr (json_object_get_string_member (v, "name"), ==, "Q4_K_M");
  /* "fit" and "recommended" come from the advisor when the hardware could be probed. */
  if (json_object_has_member (v, "fit"))
    g_assert_nonnull (json_object_get_string_member (v, "fit"));
  g_clear_pointer (&out, g_free);

  out = run_smelt (f, &status, &err, "files", "org/Missing-GGUF", NULL);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (err, "org/Missing-GGUF does not exist"));
}

static void
test_pull (Fixture       *f,
           gconstpointer  data)
{
  g_autofree char *dir = g_build_filename (f->tmp, "models", NULL);
  g_autofree char *expect = g_build_filename (dir, "Q8_0", "Model-Q8_0-00001-of-00002.gguf", NULL);
  g_autofree char *part2 = g_build_filename (dir, "Q8_0", "Model-Q8_0-00002-of-00002.gguf", NULL);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status;

  if (!have_smelt (f))
    return;
  out = run_smelt (f, &status, NULL, "pull", "org/Model-GGUF:q8_0", "--dir", dir, "--connections", "2", NULL);
  g_assert_cmpint (status, ==, 0);
  g_strstrip (out);
  g_assert_cmpstr (out, ==, expect);
  g_assert_true (g_file_test (part2, G_FILE_TEST_IS_REGULAR));
  g_clear_pointer (&out, g_free);

  /* No variant named: one is picked (the advisor's, else Q4_K_M); into the cache. */
  out = run_smelt (f, &status, NULL, "pull", "org/Model-GGUF", NULL);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "models--org--Model-GGUF/snapshots/"));

  /* HF_HUB_OFFLINE: the same answer from the cache alone, without a single request. */
  {
    g_autofree char *again = NULL;
    guint requests = smelt_fake_hub_get_requests (f->hub);

    f->offline = TRUE;
    again = run_smelt (f, &status, NULL, "pull", "org/Model-GGUF", NULL);
    g_assert_cmpint (status, ==, 0);
    g_assert_cmpstr (again, ==, out);
    g_clear_pointer (&again, g_free);
    again = run_smelt (f, &status, &err, "pull", "org/Other-GGUF", NULL);
    g_assert_cmpint (status, ==, 1);
    g_assert_nonnull (strstr (err, "not in the cache"));
    g_clear_pointer (&err, g_free);
    f->offline = FALSE;
    g_assert_cmpuint (smelt_fake_hub_get_requests (f->hub), ==, requests);
  }
  g_clear_pointer (&out, g_free);

  out = run_smelt (f, &status, &err, "pull", "org/Model-GGUF:Q2_K", NULL);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (err, "No variant Q2_K here; available: Q8_0, Q4_K_M"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  out = run_smelt (f, &status, &err, "pull", "org/Gated-GGUF", NULL);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (err, "gated"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  out = run_smelt (f, &status, &err, "pull", "org/Model-GGUF", "--connections", "99", NULL);
  g_assert_cmpint (status, ==, 2);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* Byte pieces come out joined into one GGUF beside them. */
  {
    g_autofree char *pieces = g_build_filename (f->tmp, "pieces", NULL);
    g_autofree char *joined = g_build_filename (pieces, "Big-Q6_K.gguf", NULL);
    g_autofree char *contents = NULL;
    gsize len = 0;

    out = run_smelt (f, &status, &err, "pull", "org/Pieces-GGUF", "--dir", pieces, NULL);
    g_assert_cmpint (status, ==, 0);
    g_strstrip (out);
    g_assert_cmpstr (out, ==, joined);
    g_assert_true (g_file_get_contents (joined, &contents, &len, NULL));
    g_assert_cmpuint (len, ==, 2200);
    g_assert_cmpint (contents[0], ==, 'a');
    g_assert_cmpint (contents[1499], ==, 'a');
    g_assert_cmpint (contents[1500], ==, 'b');
    g_assert_cmpint (contents[2199], ==, 'b');
  }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/hub/cli/search", Fixture, NULL, fixture_setup, test_search, fixture_teardown);
  g_test_add ("/hub/cli/files", Fixture, NULL, fixture_setup, test_files, fixture_teardown);
  g_test_add ("/hub/cli/pull", Fixture, NULL, fixture_setup, test_pull, fixture_teardown);
  return g_test_run ();
}
