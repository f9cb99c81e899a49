/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-amx-bf16.c: the AMX-BF16 prompt tiles of arch/sm-amx-bf16.c against a double-precision
 * product of the same BF16 values: weight rows decoded by sm_bf16_rows_ref (BF16, Q8_0 and
 * Q4_K rows, so blocks of 1, 32 and 256 elements), activations rounded by sm_fp32_to_bf16.
 * Shapes cover partial 16-row halves and 32-row blocks, partial 16-token groups, one and two
 * token groups in flight, rows longer than one decoded stretch (SM_AMX_KC) with a partial last
 * one, and odd weight and output strides; outputs outside the nr x nc product must stay
 * untouched. Skipped where the CPU has no AMX-BF16 (or Linux refused the tile registers).
 */
#include <glib.h>
#include <math.h>
#include <string.h>

#include "sm-dispatch.h"
#include "sm-quant.h"
#include "sm-types.h"

#if defined(__x86_64__)
#include "arch/sm-amx-bf16.h"

static void
dec_bf16 (const void *row, int64_t k0, int64_t nk, void *dst, size_t step)
{
  g_assert_true (sm_bf16_rows_ref (SM_TYPE_BF16, row, k0, nk, dst, step));
}

static void
dec_q8_0 (const void *row, int64_t k0, int64_t nk, void *dst, size_t step)
{
  g_assert_true (sm_bf16_rows_ref (SM_TYPE_Q8_0, row, k0, nk, dst, step));
}

static void
dec_q4_K (const void *row, int64_t k0, int64_t nk, void *dst, size_t step)
{
  g_assert_true (sm_bf16_rows_ref (SM_TYPE_Q4_K, row, k0, nk, dst, step));
}

typedef struct
{
  sm_type         type;
  sm_bf16_rows_fn decode;
} amx_case;

static float
bf16_value (uint16_t h)
{
  return sm_bf16_to_fp32 (h);
}

static void
check_shape (const amx_case *tc,
             int64_t         n,
             int64_t         nr,
             int             nc,
             GRand          *rng)
{
  const size_t rs = sm_type_row_size (tc->type, n);
  const size_t ws = rs + 6; /* rows not a multiple of anything */
  const size_t os = (size_t) nr + 3;
  g_autofree uint8_t *w = g_malloc0 (ws * (size_t) nr);
  g_autofree float *x = g_new (float, (size_t) n * nc);
  g_autofree float *row = g_new (float, n);
  g_autofree uint16_t *wdec = g_new (uint16_t, (size_t) n * nr);
  g_autofree float *out = g_new (float, os * (size_t) (nc + 1));
  uint8_t *acts = g_aligned_alloc (sm_amx_bf16_acts_bytes (n, nc), 1, 64);
  uint8_t *scratch = g_aligned_alloc (sm_amx_bf16_scratch_bytes (nc), 1, 64);

  for (int64_t r = 0; r < nr; r++)
    {
      for (int64_t k = 0; k < n; k++)
        row[k] = (float) g_rand_double_range (rng, -1.0, 1.0) * (r % 3 == 0 ? 100.0f : 0.01f);
      if (tc->type == SM_TYPE_BF16)
        for (int64_t k = 0; k < n; k++)
          {
            uint16_t h = sm_fp32_to_bf16 (row[k]);
            memcpy (w + (size_t) r * ws + 2 * k, &h, 2);
          }
      else
        g_assert_cmpuint (sm_quantize_row (tc->type, row, w + (size_t) r * ws, n, NULL), ==, rs);
      /* What the kernel must see: 32 elements per 64-byte step. */
      g_assert_true (sm_bf16_rows_ref (tc->type, w + (size_t) r * ws, 0, n, wdec + r * n, 64));
    }
  for (int64_t i = 0; i < n * nc; i++)
    x[i] = (float) g_rand_double_range (rng, -2.0, 2.0);
  for (size_t i = 0; i < os * (size_t) (nc + 1); i++)
    out[i] = NAN;

  sm_amx_bf16_pack_acts (x, (size_t) n, n, 0, (nc + 15) / 16, nc, acts);
  sm_amx_bf16_gemm (tc->decode, n, w, ws, nr, acts, nc, out, os, scratch);

  for (int t = 0; t < nc + 1; t++)
    for (size_t r = 0; r < os; r++)
      {
        const float got = out[(size_t) t * os + r];
        if (t >= nc || r >= (size_t) nr)
          {
            if (!isnan (got))
              g_error ("%s n %" G_GINT64_FORMAT " nr %" G_GINT64_FORMAT " nc %d: wrote outside "
                       "the product at token %d, row %zu", sm_type_get_traits (tc->type)->name,
                       n, nr, nc, t, r);
            continue;
          }
        double want = 0, mag = 0;
        for (int64_t k = 0; k < n; k++)
          {
            const double p = (double) bf16_value (wdec[r * n + k])
                             * (double) bf16_value (sm_fp32_to_bf16 (x[(size_t) t * n + k]));
            want += p;
            mag += fabs (p);
          }
        if (!(fabs (got - want) <= 1e-5 * mag + 1e-30))
          g_error ("%s n %" G_GINT64_FORMAT " nr %" G_GINT64_FORMAT " nc %d: token %d row %zu: "
                   "%.9g, want %.9g (sum |products| %.3g)", sm_type_get_traits (tc->type)->name,
                   n, nr, nc, t, r, got, want, mag);
      }
  g_aligned_free (acts);
  g_aligned_free (scratch);
}

static void
test_amx (gconstpointer data)
{
  const amx_case *tc = data;
  const int64_t ns[] = { 256, 2048, SM_AMX_KC + 512 };
  const int64_t nrs[] = { 1, 16, 17, 33, 70 };
  const int ncs[] = { 1, 16, 17, 33, 50 };
  g_autoptr (GRand) rng = g_rand_new_with_seed (7);

  if (!sm_dispatch_amx_bf16 ())
    {
      g_test_skip ("no AMX-BF16 here");
      return;
    }
  for (size_t a = 0; a < G_N_ELEMENTS (ns); a++)
    for (size_t b = 0; b < G_N_ELEMENTS (nrs); b++)
      for (size_t c = 0; c < G_N_ELEMENTS (ncs); c++)
        check_shape (tc, ns[a], nrs[b], ncs[c], rng);
  if (tc->type == SM_TYPE_BF16)
    check_shape (tc, 32, 5, 3, rng); /* one step */
}
#endif

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
#if defined(__x86_64__)
  static const amx_case cases[] = {
    { SM_TYPE_BF16, dec_bf16 },
    { SM_TYPE_Q8_0, dec_q8_0 },
    { SM_TYPE_Q4_K, dec_q4_K },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path
          = g_strdup_printf ("/amx-bf16/gemm/%s", sm_type_get_traits (cases[i].type)->name);
      g_test_add_data_func (path, &cases[i], test_amx);
    }
#endif
  return g_test_run ();
}
