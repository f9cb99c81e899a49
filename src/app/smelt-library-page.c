/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-library-page.c: the Library page. See the header. Scans run on a worker through
 * smelt_library_scan_async(); a generation counter drops results of scans that a newer one
 * replaced, so a slow old scan never overwrites a fresh list.
 */
#include "config.h"

#include <glib/gi18n.h>

#include "smelt-a11y.h"
#include "smelt-library-page.h"
#include "smelt-quantize-dialog.h"

struct _SmeltLibraryPage
{
  AdwBin parent_instance;

  /* template widgets */
  AdwToastOverlay *toast_overlay;
  GtkStack        *stack;
  GtkSpinner      *spinner;
  GtkLabel        *usage_label;
  GtkListBox      *models_list;
  SmeltQuantizeDialog *quantize_view;

  /* owned */
  SmeltLibrary    *library;
  GSettings       *settings;
  GPtrArray       *models;       /* (element-type SmeltLocalModel) (nullable) last scan */
  GCancellable    *scan_cancellable;
  GtkNativeDialog *chooser;
  guint            generation;   /* bumped by every scan; stale results are dropped */
};

G_DEFINE_FINAL_TYPE (SmeltLibraryPage, smelt_library_page, ADW_TYPE_BIN)

enum { SCANNED, CHAT_REQUESTED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
toast (SmeltLibraryPage *self,
       const char       *text)
{
  AdwToast *t = adw_toast_new (text);

  adw_toast_set_timeout (t, 6);
  adw_toast_overlay_add_toast (self->toast_overlay, t);
  /* The toast's close button is libadwaita's and comes unnamed. */
  smelt_a11y_name_internal_controls (GTK_WIDGET (self->toast_overlay));
}

char *
smelt_library_page_describe (const SmeltLocalModel *model)
{
  g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func (g_free);

  g_return_val_if_fail (model != NULL, NULL);

  if (model->error != NULL)
    /* Translators: %s says why a GGUF file's header could not be read. */
    return g_strdup_printf (_("Cannot be read: %s"), model->error);

  g_ptr_array_add (parts, g_strdup (model->architecture ? model->architecture
                                                        : _("unknown architecture")));
  if (model->quant != NULL)
    g_ptr_array_add (parts, g_strdup (model->quant));
  g_ptr_array_add (parts, g_format_size (model->size_bytes));
  if (model->context_length > 0)
    /* Translators: the number of tokens a model can attend to, e.g. "4096-token context". */
    g_ptr_array_add (parts, g_strdup_printf (_("%u-token context"), model->context_length));
  if (model->n_splits > 1)
    g_ptr_array_add (parts, g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u part",
                                                          "%u parts", model->n_splits),
                                             model->n_splits));
  g_ptr_array_add (parts, NULL);
  /* Translators: the separator between a model's facts in the Library. */
  return g_strjoinv (_(" · "), (char **) parts->pdata);
}

static const SmeltLocalModel *
find_model (SmeltLibraryPage *self,
            const char       *id)
{
  for (guint i = 0; self->models != NULL && i < self->models->len; i++)
    {
      const SmeltLocalModel *m = g_ptr_array_index (self->models, i);

      if (g_str_equal (m->id, id))
        return m;
    }
  return NULL;
}

static void
on_delete_response_cb (AdwMessageDialog *dialog,
                       const char       *response,
                       SmeltLibraryPage *self)
{
  const char *id = g_object_get_data (G_OBJECT (dialog), "model-id");
  const SmeltLocalModel *model;
  g_autoptr(GError) error = NULL;
  guint64 reclaimed = 0;

  if (!g_str_equal (response, "delete") || (model = find_model (self, id)) == NULL)
    return;

  if (!smelt_library_delete (self->library, model, &reclaimed, &error))
    {
      g_autofree char *msg = g_strdup_printf (_("Could not delete %s: %s"), model->name,
                                              error->message);
      toast (self, msg);
    }
  else
    {
      g_autofree char *size = g_format_size (reclaimed);
      /* Translators: "Deleted <model name>, freeing <size>". */
      g_autofree char *msg = g_strdup_printf (_("Deleted %s, freeing %s"), model->name, size);

      toast (self, msg);
    }
  smelt_library_page_refresh (self);
}

