/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-advisor.c: applies the decision table to a repo's variants on one machine (see
 * smelt-advisor.h). The memory arithmetic and the rule interpreter live here; the preferences
 * themselves are rows and rules in data/decision-table.json.
 */
#include "config.h"

#include "smelt-advisor.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <string.h>

#define DEFAULT_CTX 4096

/* Where a variant would run: the memory pools of the machine after the table's headroom. */
typedef struct
{
  const SmeltHwGpu *gpu;           /* the GPU with the most free memory, or NULL */
  guint64           gpu_budget;    /* bytes the weights + KV may take on it */
  guint64           ram_budget;    /* bytes they may take in RAM */
  guint64           combined;      /* GPU + RAM for partial offload (no double count for unified) */
  double            cpu_bw;        /* bytes/s, 0 unknown */
  double            gpu_bw;
  gboolean          cpu_bf16, cpu_fp16;
} Pools;

static void
advice_free (SmeltAdvice *a)
{
  g_free (a->name);
  g_free (a->quant);
  g_strfreev (a->files);
  g_clear_pointer (&a->reasons, g_ptr_array_unref);
  g_free (a);
}

void
smelt_recommendation_free (SmeltRecommendation *rec)
{
  if (rec == NULL)
    return;
  g_clear_pointer (&rec->advice, g_ptr_array_unref);
  g_free (rec);
}

const SmeltAdvice *
smelt_recommendation_get_pick (const SmeltRecommendation *rec)
{
  g_return_val_if_fail (rec != NULL, NULL);
  if (rec->recommended < 0 || (guint) rec->recommended >= rec->advice->len)
    return NULL;
  return g_ptr_array_index (rec->advice, rec->recommended);
}

static guint64
sat_sub (guint64 a,
         guint64 b)
{
  return a > b ? a - b : 0;
}

static gboolean
cpu_has_any (const SmeltHwProfile *hw,
             char *const          *features)
{
  for (guint i = 0; features != NULL && features[i] != NULL; i++)
    if (smelt_hw_profile_has_feature (hw, features[i]))
      return TRUE;
  return FALSE;
}

static double
estimate_gpu_bandwidth (const SmeltDecisionTable *table,
                        const SmeltHwGpu         *gpu)
{
  double bw = 0;

  for (guint i = 0; i < table->gpu_bandwidth->len; i++)
    {
      const SmeltBandwidthEstimate *e = &g_array_index (table->gpu_bandwidth,
                                                        SmeltBandwidthEstimate, i);

      if ((double) gpu->vram_total_bytes >= e->vram_at_least)
        bw = e->bytes_per_second;
    }
  return bw;
}

static void
compute_pools (const SmeltDecisionTable *table,
               const SmeltHwProfile     *hw,
               Pools                    *p)
{
  memset (p, 0, sizeof *p);
  p->ram_budget = sat_sub (hw->memory_available_bytes,
                           smelt_decision_table_headroom (table, hw->memory_total_bytes));
  p->cpu_bw = hw->memory_bandwidth_bytes_per_second;
  p->cpu_bf16 = cpu_has_any (hw, table->cpu_bf16_features);
  p->cpu_fp16 = cpu_has_any (hw, table->cpu_fp16_features);

  /* One GPU takes the offload: the one with the most free memory. */
  for (guint i = 0; i < hw->gpus->len; i++)
    {
      const SmeltHwGpu *g = g_ptr_array_index (hw->gpus, i);

      if (g->vram_total_bytes == 0)
        continue;
      if (p->gpu == NULL || g->vram_free_bytes > p->gpu->vram_free_bytes)
        p->gpu = g;
    }
  if (p->gpu != NULL)
    {
      guint64 free = p->gpu->vram_free_bytes;

      /* An integrated GPU's memory is system RAM: it can never hold more than RAM has free. */
      if (p->gpu->unified_memory)
        free = MIN (free, hw->memory_available_bytes);
      p->gpu_budget = sat_sub (free, smelt_decision_table_headroom (table,
                                                                    p->gpu->vram_total_bytes));
      p->combined = p->gpu->unified_memory ? MAX (p->ram_budget, p->gpu_budget)
                                           : p->ram_budget + p->gpu_budget;
      if (p->gpu->bandwidth_bytes_per_second > 0)
        p->gpu_bw = p->gpu->bandwidth_bytes_per_second;
      else if (p->gpu->unified_memory)
        p->gpu_bw = p->cpu_bw;
      else
        p->gpu_bw = estimate_gpu_bandwidth (table, p->gpu);
    }
  else
    p->combined = p->ram_budget;
}

