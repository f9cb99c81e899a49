/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-cli.h: `smelt <command> ...`, the terminal face of Smelt's services.
 *
 * Each command lives in its own smelt-cli-<command>.c and is listed in the table in smelt-cli.c.
 * Not for the window: src/app/main.c decides whether the GUI or the CLI runs.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Runs the command named by argv[1] and returns the process exit status. Prints usage for
 * `--help`, `help` or an unknown command. */
int smelt_cli_main (int    argc,
                    char **argv);

G_END_DECLS
