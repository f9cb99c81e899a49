/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-hub-variants.c: from a repository's file list to the quant variants a user picks.
 *
 * Pure string work: quant labels are read from file names (last matching token, with a float
 * prefix such as "bf16-" or Unsloth's "UD-" kept), split sets are grouped and kept only when
 * complete, and every path from the server is checked before anything else looks at it. No I/O,
 * no globals besides a lazily compiled regex; not for deciding which variant fits a machine (that
 * is the advisor's job).
 */
#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>

#include "smelt-hub-variants.h"

G_DEFINE_QUARK (smelt-hub-variants-error-quark, smelt_hub_variants_error)

SmeltHubFile *
smelt_hub_file_new (const char *path,
                    guint64     size,
                    const char *sha256)
{
  SmeltHubFile *file;

  g_return_val_if_fail (path != NULL, NULL);

  file = g_new0 (SmeltHubFile, 1);
  file->path = g_strdup (path);
  file->size = size;
  file->sha256 = g_strdup (sha256);
  return file;
}

SmeltHubFile *
smelt_hub_file_copy (const SmeltHubFile *file)
{
  g_return_val_if_fail (file != NULL, NULL);

  return smelt_hub_file_new (file->path, file->size, file->sha256);
}

void
smelt_hub_file_free (SmeltHubFile *file)
{
  if (file == NULL)
    return;
  g_free (file->path);
  g_free (file->sha256);
  g_free (file);
}

void
smelt_hub_variant_free (SmeltHubVariant *variant)
{
  if (variant == NULL)
    return;
  g_free (variant->name);
  g_free (variant->quant);
  g_clear_pointer (&variant->files, g_ptr_array_unref);
  g_free (variant);
}

SmeltHubVariant *
smelt_hub_variant_copy (const SmeltHubVariant *variant)
{
  SmeltHubVariant *copy;

  g_return_val_if_fail (variant != NULL, NULL);

  copy = g_new0 (SmeltHubVariant, 1);
  copy->name = g_strdup (variant->name);
  copy->quant = g_strdup (variant->quant);
  copy->files = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_hub_file_free);
  for (guint i = 0; variant->files != NULL && i < variant->files->len; i++)
    g_ptr_array_add (copy->files, smelt_hub_file_copy (g_ptr_array_index (variant->files, i)));
  copy->size_bytes = variant->size_bytes;
  copy->split = variant->split;
  return copy;
}

gboolean
smelt_hub_path_is_safe (const char *path)
{
  const char *seg;

  if (path == NULL || *path == '\0' || *path == '/')
    return FALSE;
  if (!g_utf8_validate (path, -1, NULL))
    return FALSE;
  for (const char *p = path; *p != '\0'; p++)
    {
      guchar c = (guchar) *p;

      if (c < 0x20 || c == 0x7f || c == '\\')
        return FALSE;
    }

  /* Every segment must be a real name: no "", ".", "..". */
  seg = path;
  for (;;)
    {
      const char *end = strchr (seg, '/');
      gsize len = end != NULL ? (gsize) (end - seg) : strlen (seg);

      if (len == 0)
        return FALSE;
      if (len == 1 && seg[0] == '.')
        return FALSE;
      if (len == 2 && seg[0] == '.' && seg[1] == '.')
        return FALSE;
      if (end == NULL)
        break;
      seg = end + 1;
    }
  return TRUE;
}

/* A quant token: a ggml quant ("Q4_K_M", "IQ3_XXS", "Q4_0_4_4", "TQ1_0"), a float type, or
 * MXFP4. It must start at a separator and end at '-', '.' or the end of the name. */
static GRegex *
quant_regex (void)
{
  static GRegex *regex;

  if (g_once_init_enter (&regex))
    {
      GRegex *r = g_regex_new ("(?:^|(?<=[-._]))"
                               "(I?Q[0-9]+(?:_[A-Z0-9]+)*|TQ[0-9]+_[0-9]+|BF16|FP16|F16|FP32|F32"
                               "|MXFP4(?:_MOE)?)"
                               "(?=$|[-.])",
                               G_REGEX_CASELESS | G_REGEX_OPTIMIZE, 0, NULL);
      g_assert (r != NULL);
      g_once_init_leave (&regex, r);
    }
  return regex;
}

static gboolean
is_float_label (const char *s,
                gsize       len)
{
  static const char *floats[] = { "bf16", "f16", "fp16", "f32", "fp32" };

  for (guint i = 0; i < G_N_ELEMENTS (floats); i++)
    if (strlen (floats[i]) == len && g_ascii_strncasecmp (s, floats[i], len) == 0)
      return TRUE;
  return FALSE;
}

/* Strips a ".gguf" extension and any split suffix; returns the stem (newly allocated). */
static char *
strip_name (const char *file_name)
{
  g_autofree char *stem = g_strdup (file_name);
  g_autoptr(GRegex) tail = NULL;
  g_autoptr(GMatchInfo) info = NULL;

  tail = g_regex_new ("(?:-[0-9]{5}-of-[0-9]{5}\\.gguf|\\.gguf\\.part[0-9]+of[0-9]+"
                      "|\\.gguf-split-[a-z]+|\\.gguf)$",
                      G_REGEX_CASELESS, 0, NULL);
  g_assert (tail != NULL);
  if (g_regex_match (tail, stem, 0, &info))
    {
      int start;

      g_match_info_fetch_pos (info, 0, &start, NULL);
      stem[start] = '\0';
    }
  return g_steal_pointer (&stem);
}

char *
smelt_hub_quant_label (const char *file_name)
{
  g_autofree char *stem = NULL;
  g_autoptr(GMatchInfo) info = NULL;
  const char *base;
  int best_start = -1, best_end = -1;
  int start, end;

  g_return_val_if_fail (file_name != NULL, NULL);

  base = strrchr (file_name, '/');
  base = base != NULL ? base + 1 : file_name;
  stem = strip_name (base);

  /* The last token wins: "Llama-3.2-3B-Q4_K_M" names the quant at the end. */
  g_regex_match (quant_regex (), stem, 0, &info);
  while (g_match_info_matches (info))
    {
      g_match_info_fetch_pos (info, 1, &start, &end);
      best_start = start;
      best_end = end;
      if (!g_match_info_next (info, NULL))
        break;
    }
  if (best_start < 0)
    return NULL;

  /* A float token right before a quant belongs to it ("bf16-q8_0": Q8_0 with BF16 embeddings
   * and output), as does Unsloth's "UD-" (dynamic) prefix. */
  if (best_start >= 2 && (stem[best_start - 1] == '-' || stem[best_start - 1] == '.')
      && !is_float_label (stem + best_start, (gsize) (best_end - best_start)))
    {
      int sep = best_start - 1;
      int tok = sep;

      while (tok > 0 && stem[tok - 1] != '-' && stem[tok - 1] != '.' && stem[tok - 1] != '_')
        tok--;
      if (is_float_label (stem + tok, (gsize) (sep - tok))
          || (sep - tok == 2 && g_ascii_strncasecmp (stem + tok, "UD", 2) == 0))
        best_start = tok;
    }

  return g_strndup (stem + best_start, (gsize) (best_end - best_start));
}

/* ---- grouping ------------------------------------------------------------------------------ */

typedef struct
{
  char             *key;     /* what the parts share */
  char             *stem;    /* file name without split suffix, for disambiguation */
  char             *label;   /* quant label or NULL */
  SmeltHubSplitKind split;
  guint             n_parts; /* announced total (GGUF and .partXofY), 0 = unknown (-split-x) */
  GPtrArray        *parts;   /* (element-type SmeltHubFile) (nullable elements), index = part-1 */
  gboolean          broken;  /* a duplicate or out-of-range part */
} Group;

static void
group_free (Group *group)
{
  g_free (group->key);
  g_free (group->stem);
  g_free (group->label);
  g_ptr_array_unref (group->parts);
  g_free (group);
}

static gboolean
is_auxiliary (const char *base)
{
  g_autofree char *lower = g_ascii_strdown (base, -1);

  return strstr (lower, "mmproj") != NULL || strstr (lower, "imatrix") != NULL;
}

static Group *
lookup_group (GHashTable       *groups,
              GPtrArray        *order,
              const char       *key,
              const char       *stem,
              const char       *label,
              SmeltHubSplitKind split,
              guint             n_parts)
{
  Group *group = g_hash_table_lookup (groups, key);

  if (group == NULL)
    {
      group = g_new0 (Group, 1);
      group->key = g_strdup (key);
      group->stem = g_strdup (stem);
      group->label = g_strdup (label);
      group->split = split;
      group->n_parts = n_parts;
      group->parts = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_hub_file_free);
      g_hash_table_insert (groups, group->key, group);
      g_ptr_array_add (order, group);
    }
  return group;
}

