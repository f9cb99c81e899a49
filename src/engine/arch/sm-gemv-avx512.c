/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-gemv-avx512.c: multi-row kernels for one activation row (generation, n = 1), AVX-512 +
 * VNNI, reading the ggml block layout as it is in the file (no repacking, so the prompt tile
 * kernels and these read the same bytes).
 *
 * Every kernel reads four rows at a time, in the order and with the prefetch of
 * sm-gemv-walk.h.
 *
 * 32-element formats (Q8_0, Q4_0, IQ4_NL): four rows at a time, one row per 128-bit lane. A
 * block of the four rows is four 16-byte broadcast loads merged under masks; its activation
 * block is broadcast to all four lanes, so one vpdpbusd serves four rows. Codes are made
 * unsigned (Q8_0 + 128, the Q4_0 nibble, the IQ4_NL level + 128) and the offset comes back out
 * as offset * sum(activation block), computed once per call for all rows. Four blocks' int32
 * partial sums are transposed into lanes (row, block) with four unpacks and three adds, so the
 * per-(row, block) scale is one gather of the weight scales, one multiply by the activation
 * scales and one FMA for 16 (row, block) pairs. Compiled with the avx512 flags of meson.build;
 * only called after sm-dispatch.c has checked the CPU.
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

/* Activation blocks prepared per pass over the rows: 8192 elements of Q8_0 (the per-block
 * sums and scales live on the stack). */
#define GEMV_KB 256

static inline float
h2f (sm_half h)
{
  return _cvtsh_ss (h);
}

/* Sum of the 32 codes of an activation block. */
static inline int32_t
block_sum (const int8_t *q)
{
  const __m256i v = _mm256_loadu_si256 ((const __m256i *) q);
  const __m256i s = _mm256_dpbusd_epi32 (_mm256_setzero_si256 (), _mm256_set1_epi8 (1), v);
  __m128i t = _mm_add_epi32 (_mm256_castsi256_si128 (s), _mm256_extracti128_si256 (s, 1));
  t = _mm_add_epi32 (t, _mm_shuffle_epi32 (t, _MM_SHUFFLE (1, 0, 3, 2)));
  t = _mm_add_epi32 (t, _mm_shuffle_epi32 (t, _MM_SHUFFLE (2, 3, 0, 1)));
  return _mm_cvtsi128_si32 (t);
}

/* One 32-element weight block against its activation block, scalar (block tails). */
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

/* Lanes (row i, j) <- sum of the four int32 lanes of row i in p[j]. */
static inline __m512i
transpose_sum4 (__m512i p0, __m512i p1, __m512i p2, __m512i p3)
{
  const __m512i s01 = _mm512_add_epi32 (_mm512_unpacklo_epi32 (p0, p1),
                                        _mm512_unpackhi_epi32 (p0, p1));
  const __m512i s23 = _mm512_add_epi32 (_mm512_unpacklo_epi32 (p2, p3),
                                        _mm512_unpackhi_epi32 (p2, p3));
  return _mm512_add_epi32 (_mm512_unpacklo_epi64 (s01, s23), _mm512_unpackhi_epi64 (s01, s23));
}

/* 16 bytes at offset off of the same block in four rows, row i in lane i. */
static inline __m512i
load4 (const uint8_t *const r[4], size_t off)
{
  __m512i v = _mm512_broadcast_i32x4 (_mm_loadu_si128 ((const __m128i *) (r[0] + off)));
  v = _mm512_mask_broadcast_i32x4 (v, 0x00F0, _mm_loadu_si128 ((const __m128i *) (r[1] + off)));
  v = _mm512_mask_broadcast_i32x4 (v, 0x0F00, _mm_loadu_si128 ((const __m128i *) (r[2] + off)));
  return _mm512_mask_broadcast_i32x4 (v, 0xF000, _mm_loadu_si128 ((const __m128i *) (r[3] + off)));
}

/* The int32 dot partial sums of block b of four rows (lanes: row i, four partial sums), with
 * the unsigned codes (offset not yet removed). */
