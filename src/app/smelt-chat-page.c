/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-chat-page.c: the Chat page. See the header. The page keeps the conversations; the
 * SmeltChatSession keeps only the loaded model and its cache. "busy" signals (model loading,
 * reply done) let tests and the window follow what happens without polling.
 */
#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "smelt-a11y.h"
#include "smelt-chat-page.h"
#include "smelt-conversation.h"
#include "smelt-runtime.h"

struct _SmeltChatPage
{
  AdwBin parent_instance;

  /* template widgets */
  AdwToastOverlay   *toast_overlay;
  AdwLeaflet        *leaflet;
  GtkWidget         *sidebar;
  GtkWidget         *content;
  GtkListBox        *conversations_list;
  GtkEditableLabel  *title_label;
  GtkDropDown       *model_dropdown;
  GtkStringList     *model_names;
  GtkEntry          *system_prompt_entry;
  GtkProgressBar    *load_bar;
  GtkScrolledWindow *messages_scroller;
  GtkBox            *messages_box;
  GtkLabel          *status_label;
  GtkTextView       *input_view;
  GtkStack          *send_stack;
  GtkAdjustment     *temperature_adjustment;
  GtkAdjustment     *top_p_adjustment;
  GtkAdjustment     *top_k_adjustment;
  GtkAdjustment     *min_p_adjustment;
  GtkAdjustment     *repeat_penalty_adjustment;
  GtkAdjustment     *context_length_adjustment;
  GtkAdjustment     *threads_adjustment;

  /* owned */
  SmeltChatSession  *session;
  GSettings         *settings;
  GPtrArray         *conversations;   /* (element-type SmeltConversation) newest first */
  GPtrArray         *models;          /* (element-type SmeltLocalModel) the picker's entries */
  char              *conv_dir;
  GCancellable      *reply_cancellable;
  GCancellable      *load_cancellable;
  GString           *streaming_text;  /* the reply so far */

  /* borrowed */
  SmeltConversation *current;         /* an element of conversations */
  GtkWidget         *streaming_body;  /* the reply's body box while it streams */

  guint64            seed;
  guint              updating_picker : 1; /* programmatic picker changes must not load */
  guint              loading : 1;
  guint              replying : 1;
  guint              restored : 1;     /* the saved conversations have been read */
};

G_DEFINE_FINAL_TYPE (SmeltChatPage, smelt_chat_page, ADW_TYPE_BIN)

enum { REPLY_DONE, MODEL_LOADED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void update_actions (SmeltChatPage *self);

static void
toast (SmeltChatPage *self,
       const char    *text)
{
  AdwToast *t = adw_toast_new (text);

  adw_toast_set_timeout (t, 6);
  adw_toast_overlay_add_toast (self->toast_overlay, t);
  smelt_a11y_name_internal_controls (GTK_WIDGET (self->toast_overlay));
}

static void
save_current (SmeltChatPage *self)
{
  g_autoptr(GError) error = NULL;

  if (self->current == NULL)
    return;
  self->current->updated = g_get_real_time () / G_USEC_PER_SEC;
  if (!smelt_conversation_save (self->current, self->conv_dir, &error))
    {
      g_autofree char *msg = g_strdup_printf (_("The conversation could not be saved: %s"),
                                              error->message);
      toast (self, msg);
    }
}

/* ---- messages ---- */

static void
on_copy_clicked_cb (GtkButton *button,
                    gpointer   user_data)
{
  const char *text = g_object_get_data (G_OBJECT (button), "text");

  gdk_clipboard_set_text (gtk_widget_get_clipboard (GTK_WIDGET (button)), text);
}

/* Fills `body` with the text split at ``` fences: prose in normal labels, code in monospace
 * cards (a language tag after the opening fence is dropped). */
static void
fill_body (GtkWidget  *body,
           const char *text)
{
  g_auto(GStrv) parts = g_strsplit (text, "```", -1);
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (body)) != NULL)
    gtk_box_remove (GTK_BOX (body), child);

  for (guint i = 0; parts[i] != NULL; i++)
    {
      const char *part = parts[i];
      g_autofree char *trimmed = NULL;
      GtkWidget *label;
      gboolean code = (i % 2) == 1;

      if (code)
        {
          const char *nl = strchr (part, '\n');

          /* "```python\n...": skip the tag when the first line is a single word. */
          if (nl != NULL && strcspn (part, " \t") >= (size_t) (nl - part))
            part = nl + 1;
        }
      trimmed = g_strstrip (g_strdup (part));
      if (*trimmed == '\0')
        continue;
      label = gtk_label_new (trimmed);
      gtk_label_set_wrap (GTK_LABEL (label), TRUE);
      gtk_label_set_wrap_mode (GTK_LABEL (label), PANGO_WRAP_WORD_CHAR);
      gtk_label_set_xalign (GTK_LABEL (label), 0);
      gtk_label_set_selectable (GTK_LABEL (label), TRUE);
      if (code)
        {
          GtkWidget *frame = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);

          gtk_widget_add_css_class (label, "monospace");
          gtk_widget_set_margin_start (label, 8);
          gtk_widget_set_margin_end (label, 8);
          gtk_widget_set_margin_top (label, 6);
          gtk_widget_set_margin_bottom (label, 6);
          gtk_widget_add_css_class (frame, "card");
          gtk_box_append (GTK_BOX (frame), label);
          gtk_box_append (GTK_BOX (body), frame);
        }
      else
        gtk_box_append (GTK_BOX (body), label);
    }
}

