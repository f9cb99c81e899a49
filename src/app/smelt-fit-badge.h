/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-fit-badge.h: how a variant's fit on this machine (full GPU, partial offload, CPU only,
 * too large) is shown: its words, and the coloured caption the Discover page and the wizard put
 * at the end of a variant's row.
 */
#pragma once

#include <gtk/gtk.h>

#include "smelt-decision-table.h"

G_BEGIN_DECLS

/* The fit in words, translated. */
const char *smelt_fit_label (SmeltFit fit);

/* A caption label with the fit's words, coloured success / warning / error. */
GtkWidget  *smelt_fit_badge_new (SmeltFit fit);

G_END_DECLS
