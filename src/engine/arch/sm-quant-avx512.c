/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-quant-avx512.c: the AVX-512 variant (F, BW, VL, DQ, VNNI, BMI2; BF16 where the CPU has it).
 * The kernels of sm-quant-x86.h are built here with VNNI (vpdpbusd: four u8 x s8 products
 * summed into an int32 lane in one instruction); on top, 512-bit kernels replace them where
 * they measured faster: F16 and BF16 (vdpbf16ps), the 32-element formats 16 blocks per step
 * (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL), and Q5_K, Q6_K, IQ4_XS (one zmm holds the 64 elements
 * that share a byte of nibbles). F32, Q2_K, Q3_K, Q4_K and the grid types keep the 256-bit code
 * (see benchmarks/NOTES.md). Compiled with its own -mavx512* flags; only called after
 * sm-dispatch.c has checked the CPU.
 */
#include <math.h>
#include <string.h>

#define SM_X86_VNNI 1
#include "sm-quant-x86.h"

/* F16/BF16 dots and panels are in sm-float-avx512.c. */

/* ---- K-quants and IQ4_XS, 512 bits ----
 * The Q4_K/Q5_K byte of nibbles holds elements e and e + 32 of a 64-element chunk whose 64
 * activations are contiguous: one zmm = [low nibbles | high nibbles] lines up with one 64-byte
 * load of Q8_K codes. Sub-block scales are broadcast into int16 lanes with one vpermw from a
 * register holding all of them; vpmaddwd applies them and widens to int32. */

/* Index vectors for vpermw: lanes 0..15 take scale 2j, lanes 16..31 scale 2j + 1. */
static inline __m512i
pair_index (int j)
{
  return _mm512_inserti64x4 (_mm512_castsi256_si512 (_mm256_set1_epi16 ((short) (2 * j))),
                             _mm256_set1_epi16 ((short) (2 * j + 1)), 1);
}

static inline __m512i
nibbles_64 (__m256i q, __m512i m4)
{
  const __m512i z = _mm512_inserti64x4 (_mm512_castsi256_si512 (q), _mm256_srli_epi16 (q, 4), 1);
  return _mm512_and_si512 (z, m4);
}

static float
avx512_dot_q5_K (int64_t n, const void *w, const void *a)
{
  const sm_block_q5_K *x = w;
  const sm_block_q8_K *y = a;
  const __m512i m4 = _mm512_set1_epi8 (0x0F);
  const __m512i b0 = _mm512_set1_epi8 (0x01);
  const __m512i idx[4] = { pair_index (0), pair_index (1), pair_index (2), pair_index (3) };
  __m512 acc = _mm512_setzero_ps ();
  __m256 accm = _mm256_setzero_ps ();

  for (int64_t i = 0; i < n / SM_QK_K; i++)
    {
      uint64_t sc, mn;
      k4_unpack (x[i].scales, &sc, &mn);
      const __m512i scv
          = _mm512_cvtepu8_epi16 (_mm256_castsi128_si256 (_mm_cvtsi64_si128 ((long long) sc)));
      accm = _mm256_fmadd_ps (_mm256_set1_ps (y[i].d * x86_h2f (x[i].dmin)),
                              _mm256_cvtepi32_ps (k4_min_terms (mn, y[i].bsums)), accm);

      /* 5th bits: bit 2j of qh[l] for the low half of chunk j, bit 2j + 1 for the high half.
       * hz = [qh | qh >> 1] has them at bit 0 of each byte for j = 0; shifting hz right by 2
       * per chunk walks through the pairs (16-bit shifts leak bits across bytes, but only into
       * bits the mask drops). */
      const __m256i qh = loadu256 (x[i].qh);
      __m512i hz = _mm512_inserti64x4 (_mm512_castsi256_si512 (qh), _mm256_srli_epi16 (qh, 1), 1);
      __m512i sumi = _mm512_setzero_si512 ();
#pragma GCC unroll 8
      for (int j = 0; j < 4; j++)
        {
          const __m512i q = _mm512_or_si512 (nibbles_64 (loadu256 (x[i].qs + 32 * j), m4),
                                             _mm512_slli_epi16 (_mm512_and_si512 (hz, b0), 4));
          const __m512i p = _mm512_maddubs_epi16 (q, _mm512_loadu_si512 (y[i].qs + 64 * j));
          sumi = _mm512_add_epi32 (sumi,
                                   _mm512_madd_epi16 (p, _mm512_permutexvar_epi16 (idx[j], scv)));
          hz = _mm512_srli_epi16 (hz, 2);
        }
      acc = _mm512_fmadd_ps (_mm512_set1_ps (y[i].d * x86_h2f (x[i].d)), _mm512_cvtepi32_ps (sumi),
                             acc);
    }
  return _mm512_reduce_add_ps (acc) - hsum_ps256 (accm);
}

/* Index vector for vpermw: four runs of 8 lanes taking scales 4k .. 4k + 3. */
static inline __m512i
quad_index (int k)
{
  return _mm512_inserti64x4 (
      _mm512_castsi256_si512 (_mm256_set_m128i (_mm_set1_epi16 ((short) (4 * k + 1)),
                                                _mm_set1_epi16 ((short) (4 * k)))),
      _mm256_set_m128i (_mm_set1_epi16 ((short) (4 * k + 3)), _mm_set1_epi16 ((short) (4 * k + 2))),
      1);
}

