/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * bench-vs-ggml.c: Smelt's dispatched dot products against ggml's own CPU kernels on identical
 * data (the block layouts are the same, so one quantized row feeds both). Prints both results
 * (they must agree) and the minimum TSC ticks per 4096-element dot over many single calls, which
 * is robust on a machine shared with other work. x86 only (rdtsc).
 *
 * Not built by meson and contains no ggml code: bench-vs-ggml.sh compiles ggml's
 * ggml-quants.c and ggml-cpu/arch/x86/quants.c from a ggml or llama.cpp checkout the user names,
 * and links them with this file and Smelt's engine library.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

#include "sm-dispatch.h"
#include "sm-quant.h"

/* What ggml's objects expect from the rest of ggml. */
float ggml_table_f32_f16[65536];
float ggml_table_f32_e8m0_half[256];
float ggml_table_f32_ue4m3[256];
size_t ggml_row_size (int type, long long n);
size_t ggml_type_size (int type);
const char *ggml_type_name (int type);
void ggml_abort (const char *file, int line, const char *fmt, ...);

size_t
ggml_row_size (int type, long long n)
{
  return sm_type_row_size ((sm_type) type, n);
}

size_t
ggml_type_size (int type)
{
  return sm_type_get_traits ((uint32_t) type)->type_size;
}

const char *
ggml_type_name (int type)
{
  return sm_type_get_traits ((uint32_t) type)->name;
}

void
ggml_abort (const char *file, int line, const char *fmt, ...)
{
  (void) fmt;
  fprintf (stderr, "ggml_abort at %s:%d\n", file, line);
  abort ();
}

typedef void (*ggml_dot) (int, float *, size_t, const void *, size_t, const void *, size_t, int);
#define G(name) void name (int, float *, size_t, const void *, size_t, const void *, size_t, int);
G (ggml_vec_dot_q8_0_q8_0) G (ggml_vec_dot_q4_0_q8_0) G (ggml_vec_dot_q4_1_q8_1)
G (ggml_vec_dot_q5_0_q8_0) G (ggml_vec_dot_q5_1_q8_1) G (ggml_vec_dot_iq4_nl_q8_0)
G (ggml_vec_dot_q2_K_q8_K) G (ggml_vec_dot_q3_K_q8_K) G (ggml_vec_dot_q4_K_q8_K)
G (ggml_vec_dot_q5_K_q8_K) G (ggml_vec_dot_q6_K_q8_K) G (ggml_vec_dot_iq4_xs_q8_K)
#undef G

int
main (void)
{
  static const struct { sm_type t; ggml_dot g; } cases[] = {
    { SM_TYPE_Q8_0, ggml_vec_dot_q8_0_q8_0 },   { SM_TYPE_Q4_0, ggml_vec_dot_q4_0_q8_0 },
    { SM_TYPE_Q4_1, ggml_vec_dot_q4_1_q8_1 },   { SM_TYPE_Q5_0, ggml_vec_dot_q5_0_q8_0 },
    { SM_TYPE_Q5_1, ggml_vec_dot_q5_1_q8_1 },   { SM_TYPE_IQ4_NL, ggml_vec_dot_iq4_nl_q8_0 },
    { SM_TYPE_Q2_K, ggml_vec_dot_q2_K_q8_K },   { SM_TYPE_Q3_K, ggml_vec_dot_q3_K_q8_K },
    { SM_TYPE_Q4_K, ggml_vec_dot_q4_K_q8_K },   { SM_TYPE_Q5_K, ggml_vec_dot_q5_K_q8_K },
    { SM_TYPE_Q6_K, ggml_vec_dot_q6_K_q8_K },   { SM_TYPE_IQ4_XS, ggml_vec_dot_iq4_xs_q8_K },
  };
  enum { N = 4096, CALLS = 20000 };
  static float x[N], xa[N];
  volatile float sink = 0;

  for (int h = 0; h < 65536; h++)
    ggml_table_f32_f16[h] = sm_fp16_to_fp32 ((uint16_t) h);
  srand (1);
  for (int i = 0; i < N; i++)
    {
      x[i] = (float) (rand () / (double) RAND_MAX * 2 - 1);
      xa[i] = (float) (rand () / (double) RAND_MAX * 2 - 1);
    }

  printf ("smelt variant: %s\n", sm_cpu_variant_name (sm_dispatch_variant ()));
  printf ("%-7s %12s %12s %10s %10s %7s\n", "type", "ggml value", "smelt value", "ggml tsc",
          "smelt tsc", "speed");
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
    {
      const sm_type t = cases[k].t;
      unsigned char *w = malloc (sm_type_row_size (t, N));
      unsigned char *a = malloc (sm_type_row_size (sm_quant_vec_dot_type (t), N));
      sm_quantize_row (t, x, w, N, NULL);
      sm_quant_activation_row (t, xa, a, N);
      sm_vec_dot_fn f = sm_dispatch_vec_dot (t);
      float gv = 0, sv = f (N, w, a);
      cases[k].g (N, &gv, 0, w, 0, a, 0, 1);

      unsigned long long gmin = ~0ull, smin = ~0ull;
      for (int it = 0; it < CALLS; it++)
        {
          float s;
          unsigned long long t0 = __rdtsc ();
          cases[k].g (N, &s, 0, w, 0, a, 0, 1);
          unsigned long long t1 = __rdtsc ();
          sink += s;
          sink += f (N, w, a);
          unsigned long long t2 = __rdtsc ();
          if (t1 - t0 < gmin)
            gmin = t1 - t0;
          if (t2 - t1 < smin)
            smin = t2 - t1;
        }
      printf ("%-7s %12.6g %12.6g %10llu %10llu %7.2f\n", sm_type_get_traits (t)->name, gv, sv,
              gmin, smin, (double) gmin / (double) smin);
      free (w);
      free (a);
    }
  return sink == 12345.f;
}
