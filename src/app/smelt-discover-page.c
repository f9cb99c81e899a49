/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-discover-page.c: the Discover page. A search entry and sort dropdown feed
 * smelt_hub_client_search_async(); activating a hit slides to the repository view, which asks
 * for the repo info (commit, parameter count), the file tree (grouped into variants and rated
 * by the advisor for this machine) and the README, and lists every variant with its size, fit,
 * speed estimate and a Download button that opens the download wizard (smelt-wizard.h), which
 * queues it in the download manager. The endpoint
 * comes from GSettings ("endpoint"/"custom-endpoint"; the default lets $HF_ENDPOINT decide) and
 * the token from the keyring.
 */
#include "config.h"

#include <glib/gi18n.h>

#include "smelt-a11y.h"
#include "smelt-discover-page.h"
#include "smelt-fit-badge.h"
#include "smelt-secret.h"
#include "smelt-wizard.h"

#define SCHEMA_ID "io.github.smeltapp.Smelt"

struct _SmeltDiscoverPage
{
  AdwBin parent_instance;

  /* template widgets */
  GtkStack       *stack;
  GtkSearchEntry *search_entry;
  GtkDropDown    *sort_dropdown;
  GtkLabel       *search_status;
  GtkListBox     *results_list;
  GtkLabel       *repo_title;
  GtkLabel       *repo_status;
  GtkListBox     *variants_list;
  GtkTextView    *card_view;

  SmeltHubClient       *client;
  SmeltDownloadManager *manager;
  SmeltHwProfile       *hw;
  SmeltDecisionTable   *table;
  GCancellable         *search_cancellable;
  GCancellable         *repo_cancellable;
  GCancellable         *token_cancellable;

  GPtrArray           *results;  /* (element-type SmeltHubModel) */
  char                *repo_id;
  SmeltHubRepoInfo    *info;
  GPtrArray           *files;    /* (element-type SmeltHubFile) */
  GPtrArray           *variants; /* (element-type SmeltHubVariant) */
  SmeltRecommendation *rec;
  char                *repo_error; /* (nullable) the first failed request's message */
  guint                pending;  /* repo requests still out */
  SmeltWizard         *wizard;   /* (nullable) (owned) the last download wizard, maybe hidden */
};

enum
{
  RESULTS_CHANGED,
  REPO_LOADED,
  DOWNLOAD_QUEUED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (SmeltDiscoverPage, smelt_discover_page, ADW_TYPE_BIN)

static const SmeltHubSort sort_order[] = {
  SMELT_HUB_SORT_DOWNLOADS,
  SMELT_HUB_SORT_LIKES,
  SMELT_HUB_SORT_TRENDING,
  SMELT_HUB_SORT_LAST_MODIFIED,
};

static void
clear_list (GtkListBox *list)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (list))) != NULL)
    gtk_list_box_remove (list, child);
}

/* "2024-05-01T12:00:00.000Z" -> "2024-05-01" in the user's date format; NULL when unparsable. */
static char *
format_date (const char *iso)
{
  g_autoptr(GDateTime) dt = NULL;

  if (iso == NULL || (dt = g_date_time_new_from_iso8601 (iso, NULL)) == NULL)
    return NULL;
  return g_date_time_format (dt, "%x");
}

static char *
format_count (gint64 n)
{
  if (n >= 1000000)
    return g_strdup_printf ("%.1fM", (double) n / 1e6);
  if (n >= 1000)
    return g_strdup_printf ("%.1fk", (double) n / 1e3);
  return g_strdup_printf ("%" G_GINT64_FORMAT, n);
}

/* The endpoint the settings ask for, or NULL to let the client use $HF_ENDPOINT or the Hub. */
static char *
settings_endpoint (void)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr(GSettingsSchema) schema = NULL;
  g_autoptr(GSettings) settings = NULL;
  g_autofree char *which = NULL;

  if (source == NULL)
    return NULL;
  schema = g_settings_schema_source_lookup (source, SCHEMA_ID, TRUE);
  if (schema == NULL)
    return NULL;
  settings = g_settings_new (SCHEMA_ID);
  which = g_settings_get_string (settings, "endpoint");
  if (g_str_equal (which, "hf-mirror"))
    return g_strdup ("https://hf-mirror.com");
  if (g_str_equal (which, "custom"))
    {
      g_autofree char *custom = g_settings_get_string (settings, "custom-endpoint");

      g_strstrip (custom);
      if (*custom != '\0')
        return g_steal_pointer (&custom);
    }
  return NULL;
}

