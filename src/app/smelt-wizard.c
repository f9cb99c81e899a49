/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-wizard.c: the download wizard (see the header). ui/smelt-wizard.ui lays out a GtkStack of
 * AdwPreferencesPages, one per step plus the format table, under a header bar with Back and Next.
 * The wizard keeps a copy of the probed hardware profile and derives the advised one from it and
 * the adjustments each time a choice changes, then asks the advisor again (pure and fast: a few
 * variants) and rebuilds step 3. The free space of the destination is asked of GIO
 * asynchronously; the download is queued in the download manager the Discover page uses.
 */
#include "config.h"

#include <glib/gi18n.h>

#include "smelt-wizard.h"
#include "smelt-fit-badge.h"

#define SCHEMA_ID "io.github.smeltapp.Smelt"
#define GB        1e9

struct _SmeltWizard
{
  AdwWindow parent_instance;

  /* template widgets */
  AdwWindowTitle       *window_title;
  GtkButton            *back_button;
  GtkButton            *next_button;
  GtkStack             *stack;
  AdwActionRow         *cpu_row;
  AdwActionRow         *memory_row;
  AdwActionRow         *gpu_row;
  AdwActionRow         *disk_row;
  AdwActionRow         *use_gpu_row;
  GtkSwitch            *use_gpu_switch;
  AdwActionRow         *ram_row;
  GtkSpinButton        *ram_spin;
  AdwActionRow         *vram_row;
  GtkSpinButton        *vram_spin;
  GtkCheckButton       *speed_check;
  GtkCheckButton       *balanced_check;
  GtkCheckButton       *quality_check;
  GtkCheckButton       *ctx4_check;
  GtkCheckButton       *ctx8_check;
  GtkCheckButton       *ctx16_check;
  GtkCheckButton       *ctx32_check;
  AdwPreferencesGroup  *pick_group;
  GtkLabel             *pick_label;
  AdwPreferencesGroup  *variants_group;
  AdwPreferencesGroup  *formats_group;
  AdwActionRow         *file_row;
  AdwActionRow         *folder_row;
  AdwActionRow         *free_row;
  AdwActionRow         *after_row;
  GtkSwitch            *open_chat_switch;

  /* owned */
  SmeltDownloadManager *manager;     /* (nullable) */
  char                 *endpoint;
  char                 *repo_id;
  char                 *revision;
  GPtrArray            *variants;    /* (element-type SmeltHubVariant) */
  SmeltModelInfo        model;
  SmeltDecisionTable   *table;       /* (nullable) when the table cannot be loaded */
  SmeltHwProfile       *probed;      /* (nullable) until the probe answers */
  SmeltHwProfile       *advised;     /* (nullable) probed + adjustments */
  SmeltRecommendation  *rec;         /* (nullable) */
  GPtrArray            *variant_rows; /* (element-type GtkWidget) rows in variants_group */
  GCancellable         *cancellable;
  char                 *destination; /* (nullable) NULL = the Hugging Face cache */
  GtkFileChooserNative *chooser;     /* (nullable) while open */

  gint64                free_bytes;  /* of the destination; -1 = unknown */
  guint                 free_generation;
  int                   selected;    /* index into variants, -1 = none */
  gboolean              user_chose;  /* the selection is the user's, not the advisor's */
  gboolean              syncing;     /* controls are being set from code */
  gboolean              formats_built;
  SmeltWizardStep       step;
};

enum
{
  DOWNLOAD_QUEUED,
  UPDATED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (SmeltWizard, smelt_wizard, ADW_TYPE_WINDOW)

static const char *const step_names[] = { "hardware", "goal", "pick", "store", "formats" };

static void recompute (SmeltWizard *self);
static void update_store (SmeltWizard *self);

/* ---- pure helpers ---- */

gint64
smelt_wizard_free_after (gint64  free_bytes,
                         guint64 size)
{
  if (free_bytes < 0)
    return G_MININT64;
  if (size > (guint64) G_MAXINT64)
    return G_MININT64;
  return free_bytes - (gint64) size;
}

static int
fit_order (SmeltFit fit)
{
  return fit < SMELT_FIT_COUNT ? (int) fit : (int) SMELT_FIT_COUNT;
}

static const SmeltRecommendation *rank_rec;

static int
rank_compare (gconstpointer a,
              gconstpointer b)
{
  guint ia = *(const guint *) a, ib = *(const guint *) b;
  const SmeltAdvice *x = g_ptr_array_index (rank_rec->advice, ia);
  const SmeltAdvice *y = g_ptr_array_index (rank_rec->advice, ib);
  int px = (int) ia == rank_rec->recommended, py = (int) ib == rank_rec->recommended;

  if (px != py)
    return py - px;
  if (x->recommendable != y->recommendable)
    return y->recommendable - x->recommendable;
  if (x->recommendable && x->score != y->score)
    return x->score > y->score ? -1 : 1;
  if (fit_order (x->fit) != fit_order (y->fit))
    return fit_order (x->fit) - fit_order (y->fit);
  if (x->size_bytes != y->size_bytes)
    return x->size_bytes > y->size_bytes ? -1 : 1;
  return (int) ia - (int) ib;
}

GArray *
smelt_wizard_rank (const SmeltRecommendation *rec)
{
  GArray *order;

  g_return_val_if_fail (rec != NULL, NULL);

  order = g_array_sized_new (FALSE, FALSE, sizeof (guint), rec->advice->len);
  for (guint i = 0; i < rec->advice->len; i++)
    g_array_append_val (order, i);
  /* Main thread only, so a file-level pointer carries the context into the comparison. */
  rank_rec = rec;
  g_array_sort (order, rank_compare);
  rank_rec = NULL;
  return order;
}

static SmeltHwProfile *
hw_copy (const SmeltHwProfile *src)
{
  SmeltHwProfile *p = smelt_hw_profile_new ();

  g_free (p->arch);
  g_free (p->model);
  g_strfreev (p->features);
  p->arch = g_strdup (src->arch);
  p->model = g_strdup (src->model);
  p->cores = src->cores;
  p->threads = src->threads;
  p->features = g_strdupv (src->features);
  p->memory_total_bytes = src->memory_total_bytes;
  p->memory_available_bytes = src->memory_available_bytes;
  p->memory_bandwidth_bytes_per_second = src->memory_bandwidth_bytes_per_second;
  for (guint i = 0; src->gpus != NULL && i < src->gpus->len; i++)
    {
      const SmeltHwGpu *g = g_ptr_array_index (src->gpus, i);
      SmeltHwGpu *c = smelt_hw_gpu_new (g->vendor, g->name);

      c->vram_total_bytes = g->vram_total_bytes;
      c->vram_free_bytes = g->vram_free_bytes;
      c->bf16 = g->bf16;
      c->fp16 = g->fp16;
      c->unified_memory = g->unified_memory;
      c->bandwidth_bytes_per_second = g->bandwidth_bytes_per_second;
      g_ptr_array_add (p->gpus, c);
    }
  p->disk_path = g_strdup (src->disk_path);
  p->disk_free_bytes = src->disk_free_bytes;
  return p;
}

static char *
size_text (guint64 bytes)
{
  return g_format_size (bytes);
}

static GSettings *
settings_new (void)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr(GSettingsSchema) schema = NULL;

