/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-session.c: conversations on top of a model context (see sm-session.h).
 *
 * The KV cache mirrors `cached`, the token list last evaluated. A new reply renders the whole
 * history, tokenizes it, keeps the longest common prefix of `cached` in the cache and evaluates
 * only the rest, which makes each turn cost its new tokens. When the rendered history does not
 * fit, whole messages after the system prompt are dropped oldest first until it does, leaving
 * room for a reply.
 */
#include "sm-session.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sm-chat-template.h"
#include "sm-sampler.h"

typedef struct
{
  sm_role role;
  char   *content; /* owned, NUL-terminated */
} sm_message;

static void remove_message (struct sm_session *s,
                            size_t             i);

struct sm_session
{
  const sm_model    *model;
  sm_session_params  params;
  sm_context        *ctx;
  sm_tokenizer      *tok;
  sm_chat_template  *tmpl;
  sm_sampler        *sampler;
  sm_message        *messages;      /* (n_messages) */
  size_t             n_messages;
  size_t             cap_messages;
  sm_token          *cached;        /* (n_cached) tokens whose keys/values are in ctx */
  size_t             n_cached;
  float             *prompt_logits; /* (n_vocab) or NULL */
  bool               have_prompt_logits;
};

sm_session_params
sm_session_default_params (void)
{
  sm_session_params p = { 0 };
  p.max_tokens = 0;
  p.temperature = 0.8f;
  p.top_k = 40;
  p.top_p = 0.95f;
  p.min_p = 0.05f;
  p.repeat_penalty = 1.0f;
  p.repeat_last_n = 64;
  p.seed = 0;
  return p;
}

