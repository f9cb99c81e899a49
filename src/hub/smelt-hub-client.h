/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-hub-client.h: the Hugging Face Hub's HTTP API, asynchronously (libsoup 3 + json-glib).
 *
 * Search, repo info, the recursive file tree (all pages), the model card and the metadata of a
 * resolve URL (HEAD without following absolute redirects: commit, etag, size, CDN Location).
 * Endpoint: the "endpoint" property (the app's setting), else $HF_ENDPOINT, else
 * https://huggingface.co. Token: the "token" property (the app keeps it in libsecret), else
 * $HF_TOKEN, else the huggingface_hub token file ($HF_TOKEN_PATH, $HF_HOME/token,
 * ~/.cache/huggingface/token). The token is only ever sent to the endpoint's host. The system
 * proxy (GProxyResolver) is used and TLS is always verified. $HF_HUB_OFFLINE makes every call fail
 * with SMELT_HUB_ERROR_OFFLINE without touching the network.
 *
 * Every call retries 408, 429 and transient 5xx answers (hub-api.md 9): up to 4 tries per URL,
 * waiting as `RateLimit` (r=0;t=N: N+1 s) or `Retry-After` say, else 1 s, 2 s, 4 s with jitter,
 * each wait capped at 30 s; $SMELT_HUB_RETRY_BASE_MS and $SMELT_HUB_RETRY_MAX_MS override the base
 * delay and the cap (for tests). Cancelling the call's GCancellable ends a wait at once. When the
 * tries run out the call fails with SMELT_HUB_ERROR_RATE_LIMITED or SMELT_HUB_ERROR_SERVER and a
 * message that gives the number of tries.
 *
 * Main-thread object (pattern 1 of the house style): every _async call completes on the thread
 * default main context of the caller. Not for downloading file contents: see src/download/.
 */
#pragma once

#include <gio/gio.h>

#include "smelt-hub-variants.h"

G_BEGIN_DECLS

#define SMELT_HUB_ERROR (smelt_hub_error_quark ())
GQuark smelt_hub_error_quark (void);

typedef enum
{
  SMELT_HUB_ERROR_OFFLINE,            /* HF_HUB_OFFLINE is set */
  SMELT_HUB_ERROR_NETWORK,            /* could not reach the endpoint (DNS, TLS, proxy, timeout) */
  SMELT_HUB_ERROR_NOT_FOUND,          /* repository missing (or invisible without a token) */
  SMELT_HUB_ERROR_REVISION_NOT_FOUND, /* branch/tag/commit missing */
  SMELT_HUB_ERROR_ENTRY_NOT_FOUND,    /* file missing at that revision */
  SMELT_HUB_ERROR_GATED,              /* gated repo and no (valid) token: log in, accept terms */
  SMELT_HUB_ERROR_GATED_NO_ACCESS,    /* gated repo, token fine, access not granted (yet) */
  SMELT_HUB_ERROR_UNAUTHORIZED,       /* private repo or invalid token */
  SMELT_HUB_ERROR_FORBIDDEN,          /* disabled repo or token lacks permission */
  SMELT_HUB_ERROR_RATE_LIMITED,       /* 429 */
  SMELT_HUB_ERROR_SERVER,             /* 5xx or another unexpected status */
  SMELT_HUB_ERROR_INVALID,            /* a response that is not what the Hub sends */
} SmeltHubError;

typedef enum
{
  SMELT_HUB_SORT_DOWNLOADS,
  SMELT_HUB_SORT_LIKES,
  SMELT_HUB_SORT_TRENDING,
  SMELT_HUB_SORT_LAST_MODIFIED,
} SmeltHubSort;

/* Parses "downloads", "likes", "trending"/"trendingScore", "lastModified"/"last-modified";
 * FALSE for anything else. */
gboolean    smelt_hub_sort_from_string (const char   *text,
                                        SmeltHubSort *sort);
const char *smelt_hub_sort_to_string (SmeltHubSort sort); /* the API's value */

/* One search hit. */
typedef struct
{
  char   *id;             /* "org/name" */
  char   *author;         /* (nullable) */
  gint64  downloads;      /* last 30 days */
  gint64  likes;
  double  trending_score;
  char   *last_modified;  /* ISO 8601 as sent, (nullable) */
  gboolean gated;
  gboolean is_private;
} SmeltHubModel;

void smelt_hub_model_free (SmeltHubModel *model);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmeltHubModel, smelt_hub_model_free)