  if (source == NULL || (schema = g_settings_schema_source_lookup (source, SCHEMA_ID, TRUE)) == NULL)
    return NULL;
  return g_settings_new (SCHEMA_ID);
}

/* ---- step 1: this computer ---- */

/* The CPU features that matter for running models, in words people have seen on spec sheets. */
static char *
cpu_features_text (const SmeltHwProfile *hw)
{
  static const struct { const char *feature; const char *name; } known[] = {
    { "avx2", "AVX2" },
    { "avx512f", "AVX-512" },
    { "avx512_vnni", "AVX-512 VNNI" },
    { "avx512_bf16", "AVX-512 BF16" },
    { "avx512_fp16", "AVX-512 FP16" },
    { "avx_vnni", "AVX-VNNI" },
    { "amx_tile", "AMX" },
    { "neon", "NEON" },
    { "asimddp", "DotProd" },
    { "i8mm", "I8MM" },
    { "sve", "SVE" },
    { "bf16", "BF16" },
  };
  g_autoptr(GString) s = g_string_new (NULL);

  for (guint i = 0; i < G_N_ELEMENTS (known); i++)
    if (smelt_hw_profile_has_feature (hw, known[i].feature))
      {
        if (s->len > 0)
          g_string_append (s, ", ");
        g_string_append (s, known[i].name);
      }
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static void
show_hardware (SmeltWizard *self)
{
  const SmeltHwProfile *hw = self->probed;
  g_autofree char *features = NULL;
  g_autofree char *cpu = NULL;
  g_autofree char *total = NULL;
  g_autofree char *avail = NULL;
  g_autofree char *mem = NULL;
  g_autoptr(GString) gpus = g_string_new (NULL);
  gboolean have_gpu;

  if (hw == NULL)
    {
      adw_action_row_set_subtitle (self->cpu_row, _("Checking this computer…"));
      return;
    }
  features = cpu_features_text (hw);
  if (*features != '\0')
    /* Translators: the processor, e.g. "Intel Xeon · 8 cores, 16 threads · fast at models with
     * AVX2, AVX-512". */
    cpu = g_strdup_printf (_("%s · %d cores, %d threads · speeds up models with %s"),
                           *hw->model != '\0' ? hw->model : hw->arch, hw->cores, hw->threads,
                           features);
  else
    cpu = g_strdup_printf (_("%s · %d cores, %d threads"),
                           *hw->model != '\0' ? hw->model : hw->arch, hw->cores, hw->threads);
  adw_action_row_set_subtitle (self->cpu_row, cpu);

  total = size_text (hw->memory_total_bytes);
  avail = size_text (hw->memory_available_bytes);
  /* Translators: RAM, e.g. "16.0 GB, of which 12.1 GB is free now". */
  mem = g_strdup_printf (_("%s, of which %s is free now"), total, avail);
  adw_action_row_set_subtitle (self->memory_row, mem);

  for (guint i = 0; i < hw->gpus->len; i++)
    {
      const SmeltHwGpu *g = g_ptr_array_index (hw->gpus, i);
      g_autofree char *vram = size_text (g->vram_total_bytes);

      if (gpus->len > 0)
        g_string_append_c (gpus, '\n');
      if (g->unified_memory)
        /* Translators: an integrated GPU, e.g. "AMD Radeon 780M, shares up to 16.0 GB of RAM". */
        g_string_append_printf (gpus, _("%s, shares up to %s of RAM"), g->name, vram);
      else
        /* Translators: a graphics card, e.g. "NVIDIA GeForce RTX 4090 with 24.0 GB of memory". */
        g_string_append_printf (gpus, _("%s with %s of memory"), g->name, vram);
    }
  have_gpu = hw->gpus->len > 0;
  adw_action_row_set_subtitle (self->gpu_row,
                               have_gpu ? gpus->str
                                        : _("None that Smelt can use: models run on the processor."));
  gtk_widget_set_sensitive (GTK_WIDGET (self->use_gpu_row), have_gpu);
  gtk_widget_set_visible (GTK_WIDGET (self->vram_row), have_gpu);

  self->syncing = TRUE;
  if (!have_gpu)
    gtk_switch_set_active (self->use_gpu_switch, FALSE);
  gtk_spin_button_set_value (self->ram_spin,
                             MAX (0.5, (double) hw->memory_available_bytes / GB));
  if (have_gpu)
    {
      const SmeltHwGpu *g = g_ptr_array_index (hw->gpus, 0);

      gtk_spin_button_set_value (self->vram_spin, MAX (0.5, (double) g->vram_free_bytes / GB));
    }
  self->syncing = FALSE;
}

static gboolean
differs (double a,
         double b)
{
  return a - b > 0.05 || b - a > 0.05;
}

/* The profile the advice is for: the probed one, without GPUs when they are turned off, with the
 * memory the user plans for, and the free space of the chosen folder. */
static void
derive_profile (SmeltWizard *self)
{
  SmeltHwProfile *hw;
  double ram = gtk_spin_button_get_value (self->ram_spin);
  double vram = gtk_spin_button_get_value (self->vram_spin);

  g_clear_pointer (&self->advised, smelt_hw_profile_free);
  if (self->probed == NULL)
    return;
  hw = hw_copy (self->probed);
  if (!gtk_switch_get_active (self->use_gpu_switch))
    g_ptr_array_set_size (hw->gpus, 0);
  /* Only a value the user changed overrides the probe (the spin rounds to 0.1 GB). */
  if (differs (ram, MAX (0.5, (double) self->probed->memory_available_bytes / GB)))
    {
      hw->memory_available_bytes = (guint64) (ram * GB);
      hw->memory_total_bytes = MAX (hw->memory_total_bytes, hw->memory_available_bytes);
    }
  if (hw->gpus->len > 0)
    {
      SmeltHwGpu *g = g_ptr_array_index (hw->gpus, 0);

      if (differs (vram, MAX (0.5, (double) g->vram_free_bytes / GB)))
        {
          g->vram_free_bytes = (guint64) (vram * GB);
          g->vram_total_bytes = MAX (g->vram_total_bytes, g->vram_free_bytes);
        }
    }
  if (self->free_bytes >= 0)
    {
      g_free (hw->disk_path);
      hw->disk_path = self->destination != NULL ? g_strdup (self->destination)
                                                : smelt_download_hub_cache_dir ();
      hw->disk_free_bytes = (guint64) self->free_bytes;
    }
  self->advised = hw;
}

/* ---- step 2: what matters ---- */

static SmeltGoal
current_goal (SmeltWizard *self)
{
  if (gtk_check_button_get_active (self->speed_check))
    return SMELT_GOAL_SPEED;
  if (gtk_check_button_get_active (self->quality_check))
    return SMELT_GOAL_QUALITY;
  return SMELT_GOAL_BALANCED;
}

static guint
current_context (SmeltWizard *self)
{
  if (gtk_check_button_get_active (self->ctx32_check))
    return 32768;
  if (gtk_check_button_get_active (self->ctx16_check))
    return 16384;
  if (gtk_check_button_get_active (self->ctx8_check))
    return 8192;
  return 4096;
}

/* ---- step 3: the recommendation ---- */

static void
on_variant_toggled_cb (GtkCheckButton *check,
                       SmeltWizard    *self)
{
  if (self->syncing || !gtk_check_button_get_active (check))
    return;
  self->selected = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (check), "variant-index"));
  self->user_chose = TRUE;
  update_store (self);
}

