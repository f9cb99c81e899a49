/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-quant-neon.c: the aarch64 NEON variant (Advanced SIMD is mandatory on aarch64, so it needs
 * no run-time check). Dot products for F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL,
 * Q2_K..Q6_K and IQ4_XS; the grid types and the activation rows use the reference. Built only
 * when the host is aarch64; on an x86 machine it can be cross-built and run under qemu-user by
 * tests/engine/check-neon-qemu.sh.
 *
 * The byte dot: with the dotprod extension (armv8.2-a+dotprod, when the compiler targets it)
 * SDOT sums four int8 products per int32 lane; without it SMULL/SMULL2 form int16 products and
 * SADALP adds adjacent pairs into int32 lanes. Either way only the total of the four lanes is
 * used. Nibble formats become signed bytes by masking/shifting and subtracting their offset.
 */
#include <arm_neon.h>
#include <string.h>

#include "sm-quant-private.h"

static inline int32x4_t
dot16 (int32x4_t acc, int8x16_t a, int8x16_t b)
{
#if defined(__ARM_FEATURE_DOTPROD)
  return vdotq_s32 (acc, a, b);
#else
  const int16x8_t p0 = vmull_s8 (vget_low_s8 (a), vget_low_s8 (b));
  const int16x8_t p1 = vmull_high_s8 (a, b);
  return vpadalq_s16 (vpadalq_s16 (acc, p0), p1);
#endif
}

/* Sum of a * b over 32 bytes given as two halves. */
static inline int
dot32 (int8x16_t a0, int8x16_t a1, const int8_t *b)
{
  return vaddvq_s32 (dot16 (dot16 (vdupq_n_s32 (0), a0, vld1q_s8 (b)), a1, vld1q_s8 (b + 16)));
}

static inline float
h2f (sm_half h)
{
  return sm_half_to_float (h);
}

/* ---- Float types ---- */

static float
neon_dot_f32 (int64_t n, const void *w, const void *a)
{
  const float *x = w, *y = a;
  float32x4_t s0 = vdupq_n_f32 (0), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;

  for (; i + 16 <= n; i += 16)
    {
      s0 = vfmaq_f32 (s0, vld1q_f32 (x + i), vld1q_f32 (y + i));
      s1 = vfmaq_f32 (s1, vld1q_f32 (x + i + 4), vld1q_f32 (y + i + 4));
      s2 = vfmaq_f32 (s2, vld1q_f32 (x + i + 8), vld1q_f32 (y + i + 8));
      s3 = vfmaq_f32 (s3, vld1q_f32 (x + i + 12), vld1q_f32 (y + i + 12));
    }
  float sum = vaddvq_f32 (vaddq_f32 (vaddq_f32 (s0, s1), vaddq_f32 (s2, s3)));
  for (; i < n; i++)
    sum += x[i] * y[i];
  return sum;
}

/* f16 -> f32 with FCVTL (baseline aarch64). */
static inline float32x4_t
ld_f16x4 (const uint16_t *p)
{
  return vcvt_f32_f16 (vreinterpret_f16_u16 (vld1_u16 (p)));
}

static float
neon_dot_f16 (int64_t n, const void *w, const void *a)
{
  const uint16_t *x = w, *y = a;
  float32x4_t s0 = vdupq_n_f32 (0), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;

  for (; i + 16 <= n; i += 16)
    {
      s0 = vfmaq_f32 (s0, ld_f16x4 (x + i), ld_f16x4 (y + i));
      s1 = vfmaq_f32 (s1, ld_f16x4 (x + i + 4), ld_f16x4 (y + i + 4));
      s2 = vfmaq_f32 (s2, ld_f16x4 (x + i + 8), ld_f16x4 (y + i + 8));
      s3 = vfmaq_f32 (s3, ld_f16x4 (x + i + 12), ld_f16x4 (y + i + 12));
    }
  float sum = vaddvq_f32 (vaddq_f32 (vaddq_f32 (s0, s1), vaddq_f32 (s2, s3)));
  for (; i < n; i++)
    sum += h2f (x[i]) * h2f (y[i]);
  return sum;
}

