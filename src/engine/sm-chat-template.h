/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-chat-template.h: turns a conversation into the prompt text a chat model was trained on.
 *
 * There is no Jinja interpreter: the model's tokenizer.chat_template is recognised by family and
 * rendered by hand, byte for byte as the Hugging Face template would render it. Recognised:
 *
 *   LLAMA3   "<|start_header_id|>" in the template (Llama 3, 3.1, 3.2):
 *            <|begin_of_text|><|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|>...
 *            content trimmed of surrounding whitespace. Llama 3.1/3.2 templates ("Cutting
 *            Knowledge Date" in the template) always open with a system block:
 *            "Cutting Knowledge Date: December 2023\nToday Date: DATE\n\n" + system message;
 *            DATE is "26 Jul 2024" unless the template asks for today (strftime_now) or the
 *            caller sets one.
 *   CHATML   "<|im_start|>" (Qwen2/2.5, many fine-tunes): <|im_start|>ROLE\nCONTENT<|im_end|>\n;
 *            a default system prompt written in the template (Qwen's "You are a helpful
 *            assistant", "You are Qwen, created by Alibaba Cloud. ...") is inserted when the
 *            conversation has none.
 *   LLAMA2   "[INST]" and "<<SYS>>" (Llama 2 chat): <s>[INST] <<SYS>>\nSYSTEM\n<</SYS>>\n\nUSER
 *            [/INST] ANSWER </s><s>[INST] ... with contents stripped.
 *   MISTRAL  "[INST]" without "<<SYS>>" (Mistral Instruct v0.1-v0.3):
 *            <s>[INST] USER [/INST]ANSWER</s>[INST] ... ; a system message is put before the
 *            first user message, separated by a blank line; " [/INST]" or "[/INST]" and a
 *            space after </s> follow what the template writes.
 *   PHI3     "<|user|>" (Phi-3): <|system|>\n...<|end|>\n<|user|>\n...<|end|>\n<|assistant|>\n
 *
 * An absent or unrecognised template falls back to the vocabulary's own markers: LLAMA3 when it
 * has <|start_header_id|>, CHATML when it has <|im_start|>, for other SPM vocabularies MISTRAL
 * when general.name says "mistral" (sm_chat_template_load only) and LLAMA2 otherwise, else
 * CHATML; sm_chat_template_is_fallback() then says so.
 *
 * The rendered text contains the special tokens as text (BOS included where the template puts
 * it). Message contents are written as given, but they are data, not markup: a message holding
 * special-token text ("<|im_end|>", "<|eot_id|>", "</s>" ...) must not become control tokens,
 * or a user (or a pasted document) could forge turns and system prompts. So tokenize with
 * sm_chat_template_tokenize (the template's markup with parse_special, the contents as plain
 * text, see sm_tokenizer_tokenize_plain_ranges) rather than the text of
 * sm_chat_template_render, which is kept for display and for comparing with the Jinja output.
 *
 * Threading: a template is immutable after creation (except set_date) and may be shared.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "sm-common.h"
#include "sm-gguf.h"
#include "sm-tokenizer.h"

typedef enum
{
  SM_CHAT_FORMAT_LLAMA3,
  SM_CHAT_FORMAT_CHATML,
  SM_CHAT_FORMAT_LLAMA2,
  SM_CHAT_FORMAT_MISTRAL,
  SM_CHAT_FORMAT_PHI3,
} sm_chat_format;

typedef enum
{
  SM_CHAT_ROLE_SYSTEM,
  SM_CHAT_ROLE_USER,
  SM_CHAT_ROLE_ASSISTANT,
} sm_chat_role;

typedef struct
{
  sm_chat_role role;
  const char  *content; /* NUL-terminated UTF-8 */
} sm_chat_message;

typedef struct sm_chat_template sm_chat_template;

/* Recognises template_text (NULL or len 0 = the model has none) for the vocabulary of tok, which
 * must outlive the template. Fails only with SM_ERR_NOMEM. */
sm_status sm_chat_template_new (const char          *template_text,
                                size_t               len,
                                const sm_tokenizer  *tok,
                                sm_chat_template   **out,
                                sm_error            *err);

/* The same from a GGUF's tokenizer.chat_template (g may be freed afterwards); general.name
 * refines the fallback. */
sm_status sm_chat_template_load (const sm_gguf       *g,
                                 const sm_tokenizer  *tok,
                                 sm_chat_template   **out,
                                 sm_error            *err);

void sm_chat_template_free (sm_chat_template *t);

sm_chat_format sm_chat_template_get_format (const sm_chat_template *t);
/* True when the template was absent or not recognised and the format was chosen from the
 * vocabulary. */
bool           sm_chat_template_is_fallback (const sm_chat_template *t);
/* "llama3", "chatml", "llama2", "mistral", "phi3". */
const char    *sm_chat_format_name (sm_chat_format f);

/* The date Llama 3.1-style templates write ("26 Jul 2024" style); copied. NULL restores the
 * template's own default. */
void sm_chat_template_set_date (sm_chat_template *t,
                                const char       *date);

/* Renders messages (in order; roles as the family allows: a system message is only honoured as
 * the first message) and, when add_generation_prompt, the opening of the assistant's turn. On
 * success *out is a malloc'd NUL-terminated string (caller frees) of *len bytes (len may be
 * NULL). Fails with SM_ERR_INVALID_ARG for a NULL content, SM_ERR_NOMEM. */
sm_status sm_chat_template_render (const sm_chat_template *t,
                                   const sm_chat_message  *messages,
                                   size_t                  n_messages,
                                   bool                    add_generation_prompt,
                                   char                  **out,
                                   size_t                 *len,
                                   sm_error               *err);

/* The same rendering, plus where the message contents lie in it: *content gets a malloc'd
 * array (caller frees; NULL when *n_content is 0) of *n_content byte ranges of *out, sorted and
 * not overlapping; everything outside them is the template's own markup. Trimming and the
 * Llama 2 system block are accounted for (the "<<SYS>>" lines are markup). */
sm_status sm_chat_template_render_ranges (const sm_chat_template *t,
                                          const sm_chat_message  *messages,
                                          size_t                  n_messages,
                                          bool                    add_generation_prompt,
                                          char                  **out,
                                          size_t                 *len,
                                          sm_text_range         **content,
                                          size_t                 *n_content,
                                          sm_error               *err);

/* Renders and tokenizes the conversation for the model: the markup's special-token texts become
 * their ids, special-token texts inside message contents stay plain text (USER_DEFINED tokens
 * are matched everywhere, as parse_special = false matches them). No BOS is added beyond what
 * the template writes. For messages without special-token text the ids are those of
 * sm_tokenizer_tokenize (render text, add_special = false, parse_special = true). *ids is
 * malloc'd (caller frees). Errors: those of render, SM_ERR_NOMEM. */
sm_status sm_chat_template_tokenize (const sm_chat_template *t,
                                     const sm_chat_message  *messages,
                                     size_t                  n_messages,
                                     bool                    add_generation_prompt,
                                     sm_token              **ids,
                                     size_t                 *n_ids,
                                     sm_error               *err);

/* The tokens that end the assistant's turn: the family's end-of-turn token (<|eot_id|>,
 * <|im_end|>, </s>, <|end|>) plus every end-of-generation token of the vocabulary. Sorted,
 * borrowed, valid while t lives. */
const sm_token *sm_chat_template_get_stop_tokens (const sm_chat_template *t,
                                                  size_t                 *n);
