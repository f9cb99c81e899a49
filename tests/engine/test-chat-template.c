/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-chat-template.c: every template family rendered against the exact text its Hugging Face
 * Jinja template produces (worked out by hand from those templates), family recognition, the
 * fallback for absent or unknown templates, and the stop tokens.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm-chat-template.h"
#include "sm-gguf.h"
#include "sm-tokenizer.h"

static sm_tokenizer *
load_vocab (const char *name, sm_gguf **g_out)
{
  const char *shared = g_getenv ("SMELT_SHARED_DIR");
  g_autofree char *file = g_strdup_printf ("ggml-vocab-%s.gguf", name);
  g_autofree char *path = NULL;
  sm_gguf *g = NULL;
  sm_tokenizer *tok = NULL;
  sm_error err = { 0 };

  if (!shared)
    return NULL;
  path = g_build_filename (shared, "fixtures", "vocab", file, NULL);
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return NULL;
  g_assert_cmpint (sm_gguf_open (path, &g, &err), ==, SM_OK);
  g_assert_cmpint (sm_tokenizer_load (g, &tok, &err), ==, SM_OK);
  if (g_out)
    *g_out = g;
  else
    sm_gguf_free (g);
  return tok;
}

#define SKIP_IF_NULL(tok) \
  if (!(tok)) { g_test_skip ("fixture vocabularies not found (SMELT_SHARED_DIR)"); return; }

static void
check_render (const sm_chat_template *t, const sm_chat_message *m, size_t n, bool gen,
              const char *expect)
{
  char *out = NULL;
  size_t len = 0;
  sm_error err = { 0 };

  g_assert_cmpint (sm_chat_template_render (t, m, n, gen, &out, &len, &err), ==, SM_OK);
  g_assert_cmpstr (out, ==, expect);
  g_assert_cmpuint (len, ==, strlen (expect));
  free (out);
}

static const sm_chat_message sys_user[] = {
  { SM_CHAT_ROLE_SYSTEM, "You are helpful." },
  { SM_CHAT_ROLE_USER, "Hi!" },
};

static const sm_chat_message multi[] = {
  { SM_CHAT_ROLE_USER, "What is 2+2?" },
  { SM_CHAT_ROLE_ASSISTANT, "4" },
  { SM_CHAT_ROLE_USER, "And 3+3?" },
};

/* Excerpts of the real templates: enough for recognition, as the models ship them. */
static const char LLAMA3_TEMPLATE[] =
  "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
  "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim "
  "+ '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
  "{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant"
  "<|end_header_id|>\\n\\n' }}{% endif %}";
static const char LLAMA31_TEMPLATE[] =
  "{{- bos_token }}\n{%- if not date_string is defined %}\n    {%- set date_string = \"26 Jul 2024\" %}"
  "\n{%- endif %}\n{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n"
  "{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n{{- \"Today Date: \" + date_string + "
  "\"\\n\\n\" }}\n{{- system_message }}\n{{- \"<|eot_id|>\" }}";
static const char LLAMA2_TEMPLATE[] =
  "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set "
  "system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set "
  "system_message = false %}{% endif %}{% for message in loop_messages %}{% if loop.index0 == 0 "
  "and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
  "'\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}"
  "{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + "
  "' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + "
  "eos_token }}{% endif %}{% endfor %}";
static const char MISTRAL_TEMPLATE[] =
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + "
  "message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ "
  "message['content'] + eos_token}}{% endif %}{% endfor %}";
static const char MISTRAL_V3_TEMPLATE[] =
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + "
  "message['content'] + '[/INST]' }}{% elif message['role'] == 'assistant' %}{{ "
  "message['content'] + eos_token + ' ' }}{% endif %}{% endfor %}";

