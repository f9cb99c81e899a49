/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-window.c: the shell in-process: the window builds from its template, the header's
 * switcher moves to the bottom bar when narrow, shortcuts are registered, the Preferences controls
 * follow GSettings both ways, and the stall probe measures a real stall. GSettings uses the memory
 * backend (test env), so nothing touches the user's settings.
 */
#include "config.h"

#include <adwaita.h>

#include "smelt-application.h"
#include "smelt-preferences-window.h"
#include "smelt-stall-probe.h"
#include "smelt-window.h"

static void
spin (guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * 1000;

  while (g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, FALSE);
}

/* Finds the first descendant of `root` of `type` whose accessible label (or title) is `label`. */
static GtkWidget *
find_labelled (GtkWidget  *root,
               GType       type,
               const char *label)
{
  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found;

      if (G_TYPE_CHECK_INSTANCE_TYPE (c, type))
        {
          if (ADW_IS_PREFERENCES_ROW (c)
              && g_strcmp0 (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (c)), label) == 0)
            return c;
        }
      if ((found = find_labelled (c, type, label)) != NULL)
        return found;
    }
  return NULL;
}

/* One registered application for the whole binary: GApplication registers only once. */
static SmeltApplication *the_app;

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

static SmeltApplication *
make_app (void)
{
  if (the_app == NULL)
    {
      the_app = smelt_application_new ();
      g_application_set_flags (G_APPLICATION (the_app), G_APPLICATION_NON_UNIQUE);
      g_assert_true (g_application_register (G_APPLICATION (the_app), NULL, NULL));
    }
  return g_object_ref (the_app);
}

static void
test_window_builds (void)
{
  g_autoptr(SmeltApplication) app = make_app ();
  SmeltWindow *window = smelt_window_new (app);
  g_autoptr(GSettings) settings = g_settings_new (APP_ID);
  g_auto(GStrv) accels = NULL;

  g_assert_nonnull (smelt_window_get_stack (window));

  /* The window's size comes from and goes back to GSettings. */
  g_settings_set_int (settings, "window-width", 800);
  {
    int w = 0, h = 0;

    gtk_window_get_default_size (GTK_WINDOW (window), &w, &h);
    g_assert_cmpint (w, ==, 800);
  }

  accels = gtk_application_get_accels_for_action (GTK_APPLICATION (app), "app.preferences");
  g_assert_true (g_strv_contains ((const char *const *) accels, "<Control>comma"));

  gtk_window_destroy (GTK_WINDOW (window));
}

static void
test_discover_first (void)
{
  g_autoptr(SmeltApplication) app = make_app ();
  SmeltWindow *window = smelt_window_new (app);
  AdwViewStack *stack = smelt_window_get_stack (window);
  GtkSelectionModel *pages = adw_view_stack_get_pages (stack);
  g_autoptr(AdwViewStackPage) first = g_list_model_get_item (G_LIST_MODEL (pages), 0);
  GtkWidget *focus;

  g_object_unref (pages);
  g_assert_cmpstr (adw_view_stack_page_get_name (first), ==, "discover");
  g_assert_cmpstr (adw_view_stack_page_get_icon_name (first), ==, "system-search-symbolic");

  /* The download queue is the application's, made once. */
  g_assert_nonnull (smelt_application_get_download_manager (app));
  g_assert_true (smelt_application_get_download_manager (app)
                 == smelt_application_get_download_manager (app));

  /* Ctrl+F (win.search) brings Discover forward with its search entry focused. */
  gtk_window_present (GTK_WINDOW (window));
  adw_view_stack_set_visible_child_name (stack, "library");
  spin (100);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.search", NULL));
  spin (100);
  g_assert_cmpstr (adw_view_stack_get_visible_child_name (stack), ==, "discover");
  focus = gtk_window_get_focus (GTK_WINDOW (window));
  g_assert_nonnull (focus);
  g_assert_nonnull (gtk_widget_get_ancestor (focus, GTK_TYPE_SEARCH_ENTRY));

  gtk_window_destroy (GTK_WINDOW (window));
}

