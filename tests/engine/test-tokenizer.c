/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-tokenizer.c: sm-tokenizer and sm-unicode. Known-good ids for every vocabulary fixture,
 * byte fallback, special tokens (parse_special on and off), BOS/EOS rules, end-of-generation
 * tokens, detokenization and streaming detokenization with split UTF-8 characters, bad input.
 *
 * The expected ids were computed once with llama.cpp (npm node-llama-cpp 3.22.1, prebuilt CPU
 * build, model.tokenize(text, parse_special) = llama_tokenize with add_special false) on the
 * fixture vocabularies in $SMELT_SHARED_DIR/fixtures/vocab (and on the GPT-2 one rewritten with
 * other tokenizer.ggml.pre values) and pasted here; tests/parity runs the full comparison live.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm-gguf.h"
#include "sm-tokenizer.h"
#include "sm-unicode.h"

/* ---- helpers ---- */

static sm_tokenizer *
load_vocab (const char *name)
{
  const char *shared = g_getenv ("SMELT_SHARED_DIR");
  g_autofree char *path = NULL;
  g_autofree char *file = g_strdup_printf ("ggml-vocab-%s.gguf", name);
  sm_gguf *g = NULL;
  sm_tokenizer *tok = NULL;
  sm_error err = { 0 };

  if (!shared)
    return NULL;
  path = g_build_filename (shared, "fixtures", "vocab", file, NULL);
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return NULL;
  g_assert_cmpint (sm_gguf_open (path, &g, &err), ==, SM_OK);
  if (sm_tokenizer_load (g, &tok, &err) != SM_OK)
    g_error ("%s: %s", path, err.msg);
  sm_gguf_free (g);
  return tok;
}

#define SKIP_IF_NULL(tok) \
  if (!(tok)) { g_test_skip ("fixture vocabularies not found (SMELT_SHARED_DIR)"); return; }

static void
check_ids (const sm_tokenizer *tok, const char *text, bool add_special, bool parse_special,
           const sm_token *want, size_t n_want)
{
  sm_token *ids = NULL;
  size_t n = 0;
  sm_error err = { 0 };
  g_autoptr(GString) got = g_string_new (NULL);
  g_autoptr(GString) exp = g_string_new (NULL);

  g_assert_cmpint (sm_tokenizer_tokenize (tok, text, strlen (text), add_special, parse_special,
                                          &ids, &n, &err), ==, SM_OK);
  for (size_t i = 0; i < n; i++)
    g_string_append_printf (got, " %d", ids[i]);
  for (size_t i = 0; i < n_want; i++)
    g_string_append_printf (exp, " %d", want[i]);
  if (strcmp (got->str, exp->str) != 0)
    g_test_message ("text \"%s\": got%s, want%s", text, got->str, exp->str);
  g_assert_cmpstr (got->str, ==, exp->str);
  free (ids);
}

#define CHECK(tok, text, add, special, ...) \
  do { \
    static const sm_token want_[] = { __VA_ARGS__ }; \
    check_ids (tok, text, add, special, want_, G_N_ELEMENTS (want_)); \
  } while (0)

static const char *SPECIAL_MIX = "<s>[INST] Hi [/INST]</s><|endoftext|><|begin_of_text|><|eot_id|>";

/* ---- unicode ---- */

