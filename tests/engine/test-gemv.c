/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-gemv.c: the multi-row kernels for one activation row (sm_gemv_fn, the generation path of
 * sm-model.c) against the reference dot product of every row: every CPU variant this machine
 * has, every type with an encoder, row counts that leave every group tail (1 .. 37 rows), row
 * lengths with partial groups of blocks and more blocks than one pass prepares, padded row
 * strides, and no write past the last row. For the K types, hostile blocks written byte by byte
 * (random or all-ones codes and scale bytes, the largest and smallest f16 super-scales, negative
 * ones) against hand-made Q8_K rows of all -128, all 127, alternating and random codes.
 */
#include <glib.h>
#include <math.h>
#include <string.h>

#include "sm-dispatch.h"
#include "sm-quant.h"
#include "sm-quant-blocks.h"
#include "sm-types.h"
#if defined(__x86_64__) || defined(__i386__)
#include "arch/sm-gemv-walk.h"
#endif

typedef struct
{
  sm_type        type;
  sm_cpu_variant variant;
} gemv_case;

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

/* kind 0: N(0, 1); 1: N(0, 0.02) with outliers; 2: N(0, 1e3); 3: zero; 4: N(0, 1e-3);
 * the float types (F16, BF16) also get 5: random signs and exponents over all of F16's range,
 * 2^-26 (below its smallest subnormal) to just under its largest finite value 65504, and 6:
 * magnitudes 2^-140 .. 2^-100 (BF16 subnormals and the smallest normals; zero in F16). */
static void
fill (float *x, int64_t n, int kind, guint64 seed)
{
  rng r = { seed * 7919 + (guint64) kind };
  for (int64_t i = 0; i < n; i++)
    {
      double v = rng_normal (&r);
      if (kind == 5 || kind == 6)
        {
          const int e = kind == 5 ? -26 + (int) (rng_uniform (&r) * 42)
                                  : -140 + (int) (rng_uniform (&r) * 41);
          v = ldexp (1.0 + 0.99 * rng_uniform (&r), e) * (rng_uniform (&r) < 0.5 ? -1 : 1);
        }
      switch (kind)
        {
        case 1: v *= 0.02 * (i % 97 == 13 ? 50 : 1); break;
        case 2: v *= 1e3; break;
        case 3: v = 0; break;
        case 4: v *= 1e-3; break;
        default: break;
        }
      x[i] = (float) v;
    }
}

static const sm_type gemv_types[] = {
  SM_TYPE_F16, SM_TYPE_BF16, SM_TYPE_Q8_0, SM_TYPE_Q4_0, SM_TYPE_Q4_1, SM_TYPE_Q5_0,
  SM_TYPE_Q5_1, SM_TYPE_Q2_K, SM_TYPE_Q3_K, SM_TYPE_Q4_K, SM_TYPE_Q5_K, SM_TYPE_Q6_K,
  SM_TYPE_IQ4_NL, SM_TYPE_IQ4_XS,
};

