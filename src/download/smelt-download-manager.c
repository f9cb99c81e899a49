/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-download-manager.c: SmeltDownloadManager and its curl worker thread.
 *
 * Main thread: the GObject, a mirror of job snapshots for list()/get_info(), and the signals.
 * Worker thread: one CURLM, every job's live state, HEADs, ranged GETs, the hasher threads (one
 * per file in transfer), verification, the atomic renames and the state file. Commands go in
 * through a GAsyncQueue + curl_multi_wakeup; snapshots come out through
 * g_main_context_invoke_full, throttled to 20 Hz per job, checked against a GWeakRef.
 *
 * Hashing design: data arrives out of order (parallel chunks), so sha256 is computed by a hasher
 * thread that reads the `.part` file back in order, following the "frontier" — the end of the
 * longest fully written prefix. Chunks are small (16 MiB) and handed out in file order, so the
 * frontier trails the newest bytes by about `connections` chunks and the re-read hits the page
 * cache. On resume the hasher simply starts at byte 0, which covers the existing prefix. The
 * digest is final only when every chunk is complete; then size and hash are checked before the
 * rename. Not for the Hub's JSON API (src/hub/) nor for the library index (src/library/).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <glib/gstdio.h>

#ifdef HAVE_LIBCRYPTO
#include <openssl/evp.h>
#endif

#include "smelt-download-private.h"

#define DEFAULT_CHUNK_SIZE (16 * 1024 * 1024)
#define POST_INTERVAL_US   (G_USEC_PER_SEC / 20)
#define SAVE_INTERVAL_US   (G_USEC_PER_SEC / 2)

/* ---- hasher thread ------------------------------------------------------------------------- */

struct _SmeltHasher
{
  GThread *thread;
  GMutex   lock;
  GCond    cond;
  int      fd;         /* own dup of the part file */
  guint64  total;
  guint64  frontier;   /* guarded by lock */
  guint64  pos;        /* guarded by lock */
  gint     stop;       /* atomic */
  gboolean git;        /* also compute the git blob sha1 */
  gint     finished;   /* atomic */
  gint     failed;     /* atomic: a read error */
  CURLM   *wake;
  char     sha256[65];
  char     sha1[41];
};

typedef struct
{
#ifdef HAVE_LIBCRYPTO
  EVP_MD_CTX *ctx;
#else
  GChecksum  *sum;
#endif
} Sha256;

static void
sha256_init (Sha256 *s)
{
#ifdef HAVE_LIBCRYPTO
  s->ctx = EVP_MD_CTX_new ();
  EVP_DigestInit_ex (s->ctx, EVP_sha256 (), NULL);
#else
  s->sum = g_checksum_new (G_CHECKSUM_SHA256);
#endif
}

static void
sha256_update (Sha256       *s,
               const guchar *data,
               gsize         len)
{
#ifdef HAVE_LIBCRYPTO
  EVP_DigestUpdate (s->ctx, data, len);
#else
  g_checksum_update (s->sum, data, (gssize) len);
#endif
}

static void
sha256_finish (Sha256 *s,
               char    out[65])
{
#ifdef HAVE_LIBCRYPTO
  guchar md[32];
  unsigned int n = 0;

  EVP_DigestFinal_ex (s->ctx, md, &n);
  EVP_MD_CTX_free (s->ctx);
  for (guint i = 0; i < 32; i++)
    g_snprintf (out + 2 * i, 3, "%02x", md[i]);
#else
  g_strlcpy (out, g_checksum_get_string (s->sum), 65);
  g_checksum_free (s->sum);
#endif
}

static gpointer
hasher_main (gpointer data)
{
  SmeltHasher *h = data;
  const gsize buf_size = 4 * 1024 * 1024;
  g_autofree guchar *buf = g_malloc (buf_size);
  g_autoptr(GChecksum) sha1 = NULL;
  Sha256 sha;
  guint64 pos = 0;
  guint64 flushed = 0;

  sha256_init (&sha);
  if (h->git)
    {
      g_autofree char *header = g_strdup_printf ("blob %" G_GUINT64_FORMAT, h->total);

      sha1 = g_checksum_new (G_CHECKSUM_SHA1);
      g_checksum_update (sha1, (const guchar *) header, (gssize) strlen (header) + 1);
    }

  for (;;)
    {
      guint64 target;

      g_mutex_lock (&h->lock);
      while (!g_atomic_int_get (&h->stop) && h->frontier <= pos && pos < h->total)
        g_cond_wait (&h->cond, &h->lock);
      target = h->frontier;
      if (g_atomic_int_get (&h->stop))
        {
          g_mutex_unlock (&h->lock);
          break;
        }
      g_mutex_unlock (&h->lock);

      if (pos >= h->total)
        {
          char hex[65];

          sha256_finish (&sha, hex);
          memcpy (h->sha256, hex, sizeof hex);
          if (sha1 != NULL)
            g_strlcpy (h->sha1, g_checksum_get_string (sha1), sizeof h->sha1);
          g_atomic_int_set (&h->finished, 1);
          curl_multi_wakeup (h->wake);
          return NULL;
        }

      while (pos < target)
        {
          gsize want = (gsize) MIN (target - pos, buf_size);
          ssize_t got;

          if (g_atomic_int_get (&h->stop))
            goto out;
          got = pread (h->fd, buf, want, (off_t) pos);
          if (got < 0 && errno == EINTR)
            continue;
          if (got <= 0)
            {
              g_atomic_int_set (&h->failed, 1);
              g_atomic_int_set (&h->finished, 1);
              curl_multi_wakeup (h->wake);
              goto out;
            }
          sha256_update (&sha, buf, (gsize) got);
          if (sha1 != NULL)
            g_checksum_update (sha1, buf, got);
          pos += (guint64) got;
          /* Start writing hashed data back to disk now, so the fdatasync before the rename
           * only waits for the tail instead of the whole file. */
          if (pos - flushed >= 32 * 1024 * 1024)
            {
              sync_file_range (h->fd, (off_t) flushed, (off_t) (pos - flushed), SYNC_FILE_RANGE_WRITE);
              flushed = pos;
            }
        }
      g_mutex_lock (&h->lock);
      h->pos = pos;
      g_mutex_unlock (&h->lock);
    }
out:
  {
    char discard[65];

    sha256_finish (&sha, discard);
  }
  return NULL;
}

static SmeltHasher *
hasher_new (int      fd,
            guint64  total,
            gboolean git,
            CURLM   *wake)
{
  SmeltHasher *h = g_new0 (SmeltHasher, 1);

  g_mutex_init (&h->lock);
  g_cond_init (&h->cond);
  h->fd = dup (fd);
  h->total = total;
  h->git = git;
  h->wake = wake;
  h->thread = g_thread_new ("smelt-hash", hasher_main, h);
  return h;
}

static void
hasher_advance (SmeltHasher *h,
                guint64      frontier)
{
  g_mutex_lock (&h->lock);
  if (frontier > h->frontier)
    {
      h->frontier = frontier;
      g_cond_signal (&h->cond);
    }
  g_mutex_unlock (&h->lock);
}

static void
hasher_free (SmeltHasher *h)
{
  if (h == NULL)
    return;
  g_mutex_lock (&h->lock);
  g_atomic_int_set (&h->stop, 1);
  g_cond_signal (&h->cond);
  g_mutex_unlock (&h->lock);
  g_thread_join (h->thread);
  if (h->fd >= 0)
    close (h->fd);
  g_mutex_clear (&h->lock);
  g_cond_clear (&h->cond);
  g_free (h);
}

/* ---- worker state -------------------------------------------------------------------------- */

typedef enum
{
  CMD_ADD,
  CMD_PAUSE,
  CMD_RESUME,
  CMD_CANCEL,
  CMD_SET_TOKEN,
  CMD_SET_CONNECTIONS,
  CMD_SET_MAX_FILES,
  CMD_SET_CACHE_DIR,
  CMD_QUIT,
} CommandKind;

typedef struct
{
  CommandKind kind;
  guint       id;
  guint       value;
  char       *text;
  SmeltJob   *job; /* CMD_ADD (owned) */
} Command;

static void
command_free (Command *cmd)
{
  g_free (cmd->text);
  g_clear_pointer (&cmd->job, smelt_job_free);
  g_free (cmd);
}

typedef struct
{
  CURL          *easy;
  SmeltFileTask *file;
  guint          chunk;       /* index into file->chunks (GET only) */
  gboolean       is_head;
  GHashTable    *headers;     /* lower-case name -> value, of the last response */
  struct curl_slist *req_headers;
  gboolean       checked;     /* status looked at (first body bytes) */
  gboolean       discard;     /* an error body */
  gboolean       range_ignored;
  gboolean       bad_range;
  gboolean       overflow;
  int            io_errno;
  gint64         last_activity; /* monotonic µs of the last bytes received */
  char           errbuf[CURL_ERROR_SIZE];
} Conn;

/* What updates posted to the main loop hold on to: `self` is cleared (on the main thread) when
 * the manager goes, so late updates are dropped. Reference-counted (g_atomic_rc_box). */
typedef struct
{
  SmeltDownloadManager *self;
} Shared;

typedef struct
{
  GAsyncQueue  *commands;
  CURLM        *multi;
  GMainContext *main_ctx;
  Shared       *shared;

  /* worker-owned */
  GPtrArray    *jobs;         /* SmeltJob */
  GPtrArray    *conns;        /* Conn */
  char         *state_path;
  char         *cache_dir;
  char         *token;
  guint         connections;
  guint         max_files;
  guint64       chunk_size;
  guint         backoff_ms;
  guint         max_failures;
  long          stall_seconds;
  gboolean      dirty;
  gint64        last_save_us;
} Worker;

struct _SmeltDownloadManager
{
  GObject     parent_instance;

