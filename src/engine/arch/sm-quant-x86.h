/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-quant-x86.h: the 256-bit x86 kernels, written once and compiled twice: by
 * sm-quant-avx2.c (AVX2 + FMA + F16C) and by sm-quant-avx512.c with SM_X86_VNNI defined (the
 * same ISA plus AVX-512 VL/VNNI, where one vpdpbusd replaces the maddubs + madd + add triple).
 * Included only by those two files; every function is static. Each kernel handles whole blocks
 * in an unrolled vector loop and finishes the odd blocks (or elements) in a scalar tail.
 *
 * The recurring trick: x86 has no signed x signed byte multiply. vpmaddubsw (and vpdpbusd)
 * multiply unsigned by signed bytes, so a signed product x*y is formed as |x| * (y with the sign
 * of x) (vpsignb does both halves). Nibble formats are already unsigned and skip that step.
 */
#pragma once

#include <immintrin.h>

#include "sm-quant-private.h"

/* ---- Small helpers ---- */

static inline float
hsum_ps256 (__m256 v)
{
  __m128 s = _mm_add_ps (_mm256_castps256_ps128 (v), _mm256_extractf128_ps (v, 1));
  s = _mm_add_ps (s, _mm_movehl_ps (s, s));
  s = _mm_add_ss (s, _mm_movehdup_ps (s));
  return _mm_cvtss_f32 (s);
}

static inline int
hsum_epi32_256 (__m256i v)
{
  __m128i s = _mm_add_epi32 (_mm256_castsi256_si128 (v), _mm256_extracti128_si256 (v, 1));
  s = _mm_add_epi32 (s, _mm_shuffle_epi32 (s, _MM_SHUFFLE (1, 0, 3, 2)));
  s = _mm_add_epi32 (s, _mm_shuffle_epi32 (s, _MM_SHUFFLE (2, 3, 0, 1)));
  return _mm_cvtsi128_si32 (s);
}

static inline float
x86_h2f (sm_half h)
{
  return _cvtsh_ss (h);
}

static inline __m256i
loadu256 (const void *p)
{
  return _mm256_loadu_si256 ((const __m256i *) p);
}

/* acc + sum over groups of 4 bytes of u[k] * s[k] (u unsigned, s signed), into 8 int32 lanes.
 * Without VNNI the pairwise int16 sums of vpmaddubsw cannot saturate for the operands used
 * here (|u| <= 128, |s| <= 127, so |pair| <= 32512). */
static inline __m256i
dot_us8 (__m256i acc, __m256i u, __m256i s)
{
#ifdef SM_X86_VNNI
  return _mm256_dpbusd_epi32 (acc, u, s);
#else
  return _mm256_add_epi32 (acc,
                           _mm256_madd_epi16 (_mm256_maddubs_epi16 (u, s), _mm256_set1_epi16 (1)));
#endif
}

/* Signed x signed: |x| * sign(x) y. */
static inline __m256i
dot_s8 (__m256i acc, __m256i x, __m256i y)
{
  return dot_us8 (acc, _mm256_sign_epi8 (x, x), _mm256_sign_epi8 (y, x));
}

/* 16 bytes of packed nibbles -> 32 bytes: low nibbles (elements 0..15) in the low lane, high
 * nibbles (elements 16..31) in the high lane, i.e. element order. */
static inline __m256i
unpack_nibbles (const uint8_t *qs)
{
  const __m128i q = _mm_loadu_si128 ((const __m128i *) qs);
  const __m256i v = _mm256_set_m128i (_mm_srli_epi16 (q, 4), q);
  return _mm256_and_si256 (v, _mm256_set1_epi8 (0x0F));
}

/* ---- Plain float types ---- */

static float
x86_dot_f32 (int64_t n, const void *w, const void *a)
{
  const float *x = w, *y = a;
  __m256 s0 = _mm256_setzero_ps (), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;

  for (; i + 32 <= n; i += 32)
    {
      s0 = _mm256_fmadd_ps (_mm256_loadu_ps (x + i), _mm256_loadu_ps (y + i), s0);
      s1 = _mm256_fmadd_ps (_mm256_loadu_ps (x + i + 8), _mm256_loadu_ps (y + i + 8), s1);
      s2 = _mm256_fmadd_ps (_mm256_loadu_ps (x + i + 16), _mm256_loadu_ps (y + i + 16), s2);
      s3 = _mm256_fmadd_ps (_mm256_loadu_ps (x + i + 24), _mm256_loadu_ps (y + i + 24), s3);
    }
  for (; i + 8 <= n; i += 8)
    s0 = _mm256_fmadd_ps (_mm256_loadu_ps (x + i), _mm256_loadu_ps (y + i), s0);
  float sum = hsum_ps256 (_mm256_add_ps (_mm256_add_ps (s0, s1), _mm256_add_ps (s2, s3)));
  for (; i < n; i++)
    sum += x[i] * y[i];
  return sum;
}

static inline __m256
load_f16x8 (const uint16_t *p)
{
  return _mm256_cvtph_ps (_mm_loadu_si128 ((const __m128i *) p));
}

static float
x86_dot_f16 (int64_t n, const void *w, const void *a)
{
  const uint16_t *x = w, *y = a;
  __m256 s0 = _mm256_setzero_ps (), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;

  for (; i + 32 <= n; i += 32)
    {
      s0 = _mm256_fmadd_ps (load_f16x8 (x + i), load_f16x8 (y + i), s0);
      s1 = _mm256_fmadd_ps (load_f16x8 (x + i + 8), load_f16x8 (y + i + 8), s1);
      s2 = _mm256_fmadd_ps (load_f16x8 (x + i + 16), load_f16x8 (y + i + 16), s2);
      s3 = _mm256_fmadd_ps (load_f16x8 (x + i + 24), load_f16x8 (y + i + 24), s3);
    }
  for (; i + 8 <= n; i += 8)
    s0 = _mm256_fmadd_ps (load_f16x8 (x + i), load_f16x8 (y + i), s0);
  float sum = hsum_ps256 (_mm256_add_ps (_mm256_add_ps (s0, s1), _mm256_add_ps (s2, s3)));
  for (; i < n; i++)
    sum += x86_h2f (x[i]) * x86_h2f (y[i]);
  return sum;
}

/* bf16 -> f32 is a 16-bit left shift of the bits: widen to 32 bits and shift. */
static inline __m256
load_bf16x8 (const uint16_t *p)
{
  const __m256i v = _mm256_cvtepu16_epi32 (_mm_loadu_si128 ((const __m128i *) p));
  return _mm256_castsi256_ps (_mm256_slli_epi32 (v, 16));
}

static float
x86_dot_bf16 (int64_t n, const void *w, const void *a)
{
  const uint16_t *x = w, *y = a;
  __m256 s0 = _mm256_setzero_ps (), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;

  for (; i + 32 <= n; i += 32)
    {
      s0 = _mm256_fmadd_ps (load_bf16x8 (x + i), load_bf16x8 (y + i), s0);
      s1 = _mm256_fmadd_ps (load_bf16x8 (x + i + 8), load_bf16x8 (y + i + 8), s1);
      s2 = _mm256_fmadd_ps (load_bf16x8 (x + i + 16), load_bf16x8 (y + i + 16), s2);
      s3 = _mm256_fmadd_ps (load_bf16x8 (x + i + 24), load_bf16x8 (y + i + 24), s3);
    }
  for (; i + 8 <= n; i += 8)
    s0 = _mm256_fmadd_ps (load_bf16x8 (x + i), load_bf16x8 (y + i), s0);
  float sum = hsum_ps256 (_mm256_add_ps (_mm256_add_ps (s0, s1), _mm256_add_ps (s2, s3)));
  for (; i < n; i++)
    sum += sm_bf16_to_float (x[i]) * sm_bf16_to_float (y[i]);
  return sum;
}

/* ---- 32-element formats against Q8_0 ---- */

static float
x86_dot_q8_0 (int64_t n, const void *w, const void *a)
{
  const sm_block_q8_0 *x = w, *y = a;
  const int64_t nb = n / SM_QK8_0;
  __m256 acc0 = _mm256_setzero_ps (), acc1 = acc0;
  int64_t i = 0;

  /* Two blocks per step so two independent FMA chains hide each other's latency. */
  for (; i + 1 < nb; i += 2)
    {
      const __m256i p0 = dot_s8 (_mm256_setzero_si256 (), loadu256 (x[i].qs), loadu256 (y[i].qs));
      const __m256i p1
          = dot_s8 (_mm256_setzero_si256 (), loadu256 (x[i + 1].qs), loadu256 (y[i + 1].qs));
      acc0 = _mm256_fmadd_ps (_mm256_cvtepi32_ps (p0),
                              _mm256_set1_ps (x86_h2f (x[i].d) * x86_h2f (y[i].d)), acc0);
      acc1 = _mm256_fmadd_ps (_mm256_cvtepi32_ps (p1),
                              _mm256_set1_ps (x86_h2f (x[i + 1].d) * x86_h2f (y[i + 1].d)), acc1);
    }
  float sum = hsum_ps256 (_mm256_add_ps (acc0, acc1));
  for (; i < nb; i++)
    {
      int sumi = 0;
      for (int j = 0; j < SM_QK8_0; j++)
        sumi += x[i].qs[j] * y[i].qs[j];
      sum += sumi * (x86_h2f (x[i].d) * x86_h2f (y[i].d));
    }
  return sum;
}