/* Repository information (GET /api/models/{repo}[/revision/{rev}]). */
typedef struct
{
  char   *id;
  char   *sha;                 /* commit of the revision asked for, (nullable) */
  char   *gated;               /* "false", "auto" or "manual" */
  gboolean is_private;
  gint64  downloads;
  gint64  likes;
  char   *last_modified;       /* (nullable) */
  char   *pipeline_tag;        /* (nullable) */
  char   *license;             /* from cardData, (nullable) */
  char   *base_model;          /* from cardData, (nullable) */
  /* The Hub's parse of the repo's primary GGUF ("gguf" object), when present. */
  gboolean has_gguf;
  char   *gguf_architecture;   /* (nullable) */
  gint64  gguf_context_length; /* 0 = unknown */
  gint64  gguf_parameters;     /* "total": parameter count, 0 = unknown */
  char   *gguf_chat_template;  /* (nullable) */
  GStrv   siblings;            /* file names */
} SmeltHubRepoInfo;

void smelt_hub_repo_info_free (SmeltHubRepoInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmeltHubRepoInfo, smelt_hub_repo_info_free)

/* What a HEAD on a resolve URL says (hub-api.md 5.1). */
typedef struct
{
  char   *url;      /* the stable resolve URL that was asked */
  char   *commit;   /* X-Repo-Commit (nullable: not a Hub, or a misconfigured proxy) */
  char   *etag;     /* X-Linked-Etag else ETag, unquoted, W/ stripped: sha256 for LFS files,
                       git blob sha1 otherwise (nullable) */
  guint64 size;     /* X-Linked-Size else Content-Length; G_MAXUINT64 = unknown */
  char   *location; /* absolute redirect target (CDN), (nullable): NULL = GET `url` itself */
} SmeltHubResolved;

void smelt_hub_resolved_free (SmeltHubResolved *resolved);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmeltHubResolved, smelt_hub_resolved_free)

#define SMELT_TYPE_HUB_CLIENT (smelt_hub_client_get_type ())
G_DECLARE_FINAL_TYPE (SmeltHubClient, smelt_hub_client, SMELT, HUB_CLIENT, GObject)

SmeltHubClient *smelt_hub_client_new (void);

/* Retries: at most `max_attempts` tries per URL (1 = no retry; clamped to 1..20), backoff from
 * `base_delay_ms` doubling per try, no single wait over `max_delay_ms` (server hints included). */
void smelt_hub_client_set_retry_policy (SmeltHubClient *self,
                                        guint           max_attempts,
                                        guint           base_delay_ms,
                                        guint           max_delay_ms);

/* The endpoint in use (no trailing '/'): the property if set non-empty, else $HF_ENDPOINT, else
 * https://huggingface.co. */
const char *smelt_hub_client_get_endpoint (SmeltHubClient *self);
void        smelt_hub_client_set_endpoint (SmeltHubClient *self,
                                           const char     *endpoint);
/* The token in use, or NULL: property, $HF_TOKEN ($HUGGING_FACE_HUB_TOKEN), token file. */
const char *smelt_hub_client_get_token (SmeltHubClient *self);
void        smelt_hub_client_set_token (SmeltHubClient *self,
                                        const char     *token);
/* TRUE when $HF_HUB_OFFLINE (or $TRANSFORMERS_OFFLINE) is truthy. */
gboolean    smelt_hub_offline (void);
/* "smelt/<version>" */
const char *smelt_hub_user_agent (void);

