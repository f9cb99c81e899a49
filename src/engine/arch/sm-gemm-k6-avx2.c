/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-gemm-k6-avx2.c: AVX2 tile kernels (sm_gemm_tile_fn) for prompt batches of Q6_K and IQ4_XS
 * against Q8_K activations, for CPUs without AVX-512 VNNI (the avx2 variant; the avx512 variant
 * has the 16-row panels of sm-gemm-k6-avx512.c). Compiled with its own -mavx2 -mfma -mf16c
 * flags and only called after sm-dispatch.c has checked the CPU.
 *
 * Four weight rows are decoded once per chunk of super-blocks into a stack buffer, 32 elements
 * per ymm: Q6_K as unsigned 6-bit codes (value + 32; the offset comes back through the bsums),
 * IQ4_XS as table levels with their magnitudes beside them (vpmaddubsw multiplies unsigned by
 * signed bytes, so a product w * a is |w| * (a with the sign of w)). Beside the codes sit int16
 * scale vectors in the layout vpmaddwd needs. Each pair of tokens then runs over the decoded
 * rows: per (row, token, 32 elements) one vpmaddubsw, one vpmaddwd with the scales and one add
 * (plus one vpsignb for IQ4_XS), with each weight load serving two tokens and each activation
 * load four rows. Without VNNI that is the integer work left; the decoding, which the per-pair
 * dot repeats for every token, is done once per tile.
 *
 * Threading: reentrant; everything lives on the caller's stack.
 */
#include <immintrin.h>
#include <string.h>

#include "sm-quant-private.h"

enum
{
  GA_ROWS = 4,    /* rows per tile */
  GA_CHUNK = 4,   /* super-blocks per chunk */
};

typedef enum
{
  GA_Q6_K,
  GA_IQ4_XS,
} ga_kind;

/* One decoded super-block of one row. */
typedef struct
{
  __m256i q[8];     /* Q6_K: codes 0..63; IQ4_XS: |level| */
  __m256i s[8];     /* IQ4_XS: the signed levels (sign source); unused for Q6_K */
  __m256i sc[8];    /* int16 scales of the 16 int16 pair sums of q[g] */
  __m256i sc16;     /* Q6_K: the 16 sub-block scales as int16 (the -32 offset) */
  float   d;
} ga_block;

static inline __m256i
ga_load (const void *p)
{
  return _mm256_loadu_si256 ((const __m256i *) p);
}

