/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-library.c: scanning the huggingface_hub cache, added folders and imported files for GGUF
 * models, reading their headers through the engine, and deleting them.
 *
 * Not for downloading or for deciding what to download (src/download, src/advisor).
 */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sm-gguf.h"
#include "smelt-library.h"

G_DEFINE_QUARK (smelt-library-error-quark, smelt_library_error)

struct _SmeltLibrary
{
  GObject parent_instance;

  /* owned */
  char     *hub_cache;
  char     *config_path;
  GStrv     folders;
  GStrv     files;
};

G_DEFINE_FINAL_TYPE (SmeltLibrary, smelt_library, G_TYPE_OBJECT)

/* ---- Models ---- */

void
smelt_local_model_free (SmeltLocalModel *model)
{
  if (model == NULL)
    return;
  g_free (model->id);
  g_free (model->name);
  g_free (model->repo);
  g_free (model->path);
  g_clear_pointer (&model->files, g_ptr_array_unref);
  g_free (model->architecture);
  g_free (model->quant);
  g_free (model->error);
  g_free (model);
}

SmeltLocalModel *
smelt_local_model_copy (const SmeltLocalModel *model)
{
  SmeltLocalModel *copy = g_new0 (SmeltLocalModel, 1);

  *copy = *model;
  copy->id = g_strdup (model->id);
  copy->name = g_strdup (model->name);
  copy->repo = g_strdup (model->repo);
  copy->path = g_strdup (model->path);
  copy->files = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; model->files != NULL && i < model->files->len; i++)
    g_ptr_array_add (copy->files, g_strdup (g_ptr_array_index (model->files, i)));
  copy->architecture = g_strdup (model->architecture);
  copy->quant = g_strdup (model->quant);
  copy->error = g_strdup (model->error);
  return copy;
}

/* ---- Paths ---- */

char *
smelt_library_get_default_hub_cache (void)
{
  const char *env;

  if ((env = g_getenv ("HF_HUB_CACHE")) != NULL && *env != '\0')
    return g_strdup (env);
  if ((env = g_getenv ("HUGGINGFACE_HUB_CACHE")) != NULL && *env != '\0')
    return g_strdup (env);
  if ((env = g_getenv ("HF_HOME")) != NULL && *env != '\0')
    return g_build_filename (env, "hub", NULL);
  return g_build_filename (g_get_user_cache_dir (), "huggingface", "hub", NULL);
}

/* "Model-Q4_K_M-00001-of-00003.gguf" -> prefix length, part 1, count 3. */
static gboolean
parse_split_name (const char *base,
                  guint      *part,
                  guint      *count)
{
  size_t len = strlen (base);
  const char *s;

  /* -NNNNN-of-NNNNN.gguf is 20 characters */
  if (len < 21 || !g_str_has_suffix (base, ".gguf"))
    return FALSE;
  s = base + len - 20;
  if (s[0] != '-' || strncmp (s + 6, "-of-", 4) != 0)
    return FALSE;
  for (int i = 1; i < 6; i++)
    if (!g_ascii_isdigit (s[i]) || !g_ascii_isdigit (s[i + 9]))
      return FALSE;
  *part = (guint) g_ascii_strtoull (s + 1, NULL, 10);
  *count = (guint) g_ascii_strtoull (s + 10, NULL, 10);
  return *part >= 1 && *count >= 1 && *part <= *count;
}

static gboolean
is_model_file_name (const char *base)
{
  g_autofree char *lower = g_ascii_strdown (base, -1);

  /* Vision projectors and importance matrices are GGUFs but not chat models. */
  return g_str_has_suffix (lower, ".gguf") && strstr (lower, "mmproj") == NULL
         && strstr (lower, "imatrix") == NULL;
}

/* ---- Reading one model ---- */

static char *
str_dup_view (sm_gguf_str s)
{
  return g_strndup (s.ptr, (gsize) s.len);
}