static void
fill_model (const SmeltDecisionTable *table,
            GPtrArray                *variants,
            const SmeltModelInfo     *given,
            SmeltRecommendation      *rec)
{
  SmeltModelInfo m = { 0 };
  const SmeltModelShapeRow *shape = NULL;

  if (given != NULL)
    m = *given;
  if (m.n_params == 0)
    {
      /* Parameters from the file sizes: the size of the variant with the most bits per weight,
       * divided by them. Its typical bits per weight is the least uncertain (exactly 16 for
       * BF16/F16; low-bit mixes vary a lot from model to model). */
      double best_bpw = 0;

      for (guint i = 0; i < variants->len; i++)
        {
          const SmeltHubVariant *v = g_ptr_array_index (variants, i);
          const SmeltFormatRow *row = smelt_decision_table_lookup (table, v->quant);

          if (row == NULL || row->bits_per_weight <= best_bpw)
            continue;
          best_bpw = row->bits_per_weight;
          m.n_params = (guint64) ((double) v->size_bytes * 8.0 / row->bits_per_weight);
        }
      rec->model_guessed = TRUE;
    }
  if (m.n_layers == 0 || m.n_kv_heads == 0 || m.head_dim == 0)
    {
      for (guint i = 0; i < table->model_shapes->len && shape == NULL; i++)
        {
          const SmeltModelShapeRow *r = &g_array_index (table->model_shapes, SmeltModelShapeRow, i);

          if ((double) m.n_params <= r->params_up_to)
            shape = r;
        }
      if (shape == NULL)
        shape = &g_array_index (table->model_shapes, SmeltModelShapeRow,
                                table->model_shapes->len - 1);
      if (m.n_layers == 0)
        m.n_layers = shape->layers;
      if (m.n_kv_heads == 0)
        m.n_kv_heads = shape->kv_heads;
      if (m.head_dim == 0)
        m.head_dim = shape->head_dim;
      rec->model_guessed = TRUE;
    }
  rec->model = m;
}

static gboolean
strv_has (char *const *v,
          const char  *s)
{
  return v != NULL && s != NULL && g_strv_contains ((const char *const *) v, s);
}

static gboolean
device_has (const Pools *p,
            SmeltFit     fit,
            const char  *cap)
{
  gboolean gpu_cap = FALSE, cpu_cap = FALSE;

  if (g_str_equal (cap, "bf16"))
    {
      gpu_cap = p->gpu != NULL && p->gpu->bf16;
      cpu_cap = p->cpu_bf16;
    }
  else if (g_str_equal (cap, "fp16"))
    {
      gpu_cap = p->gpu != NULL && p->gpu->fp16;
      cpu_cap = p->cpu_fp16;
    }
  switch (fit)
    {
    case SMELT_FIT_FULL_GPU:
    case SMELT_FIT_PARTIAL_OFFLOAD:
      /* Offloaded layers are the GPU's; the CPU's share still runs, converted, where the CPU
       * lacks the arithmetic. The model cards speak of the GPU. */
      return gpu_cap;
    case SMELT_FIT_CPU_ONLY:
    case SMELT_FIT_TOO_LARGE:
    case SMELT_FIT_COUNT:
    default:
      return cpu_cap;
    }
}

static gboolean
rule_applies (const SmeltRule      *rule,
              const SmeltHwProfile *hw,
              const Pools          *p,
              SmeltGoal             goal,
              SmeltFit              fit)
{
  guint64 memory;

  if (rule->goals != 0 && !(rule->goals & (1u << goal)))
    return FALSE;
  if (rule->fits != 0 && !(rule->fits & (1u << fit)))
    return FALSE;
  if (rule->archs != NULL && !strv_has (rule->archs, hw->arch))
    return FALSE;
  if (rule->gpu_vendors != NULL
      && (fit == SMELT_FIT_CPU_ONLY || fit == SMELT_FIT_TOO_LARGE || p->gpu == NULL
          || !strv_has (rule->gpu_vendors, p->gpu->vendor)))
    return FALSE;
  if (rule->device_has != NULL && !device_has (p, fit, rule->device_has))
    return FALSE;
  if (rule->device_lacks != NULL && device_has (p, fit, rule->device_lacks))
    return FALSE;
  memory = fit == SMELT_FIT_FULL_GPU && p->gpu != NULL ? p->gpu->vram_total_bytes
                                                       : hw->memory_total_bytes;
  if (memory < rule->memory_at_least_bytes)
    return FALSE;
  if (rule->memory_below_bytes != 0 && memory >= rule->memory_below_bytes)
    return FALSE;
  return TRUE;
}

