/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-wizard.c: the download wizard in process. The step flow (Next, Back, the format table
 * and back, the buttons each step shows, Escape), the advisor's pick following the adjustments
 * (turning the graphics card off moves the pick from the GPU to the CPU, less memory makes it
 * smaller, the goal and context length feed it), the ranking of the alternatives, the free-space
 * arithmetic and its refusal, and the download it queues: a gguf-split variant listed by the
 * in-process fake Hub over loopback HTTP, fetched by a real download manager into the chosen
 * folder, which joins the models folders.
 */
#include "config.h"

#include <adwaita.h>
#include <glib/gstdio.h>

#include "smelt-fake-hub.h"
#include "smelt-hub-client.h"
#include "smelt-wizard.h"

#define REPO "org/Tiny-GGUF"

static SmeltFakeHub *hub;
static char *tmp;

static GBytes *
pattern_bytes (gsize size)
{
  guchar *data = g_malloc (size);
  guint32 x = 2463534242u;

  for (gsize i = 0; i < size; i++)
    {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      data[i] = (guchar) x;
    }
  return g_bytes_new_take (data, size);
}

static SmeltHwProfile *
profile (gboolean with_gpu)
{
  g_autoptr(GError) error = NULL;
  SmeltHwProfile *hw = smelt_hw_profile_from_json (
    with_gpu
    ? "{\"cpu\":{\"arch\":\"x86_64\",\"model\":\"Test CPU\",\"cores\":8,\"threads\":16,"
      "\"features\":[\"avx2\",\"fma\",\"f16c\"]},\"memory\":{\"total_bytes\":34359738368,"
      "\"available_bytes\":30000000000,\"bandwidth_bytes_per_second\":40000000000},"
      "\"gpus\":[{\"vendor\":\"nvidia\",\"name\":\"Test GPU\",\"vram_total_bytes\":12884901888,"
      "\"vram_free_bytes\":12000000000,\"bf16\":true,\"fp16\":true}]}"
    : "{\"cpu\":{\"arch\":\"x86_64\",\"model\":\"Test CPU\",\"cores\":8,\"threads\":16,"
      "\"features\":[\"avx2\",\"fma\",\"f16c\"]},\"memory\":{\"total_bytes\":34359738368,"
      "\"available_bytes\":30000000000,\"bandwidth_bytes_per_second\":40000000000}}",
    -1, &error);

  g_assert_no_error (error);
  return hw;
}

/* An 8B model's usual files, with sizes as the Hub lists them. */
static GPtrArray *
big_variants (void)
{
  g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_hub_file_free);

  g_ptr_array_add (files, smelt_hub_file_new ("Big-F16.gguf", 16000000000ull, NULL));
  g_ptr_array_add (files, smelt_hub_file_new ("Q8_0/Big-Q8_0-00001-of-00002.gguf",
                                              4300000000ull, NULL));
  g_ptr_array_add (files, smelt_hub_file_new ("Q8_0/Big-Q8_0-00002-of-00002.gguf",
                                              4200000000ull, NULL));
  g_ptr_array_add (files, smelt_hub_file_new ("Big-Q6_K.gguf", 6600000000ull, NULL));
  g_ptr_array_add (files, smelt_hub_file_new ("Big-Q4_K_M.gguf", 4900000000ull, NULL));
  g_ptr_array_add (files, smelt_hub_file_new ("Big-IQ2_XXS.gguf", 2200000000ull, NULL));
  g_ptr_array_add (files, smelt_hub_file_new ("Big-Q2_K.gguf", 3200000000ull, NULL));
  return smelt_hub_variants_from_files (files);
}

static int
variant_index (GPtrArray  *variants,
               const char *name)
{
  for (guint i = 0; i < variants->len; i++)
    if (g_str_equal (((SmeltHubVariant *) g_ptr_array_index (variants, i))->name, name))
      return (int) i;
  return -1;
}

static void
on_signal_cb (GObject  *object,
              gboolean *flag)
{
  (void) object;
  *flag = TRUE;
}