static char *
dominant_type (const sm_gguf *g)
{
  guint64 bytes[SM_TYPE_COUNT] = { 0 };
  int best = -1;

  for (int64_t i = 0; i < sm_gguf_get_n_tensors (g); i++)
    {
      const sm_gguf_tensor *t = sm_gguf_get_tensor (g, i);

      if (t->n_dims >= 2 && (guint) t->type < SM_TYPE_COUNT)
        bytes[t->type] += t->size;
    }
  for (int t = 0; t < SM_TYPE_COUNT; t++)
    if (bytes[t] > 0 && (best < 0 || bytes[t] > bytes[best]))
      best = t;
  return best >= 0 ? g_strdup (sm_type_get_traits (best)->upper) : NULL;
}

static void
read_header (SmeltLocalModel *m)
{
  sm_gguf *g = NULL;
  sm_error err = { 0 };
  sm_gguf_str s;
  uint64_t u;
  GStatBuf st;

  if (sm_gguf_open (m->path, &g, &err) != SM_OK)
    {
      m->error = g_strdup (err.msg);
      m->n_splits = 1;
      g_ptr_array_add (m->files, g_strdup (m->path));
      if (g_stat (m->path, &st) == 0)
        m->size_bytes = (guint64) st.st_size;
      return;
    }

  m->n_splits = sm_gguf_get_n_splits (g);
  for (guint32 i = 0; i < m->n_splits; i++)
    {
      const char *p = sm_gguf_get_split_path (g, i);

      g_ptr_array_add (m->files, g_strdup (p));
      if (g_stat (p, &st) == 0)
        m->size_bytes += (guint64) st.st_size;
    }

  if (sm_gguf_find_str (g, "general.architecture", &s))
    m->architecture = str_dup_view (s);
  if (sm_gguf_find_str (g, "general.name", &s) && s.len > 0)
    {
      g_free (m->name);
      m->name = str_dup_view (s);
    }
  if (sm_gguf_find_uint (g, "general.file_type", &u) && sm_ftype_name ((uint32_t) u) != NULL)
    m->quant = g_strdup (sm_ftype_name ((uint32_t) u));
  else
    m->quant = dominant_type (g);
  if (m->architecture != NULL)
    {
      g_autofree char *key = g_strdup_printf ("%s.context_length", m->architecture);

      if (sm_gguf_find_uint (g, key, &u) && u <= G_MAXUINT32)
        m->context_length = (guint32) u;
    }
  for (int64_t i = 0; i < sm_gguf_get_n_tensors (g); i++)
    m->n_params += (guint64) sm_gguf_tensor_nelements (sm_gguf_get_tensor (g, i));

  sm_gguf_free (g);
}

static SmeltLocalModel *
model_new (const char      *path,
           const char      *id,
           const char      *repo,
           SmeltModelSource source)
{
  SmeltLocalModel *m = g_new0 (SmeltLocalModel, 1);
  g_autofree char *base = g_path_get_basename (path);
  guint part, count;

  m->path = g_strdup (path);
  m->id = g_strdup (id);
  m->repo = g_strdup (repo);
  m->source = source;
  m->files = g_ptr_array_new_with_free_func (g_free);
  if (parse_split_name (base, &part, &count))
    base[strlen (base) - 20] = '\0';
  else if (g_str_has_suffix (base, ".gguf"))
    base[strlen (base) - 5] = '\0';
  m->name = g_strdup (base);
  read_header (m);
  return m;
}

/* ---- Walking folders ---- */

typedef void (*FoundFunc) (const char *path,
                           const char *relpath,
                           gpointer    user_data);

/* Calls func for every model GGUF under dir (recursively, symlinks to files followed, symlinked
 * folders not), skipping split parts other than the first. */