static float
avx512_dot_q6_K (int64_t n, const void *w, const void *a)
{
  const sm_block_q6_K *x = w;
  const sm_block_q8_K *y = a;
  const __m512i m4 = _mm512_set1_epi8 (0x0F);
  const __m512i m2 = _mm512_set1_epi8 (0x30);
  const __m512i idx[4] = { quad_index (0), quad_index (1), quad_index (2), quad_index (3) };
  __m512 acc = _mm512_setzero_ps ();

  for (int64_t i = 0; i < n / SM_QK_K; i++)
    {
      const float d = y[i].d * x86_h2f (x[i].d);
      const __m256i sc16 = _mm256_cvtepi8_epi16 (_mm_loadu_si128 ((const __m128i *) x[i].scales));
      const __m512i scv = _mm512_castsi256_si512 (sc16);
      /* The -32 offset, 32 * sum_s sc[s] * bsums[s], starts the integer sum (it fits: at most
       * 32 * 16 * 2 * 128 * 2032 in magnitude). */
      const __m256i offs = _mm256_slli_epi32 (_mm256_madd_epi16 (sc16, loadu256 (y[i].bsums)), 5);
      __m512i sumi = _mm512_sub_epi32 (_mm512_setzero_si512 (), _mm512_zextsi256_si512 (offs));
#pragma GCC unroll 8
      for (int h = 0; h < 2; h++)
        {
          /* One zmm of ql: its low nibbles are elements 0..63 of this 128, its high nibbles
           * 64..127. The two high bits come from qh[l] at bit pairs 0, 2 (elements 0..63, one
           * pair per 32) and 4, 6 (64..127): [qh << 4 | qh << 2] and [qh | qh >> 2], masked to
           * bits 4-5. */
          const __m512i l = _mm512_loadu_si512 (x[i].ql + 64 * h);
          const __m256i qh = loadu256 (x[i].qh + 32 * h);
          const __m512i h01 = _mm512_inserti64x4 (
              _mm512_castsi256_si512 (_mm256_slli_epi16 (qh, 4)), _mm256_slli_epi16 (qh, 2), 1);
          const __m512i h23
              = _mm512_inserti64x4 (_mm512_castsi256_si512 (qh), _mm256_srli_epi16 (qh, 2), 1);
          const __m512i q0 = _mm512_or_si512 (_mm512_and_si512 (l, m4), _mm512_and_si512 (h01, m2));
          const __m512i q1 = _mm512_or_si512 (_mm512_and_si512 (_mm512_srli_epi16 (l, 4), m4),
                                              _mm512_and_si512 (h23, m2));
          const __m512i p0 = _mm512_maddubs_epi16 (q0, _mm512_loadu_si512 (y[i].qs + 128 * h));
          const __m512i p1 = _mm512_maddubs_epi16 (q1, _mm512_loadu_si512 (y[i].qs + 128 * h + 64));
          sumi = _mm512_add_epi32 (
              sumi, _mm512_madd_epi16 (p0, _mm512_permutexvar_epi16 (idx[2 * h], scv)));
          sumi = _mm512_add_epi32 (
              sumi, _mm512_madd_epi16 (p1, _mm512_permutexvar_epi16 (idx[2 * h + 1], scv)));
        }
      acc = _mm512_fmadd_ps (_mm512_set1_ps (d), _mm512_cvtepi32_ps (sumi), acc);
    }
  return _mm512_reduce_add_ps (acc);
}

/* IQ4_XS with VNNI: the levels + 128 are all unsigned (1..241), so vpdpbusd takes them
 * directly; the +128 comes back out as 128 * scale * (sum of the sub-block's activations),
 * again from the bsums. One zmm covers two sub-blocks (lanes 0-7 and 8-15 of the int32
 * result); their scales multiply in int32. */