GtkWindow *
smelt_library_page_confirm_delete (SmeltLibraryPage *self,
                                   const char       *model_id)
{
  const SmeltLocalModel *model;
  GtkWidget *dialog;
  g_autofree char *size = NULL;
  g_autofree char *heading = NULL;
  g_autofree char *body = NULL;

  g_return_val_if_fail (SMELT_IS_LIBRARY_PAGE (self), NULL);
  g_return_val_if_fail (model_id != NULL, NULL);

  if ((model = find_model (self, model_id)) == NULL)
    return NULL;

  size = g_format_size (model->size_bytes);
  heading = g_strdup_printf (_("Delete %s?"), model->name);
  body = model->repo != NULL
    /* Translators: %s is a size such as "4.1 GB". */
    ? g_strdup_printf (_("Its files (%s) are removed from the Hugging Face cache, so other apps "
                         "that share the cache lose them too. This cannot be undone."), size)
    : g_strdup_printf (_("Its files (%s) are removed from disk. This cannot be undone."), size);

  dialog = adw_message_dialog_new (GTK_WINDOW (gtk_widget_get_root (GTK_WIDGET (self))),
                                   heading, body);
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "cancel", _("_Cancel"),
                                    "delete", _("_Delete"),
                                    NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "delete",
                                              ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  g_object_set_data_full (G_OBJECT (dialog), "model-id", g_strdup (model_id), g_free);
  g_signal_connect_object (dialog, "response", G_CALLBACK (on_delete_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
  return GTK_WINDOW (dialog);
}

static void
on_delete_clicked_cb (GtkButton        *button,
                      SmeltLibraryPage *self)
{
  smelt_library_page_confirm_delete (self, g_object_get_data (G_OBJECT (button), "model-id"));
}

static void
on_chat_clicked_cb (GtkButton        *button,
                    SmeltLibraryPage *self)
{
  g_signal_emit (self, signals[CHAT_REQUESTED], 0, g_object_get_data (G_OBJECT (button), "path"));
}

static void
on_quantize_view_finished_cb (SmeltLibraryPage *self,
                              const char       *path)
{
  smelt_library_page_refresh (self);
}

gboolean
smelt_library_page_open_quantize (SmeltLibraryPage *self,
                                  const char       *model_id)
{
  const SmeltLocalModel *model;

  g_return_val_if_fail (SMELT_IS_LIBRARY_PAGE (self), FALSE);

  if ((model = find_model (self, model_id)) == NULL
      || !smelt_quantize_dialog_can_quantize (model)
      || !smelt_quantize_dialog_set_model (self->quantize_view, model))
    return FALSE;
  gtk_stack_set_visible_child_name (self->stack, "quantize");
  return TRUE;
}

static void
on_quantize_view_closed_cb (SmeltLibraryPage *self)
{
  gtk_stack_set_visible_child_name (self->stack,
                                    self->models != NULL && self->models->len > 0 ? "list"
                                                                                  : "empty");
}

static void
on_quantize_clicked_cb (GtkButton        *button,
                        SmeltLibraryPage *self)
{
  smelt_library_page_open_quantize (self, g_object_get_data (G_OBJECT (button), "model-id"));
}

static GtkWidget *
build_row (SmeltLibraryPage      *self,
           const SmeltLocalModel *model)
{
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *delete = gtk_button_new_from_icon_name ("user-trash-symbolic");
  g_autofree char *title = g_markup_escape_text (model->name, -1);
  g_autofree char *subtitle = smelt_library_page_describe (model);
  g_autofree char *escaped = g_markup_escape_text (subtitle, -1);
  /* Translators: accessible name of the delete button of the model named %s. */
  g_autofree char *delete_label = g_strdup_printf (_("Delete %s"), model->name);

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), escaped);
  gtk_widget_set_tooltip_text (row, model->path);
  if (model->error != NULL)
    gtk_widget_add_css_class (row, "error");

  gtk_widget_set_valign (delete, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (delete, "flat");
  gtk_widget_set_tooltip_text (delete, _("Delete"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (delete), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  delete_label, -1);
  g_object_set_data_full (G_OBJECT (delete), "model-id", g_strdup (model->id), g_free);
  g_signal_connect_object (delete, "clicked", G_CALLBACK (on_delete_clicked_cb), self, 0);

  if (model->error == NULL)
    {
      GtkWidget *chat = gtk_button_new_with_mnemonic (_("_Chat"));
      /* Translators: accessible name of the Chat button of the model named %s. */
      g_autofree char *chat_label = g_strdup_printf (_("Chat with %s"), model->name);

      gtk_widget_set_valign (chat, GTK_ALIGN_CENTER);
      gtk_accessible_update_property (GTK_ACCESSIBLE (chat), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                      chat_label, -1);
      g_object_set_data_full (G_OBJECT (chat), "path", g_strdup (model->path), g_free);
      g_signal_connect_object (chat, "clicked", G_CALLBACK (on_chat_clicked_cb), self, 0);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), chat);
    }
  if (smelt_quantize_dialog_can_quantize (model))
    {
      GtkWidget *quantize = gtk_button_new_with_mnemonic (_("_Quantize"));
      /* Translators: accessible name of the Quantize button of the model named %s. */
      g_autofree char *quantize_label = g_strdup_printf (_("Quantize %s"), model->name);

      gtk_widget_set_valign (quantize, GTK_ALIGN_CENTER);
      gtk_accessible_update_property (GTK_ACCESSIBLE (quantize), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                      quantize_label, -1);
      g_object_set_data_full (G_OBJECT (quantize), "model-id", g_strdup (model->id), g_free);
      g_signal_connect_object (quantize, "clicked", G_CALLBACK (on_quantize_clicked_cb), self, 0);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), quantize);
    }
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), delete);
  return row;
}