/* Spins the main loop until the destination's free space is known (fails after 10 s). */
static void
wait_free_space (SmeltWizard *wizard)
{
  gint64 end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (smelt_wizard_get_free_bytes (wizard) < 0 && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpint (smelt_wizard_get_free_bytes (wizard), >=, 0);
}

static GtkWidget *
child (SmeltWizard *wizard,
       const char  *name)
{
  return GTK_WIDGET (gtk_widget_get_template_child (GTK_WIDGET (wizard), SMELT_TYPE_WIZARD, name));
}

static void
collect_rows (GtkWidget *root,
              GPtrArray *out)
{
  for (GtkWidget *w = gtk_widget_get_first_child (root); w != NULL;
       w = gtk_widget_get_next_sibling (w))
    {
      if (ADW_IS_ACTION_ROW (w))
        g_ptr_array_add (out, w);
      collect_rows (w, out);
    }
}

static SmeltWizard *
big_wizard (GPtrArray      *variants,
            gboolean        with_gpu,
            int             preselect)
{
  g_autoptr(SmeltHwProfile) hw = profile (with_gpu);
  SmeltModelInfo model = { .n_params = 8000000000ull };

  return smelt_wizard_new (NULL, NULL, "http://127.0.0.1:9", "org/Big-GGUF", "main", variants,
                           &model, hw, preselect);
}

static void
test_step_flow (void)
{
  g_autoptr(GPtrArray) variants = big_variants ();
  SmeltWizard *wizard = big_wizard (variants, TRUE, -1);
  GtkStack *stack = GTK_STACK (child (wizard, "stack"));
  GtkWidget *back = child (wizard, "back_button");
  GtkButton *next = GTK_BUTTON (child (wizard, "next_button"));
  AdwWindowTitle *title = ADW_WINDOW_TITLE (child (wizard, "window_title"));

  gtk_window_present (GTK_WINDOW (wizard));
  g_assert_true (gtk_window_get_modal (GTK_WINDOW (wizard)));
  g_assert_cmpint (smelt_wizard_get_step (wizard), ==, SMELT_WIZARD_STEP_HARDWARE);
  g_assert_cmpstr (gtk_stack_get_visible_child_name (stack), ==, "hardware");
  g_assert_false (gtk_widget_get_visible (back));
  g_assert_cmpstr (gtk_button_get_label (next), ==, "Next");
  g_assert_cmpstr (adw_window_title_get_subtitle (title), ==, "Step 1 of 4 · org/Big-GGUF");
  g_assert_false (smelt_wizard_back (wizard));

  /* Next through the header bar's action, as the button does. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (wizard), "wizard.next", NULL));
  g_assert_cmpint (smelt_wizard_get_step (wizard), ==, SMELT_WIZARD_STEP_GOAL);
  g_assert_cmpstr (gtk_stack_get_visible_child_name (stack), ==, "goal");
  g_assert_true (gtk_widget_get_visible (back));
  g_assert_true (smelt_wizard_next (wizard));
  g_assert_cmpstr (gtk_stack_get_visible_child_name (stack), ==, "pick");
  g_assert_cmpstr (adw_window_title_get_subtitle (title), ==, "Step 3 of 4 · org/Big-GGUF");

  /* The format table, one click away, and back to the recommendation. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (wizard), "wizard.formats", NULL));
  g_assert_cmpint (smelt_wizard_get_step (wizard), ==, SMELT_WIZARD_STEP_FORMATS);
  g_assert_cmpstr (gtk_stack_get_visible_child_name (stack), ==, "formats");
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (next)));
  {
    GtkWidget *group = child (wizard, "formats_group");
    guint n = 0;
    gboolean saw_q4 = FALSE;

    /* Every row of the decision table: the seeds' BF16 ... Q4_0 at least. */
    g_autoptr(GPtrArray) found = g_ptr_array_new ();

    collect_rows (group, found);
    n = found->len;
    for (guint i = 0; i < found->len; i++)
      {
        AdwActionRow *r = g_ptr_array_index (found, i);

        if (g_str_has_prefix (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (r)), "Q4_0 "))
          {
            saw_q4 = TRUE;
            g_assert_nonnull (strstr (adw_action_row_get_subtitle (r), "Best use: ARM devices"));
          }
      }
    g_assert_cmpuint (n, >=, 20);
    g_assert_true (saw_q4);
  }
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (wizard), "wizard.back", NULL));
  g_assert_cmpint (smelt_wizard_get_step (wizard), ==, SMELT_WIZARD_STEP_PICK);

  g_assert_true (smelt_wizard_next (wizard));
  g_assert_cmpint (smelt_wizard_get_step (wizard), ==, SMELT_WIZARD_STEP_STORE);
  g_assert_cmpstr (gtk_stack_get_visible_child_name (stack), ==, "store");
  g_assert_cmpstr (gtk_button_get_label (next), ==, "Download");
  g_assert_false (smelt_wizard_next (wizard));
  /* Without a download manager there is nothing to queue: Download stays off. */
  wait_free_space (wizard);
  g_assert_false (gtk_widget_is_sensitive (GTK_WIDGET (next)));
  g_assert_cmpuint (smelt_wizard_download (wizard), ==, 0);

  g_assert_true (smelt_wizard_back (wizard));
  g_assert_cmpint (smelt_wizard_get_step (wizard), ==, SMELT_WIZARD_STEP_PICK);

  /* Escape (the window's close action) closes it: it hides, for its owner to destroy. */
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (wizard)));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (wizard), "window.close", NULL));
  for (int i = 0; i < 50 && gtk_widget_get_visible (GTK_WIDGET (wizard)); i++)
    g_main_context_iteration (NULL, FALSE);
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (wizard)));
  gtk_window_destroy (GTK_WINDOW (wizard));
}