static float
avx512_dot_iq4_xs (int64_t n, const void *w, const void *a)
{
  const sm_block_iq4_xs *x = w;
  const sm_block_q8_K *y = a;
  int8_t lut_u[16];
  for (int k = 0; k < 16; k++)
    lut_u[k] = (int8_t) (sm_kvalues_iq4nl[k] + 128);
  const __m512i lut = _mm512_broadcast_i32x4 (_mm_loadu_si128 ((const __m128i *) lut_u));
  const __m512i m4 = _mm512_set1_epi8 (0x0F);
  const __m512i pidx[4] = {
    _mm512_inserti64x4 (_mm512_castsi256_si512 (_mm256_set1_epi32 (0)), _mm256_set1_epi32 (1), 1),
    _mm512_inserti64x4 (_mm512_castsi256_si512 (_mm256_set1_epi32 (2)), _mm256_set1_epi32 (3), 1),
    _mm512_inserti64x4 (_mm512_castsi256_si512 (_mm256_set1_epi32 (4)), _mm256_set1_epi32 (5), 1),
    _mm512_inserti64x4 (_mm512_castsi256_si512 (_mm256_set1_epi32 (6)), _mm256_set1_epi32 (7), 1),
  };
  __m512 acc = _mm512_setzero_ps ();

  for (int64_t i = 0; i < n / SM_QK_K; i++)
    {
      /* The 8 6-bit scales, built in a 64-bit integer with pdep (no stores, so no
       * store-forwarding stall): low nibbles of scales_l to the even bytes, high nibbles to the
       * odd bytes, the 2-bit pairs of scales_h to bits 4-5 of every byte. */
      uint32_t sl;
      memcpy (&sl, x[i].scales_l, 4);
      const uint64_t lsb = _pdep_u64 (sl & 0x0f0f0f0fu, 0x00ff00ff00ff00ffull)
                           | _pdep_u64 ((sl >> 4) & 0x0f0f0f0fu, 0xff00ff00ff00ff00ull)
                           | (_pdep_u64 (x[i].scales_h, 0x0303030303030303ull) << 4);
      const __m128i ls8 = _mm_sub_epi8 (_mm_cvtsi64_si128 ((long long) lsb), _mm_set1_epi8 (32));
      const __m256i ls16 = _mm256_cvtepi8_epi16 (_mm_unpacklo_epi8 (ls8, ls8));
      const __m512i scl = _mm512_cvtepi8_epi32 (ls8);
      const float d = y[i].d * x86_h2f (x[i].d);
      /* The +128 of the levels: 128 * sum ls * bsums starts the integer sum negated. */
      const __m256i offs = _mm256_slli_epi32 (_mm256_madd_epi16 (ls16, loadu256 (y[i].bsums)), 7);
      __m512i sumi = _mm512_sub_epi32 (_mm512_setzero_si512 (), _mm512_zextsi256_si512 (offs));
#pragma GCC unroll 8
      for (int p = 0; p < 4; p++)
        {
          /* 32 bytes = sub-blocks 2p, 2p+1 as [A | B]; element order wants
           * [A & 15, A >> 4, B & 15, B >> 4]: widen as [lo | hi], then swap the middle lanes. */
          const __m512i z = nibbles_64 (loadu256 (x[i].qs + 32 * p), m4);
          const __m512i q
              = _mm512_shuffle_epi8 (lut, _mm512_shuffle_i64x2 (z, z, _MM_SHUFFLE (3, 1, 2, 0)));
          const __m512i dp = _mm512_dpbusd_epi32 (_mm512_setzero_si512 (), q,
                                                  _mm512_loadu_si512 (y[i].qs + 64 * p));
          sumi = _mm512_add_epi32 (
              sumi, _mm512_mullo_epi32 (dp, _mm512_permutexvar_epi32 (pidx[p], scl)));
        }
      acc = _mm512_fmadd_ps (_mm512_set1_ps (d), _mm512_cvtepi32_ps (sumi), acc);
    }
  return _mm512_reduce_add_ps (acc);
}

/* ---- 32-element formats against Q8_0: 16 blocks per step ----
 * Per-block scale handling (two f16 conversions, a multiply, a broadcast) costs as much as the
 * block's integer work, so scales are done 16 blocks at a time: one vpgatherdd fetches the 16
 * f16 scales of the weights (blocks are 18 or 34 bytes apart), another those of the
 * activations, vcvtph2ps converts both and one multiply makes all 16 products. Two blocks share
 * a zmm (int32 lanes 0-7 and 8-15), and vpermps spreads their two scales over the halves.
 * Leftover blocks go through the 256-bit kernel, which ends in a scalar tail. */

/* The f16 at the start of each of 16 consecutive blocks of `stride` bytes, as floats. */
static inline __m512
scales16 (const void *base, __m512i offsets)
{
  const __m512i v = _mm512_i32gather_epi32 (offsets, base, 1);
  return _mm512_cvtph_ps (_mm512_cvtepi32_epi16 (v));
}

static inline __m512i
block_offsets (int stride)
{
  return _mm512_mullo_epi32 (
      _mm512_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
      _mm512_set1_epi32 (stride));
}

/* vpermps index: lanes 0-7 take scale 2p, lanes 8-15 scale 2p + 1. */
static inline __m512i
half_index (int p)
{
  return _mm512_inserti64x4 (_mm512_castsi256_si512 (_mm256_set1_epi32 (2 * p)),
                             _mm256_set1_epi32 (2 * p + 1), 1);
}

static inline __m512i
load2x32 (const void *p0, const void *p1)
{
  return _mm512_inserti64x4 (_mm512_castsi256_si512 (loadu256 (p0)), loadu256 (p1), 1);
}

/* Two blocks of 16 nibble bytes A, B -> 64 codes in element order [A lo, A hi, B lo, B hi]:
 * broadcast loads give [A, A, B, B] without shuffles, a per-lane variable shift by 0 or 4 and
 * a mask finish it. */
static inline __m512i
nibbles2 (const uint8_t *q0, const uint8_t *q1, __m512i shifts, __m512i m4)
{
  const __m512i z = _mm512_inserti64x4 (
      _mm512_castsi256_si512 (_mm256_broadcastsi128_si256 (_mm_loadu_si128 ((const __m128i *) q0))),
      _mm256_broadcastsi128_si256 (_mm_loadu_si128 ((const __m128i *) q1)), 1);
  return _mm512_and_si512 (_mm512_srlv_epi16 (z, shifts), m4);
}

