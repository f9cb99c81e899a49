/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-secret.c: the Hub token in the keyring. See the header.
 */
#include "config.h"

#include <glib/gi18n.h>
#include <libsecret/secret.h>

#include "smelt-secret.h"

static const SecretSchema *
token_schema (void)
{
  static const SecretSchema schema = {
    APP_ID ".Token", SECRET_SCHEMA_NONE,
    {
      { "kind", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { NULL, 0 },
    },
    0, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  };

  return &schema;
}

static void
lookup_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  char *token = secret_password_lookup_finish (result, &error);

  if (error != NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, token, (GDestroyNotify) secret_password_free);
}

void
smelt_secret_lookup_token_async (GCancellable       *cancellable,
                                 GAsyncReadyCallback callback,
                                 gpointer            user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);

  g_task_set_source_tag (task, smelt_secret_lookup_token_async);
  secret_password_lookup (token_schema (), cancellable, lookup_cb, task,
                          "kind", "hub-token", NULL);
}

char *
smelt_secret_lookup_token_finish (GAsyncResult *result,
                                  GError      **error)
{
  char *secret;
  char *copy;

  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);

  /* Hand out a plain g_free()-able copy; the keyring's copy is wiped on free. */
  secret = g_task_propagate_pointer (G_TASK (result), error);
  copy = g_strdup (secret);
  secret_password_free (secret);
  return copy;
}

static void
store_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (g_task_get_task_data (task) != NULL)
    secret_password_store_finish (result, &error);
  else
    secret_password_clear_finish (result, &error);

  if (error != NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

void
smelt_secret_store_token_async (const char         *token,
                                GCancellable       *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer            user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);

  g_task_set_source_tag (task, smelt_secret_store_token_async);
  if (token != NULL && *token != '\0')
    {
      /* Task data only marks "store" versus "clear" for store_cb. */
      g_task_set_task_data (task, GINT_TO_POINTER (1), NULL);
      secret_password_store (token_schema (), SECRET_COLLECTION_DEFAULT,
                             _("Smelt: Hugging Face access token"),
                             token, cancellable, store_cb, task,
                             "kind", "hub-token", NULL);
    }
  else
    secret_password_clear (token_schema (), cancellable, store_cb, task,
                           "kind", "hub-token", NULL);
}

gboolean
smelt_secret_store_token_finish (GAsyncResult *result,
                                 GError      **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}
