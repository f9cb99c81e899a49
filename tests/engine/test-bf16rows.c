/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-bf16rows.c: the BF16 row decoders of the AMX prompt tiles (sm_bf16_rows_fn) against their
 * specification sm_bf16_rows_ref, bit for bit (two NaNs count as equal): both builds of the
 * avx512 decoders (integer rounding; vcvtne2ps2bf16 where the CPU has AVX512-BF16), every type
 * they decode, rows quantized from random floats of several scales and hostile rows
 * (random bytes in every block, so scales of every kind, plus chosen f16 scales: infinities,
 * NaNs with every payload width, subnormals, the largest finite, zero, negative ones), windows
 * [k0, k0 + nk) at the row start, one block in, in the middle and up to the row end, group steps
 * of 64 and 1024 bytes, and no byte written outside the 64-byte groups. Also the reference itself
 * against sm_dequantize_row + sm_fp32_to_bf16, its refusal of windows that break the rules, and
 * the variants that must have no decoder (ref, avx2; F16 everywhere) and which build the avx512
 * table holds.
 */
#include <glib.h>
#include <math.h>
#include <string.h>

#include "sm-dispatch.h"
#include "sm-quant.h"
#include "sm-quant-blocks.h"
#include "sm-types.h"

#if defined(__x86_64__)
#include "sm-quant-private.h"   /* the two fill functions of arch/sm-bf16rows-avx512.c */
#define HAVE_X86_DECODERS 1
#endif

/* The two builds of the avx512 decoders: integer rounding (any avx512 CPU) and vcvtne2ps2bf16
 * (CPUs with AVX512-BF16); the dispatch table holds one of them. */
enum { FLAVOUR_INT, FLAVOUR_CVTNE, FLAVOUR_COUNT };
static const char *const flavour_names[FLAVOUR_COUNT] = { "avx512", "avx512bf16" };

#ifdef HAVE_X86_DECODERS
static gboolean
cpu_has_avx512bf16 (void)
{
  __builtin_cpu_init ();
  return sm_cpu_variant_supported (SM_CPU_VARIANT_AVX512) && __builtin_cpu_supports ("avx512bf16");
}

/* True when this CPU can run the flavour; skips the test otherwise. */
static gboolean
flavour_runnable (int flavour)
{
  if (!sm_cpu_variant_supported (SM_CPU_VARIANT_AVX512))
    {
      g_test_skip ("this CPU lacks the avx512 variant");
      return FALSE;
    }
  if (flavour == FLAVOUR_CVTNE && !cpu_has_avx512bf16 ())
    {
      g_test_skip ("this CPU lacks AVX512-BF16");
      return FALSE;
    }
  return TRUE;
}

/* The decoder of type t in one flavour (the fill function's table; never one for F16). */
static sm_bf16_rows_fn
flavour_decoder (int flavour, sm_type t)
{
  sm_bf16_rows_fn table[SM_TYPE_COUNT] = { 0 };

  if (flavour == FLAVOUR_CVTNE)
    sm_bf16_rows_fill_avx512bf16 (table);
  else
    sm_bf16_rows_fill_avx512 (table);
  g_assert_null (table[SM_TYPE_F16]);
  return table[t];
}
#endif

/* Types the avx512 variant must decode. */
static const sm_type decoded_types[] = {
  SM_TYPE_Q8_0, SM_TYPE_Q4_0, SM_TYPE_Q4_1, SM_TYPE_Q5_0, SM_TYPE_Q5_1, SM_TYPE_IQ4_NL,
  SM_TYPE_IQ4_XS, SM_TYPE_Q4_K, SM_TYPE_Q5_K, SM_TYPE_Q6_K, SM_TYPE_BF16,
};

typedef struct
{
  guint64 s;
} rng;

static guint32
rng_u32 (rng *r)
{
  r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (guint32) (r->s >> 32);
}

static double
rng_uniform (rng *r)
{
  return rng_u32 (r) * (1.0 / 4294967296.0);
}

static double
rng_normal (rng *r)
{
  double u = rng_uniform (r) + 1e-12, v = rng_uniform (r);
  return sqrt (-2 * log (u)) * cos (6.283185307179586 * v);
}