static float
x86_dot_q4_0 (int64_t n, const void *w, const void *a)
{
  const sm_block_q4_0 *x = w;
  const sm_block_q8_0 *y = a;
  const int64_t nb = n / SM_QK8_0;
  const __m256i off = _mm256_set1_epi8 (8);
  __m256 acc0 = _mm256_setzero_ps (), acc1 = acc0;
  int64_t i = 0;

  for (; i + 1 < nb; i += 2)
    {
      /* Codes are 0..15 with an offset of 8: subtract it to get signed bytes. */
      const __m256i q0 = _mm256_sub_epi8 (unpack_nibbles (x[i].qs), off);
      const __m256i q1 = _mm256_sub_epi8 (unpack_nibbles (x[i + 1].qs), off);
      const __m256i p0 = dot_s8 (_mm256_setzero_si256 (), q0, loadu256 (y[i].qs));
      const __m256i p1 = dot_s8 (_mm256_setzero_si256 (), q1, loadu256 (y[i + 1].qs));
      acc0 = _mm256_fmadd_ps (_mm256_cvtepi32_ps (p0),
                              _mm256_set1_ps (x86_h2f (x[i].d) * x86_h2f (y[i].d)), acc0);
      acc1 = _mm256_fmadd_ps (_mm256_cvtepi32_ps (p1),
                              _mm256_set1_ps (x86_h2f (x[i + 1].d) * x86_h2f (y[i + 1].d)), acc1);
    }
  float sum = hsum_ps256 (_mm256_add_ps (acc0, acc1));
  for (; i < nb; i++)
    {
      int sumi = 0;
      for (int j = 0; j < 16; j++)
        sumi += ((x[i].qs[j] & 0x0F) - 8) * y[i].qs[j] + ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
      sum += sumi * x86_h2f (x[i].d) * x86_h2f (y[i].d);
    }
  return sum;
}

/* The 32 bits of a Q5 qh word -> 32 bytes of 0x10 or 0: byte j takes byte j/8 of the word
 * (vpshufb), keeps bit j%8 (AND with 1,2,4,..,128), and the compare turns it into a mask. */