  Worker     *worker; /* owned by the worker thread while it runs */
  GThread    *thread;
  GHashTable *infos;  /* id -> SmeltDownloadInfo */
  GHashTable *keys;   /* spec key -> id */
  GArray     *autostart; /* ids of interrupted jobs to resume once the main loop runs */
  guint       next_id;
  guint       connections;
  guint       max_files;
  char       *token;
  char       *cache_dir;
  int         lock_fd; /* flock on "<state>.lock" while this manager owns the state file */
};

G_DEFINE_FINAL_TYPE (SmeltDownloadManager, smelt_download_manager, G_TYPE_OBJECT)

enum
{
  PROP_0,
  PROP_CONNECTIONS,
  PROP_MAX_FILES,
  PROP_TOKEN,
  PROP_CACHE_DIR,
  N_PROPS
};

enum
{
  SIGNAL_CHANGED,
  SIGNAL_FINISHED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

/* ---- small helpers ------------------------------------------------------------------------- */

static guint
env_uint (const char *name,
          guint       fallback)
{
  const char *v = g_getenv (name);
  guint64 n;

  if (v == NULL || !g_ascii_string_to_unsigned (v, 10, 0, G_MAXUINT, &n, NULL))
    return fallback;
  return (guint) n;
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

static char *
unquote_etag (const char *etag)
{
  const char *p = etag;
  gsize len;

  if (p == NULL)
    return NULL;
  if (g_str_has_prefix (p, "W/"))
    p += 2;
  len = strlen (p);
  if (len >= 2 && p[0] == '"' && p[len - 1] == '"')
    return g_ascii_strdown (p + 1, (gssize) len - 2);
  return g_ascii_strdown (p, -1);
}

static gboolean
same_origin (const char *a,
             const char *b)
{
  g_autoptr(GUri) ua = a != NULL ? g_uri_parse (a, G_URI_FLAGS_NONE, NULL) : NULL;
  g_autoptr(GUri) ub = b != NULL ? g_uri_parse (b, G_URI_FLAGS_NONE, NULL) : NULL;

  return ua != NULL && ub != NULL && g_strcmp0 (g_uri_get_scheme (ua), g_uri_get_scheme (ub)) == 0
         && g_uri_get_host (ua) != NULL && g_uri_get_host (ub) != NULL
         && g_ascii_strcasecmp (g_uri_get_host (ua), g_uri_get_host (ub)) == 0
         && g_uri_get_port (ua) == g_uri_get_port (ub);
}

char *
smelt_download_hub_cache_dir (void)
{
  const char *v;

  if ((v = g_getenv ("HF_HUB_CACHE")) != NULL && *v != '\0')
    return g_strdup (v);
  if ((v = g_getenv ("HUGGINGFACE_HUB_CACHE")) != NULL && *v != '\0')
    return g_strdup (v);
  if ((v = g_getenv ("HF_HOME")) != NULL && *v != '\0')
    return g_build_filename (v, "hub", NULL);
  return g_build_filename (g_get_user_cache_dir (), "huggingface", "hub", NULL);
}

char *
smelt_download_repo_cache_dir (const char *cache_dir,
                               const char *repo_id)
{
  g_auto(GStrv) parts = g_strsplit (repo_id, "/", -1);
  g_autofree char *joined = g_strjoinv ("--", parts);
  g_autofree char *name = g_strconcat ("models--", joined, NULL);

  return g_build_filename (cache_dir, name, NULL);
}

char *
smelt_download_default_state_path (void)
{
  return g_build_filename (g_get_user_data_dir (), "smelt", "downloads.json", NULL);
}

char *
smelt_download_spec_state_path (const SmeltDownloadSpec *spec)
{
  g_autofree char *key = smelt_download_spec_key (spec);
  g_autofree char *sum = g_compute_checksum_for_string (G_CHECKSUM_SHA256, key, -1);
  g_autofree char *name = g_strdup_printf ("%.16s.json", sum);

  return g_build_filename (g_get_user_data_dir (), "smelt", "pulls", name, NULL);
}

/* Two processes saving one state file would each overwrite the other's jobs, so a manager owns
 * its state file through an exclusive flock on a lock file beside it, held until finalize. The
 * lock file is left in place: deleting it would race with a process about to lock it. */
static int
lock_state_file (const char  *path,
                 GError     **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *lock_path = g_strconcat (path, ".lock", NULL);
  int fd;

  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved = errno;

      g_set_error (error, SMELT_DOWNLOAD_ERROR, SMELT_DOWNLOAD_ERROR_STATE,
                   "Could not create the folder %s: %s", dir, g_strerror (saved));
      return -1;
    }
  fd = open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      int saved = errno;

      g_set_error (error, SMELT_DOWNLOAD_ERROR, SMELT_DOWNLOAD_ERROR_STATE,
                   "Could not open %s: %s", lock_path, g_strerror (saved));
      return -1;
    }
  if (flock (fd, LOCK_EX | LOCK_NB) != 0)
    {
      int saved = errno;

      close (fd);
      if (saved == EWOULDBLOCK)
        g_set_error (error, SMELT_DOWNLOAD_ERROR, SMELT_DOWNLOAD_ERROR_BUSY,
                     "The download queue %s is in use by another Smelt process", path);
      else
        g_set_error (error, SMELT_DOWNLOAD_ERROR, SMELT_DOWNLOAD_ERROR_STATE,
                     "Could not lock %s: %s", lock_path, g_strerror (saved));
      return -1;
    }
  return fd;
}

static guint64
file_bytes_done (SmeltFileTask *file)
{
  guint64 sum = 0;

  if (file->done)
    return file->total != G_MAXUINT64 ? file->total : 0;
  for (guint i = 0; i < file->chunks->len; i++)
    {
      SmeltChunk *c = &g_array_index (file->chunks, SmeltChunk, i);

      sum += c->done - c->start;
    }
  return sum;
}

/* End of the longest prefix of the file that is fully on disk. */
static guint64
file_frontier (SmeltFileTask *file)
{
  for (guint i = 0; i < file->chunks->len; i++)
    {
      SmeltChunk *c = &g_array_index (file->chunks, SmeltChunk, i);

      if (c->done < c->end)
        return c->done;
    }
  return file->total;
}

static gboolean
file_chunks_complete (SmeltFileTask *file)
{
  return file_frontier (file) == file->total;
}

/* ---- posting to the main thread ------------------------------------------------------------ */

typedef struct
{
  Shared            *shared;
  SmeltDownloadInfo *info;
} Update;

static void
update_free (gpointer data)
{
  Update *u = data;

  g_atomic_rc_box_release (u->shared);
  smelt_download_info_free (u->info);
  g_free (u);
}

static gboolean
apply_update_cb (gpointer data)
{
  Update *u = data;
  g_autoptr(SmeltDownloadManager) self = u->shared->self != NULL ? g_object_ref (u->shared->self) : NULL;
  SmeltDownloadInfo *old;
  SmeltDownloadState old_state;
  gboolean terminal;
  guint id = u->info->id;

  /* Stale: the manager is gone, or the job was forgotten (cancelled) meanwhile. */
  if (self == NULL)
    return G_SOURCE_REMOVE;
  old = g_hash_table_lookup (self->infos, GUINT_TO_POINTER (id));
  if (old == NULL)
    return G_SOURCE_REMOVE;
  old_state = old->state;
  g_hash_table_replace (self->infos, GUINT_TO_POINTER (id), smelt_download_info_copy (u->info));
  terminal = u->info->state == SMELT_DOWNLOAD_DONE || u->info->state == SMELT_DOWNLOAD_FAILED
             || u->info->state == SMELT_DOWNLOAD_CANCELLED;
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0, id);
  if (terminal && old_state != u->info->state)
    g_signal_emit (self, signals[SIGNAL_FINISHED], 0, id);
  if (u->info->state == SMELT_DOWNLOAD_CANCELLED)
    {
      GHashTableIter iter;
      gpointer key, value;

      g_hash_table_remove (self->infos, GUINT_TO_POINTER (id));
      g_hash_table_iter_init (&iter, self->keys);
      while (g_hash_table_iter_next (&iter, &key, &value))
        if (GPOINTER_TO_UINT (value) == id)
          g_hash_table_iter_remove (&iter);
    }
  return G_SOURCE_REMOVE;
}

static SmeltDownloadInfo *
job_info (SmeltJob *job)
{
  SmeltDownloadInfo *info = g_new0 (SmeltDownloadInfo, 1);

  info->id = job->id;
  info->repo_id = g_strdup (job->spec->repo_id);
  info->label = g_strdup (job->spec->label);
  info->state = job->state;
  info->n_files = job->files->len;
  info->error = g_strdup (job->error);
  info->error_code = job->error_code;
  info->eta_seconds = -1;
  for (guint i = 0; i < job->files->len; i++)
    {
      SmeltFileTask *file = g_ptr_array_index (job->files, i);
      guint64 total = file->total != G_MAXUINT64 ? file->total
                      : (file->spec_size != G_MAXUINT64 ? file->spec_size : 0);

      info->total_bytes += total;
      info->done_bytes += file_bytes_done (file);
      if (file->done)
        info->n_files_done++;
    }
  if (job->files->len > 0 && ((SmeltFileTask *) g_ptr_array_index (job->files, 0))->done)
    info->path = g_strdup (((SmeltFileTask *) g_ptr_array_index (job->files, 0))->final_path);
  info->speed = job->state == SMELT_DOWNLOAD_RUNNING ? job->speed : 0;
  if (info->speed > 0 && info->total_bytes >= info->done_bytes)
    info->eta_seconds = (gint64) ((double) (info->total_bytes - info->done_bytes) / info->speed);
  return info;
}

