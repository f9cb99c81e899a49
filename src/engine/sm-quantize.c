/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-quantize.c: the per-tensor type choice of the model quantizer (formats.md section 5) and the
 * TYPE table. Pure functions over a tensor list; reading and writing files is in
 * sm-quantize-file.c. The mix rules are written as small per-ftype tables where the source is a
 * table, and as code where it is a decision with counters.
 */
#include "sm-quantize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- TYPE table ---- */

static const sm_quantize_ftype_info ftypes[] = {
  { "Q8_0", SM_FTYPE_MOSTLY_Q8_0, SM_TYPE_Q8_0, "8.50 bpw, nearly lossless" },
  { "Q6_K", SM_FTYPE_MOSTLY_Q6_K, SM_TYPE_Q6_K, "6.56 bpw" },
  { "Q5_K_M", SM_FTYPE_MOSTLY_Q5_K_M, SM_TYPE_Q5_K, "Q5_K, attn_v/ffn_down partly Q6_K" },
  { "Q5_K_S", SM_FTYPE_MOSTLY_Q5_K_S, SM_TYPE_Q5_K, "Q5_K throughout" },
  { "Q5_1", SM_FTYPE_MOSTLY_Q5_1, SM_TYPE_Q5_1, "6.0 bpw, legacy" },
  { "Q5_0", SM_FTYPE_MOSTLY_Q5_0, SM_TYPE_Q5_0, "5.5 bpw, legacy" },
  { "Q4_K_M", SM_FTYPE_MOSTLY_Q4_K_M, SM_TYPE_Q4_K, "Q4_K, attn_v/ffn_down partly Q6_K" },
  { "Q4_K_S", SM_FTYPE_MOSTLY_Q4_K_S, SM_TYPE_Q4_K, "Q4_K, a few layers Q5_K" },
  { "Q4_1", SM_FTYPE_MOSTLY_Q4_1, SM_TYPE_Q4_1, "5.0 bpw, legacy" },
  { "Q4_0", SM_FTYPE_MOSTLY_Q4_0, SM_TYPE_Q4_0, "4.5 bpw, legacy" },
  { "IQ4_NL", SM_FTYPE_MOSTLY_IQ4_NL, SM_TYPE_IQ4_NL, "4.5 bpw, non-linear" },
  { "IQ4_XS", SM_FTYPE_MOSTLY_IQ4_XS, SM_TYPE_IQ4_XS, "4.25 bpw, non-linear" },
  { "Q3_K_L", SM_FTYPE_MOSTLY_Q3_K_L, SM_TYPE_Q3_K, "Q3_K, attn_v/ffn_down/attn_output Q5_K" },
  { "Q3_K_M", SM_FTYPE_MOSTLY_Q3_K_M, SM_TYPE_Q3_K, "Q3_K, attn_v/ffn_down/attn_output Q4_K/Q5_K" },
  { "Q3_K_S", SM_FTYPE_MOSTLY_Q3_K_S, SM_TYPE_Q3_K, "Q3_K throughout" },
  { "Q2_K", SM_FTYPE_MOSTLY_Q2_K, SM_TYPE_Q2_K, "Q2_K, attn_v/ffn_down/attn_output Q3_K/Q4_K" },
  { "F16", SM_FTYPE_MOSTLY_F16, SM_TYPE_F16, "16-bit IEEE half" },
  { "BF16", SM_FTYPE_MOSTLY_BF16, SM_TYPE_BF16, "16-bit bfloat" },
};

static const struct
{
  const char *alias;
  const char *name;
} ftype_aliases[] = {
  { "Q3_K", "Q3_K_M" },
  { "Q4_K", "Q4_K_M" },
  { "Q5_K", "Q5_K_M" },
};

size_t
sm_quantize_n_ftypes (void)
{
  return sizeof ftypes / sizeof ftypes[0];
}

const sm_quantize_ftype_info *
sm_quantize_ftype_at (size_t i)
{
  return i < sm_quantize_n_ftypes () ? &ftypes[i] : NULL;
}

