/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-types.h: the ggml tensor type table (ids as stored in GGUF tensor infos) and the
 * llama_ftype values written to `general.file_type` (docs: formats.md sections 2 and 4).
 *
 * Retired ids keep their number but have no traits (block size 0): files using them are refused.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef enum
{
  SM_TYPE_F32 = 0,
  SM_TYPE_F16 = 1,
  SM_TYPE_Q4_0 = 2,
  SM_TYPE_Q4_1 = 3,
  /* 4, 5: Q4_2, Q4_3 retired */
  SM_TYPE_Q5_0 = 6,
  SM_TYPE_Q5_1 = 7,
  SM_TYPE_Q8_0 = 8,
  SM_TYPE_Q8_1 = 9,
  SM_TYPE_Q2_K = 10,
  SM_TYPE_Q3_K = 11,
  SM_TYPE_Q4_K = 12,
  SM_TYPE_Q5_K = 13,
  SM_TYPE_Q6_K = 14,
  SM_TYPE_Q8_K = 15,
  SM_TYPE_IQ2_XXS = 16,
  SM_TYPE_IQ2_XS = 17,
  SM_TYPE_IQ3_XXS = 18,
  SM_TYPE_IQ1_S = 19,
  SM_TYPE_IQ4_NL = 20,
  SM_TYPE_IQ3_S = 21,
  SM_TYPE_IQ2_S = 22,
  SM_TYPE_IQ4_XS = 23,
  SM_TYPE_I8 = 24,
  SM_TYPE_I16 = 25,
  SM_TYPE_I32 = 26,
  SM_TYPE_I64 = 27,
  SM_TYPE_F64 = 28,
  SM_TYPE_IQ1_M = 29,
  SM_TYPE_BF16 = 30,
  /* 31..33: Q4_0_4_4, Q4_0_4_8, Q4_0_8_8 retired */
  SM_TYPE_TQ1_0 = 34,
  SM_TYPE_TQ2_0 = 35,
  /* 36..38: IQ4_NL_4_4, IQ4_NL_4_8, IQ4_NL_8_8 retired */
  SM_TYPE_MXFP4 = 39,
  SM_TYPE_NVFP4 = 40,
  SM_TYPE_Q1_0 = 41,
  SM_TYPE_Q2_0 = 42,
  SM_TYPE_COUNT = 43, /* first invalid id */
} sm_type;

typedef struct
{
  const char *name;      /* ggml_type_name spelling: "f32", "q4_K", "iq4_xs", ... */
  const char *upper;     /* as users and `smelt info` write it: "F32", "Q4_K", "IQ4_XS" */
  uint32_t    blck_size; /* elements per block; 0 = retired id */
  uint32_t    type_size; /* bytes per block */
  bool        quantized; /* a block format (not a plain scalar type) */
} sm_type_traits;

/* Traits of id t; NULL when t is out of range or retired. */
const sm_type_traits *sm_type_get_traits (uint32_t t);

/* True when id t is a known, non-retired type. */
bool sm_type_is_valid (uint32_t t);

/* Bytes of one row of n elements; 0 if t is invalid or n is not a multiple of the block size. */
size_t sm_type_row_size (sm_type t,
                         int64_t n);

/* Looks a type up by name, case-insensitive ("q4_k", "Q4_K", "bf16"); -1 when unknown. */
int sm_type_from_name (const char *name);

/* llama_ftype values for `general.file_type` (llama.h numbering, not ggml_ftype). */
typedef enum
{
  SM_FTYPE_ALL_F32 = 0,
  SM_FTYPE_MOSTLY_F16 = 1,
  SM_FTYPE_MOSTLY_Q4_0 = 2,
  SM_FTYPE_MOSTLY_Q4_1 = 3,
  SM_FTYPE_MOSTLY_Q8_0 = 7,
  SM_FTYPE_MOSTLY_Q5_0 = 8,
  SM_FTYPE_MOSTLY_Q5_1 = 9,
  SM_FTYPE_MOSTLY_Q2_K = 10,
  SM_FTYPE_MOSTLY_Q3_K_S = 11,
  SM_FTYPE_MOSTLY_Q3_K_M = 12,
  SM_FTYPE_MOSTLY_Q3_K_L = 13,
  SM_FTYPE_MOSTLY_Q4_K_S = 14,
  SM_FTYPE_MOSTLY_Q4_K_M = 15,
  SM_FTYPE_MOSTLY_Q5_K_S = 16,
  SM_FTYPE_MOSTLY_Q5_K_M = 17,
  SM_FTYPE_MOSTLY_Q6_K = 18,
  SM_FTYPE_MOSTLY_IQ2_XXS = 19,
  SM_FTYPE_MOSTLY_IQ2_XS = 20,
  SM_FTYPE_MOSTLY_Q2_K_S = 21,
  SM_FTYPE_MOSTLY_IQ3_XS = 22,
  SM_FTYPE_MOSTLY_IQ3_XXS = 23,
  SM_FTYPE_MOSTLY_IQ1_S = 24,
  SM_FTYPE_MOSTLY_IQ4_NL = 25,
  SM_FTYPE_MOSTLY_IQ3_S = 26,
  SM_FTYPE_MOSTLY_IQ3_M = 27,
  SM_FTYPE_MOSTLY_IQ2_S = 28,
  SM_FTYPE_MOSTLY_IQ2_M = 29,
  SM_FTYPE_MOSTLY_IQ4_XS = 30,
  SM_FTYPE_MOSTLY_IQ1_M = 31,
  SM_FTYPE_MOSTLY_BF16 = 32,
  SM_FTYPE_MOSTLY_TQ1_0 = 36,
  SM_FTYPE_MOSTLY_TQ2_0 = 37,
} sm_ftype;

/* "Q4_K_M", "BF16", ...; NULL for values not in the table. */
const char *sm_ftype_name (uint32_t ftype);