static void
test_gemv (gconstpointer data)
{
  const gemv_case *gc = data;
  const sm_type t = gc->type;
  const sm_type at = sm_quant_vec_dot_type (t);
  const int64_t blk = sm_type_get_traits (t)->blck_size;
  enum { ROWS = 37, PAD = 3 };

  if (!sm_cpu_variant_supported (gc->variant))
    {
      g_test_skip ("this CPU lacks the variant");
      return;
    }
  sm_gemv_fn g = sm_dispatch_gemv_variant (t, gc->variant);
  if (gc->variant == SM_CPU_VARIANT_REF)
    g_assert_null (g);
  sm_vec_dot_fn ref = sm_dispatch_vec_dot_variant (t, SM_CPU_VARIANT_REF);
  sm_activation_fn act = sm_dispatch_activation_variant (t, SM_CPU_VARIANT_REF);
  g_assert_nonnull (ref);
  g_assert_nonnull (act);
  /* 1, 3 and 5 blocks (partial groups of four), a long row, and for the 32-element formats one
   * longer than a pass of 256 blocks with a partial group at its end; the float types (block
   * of 1) get rows with every tail of the 16-, 32- and 64-element steps. */
  const bool is_float = blk == 1;
  const int64_t lengths[] = { blk, 3 * blk, is_float ? 59 : 5 * blk,
                              blk == 32 ? 129 * 32 : is_float ? 4096 + 125 : 17 * blk,
                              blk == 32 ? 302 * 32 : is_float ? 2048 : 2 * blk };
  const int nrs[] = { 1, 2, 3, 4, 5, 7, 8, 9, 16, 21, 37 };

  for (gsize li = 0; li < G_N_ELEMENTS (lengths); li++)
    for (int kind = 0; kind < (is_float ? 7 : 5); kind++)
      {
        const int64_t n = lengths[li];
        const size_t ws = (sm_type_row_size (t, n) + 31) / 16 * 16;
        g_autofree guint8 *w = g_malloc0 (ws * ROWS);
        g_autofree guint8 *a = g_malloc0 (sm_type_row_size (at, n) + 64);
        g_autofree float *x = g_new (float, n);
        g_autofree float *wd = g_new (float, n);
        g_autofree float *ad = g_new (float, n);
        float expect[ROWS];
        double mag[ROWS];

        fill (x, n, kind == 3 ? 0 : kind >= 5 ? kind : (kind + 1) % 5, 77 + li);
        act (x, a, n);
        g_assert_true (sm_dequantize_row (at, a, ad, n));
        for (int i = 0; i < ROWS; i++)
          {
            fill (x, n, kind, 300 + 17 * li + (guint64) i);
            g_assert_cmpuint (sm_quantize_row (t, x, w + i * ws, n, NULL), >, 0);
            g_assert_true (sm_dequantize_row (t, w + i * ws, wd, n));
            expect[i] = ref (n, w + i * ws, a);
            mag[i] = 0;
            for (int64_t e = 0; e < n; e++)
              mag[i] += fabs ((double) wd[e] * ad[e]);
          }

        for (gsize ri = 0; ri < G_N_ELEMENTS (nrs); ri++)
          for (int which = 0; which < 3; which++)
            {
              const int nr = nrs[ri];
              float out[ROWS + PAD];
              /* which 0: the variant's kernel (skipped where it has none); 1: sm_gemv_ref;
               * 2: the dispatched sm_gemv. */
              if (which == 0 && g == NULL)
                continue;
              for (gsize e = 0; e < G_N_ELEMENTS (out); e++)
                out[e] = NAN;
              if (which == 0)
                g (n, w, ws, nr, a, out);
              else if (which == 1)
                sm_gemv_ref (t, n, w, ws, nr, a, out);
              else
                sm_gemv (t, n, w, ws, nr, a, out);
              for (int i = 0; i < nr + PAD; i++)
                {
                  if (i >= nr)
                    {
                      if (!isnan (out[i]))
                        {
                          g_test_fail_printf ("%s gemv (%s) of %d rows wrote row %d",
                                              sm_type_get_traits (t)->name,
                                              sm_cpu_variant_name (gc->variant), nr, i);
                          return;
                        }
                      continue;
                    }
                  /* sm_gemv_ref is the reference dot itself: bit for bit. */
                  const double tol = which == 1 ? 0 : 2e-5 * mag[i] + 1e-30;
                  if (!(fabs ((double) out[i] - expect[i]) <= tol))
                    {
                      g_test_fail_printf ("%s gemv (%s, %s) %d rows, n=%" G_GINT64_FORMAT
                                          ", data %d, row %d: %.9g, ref %.9g (tolerance %.3g)",
                                          sm_type_get_traits (t)->name,
                                          sm_cpu_variant_name (gc->variant),
                                          which == 0 ? "kernel" : which == 1 ? "_ref" : "dispatched",
                                          nr, n, kind, i, out[i], expect[i], tol);
                      return;
                    }
                }
            }
      }
}

/* K types with a multi-row kernel: raw blocks, every code and scale byte allowed. */
static const sm_type hostile_types[] = { SM_TYPE_Q4_K, SM_TYPE_Q5_K, SM_TYPE_Q6_K };

/* Superscales written into the blocks: 1, -1, the largest finite f16, the smallest
 * subnormal, 2^-10. */
static const sm_half hostile_d[] = { 0x3C00, 0xBC00, 0x7BFF, 0x0001, 0x1400 };

static void
hostile_block (sm_type t, guint8 *b, rng *r, int mode, int bi)
{
  const size_t bs = sm_type_row_size (t, SM_QK_K);
  for (size_t k = 0; k < bs; k++)
    b[k] = mode == 0 ? (guint8) (rng_uniform (r) * 256) : 0xFF;
  const sm_half d = hostile_d[(bi + mode) % G_N_ELEMENTS (hostile_d)];
  const sm_half dm = hostile_d[(bi + 2 * mode + 1) % G_N_ELEMENTS (hostile_d)];
  if (t == SM_TYPE_Q6_K)
    {
      sm_block_q6_K *x = (sm_block_q6_K *) b;
      x->d = d;
      if (mode == 2)
        memset (x->scales, 0x80, sizeof x->scales); /* -128 */
    }
  else
    {
      /* Q4_K and Q5_K both begin with d, dmin. */
      memcpy (b, &d, 2);
      memcpy (b + 2, &dm, 2);
    }
}

