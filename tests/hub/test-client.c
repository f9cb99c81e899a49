/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-client.c: SmeltHubClient against the loopback fake Hub over real HTTP: search with
 * pagination and sorting, repo info, paginated trees with hostile names, model card, resolve
 * metadata, and every error the Hub gives (gated, private, missing repo/revision/file, offline),
 * plus endpoint and token precedence.
 */
#include "config.h"

#include <string.h>

#include <glib/gstdio.h>

#include "smelt-fake-hub.h"
#include "smelt-hub-client.h"

typedef struct
{
  SmeltFakeHub   *hub;
  SmeltHubClient *client;
  GAsyncResult   *result;
} Fixture;

static GBytes *
pattern_bytes (gsize size,
               guint seed)
{
  guchar *data = g_malloc (size);

  for (gsize i = 0; i < size; i++)
    data[i] = (guchar) ((i * 31 + seed * 7 + (i >> 8)) & 0xff);
  return g_bytes_new_take (data, size);
}

static void
add_text (SmeltFakeHub *hub,
          const char   *repo,
          const char   *path,
          const char   *text)
{
  g_autoptr(GBytes) bytes = g_bytes_new (text, strlen (text));

  smelt_fake_hub_add_file (hub, repo, path, bytes);
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) q4 = pattern_bytes (4000, 1);
  g_autoptr(GBytes) small = pattern_bytes (100, 2);

  g_unsetenv ("HF_HUB_OFFLINE");
  g_unsetenv ("TRANSFORMERS_OFFLINE");
  g_unsetenv ("HF_TOKEN");
  g_unsetenv ("HUGGING_FACE_HUB_TOKEN");
  /* Never read the real user's token file. */
  g_setenv ("HF_TOKEN_PATH", "/nonexistent/smelt-test/token", TRUE);

  f->hub = smelt_fake_hub_new ();
  for (guint i = 0; i < 5; i++)
    {
      g_autofree char *id = g_strdup_printf ("org%u/Llama-%u-GGUF", i, i);

      smelt_fake_hub_add_file (f->hub, id, "model-Q4_K_M.gguf", small);
      smelt_fake_hub_set_stats (f->hub, id, 100 * (i + 1), 50 - i, (double) (i % 3),
                                i == 2 ? "2026-01-01T00:00:00.000Z" : "2024-01-01T00:00:00.000Z");
    }
  add_text (f->hub, "org/NotGGUF", "model.safetensors", "x");
  smelt_fake_hub_add_file (f->hub, "org/Model-GGUF", "Model-Q4_K_M.gguf", q4);
  smelt_fake_hub_add_file (f->hub, "org/Model-GGUF", "Q8_0/Model-Q8_0-00001-of-00002.gguf", small);
  smelt_fake_hub_add_file (f->hub, "org/Model-GGUF", "Q8_0/Model-Q8_0-00002-of-00002.gguf", small);
  add_text (f->hub, "org/Model-GGUF", "README.md", "# Model\nA card \xff.\n");
  add_text (f->hub, "org/Model-GGUF", "../escape.gguf", "bad");
  add_text (f->hub, "org/Model-GGUF", "a\\b.gguf", "bad");
  smelt_fake_hub_add_file (f->hub, "org/Gated", "Gated-Q4_0.gguf", small);
  smelt_fake_hub_set_gated (f->hub, "org/Gated", TRUE);
  smelt_fake_hub_add_file (f->hub, "org/Private", "P-Q4_0.gguf", small);
  smelt_fake_hub_set_private (f->hub, "org/Private", TRUE);
  smelt_fake_hub_set_token (f->hub, "hf_testtokenAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  smelt_fake_hub_set_page_size (f->hub, 2);
  g_assert_true (smelt_fake_hub_start (f->hub, 0, &error));
  g_assert_no_error (error);

  f->client = smelt_hub_client_new ();
  smelt_hub_client_set_endpoint (f->client, smelt_fake_hub_get_url (f->hub));
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_clear_object (&f->result);
  g_clear_object (&f->client);
  g_clear_pointer (&f->hub, smelt_fake_hub_free);
}

static void
got_result_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  Fixture *f = user_data;

  f->result = g_object_ref (result);
}

static GAsyncResult *
wait_result (Fixture *f)
{
  g_clear_object (&f->result);
  while (f->result == NULL)
    g_main_context_iteration (NULL, TRUE);
  return f->result;
}

