/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-chat-template.c: chat template families recognised from the Jinja text and rendered by hand
 * (see sm-chat-template.h for the formats). Not a template engine: anything the families below
 * do not describe is ignored.
 */
#include "sm-chat-template.h"
#include "sm-unicode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_LLAMA31_DATE "26 Jul 2024"

struct sm_chat_template
{
  const sm_tokenizer *tok;
  sm_chat_format      format;
  bool                fallback;

  /* Variants read from the template text. */
  bool  llama31_system;    /* Llama 3.1/3.2 system block with the knowledge date */
  bool  date_today;        /* the template formats today's date (strftime_now) */
  char  date[32];          /* set by the caller; "" = the template's default */
  char *default_system;    /* ChatML default system prompt or NULL */
  bool  with_bos;          /* the template writes bos_token */
  bool  mistral_inst_space; /* " [/INST]" rather than "[/INST]" */
  bool  mistral_eos_space; /* eos_token + ' ' after an answer */
  bool  phi3_inline_prompt; /* Phi-3 variant that opens <|assistant|> after every user turn */
  bool  phi3_system;       /* Phi-3 template knows <|system|> */

  sm_token *stop;
  size_t    n_stop;
};

/* ---- small string builder ---- */

typedef struct
{
  char  *v;
  size_t n, cap;
  bool   failed;
  /* Where message contents lie in v, in order (not overlapping). */
  sm_text_range *ranges;
  size_t         n_ranges, cap_ranges;
} sbuf;

static void
sb_free (sbuf *b)
{
  free (b->v);
  free (b->ranges);
}

/* Marks v[off .. off + len) as message content; empty ranges are not kept and a range that
 * continues the previous one extends it. */
static void
sb_mark (sbuf *b, size_t off, size_t len)
{
  if (b->failed || len == 0)
    return;
  if (b->n_ranges > 0 && b->ranges[b->n_ranges - 1].off + b->ranges[b->n_ranges - 1].len == off)
    {
      b->ranges[b->n_ranges - 1].len += len;
      return;
    }
  if (b->n_ranges == b->cap_ranges)
    {
      size_t cap = b->cap_ranges ? 2 * b->cap_ranges : 16;
      sm_text_range *r = realloc (b->ranges, cap * sizeof *r);

      if (!r)
        {
          b->failed = true;
          return;
        }
      b->ranges = r;
      b->cap_ranges = cap;
    }
  b->ranges[b->n_ranges].off = off;
  b->ranges[b->n_ranges].len = len;
  b->n_ranges++;
}

static void
sb_add (sbuf *b, const char *s, size_t len)
{
  if (b->failed)
    return;
  if (b->n + len + 1 > b->cap)
    {
      size_t cap = b->cap ? b->cap : 256;
      char *v;

      while (cap < b->n + len + 1)
        cap *= 2;
      v = realloc (b->v, cap);
      if (!v)
        {
          b->failed = true;
          return;
        }
      b->v = v;
      b->cap = cap;
    }
  memcpy (b->v + b->n, s, len);
  b->n += len;
  b->v[b->n] = '\0';
}

static void
sb_str (sbuf *b, const char *s)
{
  sb_add (b, s, strlen (s));
}

/* Message content: added as text and marked. */
static void
sb_content (sbuf *b, const char *s)
{
  size_t at = b->n, len = strlen (s);

  sb_add (b, s, len);
  sb_mark (b, at, len);
}

/* Appends src->v[start .. end) with the content marks that fall inside it. */
static void
sb_sub (sbuf *b, const sbuf *src, size_t start, size_t end)
{
  size_t at = b->n;

  sb_add (b, src->v + start, end - start);
  for (size_t i = 0; i < src->n_ranges; i++)
    {
      size_t lo = src->ranges[i].off, hi = lo + src->ranges[i].len;

      lo = lo > start ? lo : start;
      hi = hi < end ? hi : end;
      if (lo < hi)
        sb_mark (b, at + (lo - start), hi - lo);
    }
}

