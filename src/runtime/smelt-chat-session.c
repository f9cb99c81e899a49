/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-chat-session.c: a model and its sm_session behind the main loop. See the header.
 *
 * The engine objects (model, session, template) are touched only by the one worker that runs
 * while `busy` is set, and by the main thread when it is not: the busy flag is the lock. Text
 * and progress cross threads through a small ref-counted Stream guarded by a mutex; the worker
 * appends and schedules one 50 ms flush at a time, the main thread drains it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "sm-chat-template.h"
#include "sm-model.h"
#include "sm-session.h"
#include "sm-tokenizer.h"

#include "smelt-runtime.h"
#include "smelt-runtime-private.h"

#define FLUSH_INTERVAL_MS 50

struct _SmeltChatSession
{
  GObject parent_instance;

  /* owned engine state; see the file comment for who may touch it */
  sm_model            *model;
  sm_session          *session;
  sm_chat_template    *template;
  char                *model_path;
  SmeltSamplingParams  params;
  gboolean             params_dirty;  /* rebuild the sm_session before the next reply */
  gboolean             busy;
  guint                generation;    /* bumped by every request; stale streams are dropped */
};

G_DEFINE_FINAL_TYPE (SmeltChatSession, smelt_chat_session, G_TYPE_OBJECT)

enum { PIECE, LOAD_PROGRESS, N_SIGNALS };
static guint signals[N_SIGNALS];

SmeltChatMessage *
smelt_chat_message_new (SmeltChatRole role,
                        const char   *content)
{
  SmeltChatMessage *m = g_new0 (SmeltChatMessage, 1);

  m->role = role;
  m->content = g_strdup (content);
  return m;
}

void
smelt_chat_message_free (SmeltChatMessage *message)
{
  if (message == NULL)
    return;
  g_free (message->content);
  g_free (message);
}

void
smelt_sampling_params_init (SmeltSamplingParams *params)
{
  sm_session_params sp = sm_session_default_params ();

  g_return_if_fail (params != NULL);

  params->n_ctx = sp.n_ctx;
  params->n_threads = sp.n_threads;
  params->temperature = sp.temperature;
  params->top_p = sp.top_p;
  params->top_k = sp.top_k;
  params->min_p = sp.min_p;
  params->repeat_penalty = sp.repeat_penalty;
  params->max_tokens = sp.max_tokens;
  params->seed = sp.seed;
}

static sm_session_params
to_engine_params (const SmeltSamplingParams *p,
                  const sm_model            *model)
{
  sm_session_params sp = sm_session_default_params ();
  const sm_model_hparams *hp = sm_model_get_hparams (model);

  sp.n_ctx = p->n_ctx;
  if (hp->n_ctx_train > 0 && sp.n_ctx > (guint32) hp->n_ctx_train)
    sp.n_ctx = hp->n_ctx_train;
  /* "Automatic" leaves one CPU to the main loop so the window stays smooth while it works. */
  sp.n_threads = p->n_threads > 0 ? p->n_threads : MAX (1, (int) g_get_num_processors () - 1);
  sp.temperature = p->temperature;
  sp.top_p = p->top_p;
  sp.top_k = p->top_k;
  sp.min_p = p->min_p;
  sp.repeat_penalty = p->repeat_penalty;
  sp.max_tokens = p->max_tokens;
  sp.seed = p->seed;
  return sp;
}

/* ---- the stream from a worker to the main loop ---- */

typedef struct
{
  GWeakRef  session;      /* the SmeltChatSession, for signals */
  guint     generation;   /* the request this stream belongs to */
  GMutex    lock;
  GString  *text;         /* reply text not yet emitted */
  double    progress;     /* latest load progress, < 0 when none pending */
  gboolean  scheduled;    /* a flush is queued */
  gint64    last_progress_us;
} Stream;

static void
stream_clear (Stream *s)
{
  g_weak_ref_clear (&s->session);
  g_mutex_clear (&s->lock);
  g_string_free (s->text, TRUE);
}

static Stream *
stream_new (SmeltChatSession *self)
{
  Stream *s = g_atomic_rc_box_new0 (Stream);

  g_weak_ref_init (&s->session, self);
  s->generation = self->generation;
  g_mutex_init (&s->lock);
  s->text = g_string_new (NULL);
  s->progress = -1;
  return s;
}

static void
stream_unref (gpointer s)
{
  g_atomic_rc_box_release_full (s, (GDestroyNotify) stream_clear);
}