static float
avx512_dot_q8_0 (int64_t n, const void *w, const void *a)
{
  const sm_block_q8_0 *x = w, *y = a;
  const int64_t nb = n / SM_QK8_0;
  const __m512i offs = block_offsets (sizeof (sm_block_q8_0));
  __m512 acc0 = _mm512_setzero_ps (), acc1 = acc0;
  int64_t i = 0;

  for (; i + 16 <= nb; i += 16)
    {
      const __m512 s = _mm512_mul_ps (scales16 (&x[i], offs), scales16 (&y[i], offs));
#pragma GCC unroll 8
      for (int p = 0; p < 8; p += 2)
        {
          const sm_block_q8_0 *xb = x + i + 2 * p, *yb = y + i + 2 * p;
          const __m512i x0 = load2x32 (xb[0].qs, xb[1].qs), y0 = load2x32 (yb[0].qs, yb[1].qs);
          const __m512i x1 = load2x32 (xb[2].qs, xb[3].qs), y1 = load2x32 (yb[2].qs, yb[3].qs);
          /* No vpsignb at 512 bits: |x| via vpabsb, and y negated where x < 0 (sign mask). */
          const __m512i z = _mm512_setzero_si512 ();
          const __m512i ys0 = _mm512_mask_sub_epi8 (y0, _mm512_movepi8_mask (x0), z, y0);
          const __m512i ys1 = _mm512_mask_sub_epi8 (y1, _mm512_movepi8_mask (x1), z, y1);
          const __m512i d0 = _mm512_dpbusd_epi32 (z, _mm512_abs_epi8 (x0), ys0);
          const __m512i d1 = _mm512_dpbusd_epi32 (z, _mm512_abs_epi8 (x1), ys1);
          acc0 = _mm512_fmadd_ps (_mm512_cvtepi32_ps (d0),
                                  _mm512_permutexvar_ps (half_index (p), s), acc0);
          acc1 = _mm512_fmadd_ps (_mm512_cvtepi32_ps (d1),
                                  _mm512_permutexvar_ps (half_index (p + 1), s), acc1);
        }
    }
  float sum = _mm512_reduce_add_ps (_mm512_add_ps (acc0, acc1));
  if (i < nb)
    sum += x86_dot_q8_0 ((nb - i) * SM_QK8_0, x + i, y + i);
  return sum;
}

/* Q4_0 and IQ4_NL: unsigned codes c (the nibble, or the IQ4 level + 128) with an offset o (8 or
 * 128): sum (c - o) y = vpdpbusd(c, y) - vpdpbusd(o, y). */
static inline __m512
nib_step (const uint8_t *q0, const uint8_t *q1, const int8_t *ya, const int8_t *yb,
          const __m512i *lut, __m512i off, __m512i shifts, __m512i m4, __m512 scale, __m512 acc)
{
  __m512i c = nibbles2 (q0, q1, shifts, m4);
  if (lut != NULL)
    c = _mm512_shuffle_epi8 (*lut, c);
  const __m512i yv = load2x32 (ya, yb);
  const __m512i z = _mm512_setzero_si512 ();
  const __m512i p
      = _mm512_sub_epi32 (_mm512_dpbusd_epi32 (z, c, yv), _mm512_dpbusd_epi32 (z, off, yv));
  return _mm512_fmadd_ps (_mm512_cvtepi32_ps (p), scale, acc);
}

static inline __m512i
nibble_shifts (void)
{
  return _mm512_inserti64x4 (
      _mm512_castsi256_si512 (_mm256_set_m128i (_mm_set1_epi16 (4), _mm_setzero_si128 ())),
      _mm256_set_m128i (_mm_set1_epi16 (4), _mm_setzero_si128 ()), 1);
}

static float
avx512_dot_q4_0 (int64_t n, const void *w, const void *a)
{
  const sm_block_q4_0 *x = w;
  const sm_block_q8_0 *y = a;
  const int64_t nb = n / SM_QK8_0;
  const __m512i m4 = _mm512_set1_epi8 (0x0F);
  const __m512i off = _mm512_set1_epi8 (8);
  const __m512i shifts = nibble_shifts ();
  const __m512i xoffs = block_offsets (sizeof (sm_block_q4_0));
  const __m512i yoffs = block_offsets (sizeof (sm_block_q8_0));
  __m512 acc0 = _mm512_setzero_ps (), acc1 = acc0;
  int64_t i = 0;

  for (; i + 16 <= nb; i += 16)
    {
      const __m512 s = _mm512_mul_ps (scales16 (&x[i], xoffs), scales16 (&y[i], yoffs));
#pragma GCC unroll 8
      for (int p = 0; p < 8; p += 2)
        {
          const sm_block_q4_0 *xb = x + i + 2 * p;
          const sm_block_q8_0 *yb = y + i + 2 * p;
          acc0 = nib_step (xb[0].qs, xb[1].qs, yb[0].qs, yb[1].qs, NULL, off, shifts, m4,
                           _mm512_permutexvar_ps (half_index (p), s), acc0);
          acc1 = nib_step (xb[2].qs, xb[3].qs, yb[2].qs, yb[3].qs, NULL, off, shifts, m4,
                           _mm512_permutexvar_ps (half_index (p + 1), s), acc1);
        }
    }
  float sum = _mm512_reduce_add_ps (_mm512_add_ps (acc0, acc1));
  if (i < nb)
    sum += x86_dot_q4_0 ((nb - i) * SM_QK8_0, x + i, y + i);
  return sum;
}

