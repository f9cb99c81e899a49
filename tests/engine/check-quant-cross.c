/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * check-quant-cross.c: the kernel check of test-quant-fns reduced to plain C (no GLib), for
 * builds where GLib is not available: cross-compiled for aarch64 and run under qemu-user by
 * check-neon-qemu.sh. Every dot product of the dispatched variant is compared with the scalar
 * reference on deterministic rows of several lengths (tail loops included); prints TAP.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm-dispatch.h"
#include "sm-quant.h"

static unsigned long long rng_state = 7;

static double
urand (void)
{
  rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double) (rng_state >> 11) / 9007199254740992.0;
}

static void
fill (float *x, long n, int kind)
{
  for (long i = 0; i < n; i++)
    {
      double u = urand () + 1e-12, v = urand ();
      double g = sqrt (-2 * log (u)) * cos (6.283185307179586 * v);
      x[i] = (float) (kind == 0 ? g : kind == 1 ? 0.02 * g * (i % 97 == 13 ? 50 : 1)
                      : kind == 2 ? 2 * v - 1 : 1e3 * g);
    }
}

int
main (void)
{
  static const sm_type types[] = {
    SM_TYPE_F32, SM_TYPE_F16, SM_TYPE_BF16, SM_TYPE_Q8_0, SM_TYPE_Q4_0, SM_TYPE_Q4_1,
    SM_TYPE_Q5_0, SM_TYPE_Q5_1, SM_TYPE_Q2_K, SM_TYPE_Q3_K, SM_TYPE_Q4_K, SM_TYPE_Q5_K,
    SM_TYPE_Q6_K, SM_TYPE_IQ4_NL, SM_TYPE_IQ4_XS,
  };
  const int ntypes = (int) (sizeof types / sizeof types[0]);
  const sm_cpu_variant v = sm_dispatch_variant ();
  int failed = 0;

  printf ("1..%d\n", ntypes + 1);
  printf ("%s 1 - dispatched variant is %s\n", v != SM_CPU_VARIANT_REF ? "ok" : "not ok",
          sm_cpu_variant_name (v));
  failed += v == SM_CPU_VARIANT_REF;

  for (int ti = 0; ti < ntypes; ti++)
    {
      const sm_type t = types[ti];
      const sm_type at = sm_quant_vec_dot_type (t);
      const long blk = sm_type_get_traits (t)->blck_size;
      const long lengths[] = { blk == 1 ? 7 : blk, blk == 1 ? 33 : 3 * blk,
                               blk == 1 ? 4099 : 17 * blk };
      sm_vec_dot_fn dot = sm_dispatch_vec_dot_variant (t, v);
      sm_vec_dot_fn ref = sm_dispatch_vec_dot_variant (t, SM_CPU_VARIANT_REF);
      char why[200] = "";

      for (int li = 0; li < 3 && !why[0]; li++)
        for (int kind = 0; kind < 4 && !why[0]; kind++)
          {
            const long n = lengths[li];
            float *x = malloc (n * sizeof (float)), *xa = malloc (n * sizeof (float));
            float *wd = malloc (n * sizeof (float)), *ad = malloc (n * sizeof (float));
            unsigned char *w = malloc (sm_type_row_size (t, n));
            unsigned char *a = malloc (sm_type_row_size (at, n));
            fill (x, n, kind);
            fill (xa, n, (kind + 1) % 4);
            sm_quantize_row (t, x, w, n, NULL);
            sm_quant_activation_row (t, xa, a, n);
            sm_dequantize_row (t, w, wd, n);
            sm_dequantize_row (at, a, ad, n);
            double mag = 0;
            for (long i = 0; i < n; i++)
              mag += fabs ((double) wd[i] * ad[i]);
            const float r = ref (n, w, a), s = dot (n, w, a);
            if (fabs ((double) r - s) > 2e-5 * mag + 1e-30)
              snprintf (why, sizeof why, "n=%ld kind=%d: ref %.9g, %s %.9g", n, kind, r,
                        sm_cpu_variant_name (v), s);
            free (x); free (xa); free (wd); free (ad); free (w); free (a);
          }
      printf ("%s %d - %s dot%s%s\n", why[0] ? "not ok" : "ok", ti + 2,
              sm_type_get_traits (t)->name, why[0] ? ": " : "", why);
      failed += why[0] != 0;
    }
  return failed != 0;
}
