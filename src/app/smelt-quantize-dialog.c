/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-quantize-dialog.c: the Quantize dialog. See the header. Estimates come from the decision
 * table's bits per weight and quality for the preset's label; the job is a SmeltQuantizeJob.
 */
#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "smelt-a11y.h"
#include "smelt-decision-table.h"
#include "smelt-quantize-dialog.h"
#include "smelt-runtime.h"

typedef struct
{
  const char *label;          /* decision-table label and file-name suffix */
  const char *ftype;          /* llama-quantize type */
  const char *side_type;      /* (nullable) embeddings and output type */
  gboolean    dynamic_gate;
} Preset;

/* The model cards' usual variants, best quality first. */
static const Preset presets[] = {
  { "BF16-Q8_0", "Q8_0", "BF16", FALSE },
  { "Q8_0", "Q8_0", NULL, FALSE },
  { "Q6_K_L", "Q6_K", "Q8_0", FALSE },
  { "Q6_K", "Q6_K", NULL, FALSE },
  { "Q5_K_L", "Q5_K_M", "Q8_0", FALSE },
  { "Q5_K_M", "Q5_K_M", NULL, FALSE },
  { "Q4_K_L", "Q4_K_M", "Q8_0", FALSE },
  { "Q4_K_M", "Q4_K_M", NULL, FALSE },
  { "Q4_K_S", "Q4_K_S", NULL, FALSE },
  { "IQ4_XS", "IQ4_XS", NULL, FALSE },
  { "Q4_0", "Q4_0", NULL, FALSE },
  { "Q3_K_M", "Q3_K_M", NULL, FALSE },
  { "IQ3_M", "IQ3_M", NULL, TRUE },
  { "IQ3_XS", "IQ3_XS", NULL, TRUE },
  { "Q2_K", "Q2_K", NULL, FALSE },
  { "IQ2_M", "IQ2_M", NULL, TRUE },
};

struct _SmeltQuantizeDialog
{
  AdwBin parent_instance;

  /* template widgets */
  GtkButton       *close_button;
  GtkStack        *action_stack;
  AdwActionRow    *source_row;
  AdwComboRow     *preset_row;
  GtkStringList   *preset_names;
  AdwActionRow    *estimate_row;
  AdwActionRow    *imatrix_row;
  AdwActionRow    *output_row;
  GtkProgressBar  *progress_bar;
  GtkLabel        *progress_label;

  /* owned */
  SmeltLocalModel    *model;
  SmeltDecisionTable *table;        /* (nullable) when it cannot be loaded, no estimates */
  SmeltQuantizeJob   *job;
  GCancellable       *cancellable;
  char               *imatrix_path;
  char               *output_path;
  GtkNativeDialog    *chooser;
};

G_DEFINE_FINAL_TYPE (SmeltQuantizeDialog, smelt_quantize_dialog, ADW_TYPE_BIN)

enum { FINISHED, CLOSED, N_SIGNALS };
static guint signals[N_SIGNALS];

gboolean
smelt_quantize_dialog_can_quantize (const SmeltLocalModel *model)
{
  g_return_val_if_fail (model != NULL, FALSE);

  return model->error == NULL && model->quant != NULL
         && (g_ascii_strcasecmp (model->quant, "F32") == 0
             || g_ascii_strcasecmp (model->quant, "F16") == 0
             || g_ascii_strcasecmp (model->quant, "BF16") == 0);
}

static const Preset *
selected_preset (SmeltQuantizeDialog *self)
{
  guint i = adw_combo_row_get_selected (self->preset_row);

  return i < G_N_ELEMENTS (presets) ? &presets[i] : NULL;
}

