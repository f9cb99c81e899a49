/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-quant-fast.c: the SIMD quantizers of the model quantizer (sm-quant-fast.h: Q8_0, Q4_0,
 * Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS) against the scalar references of sm-quant-ref.c, byte for
 * byte, for every CPU variant this machine has: rows of normal, uniform, outlier, all-zero,
 * tiny, huge, all-positive, all-negative, constant, sparse, subnormal, exact half-integer
 * (rounding ties) and equal-magnitude data, rows mixing those per 16 elements (sub-blocks of one
 * super-block with wildly different scales, some zero or constant), odd super-block counts (the
 * last SIMD step is partly empty), with and without importance weights (including weights with
 * zeros), and rows with NaN or infinities. Variants the CPU lacks are skipped.
 */
#include <glib.h>
#include <math.h>
#include <string.h>

#include "sm-quant.h"
#include "sm-quant-fast.h"

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

enum
{
  K_NORMAL, K_UNIFORM, K_OUTLIERS, K_ZERO, K_TINY, K_HUGE, K_SHIFTED, K_CONST, K_SPARSE,
  K_NEGATIVE, K_SUBNORMAL, K_HALVES, K_TIES, K_MIXED, K_COUNT
};

static const char *const kind_names[K_COUNT] = {
  "normal", "uniform", "outliers", "zero", "tiny", "huge", "shifted", "constant", "sparse",
  "negative", "subnormal", "halves", "ties", "mixed",
};

static float
value (int kind, int64_t i, rng *r)
{
  switch (kind)
    {
    case K_NORMAL: return (float) rng_normal (r);
    case K_UNIFORM: return (float) (2 * rng_uniform (r) - 1);
    case K_OUTLIERS: return (float) (0.02 * rng_normal (r) * (i % 97 == 13 ? 50 : 1));
    case K_ZERO: return 0.f;
    case K_TINY: return (float) (1e-3 * rng_normal (r));
    case K_HUGE: return (float) (1e3 * rng_normal (r));
    case K_SHIFTED: return (float) (0.5 + rng_uniform (r));
    case K_CONST: return 0.25f;
    case K_SPARSE: return rng_uniform (r) < 0.9 ? 0.f : (float) rng_normal (r);
    case K_NEGATIVE: return (float) (-0.5 - rng_uniform (r));
    case K_SUBNORMAL: return (float) (1e-20 * rng_normal (r));
    case K_HALVES: /* scale exactly 1 for Q8_0: every code is a rounding tie or an integer */
      return i % 32 == 5 ? 127.f : (float) ((int) (rng_uniform (r) * 255) - 127) / 2;
    case K_TIES: /* equal magnitudes of both signs: which one sets the scale matters */
      return (float) ((int) (rng_uniform (r) * 5) - 2) / 2;
    default: g_assert_not_reached ();
    }
}

/* K_MIXED: every run of 16 elements takes another kind (so sub-blocks of one super-block differ
 * wildly in scale, some are all zero or constant). */
static void
fill (float *x, int64_t n, int kind, guint64 seed)
{
  rng r = { seed * 7919 + (guint64) kind };
  int k = kind;

  for (int64_t i = 0; i < n; i++)
    {
      if (kind == K_MIXED && i % 16 == 0)
        k = (int) (rng_uniform (&r) * K_MIXED);
      x[i] = value (k, i, &r);
    }
}

static void
fill_weights (float *w, int64_t n, int style, guint64 seed)
{
  rng r = { seed * 31 + 7 };

  for (int64_t i = 0; i < n; i++)
    switch (style)
      {
      case 0: w[i] = (float) rng_uniform (&r); break;
      case 1: w[i] = (float) (i % 8 == 0 ? 100 * rng_uniform (&r) : 0.01 * rng_uniform (&r)); break;
      default: w[i] = rng_uniform (&r) < 0.3 ? 0.f : (float) (10 * rng_uniform (&r)); break;
      }
}