static GtkWidget *
variant_row_new (SmeltWizard    *self,
                 guint           index,
                 GtkCheckButton *group)
{
  const SmeltHubVariant *v = g_ptr_array_index (self->variants, index);
  const SmeltAdvice *a = g_ptr_array_index (self->rec->advice, index);
  g_autofree char *size = size_text (v->size_bytes);
  g_autoptr(GString) sub = g_string_new (NULL);
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *check = gtk_check_button_new ();
  GtkWidget *badge;
  g_autofree char *a11y = NULL;

  if (v->files->len > 1)
    /* Translators: a variant's size and its number of files, e.g. "6.0 GB in 2 files". */
    g_string_printf (sub, _("%s in %u files"), size, v->files->len);
  else
    g_string_assign (sub, size);
  if (a->tokens_per_second > 0)
    {
      g_string_append (sub, " · ");
      /* Translators: the advisor's speed estimate for a variant, in tokens per second. */
      g_string_append_printf (sub, _("about %.0f tokens/s"), a->tokens_per_second);
    }
  for (guint i = 0; i < a->reasons->len; i++)
    g_string_append_printf (sub, "\n• %s", (const char *) g_ptr_array_index (a->reasons, i));

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), v->name);
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), sub->str);
  adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 0);

  gtk_widget_set_valign (check, GTK_ALIGN_CENTER);
  if (group != NULL)
    gtk_check_button_set_group (GTK_CHECK_BUTTON (check), group);
  g_object_set_data (G_OBJECT (check), "variant-index", GUINT_TO_POINTER (index));
  if (self->rec->recommended == (int) index)
    /* Translators: the accessible name of the recommended variant's radio button. */
    a11y = g_strdup_printf (_("%s, recommended"), v->name);
  else
    a11y = g_strdup (v->name);
  gtk_accessible_update_property (GTK_ACCESSIBLE (check), GTK_ACCESSIBLE_PROPERTY_LABEL, a11y, -1);
  g_signal_connect (check, "toggled", G_CALLBACK (on_variant_toggled_cb), self);
  adw_action_row_add_prefix (ADW_ACTION_ROW (row), check);
  adw_action_row_set_activatable_widget (ADW_ACTION_ROW (row), check);
  g_object_set_data (G_OBJECT (row), "check", check);

  if (self->rec->recommended == (int) index)
    {
      GtkWidget *star = gtk_image_new_from_icon_name ("starred-symbolic");

      gtk_widget_set_name (star, "recommended-star");
      gtk_widget_set_tooltip_text (star, _("Recommended for this computer"));
      gtk_accessible_update_property (GTK_ACCESSIBLE (star), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                      _("Recommended for this computer"), -1);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), star);
    }
  badge = smelt_fit_badge_new (a->fit);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), badge);
  return row;
}

