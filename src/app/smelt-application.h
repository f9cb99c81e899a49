/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-application.h: the AdwApplication: app-wide actions and the main window.
 */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define SMELT_TYPE_APPLICATION (smelt_application_get_type ())

G_DECLARE_FINAL_TYPE (SmeltApplication, smelt_application, SMELT, APPLICATION, AdwApplication)

SmeltApplication *smelt_application_new (void);

G_END_DECLS
