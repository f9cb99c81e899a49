/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-quantize-simd.h: the block quantizers of the model quantizer (Q8_0, Q4_0, and the searches
 * of Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS) and its input conversion, written once over a small
 * vector vocabulary (VF_ADD, VM_GT, ...) that sm-quantize-avx512.c (16 lanes) and
 * sm-quantize-avx2.c (8 lanes) define before including this file. The output is byte for byte
 * the output of the scalar references in sm-quant-ref.c.
 *
 * How: each lane runs one sub-block's whole search (make_qkx2_quants, make_qx_quants or the IQ4
 * scale search) with exactly the float operations of the reference, in the same order: the
 * element sums run sequentially over the sub-block inside a lane (never a tree reduction), every
 * product and sum is a separate multiply and add (these files are built with -ffp-contract=off,
 * so no fused multiply-add), divisions and square roots are IEEE like the scalar ones, rounding
 * is nearest_int's magic-number trick on the same bits, and each candidate's "is it better" test
 * is the reference's comparison, applied per lane with a blend. Sub-blocks are laid out
 * transposed (element i of lane k at t[i * VW + k]) so a lane reads its own sub-block. What is
 * left per super-block (quantizing the sub-block scales, packing) is the reference's scalar code.
 * Rows holding a NaN or an infinity (or importance weights that do) go to the reference
 * whole: its behaviour on them is defined bit by bit by x86 conversions we do not mirror here.
 * Q4_K/Q5_K with importance weights (make_qkx3_quants + make_qp_quants) also use the reference.
 *
 * The including file defines: VW (lanes), vf/vi/vm (float, int32 and mask vectors), vlut (a
 * 16-entry float table), SMQ_NAME(x) (the variant's suffix), and the V* operations below.
 */
#include <math.h>
#include <string.h>

#include "sm-quant-private.h"

#define SMQ_QK_K SM_QK_K
#define SMQ_EPS 1e-15f

/* ---- Shared vector helpers ---- */

/* nearest_int (sm-quant-ref.c) on every lane: the same add of 1.5 * 2^23 and the same bits. */
static inline vi
v_nearest_int (vf v)
{
  vf t = VF_ADD (v, VF_SET1 (12582912.f));
  return VI_SUB (VI_AND (VF_AS_I (t), VI_SET1 (0x007fffff)), VI_SET1 (0x00400000));
}

/* |x|: fabsf clears the sign bit. */
static inline vf
v_abs (vf x)
{
  return VI_AS_F (VI_AND (VF_AS_I (x), VI_SET1 (0x7fffffff)));
}

/* -x: flips the sign bit, as the C unary minus does. */
static inline vf
v_neg (vf x)
{
  return VI_AS_F (VI_XOR (VF_AS_I (x), VI_SET1 ((int) 0x80000000u)));
}

/* best_index_int8 (16, sm_kvalues_iq4nl, x) on every lane: the same bisection (4 steps reach
 * mu - ml == 1 from (0, 15); further steps leave it unchanged), the same tie rule and the same
 * results for x outside the table or NaN. */
static inline vi
v_best_index_iq4 (vf x, vlut tab)
{
  vi ml = VI_SET1 (0), mu = VI_SET1 (15);

  for (int s = 0; s < 4; s++)
    {
      vi mav = VI_SRLI1 (VI_ADD (ml, mu));
      vm lt = VM_LT (x, VF_LUT (tab, mav));
      mu = VI_BLEND (lt, mu, mav);
      ml = VI_BLEND (lt, mav, ml);
    }
  vm lower = VM_LT (VF_SUB (x, VF_LUT (tab, ml)), VF_SUB (VF_LUT (tab, mu), x));
  vi r = VI_BLEND (lower, mu, ml);
  r = VI_BLEND (VM_GE (x, VF_SET1 (113.f)), r, VI_SET1 (15));
  r = VI_BLEND (VM_LE (x, VF_SET1 (-127.f)), r, VI_SET1 (0));
  return r;
}

/* True when all n floats are finite. */
static bool
SMQ_NAME (all_finite) (const float *x, int64_t n)
{
  vm bad = VM_NONE ();
  int64_t i = 0;

  for (; i + VW <= n; i += VW)
    {
      vf a = v_abs (VF_LOAD (x + i));
      bad = VM_OR (bad, VM_NLE (a, VF_SET1 (3.40282347e+38f)));
    }
  if (VM_ANY (bad))
    return false;
  for (; i < n; i++)
    if (!isfinite (x[i]))
      return false;
  return true;
}

/* Transposes nsub sub-blocks of len floats (consecutive in x) into t: element i of sub-block k at
 * t[i * VW + k]; lanes k >= nsub are zero. */
static inline void
transpose_in (const float *x, int nsub, int len, float *t)
{
  if (nsub == VW)
    {
      int32_t idx[VW];
      for (int k = 0; k < VW; k++)
        idx[k] = k * len;
      vi vidx = VI_LOAD (idx);
      for (int i = 0; i < len; i++)
        VF_STORE (t + i * VW, VF_GATHER (x + i, vidx));
      return;
    }
  for (int k = 0; k < nsub; k++)
    for (int i = 0; i < len; i++)
      t[i * VW + k] = x[k * len + i];
  for (int k = nsub; k < VW; k++)
    for (int i = 0; i < len; i++)
      t[i * VW + k] = 0.f;
}

/* ---- make_qx_quants (n = 16, nmax = 32, rmse_type 1) for Q6_K: one sub-block per lane ---- */

/* xt, wt: 16 x VW transposed elements and weights (wt NULL: w = x^2). Writes the scale of each
 * lane and its codes (0..63) to Lt (transposed).
 * The 18 candidate scales do not depend on each other (only the choice among them is sequential),
 * so their sums are computed three candidates at a time (six independent add chains instead of
 * two), then chosen in the reference's order; the codes are made once, from the winning iscale.
 * Here |iscale * x| <= 33, so nearest_int can stay in floats: (v + 1.5 * 2^23) - 1.5 * 2^23 is
 * exactly the integer nearest_int returns, as a float. */
static void
search_qx16 (const float *xt, const float *wt, float *scale_out, int32_t *Lt)
{
  enum { N = 16, NMAX = 32, NC = 18 };
  vf x[N], w[N], wx[N];
  vf amax = VF_SET1 (0.f), max = VF_SET1 (0.f);
  const vf magic = VF_SET1 (12582912.f);
  const vf lo = VF_SET1 ((float) -NMAX), hi = VF_SET1 ((float) (NMAX - 1));

  for (int i = 0; i < N; i++)
    {
      x[i] = VF_LOAD (xt + i * VW);
      w[i] = wt ? VF_LOAD (wt + i * VW) : VF_MUL (x[i], x[i]);
      wx[i] = VF_MUL (w[i], x[i]);
      vf ax = v_abs (x[i]);
      vm gt = VM_GT (ax, amax);
      amax = VF_BLEND (gt, amax, ax);
      max = VF_BLEND (gt, max, x[i]);
    }
  vm dead = VM_LT (amax, VF_SET1 (SMQ_EPS));
  /* Lanes without data divide by zero here; their results are replaced below. */
  vf iscale0 = VF_DIV (VF_SET1 ((float) -NMAX), max);
  vf sumlx = VF_SET1 (0.f), suml2 = VF_SET1 (0.f);

#define QX_L(isc, xi) VF_MAX (lo, VF_MIN (hi, VF_SUB (VF_ADD (VF_MUL ((isc), (xi)), magic), magic)))
  for (int i = 0; i < N; i++)
    {
      vf lf = QX_L (iscale0, x[i]);
      sumlx = VF_ADD (sumlx, VF_MUL (wx[i], lf));
      suml2 = VF_ADD (suml2, VF_MUL (VF_MUL (w[i], lf), lf));
    }
  vf scale = VF_BLEND (VM_NEQ (suml2, VF_SET1 (0.f)), VF_SET1 (0.f), VF_DIV (sumlx, suml2));
  vf best = VF_MUL (scale, sumlx);
  vf best_iscale = iscale0;

  vf isc[NC], sx[NC], s2[NC];
  for (int c = 0; c < NC; c++)
    {
      const int is = c < 9 ? c - 9 : c - 8; /* -9..-1, 1..9 */
      isc[c] = VF_DIV (v_neg (VF_SET1 ((float) NMAX + 0.1f * (float) is)), max);
    }
  for (int c = 0; c < NC; c += 3)
    {
      vf a0 = VF_SET1 (0.f), a1 = a0, a2 = a0, b0 = a0, b1 = a0, b2 = a0;
      for (int i = 0; i < N; i++)
        {
          vf l0 = QX_L (isc[c], x[i]), l1 = QX_L (isc[c + 1], x[i]), l2 = QX_L (isc[c + 2], x[i]);
          a0 = VF_ADD (a0, VF_MUL (wx[i], l0));
          a1 = VF_ADD (a1, VF_MUL (wx[i], l1));
          a2 = VF_ADD (a2, VF_MUL (wx[i], l2));
          b0 = VF_ADD (b0, VF_MUL (VF_MUL (w[i], l0), l0));
          b1 = VF_ADD (b1, VF_MUL (VF_MUL (w[i], l1), l1));
          b2 = VF_ADD (b2, VF_MUL (VF_MUL (w[i], l2), l2));
        }
      sx[c] = a0;
      sx[c + 1] = a1;
      sx[c + 2] = a2;
      s2[c] = b0;
      s2[c + 1] = b1;
      s2[c + 2] = b2;
    }
  for (int c = 0; c < NC; c++)
    {
      vm better = VM_AND (VM_GT (s2[c], VF_SET1 (0.f)),
                          VM_GT (VF_MUL (sx[c], sx[c]), VF_MUL (best, s2[c])));
      vf ns = VF_DIV (sx[c], s2[c]);
      scale = VF_BLEND (better, scale, ns);
      best = VF_BLEND (better, best, VF_MUL (ns, sx[c]));
      best_iscale = VF_BLEND (better, best_iscale, isc[c]);
    }
  scale = VF_BLEND (dead, scale, VF_SET1 (0.f));
  VF_STORE (scale_out, scale);
  for (int i = 0; i < N; i++)
    {
      vi l = VI_ADD (VF_CVTT (QX_L (best_iscale, x[i])), VI_SET1 (NMAX));
      VI_STORE (Lt + i * VW, VI_BLEND (dead, l, VI_SET1 (0)));
    }
#undef QX_L
}

/* ---- make_qkx2_quants (n = 32) for Q4_K and Q5_K: one sub-block per lane ---- */

/* xt, wt: 32 x VW transposed elements and weights. Writes each lane's scale, -min and codes. */
static void
search_qkx2 (const float *xt, const float *wt, int nmax, float rmin, float rdelta, int nstep,
             float *scale_out, float *min_out, int32_t *Lt)
{
  enum { N = 32 };
  vi L[N], Laux[N];
  vf x0 = VF_LOAD (xt), w0 = VF_LOAD (wt);
  vf min = x0, max = x0, sum_w = w0, sum_x = VF_MUL (w0, x0);
  const vi lo = VI_SET1 (0), hi = VI_SET1 (nmax);
  const vf vnmax = VF_SET1 ((float) nmax);

  for (int i = 1; i < N; i++)
    {
      vf x = VF_LOAD (xt + i * VW), w = VF_LOAD (wt + i * VW);
      min = VF_BLEND (VM_LT (x, min), min, x);
      max = VF_BLEND (VM_GT (x, max), max, x);
      sum_w = VF_ADD (sum_w, w);
      sum_x = VF_ADD (sum_x, VF_MUL (w, x));
    }
  min = VF_BLEND (VM_GT (min, VF_SET1 (0.f)), min, VF_SET1 (0.f));
  vm deg = VM_EQ (max, min);
  const vf min0 = min;
  vf iscale = VF_DIV (vnmax, VF_SUB (max, min));
  vf scale = VF_DIV (VF_SET1 (1.f), iscale);
  vf best_error = VF_SET1 (0.f);

  for (int i = 0; i < N; i++)
    {
      vf x = VF_LOAD (xt + i * VW), w = VF_LOAD (wt + i * VW);
      L[i] = VI_MAX (lo, VI_MIN (hi, v_nearest_int (VF_MUL (iscale, VF_SUB (x, min)))));
      vf diff = VF_SUB (VF_ADD (VF_MUL (scale, VI_TO_F (L[i])), min), x);
      best_error = VF_ADD (best_error, VF_MUL (w, VF_MUL (diff, diff)));
    }
  for (int is = 0; is <= nstep; ++is)
    {
      iscale = VF_DIV (VF_ADD (VF_SET1 (rmin + rdelta * (float) is), vnmax), VF_SUB (max, min));
      vf sum_l = VF_SET1 (0.f), sum_l2 = sum_l, sum_xl = sum_l;
      for (int i = 0; i < N; i++)
        {
          vf x = VF_LOAD (xt + i * VW), w = VF_LOAD (wt + i * VW);
          vi l = VI_MAX (lo, VI_MIN (hi, v_nearest_int (VF_MUL (iscale, VF_SUB (x, min)))));
          Laux[i] = l;
          vf wl = VF_MUL (w, VI_TO_F (l));
          sum_l = VF_ADD (sum_l, wl);
          sum_l2 = VF_ADD (sum_l2, VF_MUL (wl, VI_TO_F (l)));
          sum_xl = VF_ADD (sum_xl, VF_MUL (wl, x));
        }
      vf D = VF_SUB (VF_MUL (sum_w, sum_l2), VF_MUL (sum_l, sum_l));
      vm ok = VM_GT (D, VF_SET1 (0.f));
      if (!VM_ANY (ok))
        continue;
      vf this_scale = VF_DIV (VF_SUB (VF_MUL (sum_w, sum_xl), VF_MUL (sum_x, sum_l)), D);
      vf this_min = VF_DIV (VF_SUB (VF_MUL (sum_l2, sum_x), VF_MUL (sum_l, sum_xl)), D);
      vm pos = VM_GT (this_min, VF_SET1 (0.f));
      this_min = VF_BLEND (pos, this_min, VF_SET1 (0.f));
      this_scale = VF_BLEND (pos, this_scale, VF_DIV (sum_xl, sum_l2));
      vf cur_error = VF_SET1 (0.f);
      for (int i = 0; i < N; i++)
        {
          vf x = VF_LOAD (xt + i * VW), w = VF_LOAD (wt + i * VW);
          vf diff = VF_SUB (VF_ADD (VF_MUL (this_scale, VI_TO_F (Laux[i])), this_min), x);
          cur_error = VF_ADD (cur_error, VF_MUL (w, VF_MUL (diff, diff)));
        }
      vm better = VM_AND (ok, VM_LT (cur_error, best_error));
      if (!VM_ANY (better))
        continue;
      for (int i = 0; i < N; i++)
        L[i] = VI_BLEND (better, L[i], Laux[i]);
      best_error = VF_BLEND (better, best_error, cur_error);
      scale = VF_BLEND (better, scale, this_scale);
      min = VF_BLEND (better, min, this_min);
    }
  scale = VF_BLEND (deg, scale, VF_SET1 (0.f));
  min = VF_BLEND (deg, min, min0);
  VF_STORE (scale_out, scale);
  VF_STORE (min_out, v_neg (min));
  for (int i = 0; i < N; i++)
    VI_STORE (Lt + i * VW, VI_BLEND (deg, L[i], VI_SET1 (0)));
}

/* ---- The IQ4 scale search (ntry 7) for IQ4_NL and IQ4_XS: one block of 32 per lane ---- */

/* xt, wt: 32 x VW transposed elements and weights. Writes each lane's scale (0 for a block
 * below GROUP_MAX_EPS). */
static void
search_iq4 (const float *xt, const float *wt, vlut tab, float *scale_out)
{
  enum { N = 32, NTRY = 7 };
  vf amax = VF_SET1 (0.f), max = VF_SET1 (0.f);

  for (int i = 0; i < N; i++)
    {
      vf x = VF_LOAD (xt + i * VW);
      vf ax = v_abs (x);
      vm gt = VM_GT (ax, amax);
      amax = VF_BLEND (gt, amax, ax);
      max = VF_BLEND (gt, max, x);
    }
  vm dead = VM_LT (amax, VF_SET1 (SMQ_EPS));
  vf d = VF_DIV (v_neg (max), VF_SET1 (-127.f));
  vf id = VF_DIV (VF_SET1 (1.f), d);
  vf sumqx = VF_SET1 (0.f), sumq2 = sumqx;

  for (int i = 0; i < N; i++)
    {
      vf x = VF_LOAD (xt + i * VW), w = VF_LOAD (wt + i * VW);
      vf q = VF_LUT (tab, v_best_index_iq4 (VF_MUL (id, x), tab));
      vf wq = VF_MUL (w, q);
      sumqx = VF_ADD (sumqx, VF_MUL (wq, x));
      sumq2 = VF_ADD (sumq2, VF_MUL (wq, q));
    }
  d = VF_BLEND (VM_GT (sumq2, VF_SET1 (0.f)), VF_SET1 (0.f), VF_DIV (sumqx, sumq2));
  vf best = VF_MUL (d, sumqx);
  for (int itry = -NTRY; itry <= NTRY; ++itry)
    {
      id = VF_DIV (VF_SET1 ((float) (itry - 127)), max);
      sumqx = sumq2 = VF_SET1 (0.f);
      for (int i = 0; i < N; i++)
        {
          vf x = VF_LOAD (xt + i * VW), w = VF_LOAD (wt + i * VW);
          vf q = VF_LUT (tab, v_best_index_iq4 (VF_MUL (id, x), tab));
          vf wq = VF_MUL (w, q);
          sumqx = VF_ADD (sumqx, VF_MUL (wq, x));
          sumq2 = VF_ADD (sumq2, VF_MUL (wq, q));
        }
      vm better = VM_AND (VM_GT (sumq2, VF_SET1 (0.f)),
                          VM_GT (VF_MUL (sumqx, sumqx), VF_MUL (best, sumq2)));
      vf nd = VF_DIV (sumqx, sumq2);
      d = VF_BLEND (better, d, nd);
      best = VF_BLEND (better, best, VF_MUL (nd, sumqx));
    }
  VF_STORE (scale_out, VF_BLEND (dead, d, VF_SET1 (0.f)));
}

/* Codes of n (a multiple of VW) elements: best_index_int8 (id * x). */
static inline void
iq4_levels (const float *x, float id, vlut tab, uint8_t *L, int n)
{
  int32_t tmp[VW];

  for (int j = 0; j < n; j += VW)
    {
      VI_STORE (tmp, v_best_index_iq4 (VF_MUL (VF_SET1 (id), VF_LOAD (x + j)), tab));
      for (int k = 0; k < VW; k++)
        L[j + k] = (uint8_t) tmp[k];
    }
}

/* ======================================================================================== */
/* Rows                                                                                     */
/* ======================================================================================== */

/* Q6_K (sm_quantize_row_q6_K_ref): the 16 make_qx_quants of a super-block VW at a time. */
static void
SMQ_NAME (quantize_row_q6_K) (const float *x, void *dst, int64_t n, const float *qw)
{
  sm_block_q6_K *y = dst;
  float xt[16 * VW], wt[16 * VW];
  int32_t Lt[16 * 16]; /* pass p, element ii, lane k at Lt[p * 16 * VW + ii * VW + k] */
  int8_t L[SMQ_QK_K];
  float scales[SMQ_QK_K / 16];

  if (!SMQ_NAME (all_finite) (x, n) || (qw && !SMQ_NAME (all_finite) (qw, n)))
    {
      sm_quantize_row_q6_K_ref (x, dst, n, qw);
      return;
    }
  for (int64_t i = 0; i < n / SMQ_QK_K; i++, x += SMQ_QK_K)
    {
      float max_scale = 0;
      float max_abs_scale = 0;

      for (int ib0 = 0; ib0 < SMQ_QK_K / 16; ib0 += VW)
        {
          const int nsub = SMQ_QK_K / 16 - ib0 < VW ? SMQ_QK_K / 16 - ib0 : VW;
          transpose_in (x + 16 * ib0, nsub, 16, xt);
          if (qw)
            transpose_in (qw + SMQ_QK_K * i + 16 * ib0, nsub, 16, wt);
          search_qx16 (xt, qw ? wt : NULL, scales + ib0, Lt + 16 * ib0);
        }
      for (int ib = 0; ib < SMQ_QK_K / 16; ++ib)
        if (fabsf (scales[ib]) > max_abs_scale)
          {
            max_abs_scale = fabsf (scales[ib]);
            max_scale = scales[ib];
          }
      if (max_abs_scale < SMQ_EPS)
        {
          memset (&y[i], 0, sizeof (sm_block_q6_K));
          continue;
        }

      float iscale = -128.f / max_scale;
      y[i].d = sm_float_to_half (1 / iscale);
      for (int ib = 0; ib < SMQ_QK_K / 16; ++ib)
        {
          float t = iscale * scales[ib] + 12582912.f;
          int32_t b;
          memcpy (&b, &t, sizeof b);
          int l = (b & 0x007fffff) - 0x00400000;
          y[i].scales[ib] = (int8_t) (l < 127 ? l : 127);
        }
      const float dh = sm_half_to_float (y[i].d);
      for (int j = 0; j < SMQ_QK_K / 16; ++j)
        {
          float d = dh * y[i].scales[j];
          if (!d)
            {
              /* The search's own codes stay (as in the reference). */
              const int32_t *lt = Lt + 16 * (j - j % VW) + j % VW;
              for (int ii = 0; ii < 16; ii++)
                L[16 * j + ii] = (int8_t) lt[ii * VW];
              continue;
            }
          for (int ii = 0; ii < 16; ii += VW)
            {
              vi l = v_nearest_int (VF_DIV (VF_LOAD (x + 16 * j + ii), VF_SET1 (d)));
              l = VI_MAX (VI_SET1 (-32), VI_MIN (VI_SET1 (31), l));
              VI_STORE_LOW8 (L + 16 * j + ii, VI_ADD (l, VI_SET1 (32)));
            }
        }

      uint8_t *ql = y[i].ql;
      uint8_t *qh = y[i].qh;
      for (int j = 0; j < SMQ_QK_K; j += 128, ql += 64, qh += 32)
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

/* The 6-bit scale/min packing of Q4_K and Q5_K (as put_scale_min_k4 / get_scale_min_k4). */
static inline void
smq_put_scale_min_k4 (uint8_t *q, const uint8_t *ls, const uint8_t *lm)
{
  for (int j = 0; j < SMQ_QK_K / 32; ++j)
    if (j < 4)
      {
        q[j] = ls[j];
        q[j + 4] = lm[j];
      }
    else
      {
        q[j + 4] = (uint8_t) ((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
        q[j - 4] |= (uint8_t) ((ls[j] >> 4) << 6);
        q[j] |= (uint8_t) ((lm[j] >> 4) << 6);
      }
}

static inline void
smq_get_scale_min_k4 (int j, const uint8_t *q, uint8_t *d, uint8_t *m)
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

static inline int
smq_nearest_int (float v)
{
  float t = v + 12582912.f;
  int32_t i;

  memcpy (&i, &t, sizeof i);
  return (i & 0x007fffff) - 0x00400000;
}

/* The rest of quantize_qkx_super without importance, for one super-block whose 8 sub-block
 * searches are done (scales, mins = -min; the codes of sub-block j at Lt[i * VW + j]): the 6-bit
 * scales and mins, then the codes again from the stored scales. */
static void
qkx_assemble (const float *x, const float *scales, const float *mins, const int32_t *Lt,
              int nmax, sm_half *yd, sm_half *ydmin, uint8_t *yscales, uint8_t *L)
{
  uint8_t ls[SMQ_QK_K / 32], lm[SMQ_QK_K / 32];
  float max_scale = 0;
  float max_min = 0;

  memset (yscales, 0, SM_K_SCALE_SIZE);
  for (int j = 0; j < SMQ_QK_K / 32; ++j)
    {
      if (scales[j] > max_scale)
        max_scale = scales[j];
      if (mins[j] > max_min)
        max_min = mins[j];
    }
  float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (int j = 0; j < SMQ_QK_K / 32; ++j)
    {
      uint8_t a = (uint8_t) smq_nearest_int (inv_scale * scales[j]);
      uint8_t b = (uint8_t) smq_nearest_int (inv_min * mins[j]);
      ls[j] = a < 63 ? a : 63;
      lm[j] = b < 63 ? b : 63;
    }
  smq_put_scale_min_k4 (yscales, ls, lm);
  *yd = sm_float_to_half (max_scale / 63.f);
  *ydmin = sm_float_to_half (max_min / 63.f);

  const float dh = sm_half_to_float (*yd), mh = sm_half_to_float (*ydmin);
  for (int j = 0; j < SMQ_QK_K / 32; ++j)
    {
      uint8_t sc, m;
      smq_get_scale_min_k4 (j, yscales, &sc, &m);
      const float d = dh * sc;
      if (!d)
        {
          /* The search's own codes stay (as in the reference). */
          for (int ii = 0; ii < 32; ii++)
            L[32 * j + ii] = (uint8_t) Lt[ii * VW + j];
          continue;
        }
      const float dm = mh * m;
      for (int ii = 0; ii < 32; ii += VW)
        {
          vf v = VF_DIV (VF_ADD (VF_LOAD (x + 32 * j + ii), VF_SET1 (dm)), VF_SET1 (d));
          VI_STORE_LOW8 (L + 32 * j + ii,
                         VI_MAX (VI_SET1 (0), VI_MIN (VI_SET1 (nmax), v_nearest_int (v))));
        }
    }
}

/* Searches the super-blocks [i0, i0 + VW / 8) of a Q4_K/Q5_K row (fewer at the end of the row)
 * and assembles each: emit is called with the super-block index and its 256 codes. */
#define QKX_GROUP(x, n, i0, nmax, rmin, rdelta, nstep, EMIT)                                    \
  do                                                                                             \
    {                                                                                            \
      const int64_t nsb_ = (n) / SMQ_QK_K - (i0) < VW / 8 ? (n) / SMQ_QK_K - (i0) : VW / 8;     \
      const int nsub_ = (int) nsb_ * 8;                                                          \
      float xt_[32 * VW], wt_[32 * VW], sc_[VW], mn_[VW];                                        \
      int32_t Lt_[32 * VW];                                                                      \
      uint8_t L_[SMQ_QK_K];                                                                      \
      const float *xs_ = (x) + SMQ_QK_K * (i0);                                                  \
      transpose_in (xs_, nsub_, 32, xt_);                                                        \
      qkx_weights (xt_, wt_);                                                                    \
      search_qkx2 (xt_, wt_, (nmax), (rmin), (rdelta), (nstep), sc_, mn_, Lt_);                  \
      for (int g_ = 0; g_ < (int) nsb_; g_++)                                                    \
        {                                                                                        \
          const int64_t i_ = (i0) + g_;                                                          \
          qkx_assemble (xs_ + SMQ_QK_K * g_, sc_ + 8 * g_, mn_ + 8 * g_, Lt_ + 8 * g_, (nmax),   \
                        &y[i_].d, &y[i_].dmin, y[i_].scales, L_);                                \
          EMIT (i_, L_);                                                                         \
        }                                                                                        \
    }                                                                                            \
  while (0)

/* The unweighted Q4_K/Q5_K weights: av_x + |x|, av_x = sqrt (sum x^2 / 32) summed in order. */
static inline void
qkx_weights (const float *xt, float *wt)
{
  vf sum_x2 = VF_SET1 (0.f);

  for (int i = 0; i < 32; i++)
    {
      vf v = VF_LOAD (xt + i * VW);
      sum_x2 = VF_ADD (sum_x2, VF_MUL (v, v));
    }
  vf av_x = VF_SQRT (VF_DIV (sum_x2, VF_SET1 (32.f)));
  for (int i = 0; i < 32; i++)
    VF_STORE (wt + i * VW, VF_ADD (av_x, v_abs (VF_LOAD (xt + i * VW))));
}

static void
SMQ_NAME (quantize_row_q4_K) (const float *x, void *dst, int64_t n, const float *qw)
{
  sm_block_q4_K *y = dst;

  if (qw || !SMQ_NAME (all_finite) (x, n))
    {
      sm_quantize_row_q4_K_ref (x, dst, n, qw);
      return;
    }
#define EMIT_Q4_K(i, L)                                                                          \
  do                                                                                             \
    {                                                                                            \
      uint8_t *q = y[i].qs;                                                                      \
      for (int j = 0; j < SMQ_QK_K; j += 64, q += 32)                                            \
        for (int l = 0; l < 32; ++l)                                                             \
          q[l] = (uint8_t) (L[j + l] | (L[j + l + 32] << 4));                                    \
    }                                                                                            \
  while (0)
  for (int64_t i0 = 0; i0 < n / SMQ_QK_K; i0 += VW / 8)
    QKX_GROUP (x, n, i0, 15, -1.f, 0.1f, 20, EMIT_Q4_K);
#undef EMIT_Q4_K
}

static void
SMQ_NAME (quantize_row_q5_K) (const float *x, void *dst, int64_t n, const float *qw)
{
  sm_block_q5_K *y = dst;

  if (qw || !SMQ_NAME (all_finite) (x, n))
    {
      sm_quantize_row_q5_K_ref (x, dst, n, qw);
      return;
    }
#define EMIT_Q5_K(i, L)                                                                          \
  do                                                                                             \
    {                                                                                            \
      uint8_t *qh = y[i].qh;                                                                     \
      uint8_t *ql = y[i].qs;                                                                     \
      memset (qh, 0, SMQ_QK_K / 8);                                                              \
      uint8_t m1 = 1, m2 = 2;                                                                    \
      for (int k = 0; k < SMQ_QK_K; k += 64, ql += 32)                                           \
        {                                                                                        \
          for (int j = 0; j < 32; ++j)                                                           \
            {                                                                                    \
              int l1 = L[k + j];                                                                 \
              if (l1 > 15)                                                                       \
                {                                                                                \
                  l1 -= 16;                                                                      \
                  qh[j] |= m1;                                                                   \
                }                                                                                \
              int l2 = L[k + j + 32];                                                            \
              if (l2 > 15)                                                                       \
                {                                                                                \
                  l2 -= 16;                                                                      \
                  qh[j] |= m2;                                                                   \
                }                                                                                \
              ql[j] = (uint8_t) (l1 | (l2 << 4));                                                \
            }                                                                                    \
          m1 = (uint8_t) (m1 << 2);                                                              \
          m2 = (uint8_t) (m2 << 2);                                                              \
        }                                                                                        \
    }                                                                                            \
  while (0)
  for (int64_t i0 = 0; i0 < n / SMQ_QK_K; i0 += VW / 8)
    QKX_GROUP (x, n, i0, 31, -0.5f, 0.1f, 15, EMIT_Q5_K);
#undef EMIT_Q5_K
}

/* ---- IQ4_XS and IQ4_NL ---- */

static void
SMQ_NAME (quantize_row_iq4_xs) (const float *x, void *dst, int64_t n, const float *qw)
{
  sm_block_iq4_xs *y = dst;
  const vlut tab = VLUT_LOAD_IQ4 ();
  const int64_t nb = n / SMQ_QK_K;

  if (!SMQ_NAME (all_finite) (x, n) || (qw && !SMQ_NAME (all_finite) (qw, n)))
    {
      sm_quantize_row_iq4_xs_ref (x, dst, n, qw);
      return;
    }
  for (int64_t i0 = 0; i0 < nb; i0 += VW / 8)
    {
      const int nsb = nb - i0 < VW / 8 ? (int) (nb - i0) : VW / 8;
      const float *xs = x + SMQ_QK_K * i0;
      float xt[32 * VW], wt[32 * VW], scales[VW];
      float sigma2[VW / 8];

      for (int g = 0; g < nsb; g++)
        {
          float s = 0;
          for (int j = 0; j < SMQ_QK_K; ++j)
            s += xs[SMQ_QK_K * g + j] * xs[SMQ_QK_K * g + j];
          sigma2[g] = s * (2.f / SMQ_QK_K);
        }
      transpose_in (xs, 8 * nsb, 32, xt);
      if (qw)
        {
          float qt[32 * VW];
          transpose_in (qw + SMQ_QK_K * i0, 8 * nsb, 32, qt);
          for (int i = 0; i < 32; i++)
            for (int k = 0; k < VW; k++)
              {
                const float v = xt[i * VW + k];
                const float s2 = k / 8 < nsb ? sigma2[k / 8] : 0.f;
                wt[i * VW + k] = qt[i * VW + k] * sqrtf (s2 + v * v);
              }
        }
      else
        for (int i = 0; i < 32 * VW; i++)
          wt[i] = xt[i] * xt[i];
      search_iq4 (xt, wt, tab, scales);

      for (int g = 0; g < nsb; g++)
        {
          sm_block_iq4_xs *b = &y[i0 + g];
          const float *sx = xs + SMQ_QK_K * g;
          const float *sc = scales + 8 * g;
          uint8_t L[SMQ_QK_K];
          float max_scale = 0, amax_scale = 0;

          for (int ib = 0; ib < 8; ++ib)
            {
              float abs_d = fabsf (sc[ib]);
              if (abs_d > amax_scale)
                {
                  amax_scale = abs_d;
                  max_scale = sc[ib];
                }
            }
          b->scales_h = 0;
          float d = -max_scale / 32;
          b->d = sm_float_to_half (d);
          float id = d ? 1 / d : 0.f;
          for (int ib = 0; ib < 8; ++ib)
            {
              int l = smq_nearest_int (id * sc[ib]);
              l = l < -32 ? -32 : l > 31 ? 31 : l;
              float dl = d * l;
              float idl = dl ? 1 / dl : 0.f;
              iq4_levels (sx + 32 * ib, idl, tab, L + 32 * ib, 32);
              l += 32;
              uint8_t l_l = (uint8_t) (l & 0xf);
              uint8_t l_h = (uint8_t) (l >> 4);
              if (ib % 2 == 0)
                b->scales_l[ib / 2] = l_l;
              else
                b->scales_l[ib / 2] |= (uint8_t) (l_l << 4);
              b->scales_h |= (uint16_t) (l_h << 2 * (ib % 8));
            }
          for (int i = 0; i < SMQ_QK_K / 32; ++i)
            for (int j = 0; j < 16; ++j)
              b->qs[16 * i + j] = (uint8_t) (L[32 * i + j] | (L[32 * i + 16 + j] << 4));
        }
    }
}

static void
SMQ_NAME (quantize_row_iq4_nl) (const float *x, void *dst, int64_t n, const float *qw)
{
  sm_block_iq4_nl *y = dst;
  const vlut tab = VLUT_LOAD_IQ4 ();
  const int64_t nb = n / SM_QK4_NL;

  if (!SMQ_NAME (all_finite) (x, n) || (qw && !SMQ_NAME (all_finite) (qw, n)))
    {
      sm_quantize_row_iq4_nl_ref (x, dst, n, qw);
      return;
    }
  for (int64_t i0 = 0; i0 < nb; i0 += VW)
    {
      const int nbl = nb - i0 < VW ? (int) (nb - i0) : VW;
      const float *xs = x + SM_QK4_NL * i0;
      float xt[32 * VW], wt[32 * VW], scales[VW];

      transpose_in (xs, nbl, 32, xt);
      if (qw)
        {
          float qt[32 * VW], sigma2[VW];
          transpose_in (qw + SM_QK4_NL * i0, nbl, 32, qt);
          for (int k = 0; k < VW; k++)
            {
              float s = 0;
              for (int j = 0; j < 32; ++j)
                s += xt[j * VW + k] * xt[j * VW + k];
              sigma2[k] = s * (2.f / 32);
            }
          for (int i = 0; i < 32; i++)
            for (int k = 0; k < VW; k++)
              {
                const float v = xt[i * VW + k];
                wt[i * VW + k] = qt[i * VW + k] * sqrtf (sigma2[k] + v * v);
              }
        }
      else
        for (int i = 0; i < 32 * VW; i++)
          wt[i] = xt[i] * xt[i];
      search_iq4 (xt, wt, tab, scales);

      for (int k = 0; k < nbl; k++)
        {
          sm_block_iq4_nl *b = &y[i0 + k];
          const float *bx = xs + 32 * k;
          uint8_t L[32];

          b->d = sm_float_to_half (scales[k]);
          iq4_levels (bx, scales[k] ? 1 / scales[k] : 0.f, tab, L, 32);
          for (int j = 0; j < 16; ++j)
            b->qs[j] = (uint8_t) (L[j] | (L[16 + j] << 4));
        }
    }
}

/* ---- Q8_0 and Q4_0 (unweighted): one block of 32 elements, 32 / VW vectors ---- */

/* roundf (half away from zero) of every lane, as an int: t = trunc (v); v - t is exact. */
static inline vi
v_round_away (vf v)
{
  vf t = VF_TRUNC (v);
  vm up = VM_GE (v_abs (VF_SUB (v, t)), VF_SET1 (0.5f));
  vf one = VI_AS_F (VI_OR (VI_AND (VF_AS_I (v), VI_SET1 ((int) 0x80000000u)),
                           VF_AS_I (VF_SET1 (1.f))));
  return VF_CVTT (VF_ADD (t, VF_BLEND (up, VF_SET1 (0.f), one)));
}

static void
SMQ_NAME (quantize_row_q8_0) (const float *x, void *dst, int64_t n, const float *qw)
{
  sm_block_q8_0 *y = dst;

  (void) qw;
  if (!SMQ_NAME (all_finite) (x, n))
    {
      sm_quantize_row_q8_0_ref (x, dst, n, qw);
      return;
    }
  for (int64_t i = 0; i < n / SM_QK8_0; i++)
    {
      const float *xb = x + i * SM_QK8_0;
      vf v[32 / VW];
      vf am = VF_SET1 (0.f);

      for (int k = 0; k < 32 / VW; k++)
        {
          v[k] = VF_LOAD (xb + k * VW);
          am = VF_MAX (am, v_abs (v[k]));
        }
      /* The largest |x| does not depend on the order it is looked for in. */
      const float amax = VF_HMAX (am);
      const float d = amax / ((1 << 7) - 1);
      const float id = d ? 1.0f / d : 0.0f;

      y[i].d = sm_float_to_half (d);
      for (int k = 0; k < 32 / VW; k++)
        VI_STORE_LOW8 (y[i].qs + k * VW, v_round_away (VF_MUL (v[k], VF_SET1 (id))));
    }
}

static void
SMQ_NAME (quantize_row_q4_0) (const float *x, void *dst, int64_t n, const float *qw)
{
  sm_block_q4_0 *y = dst;

  if (qw || !SMQ_NAME (all_finite) (x, n))
    {
      sm_quantize_row_q4_0_ref (x, dst, n, qw);
      return;
    }
  for (int64_t i = 0; i < n / SM_QK4_0; i++)
    {
      const float *xb = x + i * SM_QK4_0;
      vf v[32 / VW];
      vf am = VF_SET1 (0.f);
      float max = 0.0f;

      for (int k = 0; k < 32 / VW; k++)
        {
          v[k] = VF_LOAD (xb + k * VW);
          am = VF_MAX (am, v_abs (v[k]));
        }
      /* The reference keeps the first element of the largest magnitude (strict <), signed. */
      const float amax = VF_HMAX (am);
      if (amax > 0.0f)
        for (int k = 0; k < 32 / VW; k++)
          {
            unsigned bits = VM_BITS (VM_EQ (v_abs (v[k]), VF_SET1 (amax)));
            if (bits != 0)
              {
                max = xb[k * VW + __builtin_ctz (bits)];
                break;
              }
          }

      const float d = max / -8;
      const float id = d ? 1.0f / d : 0.0f;

      y[i].d = sm_float_to_half (d);
      for (int k = 0; k < 16 / VW; k++)
        {
          const vi q0 = VI_MIN (VF_CVTT (VF_ADD (VF_MUL (v[k], VF_SET1 (id)), VF_SET1 (8.5f))),
                                VI_SET1 (15));
          const vi q1 = VI_MIN (VF_CVTT (VF_ADD (VF_MUL (v[k + 16 / VW], VF_SET1 (id)),
                                                 VF_SET1 (8.5f))),
                                VI_SET1 (15));
          VI_STORE_LOW8 (y[i].qs + k * VW, VI_OR (q0, VI_SLLI4 (q1)));
        }
    }
}

/* ---- Input rows to f32, with the finiteness check of the model quantizer ---- */

static inline vm
v_not_finite (vf v)
{
  return VM_NLE (v_abs (v), VF_SET1 (3.40282347e+38f));
}

/* BF16 -> f32 is exact (the 16 bits become the high half); returns whether all are finite. */
static bool
SMQ_NAME (bf16_to_f32) (const void *src, float *dst, int64_t n)
{
  const uint16_t *s = src;
  vm bad = VM_NONE ();
  int64_t i = 0;

  for (; i + VW <= n; i += VW)
    {
      vf v = VI_AS_F (VI_SLLI16 (VI_LOAD_U16 (s + i)));
      bad = VM_OR (bad, v_not_finite (v));
      VF_STORE (dst + i, v);
    }
  for (; i < n; i++)
    dst[i] = sm_bf16_to_float (s[i]);
  return !VM_ANY (bad) && SMQ_NAME (all_finite) (dst + (n - n % VW), n % VW);
}

/* F16 -> f32 with F16C (exact for every finite half; NaN rows are refused anyway). */
static bool
SMQ_NAME (f16_to_f32) (const void *src, float *dst, int64_t n)
{
  const uint16_t *s = src;
  vm bad = VM_NONE ();
  int64_t i = 0;

  for (; i + VW <= n; i += VW)
    {
      vf v = VF_LOAD_F16 (s + i);
      bad = VM_OR (bad, v_not_finite (v));
      VF_STORE (dst + i, v);
    }
  for (; i < n; i++)
    dst[i] = sm_half_to_float (s[i]);
  return !VM_ANY (bad) && SMQ_NAME (all_finite) (dst + (n - n % VW), n % VW);
}

static bool
SMQ_NAME (f32_to_f32) (const void *src, float *dst, int64_t n)
{
  memcpy (dst, src, (size_t) n * sizeof (float));
  return SMQ_NAME (all_finite) (dst, n);
}

/* The kernels this variant has, into q (indexed by type). */
static void
SMQ_NAME (fill) (sm_quantize_fn q[SM_TYPE_COUNT], sm_row_to_f32_fn c[SM_TYPE_COUNT])
{
  c[SM_TYPE_BF16] = SMQ_NAME (bf16_to_f32);
  c[SM_TYPE_F16] = SMQ_NAME (f16_to_f32);
  c[SM_TYPE_F32] = SMQ_NAME (f32_to_f32);
  q[SM_TYPE_Q8_0] = SMQ_NAME (quantize_row_q8_0);
  q[SM_TYPE_Q4_0] = SMQ_NAME (quantize_row_q4_0);
  q[SM_TYPE_Q4_K] = SMQ_NAME (quantize_row_q4_K);
  q[SM_TYPE_Q5_K] = SMQ_NAME (quantize_row_q5_K);
  q[SM_TYPE_Q6_K] = SMQ_NAME (quantize_row_q6_K);
  q[SM_TYPE_IQ4_NL] = SMQ_NAME (quantize_row_iq4_nl);
  q[SM_TYPE_IQ4_XS] = SMQ_NAME (quantize_row_iq4_xs);
}
