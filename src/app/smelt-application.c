/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-application.c: creates the window on activate and owns the app-wide actions.
 */
#include "config.h"

#include <glib/gi18n.h>

#include "smelt-application.h"
#include "smelt-window.h"

struct _SmeltApplication
{
  AdwApplication parent_instance;
};

G_DEFINE_FINAL_TYPE (SmeltApplication, smelt_application, ADW_TYPE_APPLICATION)

static void
smelt_application_activate (GApplication *app)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (app));

  if (window == NULL)
    window = GTK_WINDOW (smelt_window_new (SMELT_APPLICATION (app)));
  gtk_window_present (window);
}

static void
quit_action_cb (GSimpleAction *action,
                GVariant      *parameter,
                gpointer       user_data)
{
  g_application_quit (G_APPLICATION (user_data));
}

static void
smelt_application_startup (GApplication *app)
{
  static const GActionEntry entries[] = {
    { .name = "quit", .activate = quit_action_cb },
  };
  static const char *quit_accels[] = { "<Control>q", NULL };

  G_APPLICATION_CLASS (smelt_application_parent_class)->startup (app);

  g_action_map_add_action_entries (G_ACTION_MAP (app), entries, G_N_ELEMENTS (entries), app);
  gtk_application_set_accels_for_action (GTK_APPLICATION (app), "app.quit", quit_accels);
}

static void
smelt_application_class_init (SmeltApplicationClass *klass)
{
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  app_class->activate = smelt_application_activate;
  app_class->startup = smelt_application_startup;
}

static void
smelt_application_init (SmeltApplication *self)
{
}

SmeltApplication *
smelt_application_new (void)
{
  return g_object_new (SMELT_TYPE_APPLICATION,
                       "application-id", APP_ID,
                       "flags", G_APPLICATION_DEFAULT_FLAGS,
                       "resource-base-path", "/io/github/smeltapp/Smelt",
                       NULL);
}
