/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-fake-hub.c: the in-process Hub used by the hub, download, CLI and e2e tests.
 *
 * Routes are parsed by hand from one catch-all handler, the way the Hub lays them out. File
 * content (the "CDN" route for LFS files, the resolve route for small git files) is streamed in
 * chunks through SoupServerMessage's wrote-chunk signal, which is what lets faults cut, stall,
 * slow down or corrupt a body at a precise byte and lets tests count every byte served. Written
 * for tests: it trusts its own configuration, but never the request.
 */
#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "smelt-fake-hub.h"

#define CHUNK_SIZE (256 * 1024)

typedef struct
{
  char   *path;
  GBytes *data;
  char   *sha256; /* hex */
  char   *git_sha1;
  gboolean lfs;
  guint64 announced; /* 0 = the real size */
} FakeFile;

typedef struct
{
  char      *id;
  char      *commit;
  gboolean   gated;
  gboolean   is_private;
  gint64     downloads;
  gint64     likes;
  double     trending;
  char      *last_modified;
  GPtrArray *files; /* (element-type FakeFile) */
} FakeRepo;

typedef struct
{
  char             *suffix;
  SmeltFakeHubFault fault;
  guint64           arg;
  guint             count;
} Fault;

typedef struct
{
  char  *path_part;   /* (nullable) */
  guint  status;
  char  *retry_after; /* (nullable) */
  char  *ratelimit;   /* (nullable) */
  guint  count;
} StatusFault;

static void status_fault_free (StatusFault *f);
static void send_error (SoupServerMessage *msg,
                        guint              status,
                        const char        *code,
                        const char        *message);

struct _SmeltFakeHub
{
  SoupServer *server;
  char       *url;
  GHashTable *repos;  /* id -> FakeRepo */
  GPtrArray  *order;  /* FakeRepo, insertion order */
  GPtrArray  *faults; /* Fault */
  GPtrArray  *status_faults; /* StatusFault */
  GHashTable *served; /* path -> guint64 * (bytes served per file path) */
  GPtrArray  *streams;
  char       *token;
  char       *cdn_host;
  GHashTable *aliases; /* old id -> new id */
  char       *last_user_agent;
  guint       requests;
  guint       cdn_auth_requests;
  guint       page_size;
  guint64     bytes_served;
  guint       file_requests;
  GMutex      lock; /* guards served, bytes_served, file_requests */
};

/* ---- data ---------------------------------------------------------------------------------- */

static void
fake_file_free (FakeFile *file)
{
  g_free (file->path);
  g_bytes_unref (file->data);
  g_free (file->sha256);
  g_free (file->git_sha1);
  g_free (file);
}

static void
fake_repo_free (FakeRepo *repo)
{
  g_free (repo->id);
  g_free (repo->commit);
  g_free (repo->last_modified);
  g_ptr_array_unref (repo->files);
  g_free (repo);
}

static void
fault_free (Fault *fault)
{
  g_free (fault->suffix);
  g_free (fault);
}

SmeltFakeHub *
smelt_fake_hub_new (void)
{
  SmeltFakeHub *hub = g_new0 (SmeltFakeHub, 1);

  hub->repos = g_hash_table_new (g_str_hash, g_str_equal);
  hub->order = g_ptr_array_new_with_free_func ((GDestroyNotify) fake_repo_free);
  hub->faults = g_ptr_array_new_with_free_func ((GDestroyNotify) fault_free);
  hub->status_faults = g_ptr_array_new_with_free_func ((GDestroyNotify) status_fault_free);
  hub->served = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  hub->streams = g_ptr_array_new ();
  hub->page_size = 1000;
  hub->aliases = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_mutex_init (&hub->lock);
  return hub;
}

static void stream_abort (gpointer data);

void
smelt_fake_hub_free (SmeltFakeHub *hub)
{
  if (hub == NULL)
    return;
  if (hub->server != NULL)
    soup_server_disconnect (hub->server);
  /* Streams still paused (stalled bodies) are torn down with the server. */
  while (hub->streams->len > 0)
    stream_abort (g_ptr_array_index (hub->streams, hub->streams->len - 1));
  g_clear_object (&hub->server);
  g_ptr_array_unref (hub->streams);
  g_free (hub->url);
  g_hash_table_unref (hub->repos);
  g_ptr_array_unref (hub->order);
  g_ptr_array_unref (hub->faults);
  g_ptr_array_unref (hub->status_faults);
  g_hash_table_unref (hub->served);
  g_free (hub->token);
  g_free (hub->cdn_host);
  g_hash_table_unref (hub->aliases);
  g_free (hub->last_user_agent);
  g_mutex_clear (&hub->lock);
  g_free (hub);
}

static char *
made_up_commit (const char *seed)
{
  g_autofree char *sha256 = g_compute_checksum_for_string (G_CHECKSUM_SHA256, seed, -1);

  return g_strndup (sha256, 40);
}

static FakeRepo *
get_repo (SmeltFakeHub *hub,
          const char   *repo_id)
{
  FakeRepo *repo = g_hash_table_lookup (hub->repos, repo_id);

  if (repo == NULL)
    {
      repo = g_new0 (FakeRepo, 1);
      repo->id = g_strdup (repo_id);
      repo->commit = made_up_commit (repo_id);
      repo->last_modified = g_strdup ("2024-09-25T18:52:26.000Z");
      repo->files = g_ptr_array_new_with_free_func ((GDestroyNotify) fake_file_free);
      g_hash_table_insert (hub->repos, repo->id, repo);
      g_ptr_array_add (hub->order, repo);
    }
  return repo;
}

void
smelt_fake_hub_add_repo (SmeltFakeHub *hub,
                         const char   *repo_id,
                         const char   *commit)
{
  FakeRepo *repo = get_repo (hub, repo_id);

  if (commit != NULL)
    {
      g_free (repo->commit);
      repo->commit = g_strdup (commit);
    }
}

static FakeFile *
find_file (FakeRepo   *repo,
           const char *path)
{
  for (guint i = 0; i < repo->files->len; i++)
    {
      FakeFile *file = g_ptr_array_index (repo->files, i);

      if (strcmp (file->path, path) == 0)
        return file;
    }
  return NULL;
}

