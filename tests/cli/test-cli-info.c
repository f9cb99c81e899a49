/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-cli-info.c: `smelt info` run as users run it: the built binary (found through
 * SMELT_BUILD_DIR) on the fixtures, on a split model and on files written by the engine's writer,
 * and on bad input. JSON output is parsed with json-glib and checked against known values and
 * against the engine's own reading of the same file.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "sm-gguf.h"

typedef struct
{
  int   status; /* exit status */
  char *out;
  char *err;
} Run;

static void
run_clear (Run *r)
{
  g_free (r->out);
  g_free (r->err);
}

static Run
run_smelt (const char *arg1,
           const char *arg2,
           const char *arg3)
{
  const char *build = g_getenv ("SMELT_BUILD_DIR");
  g_autofree char *exe = NULL;
  const char *argv[6] = { NULL };
  g_autoptr(GError) error = NULL;
  Run r = { 0 };
  int wait_status = 0, n = 0;

  g_assert_nonnull (build);
  exe = g_build_filename (build, "src", "app", "smelt", NULL);
  argv[n++] = exe;
  argv[n++] = "info";
  if (arg1)
    argv[n++] = arg1;
  if (arg2)
    argv[n++] = arg2;
  if (arg3)
    argv[n++] = arg3;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &r.out, &r.err,
                     &wait_status, &error))
    g_error ("cannot run %s: %s", exe, error->message);
  g_assert_true (WIFEXITED (wait_status));
  r.status = WEXITSTATUS (wait_status);
  return r;
}

static char *
fixture (const char *sub,
         const char *name)
{
  return g_build_filename (g_getenv ("SMELT_SHARED_DIR"), "fixtures", sub, name, NULL);
}

static JsonObject *
run_json (const char *path,
          JsonParser *parser)
{
  Run r = run_smelt (path, "--json", NULL);
  g_autoptr(GError) error = NULL;

  if (r.status != 0)
    g_error ("smelt info --json %s failed (%d): %s", path, r.status, r.err);
  g_assert_cmpstr (r.err, ==, "");
  if (!json_parser_load_from_data (parser, r.out, -1, &error))
    g_error ("not JSON: %s", error->message);
  run_clear (&r);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
  return json_node_get_object (json_parser_get_root (parser));
}

/* The JSON agrees with the engine's reading of the same file, tensor by tensor. */
static void
check_against_engine (JsonObject *o,
                      const char *path)
{
  sm_gguf *g = NULL;
  sm_error err = { 0 };
  JsonArray *tensors, *files;
  JsonObject *meta;

  g_assert_cmpint (sm_gguf_open (path, &g, &err), ==, SM_OK);
  g_assert_cmpint (json_object_get_int_member (o, "version"), ==, sm_gguf_get_version (g));
  g_assert_cmpint (json_object_get_int_member (o, "alignment"), ==, sm_gguf_get_alignment (g));
  g_assert_cmpint (json_object_get_int_member (o, "tensor_count"), ==, sm_gguf_get_n_tensors (g));
  g_assert_cmpint (json_object_get_int_member (o, "kv_count"), ==, sm_gguf_get_n_kv (g));
  files = json_object_get_array_member (json_object_get_object_member (o, "split"), "files");
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (o, "split"),
                                               "count"), ==, sm_gguf_get_n_splits (g));
  g_assert_cmpuint (json_array_get_length (files), ==, sm_gguf_get_n_splits (g));
  for (uint32_t p = 0; p < sm_gguf_get_n_splits (g); p++)
    g_assert_cmpstr (json_array_get_string_element (files, p), ==, sm_gguf_get_split_path (g, p));

  meta = json_object_get_object_member (o, "metadata");
  g_assert_cmpuint (json_object_get_size (meta), ==, (guint) sm_gguf_get_n_kv (g));
  for (int64_t i = 0; i < sm_gguf_get_n_kv (g); i++)
    {
      JsonNode *v = json_object_get_member (meta, sm_gguf_get_key (g, i));

      g_assert_nonnull (v);
      if (sm_gguf_get_kv_type (g, i) == SM_GGUF_TYPE_ARRAY)
        g_assert_cmpuint (json_array_get_length (json_node_get_array (v)), ==,
                          sm_gguf_get_arr_n (g, i));
    }

  tensors = json_object_get_array_member (o, "tensors");
  g_assert_cmpuint (json_array_get_length (tensors), ==, (guint) sm_gguf_get_n_tensors (g));
  for (int64_t i = 0; i < sm_gguf_get_n_tensors (g); i++)
    {
      const sm_gguf_tensor *t = sm_gguf_get_tensor (g, i);
      JsonObject *jt = json_array_get_object_element (tensors, (guint) i);
      JsonArray *dims = json_object_get_array_member (jt, "dims");

      g_assert_cmpuint (json_object_get_size (jt), ==, 5);
      g_assert_cmpstr (json_object_get_string_member (jt, "name"), ==, t->name);
      g_assert_cmpstr (json_object_get_string_member (jt, "type"), ==,
                       sm_type_get_traits (t->type)->upper);
      g_assert_cmpuint (json_array_get_length (dims), ==, t->n_dims);
      for (uint32_t d = 0; d < t->n_dims; d++)
        g_assert_cmpint (json_array_get_int_element (dims, d), ==, t->ne[d]);
      g_assert_cmpint (json_object_get_int_member (jt, "offset"), ==, (gint64) t->offset);
      g_assert_cmpint (json_object_get_int_member (jt, "size"), ==, (gint64) t->size);
    }
  sm_gguf_free (g);
}

