/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-decision-table.c: loads and validates data/decision-table.json (see
 * smelt-decision-table.h). Only reading and checking lives here; what the rules mean is applied in
 * smelt-advisor.c.
 */
#include "config.h"

#include "smelt-decision-table.h"

#include <glib/gi18n-lib.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_DEFINE_QUARK (smelt-decision-table-error-quark, smelt_decision_table_error)

static const char *const fit_names[SMELT_FIT_COUNT] = {
  "full_gpu", "partial_offload", "cpu_only", "too_large",
};

static const char *const goal_names[SMELT_GOAL_COUNT] = {
  "speed", "balanced", "quality",
};

const char *
smelt_fit_to_string (SmeltFit fit)
{
  g_return_val_if_fail (fit < SMELT_FIT_COUNT, NULL);
  return fit_names[fit];
}

gboolean
smelt_fit_from_string (const char *text,
                       SmeltFit   *fit)
{
  for (guint i = 0; i < SMELT_FIT_COUNT; i++)
    if (g_strcmp0 (text, fit_names[i]) == 0)
      {
        *fit = i;
        return TRUE;
      }
  return FALSE;
}

const char *
smelt_goal_to_string (SmeltGoal goal)
{
  g_return_val_if_fail (goal < SMELT_GOAL_COUNT, NULL);
  return goal_names[goal];
}

gboolean
smelt_goal_from_string (const char *text,
                        SmeltGoal  *goal)
{
  for (guint i = 0; i < SMELT_GOAL_COUNT; i++)
    if (g_strcmp0 (text, goal_names[i]) == 0)
      {
        *goal = i;
        return TRUE;
      }
  return FALSE;
}

const char *
smelt_decision_table_text (const char *english)
{
  if (english == NULL || english[0] == '\0')
    return english;
  return g_dgettext (GETTEXT_PACKAGE, english);
}

static void
format_row_free (SmeltFormatRow *row)
{
  g_free (row->name);
  g_strfreev (row->aliases);
  g_free (row->kind);
  g_free (row->requires);
  g_free (row->precision);
  g_free (row->memory);
  g_free (row->devices);
  g_free (row->best_use);
  g_free (row);
}

static void
rule_free (SmeltRule *rule)
{
  g_free (rule->id);
  g_strfreev (rule->archs);
  g_strfreev (rule->gpu_vendors);
  g_free (rule->device_has);
  g_free (rule->device_lacks);
  g_strfreev (rule->bonus.patterns);
  g_free (rule->bonus.points);
  g_free (rule->reason);
  g_free (rule);
}

void
smelt_decision_table_free (SmeltDecisionTable *table)
{
  if (table == NULL)
    return;
  g_clear_pointer (&table->formats, g_ptr_array_unref);
  g_clear_pointer (&table->rules, g_ptr_array_unref);
  g_strfreev (table->cpu_bf16_features);
  g_strfreev (table->cpu_fp16_features);
  g_clear_pointer (&table->gpu_bandwidth, g_array_unref);
  g_clear_pointer (&table->model_shapes, g_array_unref);
  g_free (table);
}

/* ---- typed JSON access; every failure names the place ---------------------------------------- */

static gboolean
invalid (GError    **error,
         const char *where,
         const char *what)
{
  g_set_error (error, SMELT_DECISION_TABLE_ERROR, SMELT_DECISION_TABLE_ERROR_INVALID,
               "decision table: %s %s", where, what);
  return FALSE;
}

static gboolean
get_string (JsonObject *o,
            const char *where,
            const char *key,
            gboolean    required,
            char      **out,
            GError    **error)
{
  JsonNode *n = json_object_get_member (o, key);

  *out = NULL;
  if (n == NULL && !required)
    return TRUE;
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING
      || json_node_get_string (n)[0] == '\0')
    {
      g_autofree char *w = g_strdup_printf ("%s.%s", where, key);

      return invalid (error, w, "must be a non-empty string");
    }
  *out = g_strdup (json_node_get_string (n));
  return TRUE;
}