static void
test_gpu_changes_pick (void)
{
  g_autoptr(GPtrArray) variants = big_variants ();
  SmeltWizard *wizard = big_wizard (variants, TRUE, -1);
  const SmeltRecommendation *rec = smelt_wizard_get_recommendation (wizard);
  const SmeltAdvice *pick;
  g_autofree char *gpu_pick = NULL;
  int gpu_index;
  gboolean updated = FALSE;

  g_assert_nonnull (rec);
  pick = smelt_recommendation_get_pick (rec);
  g_assert_nonnull (pick);
  g_assert_cmpint (pick->fit, ==, SMELT_FIT_FULL_GPU);
  gpu_pick = g_strdup (pick->name);
  gpu_index = rec->recommended;
  g_assert_cmpint (smelt_wizard_get_selected (wizard), ==, gpu_index);
  g_assert_cmpuint (smelt_wizard_get_hw_profile (wizard)->gpus->len, ==, 1);

  /* "Use the graphics card" off: the advisor plans for the CPU and RAM alone. */
  g_signal_connect (wizard, "updated", G_CALLBACK (on_signal_cb), &updated);
  gtk_switch_set_active (GTK_SWITCH (child (wizard, "use_gpu_switch")), FALSE);
  g_assert_true (updated);
  g_assert_cmpuint (smelt_wizard_get_hw_profile (wizard)->gpus->len, ==, 0);
  rec = smelt_wizard_get_recommendation (wizard);
  pick = smelt_recommendation_get_pick (rec);
  g_assert_nonnull (pick);
  g_assert_cmpint (pick->fit, ==, SMELT_FIT_CPU_ONLY);
  g_assert_cmpstr (pick->name, !=, gpu_pick);
  g_assert_cmpint (rec->recommended, !=, gpu_index);
  /* Nobody picked by hand, so the selection follows the advice. */
  g_assert_cmpint (smelt_wizard_get_selected (wizard), ==, rec->recommended);
  for (guint i = 0; i < rec->advice->len; i++)
    g_assert_cmpint (((SmeltAdvice *) g_ptr_array_index (rec->advice, i))->fit, !=,
                     SMELT_FIT_FULL_GPU);

  /* Back on: the GPU pick returns. */
  smelt_wizard_set_use_gpu (wizard, TRUE);
  pick = smelt_recommendation_get_pick (smelt_wizard_get_recommendation (wizard));
  g_assert_cmpstr (pick->name, ==, gpu_pick);

  /* Planning for 5 GB of RAM without the GPU leaves only the small files. */
  smelt_wizard_set_use_gpu (wizard, FALSE);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (child (wizard, "ram_spin")), 5.0);
  g_assert_cmpuint (smelt_wizard_get_hw_profile (wizard)->memory_available_bytes, ==,
                    5000000000ull);
  pick = smelt_recommendation_get_pick (smelt_wizard_get_recommendation (wizard));
  g_assert_nonnull (pick);
  g_assert_cmpuint (pick->size_bytes, <=, 3200000000ull);

  /* Less VRAM with the GPU on: the Q8_0 no longer fits entirely on it. */
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (child (wizard, "ram_spin")), 30.0);
  smelt_wizard_set_use_gpu (wizard, TRUE);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (child (wizard, "vram_spin")), 6.0);
  g_assert_cmpuint (((SmeltHwGpu *) g_ptr_array_index (
    smelt_wizard_get_hw_profile (wizard)->gpus, 0))->vram_free_bytes, ==, 6000000000ull);
  rec = smelt_wizard_get_recommendation (wizard);
  g_assert_cmpint (((SmeltAdvice *) g_ptr_array_index (
    rec->advice, variant_index (variants, "Q8_0")))->fit, !=, SMELT_FIT_FULL_GPU);

  gtk_window_destroy (GTK_WINDOW (wizard));
}

