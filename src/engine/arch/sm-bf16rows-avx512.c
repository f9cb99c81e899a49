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
 * - Tables. Where a (sub-)block of 32 elements has at most 32 distinct values (Q4_0, Q4_1,
 *   IQ4_NL, IQ4_XS, Q4_K: 16 codes; Q5_0, Q5_1, Q5_K: 32 codes), the BF16 values of all codes
 *   of the block are computed once (one or two vectors of floats, one rounding) and the 32
 *   outputs are one vpermw of that table by the codes, which vpermw reads from the low 5 bits of
 *   each 16-bit index: a code byte zero-extended to 16 bits can serve as index as it is when
 *   the table holds the 16 values twice (bit 4, the other nibble's lowest bit, then picks the
 *   same value). Q8_0 (256 codes) and Q6_K (64 codes per 16 elements) convert each code.
 *   The f16 scales of 16 blocks come in one gather and one vcvtph2ps.
 * - Rounding. The file is built twice. The plain avx512 build (sm_bf16_rows_fill_avx512) must
 *   not need AVX512-BF16, so it rounds floats with integers: bits + 0x7fff + (bit 16 of bits),
 *   whose upper half is the BF16 value. That sum overflows only for NaNs whose payload has its
 *   top bits set; all NaNs here come from the f16 scales (a NaN operand of a multiply or
 *   subtract is passed on as it is; inf * 0 and inf - inf give the default NaN 0xffc00000), so
 *   NaN scales are replaced by the quiet NaN 0x7fc00000 first and every NaN result rounds to a
 *   NaN. The build with -mavx512bf16 and SM_BF16ROWS_CVTNE (sm_bf16_rows_fill_avx512bf16, for
 *   CPUs with AVX512-BF16, which every AMX-BF16 CPU has) uses vcvtne2ps2bf16, 20-25% faster on
 *   the types whose rounding is most of the work (Q8_0, Q6_K, the 32-level ones). That
 *   instruction treats subnormal inputs and outputs as zero, which cannot matter here:
 *   subnormal floats never occur, as every value is a product of an f16 scale (at least 2^-24
 *   when not zero) with integers, or the sum or difference of two such products (multiples of
 *   2^-47 when the terms are not zero), far above 2^-126. The integer sequence would round
 *   subnormals right anyway.
 *
 * F16 has no decoder here: F16 -> BF16 loses mantissa bits, and F16 keeps its own exact path.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <immintrin.h>

#include "sm-quant-private.h"
#include "sm-quant-blocks.h"

#define SM_MIN_I64(a, b) ((a) < (b) ? (a) : (b))

/* ---- Rounding and packing ---- */

#ifdef SM_BF16ROWS_CVTNE

/* 32 BF16: the 16 floats of lo, then the 16 of hi (vcvtne2ps2bf16 puts its second operand in
 * the low half). */
static inline __m512i
bf16_pair (__m512 lo, __m512 hi)
{
  return (__m512i) _mm512_cvtne2ps_pbh (hi, lo);
}

/* A 16-entry table: the BF16 of the 16 floats of t, twice (words 0-15 and 16-31). */
static inline __m512i
bf16_table16 (__m512 t)
{
  return (__m512i) _mm512_cvtne2ps_pbh (t, t);
}

#else

/* Each 32-bit lane rounded to BF16 (to nearest, ties to even) in its upper 16 bits: + 0x7fff,
 * + 1 more where bit 16 (the lowest kept bit) is set (a mask test and a masked add measured
 * faster than a shift, an and and an add). */