static void
test_llama3 (void)
{
  sm_tokenizer *tok = load_vocab ("llama-bpe", NULL);
  sm_chat_template *t = NULL;
  sm_error err = { 0 };
  const sm_token *stop;
  size_t n_stop;
  static const sm_chat_message padded[] = { { SM_CHAT_ROLE_USER, "  \n Hi there \t\n" } };

  SKIP_IF_NULL (tok);
  g_assert_cmpint (sm_chat_template_new (LLAMA3_TEMPLATE, strlen (LLAMA3_TEMPLATE), tok, &t, &err),
                   ==, SM_OK);
  g_assert_cmpint (sm_chat_template_get_format (t), ==, SM_CHAT_FORMAT_LLAMA3);
  g_assert_false (sm_chat_template_is_fallback (t));
  check_render (t, sys_user, 2, true,
                "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are helpful."
                "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
                "<|start_header_id|>assistant<|end_header_id|>\n\n");
  /* Contents are trimmed. */
  check_render (t, padded, 1, false,
                "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>");
  stop = sm_chat_template_get_stop_tokens (t, &n_stop);
  {
    bool has_eot = false, has_eos = false;

    for (size_t i = 0; i < n_stop; i++)
      {
        has_eot |= stop[i] == 128009;
        has_eos |= stop[i] == 128001;
      }
    g_assert_true (has_eot && has_eos);
  }
  sm_chat_template_free (t);

  /* Llama 3.1: the system block with the knowledge date always comes first. */
  g_assert_cmpint (sm_chat_template_new (LLAMA31_TEMPLATE, strlen (LLAMA31_TEMPLATE), tok, &t, &err),
                   ==, SM_OK);
  check_render (t, sys_user, 2, true,
                "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge "
                "Date: December 2023\nToday Date: 26 Jul 2024\n\nYou are helpful.<|eot_id|>"
                "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
                "<|start_header_id|>assistant<|end_header_id|>\n\n");
  sm_chat_template_set_date (t, "01 Jan 2026");
  check_render (t, sys_user + 1, 1, false,
                "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge "
                "Date: December 2023\nToday Date: 01 Jan 2026\n\n<|eot_id|>"
                "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>");
  sm_chat_template_free (t);

  /* No template in this vocabulary file: fallback from the vocabulary's header tokens. */
  g_assert_cmpint (sm_chat_template_new (NULL, 0, tok, &t, &err), ==, SM_OK);
  g_assert_true (sm_chat_template_is_fallback (t));
  g_assert_cmpint (sm_chat_template_get_format (t), ==, SM_CHAT_FORMAT_LLAMA3);
  sm_chat_template_free (t);
  sm_tokenizer_free (tok);
}

static void
test_chatml (void)
{
  sm_gguf *g = NULL;
  sm_tokenizer *tok = load_vocab ("qwen2", &g);
  sm_chat_template *t = NULL;
  sm_error err = { 0 };
  char *text = NULL;
  sm_token *ids = NULL;
  size_t n_ids, len, n_stop;
  const sm_token *stop;
  bool has_im_end = false, has_eot = false;

  SKIP_IF_NULL (tok);
  /* The fixture's own template (Qwen2: default system prompt in the template). */
  g_assert_cmpint (sm_chat_template_load (g, tok, &t, &err), ==, SM_OK);
  sm_gguf_free (g);
  g_assert_cmpint (sm_chat_template_get_format (t), ==, SM_CHAT_FORMAT_CHATML);
  check_render (t, sys_user + 1, 1, true,
                "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n"
                "<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n");
  check_render (t, sys_user, 2, true,
                "<|im_start|>system\nYou are helpful.<|im_end|>\n"
                "<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n");
  check_render (t, multi, 3, false,
                "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n"
                "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n"
                "<|im_start|>user\nAnd 3+3?<|im_end|>\n");

  /* The rendered text tokenizes into the chat's special tokens. */
  g_assert_cmpint (sm_chat_template_render (t, sys_user, 2, true, &text, &len, &err), ==, SM_OK);
  g_assert_cmpint (sm_tokenizer_tokenize (tok, text, len, false, true, &ids, &n_ids, &err), ==,
                   SM_OK);
  g_assert_cmpint (ids[0], ==, 151644);
  g_assert_cmpint (ids[n_ids - 1], ==, 198);
  free (ids);
  free (text);

  stop = sm_chat_template_get_stop_tokens (t, &n_stop);
  for (size_t i = 0; i < n_stop; i++)
    {
      has_im_end |= stop[i] == 151645;
      has_eot |= stop[i] == 151643;
    }
  g_assert_true (has_im_end && has_eot);
  sm_chat_template_free (t);

  /* Qwen2.5's default system prompt, read from its template. */
  {
    static const char qwen25[] =
      "{%- else %}\n        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You "
      "are a helpful assistant.<|im_end|>\\n' }}\n    {%- endif %}";

    g_assert_cmpint (sm_chat_template_new (qwen25, strlen (qwen25), tok, &t, &err), ==, SM_OK);
    check_render (t, sys_user + 1, 1, true,
                  "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
                  "assistant.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n");
    sm_chat_template_free (t);
  }
  sm_tokenizer_free (tok);
}