static float
avx512_dot_iq4_nl (int64_t n, const void *w, const void *a)
{
  const sm_block_iq4_nl *x = w;
  const sm_block_q8_0 *y = a;
  const int64_t nb = n / SM_QK4_NL;
  const __m512i m4 = _mm512_set1_epi8 (0x0F);
  const __m512i off = _mm512_set1_epi8 ((char) 0x80);
  const __m512i shifts = nibble_shifts ();
  const __m512i xoffs = block_offsets (sizeof (sm_block_iq4_nl));
  const __m512i yoffs = block_offsets (sizeof (sm_block_q8_0));
  int8_t lut_u[16];
  for (int k = 0; k < 16; k++)
    lut_u[k] = (int8_t) (sm_kvalues_iq4nl[k] + 128);
  const __m512i lut = _mm512_broadcast_i32x4 (_mm_loadu_si128 ((const __m128i *) lut_u));
  __m512 acc0 = _mm512_setzero_ps (), acc1 = acc0;
  int64_t i = 0;

  for (; i + 16 <= nb; i += 16)
    {
      const __m512 s = _mm512_mul_ps (scales16 (&x[i], xoffs), scales16 (&y[i], yoffs));
#pragma GCC unroll 8
      for (int p = 0; p < 8; p += 2)
        {
          const sm_block_iq4_nl *xb = x + i + 2 * p;
          const sm_block_q8_0 *yb = y + i + 2 * p;
          acc0 = nib_step (xb[0].qs, xb[1].qs, yb[0].qs, yb[1].qs, &lut, off, shifts, m4,
                           _mm512_permutexvar_ps (half_index (p), s), acc0);
          acc1 = nib_step (xb[2].qs, xb[3].qs, yb[2].qs, yb[3].qs, &lut, off, shifts, m4,
                           _mm512_permutexvar_ps (half_index (p + 1), s), acc1);
        }
    }
  float sum = _mm512_reduce_add_ps (_mm512_add_ps (acc0, acc1));
  if (i < nb)
    sum += x86_dot_iq4_nl ((nb - i) * SM_QK4_NL, x + i, y + i);
  return sum;
}

/* Q5_0, Q4_1, Q5_1 in the same 16-block frame. The 5th bits of two blocks (two LE uint32)
 * form one 64-bit mask register, and a masked move drops 0x10 into exactly the bytes whose bit
 * is set. Q4_1/Q5_1 add min * s per block (s = d * sum of the activation codes, stored in the
 * Q8_1 block): both gathered 16 at a time and multiplied into a separate accumulator. */
static inline __mmask64
q5_bits2 (const uint8_t *qh0, const uint8_t *qh1)
{
  uint32_t a0, a1;
  memcpy (&a0, qh0, 4);
  memcpy (&a1, qh1, 4);
  return (__mmask64) (a0 | ((uint64_t) a1 << 32));
}

static inline __m512
q5_step (const uint8_t *q0, const uint8_t *q1, const uint8_t *h0, const uint8_t *h1,
         const int8_t *ya, const int8_t *yb, bool offset16, __m512i shifts, __m512i m4,
         __m512 scale, __m512 acc)
{
  __m512i c = nibbles2 (q0, q1, shifts, m4);
  if (h0 != NULL)
    c = _mm512_or_si512 (c, _mm512_maskz_mov_epi8 (q5_bits2 (h0, h1), _mm512_set1_epi8 (0x10)));
  const __m512i yv = load2x32 (ya, yb);
  const __m512i z = _mm512_setzero_si512 ();
  __m512i p = _mm512_dpbusd_epi32 (z, c, yv);
  if (offset16)
    p = _mm512_sub_epi32 (p, _mm512_dpbusd_epi32 (z, _mm512_set1_epi8 (16), yv));
  return _mm512_fmadd_ps (_mm512_cvtepi32_ps (p), scale, acc);
}

static float
avx512_dot_q5_0 (int64_t n, const void *w, const void *a)
{
  const sm_block_q5_0 *x = w;
  const sm_block_q8_0 *y = a;
  const int64_t nb = n / SM_QK5_0;
  const __m512i m4 = _mm512_set1_epi8 (0x0F);
  const __m512i shifts = nibble_shifts ();
  const __m512i xoffs = block_offsets (sizeof (sm_block_q5_0));
  const __m512i yoffs = block_offsets (sizeof (sm_block_q8_0));
  __m512 acc0 = _mm512_setzero_ps (), acc1 = acc0;
  int64_t i = 0;

  for (; i + 16 <= nb; i += 16)
    {
      const __m512 s = _mm512_mul_ps (scales16 (&x[i], xoffs), scales16 (&y[i], yoffs));
#pragma GCC unroll 8
      for (int p = 0; p < 8; p += 2)
        {
          const sm_block_q5_0 *xb = x + i + 2 * p;
          const sm_block_q8_0 *yb = y + i + 2 * p;
          acc0 = q5_step (xb[0].qs, xb[1].qs, xb[0].qh, xb[1].qh, yb[0].qs, yb[1].qs, true, shifts,
                          m4, _mm512_permutexvar_ps (half_index (p), s), acc0);
          acc1 = q5_step (xb[2].qs, xb[3].qs, xb[2].qh, xb[3].qh, yb[2].qs, yb[3].qs, true, shifts,
                          m4, _mm512_permutexvar_ps (half_index (p + 1), s), acc1);
        }
    }
  float sum = _mm512_reduce_add_ps (_mm512_add_ps (acc0, acc1));
  if (i < nb)
    sum += x86_dot_q5_0 ((nb - i) * SM_QK5_0, x + i, y + i);
  return sum;
}

