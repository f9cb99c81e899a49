/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-downloads-page.c: the Downloads page over a real SmeltDownloadManager fetching from the
 * in-process fake Hub over loopback HTTP: the empty state, a job's row reaching 100 % and
 * "Done" (with "download-done" emitted), Pause and Resume and Cancel pressed on the row, a
 * paused queue restored by a new manager from the state file, and a refused file explained in
 * words with a Retry that then succeeds. In the window: the Downloads page shows the
 * application's one manager, and a job added through it rescans the Library when it is done.
 */
#include "config.h"

#include <adwaita.h>
#include <glib/gstdio.h>

#include "smelt-downloads-page.h"
#include "smelt-fake-hub.h"
#include "smelt-library-page.h"
#include "smelt-window.h"

#define REPO  "org/Tiny-GGUF"
#define FILE1 "tiny-Q8_0.gguf"
#define SIZE1 300000

typedef struct
{
  SmeltFakeHub         *hub;
  char                 *tmp;
  char                 *state;
  SmeltDownloadManager *manager;
  SmeltDownloadsPage   *page;
  GtkWidget            *window;
  guint                 done_id;
} Fixture;

static GBytes *
pattern_bytes (gsize size)
{
  guchar *data = g_malloc (size);
  guint32 x = 2463534242u;

  for (gsize i = 0; i < size; i++)
    {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      data[i] = (guchar) x;
    }
  return g_bytes_new_take (data, size);
}

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

static SmeltDownloadManager *
make_manager (Fixture  *f,
              gboolean  autostart)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *cache = g_build_filename (f->tmp, "hub", NULL);
  SmeltDownloadManager *m = smelt_download_manager_new (f->state, autostart, &error);

  g_assert_no_error (error);
  smelt_download_manager_set_cache_dir (m, cache);
  smelt_download_manager_set_connections (m, 1);
  return m;
}

static void
on_download_done_cb (SmeltDownloadsPage *page,
                     guint               id,
                     Fixture            *f)
{
  f->done_id = id;
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = pattern_bytes (SIZE1);

  f->hub = smelt_fake_hub_new ();
  smelt_fake_hub_add_file (f->hub, REPO, FILE1, bytes);
  g_assert_true (smelt_fake_hub_start (f->hub, 0, &error));
  f->tmp = g_dir_make_tmp ("smelt-downloads-page-XXXXXX", &error);
  g_assert_no_error (error);
  f->state = g_build_filename (f->tmp, "downloads.json", NULL);
  f->manager = make_manager (f, TRUE);
  f->page = g_object_ref_sink (g_object_new (SMELT_TYPE_DOWNLOADS_PAGE, NULL));
  g_signal_connect (f->page, "download-done", G_CALLBACK (on_download_done_cb), f);
  f->window = gtk_window_new ();
  gtk_window_set_child (GTK_WINDOW (f->window), GTK_WIDGET (f->page));
  gtk_window_present (GTK_WINDOW (f->window));
  smelt_downloads_page_set_manager (f->page, f->manager);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  smelt_fake_hub_clear_faults (f->hub);
  gtk_window_destroy (GTK_WINDOW (f->window));
  g_clear_object (&f->page);
  g_clear_object (&f->manager);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_clear_pointer (&f->hub, smelt_fake_hub_free);
  rm_rf (f->tmp);
  g_free (f->tmp);
  g_free (f->state);
}

static SmeltDownloadSpec *
make_spec (Fixture *f)
{
  SmeltDownloadSpec *spec = smelt_download_spec_new (smelt_fake_hub_get_url (f->hub), REPO,
                                                     smelt_fake_hub_get_commit (f->hub, REPO));
  const char *sha256 = smelt_fake_hub_get_sha256 (f->hub, REPO, FILE1);

  spec->ref_name = g_strdup ("main");
  spec->label = g_strdup ("Q8_0");
  g_ptr_array_add (spec->files, smelt_hub_file_new (FILE1, SIZE1, sha256));
  return spec;
}

static GtkWidget *
find_named (GtkWidget  *root,
            const char *name)
{
  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found;

      if (g_strcmp0 (gtk_widget_get_name (c), name) == 0)
        return c;
      if ((found = find_named (c, name)) != NULL)
        return found;
    }
  return NULL;
}

static GtkWidget *
part (Fixture    *f,
      guint       id,
      const char *name)
{
  GtkWidget *row = smelt_downloads_page_get_row (f->page, id);

  g_assert_nonnull (row);
  return find_named (row, name);
}

static const char *
state_of (Fixture *f,
          guint    id)
{
  return gtk_label_get_text (GTK_LABEL (part (f, id, "state")));
}