/* bf16 -> f32: shift each 16-bit value into the top half of a 32-bit lane (USHLL #16). */
static inline float32x4_t
ld_bf16x4 (const uint16_t *p)
{
  return vreinterpretq_f32_u32 (vshll_n_u16 (vld1_u16 (p), 16));
}

static float
neon_dot_bf16 (int64_t n, const void *w, const void *a)
{
  const uint16_t *x = w, *y = a;
  float32x4_t s0 = vdupq_n_f32 (0), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;

  for (; i + 16 <= n; i += 16)
    {
      s0 = vfmaq_f32 (s0, ld_bf16x4 (x + i), ld_bf16x4 (y + i));
      s1 = vfmaq_f32 (s1, ld_bf16x4 (x + i + 4), ld_bf16x4 (y + i + 4));
      s2 = vfmaq_f32 (s2, ld_bf16x4 (x + i + 8), ld_bf16x4 (y + i + 8));
      s3 = vfmaq_f32 (s3, ld_bf16x4 (x + i + 12), ld_bf16x4 (y + i + 12));
    }
  float sum = vaddvq_f32 (vaddq_f32 (vaddq_f32 (s0, s1), vaddq_f32 (s2, s3)));
  for (; i < n; i++)
    sum += sm_bf16_to_float (x[i]) * sm_bf16_to_float (y[i]);
  return sum;
}

/* ---- 32-element formats against Q8_0 ---- */

static float
neon_dot_q8_0 (int64_t n, const void *w, const void *a)
{
  const sm_block_q8_0 *x = w, *y = a;
  float sum = 0;

  for (int64_t i = 0; i < n / SM_QK8_0; i++)
    sum += (float) dot32 (vld1q_s8 (x[i].qs), vld1q_s8 (x[i].qs + 16), y[i].qs)
           * (h2f (x[i].d) * h2f (y[i].d));
  return sum;
}

/* 16 bytes of nibbles -> elements 0..15 (low nibbles) and 16..31 (high nibbles). */
static inline void
nibbles (const uint8_t *qs, uint8x16_t *lo, uint8x16_t *hi)
{
  const uint8x16_t q = vld1q_u8 (qs);
  *lo = vandq_u8 (q, vdupq_n_u8 (0x0F));
  *hi = vshrq_n_u8 (q, 4);
}

static float
neon_dot_q4_0 (int64_t n, const void *w, const void *a)
{
  const sm_block_q4_0 *x = w;
  const sm_block_q8_0 *y = a;
  const int8x16_t eight = vdupq_n_s8 (8);
  float sum = 0;

  for (int64_t i = 0; i < n / SM_QK8_0; i++)
    {
      uint8x16_t lo, hi;
      nibbles (x[i].qs, &lo, &hi);
      const int8x16_t l = vsubq_s8 (vreinterpretq_s8_u8 (lo), eight);
      const int8x16_t h = vsubq_s8 (vreinterpretq_s8_u8 (hi), eight);
      sum += (float) dot32 (l, h, y[i].qs) * h2f (x[i].d) * h2f (y[i].d);
    }
  return sum;
}

/* TBL looks the 16 IQ4 levels up by nibble. */
static float
neon_dot_iq4_nl (int64_t n, const void *w, const void *a)
{
  const sm_block_iq4_nl *x = w;
  const sm_block_q8_0 *y = a;
  const int8x16_t lut = vld1q_s8 (sm_kvalues_iq4nl);
  float sum = 0;

  for (int64_t i = 0; i < n / SM_QK4_NL; i++)
    {
      uint8x16_t lo, hi;
      nibbles (x[i].qs, &lo, &hi);
      sum += h2f (x[i].d) * h2f (y[i].d)
             * (float) dot32 (vqtbl1q_s8 (lut, lo), vqtbl1q_s8 (lut, hi), y[i].qs);
    }
  return sum;
}

