/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-quantize-plan.c: the per-tensor type choice of the model quantizer against formats.md
 * section 5, written out tensor by tensor for a llama-shaped model (32 layers, 32 heads, 8 KV
 * heads: n_gqa 4): Q4_K_M, Q3_K_M, Q5_K_S and more, tied and untied embeddings, the shape fallback,
 * the CLI overrides, loader order and the dynamic-gate policy. No files are involved.
 */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "sm-quantize.h"

/* The layers use_more_bits(i, 32) selects, as formats.md 5.5 lists them. */
static const int more_bits_32[] = { 0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31 };

static gboolean
in_list (int v, const int *list, gsize n)
{
  for (gsize i = 0; i < n; i++)
    if (list[i] == v)
      return TRUE;
  return FALSE;
}

/* A llama-shaped tensor list: token_embd, output_norm, [output], and per layer the 9 tensors of a
 * llama block. Names are owned by the returned GPtrArray of strings. */
typedef struct
{
  GPtrArray               *names;
  GArray                  *descs; /* sm_quantize_tensor_desc */
} Model;

static void
model_add (Model      *m,
           const char *name,
           int64_t     ne0,
           int64_t     ne1,
           sm_type     type)
{
  sm_quantize_tensor_desc d = { 0 };
  char *copy = g_strdup (name);

  g_ptr_array_add (m->names, copy);
  d.name = copy;
  d.n_dims = ne1 > 1 ? 2 : 1;
  d.ne[0] = ne0;
  d.ne[1] = ne1;
  d.ne[2] = d.ne[3] = 1;
  d.type = type;
  g_array_append_val (m->descs, d);
}

static Model *
model_new (int      n_layer,
           gboolean tied,
           int64_t  dim,
           int64_t  ffn,
           sm_type  wtype)
{
  Model *m = g_new0 (Model, 1);
  int64_t kv = dim / 4;

  m->names = g_ptr_array_new_with_free_func (g_free);
  m->descs = g_array_new (FALSE, TRUE, sizeof (sm_quantize_tensor_desc));
  /* Layers deliberately out of order and "output" in the middle: the plan sorts. */
  for (int i = n_layer - 1; i >= 0; i--)
    {
      static const char *const norms[] = { "attn_norm", "ffn_norm" };
      char name[64];

      for (gsize k = 0; k < G_N_ELEMENTS (norms); k++)
        {
          g_snprintf (name, sizeof name, "blk.%d.%s.weight", i, norms[k]);
          model_add (m, name, dim, 1, SM_TYPE_F32);
        }
      g_snprintf (name, sizeof name, "blk.%d.attn_q.weight", i);
      model_add (m, name, dim, dim, wtype);
      g_snprintf (name, sizeof name, "blk.%d.attn_k.weight", i);
      model_add (m, name, dim, kv, wtype);
      g_snprintf (name, sizeof name, "blk.%d.attn_v.weight", i);
      model_add (m, name, dim, kv, wtype);
      g_snprintf (name, sizeof name, "blk.%d.attn_output.weight", i);
      model_add (m, name, dim, dim, wtype);
      g_snprintf (name, sizeof name, "blk.%d.ffn_gate.weight", i);
      model_add (m, name, dim, ffn, wtype);
      g_snprintf (name, sizeof name, "blk.%d.ffn_up.weight", i);
      model_add (m, name, dim, ffn, wtype);
      g_snprintf (name, sizeof name, "blk.%d.ffn_down.weight", i);
      model_add (m, name, ffn, dim, wtype);
      if (i == n_layer / 2 && !tied)
        model_add (m, "output.weight", dim, 1000, wtype);
    }
  model_add (m, "output_norm.weight", dim, 1, SM_TYPE_F32);
  model_add (m, "token_embd.weight", dim, 1000, wtype);
  model_add (m, "rope_freqs.weight", 64, 1, SM_TYPE_F32);
  return m;
}

static void
model_free (Model *m)
{
  g_ptr_array_unref (m->names);
  g_array_unref (m->descs);
  g_free (m);
}

static sm_quantize_plan *
make_plan (Model                    *m,
           int                       n_layer,
           const sm_quantize_params *p)
{
  sm_quantize_model_info info = { "llama", (uint32_t) n_layer, 32, 8, 0 };
  sm_quantize_plan *plan = NULL;
  sm_error err = { 0 };
  sm_status st;

  st = sm_quantize_plan_make ((const sm_quantize_tensor_desc *) m->descs->data, m->descs->len,
                              &info, p, &plan, &err);
  g_assert_cmpstr (err.msg, ==, "");
  g_assert_cmpint (st, ==, SM_OK);
  g_assert_nonnull (plan);
  g_assert_cmpuint (sm_quantize_plan_get_n (plan), ==, m->descs->len);
  return plan;
}