static void
walk_models (const char   *dir,
             const char   *rel,
             GCancellable *cancellable,
             int           depth,
             FoundFunc     func,
             gpointer      user_data)
{
  g_autoptr(GDir) d = NULL;
  const char *name;

  if (depth > 16 || g_cancellable_is_cancelled (cancellable))
    return;
  if ((d = g_dir_open (dir, 0, NULL)) == NULL)
    return;

  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autofree char *relpath = rel[0] != '\0' ? g_strconcat (rel, "/", name, NULL)
                                                : g_strdup (name);
      GStatBuf lst;
      guint part, count;

      if (name[0] == '.' || g_lstat (path, &lst) != 0)
        continue;
      if (S_ISDIR (lst.st_mode))
        {
          walk_models (path, relpath, cancellable, depth + 1, func, user_data);
          continue;
        }
      if (!is_model_file_name (name))
        continue;
      if (parse_split_name (name, &part, &count) && part != 1)
        continue;
      func (path, relpath, user_data);
    }
}

typedef struct
{
  GPtrArray  *models;
  GHashTable *seen;   /* ids already listed */
  const char *repo;
  SmeltModelSource source;
} ScanState;

static void
found_in_folder_cb (const char *path,
                    const char *relpath,
                    gpointer    user_data)
{
  ScanState *state = user_data;
  g_autofree char *canonical = g_canonicalize_filename (path, NULL);

  if (g_hash_table_contains (state->seen, canonical))
    return;
  g_hash_table_add (state->seen, g_strdup (canonical));
  g_ptr_array_add (state->models, model_new (path, canonical, NULL, state->source));
}

static void
found_in_snapshot_cb (const char *path,
                      const char *relpath,
                      gpointer    user_data)
{
  ScanState *state = user_data;
  g_autofree char *id = g_strconcat (state->repo, "/", relpath, NULL);

  /* The same file in an older snapshot: the first one seen (the ref'd snapshot) wins. */
  if (g_hash_table_contains (state->seen, id))
    return;
  g_hash_table_add (state->seen, g_strdup (id));
  g_ptr_array_add (state->models, model_new (path, id, state->repo, SMELT_MODEL_SOURCE_HUB_CACHE));
}

/* "models--org--name" -> "org/name" */
static char *
repo_from_cache_dir (const char *name)
{
  const char *rest, *sep;

  if (!g_str_has_prefix (name, "models--"))
    return NULL;
  rest = name + strlen ("models--");
  if ((sep = strstr (rest, "--")) == NULL || sep == rest || sep[2] == '\0')
    return NULL;
  return g_strdup_printf ("%.*s/%s", (int) (sep - rest), rest, sep + 2);
}

static void
scan_hub_cache (const char   *cache,
                ScanState    *state,
                GCancellable *cancellable)
{
  g_autoptr(GDir) d = g_dir_open (cache, 0, NULL);
  const char *name;

  if (d == NULL)
    return;
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *repo = repo_from_cache_dir (name);
      g_autofree char *snapshots = NULL;
      g_autofree char *main_ref = NULL;
      g_autofree char *ref_path = NULL;
      g_autoptr(GDir) sd = NULL;
      const char *commit;

      if (repo == NULL)
        continue;
      state->repo = repo;
      snapshots = g_build_filename (cache, name, "snapshots", NULL);

      /* The snapshot refs/main points to first, so its files win over older ones. */
      ref_path = g_build_filename (cache, name, "refs", "main", NULL);
      if (g_file_get_contents (ref_path, &main_ref, NULL, NULL))
        {
          g_autofree char *dir = NULL;

          g_strstrip (main_ref);
          dir = g_build_filename (snapshots, main_ref, NULL);
          if (strchr (main_ref, '/') == NULL && main_ref[0] != '.')
            walk_models (dir, "", cancellable, 0, found_in_snapshot_cb, state);
        }
      if ((sd = g_dir_open (snapshots, 0, NULL)) == NULL)
        continue;
      while ((commit = g_dir_read_name (sd)) != NULL)
        {
          g_autofree char *dir = g_build_filename (snapshots, commit, NULL);

          if (main_ref == NULL || strcmp (commit, main_ref) != 0)
            walk_models (dir, "", cancellable, 0, found_in_snapshot_cb, state);
        }
    }
  state->repo = NULL;
}

