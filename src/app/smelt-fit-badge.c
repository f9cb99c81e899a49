/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-fit-badge.c: the fit badge shared by the Discover page's variant rows and the wizard's
 * ranking (see the header).
 */
#include "config.h"

#include <glib/gi18n.h>

#include "smelt-fit-badge.h"

const char *
smelt_fit_label (SmeltFit fit)
{
  switch (fit)
    {
    case SMELT_FIT_FULL_GPU:
      return _("Full GPU");
    case SMELT_FIT_PARTIAL_OFFLOAD:
      return _("Partial offload");
    case SMELT_FIT_CPU_ONLY:
      return _("CPU only");
    case SMELT_FIT_TOO_LARGE:
    case SMELT_FIT_COUNT:
    default:
      return _("Too large");
    }
}

static const char *
fit_css (SmeltFit fit)
{
  switch (fit)
    {
    case SMELT_FIT_FULL_GPU:
      return "success";
    case SMELT_FIT_PARTIAL_OFFLOAD:
    case SMELT_FIT_CPU_ONLY:
      return "warning";
    case SMELT_FIT_TOO_LARGE:
    case SMELT_FIT_COUNT:
    default:
      return "error";
    }
}

GtkWidget *
smelt_fit_badge_new (SmeltFit fit)
{
  GtkWidget *badge = gtk_label_new (smelt_fit_label (fit));

  gtk_widget_set_valign (badge, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (badge, "caption-heading");
  gtk_widget_add_css_class (badge, fit_css (fit));
  return badge;
}
