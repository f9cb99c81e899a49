/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-window.c: the main window, built from ui/smelt-window.ui: a header bar whose view
 * switcher moves to a bottom bar on narrow screens (AdwViewSwitcherTitle + AdwViewSwitcherBar,
 * libadwaita 1.2's adaptive pattern), the view stack of pages, and the window's size remembered
 * in GSettings. Pages own their services; the window only hosts them and routes shortcuts.
 */
#include "config.h"

#include <glib/gi18n.h>

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
  SmeltLibraryPage     *library_page;

  /* owned */
  GSettings            *settings;
};

G_DEFINE_FINAL_TYPE (SmeltWindow, smelt_window, ADW_TYPE_APPLICATION_WINDOW)

static void
on_first_after_paint_cb (GdkFrameClock *clock,
                         SmeltWindow   *self)
{
  /* Wall-clock time, so benchmarks/startup.sh can subtract the moment it launched us. */
  g_printerr ("smelt: first frame drawn at %.6f\n", g_get_real_time () / 1e6);
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
smelt_window_dispose (GObject *object)
{
  SmeltWindow *self = SMELT_WINDOW (object);

  g_clear_object (&self->settings);
  G_OBJECT_CLASS (smelt_window_parent_class)->dispose (object);
}

static void
smelt_window_class_init (SmeltWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = smelt_window_dispose;

  g_type_ensure (SMELT_TYPE_LIBRARY_PAGE);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/smeltapp/Smelt/ui/smelt-window.ui");
  gtk_widget_class_bind_template_child (widget_class, SmeltWindow, header_bar);
  gtk_widget_class_bind_template_child (widget_class, SmeltWindow, switcher_title);
  gtk_widget_class_bind_template_child (widget_class, SmeltWindow, stack);
  gtk_widget_class_bind_template_child (widget_class, SmeltWindow, switcher_bar);
  gtk_widget_class_bind_template_child (widget_class, SmeltWindow, menu_button);
  gtk_widget_class_bind_template_child (widget_class, SmeltWindow, library_page);
}

static void
smelt_window_init (SmeltWindow *self)
{
  g_autoptr(SmeltLibrary) library = NULL;

  gtk_widget_init_template (GTK_WIDGET (self));

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

  /* A debug aid for benchmarks/startup.sh: report when the first frame reached the screen. */
  if (g_getenv ("SMELT_DEBUG_FIRST_FRAME") != NULL)
    g_signal_connect (self, "realize", G_CALLBACK (on_realize_cb), NULL);
}

SmeltWindow *
smelt_window_new (SmeltApplication *application)
{
  return g_object_new (SMELT_TYPE_WINDOW, "application", application, NULL);
}

AdwViewStack *
smelt_window_get_stack (SmeltWindow *self)
{
  g_return_val_if_fail (SMELT_IS_WINDOW (self), NULL);

  return self->stack;
}