/* Main thread: emits what the worker left, unless the session is gone or moved on. */
static void
stream_drain (Stream *s)
{
  g_autoptr(SmeltChatSession) self = g_weak_ref_get (&s->session);
  g_autofree char *text = NULL;
  double progress;

  g_mutex_lock (&s->lock);
  s->scheduled = FALSE;
  text = s->text->len > 0 ? g_strdup (s->text->str) : NULL;
  g_string_truncate (s->text, 0);
  progress = s->progress;
  s->progress = -1;
  g_mutex_unlock (&s->lock);

  if (self == NULL || self->generation != s->generation)
    return;
  if (progress >= 0)
    g_signal_emit (self, signals[LOAD_PROGRESS], 0, progress);
  if (text != NULL)
    g_signal_emit (self, signals[PIECE], 0, text);
}

static gboolean
stream_flush_cb (gpointer data)
{
  stream_drain (data);
  return G_SOURCE_REMOVE;
}

/* Worker thread, with s->lock held: queue one flush if none is queued. */
static void
stream_schedule_locked (Stream *s)
{
  if (s->scheduled)
    return;
  s->scheduled = TRUE;
  g_timeout_add_full (G_PRIORITY_DEFAULT, FLUSH_INTERVAL_MS, stream_flush_cb,
                      g_atomic_rc_box_acquire (s), stream_unref);
}

/* ---- loading ---- */

typedef struct
{
  char               *path;
  SmeltSamplingParams params;
  Stream             *stream;
  GCancellable       *cancellable;
  sm_model           *model;    /* results, handed to the session on the main thread */
  sm_session         *session;
  sm_chat_template   *template;
} LoadData;

static void
load_data_free (LoadData *d)
{
  /* Only set when the load failed after opening, or the task was never finished. */
  sm_chat_template_free (d->template);
  sm_session_free (d->session);
  sm_model_free (d->model);
  g_free (d->path);
  stream_unref (d->stream);
  g_free (d);
}

static bool
load_progress_cb (float progress,
                  void *user_data)
{
  LoadData *d = user_data;
  gint64 now = g_get_monotonic_time ();

  g_mutex_lock (&d->stream->lock);
  d->stream->progress = progress;
  if (now - d->stream->last_progress_us > FLUSH_INTERVAL_MS * 1000 || progress >= 1.0f)
    {
      d->stream->last_progress_us = now;
      stream_schedule_locked (d->stream);
    }
  g_mutex_unlock (&d->stream->lock);
  return !g_cancellable_is_cancelled (d->cancellable);
}

static void
load_worker (GTask        *task,
             gpointer      source,
             gpointer      task_data,
             GCancellable *cancellable)
{
  LoadData *d = task_data;
  sm_model_params mp = sm_model_default_params ();
  sm_session_params sp;
  sm_error err = { 0 };
  GError *error = NULL;

  d->cancellable = cancellable;
  mp.progress = load_progress_cb;
  mp.progress_user_data = d;

  if (sm_model_open (d->path, &mp, &d->model, &err) != SM_OK)
    goto fail;
  sp = to_engine_params (&d->params, d->model);
  if (sm_session_new (d->model, &sp, &d->session, &err) != SM_OK)
    goto fail;
  /* The same template the session renders with, for counting the context in use. */
  if (sm_chat_template_load (sm_model_get_gguf (d->model), sm_session_get_tokenizer (d->session),
                             &d->template, &err) != SM_OK)
    goto fail;
  if (g_cancellable_is_cancelled (cancellable))
    {
      sm_error_set (&err, SM_ERR_CANCELLED, "loading was cancelled");
      goto fail;
    }
  g_task_return_boolean (task, TRUE);
  return;

fail:
  smelt_runtime_set_error (&error, &err);
  g_task_return_error (task, error);
}

void
smelt_chat_session_load_async (SmeltChatSession          *self,
                               const char                *path,
                               const SmeltSamplingParams *params,
                               GCancellable              *cancellable,
                               GAsyncReadyCallback        callback,
                               gpointer                   user_data)
{
  g_autoptr(GTask) task = NULL;
  LoadData *d;

  g_return_if_fail (SMELT_IS_CHAT_SESSION (self));
  g_return_if_fail (path != NULL);
  g_return_if_fail (params != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, smelt_chat_session_load_async);
  if (self->busy)
    {
      g_task_return_new_error (task, SMELT_RUNTIME_ERROR, SMELT_RUNTIME_ERROR_BUSY,
                               "the model is busy");
      return;
    }
  self->busy = TRUE;
  self->generation++;

  d = g_new0 (LoadData, 1);
  d->path = g_strdup (path);
  d->params = *params;
  d->stream = stream_new (self);
  g_task_set_task_data (task, d, (GDestroyNotify) load_data_free);
  g_task_run_in_thread (task, load_worker);
}