static inline void
ga_decode (ga_kind kind,
           ga_block *o,
           const uint8_t *base)
{
  if (kind == GA_Q6_K)
    {
      const sm_block_q6_K *x = (const sm_block_q6_K *) base;
      const __m256i m4 = _mm256_set1_epi8 (0x0F), m30 = _mm256_set1_epi8 (0x30);

      for (int h = 0; h < 2; h++)
        {
          /* Element 128h + 32k + l: low or high nibble of ql[64h + l] (k = 0, 2) or
           * ql[64h + 32 + l] (k = 1, 3), bits 2k..2k+1 of qh[32h + l] on top. */
          const __m256i l0 = ga_load (x->ql + 64 * h), l1 = ga_load (x->ql + 64 * h + 32);
          const __m256i hb = ga_load (x->qh + 32 * h);
          o->q[4 * h + 0] = _mm256_or_si256 (_mm256_and_si256 (l0, m4),
                                             _mm256_and_si256 (_mm256_slli_epi16 (hb, 4), m30));
          o->q[4 * h + 1] = _mm256_or_si256 (_mm256_and_si256 (l1, m4),
                                             _mm256_and_si256 (_mm256_slli_epi16 (hb, 2), m30));
          o->q[4 * h + 2] = _mm256_or_si256 (_mm256_and_si256 (_mm256_srli_epi16 (l0, 4), m4),
                                             _mm256_and_si256 (hb, m30));
          o->q[4 * h + 3] = _mm256_or_si256 (_mm256_and_si256 (_mm256_srli_epi16 (l1, 4), m4),
                                             _mm256_and_si256 (_mm256_srli_epi16 (hb, 2), m30));
        }
      /* Group g = 32 elements = sub-blocks 2g (low 128 bits) and 2g + 1 (high). */
      for (int g = 0; g < 8; g++)
        o->sc[g] = _mm256_set_m128i (_mm_set1_epi16 (x->scales[2 * g + 1]),
                                     _mm_set1_epi16 (x->scales[2 * g]));
      o->sc16 = _mm256_cvtepi8_epi16 (_mm_loadu_si128 ((const __m128i *) x->scales));
      o->d = _cvtsh_ss (x->d);
    }
  else
    {
      const sm_block_iq4_xs *x = (const sm_block_iq4_xs *) base;
      const __m128i lut = _mm_loadu_si128 ((const __m128i *) sm_kvalues_iq4nl);
      const __m256i lut2 = _mm256_set_m128i (lut, lut), m4 = _mm256_set1_epi8 (0x0F);

      for (int g = 0; g < 8; g++)
        {
          /* Sub-block g: element j (j < 16) is the low nibble of byte 16g + j, element 16 + j
           * its high nibble. */
          const __m128i b = _mm_loadu_si128 ((const __m128i *) (x->qs + 16 * g));
          const __m256i nib = _mm256_and_si256 (
              _mm256_set_m128i (_mm_srli_epi16 (b, 4), b), m4);
          const __m256i v = _mm256_shuffle_epi8 (lut2, nib);
          o->s[g] = v;
          o->q[g] = _mm256_sign_epi8 (v, v);
          const int ls = (((x->scales_l[g / 2] >> (4 * (g % 2))) & 15)
                          | (((x->scales_h >> (2 * g)) & 3) << 4)) - 32;
          o->sc[g] = _mm256_set1_epi16 ((short) ls);
        }
      o->d = _cvtsh_ss (x->d);
    }
}

static inline __m256i
ga_bias (ga_kind kind, const ga_block *w, const sm_block_q8_K *y)
{
  if (kind == GA_Q6_K)
    return _mm256_sub_epi32 (_mm256_setzero_si256 (),
                             _mm256_slli_epi32 (_mm256_madd_epi16 (w->sc16, ga_load (y->bsums)),
                                                5));
  return _mm256_setzero_si256 ();
}

static inline float
ga_hsum (__m256 v)
{
  __m128 s = _mm_add_ps (_mm256_castps256_ps128 (v), _mm256_extractf128_ps (v, 1));
  s = _mm_add_ps (s, _mm_movehl_ps (s, s));
  s = _mm_add_ss (s, _mm_movehdup_ps (s));
  return _mm_cvtss_f32 (s);
}

/* R rows (buffers wb[r]) x C tokens over nb decoded super-blocks: out (+)= the dots. */
static inline __attribute__ ((always_inline)) void
ga_tile (ga_kind              kind,
         int                  R,
         int                  C,
         ga_block             wb[GA_ROWS][GA_CHUNK],
         int                  nb,
         const sm_block_q8_K *y0,
         const sm_block_q8_K *y1,
         float               *out,
         size_t               os,
         bool                 first)
{
  __m256 acc[GA_ROWS][2];

  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++)
      acc[r][c] = _mm256_setzero_ps ();
  for (int b = 0; b < nb; b++)
    {
      const sm_block_q8_K *y[2] = { y0 + b, C > 1 ? y1 + b : y0 + b };
      __m256i sumi[GA_ROWS][2];

      for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
          sumi[r][c] = ga_bias (kind, &wb[r][b], y[c]);
#pragma GCC unroll 8
      for (int g = 0; g < 8; g++)
        {
          __m256i a[2];
          for (int c = 0; c < C; c++)
            a[c] = ga_load (y[c]->qs + 32 * g);
          for (int r = 0; r < R; r++)
            {
              const __m256i q = _mm256_load_si256 (&wb[r][b].q[g]);
              for (int c = 0; c < C; c++)
                {
                  const __m256i av = kind == GA_IQ4_XS
                                         ? _mm256_sign_epi8 (a[c], wb[r][b].s[g]) : a[c];
                  sumi[r][c] = _mm256_add_epi32 (
                      sumi[r][c],
                      _mm256_madd_epi16 (_mm256_maddubs_epi16 (q, av), wb[r][b].sc[g]));
                }
            }
        }
      for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
          acc[r][c] = _mm256_fmadd_ps (_mm256_cvtepi32_ps (sumi[r][c]),
                                       _mm256_set1_ps (wb[r][b].d * y[c]->d), acc[r][c]);
    }
  for (int c = 0; c < C; c++)
    for (int r = 0; r < R; r++)
      {
        float *o = out + (size_t) c * os + r;
        const float v = ga_hsum (acc[r][c]);
        *o = first ? v : *o + v;
      }
}