/* Byte offsets of the f16 scales inside one block of t (-1 for none), for the chosen hostile
 * scales. */
static void
scale_offsets (sm_type t, int off[2])
{
  off[0] = off[1] = -1;
  switch (t)
    {
    case SM_TYPE_Q8_0: case SM_TYPE_Q4_0: case SM_TYPE_IQ4_NL: case SM_TYPE_Q5_0:
    case SM_TYPE_IQ4_XS:
      off[0] = 0;
      break;
    case SM_TYPE_Q4_1: case SM_TYPE_Q5_1: case SM_TYPE_Q4_K: case SM_TYPE_Q5_K:
      off[0] = 0;
      off[1] = 2;
      break;
    case SM_TYPE_Q6_K:
      off[0] = (int) offsetof (sm_block_q6_K, d);
      break;
    default:
      break;
    }
}

/* One row of n elements of t: kind 0..3 quantized from N(0, s) floats (s = 1, 0.02, 1e3, 1e-4),
 * kind 4 random bytes, kind 5 random bytes with chosen f16 scales in turn in every block. */
static void
make_row (sm_type t, int64_t n, int kind, guint64 seed, guint8 *row)
{
  const sm_type_traits *tt = sm_type_get_traits (t);
  const size_t bytes = sm_type_row_size (t, n);
  rng r = { seed * 1000003 + (guint64) kind };

  if (kind < 4)
    {
      static const double sd[] = { 1, 0.02, 1e3, 1e-4 };
      g_autofree float *x = g_new (float, n);
      for (int64_t i = 0; i < n; i++)
        x[i] = (float) (rng_normal (&r) * sd[kind] * (i % 61 == 7 ? 20 : 1));
      g_assert_cmpuint (sm_quantize_row (t, x, row, n, NULL), ==, bytes);
      return;
    }
  for (size_t i = 0; i < bytes; i++)
    row[i] = (guint8) rng_u32 (&r);
  if (kind == 5)
    {
      static const guint16 hostile[] = {
        0x7c00, 0xfc00, 0x7e00, 0x7fff, 0xffff, 0x7c01, 0x7dff, 0xfe00, 0x0001, 0x8001,
        0x03ff, 0x83ff, 0x0400, 0x7bff, 0xfbff, 0x0000, 0x8000, 0x3c00,
      };
      int off[2];
      scale_offsets (t, off);
      const int64_t nb = n / tt->blck_size;
      for (int64_t b = 0; b < nb; b++)
        for (int s = 0; s < 2; s++)
          if (off[s] >= 0)
            {
              const guint16 h = hostile[(b * 2 + s * 5) % G_N_ELEMENTS (hostile)];
              memcpy (row + b * tt->type_size + off[s], &h, 2);
            }
    }
}

static gboolean
same_bf16 (guint16 a, guint16 b)
{
  const gboolean na = (a & 0x7fff) > 0x7f80, nb = (b & 0x7fff) > 0x7f80;
  return na || nb ? na && nb : a == b;
}

/* The decoder f against the reference on window [k0, k0 + nk) of row, step bytes apart; the
 * bytes of dst outside the groups must keep their fill. */
static void
check_window (sm_bf16_rows_fn f, sm_type t, const guint8 *row, int64_t k0, int64_t nk,
              size_t step, const char *what)
{
  const int64_t ng = nk / 32;
  const size_t size = (size_t) (ng - 1) * step + 64 + 64;
  g_autofree guint8 *want = g_malloc (size);
  g_autofree guint8 *got = g_malloc (size);

  memset (want, 0xa5, size);
  memset (got, 0xa5, size);
  g_assert_true (sm_bf16_rows_ref (t, row, k0, nk, want, step));
  f (row, k0, nk, got, step);
  for (size_t i = 0; i < size; i += 2)
    {
      guint16 a, b;
      memcpy (&a, want + i, 2);
      memcpy (&b, got + i, 2);
      if (!same_bf16 (a, b))
        g_error ("%s %s k0 %" G_GINT64_FORMAT " nk %" G_GINT64_FORMAT " step %zu: byte %zu "
                 "(group %zu, element %zu): want 0x%04x, got 0x%04x", sm_type_get_traits (t)->name, what, k0,
                 nk, step, i, i / step, (i % step) / 2, a, b);
    }
}