static void
group_put (Group              *group,
           guint               index,
           const SmeltHubFile *file)
{
  if (group->n_parts != 0 && index >= group->n_parts)
    {
      group->broken = TRUE;
      return;
    }
  if (index >= group->parts->len)
    g_ptr_array_set_size (group->parts, index + 1);
  if (g_ptr_array_index (group->parts, index) != NULL)
    {
      group->broken = TRUE;
      return;
    }
  g_ptr_array_index (group->parts, index) = smelt_hub_file_copy (file);
}

static char *
label_for (const char *path,
           const char *base)
{
  char *label = smelt_hub_quant_label (base);

  /* Per-quant folders: "Q4_K_M/model-00001-of-00002.gguf" takes the folder's label. */
  if (label == NULL && base != path)
    {
      g_autofree char *dir = g_strndup (path, (gsize) (base - path - 1));
      const char *last = strrchr (dir, '/');

      label = smelt_hub_quant_label (last != NULL ? last + 1 : dir);
    }
  return label;
}

static int
compare_variants (gconstpointer a,
                  gconstpointer b)
{
  const SmeltHubVariant *va = *(SmeltHubVariant * const *) a;
  const SmeltHubVariant *vb = *(SmeltHubVariant * const *) b;

  if (va->size_bytes != vb->size_bytes)
    return va->size_bytes > vb->size_bytes ? -1 : 1;
  return g_strcmp0 (va->name, vb->name);
}

