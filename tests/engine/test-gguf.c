/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-gguf.c: the GGUF reader and writer (sm-gguf.h).
 *
 * - every fixture in ../shared/fixtures/{vocab,models} parses, with values known from outside
 *   the files (vocabulary sizes, special token ids and texts, stories260K's published shape);
 * - read(write(x)) == x for every value type, arrays, tensor data and layout, copy_kv;
 * - split output (3 parts) written and reopened, and the split errors on disk;
 * - hand-made hostile files built byte by byte, each asserting its precise error;
 * - open does not touch tensor data (mincore over a sparse file, with a positive control).
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sm-gguf.h"

/* ---- helpers ---- */

static char *
fixture (const char *sub,
         const char *name)
{
  const char *shared = g_getenv ("SMELT_SHARED_DIR");

  g_assert_nonnull (shared);
  return g_build_filename (shared, "fixtures", sub, name, NULL);
}

static sm_gguf *
open_ok (const char *path)
{
  sm_gguf *g = NULL;
  sm_error err = { 0 };

  if (sm_gguf_open (path, &g, &err) != SM_OK)
    g_error ("cannot open %s: %s", path, err.msg);
  g_assert_nonnull (g);
  return g;
}

static uint32_t
key_u32 (const sm_gguf *g,
         const char    *key)
{
  int64_t i = sm_gguf_find_key (g, key);

  g_assert_cmpint (i, >=, 0);
  g_assert_cmpint (sm_gguf_get_kv_type (g, i), ==, SM_GGUF_TYPE_UINT32);
  return sm_gguf_get_u32 (g, i);
}

static char *
key_str (const sm_gguf *g,
         const char    *key)
{
  sm_gguf_str s;

  g_assert_true (sm_gguf_find_str (g, key, &s));
  return g_strndup (s.ptr, s.len);
}

static uint64_t
arr_n (const sm_gguf *g,
       const char    *key,
       sm_gguf_type   elem)
{
  int64_t i = sm_gguf_find_key (g, key);

  g_assert_cmpint (i, >=, 0);
  g_assert_cmpint (sm_gguf_get_kv_type (g, i), ==, SM_GGUF_TYPE_ARRAY);
  g_assert_cmpint (sm_gguf_get_arr_type (g, i), ==, elem);
  return sm_gguf_get_arr_n (g, i);
}

static void
assert_token (const sm_gguf *g,
              uint64_t       id,
              const char    *text)
{
  int64_t i = sm_gguf_find_key (g, "tokenizer.ggml.tokens");
  sm_gguf_str s = sm_gguf_get_arr_str (g, i, id);

  g_assert_cmpmem (s.ptr, s.len, text, strlen (text));
}

/* Properties every well-formed file has: the index finds every key and tensor, tensors lie
 * inside the file, and (for llama.cpp-written files) in info order, each padded. */
static void
check_consistent (const sm_gguf *g,
                  gboolean       llama_layout)
{
  uint64_t expect_offset = 0;
  uint32_t part = 0;

  g_assert_cmpuint (sm_gguf_get_data_offset (g) % sm_gguf_get_alignment (g), ==, 0);
  for (int64_t i = 0; i < sm_gguf_get_n_kv (g); i++)
    g_assert_cmpint (sm_gguf_find_key (g, sm_gguf_get_key (g, i)), ==, i);
  g_assert_cmpint (sm_gguf_find_key (g, "no.such.key"), ==, -1);
  for (int64_t i = 0; i < sm_gguf_get_n_tensors (g); i++)
    {
      const sm_gguf_tensor *t = sm_gguf_get_tensor (g, i);
      const sm_type_traits *tr = sm_type_get_traits (t->type);
      uint64_t data_off = sm_gguf_get_split_data_offset (g, t->split);

      g_assert_true (sm_gguf_find_tensor (g, t->name) == t);
      g_assert_nonnull (tr);
      g_assert_cmpuint (t->size, ==,
                        (uint64_t) sm_gguf_tensor_nelements (t) / tr->blck_size * tr->type_size);
      g_assert_cmpuint (data_off + t->offset + t->size, <=, sm_gguf_get_split_size (g, t->split));
      g_assert_true ((const char *) t->data == (const char *) sm_gguf_get_tensor (g, 0)->data
                                               - sm_gguf_get_tensor (g, 0)->offset
                                               + t->offset
                     || t->split != sm_gguf_get_tensor (g, 0)->split);
      if (t->split != part)
        {
          part = t->split;
          expect_offset = 0;
        }
      if (llama_layout)
        g_assert_cmpuint (t->offset, ==, expect_offset);
      expect_offset += t->size + (sm_gguf_get_alignment (g) - t->size % sm_gguf_get_alignment (g))
                       % sm_gguf_get_alignment (g);
    }
  g_assert_null (sm_gguf_find_tensor (g, "no.such.tensor"));
}

/* ---- fixtures ---- */

static void
test_fixture_vocab_spm (void)
{
  g_autofree char *path = fixture ("vocab", "ggml-vocab-llama-spm.gguf");
  sm_gguf *g = open_ok (path);
  g_autofree char *arch = key_str (g, "general.architecture");
  g_autofree char *model = key_str (g, "tokenizer.ggml.model");

  g_assert_cmpuint (sm_gguf_get_version (g), ==, 3);
  g_assert_cmpstr (arch, ==, "llama");
  g_assert_cmpstr (model, ==, "llama");
  /* Llama 2's SentencePiece vocabulary: 32000 pieces, <unk>=0 <s>=1 </s>=2. */
  g_assert_cmpuint (arr_n (g, "tokenizer.ggml.tokens", SM_GGUF_TYPE_STRING), ==, 32000);
  g_assert_cmpuint (arr_n (g, "tokenizer.ggml.scores", SM_GGUF_TYPE_FLOAT32), ==, 32000);
  g_assert_cmpuint (arr_n (g, "tokenizer.ggml.token_type", SM_GGUF_TYPE_INT32), ==, 32000);
  g_assert_cmpuint (key_u32 (g, "tokenizer.ggml.bos_token_id"), ==, 1);
  g_assert_cmpuint (key_u32 (g, "tokenizer.ggml.eos_token_id"), ==, 2);
  assert_token (g, 0, "<unk>");
  assert_token (g, 1, "<s>");
  assert_token (g, 2, "</s>");
  assert_token (g, 3, "<0x00>");
  assert_token (g, 258, "<0xFF>");
  {
    bool add_bos = false;

    g_assert_true (sm_gguf_find_bool (g, "tokenizer.ggml.add_bos_token", &add_bos));
    g_assert_true (add_bos);
  }
  g_assert_cmpint (sm_gguf_get_n_tensors (g), ==, 0);
  check_consistent (g, TRUE);
  sm_gguf_free (g);
}

static void
test_fixture_vocab_llama_bpe (void)
{
  g_autofree char *path = fixture ("vocab", "ggml-vocab-llama-bpe.gguf");
  sm_gguf *g = open_ok (path);
  g_autofree char *pre = key_str (g, "tokenizer.ggml.pre");
  uint64_t v;

  /* Llama 3: 128256 tokens (128000 BPE + 256 special), 280147 merges. */
  g_assert_cmpstr (pre, ==, "llama-bpe");
  g_assert_cmpuint (arr_n (g, "tokenizer.ggml.tokens", SM_GGUF_TYPE_STRING), ==, 128256);
  g_assert_cmpuint (arr_n (g, "tokenizer.ggml.merges", SM_GGUF_TYPE_STRING), ==, 280147);
  g_assert_cmpuint (key_u32 (g, "tokenizer.ggml.bos_token_id"), ==, 128000);
  assert_token (g, 128000, "<|begin_of_text|>");
  assert_token (g, 128001, "<|end_of_text|>");
  assert_token (g, 0, "!");
  g_assert_true (sm_gguf_find_uint (g, "llama.vocab_size", &v));
  g_assert_cmpuint (v, ==, 128256);
  check_consistent (g, TRUE);
  sm_gguf_free (g);
}

static void
test_fixture_vocab_others (void)
{
  static const struct
  {
    const char *file, *arch, *model;
    uint64_t    n_tokens, n_merges;
    uint32_t    eos;
    const char *eos_text;
  } expect[] = {
    /* GPT-2: 50257 tokens, 50000 merges, <|endoftext|> = 50256 */
    { "ggml-vocab-gpt-2.gguf", "gpt2", "gpt2", 50257, 50000, 50256, "<|endoftext|>" },
    /* Qwen2: 151936 embedding rows, 151387 merges, <|endoftext|> = 151643 */
    { "ggml-vocab-qwen2.gguf", "qwen2", "gpt2", 151936, 151387, 151643, "<|endoftext|>" },
    /* Phi-3: Llama's 32000 + 64 added, <|endoftext|> = 32000 */
    { "ggml-vocab-phi-3.gguf", "phi3", "llama", 32064, 0, 32000, "<|endoftext|>" },
  };

  for (gsize k = 0; k < G_N_ELEMENTS (expect); k++)
    {
      g_autofree char *path = fixture ("vocab", expect[k].file);
      sm_gguf *g = open_ok (path);
      g_autofree char *arch = key_str (g, "general.architecture");
      g_autofree char *model = key_str (g, "tokenizer.ggml.model");

      g_assert_cmpstr (arch, ==, expect[k].arch);
      g_assert_cmpstr (model, ==, expect[k].model);
      g_assert_cmpuint (arr_n (g, "tokenizer.ggml.tokens", SM_GGUF_TYPE_STRING), ==,
                        expect[k].n_tokens);
      if (expect[k].n_merges > 0)
        g_assert_cmpuint (arr_n (g, "tokenizer.ggml.merges", SM_GGUF_TYPE_STRING), ==,
                          expect[k].n_merges);
      else
        g_assert_cmpint (sm_gguf_find_key (g, "tokenizer.ggml.merges"), ==, -1);
      g_assert_cmpuint (key_u32 (g, "tokenizer.ggml.eos_token_id"), ==, expect[k].eos);
      assert_token (g, expect[k].eos, expect[k].eos_text);
      check_consistent (g, TRUE);
      sm_gguf_free (g);
    }
}

static void
test_fixture_stories260k (void)
{
  g_autofree char *path = fixture ("models", "stories260K.gguf");
  sm_gguf *g = open_ok (path);
  const sm_gguf_tensor *t;
  double eps;
  float first;

  /* llama2.c's stories260K: dim 64, 5 layers, 8 heads, 4 KV heads, hidden 172, vocab 512. */
  g_assert_cmpuint (key_u32 (g, "llama.embedding_length"), ==, 64);
  g_assert_cmpuint (key_u32 (g, "llama.block_count"), ==, 5);
  g_assert_cmpuint (key_u32 (g, "llama.attention.head_count"), ==, 8);
  g_assert_cmpuint (key_u32 (g, "llama.attention.head_count_kv"), ==, 4);
  g_assert_cmpuint (key_u32 (g, "llama.feed_forward_length"), ==, 172);
  g_assert_cmpuint (arr_n (g, "tokenizer.ggml.tokens", SM_GGUF_TYPE_STRING), ==, 512);
  g_assert_cmpuint (key_u32 (g, "tokenizer.ggml.bos_token_id"), ==, 1);
  g_assert_true (sm_gguf_find_float (g, "llama.attention.layer_norm_rms_epsilon", &eps));
  g_assert_cmpfloat_with_epsilon (eps, 1e-5, 1e-9);
  /* token_embd + output_norm + output + 9 per layer */
  g_assert_cmpint (sm_gguf_get_n_tensors (g), ==, 3 + 5 * 9);
  t = sm_gguf_find_tensor (g, "token_embd.weight");
  g_assert_nonnull (t);
  g_assert_cmpint (t->type, ==, SM_TYPE_F32);
  g_assert_cmpuint (t->n_dims, ==, 2);
  g_assert_cmpint (t->ne[0], ==, 64);
  g_assert_cmpint (t->ne[1], ==, 512);
  g_assert_cmpuint (t->size, ==, 64 * 512 * 4);
  t = sm_gguf_find_tensor (g, "blk.4.ffn_down.weight");
  g_assert_nonnull (t);
  g_assert_cmpint (t->ne[0], ==, 172);
  g_assert_cmpint (t->ne[1], ==, 64);
  t = sm_gguf_find_tensor (g, "blk.2.attn_k.weight");
  g_assert_cmpint (t->ne[1], ==, 32); /* 4 KV heads x head_dim 8 */
  for (int64_t i = 0; i < sm_gguf_get_n_tensors (g); i++)
    g_assert_cmpint (sm_gguf_get_tensor (g, i)->type, ==, SM_TYPE_F32);
  /* RMS norm weights of a trained model are positive and not all equal to the init value. */
  t = sm_gguf_find_tensor (g, "output_norm.weight");
  memcpy (&first, t->data, 4);
  g_assert_cmpfloat (first, >, 0.0f);
  g_assert_cmpfloat (first, !=, 1.0f);
  g_assert_cmpuint (sm_gguf_get_n_splits (g), ==, 1);
  g_assert_cmpuint (sm_gguf_get_file_size (g), ==, 1185376);
  check_consistent (g, TRUE);
  sm_gguf_free (g);
}

static void
test_fixture_tiny_random (void)
{
  g_autofree char *path = fixture ("models", "llama-2-tiny-random.gguf");
  sm_gguf *g = open_ok (path);
  const sm_gguf_tensor *t;
  uint64_t ftype;

  g_assert_cmpuint (key_u32 (g, "llama.embedding_length"), ==, 8);
  g_assert_cmpuint (key_u32 (g, "llama.block_count"), ==, 1);
  g_assert_cmpuint (arr_n (g, "tokenizer.ggml.tokens", SM_GGUF_TYPE_STRING), ==, 32000);
  g_assert_true (sm_gguf_find_uint (g, "general.file_type", &ftype));
  g_assert_cmpuint (ftype, ==, SM_FTYPE_MOSTLY_F16);
  t = sm_gguf_find_tensor (g, "token_embd.weight");
  g_assert_cmpint (t->type, ==, SM_TYPE_F16);
  g_assert_cmpint (t->ne[0], ==, 8);
  g_assert_cmpint (t->ne[1], ==, 32000);
  g_assert_cmpint (sm_gguf_find_tensor (g, "blk.0.attn_norm.weight")->type, ==, SM_TYPE_F32);
  g_assert_cmpint (sm_gguf_get_n_tensors (g), ==, 12);
  check_consistent (g, TRUE);
  sm_gguf_free (g);
}

/* Every file in both fixture folders opens, from disk and from memory, with the same index. */
static void
test_fixture_all (void)
{
  const char *subs[] = { "vocab", "models" };
  int n_files = 0;

  for (gsize s = 0; s < G_N_ELEMENTS (subs); s++)
    {
      g_autofree char *dir_path = fixture (subs[s], "");
      g_autoptr(GDir) dir = g_dir_open (dir_path, 0, NULL);
      const char *name;

      g_assert_nonnull (dir);
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *path = g_build_filename (dir_path, name, NULL);
          g_autofree char *bytes = NULL;
          gsize len;
          sm_gguf *g, *m = NULL;
          sm_error err = { 0 };

          if (!g_str_has_suffix (name, ".gguf"))
            continue;
          g = open_ok (path);
          g_assert_true (g_file_get_contents (path, &bytes, &len, NULL));
          g_assert_cmpint (sm_gguf_open_memory (bytes, len, &m, &err), ==, SM_OK);
          g_assert_cmpint (sm_gguf_get_n_kv (m), ==, sm_gguf_get_n_kv (g));
          g_assert_cmpint (sm_gguf_get_n_tensors (m), ==, sm_gguf_get_n_tensors (g));
          g_assert_cmpuint (sm_gguf_get_data_offset (m), ==, sm_gguf_get_data_offset (g));
          g_assert_null (sm_gguf_get_split_path (m, 0));
          g_assert_cmpstr (sm_gguf_get_split_path (g, 0), ==, path);
          for (int64_t i = 0; i < sm_gguf_get_n_tensors (g); i++)
            g_assert_cmpmem (sm_gguf_get_tensor (g, i)->data, sm_gguf_get_tensor (g, i)->size,
                             sm_gguf_get_tensor (m, i)->data, sm_gguf_get_tensor (m, i)->size);
          check_consistent (g, TRUE);
          sm_gguf_free (m);
          sm_gguf_free (g);
          n_files++;
        }
    }
  g_assert_cmpint (n_files, >=, 7);
}

