/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-quant-avx512.c: the AVX-512 variant (F, BW, VL, DQ, VNNI; BF16 where the CPU has it).
 * The byte-dot kernels of sm-quant-x86.h are built here with VNNI (vpdpbusd: four u8 x s8
 * products summed into an int32 lane in one instruction), the float kernels use 512-bit
 * registers, and the hot K-quant and IQ4_XS kernels are widened to 512 bits (one zmm holds the
 * 64 elements that share a byte of nibbles). Compiled with its own -mavx512* flags; only called
 * after sm-dispatch.c has checked the CPU.
 */
#include <math.h>
#include <string.h>

#define SM_X86_VNNI 1
#include "sm-quant-x86.h"

/* ---- Float types ---- */

static float
avx512_dot_f32 (int64_t n, const void *w, const void *a)
{
  const float *x = w, *y = a;
  __m512 s0 = _mm512_setzero_ps (), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;

  for (; i + 64 <= n; i += 64)
    {
      s0 = _mm512_fmadd_ps (_mm512_loadu_ps (x + i), _mm512_loadu_ps (y + i), s0);
      s1 = _mm512_fmadd_ps (_mm512_loadu_ps (x + i + 16), _mm512_loadu_ps (y + i + 16), s1);
      s2 = _mm512_fmadd_ps (_mm512_loadu_ps (x + i + 32), _mm512_loadu_ps (y + i + 32), s2);
      s3 = _mm512_fmadd_ps (_mm512_loadu_ps (x + i + 48), _mm512_loadu_ps (y + i + 48), s3);
    }
  for (; i + 16 <= n; i += 16)
    s0 = _mm512_fmadd_ps (_mm512_loadu_ps (x + i), _mm512_loadu_ps (y + i), s0);
  /* Tail: a masked load reads only the remaining elements (zeros elsewhere). */
  if (i < n)
    {
      const __mmask16 m = (__mmask16) ((1u << (n - i)) - 1);
      s1 = _mm512_fmadd_ps (_mm512_maskz_loadu_ps (m, x + i), _mm512_maskz_loadu_ps (m, y + i), s1);
    }
  return _mm512_reduce_add_ps (_mm512_add_ps (_mm512_add_ps (s0, s1), _mm512_add_ps (s2, s3)));
}

static inline __m512
load_f16x16 (const uint16_t *p)
{
  return _mm512_cvtph_ps (_mm256_loadu_si256 ((const __m256i *) p));
}

static float
avx512_dot_f16 (int64_t n, const void *w, const void *a)
{
  const uint16_t *x = w, *y = a;
  __m512 s0 = _mm512_setzero_ps (), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;

  for (; i + 64 <= n; i += 64)
    {
      s0 = _mm512_fmadd_ps (load_f16x16 (x + i), load_f16x16 (y + i), s0);
      s1 = _mm512_fmadd_ps (load_f16x16 (x + i + 16), load_f16x16 (y + i + 16), s1);
      s2 = _mm512_fmadd_ps (load_f16x16 (x + i + 32), load_f16x16 (y + i + 32), s2);
      s3 = _mm512_fmadd_ps (load_f16x16 (x + i + 48), load_f16x16 (y + i + 48), s3);
    }
  for (; i + 16 <= n; i += 16)
    s0 = _mm512_fmadd_ps (load_f16x16 (x + i), load_f16x16 (y + i), s0);
  if (i < n)
    {
      const __mmask16 m = (__mmask16) ((1u << (n - i)) - 1);
      s1 = _mm512_fmadd_ps (_mm512_cvtph_ps (_mm256_maskz_loadu_epi16 (m, x + i)),
                            _mm512_cvtph_ps (_mm256_maskz_loadu_epi16 (m, y + i)), s1);
    }
  return _mm512_reduce_add_ps (_mm512_add_ps (_mm512_add_ps (s0, s1), _mm512_add_ps (s2, s3)));
}

