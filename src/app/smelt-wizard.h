/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-wizard.h: the download wizard, a modal window over the main window that walks through
 * four steps before a repo's variant is queued: (1) this computer as the advisor sees it (CPU,
 * memory, graphics, free disk) with adjustments (leave the graphics card out, the memory to plan
 * for), (2) what matters (speed, balance or quality) and how long conversations get (the context
 * length), (3) the advisor's recommendation and every variant ranked with its reasons, the
 * decision table's format table one click away, and (4) where to store the files with the free
 * space left afterwards and "open in Chat when done". The download goes to the download manager
 * it was given (the application's queue, which carries the keyring token). Not the queue's view
 * (the Downloads page) and not the advice itself (src/advisor).
 *
 * Threading: main thread only. The hardware probe (when no profile is given) and the free-space
 * query run off the main loop.
 */
#pragma once

#include <adwaita.h>

#include "smelt-advisor.h"
#include "smelt-download-manager.h"

G_BEGIN_DECLS

#define SMELT_TYPE_WIZARD (smelt_wizard_get_type ())

G_DECLARE_FINAL_TYPE (SmeltWizard, smelt_wizard, SMELT, WIZARD, AdwWindow)

/* The steps, in order; SMELT_WIZARD_STEP_FORMATS is the format table reached from the
 * recommendation step, not a step of its own. */
typedef enum
{
  SMELT_WIZARD_STEP_HARDWARE,
  SMELT_WIZARD_STEP_GOAL,
  SMELT_WIZARD_STEP_PICK,
  SMELT_WIZARD_STEP_STORE,
  SMELT_WIZARD_STEP_FORMATS,
} SmeltWizardStep;

/* A wizard for `repo_id` at `revision` (a commit, else a branch) on `endpoint`, offering
 * `variants` (element-type SmeltHubVariant; referenced). `hw` is copied; NULL probes this machine
 * off the main thread. `model` may be NULL. `preselect` is the index of the variant the user
 * chose, or -1 for the advisor's pick. Downloads are queued in `manager` (referenced). The
 * window is transient for and modal over `parent` (nullable). */
SmeltWizard *smelt_wizard_new (GtkWindow             *parent,
                               SmeltDownloadManager  *manager,
                               const char            *endpoint,
                               const char            *repo_id,
                               const char            *revision,
                               GPtrArray             *variants,
                               const SmeltModelInfo  *model,
                               const SmeltHwProfile  *hw,
                               int                    preselect);

SmeltWizardStep smelt_wizard_get_step (SmeltWizard *self);
/* Next and Back, as the header bar's buttons do; FALSE when there is no such step (Next on the
 * last step queues the download instead: see smelt_wizard_download()). */
gboolean        smelt_wizard_next     (SmeltWizard *self);
gboolean        smelt_wizard_back     (SmeltWizard *self);
/* Shows the format table (from the recommendation step). */
void            smelt_wizard_show_formats (SmeltWizard *self);

/* The adjustments of step 1 and the choices of step 2, as the controls set them. */
void smelt_wizard_set_use_gpu (SmeltWizard *self,
                               gboolean     use_gpu);
void smelt_wizard_set_goal    (SmeltWizard *self,
                               SmeltGoal    goal);
void smelt_wizard_set_context (SmeltWizard *self,
                               guint        tokens);
/* Picks variant `index` in step 3. */
void smelt_wizard_select_variant (SmeltWizard *self,
                                  guint        index);
/* The folder to store the files in (NULL = the Hugging Face cache), as the folder chooser sets
 * it; the free space is queried again ("updated" is emitted when it is known). */
void smelt_wizard_set_destination (SmeltWizard *self,
                                   const char  *folder);

/* (transfer none) (nullable) the profile the advice is for, with the adjustments applied. */
const SmeltHwProfile      *smelt_wizard_get_hw_profile     (SmeltWizard *self);
/* (transfer none) (nullable) the advice for the current choices; NULL until the hardware is
 * known. */
const SmeltRecommendation *smelt_wizard_get_recommendation (SmeltWizard *self);
/* The variant step 3 has selected, or -1. */
int                        smelt_wizard_get_selected       (SmeltWizard *self);
/* (transfer none) (nullable) the destination folder; NULL = the Hugging Face cache. */
const char                *smelt_wizard_get_destination    (SmeltWizard *self);
/* The destination's free space in bytes, or -1 while unknown. */
gint64                     smelt_wizard_get_free_bytes     (SmeltWizard *self);

/* Queues the selected variant (what Download on the last step does) and closes the wizard,
 * emitting "download-queued" (guint job id, gboolean open in Chat when done). Closing hides the
 * window (hide-on-close, like Escape); whoever made it destroys it. Returns the job id,
 * or 0 when nothing can be queued (no selection, not enough space, no manager). */
guint smelt_wizard_download (SmeltWizard *self);

/* The order step 3 lists the variants in: the recommended pick first, then the other
 * recommendable variants by the advisor's score, then the rest from the best fit (full GPU) to too
 * large, larger files first within each. Returns (element-type guint) indices into rec->advice. */
GArray *smelt_wizard_rank (const SmeltRecommendation *rec);

/* Free bytes left after writing `size` bytes where `free_bytes` are free: negative when it does
 * not fit. free_bytes < 0 (unknown) gives G_MININT64. */
gint64 smelt_wizard_free_after (gint64  free_bytes,
                                guint64 size);

G_END_DECLS