static void
token_looked_up_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *token = smelt_secret_lookup_token_finish (result, &error);
  SmeltDiscoverPage *self;

  (void) source;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = SMELT_DISCOVER_PAGE (user_data);
  if (error != NULL)
    g_debug ("No token from the keyring: %s", error->message);
  if (token == NULL || *token == '\0')
    return;
  smelt_hub_client_set_token (self->client, token);
  if (self->manager != NULL)
    smelt_download_manager_set_token (self->manager, token);
}

/* ---- search ---- */

static GtkWidget *
result_row_new (const SmeltHubModel *model)
{
  g_autofree char *downloads = format_count (model->downloads);
  g_autofree char *likes = format_count (model->likes);
  g_autofree char *date = format_date (model->last_modified);
  g_autofree char *subtitle = NULL;
  GtkWidget *row = adw_action_row_new ();

  if (date != NULL)
    /* Translators: a search hit's details: downloads, likes and the date it was last updated. */
    subtitle = g_strdup_printf (_("%s downloads · %s likes · updated %s"), downloads, likes,
                                date);
  else
    /* Translators: a search hit's details when its update date is unknown. */
    subtitle = g_strdup_printf (_("%s downloads · %s likes"), downloads, likes);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), model->id);
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row),
                             gtk_image_new_from_icon_name ("go-next-symbolic"));
  gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), TRUE);
  g_object_set_data_full (G_OBJECT (row), "repo-id", g_strdup (model->id), g_free);
  return row;
}

static void
search_done_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  GPtrArray *hits = smelt_hub_client_search_finish (SMELT_HUB_CLIENT (source), result, &error);
  SmeltDiscoverPage *self;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = SMELT_DISCOVER_PAGE (user_data);
  g_clear_pointer (&self->results, g_ptr_array_unref);
  clear_list (self->results_list);
  if (hits == NULL)
    {
      g_autofree char *text = g_strdup_printf (_("Search failed: %s"), error->message);

      gtk_label_set_text (self->search_status, text);
    }
  else
    {
      self->results = hits;
      for (guint i = 0; i < hits->len; i++)
        gtk_list_box_append (self->results_list, result_row_new (g_ptr_array_index (hits, i)));
      gtk_label_set_text (self->search_status,
                          hits->len == 0 ? _("No GGUF models found") : "");
    }
  gtk_widget_set_visible (GTK_WIDGET (self->search_status),
                          *gtk_label_get_text (self->search_status) != '\0');
  g_signal_emit (self, signals[RESULTS_CHANGED], 0);
}

void
smelt_discover_page_search (SmeltDiscoverPage *self)
{
  g_autofree char *query = NULL;
  guint selected;

  g_return_if_fail (SMELT_IS_DISCOVER_PAGE (self));

  query = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->search_entry))));
  selected = gtk_drop_down_get_selected (self->sort_dropdown);
  if (selected >= G_N_ELEMENTS (sort_order))
    selected = 0;
  g_cancellable_cancel (self->search_cancellable);
  g_clear_object (&self->search_cancellable);
  self->search_cancellable = g_cancellable_new ();
  gtk_label_set_text (self->search_status, _("Searching…"));
  gtk_widget_set_visible (GTK_WIDGET (self->search_status), TRUE);
  smelt_hub_client_search_async (self->client, *query != '\0' ? query : NULL,
                                 sort_order[selected], 50, self->search_cancellable,
                                 search_done_cb, self);
}

static void
on_search_activate_cb (SmeltDiscoverPage *self)
{
  smelt_discover_page_search (self);
}

static void
on_sort_changed_cb (SmeltDiscoverPage *self)
{
  /* Re-sort what is shown, but only once something was searched. */
  if (self->results != NULL)
    smelt_discover_page_search (self);
}

static void
on_result_activated_cb (SmeltDiscoverPage *self,
                        GtkListBoxRow     *row)
{
  const char *repo_id = g_object_get_data (G_OBJECT (row), "repo-id");

  if (repo_id != NULL)
    smelt_discover_page_open_repo (self, repo_id);
}