void
smelt_fake_hub_add_file (SmeltFakeHub *hub,
                         const char   *repo_id,
                         const char   *path,
                         GBytes       *content)
{
  FakeRepo *repo = get_repo (hub, repo_id);
  FakeFile *file = find_file (repo, path);
  g_autoptr(GChecksum) sha1 = g_checksum_new (G_CHECKSUM_SHA1);
  g_autofree char *header = NULL;
  gsize size = g_bytes_get_size (content);

  if (file != NULL)
    g_ptr_array_remove (repo->files, file);

  file = g_new0 (FakeFile, 1);
  file->path = g_strdup (path);
  file->data = g_bytes_ref (content);
  file->sha256 = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, content);
  header = g_strdup_printf ("blob %" G_GSIZE_FORMAT, size);
  g_checksum_update (sha1, (const guchar *) header, (gssize) strlen (header) + 1);
  g_checksum_update (sha1, g_bytes_get_data (content, NULL), (gssize) size);
  file->git_sha1 = g_strdup (g_checksum_get_string (sha1));
  file->lfs = g_str_has_suffix (path, ".gguf") || size > 1024 || strstr (path, ".gguf") != NULL;
  g_ptr_array_add (repo->files, file);
}

void
smelt_fake_hub_set_stats (SmeltFakeHub *hub,
                          const char   *repo_id,
                          gint64        downloads,
                          gint64        likes,
                          double        trending,
                          const char   *last_modified)
{
  FakeRepo *repo = get_repo (hub, repo_id);

  repo->downloads = downloads;
  repo->likes = likes;
  repo->trending = trending;
  if (last_modified != NULL)
    {
      g_free (repo->last_modified);
      repo->last_modified = g_strdup (last_modified);
    }
}

void
smelt_fake_hub_set_gated (SmeltFakeHub *hub,
                          const char   *repo_id,
                          gboolean      gated)
{
  get_repo (hub, repo_id)->gated = gated;
}

void
smelt_fake_hub_set_private (SmeltFakeHub *hub,
                            const char   *repo_id,
                            gboolean      is_private)
{
  get_repo (hub, repo_id)->is_private = is_private;
}

void
smelt_fake_hub_set_token (SmeltFakeHub *hub,
                          const char   *token)
{
  g_free (hub->token);
  hub->token = g_strdup (token);
}

void
smelt_fake_hub_set_announced_size (SmeltFakeHub *hub,
                                   const char   *repo_id,
                                   const char   *path,
                                   guint64       size)
{
  FakeFile *file = find_file (get_repo (hub, repo_id), path);

  if (file != NULL)
    file->announced = size;
}

void
smelt_fake_hub_add_alias (SmeltFakeHub *hub,
                          const char   *old_id,
                          const char   *new_id)
{
  g_hash_table_replace (hub->aliases, g_strdup (old_id), g_strdup (new_id));
}

guint
smelt_fake_hub_get_requests (SmeltFakeHub *hub)
{
  return hub->requests;
}

const char *
smelt_fake_hub_get_last_user_agent (SmeltFakeHub *hub)
{
  return hub->last_user_agent;
}

void
smelt_fake_hub_set_cdn_host (SmeltFakeHub *hub,
                             const char   *host)
{
  g_free (hub->cdn_host);
  hub->cdn_host = g_strdup (host);
}

guint
smelt_fake_hub_get_cdn_auth_requests (SmeltFakeHub *hub)
{
  return hub->cdn_auth_requests;
}

void
smelt_fake_hub_set_page_size (SmeltFakeHub *hub,
                              guint         page_size)
{
  hub->page_size = MAX (page_size, 1);
}

void
smelt_fake_hub_add_fault (SmeltFakeHub     *hub,
                          const char       *path_suffix,
                          SmeltFakeHubFault fault,
                          guint64           arg,
                          guint             count)
{
  Fault *f = g_new0 (Fault, 1);

  f->suffix = g_strdup (path_suffix);
  f->fault = fault;
  f->arg = arg;
  f->count = count;
  g_ptr_array_add (hub->faults, f);
}

void
smelt_fake_hub_clear_faults (SmeltFakeHub *hub)
{
  g_ptr_array_set_size (hub->faults, 0);
  g_ptr_array_set_size (hub->status_faults, 0);
}

static void
status_fault_free (StatusFault *f)
{
  g_free (f->path_part);
  g_free (f->retry_after);
  g_free (f->ratelimit);
  g_free (f);
}

void
smelt_fake_hub_add_status_fault (SmeltFakeHub *hub,
                                 const char   *path_part,
                                 guint         status,
                                 const char   *retry_after,
                                 const char   *ratelimit,
                                 guint         count)
{
  StatusFault *f = g_new0 (StatusFault, 1);

  f->path_part = g_strdup (path_part);
  f->status = status;
  f->retry_after = g_strdup (retry_after);
  f->ratelimit = g_strdup (ratelimit);
  f->count = count;
  g_ptr_array_add (hub->status_faults, f);
}

/* Answers the request with the first matching status fault; FALSE when none matches. */
static gboolean
apply_status_fault (SmeltFakeHub      *hub,
                    SoupServerMessage *msg,
                    const char        *raw_path)
{
  const char *query = g_uri_get_query (soup_server_message_get_uri (msg));
  g_autofree char *target = g_strconcat (raw_path, query != NULL ? "?" : "", query, NULL);

  for (guint i = 0; i < hub->status_faults->len; i++)
    {
      StatusFault *f = g_ptr_array_index (hub->status_faults, i);
      SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

      if (f->count == 0 || (f->path_part != NULL && strstr (target, f->path_part) == NULL))
        continue;
      f->count--;
      if (f->retry_after != NULL)
        soup_message_headers_replace (headers, "Retry-After", f->retry_after);
      if (f->ratelimit != NULL)
        soup_message_headers_replace (headers, "RateLimit", f->ratelimit);
      send_error (msg, f->status, NULL, "Injected failure");
      return TRUE;
    }
  return FALSE;
}

guint
smelt_fake_hub_get_faults_left (SmeltFakeHub *hub)
{
  guint n = 0;

  for (guint i = 0; i < hub->faults->len; i++)
    n += ((Fault *) g_ptr_array_index (hub->faults, i))->count;
  return n;
}