static int
compare_models (gconstpointer a,
                gconstpointer b)
{
  const SmeltLocalModel *ma = *(SmeltLocalModel *const *) a;
  const SmeltLocalModel *mb = *(SmeltLocalModel *const *) b;
  int c = g_utf8_collate (ma->name, mb->name);

  return c != 0 ? c : strcmp (ma->id, mb->id);
}

GPtrArray *
smelt_library_scan (SmeltLibrary *self,
                    GCancellable *cancellable,
                    GError      **error)
{
  g_autoptr(GPtrArray) models = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_local_model_free);
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  ScanState state = { models, seen, NULL, SMELT_MODEL_SOURCE_HUB_CACHE };

  g_return_val_if_fail (SMELT_IS_LIBRARY (self), NULL);

  scan_hub_cache (self->hub_cache, &state, cancellable);

  state.source = SMELT_MODEL_SOURCE_FOLDER;
  for (guint i = 0; self->folders[i] != NULL; i++)
    walk_models (self->folders[i], "", cancellable, 0, found_in_folder_cb, &state);

  state.source = SMELT_MODEL_SOURCE_IMPORTED;
  for (guint i = 0; self->files[i] != NULL; i++)
    if (g_file_test (self->files[i], G_FILE_TEST_EXISTS))
      found_in_folder_cb (self->files[i], NULL, &state);

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  g_ptr_array_sort (models, compare_models);
  return g_steal_pointer (&models);
}

static void
scan_worker (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  GError *error = NULL;
  GPtrArray *models = smelt_library_scan (source_object, cancellable, &error);

  if (models == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, models, (GDestroyNotify) g_ptr_array_unref);
}

void
smelt_library_scan_async (SmeltLibrary       *self,
                          GCancellable       *cancellable,
                          GAsyncReadyCallback callback,
                          gpointer            user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (SMELT_IS_LIBRARY (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, smelt_library_scan_async);
  g_task_run_in_thread (task, scan_worker);
}

GPtrArray *
smelt_library_scan_finish (SmeltLibrary *self,
                           GAsyncResult *result,
                           GError      **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- Finding ---- */

SmeltLocalModel *
smelt_library_find (GPtrArray  *models,
                    const char *query,
                    GError    **error)
{
  g_autoptr(GPtrArray) hits = g_ptr_array_new ();
  g_autofree char *repo = NULL;
  const char *quant = NULL;
  const char *colon;

  g_return_val_if_fail (models != NULL && query != NULL, NULL);

  /* Exact id or path first: those are unique. */
  for (guint i = 0; i < models->len; i++)
    {
      SmeltLocalModel *m = g_ptr_array_index (models, i);

      if (strcmp (m->id, query) == 0 || strcmp (m->path, query) == 0)
        return m;
    }

  colon = strrchr (query, ':');
  if (colon != NULL && strchr (colon, '/') == NULL)
    {
      repo = g_strndup (query, colon - query);
      quant = colon + 1;
    }
  else
    repo = g_strdup (query);

  for (guint i = 0; i < models->len; i++)
    {
      SmeltLocalModel *m = g_ptr_array_index (models, i);
      g_autofree char *base = g_path_get_basename (m->path);

      if (quant != NULL)
        {
          if (m->repo != NULL && g_ascii_strcasecmp (m->repo, repo) == 0 && m->quant != NULL
              && g_ascii_strcasecmp (m->quant, quant) == 0)
            g_ptr_array_add (hits, m);
        }
      else if ((m->repo != NULL && g_ascii_strcasecmp (m->repo, repo) == 0)
               || strcmp (base, query) == 0 || g_strcmp0 (m->name, query) == 0)
        g_ptr_array_add (hits, m);
    }

  if (hits->len == 1)
    return g_ptr_array_index (hits, 0);
  if (hits->len == 0)
    g_set_error (error, SMELT_LIBRARY_ERROR, SMELT_LIBRARY_ERROR_NOT_FOUND,
                 "No local model matches “%s” (see `smelt list`)", query);
  else
    g_set_error (error, SMELT_LIBRARY_ERROR, SMELT_LIBRARY_ERROR_AMBIGUOUS,
                 "%u local models match “%s”; use the id shown by `smelt list`", hits->len, query);
  return NULL;
}

/* ---- Disk usage and deletion ---- */

guint64
smelt_library_disk_usage (GPtrArray *models)
{
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  guint64 total = 0;

  for (guint i = 0; i < models->len; i++)
    {
      SmeltLocalModel *m = g_ptr_array_index (models, i);

      for (guint j = 0; j < m->files->len; j++)
        {
          char *real = realpath (g_ptr_array_index (m->files, j), NULL);
          GStatBuf st;

          if (real == NULL)
            continue;
          if (!g_hash_table_contains (seen, real) && g_stat (real, &st) == 0)
            {
              total += (guint64) st.st_size;
              g_hash_table_add (seen, g_strdup (real));
            }
          free (real);
        }
    }
  return total;
}

/* Collects the canonical targets of every link under dir. */
static void
collect_link_targets (const char *dir,
                      GHashTable *targets,
                      int         depth)
{
  g_autoptr(GDir) d = NULL;
  const char *name;

  if (depth > 16 || (d = g_dir_open (dir, 0, NULL)) == NULL)
    return;
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      GStatBuf lst;

      if (g_lstat (path, &lst) != 0)
        continue;
      if (S_ISDIR (lst.st_mode))
        collect_link_targets (path, targets, depth + 1);
      else if (S_ISLNK (lst.st_mode))
        {
          char *real = realpath (path, NULL);

          if (real != NULL)
            g_hash_table_add (targets, g_strdup (real));
          free (real);
        }
    }
}

static guint64
remove_tree (const char *path)
{
  GStatBuf lst;
  guint64 freed = 0;

  if (g_lstat (path, &lst) != 0)
    return 0;
  if (S_ISDIR (lst.st_mode))
    {
      g_autoptr(GDir) d = g_dir_open (path, 0, NULL);
      const char *name;

      while (d != NULL && (name = g_dir_read_name (d)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);

          freed += remove_tree (child);
        }
      g_rmdir (path);
      return freed;
    }
  if (S_ISREG (lst.st_mode))
    freed = (guint64) lst.st_size;
  g_unlink (path);
  return freed;
}

/* The models--org--name folder a cache entry lives in: the parent of "snapshots". */
static char *
cache_repo_dir (const char *snapshot_path)
{
  const char *p = strstr (snapshot_path, "/snapshots/");

  return p != NULL ? g_strndup (snapshot_path, p - snapshot_path) : NULL;
}

static gboolean
dir_is_empty (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);

  return d != NULL && g_dir_read_name (d) == NULL;
}