static void
test_json_stories (void)
{
  g_autofree char *path = fixture ("models", "stories260K.gguf");
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *o = run_json (path, parser), *meta, *t0;
  JsonArray *tensors, *dims;

  g_assert_cmpint (json_object_get_int_member (o, "version"), ==, 3);
  g_assert_cmpint (json_object_get_int_member (o, "alignment"), ==, 32);
  g_assert_cmpint (json_object_get_int_member (o, "tensor_count"), ==, 48);
  g_assert_cmpint (json_object_get_int_member (o, "kv_count"), ==, 19);
  meta = json_object_get_object_member (o, "metadata");
  g_assert_cmpstr (json_object_get_string_member (meta, "general.architecture"), ==, "llama");
  g_assert_cmpint (json_object_get_int_member (meta, "llama.embedding_length"), ==, 64);
  g_assert_cmpint (json_object_get_int_member (meta, "tokenizer.ggml.bos_token_id"), ==, 1);
  g_assert_cmpfloat_with_epsilon (
    json_object_get_double_member (meta, "llama.attention.layer_norm_rms_epsilon"), 1e-5, 1e-12);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (meta,
                                                                         "tokenizer.ggml.tokens")),
                    ==, 512);
  g_assert_cmpstr (json_array_get_string_element (
                     json_object_get_array_member (meta, "tokenizer.ggml.tokens"), 1), ==, "<s>");
  tensors = json_object_get_array_member (o, "tensors");
  t0 = json_array_get_object_element (tensors, 0);
  g_assert_cmpstr (json_object_get_string_member (t0, "name"), ==, "token_embd.weight");
  g_assert_cmpstr (json_object_get_string_member (t0, "type"), ==, "F32");
  dims = json_object_get_array_member (t0, "dims");
  g_assert_cmpint (json_array_get_int_element (dims, 0), ==, 64);
  g_assert_cmpint (json_array_get_int_element (dims, 1), ==, 512);
  g_assert_cmpint (json_object_get_int_member (t0, "offset"), ==, 0);
  g_assert_cmpint (json_object_get_int_member (t0, "size"), ==, 131072);
  check_against_engine (o, path);
}

static void
test_json_vocab_complete (void)
{
  g_autofree char *path = fixture ("vocab", "ggml-vocab-llama-bpe.gguf");
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *o = run_json (path, parser);
  JsonObject *meta = json_object_get_object_member (o, "metadata");
  JsonArray *tokens = json_object_get_array_member (meta, "tokenizer.ggml.tokens");

  /* --json is complete: every one of the 128256 tokens and 280147 merges */
  g_assert_cmpuint (json_array_get_length (tokens), ==, 128256);
  g_assert_cmpstr (json_array_get_string_element (tokens, 128000), ==, "<|begin_of_text|>");
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (meta,
                                                                         "tokenizer.ggml.merges")),
                    ==, 280147);
  g_assert_cmpfloat (json_object_get_double_member (meta, "llama.rope.freq_base"), ==, 500000.0);
  g_assert_cmpint (json_object_get_int_member (o, "tensor_count"), ==, 0);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (o, "tensors")), ==, 0);
  check_against_engine (o, path);
}

