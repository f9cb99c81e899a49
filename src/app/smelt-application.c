/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-application.c: the AdwApplication. It creates the main window on activate and owns the
 * app-wide actions (preferences, about, quit) and their accelerators. Page-specific actions live
 * on the window; services are not created here but by the window that shows them.
 *
 * On a machine without a GPU it also keeps GTK from loading a GL driver (see
 * gl_is_software_only()): that driver could only be Mesa's software rasteriser, which costs
 * ~50 MB of memory and a tenth of a second at startup to draw what cairo draws as well.
 */
#include "config.h"

#include <glib/gi18n.h>
#include <glob.h>
#include <string.h>

#include "smelt-application.h"
#include "smelt-preferences-window.h"
#include "smelt-stall-probe.h"
#include "smelt-window.h"

struct _SmeltApplication
{
  AdwApplication parent_instance;

  /* owned */
  SmeltStallProbe *stall_probe; /* (nullable) only with SMELT_DEBUG_STALLS set */
  SmeltDownloadManager *download_manager; /* (nullable) made by the first get */
  gboolean              download_manager_tried;
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

/* Whether any GL that GTK could get here would be software rendering: no DRM render node and no
 * NVIDIA device, so Mesa would fall back to llvmpipe. GTK 4.8's X11 backend opens GL at display
 * open just to choose a visual, even for the cairo renderer, and its default renderer would then
 * draw every frame through llvmpipe; cairo is the better software renderer for Smelt's lists and
 * text. A renderer the user named in GSK_RENDERER (other than cairo) or a GL flag already in
 * GDK_DEBUG is left alone. */
static gboolean
gl_is_software_only (void)
{
  const char *renderer = g_getenv ("GSK_RENDERER");
  const char *debug = g_getenv ("GDK_DEBUG");
  glob_t nodes = { 0 };
  gboolean have_gpu;

  if (renderer != NULL && *renderer != '\0' && g_strcmp0 (renderer, "cairo") != 0)
    return FALSE;
  if (debug != NULL && strstr (debug, "gl") != NULL)
    return FALSE;
  have_gpu = glob ("/dev/dri/renderD*", 0, NULL, &nodes) == 0
             || g_file_test ("/dev/nvidiactl", G_FILE_TEST_EXISTS);
  globfree (&nodes);
  return !have_gpu;
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
  g_autofree char *saved_debug = g_strdup (g_getenv ("GDK_DEBUG"));
  gboolean no_gl = gl_is_software_only ();

  /* GTK reads GDK_DEBUG once, when the parent's startup opens the display; the variable is put
   * back afterwards so programs Smelt launches (a browser for a link) do not inherit it. */
  if (no_gl)
    {
      g_autofree char *flags = saved_debug != NULL && *saved_debug != '\0'
                               ? g_strconcat (saved_debug, ",gl-disable", NULL)
                               : g_strdup ("gl-disable");

      g_setenv ("GDK_DEBUG", flags, TRUE);
    }
  G_APPLICATION_CLASS (smelt_application_parent_class)->startup (app);
  if (no_gl)
    {
      if (saved_debug != NULL)
        g_setenv ("GDK_DEBUG", saved_debug, TRUE);
      else
        g_unsetenv ("GDK_DEBUG");
    }

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
  G_APPLICATION_CLASS (smelt_application_parent_class)->shutdown (app);
}

static void
smelt_application_finalize (GObject *object)
{
  SmeltApplication *self = SMELT_APPLICATION (object);

  g_clear_object (&self->download_manager);
  G_OBJECT_CLASS (smelt_application_parent_class)->finalize (object);
}

static void
smelt_application_class_init (SmeltApplicationClass *klass)
{
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = smelt_application_finalize;

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

  if (!self->download_manager_tried)
    {
      g_autoptr(GError) error = NULL;

      self->download_manager_tried = TRUE;
      self->download_manager = smelt_download_manager_new (NULL, TRUE, &error);
      if (self->download_manager == NULL)
        g_warning ("Downloads are unavailable: %s", error->message);
    }
  return self->download_manager;
}
