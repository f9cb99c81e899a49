/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-application.c: the AdwApplication. It creates the main window on activate and owns the
 * app-wide actions (preferences, about, quit) and their accelerators. Page-specific actions live
 * on the window; services are not created here but by the window that shows them.
 */
#include "config.h"

#include <glib/gi18n.h>

#include "smelt-application.h"
#include "smelt-preferences-window.h"
#include "smelt-stall-probe.h"
#include "smelt-window.h"

struct _SmeltApplication
{
  AdwApplication parent_instance;

  /* owned */
  SmeltStallProbe *stall_probe; /* (nullable) only with SMELT_DEBUG_STALLS set */
  SmeltDownloadManager *download_manager; /* (nullable) until first asked for */
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
  GtkApplication *app = GTK_APPLICATION (user_data);
  GList *windows = g_list_copy (gtk_application_get_windows (app));

  /* Closing the windows (rather than quitting outright) lets them save their state. */
  for (GList *l = windows; l != NULL; l = l->next)
    gtk_window_close (GTK_WINDOW (l->data));
  g_list_free (windows);
  g_application_quit (G_APPLICATION (app));
}

static void
preferences_action_cb (GSimpleAction *action,
                       GVariant      *parameter,
                       gpointer       user_data)
{
  GtkApplication *app = GTK_APPLICATION (user_data);
  GtkWindow *parent = gtk_application_get_active_window (app);
  SmeltPreferencesWindow *prefs = smelt_preferences_window_new (parent);

  gtk_window_present (GTK_WINDOW (prefs));
}

static void
about_action_cb (GSimpleAction *action,
                 GVariant      *parameter,
                 gpointer       user_data)
{
  GtkApplication *app = GTK_APPLICATION (user_data);
  static const char *developers[] = { "The Smelt developers", NULL };
  GtkWidget *about;

  about = g_object_new (ADW_TYPE_ABOUT_WINDOW,
                        "transient-for", gtk_application_get_active_window (app),
                        "modal", TRUE,
                        "application-name", _("Smelt"),
                        "application-icon", APP_ID,
                        "version", PACKAGE_VERSION,
                        "developer-name", "The Smelt developers",
                        "developers", developers,
                        "license-type", GTK_LICENSE_GPL_3_0,
                        "website", "https://github.com/smeltapp/smelt",
                        "issue-url", "https://github.com/smeltapp/smelt/issues",
                        /* Translators: put your names here, one per line. */
                        "translator-credits", _("translator-credits"),
                        NULL);
  gtk_window_present (GTK_WINDOW (about));
}

static void
smelt_application_startup (GApplication *app)
{
  SmeltApplication *self = SMELT_APPLICATION (app);
  static const GActionEntry entries[] = {
    { .name = "quit", .activate = quit_action_cb },
    { .name = "preferences", .activate = preferences_action_cb },
    { .name = "about", .activate = about_action_cb },
  };
  static const char *quit_accels[] = { "<Control>q", NULL };
  static const char *prefs_accels[] = { "<Control>comma", NULL };

  G_APPLICATION_CLASS (smelt_application_parent_class)->startup (app);

  g_action_map_add_action_entries (G_ACTION_MAP (app), entries, G_N_ELEMENTS (entries), app);
  gtk_application_set_accels_for_action (GTK_APPLICATION (app), "app.quit", quit_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (app), "app.preferences", prefs_accels);

  self->stall_probe = smelt_stall_probe_new_from_env ();
}

static void
smelt_application_shutdown (GApplication *app)
{
  SmeltApplication *self = SMELT_APPLICATION (app);

  g_clear_pointer (&self->stall_probe, smelt_stall_probe_free);
  if (self->download_manager != NULL)
    smelt_download_manager_shutdown (self->download_manager);
  g_clear_object (&self->download_manager);
  G_APPLICATION_CLASS (smelt_application_parent_class)->shutdown (app);
}

static void
smelt_application_class_init (SmeltApplicationClass *klass)
{
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  app_class->activate = smelt_application_activate;
  app_class->startup = smelt_application_startup;
  app_class->shutdown = smelt_application_shutdown;
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

SmeltDownloadManager *
smelt_application_get_download_manager (SmeltApplication *self)
{
  g_return_val_if_fail (SMELT_IS_APPLICATION (self), NULL);

  if (self->download_manager == NULL)
    {
      g_autoptr(GError) error = NULL;

      self->download_manager = smelt_download_manager_new (NULL, TRUE, &error);
      if (self->download_manager == NULL)
        {
          g_autofree char *dir = NULL;
          g_autofree char *path = NULL;

          /* An unparsable state file must not cost the user the app: it is left alone and
           * this session's queue is kept in a folder of its own. */
          g_warning ("Download queue not loaded: %s", error->message);
          g_clear_error (&error);
          dir = g_dir_make_tmp ("smelt-downloads-XXXXXX", &error);
          if (dir != NULL)
            path = g_build_filename (dir, "downloads.json", NULL);
          if (path != NULL)
            self->download_manager = smelt_download_manager_new (path, TRUE, NULL);
        }
    }
  return self->download_manager;
}