static void
post_job (Worker   *w,
          SmeltJob *job,
          gboolean  force)
{
  gint64 now = g_get_monotonic_time ();
  Update *u;

  if (!force && now - job->last_post_us < POST_INTERVAL_US)
    return;
  job->last_post_us = now;

  /* Speed over windows of at least half a second, smoothed. */
  {
    guint64 bytes = 0;

    for (guint i = 0; i < job->files->len; i++)
      bytes += file_bytes_done (g_ptr_array_index (job->files, i));
    if (job->sample_us == 0 || bytes < job->sample_bytes)
      {
        job->sample_us = now;
        job->sample_bytes = bytes;
      }
    else if (now - job->sample_us >= G_USEC_PER_SEC / 2)
      {
        double inst = (double) (bytes - job->sample_bytes) * G_USEC_PER_SEC / (double) (now - job->sample_us);

        job->speed = job->speed > 0 ? 0.5 * job->speed + 0.5 * inst : inst;
        job->sample_us = now;
        job->sample_bytes = bytes;
      }
  }

  u = g_new0 (Update, 1);
  u->shared = g_atomic_rc_box_acquire (w->shared);
  u->info = job_info (job);
  g_main_context_invoke_full (w->main_ctx, G_PRIORITY_DEFAULT, apply_update_cb, u, update_free);
}

/* ---- state file ---------------------------------------------------------------------------- */

static void
save_state (Worker *w)
{
  g_autofree char *json = smelt_download_state_to_json (w->jobs);
  g_autofree char *dir = g_path_get_dirname (w->state_path);
  g_autoptr(GError) error = NULL;

  w->dirty = FALSE;
  w->last_save_us = g_get_monotonic_time ();
  if (g_mkdir_with_parents (dir, 0700) != 0
      || !g_file_set_contents_full (w->state_path, json, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error))
    g_debug ("Could not save the download queue to %s: %s", w->state_path,
             error != NULL ? error->message : g_strerror (errno));
}

/* ---- connections --------------------------------------------------------------------------- */

static size_t
on_header_cb (char  *buffer,
              size_t size,
              size_t nitems,
              void  *user_data)
{
  Conn *c = user_data;
  size_t n = size * nitems;
  g_autofree char *line = g_strndup (buffer, n);
  char *colon;

  c->last_activity = g_get_monotonic_time ();
  g_strchomp (line);
  if (g_str_has_prefix (line, "HTTP/"))
    {
      /* A new response (after a redirect): forget the previous one's headers. */
      g_hash_table_remove_all (c->headers);
      return n;
    }
  colon = strchr (line, ':');
  if (colon != NULL)
    {
      *colon = '\0';
      g_hash_table_replace (c->headers, g_ascii_strdown (line, -1), g_strdup (g_strstrip (colon + 1)));
    }
  return n;
}

static gboolean
check_content_range (Conn       *c,
                     SmeltChunk *chunk)
{
  const char *cr = g_hash_table_lookup (c->headers, "content-range");
  guint64 start;

  if (cr == NULL || !g_str_has_prefix (cr, "bytes "))
    return FALSE;
  start = g_ascii_strtoull (cr + 6, NULL, 10);
  return start == chunk->done;
}

static size_t
on_write_cb (char  *data,
             size_t size,
             size_t nmemb,
             void  *user_data)
{
  Conn *c = user_data;
  SmeltFileTask *file = c->file;
  SmeltChunk *chunk = &g_array_index (file->chunks, SmeltChunk, c->chunk);
  size_t n = size * nmemb;
  size_t room, todo, off = 0;

  c->last_activity = g_get_monotonic_time ();
  if (!c->checked)
    {
      long status = 0;

      c->checked = TRUE;
      curl_easy_getinfo (c->easy, CURLINFO_RESPONSE_CODE, &status);
      if (status == 200)
        {
          /* A 200 is the whole file from byte 0: fine only for a chunk that is exactly that. */
          if (!(chunk->start == 0 && chunk->done == 0 && chunk->end == file->total))
            {
              c->range_ignored = TRUE;
              return 0;
            }
        }
      else if (status == 206)
        {
          if (!check_content_range (c, chunk))
            {
              c->bad_range = TRUE;
              return 0;
            }
        }
      else
        c->discard = TRUE;
    }
  if (c->discard)
    return n;

  room = (size_t) (chunk->end - chunk->done);
  todo = MIN (n, room);
  while (off < todo)
    {
      ssize_t wrote = pwrite (file->fd, data + off, todo - off, (off_t) chunk->done);

      if (wrote < 0 && errno == EINTR)
        continue;
      if (wrote <= 0)
        {
          c->io_errno = wrote < 0 ? errno : ENOSPC;
          return 0;
        }
      off += (size_t) wrote;
      chunk->done += (guint64) wrote;
    }
  if (todo > 0)
    file->failures = 0;
  if (todo < n)
    {
      c->overflow = TRUE;
      return 0;
    }
  return n;
}

