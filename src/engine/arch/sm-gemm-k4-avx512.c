/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-gemm-k4-avx512.c: tile kernels (sm_gemm_tile_fn) for Q4_K and Q5_K weights against Q8_K
 * activations, for prompt batches: 16 weight rows x up to 8 tokens per register pass, through
 * weights repacked on the stack, with AVX-512 F/BW/VL/DQ + VNNI (compiled with its own -m flags,
 * called only after sm-dispatch.c has checked the CPU).
 *
 * Per super-block of 256 elements, row r and token t:
 *   dot = dy_t * (d_r * sum_s sc_rs * isum_rst - dmin_r * sum_s mn_rs * bsum_st)
 * with s over the 8 sub-blocks of 32, isum the integer dot of the unsigned 4- (5-) bit codes with
 * the token's signed bytes, and bsum the sum of the token's 32 bytes of sub-block s (two of the
 * Q8_K block's bsums).
 *
 * Repacking (once per panel of 16 rows and chunk of super-blocks, shared by every token): lane r
 * of q[s][k] holds elements 4k..4k+3 of sub-block s of row r as unsigned bytes (one vpgatherdd
 * per 4 code bytes serves two sub-blocks: low and high nibbles; Q5_K adds its fifth bit from
 * 8 more gathers of qh); sc[s] holds the 16 scales sc_rs as floats, mn[s] the 6-bit mins twice
 * as int16 in each lane, d and dmin the 16 super-scales. Each token then costs, per 16 rows and
 * super-block, 64 vpdpbusd with its activation bytes broadcast from memory, 8 conversions + 8
 * FMAs for sum_s sc_rs * isum_rst (exact in float while the sum stays below 2^24, as the
 * reference's int-to-float conversion is), 8 vpdpwssd of the mins against the broadcast bsums
 * pairs, and a few multiplies to combine them as the reference does, d * dy * isum - dmin * dy
 * * msum, so the tile agrees with the reference dot to float rounding of that last step (it
 * moves no Q8 activation code of the next layer, unlike a reordered sum). Rows past nr are
 * masked off in the gathers (they read nothing and count zero) and in the output loads and
 * stores, so any nr runs the same loop without writing outside the tile. Rows too far apart for
 * 32-bit gather offsets use the reference dot product.
 */
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "sm-quant-private.h"

enum { KP_ROWS = 16, KP_COLS = 8, KP_CHUNK = 4 };

typedef struct
{
  __m512i q[8][8];  /* [sub-block][k]: codes 4k..4k+3 of 16 rows */
  __m512  sc[8];    /* sub-block scale */
  __m512i mn[8];    /* sub-block min, twice as int16 */
  __m512  d, dmin;
} kpanel_block;

static inline __m512i
gather_rows (__mmask16 rows, __m512i idx, const uint8_t *p)
{
  return _mm512_mask_i32gather_epi32 (_mm512_setzero_si512 (), rows, idx, p, 1);
}

/* Byte i of every lane of v as 16 int32 lanes. */
static inline __m512i
byte_of (__m512i v, int i)
{
  return _mm512_and_si512 (_mm512_srli_epi32 (v, 8 * i), _mm512_set1_epi32 (0xFF));
}

static inline __attribute__ ((always_inline)) void
kpanel_pack (bool           q5,
             kpanel_block  *p,
             const uint8_t *w,
             size_t         ws,
             __mmask16      rows,
             int64_t        b0,
             int            nb)
{
  const __m512i idx = _mm512_mullo_epi32 (_mm512_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                                             11, 12, 13, 14, 15),
                                          _mm512_set1_epi32 ((int) ws));
  const size_t bs = q5 ? sizeof (sm_block_q5_K) : sizeof (sm_block_q4_K);
  const size_t qs_off = q5 ? offsetof (sm_block_q5_K, qs) : offsetof (sm_block_q4_K, qs);
  const __m512i m4 = _mm512_set1_epi8 (0x0F), m6 = _mm512_set1_epi8 (0x3F);
  const __m512i hi2 = _mm512_set1_epi8 (0x30), bit0 = _mm512_set1_epi8 (0x01);

  for (int b = 0; b < nb; b++)
    {
      const uint8_t *base = w + (size_t) (b0 + b) * bs;
      /* The first dword: d in the low half, dmin in the high half. */
      const __m512i h = gather_rows (rows, idx, base);
      p[b].d = _mm512_cvtph_ps (_mm512_cvtepi32_epi16 (h));
      p[b].dmin = _mm512_cvtph_ps (_mm512_cvtepi32_epi16 (_mm512_srli_epi32 (h, 16)));

      /* The 12 scale bytes as three dwords; the 6-bit scales and mins of sub-blocks 0..3 and
       * 4..7, one byte each (formats.md 3.2). */
      const __m512i s0 = gather_rows (rows, idx, base + 4);
      const __m512i s1 = gather_rows (rows, idx, base + 8);
      const __m512i s2 = gather_rows (rows, idx, base + 12);
      const __m512i sc_lo = _mm512_and_si512 (s0, m6);
      const __m512i mn_lo = _mm512_and_si512 (s1, m6);
      const __m512i sc_hi = _mm512_or_si512 (_mm512_and_si512 (s2, m4),
                                             _mm512_and_si512 (_mm512_srli_epi32 (s0, 2), hi2));
      const __m512i mn_hi = _mm512_or_si512 (_mm512_and_si512 (_mm512_srli_epi32 (s2, 4), m4),
                                             _mm512_and_si512 (_mm512_srli_epi32 (s1, 2), hi2));
#pragma GCC unroll 4
      for (int i = 0; i < 4; i++)
        {
          p[b].sc[i] = _mm512_cvtepi32_ps (byte_of (sc_lo, i));
          p[b].sc[i + 4] = _mm512_cvtepi32_ps (byte_of (sc_hi, i));
          const __m512i ml = byte_of (mn_lo, i), mh = byte_of (mn_hi, i);
          p[b].mn[i] = _mm512_or_si512 (ml, _mm512_slli_epi32 (ml, 16));
          p[b].mn[i + 4] = _mm512_or_si512 (mh, _mm512_slli_epi32 (mh, 16));
        }

      /* 32 code bytes per pair of sub-blocks: low nibbles sub-block 2j, high nibbles 2j + 1. */
#pragma GCC unroll 4
      for (int j = 0; j < 4; j++)
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++)
          {
            const __m512i v = gather_rows (rows, idx, base + qs_off + 32 * j + 4 * k);
            p[b].q[2 * j][k] = _mm512_and_si512 (v, m4);
            p[b].q[2 * j + 1][k] = _mm512_and_si512 (_mm512_srli_epi32 (v, 4), m4);
          }
      if (q5)
        {
          /* Element 32s + e has its fifth bit at bit s of qh[e]. */
#pragma GCC unroll 8
          for (int k = 0; k < 8; k++)
            {
              const __m512i v = gather_rows (rows, idx,
                                             base + offsetof (sm_block_q5_K, qh) + 4 * k);
#pragma GCC unroll 8
              for (int s = 0; s < 8; s++)
                p[b].q[s][k] = _mm512_or_si512 (
                    p[b].q[s][k],
                    _mm512_slli_epi32 (_mm512_and_si512 (_mm512_srli_epi32 (v, s), bit0), 4));
            }
        }
    }
}

