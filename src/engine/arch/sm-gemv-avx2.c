/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-gemv-avx2.c: multi-row kernels for one activation row (generation, n = 1), AVX2 + FMA +
 * F16C, reading the ggml block layout as it is in the file. The 256-bit counterpart of
 * sm-gemv-avx512.c for the 32-element formats (Q8_0, Q4_0, IQ4_NL): two rows at a time, one
 * row per 128-bit lane, the activation block broadcast to both lanes. Without VNNI the
 * products go through vpmaddubsw (unsigned x signed, pairs summed in int16) and vpmaddwd: Q4_0
 * keeps its unsigned nibbles and takes 8 * sum(activation block) back out once per call;
 * Q8_0 and the IQ4_NL levels are signed, so each row's signs move onto the activations
 * (vpsignb) and the magnitudes are the unsigned operand. Four blocks' sums are transposed into
 * lanes (row, block) so the scales are one gather, one multiply and one FMA per 8 pairs.
 * Compiled with the avx2 flags of meson.build; only called after sm-dispatch.c has checked the
 * CPU.
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "sm-gemv-walk.h"
#include "sm-gemv-private.h"
#include "sm-quant-private.h"

enum
{
  KIND_Q8_0,
  KIND_Q4_0,
  KIND_IQ4_NL,
};

/* Activation blocks prepared per pass over the rows (as in sm-gemv-avx512.c). */
#define GEMV_KB 256

static inline float
h2f (sm_half h)
{
  return _cvtsh_ss (h);
}

static inline int32_t
block_sum (const int8_t *q)
{
  const __m256i v = _mm256_loadu_si256 ((const __m256i *) q);
  const __m256i s = _mm256_madd_epi16 (_mm256_maddubs_epi16 (_mm256_set1_epi8 (1), v),
                                       _mm256_set1_epi16 (1));
  __m128i t = _mm_add_epi32 (_mm256_castsi256_si128 (s), _mm256_extracti128_si256 (s, 1));
  t = _mm_add_epi32 (t, _mm_shuffle_epi32 (t, _MM_SHUFFLE (1, 0, 3, 2)));
  t = _mm_add_epi32 (t, _mm_shuffle_epi32 (t, _MM_SHUFFLE (2, 3, 0, 1)));
  return _mm_cvtsi128_si32 (t);
}

static inline float
block_dot_scalar (int kind, const uint8_t *wb, const sm_block_q8_0 *y)
{
  int32_t s = 0;

  if (kind == KIND_Q8_0)
    {
      const sm_block_q8_0 *x = (const sm_block_q8_0 *) wb;
      for (int k = 0; k < 32; k++)
        s += x->qs[k] * y->qs[k];
      return (float) s * h2f (x->d) * h2f (y->d);
    }
  const sm_block_q4_0 *x = (const sm_block_q4_0 *) wb;
  for (int k = 0; k < 16; k++)
    {
      const int lo = x->qs[k] & 15, hi = x->qs[k] >> 4;
      if (kind == KIND_Q4_0)
        s += (lo - 8) * y->qs[k] + (hi - 8) * y->qs[k + 16];
      else
        s += sm_kvalues_iq4nl[lo] * y->qs[k] + sm_kvalues_iq4nl[hi] * y->qs[k + 16];
    }
  return (float) s * h2f (x->d) * h2f (y->d);
}

static inline __m256i
transpose_sum4 (__m256i p0, __m256i p1, __m256i p2, __m256i p3)
{
  const __m256i s01 = _mm256_add_epi32 (_mm256_unpacklo_epi32 (p0, p1),
                                        _mm256_unpackhi_epi32 (p0, p1));
  const __m256i s23 = _mm256_add_epi32 (_mm256_unpacklo_epi32 (p2, p3),
                                        _mm256_unpackhi_epi32 (p2, p3));
  return _mm256_add_epi32 (_mm256_unpacklo_epi64 (s01, s23), _mm256_unpackhi_epi64 (s01, s23));
}

/* 16 bytes at offset off of the same block in two rows, row i in lane i. */
static inline __m256i
load2 (const uint8_t *const r[2], size_t off)
{
  return _mm256_inserti128_si256 (
      _mm256_castsi128_si256 (_mm_loadu_si128 ((const __m128i *) (r[0] + off))),
      _mm_loadu_si128 ((const __m128i *) (r[1] + off)), 1);
}

