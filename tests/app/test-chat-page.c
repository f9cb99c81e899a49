/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-chat-page.c: the Chat page with the real stories260K model: a saved conversation is
 * listed and its code block shown in monospace; picking the model loads it; sending streams a
 * reply into the page and saves both messages as JSON; regenerate replaces the reply; rename
 * and delete reach the file; a damaged conversation file is skipped, not fatal.
 */
#include "config.h"

#include <adwaita.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "smelt-chat-page.h"
#include "smelt-conversation.h"

static char *tmp;
static char *model_path;

static void
on_done_cb (SmeltChatPage *page,
            gboolean       ok,
            int           *result)
{
  *result = ok ? 1 : 0;
}

static int
wait_signal (SmeltChatPage *page,
             const char    *signal)
{
  int result = -1;
  gulong id = g_signal_connect (page, signal, G_CALLBACK (on_done_cb), &result);
  gint64 end = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;

  while (result < 0 && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_signal_handler_disconnect (page, id);
  return result;
}

static gboolean
has_monospace_label (GtkWidget  *root,
                     const char *text)
{
  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    {
      if (GTK_IS_LABEL (c) && gtk_widget_has_css_class (c, "monospace")
          && g_str_equal (gtk_label_get_text (GTK_LABEL (c)), text))
        return TRUE;
      if (has_monospace_label (c, text))
        return TRUE;
    }
  return FALSE;
}

static guint
count_rows (GtkWidget *root)
{
  guint n = 0;

  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    n += GTK_IS_LIST_BOX_ROW (c) ? 1 : count_rows (c);
  return n;
}

static void
test_chat_page (void)
{
  g_autofree char *dir = smelt_conversation_get_dir ();
  g_autofree char *damaged = g_build_filename (dir, "damaged.json", NULL);
  g_autoptr(SmeltConversation) saved = smelt_conversation_new ("Old chat");
  g_autoptr(GPtrArray) models = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_local_model_free);
  g_autoptr(GPtrArray) all = NULL;
  SmeltLocalModel *m = g_new0 (SmeltLocalModel, 1);
  SmeltChatPage *page;
  GtkWidget *window;
  SmeltConversation *conv = NULL;
  g_autofree char *first_reply = NULL;

  /* A conversation from an earlier run, with a code block, and a damaged file beside it. */
  saved->updated = 1;
  g_ptr_array_add (saved->messages, smelt_chat_message_new (SMELT_CHAT_ROLE_USER, "code?"));
  g_ptr_array_add (saved->messages,
                   smelt_chat_message_new (SMELT_CHAT_ROLE_ASSISTANT,
                                           "Here:\n```c\nint main (void);\n```\nDone."));
  g_assert_true (smelt_conversation_save (saved, dir, NULL));
  g_assert_true (g_file_set_contents (damaged, "{ \"version\": 1, \"id\": \"../x\" }", -1, NULL));

  /* Short replies on one thread keep the test fast on a busy machine: stories260K has no end
   * of turn and writes until the context is full. */
  {
    g_autoptr(GSettings) settings = g_settings_new (APP_ID);

    g_settings_set_int (settings, "context-length", 256);
    g_settings_set_int (settings, "threads", 1);
  }

  window = gtk_window_new ();
  page = g_object_new (SMELT_TYPE_CHAT_PAGE, NULL);
  gtk_window_set_child (GTK_WINDOW (window), GTK_WIDGET (page));
  gtk_window_present (GTK_WINDOW (window));

  g_assert_cmpuint (count_rows (GTK_WIDGET (page)), >=, 1);
  g_assert_true (has_monospace_label (GTK_WIDGET (page), "int main (void);"));

  /* Sending without a model is refused politely. */
  smelt_chat_page_send (page, "hello");
  g_assert_false (smelt_chat_page_get_busy (page));

  m->id = g_strdup (model_path);
  m->name = g_strdup ("stories");
  m->path = g_strdup (model_path);
  m->files = g_ptr_array_new_with_free_func (g_free);
  m->quant = g_strdup ("F32");
  g_ptr_array_add (models, m);
  smelt_chat_page_set_models (page, models);
  smelt_chat_page_new_conversation (page);
  g_assert_true (smelt_chat_page_select_model (page, model_path));
  g_assert_true (smelt_chat_page_get_busy (page));
  g_assert_cmpint (wait_signal (page, "model-loaded"), ==, 1);

  smelt_chat_page_send (page, "Once upon a time");
  g_assert_true (smelt_chat_page_get_busy (page));
  g_assert_cmpint (wait_signal (page, "reply-done"), ==, 1);
  g_assert_false (smelt_chat_page_get_busy (page));

  /* Both messages are on disk, in the newest conversation, titled after the first words. */
  all = smelt_conversation_load_all (dir);
  g_assert_cmpuint (all->len, ==, 2);
  conv = g_ptr_array_index (all, 0);
  g_assert_cmpstr (conv->title, ==, "Once upon a time");
  g_assert_cmpstr (conv->model_path, ==, model_path);
  g_assert_cmpuint (conv->messages->len, ==, 2);
  g_assert_cmpstr (((SmeltChatMessage *) g_ptr_array_index (conv->messages, 0))->content, ==,
                   "Once upon a time");
  first_reply = g_strdup (((SmeltChatMessage *) g_ptr_array_index (conv->messages, 1))->content);
  g_assert_cmpuint (strlen (first_reply), >, 0);
  g_clear_pointer (&all, g_ptr_array_unref);

  /* Regenerate keeps two messages (a new reply replaces the old one). */
  gtk_widget_activate_action (GTK_WIDGET (page), "chat.regenerate", NULL);
  g_assert_cmpint (wait_signal (page, "reply-done"), ==, 1);
  all = smelt_conversation_load_all (dir);
  g_assert_cmpuint (((SmeltConversation *) g_ptr_array_index (all, 0))->messages->len, ==, 2);
  g_clear_pointer (&all, g_ptr_array_unref);

  /* Delete removes the file. */
  gtk_widget_activate_action (GTK_WIDGET (page), "chat.delete", NULL);
  all = smelt_conversation_load_all (dir);
  g_assert_cmpuint (all->len, ==, 1);
  g_assert_cmpstr (((SmeltConversation *) g_ptr_array_index (all, 0))->title, ==, "Old chat");

  gtk_window_destroy (GTK_WINDOW (window));
}