/* source "dir/name-F16.gguf" -> "dir/name-Q4_K_M.gguf" (a float suffix is replaced). */
static char *
output_path_for (const char *source,
                 const char *label)
{
  g_autofree char *dir = g_path_get_dirname (source);
  g_autofree char *base = g_path_get_basename (source);
  g_autofree char *stem = NULL;
  g_autofree char *name = NULL;
  static const char *float_suffixes[] = { "-f32", "-f16", "-bf16", ".f32", ".f16", ".bf16" };

  if (g_str_has_suffix (base, ".gguf"))
    base[strlen (base) - 5] = '\0';
  stem = g_strdup (base);
  for (guint i = 0; i < G_N_ELEMENTS (float_suffixes); i++)
    {
      g_autofree char *lower = g_ascii_strdown (stem, -1);

      if (g_str_has_suffix (lower, float_suffixes[i]))
        stem[strlen (stem) - strlen (float_suffixes[i])] = '\0';
    }
  name = g_strdup_printf ("%s-%s.gguf", stem, label);
  return g_build_filename (dir, name, NULL);
}

static void
update_plan (SmeltQuantizeDialog *self)
{
  const Preset *p = selected_preset (self);
  const SmeltFormatRow *row;
  g_autofree char *subtitle = NULL;
  g_autofree char *escaped = NULL;

  /* Also called while the template is built, before there is a model. */
  if (p == NULL || self->model == NULL)
    return;
  g_free (self->output_path);
  self->output_path = output_path_for (self->model->path, p->label);
  escaped = g_markup_escape_text (self->output_path, -1);
  adw_action_row_set_subtitle (self->output_row, escaped);

  row = self->table ? smelt_decision_table_lookup (self->table, p->label) : NULL;
  if (row != NULL && self->model->n_params > 0)
    {
      g_autofree char *size = g_format_size ((guint64) (self->model->n_params
                                                        * row->bits_per_weight / 8.0));

      /* Translators: estimated file size, bits per weight and a 0-100 quality score. */
      subtitle = g_strdup_printf (_("About %s (%.2f bits per weight), quality %d of 100"),
                                  size, row->bits_per_weight, row->quality);
    }
  else
    subtitle = g_strdup (_("No estimate for this type"));
  adw_action_row_set_subtitle (self->estimate_row, subtitle);
}

static void
on_preset_row_selected_cb (SmeltQuantizeDialog *self)
{
  update_plan (self);
}

gboolean
smelt_quantize_dialog_select_preset (SmeltQuantizeDialog *self,
                                     const char          *label)
{
  g_return_val_if_fail (SMELT_IS_QUANTIZE_DIALOG (self), FALSE);

  for (guint i = 0; i < G_N_ELEMENTS (presets); i++)
    if (g_str_equal (presets[i].label, label))
      {
        adw_combo_row_set_selected (self->preset_row, i);
        return TRUE;
      }
  return FALSE;
}

static void
set_running (SmeltQuantizeDialog *self,
             gboolean             running)
{
  gtk_stack_set_visible_child_name (self->action_stack, running ? "cancel" : "start");
  gtk_widget_set_sensitive (GTK_WIDGET (self->preset_row), !running);
  gtk_widget_set_sensitive (GTK_WIDGET (self->imatrix_row), !running);
  gtk_widget_set_sensitive (GTK_WIDGET (self->close_button), !running);
}

static void
on_progress_cb (SmeltQuantizeJob    *job,
                double               fraction,
                const char          *tensor,
                double               eta,
                SmeltQuantizeDialog *self)
{
  g_autofree char *percent = g_strdup_printf ("%.0f %%", fraction * 100);
  g_autofree char *text = NULL;

  gtk_progress_bar_set_fraction (self->progress_bar, fraction);
  gtk_progress_bar_set_text (self->progress_bar, percent);
  if (fraction >= 1.0)
    text = g_strdup (_("Finishing…"));
  else if (eta >= 0)
    /* Translators: the tensor being written, then the estimated time left in seconds. */
    text = g_strdup_printf (_("%s · about %.0f s left"), tensor ? tensor : "", eta);
  else
    text = g_strdup (tensor ? tensor : "");
  gtk_label_set_text (self->progress_label, text);
}