static double
now_seconds (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

sm_status
sm_session_new (const sm_model          *model,
                const sm_session_params *params,
                sm_session             **out,
                sm_error                *err)
{
  sm_session_params defaults = sm_session_default_params ();
  sm_context_params cp = sm_context_default_params ();
  sm_sampler_params samp = sm_sampler_default_params ();
  sm_session *s;
  sm_status st;

  *out = NULL;
  if (params == NULL)
    params = &defaults;
  s = calloc (1, sizeof *s);
  if (s == NULL)
    return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
  s->model = model;
  s->params = *params;
  cp.n_ctx = params->n_ctx;
  cp.n_batch = params->n_batch;
  cp.n_threads = params->n_threads;

  samp.temperature = params->temperature;
  samp.top_k = params->top_k;
  samp.top_p = params->top_p;
  samp.min_p = params->min_p;
  samp.repeat_penalty = params->repeat_penalty;
  samp.repeat_last_n = params->repeat_last_n;
  samp.seed = params->seed;

  if ((st = sm_tokenizer_load (sm_model_get_gguf (model), &s->tok, err)) != SM_OK
      || (st = sm_context_new (model, &cp, &s->ctx, err)) != SM_OK
      || (st = sm_chat_template_load (sm_model_get_gguf (model), s->tok, &s->tmpl, err)) != SM_OK
      || (st = sm_sampler_new (&samp, sm_model_get_hparams (model)->n_vocab, &s->sampler,
                               err)) != SM_OK)
    {
      sm_session_free (s);
      return st;
    }
  s->prompt_logits = malloc (sizeof (float) * (size_t) sm_model_get_hparams (model)->n_vocab);
  s->cached = malloc (sizeof (sm_token) * sm_context_get_n_ctx (s->ctx));
  if (s->prompt_logits == NULL || s->cached == NULL)
    {
      sm_session_free (s);
      return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
    }
  *out = s;
  return SM_OK;
}

void
sm_session_free (sm_session *s)
{
  if (s == NULL)
    return;
  for (size_t i = 0; i < s->n_messages; i++)
    free (s->messages[i].content);
  free (s->messages);
  free (s->cached);
  free (s->prompt_logits);
  sm_sampler_free (s->sampler);
  sm_chat_template_free (s->tmpl);
  sm_context_free (s->ctx);
  sm_tokenizer_free (s->tok);
  free (s);
}

const sm_tokenizer *
sm_session_get_tokenizer (const sm_session *s)
{
  return s->tok;
}

static sm_status
push_message (sm_session *s,
              sm_role     role,
              const char *content,
              size_t      len,
              sm_error   *err)
{
  char *copy;

  if (s->n_messages == s->cap_messages)
    {
      size_t cap = s->cap_messages ? 2 * s->cap_messages : 8;
      sm_message *m = realloc (s->messages, cap * sizeof *m);
      if (m == NULL)
        return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
      s->messages = m;
      s->cap_messages = cap;
    }
  copy = malloc (len + 1);
  if (copy == NULL)
    return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
  memcpy (copy, content, len);
  copy[len] = '\0';
  s->messages[s->n_messages].role = role;
  s->messages[s->n_messages].content = copy;
  s->n_messages++;
  return SM_OK;
}

sm_status
sm_session_add_message (sm_session *s,
                        sm_role     role,
                        const char *content,
                        sm_error   *err)
{
  if (content == NULL)
    return sm_error_set (err, SM_ERR_INVALID_ARG, "message without content");
  if (role == SM_ROLE_SYSTEM && s->n_messages != 0)
    return sm_error_set (err, SM_ERR_INVALID_ARG,
                         "a system message can only be the first message");
  if (role != SM_ROLE_SYSTEM && role != SM_ROLE_USER && role != SM_ROLE_ASSISTANT)
    return sm_error_set (err, SM_ERR_INVALID_ARG, "unknown message role %d", (int) role);
  return push_message (s, role, content, strlen (content), err);
}

void
sm_session_set_abort (sm_session *s,
                      bool      (*abort_cb) (void *user_data),
                      void       *user_data)
{
  sm_context_set_abort (s->ctx, abort_cb, user_data);
}

void
sm_session_pop_message (sm_session *s)
{
  if (s->n_messages > 0)
    remove_message (s, s->n_messages - 1);
}

void
sm_session_reset (sm_session *s)
{
  for (size_t i = 0; i < s->n_messages; i++)
    free (s->messages[i].content);
  s->n_messages = 0;
  s->n_cached = 0;
  sm_context_truncate (s->ctx, 0);
  s->have_prompt_logits = false;
}

size_t
sm_session_get_n_messages (const sm_session *s)
{
  return s->n_messages;
}

sm_role
sm_session_get_message_role (const sm_session *s,
                             size_t            i)
{
  return s->messages[i].role;
}

const char *
sm_session_get_message_content (const sm_session *s,
                                size_t            i)
{
  return s->messages[i].content;
}

const float *
sm_session_get_prompt_logits (const sm_session *s)
{
  return s->have_prompt_logits ? s->prompt_logits : NULL;
}

/* Drops message i from the history. */
static void
remove_message (sm_session *s,
                size_t      i)
{
  free (s->messages[i].content);
  memmove (&s->messages[i], &s->messages[i + 1], (s->n_messages - i - 1) * sizeof *s->messages);
  s->n_messages--;
}

/* Renders the history (with the assistant's opening) and tokenizes it. */
static sm_status
render_history (sm_session *s,
                sm_token  **ids,
                size_t     *n_ids,
                sm_error   *err)
{
  sm_chat_message *msgs = calloc (s->n_messages ? s->n_messages : 1, sizeof *msgs);
  sm_status st;

  if (msgs == NULL)
    return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < s->n_messages; i++)
    {
      msgs[i].role = s->messages[i].role == SM_ROLE_SYSTEM ? SM_CHAT_ROLE_SYSTEM
                     : s->messages[i].role == SM_ROLE_USER ? SM_CHAT_ROLE_USER
                                                           : SM_CHAT_ROLE_ASSISTANT;
      msgs[i].content = s->messages[i].content;
    }
  /* Templates write the BOS text themselves when the model wants one; special-token texts of
   * the template's markup are parsed, those inside messages stay plain text (no forged turns),
   * and BOS is only added when the template did not write it. */
  st = sm_chat_template_tokenize (s->tmpl, msgs, s->n_messages, true, ids, n_ids, err);
  free (msgs);
  if (st == SM_OK && sm_tokenizer_get_add_bos (s->tok) && sm_tokenizer_bos (s->tok) >= 0
      && (*n_ids == 0 || (*ids)[0] != sm_tokenizer_bos (s->tok)))
    {
      sm_token *with = malloc (sizeof (sm_token) * (*n_ids + 1));
      if (with == NULL)
        st = sm_error_set (err, SM_ERR_NOMEM, "out of memory");
      else
        {
          with[0] = sm_tokenizer_bos (s->tok);
          if (*n_ids > 0)
            memcpy (with + 1, *ids, sizeof (sm_token) * *n_ids);
          free (*ids);
          *ids = with;
          (*n_ids)++;
        }
    }
  return st;
}

/* End of the assistant's turn: the template family's end-of-turn token or any
 * end-of-generation token of the vocabulary. */
