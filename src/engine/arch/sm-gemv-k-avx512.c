/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-gemv-k-avx512.c: multi-row kernels for one activation row (generation, n = 1) of the
 * 256-element K formats Q6_K, Q4_K and Q5_K, AVX-512 BW + VNNI, reading the ggml block layout
 * as it is in the file (no repacking).
 *
 * Four rows go through each super-block together, so the activation block (Q8_K) is loaded
 * once for the four; the rows are read and prefetched in the order sm-gemv-walk.h says. The
 * per-super-block work that depends on the activations alone is done once per call for all
 * rows: the negated 16-element sums for the Q6_K -32 offset, the 32-element sums for the
 * Q4_K/Q5_K mins, and for Q4_K/Q5_K the activations reordered so that one zmm of nibbles (low
 * nibbles of 64 bytes = sub-blocks 4j and 4j + 2, high nibbles = 4j + 1 and 4j + 3) meets its
 * activations in one load. Per row and super-block: Q6_K's codes are one vpternlogd bit-select
 * per 64 (the two high bits of both halves of a zmm moved into place by one variable shift),
 * Q5_K's fifth bits are merged by one variable shift and one vpternlogd; the codes go through
 * vpmaddubsw, and the 16-bit sub-block scales are applied and accumulated by one vpdpwssd per
 * 64 codes (the scale vector one vpermw); one int -> float conversion and one FMA per
 * super-block and row. Compiled with the avx512 flags of meson.build; only called after
 * sm-dispatch.c has checked the CPU.
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

/* vpternlogd immediate for c ? a : b (bitwise select by the third operand). */
#define SEL_CAB 0xE4

enum
{
  KIND_Q6_K,
  KIND_Q4_K,
  KIND_Q5_K,
};

/* The activation work shared by all rows of a pass. */
typedef struct
{
  float   yd[GEMV_K_KB];
  int16_t bs[GEMV_K_KB][16];     /* Q6_K: -bsums; Q4_K/Q5_K: 32-element sums (8 used) */
  int8_t  q[GEMV_K_KB][SM_QK_K]; /* Q4_K/Q5_K: reordered activations */
} act_prep;

typedef struct
{
  __m512i m4, m10, hmask, hshl, hshr, h5[4];
  __m512i idx[4];
  __m512i idx1[4]; /* Q4_K/Q5_K four-row pass: idx of the second row of a 256-bit half */
} k_consts;

static inline float
h2f (sm_half h)
{
  return _cvtsh_ss (h);
}

/* Index vector for vpermw: four runs of 8 lanes taking int16 lanes a, b, c, d. */
static inline __m512i
runs_index (int a, int b, int c, int d)
{
  return _mm512_inserti64x4 (
      _mm512_castsi256_si512 (
          _mm256_set_m128i (_mm_set1_epi16 ((short) b), _mm_set1_epi16 ((short) a))),
      _mm256_set_m128i (_mm_set1_epi16 ((short) d), _mm_set1_epi16 ((short) c)), 1);
}

