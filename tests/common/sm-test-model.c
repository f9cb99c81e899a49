/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-test-model.c: random llama-shaped GGUF models for tests and benchmarks (sm-test-model.h).
 * Weights are normal with a per-tensor scale from a splitmix64 stream, so a seed gives the same
 * bytes on every machine.
 */
#include "sm-test-model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm-gguf.h"
#include "sm-quant.h"

typedef struct
{
  uint64_t s;
} rng;

static uint64_t
rng_next (rng *r)
{
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static float
rng_uniform (rng *r)
{
  return (float) ((rng_next (r) >> 40) + 1) / 16777217.0f; /* (0, 1] */
}

static float
rng_normal (rng *r)
{
  float u = rng_uniform (r), v = rng_uniform (r);

  return sqrtf (-2.0f * logf (u)) * cosf (6.2831853f * v);
}

void
sm_test_model_default_spec (sm_test_model_spec *spec)
{
  memset (spec, 0, sizeof *spec);
  spec->n_layer = 2;
  spec->dim = 256;
  spec->n_head = 4;
  spec->n_head_kv = 2;
  spec->ffn = 512;
  spec->vocab = 64;
  spec->weight_type = SM_TEST_MODEL_MIXED;
  spec->seed = 42;
}

int
sm_test_model_bigram_next (int t,
                           int vocab)
{
  /* 7919 is prime and larger than small vocabularies' factors: a bijection for these sizes. */
  return (int) (((int64_t) t * 7919 + 13) % vocab);
}

typedef enum
{
  FILL_NORMAL, /* N(0, scale^2) */
  FILL_NORM,   /* 1 + N(0, scale^2): norm weights */
  FILL_BIGRAM, /* output rows copy token_embd rows (times scale) */
} fill_kind;

typedef struct
{
  char      name[64];
  sm_type   type;
  int64_t   ne[2];
  uint32_t  n_dims;
  fill_kind fill;
  float     scale;
} tdesc;

static void
store_row (sm_type      type,
           const float *src,
           void        *dst,
           int64_t      n)
{
  if (type == SM_TYPE_F32)
    memcpy (dst, src, (size_t) n * 4);
  else
    for (int64_t i = 0; i < n; i++)
      {
        uint16_t h = type == SM_TYPE_F16 ? sm_fp32_to_fp16 (src[i]) : sm_fp32_to_bf16 (src[i]);
        memcpy ((uint8_t *) dst + 2 * i, &h, 2);
      }
}

sm_status
sm_test_model_write (const char               *path,
                     const sm_test_model_spec *spec,
                     sm_error                 *err)
{
  static const sm_type cycle[] = { SM_TYPE_F32, SM_TYPE_F16, SM_TYPE_BF16 };
  sm_gguf *vocab = NULL;
  sm_gguf_writer *w = NULL;
  tdesc *t = NULL;
  float *row = NULL, *embd = NULL;
  uint8_t *buf = NULL;
  int n_t = 0, n_vocab = spec->vocab, kv_dim, k_cycle = 0;
  size_t max_bytes = 0;
  sm_status st = SM_OK;

  if (spec->vocab_path != NULL)
    {
      int64_t i;

      st = sm_gguf_open (spec->vocab_path, &vocab, err);
      if (st != SM_OK)
        return st;
      i = sm_gguf_find_key (vocab, "tokenizer.ggml.tokens");
      if (i < 0)
        {
          sm_gguf_free (vocab);
          return sm_error_set (err, SM_ERR_FORMAT, "%s has no tokenizer.ggml.tokens",
                               spec->vocab_path);
        }
      n_vocab = (int) sm_gguf_get_arr_n (vocab, i);
    }
  kv_dim = spec->dim / spec->n_head * spec->n_head_kv;

  t = calloc ((size_t) (spec->n_layer * 10 + 8), sizeof *t);
  if (t == NULL)
    {
      sm_gguf_free (vocab);
      return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
    }
#define ADD(nm, ty, a, b, f, sc)                                                                 \
  do                                                                                             \
    {                                                                                            \
      snprintf (t[n_t].name, sizeof t[n_t].name, "%s", nm);                                      \
      t[n_t].type = (ty);                                                                        \
      t[n_t].ne[0] = (a);                                                                        \
      t[n_t].ne[1] = (b);                                                                        \
      t[n_t].n_dims = (b) > 1 ? 2 : 1;                                                           \
      t[n_t].fill = (f);                                                                         \
      t[n_t].scale = (sc);                                                                       \
      n_t++;                                                                                     \
    }                                                                                            \
  while (0)
#define WTYPE() (spec->weight_type == SM_TEST_MODEL_MIXED ? cycle[k_cycle++ % 3]                 \
                                                          : (sm_type) spec->weight_type)

  ADD ("token_embd.weight", WTYPE (), spec->dim, n_vocab, FILL_NORMAL, 1.0f);
  ADD ("output_norm.weight", SM_TYPE_F32, spec->dim, 1, FILL_NORM, 0.01f);
  if (!spec->tied)
    ADD ("output.weight", WTYPE (), spec->dim, n_vocab, spec->bigram ? FILL_BIGRAM : FILL_NORMAL,
         spec->bigram ? 0.5f : 0.02f);
  for (int l = 0; l < spec->n_layer; l++)
    {
      char name[64];
      float ws = 0.5f / sqrtf ((float) spec->dim);

#define LADD(suffix, ty, a, b, f, sc)                                                            \
  do                                                                                             \
    {                                                                                            \
      snprintf (name, sizeof name, "blk.%d.%s", l, suffix);                                      \
      ADD (name, ty, a, b, f, sc);                                                               \
    }                                                                                            \
  while (0)
      LADD ("attn_norm.weight", SM_TYPE_F32, spec->dim, 1, FILL_NORM, 0.01f);
      LADD ("attn_q.weight", WTYPE (), spec->dim, spec->dim, FILL_NORMAL, ws);
      LADD ("attn_k.weight", WTYPE (), spec->dim, kv_dim, FILL_NORMAL, ws);
      LADD ("attn_v.weight", WTYPE (), spec->dim, kv_dim, FILL_NORMAL, ws);
      LADD ("attn_output.weight", WTYPE (), spec->dim, spec->dim, FILL_NORMAL, ws);
      LADD ("ffn_norm.weight", SM_TYPE_F32, spec->dim, 1, FILL_NORM, 0.01f);
      LADD ("ffn_gate.weight", WTYPE (), spec->dim, spec->ffn, FILL_NORMAL, ws);
      LADD ("ffn_up.weight", WTYPE (), spec->dim, spec->ffn, FILL_NORMAL, ws);
      LADD ("ffn_down.weight", WTYPE (), spec->ffn, spec->dim, FILL_NORMAL,
            0.5f / sqrtf ((float) spec->ffn));
      if (l == 0 && spec->odd_tensor)
        LADD ("ffn_odd.weight", WTYPE (), 96, 64, FILL_NORMAL, 0.05f);
#undef LADD
    }
#undef ADD
#undef WTYPE

  w = sm_gguf_writer_new ();
  sm_gguf_writer_set_str (w, "general.architecture", "llama");
  sm_gguf_writer_set_str (w, "general.name", "smelt-test-model");
  sm_gguf_writer_set_u32 (w, "general.file_type",
                          spec->weight_type == SM_TYPE_F16 ? 1
                          : spec->weight_type == SM_TYPE_BF16 ? 32 : 0);
  sm_gguf_writer_set_u32 (w, "llama.context_length", 256);
  sm_gguf_writer_set_u32 (w, "llama.embedding_length", (uint32_t) spec->dim);
  sm_gguf_writer_set_u32 (w, "llama.block_count", (uint32_t) spec->n_layer);
  sm_gguf_writer_set_u32 (w, "llama.feed_forward_length", (uint32_t) spec->ffn);
  sm_gguf_writer_set_u32 (w, "llama.attention.head_count", (uint32_t) spec->n_head);
  sm_gguf_writer_set_u32 (w, "llama.attention.head_count_kv", (uint32_t) spec->n_head_kv);
  sm_gguf_writer_set_u32 (w, "llama.rope.dimension_count", (uint32_t) (spec->dim / spec->n_head));
  sm_gguf_writer_set_f32 (w, "llama.rope.freq_base", 10000.0f);
  sm_gguf_writer_set_f32 (w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
  sm_gguf_writer_set_u32 (w, "llama.vocab_size", (uint32_t) n_vocab);
  if (vocab != NULL)
    for (int64_t i = 0; i < sm_gguf_get_n_kv (vocab); i++)
      if (strncmp (sm_gguf_get_key (vocab, i), "tokenizer.", 10) == 0)
        sm_gguf_writer_copy_kv (w, vocab, i);

  for (int i = 0; i < n_t; i++)
    {
      size_t bytes = sm_type_row_size (t[i].type, t[i].ne[0]) * (size_t) t[i].ne[1];

      if (bytes > max_bytes)
        max_bytes = bytes;
      st = sm_gguf_writer_add_tensor (w, t[i].name, t[i].type, t[i].n_dims, t[i].ne, err);
      if (st != SM_OK)
        goto out;
    }
  sm_gguf_writer_set_split (w, spec->split_max_size, 0);
  buf = malloc (max_bytes);
  row = malloc ((size_t) (spec->dim > spec->ffn ? spec->dim : spec->ffn) * 4 + 96 * 4);
  if (spec->bigram)
    embd = malloc ((size_t) spec->dim * (size_t) n_vocab * 4);
  if (buf == NULL || row == NULL || (spec->bigram && embd == NULL))
    {
      st = sm_error_set (err, SM_ERR_NOMEM, "out of memory");
      goto out;
    }
  st = sm_gguf_writer_begin (w, path, err);
  if (st != SM_OK)
    goto out;

  for (int i = 0; i < n_t; i++)
    {
      rng r = { spec->seed * 1000003ull + (uint64_t) i * 7777ull };
      size_t row_bytes = sm_type_row_size (t[i].type, t[i].ne[0]);
      int *inv = NULL;

      if (t[i].fill == FILL_BIGRAM)
        {
          /* Row j scores token j: make it the embedding of the token s with next(s) = j, so
           * the residual of token s points at its successor. */
          inv = malloc ((size_t) n_vocab * sizeof *inv);
          if (inv == NULL)
            {
              st = sm_error_set (err, SM_ERR_NOMEM, "out of memory");
              goto out;
            }
          for (int v = 0; v < n_vocab; v++)
            inv[sm_test_model_bigram_next (v, n_vocab)] = v;
        }
      for (int64_t y = 0; y < t[i].ne[1]; y++)
        {
          for (int64_t x = 0; x < t[i].ne[0]; x++)
            {
              if (t[i].fill == FILL_NORMAL)
                row[x] = t[i].scale * rng_normal (&r);
              else if (t[i].fill == FILL_NORM)
                row[x] = 1.0f + t[i].scale * rng_normal (&r);
              else
                row[x] = t[i].scale * embd[(size_t) inv[y] * (size_t) spec->dim + (size_t) x];
            }
          if (spec->bigram && i == 0)
            memcpy (embd + (size_t) y * (size_t) spec->dim, row, (size_t) spec->dim * 4);
          store_row (t[i].type, row, buf + (size_t) y * row_bytes, t[i].ne[0]);
        }
      free (inv);
      st = sm_gguf_writer_write_tensor (w, buf, row_bytes * (size_t) t[i].ne[1], err);
      if (st != SM_OK)
        goto out;
    }
  st = sm_gguf_writer_finish (w, err);

out:
  free (embd);
  free (row);
  free (buf);
  free (t);
  sm_gguf_writer_free (w);
  sm_gguf_free (vocab);
  return st;
}
