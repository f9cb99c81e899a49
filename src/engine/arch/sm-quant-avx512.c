/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-quant-avx512.c: the AVX-512 variant (F, BW, VL, DQ, VNNI; BF16 where the CPU has it).
 * The byte-dot kernels of sm-quant-x86.h are built here with VNNI (vpdpbusd: four u8 x s8
 * products summed into an int32 lane in one instruction), the float kernels use 512-bit
 * registers, and the hot K-quant and IQ4_XS kernels are widened to 512 bits (one zmm holds the
 * 64 elements that share a byte of nibbles). Compiled with its own -mavx512* flags; only called
 * after sm-dispatch.c has checked the CPU.
 */
#include <math.h>
#include <string.h>

#define SM_X86_VNNI 1
#include "sm-quant-x86.h"

/* ---- Float types ---- */

static float
avx512_dot_f32 (int64_t n, const void *w, const void *a)
{
  const float *x = w, *y = a;
  __m512 s0 = _mm512_setzero_ps (), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;

  for (; i + 64 <= n; i += 64)
    {
      s0 = _mm512_fmadd_ps (_mm512_loadu_ps (x + i), _mm512_loadu_ps (y + i), s0);
      s1 = _mm512_fmadd_ps (_mm512_loadu_ps (x + i + 16), _mm512_loadu_ps (y + i + 16), s1);
      s2 = _mm512_fmadd_ps (_mm512_loadu_ps (x + i + 32), _mm512_loadu_ps (y + i + 32), s2);
      s3 = _mm512_fmadd_ps (_mm512_loadu_ps (x + i + 48), _mm512_loadu_ps (y + i + 48), s3);
    }
  for (; i + 16 <= n; i += 16)
    s0 = _mm512_fmadd_ps (_mm512_loadu_ps (x + i), _mm512_loadu_ps (y + i), s0);
  /* Tail: a masked load reads only the remaining elements (zeros elsewhere). */
  if (i < n)
    {
      const __mmask16 m = (__mmask16) ((1u << (n - i)) - 1);
      s1 = _mm512_fmadd_ps (_mm512_maskz_loadu_ps (m, x + i), _mm512_maskz_loadu_ps (m, y + i), s1);
    }
  return _mm512_reduce_add_ps (_mm512_add_ps (_mm512_add_ps (s0, s1), _mm512_add_ps (s2, s3)));
}

static inline __m512
load_f16x16 (const uint16_t *p)
{
  return _mm512_cvtph_ps (_mm256_loadu_si256 ((const __m256i *) p));
}

