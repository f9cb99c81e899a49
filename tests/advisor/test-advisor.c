/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-advisor.c: the advisor, table-driven: 24 machine profiles x the two model-card repos
 * (tests/fixtures/listings: a bartowski-style 14B and a Mungert-style 8B), each with the pick and
 * fit the model cards' rules lead to; the invariant that a pick never needs more memory than the
 * fit it claims offers (recomputed here from the profile and the table's headroom, for every
 * profile, repo, goal and two context lengths); KV cache arithmetic; the JSON shape.
 */
#include <glib.h>
#include <string.h>

#include "smelt-advisor.h"
#include "smelt-hub-variants.h"

#define GB 1000000000.0

typedef struct
{
  const char *name;
  const char *arch;
  const char *features;
  double      ram_total, ram_avail; /* GB */
  const char *gpu_vendor;           /* NULL = no GPU */
  double      vram_total, vram_free;
  gboolean    bf16, fp16, unified;
  int         n_gpus;
} Machine;

static const Machine machines[] = {
  { "laptop-avx2-16g", "x86_64", "sse3 ssse3 avx avx2 fma f16c", 16, 10 },
  { "laptop-avx2-8g", "x86_64", "sse3 ssse3 avx avx2 fma f16c", 8.2, 5.3 },
  { "old-no-avx-4g", "x86_64", "sse3 ssse3", 4, 3 },
  { "desktop-cpu-32g", "x86_64", "sse3 ssse3 avx avx2 fma f16c", 34, 28 },
  { "workstation-avx512-64g", "x86_64", "sse3 ssse3 avx avx2 fma f16c avx512f avx512bw avx512vl",
    64, 56 },
  { "server-avx512-bf16-256g", "x86_64",
    "sse3 ssse3 avx avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni avx512_bf16 amx_tile "
    "amx_int8 amx_bf16", 256, 240 },
  { "rtx4090-24g", "x86_64", "sse3 ssse3 avx avx2 fma f16c", 64, 50, "nvidia", 25.3, 24.6,
    TRUE, TRUE },
  { "rtx3060-12g", "x86_64", "sse3 ssse3 avx avx2 fma f16c", 32, 24, "nvidia", 12.9, 12.3, TRUE,
    TRUE },
  { "rtx4060-laptop-8g", "x86_64", "sse3 ssse3 avx avx2 fma f16c", 16, 10, "nvidia", 8.6, 8.1,
    TRUE, TRUE },
  { "gtx1660-6g", "x86_64", "sse3 ssse3 avx avx2 fma f16c", 16, 12, "nvidia", 6.4, 6.0, FALSE,
    TRUE },
  { "gtx1050-2g", "x86_64", "sse3 ssse3 avx avx2 fma f16c", 16, 12, "nvidia", 2.1, 1.9, FALSE,
    TRUE },
  { "a100-80g", "x86_64", "sse3 ssse3 avx avx2 fma f16c avx512f avx512bw avx512vl", 512, 480,
    "nvidia", 85.0, 84.2, TRUE, TRUE },
  { "v100-16g", "x86_64", "sse3 ssse3 avx avx2 fma f16c", 128, 110, "nvidia", 17.1, 16.5, FALSE,
    TRUE },
  { "rx7900xtx-24g", "x86_64", "sse3 ssse3 avx avx2 fma f16c", 34, 28, "amd", 25.8, 24.1, FALSE,
    TRUE },
  { "rx6600-8g", "x86_64", "sse3 ssse3 avx avx2 fma f16c", 16, 12, "amd", 8.6, 8.2, FALSE, TRUE },
  { "arc-a770-16g", "x86_64", "sse3 ssse3 avx avx2 fma f16c", 32, 26, "intel", 16.2, 15.8, FALSE,
    TRUE },
  { "apu-780m-32g", "x86_64", "sse3 ssse3 avx avx2 fma f16c avx512f avx512bw avx512vl avx512_bf16",
    33.8, 25.8, "amd", 16.6, 16.1, FALSE, TRUE, TRUE },
  { "pi5-8g", "aarch64", "neon asimdhp asimddp", 8.4, 7.5 },
  { "pi5-4g", "aarch64", "neon asimdhp asimddp", 4.2, 3.6 },
  { "ampere-one-192g", "aarch64", "neon asimdhp asimddp i8mm bf16", 206, 193 },
  { "container-8g-limit", "x86_64", "sse3 ssse3 avx avx2 fma f16c", 8.6, 7.5 },
  { "tiny-vm-2g", "x86_64", "sse3 ssse3 avx avx2", 2.1, 1.5 },
  { "two-rtx3090", "x86_64", "sse3 ssse3 avx avx2 fma f16c", 128, 100, "nvidia", 25.3, 24.9, TRUE,
    TRUE, FALSE, 2 },
  { "laptop-64g-cpu", "x86_64", "sse3 ssse3 avx avx2 fma f16c", 68, 60 },
};

