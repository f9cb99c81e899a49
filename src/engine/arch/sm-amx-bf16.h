/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-amx-bf16.h: prompt batches of any weight type with a BF16 row decoder on AMX-BF16 tiles
 * (arch/sm-amx-bf16.c). sm-model.c packs a batch's activations once per product with
 * sm_amx_bf16_pack_acts, then each thread multiplies its rows with sm_amx_bf16_gemm in its own
 * scratch. x86-64 builds with the SIMD kernels only; only called after sm-dispatch.c found
 * AMX-BF16 usable (sm_dispatch_amx_bf16) - which implies avx512_bf16.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "sm-dispatch.h"

/* Elements per row stretch decoded at a time (a multiple of 256). */
#define SM_AMX_KC 2048

/* Bytes of the packed activations of nc tokens of n elements (n a multiple of 32). */
size_t sm_amx_bf16_acts_bytes (int64_t n,
                               int     nc);

/* Bytes of one thread's scratch for sm_amx_bf16_gemm with up to nc tokens (64-byte aligned). */
size_t sm_amx_bf16_scratch_bytes (int nc);

/* Packs the token groups [g0, g1) (16 tokens each; the last may be partial, zero-padded) of x
 * (nc rows of n floats, xs floats apart, n a multiple of 32) into dst (64-byte aligned, of
 * sm_amx_bf16_acts_bytes (n, nc)): group g, elements 32 s .. 32 s + 31 are the 1 KiB tile at
 * dst + (g * n / 32 + s) KiB, dword t of row j holding elements 32 s + 2 j, + 1 of token
 * 16 g + t, rounded to BF16. Threads may pack disjoint group ranges of the same dst. */
void sm_amx_bf16_pack_acts (const float *x,
                            size_t       xs,
                            int64_t      n,
                            int          g0,
                            int          g1,
                            int          nc,
                            void        *dst);

/* out[t * os + r] = sum_k bf16 (w row r)[k] * bf16 (x row t)[k] for r < nr, t < nc: the rows of
 * w (ws bytes apart) decoded by `decode`, n a multiple of 32 and of the type's block size, acts
 * from sm_amx_bf16_pack_acts of the same n and nc; scratch of sm_amx_bf16_scratch_bytes (nc),
 * 64-byte aligned. */
void sm_amx_bf16_gemm (sm_bf16_rows_fn decode,
                       int64_t         n,
                       const void     *w,
                       size_t          ws,
                       int64_t         nr,
                       const void     *acts,
                       int             nc,
                       float          *out,
                       size_t          os,
                       void           *scratch);