static inline int32_t
load_i32 (const void *p)
{
  int32_t v;
  memcpy (&v, p, sizeof v);
  return v;
}

/* nc (<= KP_COLS) tokens against the packed chunk, added to (or, first, stored as) their 16
 * output floats. */
static inline __attribute__ ((always_inline)) void
kpanel_cols (int                 nc,
             const kpanel_block *p,
             int                 nb,
             const uint8_t      *a,
             size_t              as,
             int64_t             b0,
             float              *out,
             size_t              os,
             __mmask16           rows,
             bool                first)
{
  __m512 acc[KP_COLS];

#pragma GCC unroll 8
  for (int c = 0; c < nc; c++)
    acc[c] = first ? _mm512_setzero_ps () : _mm512_maskz_loadu_ps (rows, out + (size_t) c * os);
  for (int b = 0; b < nb; b++)
    {
      const kpanel_block *pb = &p[b];
      const sm_block_q8_K *y[KP_COLS];
      __m512 f[KP_COLS];

#pragma GCC unroll 8
      for (int c = 0; c < nc; c++)
        {
          y[c] = (const sm_block_q8_K *) (a + (size_t) c * as) + b0 + b;
          f[c] = _mm512_setzero_ps ();
        }
      /* The k loop outside the token loop: the tokens' integer sums are independent chains,
       * interleaved for the out-of-order core. */
#pragma GCC unroll 1
      for (int s = 0; s < 8; s++)
        {
          __m512i i[KP_COLS];
#pragma GCC unroll 8
          for (int c = 0; c < nc; c++)
            i[c] = _mm512_setzero_si512 ();
#pragma GCC unroll 8
          for (int k = 0; k < 8; k++)
            {
              const __m512i q = _mm512_load_si512 (&pb->q[s][k]);
#pragma GCC unroll 8
              for (int c = 0; c < nc; c++)
                i[c] = _mm512_dpbusd_epi32 (i[c], q, _mm512_set1_epi32 (
                                                         load_i32 (y[c]->qs + 32 * s + 4 * k)));
            }
          const __m512 sc = pb->sc[s];
#pragma GCC unroll 8
          for (int c = 0; c < nc; c++)
            f[c] = _mm512_fmadd_ps (_mm512_cvtepi32_ps (i[c]), sc, f[c]);
        }
      /* The min term, sum_s mn_rs * bsum_st, and the super-block's share as the reference
       * forms it: d * dy * isum - dmin * dy * msum. */
      __m512i m[KP_COLS];
#pragma GCC unroll 8
      for (int c = 0; c < nc; c++)
        m[c] = _mm512_setzero_si512 ();
#pragma GCC unroll 8
      for (int s = 0; s < 8; s++)
        {
          const __m512i mn = _mm512_load_si512 (&pb->mn[s]);
#pragma GCC unroll 8
          for (int c = 0; c < nc; c++)
            m[c] = _mm512_dpwssd_epi32 (m[c], mn,
                                        _mm512_set1_epi32 (load_i32 (&y[c]->bsums[2 * s])));
        }
#pragma GCC unroll 8
      for (int c = 0; c < nc; c++)
        {
          const __m512 dy = _mm512_set1_ps (y[c]->d);
          const __m512 mins = _mm512_mul_ps (_mm512_mul_ps (pb->dmin, dy),
                                             _mm512_cvtepi32_ps (m[c]));
          acc[c] = _mm512_add_ps (acc[c], _mm512_fmsub_ps (_mm512_mul_ps (pb->d, dy), f[c],
                                                           mins));
        }
    }
#pragma GCC unroll 8
  for (int c = 0; c < nc; c++)
    _mm512_mask_storeu_ps (out + (size_t) c * os, rows, acc[c]);
}

