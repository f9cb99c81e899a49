/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-library-page.c: the Library page against a real SmeltLibrary on a scratch cache, with GGUF
 * files written by our own writer: the empty state, models appearing when a models folder is
 * added through GSettings, the row text, disk usage, a bad folder reported without harm, and
 * delete through the confirmation dialog.
 */
#include "config.h"

#include <adwaita.h>
#include <glib/gstdio.h>

#include "sm-gguf.h"
#include "smelt-library-page.h"

static char *tmp;

static void
write_model (const char *path,
             const char *name,
             guint32     ctx)
{
  sm_gguf_writer *w = sm_gguf_writer_new ();
  sm_error err = { 0 };
  int64_t ne[2] = { 64, 4 };
  float data[64 * 4] = { 0 };

  sm_gguf_writer_set_str (w, "general.architecture", "llama");
  sm_gguf_writer_set_str (w, "general.name", name);
  sm_gguf_writer_set_u32 (w, "general.file_type", 0);
  sm_gguf_writer_set_u32 (w, "llama.context_length", ctx);
  g_assert_cmpint (sm_gguf_writer_add_tensor (w, "token_embd.weight", SM_TYPE_F32, 2, ne, &err),
                   ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_begin (w, path, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_write_tensor (w, data, sizeof data, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_finish (w, &err), ==, SM_OK);
  sm_gguf_writer_free (w);
}

static void
on_scanned_cb (SmeltLibraryPage *page,
               gboolean         *done)
{
  *done = TRUE;
}

/* Spins the main loop until the page reports a finished scan (or fails after 10 s). */
static void
wait_scanned (SmeltLibraryPage *page)
{
  gboolean done = FALSE;
  gulong id = g_signal_connect (page, "scanned", G_CALLBACK (on_scanned_cb), &done);
  gint64 end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (!done && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_signal_handler_disconnect (page, id);
  g_assert_true (done);
}

static GtkWidget *
find_type (GtkWidget *root,
           GType      type)
{
  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found;

      if (G_TYPE_CHECK_INSTANCE_TYPE (c, type))
        return c;
      if ((found = find_type (c, type)) != NULL)
        return found;
    }
  return NULL;
}

static GtkWidget *
find_row (GtkWidget  *root,
          const char *title)
{
  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found;

      if (ADW_IS_ACTION_ROW (c)
          && g_strcmp0 (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (c)), title) == 0)
        return c;
      if ((found = find_row (c, title)) != NULL)
        return found;
    }
  return NULL;
}

static gboolean
has_label_prefix (GtkWidget  *root,
                  const char *prefix)
{
  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    if ((GTK_IS_LABEL (c) && g_str_has_prefix (gtk_label_get_text (GTK_LABEL (c)), prefix))
        || has_label_prefix (c, prefix))
      return TRUE;
  return FALSE;
}

