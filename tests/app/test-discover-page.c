/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-discover-page.c: the Discover page against the in-process fake Hub (real HTTP on
 * loopback through $HF_ENDPOINT): search results and their sort, a repository's variants with
 * sizes and exactly one starred recommendation for a fixed hardware profile, and the Download
 * button opening the download wizard, whose job lands in a real download manager (not started).
 */
#include "config.h"

#include <adwaita.h>
#include <glib/gstdio.h>

#include "smelt-discover-page.h"
#include "smelt-fake-hub.h"

static SmeltFakeHub *hub;
static char *tmp;

static void
add_file (const char *repo,
          const char *path,
          gsize       size)
{
  g_autofree guint8 *data = g_malloc0 (size);
  g_autoptr(GBytes) bytes = NULL;

  for (gsize i = 0; i < size; i++)
    data[i] = (guint8) (i * 7 + size);
  bytes = g_bytes_new (data, size);
  smelt_fake_hub_add_file (hub, repo, path, bytes);
}

static void
on_done_cb (GObject  *object,
            gboolean *done)
{
  (void) object;
  *done = TRUE;
}

/* Spins the main loop until `signal` is emitted by the page (fails after 10 s). */
static void
wait_for (SmeltDiscoverPage *page,
          const char        *signal)
{
  gboolean done = FALSE;
  gulong id = g_signal_connect (page, signal, G_CALLBACK (on_done_cb), &done);
  gint64 end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (!done && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_signal_handler_disconnect (page, id);
  g_assert_true (done);
}

static void
on_queued_cb (SmeltDiscoverPage *page,
              guint              id,
              gboolean           open_chat,
              guint             *out)
{
  (void) page;
  g_assert_false (open_chat);
  *out = id;
}

static GtkWidget *
find_named (GtkWidget  *root,
            const char *name,
            guint      *count)
{
  GtkWidget *found = NULL;

  if (g_strcmp0 (gtk_widget_get_name (root), name) == 0)
    {
      (*count)++;
      found = root;
    }
  for (GtkWidget *child = gtk_widget_get_first_child (root); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *f = find_named (child, name, count);

      if (found == NULL)
        found = f;
    }
  return found;
}

static SmeltDiscoverPage *
new_page (GtkWindow **window_out)
{
  SmeltDiscoverPage *page = g_object_new (SMELT_TYPE_DISCOVER_PAGE, NULL);
  GtkWindow *window = GTK_WINDOW (gtk_window_new ());
  g_autoptr(GError) error = NULL;
  SmeltHwProfile *hw = smelt_hw_profile_from_json (
    "{\"cpu\":{\"arch\":\"x86_64\",\"model\":\"Test CPU\",\"cores\":8,\"threads\":16,"
    "\"features\":[\"avx2\",\"fma\",\"f16c\"]},\"memory\":{\"total_bytes\":34359738368,"
    "\"available_bytes\":30000000000,\"bandwidth_bytes_per_second\":40000000000}}", -1, &error);

  g_assert_no_error (error);
  smelt_discover_page_set_hw_profile (page, hw);
  gtk_window_set_child (window, GTK_WIDGET (page));
  gtk_window_present (window);
  *window_out = window;
  return page;
}

static void
test_search_and_sort (void)
{
  GtkWindow *window;
  SmeltDiscoverPage *page = new_page (&window);
  GtkDropDown *sort;
  GPtrArray *results;

  smelt_discover_page_focus_search (page);
  sort = GTK_DROP_DOWN (gtk_widget_get_template_child (GTK_WIDGET (page),
                                                       SMELT_TYPE_DISCOVER_PAGE,
                                                       "sort_dropdown"));
  gtk_editable_set_text (GTK_EDITABLE (gtk_widget_get_template_child (GTK_WIDGET (page),
                                                                      SMELT_TYPE_DISCOVER_PAGE,
                                                                      "search_entry")),
                         "gguf");
  smelt_discover_page_search (page);
  wait_for (page, "results-changed");
  results = smelt_discover_page_get_results (page);
  g_assert_nonnull (results);
  g_assert_cmpuint (results->len, ==, 3);
  /* Default sort: downloads, most first. */
  g_assert_cmpstr (((SmeltHubModel *) g_ptr_array_index (results, 0))->id, ==, "org/Big-GGUF");
  g_assert_cmpint (((SmeltHubModel *) g_ptr_array_index (results, 0))->downloads, ==, 9000);

  /* Switching to likes asks again with sort=likes. */
  gtk_drop_down_set_selected (sort, 1);
  wait_for (page, "results-changed");
  results = smelt_discover_page_get_results (page);
  g_assert_cmpuint (results->len, ==, 3);
  g_assert_cmpstr (((SmeltHubModel *) g_ptr_array_index (results, 0))->id, ==, "org/Liked-GGUF");

  /* Recently updated. */
  gtk_drop_down_set_selected (sort, 3);
  wait_for (page, "results-changed");
  results = smelt_discover_page_get_results (page);
  g_assert_cmpstr (((SmeltHubModel *) g_ptr_array_index (results, 0))->id, ==, "org/New-GGUF");

  gtk_window_destroy (window);
}

static void
test_repo_and_download (void)
{
  GtkWindow *window;
  SmeltDiscoverPage *page = new_page (&window);
  g_autofree char *state = g_build_filename (tmp, "downloads.json", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(SmeltDownloadManager) manager = smelt_download_manager_new (state, FALSE, &error);
  g_autoptr(GPtrArray) jobs = NULL;
  const SmeltRecommendation *rec;
  SmeltDownloadInfo *job;
  GPtrArray *variants;
  GtkTextView *card;
  g_autofree char *text = NULL;
  GtkTextIter start, end;
  guint stars = 0;
  GtkWidget *star;
  SmeltWizard *wizard;
  guint queued = 0;
  gint64 deadline;

  g_assert_no_error (error);
  smelt_discover_page_set_download_manager (page, manager);
  smelt_discover_page_open_repo (page, "org/Big-GGUF");
  wait_for (page, "repo-loaded");

  variants = smelt_discover_page_get_variants (page);
  g_assert_nonnull (variants);
  g_assert_cmpuint (variants->len, ==, 3);
  /* Sorted by size, largest first; the split Q8_0 counts both parts. */
  g_assert_cmpstr (((SmeltHubVariant *) g_ptr_array_index (variants, 0))->name, ==, "F16");
  g_assert_cmpuint (((SmeltHubVariant *) g_ptr_array_index (variants, 0))->size_bytes, ==, 8192);
  g_assert_cmpstr (((SmeltHubVariant *) g_ptr_array_index (variants, 1))->name, ==, "Q8_0");
  g_assert_cmpuint (((SmeltHubVariant *) g_ptr_array_index (variants, 1))->size_bytes, ==, 6000);
  g_assert_cmpuint (((SmeltHubVariant *) g_ptr_array_index (variants, 2))->size_bytes, ==, 2048);

  rec = smelt_discover_page_get_recommendation (page);
  g_assert_nonnull (rec);
  g_assert_cmpint (rec->recommended, >=, 0);
  star = find_named (GTK_WIDGET (page), "recommended-star", &stars);
  g_assert_cmpuint (stars, ==, 1);
  /* The star sits in the recommended variant's row. */
  g_assert_true (gtk_widget_is_ancestor (star, GTK_WIDGET (gtk_list_box_get_row_at_index (
    GTK_LIST_BOX (gtk_widget_get_template_child (GTK_WIDGET (page), SMELT_TYPE_DISCOVER_PAGE,
                                                 "variants_list")),
    rec->recommended))));

  card = GTK_TEXT_VIEW (gtk_widget_get_template_child (GTK_WIDGET (page),
                                                       SMELT_TYPE_DISCOVER_PAGE, "card_view"));
  g_assert_false (gtk_text_view_get_editable (card));
  gtk_text_buffer_get_bounds (gtk_text_view_get_buffer (card), &start, &end);
  text = gtk_text_buffer_get_text (gtk_text_view_get_buffer (card), &start, &end, FALSE);
  g_assert_nonnull (strstr (text, "A big test model."));

  /* The Download button's action opens the wizard over the window with the Q8_0 chosen; the
   * wizard's last step queues it with both parts, and the page passes the news on. */
  g_signal_connect (page, "download-queued", G_CALLBACK (on_queued_cb), &queued);
  g_assert_null (smelt_discover_page_get_wizard (page));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (page), "discover.download", "u", 1));
  /* It is built now and shown on the next main-loop turn. */
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (smelt_discover_page_get_wizard (page) == NULL && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  wizard = smelt_discover_page_get_wizard (page);
  g_assert_nonnull (wizard);
  g_assert_true (gtk_window_get_transient_for (GTK_WINDOW (wizard)) == window);
  g_assert_cmpint (smelt_wizard_get_selected (wizard), ==, 1);
  /* The same advice as the page's for the same machine. */
  g_assert_cmpint (smelt_wizard_get_recommendation (wizard)->recommended, ==, rec->recommended);
  jobs = smelt_download_manager_list (manager);
  g_assert_cmpuint (jobs->len, ==, 0);
  g_clear_pointer (&jobs, g_ptr_array_unref);
  while (smelt_wizard_next (wizard))
    ;
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (smelt_wizard_get_free_bytes (wizard) < 0 && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (smelt_wizard_download (wizard), >, 0);
  g_assert_cmpuint (queued, >, 0);
  /* It closes (hides; the page destroys it with itself or for the next one). */
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (wizard)));
  g_assert_null (smelt_discover_page_get_wizard (page));
  jobs = smelt_download_manager_list (manager);
  g_assert_cmpuint (jobs->len, ==, 1);
  job = g_ptr_array_index (jobs, 0);
  g_assert_cmpstr (job->repo_id, ==, "org/Big-GGUF");
  g_assert_cmpstr (job->label, ==, "Q8_0");
  g_assert_cmpuint (job->n_files, ==, 2);

  smelt_download_manager_shutdown (manager);
  gtk_window_destroy (window);
}