typedef struct
{
  const char *machine;
  const char *listing;
  SmeltGoal   goal;
  const char *pick; /* NULL = nothing fits */
  SmeltFit    fit;
} Expect;

#define B "bartowski-14b.json"
#define M "mungert-8b.json"
#define SPEED SMELT_GOAL_SPEED
#define BAL SMELT_GOAL_BALANCED
#define QUAL SMELT_GOAL_QUALITY
#define GPU SMELT_FIT_FULL_GPU
#define PART SMELT_FIT_PARTIAL_OFFLOAD
#define CPU SMELT_FIT_CPU_ONLY
#define NONE SMELT_FIT_TOO_LARGE

static const Expect expects[] = {
#include "advisor-expectations.inc"
};

static char *
fixture (const char *rel)
{
  const char *src = g_getenv ("SMELT_SOURCE_DIR");

  g_assert_nonnull (src);
  return g_build_filename (src, "tests", "fixtures", rel, NULL);
}

static SmeltHwProfile *
profile_for (const Machine *m)
{
  SmeltHwProfile *p = smelt_hw_profile_new ();

  g_free (p->arch);
  p->arch = g_strdup (m->arch);
  g_free (p->model);
  p->model = g_strdup (m->name);
  p->cores = 8;
  p->threads = 16;
  g_strfreev (p->features);
  p->features = g_strsplit (m->features, " ", -1);
  p->memory_total_bytes = (guint64) (m->ram_total * GB);
  p->memory_available_bytes = (guint64) (m->ram_avail * GB);
  p->memory_bandwidth_bytes_per_second = 50e9;
  for (int i = 0; m->gpu_vendor != NULL && i < MAX (m->n_gpus, 1); i++)
    {
      SmeltHwGpu *g = smelt_hw_gpu_new (m->gpu_vendor, m->name);

      g->vram_total_bytes = (guint64) (m->vram_total * GB);
      g->vram_free_bytes = (guint64) (m->vram_free * GB);
      g->bf16 = m->bf16;
      g->fp16 = m->fp16;
      g->unified_memory = m->unified;
      g_ptr_array_add (p->gpus, g);
    }
  p->disk_path = g_strdup ("/models");
  p->disk_free_bytes = (guint64) (500 * GB);
  return p;
}

static GPtrArray *
load_variants (const char *listing)
{
  g_autofree char *rel = g_build_filename ("listings", listing, NULL);
  g_autofree char *path = fixture (rel);
  g_autofree char *text = NULL;
  g_autoptr(GPtrArray) files = NULL;
  g_autoptr(GError) error = NULL;
  gsize len;

  g_assert_true (g_file_get_contents (path, &text, &len, &error));
  files = smelt_hub_files_from_tree_json (text, (gssize) len, &error);
  g_assert_no_error (error);
  return smelt_hub_variants_from_files (files);
}

static SmeltDecisionTable *
table (void)
{
  g_autoptr(GError) error = NULL;
  SmeltDecisionTable *t = smelt_decision_table_load (NULL, &error);

  g_assert_no_error (error);
  return t;
}

static const Machine *
machine_named (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (machines); i++)
    if (g_str_equal (machines[i].name, name))
      return &machines[i];
  g_error ("no machine %s", name);
  return NULL;
}

/* What the claimed fit offers, from the profile and the table's headroom, computed apart from the
 * advisor's own pool code. */