static gboolean
delete_cache_entry (const SmeltLocalModel *model,
                    guint64               *reclaimed,
                    GError               **error)
{
  g_autofree char *repo_dir = cache_repo_dir (model->path);
  g_autofree char *snapshots = NULL;
  g_autoptr(GPtrArray) blobs = g_ptr_array_new_with_free_func (free);
  g_autoptr(GHashTable) still_used = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  if (repo_dir == NULL)
    {
      g_set_error (error, SMELT_LIBRARY_ERROR, SMELT_LIBRARY_ERROR_INVALID,
                   "%s is not inside a Hugging Face cache snapshot", model->path);
      return FALSE;
    }
  snapshots = g_build_filename (repo_dir, "snapshots", NULL);

  for (guint i = 0; i < model->files->len; i++)
    {
      const char *link = g_ptr_array_index (model->files, i);
      GStatBuf lst;

      if (g_lstat (link, &lst) != 0)
        continue;
      if (S_ISLNK (lst.st_mode))
        {
          char *real = realpath (link, NULL);

          if (real != NULL)
            g_ptr_array_add (blobs, real);
        }
      else if (S_ISREG (lst.st_mode))
        *reclaimed += (guint64) lst.st_size; /* degraded mode: the snapshot file is the blob */
      if (g_unlink (link) != 0)
        {
          int saved = errno;

          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "Could not delete %s: %s",
                       link, g_strerror (saved));
          return FALSE;
        }
    }

  /* A blob stays while another snapshot still links to it. */
  collect_link_targets (snapshots, still_used, 0);
  for (guint i = 0; i < blobs->len; i++)
    {
      const char *blob = g_ptr_array_index (blobs, i);
      GStatBuf st;

      if (g_hash_table_contains (still_used, blob) || g_stat (blob, &st) != 0)
        continue;
      if (g_unlink (blob) == 0)
        *reclaimed += (guint64) st.st_size;
    }

  /* Tidy emptied folders inside the snapshot, then the whole repo when nothing is left. */
  for (guint i = 0; i < model->files->len; i++)
    {
      g_autofree char *dir = g_path_get_dirname (g_ptr_array_index (model->files, i));

      while (g_str_has_prefix (dir, snapshots) && strcmp (dir, snapshots) != 0 && dir_is_empty (dir))
        {
          char *parent = g_path_get_dirname (dir);

          g_rmdir (dir);
          g_free (dir);
          dir = parent;
        }
    }
  if (dir_is_empty (snapshots))
    *reclaimed += remove_tree (repo_dir);
  return TRUE;
}