GPtrArray *
smelt_discover_page_get_results (SmeltDiscoverPage *self)
{
  g_return_val_if_fail (SMELT_IS_DISCOVER_PAGE (self), NULL);
  return self->results;
}

/* ---- repository view ---- */

static GtkWidget *
variant_row_new (SmeltDiscoverPage *self,
                 guint              index)
{
  const SmeltHubVariant *variant = g_ptr_array_index (self->variants, index);
  const SmeltAdvice *advice = NULL;
  g_autofree char *size = g_format_size (variant->size_bytes);
  g_autoptr(GString) subtitle = g_string_new (size);
  g_autofree char *download_label = NULL;
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *badge;
  GtkWidget *button;
  gboolean recommended = FALSE;

  if (self->rec != NULL && index < self->rec->advice->len)
    {
      advice = g_ptr_array_index (self->rec->advice, index);
      recommended = self->rec->recommended == (int) index;
    }
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), variant->name);
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);

  if (advice != NULL && advice->tokens_per_second > 0)
    /* Translators: the advisor's speed estimate for a variant, in tokens per second. */
    {
      g_string_append (subtitle, " · ");
      g_string_append_printf (subtitle, _("about %.0f tokens/s"), advice->tokens_per_second);
    }
  if (recommended)
    for (guint i = 0; i < advice->reasons->len; i++)
      g_string_append_printf (subtitle, "\n%s",
                              (const char *) g_ptr_array_index (advice->reasons, i));
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle->str);
  adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 0);

  if (recommended)
    {
      GtkWidget *star = gtk_image_new_from_icon_name ("starred-symbolic");

      gtk_widget_set_name (star, "recommended-star");
      gtk_widget_set_tooltip_text (star, _("Recommended for this computer"));
      gtk_accessible_update_property (GTK_ACCESSIBLE (star), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                      _("Recommended for this computer"), -1);
      adw_action_row_add_prefix (ADW_ACTION_ROW (row), star);
    }
  if (advice != NULL)
    {
      badge = smelt_fit_badge_new (advice->fit);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), badge);
    }

  button = gtk_button_new_with_label (_("Download"));
  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  /* Translators: the accessible name of a variant's Download button, e.g. "Download Q4_K_M". */
  download_label = g_strdup_printf (_("Download %s"), variant->name);
  gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  download_label, -1);
  gtk_actionable_set_action_name (GTK_ACTIONABLE (button), "discover.download");
  gtk_actionable_set_action_target (GTK_ACTIONABLE (button), "u", index);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), button);
  return row;
}

static void
repo_finish_if_done (SmeltDiscoverPage *self)
{
  SmeltModelInfo model = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) status = g_string_new (NULL);

  if (self->pending > 0)
    return;

  if (self->files != NULL)
    self->variants = smelt_hub_variants_from_files (self->files);
  if (self->variants != NULL && self->variants->len > 0)
    {
      if (self->table == NULL && (self->table = smelt_decision_table_load (NULL, &error)) == NULL)
        g_debug ("No advice: %s", error->message);
      g_clear_error (&error);
      if (self->info != NULL && self->info->gguf_parameters > 0)
        model.n_params = (guint64) self->info->gguf_parameters;
      if (self->table != NULL && self->hw != NULL)
        self->rec = smelt_advisor_recommend (self->table, self->variants, self->hw,
                                             SMELT_GOAL_BALANCED, 4096, &model);
      for (guint i = 0; i < self->variants->len; i++)
        gtk_list_box_append (self->variants_list, variant_row_new (self, i));
    }

  if (self->info != NULL && self->info->gguf_parameters > 0)
    /* Translators: a model's parameter count in billions, e.g. "7.2 billion parameters". */
    g_string_append_printf (status, _("%.1f billion parameters"),
                            (double) self->info->gguf_parameters / 1e9);
  if (self->variants == NULL || self->variants->len == 0)
    {
      if (status->len > 0)
        g_string_append (status, " · ");
      g_string_append (status, _("No GGUF files in this repository"));
    }
  else if (self->rec == NULL || self->rec->recommended < 0)
    {
      if (status->len > 0)
        g_string_append (status, " · ");
      g_string_append (status, _("No variant fits this computer"));
    }
  /* A failed request says why instead. */
  if (self->repo_error != NULL)
    g_string_printf (status, _("Could not load the repository: %s"), self->repo_error);
  gtk_label_set_text (self->repo_status, status->str);
  gtk_widget_set_visible (GTK_WIDGET (self->repo_status), status->len > 0);
  g_signal_emit (self, signals[REPO_LOADED], 0);
}

