/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-cli-list.c: `smelt list [--json]`, the models on this machine, and `smelt rm MODEL`.
 */
#include "config.h"

#include <json-glib/json-glib.h>
#include <stdio.h>

#include "smelt-cli-private.h"
#include "smelt-library.h"

static const char *
source_name (SmeltModelSource source)
{
  switch (source)
    {
    case SMELT_MODEL_SOURCE_HUB_CACHE: return "hub-cache";
    case SMELT_MODEL_SOURCE_FOLDER: return "folder";
    case SMELT_MODEL_SOURCE_IMPORTED: return "imported";
    }
  return "unknown";
}

static void
print_json (GPtrArray *models)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *text = NULL;

  json_builder_begin_array (b);
  for (guint i = 0; i < models->len; i++)
    {
      SmeltLocalModel *m = g_ptr_array_index (models, i);

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "id");
      json_builder_add_string_value (b, m->id);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, m->name);
      json_builder_set_member_name (b, "repo");
      if (m->repo != NULL)
        json_builder_add_string_value (b, m->repo);
      else
        json_builder_add_null_value (b);
      json_builder_set_member_name (b, "path");
      json_builder_add_string_value (b, m->path);
      json_builder_set_member_name (b, "files");
      json_builder_begin_array (b);
      for (guint j = 0; j < m->files->len; j++)
        json_builder_add_string_value (b, g_ptr_array_index (m->files, j));
      json_builder_end_array (b);
      json_builder_set_member_name (b, "size_bytes");
      json_builder_add_int_value (b, (gint64) m->size_bytes);
      json_builder_set_member_name (b, "architecture");
      if (m->architecture != NULL)
        json_builder_add_string_value (b, m->architecture);
      else
        json_builder_add_null_value (b);
      json_builder_set_member_name (b, "parameters");
      json_builder_add_int_value (b, (gint64) m->n_params);
      json_builder_set_member_name (b, "quant");
      if (m->quant != NULL)
        json_builder_add_string_value (b, m->quant);
      else
        json_builder_add_null_value (b);
      json_builder_set_member_name (b, "context_length");
      json_builder_add_int_value (b, m->context_length);
      json_builder_set_member_name (b, "source");
      json_builder_add_string_value (b, source_name (m->source));
      if (m->error != NULL)
        {
          json_builder_set_member_name (b, "error");
          json_builder_add_string_value (b, m->error);
        }
      json_builder_end_object (b);
    }
  json_builder_end_array (b);

  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  text = json_generator_to_data (gen, NULL);
  printf ("%s\n", text);
}

static char *
format_params (guint64 n)
{
  if (n >= 1000000000)
    return g_strdup_printf ("%.1fB", n / 1e9);
  if (n >= 1000000)
    return g_strdup_printf ("%.0fM", n / 1e6);
  if (n >= 1000)
    return g_strdup_printf ("%.0fK", n / 1e3);
  return g_strdup_printf ("%" G_GUINT64_FORMAT, n);
}

static void
print_table (SmeltLibrary *library,
             GPtrArray    *models)
{
  g_autofree char *usage = g_format_size (smelt_library_disk_usage (models));

  if (models->len == 0)
    {
      printf ("No models yet. Models in %s and in added folders show up here.\n",
              smelt_library_get_hub_cache (library));
      return;
    }
  printf ("%-52s %-8s %-8s %6s %9s %8s\n", "MODEL", "ARCH", "QUANT", "PARAMS", "SIZE", "CONTEXT");
  for (guint i = 0; i < models->len; i++)
    {
      SmeltLocalModel *m = g_ptr_array_index (models, i);
      g_autofree char *size = g_format_size (m->size_bytes);
      g_autofree char *params = format_params (m->n_params);

      printf ("%-52s %-8s %-8s %6s %9s %8u\n", m->id, m->architecture ? m->architecture : "?",
              m->quant ? m->quant : "?", params, size, m->context_length);
      if (m->error != NULL)
        printf ("    unreadable: %s\n", m->error);
    }
  printf ("\n%u model%s, %s on disk\n", models->len, models->len == 1 ? "" : "s", usage);
}

int
smelt_cli_list (int    argc,
                char **argv)
{
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- list local models");
  g_autoptr(SmeltLibrary) library = NULL;
  g_autoptr(GPtrArray) models = NULL;
  g_autoptr(GError) error = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!smelt_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 1)
    return smelt_cli_fail ("list takes no arguments");

  library = smelt_library_new (NULL, NULL);
  if ((models = smelt_library_scan (library, NULL, &error)) == NULL)
    return smelt_cli_fail ("%s", error->message);
  if (json)
    print_json (models);
  else
    print_table (library, models);
  return 0;
}

int
smelt_cli_rm (int    argc,
              char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new ("MODEL - delete a local model");
  g_autoptr(SmeltLibrary) library = NULL;
  g_autoptr(GPtrArray) models = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *freed_text = NULL;
  SmeltLocalModel *model;
  guint64 freed = 0;

  g_option_context_set_description (context,
                                    "MODEL is an id from `smelt list`, a path, a file name, "
                                    "org/name or org/name:QUANT.");
  if (!smelt_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 2)
    {
      fprintf (stderr, "smelt: rm needs exactly one MODEL\n");
      return 2;
    }

  library = smelt_library_new (NULL, NULL);
  if ((models = smelt_library_scan (library, NULL, &error)) == NULL)
    return smelt_cli_fail ("%s", error->message);
  if ((model = smelt_library_find (models, argv[1], &error)) == NULL)
    return smelt_cli_fail ("%s", error->message);
  if (!smelt_library_delete (library, model, &freed, &error))
    return smelt_cli_fail ("%s", error->message);

  freed_text = g_format_size (freed);
  printf ("Deleted %s (%s freed)\n", model->id, freed_text);
  return 0;
}