/* Q4_1 / Q5_0 / Q5_1. The 5th bits: two bytes of qh are duplicated across 8 lanes each and
 * tested against 1, 2, 4, .., 128 (CMTST), giving 0xFF where the bit is set, masked to 0x10. */
static inline uint8x16_t
q5_bits16 (uint8_t b0, uint8_t b1)
{
  static const uint8_t bitsel[16] = { 1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128 };
  const uint8x16_t v = vcombine_u8 (vdup_n_u8 (b0), vdup_n_u8 (b1));
  return vandq_u8 (vtstq_u8 (v, vld1q_u8 (bitsel)), vdupq_n_u8 (0x10));
}

/* Codes of a 32-element 4/5-bit block: elements 0..15 in *lo, 16..31 in *hi, unsigned. */
static inline void
codes5 (const uint8_t *qs, const uint8_t *qh, uint8x16_t *lo, uint8x16_t *hi)
{
  nibbles (qs, lo, hi);
  if (qh != NULL)
    {
      *lo = vorrq_u8 (*lo, q5_bits16 (qh[0], qh[1]));
      *hi = vorrq_u8 (*hi, q5_bits16 (qh[2], qh[3]));
    }
}

static float
neon_dot_q5_0 (int64_t n, const void *w, const void *a)
{
  const sm_block_q5_0 *x = w;
  const sm_block_q8_0 *y = a;
  const int8x16_t sixteen = vdupq_n_s8 (16);
  float sum = 0;

  for (int64_t i = 0; i < n / SM_QK5_0; i++)
    {
      uint8x16_t lo, hi;
      codes5 (x[i].qs, x[i].qh, &lo, &hi);
      const int8x16_t l = vsubq_s8 (vreinterpretq_s8_u8 (lo), sixteen);
      const int8x16_t h = vsubq_s8 (vreinterpretq_s8_u8 (hi), sixteen);
      sum += (float) dot32 (l, h, y[i].qs) * h2f (x[i].d) * h2f (y[i].d);
    }
  return sum;
}

/* Q4_1 / Q5_1 against Q8_1: unsigned codes (< 32, so they are valid signed bytes too), plus
 * m * s per block. */
static inline float
neon_dot_x_1 (int64_t n, const uint8_t *x, size_t stride, int qs_off, int qh_off,
              const sm_block_q8_1 *y)
{
  float sum = 0;

  for (int64_t i = 0; i < n / 32; i++, x += stride)
    {
      uint8x16_t lo, hi;
      codes5 (x + qs_off, qh_off >= 0 ? x + qh_off : NULL, &lo, &hi);
      const sm_half d = (sm_half) (x[0] | (x[1] << 8));
      const sm_half m = (sm_half) (x[2] | (x[3] << 8));
      sum += (float) dot32 (vreinterpretq_s8_u8 (lo), vreinterpretq_s8_u8 (hi), y[i].qs)
                 * (h2f (d) * h2f (y[i].d))
             + h2f (m) * h2f (y[i].s);
    }
  return sum;
}

static float
neon_dot_q4_1 (int64_t n, const void *w, const void *a)
{
  return neon_dot_x_1 (n, w, sizeof (sm_block_q4_1), 4, -1, a);
}

static float
neon_dot_q5_1 (int64_t n, const void *w, const void *a)
{
  return neon_dot_x_1 (n, w, sizeof (sm_block_q5_1), 8, 4, a);
}

/* Q2_K and Q3_K: element 128h + 32k + l is bits 2k..2k+1 of qs[32h + l]; Q3_K subtracts 4 where
 * bit 4h + k of hmask[l] is clear. One sub-block of 16 is one 16-byte dot. */
