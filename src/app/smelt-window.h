/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-window.h: the main window.
 */
#pragma once

#include <adwaita.h>

#include "smelt-application.h"

G_BEGIN_DECLS

#define SMELT_TYPE_WINDOW (smelt_window_get_type ())

G_DECLARE_FINAL_TYPE (SmeltWindow, smelt_window, SMELT, WINDOW, AdwApplicationWindow)

SmeltWindow *smelt_window_new (SmeltApplication *application);

/* The page stack, (transfer none): tests use it to find the pages by name. */
AdwViewStack *smelt_window_get_stack (SmeltWindow *self);

G_END_DECLS
