/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-cli-info.c: `smelt info FILE [--json]`, what a GGUF file holds: header, metadata, tensor
 * table, totals and split parts.
 *
 * Text mode is for people (long arrays and strings are shortened); --json is for programs and
 * complete: {"version","alignment","tensor_count","kv_count","split":{"count","files"},
 * "metadata":{...},"tensors":[{"name","type","dims","offset","size"}]}. Reading only: the file is
 * mapped and indexed by the engine, tensor data is never read.
 */
#include "config.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sm-gguf.h"
#include "smelt-cli-private.h"

#define TEXT_MAX_STRING   72 /* characters of a string value shown in text mode */
#define TEXT_MAX_ELEMENTS 6  /* array elements shown in text mode */

/* GGUF strings are bytes: JSON and terminals need valid UTF-8. */
static char *
str_to_utf8 (sm_gguf_str s)
{
  return g_utf8_make_valid (s.ptr, (gssize) s.len);
}

/* Keys and tensor names straight from the file, made safe for a terminal (no escape sequences,
 * no line breaks). */
static char *
text_name (const char *name)
{
  char *s = g_utf8_make_valid (name, -1);

  for (char *p = s; *p != '\0'; p++)
    if ((unsigned char) *p < 0x20 || *p == 0x7f)
      *p = '?';
  return s;
}

/* ---- JSON ---- */

static void
add_json_double (JsonBuilder *b,
                 double       v)
{
  /* JSON has no NaN or infinity. */
  if (isfinite (v))
    json_builder_add_double_value (b, v);
  else
    json_builder_add_null_value (b);
}

static void
add_json_uint64 (JsonBuilder *b,
                 uint64_t     v)
{
  /* json-glib numbers are gint64: the few larger values lose precision as doubles. */
  if (v <= G_MAXINT64)
    json_builder_add_int_value (b, (gint64) v);
  else
    json_builder_add_double_value (b, (double) v);
}

/* The double with the fewest significant digits that still reads back as f, so 1e-5f prints
 * as 1e-05 rather than 9.9999997473787516e-06. */
static double
float_as_short_double (float f)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  if (!isfinite (f))
    return f;
  for (int digits = 1; digits < 9; digits++)
    {
      char fmt[8];
      double d;

      g_snprintf (fmt, sizeof fmt, "%%.%dg", digits);
      d = g_ascii_strtod (g_ascii_formatd (buf, sizeof buf, fmt, f), NULL);
      if ((float) d == f)
        return d;
    }
  return f;
}

/* One scalar element of type t at p (little-endian, possibly unaligned). */
static void
add_json_scalar (JsonBuilder  *b,
                 sm_gguf_type  t,
                 const uint8_t *p)
{
  union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
          float f32; uint64_t u64; int64_t i64; double f64; } v;

  memcpy (&v, p, sm_gguf_type_size (t));
  switch (t)
    {
    case SM_GGUF_TYPE_UINT8: json_builder_add_int_value (b, v.u8); break;
    case SM_GGUF_TYPE_INT8: json_builder_add_int_value (b, v.i8); break;
    case SM_GGUF_TYPE_UINT16: json_builder_add_int_value (b, v.u16); break;
    case SM_GGUF_TYPE_INT16: json_builder_add_int_value (b, v.i16); break;
    case SM_GGUF_TYPE_UINT32: json_builder_add_int_value (b, v.u32); break;
    case SM_GGUF_TYPE_INT32: json_builder_add_int_value (b, v.i32); break;
    case SM_GGUF_TYPE_FLOAT32: add_json_double (b, float_as_short_double (v.f32)); break;
    case SM_GGUF_TYPE_BOOL: json_builder_add_boolean_value (b, v.u8 != 0); break;
    case SM_GGUF_TYPE_UINT64: add_json_uint64 (b, v.u64); break;
    case SM_GGUF_TYPE_INT64: json_builder_add_int_value (b, v.i64); break;
    case SM_GGUF_TYPE_FLOAT64: add_json_double (b, v.f64); break;
    case SM_GGUF_TYPE_STRING:
    case SM_GGUF_TYPE_ARRAY:
    case SM_GGUF_TYPE_COUNT:
      g_assert_not_reached ();
    }
}

