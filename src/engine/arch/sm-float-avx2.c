/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-float-avx2.c: the prompt tiles and one-token kernels (sm_gemv_fn, at the end) of F16 and
 * BF16 for the avx2 variant (AVX2 + FMA + F16C):
 * the float panels of sm-float-avx512.c at half the width. 8 weight rows become a panel in
 * which one ymm holds the same element of the 8 rows (vcvtph2ps, or a 16-bit shift for BF16;
 * both exact), built once per 128-element chunk by an 8 x 8 in-register transpose and reused by
 * every token of the batch; the token's chunk is converted to float once per panel; per
 * (element, token) one broadcast and one FMA into 8 independent accumulators (8 tokens per
 * group, all 16 ymm registers taken); one store of 8 row results per token. Partial sums cross
 * chunks through the output tile, with masked loads and stores (nothing outside the nr x nc
 * tile is touched). AVX2 has no masked 16-bit loads: a chunk's last partial 8 elements are
 * copied into a zeroed buffer first. Compiled with -mavx2 -mfma -mf16c only; only called after
 * sm-dispatch.c has checked the CPU.
 */
#include <string.h>

#include <immintrin.h>

#include "sm-quant-private.h"
#include "sm-float-kernels.h"
#include "sm-gemv-walk.h"

#define CHUNK 128
#define GROUP 8
#define SM_UNROLL _Pragma ("GCC unroll 8")

typedef enum
{
  PANEL_F16,
  PANEL_BF16,
} panel_kind;

/* k (<= 8) elements at p as floats; the lanes past k are 0 and nothing past p + k is read. */
static inline __m256
load8 (panel_kind      kind,
       const uint16_t *p,
       int64_t         k)
{
  __m128i h;

  if (k >= 8)
    h = _mm_loadu_si128 ((const __m128i *) p);
  else
    {
      uint16_t tmp[8] = { 0 };
      memcpy (tmp, p, (size_t) k * sizeof *p);
      h = _mm_loadu_si128 ((const __m128i *) tmp);
    }
  if (kind == PANEL_F16)
    return _mm256_cvtph_ps (h);
  return _mm256_castsi256_ps (_mm256_slli_epi32 (_mm256_cvtepu16_epi32 (h), 16));
}

/* In place: v[r] lane k becomes v[k] lane r (8 x 8 floats). */
static inline __attribute__ ((always_inline)) void
transpose8 (__m256 v[8])
{
  __m256 t[8], u[8];

  for (int i = 0; i < 8; i += 2)
    {
      t[i] = _mm256_unpacklo_ps (v[i], v[i + 1]);
      t[i + 1] = _mm256_unpackhi_ps (v[i], v[i + 1]);
    }
  for (int q = 0; q < 8; q += 4)
    {
      u[q] = _mm256_shuffle_ps (t[q], t[q + 2], _MM_SHUFFLE (1, 0, 1, 0));
      u[q + 1] = _mm256_shuffle_ps (t[q], t[q + 2], _MM_SHUFFLE (3, 2, 3, 2));
      u[q + 2] = _mm256_shuffle_ps (t[q + 1], t[q + 3], _MM_SHUFFLE (1, 0, 1, 0));
      u[q + 3] = _mm256_shuffle_ps (t[q + 1], t[q + 3], _MM_SHUFFLE (3, 2, 3, 2));
    }
  /* u[c] (rows 0-3) and u[4 + c] (rows 4-7) hold columns c (low lane) and c + 4 (high). */
  for (int c = 0; c < 4; c++)
    {
      v[c] = _mm256_permute2f128_ps (u[c], u[4 + c], 0x20);
      v[c + 4] = _mm256_permute2f128_ps (u[c], u[4 + c], 0x31);
    }
}

static inline __m256i
row_mask (int nr)
{
  return _mm256_cmpgt_epi32 (_mm256_set1_epi32 (nr), _mm256_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7));
}

