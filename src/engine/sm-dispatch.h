/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-dispatch.h: the CPU variant the kernels run with. The table is filled once (first use, any
 * thread) with the fastest variant the CPU supports; SMELT_CPU_VARIANT=ref|avx2|avx512|neon in the
 * environment forces a lower one for tests (one the CPU lacks falls back to the best it has, never
 * crashes). Not for CPU feature reporting: that is sm-cpu.h.
 *
 * Threading: all functions are thread-safe; the table never changes after it is built.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "sm-types.h"

typedef enum
{
  SM_CPU_VARIANT_REF = 0,   /* portable scalar C: the specification */
  SM_CPU_VARIANT_AVX2,      /* AVX2 + FMA + F16C */
  SM_CPU_VARIANT_AVX512,    /* AVX-512 F/BW/VL/DQ + VNNI + BMI2 (+ BF16 kernels: avx512_bf16) */
  SM_CPU_VARIANT_NEON,      /* aarch64 Advanced SIMD (SDOT when built for armv8.2-a+dotprod) */
  SM_CPU_VARIANT_COUNT,
} sm_cpu_variant;

/* sum_i w[i] * a[i]: n elements of a weight row and a matching activation row. */
typedef float (*sm_vec_dot_fn) (int64_t n, const void *w, const void *a);

/* An nr x nc tile of dot products (see sm_gemm_tile in sm-quant.h):
 * out[c * out_stride + r] = dot (row r of w, column c of a), rows w_stride bytes apart,
 * activation rows a_stride bytes apart, out_stride in floats. */
typedef void (*sm_gemm_tile_fn) (int64_t     n,
                                 const void *w,
                                 size_t      w_stride,
                                 int         nr,
                                 const void *a,
                                 size_t      a_stride,
                                 int         nc,
                                 float      *out,
                                 size_t      out_stride);

/* nr weight rows against one activation row (generation: one token at a time):
 * out[r] = dot (row r of w, a) for r < nr, rows w_stride bytes apart. */
typedef void (*sm_gemv_fn) (int64_t     n,
                            const void *w,
                            size_t      w_stride,
                            int64_t     nr,
                            const void *a,
                            float      *out);

/* Elements [k0, k0 + nk) of one weight row (starting at `row`) decoded to BF16, for the AMX
 * prompt tiles (arch/sm-amx-bf16.c): k0 is a multiple of the type's block size and of 32, nk a
 * multiple of 32 and of the block size, k0 + nk at most the row's length. Each group of 32
 * consecutive elements k0 + 32 g .. k0 + 32 g + 31 is written as 32 BF16 values (64 bytes) at
 * (uint8_t *) dst + g * step. The values are exactly those of sm_bf16_rows_ref: the floats of
 * sm_dequantize_row rounded by sm_fp32_to_bf16 (NaN payloads aside). */
typedef void (*sm_bf16_rows_fn) (const void *row,
                                 int64_t     k0,
                                 int64_t     nk,
                                 void       *dst,
                                 size_t      step);

/* "ref", "avx2", "avx512", "neon"; NULL for out-of-range values. */
const char *sm_cpu_variant_name (sm_cpu_variant v);

/* True when this CPU can run variant v (ref: always). */
bool sm_cpu_variant_supported (sm_cpu_variant v);

/* The variant the dispatch table was built with (after SMELT_CPU_VARIANT). */
sm_cpu_variant sm_dispatch_variant (void);

/* The dispatched dot product of a weight type (never NULL for a type sm_quant_vec_dot_type
 * accepts; NULL otherwise). Hoist it out of row loops instead of calling sm_vec_dot per row. */
sm_vec_dot_fn sm_dispatch_vec_dot (sm_type weight_type);

/* The dot product of weight_type in the table of variant v, for tests and benchmarks: NULL when
 * the CPU lacks the variant or the type has no dot product. A variant without its own kernel for
 * a type inherits the next lower variant's. */
sm_vec_dot_fn sm_dispatch_vec_dot_variant (sm_type        weight_type,
                                           sm_cpu_variant v);

/* The dispatched tile kernel of a weight type: NULL when the active variant has no tile kernel
 * for it (the ref variant never has one; its specification is sm_gemm_tile_ref). Callers then
 * take sm_dispatch_vec_dot per (row, column). Tile kernels are inherited from lower SIMD
 * variants, never from ref. */
sm_gemm_tile_fn sm_dispatch_gemm_tile (sm_type weight_type);

/* The tile kernel of weight_type in the table of variant v, for tests and benchmarks (NULL as
 * above, or when the CPU lacks the variant). */
sm_gemm_tile_fn sm_dispatch_gemm_tile_variant (sm_type        weight_type,
                                               sm_cpu_variant v);

/* The activation converter of weight_type in the table of variant v (NULL and inheritance as
 * above). */
typedef void (*sm_activation_fn) (const float *src, void *dst, int64_t n);
sm_activation_fn sm_dispatch_activation_variant (sm_type        weight_type,
                                                 sm_cpu_variant v);

/* The dispatched multi-row kernel of a weight type for one activation row: NULL when the active
 * variant has none for it (the ref variant never has one); callers then take
 * sm_dispatch_vec_dot per row. Inherited from lower SIMD variants, never from ref. */
sm_gemv_fn sm_dispatch_gemv (sm_type weight_type);

/* The multi-row kernel of weight_type in the table of variant v, for tests and benchmarks (NULL
 * as above, or when the CPU lacks the variant). */
sm_gemv_fn sm_dispatch_gemv_variant (sm_type        weight_type,
                                     sm_cpu_variant v);

/* The dispatched BF16 row decoder of a weight type: NULL when the active variant has none (the
 * AMX prompt path is then not taken for that type). */
sm_bf16_rows_fn sm_dispatch_bf16_rows (sm_type weight_type);

/* True when the active variant may run the AMX-BF16 prompt tiles (arch/sm-amx-bf16.h): the
 * CPU has AMX-BF16, Linux granted the tile registers, and the variant is avx512. */
bool sm_dispatch_amx_bf16 (void);

/* The BF16 row decoder of weight_type in the table of variant v, for tests (NULL as above). */
sm_bf16_rows_fn sm_dispatch_bf16_rows_variant (sm_type        weight_type,
                                               sm_cpu_variant v);

/* The specification of sm_bf16_rows_fn for any type sm_dequantize_row decodes (false
 * otherwise, or when k0/nk break the rules above). */
bool sm_bf16_rows_ref (sm_type     weight_type,
                       const void *row,
                       int64_t     k0,
                       int64_t     nk,
                       void       *dst,
                       size_t      step);

/* out[r] = dot (row r of w, a) for r < nr through the dispatched multi-row kernel, or the
 * dispatched per-row dot where there is none. a is one activation row in the dot partner type
 * of weight_type (sm_quant_activation_row). */
void sm_gemv (sm_type     weight_type,
              int64_t     n,
              const void *w,
              size_t      w_stride,
              int64_t     nr,
              const void *a,
              float      *out);

/* The specification of sm_gemv: the reference dot of every row. */
void sm_gemv_ref (sm_type     weight_type,
                  int64_t     n,
                  const void *w,
                  size_t      w_stride,
                  int64_t     nr,
                  const void *a,
                  float      *out);