static void
test_decoder (gconstpointer data)
{
#ifdef HAVE_X86_DECODERS
  const int flavour = GPOINTER_TO_INT (data) / 256;
  const sm_type t = (sm_type) (GPOINTER_TO_INT (data) % 256);
  const int64_t blk = sm_type_get_traits (t)->blck_size;
  const int64_t unit = blk > 32 ? blk : 32;   /* the smallest legal window */

  if (!flavour_runnable (flavour))
    return;
  sm_bf16_rows_fn f = flavour_decoder (flavour, t);
  g_assert_nonnull (f);

  /* 37 units: more than two batches of 16 blocks of scales, with a partial one at the end. */
  const int64_t n = 37 * unit;
  const size_t bytes = sm_type_row_size (t, n);
  const int64_t windows[][2] = {
    { 0, unit }, { 0, 3 * unit }, { 0, n }, { unit, unit }, { unit, 17 * unit },
    { unit, n - unit }, { 18 * unit, 5 * unit }, { 20 * unit, n - 20 * unit },
    { n - unit, unit },
  };
  const size_t steps[] = { 64, 1024 };

  for (int kind = 0; kind < 6; kind++)
    for (guint64 seed = 0; seed < 3; seed++)
      {
        if (t == SM_TYPE_BF16 && kind >= 4)
          continue;   /* random bytes below */
        /* Exactly the row's bytes, so that ASan sees any read past its end (g_malloc aligns
         * it as the block structs the reference reads want). */
        g_autofree guint8 *row = g_malloc (bytes);
        make_row (t, n, kind, seed, row);
        for (gsize w = 0; w < G_N_ELEMENTS (windows); w++)
          for (gsize s = 0; s < G_N_ELEMENTS (steps); s++)
            check_window (f, t, row, windows[w][0], windows[w][1], steps[s],
                          kind < 4 ? "quantized" : "hostile");
      }
  if (t == SM_TYPE_BF16)
    {
      /* Every bit pattern, NaNs and subnormals included, passes through unchanged. */
      g_autofree guint16 *all = g_new (guint16, 65536);
      for (guint32 i = 0; i < 65536; i++)
        all[i] = (guint16) i;
      check_window (f, t, (const guint8 *) all, 0, 65536, 64, "all patterns");
      check_window (f, t, (const guint8 *) all, 32 * 7, 65536 - 32 * 9, 1024, "all patterns");
    }
#else
  (void) data;
  g_test_skip ("no x86 decoders on this architecture");
#endif
}

