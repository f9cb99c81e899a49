/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-cli-hw.c: `smelt hw [--json]`: the hardware profile the advisor sees (CPU and its
 * features, memory, GPUs, free disk space where models are stored). `--root` reads a recorded
 * /proc and /sys tree instead of the live machine, as the tests do.
 */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <stdio.h>

#include "smelt-cli-private.h"
#include "smelt-hw.h"

static void
print_human (const SmeltHwProfile *hw,
             double                bandwidth)
{
  g_autofree char *features = g_strjoinv (" ", hw->features);
  g_autofree char *total = g_format_size (hw->memory_total_bytes);
  g_autofree char *avail = g_format_size (hw->memory_available_bytes);

  printf ("%-10s %s (%s), %d cores, %d threads\n", _("CPU"),
          hw->model[0] != '\0' ? hw->model : _("unknown model"), hw->arch, hw->cores,
          hw->threads);
  printf ("%-10s %s\n", _("Features"), features[0] != '\0' ? features : _("none detected"));
  printf ("%-10s %s total, %s available\n", _("Memory"), total, avail);
  if (bandwidth > 0)
    {
      g_autofree char *bw = g_format_size ((guint64) bandwidth);

      printf ("%-10s %s/s\n", _("Bandwidth"), bw);
    }
  if (hw->gpus->len == 0)
    printf ("%-10s %s\n", _("GPU"), _("none usable for offload"));
  for (guint i = 0; i < hw->gpus->len; i++)
    {
      const SmeltHwGpu *g = g_ptr_array_index (hw->gpus, i);
      g_autofree char *vt = g_format_size (g->vram_total_bytes);
      g_autofree char *vf = g_format_size (g->vram_free_bytes);

      printf ("%-10s %s (%s): %s %s, %s free%s%s%s\n", _("GPU"), g->name, g->vendor, vt,
              g->unified_memory ? _("shared memory") : _("VRAM"), vf, g->bf16 ? ", BF16" : "",
              g->fp16 ? ", FP16" : "", "");
    }
  if (hw->disk_path != NULL)
    {
      g_autofree char *df = g_format_size (hw->disk_free_bytes);

      printf ("%-10s %s: %s free\n", _("Disk"), hw->disk_path, df);
    }
}

int
smelt_cli_hw (int    argc,
              char **argv)
{
  gboolean json = FALSE;
  g_autofree char *root = NULL;
  g_autofree char *models_dir = NULL;
  GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print the profile as JSON"), NULL },
    { "root", 0, 0, G_OPTION_ARG_FILENAME, &root,
      N_("Read a recorded /proc and /sys tree under DIR instead of this machine"), N_("DIR") },
    { "models-dir", 0, 0, G_OPTION_ARG_FILENAME, &models_dir,
      N_("Report the free space of DIR (default: the Hugging Face cache)"), N_("DIR") },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new (NULL);
  g_autoptr(SmeltHwProfile) hw = NULL;
  g_autoptr(GError) error = NULL;

  g_option_context_set_summary (context, _("Show the hardware Smelt recommends files for."));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!smelt_cli_parse (context, &argc, &argv))
    return 2;
  if (argc > 1)
    {
      fprintf (stderr, "smelt: hw takes no arguments\n");
      return 2;
    }

  hw = smelt_hw_profile_probe (root, models_dir, &error);
  if (hw == NULL)
    return smelt_cli_fail ("%s", error->message);

  if (json)
    {
      g_autoptr(JsonNode) node = smelt_hw_profile_to_json (hw);
      g_autofree char *text = json_to_string (node, TRUE);

      printf ("%s\n", text);
    }
  else
    print_human (hw, root == NULL ? smelt_hw_memory_bandwidth () : 0);
  return 0;
}
