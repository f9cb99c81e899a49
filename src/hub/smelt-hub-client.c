/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-hub-client.c: SmeltHubClient, the Hub's JSON API over one SoupSession.
 *
 * Every request is one GTask (source-tagged) carried through soup_session_send_and_read_async;
 * paginated listings loop in the callback by following the `Link` header, but only to URLs on the
 * endpoint's own origin (the token must not leak elsewhere). Status codes and the Hub's
 * X-Error-Code header become SMELT_HUB_ERROR codes with a message that says what to do. Not for
 * file downloads (src/download/ does those on libcurl).
 *
 * Retries (hub-api.md 9): 408, 429 and transient 5xx answers are tried again, at most
 * `max-attempts` times per URL (per page, per redirect hop), after a wait that honours
 * `RateLimit: ...;r=0;t=N` (N+1 s) or `Retry-After`, else grows exponentially from the base delay
 * with jitter; no single wait exceeds the cap. The wait is a GSource on the task's context next to
 * a GCancellable source, so cancelling ends it at once. Network errors and other 4xx fail at once.
 */
#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "smelt-hub-client.h"

#define DEFAULT_ENDPOINT "https://huggingface.co"
#define DEFAULT_RETRY_ATTEMPTS 4
#define DEFAULT_RETRY_BASE_MS  1000
#define DEFAULT_RETRY_MAX_MS   30000
/* Upper bound for any configured delay: 10 minutes. */
#define RETRY_LIMIT_MS         600000

G_DEFINE_QUARK (smelt-hub-error-quark, smelt_hub_error)

struct _SmeltHubClient
{
  GObject      parent_instance;

  /* owned */
  SoupSession *session;
  char        *endpoint_setting; /* (nullable) */
  char        *token_setting;    /* (nullable) */
  char        *endpoint;         /* effective, cached */
  char        *token;            /* effective, cached, (nullable) */
  gboolean     token_resolved;
  guint        retry_attempts;
  guint        retry_base_ms;
  guint        retry_max_ms;
};

G_DEFINE_FINAL_TYPE (SmeltHubClient, smelt_hub_client, G_TYPE_OBJECT)

enum
{
  PROP_0,
  PROP_ENDPOINT,
  PROP_TOKEN,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* ---- plain structs ------------------------------------------------------------------------- */

void
smelt_hub_model_free (SmeltHubModel *model)
{
  if (model == NULL)
    return;
  g_free (model->id);
  g_free (model->author);
  g_free (model->last_modified);
  g_free (model);
}

void
smelt_hub_repo_info_free (SmeltHubRepoInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->id);
  g_free (info->sha);
  g_free (info->gated);
  g_free (info->last_modified);
  g_free (info->pipeline_tag);
  g_free (info->license);
  g_free (info->base_model);
  g_free (info->gguf_architecture);
  g_free (info->gguf_chat_template);
  g_strfreev (info->siblings);
  g_free (info);
}

void
smelt_hub_resolved_free (SmeltHubResolved *resolved)
{
  if (resolved == NULL)
    return;
  g_free (resolved->url);
  g_free (resolved->commit);
  g_free (resolved->etag);
  g_free (resolved->location);
  g_free (resolved);
}

gboolean
smelt_hub_sort_from_string (const char   *text,
                            SmeltHubSort *sort)
{
  g_return_val_if_fail (sort != NULL, FALSE);

  if (g_strcmp0 (text, "downloads") == 0)
    *sort = SMELT_HUB_SORT_DOWNLOADS;
  else if (g_strcmp0 (text, "likes") == 0)
    *sort = SMELT_HUB_SORT_LIKES;
  else if (g_strcmp0 (text, "trending") == 0 || g_strcmp0 (text, "trendingScore") == 0)
    *sort = SMELT_HUB_SORT_TRENDING;
  else if (g_strcmp0 (text, "lastModified") == 0 || g_strcmp0 (text, "last-modified") == 0
           || g_strcmp0 (text, "modified") == 0)
    *sort = SMELT_HUB_SORT_LAST_MODIFIED;
  else
    return FALSE;
  return TRUE;
}

const char *
smelt_hub_sort_to_string (SmeltHubSort sort)
{
  switch (sort)
    {
    case SMELT_HUB_SORT_LIKES:
      return "likes";
    case SMELT_HUB_SORT_TRENDING:
      return "trendingScore";
    case SMELT_HUB_SORT_LAST_MODIFIED:
      return "lastModified";
    case SMELT_HUB_SORT_DOWNLOADS:
    default:
      return "downloads";
    }
}

/* ---- environment --------------------------------------------------------------------------- */

static gboolean
env_truthy (const char *name)
{
  const char *v = g_getenv (name);

  return v != NULL
         && (g_ascii_strcasecmp (v, "1") == 0 || g_ascii_strcasecmp (v, "on") == 0
             || g_ascii_strcasecmp (v, "yes") == 0 || g_ascii_strcasecmp (v, "true") == 0);
}

gboolean
smelt_hub_offline (void)
{
  return env_truthy ("HF_HUB_OFFLINE") || env_truthy ("TRANSFORMERS_OFFLINE");
}

const char *
smelt_hub_user_agent (void)
{
  return "smelt/" PACKAGE_VERSION;
}

static char *
clean_token (const char *raw)
{
  char *token;

  if (raw == NULL)
    return NULL;
  token = g_strstrip (g_strdup (raw));
  /* Token files written on Windows carry CR/LF; the Hub wants the bare token. */
  g_strdelimit (token, "\r\n", ' ');
  g_strstrip (token);
  if (*token == '\0')
    g_clear_pointer (&token, g_free);
  return token;
}

static char *
token_from_environment (void)
{
  const char *env = g_getenv ("HF_TOKEN");
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;
  char *token;

  if (env == NULL)
    env = g_getenv ("HUGGING_FACE_HUB_TOKEN");
  token = clean_token (env);
  if (token != NULL)
    return token;

  if (g_getenv ("HF_TOKEN_PATH") != NULL)
    path = g_strdup (g_getenv ("HF_TOKEN_PATH"));
  else if (g_getenv ("HF_HOME") != NULL)
    path = g_build_filename (g_getenv ("HF_HOME"), "token", NULL);
  else
    path = g_build_filename (g_get_home_dir (), ".cache", "huggingface", "token", NULL);
  /* A missing token file just means anonymous access. */
  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return NULL;
  return clean_token (contents);
}