static gboolean
get_number (JsonObject *o,
            const char *where,
            const char *key,
            gboolean    required,
            double      min,
            double      max,
            double     *out,
            GError    **error)
{
  JsonNode *n = json_object_get_member (o, key);
  g_autofree char *w = g_strdup_printf ("%s.%s", where, key);
  double v;

  if (n == NULL)
    return required ? invalid (error, w, "is missing") : TRUE;
  if (!JSON_NODE_HOLDS_VALUE (n))
    return invalid (error, w, "must be a number");
  if (json_node_get_value_type (n) == G_TYPE_INT64)
    v = (double) json_node_get_int (n);
  else if (json_node_get_value_type (n) == G_TYPE_DOUBLE)
    v = json_node_get_double (n);
  else
    return invalid (error, w, "must be a number");
  if (!(v >= min && v <= max))
    return invalid (error, w, "is out of range");
  *out = v;
  return TRUE;
}

static gboolean
get_strv (JsonObject *o,
          const char *where,
          const char *key,
          char     ***out,
          GError    **error)
{
  JsonNode *n = json_object_get_member (o, key);
  g_autofree char *w = g_strdup_printf ("%s.%s", where, key);
  g_autoptr(GStrvBuilder) b = NULL;
  JsonArray *a;

  *out = NULL;
  if (n == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (n))
    return invalid (error, w, "must be an array of strings");
  a = json_node_get_array (n);
  b = g_strv_builder_new ();
  for (guint i = 0; i < json_array_get_length (a); i++)
    {
      JsonNode *e = json_array_get_element (a, i);

      if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_STRING)
        return invalid (error, w, "must be an array of strings");
      g_strv_builder_add (b, json_node_get_string (e));
    }
  *out = g_strv_builder_end (b);
  return TRUE;
}

static gboolean
names_to_bits (char       **names,
               const char  *const *known,
               guint        n_known,
               const char  *where,
               guint       *bits,
               GError     **error)
{
  *bits = 0;
  for (guint i = 0; names != NULL && names[i] != NULL; i++)
    {
      guint j;

      for (j = 0; j < n_known; j++)
        if (g_str_equal (names[i], known[j]))
          break;
      if (j == n_known)
        {
          g_autofree char *what = g_strdup_printf ("names an unknown value '%s'", names[i]);

          return invalid (error, where, what);
        }
      *bits |= 1u << j;
    }
  return TRUE;
}

/* ---- sections -------------------------------------------------------------------------------- */

static gboolean
parse_format (JsonNode            *node,
              guint                index,
              SmeltDecisionTable  *table,
              GError             **error)
{
  g_autofree char *where = g_strdup_printf ("formats[%u]", index);
  SmeltFormatRow *row;
  JsonObject *o;
  double v = 0;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    return invalid (error, where, "must be an object");
  o = json_node_get_object (node);
  row = g_new0 (SmeltFormatRow, 1);
  g_ptr_array_add (table->formats, row);
  if (!get_string (o, where, "name", TRUE, &row->name, error)
      || !get_strv (o, where, "aliases", &row->aliases, error)
      || !get_number (o, where, "bits_per_weight", TRUE, 0.5, 64, &row->bits_per_weight, error)
      || !get_number (o, where, "quality", TRUE, 0, 100, &v, error)
      || !get_string (o, where, "kind", TRUE, &row->kind, error)
      || !get_string (o, where, "requires", FALSE, &row->requires, error)
      || !get_string (o, where, "precision", TRUE, &row->precision, error)
      || !get_string (o, where, "memory", TRUE, &row->memory, error)
      || !get_string (o, where, "devices", TRUE, &row->devices, error)
      || !get_string (o, where, "best_use", TRUE, &row->best_use, error))
    return FALSE;
  row->quality = (int) v;
  if (row->requires != NULL && !g_str_equal (row->requires, "bf16")
      && !g_str_equal (row->requires, "fp16"))
    return invalid (error, where, "requires must be \"bf16\" or \"fp16\"");
  return TRUE;
}

