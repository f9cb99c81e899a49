/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-cli-search.c: `smelt search QUERY [--sort S] [--limit N] [--json]`, GGUF repos on the Hub.
 *
 * JSON output (stable, for scripts): [{"id","downloads","likes","last_modified"}].
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "smelt-cli-hub.h"
#include "smelt-cli-private.h"

int
smelt_cli_search (int    argc,
                  char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new ("QUERY - search GGUF models on the Hugging Face Hub");
  g_autoptr(SmeltHubClient) client = smelt_hub_client_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GPtrArray) models = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *sort_text = NULL;
  g_autofree char *query = NULL;
  gboolean json = FALSE;
  int limit = 20;
  SmeltHubSort sort = SMELT_HUB_SORT_DOWNLOADS;
  GOptionEntry entries[] = {
    { "sort", 's', 0, G_OPTION_ARG_STRING, &sort_text,
      "downloads (default), likes, trending or modified", "S" },
    { "limit", 'n', 0, G_OPTION_ARG_INT, &limit, "At most N results (default 20)", "N" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL },
    { NULL },
  };

  g_option_context_add_main_entries (context, entries, NULL);
  if (!smelt_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 2)
    {
      fprintf (stderr, "smelt: search needs one QUERY (quote it if it has spaces)\n");
      return 2;
    }
  if (sort_text != NULL && !smelt_hub_sort_from_string (sort_text, &sort))
    {
      fprintf (stderr, "smelt: unknown sort '%s': use downloads, likes, trending or modified\n", sort_text);
      return 2;
    }
  if (limit < 1 || limit > 1000)
    {
      fprintf (stderr, "smelt: --limit must be between 1 and 1000\n");
      return 2;
    }
  query = g_strdup (argv[1]);

  smelt_hub_client_search_async (client, query, sort, (guint) limit, NULL, smelt_cli_wait_cb, &result);
  models = smelt_hub_client_search_finish (client, smelt_cli_wait (&result), &error);
  if (models == NULL)
    return smelt_cli_fail ("%s", error->message);

  if (json)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();
      g_autoptr(JsonGenerator) gen = json_generator_new ();
      g_autoptr(JsonNode) root = NULL;
      g_autofree char *text = NULL;

      json_builder_begin_array (b);
      for (guint i = 0; i < models->len; i++)
        {
          SmeltHubModel *m = g_ptr_array_index (models, i);

          json_builder_begin_object (b);
          json_builder_set_member_name (b, "id");
          json_builder_add_string_value (b, m->id);
          json_builder_set_member_name (b, "downloads");
          json_builder_add_int_value (b, m->downloads);
          json_builder_set_member_name (b, "likes");
          json_builder_add_int_value (b, m->likes);
          json_builder_set_member_name (b, "last_modified");
          if (m->last_modified != NULL)
            json_builder_add_string_value (b, m->last_modified);
          else
            json_builder_add_null_value (b);
          json_builder_end_object (b);
        }
      json_builder_end_array (b);
      root = json_builder_get_root (b);
      json_generator_set_root (gen, root);
      json_generator_set_pretty (gen, TRUE);
      text = json_generator_to_data (gen, NULL);
      printf ("%s\n", text);
      return 0;
    }

  if (models->len == 0)
    {
      printf ("No GGUF models match \"%s\".\n", query);
      return 0;
    }
  printf ("%-60s %12s %8s  %s\n", "MODEL", "DOWNLOADS", "LIKES", "UPDATED");
  for (guint i = 0; i < models->len; i++)
    {
      SmeltHubModel *m = g_ptr_array_index (models, i);
      g_autofree char *day = m->last_modified != NULL ? g_strndup (m->last_modified, 10) : g_strdup ("-");

      printf ("%-60s %12" G_GINT64_FORMAT " %8" G_GINT64_FORMAT "  %s%s\n", m->id, m->downloads, m->likes,
              day, m->gated ? "  (gated)" : "");
    }
  return 0;
}