/* Raw bytes of scalar key i, for the shared scalar formatter. */
static void
kv_scalar_bytes (const sm_gguf *g,
                 int64_t        i,
                 uint8_t        out[8])
{
  memset (out, 0, 8);
  switch (sm_gguf_get_kv_type (g, i))
    {
    case SM_GGUF_TYPE_UINT8: out[0] = sm_gguf_get_u8 (g, i); break;
    case SM_GGUF_TYPE_INT8: { int8_t v = sm_gguf_get_i8 (g, i); memcpy (out, &v, 1); break; }
    case SM_GGUF_TYPE_UINT16: { uint16_t v = sm_gguf_get_u16 (g, i); memcpy (out, &v, 2); break; }
    case SM_GGUF_TYPE_INT16: { int16_t v = sm_gguf_get_i16 (g, i); memcpy (out, &v, 2); break; }
    case SM_GGUF_TYPE_UINT32: { uint32_t v = sm_gguf_get_u32 (g, i); memcpy (out, &v, 4); break; }
    case SM_GGUF_TYPE_INT32: { int32_t v = sm_gguf_get_i32 (g, i); memcpy (out, &v, 4); break; }
    case SM_GGUF_TYPE_FLOAT32: { float v = sm_gguf_get_f32 (g, i); memcpy (out, &v, 4); break; }
    case SM_GGUF_TYPE_BOOL: out[0] = sm_gguf_get_bool (g, i); break;
    case SM_GGUF_TYPE_UINT64: { uint64_t v = sm_gguf_get_u64 (g, i); memcpy (out, &v, 8); break; }
    case SM_GGUF_TYPE_INT64: { int64_t v = sm_gguf_get_i64 (g, i); memcpy (out, &v, 8); break; }
    case SM_GGUF_TYPE_FLOAT64: { double v = sm_gguf_get_f64 (g, i); memcpy (out, &v, 8); break; }
    case SM_GGUF_TYPE_STRING:
    case SM_GGUF_TYPE_ARRAY:
    case SM_GGUF_TYPE_COUNT:
      g_assert_not_reached ();
    }
}

static void
add_json_kv (JsonBuilder   *b,
             const sm_gguf *g,
             int64_t        i)
{
  sm_gguf_type t = sm_gguf_get_kv_type (g, i);

  if (t == SM_GGUF_TYPE_STRING)
    {
      g_autofree char *s = str_to_utf8 (sm_gguf_get_str (g, i));

      json_builder_add_string_value (b, s);
    }
  else if (t == SM_GGUF_TYPE_ARRAY)
    {
      sm_gguf_type et = sm_gguf_get_arr_type (g, i);
      uint64_t n = sm_gguf_get_arr_n (g, i);

      json_builder_begin_array (b);
      if (et == SM_GGUF_TYPE_STRING)
        {
          for (uint64_t j = 0; j < n; j++)
            {
              g_autofree char *s = str_to_utf8 (sm_gguf_get_arr_str (g, i, j));

              json_builder_add_string_value (b, s);
            }
        }
      else
        {
          const uint8_t *p = sm_gguf_get_arr_data (g, i);
          size_t es = sm_gguf_type_size (et);

          for (uint64_t j = 0; j < n; j++)
            add_json_scalar (b, et, p + j * es);
        }
      json_builder_end_array (b);
    }
  else
    {
      uint8_t raw[8];

      kv_scalar_bytes (g, i, raw);
      add_json_scalar (b, t, raw);
    }
}

static int
print_json (const sm_gguf *g)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *text = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "version");
  json_builder_add_int_value (b, sm_gguf_get_version (g));
  json_builder_set_member_name (b, "alignment");
  json_builder_add_int_value (b, sm_gguf_get_alignment (g));
  json_builder_set_member_name (b, "tensor_count");
  json_builder_add_int_value (b, sm_gguf_get_n_tensors (g));
  json_builder_set_member_name (b, "kv_count");
  json_builder_add_int_value (b, sm_gguf_get_n_kv (g));

  json_builder_set_member_name (b, "split");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "count");
  json_builder_add_int_value (b, sm_gguf_get_n_splits (g));
  json_builder_set_member_name (b, "files");
  json_builder_begin_array (b);
  for (uint32_t p = 0; p < sm_gguf_get_n_splits (g); p++)
    {
      g_autofree char *name = g_filename_display_name (sm_gguf_get_split_path (g, p));

      json_builder_add_string_value (b, name);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);

  json_builder_set_member_name (b, "metadata");
  json_builder_begin_object (b);
  for (int64_t i = 0; i < sm_gguf_get_n_kv (g); i++)
    {
      g_autofree char *key = g_utf8_make_valid (sm_gguf_get_key (g, i), -1);

      json_builder_set_member_name (b, key);
      add_json_kv (b, g, i);
    }
  json_builder_end_object (b);

  json_builder_set_member_name (b, "tensors");
  json_builder_begin_array (b);
  for (int64_t i = 0; i < sm_gguf_get_n_tensors (g); i++)
    {
      const sm_gguf_tensor *t = sm_gguf_get_tensor (g, i);
      g_autofree char *name = g_utf8_make_valid (t->name, -1);

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, name);
      json_builder_set_member_name (b, "type");
      json_builder_add_string_value (b, sm_type_get_traits (t->type)->upper);
      json_builder_set_member_name (b, "dims");
      json_builder_begin_array (b);
      for (uint32_t d = 0; d < t->n_dims; d++)
        json_builder_add_int_value (b, t->ne[d]);
      json_builder_end_array (b);
      json_builder_set_member_name (b, "offset");
      add_json_uint64 (b, t->offset);
      json_builder_set_member_name (b, "size");
      add_json_uint64 (b, t->size);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  json_generator_set_indent (gen, 2);
  text = json_generator_to_data (gen, NULL);
  fputs (text, stdout);
  fputc ('\n', stdout);
  return 0;
}