static inline float
neon_dot_q2_3_K (int64_t n, const void *w, const void *a, bool q3)
{
  const sm_block_q8_K *y = a;
  const uint8x16_t m3 = vdupq_n_u8 (3);
  float sum = 0;

  for (int64_t i = 0; i < n / SM_QK_K; i++)
    {
      int sc[16];
      const uint8_t *qs, *hmask = NULL;
      float d, dmin = 0;
      int msum = 0;
      if (q3)
        {
          const sm_block_q3_K *b = (const sm_block_q3_K *) w + i;
          for (int j = 0; j < 16; j++)
            {
              const int low = j < 8 ? b->scales[j] & 0xF : b->scales[j - 8] >> 4;
              const int high = (b->scales[8 + j % 4] >> (2 * (j / 4))) & 3;
              sc[j] = (low | (high << 4)) - 32;
            }
          qs = b->qs;
          hmask = b->hmask;
          d = h2f (b->d);
        }
      else
        {
          const sm_block_q2_K *b = (const sm_block_q2_K *) w + i;
          for (int j = 0; j < 16; j++)
            {
              sc[j] = b->scales[j] & 0xF;
              msum += (b->scales[j] >> 4) * y[i].bsums[j];
            }
          qs = b->qs;
          d = h2f (b->d);
          dmin = h2f (b->dmin);
        }

      int isum = 0;
      for (int h = 0; h < 2; h++)
        for (int half = 0; half < 2; half++)
          {
            const uint8x16_t bits = vld1q_u8 (qs + 32 * h + 16 * half);
            const uint8x16_t hm = q3 ? vld1q_u8 (hmask + 16 * half) : vdupq_n_u8 (0);
            for (int k = 0; k < 4; k++)
              {
                int8x16_t v = vreinterpretq_s8_u8 (
                    vandq_u8 (vshlq_u8 (bits, vdupq_n_s8 ((int8_t) (-2 * k))), m3));
                if (q3)
                  {
                    /* 4 where the high bit is clear: (~hm >> (4h + k)) & 1, times 4. */
                    const uint8x16_t clear
                        = vandq_u8 (vshlq_u8 (vmvnq_u8 (hm), vdupq_n_s8 ((int8_t) (-(4 * h + k)))),
                                    vdupq_n_u8 (1));
                    v = vsubq_s8 (v, vreinterpretq_s8_u8 (vshlq_n_u8 (clear, 2)));
                  }
                const int e0 = 128 * h + 32 * k + 16 * half;
                isum += sc[e0 / 16]
                        * vaddvq_s32 (dot16 (vdupq_n_s32 (0), v, vld1q_s8 (y[i].qs + e0)));
              }
          }
      sum += y[i].d * d * (float) isum - y[i].d * dmin * (float) msum;
    }
  return sum;
}

static float
neon_dot_q2_K (int64_t n, const void *w, const void *a)
{
  return neon_dot_q2_3_K (n, w, a, false);
}

static float
neon_dot_q3_K (int64_t n, const void *w, const void *a)
{
  return neon_dot_q2_3_K (n, w, a, true);
}

/* ---- K-quants against Q8_K ---- */

static inline void
k4_scales (const uint8_t *q, uint8_t *sc, uint8_t *mn)
{
  for (int j = 0; j < 4; j++)
    {
      sc[j] = q[j] & 63;
      mn[j] = q[j + 4] & 63;
      sc[j + 4] = (uint8_t) ((q[j + 8] & 0xF) | ((q[j] >> 6) << 4));
      mn[j + 4] = (uint8_t) ((q[j + 8] >> 4) | ((q[j + 4] >> 6) << 4));
    }
}

/* sum_j mn[j] * (bsums[2j] + bsums[2j+1]): pairwise-add the 16 bsums, multiply-accumulate. */
static inline int
k4_mins (const uint8_t *mn, const int16_t *bsums)
{
  const int16x8_t pairs = vpaddq_s16 (vld1q_s16 (bsums), vld1q_s16 (bsums + 8));
  const int16x8_t m = vreinterpretq_s16_u16 (vmovl_u8 (vld1_u8 (mn)));
  int32x4_t s = vmull_s16 (vget_low_s16 (pairs), vget_low_s16 (m));
  s = vmlal_high_s16 (s, pairs, m);
  return vaddvq_s32 (s);
}