GPtrArray *
smelt_hub_variants_from_files (GPtrArray *files)
{
  g_autoptr(GHashTable) groups = NULL;
  g_autoptr(GPtrArray) order = NULL;
  g_autoptr(GHashTable) name_count = NULL;
  g_autoptr(GRegex) gguf_split = NULL;
  g_autoptr(GRegex) part_split = NULL;
  g_autoptr(GRegex) letter_split = NULL;
  GPtrArray *variants;

  g_return_val_if_fail (files != NULL, NULL);

  gguf_split = g_regex_new ("^(.*)-([0-9]{5})-of-([0-9]{5})\\.gguf$", G_REGEX_CASELESS, 0, NULL);
  part_split = g_regex_new ("^(.*\\.gguf)\\.part([0-9]+)of([0-9]+)$", G_REGEX_CASELESS, 0, NULL);
  letter_split = g_regex_new ("^(.*\\.gguf)-split-([a-z])$", G_REGEX_CASELESS, 0, NULL);
  g_assert (gguf_split != NULL && part_split != NULL && letter_split != NULL);

  groups = g_hash_table_new (g_str_hash, g_str_equal);
  order = g_ptr_array_new_with_free_func ((GDestroyNotify) group_free);

  for (guint i = 0; i < files->len; i++)
    {
      const SmeltHubFile *file = g_ptr_array_index (files, i);
      g_autoptr(GMatchInfo) info = NULL;
      g_autofree char *label = NULL;
      g_autofree char *stem = NULL;
      const char *base;

      if (!smelt_hub_path_is_safe (file->path))
        {
          g_debug ("Skipping unsafe path from the server");
          continue;
        }
      base = strrchr (file->path, '/');
      base = base != NULL ? base + 1 : file->path;
      if (is_auxiliary (base))
        continue;

      stem = strip_name (base);
      label = label_for (file->path, base);

      if (g_regex_match (gguf_split, file->path, 0, &info))
        {
          g_autofree char *prefix = g_match_info_fetch (info, 1);
          g_autofree char *k = g_match_info_fetch (info, 2);
          g_autofree char *n = g_match_info_fetch (info, 3);
          g_autofree char *key = g_strdup_printf ("gguf:%s:%s", prefix, n);
          guint kk = (guint) g_ascii_strtoull (k, NULL, 10);
          guint nn = (guint) g_ascii_strtoull (n, NULL, 10);
          Group *group;

          if (kk == 0 || nn == 0 || kk > nn)
            continue;
          group = lookup_group (groups, order, key, stem, label, SMELT_HUB_SPLIT_GGUF, nn);
          group_put (group, kk - 1, file);
          continue;
        }
      g_clear_pointer (&info, g_match_info_free);

      if (g_regex_match (part_split, file->path, 0, &info))
        {
          g_autofree char *whole = g_match_info_fetch (info, 1);
          g_autofree char *k = g_match_info_fetch (info, 2);
          g_autofree char *n = g_match_info_fetch (info, 3);
          g_autofree char *key = g_strdup_printf ("part:%s:%s", whole, n);
          guint kk = (guint) g_ascii_strtoull (k, NULL, 10);
          guint nn = (guint) g_ascii_strtoull (n, NULL, 10);
          Group *group;

          if (kk == 0 || nn == 0 || kk > nn || nn > 9999)
            continue;
          group = lookup_group (groups, order, key, stem, label, SMELT_HUB_SPLIT_BYTES, nn);
          group_put (group, kk - 1, file);
          continue;
        }
      g_clear_pointer (&info, g_match_info_free);

      if (g_regex_match (letter_split, file->path, 0, &info))
        {
          g_autofree char *whole = g_match_info_fetch (info, 1);
          g_autofree char *letter = g_match_info_fetch (info, 2);
          g_autofree char *key = g_strdup_printf ("letters:%s", whole);
          Group *group;

          group = lookup_group (groups, order, key, stem, label, SMELT_HUB_SPLIT_BYTES, 0);
          group_put (group, (guint) (g_ascii_tolower (letter[0]) - 'a'), file);
          continue;
        }
      g_clear_pointer (&info, g_match_info_free);

      if (!g_str_has_suffix (base, ".gguf") && !g_str_has_suffix (base, ".GGUF"))
        continue;

      {
        g_autofree char *key = g_strdup_printf ("one:%s", file->path);
        Group *group = lookup_group (groups, order, key, stem, label, SMELT_HUB_SPLIT_NONE, 1);

        group_put (group, 0, file);
      }
    }

  /* Labels shared by several variants (two models in one repo) are told apart by file stem. */
  name_count = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < order->len; i++)
    {
      Group *group = g_ptr_array_index (order, i);
      g_autofree char *upper = g_ascii_strup (group->label != NULL ? group->label : group->stem, -1);

      g_hash_table_insert (name_count, g_strdup (upper),
                           GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (name_count, upper)) + 1));
    }

  variants = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_hub_variant_free);
  for (guint i = 0; i < order->len; i++)
    {
      Group *group = g_ptr_array_index (order, i);
      const char *label = group->label != NULL ? group->label : group->stem;
      g_autofree char *upper = g_ascii_strup (label, -1);
      g_autoptr(SmeltHubVariant) variant = NULL;
      gboolean complete = !group->broken && group->parts->len > 0;

      if (group->n_parts != 0 && group->parts->len != group->n_parts)
        complete = FALSE;
      for (guint p = 0; complete && p < group->parts->len; p++)
        if (g_ptr_array_index (group->parts, p) == NULL)
          complete = FALSE;
      if (!complete)
        {
          g_debug ("Skipping incomplete split set %s", group->key);
          continue;
        }

      variant = g_new0 (SmeltHubVariant, 1);
      if (GPOINTER_TO_UINT (g_hash_table_lookup (name_count, upper)) > 1)
        variant->name = g_strdup (group->stem);
      else
        variant->name = g_strdup (label);
      variant->quant = g_steal_pointer (&upper);
      variant->split = group->split;
      variant->files = g_ptr_array_ref (group->parts);
      for (guint p = 0; p < variant->files->len; p++)
        variant->size_bytes += ((SmeltHubFile *) g_ptr_array_index (variant->files, p))->size;
      g_ptr_array_add (variants, g_steal_pointer (&variant));
    }

  g_ptr_array_sort (variants, compare_variants);
  return variants;
}