gboolean
smelt_library_delete (SmeltLibrary          *self,
                      const SmeltLocalModel *model,
                      guint64               *reclaimed,
                      GError               **error)
{
  guint64 freed = 0;

  g_return_val_if_fail (SMELT_IS_LIBRARY (self), FALSE);
  g_return_val_if_fail (model != NULL, FALSE);

  if (model->source == SMELT_MODEL_SOURCE_HUB_CACHE)
    {
      if (!delete_cache_entry (model, &freed, error))
        return FALSE;
    }
  else
    {
      for (guint i = 0; i < model->files->len; i++)
        {
          const char *path = g_ptr_array_index (model->files, i);
          GStatBuf st;

          if (g_stat (path, &st) != 0)
            continue;
          if (g_unlink (path) != 0)
            {
              int saved = errno;

              g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                           "Could not delete %s: %s", path, g_strerror (saved));
              return FALSE;
            }
          freed += (guint64) st.st_size;
        }
      if (model->source == SMELT_MODEL_SOURCE_IMPORTED)
        {
          g_autoptr(GStrvBuilder) b = g_strv_builder_new ();

          for (guint i = 0; self->files[i] != NULL; i++)
            if (strcmp (self->files[i], model->id) != 0 && strcmp (self->files[i], model->path) != 0)
              g_strv_builder_add (b, self->files[i]);
          g_strfreev (self->files);
          self->files = g_strv_builder_end (b);
        }
    }

  if (reclaimed != NULL)
    *reclaimed = freed;
  return TRUE;
}

/* ---- Configuration ---- */

static void
load_config (SmeltLibrary *self)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();

  if (g_key_file_load_from_file (kf, self->config_path, G_KEY_FILE_NONE, NULL))
    {
      self->folders = g_key_file_get_string_list (kf, "library", "folders", NULL, NULL);
      self->files = g_key_file_get_string_list (kf, "library", "files", NULL, NULL);
    }
  if (self->folders == NULL)
    self->folders = g_new0 (char *, 1);
  if (self->files == NULL)
    self->files = g_new0 (char *, 1);
}

static gboolean
save_config (SmeltLibrary *self,
             GError      **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autofree char *dir = g_path_get_dirname (self->config_path);

  g_key_file_set_string_list (kf, "library", "folders", (const char *const *) self->folders,
                              g_strv_length (self->folders));
  g_key_file_set_string_list (kf, "library", "files", (const char *const *) self->files,
                              g_strv_length (self->files));
  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved = errno;

      g_set_error (error, SMELT_LIBRARY_ERROR, SMELT_LIBRARY_ERROR_IO, "Could not create %s: %s",
                   dir, g_strerror (saved));
      return FALSE;
    }
  /* g_key_file_save_to_file writes a temporary file and renames it. */
  return g_key_file_save_to_file (kf, self->config_path, error);
}

