/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-cli-advisor.c: `smelt hw` and `smelt recommend` as a user runs them: the built binary
 * ($SMELT_BUILD_DIR/src/app/smelt) on recorded hardware trees and listing fixtures, the exact JSON
 * shapes of both commands, a profile written by `smelt hw --json` fed back through `--hw`, the
 * REPO form against the in-process fake Hub on 127.0.0.1, and usage and input errors.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "smelt-fake-hub.h"

static char *tmp_dir;

typedef struct
{
  gboolean  done;
  char     *out;
  char     *err;
  GError   *error;
} RunState;

static void
on_communicate_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  RunState *st = user_data;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &st->out, &st->err,
                                        &st->error);
  st->done = TRUE;
}

/* Runs smelt with args (NULL-terminated) and extra environment "K=V" pairs, iterating the main
 * context meanwhile so an in-process server keeps answering. Returns the exit status. */
static int
run_smelt (const char *const *args,
           const char *const *env,
           char             **out,
           char             **err)
{
  g_autofree char *exe = g_build_filename (g_getenv ("SMELT_BUILD_DIR"), "src", "app", "smelt",
                                           NULL);
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *cache = g_build_filename (tmp_dir, "cache", NULL);
  RunState st = { FALSE, NULL, NULL, NULL };

  g_ptr_array_add (argv, exe);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  /* Deterministic speeds and no writes outside the test's folder. */
  g_subprocess_launcher_setenv (launcher, "SMELT_MEMORY_BANDWIDTH", "40000000000", TRUE);
  g_subprocess_launcher_setenv (launcher, "XDG_CACHE_HOME", cache, TRUE);
  g_subprocess_launcher_setenv (launcher, "LC_ALL", "C", TRUE);
  g_subprocess_launcher_unsetenv (launcher, "SMELT_DECISION_TABLE");
  g_subprocess_launcher_unsetenv (launcher, "HF_TOKEN");
  g_subprocess_launcher_unsetenv (launcher, "HF_HUB_OFFLINE");
  for (guint i = 0; env != NULL && env[i] != NULL; i++)
    {
      g_auto(GStrv) kv = g_strsplit (env[i], "=", 2);

      g_subprocess_launcher_setenv (launcher, kv[0], kv[1], TRUE);
    }
  proc = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (proc, NULL, NULL, on_communicate_cb, &st);
  while (!st.done)
    g_main_context_iteration (NULL, TRUE);
  g_assert_no_error (st.error);
  g_assert_true (g_subprocess_get_if_exited (proc));
  *out = st.out;
  *err = st.err;
  return g_subprocess_get_exit_status (proc);
}

static char *
fixture (const char *a,
         const char *b)
{
  return g_build_filename (g_getenv ("SMELT_SOURCE_DIR"), "tests", "fixtures", a, b, NULL);
}

static JsonObject *
parse_object (JsonParser *parser,
              const char *text)
{
  g_autoptr(GError) error = NULL;

  if (!json_parser_load_from_data (parser, text, -1, &error))
    g_error ("not JSON (%s): %s", error->message, text);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
  return json_node_get_object (json_parser_get_root (parser));
}

static void
assert_keys (JsonObject        *o,
             const char *const *keys)
{
  guint n = 0;

  for (; keys[n] != NULL; n++)
    if (!json_object_has_member (o, keys[n]))
      g_error ("missing key %s", keys[n]);
  g_assert_cmpuint (json_object_get_size (o), ==, n);
}