/* Signed codes w times signed activations y, in 8 int32 lanes. */
static inline __m256i
dot_signed (__m256i w, __m256i y)
{
  return _mm256_madd_epi16 (_mm256_maddubs_epi16 (_mm256_abs_epi8 (w), _mm256_sign_epi8 (y, w)),
                            _mm256_set1_epi16 (1));
}

static inline __attribute__ ((always_inline)) __m256i
block2 (int kind, const uint8_t *const r[2], size_t off, const sm_block_q8_0 *y, __m256i lut)
{
  const __m256i ya = _mm256_broadcastsi128_si256 (_mm_loadu_si128 ((const __m128i *) y->qs));
  const __m256i yb
      = _mm256_broadcastsi128_si256 (_mm_loadu_si128 ((const __m128i *) (y->qs + 16)));

  if (kind == KIND_Q8_0)
    return _mm256_add_epi32 (dot_signed (load2 (r, off + 2), ya),
                             dot_signed (load2 (r, off + 18), yb));
  const __m256i m4 = _mm256_set1_epi8 (0x0F);
  const __m256i q = load2 (r, off + 2);
  const __m256i lo = _mm256_and_si256 (q, m4);
  const __m256i hi = _mm256_and_si256 (_mm256_srli_epi16 (q, 4), m4);
  if (kind == KIND_IQ4_NL)
    return _mm256_add_epi32 (dot_signed (_mm256_shuffle_epi8 (lut, lo), ya),
                             dot_signed (_mm256_shuffle_epi8 (lut, hi), yb));
  /* Nibbles 0..15 times activations: a pair sums to at most 2 * 15 * 127, two pairs fit. */
  const __m256i p = _mm256_add_epi16 (_mm256_maddubs_epi16 (lo, ya), _mm256_maddubs_epi16 (hi, yb));
  return _mm256_madd_epi16 (p, _mm256_set1_epi16 (1));
}