/* ---- object -------------------------------------------------------------------------------- */

static void
smelt_hub_client_finalize (GObject *object)
{
  SmeltHubClient *self = SMELT_HUB_CLIENT (object);

  g_clear_object (&self->session);
  g_clear_pointer (&self->endpoint_setting, g_free);
  g_clear_pointer (&self->token_setting, g_free);
  g_clear_pointer (&self->endpoint, g_free);
  g_clear_pointer (&self->token, g_free);

  G_OBJECT_CLASS (smelt_hub_client_parent_class)->finalize (object);
}

static void
smelt_hub_client_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  SmeltHubClient *self = SMELT_HUB_CLIENT (object);

  switch (prop_id)
    {
    case PROP_ENDPOINT:
      g_value_set_string (value, self->endpoint_setting);
      break;
    case PROP_TOKEN:
      g_value_set_string (value, self->token_setting);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
smelt_hub_client_set_property (GObject      *object,
                               guint         prop_id,
                               const GValue *value,
                               GParamSpec   *pspec)
{
  SmeltHubClient *self = SMELT_HUB_CLIENT (object);

  switch (prop_id)
    {
    case PROP_ENDPOINT:
      smelt_hub_client_set_endpoint (self, g_value_get_string (value));
      break;
    case PROP_TOKEN:
      smelt_hub_client_set_token (self, g_value_get_string (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
smelt_hub_client_class_init (SmeltHubClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = smelt_hub_client_finalize;
  object_class->get_property = smelt_hub_client_get_property;
  object_class->set_property = smelt_hub_client_set_property;

  /* The endpoint from the app's settings; NULL/"" falls back to $HF_ENDPOINT. */
  properties[PROP_ENDPOINT] =
    g_param_spec_string ("endpoint", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /* The token from the app's keyring; NULL/"" falls back to $HF_TOKEN and the token file. */
  properties[PROP_TOKEN] =
    g_param_spec_string ("token", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

/* A non-negative integer from the environment, else `fallback`. */
static guint
env_ms (const char *name,
        guint       fallback)
{
  const char *v = g_getenv (name);
  guint64 n;

  if (v == NULL || !g_ascii_string_to_unsigned (v, 10, 0, RETRY_LIMIT_MS, &n, NULL))
    return fallback;
  return (guint) n;
}

static void
smelt_hub_client_init (SmeltHubClient *self)
{
  self->retry_attempts = DEFAULT_RETRY_ATTEMPTS;
  self->retry_base_ms = env_ms ("SMELT_HUB_RETRY_BASE_MS", DEFAULT_RETRY_BASE_MS);
  self->retry_max_ms = env_ms ("SMELT_HUB_RETRY_MAX_MS", DEFAULT_RETRY_MAX_MS);

  /* No proxy-resolver or tls-database overrides: libsoup then uses the system proxy settings
   * and verifies certificates against the system store. */
  self->session = soup_session_new_with_options ("user-agent", smelt_hub_user_agent (),
                                                 "timeout", 30,
                                                 NULL);
}

SmeltHubClient *
smelt_hub_client_new (void)
{
  return g_object_new (SMELT_TYPE_HUB_CLIENT, NULL);
}

void
smelt_hub_client_set_retry_policy (SmeltHubClient *self,
                                   guint           max_attempts,
                                   guint           base_delay_ms,
                                   guint           max_delay_ms)
{
  g_return_if_fail (SMELT_IS_HUB_CLIENT (self));

  self->retry_attempts = CLAMP (max_attempts, 1, 20);
  self->retry_base_ms = MIN (base_delay_ms, RETRY_LIMIT_MS);
  self->retry_max_ms = MIN (max_delay_ms, RETRY_LIMIT_MS);
}

gboolean
smelt_hub_retry_hint (const char *ratelimit,
                      const char *retry_after,
                      guint64    *delay_ms)
{
  g_return_val_if_fail (delay_ms != NULL, FALSE);

  /* RateLimit: "<bucket>";r=<remaining>;t=<seconds to reset>[, ...]: wait t+1 s once r is 0. */
  if (ratelimit != NULL)
    {
      g_auto(GStrv) items = g_strsplit (ratelimit, ",", -1);

      for (guint i = 0; items[i] != NULL; i++)
        {
          g_auto(GStrv) params = g_strsplit (items[i], ";", -1);
          gboolean exhausted = FALSE, have_t = FALSE;
          guint64 t = 0;

          for (guint j = 1; params[j] != NULL; j++)
            {
              const char *p = g_strstrip (params[j]);
              guint64 n;

              if (g_str_has_prefix (p, "r=")
                  && g_ascii_string_to_unsigned (p + 2, 10, 0, G_MAXUINT32, &n, NULL))
                exhausted = n == 0;
              else if (g_str_has_prefix (p, "t=")
                       && g_ascii_string_to_unsigned (p + 2, 10, 0, G_MAXUINT32, &n, NULL))
                {
                  t = n;
                  have_t = TRUE;
                }
            }
          if (exhausted && have_t)
            {
              *delay_ms = (t + 1) * 1000;
              return TRUE;
            }
        }
    }

  /* Retry-After: delay-seconds or an HTTP date. */
  if (retry_after != NULL)
    {
      g_autofree char *v = g_strstrip (g_strdup (retry_after));
      guint64 n;

      if (g_ascii_string_to_unsigned (v, 10, 0, G_MAXUINT32, &n, NULL))
        {
          *delay_ms = n * 1000;
          return TRUE;
        }
      else
        {
          g_autoptr(GDateTime) when = soup_date_time_new_from_http_string (v);
          g_autoptr(GDateTime) now = g_date_time_new_now_utc ();

          if (when != NULL)
            {
              GTimeSpan span = g_date_time_difference (when, now);

              *delay_ms = span > 0 ? (guint64) span / 1000 : 0;
              return TRUE;
            }
        }
    }
  return FALSE;
}

const char *
smelt_hub_client_get_endpoint (SmeltHubClient *self)
{
  g_return_val_if_fail (SMELT_IS_HUB_CLIENT (self), NULL);

  if (self->endpoint == NULL)
    {
      const char *src = self->endpoint_setting;
      char *ep;
      gsize len;

      if (src == NULL || *src == '\0')
        src = g_getenv ("HF_ENDPOINT");
      if (src == NULL || *src == '\0')
        src = DEFAULT_ENDPOINT;
      ep = g_strdup (src);
      len = strlen (ep);
      while (len > 0 && ep[len - 1] == '/')
        ep[--len] = '\0';
      self->endpoint = ep;
    }
  return self->endpoint;
}

void
smelt_hub_client_set_endpoint (SmeltHubClient *self,
                               const char     *endpoint)
{
  g_return_if_fail (SMELT_IS_HUB_CLIENT (self));

  if (g_strcmp0 (endpoint, self->endpoint_setting) == 0)
    return;
  g_free (self->endpoint_setting);
  self->endpoint_setting = g_strdup (endpoint);
  g_clear_pointer (&self->endpoint, g_free);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ENDPOINT]);
}

const char *
smelt_hub_client_get_token (SmeltHubClient *self)
{
  g_return_val_if_fail (SMELT_IS_HUB_CLIENT (self), NULL);

  if (!self->token_resolved)
    {
      self->token = clean_token (self->token_setting);
      if (self->token == NULL)
        self->token = token_from_environment ();
      self->token_resolved = TRUE;
    }
  return self->token;
}

void
smelt_hub_client_set_token (SmeltHubClient *self,
                            const char     *token)
{
  g_return_if_fail (SMELT_IS_HUB_CLIENT (self));

  if (g_strcmp0 (token, self->token_setting) == 0)
    return;
  g_free (self->token_setting);
  self->token_setting = g_strdup (token);
  g_clear_pointer (&self->token, g_free);
  self->token_resolved = FALSE;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TOKEN]);
}

static char *
escape_path (const char *path)
{
  return g_uri_escape_string (path, "/", FALSE);
}

char *
smelt_hub_client_build_resolve_url (SmeltHubClient *self,
                                    const char     *repo_id,
                                    const char     *revision,
                                    const char     *path)
{
  g_autofree char *repo = NULL;
  g_autofree char *rev = NULL;
  g_autofree char *file = NULL;

  g_return_val_if_fail (SMELT_IS_HUB_CLIENT (self), NULL);
  g_return_val_if_fail (repo_id != NULL && path != NULL, NULL);

  repo = escape_path (repo_id);
  rev = g_uri_escape_string (revision != NULL ? revision : "main", NULL, FALSE);
  file = escape_path (path);
  return g_strdup_printf ("%s/%s/resolve/%s/%s", smelt_hub_client_get_endpoint (self), repo, rev, file);
}

/* ---- parsers ------------------------------------------------------------------------------- */

char *
smelt_hub_link_next (const char *link_header)
{
  g_auto(GStrv) parts = NULL;

  if (link_header == NULL)
    return NULL;
  /* Entries are "<url>; rel=\"x\"", comma-separated; URLs never hold a raw '>'. */
  parts = g_strsplit (link_header, ",", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      const char *p = parts[i];
      const char *lt = strchr (p, '<');
      const char *gt = lt != NULL ? strchr (lt, '>') : NULL;

      if (gt == NULL)
        continue;
      if (strstr (gt, "rel=\"next\"") != NULL || strstr (gt, "rel=next") != NULL)
        return g_strndup (lt + 1, (gsize) (gt - lt - 1));
    }
  return NULL;
}

static JsonNode *
parse_json (const char *json,
            gssize      length,
            GError    **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) local_error = NULL;
  JsonNode *root;

  if (!json_parser_load_from_data (parser, json, length, &local_error))
    {
      g_set_error (error, SMELT_HUB_ERROR, SMELT_HUB_ERROR_INVALID,
                   "The Hub sent something that is not JSON: %s", local_error->message);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL)
    {
      g_set_error_literal (error, SMELT_HUB_ERROR, SMELT_HUB_ERROR_INVALID,
                           "The Hub sent an empty response");
      return NULL;
    }
  return json_node_copy (root);
}

static const char *
member_string (JsonObject *obj,
               const char *name)
{
  JsonNode *node = json_object_get_member (obj, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static gint64
member_int (JsonObject *obj,
            const char *name)
{
  JsonNode *node = json_object_get_member (obj, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return 0;
  if (json_node_get_value_type (node) == G_TYPE_INT64)
    return json_node_get_int (node);
  if (json_node_get_value_type (node) == G_TYPE_DOUBLE)
    return (gint64) json_node_get_double (node);
  return 0;
}

static double
member_double (JsonObject *obj,
               const char *name)
{
  JsonNode *node = json_object_get_member (obj, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return 0;
  if (json_node_get_value_type (node) == G_TYPE_INT64)
    return (double) json_node_get_int (node);
  if (json_node_get_value_type (node) == G_TYPE_DOUBLE)
    return json_node_get_double (node);
  return 0;
}

static gboolean
member_bool (JsonObject *obj,
             const char *name)
{
  JsonNode *node = json_object_get_member (obj, name);

  return node != NULL && JSON_NODE_HOLDS_VALUE (node)
         && json_node_get_value_type (node) == G_TYPE_BOOLEAN && json_node_get_boolean (node);
}

/* "gated" is false, "auto" or "manual". */
static char *
gated_string (JsonObject *obj)
{
  const char *s = member_string (obj, "gated");

  if (s != NULL)
    return g_strdup (s);
  return g_strdup (member_bool (obj, "gated") ? "true" : "false");
}

static SmeltHubModel *
model_from_object (JsonObject *obj)
{
  SmeltHubModel *model;
  const char *id = member_string (obj, "id");
  g_autofree char *gated = NULL;

  if (id == NULL)
    id = member_string (obj, "modelId");
  if (id == NULL)
    return NULL;
  model = g_new0 (SmeltHubModel, 1);
  model->id = g_strdup (id);
  model->author = g_strdup (member_string (obj, "author"));
  model->downloads = member_int (obj, "downloads");
  model->likes = member_int (obj, "likes");
  model->trending_score = member_double (obj, "trendingScore");
  model->last_modified = g_strdup (member_string (obj, "lastModified"));
  gated = gated_string (obj);
  model->gated = g_strcmp0 (gated, "false") != 0;
  model->is_private = member_bool (obj, "private");
  return model;
}

static void
append_models (GPtrArray *models,
               JsonArray *array)
{
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *node = json_array_get_element (array, i);
      SmeltHubModel *model;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        continue;
      model = model_from_object (json_node_get_object (node));
      if (model != NULL)
        g_ptr_array_add (models, model);
    }
}

GPtrArray *
smelt_hub_models_from_json (const char *json,
                            gssize      length,
                            GError    **error)
{
  g_autoptr(JsonNode) root = parse_json (json, length, error);
  GPtrArray *models;

  if (root == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_ARRAY (root))
    {
      g_set_error_literal (error, SMELT_HUB_ERROR, SMELT_HUB_ERROR_INVALID,
                           "The Hub's search answer is not a list");
      return NULL;
    }
  models = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_hub_model_free);
  append_models (models, json_node_get_array (root));
  return models;
}

static SmeltHubRepoInfo *
repo_info_from_node (JsonNode *root,
                     GError  **error)
{
  g_autoptr(SmeltHubRepoInfo) info = NULL;
  JsonObject *obj, *card, *gguf;
  JsonNode *node;
  g_autoptr(GPtrArray) names = NULL;

  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, SMELT_HUB_ERROR, SMELT_HUB_ERROR_INVALID,
                           "The Hub's repository answer is not an object");
      return NULL;
    }
  obj = json_node_get_object (root);
  if (member_string (obj, "id") == NULL)
    {
      g_set_error_literal (error, SMELT_HUB_ERROR, SMELT_HUB_ERROR_INVALID,
                           "The Hub's repository answer has no id");
      return NULL;
    }
  info = g_new0 (SmeltHubRepoInfo, 1);
  info->id = g_strdup (member_string (obj, "id"));
  info->sha = g_strdup (member_string (obj, "sha"));
  info->gated = gated_string (obj);
  info->is_private = member_bool (obj, "private");
  info->downloads = member_int (obj, "downloads");
  info->likes = member_int (obj, "likes");
  info->last_modified = g_strdup (member_string (obj, "lastModified"));
  info->pipeline_tag = g_strdup (member_string (obj, "pipeline_tag"));

  node = json_object_get_member (obj, "cardData");
  if (node != NULL && JSON_NODE_HOLDS_OBJECT (node))
    {
      card = json_node_get_object (node);
      info->license = g_strdup (member_string (card, "license"));
      info->base_model = g_strdup (member_string (card, "base_model"));
    }
  node = json_object_get_member (obj, "gguf");
  if (node != NULL && JSON_NODE_HOLDS_OBJECT (node))
    {
      gguf = json_node_get_object (node);
      info->has_gguf = TRUE;
      info->gguf_architecture = g_strdup (member_string (gguf, "architecture"));
      info->gguf_context_length = member_int (gguf, "context_length");
      info->gguf_parameters = member_int (gguf, "total");
      info->gguf_chat_template = g_strdup (member_string (gguf, "chat_template"));
    }

  names = g_ptr_array_new ();
  node = json_object_get_member (obj, "siblings");
  if (node != NULL && JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *arr = json_node_get_array (node);

      for (guint i = 0; i < json_array_get_length (arr); i++)
        {
          JsonNode *el = json_array_get_element (arr, i);
          const char *name;

          if (!JSON_NODE_HOLDS_OBJECT (el))
            continue;
          name = member_string (json_node_get_object (el), "rfilename");
          if (name != NULL && smelt_hub_path_is_safe (name))
            g_ptr_array_add (names, g_strdup (name));
        }
    }
  g_ptr_array_add (names, NULL);
  info->siblings = (GStrv) g_ptr_array_free (g_steal_pointer (&names), FALSE);
  return g_steal_pointer (&info);
}

SmeltHubRepoInfo *
smelt_hub_repo_info_from_json (const char *json,
                               gssize      length,
                               GError    **error)
{
  g_autoptr(JsonNode) root = parse_json (json, length, error);

  if (root == NULL)
    return NULL;
  return repo_info_from_node (root, error);
}

/* ---- requests ------------------------------------------------------------------------------ */

typedef enum
{
  REQ_SEARCH,
  REQ_REPO,
  REQ_TREE,
  REQ_CARD,
  REQ_RESOLVE,
} RequestKind;

typedef struct
{
  RequestKind kind;
  char       *repo_id;
  char       *revision;
  char       *path;
  char       *url;       /* current URL */
  char       *stable;    /* resolve: the URL first asked */
  guint       max_results;
  guint       hops;      /* pages or redirects followed */
  GPtrArray  *items;     /* search: SmeltHubModel; tree: SmeltHubFile */
  gboolean    sent_token;
  guint       attempt;   /* tries made on `url` so far */
  GSource    *wait;      /* (nullable) the backoff timer, while waiting */
  GSource    *wait_cancel; /* (nullable) the cancellable's source, while waiting */
} Request;

static void
request_clear_wait (Request *req)
{
  if (req->wait != NULL)
    {
      g_source_destroy (req->wait);
      g_clear_pointer (&req->wait, g_source_unref);
    }
  if (req->wait_cancel != NULL)
    {
      g_source_destroy (req->wait_cancel);
      g_clear_pointer (&req->wait_cancel, g_source_unref);
    }
}

static void
request_free (Request *req)
{
  request_clear_wait (req);
  g_free (req->repo_id);
  g_free (req->revision);
  g_free (req->path);
  g_free (req->url);
  g_free (req->stable);
  g_clear_pointer (&req->items, g_ptr_array_unref);
  g_free (req);
}

static gboolean
same_origin (const char *a,
             const char *b)
{
  g_autoptr(GUri) ua = g_uri_parse (a, SOUP_HTTP_URI_FLAGS, NULL);
  g_autoptr(GUri) ub = g_uri_parse (b, SOUP_HTTP_URI_FLAGS, NULL);

  return ua != NULL && ub != NULL && g_strcmp0 (g_uri_get_scheme (ua), g_uri_get_scheme (ub)) == 0
         && g_ascii_strcasecmp (g_uri_get_host (ua), g_uri_get_host (ub)) == 0
         && g_uri_get_port (ua) == g_uri_get_port (ub);
}

/* Maps a failed response to an error that says what to do (hub-api.md 5.5). */
static GError *
error_for_status (SmeltHubClient *self,
                  SoupMessage    *msg,
                  Request        *req)
{
  SoupMessageHeaders *headers = soup_message_get_response_headers (msg);
  guint status = soup_message_get_status (msg);
  const char *code = soup_message_headers_get_one (headers, "X-Error-Code");
  const char *server_msg = soup_message_headers_get_one (headers, "X-Error-Message");
  const char *repo = req->repo_id != NULL ? req->repo_id : "this repository";
  const char *ep = smelt_hub_client_get_endpoint (self);

  if (g_strcmp0 (code, "GatedRepo") == 0 && status == 401)
    return g_error_new (SMELT_HUB_ERROR, SMELT_HUB_ERROR_GATED,
                        "%s is a gated model: accept its conditions at %s/%s, then set a Hugging "
                        "Face access token (in Preferences, or HF_TOKEN) and try again",
                        repo, ep, repo);
  if (g_strcmp0 (code, "GatedRepo") == 0)
    return g_error_new (SMELT_HUB_ERROR, SMELT_HUB_ERROR_GATED_NO_ACCESS,
                        "Your token has not been granted access to the gated model %s yet: ask for "
                        "access at %s/%s (some owners approve by hand)",
                        repo, ep, repo);
  if (g_strcmp0 (code, "RevisionNotFound") == 0)
    return g_error_new (SMELT_HUB_ERROR, SMELT_HUB_ERROR_REVISION_NOT_FOUND,
                        "%s has no revision \"%s\"", repo,
                        req->revision != NULL ? req->revision : "main");
  if (g_strcmp0 (code, "EntryNotFound") == 0 || (status == 404 && req->kind == REQ_CARD && code == NULL))
    return g_error_new (SMELT_HUB_ERROR, SMELT_HUB_ERROR_ENTRY_NOT_FOUND,
                        "%s has no file %s", repo, req->path != NULL ? req->path : "there");
  if (status == 401)
    {
      if (req->sent_token)
        return g_error_new (SMELT_HUB_ERROR, SMELT_HUB_ERROR_UNAUTHORIZED,
                            "%s was not found, or it is private and your token cannot read it "
                            "(%s): check the repository name and your token",
                            repo, server_msg != NULL ? server_msg : "unauthorized");
      return g_error_new (SMELT_HUB_ERROR, SMELT_HUB_ERROR_UNAUTHORIZED,
                          "%s was not found on %s; if it is a private repository, set a Hugging "
                          "Face access token (in Preferences, or HF_TOKEN)", repo, ep);
    }
  if (status == 404)
    return g_error_new (SMELT_HUB_ERROR, SMELT_HUB_ERROR_NOT_FOUND,
                        "%s does not exist on %s: check the name (owner/name)", repo, ep);
  if (status == 403)
    return g_error_new (SMELT_HUB_ERROR, SMELT_HUB_ERROR_FORBIDDEN,
                        "Access to %s was refused: %s", repo,
                        server_msg != NULL ? server_msg : "your token lacks the permission");
  if (status == 429)
    {
      guint64 hint_ms = 0;
      g_autofree char *after = NULL;
      g_autofree char *tries = NULL;

      if (smelt_hub_retry_hint (soup_message_headers_get_one (headers, "RateLimit"),
                                soup_message_headers_get_one (headers, "Retry-After"), &hint_ms))
        after = g_strdup_printf ("%" G_GUINT64_FORMAT, (hint_ms + 999) / 1000);
      if (req->attempt > 1)
        tries = g_strdup_printf (" (rate limited on all %u tries)", req->attempt);
      return g_error_new (SMELT_HUB_ERROR, SMELT_HUB_ERROR_RATE_LIMITED,
                          "The Hub is limiting the request rate%s; try again in %s seconds (a token "
                          "raises the limit)", tries != NULL ? tries : "",
                          after != NULL ? after : "a few");
    }
  if (req->attempt > 1)
    {
      const char *reason = soup_message_get_reason_phrase (msg);

      return g_error_new (SMELT_HUB_ERROR, SMELT_HUB_ERROR_SERVER,
                          "The Hub failed %u tries in a row; the last answer was %u %s%s%s",
                          req->attempt, status, reason != NULL ? reason : "",
                          server_msg != NULL ? ": " : "", server_msg != NULL ? server_msg : "");
    }
  return g_error_new (SMELT_HUB_ERROR, SMELT_HUB_ERROR_SERVER,
                      "The Hub answered %u %s%s%s", status,
                      soup_message_get_reason_phrase (msg) != NULL ? soup_message_get_reason_phrase (msg) : "",
                      server_msg != NULL ? ": " : "", server_msg != NULL ? server_msg : "");
}

static void send_request (GTask *task);

/* 408 Request Timeout, 429 Too Many Requests and the transient 5xx (not 501/505, which will not
 * change by asking again). */
static gboolean
status_is_retryable (guint status)
{
  return status == 408 || status == 429
         || (status >= 500 && status <= 599 && status != 501 && status != 505);
}

/* How long to wait before try `attempt` + 1: the server's hint, else base * 2^(attempt-1) with
 * jitter (between half and all of it); never more than the cap. */
static guint
retry_delay_ms (SmeltHubClient *self,
                SoupMessage    *msg,
                guint           attempt)
{
  SoupMessageHeaders *headers = soup_message_get_response_headers (msg);
  guint64 delay;

  if (!smelt_hub_retry_hint (soup_message_headers_get_one (headers, "RateLimit"),
                             soup_message_headers_get_one (headers, "Retry-After"), &delay))
    {
      guint64 full = (guint64) self->retry_base_ms << MIN (attempt > 0 ? attempt - 1 : 0, 20);

      full = MIN (full, (guint64) self->retry_max_ms);
      delay = full / 2 + (guint64) (g_random_double () * (double) (full - full / 2));
    }
  return (guint) MIN (delay, (guint64) self->retry_max_ms);
}

static gboolean
on_retry_wait_done (gpointer user_data)
{
  GTask *task = user_data;
  Request *req = g_task_get_task_data (task);

  request_clear_wait (req);
  send_request (task); /* takes the wait's reference */
  return G_SOURCE_REMOVE;
}

static gboolean
on_retry_wait_cancelled (GCancellable *cancellable,
                         gpointer      user_data)
{
  GTask *task = user_data;
  Request *req = g_task_get_task_data (task);
  GError *error = NULL;

  request_clear_wait (req);
  if (!g_cancellable_set_error_if_cancelled (cancellable, &error))
    g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled");
  g_task_return_error (task, error);
  g_object_unref (task);
  return G_SOURCE_REMOVE;
}

/* Waits `delay_ms` (or until cancelled) on the task's context, then sends again; owns `task`. */
static void
schedule_retry (GTask *task,
                guint  delay_ms)
{
  Request *req = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  GMainContext *context = g_task_get_context (task);

  g_debug ("hub: try %u of %s failed, again in %u ms", req->attempt, req->url, delay_ms);
  req->wait = g_timeout_source_new (delay_ms);
  g_source_set_name (req->wait, "[smelt] hub retry wait");
  g_source_set_callback (req->wait, on_retry_wait_done, task, NULL);
  if (cancellable != NULL)
    {
      req->wait_cancel = g_cancellable_source_new (cancellable);
      g_source_set_name (req->wait_cancel, "[smelt] hub retry cancel");
      g_source_set_callback (req->wait_cancel, G_SOURCE_FUNC (on_retry_wait_cancelled), task, NULL);
      g_source_attach (req->wait_cancel, context);
    }
  g_source_attach (req->wait, context);
}

static char *
unquote_etag (const char *etag)
{
  const char *p;
  gsize len;

  if (etag == NULL)
    return NULL;
  p = etag;
  if (g_str_has_prefix (p, "W/"))
    p += 2;
  len = strlen (p);
  if (len >= 2 && p[0] == '"' && p[len - 1] == '"')
    return g_strndup (p + 1, len - 2);
  return g_strdup (p);
}

static void
finish_resolve (GTask       *task,
                SoupMessage *msg)
{
  Request *req = g_task_get_task_data (task);
  SoupMessageHeaders *headers = soup_message_get_response_headers (msg);
  g_autoptr(SmeltHubResolved) resolved = g_new0 (SmeltHubResolved, 1);
  const char *linked_etag = soup_message_headers_get_one (headers, "X-Linked-Etag");
  const char *linked_size = soup_message_headers_get_one (headers, "X-Linked-Size");
  guint status = soup_message_get_status (msg);

  resolved->url = g_strdup (req->stable);
  resolved->commit = g_strdup (soup_message_headers_get_one (headers, "X-Repo-Commit"));
  resolved->etag = unquote_etag (linked_etag != NULL ? linked_etag
                                                     : soup_message_headers_get_one (headers, "ETag"));
  resolved->size = G_MAXUINT64;
  if (linked_size != NULL)
    resolved->size = g_ascii_strtoull (linked_size, NULL, 10);
  else if (!SOUP_STATUS_IS_REDIRECTION (status)
           && soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH)
    resolved->size = (guint64) soup_message_headers_get_content_length (headers);
  if (SOUP_STATUS_IS_REDIRECTION (status))
    resolved->location = g_strdup (soup_message_headers_get_one (headers, "Location"));
  g_task_return_pointer (task, g_steal_pointer (&resolved), (GDestroyNotify) smelt_hub_resolved_free);
}

static void
on_send_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  SmeltHubClient *self = g_task_get_source_object (task);
  Request *req = g_task_get_task_data (task);
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (source), result);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root = NULL;
  const char *data;
  gsize len;
  guint status;

  body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  if (body == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_task_return_error (task, g_steal_pointer (&error));
      else
        g_task_return_new_error (task, SMELT_HUB_ERROR, SMELT_HUB_ERROR_NETWORK,
                                 "Could not reach %s: %s", smelt_hub_client_get_endpoint (self),
                                 error->message);
      return;
    }
  status = soup_message_get_status (msg);

  if (req->kind == REQ_RESOLVE && SOUP_STATUS_IS_REDIRECTION (status))
    {
      const char *location = soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                           "Location");

      /* Relative redirects stay on the Hub (renamed repos, resolve-cache); follow those. */
      if (location != NULL && location[0] == '/' && location[1] != '/' && req->hops < 5)
        {
          g_autoptr(GUri) base = g_uri_parse (req->url, SOUP_HTTP_URI_FLAGS, NULL);
          g_autoptr(GUri) next = base != NULL ? g_uri_parse_relative (base, location, SOUP_HTTP_URI_FLAGS, NULL) : NULL;

          if (next != NULL)
            {
              req->hops++;
              req->attempt = 0;
              g_free (req->url);
              req->url = g_uri_to_string (next);
              send_request (g_steal_pointer (&task));
              return;
            }
        }
      finish_resolve (task, msg);
      return;
    }
  if (!SOUP_STATUS_IS_SUCCESSFUL (status))
    {
      if (status_is_retryable (status) && req->attempt < self->retry_attempts)
        {
          schedule_retry (g_steal_pointer (&task), retry_delay_ms (self, msg, req->attempt));
          return;
        }
      g_task_return_error (task, error_for_status (self, msg, req));
      return;
    }
  if (req->kind == REQ_RESOLVE)
    {
      finish_resolve (task, msg);
      return;
    }

  data = g_bytes_get_data (body, &len);
  if (req->kind == REQ_CARD)
    {
      g_task_return_pointer (task, g_utf8_make_valid (data != NULL ? data : "", (gssize) len), g_free);
      return;
    }

  root = parse_json (data != NULL ? data : "", (gssize) len, &error);
  if (root == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (req->kind == REQ_REPO)
    {
      SmeltHubRepoInfo *info = repo_info_from_node (root, &error);

      if (info == NULL)
        g_task_return_error (task, g_steal_pointer (&error));
      else
        g_task_return_pointer (task, info, (GDestroyNotify) smelt_hub_repo_info_free);
      return;
    }

  if (!JSON_NODE_HOLDS_ARRAY (root))
    {
      g_task_return_new_error (task, SMELT_HUB_ERROR, SMELT_HUB_ERROR_INVALID,
                               "The Hub's listing is not a JSON array");
      return;
    }
  if (req->kind == REQ_SEARCH)
    append_models (req->items, json_node_get_array (root));
  else
    {
      g_autoptr(GPtrArray) files = smelt_hub_files_from_tree_json (data, (gssize) len, &error);

      if (files == NULL)
        {
          g_task_return_new_error (task, SMELT_HUB_ERROR, SMELT_HUB_ERROR_INVALID, "%s", error->message);
          return;
        }
      for (guint i = 0; i < files->len; i++)
        g_ptr_array_add (req->items, smelt_hub_file_copy (g_ptr_array_index (files, i)));
    }

  /* Follow the next page, but only on the endpoint's own origin, and not forever. */
  {
    g_autofree char *next = smelt_hub_link_next (
      soup_message_headers_get_one (soup_message_get_response_headers (msg), "Link"));
    gboolean want_more = req->kind != REQ_SEARCH || req->items->len < req->max_results;

    if (next != NULL && want_more && req->hops < 10000
        && same_origin (next, smelt_hub_client_get_endpoint (self)))
      {
        req->hops++;
        req->attempt = 0;
        g_free (req->url);
        req->url = g_steal_pointer (&next);
        send_request (g_steal_pointer (&task));
        return;
      }
  }
  if (req->kind == REQ_SEARCH && req->items->len > req->max_results)
    g_ptr_array_set_size (req->items, req->max_results);
  g_task_return_pointer (task, g_ptr_array_ref (req->items), (GDestroyNotify) g_ptr_array_unref);
}

static void
send_request (GTask *task)
{
  SmeltHubClient *self = g_task_get_source_object (task);
  Request *req = g_task_get_task_data (task);
  g_autoptr(SoupMessage) msg = NULL;
  const char *token = smelt_hub_client_get_token (self);
  SoupMessageHeaders *headers;

  msg = soup_message_new (req->kind == REQ_RESOLVE ? "HEAD" : "GET", req->url);
  if (msg == NULL)
    {
      g_task_return_new_error (task, SMELT_HUB_ERROR, SMELT_HUB_ERROR_INVALID,
                               "Not a valid URL: %s", req->url);
      g_object_unref (task);
      return;
    }
  headers = soup_message_get_request_headers (msg);
  req->attempt++;
  req->sent_token = FALSE;
  if (token != NULL && same_origin (req->url, smelt_hub_client_get_endpoint (self)))
    {
      g_autofree char *auth = g_strdup_printf ("Bearer %s", token);

      soup_message_headers_replace (headers, "Authorization", auth);
      req->sent_token = TRUE;
    }
  if (req->kind == REQ_RESOLVE)
    {
      soup_message_headers_replace (headers, "Accept-Encoding", "identity");
      soup_message_set_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
    }
  else if (req->kind != REQ_CARD)
    soup_message_headers_replace (headers, "Accept", "application/json");

  soup_session_send_and_read_async (self->session, msg, G_PRIORITY_DEFAULT,
                                    g_task_get_cancellable (task), on_send_cb, task);
}

static void
start_request (SmeltHubClient     *self,
               Request            *req,
               gpointer            source_tag,
               GCancellable       *cancellable,
               GAsyncReadyCallback callback,
               gpointer            user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, source_tag);
  g_task_set_task_data (task, req, (GDestroyNotify) request_free);
  if (smelt_hub_offline ())
    {
      g_task_return_new_error (task, SMELT_HUB_ERROR, SMELT_HUB_ERROR_OFFLINE,
                               "HF_HUB_OFFLINE is set, so Smelt does not contact the Hub; unset it "
                               "to search or download");
      g_object_unref (task);
      return;
    }
  send_request (task);
}