/* A message: who said it, a copy button, and the body. Returns the body box. */
static GtkWidget *
append_message (SmeltChatPage *self,
                SmeltChatRole  role,
                const char    *text)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 4);
  GtkWidget *header = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *who = gtk_label_new (role == SMELT_CHAT_ROLE_USER ? _("You") : _("Assistant"));
  GtkWidget *copy = gtk_button_new_from_icon_name ("edit-copy-symbolic");
  GtkWidget *body = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);

  gtk_widget_add_css_class (who, "heading");
  gtk_widget_set_hexpand (who, TRUE);
  gtk_label_set_xalign (GTK_LABEL (who), 0);
  gtk_widget_add_css_class (copy, "flat");
  gtk_widget_set_tooltip_text (copy, _("Copy"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (copy), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  role == SMELT_CHAT_ROLE_USER ? _("Copy your message")
                                                               : _("Copy the reply"), -1);
  g_object_set_data_full (G_OBJECT (copy), "text", g_strdup (text), g_free);
  g_signal_connect (copy, "clicked", G_CALLBACK (on_copy_clicked_cb), NULL);
  g_object_set_data (G_OBJECT (body), "copy-button", copy);
  gtk_box_append (GTK_BOX (header), who);
  gtk_box_append (GTK_BOX (header), copy);
  gtk_box_append (GTK_BOX (box), header);
  gtk_box_append (GTK_BOX (box), body);
  if (role == SMELT_CHAT_ROLE_USER)
    gtk_widget_add_css_class (box, "dim-label");
  fill_body (body, text);
  gtk_box_append (self->messages_box, box);
  return body;
}

static gboolean
scroll_to_end_cb (gpointer user_data)
{
  SmeltChatPage *self = user_data;
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (self->messages_scroller);

  gtk_adjustment_set_value (adj, gtk_adjustment_get_upper (adj));
  return G_SOURCE_REMOVE;
}

static void
scroll_to_end (SmeltChatPage *self)
{
  g_idle_add_full (G_PRIORITY_LOW, scroll_to_end_cb, g_object_ref (self), g_object_unref);
}

static void
show_conversation (SmeltChatPage *self)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->messages_box))) != NULL)
    gtk_box_remove (self->messages_box, child);
  self->streaming_body = NULL;
  if (self->current == NULL)
    return;
  gtk_editable_set_text (GTK_EDITABLE (self->title_label), self->current->title);
  gtk_editable_set_text (GTK_EDITABLE (self->system_prompt_entry),
                         self->current->system_prompt ? self->current->system_prompt : "");
  for (guint i = 0; i < self->current->messages->len; i++)
    {
      const SmeltChatMessage *m = g_ptr_array_index (self->current->messages, i);

      append_message (self, m->role, m->content);
    }
  scroll_to_end (self);
  if (self->current->model_path != NULL)
    smelt_chat_page_select_model (self, self->current->model_path);
}