static inline __m512i
round_hi (__m512 x)
{
  const __m512i b = _mm512_castps_si512 (x);
  const __mmask16 odd = _mm512_test_epi32_mask (b, _mm512_set1_epi32 (0x10000));
  const __m512i r = _mm512_add_epi32 (b, _mm512_set1_epi32 (0x7fff));
  return _mm512_mask_add_epi32 (r, odd, r, _mm512_set1_epi32 (1));
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

#endif

/* ---- Scales ---- */

/* The 32-bit words at p, p + stride, ... (n <= 16 of them; zero beyond n) in one gather. */
static inline __m512i
gather_words (const uint8_t *p, size_t stride, int n)
{
  const __m512i off = _mm512_mullo_epi32 (
      _mm512_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
      _mm512_set1_epi32 ((int) stride));
  return _mm512_mask_i32gather_epi32 (_mm512_setzero_si512 (), (__mmask16) ((1u << n) - 1), off,
                                      (const void *) p, 1);
}

/* The low 16 bits of each lane of g as f16 -> float, converted exactly as sm_half_to_float does
 * (vcvtph2ps is exact, subnormals included), NaNs replaced by the quiet NaN 0x7fc00000 (see the
 * top of the file), stored in out[0..16). */
static inline void
halves_to_floats (__m512i g, float out[16])
{
  __m512 f = _mm512_cvtph_ps (_mm512_cvtepi32_epi16 (g));
  const __mmask16 nan = _mm512_cmp_ps_mask (f, f, _CMP_UNORD_Q);
  f = _mm512_mask_mov_ps (f, nan, _mm512_castsi512_ps (_mm512_set1_epi32 (0x7fc00000)));
  _mm512_storeu_ps (out, f);
}

/* The f16 scales at p, p + stride, ... (n <= 16 of them) as floats in out[0..n). Reads the 4
 * bytes at p of each block (the scale and the 2 bytes after it, which must be in the block). */
static inline void
scales_f16 (const uint8_t *p, size_t stride, int n, float out[16])
{
  halves_to_floats (gather_words (p, stride, n), out);
}

static_assert (offsetof (sm_block_q4_1, m) == offsetof (sm_block_q4_1, d) + 2, "q4_1 d, m");
static_assert (offsetof (sm_block_q5_1, m) == offsetof (sm_block_q5_1, d) + 2, "q5_1 d, m");
static_assert (offsetof (sm_block_q4_K, dmin) == offsetof (sm_block_q4_K, d) + 2, "q4_K d, dmin");
static_assert (offsetof (sm_block_q5_K, dmin) == offsetof (sm_block_q5_K, d) + 2, "q5_K d, dmin");

/* Two f16 scales side by side at p (d) and p + 2 (m) of each block, as floats. */
static inline void
scales_f16_pair (const uint8_t *p, size_t stride, int n, float d[16], float m[16])
{
  const __m512i g = gather_words (p, stride, n);
  halves_to_floats (g, d);
  halves_to_floats (_mm512_srli_epi32 (g, 16), m);
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

/* ---- Q4_1: 16 levels per block, x = q * d + m ---- */

static void
bf16_rows_q4_1 (const void *row, int64_t k0, int64_t nk, void *dst, size_t step)
{
  const sm_block_q4_1 *x = (const sm_block_q4_1 *) row + k0 / SM_QK4_1;
  const int64_t nb = nk / SM_QK4_1;
  const __m512 codes = _mm512_set_ps (15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  uint8_t *out = dst;
  float d[16], mn[16];

  for (int64_t i0 = 0; i0 < nb; i0 += 16)
    {
      const int m = (int) SM_MIN_I64 (nb - i0, 16);
      scales_f16_pair ((const uint8_t *) &x[i0].d, sizeof x[0], m, d, mn);
      for (int i = 0; i < m; i++)
        {
          /* The ref: (float) q * d + m. */
          const __m512i t = bf16_table16 (_mm512_add_ps (
              _mm512_mul_ps (codes, _mm512_set1_ps (d[i])), _mm512_set1_ps (mn[i])));
          store64 (out + (size_t) (i0 + i) * step,
                   _mm512_permutexvar_epi16 (nibble_index (x[i0 + i].qs), t));
        }
    }
}

/* ---- Q5_0 and Q5_1: 32 levels per block ---- */

/* The 32 vpermw indices of a Q5_0/Q5_1 block: the nibble codes of qs (as nibble_index) with bit
 * j of the little-endian qh as bit 4 of index j. */
static inline __m512i
q5_index (const uint8_t *qs, const uint8_t *qh)
{
  uint32_t h;

  memcpy (&h, qh, 4);
  const __m512i high = _mm512_maskz_mov_epi16 ((__mmask32) h, _mm512_set1_epi16 (0x10));
  return _mm512_ternarylogic_epi32 (_mm512_set1_epi16 (0x000f), nibble_index (qs), high, 0xca);
}

static void
bf16_rows_q5_0 (const void *row, int64_t k0, int64_t nk, void *dst, size_t step)
{
  const sm_block_q5_0 *x = (const sm_block_q5_0 *) row + k0 / SM_QK5_0;
  const int64_t nb = nk / SM_QK5_0;
  /* The ref: (float) (q - 16) * d for q = 0..31. */
  const __m512 lv_lo = _mm512_set_ps (-1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, -12, -13,
                                      -14, -15, -16);
  const __m512 lv_hi = _mm512_set_ps (15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  uint8_t *out = dst;
  float d[16];

  for (int64_t i0 = 0; i0 < nb; i0 += 16)
    {
      const int m = (int) SM_MIN_I64 (nb - i0, 16);
      scales_f16 ((const uint8_t *) &x[i0].d, sizeof x[0], m, d);
      for (int i = 0; i < m; i++)
        {
          const __m512 s = _mm512_set1_ps (d[i]);
          const __m512i t = bf16_pair (_mm512_mul_ps (lv_lo, s), _mm512_mul_ps (lv_hi, s));
          store64 (out + (size_t) (i0 + i) * step,
                   _mm512_permutexvar_epi16 (q5_index (x[i0 + i].qs, x[i0 + i].qh), t));
        }
    }
}

static void
bf16_rows_q5_1 (const void *row, int64_t k0, int64_t nk, void *dst, size_t step)
{
  const sm_block_q5_1 *x = (const sm_block_q5_1 *) row + k0 / SM_QK5_1;
  const int64_t nb = nk / SM_QK5_1;
  /* The ref: (float) q * d + m for q = 0..31. */
  const __m512 lv_lo = _mm512_set_ps (15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512 lv_hi = _mm512_add_ps (lv_lo, _mm512_set1_ps (16));
  uint8_t *out = dst;
  float d[16], mn[16];

  for (int64_t i0 = 0; i0 < nb; i0 += 16)
    {
      const int m = (int) SM_MIN_I64 (nb - i0, 16);
      scales_f16_pair ((const uint8_t *) &x[i0].d, sizeof x[0], m, d, mn);
      for (int i = 0; i < m; i++)
        {
          const __m512 s = _mm512_set1_ps (d[i]), o = _mm512_set1_ps (mn[i]);
          const __m512i t = bf16_pair (_mm512_add_ps (_mm512_mul_ps (lv_lo, s), o),
                                       _mm512_add_ps (_mm512_mul_ps (lv_hi, s), o));
          store64 (out + (size_t) (i0 + i) * step,
                   _mm512_permutexvar_epi16 (q5_index (x[i0 + i].qs, x[i0 + i].qh), t));
        }
    }
}

/* ---- IQ4_XS: 8 sub-blocks of 32, x = (d * (ls - 32)) * level ---- */

static void
bf16_rows_iq4_xs (const void *row, int64_t k0, int64_t nk, void *dst, size_t step)
{
  const sm_block_iq4_xs *x = (const sm_block_iq4_xs *) row + k0 / SM_QK_K;
  const int64_t nb = nk / SM_QK_K;
  const __m512 levels = _mm512_cvtepi32_ps (
      _mm512_cvtepi8_epi32 (_mm_loadu_si128 ((const __m128i *) sm_kvalues_iq4nl)));
  const __m256i lo_shift = _mm256_setr_epi32 (0, 4, 8, 12, 16, 20, 24, 28);
  const __m256i hi_shift = _mm256_setr_epi32 (0, 2, 4, 6, 8, 10, 12, 14);
  uint8_t *out = dst;
  float d[16], dl[8];

  for (int64_t i0 = 0; i0 < nb; i0 += 16)
    {
      const int m = (int) SM_MIN_I64 (nb - i0, 16);
      scales_f16 ((const uint8_t *) &x[i0].d, sizeof x[0], m, d);
      for (int i = 0; i < m; i++)
        {
          const sm_block_iq4_xs *b = x + i0 + i;
          uint32_t sl;
          uint16_t sh;
          memcpy (&sl, b->scales_l, 4);
          memcpy (&sh, &b->scales_h, 2);
          /* The 8 6-bit scales: 4 low bits from scales_l, 2 high bits from scales_h. */
          const __m256i ls = _mm256_or_si256 (
              _mm256_and_si256 (_mm256_srlv_epi32 (_mm256_set1_epi32 ((int) sl), lo_shift),
                                _mm256_set1_epi32 (15)),
              _mm256_slli_epi32 (_mm256_and_si256 (_mm256_srlv_epi32 (
                                     _mm256_set1_epi32 (sh), hi_shift),
                                   _mm256_set1_epi32 (3)), 4));
          /* The ref: dl = d * (float) (ls - 32). */
          _mm256_storeu_ps (dl, _mm256_mul_ps (_mm256_set1_ps (d[i]), _mm256_cvtepi32_ps (
                                    _mm256_sub_epi32 (ls, _mm256_set1_epi32 (32)))));
          uint8_t *o = out + (size_t) (i0 + i) * 8 * step;
          for (int ib = 0; ib < 8; ib++)
            {
              const __m512i t = bf16_table16 (_mm512_mul_ps (_mm512_set1_ps (dl[ib]), levels));
              store64 (o + (size_t) ib * step,
                       _mm512_permutexvar_epi16 (nibble_index (b->qs + 16 * ib), t));
            }
        }
    }
}

/* ---- Q4_K and Q5_K: 8 sub-blocks of 32, x = (d * sc) * q - dmin * m ---- */

/* The 8 scales and 8 mins of a Q4_K/Q5_K block (get_scale_min_k4 of sm-quant-ref.c, four at a
 * time in 32-bit words), times d and dmin: s[0..8) = d * sc, s[8..16) = dmin * m. dd holds d in
 * lanes 0-7 and dmin in lanes 8-15. */
static inline void
k_scales (const uint8_t *scales, __m512 dd, float s[16])
{
  uint32_t u[3];

  memcpy (u, scales, 12);
  const uint32_t sc03 = u[0] & 0x3f3f3f3fu;
  const uint32_t m03 = u[1] & 0x3f3f3f3fu;
  const uint32_t sc47 = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);
  const uint32_t m47 = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);
  const __m128i b = _mm_setr_epi32 ((int) sc03, (int) sc47, (int) m03, (int) m47);
  _mm512_storeu_ps (s, _mm512_mul_ps (dd, _mm512_cvtepi32_ps (_mm512_cvtepu8_epi32 (b))));
}

static void
bf16_rows_q4_K (const void *row, int64_t k0, int64_t nk, void *dst, size_t step)
{
  const sm_block_q4_K *x = (const sm_block_q4_K *) row + k0 / SM_QK_K;
  const int64_t nb = nk / SM_QK_K;
  const __m512 codes = _mm512_set_ps (15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  uint8_t *out = dst;
  float d[16], dmin[16], s[16];

  for (int64_t i0 = 0; i0 < nb; i0 += 16)
    {
      const int m = (int) SM_MIN_I64 (nb - i0, 16);
      scales_f16_pair ((const uint8_t *) &x[i0].d, sizeof x[0], m, d, dmin);
      for (int i = 0; i < m; i++)
        {
          const sm_block_q4_K *b = x + i0 + i;
          k_scales (b->scales, _mm512_mask_blend_ps (0xff00, _mm512_set1_ps (d[i]),
                                                     _mm512_set1_ps (dmin[i])), s);
          uint8_t *o = out + (size_t) (i0 + i) * 8 * step;
          for (int j = 0; j < 4; j++)
            {
              /* The ref: d1 * (float) q - m1, the low nibbles of 32 bytes, then the high. */
              const __m512i t0 = bf16_table16 (_mm512_sub_ps (
                  _mm512_mul_ps (codes, _mm512_set1_ps (s[2 * j])), _mm512_set1_ps (s[8 + 2 * j])));
              const __m512i t1 = bf16_table16 (_mm512_sub_ps (
                  _mm512_mul_ps (codes, _mm512_set1_ps (s[2 * j + 1])),
                  _mm512_set1_ps (s[9 + 2 * j])));
              const __m512i w = _mm512_cvtepu8_epi16 (
                  _mm256_loadu_si256 ((const __m256i *) (b->qs + 32 * j)));
              store64 (o + (size_t) (2 * j) * step, _mm512_permutexvar_epi16 (w, t0));
              store64 (o + (size_t) (2 * j + 1) * step,
                       _mm512_permutexvar_epi16 (_mm512_srli_epi16 (w, 4), t1));
            }
        }
    }
}

static void
bf16_rows_q5_K (const void *row, int64_t k0, int64_t nk, void *dst, size_t step)
{
  const sm_block_q5_K *x = (const sm_block_q5_K *) row + k0 / SM_QK_K;
  const int64_t nb = nk / SM_QK_K;
  const __m512 codes_lo = _mm512_set_ps (15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512 codes_hi = _mm512_add_ps (codes_lo, _mm512_set1_ps (16));
  const __m512i low4 = _mm512_set1_epi16 (0x000f);
  uint8_t *out = dst;
  float d[16], dmin[16], s[16];

  for (int64_t i0 = 0; i0 < nb; i0 += 16)
    {
      const int m = (int) SM_MIN_I64 (nb - i0, 16);
      scales_f16_pair ((const uint8_t *) &x[i0].d, sizeof x[0], m, d, dmin);
      for (int i = 0; i < m; i++)
        {
          const sm_block_q5_K *b = x + i0 + i;
          k_scales (b->scales, _mm512_mask_blend_ps (0xff00, _mm512_set1_ps (d[i]),
                                                     _mm512_set1_ps (dmin[i])), s);
          uint8_t *o = out + (size_t) (i0 + i) * 8 * step;
          /* The 5th bits: bit 2j (low nibbles) and 2j + 1 (high) of qh[l], for element l. */
          __m512i h = _mm512_cvtepu8_epi16 (_mm256_loadu_si256 ((const __m256i *) b->qh));
          for (int j = 0; j < 4; j++, h = _mm512_srli_epi16 (h, 2))
            {
              const __m512i ds0 = _mm512_castps_si512 (_mm512_set1_ps (s[2 * j]));
              const __m512i ds1 = _mm512_castps_si512 (_mm512_set1_ps (s[2 * j + 1]));
              const __m512 d0 = _mm512_castsi512_ps (ds0), d1 = _mm512_castsi512_ps (ds1);
              const __m512 m0 = _mm512_set1_ps (s[8 + 2 * j]), m1 = _mm512_set1_ps (s[9 + 2 * j]);
              /* 32-entry tables: the ref's d1 * (float) q - m1 for q = 0..31. */
              const __m512i t0 = bf16_pair (_mm512_sub_ps (_mm512_mul_ps (codes_lo, d0), m0),
                                            _mm512_sub_ps (_mm512_mul_ps (codes_hi, d0), m0));
              const __m512i t1 = bf16_pair (_mm512_sub_ps (_mm512_mul_ps (codes_lo, d1), m1),
                                            _mm512_sub_ps (_mm512_mul_ps (codes_hi, d1), m1));
              const __m512i w = _mm512_cvtepu8_epi16 (
                  _mm256_loadu_si256 ((const __m256i *) (b->qs + 32 * j)));
              /* Index bits 0-3 from the nibble, bit 4 from qh (vpermw ignores bits 5-15). */
              const __m512i i0w = _mm512_ternarylogic_epi32 (low4, w, _mm512_slli_epi16 (h, 4),
                                                             0xca);
              const __m512i i1w = _mm512_ternarylogic_epi32 (low4, _mm512_srli_epi16 (w, 4),
                                                             _mm512_slli_epi16 (h, 3), 0xca);
              store64 (o + (size_t) (2 * j) * step, _mm512_permutexvar_epi16 (i0w, t0));
              store64 (o + (size_t) (2 * j + 1) * step, _mm512_permutexvar_epi16 (i1w, t1));
            }
        }
    }
}

/* ---- Q6_K: 16 sub-blocks of 16, x = (d * sc) * (q - 32) ---- */

static void
bf16_rows_q6_K (const void *row, int64_t k0, int64_t nk, void *dst, size_t step)
{
  const sm_block_q6_K *x = (const sm_block_q6_K *) row + k0 / SM_QK_K;
  const int64_t nb = nk / SM_QK_K;
  const __m512i mid = _mm512_set1_epi8 (0x3c);
  const __m512i keep = _mm512_set1_epi8 ((char) 0xfc);
  const __m512i flip = _mm512_set1_epi8 ((char) 0x80);
  uint8_t *out = dst;
  float d[16];
  float ds[16];
  int8_t q4[128];

  for (int64_t i0 = 0; i0 < nb; i0 += 16)
    {
      const int m = (int) SM_MIN_I64 (nb - i0, 16);
      /* d is the block's last field: its word is the 4 bytes ending with it. */
      halves_to_floats (_mm512_srli_epi32 (gather_words ((const uint8_t *) &x[i0].d - 2,
                                                         sizeof x[0], m), 16), d);
      for (int i = 0; i < m; i++)
        {
          const sm_block_q6_K *b = x + i0 + i;
          /* ds = (d * sc) / 4: the codes below come as 4 (q - 32), and (4 q) * (ds / 4) rounds
           * exactly like q * ds (the same real product; ds / 4 is exact, at least 2^-26 when
           * not zero). */
          const __m512 sc = _mm512_cvtepi32_ps (
              _mm512_cvtepi8_epi32 (_mm_loadu_si128 ((const __m128i *) b->scales)));
          _mm512_storeu_ps (ds, _mm512_mul_ps (_mm512_mul_ps (_mm512_set1_ps (d[i]), sc),
                                               _mm512_set1_ps (0.25f)));
          uint8_t *o = out + (size_t) (i0 + i) * 8 * step;
          for (int h = 0; h < 2; h++)
            {
              const __m512i ql = _mm512_loadu_si512 ((const void *) (b->ql + 64 * h));
              const __m256i qh = _mm256_loadu_si256 ((const __m256i *) (b->qh + 32 * h));
              /* Bytes 0-31: qh (elements l, l + 64), 32-63: qh >> 2 (l + 32, l + 96). */
              const __m512i hh = _mm512_inserti64x4 (_mm512_castsi256_si512 (qh),
                                                     _mm256_srli_epi16 (qh, 2), 1);
              /* Each code q as the int8 4 (q - 32): the 4 low bits at bits 2-5, the 2 high bits
               * at 6-7, bits 0-1 cleared, bit 7 flipped. The 16-bit shifts carry bits across
               * bytes only where the masks drop them. */
              const __m512i lo = _mm512_ternarylogic_epi32 (
                  _mm512_ternarylogic_epi32 (mid, _mm512_slli_epi16 (ql, 2),
                                             _mm512_slli_epi16 (hh, 6), 0xca),
                  keep, flip, 0x6a);
              const __m512i hi = _mm512_ternarylogic_epi32 (
                  _mm512_ternarylogic_epi32 (mid, _mm512_srli_epi16 (ql, 2),
                                             _mm512_slli_epi16 (hh, 2), 0xca),
                  keep, flip, 0x6a);
              _mm512_storeu_si512 ((void *) q4, lo);
              _mm512_storeu_si512 ((void *) (q4 + 64), hi);
              for (int g = 0; g < 4; g++)
                {
                  const __m512 a = _mm512_cvtepi32_ps (
                      _mm512_cvtepi8_epi32 (_mm_loadu_si128 ((const __m128i *) (q4 + 32 * g))));
                  const __m512 c = _mm512_cvtepi32_ps (_mm512_cvtepi8_epi32 (
                      _mm_loadu_si128 ((const __m128i *) (q4 + 32 * g + 16))));
                  store64 (o + (size_t) (4 * h + g) * step,
                           bf16_pair (_mm512_mul_ps (a, _mm512_set1_ps (ds[8 * h + 2 * g])),
                                      _mm512_mul_ps (c, _mm512_set1_ps (ds[8 * h + 2 * g + 1]))));
                }
            }
        }
    }
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

#ifdef SM_BF16ROWS_CVTNE
void
sm_bf16_rows_fill_avx512bf16 (sm_bf16_rows_fn table[SM_TYPE_COUNT])
#else
void
sm_bf16_rows_fill_avx512 (sm_bf16_rows_fn table[SM_TYPE_COUNT])
#endif
{
  table[SM_TYPE_Q8_0] = bf16_rows_q8_0;
  table[SM_TYPE_Q4_0] = bf16_rows_q4_0;
  table[SM_TYPE_Q4_1] = bf16_rows_q4_1;
  table[SM_TYPE_Q5_0] = bf16_rows_q5_0;
  table[SM_TYPE_Q5_1] = bf16_rows_q5_1;
  table[SM_TYPE_IQ4_NL] = bf16_rows_iq4_nl;
  table[SM_TYPE_IQ4_XS] = bf16_rows_iq4_xs;
  table[SM_TYPE_Q4_K] = bf16_rows_q4_K;
  table[SM_TYPE_Q5_K] = bf16_rows_q5_K;
  table[SM_TYPE_Q6_K] = bf16_rows_q6_K;
  table[SM_TYPE_BF16] = bf16_rows_bf16;
}
