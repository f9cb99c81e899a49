/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-gemv-k-avx2.c: multi-row kernels for one activation row (generation, n = 1) of Q6_K,
 * Q4_K and Q5_K, AVX2 + FMA + F16C (no VNNI, no AVX-VNNI assumed), reading the ggml block
 * layout as it is in the file. The 256-bit counterpart of sm-gemv-k-avx512.c: four rows go
 * through each super-block together (activation loads shared, the rows prefetched as
 * sm-gemv-walk.h says), and the activation work is done once per call for all rows: the
 * negated 16-element sums for the Q6_K -32 offset (taken with the scales times 32 in one
 * vpmaddwd), the 32-element sums for the Q4_K/Q5_K mins. Per 32 codes: vpmaddubsw, one
 * vpshufb placing the 16-bit sub-block scales, vpmaddwd and an add; one int -> float
 * conversion and one FMA per super-block and row.
 * Compiled with the avx2 flags of meson.build; only called after sm-dispatch.c has checked the
 * CPU.
 */
#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "sm-gemv-walk.h"
#include "sm-gemv-private.h"
#include "sm-quant-private.h"

/* Super-blocks of activation prepared per pass over the rows (8192 elements). */
#define GEMV_K_KB 32

/* Rows per pass. */
#define GEMV_K_ROWS 4

enum
{
  KIND_Q6_K,
  KIND_Q4_K,
  KIND_Q5_K,
};

typedef struct
{
  float   yd[GEMV_K_KB];
  int16_t bs[GEMV_K_KB][16]; /* Q6_K: -bsums; Q4_K: 32-element sums (8 used) */
} act_prep;

static inline float
h2f (sm_half h)
{
  return _cvtsh_ss (h);
}

static inline __m256i
loadu256 (const void *p)
{
  return _mm256_loadu_si256 ((const __m256i *) p);
}

/* vpshufb control: int16 lane a of each 128-bit half to all 8 lanes of the low half, lane b
 * to all of the high half. */
static inline __m256i
word_pair_ctl (int a, int b)
{
  return _mm256_set_m128i (_mm_set1_epi16 ((short) ((2 * b) | ((2 * b + 1) << 8))),
                           _mm_set1_epi16 ((short) ((2 * a) | ((2 * a + 1) << 8))));
}

static void
prepare (int kind, const sm_block_q8_K *y, int64_t kn, act_prep *p)
{
  for (int64_t b = 0; b < kn; b++)
    {
      p->yd[b] = y[b].d;
      for (int s = 0; s < 16; s++)
        {
          if (kind == KIND_Q6_K)
            p->bs[b][s] = (int16_t) -y[b].bsums[s];
          else
            p->bs[b][s] = (int16_t) (s < 8 ? y[b].bsums[2 * s] + y[b].bsums[2 * s + 1] : 0);
        }
    }
}

