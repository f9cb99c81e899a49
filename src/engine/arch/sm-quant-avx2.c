/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-quant-avx2.c: the AVX2 + FMA + F16C variant (Haswell and later, Zen). The kernels are the
 * 256-bit ones of sm-quant-x86.h built without VNNI. Compiled with -mavx2 -mfma -mf16c only; it
 * is only ever called after sm-dispatch.c has checked the CPU.
 */
#include <math.h>
#include <string.h>

#include "sm-quant-x86.h"

void
sm_quant_fill_avx2 (sm_vec_dot_fn vec_dot[SM_TYPE_COUNT], sm_activation_fn act[SM_TYPE_COUNT])
{
  x86_fill_common (vec_dot, act);
}

void
sm_quant_fill_gemm_avx2 (sm_gemm_tile_fn gemm[SM_TYPE_COUNT])
{
  x86_fill_gemm (gemm);
}