static void
test_text_summarises (void)
{
  g_autofree char *path = fixture ("vocab", "ggml-vocab-llama-bpe.gguf");
  g_autofree char *model = fixture ("models", "stories260K.gguf");
  Run r = run_smelt (path, NULL, NULL);

  g_assert_cmpint (r.status, ==, 0);
  g_assert_cmpstr (r.err, ==, "");
  g_assert_nonnull (strstr (r.out, "tokenizer.ggml.tokens"));
  g_assert_nonnull (strstr (r.out, "[STRING x 128256]"));
  g_assert_nonnull (strstr (r.out, "... 128250 more]"));
  g_assert_nonnull (strstr (r.out, "[STRING x 280147]"));
  g_assert_null (strstr (r.out, "<|begin_of_text|>")); /* token 128000 is not listed */
  g_assert_cmpuint (strlen (r.out), <, 8192);
  run_clear (&r);

  r = run_smelt (model, NULL, NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "GGUF version 3, alignment 32, 48 tensors, 19 metadata keys"));
  g_assert_nonnull (strstr (r.out, "Architecture: llama"));
  g_assert_true (g_regex_match_simple ("blk\\.4\\.ffn_down\\.weight +F32 +\\[172, 64\\] +1082880 "
                                          "+44032\n", r.out, 0, 0));
  /* 64*512*2 + 64 + 5*(64*64*2 + 64*32*2 + 64*172*3 + 64*2) parameters, all F32 */
  g_assert_nonnull (strstr (r.out, "Totals: 292800 parameters, 1171200 bytes of tensor data, "
                                   "32.0000 bits per weight"));
  run_clear (&r);
}