/* ---- the conversation list ---- */

static void
rebuild_list (SmeltChatPage *self)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->conversations_list))) != NULL)
    gtk_list_box_remove (self->conversations_list, child);
  for (guint i = 0; i < self->conversations->len; i++)
    {
      SmeltConversation *c = g_ptr_array_index (self->conversations, i);
      GtkWidget *label = gtk_label_new (c->title);
      GtkWidget *row = gtk_list_box_row_new ();

      gtk_label_set_xalign (GTK_LABEL (label), 0);
      gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
      gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), label);
      g_object_set_data (G_OBJECT (row), "conversation", c);
      gtk_list_box_append (self->conversations_list, row);
      if (c == self->current)
        gtk_list_box_select_row (self->conversations_list, GTK_LIST_BOX_ROW (row));
    }
}

/* Retitles the current conversation's row without rebuilding the list. */
static void
update_current_row (SmeltChatPage *self)
{
  for (GtkWidget *row = gtk_widget_get_first_child (GTK_WIDGET (self->conversations_list));
       row != NULL; row = gtk_widget_get_next_sibling (row))
    if (g_object_get_data (G_OBJECT (row), "conversation") == self->current)
      {
        gtk_label_set_text (GTK_LABEL (gtk_list_box_row_get_child (GTK_LIST_BOX_ROW (row))),
                            self->current->title);
        return;
      }
  rebuild_list (self);
}

static void
on_conversations_list_row_selected_cb (SmeltChatPage *self,
                                       GtkListBoxRow *row)
{
  SmeltConversation *c = row ? g_object_get_data (G_OBJECT (row), "conversation") : NULL;

  if (c == NULL || c == self->current)
    return;
  if (self->replying)
    smelt_chat_page_stop (self);
  self->current = c;
  show_conversation (self);
  adw_leaflet_navigate (self->leaflet, ADW_NAVIGATION_DIRECTION_FORWARD);
  update_actions (self);
}

/* The saved conversations are read, and the newest one shown (which reopens its model once the
 * Library has listed it), the first time the page is mapped or a conversation is started from
 * outside, not when the window is built: the window opens on the Library, the files are read on
 * the main thread, and a model should only be loaded for a user who comes to chat. */
static void
ensure_restored (SmeltChatPage *self)
{
  if (self->restored)
    return;
  self->restored = TRUE;
  g_clear_pointer (&self->conversations, g_ptr_array_unref);
  self->conversations = smelt_conversation_load_all (self->conv_dir);
  if (self->conversations->len > 0)
    {
      self->current = g_ptr_array_index (self->conversations, 0);
      rebuild_list (self);
      show_conversation (self);
    }
  else
    smelt_chat_page_new_conversation (self);
  smelt_a11y_name_internal_controls (GTK_WIDGET (self));
  update_actions (self);
}

void
smelt_chat_page_new_conversation (SmeltChatPage *self)
{
  SmeltConversation *c;

  g_return_if_fail (SMELT_IS_CHAT_PAGE (self));

  ensure_restored (self);

  if (self->replying)
    smelt_chat_page_stop (self);
  c = smelt_conversation_new (_("New Chat"));
  c->model_path = g_strdup (smelt_chat_session_get_model_path (self->session));
  g_ptr_array_insert (self->conversations, 0, c);
  self->current = c;
  rebuild_list (self);
  show_conversation (self);
  adw_leaflet_navigate (self->leaflet, ADW_NAVIGATION_DIRECTION_FORWARD);
  gtk_widget_grab_focus (GTK_WIDGET (self->input_view));
  update_actions (self);
}

static void
on_title_label_editing_cb (SmeltChatPage *self)
{
  const char *title;

  /* Save when editing ends, not on every keystroke. */
  if (gtk_editable_label_get_editing (self->title_label) || self->current == NULL)
    return;
  title = gtk_editable_get_text (GTK_EDITABLE (self->title_label));
  if (*title == '\0' || g_strcmp0 (title, self->current->title) == 0)
    {
      gtk_editable_set_text (GTK_EDITABLE (self->title_label), self->current->title);
      return;
    }
  g_free (self->current->title);
  self->current->title = g_strdup (title);
  save_current (self);
  update_current_row (self);
}