/* Python's str.isspace(): White_Space plus the four ASCII information separators. */
static bool
is_py_space (uint32_t cpt)
{
  return (sm_unicode_flags (cpt) & SM_UNICODE_WHITESPACE) || (cpt >= 0x1C && cpt <= 0x1F);
}

/* The bounds of s[0 .. len) without leading and trailing whitespace (Jinja |trim, Python
 * .strip()). */
static void
trim_bounds (const char *s, size_t len, size_t *start_out, size_t *end_out)
{
  size_t start = len, end, i = 0;

  while (i < len)
    {
      size_t at = i;

      if (!is_py_space (sm_utf8_decode (s, len, &i)))
        {
          start = at;
          break;
        }
      start = i;
    }
  /* The last non-space character ends the text. */
  end = start;
  for (i = start; i < len;)
    {
      uint32_t c = sm_utf8_decode (s, len, &i);

      if (!is_py_space (c))
        end = i;
    }
  *start_out = start;
  *end_out = end;
}

/* Appends message content s trimmed of surrounding whitespace. */
static void
sb_content_trimmed (sbuf *b, const char *s)
{
  size_t start, end, at = b->n;

  trim_bounds (s, strlen (s), &start, &end);
  sb_add (b, s + start, end - start);
  sb_mark (b, at, end - start);
}

static void
sb_token_text (sbuf *b, const sm_tokenizer *tok, sm_token id, const char *fallback)
{
  size_t len;
  const char *text = sm_tokenizer_get_text (tok, id, &len);

  if (text)
    sb_add (b, text, len);
  else
    sb_str (b, fallback);
}

/* ---- recognition ---- */

static bool
has (const char *t, size_t len, const char *needle)
{
  size_t n = strlen (needle);

  if (!t || n > len)
    return false;
  for (size_t i = 0; i + n <= len; i++)
    if (memcmp (t + i, needle, n) == 0)
      return true;
  return false;
}

/* Finds a ChatML default system prompt written as a literal in the template:
 * '<|im_start|>system\n' TEXT '<|im_end|>' with TEXT free of quotes and expressions. */
static char *
find_default_system (const char *t, size_t len)
{
  static const char marker[] = "<|im_start|>system";
  size_t mlen = sizeof marker - 1;

  for (size_t i = 0; t && i + mlen <= len; i++)
    {
      size_t p, q;
      sbuf out = { 0 };

      if (memcmp (t + i, marker, mlen) != 0)
        continue;
      p = i + mlen;
      if (p < len && t[p] == '\n')
        p++;
      else if (p + 1 < len && t[p] == '\\' && t[p + 1] == 'n')
        p += 2;
      else
        continue;
      for (q = p; q < len; q++)
        if (t[q] == '\'' || t[q] == '"' || t[q] == '{' || t[q] == '}' || t[q] == '<')
          break;
      if (q == p || q + 10 > len || memcmp (t + q, "<|im_end|>", 10) != 0)
        continue;
      /* Unescape \n and \' the way a Jinja string literal does. */
      for (size_t k = p; k < q; k++)
        {
          if (t[k] == '\\' && k + 1 < q)
            {
              k++;
              sb_add (&out, t[k] == 'n' ? "\n" : t + k, 1);
            }
          else
            sb_add (&out, t + k, 1);
        }
      if (out.failed)
        {
          sb_free (&out);
          return NULL;
        }
      return out.v;
    }
  return NULL;
}

const char *
sm_chat_format_name (sm_chat_format f)
{
  switch (f)
    {
    case SM_CHAT_FORMAT_LLAMA3: return "llama3";
    case SM_CHAT_FORMAT_CHATML: return "chatml";
    case SM_CHAT_FORMAT_LLAMA2: return "llama2";
    case SM_CHAT_FORMAT_MISTRAL: return "mistral";
    case SM_CHAT_FORMAT_PHI3: return "phi3";
    }
  return "unknown";
}

static int
cmp_token (const void *a, const void *b)
{
  sm_token x = *(const sm_token *) a, y = *(const sm_token *) b;

  return (x > y) - (x < y);
}