static void
repo_failed (SmeltDiscoverPage *self,
             const GError      *error)
{
  if (self->repo_error == NULL)
    self->repo_error = g_strdup (error->message);
}

static void
info_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  SmeltHubRepoInfo *info = smelt_hub_client_get_repo_finish (SMELT_HUB_CLIENT (source), result,
                                                             &error);
  SmeltDiscoverPage *self;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = SMELT_DISCOVER_PAGE (user_data);
  self->info = info;
  if (info == NULL)
    repo_failed (self, error);
  self->pending--;
  repo_finish_if_done (self);
}

static void
files_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  GPtrArray *files = smelt_hub_client_list_files_finish (SMELT_HUB_CLIENT (source), result,
                                                         &error);
  SmeltDiscoverPage *self;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = SMELT_DISCOVER_PAGE (user_data);
  self->files = files;
  if (files == NULL)
    repo_failed (self, error);
  self->pending--;
  repo_finish_if_done (self);
}

static void
card_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *card = smelt_hub_client_get_model_card_finish (SMELT_HUB_CLIENT (source),
                                                                  result, &error);
  SmeltDiscoverPage *self;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = SMELT_DISCOVER_PAGE (user_data);
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->card_view),
                            card != NULL && *card != '\0'
                            ? card : _("This repository has no model card."), -1);
  self->pending--;
  repo_finish_if_done (self);
}

static void
probe_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  SmeltHwProfile *hw = smelt_hw_profile_probe_live_finish (result, &error);
  SmeltDiscoverPage *self;

  (void) source;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_clear_pointer (&hw, smelt_hw_profile_free);
      return;
    }
  self = SMELT_DISCOVER_PAGE (user_data);
  if (hw == NULL)
    g_debug ("No hardware profile: %s", error->message);
  if (self->hw == NULL)
    self->hw = hw;
  else
    smelt_hw_profile_free (hw);
  self->pending--;
  repo_finish_if_done (self);
}

static void
clear_repo (SmeltDiscoverPage *self)
{
  g_cancellable_cancel (self->repo_cancellable);
  g_clear_object (&self->repo_cancellable);
  g_clear_pointer (&self->repo_id, g_free);
  g_clear_pointer (&self->repo_error, g_free);
  g_clear_pointer (&self->info, smelt_hub_repo_info_free);
  g_clear_pointer (&self->files, g_ptr_array_unref);
  g_clear_pointer (&self->variants, g_ptr_array_unref);
  g_clear_pointer (&self->rec, smelt_recommendation_free);
  self->pending = 0;
}

void
smelt_discover_page_open_repo (SmeltDiscoverPage *self,
                               const char        *repo_id)
{
  g_return_if_fail (SMELT_IS_DISCOVER_PAGE (self));
  g_return_if_fail (repo_id != NULL);

  clear_repo (self);
  clear_list (self->variants_list);
  self->repo_id = g_strdup (repo_id);
  self->repo_cancellable = g_cancellable_new ();
  gtk_label_set_text (self->repo_title, repo_id);
  gtk_label_set_text (self->repo_status, _("Loading…"));
  gtk_widget_set_visible (GTK_WIDGET (self->repo_status), TRUE);
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->card_view), "", -1);
  gtk_stack_set_visible_child_name (self->stack, "repo");

  self->pending = 3;
  if (self->hw == NULL)
    {
      smelt_hw_profile_probe_live_async (self->repo_cancellable, probe_done_cb, self);
      self->pending++;
    }
  smelt_hub_client_get_repo_async (self->client, repo_id, NULL, self->repo_cancellable,
                                   info_done_cb, self);
  smelt_hub_client_list_files_async (self->client, repo_id, NULL, self->repo_cancellable,
                                     files_done_cb, self);
  smelt_hub_client_get_model_card_async (self->client, repo_id, NULL, self->repo_cancellable,
                                         card_done_cb, self);
}

