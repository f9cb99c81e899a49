/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-cli-tokenize.c: `smelt tokenize MODEL (--text T | --file F) [--add-special]
 * [--parse-special]` prints the token ids of a text, space-separated on one line, as llama.cpp's
 * tokenizer would produce them. By default no BOS/EOS is added and special-token text is read
 * as plain text; --file is read byte for byte (a trailing newline included).
 *
 * --file may be repeated: each file's ids go on their own line, in order, with the vocabulary
 * loaded once (what tests/parity uses to compare many texts quickly).
 */
#include "config.h"

#include <stdio.h>

#include "smelt-cli-private.h"
#include "sm-gguf.h"
#include "sm-tokenizer.h"

int
smelt_cli_tokenize (int    argc,
                    char **argv)
{
  g_autofree char *text = NULL;
  g_auto(GStrv) files = NULL;
  gboolean add_special = FALSE, parse_special = FALSE;
  GOptionEntry entries[] = {
    { "text", 0, 0, G_OPTION_ARG_STRING, &text, "Text to tokenize", "TEXT" },
    { "file", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &files,
      "Tokenize the bytes of FILE (repeatable: one line per file)", "FILE" },
    { "add-special", 0, 0, G_OPTION_ARG_NONE, &add_special,
      "Add BOS/EOS as the model says", NULL },
    { "parse-special", 0, 0, G_OPTION_ARG_NONE, &parse_special,
      "Read special-token text (e.g. <|im_start|>) as those tokens", NULL },
    { NULL },
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("MODEL");
  g_autoptr(GString) line = g_string_new (NULL);
  guint n_inputs;
  sm_gguf *g = NULL;
  sm_tokenizer *tok = NULL;
  sm_error err = { 0 };

  g_option_context_set_summary (context, "Print the token ids of a text.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!smelt_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 2 || (text == NULL) == (files == NULL))
    {
      fprintf (stderr, "smelt: tokenize needs MODEL and exactly one of --text or --file\n");
      return 2;
    }
  n_inputs = files ? g_strv_length (files) : 1;

  if (sm_gguf_open (argv[1], &g, &err) != SM_OK)
    return smelt_cli_fail ("%s", err.msg); /* names the file already */
  if (sm_tokenizer_load (g, &tok, &err) != SM_OK)
    {
      sm_gguf_free (g);
      return smelt_cli_fail ("%s: %s", argv[1], err.msg);
    }
  sm_gguf_free (g);

  for (guint f = 0; f < n_inputs; f++)
    {
      g_autofree char *contents = NULL;
      g_autoptr(GError) error = NULL;
      const char *input = text;
      gsize input_len;
      sm_token *ids = NULL;
      size_t n_ids = 0;

      if (files)
        {
          if (!g_file_get_contents (files[f], &contents, &input_len, &error))
            {
              sm_tokenizer_free (tok);
              return smelt_cli_fail ("%s", error->message);
            }
          input = contents;
        }
      else
        input_len = strlen (text);

      if (sm_tokenizer_tokenize (tok, input, input_len, add_special, parse_special,
                                 &ids, &n_ids, &err) != SM_OK)
        {
          sm_tokenizer_free (tok);
          return smelt_cli_fail ("%s", err.msg);
        }
      g_string_truncate (line, 0);
      for (size_t i = 0; i < n_ids; i++)
        g_string_append_printf (line, i ? " %d" : "%d", ids[i]);
      g_string_append_c (line, '\n');
      fwrite (line->str, 1, line->len, stdout);
      free (ids);
    }

  sm_tokenizer_free (tok);
  return 0;
}