static void
on_system_prompt_changed_cb (SmeltChatPage *self)
{
  if (self->current == NULL)
    return;
  g_free (self->current->system_prompt);
  self->current->system_prompt = g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->system_prompt_entry)));
}

static void
on_back_button_clicked_cb (SmeltChatPage *self)
{
  adw_leaflet_navigate (self->leaflet, ADW_NAVIGATION_DIRECTION_BACK);
}

/* ---- models ---- */

static void
read_params (SmeltChatPage       *self,
             SmeltSamplingParams *p)
{
  smelt_sampling_params_init (p);
  p->temperature = g_settings_get_double (self->settings, "temperature");
  p->top_p = g_settings_get_double (self->settings, "top-p");
  p->top_k = g_settings_get_int (self->settings, "top-k");
  p->min_p = g_settings_get_double (self->settings, "min-p");
  p->repeat_penalty = g_settings_get_double (self->settings, "repeat-penalty");
  p->n_ctx = g_settings_get_int (self->settings, "context-length");
  p->n_threads = g_settings_get_int (self->settings, "threads");
  /* One seed per page: a seed that changed every reply would rebuild the context each time. */
  p->seed = self->seed;
}

static void
on_load_progress_cb (SmeltChatPage *self,
                     double         progress)
{
  gtk_progress_bar_set_fraction (self->load_bar, progress);
}

static void
load_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(SmeltChatPage) self = user_data;
  g_autoptr(GError) error = NULL;

  self->loading = FALSE;
  gtk_widget_set_visible (GTK_WIDGET (self->load_bar), FALSE);
  if (!smelt_chat_session_load_finish (SMELT_CHAT_SESSION (source), result, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_autofree char *msg = g_strdup_printf (_("The model could not be loaded: %s"),
                                                  error->message);
          toast (self, msg);
          gtk_label_set_text (self->status_label, msg);
        }
    }
  else
    {
      gtk_label_set_text (self->status_label, _("Model loaded. Type a message to start."));
      if (self->current != NULL)
        {
          g_free (self->current->model_path);
          self->current->model_path = g_strdup (smelt_chat_session_get_model_path (self->session));
        }
    }
  update_actions (self);
  g_signal_emit (self, signals[MODEL_LOADED], 0, error == NULL);
}

static void
load_model (SmeltChatPage *self,
            const char    *path)
{
  SmeltSamplingParams p;

  if (g_strcmp0 (path, smelt_chat_session_get_model_path (self->session)) == 0)
    return;
  if (self->loading || self->replying)
    {
      toast (self, _("Wait for the current model or reply to finish."));
      return;
    }
  read_params (self, &p);
  self->loading = TRUE;
  g_clear_object (&self->load_cancellable);
  self->load_cancellable = g_cancellable_new ();
  gtk_progress_bar_set_fraction (self->load_bar, 0);
  gtk_widget_set_visible (GTK_WIDGET (self->load_bar), TRUE);
  gtk_label_set_text (self->status_label, _("Loading the model…"));
  smelt_chat_session_load_async (self->session, path, &p, self->load_cancellable, load_cb,
                                 g_object_ref (self));
  update_actions (self);
}

static void
on_model_dropdown_selected_cb (SmeltChatPage *self)
{
  guint i = gtk_drop_down_get_selected (self->model_dropdown);

  if (self->updating_picker || self->models == NULL || i >= self->models->len)
    return;
  load_model (self, ((SmeltLocalModel *) g_ptr_array_index (self->models, i))->path);
}