static inline __attribute__ ((always_inline)) void
gemv_32 (int kind, int64_t n, const void *w, size_t ws, int64_t nr, const void *a, float *out)
{
  const size_t bs = kind == KIND_Q8_0 ? sizeof (sm_block_q8_0) : sizeof (sm_block_q4_0);
  const int64_t nb = n / 32;
  const sm_block_q8_0 *y = a;
  const uint8_t *wp = w;
  const sm_gemv_walk walk = sm_gemv_walk_init (nr, ws, 2);
  const int64_t n_pass = sm_gemv_walk_passes (&walk);
  __m256i lut = _mm256_setzero_si256 ();
  float dy[GEMV_KB] __attribute__ ((aligned (32)));
  int32_t oy[GEMV_KB] __attribute__ ((aligned (32)));

  if (kind == KIND_IQ4_NL)
    lut = _mm256_broadcastsi128_si256 (_mm_loadu_si128 ((const __m128i *) sm_kvalues_iq4nl));
  for (int64_t r = 0; r < nr; r++)
    out[r] = 0.0f;

  for (int64_t kb0 = 0; kb0 < nb; kb0 += GEMV_KB)
    {
      const int64_t kn = nb - kb0 < GEMV_KB ? nb - kb0 : GEMV_KB;
      const int64_t kn4 = kn & ~(int64_t) 3;
      const sm_block_q8_0 *yk = y + kb0;

      for (int64_t b = 0; b < kn; b++)
        {
          dy[b] = h2f (yk[b].d);
          oy[b] = kind == KIND_Q4_0 ? 8 * block_sum (yk[b].qs) : 0;
        }

      for (int64_t g = 0; g < n_pass; g++)
        {
          /* The two rows of pass g (sm-gemv-walk.h); an odd last row is computed twice and
           * stored once. */
          const int64_t ri[2] = { sm_gemv_walk_row (&walk, g, 0), sm_gemv_walk_row (&walk, g, 1) };
          const uint8_t *rows[2] = { wp + (size_t) ri[0] * ws + (size_t) kb0 * bs,
                                     wp + (size_t) ri[1] * ws + (size_t) kb0 * bs };
          const size_t ahead = sm_gemv_walk_ahead (&walk, g);
          const int32_t ro = (int32_t) ((ri[1] - ri[0]) * (int64_t) ws), b32 = (int32_t) bs;
          const __m256i gidx = _mm256_setr_epi32 (0, b32, 2 * b32, 3 * b32, ro, ro + b32,
                                                  ro + 2 * b32, ro + 3 * b32);
          __m256 acc0 = _mm256_setzero_ps (), acc1 = acc0;

          for (int64_t b = 0; b < kn4; b += 4)
            {
              const size_t off = (size_t) b * bs;
              sm_gemv_prefetch (rows, 2, ahead, off, 4 * bs);
              const __m256i p0 = block2 (kind, rows, off, yk + b, lut);
              const __m256i p1 = block2 (kind, rows, off + bs, yk + b + 1, lut);
              const __m256i p2 = block2 (kind, rows, off + 2 * bs, yk + b + 2, lut);
              const __m256i p3 = block2 (kind, rows, off + 3 * bs, yk + b + 3, lut);
              const __m256i isum = _mm256_sub_epi32 (
                  transpose_sum4 (p0, p1, p2, p3),
                  _mm256_broadcastsi128_si256 (_mm_load_si128 ((const __m128i *) (oy + b))));
              /* The f16 scales of the 8 (row, block) pairs: 4 bytes read at each block start,
               * the low half kept. */
              const __m256i dw32 = _mm256_and_si256 (
                  _mm256_i32gather_epi32 ((const int *) (rows[0] + off), gidx, 1),
                  _mm256_set1_epi32 (0xFFFF));
              const __m256 dw = _mm256_cvtph_ps (_mm_packus_epi32 (
                  _mm256_castsi256_si128 (dw32), _mm256_extracti128_si256 (dw32, 1)));
              const __m256 s = _mm256_mul_ps (dw, _mm256_broadcast_ps ((const __m128 *) (dy + b)));
              if ((b & 4) == 0)
                acc0 = _mm256_fmadd_ps (_mm256_cvtepi32_ps (isum), s, acc0);
              else
                acc1 = _mm256_fmadd_ps (_mm256_cvtepi32_ps (isum), s, acc1);
            }

          float lanes[8];
          _mm256_storeu_ps (lanes, _mm256_add_ps (acc0, acc1));
          for (int i = 0; i < 2 && sm_gemv_walk_lane_used (&walk, g, i); i++)
            {
              float sum = (lanes[4 * i] + lanes[4 * i + 1]) + (lanes[4 * i + 2] + lanes[4 * i + 3]);
              for (int64_t t = kn4; t < kn; t++)
                sum += block_dot_scalar (kind, rows[i] + (size_t) t * bs, yk + t);
              out[ri[i]] += sum;
            }
        }
    }
}

static void
avx2_gemv_q8_0 (int64_t n, const void *w, size_t ws, int64_t nr, const void *a, float *out)
{
  gemv_32 (KIND_Q8_0, n, w, ws, nr, a, out);
}

static void
avx2_gemv_q4_0 (int64_t n, const void *w, size_t ws, int64_t nr, const void *a, float *out)
{
  gemv_32 (KIND_Q4_0, n, w, ws, nr, a, out);
}

static void
avx2_gemv_iq4_nl (int64_t n, const void *w, size_t ws, int64_t nr, const void *a, float *out)
{
  gemv_32 (KIND_IQ4_NL, n, w, ws, nr, a, out);
}

/* IQ4_XS against a Q8_K row, two rows per pass. A 32-byte load of a row's codes holds two
 * sub-blocks (one per 128-bit lane, first 16 elements in the low nibbles); vpshufb gives the
 * signed levels, whose signs move onto the activations (vpsignb) while the magnitudes of the
 * activations are the unsigned operand of vpmaddubsw: |a| <= 128 (vpabsb of -128 is 0x80,
 * read unsigned) times |level| <= 127 keeps a pair within int16, so no code is ever saturated.
 * The activations and their magnitudes are permuted once per call so that lane L of a load
 * holds the elements of the sub-block of that lane. The 6-bit scales are decoded with variable
 * shifts into int16 pairs and applied by the vpmaddwd that widens the products to int32; one
 * int32 -> float conversion and one FMA per super-block per row. */

/* Super-blocks of activations prepared per pass over the rows (8192 elements). */
#define GEMV_XS_KS 32

static inline uint64_t
load_u64 (const uint8_t *p)
{
  uint64_t v;
  memcpy (&v, p, sizeof v);
  return v;
}