static inline __m256i
q5_high_bits (const uint8_t *qh)
{
  uint32_t bits;
  memcpy (&bits, qh, 4);
  const __m256i v = _mm256_set1_epi32 ((int) bits);
  const __m256i ctl = _mm256_setr_epi8 (0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2,
                                        2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i spread = _mm256_shuffle_epi8 (v, ctl);
  const __m256i sel = _mm256_set1_epi64x ((long long) 0x8040201008040201ull);
  const __m256i set = _mm256_cmpeq_epi8 (_mm256_and_si256 (spread, sel), sel);
  return _mm256_and_si256 (set, _mm256_set1_epi8 (0x10));
}

static float
x86_dot_q5_0 (int64_t n, const void *w, const void *a)
{
  const sm_block_q5_0 *x = w;
  const sm_block_q8_0 *y = a;
  const __m256i off = _mm256_set1_epi8 (16);
  __m256 acc = _mm256_setzero_ps ();

  for (int64_t i = 0; i < n / SM_QK5_0; i++)
    {
      const __m256i q = _mm256_sub_epi8 (
          _mm256_or_si256 (unpack_nibbles (x[i].qs), q5_high_bits (x[i].qh)), off);
      const __m256i p = dot_s8 (_mm256_setzero_si256 (), q, loadu256 (y[i].qs));
      acc = _mm256_fmadd_ps (_mm256_cvtepi32_ps (p),
                             _mm256_set1_ps (x86_h2f (x[i].d) * x86_h2f (y[i].d)), acc);
    }
  return hsum_ps256 (acc);
}

/* Q4_1 / Q5_1 against Q8_1: unsigned codes times signed activations, plus m * s per block (s is
 * d * sum of the activation codes, stored in the Q8_1 block). */
static float
x86_dot_q4_1 (int64_t n, const void *w, const void *a)
{
  const sm_block_q4_1 *x = w;
  const sm_block_q8_1 *y = a;
  __m256 acc = _mm256_setzero_ps ();
  float summs = 0;

  for (int64_t i = 0; i < n / SM_QK4_1; i++)
    {
      const __m256i p
          = dot_us8 (_mm256_setzero_si256 (), unpack_nibbles (x[i].qs), loadu256 (y[i].qs));
      acc = _mm256_fmadd_ps (_mm256_cvtepi32_ps (p),
                             _mm256_set1_ps (x86_h2f (x[i].d) * x86_h2f (y[i].d)), acc);
      summs += x86_h2f (x[i].m) * x86_h2f (y[i].s);
    }
  return hsum_ps256 (acc) + summs;
}

static float
x86_dot_q5_1 (int64_t n, const void *w, const void *a)
{
  const sm_block_q5_1 *x = w;
  const sm_block_q8_1 *y = a;
  __m256 acc = _mm256_setzero_ps ();
  float summs = 0;

  for (int64_t i = 0; i < n / SM_QK5_1; i++)
    {
      const __m256i q = _mm256_or_si256 (unpack_nibbles (x[i].qs), q5_high_bits (x[i].qh));
      const __m256i p = dot_us8 (_mm256_setzero_si256 (), q, loadu256 (y[i].qs));
      acc = _mm256_fmadd_ps (_mm256_cvtepi32_ps (p),
                             _mm256_set1_ps (x86_h2f (x[i].d) * x86_h2f (y[i].d)), acc);
      summs += x86_h2f (x[i].m) * x86_h2f (y[i].s);
    }
  return hsum_ps256 (acc) + summs;
}

/* The 16 IQ4 levels fit one 128-bit register: vpshufb turns nibbles into levels. */
static inline __m256i
iq4_lut (void)
{
  return _mm256_broadcastsi128_si256 (_mm_loadu_si128 ((const __m128i *) sm_kvalues_iq4nl));
}

static float
x86_dot_iq4_nl (int64_t n, const void *w, const void *a)
{
  const sm_block_iq4_nl *x = w;
  const sm_block_q8_0 *y = a;
  const int64_t nb = n / SM_QK4_NL;
  const __m256i lut = iq4_lut ();
  __m256 acc0 = _mm256_setzero_ps (), acc1 = acc0;
  int64_t i = 0;

  for (; i + 1 < nb; i += 2)
    {
      const __m256i q0 = _mm256_shuffle_epi8 (lut, unpack_nibbles (x[i].qs));
      const __m256i q1 = _mm256_shuffle_epi8 (lut, unpack_nibbles (x[i + 1].qs));
      const __m256i p0 = dot_s8 (_mm256_setzero_si256 (), q0, loadu256 (y[i].qs));
      const __m256i p1 = dot_s8 (_mm256_setzero_si256 (), q1, loadu256 (y[i + 1].qs));
      acc0 = _mm256_fmadd_ps (_mm256_cvtepi32_ps (p0),
                              _mm256_set1_ps (x86_h2f (x[i].d) * x86_h2f (y[i].d)), acc0);
      acc1 = _mm256_fmadd_ps (_mm256_cvtepi32_ps (p1),
                              _mm256_set1_ps (x86_h2f (x[i + 1].d) * x86_h2f (y[i + 1].d)), acc1);
    }
  float sum = hsum_ps256 (_mm256_add_ps (acc0, acc1));
  for (; i < nb; i++)
    {
      int sumi = 0;
      for (int j = 0; j < 16; j++)
        sumi += sm_kvalues_iq4nl[x[i].qs[j] & 0xf] * y[i].qs[j]
                + sm_kvalues_iq4nl[x[i].qs[j] >> 4] * y[i].qs[j + 16];
      sum += x86_h2f (x[i].d) * x86_h2f (y[i].d) * sumi;
    }
  return sum;
}

/* ---- K-quants against Q8_K ----
 * Per sub-block the codes are unsigned (Q4_K 0..15, Q5_K 0..31, Q6_K 0..63 before its -32), so
 * vpmaddubsw multiplies them with the activations directly into int16 pairs, and a vpmaddwd with
 * the sub-block scale both applies the scale and widens to int32. Offsets and mins never touch
 * the vector loop: they factor out as (min or 32) * scale * (sum of the activations), and the
 * Q8_K block carries those sums (bsums). */

/* The 8 6-bit scales (bytes 0..7 of *sc) and mins (bytes 0..7 of *mn) of a Q4_K/Q5_K block,
 * unpacked four at a time with 32-bit masks (layout: formats.md 3.2). */
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

/* sum_j mn[j] * (bsums[2j] + bsums[2j+1]) as 8 int32 lanes: duplicate each min byte and let
 * vpmaddwd pair it with the two 16-element sums of its sub-block. */
static inline __m256i
k4_min_terms (uint64_t mn, const int16_t *bsums)
{
  const __m128i m = _mm_cvtsi64_si128 ((long long) mn);
  const __m256i mdup = _mm256_cvtepu8_epi16 (_mm_unpacklo_epi8 (m, m));
  return _mm256_madd_epi16 (_mm256_loadu_si256 ((const __m256i *) bsums), mdup);
}

/* vpshufb control that copies int16 lane k of each 128-bit half to all 8 lanes. */
static inline __m256i
word_broadcast_ctl (int k)
{
  return _mm256_set1_epi16 ((short) ((2 * k) | ((2 * k + 1) << 8)));
}

/* Q4_K and Q5_K (bits5 = true) share one body: 32 bytes of nibbles per 64 elements, the low
 * nibbles being sub-block 2j, the high ones 2j + 1. The eight 8-bit scales sit as int16 in
 * both halves of one register; vpshufb broadcasts the one each sub-block needs. */
static inline float
x86_dot_q4_5_K (int64_t n, const uint8_t *xb, size_t stride, const sm_block_q8_K *y, bool bits5)
{
  const __m256i m4 = _mm256_set1_epi8 (0x0F);
  const __m256i one = _mm256_set1_epi8 (1);
  __m256 acc = _mm256_setzero_ps ();
  __m256 accm = _mm256_setzero_ps ();

  for (int64_t i = 0; i < n / SM_QK_K; i++, xb += stride)
    {
      /* Both block types start with d, dmin, scales[12]; Q5_K then has qh[32]. */
      const sm_half d = (sm_half) (xb[0] | (xb[1] << 8));
      const sm_half dmin = (sm_half) (xb[2] | (xb[3] << 8));
      const uint8_t *qs = xb + 16 + (bits5 ? 32 : 0);
      uint64_t sc, mn;
      k4_unpack (xb + 4, &sc, &mn);
      const __m256i scales
          = _mm256_broadcastsi128_si256 (_mm_cvtepu8_epi16 (_mm_cvtsi64_si128 ((long long) sc)));
      accm = _mm256_fmadd_ps (_mm256_set1_ps (y[i].d * x86_h2f (dmin)),
                              _mm256_cvtepi32_ps (k4_min_terms (mn, y[i].bsums)), accm);

      __m256i hb = bits5 ? loadu256 (xb + 16) : _mm256_setzero_si256 ();
      __m256i sumi = _mm256_setzero_si256 ();
#pragma GCC unroll 8
      for (int j = 0; j < 4; j++)
        {
          const __m256i q = loadu256 (qs + 32 * j);
          __m256i lo = _mm256_and_si256 (q, m4);
          __m256i hi = _mm256_and_si256 (_mm256_srli_epi16 (q, 4), m4);
          if (bits5)
            {
              /* Bit 2j of qh[l] is the 5th bit of element 64j + l, bit 2j + 1 that of
               * 64j + 32 + l: shift qh right by 2 per step and move bits 0 and 1 to bit 4. */
              lo = _mm256_or_si256 (lo, _mm256_slli_epi16 (_mm256_and_si256 (hb, one), 4));
              hi = _mm256_or_si256 (
                  hi, _mm256_slli_epi16 (_mm256_and_si256 (_mm256_srli_epi16 (hb, 1), one), 4));
              hb = _mm256_srli_epi16 (hb, 2);
            }
          const __m256i p0 = _mm256_maddubs_epi16 (lo, loadu256 (y[i].qs + 64 * j));
          const __m256i p1 = _mm256_maddubs_epi16 (hi, loadu256 (y[i].qs + 64 * j + 32));
          const __m256i s0 = _mm256_shuffle_epi8 (scales, word_broadcast_ctl (2 * j));
          const __m256i s1 = _mm256_shuffle_epi8 (scales, word_broadcast_ctl (2 * j + 1));
          sumi = _mm256_add_epi32 (
              sumi, _mm256_add_epi32 (_mm256_madd_epi16 (p0, s0), _mm256_madd_epi16 (p1, s1)));
        }
      acc = _mm256_fmadd_ps (_mm256_set1_ps (y[i].d * x86_h2f (d)), _mm256_cvtepi32_ps (sumi), acc);
    }
  return hsum_ps256 (acc) - hsum_ps256 (accm);
}

static float
x86_dot_q4_K (int64_t n, const void *w, const void *a)
{
  return x86_dot_q4_5_K (n, w, sizeof (sm_block_q4_K), a, false);
}

static float
x86_dot_q5_K (int64_t n, const void *w, const void *a)
{
  return x86_dot_q4_5_K (n, w, sizeof (sm_block_q5_K), a, true);
}

/* vpshufb control: int16 lane a to all of the low 128 bits, lane b to all of the high ones. */
static inline __m256i
word_pair_ctl (int a, int b)
{
  return _mm256_set_m128i (_mm_set1_epi16 ((short) ((2 * b) | ((2 * b + 1) << 8))),
                           _mm_set1_epi16 ((short) ((2 * a) | ((2 * a + 1) << 8))));
}

static float
x86_dot_q6_K (int64_t n, const void *w, const void *a)
{
  const sm_block_q6_K *x = w;
  const sm_block_q8_K *y = a;
  const __m256i m4 = _mm256_set1_epi8 (0x0F);
  const __m256i m2 = _mm256_set1_epi8 (0x03);
  __m256 acc = _mm256_setzero_ps ();

  for (int64_t i = 0; i < n / SM_QK_K; i++)
    {
      const uint8_t *ql = x[i].ql;
      const uint8_t *qh = x[i].qh;
      const int8_t *q8 = y[i].qs;
      const float d = y[i].d * x86_h2f (x[i].d);
      const __m256i sc16 = _mm256_cvtepi8_epi16 (_mm_loadu_si128 ((const __m128i *) x[i].scales));
      /* Scales 0..7 in both halves (first 128 elements), 8..15 in both (second 128). */
      const __m256i sch[2]
          = { _mm256_permute4x64_epi64 (sc16, 0x44), _mm256_permute4x64_epi64 (sc16, 0xEE) };

      /* The -32 offset, 32 * sum_s sc[s] * bsums[s], starts the integer sum. */
      __m256i sumi = _mm256_sub_epi32 (
          _mm256_setzero_si256 (),
          _mm256_slli_epi32 (_mm256_madd_epi16 (sc16, loadu256 (y[i].bsums)), 5));
#pragma GCC unroll 2
      for (int h = 0; h < 2; h++, ql += 64, qh += 32, q8 += 128)
        {
          const __m256i l0 = loadu256 (ql);
          const __m256i l1 = loadu256 (ql + 32);
          const __m256i hb = loadu256 (qh);
          /* Elements 32k + l of this half: low or high nibble of ql[l] / ql[32 + l], with bits
           * 2k, 2k+1 of qh[l] on top. */
          __m256i q[4];
          q[0] = _mm256_or_si256 (_mm256_and_si256 (l0, m4),
                                  _mm256_slli_epi16 (_mm256_and_si256 (hb, m2), 4));
          q[1] = _mm256_or_si256 (
              _mm256_and_si256 (l1, m4),
              _mm256_slli_epi16 (_mm256_and_si256 (_mm256_srli_epi16 (hb, 2), m2), 4));
          q[2] = _mm256_or_si256 (
              _mm256_and_si256 (_mm256_srli_epi16 (l0, 4), m4),
              _mm256_slli_epi16 (_mm256_and_si256 (_mm256_srli_epi16 (hb, 4), m2), 4));
          q[3] = _mm256_or_si256 (
              _mm256_and_si256 (_mm256_srli_epi16 (l1, 4), m4),
              _mm256_slli_epi16 (_mm256_and_si256 (_mm256_srli_epi16 (hb, 6), m2), 4));
#pragma GCC unroll 4
          for (int k = 0; k < 4; k++)
            {
              /* The low 128 bits hold sub-block 2k of this half, the high ones 2k + 1. */
              const __m256i p = _mm256_maddubs_epi16 (q[k], loadu256 (q8 + 32 * k));
              const __m256i s = _mm256_shuffle_epi8 (sch[h], word_pair_ctl (2 * k, 2 * k + 1));
              sumi = _mm256_add_epi32 (sumi, _mm256_madd_epi16 (p, s));
            }
        }
      acc = _mm256_fmadd_ps (_mm256_set1_ps (d), _mm256_cvtepi32_ps (sumi), acc);
    }
  return hsum_ps256 (acc);
}

/* Q2_K: 2-bit codes, 4 per byte: element 128h + 32k + l is bits 2k..2k+1 of qs[32h + l], in
 * sub-block 8h + 2k + (l >= 16). Scales (low nibbles) and mins (high nibbles) sit as int16 in a
 * register; the mins only meet the bsums. */
static float
x86_dot_q2_K (int64_t n, const void *w, const void *a)
{
  const sm_block_q2_K *x = w;
  const sm_block_q8_K *y = a;
  const __m256i m3 = _mm256_set1_epi8 (3);
  const __m128i m4 = _mm_set1_epi8 (0x0F);
  __m256 acc = _mm256_setzero_ps ();
  __m256 accm = _mm256_setzero_ps ();

  for (int64_t i = 0; i < n / SM_QK_K; i++)
    {
      const __m128i sc8 = _mm_loadu_si128 ((const __m128i *) x[i].scales);
      const __m256i sc16 = _mm256_cvtepu8_epi16 (_mm_and_si128 (sc8, m4));
      const __m256i mn16 = _mm256_cvtepu8_epi16 (_mm_and_si128 (_mm_srli_epi16 (sc8, 4), m4));
      const __m256i sch[2]
          = { _mm256_permute4x64_epi64 (sc16, 0x44), _mm256_permute4x64_epi64 (sc16, 0xEE) };
      accm = _mm256_fmadd_ps (_mm256_set1_ps (y[i].d * x86_h2f (x[i].dmin)),
                              _mm256_cvtepi32_ps (_mm256_madd_epi16 (mn16, loadu256 (y[i].bsums))),
                              accm);
      __m256i sumi = _mm256_setzero_si256 ();
#pragma GCC unroll 2
      for (int h = 0; h < 2; h++)
        {
          const __m256i bits = loadu256 (x[i].qs + 32 * h);
#pragma GCC unroll 4
          for (int k = 0; k < 4; k++)
            {
              const __m256i q = _mm256_and_si256 (_mm256_srli_epi16 (bits, 2 * k), m3);
              const __m256i p = _mm256_maddubs_epi16 (q, loadu256 (y[i].qs + 128 * h + 32 * k));
              const __m256i sv = _mm256_shuffle_epi8 (sch[h], word_pair_ctl (2 * k, 2 * k + 1));
              sumi = _mm256_add_epi32 (sumi, _mm256_madd_epi16 (p, sv));
            }
        }
      acc = _mm256_fmadd_ps (_mm256_set1_ps (y[i].d * x86_h2f (x[i].d)), _mm256_cvtepi32_ps (sumi),
                             acc);
    }
  return hsum_ps256 (acc) - hsum_ps256 (accm);
}

/* Q3_K: q = low2 - (high bit clear ? 4 : 0). The 2-bit part is unsigned, so the product is
 * maddubs(low2, y) - maddubs(4 * !bit, y); the high bit of element 128h + 32k + l is bit
 * 4h + k of hmask[l]. The 16 6-bit scales are unpacked four at a time with 32-bit masks:
 * low nibbles from bytes 0..7, the two top bits from bytes 8..11 (formats.md 3.2). */
static float
x86_dot_q3_K (int64_t n, const void *w, const void *a)
{
  const sm_block_q3_K *x = w;
  const sm_block_q8_K *y = a;
  const __m256i m3 = _mm256_set1_epi8 (3);
  const __m256i one = _mm256_set1_epi8 (1);
  __m256 acc = _mm256_setzero_ps ();

  for (int64_t i = 0; i < n / SM_QK_K; i++)
    {
      uint32_t a0, a1, t;
      memcpy (&a0, x[i].scales, 4);
      memcpy (&a1, x[i].scales + 4, 4);
      memcpy (&t, x[i].scales + 8, 4);
      const uint32_t k2 = 0x0f0f0f0fu, k3 = 0x03030303u;
      const __m128i sc8
          = _mm_sub_epi8 (_mm_setr_epi32 ((int) ((a0 & k2) | ((t & k3) << 4)),
                                          (int) ((a1 & k2) | (((t >> 2) & k3) << 4)),
                                          (int) (((a0 >> 4) & k2) | (((t >> 4) & k3) << 4)),
                                          (int) (((a1 >> 4) & k2) | (((t >> 6) & k3) << 4))),
                          _mm_set1_epi8 (32));
      const __m256i sc16 = _mm256_cvtepi8_epi16 (sc8);
      const __m256i sch[2]
          = { _mm256_permute4x64_epi64 (sc16, 0x44), _mm256_permute4x64_epi64 (sc16, 0xEE) };
      const __m256i hm = loadu256 (x[i].hmask);
      __m256i sumi = _mm256_setzero_si256 ();
#pragma GCC unroll 2
      for (int h = 0; h < 2; h++)
        {
          const __m256i bits = loadu256 (x[i].qs + 32 * h);
#pragma GCC unroll 4
          for (int k = 0; k < 4; k++)
            {
              const __m256i yv = loadu256 (y[i].qs + 128 * h + 32 * k);
              const __m256i q = _mm256_and_si256 (_mm256_srli_epi16 (bits, 2 * k), m3);
              const __m256i neg4 = _mm256_slli_epi16 (
                  _mm256_andnot_si256 (_mm256_srli_epi16 (hm, 4 * h + k), one), 2);
              const __m256i p = _mm256_sub_epi16 (_mm256_maddubs_epi16 (q, yv),
                                                  _mm256_maddubs_epi16 (neg4, yv));
              const __m256i sv = _mm256_shuffle_epi8 (sch[h], word_pair_ctl (2 * k, 2 * k + 1));
              sumi = _mm256_add_epi32 (sumi, _mm256_madd_epi16 (p, sv));
            }
        }
      acc = _mm256_fmadd_ps (_mm256_set1_ps (y[i].d * x86_h2f (x[i].d)), _mm256_cvtepi32_ps (sumi),
                             acc);
    }
  return hsum_ps256 (acc);
}

static float
x86_dot_iq4_xs (int64_t n, const void *w, const void *a)
{
  const sm_block_iq4_xs *x = w;
  const sm_block_q8_K *y = a;
  const __m256i lut = iq4_lut ();
  __m256 acc = _mm256_setzero_ps ();

  for (int64_t i = 0; i < n / SM_QK_K; i++)
    {
      __m256i sumi0 = _mm256_setzero_si256 (), sumi1 = sumi0;
#pragma GCC unroll 8
      for (int ib = 0; ib < 8; ib += 2)
        {
          const __m256i v0 = _mm256_shuffle_epi8 (lut, unpack_nibbles (x[i].qs + 16 * ib));
          const __m256i v1 = _mm256_shuffle_epi8 (lut, unpack_nibbles (x[i].qs + 16 * ib + 16));
          const __m256i y0 = loadu256 (y[i].qs + 32 * ib);
          const __m256i y1 = loadu256 (y[i].qs + 32 * ib + 32);
          /* Levels are signed: |v| * sign(v) y, then the signed 6-bit scale via vpmaddwd. */
          const __m256i p0
              = _mm256_maddubs_epi16 (_mm256_sign_epi8 (v0, v0), _mm256_sign_epi8 (y0, v0));
          const __m256i p1
              = _mm256_maddubs_epi16 (_mm256_sign_epi8 (v1, v1), _mm256_sign_epi8 (y1, v1));
          const int ls0
              = (((x[i].scales_l[ib / 2] >> 0) & 0xf) | (((x[i].scales_h >> 2 * ib) & 3) << 4))
                - 32;
          const int ls1 = (((x[i].scales_l[ib / 2] >> 4) & 0xf)
                           | (((x[i].scales_h >> (2 * ib + 2)) & 3) << 4))
                          - 32;
          sumi0
              = _mm256_add_epi32 (sumi0, _mm256_madd_epi16 (p0, _mm256_set1_epi16 ((int16_t) ls0)));
          sumi1
              = _mm256_add_epi32 (sumi1, _mm256_madd_epi16 (p1, _mm256_set1_epi16 ((int16_t) ls1)));
        }
      acc = _mm256_fmadd_ps (_mm256_set1_ps (y[i].d * x86_h2f (x[i].d)),
                             _mm256_cvtepi32_ps (_mm256_add_epi32 (sumi0, sumi1)), acc);
    }
  return hsum_ps256 (acc);
}

/* ---- Grid (codebook) types against Q8_K ----
 * 32 elements at a time: the grid entries give 32 unsigned magnitudes (4 uint64 entries of 8,
 * or 8 uint32 entries of 4), the sign bits of the 32 elements come as 4 bytes, spread so that
 * byte j tests bit j%8 of sign byte j/8 (vpshufb + AND + compare), and vpsignb applies them to
 * the activations instead of the weights; then vpmaddubsw and the sub-block scale via vpmaddwd
 * as for the K-quants. Scales are odd integers 2s + 1; the common factor is applied once. */

static inline uint8_t
grid_ksign (uint32_t i)
{
  return (uint8_t) (i | ((uint32_t) (__builtin_popcount (i) & 1) << 7));
}

/* Activations of 32 elements with the signs of `sign4` (bit j of byte k: element 8k + j). */
static inline __m256i
grid_signed_q8 (uint32_t sign4, const int8_t *q8)
{
  const __m256i ctl = _mm256_setr_epi8 (0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2,
                                        2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i sel = _mm256_set1_epi64x ((long long) 0x8040201008040201ull);
  const __m256i spread = _mm256_shuffle_epi8 (_mm256_set1_epi32 ((int) sign4), ctl);
  const __m256i neg = _mm256_cmpeq_epi8 (_mm256_and_si256 (spread, sel), sel);
  return _mm256_sign_epi8 (loadu256 (q8), _mm256_or_si256 (neg, _mm256_set1_epi8 (1)));
}

static inline __m256i
grid_mag64 (uint64_t g0, uint64_t g1, uint64_t g2, uint64_t g3)
{
  return _mm256_set_epi64x ((long long) g3, (long long) g2, (long long) g1, (long long) g0);
}

static float
x86_dot_iq2_xxs (int64_t n, const void *w, const void *a)
{
  const sm_block_iq2_xxs *x = w;
  const sm_block_q8_K *y = a;
  __m256 acc = _mm256_setzero_ps ();

  for (int64_t i = 0; i < n / SM_QK_K; i++)
    {
      __m256i sumi = _mm256_setzero_si256 ();
      for (int ib = 0; ib < 8; ib++)
        {
          const uint16_t *q = x[i].qs + 4 * ib;
          const uint32_t a0 = q[0] | ((uint32_t) q[1] << 16), a1 = q[2] | ((uint32_t) q[3] << 16);
          const __m256i mag
              = grid_mag64 (sm_iq2xxs_grid[a0 & 255], sm_iq2xxs_grid[(a0 >> 8) & 255],
                            sm_iq2xxs_grid[(a0 >> 16) & 255], sm_iq2xxs_grid[a0 >> 24]);
          const uint32_t sign4 = grid_ksign (a1 & 127)
                                 | (uint32_t) grid_ksign ((a1 >> 7) & 127) << 8
                                 | (uint32_t) grid_ksign ((a1 >> 14) & 127) << 16
                                 | (uint32_t) grid_ksign ((a1 >> 21) & 127) << 24;
          const __m256i p = _mm256_maddubs_epi16 (mag, grid_signed_q8 (sign4, y[i].qs + 32 * ib));
          sumi = _mm256_add_epi32 (
              sumi, _mm256_madd_epi16 (p, _mm256_set1_epi16 ((short) (2 * (a1 >> 28) + 1))));
        }
      /* (0.5 + s) / 4 = (2s + 1) / 8 */
      acc = _mm256_fmadd_ps (_mm256_set1_ps (0.125f * y[i].d * x86_h2f (x[i].d)),
                             _mm256_cvtepi32_ps (sumi), acc);
    }
  return hsum_ps256 (acc);
}

/* IQ2_XS and IQ2_S have a 4-bit scale per 16 elements: low lane / high lane of the vector. */
static inline __m256i
grid_scale_pair (uint8_t sc)
{
  return _mm256_set_m128i (_mm_set1_epi16 ((short) (2 * (sc >> 4) + 1)),
                           _mm_set1_epi16 ((short) (2 * (sc & 15) + 1)));
}

static float
x86_dot_iq2_xs (int64_t n, const void *w, const void *a)
{
  const sm_block_iq2_xs *x = w;
  const sm_block_q8_K *y = a;
  __m256 acc = _mm256_setzero_ps ();

  for (int64_t i = 0; i < n / SM_QK_K; i++)
    {
      __m256i sumi = _mm256_setzero_si256 ();
      for (int ib = 0; ib < 8; ib++)
        {
          const uint16_t *q = x[i].qs + 4 * ib;
          const __m256i mag = grid_mag64 (sm_iq2xs_grid[q[0] & 511], sm_iq2xs_grid[q[1] & 511],
                                          sm_iq2xs_grid[q[2] & 511], sm_iq2xs_grid[q[3] & 511]);
          const uint32_t sign4 = grid_ksign (q[0] >> 9) | (uint32_t) grid_ksign (q[1] >> 9) << 8
                                 | (uint32_t) grid_ksign (q[2] >> 9) << 16
                                 | (uint32_t) grid_ksign (q[3] >> 9) << 24;
          const __m256i p = _mm256_maddubs_epi16 (mag, grid_signed_q8 (sign4, y[i].qs + 32 * ib));
          sumi = _mm256_add_epi32 (sumi, _mm256_madd_epi16 (p, grid_scale_pair (x[i].scales[ib])));
        }
      acc = _mm256_fmadd_ps (_mm256_set1_ps (0.125f * y[i].d * x86_h2f (x[i].d)),
                             _mm256_cvtepi32_ps (sumi), acc);
    }
  return hsum_ps256 (acc);
}

static float
x86_dot_iq2_s (int64_t n, const void *w, const void *a)
{
  const sm_block_iq2_s *x = w;
  const sm_block_q8_K *y = a;
  __m256 acc = _mm256_setzero_ps ();

  for (int64_t i = 0; i < n / SM_QK_K; i++)
    {
      const uint8_t *qs = x[i].qs;
      const uint8_t *signs = x[i].qs + SM_QK_K / 8;
      __m256i sumi = _mm256_setzero_si256 ();
      for (int ib = 0; ib < 8; ib++)
        {
          const unsigned h = x[i].qh[ib];
          const __m256i mag = grid_mag64 (sm_iq2s_grid[qs[4 * ib] | ((h << 8) & 0x300)],
                                          sm_iq2s_grid[qs[4 * ib + 1] | ((h << 6) & 0x300)],
                                          sm_iq2s_grid[qs[4 * ib + 2] | ((h << 4) & 0x300)],
                                          sm_iq2s_grid[qs[4 * ib + 3] | ((h << 2) & 0x300)]);
          uint32_t sign4;
          memcpy (&sign4, signs + 4 * ib, 4);
          const __m256i p = _mm256_maddubs_epi16 (mag, grid_signed_q8 (sign4, y[i].qs + 32 * ib));
          sumi = _mm256_add_epi32 (sumi, _mm256_madd_epi16 (p, grid_scale_pair (x[i].scales[ib])));
        }
      acc = _mm256_fmadd_ps (_mm256_set1_ps (0.125f * y[i].d * x86_h2f (x[i].d)),
                             _mm256_cvtepi32_ps (sumi), acc);
    }
  return hsum_ps256 (acc);
}

static float
x86_dot_iq3_xxs (int64_t n, const void *w, const void *a)
{
  const sm_block_iq3_xxs *x = w;
  const sm_block_q8_K *y = a;
  __m256 acc = _mm256_setzero_ps ();

  for (int64_t i = 0; i < n / SM_QK_K; i++)
    {
      const uint8_t *qs = x[i].qs;
      __m256i sumi = _mm256_setzero_si256 ();
      for (int ib = 0; ib < 8; ib++)
        {
          const uint8_t *g = qs + 8 * ib;
          uint32_t aux;
          memcpy (&aux, qs + SM_QK_K / 4 + 4 * ib, 4);
          const __m256i mag = _mm256_setr_epi32 (
              (int) sm_iq3xxs_grid[g[0]], (int) sm_iq3xxs_grid[g[1]], (int) sm_iq3xxs_grid[g[2]],
              (int) sm_iq3xxs_grid[g[3]], (int) sm_iq3xxs_grid[g[4]], (int) sm_iq3xxs_grid[g[5]],
              (int) sm_iq3xxs_grid[g[6]], (int) sm_iq3xxs_grid[g[7]]);
          const uint32_t sign4 = grid_ksign (aux & 127)
                                 | (uint32_t) grid_ksign ((aux >> 7) & 127) << 8
                                 | (uint32_t) grid_ksign ((aux >> 14) & 127) << 16
                                 | (uint32_t) grid_ksign ((aux >> 21) & 127) << 24;
          const __m256i p = _mm256_maddubs_epi16 (mag, grid_signed_q8 (sign4, y[i].qs + 32 * ib));
          sumi = _mm256_add_epi32 (
              sumi, _mm256_madd_epi16 (p, _mm256_set1_epi16 ((short) (2 * (aux >> 28) + 1))));
        }
      /* (0.5 + s) / 2 = (2s + 1) / 4 */
      acc = _mm256_fmadd_ps (_mm256_set1_ps (0.25f * y[i].d * x86_h2f (x[i].d)),
                             _mm256_cvtepi32_ps (sumi), acc);
    }
  return hsum_ps256 (acc);
}

static float
x86_dot_iq3_s (int64_t n, const void *w, const void *a)
{
  const sm_block_iq3_s *x = w;
  const sm_block_q8_K *y = a;
  __m256 acc = _mm256_setzero_ps ();

  for (int64_t i = 0; i < n / SM_QK_K; i++)
    {
      const uint8_t *qs = x[i].qs;
      __m256i sumi = _mm256_setzero_si256 ();
      for (int ib = 0; ib < 8; ib++)
        {
          const uint8_t *g = qs + 8 * ib;
          const unsigned h = x[i].qh[ib];
          /* 9th index bit of entry k is bit k of qh. */
          const __m256i mag = _mm256_setr_epi32 ((int) sm_iq3s_grid[g[0] | ((h << 8) & 256)],
                                                 (int) sm_iq3s_grid[g[1] | ((h << 7) & 256)],
                                                 (int) sm_iq3s_grid[g[2] | ((h << 6) & 256)],
                                                 (int) sm_iq3s_grid[g[3] | ((h << 5) & 256)],
                                                 (int) sm_iq3s_grid[g[4] | ((h << 4) & 256)],
                                                 (int) sm_iq3s_grid[g[5] | ((h << 3) & 256)],
                                                 (int) sm_iq3s_grid[g[6] | ((h << 2) & 256)],
                                                 (int) sm_iq3s_grid[g[7] | ((h << 1) & 256)]);
          uint32_t sign4;
          memcpy (&sign4, x[i].signs + 4 * ib, 4);
          const int sc = (x[i].scales[ib / 2] >> (4 * (ib % 2))) & 0xf;
          const __m256i p = _mm256_maddubs_epi16 (mag, grid_signed_q8 (sign4, y[i].qs + 32 * ib));
          sumi = _mm256_add_epi32 (sumi,
                                   _mm256_madd_epi16 (p, _mm256_set1_epi16 ((short) (2 * sc + 1))));
        }
      acc = _mm256_fmadd_ps (_mm256_set1_ps (y[i].d * x86_h2f (x[i].d)), _mm256_cvtepi32_ps (sumi),
                             acc);
    }
  return hsum_ps256 (acc);
}

/* IQ1_S / IQ1_M: x = dl (g + delta), g in {-1, 0, +1} from the grid, delta = +-1/8. Both parts
 * fold into one small integer per element, v = 8 g + sign(delta) (|v| <= 9), so the block is
 * one signed byte dot: sum x a = dl / 8 * sum v a. 8 g comes from vpsignb(8, g). */
static inline __m256i
iq1_values (uint64_t g0, uint64_t g1, uint64_t g2, uint64_t g3, __m256i dsign)
{
  const __m256i g = grid_mag64 (g0, g1, g2, g3);
  return _mm256_add_epi8 (_mm256_sign_epi8 (_mm256_set1_epi8 (8), g), dsign);
}

static float
x86_dot_iq1_s (int64_t n, const void *w, const void *a)
{
  const sm_block_iq1_s *x = w;
  const sm_block_q8_K *y = a;
  __m256 acc = _mm256_setzero_ps ();

  for (int64_t i = 0; i < n / SM_QK_K; i++)
    {
      __m256i sumi = _mm256_setzero_si256 ();
      for (int ib = 0; ib < 8; ib++)
        {
          const uint8_t *qs = x[i].qs + 4 * ib;
          const unsigned qh = x[i].qh[ib];
          const __m256i dsign = _mm256_set1_epi8 (qh & 0x8000 ? -1 : 1);
          const __m256i v = iq1_values (sm_iq1s_grid[qs[0] | ((qh << 8) & 0x700)],
                                        sm_iq1s_grid[qs[1] | ((qh << 5) & 0x700)],
                                        sm_iq1s_grid[qs[2] | ((qh << 2) & 0x700)],
                                        sm_iq1s_grid[qs[3] | ((qh >> 1) & 0x700)], dsign);
          const __m256i q8 = loadu256 (y[i].qs + 32 * ib);
          const __m256i p
              = _mm256_maddubs_epi16 (_mm256_sign_epi8 (v, v), _mm256_sign_epi8 (q8, v));
          sumi = _mm256_add_epi32 (
              sumi, _mm256_madd_epi16 (p, _mm256_set1_epi16 ((short) (2 * ((qh >> 12) & 7) + 1))));
        }
      acc = _mm256_fmadd_ps (_mm256_set1_ps (0.125f * y[i].d * x86_h2f (x[i].d)),
                             _mm256_cvtepi32_ps (sumi), acc);
    }
  return hsum_ps256 (acc);
}

static float
x86_dot_iq1_m (int64_t n, const void *w, const void *a)
{
  const sm_block_iq1_m *x = w;
  const sm_block_q8_K *y = a;
  const long long plus = 0x0101010101010101ll, minus = -1ll;
  __m256 acc = _mm256_setzero_ps ();

  for (int64_t i = 0; i < n / SM_QK_K; i++)
    {
      uint16_t sc[4];
      for (int k = 0; k < 4; k++)
        sc[k] = (uint16_t) (x[i].scales[2 * k] | (x[i].scales[2 * k + 1] << 8));
      const sm_half d = (sm_half) ((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00)
                                   | (sc[3] & 0xf000));
      __m256i sumi = _mm256_setzero_si256 ();
      for (int ib = 0; ib < 8; ib++)
        {
          const uint8_t *qs = x[i].qs + 4 * ib;
          const uint8_t *qh = x[i].qh + 2 * ib;
          /* Each 8 elements have their own delta sign (bits 3 and 7 of the two qh bytes). */
          const __m256i dsign
              = _mm256_set_epi64x (qh[1] & 0x80 ? minus : plus, qh[1] & 0x08 ? minus : plus,
                                   qh[0] & 0x80 ? minus : plus, qh[0] & 0x08 ? minus : plus);
          const __m256i v = iq1_values (sm_iq1s_grid[qs[0] | ((qh[0] << 8) & 0x700)],
                                        sm_iq1s_grid[qs[1] | ((qh[0] << 4) & 0x700)],
                                        sm_iq1s_grid[qs[2] | ((qh[1] << 8) & 0x700)],
                                        sm_iq1s_grid[qs[3] | ((qh[1] << 4) & 0x700)], dsign);
          const __m256i q8 = loadu256 (y[i].qs + 32 * ib);
          const __m256i p
              = _mm256_maddubs_epi16 (_mm256_sign_epi8 (v, v), _mm256_sign_epi8 (q8, v));
          /* 3-bit scales: the first 16 elements use bits 0-2, the next 16 bits 3-5 (of the
           * 6 bits that sub-block ib owns in scale word ib / 2). */
          const unsigned s6 = sc[ib / 2] >> (6 * (ib % 2));
          const __m256i scale
              = _mm256_set_m128i (_mm_set1_epi16 ((short) (2 * ((s6 >> 3) & 7) + 1)),
                                  _mm_set1_epi16 ((short) (2 * (s6 & 7) + 1)));
          sumi = _mm256_add_epi32 (sumi, _mm256_madd_epi16 (p, scale));
        }
      acc = _mm256_fmadd_ps (_mm256_set1_ps (0.125f * y[i].d * x86_h2f (d)),
                             _mm256_cvtepi32_ps (sumi), acc);
    }
  return hsum_ps256 (acc);
}

/* ---- Activation rows (byte-identical to the reference) ---- */

static inline float
hmax_ps256 (__m256 v)
{
  __m128 s = _mm_max_ps (_mm256_castps256_ps128 (v), _mm256_extractf128_ps (v, 1));
  s = _mm_max_ps (s, _mm_movehl_ps (s, s));
  s = _mm_max_ss (s, _mm_movehdup_ps (s));
  return _mm_cvtss_f32 (s);
}

/* roundf() exactly (half away from zero): t = trunc(v); v - t is exact, and |v - t| >= 0.5
 * moves one step away from zero. (Adding 0.5 before truncating would be wrong for
 * 0.49999997, whose sum rounds up to 1.) */
static inline __m256i
round_away_epi32 (__m256 v)
{
  const __m256 t = _mm256_round_ps (v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 sign = _mm256_and_ps (v, _mm256_set1_ps (-0.0f));
  const __m256 frac = _mm256_andnot_ps (_mm256_set1_ps (-0.0f), _mm256_sub_ps (v, t));
  const __m256 step = _mm256_and_ps (_mm256_cmp_ps (frac, _mm256_set1_ps (0.5f), _CMP_GE_OQ),
                                     _mm256_or_ps (sign, _mm256_set1_ps (1.0f)));
  return _mm256_cvttps_epi32 (_mm256_add_ps (t, step));
}

/* 4 x 8 int32 (each in -127..127) -> 32 int8 in order. vpackssdw/vpacksswb work per 128-bit
 * lane, so the result comes out lane-interleaved; one dword permute restores element order. */
static inline __m256i
pack_epi32_to_epi8 (__m256i a, __m256i b, __m256i c, __m256i d)
{
  const __m256i ab = _mm256_packs_epi32 (a, b);
  const __m256i cd = _mm256_packs_epi32 (c, d);
  const __m256i abcd = _mm256_packs_epi16 (ab, cd);
  return _mm256_permutevar8x32_epi32 (abcd, _mm256_setr_epi32 (0, 4, 1, 5, 2, 6, 3, 7));
}

/* One 32-element block of Q8_0/Q8_1 codes: d = amax / 127, q = roundf(x / d). Returns d and
 * the sum of the codes (Q8_1 stores d * sum). */
static inline float
x86_q8_block (const float *x, int8_t *qs, int *sum)
{
  const __m256 abs_mask = _mm256_castsi256_ps (_mm256_set1_epi32 (0x7fffffff));
  __m256 v[4];
  __m256 amax = _mm256_setzero_ps ();
  for (int k = 0; k < 4; k++)
    {
      v[k] = _mm256_loadu_ps (x + 8 * k);
      amax = _mm256_max_ps (amax, _mm256_and_ps (v[k], abs_mask));
    }
  const float d = hmax_ps256 (amax) / ((1 << 7) - 1);
  const float id = d ? 1.0f / d : 0.0f;
  const __m256 vid = _mm256_set1_ps (id);
  __m256i q[4];
  for (int k = 0; k < 4; k++)
    q[k] = round_away_epi32 (_mm256_mul_ps (v[k], vid));
  if (sum != NULL)
    *sum = hsum_epi32_256 (
        _mm256_add_epi32 (_mm256_add_epi32 (q[0], q[1]), _mm256_add_epi32 (q[2], q[3])));
  _mm256_storeu_si256 ((__m256i *) qs, pack_epi32_to_epi8 (q[0], q[1], q[2], q[3]));
  return d;
}

static void
x86_act_q8_0 (const float *src, void *dst, int64_t n)
{
  sm_block_q8_0 *y = dst;

  for (int64_t i = 0; i < n / SM_QK8_0; i++)
    y[i].d = (sm_half) _cvtss_sh (x86_q8_block (src + i * SM_QK8_0, y[i].qs, NULL),
                                  _MM_FROUND_TO_NEAREST_INT);
}

static void
x86_act_q8_1 (const float *src, void *dst, int64_t n)
{
  sm_block_q8_1 *y = dst;

  for (int64_t i = 0; i < n / SM_QK8_1; i++)
    {
      int sum;
      const float d = x86_q8_block (src + i * SM_QK8_1, y[i].qs, &sum);
      y[i].d = (sm_half) _cvtss_sh (d, _MM_FROUND_TO_NEAREST_INT);
      y[i].s = (sm_half) _cvtss_sh (sum * d, _MM_FROUND_TO_NEAREST_INT);
    }
}

static void
x86_act_q8_K (const float *src, void *dst, int64_t n)
{
  sm_block_q8_K *y = dst;
  const __m256 abs_mask = _mm256_castsi256_ps (_mm256_set1_epi32 (0x7fffffff));

  for (int64_t i = 0; i < n / SM_QK_K; i++)
    {
      const float *x = src + i * SM_QK_K;
      __m256 amax_v = _mm256_setzero_ps ();
      for (int k = 0; k < SM_QK_K; k += 8)
        amax_v = _mm256_max_ps (amax_v, _mm256_and_ps (_mm256_loadu_ps (x + k), abs_mask));
      const float amax = hmax_ps256 (amax_v);
      if (!amax)
        {
          memset (&y[i], 0, sizeof y[i]);
          continue;
        }
      /* The reference keeps the sign of the first element reaching amax. */
      float max = amax;
      for (int k = 0; k < SM_QK_K; k++)
        if (fabsf (x[k]) == amax)
          {
            max = x[k];
            break;
          }
      const float iscale = -127.f / max;
      const __m256 vis = _mm256_set1_ps (iscale);
      const __m256i lim = _mm256_set1_epi32 (127);
      for (int k = 0; k < SM_QK_K; k += 32)
        {
          __m256i q[4];
/* vcvtps2dq rounds to nearest even, as nearest_int() does. */
#pragma GCC unroll 8
          for (int j = 0; j < 4; j++)
            q[j] = _mm256_min_epi32 (
                lim, _mm256_cvtps_epi32 (_mm256_mul_ps (vis, _mm256_loadu_ps (x + k + 8 * j))));
          y[i].bsums[k / 16] = (int16_t) hsum_epi32_256 (_mm256_add_epi32 (q[0], q[1]));
          y[i].bsums[k / 16 + 1] = (int16_t) hsum_epi32_256 (_mm256_add_epi32 (q[2], q[3]));
          _mm256_storeu_si256 ((__m256i *) (y[i].qs + k),
                               pack_epi32_to_epi8 (q[0], q[1], q[2], q[3]));
        }
      y[i].d = 1 / iscale;
    }
}

static void
x86_act_f16 (const float *src, void *dst, int64_t n)
{
  uint16_t *y = dst;
  int64_t i = 0;

  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128 ((__m128i *) (y + i),
                      _mm256_cvtps_ph (_mm256_loadu_ps (src + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; i++)
    y[i] = sm_float_to_half (src[i]);
}

/* bf16 rounding in integers (no dependency on MXCSR or on avx512_bf16's flush of subnormals):
 * bits + 0x7fff + (bit 16) then >> 16; NaNs keep their top bits and get the quiet bit. */
static void
x86_act_bf16 (const float *src, void *dst, int64_t n)
{
  uint16_t *y = dst;
  int64_t i = 0;
  const __m256i abs_mask = _mm256_set1_epi32 (0x7fffffff);
  const __m256i inf = _mm256_set1_epi32 (0x7f800000);

  for (; i + 16 <= n; i += 16)
    {
      __m256i r[2];
      for (int k = 0; k < 2; k++)
        {
          const __m256i u = _mm256_loadu_si256 ((const __m256i *) (src + i + 8 * k));
          const __m256i lsb = _mm256_and_si256 (_mm256_srli_epi32 (u, 16), _mm256_set1_epi32 (1));
          const __m256i rounded = _mm256_srli_epi32 (
              _mm256_add_epi32 (u, _mm256_add_epi32 (lsb, _mm256_set1_epi32 (0x7fff))), 16);
          const __m256i quiet = _mm256_or_si256 (_mm256_srli_epi32 (u, 16), _mm256_set1_epi32 (64));
          const __m256i is_nan = _mm256_cmpgt_epi32 (_mm256_and_si256 (u, abs_mask), inf);
          r[k] = _mm256_blendv_epi8 (rounded, quiet, is_nan);
        }
      /* Values are 16-bit: an unsigned pack is exact; it interleaves lanes, so permute. */
      const __m256i p
          = _mm256_permute4x64_epi64 (_mm256_packus_epi32 (r[0], r[1]), _MM_SHUFFLE (3, 1, 2, 0));
      _mm256_storeu_si256 ((__m256i *) (y + i), p);
    }
  for (; i < n; i++)
    y[i] = sm_float_to_bf16 (src[i]);
}

/* ---- Tiles: X86_TILE_NR weight rows x X86_TILE_NC activation columns (sm_gemm_tile_fn) ----
 *
 * Each weight block is loaded and made unsigned once per tile and reused for every column; each
 * activation block once and reused for every row. The signed x signed products become u8 x s8:
 * Q8_0 weights are biased by +128 (w + 128 fits a byte), Q4_0 nibbles are already unsigned
 * (q = w + 8), and the bias times the activation sum, -k * sum(a), is formed once per column
 * and block (one vpdpbusd against k) and given to the per-pair vpdpbusd as its starting value,
 * so a (row, column, block) costs one vpdpbusd, one conversion, one scale product and one FMA.
 * Without VNNI (AVX2, 16 ymm registers, hence 4 x 2), Q8_0 keeps the vpsignb form since
 * vpmaddubsw would saturate on w + 128. Integer block sums are exact; only the float
 * accumulation order differs from the reference. */
#ifdef SM_X86_VNNI
#define X86_TILE_NC 4
#else
#define X86_TILE_NC 2
#endif
#define X86_TILE_NR 4

enum { X86_TILE_Q8_0, X86_TILE_Q4_0 };

static inline __attribute__ ((always_inline)) void
x86_tile (int            kind,
          int            nc,
          int64_t        nb,
          const uint8_t *w,
          size_t         ws,
          const uint8_t *a,
          size_t         as,
          float         *out,
          size_t         os)
{
  const size_t wbs = kind == X86_TILE_Q8_0 ? sizeof (sm_block_q8_0) : sizeof (sm_block_q4_0);
  __m256 acc[X86_TILE_NR][X86_TILE_NC];

#pragma GCC unroll 4
  for (int r = 0; r < X86_TILE_NR; r++)
#pragma GCC unroll 4
    for (int c = 0; c < nc; c++)
      acc[r][c] = _mm256_setzero_ps ();

  for (int64_t b = 0; b < nb; b++)
    {
      __m256i av[X86_TILE_NC], bias[X86_TILE_NC];
      __m256 da[X86_TILE_NC];

#pragma GCC unroll 4
      for (int c = 0; c < nc; c++)
        {
          const sm_block_q8_0 *y = (const sm_block_q8_0 *) (a + c * as) + b;
          av[c] = loadu256 (y->qs);
          da[c] = _mm256_set1_ps (x86_h2f (y->d));
          if (kind == X86_TILE_Q4_0)
            bias[c] = _mm256_sub_epi32 (_mm256_setzero_si256 (),
                                        dot_us8 (_mm256_setzero_si256 (), _mm256_set1_epi8 (8),
                                                 av[c]));
#ifdef SM_X86_VNNI
          else
            bias[c] = _mm256_sub_epi32 (_mm256_setzero_si256 (),
                                        dot_us8 (_mm256_setzero_si256 (),
                                                 _mm256_set1_epi8 ((char) 0x80), av[c]));
#else
          else
            bias[c] = _mm256_setzero_si256 ();
#endif
        }
#pragma GCC unroll 4
      for (int r = 0; r < X86_TILE_NR; r++)
        {
          const uint8_t *blk = w + r * ws + (size_t) b * wbs;
          const __m256 dw = _mm256_set1_ps (x86_h2f (((const sm_half *) (const void *) blk)[0]));
          __m256i wv, wu;
          if (kind == X86_TILE_Q4_0)
            wv = wu = unpack_nibbles (blk + sizeof (sm_half));
          else
            {
              wv = loadu256 (blk + sizeof (sm_half));
#ifdef SM_X86_VNNI
              wu = _mm256_xor_si256 (wv, _mm256_set1_epi8 ((char) 0x80));
#else
              wu = _mm256_sign_epi8 (wv, wv);
#endif
            }
#pragma GCC unroll 4
          for (int c = 0; c < nc; c++)
            {
              __m256i p;
#ifdef SM_X86_VNNI
              p = dot_us8 (bias[c], wu, av[c]);
#else
              if (kind == X86_TILE_Q4_0)
                p = dot_us8 (bias[c], wu, av[c]);
              else
                p = dot_us8 (bias[c], wu, _mm256_sign_epi8 (av[c], wv));
#endif
              acc[r][c] = _mm256_fmadd_ps (_mm256_cvtepi32_ps (p), _mm256_mul_ps (dw, da[c]),
                                           acc[r][c]);
            }
        }
    }
#pragma GCC unroll 4
  for (int r = 0; r < X86_TILE_NR; r++)
#pragma GCC unroll 4
    for (int c = 0; c < nc; c++)
      out[c * os + r] = hsum_ps256 (acc[r][c]);
}

/* Whole X86_TILE_NR x X86_TILE_NC tiles, then the leftover columns one at a time (still
 * X86_TILE_NR rows), then the leftover rows through the 1 x 1 dot of this variant. */
static inline __attribute__ ((always_inline)) void
x86_gemm (int            kind,
          sm_vec_dot_fn  dot1,
          int64_t        n,
          const void    *w,
          size_t         ws,
          int            nr,
          const void    *a,
          size_t         as,
          int            nc,
          float         *out,
          size_t         os)
{
  const uint8_t *wp = w, *ap = a;
  const int64_t nb = n / SM_QK8_0;
  int r = 0;

  for (; r + X86_TILE_NR <= nr; r += X86_TILE_NR)
    {
      int c = 0;
      for (; c + X86_TILE_NC <= nc; c += X86_TILE_NC)
        x86_tile (kind, X86_TILE_NC, nb, wp + (size_t) r * ws, ws, ap + (size_t) c * as, as,
                  out + (size_t) c * os + r, os);
      for (; c < nc; c++)
        x86_tile (kind, 1, nb, wp + (size_t) r * ws, ws, ap + (size_t) c * as, as,
                  out + (size_t) c * os + r, os);
    }
  for (; r < nr; r++)
    for (int c = 0; c < nc; c++)
      out[(size_t) c * os + r] = dot1 (n, wp + (size_t) r * ws, ap + (size_t) c * as);
}

static void
x86_gemm_q8_0 (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int nc,
               float *out, size_t os)
{
  x86_gemm (X86_TILE_Q8_0, x86_dot_q8_0, n, w, ws, nr, a, as, nc, out, os);
}

static void
x86_gemm_q4_0 (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int nc,
               float *out, size_t os)
{
  x86_gemm (X86_TILE_Q4_0, x86_dot_q4_0, n, w, ws, nr, a, as, nc, out, os);
}

/* Installs the tile kernels above into a table. */
static void
x86_fill_gemm (sm_gemm_tile_fn gemm[SM_TYPE_COUNT])
{
  gemm[SM_TYPE_Q8_0] = x86_gemm_q8_0;
  gemm[SM_TYPE_Q4_0] = x86_gemm_q4_0;
}

/* Installs the kernels above into a table. */
static void
x86_fill_common (sm_vec_dot_fn vec_dot[SM_TYPE_COUNT], sm_activation_fn act[SM_TYPE_COUNT])
{
  vec_dot[SM_TYPE_F32] = x86_dot_f32;
  vec_dot[SM_TYPE_F16] = x86_dot_f16;
  vec_dot[SM_TYPE_BF16] = x86_dot_bf16;
  vec_dot[SM_TYPE_Q8_0] = x86_dot_q8_0;
  vec_dot[SM_TYPE_Q4_0] = x86_dot_q4_0;
  vec_dot[SM_TYPE_IQ4_NL] = x86_dot_iq4_nl;
  vec_dot[SM_TYPE_Q4_1] = x86_dot_q4_1;
  vec_dot[SM_TYPE_Q5_0] = x86_dot_q5_0;
  vec_dot[SM_TYPE_Q5_1] = x86_dot_q5_1;
  vec_dot[SM_TYPE_Q2_K] = x86_dot_q2_K;
  vec_dot[SM_TYPE_Q3_K] = x86_dot_q3_K;
  vec_dot[SM_TYPE_Q4_K] = x86_dot_q4_K;
  vec_dot[SM_TYPE_Q5_K] = x86_dot_q5_K;
  vec_dot[SM_TYPE_Q6_K] = x86_dot_q6_K;
  vec_dot[SM_TYPE_IQ4_XS] = x86_dot_iq4_xs;
  vec_dot[SM_TYPE_IQ2_XXS] = x86_dot_iq2_xxs;
  vec_dot[SM_TYPE_IQ2_XS] = x86_dot_iq2_xs;
  vec_dot[SM_TYPE_IQ2_S] = x86_dot_iq2_s;
  vec_dot[SM_TYPE_IQ3_XXS] = x86_dot_iq3_xxs;
  vec_dot[SM_TYPE_IQ3_S] = x86_dot_iq3_s;
  vec_dot[SM_TYPE_IQ1_S] = x86_dot_iq1_s;
  vec_dot[SM_TYPE_IQ1_M] = x86_dot_iq1_m;
  act[SM_TYPE_Q8_0] = x86_act_q8_0;
  act[SM_TYPE_Q8_1] = x86_act_q8_1;
  act[SM_TYPE_Q8_K] = x86_act_q8_K;
  act[SM_TYPE_F16] = x86_act_f16;
  act[SM_TYPE_BF16] = x86_act_bf16;
}
