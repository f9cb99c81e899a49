/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-quant-private.h: what the quantization module shares between its own files (sm-quant.c,
 * sm-quant-ref.c, sm-dispatch.c, arch/sm-quant-*.c) and its tests: inline half/bfloat
 * conversions, the scalar `_ref` kernels (the specification), the grid tables and the shape of
 * the dispatch table. Other modules use sm-quant.h and sm-dispatch.h instead.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

#include "sm-quant.h"
#include "sm-quant-blocks.h"
#include "sm-dispatch.h"

/* ---- Inline conversions (the public sm_fp16_to_fp32 & co. wrap these) ---- */

static inline uint32_t
sm_f32_bits (float f)
{
  uint32_t u;
  memcpy (&u, &f, sizeof u);
  return u;
}

static inline float
sm_f32_from_bits (uint32_t u)
{
  float f;
  memcpy (&f, &u, sizeof f);
  return f;
}

/* binary16 -> binary32 is exact: rebias the exponent, shift the mantissa; subnormal halves are
 * mant * 2^-24, which a float holds exactly. */
static inline float
sm_half_to_float (sm_half h)
{
  uint32_t sign = (uint32_t) (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;

  if (exp == 0)
    {
      float v = (float) mant * 0x1p-24f;
      return sign ? -v : v;
    }
  if (exp == 31)                             /* inf, or NaN made quiet as F16C does */
    return sm_f32_from_bits (sign | 0x7f800000u | (mant ? 0x400000u : 0u) | (mant << 13));
  return sm_f32_from_bits (sign | ((exp + 112u) << 23) | (mant << 13));
}

/* binary32 -> binary16, round to nearest even (what F16C's vcvtps2ph does in its default mode).
 * Normal range: add the rebias plus 0xfff, plus 1 more when the kept mantissa is odd, so the
 * carry out of the 13 dropped bits implements ties-to-even. Subnormal range: adding 0.5 (as a
 * float) aligns the result's LSB with 2^-24 and lets the FPU do the rounding. */
static inline sm_half
sm_float_to_half (float f)
{
  uint32_t x = sm_f32_bits (f);
  uint32_t sign = (x >> 16) & 0x8000u;

  x &= 0x7fffffffu;
  if (x > 0x7f800000u)                       /* NaN: keep it quiet, keep the top payload bits */
    return (sm_half) (sign | 0x7e00u | ((x >> 13) & 0x3ffu));
  if (x >= 0x477ff000u)                      /* >= 65520 rounds to infinity */
    return (sm_half) (sign | 0x7c00u);
  if (x < 0x38800000u)                       /* below 2^-14: subnormal or zero */
    {
      float v = sm_f32_from_bits (x) + 0.5f;
      return (sm_half) (sign | (sm_f32_bits (v) - 0x3f000000u));
    }
  uint32_t odd = (x >> 13) & 1u;
  x += 0xc8000fffu + odd;                    /* (15 - 127) << 23, plus the rounding bias */
  return (sm_half) (sign | (x >> 13));
}

static inline float
sm_bf16_to_float (uint16_t h)
{
  return sm_f32_from_bits ((uint32_t) h << 16);
}

static inline uint16_t
sm_float_to_bf16 (float f)
{
  uint32_t u = sm_f32_bits (f);

  if ((u & 0x7fffffffu) > 0x7f800000u)
    return (uint16_t) ((u >> 16) | 64);      /* NaN: force the quiet bit */
  return (uint16_t) ((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

/* ---- Kernel shapes ---- */

/* Quantizes n floats (a multiple of the block size); importance may be NULL. */
typedef void (*sm_quantize_fn) (const float *src, void *dst, int64_t n, const float *importance);
/* Decodes n elements. */
typedef void (*sm_dequantize_fn) (const void *src, float *dst, int64_t n);

/* ---- Reference kernels (sm-quant-ref.c) ---- */

#define SM_DECL_QUANT(t) \
  void sm_quantize_row_##t##_ref (const float *src, void *dst, int64_t n, const float *importance);
#define SM_DECL_DEQUANT(t) \
  void sm_dequantize_row_##t##_ref (const void *src, float *dst, int64_t n);

SM_DECL_QUANT (f32) SM_DECL_QUANT (f16) SM_DECL_QUANT (bf16) SM_DECL_QUANT (q8_0)
SM_DECL_QUANT (q8_1) SM_DECL_QUANT (q4_0) SM_DECL_QUANT (q4_1) SM_DECL_QUANT (q5_0)
SM_DECL_QUANT (q5_1) SM_DECL_QUANT (q2_K) SM_DECL_QUANT (q3_K) SM_DECL_QUANT (q4_K)
SM_DECL_QUANT (q5_K) SM_DECL_QUANT (q6_K) SM_DECL_QUANT (q8_K) SM_DECL_QUANT (iq4_nl)
SM_DECL_QUANT (iq4_xs)

SM_DECL_DEQUANT (f32) SM_DECL_DEQUANT (f16) SM_DECL_DEQUANT (bf16) SM_DECL_DEQUANT (q8_0)
SM_DECL_DEQUANT (q8_1) SM_DECL_DEQUANT (q4_0) SM_DECL_DEQUANT (q4_1) SM_DECL_DEQUANT (q5_0)
SM_DECL_DEQUANT (q5_1) SM_DECL_DEQUANT (q2_K) SM_DECL_DEQUANT (q3_K) SM_DECL_DEQUANT (q4_K)
SM_DECL_DEQUANT (q5_K) SM_DECL_DEQUANT (q6_K) SM_DECL_DEQUANT (q8_K) SM_DECL_DEQUANT (iq4_nl)
SM_DECL_DEQUANT (iq4_xs) SM_DECL_DEQUANT (iq2_xxs) SM_DECL_DEQUANT (iq2_xs)
SM_DECL_DEQUANT (iq2_s) SM_DECL_DEQUANT (iq3_xxs) SM_DECL_DEQUANT (iq3_s)
SM_DECL_DEQUANT (iq1_s) SM_DECL_DEQUANT (iq1_m)

#undef SM_DECL_QUANT
#undef SM_DECL_DEQUANT

/* Activation quantizers (plain, without importance). */
void sm_act_row_q8_0_ref (const float *src, void *dst, int64_t n);
void sm_act_row_q8_1_ref (const float *src, void *dst, int64_t n);
void sm_act_row_q8_K_ref (const float *src, void *dst, int64_t n);
void sm_act_row_f16_ref (const float *src, void *dst, int64_t n);
void sm_act_row_bf16_ref (const float *src, void *dst, int64_t n);
void sm_act_row_f32_ref (const float *src, void *dst, int64_t n);

/* Reference dot products, one per weight type, against sm_quant_vec_dot_type(type). */
#define SM_DECL_DOT(t) float sm_vec_dot_##t##_ref (int64_t n, const void *w, const void *a);
SM_DECL_DOT (f32) SM_DECL_DOT (f16) SM_DECL_DOT (bf16) SM_DECL_DOT (q8_0) SM_DECL_DOT (q4_0)
SM_DECL_DOT (q4_1) SM_DECL_DOT (q5_0) SM_DECL_DOT (q5_1) SM_DECL_DOT (q2_K) SM_DECL_DOT (q3_K)
SM_DECL_DOT (q4_K) SM_DECL_DOT (q5_K) SM_DECL_DOT (q6_K) SM_DECL_DOT (q8_K) SM_DECL_DOT (iq4_nl)
SM_DECL_DOT (iq4_xs) SM_DECL_DOT (iq2_xxs) SM_DECL_DOT (iq2_xs) SM_DECL_DOT (iq2_s)
SM_DECL_DOT (iq3_xxs) SM_DECL_DOT (iq3_s) SM_DECL_DOT (iq1_s) SM_DECL_DOT (iq1_m)
#undef SM_DECL_DOT

/* Fills the ref kernels for every type into the tables (sm-quant.c). */
void sm_quant_fill_ref (sm_vec_dot_fn    vec_dot[SM_TYPE_COUNT],
                        sm_activation_fn act[SM_TYPE_COUNT]);

/* ---- SIMD variants (arch/sm-quant-<isa>.c) ----
 * Each overwrites the entries it implements and leaves the rest (already filled by the ref or a
 * lower variant). Only called when the CPU supports the ISA. `act` is indexed by activation type
 * (SM_TYPE_Q8_0, SM_TYPE_Q8_K, ...). */
void sm_quant_fill_avx2 (sm_vec_dot_fn    vec_dot[SM_TYPE_COUNT],
                         sm_activation_fn act[SM_TYPE_COUNT]);
void sm_quant_fill_avx512 (sm_vec_dot_fn    vec_dot[SM_TYPE_COUNT],
                           sm_activation_fn act[SM_TYPE_COUNT]);
void sm_quant_fill_neon (sm_vec_dot_fn    vec_dot[SM_TYPE_COUNT],
                         sm_activation_fn act[SM_TYPE_COUNT]);

/* Tile kernels (sm_gemm_tile_fn) of the x86 variants, same convention. */
void sm_quant_fill_gemm_avx2 (sm_gemm_tile_fn gemm[SM_TYPE_COUNT]);
void sm_quant_fill_gemm_avx512 (sm_gemm_tile_fn gemm[SM_TYPE_COUNT]);
/* The Q4_K and Q5_K tiles (arch/sm-gemm-k4-<isa>.c), same convention. */
void sm_gemm_fill_k4_avx2 (sm_gemm_tile_fn gemm[SM_TYPE_COUNT]);
void sm_gemm_fill_k4_avx512 (sm_gemm_tile_fn gemm[SM_TYPE_COUNT]);
/* The BF16 row decoders of the AVX-512 variant (arch/sm-bf16rows-avx512.c): set the entries of
 * the types they decode (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, IQ4_XS, Q4_K, Q5_K, Q6_K, BF16;
 * never F16) and leave the others. The same decoders twice: rounding with integer operations
 * (any avx512 CPU), or with vcvtne2ps2bf16 (only for CPUs with AVX512-BF16). */
void sm_bf16_rows_fill_avx512 (sm_bf16_rows_fn table[SM_TYPE_COUNT]);
void sm_bf16_rows_fill_avx512bf16 (sm_bf16_rows_fn table[SM_TYPE_COUNT]);

/* The 16-row AVX-512 VNNI panels of the sub-block-scaled formats (arch/sm-gemm-k6-avx512.c). */
void sm_gemm_q6_K_avx512 (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as,
                          int nc, float *out, size_t os);
void sm_gemm_iq4_xs_avx512 (int64_t n, const void *w, size_t ws, int nr, const void *a,
                            size_t as, int nc, float *out, size_t os);
void sm_gemm_iq4_nl_avx512 (int64_t n, const void *w, size_t ws, int nr, const void *a,
                            size_t as, int nc, float *out, size_t os);
/* The AMX-INT8 tiles of Q8_0, Q4_0 and IQ4_NL (arch/sm-gemm-amx8.c): only for CPUs with
 * amx_tile + amx_int8 whose process was granted the tile registers (sm-dispatch.c installs the
 * Q8_0 one there; the other two are only tested). */
void sm_gemm_q8_0_amx (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as,
                       int nc, float *out, size_t os);
void sm_gemm_q4_0_amx (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as,
                       int nc, float *out, size_t os);
void sm_gemm_iq4_nl_amx (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as,
                         int nc, float *out, size_t os);
/* Their 4-row AVX2 tiles (arch/sm-gemm-k6-avx2.c). */
void sm_gemm_q6_K_avx2 (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as,
                        int nc, float *out, size_t os);
void sm_gemm_iq4_xs_avx2 (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as,
                          int nc, float *out, size_t os);

/* ---- Grid tables (sm-quant-grids.c, data from ggml, MIT) ---- */
extern const uint64_t sm_iq2xxs_grid[256];
extern const uint64_t sm_iq2xs_grid[512];
extern const uint64_t sm_iq2s_grid[1024];
extern const uint32_t sm_iq3xxs_grid[256];
extern const uint32_t sm_iq3s_grid[512];
extern const uint64_t sm_iq1s_grid[2048];
