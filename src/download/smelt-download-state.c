/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-download-state.c: jobs, specs and the JSON state file that makes the queue persistent.
 *
 * The file records, per job, what to fetch and, per file, the etag its `.part` data belongs to
 * and every chunk's progress. It is written whole and atomically by the worker; on load every
 * value is checked (paths with smelt_hub_path_is_safe, chunk bounds against the size), because a
 * damaged state file must never make Smelt write outside its folders or trust bad offsets. Not
 * for transfers or threads.
 */
#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>

#include "smelt-download-private.h"

G_DEFINE_QUARK (smelt-download-error-quark, smelt_download_error)

static const char *state_names[] = {
  "queued", "running", "paused", "done", "failed", "cancelled",
};

const char *
smelt_download_state_to_string (SmeltDownloadState state)
{
  if ((guint) state < G_N_ELEMENTS (state_names))
    return state_names[state];
  return "unknown";
}

static gboolean
state_from_string (const char         *text,
                   SmeltDownloadState *state)
{
  for (guint i = 0; i < G_N_ELEMENTS (state_names); i++)
    if (g_strcmp0 (text, state_names[i]) == 0)
      {
        *state = (SmeltDownloadState) i;
        return TRUE;
      }
  return FALSE;
}

SmeltDownloadSpec *
smelt_download_spec_new (const char *endpoint,
                         const char *repo_id,
                         const char *revision)
{
  SmeltDownloadSpec *spec = g_new0 (SmeltDownloadSpec, 1);

  spec->endpoint = g_strdup (endpoint);
  spec->repo_id = g_strdup (repo_id);
  spec->revision = g_strdup (revision != NULL ? revision : "main");
  spec->files = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_hub_file_free);
  return spec;
}

void
smelt_download_spec_free (SmeltDownloadSpec *spec)
{
  if (spec == NULL)
    return;
  g_free (spec->endpoint);
  g_free (spec->repo_id);
  g_free (spec->revision);
  g_free (spec->ref_name);
  g_free (spec->dest_dir);
  g_free (spec->label);
  g_clear_pointer (&spec->files, g_ptr_array_unref);
  g_free (spec);
}

SmeltDownloadSpec *
smelt_download_spec_copy (const SmeltDownloadSpec *spec)
{
  SmeltDownloadSpec *copy = smelt_download_spec_new (spec->endpoint, spec->repo_id, spec->revision);

  copy->ref_name = g_strdup (spec->ref_name);
  copy->dest_dir = g_strdup (spec->dest_dir);
  copy->label = g_strdup (spec->label);
  for (guint i = 0; spec->files != NULL && i < spec->files->len; i++)
    g_ptr_array_add (copy->files, smelt_hub_file_copy (g_ptr_array_index (spec->files, i)));
  return copy;
}

char *
smelt_download_spec_key (const SmeltDownloadSpec *spec)
{
  GString *key = g_string_new (NULL);

  g_string_append_printf (key, "%s\n%s\n%s\n%s", spec->endpoint, spec->repo_id, spec->revision,
                          spec->dest_dir != NULL ? spec->dest_dir : "<cache>");
  for (guint i = 0; i < spec->files->len; i++)
    g_string_append_printf (key, "\n%s", ((SmeltHubFile *) g_ptr_array_index (spec->files, i))->path);
  return g_string_free (key, FALSE);
}

void
smelt_download_info_free (SmeltDownloadInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->repo_id);
  g_free (info->label);
  g_free (info->error);
  g_free (info->path);
  g_free (info);
}

SmeltDownloadInfo *
smelt_download_info_copy (const SmeltDownloadInfo *info)
{
  SmeltDownloadInfo *copy = g_memdup2 (info, sizeof *info);

  copy->repo_id = g_strdup (info->repo_id);
  copy->label = g_strdup (info->label);
  copy->error = g_strdup (info->error);
  copy->path = g_strdup (info->path);
  return copy;
}

