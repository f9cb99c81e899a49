/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-tokenizer.c: SPM and byte-level BPE tokenization, special-token splitting and
 * detokenization, following llama.cpp's llama-vocab.cpp / unicode.cpp behaviour (formats.md 11).
 *
 * Lookups are hash tables (token text -> id, merge pair -> rank) built once at load; the merge
 * loops use a binary heap, so tokenizing is O(n log n) in the length of a word. Not here: the
 * Unicode tables (sm-unicode.c) and chat formatting (sm-chat-template.c).
 */
#include "sm-tokenizer.h"
#include "sm-unicode.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Growable arrays
 */

typedef struct
{
  sm_token *v;
  size_t    n, cap;
} tok_vec;

static bool
tok_vec_push (tok_vec *a, sm_token t)
{
  if (a->n == a->cap)
    {
      size_t cap = a->cap ? a->cap * 2 : 64;
      sm_token *v = realloc (a->v, cap * sizeof *v);

      if (!v)
        return false;
      a->v = v;
      a->cap = cap;
    }
  a->v[a->n++] = t;
  return true;
}

typedef struct
{
  uint32_t *v; /* pairs: start, end (code point indices) */
  size_t    n, cap; /* n counts pairs */
} seg_vec;

static bool
seg_vec_push (seg_vec *a, uint32_t start, uint32_t end)
{
  if (a->n == a->cap)
    {
      size_t cap = a->cap ? a->cap * 2 : 64;
      uint32_t *v = realloc (a->v, cap * 2 * sizeof *v);

      if (!v)
        return false;
      a->v = v;
      a->cap = cap;
    }
  a->v[2 * a->n] = start;
  a->v[2 * a->n + 1] = end;
  a->n++;
  return true;
}

typedef struct
{
  char  *v;
  size_t n, cap;
} byte_vec;

static bool
byte_vec_append (byte_vec *a, const char *s, size_t len)
{
  if (a->n + len + 1 > a->cap)
    {
      size_t cap = a->cap ? a->cap : 256;
      char *v;

      while (cap < a->n + len + 1)
        cap *= 2;
      v = realloc (a->v, cap);
      if (!v)
        return false;
      a->v = v;
      a->cap = cap;
    }
  if (len > 0) /* s may be NULL for an empty append: memcpy must not see it */
    memcpy (a->v + a->n, s, len);
  a->n += len;
  a->v[a->n] = '\0';
  return true;
}

/* ---------------------------------------------------------------------------------------------
 * The tokenizer
 */

typedef enum
{
  PRE_DEFAULT,   /* punctuation runs, gpt-2 regex, number runs, ASCII digit triples */
  PRE_LLAMA3,    /* llama3 regex, numbers in groups of up to 3 */
  PRE_QWEN2,     /* llama3 regex with single digits */
  PRE_GPT2,      /* gpt-2 regex */
  PRE_STARCODER, /* single digits, then gpt-2 regex */
  PRE_FALCON,    /* punctuation runs (with `), gpt-2 regex, ASCII digit triples */
} pre_kind;

/* A hash table slot: the id (or merge rank) and the high half of its hash, compared before the
 * text so that probing rarely touches the strings. */
typedef struct
{
  int32_t  id;  /* -1 = empty */
  uint32_t tag; /* hash >> 32 */
} slot;

typedef struct
{
  uint32_t off;  /* into merge_arena: left bytes then right bytes */
  uint32_t llen; /* bytes */
  uint32_t rlen; /* bytes */
} merge_entry;

struct sm_tokenizer
{
  sm_vocab_type type;
  pre_kind      pre;
  char          pre_name[40];
  bool          ignore_merges;
  bool          add_bos, add_eos, add_space_prefix;

  uint32_t  n_tokens;
  char     *text_arena;  /* every token text, NUL-terminated, back to back */
  uint32_t *text_off;    /* (n_tokens) */
  uint32_t *text_len;    /* (n_tokens) bytes */
  float    *scores;      /* (n_tokens) */
  uint32_t *attr;        /* (n_tokens) SM_TOKEN_ATTR_* */

  slot     *token_slots; /* open addressing; (token_mask + 1) */
  uint64_t  token_mask;

  char        *merge_arena;
  merge_entry *merges;      /* (n_merges), rank = index */
  uint32_t     n_merges;
  slot        *merge_slots; /* open addressing, id = rank; (merge_mask + 1) */
  uint64_t     merge_mask;

  sm_token bos, eos, eot, eom, unk, pad, sep;
  sm_token byte_token[256]; /* SPM byte fallback */

  sm_token *special;        /* CONTROL/USER_DEFINED/UNKNOWN tokens, longest text first */
  uint32_t  n_special;
  sm_token *eog;            /* sorted */
  size_t    n_eog;

  char     *piece_arena;    /* token -> bytes with special = true */
  uint32_t *piece_off;      /* (n_tokens) */
  uint32_t *piece_len;      /* (n_tokens) */

  char gpt2_byte_utf8[256][3]; /* GPT-2 alphabet: byte -> UTF-8 (1 or 2 bytes), NUL-padded */
  uint8_t gpt2_byte_len[256];
};

/* FNV-1a: cheap, and good enough for token texts. */
static uint64_t
hash_bytes (uint64_t h, const char *s, size_t len)
{
  for (size_t i = 0; i < len; i++)
    {
      h ^= (uint8_t) s[i];
      h *= 0x100000001b3ull;
    }
  return h;
}

#define HASH_SEED 0xcbf29ce484222325ull

static uint64_t
hash_pair (const char *l, size_t llen, const char *r, size_t rlen)
{
  uint64_t h = hash_bytes (HASH_SEED, l, llen);

  /* Mix in the split point so "ab"+"c" and "a"+"bc" differ. */
  h ^= llen + 0x9e37;
  h *= 0x100000001b3ull;
  return hash_bytes (h, r, rlen);
}

static uint64_t
table_size_for (uint64_t n)
{
  uint64_t size = 16;

  while (size < n * 2)
    size *= 2;
  return size;
}

sm_token
sm_tokenizer_find (const sm_tokenizer *tok,
                   const char         *text,
                   size_t              len)
{
  uint64_t h = hash_bytes (HASH_SEED, text, len);
  uint32_t tag = (uint32_t) (h >> 32);

  for (uint64_t i = h & tok->token_mask;; i = (i + 1) & tok->token_mask)
    {
      int32_t id = tok->token_slots[i].id;

      if (id < 0)
        return SM_TOKEN_NULL;
      if (tok->token_slots[i].tag == tag && tok->text_len[id] == len
          && memcmp (tok->text_arena + tok->text_off[id], text, len) == 0)
        return id;
    }
}