static Conn *
conn_new (Worker        *w,
          SmeltFileTask *file,
          const char    *url,
          gboolean       is_head)
{
  Conn *c = g_new0 (Conn, 1);
  const char *endpoint = file->job->spec->endpoint;

  c->file = file;
  c->is_head = is_head;
  c->headers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  c->easy = curl_easy_init ();
  curl_easy_setopt (c->easy, CURLOPT_URL, url);
  curl_easy_setopt (c->easy, CURLOPT_PRIVATE, c);
  curl_easy_setopt (c->easy, CURLOPT_USERAGENT, "smelt/" PACKAGE_VERSION);
  curl_easy_setopt (c->easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
  curl_easy_setopt (c->easy, CURLOPT_HEADERFUNCTION, on_header_cb);
  curl_easy_setopt (c->easy, CURLOPT_HEADERDATA, c);
  curl_easy_setopt (c->easy, CURLOPT_CONNECTTIMEOUT, 15L);
  /* Stalls are detected by the worker loop (no byte for stall_seconds); curl's own low-speed
   * check averages over several seconds and reacts much later. */
  c->last_activity = g_get_monotonic_time ();
  /* Separate TCP connections for parallel ranges (HTTP/2 would multiplex them onto one). */
  curl_easy_setopt (c->easy, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
  curl_easy_setopt (c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (c->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  if (file->proxy != NULL)
    curl_easy_setopt (c->easy, CURLOPT_PROXY, file->proxy);

  c->req_headers = curl_slist_append (NULL, "Accept-Encoding: identity");
  /* The token goes to the endpoint only; curl does not forward a custom Authorization header
   * across hosts on redirects either. */
  if (w->token != NULL && same_origin (url, endpoint))
    {
      g_autofree char *auth = g_strdup_printf ("Authorization: Bearer %s", w->token);

      c->req_headers = curl_slist_append (c->req_headers, auth);
    }
  curl_easy_setopt (c->easy, CURLOPT_HTTPHEADER, c->req_headers);

  if (is_head)
    {
      curl_easy_setopt (c->easy, CURLOPT_NOBODY, 1L);
      curl_easy_setopt (c->easy, CURLOPT_FOLLOWLOCATION, 0L);
      curl_easy_setopt (c->easy, CURLOPT_TIMEOUT, 60L);
    }
  else
    {
      curl_easy_setopt (c->easy, CURLOPT_FOLLOWLOCATION, 1L);
      curl_easy_setopt (c->easy, CURLOPT_MAXREDIRS, 5L);
      curl_easy_setopt (c->easy, CURLOPT_WRITEFUNCTION, on_write_cb);
      curl_easy_setopt (c->easy, CURLOPT_WRITEDATA, c);
      curl_easy_setopt (c->easy, CURLOPT_BUFFERSIZE, 512L * 1024L);
    }
  g_ptr_array_add (w->conns, c);
  curl_multi_add_handle (w->multi, c->easy);
  return c;
}

static void
conn_free (Worker *w,
           Conn   *c)
{
  curl_multi_remove_handle (w->multi, c->easy);
  curl_easy_cleanup (c->easy);
  curl_slist_free_all (c->req_headers);
  g_hash_table_unref (c->headers);
  g_ptr_array_remove_fast (w->conns, c);
  g_free (c);
}

/* Drops every connection of a file and closes it; chunks keep their progress. */
static void
file_stop (Worker        *w,
           SmeltFileTask *file)
{
  for (guint i = w->conns->len; i > 0; i--)
    {
      Conn *c = g_ptr_array_index (w->conns, i - 1);

      if (c->file == file)
        {
          if (!c->is_head)
            g_array_index (file->chunks, SmeltChunk, c->chunk).busy = FALSE;
          conn_free (w, c);
        }
    }
  file->n_conns = 0;
  g_clear_pointer (&file->hasher, hasher_free);
  if (file->fd >= 0)
    {
      close (file->fd);
      file->fd = -1;
    }
  if (file->lock_fd >= 0)
    {
      close (file->lock_fd);
      file->lock_fd = -1;
    }
  if (file->phase != FILE_DONE)
    file->phase = FILE_PENDING;
}

/* ---- job state ----------------------------------------------------------------------------- */

static void
job_stop (Worker   *w,
          SmeltJob *job)
{
  for (guint i = 0; i < job->files->len; i++)
    file_stop (w, g_ptr_array_index (job->files, i));
}

static void
job_fail (Worker     *w,
          SmeltJob   *job,
          gint        code,
          const char *message)
{
  job_stop (w, job);
  job->state = SMELT_DOWNLOAD_FAILED;
  g_free (job->error);
  job->error = g_strdup (message);
  job->error_code = code;
  w->dirty = TRUE;
  save_state (w);
  post_job (w, job, TRUE);
}

static void
file_retry_later (Worker        *w,
                  SmeltFileTask *file,
                  guint          retry_after_s,
                  const char    *why)
{
  guint64 delay_ms;

  file->failures++;
  g_free (file->last_error);
  file->last_error = g_strdup (why);
  if (file->failures > w->max_failures)
    {
      g_autofree char *msg = g_strdup_printf ("Downloading %s failed %u times in a row, giving up: %s. "
                                              "Run the download again to resume it",
                                              file->path, file->failures, why);

      job_fail (w, file->job, SMELT_DOWNLOAD_ERROR_NETWORK, msg);
      return;
    }
  if (retry_after_s > 0)
    delay_ms = (guint64) MIN (retry_after_s, 600) * 1000;
  else
    {
      /* Exponential backoff with jitter, capped at 30 s. */
      delay_ms = (guint64) w->backoff_ms << MIN (file->failures - 1, 10);
      delay_ms = MIN (delay_ms, 30000) + (guint64) g_random_int_range (0, (gint32) (w->backoff_ms / 2 + 1));
    }
  file->retry_at = MAX (file->retry_at, g_get_monotonic_time () + (gint64) delay_ms * 1000);
  g_debug ("%s: %s; retrying in %" G_GUINT64_FORMAT " ms", file->path, why, delay_ms);
}

static void
file_reset_data (SmeltFileTask *file)
{
  g_array_set_size (file->chunks, 0);
  if (file->part_path != NULL)
    g_unlink (file->part_path);
}

static guint
parse_retry_after (GHashTable *headers)
{
  const char *v = g_hash_table_lookup (headers, "retry-after");
  guint64 n;

  if (v != NULL && g_ascii_string_to_unsigned (v, 10, 0, 86400, &n, NULL))
    return MAX ((guint) n, 1);
  return 0;
}

static gboolean
ensure_parent (const char *path,
               GError    **error)
{
  g_autofree char *dir = g_path_get_dirname (path);

  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      int saved = errno;

      g_set_error (error, SMELT_DOWNLOAD_ERROR, SMELT_DOWNLOAD_ERROR_IO,
                   "Could not create the folder %s: %s", dir, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

/* snapshots/<commit>/<path> -> ../../blobs/<etag> (one more ../ per folder); refs/<ref>. */
static gboolean
link_snapshot (Worker        *w,
               SmeltFileTask *file,
               GError       **error)
{
  SmeltDownloadSpec *spec = file->job->spec;
  g_autofree char *repo_dir = smelt_download_repo_cache_dir (w->cache_dir, spec->repo_id);
  g_autofree char *link = g_build_filename (repo_dir, "snapshots", file->commit, file->path, NULL);
  g_autofree char *tmp = g_strdup_printf ("%s.%u.tmp", link, g_random_int ());
  GString *target = g_string_new ("../../");

  for (const char *p = file->path; *p != '\0'; p++)
    if (*p == '/')
      g_string_append (target, "../");
  g_string_append_printf (target, "blobs/%s", file->etag);

  if (!ensure_parent (link, error))
    {
      g_string_free (target, TRUE);
      return FALSE;
    }
  {
    /* Backup tools skip folders marked this way (huggingface_hub writes the same tag). */
    g_autofree char *tag = g_build_filename (w->cache_dir, "CACHEDIR.TAG", NULL);

    if (!g_file_test (tag, G_FILE_TEST_EXISTS))
      g_file_set_contents (tag, "Signature: 8a477f597d28d172789f06886806bc55\n"
                                "# This file is a cache directory tag created by Smelt.\n", -1, NULL);
  }
  if (symlink (target->str, tmp) != 0 || rename (tmp, link) != 0)
    {
      int saved = errno;

      g_unlink (tmp);
      g_string_free (target, TRUE);
      g_set_error (error, SMELT_DOWNLOAD_ERROR, SMELT_DOWNLOAD_ERROR_IO,
                   "Could not link %s into the cache: %s", file->path, g_strerror (saved));
      return FALSE;
    }
  g_string_free (target, TRUE);

  if (spec->ref_name != NULL && g_strcmp0 (spec->ref_name, file->commit) != 0)
    {
      g_autofree char *ref = g_build_filename (repo_dir, "refs", spec->ref_name, NULL);

      if (!ensure_parent (ref, error)
          || !g_file_set_contents_full (ref, file->commit, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644, error))
        return FALSE;
    }
  g_free (file->final_path);
  file->final_path = g_steal_pointer (&link);
  return TRUE;
}

static void
job_check_done (Worker   *w,
                SmeltJob *job)
{
  for (guint i = 0; i < job->files->len; i++)
    if (!((SmeltFileTask *) g_ptr_array_index (job->files, i))->done)
      return;
  job->state = SMELT_DOWNLOAD_DONE;
  g_clear_pointer (&job->error, g_free);
  save_state (w);
  post_job (w, job, TRUE);
}

static void
file_finish (Worker        *w,
             SmeltFileTask *file)
{
  if (file->lock_fd >= 0)
    {
      close (file->lock_fd);
      file->lock_fd = -1;
    }
  file->done = TRUE;
  file->phase = FILE_DONE;
  file->failures = 0;
  w->dirty = TRUE;
  job_check_done (w, file->job);
}

/* Size and hash are right: flush, rename into place, link. */
static void
file_commit (Worker        *w,
             SmeltFileTask *file)
{
  SmeltDownloadSpec *spec = file->job->spec;
  g_autoptr(GError) error = NULL;
  g_autofree char *final = NULL;

  if (spec->dest_dir == NULL)
    {
      g_autofree char *repo_dir = smelt_download_repo_cache_dir (w->cache_dir, spec->repo_id);

      final = g_build_filename (repo_dir, "blobs", file->etag, NULL);
    }
  else
    final = g_build_filename (spec->dest_dir, file->path, NULL);

  if (fdatasync (file->fd) != 0 || rename (file->part_path, final) != 0)
    {
      g_autofree char *msg = g_strdup_printf ("Could not move %s into place: %s", file->path,
                                              g_strerror (errno));

      job_fail (w, file->job, SMELT_DOWNLOAD_ERROR_IO, msg);
      return;
    }
  close (file->fd);
  file->fd = -1;
  g_array_set_size (file->chunks, 0);
  if (spec->dest_dir == NULL)
    {
      if (!link_snapshot (w, file, &error))
        {
          job_fail (w, file->job, SMELT_DOWNLOAD_ERROR_IO, error->message);
          return;
        }
    }
  else
    {
      g_free (file->final_path);
      file->final_path = g_steal_pointer (&final);
    }
  file_finish (w, file);
}

static void
file_verify (Worker        *w,
             SmeltFileTask *file)
{
  SmeltHasher *h = file->hasher;
  struct stat st;
  const char *got = NULL;
  const char *want = NULL;
  gboolean size_ok, hash_ok = TRUE;

  if (g_atomic_int_get (&h->failed))
    {
      g_autofree char *msg = g_strdup_printf ("Could not read back %s to check it", file->part_path);

      job_fail (w, file->job, SMELT_DOWNLOAD_ERROR_IO, msg);
      return;
    }
  size_ok = fstat (file->fd, &st) == 0 && (guint64) st.st_size == file->total;
  if (file->expected_sha256 != NULL)
    {
      want = file->expected_sha256;
      got = h->sha256;
    }
  else if (file->want_git_sha1)
    {
      want = file->etag;
      got = h->sha1;
    }
  if (want != NULL)
    hash_ok = g_ascii_strcasecmp (want, got) == 0;

  if (size_ok && hash_ok)
    {
      g_clear_pointer (&file->hasher, hasher_free);
      file_commit (w, file);
      return;
    }

  /* Bad data never reaches a final name: delete it, try once more from scratch. */
  {
    g_autofree char *why = !size_ok
      ? g_strdup_printf ("%s: got %" G_GUINT64_FORMAT " bytes, expected %" G_GUINT64_FORMAT, file->path,
                         (guint64) st.st_size, file->total)
      : g_strdup_printf ("%s: checksum %s, expected %s", file->path, got, want);

    file_stop (w, file);
    file_reset_data (file);
    w->dirty = TRUE;
    if (!file->scratch_retry_used)
      {
        g_debug ("Verification failed (%s); downloading again from scratch", why);
        file->scratch_retry_used = TRUE;
        return;
      }
    {
      g_autofree char *msg = g_strdup_printf ("The download does not match what the Hub announced, "
                                              "twice (%s); the bad data was deleted", why);

      job_fail (w, file->job, SMELT_DOWNLOAD_ERROR_VERIFY, msg);
    }
  }
}

/* ---- HEAD ---------------------------------------------------------------------------------- */

static gboolean
env_truthy (const char *name)
{
  const char *v = g_getenv (name);

  return v != NULL
         && (g_ascii_strcasecmp (v, "1") == 0 || g_ascii_strcasecmp (v, "on") == 0
             || g_ascii_strcasecmp (v, "yes") == 0 || g_ascii_strcasecmp (v, "true") == 0);
}

static void
file_start_head (Worker        *w,
                 SmeltFileTask *file)
{
  SmeltDownloadSpec *spec = file->job->spec;

  if (env_truthy ("HF_HUB_OFFLINE") || env_truthy ("TRANSFORMERS_OFFLINE"))
    {
      job_fail (w, file->job, SMELT_DOWNLOAD_ERROR_NETWORK,
                "HF_HUB_OFFLINE is set, so nothing is downloaded; unset it to download");
      return;
    }

  if (file->head_url == NULL)
    {
      g_autofree char *repo = g_uri_escape_string (spec->repo_id, "/", FALSE);
      g_autofree char *rev = g_uri_escape_string (spec->revision, NULL, FALSE);
      g_autofree char *path = g_uri_escape_string (file->path, "/", FALSE);

      file->head_url = g_strdup_printf ("%s/%s/resolve/%s/%s", spec->endpoint, repo, rev, path);
      file->head_hops = 0;
    }
  if (file->proxy == NULL)
    {
      GProxyResolver *resolver = g_proxy_resolver_get_default ();
      g_auto(GStrv) proxies = g_proxy_resolver_lookup (resolver, file->head_url, NULL, NULL);

      if (proxies != NULL && proxies[0] != NULL && !g_str_equal (proxies[0], "direct://"))
        file->proxy = g_strdup (proxies[0]);
    }
  file->phase = FILE_HEAD;
  file->n_conns = 1;
  conn_new (w, file, file->head_url, TRUE);
  if (file->job->state == SMELT_DOWNLOAD_QUEUED)
    {
      file->job->state = SMELT_DOWNLOAD_RUNNING;
      w->dirty = TRUE;
      post_job (w, file->job, TRUE);
    }
}

static void
plan_chunks (Worker        *w,
             SmeltFileTask *file)
{
  guint64 step = (w->connections <= 1 || file->total <= w->chunk_size) ? MAX (file->total, 1) : w->chunk_size;

  /* At most 4096 chunks, whatever size is announced. */
  step = MAX (step, file->total / 4096 + 1);

  g_array_set_size (file->chunks, 0);
  for (guint64 start = 0; start < file->total; start += step)
    {
      SmeltChunk c = { start, MIN (start + step, file->total), start, FALSE };

      g_array_append_val (file->chunks, c);
    }
}

static const char *
hub_error_text (GHashTable *headers)
{
  return g_hash_table_lookup (headers, "x-error-code");
}

/* HEAD answered: decide where the bytes come from and where they go. */
static void
file_prepare (Worker        *w,
              SmeltFileTask *file,
              GHashTable    *headers,
              long           status)
{
  SmeltJob *job = file->job;
  SmeltDownloadSpec *spec = job->spec;
  g_autofree char *etag = NULL;
  const char *commit = g_hash_table_lookup (headers, "x-repo-commit");
  const char *size_text = g_hash_table_lookup (headers, "x-linked-size");
  guint64 total = G_MAXUINT64;
  struct stat st;
  struct statvfs vfs;
  g_autoptr(GError) error = NULL;
  g_autofree char *blob = NULL;
  gboolean etag_changed;
  guint64 have, need;

  etag = unquote_etag (g_hash_table_lookup (headers, "x-linked-etag"));
  if (etag == NULL)
    etag = unquote_etag (g_hash_table_lookup (headers, "etag"));
  if (size_text == NULL && status == 200)
    size_text = g_hash_table_lookup (headers, "content-length");
  if (size_text != NULL)
    total = g_ascii_strtoull (size_text, NULL, 10);
  if (total == G_MAXUINT64)
    total = file->spec_size;
  if (!is_hex (etag, 64) && !is_hex (etag, 40))
    {
      g_clear_pointer (&etag, g_free);
      if (file->spec_sha256 != NULL)
        etag = g_ascii_strdown (file->spec_sha256, -1);
    }
  if (etag == NULL || total == G_MAXUINT64)
    {
      g_autofree char *msg = g_strdup_printf ("%s did not send the size and checksum of %s: it does "
                                              "not look like a Hugging Face endpoint", spec->endpoint,
                                              file->path);

      job_fail (w, job, SMELT_DOWNLOAD_ERROR_HTTP, msg);
      return;
    }
  if (commit == NULL || !is_hex (commit, 40))
    commit = is_hex (spec->revision, 40) ? spec->revision : NULL;
  if (commit == NULL && spec->dest_dir == NULL)
    {
      g_autofree char *msg = g_strdup_printf ("%s did not say which commit %s belongs to (no "
                                              "X-Repo-Commit): a proxy may be misconfigured",
                                              spec->endpoint, file->path);

      job_fail (w, job, SMELT_DOWNLOAD_ERROR_HTTP, msg);
      return;
    }

  /* Resuming onto a different file would give a corrupt, right-sized result. */
  etag_changed = g_strcmp0 (file->etag, etag) != 0 || file->total != total;
  if (etag_changed)
    {
      file_reset_data (file);
      file->done = FALSE;
    }
  g_free (file->etag);
  file->etag = g_steal_pointer (&etag);
  g_free (file->commit);
  file->commit = g_strdup (commit);
  file->total = total;
  g_clear_pointer (&file->expected_sha256, g_free);
  if (is_hex (file->etag, 64))
    file->expected_sha256 = g_strdup (file->etag);
  else if (file->spec_sha256 != NULL)
    file->expected_sha256 = g_ascii_strdown (file->spec_sha256, -1);
  file->want_git_sha1 = file->expected_sha256 == NULL && is_hex (file->etag, 40);

  if (spec->dest_dir == NULL)
    {
      g_autofree char *repo_dir = smelt_download_repo_cache_dir (w->cache_dir, spec->repo_id);

      blob = g_build_filename (repo_dir, "blobs", file->etag, NULL);

      /* One writer per blob, across processes: huggingface_hub (filelock) takes the same flock on
       * the same file. Someone else on it: look again in a moment. */
      if (file->lock_fd < 0)
        {
          g_autofree char *repo_name = g_path_get_basename (repo_dir);
          g_autofree char *lock_name = g_strconcat (file->etag, ".lock", NULL);
          g_autofree char *lock = g_build_filename (w->cache_dir, ".locks", repo_name, lock_name, NULL);

          if (!ensure_parent (lock, &error))
            {
              job_fail (w, job, SMELT_DOWNLOAD_ERROR_IO, error->message);
              return;
            }
          file->lock_fd = open (lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
          if (file->lock_fd < 0)
            {
              g_autofree char *msg = g_strdup_printf ("Could not create %s: %s", lock, g_strerror (errno));

              job_fail (w, job, SMELT_DOWNLOAD_ERROR_IO, msg);
              return;
            }
          if (flock (file->lock_fd, LOCK_EX | LOCK_NB) != 0)
            {
              close (file->lock_fd);
              file->lock_fd = -1;
              file->retry_at = g_get_monotonic_time () + G_USEC_PER_SEC;
              g_debug ("%s: another process is downloading it; waiting", file->path);
              return;
            }
        }
      /* Already in the cache (from us, huggingface_hub or llama.cpp): just link it. */
      if (stat (blob, &st) == 0 && S_ISREG (st.st_mode) && (guint64) st.st_size == total)
        {
          g_array_set_size (file->chunks, 0);
          if (!link_snapshot (w, file, &error))
            job_fail (w, job, SMELT_DOWNLOAD_ERROR_IO, error->message);
          else
            file_finish (w, file);
          return;
        }
      g_free (file->part_path);
      file->part_path = g_strconcat (blob, ".part", NULL);
    }
  else
    {
      g_autofree char *final = g_build_filename (spec->dest_dir, file->path, NULL);

      if (file->done && stat (final, &st) == 0 && (guint64) st.st_size == total)
        {
          g_free (file->final_path);
          file->final_path = g_steal_pointer (&final);
          file_finish (w, file);
          return;
        }
      file->done = FALSE;
      g_free (file->part_path);
      file->part_path = g_strconcat (final, ".part", NULL);
    }

  if (!ensure_parent (file->part_path, &error))
    {
      job_fail (w, job, SMELT_DOWNLOAD_ERROR_IO, error->message);
      return;
    }
  if (stat (file->part_path, &st) != 0)
    g_array_set_size (file->chunks, 0);
  have = file_bytes_done (file);
  need = total - MIN (have, total);
  {
    g_autofree char *dir = g_path_get_dirname (file->part_path);

    if (statvfs (dir, &vfs) == 0 && (guint64) vfs.f_bavail * vfs.f_frsize < need + 1024 * 1024)
      {
        g_autofree char *need_s = g_format_size (need);
        g_autofree char *free_s = g_format_size ((guint64) vfs.f_bavail * vfs.f_frsize);
        g_autofree char *msg = g_strdup_printf ("Not enough disk space in %s for %s: %s needed, %s free",
                                                dir, file->path, need_s, free_s);

        job_fail (w, job, SMELT_DOWNLOAD_ERROR_NO_SPACE, msg);
        return;
      }
  }

  if (file->chunks->len == 0)
    {
      plan_chunks (w, file);
      /* A `.part` without a progress record: in the cache its name (blobs/<etag>.part) proves
       * which file it belongs to, and a single-stream plan may keep its bytes as a prefix (the
       * hash checks them anyway). In a plain folder the name proves nothing: start over. */
      if (spec->dest_dir == NULL && file->chunks->len == 1
          && stat (file->part_path, &st) == 0)
        g_array_index (file->chunks, SmeltChunk, 0).done = MIN ((guint64) st.st_size, total);
      else if (g_unlink (file->part_path) != 0 && errno != ENOENT)
        g_debug ("Could not delete %s: %s", file->part_path, g_strerror (errno));
    }

  file->fd = open (file->part_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (file->fd < 0)
    {
      g_autofree char *msg = g_strdup_printf ("Could not write %s: %s", file->part_path, g_strerror (errno));

      job_fail (w, job, SMELT_DOWNLOAD_ERROR_IO, msg);
      return;
    }

  g_free (file->url);
  {
    const char *location = g_hash_table_lookup (headers, "location");

    file->url = g_strdup (status >= 300 && status < 400 && location != NULL ? location : file->head_url);
  }
  file->hasher = hasher_new (file->fd, total, file->want_git_sha1, w->multi);
  hasher_advance (file->hasher, file_frontier (file));
  file->phase = FILE_TRANSFER;
  w->dirty = TRUE;
  save_state (w);
}

static void
head_done (Worker   *w,
           Conn     *c,
           CURLcode  result)
{
  SmeltFileTask *file = c->file;
  SmeltJob *job = file->job;
  long status = 0;
  const char *location;
  g_autoptr(GHashTable) headers = g_hash_table_ref (c->headers);
  g_autofree char *errtext = g_strdup (c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror (result));

  curl_easy_getinfo (c->easy, CURLINFO_RESPONSE_CODE, &status);
  conn_free (w, c);
  file->n_conns = 0;
  file->phase = FILE_PENDING;

  if (result != CURLE_OK)
    {
      file_retry_later (w, file, 0, errtext);
      return;
    }
  location = g_hash_table_lookup (headers, "location");
  if (status >= 300 && status < 400 && location != NULL && location[0] == '/' && location[1] != '/')
    {
      /* A relative redirect stays on the Hub (renamed repo, resolve-cache): follow it. */
      g_autoptr(GUri) base = g_uri_parse (file->head_url, G_URI_FLAGS_NONE, NULL);
      g_autoptr(GUri) next = base != NULL ? g_uri_parse_relative (base, location, G_URI_FLAGS_NONE, NULL) : NULL;

      if (next != NULL && ++file->head_hops <= 5)
        {
          g_free (file->head_url);
          file->head_url = g_uri_to_string (next);
          return;
        }
      job_fail (w, job, SMELT_DOWNLOAD_ERROR_HTTP, "Too many redirects from the Hub");
      return;
    }
  if ((status >= 200 && status < 300) || (status >= 300 && status < 400 && location != NULL))
    {
      file_prepare (w, file, headers, status);
      return;
    }
  if (status == 429 || status == 408 || status >= 500)
    {
      g_autofree char *why = g_strdup_printf ("the Hub answered %ld", status);

      file_retry_later (w, file, parse_retry_after (headers), why);
      return;
    }
  {
    const char *code = hub_error_text (headers);
    g_autofree char *msg = NULL;

    if (g_strcmp0 (code, "GatedRepo") == 0 && status == 401)
      msg = g_strdup_printf ("%s is a gated model: accept its conditions at %s/%s, then set a Hugging "
                             "Face access token (HF_TOKEN or the app's settings)",
                             job->spec->repo_id, job->spec->endpoint, job->spec->repo_id);
    else if (g_strcmp0 (code, "GatedRepo") == 0)
      msg = g_strdup_printf ("Your token has not been granted access to %s yet: ask for it at %s/%s",
                             job->spec->repo_id, job->spec->endpoint, job->spec->repo_id);
    else if (g_strcmp0 (code, "EntryNotFound") == 0)
      msg = g_strdup_printf ("%s has no file %s at %s", job->spec->repo_id, file->path, job->spec->revision);
    else if (g_strcmp0 (code, "RevisionNotFound") == 0)
      msg = g_strdup_printf ("%s has no revision %s", job->spec->repo_id, job->spec->revision);
    else if (status == 401 || status == 404)
      msg = g_strdup_printf ("%s was not found; if it is private, set a Hugging Face access token",
                             job->spec->repo_id);
    else
      msg = g_strdup_printf ("The Hub refused %s (HTTP %ld)", file->path, status);
    job_fail (w, job, SMELT_DOWNLOAD_ERROR_HTTP, msg);
  }
}

/* ---- GET ----------------------------------------------------------------------------------- */

static void
file_start_chunk (Worker        *w,
                  SmeltFileTask *file,
                  guint          index)
{
  SmeltChunk *chunk = &g_array_index (file->chunks, SmeltChunk, index);
  Conn *c = conn_new (w, file, file->url, FALSE);

  c->chunk = index;
  chunk->busy = TRUE;
  file->n_conns++;
  /* A fresh whole-file chunk asks without Range so that a plain 200 is the right answer. */
  if (!(chunk->start == 0 && chunk->done == 0 && chunk->end == file->total))
    {
      g_autofree char *range = g_strdup_printf ("%" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT,
                                                chunk->done, chunk->end - 1);

      curl_easy_setopt (c->easy, CURLOPT_RANGE, range);
    }
}

static void
get_done (Worker   *w,
          Conn     *c,
          CURLcode  result)
{
  SmeltFileTask *file = c->file;
  SmeltChunk *chunk = &g_array_index (file->chunks, SmeltChunk, c->chunk);
  long status = 0;
  g_autoptr(GHashTable) headers = g_hash_table_ref (c->headers);
  g_autofree char *errtext = g_strdup (c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror (result));
  gboolean range_ignored = c->range_ignored;
  gboolean bad_range = c->bad_range;
  int io_errno = c->io_errno;

  curl_easy_getinfo (c->easy, CURLINFO_RESPONSE_CODE, &status);
  chunk->busy = FALSE;
  conn_free (w, c);
  file->n_conns--;
  w->dirty = TRUE;

  if (io_errno != 0)
    {
      g_autofree char *msg = g_strdup_printf ("Could not write %s: %s", file->part_path, g_strerror (io_errno));

      job_fail (w, file->job, io_errno == ENOSPC ? SMELT_DOWNLOAD_ERROR_NO_SPACE : SMELT_DOWNLOAD_ERROR_IO, msg);
      return;
    }
  if (chunk->done == chunk->end)
    return; /* complete; whatever came after the last byte does not matter */
  if (range_ignored)
    {
      /* The server ignored Range (hub-api.md 5.2): start this file over from byte 0, one stream. */
      g_debug ("%s: the server ignored Range; restarting from 0", file->path);
      file_stop (w, file);
      g_array_set_size (file->chunks, 0);
      {
        SmeltChunk whole = { 0, file->total, 0, FALSE };

        g_array_append_val (file->chunks, whole);
      }
      if (file->part_path != NULL && truncate (file->part_path, 0) != 0)
        g_debug ("truncate %s: %s", file->part_path, g_strerror (errno));
      file->failures++;
      if (file->failures > w->max_failures)
        job_fail (w, file->job, SMELT_DOWNLOAD_ERROR_NETWORK, "The server keeps ignoring ranged requests");
      return;
    }
  if (bad_range)
    {
      file_retry_later (w, file, 0, "the server sent a different range than asked");
      return;
    }
  if (status == 401 || status == 403 || status == 416)
    {
      /* The signed CDN URL expired, or the file changed: ask the Hub again (etag re-checked). */
      if (++file->reheads > 3)
        {
          g_autofree char *msg = g_strdup_printf ("The download server keeps refusing %s (HTTP %ld)",
                                                  file->path, status);

          job_fail (w, file->job, SMELT_DOWNLOAD_ERROR_HTTP, msg);
          return;
        }
      file_stop (w, file);
      return;
    }
  if (status == 404 || status == 410)
    {
      g_autofree char *msg = g_strdup_printf ("%s is gone from the download server (HTTP %ld)", file->path, status);

      job_fail (w, file->job, SMELT_DOWNLOAD_ERROR_HTTP, msg);
      return;
    }
  if (status >= 400)
    {
      g_autofree char *why = g_strdup_printf ("HTTP %ld", status);

      file_retry_later (w, file, parse_retry_after (headers), why);
      return;
    }
  /* Connection lost, timeout, or a body shorter than announced. */
  file_retry_later (w, file, 0, result != CURLE_OK ? errtext : "the connection closed early");
}

/* ---- scheduling ---------------------------------------------------------------------------- */

static guint
active_files (Worker *w)
{
  guint n = 0;

  for (guint j = 0; j < w->jobs->len; j++)
    {
      SmeltJob *job = g_ptr_array_index (w->jobs, j);

      for (guint i = 0; i < job->files->len; i++)
        {
          SmeltFileTask *file = g_ptr_array_index (job->files, i);

          n += file->phase == FILE_HEAD || file->phase == FILE_TRANSFER;
        }
    }
  return n;
}

static gint64
schedule (Worker *w)
{
  gint64 now = g_get_monotonic_time ();
  gint64 next_wake = G_MAXINT64;
  guint active = active_files (w);

  for (guint j = 0; j < w->jobs->len; j++)
    {
      SmeltJob *job = g_ptr_array_index (w->jobs, j);

      if (job->state != SMELT_DOWNLOAD_QUEUED && job->state != SMELT_DOWNLOAD_RUNNING)
        continue;
      for (guint i = 0; i < job->files->len; i++)
        {
          SmeltFileTask *file = g_ptr_array_index (job->files, i);

          if (job->state != SMELT_DOWNLOAD_QUEUED && job->state != SMELT_DOWNLOAD_RUNNING)
            break; /* failed meanwhile */
          if (file->phase == FILE_PENDING && !file->done)
            {
              if (active >= w->max_files)
                continue;
              if (file->retry_at > now)
                {
                  next_wake = MIN (next_wake, file->retry_at);
                  continue;
                }
              file_start_head (w, file);
              active++;
            }
          else if (file->phase == FILE_PENDING && file->done)
            file->phase = FILE_DONE;
          else if (file->phase == FILE_TRANSFER)
            {
              hasher_advance (file->hasher, file_frontier (file));
              if (file_chunks_complete (file))
                {
                  if (file->n_conns == 0 && g_atomic_int_get (&file->hasher->finished))
                    file_verify (w, file);
                  continue;
                }
              if (file->retry_at > now)
                {
                  next_wake = MIN (next_wake, file->retry_at);
                  continue;
                }
              /* Chunks in file order keep the hash frontier close behind the newest bytes. */
              for (guint c = 0; c < file->chunks->len && file->n_conns < w->connections; c++)
                {
                  SmeltChunk *chunk = &g_array_index (file->chunks, SmeltChunk, c);

                  if (!chunk->busy && chunk->done < chunk->end)
                    file_start_chunk (w, file, c);
                }
            }
        }
      if (job->state == SMELT_DOWNLOAD_RUNNING || job->state == SMELT_DOWNLOAD_QUEUED)
        {
          gboolean all_done = TRUE;

          for (guint i = 0; i < job->files->len; i++)
            all_done &= ((SmeltFileTask *) g_ptr_array_index (job->files, i))->done;
          if (all_done)
            job_check_done (w, job);
        }
    }
  return next_wake;
}

static SmeltJob *
find_job (Worker *w,
          guint   id)
{
  for (guint i = 0; i < w->jobs->len; i++)
    if (((SmeltJob *) g_ptr_array_index (w->jobs, i))->id == id)
      return g_ptr_array_index (w->jobs, i);
  return NULL;
}

static gboolean
run_command (Worker  *w,
             Command *cmd)
{
  SmeltJob *job = find_job (w, cmd->id);

  switch (cmd->kind)
    {
    case CMD_ADD:
      job = g_steal_pointer (&cmd->job);
      g_ptr_array_add (w->jobs, job);
      save_state (w);
      post_job (w, job, TRUE);
      break;
    case CMD_PAUSE:
      if (job != NULL && (job->state == SMELT_DOWNLOAD_QUEUED || job->state == SMELT_DOWNLOAD_RUNNING))
        {
          job_stop (w, job);
          job->state = SMELT_DOWNLOAD_PAUSED;
          job->speed = 0;
          save_state (w);
          post_job (w, job, TRUE);
        }
      break;
    case CMD_RESUME:
      if (job != NULL && job->state != SMELT_DOWNLOAD_QUEUED && job->state != SMELT_DOWNLOAD_RUNNING)
        {
          job->state = SMELT_DOWNLOAD_QUEUED;
          g_clear_pointer (&job->error, g_free);
          job->error_code = 0;
          for (guint i = 0; i < job->files->len; i++)
            {
              SmeltFileTask *file = g_ptr_array_index (job->files, i);

              /* A finished file whose result was deleted since is fetched again. */
              if (file->done && (file->final_path == NULL || !g_file_test (file->final_path, G_FILE_TEST_EXISTS)))
                file->done = FALSE;
              file->phase = FILE_PENDING;
              file->failures = 0;
              file->reheads = 0;
              file->retry_at = 0;
              file->scratch_retry_used = FALSE;
              g_clear_pointer (&file->head_url, g_free);
            }
          save_state (w);
          post_job (w, job, TRUE);
        }
      break;
    case CMD_CANCEL:
      if (job != NULL)
        {
          job_stop (w, job);
          for (guint i = 0; i < job->files->len; i++)
            {
              SmeltFileTask *file = g_ptr_array_index (job->files, i);

              if (!file->done)
                file_reset_data (file);
            }
          job->state = SMELT_DOWNLOAD_CANCELLED;
          post_job (w, job, TRUE);
          g_ptr_array_remove (w->jobs, job);
          save_state (w);
        }
      break;
    case CMD_SET_TOKEN:
      g_free (w->token);
      w->token = g_strdup (cmd->text);
      break;
    case CMD_SET_CONNECTIONS:
      w->connections = CLAMP (cmd->value, 1, 16);
      break;
    case CMD_SET_MAX_FILES:
      w->max_files = CLAMP (cmd->value, 1, 16);
      break;
    case CMD_SET_CACHE_DIR:
      g_free (w->cache_dir);
      w->cache_dir = g_strdup (cmd->text);
      break;
    case CMD_QUIT:
    default:
      return FALSE;
    }
  return TRUE;
}

static gpointer
worker_main (gpointer data)
{
  Worker *w = data;
  gboolean running = TRUE;

  while (running)
    {
      Command *cmd;
      gint64 next_wake, now;
      int timeout_ms = 100;
      int still;
      CURLMsg *msg;
      int left;

      while (running && (cmd = g_async_queue_try_pop (w->commands)) != NULL)
        {
          running = run_command (w, cmd);
          command_free (cmd);
        }
      if (!running)
        break;

      /* Handles added by schedule() start moving in perform(), before the poll sleeps. */
      next_wake = schedule (w);
      curl_multi_perform (w->multi, &still);
      while ((msg = curl_multi_info_read (w->multi, &left)) != NULL)
        {
          Conn *c = NULL;

          if (msg->msg != CURLMSG_DONE)
            continue;
          curl_easy_getinfo (msg->easy_handle, CURLINFO_PRIVATE, (char **) &c);
          if (c->is_head)
            head_done (w, c, msg->data.result);
          else
            get_done (w, c, msg->data.result);
          /* Finished transfers free a slot or need a follow-up: schedule again right away. */
          next_wake = 0;
        }

      for (guint j = 0; j < w->jobs->len; j++)
        {
          SmeltJob *job = g_ptr_array_index (w->jobs, j);

          if (job->state == SMELT_DOWNLOAD_RUNNING)
            {
              post_job (w, job, FALSE);
              w->dirty = TRUE;
            }
        }
      /* Transfers that received nothing for stall_seconds are cut and retried. */
      now = g_get_monotonic_time ();
      for (gboolean again = TRUE; again;)
        {
          again = FALSE;
          for (guint i = 0; i < w->conns->len; i++)
            {
              Conn *c = g_ptr_array_index (w->conns, i);

              if (!c->is_head && now - c->last_activity > (gint64) w->stall_seconds * G_USEC_PER_SEC)
                {
                  g_snprintf (c->errbuf, sizeof c->errbuf, "no data for %ld s", w->stall_seconds);
                  get_done (w, c, CURLE_OPERATION_TIMEDOUT);
                  next_wake = 0;
                  again = TRUE;
                  break;
                }
            }
        }

      if (w->dirty && g_get_monotonic_time () - w->last_save_us >= SAVE_INTERVAL_US)
        save_state (w);

      now = g_get_monotonic_time ();
      if (next_wake != G_MAXINT64)
        timeout_ms = (int) CLAMP ((next_wake - now) / 1000, 0, 100);
      else
        timeout_ms = 100;
      if (timeout_ms > 0)
        curl_multi_poll (w->multi, NULL, 0, timeout_ms, NULL);
    }

  /* Leaving: everything stops where it is; the state file keeps the progress. */
  for (guint j = 0; j < w->jobs->len; j++)
    job_stop (w, g_ptr_array_index (w->jobs, j));
  save_state (w);
  return NULL;
}

static void
worker_free (Worker *w)
{
  Command *cmd;

  while ((cmd = g_async_queue_try_pop (w->commands)) != NULL)
    command_free (cmd);
  g_async_queue_unref (w->commands);
  g_ptr_array_unref (w->jobs);
  g_ptr_array_unref (w->conns);
  curl_multi_cleanup (w->multi);
  g_main_context_unref (w->main_ctx);
  g_atomic_rc_box_release (w->shared);
  g_free (w->state_path);
  g_free (w->cache_dir);
  g_free (w->token);
  g_free (w);
}

/* ---- the GObject --------------------------------------------------------------------------- */

static void
send_command (SmeltDownloadManager *self,
              Command              *cmd)
{
  if (self->worker == NULL)
    {
      command_free (cmd);
      return;
    }
  g_async_queue_push (self->worker->commands, cmd);
  curl_multi_wakeup (self->worker->multi);
}

void
smelt_download_manager_shutdown (SmeltDownloadManager *self)
{
  Command *cmd;

  g_return_if_fail (SMELT_IS_DOWNLOAD_MANAGER (self));

  if (self->worker == NULL)
    return;
  cmd = g_new0 (Command, 1);
  cmd->kind = CMD_QUIT;
  send_command (self, cmd);
  g_thread_join (self->thread);
  self->thread = NULL;
  self->worker->shared->self = NULL;
  worker_free (self->worker);
  self->worker = NULL;
}

static void
smelt_download_manager_dispose (GObject *object)
{
  smelt_download_manager_shutdown (SMELT_DOWNLOAD_MANAGER (object));

  G_OBJECT_CLASS (smelt_download_manager_parent_class)->dispose (object);
}

static void
smelt_download_manager_finalize (GObject *object)
{
  SmeltDownloadManager *self = SMELT_DOWNLOAD_MANAGER (object);

  g_clear_pointer (&self->infos, g_hash_table_unref);
  g_clear_pointer (&self->keys, g_hash_table_unref);
  g_clear_pointer (&self->autostart, g_array_unref);
  g_clear_pointer (&self->token, g_free);
  g_clear_pointer (&self->cache_dir, g_free);
  if (self->lock_fd >= 0)
    close (self->lock_fd);

  G_OBJECT_CLASS (smelt_download_manager_parent_class)->finalize (object);
}

static void
smelt_download_manager_get_property (GObject    *object,
                                     guint       prop_id,
                                     GValue     *value,
                                     GParamSpec *pspec)
{
  SmeltDownloadManager *self = SMELT_DOWNLOAD_MANAGER (object);

  switch (prop_id)
    {
    case PROP_CONNECTIONS:
      g_value_set_uint (value, self->connections);
      break;
    case PROP_MAX_FILES:
      g_value_set_uint (value, self->max_files);
      break;
    case PROP_TOKEN:
      g_value_set_string (value, self->token);
      break;
    case PROP_CACHE_DIR:
      g_value_set_string (value, self->cache_dir);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
smelt_download_manager_set_property (GObject      *object,
                                     guint         prop_id,
                                     const GValue *value,
                                     GParamSpec   *pspec)
{
  SmeltDownloadManager *self = SMELT_DOWNLOAD_MANAGER (object);

  switch (prop_id)
    {
    case PROP_CONNECTIONS:
      smelt_download_manager_set_connections (self, g_value_get_uint (value));
      break;
    case PROP_MAX_FILES:
      smelt_download_manager_set_max_files (self, g_value_get_uint (value));
      break;
    case PROP_TOKEN:
      smelt_download_manager_set_token (self, g_value_get_string (value));
      break;
    case PROP_CACHE_DIR:
      smelt_download_manager_set_cache_dir (self, g_value_get_string (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
smelt_download_manager_class_init (SmeltDownloadManagerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = smelt_download_manager_dispose;
  object_class->finalize = smelt_download_manager_finalize;
  object_class->get_property = smelt_download_manager_get_property;
  object_class->set_property = smelt_download_manager_set_property;

  properties[PROP_CONNECTIONS] =
    g_param_spec_uint ("connections", NULL, NULL, 1, 16, 4,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_MAX_FILES] =
    g_param_spec_uint ("max-files", NULL, NULL, 1, 16, 2,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_TOKEN] =
    g_param_spec_string ("token", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CACHE_DIR] =
    g_param_spec_string ("cache-dir", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* Emitted on the main thread when a job's snapshot changed (at most ~20 Hz per job). */
  signals[SIGNAL_CHANGED] = g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                          0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_UINT);
  /* Emitted once when a job reaches done, failed or cancelled. */
  signals[SIGNAL_FINISHED] = g_signal_new ("finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                           0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_UINT);

  curl_global_init (CURL_GLOBAL_DEFAULT);
}

static void
smelt_download_manager_init (SmeltDownloadManager *self)
{
  self->infos = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) smelt_download_info_free);
  self->keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->autostart = g_array_new (FALSE, FALSE, sizeof (guint));
  self->next_id = 1;
  self->connections = 4;
  self->max_files = 2;
  self->lock_fd = -1;
}

static void
autostart_ref_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

static gboolean
autostart_cb (gpointer data)
{
  g_autoptr(SmeltDownloadManager) self = g_weak_ref_get (data);

  if (self == NULL)
    return G_SOURCE_REMOVE;
  for (guint i = 0; i < self->autostart->len; i++)
    smelt_download_manager_resume (self, g_array_index (self->autostart, guint, i));
  g_array_set_size (self->autostart, 0);
  return G_SOURCE_REMOVE;
}

SmeltDownloadManager *
smelt_download_manager_new (const char *state_path,
                            gboolean    autostart,
                            GError    **error)
{
  g_autoptr(SmeltDownloadManager) self = g_object_new (SMELT_TYPE_DOWNLOAD_MANAGER, NULL);
  g_autofree char *path = state_path != NULL ? g_strdup (state_path) : smelt_download_default_state_path ();
  g_autofree char *contents = NULL;
  g_autoptr(GPtrArray) jobs = NULL;
  g_autoptr(GError) local_error = NULL;
  gsize len = 0;
  Worker *w;

  self->lock_fd = lock_state_file (path, error);
  if (self->lock_fd < 0)
    return NULL;
  if (g_file_get_contents (path, &contents, &len, &local_error))
    {
      jobs = smelt_download_state_from_json (contents, len, error);
      if (jobs == NULL)
        return NULL;
    }
  else if (!g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
    {
      g_set_error (error, SMELT_DOWNLOAD_ERROR, SMELT_DOWNLOAD_ERROR_STATE,
                   "Could not read the download queue %s: %s", path, local_error->message);
      return NULL;
    }
  else
    jobs = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_job_free);

  self->cache_dir = smelt_download_hub_cache_dir ();

  w = g_new0 (Worker, 1);
  w->commands = g_async_queue_new ();
  w->multi = curl_multi_init ();
  w->main_ctx = g_main_context_ref_thread_default ();
  w->shared = g_atomic_rc_box_new0 (Shared);
  w->shared->self = self;
  w->conns = g_ptr_array_new ();
  w->state_path = g_strdup (path);
  w->cache_dir = g_strdup (self->cache_dir);
  w->connections = self->connections;
  w->max_files = self->max_files;
  w->chunk_size = MAX (env_uint ("SMELT_DOWNLOAD_CHUNK_SIZE", DEFAULT_CHUNK_SIZE), 4096);
  w->backoff_ms = MAX (env_uint ("SMELT_DOWNLOAD_BACKOFF_MS", 1000), 1);
  w->max_failures = env_uint ("SMELT_DOWNLOAD_MAX_RETRIES", 8);
  w->stall_seconds = (long) MAX (env_uint ("SMELT_DOWNLOAD_STALL_TIMEOUT", 30), 1);

  for (guint i = 0; i < jobs->len; i++)
    {
      SmeltJob *job = g_ptr_array_index (jobs, i);
      g_autofree char *key = smelt_download_spec_key (job->spec);
      gboolean interrupted = job->state == SMELT_DOWNLOAD_RUNNING || job->state == SMELT_DOWNLOAD_QUEUED;
      SmeltDownloadInfo *info;

      /* Interrupted jobs wait as paused; with autostart they are resumed from an idle, so that
       * properties set right after construction (the token above all) apply to them. */
      if (interrupted)
        job->state = SMELT_DOWNLOAD_PAUSED;
      if (interrupted && autostart)
        g_array_append_val (self->autostart, job->id);
      info = job_info (job);
      if (interrupted && autostart)
        info->state = SMELT_DOWNLOAD_QUEUED;
      g_hash_table_insert (self->infos, GUINT_TO_POINTER (job->id), info);
      g_hash_table_replace (self->keys, g_steal_pointer (&key), GUINT_TO_POINTER (job->id));
      self->next_id = MAX (self->next_id, job->id + 1);
    }
  if (self->autostart->len > 0)
    {
      GWeakRef *ref = g_new0 (GWeakRef, 1);

      g_weak_ref_init (ref, self);
      g_idle_add_full (G_PRIORITY_DEFAULT, autostart_cb, ref, autostart_ref_free);
    }
  w->jobs = g_steal_pointer (&jobs);
  self->worker = w;
  self->thread = g_thread_new ("smelt-download", worker_main, w);
  return g_steal_pointer (&self);
}

static void
send_value (SmeltDownloadManager *self,
            CommandKind           kind,
            guint                 id,
            guint                 value,
            const char           *text)
{
  Command *cmd = g_new0 (Command, 1);

  cmd->kind = kind;
  cmd->id = id;
  cmd->value = value;
  cmd->text = g_strdup (text);
  send_command (self, cmd);
}

void
smelt_download_manager_set_connections (SmeltDownloadManager *self,
                                        guint                 connections)
{
  g_return_if_fail (SMELT_IS_DOWNLOAD_MANAGER (self));

  connections = CLAMP (connections, 1, 16);
  if (connections == self->connections)
    return;
  self->connections = connections;
  send_value (self, CMD_SET_CONNECTIONS, 0, connections, NULL);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CONNECTIONS]);
}

void
smelt_download_manager_set_max_files (SmeltDownloadManager *self,
                                      guint                 max_files)
{
  g_return_if_fail (SMELT_IS_DOWNLOAD_MANAGER (self));

  max_files = CLAMP (max_files, 1, 16);
  if (max_files == self->max_files)
    return;
  self->max_files = max_files;
  send_value (self, CMD_SET_MAX_FILES, 0, max_files, NULL);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MAX_FILES]);
}

void
smelt_download_manager_set_token (SmeltDownloadManager *self,
                                  const char           *token)
{
  g_return_if_fail (SMELT_IS_DOWNLOAD_MANAGER (self));

  if (g_strcmp0 (token, self->token) == 0)
    return;
  g_free (self->token);
  self->token = g_strdup (token != NULL && *token != '\0' ? token : NULL);
  send_value (self, CMD_SET_TOKEN, 0, 0, self->token);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TOKEN]);
}

void
smelt_download_manager_set_cache_dir (SmeltDownloadManager *self,
                                      const char           *cache_dir)
{
  g_return_if_fail (SMELT_IS_DOWNLOAD_MANAGER (self));

  if (cache_dir == NULL || *cache_dir == '\0' || g_strcmp0 (cache_dir, self->cache_dir) == 0)
    return;
  g_free (self->cache_dir);
  self->cache_dir = g_strdup (cache_dir);
  send_value (self, CMD_SET_CACHE_DIR, 0, 0, cache_dir);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CACHE_DIR]);
}

guint
smelt_download_manager_add (SmeltDownloadManager    *self,
                            const SmeltDownloadSpec *spec)
{
  g_autofree char *key = NULL;
  gpointer existing;
  Command *cmd;
  SmeltJob *job;
  guint id;

  g_return_val_if_fail (SMELT_IS_DOWNLOAD_MANAGER (self), 0);
  g_return_val_if_fail (spec != NULL && spec->repo_id != NULL && spec->endpoint != NULL, 0);
  g_return_val_if_fail (spec->files != NULL && spec->files->len > 0, 0);

  key = smelt_download_spec_key (spec);
  if (g_hash_table_lookup_extended (self->keys, key, NULL, &existing))
    {
      smelt_download_manager_resume (self, GPOINTER_TO_UINT (existing));
      return GPOINTER_TO_UINT (existing);
    }

  id = self->next_id++;
  job = smelt_job_new (id, spec);
  for (guint i = 0; i < spec->files->len; i++)
    if (!smelt_hub_path_is_safe (((SmeltHubFile *) g_ptr_array_index (spec->files, i))->path)
        || !smelt_hub_path_is_safe (spec->repo_id))
      {
        /* Never write outside the destination, whatever the listing said. */
        job->state = SMELT_DOWNLOAD_FAILED;
        job->error = g_strdup ("Refusing an unsafe file name from the server");
        job->error_code = SMELT_DOWNLOAD_ERROR_FAILED;
      }
  {
    SmeltDownloadInfo *info = job_info (job);

    /* Queued as far as the caller knows until the worker reports, so that a job refused at once
     * still gets its "finished". */
    info->state = SMELT_DOWNLOAD_QUEUED;
    g_hash_table_insert (self->infos, GUINT_TO_POINTER (id), info);
  }
  g_hash_table_replace (self->keys, g_steal_pointer (&key), GUINT_TO_POINTER (id));
  cmd = g_new0 (Command, 1);
  cmd->kind = CMD_ADD;
  cmd->id = id;
  cmd->job = job;
  send_command (self, cmd);
  return id;
}

void
smelt_download_manager_pause (SmeltDownloadManager *self,
                              guint                 id)
{
  g_return_if_fail (SMELT_IS_DOWNLOAD_MANAGER (self));

  send_value (self, CMD_PAUSE, id, 0, NULL);
}

void
smelt_download_manager_resume (SmeltDownloadManager *self,
                               guint                 id)
{
  g_return_if_fail (SMELT_IS_DOWNLOAD_MANAGER (self));

  send_value (self, CMD_RESUME, id, 0, NULL);
}

void
smelt_download_manager_cancel (SmeltDownloadManager *self,
                               guint                 id)
{
  g_return_if_fail (SMELT_IS_DOWNLOAD_MANAGER (self));

  send_value (self, CMD_CANCEL, id, 0, NULL);
}

SmeltDownloadInfo *
smelt_download_manager_get_info (SmeltDownloadManager *self,
                                 guint                 id)
{
  SmeltDownloadInfo *info;

  g_return_val_if_fail (SMELT_IS_DOWNLOAD_MANAGER (self), NULL);

  info = g_hash_table_lookup (self->infos, GUINT_TO_POINTER (id));
  return info != NULL ? smelt_download_info_copy (info) : NULL;
}

static int
compare_info (gconstpointer a,
              gconstpointer b)
{
  const SmeltDownloadInfo *ia = *(SmeltDownloadInfo * const *) a;
  const SmeltDownloadInfo *ib = *(SmeltDownloadInfo * const *) b;

  return ia->id < ib->id ? -1 : ia->id > ib->id;
}

GPtrArray *
smelt_download_manager_list (SmeltDownloadManager *self)
{
  GPtrArray *list;
  GHashTableIter iter;
  gpointer value;

  g_return_val_if_fail (SMELT_IS_DOWNLOAD_MANAGER (self), NULL);

  list = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_download_info_free);
  g_hash_table_iter_init (&iter, self->infos);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (list, smelt_download_info_copy (value));
  g_ptr_array_sort (list, compare_info);
  return list;
}