/* A file from the writer with every value type, quantized tensor types, split in 3 parts. */
static void
test_split_and_types (void)
{
  g_autofree char *dir = g_dir_make_tmp ("smelt-cli-info-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "m-Q4_K.gguf", NULL);
  g_autofree char *p1 = g_build_filename (dir, "m-Q4_K-00001-of-00003.gguf", NULL);
  g_autofree char *p2 = g_build_filename (dir, "m-Q4_K-00002-of-00003.gguf", NULL);
  g_autofree char *p3 = g_build_filename (dir, "m-Q4_K-00003-of-00003.gguf", NULL);
  static const struct { const char *name; sm_type type; int64_t ne0, ne1; } ts[] = {
    { "token_embd.weight", SM_TYPE_Q4_K, 256, 4 },
    { "a", SM_TYPE_BF16, 3, 5 },
    { "b", SM_TYPE_IQ4_XS, 512, 1 },
    { "c", SM_TYPE_Q8_0, 64, 2 },
    { "d", SM_TYPE_F32, 7, 1 },
  };
  static const int32_t ints[] = { -1, 0, 7 };
  static const char *const strs[] = { "x", "\xe4\xb8\xad" };
  g_autoptr(JsonParser) parser = json_parser_new ();
  sm_gguf_writer *w = sm_gguf_writer_new ();
  sm_error err = { 0 };
  JsonObject *o, *meta, *split;
  JsonArray *tensors, *arr;
  Run r;

  sm_gguf_writer_set_str (w, "general.architecture", "llama");
  sm_gguf_writer_set_bool (w, "t.bool", true);
  sm_gguf_writer_set_i64 (w, "t.i64", -5000000000);
  sm_gguf_writer_set_f64 (w, "t.f64", 0.25);
  sm_gguf_writer_set_u8 (w, "t.u8", 255);
  sm_gguf_writer_set_i8 (w, "t.i8", -128);
  sm_gguf_writer_set_arr_data (w, "t.ints", SM_GGUF_TYPE_INT32, ints, 3);
  sm_gguf_writer_set_arr_str (w, "t.strs", strs, 2);
  for (gsize i = 0; i < G_N_ELEMENTS (ts); i++)
    {
      int64_t ne[2] = { ts[i].ne0, ts[i].ne1 };

      g_assert_cmpint (sm_gguf_writer_add_tensor (w, ts[i].name, ts[i].type, 2, ne, &err), ==,
                       SM_OK);
    }
  sm_gguf_writer_set_split (w, 0, 2);
  g_assert_cmpint (sm_gguf_writer_begin (w, path, &err), ==, SM_OK);
  for (gsize i = 0; i < G_N_ELEMENTS (ts); i++)
    g_assert_cmpint (sm_gguf_writer_write_tensor_zeros (w, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_finish (w, &err), ==, SM_OK);
  sm_gguf_writer_free (w);

  o = run_json (p1, parser);
  split = json_object_get_object_member (o, "split");
  g_assert_cmpint (json_object_get_int_member (split, "count"), ==, 3);
  arr = json_object_get_array_member (split, "files");
  g_assert_cmpstr (json_array_get_string_element (arr, 0), ==, p1);
  g_assert_cmpstr (json_array_get_string_element (arr, 1), ==, p2);
  g_assert_cmpstr (json_array_get_string_element (arr, 2), ==, p3);
  g_assert_cmpint (json_object_get_int_member (o, "tensor_count"), ==, 5);
  meta = json_object_get_object_member (o, "metadata");
  g_assert_true (json_object_get_boolean_member (meta, "t.bool"));
  g_assert_cmpint (json_object_get_int_member (meta, "t.i64"), ==, -5000000000);
  g_assert_cmpfloat (json_object_get_double_member (meta, "t.f64"), ==, 0.25);
  g_assert_cmpint (json_object_get_int_member (meta, "t.u8"), ==, 255);
  g_assert_cmpint (json_object_get_int_member (meta, "t.i8"), ==, -128);
  g_assert_cmpint (json_object_get_int_member (meta, "split.count"), ==, 3);
  g_assert_cmpint (json_object_get_int_member (meta, "split.tensors.count"), ==, 5);
  arr = json_object_get_array_member (meta, "t.ints");
  g_assert_cmpint (json_array_get_int_element (arr, 0), ==, -1);
  g_assert_cmpint (json_array_get_int_element (arr, 2), ==, 7);
  arr = json_object_get_array_member (meta, "t.strs");
  g_assert_cmpstr (json_array_get_string_element (arr, 1), ==, "\xe4\xb8\xad");
  tensors = json_object_get_array_member (o, "tensors");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (tensors, 0),
                                                  "type"), ==, "Q4_K");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (tensors, 1),
                                                  "type"), ==, "BF16");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (tensors, 2),
                                                  "type"), ==, "IQ4_XS");
  /* offsets are within each tensor's own part: 2 tensors per part */
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (tensors, 1),
                                               "offset"), ==, 576); /* 4 Q4_K blocks of 144 */
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (tensors, 2),
                                               "offset"), ==, 0);
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (tensors, 4),
                                               "offset"), ==, 0);
  check_against_engine (o, p1);

  /* text mode lists the parts */
  r = run_smelt (p1, NULL, NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "Split parts: 3"));
  g_assert_nonnull (strstr (r.out, "m-Q4_K-00003-of-00003.gguf"));
  run_clear (&r);

  /* part 2 on its own: one line, non-zero */
  r = run_smelt (p2, "--json", NULL);
  g_assert_cmpint (r.status, !=, 0);
  g_assert_cmpstr (r.out, ==, "");
  g_assert_nonnull (strstr (r.err, "open the first part"));
  g_assert_cmpint (strlen (r.err), ==, (gsize) (strchr (r.err, '\n') - r.err) + 1);
  run_clear (&r);

  g_remove (p1);
  g_remove (p2);
  g_remove (p3);
  g_rmdir (dir);
}

