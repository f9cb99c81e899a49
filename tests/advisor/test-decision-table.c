/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-decision-table.c: data/decision-table.json as built into the binary: it loads from the
 * GResource and equals the file in the source tree, every English text is in the generated N_()
 * header for xgettext (and nothing stale is), lookups and headroom, the file override (argument
 * and SMELT_DECISION_TABLE), that editing a rule in the data changes a recommendation, and that
 * broken tables are refused with a message naming the place.
 */
#include "config.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "smelt-advisor.h"
#include "smelt-decision-table.h"
#include "smelt-decision-table-strings.h"

static char *tmp_dir;

static char *
source_table_text (void)
{
  g_autofree char *path = g_build_filename (g_getenv ("SMELT_SOURCE_DIR"), "data",
                                            "decision-table.json", NULL);
  char *text = NULL;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  return text;
}

static void
test_resource (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = g_resources_lookup_data (SMELT_DECISION_TABLE_RESOURCE, 0, &error);
  g_autofree char *text = source_table_text ();
  g_autoptr(SmeltDecisionTable) t = NULL;

  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (bytes), ==, strlen (text));
  g_assert_cmpint (memcmp (g_bytes_get_data (bytes, NULL), text, strlen (text)), ==, 0);
  t = smelt_decision_table_load (NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (t->formats->len, >=, 30);
  g_assert_cmpuint (t->rules->len, >=, 8);
}

static void
test_strings_header (void)
{
  g_autoptr(SmeltDecisionTable) t = smelt_decision_table_load (NULL, NULL);
  g_autoptr(GHashTable) header = g_hash_table_new (g_str_hash, g_str_equal);
  guint n_texts = 0;

  for (gsize i = 0; i < G_N_ELEMENTS (smelt_decision_table_strings); i++)
    g_hash_table_add (header, (gpointer) smelt_decision_table_strings[i]);
  for (guint i = 0; i < t->formats->len; i++)
    {
      const SmeltFormatRow *r = g_ptr_array_index (t->formats, i);
      const char *texts[] = { r->precision, r->memory, r->devices, r->best_use };

      for (gsize k = 0; k < G_N_ELEMENTS (texts); k++, n_texts++)
        if (!g_hash_table_contains (header, texts[k]))
          g_error ("'%s' is not in smelt-decision-table-strings.h: run "
                   "build-aux/decision-table-strings.py", texts[k]);
    }
  for (guint i = 0; i < t->rules->len; i++, n_texts++)
    {
      const SmeltRule *r = g_ptr_array_index (t->rules, i);

      if (!g_hash_table_contains (header, r->reason))
        g_error ("rule %s's reason is not in smelt-decision-table-strings.h", r->id);
    }
  /* Same count: the header holds nothing the table dropped. */
  g_assert_cmpuint (G_N_ELEMENTS (smelt_decision_table_strings), ==, n_texts);
}

static void
test_lookup_and_headroom (void)
{
  g_autoptr(SmeltDecisionTable) t = smelt_decision_table_load (NULL, NULL);
  const char *labels[] = { "BF16", "F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_K_S", "Q4_0",
                           "IQ4_XS", "IQ4_NL", "Q3_K_L", "Q3_K_M", "Q3_K_S", "IQ3_XS", "IQ3_M",
                           "Q2_K", "IQ2_M", "IQ2_S", "BF16-Q8_0", "F16-Q8_0", "Q6_K_L", "Q5_K_L",
                           "Q4_K_L", "Q3_K_XL", "Q2_K_L" };

  for (gsize i = 0; i < G_N_ELEMENTS (labels); i++)
    g_assert_nonnull (smelt_decision_table_lookup (t, labels[i]));
  g_assert_true (smelt_decision_table_lookup (t, "Q4_K")
                 == smelt_decision_table_lookup (t, "Q4_K_M"));
  g_assert_true (smelt_decision_table_lookup (t, "bf16-q8_0")
                 == smelt_decision_table_lookup (t, "BF16-Q8_0"));
  g_assert_null (smelt_decision_table_lookup (t, "Q7_Z"));
  g_assert_cmpstr (smelt_decision_table_lookup (t, "BF16")->requires, ==, "bf16");
  g_assert_cmpuint (smelt_decision_table_headroom (t, 4000000000), ==, 1000000000);
  g_assert_cmpuint (smelt_decision_table_headroom (t, 16000000000), ==, 1600000000);
  g_assert_cmpuint (smelt_decision_table_headroom (t, 80000000000), ==, 2000000000);
}