/* "{endpoint}/{repo}/resolve/{revision}/{path}", path encoded per segment, revision as one
 * segment. */
char *smelt_hub_client_build_resolve_url (SmeltHubClient *self,
                                          const char     *repo_id,
                                          const char     *revision,
                                          const char     *path);

/* Model search, `filter=gguf`, following `Link: rel="next"` until `max_results` hits (0 = 50).
 * Finish returns (element-type SmeltHubModel) (transfer full). */
void       smelt_hub_client_search_async (SmeltHubClient     *self,
                                          const char         *query,
                                          SmeltHubSort        sort,
                                          guint               max_results,
                                          GCancellable       *cancellable,
                                          GAsyncReadyCallback callback,
                                          gpointer            user_data);
GPtrArray *smelt_hub_client_search_finish (SmeltHubClient *self,
                                           GAsyncResult   *result,
                                           GError        **error);

/* Repository info at `revision` (NULL = main). */
void              smelt_hub_client_get_repo_async (SmeltHubClient     *self,
                                                   const char         *repo_id,
                                                   const char         *revision,
                                                   GCancellable       *cancellable,
                                                   GAsyncReadyCallback callback,
                                                   gpointer            user_data);
SmeltHubRepoInfo *smelt_hub_client_get_repo_finish (SmeltHubClient *self,
                                                    GAsyncResult   *result,
                                                    GError        **error);

/* The recursive file tree at `revision` (NULL = main), every page. Unsafe paths are dropped.
 * Finish returns (element-type SmeltHubFile) with sizes and LFS sha256. */
void       smelt_hub_client_list_files_async (SmeltHubClient     *self,
                                              const char         *repo_id,
                                              const char         *revision,
                                              GCancellable       *cancellable,
                                              GAsyncReadyCallback callback,
                                              gpointer            user_data);
GPtrArray *smelt_hub_client_list_files_finish (SmeltHubClient *self,
                                               GAsyncResult   *result,
                                               GError        **error);

/* README.md at `revision` (NULL = main) as UTF-8 text (invalid bytes replaced). A repo without
 * one fails with SMELT_HUB_ERROR_ENTRY_NOT_FOUND. */
void  smelt_hub_client_get_model_card_async (SmeltHubClient     *self,
                                             const char         *repo_id,
                                             const char         *revision,
                                             GCancellable       *cancellable,
                                             GAsyncReadyCallback callback,
                                             gpointer            user_data);
char *smelt_hub_client_get_model_card_finish (SmeltHubClient *self,
                                              GAsyncResult   *result,
                                              GError        **error);

/* HEAD on the resolve URL; relative redirects are followed, the first absolute one is reported
 * in `location` and not followed. */
void              smelt_hub_client_resolve_async (SmeltHubClient     *self,
                                                  const char         *repo_id,
                                                  const char         *revision,
                                                  const char         *path,
                                                  GCancellable       *cancellable,
                                                  GAsyncReadyCallback callback,
                                                  gpointer            user_data);
SmeltHubResolved *smelt_hub_client_resolve_finish (SmeltHubClient *self,
                                                   GAsyncResult   *result,
                                                   GError        **error);

/* Parsers, public for tests: a search page (JSON array) into SmeltHubModel, repo info JSON, and the
 * URL of `rel="next"` in a Link header (NULL when none). */
GPtrArray        *smelt_hub_models_from_json (const char *json,
                                              gssize      length,
                                              GError    **error);
SmeltHubRepoInfo *smelt_hub_repo_info_from_json (const char *json,
                                                 gssize      length,
                                                 GError    **error);
char             *smelt_hub_link_next (const char *link_header);
/* The wait a failed response asks for, from its `RateLimit` header (r=0;t=N: N+1 s) else its
 * `Retry-After` (seconds or HTTP date); FALSE when neither says. Both may be NULL. */
gboolean          smelt_hub_retry_hint (const char *ratelimit,
                                        const char *retry_after,
                                        guint64    *delay_ms);

G_END_DECLS