guint64
smelt_fake_hub_get_bytes_served (SmeltFakeHub *hub,
                                 const char   *path_suffix)
{
  GHashTableIter iter;
  gpointer key, value;
  guint64 total = 0;

  g_mutex_lock (&hub->lock);
  if (path_suffix == NULL)
    total = hub->bytes_served;
  else
    {
      g_hash_table_iter_init (&iter, hub->served);
      while (g_hash_table_iter_next (&iter, &key, &value))
        if (g_str_has_suffix (key, path_suffix))
          total += *(guint64 *) value;
    }
  g_mutex_unlock (&hub->lock);
  return total;
}

guint
smelt_fake_hub_get_file_requests (SmeltFakeHub *hub)
{
  guint n;

  g_mutex_lock (&hub->lock);
  n = hub->file_requests;
  g_mutex_unlock (&hub->lock);
  return n;
}

const char *
smelt_fake_hub_get_sha256 (SmeltFakeHub *hub,
                           const char   *repo_id,
                           const char   *path)
{
  FakeRepo *repo = g_hash_table_lookup (hub->repos, repo_id);
  FakeFile *file = repo != NULL ? find_file (repo, path) : NULL;

  return file != NULL ? file->sha256 : NULL;
}

const char *
smelt_fake_hub_get_commit (SmeltFakeHub *hub,
                           const char   *repo_id)
{
  FakeRepo *repo = g_hash_table_lookup (hub->repos, repo_id);

  return repo != NULL ? repo->commit : NULL;
}

static gboolean
load_tree (SmeltFakeHub *hub,
           const char   *repo_id,
           const char   *base,
           const char   *rel,
           GError      **error)
{
  g_autofree char *dir_path = rel[0] != '\0' ? g_build_filename (base, rel, NULL) : g_strdup (base);
  g_autoptr(GDir) dir = g_dir_open (dir_path, 0, error);
  const char *name;

  if (dir == NULL)
    return FALSE;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child_rel = rel[0] != '\0' ? g_strconcat (rel, "/", name, NULL) : g_strdup (name);
      g_autofree char *full = g_build_filename (base, child_rel, NULL);

      if (g_file_test (full, G_FILE_TEST_IS_DIR))
        {
          if (!load_tree (hub, repo_id, base, child_rel, error))
            return FALSE;
        }
      else if (g_file_test (full, G_FILE_TEST_IS_REGULAR))
        {
          g_autoptr(GMappedFile) mapped = g_mapped_file_new (full, FALSE, error);
          g_autoptr(GBytes) bytes = NULL;

          if (mapped == NULL)
            return FALSE;
          bytes = g_mapped_file_get_bytes (mapped);
          smelt_fake_hub_add_file (hub, repo_id, child_rel, bytes);
        }
    }
  return TRUE;
}

gboolean
smelt_fake_hub_load_dir (SmeltFakeHub *hub,
                         const char   *root,
                         GError      **error)
{
  g_autoptr(GDir) orgs = g_dir_open (root, 0, error);
  const char *org;

  if (orgs == NULL)
    return FALSE;
  while ((org = g_dir_read_name (orgs)) != NULL)
    {
      g_autofree char *org_path = g_build_filename (root, org, NULL);
      g_autoptr(GDir) names = NULL;
      const char *name;

      if (!g_file_test (org_path, G_FILE_TEST_IS_DIR))
        continue;
      names = g_dir_open (org_path, 0, error);
      if (names == NULL)
        return FALSE;
      while ((name = g_dir_read_name (names)) != NULL)
        {
          g_autofree char *repo_path = g_build_filename (org_path, name, NULL);
          g_autofree char *repo_id = g_strconcat (org, "/", name, NULL);

          if (!g_file_test (repo_path, G_FILE_TEST_IS_DIR))
            continue;
          get_repo (hub, repo_id);
          if (!load_tree (hub, repo_id, repo_path, "", error))
            return FALSE;
        }
    }
  return TRUE;
}

/* ---- helpers ------------------------------------------------------------------------------- */

static void
send_json (SoupServerMessage *msg,
           guint              status,
           JsonBuilder       *builder)
{
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = json_builder_get_root (builder);
  gsize len;
  char *text;

  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, &len);
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, text, len);
}

static void
send_error (SoupServerMessage *msg,
            guint              status,
            const char        *code,
            const char        *message)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  g_autoptr(JsonBuilder) b = json_builder_new ();

  if (code != NULL)
    soup_message_headers_replace (headers, "X-Error-Code", code);
  soup_message_headers_replace (headers, "X-Error-Message", message);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "error");
  json_builder_add_string_value (b, message);
  json_builder_end_object (b);
  send_json (msg, status, b);
}

static gboolean
has_token (SmeltFakeHub      *hub,
           SoupServerMessage *msg,
           gboolean          *sent_any)
{
  const char *auth = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                   "Authorization");

  *sent_any = auth != NULL;
  return auth != NULL && hub->token != NULL && g_str_has_prefix (auth, "Bearer ")
         && strcmp (auth + 7, hub->token) == 0;
}

/* Private repos are invisible without the token: 401 RepoNotFound, as the Hub does. */
static FakeRepo *
visible_repo (SmeltFakeHub      *hub,
              SoupServerMessage *msg,
              const char        *repo_id)
{
  FakeRepo *repo = g_hash_table_lookup (hub->repos, repo_id);
  gboolean sent;

  if (repo == NULL)
    {
      send_error (msg, 404, "RepoNotFound", "Repository not found");
      return NULL;
    }
  if (repo->is_private && !has_token (hub, msg, &sent))
    {
      send_error (msg, 401, "RepoNotFound",
                  sent ? "Invalid credentials in Authorization header" : "Repository not found");
      return NULL;
    }
  return repo;
}

static gboolean
check_rev (SoupServerMessage *msg,
           FakeRepo          *repo,
           const char        *rev)
{
  if (strcmp (rev, "main") == 0 || strcmp (rev, repo->commit) == 0)
    return TRUE;
  send_error (msg, 404, "RevisionNotFound", "Invalid rev id");
  return FALSE;
}