static guint64
offered (const SmeltDecisionTable *t,
         const SmeltHwProfile     *hw,
         SmeltFit                  fit)
{
  guint64 ram = hw->memory_available_bytes;
  guint64 ram_head = smelt_decision_table_headroom (t, hw->memory_total_bytes);
  guint64 ram_room = ram > ram_head ? ram - ram_head : 0;
  guint64 gpu_room = 0;
  gboolean unified = FALSE;

  for (guint i = 0; i < hw->gpus->len; i++)
    {
      const SmeltHwGpu *g = g_ptr_array_index (hw->gpus, i);
      guint64 free = g->unified_memory ? MIN (g->vram_free_bytes, ram) : g->vram_free_bytes;
      guint64 head = smelt_decision_table_headroom (t, g->vram_total_bytes);
      guint64 room = free > head ? free - head : 0;

      if (room > gpu_room)
        {
          gpu_room = room;
          unified = g->unified_memory;
        }
    }
  switch (fit)
    {
    case SMELT_FIT_FULL_GPU:
      return gpu_room;
    case SMELT_FIT_PARTIAL_OFFLOAD:
      return unified ? MAX (ram_room, gpu_room) : ram_room + gpu_room;
    case SMELT_FIT_CPU_ONLY:
      return ram_room;
    case SMELT_FIT_TOO_LARGE:
    case SMELT_FIT_COUNT:
    default:
      return 0;
    }
}

static void
test_expectation (gconstpointer data)
{
  const Expect *e = data;
  g_autoptr(SmeltDecisionTable) t = table ();
  g_autoptr(GPtrArray) variants = load_variants (e->listing);
  g_autoptr(SmeltHwProfile) hw = profile_for (machine_named (e->machine));
  g_autoptr(SmeltRecommendation) rec = smelt_advisor_recommend (t, variants, hw, e->goal, 4096,
                                                                NULL);
  const SmeltAdvice *pick = smelt_recommendation_get_pick (rec);

  if (e->pick == NULL)
    {
      g_assert_null (pick);
      return;
    }
  g_assert_nonnull (pick);
  g_assert_cmpstr (pick->name, ==, e->pick);
  g_assert_cmpstr (smelt_fit_to_string (pick->fit), ==, smelt_fit_to_string (e->fit));
  g_assert_cmpuint (pick->needed_bytes, <=, offered (t, hw, pick->fit));
  g_assert_cmpuint (pick->reasons->len, >=, 4);
}

/* Every machine x repo x goal x context: the pick fits what it claims, every variant's fit is
 * the first that holds in the order full GPU, partial offload, CPU, and too-large variants carry
 * no speed. */
static void
test_invariants (void)
{
  g_autoptr(SmeltDecisionTable) t = table ();
  const char *listings[] = { B, M };
  const guint ctxs[] = { 4096, 32768 };
  guint checked = 0;

  for (gsize l = 0; l < G_N_ELEMENTS (listings); l++)
    {
      g_autoptr(GPtrArray) variants = load_variants (listings[l]);

      for (gsize m = 0; m < G_N_ELEMENTS (machines); m++)
        for (int goal = 0; goal < SMELT_GOAL_COUNT; goal++)
          for (gsize c = 0; c < G_N_ELEMENTS (ctxs); c++)
            {
              g_autoptr(SmeltHwProfile) hw = profile_for (&machines[m]);
              g_autoptr(SmeltRecommendation) rec =
                smelt_advisor_recommend (t, variants, hw, goal, ctxs[c], NULL);
              const SmeltAdvice *pick = smelt_recommendation_get_pick (rec);

              g_assert_cmpuint (rec->advice->len, ==, variants->len);
              if (pick != NULL)
                {
                  g_assert_cmpint (pick->fit, !=, SMELT_FIT_TOO_LARGE);
                  if (pick->needed_bytes > offered (t, hw, pick->fit))
                    g_error ("%s/%s/%s/%u: %s needs %" G_GUINT64_FORMAT " but %s offers %"
                             G_GUINT64_FORMAT, machines[m].name, listings[l],
                             smelt_goal_to_string (goal), ctxs[c], pick->name, pick->needed_bytes,
                             smelt_fit_to_string (pick->fit), offered (t, hw, pick->fit));
                  g_assert_cmpuint (pick->size_bytes, <=, hw->disk_free_bytes);
                }
              for (guint i = 0; i < rec->advice->len; i++)
                {
                  const SmeltAdvice *a = g_ptr_array_index (rec->advice, i);

                  g_assert_cmpuint (a->needed_bytes, ==, a->size_bytes + rec->kv_bytes);
                  if (a->fit == SMELT_FIT_TOO_LARGE)
                    {
                      g_assert_cmpfloat (a->tokens_per_second, ==, 0);
                      g_assert_cmpuint (a->needed_bytes, >, offered (t, hw, SMELT_FIT_CPU_ONLY));
                    }
                  else
                    {
                      g_assert_cmpfloat (a->tokens_per_second, >, 0);
                      g_assert_cmpuint (a->needed_bytes, <=, offered (t, hw, a->fit));
                    }
                  if (a->fit != SMELT_FIT_FULL_GPU && hw->gpus->len > 0)
                    g_assert_cmpuint (a->needed_bytes, >, offered (t, hw, SMELT_FIT_FULL_GPU));
                }
              checked++;
            }
    }
  g_assert_cmpuint (checked, ==, 2 * G_N_ELEMENTS (machines) * SMELT_GOAL_COUNT * 2);
}

