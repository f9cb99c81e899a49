/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-quant-fns.c: the block formats and their kernels, in the manner of ggml's
 * test-quantize-fns: deterministic synthetic rows (normal, uniform, outliers, all-zero, tiny and
 * huge scales), round-trip error bounds per format, golden blocks (hand-made bytes with known
 * decodings, known encodings, fp16/bf16 rounding), and every dot product / activation kernel of
 * every CPU variant compared with the scalar `_ref`, on odd lengths so the tail loops run.
 * Variants the CPU lacks are skipped (g_test_skip). Bit-compatibility with llama.cpp itself is
 * checked by the parity suite; here the references are checked against the maths.
 */
#include <glib.h>
#include <math.h>
#include <string.h>

#include "sm-quant.h"
#include "sm-quant-private.h"
#include "sm-dispatch.h"
#if defined(__x86_64__)
#include "arch/sm-float-kernels.h"
#endif

/* ---- Deterministic data ---- */

typedef enum
{
  DATA_NORMAL,   /* N(0, 1) */
  DATA_UNIFORM,  /* U(-1, 1) */
  DATA_OUTLIERS, /* N(0, 0.02) with one element in 97 fifty times larger */
  DATA_ZERO,     /* all zero */
  DATA_TINY,     /* N(0, 1e-3): fp16 scales near the subnormal range */
  DATA_HUGE,     /* N(0, 1e3) */
  DATA_SHIFTED,  /* U(0.5, 1.5): all positive, exercises the min of the asymmetric formats */
  DATA_COUNT,
} data_kind;

static const char *const data_names[DATA_COUNT] = {
  "normal", "uniform", "outliers", "zero", "tiny", "huge", "shifted",
};

typedef struct
{
  guint64 s;
} rng;

static double
rng_uniform (rng *r)
{
  r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double) (r->s >> 11) * (1.0 / 9007199254740992.0);
}

static double
rng_normal (rng *r)
{
  double u = rng_uniform (r) + 1e-12, v = rng_uniform (r);
  return sqrt (-2 * log (u)) * cos (6.283185307179586 * v);
}

static void
fill (float *x, int64_t n, data_kind kind, guint64 seed)
{
  rng r = { seed * 7919 + kind };

  for (int64_t i = 0; i < n; i++)
    {
      double v = 0;
      switch (kind)
        {
        case DATA_NORMAL: v = rng_normal (&r); break;
        case DATA_UNIFORM: v = 2 * rng_uniform (&r) - 1; break;
        case DATA_OUTLIERS: v = 0.02 * rng_normal (&r) * (i % 97 == 13 ? 50 : 1); break;
        case DATA_ZERO: v = 0; break;
        case DATA_TINY: v = 1e-3 * rng_normal (&r); break;
        case DATA_HUGE: v = 1e3 * rng_normal (&r); break;
        case DATA_SHIFTED: v = 0.5 + rng_uniform (&r); break;
        default: g_assert_not_reached ();
        }
      x[i] = (float) v;
    }
}

static double
rms (const float *x, int64_t n)
{
  double s = 0;
  for (int64_t i = 0; i < n; i++)
    s += (double) x[i] * x[i];
  return sqrt (s / (double) (n > 0 ? n : 1));
}

static double
rmse (const float *x, const float *y, int64_t n)
{
  double s = 0;
  for (int64_t i = 0; i < n; i++)
    s += ((double) x[i] - y[i]) * ((double) x[i] - y[i]);
  return sqrt (s / (double) n);
}

/* ---- Per-type expectations ---- */

typedef struct
{
  sm_type type;
  double  max_rel_rmse; /* round-trip rmse / rms on normal, uniform, tiny, huge, shifted data */
  double  max_outliers; /* the same on the outlier data (one block max sets the scale) */
} fmt;

/* Bounds are about 1.25x what the reference quantizers reach on these rows. */
static const fmt formats[] = {
  { SM_TYPE_F32, 0, 0 },
  { SM_TYPE_F16, 0.0004, 0.0004 },
  { SM_TYPE_BF16, 0.003, 0.003 },
  { SM_TYPE_Q8_0, 0.0075, 0.016 },
  { SM_TYPE_Q4_0, 0.12, 0.26 },
  { SM_TYPE_Q4_1, 0.12, 0.17 },
  { SM_TYPE_Q5_0, 0.062, 0.15 },
  { SM_TYPE_Q5_1, 0.055, 0.075 },
  { SM_TYPE_Q2_K, 0.40, 0.31 },
  { SM_TYPE_Q3_K, 0.20, 0.16 },
  { SM_TYPE_Q4_K, 0.095, 0.14 },
  { SM_TYPE_Q5_K, 0.05, 0.062 },
  { SM_TYPE_Q6_K, 0.027, 0.045 },
  { SM_TYPE_Q8_K, 0.01, 0.042 },
  { SM_TYPE_IQ4_NL, 0.10, 0.2 },
  { SM_TYPE_IQ4_XS, 0.11, 0.17 },
};

static int64_t
block_of (sm_type t)
{
  return sm_type_get_traits (t)->blck_size;
}

/* ---- Round trip ---- */

static void
test_roundtrip (gconstpointer data)
{
  const fmt *f = data;
  const int64_t blk = block_of (f->type);
  /* Odd block counts; plain types also get a length no SIMD width divides. */
  const int64_t lengths[] = { blk, 3 * blk, blk == 1 ? 4099 : (blk == 32 ? 4128 : 4352) };

  for (gsize li = 0; li < G_N_ELEMENTS (lengths); li++)
    {
      const int64_t n = lengths[li];
      g_autofree float *x = g_new (float, n);
      g_autofree float *y = g_new (float, n);
      g_autofree guint8 *q = g_malloc (sm_type_row_size (f->type, n) + 1);

      for (int k = 0; k < DATA_COUNT; k++)
        {
          fill (x, n, k, 1 + li);
          q[sm_type_row_size (f->type, n)] = 0xA5; /* guard byte */
          g_assert_cmpuint (sm_quantize_row (f->type, x, q, n, NULL), ==,
                            sm_type_row_size (f->type, n));
          g_assert_cmpuint (q[sm_type_row_size (f->type, n)], ==, 0xA5);
          g_assert_true (sm_dequantize_row (f->type, q, y, n));

          for (int64_t i = 0; i < n; i++)
            g_assert_true (isfinite (y[i]));
          if (k == DATA_ZERO)
            {
              for (int64_t i = 0; i < n; i++)
                g_assert_cmpfloat (y[i], ==, 0.0f);
              continue;
            }
          const double rel = rmse (x, y, n) / rms (x, n);
          const double bound = k == DATA_OUTLIERS ? f->max_outliers : f->max_rel_rmse;
          if (rel > bound)
            {
              g_test_fail_printf ("%s, %s data, n=%" G_GINT64_FORMAT ": relative rmse %.5f > %.5f",
                                  sm_type_get_traits (f->type)->name, data_names[k], n, rel, bound);
              return;
            }
        }
    }
}

/* Importance weights: valid output, and a lower weighted error than without them when the
 * weights single out a few columns. */
static void
test_importance (gconstpointer data)
{
  const fmt *f = data;
  const int64_t n = 4096;
  g_autofree float *x = g_new (float, n);
  g_autofree float *w = g_new (float, n);
  g_autofree float *y0 = g_new (float, n);
  g_autofree float *y1 = g_new (float, n);
  g_autofree guint8 *q = g_malloc (sm_type_row_size (f->type, n));
  rng r = { 99 };

  fill (x, n, DATA_NORMAL, 5);
  for (int64_t i = 0; i < n; i++)
    w[i] = (float) (i % 8 == 0 ? 100 * rng_uniform (&r) : 0.01 * rng_uniform (&r));

  g_assert_cmpuint (sm_quantize_row (f->type, x, q, n, NULL), >, 0);
  g_assert_true (sm_dequantize_row (f->type, q, y0, n));
  g_assert_cmpuint (sm_quantize_row (f->type, x, q, n, w), >, 0);
  g_assert_true (sm_dequantize_row (f->type, q, y1, n));

  double e0 = 0, e1 = 0;
  for (int64_t i = 0; i < n; i++)
    {
      e0 += w[i] * ((double) x[i] - y0[i]) * ((double) x[i] - y0[i]);
      e1 += w[i] * ((double) x[i] - y1[i]) * ((double) x[i] - y1[i]);
      g_assert_true (isfinite (y1[i]));
    }
  g_test_message ("%s: weighted error %.6g without, %.6g with importance",
                  sm_type_get_traits (f->type)->name, e0, e1);
  switch (f->type)
    {
    case SM_TYPE_F32: case SM_TYPE_F16: case SM_TYPE_BF16: case SM_TYPE_Q8_0: case SM_TYPE_Q8_K:
      g_assert_cmpfloat (e1, ==, e0); /* importance is ignored */
      break;
    default:
      g_assert_cmpfloat (e1, <, e0);
      break;
    }
}

/* ---- Golden values ---- */

