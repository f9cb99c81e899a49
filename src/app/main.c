/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * main.c: one binary, two faces. With no arguments Smelt opens its window; with a command
 * (`smelt info FILE`, `smelt pull REPO`, ...) it runs the command-line tool, which never loads GTK.
 */
#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "smelt-application.h"
#include "smelt-cli.h"

int
main (int    argc,
      char **argv)
{
  const char *localedir = g_getenv ("SMELT_LOCALEDIR");

  setlocale (LC_ALL, "");
  /* SMELT_LOCALEDIR lets the uninstalled build (tests, screenshots) use build/po. */
  bindtextdomain (GETTEXT_PACKAGE, localedir != NULL ? localedir : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  if (argc > 1)
    return smelt_cli_main (argc, argv);

  {
    g_autoptr(SmeltApplication) app = smelt_application_new ();

    return g_application_run (G_APPLICATION (app), argc, argv);
  }
}
