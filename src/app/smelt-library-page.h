/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-library-page.h: the Library page: the models on this machine (from src/library: the
 * Hugging Face cache, the models folders of GSettings, imported files), their disk usage, import
 * and delete with confirmation. It keeps the library's folder list in step with the
 * "models-folders" key. Not for downloading or running models.
 */
#pragma once

#include <adwaita.h>

#include "smelt-library.h"

G_BEGIN_DECLS

#define SMELT_TYPE_LIBRARY_PAGE (smelt_library_page_get_type ())

G_DECLARE_FINAL_TYPE (SmeltLibraryPage, smelt_library_page, SMELT, LIBRARY_PAGE, AdwBin)

/* Sets the library to show (the page takes a reference) and starts a scan. */
void          smelt_library_page_set_library (SmeltLibraryPage *self,
                                              SmeltLibrary     *library);
SmeltLibrary *smelt_library_page_get_library (SmeltLibraryPage *self);

/* Rescans; the list updates when the scan finishes ("scanned" is emitted then). */
void          smelt_library_page_refresh     (SmeltLibraryPage *self);

/* (transfer none) (element-type SmeltLocalModel) (nullable) the last scan's models. */
GPtrArray    *smelt_library_page_get_models  (SmeltLibraryPage *self);

/* Asks for confirmation, then deletes `model_id`'s files and rescans. Returns the dialog
 * (transfer none) so callers and tests can answer it; NULL when the id is unknown. */
GtkWindow    *smelt_library_page_confirm_delete (SmeltLibraryPage *self,
                                                 const char       *model_id);

/* Shows the Quantize view for a float model; FALSE when the id is unknown, the model is not
 * F32/F16/BF16, or a quantization is already running. The list is rescanned when a file is
 * finished. */
gboolean      smelt_library_page_open_quantize (SmeltLibraryPage *self,
                                                const char       *model_id);

/* Formats a model's facts for its row: "llama · Q4_K_M · 1.2 GB · 4,096-token context". */
char         *smelt_library_page_describe (const SmeltLocalModel *model);

G_END_DECLS
