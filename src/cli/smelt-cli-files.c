/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-cli-files.c: `smelt files REPO [--revision R] [--json]`, the quant variants of a repo.
 *
 * JSON output (stable, for scripts):
 * {"repo","variants":[{"name","size_bytes","fit","files":[{"path","size","sha256"}]}]}, "fit" being
 * the advisor's verdict for this machine (full_gpu, partial_offload, cpu_only, too_large; absent
 * when the hardware cannot be probed), plus "recommended": the advisor's pick or null.
 */
#include "config.h"

#include <stdio.h>

#include <json-glib/json-glib.h>

#include "smelt-cli-hub.h"
#include "smelt-cli-private.h"

static const char *
split_name (SmeltHubSplitKind kind)
{
  switch (kind)
    {
    case SMELT_HUB_SPLIT_GGUF:
      return "gguf-split";
    case SMELT_HUB_SPLIT_BYTES:
      return "byte pieces";
    case SMELT_HUB_SPLIT_NONE:
    default:
      return "";
    }
}

int
smelt_cli_files (int    argc,
                 char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new ("REPO - list the quant variants of a Hub repository");
  g_autoptr(SmeltHubClient) client = smelt_hub_client_new ();
  g_autoptr(GPtrArray) variants = NULL;
  g_autoptr(SmeltRecommendation) rec = NULL;
  g_autoptr(GError) error = NULL;
  const SmeltAdvice *pick = NULL;
  g_autofree char *revision = NULL;
  gboolean json = FALSE;
  GOptionEntry entries[] = {
    { "revision", 'r', 0, G_OPTION_ARG_STRING, &revision, "Branch, tag or commit (default main)", "R" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL },
    { NULL },
  };

  g_option_context_add_main_entries (context, entries, NULL);
  if (!smelt_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 2)
    {
      fprintf (stderr, "smelt: files needs one REPO (owner/name)\n");
      return 2;
    }

  variants = smelt_cli_list_variants (client, argv[1], revision, &error);
  if (variants == NULL)
    return smelt_cli_fail ("%s", error->message);
  /* The advice comes in the variants' order, so index i describes variant i. */
  rec = smelt_cli_advise (variants, 0);
  if (rec != NULL)
    pick = smelt_recommendation_get_pick (rec);

  if (json)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();
      g_autoptr(JsonGenerator) gen = json_generator_new ();
      g_autoptr(JsonNode) root = NULL;
      g_autofree char *text = NULL;

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "repo");
      json_builder_add_string_value (b, argv[1]);
      json_builder_set_member_name (b, "variants");
      json_builder_begin_array (b);
      for (guint i = 0; i < variants->len; i++)
        {
          SmeltHubVariant *v = g_ptr_array_index (variants, i);

          json_builder_begin_object (b);
          json_builder_set_member_name (b, "name");
          json_builder_add_string_value (b, v->name);
          json_builder_set_member_name (b, "size_bytes");
          json_builder_add_int_value (b, (gint64) v->size_bytes);
          if (rec != NULL)
            {
              const SmeltAdvice *a = g_ptr_array_index (rec->advice, i);

              json_builder_set_member_name (b, "fit");
              json_builder_add_string_value (b, smelt_fit_to_string (a->fit));
            }
          json_builder_set_member_name (b, "files");
          json_builder_begin_array (b);
          for (guint f = 0; f < v->files->len; f++)
            {
              SmeltHubFile *file = g_ptr_array_index (v->files, f);

              json_builder_begin_object (b);
              json_builder_set_member_name (b, "path");
              json_builder_add_string_value (b, file->path);
              json_builder_set_member_name (b, "size");
              json_builder_add_int_value (b, (gint64) file->size);
              json_builder_set_member_name (b, "sha256");
              if (file->sha256 != NULL)
                json_builder_add_string_value (b, file->sha256);
              else
                json_builder_add_null_value (b);
              json_builder_end_object (b);
            }
          json_builder_end_array (b);
          json_builder_end_object (b);
        }
      json_builder_end_array (b);
      json_builder_set_member_name (b, "recommended");
      if (pick != NULL)
        json_builder_add_string_value (b, pick->name);
      else
        json_builder_add_null_value (b);
      json_builder_end_object (b);
      root = json_builder_get_root (b);
      json_generator_set_root (gen, root);
      json_generator_set_pretty (gen, TRUE);
      text = json_generator_to_data (gen, NULL);
      printf ("%s\n", text);
      return 0;
    }

  if (variants->len == 0)
    {
      printf ("%s has no GGUF model files.\n", argv[1]);
      return 0;
    }
  printf ("  %-28s %10s  %-16s %s\n", "VARIANT", "SIZE", rec != NULL ? "FIT" : "", "FILES");
  for (guint i = 0; i < variants->len; i++)
    {
      SmeltHubVariant *v = g_ptr_array_index (variants, i);
      g_autofree char *size = smelt_cli_format_size (v->size_bytes);
      const SmeltAdvice *a = rec != NULL ? g_ptr_array_index (rec->advice, i) : NULL;
      const char *fit = a != NULL ? smelt_fit_to_string (a->fit) : "";

      if (v->files->len == 1)
        printf ("%s %-28s %10s  %-16s %s\n", a != NULL && a == pick ? "*" : " ", v->name, size, fit,
                ((SmeltHubFile *) g_ptr_array_index (v->files, 0))->path);
      else
        printf ("%s %-28s %10s  %-16s %u parts (%s), %s ...\n", a != NULL && a == pick ? "*" : " ", v->name,
                size, fit, v->files->len, split_name (v->split),
                ((SmeltHubFile *) g_ptr_array_index (v->files, 0))->path);
    }
  if (pick != NULL)
    printf ("\n* recommended for this machine (`smelt recommend %s` says why)\n", argv[1]);
  return 0;
}