static inline float
neon_dot_q4_5_K (int64_t n, const uint8_t *xb, size_t stride, const sm_block_q8_K *y, bool bits5)
{
  const uint8x16_t m4 = vdupq_n_u8 (0x0F);
  const uint8x16_t one = vdupq_n_u8 (1);
  float sum = 0;

  for (int64_t i = 0; i < n / SM_QK_K; i++, xb += stride)
    {
      const sm_half d = (sm_half) (xb[0] | (xb[1] << 8));
      const sm_half dmin = (sm_half) (xb[2] | (xb[3] << 8));
      const uint8_t *qs = xb + 16 + (bits5 ? 32 : 0);
      uint8_t sc[8], mn[8];
      k4_scales (xb + 4, sc, mn);
      const int8_t *q8 = y[i].qs;
      uint8x16_t hb0 = bits5 ? vld1q_u8 (xb + 16) : vdupq_n_u8 (0);
      uint8x16_t hb1 = bits5 ? vld1q_u8 (xb + 32) : vdupq_n_u8 (0);
      int isum = 0;

      for (int j = 0; j < 4; j++, qs += 32, q8 += 64)
        {
          const uint8x16_t q0 = vld1q_u8 (qs), q1 = vld1q_u8 (qs + 16);
          uint8x16_t l0 = vandq_u8 (q0, m4), l1 = vandq_u8 (q1, m4);
          uint8x16_t h0 = vshrq_n_u8 (q0, 4), h1 = vshrq_n_u8 (q1, 4);
          if (bits5)
            {
              /* Bit 2j of qh[l]: 5th bit of element 64j + l; bit 2j + 1: of 64j + 32 + l. */
              l0 = vorrq_u8 (l0, vshlq_n_u8 (vandq_u8 (hb0, one), 4));
              l1 = vorrq_u8 (l1, vshlq_n_u8 (vandq_u8 (hb1, one), 4));
              h0 = vorrq_u8 (h0, vshlq_n_u8 (vandq_u8 (vshrq_n_u8 (hb0, 1), one), 4));
              h1 = vorrq_u8 (h1, vshlq_n_u8 (vandq_u8 (vshrq_n_u8 (hb1, 1), one), 4));
              hb0 = vshrq_n_u8 (hb0, 2);
              hb1 = vshrq_n_u8 (hb1, 2);
            }
          isum += sc[2 * j] * dot32 (vreinterpretq_s8_u8 (l0), vreinterpretq_s8_u8 (l1), q8);
          isum += sc[2 * j + 1]
                  * dot32 (vreinterpretq_s8_u8 (h0), vreinterpretq_s8_u8 (h1), q8 + 32);
        }
      sum += y[i].d * h2f (d) * (float) isum
             - y[i].d * h2f (dmin) * (float) k4_mins (mn, y[i].bsums);
    }
  return sum;
}

static float
neon_dot_q4_K (int64_t n, const void *w, const void *a)
{
  return neon_dot_q4_5_K (n, w, sizeof (sm_block_q4_K), a, false);
}

static float
neon_dot_q5_K (int64_t n, const void *w, const void *a)
{
  return neon_dot_q4_5_K (n, w, sizeof (sm_block_q5_K), a, true);
}