static bool
name_has (const char *name, size_t len, const char *needle)
{
  size_t n = strlen (needle);

  for (size_t i = 0; name && i + n <= len; i++)
    {
      size_t k = 0;

      while (k < n && (name[i + k] | 0x20) == needle[k])
        k++;
      if (k == n)
        return true;
    }
  return false;
}

/* model_name (general.name, may be NULL) only steers the fallback of SPM vocabularies. */
static sm_status
template_new (const char          *text,
              size_t               len,
              const sm_tokenizer  *tok,
              const char          *model_name,
              size_t               name_len,
              sm_chat_template   **out,
              sm_error            *err)
{
  sm_chat_template *t = calloc (1, sizeof *t);
  const char *end_text = NULL;
  size_t n_eog;
  const sm_token *eog = sm_tokenizer_get_eog (tok, &n_eog);

  *out = NULL;
  if (!t)
    return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
  t->tok = tok;
  if (!text)
    len = 0;

  if (has (text, len, "<|start_header_id|>"))
    t->format = SM_CHAT_FORMAT_LLAMA3;
  else if (has (text, len, "<|im_start|>"))
    t->format = SM_CHAT_FORMAT_CHATML;
  else if (has (text, len, "[INST]"))
    t->format = has (text, len, "<<SYS>>") ? SM_CHAT_FORMAT_LLAMA2 : SM_CHAT_FORMAT_MISTRAL;
  else if (has (text, len, "<|user|>"))
    t->format = SM_CHAT_FORMAT_PHI3;
  else
    {
      t->fallback = true;
      if (sm_tokenizer_find (tok, "<|start_header_id|>", 19) >= 0)
        t->format = SM_CHAT_FORMAT_LLAMA3;
      else if (sm_tokenizer_find (tok, "<|im_start|>", 12) >= 0)
        t->format = SM_CHAT_FORMAT_CHATML;
      else if (sm_tokenizer_get_type (tok) == SM_VOCAB_SPM)
        t->format = name_has (model_name, name_len, "mistral") ? SM_CHAT_FORMAT_MISTRAL
                                                                : SM_CHAT_FORMAT_LLAMA2;
      else
        t->format = SM_CHAT_FORMAT_CHATML;
    }

  /* Variants. A fallback renders the family's plain form, BOS included where it has one. */
  t->with_bos = t->fallback ? t->format != SM_CHAT_FORMAT_CHATML && t->format != SM_CHAT_FORMAT_PHI3
                            : has (text, len, "bos_token");
  t->llama31_system = has (text, len, "Cutting Knowledge Date");
  t->date_today = has (text, len, "strftime_now");
  t->mistral_inst_space = t->fallback || has (text, len, " [/INST]");
  t->mistral_eos_space = has (text, len, "eos_token + ' '") || has (text, len, "eos_token + \" \"");
  t->phi3_inline_prompt = !has (text, len, "add_generation_prompt");
  t->phi3_system = has (text, len, "<|system|>");
  if (t->format == SM_CHAT_FORMAT_CHATML && !t->fallback)
    t->default_system = find_default_system (text, len);

  switch (t->format)
    {
    case SM_CHAT_FORMAT_LLAMA3: end_text = "<|eot_id|>"; break;
    case SM_CHAT_FORMAT_CHATML: end_text = "<|im_end|>"; break;
    case SM_CHAT_FORMAT_PHI3: end_text = "<|end|>"; break;
    case SM_CHAT_FORMAT_LLAMA2:
    case SM_CHAT_FORMAT_MISTRAL: end_text = NULL; break; /* eos, already an eog token */
    }
  t->stop = malloc ((n_eog + 1) * sizeof *t->stop);
  if (!t->stop)
    {
      sm_chat_template_free (t);
      return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
    }
  memcpy (t->stop, eog, n_eog * sizeof *eog);
  t->n_stop = n_eog;
  if (end_text)
    {
      sm_token id = sm_tokenizer_find (tok, end_text, strlen (end_text));

      if (id >= 0 && !sm_tokenizer_is_eog (tok, id))
        t->stop[t->n_stop++] = id;
    }
  qsort (t->stop, t->n_stop, sizeof *t->stop, cmp_token);
  *out = t;
  return SM_OK;
}