/* Q4_1 (qh_off < 0) and Q5_1 (qh at byte qh_off of each block): blocks of `stride` bytes with
 * d at 0, m at 2, nibbles at qs_off. */
static inline float
avx512_dot_x_1 (int64_t n, const uint8_t *x, size_t stride, int qs_off, int qh_off,
                const sm_block_q8_1 *y)
{
  const int64_t nb = n / 32;
  const __m512i m4 = _mm512_set1_epi8 (0x0F);
  const __m512i shifts = nibble_shifts ();
  const __m512i xoffs = block_offsets ((int) stride);
  const __m512i yoffs = block_offsets (sizeof (sm_block_q8_1));
  __m512 acc0 = _mm512_setzero_ps (), acc1 = acc0, accm = acc0;
  int64_t i = 0;

  for (; i + 16 <= nb; i += 16)
    {
      const uint8_t *xg = x + (size_t) i * stride;
      const __m512 s = _mm512_mul_ps (scales16 (xg, xoffs), scales16 (&y[i], yoffs));
      /* min * s of the 16 blocks: m sits 2 bytes after d in both block types. */
      accm = _mm512_fmadd_ps (scales16 (xg + 2, xoffs),
                              scales16 ((const uint8_t *) &y[i] + 2, yoffs), accm);
#pragma GCC unroll 8
      for (int p = 0; p < 8; p += 2)
        {
          const uint8_t *b = xg + (size_t) (2 * p) * stride;
          const sm_block_q8_1 *yb = y + i + 2 * p;
          const uint8_t *h[4] = { NULL, NULL, NULL, NULL };
          if (qh_off >= 0)
            for (int k = 0; k < 4; k++)
              h[k] = b + k * stride + qh_off;
          acc0 = q5_step (b + qs_off, b + stride + qs_off, h[0], h[1], yb[0].qs, yb[1].qs, false,
                          shifts, m4, _mm512_permutexvar_ps (half_index (p), s), acc0);
          acc1 = q5_step (b + 2 * stride + qs_off, b + 3 * stride + qs_off, h[2], h[3], yb[2].qs,
                          yb[3].qs, false, shifts, m4,
                          _mm512_permutexvar_ps (half_index (p + 1), s), acc1);
        }
    }
  float sum = _mm512_reduce_add_ps (_mm512_add_ps (_mm512_add_ps (acc0, acc1), accm));
  if (i < nb)
    sum += qh_off < 0 ? x86_dot_q4_1 ((nb - i) * 32, x + (size_t) i * stride, y + i)
                      : x86_dot_q5_1 ((nb - i) * 32, x + (size_t) i * stride, y + i);
  return sum;
}

static float
avx512_dot_q4_1 (int64_t n, const void *w, const void *a)
{
  return avx512_dot_x_1 (n, w, sizeof (sm_block_q4_1), 4, -1, a);
}

static float
avx512_dot_q5_1 (int64_t n, const void *w, const void *a)
{
  return avx512_dot_x_1 (n, w, sizeof (sm_block_q5_1), 8, 4, a);
}

void
sm_quant_fill_avx512 (sm_vec_dot_fn vec_dot[SM_TYPE_COUNT], sm_activation_fn act[SM_TYPE_COUNT])
{
  x86_fill_common (vec_dot, act);
  /* F32 keeps the 256-bit kernel: with rows only 16-byte aligned, every 64-byte load splits a
   * cache line, and the 512-bit version measured ~13% slower here. */
  vec_dot[SM_TYPE_Q8_0] = avx512_dot_q8_0;
  vec_dot[SM_TYPE_Q4_0] = avx512_dot_q4_0;
  vec_dot[SM_TYPE_IQ4_NL] = avx512_dot_iq4_nl;
  vec_dot[SM_TYPE_Q4_1] = avx512_dot_q4_1;
  vec_dot[SM_TYPE_Q5_0] = avx512_dot_q5_0;
  vec_dot[SM_TYPE_Q5_1] = avx512_dot_q5_1;
  /* Q4_K keeps the 256-bit kernel: a 512-bit version measured slower on this machine. */
  vec_dot[SM_TYPE_Q5_K] = avx512_dot_q5_K;
  vec_dot[SM_TYPE_Q6_K] = avx512_dot_q6_K;
  vec_dot[SM_TYPE_IQ4_XS] = avx512_dot_iq4_xs;
}