static void
rebuild_pick (SmeltWizard *self)
{
  g_autoptr(GArray) order = NULL;
  GtkCheckButton *group = NULL;
  const SmeltAdvice *pick;

  for (guint i = 0; i < self->variant_rows->len; i++)
    adw_preferences_group_remove (self->variants_group, g_ptr_array_index (self->variant_rows, i));
  g_ptr_array_set_size (self->variant_rows, 0);

  if (self->rec == NULL)
    {
      gtk_label_set_text (self->pick_label,
                          self->probed == NULL ? _("Checking this computer…")
                                               : _("The decision table could not be read, so "
                                                   "Smelt cannot recommend a file."));
      return;
    }
  pick = smelt_recommendation_get_pick (self->rec);
  if (pick != NULL)
    {
      g_autofree char *size = size_text (pick->size_bytes);
      g_autoptr(GString) s = g_string_new (NULL);

      /* Translators: the recommendation's headline, e.g. "Q4_K_M (4.9 GB) · CPU only". */
      g_string_printf (s, _("%s (%s) · %s"), pick->name, size, smelt_fit_label (pick->fit));
      /* The advisor's first reason says why it is the pick; its row below lists them all. */
      if (pick->reasons->len > 0)
        g_string_append_printf (s, "\n%s", (const char *) g_ptr_array_index (pick->reasons, 0));
      gtk_label_set_text (self->pick_label, s->str);
    }
  else
    gtk_label_set_text (self->pick_label,
                        _("No file of this repository fits this computer as set up in step 1. "
                          "You can still pick one below."));

  /* Keep the user's own pick; otherwise follow the advisor. */
  if (!self->user_chose)
    self->selected = self->rec->recommended;

  order = smelt_wizard_rank (self->rec);
  self->syncing = TRUE;
  for (guint i = 0; i < order->len; i++)
    {
      guint index = g_array_index (order, guint, i);
      GtkWidget *row = variant_row_new (self, index, group);
      GtkCheckButton *check = g_object_get_data (G_OBJECT (row), "check");

      if (group == NULL)
        group = check;
      if ((int) index == self->selected)
        gtk_check_button_set_active (check, TRUE);
      adw_preferences_group_add (self->variants_group, row);
      g_ptr_array_add (self->variant_rows, row);
    }
  self->syncing = FALSE;
}

static void
recompute (SmeltWizard *self)
{
  derive_profile (self);
  g_clear_pointer (&self->rec, smelt_recommendation_free);
  if (self->advised != NULL && self->table != NULL)
    self->rec = smelt_advisor_recommend (self->table, self->variants, self->advised,
                                         current_goal (self), current_context (self),
                                         &self->model);
  rebuild_pick (self);
  update_store (self);
  g_signal_emit (self, signals[UPDATED], 0);
}

/* ---- the format table ---- */

static void
build_formats (SmeltWizard *self)
{
  /* Built on first use: some 40 rows are most of the wizard's widgets, and every widget costs
   * time when the window is mapped (accessibility registers each one). */
  if (self->table == NULL || self->formats_built)
    return;
  self->formats_built = TRUE;
  for (guint i = 0; i < self->table->formats->len; i++)
    {
      const SmeltFormatRow *f = g_ptr_array_index (self->table->formats, i);
      GtkWidget *row = adw_action_row_new ();
      g_autofree char *title = NULL;
      g_autofree char *sub = NULL;

      /* Translators: a format's name and its typical bits per weight, e.g. "Q4_K_M · 4.89 bits
       * per weight". */
      title = g_strdup_printf (_("%s · %.2g bits per weight"), f->name, f->bits_per_weight);
      /* Translators: the four facts of a format, one per line. */
      sub = g_strdup_printf (_("Precision: %s\nMemory: %s\nDevices: %s\nBest use: %s"),
                             smelt_decision_table_text (f->precision),
                             smelt_decision_table_text (f->memory),
                             smelt_decision_table_text (f->devices),
                             smelt_decision_table_text (f->best_use));
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), sub);
      adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 0);
      adw_preferences_group_add (self->formats_group, row);
    }
}