/* ---- writer round trips ---- */

typedef struct
{
  char *dir;
} TmpDir;

static void
tmp_setup (TmpDir       *t,
           gconstpointer data)
{
  t->dir = g_dir_make_tmp ("smelt-gguf-XXXXXX", NULL);
  g_assert_nonnull (t->dir);
}

static void
rm_rf (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  if (d == NULL)
    return;
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *p = g_build_filename (dir, name, NULL);

      g_remove (p);
    }
  g_rmdir (dir);
}

static void
tmp_teardown (TmpDir       *t,
              gconstpointer data)
{
  rm_rf (t->dir);
  g_free (t->dir);
}

static int
count_files (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  int n = 0;

  while (g_dir_read_name (d) != NULL)
    n++;
  return n;
}

static void
fill_pattern (uint8_t *p,
              size_t   n,
              uint32_t seed)
{
  uint32_t x = seed * 2654435761u + 1;

  for (size_t i = 0; i < n; i++)
    {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      p[i] = (uint8_t) x;
    }
}

typedef struct
{
  const char *name;
  sm_type     type;
  uint32_t    n_dims;
  int64_t     ne[4];
} TensorSpec;

static const TensorSpec round_trip_tensors[] = {
  { "token_embd.weight", SM_TYPE_Q4_0, 2, { 64, 5 } },
  { "blk.0.attn_norm.weight", SM_TYPE_F32, 1, { 13 } },
  { "blk.0.ffn_up.weight", SM_TYPE_Q4_K, 2, { 256, 3 } },
  { "blk.0.cube", SM_TYPE_BF16, 3, { 5, 7, 2 } },
  { "blk.0.hyper", SM_TYPE_I8, 4, { 3, 1, 2, 2 } },
  { "empty", SM_TYPE_F16, 2, { 0, 4 } },
  { "output.weight", SM_TYPE_IQ4_XS, 2, { 512, 2 } },
};

static void
add_all_metadata (sm_gguf_writer *w)
{
  static const uint8_t u8s[] = { 0, 1, 255 };
  static const int16_t i16s[] = { -32768, 0, 32767 };
  static const float f32s[] = { 1.5f, -0.0f, 3.4e38f, 1e-30f };
  static const uint64_t u64s[] = { 0, UINT64_MAX };
  static const double f64s[] = { 3.141592653589793, -1e300 };
  static const uint8_t bools[] = { 1, 0, 1 };
  static const char *const strs[] = { "", "a", "tokens with spaces", "\xe4\xb8\xad\xe6\x96\x87" };

  sm_gguf_writer_set_str (w, "general.architecture", "llama");
  sm_gguf_writer_set_u8 (w, "t.u8", 200);
  sm_gguf_writer_set_i8 (w, "t.i8", -100);
  sm_gguf_writer_set_u16 (w, "t.u16", 65535);
  sm_gguf_writer_set_i16 (w, "t.i16", -30000);
  sm_gguf_writer_set_u32 (w, "t.u32", 4000000000u);
  sm_gguf_writer_set_i32 (w, "t.i32", -2000000000);
  sm_gguf_writer_set_f32 (w, "t.f32", 0.125f);
  sm_gguf_writer_set_bool (w, "t.bool", true);
  sm_gguf_writer_set_u64 (w, "t.u64", UINT64_MAX - 1);
  sm_gguf_writer_set_i64 (w, "t.i64", INT64_MIN);
  sm_gguf_writer_set_f64 (w, "t.f64", 2.718281828459045);
  sm_gguf_writer_set_strn (w, "t.strn", "nul\0inside", 10);
  sm_gguf_writer_set_str (w, "t.empty", "");
  sm_gguf_writer_set_arr_data (w, "a.u8", SM_GGUF_TYPE_UINT8, u8s, 3);
  sm_gguf_writer_set_arr_data (w, "a.i16", SM_GGUF_TYPE_INT16, i16s, 3);
  sm_gguf_writer_set_arr_data (w, "a.f32", SM_GGUF_TYPE_FLOAT32, f32s, 4);
  sm_gguf_writer_set_arr_data (w, "a.u64", SM_GGUF_TYPE_UINT64, u64s, 2);
  sm_gguf_writer_set_arr_data (w, "a.f64", SM_GGUF_TYPE_FLOAT64, f64s, 2);
  sm_gguf_writer_set_arr_data (w, "a.bool", SM_GGUF_TYPE_BOOL, bools, 3);
  sm_gguf_writer_set_arr_data (w, "a.none", SM_GGUF_TYPE_INT32, NULL, 0);
  sm_gguf_writer_set_arr_str (w, "a.str", strs, 4);
  /* Replacing keeps the position; removing drops the key. */
  sm_gguf_writer_set_u8 (w, "t.u8", 201);
  sm_gguf_writer_set_str (w, "t.gone", "x");
  sm_gguf_writer_remove_key (w, "t.gone");
}