static void
run_cb (GObject      *source,
        GAsyncResult *result,
        gpointer      user_data)
{
  g_autoptr(SmeltQuantizeDialog) self = user_data;
  g_autoptr(GError) error = NULL;

  set_running (self, FALSE);
  if (!smelt_quantize_job_run_finish (SMELT_QUANTIZE_JOB (source), result, &error))
    {
      g_autofree char *msg = NULL;

      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        msg = g_strdup (_("Cancelled. Nothing was written."));
      else
        msg = g_strdup_printf (_("Quantization failed: %s"), error->message);
      gtk_progress_bar_set_fraction (self->progress_bar, 0);
      gtk_progress_bar_set_text (self->progress_bar, NULL);
      gtk_label_set_text (self->progress_label, msg);
    }
  else
    {
      g_autofree char *msg = g_strdup_printf (_("Done: %s"), self->output_path);

      /* The file is complete: show the end even if the last progress batch said 99.9 %. */
      gtk_progress_bar_set_fraction (self->progress_bar, 1.0);
      gtk_progress_bar_set_text (self->progress_bar, "100 %");
      gtk_label_set_text (self->progress_label, msg);
      g_signal_emit (self, signals[FINISHED], 0, self->output_path);
    }
  g_clear_object (&self->job);
}

void
smelt_quantize_dialog_start (SmeltQuantizeDialog *self)
{
  const Preset *p;
  SmeltQuantizeOptions opt = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GSettings) settings = g_settings_new (APP_ID);

  g_return_if_fail (SMELT_IS_QUANTIZE_DIALOG (self));

  if (self->job != NULL || (p = selected_preset (self)) == NULL)
    return;
  if (g_file_test (self->output_path, G_FILE_TEST_EXISTS))
    {
      gtk_label_set_text (self->progress_label,
                          _("A file with the output's name already exists; delete it first."));
      return;
    }
  opt.ftype = g_strdup (p->ftype);
  opt.output_type = g_strdup (p->side_type);
  opt.embedding_type = g_strdup (p->side_type);
  opt.dynamic_gate = p->dynamic_gate;
  opt.imatrix_path = g_strdup (self->imatrix_path);
  opt.n_threads = g_settings_get_int (settings, "threads");
  self->job = smelt_quantize_job_new (self->model->path, self->output_path, &opt, &error);
  smelt_quantize_options_clear (&opt);
  if (self->job == NULL)
    {
      g_autofree char *msg = g_strdup_printf (_("Cannot start: %s"), error->message);

      gtk_label_set_text (self->progress_label, msg);
      return;
    }
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  g_signal_connect_object (self->job, "progress", G_CALLBACK (on_progress_cb), self, 0);
  gtk_progress_bar_set_fraction (self->progress_bar, 0);
  gtk_progress_bar_set_text (self->progress_bar, "0 %");
  gtk_label_set_text (self->progress_label, _("Starting…"));
  set_running (self, TRUE);
  smelt_quantize_job_run_async (self->job, self->cancellable, run_cb, g_object_ref (self));
}

static void
on_start_button_clicked_cb (SmeltQuantizeDialog *self)
{
  smelt_quantize_dialog_start (self);
}

static void
on_cancel_button_clicked_cb (SmeltQuantizeDialog *self)
{
  g_cancellable_cancel (self->cancellable);
}

static void
on_close_button_clicked_cb (SmeltQuantizeDialog *self)
{
  g_signal_emit (self, signals[CLOSED], 0);
}

static void
on_imatrix_response_cb (SmeltQuantizeDialog *self,
                        int                  response,
                        GtkNativeDialog     *chooser)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));

      g_free (self->imatrix_path);
      self->imatrix_path = file ? g_file_get_path (file) : NULL;
      if (self->imatrix_path != NULL)
        {
          g_autofree char *escaped = g_markup_escape_text (self->imatrix_path, -1);

          adw_action_row_set_subtitle (self->imatrix_row, escaped);
        }
    }
  g_clear_object (&self->chooser);
}