static inline void
pack8 (panel_kind     kind,
       const uint8_t *w,
       size_t         ws,
       int            nr,
       int64_t        k0,
       int64_t        kc,
       float         *panel)
{
  for (int64_t kb = 0; kb < kc; kb += 8)
    {
      __m256 v[8];
      SM_UNROLL
      for (int r = 0; r < 8; r++)
        v[r] = r < nr ? load8 (kind, (const uint16_t *) (w + (size_t) r * ws) + k0 + kb, kc - kb)
                      : _mm256_setzero_ps ();
      transpose8 (v);
      SM_UNROLL
      for (int j = 0; j < 8; j++)
        _mm256_store_ps (panel + 8 * (kb + j), v[j]);
    }
}

static inline __attribute__ ((always_inline)) void
run8 (int            g,
      panel_kind     kind,
      const float   *panel,
      int64_t        kc,
      const uint8_t *a,
      size_t         as,
      int64_t        k0,
      float         *actf,
      bool           first,
      __m256i        mrow,
      float         *out,
      size_t         os)
{
  __m256 acc[GROUP];

  for (int t = 0; t < g; t++)
    {
      const uint16_t *src = (const uint16_t *) (a + (size_t) t * as) + k0;
      for (int64_t kb = 0; kb < kc; kb += 8)
        _mm256_store_ps (actf + t * CHUNK + kb, load8 (kind, src + kb, kc - kb));
    }
  SM_UNROLL
  for (int t = 0; t < g; t++)
    acc[t] = first ? _mm256_setzero_ps () : _mm256_maskload_ps (out + (size_t) t * os, mrow);
  for (int64_t k = 0; k < kc; k++)
    {
      const __m256 wv = _mm256_load_ps (panel + 8 * k);
      SM_UNROLL
      for (int t = 0; t < g; t++)
        acc[t] = _mm256_fmadd_ps (wv, _mm256_broadcast_ss (actf + t * CHUNK + k), acc[t]);
    }
  SM_UNROLL
  for (int t = 0; t < g; t++)
    _mm256_maskstore_ps (out + (size_t) t * os, mrow, acc[t]);
}

static inline __attribute__ ((always_inline)) void
gemm8 (panel_kind  kind,
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
  _Alignas (32) float panel[8 * CHUNK];
  _Alignas (32) float actf[GROUP * CHUNK];
  const uint8_t *wb = w, *ab = a;

  for (int r0 = 0; r0 < nr; r0 += 8)
    {
      const int nrp = nr - r0 < 8 ? nr - r0 : 8;
      const __m256i mrow = row_mask (nrp);
      float *o = out + r0;

      if (n == 0)
        for (int c = 0; c < nc; c++)
          _mm256_maskstore_ps (o + (size_t) c * os, mrow, _mm256_setzero_ps ());
      for (int64_t k0 = 0; k0 < n; k0 += CHUNK)
        {
          const int64_t kc = n - k0 < CHUNK ? n - k0 : CHUNK;
          const bool first = k0 == 0;

          pack8 (kind, wb + (size_t) r0 * ws, ws, nrp, k0, kc, panel);
          int c = 0;
          for (; c + GROUP <= nc; c += GROUP)
            run8 (GROUP, kind, panel, kc, ab + (size_t) c * as, as, k0, actf, first, mrow,
                  o + (size_t) c * os, os);
          if (nc - c >= 4)
            {
              run8 (4, kind, panel, kc, ab + (size_t) c * as, as, k0, actf, first, mrow,
                    o + (size_t) c * os, os);
              c += 4;
            }
          for (; c < nc; c++)
            run8 (1, kind, panel, kc, ab + (size_t) c * as, as, k0, actf, first, mrow,
                  o + (size_t) c * os, os);
        }
    }
}

void
sm_float_gemm_f16_avx2 (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as,
                        int nc, float *out, size_t os)
{
  gemm8 (PANEL_F16, n, w, ws, nr, a, as, nc, out, os);
}

void
sm_float_gemm_bf16_avx2 (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as,
                         int nc, float *out, size_t os)
{
  gemm8 (PANEL_BF16, n, w, ws, nr, a, as, nc, out, os);
}

/* ---- Generation: several rows against one activation row (sm_gemv_fn) ----
 * The scheme of sm-float-avx512.c at half the width: four rows at a time, each 16 activation
 * elements widened once (F16 by vcvtph2ps, BF16 by a shift) and used by the four rows, two
 * accumulators per row, the rows read in the runs of sm-gemv-walk.h and each prefetched
 * `ahead` bytes on (one line per 64 bytes consumed; addresses as integers, a prefetch never
 * faults). The last
 * partial 16 elements go through load8's zero-padded copy. */

