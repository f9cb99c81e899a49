/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-window.c: the main window, built from ui/smelt-window.ui: a header bar whose view
 * switcher moves to a bottom bar on narrow screens (AdwViewSwitcherTitle + AdwViewSwitcherBar,
 * libadwaita 1.2's adaptive pattern), the view stack of pages, and the window's size remembered
 * in GSettings. Pages own their services; the window only hosts them and routes shortcuts.
 */
#include "config.h"

#include <glib/gi18n.h>
#include <malloc.h>
#include <sys/resource.h>

#include "smelt-application.h"
#include "smelt-chat-page.h"
#include "smelt-downloads-page.h"
#include "smelt-discover-page.h"
#include "smelt-library-page.h"
#include "smelt-window.h"

struct _SmeltWindow
{
  AdwApplicationWindow parent_instance;

  /* template widgets */
  AdwHeaderBar         *header_bar;
  AdwViewSwitcherTitle *switcher_title;
  AdwViewStack         *stack;
  AdwViewSwitcherBar   *switcher_bar;
  GtkMenuButton        *menu_button;
  SmeltDiscoverPage    *discover_page;
  SmeltLibraryPage     *library_page;
  SmeltChatPage        *chat_page;
  SmeltDownloadsPage   *downloads_page;

  /* owned */
  GSettings            *settings;
  guint                 chat_job;  /* download to open in Chat when done; 0 = none */
  char                 *chat_path; /* (nullable) its model, once downloaded, until listed */
};

G_DEFINE_FINAL_TYPE (SmeltWindow, smelt_window, ADW_TYPE_APPLICATION_WINDOW)

static gboolean
trim_heap_cb (gpointer user_data)
{
  /* Building the window frees a lot of short-lived memory; hand it back to the system so the
   * idle window's resident size reflects what it really keeps. */
  malloc_trim (0);
  return G_SOURCE_REMOVE;
}

static void
on_first_after_paint_cb (GdkFrameClock *clock,
                         SmeltWindow   *self)
{
  struct rusage usage;

  /* Wall-clock time, so benchmarks/startup.sh can subtract the moment it launched us, and the
   * CPU time spent so far (all threads), which the machine's load does not inflate. */
  getrusage (RUSAGE_SELF, &usage);
  g_printerr ("smelt: first frame drawn at %.6f, cpu %.3f s\n", g_get_real_time () / 1e6,
              usage.ru_utime.tv_sec + usage.ru_stime.tv_sec
              + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6);
  g_signal_handlers_disconnect_by_func (clock, on_first_after_paint_cb, self);
}

static void
on_realize_cb (SmeltWindow *self)
{
  GdkFrameClock *clock = gtk_widget_get_frame_clock (GTK_WIDGET (self));

  if (clock != NULL)
    g_signal_connect (clock, "after-paint", G_CALLBACK (on_first_after_paint_cb), self);
}

static void
on_library_page_chat_requested_cb (SmeltWindow *self,
                                   const char  *path)
{
  adw_view_stack_set_visible_child_name (self->stack, "chat");
  smelt_chat_page_new_conversation (self->chat_page);
  smelt_chat_page_select_model (self->chat_page, path);
}

static void
on_library_page_scanned_cb (SmeltWindow *self)
{
  GPtrArray *models = smelt_library_page_get_models (self->library_page);

  smelt_chat_page_set_models (self->chat_page, models);
  /* The wizard's "open in Chat when done": once the Library lists the download, chat with it. */
  for (guint i = 0; self->chat_path != NULL && models != NULL && i < models->len; i++)
    if (g_strcmp0 (((SmeltLocalModel *) g_ptr_array_index (models, i))->path,
                   self->chat_path) == 0)
      {
        g_autofree char *path = g_steal_pointer (&self->chat_path);

        on_library_page_chat_requested_cb (self, path);
      }
}

/* A finished download is a new model on disk: rescan the Library. */
static void
on_downloads_page_download_done_cb (SmeltWindow *self,
                                    guint        id)
{
  SmeltDownloadManager *manager = smelt_downloads_page_get_manager (self->downloads_page);

  if (id != 0 && id == self->chat_job && manager != NULL)
    {
      g_autoptr(SmeltDownloadInfo) info = smelt_download_manager_get_info (manager, id);

      self->chat_job = 0;
      g_free (self->chat_path);
      self->chat_path = info != NULL ? g_strdup (info->path) : NULL;
    }
  smelt_library_page_refresh (self->library_page);
}

/* The download wizard queued a job: show the queue, and remember a wish to chat with it. */
static void
on_discover_page_download_queued_cb (SmeltWindow *self,
                                     guint        id,
                                     gboolean     open_chat)
{
  adw_view_stack_set_visible_child_name (self->stack, "downloads");
  self->chat_job = open_chat ? id : 0;
}

static void
window_action (GtkWidget  *widget,
               const char *name,
               GVariant   *param)
{
  SmeltWindow *self = SMELT_WINDOW (widget);

  if (g_str_equal (name, "win.new-chat"))
    {
      adw_view_stack_set_visible_child_name (self->stack, "chat");
      smelt_chat_page_new_conversation (self->chat_page);
    }
  else if (g_str_equal (name, "win.stop"))
    smelt_chat_page_stop (self->chat_page);
}

static void
smelt_window_dispose (GObject *object)
{
  SmeltWindow *self = SMELT_WINDOW (object);

  g_clear_object (&self->settings);
  g_clear_pointer (&self->chat_path, g_free);
  G_OBJECT_CLASS (smelt_window_parent_class)->dispose (object);
}

static void
smelt_window_constructed (GObject *object)
{
  SmeltWindow *self = SMELT_WINDOW (object);
  GtkApplication *app;

  G_OBJECT_CLASS (smelt_window_parent_class)->constructed (object);

  /* The Discover page queues downloads in the application's manager (once the window knows its
   * application, which is set after init). */
  app = gtk_window_get_application (GTK_WINDOW (self));
  if (SMELT_IS_APPLICATION (app))
    smelt_discover_page_set_download_manager (
      self->discover_page, smelt_application_get_download_manager (SMELT_APPLICATION (app)));
}

static void
search_action (GtkWidget  *widget,
               const char *action_name,
               GVariant   *parameter)
{
  SmeltWindow *self = SMELT_WINDOW (widget);

  (void) action_name;
  (void) parameter;
  adw_view_stack_set_visible_child_name (self->stack, "discover");
  smelt_discover_page_focus_search (self->discover_page);
}

static void
smelt_window_class_init (SmeltWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->constructed = smelt_window_constructed;
  object_class->dispose = smelt_window_dispose;

  g_type_ensure (SMELT_TYPE_DISCOVER_PAGE);
  g_type_ensure (SMELT_TYPE_LIBRARY_PAGE);
  g_type_ensure (SMELT_TYPE_CHAT_PAGE);
  g_type_ensure (SMELT_TYPE_DOWNLOADS_PAGE);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/smeltapp/Smelt/ui/smelt-window.ui");
  gtk_widget_class_bind_template_child (widget_class, SmeltWindow, header_bar);
  gtk_widget_class_bind_template_child (widget_class, SmeltWindow, switcher_title);
  gtk_widget_class_bind_template_child (widget_class, SmeltWindow, stack);
  gtk_widget_class_bind_template_child (widget_class, SmeltWindow, switcher_bar);
  gtk_widget_class_bind_template_child (widget_class, SmeltWindow, menu_button);
  gtk_widget_class_bind_template_child (widget_class, SmeltWindow, discover_page);
  gtk_widget_class_bind_template_child (widget_class, SmeltWindow, library_page);
  gtk_widget_class_bind_template_child (widget_class, SmeltWindow, chat_page);
  gtk_widget_class_bind_template_child (widget_class, SmeltWindow, downloads_page);
  gtk_widget_class_bind_template_callback (widget_class, on_downloads_page_download_done_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_library_page_scanned_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_library_page_chat_requested_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_discover_page_download_queued_cb);

  gtk_widget_class_install_action (widget_class, "win.new-chat", NULL, window_action);
  gtk_widget_class_install_action (widget_class, "win.stop", NULL, window_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_n, GDK_CONTROL_MASK,
                                       "win.new-chat", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "win.stop", NULL);
  gtk_widget_class_install_action (widget_class, "win.search", NULL, search_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_f, GDK_CONTROL_MASK,
                                       "win.search", NULL);
}

static void
smelt_window_init (SmeltWindow *self)
{
  g_autoptr(SmeltLibrary) library = NULL;

  gtk_widget_init_template (GTK_WIDGET (self));
  /* Discover leads the switcher, but the window opens on the models already here. */
  adw_view_stack_set_visible_child_name (self->stack, "library");

  /* The default cache and configuration, shared with `smelt list` and huggingface_hub. */
  library = smelt_library_new (NULL, NULL);
  smelt_library_page_set_library (self->library_page, library);

  self->settings = g_settings_new (APP_ID);
  g_settings_bind (self->settings, "window-width", self, "default-width",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "window-height", self, "default-height",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "window-maximized", self, "maximized",
                   G_SETTINGS_BIND_DEFAULT);

  g_timeout_add_seconds_full (G_PRIORITY_LOW, 1, trim_heap_cb, NULL, NULL);

  /* A debug aid for benchmarks/startup.sh: report when the first frame reached the screen. */
  if (g_getenv ("SMELT_DEBUG_FIRST_FRAME") != NULL)
    g_signal_connect (self, "realize", G_CALLBACK (on_realize_cb), NULL);
}

SmeltWindow *
smelt_window_new (SmeltApplication *application)
{
  SmeltWindow *self = g_object_new (SMELT_TYPE_WINDOW, "application", application, NULL);

  if (application != NULL)
    {
      smelt_downloads_page_set_manager (self->downloads_page,
                                        smelt_application_get_download_manager (application));
      /* "application" is not a construct property, so constructed() ran without it: the
       * Discover page's wizard gets the same queue here. */
      smelt_discover_page_set_download_manager (
        self->discover_page, smelt_application_get_download_manager (application));
    }
  return self;
}

AdwViewStack *
smelt_window_get_stack (SmeltWindow *self)
{
  g_return_val_if_fail (SMELT_IS_WINDOW (self), NULL);

  return self->stack;
}
