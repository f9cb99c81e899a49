/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-downloads-page.c: the Downloads page. See the header. Rows are built in code, one per
 * job, and kept in a table by job id; every "changed" of the manager re-reads that job's
 * snapshot and updates its row in place (at most ~20 times a second per job), and a job the
 * manager forgot (cancelled) loses its row. The parts of a row carry widget names ("progress",
 * "state", "details", "error", "pause", "resume", "cancel", "retry") for tests.
 */
#include "config.h"

#include <glib/gi18n.h>

#include "smelt-a11y.h"
#include "smelt-downloads-page.h"

typedef struct
{
  GtkWidget *row;
  GtkWidget *title;
  GtkWidget *state;
  GtkWidget *progress;
  GtkWidget *details;
  GtkWidget *error;
  GtkWidget *pause;
  GtkWidget *resume;
  GtkWidget *cancel;
  GtkWidget *retry;
} JobRow;

struct _SmeltDownloadsPage
{
  AdwBin parent_instance;

  /* template widgets */
  GtkStack      *stack;
  AdwStatusPage *status_page;
  GtkListBox    *jobs_list;

  /* owned */
  SmeltDownloadManager *manager;
  GHashTable           *rows; /* job id -> JobRow (owned) */
};

G_DEFINE_FINAL_TYPE (SmeltDownloadsPage, smelt_downloads_page, ADW_TYPE_BIN)

enum { DOWNLOAD_DONE, N_SIGNALS };
static guint signals[N_SIGNALS];

static const char *
state_text (SmeltDownloadState state)
{
  switch (state)
    {
    case SMELT_DOWNLOAD_QUEUED:
      return _("Waiting");
    case SMELT_DOWNLOAD_RUNNING:
      return _("Downloading");
    case SMELT_DOWNLOAD_PAUSED:
      return _("Paused");
    case SMELT_DOWNLOAD_DONE:
      return _("Done");
    case SMELT_DOWNLOAD_FAILED:
      return _("Failed");
    case SMELT_DOWNLOAD_CANCELLED:
    default:
      return _("Cancelled");
    }
}

/* Why a job failed, in words for people; the manager's own message goes to the tooltip. */
static const char *
error_text (gint code)
{
  switch (code)
    {
    case SMELT_DOWNLOAD_ERROR_NETWORK:
      return _("The connection to the server kept failing. Check your network and try again.");
    case SMELT_DOWNLOAD_ERROR_HTTP:
      return _("The server refused the file. It may need an access token, or it no longer exists.");
    case SMELT_DOWNLOAD_ERROR_VERIFY:
      return _("The downloaded file was damaged twice, so it was deleted.");
    case SMELT_DOWNLOAD_ERROR_NO_SPACE:
      return _("There is not enough free disk space for this model.");
    case SMELT_DOWNLOAD_ERROR_IO:
      return _("The file could not be written to disk.");
    case SMELT_DOWNLOAD_ERROR_STATE:
      return _("The list of downloads could not be saved.");
    default:
      return _("The download failed.");
    }
}

static char *
eta_text (gint64 seconds)
{
  if (seconds < 60)
    return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "About %u second left",
                                         "About %u seconds left", (gulong) seconds),
                            (guint) seconds);
  if (seconds < 3600)
    {
      guint minutes = (guint) ((seconds + 59) / 60);

      return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "About %u minute left",
                                           "About %u minutes left", minutes), minutes);
    }
  {
    guint hours = (guint) ((seconds + 3599) / 3600);

    return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "About %u hour left",
                                         "About %u hours left", hours), hours);
  }
}

char *
smelt_downloads_page_describe (const SmeltDownloadInfo *info)
{
  g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *done = NULL;

  g_return_val_if_fail (info != NULL, NULL);

  done = g_format_size (info->done_bytes);
  if (info->total_bytes > 0)
    {
      g_autofree char *total = g_format_size (info->total_bytes);

      /* Translators: bytes downloaded so far of the whole, e.g. "1.2 GB of 4.0 GB". */
      g_ptr_array_add (parts, g_strdup_printf (_("%s of %s"), done, total));
    }
  else
    g_ptr_array_add (parts, g_steal_pointer (&done));
  if (info->state == SMELT_DOWNLOAD_RUNNING && info->speed > 0)
    {
      g_autofree char *speed = g_format_size ((guint64) info->speed);

      /* Translators: download speed, e.g. "12.3 MB/s". */
      g_ptr_array_add (parts, g_strdup_printf (_("%s/s"), speed));
    }
  if (info->state == SMELT_DOWNLOAD_RUNNING && info->eta_seconds >= 0)
    g_ptr_array_add (parts, eta_text (info->eta_seconds));
  g_ptr_array_add (parts, NULL);
  /* Translators: the separator between a download's facts. */
  return g_strjoinv (_(" · "), (char **) parts->pdata);
}

