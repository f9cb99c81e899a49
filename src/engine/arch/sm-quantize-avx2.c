/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-quantize-avx2.c: the AVX2 block searches of the model quantizer (8 sub-blocks per step;
 * the kernels are sm-quantize-simd.h, exact twins of the sm-quant-ref.c quantizers). Built with
 * -ffp-contract=off and -mavx2; only called after sm-quant-fast.c has checked the CPU.
 */
#include <immintrin.h>

#include "sm-quant-fast.h"

#define VW 8
typedef __m256 vf;
typedef __m256i vi;
typedef __m256 vm; /* all-ones lanes where true */
typedef struct
{
  __m256 lo, hi;
} vlut;

#define SMQ_NAME(x) x##_avx2

#define VF_SET1(a) _mm256_set1_ps (a)
#define VF_LOAD(p) _mm256_loadu_ps (p)
#define VF_GATHER(p, idx) _mm256_i32gather_ps ((p), (idx), 4)
#define VI_LOAD(p) _mm256_loadu_si256 ((const __m256i *) (const void *) (p))
#define VF_STORE(p, a) _mm256_storeu_ps ((p), (a))
#define VF_ADD(a, b) _mm256_add_ps ((a), (b))
#define VF_SUB(a, b) _mm256_sub_ps ((a), (b))
#define VF_MUL(a, b) _mm256_mul_ps ((a), (b))
#define VF_DIV(a, b) _mm256_div_ps ((a), (b))
#define VF_SQRT(a) _mm256_sqrt_ps (a)
#define VF_AS_I(a) _mm256_castps_si256 (a)
#define VI_AS_F(a) _mm256_castsi256_ps (a)
#define VI_TO_F(a) _mm256_cvtepi32_ps (a)
#define VI_SET1(a) _mm256_set1_epi32 (a)
#define VI_STORE(p, a) _mm256_storeu_si256 ((__m256i *) (void *) (p), (a))
#define VI_ADD(a, b) _mm256_add_epi32 ((a), (b))
#define VI_SUB(a, b) _mm256_sub_epi32 ((a), (b))
#define VI_AND(a, b) _mm256_and_si256 ((a), (b))
#define VI_XOR(a, b) _mm256_xor_si256 ((a), (b))
#define VI_MIN(a, b) _mm256_min_epi32 ((a), (b))
#define VI_MAX(a, b) _mm256_max_epi32 ((a), (b))
#define VI_SRLI1(a) _mm256_srli_epi32 ((a), 1)
#define VI_SLLI4(a) _mm256_slli_epi32 ((a), 4)
#define VI_SLLI16(a) _mm256_slli_epi32 ((a), 16)
#define VI_LOAD_U16(p) \
  _mm256_cvtepu16_epi32 (_mm_loadu_si128 ((const __m128i *) (const void *) (p)))
#define VF_LOAD_F16(p) _mm256_cvtph_ps (_mm_loadu_si128 ((const __m128i *) (const void *) (p)))
#define VI_OR(a, b) _mm256_or_si256 ((a), (b))
#define VF_MAX(a, b) _mm256_max_ps ((a), (b))
#define VF_MIN(a, b) _mm256_min_ps ((a), (b))
#define VF_TRUNC(a) _mm256_round_ps ((a), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC)
#define VF_CVTT(a) _mm256_cvttps_epi32 (a)
#define VM_BITS(m) ((unsigned) _mm256_movemask_ps (m))

static inline float
vf_hmax (__m256 a)
{
  __m128 m = _mm_max_ps (_mm256_castps256_ps128 (a), _mm256_extractf128_ps (a, 1));
  m = _mm_max_ps (m, _mm_movehl_ps (m, m));
  m = _mm_max_ss (m, _mm_movehdup_ps (m));
  return _mm_cvtss_f32 (m);
}
#define VF_HMAX(a) vf_hmax (a)

/* The low byte of each lane to 8 bytes at p. */
static inline void
vi_store_low8 (void *p, __m256i a)
{
  a = _mm256_and_si256 (a, _mm256_set1_epi32 (0xff));
  __m128i w = _mm_packus_epi32 (_mm256_castsi256_si128 (a), _mm256_extracti128_si256 (a, 1));
  _mm_storel_epi64 ((__m128i *) p, _mm_packus_epi16 (w, w));
}
#define VI_STORE_LOW8(p, a) vi_store_low8 ((p), (a))
/* Comparisons as C's operators: ordered, except != (true for NaN). */
#define VM_GT(a, b) _mm256_cmp_ps ((a), (b), _CMP_GT_OQ)
#define VM_LT(a, b) _mm256_cmp_ps ((a), (b), _CMP_LT_OQ)
#define VM_GE(a, b) _mm256_cmp_ps ((a), (b), _CMP_GE_OQ)
#define VM_LE(a, b) _mm256_cmp_ps ((a), (b), _CMP_LE_OQ)
#define VM_EQ(a, b) _mm256_cmp_ps ((a), (b), _CMP_EQ_OQ)
#define VM_NEQ(a, b) _mm256_cmp_ps ((a), (b), _CMP_NEQ_UQ)
#define VM_NLE(a, b) _mm256_cmp_ps ((a), (b), _CMP_NLE_UQ)
#define VM_AND(a, b) _mm256_and_ps ((a), (b))
#define VM_OR(a, b) _mm256_or_ps ((a), (b))
#define VM_NONE() _mm256_setzero_ps ()
#define VM_ANY(m) (_mm256_movemask_ps (m) != 0)
/* m ? b : a */
#define VF_BLEND(m, a, b) _mm256_blendv_ps ((a), (b), (m))
#define VI_BLEND(m, a, b) \
  _mm256_castps_si256 (_mm256_blendv_ps (_mm256_castsi256_ps (a), _mm256_castsi256_ps (b), (m)))

/* t[idx] for idx in 0..15: two 8-entry permutes, picked by bit 3. */
static inline vf
vf_lut (vlut t, vi idx)
{
  vm upper = _mm256_castsi256_ps (_mm256_cmpgt_epi32 (idx, _mm256_set1_epi32 (7)));
  return _mm256_blendv_ps (_mm256_permutevar8x32_ps (t.lo, idx),
                           _mm256_permutevar8x32_ps (t.hi, idx), upper);
}
#define VF_LUT(t, idx) vf_lut ((t), (idx))

static inline vlut
vlut_load_iq4 (void)
{
  vlut t;
  t.lo = _mm256_cvtepi32_ps (_mm256_cvtepi8_epi32 (
    _mm_loadl_epi64 ((const __m128i *) sm_kvalues_iq4nl)));
  t.hi = _mm256_cvtepi32_ps (_mm256_cvtepi8_epi32 (
    _mm_loadl_epi64 ((const __m128i *) (sm_kvalues_iq4nl + 8))));
  return t;
}
#define VLUT_LOAD_IQ4() vlut_load_iq4 ()

#include "sm-quantize-simd.h"

void
sm_quantize_fill_avx2 (sm_quantize_fn   q[SM_TYPE_COUNT],
                       sm_row_to_f32_fn c[SM_TYPE_COUNT])
{
  fill_avx2 (q, c);
}
