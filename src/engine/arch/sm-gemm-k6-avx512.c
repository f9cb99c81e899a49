/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-gemm-k6-avx512.c: AVX-512 VNNI tile kernels (sm_gemm_tile_fn) for prompt batches of the
 * formats whose blocks carry one scale per sub-block: Q6_K and IQ4_XS (256-element super-blocks
 * against Q8_K activations) and IQ4_NL (32-element blocks against Q8_0). Registered in
 * sm-dispatch.c for the avx512 variant only; compiled with its own -mavx512* flags and only
 * called after sm-dispatch.c has checked the CPU. The Q8_0/Q4_0 panels are in
 * sm-quant-avx512.c; this file follows their layout (see benchmarks/NOTES.md, "Q6_K/IQ4_XS
 * prompt tiles, stop 10").
 *
 * A panel of 16 weight rows is repacked, a few blocks at a time, into a stack buffer where lane
 * r of zmm k holds elements 4k..4k+3 of row r as unsigned bytes: Q6_K its 6-bit codes (value +
 * 32), IQ4_XS and IQ4_NL their table levels + 128 (vpshufb through the 16-entry table). The
 * same pass turns the row scales into one float vector per sub-block (super-scale times
 * sub-block scale, 16 rows). The activations are the signed operand of vpdpbusd, broadcast four
 * bytes at a time from memory. Per (16 rows, token, sub-block): the integer sum starts at the
 * unsigned bias (-32 or -128 times the sub-block's activation sum, from the Q8_K bsums or a
 * psadbw of a Q8_0 block), runs 4 (Q6_K) or 8 vpdpbusd, and is converted and multiplied by the
 * sub-block's scale vector into a per-block float sum; the activation scale joins once per
 * block. A token's 16 results are one (masked) store, so row tails need no second kernel.
 *
 * Threading: reentrant; everything lives on the caller's stack.
 */
#include <immintrin.h>
#include <string.h>

#include "sm-quant-private.h"

enum
{
  GK_ROWS = 16,   /* rows per panel: one int32 lane each */
  GK_COLS = 8,    /* tokens per register pass */
  GK_BUF = 320,   /* zmm in the panel buffer (20 KiB: 4 Q6_K super-blocks, 32 IQ4_NL blocks) */
  GK_SUBS = 64,   /* sub-blocks per chunk at most: 4 x 16, 4 x 8, 32 x 1 */
  GK_BLOCKS = 32, /* blocks per chunk at most */
};

typedef enum
{
  GK_Q6_K,
  GK_IQ4_XS,
  GK_IQ4_NL,
} gk_kind;

/* Per kind: elements per block, sub-blocks per block, weight and activation block sizes. */
static inline __attribute__ ((always_inline)) int
gk_qk (gk_kind kind)
{
  return kind == GK_IQ4_NL ? SM_QK4_NL : SM_QK_K;
}

static inline __attribute__ ((always_inline)) int
gk_nsub (gk_kind kind)
{
  return kind == GK_Q6_K ? 16 : kind == GK_IQ4_XS ? 8 : 1;
}

static inline __attribute__ ((always_inline)) size_t
gk_wbytes (gk_kind kind)
{
  return kind == GK_Q6_K ? sizeof (sm_block_q6_K)
         : kind == GK_IQ4_XS ? sizeof (sm_block_iq4_xs) : sizeof (sm_block_iq4_nl);
}

static inline __attribute__ ((always_inline)) size_t
gk_abytes (gk_kind kind)
{
  return kind == GK_IQ4_NL ? sizeof (sm_block_q8_0) : sizeof (sm_block_q8_K);
}

/* Zmm per block in the buffer: the codes (one per 4 elements), then the sub-block scales. */
static inline __attribute__ ((always_inline)) int
gk_stride (gk_kind kind)
{
  return gk_qk (kind) / 4 + gk_nsub (kind);
}

/* Blocks per chunk: 4 Q6_K (80 zmm each) or IQ4_XS (72) super-blocks, 32 IQ4_NL blocks (9). */
static inline __attribute__ ((always_inline)) int
gk_chunk (gk_kind kind)
{
  return kind == GK_IQ4_NL ? 32 : 4;
}

/* Offset of the activation codes in an activation block (Q8_K: after the float d). */
static inline __attribute__ ((always_inline)) size_t
gk_aqs (gk_kind kind)
{
  return kind == GK_IQ4_NL ? offsetof (sm_block_q8_0, qs) : offsetof (sm_block_q8_K, qs);
}

/* The f16 in bits 16..31 (hi) or 0..15 of each lane, as floats. */
static inline __m512
gk_half (__m512i v, bool hi)
{
  if (hi)
    v = _mm512_srli_epi32 (v, 16);
  return _mm512_cvtph_ps (_mm512_cvtepi32_epi16 (v));
}

/* The 16-entry IQ4 table + 128 (all levels become unsigned: 1..241) in every 128-bit lane. */
static inline __m512i
gk_iq4_lut (void)
{
  int8_t u[16];

  for (int k = 0; k < 16; k++)
    u[k] = (int8_t) (sm_kvalues_iq4nl[k] + 128);
  return _mm512_broadcast_i32x4 (_mm_loadu_si128 ((const __m128i *) u));
}

/* Repacks blocks b0 .. b0 + nb - 1 of the rows under `mask` (row r at w + r * ws) into buf. */
static inline __attribute__ ((always_inline)) void
gk_pack (gk_kind        kind,
         __m512i       *buf,
         const uint8_t *w,
         size_t         ws,
         __mmask16      mask,
         int64_t        b0,
         int            nb)
{
  const __m512i idx = _mm512_mullo_epi32 (_mm512_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                                             11, 12, 13, 14, 15),
                                          _mm512_set1_epi32 ((int) ws));
  const __m512i z = _mm512_setzero_si512 ();
  const __m512i m4 = _mm512_set1_epi8 (0x0F), m30 = _mm512_set1_epi8 (0x30);
  const int st = gk_stride (kind), nq = gk_qk (kind) / 4;

#define GK_GATHER(p) _mm512_mask_i32gather_epi32 (z, mask, idx, (p), 1)

  for (int b = 0; b < nb; b++)
    {
      const uint8_t *base = w + (size_t) (b0 + b) * gk_wbytes (kind);
      __m512i *q = buf + (size_t) b * st;
      __m512 *sc = (__m512 *) (q + nq);

      if (kind == GK_Q6_K)
        {
          /* Element 128h + 32j + l (j = 0..3, l = 0..31): low 4 bits in ql[64h + l] (j = 0, 1:
           * low nibble of ql[64h + 32j + l]; j = 2, 3: high nibble of ql[64h + 32(j-2) + l]),
           * high 2 bits at bit 2j of qh[32h + l]. Sub-block = element / 16. */
          const uint8_t *ql = base + offsetof (sm_block_q6_K, ql);
          const uint8_t *qh = base + offsetof (sm_block_q6_K, qh);
          for (int h = 0; h < 2; h++)
#pragma GCC unroll 8
            for (int l4 = 0; l4 < 8; l4++)
              {
                const __m512i a = GK_GATHER (ql + 64 * h + 4 * l4);
                const __m512i c = GK_GATHER (ql + 64 * h + 32 + 4 * l4);
                const __m512i hb = GK_GATHER (qh + 32 * h + 4 * l4);
                __m512i *o = q + 32 * h + l4;
                /* ternarylogic 0xF8: A | (B & C) */
                o[0] = _mm512_ternarylogic_epi32 (_mm512_and_si512 (a, m4),
                                                  _mm512_slli_epi32 (hb, 4), m30, 0xF8);
                o[8] = _mm512_ternarylogic_epi32 (_mm512_and_si512 (c, m4),
                                                  _mm512_slli_epi32 (hb, 2), m30, 0xF8);
                o[16] = _mm512_ternarylogic_epi32 (_mm512_and_si512 (_mm512_srli_epi32 (a, 4), m4),
                                                   hb, m30, 0xF8);
                o[24] = _mm512_ternarylogic_epi32 (_mm512_and_si512 (_mm512_srli_epi32 (c, 4), m4),
                                                   _mm512_srli_epi32 (hb, 2), m30, 0xF8);
              }
          /* The 16 int8 scales (4 dwords), and d: the f16 at byte 208, read as the high half of
           * the dword at 206 so the gather stays inside the block. */
          const __m512 d = gk_half (GK_GATHER (base + offsetof (sm_block_q6_K, d) - 2), true);
#pragma GCC unroll 4
          for (int g = 0; g < 4; g++)
            {
              const __m512i s4 = GK_GATHER (base + offsetof (sm_block_q6_K, scales) + 4 * g);
              sc[4 * g + 0] = _mm512_mul_ps (d, _mm512_cvtepi32_ps (
                                                    _mm512_srai_epi32 (_mm512_slli_epi32 (s4, 24), 24)));
              sc[4 * g + 1] = _mm512_mul_ps (d, _mm512_cvtepi32_ps (
                                                    _mm512_srai_epi32 (_mm512_slli_epi32 (s4, 16), 24)));
              sc[4 * g + 2] = _mm512_mul_ps (d, _mm512_cvtepi32_ps (
                                                    _mm512_srai_epi32 (_mm512_slli_epi32 (s4, 8), 24)));
              sc[4 * g + 3] = _mm512_mul_ps (d, _mm512_cvtepi32_ps (_mm512_srai_epi32 (s4, 24)));
            }
        }
      else
        {
          const __m512i lut = gk_iq4_lut ();
          const int nsub = gk_nsub (kind);
          const uint8_t *qs = base + (kind == GK_IQ4_XS ? offsetof (sm_block_iq4_xs, qs)
                                                        : offsetof (sm_block_iq4_nl, qs));
          /* Sub-block s: element j (j < 16) is the low nibble of byte 16s + j, element 16 + j
           * its high nibble. */
          for (int s = 0; s < nsub; s++)
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++)
              {
                const __m512i v = GK_GATHER (qs + 16 * s + 4 * k);
                q[8 * s + k] = _mm512_shuffle_epi8 (lut, _mm512_and_si512 (v, m4));
                q[8 * s + 4 + k]
                    = _mm512_shuffle_epi8 (lut, _mm512_and_si512 (_mm512_srli_epi32 (v, 4), m4));
              }
          /* The dword at the block start: d, then (IQ4_XS) scales_h. */
          const __m512i h0 = GK_GATHER (base);
          const __m512 d = gk_half (h0, false);
          if (kind == GK_IQ4_NL)
            sc[0] = d;
          else
            {
              /* Scale of sub-block s: low nibble s of scales_l, bits 2s..2s+1 of scales_h, -32. */
              const __m512i sl = GK_GATHER (base + offsetof (sm_block_iq4_xs, scales_l));
              const __m512i sh = _mm512_srli_epi32 (h0, 16);
              const __m512i k15 = _mm512_set1_epi32 (15), k3 = _mm512_set1_epi32 (3);
#pragma GCC unroll 8
              for (int s = 0; s < 8; s++)
                {
                  const __m512i ls = _mm512_or_si512 (
                      _mm512_and_si512 (_mm512_srli_epi32 (sl, 4 * s), k15),
                      _mm512_slli_epi32 (_mm512_and_si512 (_mm512_srli_epi32 (sh, 2 * s), k3), 4));
                  sc[s] = _mm512_mul_ps (
                      d, _mm512_cvtepi32_ps (_mm512_sub_epi32 (ls, _mm512_set1_epi32 (32))));
                }
            }
        }
    }