static inline void
consts_init (int kind, k_consts *k)
{
  k->m4 = _mm512_set1_epi8 (0x0F);
  /* Q6_K: the 32 qh bytes of a half are broadcast to both 256-bit halves of a zmm; the low
   * half (elements 0..31 and 64..95 of the 128) keeps bits 0, 1, 4, 5, the high half (32..63,
   * 96..127) bits 2, 3, 6, 7. Shifting the low half left by 4 and the high half by 2 puts the
   * pair of the first 64 elements at bits 4-5; shifting by 0 and right by 2 that of the second
   * 64. Bits 0-3 (and what a 16-bit shift leaks there) are replaced by the nibble. */
  k->hmask = _mm512_inserti64x4 (_mm512_set1_epi8 (0x33), _mm256_set1_epi8 ((char) 0xCC), 1);
  k->hshl = _mm512_inserti64x4 (_mm512_set1_epi16 (4), _mm256_set1_epi16 (2), 1);
  k->hshr = _mm512_inserti64x4 (_mm512_setzero_si512 (), _mm256_set1_epi16 (2), 1);
  /* Q5_K: the fifth bit of the low nibbles of 64-byte part j is bit 4j of qh[l] (bytes 0-31)
   * and 4j + 2 (bytes 32-63), of the high nibbles 4j + 1 and 4j + 3; these shift counts
   * (left for part 0: h5[0], h5[1]; right for part 1: h5[2], h5[3]) bring it to bit 4 of the
   * broadcast qh. What 16-bit shifts carry across bytes never reaches bit 4. */
  k->m10 = _mm512_set1_epi8 (0x10);
  k->h5[0] = _mm512_inserti64x4 (_mm512_set1_epi16 (4), _mm256_set1_epi16 (2), 1);
  k->h5[1] = _mm512_inserti64x4 (_mm512_set1_epi16 (3), _mm256_set1_epi16 (1), 1);
  k->h5[2] = _mm512_inserti64x4 (_mm512_setzero_si512 (), _mm256_set1_epi16 (2), 1);
  k->h5[3] = _mm512_inserti64x4 (_mm512_set1_epi16 (1), _mm256_set1_epi16 (3), 1);
  if (kind == KIND_Q6_K)
    for (int j = 0; j < 4; j++)
      k->idx[j] = runs_index (4 * j, 4 * j + 1, 4 * j + 2, 4 * j + 3);
  else
    for (int j = 0; j < 2; j++)
      {
        k->idx[2 * j] = runs_index (4 * j, 4 * j, 4 * j + 2, 4 * j + 2);
        k->idx[2 * j + 1] = runs_index (4 * j + 1, 4 * j + 1, 4 * j + 3, 4 * j + 3);
      }
  for (int j = 0; j < 4; j++)
    k->idx1[j] = _mm512_add_epi16 (k->idx[j], _mm512_set1_epi16 (16));
}

static void
prepare (int kind, const sm_block_q8_K *y, int64_t kn, act_prep *p)
{
  for (int64_t b = 0; b < kn; b++)
    {
      p->yd[b] = y[b].d;
      if (kind == KIND_Q6_K)
        {
          for (int s = 0; s < 16; s++)
            p->bs[b][s] = (int16_t) -y[b].bsums[s];
          continue;
        }
      /* Q4_K and Q5_K. */
      for (int s = 0; s < 8; s++)
        p->bs[b][s] = (int16_t) (y[b].bsums[2 * s] + y[b].bsums[2 * s + 1]);
      for (int s = 8; s < 16; s++)
        p->bs[b][s] = 0;
      /* Per 128 elements: 0..31, 64..95, 32..63, 96..127. */
      for (int j = 0; j < 2; j++)
        {
          memcpy (p->q[b] + 128 * j, y[b].qs + 128 * j, 32);
          memcpy (p->q[b] + 128 * j + 32, y[b].qs + 128 * j + 64, 32);
          memcpy (p->q[b] + 128 * j + 64, y[b].qs + 128 * j + 32, 32);
          memcpy (p->q[b] + 128 * j + 96, y[b].qs + 128 * j + 96, 32);
        }
    }
}