static void
show_models (SmeltLibraryPage *self)
{
  g_autoptr(GHashTable) wanted = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GHashTable) have = g_hash_table_new (g_str_hash, g_str_equal);
  GtkWidget *child, *next;
  g_autofree char *usage = NULL;
  g_autofree char *text = NULL;

  /* Update the list in place: rows of models still there are kept, so a rescan does not tear
   * down every widget (and every accessible object a screen reader holds). A row is keyed by
   * its model's id plus its description, so a changed model gets a fresh row. */
  for (guint i = 0; self->models != NULL && i < self->models->len; i++)
    {
      const SmeltLocalModel *m = g_ptr_array_index (self->models, i);
      g_autofree char *desc = smelt_library_page_describe (m);

      g_hash_table_add (wanted, g_strconcat (m->id, "\n", desc, NULL));
    }
  for (child = gtk_widget_get_first_child (GTK_WIDGET (self->models_list)); child; child = next)
    {
      const char *key = g_object_get_data (G_OBJECT (child), "row-key");

      next = gtk_widget_get_next_sibling (child);
      if (key == NULL || !g_hash_table_contains (wanted, key))
        gtk_list_box_remove (self->models_list, child);
      else
        g_hash_table_insert (have, (gpointer) key, child);
    }

  for (guint i = 0; self->models != NULL && i < self->models->len; i++)
    {
      const SmeltLocalModel *m = g_ptr_array_index (self->models, i);
      g_autofree char *desc = smelt_library_page_describe (m);
      g_autofree char *key = g_strconcat (m->id, "\n", desc, NULL);
      GtkWidget *row;

      if (g_hash_table_contains (have, key))
        continue;
      row = build_row (self, m);
      g_object_set_data_full (G_OBJECT (row), "row-key", g_steal_pointer (&key), g_free);
      gtk_list_box_insert (self->models_list, row, (int) i);
    }

  if (self->models == NULL || self->models->len == 0)
    {
      if (!g_str_equal (gtk_stack_get_visible_child_name (self->stack), "quantize"))
        gtk_stack_set_visible_child_name (self->stack, "empty");
      return;
    }

  usage = g_format_size (smelt_library_disk_usage (self->models));
  /* Translators: "3 models use 12.4 GB of disk space" */
  text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u model uses %s of disk space",
                                       "%u models use %s of disk space", self->models->len),
                          self->models->len, usage);
  gtk_label_set_text (self->usage_label, text);
  if (!g_str_equal (gtk_stack_get_visible_child_name (self->stack), "quantize"))
    gtk_stack_set_visible_child_name (self->stack, "list");
}

typedef struct
{
  SmeltLibraryPage *self;       /* (owned) */
  guint             generation; /* the page's generation when this scan started */
} ScanData;

static void
scan_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  ScanData *data = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) models = smelt_library_scan_finish (SMELT_LIBRARY (source), result,
                                                           &error);
  g_autoptr(SmeltLibraryPage) self = data->self;
  guint generation = data->generation;

  g_free (data);
  if (generation != self->generation)
    return;
  gtk_spinner_stop (self->spinner);
  if (error != NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        toast (self, error->message);
      return;
    }
  g_clear_pointer (&self->models, g_ptr_array_unref);
  self->models = g_steal_pointer (&models);
  show_models (self);
  g_signal_emit (self, signals[SCANNED], 0);
}

