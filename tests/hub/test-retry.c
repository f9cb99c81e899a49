/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-retry.c: SmeltHubClient's retries against the loopback fake Hub over real HTTP. The hub
 * answers 429/5xx/408 to the first N matching requests, then normally; the tests count the
 * requests the hub saw, check that server hints (Retry-After, RateLimit r=0;t=N) are honoured up to
 * the cap, that 4xx are never retried, that the tries are bounded with a clear final error, and
 * that cancelling ends a backoff wait at once. Delays are made small through
 * $SMELT_HUB_RETRY_BASE_MS / $SMELT_HUB_RETRY_MAX_MS (and the setter), so the suite takes well
 * under a second.
 */
#include "config.h"

#include <string.h>

#include "smelt-fake-hub.h"
#include "smelt-hub-client.h"

/* The cap on any single wait in these tests (ms). */
#define TEST_CAP_MS 60

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
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) q4 = pattern_bytes (4000, 1);
  g_autoptr(GBytes) small = pattern_bytes (100, 2);
  g_autoptr(GBytes) card = g_bytes_new_static ("# Card\n", 7);

  g_unsetenv ("HF_HUB_OFFLINE");
  g_unsetenv ("TRANSFORMERS_OFFLINE");
  g_unsetenv ("HF_TOKEN");
  g_unsetenv ("HUGGING_FACE_HUB_TOKEN");
  g_setenv ("HF_TOKEN_PATH", "/nonexistent/smelt-test/token", TRUE);
  /* Read by smelt_hub_client_new(): 1 ms base, TEST_CAP_MS cap. */
  g_setenv ("SMELT_HUB_RETRY_BASE_MS", "1", TRUE);
  g_setenv ("SMELT_HUB_RETRY_MAX_MS", G_STRINGIFY (TEST_CAP_MS), TRUE);

  f->hub = smelt_fake_hub_new ();
  for (guint i = 0; i < 5; i++)
    {
      g_autofree char *id = g_strdup_printf ("org%u/Llama-%u-GGUF", i, i);

      smelt_fake_hub_add_file (f->hub, id, "model-Q4_K_M.gguf", small);
      smelt_fake_hub_set_stats (f->hub, id, 100 * (i + 1), 50 - i, 0, NULL);
    }
  smelt_fake_hub_add_file (f->hub, "org/Model-GGUF", "Model-Q4_K_M.gguf", q4);
  smelt_fake_hub_add_file (f->hub, "org/Model-GGUF", "Q8_0/Model-Q8_0-00001-of-00002.gguf", small);
  smelt_fake_hub_add_file (f->hub, "org/Model-GGUF", "Q8_0/Model-Q8_0-00002-of-00002.gguf", small);
  smelt_fake_hub_add_file (f->hub, "org/Model-GGUF", "README.md", card);
  smelt_fake_hub_set_page_size (f->hub, 2);
  g_assert_true (smelt_fake_hub_start (f->hub, 0, &error));
  g_assert_no_error (error);

  f->client = smelt_hub_client_new ();
  smelt_hub_client_set_endpoint (f->client, smelt_fake_hub_get_url (f->hub));
  g_unsetenv ("SMELT_HUB_RETRY_BASE_MS");
  g_unsetenv ("SMELT_HUB_RETRY_MAX_MS");
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
  while (f->result == NULL)
    g_main_context_iteration (NULL, TRUE);
  return f->result;
}

static void
reset (Fixture *f)
{
  g_clear_object (&f->result);
}

/* A search over two pages: the first page answers 429 with Retry-After: 1, the second 429 with
 * RateLimit r=0;t=5; both are retried after the (capped) hinted wait. */