static void
test_search (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) models = NULL;
  SmeltHubModel *m;

  /* Page size 2, 4 wanted: two Link hops. Only GGUF repos, sorted by downloads. */
  f->result = NULL;
  smelt_hub_client_search_async (f->client, "llama", SMELT_HUB_SORT_DOWNLOADS, 4, NULL, got_result_cb, f);
  models = smelt_hub_client_search_finish (f->client, wait_result (f), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (models->len, ==, 4);
  m = g_ptr_array_index (models, 0);
  g_assert_cmpstr (m->id, ==, "org4/Llama-4-GGUF");
  g_assert_cmpint (m->downloads, ==, 500);
  g_assert_cmpint (m->likes, ==, 46);
  g_assert_cmpstr (m->last_modified, ==, "2024-01-01T00:00:00.000Z");
  g_assert_cmpstr (((SmeltHubModel *) g_ptr_array_index (models, 3))->id, ==, "org1/Llama-1-GGUF");
  g_clear_pointer (&models, g_ptr_array_unref);

  /* All pages: five hits, and the non-GGUF and private repos never show. */
  smelt_hub_client_search_async (f->client, NULL, SMELT_HUB_SORT_LIKES, 100, NULL, got_result_cb, f);
  models = smelt_hub_client_search_finish (f->client, wait_result (f), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (models->len, ==, 7);
  for (guint i = 0; i < models->len; i++)
    {
      m = g_ptr_array_index (models, i);
      g_assert_cmpstr (m->id, !=, "org/NotGGUF");
      g_assert_cmpstr (m->id, !=, "org/Private");
      if (strcmp (m->id, "org/Gated") == 0)
        g_assert_true (m->gated);
    }
  g_assert_cmpstr (((SmeltHubModel *) g_ptr_array_index (models, 0))->id, ==, "org0/Llama-0-GGUF");
  g_clear_pointer (&models, g_ptr_array_unref);

  smelt_hub_client_search_async (f->client, "llama", SMELT_HUB_SORT_LAST_MODIFIED, 1, NULL, got_result_cb, f);
  models = smelt_hub_client_search_finish (f->client, wait_result (f), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (models->len, ==, 1);
  g_assert_cmpstr (((SmeltHubModel *) g_ptr_array_index (models, 0))->id, ==, "org2/Llama-2-GGUF");
  g_clear_pointer (&models, g_ptr_array_unref);

  smelt_hub_client_search_async (f->client, "llama", SMELT_HUB_SORT_TRENDING, 1, NULL, got_result_cb, f);
  models = smelt_hub_client_search_finish (f->client, wait_result (f), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (models->len, ==, 1);
  g_assert_cmpfloat (((SmeltHubModel *) g_ptr_array_index (models, 0))->trending_score, ==, 2.0);
}

static void
test_repo_and_tree (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SmeltHubRepoInfo) info = NULL;
  g_autoptr(GPtrArray) files = NULL;
  g_autoptr(GPtrArray) variants = NULL;
  g_autofree char *card = NULL;
  gboolean saw_q4 = FALSE;

  smelt_hub_client_get_repo_async (f->client, "org/Model-GGUF", NULL, NULL, got_result_cb, f);
  info = smelt_hub_client_get_repo_finish (f->client, wait_result (f), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (info->id, ==, "org/Model-GGUF");
  g_assert_cmpstr (info->sha, ==, smelt_fake_hub_get_commit (f->hub, "org/Model-GGUF"));
  g_assert_cmpstr (info->gated, ==, "false");
  g_assert_true (info->has_gguf);
  g_assert_cmpstr (info->gguf_architecture, ==, "llama");
  g_assert_cmpint (info->gguf_context_length, ==, 131072);
  /* Hostile sibling names are dropped. */
  g_assert_cmpuint (g_strv_length (info->siblings), ==, 4);

  /* Tree, page size 2: several Link hops, directories skipped, hostile names dropped. */
  smelt_hub_client_list_files_async (f->client, "org/Model-GGUF", NULL, NULL, got_result_cb, f);
  files = smelt_hub_client_list_files_finish (f->client, wait_result (f), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (files->len, ==, 4);
  for (guint i = 0; i < files->len; i++)
    {
      SmeltHubFile *file = g_ptr_array_index (files, i);

      g_assert_true (smelt_hub_path_is_safe (file->path));
      if (strcmp (file->path, "Model-Q4_K_M.gguf") == 0)
        {
          saw_q4 = TRUE;
          g_assert_cmpuint (file->size, ==, 4000);
          g_assert_cmpstr (file->sha256, ==, smelt_fake_hub_get_sha256 (f->hub, "org/Model-GGUF",
                                                                       "Model-Q4_K_M.gguf"));
        }
      if (strcmp (file->path, "README.md") == 0)
        g_assert_null (file->sha256);
    }
  g_assert_true (saw_q4);
  variants = smelt_hub_variants_from_files (files);
  g_assert_cmpuint (variants->len, ==, 2);
  g_assert_cmpstr (((SmeltHubVariant *) g_ptr_array_index (variants, 0))->name, ==, "Q4_K_M");

  smelt_hub_client_get_model_card_async (f->client, "org/Model-GGUF", NULL, NULL, got_result_cb, f);
  card = smelt_hub_client_get_model_card_finish (f->client, wait_result (f), &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (card, "# Model\nA card "));
  g_assert_true (g_utf8_validate (card, -1, NULL));
}

static void
test_resolve (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SmeltHubResolved) r = NULL;
  const char *commit = smelt_fake_hub_get_commit (f->hub, "org/Model-GGUF");

  smelt_hub_client_resolve_async (f->client, "org/Model-GGUF", NULL, "Model-Q4_K_M.gguf", NULL, got_result_cb, f);
  r = smelt_hub_client_resolve_finish (f->client, wait_result (f), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (r->commit, ==, commit);
  g_assert_cmpstr (r->etag, ==, smelt_fake_hub_get_sha256 (f->hub, "org/Model-GGUF", "Model-Q4_K_M.gguf"));
  g_assert_cmpuint (r->size, ==, 4000);
  g_assert_nonnull (r->location);
  g_assert_true (strstr (r->location, "/cdn/") != NULL);
  g_assert_true (g_str_has_suffix (r->url, "/org/Model-GGUF/resolve/main/Model-Q4_K_M.gguf"));
  /* The HEAD did not follow the absolute redirect: no file content was requested. */
  g_assert_cmpuint (smelt_fake_hub_get_file_requests (f->hub), ==, 0);
  g_assert_cmpstr (smelt_fake_hub_get_last_user_agent (f->hub), ==, "smelt/" PACKAGE_VERSION);
  g_clear_pointer (&r, smelt_hub_resolved_free);

  /* A renamed repo: the relative redirect is followed, the absolute one (CDN) is not. */
  smelt_fake_hub_add_alias (f->hub, "old/Name-GGUF", "org/Model-GGUF");
  smelt_hub_client_resolve_async (f->client, "old/Name-GGUF", NULL, "Model-Q4_K_M.gguf", NULL, got_result_cb, f);
  r = smelt_hub_client_resolve_finish (f->client, wait_result (f), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (r->commit, ==, commit);
  g_assert_cmpuint (r->size, ==, 4000);
  g_assert_true (strstr (r->location, "/cdn/org/Model-GGUF/") != NULL);
  g_assert_true (g_str_has_suffix (r->url, "/old/Name-GGUF/resolve/main/Model-Q4_K_M.gguf"));
  g_assert_cmpuint (smelt_fake_hub_get_file_requests (f->hub), ==, 0);
  g_clear_pointer (&r, smelt_hub_resolved_free);

  /* A small git file: 200, ETag is the git blob sha1, size from Content-Length. */
  smelt_hub_client_resolve_async (f->client, "org/Model-GGUF", commit, "README.md", NULL, got_result_cb, f);
  r = smelt_hub_client_resolve_finish (f->client, wait_result (f), &error);
  g_assert_no_error (error);
  g_assert_null (r->location);
  g_assert_cmpuint (strlen (r->etag), ==, 40);
  g_assert_cmpuint (r->size, ==, strlen ("# Model\nA card \xff.\n"));
}

static void
expect_error (Fixture    *f,
              const char *repo,
              const char *rev,
              const char *path,
              gint        code,
              const char *needle)
{
  g_autoptr(GError) error = NULL;

  if (path != NULL)
    {
      g_autoptr(SmeltHubResolved) r = NULL;

      smelt_hub_client_resolve_async (f->client, repo, rev, path, NULL, got_result_cb, f);
      r = smelt_hub_client_resolve_finish (f->client, wait_result (f), &error);
      g_assert_null (r);
    }
  else
    {
      g_autoptr(GPtrArray) files = NULL;

      smelt_hub_client_list_files_async (f->client, repo, rev, NULL, got_result_cb, f);
      files = smelt_hub_client_list_files_finish (f->client, wait_result (f), &error);
      g_assert_null (files);
    }
  g_test_message ("%s", error->message);
  g_assert_error (error, SMELT_HUB_ERROR, code);
  if (needle != NULL)
    g_assert_nonnull (strstr (error->message, needle));
}

static void
test_errors (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SmeltHubResolved) r = NULL;

  expect_error (f, "org/Gated", NULL, "Gated-Q4_0.gguf", SMELT_HUB_ERROR_GATED, "token");
  expect_error (f, "org/Private", NULL, NULL, SMELT_HUB_ERROR_UNAUTHORIZED, "private");
  expect_error (f, "org/Missing", NULL, NULL, SMELT_HUB_ERROR_NOT_FOUND, "org/Missing");
  expect_error (f, "org/Model-GGUF", "nope", NULL, SMELT_HUB_ERROR_REVISION_NOT_FOUND, "nope");
  expect_error (f, "org/Model-GGUF", NULL, "missing.gguf", SMELT_HUB_ERROR_ENTRY_NOT_FOUND, "missing.gguf");
  expect_error (f, "not-a-repo", NULL, NULL, SMELT_HUB_ERROR_NOT_FOUND, "owner/name");
  expect_error (f, "../x", NULL, NULL, SMELT_HUB_ERROR_NOT_FOUND, NULL);

  smelt_hub_client_set_token (f->client, "hf_wrong");
  expect_error (f, "org/Gated", NULL, "Gated-Q4_0.gguf", SMELT_HUB_ERROR_GATED_NO_ACCESS, "ask for access");
  expect_error (f, "org/Private", NULL, NULL, SMELT_HUB_ERROR_UNAUTHORIZED, "Invalid credentials");

  smelt_hub_client_set_token (f->client, "hf_testtokenAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  smelt_hub_client_resolve_async (f->client, "org/Gated", NULL, "Gated-Q4_0.gguf", NULL, got_result_cb, f);
  r = smelt_hub_client_resolve_finish (f->client, wait_result (f), &error);
  g_assert_no_error (error);
  g_assert_nonnull (r->location);

  g_setenv ("HF_HUB_OFFLINE", "1", TRUE);
  expect_error (f, "org/Model-GGUF", NULL, NULL, SMELT_HUB_ERROR_OFFLINE, "HF_HUB_OFFLINE");
  g_unsetenv ("HF_HUB_OFFLINE");

  /* A dead endpoint is a network error, not a crash. */
  smelt_hub_client_set_endpoint (f->client, "http://127.0.0.1:1");
  expect_error (f, "org/Model-GGUF", NULL, NULL, SMELT_HUB_ERROR_NETWORK, "127.0.0.1:1");
}

static void
test_settings (void)
{
  g_autoptr(SmeltHubClient) client = smelt_hub_client_new ();
  g_autofree char *dir = g_dir_make_tmp ("smelt-hub-XXXXXX", NULL);
  g_autofree char *token_file = g_build_filename (dir, "token", NULL);
  g_autofree char *url = NULL;

  g_unsetenv ("HF_ENDPOINT");
  g_unsetenv ("HF_TOKEN");
  g_unsetenv ("HUGGING_FACE_HUB_TOKEN");
  g_unsetenv ("HF_TOKEN_PATH");
  g_setenv ("HF_HOME", dir, TRUE);

  g_assert_cmpstr (smelt_hub_client_get_endpoint (client), ==, "https://huggingface.co");
  g_setenv ("HF_ENDPOINT", "https://hf-mirror.com/", TRUE);
  smelt_hub_client_set_endpoint (client, "");
  g_assert_cmpstr (smelt_hub_client_get_endpoint (client), ==, "https://hf-mirror.com");
  smelt_hub_client_set_endpoint (client, "http://127.0.0.1:9//");
  g_assert_cmpstr (smelt_hub_client_get_endpoint (client), ==, "http://127.0.0.1:9");
  url = smelt_hub_client_build_resolve_url (client, "org/m", "refs/pr/1", "Q8_0/a b#.gguf");
  g_assert_cmpstr (url, ==, "http://127.0.0.1:9/org/m/resolve/refs%2Fpr%2F1/Q8_0/a%20b%23.gguf");

  /* Token: property, else HF_TOKEN, else $HF_HOME/token (trimmed), else none. */
  g_assert_null (smelt_hub_client_get_token (client));
  g_assert_true (g_file_set_contents (token_file, "  hf_fromfile\r\n", -1, NULL));
  smelt_hub_client_set_token (client, NULL);
  smelt_hub_client_set_token (client, "");
  g_assert_cmpstr (smelt_hub_client_get_token (client), ==, "hf_fromfile");
  g_setenv ("HF_TOKEN", "hf_fromenv", TRUE);
  smelt_hub_client_set_token (client, NULL);
  g_assert_cmpstr (smelt_hub_client_get_token (client), ==, "hf_fromenv");
  smelt_hub_client_set_token (client, "hf_fromsettings");
  g_assert_cmpstr (smelt_hub_client_get_token (client), ==, "hf_fromsettings");

  g_assert_cmpstr (smelt_hub_user_agent (), ==, "smelt/" PACKAGE_VERSION);
  g_unsetenv ("HF_TOKEN");
  g_unsetenv ("HF_ENDPOINT");
  g_unsetenv ("HF_HOME");
  g_remove (token_file);
  g_rmdir (dir);
}

static void
test_parsers (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *next = NULL;
  g_autoptr(GPtrArray) models = NULL;
  g_autoptr(SmeltHubRepoInfo) info = NULL;

  next = smelt_hub_link_next ("<https://huggingface.co/api/models?a=1&cursor=eyJ2>; rel=\"next\"");
  g_assert_cmpstr (next, ==, "https://huggingface.co/api/models?a=1&cursor=eyJ2");
  g_clear_pointer (&next, g_free);
  next = smelt_hub_link_next ("<https://x/prev>; rel=\"prev\", <https://x/n>; rel=\"next\"");
  g_assert_cmpstr (next, ==, "https://x/n");
  g_assert_null (smelt_hub_link_next ("<https://x/prev>; rel=\"prev\""));
  g_assert_null (smelt_hub_link_next (NULL));
  g_assert_null (smelt_hub_link_next ("garbage"));

  models = smelt_hub_models_from_json ("[{\"id\":\"a/b\",\"downloads\":5,\"likes\":\"x\",\"gated\":\"auto\"},"
                                       "{\"nope\":1}, 3]", -1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (models->len, ==, 1);
  g_assert_true (((SmeltHubModel *) g_ptr_array_index (models, 0))->gated);
  g_assert_cmpint (((SmeltHubModel *) g_ptr_array_index (models, 0))->likes, ==, 0);
  g_assert_null (smelt_hub_models_from_json ("{}", -1, &error));
  g_assert_error (error, SMELT_HUB_ERROR, SMELT_HUB_ERROR_INVALID);
  g_clear_error (&error);

  info = smelt_hub_repo_info_from_json ("{\"id\":\"a/b\",\"gated\":\"manual\",\"cardData\":{\"license\":\"mit\"},"
                                        "\"gguf\":{\"total\":8030261248,\"architecture\":\"llama\"},"
                                        "\"siblings\":[{\"rfilename\":\"x.gguf\"},{\"rfilename\":\"/etc/passwd\"}]}",
                                        -1, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (info->gated, ==, "manual");
  g_assert_cmpstr (info->license, ==, "mit");
  g_assert_cmpint (info->gguf_parameters, ==, 8030261248);
  g_assert_cmpuint (g_strv_length (info->siblings), ==, 1);
  g_assert_null (smelt_hub_repo_info_from_json ("[1]", -1, &error));
  g_assert_error (error, SMELT_HUB_ERROR, SMELT_HUB_ERROR_INVALID);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/hub/client/search", Fixture, NULL, fixture_setup, test_search, fixture_teardown);
  g_test_add ("/hub/client/repo-and-tree", Fixture, NULL, fixture_setup, test_repo_and_tree, fixture_teardown);
  g_test_add ("/hub/client/resolve", Fixture, NULL, fixture_setup, test_resolve, fixture_teardown);
  g_test_add ("/hub/client/errors", Fixture, NULL, fixture_setup, test_errors, fixture_teardown);
  g_test_add_func ("/hub/client/settings", test_settings);
  g_test_add_func ("/hub/client/parsers", test_parsers);
  return g_test_run ();
}