static inline __attribute__ ((always_inline)) __m512i
block4 (int kind, const uint8_t *const r[4], size_t off, const sm_block_q8_0 *y, __m512i lut)
{
  const __m512i ya = _mm512_broadcast_i32x4 (_mm_loadu_si128 ((const __m128i *) y->qs));
  const __m512i yb = _mm512_broadcast_i32x4 (_mm_loadu_si128 ((const __m128i *) (y->qs + 16)));
  const __m512i z = _mm512_setzero_si512 ();

  if (kind == KIND_Q8_0)
    {
      const __m512i bias = _mm512_set1_epi8 ((char) 0x80);
      const __m512i w0 = _mm512_xor_si512 (load4 (r, off + 2), bias);
      const __m512i w1 = _mm512_xor_si512 (load4 (r, off + 18), bias);
      return _mm512_dpbusd_epi32 (_mm512_dpbusd_epi32 (z, w0, ya), w1, yb);
    }
  const __m512i m4 = _mm512_set1_epi8 (0x0F);
  const __m512i q = load4 (r, off + 2);
  __m512i lo = _mm512_and_si512 (q, m4);
  __m512i hi = _mm512_and_si512 (_mm512_srli_epi16 (q, 4), m4);
  if (kind == KIND_IQ4_NL)
    {
      lo = _mm512_shuffle_epi8 (lut, lo);
      hi = _mm512_shuffle_epi8 (lut, hi);
    }
  return _mm512_dpbusd_epi32 (_mm512_dpbusd_epi32 (z, lo, ya), hi, yb);
}