#undef GK_GATHER
}

/* nc (<= GK_COLS) tokens against the packed blocks: out[c * os + r] (+)= the rows under mask.
 * bias[c][b * nsub + s] is the unsigned bias of token c, block b, sub-block s; da[c][b] its
 * activation scale. */
static inline __attribute__ ((always_inline)) void
gk_cols (gk_kind        kind,
         int            nc,
         const __m512i *buf,
         int            nb,
         const uint8_t *a,
         size_t         as,
         int64_t        b0,
         const int32_t *bias,
         size_t         bias_stride,
         const float   *da,
         size_t         da_stride,
         float         *out,
         size_t         os,
         __mmask16      mask,
         bool           first)
{
  const int st = gk_stride (kind), nq = gk_qk (kind) / 4, nsub = gk_nsub (kind);
  const int dw = nq / nsub;   /* dwords per sub-block: 4 (Q6_K) or 8 */
  __m512 acc[GK_COLS];

#pragma GCC unroll 8
  for (int c = 0; c < nc; c++)
    acc[c] = first ? _mm512_setzero_ps () : _mm512_maskz_loadu_ps (mask, out + (size_t) c * os);
  for (int b = 0; b < nb; b++)
    {
      const __m512i *q = buf + (size_t) b * st;
      const __m512 *sc = (const __m512 *) (q + nq);
      const uint8_t *y0 = a + (size_t) (b0 + b) * gk_abytes (kind) + gk_aqs (kind);
      __m512 t[GK_COLS];

#pragma GCC unroll 8
      for (int c = 0; c < nc; c++)
        t[c] = _mm512_setzero_ps ();
      for (int s = 0; s < nsub; s++)
        {
          __m512i qv[8];
#pragma GCC unroll 8
          for (int k = 0; k < dw; k++)
            qv[k] = _mm512_load_si512 (q + s * dw + k);
          const __m512 scv = sc[s];
#pragma GCC unroll 8
          for (int c = 0; c < nc; c++)
            {
              const uint8_t *y = y0 + (size_t) c * as + 4 * (size_t) (s * dw);
              __m512i si = _mm512_set1_epi32 (bias[c * bias_stride + (size_t) (b * nsub + s)]);
#pragma GCC unroll 8
              for (int k = 0; k < dw; k++)
                {
                  int32_t v;
                  memcpy (&v, y + 4 * k, sizeof v);
                  si = _mm512_dpbusd_epi32 (si, qv[k], _mm512_set1_epi32 (v));
                }
              t[c] = _mm512_fmadd_ps (_mm512_cvtepi32_ps (si), scv, t[c]);
            }
        }
#pragma GCC unroll 8
      for (int c = 0; c < nc; c++)
        acc[c] = _mm512_fmadd_ps (t[c], _mm512_set1_ps (da[c * da_stride + (size_t) b]), acc[c]);
    }
#pragma GCC unroll 8
  for (int c = 0; c < nc; c++)
    _mm512_mask_storeu_ps (out + (size_t) c * os, mask, acc[c]);
}