static void
test_hw_json_shape (void)
{
  g_autofree char *root = fixture ("hw", "amd-radeon-dgpu");
  const char *args[] = { "hw", "--json", "--root", root, "--models-dir", tmp_dir, NULL };
  const char *top_keys[] = { "cpu", "memory", "gpus", "disk", NULL };
  const char *cpu_keys[] = { "arch", "model", "cores", "threads", "features", NULL };
  const char *mem_keys[] = { "total_bytes", "available_bytes", NULL };
  const char *gpu_keys[] = { "vendor", "name", "vram_total_bytes", "vram_free_bytes", "bf16",
                             "fp16", "unified_memory", NULL };
  const char *disk_keys[] = { "path", "free_bytes", NULL };
  const char *known[] = { "sse3", "ssse3", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw",
                          "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni",
                          "amx_tile", "amx_int8", "amx_bf16", "neon", "asimdhp", "asimddp", "i8mm",
                          "bf16", "sve", "sve2", NULL };
  g_autofree char *out = NULL, *err = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *top, *cpu, *gpu;
  JsonArray *features;

  g_assert_cmpint (run_smelt (args, NULL, &out, &err), ==, 0);
  top = parse_object (parser, out);
  assert_keys (top, top_keys);
  cpu = json_object_get_object_member (top, "cpu");
  assert_keys (cpu, cpu_keys);
  assert_keys (json_object_get_object_member (top, "memory"), mem_keys);
  assert_keys (json_object_get_object_member (top, "disk"), disk_keys);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (top, "gpus")), ==, 1);
  gpu = json_array_get_object_element (json_object_get_array_member (top, "gpus"), 0);
  assert_keys (gpu, gpu_keys);

  g_assert_cmpstr (json_object_get_string_member (cpu, "arch"), ==, "x86_64");
  g_assert_cmpstr (json_object_get_string_member (cpu, "model"), ==,
                   "AMD Ryzen 7 5800X 8-Core Processor");
  g_assert_cmpint (json_object_get_int_member (cpu, "cores"), ==, 8);
  g_assert_cmpint (json_object_get_int_member (cpu, "threads"), ==, 16);
  features = json_object_get_array_member (cpu, "features");
  g_assert_cmpuint (json_array_get_length (features), ==, 6);
  for (guint i = 0; i < json_array_get_length (features); i++)
    g_assert_true (g_strv_contains (known, json_array_get_string_element (features, i)));
  g_assert_cmpstr (json_object_get_string_member (gpu, "vendor"), ==, "amd");
  g_assert_cmpint (json_object_get_int_member (gpu, "vram_total_bytes"), ==, 25753026560);
  g_assert_false (json_object_get_boolean_member (gpu, "bf16"));
  g_assert_true (json_object_get_boolean_member (gpu, "fp16"));
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (top, "disk"),
                                                  "path"), ==, tmp_dir);
}

static void
test_hw_human (void)
{
  g_autofree char *root = fixture ("hw", "raspberry-pi-5");
  const char *args[] = { "hw", "--root", root, NULL };
  g_autofree char *out = NULL, *err = NULL;

  g_assert_cmpint (run_smelt (args, NULL, &out, &err), ==, 0);
  g_assert_nonnull (strstr (out, "ARM Cortex-A76 (aarch64), 4 cores, 4 threads"));
  g_assert_nonnull (strstr (out, "neon asimdhp asimddp"));
}

/* `smelt hw --json` of a recorded machine, saved, then `smelt recommend --hw` with it. */
static char *
saved_profile (const char *machine)
{
  g_autofree char *root = fixture ("hw", machine);
  const char *args[] = { "hw", "--json", "--root", root, "--models-dir", tmp_dir, NULL };
  g_autofree char *out = NULL, *err = NULL;
  g_autofree char *name = g_strconcat (machine, ".json", NULL);
  char *path = g_build_filename (tmp_dir, name, NULL);

  g_assert_cmpint (run_smelt (args, NULL, &out, &err), ==, 0);
  g_assert_true (g_file_set_contents (path, out, -1, NULL));
  return path;
}