static void
test_unicode (void)
{
  char buf[4];
  size_t pos;

  g_assert_true (sm_unicode_flags ('a') & SM_UNICODE_LETTER);
  g_assert_true (sm_unicode_flags (0x4F60) & SM_UNICODE_LETTER);      /* 你 */
  g_assert_true (sm_unicode_flags ('7') & SM_UNICODE_NUMBER);
  g_assert_true (sm_unicode_flags (0x0663) & SM_UNICODE_NUMBER);      /* Arabic-Indic 3 */
  g_assert_true (sm_unicode_flags (0x2162) & SM_UNICODE_NUMBER);      /* Roman numeral III */
  g_assert_true (sm_unicode_flags (',') & SM_UNICODE_PUNCTUATION);
  g_assert_true (sm_unicode_flags ('$') & SM_UNICODE_SYMBOL);
  g_assert_true (sm_unicode_flags (0x0301) & SM_UNICODE_MARK);
  g_assert_true (sm_unicode_flags (0x1F999) & SM_UNICODE_SYMBOL);     /* 🦙 */
  g_assert_true (sm_unicode_flags (0x3000) & SM_UNICODE_WHITESPACE);
  g_assert_true (sm_unicode_flags (0x85) & SM_UNICODE_WHITESPACE);
  g_assert_false (sm_unicode_flags (0x1C) & SM_UNICODE_WHITESPACE);
  g_assert_false (sm_unicode_flags (0x200B) & SM_UNICODE_WHITESPACE); /* zero width space */
  g_assert_cmpuint (sm_unicode_flags (0x110000), ==, SM_UNICODE_UNDEFINED);
  g_assert_nonnull (sm_unicode_version ());

  /* UTF-8 round trip and llama.cpp's handling of bad bytes. */
  for (uint32_t c = 0; c <= SM_UNICODE_MAX; c += 97)
    {
      size_t n = sm_utf8_encode (c, buf);

      pos = 0;
      g_assert_cmpuint (sm_utf8_decode (buf, n, &pos), ==, c);
      g_assert_cmpuint (pos, ==, n);
    }
  pos = 0;
  g_assert_cmpuint (sm_utf8_decode ("\xe4\xbd", 2, &pos), ==, SM_UNICODE_REPLACEMENT);
  g_assert_cmpuint (pos, ==, 1);
  pos = 0;
  g_assert_cmpuint (sm_utf8_decode ("\xff", 1, &pos), ==, SM_UNICODE_REPLACEMENT);
  g_assert_cmpuint (pos, ==, 1);

  g_assert_cmpuint (sm_utf8_incomplete_tail ("ab\xf0\x9f", 4), ==, 2);
  g_assert_cmpuint (sm_utf8_incomplete_tail ("ab\xf0\x9f\xa6\x99", 6), ==, 0);
  g_assert_cmpuint (sm_utf8_incomplete_tail ("\xe4", 1), ==, 1);
  g_assert_cmpuint (sm_utf8_incomplete_tail ("a\x80", 2), ==, 0);

  /* GPT-2 byte alphabet: a bijection, ' ' -> U+0120, '\n' -> U+010A. */
  g_assert_cmpuint (sm_unicode_byte_to_cpt (' '), ==, 0x120);
  g_assert_cmpuint (sm_unicode_byte_to_cpt ('\n'), ==, 0x10A);
  g_assert_cmpuint (sm_unicode_byte_to_cpt ('A'), ==, 'A');
  g_assert_cmpuint (sm_unicode_byte_to_cpt (0xAD), ==, 0x143);
  for (int b = 0; b < 256; b++)
    g_assert_cmpint (sm_unicode_cpt_to_byte (sm_unicode_byte_to_cpt ((uint8_t) b)), ==, b);
  g_assert_cmpint (sm_unicode_cpt_to_byte (0x20), ==, -1);
  g_assert_cmpint (sm_unicode_cpt_to_byte (0x144), ==, -1);
}

/* ---- known ids per fixture (from llama.cpp, see the header) ---- */

static void
test_spm_ids (void)
{
  sm_tokenizer *tok = load_vocab ("llama-spm");

  SKIP_IF_NULL (tok);
  g_assert_cmpint (sm_tokenizer_get_type (tok), ==, SM_VOCAB_SPM);
  CHECK (tok, "Hello world", false, false, 15043, 3186);
  CHECK (tok, " Hello  world\n\n\tOK", false, false, 29871, 15043, 29871, 3186, 13, 13, 12, 8949);
  /* 🦙 has no token: byte fallback <0xF0> <0x9F> <0xA6> <0x99>. */
  CHECK (tok, "你好，世界！🦙 café 12345", false, false, 29871, 30919, 31076, 30214, 30793, 30967,
         30584, 243, 162, 169, 156, 274, 28059, 29871, 29896, 29906, 29941, 29946, 29945);
  CHECK (tok, "int x = a[i] + 42; // it's", false, false, 938, 921, 353, 263, 29961, 29875, 29962,
         718, 29871, 29946, 29906, 29936, 849, 372, 29915, 29879);
  CHECK (tok, SPECIAL_MIX, false, true, 1, 518, 25580, 29962, 6324, 518, 29914, 25580, 29962, 2,
         529, 29989, 355, 974, 726, 29989, 5299, 29989, 463, 29918, 974, 29918, 726, 29989, 5299,
         29989, 29872, 327, 29918, 333, 29989, 29958);
  CHECK (tok, SPECIAL_MIX, false, false, 529, 29879, 24566, 25580, 29962, 6324, 518, 29914, 25580,
         29962, 829, 29879, 5299, 29989, 355, 974, 726, 29989, 5299, 29989, 463, 29918, 974,
         29918, 726, 29989, 5299, 29989, 29872, 327, 29918, 333, 29989, 29958);
  /* add_special: BOS (the file says add_bos_token true), no EOS. */
  CHECK (tok, "Hello world", true, false, 1, 15043, 3186);
  CHECK (tok, "", true, false, 1);
  CHECK (tok, "", false, false);
  g_assert_cmpint (sm_tokenizer_bos (tok), ==, 1);
  g_assert_cmpint (sm_tokenizer_eos (tok), ==, 2);
  g_assert_true (sm_tokenizer_is_eog (tok, 2));
  g_assert_false (sm_tokenizer_is_eog (tok, 1));
  sm_tokenizer_free (tok);
}