static gboolean
repo_has_gguf (FakeRepo *repo)
{
  for (guint i = 0; i < repo->files->len; i++)
    if (strstr (((FakeFile *) g_ptr_array_index (repo->files, i))->path, ".gguf") != NULL)
      return TRUE;
  return FALSE;
}

static char *
next_link (SoupServerMessage *msg,
           GHashTable        *query,
           guint              next_offset)
{
  GUri *uri = soup_server_message_get_uri (msg);
  g_autoptr(GHashTable) params = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree char *cursor = g_strdup_printf ("%u", next_offset);
  g_autofree char *encoded = NULL;

  if (query != NULL)
    {
      GHashTableIter iter;
      gpointer key, value;

      g_hash_table_iter_init (&iter, query);
      while (g_hash_table_iter_next (&iter, &key, &value))
        g_hash_table_insert (params, key, value);
    }
  g_hash_table_insert (params, (gpointer) "cursor", cursor);
  encoded = soup_form_encode_hash (params);
  return g_strdup_printf ("<%s://%s:%d%s?%s>; rel=\"next\"", g_uri_get_scheme (uri),
                          g_uri_get_host (uri), g_uri_get_port (uri), g_uri_get_path (uri), encoded);
}

static const char *
query_get (SoupServerMessage *msg,
           GHashTable        *query,
           const char        *key)
{
  return query != NULL ? g_hash_table_lookup (query, key) : NULL;
}

static guint
page_limit (SmeltFakeHub *hub,
            GHashTable   *query,
            guint        *offset)
{
  const char *limit = query != NULL ? g_hash_table_lookup (query, "limit") : NULL;
  const char *cursor = query != NULL ? g_hash_table_lookup (query, "cursor") : NULL;
  guint n = hub->page_size;

  if (limit != NULL && g_ascii_strtoull (limit, NULL, 10) > 0)
    n = MIN (n, (guint) g_ascii_strtoull (limit, NULL, 10));
  *offset = cursor != NULL ? (guint) g_ascii_strtoull (cursor, NULL, 10) : 0;
  return n;
}

/* ---- API routes ---------------------------------------------------------------------------- */

static int
sort_repos (gconstpointer a,
            gconstpointer b,
            gpointer      user_data)
{
  const FakeRepo *ra = *(FakeRepo * const *) a;
  const FakeRepo *rb = *(FakeRepo * const *) b;
  const char *sort = user_data;

  if (g_strcmp0 (sort, "downloads") == 0 && ra->downloads != rb->downloads)
    return ra->downloads > rb->downloads ? -1 : 1;
  if (g_strcmp0 (sort, "likes") == 0 && ra->likes != rb->likes)
    return ra->likes > rb->likes ? -1 : 1;
  if (g_strcmp0 (sort, "trendingScore") == 0 && ra->trending != rb->trending)
    return ra->trending > rb->trending ? -1 : 1;
  if (g_strcmp0 (sort, "lastModified") == 0)
    {
      int c = g_strcmp0 (rb->last_modified, ra->last_modified);

      if (c != 0)
        return c;
    }
  return g_strcmp0 (ra->id, rb->id);
}

static void
add_repo_summary (JsonBuilder *b,
                  FakeRepo    *repo)
{
  g_autofree char *author = g_strndup (repo->id, strcspn (repo->id, "/"));

  json_builder_set_member_name (b, "_id");
  json_builder_add_string_value (b, repo->commit + 16);
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, repo->id);
  json_builder_set_member_name (b, "modelId");
  json_builder_add_string_value (b, repo->id);
  json_builder_set_member_name (b, "author");
  json_builder_add_string_value (b, author);
  json_builder_set_member_name (b, "sha");
  json_builder_add_string_value (b, repo->commit);
  json_builder_set_member_name (b, "lastModified");
  json_builder_add_string_value (b, repo->last_modified);
  json_builder_set_member_name (b, "private");
  json_builder_add_boolean_value (b, repo->is_private);
  json_builder_set_member_name (b, "gated");
  if (repo->gated)
    json_builder_add_string_value (b, "manual");
  else
    json_builder_add_boolean_value (b, FALSE);
  json_builder_set_member_name (b, "downloads");
  json_builder_add_int_value (b, repo->downloads);
  json_builder_set_member_name (b, "likes");
  json_builder_add_int_value (b, repo->likes);
  json_builder_set_member_name (b, "trendingScore");
  json_builder_add_double_value (b, repo->trending);
  json_builder_set_member_name (b, "library_name");
  json_builder_add_string_value (b, repo_has_gguf (repo) ? "gguf" : "transformers");
  json_builder_set_member_name (b, "tags");
  json_builder_begin_array (b);
  if (repo_has_gguf (repo))
    json_builder_add_string_value (b, "gguf");
  json_builder_add_string_value (b, "text-generation");
  json_builder_end_array (b);
}

