/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-decision-table.h: data/decision-table.json in memory: one row per quant format
 * (precision, bits per weight, quality rank, device requirements, best use) and the model cards'
 * rules (BF16 on BF16 hardware, Q4_K for CPUs, Q4_0 on ARM, I-quants below 4 bits on CUDA/ROCm,
 * the 1-2 GB of headroom, ...) as data the advisor interprets, never as if-chains in C.
 *
 * The table is compiled into the binary as a GResource; SMELT_DECISION_TABLE (a file path) or an
 * explicit path replaces it, for tests. Its English texts are translated at lookup through gettext;
 * smelt-decision-table-strings.h lists them for xgettext. Not the recommendation itself
 * (smelt-advisor.h).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define SMELT_DECISION_TABLE_RESOURCE "/io/github/smeltapp/Smelt/advisor/decision-table.json"

#define SMELT_DECISION_TABLE_ERROR (smelt_decision_table_error_quark ())

typedef enum
{
  SMELT_DECISION_TABLE_ERROR_LOAD,    /* the file or resource cannot be read */
  SMELT_DECISION_TABLE_ERROR_INVALID, /* JSON that does not follow the table's shape */
} SmeltDecisionTableError;

GQuark smelt_decision_table_error_quark (void);

typedef enum
{
  SMELT_FIT_FULL_GPU,        /* weights and KV cache in one GPU's memory */
  SMELT_FIT_PARTIAL_OFFLOAD, /* some layers on the GPU, the rest in RAM */
  SMELT_FIT_CPU_ONLY,        /* all in RAM, computed by the CPU */
  SMELT_FIT_TOO_LARGE,       /* does not fit anywhere */
  SMELT_FIT_COUNT,
} SmeltFit;

typedef enum
{
  SMELT_GOAL_SPEED,
  SMELT_GOAL_BALANCED,
  SMELT_GOAL_QUALITY,
  SMELT_GOAL_COUNT,
} SmeltGoal;

typedef struct
{
  char   *name;            /* upper-case label, the key: "Q4_K_M", "BF16-Q8_0" */
  char  **aliases;         /* other labels for the same format ("Q4_K") */
  double  bits_per_weight; /* typical over a whole model */
  int     quality;         /* 0..100, higher is closer to the original */
  char   *kind;            /* "float", "mixed", "legacy", "k-quant", "i-quant" */
  char   *requires;        /* capability the device needs ("bf16", "fp16") or NULL */
  char   *precision;       /* English; translate with smelt_decision_table_text() */
  char   *memory;
  char   *devices;
  char   *best_use;
} SmeltFormatRow;

typedef struct
{
  char   **patterns; /* glob patterns on the upper-case quant label */
  double  *points;
  guint    n;
} SmeltRuleBonus;

typedef struct
{
  char          *id;
  /* conditions: every one that is set must hold */
  guint          goals;                 /* bit per SmeltGoal; 0 = any */
  guint          fits;                  /* bit per SmeltFit; 0 = any */
  char         **archs;                 /* NULL = any */
  char         **gpu_vendors;           /* NULL = any; needs a GPU placement */
  char          *device_has;            /* capability of the placement's device */
  char          *device_lacks;
  guint64        memory_at_least_bytes; /* the placement's memory: GPU VRAM or RAM total */
  guint64        memory_below_bytes;    /* 0 = no upper bound */
  /* effects */
  SmeltRuleBonus bonus;                 /* score points for matching labels */
  double         max_bits_per_weight;   /* 0 = no cap */
  char          *reason;                /* English */
} SmeltRule;

typedef struct
{
  guint  tiers[SMELT_FIT_COUNT]; /* each a bit set of SmeltFit, tried in order */
  guint  n_tiers;
  int    tier_min_quality;      /* a tier before the last is taken only if its pick reaches it */
} SmeltGoalPolicy;

typedef struct
{
  double  vram_at_least;
  double  bytes_per_second;
} SmeltBandwidthEstimate;

typedef struct
{
  double params_up_to;
  guint  layers;
  guint  kv_heads;
  guint  head_dim;
} SmeltModelShapeRow;

typedef struct
{
  GPtrArray       *formats;      /* (element-type SmeltFormatRow) */
  GPtrArray       *rules;        /* (element-type SmeltRule) in table order */
  SmeltGoalPolicy  goals[SMELT_GOAL_COUNT];
  guint64          headroom_min_bytes;
  guint64          headroom_max_bytes;
  double           headroom_fraction;
  guint64          partial_offload_min_gpu_bytes;
  double           bandwidth_efficiency; /* share of the peak bandwidth inference reaches */
  char           **cpu_bf16_features;    /* CPU features that give BF16 arithmetic */
  char           **cpu_fp16_features;
  GArray          *gpu_bandwidth;        /* (element-type SmeltBandwidthEstimate) ascending */
  GArray          *model_shapes;         /* (element-type SmeltModelShapeRow) ascending */
} SmeltDecisionTable;

/* Loads the table: from path when non-NULL, else from the file named by SMELT_DECISION_TABLE when
 * set, else from the compiled-in resource. Validates every row and rule. */
SmeltDecisionTable *smelt_decision_table_load (const char *path,
                                               GError    **error);

/* Parses a table from JSON text (length -1 = NUL-terminated). */
SmeltDecisionTable *smelt_decision_table_new_from_data (const char *data,
                                                        gssize      length,
                                                        GError    **error);

void smelt_decision_table_free (SmeltDecisionTable *table);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmeltDecisionTable, smelt_decision_table_free)

/* The row for an upper-case label or one of its aliases; NULL when the table has none. */
const SmeltFormatRow *smelt_decision_table_lookup (const SmeltDecisionTable *table,
                                                   const char               *quant);

/* The headroom kept free in a memory pool of that size: fraction of it, clamped to min..max. */
guint64 smelt_decision_table_headroom (const SmeltDecisionTable *table,
                                       guint64                   pool_bytes);

/* A table text in the user's language (gettext, domain GETTEXT_PACKAGE); English when
 * untranslated. */
const char *smelt_decision_table_text (const char *english);

const char *smelt_fit_to_string (SmeltFit fit);
gboolean    smelt_fit_from_string (const char *text,
                                   SmeltFit   *fit);
const char *smelt_goal_to_string (SmeltGoal goal);
gboolean    smelt_goal_from_string (const char *text,
                                    SmeltGoal  *goal);

G_END_DECLS
