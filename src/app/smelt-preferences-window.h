/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-preferences-window.h: the Preferences window. Every control is bound to a key of the
 * io.github.smeltapp.Smelt GSettings schema, except the Hub token, which lives in the keyring
 * (smelt-secret.h). It holds no state of its own: closing it loses nothing.
 */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define SMELT_TYPE_PREFERENCES_WINDOW (smelt_preferences_window_get_type ())

G_DECLARE_FINAL_TYPE (SmeltPreferencesWindow, smelt_preferences_window,
                      SMELT, PREFERENCES_WINDOW, AdwPreferencesWindow)

/* parent: (nullable) the window it is transient for. */
SmeltPreferencesWindow *smelt_preferences_window_new (GtkWindow *parent);

G_END_DECLS
