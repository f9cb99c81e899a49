/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * gguf-rewrite.c: copies a GGUF through Smelt's reader and writer, for gguf-parity.mjs to load
 * the result in llama.cpp. Every key (split.* excepted: the writer sets its own) and every tensor
 * is copied as is; options pick the output layout.
 *
 * usage: gguf-rewrite SRC DST [--split-tensors N] [--split-bytes N] [--alignment A]
 *                     [--dequantize 1]
 * Prints the paths written, one per line. --dequantize 1 writes every tensor that is not F32 as
 * F32 (sm_dequantize_row): the same model without its rounding, as an exact reference for the
 * engine's own kernels (logits-parity.mjs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm-gguf.h"
#include "sm-quant.h"

static int
fail (const sm_error *err)
{
  fprintf (stderr, "gguf-rewrite: %s\n", err->msg);
  return 1;
}

int
main (int    argc,
      char **argv)
{
  uint64_t split_bytes = 0;
  uint32_t split_tensors = 0, alignment = 0;
  int dequantize = 0;
  sm_gguf_writer *w;
  sm_gguf *src = NULL;
  sm_error err;

  if (argc < 3)
    {
      fprintf (stderr, "usage: gguf-rewrite SRC DST [--split-tensors N] [--split-bytes N] "
                       "[--alignment A]\n");
      return 2;
    }
  for (int i = 3; i + 1 < argc; i += 2)
    {
      if (strcmp (argv[i], "--split-tensors") == 0)
        split_tensors = (uint32_t) strtoul (argv[i + 1], NULL, 10);
      else if (strcmp (argv[i], "--split-bytes") == 0)
        split_bytes = strtoull (argv[i + 1], NULL, 10);
      else if (strcmp (argv[i], "--alignment") == 0)
        alignment = (uint32_t) strtoul (argv[i + 1], NULL, 10);
      else if (strcmp (argv[i], "--dequantize") == 0)
        dequantize = atoi (argv[i + 1]);
      else
        return 2;
    }
  if (sm_gguf_open (argv[1], &src, &err) != SM_OK)
    return fail (&err);

  w = sm_gguf_writer_new ();
  for (int64_t i = 0; i < sm_gguf_get_n_kv (src); i++)
    if (strncmp (sm_gguf_get_key (src, i), "split.", 6) != 0)
      sm_gguf_writer_copy_kv (w, src, i);
  if (alignment > 0)
    sm_gguf_writer_set_u32 (w, "general.alignment", alignment);
  for (int64_t i = 0; i < sm_gguf_get_n_tensors (src); i++)
    {
      const sm_gguf_tensor *t = sm_gguf_get_tensor (src, i);

      const sm_type type = dequantize && t->type != SM_TYPE_F32 ? SM_TYPE_F32 : t->type;

      if (sm_gguf_writer_add_tensor (w, t->name, type, t->n_dims, t->ne, &err) != SM_OK)
        return fail (&err);
    }
  sm_gguf_writer_set_split (w, split_bytes, split_tensors);
  if (sm_gguf_writer_begin (w, argv[2], &err) != SM_OK)
    return fail (&err);
  for (int64_t i = 0; i < sm_gguf_get_n_tensors (src); i++)
    {
      const sm_gguf_tensor *t = sm_gguf_get_tensor (src, i);

      if (dequantize && t->type != SM_TYPE_F32)
        {
          const int64_t n = t->ne[0], rows = t->ne[1] * t->ne[2] * t->ne[3];
          const size_t rs = sm_type_row_size (t->type, n);
          float *f = malloc (sizeof (float) * (size_t) (n * rows));

          for (int64_t r = 0; r < rows; r++)
            if (f == NULL
                || !sm_dequantize_row (t->type, (const uint8_t *) t->data + (size_t) r * rs,
                                       f + r * n, n))
              {
                fprintf (stderr, "gguf-rewrite: cannot dequantize %s\n", t->name);
                return 1;
              }
          if (sm_gguf_writer_write_tensor (w, f, sizeof (float) * (size_t) (n * rows), &err)
              != SM_OK)
            return fail (&err);
          free (f);
          continue;
        }
      if (sm_gguf_writer_write_tensor (w, t->data, t->size, &err) != SM_OK)
        return fail (&err);
    }
  if (sm_gguf_writer_finish (w, &err) != SM_OK)
    return fail (&err);
  for (uint32_t k = 0; k < sm_gguf_writer_get_n_outputs (w); k++)
    printf ("%s\n", sm_gguf_writer_get_output_path (w, k));
  sm_gguf_writer_free (w);
  sm_gguf_free (src);
  return 0;
}