void
smelt_library_page_refresh (SmeltLibraryPage *self)
{
  ScanData *data;

  g_return_if_fail (SMELT_IS_LIBRARY_PAGE (self));

  if (self->library == NULL)
    return;
  g_cancellable_cancel (self->scan_cancellable);
  g_clear_object (&self->scan_cancellable);
  self->scan_cancellable = g_cancellable_new ();
  self->generation++;

  if (self->models == NULL)
    {
      gtk_stack_set_visible_child_name (self->stack, "loading");
      gtk_spinner_start (self->spinner);
    }
  data = g_new (ScanData, 1);
  data->self = g_object_ref (self);
  data->generation = self->generation;
  smelt_library_scan_async (self->library, self->scan_cancellable, scan_cb, data);
}

/* Makes the library's added folders equal the "models-folders" key. */
static void
sync_folders (SmeltLibraryPage *self)
{
  g_auto(GStrv) wanted = g_settings_get_strv (self->settings, "models-folders");
  g_auto(GStrv) have = g_strdupv ((char **) smelt_library_get_folders (self->library));

  for (guint i = 0; have != NULL && have[i] != NULL; i++)
    if (!g_strv_contains ((const char *const *) wanted, have[i]))
      {
        g_autoptr(GError) error = NULL;

        if (!smelt_library_remove_folder (self->library, have[i], &error))
          toast (self, error->message);
      }
  for (guint i = 0; wanted[i] != NULL; i++)
    if (have == NULL || !g_strv_contains ((const char *const *) have, wanted[i]))
      {
        g_autoptr(GError) error = NULL;

        if (!smelt_library_add_folder (self->library, wanted[i], &error))
          {
            /* Translators: %s is a folder path, then the reason. */
            g_autofree char *msg = g_strdup_printf (_("The folder %s cannot be used: %s"),
                                                    wanted[i], error->message);
            toast (self, msg);
          }
      }
}

static void
on_folders_changed_cb (SmeltLibraryPage *self)
{
  if (self->library == NULL)
    return;
  sync_folders (self);
  smelt_library_page_refresh (self);
}

void
smelt_library_page_set_library (SmeltLibraryPage *self,
                                SmeltLibrary     *library)
{
  g_return_if_fail (SMELT_IS_LIBRARY_PAGE (self));
  g_return_if_fail (SMELT_IS_LIBRARY (library));

  g_set_object (&self->library, library);
  g_clear_pointer (&self->models, g_ptr_array_unref);
  sync_folders (self);
  smelt_library_page_refresh (self);
}

SmeltLibrary *
smelt_library_page_get_library (SmeltLibraryPage *self)
{
  g_return_val_if_fail (SMELT_IS_LIBRARY_PAGE (self), NULL);

  return self->library;
}

GPtrArray *
smelt_library_page_get_models (SmeltLibraryPage *self)
{
  g_return_val_if_fail (SMELT_IS_LIBRARY_PAGE (self), NULL);

  return self->models;
}

static void
on_chooser_response_cb (SmeltLibraryPage *self,
                        int               response,
                        GtkNativeDialog  *chooser)
{
  gboolean folder = gtk_file_chooser_get_action (GTK_FILE_CHOOSER (chooser))
                    == GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER;
  g_autoptr(GFile) file = NULL;
  g_autofree char *path = NULL;

  if (response == GTK_RESPONSE_ACCEPT)
    file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));
  g_clear_object (&self->chooser);
  if (file == NULL || (path = g_file_get_path (file)) == NULL || self->library == NULL)
    return;

  if (folder)
    {
      g_auto(GStrv) folders = g_settings_get_strv (self->settings, "models-folders");
      g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
      g_auto(GStrv) updated = NULL;

      if (g_strv_contains ((const char *const *) folders, path))
        return;
      g_strv_builder_addv (builder, (const char **) folders);
      g_strv_builder_add (builder, path);
      updated = g_strv_builder_end (builder);
      /* The changed:: handler syncs the library and rescans. */
      g_settings_set_strv (self->settings, "models-folders", (const char *const *) updated);
    }
  else
    {
      g_autoptr(GError) error = NULL;

      if (!smelt_library_import_file (self->library, path, &error))
        {
          g_autofree char *msg = g_strdup_printf (_("Could not import the file: %s"),
                                                  error->message);
          toast (self, msg);
          return;
        }
      smelt_library_page_refresh (self);
    }
}