/* Edits the source table through a callback and writes it to a file; returns the path. */
typedef void (*EditFunc) (JsonObject *top);

static char *
edited_table (const char *name,
              EditFunc    edit)
{
  g_autofree char *text = source_table_text ();
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  char *path = g_build_filename (tmp_dir, name, NULL);

  g_assert_true (json_parser_load_from_data (parser, text, -1, &error));
  if (edit != NULL)
    edit (json_node_get_object (json_parser_get_root (parser)));
  out = json_to_string (json_parser_get_root (parser), FALSE);
  g_file_set_contents (path, out, -1, &error);
  g_assert_no_error (error);
  return path;
}

static void
drop_arm_rule (JsonObject *top)
{
  JsonArray *rules = json_object_get_array_member (top, "rules");

  for (guint i = 0; i < json_array_get_length (rules); i++)
    if (g_str_equal (json_object_get_string_member (json_array_get_object_element (rules, i),
                                                    "id"), "q4_0-on-arm"))
      {
        json_array_remove_element (rules, i);
        return;
      }
  g_assert_not_reached ();
}

static SmeltHwProfile *
pi5 (void)
{
  g_autoptr(GError) error = NULL;
  SmeltHwProfile *p = smelt_hw_profile_from_json (
    "{\"cpu\":{\"arch\":\"aarch64\",\"model\":\"ARM Cortex-A76\",\"cores\":4,\"threads\":4,"
    "\"features\":[\"neon\",\"asimdhp\",\"asimddp\"]},\"memory\":{\"total_bytes\":8400000000,"
    "\"available_bytes\":7500000000,\"bandwidth_bytes_per_second\":17000000000}}", -1, &error);

  g_assert_no_error (error);
  return p;
}

static GPtrArray *
mungert (void)
{
  g_autofree char *path = g_build_filename (g_getenv ("SMELT_SOURCE_DIR"), "tests", "fixtures",
                                            "listings", "mungert-8b.json", NULL);
  g_autofree char *text = NULL;
  g_autoptr(GPtrArray) files = NULL;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  files = smelt_hub_files_from_tree_json (text, -1, NULL);
  g_assert_nonnull (files);
  return smelt_hub_variants_from_files (files);
}

/* The ARM preference is a row of data: without it the Pi gets the K-quant. Loaded both through
 * the explicit path and through SMELT_DECISION_TABLE. */
static void
test_rules_are_data (void)
{
  g_autofree char *path = edited_table ("no-arm-rule.json", drop_arm_rule);
  g_autoptr(SmeltDecisionTable) builtin = smelt_decision_table_load (NULL, NULL);
  g_autoptr(SmeltDecisionTable) edited = NULL;
  g_autoptr(SmeltDecisionTable) from_env = NULL;
  g_autoptr(SmeltHwProfile) hw = pi5 ();
  g_autoptr(GPtrArray) variants = mungert ();
  g_autoptr(SmeltRecommendation) a = NULL;
  g_autoptr(SmeltRecommendation) b = NULL;
  g_autoptr(GError) error = NULL;

  edited = smelt_decision_table_load (path, &error);
  g_assert_no_error (error);
  a = smelt_advisor_recommend (builtin, variants, hw, SMELT_GOAL_BALANCED, 4096, NULL);
  b = smelt_advisor_recommend (edited, variants, hw, SMELT_GOAL_BALANCED, 4096, NULL);
  g_assert_cmpstr (smelt_recommendation_get_pick (a)->name, ==, "q4_0");
  g_assert_cmpstr (smelt_recommendation_get_pick (b)->name, ==, "q4_k");

  g_setenv ("SMELT_DECISION_TABLE", path, TRUE);
  from_env = smelt_decision_table_load (NULL, &error);
  g_unsetenv ("SMELT_DECISION_TABLE");
  g_assert_no_error (error);
  g_assert_cmpuint (from_env->rules->len, ==, builtin->rules->len - 1);
}

static void break_version (JsonObject *top) { json_object_set_int_member (top, "version", 2); }
static void drop_formats (JsonObject *top) { json_object_remove_member (top, "formats"); }