static gboolean
strv_add_unique (GStrv      *strv,
                 const char *value)
{
  g_autoptr(GStrvBuilder) b = NULL;

  if (g_strv_contains ((const char *const *) *strv, value))
    return FALSE;
  b = g_strv_builder_new ();
  g_strv_builder_addv (b, (const char **) *strv);
  g_strv_builder_add (b, value);
  g_strfreev (*strv);
  *strv = g_strv_builder_end (b);
  return TRUE;
}

gboolean
smelt_library_add_folder (SmeltLibrary *self,
                          const char   *folder,
                          GError      **error)
{
  g_autofree char *canonical = NULL;

  g_return_val_if_fail (SMELT_IS_LIBRARY (self), FALSE);

  if (!g_file_test (folder, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, SMELT_LIBRARY_ERROR, SMELT_LIBRARY_ERROR_INVALID,
                   "%s is not a folder", folder);
      return FALSE;
    }
  canonical = g_canonicalize_filename (folder, NULL);
  if (!strv_add_unique (&self->folders, canonical))
    return TRUE;
  return save_config (self, error);
}

gboolean
smelt_library_remove_folder (SmeltLibrary *self,
                             const char   *folder,
                             GError      **error)
{
  g_autofree char *canonical = g_canonicalize_filename (folder, NULL);
  g_autoptr(GStrvBuilder) b = g_strv_builder_new ();

  g_return_val_if_fail (SMELT_IS_LIBRARY (self), FALSE);

  for (guint i = 0; self->folders[i] != NULL; i++)
    if (strcmp (self->folders[i], canonical) != 0)
      g_strv_builder_add (b, self->folders[i]);
  g_strfreev (self->folders);
  self->folders = g_strv_builder_end (b);
  return save_config (self, error);
}

gboolean
smelt_library_import_file (SmeltLibrary *self,
                           const char   *path,
                           GError      **error)
{
  g_autofree char *canonical = NULL;
  sm_gguf *g = NULL;
  sm_error err = { 0 };

  g_return_val_if_fail (SMELT_IS_LIBRARY (self), FALSE);

  canonical = g_canonicalize_filename (path, NULL);
  if (sm_gguf_open (canonical, &g, &err) != SM_OK)
    {
      g_set_error (error, SMELT_LIBRARY_ERROR, SMELT_LIBRARY_ERROR_INVALID,
                   "Cannot import %s: %s", path, err.msg);
      return FALSE;
    }
  sm_gguf_free (g);
  if (!strv_add_unique (&self->files, canonical))
    return TRUE;
  return save_config (self, error);
}

const char *const *
smelt_library_get_folders (SmeltLibrary *self)
{
  g_return_val_if_fail (SMELT_IS_LIBRARY (self), NULL);
  return (const char *const *) self->folders;
}

const char *
smelt_library_get_hub_cache (SmeltLibrary *self)
{
  g_return_val_if_fail (SMELT_IS_LIBRARY (self), NULL);
  return self->hub_cache;
}

/* ---- GObject ---- */

static void
smelt_library_finalize (GObject *object)
{
  SmeltLibrary *self = SMELT_LIBRARY (object);

  g_clear_pointer (&self->hub_cache, g_free);
  g_clear_pointer (&self->config_path, g_free);
  g_clear_pointer (&self->folders, g_strfreev);
  g_clear_pointer (&self->files, g_strfreev);

  G_OBJECT_CLASS (smelt_library_parent_class)->finalize (object);
}

static void
smelt_library_class_init (SmeltLibraryClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = smelt_library_finalize;
}

static void
smelt_library_init (SmeltLibrary *self)
{
}

SmeltLibrary *
smelt_library_new (const char *hub_cache,
                   const char *config_path)
{
  SmeltLibrary *self = g_object_new (SMELT_TYPE_LIBRARY, NULL);

  self->hub_cache = hub_cache != NULL ? g_strdup (hub_cache) : smelt_library_get_default_hub_cache ();
  self->config_path = config_path != NULL
                        ? g_strdup (config_path)
                        : g_build_filename (g_get_user_config_dir (), "smelt", "library.ini", NULL);
  load_config (self);
  return self;
}
