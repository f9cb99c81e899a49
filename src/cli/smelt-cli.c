/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-cli.c: the command table and the top-level usage text.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "smelt-cli.h"
#include "smelt-cli-private.h"

static const SmeltCliCommand commands[] = {
  { "search", smelt_cli_search, "search GGUF models on the Hugging Face Hub" },
  { "files", smelt_cli_files, "list the quant variants of a Hub repository" },
  { "pull", smelt_cli_pull, "download a model (resumable) into the Hugging Face cache or a folder" },
  { "info", smelt_cli_info, "show the header, metadata and tensors of a GGUF file" },
  { "list", smelt_cli_list, "list the models on this machine" },
  { "rm", smelt_cli_rm, "delete a local model" },
  { "tokenize", smelt_cli_tokenize, "print the token ids of a text" },
  { "hw", smelt_cli_hw, "show the CPU, memory, GPUs and disk Smelt plans for" },
  { "recommend", smelt_cli_recommend, "pick the quant file of a repo that suits this machine" },
  { "quantize", smelt_cli_quantize, "quantize a GGUF model (Q4_K_M, Q8_0, IQ4_XS, ...)" },
  { "run", smelt_cli_run, "run one prompt through a model and print the reply" },
  { "chat", smelt_cli_chat, "chat with a model in the terminal" },
  { "perplexity", smelt_cli_perplexity, "measure a model's perplexity on a text file" },
  { "bench", smelt_cli_bench, "measure prompt and generation speed (llama-bench style)" },
  { NULL, NULL, NULL },
};

static void
print_usage (FILE *out)
{
  fprintf (out,
           "Usage: smelt [COMMAND [ARGS...]]\n"
           "\n"
           "Without a command, opens the Smelt window.\n"
           "\n"
           "Commands:\n");
  for (const SmeltCliCommand *c = commands; c->name != NULL; c++)
    fprintf (out, "  %-12s %s\n", c->name, c->summary);
  fprintf (out,
           "\n"
           "Run `smelt COMMAND --help` for a command's options.\n"
           "  --version    print the version and exit\n");
}

int
smelt_cli_fail (const char *format,
                ...)
{
  g_autofree char *msg = NULL;
  va_list ap;

  va_start (ap, format);
  msg = g_strdup_vprintf (format, ap);
  va_end (ap);
  fprintf (stderr, "smelt: %s\n", msg);
  return 1;
}

gboolean
smelt_cli_parse (GOptionContext *context,
                 int            *argc,
                 char         ***argv)
{
  g_autoptr(GError) error = NULL;

  if (!g_option_context_parse (context, argc, argv, &error))
    {
      fprintf (stderr, "smelt: %s\n", error->message);
      return FALSE;
    }
  return TRUE;
}

int
smelt_cli_main (int    argc,
                char **argv)
{
  const char *name;

  if (argc < 2 || strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0
      || strcmp (argv[1], "help") == 0)
    {
      print_usage (stdout);
      return 0;
    }
  if (strcmp (argv[1], "--version") == 0)
    {
      printf ("smelt %s\n", PACKAGE_VERSION);
      return 0;
    }

  name = argv[1];
  for (const SmeltCliCommand *c = commands; c->name != NULL; c++)
    {
      if (strcmp (c->name, name) == 0)
        {
          g_autofree char *argv0 = g_strdup_printf ("smelt %s", name);
          int status;

          /* The command sees itself as argv[0] so GOption prints "Usage: smelt info ...". */
          argv[1] = argv0;
          status = c->func (argc - 1, argv + 1);
          argv[1] = (char *) name;
          return status;
        }
    }

  fprintf (stderr, "smelt: unknown command '%s'\n\n", name);
  print_usage (stderr);
  return 2;
}
