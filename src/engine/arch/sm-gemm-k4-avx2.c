/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-gemm-k4-avx2.c: tile kernels (sm_gemm_tile_fn) for Q4_K and Q5_K weights against Q8_K
 * activations on AVX2 machines without AVX-512 (compiled with -mavx2 -mfma -mf16c; called only
 * after sm-dispatch.c has checked the CPU). The AVX-512 variant replaces them with the panels
 * of sm-gemm-k4-avx512.c.
 *
 * Register tiles of 4 rows x 2 tokens (16 ymm registers): per sub-block of 32, each row's codes
 * are unpacked once (a 32-byte load gives two sub-blocks: low and high nibbles; Q5_K ors in its
 * fifth bit) and each token's 32 bytes are the memory operand of vpmaddubsw; vpmaddwd against
 * the sub-block scale broadcast as int16 then applies the scale in the same step, so a (row,
 * token, sub-block) costs vpmaddubsw + vpmaddwd + vpaddd into an exact int32 sum (|pair| <=
 * 2 * 31 * 127 cannot saturate vpmaddubsw). The scales, mins and super-scales of the 4 rows are
 * unpacked once per call for every super-block. Per super-block the 4 rows' integer sums are
 * reduced together (vphaddd) and combined as the reference does, d * dy * isum - dmin * dy *
 * msum, with the min term msum = sum_s mn_s * bsum_s from vpmaddwd of the token's bsums.
 */
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "sm-quant-private.h"

enum { K2_ROWS = 4, K2_COLS = 2, K2_SB_STEP = 64 };

typedef struct
{
  int16_t sc[8];   /* sub-block scales */
  int16_t mn[16];  /* sub-block min s at entries 2s and 2s + 1 (matching the bsums) */
  float   d, dmin;
} k2_scales;

