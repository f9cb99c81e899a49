/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-stall-probe.h: measures how long the main loop goes without running, for the e2e test and
 * for people chasing a frozen window. Enabled only when SMELT_DEBUG_STALLS is set: a 5 ms timer
 * records how late each of its wake-ups is; the worst lateness is the longest stall. Not a
 * profiler: it says how bad, not where. SIGUSR1 resets the worst (startup's own cost is not a
 * stall during a download or a reply, so the e2e test resets before each flow it measures).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _SmeltStallProbe SmeltStallProbe;

/* Returns NULL unless SMELT_DEBUG_STALLS is set. Its value is "1" (report on stderr only) or a
 * file path that also receives the report (worst_stall_ms=, worst_overall_ms=, probed_s=),
 * rewritten after every new worst stall over 20 ms, on reset and at free. */
SmeltStallProbe *smelt_stall_probe_new_from_env (void);

/* Starts probing the thread-default main context now; the report file is written to `path`
 * (nullable). Must be called on the main thread. */
SmeltStallProbe *smelt_stall_probe_new (const char *path);

/* The longest stall since the start or the last SIGUSR1, in milliseconds. */
double smelt_stall_probe_get_worst_ms (SmeltStallProbe *self);

/* Stops probing, prints the worst stalls on stderr and writes the file. */
void smelt_stall_probe_free (SmeltStallProbe *self);

G_END_DECLS