static void
test_recommend_json_shape (void)
{
  g_autofree char *hw = saved_profile ("amd-radeon-dgpu");
  g_autofree char *listing = fixture ("listings", "bartowski-14b.json");
  const char *args[] = { "recommend", "--files", listing, "--hw", hw, "--goal", "speed",
                         "--ctx", "8192", "--json", NULL };
  const char *keys[] = { "name", "files", "size_bytes", "fit", "tokens_per_second", "reasons",
                         NULL };
  const char *top_keys[] = { "recommended", "variants", NULL };
  g_autofree char *out = NULL, *err = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *top;
  JsonArray *variants;
  gboolean seen_pick = FALSE;

  g_assert_cmpint (run_smelt (args, NULL, &out, &err), ==, 0);
  top = parse_object (parser, out);
  assert_keys (top, top_keys);
  /* 24 GB card, 22.1 GB usable: Q8_0 (15.7 GB + 1.6 GB of KV at 8192 tokens) runs on it. */
  g_assert_cmpstr (json_object_get_string_member (top, "recommended"), ==, "Q8_0");
  variants = json_object_get_array_member (top, "variants");
  g_assert_cmpuint (json_array_get_length (variants), ==, 24);
  for (guint i = 0; i < json_array_get_length (variants); i++)
    {
      JsonObject *v = json_array_get_object_element (variants, i);
      const char *name = json_object_get_string_member (v, "name");
      const char *fit = json_object_get_string_member (v, "fit");

      assert_keys (v, keys);
      g_assert_true (g_str_equal (fit, "full_gpu") || g_str_equal (fit, "partial_offload")
                     || g_str_equal (fit, "cpu_only") || g_str_equal (fit, "too_large"));
      g_assert_cmpuint (json_array_get_length (json_object_get_array_member (v, "reasons")), >=,
                        3);
      g_assert_cmpint (json_object_get_int_member (v, "size_bytes"), >, 0);
      g_assert_cmpuint (json_array_get_length (json_object_get_array_member (v, "files")), >=, 1);
      if (g_str_equal (name, "Q8_0"))
        {
          seen_pick = TRUE;
          g_assert_cmpstr (fit, ==, "full_gpu");
          g_assert_cmpint (json_object_get_int_member (v, "size_bytes"), ==, 15700000000);
          g_assert_cmpfloat (json_object_get_double_member (v, "tokens_per_second"), >, 1);
        }
      if (g_str_equal (name, "bf16"))
        g_assert_cmpstr (fit, ==, "partial_offload");
    }
  g_assert_true (seen_pick);
}

static void
test_recommend_human (void)
{
  g_autofree char *hw = saved_profile ("raspberry-pi-5");
  g_autofree char *listing = fixture ("listings", "mungert-8b.json");
  const char *args[] = { "recommend", "--files", listing, "--hw", hw, NULL };
  g_autofree char *out = NULL, *err = NULL;

  g_assert_cmpint (run_smelt (args, NULL, &out, &err), ==, 0);
  g_assert_nonnull (strstr (out, "Recommended: q4_0"));
  g_assert_nonnull (strstr (out, "ARM CPUs repack Q4_0"));
}

/* A profile `smelt hw --json` wrote on a real H100 machine (NVML through dlopen: 85.5 GB, BF16):
 * the split BF16 of the 14B runs entirely on it, for speed as for quality. */
static void
test_recommend_recorded_h100 (void)
{
  g_autofree char *hw = fixture ("hw-profiles", "nvidia-h100-server.json");
  g_autofree char *listing = fixture ("listings", "bartowski-14b.json");
  const char *goals[] = { "speed", "quality", NULL };

  for (guint g = 0; goals[g] != NULL; g++)
    {
      const char *args[] = { "recommend", "--files", listing, "--hw", hw, "--goal", goals[g],
                             "--json", NULL };
      g_autofree char *out = NULL, *err = NULL;
      g_autoptr(JsonParser) parser = json_parser_new ();
      JsonObject *top, *first;

      g_assert_cmpint (run_smelt (args, NULL, &out, &err), ==, 0);
      top = parse_object (parser, out);
      g_assert_cmpstr (json_object_get_string_member (top, "recommended"), ==, "bf16");
      first = json_array_get_object_element (json_object_get_array_member (top, "variants"), 0);
      g_assert_cmpstr (json_object_get_string_member (first, "name"), ==, "bf16");
      g_assert_cmpstr (json_object_get_string_member (first, "fit"), ==, "full_gpu");
    }
}