static void
hostile_activation (guint8 *a, int64_t nb, rng *r, int mode)
{
  for (int64_t i = 0; i < nb; i++)
    {
      sm_block_q8_K *y = (sm_block_q8_K *) (a + i * sizeof (sm_block_q8_K));
      y->d = mode == 3 ? 1e-3f : 1.0f;
      for (int k = 0; k < SM_QK_K; k++)
        y->qs[k] = (int8_t) (mode == 0   ? -128
                             : mode == 1 ? 127
                             : mode == 2 ? (k & 1 ? 127 : -128)
                                         : (int) (rng_uniform (r) * 256) - 128);
      for (int s = 0; s < SM_QK_K / 16; s++)
        {
          int sum = 0;
          for (int k = 0; k < 16; k++)
            sum += y->qs[16 * s + k];
          y->bsums[s] = (int16_t) sum;
        }
    }
}

static void
test_gemv_hostile (gconstpointer data)
{
  const gemv_case *gc = data;
  const sm_type t = gc->type;
  enum { ROWS = 13 };

  if (!sm_cpu_variant_supported (gc->variant))
    {
      g_test_skip ("this CPU lacks the variant");
      return;
    }
  sm_gemv_fn g = sm_dispatch_gemv_variant (t, gc->variant);
  sm_vec_dot_fn ref = sm_dispatch_vec_dot_variant (t, SM_CPU_VARIANT_REF);
  g_assert_cmpint (sm_quant_vec_dot_type (t), ==, SM_TYPE_Q8_K);
  if (g == NULL)
    {
      g_test_skip ("no multi-row kernel for this type in this variant");
      return;
    }
  const int64_t n = 33 * SM_QK_K; /* more super-blocks than one pass prepares */
  const int64_t nb = n / SM_QK_K;
  const size_t ws = sm_type_row_size (t, n);
  g_autofree guint8 *w = g_malloc0 (ws * ROWS);
  g_autofree guint8 *a = g_malloc0 (nb * sizeof (sm_block_q8_K));
  g_autofree float *wd = g_new (float, n);
  rng r = { 4242 };

  for (int wmode = 0; wmode < 3; wmode++)
    for (int amode = 0; amode < 4; amode++)
      {
        hostile_activation (a, nb, &r, amode);
        for (int i = 0; i < ROWS; i++)
          for (int64_t bi = 0; bi < nb; bi++)
            hostile_block (t, w + i * ws + bi * sm_type_row_size (t, SM_QK_K), &r, wmode,
                           (int) bi + i);
        const int nrs[] = { 1, 3, 4, 5, ROWS };
        for (gsize ri = 0; ri < G_N_ELEMENTS (nrs); ri++)
          {
            float out[ROWS + 1];
            for (gsize e = 0; e < G_N_ELEMENTS (out); e++)
              out[e] = NAN;
            g (n, w, ws, nrs[ri], a, out);
            g_assert_true (isnan (out[nrs[ri]]));
            for (int i = 0; i < nrs[ri]; i++)
              {
                const float expect = ref (n, w + i * ws, a);
                g_assert_true (sm_dequantize_row (t, w + i * ws, wd, n));
                double mag = 0;
                for (int64_t e = 0; e < n; e++)
                  {
                    const sm_block_q8_K *y
                        = (const sm_block_q8_K *) (a + (e / SM_QK_K) * sizeof (sm_block_q8_K));
                    mag += fabs ((double) wd[e] * y->d * y->qs[e % SM_QK_K]);
                  }
                if (!(fabs ((double) out[i] - expect) <= 2e-5 * mag + 1e-30))
                  {
                    g_test_fail_printf ("%s gemv (%s) hostile w %d a %d, %d rows, row %d: %.9g, "
                                        "ref %.9g (magnitude %.3g)",
                                        sm_type_get_traits (t)->name,
                                        sm_cpu_variant_name (gc->variant), wmode, amode,
                                        nrs[ri], i, out[i], expect, mag);
                    return;
                  }
              }
          }
      }
}

/* IQ4_XS kernels on hostile bytes no quantizer writes: every 6-bit scale at its extremes
 * (-32 and 31) or random, random codes, large and tiny f16 super-scales, and Q8_K activations
 * made only of -128 and 127 (or random bytes), with their bsums recomputed. Each kernel must
 * match the reference dot within rounding, for odd row counts and several lengths. */