static void
update_empty (SmeltDownloadsPage *self)
{
  gtk_stack_set_visible_child_name (self->stack,
                                    g_hash_table_size (self->rows) > 0 ? "list" : "empty");
}

static void
on_button_clicked_cb (GtkButton          *button,
                      SmeltDownloadsPage *self)
{
  guint id = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (button), "job-id"));
  const char *what = gtk_widget_get_name (GTK_WIDGET (button));

  if (self->manager == NULL)
    return;
  if (g_str_equal (what, "pause"))
    smelt_download_manager_pause (self->manager, id);
  else if (g_str_equal (what, "cancel"))
    smelt_download_manager_cancel (self->manager, id);
  else
    smelt_download_manager_resume (self->manager, id);
}

static GtkWidget *
row_button (SmeltDownloadsPage *self,
            guint               id,
            const char         *name,
            const char         *icon,
            const char         *tooltip)
{
  GtkWidget *button = gtk_button_new_from_icon_name (icon);

  gtk_widget_set_name (button, name);
  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text (button, tooltip);
  gtk_widget_add_css_class (button, "flat");
  g_object_set_data (G_OBJECT (button), "job-id", GUINT_TO_POINTER (id));
  g_signal_connect (button, "clicked", G_CALLBACK (on_button_clicked_cb), self);
  return button;
}

static JobRow *
job_row_new (SmeltDownloadsPage *self,
             guint               id)
{
  JobRow *r = g_new0 (JobRow, 1);
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);
  GtkWidget *top = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *bottom = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);

  gtk_widget_set_margin_top (box, 12);
  gtk_widget_set_margin_bottom (box, 12);
  gtk_widget_set_margin_start (box, 12);
  gtk_widget_set_margin_end (box, 12);

  r->title = gtk_label_new (NULL);
  gtk_widget_set_name (r->title, "title");
  gtk_label_set_xalign (GTK_LABEL (r->title), 0);
  gtk_label_set_ellipsize (GTK_LABEL (r->title), PANGO_ELLIPSIZE_MIDDLE);
  gtk_widget_set_hexpand (r->title, TRUE);
  gtk_widget_add_css_class (r->title, "heading");
  gtk_box_append (GTK_BOX (top), r->title);

  r->pause = row_button (self, id, "pause", "media-playback-pause-symbolic", _("Pause"));
  r->resume = row_button (self, id, "resume", "media-playback-start-symbolic", _("Resume"));
  r->retry = row_button (self, id, "retry", "view-refresh-symbolic", _("Retry"));
  r->cancel = row_button (self, id, "cancel", "process-stop-symbolic", _("Cancel"));
  gtk_box_append (GTK_BOX (top), r->pause);
  gtk_box_append (GTK_BOX (top), r->resume);
  gtk_box_append (GTK_BOX (top), r->retry);
  gtk_box_append (GTK_BOX (top), r->cancel);
  gtk_box_append (GTK_BOX (box), top);

  r->progress = gtk_progress_bar_new ();
  gtk_widget_set_name (r->progress, "progress");
  gtk_box_append (GTK_BOX (box), r->progress);

  r->details = gtk_label_new (NULL);
  gtk_widget_set_name (r->details, "details");
  gtk_label_set_xalign (GTK_LABEL (r->details), 0);
  gtk_widget_set_hexpand (r->details, TRUE);
  gtk_label_set_wrap (GTK_LABEL (r->details), TRUE);
  gtk_widget_add_css_class (r->details, "dim-label");
  gtk_widget_add_css_class (r->details, "numeric");
  gtk_box_append (GTK_BOX (bottom), r->details);
  r->state = gtk_label_new (NULL);
  gtk_widget_set_name (r->state, "state");
  gtk_label_set_xalign (GTK_LABEL (r->state), 1);
  gtk_box_append (GTK_BOX (bottom), r->state);
  gtk_box_append (GTK_BOX (box), bottom);

  r->error = gtk_label_new (NULL);
  gtk_widget_set_name (r->error, "error");
  gtk_label_set_xalign (GTK_LABEL (r->error), 0);
  gtk_label_set_wrap (GTK_LABEL (r->error), TRUE);
  gtk_widget_add_css_class (r->error, "error");
  gtk_box_append (GTK_BOX (box), r->error);

  r->row = gtk_list_box_row_new ();
  gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (r->row), FALSE);
  gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (r->row), box);
  gtk_list_box_append (self->jobs_list, r->row);
  return r;
}