/* The eight sub-block scales of a super-block with header hdr (its first 8 bytes), as int16
 * pairs: dword lane sb = scale | scale << 16. */
static inline __m256i
xs_scales (uint64_t hdr)
{
  const __m256i vh = _mm256_set1_epi32 ((int) (uint32_t) hdr);
  const __m256i vl = _mm256_set1_epi32 ((int) (uint32_t) (hdr >> 32));
  const __m256i sc = _mm256_sub_epi32 (
      _mm256_or_si256 (
          _mm256_and_si256 (_mm256_srlv_epi32 (vl, _mm256_setr_epi32 (0, 4, 8, 12, 16, 20, 24, 28)),
                            _mm256_set1_epi32 (15)),
          _mm256_and_si256 (
              _mm256_srlv_epi32 (vh, _mm256_setr_epi32 (12, 14, 16, 18, 20, 22, 24, 26)),
              _mm256_set1_epi32 (48))),
      _mm256_set1_epi32 (32));
  return _mm256_or_si256 (_mm256_and_si256 (sc, _mm256_set1_epi32 (0xFFFF)),
                          _mm256_slli_epi32 (sc, 16));
}

/* 32 code bytes (sub-blocks 2k, 2k + 1) of one row against the permuted activations ya/yb
 * (with magnitudes aa/ab), scaled by the int16 pairs sc: int32 lanes. */
static inline __attribute__ ((always_inline)) __m256i
xs_chunk (const uint8_t *q, __m256i lut, __m256i m4, __m256i ya, __m256i yb, __m256i aa,
          __m256i ab, __m256i sc)
{
  const __m256i v = _mm256_loadu_si256 ((const __m256i *) q);
  const __m256i lo = _mm256_shuffle_epi8 (lut, _mm256_and_si256 (v, m4));
  const __m256i hi = _mm256_shuffle_epi8 (lut, _mm256_and_si256 (_mm256_srli_epi16 (v, 4), m4));
  const __m256i plo = _mm256_maddubs_epi16 (aa, _mm256_sign_epi8 (lo, ya));
  const __m256i phi = _mm256_maddubs_epi16 (ab, _mm256_sign_epi8 (hi, yb));
  return _mm256_add_epi32 (_mm256_madd_epi16 (plo, sc), _mm256_madd_epi16 (phi, sc));
}