static inline __m512
load_bf16x16 (const uint16_t *p)
{
  const __m512i v = _mm512_cvtepu16_epi32 (_mm256_loadu_si256 ((const __m256i *) p));
  return _mm512_castsi512_ps (_mm512_slli_epi32 (v, 16));
}

/* Without avx512_bf16: widen by shifting, then FMA. */
static float
avx512_dot_bf16_shift (int64_t n, const void *w, const void *a)
{
  const uint16_t *x = w, *y = a;
  __m512 s0 = _mm512_setzero_ps (), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;

  for (; i + 64 <= n; i += 64)
    {
      s0 = _mm512_fmadd_ps (load_bf16x16 (x + i), load_bf16x16 (y + i), s0);
      s1 = _mm512_fmadd_ps (load_bf16x16 (x + i + 16), load_bf16x16 (y + i + 16), s1);
      s2 = _mm512_fmadd_ps (load_bf16x16 (x + i + 32), load_bf16x16 (y + i + 32), s2);
      s3 = _mm512_fmadd_ps (load_bf16x16 (x + i + 48), load_bf16x16 (y + i + 48), s3);
    }
  for (; i + 16 <= n; i += 16)
    s0 = _mm512_fmadd_ps (load_bf16x16 (x + i), load_bf16x16 (y + i), s0);
  float sum = _mm512_reduce_add_ps (_mm512_add_ps (_mm512_add_ps (s0, s1), _mm512_add_ps (s2, s3)));
  for (; i < n; i++)
    sum += sm_bf16_to_float (x[i]) * sm_bf16_to_float (y[i]);
  return sum;
}

/* With avx512_bf16: vdpbf16ps multiplies 32 bf16 pairs and adds each adjacent pair of products
 * into one of 16 float lanes, so no widening is needed at all. (It treats bf16 subnormals as
 * zero; they are below 1e-38 and vanish in any real dot product.) */
__attribute__ ((target ("avx512bf16"))) static float
avx512_dot_bf16_dp (int64_t n, const void *w, const void *a)
{
  const uint16_t *x = w, *y = a;
  __m512 s0 = _mm512_setzero_ps (), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;

#define LD(p) ((__m512bh) _mm512_loadu_si512 ((const void *) (p)))
  for (; i + 128 <= n; i += 128)
    {
      s0 = _mm512_dpbf16_ps (s0, LD (x + i), LD (y + i));
      s1 = _mm512_dpbf16_ps (s1, LD (x + i + 32), LD (y + i + 32));
      s2 = _mm512_dpbf16_ps (s2, LD (x + i + 64), LD (y + i + 64));
      s3 = _mm512_dpbf16_ps (s3, LD (x + i + 96), LD (y + i + 96));
    }
  for (; i + 32 <= n; i += 32)
    s0 = _mm512_dpbf16_ps (s0, LD (x + i), LD (y + i));
#undef LD
  if (i < n)
    {
      const __mmask32 m = (__mmask32) ((1ull << (n - i)) - 1);
      s1 = _mm512_dpbf16_ps (s1, (__m512bh) _mm512_maskz_loadu_epi16 (m, x + i),
                             (__m512bh) _mm512_maskz_loadu_epi16 (m, y + i));
    }
  return _mm512_reduce_add_ps (_mm512_add_ps (_mm512_add_ps (s0, s1), _mm512_add_ps (s2, s3)));
}

void
sm_quant_fill_avx512 (sm_vec_dot_fn    vec_dot[SM_TYPE_COUNT],
                      sm_activation_fn act[SM_TYPE_COUNT],
                      bool             has_bf16)
{
  x86_fill_common (vec_dot, act);
  vec_dot[SM_TYPE_F32] = avx512_dot_f32;
  vec_dot[SM_TYPE_F16] = avx512_dot_f16;
  vec_dot[SM_TYPE_BF16] = has_bf16 ? avx512_dot_bf16_dp : avx512_dot_bf16_shift;
}