static void
duplicate_label (JsonObject *top)
{
  JsonArray *f = json_object_get_array_member (top, "formats");

  json_object_set_string_member (json_array_get_object_element (f, 1), "name", "BF16");
}

static void
bad_fit (JsonObject *top)
{
  JsonObject *r = json_array_get_object_element (json_object_get_array_member (top, "rules"), 2);
  JsonArray *fits = json_array_new ();

  json_array_add_string_element (fits, "on_the_moon");
  json_object_set_array_member (json_object_get_object_member (r, "when"), "fit", fits);
}

static void
tiers_miss_cpu (JsonObject *top)
{
  JsonObject *speed = json_object_get_object_member (json_object_get_object_member (top, "goals"),
                                                     "speed");
  JsonArray *tiers = json_object_get_array_member (speed, "tiers");

  json_array_remove_element (tiers, 2);
}

static void
bad_requires (JsonObject *top)
{
  JsonArray *f = json_object_get_array_member (top, "formats");

  json_object_set_string_member (json_array_get_object_element (f, 0), "requires", "fp8");
}

static void
shapes_unsorted (JsonObject *top)
{
  JsonArray *s = json_object_get_array_member (top, "model_shapes");

  json_object_set_double_member (json_array_get_object_element (s, 1), "params_up_to", 1e9);
}

static void
quality_out_of_range (JsonObject *top)
{
  JsonArray *f = json_object_get_array_member (top, "formats");

  json_object_set_int_member (json_array_get_object_element (f, 3), "quality", 140);
}

static void
test_invalid (void)
{
  const struct { const char *name; EditFunc edit; const char *needle; } cases[] = {
    { "version.json", break_version, "version" },
    { "formats.json", drop_formats, "formats" },
    { "dup.json", duplicate_label, "'BF16' appears twice" },
    { "fit.json", bad_fit, "on_the_moon" },
    { "tiers.json", tiers_miss_cpu, "goals.speed" },
    { "requires.json", bad_requires, "formats[0]" },
    { "shapes.json", shapes_unsorted, "model_shapes[1]" },
    { "quality.json", quality_out_of_range, "formats[3].quality" },
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(SmeltDecisionTable) none = NULL;

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = edited_table (cases[i].name, cases[i].edit);
      g_autoptr(GError) err = NULL;
      g_autoptr(SmeltDecisionTable) t = smelt_decision_table_load (path, &err);

      g_assert_null (t);
      g_assert_error (err, SMELT_DECISION_TABLE_ERROR, SMELT_DECISION_TABLE_ERROR_INVALID);
      if (strstr (err->message, cases[i].needle) == NULL)
        g_error ("%s: '%s' lacks '%s'", cases[i].name, err->message, cases[i].needle);
    }
  none = smelt_decision_table_load ("/nonexistent/table.json", &error);
  g_assert_null (none);
  g_assert_error (error, SMELT_DECISION_TABLE_ERROR, SMELT_DECISION_TABLE_ERROR_LOAD);
  g_clear_error (&error);
  g_assert_null (smelt_decision_table_new_from_data ("{\"version\":1", -1, &error));
  g_assert_error (error, SMELT_DECISION_TABLE_ERROR, SMELT_DECISION_TABLE_ERROR_INVALID);
}

int
main (int    argc,
      char **argv)
{
  int status;

  g_unsetenv ("SMELT_DECISION_TABLE");
  tmp_dir = g_dir_make_tmp ("smelt-test-table-XXXXXX", NULL);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/decision-table/resource", test_resource);
  g_test_add_func ("/decision-table/strings-header", test_strings_header);
  g_test_add_func ("/decision-table/lookup-and-headroom", test_lookup_and_headroom);
  g_test_add_func ("/decision-table/rules-are-data", test_rules_are_data);
  g_test_add_func ("/decision-table/invalid", test_invalid);
  status = g_test_run ();
  {
    g_autoptr(GDir) dir = g_dir_open (tmp_dir, 0, NULL);
    const char *name;

    while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
      {
        g_autofree char *p = g_build_filename (tmp_dir, name, NULL);

        g_remove (p);
      }
    g_rmdir (tmp_dir);
  }
  g_free (tmp_dir);
  return status;
}