/* One Q6_K super-block of one row, added to acc. */
static inline __attribute__ ((always_inline)) __m256
block_q6_K (const sm_block_q6_K *x, const int8_t *q8, const int16_t *negb, float yd, __m256 acc)
{
  const __m256i m4 = _mm256_set1_epi8 (0x0F);
  const __m256i m30 = _mm256_set1_epi8 (0x30);
  const __m256i sc16 = _mm256_cvtepi8_epi16 (_mm_loadu_si128 ((const __m128i *) x->scales));
  /* Scales 0..7 in both halves (first 128 elements), 8..15 in both (second 128). */
  const __m256i sch[2]
      = { _mm256_permute4x64_epi64 (sc16, 0x44), _mm256_permute4x64_epi64 (sc16, 0xEE) };
  /* The -32 offset: sum_s (32 sc[s]) * (-bsums[s]) starts the sum. */
  __m256i sumi = _mm256_madd_epi16 (_mm256_slli_epi16 (sc16, 5), loadu256 (negb));
  const uint8_t *ql = x->ql, *qh = x->qh;
#pragma GCC unroll 2
  for (int h = 0; h < 2; h++, ql += 64, qh += 32, q8 += 128)
    {
      const __m256i l0 = loadu256 (ql);
      const __m256i l1 = loadu256 (ql + 32);
      const __m256i hb = loadu256 (qh);
      /* Elements 32k + l of this half: low or high nibble of ql[l] / ql[32 + l], with bits
       * 2k, 2k + 1 of qh[l] moved to bits 4-5 (what 16-bit shifts leak is masked off). */
      __m256i q[4];
      q[0] = _mm256_or_si256 (_mm256_and_si256 (l0, m4),
                              _mm256_and_si256 (_mm256_slli_epi16 (hb, 4), m30));
      q[1] = _mm256_or_si256 (_mm256_and_si256 (l1, m4),
                              _mm256_and_si256 (_mm256_slli_epi16 (hb, 2), m30));
      q[2] = _mm256_or_si256 (_mm256_and_si256 (_mm256_srli_epi16 (l0, 4), m4),
                              _mm256_and_si256 (hb, m30));
      q[3] = _mm256_or_si256 (_mm256_and_si256 (_mm256_srli_epi16 (l1, 4), m4),
                              _mm256_and_si256 (_mm256_srli_epi16 (hb, 2), m30));
#pragma GCC unroll 4
      for (int k = 0; k < 4; k++)
        {
          /* The low 128 bits hold sub-block 2k of this half, the high ones 2k + 1. */
          const __m256i p = _mm256_maddubs_epi16 (q[k], loadu256 (q8 + 32 * k));
          const __m256i s = _mm256_shuffle_epi8 (sch[h], word_pair_ctl (2 * k, 2 * k + 1));
          sumi = _mm256_add_epi32 (sumi, _mm256_madd_epi16 (p, s));
        }
    }
  return _mm256_fmadd_ps (_mm256_set1_ps (yd * h2f (x->d)), _mm256_cvtepi32_ps (sumi), acc);
}

/* The 8 6-bit scales and mins of a Q4_K block as two uint64 of bytes (layout: formats.md). */
static inline void
k4_unpack (const uint8_t *q, uint64_t *sc, uint64_t *mn)
{
  uint32_t u0, u1, u2;
  memcpy (&u0, q, 4);
  memcpy (&u1, q + 4, 4);
  memcpy (&u2, q + 8, 4);
  const uint32_t k1 = 0x3f3f3f3fu, k2 = 0x0f0f0f0fu, k3 = 0x03030303u;
  const uint32_t s_lo = u0 & k1, m_lo = u1 & k1;
  const uint32_t s_hi = (u2 & k2) | (((u0 >> 6) & k3) << 4);
  const uint32_t m_hi = ((u2 >> 4) & k2) | (((u1 >> 6) & k3) << 4);
  *sc = s_lo | ((uint64_t) s_hi << 32);
  *mn = m_lo | ((uint64_t) m_hi << 32);
}

/* vpshufb control that copies int16 lane k of each 128-bit half to all 8 lanes. */
static inline __m256i
word_broadcast_ctl (int k)
{
  return _mm256_set1_epi16 ((short) ((2 * k) | ((2 * k + 1) << 8)));
}

/* One Q4_K (bits5 false) or Q5_K super-block of one row at xb: the scaled dot added to acc,
 * the min term to accm. Both block types start with d, dmin, scales[12]; Q5_K then has
 * qh[32]. */