sm_status
sm_chat_template_load (const sm_gguf       *g,
                       const sm_tokenizer  *tok,
                       sm_chat_template   **out,
                       sm_error            *err)
{
  sm_gguf_str s = { NULL, 0 }, name = { NULL, 0 };

  sm_gguf_find_str (g, "general.name", &name);
  if (!sm_gguf_find_str (g, "tokenizer.chat_template", &s))
    s.ptr = NULL;
  return template_new (s.ptr, (size_t) s.len, tok, name.ptr, (size_t) name.len, out, err);
}

sm_status
sm_chat_template_new (const char          *text,
                      size_t               len,
                      const sm_tokenizer  *tok,
                      sm_chat_template   **out,
                      sm_error            *err)
{
  return template_new (text, len, tok, NULL, 0, out, err);
}

void
sm_chat_template_free (sm_chat_template *t)
{
  if (!t)
    return;
  free (t->default_system);
  free (t->stop);
  free (t);
}

sm_chat_format
sm_chat_template_get_format (const sm_chat_template *t)
{
  return t->format;
}

bool
sm_chat_template_is_fallback (const sm_chat_template *t)
{
  return t->fallback;
}

void
sm_chat_template_set_date (sm_chat_template *t,
                           const char       *date)
{
  t->date[0] = '\0';
  if (date)
    snprintf (t->date, sizeof t->date, "%s", date);
}

const sm_token *
sm_chat_template_get_stop_tokens (const sm_chat_template *t,
                                  size_t                 *n)
{
  *n = t->n_stop;
  return t->stop;
}

/* ---- rendering ---- */

static const char *
role_name (sm_chat_role r)
{
  switch (r)
    {
    case SM_CHAT_ROLE_SYSTEM: return "system";
    case SM_CHAT_ROLE_USER: return "user";
    case SM_CHAT_ROLE_ASSISTANT: return "assistant";
    }
  return "user";
}