static bool
is_stop_token (const sm_session *s,
               sm_token          t)
{
  size_t n = 0;
  const sm_token *stops = sm_chat_template_get_stop_tokens (s->tmpl, &n);

  if (sm_tokenizer_is_eog (s->tok, t))
    return true;
  for (size_t i = 0; i < n; i++)
    if (stops[i] == t)
      return true;
  return false;
}

/* Evaluates prompt[0..n) reusing the cached prefix, then samples the reply. */
static sm_status
run_prompt (sm_session       *s,
            const sm_token   *prompt,
            size_t            n,
            bool              keep_prompt_logits,
            sm_piece_fn       on_piece,
            void             *user_data,
            sm_session_stats *stats,
            char            **reply,
            size_t           *reply_len,
            sm_error         *err)
{
  const sm_model_hparams *hp = sm_model_get_hparams (s->model);
  uint32_t n_ctx = sm_context_get_n_ctx (s->ctx);
  sm_detokenizer *detok = NULL;
  size_t keep = 0, cap = 256, len = 0;
  char *text = NULL;
  double t0;
  sm_status st = SM_OK;

  s->have_prompt_logits = false;
  if (n == 0)
    return sm_error_set (err, SM_ERR_INVALID_ARG, "empty prompt");
  if (n > n_ctx)
    return sm_error_set (err, SM_ERR_INVALID_ARG,
                         "prompt of %zu tokens does not fit the context of %u tokens", n, n_ctx);

  /* Keep the common prefix, but always evaluate at least one token to get fresh logits. */
  while (keep < s->n_cached && keep < n && s->cached[keep] == prompt[keep])
    keep++;
  if (keep == n)
    keep--;
  sm_context_truncate (s->ctx, (uint32_t) keep);
  s->n_cached = keep;

  t0 = now_seconds ();
  st = sm_context_eval (s->ctx, prompt + keep, (int32_t) (n - keep), NULL, err);
  if (st != SM_OK)
    {
      s->n_cached = sm_context_get_n_past (s->ctx);
      return st;
    }
  memcpy (s->cached + keep, prompt + keep, sizeof (sm_token) * (n - keep));
  s->n_cached = n;
  stats->n_prompt_tokens = (int32_t) (n - keep);
  stats->prompt_seconds = now_seconds () - t0;
  if (keep_prompt_logits)
    {
      memcpy (s->prompt_logits, sm_context_get_logits (s->ctx), sizeof (float) * hp->n_vocab);
      s->have_prompt_logits = true;
    }

  detok = sm_detokenizer_new (s->tok, false, false);
  text = malloc (cap);
  if (detok == NULL || text == NULL)
    {
      st = sm_error_set (err, SM_ERR_NOMEM, "out of memory");
      goto out;
    }

  sm_sampler_reset (s->sampler);
  for (size_t i = 0; i < n; i++)
    sm_sampler_accept (s->sampler, prompt[i]);

  t0 = now_seconds ();
  for (;;)
    {
      const char *piece;
      size_t plen = 0;
      sm_token t;

      if (s->params.max_tokens < 0
          || (s->params.max_tokens > 0 && stats->n_generated >= s->params.max_tokens))
        break;
      t = sm_sampler_sample (s->sampler, sm_context_get_logits (s->ctx));
      if (is_stop_token (s, t))
        {
          stats->end_of_turn = true;
          break;
        }
      sm_sampler_accept (s->sampler, t);
      stats->n_generated++;
      piece = sm_detokenizer_push (detok, t, &plen);
      if (piece == NULL)
        {
          st = sm_error_set (err, SM_ERR_NOMEM, "out of memory");
          goto out;
        }
      if (plen > 0)
        {
          if (len + plen + 1 > cap)
            {
              char *bigger;
              while (len + plen + 1 > cap)
                cap *= 2;
              bigger = realloc (text, cap);
              if (bigger == NULL)
                {
                  st = sm_error_set (err, SM_ERR_NOMEM, "out of memory");
                  goto out;
                }
              text = bigger;
            }
          memcpy (text + len, piece, plen);
          len += plen;
          if (on_piece != NULL && !on_piece (piece, plen, t, user_data))
            {
              stats->stopped = true;
              break;
            }
        }
      if (s->n_cached >= n_ctx)
        {
          stats->context_full = true;
          break;
        }
      if ((st = sm_context_eval (s->ctx, &t, 1, NULL, err)) != SM_OK)
        goto out;
      s->cached[s->n_cached++] = t;
    }
  if (stats->n_generated > 0)
    {
      /* A character still held back by the detokenizer (nothing to flush without tokens). */
      size_t plen = 0;
      const char *piece = sm_detokenizer_flush (detok, &plen);
      if (piece != NULL && plen > 0 && !stats->stopped)
        {
          char *bigger = len + plen + 1 > cap ? realloc (text, len + plen + 1) : text;
          if (bigger != NULL)
            {
              text = bigger;
              memcpy (text + len, piece, plen);
              len += plen;
              if (on_piece != NULL)
                on_piece (piece, plen, SM_TOKEN_NULL, user_data);
            }
        }
    }
  stats->generate_seconds = now_seconds () - t0;

out:
  sm_detokenizer_free (detok);
  if (st == SM_OK && reply != NULL)
    {
      text[len] = '\0';
      *reply = text;
      *reply_len = len;
    }
  else
    free (text);
  return st;
}