/* ---- Tiles through repacked weights: 16 rows x up to 8 tokens per register pass ----
 *
 * A panel of 16 weight rows is repacked, PANEL_CHUNK blocks at a time, into a stack buffer laid
 * out for vpdpbusd: lane r of q[k] holds elements 4k..4k+3 of row r's block as signed bytes
 * (Q8_0 as stored, Q4_0 nibbles - 8), gathered with one vpgatherdd per k; d holds the 16 row
 * scales. The activations are the unsigned operand: each token's bytes + 128, copied once per
 * chunk into a small buffer, broadcast four bytes at a time, so one vpdpbusd advances 16 rows
 * of one token by 4 elements. The + 128 adds 128 * sum(w) to each row's sum; that bias depends
 * on the row only, so it is formed in the repacking (8 vpdpbusd against ones) and starts every
 * token's integer sum, which is then exactly the reference's. A (16 rows, 1 token, block) costs
 * 8 vpdpbusd, one conversion, one scale product and one FMA, and the result of a token is 16
 * consecutive floats of its output row. The k loop runs outside the token loop, so the tokens'
 * integer sums are independent dependency chains interleaved for the out-of-order core (one
 * token's 8 vpdpbusd in a row wait on each other's latency). Panels repack once and serve every
 * token of the batch; chunks keep the buffers (about 28 KiB) in L1 and add into the output.
 * Rows past nr are masked off in the gathers (they read nothing) and in the output loads and
 * stores, so any nr runs the panel without writing outside the tile; strides too large for
 * 32-bit gather offsets go to the 4 x 4 tiles of sm-quant-x86.h. */
enum { PANEL_ROWS = 16, PANEL_COLS = 8, PANEL_CHUNK = 32 };

typedef struct
{
  __m512i q[8];
  __m512i bias;  /* 128 * -sum(w) of each row */
  __m512  d;
} panel_block;

static inline __attribute__ ((always_inline)) void
panel_pack (int            kind,
            panel_block   *p,
            const uint8_t *w,
            size_t         ws,
            __mmask16      rows,
            int64_t        b0,
            int            nb)
{
  const __m512i idx = _mm512_mullo_epi32 (_mm512_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                                             11, 12, 13, 14, 15),
                                          _mm512_set1_epi32 ((int) ws));
  const size_t bs = kind == X86_TILE_Q8_0 ? sizeof (sm_block_q8_0) : sizeof (sm_block_q4_0);
  const __m512i m4 = _mm512_set1_epi8 (0x0F), eight = _mm512_set1_epi8 (8);
  const __m512i ones = _mm512_set1_epi8 (1), zero = _mm512_setzero_si512 ();

  for (int b = 0; b < nb; b++)
    {
      const uint8_t *base = w + (size_t) (b0 + b) * bs;
      /* The dword at the block start: the f16 scale in its low half. */
      p[b].d = _mm512_cvtph_ps (_mm512_cvtepi32_epi16 (
          _mm512_mask_i32gather_epi32 (zero, rows, idx, base, 1)));
      if (kind == X86_TILE_Q8_0)
        {
#pragma GCC unroll 8
          for (int k = 0; k < 8; k++)
            p[b].q[k] = _mm512_mask_i32gather_epi32 (zero, rows, idx, base + 2 + 4 * k, 1);
        }
      else
        {
          /* Byte j holds element j (low nibble) and element j + 16 (high nibble). */
#pragma GCC unroll 4
          for (int k = 0; k < 4; k++)
            {
              const __m512i v = _mm512_mask_i32gather_epi32 (zero, rows, idx, base + 2 + 4 * k,
                                                             1);
              p[b].q[k] = _mm512_sub_epi8 (_mm512_and_si512 (v, m4), eight);
              p[b].q[k + 4] = _mm512_sub_epi8 (_mm512_and_si512 (_mm512_srli_epi32 (v, 4), m4),
                                               eight);
            }
        }
      __m512i sw = zero;
#pragma GCC unroll 8
      for (int k = 0; k < 8; k++)
        sw = _mm512_dpbusd_epi32 (sw, ones, p[b].q[k]);
      p[b].bias = _mm512_sub_epi32 (zero, _mm512_slli_epi32 (sw, 7));
    }
}

static inline int32_t
panel_load_i32 (const void *p)
{
  int32_t v;
  memcpy (&v, p, sizeof v);
  return v;
}

static inline __attribute__ ((always_inline)) void
panel_cols (int                nc,
            const panel_block *p,
            int                nb,
            const uint8_t      ua[][PANEL_CHUNK][SM_QK8_0],
            const float        da[][PANEL_CHUNK],
            float             *out,
            size_t             os,
            __mmask16          rows,
            bool               first)
{
  __m512 acc[PANEL_COLS];

#pragma GCC unroll 8
  for (int c = 0; c < nc; c++)
    acc[c] = first ? _mm512_setzero_ps () : _mm512_maskz_loadu_ps (rows, out + (size_t) c * os);
  for (int b = 0; b < nb; b++)
    {
      __m512i s[PANEL_COLS];
#pragma GCC unroll 8
      for (int c = 0; c < nc; c++)
        s[c] = p[b].bias;
      /* The k loop outside the token loop: nc independent chains. */
#pragma GCC unroll 8
      for (int k = 0; k < 8; k++)
        {
          const __m512i q = _mm512_load_si512 (&p[b].q[k]);
#pragma GCC unroll 8
          for (int c = 0; c < nc; c++)
            s[c] = _mm512_dpbusd_epi32 (s[c], _mm512_set1_epi32 (panel_load_i32 (&ua[c][b][4 * k])),
                                        q);
        }
      const __m512 dw = p[b].d;
#pragma GCC unroll 8
      for (int c = 0; c < nc; c++)
        acc[c] = _mm512_fmadd_ps (_mm512_cvtepi32_ps (s[c]),
                                  _mm512_mul_ps (dw, _mm512_set1_ps (da[c][b])), acc[c]);
    }
#pragma GCC unroll 8
  for (int c = 0; c < nc; c++)
    _mm512_mask_storeu_ps (out + (size_t) c * os, rows, acc[c]);
}