static void
handle_search (SmeltFakeHub      *hub,
               SoupServerMessage *msg,
               GHashTable        *query)
{
  const char *search = query_get (msg, query, "search");
  const char *filter = query_get (msg, query, "filter");
  const char *sort = query_get (msg, query, "sort");
  g_autoptr(GPtrArray) hits = g_ptr_array_new ();
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autofree char *needle = search != NULL ? g_utf8_strdown (search, -1) : NULL;
  guint offset, n, i;

  for (i = 0; i < hub->order->len; i++)
    {
      FakeRepo *repo = g_ptr_array_index (hub->order, i);
      g_autofree char *id = g_utf8_strdown (repo->id, -1);

      if (repo->is_private)
        continue;
      if (needle != NULL && strstr (id, needle) == NULL)
        continue;
      if (g_strcmp0 (filter, "gguf") == 0 && !repo_has_gguf (repo))
        continue;
      g_ptr_array_add (hits, repo);
    }
  g_ptr_array_sort_with_data (hits, sort_repos, (gpointer) sort);

  n = page_limit (hub, query, &offset);
  json_builder_begin_array (b);
  for (i = offset; i < hits->len && i < offset + n; i++)
    {
      json_builder_begin_object (b);
      add_repo_summary (b, g_ptr_array_index (hits, i));
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  if (offset + n < hits->len)
    {
      g_autofree char *link = next_link (msg, query, offset + n);

      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Link", link);
    }
  send_json (msg, 200, b);
}

static void
handle_info (SmeltFakeHub      *hub,
             SoupServerMessage *msg,
             FakeRepo          *repo,
             GHashTable        *query)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  gboolean blobs = g_strcmp0 (query_get (msg, query, "blobs"), "true") == 0;

  json_builder_begin_object (b);
  add_repo_summary (b, repo);
  if (repo_has_gguf (repo))
    {
      json_builder_set_member_name (b, "gguf");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "total");
      json_builder_add_int_value (b, 3212749888);
      json_builder_set_member_name (b, "architecture");
      json_builder_add_string_value (b, "llama");
      json_builder_set_member_name (b, "context_length");
      json_builder_add_int_value (b, 131072);
      json_builder_end_object (b);
    }
  json_builder_set_member_name (b, "siblings");
  json_builder_begin_array (b);
  for (guint i = 0; i < repo->files->len; i++)
    {
      FakeFile *file = g_ptr_array_index (repo->files, i);

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "rfilename");
      json_builder_add_string_value (b, file->path);
      if (blobs)
        {
          json_builder_set_member_name (b, "size");
          json_builder_add_int_value (b, (gint64) g_bytes_get_size (file->data));
          if (file->lfs)
            {
              json_builder_set_member_name (b, "lfs");
              json_builder_begin_object (b);
              json_builder_set_member_name (b, "sha256");
              json_builder_add_string_value (b, file->sha256);
              json_builder_set_member_name (b, "size");
              json_builder_add_int_value (b, (gint64) g_bytes_get_size (file->data));
              json_builder_end_object (b);
            }
        }
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  send_json (msg, 200, b);
}

static void
handle_tree (SmeltFakeHub      *hub,
             SoupServerMessage *msg,
             FakeRepo          *repo,
             const char        *prefix,
             GHashTable        *query)
{
  const char *rec = query_get (msg, query, "recursive");
  gboolean recursive = g_strcmp0 (rec, "true") == 0 || g_strcmp0 (rec, "1") == 0;
  g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func (g_free); /* "d:path" / "f:path" */
  g_autoptr(GHashTable) dirs = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(JsonBuilder) b = json_builder_new ();
  gsize plen = prefix != NULL ? strlen (prefix) : 0;
  guint offset, n;

  for (guint i = 0; i < repo->files->len; i++)
    {
      FakeFile *file = g_ptr_array_index (repo->files, i);
      const char *rest = file->path;
      const char *slash;

      if (plen > 0)
        {
          if (strncmp (file->path, prefix, plen) != 0 || file->path[plen] != '/')
            continue;
          rest = file->path + plen + 1;
        }
      /* Directory entries for every folder on the way down. */
      for (slash = strchr (rest, '/'); slash != NULL; slash = strchr (slash + 1, '/'))
        {
          g_autofree char *dir = g_strndup (file->path, (gsize) (slash - file->path));

          if (!g_hash_table_contains (dirs, dir))
            {
              char *entry = g_strconcat ("d:", dir, NULL);

              g_hash_table_add (dirs, entry + 2);
              g_ptr_array_add (entries, entry);
            }
          if (!recursive)
            break;
        }
      if (recursive || strchr (rest, '/') == NULL)
        g_ptr_array_add (entries, g_strconcat ("f:", file->path, NULL));
    }
  if (plen > 0 && entries->len == 0)
    {
      send_error (msg, 404, "EntryNotFound", "Entry not found");
      return;
    }

  n = page_limit (hub, query, &offset);
  json_builder_begin_array (b);
  for (guint i = offset; i < entries->len && i < offset + n; i++)
    {
      const char *entry = g_ptr_array_index (entries, i);

      json_builder_begin_object (b);
      if (entry[0] == 'd')
        {
          json_builder_set_member_name (b, "type");
          json_builder_add_string_value (b, "directory");
          json_builder_set_member_name (b, "oid");
          json_builder_add_string_value (b, "8d2c1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d");
          json_builder_set_member_name (b, "size");
          json_builder_add_int_value (b, 0);
        }
      else
        {
          FakeFile *file = find_file (repo, entry + 2);

          json_builder_set_member_name (b, "type");
          json_builder_add_string_value (b, "file");
          json_builder_set_member_name (b, "oid");
          json_builder_add_string_value (b, file->git_sha1);
          json_builder_set_member_name (b, "size");
          json_builder_add_int_value (b, (gint64) g_bytes_get_size (file->data));
          if (file->lfs)
            {
              json_builder_set_member_name (b, "lfs");
              json_builder_begin_object (b);
              json_builder_set_member_name (b, "oid");
              json_builder_add_string_value (b, file->sha256);
              json_builder_set_member_name (b, "size");
              json_builder_add_int_value (b, (gint64) g_bytes_get_size (file->data));
              json_builder_set_member_name (b, "pointerSize");
              json_builder_add_int_value (b, 134);
              json_builder_end_object (b);
            }
        }
      json_builder_set_member_name (b, "path");
      json_builder_add_string_value (b, entry + 2);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  if (offset + n < entries->len)
    {
      g_autofree char *link = next_link (msg, query, offset + n);

      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Link", link);
    }
  send_json (msg, 200, b);
}

static void
handle_refs (SoupServerMessage *msg,
             FakeRepo          *repo)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "branches");
  json_builder_begin_array (b);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, "main");
  json_builder_set_member_name (b, "ref");
  json_builder_add_string_value (b, "refs/heads/main");
  json_builder_set_member_name (b, "targetCommit");
  json_builder_add_string_value (b, repo->commit);
  json_builder_end_object (b);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "converts");
  json_builder_begin_array (b);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "tags");
  json_builder_begin_array (b);
  json_builder_end_array (b);
  json_builder_end_object (b);
  send_json (msg, 200, b);
}

/* ---- file content -------------------------------------------------------------------------- */

typedef enum
{
  END_COMPLETE,
  END_DROP,
  END_STALL,
} EndAction;