static gboolean
parse_rule (JsonNode            *node,
            guint                index,
            SmeltDecisionTable  *table,
            GError             **error)
{
  g_autofree char *where = g_strdup_printf ("rules[%u]", index);
  g_auto(GStrv) goals = NULL, fits = NULL;
  JsonObject *o, *when = NULL;
  JsonNode *n;
  SmeltRule *rule;
  double v;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    return invalid (error, where, "must be an object");
  o = json_node_get_object (node);
  rule = g_new0 (SmeltRule, 1);
  g_ptr_array_add (table->rules, rule);
  if (!get_string (o, where, "id", TRUE, &rule->id, error)
      || !get_string (o, where, "reason", TRUE, &rule->reason, error))
    return FALSE;

  n = json_object_get_member (o, "when");
  if (n != NULL)
    {
      if (!JSON_NODE_HOLDS_OBJECT (n))
        return invalid (error, where, "when must be an object");
      when = json_node_get_object (n);
    }
  if (when != NULL)
    {
      g_autofree char *w = g_strdup_printf ("%s.when", where);

      v = 0;
      if (!get_strv (when, w, "goal", &goals, error)
          || !names_to_bits (goals, goal_names, SMELT_GOAL_COUNT, w, &rule->goals, error)
          || !get_strv (when, w, "fit", &fits, error)
          || !names_to_bits (fits, fit_names, SMELT_FIT_COUNT, w, &rule->fits, error)
          || !get_strv (when, w, "arch", &rule->archs, error)
          || !get_strv (when, w, "gpu_vendor", &rule->gpu_vendors, error)
          || !get_string (when, w, "device_has", FALSE, &rule->device_has, error)
          || !get_string (when, w, "device_lacks", FALSE, &rule->device_lacks, error)
          || !get_number (when, w, "memory_at_least_bytes", FALSE, 0, 1e18, &v, error))
        return FALSE;
      rule->memory_at_least_bytes = (guint64) v;
      v = 0;
      if (!get_number (when, w, "memory_below_bytes", FALSE, 0, 1e18, &v, error))
        return FALSE;
      rule->memory_below_bytes = (guint64) v;
    }

  n = json_object_get_member (o, "bonus");
  if (n != NULL)
    {
      JsonObject *b;
      GList *members, *l;
      guint i = 0;

      if (!JSON_NODE_HOLDS_OBJECT (n))
        return invalid (error, where, "bonus must be an object");
      b = json_node_get_object (n);
      members = json_object_get_members (b);
      rule->bonus.n = g_list_length (members);
      rule->bonus.patterns = g_new0 (char *, rule->bonus.n + 1);
      rule->bonus.points = g_new0 (double, rule->bonus.n);
      for (l = members; l != NULL; l = l->next, i++)
        {
          g_autofree char *w = g_strdup_printf ("%s.bonus", where);

          rule->bonus.patterns[i] = g_strdup (l->data);
          if (!get_number (b, w, l->data, TRUE, -100, 100, &rule->bonus.points[i], error))
            {
              g_list_free (members);
              return FALSE;
            }
        }
      g_list_free (members);
    }
  if (!get_number (o, where, "max_bits_per_weight", FALSE, 0, 64, &rule->max_bits_per_weight,
                   error))
    return FALSE;
  return TRUE;
}