sm_status
sm_session_generate (sm_session       *s,
                     bool              keep_prompt_logits,
                     sm_piece_fn       on_piece,
                     void             *user_data,
                     sm_session_stats *stats,
                     sm_error         *err)
{
  sm_session_stats local;
  uint32_t n_ctx = sm_context_get_n_ctx (s->ctx);
  /* Room left for the reply when deciding whether to drop old turns. */
  size_t reserve = s->params.max_tokens > 0 ? (size_t) s->params.max_tokens
                   : s->params.max_tokens < 0 ? 0 : n_ctx / 4;
  sm_token *ids = NULL;
  size_t n_ids = 0;
  char *reply = NULL;
  size_t reply_len = 0;
  sm_status st;

  if (stats == NULL)
    stats = &local;
  memset (stats, 0, sizeof *stats);
  if (s->n_messages == 0 || s->messages[s->n_messages - 1].role != SM_ROLE_USER)
    return sm_error_set (err, SM_ERR_INVALID_ARG, "the last message must be the user's");
  if (reserve > n_ctx / 2)
    reserve = n_ctx / 2;

  for (;;)
    {
      size_t first;

      if ((st = render_history (s, &ids, &n_ids, err)) != SM_OK)
        return st;
      if (n_ids + reserve <= n_ctx)
        break;
      /* Drop the oldest turn after the system prompt; never the last user message. */
      first = s->n_messages > 0 && s->messages[0].role == SM_ROLE_SYSTEM ? 1 : 0;
      if (first >= s->n_messages - 1)
        {
          if (n_ids <= n_ctx - 1)
            break; /* fits without the reserve: answer what fits */
          free (ids);
          return sm_error_set (err, SM_ERR_INVALID_ARG,
                               "the message is %zu tokens long, more than the context of %u "
                               "tokens holds", n_ids, n_ctx);
        }
      free (ids);
      ids = NULL;
      remove_message (s, first);
      stats->n_dropped_messages++;
      /* Keep turns whole: a reply goes with the message it answered. */
      if (first < s->n_messages - 1 && s->messages[first].role == SM_ROLE_ASSISTANT)
        {
          remove_message (s, first);
          stats->n_dropped_messages++;
        }
    }

  st = run_prompt (s, ids, n_ids, keep_prompt_logits, on_piece, user_data, stats, &reply,
                   &reply_len, err);
  free (ids);
  if (st != SM_OK)
    return st;
  st = push_message (s, SM_ROLE_ASSISTANT, reply, reply_len, err);
  free (reply);
  return st;
}

sm_status
sm_session_complete (sm_session       *s,
                     const char       *text,
                     const sm_token   *ids,
                     size_t            n_ids,
                     bool              keep_prompt_logits,
                     sm_piece_fn       on_piece,
                     void             *user_data,
                     sm_session_stats *stats,
                     sm_error         *err)
{
  sm_session_stats local;
  sm_token *owned = NULL;
  sm_status st;

  if (stats == NULL)
    stats = &local;
  memset (stats, 0, sizeof *stats);
  if (ids == NULL)
    {
      if (text == NULL || text[0] == '\0')
        return sm_error_set (err, SM_ERR_INVALID_ARG, "empty prompt");
      st = sm_tokenizer_tokenize (s->tok, text, strlen (text), true, true, &owned, &n_ids, err);
      if (st != SM_OK)
        return st;
      ids = owned;
    }
  st = run_prompt (s, ids, n_ids, keep_prompt_logits, on_piece, user_data, stats, NULL, NULL,
                   err);
  free (owned);
  return st;
}