static inline __attribute__ ((always_inline)) void
ga_rows (ga_kind        kind,
         int            R,
         ga_block       wb[GA_ROWS][GA_CHUNK],
         int            nb,
         const uint8_t *a,
         size_t         as,
         int            nc,
         int64_t        b0,
         float         *out,
         size_t         os,
         bool           first)
{
  int c = 0;

  for (; c + 2 <= nc; c += 2)
    ga_tile (kind, R, 2, wb, nb, (const sm_block_q8_K *) (a + (size_t) c * as) + b0,
             (const sm_block_q8_K *) (a + (size_t) (c + 1) * as) + b0, out + (size_t) c * os,
             os, first);
  if (c < nc)
    ga_tile (kind, R, 1, wb, nb, (const sm_block_q8_K *) (a + (size_t) c * as) + b0, NULL,
             out + (size_t) c * os, os, first);
}

static inline __attribute__ ((always_inline)) void
ga_gemm (ga_kind     kind,
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
  const size_t bs = kind == GA_Q6_K ? sizeof (sm_block_q6_K) : sizeof (sm_block_iq4_xs);
  _Alignas (32) ga_block wb[GA_ROWS][GA_CHUNK];

  for (int r0 = 0; r0 < nr; r0 += GA_ROWS)
    {
      const int R = nr - r0 < GA_ROWS ? nr - r0 : GA_ROWS;
      if (nb == 0)
        for (int c = 0; c < nc; c++)
          for (int r = 0; r < R; r++)
            out[(size_t) c * os + r0 + r] = 0.0f;
      for (int64_t b0 = 0; b0 < nb; b0 += GA_CHUNK)
        {
          const int nbc = (int) (nb - b0 < GA_CHUNK ? nb - b0 : GA_CHUNK);
          for (int r = 0; r < R; r++)
            for (int b = 0; b < nbc; b++)
              ga_decode (kind, &wb[r][b], wp + (size_t) (r0 + r) * ws + (size_t) (b0 + b) * bs);
          float *o = out + r0;
          const bool first = b0 == 0;
          switch (R)
            {
            case 4: ga_rows (kind, 4, wb, nbc, ap, as, nc, b0, o, os, first); break;
            case 3: ga_rows (kind, 3, wb, nbc, ap, as, nc, b0, o, os, first); break;
            case 2: ga_rows (kind, 2, wb, nbc, ap, as, nc, b0, o, os, first); break;
            default: ga_rows (kind, 1, wb, nbc, ap, as, nc, b0, o, os, first); break;
            }
        }
    }
}

void
sm_gemm_q6_K_avx2 (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as,
                   int nc, float *out, size_t os)
{
  ga_gemm (GA_Q6_K, n, w, ws, nr, a, as, nc, out, os);
}

void
sm_gemm_iq4_xs_avx2 (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as,
                     int nc, float *out, size_t os)
{
  ga_gemm (GA_IQ4_XS, n, w, ws, nr, a, as, nc, out, os);
}
