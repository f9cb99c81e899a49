/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-download-manager.h: the persistent download queue (libcurl multi on a worker thread).
 *
 * A job is a set of files of one Hub repo at one revision (a variant: one GGUF, gguf-split parts,
 * or byte pieces), fetched into the huggingface_hub cache layout (shared with huggingface_hub and
 * llama.cpp) or into a plain directory. For every file the worker HEADs the stable resolve URL
 * (commit, etag, size, CDN Location), skips blobs already in the cache, checks free disk space,
 * then fetches `.part` data in ranged chunks over up to "connections" connections while a hasher
 * thread computes sha256 in file order behind them (over the existing prefix too, on resume). Size
 * and hash are checked before the atomic rename; a mismatch deletes the data and retries once
 * from scratch, then fails. Connection loss, timeouts, 5xx and 429 (Retry-After) are retried with
 * backoff; a ranged request answered 200 restarts that file from byte 0.
 *
 * The queue and every chunk's progress live in a JSON state file, saved atomically on every state
 * change and about once a second while bytes flow, so a killed process resumes where the last
 * save left it (after re-checking the etag) and never re-fetches bytes it recorded. Tokens are
 * never written to the state file.
 *
 * Threading: create, call and unref on one thread (the main thread); "changed" and "finished" are
 * emitted there, progress at most ~20 times per second per job. Nothing here blocks on the
 * network.
 */
#pragma once

#include <gio/gio.h>

#include "smelt-hub-variants.h"

G_BEGIN_DECLS

#define SMELT_DOWNLOAD_ERROR (smelt_download_error_quark ())
GQuark smelt_download_error_quark (void);

typedef enum
{
  SMELT_DOWNLOAD_ERROR_FAILED,   /* generic */
  SMELT_DOWNLOAD_ERROR_NETWORK,  /* retries exhausted */
  SMELT_DOWNLOAD_ERROR_HTTP,     /* 401/403/404 and other final answers */
  SMELT_DOWNLOAD_ERROR_VERIFY,   /* size or hash wrong twice */
  SMELT_DOWNLOAD_ERROR_NO_SPACE, /* not enough free disk space */
  SMELT_DOWNLOAD_ERROR_IO,       /* local file system error */
  SMELT_DOWNLOAD_ERROR_STATE,    /* the state file cannot be read or written */
  SMELT_DOWNLOAD_ERROR_BUSY,     /* another process owns the state file */
} SmeltDownloadError;

typedef enum
{
  SMELT_DOWNLOAD_QUEUED,
  SMELT_DOWNLOAD_RUNNING,
  SMELT_DOWNLOAD_PAUSED,
  SMELT_DOWNLOAD_DONE,
  SMELT_DOWNLOAD_FAILED,
  SMELT_DOWNLOAD_CANCELLED,
} SmeltDownloadState;

const char *smelt_download_state_to_string (SmeltDownloadState state);

/* What to fetch. */
typedef struct
{
  char      *endpoint; /* "https://huggingface.co" (no trailing '/') */
  char      *repo_id;  /* "org/name" */
  char      *revision; /* what the resolve URLs use: best a 40-hex commit, else a branch */
  char      *ref_name; /* (nullable) branch to record in refs/ (cache mode), e.g. "main" */
  char      *dest_dir; /* (nullable) plain directory; NULL = the huggingface_hub cache */
  char      *label;    /* (nullable) what users see, e.g. the variant name */
  GPtrArray *files;    /* (element-type SmeltHubFile) repo paths, sizes, sha256 (may be NULL) */
} SmeltDownloadSpec;

SmeltDownloadSpec *smelt_download_spec_new (const char *endpoint,
                                            const char *repo_id,
                                            const char *revision);
void               smelt_download_spec_free (SmeltDownloadSpec *spec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmeltDownloadSpec, smelt_download_spec_free)

/* A snapshot of one job, owned by the caller. */
typedef struct
{
  guint              id;
  char              *repo_id;
  char              *label;       /* (nullable) */
  SmeltDownloadState state;
  guint64            done_bytes;  /* verified or on disk */
  guint64            total_bytes; /* 0 until known */
  double             speed;       /* bytes per second, recent */
  gint64             eta_seconds; /* -1 = unknown */
  guint              n_files;
  guint              n_files_done;
  char              *error;       /* (nullable) why it failed, for people */
  gint               error_code;  /* SmeltDownloadError when failed */
  char              *path;        /* (nullable) local path of the first file once done */
} SmeltDownloadInfo;