static void
test_inst (void)
{
  sm_tokenizer *tok = load_vocab ("llama-spm", NULL);
  sm_chat_template *t = NULL;
  sm_error err = { 0 };
  static const sm_chat_message conv[] = {
    { SM_CHAT_ROLE_SYSTEM, "Be brief." },
    { SM_CHAT_ROLE_USER, "What is 2+2?" },
    { SM_CHAT_ROLE_ASSISTANT, "4" },
    { SM_CHAT_ROLE_USER, "And 3+3?" },
  };

  SKIP_IF_NULL (tok);
  g_assert_cmpint (sm_chat_template_new (LLAMA2_TEMPLATE, strlen (LLAMA2_TEMPLATE), tok, &t, &err),
                   ==, SM_OK);
  g_assert_cmpint (sm_chat_template_get_format (t), ==, SM_CHAT_FORMAT_LLAMA2);
  check_render (t, conv, 4, true,
                "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nWhat is 2+2? [/INST] 4 </s>"
                "<s>[INST] And 3+3? [/INST]");
  sm_chat_template_free (t);

  g_assert_cmpint (sm_chat_template_new (MISTRAL_TEMPLATE, strlen (MISTRAL_TEMPLATE), tok, &t, &err),
                   ==, SM_OK);
  g_assert_cmpint (sm_chat_template_get_format (t), ==, SM_CHAT_FORMAT_MISTRAL);
  check_render (t, multi, 3, true, "<s>[INST] What is 2+2? [/INST]4</s>[INST] And 3+3? [/INST]");
  check_render (t, conv, 4, true,
                "<s>[INST] Be brief.\n\nWhat is 2+2? [/INST]4</s>[INST] And 3+3? [/INST]");
  sm_chat_template_free (t);

  g_assert_cmpint (sm_chat_template_new (MISTRAL_V3_TEMPLATE, strlen (MISTRAL_V3_TEMPLATE), tok, &t,
                                         &err), ==, SM_OK);
  check_render (t, multi, 3, true, "<s>[INST] What is 2+2?[/INST]4</s> [INST] And 3+3?[/INST]");
  sm_chat_template_free (t);

  /* An unknown template on an SPM vocabulary: Llama 2 style fallback. */
  g_assert_cmpint (sm_chat_template_new ("{{ messages }}", 14, tok, &t, &err), ==, SM_OK);
  g_assert_true (sm_chat_template_is_fallback (t));
  g_assert_cmpint (sm_chat_template_get_format (t), ==, SM_CHAT_FORMAT_LLAMA2);
  check_render (t, sys_user, 2, true, "<s>[INST] <<SYS>>\nYou are helpful.\n<</SYS>>\n\nHi! [/INST]");
  sm_chat_template_free (t);
  sm_tokenizer_free (tok);
}

