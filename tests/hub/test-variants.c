/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-variants.c: quant labels, split grouping, unsafe names and tree parsing of
 * smelt-hub-variants, on file lists shaped like real Hub repositories.
 */
#include "config.h"

#include <string.h>

#include "smelt-hub-variants.h"

static void
test_labels (void)
{
  static const struct { const char *file; const char *label; } cases[] = {
    { "Llama-3.2-3B-Instruct-Q4_K_M.gguf", "Q4_K_M" },
    { "llama-2-7b.Q4_K_M.gguf", "Q4_K_M" },
    { "model-q4_k.gguf", "q4_k" },
    { "model-bf16-q8_0.gguf", "bf16-q8_0" },
    { "x-Q6_K_L-00001-of-00002.gguf", "Q6_K_L" },
    { "Qwen2.5-7B-Instruct-IQ3_XS.gguf", "IQ3_XS" },
    { "DeepSeek-R1-UD-IQ3_XXS-00001-of-00005.gguf", "UD-IQ3_XXS" },
    { "Q8_0/Some-Model-Q8_0-00002-of-00002.gguf", "Q8_0" },
    { "Mistral-7B-v0.3-F16.gguf", "F16" },
    { "Model-BF16.gguf", "BF16" },
    { "phi-3-mini-4k-instruct-q4.gguf", "q4" },
    { "gemma-2b-it-Q4_0_4_4.gguf", "Q4_0_4_4" },
    { "model-TQ1_0.gguf", "TQ1_0" },
    { "gpt-oss-20b-MXFP4.gguf", "MXFP4" },
    { "model.gguf.part1of2", NULL },
    { "Big-Q5_K_S.gguf.part2of3", "Q5_K_S" },
    { "Big-Q3_K_M.gguf-split-b", "Q3_K_M" },
    { "Qwen2-7B.gguf", NULL },
    { "README.md", NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *label = smelt_hub_quant_label (cases[i].file);

      g_test_message ("%s", cases[i].file);
      g_assert_cmpstr (label, ==, cases[i].label);
    }
}

static void
test_safe_paths (void)
{
  g_assert_true (smelt_hub_path_is_safe ("a.gguf"));
  g_assert_true (smelt_hub_path_is_safe ("Q4_K_M/a-00001-of-00002.gguf"));
  g_assert_true (smelt_hub_path_is_safe ("..a/b..c.gguf"));
  g_assert_false (smelt_hub_path_is_safe (NULL));
  g_assert_false (smelt_hub_path_is_safe (""));
  g_assert_false (smelt_hub_path_is_safe ("/etc/passwd"));
  g_assert_false (smelt_hub_path_is_safe ("../x.gguf"));
  g_assert_false (smelt_hub_path_is_safe ("a/../../x.gguf"));
  g_assert_false (smelt_hub_path_is_safe ("a/.."));
  g_assert_false (smelt_hub_path_is_safe ("./a.gguf"));
  g_assert_false (smelt_hub_path_is_safe ("a//b.gguf"));
  g_assert_false (smelt_hub_path_is_safe ("a/"));
  g_assert_false (smelt_hub_path_is_safe ("a\\..\\b.gguf"));
  g_assert_false (smelt_hub_path_is_safe ("a\nb.gguf"));
  g_assert_false (smelt_hub_path_is_safe ("a\x1b[31mb.gguf"));
  g_assert_false (smelt_hub_path_is_safe ("a\x7f.gguf"));
  g_assert_false (smelt_hub_path_is_safe ("bad\xff.gguf"));
}

static GPtrArray *
files_of (const char *const *paths,
          const guint64     *sizes)
{
  GPtrArray *files = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_hub_file_free);

  for (guint i = 0; paths[i] != NULL; i++)
    g_ptr_array_add (files, smelt_hub_file_new (paths[i], sizes[i], NULL));
  return files;
}

static const SmeltHubVariant *
find_variant (GPtrArray  *variants,
              const char *name)
{
  for (guint i = 0; i < variants->len; i++)
    {
      const SmeltHubVariant *v = g_ptr_array_index (variants, i);

      if (g_strcmp0 (v->name, name) == 0)
        return v;
    }
  return NULL;
}

static const char *
file_path (const SmeltHubVariant *v,
           guint                  i)
{
  return ((SmeltHubFile *) g_ptr_array_index (v->files, i))->path;
}