static void
test_search_rate_limited (Fixture       *f,
                          gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) models = NULL;
  guint before;
  gint64 start, elapsed_ms;

  smelt_fake_hub_add_status_fault (f->hub, "/api/models?", 429, "1", NULL, 1);
  smelt_fake_hub_add_status_fault (f->hub, "cursor=2", 429, NULL, "\"api\";r=0;t=5", 1);
  before = smelt_fake_hub_get_requests (f->hub);
  start = g_get_monotonic_time ();
  reset (f);
  smelt_hub_client_search_async (f->client, "llama", SMELT_HUB_SORT_DOWNLOADS, 4, NULL, got_result_cb, f);
  models = smelt_hub_client_search_finish (f->client, wait_result (f), &error);
  elapsed_ms = (g_get_monotonic_time () - start) / 1000;
  g_assert_no_error (error);
  g_assert_cmpuint (models->len, ==, 4);
  g_assert_cmpstr (((SmeltHubModel *) g_ptr_array_index (models, 0))->id, ==, "org4/Llama-4-GGUF");
  g_assert_cmpstr (((SmeltHubModel *) g_ptr_array_index (models, 3))->id, ==, "org1/Llama-1-GGUF");
  /* Two pages, each asked twice. */
  g_assert_cmpuint (smelt_fake_hub_get_requests (f->hub) - before, ==, 4);
  g_assert_cmpuint (smelt_fake_hub_get_faults_left (f->hub), ==, 0);
  /* Both hints exceed the cap, so both waits are the cap; backoff alone would wait ~1-2 ms. */
  g_assert_cmpint (elapsed_ms, >=, 2 * TEST_CAP_MS - 10);
  g_assert_cmpint (elapsed_ms, <, 1000);
}

/* The second page of a tree answers 503 twice, then the listing completes. */
static void
test_tree_unavailable (Fixture       *f,
                       gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) clean = NULL;
  g_autoptr(GPtrArray) files = NULL;
  guint before, pages;

  before = smelt_fake_hub_get_requests (f->hub);
  reset (f);
  smelt_hub_client_list_files_async (f->client, "org/Model-GGUF", NULL, NULL, got_result_cb, f);
  clean = smelt_hub_client_list_files_finish (f->client, wait_result (f), &error);
  g_assert_no_error (error);
  pages = smelt_fake_hub_get_requests (f->hub) - before;
  g_assert_cmpuint (pages, >=, 2);

  smelt_fake_hub_add_status_fault (f->hub, "cursor=2", 503, NULL, NULL, 2);
  before = smelt_fake_hub_get_requests (f->hub);
  reset (f);
  smelt_hub_client_list_files_async (f->client, "org/Model-GGUF", NULL, NULL, got_result_cb, f);
  files = smelt_hub_client_list_files_finish (f->client, wait_result (f), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (files->len, ==, clean->len);
  g_assert_cmpuint (smelt_fake_hub_get_requests (f->hub) - before, ==, pages + 2);
  g_assert_cmpuint (smelt_fake_hub_get_faults_left (f->hub), ==, 0);
}