static gboolean
valid_repo_id (const char *repo_id)
{
  const char *slash;

  if (repo_id == NULL || !smelt_hub_path_is_safe (repo_id))
    return FALSE;
  slash = strchr (repo_id, '/');
  return slash != NULL && strchr (slash + 1, '/') == NULL;
}

static gboolean
check_repo_id (SmeltHubClient     *self,
               const char         *repo_id,
               gpointer            source_tag,
               GAsyncReadyCallback callback,
               gpointer            user_data)
{
  g_autoptr(GTask) task = NULL;

  if (valid_repo_id (repo_id))
    return TRUE;
  task = g_task_new (self, NULL, callback, user_data);
  g_task_set_source_tag (task, source_tag);
  g_task_return_new_error (task, SMELT_HUB_ERROR, SMELT_HUB_ERROR_NOT_FOUND,
                           "\"%s\" is not a repository name: use owner/name",
                           repo_id != NULL ? repo_id : "");
  return FALSE;
}

void
smelt_hub_client_search_async (SmeltHubClient     *self,
                               const char         *query,
                               SmeltHubSort        sort,
                               guint               max_results,
                               GCancellable       *cancellable,
                               GAsyncReadyCallback callback,
                               gpointer            user_data)
{
  Request *req;
  g_autoptr(GHashTable) params = NULL;
  g_autofree char *encoded = NULL;
  g_autofree char *limit = NULL;

  g_return_if_fail (SMELT_IS_HUB_CLIENT (self));

  if (max_results == 0)
    max_results = 50;
  limit = g_strdup_printf ("%u", MIN (max_results, 500));
  params = g_hash_table_new (g_str_hash, g_str_equal);
  if (query != NULL && *query != '\0')
    g_hash_table_insert (params, (gpointer) "search", (gpointer) query);
  g_hash_table_insert (params, (gpointer) "filter", (gpointer) "gguf");
  g_hash_table_insert (params, (gpointer) "sort", (gpointer) smelt_hub_sort_to_string (sort));
  g_hash_table_insert (params, (gpointer) "limit", limit);
  encoded = soup_form_encode_hash (params);

  req = g_new0 (Request, 1);
  req->kind = REQ_SEARCH;
  req->max_results = max_results;
  req->items = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_hub_model_free);
  req->url = g_strdup_printf ("%s/api/models?%s", smelt_hub_client_get_endpoint (self), encoded);
  start_request (self, req, smelt_hub_client_search_async, cancellable, callback, user_data);
}

