/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-hub-variants.h: turns a repository's file listing into quant variants.
 *
 * A variant is what a user picks: "Q4_K_M", "bf16-q8_0", "Q6_K_L", "IQ3_XS"... made of one file,
 * of gguf-split parts (`-00001-of-00003.gguf`, possibly inside a per-quant folder), or of raw
 * byte pieces (`.gguf.part1of2`, `.gguf-split-a`) that must be concatenated. Pure functions: no
 * I/O, safe from any thread. File names from the server are untrusted: paths with `..`, absolute
 * paths, empty segments, backslashes or control characters are refused.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Errors of smelt_hub_files_from_tree_json(). */
#define SMELT_HUB_VARIANTS_ERROR (smelt_hub_variants_error_quark ())
GQuark smelt_hub_variants_error_quark (void);

typedef enum
{
  SMELT_HUB_VARIANTS_ERROR_INVALID, /* the listing is not the JSON array the Hub sends */
} SmeltHubVariantsError;

typedef struct
{
  char   *path;   /* path inside the repo, '/'-separated */
  guint64 size;   /* bytes */
  char   *sha256; /* lowercase hex of the content (LFS oid), or NULL when unknown */
} SmeltHubFile;

SmeltHubFile *smelt_hub_file_new (const char *path,
                                  guint64     size,
                                  const char *sha256);
SmeltHubFile *smelt_hub_file_copy (const SmeltHubFile *file);
void          smelt_hub_file_free (SmeltHubFile *file);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmeltHubFile, smelt_hub_file_free)

typedef enum
{
  SMELT_HUB_SPLIT_NONE,  /* one file */
  SMELT_HUB_SPLIT_GGUF,  /* gguf-split parts: every part is a GGUF, open part 1 */
  SMELT_HUB_SPLIT_BYTES, /* raw byte pieces: concatenate in order to get the GGUF */
} SmeltHubSplitKind;

typedef struct
{
  char             *name;       /* the label shown to users, as the repo spells it: "Q4_K_M",
                                   "bf16-q8_0", "Q6_K_L", "IQ3_XS" */
  char             *quant;      /* the same label normalised upper-case with '_' ("Q4_K_M",
                                   "BF16-Q8_0", "Q4_K"); the advisor's key */
  GPtrArray        *files;      /* (element-type SmeltHubFile) in part order */
  guint64           size_bytes; /* sum of the files */
  SmeltHubSplitKind split;
} SmeltHubVariant;

void             smelt_hub_variant_free (SmeltHubVariant *variant);
SmeltHubVariant *smelt_hub_variant_copy (const SmeltHubVariant *variant);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmeltHubVariant, smelt_hub_variant_free)

/* TRUE when a server-given path is safe to use under a local directory. */
gboolean smelt_hub_path_is_safe (const char *path);

/* The quant label of a GGUF file name (without folders or split suffixes), or NULL when the
 * name carries none: "Llama-3.2-3B-Instruct-Q4_K_M.gguf" -> "Q4_K_M",
 * "model-bf16-q8_0.gguf" -> "bf16-q8_0", "x-Q6_K_L-00001-of-00002.gguf" -> "Q6_K_L". */
char *smelt_hub_quant_label (const char *file_name);

/* Groups files (element-type SmeltHubFile) into variants, sorted by size descending. Files that are
 * not model GGUFs (README, config, mmproj, imatrix) are ignored; an unsafe path or an incomplete
 * split set (a missing part) is skipped with a g_debug. Returns (element-type SmeltHubVariant). */
GPtrArray *smelt_hub_variants_from_files (GPtrArray *files);

/* Parses a Hub tree listing (`GET /api/models/{repo}/tree/{rev}?recursive=true`, a JSON array) into
 * (element-type SmeltHubFile): files only, sizes from `size`, sha256 from `lfs.oid`. Unsafe paths
 * are dropped. */
GPtrArray *smelt_hub_files_from_tree_json (const char *json,
                                           gssize      length,
                                           GError    **error);

G_END_DECLS