typedef struct
{
  sm_type        type;
  sm_quantize_fn ref;
  sm_cpu_variant variant;
} fast_case;

static const struct
{
  sm_type        type;
  sm_quantize_fn ref;
} fast_types[] = {
  { SM_TYPE_Q8_0, sm_quantize_row_q8_0_ref },
  { SM_TYPE_Q4_0, sm_quantize_row_q4_0_ref },
  { SM_TYPE_Q4_K, sm_quantize_row_q4_K_ref },
  { SM_TYPE_Q5_K, sm_quantize_row_q5_K_ref },
  { SM_TYPE_Q6_K, sm_quantize_row_q6_K_ref },
  { SM_TYPE_IQ4_NL, sm_quantize_row_iq4_nl_ref },
  { SM_TYPE_IQ4_XS, sm_quantize_row_iq4_xs_ref },
};

static void
compare (const fast_case *c, sm_quantize_fn fn, const float *x, const float *w, int64_t n,
         const char *what)
{
  const size_t sz = sm_type_row_size (c->type, n);
  g_autofree guint8 *a = g_malloc (sz + 1);
  g_autofree guint8 *b = g_malloc (sz + 1);

  memset (a, 0x5A, sz + 1);
  memset (b, 0xC3, sz + 1);
  c->ref (x, a, n, w);
  fn (x, b, n, w);
  g_assert_cmpuint (b[sz], ==, 0xC3); /* nothing written past the row */
  for (size_t i = 0; i < sz; i++)
    if (a[i] != b[i])
      {
        g_test_fail_printf ("%s/%s, %s, n=%" G_GINT64_FORMAT ": byte %zu of %zu differs "
                            "(ref %02x, simd %02x, block %zu)",
                            sm_cpu_variant_name (c->variant), sm_type_get_traits (c->type)->name,
                            what, n, i, sz, a[i], b[i],
                            i / sm_type_get_traits (c->type)->type_size);
        return;
      }
}

static void
test_fast (gconstpointer data)
{
  const fast_case *c = data;
  const int64_t blk = sm_type_get_traits (c->type)->blck_size;
  const int64_t lengths[] = { blk, 3 * blk, 8 * blk, 17 * blk };
  sm_quantize_fn fn;

  if (!sm_cpu_variant_supported (c->variant))
    {
      g_test_skip ("this CPU lacks the variant");
      return;
    }
  fn = sm_quantize_fast_variant (c->type, c->variant);
  if (fn == NULL)
    {
      g_test_skip ("no SIMD quantizer of this type in this variant");
      return;
    }
  for (gsize li = 0; li < G_N_ELEMENTS (lengths); li++)
    {
      const int64_t n = lengths[li];
      g_autofree float *x = g_new (float, n);
      g_autofree float *w = g_new (float, n);

      for (int k = 0; k < K_COUNT; k++)
        for (guint64 seed = 1; seed <= 3; seed++)
          {
            g_autofree char *what = g_strdup_printf ("%s data, seed %u", kind_names[k],
                                                     (unsigned) seed);
            fill (x, n, k, seed + 10 * li);
            compare (c, fn, x, NULL, n, what);
            for (int style = 0; style < 3; style++)
              {
                g_autofree char *ww = g_strdup_printf ("%s, weights %d", what, style);
                fill_weights (w, n, style, seed + (guint64) k);
                compare (c, fn, x, w, n, ww);
              }
            if (g_test_failed ())
              return;
          }
    }

  /* Non-finite values (the reference's own answer, whatever it is). */
  {
    const int64_t n = 4 * blk;
    g_autofree float *x = g_new (float, n);
    g_autofree float *w = g_new (float, n);
    fill (x, n, K_NORMAL, 5);
    fill_weights (w, n, 0, 5);
    x[3] = NAN;
    x[n - 1] = INFINITY;
    compare (c, fn, x, NULL, n, "NaN and inf");
    compare (c, fn, x, w, n, "NaN and inf, weighted");
    fill (x, n, K_NORMAL, 6);
    w[7] = NAN;
    compare (c, fn, x, w, n, "NaN weight");
  }
}