static void
test_phi3_ids (void)
{
  sm_tokenizer *tok = load_vocab ("phi-3");

  SKIP_IF_NULL (tok);
  CHECK (tok, "Hello world", false, false, 15043, 3186);
  CHECK (tok, SPECIAL_MIX, false, true, 1, 518, 25580, 29962, 6324, 518, 29914, 25580, 29962, 2,
         32000, 529, 29989, 463, 29918, 974, 29918, 726, 29989, 5299, 29989, 29872, 327, 29918,
         333, 29989, 29958);
  /* eot guessed from <|end|>. */
  g_assert_cmpint (sm_tokenizer_eot (tok), ==, 32007);
  g_assert_cmpint (sm_tokenizer_eos (tok), ==, 32000);
  g_assert_true (sm_tokenizer_is_eog (tok, 32007));
  sm_tokenizer_free (tok);
}

static void
test_llama3_ids (void)
{
  sm_tokenizer *tok = load_vocab ("llama-bpe");

  SKIP_IF_NULL (tok);
  g_assert_cmpint (sm_tokenizer_get_type (tok), ==, SM_VOCAB_BPE);
  g_assert_cmpstr (sm_tokenizer_get_pre (tok), ==, "llama-bpe");
  CHECK (tok, "Hello world", false, false, 9906, 1917);
  CHECK (tok, " Hello  world\n\n\tOK", false, false, 22691, 220, 1917, 271, 197, 4012);
  CHECK (tok, "你好，世界！🦙 café 12345", false, false, 57668, 53901, 3922, 102616, 6447, 9468,
         99, 247, 53050, 220, 4513, 1774);
  CHECK (tok, "int x = a[i] + 42; // it's", false, false, 396, 865, 284, 264, 1004, 60, 489, 220,
         2983, 26, 443, 433, 596);
  CHECK (tok, SPECIAL_MIX, false, true, 45147, 31868, 65562, 60, 21694, 66028, 65562, 32061, 82,
         1822, 91, 8862, 728, 428, 91, 29, 128000, 128009);
  CHECK (tok, SPECIAL_MIX, false, false, 45147, 31868, 65562, 60, 21694, 66028, 65562, 32061, 82,
         1822, 91, 8862, 728, 428, 91, 1822, 91, 7413, 3659, 4424, 91, 1822, 91, 68, 354, 851,
         91, 29);
  /* Llama 3 pre-tokenizer: BOS added with add_special. */
  CHECK (tok, "Hello world", true, false, 128000, 9906, 1917);
  g_assert_cmpint (sm_tokenizer_eot (tok), ==, 128009);
  g_assert_true (sm_tokenizer_is_eog (tok, 128001));
  g_assert_true (sm_tokenizer_is_eog (tok, 128009));
  sm_tokenizer_free (tok);
}

static void
test_qwen2_ids (void)
{
  sm_tokenizer *tok = load_vocab ("qwen2");

  SKIP_IF_NULL (tok);
  CHECK (tok, "Hello world", false, false, 9707, 1879);
  CHECK (tok, " Hello  world\n\n\tOK", false, false, 21927, 220, 1879, 271, 197, 3925);
  /* Digits one by one. */
  CHECK (tok, "你好，世界！🦙 café 12345", false, false, 108386, 3837, 99489, 6313, 149955, 51950,
         220, 16, 17, 18, 19, 20);
  CHECK (tok, "int x = a[i] + 42; // it's", false, false, 396, 856, 284, 264, 989, 60, 488, 220,
         19, 17, 26, 442, 432, 594);
  CHECK (tok, "<|im_start|>user\nHi<|im_end|>", false, true, 151644, 872, 198, 13048, 151645);
  CHECK (tok, "<|im_start|>user\nHi<|im_end|>", false, false, 27, 91, 318, 4906, 91, 29, 872, 198,
         13048, 27, 91, 318, 6213, 91, 29);
  CHECK (tok, SPECIAL_MIX, false, true, 44047, 30768, 64462, 60, 21018, 64928, 64462, 60, 128247,
         151643, 27, 91, 7265, 3575, 4326, 91, 1784, 91, 68, 354, 842, 91, 29);
  /* Qwen2 adds no BOS. */
  CHECK (tok, "Hello world", true, false, 9707, 1879);
  g_assert_cmpint (sm_tokenizer_eot (tok), ==, 151645);
  g_assert_true (sm_tokenizer_is_eog (tok, 151643));
  g_assert_true (sm_tokenizer_is_eog (tok, 151645));
  g_assert_false (sm_tokenizer_is_eog (tok, 151644));
  sm_tokenizer_free (tok);
}