static sm_type
type_of (sm_quantize_plan *plan,
         const char       *fmt,
         int               layer)
{
  const char *pct = strstr (fmt, "%d");
  g_autofree char *name = NULL;
  const sm_quantize_plan_entry *e;

  /* fmt is a tensor name with at most one "%d" for the layer. */
  if (pct != NULL)
    name = g_strdup_printf ("%.*s%d%s", (int) (pct - fmt), fmt, layer, pct + 2);
  else
    name = g_strdup (fmt);
  e = sm_quantize_plan_find (plan, name);
  g_assert_nonnull (e);
  return e->type;
}

#define ASSERT_TYPE(plan, fmt, layer, expect)                                                    \
  do                                                                                             \
    {                                                                                            \
      sm_type got_ = type_of ((plan), (fmt), (layer));                                           \
      if (got_ != (expect))                                                                      \
        g_error ("%s (layer %d): got %s, expected %s", (fmt), (layer),                           \
                 sm_type_get_traits (got_)->upper, sm_type_get_traits (expect)->upper);          \
    }                                                                                            \
  while (0)

/* Norms stay F32 and are not quantized, in every mix. */
static void
check_norms (sm_quantize_plan *plan,
             int               n_layer)
{
  for (int i = 0; i < n_layer; i++)
    {
      ASSERT_TYPE (plan, "blk.%d.attn_norm.weight", i, SM_TYPE_F32);
      ASSERT_TYPE (plan, "blk.%d.ffn_norm.weight", i, SM_TYPE_F32);
    }
  ASSERT_TYPE (plan, "output_norm.weight", 0, SM_TYPE_F32);
  ASSERT_TYPE (plan, "rope_freqs.weight", 0, SM_TYPE_F32);
  g_assert_false (sm_quantize_plan_find (plan, "rope_freqs.weight")->quantize);
}

static void
test_q4_k_m (void)
{
  Model *m = model_new (32, FALSE, 512, 1024, SM_TYPE_F16);
  sm_quantize_params p = sm_quantize_default_params ();
  sm_quantize_plan *plan;

  p.ftype = SM_FTYPE_MOSTLY_Q4_K_M;
  plan = make_plan (m, 32, &p);
  check_norms (plan, 32);
  ASSERT_TYPE (plan, "token_embd.weight", 0, SM_TYPE_Q4_K);
  ASSERT_TYPE (plan, "output.weight", 0, SM_TYPE_Q6_K);
  for (int i = 0; i < 32; i++)
    {
      sm_type more = in_list (i, more_bits_32, G_N_ELEMENTS (more_bits_32)) ? SM_TYPE_Q6_K
                                                                              : SM_TYPE_Q4_K;

      ASSERT_TYPE (plan, "blk.%d.attn_q.weight", i, SM_TYPE_Q4_K);
      ASSERT_TYPE (plan, "blk.%d.attn_k.weight", i, SM_TYPE_Q4_K);
      ASSERT_TYPE (plan, "blk.%d.attn_v.weight", i, more);
      ASSERT_TYPE (plan, "blk.%d.attn_output.weight", i, SM_TYPE_Q4_K);
      ASSERT_TYPE (plan, "blk.%d.ffn_gate.weight", i, SM_TYPE_Q4_K);
      ASSERT_TYPE (plan, "blk.%d.ffn_up.weight", i, SM_TYPE_Q4_K);
      ASSERT_TYPE (plan, "blk.%d.ffn_down.weight", i, more);
    }
  g_assert_cmpuint (sm_quantize_plan_get_n_fallback (plan), ==, 0);
  g_assert_nonnull (strstr (sm_quantize_plan_find (plan, "blk.3.attn_v.weight")->reason,
                            "use_more_bits"));
  sm_quantize_plan_free (plan);
  model_free (m);
}