/* The KV formula with a known shape, and the guessed shape said so in the reasons. */
static void
test_kv_cache (void)
{
  g_autoptr(SmeltDecisionTable) t = table ();
  g_autoptr(GPtrArray) variants = load_variants (M);
  g_autoptr(SmeltHwProfile) hw = profile_for (machine_named ("desktop-cpu-32g"));
  SmeltModelInfo llama8b = { 8030000000, 32, 8, 128 };
  g_autoptr(SmeltRecommendation) known = smelt_advisor_recommend (t, variants, hw,
                                                                  SMELT_GOAL_BALANCED, 8192,
                                                                  &llama8b);
  g_autoptr(SmeltRecommendation) guessed = smelt_advisor_recommend (t, variants, hw,
                                                                    SMELT_GOAL_BALANCED, 8192,
                                                                    NULL);
  SmeltModelInfo odd = { 0, 40, 4, 96 };
  g_autoptr(SmeltRecommendation) partial = smelt_advisor_recommend (t, variants, hw,
                                                                    SMELT_GOAL_BALANCED, 1000,
                                                                    &odd);
  const SmeltAdvice *a;
  gboolean said = FALSE;

  /* 2 x 32 layers x 8192 x 8 heads x 128 x 2 bytes = 1 GiB */
  g_assert_cmpuint (known->kv_bytes, ==, G_GUINT64_CONSTANT (1073741824));
  g_assert_false (known->model_guessed);
  g_assert_true (guessed->model_guessed);
  /* 16.07 GB of BF16 at 16 bits per weight: about 8.0e9 parameters, the 32-layer row. */
  g_assert_cmpuint (guessed->model.n_params, ==, 8035000000);
  g_assert_cmpuint (guessed->model.n_layers, ==, 32);
  g_assert_cmpuint (partial->kv_bytes, ==, (guint64) 2 * 40 * 1000 * 4 * 96 * 2);
  a = g_ptr_array_index (guessed->advice, 0);
  for (guint i = 0; i < a->reasons->len; i++)
    said |= strstr (g_ptr_array_index (a->reasons, i), "typical model of this size") != NULL;
  g_assert_true (said);
}

