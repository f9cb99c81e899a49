/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-gemv-private.h: the multi-row kernels for one activation row (sm_gemv_fn, generation) that
 * arch/sm-gemv-*.c put into sm-dispatch.c's tables. Each fill function sets the entries it
 * implements and leaves the others (NULL or a lower variant's) alone.
 */
#pragma once

#include "sm-dispatch.h"

void sm_gemv_fill_avx2 (sm_gemv_fn gemv[SM_TYPE_COUNT]);
void sm_gemv_fill_avx512 (sm_gemv_fn gemv[SM_TYPE_COUNT]);

/* Q6_K and Q4_K: arch/sm-gemv-k-*.c. */
void sm_gemv_fill_k_avx2 (sm_gemv_fn gemv[SM_TYPE_COUNT]);
void sm_gemv_fill_k_avx512 (sm_gemv_fn gemv[SM_TYPE_COUNT]);
