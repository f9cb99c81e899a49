/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-downloads-page.h: the Downloads page: the download manager's queue, one row per job with
 * its progress, bytes, speed, time left and state, Pause/Resume/Cancel per row, failures in
 * plain words with Retry, and an empty state. It shows a manager owned elsewhere (the
 * application's); it does not add jobs.
 */
#pragma once

#include <adwaita.h>

#include "smelt-download-manager.h"

G_BEGIN_DECLS

#define SMELT_TYPE_DOWNLOADS_PAGE (smelt_downloads_page_get_type ())

G_DECLARE_FINAL_TYPE (SmeltDownloadsPage, smelt_downloads_page, SMELT, DOWNLOADS_PAGE, AdwBin)

/* Shows `manager`'s queue (the page takes a reference; NULL shows that downloads are
 * unavailable). "download-done" (guint id) is emitted when a job finishes with its files. */
void                  smelt_downloads_page_set_manager (SmeltDownloadsPage   *self,
                                                        SmeltDownloadManager *manager);
SmeltDownloadManager *smelt_downloads_page_get_manager (SmeltDownloadsPage   *self);

/* The row of job `id`, (transfer none) (nullable): tests read and press its parts through it. */
GtkWidget            *smelt_downloads_page_get_row     (SmeltDownloadsPage   *self,
                                                        guint                 id);

/* The text of a job's details line: "1.2 GB of 4.0 GB · 12.3 MB/s · About 5 minutes left". */
char                 *smelt_downloads_page_describe    (const SmeltDownloadInfo *info);

G_END_DECLS