/* REPO: the tree and the repo info come from the fake Hub through HF_ENDPOINT. */
static void
test_recommend_repo (void)
{
  g_autoptr(SmeltFakeHub) hub = smelt_fake_hub_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *hw = saved_profile ("xeon-avx512-bf16-server");
  g_autofree char *endpoint = NULL;
  g_autofree char *out = NULL, *err = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  const char *args[] = { "recommend", "acme/Tiny-GGUF", "--hw", hw, "--goal", "quality",
                         "--json", NULL };
  const char *missing[] = { "recommend", "acme/Nope-GGUF", "--hw", hw, NULL };
  const char *env[] = { NULL, NULL };
  JsonObject *top;
  JsonArray *variants;

  smelt_fake_hub_add_repo (hub, "acme/Tiny-GGUF", NULL);
  smelt_fake_hub_add_file (hub, "acme/Tiny-GGUF", "README.md",
                           g_bytes_new_static ("# Tiny\n", 7));
  smelt_fake_hub_add_file (hub, "acme/Tiny-GGUF", "Tiny-Q8_0.gguf",
                           g_bytes_new_take (g_malloc0 (8500), 8500));
  smelt_fake_hub_add_file (hub, "acme/Tiny-GGUF", "Tiny-Q4_K_M.gguf",
                           g_bytes_new_take (g_malloc0 (4900), 4900));
  g_assert_true (smelt_fake_hub_start (hub, 0, &error));
  endpoint = g_strconcat ("HF_ENDPOINT=", smelt_fake_hub_get_url (hub), NULL);
  env[0] = endpoint;

  g_assert_cmpint (run_smelt (args, env, &out, &err), ==, 0);
  top = parse_object (parser, out);
  g_assert_cmpstr (json_object_get_string_member (top, "recommended"), ==, "Q8_0");
  variants = json_object_get_array_member (top, "variants");
  g_assert_cmpuint (json_array_get_length (variants), ==, 2);
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (variants, 0),
                                               "size_bytes"), ==, 8500);

  g_free (out);
  g_free (err);
  g_assert_cmpint (run_smelt (missing, env, &out, &err), ==, 1);
  g_assert_nonnull (strstr (err, "acme/Nope-GGUF"));
}

static void
test_errors (void)
{
  g_autofree char *listing = fixture ("listings", "mungert-8b.json");
  g_autofree char *bad_hw = g_build_filename (tmp_dir, "bad-hw.json", NULL);
  g_autofree char *no_gguf = g_build_filename (tmp_dir, "no-gguf.json", NULL);
  g_autofree char *hw = saved_profile ("intel-avx2-laptop");
  const char *none[] = { "recommend", NULL };
  const char *both[] = { "recommend", "a/b", "--files", listing, NULL };
  const char *goal[] = { "recommend", "--files", listing, "--goal", "fast", NULL };
  const char *ctx[] = { "recommend", "--files", listing, "--ctx", "0", NULL };
  const char *missing[] = { "recommend", "--files", "/nonexistent/listing.json", NULL };
  const char *badhw[] = { "recommend", "--files", listing, "--hw", bad_hw, NULL };
  const char *empty[] = { "recommend", "--files", no_gguf, "--hw", hw, NULL };
  const char *hw_extra[] = { "hw", "extra", NULL };
  const char *badroot[] = { "hw", "--root", "/nonexistent/root", NULL };
  const struct { const char *const *args; int status; const char *needle; } cases[] = {
    { none, 2, "REPO" },
    { both, 2, "REPO" },
    { goal, 2, "fast" },
    { ctx, 2, "--ctx" },
    { missing, 1, "/nonexistent/listing.json" },
    { badhw, 1, "cpu.cores has the wrong type" },
    { empty, 1, "no GGUF model files" },
    { hw_extra, 2, "no arguments" },
    { badroot, 1, "cpuinfo" },
  };

  g_assert_true (g_file_set_contents (bad_hw, "{\"cpu\":{\"arch\":\"x86_64\",\"cores\":\"8\"}}",
                                      -1, NULL));
  g_assert_true (g_file_set_contents (no_gguf, "[{\"type\":\"file\",\"oid\":\"0\",\"size\":5,"
                                               "\"path\":\"README.md\"}]", -1, NULL));
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *out = NULL, *err = NULL;
      int status = run_smelt (cases[i].args, NULL, &out, &err);

      if (status != cases[i].status || strstr (err, cases[i].needle) == NULL)
        g_error ("case %zu: exit %d, stderr '%s' (want %d, '%s')", i, status, err,
                 cases[i].status, cases[i].needle);
    }
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

int
main (int    argc,
      char **argv)
{
  int status;

  tmp_dir = g_dir_make_tmp ("smelt-test-cli-advisor-XXXXXX", NULL);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cli/hw/json-shape", test_hw_json_shape);
  g_test_add_func ("/cli/hw/human", test_hw_human);
  g_test_add_func ("/cli/recommend/json-shape", test_recommend_json_shape);
  g_test_add_func ("/cli/recommend/human", test_recommend_human);
  g_test_add_func ("/cli/recommend/recorded-h100", test_recommend_recorded_h100);
  g_test_add_func ("/cli/recommend/repo", test_recommend_repo);
  g_test_add_func ("/cli/recommend/errors", test_errors);
  status = g_test_run ();
  remove_tree (tmp_dir);
  g_free (tmp_dir);
  return status;
}
