/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-quant-ref.c: the scalar reference of every block format: quantize, dequantize, activation
 * rows and dot products. This file is the specification the SIMD variants are tested against.
 *
 * Encoders are bit-compatible with llama.cpp (ggml-quants.c at ggml d99724f): without importance
 * weights they produce the bytes ggml_quantize_chunk produces for a row (the `_ref` search
 * routines; for IQ4_NL that is quantize_iq4_nl's 7-step search, not its rarely used _ref twin),
 * with importance weights the weighted `_impl` searches. The search algorithms (make_qx_quants,
 * make_q3_quants, make_qkx2/3_quants, make_qp_quants, the IQ4 scale search) are re-written here
 * from their description in ggml; the float operations keep ggml's order so results round the same
 * way. The file is built with -ffp-contract=off: a fused multiply-add would round differently.
 *
 * Notation in the comments: x = input float, q = integer code, d/dmin = scales, L = codes of a
 * sub-block, w = per-element weight of the error being minimised.
 */
#include "sm-quant-private.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <string.h>

#define QK_K SM_QK_K
#define GROUP_MAX_EPS 1e-15f

#define SM_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SM_MAX(a, b) ((a) > (b) ? (a) : (b))

const int8_t sm_kvalues_iq4nl[16] = {
  -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
};

/* Round to nearest, ties to even, for |v| < 2^22: adding 1.5 * 2^23 moves the integer part into
 * the low mantissa bits (the FPU rounds while doing it), which are then read back as an integer. */
static inline int
nearest_int (float v)
{
  float t = v + 12582912.f;
  int32_t i;

  memcpy (&i, &t, sizeof i);
  return (i & 0x007fffff) - 0x00400000;
}

/* ggml's (int8_t) conversion of a float, truncating toward zero, as it behaves on x86 for every
 * input (C leaves NaN and out-of-range values undefined): the float becomes an int32 (NaN and
 * values beyond int32 give INT32_MIN, whose low byte is 0), then keeps its low 8 bits. Finite
 * rows never leave -128..127; this only keeps NaN/inf rows well defined. */
static inline int
trunc_i8 (float v)
{
  if (!(v > -2147483648.f && v < 2147483648.f))
    return 0;
  return (int8_t) (int32_t) v;
}

/* roundf() into an int8 code (Q8_0/Q8_1), with the same x86-like result for NaN. */
static inline int8_t
round_i8 (float v)
{
  return (int8_t) trunc_i8 (roundf (v));
}

static inline float
h2f (sm_half h)
{
  return sm_half_to_float (h);
}

static inline sm_half
f2h (float f)
{
  return sm_float_to_half (f);
}

/* Sign byte of the IQ2/IQ3 formats: 7 stored bits i plus bit 7 chosen so the byte has even
 * parity (ggml's ksigns_iq2xs table, computed instead of stored). */
static inline uint8_t
ksign (uint32_t i)
{
  return (uint8_t) (i | ((uint32_t) (__builtin_popcount (i) & 1) << 7));
}

/* ======================================================================================== */
/* Plain float types                                                                        */
/* ======================================================================================== */

void
sm_quantize_row_f32_ref (const float *src, void *dst, int64_t n, const float *importance)
{
  (void) importance;
  memcpy (dst, src, (size_t) n * sizeof (float));
}

void
sm_dequantize_row_f32_ref (const void *src, float *dst, int64_t n)
{
  memcpy (dst, src, (size_t) n * sizeof (float));
}

void
sm_quantize_row_f16_ref (const float *src, void *dst, int64_t n, const float *importance)
{
  uint16_t *y = dst;

  (void) importance;
  for (int64_t i = 0; i < n; i++)
    y[i] = f2h (src[i]);
}

void
sm_dequantize_row_f16_ref (const void *src, float *dst, int64_t n)
{
  const uint16_t *x = src;

  for (int64_t i = 0; i < n; i++)
    dst[i] = h2f (x[i]);
}

void
sm_quantize_row_bf16_ref (const float *src, void *dst, int64_t n, const float *importance)
{
  uint16_t *y = dst;

  (void) importance;
  for (int64_t i = 0; i < n; i++)
    y[i] = sm_float_to_bf16 (src[i]);
}

void
sm_dequantize_row_bf16_ref (const void *src, float *dst, int64_t n)
{
  const uint16_t *x = src;

  for (int64_t i = 0; i < n; i++)
    dst[i] = sm_bf16_to_float (x[i]);
}

/* ======================================================================================== */
/* Search routines shared by the K-quants and the weighted legacy quantizers                 */
/* ======================================================================================== */

/* Symmetric codes in [-nmax, nmax-1] for x ~ scale * l, stored as l + nmax.
 * First guess: iscale = -nmax / max (max = the element of largest magnitude, signed, so it maps
 * to -nmax exactly). rmse_type 0 stops there. Otherwise the best scale for fixed codes is the
 * weighted least-squares one, scale = sum w x l / sum w l^2, whose error is minimised by
 * maximising (sum w x l)^2 / sum w l^2; 18 more iscales, -(nmax + 0.1 is)/max for is = -9..9, are
 * tried and the best kept. Weights: qw if given, else x^2 (type 1), 1 (2), |x| (3), sqrt|x| (4).
 * A negative rmse_type returns after the first guess with the average of both scales. */
static float
make_qx_quants (int n, int nmax, const float *x, int8_t *L, int rmse_type, const float *qw)
{
  float max = 0;
  float amax = 0;

  for (int i = 0; i < n; ++i)
    {
      float ax = fabsf (x[i]);
      if (ax > amax)
        {
          amax = ax;
          max = x[i];
        }
    }
  if (amax < GROUP_MAX_EPS)
    {
      memset (L, 0, (size_t) n);
      return 0.f;
    }
  float iscale = -nmax / max;
  if (rmse_type == 0)
    {
      for (int i = 0; i < n; ++i)
        {
          int l = nearest_int (iscale * x[i]);
          L[i] = (int8_t) (nmax + SM_MAX (-nmax, SM_MIN (nmax - 1, l)));
        }
      return 1 / iscale;
    }
  bool return_early = false;
  if (rmse_type < 0)
    {
      rmse_type = -rmse_type;
      return_early = true;
    }
  float sumlx = 0;
  float suml2 = 0;
  for (int i = 0; i < n; ++i)
    {
      int l = nearest_int (iscale * x[i]);
      l = SM_MAX (-nmax, SM_MIN (nmax - 1, l));
      L[i] = (int8_t) (l + nmax);
      float w = qw ? qw[i] : rmse_type == 1 ? x[i] * x[i] : rmse_type == 2 ? 1
                : rmse_type == 3 ? fabsf (x[i]) : sqrtf (fabsf (x[i]));
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
  float scale = suml2 ? sumlx / suml2 : 0.0f;
  if (return_early)
    return suml2 > 0 ? 0.5f * (scale + 1 / iscale) : 1 / iscale;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is)
    {
      if (is == 0)
        continue;
      iscale = -(nmax + 0.1f * is) / max;
      sumlx = suml2 = 0;
      for (int i = 0; i < n; ++i)
        {
          int l = nearest_int (iscale * x[i]);
          l = SM_MAX (-nmax, SM_MIN (nmax - 1, l));
          float w = qw ? qw[i] : rmse_type == 1 ? x[i] * x[i] : rmse_type == 2 ? 1
                    : rmse_type == 3 ? fabsf (x[i]) : sqrtf (fabsf (x[i]));
          sumlx += w * x[i] * l;
          suml2 += w * l * l;
        }
      if (suml2 > 0 && sumlx * sumlx > best * suml2)
        {
          for (int i = 0; i < n; ++i)
            {
              int l = nearest_int (iscale * x[i]);
              L[i] = (int8_t) (nmax + SM_MAX (-nmax, SM_MIN (nmax - 1, l)));
            }
          scale = sumlx / suml2;
          best = scale * sumlx;
        }
    }
  return scale;
}

/* Q3_K's sub-block search: first guess as make_qx_quants, then (do_rmse) coordinate descent: for
 * each element, the code that would be optimal given all the others (x * sum l^2 / sum x l) is
 * tried and kept when it raises (sum w x l)^2 / sum w l^2, w = x^2; at most 5 sweeps. */
static float
make_q3_quants (int n, int nmax, const float *x, int8_t *L, bool do_rmse)
{
  float max = 0;
  float amax = 0;

  for (int i = 0; i < n; ++i)
    {
      float ax = fabsf (x[i]);
      if (ax > amax)
        {
          amax = ax;
          max = x[i];
        }
    }
  if (amax < GROUP_MAX_EPS)
    {
      memset (L, 0, (size_t) n);
      return 0.f;
    }
  float iscale = -nmax / max;
  if (do_rmse)
    {
      float sumlx = 0;
      float suml2 = 0;
      for (int i = 0; i < n; ++i)
        {
          int l = nearest_int (iscale * x[i]);
          l = SM_MAX (-nmax, SM_MIN (nmax - 1, l));
          L[i] = (int8_t) l;
          float w = x[i] * x[i];
          sumlx += w * x[i] * l;
          suml2 += w * l * l;
        }
      for (int itry = 0; itry < 5; ++itry)
        {
          int n_changed = 0;
          for (int i = 0; i < n; ++i)
            {
              float w = x[i] * x[i];
              float slx = sumlx - w * x[i] * L[i];
              if (slx > 0)
                {
                  float sl2 = suml2 - w * L[i] * L[i];
                  int new_l = nearest_int (x[i] * sl2 / slx);
                  new_l = SM_MAX (-nmax, SM_MIN (nmax - 1, new_l));
                  if (new_l != L[i])
                    {
                      slx += w * x[i] * new_l;
                      sl2 += w * new_l * new_l;
                      if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2)
                        {
                          L[i] = (int8_t) new_l;
                          sumlx = slx;
                          suml2 = sl2;
                          ++n_changed;
                        }
                    }
                }
            }
          if (!n_changed)
            break;
        }
      for (int i = 0; i < n; ++i)
        L[i] = (int8_t) (L[i] + nmax);
      return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
    }
  for (int i = 0; i < n; ++i)
    {
      int l = nearest_int (iscale * x[i]);
      l = SM_MAX (-nmax, SM_MIN (nmax - 1, l));
      L[i] = (int8_t) (l + nmax);
    }
  return 1 / iscale;
}

/* Asymmetric codes in [0, nmax]: x ~ scale * l + min with min <= 0 (returned negated in
 * *the_min). Start from the range [min(x,0), max x]; then for nstep+1 candidate iscales
 * (rmin + rdelta*is + nmax) / (max - min) compute the codes and solve the 2x2 weighted least
 * squares for (scale, min) in closed form (D = sum w * sum w l^2 - (sum w l)^2); keep the candidate
 * with the smallest weighted error (|diff| when use_mad, diff^2 otherwise). */