static gboolean
is_sha256_hex (const char *s)
{
  if (s == NULL || strlen (s) != 64)
    return FALSE;
  for (const char *p = s; *p != '\0'; p++)
    if (!g_ascii_isxdigit (*p))
      return FALSE;
  return TRUE;
}

GPtrArray *
smelt_hub_files_from_tree_json (const char *json,
                                gssize      length,
                                GError    **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GPtrArray) files = NULL;
  g_autoptr(GError) local_error = NULL;
  JsonNode *root;
  JsonArray *array;

  g_return_val_if_fail (json != NULL, NULL);

  if (!json_parser_load_from_data (parser, json, length, &local_error))
    {
      g_set_error (error, SMELT_HUB_VARIANTS_ERROR, SMELT_HUB_VARIANTS_ERROR_INVALID,
                   "The file list from the server is not valid JSON: %s", local_error->message);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_ARRAY (root))
    {
      g_set_error_literal (error, SMELT_HUB_VARIANTS_ERROR, SMELT_HUB_VARIANTS_ERROR_INVALID,
                           "The file list from the server is not a JSON array");
      return NULL;
    }

  array = json_node_get_array (root);
  files = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_hub_file_free);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *node = json_array_get_element (array, i);
      JsonObject *obj, *lfs;
      const char *type, *path, *oid = NULL;
      g_autofree char *sha = NULL;
      gint64 size;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        continue;
      obj = json_node_get_object (node);
      type = json_object_get_string_member_with_default (obj, "type", "");
      if (g_strcmp0 (type, "file") != 0)
        continue;
      path = json_object_get_string_member_with_default (obj, "path", NULL);
      if (!smelt_hub_path_is_safe (path))
        {
          g_debug ("Dropping an unsafe path from the tree listing");
          continue;
        }
      size = json_object_get_int_member_with_default (obj, "size", -1);
      if (json_object_has_member (obj, "lfs") && JSON_NODE_HOLDS_OBJECT (json_object_get_member (obj, "lfs")))
        {
          lfs = json_object_get_object_member (obj, "lfs");
          oid = json_object_get_string_member_with_default (lfs, "oid", NULL);
          if (size < 0)
            size = json_object_get_int_member_with_default (lfs, "size", -1);
        }
      if (size < 0)
        continue;
      if (is_sha256_hex (oid))
        sha = g_ascii_strdown (oid, -1);
      g_ptr_array_add (files, smelt_hub_file_new (path, (guint64) size, sha));
    }
  return g_steal_pointer (&files);
}