static void
test_fp16_known (void)
{
  static const struct { float f; guint16 h; } cases[] = {
    { 1.0f, 0x3c00 }, { -2.0f, 0xc000 }, { 0.5f, 0x3800 }, { 65504.f, 0x7bff },
    { 65519.f, 0x7bff }, { 65520.f, 0x7c00 }, { 1e9f, 0x7c00 }, { 0.1f, 0x2e66 },
    { 5.9604645e-8f, 0x0001 }, { 2.9802322e-8f, 0x0000 }, /* tie to even: 0 */
    { 8.940697e-8f, 0x0002 },                             /* 1.5 ulp: tie to even, 2 */
    { 6.1035156e-5f, 0x0400 }, { 0.0f, 0x0000 }, { -0.0f, 0x8000 },
    { 1.00048828125f, 0x3c00 }, /* 1 + 2^-11: tie, stays even */
    { 1.00146484375f, 0x3c02 }, /* 1 + 3 * 2^-11: tie, rounds up to even */
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_assert_cmphex (sm_fp32_to_fp16 (cases[i].f), ==, cases[i].h);
      if ((cases[i].h & 0x7c00) != 0x7c00 && cases[i].f == sm_fp16_to_fp32 (cases[i].h))
        g_assert_cmpfloat (sm_fp16_to_fp32 (sm_fp32_to_fp16 (cases[i].f)), ==, cases[i].f);
    }
  g_assert_true (isnan (sm_fp16_to_fp32 (sm_fp32_to_fp16 (NAN))));
  g_assert_true (isinf (sm_fp16_to_fp32 (0x7c00)));
  g_assert_cmpfloat (sm_fp16_to_fp32 (0x0001), ==, 5.9604645e-8f);
  g_assert_cmpfloat (sm_fp16_to_fp32 (0xfbff), ==, -65504.f);
  /* Every half that is a number survives a round trip through float. */
  for (guint32 h = 0; h < 0x10000; h++)
    if ((h & 0x7c00) != 0x7c00)
      g_assert_cmphex (sm_fp32_to_fp16 (sm_fp16_to_fp32 ((guint16) h)), ==, h);
}

static float
from_bits (guint32 u)
{
  float f;
  memcpy (&f, &u, 4);
  return f;
}

static void
test_bf16_known (void)
{
  g_assert_cmphex (sm_fp32_to_bf16 (1.0f), ==, 0x3f80);
  g_assert_cmphex (sm_fp32_to_bf16 (from_bits (0x3f808000)), ==, 0x3f80); /* tie -> even */
  g_assert_cmphex (sm_fp32_to_bf16 (from_bits (0x3f818000)), ==, 0x3f82); /* tie -> even */
  g_assert_cmphex (sm_fp32_to_bf16 (from_bits (0x3f808001)), ==, 0x3f81);
  g_assert_cmphex (sm_fp32_to_bf16 (from_bits (0x7fa00000)), ==, 0x7fe0); /* NaN made quiet */
  g_assert_cmphex (sm_fp32_to_bf16 (-INFINITY), ==, 0xff80);
  g_assert_cmpfloat (sm_bf16_to_fp32 (0x4049), ==, 3.140625f);
}

/* Hand-made blocks whose decodings follow from formats.md section 3. */
static void
test_golden_decode (void)
{
  float y[256];

  { /* Q4_0: d = 1.0; byte 0 = 0x9F -> element 0 = 15 - 8, element 16 = 9 - 8; rest 0x88 -> 0. */
    sm_block_q4_0 b;
    b.d = 0x3c00;
    memset (b.qs, 0x88, sizeof b.qs);
    b.qs[0] = 0x9F;
    g_assert_true (sm_dequantize_row (SM_TYPE_Q4_0, &b, y, 32));
    g_assert_cmpfloat (y[0], ==, 7.0f);
    g_assert_cmpfloat (y[16], ==, 1.0f);
    for (int i = 1; i < 32; i++)
      if (i != 16)
        g_assert_cmpfloat (y[i], ==, 0.0f);
  }
  { /* Q5_1: d = 0.5, m = -1; element 17: nibble 3 (high of byte 1) + 5th bit (qh bit 17) = 19. */
    sm_block_q5_1 b;
    memset (&b, 0, sizeof b);
    b.d = 0x3800;
    b.m = 0xbc00;
    b.qs[1] = 0x30;
    b.qh[2] = 0x02; /* bit 17 of the LE uint32 */
    g_assert_true (sm_dequantize_row (SM_TYPE_Q5_1, &b, y, 32));
    g_assert_cmpfloat (y[17], ==, 0.5f * 19 - 1);
    g_assert_cmpfloat (y[0], ==, -1.0f);
  }
  { /* Q8_0: d = 0.25, codes -128, 127, 4. */
    sm_block_q8_0 b;
    memset (&b, 0, sizeof b);
    b.d = 0x3400;
    b.qs[0] = -128;
    b.qs[1] = 127;
    b.qs[31] = 4;
    g_assert_true (sm_dequantize_row (SM_TYPE_Q8_0, &b, y, 32));
    g_assert_cmpfloat (y[0], ==, -32.0f);
    g_assert_cmpfloat (y[1], ==, 31.75f);
    g_assert_cmpfloat (y[31], ==, 1.0f);
  }
  { /* Q4_K: d = 1, dmin = 0.5. Sub-block 0: scale 3, min 2, element 0 nibble 5 -> 3*5 - 1 = 14.
     * Sub-block 4: scale = (byte 8 & 15) | (byte 0 >> 6) << 4 = 1 | 16 = 17, min = (byte 8 >> 4)
     * | (byte 4 >> 6) << 4 = 2; element 128 is the low nibble of qs[64] = 3 -> 17*3 - 1 = 50. */
    sm_block_q4_K b;
    memset (&b, 0, sizeof b);
    b.d = 0x3c00;
    b.dmin = 0x3800;
    b.scales[0] = 3 | 0x40;
    b.scales[4] = 2;
    b.scales[8] = 0x21;
    b.qs[0] = 0x05;
    b.qs[64] = 0x03;
    g_assert_true (sm_dequantize_row (SM_TYPE_Q4_K, &b, y, 256));
    g_assert_cmpfloat (y[0], ==, 14.0f);
    g_assert_cmpfloat (y[128], ==, 50.0f);
    g_assert_cmpfloat (y[1], ==, -1.0f);  /* code 0, min 2 * 0.5 */
    g_assert_cmpfloat (y[32], ==, 0.0f);  /* sub-block 1: scale 0, min 0 */
  }
  { /* Q6_K: d = 0.25, scale[0] = -2; element 0: low 4 = 15, high 2 = 2 -> 47 - 32 = 15 -> -7.5.
     * Element 96 (k = 3): high nibble of ql[32], bits 6-7 of qh[0]. */
    sm_block_q6_K b;
    memset (&b, 0, sizeof b);
    b.d = 0x3400;
    b.scales[0] = -2;
    b.scales[6] = 1;
    b.ql[0] = 0x0F;
    b.qh[0] = 0x02 | (3 << 6);
    b.ql[32] = 0x10;
    g_assert_true (sm_dequantize_row (SM_TYPE_Q6_K, &b, y, 256));
    g_assert_cmpfloat (y[0], ==, -7.5f);
    g_assert_cmpfloat (y[96], ==, 0.25f * 1 * ((1 | 48) - 32));
    g_assert_cmpfloat (y[1], ==, 0.25f * -2 * -32);
  }
  { /* Q3_K: d = 1; all scales 0 except scale 0 = (s[0] & 15 | (s[8] & 3) << 4) - 32 = 1 - 32.
     * Element 0: low 2 bits 3, hmask bit set -> q = 3 -> -93; element 1: hmask clear -> 3 - 4. */
    sm_block_q3_K b;
    memset (&b, 0, sizeof b);
    b.d = 0x3c00;
    memset (b.scales, 0, 12);
    for (int j = 0; j < 8; j++)
      b.scales[j] = 0x00;
    b.scales[0] = 1;
    b.scales[8] = 0x00;
    b.qs[0] = 3;
    b.qs[1] = 3;
    b.hmask[0] = 1;
    g_assert_true (sm_dequantize_row (SM_TYPE_Q3_K, &b, y, 256));
    g_assert_cmpfloat (y[0], ==, -31.0f * 3);
    g_assert_cmpfloat (y[1], ==, -31.0f * -1);
    g_assert_cmpfloat (y[16], ==, -32.0f * -4); /* scale 1 = 0 - 32, code 0 - 4 */
  }
  { /* Q2_K: d = 1, dmin = 1; sub-block 0 scale byte 0x32 (scale 2, min 3); element 32 uses bits
     * 2-3 of qs[0]. */
    sm_block_q2_K b;
    memset (&b, 0, sizeof b);
    b.d = 0x3c00;
    b.dmin = 0x3c00;
    b.scales[0] = 0x32;
    b.scales[2] = 0x01;
    b.qs[0] = 0x03 | (2 << 2);
    g_assert_true (sm_dequantize_row (SM_TYPE_Q2_K, &b, y, 256));
    g_assert_cmpfloat (y[0], ==, 2 * 3 - 3.0f);
    g_assert_cmpfloat (y[32], ==, 1 * 2 - 0.0f);
  }
  { /* IQ4_NL: d = 2; byte 0 = 0x0F -> element 0 = 2 * 113, element 16 = 2 * -127. */
    sm_block_iq4_nl b;
    memset (&b, 0x88, sizeof b);
    b.d = 0x4000;
    b.qs[0] = 0x0F;
    g_assert_true (sm_dequantize_row (SM_TYPE_IQ4_NL, &b, y, 32));
    g_assert_cmpfloat (y[0], ==, 226.0f);
    g_assert_cmpfloat (y[16], ==, -254.0f);
    g_assert_cmpfloat (y[1], ==, 2.0f);
  }
  { /* IQ4_XS: d = 1; sub-block 3: low bits = high nibble of scales_l[1] = 9, high bits = bits
     * 6-7 of scales_h = 2: (9 | 2 << 4) - 32 = 9. */
    sm_block_iq4_xs b;
    memset (&b, 0, sizeof b);
    b.d = 0x3c00;
    b.scales_l[1] = 0x90;
    b.scales_h = (uint16_t) (2 << 6);
    b.qs[48] = 0xF0;
    g_assert_true (sm_dequantize_row (SM_TYPE_IQ4_XS, &b, y, 256));
    g_assert_cmpfloat (y[96], ==, 9.0f * -127);
    g_assert_cmpfloat (y[112], ==, 9.0f * 113);
    g_assert_cmpfloat (y[0], ==, -32.0f * -127);
  }
  { /* IQ2_XXS: all-zero block except d = 1 and a1 = scale 15 << 28: grid entry 0 is eight 8s,
     * sign index 0 means no sign: x = 1 * (0.5 + 15) / 4 * 8 = 31. */
    sm_block_iq2_xxs b;
    memset (&b, 0, sizeof b);
    b.d = 0x3c00;
    b.qs[3] = 0xF000;
    b.qs[2] = 1 << 7; /* sign index 1 for the second 8: mask 0x81 */
    g_assert_true (sm_dequantize_row (SM_TYPE_IQ2_XXS, &b, y, 256));
    g_assert_cmpfloat (y[0], ==, 31.0f);
    g_assert_cmpfloat (y[8], ==, -31.0f);
    g_assert_cmpfloat (y[15], ==, -31.0f);
    g_assert_cmpfloat (y[9], ==, 31.0f);
    g_assert_cmpfloat (y[32], ==, 0.5f / 4 * 8);
  }
  { /* IQ1_S: d = 1, all indices 0 (grid entry 0 = eight -1), scale 0, delta +: x = -1 + 0.125. */
    sm_block_iq1_s b;
    memset (&b, 0, sizeof b);
    b.d = 0x3c00;
    b.qh[1] = 0x8000 | (2 << 12); /* second 32: delta negative, scale 2 -> 5 */
    g_assert_true (sm_dequantize_row (SM_TYPE_IQ1_S, &b, y, 256));
    g_assert_cmpfloat (y[0], ==, -0.875f);
    g_assert_cmpfloat (y[32], ==, 5 * (-1 - 0.125f));
  }
}

