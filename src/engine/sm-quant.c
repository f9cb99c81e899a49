/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-quant.c: the public face of the block formats (sm-quant.h): which type can be made or read,
 * row-level quantize/dequantize through the `_ref` kernels, and the dot-product entry points
 * that go through the dispatch table (sm-dispatch.c). The maths lives in sm-quant-ref.c.
 */
#include "sm-quant-private.h"
#include "sm-quant-fast.h"

typedef struct
{
  sm_quantize_fn   quantize;   /* NULL: cannot be made */
  sm_dequantize_fn dequantize; /* NULL: cannot be read */
  sm_vec_dot_fn    dot_ref;    /* NULL: no dot product */
  sm_type          dot_type;   /* activation type of the dot product */
} quant_traits;

#define Q(t) sm_quantize_row_##t##_ref
#define D(t) sm_dequantize_row_##t##_ref
#define V(t) sm_vec_dot_##t##_ref

static const quant_traits traits[SM_TYPE_COUNT] = {
  [SM_TYPE_F32] = { Q (f32), D (f32), V (f32), SM_TYPE_F32 },
  [SM_TYPE_F16] = { Q (f16), D (f16), V (f16), SM_TYPE_F16 },
  [SM_TYPE_BF16] = { Q (bf16), D (bf16), V (bf16), SM_TYPE_BF16 },
  [SM_TYPE_Q8_0] = { Q (q8_0), D (q8_0), V (q8_0), SM_TYPE_Q8_0 },
  [SM_TYPE_Q8_1] = { NULL, D (q8_1), NULL, SM_TYPE_COUNT },
  [SM_TYPE_Q4_0] = { Q (q4_0), D (q4_0), V (q4_0), SM_TYPE_Q8_0 },
  [SM_TYPE_Q4_1] = { Q (q4_1), D (q4_1), V (q4_1), SM_TYPE_Q8_1 },
  [SM_TYPE_Q5_0] = { Q (q5_0), D (q5_0), V (q5_0), SM_TYPE_Q8_0 },
  [SM_TYPE_Q5_1] = { Q (q5_1), D (q5_1), V (q5_1), SM_TYPE_Q8_1 },
  [SM_TYPE_Q2_K] = { Q (q2_K), D (q2_K), V (q2_K), SM_TYPE_Q8_K },
  [SM_TYPE_Q3_K] = { Q (q3_K), D (q3_K), V (q3_K), SM_TYPE_Q8_K },
  [SM_TYPE_Q4_K] = { Q (q4_K), D (q4_K), V (q4_K), SM_TYPE_Q8_K },
  [SM_TYPE_Q5_K] = { Q (q5_K), D (q5_K), V (q5_K), SM_TYPE_Q8_K },
  [SM_TYPE_Q6_K] = { Q (q6_K), D (q6_K), V (q6_K), SM_TYPE_Q8_K },
  [SM_TYPE_Q8_K] = { Q (q8_K), D (q8_K), V (q8_K), SM_TYPE_Q8_K },
  [SM_TYPE_IQ4_NL] = { Q (iq4_nl), D (iq4_nl), V (iq4_nl), SM_TYPE_Q8_0 },
  [SM_TYPE_IQ4_XS] = { Q (iq4_xs), D (iq4_xs), V (iq4_xs), SM_TYPE_Q8_K },
  [SM_TYPE_IQ2_XXS] = { NULL, D (iq2_xxs), V (iq2_xxs), SM_TYPE_Q8_K },
  [SM_TYPE_IQ2_XS] = { NULL, D (iq2_xs), V (iq2_xs), SM_TYPE_Q8_K },
  [SM_TYPE_IQ2_S] = { NULL, D (iq2_s), V (iq2_s), SM_TYPE_Q8_K },
  [SM_TYPE_IQ3_XXS] = { NULL, D (iq3_xxs), V (iq3_xxs), SM_TYPE_Q8_K },
  [SM_TYPE_IQ3_S] = { NULL, D (iq3_s), V (iq3_s), SM_TYPE_Q8_K },
  [SM_TYPE_IQ1_S] = { NULL, D (iq1_s), V (iq1_s), SM_TYPE_Q8_K },
  [SM_TYPE_IQ1_M] = { NULL, D (iq1_m), V (iq1_m), SM_TYPE_Q8_K },
};

#undef Q
#undef D
#undef V

static const quant_traits *
get_traits (sm_type type)
{
  if ((unsigned) type >= SM_TYPE_COUNT)
    return NULL;
  return &traits[type];
}

float
sm_fp16_to_fp32 (uint16_t h)
{
  return sm_half_to_float (h);
}

uint16_t
sm_fp32_to_fp16 (float f)
{
  return sm_float_to_half (f);
}

float
sm_bf16_to_fp32 (uint16_t h)
{
  return sm_bf16_to_float (h);
}

uint16_t
sm_fp32_to_bf16 (float f)
{
  return sm_float_to_bf16 (f);
}

bool
sm_quant_can_quantize (sm_type type)
{
  const quant_traits *t = get_traits (type);
  return t != NULL && t->quantize != NULL;
}

bool
sm_quant_can_dequantize (sm_type type)
{
  const quant_traits *t = get_traits (type);
  return t != NULL && t->dequantize != NULL;
}

/* A row of n elements must be whole blocks. */
static bool
row_ok (sm_type type, int64_t n)
{
  const sm_type_traits *tt = sm_type_get_traits (type);
  return tt != NULL && n >= 0 && n % tt->blck_size == 0;
}

size_t
sm_quantize_row (sm_type      type,
                 const float *src,
                 void        *dst,
                 int64_t      n,
                 const float *importance)
{
  sm_quantize_fn fast;

  if (!sm_quant_can_quantize (type) || !row_ok (type, n))
    return 0;
  fast = sm_quantize_fast (type); /* a SIMD twin of the reference, same bytes */
  (fast != NULL ? fast : traits[type].quantize) (src, dst, n, importance);
  return sm_type_row_size (type, n);
}

bool
sm_dequantize_row (sm_type     type,
                   const void *src,
                   float      *dst,
                   int64_t     n)
{
  if (!sm_quant_can_dequantize (type) || !row_ok (type, n))
    return false;
  traits[type].dequantize (src, dst, n);
  return true;
}

sm_type
sm_quant_vec_dot_type (sm_type weight_type)
{
  const quant_traits *t = get_traits (weight_type);
  return t != NULL && t->dot_ref != NULL ? t->dot_type : SM_TYPE_COUNT;
}

void
sm_quant_fill_ref (sm_vec_dot_fn    vec_dot[SM_TYPE_COUNT],
                   sm_activation_fn act[SM_TYPE_COUNT])
{
  for (int t = 0; t < SM_TYPE_COUNT; t++)
    vec_dot[t] = traits[t].dot_ref;
  for (int t = 0; t < SM_TYPE_COUNT; t++)
    act[t] = NULL;
  act[SM_TYPE_F32] = sm_act_row_f32_ref;
  act[SM_TYPE_F16] = sm_act_row_f16_ref;
  act[SM_TYPE_BF16] = sm_act_row_bf16_ref;
  act[SM_TYPE_Q8_0] = sm_act_row_q8_0_ref;
  act[SM_TYPE_Q8_1] = sm_act_row_q8_1_ref;
  act[SM_TYPE_Q8_K] = sm_act_row_q8_K_ref;
}
