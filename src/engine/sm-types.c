/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-types.c: the ggml type table (formats.md section 2) and llama_ftype names (section 4).
 */
#include "sm-types.h"

#include <strings.h>

#define T(id, lo, up, blk, sz, q) [id] = { lo, up, blk, sz, q }

static const sm_type_traits type_table[SM_TYPE_COUNT] = {
  T (SM_TYPE_F32, "f32", "F32", 1, 4, false),
  T (SM_TYPE_F16, "f16", "F16", 1, 2, false),
  T (SM_TYPE_Q4_0, "q4_0", "Q4_0", 32, 18, true),
  T (SM_TYPE_Q4_1, "q4_1", "Q4_1", 32, 20, true),
  T (SM_TYPE_Q5_0, "q5_0", "Q5_0", 32, 22, true),
  T (SM_TYPE_Q5_1, "q5_1", "Q5_1", 32, 24, true),
  T (SM_TYPE_Q8_0, "q8_0", "Q8_0", 32, 34, true),
  T (SM_TYPE_Q8_1, "q8_1", "Q8_1", 32, 36, true),
  T (SM_TYPE_Q2_K, "q2_K", "Q2_K", 256, 84, true),
  T (SM_TYPE_Q3_K, "q3_K", "Q3_K", 256, 110, true),
  T (SM_TYPE_Q4_K, "q4_K", "Q4_K", 256, 144, true),
  T (SM_TYPE_Q5_K, "q5_K", "Q5_K", 256, 176, true),
  T (SM_TYPE_Q6_K, "q6_K", "Q6_K", 256, 210, true),
  T (SM_TYPE_Q8_K, "q8_K", "Q8_K", 256, 292, true),
  T (SM_TYPE_IQ2_XXS, "iq2_xxs", "IQ2_XXS", 256, 66, true),
  T (SM_TYPE_IQ2_XS, "iq2_xs", "IQ2_XS", 256, 74, true),
  T (SM_TYPE_IQ3_XXS, "iq3_xxs", "IQ3_XXS", 256, 98, true),
  T (SM_TYPE_IQ1_S, "iq1_s", "IQ1_S", 256, 50, true),
  T (SM_TYPE_IQ4_NL, "iq4_nl", "IQ4_NL", 32, 18, true),
  T (SM_TYPE_IQ3_S, "iq3_s", "IQ3_S", 256, 110, true),
  T (SM_TYPE_IQ2_S, "iq2_s", "IQ2_S", 256, 82, true),
  T (SM_TYPE_IQ4_XS, "iq4_xs", "IQ4_XS", 256, 136, true),
  T (SM_TYPE_I8, "i8", "I8", 1, 1, false),
  T (SM_TYPE_I16, "i16", "I16", 1, 2, false),
  T (SM_TYPE_I32, "i32", "I32", 1, 4, false),
  T (SM_TYPE_I64, "i64", "I64", 1, 8, false),
  T (SM_TYPE_F64, "f64", "F64", 1, 8, false),
  T (SM_TYPE_IQ1_M, "iq1_m", "IQ1_M", 256, 56, true),
  T (SM_TYPE_BF16, "bf16", "BF16", 1, 2, false),
  T (SM_TYPE_TQ1_0, "tq1_0", "TQ1_0", 256, 54, true),
  T (SM_TYPE_TQ2_0, "tq2_0", "TQ2_0", 256, 66, true),
  T (SM_TYPE_MXFP4, "mxfp4", "MXFP4", 32, 17, true),
  T (SM_TYPE_NVFP4, "nvfp4", "NVFP4", 64, 36, true),
  T (SM_TYPE_Q1_0, "q1_0", "Q1_0", 128, 18, true),
  T (SM_TYPE_Q2_0, "q2_0", "Q2_0", 64, 18, true),
};

#undef T