/* Known encodings: inputs whose reference bytes follow from the quantizer's definition. */
static void
test_golden_encode (void)
{
  float x[32];

  for (int j = 0; j < 32; j++)
    x[j] = (float) (j - 16);

  { /* Q4_0: max = -16 -> d = 2 (0x4000), q = trunc(x / 2 + 8.5) clamped to 15. */
    sm_block_q4_0 b;
    g_assert_cmpuint (sm_quantize_row (SM_TYPE_Q4_0, x, &b, 32, NULL), ==, 18);
    g_assert_cmphex (b.d, ==, 0x4000);
    g_assert_cmphex (b.qs[0], ==, 0x80);  /* x=-16 -> 0, x=0 -> 8 */
    g_assert_cmphex (b.qs[1], ==, 0x91);  /* x=-15 -> 1, x=1 -> 9 */
    g_assert_cmphex (b.qs[15], ==, 0xF8); /* x=-1 -> 8, x=15 -> 16 clamped to 15 */
  }
  { /* Q8_0: d = 16/127 -> f16 0x3008; q = round(x * 127/16). */
    sm_block_q8_0 b;
    g_assert_cmpuint (sm_quantize_row (SM_TYPE_Q8_0, x, &b, 32, NULL), ==, 34);
    g_assert_cmphex (b.d, ==, 0x3008);
    g_assert_cmpint (b.qs[0], ==, -127);
    g_assert_cmpint (b.qs[16], ==, 0);
    g_assert_cmpint (b.qs[17], ==, 8);
    g_assert_cmpint (b.qs[31], ==, 119);
  }
  { /* IQ4_NL of a row that is exactly d * T: the search must find the table itself. */
    float t[32];
    sm_block_iq4_nl b;
    for (int j = 0; j < 32; j++)
      t[j] = 0.5f * sm_kvalues_iq4nl[j % 16];
    g_assert_cmpuint (sm_quantize_row (SM_TYPE_IQ4_NL, t, &b, 32, NULL), ==, 18);
    float y[32];
    g_assert_true (sm_dequantize_row (SM_TYPE_IQ4_NL, &b, y, 32));
    for (int j = 0; j < 32; j++)
      g_assert_cmpfloat_with_epsilon (y[j], t[j], 1e-3);
  }
  { /* Q8_K: max = -16 at element 0 -> d = 16/127 (f32), bsums of 16 codes. */
    float k[256];
    sm_block_q8_K b;
    for (int j = 0; j < 256; j++)
      k[j] = (float) ((j % 32) - 16);
    g_assert_cmpuint (sm_quantize_row (SM_TYPE_Q8_K, k, &b, 256, NULL), ==, 292);
    g_assert_cmpfloat (b.d, ==, 1 / (-127.f / -16.f));
    g_assert_cmpint (b.qs[0], ==, -127);
    int s = 0;
    for (int j = 0; j < 16; j++)
      s += b.qs[j];
    g_assert_cmpint (b.bsums[0], ==, s);
  }
}

/* Regression guard for bit-compatibility with llama.cpp: FNV-1a hashes of the rows made from a
 * fixed input, without and with importance weights. When these tables were written, the bytes
 * were compared with ggml's own quantize_<type>() (ggml d99724f) on the same input and were
 * identical. The input is built with integer and double arithmetic only, so it is the same on
 * every platform. */
static guint64
fnv1a (const guint8 *p, gsize n)
{
  guint64 h = 1469598103934665603ULL;
  for (gsize i = 0; i < n; i++)
    {
      h ^= p[i];
      h *= 1099511628211ULL;
    }
  return h;
}

static void
test_golden_llama_bytes (void)
{
  static const struct { sm_type t; guint64 plain, weighted; } expect[] = {
    { SM_TYPE_Q8_0, 0xc5a2d21f5c3fa3edull, 0xc5a2d21f5c3fa3edull },
    { SM_TYPE_Q4_0, 0x787dabf414899405ull, 0xef325bdf9a91a16full },
    { SM_TYPE_Q4_1, 0xfa82b884104f17e5ull, 0x2ac581871a4e471eull },
    { SM_TYPE_Q5_0, 0xd801db8ac6813cd4ull, 0x2c76eddb86207fbeull },
    { SM_TYPE_Q5_1, 0xf4e80e0d2e5d72efull, 0xbfc87626412e757cull },
    { SM_TYPE_Q2_K, 0x269f7d8213b8cf2full, 0x1e4cafcdf4638fd9ull },
    { SM_TYPE_Q3_K, 0xcabca5e0a50b7631ull, 0x9be672da276054c2ull },
    { SM_TYPE_Q4_K, 0x7f0314b5e17df411ull, 0x85b32ed9f4e704acull },
    { SM_TYPE_Q5_K, 0x030f449bb8399442ull, 0x4715745b5ac03f25ull },
    { SM_TYPE_Q6_K, 0x2eb0bec40bf0b9ecull, 0x2bae0f4dfb300d4full },
    { SM_TYPE_IQ4_NL, 0xa8e46d63a9ef3b43ull, 0x8afdf8c8164a87bdull },
    { SM_TYPE_IQ4_XS, 0xf152456971a08eeaull, 0x74a62555e1f38f99ull },
  };
  enum { N = 1024 };
  float x[N], w[N];
  guint8 q[N * 2];
  guint64 st = 2024;

  /* Irwin-Hall approximation of a normal (sum of 4 uniforms), with a spike every 61. */
  for (int i = 0; i < N; i++)
    {
      double g = -2.0;
      for (int k = 0; k < 4; k++)
        {
          st = st * 6364136223846793005ULL + 1442695040888963407ULL;
          g += (double) (st >> 11) * (1.0 / 9007199254740992.0);
        }
      x[i] = (float) ((i % 61 == 7 ? 9 : 1) * g * 0.75);
    }
  for (int i = 0; i < N; i++)
    {
      double u[2];
      for (int k = 0; k < 2; k++)
        {
          st = st * 6364136223846793005ULL + 1442695040888963407ULL;
          u[k] = (double) (st >> 11) * (1.0 / 9007199254740992.0);
        }
      w[i] = (float) (u[0] * u[1] * 4.0);
    }

  for (gsize i = 0; i < G_N_ELEMENTS (expect); i++)
    {
      gsize sz = sm_quantize_row (expect[i].t, x, q, N, NULL);
      g_assert_cmpuint (sz, ==, sm_type_row_size (expect[i].t, N));
      if (fnv1a (q, sz) != expect[i].plain)
        g_test_fail_printf ("%s: bytes differ from llama.cpp's reference quantizer",
                            sm_type_get_traits (expect[i].t)->name);
      sz = sm_quantize_row (expect[i].t, x, q, N, w);
      if (fnv1a (q, sz) != expect[i].weighted)
        g_test_fail_printf ("%s: bytes differ from llama.cpp's imatrix quantizer",
                            sm_type_get_traits (expect[i].t)->name);
    }
}

