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

char *
smelt_cli_format_size (guint64 bytes)
{
  return g_format_size (bytes);
}