static inline __attribute__ ((always_inline)) void
gemv_32 (int kind, int64_t n, const void *w, size_t ws, int64_t nr, const void *a, float *out)
{
  const size_t bs = kind == KIND_Q8_0 ? sizeof (sm_block_q8_0) : sizeof (sm_block_q4_0);
  const int32_t offset = kind == KIND_Q4_0 ? 8 : 128;
  const int64_t nb = n / 32;
  const sm_block_q8_0 *y = a;
  const uint8_t *wp = w;
  const sm_gemv_walk walk = sm_gemv_walk_init (nr, ws, 4);
  const int64_t n_pass = sm_gemv_walk_passes (&walk);
  __m512i lut = _mm512_setzero_si512 ();
  float dy[GEMV_KB] __attribute__ ((aligned (64)));
  int32_t oy[GEMV_KB] __attribute__ ((aligned (64)));

  if (kind == KIND_IQ4_NL)
    {
      /* The levels + 128, all unsigned. */
      uint8_t t[16];
      for (int k = 0; k < 16; k++)
        t[k] = (uint8_t) (sm_kvalues_iq4nl[k] + 128);
      lut = _mm512_broadcast_i32x4 (_mm_loadu_si128 ((const __m128i *) t));
    }
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
          oy[b] = offset * block_sum (yk[b].qs);
        }

      for (int64_t g = 0; g < n_pass; g++)
        {
          /* The four rows of pass g (sm-gemv-walk.h), lane i's bytes at roff[i] from
           * lane 0's. */
          const uint8_t *rows[4];
          int64_t ri[4];
          int32_t roff[4];
          const size_t ahead = sm_gemv_walk_ahead (&walk, g);
          for (int i = 0; i < 4; i++)
            {
              ri[i] = sm_gemv_walk_row (&walk, g, i);
              rows[i] = wp + (size_t) ri[i] * ws + (size_t) kb0 * bs;
            }
          for (int i = 0; i < 4; i++)
            roff[i] = (int32_t) ((ri[i] - ri[0]) * (int64_t) ws);
          const __m512i gidx = _mm512_add_epi32 (
              _mm512_setr_epi32 (roff[0], roff[0], roff[0], roff[0], roff[1], roff[1], roff[1],
                                 roff[1], roff[2], roff[2], roff[2], roff[2], roff[3], roff[3],
                                 roff[3], roff[3]),
              _mm512_mullo_epi32 (_mm512_setr_epi32 (0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3),
                                  _mm512_set1_epi32 ((int) bs)));
          const uint8_t *gbase = rows[0];
          __m512 acc0 = _mm512_setzero_ps (), acc1 = acc0;
          int64_t b = 0;

          for (; b < kn4; b += 4)
            {
              const size_t off = (size_t) b * bs;
              sm_gemv_prefetch (rows, 4, ahead, off, 4 * bs);
              const __m512i p0 = block4 (kind, rows, off, yk + b, lut);
              const __m512i p1 = block4 (kind, rows, off + bs, yk + b + 1, lut);
              const __m512i p2 = block4 (kind, rows, off + 2 * bs, yk + b + 2, lut);
              const __m512i p3 = block4 (kind, rows, off + 3 * bs, yk + b + 3, lut);
              const __m512i isum = _mm512_sub_epi32 (
                  transpose_sum4 (p0, p1, p2, p3),
                  _mm512_broadcast_i32x4 (_mm_load_si128 ((const __m128i *) (oy + b))));
              /* The f16 scales of the 16 (row, block) pairs: 4 bytes read at each block start
               * (the scale and two code bytes), the low half kept. */
              const __m512i dw32 = _mm512_i32gather_epi32 (gidx, gbase + off, 1);
              const __m512 dw = _mm512_cvtph_ps (_mm512_cvtepi32_epi16 (dw32));
              const __m512 s = _mm512_mul_ps (dw, _mm512_broadcast_f32x4 (_mm_load_ps (dy + b)));
              if ((b & 4) == 0)
                acc0 = _mm512_fmadd_ps (_mm512_cvtepi32_ps (isum), s, acc0);
              else
                acc1 = _mm512_fmadd_ps (_mm512_cvtepi32_ps (isum), s, acc1);
            }

          float lanes[16];
          _mm512_storeu_ps (lanes, _mm512_add_ps (acc0, acc1));
          for (int i = 0; i < 4 && sm_gemv_walk_lane_used (&walk, g, i); i++)
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
avx512_gemv_q8_0 (int64_t n, const void *w, size_t ws, int64_t nr, const void *a, float *out)
{
  gemv_32 (KIND_Q8_0, n, w, ws, nr, a, out);
}

static void
avx512_gemv_q4_0 (int64_t n, const void *w, size_t ws, int64_t nr, const void *a, float *out)
{
  gemv_32 (KIND_Q4_0, n, w, ws, nr, a, out);
}

static void
avx512_gemv_iq4_nl (int64_t n, const void *w, size_t ws, int64_t nr, const void *a, float *out)
{
  gemv_32 (KIND_IQ4_NL, n, w, ws, nr, a, out);
}

/* IQ4_XS (256-element super-blocks of 136 bytes: f16 d, 2 high bits and 4 low bits of eight
 * 6-bit sub-block scales, 128 bytes of nibbles) against a Q8_K row, four rows per pass. A
 * row's 128 code bytes are two 64-byte loads, one sub-block of 32 elements per 128-bit lane
 * (its first 16 elements in the low nibbles); the levels + 128 come from one vpshufb per
 * nibble half, and vpdpbusd multiplies them by the activations, which are permuted once per
 * call so that lane L of a load holds the elements of sub-block L (GEMV_XS_PREP below). The
 * four rows' partial sums are transposed into lanes (sub-block, row), so the offset
 * 128 * sum(activation sub-block) and the sub-block scale are one subtraction and one vpmulld
 * per half super-block for all four rows; the scales are decoded from the four rows' 8-byte
 * headers with variable shifts. One int32 -> float conversion and one FMA per super-block
 * for the four rows. */

/* Super-blocks of activations prepared per pass over the rows (8192 elements). */
#define GEMV_XS_KS 32

static inline __attribute__ ((always_inline)) __m512i
xs_half (const uint8_t *q, __m512i lut, __m512i m4, __m512i ya, __m512i yb)
{
  const __m512i v = _mm512_loadu_si512 ((const void *) q);
  const __m512i lo = _mm512_shuffle_epi8 (lut, _mm512_and_si512 (v, m4));
  const __m512i hi = _mm512_shuffle_epi8 (lut, _mm512_and_si512 (_mm512_srli_epi16 (v, 4), m4));
  return _mm512_dpbusd_epi32 (_mm512_dpbusd_epi32 (_mm512_setzero_si512 (), lo, ya), hi, yb);
}

static inline uint64_t
load_u64 (const uint8_t *p)
{
  uint64_t v;
  memcpy (&v, p, sizeof v);
  return v;
}

static void
avx512_gemv_iq4_xs (int64_t n, const void *w, size_t ws, int64_t nr, const void *a, float *out)
{
  const size_t bs = sizeof (sm_block_iq4_xs);
  const int64_t nsb = n / SM_QK_K;
  const sm_block_q8_K *y = a;
  const uint8_t *wp = w;
  const sm_gemv_walk walk = sm_gemv_walk_init (nr, ws, 4);
  const int64_t n_pass = sm_gemv_walk_passes (&walk);
  /* Per super-block: the 256 activation codes permuted (half h: 64 bytes of the first 16
   * elements of sub-blocks 4h..4h+3, then 64 bytes of their last 16), the offsets
   * 128 * sum(sub-block) in lanes (sub-block, row), and the activation scale. */
  int8_t yq[GEMV_XS_KS][256] __attribute__ ((aligned (64)));
  int32_t oy[GEMV_XS_KS][32] __attribute__ ((aligned (64)));
  float dy[GEMV_XS_KS];
  uint8_t t[16];

  for (int k = 0; k < 16; k++)
    t[k] = (uint8_t) (sm_kvalues_iq4nl[k] + 128);
  const __m512i lut = _mm512_broadcast_i32x4 (_mm_loadu_si128 ((const __m128i *) t));
  const __m512i m4 = _mm512_set1_epi8 (0x0F);
  /* Lanes (L, row) of a 128-bit lane L: dword 2 * row (d, scales_h) or 2 * row + 1
   * (scales_l) of the four rows' headers. */
  const __m512i idx_h = _mm512_setr_epi32 (0, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6);
  const __m512i idx_l = _mm512_setr_epi32 (1, 3, 5, 7, 1, 3, 5, 7, 1, 3, 5, 7, 1, 3, 5, 7);
  /* Shift counts of sub-block 4h + L: low nibble at 4 * sb of scales_l, high bits at
   * 16 + 2 * sb of the first dword, brought to bits 4-5. */
  const __m512i sl0 = _mm512_setr_epi32 (0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12);
  const __m512i sl1 = _mm512_add_epi32 (sl0, _mm512_set1_epi32 (16));
  const __m512i sh0 = _mm512_setr_epi32 (12, 12, 12, 12, 14, 14, 14, 14, 16, 16, 16, 16, 18, 18,
                                         18, 18);
  const __m512i sh1 = _mm512_add_epi32 (sh0, _mm512_set1_epi32 (8));
  const __m512i m15 = _mm512_set1_epi32 (15), m48 = _mm512_set1_epi32 (48);
  const __m512i c32 = _mm512_set1_epi32 (32);

  for (int64_t r = 0; r < nr; r++)
    out[r] = 0.0f;

  for (int64_t s0 = 0; s0 < nsb; s0 += GEMV_XS_KS)
    {
      const int64_t kn = nsb - s0 < GEMV_XS_KS ? nsb - s0 : GEMV_XS_KS;

      for (int64_t i = 0; i < kn; i++)
        {
          const sm_block_q8_K *yb = y + s0 + i;
          dy[i] = yb->d;
          for (int sb = 0; sb < 8; sb++)
            {
              const int h = sb / 4, l = sb % 4;
              memcpy (yq[i] + 128 * h + 16 * l, yb->qs + 32 * sb, 16);
              memcpy (yq[i] + 128 * h + 64 + 16 * l, yb->qs + 32 * sb + 16, 16);
              const int32_t o = 128 * (yb->bsums[2 * sb] + yb->bsums[2 * sb + 1]);
              for (int k = 0; k < 4; k++)
                oy[i][16 * h + 4 * l + k] = o;
            }
        }

      for (int64_t g = 0; g < n_pass; g++)
        {
          /* The four rows of pass g (sm-gemv-walk.h). */
          const uint8_t *rows[4];
          int64_t ri[4];
          const size_t ahead = sm_gemv_walk_ahead (&walk, g);
          for (int i = 0; i < 4; i++)
            {
              ri[i] = sm_gemv_walk_row (&walk, g, i);
              rows[i] = wp + (size_t) ri[i] * ws + (size_t) s0 * bs;
            }
          __m512 acc = _mm512_setzero_ps ();

          for (int64_t i = 0; i < kn; i++)
            {
              const size_t off = (size_t) i * bs;
              sm_gemv_prefetch (rows, 4, ahead, off, bs);

              const __m512i ya0 = _mm512_load_si512 ((const void *) yq[i]);
              const __m512i yb0 = _mm512_load_si512 ((const void *) (yq[i] + 64));
              const __m512i ya1 = _mm512_load_si512 ((const void *) (yq[i] + 128));
              const __m512i yb1 = _mm512_load_si512 ((const void *) (yq[i] + 192));
              __m512i p0[4], p1[4];
              for (int r = 0; r < 4; r++)
                {
                  const uint8_t *q = rows[r] + off + 8;
                  p0[r] = xs_half (q, lut, m4, ya0, yb0);
                  p1[r] = xs_half (q + 64, lut, m4, ya1, yb1);
                }
              const __m512i t0 = _mm512_sub_epi32 (transpose_sum4 (p0[0], p0[1], p0[2], p0[3]),
                                                   _mm512_load_si512 ((const void *) oy[i]));
              const __m512i t1 = _mm512_sub_epi32 (transpose_sum4 (p1[0], p1[1], p1[2], p1[3]),
                                                   _mm512_load_si512 ((const void *) (oy[i] + 16)));

              const __m256i hdr = _mm256_setr_epi64x (
                  (long long) load_u64 (rows[0] + off), (long long) load_u64 (rows[1] + off),
                  (long long) load_u64 (rows[2] + off), (long long) load_u64 (rows[3] + off));
              const __m512i vh = _mm512_permutexvar_epi32 (idx_h, _mm512_castsi256_si512 (hdr));
              const __m512i vl = _mm512_permutexvar_epi32 (idx_l, _mm512_castsi256_si512 (hdr));
              const __m512i sc0 = _mm512_sub_epi32 (
                  _mm512_or_si512 (_mm512_and_si512 (_mm512_srlv_epi32 (vl, sl0), m15),
                                   _mm512_and_si512 (_mm512_srlv_epi32 (vh, sh0), m48)),
                  c32);
              const __m512i sc1 = _mm512_sub_epi32 (
                  _mm512_or_si512 (_mm512_and_si512 (_mm512_srlv_epi32 (vl, sl1), m15),
                                   _mm512_and_si512 (_mm512_srlv_epi32 (vh, sh1), m48)),
                  c32);
              const __m512i isum = _mm512_add_epi32 (_mm512_mullo_epi32 (t0, sc0),
                                                     _mm512_mullo_epi32 (t1, sc1));
              const __m512 dx = _mm512_cvtph_ps (_mm512_cvtepi32_epi16 (vh));
              acc = _mm512_fmadd_ps (_mm512_cvtepi32_ps (isum),
                                     _mm512_mul_ps (dx, _mm512_set1_ps (dy[i])), acc);
            }

          float lanes[16];
          _mm512_storeu_ps (lanes, acc);
          for (int i = 0; i < 4 && sm_gemv_walk_lane_used (&walk, g, i); i++)
            out[ri[i]] += (lanes[i] + lanes[4 + i]) + (lanes[8 + i] + lanes[12 + i]);
        }
    }
}

void
sm_gemv_fill_avx512 (sm_gemv_fn gemv[SM_TYPE_COUNT])
{
  gemv[SM_TYPE_Q8_0] = avx512_gemv_q8_0;
  gemv[SM_TYPE_Q4_0] = avx512_gemv_q4_0;
  gemv[SM_TYPE_IQ4_NL] = avx512_gemv_iq4_nl;
  gemv[SM_TYPE_IQ4_XS] = avx512_gemv_iq4_xs;
}