/* Rows with NaN or infinite values (a damaged tensor) are quantized without crashing or
 * undefined behaviour (the sanitizer build checks the latter); finite blocks stay finite. */
static void
test_nonfinite (void)
{
  const int64_t n = 512;
  g_autofree float *x = g_new (float, n);
  g_autofree float *y = g_new (float, n);
  g_autofree guint8 *q = g_malloc (sm_type_row_size (SM_TYPE_F32, n));

  for (gsize i = 0; i < G_N_ELEMENTS (formats); i++)
    {
      const sm_type t = formats[i].type;
      fill (x, n, DATA_NORMAL, 3);
      x[3] = NAN;
      x[40] = INFINITY;
      x[77] = -INFINITY;
      g_assert_cmpuint (sm_quantize_row (t, x, q, n, NULL), ==, sm_type_row_size (t, n));
      g_assert_true (sm_dequantize_row (t, q, y, n));
      /* The last 256 elements hold no bad value: they must decode to numbers. */
      for (int64_t k = 256; k < n; k++)
        g_assert_true (isfinite (y[k]));
      g_assert_cmpuint (sm_quantize_row (t, x, q, n, x + 0), ==, sm_type_row_size (t, n));
    }
}

/* ---- API edges ---- */

static void
test_api (void)
{
  float x[64] = { 0 };
  guint8 q[256];
  float y[64];

  g_assert_cmpuint (sm_quantize_row (SM_TYPE_Q4_0, x, q, 33, NULL), ==, 0);
  g_assert_cmpuint (sm_quantize_row (SM_TYPE_Q4_K, x, q, 64, NULL), ==, 0);
  g_assert_cmpuint (sm_quantize_row (SM_TYPE_IQ2_XXS, x, q, 256, NULL), ==, 0);
  g_assert_cmpuint (sm_quantize_row (SM_TYPE_MXFP4, x, q, 32, NULL), ==, 0);
  g_assert_cmpuint (sm_quantize_row ((sm_type) 4, x, q, 32, NULL), ==, 0);
  g_assert_cmpuint (sm_quantize_row ((sm_type) 1000, x, q, 32, NULL), ==, 0);
  g_assert_false (sm_dequantize_row (SM_TYPE_TQ1_0, q, y, 256));
  g_assert_false (sm_dequantize_row (SM_TYPE_Q4_0, q, y, 31));

  static const sm_type quantizable[] = {
    SM_TYPE_F32, SM_TYPE_F16, SM_TYPE_BF16, SM_TYPE_Q8_0, SM_TYPE_Q4_0, SM_TYPE_Q4_1,
    SM_TYPE_Q5_0, SM_TYPE_Q5_1, SM_TYPE_Q2_K, SM_TYPE_Q3_K, SM_TYPE_Q4_K, SM_TYPE_Q5_K,
    SM_TYPE_Q6_K, SM_TYPE_Q8_K, SM_TYPE_IQ4_NL, SM_TYPE_IQ4_XS,
  };
  static const sm_type grids[] = {
    SM_TYPE_IQ1_S, SM_TYPE_IQ1_M, SM_TYPE_IQ2_XXS, SM_TYPE_IQ2_XS, SM_TYPE_IQ2_S,
    SM_TYPE_IQ3_XXS, SM_TYPE_IQ3_S,
  };
  for (gsize i = 0; i < G_N_ELEMENTS (quantizable); i++)
    {
      g_assert_true (sm_quant_can_quantize (quantizable[i]));
      g_assert_true (sm_quant_can_dequantize (quantizable[i]));
    }
  for (gsize i = 0; i < G_N_ELEMENTS (grids); i++)
    {
      g_assert_false (sm_quant_can_quantize (grids[i]));
      g_assert_true (sm_quant_can_dequantize (grids[i]));
      g_assert_cmpint (sm_quant_vec_dot_type (grids[i]), ==, SM_TYPE_Q8_K);
    }
  g_assert_false (sm_quant_can_quantize (SM_TYPE_TQ2_0));
  g_assert_false (sm_quant_can_dequantize (SM_TYPE_I32));

  g_assert_cmpint (sm_quant_vec_dot_type (SM_TYPE_Q4_0), ==, SM_TYPE_Q8_0);
  g_assert_cmpint (sm_quant_vec_dot_type (SM_TYPE_Q5_0), ==, SM_TYPE_Q8_0);
  g_assert_cmpint (sm_quant_vec_dot_type (SM_TYPE_Q8_0), ==, SM_TYPE_Q8_0);
  g_assert_cmpint (sm_quant_vec_dot_type (SM_TYPE_IQ4_NL), ==, SM_TYPE_Q8_0);
  g_assert_cmpint (sm_quant_vec_dot_type (SM_TYPE_Q4_1), ==, SM_TYPE_Q8_1);
  g_assert_cmpint (sm_quant_vec_dot_type (SM_TYPE_Q5_1), ==, SM_TYPE_Q8_1);
  g_assert_cmpint (sm_quant_vec_dot_type (SM_TYPE_Q4_K), ==, SM_TYPE_Q8_K);
  g_assert_cmpint (sm_quant_vec_dot_type (SM_TYPE_IQ4_XS), ==, SM_TYPE_Q8_K);
  g_assert_cmpint (sm_quant_vec_dot_type (SM_TYPE_F16), ==, SM_TYPE_F16);
  g_assert_cmpint (sm_quant_vec_dot_type (SM_TYPE_BF16), ==, SM_TYPE_BF16);
  g_assert_cmpint (sm_quant_vec_dot_type (SM_TYPE_F32), ==, SM_TYPE_F32);
  g_assert_cmpint (sm_quant_vec_dot_type (SM_TYPE_I8), ==, SM_TYPE_COUNT);
  g_assert_cmpfloat (sm_vec_dot (SM_TYPE_I8, 32, q, q), ==, 0.0f);
}

/* The override: SMELT_CPU_VARIANT names a variant; unknown or unsupported ones keep the best. */
static void
test_dispatch (void)
{
  const char *want = g_getenv ("SMELT_CPU_VARIANT");
  sm_cpu_variant best = SM_CPU_VARIANT_REF;

  for (int v = 0; v < SM_CPU_VARIANT_COUNT; v++)
    if (sm_cpu_variant_supported (v))
      best = v;
  g_assert_true (sm_cpu_variant_supported (SM_CPU_VARIANT_REF));
  g_assert_null (sm_cpu_variant_name (SM_CPU_VARIANT_COUNT));

  sm_cpu_variant expect = best;
  for (int v = 0; v < SM_CPU_VARIANT_COUNT; v++)
    if (want != NULL && g_str_equal (want, sm_cpu_variant_name (v)) && sm_cpu_variant_supported (v))
      expect = v;
  g_test_message ("SMELT_CPU_VARIANT=%s, active %s", want ? want : "(unset)",
                  sm_cpu_variant_name (sm_dispatch_variant ()));
  g_assert_cmpint (sm_dispatch_variant (), ==, expect);
  g_assert_true (sm_dispatch_vec_dot (SM_TYPE_Q4_K)
                 == sm_dispatch_vec_dot_variant (SM_TYPE_Q4_K, expect));
}

/* ---- Kernels of each variant against the reference ---- */

typedef struct
{
  sm_type        type;
  sm_cpu_variant variant;
  sm_vec_dot_fn   dot;   /* NULL: the variant's dispatched kernel; else this one (a kernel the
                          * dispatch does not pick on this CPU, e.g. BF16 without avx512_bf16) */
  sm_gemm_tile_fn gemm;  /* the same for tile kernels */
} kernel_case;