typedef struct
{
  SmeltFakeHub      *hub;
  SoupServerMessage *msg;
  GBytes            *data;
  char              *path;
  guint64            pos;      /* next file offset to append */
  guint64            end;      /* exclusive */
  guint64            stop_at;  /* file offset where the EndAction happens */
  EndAction          action;
  guint64            flip_at;  /* file offset to corrupt, G_MAXUINT64 = none */
  guint64            per_tick; /* SLOW: bytes per tick, 0 = unthrottled */
  guint64            pending;  /* bytes appended, not yet reported written */
  guint              timeout_id;
  guint              idle_id;
  gulong             wrote_id;
  gulong             finished_id;
  gulong             disconnected_id;
} Stream;

static void
stream_free (Stream *s)
{
  g_ptr_array_remove (s->hub->streams, s);
  g_clear_handle_id (&s->timeout_id, g_source_remove);
  g_clear_handle_id (&s->idle_id, g_source_remove);
  g_clear_signal_handler (&s->wrote_id, s->msg);
  g_clear_signal_handler (&s->finished_id, s->msg);
  g_clear_signal_handler (&s->disconnected_id, s->msg);
  g_object_unref (s->msg);
  g_bytes_unref (s->data);
  g_free (s->path);
  g_free (s);
}

static void
count_served (SmeltFakeHub *hub,
              const char   *path,
              guint64       n)
{
  guint64 *slot;

  g_mutex_lock (&hub->lock);
  hub->bytes_served += n;
  slot = g_hash_table_lookup (hub->served, path);
  if (slot == NULL)
    {
      slot = g_new0 (guint64, 1);
      g_hash_table_insert (hub->served, g_strdup (path), slot);
    }
  *slot += n;
  g_mutex_unlock (&hub->lock);
}

static void
stream_abort (gpointer data)
{
  Stream *s = data;
  GIOStream *io;

  /* Stealing the connection takes it from the server; closing it is what the client sees as
   * a connection dropped mid-body. */
  g_clear_signal_handler (&s->wrote_id, s->msg);
  g_clear_signal_handler (&s->finished_id, s->msg);
  g_clear_signal_handler (&s->disconnected_id, s->msg);
  io = soup_server_message_steal_connection (s->msg);
  if (io != NULL)
    {
      g_io_stream_close (io, NULL, NULL);
      g_object_unref (io);
    }
  stream_free (s);
}

static gboolean
stream_drop_cb (gpointer data)
{
  Stream *s = data;

  s->idle_id = 0;
  stream_abort (s);
  return G_SOURCE_REMOVE;
}

/* Appends the next chunk; returns FALSE when nothing could be appended now. */
static gboolean
stream_push (Stream *s)
{
  SoupMessageBody *body = soup_server_message_get_response_body (s->msg);
  guint64 limit = MIN (s->end, s->stop_at);
  guint64 n;

  if (s->pos >= s->end)
    {
      soup_message_body_complete (body);
      return TRUE;
    }
  if (s->pos >= limit)
    {
      if (s->action == END_DROP && s->idle_id == 0)
        s->idle_id = g_idle_add (stream_drop_cb, s);
      return FALSE;
    }
  n = MIN (limit - s->pos, CHUNK_SIZE);
  if (s->per_tick > 0)
    n = MIN (n, s->per_tick);

  if (s->flip_at >= s->pos && s->flip_at < s->pos + n)
    {
      guchar *copy = g_malloc (n);

      memcpy (copy, (const guchar *) g_bytes_get_data (s->data, NULL) + s->pos, n);
      copy[s->flip_at - s->pos] ^= 0x5a;
      soup_message_body_append (body, SOUP_MEMORY_TAKE, copy, n);
    }
  else
    {
      g_autoptr(GBytes) piece = g_bytes_new_from_bytes (s->data, s->pos, n);

      soup_message_body_append_bytes (body, piece);
    }
  s->pos += n;
  s->pending = n;
  return TRUE;
}

static gboolean
stream_tick_cb (gpointer data)
{
  Stream *s = data;

  s->timeout_id = 0;
  if (stream_push (s))
    soup_server_message_unpause (s->msg);
  return G_SOURCE_REMOVE;
}

static void
on_wrote_chunk_cb (SoupServerMessage *msg,
                   gpointer           data)
{
  Stream *s = data;

  count_served (s->hub, s->path, s->pending);
  s->pending = 0;
  if (s->per_tick > 0)
    {
      if (s->timeout_id == 0)
        s->timeout_id = g_timeout_add (10, stream_tick_cb, s);
      return;
    }
  stream_push (s);
}

static void
on_finished_cb (SoupServerMessage *msg,
                gpointer           data)
{
  stream_free (data);
}

static Fault *
take_fault (SmeltFakeHub *hub,
            const char   *path)
{
  for (guint i = 0; i < hub->faults->len; i++)
    {
      Fault *f = g_ptr_array_index (hub->faults, i);

      if (f->count > 0 && (f->suffix == NULL || g_str_has_suffix (path, f->suffix)))
        {
          f->count--;
          return f;
        }
    }
  return NULL;
}

/* Parses "bytes=a-b" / "bytes=a-"; FALSE when absent or unsatisfiable. */
static gboolean
parse_range (SoupServerMessage *msg,
             guint64            size,
             guint64           *start,
             guint64           *end)
{
  const char *range = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                    "Range");
  char *rest;
  guint64 a, b;

  if (range == NULL || !g_str_has_prefix (range, "bytes="))
    return FALSE;
  range += 6;
  if (!g_ascii_isdigit (*range))
    return FALSE;
  a = g_ascii_strtoull (range, &rest, 10);
  if (*rest != '-')
    return FALSE;
  rest++;
  b = *rest != '\0' ? g_ascii_strtoull (rest, NULL, 10) + 1 : size;
  if (b > size)
    b = size;
  if (a >= b)
    return FALSE;
  *start = a;
  *end = b;
  return TRUE;
}