static void
test_gemv_iq4_xs_hostile (gconstpointer data)
{
  const sm_cpu_variant v = (sm_cpu_variant) GPOINTER_TO_INT (data);
  enum { ROWS = 13, BLK = 136, QBLK = 4 + 256 + 32 };

  if (!sm_cpu_variant_supported (v))
    {
      g_test_skip ("this CPU lacks the variant");
      return;
    }
  sm_gemv_fn g = sm_dispatch_gemv_variant (SM_TYPE_IQ4_XS, v);
  if (g == NULL)
    {
      g_test_skip ("no IQ4_XS kernel in this variant");
      return;
    }
  sm_vec_dot_fn ref = sm_dispatch_vec_dot_variant (SM_TYPE_IQ4_XS, SM_CPU_VARIANT_REF);
  g_assert_cmpuint (sm_type_row_size (SM_TYPE_IQ4_XS, 256), ==, BLK);
  g_assert_cmpuint (sm_type_row_size (SM_TYPE_Q8_K, 256), ==, QBLK);
  const guint16 d_choices[] = { 0x3c00 /* 1 */, 0x7bff /* 65504 */, 0xfbff /* -65504 */,
                                0x0001 /* smallest subnormal */, 0xb800 /* -0.5 */ };
  rng r = { 12345 };

  for (int nsb = 1; nsb <= 33; nsb += 16)
    for (int mode = 0; mode < 4; mode++)
      {
        const int64_t n = 256 * (int64_t) nsb;
        /* rows 2-byte aligned (the block structs need it) but not 4, 16 or 64 */
        const size_t ws = (size_t) nsb * BLK + 2;
        g_autofree guint8 *w = g_malloc0 (ws * ROWS);
        g_autofree guint8 *a = g_malloc0 ((size_t) nsb * QBLK);
        g_autofree float *wd = g_new (float, n);
        g_autofree float *ad = g_new (float, n);

        for (int s = 0; s < nsb; s++)
          {
            guint8 *q = a + (size_t) s * QBLK;
            const float d = mode == 3 ? 1e-3f : 1.0f / 127;
            int8_t qs[256];
            int16_t bsums[16] = { 0 };
            memcpy (q, &d, 4);
            for (int e = 0; e < 256; e++)
              {
                const guint64 x = (guint64) (rng_uniform (&r) * 4096);
                qs[e] = (int8_t) (mode == 2 ? (int) (x & 255) - 128 : (x & 1) ? 127 : -128);
                bsums[e / 16] = (int16_t) (bsums[e / 16] + qs[e]);
              }
            memcpy (q + 4, qs, 256);
            memcpy (q + 260, bsums, 32);
          }
        for (int i = 0; i < ROWS; i++)
          for (int s = 0; s < nsb; s++)
            {
              guint8 *b = w + (size_t) i * ws + (size_t) s * BLK;
              for (int k = 0; k < BLK; k++)
                b[k] = (guint8) (rng_uniform (&r) * 256);
              /* mode 0: all scales 31; mode 1: all -32; else random bits. */
              if (mode == 0)
                memset (b + 2, 0xFF, 6);
              else if (mode == 1)
                memset (b + 2, 0x00, 6);
              const guint16 d = mode == 3 ? d_choices[(i + s) % G_N_ELEMENTS (d_choices)]
                                          : (i % 2 ? 0x3c00 : 0xb800);
              memcpy (b, &d, 2);
            }
        g_assert_true (sm_dequantize_row (SM_TYPE_Q8_K, a, ad, n));

        for (int nr = 1; nr <= ROWS; nr += 2)
          {
            float out[ROWS + 1];
            for (int e = 0; e <= ROWS; e++)
              out[e] = NAN;
            g (n, w, ws, nr, a, out);
            g_assert_true (isnan (out[nr]));
            for (int i = 0; i < nr; i++)
              {
                const float expect = ref (n, w + (size_t) i * ws, a);
                double mag = 0;
                g_assert_true (sm_dequantize_row (SM_TYPE_IQ4_XS, w + (size_t) i * ws, wd, n));
                for (int64_t e = 0; e < n; e++)
                  mag += fabs ((double) wd[e] * ad[e]);
                if (!(fabs ((double) out[i] - expect) <= 2e-5 * mag + 1e-30))
                  {
                    g_test_fail_printf ("iq4_xs gemv (%s) hostile mode %d, n=%" G_GINT64_FORMAT
                                        ", %d rows, row %d: %.9g, ref %.9g",
                                        sm_cpu_variant_name (v), mode, n, nr, i, out[i], expect);
                    return;
                  }
              }
          }
      }
}