/* ---- step 4: where to store it ---- */

static char *
destination_shown (SmeltWizard *self)
{
  if (self->destination != NULL)
    return g_strdup (self->destination);
  return smelt_download_hub_cache_dir ();
}

static void
update_store (SmeltWizard *self)
{
  const SmeltHubVariant *v = NULL;
  g_autofree char *folder = destination_shown (self);
  g_autofree char *files = NULL;
  gint64 after;

  if (self->selected >= 0 && (guint) self->selected < self->variants->len)
    v = g_ptr_array_index (self->variants, self->selected);
  if (v != NULL)
    {
      g_autofree char *size = size_text (v->size_bytes);

      /* Translators: what will be downloaded, e.g. "Q8_0 · 6.0 GB in 2 files". */
      files = v->files->len > 1 ? g_strdup_printf (_("%s · %s in %u files"), v->name, size,
                                                   v->files->len)
                                : g_strdup_printf (_("%s · %s"), v->name, size);
    }
  adw_action_row_set_subtitle (self->file_row, files != NULL ? files : _("Nothing selected"));
  if (self->destination == NULL)
    {
      g_autofree char *text = g_strdup_printf ("%s\n%s", folder,
                                               _("The Hugging Face cache, shared with "
                                                 "llama.cpp and other tools"));

      adw_action_row_set_subtitle (self->folder_row, text);
    }
  else
    adw_action_row_set_subtitle (self->folder_row, folder);

  if (self->free_bytes < 0)
    {
      adw_action_row_set_subtitle (self->disk_row, _("Checking…"));
      adw_action_row_set_subtitle (self->free_row, _("Checking…"));
      adw_action_row_set_subtitle (self->after_row, _("Checking…"));
    }
  else
    {
      g_autofree char *free = self->free_bytes == G_MAXINT64
                              ? g_strdup (_("Unknown"))
                              : size_text ((guint64) self->free_bytes);
      g_autofree char *disk = NULL;

      /* Translators: free disk space where models go, e.g. "120 GB free in /home/me/models". */
      disk = g_strdup_printf (_("%s free in %s"), free, folder);
      adw_action_row_set_subtitle (self->disk_row, disk);
      adw_action_row_set_subtitle (self->free_row, free);
      after = smelt_wizard_free_after (self->free_bytes, v != NULL ? v->size_bytes : 0);
      if (self->free_bytes == G_MAXINT64)
        adw_action_row_set_subtitle (self->after_row, _("Unknown"));
      else if (after >= 0)
        {
          g_autofree char *left = size_text ((guint64) after);

          adw_action_row_set_subtitle (self->after_row, left);
          gtk_widget_remove_css_class (GTK_WIDGET (self->after_row), "error");
        }
      else
        {
          g_autofree char *more = size_text ((guint64) -after);
          g_autofree char *text = NULL;

          /* Translators: not enough disk space, e.g. "Not enough space: 2.1 GB more is needed". */
          text = g_strdup_printf (_("Not enough space: %s more is needed"), more);
          adw_action_row_set_subtitle (self->after_row, text);
          gtk_widget_add_css_class (GTK_WIDGET (self->after_row), "error");
        }
    }
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "wizard.next",
                                 self->step != SMELT_WIZARD_STEP_STORE
                                 || (v != NULL && self->manager != NULL
                                     && smelt_wizard_free_after (self->free_bytes,
                                                                 v->size_bytes) >= 0));
}

/* The nearest folder that exists, for the free-space query: a cache not made yet is not an
 * error. */
static GFile *
existing_ancestor (const char *path)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);

  while (!g_file_query_exists (file, NULL))
    {
      g_autoptr(GFile) parent = g_file_get_parent (file);

      if (parent == NULL)
        break;
      g_set_object (&file, parent);
    }
  return g_steal_pointer (&file);
}

static void
free_space_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GFileInfo) info = g_file_query_filesystem_info_finish (G_FILE (source), result,
                                                                   &error);
  SmeltWizard *self;
  guint generation;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = SMELT_WIZARD (user_data);
  generation = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (source), "generation"));
  if (generation != self->free_generation)
    return;
  if (info == NULL || !g_file_info_has_attribute (info, G_FILE_ATTRIBUTE_FILESYSTEM_FREE))
    {
      g_debug ("No free space for the destination: %s",
               error != NULL ? error->message : "not reported");
      /* Unknown: let the download manager check when it starts. */
      self->free_bytes = G_MAXINT64;
    }
  else
    self->free_bytes = (gint64) MIN (g_file_info_get_attribute_uint64 (
                                       info, G_FILE_ATTRIBUTE_FILESYSTEM_FREE),
                                     (guint64) G_MAXINT64);
  recompute (self);
}

static void
query_free_space (SmeltWizard *self)
{
  g_autofree char *folder = destination_shown (self);
  g_autoptr(GFile) dir = existing_ancestor (folder);

  self->free_bytes = -1;
  self->free_generation++;
  g_object_set_data (G_OBJECT (dir), "generation", GUINT_TO_POINTER (self->free_generation));
  g_file_query_filesystem_info_async (dir, G_FILE_ATTRIBUTE_FILESYSTEM_FREE, G_PRIORITY_DEFAULT,
                                      self->cancellable, free_space_cb, self);
}