static void
test_gpt2_ids (void)
{
  sm_tokenizer *tok = load_vocab ("gpt-2");

  SKIP_IF_NULL (tok);
  CHECK (tok, "Hello world", false, false, 15496, 995);
  CHECK (tok, " Hello  world\n\n\tOK", false, false, 18435, 220, 995, 628, 197, 11380);
  CHECK (tok, "你好，世界！🦙 café 12345", false, false, 19526, 254, 25001, 121, 171, 120, 234,
         10310, 244, 45911, 234, 171, 120, 223, 8582, 99, 247, 40304, 17031, 2231);
  CHECK (tok, "int x = a[i] + 42; // it's", false, false, 600, 2124, 796, 257, 58, 72, 60, 1343,
         5433, 26, 3373, 340, 338);
  CHECK (tok, SPECIAL_MIX, false, true, 27, 82, 36937, 38604, 60, 15902, 46581, 38604, 60, 3556,
         82, 29, 50256, 27, 91, 27471, 62, 1659, 62, 5239, 91, 6927, 91, 68, 313, 62, 312, 91, 29);
  CHECK (tok, "Hello world", true, false, 15496, 995);
  sm_tokenizer_free (tok);
}

/* The GPT-2 vocabulary rewritten (with our GGUF writer) under other pre-tokenizer names. */
static sm_tokenizer *
gpt2_with_pre (const char *pre)
{
  const char *shared = g_getenv ("SMELT_SHARED_DIR");
  g_autofree char *in = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *out = NULL;
  sm_gguf *g = NULL, *g2 = NULL;
  sm_gguf_writer *w;
  sm_tokenizer *tok = NULL;
  sm_error err = { 0 };

  if (!shared)
    return NULL;
  in = g_build_filename (shared, "fixtures", "vocab", "ggml-vocab-gpt-2.gguf", NULL);
  if (!g_file_test (in, G_FILE_TEST_EXISTS))
    return NULL;
  dir = g_dir_make_tmp ("smelt-test-tok-XXXXXX", NULL);
  g_assert_nonnull (dir);
  out = g_build_filename (dir, "vocab.gguf", NULL);
  g_assert_cmpint (sm_gguf_open (in, &g, &err), ==, SM_OK);
  w = sm_gguf_writer_new ();
  for (int64_t i = 0; i < sm_gguf_get_n_kv (g); i++)
    sm_gguf_writer_copy_kv (w, g, i);
  if (pre)
    sm_gguf_writer_set_str (w, "tokenizer.ggml.pre", pre);
  else
    sm_gguf_writer_remove_key (w, "tokenizer.ggml.pre");
  g_assert_cmpint (sm_gguf_writer_begin (w, out, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_finish (w, &err), ==, SM_OK);
  sm_gguf_writer_free (w);
  sm_gguf_free (g);
  g_assert_cmpint (sm_gguf_open (out, &g2, &err), ==, SM_OK);
  g_assert_cmpint (sm_tokenizer_load (g2, &tok, &err), ==, SM_OK);
  sm_gguf_free (g2);
  g_unlink (out);
  g_rmdir (dir);
  return tok;
}

static void
test_other_pre (void)
{
  static const char *text = "Hello 12345 world!!! $$ `x` ok";
  sm_tokenizer *tok;

  /* default: punctuation runs, gpt-2 regex, number runs, then ASCII digit triples. */
  tok = gpt2_with_pre ("default");
  SKIP_IF_NULL (tok);
  g_assert_cmpstr (sm_tokenizer_get_pre (tok), ==, "default");
  CHECK (tok, text, false, false, 15496, 220, 10163, 2231, 995, 10185, 220, 13702, 4600, 87, 63,
         12876);
  sm_tokenizer_free (tok);
  /* No pre key at all: the same default. */
  tok = gpt2_with_pre (NULL);
  CHECK (tok, text, false, false, 15496, 220, 10163, 2231, 995, 10185, 220, 13702, 4600, 87, 63,
         12876);
  sm_tokenizer_free (tok);
  /* starcoder: every digit alone. */
  tok = gpt2_with_pre ("starcoder");
  CHECK (tok, text, false, false, 15496, 220, 16, 17, 18, 19, 20, 995, 10185, 32382, 4600, 87, 63,
         12876);
  sm_tokenizer_free (tok);
  /* falcon: like default but ` joins the punctuation runs and no number-run pass. */
  tok = gpt2_with_pre ("falcon");
  CHECK (tok, text, false, false, 15496, 220, 10163, 2231, 995, 10185, 220, 13702, 220, 63, 87, 63,
         12876);
  sm_tokenizer_free (tok);
}

/* ---- small in-memory vocabularies ---- */

static sm_tokenizer *
tiny_spm (int add_bos)
{
  /* ids: 0 <unk>, 1 <s>, 2 </s>, 3.. byte tokens for 'a' 'b' 0xE4 0xBD 0xA0, then pieces. */
  static const char *texts[] = {
    "<unk>", "<s>", "</s>", "<0x61>", "<0x62>", "<0xE4>", "<0xBD>", "<0xA0>",
    "\xe2\x96\x81", "a", "b", "ab", "\342\226\201a", "\342\226\201ab", "<|user|>",
  };
  static const float scores[] = { 0, 0, 0, 0, 0, 0, 0, 0, -1, -2, -2, -3, -1.5f, -0.5f, 0 };
  static const int32_t types[] = { 2, 3, 3, 6, 6, 6, 6, 6, 1, 1, 1, 1, 1, 1, 4 };
  sm_vocab_desc d = sm_vocab_desc_default ();
  sm_tokenizer *tok = NULL;
  sm_error err = { 0 };

  d.type = SM_VOCAB_SPM;
  d.n_tokens = G_N_ELEMENTS (texts);
  d.texts = texts;
  d.scores = scores;
  d.types = types;
  d.add_bos = add_bos;
  g_assert_cmpint (sm_tokenizer_new (&d, &tok, &err), ==, SM_OK);
  return tok;
}

static void
test_spm_rules (void)
{
  sm_tokenizer *tok = tiny_spm (-1);
  sm_tokenizer *nobos = tiny_spm (0);

  /* "▁ab" scores highest once "▁a" formed: ▁+a (-1.5) then ▁a+b (-0.5). */
  CHECK (tok, "ab", false, false, 13);
  /* BOS by default for SPM when add_bos_token is absent; the key turns it off. */
  CHECK (tok, "ab", true, false, 1, 13);
  CHECK (nobos, "ab", true, false, 13);
  /* Unknown character "你" (E4 BD A0): byte tokens. */
  CHECK (tok, "\xe4\xbd\xa0", false, false, 8, 5, 6, 7);
  /* User-defined tokens are split out even without parse_special; the text after a special
   * token gets the space prefix again. */
  CHECK (tok, "a<|user|>b", false, false, 12, 14, 8, 10);
  /* Control tokens only with parse_special; as plain text, characters without a token or a
   * byte token become <unk> (llama.cpp would abort there). */
  CHECK (tok, "<s>a", false, true, 1, 12);
  CHECK (tok, "<s>a", false, false, 8, 0, 0, 0, 9);
  sm_tokenizer_free (tok);
  sm_tokenizer_free (nobos);
}

static void
test_bpe_rules (void)
{
  /* A toy byte-level BPE: single bytes a b c, "Ġ" (space), merges a+b (rank 0), ab+c (1),
   * Ġ+a (2). */
  static const char *texts[] = { "a", "b", "c", "\xc4\xa0", "ab", "abc", "\304\240a", "<|x|>" };
  static const int32_t types[] = { 1, 1, 1, 1, 1, 1, 1, 3 };
  static const char *merges[] = { "a b", "ab c", "\xc4\xa0 a", "broken" };
  sm_vocab_desc d = sm_vocab_desc_default ();
  sm_tokenizer *tok = NULL;
  sm_error err = { 0 };

  d.type = SM_VOCAB_BPE;
  d.pre = "gpt-2";
  d.n_tokens = G_N_ELEMENTS (texts);
  d.texts = texts;
  d.types = types;
  d.n_merges = G_N_ELEMENTS (merges);
  d.merges = merges;
  d.bos = 7;
  g_assert_cmpint (sm_tokenizer_new (&d, &tok, &err), ==, SM_OK);
  CHECK (tok, "abc", false, false, 5);
  /* " abc": the space stays with the word; a+b (rank 0) beats Ġ+a (rank 2), then ab+c. */
  CHECK (tok, " abc", false, false, 3, 5);
  CHECK (tok, "cab", false, false, 2, 4);
  /* Bytes with no token are dropped, as llama.cpp does. */
  CHECK (tok, "a!b", false, false, 0, 1);
  CHECK (tok, "<|x|>", false, true, 7);
  /* gpt-2 pre-tokenizer: no BOS. */
  CHECK (tok, "ab", true, false, 4);
  sm_tokenizer_free (tok);

  /* Unknown pre-tokenizers and vocabularies without merges are refused. */
  d.pre = "no-such-pre";
  g_assert_cmpint (sm_tokenizer_new (&d, &tok, &err), ==, SM_ERR_UNSUPPORTED);
  g_assert_null (tok);
  g_assert_nonnull (strstr (err.msg, "no-such-pre"));
  d.pre = "qwen2";
  d.n_merges = 0;
  g_assert_cmpint (sm_tokenizer_new (&d, &tok, &err), ==, SM_ERR_FORMAT);
}

static void
test_bad_input (void)
{
  sm_tokenizer *tok = load_vocab ("llama-bpe");
  sm_token *a = NULL, *b = NULL;
  size_t na, nb;
  sm_error err = { 0 };

  SKIP_IF_NULL (tok);
  /* Invalid UTF-8 reads as U+FFFD, byte by byte, like llama.cpp. */
  g_assert_cmpint (sm_tokenizer_tokenize (tok, "x\xff\xe4 y", 5, false, false, &a, &na, &err), ==,
                   SM_OK);
  g_assert_cmpint (sm_tokenizer_tokenize (tok, "x\xef\xbf\xbd\xef\xbf\xbd y", 9, false, false,
                                          &b, &nb, &err), ==, SM_OK);
  g_assert_cmpuint (na, ==, nb);
  g_assert_cmpmem (a, na * sizeof *a, b, nb * sizeof *b);
  free (a);
  free (b);
  /* Embedded NUL bytes are text too. */
  g_assert_cmpint (sm_tokenizer_tokenize (tok, "a\0b", 3, false, false, &a, &na, &err), ==, SM_OK);
  g_assert_cmpuint (na, >=, 2);
  free (a);
  sm_tokenizer_free (tok);
}

/* ---- detokenize ---- */

static void
roundtrip (const sm_tokenizer *tok, const char *text, const char *expect)
{
  sm_token *ids = NULL;
  size_t n = 0, len = 0;
  sm_error err = { 0 };
  char *back;

  g_assert_cmpint (sm_tokenizer_tokenize (tok, text, strlen (text), true, false, &ids, &n, &err),
                   ==, SM_OK);
  back = sm_tokenizer_detokenize (tok, ids, n, false, &len);
  g_assert_nonnull (back);
  g_assert_cmpstr (back, ==, expect);
  g_assert_cmpuint (len, ==, strlen (expect));
  free (back);
  free (ids);
}

static void
test_detokenize (void)
{
  static const char *texts[] = {
    "Hello world", "你好，世界！🦙 café 12345", "  spaces\n\n\ttabs  ", "int x = a[i] + 42; // it's",
  };
  sm_tokenizer *spm = load_vocab ("llama-spm");
  sm_tokenizer *bpe = load_vocab ("llama-bpe");
  size_t len;
  const char *p;

  SKIP_IF_NULL (spm);
  SKIP_IF_NULL (bpe);
  for (size_t i = 0; i < G_N_ELEMENTS (texts); i++)
    {
      g_autofree char *spaced = g_strconcat (" ", texts[i], NULL);

      roundtrip (bpe, texts[i], texts[i]);   /* BOS hidden: it is a control token */
      roundtrip (spm, texts[i], spaced);     /* SPM's space prefix comes back */
    }

  /* Control tokens: hidden unless asked for. */
  p = sm_tokenizer_get_piece (bpe, 128009, false, &len);
  g_assert_cmpuint (len, ==, 0);
  p = sm_tokenizer_get_piece (bpe, 128009, true, &len);
  g_assert_cmpmem (p, len, "<|eot_id|>", 10);
  /* SPM byte token and "▁" pieces. */
  p = sm_tokenizer_get_piece (spm, 13, false, &len);
  g_assert_cmpmem (p, len, "\n", 1);
  p = sm_tokenizer_get_piece (spm, 15043, false, &len);
  g_assert_cmpmem (p, len, " Hello", 6);
  /* BPE pieces in the byte alphabet: "ĠHello" is " Hello". */
  p = sm_tokenizer_get_piece (bpe, 22691, false, &len);
  g_assert_cmpmem (p, len, " Hello", 6);
  p = sm_tokenizer_get_piece (bpe, -1, false, &len);
  g_assert_cmpuint (len, ==, 0);
  sm_tokenizer_free (spm);
  sm_tokenizer_free (bpe);
}

static void
test_streaming (void)
{
  /* 🦙 in llama-spm is four byte tokens; in llama-bpe "🦙" is 9468 99 247 (F0 9F, A6, 99). */
  static const sm_token spm_ids[] = { 15043, 243, 162, 169, 156, 3186 };
  sm_tokenizer *spm = load_vocab ("llama-spm");
  sm_tokenizer *bpe = load_vocab ("llama-bpe");
  sm_detokenizer *d;
  const char *p;
  size_t len;
  g_autoptr(GString) all = g_string_new (NULL);

  SKIP_IF_NULL (spm);
  SKIP_IF_NULL (bpe);
  d = sm_detokenizer_new (spm, false, true);
  g_assert_nonnull (d);
  for (size_t i = 0; i < G_N_ELEMENTS (spm_ids); i++)
    {
      p = sm_detokenizer_push (d, spm_ids[i], &len);
      g_assert_nonnull (p);
      /* Nothing comes out while the emoji is unfinished. */
      if (i >= 1 && i <= 3)
        g_assert_cmpuint (len, ==, 0);
      if (i == 4)
        g_assert_cmpmem (p, len, "\xf0\x9f\xa6\x99", 4);
      g_string_append_len (all, p, (gssize) len);
    }
  p = sm_detokenizer_flush (d, &len);
  g_assert_cmpuint (len, ==, 0);
  /* The first leading space is stripped, the rest kept. */
  g_assert_cmpstr (all->str, ==, "Hello\xf0\x9f\xa6\x99 world");

  /* A stream that ends inside a character: U+FFFD, then a clean restart. */
  p = sm_detokenizer_push (d, 243, &len);
  g_assert_cmpuint (len, ==, 0);
  p = sm_detokenizer_push (d, 162, &len);
  g_assert_cmpuint (len, ==, 0);
  p = sm_detokenizer_flush (d, &len);
  g_assert_cmpmem (p, len, "\xef\xbf\xbd", 3);
  p = sm_detokenizer_push (d, 15043, &len);
  g_assert_cmpmem (p, len, "Hello", 5);
  sm_detokenizer_free (d);

  d = sm_detokenizer_new (bpe, false, false);
  p = sm_detokenizer_push (d, 9468, &len);
  g_assert_cmpuint (len, ==, 0);
  p = sm_detokenizer_push (d, 99, &len);
  g_assert_cmpuint (len, ==, 0);
  p = sm_detokenizer_push (d, 247, &len);
  g_assert_cmpmem (p, len, "\xf0\x9f\xa6\x99", 4);
  /* Control tokens stay hidden in the stream. */
  p = sm_detokenizer_push (d, 128009, &len);
  g_assert_cmpuint (len, ==, 0);
  sm_detokenizer_free (d);
  sm_detokenizer_free (NULL);
  sm_tokenizer_free (spm);
  sm_tokenizer_free (bpe);
}

/* Random text: tokenizing never fails and stays in range; valid UTF-8 comes back unchanged from
 * the detokenizer (SPM: after its one prefix space). */
static void
test_random_text (void)
{
  static const char *pool[] = {
    "a", "Z", " ", "  ", "\n", "\r\n", "\t", "'s", "1", "42", ".", "!?", "$", "<", ">", "|", "`",
    "\xe4\xbd\xa0", "\xe5\xa5\xbd", "\xc3\xa9", "e\xcc\x81", "\xf0\x9f\xa6\x99", "\xe2\x80\x8d",
    "\xc2\xa0", "\xe3\x80\x80", "<s>", "</s>", "<|im_start|>", "<|eot_id|>", "<unk>", "[INST]",
  };
  const char *names[] = { "llama-spm", "llama-bpe", "qwen2" };
  GRand *rand = g_rand_new_with_seed (42);

  for (size_t v = 0; v < G_N_ELEMENTS (names); v++)
    {
      sm_tokenizer *tok = load_vocab (names[v]);
      bool spm;

      SKIP_IF_NULL (tok);
      spm = sm_tokenizer_get_type (tok) == SM_VOCAB_SPM;
      for (int round = 0; round < 150; round++)
        {
          g_autoptr(GString) text = g_string_new (NULL);
          char raw[48];
          int n = g_rand_int_range (rand, 0, 16);
          sm_token *ids = NULL;
          size_t n_ids = 0, len = 0;
          sm_error err = { 0 };
          char *back;

          for (int k = 0; k < n; k++)
            g_string_append (text, pool[g_rand_int_range (rand, 0, G_N_ELEMENTS (pool))]);
          g_assert_cmpint (sm_tokenizer_tokenize (tok, text->str, text->len, false, false, &ids,
                                                  &n_ids, &err), ==, SM_OK);
          for (size_t i = 0; i < n_ids; i++)
            g_assert_cmpuint ((uint32_t) ids[i], <, sm_tokenizer_n_tokens (tok));
          back = sm_tokenizer_detokenize (tok, ids, n_ids, false, &len);
          if (spm && text->len > 0)
            {
              g_assert_cmpuint (len, ==, text->len + 1);
              g_assert_cmpmem (back + 1, len - 1, text->str, text->len);
            }
          else
            g_assert_cmpmem (back, len, text->str, text->len);
          free (back);
          free (ids);

          /* Arbitrary bytes, specials parsed: only success and ranges are checked. */
          for (size_t i = 0; i < sizeof raw; i++)
            raw[i] = (char) g_rand_int_range (rand, 0, 256);
          g_assert_cmpint (sm_tokenizer_tokenize (tok, raw, (size_t) g_rand_int_range (rand, 0, 48),
                                                  true, true, &ids, &n_ids, &err), ==, SM_OK);
          for (size_t i = 0; i < n_ids; i++)
            g_assert_cmpuint ((uint32_t) ids[i], <, sm_tokenizer_n_tokens (tok));
          free (ids);
        }
      sm_tokenizer_free (tok);
    }
  g_rand_free (rand);
}

static void
test_load_errors (void)
{
  const char *shared = g_getenv ("SMELT_SHARED_DIR");
  g_autofree char *path = NULL;
  sm_gguf *g = NULL;
  sm_tokenizer *tok = NULL;
  sm_error err = { 0 };

  if (!shared)
    {
      g_test_skip ("SMELT_SHARED_DIR not set");
      return;
    }
  /* A model file whose tokenizer loads: stories260K (SPM, 512 tokens). */
  path = g_build_filename (shared, "fixtures", "models", "stories260K.gguf", NULL);
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("stories260K.gguf not found");
      return;
    }
  g_assert_cmpint (sm_gguf_open (path, &g, &err), ==, SM_OK);
  g_assert_cmpint (sm_tokenizer_load (g, &tok, &err), ==, SM_OK);
  g_assert_cmpuint (sm_tokenizer_n_tokens (tok), ==, 512);
  /* No add_bos_token key: SPM adds BOS anyway. */
  g_assert_true (sm_tokenizer_get_add_bos (tok));
  sm_tokenizer_free (tok);
  sm_gguf_free (g);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/unicode/tables-and-utf8", test_unicode);
  g_test_add_func ("/tokenizer/spm-ids", test_spm_ids);
  g_test_add_func ("/tokenizer/phi3-ids", test_phi3_ids);
  g_test_add_func ("/tokenizer/llama3-ids", test_llama3_ids);
  g_test_add_func ("/tokenizer/qwen2-ids", test_qwen2_ids);
  g_test_add_func ("/tokenizer/gpt2-ids", test_gpt2_ids);
  g_test_add_func ("/tokenizer/other-pre-tokenizers", test_other_pre);
  g_test_add_func ("/tokenizer/spm-rules", test_spm_rules);
  g_test_add_func ("/tokenizer/bpe-rules", test_bpe_rules);
  g_test_add_func ("/tokenizer/bad-input", test_bad_input);
  g_test_add_func ("/tokenizer/detokenize", test_detokenize);
  g_test_add_func ("/tokenizer/random-text", test_random_text);
  g_test_add_func ("/tokenizer/streaming", test_streaming);
  g_test_add_func ("/tokenizer/model-file", test_load_errors);
  return g_test_run ();
}
