/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * engine-logits.c: the Smelt side of logits-parity.mjs, straight on the engine so that no
 * tokenizer or template sits between the two implementations:
 *   engine-logits MODEL OUT.f32 N_GREEDY ID ID ...
 * evaluates the ids, writes the next-token logits (n_vocab float32, little-endian) to OUT.f32,
 * then generates N_GREEDY tokens greedily and prints their ids on stdout, space separated.
 */
#include <stdio.h>
#include <stdlib.h>

#include "sm-model.h"

int
main (int    argc,
      char **argv)
{
  sm_error err = { 0 };
  sm_model *m = NULL;
  sm_context *c = NULL;
  sm_context_params cp = sm_context_default_params ();
  int32_t *ids;
  int n_ids, n_greedy, n_vocab;
  FILE *f;

  if (argc < 5)
    {
      fprintf (stderr, "usage: engine-logits MODEL OUT.f32 N_GREEDY ID...\n");
      return 2;
    }
  n_greedy = atoi (argv[3]);
  n_ids = argc - 4;
  ids = malloc (sizeof *ids * (size_t) n_ids);
  for (int i = 0; i < n_ids; i++)
    ids[i] = atoi (argv[4 + i]);
  cp.n_ctx = (uint32_t) (n_ids + n_greedy + 1);
  cp.n_threads = 2;
  if (sm_model_open (argv[1], NULL, &m, &err) != SM_OK
      || sm_context_new (m, &cp, &c, &err) != SM_OK
      || sm_context_eval (c, ids, n_ids, NULL, &err) != SM_OK)
    {
      fprintf (stderr, "engine-logits: %s: %s\n", argv[1], err.msg);
      return 1;
    }
  n_vocab = sm_model_get_hparams (m)->n_vocab;
  f = fopen (argv[2], "wb");
  if (f == NULL || fwrite (sm_context_get_logits (c), sizeof (float), (size_t) n_vocab, f)
                     != (size_t) n_vocab || fclose (f) != 0)
    {
      fprintf (stderr, "engine-logits: cannot write %s\n", argv[2]);
      return 1;
    }
  for (int i = 0; i < n_greedy; i++)
    {
      const float *lg = sm_context_get_logits (c);
      int32_t best = 0;
      for (int32_t v = 1; v < n_vocab; v++)
        if (lg[v] > lg[best])
          best = v;
      printf ("%s%d", i ? " " : "", best);
      if (sm_context_eval (c, &best, 1, NULL, &err) != SM_OK)
        {
          fprintf (stderr, "engine-logits: %s\n", err.msg);
          return 1;
        }
    }
  printf ("\n");
  sm_context_free (c);
  sm_model_free (m);
  free (ids);
  return 0;
}