static gboolean
label_matches (const char           *pattern,
               const SmeltFormatRow *row,
               const char           *quant)
{
  if (g_pattern_match_simple (pattern, row->name))
    return TRUE;
  return quant != NULL && g_pattern_match_simple (pattern, quant);
}

static void
add_reason (SmeltAdvice *a,
            char        *text)
{
  g_ptr_array_add (a->reasons, text);
}

static char *
size_text (guint64 bytes)
{
  return g_format_size (bytes);
}

static void
explain_fit (SmeltAdvice *a,
             const Pools *p)
{
  g_autofree char *need = size_text (a->needed_bytes);
  g_autofree char *budget = size_text (a->budget_bytes);

  switch (a->fit)
    {
    case SMELT_FIT_FULL_GPU:
      /* Translators: first %s is a size like "9.0 GB", then the GPU's name, then a size. */
      add_reason (a, g_strdup_printf (_("Fits entirely on the GPU: needs %s of the %s's %s "
                                        "usable memory, with headroom kept free."),
                                      need, p->gpu->name, budget));
      break;
    case SMELT_FIT_PARTIAL_OFFLOAD:
      {
        g_autofree char *gpu = size_text (p->gpu_budget);
        double share = (double) p->gpu_budget / (double) MAX (a->needed_bytes, 1);
        int pct = (int) MIN (99.0, 100.0 * share);

        add_reason (a, g_strdup_printf (_("Too big for the GPU alone: about %d%% of it (%s) can be "
                                          "offloaded to the %s, the rest runs from RAM; %s needed "
                                          "of %s usable."),
                                        pct, gpu, p->gpu->name, need, budget));
      }
      break;
    case SMELT_FIT_CPU_ONLY:
      add_reason (a, g_strdup_printf (_("Runs on the CPU from RAM: needs %s of %s usable."),
                                      need, budget));
      break;
    case SMELT_FIT_TOO_LARGE:
    case SMELT_FIT_COUNT:
    default:
      add_reason (a, g_strdup_printf (_("Too large for this machine: needs %s, but only %s is "
                                        "usable after headroom."),
                                      need, budget));
      break;
    }
}

static double
estimate_tps (const SmeltDecisionTable *table,
              const Pools              *p,
              SmeltFit                  fit,
              guint64                   bytes)
{
  double eff = table->bandwidth_efficiency, b = (double) MAX (bytes, 1);

  switch (fit)
    {
    case SMELT_FIT_FULL_GPU:
      return p->gpu_bw > 0 ? eff * p->gpu_bw / b : 0;
    case SMELT_FIT_PARTIAL_OFFLOAD:
      {
        /* The GPU reads its share of the weights while the CPU reads the rest, in turn. */
        double on_gpu = MIN (1.0, (double) p->gpu_budget / b);
        double t;

        if (p->gpu_bw <= 0 || p->cpu_bw <= 0)
          return 0;
        t = on_gpu * b / p->gpu_bw + (1.0 - on_gpu) * b / p->cpu_bw;
        return eff / t;
      }
    case SMELT_FIT_CPU_ONLY:
      return p->cpu_bw > 0 ? eff * p->cpu_bw / b : 0;
    case SMELT_FIT_TOO_LARGE:
    case SMELT_FIT_COUNT:
    default:
      return 0;
    }
}

