/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-quantize-dialog.c: the Quantize dialog on a copy of the F16 fixture: which models may be
 * sources, the output name, the estimate from the decision table, a Q8_0 run whose progress bar
 * reaches 100 % and whose output appears, and a refusal to overwrite an existing file.
 */
#include "config.h"

#include <adwaita.h>

#include "smelt-quantize-dialog.h"

static char *tmp;
static char *source;

static void
on_finished_cb (SmeltQuantizeDialog *dialog,
                const char          *path,
                char               **out)
{
  *out = g_strdup (path);
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

static AdwActionRow *
row_titled (GtkWidget  *root,
            const char *title)
{
  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    {
      AdwActionRow *found;

      if (ADW_IS_ACTION_ROW (c)
          && g_strcmp0 (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (c)), title) == 0)
        return ADW_ACTION_ROW (c);
      if ((found = row_titled (c, title)) != NULL)
        return found;
    }
  return NULL;
}

static void
test_quantize_dialog (void)
{
  SmeltLocalModel m = { 0 };
  SmeltQuantizeDialog *dialog;
  g_autofree char *finished = NULL;
  g_autofree char *expected = g_build_filename (tmp, "tiny-Q8_0.gguf", NULL);
  GtkProgressBar *bar;
  gint64 end;

  g_autoptr(GPtrArray) files = g_ptr_array_new ();

  g_ptr_array_add (files, source);
  m.files = files;
  m.id = m.path = source;
  m.name = (char *) "tiny";
  m.quant = (char *) "Q4_K_M";
  m.n_params = 1000000;
  g_assert_false (smelt_quantize_dialog_can_quantize (&m));
  m.quant = (char *) "F16";
  g_assert_true (smelt_quantize_dialog_can_quantize (&m));

  dialog = g_object_ref_sink (smelt_quantize_dialog_new ());
  g_assert_true (smelt_quantize_dialog_set_model (dialog, &m));
  g_signal_connect (dialog, "finished", G_CALLBACK (on_finished_cb), &finished);
  /* The default preset and its estimate: 1M weights at Q4_K_M's 4.89 bits. */
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (row_titled (GTK_WIDGET (dialog),
                                                                     "Output")),
                            "tiny-Q4_K_M.gguf"));
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (row_titled (GTK_WIDGET (dialog),
                                                                     "Estimate")),
                            "quality 86 of 100"));
  g_assert_false (smelt_quantize_dialog_select_preset (dialog, "Q9_X"));
  g_assert_true (smelt_quantize_dialog_select_preset (dialog, "Q8_0"));
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (row_titled (GTK_WIDGET (dialog),
                                                                     "Output")),
                            "tiny-Q8_0.gguf"));

  smelt_quantize_dialog_start (dialog);
  end = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  while (finished == NULL && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpstr (finished, ==, expected);
  g_assert_true (g_file_test (expected, G_FILE_TEST_IS_REGULAR));
  bar = GTK_PROGRESS_BAR (find_type (GTK_WIDGET (dialog), GTK_TYPE_PROGRESS_BAR));
  g_assert_cmpfloat (gtk_progress_bar_get_fraction (bar), ==, 1.0);
  g_assert_cmpstr (gtk_progress_bar_get_text (bar), ==, "100 %");

  /* A second run would overwrite the output: refused, nothing starts. */
  g_clear_pointer (&finished, g_free);
  smelt_quantize_dialog_start (dialog);
  g_assert_cmpfloat (gtk_progress_bar_get_fraction (bar), ==, 1.0);

  g_object_unref (dialog);
}

int
main (int    argc,
      char **argv)
{
  const char *shared = g_getenv ("SMELT_SHARED_DIR");
  g_autofree char *fixture = NULL;
  g_autofree char *data = NULL;
  gsize len;
  int ret;

  tmp = g_dir_make_tmp ("smelt-test-quantize-dialog-XXXXXX", NULL);
  fixture = g_build_filename (shared ? shared : "../shared", "fixtures", "models",
                              "llama-2-tiny-random.gguf", NULL);
  source = g_build_filename (tmp, "tiny-F16.gguf", NULL);
  g_assert_true (g_file_get_contents (fixture, &data, &len, NULL));
  g_assert_true (g_file_set_contents (source, data, len, NULL));
  gtk_test_init (&argc, &argv, NULL);
  adw_init ();

  g_test_add_func ("/app/quantize-dialog", test_quantize_dialog);
  ret = g_test_run ();

  {
    g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", tmp);

    (void) !system (cmd); /* best-effort clean-up */
  }
  return ret;
}