static const sm_type dot_types[] = {
  SM_TYPE_F32, SM_TYPE_F16, SM_TYPE_BF16, SM_TYPE_Q8_0, SM_TYPE_Q4_0, SM_TYPE_Q4_1,
  SM_TYPE_Q5_0, SM_TYPE_Q5_1, SM_TYPE_Q2_K, SM_TYPE_Q3_K, SM_TYPE_Q4_K, SM_TYPE_Q5_K,
  SM_TYPE_Q6_K, SM_TYPE_Q8_K, SM_TYPE_IQ4_NL, SM_TYPE_IQ4_XS, SM_TYPE_IQ2_XXS, SM_TYPE_IQ2_XS,
  SM_TYPE_IQ2_S, SM_TYPE_IQ3_XXS, SM_TYPE_IQ3_S, SM_TYPE_IQ1_S, SM_TYPE_IQ1_M,
};

/* A weight row of a grid type, made of random bytes with sane f16 scales (these formats have
 * no encoder here). */
static void
random_grid_row (sm_type t, guint8 *q, int64_t n, rng *r)
{
  const size_t bytes = sm_type_row_size (t, n);
  const size_t bsz = sm_type_get_traits (t)->type_size;

  for (size_t i = 0; i < bytes; i++)
    q[i] = (guint8) (rng_uniform (r) * 256);
  for (size_t b = 0; b < bytes / bsz; b++)
    {
      guint8 *blk = q + b * bsz;
      guint16 d = sm_fp32_to_fp16 ((float) (0.01 + 0.05 * rng_uniform (r)));
      if (t == SM_TYPE_IQ1_M)
        {
          /* The f16 scale lives in the top nibbles of the 4 uint16 scale words (bytes 48..55). */
          for (int k = 0; k < 4; k++)
            blk[48 + 2 * k + 1]
              = (guint8) ((blk[48 + 2 * k + 1] & 0x0f) | (((d >> (4 * k)) & 0xf) << 4));
        }
      else
        {
          blk[0] = (guint8) d;
          blk[1] = (guint8) (d >> 8);
        }
    }
}

static void
test_dot (gconstpointer data)
{
  const kernel_case *kc = data;
  const sm_type t = kc->type;
  const sm_type at = sm_quant_vec_dot_type (t);
  const int64_t blk = block_of (t);

  if (!sm_cpu_variant_supported (kc->variant))
    {
      g_test_skip ("this CPU lacks the variant");
      return;
    }
  sm_vec_dot_fn dot = kc->dot != NULL ? kc->dot : sm_dispatch_vec_dot_variant (t, kc->variant);
  sm_vec_dot_fn ref = sm_dispatch_vec_dot_variant (t, SM_CPU_VARIANT_REF);
  sm_activation_fn act = sm_dispatch_activation_variant (t, kc->variant);
  g_assert_nonnull (dot);
  g_assert_nonnull (ref);
  g_assert_nonnull (act);

  const int64_t lengths[] = { blk == 1 ? 1 : blk, blk == 1 ? 31 : 3 * blk,
                              blk == 1 ? 4099 : (blk == 32 ? 4128 : 4352),
                              blk == 1 ? 256 : 16 * blk };
  rng r = { 1234 + (guint64) t };

  /* Rounding ties: with one element at -127 the Q8_0 and Q8_K scales are exactly 1, so every
   * x.5 is a tie (Q8_0 rounds them away from zero, Q8_K to even). */
  {
    const int64_t n = 4 * blk * (blk == 1 ? 256 : 1) + (blk == 1 ? 7 : 0);
    g_autofree float *x = g_new (float, n);
    g_autofree guint8 *a = g_malloc (sm_type_row_size (at, n));
    g_autofree guint8 *a_ref = g_malloc (sm_type_row_size (at, n));
    for (int64_t i = 0; i < n; i++)
      x[i] = i % 32 == 5 ? -127.f : (float) ((int) (i % 61) - 30) + 0.5f;
    act (x, a, n);
    sm_dispatch_activation_variant (t, SM_CPU_VARIANT_REF) (x, a_ref, n);
    if (memcmp (a, a_ref, sm_type_row_size (at, n)) != 0)
      {
        g_test_fail_printf ("%s activation (%s) rounds ties differently from ref",
                            sm_type_get_traits (at)->name, sm_cpu_variant_name (kc->variant));
        return;
      }
  }

  for (gsize li = 0; li < G_N_ELEMENTS (lengths); li++)
    for (int k = 0; k < DATA_COUNT; k++)
      {
        const int64_t n = lengths[li];
        g_autofree float *x = g_new (float, n);
        g_autofree float *xa = g_new (float, n);
        g_autofree float *wd = g_new (float, n);
        g_autofree float *ad = g_new (float, n);
        g_autofree guint8 *w = g_malloc (sm_type_row_size (t, n));
        g_autofree guint8 *a = g_malloc (sm_type_row_size (at, n));
        g_autofree guint8 *a_ref = g_malloc (sm_type_row_size (at, n));

        fill (x, n, k, 11 + li);
        fill (xa, n, k == DATA_ZERO ? DATA_NORMAL : (data_kind) ((k + 1) % DATA_COUNT), 77 + li);
        if (sm_quant_can_quantize (t))
          g_assert_cmpuint (sm_quantize_row (t, x, w, n, NULL), >, 0);
        else
          random_grid_row (t, w, n, &r);

        /* Activation rows must be identical to the reference conversion, byte for byte. */
        act (xa, a, n);
        sm_dispatch_activation_variant (t, SM_CPU_VARIANT_REF) (xa, a_ref, n);
        if (memcmp (a, a_ref, sm_type_row_size (at, n)) != 0)
          {
            g_test_fail_printf ("%s activation (%s) of %s data differs from ref",
                                sm_type_get_traits (at)->name, sm_cpu_variant_name (kc->variant),
                                data_names[k]);
            return;
          }

        /* Independent value: the float dot of both decoded rows. */
        g_assert_true (sm_dequantize_row (t, w, wd, n));
        g_assert_true (sm_dequantize_row (at, a, ad, n));
        double exact = 0, mag = 0;
        for (int64_t i = 0; i < n; i++)
          {
            exact += (double) wd[i] * ad[i];
            mag += fabs ((double) wd[i] * ad[i]);
          }
        const float vr = ref (n, w, a);
        const float vv = dot (n, w, a);
        /* Float accumulation order differs between kernels: allow 2e-5 of the magnitude. The
         * Q8_1 sums s = d * sum(q) are stored as f16, so Q4_1/Q5_1 dots (min * s per block)
         * carry that rounding on top (relative 2^-11 of |m * s|). */
        double tol = 2e-5 * mag + 1e-30;
        double tol_exact = tol;
        if (at == SM_TYPE_Q8_1)
          for (int64_t b = 0; b < n / 32; b++)
            {
              const sm_block_q8_1 *yb = (const sm_block_q8_1 *) a + b;
              const guint8 *wb = w + b * sm_type_get_traits (t)->type_size;
              const guint16 m = (guint16) (wb[2] | (wb[3] << 8));
              tol_exact += fabs ((double) sm_fp16_to_fp32 (m) * sm_fp16_to_fp32 (yb->s)) / 1024;
            }
        if (fabs (vr - exact) > tol_exact || fabs (vv - vr) > tol)
          {
            g_test_fail_printf ("%s dot (%s), %s data, n=%" G_GINT64_FORMAT
                                ": ref %.9g variant %.9g "
                                "decoded %.9g (tolerance %.3g)", sm_type_get_traits (t)->name,
                                sm_cpu_variant_name (kc->variant), data_names[k], n, vr, vv, exact,
                                tol);
            return;
          }
      }
}


/* ---- Tiles (sm_gemm_tile) against the per-pair reference dot ----
 *
 * A 37-row weight matrix and an 11-column activation matrix, padded strides, every (nr, nc) of
 * {1,3,4,5,9,16,21,37} x {1,2,3,5,7,8,11} so the whole tiles (4 x 2, 4 x 4, 16 x 8 panels) and
 * the row and column tails all run, over lengths with a partial last chunk. The ref case checks
 * sm_gemm_tile_ref (exactly the reference dot) and the public dispatched sm_gemm_tile on the
 * shapes up to 9 x 7; the others the variant's own tile kernel, skipped where it has none.
 * Outside the tile the output must stay untouched. */