#define GEMV_ROWS 4

static inline __attribute__ ((always_inline)) void
gemv_rows8 (panel_kind           kind,
            int                  g,
            int64_t              n,
            const uint8_t *const rows[],
            size_t               ahead,
            const uint16_t      *y,
            float               *out,
            const int64_t        ri[])
{
  __m256 acc0[GEMV_ROWS], acc1[GEMV_ROWS];
  int64_t i = 0;

  for (int r = 0; r < g; r++)
    acc0[r] = acc1[r] = _mm256_setzero_ps ();
  for (; i + 16 <= n; i += 16)
    {
      if ((i & 31) == 0)
        for (int r = 0; r < g; r++)
          _mm_prefetch ((const char *) (rows[r] + ahead + (size_t) (2 * i)), _MM_HINT_T0);
      const __m256 y0 = load8 (kind, y + i, 8);
      const __m256 y1 = load8 (kind, y + i + 8, 8);
      SM_UNROLL
      for (int r = 0; r < g; r++)
        {
          const uint16_t *x = (const uint16_t *) rows[r] + i;
          acc0[r] = _mm256_fmadd_ps (load8 (kind, x, 8), y0, acc0[r]);
          acc1[r] = _mm256_fmadd_ps (load8 (kind, x + 8, 8), y1, acc1[r]);
        }
    }
  for (; i < n; i += 8)
    {
      const __m256 y0 = load8 (kind, y + i, n - i);
      for (int r = 0; r < g; r++)
        acc0[r] = _mm256_fmadd_ps (load8 (kind, (const uint16_t *) rows[r] + i, n - i), y0,
                                   acc0[r]);
    }
  for (int r = 0; r < g; r++)
    {
      const __m256 s = _mm256_add_ps (acc0[r], acc1[r]);
      __m128 t = _mm_add_ps (_mm256_castps256_ps128 (s), _mm256_extractf128_ps (s, 1));
      t = _mm_add_ps (t, _mm_movehl_ps (t, t));
      t = _mm_add_ss (t, _mm_movehdup_ps (t));
      out[ri[r]] = _mm_cvtss_f32 (t);
    }
}

static inline __attribute__ ((always_inline)) void
gemv8 (panel_kind  kind,
       int64_t     n,
       const void *w,
       size_t      ws,
       int64_t     nr,
       const void *a,
       float      *out)
{
  const uint8_t *wb = w;
  const sm_gemv_walk walk = sm_gemv_walk_init (nr, ws, GEMV_ROWS);
  const int64_t n_pass = sm_gemv_walk_passes (&walk);

  /* Passes of four rows in the order of sm-gemv-walk.h; a last pass of fewer rows takes
   * just those. */
  for (int64_t p = 0; p < n_pass; p++)
    {
      const uint8_t *rows[GEMV_ROWS];
      int64_t ri[GEMV_ROWS];
      const int g = sm_gemv_walk_pass (&walk, p, wb, rows, ri);
      const size_t ahead = sm_gemv_walk_ahead (&walk, p);
      switch (g)
        {
        case 4: gemv_rows8 (kind, 4, n, rows, ahead, a, out, ri); break;
        case 3: gemv_rows8 (kind, 3, n, rows, ahead, a, out, ri); break;
        case 2: gemv_rows8 (kind, 2, n, rows, ahead, a, out, ri); break;
        default: gemv_rows8 (kind, 1, n, rows, ahead, a, out, ri); break;
        }
    }
}

void
sm_float_gemv_f16_avx2 (int64_t n, const void *w, size_t ws, int64_t nr, const void *a,
                        float *out)
{
  gemv8 (PANEL_F16, n, w, ws, nr, a, out);
}

void
sm_float_gemv_bf16_avx2 (int64_t n, const void *w, size_t ws, int64_t nr, const void *a,
                         float *out)
{
  gemv8 (PANEL_BF16, n, w, ws, nr, a, out);
}
