/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-cli-model.h: what the model commands (run, chat, perplexity, bench) share: loading with
 * a progress line, Ctrl-C handling, and the process's resident memory.
 */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "sm-model.h"

G_BEGIN_DECLS

/* Opens path; prints a progress line on stderr when verbose (and stderr is a terminal), and
 * "smelt: PATH: message" on failure. */
gboolean smelt_cli_load_model (const char *path,
                               gboolean    verbose,
                               sm_model  **out);

/* Installs a SIGINT handler that sets a flag instead of killing the process (a second Ctrl-C
 * while the flag is set exits); smelt_cli_interrupted() reads it, smelt_cli_clear_interrupt()
 * clears it for the next reply. */
void     smelt_cli_catch_interrupt (void);
gboolean smelt_cli_interrupted (void);
void     smelt_cli_clear_interrupt (void);

/* Bytes of this process in RAM (/proc/self/statm); 0 when unknown. */
uint64_t smelt_cli_resident_bytes (void);

G_END_DECLS
