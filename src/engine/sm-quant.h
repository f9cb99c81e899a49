/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-quant.h: block quantization and dot products for every ggml type Smelt reads or writes
 * (docs: formats.md section 3). Bit-compatible with llama.cpp's block layouts.
 *
 * Rows: n elements, n a multiple of the type's block size. Each format has a scalar `_ref`
 * implementation (sm-quant-ref.c) that is the specification; SIMD variants (arch/sm-quant-*.c)
 * are picked once at run time through the dispatch table (sm-dispatch.c) and must match `_ref`
 * within the tolerances tested in tests/engine/test-quant-fns.c. Not for whole tensors or models:
 * that is sm-quantize.h (the model quantizer).
 *
 * Threading: every function here is reentrant and may run on any thread.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "sm-types.h"

/* ---- Scalar conversions ---- */
float    sm_fp16_to_fp32 (uint16_t h);
uint16_t sm_fp32_to_fp16 (float f);  /* round to nearest even */
float    sm_bf16_to_fp32 (uint16_t h);
uint16_t sm_fp32_to_bf16 (float f);  /* round to nearest even, NaN kept quiet */

/* True when rows of `type` can be produced by sm_quantize_row (F32, F16, BF16, Q8_0, Q4_0, Q4_1,
 * Q5_0, Q5_1, Q2_K..Q6_K, Q8_K, IQ4_NL, IQ4_XS). */
bool sm_quant_can_quantize (sm_type type);

/* True when rows of `type` can be decoded to float by sm_dequantize_row (all of the above plus the
 * grid types IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S). */
bool sm_quant_can_dequantize (sm_type type);

/* Quantizes n floats into one row of `type` at dst (sm_type_row_size(type, n) bytes).
 * importance: NULL, or n non-negative per-column weights (an imatrix row) that the K and IQ4
 * quantizers (and Q4_0/Q4_1/Q5_0/Q5_1) use to weight the error they minimise; without it the
 * output is byte-identical to llama.cpp's reference quantizers. Returns bytes written, 0 if the
 * type cannot be quantized or n is not a multiple of the block size. */
size_t sm_quantize_row (sm_type      type,
                        const float *src,
                        void        *dst,
                        int64_t      n,
                        const float *importance);

/* Decodes one row of n elements of `type` into floats; false if the type cannot be decoded. */
bool sm_dequantize_row (sm_type     type,
                        const void *src,
                        float      *dst,
                        int64_t     n);

/* ---- Dot products (weights x activations) ----
 *
 * A weight row of type W is multiplied with an activation row first converted to
 * sm_quant_vec_dot_type(W) (Q8_0 for Q4_0/Q5_0/Q8_0/IQ4_NL, Q8_1 for Q4_1/Q5_1, Q8_K for the K
 * and IQ types, F16 for F16, BF16 for BF16, F32 for F32). SM_TYPE_COUNT when weight_type has no
 * dot product (Q8_1, the integer types, TQ*, MXFP4, ...). */
sm_type sm_quant_vec_dot_type (sm_type weight_type);

/* Converts n floats to one row of sm_quant_vec_dot_type(weight_type) at dst (nothing for a type
 * without dot product). */
void sm_quant_activation_row (sm_type      weight_type,
                              const float *src,
                              void        *dst,
                              int64_t      n);

/* sum_i w[i] * a[i] over n elements; w is a row of weight_type, a a row converted with
 * sm_quant_activation_row. Uses the dispatched (fastest supported) variant; 0 for a type without
 * dot product. Row loops should fetch the kernel once with sm_dispatch_vec_dot (sm-dispatch.h). */
float sm_vec_dot (sm_type     weight_type,
                  int64_t     n,
                  const void *w,
                  const void *a);

/* A tile of dot products for batches (matrix x matrix): for r < nr and c < nc,
 *   out[c * out_stride + r] = sm_vec_dot (weight_type, n, w + r * w_stride, a + c * a_stride)
 * (strides of w and a in bytes, of out in floats). Tile kernels decode each weight block once
 * and reuse it for several activation columns; the result equals the per-pair dot within the
 * float rounding of a different summation order. Types without a tile kernel in the
 * dispatched variant run the per-pair dot. nr, nc >= 0, any values. */
void sm_gemm_tile (sm_type     weight_type,
                   int64_t     n,
                   const void *w,
                   size_t      w_stride,
                   int         nr,
                   const void *a,
                   size_t      a_stride,
                   int         nc,
                   float      *out,
                   size_t      out_stride);

/* The specification of sm_gemm_tile: the same loops over the scalar reference dot product. */
void sm_gemm_tile_ref (sm_type     weight_type,
                       int64_t     n,
                       const void *w,
                       size_t      w_stride,
                       int         nr,
                       const void *a,
                       size_t      a_stride,
                       int         nc,
                       float      *out,
                       size_t      out_stride);
