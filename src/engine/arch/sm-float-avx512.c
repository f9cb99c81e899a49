/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-float-avx512.c: the AVX-512 kernels of the two 16-bit float weight types, F16 and BF16
 * (benchmarks/NOTES.md, "BF16/F16 kernels, stop 10"). Compiled with the AVX-512 F/BW/VL/DQ
 * flags of the avx512 variant; the vdpbf16ps dot product carries a target attribute and is only
 * installed (sm-dispatch.c) when the CPU has avx512_bf16.
 *
 * Dot products (generation, one row at a time): the same products as sm-quant-avx512.c, plus
 * a software prefetch a few KiB ahead of the row being read. A row of these types is 4-16 KiB
 * (a page or more), and the hardware streamer stops at every 4 KiB page, so a per-row kernel
 * otherwise waits for memory at each page start. The prefetch address runs past the end of the
 * row on purpose: rows of a matrix are contiguous, so it fetches the next row; a prefetch never
 * faults, and the address is formed as an integer, never as an out-of-object pointer.
 *
 * Generation (sm_gemv_fn): four rows per pass against the one activation row, see below.
 *
 * Tiles (prompts, sm_gemm_tile_fn): 16 weight rows become a panel of floats in which one zmm
 * holds the same element of all 16 rows (F16 through vcvtph2ps, BF16 by a 16-bit shift: both
 * exact); a 16 x 16 in-register transpose builds it once per 128-element chunk of the rows, and
 * every token of the batch reuses it. The chunk of each token is converted to float once per
 * panel. Per (element, token) one FMA with the activation broadcast from memory, 16 tokens in
 * 16 independent accumulators, and the 16 results of a token are one store, so there are no
 * horizontal sums. Partial sums of a chunk go through the output tile itself (the caller's
 * memory for the duration of the call), with masked loads and stores, so nothing outside the
 * nr x nc tile is touched. (A BF16 panel of element pairs for vdpbf16ps was slower here: see
 * benchmarks/NOTES.md.)
 */
#include <string.h>

#include <immintrin.h>

#include "sm-quant-private.h"
#include "sm-float-kernels.h"
#include "sm-avx512-util.h"
#include "sm-gemv-walk.h"

/* Bytes ahead of the current position that the dot products prefetch (see above). */
#define FLOAT_PREFETCH 4096

static inline void
prefetch_ahead (const void *p,
                size_t      bytes)
{
  _mm_prefetch ((const char *) (uintptr_t) ((uintptr_t) p + bytes), _MM_HINT_T0);
}

/* ---- Dot products ---- */

static inline __m512
load_f16x16 (const uint16_t *p)
{
  return _mm512_cvtph_ps (_mm256_loadu_si256 ((const __m256i *) p));
}

static inline __m512
load_bf16x16 (const uint16_t *p)
{
  const __m512i v = _mm512_cvtepu16_epi32 (_mm256_loadu_si256 ((const __m256i *) p));
  return _mm512_castsi512_ps (_mm512_slli_epi32 (v, 16));
}