static inline __attribute__ ((always_inline)) void
avx512_gemm (int             kind,
             sm_gemm_tile_fn tail,
             int64_t         n,
             const void     *w,
             size_t          ws,
             int             nr,
             const void     *a,
             size_t          as,
             int             nc,
             float          *out,
             size_t          os)
{
  const uint8_t *wp = w, *ap = a;
  const int64_t nb = n / SM_QK8_0;

  if (ws > (size_t) INT32_MAX / PANEL_ROWS)
    {
      tail (n, w, ws, nr, a, as, nc, out, os);
      return;
    }

  const __m512i dstep = _mm512_mullo_epi32 (_mm512_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                                               11, 12, 13, 14, 15),
                                            _mm512_set1_epi32 ((int) sizeof (sm_block_q8_0)));
  const __m256i flip = _mm256_set1_epi8 ((char) 0x80);
  panel_block p[PANEL_CHUNK];
  _Alignas (64) uint8_t ua[PANEL_COLS][PANEL_CHUNK][SM_QK8_0];
  _Alignas (64) float da[PANEL_COLS][PANEL_CHUNK];

  for (int r = 0; r < nr; r += PANEL_ROWS)
    {
      const __mmask16 rows = nr - r >= PANEL_ROWS ? (__mmask16) 0xFFFF
                                                  : (__mmask16) ((1u << (nr - r)) - 1);
      for (int64_t b0 = 0; b0 < nb; b0 += PANEL_CHUNK)
        {
          const int nbc = (int) (nb - b0 < PANEL_CHUNK ? nb - b0 : PANEL_CHUNK);
          panel_pack (kind, p, wp + (size_t) r * ws, ws, rows, b0, nbc);
          for (int c0 = 0; c0 < nc; c0 += PANEL_COLS)
            {
              const int ncc = nc - c0 < PANEL_COLS ? nc - c0 : PANEL_COLS;
              /* The chunk of each token: bytes + 128 and the scales as floats. */
              for (int c = 0; c < ncc; c++)
                {
                  const sm_block_q8_0 *y = (const sm_block_q8_0 *) (ap + (size_t) (c0 + c) * as)
                                           + b0;
                  int b = 0;
                  for (; b + 16 <= nbc; b += 16)
                    _mm512_store_ps (&da[c][b], _mm512_cvtph_ps (_mm512_cvtepi32_epi16 (
                                                    _mm512_i32gather_epi32 (dstep, &y[b], 1))));
                  for (; b < nbc; b++)
                    da[c][b] = x86_h2f (y[b].d);
                  for (b = 0; b < nbc; b++)
                    _mm256_store_si256 ((__m256i *) ua[c][b],
                                        _mm256_xor_si256 (loadu256 (y[b].qs), flip));
                }
              float *oc = out + (size_t) c0 * os + r;
              const bool first = b0 == 0;
              int c = 0;
              if (ncc == PANEL_COLS)
                {
                  panel_cols (PANEL_COLS, p, nbc, ua, da, oc, os, rows, first);
                  continue;
                }
              if (ncc - c >= 4)
                {
                  panel_cols (4, p, nbc, ua, da, oc, os, rows, first);
                  c += 4;
                }
              if (ncc - c >= 2)
                {
                  panel_cols (2, p, nbc, ua + c, da + c, oc + (size_t) c * os, os, rows, first);
                  c += 2;
                }
              if (ncc - c >= 1)
                panel_cols (1, p, nbc, ua + c, da + c, oc + (size_t) c * os, os, rows, first);
            }
        }
    }
}

static void
avx512_gemm_q8_0 (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int nc,
                  float *out, size_t os)
{
  avx512_gemm (X86_TILE_Q8_0, x86_gemm_q8_0, n, w, ws, nr, a, as, nc, out, os);
}

static void
avx512_gemm_q4_0 (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int nc,
                  float *out, size_t os)
{
  avx512_gemm (X86_TILE_Q4_0, x86_gemm_q4_0, n, w, ws, nr, a, as, nc, out, os);
}

/* The 256-bit VNNI tiles of sm-quant-x86.h (4 rows x 4 columns) for the types without a panel;
 * the panels for Q8_0 and Q4_0. */
void
sm_quant_fill_gemm_avx512 (sm_gemm_tile_fn gemm[SM_TYPE_COUNT])
{
  x86_fill_gemm (gemm);
  gemm[SM_TYPE_Q8_0] = avx512_gemm_q8_0;
  gemm[SM_TYPE_Q4_0] = avx512_gemm_q4_0;
}
