/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-cli-quantize.c: `smelt quantize IN OUT TYPE [options]`, the terminal face of the engine's
 * model quantizer (src/engine/sm-quantize.h). Parses llama-quantize-style options, draws a
 * progress bar with ETA on a terminal (plain lines otherwise) and turns Ctrl-C into a clean
 * cancel: the engine removes its `.part` output. Not for choosing types: that is the engine's plan.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sm-quant.h"
#include "sm-quantize.h"
#include "smelt-cli-private.h"

static volatile sig_atomic_t interrupted;

static void
on_sigint (int sig)
{
  interrupted = 1;
}

typedef struct
{
  gboolean tty;
  gint64   start_us;
  gint64   last_draw_us;
  int      last_percent;
} Progress;

static void
format_duration (char   *buf,
                 gsize   size,
                 double  seconds)
{
  long s = seconds < 0 ? 0 : (long) (seconds + 0.5);

  if (s >= 3600)
    g_snprintf (buf, size, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else
    g_snprintf (buf, size, "%ld:%02ld", s / 60, s % 60);
}

static bool
progress_cb (int64_t  tensor_i,
             int64_t  n_tensors,
             uint64_t bytes_done,
             uint64_t bytes_total,
             void    *user_data)
{
  Progress *p = user_data;
  gint64 now = g_get_monotonic_time ();
  double frac = bytes_total > 0 ? (double) bytes_done / (double) bytes_total : 1.0;
  double elapsed = (double) (now - p->start_us) / 1e6;
  int percent = (int) (frac * 100.0);
  gboolean done = tensor_i >= n_tensors;
  char eta[32] = "--:--";

  if (interrupted)
    return false;
  if (frac > 0.01 && !done)
    format_duration (eta, sizeof eta, elapsed / frac - elapsed);
  if (p->tty)
    {
      char bar[31];
      int filled = (int) (frac * 30.0);

      /* About 10 redraws a second are plenty. */
      if (!done && now - p->last_draw_us < 100000)
        return true;
      p->last_draw_us = now;
      for (int i = 0; i < 30; i++)
        bar[i] = i < filled ? '#' : '.';
      bar[30] = '\0';
      if (done)
        {
          char el[32];
          format_duration (el, sizeof el, elapsed);
          fprintf (stderr, "\r[%s] 100%%  %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT
                   " tensors  done in %s      \n", bar, n_tensors, n_tensors, el);
        }
      else
        fprintf (stderr, "\r[%s] %3d%%  tensor %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT
                 "  ETA %s   ", bar, percent, tensor_i + 1, n_tensors, eta);
      fflush (stderr);
    }
  else if (done || percent / 10 > p->last_percent / 10)
    {
      /* Plain lines for logs and pipes: one every 10%. */
      p->last_percent = percent;
      fprintf (stderr, "quantize: %3d%%  tensor %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT
               "  ETA %s\n", done ? 100 : percent, done ? n_tensors : tensor_i + 1, n_tensors,
               done ? "0:00" : eta);
    }
  return true;
}

/* "2G", "500M", "123456" (decimal units as gguf-split: 1M = 10^6 bytes). */
static gboolean
parse_size (const char *s,
            guint64    *out)
{
  char *end;
  guint64 v, mult = 1;

  if (s == NULL || !g_ascii_isdigit (*s))
    return FALSE;
  errno = 0;
  v = g_ascii_strtoull (s, &end, 10);
  if (errno != 0)
    return FALSE;
  if (*end == 'K' || *end == 'k')
    mult = 1000ull, end++;
  else if (*end == 'M' || *end == 'm')
    mult = 1000ull * 1000, end++;
  else if (*end == 'G' || *end == 'g')
    mult = 1000ull * 1000 * 1000, end++;
  if (*end != '\0' || v == 0 || v > G_MAXUINT64 / mult)
    return FALSE;
  *out = v * mult;
  return TRUE;
}

static char *
valid_types (void)
{
  GString *s = g_string_new (NULL);

  for (gsize i = 0; i < sm_quantize_n_ftypes (); i++)
    g_string_append_printf (s, "%s%s", i ? ", " : "", sm_quantize_ftype_at (i)->name);
  g_string_append (s, " (aliases Q3_K, Q4_K, Q5_K)");
  return g_string_free (s, FALSE);
}

static char *
help_text (void)
{
  GString *s = g_string_new ("TYPE (case-insensitive, as llama-quantize names them):\n");

  for (gsize i = 0; i < sm_quantize_n_ftypes (); i++)
    {
      const sm_quantize_ftype_info *fi = sm_quantize_ftype_at (i);
      g_string_append_printf (s, "  %-8s %s\n", fi->name, fi->description);
    }
  g_string_append (s, "  Q3_K, Q4_K, Q5_K are aliases of Q3_K_M, Q4_K_M, Q5_K_M.\n\n"
                      "--layer-policy dynamic-gate: tensors of the first and last 25% of layers\n"
                      "(q = round(n/4) layers at each end) get the higher type, the middle ones\n"
                      "the lower one, token_embd/output the embed\n"
                      "type (mix rules off; fallbacks and explicit --*-type options still apply):\n"
                      "  TYPE     lower    higher   embed/output\n");
  for (gsize i = 0; i < sm_quantize_n_ftypes (); i++)
    {
      const sm_quantize_ftype_info *fi = sm_quantize_ftype_at (i);
      sm_dynamic_gate_types g;

      if (sm_dynamic_gate_get_types (fi->ftype, &g))
        g_string_append_printf (s, "  %-8s %-8s %-8s %s\n", fi->name,
                                sm_type_get_traits (g.lower)->upper,
                                sm_type_get_traits (g.higher)->upper,
                                sm_type_get_traits (g.embed)->upper);
    }
  g_string_append (s, "  (Q8_0, F16 and BF16 have no dynamic-gate mapping.)");
  return g_string_free (s, FALSE);
}

static gboolean
parse_tensor_type (const char *opt,
                   const char *name,
                   int        *out)
{
  int t;

  if (name == NULL)
    return TRUE;
  t = sm_type_from_name (name);
  if (t < 0 || !sm_quant_can_quantize ((sm_type) t))
    {
      smelt_cli_fail ("%s: '%s' is not a type Smelt can write (e.g. q8_0, q6_K, q4_K, f16)",
                      opt, name);
      return FALSE;
    }
  *out = t;
  return TRUE;
}

/* --dry-run: one line per tensor in output order, then the totals. */
static int
print_plan (const char                   *in_path,
            const sm_quantize_params     *params,
            const sm_quantize_ftype_info *fi)
{
  sm_quantize_plan *plan = NULL;
  sm_error err = { 0 };
  uint64_t bytes = 0;
  size_t n_changed = 0;

  if (sm_quantize_plan_file (in_path, params, &plan, &bytes, &err) != SM_OK)
    return smelt_cli_fail ("quantize: %s", err.msg);
  for (size_t i = 0; i < sm_quantize_plan_get_n (plan); i++)
    {
      const sm_quantize_plan_entry *e = sm_quantize_plan_get (plan, i);

      printf ("%-40s %-7s -> %-7s %s\n", e->name, sm_type_get_traits (e->src_type)->upper,
              sm_type_get_traits (e->type)->upper, e->reason);
      n_changed += e->quantize;
    }
  printf ("%s: %zu of %zu tensors converted, %zu shape fallbacks, %.1f MB of tensor data\n",
          fi->name, n_changed, sm_quantize_plan_get_n (plan),
          sm_quantize_plan_get_n_fallback (plan), (double) bytes / 1e6);
  sm_quantize_plan_free (plan);
  return 0;
}

int
smelt_cli_quantize (int    argc,
                    char **argv)
{
  int threads = 0;
  gboolean pure = FALSE, leave_output = FALSE, allow_requantize = FALSE, dry_run = FALSE;
  g_autofree char *output_type = NULL, *embed_type = NULL, *policy = NULL, *imatrix = NULL;
  g_autofree char *split_size = NULL, *help = NULL;
  GOptionEntry entries[] = {
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "Worker threads (default: the physical cores)", "N" },
    { "output-tensor-type", 0, 0, G_OPTION_ARG_STRING, &output_type,
      "Type of output.weight (and of a tied token_embd)", "T" },
    { "token-embedding-type", 0, 0, G_OPTION_ARG_STRING, &embed_type,
      "Type of token_embd.weight", "T" },
    { "pure", 0, 0, G_OPTION_ARG_NONE, &pure, "No mix rules: every tensor at the base type", NULL },
    { "leave-output-tensor", 0, 0, G_OPTION_ARG_NONE, &leave_output,
      "Copy output.weight unchanged", NULL },
    { "layer-policy", 0, 0, G_OPTION_ARG_STRING, &policy, "Layer policy: dynamic-gate", "P" },
    { "imatrix", 0, 0, G_OPTION_ARG_FILENAME, &imatrix,
      "Importance matrix (GGUF or legacy .dat from llama-imatrix)", "FILE" },
    { "allow-requantize", 0, 0, G_OPTION_ARG_NONE, &allow_requantize,
      "Allow re-quantizing already quantized tensors", NULL },
    { "split-max-size", 0, 0, G_OPTION_ARG_STRING, &split_size,
      "Split the output into parts of at most N bytes of tensors (suffix K, M, G: powers of 1000)",
      "N" },
    { "dry-run", 0, 0, G_OPTION_ARG_NONE, &dry_run,
      "Print the type chosen for each tensor and the output size; write nothing", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("IN OUT TYPE - quantize a GGUF model");
  sm_quantize_params params = sm_quantize_default_params ();
  const sm_quantize_ftype_info *fi;
  struct sigaction sa, old_sa;
  Progress progress = { 0 };
  sm_error err = { 0 };
  sm_status st;
  struct stat sb;

  help = help_text ();
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (context, help);
  if (!smelt_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 4)
    {
      fprintf (stderr, "smelt: quantize needs IN OUT TYPE (see `smelt quantize --help`)\n");
      return 2;
    }
  fi = sm_quantize_ftype_lookup (argv[3]);
  if (fi == NULL)
    {
      g_autofree char *valid = valid_types ();
      fprintf (stderr, "smelt: unknown TYPE '%s'; valid types: %s\n", argv[3], valid);
      return 2;
    }
  params.ftype = fi->ftype;
  params.n_threads = threads;
  params.pure = pure;
  params.leave_output_tensor = leave_output;
  params.allow_requantize = allow_requantize;
  params.imatrix_path = imatrix;
  if (threads < 0 || threads > 256)
    {
      smelt_cli_fail ("--threads must be between 1 and 256");
      return 2;
    }
  if (!parse_tensor_type ("--output-tensor-type", output_type, &params.output_tensor_type)
      || !parse_tensor_type ("--token-embedding-type", embed_type, &params.token_embedding_type))
    return 2;
  if (policy != NULL && !sm_layer_policy_from_name (policy, &params.layer_policy))
    {
      smelt_cli_fail ("unknown --layer-policy '%s' (known: dynamic-gate)", policy);
      return 2;
    }
  if (split_size != NULL && !parse_size (split_size, &params.split_max_size))
    {
      smelt_cli_fail ("--split-max-size: '%s' is not a size like 2G, 500M or 123456", split_size);
      return 2;
    }

  if (dry_run)
    return print_plan (argv[1], &params, fi);

  progress.tty = isatty (STDERR_FILENO);
  progress.start_us = g_get_monotonic_time ();
  progress.last_percent = -10;
  params.progress = progress_cb;
  params.progress_data = &progress;

  /* Ctrl-C only sets a flag: the next progress callback cancels and the engine cleans up. */
  interrupted = 0;
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, &old_sa);
  st = sm_quantize_file (argv[1], argv[2], &params, &err);
  sigaction (SIGINT, &old_sa, NULL);

  if (progress.tty && st != SM_OK)
    fputc ('\n', stderr);
  if (st == SM_ERR_CANCELLED)
    {
      fprintf (stderr, "smelt: quantize cancelled; nothing was written\n");
      return 130;
    }
  if (st != SM_OK)
    return smelt_cli_fail ("quantize: %s", err.msg);

  if (stat (argv[2], &sb) == 0)
    printf ("%s: %s, %.1f MB\n", argv[2], fi->name, (double) sb.st_size / 1e6);
  else
    printf ("%s: %s (split into parts)\n", argv[2], fi->name);
  return 0;
}