static SmeltAdvice *
rate_variant (const SmeltDecisionTable  *table,
              const SmeltHubVariant     *v,
              const SmeltHwProfile      *hw,
              const Pools               *p,
              SmeltGoal                  goal,
              const SmeltRecommendation *rec,
              guint                      ctx)
{
  SmeltAdvice *a = g_new0 (SmeltAdvice, 1);
  const SmeltFormatRow *row = smelt_decision_table_lookup (table, v->quant);
  g_autoptr(GStrvBuilder) files = g_strv_builder_new ();

  a->name = g_strdup (v->name);
  a->quant = g_strdup (v->quant);
  for (guint i = 0; v->files != NULL && i < v->files->len; i++)
    g_strv_builder_add (files, ((const SmeltHubFile *) g_ptr_array_index (v->files, i))->path);
  a->files = g_strv_builder_end (files);
  a->size_bytes = v->size_bytes;
  a->reasons = g_ptr_array_new_with_free_func (g_free);
  a->needed_bytes = v->size_bytes + rec->kv_bytes;

  if (p->gpu != NULL && a->needed_bytes <= p->gpu_budget)
    {
      a->fit = SMELT_FIT_FULL_GPU;
      a->budget_bytes = p->gpu_budget;
    }
  else if (p->gpu != NULL && p->gpu_budget >= table->partial_offload_min_gpu_bytes
           && a->needed_bytes <= p->combined)
    {
      a->fit = SMELT_FIT_PARTIAL_OFFLOAD;
      a->budget_bytes = p->combined;
    }
  else if (a->needed_bytes <= p->ram_budget)
    {
      a->fit = SMELT_FIT_CPU_ONLY;
      a->budget_bytes = p->ram_budget;
    }
  else
    {
      a->fit = SMELT_FIT_TOO_LARGE;
      a->budget_bytes = MAX (p->combined, p->ram_budget);
    }
  explain_fit (a, p);

  a->tokens_per_second = estimate_tps (table, p, a->fit, a->needed_bytes);
  if (a->fit != SMELT_FIT_TOO_LARGE)
    {
      if (a->tokens_per_second > 0)
        add_reason (a, g_strdup_printf (_("About %.1f tokens per second: each token reads the "
                                          "weights and the KV cache once from memory."),
                                        a->tokens_per_second));
      else
        add_reason (a, g_strdup (_("The memory bandwidth is unknown, so there is no speed "
                                   "estimate.")));
    }

  {
    g_autofree char *kv = size_text (rec->kv_bytes);

    if (rec->model_guessed)
      add_reason (a, g_strdup_printf (_("Includes %s for the KV cache of %u tokens, estimated "
                                        "from a typical model of this size (%u layers, %u KV "
                                        "heads of %u) because the repo does not say."),
                                      kv, ctx, rec->model.n_layers, rec->model.n_kv_heads,
                                      rec->model.head_dim));
    else
      add_reason (a, g_strdup_printf (_("Includes %s for the KV cache of %u tokens."), kv, ctx));
  }

  if (row == NULL)
    {
      add_reason (a, g_strdup_printf (_("Smelt does not know the format %s, so it does not "
                                        "recommend it."),
                                      v->quant != NULL ? v->quant : v->name));
      return a;
    }

  add_reason (a, g_strdup_printf ("%s %s", smelt_decision_table_text (row->precision),
                                  smelt_decision_table_text (row->best_use)));
  a->score = row->quality;
  a->recommendable = a->fit != SMELT_FIT_TOO_LARGE;

  if (row->requires != NULL && a->fit != SMELT_FIT_TOO_LARGE
      && !device_has (p, a->fit, row->requires))
    {
      add_reason (a, g_strdup_printf (_("Needs native %s arithmetic, which the hardware it would "
                                        "run on lacks."),
                                      g_str_equal (row->requires, "bf16") ? "BF16" : "FP16"));
      a->recommendable = FALSE;
    }

  for (guint r = 0; r < table->rules->len && a->fit != SMELT_FIT_TOO_LARGE; r++)
    {
      const SmeltRule *rule = g_ptr_array_index (table->rules, r);
      gboolean touched = FALSE;

      if (!rule_applies (rule, hw, p, goal, a->fit))
        continue;
      for (guint i = 0; i < rule->bonus.n; i++)
        if (rule->bonus.points[i] != 0
            && label_matches (rule->bonus.patterns[i], row, v->quant))
          {
            a->score += rule->bonus.points[i];
            touched = TRUE;
          }
      /* A cap explains both sides: why bigger files are passed over and why this one is not. */
      if (rule->max_bits_per_weight > 0)
        {
          if (row->bits_per_weight > rule->max_bits_per_weight)
            a->recommendable = FALSE;
          touched = TRUE;
        }
      if (touched)
        add_reason (a, g_strdup (smelt_decision_table_text (rule->reason)));
    }

  if (hw->disk_path != NULL && hw->disk_free_bytes > 0 && v->size_bytes > hw->disk_free_bytes)
    {
      g_autofree char *free = size_text (hw->disk_free_bytes);

      add_reason (a, g_strdup_printf (_("Only %s of disk space is free where models are stored: "
                                        "not enough to download it."),
                                      free));
      a->recommendable = FALSE;
    }
  return a;
}

/* Better: higher score; at equal score the higher-quality format, then the smaller file. */
static gboolean
better (const SmeltAdvice *a,
        const SmeltAdvice *b,
        int                qa,
        int                qb)
{
  if (b == NULL)
    return TRUE;
  if (a->score != b->score)
    return a->score > b->score;
  if (qa != qb)
    return qa > qb;
  return a->size_bytes < b->size_bytes;
}

