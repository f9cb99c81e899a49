/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-library.c: the local model index on a real huggingface_hub cache layout built here with
 * GGUF files from our own writer: scanning, split parts, added folders and imports, lookups,
 * deletion with shared blobs, disk usage, and the persisted configuration.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "sm-gguf.h"
#include <json-glib/json-glib.h>

#include "smelt-library.h"

/* Writes a small llama-shaped GGUF (one F32 tensor of n_embd x 4) with the given metadata. */
static void
write_model (const char *path,
             const char *name,
             guint32     file_type,
             guint32     n_embd,
             guint32     ctx)
{
  sm_gguf_writer *w = sm_gguf_writer_new ();
  sm_error err = { 0 };
  int64_t ne[2] = { n_embd, 4 };
  g_autofree float *data = g_new0 (float, n_embd * 4);

  sm_gguf_writer_set_str (w, "general.architecture", "llama");
  sm_gguf_writer_set_str (w, "general.name", name);
  sm_gguf_writer_set_u32 (w, "general.file_type", file_type);
  sm_gguf_writer_set_u32 (w, "llama.context_length", ctx);
  sm_gguf_writer_set_u32 (w, "llama.embedding_length", n_embd);
  g_assert_cmpint (sm_gguf_writer_add_tensor (w, "token_embd.weight", SM_TYPE_F32, 2, ne, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_begin (w, path, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_write_tensor (w, data, n_embd * 4 * sizeof (float), &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_finish (w, &err), ==, SM_OK);
  sm_gguf_writer_free (w);
}

/* Writes a 3-part split model with our writer's split support into dir/prefix-0000k-of-00003.gguf. */
static void
write_split_model (const char *dir,
                   const char *prefix)
{
  g_autofree char *path = g_strdup_printf ("%s/%s.gguf", dir, prefix);
  sm_gguf_writer *w = sm_gguf_writer_new ();
  sm_error err = { 0 };
  int64_t ne[2] = { 32, 8 };
  float data[32 * 8] = { 0 };

  sm_gguf_writer_set_str (w, "general.architecture", "qwen2");
  sm_gguf_writer_set_u32 (w, "general.file_type", 7);
  sm_gguf_writer_set_u32 (w, "qwen2.context_length", 32768);
  for (int i = 0; i < 3; i++)
    {
      g_autofree char *name = g_strdup_printf ("blk.%d.ffn_up.weight", i);

      g_assert_cmpint (sm_gguf_writer_add_tensor (w, name, SM_TYPE_F32, 2, ne, &err), ==, SM_OK);
    }
  sm_gguf_writer_set_split (w, 0, 1);
  g_assert_cmpint (sm_gguf_writer_begin (w, path, &err), ==, SM_OK);
  for (int i = 0; i < 3; i++)
    g_assert_cmpint (sm_gguf_writer_write_tensor (w, data, sizeof data, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_finish (w, &err), ==, SM_OK);
  g_assert_cmpuint (sm_gguf_writer_get_n_outputs (w), ==, 3);
  sm_gguf_writer_free (w);
}

typedef struct
{
  char *root;   /* temp dir */
  char *cache;  /* root/hub */
  char *config; /* root/library.ini */
} Fixture;

/* Places a finished file into the cache as huggingface_hub does: the content under blobs/<etag>,
 * a relative symlink from snapshots/<commit>/<path>. */
static char *
cache_add (Fixture    *f,
           const char *repo,
           const char *commit,
           const char *relpath,
           const char *src,
           const char *etag)
{
  g_autofree char *repo_dir_name = g_strdup_printf ("models--%s", repo);
  g_autofree char *repo_dir = NULL;
  g_autofree char *blob = NULL;
  g_autofree char *link = NULL;
  g_autofree char *link_dir = NULL;
  g_autofree char *refs = NULL;
  g_autofree char *ref_main = NULL;
  GString *target = g_string_new (NULL);

  g_strdelimit (repo_dir_name + strlen ("models--"), "/", '-');
  {
    /* org/name -> org--name */
    g_autofree char *tmp = g_strdup (repo);
    char *slash = strchr (tmp, '/');

    *slash = '\0';
    g_free (repo_dir_name);
    repo_dir_name = g_strdup_printf ("models--%s--%s", tmp, slash + 1);
  }
  repo_dir = g_build_filename (f->cache, repo_dir_name, NULL);
  blob = g_build_filename (repo_dir, "blobs", etag, NULL);
  link = g_build_filename (repo_dir, "snapshots", commit, relpath, NULL);
  link_dir = g_path_get_dirname (link);
  g_assert_cmpint (g_mkdir_with_parents (link_dir, 0755), ==, 0);
  {
    g_autofree char *blobs_dir = g_path_get_dirname (blob);

    g_assert_cmpint (g_mkdir_with_parents (blobs_dir, 0755), ==, 0);
  }
  if (!g_file_test (blob, G_FILE_TEST_EXISTS))
    g_assert_cmpint (g_rename (src, blob), ==, 0);

  /* ../../blobs/<etag>, one more ../ per folder in relpath */
  g_string_append (target, "../../");
  for (const char *p = relpath; *p != '\0'; p++)
    if (*p == '/')
      g_string_append (target, "../");
  g_string_append_printf (target, "blobs/%s", etag);
  g_assert_cmpint (symlink (target->str, link), ==, 0);
  g_string_free (target, TRUE);

  refs = g_build_filename (repo_dir, "refs", NULL);
  g_mkdir_with_parents (refs, 0755);
  ref_main = g_build_filename (refs, "main", NULL);
  g_assert_true (g_file_set_contents (ref_main, commit, -1, NULL));
  return g_steal_pointer (&link);
}

static void
fixture_setup (Fixture      *f,
               gconstpointer data)
{
  f->root = g_dir_make_tmp ("smelt-library-XXXXXX", NULL);
  g_assert_nonnull (f->root);
  f->cache = g_build_filename (f->root, "hub", NULL);
  f->config = g_build_filename (f->root, "library.ini", NULL);
  g_mkdir_with_parents (f->cache, 0755);
}

static void
rm_rf (const char *path)
{
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", path);

  g_assert_cmpint (system (cmd), ==, 0);
}

static void
fixture_teardown (Fixture      *f,
                  gconstpointer data)
{
  rm_rf (f->root);
  g_free (f->root);
  g_free (f->cache);
  g_free (f->config);
}

static char *
tmp_model (Fixture    *f,
           const char *name,
           guint32     ftype)
{
  char *path = g_strdup_printf ("%s/%s.gguf", f->root, name);

  write_model (path, name, ftype, 64, 4096);
  return path;
}

static void
test_scan_cache (Fixture      *f,
                 gconstpointer data)
{
  g_autofree char *src = tmp_model (f, "Tiny", 15);
  g_autofree char *link = cache_add (f, "org/Tiny-GGUF", "abc123", "Tiny-Q4_K_M.gguf", src,
                                     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  g_autoptr(SmeltLibrary) lib = smelt_library_new (f->cache, f->config);
  g_autoptr(GPtrArray) models = smelt_library_scan (lib, NULL, NULL);
  SmeltLocalModel *m;

  g_assert_nonnull (models);
  g_assert_cmpuint (models->len, ==, 1);
  m = g_ptr_array_index (models, 0);
  g_assert_cmpstr (m->repo, ==, "org/Tiny-GGUF");
  g_assert_cmpstr (m->id, ==, "org/Tiny-GGUF/Tiny-Q4_K_M.gguf");
  g_assert_cmpstr (m->path, ==, link);
  g_assert_cmpstr (m->architecture, ==, "llama");
  g_assert_cmpstr (m->quant, ==, "Q4_K_M");
  g_assert_cmpstr (m->name, ==, "Tiny");
  g_assert_cmpuint (m->context_length, ==, 4096);
  g_assert_cmpuint (m->n_params, ==, 64 * 4);
  g_assert_cmpuint (m->n_splits, ==, 1);
  g_assert_null (m->error);
  g_assert_cmpuint (m->source, ==, SMELT_MODEL_SOURCE_HUB_CACHE);
  g_assert_cmpuint (m->size_bytes, >, 64 * 4 * 4);
}

static void
test_scan_split_in_cache (Fixture      *f,
                          gconstpointer data)
{
  g_autofree char *work = g_build_filename (f->root, "work", NULL);
  g_autoptr(SmeltLibrary) lib = NULL;
  g_autoptr(GPtrArray) models = NULL;
  SmeltLocalModel *m;
  guint64 sum = 0;

  g_mkdir_with_parents (work, 0755);
  write_split_model (work, "Big-Q8_0");
  for (int i = 1; i <= 3; i++)
    {
      g_autofree char *name = g_strdup_printf ("Big-Q8_0-%05d-of-00003.gguf", i);
      g_autofree char *src = g_build_filename (work, name, NULL);
      g_autofree char *rel = g_strdup_printf ("Q8_0/%s", name);
      g_autofree char *etag = g_strdup_printf ("%064d", i);
      GStatBuf st;

      g_assert_cmpint (g_stat (src, &st), ==, 0);
      sum += st.st_size;
      g_free (cache_add (f, "org/Big-GGUF", "c0ffee", rel, src, etag));
    }

  lib = smelt_library_new (f->cache, f->config);
  models = smelt_library_scan (lib, NULL, NULL);
  g_assert_cmpuint (models->len, ==, 1);
  m = g_ptr_array_index (models, 0);
  g_assert_null (m->error);
  g_assert_cmpuint (m->n_splits, ==, 3);
  g_assert_cmpuint (m->files->len, ==, 3);
  g_assert_cmpuint (m->size_bytes, ==, sum);
  g_assert_cmpstr (m->quant, ==, "Q8_0");
  g_assert_cmpstr (m->architecture, ==, "qwen2");
  g_assert_cmpuint (m->context_length, ==, 32768);
  g_assert_cmpstr (m->id, ==, "org/Big-GGUF/Q8_0/Big-Q8_0-00001-of-00003.gguf");
  g_assert_cmpuint (smelt_library_disk_usage (models), ==, sum);
}

static void
test_folders_and_imports (Fixture      *f,
                          gconstpointer data)
{
  g_autofree char *folder = g_build_filename (f->root, "models", NULL);
  g_autofree char *sub = g_build_filename (folder, "deep", "er", NULL);
  g_autofree char *good = g_build_filename (sub, "good.gguf", NULL);
  g_autofree char *broken = g_build_filename (folder, "broken.gguf", NULL);
  g_autofree char *mmproj = g_build_filename (folder, "mmproj-f16.gguf", NULL);
  g_autofree char *single = tmp_model (f, "Single", 7);
  g_autoptr(SmeltLibrary) lib = smelt_library_new (f->cache, f->config);
  g_autoptr(SmeltLibrary) again = NULL;
  g_autoptr(GPtrArray) models = NULL;
  g_autoptr(GError) error = NULL;
  gboolean saw_good = FALSE, saw_broken = FALSE, saw_single = FALSE;

  g_mkdir_with_parents (sub, 0755);
  write_model (good, "Good", 1, 32, 2048);
  write_model (mmproj, "Projector", 1, 32, 2048);
  g_assert_true (g_file_set_contents (broken, "GGUF\x03\0\0\0 this is not a model", 30, NULL));

  g_assert_true (smelt_library_add_folder (lib, folder, &error));
  g_assert_no_error (error);
  g_assert_false (smelt_library_add_folder (lib, "/nonexistent/folder", &error));
  g_assert_error (error, SMELT_LIBRARY_ERROR, SMELT_LIBRARY_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_true (smelt_library_import_file (lib, single, &error));
  g_assert_false (smelt_library_import_file (lib, broken, &error));
  g_assert_error (error, SMELT_LIBRARY_ERROR, SMELT_LIBRARY_ERROR_INVALID);
  g_clear_error (&error);

  /* The configuration persists: a new instance sees the folder and the import. */
  again = smelt_library_new (f->cache, f->config);
  g_assert_cmpuint (g_strv_length ((char **) smelt_library_get_folders (again)), ==, 1);
  models = smelt_library_scan (again, NULL, NULL);
  g_assert_cmpuint (models->len, ==, 3); /* good, broken (listed with an error), single */
  for (guint i = 0; i < models->len; i++)
    {
      SmeltLocalModel *m = g_ptr_array_index (models, i);

      if (g_str_has_suffix (m->path, "good.gguf"))
        {
          saw_good = TRUE;
          g_assert_null (m->error);
          g_assert_cmpstr (m->quant, ==, "F16");
          g_assert_cmpuint (m->source, ==, SMELT_MODEL_SOURCE_FOLDER);
        }
      else if (g_str_has_suffix (m->path, "broken.gguf"))
        {
          saw_broken = TRUE;
          g_assert_nonnull (m->error);
        }
      else if (g_str_has_suffix (m->path, "Single.gguf"))
        {
          saw_single = TRUE;
          g_assert_cmpuint (m->source, ==, SMELT_MODEL_SOURCE_IMPORTED);
          g_assert_cmpstr (m->quant, ==, "Q8_0");
        }
    }
  g_assert_true (saw_good && saw_broken && saw_single);
}

static void
test_find (Fixture      *f,
           gconstpointer data)
{
  g_autofree char *a = tmp_model (f, "A", 15);
  g_autofree char *b = tmp_model (f, "B", 7);
  g_autoptr(SmeltLibrary) lib = NULL;
  g_autoptr(GPtrArray) models = NULL;
  g_autoptr(GError) error = NULL;
  SmeltLocalModel *m;

  g_free (cache_add (f, "org/M-GGUF", "1111", "M-Q4_K_M.gguf", a, "aaaa"));
  g_free (cache_add (f, "org/M-GGUF", "1111", "M-Q8_0.gguf", b, "bbbb"));
  lib = smelt_library_new (f->cache, f->config);
  models = smelt_library_scan (lib, NULL, NULL);
  g_assert_cmpuint (models->len, ==, 2);

  m = smelt_library_find (models, "org/M-GGUF:q8_0", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (m->quant, ==, "Q8_0");
  m = smelt_library_find (models, "M-Q4_K_M.gguf", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (m->quant, ==, "Q4_K_M");
  m = smelt_library_find (models, "org/M-GGUF/M-Q8_0.gguf", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (m->quant, ==, "Q8_0");
  g_assert_null (smelt_library_find (models, "org/M-GGUF", &error));
  g_assert_error (error, SMELT_LIBRARY_ERROR, SMELT_LIBRARY_ERROR_AMBIGUOUS);
  g_clear_error (&error);
  g_assert_null (smelt_library_find (models, "nothing", &error));
  g_assert_error (error, SMELT_LIBRARY_ERROR, SMELT_LIBRARY_ERROR_NOT_FOUND);
}

static void
test_delete_shared_blob (Fixture      *f,
                         gconstpointer data)
{
  g_autofree char *a = tmp_model (f, "A", 15);
  g_autofree char *old_link = NULL;
  g_autofree char *new_link = NULL;
  g_autofree char *repo_dir = g_build_filename (f->cache, "models--org--S-GGUF", NULL);
  g_autofree char *blob = g_build_filename (repo_dir, "blobs", "5555", NULL);
  g_autoptr(SmeltLibrary) lib = NULL;
  g_autoptr(GPtrArray) models = NULL;
  g_autoptr(GError) error = NULL;
  SmeltLocalModel *m;
  guint64 freed = 12345;
  GStatBuf st;

  /* The same blob linked from two snapshots (an old commit and main). */
  old_link = cache_add (f, "org/S-GGUF", "old0", "S-Q4_K_M.gguf", a, "5555");
  new_link = cache_add (f, "org/S-GGUF", "new1", "S-Q4_K_M.gguf", a, "5555");
  g_assert_cmpint (g_stat (blob, &st), ==, 0);

  lib = smelt_library_new (f->cache, f->config);
  models = smelt_library_scan (lib, NULL, NULL);
  g_assert_cmpuint (models->len, ==, 1); /* one model: the snapshot refs/main names */
  m = g_ptr_array_index (models, 0);
  g_assert_cmpstr (m->path, ==, new_link);
  g_assert_cmpuint (smelt_library_disk_usage (models), ==, (guint64) st.st_size);

  /* Deleting the main snapshot's link keeps the blob: the old snapshot still uses it. */
  g_assert_true (smelt_library_delete (lib, m, &freed, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (freed, ==, 0);
  g_assert_true (g_file_test (blob, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (new_link, G_FILE_TEST_EXISTS));
  g_clear_pointer (&models, g_ptr_array_unref);

  /* Deleting the last user frees the blob and removes the repo folder entirely. */
  models = smelt_library_scan (lib, NULL, NULL);
  g_assert_cmpuint (models->len, ==, 1);
  m = g_ptr_array_index (models, 0);
  g_assert_cmpstr (m->path, ==, old_link);
  g_assert_true (smelt_library_delete (lib, m, &freed, &error));
  g_assert_cmpuint (freed, >=, (guint64) st.st_size);
  g_assert_false (g_file_test (repo_dir, G_FILE_TEST_EXISTS));
  g_clear_pointer (&models, g_ptr_array_unref);
  models = smelt_library_scan (lib, NULL, NULL);
  g_assert_cmpuint (models->len, ==, 0);
}

static void
test_delete_imported (Fixture      *f,
                      gconstpointer data)
{
  g_autofree char *single = tmp_model (f, "Single", 7);
  g_autoptr(SmeltLibrary) lib = smelt_library_new (f->cache, f->config);
  g_autoptr(GPtrArray) models = NULL;
  g_autoptr(GError) error = NULL;
  guint64 freed = 0;
  GStatBuf st;

  g_assert_cmpint (g_stat (single, &st), ==, 0);
  g_assert_true (smelt_library_import_file (lib, single, &error));
  models = smelt_library_scan (lib, NULL, NULL);
  g_assert_cmpuint (models->len, ==, 1);
  g_assert_true (smelt_library_delete (lib, g_ptr_array_index (models, 0), &freed, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (freed, ==, (guint64) st.st_size);
  g_assert_false (g_file_test (single, G_FILE_TEST_EXISTS));
  g_clear_pointer (&models, g_ptr_array_unref);
  models = smelt_library_scan (lib, NULL, NULL);
  g_assert_cmpuint (models->len, ==, 0);
}

static void
test_cli_list_json (Fixture      *f,
                    gconstpointer data)
{
  const char *build = g_getenv ("SMELT_BUILD_DIR");
  g_autofree char *exe = NULL;
  g_autofree char *src = tmp_model (f, "Tiny", 15);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_auto(GStrv) env = NULL;
  JsonArray *arr;
  JsonObject *obj;
  int status = -1;

  if (build == NULL)
    {
      g_test_skip ("SMELT_BUILD_DIR is not set");
      return;
    }
  exe = g_build_filename (build, "src", "app", "smelt", NULL);
  g_free (cache_add (f, "org/Tiny-GGUF", "abc", "Tiny-Q4_K_M.gguf", src, "ffff"));
  env = g_get_environ ();
  env = g_environ_setenv (env, "HF_HUB_CACHE", f->cache, TRUE);
  env = g_environ_setenv (env, "XDG_CONFIG_HOME", f->root, TRUE);
  {
    const char *argv[] = { exe, "list", "--json", NULL };

    g_assert_true (g_spawn_sync (NULL, (char **) argv, env, G_SPAWN_DEFAULT, NULL, NULL, &out,
                                 &err, &status, &error));
  }
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_true (json_parser_load_from_data (parser, out, -1, &error));
  arr = json_node_get_array (json_parser_get_root (parser));
  g_assert_cmpuint (json_array_get_length (arr), ==, 1);
  obj = json_array_get_object_element (arr, 0);
  g_assert_cmpstr (json_object_get_string_member (obj, "repo"), ==, "org/Tiny-GGUF");
  g_assert_cmpstr (json_object_get_string_member (obj, "quant"), ==, "Q4_K_M");
  g_assert_cmpstr (json_object_get_string_member (obj, "architecture"), ==, "llama");
  g_assert_cmpint (json_object_get_int_member (obj, "context_length"), ==, 4096);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* rm by repo:quant, then the list is empty. */
  {
    const char *argv[] = { exe, "rm", "org/Tiny-GGUF:Q4_K_M", NULL };

    g_assert_true (g_spawn_sync (NULL, (char **) argv, env, G_SPAWN_DEFAULT, NULL, NULL, &out,
                                 &err, &status, &error));
    g_assert_true (g_spawn_check_wait_status (status, NULL));
    g_assert_nonnull (strstr (out, "Deleted org/Tiny-GGUF/Tiny-Q4_K_M.gguf"));
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
  }
  {
    const char *argv[] = { exe, "rm", "org/Tiny-GGUF:Q4_K_M", NULL };

    g_assert_true (g_spawn_sync (NULL, (char **) argv, env, G_SPAWN_DEFAULT, NULL, NULL, &out,
                                 &err, &status, &error));
    g_assert_false (g_spawn_check_wait_status (status, NULL));
    g_assert_nonnull (strstr (err, "No local model matches"));
  }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/library/scan-cache", test_scan_cache);
  ADD ("/library/scan-split-in-cache", test_scan_split_in_cache);
  ADD ("/library/folders-and-imports", test_folders_and_imports);
  ADD ("/library/find", test_find);
  ADD ("/library/delete-shared-blob", test_delete_shared_blob);
  ADD ("/library/delete-imported", test_delete_imported);
  ADD ("/library/cli-list-json", test_cli_list_json);
#undef ADD
  return g_test_run ();
}