static void
on_imatrix_button_clicked_cb (SmeltQuantizeDialog *self)
{
  GtkFileChooserNative *chooser;

  if (self->chooser != NULL)
    return;
  chooser = gtk_file_chooser_native_new (_("Choose an Importance Matrix"),
                                         GTK_WINDOW (gtk_widget_get_root (GTK_WIDGET (self))),
                                         GTK_FILE_CHOOSER_ACTION_OPEN, _("_Choose"),
                                         _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  self->chooser = GTK_NATIVE_DIALOG (chooser);
  g_signal_connect_object (chooser, "response", G_CALLBACK (on_imatrix_response_cb), self,
                           G_CONNECT_SWAPPED);
  gtk_native_dialog_show (self->chooser);
}

static void
smelt_quantize_dialog_dispose (GObject *object)
{
  SmeltQuantizeDialog *self = SMELT_QUANTIZE_DIALOG (object);

  g_cancellable_cancel (self->cancellable);
  if (self->chooser != NULL)
    gtk_native_dialog_destroy (self->chooser);
  g_clear_object (&self->chooser);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->job);
  g_clear_pointer (&self->model, smelt_local_model_free);
  g_clear_pointer (&self->table, smelt_decision_table_free);
  g_clear_pointer (&self->imatrix_path, g_free);
  g_clear_pointer (&self->output_path, g_free);
  G_OBJECT_CLASS (smelt_quantize_dialog_parent_class)->dispose (object);
}

static void
smelt_quantize_dialog_class_init (SmeltQuantizeDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = smelt_quantize_dialog_dispose;

  /* The output file is complete at this path. */
  signals[FINISHED] = g_signal_new ("finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                    NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  /* The user pressed Close (not while a job runs). */
  signals[CLOSED] = g_signal_new ("closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                  NULL, NULL, NULL, G_TYPE_NONE, 0);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/smeltapp/Smelt/ui/"
                                               "smelt-quantize-dialog.ui");
#define BIND(name) gtk_widget_class_bind_template_child (widget_class, SmeltQuantizeDialog, name)
  BIND (close_button);
  BIND (action_stack);
  BIND (source_row);
  BIND (preset_row);
  BIND (preset_names);
  BIND (estimate_row);
  BIND (imatrix_row);
  BIND (output_row);
  BIND (progress_bar);
  BIND (progress_label);
#undef BIND
  gtk_widget_class_bind_template_callback (widget_class, on_preset_row_selected_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_start_button_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_cancel_button_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_close_button_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_imatrix_button_clicked_cb);
}

static void
smelt_quantize_dialog_init (SmeltQuantizeDialog *self)
{
  g_autoptr(GError) error = NULL;

  gtk_widget_init_template (GTK_WIDGET (self));
  for (guint i = 0; i < G_N_ELEMENTS (presets); i++)
    {
      g_autofree char *label = presets[i].dynamic_gate
        /* Translators: a quantization type using the DynamicGate layer policy. */
        ? g_strdup_printf (_("%s (DynamicGate)"), presets[i].label)
        : g_strdup (presets[i].label);

      gtk_string_list_append (self->preset_names, label);
    }
  if ((self->table = smelt_decision_table_load (NULL, &error)) == NULL)
    g_debug ("No decision table, so no estimates: %s", error->message);
  smelt_a11y_name_internal_controls (GTK_WIDGET (self));
}

SmeltQuantizeDialog *
smelt_quantize_dialog_new (void)
{
  return g_object_new (SMELT_TYPE_QUANTIZE_DIALOG, NULL);
}

gboolean
smelt_quantize_dialog_get_running (SmeltQuantizeDialog *self)
{
  g_return_val_if_fail (SMELT_IS_QUANTIZE_DIALOG (self), FALSE);

  return self->job != NULL;
}

gboolean
smelt_quantize_dialog_set_model (SmeltQuantizeDialog   *self,
                                 const SmeltLocalModel *model)
{
  g_autofree char *source = NULL;
  g_autofree char *title = NULL;

  g_return_val_if_fail (SMELT_IS_QUANTIZE_DIALOG (self), FALSE);
  g_return_val_if_fail (model != NULL, FALSE);

  if (self->job != NULL)
    return FALSE;
  g_clear_pointer (&self->model, smelt_local_model_free);
  self->model = smelt_local_model_copy (model);
  title = g_strdup_printf ("%s · %s", model->name, model->path);
  source = g_markup_escape_text (title, -1);
  adw_action_row_set_subtitle (self->source_row, source);
  gtk_progress_bar_set_fraction (self->progress_bar, 0);
  gtk_progress_bar_set_text (self->progress_bar, NULL);
  gtk_label_set_text (self->progress_label, "");
  smelt_quantize_dialog_select_preset (self, "Q4_K_M");
  update_plan (self);
  return TRUE;
}
