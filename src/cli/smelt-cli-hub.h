/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-cli-hub.h: what `smelt search`, `smelt files` and `smelt pull` share: a hub client set
 * up from the environment, and a way to wait for one async result under a main loop (the CLI
 * reuses the app's async services, style.md section 6).
 */
#pragma once

#include <gio/gio.h>

#include "smelt-advisor.h"
#include "smelt-hub-client.h"

G_BEGIN_DECLS

/* Runs the thread-default main context until *result is set by wait_cb. */
void smelt_cli_wait_cb (GObject      *source,
                        GAsyncResult *result,
                        gpointer      user_data);
GAsyncResult *smelt_cli_wait (GAsyncResult **result);

/* The repo's tree at `revision` grouped into variants; prints nothing. */
GPtrArray *smelt_cli_list_variants (SmeltHubClient *client,
                                    const char     *repo_id,
                                    const char     *revision,
                                    GError        **error);

/* The advisor's view of `variants` (borrowed) on this machine, balanced goal, 4096 tokens of
 * context, or NULL when the hardware cannot be probed or the table not loaded (then commands
 * carry on without fit). Tokens per second are only estimated when the memory bandwidth is
 * already known ($SMELT_MEMORY_BANDWIDTH or the cached measurement): listing never benchmarks. */
SmeltRecommendation *smelt_cli_advise (GPtrArray *variants,
                                       guint64    n_params);

/* "2.0 GB" style sizes, decimal like the Hub shows them. */
char *smelt_cli_format_size (guint64 bytes);

G_END_DECLS