/* The input converters: the reference conversion bit for bit, and NaN/inf reported wherever they
 * are (SIMD body or tail). */
static void
test_to_f32 (void)
{
  const int64_t lengths[] = { 1, 7, 16, 33, 2048, 2051 };
  const sm_type types[] = { SM_TYPE_BF16, SM_TYPE_F16, SM_TYPE_F32 };

  for (int v = SM_CPU_VARIANT_REF + 1; v < SM_CPU_VARIANT_COUNT; v++)
    for (gsize ti = 0; ti < G_N_ELEMENTS (types); ti++)
      {
        sm_row_to_f32_fn fn = sm_quantize_fast_to_f32_variant (types[ti], v);
        if (fn == NULL)
          continue;
        for (gsize li = 0; li < G_N_ELEMENTS (lengths); li++)
          {
            const int64_t n = lengths[li];
            g_autofree float *x = g_new (float, n);
            g_autofree float *a = g_new (float, n);
            g_autofree float *b = g_new (float, n);
            g_autofree guint8 *in = g_malloc (sm_type_row_size (types[ti], n));

            for (int k = 0; k < K_COUNT; k++)
              {
                fill (x, n, k, 3 + (guint64) li);
                g_assert_cmpuint (sm_quantize_row (types[ti], x, in, n, NULL), >, 0);
                g_assert_true (sm_dequantize_row (types[ti], in, a, n));
                g_assert_true (fn (in, b, n));
                g_assert_cmpmem (a, (gsize) n * sizeof (float), b, (gsize) n * sizeof (float));
              }
            for (int64_t bad = 0; bad < n; bad += n / 3 + 1)
              for (int nan = 0; nan < 2; nan++)
                {
                  fill (x, n, K_NORMAL, 9);
                  x[bad] = nan ? NAN : -INFINITY;
                  g_assert_cmpuint (sm_quantize_row (types[ti], x, in, n, NULL), >, 0);
                  g_assert_false (fn (in, b, n));
                }
          }
      }
}

/* sm_quantize_row takes the active variant's kernel: same bytes as the reference. */
static void
test_row_api (void)
{
  const int64_t n = 2048;
  g_autofree float *x = g_new (float, n);

  fill (x, n, K_NORMAL, 42);
  for (gsize i = 0; i < G_N_ELEMENTS (fast_types); i++)
    {
      const size_t sz = sm_type_row_size (fast_types[i].type, n);
      g_autofree guint8 *a = g_malloc (sz);
      g_autofree guint8 *b = g_malloc (sz);
      fast_types[i].ref (x, a, n, NULL);
      g_assert_cmpuint (sm_quantize_row (fast_types[i].type, x, b, n, NULL), ==, sz);
      g_assert_cmpmem (a, sz, b, sz);
    }
  g_assert_null (sm_quantize_fast_variant (SM_TYPE_COUNT, SM_CPU_VARIANT_REF));
  g_assert_null (sm_quantize_fast_variant (SM_TYPE_Q6_K, SM_CPU_VARIANT_REF));
}

int
main (int argc, char **argv)
{
  static fast_case cases[SM_CPU_VARIANT_COUNT][G_N_ELEMENTS (fast_types)];

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/quant-fast/row-api", test_row_api);
  g_test_add_func ("/quant-fast/to-f32", test_to_f32);
  for (int v = SM_CPU_VARIANT_REF + 1; v < SM_CPU_VARIANT_COUNT; v++)
    for (gsize i = 0; i < G_N_ELEMENTS (fast_types); i++)
      {
        cases[v][i] = (fast_case) { fast_types[i].type, fast_types[i].ref, v };
        g_autofree char *p = g_strdup_printf ("/quant-fast/%s/%s", sm_cpu_variant_name (v),
                                              sm_type_get_traits (fast_types[i].type)->name);
        g_test_add_data_func (p, &cases[v][i], test_fast);
      }
  return g_test_run ();
}
