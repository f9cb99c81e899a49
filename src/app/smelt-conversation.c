/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-conversation.c: conversations as JSON files. See the header for the format.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "smelt-conversation.h"

SmeltConversation *
smelt_conversation_new (const char *title)
{
  SmeltConversation *conv = g_new0 (SmeltConversation, 1);
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *uuid = g_uuid_string_random ();
  g_autofree char *stamp = g_date_time_format (now, "%Y%m%d%H%M%S");

  conv->id = g_strdup_printf ("%s-%.8s", stamp, uuid);
  conv->title = g_strdup (title);
  conv->updated = g_date_time_to_unix (now);
  conv->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_chat_message_free);
  return conv;
}

void
smelt_conversation_free (SmeltConversation *conv)
{
  if (conv == NULL)
    return;
  g_free (conv->id);
  g_free (conv->title);
  g_free (conv->model_path);
  g_free (conv->system_prompt);
  g_ptr_array_unref (conv->messages);
  g_free (conv);
}

char *
smelt_conversation_get_dir (void)
{
  return g_build_filename (g_get_user_data_dir (), "smelt", "conversations", NULL);
}

gboolean
smelt_conversation_save (SmeltConversation *conv,
                         const char        *dir,
                         GError           **error)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *text = NULL;
  g_autofree char *name = NULL;
  g_autofree char *path = NULL;

  g_return_val_if_fail (conv != NULL, FALSE);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "version");
  json_builder_add_int_value (b, 1);
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, conv->id);
  json_builder_set_member_name (b, "title");
  json_builder_add_string_value (b, conv->title ? conv->title : "");
  json_builder_set_member_name (b, "model");
  if (conv->model_path)
    json_builder_add_string_value (b, conv->model_path);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "system_prompt");
  json_builder_add_string_value (b, conv->system_prompt ? conv->system_prompt : "");
  json_builder_set_member_name (b, "updated");
  json_builder_add_int_value (b, conv->updated);
  json_builder_set_member_name (b, "messages");
  json_builder_begin_array (b);
  for (guint i = 0; i < conv->messages->len; i++)
    {
      const SmeltChatMessage *m = g_ptr_array_index (conv->messages, i);

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "role");
      json_builder_add_string_value (b, m->role == SMELT_CHAT_ROLE_USER ? "user" : "assistant");
      json_builder_set_member_name (b, "content");
      json_builder_add_string_value (b, m->content);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  text = json_generator_to_data (gen, NULL);

  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", dir,
                   g_strerror (saved));
      return FALSE;
    }
  name = g_strconcat (conv->id, ".json", NULL);
  path = g_build_filename (dir, name, NULL);
  /* g_file_set_contents writes a temporary file and renames it over the old one. */
  return g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
}

SmeltConversation *
smelt_conversation_load (const char *path,
                         GError    **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(SmeltConversation) conv = NULL;
  JsonObject *o;
  JsonArray *msgs;

  if (!json_parser_load_from_file (parser, path, error))
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    goto invalid;
  o = json_node_get_object (json_parser_get_root (parser));
  if (json_object_get_int_member_with_default (o, "version", 0) != 1
      || !json_object_has_member (o, "id")
      || json_object_get_string_member_with_default (o, "id", NULL) == NULL
      || !json_object_has_member (o, "messages")
      || !JSON_NODE_HOLDS_ARRAY (json_object_get_member (o, "messages")))
    goto invalid;

  conv = g_new0 (SmeltConversation, 1);
  conv->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_chat_message_free);
  conv->id = g_strdup (json_object_get_string_member (o, "id"));
  /* An id names a file: refuse anything that could point elsewhere. */
  if (strchr (conv->id, '/') != NULL || conv->id[0] == '.' || conv->id[0] == '\0')
    goto invalid;
  conv->title = g_strdup (json_object_get_string_member_with_default (o, "title", ""));
  {
    JsonNode *model = json_object_get_member (o, "model");

    if (model != NULL && JSON_NODE_HOLDS_VALUE (model)
        && json_node_get_value_type (model) == G_TYPE_STRING)
      conv->model_path = g_strdup (json_node_get_string (model));
  }
  conv->system_prompt = g_strdup (json_object_get_string_member_with_default (o, "system_prompt",
                                                                              ""));
  conv->updated = json_object_get_int_member_with_default (o, "updated", 0);
  msgs = json_object_get_array_member (o, "messages");
  for (guint i = 0; i < json_array_get_length (msgs); i++)
    {
      JsonNode *n = json_array_get_element (msgs, i);
      JsonObject *m;
      const char *role, *content;

      if (!JSON_NODE_HOLDS_OBJECT (n))
        goto invalid;
      m = json_node_get_object (n);
      role = json_object_get_string_member_with_default (m, "role", "");
      content = json_object_get_string_member_with_default (m, "content", NULL);
      if (content == NULL || (!g_str_equal (role, "user") && !g_str_equal (role, "assistant")))
        goto invalid;
      g_ptr_array_add (conv->messages,
                       smelt_chat_message_new (g_str_equal (role, "user") ? SMELT_CHAT_ROLE_USER
                                                                          : SMELT_CHAT_ROLE_ASSISTANT,
                                               content));
    }
  return g_steal_pointer (&conv);

invalid:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s is not a Smelt conversation",
               path);
  return NULL;
}

static int
newest_first (gconstpointer a,
              gconstpointer b)
{
  const SmeltConversation *x = *(SmeltConversation **) a;
  const SmeltConversation *y = *(SmeltConversation **) b;

  return (y->updated > x->updated) - (y->updated < x->updated);
}

GPtrArray *
smelt_conversation_load_all (const char *dir)
{
  GPtrArray *all = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_conversation_free);
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  /* A missing folder just means no conversations yet. */
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autoptr(GError) error = NULL;
      SmeltConversation *conv;

      if (!g_str_has_suffix (name, ".json"))
        continue;
      path = g_build_filename (dir, name, NULL);
      if ((conv = smelt_conversation_load (path, &error)) == NULL)
        {
          g_debug ("Skipping %s: %s", path, error->message);
          continue;
        }
      g_ptr_array_add (all, conv);
    }
  g_ptr_array_sort (all, newest_first);
  return all;
}

gboolean
smelt_conversation_delete (SmeltConversation *conv,
                           const char        *dir,
                           GError           **error)
{
  g_autofree char *name = g_strconcat (conv->id, ".json", NULL);
  g_autofree char *path = g_build_filename (dir, name, NULL);

  if (g_unlink (path) != 0 && errno != ENOENT)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}