static void
on_back_clicked_cb (SmeltDiscoverPage *self)
{
  clear_repo (self);
  gtk_stack_set_visible_child_name (self->stack, "search");
}

GPtrArray *
smelt_discover_page_get_variants (SmeltDiscoverPage *self)
{
  g_return_val_if_fail (SMELT_IS_DISCOVER_PAGE (self), NULL);
  return self->variants;
}

const SmeltRecommendation *
smelt_discover_page_get_recommendation (SmeltDiscoverPage *self)
{
  g_return_val_if_fail (SMELT_IS_DISCOVER_PAGE (self), NULL);
  return self->rec;
}

static void
on_wizard_download_queued_cb (SmeltDiscoverPage *self,
                              guint              id,
                              gboolean           open_chat)
{
  g_signal_emit (self, signals[DOWNLOAD_QUEUED], 0, id, open_chat);
}

static void
on_wizard_destroy_cb (SmeltDiscoverPage *self,
                      GtkWidget         *wizard)
{
  /* Gone with its parent (destroy-with-parent) or otherwise: nothing left to destroy or show. */
  g_object_set_data (G_OBJECT (wizard), "smelt-destroyed", GINT_TO_POINTER (1));
  if (self->wizard == (SmeltWizard *) wizard)
    g_clear_object (&self->wizard);
}

static void
clear_wizard (SmeltDiscoverPage *self)
{
  g_autoptr(SmeltWizard) wizard = g_steal_pointer (&self->wizard);

  if (wizard != NULL)
    gtk_window_destroy (GTK_WINDOW (wizard));
}

static gboolean
present_idle_cb (gpointer user_data)
{
  if (g_object_get_data (G_OBJECT (user_data), "smelt-destroyed") == NULL)
    gtk_window_present (GTK_WINDOW (user_data));
  return G_SOURCE_REMOVE;
}

/* Download opens the wizard over the window with that variant chosen; the wizard queues it. */
static void
download_action (GtkWidget  *widget,
                 const char *action_name,
                 GVariant   *parameter)
{
  SmeltDiscoverPage *self = SMELT_DISCOVER_PAGE (widget);
  SmeltModelInfo model = { 0 };
  SmeltWizard *wizard;
  GtkRoot *root;
  guint index = g_variant_get_uint32 (parameter);

  (void) action_name;
  if (self->manager == NULL || self->variants == NULL || index >= self->variants->len)
    return;
  if (self->info != NULL && self->info->gguf_parameters > 0)
    model.n_params = (guint64) self->info->gguf_parameters;
  root = gtk_widget_get_root (widget);
  /* Pin the commit the listing came from, so every part is of the same revision. */
  wizard = smelt_wizard_new (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL, self->manager,
                             smelt_hub_client_get_endpoint (self->client), self->repo_id,
                             self->info != NULL && self->info->sha != NULL
                             ? self->info->sha : "main",
                             self->variants, &model, self->hw, (int) index);
  g_signal_connect_object (wizard, "download-queued", G_CALLBACK (on_wizard_download_queued_cb),
                           self, G_CONNECT_SWAPPED);
  /* A closed wizard only hides (see smelt-wizard.c); the previous one goes now. */
  clear_wizard (self);
  self->wizard = g_object_ref_sink (wizard);
  g_signal_connect_object (wizard, "destroy", G_CALLBACK (on_wizard_destroy_cb), self,
                           G_CONNECT_SWAPPED);
  /* Building the window and mapping it are each a few tens of milliseconds: two main-loop
   * turns rather than one long one. */
  g_idle_add_full (G_PRIORITY_HIGH_IDLE, present_idle_cb, g_object_ref (wizard), g_object_unref);
}

SmeltWizard *
smelt_discover_page_get_wizard (SmeltDiscoverPage *self)
{
  g_return_val_if_fail (SMELT_IS_DISCOVER_PAGE (self), NULL);
  if (self->wizard == NULL || !gtk_widget_get_visible (GTK_WIDGET (self->wizard)))
    return NULL;
  return self->wizard;
}

/* ---- object ---- */

void
smelt_discover_page_set_download_manager (SmeltDiscoverPage    *self,
                                          SmeltDownloadManager *manager)
{
  g_return_if_fail (SMELT_IS_DISCOVER_PAGE (self));

  g_set_object (&self->manager, manager);
  if (manager != NULL && smelt_hub_client_get_token (self->client) != NULL)
    smelt_download_manager_set_token (manager, smelt_hub_client_get_token (self->client));
}