static void
test_q3_k_m (void)
{
  Model *m = model_new (32, FALSE, 512, 1024, SM_TYPE_BF16);
  sm_quantize_params p = sm_quantize_default_params ();
  sm_quantize_plan *plan;

  p.ftype = SM_FTYPE_MOSTLY_Q3_K_M;
  plan = make_plan (m, 32, &p);
  check_norms (plan, 32);
  ASSERT_TYPE (plan, "token_embd.weight", 0, SM_TYPE_Q3_K);
  ASSERT_TYPE (plan, "output.weight", 0, SM_TYPE_Q6_K);
  for (int i = 0; i < 32; i++)
    {
      ASSERT_TYPE (plan, "blk.%d.attn_q.weight", i, SM_TYPE_Q3_K);
      ASSERT_TYPE (plan, "blk.%d.attn_k.weight", i, SM_TYPE_Q3_K);
      /* The first two attn_v tensors in loader order, i.e. layers 0 and 1. */
      ASSERT_TYPE (plan, "blk.%d.attn_v.weight", i, i < 2 ? SM_TYPE_Q5_K : SM_TYPE_Q4_K);
      ASSERT_TYPE (plan, "blk.%d.attn_output.weight", i, SM_TYPE_Q4_K);
      ASSERT_TYPE (plan, "blk.%d.ffn_gate.weight", i, SM_TYPE_Q3_K);
      ASSERT_TYPE (plan, "blk.%d.ffn_up.weight", i, SM_TYPE_Q3_K);
      /* i < 32/16 -> Q5_K; non-falcon -> Q4_K. */
      ASSERT_TYPE (plan, "blk.%d.ffn_down.weight", i, i < 2 ? SM_TYPE_Q5_K : SM_TYPE_Q4_K);
    }
  sm_quantize_plan_free (plan);
  model_free (m);
}

static void
test_q5_k_s (void)
{
  Model *m = model_new (32, FALSE, 512, 1024, SM_TYPE_F32);
  sm_quantize_params p = sm_quantize_default_params ();
  sm_quantize_plan *plan;

  p.ftype = SM_FTYPE_MOSTLY_Q5_K_S;
  plan = make_plan (m, 32, &p);
  check_norms (plan, 32);
  ASSERT_TYPE (plan, "token_embd.weight", 0, SM_TYPE_Q5_K);
  ASSERT_TYPE (plan, "output.weight", 0, SM_TYPE_Q6_K);
  for (int i = 0; i < 32; i++)
    {
      static const char *const names[] = {
        "blk.%d.attn_q.weight", "blk.%d.attn_k.weight", "blk.%d.attn_v.weight",
        "blk.%d.attn_output.weight", "blk.%d.ffn_gate.weight", "blk.%d.ffn_up.weight",
        "blk.%d.ffn_down.weight",
      };
      for (gsize k = 0; k < G_N_ELEMENTS (names); k++)
        ASSERT_TYPE (plan, names[k], i, SM_TYPE_Q5_K);
    }
  sm_quantize_plan_free (plan);
  model_free (m);
}