void
smelt_wizard_set_destination (SmeltWizard *self,
                              const char  *folder)
{
  g_autofree char *cache = smelt_download_hub_cache_dir ();

  g_return_if_fail (SMELT_IS_WIZARD (self));

  g_clear_pointer (&self->destination, g_free);
  /* The cache folder itself means the cache layout, not plain files in it. */
  if (folder != NULL && g_strcmp0 (folder, cache) != 0)
    self->destination = g_strdup (folder);
  query_free_space (self);
  update_store (self);
}

static void
on_chooser_response_cb (GtkNativeDialog *dialog,
                        int              response,
                        SmeltWizard     *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;

      if (path != NULL)
        smelt_wizard_set_destination (self, path);
    }
  g_clear_object (&self->chooser);
}

static void
on_folder_clicked_cb (SmeltWizard *self)
{
  g_autofree char *current = destination_shown (self);
  g_autoptr(GFile) start = existing_ancestor (current);

  if (self->chooser != NULL)
    return;
  self->chooser = gtk_file_chooser_native_new (_("Choose a Folder for the Model"),
                                               GTK_WINDOW (self),
                                               GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                                               _("_Select"), _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (self->chooser), TRUE);
  gtk_file_chooser_set_current_folder (GTK_FILE_CHOOSER (self->chooser), start, NULL);
  g_signal_connect (self->chooser, "response", G_CALLBACK (on_chooser_response_cb), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (self->chooser));
}

/* A folder outside the cache joins the models folders, so the Library lists what lands there. */
static void
remember_folder (const char *folder)
{
  g_autoptr(GSettings) settings = settings_new ();
  g_auto(GStrv) folders = NULL;
  g_autoptr(GStrvBuilder) builder = NULL;
  g_auto(GStrv) updated = NULL;

  if (settings == NULL || folder == NULL)
    return;
  folders = g_settings_get_strv (settings, "models-folders");
  if (g_strv_contains ((const char *const *) folders, folder))
    return;
  builder = g_strv_builder_new ();
  g_strv_builder_addv (builder, (const char **) folders);
  g_strv_builder_add (builder, folder);
  updated = g_strv_builder_end (builder);
  g_settings_set_strv (settings, "models-folders", (const char *const *) updated);
}

guint
smelt_wizard_download (SmeltWizard *self)
{
  g_autoptr(SmeltDownloadSpec) spec = NULL;
  const SmeltHubVariant *v;
  gboolean open_chat;
  guint id;

  g_return_val_if_fail (SMELT_IS_WIZARD (self), 0);

  if (self->manager == NULL || self->selected < 0 || (guint) self->selected >= self->variants->len)
    return 0;
  v = g_ptr_array_index (self->variants, self->selected);
  if (smelt_wizard_free_after (self->free_bytes, v->size_bytes) < 0)
    return 0;

  /* The same job the Discover page queued before the wizard: pinned to the listed commit. */
  spec = smelt_download_spec_new (self->endpoint, self->repo_id, self->revision);
  spec->ref_name = g_strdup ("main");
  spec->label = g_strdup (v->name);
  spec->dest_dir = g_strdup (self->destination);
  for (guint i = 0; i < v->files->len; i++)
    g_ptr_array_add (spec->files, smelt_hub_file_copy (g_ptr_array_index (v->files, i)));
  if (self->destination != NULL)
    {
      g_mkdir_with_parents (self->destination, 0755);
      remember_folder (self->destination);
    }
  id = smelt_download_manager_add (self->manager, spec);
  open_chat = gtk_switch_get_active (self->open_chat_switch);
  g_signal_emit (self, signals[DOWNLOAD_QUEUED], 0, id, open_chat);
  /* Closing hides (hide-on-close): see smelt_wizard_init. */
  gtk_window_close (GTK_WINDOW (self));
  return id;
}

/* ---- step flow ---- */

static void
show_step (SmeltWizard    *self,
           SmeltWizardStep step)
{
  static const char *titles[] = {
    N_("Your Computer"), N_("What Matters"), N_("Recommendation"), N_("Where to Store It"),
    N_("Quantization Formats"),
  };
  g_autofree char *subtitle = NULL;
  gboolean last = step == SMELT_WIZARD_STEP_STORE;

  self->step = step;
  gtk_stack_set_visible_child_name (self->stack, step_names[step]);
  adw_window_title_set_title (self->window_title, _(titles[step]));
  if (step == SMELT_WIZARD_STEP_FORMATS)
    subtitle = g_strdup (self->repo_id);
  else
    /* Translators: the wizard's progress, e.g. "Step 2 of 4 · org/model". */
    subtitle = g_strdup_printf (_("Step %d of %d · %s"), (int) step + 1, 4, self->repo_id);
  adw_window_title_set_subtitle (self->window_title, subtitle);

  gtk_widget_set_visible (GTK_WIDGET (self->back_button), step != SMELT_WIZARD_STEP_HARDWARE);
  gtk_widget_set_visible (GTK_WIDGET (self->next_button), step != SMELT_WIZARD_STEP_FORMATS);
  gtk_button_set_label (self->next_button, last ? _("Download") : _("Next"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->next_button),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  last ? _("Download") : _("Next"), -1);
  update_store (self);
}

SmeltWizardStep
smelt_wizard_get_step (SmeltWizard *self)
{
  g_return_val_if_fail (SMELT_IS_WIZARD (self), SMELT_WIZARD_STEP_HARDWARE);
  return self->step;
}