/* Keys and names with control characters cannot reach the terminal; JSON keeps them exactly. */
static void
test_control_characters (void)
{
  g_autofree char *dir = g_dir_make_tmp ("smelt-cli-info-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "ctl.gguf", NULL);
  g_autoptr(JsonParser) parser = json_parser_new ();
  sm_gguf_writer *w = sm_gguf_writer_new ();
  static const int64_t ne[1] = { 4 };
  sm_error err = { 0 };
  JsonObject *o;
  Run r;

  sm_gguf_writer_set_str (w, "evil\x1b[2J.key", "line\nbreak");
  g_assert_cmpint (sm_gguf_writer_add_tensor (w, "t\x1b]0;x\x07", SM_TYPE_F32, 1, ne, &err), ==,
                   SM_OK);
  g_assert_cmpint (sm_gguf_writer_begin (w, path, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_write_tensor_zeros (w, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_finish (w, &err), ==, SM_OK);
  sm_gguf_writer_free (w);

  r = run_smelt (path, NULL, NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_null (strchr (r.out, '\x1b'));
  g_assert_null (strchr (r.out, '\x07'));
  g_assert_nonnull (strstr (r.out, "evil?[2J.key"));
  g_assert_nonnull (strstr (r.out, "\"line\\nbreak\""));
  run_clear (&r);

  o = run_json (path, parser);
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (o, "metadata"),
                                                  "evil\x1b[2J.key"), ==, "line\nbreak");
  g_assert_cmpstr (json_object_get_string_member (
                     json_array_get_object_element (json_object_get_array_member (o, "tensors"), 0),
                     "name"), ==, "t\x1b]0;x\x07");
  g_remove (path);
  g_rmdir (dir);
}

static void
assert_one_line_error (Run        *r,
                       const char *needle)
{
  g_assert_cmpint (r->status, !=, 0);
  g_assert_cmpstr (r->out, ==, "");
  g_assert_true (g_str_has_prefix (r->err, "smelt: "));
  g_assert_true (g_str_has_suffix (r->err, "\n"));
  g_assert_true (strchr (r->err, '\n') == r->err + strlen (r->err) - 1); /* one line */
  if (strstr (r->err, needle) == NULL)
    g_error ("expected '%s' in '%s'", needle, r->err);
}

static void
test_bad_input (void)
{
  g_autofree char *dir = g_dir_make_tmp ("smelt-cli-info-XXXXXX", NULL);
  g_autofree char *bad = g_build_filename (dir, "bad.gguf", NULL);
  g_autofree char *missing = g_build_filename (dir, "missing.gguf", NULL);
  /* A header claiming one tensor of an unknown type id */
  static const guint8 hostile[] = {
    'G', 'G', 'U', 'F', 3, 0, 0, 0,  1, 0, 0, 0, 0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0,
    1, 0, 0, 0, 0, 0, 0, 0, 'w',  1, 0, 0, 0,  4, 0, 0, 0, 0, 0, 0, 0,  99, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
  };
  Run r;

  g_assert_true (g_file_set_contents (bad, (const char *) hostile, sizeof hostile, NULL));
  r = run_smelt (bad, "--json", NULL);
  assert_one_line_error (&r, "tensor 'w' (info at byte 24): type id 99 is not a known ggml type");
  run_clear (&r);
  r = run_smelt (bad, NULL, NULL);
  assert_one_line_error (&r, "bad.gguf");
  run_clear (&r);

  r = run_smelt (missing, NULL, NULL);
  assert_one_line_error (&r, "No such file or directory");
  run_clear (&r);

  r = run_smelt (NULL, NULL, NULL);
  g_assert_cmpint (r.status, ==, 2);
  run_clear (&r);
  r = run_smelt (bad, bad, NULL);
  g_assert_cmpint (r.status, ==, 2);
  run_clear (&r);
  r = run_smelt ("--no-such-option", NULL, NULL);
  g_assert_cmpint (r.status, ==, 2);
  run_clear (&r);

  g_remove (bad);
  g_rmdir (dir);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/cli/info/json-stories260K", test_json_stories);
  g_test_add_func ("/cli/info/json-vocab-complete", test_json_vocab_complete);
  g_test_add_func ("/cli/info/text-summarises", test_text_summarises);
  g_test_add_func ("/cli/info/split-and-types", test_split_and_types);
  g_test_add_func ("/cli/info/control-characters", test_control_characters);
  g_test_add_func ("/cli/info/bad-input", test_bad_input);

  return g_test_run ();
}