/* One Q6_K super-block of one row, added to acc. */
static inline __attribute__ ((always_inline)) __m512
block_q6_K (const sm_block_q6_K *x, const int8_t *yq, const int16_t *negb, float yd,
            const k_consts *k, __m512 acc)
{
  const __m256i sc16 = _mm256_cvtepi8_epi16 (_mm_loadu_si128 ((const __m128i *) x->scales));
  const __m512i scz = _mm512_castsi256_si512 (sc16);
  /* The -32 offset: sum_s (32 sc[s]) * (-bsums[s]) starts the sum (|32 sc| <= 4096). */
  __m512i sumi = _mm512_zextsi256_si512 (
      _mm256_madd_epi16 (_mm256_slli_epi16 (sc16, 5), _mm256_loadu_si256 ((const __m256i *) negb)));
#pragma GCC unroll 2
  for (int h = 0; h < 2; h++)
    {
      const __m512i l = _mm512_loadu_si512 (x->ql + 64 * h);
      const __m512i hb = _mm512_and_si512 (
          _mm512_broadcast_i64x4 (_mm256_loadu_si256 ((const __m256i *) (x->qh + 32 * h))),
          k->hmask);
      const __m512i c01 = _mm512_ternarylogic_epi32 (l, _mm512_sllv_epi16 (hb, k->hshl), k->m4,
                                                     SEL_CAB);
      const __m512i c23 = _mm512_ternarylogic_epi32 (_mm512_srli_epi16 (l, 4),
                                                     _mm512_srlv_epi16 (hb, k->hshr), k->m4,
                                                     SEL_CAB);
      const __m512i p0 = _mm512_maddubs_epi16 (c01, _mm512_loadu_si512 (yq + 128 * h));
      const __m512i p1 = _mm512_maddubs_epi16 (c23, _mm512_loadu_si512 (yq + 128 * h + 64));
      sumi = _mm512_dpwssd_epi32 (sumi, p0, _mm512_permutexvar_epi16 (k->idx[2 * h], scz));
      sumi = _mm512_dpwssd_epi32 (sumi, p1, _mm512_permutexvar_epi16 (k->idx[2 * h + 1], scz));
    }
  return _mm512_fmadd_ps (_mm512_cvtepi32_ps (sumi), _mm512_set1_ps (yd * h2f (x->d)), acc);
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

/* The codes' part of one Q4_K (bits5 false) or Q5_K super-block at xb: sum over its 8
 * sub-blocks of scale * (codes . activations) in 16 int32 lanes, the int16 scales taken from
 * the words of sc by idx (runs_index patterns: k->idx, or k->idx1 for the second row of a
 * pair). */
static inline __attribute__ ((always_inline)) __m512i
codes_q4_5_K (const uint8_t *xb, bool bits5, const int8_t *yq, const k_consts *k,
              const __m512i *idx, __m512i sc)
{
  const uint8_t *qs = xb + 16 + (bits5 ? 32 : 0);
  const __m512i hq
      = bits5 ? _mm512_broadcast_i64x4 (_mm256_loadu_si256 ((const __m256i *) (xb + 16)))
              : _mm512_setzero_si512 ();
  __m512i sumi = _mm512_setzero_si512 ();
#pragma GCC unroll 2
  for (int j = 0; j < 2; j++)
    {
      const __m512i q = _mm512_loadu_si512 (qs + 64 * j);
      __m512i lo = _mm512_and_si512 (q, k->m4);
      __m512i hi = _mm512_and_si512 (_mm512_srli_epi16 (q, 4), k->m4);
      if (bits5)
        {
          /* lo | (bit & 0x10): vpternlogd a | (b & c) = 0xF8. */
          const __m512i b0 = j == 0 ? _mm512_sllv_epi16 (hq, k->h5[0])
                                    : _mm512_srlv_epi16 (hq, k->h5[2]);
          const __m512i b1 = j == 0 ? _mm512_sllv_epi16 (hq, k->h5[1])
                                    : _mm512_srlv_epi16 (hq, k->h5[3]);
          lo = _mm512_ternarylogic_epi32 (lo, b0, k->m10, 0xF8);
          hi = _mm512_ternarylogic_epi32 (hi, b1, k->m10, 0xF8);
        }
      const __m512i p0 = _mm512_maddubs_epi16 (lo, _mm512_loadu_si512 (yq + 128 * j));
      const __m512i p1 = _mm512_maddubs_epi16 (hi, _mm512_loadu_si512 (yq + 128 * j + 64));
      sumi = _mm512_dpwssd_epi32 (sumi, p0, _mm512_permutexvar_epi16 (idx[2 * j], sc));
      sumi = _mm512_dpwssd_epi32 (sumi, p1, _mm512_permutexvar_epi16 (idx[2 * j + 1], sc));
    }
  return sumi;
}

/* One Q4_K (bits5 false) or Q5_K super-block of one row at xb: the scaled dot added to acc,
 * the min term to accm. Both block types start with d, dmin, scales[12]; Q5_K then has
 * qh[32]. */
static inline __attribute__ ((always_inline)) __m512
block_q4_5_K (const uint8_t *xb, bool bits5, const int8_t *yq, const int16_t *bs32, float yd,
              const k_consts *k, __m512 acc, __m128 *accm)
{
  sm_half d, dmin;
  memcpy (&d, xb, 2);
  memcpy (&dmin, xb + 2, 2);
  uint64_t sc, mn;
  k4_unpack (xb + 4, &sc, &mn);
  const __m512i scz
      = _mm512_castsi128_si512 (_mm_cvtepu8_epi16 (_mm_cvtsi64_si128 ((long long) sc)));
  const __m128i mt = _mm_madd_epi16 (_mm_cvtepu8_epi16 (_mm_cvtsi64_si128 ((long long) mn)),
                                     _mm_loadu_si128 ((const __m128i *) bs32));
  *accm = _mm_fmadd_ps (_mm_cvtepi32_ps (mt), _mm_set1_ps (yd * h2f (dmin)), *accm);
  const __m512i sumi = codes_q4_5_K (xb, bits5, yq, k, k->idx, scz);
  return _mm512_fmadd_ps (_mm512_cvtepi32_ps (sumi), _mm512_set1_ps (yd * h2f (d)), acc);
}

static inline float
hsum128 (__m128 v)
{
  v = _mm_add_ps (v, _mm_movehl_ps (v, v));
  v = _mm_add_ss (v, _mm_movehdup_ps (v));
  return _mm_cvtss_f32 (v);
}

/* Super-block b of four Q4_K (bits5 false) or Q5_K rows, with the per-row header work done
 * for the four at once: the four 16-byte headers (d, dmin, scales[12]) side by side in one
 * zmm, the 6-bit scales and mins unpacked there, widened to int16 (rows 0-1 in w01, 2-3 in
 * w23: per row 8 scales then 8 mins), the mins' term of the four rows in two vpmaddwd against
 * the 32-element sums, and the eight f16 factors converted in one go. The codes' part is
 * codes_q4_5_K, with the scales permuted out of w01 / w23. */
static inline __attribute__ ((always_inline)) void
pass4_q4_5_K (const uint8_t *const rows[], size_t off, bool bits5, const int8_t *yq,
              const int16_t *bs32, float yd, const k_consts *k, __m512 acc[4], __m512 *accm01,
              __m512 *accm23)
{
  __m512i h = _mm512_broadcast_i32x4 (_mm_loadu_si128 ((const __m128i *) (rows[0] + off)));
  h = _mm512_mask_broadcast_i32x4 (h, 0x00F0, _mm_loadu_si128 ((const __m128i *) (rows[1] + off)));
  h = _mm512_mask_broadcast_i32x4 (h, 0x0F00, _mm_loadu_si128 ((const __m128i *) (rows[2] + off)));
  h = _mm512_mask_broadcast_i32x4 (h, 0xF000, _mm_loadu_si128 ((const __m128i *) (rows[3] + off)));
  /* Per row (128-bit lane), dwords u0 u1 u2 = scales[0..11] (k4_unpack's): dwords 0 and 1 of
   * lo / hi become s_lo, m_lo / s_hi, m_hi. */
  const __m512i a = _mm512_shuffle_epi32 (h, _MM_SHUFFLE (3, 3, 2, 1));
  const __m512i u2 = _mm512_shuffle_epi32 (h, _MM_SHUFFLE (3, 3, 3, 3));
  const __m512i lo = _mm512_and_si512 (a, _mm512_set1_epi8 (0x3F));
  const __m512i hi = _mm512_or_si512 (
      _mm512_and_si512 (_mm512_srlv_epi32 (u2, _mm512_setr_epi32 (0, 4, 0, 0, 0, 4, 0, 0, 0, 4, 0,
                                                                   0, 0, 4, 0, 0)),
                        k->m4),
      _mm512_slli_epi32 (_mm512_and_si512 (_mm512_srli_epi32 (a, 6), _mm512_set1_epi8 (0x03)),
                         4));
  /* Per row: sc[0..7], mn[0..7] as bytes, then as int16. */
  const __m512i scmn = _mm512_unpacklo_epi32 (lo, hi);
  const __m512i w01 = _mm512_cvtepu8_epi16 (_mm512_castsi512_si256 (scmn));
  const __m512i w23 = _mm512_cvtepu8_epi16 (_mm512_extracti64x4_epi64 (scmn, 1));
  /* d0 dmin0 d1 dmin1 ... d3 dmin3, times the activation scale. */
  const __m256 f = _mm256_mul_ps (
      _mm256_cvtph_ps (_mm512_castsi512_si128 (_mm512_permutexvar_epi32 (
          _mm512_setr_epi32 (0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), h))),
      _mm256_set1_ps (yd));
  const __m512 f512 = _mm512_castps256_ps512 (f);
  /* The mins' term: words 8-15 of each row's group times the 32-element sums. */
  const __m512i bsv = _mm512_broadcast_i64x4 (_mm256_inserti128_si256 (
      _mm256_setzero_si256 (), _mm_loadu_si128 ((const __m128i *) bs32), 1));
  *accm01 = _mm512_fmadd_ps (
      _mm512_cvtepi32_ps (_mm512_madd_epi16 (w01, bsv)),
      _mm512_permutexvar_ps (_mm512_setr_epi32 (1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3),
                             f512),
      *accm01);
  *accm23 = _mm512_fmadd_ps (
      _mm512_cvtepi32_ps (_mm512_madd_epi16 (w23, bsv)),
      _mm512_permutexvar_ps (_mm512_setr_epi32 (5, 5, 5, 5, 5, 5, 5, 5, 7, 7, 7, 7, 7, 7, 7, 7),
                             f512),
      *accm23);
#pragma GCC unroll 4
  for (int i = 0; i < 4; i++)
    {
      const __m512i sumi = codes_q4_5_K (rows[i] + off, bits5, yq, k,
                                         (i & 1) ? k->idx1 : k->idx, i < 2 ? w01 : w23);
      acc[i] = _mm512_fmadd_ps (_mm512_cvtepi32_ps (sumi),
                                _mm512_permutexvar_ps (_mm512_set1_epi32 (2 * i), f512), acc[i]);
    }
}

/* The R rows at rows[] (rows ri[] of the call, prefetched ahead bytes ahead) over the kn
 * prepared super-blocks starting at super-block kb0, added to out[ri[0 .. R - 1]]. */
static inline __attribute__ ((always_inline)) void
rows_pass (int kind, int R, const uint8_t *const rows[], const int64_t ri[], size_t ahead,
           int64_t kb0, int64_t kn, const sm_block_q8_K *yk, const act_prep *p, const k_consts *k,
           float *out)
{
  const size_t bs = kind == KIND_Q6_K   ? sizeof (sm_block_q6_K)
                    : kind == KIND_Q4_K ? sizeof (sm_block_q4_K)
                                        : sizeof (sm_block_q5_K);
  __m512 acc[GEMV_K_ROWS];
  __m128 accm[GEMV_K_ROWS];
  __m512 accm01 = _mm512_setzero_ps (), accm23 = accm01;

#pragma GCC unroll 4
  for (int i = 0; i < R; i++)
    {
      acc[i] = _mm512_setzero_ps ();
      accm[i] = _mm_setzero_ps ();
    }
  for (int64_t b = 0; b < kn; b++)
    {
      const size_t off = (size_t) (kb0 + b) * bs;
      sm_gemv_prefetch (rows, R, ahead, off, bs);
      if (kind != KIND_Q6_K && R == 4)
        {
          pass4_q4_5_K (rows, off, kind == KIND_Q5_K, p->q[b], p->bs[b], p->yd[b], k, acc,
                        &accm01, &accm23);
          continue;
        }
#pragma GCC unroll 4
      for (int i = 0; i < R; i++)
        {
          const uint8_t *xb = rows[i] + off;
          if (kind == KIND_Q6_K)
            acc[i] = block_q6_K ((const sm_block_q6_K *) xb, yk[b].qs, p->bs[b], p->yd[b], k,
                                 acc[i]);
          else
            acc[i] = block_q4_5_K (xb, kind == KIND_Q5_K, p->q[b], p->bs[b], p->yd[b], k,
                                   acc[i], &accm[i]);
        }
    }
  if (kind != KIND_Q6_K && R == 4)
    {
      /* The mins' term of row i lies in 256-bit half i % 2 of accm01 (rows 0, 1) or accm23. */
      float m[32];
      _mm512_storeu_ps (m, accm01);
      _mm512_storeu_ps (m + 16, accm23);
      for (int i = 0; i < 4; i++)
        {
          float t = 0.0f;
          for (int l = 0; l < 8; l++)
            t += m[8 * i + l];
          out[ri[i]] += _mm512_reduce_add_ps (acc[i]) - t;
        }
      return;
    }
#pragma GCC unroll 4
  for (int i = 0; i < R; i++)
    out[ri[i]] += _mm512_reduce_add_ps (acc[i]) - (kind == KIND_Q6_K ? 0.0f : hsum128 (accm[i]));
}

static inline __attribute__ ((always_inline)) void
gemv_k (int kind, int64_t n, const void *w, size_t ws, int64_t nr, const void *a, float *out)
{
  const int64_t nb = n / SM_QK_K;
  const sm_block_q8_K *y = a;
  const uint8_t *wp = w;
  const sm_gemv_walk walk = sm_gemv_walk_init (nr, ws, GEMV_K_ROWS);
  act_prep p __attribute__ ((aligned (64)));
  k_consts k;

  consts_init (kind, &k);
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
                     y + kb0, &p, &k, out);
        }
      for (int64_t r = nr / GEMV_K_ROWS * GEMV_K_ROWS; r < nr; r++)
        {
          const uint8_t *row = wp + (size_t) r * ws;
          rows_pass (kind, 1, &row, &r, ws, kb0, kn, y + kb0, &p, &k, out);
        }
    }
}

static void
avx512_gemv_q6_K (int64_t n, const void *w, size_t ws, int64_t nr, const void *a, float *out)
{
  gemv_k (KIND_Q6_K, n, w, ws, nr, a, out);
}

static void
avx512_gemv_q4_K (int64_t n, const void *w, size_t ws, int64_t nr, const void *a, float *out)
{
  gemv_k (KIND_Q4_K, n, w, ws, nr, a, out);
}

static void
avx512_gemv_q5_K (int64_t n, const void *w, size_t ws, int64_t nr, const void *a, float *out)
{
  gemv_k (KIND_Q5_K, n, w, ws, nr, a, out);
}

void
sm_gemv_fill_k_avx512 (sm_gemv_fn gemv[SM_TYPE_COUNT])
{
  gemv[SM_TYPE_Q6_K] = avx512_gemv_q6_K;
  gemv[SM_TYPE_Q4_K] = avx512_gemv_q4_K;
  gemv[SM_TYPE_Q5_K] = avx512_gemv_q5_K;
}
