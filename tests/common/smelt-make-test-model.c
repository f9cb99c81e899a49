/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-make-test-model.c: command-line front of sm-test-model.h, for the parity test and the
 * benchmark: writes a random llama-shaped GGUF with Smelt's own writer. Not installed.
 *
 *   smelt-make-test-model OUT [--layers N] [--dim N] [--heads N] [--kv-heads N] [--ffn N]
 *                             [--vocab N] [--type f32|f16|bf16|mixed] [--tied] [--odd]
 *                             [--bigram] [--seed N] [--vocab-file GGUF] [--split-max-size BYTES]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm-test-model.h"

static int
usage (void)
{
  fprintf (stderr, "usage: smelt-make-test-model OUT [--layers N] [--dim N] [--heads N] "
                   "[--kv-heads N] [--ffn N] [--vocab N] [--type f32|f16|bf16|mixed] [--tied] "
                   "[--odd] [--bigram] [--seed N] [--vocab-file GGUF] [--split-max-size BYTES]\n");
  return 2;
}

int
main (int    argc,
      char **argv)
{
  sm_test_model_spec spec;
  sm_error err = { 0 };
  const char *out = NULL;

  sm_test_model_default_spec (&spec);
  for (int i = 1; i < argc; i++)
    {
      const char *a = argv[i];
      const char *v = i + 1 < argc ? argv[i + 1] : NULL;

#define NUM(opt, field)                                                                          \
      if (strcmp (a, opt) == 0)                                                                  \
        {                                                                                        \
          if (v == NULL)                                                                         \
            return usage ();                                                                     \
          field = atoi (v);                                                                      \
          i++;                                                                                   \
          continue;                                                                              \
        }
      NUM ("--layers", spec.n_layer)
      NUM ("--dim", spec.dim)
      NUM ("--heads", spec.n_head)
      NUM ("--kv-heads", spec.n_head_kv)
      NUM ("--ffn", spec.ffn)
      NUM ("--vocab", spec.vocab)
#undef NUM
      if (strcmp (a, "--seed") == 0 && v != NULL)
        spec.seed = (uint32_t) strtoul (v, NULL, 10), i++;
      else if (strcmp (a, "--split-max-size") == 0 && v != NULL)
        spec.split_max_size = strtoull (v, NULL, 10), i++;
      else if (strcmp (a, "--vocab-file") == 0 && v != NULL)
        spec.vocab_path = v, i++;
      else if (strcmp (a, "--type") == 0 && v != NULL)
        {
          if (strcmp (v, "mixed") == 0)
            spec.weight_type = SM_TEST_MODEL_MIXED;
          else if (strcmp (v, "f32") == 0)
            spec.weight_type = SM_TYPE_F32;
          else if (strcmp (v, "f16") == 0)
            spec.weight_type = SM_TYPE_F16;
          else if (strcmp (v, "bf16") == 0)
            spec.weight_type = SM_TYPE_BF16;
          else
            return usage ();
          i++;
        }
      else if (strcmp (a, "--tied") == 0)
        spec.tied = true;
      else if (strcmp (a, "--odd") == 0)
        spec.odd_tensor = true;
      else if (strcmp (a, "--bigram") == 0)
        spec.bigram = true;
      else if (a[0] != '-' && out == NULL)
        out = a;
      else
        return usage ();
    }
  if (out == NULL || spec.n_layer < 1 || spec.dim < 1 || spec.n_head < 1 || spec.n_head_kv < 1
      || spec.dim % spec.n_head != 0 || spec.n_head % spec.n_head_kv != 0 || spec.ffn < 1
      || spec.vocab < 1)
    return usage ();
  if (sm_test_model_write (out, &spec, &err) != SM_OK)
    {
      fprintf (stderr, "smelt-make-test-model: %s\n", err.msg);
      return 1;
    }
  return 0;
}