static void
test_json_shape (void)
{
  g_autoptr(SmeltDecisionTable) t = table ();
  g_autoptr(GPtrArray) variants = load_variants (B);
  g_autoptr(SmeltHwProfile) hw = profile_for (machine_named ("rtx3060-12g"));
  g_autoptr(SmeltRecommendation) rec = smelt_advisor_recommend (t, variants, hw,
                                                                SMELT_GOAL_BALANCED, 4096, NULL);
  g_autoptr(JsonNode) node = smelt_recommendation_to_json (rec);
  JsonObject *o = json_node_get_object (node);
  JsonArray *vs = json_object_get_array_member (o, "variants");
  JsonObject *bf16 = NULL;

  g_assert_cmpuint (json_object_get_size (o), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (o, "recommended"), ==,
                   smelt_recommendation_get_pick (rec)->name);
  g_assert_cmpuint (json_array_get_length (vs), ==, variants->len);
  for (guint i = 0; i < json_array_get_length (vs); i++)
    {
      JsonObject *v = json_array_get_object_element (vs, i);
      const char *keys[] = { "name", "files", "size_bytes", "fit", "tokens_per_second",
                             "reasons" };

      g_assert_cmpuint (json_object_get_size (v), ==, G_N_ELEMENTS (keys));
      for (gsize k = 0; k < G_N_ELEMENTS (keys); k++)
        g_assert_true (json_object_has_member (v, keys[k]));
      if (g_ascii_strcasecmp (json_object_get_string_member (v, "name"), "bf16") == 0)
        bf16 = v;
    }
  /* The split BF16 is one variant of two parts whose sizes add up. */
  g_assert_nonnull (bf16);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (bf16, "files")), ==, 2);
  g_assert_cmpint (json_object_get_int_member (bf16, "size_bytes"), ==, 29550000000);
  g_assert_cmpstr (json_object_get_string_member (bf16, "fit"), ==, "partial_offload");
}

/* An unknown format is rated for fit but never picked; an empty list picks nothing. */
static void
test_unknown_and_empty (void)
{
  g_autoptr(SmeltDecisionTable) t = table ();
  g_autoptr(SmeltHwProfile) hw = profile_for (machine_named ("desktop-cpu-32g"));
  g_autoptr(GPtrArray) files =
    g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_hub_file_free);
  g_autoptr(GPtrArray) variants = NULL;
  g_autoptr(GPtrArray) none = g_ptr_array_new ();
  g_autoptr(SmeltRecommendation) rec = NULL;
  g_autoptr(SmeltRecommendation) empty = NULL;

  g_ptr_array_add (files, smelt_hub_file_new ("m-TQ1_0.gguf", 2000000000, NULL));
  g_ptr_array_add (files, smelt_hub_file_new ("m-Q4_K_M.gguf", 4900000000, NULL));
  variants = smelt_hub_variants_from_files (files);
  g_assert_cmpuint (variants->len, ==, 2);
  rec = smelt_advisor_recommend (t, variants, hw, SMELT_GOAL_SPEED, 4096, NULL);
  g_assert_cmpstr (smelt_recommendation_get_pick (rec)->name, ==, "Q4_K_M");
  for (guint i = 0; i < rec->advice->len; i++)
    {
      const SmeltAdvice *a = g_ptr_array_index (rec->advice, i);

      if (g_str_equal (a->name, "TQ1_0"))
        {
          g_assert_false (a->recommendable);
          g_assert_cmpint (a->fit, ==, SMELT_FIT_CPU_ONLY);
        }
    }
  empty = smelt_advisor_recommend (t, none, hw, SMELT_GOAL_SPEED, 4096, NULL);
  g_assert_null (smelt_recommendation_get_pick (empty));
}

/* Not enough disk space keeps a variant from being picked even when memory allows it. */
static void
test_disk_space (void)
{
  g_autoptr(SmeltDecisionTable) t = table ();
  g_autoptr(GPtrArray) variants = load_variants (M);
  g_autoptr(SmeltHwProfile) hw = profile_for (machine_named ("server-avx512-bf16-256g"));
  g_autoptr(SmeltRecommendation) rec = NULL;

  hw->disk_free_bytes = (guint64) (9 * GB);
  rec = smelt_advisor_recommend (t, variants, hw, SMELT_GOAL_QUALITY, 4096, NULL);
  g_assert_cmpstr (smelt_recommendation_get_pick (rec)->name, ==, "q8_0");
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (expects); i++)
    {
      g_autofree char *path = g_strdup_printf ("/advisor/pick/%s/%s/%s", expects[i].machine,
                                               expects[i].listing,
                                               smelt_goal_to_string (expects[i].goal));

      g_test_add_data_func (path, &expects[i], test_expectation);
    }
  g_test_add_func ("/advisor/invariants", test_invariants);
  g_test_add_func ("/advisor/kv-cache", test_kv_cache);
  g_test_add_func ("/advisor/json-shape", test_json_shape);
  g_test_add_func ("/advisor/unknown-and-empty", test_unknown_and_empty);
  g_test_add_func ("/advisor/disk-space", test_disk_space);
  return g_test_run ();
}
