/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-a11y.h: names the icon-only controls that libadwaita 1.2 builds inside its own widgets
 * (the preferences search entry, a password row's reveal button, a subpage's back button) and
 * leaves without an accessible name, so screen readers say more than "button". Our own controls
 * are named in their templates; this is only for widgets we do not create.
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* Walks `root`'s descendants once and gives each unnamed search entry and icon-only button a
 * translated name from its tooltip or, failing that, its icon. Call after the template is built;
 * widgets added later are not seen. Main thread only. */
void smelt_a11y_name_internal_controls (GtkWidget *root);

G_END_DECLS