void
smelt_chat_page_set_models (SmeltChatPage *self,
                            GPtrArray     *models)
{
  const char *loaded;
  guint n_old;

  g_return_if_fail (SMELT_IS_CHAT_PAGE (self));

  g_clear_pointer (&self->models, g_ptr_array_unref);
  self->models = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_local_model_free);
  loaded = smelt_chat_session_get_model_path (self->session);

  self->updating_picker = TRUE;
  n_old = g_list_model_get_n_items (G_LIST_MODEL (self->model_names));
  gtk_string_list_splice (self->model_names, 0, n_old, NULL);
  for (guint i = 0; models != NULL && i < models->len; i++)
    {
      const SmeltLocalModel *m = g_ptr_array_index (models, i);
      g_autofree char *label = NULL;

      if (m->error != NULL)
        continue;
      label = m->quant ? g_strdup_printf ("%s (%s)", m->name, m->quant) : g_strdup (m->name);
      g_ptr_array_add (self->models, smelt_local_model_copy (m));
      gtk_string_list_append (self->model_names, label);
    }
  gtk_drop_down_set_selected (self->model_dropdown, GTK_INVALID_LIST_POSITION);
  for (guint i = 0; i < self->models->len; i++)
    if (g_strcmp0 (((SmeltLocalModel *) g_ptr_array_index (self->models, i))->path, loaded) == 0)
      gtk_drop_down_set_selected (self->model_dropdown, i);
  self->updating_picker = FALSE;
  update_actions (self);

  /* Reopen the model the conversation on screen was using, once the Library knows it. */
  if (loaded == NULL && !self->loading && self->current != NULL
      && self->current->model_path != NULL)
    smelt_chat_page_select_model (self, self->current->model_path);
}

gboolean
smelt_chat_page_select_model (SmeltChatPage *self,
                              const char    *path)
{
  g_return_val_if_fail (SMELT_IS_CHAT_PAGE (self), FALSE);

  for (guint i = 0; self->models != NULL && i < self->models->len; i++)
    if (g_strcmp0 (((SmeltLocalModel *) g_ptr_array_index (self->models, i))->path, path) == 0)
      {
        self->updating_picker = TRUE;
        gtk_drop_down_set_selected (self->model_dropdown, i);
        self->updating_picker = FALSE;
        load_model (self, path);
        return TRUE;
      }
  return FALSE;
}

/* ---- replies ---- */

static void
on_piece_cb (SmeltChatPage *self,
             const char    *text)
{
  if (self->streaming_body == NULL)
    return;
  GtkWidget *only;

  g_string_append (self->streaming_text, text);
  only = gtk_widget_get_first_child (self->streaming_body);
  /* Plain prose in one label: update it in place rather than rebuilding the body. */
  if (only != NULL && GTK_IS_LABEL (only) && gtk_widget_get_next_sibling (only) == NULL
      && strstr (self->streaming_text->str, "```") == NULL)
    {
      g_autofree char *trimmed = g_strstrip (g_strdup (self->streaming_text->str));

      gtk_label_set_text (GTK_LABEL (only), trimmed);
    }
  else
    fill_body (self->streaming_body, self->streaming_text->str);
  scroll_to_end (self);
}

static void
reply_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(SmeltChatPage) self = user_data;
  g_autoptr(GError) error = NULL;
  SmeltReplyStats st = { 0 };
  g_autofree char *reply = smelt_chat_session_reply_finish (SMELT_CHAT_SESSION (source), result,
                                                            &st, &error);
  GtkWidget *body = self->streaming_body;

  self->replying = FALSE;
  self->streaming_body = NULL;
  gtk_stack_set_visible_child_name (self->send_stack, "send");

  if (reply == NULL)
    {
      g_autofree char *msg = g_strdup_printf (_("No reply: %s"), error->message);

      toast (self, msg);
      gtk_label_set_text (self->status_label, msg);
      if (body != NULL)
        gtk_box_remove (self->messages_box, gtk_widget_get_parent (body));
    }
  else
    {
      g_autofree char *status = NULL;
      GtkWidget *copy = body ? g_object_get_data (G_OBJECT (body), "copy-button") : NULL;

      if (body != NULL)
        {
          GtkWidget *only = gtk_widget_get_first_child (body);
          g_autofree char *trimmed = g_strstrip (g_strdup (reply));

          /* Keep the streamed label when the reply is plain prose; rebuild for code blocks. */
          if (only != NULL && GTK_IS_LABEL (only) && gtk_widget_get_next_sibling (only) == NULL
              && strstr (reply, "```") == NULL)
            gtk_label_set_text (GTK_LABEL (only), trimmed);
          else
            fill_body (body, reply);
        }
      if (copy != NULL)
        g_object_set_data_full (G_OBJECT (copy), "text", g_strdup (reply), g_free);
      if (self->current != NULL)
        {
          g_ptr_array_add (self->current->messages,
                           smelt_chat_message_new (SMELT_CHAT_ROLE_ASSISTANT, reply));
          save_current (self);
        }
      /* Translators: context usage and generation speed after a reply. */
      status = g_strdup_printf (_("Context: %u of %u tokens · %.1f tokens/s"),
                                MIN (st.context_used, st.n_ctx), st.n_ctx,
                                st.tokens_per_second);
      if (st.stopped)
        {
          g_autofree char *s = g_strdup_printf (_("%s · stopped"), status);

          g_free (status);
          status = g_steal_pointer (&s);
        }
      gtk_label_set_text (self->status_label, status);
    }
  update_actions (self);
  g_signal_emit (self, signals[REPLY_DONE], 0, reply != NULL);
}

