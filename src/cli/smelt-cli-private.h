/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-cli-private.h: what the command files share. Every command gets argv with argv[0] set
 * to "smelt <command>" and returns the exit status (0 success, 1 failure, 2 usage error).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef int (*SmeltCliCommandFunc) (int    argc,
                                    char **argv);

typedef struct
{
  const char         *name;
  SmeltCliCommandFunc func;
  const char         *summary; /* one line for `smelt --help` */
} SmeltCliCommand;

/* Prints "smelt: <message>" on stderr (one line) and returns 1. */
int smelt_cli_fail (const char *format,
                    ...) G_GNUC_PRINTF (1, 2);

/* Parses a GOptionContext for a command; prints the error and returns FALSE on bad usage. */
gboolean smelt_cli_parse (GOptionContext *context,
                          int            *argc,
                          char         ***argv);

/* The commands, one file each (smelt-cli-<name>.c; list and rm share smelt-cli-list.c). */
int smelt_cli_bench (int argc, char **argv);
int smelt_cli_chat (int argc, char **argv);
int smelt_cli_files (int argc, char **argv);
int smelt_cli_hw (int argc, char **argv);
int smelt_cli_info (int argc, char **argv);
int smelt_cli_list (int argc, char **argv);
int smelt_cli_perplexity (int argc, char **argv);
int smelt_cli_pull (int argc, char **argv);
int smelt_cli_quantize (int argc, char **argv);
int smelt_cli_recommend (int argc, char **argv);
int smelt_cli_rm (int argc, char **argv);
int smelt_cli_run (int argc, char **argv);
int smelt_cli_search (int argc, char **argv);
int smelt_cli_tokenize (int argc, char **argv);

G_END_DECLS
