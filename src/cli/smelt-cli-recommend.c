/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-cli-recommend.c: `smelt recommend (REPO | --files LISTING.json) [--hw PROFILE.json]
 * [--goal G] [--ctx N] [--json]`: rates every quant variant of a repo for this machine (or a
 * recorded profile) and names the one to download, with the reasons. REPO is fetched from the Hub
 * (file tree and, for the parameter count, repo info); LISTING.json is a saved tree response.
 */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <stdio.h>

#include "smelt-advisor.h"
#include "smelt-cli-private.h"
#include "smelt-hub-client.h"
#include "smelt-hub-variants.h"

typedef struct
{
  GMainLoop        *loop;
  GPtrArray        *files; /* (element-type SmeltHubFile) */
  SmeltHubRepoInfo *info;
  GError           *error;
  guint             pending;
} FetchState;

static void
on_files_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  FetchState *st = user_data;
  GError *error = NULL;

  st->files = smelt_hub_client_list_files_finish (SMELT_HUB_CLIENT (source), result, &error);
  if (st->files == NULL && st->error == NULL)
    st->error = error;
  else
    g_clear_error (&error);
  if (--st->pending == 0)
    g_main_loop_quit (st->loop);
}

static void
on_repo_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  FetchState *st = user_data;

  /* The repo info only adds the parameter count; without it the advisor estimates from sizes,
   * so its failure (NULL error) is not the command's. */
  st->info = smelt_hub_client_get_repo_finish (SMELT_HUB_CLIENT (source), result, NULL);
  if (--st->pending == 0)
    g_main_loop_quit (st->loop);
}

static GPtrArray *
fetch_repo_files (const char *repo,
                  guint64    *n_params,
                  GError    **error)
{
  g_autoptr(SmeltHubClient) client = smelt_hub_client_new ();
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  FetchState st = { loop, NULL, NULL, NULL, 2 };

  smelt_hub_client_list_files_async (client, repo, NULL, NULL, on_files_cb, &st);
  smelt_hub_client_get_repo_async (client, repo, NULL, NULL, on_repo_cb, &st);
  g_main_loop_run (loop);
  if (st.info != NULL && st.info->gguf_parameters > 0)
    *n_params = (guint64) st.info->gguf_parameters;
  g_clear_pointer (&st.info, smelt_hub_repo_info_free);
  if (st.files == NULL)
    {
      g_propagate_error (error, st.error);
      return NULL;
    }
  return st.files;
}

static const char *
fit_words (SmeltFit fit)
{
  switch (fit)
    {
    case SMELT_FIT_FULL_GPU:
      return _("full GPU");
    case SMELT_FIT_PARTIAL_OFFLOAD:
      return _("partial offload");
    case SMELT_FIT_CPU_ONLY:
      return _("CPU only");
    case SMELT_FIT_TOO_LARGE:
    case SMELT_FIT_COUNT:
    default:
      return _("too large");
    }
}

static void
print_human (const SmeltRecommendation *rec)
{
  const SmeltAdvice *pick = smelt_recommendation_get_pick (rec);

  if (pick != NULL)
    printf (_("Recommended: %s\n"), pick->name);
  else
    printf ("%s\n", _("Nothing in this repo fits this machine."));
  printf ("\n  %-14s %10s  %-16s %8s\n", _("VARIANT"), _("SIZE"), _("FIT"), _("TOK/S"));
  for (guint i = 0; i < rec->advice->len; i++)
    {
      const SmeltAdvice *a = g_ptr_array_index (rec->advice, i);
      g_autofree char *size = g_format_size (a->size_bytes);

      printf ("%s %-14s %10s  %-16s %8.1f\n", a == pick ? "*" : " ", a->name, size,
              fit_words (a->fit), a->tokens_per_second);
    }
  if (pick != NULL)
    {
      printf ("\n%s\n", _("Why:"));
      for (guint k = 0; k < pick->reasons->len; k++)
        printf ("  - %s\n", (const char *) g_ptr_array_index (pick->reasons, k));
    }
}