/* Spins the main loop until job `id`'s row reads `state` (fails after 20 s). */
static void
wait_state (Fixture    *f,
            guint       id,
            const char *state)
{
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;

  while (smelt_downloads_page_get_row (f->page, id) == NULL
         || g_strcmp0 (state_of (f, id), state) != 0)
    {
      g_main_context_iteration (NULL, TRUE);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
    }
}

static const char *
visible_page (Fixture *f)
{
  GtkWidget *stack = gtk_widget_get_first_child (GTK_WIDGET (f->page));

  return gtk_stack_get_visible_child_name (GTK_STACK (stack));
}

static void
test_empty (Fixture       *f,
            gconstpointer  data)
{
  g_assert_cmpstr (visible_page (f), ==, "empty");
}

static void
test_complete (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(SmeltDownloadSpec) spec = make_spec (f);
  guint id = smelt_download_manager_add (f->manager, spec);
  g_autofree char *size = g_format_size (SIZE1);
  g_autofree char *expected = g_strdup_printf ("%s of %s", size, size);

  wait_state (f, id, "Done");
  g_assert_cmpstr (visible_page (f), ==, "list");
  g_assert_cmpfloat (gtk_progress_bar_get_fraction (GTK_PROGRESS_BAR (part (f, id, "progress"))),
                     ==, 1.0);
  g_assert_cmpstr (gtk_label_get_text (GTK_LABEL (part (f, id, "title"))), ==, REPO " · Q8_0");
  g_assert_cmpstr (gtk_label_get_text (GTK_LABEL (part (f, id, "details"))), ==, expected);
  g_assert_false (gtk_widget_get_visible (part (f, id, "pause")));
  g_assert_false (gtk_widget_get_visible (part (f, id, "error")));
  g_assert_cmpuint (f->done_id, ==, id);

  /* On a finished job the last button removes it from the list (the file stays). */
  gtk_widget_activate (part (f, id, "cancel"));
  while (smelt_downloads_page_get_row (f->page, id) != NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpstr (visible_page (f), ==, "empty");
}

static void
test_pause_resume_cancel (Fixture       *f,
                          gconstpointer  data)
{
  g_autoptr(SmeltDownloadSpec) spec = make_spec (f);
  guint id;
  double fraction;

  /* ~400 kB/s: the job runs long enough to be paused half-way. */
  smelt_fake_hub_add_fault (f->hub, NULL, SMELT_FAKE_HUB_FAULT_SLOW, 4096, 100);
  id = smelt_download_manager_add (f->manager, spec);
  wait_state (f, id, "Downloading");
  while (gtk_progress_bar_get_fraction (GTK_PROGRESS_BAR (part (f, id, "progress"))) <= 0)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (gtk_widget_get_visible (part (f, id, "pause")));
  g_assert_false (gtk_widget_get_visible (part (f, id, "resume")));

  gtk_widget_activate (part (f, id, "pause"));
  wait_state (f, id, "Paused");
  g_assert_true (gtk_widget_get_visible (part (f, id, "resume")));
  g_assert_false (gtk_widget_get_visible (part (f, id, "pause")));
  fraction = gtk_progress_bar_get_fraction (GTK_PROGRESS_BAR (part (f, id, "progress")));
  g_assert_cmpfloat (fraction, >, 0.0);
  g_assert_cmpfloat (fraction, <, 1.0);

  /* A new process: the queue comes back from the state file, still paused. */
  smelt_downloads_page_set_manager (f->page, NULL);
  g_assert_cmpstr (visible_page (f), ==, "empty");
  g_clear_object (&f->manager);
  f->manager = make_manager (f, FALSE);
  smelt_downloads_page_set_manager (f->page, f->manager);
  g_assert_cmpstr (visible_page (f), ==, "list");
  wait_state (f, id, "Paused");

  gtk_widget_activate (part (f, id, "resume"));
  wait_state (f, id, "Downloading");
  gtk_widget_activate (part (f, id, "cancel"));
  while (smelt_downloads_page_get_row (f->page, id) != NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpstr (visible_page (f), ==, "empty");
  g_assert_null (smelt_download_manager_get_info (f->manager, id));
  g_assert_cmpuint (f->done_id, ==, 0);
}

static void
test_error_retry (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(SmeltDownloadSpec) spec = make_spec (f);
  guint id;
  GtkWidget *error;

  smelt_fake_hub_add_status_fault (f->hub, FILE1, 404, NULL, NULL, 1);
  id = smelt_download_manager_add (f->manager, spec);
  wait_state (f, id, "Failed");
  error = part (f, id, "error");
  g_assert_true (gtk_widget_get_visible (error));
  g_assert_true (g_str_has_prefix (gtk_label_get_text (GTK_LABEL (error)),
                                   "The server refused the file."));
  g_assert_nonnull (gtk_widget_get_tooltip_text (error));
  g_assert_true (gtk_widget_get_visible (part (f, id, "retry")));

  gtk_widget_activate (part (f, id, "retry"));
  wait_state (f, id, "Done");
  g_assert_false (gtk_widget_get_visible (part (f, id, "error")));
  g_assert_false (gtk_widget_get_visible (part (f, id, "retry")));
  g_assert_cmpuint (f->done_id, ==, id);
}

static void
on_scanned_cb (SmeltLibraryPage *page,
               guint            *n_scans)
{
  (*n_scans)++;
}

static void
test_window (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(SmeltApplication) app = smelt_application_new ();
  g_autoptr(SmeltDownloadSpec) spec = make_spec (f);
  SmeltDownloadManager *manager;
  SmeltWindow *window;
  GtkWidget *downloads;
  GtkWidget *library;
  AdwViewStackPage *page;
  guint n_scans = 0;
  guint id;
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;

  g_application_set_flags (G_APPLICATION (app), G_APPLICATION_NON_UNIQUE);
  g_assert_true (g_application_register (G_APPLICATION (app), NULL, NULL));
  manager = smelt_application_get_download_manager (app);
  g_assert_nonnull (manager);
  g_assert_true (smelt_application_get_download_manager (app) == manager);

  window = smelt_window_new (app);
  downloads = adw_view_stack_get_child_by_name (smelt_window_get_stack (window), "downloads");
  g_assert_true (SMELT_IS_DOWNLOADS_PAGE (downloads));
  page = adw_view_stack_get_page (smelt_window_get_stack (window), downloads);
  g_assert_cmpstr (adw_view_stack_page_get_title (page), ==, "Downloads");
  g_assert_cmpstr (adw_view_stack_page_get_icon_name (page), ==, "folder-download-symbolic");
  g_assert_true (smelt_downloads_page_get_manager (SMELT_DOWNLOADS_PAGE (downloads)) == manager);
  library = adw_view_stack_get_child_by_name (smelt_window_get_stack (window), "library");
  g_signal_connect (library, "scanned", G_CALLBACK (on_scanned_cb), &n_scans);

  /* The first scan of the (empty) default cache, then the one the finished download asks for. */
  while (n_scans == 0)
    {
      g_main_context_iteration (NULL, TRUE);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
    }
  spec->dest_dir = g_build_filename (f->tmp, "models", NULL);
  id = smelt_download_manager_add (manager, spec);
  while (smelt_downloads_page_get_row (SMELT_DOWNLOADS_PAGE (downloads), id) == NULL
         || g_strcmp0 (gtk_label_get_text (GTK_LABEL (find_named (
              smelt_downloads_page_get_row (SMELT_DOWNLOADS_PAGE (downloads), id), "state"))),
                       "Done") != 0)
    {
      g_main_context_iteration (NULL, TRUE);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
    }
  n_scans = 0;
  while (n_scans == 0)
    {
      g_main_context_iteration (NULL, TRUE);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
    }
  smelt_download_manager_cancel (manager, id);
  gtk_window_destroy (GTK_WINDOW (window));
}

/* Wakes the main loop now and then so every wait checks its deadline even when nothing happens. */
static gboolean
tick_cb (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

int
main (int   argc,
      char *argv[])
{
  /* The application's manager keeps its queue under the user data folder: a scratch one. */
  g_autofree char *data_home = g_dir_make_tmp ("smelt-downloads-data-XXXXXX", NULL);

  g_assert_nonnull (data_home);
  g_setenv ("XDG_DATA_HOME", data_home, TRUE);
  gtk_test_init (&argc, &argv, NULL);
  adw_init ();
  g_timeout_add (100, tick_cb, NULL);

  g_test_add ("/app/downloads/empty", Fixture, NULL, fixture_setup, test_empty, fixture_teardown);
  g_test_add ("/app/downloads/complete", Fixture, NULL, fixture_setup, test_complete,
              fixture_teardown);
  g_test_add ("/app/downloads/pause-resume-cancel", Fixture, NULL, fixture_setup,
              test_pause_resume_cancel, fixture_teardown);
  g_test_add ("/app/downloads/error-retry", Fixture, NULL, fixture_setup, test_error_retry,
              fixture_teardown);
  g_test_add ("/app/downloads/window", Fixture, NULL, fixture_setup, test_window,
              fixture_teardown);
  {
    int status = g_test_run ();

    rm_rf (data_home);
    return status;
  }
}
