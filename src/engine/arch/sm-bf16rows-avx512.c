/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-bf16rows-avx512.c: the BF16 row decoders (sm_bf16_rows_fn, sm-dispatch.h) of the AVX-512
 * variant, for the AMX-BF16 prompt tiles: elements [k0, k0 + nk) of one weight row decoded to
 * BF16, each group of 32 elements one 64-byte store at dst + g * step. The values are
 * bit-identical to sm_bf16_rows_ref (NaN payloads aside): every float is computed with the
 * operations of sm-quant-ref.c's dequantizer in the same order (the file is built with
 * -ffp-contract=off, so no multiply-add is fused), then rounded to BF16 to nearest, ties to even.
 *
 * Decoding must cost a small fraction of a cycle per element, as the AMX tiles use each decoded
 * element for only as many multiply-adds as there are prompt tokens. Two tricks keep it cheap:
 *
 * - Tables. Where a (sub-)block of 32 elements has at most 32 distinct values (Q4_0, IQ4_NL,
 *   IQ4_XS, Q4_K: 16 codes; Q5_K: 32 codes), the BF16 values of all codes of the block are
 *   computed once (one vector of floats, one rounding) and the 32 outputs are one vpermw of that
 *   table by the codes, which vpermw reads from the low 5 bits of each 16-bit index: a code
 *   byte zero-extended to 16 bits can serve as index as it is when the table holds the 16
 *   values twice (bit 4, the other nibble's lowest bit, then picks the same value).
 * - Rounding. The avx512 variant does not require AVX512-BF16, so floats are rounded with
 *   integers: bits + 0x7fff + (bit 16 of bits), whose upper half is the BF16 value. That sum
 *   overflows only for NaNs whose payload has its top bits set; all NaNs here come from the
 *   f16 scales (a NaN operand of a multiply or subtract is passed on as it is; inf * 0 and
 *   inf - inf give the default NaN 0xffc00000), so NaN scales are replaced by the quiet NaN
 *   0x7fc00000 first and every NaN result rounds to a NaN. Subnormal floats cannot occur: every
 *   value is a product of an f16 scale (at least 2^-24 when not zero) with integers, or the
 *   difference of two such products (both multiples of 2^-47), far above 2^-126; rounding
 *   subnormals would be right anyway (the integer sequence does not flush them).
 *
 * F16 has no decoder here: F16 -> BF16 loses mantissa bits, and F16 keeps its own exact path.
 */
#include <stdint.h>
#include <string.h>

#include <immintrin.h>

#include "sm-quant-private.h"
#include "sm-quant-blocks.h"

#define SM_MIN_I64(a, b) ((a) < (b) ? (a) : (b))

/* ---- Rounding and packing ---- */

/* Each 32-bit lane rounded to BF16 (to nearest, ties to even) in its upper 16 bits. */
static inline __m512i
round_hi (__m512 x)
{
  const __m512i b = _mm512_castps_si512 (x);
  const __m512i odd = _mm512_and_si512 (_mm512_srli_epi32 (b, 16), _mm512_set1_epi32 (1));
  return _mm512_add_epi32 (_mm512_add_epi32 (b, _mm512_set1_epi32 (0x7fff)), odd);
}

/* 32 BF16: the 16 floats of lo, then the 16 of hi. */
static inline __m512i
bf16_pair (__m512 lo, __m512 hi)
{
  const __m512i odd_words = _mm512_set_epi16 (63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39,
                                              37, 35, 33, 31, 29, 27, 25, 23, 21, 19, 17, 15, 13,
                                              11, 9, 7, 5, 3, 1);
  return _mm512_permutex2var_epi16 (round_hi (lo), odd_words, round_hi (hi));
}

/* A 16-entry table: the BF16 of the 16 floats of t, twice (words 0-15 and 16-31). */
static inline __m512i
bf16_table16 (__m512 t)
{
  const __m512i odd_words = _mm512_set_epi16 (31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7,
                                              5, 3, 1, 31, 29, 27, 25, 23, 21, 19, 17, 15, 13,
                                              11, 9, 7, 5, 3, 1);
  return _mm512_permutexvar_epi16 (odd_words, round_hi (t));
}

/* ---- Scales ---- */

/* The f16 scales at p, p + stride, ... (n <= 16 of them) as floats in out[0..n), converted
 * exactly as sm_half_to_float does (vcvtph2ps is exact, subnormals included), NaNs replaced by
 * the quiet NaN 0x7fc00000 (see the top of the file). */
static inline void
scales_f16 (const uint8_t *p, size_t stride, int n, float out[16])
{
  uint16_t h[16] = { 0 };

  for (int i = 0; i < n; i++)
    memcpy (&h[i], p + (size_t) i * stride, sizeof h[i]);
  __m512 f = _mm512_cvtph_ps (_mm256_loadu_si256 ((const __m256i *) h));
  const __mmask16 nan = _mm512_cmp_ps_mask (f, f, _CMP_UNORD_Q);
  f = _mm512_mask_mov_ps (f, nan, _mm512_castsi512_ps (_mm512_set1_epi32 (0x7fc00000)));
  _mm512_storeu_ps (out, f);
}

/* 32 nibble codes (byte j: element j low, element j + 16 high) as 16-bit vpermw indices of a
 * 16-entry table stored twice: the low 16 words are the bytes themselves (bit 4 picks the second
 * copy), the high 16 words the bytes shifted right by 4. */
static inline __m512i
nibble_index (const uint8_t *qs)
{
  const __m256i w = _mm256_cvtepu8_epi16 (_mm_loadu_si128 ((const __m128i *) qs));
  return _mm512_inserti64x4 (_mm512_castsi256_si512 (w), _mm256_srli_epi16 (w, 4), 1);
}

static inline void
store64 (uint8_t *p, __m512i v)
{
  _mm512_storeu_si512 ((void *) p, v);
}

/* ---- Q8_0: x = q * d ---- */

static void
bf16_rows_q8_0 (const void *row, int64_t k0, int64_t nk, void *dst, size_t step)
{
  const sm_block_q8_0 *x = (const sm_block_q8_0 *) row + k0 / SM_QK8_0;
  const int64_t nb = nk / SM_QK8_0;
  uint8_t *out = dst;
  float d[16];

  for (int64_t i0 = 0; i0 < nb; i0 += 16)
    {
      const int m = (int) SM_MIN_I64 (nb - i0, 16);
      scales_f16 ((const uint8_t *) &x[i0].d, sizeof x[0], m, d);
      for (int i = 0; i < m; i++)
        {
          const int8_t *qs = x[i0 + i].qs;
          const __m512 s = _mm512_set1_ps (d[i]);
          const __m512 lo = _mm512_cvtepi32_ps (
              _mm512_cvtepi8_epi32 (_mm_loadu_si128 ((const __m128i *) qs)));
          const __m512 hi = _mm512_cvtepi32_ps (
              _mm512_cvtepi8_epi32 (_mm_loadu_si128 ((const __m128i *) (qs + 16))));
          store64 (out + (size_t) (i0 + i) * step,
                   bf16_pair (_mm512_mul_ps (lo, s), _mm512_mul_ps (hi, s)));
        }
    }
}

/* ---- Q4_0 and IQ4_NL: 16 levels per block, x = level * d ---- */

static inline void
rows_nibble_table (const uint8_t *first, size_t bsize, __m512 levels, int64_t nb, uint8_t *out,
                   size_t step)
{
  float d[16];

  for (int64_t i0 = 0; i0 < nb; i0 += 16)
    {
      const int m = (int) SM_MIN_I64 (nb - i0, 16);
      const uint8_t *b0 = first + (size_t) i0 * bsize;
      scales_f16 (b0, bsize, m, d);
      for (int i = 0; i < m; i++)
        {
          const __m512i t = bf16_table16 (_mm512_mul_ps (levels, _mm512_set1_ps (d[i])));
          const __m512i idx = nibble_index (b0 + (size_t) i * bsize + 2);
          store64 (out + (size_t) (i0 + i) * step, _mm512_permutexvar_epi16 (idx, t));
        }
    }
}

static void
bf16_rows_q4_0 (const void *row, int64_t k0, int64_t nk, void *dst, size_t step)
{
  /* The ref computes ((q & 15) - 8) * d: the int level converted to float, times d. */
  const __m512 levels = _mm512_set_ps (7, 6, 5, 4, 3, 2, 1, 0, -1, -2, -3, -4, -5, -6, -7, -8);
  rows_nibble_table ((const uint8_t *) ((const sm_block_q4_0 *) row + k0 / SM_QK4_0),
                     sizeof (sm_block_q4_0), levels, nk / SM_QK4_0, dst, step);
}

static void
bf16_rows_iq4_nl (const void *row, int64_t k0, int64_t nk, void *dst, size_t step)
{
  /* The ref computes d * kvalue: the product commutes, the level is exact as a float. */
  const __m512 levels = _mm512_cvtepi32_ps (
      _mm512_cvtepi8_epi32 (_mm_loadu_si128 ((const __m128i *) sm_kvalues_iq4nl)));
  rows_nibble_table ((const uint8_t *) ((const sm_block_iq4_nl *) row + k0 / SM_QK4_NL),
                     sizeof (sm_block_iq4_nl), levels, nk / SM_QK4_NL, dst, step);
}

/* ---- BF16: a copy ---- */

static void
bf16_rows_bf16 (const void *row, int64_t k0, int64_t nk, void *dst, size_t step)
{
  const uint8_t *x = (const uint8_t *) row + (size_t) k0 * 2;
  uint8_t *out = dst;

  for (int64_t g = 0; g < nk / 32; g++)
    store64 (out + (size_t) g * step, _mm512_loadu_si512 ((const void *) (x + (size_t) g * 64)));
}

void
sm_bf16_rows_fill_avx512 (sm_bf16_rows_fn table[SM_TYPE_COUNT])
{
  table[SM_TYPE_Q8_0] = bf16_rows_q8_0;
  table[SM_TYPE_Q4_0] = bf16_rows_q4_0;
  table[SM_TYPE_IQ4_NL] = bf16_rows_iq4_nl;
  table[SM_TYPE_BF16] = bf16_rows_bf16;
}
