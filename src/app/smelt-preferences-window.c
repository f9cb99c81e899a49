/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-preferences-window.c: binds the Preferences controls to GSettings and the token row to
 * the keyring. See the header.
 */
#include "config.h"

#include <glib/gi18n.h>

#include "smelt-a11y.h"
#include "smelt-preferences-window.h"
#include "smelt-secret.h"

struct _SmeltPreferencesWindow
{
  AdwPreferencesWindow parent_instance;

  /* template widgets */
  GtkListBox     *folders_list;
  AdwComboRow    *endpoint_row;
  AdwEntryRow    *custom_endpoint_row;
  AdwEntryRow    *token_row;
  GtkLabel       *token_status_label;
  GtkAdjustment  *concurrent_downloads_adjustment;
  GtkAdjustment  *connections_adjustment;
  GtkAdjustment  *threads_adjustment;
  GtkAdjustment  *context_length_adjustment;
  GtkAdjustment  *temperature_adjustment;
  GtkAdjustment  *top_p_adjustment;
  GtkAdjustment  *top_k_adjustment;
  GtkAdjustment  *min_p_adjustment;
  GtkAdjustment  *repeat_penalty_adjustment;

  /* owned */
  GSettings      *settings;
  GCancellable   *cancellable;
  GtkNativeDialog *chooser;
};

G_DEFINE_FINAL_TYPE (SmeltPreferencesWindow, smelt_preferences_window,
                     ADW_TYPE_PREFERENCES_WINDOW)

/* The order of the endpoint combo's items, matching the schema's enum nicks. */
static const char *endpoint_nicks[] = { "huggingface", "hf-mirror", "custom" };

static gboolean
endpoint_get_mapping (GValue   *value,
                      GVariant *variant,
                      gpointer  user_data)
{
  const char *nick = g_variant_get_string (variant, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (endpoint_nicks); i++)
    if (g_str_equal (nick, endpoint_nicks[i]))
      {
        g_value_set_uint (value, i);
        return TRUE;
      }
  return FALSE;
}

static GVariant *
endpoint_set_mapping (const GValue       *value,
                      const GVariantType *expected_type,
                      gpointer            user_data)
{
  guint i = g_value_get_uint (value);

  if (i >= G_N_ELEMENTS (endpoint_nicks))
    return NULL;
  return g_variant_new_string (endpoint_nicks[i]);
}

static gboolean
custom_sensitive_mapping (GValue   *value,
                          GVariant *variant,
                          gpointer  user_data)
{
  g_value_set_boolean (value, g_str_equal (g_variant_get_string (variant, NULL), "custom"));
  return TRUE;
}

static void
remove_folder (SmeltPreferencesWindow *self,
               const char             *folder)
{
  g_auto(GStrv) folders = g_settings_get_strv (self->settings, "models-folders");
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) kept = NULL;

  for (guint i = 0; folders[i] != NULL; i++)
    if (!g_str_equal (folders[i], folder))
      g_strv_builder_add (builder, folders[i]);
  kept = g_strv_builder_end (builder);
  g_settings_set_strv (self->settings, "models-folders", (const char *const *) kept);
}

static void
on_remove_folder_clicked_cb (GtkButton *button,
                             gpointer   user_data)
{
  SmeltPreferencesWindow *self = user_data;

  remove_folder (self, g_object_get_data (G_OBJECT (button), "folder"));
}

static void
rebuild_folders (SmeltPreferencesWindow *self)
{
  g_auto(GStrv) folders = g_settings_get_strv (self->settings, "models-folders");
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->folders_list))) != NULL)
    gtk_list_box_remove (self->folders_list, child);

  if (folders[0] == NULL)
    {
      GtkWidget *row = adw_action_row_new ();

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("No extra folders"));
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), _("Only the Hugging Face cache is used"));
      gtk_list_box_append (self->folders_list, row);
      return;
    }

  for (guint i = 0; folders[i] != NULL; i++)
    {
      GtkWidget *row = adw_action_row_new ();
      GtkWidget *remove = gtk_button_new_from_icon_name ("user-trash-symbolic");
      g_autofree char *label = g_strdup_printf (_("Remove %s"), folders[i]);
      g_autofree char *markup = g_markup_escape_text (folders[i], -1);

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), markup);
      if (i == 0)
        adw_action_row_set_subtitle (ADW_ACTION_ROW (row), _("New downloads go here"));
      gtk_widget_set_valign (remove, GTK_ALIGN_CENTER);
      gtk_widget_add_css_class (remove, "flat");
      gtk_widget_set_tooltip_text (remove, _("Remove Folder"));
      gtk_accessible_update_property (GTK_ACCESSIBLE (remove),
                                      GTK_ACCESSIBLE_PROPERTY_LABEL, label, -1);
      g_object_set_data_full (G_OBJECT (remove), "folder", g_strdup (folders[i]), g_free);
      g_signal_connect (remove, "clicked", G_CALLBACK (on_remove_folder_clicked_cb), self);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), remove);
      gtk_list_box_append (self->folders_list, row);
    }
}