/* Without a given profile the page probes this machine off the UI thread. */
static void
test_repo_probed (void)
{
  SmeltDiscoverPage *page = g_object_new (SMELT_TYPE_DISCOVER_PAGE, NULL);
  GtkWindow *window = GTK_WINDOW (gtk_window_new ());
  const SmeltRecommendation *rec;

  gtk_window_set_child (window, GTK_WIDGET (page));
  smelt_discover_page_open_repo (page, "org/Liked-GGUF");
  wait_for (page, "repo-loaded");
  g_assert_cmpuint (smelt_discover_page_get_variants (page)->len, ==, 1);
  rec = smelt_discover_page_get_recommendation (page);
  g_assert_nonnull (rec);
  g_assert_cmpuint (rec->advice->len, ==, 1);
  gtk_window_destroy (window);
}

static void
test_repo_missing (void)
{
  GtkWindow *window;
  SmeltDiscoverPage *page = new_page (&window);
  GtkLabel *status;

  smelt_discover_page_open_repo (page, "org/Missing-GGUF");
  wait_for (page, "repo-loaded");
  status = GTK_LABEL (gtk_widget_get_template_child (GTK_WIDGET (page), SMELT_TYPE_DISCOVER_PAGE,
                                                     "repo_status"));
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (status)));
  g_assert_true (g_str_has_prefix (gtk_label_get_text (status), "Could not load the repository"));
  g_assert_null (smelt_discover_page_get_recommendation (page));
  g_assert_true (smelt_discover_page_get_variants (page) == NULL
                 || smelt_discover_page_get_variants (page)->len == 0);
  /* Nothing to download. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (page), "discover.download", "u", 0));

  gtk_window_destroy (window);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GError) error = NULL;
  int ret;

  gtk_test_init (&argc, &argv, NULL);
  adw_init ();

  tmp = g_dir_make_tmp ("smelt-discover-XXXXXX", &error);
  g_assert_no_error (error);
  hub = smelt_fake_hub_new ();
  add_file ("org/Big-GGUF", "Big-F16.gguf", 8192);
  add_file ("org/Big-GGUF", "Q8_0/Big-Q8_0-00001-of-00002.gguf", 3000);
  add_file ("org/Big-GGUF", "Q8_0/Big-Q8_0-00002-of-00002.gguf", 3000);
  add_file ("org/Big-GGUF", "Big-Q4_K_M.gguf", 2048);
  smelt_fake_hub_add_file (hub, "org/Big-GGUF", "README.md",
                           g_bytes_new_static ("# Big\n\nA big test model.\n", 25));
  smelt_fake_hub_set_stats (hub, "org/Big-GGUF", 9000, 10, 1.0, "2024-01-01T00:00:00.000Z");
  add_file ("org/Liked-GGUF", "Liked-Q4_0.gguf", 2048);
  smelt_fake_hub_set_stats (hub, "org/Liked-GGUF", 100, 500, 2.0, "2024-02-01T00:00:00.000Z");
  add_file ("org/New-GGUF", "New-Q4_0.gguf", 2048);
  smelt_fake_hub_set_stats (hub, "org/New-GGUF", 10, 1, 0.5, "2025-06-01T00:00:00.000Z");
  add_file ("org/Other", "config.json", 10);
  g_assert_true (smelt_fake_hub_start (hub, 0, &error));
  g_setenv ("HF_ENDPOINT", smelt_fake_hub_get_url (hub), TRUE);
  g_unsetenv ("HF_HUB_OFFLINE");
  g_unsetenv ("HF_TOKEN");
  g_setenv ("HF_HUB_CACHE", tmp, TRUE);
  g_setenv ("SMELT_MEMORY_BANDWIDTH", "40000000000", TRUE);

  g_test_add_func ("/discover-page/search-and-sort", test_search_and_sort);
  g_test_add_func ("/discover-page/repo-and-download", test_repo_and_download);
  g_test_add_func ("/discover-page/repo-probed", test_repo_probed);
  g_test_add_func ("/discover-page/repo-missing", test_repo_missing);
  ret = g_test_run ();

  smelt_fake_hub_free (hub);
  {
    g_autofree char *state = g_build_filename (tmp, "downloads.json", NULL);

    g_remove (state);
    g_rmdir (tmp);
  }
  g_free (tmp);
  return ret;
}