static void
check_all_metadata (const sm_gguf *g)
{
  int64_t i;
  sm_gguf_str s;
  const float *f;

  g_assert_cmpint (sm_gguf_get_n_kv (g), ==, 22);
  g_assert_cmpstr (sm_gguf_get_key (g, 0), ==, "general.architecture");
  g_assert_cmpstr (sm_gguf_get_key (g, 1), ==, "t.u8");
  g_assert_cmpuint (sm_gguf_get_u8 (g, 1), ==, 201);
  g_assert_cmpint (sm_gguf_get_i8 (g, sm_gguf_find_key (g, "t.i8")), ==, -100);
  g_assert_cmpuint (sm_gguf_get_u16 (g, sm_gguf_find_key (g, "t.u16")), ==, 65535);
  g_assert_cmpint (sm_gguf_get_i16 (g, sm_gguf_find_key (g, "t.i16")), ==, -30000);
  g_assert_cmpuint (sm_gguf_get_u32 (g, sm_gguf_find_key (g, "t.u32")), ==, 4000000000u);
  g_assert_cmpint (sm_gguf_get_i32 (g, sm_gguf_find_key (g, "t.i32")), ==, -2000000000);
  g_assert_cmpfloat (sm_gguf_get_f32 (g, sm_gguf_find_key (g, "t.f32")), ==, 0.125f);
  g_assert_true (sm_gguf_get_bool (g, sm_gguf_find_key (g, "t.bool")));
  g_assert_cmpuint (sm_gguf_get_u64 (g, sm_gguf_find_key (g, "t.u64")), ==, UINT64_MAX - 1);
  g_assert_cmpint (sm_gguf_get_i64 (g, sm_gguf_find_key (g, "t.i64")), ==, INT64_MIN);
  g_assert_cmpfloat (sm_gguf_get_f64 (g, sm_gguf_find_key (g, "t.f64")), ==, 2.718281828459045);
  s = sm_gguf_get_str (g, sm_gguf_find_key (g, "t.strn"));
  g_assert_cmpmem (s.ptr, s.len, "nul\0inside", 10);
  s = sm_gguf_get_str (g, sm_gguf_find_key (g, "t.empty"));
  g_assert_cmpuint (s.len, ==, 0);
  g_assert_cmpint (sm_gguf_find_key (g, "t.gone"), ==, -1);

  i = sm_gguf_find_key (g, "a.u8");
  g_assert_cmpint (sm_gguf_get_arr_type (g, i), ==, SM_GGUF_TYPE_UINT8);
  g_assert_cmpmem (sm_gguf_get_arr_data (g, i), sm_gguf_get_arr_n (g, i), "\x00\x01\xff", 3);
  i = sm_gguf_find_key (g, "a.i16");
  g_assert_cmpuint (sm_gguf_get_arr_n (g, i), ==, 3);
  {
    int16_t v[3];

    memcpy (v, sm_gguf_get_arr_data (g, i), sizeof v);
    g_assert_cmpint (v[0], ==, -32768);
    g_assert_cmpint (v[2], ==, 32767);
  }
  i = sm_gguf_find_key (g, "a.f32");
  f = sm_gguf_get_arr_data (g, i);
  {
    float v[4];

    memcpy (v, f, sizeof v);
    g_assert_cmpfloat (v[0], ==, 1.5f);
    g_assert_true (signbit (v[1]));
    g_assert_cmpfloat (v[2], ==, 3.4e38f);
  }
  i = sm_gguf_find_key (g, "a.u64");
  {
    uint64_t v[2];

    memcpy (v, sm_gguf_get_arr_data (g, i), sizeof v);
    g_assert_cmpuint (v[1], ==, UINT64_MAX);
  }
  i = sm_gguf_find_key (g, "a.f64");
  {
    double v[2];

    memcpy (v, sm_gguf_get_arr_data (g, i), sizeof v);
    g_assert_cmpfloat (v[0], ==, 3.141592653589793);
    g_assert_cmpfloat (v[1], ==, -1e300);
  }
  i = sm_gguf_find_key (g, "a.bool");
  g_assert_cmpint (sm_gguf_get_arr_type (g, i), ==, SM_GGUF_TYPE_BOOL);
  g_assert_cmpmem (sm_gguf_get_arr_data (g, i), 3, "\x01\x00\x01", 3);
  i = sm_gguf_find_key (g, "a.none");
  g_assert_cmpint (sm_gguf_get_arr_type (g, i), ==, SM_GGUF_TYPE_INT32);
  g_assert_cmpuint (sm_gguf_get_arr_n (g, i), ==, 0);
  i = sm_gguf_find_key (g, "a.str");
  g_assert_cmpuint (sm_gguf_get_arr_n (g, i), ==, 4);
  s = sm_gguf_get_arr_str (g, i, 0);
  g_assert_cmpuint (s.len, ==, 0);
  s = sm_gguf_get_arr_str (g, i, 2);
  g_assert_cmpmem (s.ptr, s.len, "tokens with spaces", 18);
  s = sm_gguf_get_arr_str (g, i, 3);
  g_assert_cmpmem (s.ptr, s.len, "\xe4\xb8\xad\xe6\x96\x87", 6);
}

/* Writes the round-trip tensors with patterned data; returns the data buffers. */
static GPtrArray *
write_round_trip (const char *path,
                  uint32_t    alignment,
                  uint64_t    split_bytes,
                  uint32_t    split_tensors,
                  uint32_t   *n_outputs)
{
  sm_gguf_writer *w = sm_gguf_writer_new ();
  GPtrArray *datas = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  sm_error err = { 0 };

  add_all_metadata (w);
  if (alignment != SM_GGUF_DEFAULT_ALIGNMENT)
    sm_gguf_writer_set_u32 (w, "general.alignment", alignment);
  for (gsize i = 0; i < G_N_ELEMENTS (round_trip_tensors); i++)
    {
      const TensorSpec *t = &round_trip_tensors[i];

      g_assert_cmpint (sm_gguf_writer_add_tensor (w, t->name, t->type, t->n_dims, t->ne, &err),
                       ==, SM_OK);
    }
  sm_gguf_writer_set_split (w, split_bytes, split_tensors);
  if (sm_gguf_writer_begin (w, path, &err) != SM_OK)
    g_error ("begin: %s", err.msg);
  for (gsize i = 0; i < G_N_ELEMENTS (round_trip_tensors); i++)
    {
      const TensorSpec *t = &round_trip_tensors[i];
      const sm_type_traits *tr = sm_type_get_traits (t->type);
      int64_t nel = 1;
      size_t size;
      uint8_t *p;

      for (uint32_t d = 0; d < t->n_dims; d++)
        nel *= t->ne[d];
      size = (size_t) nel / tr->blck_size * tr->type_size;
      p = g_malloc (size + 1);
      fill_pattern (p, size, (uint32_t) i);
      g_assert_cmpint (sm_gguf_writer_write_tensor (w, p, size, &err), ==, SM_OK);
      g_ptr_array_add (datas, g_bytes_new_take (p, size));
    }
  g_assert_cmpint (sm_gguf_writer_finish (w, &err), ==, SM_OK);
  *n_outputs = sm_gguf_writer_get_n_outputs (w);
  sm_gguf_writer_free (w);
  return datas;
}

static void
check_round_trip_tensors (const sm_gguf *g,
                          GPtrArray     *datas)
{
  g_assert_cmpint (sm_gguf_get_n_tensors (g), ==, G_N_ELEMENTS (round_trip_tensors));
  for (gsize i = 0; i < G_N_ELEMENTS (round_trip_tensors); i++)
    {
      const TensorSpec *spec = &round_trip_tensors[i];
      const sm_gguf_tensor *t = sm_gguf_get_tensor (g, (int64_t) i);
      gsize n;
      const void *d = g_bytes_get_data (datas->pdata[i], &n);

      g_assert_cmpstr (t->name, ==, spec->name);
      g_assert_cmpint (t->type, ==, spec->type);
      g_assert_cmpuint (t->n_dims, ==, spec->n_dims);
      for (uint32_t k = 0; k < 4; k++)
        g_assert_cmpint (t->ne[k], ==, k < spec->n_dims ? spec->ne[k] : 1);
      g_assert_cmpmem (t->data, t->size, d, n);
    }
}

static void
test_round_trip (TmpDir       *tmp,
                 gconstpointer data)
{
  g_autofree char *path = g_build_filename (tmp->dir, "rt.gguf", NULL);
  uint32_t n_out;
  g_autoptr(GPtrArray) datas = write_round_trip (path, 32, 0, 0, &n_out);
  sm_gguf *g = open_ok (path);
  uint64_t end = 0;
  g_autofree char *bytes = NULL;
  gsize len;

  g_assert_cmpuint (n_out, ==, 1);
  g_assert_cmpint (count_files (tmp->dir), ==, 1); /* no .part left behind */
  g_assert_cmpuint (sm_gguf_get_version (g), ==, 3);
  g_assert_cmpuint (sm_gguf_get_alignment (g), ==, 32);
  check_all_metadata (g);
  check_round_trip_tensors (g, datas);
  check_consistent (g, TRUE);
  /* llama.cpp pads after the last tensor too: the file ends on the alignment. */
  for (int64_t i = 0; i < sm_gguf_get_n_tensors (g); i++)
    end = sm_gguf_get_tensor (g, i)->offset + sm_gguf_get_tensor (g, i)->size;
  g_assert_cmpuint (sm_gguf_get_file_size (g), ==,
                    sm_gguf_get_data_offset (g) + end + (32 - end % 32) % 32);
  g_assert_cmpuint (sm_gguf_get_file_size (g) % 32, ==, 0);
  /* Padding bytes are zeros: between the infos and the data, and after each tensor. */
  g_assert_true (g_file_get_contents (path, &bytes, &len, NULL));
  for (int64_t i = 0; i < sm_gguf_get_n_tensors (g); i++)
    {
      const sm_gguf_tensor *t = sm_gguf_get_tensor (g, i);
      uint64_t from = sm_gguf_get_data_offset (g) + t->offset + t->size;

      for (uint64_t b = from; b < len && b % 32 != 0; b++)
        g_assert_cmpint (bytes[b], ==, 0);
    }
  sm_gguf_free (g);
}