#if defined(__x86_64__) || defined(__i386__)
/* The order the x86 kernels read a call's rows in (arch/sm-gemv-walk.h): every row once, each
 * lane of the runs' passes one ascending run of consecutive rows, and the runs' prefetch
 * distance; calls of 2 GiB and more fall back to adjacent passes. */
static void
test_gemv_walk (void)
{
  for (int R = 2; R <= 4; R += 2)
    for (int64_t nr = 1; nr <= 101; nr++)
      {
        const sm_gemv_walk w = sm_gemv_walk_init (nr, 1152, R);
        g_autofree int *seen = g_new0 (int, nr);
        g_autofree uint8_t *base = g_malloc (nr * 1152);
        int64_t last[4] = { -1, -1, -1, -1 };

        g_assert_cmpint (w.q, ==, nr / R);
        g_assert_cmpint (sm_gemv_walk_passes (&w), ==, (nr + R - 1) / R);
        for (int64_t g = 0; g < sm_gemv_walk_passes (&w); g++)
          {
            const uint8_t *rows[4];
            int64_t ri[4];
            const int used = sm_gemv_walk_pass (&w, g, base, rows, ri);
            g_assert_cmpint (used, ==, g < w.q ? R : nr - w.q * R);
            g_assert_cmpuint (sm_gemv_walk_ahead (&w, g), ==,
                              g < w.q ? (size_t) SM_GEMV_STREAM_AHEAD : (size_t) R * 1152);
            for (int i = 0; i < used; i++)
              {
                g_assert_true (sm_gemv_walk_lane_used (&w, g, i));
                g_assert_cmpint (ri[i], ==, sm_gemv_walk_row (&w, g, i));
                g_assert_true (rows[i] == base + ri[i] * 1152);
                g_assert_cmpint (ri[i], >=, 0);
                g_assert_cmpint (ri[i], <, nr);
                seen[ri[i]]++;
                if (g < w.q)
                  {
                    /* Lane i walks run i: rows i q, i q + 1, ... */
                    g_assert_cmpint (ri[i], ==, last[i] < 0 ? i * w.q : last[i] + 1);
                    last[i] = ri[i];
                  }
              }
            for (int i = used; i < R; i++)
              {
                /* An unused lane of the last pass repeats a row that exists. */
                g_assert_false (sm_gemv_walk_lane_used (&w, g, i));
                g_assert_cmpint (sm_gemv_walk_row (&w, g, i), ==, nr - 1);
              }
          }
        for (int64_t r = 0; r < nr; r++)
          g_assert_cmpint (seen[r], ==, 1);
      }
  const sm_gemv_walk big = sm_gemv_walk_init ((int64_t) 1 << 21, 1024, 4);
  g_assert_cmpint (big.q, ==, 0);
  g_assert_cmpint (sm_gemv_walk_row (&big, 3, 2), ==, 14);
}
#endif

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#if defined(__x86_64__) || defined(__i386__)
  g_test_add_func ("/quant/gemv/walk", test_gemv_walk);
#endif

  static gemv_case cases[SM_CPU_VARIANT_COUNT][G_N_ELEMENTS (gemv_types)];
  for (int v = 0; v < SM_CPU_VARIANT_COUNT; v++)
    for (gsize i = 0; i < G_N_ELEMENTS (gemv_types); i++)
      {
        cases[v][i] = (gemv_case) { gemv_types[i], v };
        g_autofree char *p = g_strdup_printf ("/quant/gemv/%s/%s", sm_cpu_variant_name (v),
                                              sm_type_get_traits (gemv_types[i])->name);
        g_test_add_data_func (p, &cases[v][i], test_gemv);
      }
  static gemv_case hcases[SM_CPU_VARIANT_COUNT][G_N_ELEMENTS (hostile_types)];
  for (int v = 0; v < SM_CPU_VARIANT_COUNT; v++)
    for (gsize i = 0; i < G_N_ELEMENTS (hostile_types); i++)
      {
        hcases[v][i] = (gemv_case) { hostile_types[i], v };
        g_autofree char *p = g_strdup_printf ("/quant/gemv-hostile/%s/%s", sm_cpu_variant_name (v),
                                              sm_type_get_traits (hostile_types[i])->name);
        g_test_add_data_func (p, &hcases[v][i], test_gemv_hostile);
      }
  for (int v = 0; v < SM_CPU_VARIANT_COUNT; v++)
    {
      g_autofree char *p = g_strdup_printf ("/quant/gemv/hostile/%s/iq4_xs",
                                            sm_cpu_variant_name (v));
      g_test_add_data_func (p, GINT_TO_POINTER (v), test_gemv_iq4_xs_hostile);
    }
  return g_test_run ();
}
