/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-cli-model.c: loading, Ctrl-C and memory helpers for the model commands (see header).
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "smelt-cli-model.h"

static volatile sig_atomic_t interrupted;

static bool
on_load_progress_cb (float  progress,
                     void  *user_data)
{
  fprintf (stderr, "\rsmelt: loading %3d%%", (int) (progress * 100.0f + 0.5f));
  if (progress >= 1.0f)
    fprintf (stderr, "\n");
  return !interrupted;
}

gboolean
smelt_cli_load_model (const char *path,
                      gboolean    verbose,
                      sm_model  **out)
{
  sm_model_params params = sm_model_default_params ();
  sm_error err = { 0 };

  if (verbose && isatty (STDERR_FILENO))
    params.progress = on_load_progress_cb;
  if (sm_model_open (path, &params, out, &err) != SM_OK)
    {
      fprintf (stderr, "smelt: %s: %s\n", path, err.msg);
      return FALSE;
    }
  return TRUE;
}

static void
on_sigint (int sig)
{
  if (interrupted)
    _exit (130);
  interrupted = 1;
}

void
smelt_cli_catch_interrupt (void)
{
  struct sigaction sa = { 0 };

  sa.sa_handler = on_sigint;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, NULL);
}

gboolean
smelt_cli_interrupted (void)
{
  return interrupted != 0;
}

void
smelt_cli_clear_interrupt (void)
{
  interrupted = 0;
}

uint64_t
smelt_cli_resident_bytes (void)
{
  unsigned long long size = 0, resident = 0;
  FILE *f = fopen ("/proc/self/statm", "r");

  if (f == NULL)
    return 0;
  if (fscanf (f, "%llu %llu", &size, &resident) != 2)
    resident = 0;
  fclose (f);
  return resident * (uint64_t) sysconf (_SC_PAGESIZE);
}