static void
job_row_update (JobRow                  *r,
                const SmeltDownloadInfo *info)
{
  g_autofree char *title = info->label != NULL
                           /* Translators: a download's repo and variant, "org/name · Q4_K_M". */
                           ? g_strdup_printf (_("%s · %s"), info->repo_id, info->label)
                           : g_strdup (info->repo_id);
  g_autofree char *details = smelt_downloads_page_describe (info);
  double fraction = info->total_bytes > 0 ? (double) info->done_bytes / info->total_bytes : 0;
  gboolean failed = info->state == SMELT_DOWNLOAD_FAILED;
  gboolean active = info->state == SMELT_DOWNLOAD_QUEUED || info->state == SMELT_DOWNLOAD_RUNNING;
  g_autofree char *pause_name = g_strdup_printf (_("Pause %s"), title);
  g_autofree char *resume_name = g_strdup_printf (_("Resume %s"), title);
  g_autofree char *retry_name = g_strdup_printf (_("Retry %s"), title);
  g_autofree char *cancel_name = info->state == SMELT_DOWNLOAD_DONE
                                 ? g_strdup_printf (_("Remove %s from the list"), title)
                                 : g_strdup_printf (_("Cancel %s"), title);

  if (info->state == SMELT_DOWNLOAD_DONE)
    fraction = 1.0;
  gtk_label_set_text (GTK_LABEL (r->title), title);
  gtk_progress_bar_set_fraction (GTK_PROGRESS_BAR (r->progress), CLAMP (fraction, 0.0, 1.0));
  gtk_label_set_text (GTK_LABEL (r->details), details);
  gtk_label_set_text (GTK_LABEL (r->state), state_text (info->state));
  gtk_widget_set_visible (r->error, failed);
  gtk_label_set_text (GTK_LABEL (r->error), failed ? error_text (info->error_code) : "");
  gtk_widget_set_tooltip_text (r->error, failed ? info->error : NULL);
  gtk_widget_set_visible (r->pause, active);
  gtk_widget_set_visible (r->resume, info->state == SMELT_DOWNLOAD_PAUSED);
  gtk_widget_set_visible (r->retry, failed);
  gtk_widget_set_tooltip_text (r->cancel, info->state == SMELT_DOWNLOAD_DONE
                                          ? _("Remove From List") : _("Cancel"));

  gtk_accessible_update_property (GTK_ACCESSIBLE (r->pause), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  pause_name, -1);
  gtk_accessible_update_property (GTK_ACCESSIBLE (r->resume), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  resume_name, -1);
  gtk_accessible_update_property (GTK_ACCESSIBLE (r->retry), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  retry_name, -1);
  gtk_accessible_update_property (GTK_ACCESSIBLE (r->cancel), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  cancel_name, -1);
  gtk_accessible_update_property (GTK_ACCESSIBLE (r->progress), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  title, -1);
  gtk_accessible_update_property (GTK_ACCESSIBLE (r->row), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  title, -1);
}

static void
job_row_free (gpointer data)
{
  g_free (data);
}

/* Brings job `id`'s row in step with the manager: created, updated or removed. */
static void
sync_job (SmeltDownloadsPage *self,
          guint               id)
{
  g_autoptr(SmeltDownloadInfo) info = smelt_download_manager_get_info (self->manager, id);
  JobRow *r = g_hash_table_lookup (self->rows, GUINT_TO_POINTER (id));

  if (info == NULL || info->state == SMELT_DOWNLOAD_CANCELLED)
    {
      if (r != NULL)
        {
          gtk_list_box_remove (self->jobs_list, r->row);
          g_hash_table_remove (self->rows, GUINT_TO_POINTER (id));
        }
    }
  else
    {
      if (r == NULL)
        {
          r = job_row_new (self, id);
          g_hash_table_insert (self->rows, GUINT_TO_POINTER (id), r);
        }
      job_row_update (r, info);
    }
  update_empty (self);
}

static void
on_manager_changed_cb (SmeltDownloadManager *manager,
                       guint                 id,
                       SmeltDownloadsPage   *self)
{
  sync_job (self, id);
}

