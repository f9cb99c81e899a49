/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-tokenizer.h: text <-> token ids for llama-family GGUF models, bit-compatible with llama.cpp
 * (docs: formats.md sections 8 and 11).
 *
 * Supported vocabularies:
 *   - SPM ("llama": Llama 1/2, Mistral v0.1-0.3, TinyLlama, Phi-3): score-ordered merges over
 *     UTF-8 characters, "▁" for spaces, optional space prefix, byte fallback to <0xXX> tokens.
 *   - byte-level BPE ("gpt2": Llama 3.x, Qwen2/2.5, GPT-2 ...): regex-style pre-split, GPT-2
 *     byte alphabet, rank-ordered merges. Pre-tokenizers (tokenizer.ggml.pre):
 *       llama3 family  llama3 llama-v3 llama-bpe falcon3 falcon-h1 pixtral midm-2.0 lfm2
 *                      jina-v5-nano (also dbrx smaug-bpe, without ignore_merges)
 *       qwen2 family   qwen2 deepseek-r1-qwen kormo f2llmv2 megrez stablelm2 hunyuan solar-open
 *       gpt-2 family   gpt-2 phi-2 mpt olmo jais trillion exaone4 roberta-bpe ...
 *       starcoder      starcoder refact command-r smollm codeshell exaone minerva-7b
 *       falcon         falcon
 *       default        "default" or key absent
 *     Any other pre-tokenizer name is refused (SM_ERR_UNSUPPORTED), as llama.cpp refuses it.
 * Other tokenizer models (bert, t5, rwkv, ...) are refused with SM_ERR_UNSUPPORTED.
 *
 * Special tokens: text is first split on the text of CONTROL, USER_DEFINED and UNKNOWN tokens
 * (longest first). USER_DEFINED tokens are always matched; CONTROL/UNKNOWN ones only when the
 * caller asks for parse_special. End-of-generation tokens are found by id keys and by their
 * text (<|eot_id|>, <|im_end|>, <|endoftext|>, </s> ...), as llama.cpp guesses them.
 *
 * Threading: an sm_tokenizer is immutable after load; any number of threads may tokenize and
 * detokenize with it at once. An sm_detokenizer belongs to one thread at a time.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "sm-common.h"
#include "sm-gguf.h"

typedef int32_t sm_token;
#define SM_TOKEN_NULL (-1)

typedef enum
{
  SM_VOCAB_SPM = 1, /* tokenizer.ggml.model "llama" */
  SM_VOCAB_BPE = 2, /* tokenizer.ggml.model "gpt2" */
} sm_vocab_type;

/* tokenizer.ggml.token_type values (as stored in GGUF). */
typedef enum
{
  SM_TOKEN_TYPE_UNDEFINED = 0,
  SM_TOKEN_TYPE_NORMAL = 1,
  SM_TOKEN_TYPE_UNKNOWN = 2,
  SM_TOKEN_TYPE_CONTROL = 3,
  SM_TOKEN_TYPE_USER_DEFINED = 4,
  SM_TOKEN_TYPE_UNUSED = 5,
  SM_TOKEN_TYPE_BYTE = 6,
} sm_token_type;

/* Attribute bits of a loaded token (llama.cpp's llama_token_attr values). A token type maps to
 * one bit; loading may add CONTROL to tokens whose text marks an end of turn, UNUSED to control
 * tokens named "*unused*", and RSTRIP/LSTRIP for the few models llama.cpp special-cases. */
enum
{
  SM_TOKEN_ATTR_UNDEFINED = 0,
  SM_TOKEN_ATTR_UNKNOWN = 1 << 0,
  SM_TOKEN_ATTR_UNUSED = 1 << 1,
  SM_TOKEN_ATTR_NORMAL = 1 << 2,
  SM_TOKEN_ATTR_CONTROL = 1 << 3,
  SM_TOKEN_ATTR_USER_DEFINED = 1 << 4,
  SM_TOKEN_ATTR_BYTE = 1 << 5,
  SM_TOKEN_ATTR_LSTRIP = 1 << 7, /* eat ASCII spaces before the token when splitting */
  SM_TOKEN_ATTR_RSTRIP = 1 << 8, /* eat ASCII spaces after it */
};

typedef struct sm_tokenizer sm_tokenizer;

/* An in-memory vocabulary, the same facts a GGUF carries under tokenizer.ggml.* (for tests and
 * for tools that build vocabularies). Arrays are read during sm_tokenizer_new only. */