gboolean
smelt_chat_session_load_finish (SmeltChatSession *self,
                                GAsyncResult     *result,
                                GError          **error)
{
  LoadData *d;

  g_return_val_if_fail (SMELT_IS_CHAT_SESSION (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  d = g_task_get_task_data (G_TASK (result));
  if (d == NULL)
    /* Refused before any work started (busy). */
    return g_task_propagate_boolean (G_TASK (result), error);
  self->busy = FALSE;
  stream_drain (d->stream);
  if (!g_task_propagate_boolean (G_TASK (result), error))
    return FALSE;

  /* The worker is done with these: swap them in and drop the previous model. */
  sm_chat_template_free (self->template);
  sm_session_free (self->session);
  sm_model_free (self->model);
  self->model = g_steal_pointer (&d->model);
  self->session = g_steal_pointer (&d->session);
  self->template = g_steal_pointer (&d->template);
  g_free (self->model_path);
  self->model_path = g_strdup (d->path);
  self->params = d->params;
  self->params_dirty = FALSE;
  return TRUE;
}

/* ---- replies ---- */

typedef struct
{
  char            *system_prompt;
  GPtrArray       *messages;     /* (element-type SmeltChatMessage) */
  Stream          *stream;
  GCancellable    *cancellable;
  GString         *reply;
  SmeltReplyStats  stats;
} ReplyData;

static void
reply_data_free (ReplyData *d)
{
  g_free (d->system_prompt);
  g_ptr_array_unref (d->messages);
  stream_unref (d->stream);
  g_string_free (d->reply, TRUE);
  g_free (d);
}

static bool
reply_piece_cb (const char *piece,
                size_t      len,
                sm_token    token,
                void       *user_data)
{
  ReplyData *d = user_data;

  g_string_append_len (d->reply, piece, len);
  g_mutex_lock (&d->stream->lock);
  g_string_append_len (d->stream->text, piece, len);
  stream_schedule_locked (d->stream);
  g_mutex_unlock (&d->stream->lock);
  return !g_cancellable_is_cancelled (d->cancellable);
}

/* Whether the session's history equals the first n_have entries of (system, messages). */
static gboolean
history_is_prefix (sm_session *session,
                   const char *system_prompt,
                   GPtrArray  *messages)
{
  size_t n = sm_session_get_n_messages (session);
  size_t offset = 0;

  if (system_prompt != NULL)
    {
      if (n == 0 || sm_session_get_message_role (session, 0) != SM_ROLE_SYSTEM
          || g_strcmp0 (sm_session_get_message_content (session, 0), system_prompt) != 0)
        return FALSE;
      offset = 1;
    }
  else if (n > 0 && sm_session_get_message_role (session, 0) == SM_ROLE_SYSTEM)
    return FALSE;

  if (n - offset > messages->len)
    return FALSE;
  for (size_t i = offset; i < n; i++)
    {
      const SmeltChatMessage *m = g_ptr_array_index (messages, i - offset);
      sm_role want = m->role == SMELT_CHAT_ROLE_USER ? SM_ROLE_USER : SM_ROLE_ASSISTANT;

      if (sm_session_get_message_role (session, i) != want
          || g_strcmp0 (sm_session_get_message_content (session, i), m->content) != 0)
        return FALSE;
    }
  return TRUE;
}

/* Tokens the session's history takes when rendered, as the next reply would see it. */
static guint
count_context (SmeltChatSession *self)
{
  size_t n = sm_session_get_n_messages (self->session);
  g_autofree sm_chat_message *msgs = g_new0 (sm_chat_message, MAX (n, 1));
  const sm_tokenizer *tok;
  sm_token *ids = NULL;
  size_t n_ids = 0;

  for (size_t i = 0; i < n; i++)
    {
      sm_role r = sm_session_get_message_role (self->session, i);

      msgs[i].role = r == SM_ROLE_SYSTEM ? SM_CHAT_ROLE_SYSTEM
                   : r == SM_ROLE_USER ? SM_CHAT_ROLE_USER : SM_CHAT_ROLE_ASSISTANT;
      msgs[i].content = sm_session_get_message_content (self->session, i);
    }
  /* Count what the session feeds the model: markup with its special tokens, message contents
   * as plain text, plus the BOS the session adds when the vocabulary wants one and the template
   * did not write it. */
  tok = sm_session_get_tokenizer (self->session);
  if (sm_chat_template_tokenize (self->template, msgs, n, FALSE, &ids, &n_ids, NULL) != SM_OK)
    return 0;
  if (sm_tokenizer_get_add_bos (tok) && sm_tokenizer_bos (tok) >= 0
      && (n_ids == 0 || ids[0] != sm_tokenizer_bos (tok)))
    n_ids++;
  free (ids);
  return (guint) n_ids;
}

static void
reply_worker (GTask        *task,
              gpointer      source,
              gpointer      task_data,
              GCancellable *cancellable)
{
  SmeltChatSession *self = source;
  ReplyData *d = task_data;
  sm_session_stats st = { 0 };
  sm_error err = { 0 };
  GError *error = NULL;

  d->cancellable = cancellable;

  if (self->params_dirty)
    {
      sm_session_params sp = to_engine_params (&self->params, self->model);
      sm_session *fresh = NULL;

      sm_chat_template *fresh_template = NULL;

      if (sm_session_new (self->model, &sp, &fresh, &err) != SM_OK)
        goto fail;
      /* The template borrows the session's tokenizer: it is rebuilt with the session. */
      if (sm_chat_template_load (sm_model_get_gguf (self->model), sm_session_get_tokenizer (fresh),
                                 &fresh_template, &err) != SM_OK)
        {
          sm_session_free (fresh);
          goto fail;
        }
      sm_chat_template_free (self->template);
      sm_session_free (self->session);
      self->session = fresh;
      self->template = fresh_template;
      self->params_dirty = FALSE;
    }

  if (!history_is_prefix (self->session, d->system_prompt, d->messages))
    {
      sm_session_reset (self->session);
      if (d->system_prompt != NULL
          && sm_session_add_message (self->session, SM_ROLE_SYSTEM, d->system_prompt, &err)
             != SM_OK)
        goto fail;
    }
  for (guint i = sm_session_get_n_messages (self->session) - (d->system_prompt ? 1 : 0);
       i < d->messages->len; i++)
    {
      const SmeltChatMessage *m = g_ptr_array_index (d->messages, i);

      if (sm_session_add_message (self->session,
                                  m->role == SMELT_CHAT_ROLE_USER ? SM_ROLE_USER
                                                                  : SM_ROLE_ASSISTANT,
                                  m->content, &err) != SM_OK)
        goto fail;
    }

  if (sm_session_generate (self->session, false, reply_piece_cb, d, &st, &err) != SM_OK)
    {
      /* Leave no half-added turn behind: the next request starts from a clean history. */
      sm_session_reset (self->session);
      goto fail;
    }

  d->stats.n_prompt_tokens = st.n_prompt_tokens;
  d->stats.n_generated = st.n_generated;
  d->stats.prompt_seconds = st.prompt_seconds;
  d->stats.tokens_per_second = st.generate_seconds > 0 ? st.n_generated / st.generate_seconds
                                                       : 0;
  d->stats.n_dropped = st.n_dropped_messages;
  d->stats.stopped = st.stopped;
  d->stats.context_full = st.context_full;
  d->stats.context_used = count_context (self);
  d->stats.n_ctx = to_engine_params (&self->params, self->model).n_ctx;
  g_task_return_boolean (task, TRUE);
  return;

fail:
  smelt_runtime_set_error (&error, &err);
  g_task_return_error (task, error);
}

void
smelt_chat_session_reply_async (SmeltChatSession   *self,
                                const char         *system_prompt,
                                GPtrArray          *messages,
                                GCancellable       *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer            user_data)
{
  g_autoptr(GTask) task = NULL;
  const SmeltChatMessage *last;
  ReplyData *d;

  g_return_if_fail (SMELT_IS_CHAT_SESSION (self));
  g_return_if_fail (messages != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, smelt_chat_session_reply_async);
  /* Stopping is not an error: the worker sees the cancellable and ends the reply itself. */
  g_task_set_check_cancellable (task, FALSE);

  if (self->busy)
    {
      g_task_return_new_error (task, SMELT_RUNTIME_ERROR, SMELT_RUNTIME_ERROR_BUSY,
                               "the model is busy");
      return;
    }
  if (self->session == NULL)
    {
      g_task_return_new_error (task, SMELT_RUNTIME_ERROR, SMELT_RUNTIME_ERROR_INVALID,
                               "no model is loaded");
      return;
    }
  last = messages->len > 0 ? g_ptr_array_index (messages, messages->len - 1) : NULL;
  if (last == NULL || last->role != SMELT_CHAT_ROLE_USER)
    {
      g_task_return_new_error (task, SMELT_RUNTIME_ERROR, SMELT_RUNTIME_ERROR_INVALID,
                               "the conversation must end with a user message");
      return;
    }

  self->busy = TRUE;
  self->generation++;
  d = g_new0 (ReplyData, 1);
  d->system_prompt = system_prompt != NULL && *system_prompt != '\0' ? g_strdup (system_prompt)
                                                                     : NULL;
  d->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_chat_message_free);
  for (guint i = 0; i < messages->len; i++)
    {
      const SmeltChatMessage *m = g_ptr_array_index (messages, i);

      g_ptr_array_add (d->messages, smelt_chat_message_new (m->role, m->content));
    }
  d->stream = stream_new (self);
  d->reply = g_string_new (NULL);
  g_task_set_task_data (task, d, (GDestroyNotify) reply_data_free);
  g_task_run_in_thread (task, reply_worker);
}

char *
smelt_chat_session_reply_finish (SmeltChatSession *self,
                                 GAsyncResult     *result,
                                 SmeltReplyStats  *stats,
                                 GError          **error)
{
  ReplyData *d;

  g_return_val_if_fail (SMELT_IS_CHAT_SESSION (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  d = g_task_get_task_data (G_TASK (result));
  if (d == NULL)
    {
      /* Refused before any work started (busy, no model, bad history). */
      g_task_propagate_boolean (G_TASK (result), error);
      return NULL;
    }
  self->busy = FALSE;
  /* Emit the tail before the caller sees the end of the reply. */
  stream_drain (d->stream);
  if (!g_task_propagate_boolean (G_TASK (result), error))
    return NULL;
  if (stats != NULL)
    *stats = d->stats;
  return g_strdup (d->reply->str);
}

const char *
smelt_chat_session_get_model_path (SmeltChatSession *self)
{
  g_return_val_if_fail (SMELT_IS_CHAT_SESSION (self), NULL);

  return self->model_path;
}

gboolean
smelt_chat_session_get_busy (SmeltChatSession *self)
{
  g_return_val_if_fail (SMELT_IS_CHAT_SESSION (self), FALSE);

  return self->busy;
}

void
smelt_chat_session_set_params (SmeltChatSession          *self,
                               const SmeltSamplingParams *params)
{
  g_return_if_fail (SMELT_IS_CHAT_SESSION (self));
  g_return_if_fail (params != NULL);

  if (memcmp (&self->params, params, sizeof *params) == 0)
    return;
  /* Read by the worker only while busy; the next reply picks the change up. */
  g_return_if_fail (!self->busy);
  self->params = *params;
  self->params_dirty = self->model != NULL;
}

static void
smelt_chat_session_finalize (GObject *object)
{
  SmeltChatSession *self = SMELT_CHAT_SESSION (object);

  /* Every task holds a reference, so no worker is running by now. */
  sm_chat_template_free (self->template);
  sm_session_free (self->session);
  sm_model_free (self->model);
  g_free (self->model_path);
  G_OBJECT_CLASS (smelt_chat_session_parent_class)->finalize (object);
}

static void
smelt_chat_session_class_init (SmeltChatSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = smelt_chat_session_finalize;

  /* A batch of reply text (UTF-8, whole characters), on the main thread. */
  signals[PIECE] = g_signal_new ("piece", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                 NULL, NULL, NULL, G_TYPE_NONE, 1,
                                 G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE);
  /* Load progress in [0, 1], on the main thread. */
  signals[LOAD_PROGRESS] = g_signal_new ("load-progress", G_TYPE_FROM_CLASS (klass),
                                         G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                         G_TYPE_NONE, 1, G_TYPE_DOUBLE);
}

static void
smelt_chat_session_init (SmeltChatSession *self)
{
  smelt_sampling_params_init (&self->params);
}

SmeltChatSession *
smelt_chat_session_new (void)
{
  return g_object_new (SMELT_TYPE_CHAT_SESSION, NULL);
}