static const sm_quantize_ftype_info *
ftype_find (sm_ftype ftype)
{
  for (size_t i = 0; i < sm_quantize_n_ftypes (); i++)
    if (ftypes[i].ftype == ftype)
      return &ftypes[i];
  return NULL;
}

const sm_quantize_ftype_info *
sm_quantize_ftype_lookup (const char *name)
{
  char *end;
  long v;

  if (name == NULL || *name == '\0')
    return NULL;
  for (size_t i = 0; i < sm_quantize_n_ftypes (); i++)
    if (strcasecmp (ftypes[i].name, name) == 0)
      return &ftypes[i];
  for (size_t i = 0; i < sizeof ftype_aliases / sizeof ftype_aliases[0]; i++)
    if (strcasecmp (ftype_aliases[i].alias, name) == 0)
      return sm_quantize_ftype_lookup (ftype_aliases[i].name);
  /* llama-quantize also takes the numeric llama_ftype. */
  v = strtol (name, &end, 10);
  if (*end == '\0' && v >= 0 && v < 1024)
    return ftype_find ((sm_ftype) v);
  return NULL;
}

bool
sm_layer_policy_from_name (const char      *name,
                           sm_layer_policy *out)
{
  if (name != NULL && strcasecmp (name, "dynamic-gate") == 0)
    *out = SM_LAYER_POLICY_DYNAMIC_GATE;
  else if (name != NULL && strcasecmp (name, "none") == 0)
    *out = SM_LAYER_POLICY_NONE;
  else
    return false;
  return true;
}

/* The dynamic-gate mapping; keep in sync with the table in sm-quantize.h, `smelt quantize --help`
 * and README.md. */
static const struct
{
  sm_ftype              ftype;
  sm_dynamic_gate_types t;
} dynamic_gate[] = {
  { SM_FTYPE_MOSTLY_Q2_K, { SM_TYPE_Q2_K, SM_TYPE_Q4_K, SM_TYPE_Q5_K } },
  { SM_FTYPE_MOSTLY_Q3_K_S, { SM_TYPE_Q3_K, SM_TYPE_Q4_K, SM_TYPE_Q5_K } },
  { SM_FTYPE_MOSTLY_Q3_K_M, { SM_TYPE_Q3_K, SM_TYPE_Q5_K, SM_TYPE_Q5_K } },
  { SM_FTYPE_MOSTLY_Q3_K_L, { SM_TYPE_Q3_K, SM_TYPE_Q6_K, SM_TYPE_Q5_K } },
  { SM_FTYPE_MOSTLY_Q4_K_S, { SM_TYPE_Q4_K, SM_TYPE_Q5_K, SM_TYPE_Q5_K } },
  { SM_FTYPE_MOSTLY_Q4_K_M, { SM_TYPE_Q4_K, SM_TYPE_Q6_K, SM_TYPE_Q5_K } },
  { SM_FTYPE_MOSTLY_Q5_K_S, { SM_TYPE_Q5_K, SM_TYPE_Q6_K, SM_TYPE_Q5_K } },
  { SM_FTYPE_MOSTLY_Q5_K_M, { SM_TYPE_Q5_K, SM_TYPE_Q8_0, SM_TYPE_Q5_K } },
  { SM_FTYPE_MOSTLY_Q6_K, { SM_TYPE_Q6_K, SM_TYPE_Q8_0, SM_TYPE_Q6_K } },
  { SM_FTYPE_MOSTLY_Q4_0, { SM_TYPE_Q4_0, SM_TYPE_Q5_0, SM_TYPE_Q5_K } },
  { SM_FTYPE_MOSTLY_Q4_1, { SM_TYPE_Q4_1, SM_TYPE_Q5_1, SM_TYPE_Q5_K } },
  { SM_FTYPE_MOSTLY_Q5_0, { SM_TYPE_Q5_0, SM_TYPE_Q8_0, SM_TYPE_Q5_K } },
  { SM_FTYPE_MOSTLY_Q5_1, { SM_TYPE_Q5_1, SM_TYPE_Q8_0, SM_TYPE_Q5_K } },
  { SM_FTYPE_MOSTLY_IQ4_NL, { SM_TYPE_IQ4_NL, SM_TYPE_Q5_K, SM_TYPE_Q5_K } },
  { SM_FTYPE_MOSTLY_IQ4_XS, { SM_TYPE_IQ4_XS, SM_TYPE_Q5_K, SM_TYPE_Q5_K } },
};