typedef struct
{
  sm_vocab_type      type;
  const char        *pre;        /* tokenizer.ggml.pre; NULL = absent ("default") */
  const char        *model_name; /* general.name or NULL (selects llama.cpp's per-model quirks) */
  uint32_t           n_tokens;
  const char *const *texts;      /* (n_tokens) NUL-terminated token texts */
  const float       *scores;     /* (n_tokens) or NULL = all 0 (SPM merge priorities) */
  const int32_t     *types;      /* (n_tokens) sm_token_type, or NULL = all NORMAL */
  uint32_t           n_merges;
  const char *const *merges;     /* (n_merges) "left right", rank = index (BPE only) */
  /* Special ids; SM_TOKEN_NULL = key absent (then llama.cpp's defaults apply: SPM bos 1,
   * eos 2, unk 0; BPE bos = eos = 11; eot/eom guessed from token texts). */
  sm_token bos, eos, eot, eom, unk, pad, sep;
  sm_token fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep; /* fill-in-the-middle */
  /* Flags: -1 = key absent (default for the vocabulary type), 0 = false, 1 = true. */
  int add_bos, add_eos, add_space_prefix;
} sm_vocab_desc;

/* An sm_vocab_desc with every id SM_TOKEN_NULL and every flag -1. */
sm_vocab_desc sm_vocab_desc_default (void);

/* Builds a tokenizer from an in-memory description. Fails with SM_ERR_INVALID_ARG (bad arrays,
 * a BPE vocabulary without merges) or SM_ERR_UNSUPPORTED (unknown pre-tokenizer). */
sm_status sm_tokenizer_new (const sm_vocab_desc *desc,
                            sm_tokenizer       **out,
                            sm_error            *err);

/* Builds a tokenizer from a GGUF's tokenizer.* metadata (the file may be vocabulary-only). The
 * tokenizer copies what it needs: g may be freed afterwards. Fails with SM_ERR_NOT_FOUND (no
 * tokenizer.ggml.model/tokens), SM_ERR_FORMAT (keys of the wrong type or length, merges missing
 * for gpt2) or SM_ERR_UNSUPPORTED (other tokenizer models, unknown pre-tokenizers). */
sm_status sm_tokenizer_load (const sm_gguf  *g,
                             sm_tokenizer  **out,
                             sm_error       *err);

/* Frees; NULL is accepted. */
void sm_tokenizer_free (sm_tokenizer *tok);

/* ---- Vocabulary facts ---- */

sm_vocab_type sm_tokenizer_get_type (const sm_tokenizer *tok);
const char   *sm_tokenizer_get_pre (const sm_tokenizer *tok);      /* "llama3", "qwen2", ... */
uint32_t      sm_tokenizer_n_tokens (const sm_tokenizer *tok);

/* Special ids, SM_TOKEN_NULL when the vocabulary has none. eot is the end-of-turn token a chat
 * stops on (tokenizer.ggml.eot_token_id, else guessed from the texts <|eot_id|>, <|im_end|>,
 * <|end|>, <end_of_turn>, <|endoftext|> ... in that order of preference). */
sm_token sm_tokenizer_bos (const sm_tokenizer *tok);
sm_token sm_tokenizer_eos (const sm_tokenizer *tok);
sm_token sm_tokenizer_eot (const sm_tokenizer *tok);
sm_token sm_tokenizer_unk (const sm_tokenizer *tok);
sm_token sm_tokenizer_pad (const sm_tokenizer *tok);

/* Whether tokenize with add_special prepends BOS / appends EOS (per vocabulary type and pre-
 * tokenizer, overridden by tokenizer.ggml.add_bos_token / add_eos_token). */
bool sm_tokenizer_get_add_bos (const sm_tokenizer *tok);
bool sm_tokenizer_get_add_eos (const sm_tokenizer *tok);

/* End of generation: eos, eot, eom and every token whose text llama.cpp treats as one. */
bool            sm_tokenizer_is_eog (const sm_tokenizer *tok,
                                     sm_token            id);
const sm_token *sm_tokenizer_get_eog (const sm_tokenizer *tok,
                                      size_t             *n); /* sorted ascending, borrowed */

/* Attribute bits (SM_TOKEN_ATTR_*) of id; 0 when out of range. */
uint32_t sm_tokenizer_get_attr (const sm_tokenizer *tok,
                                sm_token            id);