float
sm_float_dot_f16_avx512 (int64_t     n,
                         const void *w,
                         const void *a)
{
  const uint16_t *x = w, *y = a;
  __m512 s0 = _mm512_setzero_ps (), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;

  for (; i + 64 <= n; i += 64)
    {
      prefetch_ahead (x + i, FLOAT_PREFETCH);
      prefetch_ahead (x + i, FLOAT_PREFETCH + 64);
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

/* Without avx512_bf16: widen by shifting, then FMA. */
float
sm_float_dot_bf16_avx512 (int64_t     n,
                          const void *w,
                          const void *a)
{
  const uint16_t *x = w, *y = a;
  __m512 s0 = _mm512_setzero_ps (), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;

  for (; i + 64 <= n; i += 64)
    {
      prefetch_ahead (x + i, FLOAT_PREFETCH);
      prefetch_ahead (x + i, FLOAT_PREFETCH + 64);
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
 * into one of 16 float lanes (bf16 subnormals count as zero: below 1e-38, they vanish in any
 * real dot product). */
__attribute__ ((target ("avx512bf16"))) float
sm_float_dot_bf16_avx512bf16 (int64_t     n,
                              const void *w,
                              const void *a)
{
  const uint16_t *x = w, *y = a;
  __m512 s0 = _mm512_setzero_ps (), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;

#define LD(p) ((__m512bh) _mm512_loadu_si512 ((const void *) (p)))
  for (; i + 128 <= n; i += 128)
    {
      prefetch_ahead (x + i, FLOAT_PREFETCH);
      prefetch_ahead (x + i, FLOAT_PREFETCH + 64);
      prefetch_ahead (x + i, FLOAT_PREFETCH + 128);
      prefetch_ahead (x + i, FLOAT_PREFETCH + 192);
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

/* ---- Panels ---- */

/* Elements of a row per chunk: a chunk's panel is 128 x 64 bytes (8 KiB), and
 * with the converted activations of a token group it stays in L1. */
#define CHUNK 128
/* Tokens per group: one zmm accumulator each, with more independent chains than the FMA
 * latency times its throughput. */
#define GROUP 16

/* Loops over the tokens of a group and over the 16 rows of a transpose are unrolled in full, so
 * their arrays of vectors become registers. */
#define SM_UNROLL _Pragma ("GCC unroll 16")

typedef enum
{
  PANEL_F16,   /* F16 elements converted to float */
  PANEL_BF16,  /* BF16 elements converted to float (shift) */
} panel_kind;

/* Up to 16 elements at p (mask m) as floats; masked-off lanes are 0 and never read. */
static inline __m512
load_as_f32 (panel_kind      kind,
             const uint16_t *p,
             __mmask16       m)
{
  const __m256i h = _mm256_maskz_loadu_epi16 (m, p);

  if (kind == PANEL_F16)
    return _mm512_cvtph_ps (h);
  return _mm512_castsi512_ps (_mm512_slli_epi32 (_mm512_cvtepu16_epi32 (h), 16));
}

static inline __mmask16
mask16 (int64_t k)
{
  return k >= 16 ? (__mmask16) 0xffff : (__mmask16) ((1u << k) - 1);
}

/* Elements [k0, k0 + kc) of rows 0..nr-1 (nr <= 16) as a panel: panel[16 k + r] = row r,
 * element k0 + k, in float; rows >= nr are zero. */
static inline void
pack_f32 (panel_kind     kind,
          const uint8_t *w,
          size_t         ws,
          int            nr,
          int64_t        k0,
          int64_t        kc,
          float         *panel)
{
  for (int64_t kb = 0; kb < kc; kb += 16)
    {
      const __mmask16 m = mask16 (kc - kb);
      __m512i v[16];
      SM_UNROLL
      for (int r = 0; r < 16; r++)
        v[r] = r < nr ? _mm512_castps_si512 (load_as_f32 (
                   kind, (const uint16_t *) (w + (size_t) r * ws) + k0 + kb, m))
                      : _mm512_setzero_si512 ();
      sm_transpose16_epi32 (v);
      SM_UNROLL
      for (int j = 0; j < 16; j++)
        _mm512_store_si512 ((__m512i *) (panel + 16 * (kb + j)), v[j]);
    }
}

/* The g tokens from a (g <= GROUP): acc[t] (16 rows) += panel . activations over the chunk,
 * starting from the partial sums in out (or zero for the first chunk). Force-inlined with a
 * constant g, so the accumulators live in registers. */
static inline __attribute__ ((always_inline)) void
run_f32 (int            g,
         panel_kind     kind,
         const float   *panel,
         int64_t        kc,
         const uint8_t *a,
         size_t         as,
         int64_t        k0,
         float         *actf,
         bool           first,
         __mmask16      mrow,
         float         *out,
         size_t         os)
{
  __m512 acc[GROUP];

  /* The chunk of each token in float, CHUNK apart. */
  for (int t = 0; t < g; t++)
    {
      const uint16_t *src = (const uint16_t *) (a + (size_t) t * as) + k0;
      for (int64_t kb = 0; kb < kc; kb += 16)
        _mm512_store_ps (actf + t * CHUNK + kb, load_as_f32 (kind, src + kb, mask16 (kc - kb)));
    }
  SM_UNROLL
  for (int t = 0; t < g; t++)
    acc[t] = first ? _mm512_setzero_ps () : _mm512_maskz_loadu_ps (mrow, out + (size_t) t * os);
  for (int64_t k = 0; k < kc; k++)
    {
      const __m512 wv = _mm512_load_ps (panel + 16 * k);
      SM_UNROLL
      for (int t = 0; t < g; t++)
        acc[t] = _mm512_fmadd_ps (wv, _mm512_set1_ps (actf[t * CHUNK + k]), acc[t]);
    }
  SM_UNROLL
  for (int t = 0; t < g; t++)
    _mm512_mask_storeu_ps (out + (size_t) t * os, mrow, acc[t]);
}

static inline __attribute__ ((always_inline)) void
gemm_f32 (panel_kind  kind,
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
  _Alignas (64) float panel[16 * CHUNK];
  _Alignas (64) float actf[GROUP * CHUNK];
  const uint8_t *wb = w, *ab = a;

  for (int r0 = 0; r0 < nr; r0 += 16)
    {
      const int nrp = nr - r0 < 16 ? nr - r0 : 16;
      const __mmask16 mrow = mask16 (nrp);
      float *o = out + r0;

      if (n == 0)
        for (int c = 0; c < nc; c++)
          _mm512_mask_storeu_ps (o + (size_t) c * os, mrow, _mm512_setzero_ps ());
      for (int64_t k0 = 0; k0 < n; k0 += CHUNK)
        {
          const int64_t kc = n - k0 < CHUNK ? n - k0 : CHUNK;
          const bool first = k0 == 0;

          pack_f32 (kind, wb + (size_t) r0 * ws, ws, nrp, k0, kc, panel);
          int c = 0;
          for (; c + GROUP <= nc; c += GROUP)
            run_f32 (GROUP, kind, panel, kc, ab + (size_t) c * as, as, k0, actf, first, mrow,
                     o + (size_t) c * os, os);
          if (nc - c >= 8)
            {
              run_f32 (8, kind, panel, kc, ab + (size_t) c * as, as, k0, actf, first, mrow,
                       o + (size_t) c * os, os);
              c += 8;
            }
          if (nc - c >= 4)
            {
              run_f32 (4, kind, panel, kc, ab + (size_t) c * as, as, k0, actf, first, mrow,
                       o + (size_t) c * os, os);
              c += 4;
            }
          for (; c < nc; c++)
            run_f32 (1, kind, panel, kc, ab + (size_t) c * as, as, k0, actf, first, mrow,
                     o + (size_t) c * os, os);
        }
    }
}

void
sm_float_gemm_f16_avx512 (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as,
                          int nc, float *out, size_t os)
{
  gemm_f32 (PANEL_F16, n, w, ws, nr, a, as, nc, out, os);
}

void
sm_float_gemm_bf16_avx512 (int64_t n, const void *w, size_t ws, int nr, const void *a,
                           size_t as, int nc, float *out, size_t os)
{
  gemm_f32 (PANEL_BF16, n, w, ws, nr, a, as, nc, out, os);
}

/* ---- Generation: several rows against one activation row (sm_gemv_fn) ----
 * Four rows at a time: each 16 (F16) or 32 (BF16) activation elements are loaded (and for F16
 * converted) once and serve the four rows, so the F16 product costs one conversion per 16
 * weights instead of two. Two accumulators per row (eight independent chains). The rows are
 * read in the order of sm-gemv-walk.h (each lane of a pass walks its own run of consecutive
 * rows) and prefetched as it says: one cache line of each row per 64 bytes consumed of it,
 * `ahead` bytes on (addresses are formed as integers and may pass the matrix, a prefetch
 * never faults). The activation row is the one sm_quant_activation_row made (F16 for F16 weights,
 * BF16 for BF16), as for the per-row dots. */

#define GEMV_ROWS 4

/* One cache line of each of the g rows, `ahead` bytes past byte `byte` of it. */
static inline __attribute__ ((always_inline)) void
prefetch_rows (int                  g,
               const uint8_t *const rows[],
               size_t               ahead,
               int64_t              byte)
{
  for (int r = 0; r < g; r++)
    _mm_prefetch ((const char *) (rows[r] + ahead + (size_t) byte), _MM_HINT_T0);
}

/* g (<= GEMV_ROWS, constant after inlining) rows of widened elements (F16 by vcvtph2ps, BF16
 * by a shift) against the activations y, FMA in float. */
static inline __attribute__ ((always_inline)) void
gemv_rows_cvt (panel_kind           kind,
               int                  g,
               int64_t              n,
               const uint8_t *const rows[],
               size_t               ahead,
               const uint16_t      *y,
               float               *out,
               const int64_t        ri[])
{
  __m512 acc0[GEMV_ROWS], acc1[GEMV_ROWS];
  int64_t i = 0;

  SM_UNROLL
  for (int r = 0; r < g; r++)
    acc0[r] = acc1[r] = _mm512_setzero_ps ();
  for (; i + 32 <= n; i += 32)
    {
      prefetch_rows (g, rows, ahead, 2 * i);
      const __m512 y0 = load_as_f32 (kind, y + i, 0xffff);
      const __m512 y1 = load_as_f32 (kind, y + i + 16, 0xffff);
      SM_UNROLL
      for (int r = 0; r < g; r++)
        {
          const uint16_t *x = (const uint16_t *) rows[r] + i;
          acc0[r] = _mm512_fmadd_ps (load_as_f32 (kind, x, 0xffff), y0, acc0[r]);
          acc1[r] = _mm512_fmadd_ps (load_as_f32 (kind, x + 16, 0xffff), y1, acc1[r]);
        }
    }
  if (i < n)
    {
      const __mmask16 m0 = mask16 (n - i);
      const __mmask16 m1 = n - i > 16 ? mask16 (n - i - 16) : 0;
      const __m512 y0 = load_as_f32 (kind, y + i, m0);
      const __m512 y1 = load_as_f32 (kind, y + i + 16, m1);
      SM_UNROLL
      for (int r = 0; r < g; r++)
        {
          const uint16_t *x = (const uint16_t *) rows[r] + i;
          acc0[r] = _mm512_fmadd_ps (load_as_f32 (kind, x, m0), y0, acc0[r]);
          acc1[r] = _mm512_fmadd_ps (load_as_f32 (kind, x + 16, m1), y1, acc1[r]);
        }
    }
  SM_UNROLL
  for (int r = 0; r < g; r++)
    out[ri[r]] = _mm512_reduce_add_ps (_mm512_add_ps (acc0[r], acc1[r]));
}

static inline __attribute__ ((always_inline)) void
gemv_cvt (panel_kind  kind,
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
        case 4: gemv_rows_cvt (kind, 4, n, rows, ahead, a, out, ri); break;
        case 3: gemv_rows_cvt (kind, 3, n, rows, ahead, a, out, ri); break;
        case 2: gemv_rows_cvt (kind, 2, n, rows, ahead, a, out, ri); break;
        default: gemv_rows_cvt (kind, 1, n, rows, ahead, a, out, ri); break;
        }
    }
}

void
sm_float_gemv_f16_avx512 (int64_t n, const void *w, size_t ws, int64_t nr, const void *a,
                          float *out)
{
  gemv_cvt (PANEL_F16, n, w, ws, nr, a, out);
}

void
sm_float_gemv_bf16_avx512 (int64_t n, const void *w, size_t ws, int64_t nr, const void *a,
                           float *out)
{
  gemv_cvt (PANEL_BF16, n, w, ws, nr, a, out);
}

/* With avx512_bf16: g rows by vdpbf16ps, 64 elements per step (bf16 subnormals count as zero,
 * as in sm_float_dot_bf16_avx512bf16). */
static inline __attribute__ ((always_inline, target ("avx512bf16"))) void
gemv_rows_dp (int                  g,
              int64_t              n,
              const uint8_t *const rows[],
              size_t               ahead,
              const uint16_t      *y,
              float               *out,
              const int64_t        ri[])
{
  __m512 acc0[GEMV_ROWS], acc1[GEMV_ROWS];
  int64_t i = 0;

  SM_UNROLL
  for (int r = 0; r < g; r++)
    acc0[r] = acc1[r] = _mm512_setzero_ps ();
  for (; i + 64 <= n; i += 64)
    {
      prefetch_rows (g, rows, ahead, 2 * i);
      prefetch_rows (g, rows, ahead, 2 * i + 64);
      const __m512bh y0 = (__m512bh) _mm512_loadu_si512 ((const void *) (y + i));
      const __m512bh y1 = (__m512bh) _mm512_loadu_si512 ((const void *) (y + i + 32));
      SM_UNROLL
      for (int r = 0; r < g; r++)
        {
          const uint16_t *x = (const uint16_t *) rows[r] + i;
          acc0[r] = _mm512_dpbf16_ps (acc0[r], (__m512bh) _mm512_loadu_si512 ((const void *) x), y0);
          acc1[r] = _mm512_dpbf16_ps (acc1[r], (__m512bh) _mm512_loadu_si512 ((const void *) (x + 32)),
                                      y1);
        }
    }
  if (i < n)
    {
      const int64_t left = n - i;
      const __mmask32 m0 = left >= 32 ? (__mmask32) 0xffffffffu : (__mmask32) ((1u << left) - 1);
      const __mmask32 m1 = left <= 32 ? 0 : (__mmask32) ((1u << (left - 32)) - 1);
      const __m512bh y0 = (__m512bh) _mm512_maskz_loadu_epi16 (m0, y + i);
      const __m512bh y1 = (__m512bh) _mm512_maskz_loadu_epi16 (m1, y + i + 32);
      SM_UNROLL
      for (int r = 0; r < g; r++)
        {
          const uint16_t *x = (const uint16_t *) rows[r] + i;
          acc0[r] = _mm512_dpbf16_ps (acc0[r], (__m512bh) _mm512_maskz_loadu_epi16 (m0, x), y0);
          acc1[r] = _mm512_dpbf16_ps (acc1[r], (__m512bh) _mm512_maskz_loadu_epi16 (m1, x + 32),
                                      y1);
        }
    }
  SM_UNROLL
  for (int r = 0; r < g; r++)
    out[ri[r]] = _mm512_reduce_add_ps (_mm512_add_ps (acc0[r], acc1[r]));
}

__attribute__ ((target ("avx512bf16"))) void
sm_float_gemv_bf16_avx512bf16 (int64_t n, const void *w, size_t ws, int64_t nr, const void *a,
                               float *out)
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
        case 4: gemv_rows_dp (4, n, rows, ahead, a, out, ri); break;
        case 3: gemv_rows_dp (3, n, rows, ahead, a, out, ri); break;
        case 2: gemv_rows_dp (2, n, rows, ahead, a, out, ri); break;
        default: gemv_rows_dp (1, n, rows, ahead, a, out, ri); break;
        }
    }
}

/* ---- BF16 on AMX (amx_tile + amx_bf16) ----
 * One tdpbf16ps multiplies a 16 x 32 tile of activations (16 tokens, 32 elements, straight
 * from the activation rows) by a 32 x 16 tile of weights and adds the 16 x 16 products into a
 * float tile: 16 rows x 16 tokens x 32 elements per instruction. The weight tile wants element
 * pairs of a row in a dword and the 16 rows side by side, i.e. the same 16 x 16 dword
 * transpose as above, once per 32 elements of the 16 rows and shared by every token. Four
 * accumulator tiles hold 64 tokens; a step where activations would be read past the batch or
 * past the row end copies them into a zero-padded buffer first. The tile instructions are
 * written as inline assembly with a memory clobber (the compiler intrinsics of gcc 12 do not
 * tell it that tileloadd reads memory). Linux only lets a process use the tile registers after
 * arch_prctl(ARCH_REQ_XCOMP_PERM): sm-dispatch.c asks once and installs this kernel only if
 * that succeeded. */

#define AMX_STEPS 8  /* 32-element steps per packed chunk: 8 x 1 KiB of weight tiles */

#define AMX_LOAD(t, base, stride)                                                             \
  __asm__ volatile ("tileloadd (%0,%1,1), %%tmm" #t ::"r"(base), "r"((long) (stride)) : "memory")
#define AMX_STORE(t, base, stride)                                                            \
  __asm__ volatile ("tilestored %%tmm" #t ", (%0,%1,1)" ::"r"(base), "r"((long) (stride))     \
                    : "memory")
#define AMX_ZERO(t) __asm__ volatile ("tilezero %%tmm" #t ::)
#define AMX_DP(c, a, b) __asm__ volatile ("tdpbf16ps %%tmm" #b ", %%tmm" #a ", %%tmm" #c ::)

typedef struct
{
  uint8_t  palette;
  uint8_t  start_row;
  uint8_t  reserved[14];
  uint16_t colsb[16];
  uint8_t  rows[16];
} amx_config;

/* Steps [s0, s0 + sc) of rows 0..nr-1 as weight tiles: tile s, row j, dword r = elements
 * 32 (s0 + s) + 2j and + 2j + 1 of row r (zero past n and for rows >= nr). */
static inline void
amx_pack (const uint8_t *w,
          size_t         ws,
          int            nr,
          int64_t        n,
          int64_t        s0,
          int            sc,
          uint32_t      *panel)
{
  for (int s = 0; s < sc; s++)
    {
      const int64_t e = 32 * (s0 + s);
      const __mmask32 m = n - e >= 32 ? (__mmask32) 0xffffffffu
                                      : (__mmask32) ((1u << (n - e)) - 1);
      __m512i v[16];
      SM_UNROLL
      for (int r = 0; r < 16; r++)
        v[r] = r < nr ? _mm512_maskz_loadu_epi16 (m, (const uint16_t *) (w + (size_t) r * ws) + e)
                      : _mm512_setzero_si512 ();
      sm_transpose16_epi32 (v);
      SM_UNROLL
      for (int j = 0; j < 16; j++)
        _mm512_store_si512 ((__m512i *) (panel + 256 * s + 16 * j), v[j]);
    }
}

/* Where the activation tile of tokens [0, nt) at element e is read from: the rows themselves,
 * or (past the batch or the row end) a zero-padded copy in stage. */
static inline const void *
amx_a_tile (const uint8_t *a,
            size_t         as,
            int            nt,
            int64_t        e,
            int64_t        n,
            uint16_t      *stage,
            long          *stride)
{
  if (nt == 16 && e + 32 <= n)
    {
      *stride = (long) as;
      return a + 2 * e;
    }
  const __mmask32 m = n - e >= 32 ? (__mmask32) 0xffffffffu : (__mmask32) ((1u << (n - e)) - 1);
  for (int t = 0; t < 16; t++)
    _mm512_store_si512 ((__m512i *) (stage + 32 * t),
                        t < nt ? _mm512_maskz_loadu_epi16 (m, (const uint16_t *) (a + (size_t) t * as) + e)
                               : _mm512_setzero_si512 ());
  *stride = 64;
  return stage;
}

/* The 16 x 16 accumulator in cbuf (token-major) into out, rows masked, tokens [0, nt). */
static inline void
amx_flush (const float *cbuf,
           int          nt,
           __mmask16    mrow,
           float       *out,
           size_t       os)
{
  for (int t = 0; t < nt; t++)
    _mm512_mask_storeu_ps (out + (size_t) t * os, mrow, _mm512_load_ps (cbuf + 16 * t));
}

void
sm_float_gemm_bf16_amx (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as,
                        int nc, float *out, size_t os)
{
  _Alignas (64) uint32_t panel[AMX_STEPS * 256];
  _Alignas (64) uint16_t stage[16 * 32];
  _Alignas (64) float cbuf[16 * 16];
  _Alignas (64) amx_config cfg;
  const uint8_t *wb = w, *ab = a;
  const int64_t nsteps = (n + 31) / 32;

  memset (&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int t = 0; t < 8; t++)
    {
      cfg.colsb[t] = 64;
      cfg.rows[t] = 16;
    }
  __asm__ volatile ("ldtilecfg %0" ::"m"(cfg) : "memory");

  for (int r0 = 0; r0 < nr; r0 += 16)
    {
      const int nrp = nr - r0 < 16 ? nr - r0 : 16;
      const __mmask16 mrow = mask16 (nrp);
      const uint8_t *wr = wb + (size_t) r0 * ws;
      float *o = out + r0;

      for (int cb = 0; cb < nc; cb += 64)
        {
          const int left = nc - cb;
          const int ng = left >= 64 ? 4 : (left + 15) / 16;
          int nt[4];
          for (int g = 0; g < 4; g++)
            nt[g] = left - 16 * g >= 16 ? 16 : (left - 16 * g > 0 ? left - 16 * g : 0);
          const uint8_t *ag = ab + (size_t) cb * as;

          AMX_ZERO (0);
          AMX_ZERO (1);
          AMX_ZERO (2);
          AMX_ZERO (3);
          for (int64_t s0 = 0; s0 < nsteps; s0 += AMX_STEPS)
            {
              const int sc = nsteps - s0 < AMX_STEPS ? (int) (nsteps - s0) : AMX_STEPS;
              amx_pack (wr, ws, nrp, n, s0, sc, panel);
              for (int s = 0; s < sc; s++)
                {
                  const int64_t e = 32 * (s0 + s);
                  const void *p;
                  long stride;

                  AMX_LOAD (4, panel + 256 * s, 64);
                  p = amx_a_tile (ag, as, nt[0], e, n, stage, &stride);
                  AMX_LOAD (5, p, stride);
                  AMX_DP (0, 5, 4);
                  if (ng > 1)
                    {
                      p = amx_a_tile (ag + 16 * as, as, nt[1], e, n, stage, &stride);
                      AMX_LOAD (6, p, stride);
                      AMX_DP (1, 6, 4);
                    }
                  if (ng > 2)
                    {
                      p = amx_a_tile (ag + 32 * as, as, nt[2], e, n, stage, &stride);
                      AMX_LOAD (7, p, stride);
                      AMX_DP (2, 7, 4);
                    }
                  if (ng > 3)
                    {
                      p = amx_a_tile (ag + 48 * as, as, nt[3], e, n, stage, &stride);
                      AMX_LOAD (5, p, stride);
                      AMX_DP (3, 5, 4);
                    }
                }
            }
          AMX_STORE (0, cbuf, 64);
          amx_flush (cbuf, nt[0], mrow, o + (size_t) cb * os, os);
          if (ng > 1)
            {
              AMX_STORE (1, cbuf, 64);
              amx_flush (cbuf, nt[1], mrow, o + (size_t) (cb + 16) * os, os);
            }
          if (ng > 2)
            {
              AMX_STORE (2, cbuf, 64);
              amx_flush (cbuf, nt[2], mrow, o + (size_t) (cb + 32) * os, os);
            }
          if (ng > 3)
            {
              AMX_STORE (3, cbuf, 64);
              amx_flush (cbuf, nt[3], mrow, o + (size_t) (cb + 48) * os, os);
            }
        }
    }
  __asm__ volatile ("tilerelease" ::: "memory");
}

/* ---- F16 on AMX (amx_tile + amx_bf16), by an exact split ----
 * Every F16 value v is hi + lo exactly, with hi = v with its significand cut to BF16's 8 bits
 * and lo = v - hi (at most 3 significant bits, so a BF16 too; F16 subnormals included). Both
 * are normal BF16 numbers or zero: F16's smallest magnitude, 2^-24, is far above BF16's
 * smallest normal 2^-126, so AMX's flushing of BF16 subnormal inputs never applies, and every
 * product of two parts is exact in float (at least 2^-48, a normal float). The weights are split
 * while the panel is packed and the activations (F16) once per call (see below), and tdpbf16ps
 * adds hi.a_hi + lo.a_hi + hi.a_lo + lo.a_lo: the exact products, summed in float, as the FMA
 * panels do. The element order inside a 32-element step does not matter
 * as long as weights and activations share it: dword j holds elements j (low half) and j + 16
 * (high half), which is what two vcvtph2ps of 16 elements give with one shift and one merge.
 * Tiles: 0-3 accumulators (64 tokens), 4-5 the weight parts, 6-7 the activation parts. */

/* 32 F16 at p (mask m; lanes off are zero) as the hi and lo BF16 parts, element j and j + 16
 * in dword j. */
static inline void
f16_split32 (const uint16_t *p,
             __mmask32       m,
             __m512i        *hi,
             __m512i        *lo)
{
  const __m512i h = _mm512_maskz_loadu_epi16 (m, p);
  const __m512 f0 = _mm512_cvtph_ps (_mm512_castsi512_si256 (h));
  const __m512 f1 = _mm512_cvtph_ps (_mm512_extracti64x4_epi64 (h, 1));
  const __m512i top = _mm512_set1_epi32 ((int) 0xffff0000u);
  const __m512i h0 = _mm512_and_si512 (_mm512_castps_si512 (f0), top);
  const __m512i h1 = _mm512_and_si512 (_mm512_castps_si512 (f1), top);
  /* Exact, and the low 16 bits of each difference are zero (at most 3 significant bits). */
  const __m512i l0 = _mm512_castps_si512 (_mm512_sub_ps (f0, _mm512_castsi512_ps (h0)));
  const __m512i l1 = _mm512_castps_si512 (_mm512_sub_ps (f1, _mm512_castsi512_ps (h1)));

  *hi = _mm512_or_si512 (_mm512_srli_epi32 (h0, 16), h1);
  *lo = _mm512_or_si512 (_mm512_srli_epi32 (l0, 16), l1);
}

static inline __mmask32
mask32 (int64_t k)
{
  return k >= 32 ? (__mmask32) 0xffffffffu : (__mmask32) ((1u << k) - 1);
}

/* Steps [s0, s0 + sc) of rows 0..nr-1 as hi and lo weight tiles (tile s, row j, dword r = the
 * pair j of row r; zero past n and for rows >= nr). */
static inline void
amx_pack_f16 (const uint8_t *w,
              size_t         ws,
              int            nr,
              int64_t        n,
              int64_t        s0,
              int            sc,
              uint32_t      *phi,
              uint32_t      *plo)
{
  for (int s = 0; s < sc; s++)
    {
      const int64_t e = 32 * (s0 + s);
      const __mmask32 m = mask32 (n - e);
      __m512i vh[16], vl[16];
      SM_UNROLL
      for (int r = 0; r < 16; r++)
        {
          if (r < nr)
            {
              /* The same 64 bytes of the row one chunk ahead (it is read from memory once per
               * 64 tokens, 16 rows at a time; address as an integer, may pass the row). */
              _mm_prefetch ((const char *) ((uintptr_t) (w + (size_t) r * ws)
                                            + (uintptr_t) (2 * (e + 32 * AMX_STEPS))),
                            _MM_HINT_T0);
              f16_split32 ((const uint16_t *) (w + (size_t) r * ws) + e, m, &vh[r], &vl[r]);
            }
          else
            vh[r] = vl[r] = _mm512_setzero_si512 ();
        }
      sm_transpose16_epi32 (vh);
      sm_transpose16_epi32 (vl);
      SM_UNROLL
      for (int j = 0; j < 16; j++)
        {
          _mm512_store_si512 ((__m512i *) (phi + 256 * s + 16 * j), vh[j]);
          _mm512_store_si512 ((__m512i *) (plo + 256 * s + 16 * j), vl[j]);
        }
    }
}

/* The hi and lo activation tiles of tokens [0, nt) at element e (zero past the batch and n). */
static inline void
amx_split_a (const uint8_t *a,
             size_t         as,
             int            nt,
             int64_t        e,
             int64_t        n,
             uint16_t      *shi,
             uint16_t      *slo)
{
  const __mmask32 m = mask32 (n - e);

  for (int t = 0; t < 16; t++)
    {
      __m512i hi = _mm512_setzero_si512 (), lo = hi;
      if (t < nt)
        f16_split32 ((const uint16_t *) (a + (size_t) t * as) + e, m, &hi, &lo);
      _mm512_store_si512 ((__m512i *) (shi + 32 * t), hi);
      _mm512_store_si512 ((__m512i *) (slo + 32 * t), lo);
    }
}

/* Accumulator c += activations (6: hi, 7: lo) . weights (4: hi, 5: lo), all four products. */
#define AMX_DP_SPLIT(c)                                                                       \
  do                                                                                          \
    {                                                                                         \
      AMX_DP (c, 6, 4);                                                                       \
      AMX_DP (c, 6, 5);                                                                       \
      AMX_DP (c, 7, 4);                                                                       \
      AMX_DP (c, 7, 5);                                                                       \
    }                                                                                         \
  while (0)

/* The tile instructions name their registers in the instruction: one case per accumulator. */
static inline void
amx_c_load (int g, const void *p, long stride)
{
  switch (g)
    {
    case 0: AMX_LOAD (0, p, stride); break;
    case 1: AMX_LOAD (1, p, stride); break;
    case 2: AMX_LOAD (2, p, stride); break;
    default: AMX_LOAD (3, p, stride); break;
    }
}

static inline void
amx_c_store (int g, void *p, long stride)
{
  switch (g)
    {
    case 0: AMX_STORE (0, p, stride); break;
    case 1: AMX_STORE (1, p, stride); break;
    case 2: AMX_STORE (2, p, stride); break;
    default: AMX_STORE (3, p, stride); break;
    }
}

static inline void
amx_c_zero (int g)
{
  switch (g)
    {
    case 0: AMX_ZERO (0); break;
    case 1: AMX_ZERO (1); break;
    case 2: AMX_ZERO (2); break;
    default: AMX_ZERO (3); break;
    }
}

static inline void
amx_dp_split (int g)
{
  switch (g)
    {
    case 0: AMX_DP_SPLIT (0); break;
    case 1: AMX_DP_SPLIT (1); break;
    case 2: AMX_DP_SPLIT (2); break;
    default: AMX_DP_SPLIT (3); break;
    }
}

/* Steps per chunk: the split activations of 64 tokens over a chunk take 4 x 4 x 2 KiB. */
#define F16_AMX_STEPS 4

/* Splitting the activations costs about as much per element as the four tile products of a
 * 16-row block, so it is done once per call for all the rows it is given (sm-model.c hands F16
 * tiles its whole chunk of rows): per 64 tokens and 128 elements, the activations are split
 * once, then every 16-row block packs its weights, takes its partial sums from the output (zero
 * for the first chunk), adds the chunk's products and puts them back. A full 16 x 16 partial
 * sum goes straight between the output and the tile (rows of 16 floats, os apart); a partial one
 * through cbuf, with masked loads and stores, so nothing outside the nr x nc tile is touched. */
void
sm_float_gemm_f16_amx (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as,
                       int nc, float *out, size_t os)
{
  _Alignas (64) uint32_t phi[F16_AMX_STEPS * 256];
  _Alignas (64) uint32_t plo[F16_AMX_STEPS * 256];
  _Alignas (64) uint16_t ahi[4][F16_AMX_STEPS][16 * 32];
  _Alignas (64) uint16_t alo[4][F16_AMX_STEPS][16 * 32];
  _Alignas (64) float cbuf[16 * 16];
  _Alignas (64) amx_config cfg;
  const uint8_t *wb = w, *ab = a;
  const int64_t nsteps = (n + 31) / 32;

  if (n == 0)
    {
      for (int c = 0; c < nc; c++)
        memset (out + (size_t) c * os, 0, (size_t) nr * sizeof *out);
      return;
    }
  memset (&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int t = 0; t < 8; t++)
    {
      cfg.colsb[t] = 64;
      cfg.rows[t] = 16;
    }
  __asm__ volatile ("ldtilecfg %0" ::"m"(cfg) : "memory");

  for (int cb = 0; cb < nc; cb += 64)
    {
      const int left = nc - cb;
      const int ng = left >= 64 ? 4 : (left + 15) / 16;
      int nt[4];
      for (int g = 0; g < 4; g++)
        nt[g] = left - 16 * g >= 16 ? 16 : (left - 16 * g > 0 ? left - 16 * g : 0);
      const uint8_t *ag = ab + (size_t) cb * as;

      for (int64_t s0 = 0; s0 < nsteps; s0 += F16_AMX_STEPS)
        {
          const int sc = nsteps - s0 < F16_AMX_STEPS ? (int) (nsteps - s0) : F16_AMX_STEPS;
          const bool first = s0 == 0;

          for (int g = 0; g < ng; g++)
            for (int s = 0; s < sc; s++)
              amx_split_a (ag + (size_t) (16 * g) * as, as, nt[g], 32 * (s0 + s), n, ahi[g][s],
                           alo[g][s]);
          for (int r0 = 0; r0 < nr; r0 += 16)
            {
              const int nrp = nr - r0 < 16 ? nr - r0 : 16;
              const __mmask16 mrow = mask16 (nrp);
              float *o = out + r0 + (size_t) cb * os;

              for (int g = 0; g < ng; g++)
                {
                  float *og = o + (size_t) (16 * g) * os;
                  if (first)
                    amx_c_zero (g);
                  else if (nrp == 16 && nt[g] == 16)
                    amx_c_load (g, og, (long) (os * sizeof (float)));
                  else
                    {
                      for (int t = 0; t < 16; t++)
                        _mm512_store_ps (cbuf + 16 * t,
                                         t < nt[g] ? _mm512_maskz_loadu_ps (mrow, og + (size_t) t * os)
                                                   : _mm512_setzero_ps ());
                      amx_c_load (g, cbuf, 64);
                    }
                }
              amx_pack_f16 (wb + (size_t) r0 * ws, ws, nrp, n, s0, sc, phi, plo);
              for (int s = 0; s < sc; s++)
                {
                  AMX_LOAD (4, phi + 256 * s, 64);
                  AMX_LOAD (5, plo + 256 * s, 64);
                  for (int g = 0; g < ng; g++)
                    {
                      AMX_LOAD (6, ahi[g][s], 64);
                      AMX_LOAD (7, alo[g][s], 64);
                      amx_dp_split (g);
                    }
                }
              for (int g = 0; g < ng; g++)
                {
                  float *og = o + (size_t) (16 * g) * os;
                  if (nrp == 16 && nt[g] == 16)
                    amx_c_store (g, og, (long) (os * sizeof (float)));
                  else
                    {
                      amx_c_store (g, cbuf, 64);
                      amx_flush (cbuf, nt[g], mrow, og, os);
                    }
                }
            }
        }
    }
  __asm__ volatile ("tilerelease" ::: "memory");
}
