/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-cli-hub.c: helpers shared by the Hub commands of the CLI (see smelt-cli-hub.h).
 */
#include "config.h"

#include "smelt-cli-hub.h"

void
smelt_cli_wait_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  GAsyncResult **slot = user_data;

  *slot = g_object_ref (result);
}

GAsyncResult *
smelt_cli_wait (GAsyncResult **result)
{
  while (*result == NULL)
    g_main_context_iteration (NULL, TRUE);
  return *result;
}

GPtrArray *
smelt_cli_list_variants (SmeltHubClient *client,
                         const char     *repo_id,
                         const char     *revision,
                         GError        **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GPtrArray) files = NULL;

  smelt_hub_client_list_files_async (client, repo_id, revision, NULL, smelt_cli_wait_cb, &result);
  files = smelt_hub_client_list_files_finish (client, smelt_cli_wait (&result), error);
  if (files == NULL)
    return NULL;
  return smelt_hub_variants_from_files (files);
}

SmeltRecommendation *
smelt_cli_advise (GPtrArray *variants,
                  guint64    n_params)
{
  g_autoptr(SmeltDecisionTable) table = NULL;
  g_autoptr(SmeltHwProfile) hw = NULL;
  g_autoptr(GError) error = NULL;
  SmeltModelInfo model = { 0 };

  table = smelt_decision_table_load (NULL, &error);
  if (table == NULL)
    {
      g_debug ("No advice: %s", error->message);
      return NULL;
    }
  hw = smelt_hw_profile_probe (NULL, NULL, &error);
  if (hw == NULL)
    {
      g_debug ("No advice: %s", error->message);
      return NULL;
    }
  model.n_params = n_params;
  return smelt_advisor_recommend (table, variants, hw, SMELT_GOAL_BALANCED, 4096, &model);
}

char *
smelt_cli_format_size (guint64 bytes)
{
  return g_format_size (bytes);
}