static inline __attribute__ ((always_inline)) __m256
block_q4_5_K (const uint8_t *xb, bool bits5, const int8_t *q8, const int16_t *bs32, float yd,
              __m256 acc, __m128 *accm)
{
  const __m256i m4 = _mm256_set1_epi8 (0x0F);
  const __m256i m10 = _mm256_set1_epi8 (0x10);
  sm_half d, dmin;
  memcpy (&d, xb, 2);
  memcpy (&dmin, xb + 2, 2);
  const uint8_t *qs = xb + 16 + (bits5 ? 32 : 0);
  /* Q5_K: bit 2j of qh[l] is the fifth bit of element 64j + l, bit 2j + 1 that of
   * 64j + 32 + l; hb is shifted right by 2 per 64 elements, and its bits 0 and 1 are moved to
   * bit 4 (what 16-bit shifts carry across bytes is masked off). */
  __m256i hb = bits5 ? loadu256 (xb + 16) : _mm256_setzero_si256 ();
  uint64_t sc, mn;
  k4_unpack (xb + 4, &sc, &mn);
  const __m256i scales
      = _mm256_broadcastsi128_si256 (_mm_cvtepu8_epi16 (_mm_cvtsi64_si128 ((long long) sc)));
  const __m128i mt = _mm_madd_epi16 (_mm_cvtepu8_epi16 (_mm_cvtsi64_si128 ((long long) mn)),
                                     _mm_loadu_si128 ((const __m128i *) bs32));
  *accm = _mm_fmadd_ps (_mm_cvtepi32_ps (mt), _mm_set1_ps (yd * h2f (dmin)), *accm);
  __m256i sumi = _mm256_setzero_si256 ();
#pragma GCC unroll 4
  for (int j = 0; j < 4; j++)
    {
      /* 64 elements: low nibbles sub-block 2j, high nibbles 2j + 1. */
      const __m256i q = loadu256 (qs + 32 * j);
      __m256i lo = _mm256_and_si256 (q, m4);
      __m256i hi = _mm256_and_si256 (_mm256_srli_epi16 (q, 4), m4);
      if (bits5)
        {
          lo = _mm256_or_si256 (lo, _mm256_and_si256 (_mm256_slli_epi16 (hb, 4), m10));
          hi = _mm256_or_si256 (hi, _mm256_and_si256 (_mm256_slli_epi16 (hb, 3), m10));
          hb = _mm256_srli_epi16 (hb, 2);
        }
      const __m256i p0 = _mm256_maddubs_epi16 (lo, loadu256 (q8 + 64 * j));
      const __m256i p1 = _mm256_maddubs_epi16 (hi, loadu256 (q8 + 64 * j + 32));
      const __m256i s0 = _mm256_shuffle_epi8 (scales, word_broadcast_ctl (2 * j));
      const __m256i s1 = _mm256_shuffle_epi8 (scales, word_broadcast_ctl (2 * j + 1));
      sumi = _mm256_add_epi32 (
          sumi, _mm256_add_epi32 (_mm256_madd_epi16 (p0, s0), _mm256_madd_epi16 (p1, s1)));
    }
  return _mm256_fmadd_ps (_mm256_set1_ps (yd * h2f (d)), _mm256_cvtepi32_ps (sumi), acc);
}

static inline float
hsum128 (__m128 v)
{
  v = _mm_add_ps (v, _mm_movehl_ps (v, v));
  v = _mm_add_ss (v, _mm_movehdup_ps (v));
  return _mm_cvtss_f32 (v);
}

static inline float
hsum256 (__m256 v)
{
  return hsum128 (_mm_add_ps (_mm256_castps256_ps128 (v), _mm256_extractf128_ps (v, 1)));
}

/* The R rows at rows[] (rows ri[] of the call, prefetched ahead bytes ahead) over the kn
 * prepared super-blocks starting at super-block kb0, added to out[ri[0 .. R - 1]]. */
