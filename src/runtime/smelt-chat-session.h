/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-chat-session.h: one loaded model and a conversation with it, for the main loop.
 *
 * Loading (sm_model_open + sm_session_new) and each reply (sm_session_generate) run on a worker
 * thread. Reply text arrives as "piece" signals on the main thread, batched to about 20 Hz; load
 * progress as "load-progress". The caller keeps the conversation: every reply request passes the
 * whole history, and the session reuses its KV cache when the previous history is a prefix of
 * the new one (the usual next turn), or starts over otherwise (regenerate, another conversation).
 * One request at a time: a second one while busy fails with SMELT_RUNTIME_ERROR_BUSY. Not for
 * the UI's own state (conversation files live in the app).
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum
{
  SMELT_CHAT_ROLE_USER,
  SMELT_CHAT_ROLE_ASSISTANT,
} SmeltChatRole;

typedef struct
{
  SmeltChatRole role;
  char         *content; /* UTF-8 */
} SmeltChatMessage;

SmeltChatMessage *smelt_chat_message_new  (SmeltChatRole role,
                                           const char   *content);
void              smelt_chat_message_free (SmeltChatMessage *message);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmeltChatMessage, smelt_chat_message_free)

typedef struct
{
  guint32 n_ctx;          /* tokens; clamped to the model's training context; 0 = min(train, 4096) */
  int     n_threads;      /* <= 0 = one less than the CPUs (at least 1), for a smooth UI */
  double  temperature;    /* 0 = greedy */
  double  top_p;          /* 1 = off */
  int     top_k;          /* 0 = off */
  double  min_p;          /* 0 = off */
  double  repeat_penalty; /* 1 = off */
  int     max_tokens;     /* per reply; <= 0 = until end of turn or a full context */
  guint64 seed;
} SmeltSamplingParams;

/* The engine's defaults. */
void smelt_sampling_params_init (SmeltSamplingParams *params);

typedef struct
{
  int      n_prompt_tokens;   /* evaluated for this reply (cache reuse excluded) */
  int      n_generated;       /* tokens of the reply */
  double   tokens_per_second; /* generation speed, 0 when nothing was generated */
  double   prompt_seconds;
  guint    context_used;      /* tokens the history now takes, reply included */
  guint    n_ctx;             /* the context size */
  int      n_dropped;         /* old messages dropped to make room */
  gboolean stopped;           /* cancelled: the text so far was kept */
  gboolean context_full;
} SmeltReplyStats;

#define SMELT_TYPE_CHAT_SESSION (smelt_chat_session_get_type ())
G_DECLARE_FINAL_TYPE (SmeltChatSession, smelt_chat_session, SMELT, CHAT_SESSION, GObject)

SmeltChatSession *smelt_chat_session_new (void);

/* Loads the GGUF at path (split models through part 1), replacing any loaded model once the new
 * one is ready. Emits "load-progress" (double in [0, 1]) on the main thread. Cancelling leaves
 * the previous model loaded. */
void     smelt_chat_session_load_async  (SmeltChatSession          *self,
                                         const char                *path,
                                         const SmeltSamplingParams *params,
                                         GCancellable              *cancellable,
                                         GAsyncReadyCallback        callback,
                                         gpointer                   user_data);
gboolean smelt_chat_session_load_finish (SmeltChatSession *self,
                                         GAsyncResult     *result,
                                         GError          **error);

/* (nullable) the loaded model's path. */
const char *smelt_chat_session_get_model_path (SmeltChatSession *self);
gboolean    smelt_chat_session_get_busy       (SmeltChatSession *self);

/* Sampling for the next replies (the context is rebuilt when they change). */
void smelt_chat_session_set_params (SmeltChatSession          *self,
                                    const SmeltSamplingParams *params);

/* Generates the assistant's reply to `messages` (element-type SmeltChatMessage, ending with a
 * user message), after the optional system prompt. Emits "piece" (const char *text) as the reply
 * streams. Cancelling stops the reply and is not an error: the stats say stopped. _finish emits
 * any text still pending before it returns, fills *stats (nullable) and returns the whole reply
 * (transfer full), or NULL with an error. */
void  smelt_chat_session_reply_async  (SmeltChatSession *self,
                                       const char       *system_prompt,
                                       GPtrArray        *messages,
                                       GCancellable     *cancellable,
                                       GAsyncReadyCallback callback,
                                       gpointer          user_data);
char *smelt_chat_session_reply_finish (SmeltChatSession *self,
                                       GAsyncResult     *result,
                                       SmeltReplyStats  *stats,
                                       GError          **error);

G_END_DECLS
