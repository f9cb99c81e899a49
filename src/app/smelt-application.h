/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-application.h: the AdwApplication: app-wide actions and the main window.
 */
#pragma once

#include <adwaita.h>

#include "smelt-download-manager.h"

G_BEGIN_DECLS

#define SMELT_TYPE_APPLICATION (smelt_application_get_type ())

G_DECLARE_FINAL_TYPE (SmeltApplication, smelt_application, SMELT, APPLICATION, AdwApplication)

SmeltApplication *smelt_application_new (void);

/* The app's one download queue (transfer none), made on first use from the default state file
 * with its unfinished jobs restarted; NULL (after a warning) when that file cannot be read. */
SmeltDownloadManager *smelt_application_get_download_manager (SmeltApplication *self);

G_END_DECLS