int
smelt_cli_recommend (int    argc,
                     char **argv)
{
  g_autofree char *files_path = NULL, *hw_path = NULL, *goal_text = NULL, *table_path = NULL;
  gboolean json = FALSE;
  gint64 ctx = 4096, params = 0;
  int layers = 0, kv_heads = 0, head_dim = 0;
  GOptionEntry entries[] = {
    { "files", 0, 0, G_OPTION_ARG_FILENAME, &files_path,
      N_("Read the repo's file listing (the Hub's tree JSON) from FILE"), N_("FILE") },
    { "hw", 0, 0, G_OPTION_ARG_FILENAME, &hw_path,
      N_("Use a hardware profile in `smelt hw --json` form instead of this machine"), N_("FILE") },
    { "goal", 0, 0, G_OPTION_ARG_STRING, &goal_text, N_("speed, balanced (default) or quality"),
      N_("GOAL") },
    { "ctx", 0, 0, G_OPTION_ARG_INT64, &ctx, N_("Context length in tokens (default 4096)"),
      N_("N") },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print the result as JSON"), NULL },
    { "params", 0, 0, G_OPTION_ARG_INT64, &params,
      N_("The model's parameter count, when the repo does not tell"), N_("N") },
    { "layers", 0, 0, G_OPTION_ARG_INT, &layers, N_("The model's layer count"), N_("N") },
    { "kv-heads", 0, 0, G_OPTION_ARG_INT, &kv_heads, N_("The model's KV head count"), N_("N") },
    { "head-dim", 0, 0, G_OPTION_ARG_INT, &head_dim, N_("The model's head dimension"), N_("N") },
    { "table", 0, 0, G_OPTION_ARG_FILENAME, &table_path,
      N_("Use another decision table (default: the built-in one)"), N_("FILE") },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new (_("[REPO]"));
  g_autoptr(SmeltDecisionTable) table = NULL;
  g_autoptr(SmeltHwProfile) hw = NULL;
  g_autoptr(GPtrArray) files = NULL;
  g_autoptr(GPtrArray) variants = NULL;
  g_autoptr(SmeltRecommendation) rec = NULL;
  g_autoptr(GError) error = NULL;
  SmeltGoal goal = SMELT_GOAL_BALANCED;
  SmeltModelInfo model = { 0 };
  guint64 repo_params = 0;

  g_option_context_set_summary (context,
                                _("Recommend the quant file of a repo that suits this machine."));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!smelt_cli_parse (context, &argc, &argv))
    return 2;
  if ((argc == 2) == (files_path != NULL) || argc > 2)
    {
      fprintf (stderr, "smelt: give either a REPO or --files LISTING.json\n");
      return 2;
    }
  if (goal_text != NULL && !smelt_goal_from_string (goal_text, &goal))
    {
      fprintf (stderr, "smelt: unknown goal '%s' (speed, balanced or quality)\n", goal_text);
      return 2;
    }
  if (ctx < 1 || ctx > 16 * 1024 * 1024 || params < 0 || layers < 0 || kv_heads < 0
      || head_dim < 0)
    {
      fprintf (stderr, "smelt: --ctx, --params, --layers, --kv-heads and --head-dim take "
                       "positive numbers\n");
      return 2;
    }

  table = smelt_decision_table_load (table_path, &error);
  if (table == NULL)
    return smelt_cli_fail ("%s", error->message);

  if (hw_path != NULL)
    {
      g_autofree char *text = NULL;
      gsize len = 0;

      if (!g_file_get_contents (hw_path, &text, &len, &error))
        return smelt_cli_fail ("%s", error->message);
      hw = smelt_hw_profile_from_json (text, (gssize) len, &error);
      if (hw == NULL)
        return smelt_cli_fail ("%s: %s", hw_path, error->message);
    }
  else
    {
      hw = smelt_hw_profile_probe (NULL, NULL, &error);
      if (hw == NULL)
        return smelt_cli_fail ("%s", error->message);
    }
  /* A profile says nothing of bandwidth unless it was written with it: this machine's measured
   * (and cached) figure stands in. */
  if (hw->memory_bandwidth_bytes_per_second <= 0)
    hw->memory_bandwidth_bytes_per_second = smelt_hw_memory_bandwidth ();

  if (files_path != NULL)
    {
      g_autofree char *text = NULL;
      gsize len = 0;

      if (!g_file_get_contents (files_path, &text, &len, &error))
        return smelt_cli_fail ("%s", error->message);
      files = smelt_hub_files_from_tree_json (text, (gssize) len, &error);
      if (files == NULL)
        return smelt_cli_fail ("%s: %s", files_path, error->message);
    }
  else
    {
      files = fetch_repo_files (argv[1], &repo_params, &error);
      if (files == NULL)
        return smelt_cli_fail ("%s: %s", argv[1], error->message);
    }
  variants = smelt_hub_variants_from_files (files);
  if (variants->len == 0)
    return smelt_cli_fail ("no GGUF model files in %s", files_path != NULL ? files_path : argv[1]);

  model.n_params = params > 0 ? (guint64) params : repo_params;
  model.n_layers = (guint) layers;
  model.n_kv_heads = (guint) kv_heads;
  model.head_dim = (guint) head_dim;
  rec = smelt_advisor_recommend (table, variants, hw, goal, (guint) ctx, &model);

  if (json)
    {
      g_autoptr(JsonNode) node = smelt_recommendation_to_json (rec);
      g_autofree char *text = json_to_string (node, TRUE);

      printf ("%s\n", text);
    }
  else
    print_human (rec);
  return 0;
}