static void
serve_content (SmeltFakeHub      *hub,
               SoupServerMessage *msg,
               FakeFile          *file,
               const char        *etag,
               gboolean           is_head)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  guint64 size = g_bytes_get_size (file->data);
  guint64 start = 0, end = size;
  gboolean ranged;
  Fault *fault = NULL;
  Stream *s;

  soup_message_headers_replace (headers, "Accept-Ranges", "bytes");
  soup_message_headers_replace (headers, "ETag", etag);
  if (is_head)
    {
      soup_server_message_set_status (msg, 200, NULL);
      soup_message_headers_set_content_length (headers, (goffset) size);
      return;
    }

  g_mutex_lock (&hub->lock);
  hub->file_requests++;
  g_mutex_unlock (&hub->lock);

  fault = take_fault (hub, file->path);
  if (fault != NULL && fault->fault == SMELT_FAKE_HUB_FAULT_STATUS_500)
    {
      send_error (msg, 500, NULL, "Internal Error");
      return;
    }
  if (fault != NULL && fault->fault == SMELT_FAKE_HUB_FAULT_STATUS_429)
    {
      g_autofree char *after = g_strdup_printf ("%" G_GUINT64_FORMAT, fault->arg);

      soup_message_headers_replace (headers, "Retry-After", after);
      send_error (msg, 429, NULL, "Too Many Requests");
      return;
    }

  ranged = parse_range (msg, size, &start, &end);
  if (!ranged && soup_message_headers_get_one (soup_server_message_get_request_headers (msg), "Range") != NULL)
    {
      g_autofree char *cr = g_strdup_printf ("bytes */%" G_GUINT64_FORMAT, size);

      soup_message_headers_replace (headers, "Content-Range", cr);
      soup_server_message_set_status (msg, 416, NULL);
      return;
    }
  if (fault != NULL && fault->fault == SMELT_FAKE_HUB_FAULT_IGNORE_RANGE)
    {
      ranged = FALSE;
      start = 0;
      end = size;
    }
  if (ranged)
    {
      g_autofree char *cr = g_strdup_printf ("bytes %" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT
                                             "/%" G_GUINT64_FORMAT, start, end - 1, size);

      soup_message_headers_replace (headers, "Content-Range", cr);
      soup_server_message_set_status (msg, 206, NULL);
    }
  else
    soup_server_message_set_status (msg, 200, NULL);
  soup_message_headers_replace (headers, "Content-Type", "application/octet-stream");
  soup_message_headers_set_encoding (headers, SOUP_ENCODING_CONTENT_LENGTH);
  soup_message_headers_set_content_length (headers, (goffset) (end - start));

  s = g_new0 (Stream, 1);
  s->hub = hub;
  s->msg = g_object_ref (msg);
  s->data = g_bytes_ref (file->data);
  s->path = g_strdup (file->path);
  s->pos = start;
  s->end = end;
  s->stop_at = G_MAXUINT64;
  s->flip_at = G_MAXUINT64;
  s->action = END_COMPLETE;
  if (fault != NULL)
    {
      switch (fault->fault)
        {
        case SMELT_FAKE_HUB_FAULT_DROP:
          s->stop_at = start + fault->arg;
          s->action = END_DROP;
          break;
        case SMELT_FAKE_HUB_FAULT_SHORT:
          s->stop_at = end > fault->arg ? end - fault->arg : start;
          s->action = END_DROP;
          break;
        case SMELT_FAKE_HUB_FAULT_STALL:
          s->stop_at = start + fault->arg;
          s->action = END_STALL;
          break;
        case SMELT_FAKE_HUB_FAULT_WRONG_BYTES:
          s->flip_at = start + MIN (fault->arg, end - start - 1);
          break;
        case SMELT_FAKE_HUB_FAULT_SLOW:
          s->per_tick = MAX (fault->arg, 1);
          break;
        case SMELT_FAKE_HUB_FAULT_STATUS_500:
        case SMELT_FAKE_HUB_FAULT_STATUS_429:
        case SMELT_FAKE_HUB_FAULT_IGNORE_RANGE:
        default:
          break;
        }
      if (s->action == END_DROP)
        soup_message_headers_replace (headers, "Connection", "close");
    }
  soup_message_body_set_accumulate (soup_server_message_get_response_body (msg), FALSE);
  g_ptr_array_add (hub->streams, s);
  s->wrote_id = g_signal_connect (msg, "wrote-chunk", G_CALLBACK (on_wrote_chunk_cb), s);
  s->finished_id = g_signal_connect (msg, "finished", G_CALLBACK (on_finished_cb), s);
  s->disconnected_id = g_signal_connect (msg, "disconnected", G_CALLBACK (on_finished_cb), s);
  stream_push (s);
}

static void
handle_resolve (SmeltFakeHub      *hub,
                SoupServerMessage *msg,
                FakeRepo          *repo,
                const char        *rev,
                const char        *path,
                gboolean           is_head)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  FakeFile *file;
  gboolean sent;

  if (!check_rev (msg, repo, rev))
    return;
  soup_message_headers_replace (headers, "X-Repo-Commit", repo->commit);
  file = find_file (repo, path);
  if (file == NULL)
    {
      send_error (msg, 404, "EntryNotFound", "Entry not found");
      return;
    }
  if (repo->gated && !has_token (hub, msg, &sent))
    {
      if (sent)
        send_error (msg, 403, "GatedRepo",
                    "Access to this model is restricted and you are not in the authorized list.");
      else
        send_error (msg, 401, "GatedRepo",
                    "Access to this model is restricted. You must have access to it and be "
                    "authenticated to access it. Please log in.");
      return;
    }

  if (file->lfs)
    {
      GUri *uri = soup_server_message_get_uri (msg);
      g_autofree char *escaped = g_uri_escape_string (file->path, "/", FALSE);
      g_autofree char *location = g_strdup_printf ("http://%s:%d/cdn/%s/%s?Expires=4102444800",
                                                   hub->cdn_host != NULL ? hub->cdn_host : g_uri_get_host (uri),
                                                   g_uri_get_port (uri),
                                                   repo->id, escaped);
      g_autofree char *etag = g_strdup_printf ("\"%s\"", file->sha256);
      g_autofree char *size = g_strdup_printf ("%" G_GUINT64_FORMAT,
                                               file->announced != 0 ? file->announced
                                                                    : (guint64) g_bytes_get_size (file->data));

      soup_message_headers_replace (headers, "X-Linked-Etag", etag);
      soup_message_headers_replace (headers, "X-Linked-Size", size);
      soup_message_headers_replace (headers, "ETag", etag);
      soup_message_headers_replace (headers, "Location", location);
      soup_server_message_set_status (msg, 302, NULL);
      return;
    }
  {
    g_autofree char *etag = g_strdup_printf ("\"%s\"", file->git_sha1);

    serve_content (hub, msg, file, etag, is_head);
  }
}