gboolean
smelt_wizard_next (SmeltWizard *self)
{
  g_return_val_if_fail (SMELT_IS_WIZARD (self), FALSE);

  if (self->step >= SMELT_WIZARD_STEP_STORE)
    return FALSE;
  show_step (self, self->step + 1);
  return TRUE;
}

gboolean
smelt_wizard_back (SmeltWizard *self)
{
  g_return_val_if_fail (SMELT_IS_WIZARD (self), FALSE);

  if (self->step == SMELT_WIZARD_STEP_FORMATS)
    show_step (self, SMELT_WIZARD_STEP_PICK);
  else if (self->step == SMELT_WIZARD_STEP_HARDWARE)
    return FALSE;
  else
    show_step (self, self->step - 1);
  return TRUE;
}

void
smelt_wizard_show_formats (SmeltWizard *self)
{
  g_return_if_fail (SMELT_IS_WIZARD (self));
  build_formats (self);
  show_step (self, SMELT_WIZARD_STEP_FORMATS);
}

static void
wizard_action (GtkWidget  *widget,
               const char *name,
               GVariant   *param)
{
  SmeltWizard *self = SMELT_WIZARD (widget);

  (void) param;
  if (g_str_equal (name, "wizard.next"))
    {
      if (self->step == SMELT_WIZARD_STEP_STORE)
        smelt_wizard_download (self);
      else
        smelt_wizard_next (self);
    }
  else if (g_str_equal (name, "wizard.back"))
    smelt_wizard_back (self);
  else if (g_str_equal (name, "wizard.formats"))
    smelt_wizard_show_formats (self);
}

/* ---- choices ---- */

static void
on_choice_toggled_cb (SmeltWizard *self)
{
  if (!self->syncing)
    recompute (self);
}

static void
on_spin_changed_cb (SmeltWizard *self)
{
  if (!self->syncing)
    recompute (self);
}

void
smelt_wizard_set_use_gpu (SmeltWizard *self,
                          gboolean     use_gpu)
{
  g_return_if_fail (SMELT_IS_WIZARD (self));
  gtk_switch_set_active (self->use_gpu_switch, use_gpu);
}

void
smelt_wizard_set_goal (SmeltWizard *self,
                       SmeltGoal    goal)
{
  g_return_if_fail (SMELT_IS_WIZARD (self));
  gtk_check_button_set_active (goal == SMELT_GOAL_SPEED ? self->speed_check
                               : goal == SMELT_GOAL_QUALITY ? self->quality_check
                               : self->balanced_check, TRUE);
}

void
smelt_wizard_set_context (SmeltWizard *self,
                          guint        tokens)
{
  g_return_if_fail (SMELT_IS_WIZARD (self));
  gtk_check_button_set_active (tokens >= 32768 ? self->ctx32_check
                               : tokens >= 16384 ? self->ctx16_check
                               : tokens >= 8192 ? self->ctx8_check
                               : self->ctx4_check, TRUE);
}

void
smelt_wizard_select_variant (SmeltWizard *self,
                             guint        index)
{
  g_return_if_fail (SMELT_IS_WIZARD (self));
  g_return_if_fail (index < self->variants->len);

  for (guint i = 0; i < self->variant_rows->len; i++)
    {
      GtkCheckButton *check = g_object_get_data (g_ptr_array_index (self->variant_rows, i),
                                                 "check");

      if (GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (check), "variant-index")) == index)
        gtk_check_button_set_active (check, TRUE);
    }
  self->selected = (int) index;
  self->user_chose = TRUE;
  update_store (self);
}

const SmeltHwProfile *
smelt_wizard_get_hw_profile (SmeltWizard *self)
{
  g_return_val_if_fail (SMELT_IS_WIZARD (self), NULL);
  return self->advised;
}

const SmeltRecommendation *
smelt_wizard_get_recommendation (SmeltWizard *self)
{
  g_return_val_if_fail (SMELT_IS_WIZARD (self), NULL);
  return self->rec;
}

int
smelt_wizard_get_selected (SmeltWizard *self)
{
  g_return_val_if_fail (SMELT_IS_WIZARD (self), -1);
  return self->selected;
}

const char *
smelt_wizard_get_destination (SmeltWizard *self)
{
  g_return_val_if_fail (SMELT_IS_WIZARD (self), NULL);
  return self->destination;
}

gint64
smelt_wizard_get_free_bytes (SmeltWizard *self)
{
  g_return_val_if_fail (SMELT_IS_WIZARD (self), -1);
  return self->free_bytes;
}

/* ---- the probe ---- */

static void
probe_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  SmeltHwProfile *hw = smelt_hw_profile_probe_live_finish (result, &error);
  SmeltWizard *self;

  (void) source;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_clear_pointer (&hw, smelt_hw_profile_free);
      return;
    }
  self = SMELT_WIZARD (user_data);
  if (hw == NULL)
    {
      /* Plan from what the user enters: no GPU, RAM from the spin button. */
      g_debug ("No hardware profile: %s", error->message);
      hw = smelt_hw_profile_new ();
    }
  self->probed = hw;
  show_hardware (self);
  recompute (self);
}

/* ---- object ---- */