static void
test_group_repo (void)
{
  /* A bartowski/unsloth-style repo: single files, a split set in a per-quant folder (parts
   * listed out of order), an incomplete set, byte splits, and things that are not variants. */
  static const char *paths[] = {
    ".gitattributes", "README.md", "config.json",
    "M-Q4_K_M.gguf", "M-q4_k.gguf", "M-bf16-q8_0.gguf", "M-IQ3_XS.gguf",
    "Q8_0/M-Q8_0-00002-of-00003.gguf", "Q8_0/M-Q8_0-00001-of-00003.gguf",
    "Q8_0/M-Q8_0-00003-of-00003.gguf",
    "BF16/M-BF16-00001-of-00002.gguf", /* part 2 missing */
    "M-Q6_K_L.gguf.part2of2", "M-Q6_K_L.gguf.part1of2",
    "M-Q2_K.gguf-split-a", "M-Q2_K.gguf-split-b",
    "mmproj-M-f16.gguf", "M.imatrix", "imatrix.gguf",
    "../evil-Q4_0.gguf", "/abs-Q4_0.gguf", "a\\b-Q4_0.gguf", "ctl\x01-Q4_0.gguf",
    "UD-IQ3_XXS/M-UD-IQ3_XXS-00001-of-00002.gguf", "UD-IQ3_XXS/M-UD-IQ3_XXS-00002-of-00002.gguf",
    NULL,
  };
  static const guint64 sizes[] = {
    1, 2, 3,
    400, 350, 700, 300,
    520, 500, 10,
    999,
    60, 600,
    70, 30,
    50, 5, 6,
    1, 1, 1, 1,
    200, 100,
  };
  g_autoptr(GPtrArray) files = files_of (paths, sizes);
  g_autoptr(GPtrArray) variants = smelt_hub_variants_from_files (files);
  const SmeltHubVariant *v;

  g_assert_cmpuint (variants->len, ==, 8);

  /* Sorted by size, descending. */
  for (guint i = 1; i < variants->len; i++)
    g_assert_cmpuint (((SmeltHubVariant *) g_ptr_array_index (variants, i - 1))->size_bytes, >=,
                      ((SmeltHubVariant *) g_ptr_array_index (variants, i))->size_bytes);

  v = find_variant (variants, "Q8_0");
  g_assert_nonnull (v);
  g_assert_cmpint (v->split, ==, SMELT_HUB_SPLIT_GGUF);
  g_assert_cmpuint (v->files->len, ==, 3);
  g_assert_cmpuint (v->size_bytes, ==, 1030);
  g_assert_cmpstr (file_path (v, 0), ==, "Q8_0/M-Q8_0-00001-of-00003.gguf");
  g_assert_cmpstr (file_path (v, 2), ==, "Q8_0/M-Q8_0-00003-of-00003.gguf");

  v = find_variant (variants, "bf16-q8_0");
  g_assert_nonnull (v);
  g_assert_cmpstr (v->quant, ==, "BF16-Q8_0");
  g_assert_cmpint (v->split, ==, SMELT_HUB_SPLIT_NONE);

  v = find_variant (variants, "q4_k");
  g_assert_nonnull (v);
  g_assert_cmpstr (v->quant, ==, "Q4_K");

  v = find_variant (variants, "Q6_K_L");
  g_assert_nonnull (v);
  g_assert_cmpint (v->split, ==, SMELT_HUB_SPLIT_BYTES);
  g_assert_cmpstr (file_path (v, 0), ==, "M-Q6_K_L.gguf.part1of2");
  g_assert_cmpuint (v->size_bytes, ==, 660);

  v = find_variant (variants, "Q2_K");
  g_assert_nonnull (v);
  g_assert_cmpint (v->split, ==, SMELT_HUB_SPLIT_BYTES);
  g_assert_cmpstr (file_path (v, 1), ==, "M-Q2_K.gguf-split-b");

  v = find_variant (variants, "UD-IQ3_XXS");
  g_assert_nonnull (v);
  g_assert_cmpstr (v->quant, ==, "UD-IQ3_XXS");
  g_assert_cmpuint (v->files->len, ==, 2);

  g_assert_nonnull (find_variant (variants, "Q4_K_M"));
  g_assert_nonnull (find_variant (variants, "IQ3_XS"));
  g_assert_null (find_variant (variants, "BF16"));
  g_assert_null (find_variant (variants, "Q4_0"));

  for (guint i = 0; i < variants->len; i++)
    {
      g_autoptr(SmeltHubVariant) copy = smelt_hub_variant_copy (g_ptr_array_index (variants, i));
      const SmeltHubVariant *orig = g_ptr_array_index (variants, i);

      g_assert_cmpstr (copy->name, ==, orig->name);
      g_assert_cmpuint (copy->files->len, ==, orig->files->len);
      for (guint f = 0; f < copy->files->len; f++)
        g_assert_true (smelt_hub_path_is_safe (file_path (copy, f)));
    }
}