/* The other K-mixes' attn_v and ffn_down rules and the legacy/IQ4 types. */
static void
test_other_mixes (void)
{
  Model *m = model_new (32, FALSE, 512, 1024, SM_TYPE_F16);
  sm_quantize_params p = sm_quantize_default_params ();
  sm_quantize_plan *plan;

  p.ftype = SM_FTYPE_MOSTLY_Q2_K;
  plan = make_plan (m, 32, &p);
  for (int i = 0; i < 32; i++)
    {
      ASSERT_TYPE (plan, "blk.%d.attn_v.weight", i, SM_TYPE_Q4_K); /* n_gqa 4 */
      ASSERT_TYPE (plan, "blk.%d.ffn_down.weight", i, SM_TYPE_Q3_K);
      ASSERT_TYPE (plan, "blk.%d.attn_output.weight", i, SM_TYPE_Q3_K);
      ASSERT_TYPE (plan, "blk.%d.attn_q.weight", i, SM_TYPE_Q2_K);
    }
  sm_quantize_plan_free (plan);

  p.ftype = SM_FTYPE_MOSTLY_Q3_K_L;
  plan = make_plan (m, 32, &p);
  for (int i = 0; i < 32; i++)
    {
      ASSERT_TYPE (plan, "blk.%d.attn_v.weight", i, SM_TYPE_Q5_K);
      ASSERT_TYPE (plan, "blk.%d.ffn_down.weight", i, SM_TYPE_Q5_K);
      ASSERT_TYPE (plan, "blk.%d.attn_output.weight", i, SM_TYPE_Q5_K);
      ASSERT_TYPE (plan, "blk.%d.ffn_up.weight", i, SM_TYPE_Q3_K);
    }
  sm_quantize_plan_free (plan);

  p.ftype = SM_FTYPE_MOSTLY_Q3_K_S;
  plan = make_plan (m, 32, &p);
  for (int i = 0; i < 32; i++)
    {
      ASSERT_TYPE (plan, "blk.%d.attn_v.weight", i, SM_TYPE_Q3_K);
      ASSERT_TYPE (plan, "blk.%d.ffn_down.weight", i, SM_TYPE_Q3_K);
      ASSERT_TYPE (plan, "blk.%d.attn_output.weight", i, SM_TYPE_Q3_K);
    }
  sm_quantize_plan_free (plan);

  p.ftype = SM_FTYPE_MOSTLY_Q4_K_S;
  plan = make_plan (m, 32, &p);
  for (int i = 0; i < 32; i++)
    {
      ASSERT_TYPE (plan, "blk.%d.attn_v.weight", i, i < 4 ? SM_TYPE_Q5_K : SM_TYPE_Q4_K);
      ASSERT_TYPE (plan, "blk.%d.ffn_down.weight", i, i < 4 ? SM_TYPE_Q5_K : SM_TYPE_Q4_K);
    }
  sm_quantize_plan_free (plan);

  p.ftype = SM_FTYPE_MOSTLY_Q5_K_M;
  plan = make_plan (m, 32, &p);
  for (int i = 0; i < 32; i++)
    {
      sm_type more = in_list (i, more_bits_32, G_N_ELEMENTS (more_bits_32)) ? SM_TYPE_Q6_K
                                                                              : SM_TYPE_Q5_K;
      ASSERT_TYPE (plan, "blk.%d.attn_v.weight", i, more);
      ASSERT_TYPE (plan, "blk.%d.ffn_down.weight", i, more);
    }
  sm_quantize_plan_free (plan);

  p.ftype = SM_FTYPE_MOSTLY_IQ4_XS;
  plan = make_plan (m, 32, &p);
  ASSERT_TYPE (plan, "output.weight", 0, SM_TYPE_Q6_K);
  ASSERT_TYPE (plan, "token_embd.weight", 0, SM_TYPE_IQ4_XS);
  for (int i = 0; i < 32; i++)
    {
      ASSERT_TYPE (plan, "blk.%d.attn_v.weight", i, SM_TYPE_Q5_K);
      ASSERT_TYPE (plan, "blk.%d.ffn_down.weight", i, i < 4 ? SM_TYPE_Q5_K : SM_TYPE_IQ4_XS);
    }
  sm_quantize_plan_free (plan);

  /* With an imatrix the IQ4 ffn_down bump goes away and Q4_0 gets Q4_1 in the first 8th. */
  p.has_imatrix = true;
  plan = make_plan (m, 32, &p);
  ASSERT_TYPE (plan, "blk.%d.ffn_down.weight", 0, SM_TYPE_IQ4_XS);
  sm_quantize_plan_free (plan);
  p.ftype = SM_FTYPE_MOSTLY_Q4_0;
  plan = make_plan (m, 32, &p);
  for (int i = 0; i < 32; i++)
    ASSERT_TYPE (plan, "blk.%d.ffn_down.weight", i, i < 4 ? SM_TYPE_Q4_1 : SM_TYPE_Q4_0);
  sm_quantize_plan_free (plan);
  p.has_imatrix = false;
  plan = make_plan (m, 32, &p);
  ASSERT_TYPE (plan, "blk.%d.ffn_down.weight", 0, SM_TYPE_Q4_0);
  ASSERT_TYPE (plan, "output.weight", 0, SM_TYPE_Q6_K);
  sm_quantize_plan_free (plan);

  /* Q8_0 keeps Q8_0 output; F16 touches no mix rule. */
  p.ftype = SM_FTYPE_MOSTLY_Q8_0;
  plan = make_plan (m, 32, &p);
  ASSERT_TYPE (plan, "output.weight", 0, SM_TYPE_Q8_0);
  ASSERT_TYPE (plan, "blk.%d.attn_v.weight", 0, SM_TYPE_Q8_0);
  sm_quantize_plan_free (plan);
  p.ftype = SM_FTYPE_MOSTLY_F16;
  plan = make_plan (m, 32, &p);
  ASSERT_TYPE (plan, "output.weight", 0, SM_TYPE_F16);
  ASSERT_TYPE (plan, "blk.%d.attn_v.weight", 0, SM_TYPE_F16);
  g_assert_false (sm_quantize_plan_find (plan, "output.weight")->quantize); /* already F16 */
  check_norms (plan, 32);
  sm_quantize_plan_free (plan);
  model_free (m);
}

