/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-session.h: a conversation with a model, the API the app (through src/runtime/) and the CLI
 * use: messages in, a streamed reply out.
 *
 * A session owns an evaluation context (KV cache), a tokenizer, a sampler and the message
 * history. Each reply renders the whole history with the model's chat template, reuses the part
 * of the KV cache that still matches (so a turn only evaluates its new tokens), samples until an
 * end-of-generation token, max_tokens or a stop from the callback, and appends the reply to the
 * history. The template's markup is tokenized with its special tokens, message contents as plain
 * text (sm_chat_template_tokenize): special-token text typed or pasted into a message cannot
 * forge turns or system prompts. When the rendered history no longer fits n_ctx, the oldest
 * turns after the system prompt are dropped and the stats say how many. Not here: the forward pass (sm-model.h),
 * tokenization rules (sm-tokenizer.h), template formats (sm-chat-template.h), sampling maths
 * (sm-sampler.h).
 *
 * Threading: one thread at a time per session; sessions of one model may run on different
 * threads (each has its own compute pool).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "sm-common.h"
#include "sm-model.h"
#include "sm-tokenizer.h"

typedef enum
{
  SM_ROLE_SYSTEM = 0,
  SM_ROLE_USER = 1,
  SM_ROLE_ASSISTANT = 2,
} sm_role;

typedef struct
{
  uint32_t n_ctx;          /* tokens; 0 = min(n_ctx_train, 4096) */
  uint32_t n_batch;        /* prompt tokens per forward pass; 0 = engine default */
  int      n_threads;      /* <= 0 = physical cores */
  int32_t  max_tokens;     /* per reply; 0 = until end of turn or a full context; < 0 = no
                              reply (evaluate the prompt only, e.g. for its logits) */
  float    temperature;    /* 0 = greedy */
  int32_t  top_k;          /* 0 = off */
  float    top_p;          /* 1 = off */
  float    min_p;          /* 0 = off */
  float    repeat_penalty; /* 1 = off */
  int32_t  repeat_last_n;  /* tokens the penalty looks back over */
  uint64_t seed;           /* same seed, same model, same messages: same reply */
} sm_session_params;

sm_session_params sm_session_default_params (void);

/* What one reply did. */
typedef struct
{
  int32_t n_prompt_tokens;    /* tokens evaluated before the first sampled one (cache reuse
                                 excluded) */
  int32_t n_generated;        /* tokens sampled (the end-of-turn token not counted) */
  int32_t n_dropped_messages; /* history messages dropped so far to fit n_ctx (this reply) */
  double  prompt_seconds;
  double  generate_seconds;
  bool    end_of_turn;        /* stopped on an end-of-generation token */
  bool    stopped;            /* the callback returned false */
  bool    context_full;       /* the reply filled the context */
} sm_session_stats;

/* Streams the reply: piece is len bytes of whole UTF-8 characters (not NUL-terminated), token
 * the id that completed it. Return false to stop the reply (what is generated so far stays in
 * the history). */
typedef bool (*sm_piece_fn) (const char *piece,
                             size_t      len,
                             sm_token    token,
                             void       *user_data);

typedef struct sm_session sm_session;

/* Loads the tokenizer and chat template from the model's metadata and creates the context.
 * The model must outlive the session. Errors: those of sm_tokenizer_load and sm_context_new. */
sm_status sm_session_new (const sm_model          *model,
                          const sm_session_params *params,
                          sm_session             **out,
                          sm_error                *err);

/* NULL is accepted. */
void sm_session_free (sm_session *session);

const sm_tokenizer *sm_session_get_tokenizer (const sm_session *session);

/* Called between layers while a prompt or token is evaluated; returning false abandons the
 * evaluation: generate/complete then fail with SM_ERR_CANCELLED and the history keeps the user
 * message (the app maps its GCancellable here). Nullable. */
void sm_session_set_abort (sm_session *session,
                           bool      (*abort_cb) (void *user_data),
                           void       *user_data);

/* Appends a message (content copied). A system message is only accepted as the first one.
 * SM_ERR_INVALID_ARG otherwise. */
sm_status sm_session_add_message (sm_session *session,
                                  sm_role     role,
                                  const char *content,
                                  sm_error   *err);

/* Removes the last message, if any (e.g. a user message whose reply was cancelled). */
void sm_session_pop_message (sm_session *session);

/* Forgets every message (the system prompt too) and the cache. */
void sm_session_reset (sm_session *session);

/* Messages currently in the history (after any dropping). */
size_t      sm_session_get_n_messages (const sm_session *session);
sm_role     sm_session_get_message_role (const sm_session *session, size_t i);
const char *sm_session_get_message_content (const sm_session *session, size_t i);

/* Generates the assistant's reply to the history (which must end with a user message).
 * keep_prompt_logits: keep the next-token logits after the prompt for
 * sm_session_get_prompt_logits. stats may be NULL. Errors: SM_ERR_INVALID_ARG (no user
 * message last; a last message too long for the context even alone, message says so),
 * SM_ERR_CANCELLED when the abort callback stopped an evaluation; a stop from on_piece is a
 * normal end (stats->stopped). */
sm_status sm_session_generate (sm_session       *session,
                               bool              keep_prompt_logits,
                               sm_piece_fn       on_piece,
                               void             *user_data,
                               sm_session_stats *stats,
                               sm_error         *err);

/* Plain completion without template or history: continues text (tokenized with BOS as the
 * vocabulary says, special-token texts parsed) or, when ids is non-NULL, the n_ids token ids
 * as given. Errors: SM_ERR_INVALID_ARG for an empty prompt or one longer than the context. */
sm_status sm_session_complete (sm_session       *session,
                               const char       *text,
                               const sm_token   *ids,
                               size_t            n_ids,
                               bool              keep_prompt_logits,
                               sm_piece_fn       on_piece,
                               void             *user_data,
                               sm_session_stats *stats,
                               sm_error         *err);

/* n_vocab logits after the last prompt token of the latest generate/complete called with
 * keep_prompt_logits; NULL otherwise. Owned by the session. */
const float *sm_session_get_prompt_logits (const sm_session *session);
