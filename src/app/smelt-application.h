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

/* The app's download queue (the default state file, started), created on first use and shut
 * down (queue saved) with the application. An unparsable state file is left alone and the
 * session gets an empty queue of its own; NULL only when not even that can be made. */
SmeltDownloadManager *smelt_application_get_download_manager (SmeltApplication *self);

G_END_DECLS