static void
test_switcher_adapts (void)
{
  g_autoptr(SmeltApplication) app = make_app ();
  SmeltWindow *window = smelt_window_new (app);
  AdwViewStack *stack = smelt_window_get_stack (window);
  GtkWidget *bar;

  /* Two pages so the switcher has something to show. */
  adw_view_stack_add_titled (stack, gtk_label_new ("a"), "a", "A");
  adw_view_stack_add_titled (stack, gtk_label_new ("b"), "b", "B");

  gtk_window_set_default_size (GTK_WINDOW (window), 360, 600);
  gtk_window_present (GTK_WINDOW (window));
  spin (300);

  bar = find_type (GTK_WIDGET (window), ADW_TYPE_VIEW_SWITCHER_BAR);
  g_assert_nonnull (bar);
  /* At 360 px the header has no room for the switcher: the bottom bar is revealed. */
  g_assert_true (adw_view_switcher_bar_get_reveal (ADW_VIEW_SWITCHER_BAR (bar)));

  gtk_window_set_default_size (GTK_WINDOW (window), 1200, 700);
  spin (300);
  g_assert_false (adw_view_switcher_bar_get_reveal (ADW_VIEW_SWITCHER_BAR (bar)));

  gtk_window_destroy (GTK_WINDOW (window));
}

static void
test_preferences_bound (void)
{
  g_autoptr(GSettings) settings = g_settings_new (APP_ID);
  SmeltPreferencesWindow *prefs = smelt_preferences_window_new (NULL);
  GtkWidget *row;
  GtkSpinButton *temp = NULL;
  const char *folders[] = { "/tmp/smelt-models-a", "/tmp/smelt-models-b", NULL };

  /* Settings -> widgets. */
  g_settings_set_double (settings, "temperature", 1.25);
  row = find_labelled (GTK_WIDGET (prefs), ADW_TYPE_ACTION_ROW, "Temperature");
  g_assert_nonnull (row);
  temp = GTK_SPIN_BUTTON (find_type (row, GTK_TYPE_SPIN_BUTTON));
  g_assert_nonnull (temp);
  g_assert_cmpfloat_with_epsilon (gtk_spin_button_get_value (temp), 1.25, 1e-9);

  /* Widgets -> settings. */
  gtk_spin_button_set_value (temp, 0.5);
  g_assert_cmpfloat_with_epsilon (g_settings_get_double (settings, "temperature"), 0.5, 1e-9);

  /* The endpoint combo maps onto the enum's nicks; the custom address follows it. */
  row = find_labelled (GTK_WIDGET (prefs), ADW_TYPE_COMBO_ROW, "Server");
  g_assert_nonnull (row);
  adw_combo_row_set_selected (ADW_COMBO_ROW (row), 1);
  {
    g_autofree char *nick = g_settings_get_string (settings, "endpoint");

    g_assert_cmpstr (nick, ==, "hf-mirror");
  }
  g_assert_false (gtk_widget_get_sensitive (
    find_labelled (GTK_WIDGET (prefs), ADW_TYPE_ENTRY_ROW, "Custom Server Address")));
  g_settings_set_string (settings, "endpoint", "custom");
  g_assert_cmpuint (adw_combo_row_get_selected (ADW_COMBO_ROW (row)), ==, 2);
  g_assert_true (gtk_widget_get_sensitive (
    find_labelled (GTK_WIDGET (prefs), ADW_TYPE_ENTRY_ROW, "Custom Server Address")));

  /* The folder list shows one row per folder, the first marked as the download target. */
  g_settings_set_strv (settings, "models-folders", folders);
  g_assert_nonnull (find_labelled (GTK_WIDGET (prefs), ADW_TYPE_ACTION_ROW, folders[0]));
  g_assert_nonnull (find_labelled (GTK_WIDGET (prefs), ADW_TYPE_ACTION_ROW, folders[1]));
  g_settings_set_strv (settings, "models-folders", NULL);
  g_assert_null (find_labelled (GTK_WIDGET (prefs), ADW_TYPE_ACTION_ROW, folders[0]));
  g_assert_nonnull (find_labelled (GTK_WIDGET (prefs), ADW_TYPE_ACTION_ROW, "No extra folders"));

  gtk_window_destroy (GTK_WINDOW (prefs));
  spin (50);
}

static void
test_stall_probe (void)
{
  SmeltStallProbe *probe = smelt_stall_probe_new (NULL);

  spin (30);
  g_assert_cmpfloat (smelt_stall_probe_get_worst_ms (probe), <, 40.0);
  /* Block the main loop for 120 ms: the probe must see at least 100 ms of it. */
  g_usleep (120 * 1000);
  spin (20);
  g_assert_cmpfloat (smelt_stall_probe_get_worst_ms (probe), >=, 100.0);
  smelt_stall_probe_free (probe);
}

int
main (int    argc,
      char **argv)
{
  gtk_test_init (&argc, &argv, NULL);
  adw_init ();

  g_test_add_func ("/app/window/builds", test_window_builds);
  g_test_add_func ("/app/window/discover-first", test_discover_first);
  g_test_add_func ("/app/window/switcher-adapts", test_switcher_adapts);
  g_test_add_func ("/app/preferences/bound", test_preferences_bound);
  g_test_add_func ("/app/stall-probe", test_stall_probe);
  return g_test_run ();
}
