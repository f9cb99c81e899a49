/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * make-test-model.c: command-line front of test-model-maker for the parity tests and
 * benchmarks/: `make-test-model OUT.gguf [--arch A] [--vocab VOCAB.gguf] [--type T]
 * [--embd-type T] [--dim N] [--layers N] [--heads N] [--kv-heads N] [--ff N] [--n-vocab N]
 * [--ctx N] [--tied] [--bias] [--rope-freqs] [--rope-base F] [--rope-scaling TYPE] [--seed N]`. Not installed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test-model-maker.h"

static int
usage (void)
{
  fprintf (stderr, "usage: make-test-model OUT.gguf [--arch A] [--vocab FILE] [--type T] "
                   "[--embd-type T] [--dim N] [--layers N] [--heads N] [--kv-heads N] [--ff N] "
                   "[--n-vocab N] [--ctx N] [--tied] [--bias] [--rope-freqs] [--rope-base F] "
                   "[--rope-scaling TYPE] [--seed N]\n");
  return 2;
}

int
main (int    argc,
      char **argv)
{
  sm_test_model_spec spec = sm_test_model_default_spec ();
  const char *out = NULL;
  sm_error err = { 0 };

  for (int i = 1; i < argc; i++)
    {
      const char *a = argv[i];
      const char *v = i + 1 < argc ? argv[i + 1] : NULL;
      int t;

      if (strcmp (a, "--tied") == 0)
        spec.tied = true;
      else if (strcmp (a, "--bias") == 0)
        spec.qkv_bias = true;
      else if (strcmp (a, "--rope-freqs") == 0)
        spec.rope_freqs = true;
      else if (a[0] == '-' && v == NULL)
        return usage ();
      else if (strcmp (a, "--arch") == 0)
        spec.arch = argv[++i];
      else if (strcmp (a, "--vocab") == 0)
        spec.vocab_path = argv[++i];
      else if (strcmp (a, "--type") == 0 || strcmp (a, "--embd-type") == 0)
        {
          if ((t = sm_type_from_name (v)) < 0)
            {
              fprintf (stderr, "make-test-model: unknown type %s\n", v);
              return 2;
            }
          if (strcmp (a, "--type") == 0)
            spec.type = (sm_type) t;
          else
            spec.embd_type = t;
          i++;
        }
      else if (strcmp (a, "--dim") == 0)
        spec.dim = atoi (argv[++i]);
      else if (strcmp (a, "--layers") == 0)
        spec.n_layer = atoi (argv[++i]);
      else if (strcmp (a, "--heads") == 0)
        spec.n_head = atoi (argv[++i]);
      else if (strcmp (a, "--kv-heads") == 0)
        spec.n_head_kv = atoi (argv[++i]);
      else if (strcmp (a, "--ff") == 0)
        spec.n_ff = atoi (argv[++i]);
      else if (strcmp (a, "--n-vocab") == 0)
        spec.n_vocab = atoi (argv[++i]);
      else if (strcmp (a, "--ctx") == 0)
        spec.n_ctx = atoi (argv[++i]);
      else if (strcmp (a, "--rope-scaling") == 0)
        spec.rope_scaling = argv[++i];
      else if (strcmp (a, "--rope-base") == 0)
        spec.rope_base = (float) atof (argv[++i]);
      else if (strcmp (a, "--seed") == 0)
        spec.seed = strtoull (argv[++i], NULL, 10);
      else if (a[0] != '-' && out == NULL)
        out = a;
      else
        return usage ();
    }
  if (out == NULL || spec.dim <= 0 || spec.n_head <= 0 || spec.n_head_kv <= 0
      || spec.n_layer <= 0 || spec.n_ff <= 0 || spec.dim % spec.n_head != 0)
    return usage ();
  if (sm_test_model_write (&spec, out, &err) != SM_OK)
    {
      fprintf (stderr, "make-test-model: %s\n", err.msg);
      return 1;
    }
  return 0;
}
