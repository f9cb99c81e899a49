/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * chat-render.c: the Smelt side of chat-template-parity.mjs. Renders a conversation with
 * sm-chat-template and writes the text to stdout, byte for byte:
 *   chat-render MODEL TEMPLATE_FILE|- GEN(0|1) ROLE CONTENT [ROLE CONTENT ...]
 * TEMPLATE_FILE replaces the model's tokenizer.chat_template ("-" keeps the model's own);
 * ROLE is system, user or assistant.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm-chat-template.h"
#include "sm-gguf.h"
#include "sm-tokenizer.h"

static char *
read_file (const char *path, size_t *len)
{
  FILE *f = fopen (path, "rb");
  char *buf = NULL;
  long size;

  if (!f)
    return NULL;
  if (fseek (f, 0, SEEK_END) == 0 && (size = ftell (f)) >= 0 && fseek (f, 0, SEEK_SET) == 0
      && (buf = malloc ((size_t) size + 1)) && fread (buf, 1, (size_t) size, f) == (size_t) size)
    {
      buf[size] = '\0';
      *len = (size_t) size;
    }
  else
    {
      free (buf);
      buf = NULL;
    }
  fclose (f);
  return buf;
}

int
main (int    argc,
      char **argv)
{
  sm_error err = { 0 };
  sm_gguf *g = NULL;
  sm_tokenizer *tok = NULL;
  sm_chat_template *t = NULL;
  sm_chat_message *msgs;
  char *text = NULL, *out = NULL;
  size_t text_len = 0, out_len = 0, n = 0;
  int rc = 1;

  if (argc < 4 || (argc - 4) % 2 != 0)
    {
      fprintf (stderr, "usage: chat-render MODEL TEMPLATE_FILE|- GEN ROLE CONTENT...\n");
      return 2;
    }
  msgs = calloc ((size_t) (argc - 4) / 2 + 1, sizeof *msgs);
  for (int i = 4; i + 1 < argc; i += 2, n++)
    {
      msgs[n].role = strcmp (argv[i], "system") == 0 ? SM_CHAT_ROLE_SYSTEM
                     : strcmp (argv[i], "assistant") == 0 ? SM_CHAT_ROLE_ASSISTANT
                     : SM_CHAT_ROLE_USER;
      msgs[n].content = argv[i + 1];
    }
  if (sm_gguf_open (argv[1], &g, &err) != SM_OK || sm_tokenizer_load (g, &tok, &err) != SM_OK)
    goto out;
  if (strcmp (argv[2], "-") != 0)
    {
      if (!(text = read_file (argv[2], &text_len)))
        {
          fprintf (stderr, "chat-render: cannot read %s\n", argv[2]);
          goto out;
        }
      if (sm_chat_template_new (text, text_len, tok, &t, &err) != SM_OK)
        goto out;
    }
  else if (sm_chat_template_load (g, tok, &t, &err) != SM_OK)
    goto out;
  if (sm_chat_template_render (t, msgs, n, strcmp (argv[3], "1") == 0, &out, &out_len, &err)
      != SM_OK)
    goto out;
  fwrite (out, 1, out_len, stdout);
  rc = 0;

out:
  if (rc)
    fprintf (stderr, "chat-render: %s\n", err.msg);
  free (out);
  free (text);
  free (msgs);
  sm_chat_template_free (t);
  sm_tokenizer_free (tok);
  sm_gguf_free (g);
  return rc;
}