static float
neon_dot_q6_K (int64_t n, const void *w, const void *a)
{
  const sm_block_q6_K *x = w;
  const sm_block_q8_K *y = a;
  const uint8x16_t m4 = vdupq_n_u8 (0x0F);
  const uint8x16_t m3 = vdupq_n_u8 (0x03);
  const int8x16_t off = vdupq_n_s8 (32);
  float sum = 0;

  for (int64_t i = 0; i < n / SM_QK_K; i++)
    {
      const uint8_t *ql = x[i].ql;
      const uint8_t *qh = x[i].qh;
      const int8_t *sc = x[i].scales;
      const int8_t *q8 = y[i].qs;
      int isum = 0;

      for (int h = 0; h < 2; h++, ql += 64, qh += 32, q8 += 128, sc += 8)
        for (int half = 0; half < 2; half++)
          {
            /* Elements 16*half .. 16*half + 15 of each of the four 32-element groups. */
            const uint8x16_t a0 = vld1q_u8 (ql + 16 * half);
            const uint8x16_t a1 = vld1q_u8 (ql + 32 + 16 * half);
            const uint8x16_t hb = vld1q_u8 (qh + 16 * half);
            uint8x16_t q[4];
            q[0] = vorrq_u8 (vandq_u8 (a0, m4), vshlq_n_u8 (vandq_u8 (hb, m3), 4));
            q[1] = vorrq_u8 (vandq_u8 (a1, m4), vshlq_n_u8 (vandq_u8 (vshrq_n_u8 (hb, 2), m3), 4));
            q[2] = vorrq_u8 (vshrq_n_u8 (a0, 4), vshlq_n_u8 (vandq_u8 (vshrq_n_u8 (hb, 4), m3), 4));
            q[3] = vorrq_u8 (vshrq_n_u8 (a1, 4), vshlq_n_u8 (vshrq_n_u8 (hb, 6), 4));
            for (int k = 0; k < 4; k++)
              {
                const int8x16_t v = vsubq_s8 (vreinterpretq_s8_u8 (q[k]), off);
                const int32x4_t p = dot16 (vdupq_n_s32 (0), v, vld1q_s8 (q8 + 32 * k + 16 * half));
                isum += sc[2 * k + half] * vaddvq_s32 (p);
              }
          }
      sum += y[i].d * h2f (x[i].d) * (float) isum;
    }
  return sum;
}

static float
neon_dot_iq4_xs (int64_t n, const void *w, const void *a)
{
  const sm_block_iq4_xs *x = w;
  const sm_block_q8_K *y = a;
  const int8x16_t lut = vld1q_s8 (sm_kvalues_iq4nl);
  float sum = 0;

  for (int64_t i = 0; i < n / SM_QK_K; i++)
    {
      int isum = 0;
      for (int ib = 0; ib < 8; ib++)
        {
          uint8x16_t lo, hi;
          nibbles (x[i].qs + 16 * ib, &lo, &hi);
          const int ls = (((x[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf)
                          | (((x[i].scales_h >> 2 * ib) & 3) << 4))
                         - 32;
          isum += ls * dot32 (vqtbl1q_s8 (lut, lo), vqtbl1q_s8 (lut, hi), y[i].qs + 32 * ib);
        }
      sum += y[i].d * h2f (x[i].d) * (float) isum;
    }
  return sum;
}

void
sm_quant_fill_neon (sm_vec_dot_fn vec_dot[SM_TYPE_COUNT], sm_activation_fn act[SM_TYPE_COUNT])
{
  (void) act;
  vec_dot[SM_TYPE_F32] = neon_dot_f32;
  vec_dot[SM_TYPE_F16] = neon_dot_f16;
  vec_dot[SM_TYPE_BF16] = neon_dot_bf16;
  vec_dot[SM_TYPE_Q8_0] = neon_dot_q8_0;
  vec_dot[SM_TYPE_Q4_0] = neon_dot_q4_0;
  vec_dot[SM_TYPE_Q4_1] = neon_dot_q4_1;
  vec_dot[SM_TYPE_Q5_0] = neon_dot_q5_0;
  vec_dot[SM_TYPE_Q5_1] = neon_dot_q5_1;
  vec_dot[SM_TYPE_Q2_K] = neon_dot_q2_K;
  vec_dot[SM_TYPE_Q3_K] = neon_dot_q3_K;
  vec_dot[SM_TYPE_IQ4_NL] = neon_dot_iq4_nl;
  vec_dot[SM_TYPE_Q4_K] = neon_dot_q4_K;
  vec_dot[SM_TYPE_Q5_K] = neon_dot_q5_K;
  vec_dot[SM_TYPE_Q6_K] = neon_dot_q6_K;
  vec_dot[SM_TYPE_IQ4_XS] = neon_dot_iq4_xs;
}