SmeltRecommendation *
smelt_advisor_recommend (const SmeltDecisionTable *table,
                         GPtrArray                *variants,
                         const SmeltHwProfile     *hw,
                         SmeltGoal                 goal,
                         guint                     ctx,
                         const SmeltModelInfo     *model)
{
  SmeltRecommendation *rec;
  const SmeltGoalPolicy *pol;
  Pools pools;
  int fallback = -1;

  g_return_val_if_fail (table != NULL && variants != NULL && hw != NULL, NULL);
  g_return_val_if_fail (goal < SMELT_GOAL_COUNT, NULL);

  if (ctx == 0)
    ctx = DEFAULT_CTX;
  rec = g_new0 (SmeltRecommendation, 1);
  rec->advice = g_ptr_array_new_with_free_func ((GDestroyNotify) advice_free);
  rec->recommended = -1;
  fill_model (table, variants, model, rec);
  /* Keys and values, F16: 2 tensors x layers x ctx x kv_heads x head_dim x 2 bytes. */
  rec->kv_bytes = (guint64) 2 * rec->model.n_layers * ctx * (guint64) rec->model.n_kv_heads
                  * rec->model.head_dim * 2;

  compute_pools (table, hw, &pools);
  for (guint i = 0; i < variants->len; i++)
    g_ptr_array_add (rec->advice, rate_variant (table, g_ptr_array_index (variants, i), hw,
                                                &pools, goal, rec, ctx));

  pol = &table->goals[goal];
  for (guint t = 0; t < pol->n_tiers && rec->recommended < 0; t++)
    {
      const SmeltAdvice *best = NULL;
      int best_i = -1, best_q = 0;

      for (guint i = 0; i < rec->advice->len; i++)
        {
          const SmeltAdvice *a = g_ptr_array_index (rec->advice, i);
          const SmeltFormatRow *row;

          if (!a->recommendable || !(pol->tiers[t] & (1u << a->fit)))
            continue;
          row = smelt_decision_table_lookup (table, a->quant);
          if (better (a, best, row->quality, best_q))
            {
              best = a;
              best_i = (int) i;
              best_q = row->quality;
            }
        }
      if (best == NULL)
        continue;
      if (t + 1 == pol->n_tiers || best_q >= pol->tier_min_quality)
        rec->recommended = best_i;
      else if (fallback < 0)
        fallback = best_i;
    }
  if (rec->recommended < 0)
    rec->recommended = fallback;

  if (rec->recommended >= 0)
    {
      SmeltAdvice *pick = g_ptr_array_index (rec->advice, rec->recommended);
      const char *why;

      switch (goal)
        {
        case SMELT_GOAL_SPEED:
          why = _("Recommended for speed: the best file that runs in the fastest memory this "
                  "machine has room in.");
          break;
        case SMELT_GOAL_QUALITY:
          why = _("Recommended for quality: the most faithful file that fits in RAM and VRAM "
                  "together.");
          break;
        case SMELT_GOAL_BALANCED:
        case SMELT_GOAL_COUNT:
        default:
          why = _("Recommended as the balance of quality and speed for this machine.");
          break;
        }
      g_ptr_array_insert (pick->reasons, 0, g_strdup (why));
    }
  return rec;
}

JsonNode *
smelt_recommendation_to_json (const SmeltRecommendation *rec)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  const SmeltAdvice *pick;

  g_return_val_if_fail (rec != NULL, NULL);

  pick = smelt_recommendation_get_pick (rec);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "recommended");
  if (pick != NULL)
    json_builder_add_string_value (b, pick->name);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "variants");
  json_builder_begin_array (b);
  for (guint i = 0; i < rec->advice->len; i++)
    {
      const SmeltAdvice *a = g_ptr_array_index (rec->advice, i);

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, a->name);
      json_builder_set_member_name (b, "files");
      json_builder_begin_array (b);
      for (guint k = 0; a->files[k] != NULL; k++)
        json_builder_add_string_value (b, a->files[k]);
      json_builder_end_array (b);
      json_builder_set_member_name (b, "size_bytes");
      json_builder_add_int_value (b, (gint64) a->size_bytes);
      json_builder_set_member_name (b, "fit");
      json_builder_add_string_value (b, smelt_fit_to_string (a->fit));
      json_builder_set_member_name (b, "tokens_per_second");
      json_builder_add_double_value (b, round (a->tokens_per_second * 10.0) / 10.0);
      json_builder_set_member_name (b, "reasons");
      json_builder_begin_array (b);
      for (guint k = 0; k < a->reasons->len; k++)
        json_builder_add_string_value (b, g_ptr_array_index (a->reasons, k));
      json_builder_end_array (b);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}