static inline __attribute__ ((always_inline)) void
kpanel_gemm (bool        q5,
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

  if (ws > (size_t) INT32_MAX / KP_ROWS || nb == 0)
    {
      for (int c = 0; c < nc; c++)
        for (int r = 0; r < nr; r++)
          out[(size_t) c * os + r]
              = q5 ? sm_vec_dot_q5_K_ref (n, wp + (size_t) r * ws, ap + (size_t) c * as)
                   : sm_vec_dot_q4_K_ref (n, wp + (size_t) r * ws, ap + (size_t) c * as);
      return;
    }

  kpanel_block p[KP_CHUNK];

  for (int r = 0; r < nr; r += KP_ROWS)
    {
      const __mmask16 rows = nr - r >= KP_ROWS ? (__mmask16) 0xFFFF
                                               : (__mmask16) ((1u << (nr - r)) - 1);
      for (int64_t b0 = 0; b0 < nb; b0 += KP_CHUNK)
        {
          const int nbc = (int) (nb - b0 < KP_CHUNK ? nb - b0 : KP_CHUNK);
          const bool first = b0 == 0;
          kpanel_pack (q5, p, wp + (size_t) r * ws, ws, rows, b0, nbc);
          for (int c0 = 0; c0 < nc; c0 += KP_COLS)
            {
              const int ncc = nc - c0 < KP_COLS ? nc - c0 : KP_COLS;
              const uint8_t *ac = ap + (size_t) c0 * as;
              float *oc = out + (size_t) c0 * os + r;
              int c = 0;
              if (ncc == KP_COLS)
                {
                  kpanel_cols (KP_COLS, p, nbc, ac, as, b0, oc, os, rows, first);
                  continue;
                }
              if (ncc - c >= 4)
                {
                  kpanel_cols (4, p, nbc, ac, as, b0, oc, os, rows, first);
                  c += 4;
                }
              if (ncc - c >= 2)
                {
                  kpanel_cols (2, p, nbc, ac + (size_t) c * as, as, b0, oc + (size_t) c * os,
                               os, rows, first);
                  c += 2;
                }
              if (ncc - c >= 1)
                kpanel_cols (1, p, nbc, ac + (size_t) c * as, as, b0, oc + (size_t) c * os,
                             os, rows, first);
            }
        }
    }
}

static void
avx512_gemm_q4_K (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int nc,
                  float *out, size_t os)
{
  kpanel_gemm (false, n, w, ws, nr, a, as, nc, out, os);
}

static void
avx512_gemm_q5_K (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int nc,
                  float *out, size_t os)
{
  kpanel_gemm (true, n, w, ws, nr, a, as, nc, out, os);
}

void
sm_gemm_fill_k4_avx512 (sm_gemm_tile_fn gemm[SM_TYPE_COUNT])
{
  gemm[SM_TYPE_Q4_K] = avx512_gemm_q4_K;
  gemm[SM_TYPE_Q5_K] = avx512_gemm_q5_K;
}