/* Rank of the merge (left, right), or -1. */
static int32_t
find_merge (const sm_tokenizer *tok,
            const char *l, size_t llen,
            const char *r, size_t rlen)
{
  uint64_t h;
  uint32_t tag;

  if (!tok->merge_slots)
    return -1;
  h = hash_pair (l, llen, r, rlen);
  tag = (uint32_t) (h >> 32);
  for (uint64_t i = h & tok->merge_mask;; i = (i + 1) & tok->merge_mask)
    {
      int32_t rank = tok->merge_slots[i].id;
      const merge_entry *m;

      if (rank < 0)
        return -1;
      if (tok->merge_slots[i].tag != tag)
        continue;
      m = &tok->merges[rank];
      if (m->llen == llen && m->rlen == rlen
          && memcmp (tok->merge_arena + m->off, l, llen) == 0
          && memcmp (tok->merge_arena + m->off + llen, r, rlen) == 0)
        return rank;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Loading. A vocab_src reads the same facts from a GGUF or an sm_vocab_desc.
 */

typedef struct
{
  sm_vocab_desc d;       /* ids, flags, type; arrays unused for GGUF */
  size_t        pre_len;
  size_t        name_len;
  const void   *ctx;
  void  (*text) (const void *ctx, uint32_t i, const char **s, size_t *len);
  void  (*merge) (const void *ctx, uint32_t i, const char **s, size_t *len);
  float (*score) (const void *ctx, uint32_t i);  /* NULL = 0 */
  int32_t (*ttype) (const void *ctx, uint32_t i); /* NULL = NORMAL */
} vocab_src;

typedef struct
{
  const char *names;
  pre_kind    kind;
  bool        ignore_merges;
  bool        add_bos;
} pre_entry;

/* tokenizer.ggml.pre values llama.cpp knows, for the splitters implemented here. */
static const pre_entry pre_table[] = {
  { "|llama3|llama-v3|llama-bpe|falcon3|falcon-h1|pixtral|midm-2.0|lfm2|jina-v5-nano|",
    PRE_LLAMA3, true, true },
  { "|dbrx|smaug-bpe|", PRE_LLAMA3, false, false },
  { "|qwen2|deepseek-r1-qwen|kormo|f2llmv2|megrez|stablelm2|hunyuan|solar-open|", PRE_QWEN2,
    false, false },
  { "|gpt-2|phi-2|jina-es|jina-de|gigachat|jina-v2-es|jina-v2-de|a.x-4.0|mellum|modern-bert|"
    "jina-v1-en|jina-v2-code|roberta-bpe|mpt|olmo|jais|trillion|granite-docling|exaone4|",
    PRE_GPT2, false, false },
  { "|starcoder|refact|command-r|smollm|codeshell|exaone|minerva-7b|", PRE_STARCODER, false,
    false },
  { "|falcon|", PRE_FALCON, false, false },
  { "|default|", PRE_DEFAULT, false, false },
};

static const pre_entry *
find_pre (const char *name, size_t len)
{
  char key[40];

  if (len == 0 || len > sizeof key - 3 || memchr (name, '|', len))
    return NULL;
  key[0] = '|';
  memcpy (key + 1, name, len);
  key[len + 1] = '|';
  key[len + 2] = '\0';
  for (size_t i = 0; i < sizeof pre_table / sizeof pre_table[0]; i++)
    if (strstr (pre_table[i].names, key))
      return &pre_table[i];
  return NULL;
}

/* DeepSeek's "<｜end▁of▁sentence｜>" (octal escapes: hex ones would swallow the letters). */
#define DEEPSEEK_EOS "<\357\275\234end\342\226\201of\342\226\201sentence\357\275\234>"

/* Token texts llama.cpp treats as end of turn, in our order of preference for eot. */
static const char *const eot_texts[] = {
  "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
  "<EOT>", "_<EOT>", "[EOT]", DEEPSEEK_EOS,
  "<end_of_utterance>",
};

/* Texts that end generation (llama.cpp's special_eog_ids list). */
static const char *const eog_texts[] = {
  "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
  "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
  "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
  DEEPSEEK_EOS, "[e~[",
};


/* FIM token texts llama.cpp recognises: prefix, suffix, middle, pad, repo, file separator. */
static const char *const fim_pre_texts[] = {
  "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\357\275\234fim\342\226\201begin\357\275\234>",
  "<PRE>", "\342\226\201<PRE>", "<|code_prefix|>", "<|prefix|>", NULL };
static const char *const fim_suf_texts[] = {
  "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\357\275\234fim\342\226\201hole\357\275\234>",
  "<SUF>", "\342\226\201<SUF>", "<|code_suffix|>", "<|suffix|>", NULL };
static const char *const fim_mid_texts[] = {
  "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\357\275\234fim\342\226\201end\357\275\234>",
  "<MID>", "\342\226\201<MID>", "<|code_middle|>", "<|middle|>", NULL };
static const char *const fim_pad_texts[] = {
  "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL };
static const char *const fim_rep_texts[] = {
  "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", NULL };
static const char *const fim_sep_texts[] = { "<|file_sep|>", NULL };
static const char *const *const fim_texts[6] = {
  fim_pre_texts, fim_suf_texts, fim_mid_texts, fim_pad_texts, fim_rep_texts, fim_sep_texts };

static int
cmp_token (const void *a, const void *b)
{
  sm_token x = *(const sm_token *) a, y = *(const sm_token *) b;

  return (x > y) - (x < y);
}

static bool
eog_add (sm_tokenizer *tok, sm_token id)
{
  sm_token *v;

  if (id < 0 || (uint32_t) id >= tok->n_tokens)
    return true;
  for (size_t i = 0; i < tok->n_eog; i++)
    if (tok->eog[i] == id)
      return true;
  v = realloc (tok->eog, (tok->n_eog + 1) * sizeof *v);
  if (!v)
    return false;
  tok->eog = v;
  tok->eog[tok->n_eog++] = id;
  return true;
}

/* Detokenized bytes of one token, special = true (llama.cpp token_to_piece). */
static bool
make_piece (const sm_tokenizer *tok, sm_token id, byte_vec *out)
{
  const char *text = tok->text_arena + tok->text_off[id];
  size_t len = tok->text_len[id];
  uint32_t attr = tok->attr[id];

  if (attr & (SM_TOKEN_ATTR_UNKNOWN | SM_TOKEN_ATTR_CONTROL | SM_TOKEN_ATTR_USER_DEFINED))
    return byte_vec_append (out, text, len);
  if (attr & SM_TOKEN_ATTR_NORMAL)
    {
      if (tok->type == SM_VOCAB_SPM)
        {
          /* "▁" (E2 96 81) -> ' ' */
          for (size_t i = 0; i < len;)
            {
              if (i + 3 <= len && memcmp (text + i, "\xe2\x96\x81", 3) == 0)
                {
                  if (!byte_vec_append (out, " ", 1))
                    return false;
                  i += 3;
                }
              else
                {
                  if (!byte_vec_append (out, text + i, 1))
                    return false;
                  i++;
                }
            }
          return true;
        }
      for (size_t i = 0; i < len;)
        {
          uint32_t cpt = sm_utf8_decode (text, len, &i);
          int byte = sm_unicode_cpt_to_byte (cpt);

          if (byte >= 0)
            {
              char c = (char) byte;

              if (!byte_vec_append (out, &c, 1))
                return false;
            }
          else
            {
              /* Outside the GPT-2 alphabet: llama.cpp writes this marker. */
              char enc[4], hex[16];
              size_t n = sm_utf8_encode (cpt, enc);

              if (!byte_vec_append (out, "[UNK_BYTE_0x", 12))
                return false;
              for (size_t k = 0; k < n; k++)
                {
                  static const char digits[] = "0123456789abcdef";

                  hex[2 * k] = digits[(uint8_t) enc[k] >> 4];
                  hex[2 * k + 1] = digits[(uint8_t) enc[k] & 15];
                }
              if (!byte_vec_append (out, hex, 2 * n) || !byte_vec_append (out, text, len)
                  || !byte_vec_append (out, "]", 1))
                return false;
            }
        }
      return true;
    }
  if (attr & SM_TOKEN_ATTR_BYTE)
    {
      /* "<0xXX>" */
      char c = 0;

      if (len >= 5)
        {
          char hex[3] = { text[3], text[4], 0 };

          c = (char) strtol (hex, NULL, 16);
        }
      return byte_vec_append (out, &c, 1);
    }
  return true; /* UNUSED / UNDEFINED: nothing */
}

static bool
contains_ci (const char *s, size_t len, const char *needle)
{
  size_t n = strlen (needle);

  for (size_t i = 0; i + n <= len; i++)
    {
      size_t k = 0;

      while (k < n && tolower ((unsigned char) s[i + k]) == needle[k])
        k++;
      if (k == n)
        return true;
    }
  return false;
}

static sm_status
build (const vocab_src *src, sm_tokenizer **out, sm_error *err)
{
  const sm_vocab_desc *d = &src->d;
  sm_tokenizer *tok;
  size_t arena_size = 0;
  byte_vec pieces = { 0 };
  sm_status status = SM_ERR_NOMEM;

  *out = NULL;
  if (d->n_tokens == 0 || d->n_tokens > INT32_MAX / 2)
    return sm_error_set (err, SM_ERR_FORMAT, "tokenizer has %u tokens", d->n_tokens);

  tok = calloc (1, sizeof *tok);
  if (!tok)
    return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
  tok->type = d->type;
  tok->n_tokens = d->n_tokens;

  /* Vocabulary type defaults (llama.cpp llama_vocab::impl::load). */
  if (d->type == SM_VOCAB_SPM)
    {
      tok->pre = PRE_DEFAULT;
      strcpy (tok->pre_name, "default");
      tok->add_space_prefix = true;
      tok->add_bos = true;
      tok->bos = 1;
      tok->eos = 2;
      tok->unk = 0;
    }
  else if (d->type == SM_VOCAB_BPE)
    {
      const pre_entry *pe;

      if (d->pre == NULL)
        pe = &pre_table[sizeof pre_table / sizeof pre_table[0] - 1];
      else
        pe = find_pre (d->pre, src->pre_len);
      if (!pe)
        {
          status = sm_error_set (err, SM_ERR_UNSUPPORTED, "unknown pre-tokenizer type '%.*s'",
                                 (int) (src->pre_len > 64 ? 64 : src->pre_len), d->pre);
          goto fail;
        }
      tok->pre = pe->kind;
      tok->ignore_merges = pe->ignore_merges;
      tok->add_bos = pe->add_bos;
      if (d->pre)
        memcpy (tok->pre_name, d->pre, src->pre_len);
      else
        strcpy (tok->pre_name, "default");
      tok->bos = 11;
      tok->eos = 11;
      tok->unk = SM_TOKEN_NULL;
    }
  else
    {
      status = sm_error_set (err, SM_ERR_INVALID_ARG, "unknown vocabulary type %d", (int) d->type);
      goto fail;
    }
  tok->eot = tok->eom = tok->pad = tok->sep = SM_TOKEN_NULL;
  if (d->add_space_prefix >= 0)
    tok->add_space_prefix = d->add_space_prefix;

  /* Token texts. */
  for (uint32_t i = 0; i < d->n_tokens; i++)
    {
      const char *s;
      size_t len;

      src->text (src->ctx, i, &s, &len);
      arena_size += (len ? len : 24) + 1;
      if (arena_size > UINT32_MAX)
        {
          status = sm_error_set (err, SM_ERR_FORMAT, "token texts too large");
          goto fail;
        }
    }
  tok->text_arena = malloc (arena_size);
  tok->text_off = malloc (d->n_tokens * sizeof (uint32_t));
  tok->text_len = malloc (d->n_tokens * sizeof (uint32_t));
  tok->scores = malloc (d->n_tokens * sizeof (float));
  tok->attr = malloc (d->n_tokens * sizeof (uint32_t));
  tok->token_mask = table_size_for (d->n_tokens) - 1;
  tok->token_slots = malloc ((tok->token_mask + 1) * sizeof (slot));
  if (!tok->text_arena || !tok->text_off || !tok->text_len || !tok->scores || !tok->attr
      || !tok->token_slots)
    goto nomem;
  memset (tok->token_slots, 0xff, (tok->token_mask + 1) * sizeof (slot));

  {
    uint32_t off = 0;

    for (uint32_t i = 0; i < d->n_tokens; i++)
      {
        const char *s;
        size_t len;
        int32_t tt = src->ttype ? src->ttype (src->ctx, i) : SM_TOKEN_TYPE_NORMAL;
        uint64_t h, full;

        src->text (src->ctx, i, &s, &len);
        tok->text_off[i] = off;
        if (len == 0)
          {
            /* llama.cpp names empty tokens so that they never match. */
            len = (size_t) snprintf (tok->text_arena + off, 24, "[EMPTY_%u]", i);
          }
        else
          memcpy (tok->text_arena + off, s, len);
        tok->text_arena[off + len] = '\0';
        tok->text_len[i] = (uint32_t) len;
        off += (uint32_t) len + 1;
        tok->scores[i] = src->score ? src->score (src->ctx, i) : 0.0f;
        switch (tt)
          {
          case SM_TOKEN_TYPE_NORMAL: tok->attr[i] = SM_TOKEN_ATTR_NORMAL; break;
          case SM_TOKEN_TYPE_UNKNOWN: tok->attr[i] = SM_TOKEN_ATTR_UNKNOWN; break;
          case SM_TOKEN_TYPE_CONTROL: tok->attr[i] = SM_TOKEN_ATTR_CONTROL; break;
          case SM_TOKEN_TYPE_USER_DEFINED: tok->attr[i] = SM_TOKEN_ATTR_USER_DEFINED; break;
          case SM_TOKEN_TYPE_UNUSED: tok->attr[i] = SM_TOKEN_ATTR_UNUSED; break;
          case SM_TOKEN_TYPE_BYTE: tok->attr[i] = SM_TOKEN_ATTR_BYTE; break;
          default: tok->attr[i] = SM_TOKEN_ATTR_UNDEFINED; break;
          }

        /* A repeated text maps to its last id (older llama.cpp behaviour). */
        full = hash_bytes (HASH_SEED, tok->text_arena + tok->text_off[i], len);
        for (h = full & tok->token_mask;; h = (h + 1) & tok->token_mask)
          {
            int32_t id = tok->token_slots[h].id;

            if (id < 0 || (tok->token_slots[h].tag == (uint32_t) (full >> 32)
                           && tok->text_len[id] == len
                           && memcmp (tok->text_arena + tok->text_off[id],
                                      tok->text_arena + tok->text_off[i], len) == 0))
              {
                tok->token_slots[h].id = (int32_t) i;
                tok->token_slots[h].tag = (uint32_t) (full >> 32);
                break;
              }
          }
      }
  }

  /* BPE merges: "left right", split at the first space after the first byte. */
  if (d->type == SM_VOCAB_BPE)
    {
      size_t msize = 0;
      uint32_t off = 0;

      if (src->d.n_merges == 0)
        {
          status = sm_error_set (err, SM_ERR_FORMAT, "cannot find tokenizer merges");
          goto fail;
        }
      for (uint32_t i = 0; i < d->n_merges; i++)
        {
          const char *s;
          size_t len;

          src->merge (src->ctx, i, &s, &len);
          msize += len;
          if (msize > UINT32_MAX)
            {
              status = sm_error_set (err, SM_ERR_FORMAT, "merges too large");
              goto fail;
            }
        }
      tok->merge_arena = malloc (msize + 1);
      tok->merges = malloc (d->n_merges * sizeof *tok->merges);
      tok->merge_mask = table_size_for (d->n_merges) - 1;
      tok->merge_slots = malloc ((tok->merge_mask + 1) * sizeof (slot));
      if (!tok->merge_arena || !tok->merges || !tok->merge_slots)
        goto nomem;
      memset (tok->merge_slots, 0xff, (tok->merge_mask + 1) * sizeof (slot));
      for (uint32_t i = 0; i < d->n_merges; i++)
        {
          const char *s, *sp;
          size_t len, llen, rlen;
          uint64_t h, full;
          merge_entry *m = &tok->merges[tok->n_merges];

          src->merge (src->ctx, i, &s, &len);
          sp = len > 1 ? memchr (s + 1, ' ', len - 1) : NULL;
          if (!sp)
            continue; /* never matches (llama.cpp stores an empty pair) */
          llen = (size_t) (sp - s);
          rlen = len - llen - 1;
          /* The first occurrence of a pair keeps its rank. */
          if (find_merge (tok, s, llen, sp + 1, rlen) >= 0)
            continue;
          m->off = off;
          m->llen = (uint32_t) llen;
          m->rlen = (uint32_t) rlen;
          memcpy (tok->merge_arena + off, s, llen);
          memcpy (tok->merge_arena + off + llen, sp + 1, rlen);
          off += (uint32_t) (llen + rlen);
          /* Ranks are indices into tok->merges, which keeps the file order (the rank order). */
          full = hash_pair (s, llen, sp + 1, rlen);
          h = full & tok->merge_mask;
          while (tok->merge_slots[h].id >= 0)
            h = (h + 1) & tok->merge_mask;
          tok->merge_slots[h].id = (int32_t) tok->n_merges;
          tok->merge_slots[h].tag = (uint32_t) (full >> 32);
          tok->n_merges++;
        }
    }

  /* Special ids: a default out of range is dropped; a key out of range keeps the default. */
  {
    sm_token *ids[] = { &tok->bos, &tok->eos, &tok->eot, &tok->eom,
                        &tok->unk, &tok->pad, &tok->sep };
    sm_token keys[] = { d->bos, d->eos, d->eot, d->eom, d->unk, d->pad, d->sep };

    for (size_t k = 0; k < sizeof ids / sizeof ids[0]; k++)
      {
        if (*ids[k] >= 0 && (uint32_t) *ids[k] >= tok->n_tokens)
          *ids[k] = SM_TOKEN_NULL;
        if (keys[k] >= 0 && (uint32_t) keys[k] < tok->n_tokens)
          *ids[k] = keys[k];
      }
  }
  if (d->add_bos >= 0)
    tok->add_bos = d->add_bos;
  if (d->add_eos >= 0)
    tok->add_eos = d->add_eos;
  if ((tok->add_bos && tok->bos == SM_TOKEN_NULL) || (tok->add_eos && tok->eos == SM_TOKEN_NULL))
    {
      status = sm_error_set (err, SM_ERR_FORMAT, "add_bos/add_eos set but the token id is missing");
      goto fail;
    }

  /* Guess eot/eom from texts; such tokens always act as control tokens. */
  if (tok->eot == SM_TOKEN_NULL)
    for (size_t k = 0; k < sizeof eot_texts / sizeof eot_texts[0] && tok->eot < 0; k++)
      tok->eot = sm_tokenizer_find (tok, eot_texts[k], strlen (eot_texts[k]));
  if (tok->eot >= 0)
    tok->attr[tok->eot] |= SM_TOKEN_ATTR_CONTROL;
  if (tok->eom == SM_TOKEN_NULL)
    tok->eom = sm_tokenizer_find (tok, "<|eom_id|>", 10);
  if (tok->eom >= 0)
    tok->attr[tok->eom] |= SM_TOKEN_ATTR_CONTROL;

  /* FIM tokens: ids from their keys, else guessed from texts; guessed ones act as control
   * tokens, and pad/repo/file-separator end generation (llama.cpp). */
  for (int k = 0; k < 6; k++)
    {
      const sm_token fim_keys[6] = { d->fim_pre, d->fim_suf, d->fim_mid,
                                     d->fim_pad, d->fim_rep, d->fim_sep };
      sm_token id = fim_keys[k];

      if (id < 0 || (uint32_t) id >= tok->n_tokens)
        {
          id = SM_TOKEN_NULL;
          for (const char *const *t = fim_texts[k]; *t && id < 0; t++)
            id = sm_tokenizer_find (tok, *t, strlen (*t));
          if (id >= 0)
            tok->attr[id] |= SM_TOKEN_ATTR_CONTROL;
        }
      if (k >= 3 && id >= 0 && !eog_add (tok, id))
        goto nomem;
    }

  /* Control tokens named "unused" are unused. */
  for (uint32_t i = 0; i < tok->n_tokens; i++)
    if ((tok->attr[i] & SM_TOKEN_ATTR_CONTROL)
        && strstr (tok->text_arena + tok->text_off[i], "unused"))
      tok->attr[i] |= SM_TOKEN_ATTR_UNUSED;

  for (size_t k = 0; k < sizeof eog_texts / sizeof eog_texts[0]; k++)
    {
      sm_token id = sm_tokenizer_find (tok, eog_texts[k], strlen (eog_texts[k]));

      if (id >= 0)
        {
          if (!eog_add (tok, id))
            goto nomem;
          tok->attr[id] |= SM_TOKEN_ATTR_CONTROL;
        }
    }
  if (!eog_add (tok, tok->eos) || !eog_add (tok, tok->eot) || !eog_add (tok, tok->eom))
    goto nomem;
  if (tok->n_eog > 1)
    qsort (tok->eog, tok->n_eog, sizeof *tok->eog, cmp_token);

  /* Special-token cache, longest text first (ties: lower id first, a stable order). */
  tok->special = malloc (tok->n_tokens * sizeof *tok->special);
  if (!tok->special)
    goto nomem;
  for (uint32_t i = 0; i < tok->n_tokens; i++)
    if (tok->attr[i] & (SM_TOKEN_ATTR_CONTROL | SM_TOKEN_ATTR_USER_DEFINED | SM_TOKEN_ATTR_UNKNOWN))
      tok->special[tok->n_special++] = (sm_token) i;
  for (uint32_t i = 1; i < tok->n_special; i++)
    {
      /* Insertion sort is fine for the few hundred special tokens vocabularies have. */
      sm_token t = tok->special[i];
      uint32_t j = i;

      while (j > 0 && tok->text_len[tok->special[j - 1]] < tok->text_len[t])
        {
          tok->special[j] = tok->special[j - 1];
          j--;
        }
      tok->special[j] = t;
    }

  /* Per-model quirk kept from llama.cpp: Phi-3 special tokens eat the spaces after them. */
  if (src->d.model_name && (contains_ci (src->d.model_name, src->name_len, "phi-3")
                            || contains_ci (src->d.model_name, src->name_len, "phi3")))
    {
      sm_token id;

      for (uint32_t i = 0; i < tok->n_special; i++)
        tok->attr[tok->special[i]] |= SM_TOKEN_ATTR_RSTRIP;
      if ((id = sm_tokenizer_find (tok, "</s>", 4)) >= 0)
        tok->attr[id] |= SM_TOKEN_ATTR_RSTRIP;
      if ((id = sm_tokenizer_find (tok, "<unk>", 5)) >= 0)
        tok->attr[id] &= ~(uint32_t) SM_TOKEN_ATTR_RSTRIP;
      if ((id = sm_tokenizer_find (tok, "<s>", 3)) >= 0)
        tok->attr[id] &= ~(uint32_t) SM_TOKEN_ATTR_RSTRIP;
      if ((id = sm_tokenizer_find (tok, "<|endoftext|>", 13)) >= 0)
        tok->attr[id] &= ~(uint32_t) SM_TOKEN_ATTR_RSTRIP;
    }

  /* SPM byte fallback tokens. */
  for (int b = 0; b < 256; b++)
    {
      char buf[8];
      sm_token id;

      snprintf (buf, sizeof buf, "<0x%02X>", b);
      id = sm_tokenizer_find (tok, buf, 6);
      if (id < 0)
        {
          buf[0] = (char) b;
          id = sm_tokenizer_find (tok, buf, 1);
        }
      tok->byte_token[b] = id;
    }

  for (int b = 0; b < 256; b++)
    tok->gpt2_byte_len[b] = (uint8_t) sm_utf8_encode (sm_unicode_byte_to_cpt ((uint8_t) b),
                                                      tok->gpt2_byte_utf8[b]);

  /* Piece cache. */
  tok->piece_off = malloc (tok->n_tokens * sizeof (uint32_t));
  tok->piece_len = malloc (tok->n_tokens * sizeof (uint32_t));
  if (!tok->piece_off || !tok->piece_len)
    goto nomem;
  for (uint32_t i = 0; i < tok->n_tokens; i++)
    {
      size_t before = pieces.n;

      if (!make_piece (tok, (sm_token) i, &pieces))
        goto nomem;
      if (pieces.n > UINT32_MAX)
        {
          status = sm_error_set (err, SM_ERR_FORMAT, "token texts too large");
          goto fail;
        }
      tok->piece_off[i] = (uint32_t) before;
      tok->piece_len[i] = (uint32_t) (pieces.n - before);
    }
  if (!byte_vec_append (&pieces, "", 0))
    goto nomem;
  tok->piece_arena = pieces.v;
  pieces.v = NULL;

  *out = tok;
  return SM_OK;

nomem:
  status = sm_error_set (err, SM_ERR_NOMEM, "out of memory loading the tokenizer");
fail:
  free (pieces.v);
  sm_tokenizer_free (tok);
  return status;
}

void
sm_tokenizer_free (sm_tokenizer *tok)
{
  if (!tok)
    return;
  free (tok->text_arena);
  free (tok->text_off);
  free (tok->text_len);
  free (tok->scores);
  free (tok->attr);
  free (tok->token_slots);
  free (tok->merge_arena);
  free (tok->merges);
  free (tok->merge_slots);
  free (tok->special);
  free (tok->eog);
  free (tok->piece_arena);
  free (tok->piece_off);
  free (tok->piece_len);
  free (tok);
}

/* ---- from an sm_vocab_desc ---- */

static void
desc_text (const void *ctx, uint32_t i, const char **s, size_t *len)
{
  const sm_vocab_desc *d = ctx;

  *s = d->texts[i] ? d->texts[i] : "";
  *len = strlen (*s);
}

static void
desc_merge (const void *ctx, uint32_t i, const char **s, size_t *len)
{
  const sm_vocab_desc *d = ctx;

  *s = d->merges[i] ? d->merges[i] : "";
  *len = strlen (*s);
}

static float
desc_score (const void *ctx, uint32_t i)
{
  return ((const sm_vocab_desc *) ctx)->scores[i];
}

static int32_t
desc_ttype (const void *ctx, uint32_t i)
{
  return ((const sm_vocab_desc *) ctx)->types[i];
}

sm_vocab_desc
sm_vocab_desc_default (void)
{
  sm_vocab_desc d;

  memset (&d, 0, sizeof d);
  d.type = SM_VOCAB_SPM;
  d.bos = d.eos = d.eot = d.eom = d.unk = d.pad = d.sep = SM_TOKEN_NULL;
  d.fim_pre = d.fim_suf = d.fim_mid = d.fim_pad = d.fim_rep = d.fim_sep = SM_TOKEN_NULL;
  d.add_bos = d.add_eos = d.add_space_prefix = -1;
  return d;
}

sm_status
sm_tokenizer_new (const sm_vocab_desc *desc,
                  sm_tokenizer       **out,
                  sm_error            *err)
{
  vocab_src src;

  *out = NULL;
  if (!desc || !desc->texts || (desc->n_merges && !desc->merges))
    return sm_error_set (err, SM_ERR_INVALID_ARG, "incomplete vocabulary description");
  memset (&src, 0, sizeof src);
  src.d = *desc;
  src.pre_len = desc->pre ? strlen (desc->pre) : 0;
  src.name_len = desc->model_name ? strlen (desc->model_name) : 0;
  src.ctx = desc;
  src.text = desc_text;
  src.merge = desc_merge;
  src.score = desc->scores ? desc_score : NULL;
  src.ttype = desc->types ? desc_ttype : NULL;
  return build (&src, out, err);
}

/* ---- from a GGUF ---- */

typedef struct
{
  const sm_gguf *g;
  int64_t        tokens, merges, scores, types;
  bool           scores_int;
} gguf_ctx;

static void
gguf_text (const void *ctx, uint32_t i, const char **s, size_t *len)
{
  const gguf_ctx *c = ctx;
  sm_gguf_str str = sm_gguf_get_arr_str (c->g, c->tokens, i);

  *s = str.ptr;
  *len = (size_t) str.len;
}

static void
gguf_merge (const void *ctx, uint32_t i, const char **s, size_t *len)
{
  const gguf_ctx *c = ctx;
  sm_gguf_str str = sm_gguf_get_arr_str (c->g, c->merges, i);

  *s = str.ptr;
  *len = (size_t) str.len;
}

static float
gguf_score (const void *ctx, uint32_t i)
{
  const gguf_ctx *c = ctx;
  const char *data = sm_gguf_get_arr_data (c->g, c->scores);

  if (c->scores_int)
    {
      int32_t v;

      memcpy (&v, data + 4 * (size_t) i, 4);
      return (float) v;
    }
  else
    {
      float v;

      memcpy (&v, data + 4 * (size_t) i, 4);
      return v;
    }
}

static int32_t
gguf_ttype (const void *ctx, uint32_t i)
{
  const gguf_ctx *c = ctx;
  const char *data = sm_gguf_get_arr_data (c->g, c->types);
  int32_t v;

  memcpy (&v, data + 4 * (size_t) i, 4);
  return v;
}

static bool
gguf_flag (const sm_gguf *g, const char *key, int *out)
{
  bool b;

  if (sm_gguf_find_bool (g, key, &b))
    {
      *out = b;
      return true;
    }
  *out = -1;
  return false;
}

static void
gguf_id (const sm_gguf *g, const char *key, sm_token *out)
{
  uint64_t v;

  *out = SM_TOKEN_NULL;
  if (sm_gguf_find_uint (g, key, &v) && v < INT32_MAX)
    *out = (sm_token) v;
}

sm_status
sm_tokenizer_load (const sm_gguf  *g,
                   sm_tokenizer  **out,
                   sm_error       *err)
{
  vocab_src src;
  gguf_ctx c;
  sm_gguf_str model, pre, name;

  *out = NULL;
  memset (&src, 0, sizeof src);
  memset (&c, 0, sizeof c);
  src.d = sm_vocab_desc_default ();
  c.g = g;

  if (!sm_gguf_find_str (g, "tokenizer.ggml.model", &model))
    return sm_error_set (err, SM_ERR_NOT_FOUND, "no tokenizer in this file (tokenizer.ggml.model)");
  if (model.len == 5 && memcmp (model.ptr, "llama", 5) == 0)
    src.d.type = SM_VOCAB_SPM;
  else if (model.len == 4 && memcmp (model.ptr, "gpt2", 4) == 0)
    src.d.type = SM_VOCAB_BPE;
  else
    return sm_error_set (err, SM_ERR_UNSUPPORTED, "tokenizer model '%.*s' is not supported",
                         (int) (model.len > 64 ? 64 : model.len), model.ptr);

  if (sm_gguf_find_str (g, "tokenizer.ggml.pre", &pre))
    {
      src.d.pre = pre.ptr;
      src.pre_len = (size_t) pre.len;
    }
  if (sm_gguf_find_str (g, "general.name", &name))
    {
      src.d.model_name = name.ptr;
      src.name_len = (size_t) name.len;
    }

  c.tokens = sm_gguf_find_key (g, "tokenizer.ggml.tokens");
  if (c.tokens < 0)
    return sm_error_set (err, SM_ERR_NOT_FOUND, "cannot find tokenizer.ggml.tokens");
  if (sm_gguf_get_kv_type (g, c.tokens) != SM_GGUF_TYPE_ARRAY
      || sm_gguf_get_arr_type (g, c.tokens) != SM_GGUF_TYPE_STRING)
    return sm_error_set (err, SM_ERR_FORMAT, "tokenizer.ggml.tokens is not an array of strings");
  if (sm_gguf_get_arr_n (g, c.tokens) > INT32_MAX / 2)
    return sm_error_set (err, SM_ERR_FORMAT, "tokenizer.ggml.tokens is too long");
  src.d.n_tokens = (uint32_t) sm_gguf_get_arr_n (g, c.tokens);

  c.scores = sm_gguf_find_key (g, "tokenizer.ggml.scores");
  if (c.scores >= 0)
    {
      sm_gguf_type t = sm_gguf_get_kv_type (g, c.scores) == SM_GGUF_TYPE_ARRAY
                         ? sm_gguf_get_arr_type (g, c.scores) : SM_GGUF_TYPE_COUNT;

      if (t != SM_GGUF_TYPE_FLOAT32 && t != SM_GGUF_TYPE_INT32)
        return sm_error_set (err, SM_ERR_FORMAT, "tokenizer.ggml.scores has the wrong type");
      if (sm_gguf_get_arr_n (g, c.scores) < src.d.n_tokens)
        return sm_error_set (err, SM_ERR_FORMAT,
                             "tokenizer.ggml.scores is shorter than the vocabulary");
      c.scores_int = t == SM_GGUF_TYPE_INT32;
      src.score = gguf_score;
    }
  c.types = sm_gguf_find_key (g, "tokenizer.ggml.token_type");
  if (c.types >= 0)
    {
      if (sm_gguf_get_kv_type (g, c.types) != SM_GGUF_TYPE_ARRAY
          || sm_gguf_get_arr_type (g, c.types) != SM_GGUF_TYPE_INT32)
        return sm_error_set (err, SM_ERR_FORMAT, "tokenizer.ggml.token_type has the wrong type");
      if (sm_gguf_get_arr_n (g, c.types) < src.d.n_tokens)
        return sm_error_set (err, SM_ERR_FORMAT,
                             "tokenizer.ggml.token_type is shorter than the vocabulary");
      src.ttype = gguf_ttype;
    }
  if (src.d.type == SM_VOCAB_BPE)
    {
      c.merges = sm_gguf_find_key (g, "tokenizer.ggml.merges");
      if (c.merges < 0)
        return sm_error_set (err, SM_ERR_FORMAT, "cannot find tokenizer.ggml.merges");
      if (sm_gguf_get_kv_type (g, c.merges) != SM_GGUF_TYPE_ARRAY
          || sm_gguf_get_arr_type (g, c.merges) != SM_GGUF_TYPE_STRING)
        return sm_error_set (err, SM_ERR_FORMAT,
                             "tokenizer.ggml.merges is not an array of strings");
      if (sm_gguf_get_arr_n (g, c.merges) > INT32_MAX / 4)
        return sm_error_set (err, SM_ERR_FORMAT, "tokenizer.ggml.merges is too long");
      src.d.n_merges = (uint32_t) sm_gguf_get_arr_n (g, c.merges);
    }

  gguf_id (g, "tokenizer.ggml.bos_token_id", &src.d.bos);
  gguf_id (g, "tokenizer.ggml.eos_token_id", &src.d.eos);
  gguf_id (g, "tokenizer.ggml.eot_token_id", &src.d.eot);
  gguf_id (g, "tokenizer.ggml.eom_token_id", &src.d.eom);
  gguf_id (g, "tokenizer.ggml.unknown_token_id", &src.d.unk);
  gguf_id (g, "tokenizer.ggml.padding_token_id", &src.d.pad);
  gguf_id (g, "tokenizer.ggml.seperator_token_id", &src.d.sep);
  gguf_id (g, "tokenizer.ggml.fim_pre_token_id", &src.d.fim_pre);
  gguf_id (g, "tokenizer.ggml.fim_suf_token_id", &src.d.fim_suf);
  gguf_id (g, "tokenizer.ggml.fim_mid_token_id", &src.d.fim_mid);
  gguf_id (g, "tokenizer.ggml.fim_pad_token_id", &src.d.fim_pad);
  gguf_id (g, "tokenizer.ggml.fim_rep_token_id", &src.d.fim_rep);
  gguf_id (g, "tokenizer.ggml.fim_sep_token_id", &src.d.fim_sep);
  gguf_flag (g, "tokenizer.ggml.add_bos_token", &src.d.add_bos);
  gguf_flag (g, "tokenizer.ggml.add_eos_token", &src.d.add_eos);
  gguf_flag (g, "tokenizer.ggml.add_space_prefix", &src.d.add_space_prefix);

  src.ctx = &c;
  src.text = gguf_text;
  src.merge = gguf_merge;
  return build (&src, out, err);
}

/* ---------------------------------------------------------------------------------------------
 * Accessors
 */

sm_vocab_type
sm_tokenizer_get_type (const sm_tokenizer *tok)
{
  return tok->type;
}

const char *
sm_tokenizer_get_pre (const sm_tokenizer *tok)
{
  return tok->pre_name;
}

uint32_t
sm_tokenizer_n_tokens (const sm_tokenizer *tok)
{
  return tok->n_tokens;
}

sm_token
sm_tokenizer_bos (const sm_tokenizer *tok)
{
  return tok->bos;
}

sm_token
sm_tokenizer_eos (const sm_tokenizer *tok)
{
  return tok->eos;
}

sm_token
sm_tokenizer_eot (const sm_tokenizer *tok)
{
  return tok->eot;
}

sm_token
sm_tokenizer_unk (const sm_tokenizer *tok)
{
  return tok->unk;
}

sm_token
sm_tokenizer_pad (const sm_tokenizer *tok)
{
  return tok->pad;
}

bool
sm_tokenizer_get_add_bos (const sm_tokenizer *tok)
{
  return tok->add_bos;
}

bool
sm_tokenizer_get_add_eos (const sm_tokenizer *tok)
{
  return tok->add_eos;
}

bool
sm_tokenizer_is_eog (const sm_tokenizer *tok,
                     sm_token            id)
{
  return id >= 0 && tok->n_eog > 0
         && bsearch (&id, tok->eog, tok->n_eog, sizeof id, cmp_token) != NULL;
}

const sm_token *
sm_tokenizer_get_eog (const sm_tokenizer *tok,
                      size_t             *n)
{
  *n = tok->n_eog;
  return tok->eog;
}

uint32_t
sm_tokenizer_get_attr (const sm_tokenizer *tok,
                       sm_token            id)
{
  return id >= 0 && (uint32_t) id < tok->n_tokens ? tok->attr[id] : 0;
}

const char *
sm_tokenizer_get_text (const sm_tokenizer *tok,
                       sm_token            id,
                       size_t             *len)
{
  if (id < 0 || (uint32_t) id >= tok->n_tokens)
    return NULL;
  if (len)
    *len = tok->text_len[id];
  return tok->text_arena + tok->text_off[id];
}

/* ---------------------------------------------------------------------------------------------
 * Merge machinery shared by SPM and BPE: symbols in a linked list, candidate pairs in a heap.
 */

typedef struct
{
  uint32_t start; /* byte offset of the symbol's text */
  uint32_t n;     /* bytes; 0 once merged into its left neighbour */
  int32_t  prev, next;
} symbol;

typedef struct
{
  int32_t  left, right;
  double   prio;  /* higher first: SPM score, BPE -rank */
  uint32_t size;  /* bytes of the pair when it was found */
} bigram;

typedef struct
{
  bigram *v;
  size_t  n, cap;
} bigram_heap;

static bool
bigram_before (const bigram *a, const bigram *b)
{
  return a->prio > b->prio || (a->prio == b->prio && a->left < b->left);
}

static bool
heap_push (bigram_heap *h, bigram b)
{
  size_t i;

  if (h->n == h->cap)
    {
      size_t cap = h->cap ? h->cap * 2 : 64;
      bigram *v = realloc (h->v, cap * sizeof *v);

      if (!v)
        return false;
      h->v = v;
      h->cap = cap;
    }
  i = h->n++;
  while (i > 0 && bigram_before (&b, &h->v[(i - 1) / 2]))
    {
      h->v[i] = h->v[(i - 1) / 2];
      i = (i - 1) / 2;
    }
  h->v[i] = b;
  return true;
}

static bigram
heap_pop (bigram_heap *h)
{
  bigram top = h->v[0], last = h->v[--h->n];
  size_t i = 0;

  for (;;)
    {
      size_t c = 2 * i + 1;

      if (c >= h->n)
        break;
      if (c + 1 < h->n && bigram_before (&h->v[c + 1], &h->v[c]))
        c++;
      if (!bigram_before (&h->v[c], &last))
        break;
      h->v[i] = h->v[c];
      i = c;
    }
  if (h->n)
    h->v[i] = last;
  return top;
}

typedef struct
{
  symbol     *sym;
  size_t      n_sym, cap_sym;
  bigram_heap heap;
  byte_vec    buf;     /* SPM escaped text / BPE encoded word */
  uint32_t   *cpts;    /* pre-split scratch */
  uint32_t   *flags;
  uint32_t   *cpt_off; /* byte offset of each code point, plus the end */
  size_t      cap_cpts;
  seg_vec     seg_a, seg_b;
} scratch;

static void
scratch_free (scratch *s)
{
  free (s->sym);
  free (s->heap.v);
  free (s->buf.v);
  free (s->cpts);
  free (s->flags);
  free (s->cpt_off);
  free (s->seg_a.v);
  free (s->seg_b.v);
}

/* Splits s->buf into one symbol per UTF-8 character (llama.cpp's lead-byte rule). */
static bool
make_symbols (scratch *s, size_t from, size_t to)
{
  size_t need = to - from;

  s->n_sym = 0;
  if (need > s->cap_sym)
    {
      symbol *v = realloc (s->sym, need * sizeof *v);

      if (!v)
        return false;
      s->sym = v;
      s->cap_sym = need;
    }
  for (size_t off = from; off < to;)
    {
      size_t n = sm_utf8_seq_len ((uint8_t) s->buf.v[off]);
      symbol *y = &s->sym[s->n_sym];

      if (n > to - off)
        n = to - off;
      y->start = (uint32_t) off;
      y->n = (uint32_t) n;
      y->prev = (int32_t) s->n_sym - 1;
      off += n;
      y->next = off == to ? -1 : (int32_t) s->n_sym + 1;
      s->n_sym++;
    }
  return true;
}

static void
merge_pair (scratch *s, const bigram *b)
{
  symbol *l = &s->sym[b->left], *r = &s->sym[b->right];

  l->n += r->n;
  r->n = 0;
  l->next = r->next;
  if (r->next >= 0)
    s->sym[r->next].prev = b->left;
}

/* ---------------------------------------------------------------------------------------------
 * SPM
 */

static bool
spm_try_pair (const sm_tokenizer *tok, scratch *s, int32_t left, int32_t right)
{
  const char *text;
  size_t len;
  sm_token id;
  bigram b;

  if (left < 0 || right < 0)
    return true;
  text = s->buf.v + s->sym[left].start;
  len = s->sym[left].n + s->sym[right].n;
  id = sm_tokenizer_find (tok, text, len);
  if (id < 0)
    return true;
  b.left = left;
  b.right = right;
  b.prio = tok->scores[id];
  b.size = (uint32_t) len;
  return heap_push (&s->heap, b);
}

/* text: a raw fragment; prefix: add the leading space. */
static bool
spm_tokenize (const sm_tokenizer *tok, scratch *s, const char *text, size_t len, bool prefix,
              tok_vec *out)
{
  s->buf.n = 0;
  if (prefix && !byte_vec_append (&s->buf, "\xe2\x96\x81", 3))
    return false;
  for (size_t i = 0; i < len; i++)
    {
      bool ok = text[i] == ' ' ? byte_vec_append (&s->buf, "\xe2\x96\x81", 3)
                               : byte_vec_append (&s->buf, text + i, 1);
      if (!ok)
        return false;
    }
  if (s->buf.n == 0)
    return true;
  if (!make_symbols (s, 0, s->buf.n))
    return false;
  s->heap.n = 0;
  for (size_t i = 1; i < s->n_sym; i++)
    if (!spm_try_pair (tok, s, (int32_t) i - 1, (int32_t) i))
      return false;
  while (s->heap.n)
    {
      bigram b = heap_pop (&s->heap);
      symbol *l = &s->sym[b.left], *r = &s->sym[b.right];

      if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
        continue;
      merge_pair (s, &b);
      if (!spm_try_pair (tok, s, s->sym[b.left].prev, b.left)
          || !spm_try_pair (tok, s, b.left, s->sym[b.left].next))
        return false;
    }
  /* Every merged symbol is a token; a single character that is not one falls back to bytes
   * (llama.cpp's resegment reduces to this, since merges only ever form tokens). */
  for (int32_t i = 0; i != -1; i = s->sym[i].next)
    {
      const symbol *y = &s->sym[i];
      sm_token id = sm_tokenizer_find (tok, s->buf.v + y->start, y->n);

      if (id >= 0)
        {
          if (!tok_vec_push (out, id))
            return false;
          continue;
        }
      for (uint32_t k = 0; k < y->n; k++)
        {
          sm_token b = tok->byte_token[(uint8_t) s->buf.v[y->start + k]];

          if (b < 0)
            b = tok->unk;
          if (b >= 0 && !tok_vec_push (out, b))
            return false;
        }
    }
  return true;
}

/* ---------------------------------------------------------------------------------------------
 * BPE pre-tokenizers: hand-written matchers equal to llama.cpp's regexes. Each pass turns the
 * segments in `in` (code point ranges) into finer segments in `out`.
 */

#define F_WS SM_UNICODE_WHITESPACE
#define F_L  SM_UNICODE_LETTER
#define F_N  SM_UNICODE_NUMBER
#define F_P  SM_UNICODE_PUNCTUATION

typedef struct
{
  const uint32_t *cpts;
  const uint32_t *flags;
  uint32_t        a, b;     /* current segment */
  uint32_t        prev_end;
  seg_vec        *out;
  bool            ok;
} splitter;

static uint32_t
sp_cpt (const splitter *sp, uint32_t pos)
{
  return pos >= sp->a && pos < sp->b ? sp->cpts[pos] : UINT32_MAX;
}

static uint32_t
sp_flags (const splitter *sp, uint32_t pos)
{
  return pos >= sp->a && pos < sp->b ? sp->flags[pos] : 0;
}

static void
sp_emit (splitter *sp, uint32_t end)
{
  if (end > sp->prev_end && !seg_vec_push (sp->out, sp->prev_end, end))
    sp->ok = false;
  sp->prev_end = end;
}

static uint32_t
ascii_lower (uint32_t c)
{
  return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* 's 't 're 've 'm 'll 'd at pos: length of the match or 0. */
static uint32_t
match_contraction (const splitter *sp, uint32_t pos, bool any_case)
{
  uint32_t c1, c2;

  if (sp_cpt (sp, pos) != '\'' || pos + 1 >= sp->b)
    return 0;
  c1 = sp_cpt (sp, pos + 1);
  if (any_case)
    c1 = ascii_lower (c1);
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd')
    return 2;
  if (pos + 2 >= sp->b)
    return 0;
  c2 = sp_cpt (sp, pos + 2);
  if (any_case)
    c2 = ascii_lower (c2);
  if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
    return 3;
  return 0;
}

/* Trailing whitespace rule shared by the regexes: \s+(?!\S) then \s+. */
static void
split_whitespace_tail (splitter *sp, uint32_t *pos, uint32_t n_ws)
{
  if (n_ws > 1 && *pos + n_ws < sp->b)
    *pos += n_ws - 1;  /* leave the last space to the word after it */
  else if (n_ws > 0)
    *pos += n_ws;
  else
    *pos += 1;         /* nothing matched: one character alone */
  sp_emit (sp, *pos);
}

/* (?:'[sS]|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 * \s*[\r\n]+|\s+(?!\S)|\s+   (llama3 with max_digits 3, qwen2 with 1) */
static void
split_llama3 (splitter *sp, uint32_t max_digits)
{
  uint32_t pos = sp->a;

  while (pos < sp->b)
    {
      uint32_t c = sp_cpt (sp, pos), f = sp_flags (sp, pos), f2, n, n_ws = 0;
      bool has_nl = false;
      uint32_t nl_end = 0;

      if ((n = match_contraction (sp, pos, true)))
        {
          pos += n;
          sp_emit (sp, pos);
          continue;
        }
      if (!(c == '\r' || c == '\n' || (f & F_N)) && ((f & F_L) || (sp_flags (sp, pos + 1) & F_L)))
        {
          pos++;
          while (sp_flags (sp, pos) & F_L)
            pos++;
          sp_emit (sp, pos);
          continue;
        }
      if (f & F_N)
        {
          uint32_t run = 0;

          while (sp_flags (sp, pos) & F_N)
            {
              pos++;
              if (++run == max_digits)
                {
                  sp_emit (sp, pos);
                  run = 0;
                }
            }
          sp_emit (sp, pos);
          continue;
        }
      f2 = c == ' ' ? sp_flags (sp, pos + 1) : f;
      if (!(f2 & (F_WS | F_L | F_N)) && f)
        {
          pos += c == ' ';
          f2 = sp_flags (sp, pos);
          while (f2 && !(f2 & (F_WS | F_L | F_N)))
            f2 = sp_flags (sp, ++pos);
          while (sp_cpt (sp, pos) == '\r' || sp_cpt (sp, pos) == '\n')
            pos++;
          sp_emit (sp, pos);
          continue;
        }
      while (sp_flags (sp, pos + n_ws) & F_WS)
        {
          uint32_t w = sp_cpt (sp, pos + n_ws);

          if (w == '\r' || w == '\n')
            {
              has_nl = true;
              nl_end = pos + n_ws + 1;
            }
          n_ws++;
        }
      if (has_nl)
        {
          pos = nl_end;  /* \s*[\r\n]+ ends after the last line break */
          sp_emit (sp, pos);
          continue;
        }
      split_whitespace_tail (sp, &pos, n_ws);
    }
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static void
split_gpt2 (splitter *sp)
{
  uint32_t pos = sp->a;

  while (pos < sp->b)
    {
      uint32_t c = sp_cpt (sp, pos), f = sp_flags (sp, pos), f2, n, n_ws = 0;

      if ((n = match_contraction (sp, pos, false)))
        {
          pos += n;
          sp_emit (sp, pos);
          continue;
        }
      f2 = c == ' ' ? sp_flags (sp, pos + 1) : f;
      if (f2 & (F_L | F_N))
        {
          uint32_t cls = f2 & F_L ? F_L : F_N;

          pos += c == ' ';
          while (sp_flags (sp, pos) & cls)
            pos++;
          sp_emit (sp, pos);
          continue;
        }
      if (!(f2 & (F_WS | F_L | F_N)) && f2)
        {
          pos += c == ' ';
          while (sp_flags (sp, pos) && !(sp_flags (sp, pos) & (F_WS | F_L | F_N)))
            pos++;
          sp_emit (sp, pos);
          continue;
        }
      while (sp_flags (sp, pos + n_ws) & F_WS)
        n_ws++;
      split_whitespace_tail (sp, &pos, n_ws);
    }
}

typedef enum
{
  CLASS_PUNCT,        /* [\p{P}\$\+<=>\^~\|]+ */
  CLASS_PUNCT_TICK,   /* [\p{P}\$\+<=>\^~\|`]+ */
  CLASS_NUMBER_RUN,   /* \p{N}+ */
  CLASS_NUMBER_ONE,   /* \p{N} */
  CLASS_ASCII_DIGIT3, /* [0-9][0-9][0-9] */
} class_pass;

static bool
in_class (class_pass k, uint32_t c, uint32_t f)
{
  switch (k)
    {
    case CLASS_PUNCT:
    case CLASS_PUNCT_TICK:
      if (f & F_WS)
        return false;
      if (f & F_P)
        return true;
      return (c < 128 && strchr ("$+<=>^~|", (int) c) && c != 0)
             || (k == CLASS_PUNCT_TICK && c == '`');
    case CLASS_NUMBER_RUN:
    case CLASS_NUMBER_ONE:
      return (f & F_N) && !(f & F_WS);
    case CLASS_ASCII_DIGIT3:
      return c >= '0' && c <= '9';
    }
  return false;
}

/* A one-class regex applied like std::regex_iterator: matches and the gaps between them both
 * become segments. */
static void
split_class (splitter *sp, class_pass k)
{
  uint32_t pos = sp->a;

  while (pos < sp->b)
    {
      uint32_t run = 0;

      while (pos + run < sp->b && in_class (k, sp->cpts[pos + run], sp->flags[pos + run]))
        run++;
      if (k == CLASS_NUMBER_ONE && run > 1)
        run = 1;
      if (k == CLASS_ASCII_DIGIT3)
        run = run >= 3 ? 3 : 0;
      if (run == 0)
        {
          pos++;
          continue;
        }
      sp_emit (sp, pos);       /* the gap before the match */
      pos += run;
      sp_emit (sp, pos);       /* the match */
    }
  sp_emit (sp, sp->b);
}

typedef enum
{
  PASS_LLAMA3,
  PASS_QWEN2,
  PASS_GPT2,
  PASS_PUNCT,
  PASS_PUNCT_TICK,
  PASS_NUMBER_RUN,
  PASS_NUMBER_ONE,
  PASS_DIGIT3,
  PASS_END,
} pass_kind;

static const pass_kind *
passes_for (pre_kind k)
{
  static const pass_kind p_default[] = { PASS_PUNCT, PASS_GPT2, PASS_NUMBER_RUN, PASS_DIGIT3,
                                         PASS_END };
  static const pass_kind p_llama3[] = { PASS_LLAMA3, PASS_END };
  static const pass_kind p_qwen2[] = { PASS_QWEN2, PASS_END };
  static const pass_kind p_gpt2[] = { PASS_GPT2, PASS_END };
  static const pass_kind p_starcoder[] = { PASS_NUMBER_ONE, PASS_GPT2, PASS_END };
  static const pass_kind p_falcon[] = { PASS_PUNCT_TICK, PASS_GPT2, PASS_DIGIT3, PASS_END };

  switch (k)
    {
    case PRE_LLAMA3: return p_llama3;
    case PRE_QWEN2: return p_qwen2;
    case PRE_GPT2: return p_gpt2;
    case PRE_STARCODER: return p_starcoder;
    case PRE_FALCON: return p_falcon;
    case PRE_DEFAULT: break;
    }
  return p_default;
}

/* Decodes text into s->cpts/flags/cpt_off and splits it into words (s->seg_a). */
static bool
pre_split (const sm_tokenizer *tok, scratch *s, const char *text, size_t len, size_t *n_cpts)
{
  size_t n = 0;
  seg_vec *in = &s->seg_a, *out = &s->seg_b;

  if (len + 1 > s->cap_cpts)
    {
      free (s->cpts);
      free (s->flags);
      free (s->cpt_off);
      s->cpts = malloc (len * sizeof *s->cpts + 4);
      s->flags = malloc (len * sizeof *s->flags + 4);
      s->cpt_off = malloc ((len + 1) * sizeof *s->cpt_off);
      s->cap_cpts = s->cpts && s->flags && s->cpt_off ? len + 1 : 0;
      if (!s->cap_cpts)
        return false;
    }
  for (size_t i = 0; i < len;)
    {
      s->cpt_off[n] = (uint32_t) i;
      s->cpts[n] = sm_utf8_decode (text, len, &i);
      s->flags[n] = sm_unicode_flags (s->cpts[n]);
      n++;
    }
  s->cpt_off[n] = (uint32_t) len;
  *n_cpts = n;

  in->n = 0;
  if (n && !seg_vec_push (in, 0, (uint32_t) n))
    return false;
  for (const pass_kind *p = passes_for (tok->pre); *p != PASS_END; p++)
    {
      splitter sp = { s->cpts, s->flags, 0, 0, 0, out, true };
      seg_vec *t;

      out->n = 0;
      for (size_t i = 0; i < in->n; i++)
        {
          sp.a = sp.prev_end = in->v[2 * i];
          sp.b = in->v[2 * i + 1];
          switch (*p)
            {
            case PASS_LLAMA3: split_llama3 (&sp, 3); break;
            case PASS_QWEN2: split_llama3 (&sp, 1); break;
            case PASS_GPT2: split_gpt2 (&sp); break;
            case PASS_PUNCT: split_class (&sp, CLASS_PUNCT); break;
            case PASS_PUNCT_TICK: split_class (&sp, CLASS_PUNCT_TICK); break;
            case PASS_NUMBER_RUN: split_class (&sp, CLASS_NUMBER_RUN); break;
            case PASS_NUMBER_ONE: split_class (&sp, CLASS_NUMBER_ONE); break;
            case PASS_DIGIT3: split_class (&sp, CLASS_ASCII_DIGIT3); break;
            case PASS_END: break;
            }
          if (!sp.ok)
            return false;
        }
      t = in;
      in = out;
      out = t;
    }
  if (in != &s->seg_a)
    {
      seg_vec t = s->seg_a;

      s->seg_a = s->seg_b;
      s->seg_b = t;
    }
  return true;
}

/* ---------------------------------------------------------------------------------------------
 * BPE
 */

static bool
bpe_try_pair (const sm_tokenizer *tok, scratch *s, int32_t left, int32_t right)
{
  const symbol *l, *r;
  int32_t rank;
  bigram b;

  if (left < 0 || right < 0)
    return true;
  l = &s->sym[left];
  r = &s->sym[right];
  rank = find_merge (tok, s->buf.v + l->start, l->n, s->buf.v + r->start, r->n);
  if (rank < 0)
    return true;
  b.left = left;
  b.right = right;
  b.prio = -(double) rank;
  b.size = l->n + r->n;
  return heap_push (&s->heap, b);
}

static bool
bpe_word (const sm_tokenizer *tok, scratch *s, size_t from, size_t to, tok_vec *out)
{
  sm_token whole;

  if (from == to)
    return true;
  if (tok->ignore_merges
      && (whole = sm_tokenizer_find (tok, s->buf.v + from, to - from)) >= 0)
    return tok_vec_push (out, whole);
  if (!make_symbols (s, from, to))
    return false;
  s->heap.n = 0;
  for (size_t i = 1; i < s->n_sym; i++)
    if (!bpe_try_pair (tok, s, (int32_t) i - 1, (int32_t) i))
      return false;
  while (s->heap.n)
    {
      bigram b = heap_pop (&s->heap);
      symbol *l = &s->sym[b.left], *r = &s->sym[b.right];

      if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
        continue;
      merge_pair (s, &b);
      if (!bpe_try_pair (tok, s, s->sym[b.left].prev, b.left)
          || !bpe_try_pair (tok, s, b.left, s->sym[b.left].next))
        return false;
    }
  for (int32_t i = 0; i != -1; i = s->sym[i].next)
    {
      const symbol *y = &s->sym[i];
      sm_token id = sm_tokenizer_find (tok, s->buf.v + y->start, y->n);

      if (id >= 0)
        {
          if (!tok_vec_push (out, id))
            return false;
          continue;
        }
      /* Not a token: llama.cpp looks each byte up as a one-byte token and drops the rest. */
      for (uint32_t k = 0; k < y->n; k++)
        {
          sm_token b = sm_tokenizer_find (tok, s->buf.v + y->start + k, 1);

          if (b >= 0 && !tok_vec_push (out, b))
            return false;
        }
    }
  return true;
}

static bool
bpe_tokenize (const sm_tokenizer *tok, scratch *s, const char *text, size_t len, tok_vec *out)
{
  size_t n_cpts;

  if (!pre_split (tok, s, text, len, &n_cpts))
    return false;
  for (size_t w = 0; w < s->seg_a.n; w++)
    {
      uint32_t a = s->seg_a.v[2 * w], b = s->seg_a.v[2 * w + 1];

      /* Re-encode the word's code points (invalid input became U+FFFD) in the GPT-2 alphabet. */
      s->buf.n = 0;
      for (uint32_t k = a; k < b; k++)
        {
          char enc[4];
          size_t n = sm_utf8_encode (s->cpts[k], enc);

          for (size_t j = 0; j < n; j++)
            {
              uint8_t byte = (uint8_t) enc[j];

              if (!byte_vec_append (&s->buf, tok->gpt2_byte_utf8[byte], tok->gpt2_byte_len[byte]))
                return false;
            }
        }
      if (!bpe_word (tok, s, 0, s->buf.n, out))
        return false;
    }
  return true;
}

/* ---------------------------------------------------------------------------------------------
 * Special-token partition and the public tokenize
 */

typedef struct
{
  sm_token token; /* SM_TOKEN_NULL for raw text */
  size_t   off, len;
} fragment;

typedef struct
{
  fragment *v;
  size_t    n, cap;
} frag_vec;

static bool
frag_push (frag_vec *a, sm_token t, size_t off, size_t len)
{
  if (a->n == a->cap)
    {
      size_t cap = a->cap ? a->cap * 2 : 16;
      fragment *v = realloc (a->v, cap * sizeof *v);

      if (!v)
        return false;
      a->v = v;
      a->cap = cap;
    }
  a->v[a->n].token = t;
  a->v[a->n].off = off;
  a->v[a->n].len = len;
  a->n++;
  return true;
}

/* Whether text[pos .. pos + n) shares a byte with one of the plain ranges (sorted by offset,
 * not overlapping). */
static bool
overlaps_plain (const sm_text_range *plain, size_t n_plain, size_t pos, size_t n)
{
  size_t lo = 0, hi = n_plain;

  /* The first range that ends after pos. */
  while (lo < hi)
    {
      size_t mid = lo + (hi - lo) / 2;

      if (plain[mid].off + plain[mid].len <= pos)
        lo = mid + 1;
      else
        hi = mid;
    }
  for (size_t i = lo; i < n_plain && plain[i].off < pos + n; i++)
    if (plain[i].len > 0 && plain[i].off + plain[i].len > pos)
      return true;
  return false;
}

/* The first occurrence of st[0 .. sl) in text[off .. off + len), skipping those that touch a
 * plain range when plain_check. */
static const char *
find_special (const char *text, size_t off, size_t len, const char *st, size_t sl,
              bool plain_check, const sm_text_range *plain, size_t n_plain)
{
  size_t from = off, end = off + len;

  while (from < end)
    {
      const char *m = memmem (text + from, end - from, st, sl);

      if (!m || !plain_check || !overlaps_plain (plain, n_plain, (size_t) (m - text), sl))
        return m;
      from = (size_t) (m - text) + 1;
    }
  return NULL;
}

/* plain (n_plain ranges, may be NULL): CONTROL and UNKNOWN token texts are not matched where
 * they touch one of these ranges. */
static bool
partition (const sm_tokenizer *tok, const char *text, size_t len, bool parse_special,
           const sm_text_range *plain, size_t n_plain, frag_vec *frags)
{
  frag_vec next = { 0 };

  frags->n = 0;
  if (len == 0)
    return true;
  if (!frag_push (frags, SM_TOKEN_NULL, 0, len))
    return false;
  for (uint32_t si = 0; si < tok->n_special; si++)
    {
      sm_token id = tok->special[si];
      uint32_t attr = tok->attr[id];
      const char *st = tok->text_arena + tok->text_off[id];
      size_t sl = tok->text_len[id];
      bool changed = false;
      bool plain_check = n_plain > 0 && (attr & (SM_TOKEN_ATTR_CONTROL | SM_TOKEN_ATTR_UNKNOWN));

      if (!parse_special && (attr & (SM_TOKEN_ATTR_CONTROL | SM_TOKEN_ATTR_UNKNOWN)))
        continue;
      next.n = 0;
      for (size_t f = 0; f < frags->n; f++)
        {
          fragment fr = frags->v[f];

          if (fr.token != SM_TOKEN_NULL)
            {
              if (!frag_push (&next, fr.token, 0, 0))
                goto nomem;
              continue;
            }
          while (fr.len > 0)
            {
              const char *m = find_special (text, fr.off, fr.len, st, sl, plain_check, plain,
                                            n_plain);
              size_t left_len, right_off, right_len;

              if (!m)
                {
                  if (!frag_push (&next, SM_TOKEN_NULL, fr.off, fr.len))
                    goto nomem;
                  break;
                }
              changed = true;
              left_len = (size_t) (m - (text + fr.off));
              if (attr & SM_TOKEN_ATTR_LSTRIP)
                while (left_len > 0 && isspace ((unsigned char) text[fr.off + left_len - 1]))
                  left_len--;
              if (left_len > 0 && !frag_push (&next, SM_TOKEN_NULL, fr.off, left_len))
                goto nomem;
              if (!frag_push (&next, id, 0, 0))
                goto nomem;
              right_off = (size_t) (m - text) + sl;
              right_len = fr.off + fr.len - right_off;
              if (attr & SM_TOKEN_ATTR_RSTRIP)
                while (right_len > 0 && isspace ((unsigned char) text[right_off]))
                  {
                    right_off++;
                    right_len--;
                  }
              fr.off = right_off;
              fr.len = right_len;
            }
        }
      if (changed)
        {
          frag_vec t = *frags;

          *frags = next;
          next = t;
        }
    }
  free (next.v);
  return true;

nomem:
  free (next.v);
  return false;
}

static sm_status
tokenize (const sm_tokenizer  *tok,
          const char          *text,
          size_t               len,
          bool                 add_special,
          bool                 parse_special,
          const sm_text_range *plain,
          size_t               n_plain,
          sm_token           **ids,
          size_t              *n_ids,
          sm_error            *err)
{
  tok_vec out = { 0 };
  frag_vec frags = { 0 };
  scratch s;
  bool prev_special = true; /* SPM: the first fragment gets the space prefix */

  memset (&s, 0, sizeof s);
  *ids = NULL;
  *n_ids = 0;
  if (!partition (tok, text, len, parse_special, plain, n_plain, &frags))
    goto nomem;
  if (add_special && tok->add_bos && !tok_vec_push (&out, tok->bos))
    goto nomem;
  for (size_t f = 0; f < frags.n; f++)
    {
      const fragment *fr = &frags.v[f];
      bool ok;

      if (fr->token != SM_TOKEN_NULL)
        {
          if (!tok_vec_push (&out, fr->token))
            goto nomem;
          prev_special = true;
          continue;
        }
      if (tok->type == SM_VOCAB_SPM)
        ok = spm_tokenize (tok, &s, text + fr->off, fr->len,
                           tok->add_space_prefix && prev_special, &out);
      else
        ok = bpe_tokenize (tok, &s, text + fr->off, fr->len, &out);
      if (!ok)
        goto nomem;
      prev_special = false;
    }
  if (add_special && tok->add_eos && !tok_vec_push (&out, tok->eos))
    goto nomem;
  scratch_free (&s);
  free (frags.v);
  *ids = out.v;
  *n_ids = out.n;
  return SM_OK;

nomem:
  scratch_free (&s);
  free (frags.v);
  free (out.v);
  return sm_error_set (err, SM_ERR_NOMEM, "out of memory while tokenizing");
}

sm_status
sm_tokenizer_tokenize (const sm_tokenizer *tok,
                       const char         *text,
                       size_t              len,
                       bool                add_special,
                       bool                parse_special,
                       sm_token          **ids,
                       size_t             *n_ids,
                       sm_error           *err)
{
  return tokenize (tok, text, len, add_special, parse_special, NULL, 0, ids, n_ids, err);
}

sm_status
sm_tokenizer_tokenize_plain_ranges (const sm_tokenizer  *tok,
                                    const char          *text,
                                    size_t               len,
                                    bool                 add_special,
                                    const sm_text_range *plain,
                                    size_t               n_plain,
                                    sm_token           **ids,
                                    size_t              *n_ids,
                                    sm_error            *err)
{
  for (size_t i = 0; i < n_plain; i++)
    if (plain[i].off > len || plain[i].len > len - plain[i].off
        || (i > 0 && plain[i].off < plain[i - 1].off + plain[i - 1].len))
      {
        *ids = NULL;
        *n_ids = 0;
        return sm_error_set (err, SM_ERR_INVALID_ARG,
                             "plain range %zu is outside the text or out of order", i);
      }
  return tokenize (tok, text, len, add_special, true, plain, n_plain, ids, n_ids, err);
}

/* ---------------------------------------------------------------------------------------------
 * Detokenize
 */

const char *
sm_tokenizer_get_piece (const sm_tokenizer *tok,
                        sm_token            id,
                        bool                special,
                        size_t             *len)
{
  if (id < 0 || (uint32_t) id >= tok->n_tokens
      || (!special && (tok->attr[id] & (SM_TOKEN_ATTR_CONTROL | SM_TOKEN_ATTR_UNKNOWN))))
    {
      *len = 0;
      return "";
    }
  *len = tok->piece_len[id];
  return tok->piece_arena + tok->piece_off[id];
}

struct sm_detokenizer
{
  const sm_tokenizer *tok;
  bool                special;
  bool                strip_leading_space;
  bool                started;   /* something was emitted (or the strip was applied) */
  byte_vec            pending;   /* bytes not handed out yet */
  byte_vec            ready;     /* the last result */
};

sm_detokenizer *
sm_detokenizer_new (const sm_tokenizer *tok,
                    bool                special,
                    bool                strip_leading_space)
{
  sm_detokenizer *d = calloc (1, sizeof *d);

  if (!d)
    return NULL;
  d->tok = tok;
  d->special = special;
  d->strip_leading_space = strip_leading_space;
  return d;
}

void
sm_detokenizer_free (sm_detokenizer *d)
{
  if (!d)
    return;
  free (d->pending.v);
  free (d->ready.v);
  free (d);
}

/* Moves the first n pending bytes to ready. */
static bool
detok_take (sm_detokenizer *d, size_t n)
{
  d->ready.n = 0;
  if (n && !d->started && d->strip_leading_space && d->pending.v[0] == ' ')
    {
      memmove (d->pending.v, d->pending.v + 1, d->pending.n - 1);
      d->pending.n--;
      n--;
    }
  if (n)
    d->started = true;
  if (!byte_vec_append (&d->ready, n ? d->pending.v : "", n))
    return false;
  if (n)
    {
      memmove (d->pending.v, d->pending.v + n, d->pending.n - n);
      d->pending.n -= n;
    }
  return true;
}

const char *
sm_detokenizer_push (sm_detokenizer *d,
                     sm_token        id,
                     size_t         *len)
{
  size_t plen, hold;
  const char *piece = sm_tokenizer_get_piece (d->tok, id, d->special, &plen);

  *len = 0;
  if (!byte_vec_append (&d->pending, piece, plen))
    return NULL;
  hold = sm_utf8_incomplete_tail (d->pending.v, d->pending.n);
  if (!detok_take (d, d->pending.n - hold))
    return NULL;
  *len = d->ready.n;
  return d->ready.v ? d->ready.v : "";
}

const char *
sm_detokenizer_flush (sm_detokenizer *d,
                      size_t         *len)
{
  size_t hold = sm_utf8_incomplete_tail (d->pending.v, d->pending.n);

  *len = 0;
  if (hold)
    {
      /* An unfinished character at the end of the stream: U+FFFD instead of its bytes. */
      d->pending.n -= hold;
      if (!byte_vec_append (&d->pending, "\xef\xbf\xbd", 3))
        return NULL;
    }
  if (!detok_take (d, d->pending.n))
    return NULL;
  d->started = false;
  *len = d->ready.n;
  return d->ready.v ? d->ready.v : "";
}

char *
sm_tokenizer_detokenize (const sm_tokenizer *tok,
                         const sm_token     *ids,
                         size_t              n_ids,
                         bool                special,
                         size_t             *len)
{
  sm_detokenizer *d = sm_detokenizer_new (tok, special, false);
  byte_vec out = { 0 };
  const char *p;
  size_t n;

  if (!d || !byte_vec_append (&out, "", 0))
    goto fail;
  for (size_t i = 0; i < n_ids; i++)
    {
      if (!(p = sm_detokenizer_push (d, ids[i], &n)) || !byte_vec_append (&out, p, n))
        goto fail;
    }
  if (!(p = sm_detokenizer_flush (d, &n)) || !byte_vec_append (&out, p, n))
    goto fail;
  sm_detokenizer_free (d);
  if (len)
    *len = out.n;
  return out.v;

fail:
  sm_detokenizer_free (d);
  free (out.v);
  return NULL;
}
