/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-float-kernels.h: the F16 and BF16 kernels of arch/sm-float-avx512.c (per-row dot products
 * with a prefetch ahead of the row, four-row one-token kernels, 16-row panels and AMX tiles for
 * sm_gemm_tile) and of arch/sm-float-avx2.c (four-row one-token kernels, 8-row panels), which
 * sm-dispatch.c installs into the avx512 and avx2 tables. Signatures are sm_vec_dot_fn,
 * sm_gemv_fn and sm_gemm_tile_fn; the
 * activations are the F16 / BF16 rows of sm_quant_activation_row. Only declared on x86 builds
 * with the SIMD kernels; only called after the CPU was checked (the `_avx512bf16` ones need
 * avx512_bf16 as well).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

float sm_float_dot_f16_avx512 (int64_t n, const void *w, const void *a);
float sm_float_dot_bf16_avx512 (int64_t n, const void *w, const void *a);
float sm_float_dot_bf16_avx512bf16 (int64_t n, const void *w, const void *a);

/* Generation (sm_gemv_fn): four rows per pass against one activation row. */
void sm_float_gemv_f16_avx512 (int64_t n, const void *w, size_t ws, int64_t nr, const void *a,
                               float *out);
void sm_float_gemv_bf16_avx512 (int64_t n, const void *w, size_t ws, int64_t nr, const void *a,
                                float *out);
void sm_float_gemv_bf16_avx512bf16 (int64_t n, const void *w, size_t ws, int64_t nr,
                                    const void *a, float *out);
void sm_float_gemv_f16_avx2 (int64_t n, const void *w, size_t ws, int64_t nr, const void *a,
                             float *out);
void sm_float_gemv_bf16_avx2 (int64_t n, const void *w, size_t ws, int64_t nr, const void *a,
                              float *out);

void sm_float_gemm_f16_avx512 (int64_t n, const void *w, size_t ws, int nr, const void *a,
                               size_t as, int nc, float *out, size_t os);
void sm_float_gemm_bf16_avx512 (int64_t n, const void *w, size_t ws, int nr, const void *a,
                                size_t as, int nc, float *out, size_t os);
/* arch/sm-float-avx2.c: the same panels 8 rows wide (AVX2 + FMA + F16C). */
void sm_float_gemm_f16_avx2 (int64_t n, const void *w, size_t ws, int nr, const void *a,
                             size_t as, int nc, float *out, size_t os);
void sm_float_gemm_bf16_avx2 (int64_t n, const void *w, size_t ws, int nr, const void *a,
                              size_t as, int nc, float *out, size_t os);
/* Needs amx_tile + amx_bf16 and the process's permission to use the tile registers (Linux:
 * arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) granted). */
void sm_float_gemm_bf16_amx (int64_t n, const void *w, size_t ws, int nr, const void *a,
                             size_t as, int nc, float *out, size_t os);
/* F16 on the same AMX-BF16 tiles, each F16 value split exactly into two BF16 parts. */
void sm_float_gemm_f16_amx (int64_t n, const void *w, size_t ws, int nr, const void *a,
                            size_t as, int nc, float *out, size_t os);