/* Repo info, model card and resolve HEAD each recover from one transient answer. */
static void
test_other_calls_recover (Fixture       *f,
                          gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SmeltHubRepoInfo) info = NULL;
  g_autofree char *card = NULL;
  g_autoptr(SmeltHubResolved) resolved = NULL;
  guint before = smelt_fake_hub_get_requests (f->hub);

  smelt_fake_hub_add_status_fault (f->hub, "/api/models/org/Model-GGUF", 502, NULL, NULL, 1);
  reset (f);
  smelt_hub_client_get_repo_async (f->client, "org/Model-GGUF", NULL, NULL, got_result_cb, f);
  info = smelt_hub_client_get_repo_finish (f->client, wait_result (f), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (info->id, ==, "org/Model-GGUF");

  smelt_fake_hub_add_status_fault (f->hub, "/resolve/main/README.md", 408, NULL, NULL, 1);
  reset (f);
  smelt_hub_client_get_model_card_async (f->client, "org/Model-GGUF", NULL, NULL, got_result_cb, f);
  card = smelt_hub_client_get_model_card_finish (f->client, wait_result (f), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (card, ==, "# Card\n");

  smelt_fake_hub_add_status_fault (f->hub, "/resolve/main/Model-Q4_K_M.gguf", 504, NULL, NULL, 1);
  reset (f);
  smelt_hub_client_resolve_async (f->client, "org/Model-GGUF", NULL, "Model-Q4_K_M.gguf", NULL,
                                  got_result_cb, f);
  resolved = smelt_hub_client_resolve_finish (f->client, wait_result (f), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (resolved->size, ==, 4000);
  g_assert_cmpstr (resolved->commit, ==, smelt_fake_hub_get_commit (f->hub, "org/Model-GGUF"));

  g_assert_cmpuint (smelt_fake_hub_get_requests (f->hub) - before, ==, 6);
}

/* A server that keeps failing: exactly 4 tries, then a clear error. */
static void
test_permanent_failure (Fixture       *f,
                        gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SmeltHubRepoInfo) info = NULL;
  g_autoptr(GPtrArray) models = NULL;
  guint before;

  smelt_fake_hub_add_status_fault (f->hub, "/api/models/org/Model-GGUF", 500, NULL, NULL, 100);
  before = smelt_fake_hub_get_requests (f->hub);
  reset (f);
  smelt_hub_client_get_repo_async (f->client, "org/Model-GGUF", NULL, NULL, got_result_cb, f);
  info = smelt_hub_client_get_repo_finish (f->client, wait_result (f), &error);
  g_assert_null (info);
  g_assert_error (error, SMELT_HUB_ERROR, SMELT_HUB_ERROR_SERVER);
  g_assert_nonnull (strstr (error->message, "failed 4 tries in a row"));
  g_assert_nonnull (strstr (error->message, "500"));
  g_assert_cmpuint (smelt_fake_hub_get_requests (f->hub) - before, ==, 4);
  g_clear_error (&error);
  smelt_fake_hub_clear_faults (f->hub);

  /* Rate limited on every try: RATE_LIMITED, says so, and passes the server's hint on. */
  smelt_fake_hub_add_status_fault (f->hub, "/api/models?", 429, "7", NULL, 100);
  before = smelt_fake_hub_get_requests (f->hub);
  reset (f);
  smelt_hub_client_search_async (f->client, NULL, SMELT_HUB_SORT_LIKES, 2, NULL, got_result_cb, f);
  models = smelt_hub_client_search_finish (f->client, wait_result (f), &error);
  g_assert_null (models);
  g_assert_error (error, SMELT_HUB_ERROR, SMELT_HUB_ERROR_RATE_LIMITED);
  g_assert_nonnull (strstr (error->message, "rate limited on all 4 tries"));
  g_assert_nonnull (strstr (error->message, "try again in 7 seconds"));
  g_assert_cmpuint (smelt_fake_hub_get_requests (f->hub) - before, ==, 4);
  g_clear_error (&error);
  smelt_fake_hub_clear_faults (f->hub);

  /* With retries turned off the first answer is final, and the message is the plain one. */
  smelt_hub_client_set_retry_policy (f->client, 1, 1, TEST_CAP_MS);
  smelt_fake_hub_add_status_fault (f->hub, "/api/models/org/Model-GGUF", 503, NULL, NULL, 100);
  before = smelt_fake_hub_get_requests (f->hub);
  reset (f);
  smelt_hub_client_get_repo_async (f->client, "org/Model-GGUF", NULL, NULL, got_result_cb, f);
  info = smelt_hub_client_get_repo_finish (f->client, wait_result (f), &error);
  g_assert_error (error, SMELT_HUB_ERROR, SMELT_HUB_ERROR_SERVER);
  g_assert_null (strstr (error->message, "tries"));
  g_assert_cmpuint (smelt_fake_hub_get_requests (f->hub) - before, ==, 1);
}

/* 4xx other than 408/429, and 501, are final: one request each. */
static void
test_client_errors_not_retried (Fixture       *f,
                                gconstpointer  data)
{
  static const guint statuses[] = { 400, 403, 404, 410, 501 };
  g_autoptr(GError) error = NULL;
  g_autoptr(SmeltHubRepoInfo) info = NULL;
  guint before = smelt_fake_hub_get_requests (f->hub);

  /* A genuinely missing repository. */
  reset (f);
  smelt_hub_client_get_repo_async (f->client, "org/Missing", NULL, NULL, got_result_cb, f);
  info = smelt_hub_client_get_repo_finish (f->client, wait_result (f), &error);
  g_assert_error (error, SMELT_HUB_ERROR, SMELT_HUB_ERROR_NOT_FOUND);
  g_assert_cmpuint (smelt_fake_hub_get_requests (f->hub) - before, ==, 1);
  g_clear_error (&error);

  for (guint i = 0; i < G_N_ELEMENTS (statuses); i++)
    {
      smelt_fake_hub_clear_faults (f->hub);
      smelt_fake_hub_add_status_fault (f->hub, "/api/models/org/Model-GGUF", statuses[i], "0", NULL, 100);
      before = smelt_fake_hub_get_requests (f->hub);
      reset (f);
      smelt_hub_client_get_repo_async (f->client, "org/Model-GGUF", NULL, NULL, got_result_cb, f);
      info = smelt_hub_client_get_repo_finish (f->client, wait_result (f), &error);
      g_assert_null (info);
      g_assert_nonnull (error);
      g_assert_true (error->domain == SMELT_HUB_ERROR);
      g_assert_cmpuint (smelt_fake_hub_get_requests (f->hub) - before, ==, 1);
      g_clear_error (&error);
    }
}

static gboolean
cancel_cb (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

/* A cancel during a long backoff wait ends the call at once with G_IO_ERROR_CANCELLED, and no
 * further request is sent. */
static void
test_cancel_during_wait (Fixture       *f,
                         gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(SmeltHubRepoInfo) info = NULL;
  guint before;
  gint64 cancelled_at, elapsed_ms;

  /* Production-sized waits: the server asks for 20 s, the cap is 30 s. */
  smelt_hub_client_set_retry_policy (f->client, 4, 1000, 30000);
  smelt_fake_hub_add_status_fault (f->hub, "/api/models/org/Model-GGUF", 503, "20", NULL, 100);
  before = smelt_fake_hub_get_requests (f->hub);
  reset (f);
  smelt_hub_client_get_repo_async (f->client, "org/Model-GGUF", NULL, cancellable, got_result_cb, f);
  while (smelt_fake_hub_get_requests (f->hub) == before)
    g_main_context_iteration (NULL, TRUE);
  /* Give the client time to read the 503 and start waiting, then cancel. */
  g_timeout_add (30, cancel_cb, cancellable);
  while (!g_cancellable_is_cancelled (cancellable))
    g_main_context_iteration (NULL, TRUE);
  cancelled_at = g_get_monotonic_time ();
  info = smelt_hub_client_get_repo_finish (f->client, wait_result (f), &error);
  elapsed_ms = (g_get_monotonic_time () - cancelled_at) / 1000;
  g_assert_null (info);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (elapsed_ms, <, 200);
  g_assert_cmpuint (smelt_fake_hub_get_requests (f->hub) - before, ==, 1);
}

static void
test_retry_hint (void)
{
  guint64 ms = 12345;
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr(GDateTime) later = g_date_time_add_seconds (now, 90);
  g_autofree char *date = g_date_time_format (later, "%a, %d %b %Y %H:%M:%S GMT");

  g_assert_false (smelt_hub_retry_hint (NULL, NULL, &ms));
  g_assert_cmpuint (ms, ==, 12345);
  g_assert_true (smelt_hub_retry_hint ("\"api\";r=0;t=55", NULL, &ms));
  g_assert_cmpuint (ms, ==, 56000);
  /* RateLimit wins over Retry-After once the bucket is empty... */
  g_assert_true (smelt_hub_retry_hint ("\"api\"; r=0; t=4", "100", &ms));
  g_assert_cmpuint (ms, ==, 5000);
  /* ...and says nothing while requests remain. */
  g_assert_true (smelt_hub_retry_hint ("\"api\";r=12;t=4", " 3 ", &ms));
  g_assert_cmpuint (ms, ==, 3000);
  g_assert_false (smelt_hub_retry_hint ("\"api\";r=12;t=4", NULL, &ms));
  g_assert_true (smelt_hub_retry_hint ("\"pages\";r=3;t=9, \"api\";r=0;t=0", NULL, &ms));
  g_assert_cmpuint (ms, ==, 1000);
  g_assert_false (smelt_hub_retry_hint ("garbage;r=x;t=-1", "soon", &ms));
  g_assert_true (smelt_hub_retry_hint (NULL, date, &ms));
  g_assert_cmpuint (ms, >, 80000);
  g_assert_cmpuint (ms, <=, 90000);
  g_assert_true (smelt_hub_retry_hint (NULL, "Thu, 01 Jan 1970 00:00:00 GMT", &ms));
  g_assert_cmpuint (ms, ==, 0);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/hub/retry/search-rate-limited", test_search_rate_limited);
  ADD ("/hub/retry/tree-unavailable", test_tree_unavailable);
  ADD ("/hub/retry/other-calls", test_other_calls_recover);
  ADD ("/hub/retry/permanent", test_permanent_failure);
  ADD ("/hub/retry/client-errors", test_client_errors_not_retried);
  ADD ("/hub/retry/cancel", test_cancel_during_wait);
  g_test_add_func ("/hub/retry/hint", test_retry_hint);
  return g_test_run ();
}
