/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-quantize-dialog.h: quantize a BF16/F16/F32 GGUF from the Library: target types and the
 * model cards' presets (Q6_K_L = Q6_K with Q8_0 embeddings and output, BF16-Q8_0, DynamicGate IQ
 * mixes) with their estimated size and quality from the decision table, an optional importance
 * matrix, and a progress bar with the current tensor, percentage, time left and Cancel. The
 * output goes next to the source; "finished" says where, "closed" that the user is done. It is
 * a view the Library page shows in place, not a separate window: GTK 4.8's AT-SPI bridge was
 * seen to take the app down when such a window closed. Not for downloads.
 */
#pragma once

#include <adwaita.h>

#include "smelt-library.h"

G_BEGIN_DECLS

#define SMELT_TYPE_QUANTIZE_DIALOG (smelt_quantize_dialog_get_type ())

G_DECLARE_FINAL_TYPE (SmeltQuantizeDialog, smelt_quantize_dialog, SMELT, QUANTIZE_DIALOG, AdwBin)

SmeltQuantizeDialog *smelt_quantize_dialog_new (void);

/* Shows the plan for a new source (copied); refused (FALSE) while a job runs. */
gboolean smelt_quantize_dialog_set_model (SmeltQuantizeDialog   *self,
                                          const SmeltLocalModel *model);
gboolean smelt_quantize_dialog_get_running (SmeltQuantizeDialog *self);

/* Whether a model can be a source: a float GGUF (F32, F16, BF16). */
gboolean smelt_quantize_dialog_can_quantize (const SmeltLocalModel *model);

/* Selects the preset whose label is `label` ("Q4_K_M", "Q6_K_L", ...); FALSE if unknown. */
gboolean smelt_quantize_dialog_select_preset (SmeltQuantizeDialog *self,
                                              const char          *label);
/* Starts the job, as the Quantize button does. */
void     smelt_quantize_dialog_start         (SmeltQuantizeDialog *self);

G_END_DECLS