static void
test_gemm (gconstpointer data)
{
  const kernel_case *kc = data;
  const sm_type t = kc->type;
  const sm_type at = sm_quant_vec_dot_type (t);
  const int64_t blk = block_of (t);
  enum { ROWS = 37, COLS = 11 };

  if (!sm_cpu_variant_supported (kc->variant))
    {
      g_test_skip ("this CPU lacks the variant");
      return;
    }
  sm_gemm_tile_fn g
      = kc->gemm != NULL ? kc->gemm : sm_dispatch_gemm_tile_variant (t, kc->variant);
  if (kc->variant == SM_CPU_VARIANT_REF)
    g_assert_null (g);
  else if (g == NULL)
    {
      g_test_skip ("no tile kernel for this type in this variant");
      return;
    }
  sm_vec_dot_fn ref = sm_dispatch_vec_dot_variant (t, SM_CPU_VARIANT_REF);
  sm_activation_fn act = sm_dispatch_activation_variant (t, SM_CPU_VARIANT_REF);
  const int64_t lengths[] = { blk, 3 * blk, blk == 1 ? 257 : (blk == 32 ? 129 * 32 : 17 * 256) };
  const data_kind kinds[] = { DATA_NORMAL, DATA_OUTLIERS, DATA_HUGE, DATA_ZERO, DATA_TINY };
  const int nrs[] = { 1, 3, 4, 5, 9, 16, 21, 37 }, ncs[] = { 1, 2, 3, 5, 7, 8, 11 };
  rng r = { 4321 + (guint64) t };

  for (gsize li = 0; li < G_N_ELEMENTS (lengths); li++)
    for (gsize k = 0; k < G_N_ELEMENTS (kinds); k++)
      {
        const int64_t n = lengths[li];
        /* Padded strides that keep rows 16-byte aligned, as the model's are (the float
         * references load whole floats). */
        const size_t ws = (sm_type_row_size (t, n) + 31) / 16 * 16;
        const size_t as = (sm_type_row_size (at, n) + 47) / 16 * 16;
        g_autofree guint8 *w = g_malloc0 (ws * ROWS);
        g_autofree guint8 *a = g_malloc0 (as * COLS);
        g_autofree float *x = g_new (float, n);
        g_autofree float *wd = g_new (float, n * ROWS);
        g_autofree float *ad = g_new (float, n * COLS);
        float expect[COLS][ROWS];
        double mag[COLS][ROWS];
        /* The reference-only cases stop at 9 x 7 (see below). */
        const int rows = g == NULL ? 9 : ROWS, cols = g == NULL ? 7 : COLS;

        for (int i = 0; i < rows; i++)
          {
            fill (x, n, kinds[k], 300 + 17 * li + i);
            if (sm_quant_can_quantize (t))
              g_assert_cmpuint (sm_quantize_row (t, x, w + i * ws, n, NULL), >, 0);
            else
              random_grid_row (t, w + i * ws, n, &r);
            g_assert_true (sm_dequantize_row (t, w + i * ws, wd + i * n, n));
          }
        for (int c = 0; c < cols; c++)
          {
            fill (x, n, c % 2 ? DATA_UNIFORM : DATA_NORMAL, 900 + 13 * li + c);
            act (x, a + c * as, n);
            g_assert_true (sm_dequantize_row (at, a + c * as, ad + c * n, n));
          }
        for (int c = 0; c < cols; c++)
          for (int i = 0; i < rows; i++)
            {
              expect[c][i] = ref (n, w + i * ws, a + c * as);
              mag[c][i] = 0;
              for (int64_t e = 0; e < n; e++)
                mag[c][i] += fabs ((double) wd[i * n + e] * ad[c * n + e]);
            }

        for (gsize ri = 0; ri < G_N_ELEMENTS (nrs); ri++)
          for (gsize ci = 0; ci < G_N_ELEMENTS (ncs); ci++)
            for (int which = 0; which < (g == NULL ? 2 : 1); which++)
              {
                const int nr = nrs[ri], nc = ncs[ci];
                if (nr > rows || nc > cols)
                  continue;  /* the per-pair reference is slow: small shapes suffice */
                const size_t os = (size_t) nr + 2;
                float out[COLS * (ROWS + 2)];
                for (gsize e = 0; e < G_N_ELEMENTS (out); e++)
                  out[e] = NAN;
                if (g != NULL)
                  g (n, w, ws, nr, a, as, nc, out, os);
                else if (which == 0)
                  sm_gemm_tile_ref (t, n, w, ws, nr, a, as, nc, out, os);
                else
                  sm_gemm_tile (t, n, w, ws, nr, a, as, nc, out, os);
                for (int c = 0; c < COLS; c++)
                  for (size_t i = 0; i < os; i++)
                    {
                      const float v = out[c * os + i];
                      if (c >= nc || (int) i >= nr)
                        {
                          if (!isnan (v))
                            {
                              g_test_fail_printf ("%s tile (%s) %dx%d wrote outside the tile "
                                                  "at (%zu, %d)", sm_type_get_traits (t)->name,
                                                  sm_cpu_variant_name (kc->variant), nr, nc, i,
                                                  c);
                              return;
                            }
                          continue;
                        }
                      /* sm_gemm_tile_ref is the reference dot itself: bit for bit. */
                      const double tol = g == NULL && which == 0 ? 0 : 2e-5 * mag[c][i] + 1e-30;
                      if (!(fabs ((double) v - expect[c][i]) <= tol))
                        {
                          g_test_fail_printf ("%s tile (%s%s) %dx%d, n=%" G_GINT64_FORMAT
                                              ", %s weights, (%zu, %d): %.9g, ref %.9g "
                                              "(tolerance %.3g)", sm_type_get_traits (t)->name,
                                              sm_cpu_variant_name (kc->variant),
                                              g == NULL ? (which ? " dispatched" : " _ref") : "",
                                              nr, nc, n, data_names[kinds[k]], i, c, v,
                                              expect[c][i], tol);
                          return;
                        }
                    }
              }
      }
}

/* Wide batches for the 16-bit float tiles, whose kernels block tokens by 16 and 64 (the test
 * above stops at 11 columns): 70 tokens x 21 rows, an odd length spanning several chunks. */
static void
test_gemm_wide (gconstpointer data)
{
  const kernel_case *kc = data;
  const sm_type t = kc->type;
  enum { ROWS = 21, COLS = 70 };
  const int64_t n = 1031;

  if (!sm_cpu_variant_supported (kc->variant))
    {
      g_test_skip ("this CPU lacks the variant");
      return;
    }
  sm_gemm_tile_fn g
      = kc->gemm != NULL ? kc->gemm : sm_dispatch_gemm_tile_variant (t, kc->variant);
  if (g == NULL)
    {
      g_test_skip ("no tile kernel for this type in this variant");
      return;
    }
  sm_vec_dot_fn ref = sm_dispatch_vec_dot_variant (t, SM_CPU_VARIANT_REF);
  sm_activation_fn act = sm_dispatch_activation_variant (t, SM_CPU_VARIANT_REF);
  const size_t ws = (size_t) n * 2 + 46, as = (size_t) n * 2 + 18;
  g_autofree guint8 *w = g_malloc0 (ws * ROWS);
  g_autofree guint8 *a = g_malloc0 (as * COLS);
  g_autofree float *x = g_new (float, n);
  g_autofree float *out = g_new (float, COLS * (ROWS + 3));
  const size_t os = ROWS + 3;

  for (int i = 0; i < ROWS; i++)
    {
      fill (x, n, i % 3 ? DATA_NORMAL : DATA_OUTLIERS, 500 + i);
      g_assert_cmpuint (sm_quantize_row (t, x, w + i * ws, n, NULL), >, 0);
    }
  for (int c = 0; c < COLS; c++)
    {
      fill (x, n, c % 2 ? DATA_UNIFORM : DATA_NORMAL, 700 + c);
      act (x, a + c * as, n);
    }
  g_autofree float *wd = g_new (float, n * ROWS);
  g_autofree float *ad = g_new (float, n);
  g_autofree float *expects = g_new (float, COLS * ROWS);
  g_autofree double *mags = g_new0 (double, COLS * ROWS);
  for (int i = 0; i < ROWS; i++)
    g_assert_true (sm_dequantize_row (t, w + i * ws, wd + i * n, n));
  for (int c = 0; c < COLS; c++)
    {
      g_assert_true (sm_dequantize_row (sm_quant_vec_dot_type (t), a + c * as, ad, n));
      for (int i = 0; i < ROWS; i++)
        {
          expects[c * ROWS + i] = ref (n, w + i * ws, a + c * as);
          for (int64_t e = 0; e < n; e++)
            mags[c * ROWS + i] += fabs ((double) wd[i * n + e] * ad[e]);
        }
    }
  for (int nc = 1; nc <= COLS; nc += 23)
    for (int nr = 5; nr <= ROWS; nr += 16)
      {
        for (size_t e = 0; e < COLS * os; e++)
          out[e] = NAN;
        g (n, w, ws, nr, a, as, nc, out, os);
        for (int c = 0; c < COLS; c++)
          for (size_t i = 0; i < os; i++)
            {
              const float v = out[c * os + i];
              if (c >= nc || (int) i >= nr)
                {
                  if (!isnan (v))
                    {
                      g_test_fail_printf ("%dx%d wrote outside the tile at (%zu, %d)", nr, nc, i,
                                          c);
                      return;
                    }
                  continue;
                }
              const float expect = expects[c * ROWS + i];
              const double m = mags[c * ROWS + i];
              if (!(fabs ((double) v - expect) <= 2e-5 * m + 1e-30))
                {
                  g_test_fail_printf ("%s %dx%d at (%zu, %d): %.9g, ref %.9g",
                                      sm_type_get_traits (t)->name, nr, nc, i, c, v, expect);
                  return;
                }
            }
      }
}

