/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-quantize-avx512.c: the AVX-512 block searches of the model quantizer (16 sub-blocks per
 * step; the kernels are sm-quantize-simd.h, exact twins of the sm-quant-ref.c quantizers). Built
 * with -ffp-contract=off and its own -mavx512* flags; only called after sm-quant-fast.c has
 * checked the CPU.
 */
#include <immintrin.h>

#include "sm-quant-fast.h"

#define VW 16
typedef __m512 vf;
typedef __m512i vi;
typedef __mmask16 vm;
typedef __m512 vlut;

#define SMQ_NAME(x) x##_avx512

#define VF_SET1(a) _mm512_set1_ps (a)
#define VF_LOAD(p) _mm512_loadu_ps (p)
#define VF_GATHER(p, idx) _mm512_i32gather_ps ((idx), (p), 4)
#define VI_LOAD(p) _mm512_loadu_si512 ((const void *) (p))
#define VF_STORE(p, a) _mm512_storeu_ps ((p), (a))
#define VF_ADD(a, b) _mm512_add_ps ((a), (b))
#define VF_SUB(a, b) _mm512_sub_ps ((a), (b))
#define VF_MUL(a, b) _mm512_mul_ps ((a), (b))
#define VF_DIV(a, b) _mm512_div_ps ((a), (b))
#define VF_SQRT(a) _mm512_sqrt_ps (a)
#define VF_AS_I(a) _mm512_castps_si512 (a)
#define VI_AS_F(a) _mm512_castsi512_ps (a)
#define VI_TO_F(a) _mm512_cvtepi32_ps (a)
#define VI_SET1(a) _mm512_set1_epi32 (a)
#define VI_STORE(p, a) _mm512_storeu_si512 ((void *) (p), (a))
#define VI_ADD(a, b) _mm512_add_epi32 ((a), (b))
#define VI_SUB(a, b) _mm512_sub_epi32 ((a), (b))
#define VI_AND(a, b) _mm512_and_si512 ((a), (b))
#define VI_XOR(a, b) _mm512_xor_si512 ((a), (b))
#define VI_MIN(a, b) _mm512_min_epi32 ((a), (b))
#define VI_MAX(a, b) _mm512_max_epi32 ((a), (b))
#define VI_SRLI1(a) _mm512_srli_epi32 ((a), 1)
#define VI_SLLI4(a) _mm512_slli_epi32 ((a), 4)
#define VI_SLLI16(a) _mm512_slli_epi32 ((a), 16)
#define VI_LOAD_U16(p) \
  _mm512_cvtepu16_epi32 (_mm256_loadu_si256 ((const __m256i *) (const void *) (p)))
#define VF_LOAD_F16(p) _mm512_cvtph_ps (_mm256_loadu_si256 ((const __m256i *) (const void *) (p)))
#define VI_OR(a, b) _mm512_or_si512 ((a), (b))
#define VF_MAX(a, b) _mm512_max_ps ((a), (b))
#define VF_MIN(a, b) _mm512_min_ps ((a), (b))
#define VF_HMAX(a) _mm512_reduce_max_ps (a)
#define VF_TRUNC(a) _mm512_roundscale_ps ((a), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC)
#define VF_CVTT(a) _mm512_cvttps_epi32 (a)
#define VM_BITS(m) ((unsigned) (m))
/* The low byte of each lane to 16 bytes at p. */
#define VI_STORE_LOW8(p, a) _mm_storeu_si128 ((__m128i *) (void *) (p), _mm512_cvtepi32_epi8 (a))
/* Comparisons as C's operators: ordered, except != (true for NaN). */
#define VM_GT(a, b) _mm512_cmp_ps_mask ((a), (b), _CMP_GT_OQ)
#define VM_LT(a, b) _mm512_cmp_ps_mask ((a), (b), _CMP_LT_OQ)
#define VM_GE(a, b) _mm512_cmp_ps_mask ((a), (b), _CMP_GE_OQ)
#define VM_LE(a, b) _mm512_cmp_ps_mask ((a), (b), _CMP_LE_OQ)
#define VM_EQ(a, b) _mm512_cmp_ps_mask ((a), (b), _CMP_EQ_OQ)
#define VM_NEQ(a, b) _mm512_cmp_ps_mask ((a), (b), _CMP_NEQ_UQ)
#define VM_NLE(a, b) _mm512_cmp_ps_mask ((a), (b), _CMP_NLE_UQ)
#define VM_AND(a, b) ((vm) ((a) & (b)))
#define VM_OR(a, b) ((vm) ((a) | (b)))
#define VM_NONE() ((vm) 0)
#define VM_ANY(m) ((m) != 0)
/* m ? b : a */
#define VF_BLEND(m, a, b) _mm512_mask_blend_ps ((m), (a), (b))
#define VI_BLEND(m, a, b) _mm512_mask_blend_epi32 ((m), (a), (b))
#define VF_LUT(t, idx) _mm512_permutexvar_ps ((idx), (t))

static inline vlut
vlut_load_iq4 (void)
{
  return _mm512_cvtepi32_ps (_mm512_cvtepi8_epi32 (
    _mm_loadu_si128 ((const __m128i *) sm_kvalues_iq4nl)));
}
#define VLUT_LOAD_IQ4() vlut_load_iq4 ()

#include "sm-quantize-simd.h"

void
sm_quantize_fill_avx512 (sm_quantize_fn   q[SM_TYPE_COUNT],
                         sm_row_to_f32_fn c[SM_TYPE_COUNT])
{
  fill_avx512 (q, c);
}