static void
test_goal_and_context (void)
{
  g_autoptr(GPtrArray) variants = big_variants ();
  SmeltWizard *wizard = big_wizard (variants, FALSE, -1);
  const SmeltRecommendation *rec;
  guint64 kv4;
  const SmeltAdvice *speed, *quality;
  g_autofree char *speed_name = NULL;

  rec = smelt_wizard_get_recommendation (wizard);
  kv4 = rec->kv_bytes;
  smelt_wizard_set_context (wizard, 32768);
  g_assert_true (gtk_check_button_get_active (GTK_CHECK_BUTTON (child (wizard, "ctx32_check"))));
  rec = smelt_wizard_get_recommendation (wizard);
  /* Eight times the tokens, eight times the KV cache. */
  g_assert_cmpuint (rec->kv_bytes, ==, kv4 * 8);

  smelt_wizard_set_context (wizard, 4096);
  smelt_wizard_set_goal (wizard, SMELT_GOAL_SPEED);
  speed = smelt_recommendation_get_pick (smelt_wizard_get_recommendation (wizard));
  g_assert_nonnull (speed);
  speed_name = g_strdup (speed->name);
  gtk_check_button_set_active (GTK_CHECK_BUTTON (child (wizard, "quality_check")), TRUE);
  quality = smelt_recommendation_get_pick (smelt_wizard_get_recommendation (wizard));
  g_assert_nonnull (quality);
  /* Quality picks the more faithful (larger) file. */
  g_assert_cmpuint (quality->size_bytes, >=,
                    ((SmeltHubVariant *) g_ptr_array_index (
                      variants, variant_index (variants, speed_name)))->size_bytes);
  gtk_window_destroy (GTK_WINDOW (wizard));
}

static void
test_rank (void)
{
  g_autoptr(GPtrArray) variants = big_variants ();
  SmeltWizard *wizard = big_wizard (variants, TRUE, -1);
  const SmeltRecommendation *rec = smelt_wizard_get_recommendation (wizard);
  g_autoptr(GArray) order = smelt_wizard_rank (rec);
  gboolean seen_unrecommendable = FALSE;

  g_assert_cmpuint (order->len, ==, variants->len);
  g_assert_cmpint ((int) g_array_index (order, guint, 0), ==, rec->recommended);
  for (guint i = 1; i < order->len; i++)
    {
      const SmeltAdvice *prev = g_ptr_array_index (rec->advice, g_array_index (order, guint, i - 1));
      const SmeltAdvice *a = g_ptr_array_index (rec->advice, g_array_index (order, guint, i));

      if (!a->recommendable)
        seen_unrecommendable = TRUE;
      else
        /* Recommendable ones never come after one that is not. */
        g_assert_false (seen_unrecommendable);
      if (i > 1 && a->recommendable && prev->recommendable)
        g_assert_cmpfloat (prev->score, >=, a->score);
      if (!a->recommendable && !prev->recommendable)
        g_assert_cmpint (prev->fit, <=, a->fit);
      g_assert_cmpuint (a->reasons->len, >, 0);
    }
  /* Every row shows its reasons: one radio row per variant. */
  g_assert_cmpuint (smelt_wizard_get_recommendation (wizard)->advice->len, ==, 6);
  gtk_window_destroy (GTK_WINDOW (wizard));
}