#if defined(__x86_64__)
/* A random finite F16 bit pattern: kind 0 any exponent (subnormals, zero and 65504 included),
 * 1 subnormals and the smallest normals only, 2 magnitudes around 1. */
static guint16
hostile_f16 (rng *r, int kind)
{
  const guint16 sign = rng_uniform (r) < 0.5 ? 0x8000 : 0;
  const guint16 mant = (guint16) (rng_uniform (r) * 1024);
  int e;

  switch (kind)
    {
    case 0: e = (int) (rng_uniform (r) * 31); break;  /* 0 .. 30: never inf or NaN */
    case 1: e = (int) (rng_uniform (r) * 2); break;
    default: e = 13 + (int) (rng_uniform (r) * 4); break;
    }
  return (guint16) (sign | (e << 10) | mant);
}

/* F16 tiles on AMX through the exact BF16 split (sm_float_gemm_f16_amx, what the dispatch takes
 * for F16 where AMX-BF16 is usable) against a double-precision dot of the same F16 values, on
 * every finite F16 value class, with the FMA panel it replaces on the same data: each within
 * 2e-5 of the sum of |products|, and the split's total error no more than twice the panel's
 * (both sum exact products in float). Row counts 1, 7, 16, 21 (two blocks), batches of 1 .. 70
 * tokens around the 16- and 64-token tiles, odd element strides. */
static void
test_gemm_f16_split (void)
{
  sm_gemm_tile_fn amx = sm_dispatch_gemm_tile_variant (SM_TYPE_F16, SM_CPU_VARIANT_AVX512);
  enum { ROWS = 21, COLS = 70 };
  const int64_t lengths[] = { 1, 31, 33, 301 };
  const int nrs[] = { 1, 7, 16, 21 }, ncs[] = { 1, 2, 15, 16, 17, 40, 70 };
  double err_amx = 0, err_fma = 0;
  rng r = { 97531 };

  if (!sm_cpu_variant_supported (SM_CPU_VARIANT_AVX512) || amx == NULL
      || amx == sm_float_gemm_f16_avx512)
    {
      g_test_skip ("no AMX-BF16 here (or the process may not use the tiles)");
      return;
    }
  for (gsize li = 0; li < G_N_ELEMENTS (lengths); li++)
    for (int kind = 0; kind < 4; kind++)
      {
        const int64_t n = lengths[li];
        const size_t ws = 2 * (size_t) (n + 7), as = 2 * (size_t) (n + 3);
        g_autofree guint16 *w = g_new0 (guint16, ws / 2 * ROWS);
        g_autofree guint16 *a = g_new0 (guint16, as / 2 * COLS);
        g_autofree double *expect = g_new (double, ROWS * COLS);
        g_autofree double *mag = g_new (double, ROWS * COLS);
        g_autofree float *o1 = g_new (float, COLS * (ROWS + 5));
        g_autofree float *o2 = g_new (float, COLS * (ROWS + 5));

        /* kind 3: weights of every class against activations around 1, the others alike. */
        for (int i = 0; i < ROWS; i++)
          for (int64_t e = 0; e < n; e++)
            w[i * ws / 2 + e] = hostile_f16 (&r, kind == 3 ? 0 : kind);
        for (int c = 0; c < COLS; c++)
          for (int64_t e = 0; e < n; e++)
            a[c * as / 2 + e] = hostile_f16 (&r, kind == 3 ? 2 : kind);
        for (int c = 0; c < COLS; c++)
          for (int i = 0; i < ROWS; i++)
            {
              double s = 0, m = 0;
              for (int64_t e = 0; e < n; e++)
                {
                  const double p = (double) sm_half_to_float (w[i * ws / 2 + e])
                                   * sm_half_to_float (a[c * as / 2 + e]);
                  s += p;
                  m += fabs (p);
                }
              expect[c * ROWS + i] = s;
              mag[c * ROWS + i] = m;
            }
        for (gsize ri = 0; ri < G_N_ELEMENTS (nrs); ri++)
          for (gsize ci = 0; ci < G_N_ELEMENTS (ncs); ci++)
            {
              const int nr = nrs[ri], nc = ncs[ci];
              const size_t os = (size_t) nr + 5;
              for (size_t e = 0; e < COLS * (ROWS + 5); e++)
                o1[e] = o2[e] = NAN;
              amx (n, w, ws, nr, a, as, nc, o1, os);
              sm_float_gemm_f16_avx512 (n, w, ws, nr, a, as, nc, o2, os);
              for (int c = 0; c < COLS; c++)
                for (size_t i = 0; i < os; i++)
                  {
                    const float v1 = o1[c * os + i], v2 = o2[c * os + i];
                    if (c >= nc || (int) i >= nr)
                      {
                        if (!isnan (v1))
                          {
                            g_test_fail_printf ("f16 amx %dx%d wrote outside the tile at "
                                                "(%zu, %d)", nr, nc, i, c);
                            return;
                          }
                        continue;
                      }
                    const double x = expect[c * ROWS + i], m = mag[c * ROWS + i];
                    const double d1 = fabs ((double) v1 - x), d2 = fabs ((double) v2 - x);
                    if (!(d1 <= 2e-5 * m) || !(d2 <= 2e-5 * m))
                      {
                        g_test_fail_printf ("f16 %dx%d, n=%" G_GINT64_FORMAT ", data %d, (%zu, %d):"
                                            " amx %.9g, panel %.9g, exact %.9g (sum |p| %.3g)",
                                            nr, nc, n, kind, i, c, v1, v2, x, m);
                        return;
                      }
                    if (m > 0)
                      {
                        err_amx += d1 / m;
                        err_fma += d2 / m;
                      }
                  }
            }
      }
  g_test_message ("relative error, summed: amx split %.4g, fma panel %.4g", err_amx, err_fma);
  g_assert_cmpfloat (err_amx, <=, 2 * err_fma + 1e-12);
}
#endif

#if defined(__x86_64__)
/* ---- The AMX-INT8 tiles of Q8_0/Q4_0/IQ4_NL against the reference dot ----
 *
 * Raw blocks (any byte, so Q8_0 weights and activations reach -128 and 127), over lengths of
 * one block, a few blocks and past the kernel's 64-block chunk, with unaligned row strides;
 * every nr of {1, 7, 16, 23} against every nc of {1, 2, 15, 16, 17, 40} (partial and whole
 * 16-token groups). Three kinds of data: random bytes with small scales, extremes (all -128 or
 * all 127, the byte or nibble that maps furthest from zero) with the largest f16 scale, and
 * random bytes with random scales of both signs. Outside the tile the output must stay
 * untouched. Skipped where the CPU lacks AMX-INT8 (the dispatch then does not install the Q8_0
 * one). */
typedef struct
{
  sm_type         type;
  sm_gemm_tile_fn kernel;
} amx8_case;

static void
amx8_block (sm_type t, guint8 *blk, int kind, int salt, rng *r)
{
  const size_t bsz = t == SM_TYPE_Q8_0 ? 34 : 18;
  float d = (float) (0.002 + 0.01 * rng_uniform (r));

  if (kind == 1)
    d = 65504.0f;
  else if (kind == 2)
    d = (float) ((rng_uniform (r) - 0.5) * 8);
  const guint16 h = sm_fp32_to_fp16 (d);
  memcpy (blk, &h, 2);
  for (size_t i = 2; i < bsz; i++)
    {
      if (kind != 1)
        blk[i] = (guint8) (rng_uniform (r) * 256);
      else if (t == SM_TYPE_Q8_0)
        blk[i] = salt % 2 ? 0x80 : 0x7f;
      else
        blk[i] = salt % 2 ? 0x00 : 0xff;  /* q4_0: -8 / 7; iq4_nl: -127 / 113 */
    }
}