static float
avx512_dot_f16 (int64_t n, const void *w, const void *a)
{
  const uint16_t *x = w, *y = a;
  __m512 s0 = _mm512_setzero_ps (), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;

  for (; i + 64 <= n; i += 64)
    {
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

static inline __m512
load_bf16x16 (const uint16_t *p)
{
  const __m512i v = _mm512_cvtepu16_epi32 (_mm256_loadu_si256 ((const __m256i *) p));
  return _mm512_castsi512_ps (_mm512_slli_epi32 (v, 16));
}

/* Without avx512_bf16: widen by shifting, then FMA. */
static float
avx512_dot_bf16_shift (int64_t n, const void *w, const void *a)
{
  const uint16_t *x = w, *y = a;
  __m512 s0 = _mm512_setzero_ps (), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;

  for (; i + 64 <= n; i += 64)
    {
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
 * into one of 16 float lanes, so no widening is needed at all. (It treats bf16 subnormals as
 * zero; they are below 1e-38 and vanish in any real dot product.) */
__attribute__ ((target ("avx512bf16"))) static float
avx512_dot_bf16_dp (int64_t n, const void *w, const void *a)
{
  const uint16_t *x = w, *y = a;
  __m512 s0 = _mm512_setzero_ps (), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;

#define LD(p) ((__m512bh) _mm512_loadu_si512 ((const void *) (p)))
  for (; i + 128 <= n; i += 128)
    {
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
      const __m512i scv = _mm512_cvtepu8_epi16 (_mm256_castsi128_si256 (_mm_cvtsi64_si128 ((long long) sc)));
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
          sumi = _mm512_add_epi32 (sumi, _mm512_madd_epi16 (p, _mm512_permutexvar_epi16 (idx[j], scv)));
          hz = _mm512_srli_epi16 (hz, 2);
        }
      acc = _mm512_fmadd_ps (_mm512_set1_ps (y[i].d * x86_h2f (x[i].d)),
                             _mm512_cvtepi32_ps (sumi), acc);
    }
  return _mm512_reduce_add_ps (acc) - hsum_ps256 (accm);
}

/* Index vector for vpermw: four runs of 8 lanes taking scales 4k .. 4k + 3. */
static inline __m512i
quad_index (int k)
{
  return _mm512_inserti64x4 (
    _mm512_castsi256_si512 (_mm256_set_m128i (_mm_set1_epi16 ((short) (4 * k + 1)), _mm_set1_epi16 ((short) (4 * k)))),
    _mm256_set_m128i (_mm_set1_epi16 ((short) (4 * k + 3)), _mm_set1_epi16 ((short) (4 * k + 2))), 1);
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
          const __m512i h01 = _mm512_inserti64x4 (_mm512_castsi256_si512 (_mm256_slli_epi16 (qh, 4)),
                                                  _mm256_slli_epi16 (qh, 2), 1);
          const __m512i h23 = _mm512_inserti64x4 (_mm512_castsi256_si512 (qh),
                                                  _mm256_srli_epi16 (qh, 2), 1);
          const __m512i q0 = _mm512_or_si512 (_mm512_and_si512 (l, m4), _mm512_and_si512 (h01, m2));
          const __m512i q1 = _mm512_or_si512 (_mm512_and_si512 (_mm512_srli_epi16 (l, 4), m4),
                                              _mm512_and_si512 (h23, m2));
          const __m512i p0 = _mm512_maddubs_epi16 (q0, _mm512_loadu_si512 (y[i].qs + 128 * h));
          const __m512i p1 = _mm512_maddubs_epi16 (q1, _mm512_loadu_si512 (y[i].qs + 128 * h + 64));
          sumi = _mm512_add_epi32 (sumi, _mm512_madd_epi16 (p0, _mm512_permutexvar_epi16 (idx[2 * h], scv)));
          sumi = _mm512_add_epi32 (sumi, _mm512_madd_epi16 (p1, _mm512_permutexvar_epi16 (idx[2 * h + 1], scv)));
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
          const __m512i q = _mm512_shuffle_epi8 (lut, _mm512_shuffle_i64x2 (z, z, _MM_SHUFFLE (3, 1, 2, 0)));
          const __m512i dp = _mm512_dpbusd_epi32 (_mm512_setzero_si512 (), q,
                                                  _mm512_loadu_si512 (y[i].qs + 64 * p));
          sumi = _mm512_add_epi32 (sumi, _mm512_mullo_epi32 (dp, _mm512_permutexvar_epi32 (pidx[p], scl)));
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
  return _mm512_mullo_epi32 (_mm512_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
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
          acc0 = _mm512_fmadd_ps (_mm512_cvtepi32_ps (d0), _mm512_permutexvar_ps (half_index (p), s), acc0);
          acc1 = _mm512_fmadd_ps (_mm512_cvtepi32_ps (d1), _mm512_permutexvar_ps (half_index (p + 1), s), acc1);
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
  const __m512i p = _mm512_sub_epi32 (_mm512_dpbusd_epi32 (z, c, yv), _mm512_dpbusd_epi32 (z, off, yv));
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

void
sm_quant_fill_avx512 (sm_vec_dot_fn    vec_dot[SM_TYPE_COUNT],
                      sm_activation_fn act[SM_TYPE_COUNT],
                      bool             has_bf16)
{
  x86_fill_common (vec_dot, act);
  vec_dot[SM_TYPE_F32] = avx512_dot_f32;
  vec_dot[SM_TYPE_F16] = avx512_dot_f16;
  vec_dot[SM_TYPE_BF16] = has_bf16 ? avx512_dot_bf16_dp : avx512_dot_bf16_shift;
  vec_dot[SM_TYPE_Q8_0] = avx512_dot_q8_0;
  vec_dot[SM_TYPE_Q4_0] = avx512_dot_q4_0;
  vec_dot[SM_TYPE_IQ4_NL] = avx512_dot_iq4_nl;
  /* Q4_K keeps the 256-bit kernel: a 512-bit version measured slower on this machine. */
  vec_dot[SM_TYPE_Q5_K] = avx512_dot_q5_K;
  vec_dot[SM_TYPE_Q6_K] = avx512_dot_q6_K;
  vec_dot[SM_TYPE_IQ4_XS] = avx512_dot_iq4_xs;
}