static void
start_reply (SmeltChatPage *self)
{
  SmeltSamplingParams p;

  read_params (self, &p);
  smelt_chat_session_set_params (self->session, &p);
  self->replying = TRUE;
  g_string_truncate (self->streaming_text, 0);
  self->streaming_body = append_message (self, SMELT_CHAT_ROLE_ASSISTANT, "");
  g_clear_object (&self->reply_cancellable);
  self->reply_cancellable = g_cancellable_new ();
  gtk_stack_set_visible_child_name (self->send_stack, "stop");
  gtk_label_set_text (self->status_label, _("Thinking…"));
  smelt_chat_session_reply_async (self->session, self->current->system_prompt,
                                  self->current->messages, self->reply_cancellable, reply_cb,
                                  g_object_ref (self));
  scroll_to_end (self);
  update_actions (self);
}

void
smelt_chat_page_send (SmeltChatPage *self,
                      const char    *text)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->input_view);
  g_autofree char *owned = NULL;
  g_autofree char *message = NULL;

  g_return_if_fail (SMELT_IS_CHAT_PAGE (self));

  if (self->replying || self->loading)
    return;
  if (smelt_chat_session_get_model_path (self->session) == NULL)
    {
      toast (self, _("Choose a model first."));
      return;
    }
  if (text == NULL)
    {
      GtkTextIter start, end;

      gtk_text_buffer_get_bounds (buffer, &start, &end);
      owned = gtk_text_buffer_get_text (buffer, &start, &end, FALSE);
      text = owned;
    }
  message = g_strstrip (g_strdup (text));
  if (*message == '\0')
    return;
  if (self->current == NULL)
    smelt_chat_page_new_conversation (self);

  gtk_text_buffer_set_text (buffer, "", 0);
  if (self->current->messages->len == 0)
    {
      /* Name a new conversation after its first words. */
      g_autofree char *title = g_utf8_substring (message, 0, MIN (g_utf8_strlen (message, -1), 40));

      g_free (self->current->title);
      self->current->title = g_strdelimit (g_steal_pointer (&title), "\n", ' ');
      gtk_editable_set_text (GTK_EDITABLE (self->title_label), self->current->title);
      update_current_row (self);
    }
  g_free (self->current->model_path);
  self->current->model_path = g_strdup (smelt_chat_session_get_model_path (self->session));
  g_ptr_array_add (self->current->messages, smelt_chat_message_new (SMELT_CHAT_ROLE_USER, message));
  append_message (self, SMELT_CHAT_ROLE_USER, message);
  save_current (self);
  start_reply (self);
}

void
smelt_chat_page_stop (SmeltChatPage *self)
{
  g_return_if_fail (SMELT_IS_CHAT_PAGE (self));

  if (self->replying)
    g_cancellable_cancel (self->reply_cancellable);
}

gboolean
smelt_chat_page_get_busy (SmeltChatPage *self)
{
  g_return_val_if_fail (SMELT_IS_CHAT_PAGE (self), FALSE);

  return self->replying || self->loading;
}