/* n_gqa 1 (no GQA): Q2_K attn_v is Q3_K, IQ4_XS attn_v stays IQ4_XS. */
static void
test_no_gqa (void)
{
  Model *m = model_new (8, FALSE, 512, 1024, SM_TYPE_F16);
  sm_quantize_params p = sm_quantize_default_params ();
  sm_quantize_model_info info = { "llama", 8, 32, 32, 0 };
  sm_quantize_plan *plan = NULL;

  p.ftype = SM_FTYPE_MOSTLY_Q2_K;
  g_assert_cmpint (sm_quantize_plan_make ((const sm_quantize_tensor_desc *) m->descs->data,
                                          m->descs->len, &info, &p, &plan, NULL), ==, SM_OK);
  ASSERT_TYPE (plan, "blk.%d.attn_v.weight", 5, SM_TYPE_Q3_K);
  sm_quantize_plan_free (plan);
  p.ftype = SM_FTYPE_MOSTLY_IQ4_XS;
  g_assert_cmpint (sm_quantize_plan_make ((const sm_quantize_tensor_desc *) m->descs->data,
                                          m->descs->len, &info, &p, &plan, NULL), ==, SM_OK);
  ASSERT_TYPE (plan, "blk.%d.attn_v.weight", 5, SM_TYPE_IQ4_XS);
  sm_quantize_plan_free (plan);
  model_free (m);
}

static void
test_tied (void)
{
  Model *m = model_new (32, TRUE, 512, 1024, SM_TYPE_F16);
  sm_quantize_params p = sm_quantize_default_params ();
  sm_quantize_plan *plan;

  g_assert_null (sm_quantize_plan_find (plan = make_plan (m, 32, &p), "output.weight"));
  /* No output.weight: token_embd is treated as the output tensor. */
  ASSERT_TYPE (plan, "token_embd.weight", 0, SM_TYPE_Q6_K);
  sm_quantize_plan_free (plan);

  p.ftype = SM_FTYPE_MOSTLY_Q8_0;
  plan = make_plan (m, 32, &p);
  ASSERT_TYPE (plan, "token_embd.weight", 0, SM_TYPE_Q8_0);
  sm_quantize_plan_free (plan);

  /* --output-tensor-type reaches the tied embedding; --token-embedding-type wins over it. */
  p.ftype = SM_FTYPE_MOSTLY_Q4_K_M;
  p.output_tensor_type = SM_TYPE_Q8_0;
  plan = make_plan (m, 32, &p);
  ASSERT_TYPE (plan, "token_embd.weight", 0, SM_TYPE_Q8_0);
  sm_quantize_plan_free (plan);
  p.token_embedding_type = SM_TYPE_Q5_K;
  plan = make_plan (m, 32, &p);
  ASSERT_TYPE (plan, "token_embd.weight", 0, SM_TYPE_Q5_K);
  sm_quantize_plan_free (plan);
  model_free (m);
}

static void
test_overrides (void)
{
  Model *m = model_new (32, FALSE, 512, 1024, SM_TYPE_F16);
  sm_quantize_params p = sm_quantize_default_params ();
  sm_quantize_plan *plan;
  const sm_quantize_plan_entry *e;

  p.output_tensor_type = SM_TYPE_Q8_0;
  p.token_embedding_type = SM_TYPE_Q8_0;
  plan = make_plan (m, 32, &p);
  ASSERT_TYPE (plan, "output.weight", 0, SM_TYPE_Q8_0);
  ASSERT_TYPE (plan, "token_embd.weight", 0, SM_TYPE_Q8_0);
  ASSERT_TYPE (plan, "blk.%d.attn_v.weight", 0, SM_TYPE_Q6_K);
  sm_quantize_plan_free (plan);

  p = sm_quantize_default_params ();
  p.pure = true;
  plan = make_plan (m, 32, &p);
  ASSERT_TYPE (plan, "output.weight", 0, SM_TYPE_Q4_K);
  ASSERT_TYPE (plan, "token_embd.weight", 0, SM_TYPE_Q4_K);
  for (int i = 0; i < 32; i++)
    {
      ASSERT_TYPE (plan, "blk.%d.attn_v.weight", i, SM_TYPE_Q4_K);
      ASSERT_TYPE (plan, "blk.%d.ffn_down.weight", i, SM_TYPE_Q4_K);
    }
  check_norms (plan, 32);
  sm_quantize_plan_free (plan);

  p = sm_quantize_default_params ();
  p.leave_output_tensor = true;
  plan = make_plan (m, 32, &p);
  e = sm_quantize_plan_find (plan, "output.weight");
  g_assert_cmpint (e->type, ==, SM_TYPE_F16);
  g_assert_false (e->quantize);
  ASSERT_TYPE (plan, "token_embd.weight", 0, SM_TYPE_Q4_K);
  sm_quantize_plan_free (plan);
  model_free (m);
}

