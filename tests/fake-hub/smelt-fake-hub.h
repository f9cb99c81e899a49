/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-fake-hub.h: a small Hugging Face Hub on 127.0.0.1 for tests, benchmarks and e2e runs.
 *
 * A real SoupServer (ephemeral loopback port) that speaks the parts of the Hub's HTTP API Smelt
 * uses: `/api/models` search with `Link` pagination, model info, tree listing (paginated), refs,
 * and `/{repo}/resolve/{rev}/{path}` (HEAD and GET) with the Hub's headers (X-Repo-Commit,
 * X-Linked-Etag, X-Linked-Size, ETag), a 302 to a separate "CDN" route for LFS files, and Range.
 * Faults are injected on demand into the CDN/file responses. Repos come from code or a directory.
 * Not a mock of any Smelt function: clients talk to it over real HTTP.
 *
 * Threading: the server runs in the thread-default main context that was current when
 * smelt_fake_hub_start() was called; all other calls belong to that thread too, except the
 * counters, which are atomic and may be read from any thread.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _SmeltFakeHub SmeltFakeHub;

typedef enum
{
  SMELT_FAKE_HUB_FAULT_DROP,          /* close the connection after `arg` body bytes */
  SMELT_FAKE_HUB_FAULT_STATUS_500,    /* 500 Internal Server Error */
  SMELT_FAKE_HUB_FAULT_STATUS_429,    /* 429 with Retry-After: `arg` seconds */
  SMELT_FAKE_HUB_FAULT_SHORT,         /* announce the full length, send `arg` bytes less, close */
  SMELT_FAKE_HUB_FAULT_WRONG_BYTES,   /* flip a byte at body offset `arg` (hash mismatch) */
  SMELT_FAKE_HUB_FAULT_IGNORE_RANGE,  /* answer 200 with the whole file even to a Range */
  SMELT_FAKE_HUB_FAULT_STALL,         /* send `arg` body bytes, then nothing (until the peer goes) */
  SMELT_FAKE_HUB_FAULT_SLOW,          /* send at most `arg` bytes per 10 ms tick */
} SmeltFakeHubFault;

SmeltFakeHub *smelt_fake_hub_new (void);
void          smelt_fake_hub_free (SmeltFakeHub *hub);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmeltFakeHub, smelt_fake_hub_free)

/* Listens on 127.0.0.1:`port` (0 = ephemeral). */
gboolean    smelt_fake_hub_start (SmeltFakeHub *hub,
                                  guint         port,
                                  GError      **error);
/* "http://127.0.0.1:PORT", without a trailing slash; valid after start. */
const char *smelt_fake_hub_get_url (SmeltFakeHub *hub);

/* Adds (or returns) a repository; `commit` NULL = a made-up 40-hex commit from the id. */
void smelt_fake_hub_add_repo (SmeltFakeHub *hub,
                              const char   *repo_id,
                              const char   *commit);
/* Adds a file; files ending in .gguf or larger than 1 KiB are LFS (sha256 etag, CDN redirect).
 * `path` is stored as given, hostile names included (for tests of the client's checks). */
void smelt_fake_hub_add_file (SmeltFakeHub *hub,
                              const char   *repo_id,
                              const char   *path,
                              GBytes       *content);
/* Sets search fields. */
void smelt_fake_hub_set_stats (SmeltFakeHub *hub,
                               const char   *repo_id,
                               gint64        downloads,
                               gint64        likes,
                               double        trending,
                               const char   *last_modified);
/* Gated repos need `Authorization: Bearer <token>` for files (401/403 GatedRepo otherwise);
 * private repos answer 401 RepoNotFound everywhere without it. */
void smelt_fake_hub_set_gated (SmeltFakeHub *hub,
                               const char   *repo_id,
                               gboolean      gated);
void smelt_fake_hub_set_private (SmeltFakeHub *hub,
                                 const char   *repo_id,
                                 gboolean      is_private);
void smelt_fake_hub_set_token (SmeltFakeHub *hub,
                               const char   *token);
/* Makes HEAD/resolve announce `size` bytes (X-Linked-Size) for a file, whatever it holds. */
void smelt_fake_hub_set_announced_size (SmeltFakeHub *hub,
                                        const char   *repo_id,
                                        const char   *path,
                                        guint64       size);
/* `old_id` was renamed to `new_id`: resolve URLs under the old name answer a relative 307 to
 * the new one, as the Hub does. */
void smelt_fake_hub_add_alias (SmeltFakeHub *hub,
                               const char   *old_id,
                               const char   *new_id);
/* Requests of any kind seen so far. */
guint smelt_fake_hub_get_requests (SmeltFakeHub *hub);
/* The User-Agent of the last request, or NULL. */
const char *smelt_fake_hub_get_last_user_agent (SmeltFakeHub *hub);
/* Host name put in CDN redirects (default 127.0.0.1). "localhost" makes the CDN another origin
 * on the same server, to check that clients drop Authorization across hosts. */
void smelt_fake_hub_set_cdn_host (SmeltFakeHub *hub,
                                  const char   *host);
/* CDN (file content) requests that carried an Authorization header. */
guint smelt_fake_hub_get_cdn_auth_requests (SmeltFakeHub *hub);
/* Page size of search and tree listings (default 1000). */
void smelt_fake_hub_set_page_size (SmeltFakeHub *hub,
                                   guint         page_size);

/* Loads every regular file under `root`/<org>/<name>/ as repository org/name (files are mapped,
 * not copied). */
gboolean smelt_fake_hub_load_dir (SmeltFakeHub *hub,
                                  const char   *root,
                                  GError      **error);

/* The next `count` file-content GETs whose path ends with `path_suffix` (NULL = any) get `fault`. */
void smelt_fake_hub_add_fault (SmeltFakeHub     *hub,
                               const char       *path_suffix,
                               SmeltFakeHubFault fault,
                               guint64           arg,
                               guint             count);
void smelt_fake_hub_clear_faults (SmeltFakeHub *hub);
/* The next `count` requests of any kind (API, resolve, CDN) whose raw path and query
 * ("/api/models/o/n/tree/main?cursor=2"...) contain `path_part` (NULL = any) answer `status` with
 * an error body, plus `Retry-After` and `RateLimit` headers when those are non-NULL: "fail the
 * first N requests, then succeed". Cleared by smelt_fake_hub_clear_faults(). */
void smelt_fake_hub_add_status_fault (SmeltFakeHub *hub,
                                      const char   *path_part,
                                      guint         status,
                                      const char   *retry_after,
                                      const char   *ratelimit,
                                      guint         count);
/* How many injected faults have not fired yet. */
guint smelt_fake_hub_get_faults_left (SmeltFakeHub *hub);

/* Body bytes of file content written to clients so far (all files, or one path suffix). */
guint64 smelt_fake_hub_get_bytes_served (SmeltFakeHub *hub,
                                         const char   *path_suffix);
/* Number of requests seen so far for file content (GET, any status). */
guint   smelt_fake_hub_get_file_requests (SmeltFakeHub *hub);
/* The sha256 (lowercase hex) of a stored file, or NULL. */
const char *smelt_fake_hub_get_sha256 (SmeltFakeHub *hub,
                                       const char   *repo_id,
                                       const char   *path);
/* The commit of a repo, or NULL. */
const char *smelt_fake_hub_get_commit (SmeltFakeHub *hub,
                                       const char   *repo_id);

G_END_DECLS
