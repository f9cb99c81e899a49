/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-quant-fast.h: SIMD twins of the block quantizers the model quantizer spends its time in
 * (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS). They write exactly the bytes of the scalar
 * references in sm-quant-ref.c (the specification); they are only faster. sm_quantize_row
 * (sm-quant.c) takes the one of the active dispatch variant (sm-dispatch.h, SMELT_CPU_VARIANT
 * included).
 *
 * The model quantizer also takes its input conversion (BF16/F16/F32 to f32 plus the NaN/inf
 * check) from here.
 *
 * Threading: all functions are thread-safe; the table is built once.
 */
#pragma once

#include "sm-quant-private.h"
#include "sm-dispatch.h"

/* The quantizer of type in variant v: NULL when v has no SIMD quantizer of its own for the type
 * (a variant inherits the lower one's, down to the reference) or the CPU lacks v. */
sm_quantize_fn sm_quantize_fast_variant (sm_type        type,
                                         sm_cpu_variant v);

/* The same for the active dispatch variant. */
sm_quantize_fn sm_quantize_fast (sm_type type);

/* Converts n input elements of a row (BF16, F16 or F32) to f32 in dst; false when one of them is
 * a NaN or an infinity (dst then holds the conversion all the same). */
typedef bool (*sm_row_to_f32_fn) (const void *src, float *dst, int64_t n);

/* The converter of the active variant for an input type: NULL when there is none. */
sm_row_to_f32_fn sm_quantize_fast_to_f32 (sm_type src_type);

/* The same for variant v (NULL also when the CPU lacks v). */
sm_row_to_f32_fn sm_quantize_fast_to_f32_variant (sm_type        src_type,
                                                  sm_cpu_variant v);

/* Fill the entries a variant implements (arch/sm-quantize-<isa>.c). */
void sm_quantize_fill_avx2 (sm_quantize_fn   q[SM_TYPE_COUNT],
                            sm_row_to_f32_fn c[SM_TYPE_COUNT]);
void sm_quantize_fill_avx512 (sm_quantize_fn   q[SM_TYPE_COUNT],
                              sm_row_to_f32_fn c[SM_TYPE_COUNT]);