/* Row lengths that are not multiples of 256 (formats.md 5.8). */
static void
test_fallback (void)
{
  Model *m = model_new (4, FALSE, 512, 1024, SM_TYPE_F32);
  sm_quantize_params p = sm_quantize_default_params ();
  sm_quantize_plan *plan;
  const sm_quantize_plan_entry *e;

  model_add (m, "blk.1.ffn_down_odd.weight", 96, 64, SM_TYPE_F32);  /* 96 = 3 x 32 */
  model_add (m, "blk.2.ffn_down_odd.weight", 100, 64, SM_TYPE_F32); /* not a multiple of 32 */

  plan = make_plan (m, 4, &p);
  /* ffn_down in layer 1 of 4: use_more_bits -> Q6_K; row 96 -> Q8_0. */
  e = sm_quantize_plan_find (plan, "blk.1.ffn_down_odd.weight");
  g_assert_cmpint (e->type, ==, SM_TYPE_Q8_0);
  g_assert_true (e->fallback);
  g_assert_nonnull (strstr (e->reason, "fallback"));
  ASSERT_TYPE (plan, "blk.%d.ffn_down_odd.weight", 2, SM_TYPE_F16);
  g_assert_cmpuint (sm_quantize_plan_get_n_fallback (plan), ==, 2);
  sm_quantize_plan_free (plan);

  p.pure = true; /* the fallback applies to --pure too: Q4_K -> Q5_0 */
  plan = make_plan (m, 4, &p);
  ASSERT_TYPE (plan, "blk.%d.ffn_down_odd.weight", 1, SM_TYPE_Q5_0);
  sm_quantize_plan_free (plan);

  p.pure = false;
  p.ftype = SM_FTYPE_MOSTLY_Q5_K_S; /* Q5_K -> Q5_1 */
  plan = make_plan (m, 4, &p);
  ASSERT_TYPE (plan, "blk.%d.ffn_down_odd.weight", 1, SM_TYPE_Q5_1);
  sm_quantize_plan_free (plan);
  p.ftype = SM_FTYPE_MOSTLY_Q3_K_S; /* Q3_K -> Q4_0 */
  plan = make_plan (m, 4, &p);
  ASSERT_TYPE (plan, "blk.%d.ffn_down_odd.weight", 1, SM_TYPE_Q4_0);
  sm_quantize_plan_free (plan);
  p.ftype = SM_FTYPE_MOSTLY_IQ4_XS; /* IQ4_XS -> IQ4_NL */
  p.has_imatrix = true;
  plan = make_plan (m, 4, &p);
  ASSERT_TYPE (plan, "blk.%d.ffn_down_odd.weight", 1, SM_TYPE_IQ4_NL);
  sm_quantize_plan_free (plan);
  p.ftype = SM_FTYPE_MOSTLY_Q4_0; /* Q4_0 on a row of 100 -> F16 */
  plan = make_plan (m, 4, &p);
  ASSERT_TYPE (plan, "blk.%d.ffn_down_odd.weight", 2, SM_TYPE_F16);
  ASSERT_TYPE (plan, "blk.%d.ffn_down_odd.weight", 1, SM_TYPE_Q4_0);
  sm_quantize_plan_free (plan);
  model_free (m);

  /* Output with a row that does not divide the base block: Q8_0 by the output rule. */
  m = model_new (2, FALSE, 96, 96, SM_TYPE_F32);
  p = sm_quantize_default_params ();
  plan = make_plan (m, 2, &p);
  e = sm_quantize_plan_find (plan, "output.weight");
  g_assert_cmpint (e->type, ==, SM_TYPE_Q8_0);
  g_assert_false (e->fallback);
  ASSERT_TYPE (plan, "blk.%d.attn_q.weight", 0, SM_TYPE_Q5_0);
  sm_quantize_plan_free (plan);
  model_free (m);
}