static inline void
k2_unpack (const uint8_t *q, k2_scales *s)
{
  for (int j = 0; j < 8; j++)
    {
      int sc, m;
      if (j < 4)
        {
          sc = q[j] & 63;
          m = q[j + 4] & 63;
        }
      else
        {
          sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
          m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
      s->sc[j] = (int16_t) sc;
      s->mn[2 * j] = s->mn[2 * j + 1] = (int16_t) m;
    }
}

/* The four int32 sums of a[0..3] (8 lanes each) as one vector. */
static inline __m128i
hsum4 (__m256i a0, __m256i a1, __m256i a2, __m256i a3)
{
  const __m256i h = _mm256_hadd_epi32 (_mm256_hadd_epi32 (a0, a1), _mm256_hadd_epi32 (a2, a3));
  return _mm_add_epi32 (_mm256_castsi256_si128 (h), _mm256_extracti128_si256 (h, 1));
}

static inline __attribute__ ((always_inline)) void
k2_tile (bool             q5,
         int              nr,
         int              nc,
         const uint8_t   *w,
         size_t           ws,
         const k2_scales *scl,   /* [r * nbs + b] */
         int              nbs,
         int64_t          b0,
         int              nb,
         const uint8_t   *a,
         size_t           as,
         float           *out,
         size_t           os,
         bool             first)
{
  const size_t bs = q5 ? sizeof (sm_block_q5_K) : sizeof (sm_block_q4_K);
  const size_t qs_off = q5 ? offsetof (sm_block_q5_K, qs) : offsetof (sm_block_q4_K, qs);
  const __m256i m4 = _mm256_set1_epi8 (0x0F), one = _mm256_set1_epi8 (1);
  __m128 acc[K2_COLS];

  for (int c = 0; c < nc; c++)
    acc[c] = _mm_setzero_ps ();
  for (int b = 0; b < nb; b++)
    {
      const sm_block_q8_K *y[K2_COLS];
      __m256i is[K2_ROWS][K2_COLS];
      for (int c = 0; c < nc; c++)
        y[c] = (const sm_block_q8_K *) (a + (size_t) c * as) + b0 + b;
      for (int r = 0; r < K2_ROWS; r++)
        for (int c = 0; c < K2_COLS; c++)
          is[r][c] = _mm256_setzero_si256 ();
      for (int j = 0; j < 4; j++)
        for (int r = 0; r < nr; r++)
          {
            const uint8_t *blk = w + (size_t) r * ws + (size_t) (b0 + b) * bs;
            const __m256i v = _mm256_loadu_si256 ((const __m256i *) (blk + qs_off + 32 * j));
            __m256i lo = _mm256_and_si256 (v, m4);
            __m256i hi = _mm256_and_si256 (_mm256_srli_epi16 (v, 4), m4);
            if (q5)
              {
                /* Element 32s + e has its fifth bit at bit s of qh[e]. */
                const __m256i h = _mm256_loadu_si256 (
                    (const __m256i *) (blk + offsetof (sm_block_q5_K, qh)));
                lo = _mm256_or_si256 (lo, _mm256_slli_epi16 (_mm256_and_si256 (
                    _mm256_srli_epi16 (h, 2 * j), one), 4));
                hi = _mm256_or_si256 (hi, _mm256_slli_epi16 (_mm256_and_si256 (
                    _mm256_srli_epi16 (h, 2 * j + 1), one), 4));
              }
            const k2_scales *sr = &scl[(size_t) r * nbs + b];
            const __m256i sl = _mm256_set1_epi16 (sr->sc[2 * j]);
            const __m256i sh = _mm256_set1_epi16 (sr->sc[2 * j + 1]);
            for (int c = 0; c < nc; c++)
              {
                const __m256i yl = _mm256_loadu_si256 ((const __m256i *) (y[c]->qs + 64 * j));
                const __m256i yh = _mm256_loadu_si256 ((const __m256i *) (y[c]->qs + 64 * j
                                                                          + 32));
                is[r][c] = _mm256_add_epi32 (is[r][c], _mm256_madd_epi16 (
                    _mm256_maddubs_epi16 (lo, yl), sl));
                is[r][c] = _mm256_add_epi32 (is[r][c], _mm256_madd_epi16 (
                    _mm256_maddubs_epi16 (hi, yh), sh));
              }
          }
      float d[K2_ROWS] = { 0 }, dmin[K2_ROWS] = { 0 };
      for (int r = 0; r < nr; r++)
        {
          d[r] = scl[(size_t) r * nbs + b].d;
          dmin[r] = scl[(size_t) r * nbs + b].dmin;
        }
      const __m128 dv = _mm_loadu_ps (d), dminv = _mm_loadu_ps (dmin);
      for (int c = 0; c < nc; c++)
        {
          const __m256i bsums = _mm256_loadu_si256 ((const __m256i *) y[c]->bsums);
          __m256i ms[K2_ROWS];
          for (int r = 0; r < K2_ROWS; r++)
            ms[r] = r < nr ? _mm256_madd_epi16 (bsums, _mm256_loadu_si256 (
                                 (const __m256i *) scl[(size_t) r * nbs + b].mn))
                           : _mm256_setzero_si256 ();
          const __m128 isum = _mm_cvtepi32_ps (hsum4 (is[0][c], is[1][c], is[2][c], is[3][c]));
          const __m128 msum = _mm_cvtepi32_ps (hsum4 (ms[0], ms[1], ms[2], ms[3]));
          const __m128 dy = _mm_set1_ps (y[c]->d);
          acc[c] = _mm_add_ps (acc[c], _mm_sub_ps (_mm_mul_ps (_mm_mul_ps (dv, dy), isum),
                                                   _mm_mul_ps (_mm_mul_ps (dminv, dy), msum)));
        }
    }
  for (int c = 0; c < nc; c++)
    {
      float v[K2_ROWS];
      _mm_storeu_ps (v, acc[c]);
      for (int r = 0; r < nr; r++)
        out[(size_t) c * os + r] = first ? v[r] : out[(size_t) c * os + r] + v[r];
    }
}

static inline __attribute__ ((always_inline)) void
k2_gemm (bool        q5,
         int64_t     n,
         const void *w,
         size_t      ws,
         int         nr,
         const void *a,
         size_t      as,
         int         nc,
         float      *out,
         size_t      os)
{
  const uint8_t *wp = w, *ap = a;
  const int64_t nb = n / SM_QK_K;
  const size_t bs = q5 ? sizeof (sm_block_q5_K) : sizeof (sm_block_q4_K);
  k2_scales scl[K2_ROWS * K2_SB_STEP];

  if (nb == 0)
    {
      for (int c = 0; c < nc; c++)
        for (int r = 0; r < nr; r++)
          out[(size_t) c * os + r] = 0.0f;
      return;
    }
  for (int r0 = 0; r0 < nr; r0 += K2_ROWS)
    {
      const int nrr = nr - r0 < K2_ROWS ? nr - r0 : K2_ROWS;
      const uint8_t *wr = wp + (size_t) r0 * ws;
      for (int64_t b0 = 0; b0 < nb; b0 += K2_SB_STEP)
        {
          const int nbc = (int) (nb - b0 < K2_SB_STEP ? nb - b0 : K2_SB_STEP);
          for (int r = 0; r < nrr; r++)
            for (int b = 0; b < nbc; b++)
              {
                const uint8_t *blk = wr + (size_t) r * ws + (size_t) (b0 + b) * bs;
                sm_half h[2];
                memcpy (h, blk, sizeof h);
                k2_scales *s = &scl[r * K2_SB_STEP + b];
                s->d = _cvtsh_ss (h[0]);
                s->dmin = _cvtsh_ss (h[1]);
                k2_unpack (blk + 2 * sizeof (sm_half), s);
              }
          for (int c = 0; c < nc; c += K2_COLS)
            {
              const int ncc = nc - c < K2_COLS ? nc - c : K2_COLS;
              const uint8_t *ac = ap + (size_t) c * as;
              float *oc = out + (size_t) c * os + r0;
              const bool first = b0 == 0;
              /* Constant shapes for the whole tile, the rest through the general one. */
              if (nrr == K2_ROWS && ncc == K2_COLS)
                k2_tile (q5, K2_ROWS, K2_COLS, wr, ws, scl, K2_SB_STEP, b0, nbc, ac, as, oc, os,
                         first);
              else
                k2_tile (q5, nrr, ncc, wr, ws, scl, K2_SB_STEP, b0, nbc, ac, as, oc, os, first);
            }
        }
    }
}

static void
avx2_gemm_q4_K (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int nc,
                float *out, size_t os)
{
  k2_gemm (false, n, w, ws, nr, a, as, nc, out, os);
}

static void
avx2_gemm_q5_K (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int nc,
                float *out, size_t os)
{
  k2_gemm (true, n, w, ws, nr, a, as, nc, out, os);
}

void
sm_gemm_fill_k4_avx2 (sm_gemm_tile_fn gemm[SM_TYPE_COUNT])
{
  gemm[SM_TYPE_Q4_K] = avx2_gemm_q4_K;
  gemm[SM_TYPE_Q5_K] = avx2_gemm_q5_K;
}
