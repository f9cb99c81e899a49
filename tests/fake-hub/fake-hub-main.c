/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * fake-hub-main.c: `fake-hub --port N --root DIR` runs the test Hub as a program, for e2e tests
 * and benchmarks. Repositories are DIR/<org>/<name>/...; the URL is printed on stdout (one line)
 * once the server listens. Runs until killed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "smelt-fake-hub.h"

int
main (int    argc,
      char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new ("- a loopback Hugging Face Hub for tests");
  g_autoptr(GError) error = NULL;
  g_autoptr(SmeltFakeHub) hub = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autofree char *root = NULL;
  g_autofree char *token = NULL;
  g_auto(GStrv) gated = NULL;
  int port = 0;
  GOptionEntry entries[] = {
    { "port", 0, 0, G_OPTION_ARG_INT, &port, "Port on 127.0.0.1 (0 = any)", "N" },
    { "root", 0, 0, G_OPTION_ARG_FILENAME, &root, "Directory of repositories", "DIR" },
    { "token", 0, 0, G_OPTION_ARG_STRING, &token, "The token gated repos accept", "TOKEN" },
    { "gated", 0, 0, G_OPTION_ARG_STRING_ARRAY, &gated, "Mark a repo gated", "REPO" },
    { NULL },
  };

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "fake-hub: %s\n", error->message);
      return 2;
    }
  if (port < 0 || port > 65535)
    {
      fprintf (stderr, "fake-hub: bad port\n");
      return 2;
    }

  hub = smelt_fake_hub_new ();
  if (root != NULL && !smelt_fake_hub_load_dir (hub, root, &error))
    {
      fprintf (stderr, "fake-hub: %s\n", error->message);
      return 1;
    }
  if (token != NULL)
    smelt_fake_hub_set_token (hub, token);
  for (guint i = 0; gated != NULL && gated[i] != NULL; i++)
    smelt_fake_hub_set_gated (hub, gated[i], TRUE);
  if (!smelt_fake_hub_start (hub, (guint) port, &error))
    {
      fprintf (stderr, "fake-hub: %s\n", error->message);
      return 1;
    }
  printf ("%s\n", smelt_fake_hub_get_url (hub));
  fflush (stdout);

  loop = g_main_loop_new (NULL, FALSE);
  g_main_loop_run (loop);
  return 0;
}