static void
regenerate (SmeltChatPage *self)
{
  GPtrArray *msgs;
  GtkWidget *last;

  if (self->current == NULL || self->replying || self->loading)
    return;
  msgs = self->current->messages;
  if (msgs->len < 2
      || ((SmeltChatMessage *) g_ptr_array_index (msgs, msgs->len - 1))->role
         != SMELT_CHAT_ROLE_ASSISTANT)
    return;
  g_ptr_array_remove_index (msgs, msgs->len - 1);
  if ((last = gtk_widget_get_last_child (GTK_WIDGET (self->messages_box))) != NULL)
    gtk_box_remove (self->messages_box, last);
  start_reply (self);
}

static void
update_actions (SmeltChatPage *self)
{
  gboolean idle = !self->replying && !self->loading;
  gboolean can_regen = FALSE;

  if (self->current != NULL && self->current->messages->len >= 2)
    can_regen = ((SmeltChatMessage *) g_ptr_array_index (self->current->messages,
                                                          self->current->messages->len - 1))->role
                == SMELT_CHAT_ROLE_ASSISTANT;
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "chat.send",
                                 idle && smelt_chat_session_get_model_path (self->session) != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "chat.stop", self->replying);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "chat.regenerate", idle && can_regen
                                 && smelt_chat_session_get_model_path (self->session) != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "chat.delete", idle && self->current != NULL);
  gtk_widget_set_sensitive (GTK_WIDGET (self->model_dropdown), idle);
}

static void
delete_conversation (SmeltChatPage *self)
{
  g_autoptr(GError) error = NULL;

  if (self->current == NULL || self->replying)
    return;
  if (!smelt_conversation_delete (self->current, self->conv_dir, &error))
    {
      toast (self, error->message);
      return;
    }
  g_ptr_array_remove (self->conversations, self->current);
  self->current = self->conversations->len > 0 ? g_ptr_array_index (self->conversations, 0)
                                               : NULL;
  rebuild_list (self);
  show_conversation (self);
  if (self->current == NULL)
    gtk_editable_set_text (GTK_EDITABLE (self->title_label), "");
  update_actions (self);
}

static void
chat_action (GtkWidget  *widget,
             const char *name,
             GVariant   *param)
{
  SmeltChatPage *self = SMELT_CHAT_PAGE (widget);

  if (g_str_equal (name, "chat.new"))
    smelt_chat_page_new_conversation (self);
  else if (g_str_equal (name, "chat.send"))
    smelt_chat_page_send (self, NULL);
  else if (g_str_equal (name, "chat.stop"))
    smelt_chat_page_stop (self);
  else if (g_str_equal (name, "chat.regenerate"))
    regenerate (self);
  else if (g_str_equal (name, "chat.delete"))
    delete_conversation (self);
}

static void
smelt_chat_page_map (GtkWidget *widget)
{
  ensure_restored (SMELT_CHAT_PAGE (widget));
  GTK_WIDGET_CLASS (smelt_chat_page_parent_class)->map (widget);
}

static void
smelt_chat_page_dispose (GObject *object)
{
  SmeltChatPage *self = SMELT_CHAT_PAGE (object);

  g_cancellable_cancel (self->reply_cancellable);
  g_cancellable_cancel (self->load_cancellable);
  if (self->session != NULL)
    g_signal_handlers_disconnect_by_data (self->session, self);
  g_clear_object (&self->session);
  g_clear_object (&self->settings);
  g_clear_object (&self->reply_cancellable);
  g_clear_object (&self->load_cancellable);
  g_clear_pointer (&self->conversations, g_ptr_array_unref);
  g_clear_pointer (&self->models, g_ptr_array_unref);
  self->current = NULL;
  G_OBJECT_CLASS (smelt_chat_page_parent_class)->dispose (object);
}

static void
smelt_chat_page_finalize (GObject *object)
{
  SmeltChatPage *self = SMELT_CHAT_PAGE (object);

  g_free (self->conv_dir);
  g_string_free (self->streaming_text, TRUE);
  G_OBJECT_CLASS (smelt_chat_page_parent_class)->finalize (object);
}