/* ---- Text ---- */

/* A string for one line: control characters escaped, long strings shortened. */
static char *
text_string (sm_gguf_str s)
{
  g_autofree char *valid = str_to_utf8 (s);
  glong n_chars = g_utf8_strlen (valid, -1);
  g_autofree char *cut = NULL;
  g_autofree char *escaped = NULL;

  if (n_chars > TEXT_MAX_STRING)
    {
      cut = g_utf8_substring (valid, 0, TEXT_MAX_STRING);
      escaped = g_strescape (cut, "\xc2\xa0");
      return g_strdup_printf ("\"%s\"... (%" G_GUINT64_FORMAT " bytes)", escaped, s.len);
    }
  escaped = g_strescape (valid, NULL);
  return g_strdup_printf ("\"%s\"", escaped);
}

static void
append_scalar_text (GString       *out,
                    sm_gguf_type   t,
                    const uint8_t *p)
{
  union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
          float f32; uint64_t u64; int64_t i64; double f64; } v;

  memcpy (&v, p, sm_gguf_type_size (t));
  switch (t)
    {
    case SM_GGUF_TYPE_UINT8: g_string_append_printf (out, "%u", v.u8); break;
    case SM_GGUF_TYPE_INT8: g_string_append_printf (out, "%d", v.i8); break;
    case SM_GGUF_TYPE_UINT16: g_string_append_printf (out, "%u", v.u16); break;
    case SM_GGUF_TYPE_INT16: g_string_append_printf (out, "%d", v.i16); break;
    case SM_GGUF_TYPE_UINT32: g_string_append_printf (out, "%u", v.u32); break;
    case SM_GGUF_TYPE_INT32: g_string_append_printf (out, "%d", v.i32); break;
    case SM_GGUF_TYPE_FLOAT32: g_string_append_printf (out, "%g", v.f32); break;
    case SM_GGUF_TYPE_BOOL: g_string_append (out, v.u8 ? "true" : "false"); break;
    case SM_GGUF_TYPE_UINT64: g_string_append_printf (out, "%" G_GUINT64_FORMAT, v.u64); break;
    case SM_GGUF_TYPE_INT64: g_string_append_printf (out, "%" G_GINT64_FORMAT, v.i64); break;
    case SM_GGUF_TYPE_FLOAT64: g_string_append_printf (out, "%g", v.f64); break;
    case SM_GGUF_TYPE_STRING:
    case SM_GGUF_TYPE_ARRAY:
    case SM_GGUF_TYPE_COUNT:
      g_assert_not_reached ();
    }
}

static char *
kv_text (const sm_gguf *g,
         int64_t        i)
{
  sm_gguf_type t = sm_gguf_get_kv_type (g, i);
  GString *out = g_string_new (NULL);

  if (t == SM_GGUF_TYPE_STRING)
    {
      g_autofree char *s = text_string (sm_gguf_get_str (g, i));

      g_string_append (out, s);
    }
  else if (t == SM_GGUF_TYPE_ARRAY)
    {
      sm_gguf_type et = sm_gguf_get_arr_type (g, i);
      uint64_t n = sm_gguf_get_arr_n (g, i);
      uint64_t shown = MIN (n, TEXT_MAX_ELEMENTS);

      g_string_append_printf (out, "[%s x %" G_GUINT64_FORMAT "] [", sm_gguf_type_name (et), n);
      for (uint64_t j = 0; j < shown; j++)
        {
          if (j > 0)
            g_string_append (out, ", ");
          if (et == SM_GGUF_TYPE_STRING)
            {
              g_autofree char *s = text_string (sm_gguf_get_arr_str (g, i, j));

              g_string_append (out, s);
            }
          else
            {
              const uint8_t *p = sm_gguf_get_arr_data (g, i);

              append_scalar_text (out, et, p + j * sm_gguf_type_size (et));
            }
        }
      if (shown < n)
        g_string_append_printf (out, ", ... %" G_GUINT64_FORMAT " more", n - shown);
      g_string_append (out, "]");
    }
  else
    {
      uint8_t raw[8];

      kv_scalar_bytes (g, i, raw);
      append_scalar_text (out, t, raw);
    }
  return g_string_free (out, FALSE);
}