static float
make_qkx2_quants (int n, int nmax, const float *x, const float *weights, uint8_t *L,
                  float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                  bool use_mad)
{
  float min = x[0];
  float max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];

  for (int i = 1; i < n; ++i)
    {
      if (x[i] < min)
        min = x[i];
      if (x[i] > max)
        max = x[i];
      float w = weights[i];
      sum_w += w;
      sum_x += w * x[i];
    }
  if (min > 0)
    min = 0;
  if (max == min)
    {
      memset (L, 0, (size_t) n);
      *the_min = -min;
      return 0.f;
    }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i)
    {
      int l = nearest_int (iscale * (x[i] - min));
      L[i] = (uint8_t) SM_MAX (0, SM_MIN (nmax, l));
      float diff = scale * L[i] + min - x[i];
      diff = use_mad ? fabsf (diff) : diff * diff;
      best_error += weights[i] * diff;
    }
  if (nstep < 1)
    {
      *the_min = -min;
      return scale;
    }
  for (int is = 0; is <= nstep; ++is)
    {
      iscale = (rmin + rdelta * is + nmax) / (max - min);
      float sum_l = 0, sum_l2 = 0, sum_xl = 0;
      for (int i = 0; i < n; ++i)
        {
          int l = nearest_int (iscale * (x[i] - min));
          l = SM_MAX (0, SM_MIN (nmax, l));
          Laux[i] = (uint8_t) l;
          float w = weights[i];
          sum_l += w * l;
          sum_l2 += w * l * l;
          sum_xl += w * l * x[i];
        }
      float D = sum_w * sum_l2 - sum_l * sum_l;
      if (D > 0)
        {
          float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
          float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
          if (this_min > 0)
            {
              this_min = 0;
              this_scale = sum_xl / sum_l2;
            }
          float cur_error = 0;
          for (int i = 0; i < n; ++i)
            {
              float diff = this_scale * Laux[i] + this_min - x[i];
              diff = use_mad ? fabsf (diff) : diff * diff;
              cur_error += weights[i] * diff;
            }
          if (cur_error < best_error)
            {
              memcpy (L, Laux, (size_t) n);
              best_error = cur_error;
              scale = this_scale;
              min = this_min;
            }
        }
    }
  *the_min = -min;
  return scale;
}

/* The weighted twin of make_qkx2_quants (used with importance weights): weights default to x^2,
 * the degenerate test is max <= min and the error sums are accumulated the same way. */
static float
make_qkx3_quants (int n, int nmax, const float *x, const float *weights, uint8_t *L,
                  float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                  bool use_mad)
{
  float min = x[0];
  float max = x[0];
  float sum_w = weights ? weights[0] : x[0] * x[0];
  float sum_x = sum_w * x[0];

  for (int i = 1; i < n; ++i)
    {
      if (x[i] < min)
        min = x[i];
      if (x[i] > max)
        max = x[i];
      float w = weights ? weights[i] : x[i] * x[i];
      sum_w += w;
      sum_x += w * x[i];
    }
  if (min > 0)
    min = 0;
  if (max <= min)
    {
      memset (L, 0, (size_t) n);
      *the_min = -min;
      return 0.f;
    }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_mad = 0;
  for (int i = 0; i < n; ++i)
    {
      int l = nearest_int (iscale * (x[i] - min));
      L[i] = (uint8_t) SM_MAX (0, SM_MIN (nmax, l));
      float diff = scale * L[i] + min - x[i];
      diff = use_mad ? fabsf (diff) : diff * diff;
      float w = weights ? weights[i] : x[i] * x[i];
      best_mad += w * diff;
    }
  if (nstep < 1)
    {
      *the_min = -min;
      return scale;
    }
  for (int is = 0; is <= nstep; ++is)
    {
      iscale = (rmin + rdelta * is + nmax) / (max - min);
      float sum_l = 0, sum_l2 = 0, sum_xl = 0;
      for (int i = 0; i < n; ++i)
        {
          int l = nearest_int (iscale * (x[i] - min));
          l = SM_MAX (0, SM_MIN (nmax, l));
          Laux[i] = (uint8_t) l;
          float w = weights ? weights[i] : x[i] * x[i];
          sum_l += w * l;
          sum_l2 += w * l * l;
          sum_xl += w * l * x[i];
        }
      float D = sum_w * sum_l2 - sum_l * sum_l;
      if (D > 0)
        {
          float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
          float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
          if (this_min > 0)
            {
              this_min = 0;
              this_scale = sum_xl / sum_l2;
            }
          float mad = 0;
          for (int i = 0; i < n; ++i)
            {
              float diff = this_scale * Laux[i] + this_min - x[i];
              diff = use_mad ? fabsf (diff) : diff * diff;
              float w = weights ? weights[i] : x[i] * x[i];
              mad += w * diff;
            }
          if (mad < best_mad)
            {
              memcpy (L, Laux, (size_t) n);
              best_mad = mad;
              scale = this_scale;
              min = this_min;
            }
        }
    }
  *the_min = -min;
  return scale;
}

/* Non-negative codes in [0, nmax] for non-negative x (the sub-block scales and mins of the
 * weighted K-quants): best of 9 iscales (0.1 is + nmax)/max by weighted squared error, then the
 * coordinate descent of make_q3_quants on the least-squares scale. */