static void
open_chooser (SmeltLibraryPage    *self,
              GtkFileChooserAction action)
{
  GtkFileChooserNative *chooser;
  GtkWindow *parent = GTK_WINDOW (gtk_widget_get_root (GTK_WIDGET (self)));

  if (self->chooser != NULL)
    return;
  if (action == GTK_FILE_CHOOSER_ACTION_OPEN)
    {
      g_autoptr(GtkFileFilter) filter = gtk_file_filter_new ();

      chooser = gtk_file_chooser_native_new (_("Import a GGUF File"), parent, action,
                                             _("_Import"), _("_Cancel"));
      gtk_file_filter_set_name (filter, _("GGUF models"));
      gtk_file_filter_add_pattern (filter, "*.gguf");
      gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (chooser), filter);
    }
  else
    chooser = gtk_file_chooser_native_new (_("Add Models Folder"), parent, action,
                                           _("_Add"), _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  self->chooser = GTK_NATIVE_DIALOG (chooser);
  g_signal_connect_object (chooser, "response", G_CALLBACK (on_chooser_response_cb), self,
                           G_CONNECT_SWAPPED);
  gtk_native_dialog_show (self->chooser);
}

static void
import_file_action (GtkWidget  *widget,
                    const char *name,
                    GVariant   *param)
{
  open_chooser (SMELT_LIBRARY_PAGE (widget), GTK_FILE_CHOOSER_ACTION_OPEN);
}

static void
add_folder_action (GtkWidget  *widget,
                   const char *name,
                   GVariant   *param)
{
  open_chooser (SMELT_LIBRARY_PAGE (widget), GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER);
}

static void
refresh_action (GtkWidget  *widget,
                const char *name,
                GVariant   *param)
{
  smelt_library_page_refresh (SMELT_LIBRARY_PAGE (widget));
}

static void
smelt_library_page_dispose (GObject *object)
{
  SmeltLibraryPage *self = SMELT_LIBRARY_PAGE (object);

  g_cancellable_cancel (self->scan_cancellable);
  if (self->chooser != NULL)
    gtk_native_dialog_destroy (self->chooser);
  g_clear_object (&self->chooser);
  g_clear_object (&self->scan_cancellable);
  g_clear_object (&self->library);
  g_clear_object (&self->settings);
  g_clear_pointer (&self->models, g_ptr_array_unref);
  G_OBJECT_CLASS (smelt_library_page_parent_class)->dispose (object);
}

static void
smelt_library_page_class_init (SmeltLibraryPageClass *klass)
{
  g_type_ensure (SMELT_TYPE_QUANTIZE_DIALOG);
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = smelt_library_page_dispose;

  /* The user asked to chat with the model at this path. */
  signals[CHAT_REQUESTED] = g_signal_new ("chat-requested", G_TYPE_FROM_CLASS (klass),
                                          G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                                          1, G_TYPE_STRING);
  /* Emitted on the main thread after a scan's models are shown. */
  signals[SCANNED] = g_signal_new ("scanned", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                   0, NULL, NULL, NULL, G_TYPE_NONE, 0);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/smeltapp/Smelt/ui/"
                                               "smelt-library-page.ui");
  gtk_widget_class_bind_template_child (widget_class, SmeltLibraryPage, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, SmeltLibraryPage, stack);
  gtk_widget_class_bind_template_child (widget_class, SmeltLibraryPage, spinner);
  gtk_widget_class_bind_template_child (widget_class, SmeltLibraryPage, usage_label);
  gtk_widget_class_bind_template_child (widget_class, SmeltLibraryPage, models_list);
  gtk_widget_class_bind_template_child (widget_class, SmeltLibraryPage, quantize_view);
  gtk_widget_class_bind_template_callback (widget_class, on_quantize_view_closed_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_quantize_view_finished_cb);

  gtk_widget_class_install_action (widget_class, "library.import-file", NULL, import_file_action);
  gtk_widget_class_install_action (widget_class, "library.add-folder", NULL, add_folder_action);
  gtk_widget_class_install_action (widget_class, "library.refresh", NULL, refresh_action);
}

static void
smelt_library_page_init (SmeltLibraryPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  self->settings = g_settings_new (APP_ID);
  g_signal_connect_object (self->settings, "changed::models-folders",
                           G_CALLBACK (on_folders_changed_cb), self, G_CONNECT_SWAPPED);
}