/* The reference itself: the rounded floats of sm_dequantize_row, and refusals. */
static void
test_reference (void)
{
  const sm_type types[] = { SM_TYPE_Q8_0, SM_TYPE_Q4_0, SM_TYPE_Q4_K, SM_TYPE_Q6_K,
                            SM_TYPE_IQ4_XS, SM_TYPE_F16, SM_TYPE_BF16 };

  for (gsize ti = 0; ti < G_N_ELEMENTS (types); ti++)
    {
      const sm_type t = types[ti];
      const int64_t n = 1024;
      const int64_t blk = sm_type_get_traits (t)->blck_size;
      g_autofree guint8 *row = g_malloc (sm_type_row_size (t, n));
      g_autofree float *x = g_new (float, n);
      guint16 out[1024];

      make_row (t, n, 0, 5, row);
      g_assert_true (sm_dequantize_row (t, row, x, n));
      g_assert_true (sm_bf16_rows_ref (t, row, 0, n, out, 64));
      for (int64_t i = 0; i < n; i++)
        g_assert_cmphex (out[i], ==, sm_fp32_to_bf16 (x[i]));
      /* A window starting at 256, groups 128 bytes apart. */
      g_autofree guint8 *spaced = g_malloc0 (128 * 24);
      g_assert_true (sm_bf16_rows_ref (t, row, 256, 768, spaced, 128));
      for (int64_t i = 0; i < 768; i++)
        {
          guint16 v;
          memcpy (&v, spaced + (i / 32) * 128 + (i % 32) * 2, 2);
          g_assert_cmphex (v, ==, sm_fp32_to_bf16 (x[256 + i]));
        }
      /* Refusals: k0 or nk not a multiple of 32 or of the block, negative. */
      g_assert_false (sm_bf16_rows_ref (t, row, 16, 32, out, 64));
      g_assert_false (sm_bf16_rows_ref (t, row, 0, 48, out, 64));
      g_assert_false (sm_bf16_rows_ref (t, row, -32, 64, out, 64));
      g_assert_false (sm_bf16_rows_ref (t, row, 0, -32, out, 64));
      if (blk > 32)
        {
          g_assert_false (sm_bf16_rows_ref (t, row, 32, blk, out, 64));
          g_assert_false (sm_bf16_rows_ref (t, row, 0, blk + 32, out, 64));
        }
    }
  guint16 out[64];
  const guint8 junk[64] = { 0 };
  g_assert_false (sm_bf16_rows_ref (SM_TYPE_COUNT, junk, 0, 32, out, 64));
  g_assert_false (sm_bf16_rows_ref ((sm_type) -1, junk, 0, 32, out, 64));
}

/* Which variants have decoders: ref and avx2 none, F16 none anywhere, and the dispatched one is
 * the active variant's. */
static void
test_dispatch (void)
{
  for (int t = 0; t < SM_TYPE_COUNT; t++)
    {
      g_assert_null (sm_dispatch_bf16_rows_variant ((sm_type) t, SM_CPU_VARIANT_REF));
      g_assert_null (sm_dispatch_bf16_rows_variant ((sm_type) t, SM_CPU_VARIANT_AVX2));
      g_assert_true (sm_dispatch_bf16_rows ((sm_type) t)
                     == sm_dispatch_bf16_rows_variant ((sm_type) t, sm_dispatch_variant ()));
    }
  g_assert_null (sm_dispatch_bf16_rows_variant (SM_TYPE_F16, SM_CPU_VARIANT_AVX512));
  g_assert_null (sm_dispatch_bf16_rows (SM_TYPE_F16));
  g_assert_null (sm_dispatch_bf16_rows (SM_TYPE_COUNT));
  g_assert_null (sm_dispatch_bf16_rows_variant (SM_TYPE_COUNT, SM_CPU_VARIANT_AVX512));
#ifdef HAVE_X86_DECODERS
  /* The avx512 table holds the vcvtne2ps2bf16 build where the CPU has AVX512-BF16, the integer
   * one otherwise, for every decoded type. */
  if (sm_cpu_variant_supported (SM_CPU_VARIANT_AVX512))
    {
      sm_bf16_rows_fn want[SM_TYPE_COUNT] = { 0 };
      if (cpu_has_avx512bf16 ())
        sm_bf16_rows_fill_avx512bf16 (want);
      else
        sm_bf16_rows_fill_avx512 (want);
      for (gsize i = 0; i < G_N_ELEMENTS (decoded_types); i++)
        {
          g_assert_nonnull (want[decoded_types[i]]);
          g_assert_true (sm_dispatch_bf16_rows_variant (decoded_types[i], SM_CPU_VARIANT_AVX512)
                         == want[decoded_types[i]]);
        }
    }
#endif
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/bf16rows/reference", test_reference);
  g_test_add_func ("/bf16rows/dispatch", test_dispatch);
  for (int fl = 0; fl < FLAVOUR_COUNT; fl++)
    for (gsize i = 0; i < G_N_ELEMENTS (decoded_types); i++)
      {
        g_autofree char *path = g_strdup_printf ("/bf16rows/%s/%s", flavour_names[fl],
                                                 sm_type_get_traits (decoded_types[i])->name);
        g_test_add_data_func (path, GINT_TO_POINTER (fl * 256 + (int) decoded_types[i]),
                              test_decoder);
      }
  return g_test_run ();
}