static char *
shape_text (const sm_gguf_tensor *t)
{
  GString *out = g_string_new ("[");

  for (uint32_t d = 0; d < t->n_dims; d++)
    g_string_append_printf (out, "%s%" G_GINT64_FORMAT, d ? ", " : "", t->ne[d]);
  g_string_append (out, "]");
  return g_string_free (out, FALSE);
}

static int
print_text (const sm_gguf *g)
{
  uint64_t n_params = 0, n_bytes = 0;
  int key_width = 0, name_width = 4;
  sm_gguf_str arch;

  printf ("GGUF version %u, alignment %u, %" G_GINT64_FORMAT " tensors, %" G_GINT64_FORMAT
          " metadata keys, %" G_GUINT64_FORMAT " bytes\n",
          sm_gguf_get_version (g), sm_gguf_get_alignment (g), sm_gguf_get_n_tensors (g),
          sm_gguf_get_n_kv (g), sm_gguf_get_file_size (g));
  if (sm_gguf_find_str (g, "general.architecture", &arch))
    {
      g_autofree char *a = str_to_utf8 (arch);

      printf ("Architecture: %s\n", a);
    }

  printf ("\nSplit parts: %u\n", sm_gguf_get_n_splits (g));
  for (uint32_t p = 0; p < sm_gguf_get_n_splits (g); p++)
    {
      g_autofree char *name = g_filename_display_name (sm_gguf_get_split_path (g, p));

      printf ("  %u  %s  (%" G_GUINT64_FORMAT " bytes, data at byte %" G_GUINT64_FORMAT ")\n",
              p + 1, name, sm_gguf_get_split_size (g, p), sm_gguf_get_split_data_offset (g, p));
    }

  printf ("\nMetadata:\n");
  for (int64_t i = 0; i < sm_gguf_get_n_kv (g); i++)
    key_width = MAX (key_width, (int) strlen (sm_gguf_get_key (g, i)));
  for (int64_t i = 0; i < sm_gguf_get_n_kv (g); i++)
    {
      g_autofree char *value = kv_text (g, i);
      g_autofree char *key = text_name (sm_gguf_get_key (g, i));
      sm_gguf_type t = sm_gguf_get_kv_type (g, i);

      printf ("  %-*s  %-7s  %s\n", key_width, key,
              t == SM_GGUF_TYPE_ARRAY ? "ARRAY" : sm_gguf_type_name (t), value);
    }

  printf ("\nTensors:\n");
  for (int64_t i = 0; i < sm_gguf_get_n_tensors (g); i++)
    name_width = MAX (name_width, (int) strlen (sm_gguf_get_tensor (g, i)->name));
  if (sm_gguf_get_n_tensors (g) > 0)
    printf ("  %-*s  %-7s  %-22s  %12s  %12s%s\n", name_width, "NAME", "TYPE", "SHAPE", "OFFSET",
            "SIZE", sm_gguf_get_n_splits (g) > 1 ? "  PART" : "");
  for (int64_t i = 0; i < sm_gguf_get_n_tensors (g); i++)
    {
      const sm_gguf_tensor *t = sm_gguf_get_tensor (g, i);
      g_autofree char *name = text_name (t->name);
      g_autofree char *shape = shape_text (t);
      g_autofree char *part = sm_gguf_get_n_splits (g) > 1
                              ? g_strdup_printf ("  %u", t->split + 1) : g_strdup ("");

      printf ("  %-*s  %-7s  %-22s  %12" G_GUINT64_FORMAT "  %12" G_GUINT64_FORMAT "%s\n",
              name_width, name, sm_type_get_traits (t->type)->upper, shape, t->offset,
              t->size, part);
      n_params += (uint64_t) sm_gguf_tensor_nelements (t);
      n_bytes += t->size;
    }

  printf ("\nTotals: %" G_GUINT64_FORMAT " parameters, %" G_GUINT64_FORMAT " bytes of tensor data",
          n_params, n_bytes);
  if (n_params > 0)
    printf (", %.4f bits per weight", (double) n_bytes * 8.0 / (double) n_params);
  printf ("\n");
  return 0;
}

int
smelt_cli_info (int    argc,
                char **argv)
{
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print everything as JSON", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("FILE");
  sm_gguf *g = NULL;
  sm_error err = { 0 };
  int status;

  g_option_context_set_summary (context,
                                "Shows what a GGUF file holds: header, metadata, tensors, totals "
                                "and split parts.\nFor a split model, give its first part.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!smelt_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 2)
    {
      fprintf (stderr, "smelt: info needs exactly one FILE (see `smelt info --help`)\n");
      return 2;
    }
  if (sm_gguf_open (argv[1], &g, &err) != SM_OK)
    return smelt_cli_fail ("%s", err.msg);
  status = json ? print_json (g) : print_text (g);
  sm_gguf_free (g);
  return status;
}