static float
make_qp_quants (int n, int nmax, const float *x, uint8_t *L, const float *quant_weights)
{
  float max = 0;

  for (int i = 0; i < n; ++i)
    max = SM_MAX (max, x[i]);
  if (max < GROUP_MAX_EPS)
    {
      memset (L, 0, (size_t) n);
      return 0.f;
    }
  float iscale = nmax / max;
  for (int i = 0; i < n; ++i)
    L[i] = (uint8_t) nearest_int (iscale * x[i]);
  float scale = 1 / iscale;
  float best_mse = 0;
  for (int i = 0; i < n; ++i)
    {
      float diff = x[i] - scale * L[i];
      float w = quant_weights[i];
      best_mse += w * diff * diff;
    }
  for (int is = -4; is <= 4; ++is)
    {
      if (is == 0)
        continue;
      float iscale_is = (0.1f * is + nmax) / max;
      float scale_is = 1 / iscale_is;
      float mse = 0;
      for (int i = 0; i < n; ++i)
        {
          int l = nearest_int (iscale_is * x[i]);
          l = SM_MIN (nmax, l);
          float diff = x[i] - scale_is * l;
          float w = quant_weights[i];
          mse += w * diff * diff;
        }
      if (mse < best_mse)
        {
          best_mse = mse;
          iscale = iscale_is;
        }
    }
  float sumlx = 0;
  float suml2 = 0;
  for (int i = 0; i < n; ++i)
    {
      int l = nearest_int (iscale * x[i]);
      l = SM_MIN (nmax, l);
      L[i] = (uint8_t) l;
      float w = quant_weights[i];
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
  for (int itry = 0; itry < 5; ++itry)
    {
      int n_changed = 0;
      for (int i = 0; i < n; ++i)
        {
          float w = quant_weights[i];
          float slx = sumlx - w * x[i] * L[i];
          float sl2 = suml2 - w * L[i] * L[i];
          if (slx > 0 && sl2 > 0)
            {
              int new_l = nearest_int (x[i] * sl2 / slx);
              new_l = SM_MIN (nmax, new_l);
              if (new_l != L[i])
                {
                  slx += w * x[i] * new_l;
                  sl2 += w * new_l * new_l;
                  if (slx * slx * suml2 > sumlx * sumlx * sl2)
                    {
                      L[i] = (uint8_t) new_l;
                      sumlx = slx;
                      suml2 = sl2;
                      ++n_changed;
                    }
                }
            }
        }
      if (!n_changed)
        break;
    }
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* ======================================================================================== */
/* Legacy 32-element formats                                                                 */
/* ======================================================================================== */

/* Weight of element j for the weighted legacy searches: importance * sqrt(sigma^2 + x^2), with
 * sigma^2 the mean square of the whole row. */
static float
row_sigma2 (const float *x, int64_t n)
{
  float sum_x2 = 0;

  for (int64_t j = 0; j < n; ++j)
    sum_x2 += x[j] * x[j];
  return sum_x2 / n;
}

/* Q4_0: x = d * (q - 8), q in 0..15. d = max / -8 with max the signed element of largest
 * magnitude, so that element becomes q = 0 exactly and the other end has one spare level;
 * q = trunc(x / d + 8.5), i.e. round half up, clamped to 15. */
void
sm_quantize_row_q4_0_ref (const float *x, void *dst, int64_t n, const float *qw)
{
  sm_block_q4_0 *y = dst;
  const int64_t nb = n / SM_QK4_0;

  if (qw)
    {
      /* Weighted: make_qx_quants with nmax 8 on w = qw * sqrt(sigma^2 + x^2). */
      float sigma2 = row_sigma2 (x, n);
      float weight[SM_QK4_0];
      int8_t L[SM_QK4_0];

      for (int64_t ib = 0; ib < nb; ++ib)
        {
          const float *xb = x + SM_QK4_0 * ib;
          const float *w = qw + SM_QK4_0 * ib;
          for (int j = 0; j < SM_QK4_0; ++j)
            weight[j] = w[j] * sqrtf (sigma2 + xb[j] * xb[j]);
          float d = make_qx_quants (SM_QK4_0, 8, xb, L, 1, weight);
          y[ib].d = f2h (d);
          for (int j = 0; j < 16; ++j)
            y[ib].qs[j] = (uint8_t) (L[j] | (L[j + 16] << 4));
        }
      return;
    }

  for (int64_t i = 0; i < nb; i++)
    {
      const float *xb = x + i * SM_QK4_0;
      float amax = 0.0f;
      float max = 0.0f;

      for (int j = 0; j < SM_QK4_0; j++)
        if (amax < fabsf (xb[j]))
          {
            amax = fabsf (xb[j]);
            max = xb[j];
          }

      const float d = max / -8;
      const float id = d ? 1.0f / d : 0.0f;

      y[i].d = f2h (d);
      for (int j = 0; j < SM_QK4_0 / 2; ++j)
        {
          const int q0 = SM_MIN (15, trunc_i8 (xb[j] * id + 8.5f));
          const int q1 = SM_MIN (15, trunc_i8 (xb[j + 16] * id + 8.5f));
          y[i].qs[j] = (uint8_t) (q0 | (q1 << 4));
        }
    }
}

void
sm_dequantize_row_q4_0_ref (const void *src, float *y, int64_t n)
{
  const sm_block_q4_0 *x = src;

  for (int64_t i = 0; i < n / SM_QK4_0; i++)
    {
      const float d = h2f (x[i].d);
      for (int j = 0; j < 16; ++j)
        {
          y[i * 32 + j] = ((x[i].qs[j] & 0x0F) - 8) * d;
          y[i * 32 + j + 16] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

/* Q4_1: x = d * q + m, q in 0..15, m = block min, d = (max - min) / 15,
 * q = trunc((x - min) / d + 0.5). Weighted: make_qkx3_quants (scale and min jointly). */
void
sm_quantize_row_q4_1_ref (const float *x, void *dst, int64_t n, const float *qw)
{
  sm_block_q4_1 *y = dst;
  const int64_t nb = n / SM_QK4_1;

  if (qw)
    {
      float sigma2 = row_sigma2 (x, n);
      float weight[SM_QK4_1];
      uint8_t L[SM_QK4_1], Laux[SM_QK4_1];

      for (int64_t ib = 0; ib < nb; ++ib)
        {
          const float *xb = x + SM_QK4_1 * ib;
          const float *w = qw + SM_QK4_1 * ib;
          for (int j = 0; j < SM_QK4_1; ++j)
            weight[j] = w[j] * sqrtf (sigma2 + xb[j] * xb[j]);
          float min;
          float d = make_qkx3_quants (SM_QK4_1, 15, xb, weight, L, &min, Laux, -0.9f, 0.05f,
                                      36, false);
          y[ib].d = f2h (d);
          y[ib].m = f2h (-min);
          for (int j = 0; j < 16; ++j)
            y[ib].qs[j] = (uint8_t) (L[j] | (L[j + 16] << 4));
        }
      return;
    }

  for (int64_t i = 0; i < nb; i++)
    {
      const float *xb = x + i * SM_QK4_1;
      float min = FLT_MAX;
      float max = -FLT_MAX;

      for (int j = 0; j < SM_QK4_1; j++)
        {
          if (xb[j] < min)
            min = xb[j];
          if (xb[j] > max)
            max = xb[j];
        }

      const float d = (max - min) / ((1 << 4) - 1);
      const float id = d ? 1.0f / d : 0.0f;

      y[i].d = f2h (d);
      y[i].m = f2h (min);
      for (int j = 0; j < 16; ++j)
        {
          const int q0 = SM_MIN (15, trunc_i8 ((xb[j] - min) * id + 0.5f));
          const int q1 = SM_MIN (15, trunc_i8 ((xb[j + 16] - min) * id + 0.5f));
          y[i].qs[j] = (uint8_t) (q0 | (q1 << 4));
        }
    }
}

void
sm_dequantize_row_q4_1_ref (const void *src, float *y, int64_t n)
{
  const sm_block_q4_1 *x = src;

  for (int64_t i = 0; i < n / SM_QK4_1; i++)
    {
      const float d = h2f (x[i].d);
      const float m = h2f (x[i].m);
      for (int j = 0; j < 16; ++j)
        {
          y[i * 32 + j] = (x[i].qs[j] & 0x0F) * d + m;
          y[i * 32 + j + 16] = (x[i].qs[j] >> 4) * d + m;
        }
    }
}

static inline uint32_t
load_u32 (const uint8_t *p)
{
  return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16)
         | ((uint32_t) p[3] << 24);
}

static inline void
store_u32 (uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t) v;
  p[1] = (uint8_t) (v >> 8);
  p[2] = (uint8_t) (v >> 16);
  p[3] = (uint8_t) (v >> 24);
}

/* Packs 32 5-bit codes: low nibbles as Q4_0, the 5th bit of element j into bit j of qh. */
static void
pack_q5 (const uint8_t *L, uint8_t *qs, uint8_t *qh_bytes)
{
  uint32_t qh = 0;

  for (int j = 0; j < 16; ++j)
    {
      qs[j] = (uint8_t) ((L[j] & 0x0F) | ((L[j + 16] & 0x0F) << 4));
      qh |= ((L[j] & 0x10u) >> 4) << j;
      qh |= ((L[j + 16] & 0x10u) >> 4) << (j + 16);
    }
  store_u32 (qh_bytes, qh);
}

/* Q5_0: x = d * (q - 16), q in 0..31, d = max / -16, q = trunc(x / d + 16.5) clamped to 31. */
void
sm_quantize_row_q5_0_ref (const float *x, void *dst, int64_t n, const float *qw)
{
  sm_block_q5_0 *y = dst;
  const int64_t nb = n / SM_QK5_0;
  uint8_t L[SM_QK5_0];

  if (qw)
    {
      float sigma2 = row_sigma2 (x, n);
      float weight[SM_QK5_0];
      int8_t Ls[SM_QK5_0];

      for (int64_t ib = 0; ib < nb; ++ib)
        {
          const float *xb = x + SM_QK5_0 * ib;
          const float *w = qw + SM_QK5_0 * ib;
          for (int j = 0; j < SM_QK5_0; ++j)
            weight[j] = w[j] * sqrtf (sigma2 + xb[j] * xb[j]);
          float d = make_qx_quants (SM_QK5_0, 16, xb, Ls, 1, weight);
          y[ib].d = f2h (d);
          for (int j = 0; j < SM_QK5_0; ++j)
            L[j] = (uint8_t) Ls[j];
          pack_q5 (L, y[ib].qs, y[ib].qh);
        }
      return;
    }

  for (int64_t i = 0; i < nb; i++)
    {
      const float *xb = x + i * SM_QK5_0;
      float amax = 0.0f;
      float max = 0.0f;

      for (int j = 0; j < SM_QK5_0; j++)
        if (amax < fabsf (xb[j]))
          {
            amax = fabsf (xb[j]);
            max = xb[j];
          }

      const float d = max / -16;
      const float id = d ? 1.0f / d : 0.0f;

      y[i].d = f2h (d);
      for (int j = 0; j < SM_QK5_0; ++j)
        L[j] = (uint8_t) SM_MIN (31, trunc_i8 (xb[j] * id + 16.5f));
      pack_q5 (L, y[i].qs, y[i].qh);
    }
}

void
sm_dequantize_row_q5_0_ref (const void *src, float *y, int64_t n)
{
  const sm_block_q5_0 *x = src;

  for (int64_t i = 0; i < n / SM_QK5_0; i++)
    {
      const float d = h2f (x[i].d);
      const uint32_t qh = load_u32 (x[i].qh);
      for (int j = 0; j < 16; ++j)
        {
          const int x0 = ((x[i].qs[j] & 0x0F) | (((qh >> j) & 1) << 4)) - 16;
          const int x1 = ((x[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
          y[i * 32 + j] = x0 * d;
          y[i * 32 + j + 16] = x1 * d;
        }
    }
}

/* Q5_1: x = d * q + m, q in 0..31, d = (max - min) / 31, q = trunc((x - min) / d + 0.5). */
void
sm_quantize_row_q5_1_ref (const float *x, void *dst, int64_t n, const float *qw)
{
  sm_block_q5_1 *y = dst;
  const int64_t nb = n / SM_QK5_1;
  uint8_t L[SM_QK5_1];

  if (qw)
    {
      float sigma2 = row_sigma2 (x, n);
      float weight[SM_QK5_1];
      uint8_t Laux[SM_QK5_1];

      for (int64_t ib = 0; ib < nb; ++ib)
        {
          const float *xb = x + SM_QK5_1 * ib;
          const float *w = qw + SM_QK5_1 * ib;
          for (int j = 0; j < SM_QK5_1; ++j)
            weight[j] = w[j] * sqrtf (sigma2 + xb[j] * xb[j]);
          float min;
          float d = make_qkx3_quants (SM_QK5_1, 31, xb, weight, L, &min, Laux, -0.9f, 0.05f,
                                      36, false);
          y[ib].d = f2h (d);
          y[ib].m = f2h (-min);
          pack_q5 (L, y[ib].qs, y[ib].qh);
        }
      return;
    }

  for (int64_t i = 0; i < nb; i++)
    {
      const float *xb = x + i * SM_QK5_1;
      float min = FLT_MAX;
      float max = -FLT_MAX;

      for (int j = 0; j < SM_QK5_1; j++)
        {
          if (xb[j] < min)
            min = xb[j];
          if (xb[j] > max)
            max = xb[j];
        }

      const float d = (max - min) / ((1 << 5) - 1);
      const float id = d ? 1.0f / d : 0.0f;

      y[i].d = f2h (d);
      y[i].m = f2h (min);
      for (int j = 0; j < SM_QK5_1; ++j)
        L[j] = (uint8_t) trunc_i8 ((xb[j] - min) * id + 0.5f);
      pack_q5 (L, y[i].qs, y[i].qh);
    }
}

void
sm_dequantize_row_q5_1_ref (const void *src, float *y, int64_t n)
{
  const sm_block_q5_1 *x = src;

  for (int64_t i = 0; i < n / SM_QK5_1; i++)
    {
      const float d = h2f (x[i].d);
      const float m = h2f (x[i].m);
      const uint32_t qh = load_u32 (x[i].qh);
      for (int j = 0; j < 16; ++j)
        {
          const int x0 = (x[i].qs[j] & 0x0F) | (((qh >> j) & 1) << 4);
          const int x1 = (x[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
          y[i * 32 + j] = x0 * d + m;
          y[i * 32 + j + 16] = x1 * d + m;
        }
    }
}

/* Q8_0: x = d * q, d = amax / 127, q = round(x / d) (half away from zero). No weighted variant:
 * llama.cpp ignores the importance matrix for Q8_0 too. */
void
sm_quantize_row_q8_0_ref (const float *x, void *dst, int64_t n, const float *qw)
{
  sm_block_q8_0 *y = dst;

  (void) qw;
  for (int64_t i = 0; i < n / SM_QK8_0; i++)
    {
      const float *xb = x + i * SM_QK8_0;
      float amax = 0.0f;

      for (int j = 0; j < SM_QK8_0; j++)
        amax = SM_MAX (amax, fabsf (xb[j]));

      const float d = amax / ((1 << 7) - 1);
      const float id = d ? 1.0f / d : 0.0f;

      y[i].d = f2h (d);
      for (int j = 0; j < SM_QK8_0; ++j)
        y[i].qs[j] = round_i8 (xb[j] * id);
    }
}

void
sm_dequantize_row_q8_0_ref (const void *src, float *y, int64_t n)
{
  const sm_block_q8_0 *x = src;

  for (int64_t i = 0; i < n / SM_QK8_0; i++)
    {
      const float d = h2f (x[i].d);
      for (int j = 0; j < SM_QK8_0; ++j)
        y[i * 32 + j] = x[i].qs[j] * d;
    }
}

/* Q8_1: Q8_0 plus s = d * sum(q), the activation side of Q4_1/Q5_1 (their min term is m * s). */
void
sm_quantize_row_q8_1_ref (const float *x, void *dst, int64_t n, const float *qw)
{
  sm_block_q8_1 *y = dst;

  (void) qw;
  for (int64_t i = 0; i < n / SM_QK8_1; i++)
    {
      const float *xb = x + i * SM_QK8_1;
      float amax = 0.0f;

      for (int j = 0; j < SM_QK8_1; j++)
        amax = SM_MAX (amax, fabsf (xb[j]));

      const float d = amax / ((1 << 7) - 1);
      const float id = d ? 1.0f / d : 0.0f;
      int sum = 0;

      y[i].d = f2h (d);
      for (int j = 0; j < SM_QK8_1; ++j)
        {
          y[i].qs[j] = round_i8 (xb[j] * id);
          sum += y[i].qs[j];
        }
      y[i].s = f2h (sum * d);
    }
}

void
sm_dequantize_row_q8_1_ref (const void *src, float *y, int64_t n)
{
  const sm_block_q8_1 *x = src;

  for (int64_t i = 0; i < n / SM_QK8_1; i++)
    {
      const float d = h2f (x[i].d);
      for (int j = 0; j < SM_QK8_1; ++j)
        y[i * 32 + j] = x[i].qs[j] * d;
    }
}

/* ======================================================================================== */
/* K-quants: 256-element super-blocks                                                        */
/* ======================================================================================== */

/* 2-bit codes of 256 elements: byte qs[32*(e/128) + e%32], bits 2*((e%128)/32). */
static void
pack_2bit (const uint8_t *L, uint8_t *qs)
{
  for (int j = 0; j < QK_K; j += 128)
    for (int l = 0; l < 32; ++l)
      qs[j / 4 + l] = (uint8_t) (L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4)
                                 | (L[j + l + 96] << 6));
}

/* Q4_K/Q5_K scale packing: 8 6-bit scales and 8 6-bit mins in 12 bytes (formats.md 3.2). */
static inline void
get_scale_min_k4 (int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
  if (j < 4)
    {
      *d = q[j] & 63;
      *m = q[j + 4] & 63;
    }
  else
    {
      *d = (uint8_t) ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
      *m = (uint8_t) ((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

static void
put_scale_min_k4 (uint8_t *scales, const uint8_t *ls, const uint8_t *lm)
{
  for (int j = 0; j < QK_K / 32; ++j)
    {
      if (j < 4)
        {
          scales[j] = ls[j];
          scales[j + 4] = lm[j];
        }
      else
        {
          scales[j + 4] = (uint8_t) ((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
          scales[j - 4] |= (uint8_t) ((ls[j] >> 4) << 6);
          scales[j] |= (uint8_t) ((lm[j] >> 4) << 6);
        }
    }
}

/* Q2_K: 16 sub-blocks of 16, x = d * sc * q - dmin * mn, q in 0..3, sc and mn 4-bit.
 * Unweighted: each sub-block gets (scale, min) from make_qkx2_quants (w = |x|, mean absolute
 * error, 16 steps); scales and mins are then quantized to 4 bits against their maxima and the
 * codes recomputed with the stored (rounded) scales. Weighted: make_qkx3_quants with
 * w = qw * sqrt(sigma^2 + x^2), and make_qp_quants for the 4-bit scales. */
void
sm_quantize_row_q2_K_ref (const float *x, void *dst, int64_t n, const float *qw)
{
  sm_block_q2_K *y = dst;
  const int64_t nb = n / QK_K;
  uint8_t L[QK_K];
  uint8_t Laux[16];
  float weights[16];
  float mins[QK_K / 16];
  float scales[QK_K / 16];
  const float q4scale = 15.f;

  for (int64_t i = 0; i < nb; i++, x += QK_K)
    {
      if (qw)
        {
          const float *qwb = qw + QK_K * i;
          float sw[QK_K / 16];
          uint8_t Ls[QK_K / 16], Lm[QK_K / 16];
          float sumx2 = 0;

          memset (sw, 0, sizeof sw);
          for (int j = 0; j < QK_K; ++j)
            sumx2 += x[j] * x[j];
          float sigma2 = sumx2 / QK_K;
          for (int j = 0; j < QK_K / 16; ++j)
            {
              for (int l = 0; l < 16; ++l)
                weights[l] = qwb[16 * j + l] * sqrtf (sigma2 + x[16 * j + l] * x[16 * j + l]);
              for (int l = 0; l < 16; ++l)
                sw[j] += weights[l];
              scales[j] = make_qkx3_quants (16, 3, x + 16 * j, weights, L + 16 * j, &mins[j],
                                            Laux, -0.9f, 0.05f, 36, false);
            }
          float dm = make_qp_quants (QK_K / 16, 15, scales, Ls, sw);
          float mm = make_qp_quants (QK_K / 16, 15, mins, Lm, sw);
          y[i].d = f2h (dm);
          y[i].dmin = f2h (mm);
          for (int j = 0; j < QK_K / 16; ++j)
            y[i].scales[j] = (uint8_t) (Ls[j] | (Lm[j] << 4));
        }
      else
        {
          float max_scale = 0;
          float max_min = 0;
          for (int j = 0; j < QK_K / 16; ++j)
            {
              for (int l = 0; l < 16; ++l)
                weights[l] = fabsf (x[16 * j + l]);
              scales[j] = make_qkx2_quants (16, 3, x + 16 * j, weights, L + 16 * j, &mins[j],
                                            Laux, -0.5f, 0.1f, 15, true);
              if (scales[j] > max_scale)
                max_scale = scales[j];
              if (mins[j] > max_min)
                max_min = mins[j];
            }
          if (max_scale > 0)
            {
              float iscale = q4scale / max_scale;
              for (int j = 0; j < QK_K / 16; ++j)
                y[i].scales[j] = (uint8_t) nearest_int (iscale * scales[j]);
              y[i].d = f2h (max_scale / q4scale);
            }
          else
            {
              memset (y[i].scales, 0, sizeof y[i].scales);
              y[i].d = f2h (0.f);
            }
          if (max_min > 0)
            {
              float iscale = q4scale / max_min;
              for (int j = 0; j < QK_K / 16; ++j)
                y[i].scales[j] |= (uint8_t) (nearest_int (iscale * mins[j]) << 4);
              y[i].dmin = f2h (max_min / q4scale);
            }
          else
            y[i].dmin = f2h (0.f);
        }

      /* Re-derive the codes from the scales as stored. */
      for (int j = 0; j < QK_K / 16; ++j)
        {
          const float d = h2f (y[i].d) * (y[i].scales[j] & 0xF);
          if (!d)
            continue;
          const float dm = h2f (y[i].dmin) * (y[i].scales[j] >> 4);
          for (int ii = 0; ii < 16; ++ii)
            {
              int l = nearest_int ((x[16 * j + ii] + dm) / d);
              L[16 * j + ii] = (uint8_t) SM_MAX (0, SM_MIN (3, l));
            }
        }
      pack_2bit (L, y[i].qs);
    }
}

void
sm_dequantize_row_q2_K_ref (const void *src, float *y, int64_t n)
{
  const sm_block_q2_K *x = src;

  for (int64_t i = 0; i < n / QK_K; i++)
    {
      const float d = h2f (x[i].d);
      const float min = h2f (x[i].dmin);
      for (int e = 0; e < QK_K; e++)
        {
          const uint8_t sc = x[i].scales[e / 16];
          const int q = (x[i].qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
          const float dl = d * (sc & 0xF);
          const float ml = min * (sc >> 4);
          *y++ = dl * q - ml;
        }
    }
}

/* Q3_K scale j (0..15) as stored: 6 bits, offset 32 (formats.md 3.2). */
static inline int
q3_K_scale (const uint8_t *s, int j)
{
  int low = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
  int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
  return (low | (high << 4)) - 32;
}

/* Q3_K: 16 sub-blocks of 16, x = d * sc * q, q in -4..3 (2 low bits in qs, the 3rd in hmask,
 * set meaning "no -4"), sc a signed 6-bit scale. Unweighted: make_q3_quants per sub-block
 * (coordinate descent, w = x^2), the 16 scales quantized symmetrically with d = max_scale / -32.
 * Weighted: make_qx_quants for both levels. */
void
sm_quantize_row_q3_K_ref (const float *x, void *dst, int64_t n, const float *qw)
{
  sm_block_q3_K *y = dst;
  const int64_t nb = n / QK_K;
  int8_t L[QK_K];
  float scales[QK_K / 16];

  for (int64_t i = 0; i < nb; i++, x += QK_K)
    {
      memset (y[i].scales, 0, 12);
      if (qw)
        {
          float weight[16];
          float sw[QK_K / 16];
          int8_t Ls[QK_K / 16];
          float sumx2 = 0;

          for (int j = 0; j < QK_K; ++j)
            sumx2 += x[j] * x[j];
          float sigma2 = 2 * sumx2 / QK_K;
          for (int j = 0; j < QK_K / 16; ++j)
            {
              const float *w = qw + QK_K * i + 16 * j;
              for (int l = 0; l < 16; ++l)
                weight[l] = w[l] * sqrtf (sigma2 + x[16 * j + l] * x[16 * j + l]);
              float sumw = 0;
              for (int l = 0; l < 16; ++l)
                sumw += weight[l];
              sw[j] = sumw;
              scales[j] = make_qx_quants (16, 4, x + 16 * j, L + 16 * j, 1, weight);
            }
          float d_block = make_qx_quants (QK_K / 16, 32, scales, Ls, 1, sw);
          for (int j = 0; j < QK_K / 16; ++j)
            {
              int l = Ls[j];
              if (j < 8)
                y[i].scales[j] = (uint8_t) (l & 0xF);
              else
                y[i].scales[j - 8] |= (uint8_t) ((l & 0xF) << 4);
              l >>= 4;
              y[i].scales[j % 4 + 8] |= (uint8_t) (l << (2 * (j / 4)));
            }
          y[i].d = f2h (d_block);
        }
      else
        {
          float max_scale = 0;
          float amax = 0;
          for (int j = 0; j < QK_K / 16; ++j)
            {
              scales[j] = make_q3_quants (16, 4, x + 16 * j, L + 16 * j, true);
              float scale = fabsf (scales[j]);
              if (scale > amax)
                {
                  amax = scale;
                  max_scale = scales[j];
                }
            }
          if (max_scale)
            {
              float iscale = -32.f / max_scale;
              for (int j = 0; j < QK_K / 16; ++j)
                {
                  /* ggml stores nearest_int into an int8_t before clamping: keep that wrap. */
                  int8_t l8 = (int8_t) nearest_int (iscale * scales[j]);
                  int l = SM_MAX (-32, SM_MIN (31, l8)) + 32;
                  if (j < 8)
                    y[i].scales[j] = (uint8_t) (l & 0xF);
                  else
                    y[i].scales[j - 8] |= (uint8_t) ((l & 0xF) << 4);
                  l >>= 4;
                  y[i].scales[j % 4 + 8] |= (uint8_t) (l << (2 * (j / 4)));
                }
              y[i].d = f2h (1 / iscale);
            }
          else
            y[i].d = f2h (0.f);
        }

      for (int j = 0; j < QK_K / 16; ++j)
        {
          const int sc = q3_K_scale (y[i].scales, j);
          const float d = h2f (y[i].d) * sc;
          if (!d)
            continue;
          for (int ii = 0; ii < 16; ++ii)
            {
              int l = nearest_int (x[16 * j + ii] / d);
              L[16 * j + ii] = (int8_t) (SM_MAX (-4, SM_MIN (3, l)) + 4);
            }
        }

      /* High bit of element e goes to bit e/32 of hmask[e%32]. */
      memset (y[i].hmask, 0, QK_K / 8);
      for (int j = 0; j < QK_K; ++j)
        if (L[j] > 3)
          {
            y[i].hmask[j % 32] |= (uint8_t) (1u << (j / 32));
            L[j] -= 4;
          }
      pack_2bit ((const uint8_t *) L, y[i].qs);
    }
}

void
sm_dequantize_row_q3_K_ref (const void *src, float *y, int64_t n)
{
  const sm_block_q3_K *x = src;

  for (int64_t i = 0; i < n / QK_K; i++)
    {
      const float d_all = h2f (x[i].d);
      for (int e = 0; e < QK_K; e++)
        {
          const int low2 = (x[i].qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
          const int high = (x[i].hmask[e % 32] >> (e / 32)) & 1;
          const float dl = d_all * q3_K_scale (x[i].scales, e / 16);
          *y++ = dl * (low2 - (high ? 0 : 4));
        }
    }
}

/* Q4_K and Q5_K share their scale search (nmax 15 or 31): 8 sub-blocks of 32,
 * x = d * sc * q - dmin * mn with 6-bit sc and mn. Unweighted: make_qkx2_quants with
 * w = rms(sub-block) + |x|; the 8 scales/mins quantized against their maxima (d = max/63).
 * Weighted: make_qkx3_quants with w = qw * sqrt(sigma^2 + x^2), make_qp_quants for the scales.
 * Fills y's d, dmin, scales and the codes L (0..nmax) computed from the stored scales. */
static void
quantize_qkx_super (const float *x, const float *qw, int nmax, float rmin, float rdelta,
                    int nstep, sm_half *yd, sm_half *ydmin, uint8_t *yscales, uint8_t *L)
{
  uint8_t Laux[32];
  float weights[32];
  float mins[QK_K / 32];
  float scales[QK_K / 32];
  uint8_t ls[QK_K / 32], lm[QK_K / 32];

  memset (yscales, 0, SM_K_SCALE_SIZE);
  if (qw)
    {
      float sw[QK_K / 32];
      float sum_x2 = 0;

      for (int l = 0; l < QK_K; ++l)
        sum_x2 += x[l] * x[l];
      float sigma2 = 2 * sum_x2 / QK_K;
      for (int j = 0; j < QK_K / 32; ++j)
        {
          for (int l = 0; l < 32; ++l)
            weights[l] = qw[32 * j + l] * sqrtf (sigma2 + x[32 * j + l] * x[32 * j + l]);
          float sumw = 0;
          for (int l = 0; l < 32; ++l)
            sumw += weights[l];
          sw[j] = sumw;
          scales[j] = make_qkx3_quants (32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j],
                                        Laux, -0.9f, 0.05f, 36, false);
        }
      float d_block = make_qp_quants (QK_K / 32, 63, scales, ls, sw);
      float m_block = make_qp_quants (QK_K / 32, 63, mins, lm, sw);
      for (int j = 0; j < QK_K / 32; ++j)
        {
          ls[j] = SM_MIN (63, ls[j]);
          lm[j] = SM_MIN (63, lm[j]);
        }
      put_scale_min_k4 (yscales, ls, lm);
      *yd = f2h (d_block);
      *ydmin = f2h (m_block);
    }
  else
    {
      float max_scale = 0;
      float max_min = 0;
      for (int j = 0; j < QK_K / 32; ++j)
        {
          float sum_x2 = 0;
          for (int l = 0; l < 32; ++l)
            sum_x2 += x[32 * j + l] * x[32 * j + l];
          float av_x = sqrtf (sum_x2 / 32);
          for (int l = 0; l < 32; ++l)
            weights[l] = av_x + fabsf (x[32 * j + l]);
          scales[j] = make_qkx2_quants (32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j],
                                        Laux, rmin, rdelta, nstep, false);
          if (scales[j] > max_scale)
            max_scale = scales[j];
          if (mins[j] > max_min)
            max_min = mins[j];
        }
      float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
      float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
      for (int j = 0; j < QK_K / 32; ++j)
        {
          /* ggml keeps the low 8 bits of the rounded value, then clamps to 63. */
          uint8_t a = (uint8_t) nearest_int (inv_scale * scales[j]);
          uint8_t b = (uint8_t) nearest_int (inv_min * mins[j]);
          ls[j] = SM_MIN (63, a);
          lm[j] = SM_MIN (63, b);
        }
      put_scale_min_k4 (yscales, ls, lm);
      *yd = f2h (max_scale / 63.f);
      *ydmin = f2h (max_min / 63.f);
    }

  for (int j = 0; j < QK_K / 32; ++j)
    {
      uint8_t sc, m;
      get_scale_min_k4 (j, yscales, &sc, &m);
      const float d = h2f (*yd) * sc;
      if (!d)
        continue;
      const float dm = h2f (*ydmin) * m;
      for (int ii = 0; ii < 32; ++ii)
        {
          int l = nearest_int ((x[32 * j + ii] + dm) / d);
          L[32 * j + ii] = (uint8_t) SM_MAX (0, SM_MIN (nmax, l));
        }
    }
}

void
sm_quantize_row_q4_K_ref (const float *x, void *dst, int64_t n, const float *qw)
{
  sm_block_q4_K *y = dst;
  uint8_t L[QK_K];

  for (int64_t i = 0; i < n / QK_K; i++, x += QK_K)
    {
      quantize_qkx_super (x, qw ? qw + QK_K * i : NULL, 15, -1.f, 0.1f, 20, &y[i].d,
                          &y[i].dmin, y[i].scales, L);
      /* 32 bytes per 64 elements: element j in the low nibble, j + 32 in the high one. */
      uint8_t *q = y[i].qs;
      for (int j = 0; j < QK_K; j += 64, q += 32)
        for (int l = 0; l < 32; ++l)
          q[l] = (uint8_t) (L[j + l] | (L[j + l + 32] << 4));
    }
}

void
sm_dequantize_row_q4_K_ref (const void *src, float *y, int64_t n)
{
  const sm_block_q4_K *x = src;

  for (int64_t i = 0; i < n / QK_K; i++)
    {
      const float d = h2f (x[i].d);
      const float min = h2f (x[i].dmin);
      const uint8_t *q = x[i].qs;
      for (int j = 0; j < QK_K / 64; ++j, q += 32)
        {
          uint8_t sc, m;
          get_scale_min_k4 (2 * j, x[i].scales, &sc, &m);
          const float d1 = d * sc, m1 = min * m;
          get_scale_min_k4 (2 * j + 1, x[i].scales, &sc, &m);
          const float d2 = d * sc, m2 = min * m;
          for (int l = 0; l < 32; ++l)
            *y++ = d1 * (q[l] & 0xF) - m1;
          for (int l = 0; l < 32; ++l)
            *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

void
sm_quantize_row_q5_K_ref (const float *x, void *dst, int64_t n, const float *qw)
{
  sm_block_q5_K *y = dst;
  uint8_t L[QK_K];

  for (int64_t i = 0; i < n / QK_K; i++, x += QK_K)
    {
      quantize_qkx_super (x, qw ? qw + QK_K * i : NULL, 31, -0.5f, 0.1f, 15, &y[i].d,
                          &y[i].dmin, y[i].scales, L);
      /* Low nibbles as Q4_K; bit 4 of element e to bit e/32 of qh[e%32]. */
      uint8_t *qh = y[i].qh;
      uint8_t *ql = y[i].qs;
      memset (qh, 0, QK_K / 8);
      uint8_t m1 = 1, m2 = 2;
      for (int k = 0; k < QK_K; k += 64, ql += 32)
        {
          for (int j = 0; j < 32; ++j)
            {
              int l1 = L[k + j];
              if (l1 > 15)
                {
                  l1 -= 16;
                  qh[j] |= m1;
                }
              int l2 = L[k + j + 32];
              if (l2 > 15)
                {
                  l2 -= 16;
                  qh[j] |= m2;
                }
              ql[j] = (uint8_t) (l1 | (l2 << 4));
            }
          m1 = (uint8_t) (m1 << 2);
          m2 = (uint8_t) (m2 << 2);
        }
    }
}

void
sm_dequantize_row_q5_K_ref (const void *src, float *y, int64_t n)
{
  const sm_block_q5_K *x = src;

  for (int64_t i = 0; i < n / QK_K; i++)
    {
      const float d = h2f (x[i].d);
      const float min = h2f (x[i].dmin);
      const uint8_t *ql = x[i].qs;
      const uint8_t *qh = x[i].qh;
      unsigned u1 = 1, u2 = 2;
      for (int j = 0; j < QK_K / 64; ++j, ql += 32, u1 <<= 2, u2 <<= 2)
        {
          uint8_t sc, m;
          get_scale_min_k4 (2 * j, x[i].scales, &sc, &m);
          const float d1 = d * sc, m1 = min * m;
          get_scale_min_k4 (2 * j + 1, x[i].scales, &sc, &m);
          const float d2 = d * sc, m2 = min * m;
          for (int l = 0; l < 32; ++l)
            *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
          for (int l = 0; l < 32; ++l)
            *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        }
    }
}

/* Q6_K: 16 sub-blocks of 16, x = d * sc * q, q in -32..31, sc signed 8-bit. make_qx_quants
 * (nmax 32, w = x^2, or the importance weights) per sub-block, then the 16 scales quantized with
 * d = max_scale / -128 (the largest becomes -128, clamped to 127 on the other side). */
void
sm_quantize_row_q6_K_ref (const float *x, void *dst, int64_t n, const float *qw)
{
  sm_block_q6_K *y = dst;
  int8_t L[QK_K];
  float scales[QK_K / 16];

  for (int64_t i = 0; i < n / QK_K; i++, x += QK_K)
    {
      float max_scale = 0;
      float max_abs_scale = 0;

      for (int ib = 0; ib < QK_K / 16; ++ib)
        {
          const float *w = qw ? qw + QK_K * i + 16 * ib : NULL;
          const float scale = make_qx_quants (16, 32, x + 16 * ib, L + 16 * ib, 1, w);
          scales[ib] = scale;
          if (fabsf (scale) > max_abs_scale)
            {
              max_abs_scale = fabsf (scale);
              max_scale = scale;
            }
        }

      if (max_abs_scale < GROUP_MAX_EPS)
        {
          memset (&y[i], 0, sizeof (sm_block_q6_K));
          continue;
        }

      float iscale = -128.f / max_scale;
      y[i].d = f2h (1 / iscale);
      for (int ib = 0; ib < QK_K / 16; ++ib)
        y[i].scales[ib] = (int8_t) SM_MIN (127, nearest_int (iscale * scales[ib]));

      for (int j = 0; j < QK_K / 16; ++j)
        {
          float d = h2f (y[i].d) * y[i].scales[j];
          if (!d)
            continue;
          for (int ii = 0; ii < 16; ++ii)
            {
              int l = nearest_int (x[16 * j + ii] / d);
              L[16 * j + ii] = (int8_t) (SM_MAX (-32, SM_MIN (31, l)) + 32);
            }
        }

      /* Per 128 elements: ql holds low nibbles (e and e+64 share a byte, as do e+32 and e+96),
       * qh the 2 high bits of e, e+32, e+64, e+96 in bit pairs 0, 2, 4, 6. */
      uint8_t *ql = y[i].ql;
      uint8_t *qh = y[i].qh;
      for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32)
        for (int l = 0; l < 32; ++l)
          {
            const uint8_t q1 = L[j + l] & 0xF;
            const uint8_t q2 = L[j + l + 32] & 0xF;
            const uint8_t q3 = L[j + l + 64] & 0xF;
            const uint8_t q4 = L[j + l + 96] & 0xF;
            ql[l] = (uint8_t) (q1 | (q3 << 4));
            ql[l + 32] = (uint8_t) (q2 | (q4 << 4));
            qh[l] = (uint8_t) ((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2)
                               | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
          }
    }
}

void
sm_dequantize_row_q6_K_ref (const void *src, float *y, int64_t n)
{
  const sm_block_q6_K *x = src;

  for (int64_t i = 0; i < n / QK_K; i++)
    {
      const float d = h2f (x[i].d);
      const uint8_t *ql = x[i].ql;
      const uint8_t *qh = x[i].qh;
      const int8_t *sc = x[i].scales;
      for (int k = 0; k < QK_K; k += 128, y += 128, ql += 64, qh += 32, sc += 8)
        for (int l = 0; l < 32; ++l)
          {
            int is = l / 16;
            const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * sc[is] * q1;
            y[l + 32] = d * sc[is + 2] * q2;
            y[l + 64] = d * sc[is + 4] * q3;
            y[l + 96] = d * sc[is + 6] * q4;
          }
    }
}

/* Q8_K (activations of the K and IQ dot products): d = max / -127 (f32), q = round(x / d)
 * clamped to 127, bsums = sums of 16 codes. */
void
sm_quantize_row_q8_K_ref (const float *x, void *dst, int64_t n, const float *qw)
{
  sm_block_q8_K *y = dst;

  (void) qw;
  for (int64_t i = 0; i < n / QK_K; i++, x += QK_K)
    {
      float max = 0;
      float amax = 0;
      for (int j = 0; j < QK_K; ++j)
        if (fabsf (x[j]) > amax)
          {
            amax = fabsf (x[j]);
            max = x[j];
          }
      if (!amax)
        {
          memset (&y[i], 0, sizeof y[i]);
          continue;
        }
      const float iscale = -127.f / max;
      for (int j = 0; j < QK_K; ++j)
        y[i].qs[j] = (int8_t) SM_MIN (127, nearest_int (iscale * x[j]));
      for (int j = 0; j < QK_K / 16; ++j)
        {
          int sum = 0;
          for (int ii = 0; ii < 16; ++ii)
            sum += y[i].qs[j * 16 + ii];
          y[i].bsums[j] = (int16_t) sum;
        }
      y[i].d = 1 / iscale;
    }
}

void
sm_dequantize_row_q8_K_ref (const void *src, float *y, int64_t n)
{
  const sm_block_q8_K *x = src;

  for (int64_t i = 0; i < n / QK_K; i++)
    for (int j = 0; j < QK_K; ++j)
      *y++ = x[i].d * x[i].qs[j];
}

/* ======================================================================================== */
/* IQ4_NL and IQ4_XS: 16 non-uniform levels                                                  */
/* ======================================================================================== */

/* Index of the level of `val` (sorted ascending) nearest to x; ties go to the upper one. */
static inline int
best_index_int8 (int n, const int8_t *val, float x)
{
  if (x <= val[0])
    return 0;
  if (x >= val[n - 1])
    return n - 1;
  int ml = 0, mu = n - 1;
  while (mu - ml > 1)
    {
      int mav = (ml + mu) / 2;
      if (x < val[mav])
        mu = mav;
      else
        ml = mav;
    }
  return x - val[mu - 1] < val[mu] - x ? mu - 1 : mu;
}

/* One super-block of IQ4 (super = 32 for IQ4_NL, 256 for IQ4_XS), blocks of 32, x ~ d * T[l].
 * Per block: start from d = max / T[0] (T[0] = -127, so the extreme element maps to the extreme
 * level), take the nearest levels, and set d to the weighted least-squares scale
 * sum w T x / sum w T^2; then try the 2*ntry+1 inverse scales (T[0] + itry) / max and keep the
 * one maximising (sum w T x)^2 / sum w T^2. Weights: x^2, or qw * sqrt(sigma^2 + x^2).
 * IQ4_XS then quantizes the 8 block scales to 6 bits (d = max_scale / -32) and redoes the levels
 * with each stored scale; IQ4_NL stores its one scale as f16 and redoes the levels with it. */
static void
quantize_iq4_super (int super_block_size, const float *x, sm_half *dh, uint8_t *q4,
                    uint16_t *scales_h, uint8_t *scales_l, const float *quant_weights, int ntry)
{
  const int block_size = 32;
  const int8_t *values = sm_kvalues_iq4nl;
  float scales[QK_K / 32];
  float weight[32];
  uint8_t L[QK_K];

  float sigma2 = 0;
  for (int j = 0; j < super_block_size; ++j)
    sigma2 += x[j] * x[j];
  sigma2 *= 2.f / super_block_size;

  memset (q4, 0, (size_t) super_block_size / 2);
  dh[0] = f2h (0.f);

  float max_scale = 0, amax_scale = 0;
  for (int ib = 0; ib < super_block_size / block_size; ++ib)
    {
      const float *xb = x + ib * block_size;
      uint8_t *Lb = L + ib * block_size;
      if (quant_weights)
        {
          const float *qw = quant_weights + ib * block_size;
          for (int j = 0; j < block_size; ++j)
            weight[j] = qw[j] * sqrtf (sigma2 + xb[j] * xb[j]);
        }
      else
        for (int j = 0; j < block_size; ++j)
          weight[j] = xb[j] * xb[j];
      float amax = 0, max = 0;
      for (int j = 0; j < block_size; ++j)
        if (fabsf (xb[j]) > amax)
          {
            amax = fabsf (xb[j]);
            max = xb[j];
          }
      if (amax < GROUP_MAX_EPS)
        {
          scales[ib] = 0;
          memset (Lb, 8, (size_t) block_size); /* level 8 is the one nearest 0 */
          continue;
        }
      float d = ntry > 0 ? -max / values[0] : max / values[0];
      float id = 1 / d;
      float sumqx = 0, sumq2 = 0;
      for (int j = 0; j < block_size; ++j)
        {
          float al = id * xb[j];
          int l = best_index_int8 (16, values, al);
          Lb[j] = (uint8_t) l;
          float q = values[l];
          float w = weight[j];
          sumqx += w * q * xb[j];
          sumq2 += w * q * q;
        }
      d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
      float best = d * sumqx;
      for (int itry = -ntry; itry <= ntry; ++itry)
        {
          id = (itry + values[0]) / max;
          sumqx = sumq2 = 0;
          for (int j = 0; j < block_size; ++j)
            {
              float al = id * xb[j];
              int l = best_index_int8 (16, values, al);
              float q = values[l];
              float w = weight[j];
              sumqx += w * q * xb[j];
              sumq2 += w * q * q;
            }
          if (sumq2 > 0 && sumqx * sumqx > best * sumq2)
            {
              d = sumqx / sumq2;
              best = d * sumqx;
            }
        }
      scales[ib] = d;
      float abs_d = fabsf (d);
      if (abs_d > amax_scale)
        {
          amax_scale = abs_d;
          max_scale = d;
        }
    }

  if (super_block_size / block_size > 1)
    {
      *scales_h = 0;
      float d = -max_scale / 32;
      dh[0] = f2h (d);
      float id = d ? 1 / d : 0.f;
      for (int ib = 0; ib < super_block_size / block_size; ++ib)
        {
          int l = nearest_int (id * scales[ib]);
          l = SM_MAX (-32, SM_MIN (31, l));
          float dl = d * l;
          float idl = dl ? 1 / dl : 0.f;
          uint8_t *Lb = L + ib * block_size;
          const float *xb = x + ib * block_size;
          for (int j = 0; j < block_size; ++j)
            Lb[j] = (uint8_t) best_index_int8 (16, values, idl * xb[j]);
          l += 32;
          uint8_t l_l = (uint8_t) (l & 0xf);
          uint8_t l_h = (uint8_t) (l >> 4);
          if (ib % 2 == 0)
            scales_l[ib / 2] = l_l;
          else
            scales_l[ib / 2] |= (uint8_t) (l_l << 4);
          *scales_h |= (uint16_t) (l_h << 2 * (ib % 8));
        }
    }
  else
    {
      dh[0] = f2h (scales[0]);
      if (ntry > 0)
        {
          float id = scales[0] ? 1 / scales[0] : 0;
          for (int j = 0; j < super_block_size; ++j)
            L[j] = (uint8_t) best_index_int8 (16, values, id * x[j]);
        }
    }

  for (int i = 0; i < super_block_size / 32; ++i)
    for (int j = 0; j < 16; ++j)
      q4[16 * i + j] = (uint8_t) (L[32 * i + j] | (L[32 * i + 16 + j] << 4));
}

/* IQ4_NL rows are made as llama-quantize makes them (quantize_iq4_nl: 7 search steps each side). */
void
sm_quantize_row_iq4_nl_ref (const float *x, void *dst, int64_t n, const float *qw)
{
  sm_block_iq4_nl *y = dst;

  for (int64_t ib = 0; ib < n / SM_QK4_NL; ++ib)
    quantize_iq4_super (SM_QK4_NL, x + SM_QK4_NL * ib, &y[ib].d, y[ib].qs, NULL, NULL,
                        qw ? qw + SM_QK4_NL * ib : NULL, 7);
}

void
sm_dequantize_row_iq4_nl_ref (const void *src, float *y, int64_t n)
{
  const sm_block_iq4_nl *x = src;

  for (int64_t i = 0; i < n / SM_QK4_NL; i++, y += 32)
    {
      const float d = h2f (x[i].d);
      for (int j = 0; j < 16; ++j)
        {
          y[j] = d * sm_kvalues_iq4nl[x[i].qs[j] & 0xf];
          y[j + 16] = d * sm_kvalues_iq4nl[x[i].qs[j] >> 4];
        }
    }
}

void
sm_quantize_row_iq4_xs_ref (const float *x, void *dst, int64_t n, const float *qw)
{
  sm_block_iq4_xs *y = dst;

  for (int64_t ib = 0; ib < n / QK_K; ++ib)
    quantize_iq4_super (QK_K, x + QK_K * ib, &y[ib].d, y[ib].qs, &y[ib].scales_h,
                        y[ib].scales_l, qw ? qw + QK_K * ib : NULL, 7);
}

/* IQ4_XS sub-block scale ib (6 bits, offset 32). */
static inline int
iq4_xs_scale (const sm_block_iq4_xs *b, int ib)
{
  return (((b->scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) | (((b->scales_h >> 2 * ib) & 3) << 4))
         - 32;
}

void
sm_dequantize_row_iq4_xs_ref (const void *src, float *y, int64_t n)
{
  const sm_block_iq4_xs *x = src;

  for (int64_t i = 0; i < n / QK_K; i++)
    {
      const float d = h2f (x[i].d);
      const uint8_t *qs = x[i].qs;
      for (int ib = 0; ib < QK_K / 32; ++ib, y += 32, qs += 16)
        {
          const float dl = d * iq4_xs_scale (&x[i], ib);
          for (int j = 0; j < 16; ++j)
            {
              y[j] = dl * sm_kvalues_iq4nl[qs[j] & 0xf];
              y[j + 16] = dl * sm_kvalues_iq4nl[qs[j] >> 4];
            }
        }
    }
}

/* ======================================================================================== */
/* Grid types (decode only): each group of 4 or 8 elements is a codebook entry                */
/* ======================================================================================== */

static inline uint8_t
grid8 (uint64_t g, int j)
{
  return (uint8_t) (g >> (8 * j));
}

static inline uint8_t
grid4 (uint32_t g, int j)
{
  return (uint8_t) (g >> (8 * j));
}

/* IQ2_XXS: per 32 elements two LE uint32 a0, a1; the bytes of a0 index 4 grid entries of 8
 * magnitudes, a1 holds four 7-bit sign indices and (top 4 bits) s;
 * x = d (0.5 + s) / 4 * g * sign. */
void
sm_dequantize_row_iq2_xxs_ref (const void *src, float *y, int64_t n)
{
  const sm_block_iq2_xxs *x = src;

  for (int64_t i = 0; i < n / QK_K; i++)
    {
      const float d = h2f (x[i].d);
      for (int ib32 = 0; ib32 < QK_K / 32; ++ib32)
        {
          const uint16_t *q = x[i].qs + 4 * ib32;
          const uint32_t a0 = q[0] | ((uint32_t) q[1] << 16);
          const uint32_t a1 = q[2] | ((uint32_t) q[3] << 16);
          const float db = d * (0.5f + (a1 >> 28)) * 0.25f;
          for (int l = 0; l < 4; ++l, y += 8)
            {
              const uint64_t g = sm_iq2xxs_grid[(a0 >> (8 * l)) & 0xff];
              const uint8_t signs = ksign ((a1 >> 7 * l) & 127);
              for (int j = 0; j < 8; ++j)
                y[j] = db * grid8 (g, j) * (signs & (1u << j) ? -1.f : 1.f);
            }
        }
    }
}

/* IQ2_XS: 16-bit entries, 9-bit grid index + 7-bit sign index; a 4-bit scale per 16 elements. */
void
sm_dequantize_row_iq2_xs_ref (const void *src, float *y, int64_t n)
{
  const sm_block_iq2_xs *x = src;

  for (int64_t i = 0; i < n / QK_K; i++)
    {
      const float d = h2f (x[i].d);
      for (int ib32 = 0; ib32 < QK_K / 32; ++ib32)
        {
          const float db[2] = { d * (0.5f + (x[i].scales[ib32] & 0xf)) * 0.25f,
                                d * (0.5f + (x[i].scales[ib32] >> 4)) * 0.25f };
          for (int l = 0; l < 4; ++l, y += 8)
            {
              const uint16_t e = x[i].qs[4 * ib32 + l];
              const uint64_t g = sm_iq2xs_grid[e & 511];
              const uint8_t signs = ksign (e >> 9);
              for (int j = 0; j < 8; ++j)
                y[j] = db[l / 2] * grid8 (g, j) * (signs & (1u << j) ? -1.f : 1.f);
            }
        }
    }
}

/* IQ2_S: 10-bit grid indices (8 low bits in qs, 2 high in qh), explicit sign bytes. */
void
sm_dequantize_row_iq2_s_ref (const void *src, float *y, int64_t n)
{
  const sm_block_iq2_s *x = src;

  for (int64_t i = 0; i < n / QK_K; i++)
    {
      const float d = h2f (x[i].d);
      const uint8_t *qs = x[i].qs;
      const uint8_t *signs = qs + QK_K / 8;
      for (int ib32 = 0; ib32 < QK_K / 32; ++ib32, qs += 4, signs += 4)
        {
          const float db[2] = { d * (0.5f + (x[i].scales[ib32] & 0xf)) * 0.25f,
                                d * (0.5f + (x[i].scales[ib32] >> 4)) * 0.25f };
          for (int l = 0; l < 4; ++l, y += 8)
            {
              const uint64_t g = sm_iq2s_grid[qs[l] | ((x[i].qh[ib32] << (8 - 2 * l)) & 0x300)];
              for (int j = 0; j < 8; ++j)
                y[j] = db[l / 2] * grid8 (g, j) * (signs[l] & (1u << j) ? -1.f : 1.f);
            }
        }
    }
}

/* IQ3_XXS: 64 bytes of indices into a 256-entry grid of 4 magnitudes, then per 32 elements a
 * uint32 of four 7-bit sign indices and a 4-bit scale s: x = d (0.5 + s) / 2 * g * sign. */
void
sm_dequantize_row_iq3_xxs_ref (const void *src, float *y, int64_t n)
{
  const sm_block_iq3_xxs *x = src;

  for (int64_t i = 0; i < n / QK_K; i++)
    {
      const float d = h2f (x[i].d);
      const uint8_t *qs = x[i].qs;
      const uint8_t *scales_and_signs = qs + QK_K / 4;
      for (int ib32 = 0; ib32 < QK_K / 32; ++ib32, qs += 8)
        {
          const uint32_t aux = load_u32 (scales_and_signs + 4 * ib32);
          const float db = d * (0.5f + (aux >> 28)) * 0.5f;
          for (int l = 0; l < 4; ++l, y += 8)
            {
              const uint8_t signs = ksign ((aux >> 7 * l) & 127);
              const uint32_t g1 = sm_iq3xxs_grid[qs[2 * l]];
              const uint32_t g2 = sm_iq3xxs_grid[qs[2 * l + 1]];
              for (int j = 0; j < 4; ++j)
                {
                  y[j] = db * grid4 (g1, j) * (signs & (1u << j) ? -1.f : 1.f);
                  y[j + 4] = db * grid4 (g2, j) * (signs & (1u << (j + 4)) ? -1.f : 1.f);
                }
            }
        }
    }
}

/* IQ3_S: 9-bit indices (qs + one qh bit each), explicit signs, scale d (1 + 2 s) per 32. */
void
sm_dequantize_row_iq3_s_ref (const void *src, float *y, int64_t n)
{
  const sm_block_iq3_s *x = src;

  for (int64_t i = 0; i < n / QK_K; i++)
    {
      const float d = h2f (x[i].d);
      const uint8_t *qs = x[i].qs;
      const uint8_t *qh = x[i].qh;
      const uint8_t *signs = x[i].signs;
      for (int ib32 = 0; ib32 < QK_K / 32; ++ib32, qs += 8, signs += 4)
        {
          const int s = (x[i].scales[ib32 / 2] >> (4 * (ib32 % 2))) & 0xf;
          const float db = d * (1 + 2 * s);
          const uint8_t h = qh[ib32];
          for (int l = 0; l < 4; ++l, y += 8)
            {
              const uint32_t g1 = sm_iq3s_grid[qs[2 * l] | ((h << (8 - 2 * l)) & 256)];
              const uint32_t g2 = sm_iq3s_grid[qs[2 * l + 1] | ((h << (7 - 2 * l)) & 256)];
              for (int j = 0; j < 4; ++j)
                {
                  y[j] = db * grid4 (g1, j) * (signs[l] & (1u << j) ? -1.f : 1.f);
                  y[j + 4] = db * grid4 (g2, j) * (signs[l] & (1u << (j + 4)) ? -1.f : 1.f);
                }
            }
        }
    }
}

#define IQ1_DELTA 0.125f

/* IQ1_S: 11-bit indices into a grid of {-1, 0, +1}^8; per 32 elements qh holds the 4x3 high
 * index bits, a 3-bit scale s and the sign of a shared shift: x = d (2 s + 1) (g + delta). */
void
sm_dequantize_row_iq1_s_ref (const void *src, float *y, int64_t n)
{
  const sm_block_iq1_s *x = src;

  for (int64_t i = 0; i < n / QK_K; i++)
    {
      const float d = h2f (x[i].d);
      const uint8_t *qs = x[i].qs;
      for (int ib = 0; ib < QK_K / 32; ++ib, qs += 4)
        {
          const uint16_t qh = x[i].qh[ib];
          const float dl = d * (2 * ((qh >> 12) & 7) + 1);
          const float delta = qh & 0x8000 ? -IQ1_DELTA : IQ1_DELTA;
          for (int l = 0; l < 4; ++l, y += 8)
            {
              const uint64_t g = sm_iq1s_grid[qs[l] | (((qh >> 3 * l) & 7) << 8)];
              for (int j = 0; j < 8; ++j)
                y[j] = dl * ((int8_t) grid8 (g, j) + delta);
            }
        }
    }
}

/* IQ1_M: no d field; the f16 super-scale is the top nibbles of the four LE uint16 scale words.
 * Each 8 elements have their own shift sign; each 16 a 3-bit scale. */
void
sm_dequantize_row_iq1_m_ref (const void *src, float *y, int64_t n)
{
  const sm_block_iq1_m *x = src;

  for (int64_t i = 0; i < n / QK_K; i++)
    {
      uint16_t sc[4];
      for (int k = 0; k < 4; k++)
        sc[k] = (uint16_t) (x[i].scales[2 * k] | (x[i].scales[2 * k + 1] << 8));
      const sm_half dbits = (sm_half) ((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0)
                                       | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
      const float d = h2f (dbits);
      const uint8_t *qs = x[i].qs;
      const uint8_t *qh = x[i].qh;
      for (int ib = 0; ib < QK_K / 32; ++ib, qs += 4, qh += 2)
        {
          const float dl1 = d * (2 * ((sc[ib / 2] >> (6 * (ib % 2) + 0)) & 0x7) + 1);
          const float dl2 = d * (2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 0x7) + 1);
          const uint16_t idx[4] = {
            (uint16_t) (qs[0] | ((qh[0] << 8) & 0x700)),
            (uint16_t) (qs[1] | ((qh[0] << 4) & 0x700)),
            (uint16_t) (qs[2] | ((qh[1] << 8) & 0x700)),
            (uint16_t) (qs[3] | ((qh[1] << 4) & 0x700)),
          };
          const float delta[4] = {
            qh[0] & 0x08 ? -IQ1_DELTA : IQ1_DELTA,
            qh[0] & 0x80 ? -IQ1_DELTA : IQ1_DELTA,
            qh[1] & 0x08 ? -IQ1_DELTA : IQ1_DELTA,
            qh[1] & 0x80 ? -IQ1_DELTA : IQ1_DELTA,
          };
          for (int l = 0; l < 4; ++l, y += 8)
            {
              const uint64_t g = sm_iq1s_grid[idx[l]];
              const float dl = l < 2 ? dl1 : dl2;
              for (int j = 0; j < 8; ++j)
                y[j] = dl * ((int8_t) grid8 (g, j) + delta[l]);
            }
        }
    }
}

/* ======================================================================================== */
/* Activation rows                                                                           */
/* ======================================================================================== */

void
sm_act_row_q8_0_ref (const float *src, void *dst, int64_t n)
{
  sm_quantize_row_q8_0_ref (src, dst, n, NULL);
}

void
sm_act_row_q8_1_ref (const float *src, void *dst, int64_t n)
{
  sm_quantize_row_q8_1_ref (src, dst, n, NULL);
}

void
sm_act_row_q8_K_ref (const float *src, void *dst, int64_t n)
{
  sm_quantize_row_q8_K_ref (src, dst, n, NULL);
}

void
sm_act_row_f16_ref (const float *src, void *dst, int64_t n)
{
  sm_quantize_row_f16_ref (src, dst, n, NULL);
}

void
sm_act_row_bf16_ref (const float *src, void *dst, int64_t n)
{
  sm_quantize_row_bf16_ref (src, dst, n, NULL);
}

void
sm_act_row_f32_ref (const float *src, void *dst, int64_t n)
{
  memcpy (dst, src, (size_t) n * sizeof (float));
}

/* ======================================================================================== */
/* Dot products. Integer parts are exact; each block adds (weight scale * activation scale *   */
/* integer sum) to a float accumulator. Plain float types accumulate in double.              */
/* ======================================================================================== */

float
sm_vec_dot_f32_ref (int64_t n, const void *w, const void *a)
{
  const float *x = w, *y = a;
  double sum = 0;

  for (int64_t i = 0; i < n; i++)
    sum += (double) x[i] * y[i];
  return (float) sum;
}

float
sm_vec_dot_f16_ref (int64_t n, const void *w, const void *a)
{
  const uint16_t *x = w, *y = a;
  double sum = 0;

  for (int64_t i = 0; i < n; i++)
    sum += (double) h2f (x[i]) * h2f (y[i]);
  return (float) sum;
}

float
sm_vec_dot_bf16_ref (int64_t n, const void *w, const void *a)
{
  const uint16_t *x = w, *y = a;
  double sum = 0;

  for (int64_t i = 0; i < n; i++)
    sum += (double) sm_bf16_to_float (x[i]) * sm_bf16_to_float (y[i]);
  return (float) sum;
}

/* Q4_0 . Q8_0: sum_blocks dx dy sum_j (q_j - 8) a_j. */
float
sm_vec_dot_q4_0_ref (int64_t n, const void *w, const void *a)
{
  const sm_block_q4_0 *x = w;
  const sm_block_q8_0 *y = a;
  float sumf = 0;

  for (int64_t ib = 0; ib < n / SM_QK8_0; ++ib)
    {
      int sumi = 0;
      for (int j = 0; j < 16; ++j)
        {
          sumi += ((x[ib].qs[j] & 0x0F) - 8) * y[ib].qs[j];
          sumi += ((x[ib].qs[j] >> 4) - 8) * y[ib].qs[j + 16];
        }
      sumf += sumi * h2f (x[ib].d) * h2f (y[ib].d);
    }
  return sumf;
}

/* Q4_1 . Q8_1: dx dy sum q a + m * s, s = dy sum a (precomputed in the Q8_1 block). */
float
sm_vec_dot_q4_1_ref (int64_t n, const void *w, const void *a)
{
  const sm_block_q4_1 *x = w;
  const sm_block_q8_1 *y = a;
  float sumf = 0;

  for (int64_t ib = 0; ib < n / SM_QK8_1; ++ib)
    {
      int sumi = 0;
      for (int j = 0; j < 16; ++j)
        {
          sumi += (x[ib].qs[j] & 0x0F) * y[ib].qs[j];
          sumi += (x[ib].qs[j] >> 4) * y[ib].qs[j + 16];
        }
      sumf += (h2f (x[ib].d) * h2f (y[ib].d)) * sumi + h2f (x[ib].m) * h2f (y[ib].s);
    }
  return sumf;
}

float
sm_vec_dot_q5_0_ref (int64_t n, const void *w, const void *a)
{
  const sm_block_q5_0 *x = w;
  const sm_block_q8_0 *y = a;
  float sumf = 0;

  for (int64_t ib = 0; ib < n / SM_QK8_0; ++ib)
    {
      const uint32_t qh = load_u32 (x[ib].qh);
      int sumi = 0;
      for (int j = 0; j < 16; ++j)
        {
          const int x0 = ((x[ib].qs[j] & 0x0F) | (((qh >> j) & 1) << 4)) - 16;
          const int x1 = ((x[ib].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
          sumi += x0 * y[ib].qs[j] + x1 * y[ib].qs[j + 16];
        }
      sumf += sumi * h2f (x[ib].d) * h2f (y[ib].d);
    }
  return sumf;
}

float
sm_vec_dot_q5_1_ref (int64_t n, const void *w, const void *a)
{
  const sm_block_q5_1 *x = w;
  const sm_block_q8_1 *y = a;
  float sumf = 0;

  for (int64_t ib = 0; ib < n / SM_QK8_1; ++ib)
    {
      const uint32_t qh = load_u32 (x[ib].qh);
      int sumi = 0;
      for (int j = 0; j < 16; ++j)
        {
          const int x0 = (x[ib].qs[j] & 0x0F) | (((qh >> j) & 1) << 4);
          const int x1 = (x[ib].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
          sumi += x0 * y[ib].qs[j] + x1 * y[ib].qs[j + 16];
        }
      sumf += (h2f (x[ib].d) * h2f (y[ib].d)) * sumi + h2f (x[ib].m) * h2f (y[ib].s);
    }
  return sumf;
}

float
sm_vec_dot_q8_0_ref (int64_t n, const void *w, const void *a)
{
  const sm_block_q8_0 *x = w;
  const sm_block_q8_0 *y = a;
  float sumf = 0;

  for (int64_t ib = 0; ib < n / SM_QK8_0; ++ib)
    {
      int sumi = 0;
      for (int j = 0; j < SM_QK8_0; ++j)
        sumi += x[ib].qs[j] * y[ib].qs[j];
      sumf += sumi * (h2f (x[ib].d) * h2f (y[ib].d));
    }
  return sumf;
}

float
sm_vec_dot_iq4_nl_ref (int64_t n, const void *w, const void *a)
{
  const sm_block_iq4_nl *x = w;
  const sm_block_q8_0 *y = a;
  float sumf = 0;

  for (int64_t ib = 0; ib < n / SM_QK4_NL; ++ib)
    {
      int sumi = 0;
      for (int j = 0; j < 16; ++j)
        {
          sumi += sm_kvalues_iq4nl[x[ib].qs[j] & 0xf] * y[ib].qs[j];
          sumi += sm_kvalues_iq4nl[x[ib].qs[j] >> 4] * y[ib].qs[j + 16];
        }
      sumf += h2f (x[ib].d) * h2f (y[ib].d) * sumi;
    }
  return sumf;
}

/* The K-type dots share one shape: a block is unpacked into signed codes q[256], integer
 * sub-block scales sc[] and mins mn[] (nsub sub-blocks of 256/nsub), then
 *   dot = d * dy * sum_s sc[s] * sum_{e in s} q[e] a[e]
 *         - dmin * dy * sum_s mn[s] * sum_{e in s} a[e]
 * where the activation sums come from the Q8_K bsums (16 elements each). */
static float
dot_k_unpacked (const int8_t *q, const int *sc, const int *mn, int nsub, float d, float dmin,
                const sm_block_q8_K *y)
{
  const int len = QK_K / nsub;
  int64_t isum = 0, msum = 0;

  for (int s = 0; s < nsub; s++)
    {
      int sub = 0;
      for (int e = s * len; e < (s + 1) * len; e++)
        sub += q[e] * y->qs[e];
      isum += (int64_t) sc[s] * sub;
      if (mn)
        {
          int bs = 0;
          for (int k = s * len / 16; k < (s + 1) * len / 16; k++)
            bs += y->bsums[k];
          msum += (int64_t) mn[s] * bs;
        }
    }
  return d * y->d * (float) isum - dmin * y->d * (float) msum;
}

float
sm_vec_dot_q2_K_ref (int64_t n, const void *w, const void *a)
{
  const sm_block_q2_K *x = w;
  const sm_block_q8_K *y = a;
  float sumf = 0;
  int8_t q[QK_K];
  int sc[16], mn[16];

  for (int64_t i = 0; i < n / QK_K; i++)
    {
      for (int e = 0; e < QK_K; e++)
        q[e] = (int8_t) ((x[i].qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3);
      for (int s = 0; s < 16; s++)
        {
          sc[s] = x[i].scales[s] & 0xF;
          mn[s] = x[i].scales[s] >> 4;
        }
      sumf += dot_k_unpacked (q, sc, mn, 16, h2f (x[i].d), h2f (x[i].dmin), &y[i]);
    }
  return sumf;
}

float
sm_vec_dot_q3_K_ref (int64_t n, const void *w, const void *a)
{
  const sm_block_q3_K *x = w;
  const sm_block_q8_K *y = a;
  float sumf = 0;
  int8_t q[QK_K];
  int sc[16];

  for (int64_t i = 0; i < n / QK_K; i++)
    {
      for (int e = 0; e < QK_K; e++)
        {
          const int low2 = (x[i].qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
          const int high = (x[i].hmask[e % 32] >> (e / 32)) & 1;
          q[e] = (int8_t) (low2 - (high ? 0 : 4));
        }
      for (int s = 0; s < 16; s++)
        sc[s] = q3_K_scale (x[i].scales, s);
      sumf += dot_k_unpacked (q, sc, NULL, 16, h2f (x[i].d), 0.f, &y[i]);
    }
  return sumf;
}

float
sm_vec_dot_q4_K_ref (int64_t n, const void *w, const void *a)
{
  const sm_block_q4_K *x = w;
  const sm_block_q8_K *y = a;
  float sumf = 0;
  int8_t q[QK_K];
  int sc[8], mn[8];

  for (int64_t i = 0; i < n / QK_K; i++)
    {
      for (int e = 0; e < QK_K; e++)
        {
          const uint8_t b = x[i].qs[32 * (e / 64) + e % 32];
          q[e] = (int8_t) ((e % 64) < 32 ? b & 0xF : b >> 4);
        }
      for (int s = 0; s < 8; s++)
        {
          uint8_t c, m;
          get_scale_min_k4 (s, x[i].scales, &c, &m);
          sc[s] = c;
          mn[s] = m;
        }
      sumf += dot_k_unpacked (q, sc, mn, 8, h2f (x[i].d), h2f (x[i].dmin), &y[i]);
    }
  return sumf;
}

float
sm_vec_dot_q5_K_ref (int64_t n, const void *w, const void *a)
{
  const sm_block_q5_K *x = w;
  const sm_block_q8_K *y = a;
  float sumf = 0;
  int8_t q[QK_K];
  int sc[8], mn[8];

  for (int64_t i = 0; i < n / QK_K; i++)
    {
      for (int e = 0; e < QK_K; e++)
        {
          const uint8_t b = x[i].qs[32 * (e / 64) + e % 32];
          const int lo = (e % 64) < 32 ? b & 0xF : b >> 4;
          const int hi = (x[i].qh[e % 32] >> (e / 32)) & 1;
          q[e] = (int8_t) (lo | (hi << 4));
        }
      for (int s = 0; s < 8; s++)
        {
          uint8_t c, m;
          get_scale_min_k4 (s, x[i].scales, &c, &m);
          sc[s] = c;
          mn[s] = m;
        }
      sumf += dot_k_unpacked (q, sc, mn, 8, h2f (x[i].d), h2f (x[i].dmin), &y[i]);
    }
  return sumf;
}

float
sm_vec_dot_q6_K_ref (int64_t n, const void *w, const void *a)
{
  const sm_block_q6_K *x = w;
  const sm_block_q8_K *y = a;
  float sumf = 0;
  int8_t q[QK_K];
  int sc[16];

  for (int64_t i = 0; i < n / QK_K; i++)
    {
      for (int e = 0; e < QK_K; e++)
        {
          const int h = e / 128, r = e % 128, k = r / 32, l = r % 32;
          const uint8_t b = x[i].ql[64 * h + l + 32 * (k & 1)];
          const int low4 = k < 2 ? b & 0xF : b >> 4;
          const int high2 = (x[i].qh[32 * h + l] >> (2 * k)) & 3;
          q[e] = (int8_t) ((low4 | (high2 << 4)) - 32);
        }
      for (int s = 0; s < 16; s++)
        sc[s] = x[i].scales[s];
      sumf += dot_k_unpacked (q, sc, NULL, 16, h2f (x[i].d), 0.f, &y[i]);
    }
  return sumf;
}

float
sm_vec_dot_q8_K_ref (int64_t n, const void *w, const void *a)
{
  const sm_block_q8_K *x = w;
  const sm_block_q8_K *y = a;
  float sumf = 0;

  for (int64_t i = 0; i < n / QK_K; i++)
    {
      int sumi = 0;
      for (int j = 0; j < QK_K; j++)
        sumi += x[i].qs[j] * y[i].qs[j];
      sumf += x[i].d * y[i].d * sumi;
    }
  return sumf;
}

float
sm_vec_dot_iq4_xs_ref (int64_t n, const void *w, const void *a)
{
  const sm_block_iq4_xs *x = w;
  const sm_block_q8_K *y = a;
  float sumf = 0;
  int8_t q[QK_K];
  int sc[8];

  for (int64_t i = 0; i < n / QK_K; i++)
    {
      for (int ib = 0; ib < 8; ib++)
        {
          for (int j = 0; j < 16; ++j)
            {
              q[32 * ib + j] = sm_kvalues_iq4nl[x[i].qs[16 * ib + j] & 0xf];
              q[32 * ib + j + 16] = sm_kvalues_iq4nl[x[i].qs[16 * ib + j] >> 4];
            }
          sc[ib] = iq4_xs_scale (&x[i], ib);
        }
      sumf += dot_k_unpacked (q, sc, NULL, 8, h2f (x[i].d), 0.f, &y[i]);
    }
  return sumf;
}

/* Grid types: decode one weight block to floats and multiply by the activation codes; these
 * formats are only read, so this reference favours obviousness over speed. */
static float
dot_decoded (int64_t n, const void *w, const void *a, size_t block_bytes,
             void (*decode) (const void *, float *, int64_t))
{
  const uint8_t *x = w;
  const sm_block_q8_K *y = a;
  float buf[QK_K];
  float sumf = 0;

  for (int64_t i = 0; i < n / QK_K; i++)
    {
      decode (x + (size_t) i * block_bytes, buf, QK_K);
      float s = 0;
      for (int j = 0; j < QK_K; j++)
        s += buf[j] * y[i].qs[j];
      sumf += s * y[i].d;
    }
  return sumf;
}

#define SM_GRID_DOT(t)                                                                   \
  float sm_vec_dot_##t##_ref (int64_t n, const void *w, const void *a)                   \
  {                                                                                      \
    return dot_decoded (n, w, a, sizeof (sm_block_##t), sm_dequantize_row_##t##_ref);     \
  }

SM_GRID_DOT (iq2_xxs)
SM_GRID_DOT (iq2_xs)
SM_GRID_DOT (iq2_s)
SM_GRID_DOT (iq3_xxs)
SM_GRID_DOT (iq3_s)
SM_GRID_DOT (iq1_s)
SM_GRID_DOT (iq1_m)
