/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-discover-page.h: the Discover page: search the Hub for GGUF repositories (sorted by
 * downloads, likes, trending or recent), open one to read its model card and see every variant
 * with its size, the advisor's fit and speed estimate and the recommended pick, and open the
 * download wizard for a variant. Not for local models (the Library page) or running them.
 */
#pragma once

#include <adwaita.h>

#include "smelt-advisor.h"
#include "smelt-download-manager.h"
#include "smelt-hub-client.h"
#include "smelt-wizard.h"

G_BEGIN_DECLS

#define SMELT_TYPE_DISCOVER_PAGE (smelt_discover_page_get_type ())

G_DECLARE_FINAL_TYPE (SmeltDiscoverPage, smelt_discover_page, SMELT, DISCOVER_PAGE, AdwBin)

/* The queue the Download buttons add to (the page takes a reference). */
void smelt_discover_page_set_download_manager (SmeltDiscoverPage    *self,
                                               SmeltDownloadManager *manager);

/* The hardware the advice is for (transfer full); without one the machine is probed on first
 * use. */
void smelt_discover_page_set_hw_profile (SmeltDiscoverPage *self,
                                         SmeltHwProfile    *profile);

/* Focuses the search entry. */
void smelt_discover_page_focus_search (SmeltDiscoverPage *self);

/* Runs a search with the entry's text and the dropdown's sort; "results-changed" is emitted
 * when it ends (also on failure). */
void smelt_discover_page_search (SmeltDiscoverPage *self);

/* (transfer none) (element-type SmeltHubModel) (nullable) the last search's hits. */
GPtrArray *smelt_discover_page_get_results (SmeltDiscoverPage *self);

/* Shows a repository's page and loads its info, files and model card; "repo-loaded" is
 * emitted when all three have answered. */
void smelt_discover_page_open_repo (SmeltDiscoverPage *self,
                                    const char        *repo_id);

/* (transfer none) (nullable) the open repository's variants (element-type SmeltHubVariant)
 * and the advice for them. */
GPtrArray                 *smelt_discover_page_get_variants       (SmeltDiscoverPage *self);
const SmeltRecommendation *smelt_discover_page_get_recommendation (SmeltDiscoverPage *self);

/* (transfer none) (nullable) the download wizard a Download button opened, while it shows.
 * "download-queued" (guint job id, gboolean open in Chat when done) is re-emitted by the page
 * when the wizard queues its download. */
SmeltWizard               *smelt_discover_page_get_wizard         (SmeltDiscoverPage *self);

G_END_DECLS