/* A Mistral model without a template: general.name picks the Mistral form over Llama 2. */
static void
test_mistral_by_name (void)
{
  const char *shared = g_getenv ("SMELT_SHARED_DIR");
  g_autofree char *in = NULL, *dir = NULL, *out = NULL;
  sm_gguf *g = NULL;
  sm_gguf_writer *w;
  sm_tokenizer *tok = NULL;
  sm_chat_template *t = NULL;
  sm_error err = { 0 };

  if (!shared || !g_file_test ((in = g_build_filename (shared, "fixtures", "vocab",
                                                       "ggml-vocab-llama-spm.gguf", NULL)),
                               G_FILE_TEST_EXISTS))
    {
      g_test_skip ("fixture vocabularies not found (SMELT_SHARED_DIR)");
      return;
    }
  dir = g_dir_make_tmp ("smelt-test-chat-XXXXXX", NULL);
  out = g_build_filename (dir, "mistral.gguf", NULL);
  g_assert_cmpint (sm_gguf_open (in, &g, &err), ==, SM_OK);
  w = sm_gguf_writer_new ();
  for (int64_t i = 0; i < sm_gguf_get_n_kv (g); i++)
    sm_gguf_writer_copy_kv (w, g, i);
  sm_gguf_writer_set_str (w, "general.name", "Mistral-7B-Instruct-v0.1");
  sm_gguf_writer_remove_key (w, "tokenizer.chat_template");
  g_assert_cmpint (sm_gguf_writer_begin (w, out, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_finish (w, &err), ==, SM_OK);
  sm_gguf_writer_free (w);
  sm_gguf_free (g);

  g_assert_cmpint (sm_gguf_open (out, &g, &err), ==, SM_OK);
  g_assert_cmpint (sm_tokenizer_load (g, &tok, &err), ==, SM_OK);
  g_assert_cmpint (sm_chat_template_load (g, tok, &t, &err), ==, SM_OK);
  sm_gguf_free (g);
  g_assert_true (sm_chat_template_is_fallback (t));
  g_assert_cmpint (sm_chat_template_get_format (t), ==, SM_CHAT_FORMAT_MISTRAL);
  check_render (t, multi, 3, true, "<s>[INST] What is 2+2? [/INST]4</s>[INST] And 3+3? [/INST]");
  sm_chat_template_free (t);
  sm_tokenizer_free (tok);
  g_unlink (out);
  g_rmdir (dir);
}

static void
test_phi3 (void)
{
  sm_gguf *g = NULL;
  sm_tokenizer *tok = load_vocab ("phi-3", &g);
  sm_chat_template *t = NULL;
  sm_error err = { 0 };
  const sm_token *stop;
  size_t n_stop;
  bool has_end = false;

  SKIP_IF_NULL (tok);
  g_assert_cmpint (sm_chat_template_load (g, tok, &t, &err), ==, SM_OK);
  sm_gguf_free (g);
  g_assert_cmpint (sm_chat_template_get_format (t), ==, SM_CHAT_FORMAT_PHI3);
  /* This template has no system turn and opens the assistant's turn after every user turn. */
  check_render (t, multi, 3, true,
                "<s><|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n4<|end|>\n"
                "<|user|>\nAnd 3+3?<|end|>\n<|assistant|>\n");
  check_render (t, sys_user, 2, true, "<s><|user|>\nHi!<|end|>\n<|assistant|>\n");
  stop = sm_chat_template_get_stop_tokens (t, &n_stop);
  for (size_t i = 0; i < n_stop; i++)
    has_end |= stop[i] == 32007;
  g_assert_true (has_end);
  sm_chat_template_free (t);
  sm_tokenizer_free (tok);
}

static void
test_errors (void)
{
  sm_tokenizer *tok = load_vocab ("gpt-2", NULL);
  sm_chat_template *t = NULL;
  sm_error err = { 0 };
  char *out = NULL;
  static const sm_chat_message bad[] = { { SM_CHAT_ROLE_USER, NULL } };

  SKIP_IF_NULL (tok);
  /* No markers at all: ChatML fallback, rendered as text. */
  g_assert_cmpint (sm_chat_template_new (NULL, 0, tok, &t, &err), ==, SM_OK);
  g_assert_true (sm_chat_template_is_fallback (t));
  g_assert_cmpint (sm_chat_template_get_format (t), ==, SM_CHAT_FORMAT_CHATML);
  g_assert_cmpstr (sm_chat_format_name (sm_chat_template_get_format (t)), ==, "chatml");
  check_render (t, NULL, 0, true, "<|im_start|>assistant\n");
  g_assert_cmpint (sm_chat_template_render (t, bad, 1, true, &out, NULL, &err), ==,
                   SM_ERR_INVALID_ARG);
  g_assert_null (out);
  sm_chat_template_free (t);
  sm_chat_template_free (NULL);
  sm_tokenizer_free (tok);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/chat-template/llama3", test_llama3);
  g_test_add_func ("/chat-template/chatml", test_chatml);
  g_test_add_func ("/chat-template/llama2-mistral", test_inst);
  g_test_add_func ("/chat-template/mistral-by-name", test_mistral_by_name);
  g_test_add_func ("/chat-template/phi3", test_phi3);
  g_test_add_func ("/chat-template/fallback-and-errors", test_errors);
  return g_test_run ();
}