SmeltWizard *
smelt_wizard_new (GtkWindow            *parent,
                  SmeltDownloadManager *manager,
                  const char           *endpoint,
                  const char           *repo_id,
                  const char           *revision,
                  GPtrArray            *variants,
                  const SmeltModelInfo *model,
                  const SmeltHwProfile *hw,
                  int                   preselect)
{
  SmeltWizard *self;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSettings) settings = NULL;

  g_return_val_if_fail (endpoint != NULL && repo_id != NULL && variants != NULL, NULL);

  self = g_object_new (SMELT_TYPE_WIZARD, "transient-for", parent, NULL);
  if (manager != NULL)
    self->manager = g_object_ref (manager);
  self->endpoint = g_strdup (endpoint);
  self->repo_id = g_strdup (repo_id);
  self->revision = g_strdup (revision != NULL ? revision : "main");
  self->variants = g_ptr_array_ref (variants);
  if (model != NULL)
    self->model = *model;
  if ((self->table = smelt_decision_table_load (NULL, &error)) == NULL)
    g_warning ("No decision table: %s", error->message);
  if (preselect >= 0 && (guint) preselect < variants->len)
    {
      self->selected = preselect;
      self->user_chose = TRUE;
    }

  /* The defaults of Preferences: where new downloads go and the usual context length. */
  if ((settings = settings_new ()) != NULL)
    {
      g_auto(GStrv) folders = g_settings_get_strv (settings, "models-folders");

      if (folders[0] != NULL)
        self->destination = g_strdup (folders[0]);
      smelt_wizard_set_context (self, (guint) g_settings_get_int (settings, "context-length"));
    }

  if (hw != NULL)
    {
      self->probed = hw_copy (hw);
      show_hardware (self);
    }
  else
    {
      show_hardware (self);
      smelt_hw_profile_probe_live_async (self->cancellable, probe_done_cb, self);
    }
  query_free_space (self);
  recompute (self);
  show_step (self, SMELT_WIZARD_STEP_HARDWARE);
  return self;
}

static void
smelt_wizard_dispose (GObject *object)
{
  SmeltWizard *self = SMELT_WIZARD (object);

  g_cancellable_cancel (self->cancellable);
  if (self->chooser != NULL)
    gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (self->chooser));
  g_clear_object (&self->chooser);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->manager);
  g_clear_pointer (&self->variants, g_ptr_array_unref);
  g_clear_pointer (&self->variant_rows, g_ptr_array_unref);
  g_clear_pointer (&self->rec, smelt_recommendation_free);
  g_clear_pointer (&self->advised, smelt_hw_profile_free);
  g_clear_pointer (&self->probed, smelt_hw_profile_free);
  g_clear_pointer (&self->table, smelt_decision_table_free);

  G_OBJECT_CLASS (smelt_wizard_parent_class)->dispose (object);
}

static void
smelt_wizard_finalize (GObject *object)
{
  SmeltWizard *self = SMELT_WIZARD (object);

  g_free (self->endpoint);
  g_free (self->repo_id);
  g_free (self->revision);
  g_free (self->destination);

  G_OBJECT_CLASS (smelt_wizard_parent_class)->finalize (object);
}

static void
smelt_wizard_class_init (SmeltWizardClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = smelt_wizard_dispose;
  object_class->finalize = smelt_wizard_finalize;

  /* (guint job id, gboolean open in Chat when done), just before the wizard closes. */
  signals[DOWNLOAD_QUEUED] = g_signal_new ("download-queued", G_TYPE_FROM_CLASS (klass),
                                           G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                           G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_BOOLEAN);
  /* The advice or the free space changed. */
  signals[UPDATED] = g_signal_new ("updated", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                   NULL, NULL, NULL, G_TYPE_NONE, 0);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/smeltapp/Smelt/ui/smelt-wizard.ui");
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, window_title);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, back_button);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, next_button);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, stack);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, cpu_row);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, memory_row);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, gpu_row);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, disk_row);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, use_gpu_row);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, use_gpu_switch);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, ram_row);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, ram_spin);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, vram_row);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, vram_spin);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, speed_check);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, balanced_check);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, quality_check);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, ctx4_check);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, ctx8_check);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, ctx16_check);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, ctx32_check);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, pick_group);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, pick_label);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, variants_group);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, formats_group);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, file_row);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, folder_row);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, free_row);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, after_row);
  gtk_widget_class_bind_template_child (widget_class, SmeltWizard, open_chat_switch);
  gtk_widget_class_bind_template_callback (widget_class, on_choice_toggled_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_spin_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_folder_clicked_cb);

  gtk_widget_class_install_action (widget_class, "wizard.next", NULL, wizard_action);
  gtk_widget_class_install_action (widget_class, "wizard.back", NULL, wizard_action);
  gtk_widget_class_install_action (widget_class, "wizard.formats", NULL, wizard_action);
  /* Escape closes the wizard, as it does any dialog. */
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void
smelt_wizard_init (SmeltWizard *self)
{
  self->selected = -1;
  self->free_bytes = -1;
  self->syncing = TRUE;
  self->variant_rows = g_ptr_array_new ();
  self->cancellable = g_cancellable_new ();
  gtk_widget_init_template (GTK_WIDGET (self));
  /* Closing (Escape, the close button, Download) only hides the window; its owner destroys it
   * later. GTK 4.8's AT-SPI bridge crashes the app when a screen reader asks about a window's
   * accessibles while that window is being destroyed, which is exactly when a reader looks. */
  gtk_window_set_hide_on_close (GTK_WINDOW (self), TRUE);
  self->syncing = FALSE;
}
