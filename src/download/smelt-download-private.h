/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-download-private.h: what the manager (main thread) and its worker (curl thread) share
 * inside src/download/. Never included from outside this folder.
 *
 * The worker owns every Job and FileTask once started; the main thread talks to it only through
 * the command queue (plus curl_multi_wakeup) and hears back through snapshots posted with
 * g_main_context_invoke_full (style.md, pattern 3).
 */
#pragma once

#include <curl/curl.h>

#include "smelt-download-manager.h"

G_BEGIN_DECLS

typedef struct
{
  guint64  start; /* first byte (file offset) */
  guint64  end;   /* one past the last byte */
  guint64  done;  /* next byte to write; start <= done <= end; [start, done) is on disk */
  gboolean busy;  /* a connection is fetching it */
} SmeltChunk;

typedef struct _SmeltHasher SmeltHasher;
typedef struct _SmeltJob SmeltJob;

typedef enum
{
  FILE_PENDING,  /* needs a HEAD (first run, resume, or after an expired CDN URL) */
  FILE_HEAD,     /* HEAD in flight */
  FILE_TRANSFER, /* chunks in flight or hashing */
  FILE_DONE,
} SmeltFilePhase;

typedef struct
{
  SmeltJob      *job;
  char          *path;        /* repo path */
  guint64        spec_size;   /* G_MAXUINT64 = unknown */
  char          *spec_sha256; /* (nullable) */

  /* persisted */
  char          *etag;        /* etag the chunks belong to */
  char          *commit;
  guint64        total;       /* G_MAXUINT64 = unknown */
  GArray        *chunks;      /* SmeltChunk */
  gboolean       done;
  char          *final_path;  /* (nullable) once done */

  /* runtime */
  SmeltFilePhase phase;
  char          *head_url;     /* current HEAD URL (relative redirects followed) */
  char          *url;          /* GET URL (CDN Location or resolve URL) */
  char          *proxy;        /* (nullable) from GProxyResolver */
  char          *part_path;
  char          *expected_sha256;
  gboolean       want_git_sha1;
  int            fd;
  int            lock_fd;     /* flock on <cache>/.locks/<repo>/<etag>.lock, shared with huggingface_hub */
  SmeltHasher   *hasher;
  guint          n_conns;
  guint          failures;     /* consecutive, reset whenever bytes arrive */
  guint          head_hops;
  guint          reheads;      /* re-HEADs after 401/403/416 from the CDN */
  gboolean       scratch_retry_used;
  gint64         retry_at;     /* monotonic µs */
  char          *last_error;
} SmeltFileTask;

struct _SmeltJob
{
  guint              id;
  SmeltDownloadSpec *spec;
  SmeltDownloadState state;
  char              *error;
  gint               error_code;
  GPtrArray         *files;  /* SmeltFileTask */

  /* progress posting */
  gint64             last_post_us;
  gint64             sample_us;
  guint64            sample_bytes;
  double             speed;
};

void           smelt_file_task_free (SmeltFileTask *file);
SmeltFileTask *smelt_file_task_new (SmeltJob           *job,
                                    const SmeltHubFile *file);
void           smelt_job_free (SmeltJob *job);
SmeltJob      *smelt_job_new (guint                    id,
                              const SmeltDownloadSpec *spec);

/* State file (de)serialisation; both pure. */
char      *smelt_download_state_to_json (GPtrArray *jobs);
GPtrArray *smelt_download_state_from_json (const char *json,
                                           gsize       length,
                                           GError    **error);

SmeltDownloadSpec *smelt_download_spec_copy (const SmeltDownloadSpec *spec);
/* A key naming what a spec fetches, for de-duplication. */
char              *smelt_download_spec_key (const SmeltDownloadSpec *spec);

G_END_DECLS