void
smelt_discover_page_set_hw_profile (SmeltDiscoverPage *self,
                                    SmeltHwProfile    *profile)
{
  g_return_if_fail (SMELT_IS_DISCOVER_PAGE (self));

  g_clear_pointer (&self->hw, smelt_hw_profile_free);
  self->hw = profile;
}

void
smelt_discover_page_focus_search (SmeltDiscoverPage *self)
{
  g_return_if_fail (SMELT_IS_DISCOVER_PAGE (self));

  gtk_stack_set_visible_child_name (self->stack, "search");
  gtk_widget_grab_focus (GTK_WIDGET (self->search_entry));
}

static void
smelt_discover_page_dispose (GObject *object)
{
  SmeltDiscoverPage *self = SMELT_DISCOVER_PAGE (object);

  g_cancellable_cancel (self->search_cancellable);
  g_cancellable_cancel (self->token_cancellable);
  clear_wizard (self);
  clear_repo (self);
  g_clear_object (&self->search_cancellable);
  g_clear_object (&self->token_cancellable);
  g_clear_pointer (&self->results, g_ptr_array_unref);
  g_clear_object (&self->manager);
  g_clear_object (&self->client);
  g_clear_pointer (&self->hw, smelt_hw_profile_free);
  g_clear_pointer (&self->table, smelt_decision_table_free);

  G_OBJECT_CLASS (smelt_discover_page_parent_class)->dispose (object);
}

static void
smelt_discover_page_class_init (SmeltDiscoverPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = smelt_discover_page_dispose;

  signals[RESULTS_CHANGED] = g_signal_new ("results-changed", G_TYPE_FROM_CLASS (klass),
                                           G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                           G_TYPE_NONE, 0);
  signals[REPO_LOADED] = g_signal_new ("repo-loaded", G_TYPE_FROM_CLASS (klass),
                                       G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[DOWNLOAD_QUEUED] = g_signal_new ("download-queued", G_TYPE_FROM_CLASS (klass),
                                           G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                           G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_BOOLEAN);

  gtk_widget_class_set_template_from_resource (
    widget_class, "/io/github/smeltapp/Smelt/ui/smelt-discover-page.ui");
  gtk_widget_class_bind_template_child (widget_class, SmeltDiscoverPage, stack);
  gtk_widget_class_bind_template_child (widget_class, SmeltDiscoverPage, search_entry);
  gtk_widget_class_bind_template_child (widget_class, SmeltDiscoverPage, sort_dropdown);
  gtk_widget_class_bind_template_child (widget_class, SmeltDiscoverPage, search_status);
  gtk_widget_class_bind_template_child (widget_class, SmeltDiscoverPage, results_list);
  gtk_widget_class_bind_template_child (widget_class, SmeltDiscoverPage, repo_title);
  gtk_widget_class_bind_template_child (widget_class, SmeltDiscoverPage, repo_status);
  gtk_widget_class_bind_template_child (widget_class, SmeltDiscoverPage, variants_list);
  gtk_widget_class_bind_template_child (widget_class, SmeltDiscoverPage, card_view);
  gtk_widget_class_bind_template_callback (widget_class, on_search_activate_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_sort_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_result_activated_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_back_clicked_cb);

  gtk_widget_class_install_action (widget_class, "discover.download", "u", download_action);
}

static void
smelt_discover_page_init (SmeltDiscoverPage *self)
{
  g_autofree char *endpoint = NULL;

  gtk_widget_init_template (GTK_WIDGET (self));
  /* The sort drop-down's inner toggle button and other built-in controls get names too. */
  smelt_a11y_name_internal_controls (GTK_WIDGET (self));
  gtk_widget_set_visible (GTK_WIDGET (self->search_status), FALSE);

  self->client = smelt_hub_client_new ();
  if ((endpoint = settings_endpoint ()) != NULL)
    smelt_hub_client_set_endpoint (self->client, endpoint);
  self->token_cancellable = g_cancellable_new ();
  smelt_secret_lookup_token_async (self->token_cancellable, token_looked_up_cb, self);
}