static gboolean
parse_goal (JsonObject          *goals,
            SmeltGoal            goal,
            SmeltDecisionTable  *table,
            GError             **error)
{
  g_autofree char *where = g_strdup_printf ("goals.%s", goal_names[goal]);
  SmeltGoalPolicy *pol = &table->goals[goal];
  JsonNode *n = json_object_get_member (goals, goal_names[goal]);
  JsonObject *o;
  JsonArray *tiers;
  guint covered = 0;
  double v = 0;

  if (n == NULL || !JSON_NODE_HOLDS_OBJECT (n))
    return invalid (error, where, "must be an object");
  o = json_node_get_object (n);
  n = json_object_get_member (o, "tiers");
  if (n == NULL || !JSON_NODE_HOLDS_ARRAY (n))
    return invalid (error, where, "needs a tiers array");
  tiers = json_node_get_array (n);
  if (json_array_get_length (tiers) == 0 || json_array_get_length (tiers) > SMELT_FIT_COUNT)
    return invalid (error, where, "needs 1 to 4 tiers");
  for (guint i = 0; i < json_array_get_length (tiers); i++)
    {
      JsonNode *t = json_array_get_element (tiers, i);
      g_autofree char *w = g_strdup_printf ("%s.tiers[%u]", where, i);
      g_autoptr(GStrvBuilder) b = g_strv_builder_new ();
      g_auto(GStrv) names = NULL;
      JsonArray *ta;

      if (!JSON_NODE_HOLDS_ARRAY (t))
        return invalid (error, w, "must be an array of fits");
      ta = json_node_get_array (t);
      for (guint j = 0; j < json_array_get_length (ta); j++)
        {
          JsonNode *e = json_array_get_element (ta, j);

          if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_STRING)
            return invalid (error, w, "must be an array of fits");
          g_strv_builder_add (b, json_node_get_string (e));
        }
      names = g_strv_builder_end (b);
      if (!names_to_bits (names, fit_names, SMELT_FIT_COUNT, w, &pol->tiers[i], error))
        return FALSE;
      if (pol->tiers[i] & (1u << SMELT_FIT_TOO_LARGE))
        return invalid (error, w, "cannot hold too_large");
      covered |= pol->tiers[i];
    }
  pol->n_tiers = json_array_get_length (tiers);
  if (covered != ((1u << SMELT_FIT_FULL_GPU) | (1u << SMELT_FIT_PARTIAL_OFFLOAD)
                  | (1u << SMELT_FIT_CPU_ONLY)))
    return invalid (error, where, "tiers must cover full_gpu, partial_offload and cpu_only");
  if (!get_number (o, where, "tier_min_quality", FALSE, 0, 100, &v, error))
    return FALSE;
  pol->tier_min_quality = (int) v;
  return TRUE;
}

static gboolean
parse_ladder (JsonObject  *top,
              const char  *key,
              gboolean     shapes,
              GArray      *out,
              GError     **error)
{
  JsonNode *n = json_object_get_member (top, key);
  JsonArray *a;
  double last = -1;

  if (n == NULL || !JSON_NODE_HOLDS_ARRAY (n)
      || json_array_get_length (json_node_get_array (n)) == 0)
    return invalid (error, key, "must be a non-empty array");
  a = json_node_get_array (n);
  for (guint i = 0; i < json_array_get_length (a); i++)
    {
      JsonNode *e = json_array_get_element (a, i);
      g_autofree char *w = g_strdup_printf ("%s[%u]", key, i);
      JsonObject *o;

      if (!JSON_NODE_HOLDS_OBJECT (e))
        return invalid (error, w, "must be an object");
      o = json_node_get_object (e);
      if (shapes)
        {
          SmeltModelShapeRow r = { 0 };
          double layers = 0, kv = 0, hd = 0;

          if (!get_number (o, w, "params_up_to", TRUE, 1, 1e16, &r.params_up_to, error)
              || !get_number (o, w, "layers", TRUE, 1, 1000, &layers, error)
              || !get_number (o, w, "kv_heads", TRUE, 1, 1024, &kv, error)
              || !get_number (o, w, "head_dim", TRUE, 1, 4096, &hd, error))
            return FALSE;
          if (r.params_up_to <= last)
            return invalid (error, w, "must come in ascending order");
          last = r.params_up_to;
          r.layers = (guint) layers;
          r.kv_heads = (guint) kv;
          r.head_dim = (guint) hd;
          g_array_append_val (out, r);
        }
      else
        {
          SmeltBandwidthEstimate r = { 0 };

          if (!get_number (o, w, "vram_at_least", TRUE, 0, 1e16, &r.vram_at_least, error)
              || !get_number (o, w, "bytes_per_second", TRUE, 1e6, 1e16, &r.bytes_per_second,
                              error))
            return FALSE;
          if (r.vram_at_least <= last)
            return invalid (error, w, "must come in ascending order");
          last = r.vram_at_least;
          g_array_append_val (out, r);
        }
    }
  return TRUE;
}