static void
smelt_chat_page_class_init (SmeltChatPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = smelt_chat_page_dispose;
  object_class->finalize = smelt_chat_page_finalize;
  widget_class->map = smelt_chat_page_map;

  /* A reply ended (TRUE) or failed (FALSE); the page is idle again. */
  signals[REPLY_DONE] = g_signal_new ("reply-done", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                      0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_BOOLEAN);
  /* A model load ended: loaded (TRUE) or not (FALSE). */
  signals[MODEL_LOADED] = g_signal_new ("model-loaded", G_TYPE_FROM_CLASS (klass),
                                        G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                                        G_TYPE_BOOLEAN);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/smeltapp/Smelt/ui/smelt-chat-page.ui");
#define BIND(name) gtk_widget_class_bind_template_child (widget_class, SmeltChatPage, name)
  BIND (toast_overlay);
  BIND (leaflet);
  BIND (sidebar);
  BIND (content);
  BIND (conversations_list);
  BIND (title_label);
  BIND (model_dropdown);
  BIND (model_names);
  BIND (system_prompt_entry);
  BIND (load_bar);
  BIND (messages_scroller);
  BIND (messages_box);
  BIND (status_label);
  BIND (input_view);
  BIND (send_stack);
  BIND (temperature_adjustment);
  BIND (top_p_adjustment);
  BIND (top_k_adjustment);
  BIND (min_p_adjustment);
  BIND (repeat_penalty_adjustment);
  BIND (context_length_adjustment);
  BIND (threads_adjustment);
#undef BIND
  gtk_widget_class_bind_template_callback (widget_class, on_conversations_list_row_selected_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_title_label_editing_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_model_dropdown_selected_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_system_prompt_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_back_button_clicked_cb);

  gtk_widget_class_install_action (widget_class, "chat.new", NULL, chat_action);
  gtk_widget_class_install_action (widget_class, "chat.send", NULL, chat_action);
  gtk_widget_class_install_action (widget_class, "chat.stop", NULL, chat_action);
  gtk_widget_class_install_action (widget_class, "chat.regenerate", NULL, chat_action);
  gtk_widget_class_install_action (widget_class, "chat.delete", NULL, chat_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Return, GDK_CONTROL_MASK,
                                       "chat.send", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_KP_Enter, GDK_CONTROL_MASK,
                                       "chat.send", NULL);
}

static void
smelt_chat_page_init (SmeltChatPage *self)
{
  static const struct { const char *key; gsize offset; } numbers[] = {
    { "temperature", G_STRUCT_OFFSET (SmeltChatPage, temperature_adjustment) },
    { "top-p", G_STRUCT_OFFSET (SmeltChatPage, top_p_adjustment) },
    { "top-k", G_STRUCT_OFFSET (SmeltChatPage, top_k_adjustment) },
    { "min-p", G_STRUCT_OFFSET (SmeltChatPage, min_p_adjustment) },
    { "repeat-penalty", G_STRUCT_OFFSET (SmeltChatPage, repeat_penalty_adjustment) },
    { "context-length", G_STRUCT_OFFSET (SmeltChatPage, context_length_adjustment) },
    { "threads", G_STRUCT_OFFSET (SmeltChatPage, threads_adjustment) },
  };

  gtk_widget_init_template (GTK_WIDGET (self));

  self->settings = g_settings_new (APP_ID);
  for (guint i = 0; i < G_N_ELEMENTS (numbers); i++)
    g_settings_bind (self->settings, numbers[i].key,
                     G_STRUCT_MEMBER (GtkAdjustment *, self, numbers[i].offset), "value",
                     G_SETTINGS_BIND_DEFAULT);

  self->session = smelt_chat_session_new ();
  g_signal_connect_swapped (self->session, "piece", G_CALLBACK (on_piece_cb), self);
  g_signal_connect_swapped (self->session, "load-progress", G_CALLBACK (on_load_progress_cb),
                            self);
  self->seed = g_random_int () | ((guint64) g_random_int () << 32);
  self->streaming_text = g_string_new (NULL);
  self->conv_dir = smelt_conversation_get_dir ();
  /* Filled by ensure_restored(). */
  self->conversations = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_conversation_free);
  gtk_label_set_text (self->status_label, _("Choose a model to chat with."));
  smelt_a11y_name_internal_controls (GTK_WIDGET (self));
  update_actions (self);
}