static void
render_llama3 (const sm_chat_template *t, sbuf *b, const sm_chat_message *m, size_t n, bool gen)
{
  size_t first = 0;

  if (t->with_bos)
    sb_token_text (b, t->tok, sm_tokenizer_bos (t->tok), "<|begin_of_text|>");
  if (t->llama31_system)
    {
      char date[32];

      if (t->date[0])
        snprintf (date, sizeof date, "%s", t->date);
      else if (t->date_today)
        {
          time_t now = time (NULL);
          struct tm tm;

          if (!localtime_r (&now, &tm) || !strftime (date, sizeof date, "%d %b %Y", &tm))
            snprintf (date, sizeof date, "%s", DEFAULT_LLAMA31_DATE);
        }
      else
        snprintf (date, sizeof date, "%s", DEFAULT_LLAMA31_DATE);
      sb_str (b, "<|start_header_id|>system<|end_header_id|>\n\n");
      sb_str (b, "Cutting Knowledge Date: December 2023\nToday Date: ");
      sb_str (b, date);
      sb_str (b, "\n\n");
      if (n > 0 && m[0].role == SM_CHAT_ROLE_SYSTEM)
        {
          sb_content_trimmed (b, m[0].content);
          first = 1;
        }
      sb_str (b, "<|eot_id|>");
    }
  for (size_t i = first; i < n; i++)
    {
      sb_str (b, "<|start_header_id|>");
      sb_str (b, role_name (m[i].role));
      sb_str (b, "<|end_header_id|>\n\n");
      sb_content_trimmed (b, m[i].content);
      sb_str (b, "<|eot_id|>");
    }
  if (gen)
    sb_str (b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

static void
render_chatml (const sm_chat_template *t, sbuf *b, const sm_chat_message *m, size_t n, bool gen)
{
  if (t->default_system && (n == 0 || m[0].role != SM_CHAT_ROLE_SYSTEM))
    {
      sb_str (b, "<|im_start|>system\n");
      sb_str (b, t->default_system);
      sb_str (b, "<|im_end|>\n");
    }
  for (size_t i = 0; i < n; i++)
    {
      sb_str (b, "<|im_start|>");
      sb_str (b, role_name (m[i].role));
      sb_str (b, "\n");
      sb_content (b, m[i].content);
      sb_str (b, "<|im_end|>\n");
    }
  if (gen)
    sb_str (b, "<|im_start|>assistant\n");
}

/* Llama 2 chat and Mistral: [INST] turns; the system message joins the first user turn. */
static void
render_inst (const sm_chat_template *t, sbuf *b, const sm_chat_message *m, size_t n, bool llama2)
{
  const char *system = NULL;
  bool first_user = true;
  size_t start = 0;

  if (n > 0 && m[0].role == SM_CHAT_ROLE_SYSTEM)
    {
      system = m[0].content;
      start = 1;
    }
  if (!llama2 && t->with_bos)
    sb_token_text (b, t->tok, sm_tokenizer_bos (t->tok), "<s>");
  for (size_t i = start; i < n; i++)
    {
      if (m[i].role == SM_CHAT_ROLE_USER)
        {
          if (llama2)
            {
              sbuf content = { 0 };

              if (first_user && system)
                {
                  sb_str (&content, "<<SYS>>\n");
                  sb_content (&content, system);
                  sb_str (&content, "\n<</SYS>>\n\n");
                }
              sb_content (&content, m[i].content);
              sb_add (&content, "", 0);
              if (content.failed)
                {
                  b->failed = true;
                  sb_free (&content);
                  return;
                }
              if (t->with_bos)
                sb_token_text (b, t->tok, sm_tokenizer_bos (t->tok), "<s>");
              sb_str (b, "[INST] ");
              {
                /* The whole trimmed, the contents' marks kept. */
                size_t lo, hi;

                trim_bounds (content.v, content.n, &lo, &hi);
                sb_sub (b, &content, lo, hi);
              }
              sb_str (b, " [/INST]");
              sb_free (&content);
            }
          else
            {
              sb_str (b, "[INST] ");
              if (first_user && system)
                {
                  sb_content (b, system);
                  sb_str (b, "\n\n");
                }
              sb_content (b, m[i].content);
              sb_str (b, t->mistral_inst_space ? " [/INST]" : "[/INST]");
            }
          first_user = false;
        }
      else if (m[i].role == SM_CHAT_ROLE_ASSISTANT)
        {
          if (llama2)
            {
              sb_str (b, " ");
              sb_content_trimmed (b, m[i].content);
              sb_str (b, " ");
              sb_token_text (b, t->tok, sm_tokenizer_eos (t->tok), "</s>");
            }
          else
            {
              sb_content (b, m[i].content);
              sb_token_text (b, t->tok, sm_tokenizer_eos (t->tok), "</s>");
              if (t->mistral_eos_space)
                sb_str (b, " ");
            }
        }
      /* A system message after the first is not part of these formats: left out. */
    }
}

static void
render_phi3 (const sm_chat_template *t, sbuf *b, const sm_chat_message *m, size_t n, bool gen)
{
  if (t->with_bos)
    sb_token_text (b, t->tok, sm_tokenizer_bos (t->tok), "<s>");
  for (size_t i = 0; i < n; i++)
    {
      switch (m[i].role)
        {
        case SM_CHAT_ROLE_SYSTEM:
          if (!t->phi3_system)
            break;  /* that template has no system turn */
          sb_str (b, "<|system|>\n");
          sb_content (b, m[i].content);
          sb_str (b, "<|end|>\n");
          break;
        case SM_CHAT_ROLE_USER:
          sb_str (b, "<|user|>\n");
          sb_content (b, m[i].content);
          sb_str (b, "<|end|>\n");
          if (t->phi3_inline_prompt)
            sb_str (b, "<|assistant|>\n");
          break;
        case SM_CHAT_ROLE_ASSISTANT:
          if (!t->phi3_inline_prompt)
            sb_str (b, "<|assistant|>\n");
          sb_content (b, m[i].content);
          sb_str (b, "<|end|>\n");
          break;
        }
    }
  if (!t->phi3_inline_prompt)
    {
      if (gen)
        sb_str (b, "<|assistant|>\n");
      else if (!t->fallback)
        sb_token_text (b, t->tok, sm_tokenizer_eos (t->tok), "<|endoftext|>");
    }
}

static sm_status
render (const sm_chat_template *t,
        const sm_chat_message  *messages,
        size_t                  n_messages,
        bool                    add_generation_prompt,
        sbuf                   *b,
        sm_error               *err)
{
  for (size_t i = 0; i < n_messages; i++)
    if (!messages[i].content)
      return sm_error_set (err, SM_ERR_INVALID_ARG, "message %zu has no content", i);
  sb_add (b, "", 0);
  switch (t->format)
    {
    case SM_CHAT_FORMAT_LLAMA3:
      render_llama3 (t, b, messages, n_messages, add_generation_prompt);
      break;
    case SM_CHAT_FORMAT_CHATML:
      render_chatml (t, b, messages, n_messages, add_generation_prompt);
      break;
    case SM_CHAT_FORMAT_LLAMA2:
      render_inst (t, b, messages, n_messages, true);
      break;
    case SM_CHAT_FORMAT_MISTRAL:
      render_inst (t, b, messages, n_messages, false);
      break;
    case SM_CHAT_FORMAT_PHI3:
      render_phi3 (t, b, messages, n_messages, add_generation_prompt);
      break;
    }
  if (b->failed)
    return sm_error_set (err, SM_ERR_NOMEM, "out of memory rendering the chat");
  return SM_OK;
}

sm_status
sm_chat_template_render (const sm_chat_template *t,
                         const sm_chat_message  *messages,
                         size_t                  n_messages,
                         bool                    add_generation_prompt,
                         char                  **out,
                         size_t                 *len,
                         sm_error               *err)
{
  sbuf b = { 0 };
  sm_status st;

  *out = NULL;
  st = render (t, messages, n_messages, add_generation_prompt, &b, err);
  free (b.ranges);
  if (st != SM_OK)
    {
      free (b.v);
      return st;
    }
  *out = b.v;
  if (len)
    *len = b.n;
  return SM_OK;
}

sm_status
sm_chat_template_render_ranges (const sm_chat_template *t,
                                const sm_chat_message  *messages,
                                size_t                  n_messages,
                                bool                    add_generation_prompt,
                                char                  **out,
                                size_t                 *len,
                                sm_text_range         **content,
                                size_t                 *n_content,
                                sm_error               *err)
{
  sbuf b = { 0 };
  sm_status st;

  *out = NULL;
  *content = NULL;
  *n_content = 0;
  st = render (t, messages, n_messages, add_generation_prompt, &b, err);
  if (st != SM_OK)
    {
      sb_free (&b);
      return st;
    }
  *out = b.v;
  if (len)
    *len = b.n;
  *content = b.ranges;
  *n_content = b.n_ranges;
  return SM_OK;
}

sm_status
sm_chat_template_tokenize (const sm_chat_template *t,
                           const sm_chat_message  *messages,
                           size_t                  n_messages,
                           bool                    add_generation_prompt,
                           sm_token              **ids,
                           size_t                 *n_ids,
                           sm_error               *err)
{
  sbuf b = { 0 };
  sm_status st;

  *ids = NULL;
  *n_ids = 0;
  st = render (t, messages, n_messages, add_generation_prompt, &b, err);
  if (st == SM_OK)
    st = sm_tokenizer_tokenize_plain_ranges (t->tok, b.v, b.n, false, b.ranges, b.n_ranges, ids,
                                             n_ids, err);
  sb_free (&b);
  return st;
}