/* The stored text of id (byte-level BPE tokens in GPT-2 alphabet, SPM tokens with "▁"),
 * NUL-terminated, borrowed; *len (may be NULL) gets its length. NULL when out of range. */
const char *sm_tokenizer_get_text (const sm_tokenizer *tok,
                                   sm_token            id,
                                   size_t             *len);

/* The id whose stored text is exactly text[0 .. len), or SM_TOKEN_NULL. */
sm_token sm_tokenizer_find (const sm_tokenizer *tok,
                            const char         *text,
                            size_t              len);

/* ---- Tokenize ---- */

/* Tokenizes text[0 .. len) (any bytes; invalid UTF-8 is read as U+FFFD like llama.cpp).
 * add_special: prepend BOS / append EOS as the vocabulary says (SPM: the space prefix is
 * added in either case). parse_special: CONTROL and UNKNOWN token texts in the input become
 * their ids; otherwise they are tokenized as plain text. On success *ids is a malloc'd array
 * of *n_ids tokens (NULL when 0) that the caller frees with free(). Fails only with
 * SM_ERR_NOMEM. */
sm_status sm_tokenizer_tokenize (const sm_tokenizer *tok,
                                 const char         *text,
                                 size_t              len,
                                 bool                add_special,
                                 bool                parse_special,
                                 sm_token          **ids,
                                 size_t             *n_ids,
                                 sm_error           *err);

/* A byte range of a text. */
typedef struct
{
  size_t off, len;
} sm_text_range;

/* Tokenizes like sm_tokenizer_tokenize with parse_special = true, except that a CONTROL or
 * UNKNOWN token text is only made its id when it touches none of the n_plain ranges (sorted by
 * offset, not overlapping; NULL when 0): inside them such text is read as plain text, as
 * parse_special = false reads it, so a chat message cannot forge the template's control tokens.
 * Raw text is still split only at the special tokens found, so the ranges change nothing for a
 * text without special-token text in them (SPM space prefix included). Fails with
 * SM_ERR_INVALID_ARG for ranges outside the text or out of order, SM_ERR_NOMEM. */
sm_status sm_tokenizer_tokenize_plain_ranges (const sm_tokenizer  *tok,
                                              const char          *text,
                                              size_t               len,
                                              bool                 add_special,
                                              const sm_text_range *plain,
                                              size_t               n_plain,
                                              sm_token           **ids,
                                              size_t              *n_ids,
                                              sm_error           *err);

/* ---- Detokenize ---- */

/* The bytes id stands for: "▁" -> " " (SPM), GPT-2 alphabet -> bytes (BPE), <0xXX> -> one
 * byte; CONTROL and UNKNOWN tokens give their text when special is true and nothing otherwise;
 * USER_DEFINED tokens give their text. A piece may be part of a UTF-8 character. Returns a
 * borrowed pointer and sets *len; an out-of-range id gives "" (length 0). */
const char *sm_tokenizer_get_piece (const sm_tokenizer *tok,
                                    sm_token            id,
                                    bool                special,
                                    size_t             *len);

/* Streaming detokenizer: feeds generated tokens one at a time and hands back only whole UTF-8
 * characters; bytes of an unfinished character wait for the next token. */
typedef struct sm_detokenizer sm_detokenizer;

/* special: show CONTROL tokens' text. strip_leading_space: drop one leading space from the
 * first non-empty output (what an SPM space prefix puts before a text). NULL on out of memory.
 * The tokenizer must outlive the detokenizer. */
sm_detokenizer *sm_detokenizer_new (const sm_tokenizer *tok,
                                    bool                special,
                                    bool                strip_leading_space);
void            sm_detokenizer_free (sm_detokenizer *d);

/* Adds id's piece; returns the bytes now complete (pointer valid until the next call on d,
 * not NUL-terminated) and sets *len (0 when everything is held back). NULL on out of memory. */
const char *sm_detokenizer_push (sm_detokenizer *d,
                                 sm_token        id,
                                 size_t         *len);

/* Ends the stream: returns what is held back, a still unfinished character replaced by
 * U+FFFD, and resets d for a new stream. */
const char *sm_detokenizer_flush (sm_detokenizer *d,
                                  size_t         *len);

/* Convenience: detokenizes a whole array into a malloc'd NUL-terminated string (caller frees;
 * an unfinished last character becomes U+FFFD). NULL on out of memory. */
char *sm_tokenizer_detokenize (const sm_tokenizer *tok,
                               const sm_token     *ids,
                               size_t              n_ids,
                               bool                special,
                               size_t             *len);