/* Loader order: non-layer tensors first (by name), then layer by layer (numerically). */
static void
test_loader_order (void)
{
  Model *m = model_new (12, FALSE, 256, 256, SM_TYPE_F16);
  sm_quantize_params p = sm_quantize_default_params ();
  sm_quantize_plan *plan = make_plan (m, 12, &p);
  int last_layer = -1;
  const char *prev = "";

  g_assert_cmpstr (sm_quantize_plan_get (plan, 0)->name, ==, "output.weight");
  g_assert_cmpstr (sm_quantize_plan_get (plan, 1)->name, ==, "output_norm.weight");
  g_assert_cmpstr (sm_quantize_plan_get (plan, 2)->name, ==, "rope_freqs.weight");
  g_assert_cmpstr (sm_quantize_plan_get (plan, 3)->name, ==, "token_embd.weight");
  g_assert_cmpstr (sm_quantize_plan_get (plan, 4)->name, ==, "blk.0.attn_k.weight");
  for (gsize i = 4; i < sm_quantize_plan_get_n (plan); i++)
    {
      const sm_quantize_plan_entry *e = sm_quantize_plan_get (plan, i);
      int layer = atoi (e->name + 4);

      g_assert_cmpint (layer, >=, last_layer);
      if (layer == last_layer)
        g_assert_cmpint (strcmp (prev, e->name), <, 0);
      last_layer = layer;
      prev = e->name;
      g_assert_cmpstr (m->descs->len > (guint) e->src_index
                         ? g_array_index (m->descs, sm_quantize_tensor_desc, e->src_index).name
                         : NULL, ==, e->name);
    }
  g_assert_cmpint (last_layer, ==, 11);
  sm_quantize_plan_free (plan);
  model_free (m);
}

static void
test_dynamic_gate (void)
{
  Model *m = model_new (16, FALSE, 512, 1024, SM_TYPE_BF16);
  sm_quantize_params p = sm_quantize_default_params ();
  sm_quantize_plan *plan;
  sm_error err = { 0 };
  sm_quantize_model_info info = { "llama", 16, 32, 8, 0 };

  p.layer_policy = SM_LAYER_POLICY_DYNAMIC_GATE;
  p.ftype = SM_FTYPE_MOSTLY_IQ4_XS;
  plan = make_plan (m, 16, &p);
  check_norms (plan, 16);
  ASSERT_TYPE (plan, "token_embd.weight", 0, SM_TYPE_Q5_K);
  ASSERT_TYPE (plan, "output.weight", 0, SM_TYPE_Q5_K);
  for (int i = 0; i < 16; i++)
    {
      sm_type expect = (i < 4 || i >= 12) ? SM_TYPE_Q5_K : SM_TYPE_IQ4_XS;

      ASSERT_TYPE (plan, "blk.%d.attn_q.weight", i, expect);
      ASSERT_TYPE (plan, "blk.%d.attn_v.weight", i, expect);
      ASSERT_TYPE (plan, "blk.%d.ffn_down.weight", i, expect);
    }
  sm_quantize_plan_free (plan);

  p.ftype = SM_FTYPE_MOSTLY_Q4_K_M;
  plan = make_plan (m, 16, &p);
  for (int i = 0; i < 16; i++)
    ASSERT_TYPE (plan, "blk.%d.ffn_up.weight", i,
                 (i < 4 || i >= 12) ? SM_TYPE_Q6_K : SM_TYPE_Q4_K);
  ASSERT_TYPE (plan, "output.weight", 0, SM_TYPE_Q5_K);
  sm_quantize_plan_free (plan);

  /* q = n/4 rounded: 2 layers are both outer; 30 layers have 8 at each end. */
  model_free (m);
  m = model_new (2, FALSE, 512, 1024, SM_TYPE_BF16);
  plan = make_plan (m, 2, &p);
  ASSERT_TYPE (plan, "blk.%d.attn_q.weight", 0, SM_TYPE_Q6_K);
  ASSERT_TYPE (plan, "blk.%d.attn_q.weight", 1, SM_TYPE_Q6_K);
  sm_quantize_plan_free (plan);
  model_free (m);
  m = model_new (30, FALSE, 256, 256, SM_TYPE_BF16);
  plan = make_plan (m, 30, &p);
  for (int i = 0; i < 30; i++)
    ASSERT_TYPE (plan, "blk.%d.ffn_down.weight", i,
                 (i < 8 || i >= 22) ? SM_TYPE_Q6_K : SM_TYPE_Q4_K);
  sm_quantize_plan_free (plan);
  model_free (m);
  m = model_new (16, FALSE, 512, 1024, SM_TYPE_BF16);

  /* Refusals: Q8_0 has nothing higher; --pure contradicts a policy. */
  p.ftype = SM_FTYPE_MOSTLY_Q8_0;
  g_assert_cmpint (sm_quantize_plan_make ((const sm_quantize_tensor_desc *) m->descs->data,
                                          m->descs->len, &info, &p, &plan, &err),
                   ==, SM_ERR_INVALID_ARG);
  g_assert_null (plan);
  g_assert_nonnull (strstr (err.msg, "Q8_0"));
  p.ftype = SM_FTYPE_MOSTLY_Q4_K_M;
  p.pure = true;
  g_assert_cmpint (sm_quantize_plan_make ((const sm_quantize_tensor_desc *) m->descs->data,
                                          m->descs->len, &info, &p, &plan, &err),
                   ==, SM_ERR_INVALID_ARG);
  model_free (m);
}

