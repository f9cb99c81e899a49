/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-compare-models.c: the error of a quantized model against its source, for the benchmark.
 * Every tensor of A that B has with the same shape is decoded to f32 on both sides; prints the
 * root-mean-square error over all elements of tensors B changed, and the relative RMSE
 * (RMSE / RMS of A), as `rmse=… rel_rmse=… elements=…`. With --tensors, compares two outputs
 * instead: one line per tensor of A, `NAME TYPE_A TYPE_B same|differs|missing`, then
 * `tensors=N same=N` (the parity test's llama.cpp-vs-Smelt check). Not installed.
 *
 *   smelt-compare-models A.gguf B.gguf
 *   smelt-compare-models --tensors A.gguf B.gguf
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm-gguf.h"
#include "sm-quant.h"

static void
row_f32 (const sm_gguf_tensor *t,
         int64_t               r,
         float                *out)
{
  size_t rs = sm_type_row_size (t->type, t->ne[0]);
  const uint8_t *p = (const uint8_t *) t->data + (size_t) r * rs;

  if (t->type == SM_TYPE_F32)
    memcpy (out, p, (size_t) t->ne[0] * 4);
  else
    sm_dequantize_row (t->type, p, out, t->ne[0]);
}

static int
compare_tensors (const char *pa,
                 const char *pb)
{
  sm_gguf *a = NULL, *b = NULL;
  sm_error err = { 0 };
  int64_t n_same = 0;

  if (sm_gguf_open (pa, &a, &err) != SM_OK || sm_gguf_open (pb, &b, &err) != SM_OK)
    {
      fprintf (stderr, "smelt-compare-models: %s\n", err.msg);
      sm_gguf_free (a);
      return 1;
    }
  for (int64_t i = 0; i < sm_gguf_get_n_tensors (a); i++)
    {
      const sm_gguf_tensor *ta = sm_gguf_get_tensor (a, i);
      const sm_gguf_tensor *tb = sm_gguf_find_tensor (b, ta->name);
      bool same = tb != NULL && ta->type == tb->type && ta->size == tb->size
                  && memcmp (ta->data, tb->data, ta->size) == 0;

      printf ("%s %s %s %s\n", ta->name, sm_type_get_traits (ta->type)->upper,
              tb != NULL ? sm_type_get_traits (tb->type)->upper : "-",
              tb == NULL ? "missing" : same ? "same" : "differs");
      n_same += same;
    }
  printf ("tensors=%lld same=%lld\n", (long long) sm_gguf_get_n_tensors (a), (long long) n_same);
  sm_gguf_free (a);
  sm_gguf_free (b);
  return 0;
}

int
main (int    argc,
      char **argv)
{
  sm_gguf *a = NULL, *b = NULL;
  sm_error err = { 0 };
  double se = 0, ss = 0;
  uint64_t n = 0;

  if (argc == 4 && strcmp (argv[1], "--tensors") == 0)
    return compare_tensors (argv[2], argv[3]);
  if (argc != 3)
    {
      fprintf (stderr, "usage: smelt-compare-models [--tensors] A.gguf B.gguf\n");
      return 2;
    }
  if (sm_gguf_open (argv[1], &a, &err) != SM_OK || sm_gguf_open (argv[2], &b, &err) != SM_OK)
    {
      fprintf (stderr, "smelt-compare-models: %s\n", err.msg);
      return 1;
    }
  for (int64_t i = 0; i < sm_gguf_get_n_tensors (a); i++)
    {
      const sm_gguf_tensor *ta = sm_gguf_get_tensor (a, i);
      const sm_gguf_tensor *tb = sm_gguf_find_tensor (b, ta->name);
      int64_t rows;
      float *x, *y;

      if (tb == NULL || tb->type == ta->type || memcmp (ta->ne, tb->ne, sizeof ta->ne) != 0
          || !sm_quant_can_dequantize (ta->type) || !sm_quant_can_dequantize (tb->type))
        continue;
      rows = sm_gguf_tensor_nelements (ta) / ta->ne[0];
      x = malloc ((size_t) ta->ne[0] * 4);
      y = malloc ((size_t) ta->ne[0] * 4);
      for (int64_t r = 0; r < rows; r++)
        {
          row_f32 (ta, r, x);
          row_f32 (tb, r, y);
          for (int64_t k = 0; k < ta->ne[0]; k++)
            {
              double d = (double) x[k] - y[k];
              se += d * d;
              ss += (double) x[k] * x[k];
            }
        }
      n += (uint64_t) (rows * ta->ne[0]);
      free (x);
      free (y);
    }
  printf ("rmse=%.6g rel_rmse=%.6g elements=%llu\n", n ? sqrt (se / (double) n) : 0.0,
          ss > 0 ? sqrt (se / ss) : 0.0, (unsigned long long) n);
  sm_gguf_free (a);
  sm_gguf_free (b);
  return 0;
}