static void
test_conversation_files (void)
{
  g_autofree char *dir = g_build_filename (tmp, "convs", NULL);
  g_autoptr(SmeltConversation) c = smelt_conversation_new ("T");
  g_autoptr(SmeltConversation) back = NULL;
  g_autofree char *name = NULL;
  g_autofree char *path = NULL;
  g_autoptr(GError) error = NULL;

  c->system_prompt = g_strdup ("Be brief.");
  g_ptr_array_add (c->messages, smelt_chat_message_new (SMELT_CHAT_ROLE_USER, "héllo \"q\"\n"));
  g_assert_true (smelt_conversation_save (c, dir, &error));
  name = g_strconcat (c->id, ".json", NULL);
  path = g_build_filename (dir, name, NULL);
  back = smelt_conversation_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (back->system_prompt, ==, "Be brief.");
  g_assert_null (back->model_path);
  g_assert_cmpstr (((SmeltChatMessage *) g_ptr_array_index (back->messages, 0))->content, ==,
                   "héllo \"q\"\n");

  /* Not a conversation: a clear error, never a crash. */
  g_assert_true (g_file_set_contents (path, "[1,2,3]", -1, NULL));
  g_assert_null (smelt_conversation_load (path, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error (&error);
  g_assert_true (g_file_set_contents (path, "{\"version\":1,\"id\":\"a\",\"messages\":"
                                      "[{\"role\":\"root\",\"content\":\"x\"}]}", -1, NULL));
  g_assert_null (smelt_conversation_load (path, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
}

/* Built inside a window that shows another page, the Chat page neither reads the saved
 * conversations nor reopens the newest one's model, even once the Library's models are known;
 * both happen when the page is shown. (The window opens on the Library: a launch must not load a
 * model the user did not ask for.) Runs after /app/chat/page, whose files it leaves alone. */
static void
test_restore_when_shown (void)
{
  g_autofree char *dir = smelt_conversation_get_dir ();
  g_autoptr(SmeltConversation) saved = smelt_conversation_new ("Reopen me");
  g_autoptr(GPtrArray) models = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_local_model_free);
  g_autofree char *saved_file = NULL;
  SmeltLocalModel *m = g_new0 (SmeltLocalModel, 1);
  GtkWidget *window;
  GtkWidget *stack;
  GtkWidget *other;
  SmeltChatPage *page;

  saved->model_path = g_strdup (model_path);
  saved->updated = g_get_real_time () / G_USEC_PER_SEC;
  g_ptr_array_add (saved->messages, smelt_chat_message_new (SMELT_CHAT_ROLE_USER, "hi"));
  g_ptr_array_add (saved->messages, smelt_chat_message_new (SMELT_CHAT_ROLE_ASSISTANT, "hello"));
  g_assert_true (smelt_conversation_save (saved, dir, NULL));
  saved_file = g_strdup_printf ("%s/%s.json", dir, saved->id);
  g_assert_true (g_file_test (saved_file, G_FILE_TEST_EXISTS));

  m->id = g_strdup (model_path);
  m->name = g_strdup ("stories");
  m->path = g_strdup (model_path);
  m->files = g_ptr_array_new_with_free_func (g_free);
  m->quant = g_strdup ("F32");
  g_ptr_array_add (models, m);

  window = gtk_window_new ();
  stack = gtk_stack_new ();
  other = gtk_label_new ("Library");
  page = g_object_new (SMELT_TYPE_CHAT_PAGE, NULL);
  gtk_stack_add_named (GTK_STACK (stack), other, "library");
  gtk_stack_add_named (GTK_STACK (stack), GTK_WIDGET (page), "chat");
  gtk_stack_set_visible_child (GTK_STACK (stack), other);
  gtk_window_set_child (GTK_WINDOW (window), stack);
  gtk_window_present (GTK_WINDOW (window));

  smelt_chat_page_set_models (page, models);
  g_assert_false (gtk_widget_get_mapped (GTK_WIDGET (page)));
  g_assert_cmpuint (count_rows (GTK_WIDGET (page)), ==, 0);
  g_assert_false (smelt_chat_page_get_busy (page));

  /* Shown: the saved conversations are listed and the newest one's model loads. */
  gtk_stack_set_visible_child (GTK_STACK (stack), GTK_WIDGET (page));
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (page)));
  g_assert_cmpuint (count_rows (GTK_WIDGET (page)), >=, 2);
  g_assert_true (smelt_chat_page_get_busy (page));
  g_assert_cmpint (wait_signal (page, "model-loaded"), ==, 1);

  gtk_window_destroy (GTK_WINDOW (window));
  g_assert_cmpint (g_unlink (saved_file), ==, 0);
}

int
main (int    argc,
      char **argv)
{
  const char *shared = g_getenv ("SMELT_SHARED_DIR");
  g_autofree char *data = NULL;
  int ret;

  tmp = g_dir_make_tmp ("smelt-test-chat-page-XXXXXX", NULL);
  data = g_build_filename (tmp, "data", NULL);
  /* Conversations go to a scratch XDG_DATA_HOME, never the user's. */
  g_setenv ("XDG_DATA_HOME", data, TRUE);
  model_path = g_build_filename (shared ? shared : "../shared", "fixtures", "models",
                                 "stories260K.gguf", NULL);
  gtk_test_init (&argc, &argv, NULL);
  adw_init ();

  g_test_add_func ("/app/chat/conversation-files", test_conversation_files);
  g_test_add_func ("/app/chat/page", test_chat_page);
  g_test_add_func ("/app/chat/restore-when-shown", test_restore_when_shown);
  ret = g_test_run ();

  {
    g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", tmp);

    (void) !system (cmd); /* best-effort clean-up */
  }
  return ret;
}
