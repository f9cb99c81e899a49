/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-advisor.h: which file of a repo to download for this machine, and why.
 *
 * Input: the repo's quant variants (smelt-hub-variants.h), a hardware profile (smelt-hw.h), a
 * goal (speed, balanced, quality) and a context length, whose KV cache
 * (2 x layers x ctx x kv_heads x head_dim x 2 bytes, F16 keys and values) counts against memory.
 * Output: every variant with where it fits (full GPU, partial offload, CPU only, too large), an
 * estimate of tokens per second (memory bandwidth over the bytes read per token), reasons in plain
 * translated words, and one recommended variant. The recommended variant always fits, with the
 * table's headroom kept free, in the memory its fit names. Pure computation over its inputs: no
 * I/O, any thread. What counts as better lives in the decision table, not here.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "smelt-decision-table.h"
#include "smelt-hub-variants.h"
#include "smelt-hw.h"

G_BEGIN_DECLS

typedef struct
{
  guint64 n_params;   /* parameters; 0 = unknown (estimated from the files) */
  guint   n_layers;   /* 0 = unknown: the table's typical shape for the size is used */
  guint   n_kv_heads;
  guint   head_dim;
} SmeltModelInfo;

typedef struct
{
  char      *name;              /* the variant's label as the repo spells it */
  char      *quant;             /* normalised label; the table key */
  char     **files;             /* repo paths in part order */
  guint64    size_bytes;        /* the files together */
  SmeltFit   fit;
  double     tokens_per_second; /* 0 when too large or the bandwidth is unknown */
  GPtrArray *reasons;           /* (element-type utf8) translated sentences */
  guint64    needed_bytes;      /* weights + KV cache */
  guint64    budget_bytes;      /* what the fit's memory offers after headroom (>= needed unless
                                   too large) */
  double     score;             /* table quality + rule bonuses; meaningful when recommendable */
  gboolean   recommendable;     /* a known format that fits, runs on the device, fits on disk */
} SmeltAdvice;

typedef struct
{
  GPtrArray     *advice;      /* (element-type SmeltAdvice) in the variants' order */
  int            recommended; /* index into advice, -1 when nothing fits */
  guint64        kv_bytes;    /* KV cache at the requested context */
  SmeltModelInfo model;       /* the shape used, defaults filled in */
  gboolean       model_guessed;
} SmeltRecommendation;

void smelt_recommendation_free (SmeltRecommendation *rec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmeltRecommendation, smelt_recommendation_free)

/* Rates every variant (element-type SmeltHubVariant, borrowed) for hw and picks one for goal.
 * ctx is the context length in tokens (0 = 4096); model may be NULL. Never fails: an empty list
 * or a machine too small gives recommended = -1. */
SmeltRecommendation *smelt_advisor_recommend (const SmeltDecisionTable *table,
                                              GPtrArray                *variants,
                                              const SmeltHwProfile     *hw,
                                              SmeltGoal                 goal,
                                              guint                     ctx,
                                              const SmeltModelInfo     *model);

/* The recommended advice, or NULL. */
const SmeltAdvice *smelt_recommendation_get_pick (const SmeltRecommendation *rec);

/* The `smelt recommend --json` shape: {"recommended":NAME|null,"variants":[{"name","files",
 * "size_bytes","fit","tokens_per_second","reasons"}]}. */
JsonNode *smelt_recommendation_to_json (const SmeltRecommendation *rec);

G_END_DECLS