static void
test_free_space (void)
{
  g_autoptr(GPtrArray) variants = big_variants ();
  g_autoptr(GPtrArray) huge_files =
    g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_hub_file_free);
  g_autoptr(GPtrArray) huge = NULL;
  g_autofree char *folder = g_build_filename (tmp, "space", NULL);
  g_autoptr(SmeltDownloadManager) manager = NULL;
  g_autofree char *state = g_build_filename (tmp, "space.json", NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *expect = NULL;
  SmeltWizard *wizard;
  AdwActionRow *after;
  gint64 free_bytes;
  const SmeltHubVariant *v;

  g_assert_cmpint (smelt_wizard_free_after (100, 30), ==, 70);
  g_assert_cmpint (smelt_wizard_free_after (30, 30), ==, 0);
  g_assert_cmpint (smelt_wizard_free_after (10, 30), ==, -20);
  g_assert_cmpint (smelt_wizard_free_after (-1, 30), ==, G_MININT64);
  g_assert_cmpint (smelt_wizard_free_after (G_MAXINT64, G_MAXUINT64), ==, G_MININT64);

  /* A folder not made yet: the free space of the nearest existing parent. */
  wizard = big_wizard (variants, TRUE, variant_index (variants, "Q4_K_M"));
  smelt_wizard_set_destination (wizard, folder);
  g_assert_cmpstr (smelt_wizard_get_destination (wizard), ==, folder);
  wait_free_space (wizard);
  free_bytes = smelt_wizard_get_free_bytes (wizard);
  g_assert_cmpint (free_bytes, >, 0);
  /* The disk space counts in the advice: it is the chosen folder's. */
  g_assert_cmpstr (smelt_wizard_get_hw_profile (wizard)->disk_path, ==, folder);
  g_assert_cmpuint (smelt_wizard_get_hw_profile (wizard)->disk_free_bytes, ==, (guint64) free_bytes);
  v = g_ptr_array_index (variants, smelt_wizard_get_selected (wizard));
  after = ADW_ACTION_ROW (child (wizard, "after_row"));
  if (free_bytes >= (gint64) v->size_bytes)
    {
      g_autofree char *left = g_format_size ((guint64) free_bytes - v->size_bytes);

      g_assert_cmpstr (adw_action_row_get_subtitle (after), ==, left);
    }
  gtk_window_destroy (GTK_WINDOW (wizard));

  /* A file larger than any disk: the last step says how much is missing and refuses. */
  g_ptr_array_add (huge_files, smelt_hub_file_new ("Huge-Q8_0.gguf", G_MAXINT64 / 2, NULL));
  huge = smelt_hub_variants_from_files (huge_files);
  manager = smelt_download_manager_new (state, FALSE, &error);
  g_assert_no_error (error);
  wizard = smelt_wizard_new (NULL, manager, "http://127.0.0.1:9", "org/Huge-GGUF", "main", huge,
                             NULL, NULL, 0);
  smelt_wizard_set_destination (wizard, folder);
  wait_free_space (wizard);
  while (smelt_wizard_next (wizard))
    ;
  after = ADW_ACTION_ROW (child (wizard, "after_row"));
  expect = g_format_size ((guint64) (G_MAXINT64 / 2) - (guint64) smelt_wizard_get_free_bytes (wizard));
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (after), expect));
  g_assert_true (g_str_has_prefix (adw_action_row_get_subtitle (after), "Not enough space"));
  g_assert_true (gtk_widget_has_css_class (GTK_WIDGET (after), "error"));
  g_assert_false (gtk_widget_is_sensitive (child (wizard, "next_button")));
  g_assert_cmpuint (smelt_wizard_download (wizard), ==, 0);
  {
    g_autoptr(GPtrArray) jobs = smelt_download_manager_list (manager);

    g_assert_cmpuint (jobs->len, ==, 0);
  }
  gtk_window_destroy (GTK_WINDOW (wizard));
  smelt_download_manager_shutdown (manager);
  g_remove (state);
}

