/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-window.c: the main window, built from ui/smelt-window.ui.
 */
#include "config.h"

#include "smelt-window.h"

struct _SmeltWindow
{
  AdwApplicationWindow parent_instance;
};

G_DEFINE_FINAL_TYPE (SmeltWindow, smelt_window, ADW_TYPE_APPLICATION_WINDOW)

static void
smelt_window_class_init (SmeltWindowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/smeltapp/Smelt/ui/smelt-window.ui");
}

static void
smelt_window_init (SmeltWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

SmeltWindow *
smelt_window_new (SmeltApplication *application)
{
  return g_object_new (SMELT_TYPE_WINDOW, "application", application, NULL);
}