static void
on_folders_changed_cb (SmeltPreferencesWindow *self)
{
  rebuild_folders (self);
}

static void
on_chooser_response_cb (SmeltPreferencesWindow *self,
                        int                     response,
                        GtkNativeDialog        *chooser)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));
      g_autofree char *path = file ? g_file_get_path (file) : NULL;

      if (path != NULL)
        {
          g_auto(GStrv) folders = g_settings_get_strv (self->settings, "models-folders");

          if (!g_strv_contains ((const char *const *) folders, path))
            {
              g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
              g_auto(GStrv) updated = NULL;

              g_strv_builder_addv (builder, (const char **) folders);
              g_strv_builder_add (builder, path);
              updated = g_strv_builder_end (builder);
              g_settings_set_strv (self->settings, "models-folders",
                                   (const char *const *) updated);
            }
        }
    }
  g_clear_object (&self->chooser);
}

static void
on_add_folder_button_clicked_cb (SmeltPreferencesWindow *self)
{
  GtkFileChooserNative *chooser;

  if (self->chooser != NULL)
    return;
  chooser = gtk_file_chooser_native_new (_("Add Models Folder"), GTK_WINDOW (self),
                                         GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                                         _("_Add"), _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  self->chooser = GTK_NATIVE_DIALOG (chooser);
  g_signal_connect_object (chooser, "response", G_CALLBACK (on_chooser_response_cb), self,
                           G_CONNECT_SWAPPED);
  gtk_native_dialog_show (self->chooser);
}

static void
token_looked_up_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  /* The window is kept alive by the reference taken for this call. */
  g_autoptr(SmeltPreferencesWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *token = smelt_secret_lookup_token_finish (result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  if (error != NULL)
    {
      g_debug ("Keyring lookup failed: %s", error->message);
      gtk_label_set_text (self->token_status_label,
                          _("The keyring is not available, so a token cannot be saved."));
      gtk_widget_set_sensitive (GTK_WIDGET (self->token_row), FALSE);
      return;
    }
  gtk_editable_set_text (GTK_EDITABLE (self->token_row), token ? token : "");
  gtk_label_set_text (self->token_status_label,
                      token ? _("A token is saved in your keyring.")
                            : _("Only needed for gated or private models. It is kept in your keyring."));
}

static void
token_stored_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(SmeltPreferencesWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  gboolean ok = smelt_secret_store_token_finish (result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  if (!ok)
    {
      g_autofree char *msg = g_strdup_printf (_("The token could not be saved: %s"),
                                              error->message);
      gtk_label_set_text (self->token_status_label, msg);
      return;
    }
  gtk_label_set_text (self->token_status_label,
                      *gtk_editable_get_text (GTK_EDITABLE (self->token_row)) != '\0'
                        ? _("A token is saved in your keyring.")
                        : _("The token was removed from your keyring."));
}

static void
on_token_row_apply_cb (SmeltPreferencesWindow *self)
{
  const char *token = gtk_editable_get_text (GTK_EDITABLE (self->token_row));
  g_autofree char *stripped = g_strstrip (g_strdup (token));

  smelt_secret_store_token_async (stripped, self->cancellable, token_stored_cb,
                                  g_object_ref (self));
}

static void
smelt_preferences_window_dispose (GObject *object)
{
  SmeltPreferencesWindow *self = SMELT_PREFERENCES_WINDOW (object);

  g_cancellable_cancel (self->cancellable);
  if (self->chooser != NULL)
    gtk_native_dialog_destroy (self->chooser);
  g_clear_object (&self->chooser);
  g_clear_object (&self->settings);
  g_clear_object (&self->cancellable);
  G_OBJECT_CLASS (smelt_preferences_window_parent_class)->dispose (object);
}

static void
smelt_preferences_window_class_init (SmeltPreferencesWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = smelt_preferences_window_dispose;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/smeltapp/Smelt/ui/"
                                               "smelt-preferences-window.ui");
  gtk_widget_class_bind_template_child (widget_class, SmeltPreferencesWindow, folders_list);
  gtk_widget_class_bind_template_child (widget_class, SmeltPreferencesWindow, endpoint_row);
  gtk_widget_class_bind_template_child (widget_class, SmeltPreferencesWindow,
                                        custom_endpoint_row);
  gtk_widget_class_bind_template_child (widget_class, SmeltPreferencesWindow, token_row);
  gtk_widget_class_bind_template_child (widget_class, SmeltPreferencesWindow,
                                        token_status_label);
  gtk_widget_class_bind_template_child (widget_class, SmeltPreferencesWindow,
                                        concurrent_downloads_adjustment);
  gtk_widget_class_bind_template_child (widget_class, SmeltPreferencesWindow,
                                        connections_adjustment);
  gtk_widget_class_bind_template_child (widget_class, SmeltPreferencesWindow,
                                        threads_adjustment);
  gtk_widget_class_bind_template_child (widget_class, SmeltPreferencesWindow,
                                        context_length_adjustment);
  gtk_widget_class_bind_template_child (widget_class, SmeltPreferencesWindow,
                                        temperature_adjustment);
  gtk_widget_class_bind_template_child (widget_class, SmeltPreferencesWindow, top_p_adjustment);
  gtk_widget_class_bind_template_child (widget_class, SmeltPreferencesWindow, top_k_adjustment);
  gtk_widget_class_bind_template_child (widget_class, SmeltPreferencesWindow, min_p_adjustment);
  gtk_widget_class_bind_template_child (widget_class, SmeltPreferencesWindow,
                                        repeat_penalty_adjustment);
  gtk_widget_class_bind_template_callback (widget_class, on_add_folder_button_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_token_row_apply_cb);
}

static void
smelt_preferences_window_init (SmeltPreferencesWindow *self)
{
  static const struct { const char *key; gsize offset; } numbers[] = {
    { "concurrent-downloads", G_STRUCT_OFFSET (SmeltPreferencesWindow,
                                               concurrent_downloads_adjustment) },
    { "connections", G_STRUCT_OFFSET (SmeltPreferencesWindow, connections_adjustment) },
    { "threads", G_STRUCT_OFFSET (SmeltPreferencesWindow, threads_adjustment) },
    { "context-length", G_STRUCT_OFFSET (SmeltPreferencesWindow, context_length_adjustment) },
    { "temperature", G_STRUCT_OFFSET (SmeltPreferencesWindow, temperature_adjustment) },
    { "top-p", G_STRUCT_OFFSET (SmeltPreferencesWindow, top_p_adjustment) },
    { "top-k", G_STRUCT_OFFSET (SmeltPreferencesWindow, top_k_adjustment) },
    { "min-p", G_STRUCT_OFFSET (SmeltPreferencesWindow, min_p_adjustment) },
    { "repeat-penalty", G_STRUCT_OFFSET (SmeltPreferencesWindow, repeat_penalty_adjustment) },
  };

  gtk_widget_init_template (GTK_WIDGET (self));
  smelt_a11y_name_internal_controls (GTK_WIDGET (self));

  self->settings = g_settings_new (APP_ID);
  self->cancellable = g_cancellable_new ();

  for (guint i = 0; i < G_N_ELEMENTS (numbers); i++)
    g_settings_bind (self->settings, numbers[i].key,
                     G_STRUCT_MEMBER (GtkAdjustment *, self, numbers[i].offset), "value",
                     G_SETTINGS_BIND_DEFAULT);

  g_settings_bind_with_mapping (self->settings, "endpoint", self->endpoint_row, "selected",
                                G_SETTINGS_BIND_DEFAULT, endpoint_get_mapping,
                                endpoint_set_mapping, NULL, NULL);
  g_settings_bind (self->settings, "custom-endpoint", self->custom_endpoint_row, "text",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind_with_mapping (self->settings, "endpoint", self->custom_endpoint_row,
                                "sensitive", G_SETTINGS_BIND_GET, custom_sensitive_mapping,
                                NULL, NULL, NULL);

  g_signal_connect_object (self->settings, "changed::models-folders",
                           G_CALLBACK (on_folders_changed_cb), self, G_CONNECT_SWAPPED);
  rebuild_folders (self);

  gtk_label_set_text (self->token_status_label, _("Looking in your keyring…"));
  smelt_secret_lookup_token_async (self->cancellable, token_looked_up_cb, g_object_ref (self));
}

SmeltPreferencesWindow *
smelt_preferences_window_new (GtkWindow *parent)
{
  return g_object_new (SMELT_TYPE_PREFERENCES_WINDOW,
                       "transient-for", parent,
                       NULL);
}