bool
sm_dynamic_gate_get_types (sm_ftype               ftype,
                           sm_dynamic_gate_types *out)
{
  for (size_t i = 0; i < sizeof dynamic_gate / sizeof dynamic_gate[0]; i++)
    if (dynamic_gate[i].ftype == ftype)
      {
        *out = dynamic_gate[i].t;
        return true;
      }
  return false;
}

sm_quantize_params
sm_quantize_default_params (void)
{
  sm_quantize_params p;

  memset (&p, 0, sizeof p);
  p.ftype = SM_FTYPE_MOSTLY_Q4_K_M;
  p.output_tensor_type = -1;
  p.token_embedding_type = -1;
  p.layer_policy = SM_LAYER_POLICY_NONE;
  return p;
}

bool
sm_quantize_use_more_bits (int i,
                           int n)
{
  return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* ---- Plan ---- */

struct sm_quantize_plan
{
  sm_quantize_plan_entry *entries; /* (n) in loader order */
  size_t                  n;
  size_t                  n_fallback;
};

/* State of one planning run: llama-quantize's quantize_state counters. */
typedef struct
{
  const sm_quantize_params     *params;
  const sm_quantize_model_info *model;
  sm_ftype                      ftype;
  sm_type                       base;
  bool                          falcon;
  bool                          has_output;    /* an output.weight exists (untied) */
  int                           n_layer;       /* layers for the ffn_down rules */
  int                           n_gqa;         /* n_head / n_head_kv */
  int                           n_expert;
  bool                          is_70b;        /* llama.cpp's LLM_TYPE_70B: 80 layers with GQA */
  int                           n_attention_wv;
  int                           i_attention_wv;
  int                           i_ffn_down;
} plan_state;

static bool
has_suffix (const char *s,
            const char *suffix)
{
  size_t ls = strlen (s), lx = strlen (suffix);

  return ls >= lx && memcmp (s + ls - lx, suffix, lx) == 0;
}

/* Layer number of "blk.N.*", -1 for other names. */
static int
layer_of (const char *name)
{
  char *end;
  long v;

  if (strncmp (name, "blk.", 4) != 0)
    return -1;
  v = strtol (name + 4, &end, 10);
  if (end == name + 4 || *end != '.' || v < 0 || v > 1000000)
    return -1;
  return (int) v;
}

/* Name fragments of tensors llama-quantize never quantizes even though they are 2-D "weight"s
 * (formats.md 5.1). */
static const char *const never_quantized[] = {
  "_norm.weight",      /* all norms */
  "ffn_gate_inp.weight", /* MoE router */
  "pos_embd",
  "token_types",
  "ssm_conv1d",
  "time_mix_first.weight", /* RWKV small matrices */
  "time_mix_w0.weight",
  "time_mix_w1.weight",
  "time_mix_w2.weight",
  "time_mix_decay_w1.weight",
  "time_mix_decay_w2.weight",
  "time_mix_lerp_fused.weight",
  "attn_rel_b.weight", /* T5 relative attention bias */
};

/* Returns NULL when the tensor is quantizable, else why not. */
static const char *
why_not_quantizable (const sm_quantize_tensor_desc *t,
                     const sm_quantize_params     *params)
{
  int n_dims = 1;

  for (int d = 1; d < 4 && d < (int) t->n_dims; d++)
    if (t->ne[d] > 1)
      n_dims = d + 1;
  if (n_dims < 2)
    return "1-D: kept";
  if (!has_suffix (t->name, "weight"))
    return "not a weight: kept";
  for (size_t i = 0; i < sizeof never_quantized / sizeof never_quantized[0]; i++)
    if (strstr (t->name, never_quantized[i]) != NULL)
      return "never quantized: kept";
  if (params->leave_output_tensor && strcmp (t->name, "output.weight") == 0)
    return "--leave-output-tensor: kept";
  return NULL;
}

static bool
is_attn_v_like (const char *name)
{
  return strstr (name, "attn_v.weight") != NULL || strstr (name, "attn_qkv.weight") != NULL
         || strstr (name, "attn_kv_b.weight") != NULL;
}

static bool
is_output_like (const plan_state *s,
                const char       *name)
{
  return strcmp (name, "output.weight") == 0
         || (!s->has_output && strcmp (name, "token_embd.weight") == 0);
}

static bool
ftype_in (sm_ftype f, const sm_ftype *list, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (list[i] == f)
      return true;
  return false;
}
#define FTYPE_IN(f, ...)                                                                         \
  ftype_in ((f), (const sm_ftype[]){ __VA_ARGS__ },                                              \
            sizeof ((const sm_ftype[]){ __VA_ARGS__ }) / sizeof (sm_ftype))

#define R(...) snprintf (reason, SM_QUANTIZE_MAX_REASON, __VA_ARGS__)

/* llama-quantize's mix rules (formats.md 5.4-5.7) for a quantizable tensor at base type; writes
 * a reason when it changes the type. Advances the attn_v / ffn_down counters like llama.cpp. */
static sm_type
mix_rules (plan_state                    *s,
           const sm_quantize_tensor_desc *t,
           char                          *reason)
{
  const char *name = t->name;
  sm_ftype f = s->ftype;
  sm_type type = s->base;

  if (is_output_like (s, name))
    {
      const sm_type_traits *tr = sm_type_get_traits (type);

      if (s->falcon || t->ne[0] % tr->blck_size != 0)
        {
          type = SM_TYPE_Q8_0;
          R ("output: %s -> Q8_0", s->falcon ? "falcon" : "row not a multiple of the block");
        }
      else if (type != SM_TYPE_Q8_0)
        {
          type = SM_TYPE_Q6_K;
          R ("output%s: Q6_K", s->has_output ? "" : " (tied token_embd)");
        }
      return type;
    }
  if (strcmp (name, "token_embd.weight") == 0)
    return type; /* the rules for IQ1/IQ2/IQ3_XXS/TQ mixes, which Smelt does not make, only */

  if (is_attn_v_like (name))
    {
      int i = s->i_attention_wv++;

      if (f == SM_FTYPE_MOSTLY_Q2_K)
        {
          type = s->n_gqa >= 4 ? SM_TYPE_Q4_K : SM_TYPE_Q3_K;
          R ("attn_v: Q2_K with n_gqa %d", s->n_gqa);
        }
      else if (f == SM_FTYPE_MOSTLY_Q3_K_M)
        {
          type = i < 2 ? SM_TYPE_Q5_K : SM_TYPE_Q4_K;
          R ("attn_v: Q3_K_M, attn_v #%d", i);
        }
      else if (f == SM_FTYPE_MOSTLY_Q3_K_L)
        {
          type = SM_TYPE_Q5_K;
          R ("attn_v: Q3_K_L");
        }
      else if (FTYPE_IN (f, SM_FTYPE_MOSTLY_IQ4_NL, SM_FTYPE_MOSTLY_IQ4_XS) && s->n_gqa >= 4)
        {
          type = SM_TYPE_Q5_K;
          R ("attn_v: IQ4 with n_gqa %d", s->n_gqa);
        }
      else if (FTYPE_IN (f, SM_FTYPE_MOSTLY_Q4_K_M, SM_FTYPE_MOSTLY_Q5_K_M)
               && sm_quantize_use_more_bits (i, s->n_attention_wv))
        {
          type = SM_TYPE_Q6_K;
          R ("attn_v: use_more_bits(%d, %d)", i, s->n_attention_wv);
        }
      else if (f == SM_FTYPE_MOSTLY_Q4_K_S && i < 4)
        {
          type = SM_TYPE_Q5_K;
          R ("attn_v: Q4_K_S, attn_v #%d < 4", i);
        }
      if (s->is_70b && (type == SM_TYPE_Q3_K || type == SM_TYPE_Q4_K))
        {
          type = SM_TYPE_Q5_K;
          R ("attn_v: 70B with GQA");
        }
      if (s->n_expert == 8)
        {
          type = SM_TYPE_Q8_0;
          R ("attn_v: 8 experts");
        }
      return type;
    }
  if (strstr (name, "attn_k.weight") != NULL)
    {
      if (s->n_expert == 8)
        {
          type = SM_TYPE_Q8_0;
          R ("attn_k: 8 experts");
        }
      return type;
    }
  if (strstr (name, "ffn_down") != NULL)
    {
      int i = s->i_ffn_down++;
      int n = s->n_layer;

      /* For MoE the experts' tensors are not one per layer: llama.cpp parses the layer. */
      if (s->n_expert > 1 && layer_of (name) >= 0)
        i = layer_of (name);

      if (f == SM_FTYPE_MOSTLY_Q2_K)
        {
          type = SM_TYPE_Q3_K;
          R ("ffn_down: Q2_K");
        }
      else if (f == SM_FTYPE_MOSTLY_Q3_K_M)
        {
          if (i < n / 16)
            {
              type = SM_TYPE_Q5_K;
              R ("ffn_down: Q3_K_M, layer %d < %d/16", i, n);
            }
          else if (!s->falcon || sm_quantize_use_more_bits (i, n))
            {
              type = SM_TYPE_Q4_K;
              R ("ffn_down: Q3_K_M");
            }
        }
      else if (f == SM_FTYPE_MOSTLY_Q3_K_L)
        {
          type = s->falcon ? SM_TYPE_Q4_K : SM_TYPE_Q5_K;
          R ("ffn_down: Q3_K_L");
        }
      else if (f == SM_FTYPE_MOSTLY_Q4_K_M)
        {
          if (s->falcon)
            {
              if (i < n / 16)
                type = SM_TYPE_Q6_K;
              else if (sm_quantize_use_more_bits (i, n))
                type = SM_TYPE_Q5_K;
              if (type != s->base)
                R ("ffn_down: Q4_K_M falcon, layer %d of %d", i, n);
            }
          else if (sm_quantize_use_more_bits (i, n))
            {
              type = SM_TYPE_Q6_K;
              R ("ffn_down: use_more_bits(%d, %d)", i, n);
            }
        }
      else if (i < n / 8 && FTYPE_IN (f, SM_FTYPE_MOSTLY_IQ4_NL, SM_FTYPE_MOSTLY_IQ4_XS)
               && !s->params->has_imatrix)
        {
          type = SM_TYPE_Q5_K;
          R ("ffn_down: IQ4 without imatrix, layer %d < %d/8", i, n);
        }
      else if (f == SM_FTYPE_MOSTLY_Q5_K_M && sm_quantize_use_more_bits (i, n))
        {
          type = SM_TYPE_Q6_K;
          R ("ffn_down: use_more_bits(%d, %d)", i, n);
        }
      else if (f == SM_FTYPE_MOSTLY_Q4_K_S && !s->falcon && i < n / 8)
        {
          type = SM_TYPE_Q5_K;
          R ("ffn_down: Q4_K_S, layer %d < %d/8", i, n);
        }
      else if (FTYPE_IN (f, SM_FTYPE_MOSTLY_Q4_0, SM_FTYPE_MOSTLY_Q5_0) && s->params->has_imatrix
               && i < n / 8)
        {
          type = f == SM_FTYPE_MOSTLY_Q4_0 ? SM_TYPE_Q4_1 : SM_TYPE_Q5_1;
          R ("ffn_down: imatrix, layer %d < %d/8", i, n);
        }
      return type;
    }
  if (strstr (name, "attn_output.weight") != NULL)
    {
      if (!s->falcon)
        {
          if (s->n_expert == 8)
            {
              if (FTYPE_IN (f, SM_FTYPE_MOSTLY_Q2_K, SM_FTYPE_MOSTLY_Q3_K_S, SM_FTYPE_MOSTLY_Q3_K_M,
                            SM_FTYPE_MOSTLY_Q4_K_S, SM_FTYPE_MOSTLY_Q4_K_M, SM_FTYPE_MOSTLY_IQ4_NL,
                            SM_FTYPE_MOSTLY_IQ4_XS))
                {
                  type = SM_TYPE_Q5_K;
                  R ("attn_output: 8 experts");
                }
            }
          else if (f == SM_FTYPE_MOSTLY_Q2_K)
            type = SM_TYPE_Q3_K;
          else if (f == SM_FTYPE_MOSTLY_Q3_K_M)
            type = SM_TYPE_Q4_K;
          else if (f == SM_FTYPE_MOSTLY_Q3_K_L)
            type = SM_TYPE_Q5_K;
        }
      else if (f == SM_FTYPE_MOSTLY_Q3_K_L)
        type = SM_TYPE_Q4_K;
      if (type != s->base && reason[0] == '\0')
        R ("attn_output: %s", ftype_find (f)->name);
      return type;
    }
  return type;
}

/* Smelt's dynamic-gate policy (table in sm-quantize.h). */
static sm_type
dynamic_gate_rule (const plan_state              *s,
                   const sm_quantize_tensor_desc *t,
                   char                          *reason)
{
  sm_dynamic_gate_types g;
  int layer = layer_of (t->name);
  int n = s->n_layer;

  sm_dynamic_gate_get_types (s->ftype, &g); /* checked by the caller */
  if (strcmp (t->name, "token_embd.weight") == 0 || strcmp (t->name, "output.weight") == 0)
    {
      R ("dynamic-gate: embeddings/output");
      return g.embed;
    }
  /* q = n/4 rounded to the nearest layer, so even a 2-layer model has outer layers. */
  if (layer >= 0 && (layer < (n + 2) / 4 || layer >= n - (n + 2) / 4))
    {
      R ("dynamic-gate: outer layer %d of %d", layer, n);
      return g.higher;
    }
  if (layer >= 0)
    R ("dynamic-gate: middle layer %d of %d", layer, n);
  else
    R ("dynamic-gate: not a layer tensor");
  return g.lower;
}

/* formats.md 5.8: the row length must be a multiple of the block size. */
static sm_type
shape_fallback (sm_type type,
                int64_t ne0)
{
  sm_type fb;

  switch (type)
    {
    case SM_TYPE_IQ1_S: case SM_TYPE_IQ1_M: case SM_TYPE_IQ2_XXS: case SM_TYPE_IQ2_XS:
    case SM_TYPE_IQ2_S: case SM_TYPE_IQ3_XXS: case SM_TYPE_IQ3_S: case SM_TYPE_IQ4_XS:
      fb = SM_TYPE_IQ4_NL;
      break;
    case SM_TYPE_Q2_K: case SM_TYPE_Q3_K: case SM_TYPE_TQ1_0: case SM_TYPE_TQ2_0:
    case SM_TYPE_Q2_0:
      fb = SM_TYPE_Q4_0;
      break;
    case SM_TYPE_Q4_K:
      fb = SM_TYPE_Q5_0;
      break;
    case SM_TYPE_Q5_K:
      fb = SM_TYPE_Q5_1;
      break;
    case SM_TYPE_Q6_K:
      fb = SM_TYPE_Q8_0;
      break;
    default:
      fb = SM_TYPE_F16; /* a 32-element type whose row does not divide */
      break;
    }
  if (ne0 % sm_type_get_traits (fb)->blck_size != 0)
    fb = SM_TYPE_F16;
  return fb;
}

typedef struct
{
  const sm_quantize_tensor_desc *t;
  size_t                         index;
  int                            layer;
} sort_item;

/* llama.cpp's loader order: non-layer tensors first, then by layer, then by name. */
static int
loader_order_cmp (const void *a,
                  const void *b)
{
  const sort_item *x = a, *y = b;

  if (x->layer != y->layer)
    return x->layer < y->layer ? -1 : 1;
  return strcmp (x->t->name, y->t->name);
}

sm_status
sm_quantize_plan_make (const sm_quantize_tensor_desc *tensors,
                       size_t                         n_tensors,
                       const sm_quantize_model_info  *model,
                       const sm_quantize_params      *params,
                       sm_quantize_plan             **out,
                       sm_error                      *err)
{
  const sm_quantize_ftype_info *fi;
  sm_dynamic_gate_types gate;
  sm_quantize_plan *plan;
  sort_item *items;
  plan_state s;
  int max_layer = -1;

  *out = NULL;
  fi = ftype_find (params->ftype);
  if (fi == NULL)
    return sm_error_set (err, SM_ERR_INVALID_ARG, "unsupported file type %u", params->ftype);
  if (params->layer_policy == SM_LAYER_POLICY_DYNAMIC_GATE)
    {
      if (!sm_dynamic_gate_get_types (params->ftype, &gate))
        return sm_error_set (err, SM_ERR_INVALID_ARG,
                             "--layer-policy dynamic-gate needs a quantized TYPE below Q8_0, "
                             "not %s", fi->name);
      if (params->pure)
        return sm_error_set (err, SM_ERR_INVALID_ARG,
                             "--pure and --layer-policy dynamic-gate exclude each other");
    }
  for (int k = 0; k < 2; k++)
    {
      int tt = k == 0 ? params->output_tensor_type : params->token_embedding_type;

      if (tt != -1 && !sm_type_is_valid ((uint32_t) tt))
        return sm_error_set (err, SM_ERR_INVALID_ARG, "invalid %s type %d",
                             k == 0 ? "output tensor" : "token embedding", tt);
    }

  memset (&s, 0, sizeof s);
  s.params = params;
  s.model = model;
  s.ftype = params->ftype;
  s.base = fi->base;
  s.falcon = model->arch != NULL && strcmp (model->arch, "falcon") == 0;
  s.n_expert = (int) model->n_expert;
  s.n_gqa = 1;
  if (model->n_head > 0)
    {
      uint32_t kv = model->n_head_kv > 0 ? model->n_head_kv : model->n_head;
      s.n_gqa = (int) (model->n_head / kv);
    }

  items = calloc (n_tensors ? n_tensors : 1, sizeof *items);
  plan = calloc (1, sizeof *plan);
  if (plan != NULL)
    plan->entries = calloc (n_tensors ? n_tensors : 1, sizeof *plan->entries);
  if (items == NULL || plan == NULL || plan->entries == NULL)
    {
      free (items);
      sm_quantize_plan_free (plan);
      return sm_error_set (err, SM_ERR_NOMEM, "out of memory planning %zu tensors", n_tensors);
    }

  for (size_t i = 0; i < n_tensors; i++)
    {
      items[i].t = &tensors[i];
      items[i].index = i;
      items[i].layer = layer_of (tensors[i].name);
      if (items[i].layer > max_layer)
        max_layer = items[i].layer;
      if (strcmp (tensors[i].name, "output.weight") == 0)
        s.has_output = true;
      if (is_attn_v_like (tensors[i].name))
        s.n_attention_wv++;
    }
  qsort (items, n_tensors, sizeof *items, loader_order_cmp);
  for (size_t i = 1; i < n_tensors; i++)
    if (strcmp (items[i - 1].t->name, items[i].t->name) == 0)
      {
        sm_error_set (err, SM_ERR_INVALID_ARG, "duplicate tensor name '%s'", items[i].t->name);
        free (items);
        sm_quantize_plan_free (plan);
        return SM_ERR_INVALID_ARG;
      }
  s.n_layer = model->n_layer > 0 ? (int) model->n_layer : max_layer + 1;
  s.is_70b = model->arch != NULL && strcmp (model->arch, "llama") == 0 && s.n_layer == 80
             && s.n_gqa > 1;

  for (size_t k = 0; k < n_tensors; k++)
    {
      const sm_quantize_tensor_desc *t = items[k].t;
      sm_quantize_plan_entry *e = &plan->entries[k];
      const sm_type_traits *tr;
      const char *why;
      char *reason = e->reason;
      sm_type type;

      snprintf (e->name, sizeof e->name, "%s", t->name);
      e->src_index = (int64_t) items[k].index;
      e->src_type = t->type;
      why = why_not_quantizable (t, params);
      if (why != NULL)
        {
          e->type = t->type;
          e->quantize = false;
          R ("%s", why);
          continue;
        }

      type = s.base;
      R ("base %s", sm_type_get_traits (type)->upper);
      if (sm_type_get_traits (s.base)->quantized)
        {
          char rule_reason[SM_QUANTIZE_MAX_REASON] = "";

          if (params->layer_policy == SM_LAYER_POLICY_DYNAMIC_GATE)
            type = dynamic_gate_rule (&s, t, rule_reason);
          else if (!params->pure)
            type = mix_rules (&s, t, rule_reason);
          if (rule_reason[0] != '\0')
            memcpy (reason, rule_reason, SM_QUANTIZE_MAX_REASON);
        }
      if (params->token_embedding_type >= 0 && strcmp (t->name, "token_embd.weight") == 0)
        {
          type = (sm_type) params->token_embedding_type;
          R ("--token-embedding-type");
        }
      if (params->output_tensor_type >= 0
          && (strcmp (t->name, "output.weight") == 0
              || (!s.has_output && params->token_embedding_type < 0
                  && strcmp (t->name, "token_embd.weight") == 0)))
        {
          type = (sm_type) params->output_tensor_type;
          R ("--output-tensor-type%s", s.has_output ? "" : " (tied token_embd)");
        }

      tr = sm_type_get_traits (type);
      if (t->ne[0] % tr->blck_size != 0)
        {
          sm_type fb = shape_fallback (type, t->ne[0]);
          char prev[SM_QUANTIZE_MAX_REASON];

          memcpy (prev, reason, sizeof prev);
          snprintf (reason, SM_QUANTIZE_MAX_REASON, "fallback %s -> %s: row %lld (%.40s)",
                    tr->upper, sm_type_get_traits (fb)->upper, (long long) t->ne[0], prev);
          type = fb;
          e->fallback = true;
          plan->n_fallback++;
        }
      e->type = type;
      e->quantize = type != t->type;
    }
  plan->n = n_tensors;
  free (items);
  *out = plan;
  return SM_OK;
}

#undef R

void
sm_quantize_plan_free (sm_quantize_plan *plan)
{
  if (plan == NULL)
    return;
  free (plan->entries);
  free (plan);
}

size_t
sm_quantize_plan_get_n (const sm_quantize_plan *plan)
{
  return plan->n;
}

const sm_quantize_plan_entry *
sm_quantize_plan_get (const sm_quantize_plan *plan,
                      size_t                  i)
{
  return i < plan->n ? &plan->entries[i] : NULL;
}

const sm_quantize_plan_entry *
sm_quantize_plan_find (const sm_quantize_plan *plan,
                       const char             *name)
{
  for (size_t i = 0; i < plan->n; i++)
    if (strcmp (plan->entries[i].name, name) == 0)
      return &plan->entries[i];
  return NULL;
}

size_t
sm_quantize_plan_get_n_fallback (const sm_quantize_plan *plan)
{
  return plan->n_fallback;
}