static void
files_listed_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  GPtrArray **out = user_data;
  g_autoptr(GError) error = NULL;

  *out = smelt_hub_client_list_files_finish (SMELT_HUB_CLIENT (source), result, &error);
  g_assert_no_error (error);
}

static void
on_queued_cb (SmeltWizard *wizard,
              guint        id,
              gboolean     open_chat,
              guint       *out)
{
  (void) wizard;
  g_assert_true (open_chat);
  *out = id;
}

static void
on_finished_cb (SmeltDownloadManager *manager,
                guint                 id,
                guint                *out)
{
  (void) manager;
  *out = id;
}

static void
test_download_split (void)
{
  g_autoptr(SmeltHubClient) client = smelt_hub_client_new ();
  g_autoptr(GPtrArray) files = NULL;
  g_autoptr(GPtrArray) variants = NULL;
  g_autoptr(SmeltDownloadManager) manager = NULL;
  g_autoptr(SmeltHwProfile) hw = profile (FALSE);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSettings) settings = g_settings_new ("io.github.smeltapp.Smelt");
  g_autoptr(SmeltDownloadInfo) info = NULL;
  g_auto(GStrv) folders = NULL;
  g_autofree char *state = g_build_filename (tmp, "downloads.json", NULL);
  g_autofree char *models = g_build_filename (tmp, "models", NULL);
  g_autofree char *part1 = NULL;
  g_autofree char *part2 = NULL;
  g_autofree char *data = NULL;
  gsize len;
  SmeltWizard *wizard;
  const SmeltHubVariant *v;
  guint queued = 0, finished = 0;
  int split;
  gint64 end;

  smelt_hub_client_set_endpoint (client, smelt_fake_hub_get_url (hub));
  smelt_hub_client_list_files_async (client, REPO, NULL, NULL, files_listed_cb, &files);
  while (files == NULL)
    g_main_context_iteration (NULL, TRUE);
  variants = smelt_hub_variants_from_files (files);
  g_assert_cmpuint (variants->len, ==, 2);
  split = variant_index (variants, "Q8_0");
  g_assert_cmpint (split, >=, 0);
  v = g_ptr_array_index (variants, split);
  g_assert_cmpint (v->split, ==, SMELT_HUB_SPLIT_GGUF);

  manager = smelt_download_manager_new (state, FALSE, &error);
  g_assert_no_error (error);
  smelt_download_manager_set_connections (manager, 1);
  wizard = smelt_wizard_new (NULL, manager, smelt_fake_hub_get_url (hub), REPO,
                             smelt_fake_hub_get_commit (hub, REPO), variants, NULL, hw, -1);
  g_signal_connect (wizard, "download-queued", G_CALLBACK (on_queued_cb), &queued);
  gtk_window_present (GTK_WINDOW (wizard));

  /* Through every step as a user would: the advice, then the split file picked by hand. */
  g_assert_true (smelt_wizard_next (wizard));
  g_assert_true (smelt_wizard_next (wizard));
  g_assert_nonnull (smelt_wizard_get_recommendation (wizard));
  g_assert_cmpint (smelt_wizard_get_selected (wizard), ==,
                   smelt_wizard_get_recommendation (wizard)->recommended);
  smelt_wizard_select_variant (wizard, (guint) split);
  g_assert_cmpint (smelt_wizard_get_selected (wizard), ==, split);
  /* Changing the goal now keeps the user's choice. */
  smelt_wizard_set_goal (wizard, SMELT_GOAL_SPEED);
  g_assert_cmpint (smelt_wizard_get_selected (wizard), ==, split);
  g_assert_true (smelt_wizard_next (wizard));
  g_assert_cmpint (smelt_wizard_get_step (wizard), ==, SMELT_WIZARD_STEP_STORE);
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (child (wizard,
                                                                                "file_row"))),
                            "in 2 files"));
  smelt_wizard_set_destination (wizard, models);
  wait_free_space (wizard);
  g_assert_true (gtk_widget_is_sensitive (child (wizard, "next_button")));
  gtk_switch_set_active (GTK_SWITCH (child (wizard, "open_chat_switch")), TRUE);

  /* Download = the header bar's Next on the last step. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (wizard), "wizard.next", NULL));
  g_assert_cmpuint (queued, >, 0);
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (wizard)));
  gtk_window_destroy (GTK_WINDOW (wizard));

  /* The chosen folder joins the models folders, so the Library lists the model. */
  folders = g_settings_get_strv (settings, "models-folders");
  g_assert_true (g_strv_contains ((const char *const *) folders, models));

  info = smelt_download_manager_get_info (manager, queued);
  g_assert_nonnull (info);
  g_assert_cmpstr (info->repo_id, ==, REPO);
  g_assert_cmpstr (info->label, ==, "Q8_0");
  g_assert_cmpuint (info->n_files, ==, 2);
  g_clear_pointer (&info, smelt_download_info_free);

  g_signal_connect (manager, "finished", G_CALLBACK (on_finished_cb), &finished);
  smelt_download_manager_resume (manager, queued);
  end = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  while (finished != queued && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  info = smelt_download_manager_get_info (manager, queued);
  g_assert_cmpint (info->state, ==, SMELT_DOWNLOAD_DONE);
  part1 = g_build_filename (models, "Q8_0", "Tiny-Q8_0-00001-of-00002.gguf", NULL);
  part2 = g_build_filename (models, "Q8_0", "Tiny-Q8_0-00002-of-00002.gguf", NULL);
  g_assert_cmpstr (info->path, ==, part1);
  g_assert_true (g_file_get_contents (part2, &data, &len, NULL));
  g_assert_cmpuint (len, ==, 70000);
  g_assert_true (g_file_test (part1, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpuint (smelt_fake_hub_get_bytes_served (hub, "-00001-of-00002.gguf"), ==, 90000);

  smelt_download_manager_shutdown (manager);
  g_remove (part1);
  g_remove (part2);
  g_remove (state);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GError) error = NULL;
  g_autofree char *cache = NULL;
  int ret;

  gtk_test_init (&argc, &argv, NULL);
  adw_init ();

  tmp = g_dir_make_tmp ("smelt-wizard-XXXXXX", &error);
  g_assert_no_error (error);
  cache = g_build_filename (tmp, "hub", NULL);
  hub = smelt_fake_hub_new ();
  smelt_fake_hub_add_file (hub, REPO, "Tiny-Q4_K_M.gguf", pattern_bytes (50000));
  smelt_fake_hub_add_file (hub, REPO, "Q8_0/Tiny-Q8_0-00001-of-00002.gguf",
                           pattern_bytes (90000));
  smelt_fake_hub_add_file (hub, REPO, "Q8_0/Tiny-Q8_0-00002-of-00002.gguf",
                           pattern_bytes (70000));
  g_assert_true (smelt_fake_hub_start (hub, 0, &error));
  g_setenv ("HF_ENDPOINT", smelt_fake_hub_get_url (hub), TRUE);
  g_unsetenv ("HF_HUB_OFFLINE");
  g_unsetenv ("HF_TOKEN");
  g_setenv ("HF_HUB_CACHE", cache, TRUE);
  g_setenv ("SMELT_MEMORY_BANDWIDTH", "40000000000", TRUE);
  g_setenv ("SMELT_DOWNLOAD_BACKOFF_MS", "10", TRUE);

  g_test_add_func ("/app/wizard/step-flow", test_step_flow);
  g_test_add_func ("/app/wizard/gpu-changes-pick", test_gpu_changes_pick);
  g_test_add_func ("/app/wizard/goal-and-context", test_goal_and_context);
  g_test_add_func ("/app/wizard/rank", test_rank);
  g_test_add_func ("/app/wizard/free-space", test_free_space);
  g_test_add_func ("/app/wizard/download-split", test_download_split);
  ret = g_test_run ();

  smelt_fake_hub_free (hub);
  {
    g_autofree char *space = g_build_filename (tmp, "space", NULL);
    g_autofree char *models = g_build_filename (tmp, "models", NULL);
    g_autofree char *q8 = g_build_filename (tmp, "models", "Q8_0", NULL);

    g_rmdir (q8);
    g_rmdir (models);
    g_rmdir (space);
    g_rmdir (cache);
    g_rmdir (tmp);
  }
  g_free (tmp);
  return ret;
}