static void
test_names (void)
{
  static const struct { const char *in; const char *name; int ftype; } cases[] = {
    { "Q4_K_M", "Q4_K_M", 15 }, { "q4_k_m", "Q4_K_M", 15 }, { "Q4_K", "Q4_K_M", 15 },
    { "q3_k", "Q3_K_M", 12 },   { "Q5_K", "Q5_K_M", 17 },   { "q8_0", "Q8_0", 7 },
    { "iq4_xs", "IQ4_XS", 30 }, { "IQ4_NL", "IQ4_NL", 25 }, { "bf16", "BF16", 32 },
    { "F16", "F16", 1 },        { "15", "Q4_K_M", 15 },     { "q2_k", "Q2_K", 10 },
    { "Q3_K_S", "Q3_K_S", 11 }, { "Q3_K_L", "Q3_K_L", 13 }, { "Q4_K_S", "Q4_K_S", 14 },
    { "Q5_K_S", "Q5_K_S", 16 }, { "Q6_K", "Q6_K", 18 },     { "Q4_0", "Q4_0", 2 },
    { "Q4_1", "Q4_1", 3 },      { "Q5_0", "Q5_0", 8 },      { "Q5_1", "Q5_1", 9 },
  };
  static const char *const bad[] = { "", "Q4", "Q4_K_X", "IQ2_XXS", "Q7_0", "99", "-1", "15x" };
  sm_layer_policy pol;

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const sm_quantize_ftype_info *fi = sm_quantize_ftype_lookup (cases[i].in);

      g_assert_nonnull (fi);
      g_assert_cmpstr (fi->name, ==, cases[i].name);
      g_assert_cmpint (fi->ftype, ==, cases[i].ftype);
      g_assert_cmpstr (sm_ftype_name (fi->ftype), ==, fi->name);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    g_assert_null (sm_quantize_ftype_lookup (bad[i]));
  g_assert_null (sm_quantize_ftype_lookup (NULL));
  g_assert_cmpuint (sm_quantize_n_ftypes (), ==, 18);

  g_assert_true (sm_layer_policy_from_name ("dynamic-gate", &pol));
  g_assert_cmpint (pol, ==, SM_LAYER_POLICY_DYNAMIC_GATE);
  g_assert_false (sm_layer_policy_from_name ("dynamic", &pol));

  for (int i = 0; i < 32; i++)
    g_assert_cmpint (sm_quantize_use_more_bits (i, 32), ==,
                     in_list (i, more_bits_32, G_N_ELEMENTS (more_bits_32)));
}

static void
test_duplicate (void)
{
  Model *m = model_new (2, FALSE, 256, 256, SM_TYPE_F16);
  sm_quantize_params p = sm_quantize_default_params ();
  sm_quantize_model_info info = { "llama", 2, 4, 4, 0 };
  sm_quantize_plan *plan = NULL;
  sm_error err = { 0 };

  model_add (m, "blk.1.attn_q.weight", 256, 256, SM_TYPE_F16);
  g_assert_cmpint (sm_quantize_plan_make ((const sm_quantize_tensor_desc *) m->descs->data,
                                          m->descs->len, &info, &p, &plan, &err),
                   ==, SM_ERR_INVALID_ARG);
  g_assert_nonnull (strstr (err.msg, "duplicate"));
  g_assert_null (plan);
  model_free (m);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/quantize-plan/q4_k_m", test_q4_k_m);
  g_test_add_func ("/quantize-plan/q3_k_m", test_q3_k_m);
  g_test_add_func ("/quantize-plan/q5_k_s", test_q5_k_s);
  g_test_add_func ("/quantize-plan/other-mixes", test_other_mixes);
  g_test_add_func ("/quantize-plan/no-gqa", test_no_gqa);
  g_test_add_func ("/quantize-plan/tied", test_tied);
  g_test_add_func ("/quantize-plan/overrides", test_overrides);
  g_test_add_func ("/quantize-plan/fallback", test_fallback);
  g_test_add_func ("/quantize-plan/loader-order", test_loader_order);
  g_test_add_func ("/quantize-plan/dynamic-gate", test_dynamic_gate);
  g_test_add_func ("/quantize-plan/names", test_names);
  g_test_add_func ("/quantize-plan/duplicate", test_duplicate);
  return g_test_run ();
}