SmeltDecisionTable *
smelt_decision_table_new_from_data (const char *data,
                                    gssize      length,
                                    GError    **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(SmeltDecisionTable) t = g_new0 (SmeltDecisionTable, 1);
  g_autoptr(GError) local = NULL;
  JsonObject *top, *o;
  JsonNode *n;
  JsonArray *a;
  double v;

  g_return_val_if_fail (data != NULL, NULL);

  t->formats = g_ptr_array_new_with_free_func ((GDestroyNotify) format_row_free);
  t->rules = g_ptr_array_new_with_free_func ((GDestroyNotify) rule_free);
  t->gpu_bandwidth = g_array_new (FALSE, TRUE, sizeof (SmeltBandwidthEstimate));
  t->model_shapes = g_array_new (FALSE, TRUE, sizeof (SmeltModelShapeRow));

  if (!json_parser_load_from_data (parser, data, length, &local))
    {
      g_set_error (error, SMELT_DECISION_TABLE_ERROR, SMELT_DECISION_TABLE_ERROR_INVALID,
                   "decision table: not JSON: %s", local->message);
      return NULL;
    }
  n = json_parser_get_root (parser);
  if (n == NULL || !JSON_NODE_HOLDS_OBJECT (n))
    return invalid (error, "the top", "must be an object"), NULL;
  top = json_node_get_object (n);

  v = 0;
  if (!get_number (top, "table", "version", TRUE, 1, 1, &v, error))
    return NULL;

  n = json_object_get_member (top, "headroom");
  if (n == NULL || !JSON_NODE_HOLDS_OBJECT (n))
    return invalid (error, "headroom", "must be an object"), NULL;
  o = json_node_get_object (n);
  {
    double min = 0, max = 0;

    if (!get_number (o, "headroom", "min_bytes", TRUE, 0, 1e13, &min, error)
        || !get_number (o, "headroom", "max_bytes", TRUE, 0, 1e13, &max, error)
        || !get_number (o, "headroom", "fraction", TRUE, 0, 0.9, &t->headroom_fraction, error))
      return NULL;
    if (max < min)
      return invalid (error, "headroom", "max_bytes is below min_bytes"), NULL;
    t->headroom_min_bytes = (guint64) min;
    t->headroom_max_bytes = (guint64) max;
  }
  v = 0;
  if (!get_number (top, "table", "partial_offload_min_gpu_bytes", TRUE, 0, 1e13, &v, error))
    return NULL;
  t->partial_offload_min_gpu_bytes = (guint64) v;
  if (!get_number (top, "table", "bandwidth_efficiency", TRUE, 0.05, 1, &t->bandwidth_efficiency,
                   error))
    return NULL;

  n = json_object_get_member (top, "cpu_capabilities");
  if (n == NULL || !JSON_NODE_HOLDS_OBJECT (n))
    return invalid (error, "cpu_capabilities", "must be an object"), NULL;
  o = json_node_get_object (n);
  if (!get_strv (o, "cpu_capabilities", "bf16", &t->cpu_bf16_features, error)
      || !get_strv (o, "cpu_capabilities", "fp16", &t->cpu_fp16_features, error))
    return NULL;

  if (!parse_ladder (top, "gpu_bandwidth_estimates", FALSE, t->gpu_bandwidth, error)
      || !parse_ladder (top, "model_shapes", TRUE, t->model_shapes, error))
    return NULL;

  n = json_object_get_member (top, "goals");
  if (n == NULL || !JSON_NODE_HOLDS_OBJECT (n))
    return invalid (error, "goals", "must be an object"), NULL;
  for (guint g = 0; g < SMELT_GOAL_COUNT; g++)
    if (!parse_goal (json_node_get_object (n), g, t, error))
      return NULL;

  n = json_object_get_member (top, "formats");
  if (n == NULL || !JSON_NODE_HOLDS_ARRAY (n))
    return invalid (error, "formats", "must be an array"), NULL;
  a = json_node_get_array (n);
  for (guint i = 0; i < json_array_get_length (a); i++)
    if (!parse_format (json_array_get_element (a, i), i, t, error))
      return NULL;
  if (t->formats->len == 0)
    return invalid (error, "formats", "is empty"), NULL;
  /* A label must name one row: a duplicate would make lookups depend on the order. */
  for (guint i = 0; i < t->formats->len; i++)
    {
      const SmeltFormatRow *row = g_ptr_array_index (t->formats, i);
      const char *labels[16];
      guint nl = 0;

      labels[nl++] = row->name;
      for (guint k = 0; row->aliases != NULL && row->aliases[k] != NULL && nl < 16; k++)
        labels[nl++] = row->aliases[k];
      for (guint k = 0; k < nl; k++)
        {
          const SmeltFormatRow *found = smelt_decision_table_lookup (t, labels[k]);

          if (found != row)
            {
              g_autofree char *what = g_strdup_printf ("label '%s' appears twice", labels[k]);

              return invalid (error, "formats", what), NULL;
            }
        }
    }

  n = json_object_get_member (top, "rules");
  if (n == NULL || !JSON_NODE_HOLDS_ARRAY (n))
    return invalid (error, "rules", "must be an array"), NULL;
  a = json_node_get_array (n);
  for (guint i = 0; i < json_array_get_length (a); i++)
    if (!parse_rule (json_array_get_element (a, i), i, t, error))
      return NULL;

  return g_steal_pointer (&t);
}