SmeltFileTask *
smelt_file_task_new (SmeltJob           *job,
                     const SmeltHubFile *hf)
{
  SmeltFileTask *file = g_new0 (SmeltFileTask, 1);

  file->job = job;
  file->path = g_strdup (hf->path);
  file->spec_size = hf->size;
  file->spec_sha256 = g_strdup (hf->sha256);
  file->total = G_MAXUINT64;
  file->chunks = g_array_new (FALSE, TRUE, sizeof (SmeltChunk));
  file->fd = -1;
  file->lock_fd = -1;
  file->phase = FILE_PENDING;
  return file;
}

void
smelt_file_task_free (SmeltFileTask *file)
{
  if (file == NULL)
    return;
  g_assert (file->hasher == NULL && file->fd < 0 && file->lock_fd < 0);
  g_free (file->path);
  g_free (file->spec_sha256);
  g_free (file->etag);
  g_free (file->commit);
  g_array_unref (file->chunks);
  g_free (file->final_path);
  g_free (file->head_url);
  g_free (file->url);
  g_free (file->proxy);
  g_free (file->part_path);
  g_free (file->expected_sha256);
  g_free (file->last_error);
  g_free (file);
}

SmeltJob *
smelt_job_new (guint                    id,
               const SmeltDownloadSpec *spec)
{
  SmeltJob *job = g_new0 (SmeltJob, 1);

  job->id = id;
  job->spec = smelt_download_spec_copy (spec);
  job->state = SMELT_DOWNLOAD_QUEUED;
  job->files = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_file_task_free);
  for (guint i = 0; i < spec->files->len; i++)
    g_ptr_array_add (job->files, smelt_file_task_new (job, g_ptr_array_index (spec->files, i)));
  return job;
}

void
smelt_job_free (SmeltJob *job)
{
  if (job == NULL)
    return;
  g_ptr_array_unref (job->files);
  smelt_download_spec_free (job->spec);
  g_free (job->error);
  g_free (job);
}

/* ---- JSON ---------------------------------------------------------------------------------- */

static void
add_string (JsonBuilder *b,
            const char  *name,
            const char  *value)
{
  json_builder_set_member_name (b, name);
  if (value != NULL)
    json_builder_add_string_value (b, value);
  else
    json_builder_add_null_value (b);
}

static void
add_uint (JsonBuilder *b,
          const char  *name,
          guint64      value)
{
  json_builder_set_member_name (b, name);
  if (value == G_MAXUINT64)
    json_builder_add_null_value (b);
  else
    json_builder_add_int_value (b, (gint64) value);
}

char *
smelt_download_state_to_json (GPtrArray *jobs)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (b);
  add_uint (b, "version", 1);
  json_builder_set_member_name (b, "jobs");
  json_builder_begin_array (b);
  for (guint i = 0; i < jobs->len; i++)
    {
      SmeltJob *job = g_ptr_array_index (jobs, i);
      SmeltDownloadSpec *spec = job->spec;

      /* Finished jobs live on in the cache (or the folder), not in the queue. */
      if (job->state == SMELT_DOWNLOAD_CANCELLED || job->state == SMELT_DOWNLOAD_DONE)
        continue;
      json_builder_begin_object (b);
      add_uint (b, "id", job->id);
      add_string (b, "endpoint", spec->endpoint);
      add_string (b, "repo", spec->repo_id);
      add_string (b, "revision", spec->revision);
      add_string (b, "ref", spec->ref_name);
      add_string (b, "dest_dir", spec->dest_dir);
      add_string (b, "label", spec->label);
      add_string (b, "state", smelt_download_state_to_string (job->state));
      add_string (b, "error", job->error);
      add_uint (b, "error_code", (guint64) job->error_code);
      json_builder_set_member_name (b, "files");
      json_builder_begin_array (b);
      for (guint f = 0; f < job->files->len; f++)
        {
          SmeltFileTask *file = g_ptr_array_index (job->files, f);

          json_builder_begin_object (b);
          add_string (b, "path", file->path);
          add_uint (b, "size", file->spec_size);
          add_string (b, "sha256", file->spec_sha256);
          add_string (b, "etag", file->etag);
          add_string (b, "commit", file->commit);
          add_uint (b, "total", file->total);
          json_builder_set_member_name (b, "done");
          json_builder_add_boolean_value (b, file->done);
          add_string (b, "final_path", file->final_path);
          json_builder_set_member_name (b, "chunks");
          json_builder_begin_array (b);
          for (guint c = 0; c < file->chunks->len; c++)
            {
              SmeltChunk *chunk = &g_array_index (file->chunks, SmeltChunk, c);

              json_builder_begin_array (b);
              json_builder_add_int_value (b, (gint64) chunk->start);
              json_builder_add_int_value (b, (gint64) chunk->end);
              json_builder_add_int_value (b, (gint64) chunk->done);
              json_builder_end_array (b);
            }
          json_builder_end_array (b);
          json_builder_end_object (b);
        }
      json_builder_end_array (b);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  return json_generator_to_data (gen, NULL);
}