static void
test_gemm_amx8 (gconstpointer data)
{
  const amx8_case *cs = data;
  const sm_type t = cs->type;
  enum { ROWS = 23, COLS = 40 };
  const int64_t lengths[] = { 32, 96, 2048 + 96, 4096 };
  const int nrs[] = { 1, 7, 16, 23 }, ncs[] = { 1, 2, 15, 16, 17, 40 };
  rng r = { 777 + (guint64) t };

  /* The dispatch installs the Q8_0 one exactly when AMX-INT8 is usable. */
  if (sm_dispatch_gemm_tile_variant (SM_TYPE_Q8_0, SM_CPU_VARIANT_AVX512) != sm_gemm_q8_0_amx)
    {
      g_test_skip ("this CPU lacks AMX-INT8 (or Linux refused the tile registers)");
      return;
    }
  sm_vec_dot_fn ref = sm_dispatch_vec_dot_variant (t, SM_CPU_VARIANT_REF);
  for (gsize li = 0; li < G_N_ELEMENTS (lengths); li++)
    for (int kind = 0; kind < 3; kind++)
      {
        const int64_t n = lengths[li], nb = n / 32;
        const size_t wbs = t == SM_TYPE_Q8_0 ? 34 : 18;
        /* Strides that are no multiple of 4 or of a cache line (the reference reads its blocks as
         * structs, so they stay even). */
        const size_t ws = wbs * (size_t) nb + 6, as = 34 * (size_t) nb + 14;
        g_autofree guint8 *w = g_malloc0 (ws * ROWS);
        g_autofree guint8 *a = g_malloc0 (as * COLS);
        g_autofree float *wd = g_new (float, n * ROWS);
        g_autofree float *ad = g_new (float, n * COLS);
        g_autofree float *expect = g_new (float, ROWS * COLS);
        g_autofree double *mag = g_new0 (double, ROWS * COLS);
        const size_t os = ROWS + 3;
        g_autofree float *out = g_new (float, COLS * os);

        for (int i = 0; i < ROWS; i++)
          {
            for (int64_t b = 0; b < nb; b++)
              amx8_block (t, w + i * ws + b * wbs, kind, i + (int) b, &r);
            g_assert_true (sm_dequantize_row (t, w + i * ws, wd + i * n, n));
          }
        for (int c = 0; c < COLS; c++)
          {
            for (int64_t b = 0; b < nb; b++)
              amx8_block (SM_TYPE_Q8_0, a + c * as + b * 34, kind, c, &r);
            g_assert_true (sm_dequantize_row (SM_TYPE_Q8_0, a + c * as, ad + c * n, n));
          }
        for (int c = 0; c < COLS; c++)
          for (int i = 0; i < ROWS; i++)
            {
              expect[c * ROWS + i] = ref (n, w + i * ws, a + c * as);
              for (int64_t e = 0; e < n; e++)
                mag[c * ROWS + i] += fabs ((double) wd[i * n + e] * ad[c * n + e]);
            }
        for (gsize ri = 0; ri < G_N_ELEMENTS (nrs); ri++)
          for (gsize ci = 0; ci < G_N_ELEMENTS (ncs); ci++)
            {
              const int nr = nrs[ri], nc = ncs[ci];
              for (size_t e = 0; e < COLS * os; e++)
                out[e] = NAN;
              cs->kernel (n, w, ws, nr, a, as, nc, out, os);
              for (int c = 0; c < COLS; c++)
                for (size_t i = 0; i < os; i++)
                  {
                    const float v = out[c * os + i];
                    if (c >= nc || (int) i >= nr)
                      {
                        if (!isnan (v))
                          {
                            g_test_fail_printf ("%s AMX tile %dx%d wrote outside the tile at "
                                                "(%zu, %d)", sm_type_get_traits (t)->name, nr,
                                                nc, i, c);
                            return;
                          }
                        continue;
                      }
                    const double want = expect[c * ROWS + i];
                    const double tol = 2e-6 * mag[c * ROWS + i] + 1e-30;
                    if (!(fabs ((double) v - want) <= tol))
                      {
                        g_test_fail_printf ("%s AMX tile %dx%d, n=%" G_GINT64_FORMAT
                                            ", data %d, (%zu, %d): %.9g, ref %.9g (tolerance "
                                            "%.3g)", sm_type_get_traits (t)->name, nr, nc, n,
                                            kind, i, c, v, want, tol);
                        return;
                      }
                  }
            }
      }
}

#endif

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/quant/fp16/known", test_fp16_known);
  g_test_add_func ("/quant/bf16/known", test_bf16_known);
  g_test_add_func ("/quant/golden/decode", test_golden_decode);
  g_test_add_func ("/quant/golden/encode", test_golden_encode);
  g_test_add_func ("/quant/golden/llama-bytes", test_golden_llama_bytes);
  g_test_add_func ("/quant/api", test_api);
  g_test_add_func ("/quant/nonfinite", test_nonfinite);
  g_test_add_func ("/quant/dispatch", test_dispatch);

  for (gsize i = 0; i < G_N_ELEMENTS (formats); i++)
    {
      const char *name = sm_type_get_traits (formats[i].type)->name;
      g_autofree char *p1 = g_strdup_printf ("/quant/roundtrip/%s", name);
      g_autofree char *p2 = g_strdup_printf ("/quant/importance/%s", name);
      g_test_add_data_func (p1, &formats[i], test_roundtrip);
      g_test_add_data_func (p2, &formats[i], test_importance);
    }

  static kernel_case cases[SM_CPU_VARIANT_COUNT][G_N_ELEMENTS (dot_types)];
  for (int v = 0; v < SM_CPU_VARIANT_COUNT; v++)
    for (gsize i = 0; i < G_N_ELEMENTS (dot_types); i++)
      {
        cases[v][i] = (kernel_case) { dot_types[i], v, NULL, NULL };
        g_autofree char *p = g_strdup_printf ("/quant/dot/%s/%s", sm_cpu_variant_name (v),
                                              sm_type_get_traits (dot_types[i])->name);
        g_test_add_data_func (p, &cases[v][i], test_dot);
        g_autofree char *pg = g_strdup_printf ("/quant/gemm/%s/%s", sm_cpu_variant_name (v),
                                               sm_type_get_traits (dot_types[i])->name);
        g_test_add_data_func (pg, &cases[v][i], test_gemm);
      }

#if defined(__x86_64__)
  /* The AVX-512 BF16 dot for CPUs without avx512_bf16 (this one may have it). */
  static const kernel_case bf16_shift = { SM_TYPE_BF16, SM_CPU_VARIANT_AVX512,
                                          sm_float_dot_bf16_avx512, NULL };
  g_test_add_data_func ("/quant/dot/avx512/bf16-no-avx512bf16", &bf16_shift, test_dot);
  /* The BF16 float panel, which CPUs with AMX (where the dispatch takes the AMX tiles) skip. */
  static const kernel_case bf16_panel = { SM_TYPE_BF16, SM_CPU_VARIANT_AVX512, NULL,
                                          sm_float_gemm_bf16_avx512 };
  g_test_add_data_func ("/quant/gemm/avx512/bf16-no-amx", &bf16_panel, test_gemm);
  g_test_add_data_func ("/quant/gemm-wide/avx512/bf16-no-amx", &bf16_panel, test_gemm_wide);
  /* The F16 float panel, which CPUs with AMX (F16 by the exact split) skip. */
  static const kernel_case f16_panel = { SM_TYPE_F16, SM_CPU_VARIANT_AVX512, NULL,
                                         sm_float_gemm_f16_avx512 };
  g_test_add_data_func ("/quant/gemm/avx512/f16-no-amx", &f16_panel, test_gemm);
  g_test_add_data_func ("/quant/gemm-wide/avx512/f16-no-amx", &f16_panel, test_gemm_wide);
  g_test_add_func ("/quant/gemm-split/avx512/f16-amx", test_gemm_f16_split);
  static const kernel_case wide_f16 = { SM_TYPE_F16, SM_CPU_VARIANT_AVX512, NULL, NULL };
  static const kernel_case wide_bf16 = { SM_TYPE_BF16, SM_CPU_VARIANT_AVX512, NULL, NULL };
  g_test_add_data_func ("/quant/gemm-wide/avx512/f16", &wide_f16, test_gemm_wide);
  g_test_add_data_func ("/quant/gemm-wide/avx512/bf16", &wide_bf16, test_gemm_wide);
  static const kernel_case wide_f16_avx2 = { SM_TYPE_F16, SM_CPU_VARIANT_AVX2, NULL, NULL };
  static const kernel_case wide_bf16_avx2 = { SM_TYPE_BF16, SM_CPU_VARIANT_AVX2, NULL, NULL };
  g_test_add_data_func ("/quant/gemm-wide/avx2/f16", &wide_f16_avx2, test_gemm_wide);
  g_test_add_data_func ("/quant/gemm-wide/avx2/bf16", &wide_bf16_avx2, test_gemm_wide);
  /* The AMX-INT8 tiles (skipped without AMX-INT8), and the VNNI panels they replace there. */
  static const amx8_case amx8[] = { { SM_TYPE_Q8_0, sm_gemm_q8_0_amx },
                                    { SM_TYPE_Q4_0, sm_gemm_q4_0_amx },
                                    { SM_TYPE_IQ4_NL, sm_gemm_iq4_nl_amx } };
  for (gsize i = 0; i < G_N_ELEMENTS (amx8); i++)
    {
      g_autofree char *p = g_strdup_printf ("/quant/gemm-amx8/%s",
                                            sm_type_get_traits (amx8[i].type)->name);
      g_test_add_data_func (p, &amx8[i], test_gemm_amx8);
    }
  static sm_gemm_tile_fn vnni[SM_TYPE_COUNT];
  sm_quant_fill_gemm_avx512 (vnni);
  static kernel_case vnni_q8_0;
  vnni_q8_0 = (kernel_case) { SM_TYPE_Q8_0, SM_CPU_VARIANT_AVX512, NULL, vnni[SM_TYPE_Q8_0] };
  g_test_add_data_func ("/quant/gemm/avx512/q8_0-no-amx", &vnni_q8_0, test_gemm);
#endif

  return g_test_run ();
}