void               smelt_download_info_free (SmeltDownloadInfo *info);
SmeltDownloadInfo *smelt_download_info_copy (const SmeltDownloadInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmeltDownloadInfo, smelt_download_info_free)

/* $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, else
 * $XDG_CACHE_HOME/huggingface/hub (~/.cache/huggingface/hub). */
char *smelt_download_hub_cache_dir (void);
/* <cache>/models--org--name */
char *smelt_download_repo_cache_dir (const char *cache_dir,
                                     const char *repo_id);
/* The default state file, the window's queue: <user data dir>/smelt/downloads.json. */
char *smelt_download_default_state_path (void);
/* A state file of its own for one job (what `smelt pull` uses, so that it never shares the
 * window's queue): <user data dir>/smelt/pulls/<hash of the spec's identity>.json. Running the
 * same pull again finds the same file and resumes. */
char *smelt_download_spec_state_path (const SmeltDownloadSpec *spec);

#define SMELT_TYPE_DOWNLOAD_MANAGER (smelt_download_manager_get_type ())
G_DECLARE_FINAL_TYPE (SmeltDownloadManager, smelt_download_manager, SMELT, DOWNLOAD_MANAGER, GObject)

/* Loads the queue from `state_path` (NULL = default; a missing file is an empty queue) and owns
 * it until finalized: a second manager on the same file, in this or another process, fails with
 * SMELT_DOWNLOAD_ERROR_BUSY (two writers would overwrite each other's jobs). With
 * `autostart`, jobs that were queued or running when the last process ended start again once the
 * main loop runs (so properties set right after this call, such as the token, apply to them);
 * without it they wait as paused until added again or resumed (what the CLI wants). Fails with
 * SMELT_DOWNLOAD_ERROR_STATE when the file exists but cannot be parsed (it is left alone). */
SmeltDownloadManager *smelt_download_manager_new (const char *state_path,
                                                  gboolean    autostart,
                                                  GError    **error);

/* Properties: "connections" (per file, 1-16, default 4), "max-files" (files at once, default 2),
 * "token" (sent to the endpoint's host only; never stored), "cache-dir" (default
 * smelt_download_hub_cache_dir()). Changes apply to transfers started afterwards. */
void smelt_download_manager_set_connections (SmeltDownloadManager *self,
                                             guint                 connections);
void smelt_download_manager_set_max_files (SmeltDownloadManager *self,
                                           guint                 max_files);
void smelt_download_manager_set_token (SmeltDownloadManager *self,
                                       const char           *token);
void smelt_download_manager_set_cache_dir (SmeltDownloadManager *self,
                                           const char           *cache_dir);

/* Queues a job and returns its id. The same repo, revision, destination and files as a job
 * already in the queue (from this or an earlier process) resumes that job instead. */
guint smelt_download_manager_add (SmeltDownloadManager    *self,
                                  const SmeltDownloadSpec *spec);
/* Pause keeps `.part` data and progress; resume continues (also for failed jobs); cancel stops,
 * deletes the job's `.part` files and forgets the job. Unknown ids are ignored. */
void  smelt_download_manager_pause (SmeltDownloadManager *self,
                                    guint                 id);
void  smelt_download_manager_resume (SmeltDownloadManager *self,
                                     guint                 id);
void  smelt_download_manager_cancel (SmeltDownloadManager *self,
                                     guint                 id);

/* Snapshot of a job (NULL when unknown) or of all jobs (element-type SmeltDownloadInfo). */
SmeltDownloadInfo *smelt_download_manager_get_info (SmeltDownloadManager *self,
                                                    guint                 id);
GPtrArray         *smelt_download_manager_list (SmeltDownloadManager *self);

/* Stops the worker and saves the queue (running jobs are recorded as queued). Called by
 * dispose; safe to call twice. */
void smelt_download_manager_shutdown (SmeltDownloadManager *self);

G_END_DECLS