static void
test_library_page_flow (void)
{
  g_autoptr(GSettings) settings = g_settings_new (APP_ID);
  g_autofree char *hub = g_build_filename (tmp, "hub", NULL);
  g_autofree char *ini = g_build_filename (tmp, "library.ini", NULL);
  g_autofree char *models = g_build_filename (tmp, "models", NULL);
  g_autofree char *model_path = g_build_filename (models, "tiny.gguf", NULL);
  g_autofree char *missing = g_build_filename (tmp, "no-such-folder", NULL);
  g_autoptr(SmeltLibrary) library = NULL;
  SmeltLibraryPage *page;
  GtkWidget *window;
  GtkStack *stack;
  GtkWidget *row;
  GtkWindow *dialog;
  g_autofree char *describe = NULL;
  g_autofree char *id = NULL;
  const char *folders[] = { models, NULL };
  const char *bad_folders[] = { models, missing, NULL };
  const SmeltLocalModel *model;

  g_assert_cmpint (g_mkdir_with_parents (models, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (hub, 0755), ==, 0);
  write_model (model_path, "Tiny Test", 2048);

  window = gtk_window_new ();
  page = g_object_new (SMELT_TYPE_LIBRARY_PAGE, NULL);
  gtk_window_set_child (GTK_WINDOW (window), GTK_WIDGET (page));
  stack = GTK_STACK (find_type (GTK_WIDGET (page), GTK_TYPE_STACK));

  library = smelt_library_new (hub, ini);
  smelt_library_page_set_library (page, library);
  wait_scanned (page);
  g_assert_cmpuint (smelt_library_page_get_models (page)->len, ==, 0);
  g_assert_cmpstr (gtk_stack_get_visible_child_name (stack), ==, "empty");

  /* Adding the folder in GSettings reaches the library and shows the model. */
  g_settings_set_strv (settings, "models-folders", folders);
  wait_scanned (page);
  g_assert_cmpuint (smelt_library_page_get_models (page)->len, ==, 1);
  g_assert_cmpstr (gtk_stack_get_visible_child_name (stack), ==, "list");
  model = g_ptr_array_index (smelt_library_page_get_models (page), 0);
  g_assert_cmpstr (model->name, ==, "Tiny Test");
  describe = smelt_library_page_describe (model);
  g_assert_true (g_str_has_prefix (describe, "llama · "));
  g_assert_nonnull (strstr (describe, "2048-token context"));
  row = find_row (GTK_WIDGET (page), "Tiny Test");
  g_assert_nonnull (row);
  g_assert_true (has_label_prefix (GTK_WIDGET (page), "1 model uses "));
  g_assert_cmpstr (smelt_library_get_folders (library)[0], ==, models);

  /* A folder that does not exist is refused with a message, and the list stays. */
  g_settings_set_strv (settings, "models-folders", bad_folders);
  wait_scanned (page);
  g_assert_cmpuint (smelt_library_page_get_models (page)->len, ==, 1);
  g_assert_null (smelt_library_get_folders (library)[1]);

  /* Unknown ids get no dialog; known ones are deleted only after "delete". The rescan above
   * replaced the models, so look the model up again. */
  model = g_ptr_array_index (smelt_library_page_get_models (page), 0);
  id = g_strdup (model->id);
  g_assert_null (smelt_library_page_confirm_delete (page, "nope"));
  dialog = smelt_library_page_confirm_delete (page, id);
  g_assert_true (ADW_IS_MESSAGE_DIALOG (dialog));
  adw_message_dialog_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  g_assert_true (g_file_test (model_path, G_FILE_TEST_EXISTS));
  dialog = smelt_library_page_confirm_delete (page, id);
  adw_message_dialog_response (ADW_MESSAGE_DIALOG (dialog), "delete");
  g_assert_false (g_file_test (model_path, G_FILE_TEST_EXISTS));
  wait_scanned (page);
  g_assert_cmpuint (smelt_library_page_get_models (page)->len, ==, 0);
  g_assert_cmpstr (gtk_stack_get_visible_child_name (stack), ==, "empty");

  g_settings_reset (settings, "models-folders");
  gtk_window_destroy (GTK_WINDOW (window));
}

static void
test_library_page_describe (void)
{
  SmeltLocalModel m = { 0 };
  g_autofree char *a = NULL;
  g_autofree char *b = NULL;

  m.architecture = (char *) "qwen2";
  m.quant = (char *) "Q4_K_M";
  m.size_bytes = 4100000000;
  m.context_length = 32768;
  m.n_splits = 3;
  a = smelt_library_page_describe (&m);
  g_assert_cmpstr (a, ==, "qwen2 · Q4_K_M · 4.1\u00a0GB · 32768-token context · 3 parts");

  m.error = (char *) "not a GGUF file";
  b = smelt_library_page_describe (&m);
  g_assert_cmpstr (b, ==, "Cannot be read: not a GGUF file");
}

int
main (int    argc,
      char **argv)
{
  int ret;

  tmp = g_dir_make_tmp ("smelt-test-library-page-XXXXXX", NULL);
  g_assert_nonnull (tmp);
  gtk_test_init (&argc, &argv, NULL);
  adw_init ();

  g_test_add_func ("/app/library-page/describe", test_library_page_describe);
  g_test_add_func ("/app/library-page/flow", test_library_page_flow);
  ret = g_test_run ();

  {
    g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", tmp);

    /* Best effort clean-up of the scratch tree. */
    (void) !system (cmd);
  }
  g_free (tmp);
  return ret;
}