static void
test_duplicate_labels (void)
{
  static const char *paths[] = { "Small-8B-Q4_K_M.gguf", "Big-70B-Q4_K_M.gguf", "x.gguf", NULL };
  static const guint64 sizes[] = { 5, 40, 1 };
  g_autoptr(GPtrArray) files = files_of (paths, sizes);
  g_autoptr(GPtrArray) variants = smelt_hub_variants_from_files (files);
  const SmeltHubVariant *v;

  g_assert_cmpuint (variants->len, ==, 3);
  v = g_ptr_array_index (variants, 0);
  g_assert_cmpstr (v->name, ==, "Big-70B-Q4_K_M");
  g_assert_cmpstr (v->quant, ==, "Q4_K_M");
  v = g_ptr_array_index (variants, 1);
  g_assert_cmpstr (v->name, ==, "Small-8B-Q4_K_M");
  /* A GGUF without a label is still a model: named after its stem. */
  v = g_ptr_array_index (variants, 2);
  g_assert_cmpstr (v->name, ==, "x");
}

static void
test_split_checks (void)
{
  /* Duplicate part, part beyond N, and a set whose N disagrees: none complete. */
  static const char *paths[] = {
    "A-Q4_0-00001-of-00002.gguf", "A-Q4_0-00001-of-00002.gguf", "A-Q4_0-00002-of-00002.gguf",
    "B-Q5_0-00001-of-00002.gguf", "B-Q5_0-00003-of-00002.gguf",
    "C-Q8_0-00001-of-00002.gguf", "C-Q8_0-00002-of-00003.gguf",
    "D-Q3_K.gguf-split-a", "D-Q3_K.gguf-split-c",
    NULL,
  };
  static const guint64 sizes[] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
  g_autoptr(GPtrArray) files = files_of (paths, sizes);
  g_autoptr(GPtrArray) variants = smelt_hub_variants_from_files (files);

  g_assert_cmpuint (variants->len, ==, 0);
}

static void
test_tree_json (void)
{
  const char *json =
    "[{\"type\":\"directory\",\"oid\":\"8d2c\",\"size\":0,\"path\":\"Q8_0\"},"
    "{\"type\":\"file\",\"oid\":\"e663\",\"size\":49877241856,"
    "\"lfs\":{\"oid\":\"322E194FF79741C7A0B1C2D3E4F5061728394A5B6C7D8E9F0A1B2C3D4E5F6A7B\","
    "\"size\":49877241856,\"pointerSize\":136},\"path\":\"Q8_0/M-Q8_0-00001-of-00002.gguf\"},"
    "{\"type\":\"file\",\"oid\":\"d461\",\"size\":728,\"path\":\"config.json\"},"
    "{\"type\":\"file\",\"oid\":\"d461\",\"size\":1,\"path\":\"../../etc/passwd\"},"
    "{\"type\":\"file\",\"size\":1,\"path\":\"bad\\u001bname\"},"
    "{\"type\":\"file\",\"size\":2,\"path\":42},"
    "{\"type\":\"file\",\"size\":3,\"lfs\":{\"oid\":\"nothex\"},\"path\":\"x.gguf\"},"
    "\"junk\"]";
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) files = smelt_hub_files_from_tree_json (json, -1, &error);
  SmeltHubFile *f;

  g_assert_no_error (error);
  g_assert_cmpuint (files->len, ==, 3);
  f = g_ptr_array_index (files, 0);
  g_assert_cmpstr (f->path, ==, "Q8_0/M-Q8_0-00001-of-00002.gguf");
  g_assert_cmpuint (f->size, ==, G_GUINT64_CONSTANT (49877241856));
  g_assert_cmpstr (f->sha256, ==, "322e194ff79741c7a0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f6a7b");
  f = g_ptr_array_index (files, 1);
  g_assert_cmpstr (f->path, ==, "config.json");
  g_assert_null (f->sha256);
  f = g_ptr_array_index (files, 2);
  g_assert_cmpstr (f->path, ==, "x.gguf");
  g_assert_null (f->sha256);

  g_assert_null (smelt_hub_files_from_tree_json ("{\"a\":1}", -1, &error));
  g_assert_error (error, SMELT_HUB_VARIANTS_ERROR, SMELT_HUB_VARIANTS_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_null (smelt_hub_files_from_tree_json ("[{", -1, &error));
  g_assert_error (error, SMELT_HUB_VARIANTS_ERROR, SMELT_HUB_VARIANTS_ERROR_INVALID);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/hub/variants/labels", test_labels);
  g_test_add_func ("/hub/variants/safe-paths", test_safe_paths);
  g_test_add_func ("/hub/variants/group-repo", test_group_repo);
  g_test_add_func ("/hub/variants/duplicate-labels", test_duplicate_labels);
  g_test_add_func ("/hub/variants/split-checks", test_split_checks);
  g_test_add_func ("/hub/variants/tree-json", test_tree_json);
  return g_test_run ();
}