SmeltDecisionTable *
smelt_decision_table_load (const char *path,
                           GError    **error)
{
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) local = NULL;
  const char *env = g_getenv ("SMELT_DECISION_TABLE");
  gconstpointer data;
  gsize size;

  if (path == NULL && env != NULL && env[0] != '\0')
    path = env;
  if (path != NULL)
    {
      char *contents = NULL;
      gsize len = 0;

      if (!g_file_get_contents (path, &contents, &len, &local))
        {
          g_set_error (error, SMELT_DECISION_TABLE_ERROR, SMELT_DECISION_TABLE_ERROR_LOAD,
                       "decision table: %s", local->message);
          return NULL;
        }
      bytes = g_bytes_new_take (contents, len);
    }
  else
    {
      bytes = g_resources_lookup_data (SMELT_DECISION_TABLE_RESOURCE, 0, &local);
      if (bytes == NULL)
        {
          g_set_error (error, SMELT_DECISION_TABLE_ERROR, SMELT_DECISION_TABLE_ERROR_LOAD,
                       "decision table: %s", local->message);
          return NULL;
        }
    }
  data = g_bytes_get_data (bytes, &size);
  if (size > G_MAXSSIZE)
    return NULL;
  return smelt_decision_table_new_from_data (data != NULL ? data : "", (gssize) size, error);
}

const SmeltFormatRow *
smelt_decision_table_lookup (const SmeltDecisionTable *table,
                             const char               *quant)
{
  g_return_val_if_fail (table != NULL, NULL);

  if (quant == NULL)
    return NULL;
  for (guint i = 0; i < table->formats->len; i++)
    {
      const SmeltFormatRow *row = g_ptr_array_index (table->formats, i);

      if (g_ascii_strcasecmp (row->name, quant) == 0)
        return row;
      for (guint k = 0; row->aliases != NULL && row->aliases[k] != NULL; k++)
        if (g_ascii_strcasecmp (row->aliases[k], quant) == 0)
          return row;
    }
  return NULL;
}

guint64
smelt_decision_table_headroom (const SmeltDecisionTable *table,
                               guint64                   pool_bytes)
{
  double h = (double) pool_bytes * table->headroom_fraction;

  return CLAMP ((guint64) h, table->headroom_min_bytes, table->headroom_max_bytes);
}