static const char *
get_str (JsonObject *obj,
         const char *name)
{
  JsonNode *node = json_object_get_member (obj, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static guint64
get_uint (JsonObject *obj,
          const char *name)
{
  JsonNode *node = json_object_get_member (obj, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64
      || json_node_get_int (node) < 0)
    return G_MAXUINT64;
  return (guint64) json_node_get_int (node);
}

static gboolean
is_hex (const char *s,
        gsize       len)
{
  if (s == NULL || strlen (s) != len)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isxdigit (s[i]))
      return FALSE;
  return TRUE;
}

/* One job, or NULL (with a debug line) when anything in it is off: a damaged entry is dropped,
 * the rest of the queue survives. */
static SmeltJob *
job_from_object (JsonObject *obj)
{
  g_autoptr(SmeltDownloadSpec) spec = NULL;
  SmeltJob *job;
  JsonNode *files_node = json_object_get_member (obj, "files");
  JsonArray *files;
  guint64 id = get_uint (obj, "id");
  SmeltDownloadState state;
  const char *repo = get_str (obj, "repo");
  const char *endpoint = get_str (obj, "endpoint");
  const char *revision = get_str (obj, "revision");

  if (id == G_MAXUINT64 || id == 0 || id > G_MAXUINT || repo == NULL || endpoint == NULL
      || revision == NULL || !smelt_hub_path_is_safe (repo) || files_node == NULL
      || !JSON_NODE_HOLDS_ARRAY (files_node) || !state_from_string (get_str (obj, "state"), &state))
    return NULL;

  spec = smelt_download_spec_new (endpoint, repo, revision);
  spec->ref_name = g_strdup (get_str (obj, "ref"));
  spec->dest_dir = g_strdup (get_str (obj, "dest_dir"));
  spec->label = g_strdup (get_str (obj, "label"));
  if (spec->ref_name != NULL && !smelt_hub_path_is_safe (spec->ref_name))
    return NULL;
  files = json_node_get_array (files_node);
  for (guint i = 0; i < json_array_get_length (files); i++)
    {
      JsonNode *fn = json_array_get_element (files, i);
      JsonObject *fo;
      const char *path, *sha;

      if (!JSON_NODE_HOLDS_OBJECT (fn))
        return NULL;
      fo = json_node_get_object (fn);
      path = get_str (fo, "path");
      sha = get_str (fo, "sha256");
      if (!smelt_hub_path_is_safe (path))
        return NULL;
      g_ptr_array_add (spec->files, smelt_hub_file_new (path, get_uint (fo, "size"), is_hex (sha, 64) ? sha : NULL));
    }
  if (spec->files->len == 0)
    return NULL;

  job = smelt_job_new ((guint) id, spec);
  job->state = state;
  job->error = g_strdup (get_str (obj, "error"));
  job->error_code = (gint) MIN (get_uint (obj, "error_code"), 100);

  for (guint i = 0; i < json_array_get_length (files); i++)
    {
      JsonObject *fo = json_node_get_object (json_array_get_element (files, i));
      SmeltFileTask *file = g_ptr_array_index (job->files, i);
      JsonNode *chunks_node = json_object_get_member (fo, "chunks");
      const char *etag = get_str (fo, "etag");
      const char *commit = get_str (fo, "commit");
      JsonNode *done = json_object_get_member (fo, "done");
      guint64 prev_end = 0;
      gboolean ok = TRUE;

      /* The etag names a blob file: only hex is accepted. */
      if (etag != NULL && (is_hex (etag, 64) || is_hex (etag, 40)))
        file->etag = g_strdup (etag);
      if (commit != NULL && is_hex (commit, 40))
        file->commit = g_strdup (commit);
      file->total = get_uint (fo, "total");
      file->done = done != NULL && JSON_NODE_HOLDS_VALUE (done)
                   && json_node_get_value_type (done) == G_TYPE_BOOLEAN && json_node_get_boolean (done);
      file->final_path = g_strdup (get_str (fo, "final_path"));
      if (file->etag == NULL || file->total == G_MAXUINT64)
        {
          file->done = FALSE;
          continue;
        }
      if (chunks_node == NULL || !JSON_NODE_HOLDS_ARRAY (chunks_node))
        continue;
      for (guint c = 0; ok && c < json_array_get_length (json_node_get_array (chunks_node)); c++)
        {
          JsonNode *cn = json_array_get_element (json_node_get_array (chunks_node), c);
          JsonArray *ca;
          SmeltChunk chunk = { 0 };

          if (!JSON_NODE_HOLDS_ARRAY (cn) || json_array_get_length (json_node_get_array (cn)) != 3)
            {
              ok = FALSE;
              break;
            }
          ca = json_node_get_array (cn);
          chunk.start = (guint64) json_array_get_int_element (ca, 0);
          chunk.end = (guint64) json_array_get_int_element (ca, 1);
          chunk.done = (guint64) json_array_get_int_element (ca, 2);
          /* Chunks must tile [0, total) in order. */
          if (chunk.start != prev_end || chunk.end < chunk.start || chunk.end > file->total
              || chunk.done < chunk.start || chunk.done > chunk.end)
            ok = FALSE;
          prev_end = chunk.end;
          g_array_append_val (file->chunks, chunk);
        }
      if (!ok || prev_end != file->total)
        g_array_set_size (file->chunks, 0);
    }
  return job;
}

GPtrArray *
smelt_download_state_from_json (const char *json,
                                gsize       length,
                                GError    **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GPtrArray) jobs = NULL;
  JsonNode *root, *jobs_node;

  if (!json_parser_load_from_data (parser, json, (gssize) length, &local_error))
    {
      g_set_error (error, SMELT_DOWNLOAD_ERROR, SMELT_DOWNLOAD_ERROR_STATE,
                   "The download queue file is damaged: %s", local_error->message);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, SMELT_DOWNLOAD_ERROR, SMELT_DOWNLOAD_ERROR_STATE,
                           "The download queue file is damaged: not a JSON object");
      return NULL;
    }
  jobs = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_job_free);
  jobs_node = json_object_get_member (json_node_get_object (root), "jobs");
  if (jobs_node != NULL && JSON_NODE_HOLDS_ARRAY (jobs_node))
    {
      JsonArray *arr = json_node_get_array (jobs_node);

      for (guint i = 0; i < json_array_get_length (arr); i++)
        {
          JsonNode *node = json_array_get_element (arr, i);
          SmeltJob *job = JSON_NODE_HOLDS_OBJECT (node) ? job_from_object (json_node_get_object (node)) : NULL;
          gboolean dup = FALSE;

          if (job == NULL)
            {
              g_debug ("Dropping a damaged entry of the download queue");
              continue;
            }
          for (guint j = 0; j < jobs->len; j++)
            dup |= ((SmeltJob *) g_ptr_array_index (jobs, j))->id == job->id;
          if (dup)
            smelt_job_free (job);
          else
            g_ptr_array_add (jobs, job);
        }
    }
  return g_steal_pointer (&jobs);
}