/* The per-pair dot for strides too large for 32-bit gather offsets. */
static void
gk_pairs (sm_type     t,
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
  sm_vec_dot_fn f = sm_dispatch_vec_dot_variant (t, SM_CPU_VARIANT_AVX512);
  const uint8_t *wp = w, *ap = a;

  for (int c = 0; c < nc; c++)
    for (int r = 0; r < nr; r++)
      out[(size_t) c * os + r] = f (n, wp + (size_t) r * ws, ap + (size_t) c * as);
}

static inline __attribute__ ((always_inline)) void
gk_gemm (gk_kind     kind,
         sm_type     type,
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
  const int64_t nb = n / gk_qk (kind);
  const int chunk = gk_chunk (kind), nsub = gk_nsub (kind);
  _Alignas (64) __m512i buf[GK_BUF];
  int32_t bias[GK_COLS][GK_SUBS];
  float da[GK_COLS][GK_BLOCKS];

  if (ws > (size_t) INT32_MAX / GK_ROWS)
    {
      gk_pairs (type, n, w, ws, nr, a, as, nc, out, os);
      return;
    }
  for (int r = 0; r < nr; r += GK_ROWS)
    {
      const int rows = nr - r < GK_ROWS ? nr - r : GK_ROWS;
      const __mmask16 mask = (__mmask16) ((1u << rows) - 1u);
      const int cb = chunk;

      for (int64_t b0 = 0; b0 < nb; b0 += cb)
        {
          const int nbc = (int) (nb - b0 < cb ? nb - b0 : cb);
          gk_pack (kind, buf, wp + (size_t) r * ws, ws, mask, b0, nbc);
          for (int c0 = 0; c0 < nc; c0 += GK_COLS)
            {
              const int ncc = nc - c0 < GK_COLS ? nc - c0 : GK_COLS;
              const uint8_t *ac = ap + (size_t) c0 * as;
              float *oc = out + (size_t) c0 * os + r;

              /* The unsigned bias and the scale of each (token, block): Q6_K codes are value
               * + 32, IQ4 levels value + 128; bias = -offset * (sum of the sub-block's
               * activations). */
              for (int c = 0; c < ncc; c++)
                for (int b = 0; b < nbc; b++)
                  {
                    const uint8_t *yb = ac + (size_t) c * as + (size_t) (b0 + b) * gk_abytes (kind);
                    int32_t *bo = bias[c] + b * nsub;
                    if (kind == GK_IQ4_NL)
                      {
                        const sm_block_q8_0 *y = (const sm_block_q8_0 *) yb;
                        /* sum(a) = sum(a + 128) - 32 * 128, by psadbw against zero. */
                        const __m256i s = _mm256_sad_epu8 (
                            _mm256_xor_si256 (_mm256_loadu_si256 ((const __m256i *) y->qs),
                                              _mm256_set1_epi8 ((char) 0x80)),
                            _mm256_setzero_si256 ());
                        const __m128i s2 = _mm_add_epi64 (_mm256_castsi256_si128 (s),
                                                          _mm256_extracti128_si256 (s, 1));
                        const int32_t sum = (int32_t) (_mm_cvtsi128_si64 (s2)
                                                       + _mm_extract_epi64 (s2, 1))
                                            - 32 * 128;
                        bo[0] = -128 * sum;
                        da[c][b] = _cvtsh_ss (y->d);
                      }
                    else
                      {
                        const sm_block_q8_K *y = (const sm_block_q8_K *) yb;
                        const __m256i bs = _mm256_loadu_si256 ((const __m256i *) y->bsums);
                        if (kind == GK_Q6_K)
                          _mm512_storeu_si512 (bo, _mm512_sub_epi32 (
                                                       _mm512_setzero_si512 (),
                                                       _mm512_slli_epi32 (
                                                           _mm512_cvtepi16_epi32 (bs), 5)));
                        else
                          _mm256_storeu_si256 (
                              (__m256i *) bo,
                              _mm256_sub_epi32 (_mm256_setzero_si256 (),
                                                _mm256_slli_epi32 (
                                                    _mm256_madd_epi16 (bs, _mm256_set1_epi16 (1)),
                                                    7)));
                        da[c][b] = y->d;
                      }
                  }
              const bool first = b0 == 0;
              int c = 0;
              if (ncc == GK_COLS)
                gk_cols (kind, GK_COLS, buf, nbc, ac, as, b0, bias[0], GK_SUBS, da[0], GK_BLOCKS,
                         oc, os, mask, first);
              else
                {
                  if (ncc - c >= 4)
                    {
                      gk_cols (kind, 4, buf, nbc, ac, as, b0, bias[0], GK_SUBS, da[0], GK_BLOCKS,
                               oc, os, mask, first);
                      c += 4;
                    }
                  if (ncc - c >= 2)
                    {
                      gk_cols (kind, 2, buf, nbc, ac + (size_t) c * as, as, b0, bias[c], GK_SUBS,
                               da[c], GK_BLOCKS, oc + (size_t) c * os, os, mask, first);
                      c += 2;
                    }
                  if (ncc - c >= 1)
                    gk_cols (kind, 1, buf, nbc, ac + (size_t) c * as, as, b0, bias[c], GK_SUBS,
                             da[c], GK_BLOCKS, oc + (size_t) c * os, os, mask, first);
                }
            }
        }
      if (nb == 0)
        for (int c = 0; c < nc; c++)
          _mm512_mask_storeu_ps (out + (size_t) c * os + r, mask, _mm512_setzero_ps ());
    }
}

void
sm_gemm_q6_K_avx512 (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as,
                     int nc, float *out, size_t os)
{
  gk_gemm (GK_Q6_K, SM_TYPE_Q6_K, n, w, ws, nr, a, as, nc, out, os);
}

void
sm_gemm_iq4_xs_avx512 (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as,
                       int nc, float *out, size_t os)
{
  gk_gemm (GK_IQ4_XS, SM_TYPE_IQ4_XS, n, w, ws, nr, a, as, nc, out, os);
}

void
sm_gemm_iq4_nl_avx512 (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as,
                       int nc, float *out, size_t os)
{
  gk_gemm (GK_IQ4_NL, SM_TYPE_IQ4_NL, n, w, ws, nr, a, as, nc, out, os);
}