static void
on_manager_finished_cb (SmeltDownloadManager *manager,
                        guint                 id,
                        SmeltDownloadsPage   *self)
{
  g_autoptr(SmeltDownloadInfo) info = smelt_download_manager_get_info (manager, id);

  sync_job (self, id);
  if (info != NULL && info->state == SMELT_DOWNLOAD_DONE)
    g_signal_emit (self, signals[DOWNLOAD_DONE], 0, id);
}

static void
clear_rows (SmeltDownloadsPage *self)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->rows);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      gtk_list_box_remove (self->jobs_list, ((JobRow *) value)->row);
      g_hash_table_iter_remove (&iter);
    }
}

void
smelt_downloads_page_set_manager (SmeltDownloadsPage   *self,
                                  SmeltDownloadManager *manager)
{
  g_return_if_fail (SMELT_IS_DOWNLOADS_PAGE (self));
  g_return_if_fail (manager == NULL || SMELT_IS_DOWNLOAD_MANAGER (manager));

  if (self->manager != NULL)
    g_signal_handlers_disconnect_by_data (self->manager, self);
  clear_rows (self);
  g_set_object (&self->manager, manager);

  if (manager == NULL)
    {
      adw_status_page_set_title (self->status_page, _("Downloads Unavailable"));
      adw_status_page_set_description (self->status_page,
                                       _("The list of downloads could not be read."));
    }
  else
    {
      g_autoptr(GPtrArray) jobs = smelt_download_manager_list (manager);

      adw_status_page_set_title (self->status_page, _("No Downloads"));
      adw_status_page_set_description (self->status_page,
                                       _("Models you download appear here while they arrive."));
      g_signal_connect (manager, "changed", G_CALLBACK (on_manager_changed_cb), self);
      g_signal_connect (manager, "finished", G_CALLBACK (on_manager_finished_cb), self);
      for (guint i = 0; i < jobs->len; i++)
        sync_job (self, ((SmeltDownloadInfo *) g_ptr_array_index (jobs, i))->id);
    }
  update_empty (self);
}

SmeltDownloadManager *
smelt_downloads_page_get_manager (SmeltDownloadsPage *self)
{
  g_return_val_if_fail (SMELT_IS_DOWNLOADS_PAGE (self), NULL);
  return self->manager;
}

GtkWidget *
smelt_downloads_page_get_row (SmeltDownloadsPage *self,
                              guint               id)
{
  JobRow *r;

  g_return_val_if_fail (SMELT_IS_DOWNLOADS_PAGE (self), NULL);
  r = g_hash_table_lookup (self->rows, GUINT_TO_POINTER (id));
  return r != NULL ? r->row : NULL;
}

static void
smelt_downloads_page_dispose (GObject *object)
{
  SmeltDownloadsPage *self = SMELT_DOWNLOADS_PAGE (object);

  if (self->manager != NULL)
    g_signal_handlers_disconnect_by_data (self->manager, self);
  g_clear_object (&self->manager);
  g_clear_pointer (&self->rows, g_hash_table_unref);
  G_OBJECT_CLASS (smelt_downloads_page_parent_class)->dispose (object);
}

static void
smelt_downloads_page_class_init (SmeltDownloadsPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = smelt_downloads_page_dispose;

  /* Emitted when a job has all its files: the Library should rescan. */
  signals[DOWNLOAD_DONE] = g_signal_new ("download-done", G_TYPE_FROM_CLASS (klass),
                                         G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                         G_TYPE_NONE, 1, G_TYPE_UINT);

  gtk_widget_class_set_template_from_resource (
    widget_class, "/io/github/smeltapp/Smelt/ui/smelt-downloads-page.ui");
  gtk_widget_class_bind_template_child (widget_class, SmeltDownloadsPage, stack);
  gtk_widget_class_bind_template_child (widget_class, SmeltDownloadsPage, status_page);
  gtk_widget_class_bind_template_child (widget_class, SmeltDownloadsPage, jobs_list);
}

static void
smelt_downloads_page_init (SmeltDownloadsPage *self)
{
  self->rows = g_hash_table_new_full (NULL, NULL, NULL, job_row_free);
  gtk_widget_init_template (GTK_WIDGET (self));
  /* The sort drop-down's inner toggle button and other built-in controls get names too. */
  smelt_a11y_name_internal_controls (GTK_WIDGET (self));
  update_empty (self);
}