static void
avx2_gemv_iq4_xs (int64_t n, const void *w, size_t ws, int64_t nr, const void *a, float *out)
{
  const size_t bs = sizeof (sm_block_iq4_xs);
  const int64_t nsb = n / SM_QK_K;
  const sm_block_q8_K *y = a;
  const uint8_t *wp = w;
  const sm_gemv_walk walk = sm_gemv_walk_init (nr, ws, 2);
  const int64_t n_pass = sm_gemv_walk_passes (&walk);
  /* Per super-block, chunk k (sub-blocks 2k, 2k + 1): 32 bytes of their first 16 elements
   * (one sub-block per lane), then 32 bytes of their last 16; the same for the magnitudes. */
  int8_t yq[GEMV_XS_KS][256] __attribute__ ((aligned (32)));
  int8_t ym[GEMV_XS_KS][256] __attribute__ ((aligned (32)));
  float dy[GEMV_XS_KS];
  const __m256i lut
      = _mm256_broadcastsi128_si256 (_mm_loadu_si128 ((const __m128i *) sm_kvalues_iq4nl));
  const __m256i m4 = _mm256_set1_epi8 (0x0F);
  __m256i sel[4];

  for (int k = 0; k < 4; k++)
    sel[k] = _mm256_setr_epi32 (2 * k, 2 * k, 2 * k, 2 * k, 2 * k + 1, 2 * k + 1, 2 * k + 1,
                                2 * k + 1);
  for (int64_t r = 0; r < nr; r++)
    out[r] = 0.0f;

  for (int64_t s0 = 0; s0 < nsb; s0 += GEMV_XS_KS)
    {
      const int64_t kn = nsb - s0 < GEMV_XS_KS ? nsb - s0 : GEMV_XS_KS;

      for (int64_t i = 0; i < kn; i++)
        {
          const sm_block_q8_K *yb = y + s0 + i;
          dy[i] = yb->d;
          for (int k = 0; k < 4; k++)
            for (int l = 0; l < 2; l++)
              {
                memcpy (yq[i] + 64 * k + 16 * l, yb->qs + 32 * (2 * k + l), 16);
                memcpy (yq[i] + 64 * k + 32 + 16 * l, yb->qs + 32 * (2 * k + l) + 16, 16);
              }
          for (int k = 0; k < 256; k += 32)
            {
              const __m256i v = _mm256_load_si256 ((const __m256i *) (yq[i] + k));
              _mm256_store_si256 ((__m256i *) (ym[i] + k), _mm256_abs_epi8 (v));
            }
        }

      for (int64_t g = 0; g < n_pass; g++)
        {
          /* The two rows of pass g (sm-gemv-walk.h); a last odd row is computed twice and
           * kept once. */
          const int64_t ri[2] = { sm_gemv_walk_row (&walk, g, 0), sm_gemv_walk_row (&walk, g, 1) };
          const uint8_t *rows[2] = { wp + (size_t) ri[0] * ws + (size_t) s0 * bs,
                                     wp + (size_t) ri[1] * ws + (size_t) s0 * bs };
          const uint8_t *r_0 = rows[0], *r_1 = rows[1];
          const size_t ahead = sm_gemv_walk_ahead (&walk, g);
          __m256 acc0 = _mm256_setzero_ps (), acc1 = acc0;

          for (int64_t i = 0; i < kn; i++)
            {
              const size_t off = (size_t) i * bs;
              sm_gemv_prefetch (rows, 2, ahead, off, bs);

              const uint64_t h0 = load_u64 (r_0 + off), h1 = load_u64 (r_1 + off);
              const __m256i sc0 = xs_scales (h0), sc1 = xs_scales (h1);
              __m256i s0v = _mm256_setzero_si256 (), s1v = s0v;
              for (int k = 0; k < 4; k++)
                {
                  const __m256i ya = _mm256_load_si256 ((const __m256i *) (yq[i] + 64 * k));
                  const __m256i yb = _mm256_load_si256 ((const __m256i *) (yq[i] + 64 * k + 32));
                  const __m256i aa = _mm256_load_si256 ((const __m256i *) (ym[i] + 64 * k));
                  const __m256i ab = _mm256_load_si256 ((const __m256i *) (ym[i] + 64 * k + 32));
                  s0v = _mm256_add_epi32 (
                      s0v, xs_chunk (r_0 + off + 8 + 32 * k, lut, m4, ya, yb, aa, ab,
                                     _mm256_permutevar8x32_epi32 (sc0, sel[k])));
                  s1v = _mm256_add_epi32 (
                      s1v, xs_chunk (r_1 + off + 8 + 32 * k, lut, m4, ya, yb, aa, ab,
                                     _mm256_permutevar8x32_epi32 (sc1, sel[k])));
                }
              sm_half d0, d1;
              memcpy (&d0, r_0 + off, sizeof d0);
              memcpy (&d1, r_1 + off, sizeof d1);
              acc0 = _mm256_fmadd_ps (_mm256_cvtepi32_ps (s0v), _mm256_set1_ps (h2f (d0) * dy[i]),
                                      acc0);
              acc1 = _mm256_fmadd_ps (_mm256_cvtepi32_ps (s1v), _mm256_set1_ps (h2f (d1) * dy[i]),
                                      acc1);
            }

          float l0[8], l1[8];
          _mm256_storeu_ps (l0, acc0);
          _mm256_storeu_ps (l1, acc1);
          out[ri[0]] += ((l0[0] + l0[1]) + (l0[2] + l0[3])) + ((l0[4] + l0[5]) + (l0[6] + l0[7]));
          if (sm_gemv_walk_lane_used (&walk, g, 1))
            out[ri[1]]
                += ((l1[0] + l1[1]) + (l1[2] + l1[3])) + ((l1[4] + l1[5]) + (l1[6] + l1[7]));
        }
    }
}

void
sm_gemv_fill_avx2 (sm_gemv_fn gemv[SM_TYPE_COUNT])
{
  gemv[SM_TYPE_Q8_0] = avx2_gemv_q8_0;
  gemv[SM_TYPE_Q4_0] = avx2_gemv_q4_0;
  gemv[SM_TYPE_IQ4_NL] = avx2_gemv_iq4_nl;
  gemv[SM_TYPE_IQ4_XS] = avx2_gemv_iq4_xs;
}