static inline __attribute__ ((always_inline)) void
rows_pass (int kind, int R, const uint8_t *const rows[], const int64_t ri[], size_t ahead,
           int64_t kb0, int64_t kn, const sm_block_q8_K *yk, const act_prep *p, float *out)
{
  const size_t bs = kind == KIND_Q6_K   ? sizeof (sm_block_q6_K)
                    : kind == KIND_Q4_K ? sizeof (sm_block_q4_K)
                                        : sizeof (sm_block_q5_K);
  __m256 acc[GEMV_K_ROWS];
  __m128 accm[GEMV_K_ROWS];

#pragma GCC unroll 4
  for (int i = 0; i < R; i++)
    {
      acc[i] = _mm256_setzero_ps ();
      accm[i] = _mm_setzero_ps ();
    }
  for (int64_t b = 0; b < kn; b++)
    {
      const size_t off = (size_t) (kb0 + b) * bs;
      sm_gemv_prefetch (rows, R, ahead, off, bs);
#pragma GCC unroll 4
      for (int i = 0; i < R; i++)
        {
          const uint8_t *xb = rows[i] + off;
          if (kind == KIND_Q6_K)
            acc[i] = block_q6_K ((const sm_block_q6_K *) xb, yk[b].qs, p->bs[b], p->yd[b], acc[i]);
          else
            acc[i] = block_q4_5_K (xb, kind == KIND_Q5_K, yk[b].qs, p->bs[b], p->yd[b], acc[i],
                                   &accm[i]);
        }
    }
#pragma GCC unroll 4
  for (int i = 0; i < R; i++)
    out[ri[i]] += hsum256 (acc[i]) - (kind == KIND_Q6_K ? 0.0f : hsum128 (accm[i]));
}

static inline __attribute__ ((always_inline)) void
gemv_k (int kind, int64_t n, const void *w, size_t ws, int64_t nr, const void *a, float *out)
{
  const int64_t nb = n / SM_QK_K;
  const sm_block_q8_K *y = a;
  const uint8_t *wp = w;
  const sm_gemv_walk walk = sm_gemv_walk_init (nr, ws, GEMV_K_ROWS);
  act_prep p __attribute__ ((aligned (32)));

  for (int64_t r = 0; r < nr; r++)
    out[r] = 0.0f;
  for (int64_t kb0 = 0; kb0 < nb; kb0 += GEMV_K_KB)
    {
      const int64_t kn = nb - kb0 < GEMV_K_KB ? nb - kb0 : GEMV_K_KB;
      prepare (kind, y + kb0, kn, &p);
      /* Full passes of four rows in the order of sm-gemv-walk.h, then the last rows one by
       * one. */
      for (int64_t g = 0; g < nr / GEMV_K_ROWS; g++)
        {
          const uint8_t *rows[GEMV_K_ROWS];
          int64_t ri[GEMV_K_ROWS];
          for (int i = 0; i < GEMV_K_ROWS; i++)
            {
              ri[i] = sm_gemv_walk_row (&walk, g, i);
              rows[i] = wp + (size_t) ri[i] * ws;
            }
          rows_pass (kind, GEMV_K_ROWS, rows, ri, sm_gemv_walk_ahead (&walk, g), kb0, kn,
                     y + kb0, &p, out);
        }
      for (int64_t r = nr / GEMV_K_ROWS * GEMV_K_ROWS; r < nr; r++)
        {
          const uint8_t *row = wp + (size_t) r * ws;
          rows_pass (kind, 1, &row, &r, ws, kb0, kn, y + kb0, &p, out);
        }
    }
}

static void
avx2_gemv_q6_K (int64_t n, const void *w, size_t ws, int64_t nr, const void *a, float *out)
{
  gemv_k (KIND_Q6_K, n, w, ws, nr, a, out);
}

static void
avx2_gemv_q4_K (int64_t n, const void *w, size_t ws, int64_t nr, const void *a, float *out)
{
  gemv_k (KIND_Q4_K, n, w, ws, nr, a, out);
}

static void
avx2_gemv_q5_K (int64_t n, const void *w, size_t ws, int64_t nr, const void *a, float *out)
{
  gemv_k (KIND_Q5_K, n, w, ws, nr, a, out);
}

void
sm_gemv_fill_k_avx2 (sm_gemv_fn gemv[SM_TYPE_COUNT])
{
  gemv[SM_TYPE_Q6_K] = avx2_gemv_q6_K;
  gemv[SM_TYPE_Q4_K] = avx2_gemv_q4_K;
  gemv[SM_TYPE_Q5_K] = avx2_gemv_q5_K;
}
