/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * vocab-variant.c: writes a copy of a vocabulary GGUF's metadata with one string key replaced
 * (or removed when VALUE is "-"), with Smelt's own GGUF writer:
 *   vocab-variant IN.gguf OUT.gguf KEY VALUE
 * tokenize-parity.mjs uses it to try pre-tokenizers no fixture carries (default, starcoder,
 * falcon, smaug-bpe) on a real vocabulary, against llama.cpp.
 */
#include <stdio.h>
#include <string.h>

#include "sm-gguf.h"

int
main (int    argc,
      char **argv)
{
  sm_error err = { 0 };
  sm_gguf *g = NULL;
  sm_gguf_writer *w;
  int rc = 0;

  if (argc != 5)
    {
      fprintf (stderr, "usage: vocab-variant IN.gguf OUT.gguf KEY VALUE|-\n");
      return 2;
    }
  if (sm_gguf_open (argv[1], &g, &err) != SM_OK)
    {
      fprintf (stderr, "vocab-variant: %s\n", err.msg);
      return 1;
    }
  w = sm_gguf_writer_new ();
  for (int64_t i = 0; i < sm_gguf_get_n_kv (g); i++)
    sm_gguf_writer_copy_kv (w, g, i);
  if (strcmp (argv[4], "-") == 0)
    sm_gguf_writer_remove_key (w, argv[3]);
  else
    sm_gguf_writer_set_str (w, argv[3], argv[4]);
  if (sm_gguf_writer_begin (w, argv[2], &err) != SM_OK
      || sm_gguf_writer_finish (w, &err) != SM_OK)
    {
      fprintf (stderr, "vocab-variant: %s\n", err.msg);
      rc = 1;
    }
  sm_gguf_writer_free (w);
  sm_gguf_free (g);
  return rc;
}
