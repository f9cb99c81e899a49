/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-stall-probe.c: a 5 ms main-loop timer that records how late it fires. See the header.
 */
#include "config.h"

#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>

#include "smelt-stall-probe.h"

#define PROBE_INTERVAL_MS 5

struct _SmeltStallProbe
{
  guint   source_id;
  gint64  last_us;   /* monotonic time of the previous wake-up */
  gint64  worst_us;  /* longest lateness since the last reset */
  gint64  overall_us; /* longest lateness since the start */
  guint   signal_id; /* SIGUSR1 resets worst_us */
  gint64  started_us;
  gint64  written_us; /* when the report file was last written */
  char   *path;      /* (nullable) report file */
};

static void
write_report (SmeltStallProbe *self)
{
  g_autofree char *text = NULL;

  if (self->path == NULL)
    return;
  self->written_us = g_get_monotonic_time ();
  text = g_strdup_printf ("worst_stall_ms=%.1f\nworst_overall_ms=%.1f\nprobed_s=%.1f\n",
                          self->worst_us / 1000.0, self->overall_us / 1000.0,
                          (g_get_monotonic_time () - self->started_us) / 1e6);
  /* A debug aid: failing to write the report must never disturb the app. */
  g_file_set_contents (self->path, text, -1, NULL);
}

static gboolean
probe_tick_cb (gpointer user_data)
{
  SmeltStallProbe *self = user_data;
  gint64 now = g_get_monotonic_time ();
  gint64 late = now - self->last_us - PROBE_INTERVAL_MS * 1000;

  self->last_us = now;
  self->overall_us = MAX (self->overall_us, late);
  if (late > self->worst_us)
    {
      self->worst_us = late;
      /* Report stalls that matter at once; small ones at most five times a second. */
      if (late > 20 * 1000 || now - self->written_us > 200 * 1000)
        write_report (self);
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
on_sigusr1_cb (gpointer user_data)
{
  SmeltStallProbe *self = user_data;

  /* Runs on the main loop (not in signal context), so the probe's state is ours to touch. */
  self->worst_us = 0;
  write_report (self);
  return G_SOURCE_CONTINUE;
}

SmeltStallProbe *
smelt_stall_probe_new (const char *path)
{
  SmeltStallProbe *self = g_new0 (SmeltStallProbe, 1);

  self->path = g_strdup (path);
  self->started_us = self->last_us = g_get_monotonic_time ();
  self->source_id = g_timeout_add (PROBE_INTERVAL_MS, probe_tick_cb, self);
  g_source_set_name_by_id (self->source_id, "[smelt] stall probe");
  self->signal_id = g_unix_signal_add (SIGUSR1, on_sigusr1_cb, self);
  write_report (self);
  return self;
}

SmeltStallProbe *
smelt_stall_probe_new_from_env (void)
{
  const char *value = g_getenv ("SMELT_DEBUG_STALLS");

  if (value == NULL || *value == '\0')
    return NULL;
  return smelt_stall_probe_new (g_str_equal (value, "1") ? NULL : value);
}

double
smelt_stall_probe_get_worst_ms (SmeltStallProbe *self)
{
  g_return_val_if_fail (self != NULL, 0.0);

  return self->worst_us / 1000.0;
}

void
smelt_stall_probe_free (SmeltStallProbe *self)
{
  if (self == NULL)
    return;
  g_clear_handle_id (&self->source_id, g_source_remove);
  g_clear_handle_id (&self->signal_id, g_source_remove);
  fprintf (stderr, "smelt: worst main-loop stall: %.1f ms (%.1f ms since the last reset)\n",
           self->overall_us / 1000.0, self->worst_us / 1000.0);
  write_report (self);
  g_free (self->path);
  g_free (self);
}