static void
handle_cdn (SmeltFakeHub      *hub,
            SoupServerMessage *msg,
            char             **segs,
            guint              n_segs,
            gboolean           is_head)
{
  g_autofree char *repo_id = NULL;
  g_autofree char *path = NULL;
  FakeRepo *repo;
  FakeFile *file;
  g_autofree char *etag = NULL;

  if (n_segs < 4)
    {
      send_error (msg, 404, NULL, "Not found");
      return;
    }
  repo_id = g_strconcat (segs[1], "/", segs[2], NULL);
  path = g_strjoinv ("/", segs + 3);
  repo = g_hash_table_lookup (hub->repos, repo_id);
  file = repo != NULL ? find_file (repo, path) : NULL;
  if (file == NULL)
    {
      send_error (msg, 404, NULL, "Not found");
      return;
    }
  if (soup_message_headers_get_one (soup_server_message_get_request_headers (msg), "Authorization") != NULL)
    hub->cdn_auth_requests++;
  /* The CDN's own etag is some other hash, as on the real Hub. */
  etag = g_strdup_printf ("\"cdn-%.16s\"", file->sha256);
  serve_content (hub, msg, file, etag, is_head);
}

static void
server_cb (SoupServer        *server,
           SoupServerMessage *msg,
           const char        *raw_path,
           GHashTable        *query,
           gpointer           user_data)
{
  SmeltFakeHub *hub = user_data;
  const char *method = soup_server_message_get_method (msg);
  gboolean is_head = g_strcmp0 (method, "HEAD") == 0;
  g_auto(GStrv) segs = NULL;
  guint n;

  hub->requests++;
  g_free (hub->last_user_agent);
  hub->last_user_agent = g_strdup (soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                                 "User-Agent"));
  if (!is_head && g_strcmp0 (method, "GET") != 0)
    {
      soup_server_message_set_status (msg, 405, NULL);
      return;
    }
  if (apply_status_fault (hub, msg, raw_path))
    return;

  /* Split the raw path, then unescape each segment: a '%2F' inside a segment stays inside. */
  {
    g_auto(GStrv) raw = g_strsplit (raw_path + (raw_path[0] == '/'), "/", -1);
    GPtrArray *out = g_ptr_array_new ();

    for (guint i = 0; raw[i] != NULL; i++)
      {
        char *seg = g_uri_unescape_string (raw[i], NULL);

        if (seg == NULL)
          seg = g_strdup (raw[i]);
        g_ptr_array_add (out, seg);
      }
    g_ptr_array_add (out, NULL);
    segs = (GStrv) g_ptr_array_free (out, FALSE);
  }
  n = g_strv_length (segs);

  if (n >= 2 && strcmp (segs[0], "api") == 0 && strcmp (segs[1], "models") == 0)
    {
      g_autofree char *repo_id = NULL;
      FakeRepo *repo;

      if (n == 2 || (n == 3 && segs[2][0] == '\0'))
        {
          handle_search (hub, msg, query);
          return;
        }
      if (n < 4)
        {
          send_error (msg, 404, "RepoNotFound", "Repository not found");
          return;
        }
      repo_id = g_strconcat (segs[2], "/", segs[3], NULL);
      repo = visible_repo (hub, msg, repo_id);
      if (repo == NULL)
        return;
      if (n == 4)
        handle_info (hub, msg, repo, query);
      else if (n == 6 && strcmp (segs[4], "revision") == 0)
        {
          if (check_rev (msg, repo, segs[5]))
            handle_info (hub, msg, repo, query);
        }
      else if (n >= 6 && strcmp (segs[4], "tree") == 0)
        {
          g_autofree char *prefix = n > 6 ? g_strjoinv ("/", segs + 6) : NULL;

          if (check_rev (msg, repo, segs[5]))
            handle_tree (hub, msg, repo, prefix, query);
        }
      else if (n == 5 && strcmp (segs[4], "refs") == 0)
        handle_refs (msg, repo);
      else
        send_error (msg, 404, NULL, "Not found");
      return;
    }

  if (n >= 1 && strcmp (segs[0], "cdn") == 0)
    {
      handle_cdn (hub, msg, segs, n, is_head);
      return;
    }

  if (n >= 5 && strcmp (segs[2], "resolve") == 0)
    {
      g_autofree char *repo_id = g_strconcat (segs[0], "/", segs[1], NULL);
      g_autofree char *path = g_strjoinv ("/", segs + 4);
      const char *renamed = g_hash_table_lookup (hub->aliases, repo_id);
      FakeRepo *repo;

      if (renamed != NULL)
        {
          /* A relative redirect, raw path kept (it is already escaped). */
          const char *rest = strstr (raw_path, "/resolve/");
          g_autofree char *location = g_strconcat ("/", renamed, rest, NULL);

          soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Location", location);
          soup_server_message_set_status (msg, 307, NULL);
          return;
        }
      repo = visible_repo (hub, msg, repo_id);

      if (repo != NULL)
        handle_resolve (hub, msg, repo, segs[3], path, is_head);
      return;
    }

  send_error (msg, 404, NULL, "Not found");
}

gboolean
smelt_fake_hub_start (SmeltFakeHub *hub,
                      guint         port,
                      GError      **error)
{
  g_autoptr(GSList) uris = NULL;
  g_autoptr(GInetAddress) loopback = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  GUri *uri;

  g_return_val_if_fail (hub->server == NULL, FALSE);

  hub->server = soup_server_new ("server-header", "fake-hub", NULL);
  soup_server_add_handler (hub->server, NULL, server_cb, hub, NULL);
  loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  address = g_inet_socket_address_new (loopback, (guint16) port);
  if (!soup_server_listen (hub->server, address, 0, error))
    return FALSE;
  uris = soup_server_get_uris (hub->server);
  uri = uris->data;
  hub->url = g_strdup_printf ("http://127.0.0.1:%d", g_uri_get_port (uri));
  g_slist_free_full (g_steal_pointer (&uris), (GDestroyNotify) g_uri_unref);
  return TRUE;
}

const char *
smelt_fake_hub_get_url (SmeltFakeHub *hub)
{
  return hub->url;
}