GPtrArray *
smelt_hub_client_search_finish (SmeltHubClient *self,
                                GAsyncResult   *result,
                                GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == smelt_hub_client_search_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
smelt_hub_client_get_repo_async (SmeltHubClient     *self,
                                 const char         *repo_id,
                                 const char         *revision,
                                 GCancellable       *cancellable,
                                 GAsyncReadyCallback callback,
                                 gpointer            user_data)
{
  Request *req;
  g_autofree char *repo = NULL;

  g_return_if_fail (SMELT_IS_HUB_CLIENT (self));
  if (!check_repo_id (self, repo_id, smelt_hub_client_get_repo_async, callback, user_data))
    return;

  repo = escape_path (repo_id);
  req = g_new0 (Request, 1);
  req->kind = REQ_REPO;
  req->repo_id = g_strdup (repo_id);
  req->revision = g_strdup (revision);
  if (revision != NULL)
    {
      g_autofree char *rev = g_uri_escape_string (revision, NULL, FALSE);

      req->url = g_strdup_printf ("%s/api/models/%s/revision/%s", smelt_hub_client_get_endpoint (self),
                                  repo, rev);
    }
  else
    req->url = g_strdup_printf ("%s/api/models/%s", smelt_hub_client_get_endpoint (self), repo);
  start_request (self, req, smelt_hub_client_get_repo_async, cancellable, callback, user_data);
}

SmeltHubRepoInfo *
smelt_hub_client_get_repo_finish (SmeltHubClient *self,
                                  GAsyncResult   *result,
                                  GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == smelt_hub_client_get_repo_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
smelt_hub_client_list_files_async (SmeltHubClient     *self,
                                   const char         *repo_id,
                                   const char         *revision,
                                   GCancellable       *cancellable,
                                   GAsyncReadyCallback callback,
                                   gpointer            user_data)
{
  Request *req;
  g_autofree char *repo = NULL;
  g_autofree char *rev = NULL;

  g_return_if_fail (SMELT_IS_HUB_CLIENT (self));
  if (!check_repo_id (self, repo_id, smelt_hub_client_list_files_async, callback, user_data))
    return;

  repo = escape_path (repo_id);
  rev = g_uri_escape_string (revision != NULL ? revision : "main", NULL, FALSE);
  req = g_new0 (Request, 1);
  req->kind = REQ_TREE;
  req->repo_id = g_strdup (repo_id);
  req->revision = g_strdup (revision);
  req->items = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_hub_file_free);
  req->url = g_strdup_printf ("%s/api/models/%s/tree/%s?recursive=true",
                              smelt_hub_client_get_endpoint (self), repo, rev);
  start_request (self, req, smelt_hub_client_list_files_async, cancellable, callback, user_data);
}

GPtrArray *
smelt_hub_client_list_files_finish (SmeltHubClient *self,
                                    GAsyncResult   *result,
                                    GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == smelt_hub_client_list_files_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
smelt_hub_client_get_model_card_async (SmeltHubClient     *self,
                                       const char         *repo_id,
                                       const char         *revision,
                                       GCancellable       *cancellable,
                                       GAsyncReadyCallback callback,
                                       gpointer            user_data)
{
  Request *req;

  g_return_if_fail (SMELT_IS_HUB_CLIENT (self));
  if (!check_repo_id (self, repo_id, smelt_hub_client_get_model_card_async, callback, user_data))
    return;

  req = g_new0 (Request, 1);
  req->kind = REQ_CARD;
  req->repo_id = g_strdup (repo_id);
  req->revision = g_strdup (revision);
  req->path = g_strdup ("README.md");
  req->url = smelt_hub_client_build_resolve_url (self, repo_id, revision, "README.md");
  start_request (self, req, smelt_hub_client_get_model_card_async, cancellable, callback, user_data);
}

char *
smelt_hub_client_get_model_card_finish (SmeltHubClient *self,
                                        GAsyncResult   *result,
                                        GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == smelt_hub_client_get_model_card_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
smelt_hub_client_resolve_async (SmeltHubClient     *self,
                                const char         *repo_id,
                                const char         *revision,
                                const char         *path,
                                GCancellable       *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer            user_data)
{
  Request *req;

  g_return_if_fail (SMELT_IS_HUB_CLIENT (self));
  g_return_if_fail (path != NULL);
  if (!check_repo_id (self, repo_id, smelt_hub_client_resolve_async, callback, user_data))
    return;

  req = g_new0 (Request, 1);
  req->kind = REQ_RESOLVE;
  req->repo_id = g_strdup (repo_id);
  req->revision = g_strdup (revision);
  req->path = g_strdup (path);
  req->url = smelt_hub_client_build_resolve_url (self, repo_id, revision, path);
  req->stable = g_strdup (req->url);
  start_request (self, req, smelt_hub_client_resolve_async, cancellable, callback, user_data);
}

SmeltHubResolved *
smelt_hub_client_resolve_finish (SmeltHubClient *self,
                                 GAsyncResult   *result,
                                 GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == smelt_hub_client_resolve_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
