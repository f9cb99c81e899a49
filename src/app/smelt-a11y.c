/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-a11y.c: accessible names for libadwaita's unnamed internal controls. See the header.
 */
#include "config.h"

#include <glib/gi18n.h>

#include "smelt-a11y.h"

static const char *
name_for_icon (const char *icon)
{
  static const struct { const char *icon; const char *name; } names[] = {
    { "edit-find-symbolic", N_("Search") },
    { "go-previous-symbolic", N_("Back") },
    { "view-reveal-symbolic", N_("Show or Hide Text") },
    { "view-conceal-symbolic", N_("Show or Hide Text") },
    { "edit-clear-symbolic", N_("Clear") },
    { "window-close-symbolic", N_("Close") },
  };

  if (icon == NULL)
    return NULL;
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (g_str_equal (icon, names[i].icon))
      return _(names[i].name);
  return NULL;
}

static const char *
icon_of (GtkWidget *button)
{
  GtkWidget *child;

  if (GTK_IS_BUTTON (button) && gtk_button_get_icon_name (GTK_BUTTON (button)) != NULL)
    return gtk_button_get_icon_name (GTK_BUTTON (button));
  child = GTK_IS_BUTTON (button) ? gtk_button_get_child (GTK_BUTTON (button)) : NULL;
  if (GTK_IS_IMAGE (child))
    return gtk_image_get_icon_name (GTK_IMAGE (child));
  return NULL;
}

void
smelt_a11y_name_internal_controls (GtkWidget *root)
{
  g_return_if_fail (GTK_IS_WIDGET (root));

  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    {
      if (GTK_IS_DROP_DOWN (c) && gtk_widget_get_tooltip_text (c) != NULL)
        {
          /* A drop-down's toggle button is what screen readers land on: give it the
           * drop-down's name (its tooltip). */
          for (GtkWidget *b = gtk_widget_get_first_child (c); b; b = gtk_widget_get_next_sibling (b))
            if (GTK_IS_TOGGLE_BUTTON (b))
              {
                gtk_accessible_update_property (GTK_ACCESSIBLE (b), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                                gtk_widget_get_tooltip_text (c), -1);
                g_object_set_data (G_OBJECT (b), "smelt-a11y-named", GINT_TO_POINTER (1));
              }
        }
      else if (GTK_IS_SEARCH_ENTRY (c))
        {
          gtk_accessible_update_property (GTK_ACCESSIBLE (c), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                          _("Search"), -1);
        }
      else if (GTK_IS_BUTTON (c) && gtk_button_get_label (GTK_BUTTON (c)) == NULL)
        {
          /* Buttons with a visible label are named by it; only icon-only ones need help. The
           * object data marks buttons that our own code already named. */
          const char *tip = gtk_widget_get_tooltip_text (c);
          const char *name = tip != NULL ? tip : name_for_icon (icon_of (c));

          if (name != NULL && g_object_get_data (G_OBJECT (c), "smelt-a11y-named") == NULL)
            gtk_accessible_update_property (GTK_ACCESSIBLE (c), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                            name, -1);
        }
      smelt_a11y_name_internal_controls (c);
    }
}
