/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-gemv.c: the multi-row kernels for one activation row (sm_gemv_fn, the generation path of
 * sm-model.c) against the reference dot product of every row: every CPU variant this machine
 * has, every type with an encoder, row counts that leave every group tail (1 .. 37 rows), row
 * lengths with partial groups of blocks and more blocks than one pass prepares, padded row
 * strides, and no write past the last row.
 */
#include <glib.h>
#include <math.h>
#include <string.h>

#include "sm-dispatch.h"
#include "sm-quant.h"
#include "sm-types.h"

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

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  static gemv_case cases[SM_CPU_VARIANT_COUNT][G_N_ELEMENTS (gemv_types)];
  for (int v = 0; v < SM_CPU_VARIANT_COUNT; v++)
    for (gsize i = 0; i < G_N_ELEMENTS (gemv_types); i++)
      {
        cases[v][i] = (gemv_case) { gemv_types[i], v };
        g_autofree char *p = g_strdup_printf ("/quant/gemv/%s/%s", sm_cpu_variant_name (v),
                                              sm_type_get_traits (gemv_types[i])->name);
        g_test_add_data_func (p, &cases[v][i], test_gemv);
      }
  return g_test_run ();
}
