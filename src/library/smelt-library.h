/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-library.h: the models on this machine.
 *
 * The default store is the huggingface_hub cache ($HF_HUB_CACHE, else $HF_HOME/hub, else
 * $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub: models--org--name/{blobs,
 * snapshots/<commit>/, refs/}), shared with huggingface_hub and llama.cpp. Users can add other
 * folders (scanned recursively for *.gguf) and import single files; both lists persist in a small
 * key file. A scan reads only GGUF headers (mmap; no tensor data) and groups split parts into one
 * model. Not for downloading: src/download writes into the cache; this module only reads it, and
 * deletes from it on request.
 *
 * Threading: SmeltLibrary is a main-thread object; smelt_library_scan() blocks and may run on a
 * worker (its _async form does that for you).
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define SMELT_LIBRARY_ERROR (smelt_library_error_quark ())

typedef enum
{
  SMELT_LIBRARY_ERROR_NOT_FOUND,  /* no model matches */
  SMELT_LIBRARY_ERROR_AMBIGUOUS,  /* several models match a query */
  SMELT_LIBRARY_ERROR_INVALID,    /* not a GGUF file, or a folder that doesn't exist */
  SMELT_LIBRARY_ERROR_IO,         /* reading the config or deleting failed */
} SmeltLibraryError;

GQuark smelt_library_error_quark (void);

typedef enum
{
  SMELT_MODEL_SOURCE_HUB_CACHE, /* a snapshot in the huggingface_hub cache */
  SMELT_MODEL_SOURCE_FOLDER,    /* found in an added folder */
  SMELT_MODEL_SOURCE_IMPORTED,  /* a single imported file */
} SmeltModelSource;

typedef struct
{
  char            *id;             /* stable, unique: "org/name/<path in repo>" for cache entries,
                                      else the absolute path of (the first part of) the file */
  char            *name;           /* for display: general.name, else the file name stem */
  char            *repo;           /* "org/name" for cache entries, else NULL */
  char            *path;           /* what to open: part 1, symlinks not resolved */
  GPtrArray       *files;          /* (element-type utf8) every part's path, in order */
  guint64          size_bytes;     /* all parts, bytes */
  char            *architecture;   /* general.architecture, or NULL */
  guint64          n_params;       /* number of weights (sum of tensor elements) */
  char            *quant;          /* "Q4_K_M" (general.file_type) or the dominant tensor type */
  guint32          context_length; /* {arch}.context_length, 0 when absent */
  guint            n_splits;       /* 1 for a single file */
  SmeltModelSource source;
  char            *error;          /* (nullable) why the header could not be read; the model is
                                      still listed so the user can delete it */
} SmeltLocalModel;

void             smelt_local_model_free (SmeltLocalModel *model);
SmeltLocalModel *smelt_local_model_copy (const SmeltLocalModel *model);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmeltLocalModel, smelt_local_model_free)

/* The huggingface_hub cache directory for this environment (hub-api.md section 6). */
char *smelt_library_get_default_hub_cache (void);

#define SMELT_TYPE_LIBRARY (smelt_library_get_type ())
G_DECLARE_FINAL_TYPE (SmeltLibrary, smelt_library, SMELT, LIBRARY, GObject)

/* hub_cache: (nullable) the cache to scan, NULL for the default.
 * config_path: (nullable) the key file holding added folders and imported files, NULL for
 * $XDG_CONFIG_HOME/smelt/library.ini. */
SmeltLibrary *smelt_library_new (const char *hub_cache,
                                 const char *config_path);

const char *smelt_library_get_hub_cache (SmeltLibrary *self);

/* (transfer none) NULL-terminated list of added folders. */
const char *const *smelt_library_get_folders (SmeltLibrary *self);

gboolean smelt_library_add_folder (SmeltLibrary *self,
                                   const char   *folder,
                                   GError      **error);
gboolean smelt_library_remove_folder (SmeltLibrary *self,
                                      const char   *folder,
                                      GError      **error);

/* Registers one GGUF file in place (its header is checked first). */
gboolean smelt_library_import_file (SmeltLibrary *self,
                                    const char   *path,
                                    GError      **error);

/* Scans the cache, the folders and the imported files. Returns (element-type SmeltLocalModel),
 * sorted by name. Unreadable models are listed with ->error set; only a cancelled scan fails. */
GPtrArray *smelt_library_scan (SmeltLibrary *self,
                               GCancellable *cancellable,
                               GError      **error);

void       smelt_library_scan_async (SmeltLibrary       *self,
                                     GCancellable       *cancellable,
                                     GAsyncReadyCallback callback,
                                     gpointer            user_data);
GPtrArray *smelt_library_scan_finish (SmeltLibrary *self,
                                      GAsyncResult *result,
                                      GError      **error);

/* Finds one model in a scan by id, path, file name, "org/name" (when the repo holds a single
 * model) or "org/name:QUANT" (case-insensitive quant). (transfer none) */
SmeltLocalModel *smelt_library_find (GPtrArray  *models,
                                     const char *query,
                                     GError    **error);

/* Deletes a model's files. Cache entries: the snapshot links, and each blob no other snapshot
 * link of the repo still points to; an emptied repo folder is removed whole. Imported files are
 * also unregistered. *reclaimed (nullable) receives the bytes freed. */
gboolean smelt_library_delete (SmeltLibrary          *self,
                               const SmeltLocalModel *model,
                               guint64               *reclaimed,
                               GError               **error);

/* Bytes the models take on disk, each blob counted once. */
guint64 smelt_library_disk_usage (GPtrArray *models);

G_END_DECLS