static void
test_round_trip_alignment (TmpDir       *tmp,
                           gconstpointer data)
{
  g_autofree char *path = g_build_filename (tmp->dir, "rt64.gguf", NULL);
  uint32_t n_out;
  g_autoptr(GPtrArray) datas = write_round_trip (path, 256, 0, 0, &n_out);
  sm_gguf *g = open_ok (path);

  g_assert_cmpuint (sm_gguf_get_alignment (g), ==, 256);
  g_assert_cmpuint (sm_gguf_get_data_offset (g) % 256, ==, 0);
  check_round_trip_tensors (g, datas);
  for (int64_t i = 0; i < sm_gguf_get_n_tensors (g); i++)
    g_assert_cmpuint (sm_gguf_get_tensor (g, i)->offset % 256, ==, 0);
  check_consistent (g, TRUE);
  sm_gguf_free (g);
}

/* copy_kv of every key of a real vocabulary: 128k-token and 280k-merge string arrays survive. */
static void
test_copy_kv (TmpDir       *tmp,
              gconstpointer data)
{
  g_autofree char *src_path = fixture ("vocab", "ggml-vocab-llama-bpe.gguf");
  g_autofree char *path = g_build_filename (tmp->dir, "copy.gguf", NULL);
  sm_gguf *src = open_ok (src_path), *g;
  sm_gguf_writer *w = sm_gguf_writer_new ();
  sm_error err = { 0 };
  g_autofree char *a = NULL, *b = NULL;
  gsize alen, blen;

  for (int64_t i = 0; i < sm_gguf_get_n_kv (src); i++)
    sm_gguf_writer_copy_kv (w, src, i);
  g_assert_cmpint (sm_gguf_writer_begin (w, path, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_finish (w, &err), ==, SM_OK);
  sm_gguf_writer_free (w);
  g = open_ok (path);
  g_assert_cmpint (sm_gguf_get_n_kv (g), ==, sm_gguf_get_n_kv (src));
  /* The same bytes; gguf-py wrote no padding after the infos of a tensor-less file, ggml (and
   * we) always pad to the alignment. */
  g_assert_true (g_file_get_contents (src_path, &a, &alen, NULL));
  g_assert_true (g_file_get_contents (path, &b, &blen, NULL));
  g_assert_cmpuint (blen, ==, alen + (32 - alen % 32) % 32);
  g_assert_cmpmem (a, alen, b, alen);
  for (gsize k = alen; k < blen; k++)
    g_assert_cmpint (b[k], ==, 0);
  sm_gguf_free (g);
  sm_gguf_free (src);
}

/* Re-writing a real model through the writer reproduces llama.cpp's bytes exactly. */
static void
test_rewrite_model_identical (TmpDir       *tmp,
                              gconstpointer data)
{
  g_autofree char *src_path = fixture ("models", "stories260K.gguf");
  g_autofree char *path = g_build_filename (tmp->dir, "stories.gguf", NULL);
  sm_gguf *src = open_ok (src_path);
  sm_gguf_writer *w = sm_gguf_writer_new ();
  sm_error err = { 0 };
  g_autofree char *a = NULL, *b = NULL;
  gsize alen, blen;

  for (int64_t i = 0; i < sm_gguf_get_n_kv (src); i++)
    sm_gguf_writer_copy_kv (w, src, i);
  for (int64_t i = 0; i < sm_gguf_get_n_tensors (src); i++)
    {
      const sm_gguf_tensor *t = sm_gguf_get_tensor (src, i);

      g_assert_cmpint (sm_gguf_writer_add_tensor (w, t->name, t->type, t->n_dims, t->ne, &err),
                       ==, SM_OK);
    }
  g_assert_cmpint (sm_gguf_writer_begin (w, path, &err), ==, SM_OK);
  for (int64_t i = 0; i < sm_gguf_get_n_tensors (src); i++)
    {
      const sm_gguf_tensor *t = sm_gguf_get_tensor (src, i);

      g_assert_cmpint (sm_gguf_writer_write_tensor (w, t->data, t->size, &err), ==, SM_OK);
    }
  g_assert_cmpint (sm_gguf_writer_finish (w, &err), ==, SM_OK);
  sm_gguf_writer_free (w);
  g_assert_true (g_file_get_contents (src_path, &a, &alen, NULL));
  g_assert_true (g_file_get_contents (path, &b, &blen, NULL));
  g_assert_cmpmem (a, alen, b, blen);
  sm_gguf_free (src);
}

static void
test_split_round_trip (TmpDir       *tmp,
                       gconstpointer data)
{
  g_autofree char *path = g_build_filename (tmp->dir, "model-Q4_0.gguf", NULL);
  g_autofree char *p1 = g_build_filename (tmp->dir, "model-Q4_0-00001-of-00003.gguf", NULL);
  g_autofree char *p2 = g_build_filename (tmp->dir, "model-Q4_0-00002-of-00003.gguf", NULL);
  g_autofree char *p3 = g_build_filename (tmp->dir, "model-Q4_0-00003-of-00003.gguf", NULL);
  uint32_t n_out;
  g_autoptr(GPtrArray) datas = write_round_trip (path, 32, 0, 3, &n_out);
  sm_gguf *g, *part;
  sm_error err = { 0 };
  int64_t i;

  g_assert_cmpuint (n_out, ==, 3);
  g_assert_cmpint (count_files (tmp->dir), ==, 3);
  g_assert_true (g_file_test (p1, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (p2, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (p3, G_FILE_TEST_EXISTS));

  g = open_ok (p1);
  g_assert_cmpuint (sm_gguf_get_n_splits (g), ==, 3);
  g_assert_cmpstr (sm_gguf_get_split_path (g, 2), ==, p3);
  /* part 1: all metadata, plus split.no (u16) = 0, split.count (u16) = 3, tensors (i32) = 7 */
  i = sm_gguf_find_key (g, "split.no");
  g_assert_cmpint (sm_gguf_get_kv_type (g, i), ==, SM_GGUF_TYPE_UINT16);
  g_assert_cmpuint (sm_gguf_get_u16 (g, i), ==, 0);
  i = sm_gguf_find_key (g, "split.count");
  g_assert_cmpint (sm_gguf_get_kv_type (g, i), ==, SM_GGUF_TYPE_UINT16);
  g_assert_cmpuint (sm_gguf_get_u16 (g, i), ==, 3);
  i = sm_gguf_find_key (g, "split.tensors.count");
  g_assert_cmpint (sm_gguf_get_kv_type (g, i), ==, SM_GGUF_TYPE_INT32);
  g_assert_cmpint (sm_gguf_get_i32 (g, i), ==, 7);
  g_assert_cmpint (sm_gguf_get_n_kv (g), ==, 25);
  check_round_trip_tensors (g, datas);
  for (i = 0; i < 7; i++)
    g_assert_cmpuint (sm_gguf_get_tensor (g, i)->split, ==, (uint32_t) i / 3);
  /* offsets restart in each part */
  g_assert_cmpuint (sm_gguf_get_tensor (g, 3)->offset, ==, 0);
  g_assert_cmpuint (sm_gguf_get_tensor (g, 6)->offset, ==, 0);
  check_consistent (g, TRUE);
  sm_gguf_free (g);

  /* part 2 alone: only the split keys; opening it as a model says to open part 1 */
  g_assert_cmpint (sm_gguf_open (p2, &part, &err), ==, SM_ERR_INVALID_ARG);
  g_assert_null (part);
  g_assert_nonnull (strstr (err.msg, "is part 2 of 3"));
  g_assert_nonnull (strstr (err.msg, "open the first part"));
  {
    g_autofree char *bytes = NULL;
    gsize len;

    g_assert_true (g_file_get_contents (p2, &bytes, &len, NULL));
    g_assert_cmpint (sm_gguf_open_memory (bytes, len, &part, &err), ==, SM_OK);
    g_assert_cmpint (sm_gguf_get_n_kv (part), ==, 3);
    g_assert_cmpuint (sm_gguf_get_u16 (part, sm_gguf_find_key (part, "split.no")), ==, 1);
    g_assert_cmpint (sm_gguf_get_n_tensors (part), ==, 3);
    sm_gguf_free (part);
  }
}

static void
test_split_by_size (TmpDir       *tmp,
                    gconstpointer data)
{
  g_autofree char *path = g_build_filename (tmp->dir, "s.gguf", NULL);
  g_autofree char *p1 = g_build_filename (tmp->dir, "s-00001-of-00004.gguf", NULL);
  uint32_t n_out;
  /* sizes padded to 32: 160, 64, 576, 160, 32, 0, 544 -> at most 600 bytes per part */
  g_autoptr(GPtrArray) datas = write_round_trip (path, 32, 600, 0, &n_out);
  sm_gguf *g;

  g_assert_cmpuint (n_out, ==, 4);
  g = open_ok (p1);
  check_round_trip_tensors (g, datas);
  g_assert_cmpuint (sm_gguf_get_tensor (g, 0)->split, ==, 0);
  g_assert_cmpuint (sm_gguf_get_tensor (g, 1)->split, ==, 0);
  g_assert_cmpuint (sm_gguf_get_tensor (g, 2)->split, ==, 1);
  g_assert_cmpuint (sm_gguf_get_tensor (g, 3)->split, ==, 2);
  g_assert_cmpuint (sm_gguf_get_tensor (g, 5)->split, ==, 2);
  g_assert_cmpuint (sm_gguf_get_tensor (g, 6)->split, ==, 3);
  sm_gguf_free (g);

  /* a split that fits in one part is a plain file without split keys */
  {
    g_autofree char *one = g_build_filename (tmp->dir, "one.gguf", NULL);

    g_ptr_array_unref (write_round_trip (one, 32, 1u << 30, 100, &n_out));
    g_assert_cmpuint (n_out, ==, 1);
    g = open_ok (one);
    g_assert_cmpint (sm_gguf_find_key (g, "split.count"), ==, -1);
    sm_gguf_free (g);
  }
}

/* A custom alignment is carried by every part; parts that disagree are refused. */
static void
test_split_alignment (TmpDir       *tmp,
                      gconstpointer data)
{
  g_autofree char *path = g_build_filename (tmp->dir, "a.gguf", NULL);
  g_autofree char *p1 = g_build_filename (tmp->dir, "a-00001-of-00003.gguf", NULL);
  g_autofree char *p2 = g_build_filename (tmp->dir, "a-00002-of-00003.gguf", NULL);
  g_autofree char *other = g_build_filename (tmp->dir, "b.gguf", NULL);
  g_autofree char *o2 = g_build_filename (tmp->dir, "b-00002-of-00003.gguf", NULL);
  g_autofree char *bytes = NULL;
  gsize len;
  uint32_t n_out;
  g_autoptr(GPtrArray) datas = write_round_trip (path, 256, 0, 3, &n_out);
  sm_gguf *g = open_ok (p1), *part = NULL;
  sm_error err = { 0 };

  g_assert_cmpuint (sm_gguf_get_alignment (g), ==, 256);
  for (uint32_t k = 0; k < 3; k++)
    g_assert_cmpuint (sm_gguf_get_split_data_offset (g, k) % 256, ==, 0);
  check_round_trip_tensors (g, datas);
  check_consistent (g, TRUE);
  sm_gguf_free (g);
  g_assert_true (g_file_get_contents (p2, &bytes, &len, NULL));
  g_assert_cmpint (sm_gguf_open_memory (bytes, len, &part, &err), ==, SM_OK);
  g_assert_cmpuint (sm_gguf_get_alignment (part), ==, 256);
  sm_gguf_free (part);

  /* part 2 of the same model written with the default alignment */
  g_ptr_array_unref (write_round_trip (other, 32, 0, 3, &n_out));
  g_assert_cmpint (g_rename (o2, p2), ==, 0);
  g_assert_cmpint (sm_gguf_open (p1, &g, &err), ==, SM_ERR_FORMAT);
  g_assert_nonnull (strstr (err.msg, "a-00002-of-00003.gguf: alignment 32 differs from part 1 "
                                     "(256)"));
}

static void
write_file (const char *path,
            const void *data,
            gsize       len)
{
  g_assert_true (g_file_set_contents (path, data, (gssize) len, NULL));
}

static void
test_split_errors (TmpDir       *tmp,
                   gconstpointer data)
{
  g_autofree char *path = g_build_filename (tmp->dir, "m.gguf", NULL);
  g_autofree char *p1 = g_build_filename (tmp->dir, "m-00001-of-00003.gguf", NULL);
  g_autofree char *p2 = g_build_filename (tmp->dir, "m-00002-of-00003.gguf", NULL);
  g_autofree char *p3 = g_build_filename (tmp->dir, "m-00003-of-00003.gguf", NULL);
  g_autofree char *renamed = g_build_filename (tmp->dir, "other.gguf", NULL);
  g_autofree char *b2 = NULL, *b3 = NULL;
  gsize l2, l3;
  uint32_t n_out;
  sm_gguf *g = NULL;
  sm_error err = { 0 };

  g_ptr_array_unref (write_round_trip (path, 32, 0, 3, &n_out));

  g_assert_true (g_file_get_contents (p2, &b2, &l2, NULL));
  g_assert_true (g_file_get_contents (p3, &b3, &l3, NULL));

  /* a missing part */
  g_remove (p3);
  g_assert_cmpint (sm_gguf_open (p1, &g, &err), ==, SM_ERR_NOT_FOUND);
  g_assert_null (g);
  g_assert_nonnull (strstr (err.msg, "m-00003-of-00003.gguf"));
  g_assert_nonnull (strstr (err.msg, "No such file"));

  /* part 3 where part 2 should be: split.no is wrong */
  write_file (p3, b3, l3);
  write_file (p2, b3, l3);
  g_assert_cmpint (sm_gguf_open (p1, &g, &err), ==, SM_ERR_FORMAT);
  g_assert_nonnull (strstr (err.msg, "m-00002-of-00003.gguf: split.no is missing or wrong "
                                     "(expected 1)"));

  /* a damaged part is reported with its name */
  write_file (p2, b2, 100);
  g_assert_cmpint (sm_gguf_open (p1, &g, &err), ==, SM_ERR_FORMAT);
  g_assert_true (g_str_has_prefix (err.msg, p2));
  g_test_message ("%s", err.msg);
  g_assert_nonnull (strstr (err.msg, "tensor count 3 (at byte 8) cannot fit in a 100-byte file"));

  /* the first part renamed: the others cannot be found */
  write_file (p2, b2, l2);
  g_assert_cmpint (g_rename (p1, renamed), ==, 0);
  g_assert_cmpint (sm_gguf_open (renamed, &g, &err), ==, SM_ERR_FORMAT);
  g_assert_nonnull (strstr (err.msg, "does not end with '-00001-of-00003.gguf'"));
  g_assert_cmpint (g_rename (renamed, p1), ==, 0);

  /* restored: opens again */
  g = open_ok (p1);
  sm_gguf_free (g);
}

/* ---- hostile files ---- */

/* A byte builder: everything little-endian, as GGUF. */
static void
bu32 (GByteArray *b,
      uint32_t    v)
{
  g_byte_array_append (b, (const guint8 *) &v, 4);
}

static void
bu64 (GByteArray *b,
      uint64_t    v)
{
  g_byte_array_append (b, (const guint8 *) &v, 8);
}

static void
bstr (GByteArray *b,
      const char *s)
{
  bu64 (b, strlen (s));
  g_byte_array_append (b, (const guint8 *) s, (guint) strlen (s));
}

static GByteArray *
bheader (uint32_t version,
         uint64_t n_tensors,
         uint64_t n_kv)
{
  GByteArray *b = g_byte_array_new ();

  g_byte_array_append (b, (const guint8 *) "GGUF", 4);
  bu32 (b, version);
  bu64 (b, n_tensors);
  bu64 (b, n_kv);
  return b;
}

static void
bkv_u32 (GByteArray *b,
         const char *key,
         uint32_t    v)
{
  bstr (b, key);
  bu32 (b, SM_GGUF_TYPE_UINT32);
  bu32 (b, v);
}

static void
btensor (GByteArray *b,
         const char *name,
         uint32_t    n_dims,
         uint64_t    ne0,
         uint64_t    ne1,
         uint32_t    type,
         uint64_t    offset)
{
  bstr (b, name);
  bu32 (b, n_dims);
  bu64 (b, ne0);
  if (n_dims > 1)
    bu64 (b, ne1);
  for (uint32_t d = 2; d < n_dims && d < 8; d++)
    bu64 (b, 1);
  bu32 (b, type);
  bu64 (b, offset);
}

static void
bpad (GByteArray *b,
      guint       align)
{
  while (b->len % align != 0)
    g_byte_array_append (b, (const guint8 *) "", 1);
}

static void
bzeros (GByteArray *b,
        guint       n)
{
  for (guint i = 0; i < n; i++)
    g_byte_array_append (b, (const guint8 *) "", 1);
}

typedef struct
{
  const char *name;
  GByteArray *(*build) (void);
  sm_status   status;
  const char *msg; /* substring of the message */
} Hostile;

#define H(fn) static GByteArray *fn (void)

H (h_empty) { return g_byte_array_new (); }
H (h_short) { GByteArray *b = g_byte_array_new (); g_byte_array_append (b, (guint8 *) "GGU", 3); return b; }
H (h_magic)
{
  GByteArray *b = bheader (3, 0, 0);

  memcpy (b->data, "GGML", 4);
  return b;
}
H (h_v1) { return bheader (1, 0, 0); }
H (h_v4) { return bheader (4, 0, 0); }
H (h_v0) { return bheader (0, 0, 0); }
H (h_big_endian) { return bheader (0x03000000u, 0, 0); }
H (h_trunc_header)
{
  GByteArray *b = bheader (3, 0, 0);

  g_byte_array_set_size (b, 12);
  return b;
}
H (h_huge_tensor_count) { return bheader (3, UINT64_C (1) << 62, 0); }
H (h_huge_kv_count) { return bheader (3, 0, UINT64_MAX); }
H (h_key_beyond)
{
  GByteArray *b = bheader (3, 0, 1);

  bu64 (b, 1000000);
  bzeros (b, 20);
  return b;
}
H (h_key_len_overflow)
{
  GByteArray *b = bheader (3, 0, 1);

  bu64 (b, UINT64_MAX - 3);
  bzeros (b, 20);
  return b;
}
H (h_empty_key)
{
  GByteArray *b = bheader (3, 0, 1);

  bkv_u32 (b, "", 1);
  return b;
}
H (h_nul_key)
{
  GByteArray *b = bheader (3, 0, 1);

  bu64 (b, 3);
  g_byte_array_append (b, (const guint8 *) "a\0b", 3);
  bu32 (b, SM_GGUF_TYPE_UINT32);
  bu32 (b, 1);
  return b;
}
H (h_dup_key)
{
  GByteArray *b = bheader (3, 0, 2);

  bkv_u32 (b, "a.b", 1);
  bkv_u32 (b, "a.b", 2);
  return b;
}
H (h_control_key)
{
  GByteArray *b = bheader (3, 0, 2);

  bkv_u32 (b, "a\nb\x1b[2J", 1);
  bkv_u32 (b, "a\nb\x1b[2J", 2);
  return b;
}
H (h_value_type)
{
  GByteArray *b = bheader (3, 0, 1);

  bstr (b, "k");
  bu32 (b, 13);
  bu32 (b, 0);
  return b;
}
H (h_array_of_arrays)
{
  GByteArray *b = bheader (3, 0, 1);

  bstr (b, "k");
  bu32 (b, SM_GGUF_TYPE_ARRAY);
  bu32 (b, SM_GGUF_TYPE_ARRAY);
  bu64 (b, 1);
  bu32 (b, SM_GGUF_TYPE_UINT8);
  bu64 (b, 1);
  bzeros (b, 1);
  return b;
}
H (h_array_elem_type)
{
  GByteArray *b = bheader (3, 0, 1);

  bstr (b, "k");
  bu32 (b, SM_GGUF_TYPE_ARRAY);
  bu32 (b, 99);
  bu64 (b, 1);
  bzeros (b, 8);
  return b;
}
H (h_array_huge)
{
  GByteArray *b = bheader (3, 0, 1);

  bstr (b, "k");
  bu32 (b, SM_GGUF_TYPE_ARRAY);
  bu32 (b, SM_GGUF_TYPE_UINT32);
  bu64 (b, UINT64_C (1) << 61); /* x 4 bytes wraps to 0 in 64 bits */
  bzeros (b, 16);
  return b;
}
H (h_str_array_huge)
{
  GByteArray *b = bheader (3, 0, 1);

  bstr (b, "tokenizer.ggml.tokens");
  bu32 (b, SM_GGUF_TYPE_ARRAY);
  bu32 (b, SM_GGUF_TYPE_STRING);
  bu64 (b, UINT64_MAX / 2);
  bzeros (b, 64);
  return b;
}
H (h_str_array_elem)
{
  GByteArray *b = bheader (3, 0, 1);

  bstr (b, "tokenizer.ggml.tokens");
  bu32 (b, SM_GGUF_TYPE_ARRAY);
  bu32 (b, SM_GGUF_TYPE_STRING);
  bu64 (b, 3);
  bstr (b, "ok");
  bu64 (b, 500); /* second element runs off the end */
  bstr (b, "x");
  return b;
}
H (h_str_value)
{
  GByteArray *b = bheader (3, 0, 1);

  bstr (b, "general.name");
  bu32 (b, SM_GGUF_TYPE_STRING);
  bu64 (b, 1u << 20);
  g_byte_array_append (b, (const guint8 *) "abc", 3);
  return b;
}
H (h_bool)
{
  GByteArray *b = bheader (3, 0, 1);

  bstr (b, "k");
  bu32 (b, SM_GGUF_TYPE_BOOL);
  g_byte_array_append (b, (const guint8 *) "\x02", 1);
  return b;
}
H (h_bool_array)
{
  GByteArray *b = bheader (3, 0, 1);

  bstr (b, "k");
  bu32 (b, SM_GGUF_TYPE_ARRAY);
  bu32 (b, SM_GGUF_TYPE_BOOL);
  bu64 (b, 3);
  g_byte_array_append (b, (const guint8 *) "\x01\x00\xff", 3);
  return b;
}
H (h_trunc_value)
{
  GByteArray *b = bheader (3, 0, 1);

  bstr (b, "k");
  bu32 (b, SM_GGUF_TYPE_UINT64);
  bzeros (b, 3);
  return b;
}
H (h_align_type)
{
  GByteArray *b = bheader (3, 0, 1);

  bstr (b, "general.alignment");
  bu32 (b, SM_GGUF_TYPE_UINT64);
  bu64 (b, 32);
  return b;
}
H (h_align_zero)
{
  GByteArray *b = bheader (3, 0, 1);

  bkv_u32 (b, "general.alignment", 0);
  return b;
}
H (h_align_npot)
{
  GByteArray *b = bheader (3, 0, 1);

  bkv_u32 (b, "general.alignment", 48);
  return b;
}

/* One valid key, then the tensor infos written by fill, then padding and `data` zero bytes. */
static GByteArray *
with_tensors (uint64_t n_tensors,
              void (*fill) (GByteArray *b),
              guint data)
{
  GByteArray *b = bheader (3, n_tensors, 1);

  bkv_u32 (b, "general.quantization_version", 2);
  fill (b);
  bpad (b, 32);
  bzeros (b, data);
  return b;
}

static void f_long_name (GByteArray *b)
{
  char name[65];

  memset (name, 'n', 64);
  name[64] = '\0';
  btensor (b, name, 1, 4, 0, SM_TYPE_F32, 0);
}
static void f_empty_name (GByteArray *b) { btensor (b, "", 1, 4, 0, SM_TYPE_F32, 0); }
static void f_dup_name (GByteArray *b)
{
  btensor (b, "x", 1, 4, 0, SM_TYPE_F32, 0);
  btensor (b, "x", 1, 4, 0, SM_TYPE_F32, 32);
}
static void f_dims5 (GByteArray *b) { btensor (b, "t5", 5, 4, 1, SM_TYPE_F32, 0); }
static void f_dims0 (GByteArray *b) { btensor (b, "t0", 0, 4, 0, SM_TYPE_F32, 0); }
static void f_negative (GByteArray *b) { btensor (b, "neg", 2, 4, (uint64_t) -5, SM_TYPE_F32, 0); }
static void f_overflow (GByteArray *b)
{
  btensor (b, "big", 2, UINT64_C (1) << 32, UINT64_C (1) << 32, SM_TYPE_F32, 0);
}
static void f_bytes_overflow (GByteArray *b)
{
  btensor (b, "bytes", 2, UINT64_C (1) << 31, UINT64_C (1) << 31, SM_TYPE_F64, 0);
}
static void f_unknown_type (GByteArray *b) { btensor (b, "u", 1, 4, 0, 43, 0); }
static void f_retired_type (GByteArray *b) { btensor (b, "r", 1, 32, 0, 4, 0); }
static void f_block (GByteArray *b) { btensor (b, "q", 2, 33, 2, SM_TYPE_Q4_0, 0); }
static void f_misaligned (GByteArray *b) { btensor (b, "m", 1, 4, 0, SM_TYPE_F32, 16); }
static void f_beyond (GByteArray *b) { btensor (b, "far", 1, 4, 0, SM_TYPE_F32, 4096); }
static void f_too_big (GByteArray *b) { btensor (b, "fat", 1, 1000, 0, SM_TYPE_F32, 0); }
static void f_offset_wrap (GByteArray *b)
{
  btensor (b, "wrap", 1, 16, 0, SM_TYPE_F32, UINT64_MAX - 31);
}
static void f_overlap (GByteArray *b)
{
  btensor (b, "first", 1, 16, 0, SM_TYPE_F32, 0);
  btensor (b, "second", 1, 16, 0, SM_TYPE_F32, 32);
}
static void f_trunc_info (GByteArray *b)
{
  btensor (b, "a.name.of.thirty.bytes.exactly", 1, 4, 0, SM_TYPE_F32, 0);
}

H (h_long_name) { return with_tensors (1, f_long_name, 32); }
H (h_empty_name) { return with_tensors (1, f_empty_name, 32); }
H (h_dup_name) { return with_tensors (2, f_dup_name, 64); }
H (h_dims5) { return with_tensors (1, f_dims5, 32); }
H (h_dims0) { return with_tensors (1, f_dims0, 32); }
H (h_negative) { return with_tensors (1, f_negative, 32); }
H (h_overflow) { return with_tensors (1, f_overflow, 32); }
H (h_bytes_overflow) { return with_tensors (1, f_bytes_overflow, 32); }
H (h_unknown_type) { return with_tensors (1, f_unknown_type, 32); }
H (h_retired_type) { return with_tensors (1, f_retired_type, 32); }
H (h_block) { return with_tensors (1, f_block, 64); }
H (h_misaligned) { return with_tensors (1, f_misaligned, 64); }
H (h_beyond) { return with_tensors (1, f_beyond, 64); }
H (h_too_big) { return with_tensors (1, f_too_big, 64); }
H (h_offset_wrap) { return with_tensors (1, f_offset_wrap, 64); }
H (h_overlap) { return with_tensors (2, f_overlap, 96); }
H (h_trunc_info)
{
  GByteArray *b = bheader (3, 1, 0);

  f_trunc_info (b);
  g_byte_array_set_size (b, b->len - 5);
  return b;
}
H (h_data_start)
{
  /* A zero-sized tensor whose infos end short of the alignment with nothing after: the data
   * section would start past the end of the file. */
  GByteArray *b = bheader (3, 1, 0);

  btensor (b, "z", 1, 0, 0, SM_TYPE_F32, 0);
  return b;
}

static const Hostile hostile[] = {
  { "empty", h_empty, SM_ERR_FORMAT, "file is empty" },
  { "short", h_short, SM_ERR_FORMAT, "3 bytes, too short" },
  { "magic", h_magic, SM_ERR_FORMAT, "not a GGUF file: magic is 47 47 4d 4c" },
  { "version-1", h_v1, SM_ERR_UNSUPPORTED, "GGUF version 1 is no longer supported" },
  { "version-4", h_v4, SM_ERR_UNSUPPORTED, "GGUF version 4 is not supported" },
  { "version-0", h_v0, SM_ERR_UNSUPPORTED, "GGUF version 0 is not supported" },
  { "big-endian", h_big_endian, SM_ERR_UNSUPPORTED, "0x03000000: this looks like a big-endian" },
  { "truncated-header", h_trunc_header, SM_ERR_FORMAT,
    "file truncated: tensor count at byte 8 needs 8 bytes, only 4 left" },
  { "tensor-count", h_huge_tensor_count, SM_ERR_FORMAT,
    "tensor count 4611686018427387904 (at byte 8) cannot fit in a 24-byte file" },
  { "kv-count", h_huge_kv_count, SM_ERR_FORMAT, "metadata count 18446744073709551615" },
  { "key-beyond", h_key_beyond, SM_ERR_FORMAT,
    "metadata key at byte 24 has length 1000000, beyond the end of the file (52 bytes)" },
  { "key-length-overflow", h_key_len_overflow, SM_ERR_FORMAT,
    "metadata key at byte 24 has length 18446744073709551612" },
  { "empty-key", h_empty_key, SM_ERR_FORMAT, "metadata key 0 at byte 24 is empty" },
  { "nul-in-key", h_nul_key, SM_ERR_FORMAT, "metadata key 0 at byte 24 contains a NUL byte" },
  { "duplicate-key", h_dup_key, SM_ERR_FORMAT,
    "duplicate metadata key 'a.b' at byte 43 (first at byte 24)" },
  { "control-characters-in-key", h_control_key, SM_ERR_FORMAT,
    "duplicate metadata key 'a?b?[2J' at byte 47 (first at byte 24)" },
  { "value-type", h_value_type, SM_ERR_FORMAT, "metadata key 'k' at byte 24: unknown value type 13" },
  { "array-of-arrays", h_array_of_arrays, SM_ERR_UNSUPPORTED,
    "metadata key 'k': array of arrays at byte 37" },
  { "array-element-type", h_array_elem_type, SM_ERR_FORMAT,
    "metadata key 'k': unknown array element type 99 at byte 37" },
  { "array-count", h_array_huge, SM_ERR_FORMAT,
    "metadata key 'k': UINT32 array at byte 41 claims 2305843009213693952 elements" },
  { "string-array-count", h_str_array_huge, SM_ERR_FORMAT,
    "metadata key 'tokenizer.ggml.tokens': string array at byte 61 claims 9223372036854775807" },
  { "string-array-element", h_str_array_elem, SM_ERR_FORMAT,
    "metadata key 'tokenizer.ggml.tokens': array string at byte 79 has length 500" },
  { "string-value", h_str_value, SM_ERR_FORMAT,
    "metadata key 'general.name': string value at byte 48 has length 1048576" },
  { "bool", h_bool, SM_ERR_FORMAT, "BOOL value at byte 37 is 2, not 0 or 1" },
  { "bool-array", h_bool_array, SM_ERR_FORMAT, "BOOL array at byte 41: element 2 is 255" },
  { "truncated-value", h_trunc_value, SM_ERR_FORMAT,
    "metadata key 'k': file truncated: UINT64 at byte 37 needs 8 bytes, only 3 left" },
  { "alignment-type", h_align_type, SM_ERR_FORMAT,
    "general.alignment (byte 24) has type UINT64, must be UINT32" },
  { "alignment-zero", h_align_zero, SM_ERR_FORMAT,
    "general.alignment (byte 24) is 0, must be a non-zero power of two" },
  { "alignment-48", h_align_npot, SM_ERR_FORMAT, "general.alignment (byte 24) is 48" },
  { "tensor-name-length", h_long_name, SM_ERR_FORMAT,
    "tensor 0 at byte 68: name is 64 bytes long, at most 63 allowed" },
  { "tensor-name-empty", h_empty_name, SM_ERR_FORMAT, "tensor 0 at byte 68 has an empty name" },
  { "tensor-duplicate", h_dup_name, SM_ERR_FORMAT, "duplicate tensor name 'x' (tensors 0 and 1)" },
  { "tensor-n-dims-5", h_dims5, SM_ERR_FORMAT,
    "tensor 't5' (info at byte 68): n_dims is 5, must be 1 to 4" },
  { "tensor-n-dims-0", h_dims0, SM_ERR_FORMAT, "tensor 't0' (info at byte 68): n_dims is 0" },
  { "tensor-negative-dim", h_negative, SM_ERR_FORMAT,
    "tensor 'neg' (info at byte 68): dimension 1 is negative (-5)" },
  { "tensor-elements-overflow", h_overflow, SM_ERR_FORMAT,
    "tensor 'big' (info at byte 68): the element count overflows 64 bits at dimension 1" },
  { "tensor-bytes-overflow", h_bytes_overflow, SM_ERR_FORMAT,
    "tensor 'bytes' (info at byte 68): its byte size overflows 64 bits" },
  { "tensor-unknown-type", h_unknown_type, SM_ERR_UNSUPPORTED,
    "tensor 'u' (info at byte 68): type id 43 is not a known ggml type" },
  { "tensor-retired-type", h_retired_type, SM_ERR_UNSUPPORTED,
    "tensor 'r' (info at byte 68): type id 4 is a retired ggml type" },
  { "tensor-block-size", h_block, SM_ERR_FORMAT,
    "tensor 'q' (info at byte 68): ne[0] = 33 is not a multiple of the Q4_0 block size 32" },
  { "tensor-misaligned", h_misaligned, SM_ERR_FORMAT,
    "tensor 'm': data offset 16 is not a multiple of the alignment 32" },
  { "tensor-beyond", h_beyond, SM_ERR_FORMAT,
    "tensor 'far': data (offset 4096, 16 bytes) runs past the end of the file (64 bytes of data "
    "after byte 128)" },
  { "tensor-too-big", h_too_big, SM_ERR_FORMAT, "tensor 'fat': data (offset 0, 4000 bytes) runs past" },
  { "tensor-offset-wrap", h_offset_wrap, SM_ERR_FORMAT,
    "tensor 'wrap': data (offset 18446744073709551584, 64 bytes) runs past" },
  { "tensor-overlap", h_overlap, SM_ERR_FORMAT,
    "tensor 'first' data (offset 0, 64 bytes) overlaps tensor 'second' (offset 32)" },
  { "tensor-info-truncated", h_trunc_info, SM_ERR_FORMAT,
    "file truncated: tensor offset at byte 78 needs 8 bytes, only 3 left" },
  { "data-section", h_data_start, SM_ERR_FORMAT,
    "data section would start at byte 64, beyond the end of the file (57 bytes)" },
};

static void
test_hostile (gconstpointer data)
{
  const Hostile *h = data;
  g_autoptr(GByteArray) b = h->build ();
  sm_gguf *g = (sm_gguf *) 0x1;
  sm_error err = { 0 };
  /* An exact-size heap copy so ASan catches any read past the end. */
  void *copy = g_memdup2 (b->data, b->len);
  sm_status st = sm_gguf_open_memory (b->len ? copy : "", b->len, &g, &err);

  g_test_message ("%s: %s", h->name, err.msg);
  g_assert_null (g);
  g_assert_cmpint (st, ==, h->status);
  g_assert_cmpint (err.status, ==, h->status);
  if (strstr (err.msg, h->msg) == NULL)
    g_error ("%s: expected '%s' in '%s'", h->name, h->msg, err.msg);
  /* No newline: messages are one line. */
  g_assert_null (strchr (err.msg, '\n'));
  g_free (copy);
}

/* Every prefix of a valid file fails cleanly (or, for the full file, succeeds). */
static void
test_truncations (TmpDir       *tmp,
                  gconstpointer data)
{
  g_autofree char *path = g_build_filename (tmp->dir, "t.gguf", NULL);
  g_autofree char *bytes = NULL;
  gsize len;
  uint32_t n_out;
  uint64_t data_offset;
  sm_gguf *g;

  g_ptr_array_unref (write_round_trip (path, 32, 0, 0, &n_out));
  g = open_ok (path);

  data_offset = sm_gguf_get_data_offset (g);
  sm_gguf_free (g);
  g_assert_true (g_file_get_contents (path, &bytes, &len, NULL));
  for (gsize n = 0; n < len; n++)
    {
      void *copy = g_memdup2 (bytes, n);
      sm_error err = { 0 };
      sm_status st = sm_gguf_open_memory (n ? copy : "", n, &g, &err);

      /* Cutting off the trailing padding of the last tensor is harmless; anything else is not. */
      if (st == SM_OK)
        {
          g_assert_cmpuint (n, >, data_offset);
          sm_gguf_free (g);
        }
      else
        {
          g_assert_null (g);
          g_assert_cmpstr (err.msg, !=, "");
        }
      g_free (copy);
    }
}

/* Flipping any single byte of the header never crashes and never reads out of bounds. */
static void
test_bit_flips (TmpDir       *tmp,
                gconstpointer data)
{
  g_autofree char *path = g_build_filename (tmp->dir, "f.gguf", NULL);
  g_autofree char *bytes = NULL;
  gsize len;
  uint32_t n_out;
  sm_gguf *g;
  uint64_t header;
  int n_ok = 0, n_fail = 0;

  g_ptr_array_unref (write_round_trip (path, 32, 0, 0, &n_out));
  g = open_ok (path);
  header = sm_gguf_get_data_offset (g);
  sm_gguf_free (g);
  g_assert_true (g_file_get_contents (path, &bytes, &len, NULL));
  for (gsize pos = 0; pos < header; pos++)
    for (int v = 0; v < 3; v++)
      {
        guint8 *copy = g_memdup2 (bytes, len);
        sm_error err = { 0 };
        static const guint8 vals[] = { 0x00, 0xff, 0x80 };

        copy[pos] = copy[pos] == vals[v] ? (guint8) ~vals[v] : vals[v];
        if (sm_gguf_open_memory (copy, len, &g, &err) == SM_OK)
          {
            for (int64_t i = 0; i < sm_gguf_get_n_tensors (g); i++)
              g_assert_nonnull (sm_gguf_find_tensor (g, sm_gguf_get_tensor (g, i)->name));
            sm_gguf_free (g);
            n_ok++;
          }
        else
          {
            n_fail++;
          }
        g_free (copy);
      }
  g_assert_cmpint (n_fail, >, 0);
  g_assert_cmpint (n_ok, >, 0);
}

/* ---- open does not read tensor data ---- */

static void
test_open_reads_no_data (TmpDir       *tmp,
                         gconstpointer data)
{
  g_autofree char *path = g_build_filename (tmp->dir, "sparse.gguf", NULL);
  g_autoptr(GByteArray) b = bheader (3, 2, 1);
  const uint64_t n = 16u << 20; /* 16 Mi F32 = 64 MiB per tensor, never written: a hole */
  long page = sysconf (_SC_PAGESIZE);
  const sm_gguf_tensor *t;
  unsigned char *vec;
  uintptr_t start, end;
  size_t n_pages, resident = 0;
  volatile uint8_t sink;
  sm_gguf *g;
  int fd;

  bkv_u32 (b, "general.alignment", 32);
  btensor (b, "a", 1, n, 0, SM_TYPE_F32, 0);
  btensor (b, "b", 1, n, 0, SM_TYPE_F32, n * 4);
  bpad (b, 32);
  fd = g_open (path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (write (fd, b->data, b->len), ==, (gssize) b->len);
  g_assert_cmpint (ftruncate (fd, (off_t) (b->len + 2 * n * 4)), ==, 0);
  close (fd);

  g = open_ok (path);
  t = sm_gguf_get_tensor (g, 0);
  /* Pages wholly inside the data section. */
  start = ((uintptr_t) t->data + (uintptr_t) page - 1) & ~((uintptr_t) page - 1);
  end = ((uintptr_t) t->data + 2 * n * 4) & ~((uintptr_t) page - 1);
  n_pages = (end - start) / (uintptr_t) page;
  vec = g_malloc (n_pages);
  g_assert_cmpint (mincore ((void *) start, end - start, vec), ==, 0);
  for (size_t i = 0; i < n_pages; i++)
    resident += vec[i] & 1;
  g_assert_cmpuint (resident, ==, 0);

  /* Positive control: touching data does show up, so the check above can fail. */
  sink = ((const uint8_t *) sm_gguf_get_tensor (g, 1)->data)[12345];
  (void) sink;
  g_assert_cmpint (mincore ((void *) start, end - start, vec), ==, 0);
  resident = 0;
  for (size_t i = 0; i < n_pages; i++)
    resident += vec[i] & 1;
  g_assert_cmpuint (resident, >=, 1);
  g_free (vec);
  sm_gguf_free (g);
}

/* Files that are not GGUF images at all: each refused at once, naming the path. */
static void
test_open_not_a_file (TmpDir       *tmp,
                      gconstpointer data)
{
  g_autofree char *fifo = g_build_filename (tmp->dir, "fifo.gguf", NULL);
  g_autofree char *empty = g_build_filename (tmp->dir, "empty.gguf", NULL);
  g_autofree char *missing = g_build_filename (tmp->dir, "missing.gguf", NULL);
  sm_gguf *g = NULL;
  sm_error err = { 0 };

  g_assert_cmpint (sm_gguf_open (tmp->dir, &g, &err), ==, SM_ERR_IO);
  g_assert_nonnull (strstr (err.msg, "not a regular file"));
  /* a FIFO without a writer would block a plain open() forever */
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  g_assert_cmpint (sm_gguf_open (fifo, &g, &err), ==, SM_ERR_IO);
  g_assert_true (g_str_has_prefix (err.msg, fifo));
  g_assert_nonnull (strstr (err.msg, "not a regular file"));
  g_assert_true (g_file_set_contents (empty, "", 0, NULL));
  g_assert_cmpint (sm_gguf_open (empty, &g, &err), ==, SM_ERR_FORMAT);
  g_assert_nonnull (strstr (err.msg, "empty.gguf: file is empty"));
  g_assert_cmpint (sm_gguf_open (missing, &g, &err), ==, SM_ERR_NOT_FOUND);
  g_assert_nonnull (strstr (err.msg, "missing.gguf: No such file or directory"));
  g_assert_null (g);
}

/* ---- writer failures ---- */

static void
test_writer_errors (TmpDir       *tmp,
                    gconstpointer data)
{
  g_autofree char *path = g_build_filename (tmp->dir, "w.gguf", NULL);
  g_autofree char *bad_dir = g_build_filename (tmp->dir, "missing", "w.gguf", NULL);
  static const int64_t ne_ok[] = { 32, 2 }, ne_bad[] = { 33, 2 }, ne_neg[] = { 32, -1 };
  char long_name[80];
  sm_gguf_writer *w;
  sm_error err = { 0 };
  float buf[64] = { 0 };

  w = sm_gguf_writer_new ();
  g_assert_cmpint (sm_gguf_writer_add_tensor (w, "a", SM_TYPE_Q8_0, 2, ne_ok, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_add_tensor (w, "a", SM_TYPE_F32, 2, ne_ok, &err), ==,
                   SM_ERR_INVALID_ARG);
  g_assert_nonnull (strstr (err.msg, "duplicate tensor name 'a'"));
  g_assert_cmpint (sm_gguf_writer_add_tensor (w, "b", SM_TYPE_Q4_K, 2, ne_ok, &err), ==,
                   SM_ERR_INVALID_ARG);
  g_assert_nonnull (strstr (err.msg, "not a multiple of the Q4_K block size 256"));
  g_assert_cmpint (sm_gguf_writer_add_tensor (w, "b", SM_TYPE_Q8_0, 2, ne_bad, &err), ==,
                   SM_ERR_INVALID_ARG);
  g_assert_cmpint (sm_gguf_writer_add_tensor (w, "b", SM_TYPE_F32, 2, ne_neg, &err), ==,
                   SM_ERR_INVALID_ARG);
  g_assert_cmpint (sm_gguf_writer_add_tensor (w, "b", SM_TYPE_F32, 5, ne_ok, &err), ==,
                   SM_ERR_INVALID_ARG);
  g_assert_cmpint (sm_gguf_writer_add_tensor (w, "b", 4, 2, ne_ok, &err), ==, SM_ERR_INVALID_ARG);
  memset (long_name, 'x', 64);
  long_name[64] = '\0';
  g_assert_cmpint (sm_gguf_writer_add_tensor (w, long_name, SM_TYPE_F32, 2, ne_ok, &err), ==,
                   SM_ERR_INVALID_ARG);
  long_name[63] = '\0';
  g_assert_cmpint (sm_gguf_writer_add_tensor (w, long_name, SM_TYPE_F32, 1, ne_ok, &err), ==,
                   SM_OK);

  /* a directory that does not exist: nothing is created */
  g_assert_cmpint (sm_gguf_writer_begin (w, bad_dir, &err), ==, SM_ERR_IO);
  g_assert_nonnull (strstr (err.msg, "missing/w.gguf.part"));
  sm_gguf_writer_free (w);
  g_assert_cmpint (count_files (tmp->dir), ==, 0);

  /* the wrong size for a tensor aborts and removes the .part */
  w = sm_gguf_writer_new ();
  g_assert_cmpint (sm_gguf_writer_add_tensor (w, "a", SM_TYPE_F32, 2, ne_ok, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_begin (w, path, &err), ==, SM_OK);
  g_assert_cmpint (count_files (tmp->dir), ==, 1);
  g_assert_cmpint (sm_gguf_writer_write_tensor (w, buf, 100, &err), ==, SM_ERR_INVALID_ARG);
  g_assert_nonnull (strstr (err.msg, "tensor 'a' is 256 bytes, 100 given"));
  g_assert_cmpint (count_files (tmp->dir), ==, 0);
  sm_gguf_writer_free (w);

  /* free before finish removes the .part; finish without all tensors fails */
  w = sm_gguf_writer_new ();
  g_assert_cmpint (sm_gguf_writer_add_tensor (w, "a", SM_TYPE_F32, 2, ne_ok, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_add_tensor (w, "b", SM_TYPE_F32, 2, ne_ok, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_begin (w, path, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_write_tensor (w, buf, 256, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_finish (w, &err), ==, SM_ERR_INVALID_ARG);
  g_assert_nonnull (strstr (err.msg, "only 1 of 2"));
  g_assert_cmpint (count_files (tmp->dir), ==, 0);
  sm_gguf_writer_free (w);

  w = sm_gguf_writer_new ();
  g_assert_cmpint (sm_gguf_writer_add_tensor (w, "a", SM_TYPE_F32, 2, ne_ok, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_begin (w, path, &err), ==, SM_OK);
  sm_gguf_writer_free (w);
  g_assert_cmpint (count_files (tmp->dir), ==, 0);

  /* bad alignment and empty keys are refused at begin */
  w = sm_gguf_writer_new ();
  sm_gguf_writer_set_u32 (w, "general.alignment", 24);
  g_assert_cmpint (sm_gguf_writer_begin (w, path, &err), ==, SM_ERR_INVALID_ARG);
  sm_gguf_writer_free (w);
  w = sm_gguf_writer_new ();
  sm_gguf_writer_set_u32 (w, "", 24);
  g_assert_cmpint (sm_gguf_writer_begin (w, path, &err), ==, SM_ERR_INVALID_ARG);
  g_assert_nonnull (strstr (err.msg, "empty metadata key"));
  sm_gguf_writer_free (w);
  g_assert_cmpint (count_files (tmp->dir), ==, 0);

  /* zeros: a hole that reads back as zeros */
  w = sm_gguf_writer_new ();
  g_assert_cmpint (sm_gguf_writer_add_tensor (w, "a", SM_TYPE_F32, 2, ne_ok, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_add_tensor (w, "z", SM_TYPE_F32, 2, ne_ok, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_begin (w, path, &err), ==, SM_OK);
  buf[0] = 1.0f;
  g_assert_cmpint (sm_gguf_writer_write_tensor (w, buf, 256, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_write_tensor_zeros (w, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_finish (w, &err), ==, SM_OK);
  sm_gguf_writer_free (w);
  {
    sm_gguf *g = open_ok (path);
    const sm_gguf_tensor *z = sm_gguf_find_tensor (g, "z");

    g_assert_cmpmem (sm_gguf_find_tensor (g, "a")->data, 256, buf, 256);
    memset (buf, 0, sizeof buf);
    g_assert_cmpmem (z->data, z->size, buf, 256);
    g_assert_cmpuint (sm_gguf_get_file_size (g), ==, sm_gguf_get_data_offset (g) + 512);
    sm_gguf_free (g);
  }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/gguf/fixtures/vocab-llama-spm", test_fixture_vocab_spm);
  g_test_add_func ("/gguf/fixtures/vocab-llama-bpe", test_fixture_vocab_llama_bpe);
  g_test_add_func ("/gguf/fixtures/vocab-others", test_fixture_vocab_others);
  g_test_add_func ("/gguf/fixtures/stories260K", test_fixture_stories260k);
  g_test_add_func ("/gguf/fixtures/llama-2-tiny-random", test_fixture_tiny_random);
  g_test_add_func ("/gguf/fixtures/all", test_fixture_all);
  g_test_add ("/gguf/writer/round-trip", TmpDir, NULL, tmp_setup, test_round_trip, tmp_teardown);
  g_test_add ("/gguf/writer/alignment", TmpDir, NULL, tmp_setup, test_round_trip_alignment,
              tmp_teardown);
  g_test_add ("/gguf/writer/copy-kv", TmpDir, NULL, tmp_setup, test_copy_kv, tmp_teardown);
  g_test_add ("/gguf/writer/rewrite-identical", TmpDir, NULL, tmp_setup,
              test_rewrite_model_identical, tmp_teardown);
  g_test_add ("/gguf/writer/errors", TmpDir, NULL, tmp_setup, test_writer_errors, tmp_teardown);
  g_test_add ("/gguf/split/round-trip", TmpDir, NULL, tmp_setup, test_split_round_trip,
              tmp_teardown);
  g_test_add ("/gguf/split/by-size", TmpDir, NULL, tmp_setup, test_split_by_size, tmp_teardown);
  g_test_add ("/gguf/split/alignment", TmpDir, NULL, tmp_setup, test_split_alignment,
              tmp_teardown);
  g_test_add ("/gguf/split/errors", TmpDir, NULL, tmp_setup, test_split_errors, tmp_teardown);
  for (gsize i = 0; i < G_N_ELEMENTS (hostile); i++)
    {
      g_autofree char *name = g_strdup_printf ("/gguf/hostile/%s", hostile[i].name);

      g_test_add_data_func (name, &hostile[i], test_hostile);
    }
  g_test_add ("/gguf/hostile/every-truncation", TmpDir, NULL, tmp_setup, test_truncations,
              tmp_teardown);
  g_test_add ("/gguf/hostile/byte-flips", TmpDir, NULL, tmp_setup, test_bit_flips, tmp_teardown);
  g_test_add ("/gguf/open-not-a-file", TmpDir, NULL, tmp_setup, test_open_not_a_file,
              tmp_teardown);
  g_test_add ("/gguf/open-reads-no-data", TmpDir, NULL, tmp_setup, test_open_reads_no_data,
              tmp_teardown);

  return g_test_run ();
}