const sm_type_traits *
sm_type_get_traits (uint32_t t)
{
  if (t >= SM_TYPE_COUNT || type_table[t].blck_size == 0)
    return NULL;
  return &type_table[t];
}

bool
sm_type_is_valid (uint32_t t)
{
  return sm_type_get_traits (t) != NULL;
}

size_t
sm_type_row_size (sm_type t,
                  int64_t n)
{
  const sm_type_traits *tr = sm_type_get_traits (t);

  if (tr == NULL || n < 0 || n % tr->blck_size != 0)
    return 0;
  return (size_t) (n / tr->blck_size) * tr->type_size;
}

int
sm_type_from_name (const char *name)
{
  if (name == NULL)
    return -1;
  for (int t = 0; t < SM_TYPE_COUNT; t++)
    if (type_table[t].blck_size != 0 && strcasecmp (type_table[t].name, name) == 0)
      return t;
  return -1;
}

static const char *const ftype_names[] = {
  [SM_FTYPE_ALL_F32] = "F32",
  [SM_FTYPE_MOSTLY_F16] = "F16",
  [SM_FTYPE_MOSTLY_Q4_0] = "Q4_0",
  [SM_FTYPE_MOSTLY_Q4_1] = "Q4_1",
  [SM_FTYPE_MOSTLY_Q8_0] = "Q8_0",
  [SM_FTYPE_MOSTLY_Q5_0] = "Q5_0",
  [SM_FTYPE_MOSTLY_Q5_1] = "Q5_1",
  [SM_FTYPE_MOSTLY_Q2_K] = "Q2_K",
  [SM_FTYPE_MOSTLY_Q3_K_S] = "Q3_K_S",
  [SM_FTYPE_MOSTLY_Q3_K_M] = "Q3_K_M",
  [SM_FTYPE_MOSTLY_Q3_K_L] = "Q3_K_L",
  [SM_FTYPE_MOSTLY_Q4_K_S] = "Q4_K_S",
  [SM_FTYPE_MOSTLY_Q4_K_M] = "Q4_K_M",
  [SM_FTYPE_MOSTLY_Q5_K_S] = "Q5_K_S",
  [SM_FTYPE_MOSTLY_Q5_K_M] = "Q5_K_M",
  [SM_FTYPE_MOSTLY_Q6_K] = "Q6_K",
  [SM_FTYPE_MOSTLY_IQ2_XXS] = "IQ2_XXS",
  [SM_FTYPE_MOSTLY_IQ2_XS] = "IQ2_XS",
  [SM_FTYPE_MOSTLY_Q2_K_S] = "Q2_K_S",
  [SM_FTYPE_MOSTLY_IQ3_XS] = "IQ3_XS",
  [SM_FTYPE_MOSTLY_IQ3_XXS] = "IQ3_XXS",
  [SM_FTYPE_MOSTLY_IQ1_S] = "IQ1_S",
  [SM_FTYPE_MOSTLY_IQ4_NL] = "IQ4_NL",
  [SM_FTYPE_MOSTLY_IQ3_S] = "IQ3_S",
  [SM_FTYPE_MOSTLY_IQ3_M] = "IQ3_M",
  [SM_FTYPE_MOSTLY_IQ2_S] = "IQ2_S",
  [SM_FTYPE_MOSTLY_IQ2_M] = "IQ2_M",
  [SM_FTYPE_MOSTLY_IQ4_XS] = "IQ4_XS",
  [SM_FTYPE_MOSTLY_IQ1_M] = "IQ1_M",
  [SM_FTYPE_MOSTLY_BF16] = "BF16",
  [SM_FTYPE_MOSTLY_TQ1_0] = "TQ1_0",
  [SM_FTYPE_MOSTLY_TQ2_0] = "TQ2_0",
};

const char *
sm_ftype_name (uint32_t ftype)
{
  if (ftype >= sizeof ftype_names / sizeof ftype_names[0])
    return NULL;
  return ftype_names[ftype];
}
