/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-model-maker.c: random-weight llama/qwen2 GGUF files for tests and benchmarks (see the
 * header). Values are scaled so activations stay near unit size through the layers, which keeps
 * logits meaningful for comparing against llama.cpp. Not a converter of real checkpoints.
 */
#include "test-model-maker.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm-gguf.h"
#include "sm-quant.h"

sm_test_model_spec
sm_test_model_default_spec (void)
{
  sm_test_model_spec s = { 0 };
  s.arch = "llama";
  s.n_vocab = 512;
  s.dim = 256;
  s.n_layer = 2;
  s.n_head = 4;
  s.n_head_kv = 2;
  s.n_ff = 512;
  s.n_ctx = 512;
  s.type = SM_TYPE_F32;
  s.embd_type = -1;
  s.seed = 42;
  return s;
}

typedef struct
{
  char    name[64];
  sm_type type;
  int64_t ne[2];
  int     n_dims;
  int     kind;   /* 0 matrix, 1 norm gain, 2 bias, 3 rope factors, 4 embedding */
} tensor_plan;

static uint64_t
splitmix (uint64_t *state)
{
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static float
uniform (uint64_t *state)
{
  return (float) ((splitmix (state) >> 40) * (1.0 / 8388608.0) - 1.0);
}

static uint32_t
ftype_of (sm_type t)
{
  switch (t)
    {
    case SM_TYPE_F32: return SM_FTYPE_ALL_F32;
    case SM_TYPE_F16: return SM_FTYPE_MOSTLY_F16;
    case SM_TYPE_BF16: return SM_FTYPE_MOSTLY_BF16;
    case SM_TYPE_Q4_0: return SM_FTYPE_MOSTLY_Q4_0;
    case SM_TYPE_Q4_1: return SM_FTYPE_MOSTLY_Q4_1;
    case SM_TYPE_Q5_0: return SM_FTYPE_MOSTLY_Q5_0;
    case SM_TYPE_Q5_1: return SM_FTYPE_MOSTLY_Q5_1;
    case SM_TYPE_Q8_0: return SM_FTYPE_MOSTLY_Q8_0;
    case SM_TYPE_Q2_K: return SM_FTYPE_MOSTLY_Q2_K;
    case SM_TYPE_Q3_K: return SM_FTYPE_MOSTLY_Q3_K_M;
    case SM_TYPE_Q4_K: return SM_FTYPE_MOSTLY_Q4_K_M;
    case SM_TYPE_Q5_K: return SM_FTYPE_MOSTLY_Q5_K_M;
    case SM_TYPE_Q6_K: return SM_FTYPE_MOSTLY_Q6_K;
    case SM_TYPE_IQ4_NL: return SM_FTYPE_MOSTLY_IQ4_NL;
    case SM_TYPE_IQ4_XS: return SM_FTYPE_MOSTLY_IQ4_XS;
    default: return SM_FTYPE_ALL_F32;
    }
}

static void
add_plan (tensor_plan *plans,
          int         *n,
          const char  *name,
          sm_type      type,
          int64_t      ne0,
          int64_t      ne1,
          int          kind)
{
  tensor_plan *p = &plans[(*n)++];
  snprintf (p->name, sizeof p->name, "%s", name);
  p->type = type;
  p->ne[0] = ne0;
  p->ne[1] = ne1;
  p->n_dims = ne1 > 0 ? 2 : 1;
  p->kind = kind;
}

static sm_status
write_vocab (sm_gguf_writer           *w,
             const sm_test_model_spec *spec,
             int64_t                  *n_vocab,
             sm_error                 *err)
{
  if (spec->vocab_path != NULL)
    {
      sm_gguf *v = NULL;
      sm_status st = sm_gguf_open (spec->vocab_path, &v, err);
      int64_t ki;

      if (st != SM_OK)
        return st;
      ki = sm_gguf_find_key (v, "tokenizer.ggml.tokens");
      if (ki < 0)
        {
          sm_gguf_free (v);
          return sm_error_set (err, SM_ERR_NOT_FOUND, "%s has no tokenizer.ggml.tokens",
                               spec->vocab_path);
        }
      *n_vocab = (int64_t) sm_gguf_get_arr_n (v, ki);
      for (int64_t i = 0; i < sm_gguf_get_n_kv (v); i++)
        if (strncmp (sm_gguf_get_key (v, i), "tokenizer.", 10) == 0)
          sm_gguf_writer_copy_kv (w, v, i);
      sm_gguf_free (v);
      return SM_OK;
    }
  else
    {
      int64_t n = spec->n_vocab;
      char **strs = calloc ((size_t) n, sizeof *strs);
      float *scores = calloc ((size_t) n, sizeof *scores);
      int32_t *types = calloc ((size_t) n, sizeof *types);

      if (strs == NULL || scores == NULL || types == NULL)
        {
          free (strs);
          free (scores);
          free (types);
          return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
        }
      for (int64_t i = 0; i < n; i++)
        {
          strs[i] = malloc (32);
          if (strs[i] != NULL)
            snprintf (strs[i], 32, i == 0 ? "<unk>" : i == 1 ? "<s>" : i == 2 ? "</s>" : "t%lld",
                      (long long) i);
          scores[i] = -(float) i;
          types[i] = i == 0 ? 2 : i < 3 ? 3 : 1;
        }
      sm_gguf_writer_set_str (w, "tokenizer.ggml.model", "llama");
      sm_gguf_writer_set_arr_str (w, "tokenizer.ggml.tokens", (const char *const *) strs,
                                  (uint64_t) n);
      sm_gguf_writer_set_arr_data (w, "tokenizer.ggml.scores", SM_GGUF_TYPE_FLOAT32, scores,
                                   (uint64_t) n);
      sm_gguf_writer_set_arr_data (w, "tokenizer.ggml.token_type", SM_GGUF_TYPE_INT32, types,
                                   (uint64_t) n);
      sm_gguf_writer_set_u32 (w, "tokenizer.ggml.bos_token_id", 1);
      sm_gguf_writer_set_u32 (w, "tokenizer.ggml.eos_token_id", 2);
      sm_gguf_writer_set_u32 (w, "tokenizer.ggml.unknown_token_id", 0);
      for (int64_t i = 0; i < n; i++)
        free (strs[i]);
      free (strs);
      free (scores);
      free (types);
      *n_vocab = n;
      return SM_OK;
    }
}

/* Fills one tensor: rows generated in F32 from a per-tensor seed, converted row by row. */
static sm_status
write_tensor (sm_gguf_writer           *w,
              const sm_test_model_spec *spec,
              const tensor_plan        *p,
              sm_error                 *err)
{
  uint64_t index = 0xcbf29ce484222325ull; /* FNV-1a of the name: seeds follow names, not order */
  for (const char *c = p->name; *c != '\0'; c++)
    index = (index ^ (uint8_t) *c) * 0x100000001b3ull;
  int64_t ne0 = p->ne[0], ne1 = p->n_dims == 2 ? p->ne[1] : 1;
  size_t row_size = sm_type_row_size (p->type, ne0);
  uint8_t *data = malloc (row_size * (size_t) ne1);
  float *row = malloc (sizeof (float) * (size_t) ne0);
  uint64_t state = spec->seed * 0x100000001b3ull + index * 0x9e3779b97f4a7c15ull;
  float scale = p->kind == 0 ? sqrtf (3.0f / (float) ne0) : 1.0f;
  sm_status st;

  if (data == NULL || row == NULL || row_size == 0)
    {
      free (data);
      free (row);
      return sm_error_set (err, SM_ERR_NOMEM, "cannot build tensor %s", p->name);
    }
  for (int64_t r = 0; r < ne1; r++)
    {
      for (int64_t i = 0; i < ne0; i++)
        {
          float u = uniform (&state);
          switch (p->kind)
            {
            case 1: row[i] = 1.0f + 0.2f * u; break;          /* norm gain */
            case 2: row[i] = 0.5f * u; break;                 /* bias */
            case 3: row[i] = 1.0f + 3.5f * (u + 1.0f); break; /* rope divisors 1..8 */
            case 4: row[i] = 0.1f * u; break;                 /* embedding: small, so a tied
                                                                 output is not dominated by the
                                                                 last token's own row */
            default: row[i] = scale * u; break;
            }
        }
      if (p->type == SM_TYPE_F32)
        memcpy (data + (size_t) r * row_size, row, row_size);
      else if (sm_quantize_row (p->type, row, data + (size_t) r * row_size, ne0, NULL) == 0)
        {
          free (data);
          free (row);
          return sm_error_set (err, SM_ERR_UNSUPPORTED, "cannot write type %d", (int) p->type);
        }
    }
  st = sm_gguf_writer_write_tensor (w, data, row_size * (uint64_t) ne1, err);
  free (data);
  free (row);
  return st;
}

sm_status
sm_test_model_write (const sm_test_model_spec *spec,
                     const char               *path,
                     sm_error                 *err)
{
  sm_gguf_writer *w = sm_gguf_writer_new ();
  int32_t d = spec->dim, hd = spec->dim / spec->n_head;
  int32_t q_dim = spec->n_head * hd, kv_dim = spec->n_head_kv * hd;
  sm_type et = spec->embd_type >= 0 ? (sm_type) spec->embd_type : spec->type;
  bool bias = spec->qkv_bias || strcmp (spec->arch, "qwen2") == 0;
  tensor_plan *plans;
  int n_plans = 0;
  int64_t n_vocab = 0;
  char key[128], name[64];
  sm_status st;

  plans = calloc ((size_t) spec->n_layer * 12 + 8, sizeof *plans);
  if (w == NULL || plans == NULL)
    {
      sm_gguf_writer_free (w);
      free (plans);
      return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
    }

  sm_gguf_writer_set_str (w, "general.architecture", spec->arch);
  sm_gguf_writer_set_str (w, "general.name", "smelt test model");
  sm_gguf_writer_set_u32 (w, "general.file_type", ftype_of (spec->type));
  if (sm_type_get_traits (spec->type)->quantized)
    sm_gguf_writer_set_u32 (w, "general.quantization_version", 2);
#define ARCH_U32(suffix, v)                                                                       \
  do                                                                                              \
    {                                                                                             \
      snprintf (key, sizeof key, "%s.%s", spec->arch, suffix);                                    \
      sm_gguf_writer_set_u32 (w, key, (uint32_t) (v));                                            \
    }                                                                                             \
  while (0)
  ARCH_U32 ("context_length", spec->n_ctx);
  ARCH_U32 ("embedding_length", d);
  ARCH_U32 ("block_count", spec->n_layer);
  ARCH_U32 ("feed_forward_length", spec->n_ff);
  ARCH_U32 ("attention.head_count", spec->n_head);
  ARCH_U32 ("attention.head_count_kv", spec->n_head_kv);
  ARCH_U32 ("rope.dimension_count", hd);
#undef ARCH_U32
  snprintf (key, sizeof key, "%s.attention.layer_norm_rms_epsilon", spec->arch);
  sm_gguf_writer_set_f32 (w, key, 1e-5f);
  snprintf (key, sizeof key, "%s.rope.freq_base", spec->arch);
  sm_gguf_writer_set_f32 (w, key, spec->rope_base > 0 ? spec->rope_base : 10000.0f);
  if (spec->rope_scaling != NULL)
    {
      snprintf (key, sizeof key, "%s.rope.scaling.type", spec->arch);
      sm_gguf_writer_set_str (w, key, spec->rope_scaling);
      snprintf (key, sizeof key, "%s.rope.scaling.factor", spec->arch);
      sm_gguf_writer_set_f32 (w, key, 2.0f);
    }

  if ((st = write_vocab (w, spec, &n_vocab, err)) != SM_OK)
    goto out;

  add_plan (plans, &n_plans, "token_embd.weight", et, d, n_vocab, 4);
  if (spec->rope_freqs)
    add_plan (plans, &n_plans, "rope_freqs.weight", SM_TYPE_F32, hd / 2, 0, 3);
  for (int32_t l = 0; l < spec->n_layer; l++)
    {
#define PLAN(suffix, type, ne0, ne1, kind)                                                        \
  do                                                                                              \
    {                                                                                             \
      snprintf (name, sizeof name, "blk.%d.%s", (int) l, suffix);                                 \
      add_plan (plans, &n_plans, name, type, ne0, ne1, kind);                                     \
    }                                                                                             \
  while (0)
      PLAN ("attn_norm.weight", SM_TYPE_F32, d, 0, 1);
      PLAN ("attn_q.weight", spec->type, d, q_dim, 0);
      PLAN ("attn_k.weight", spec->type, d, kv_dim, 0);
      PLAN ("attn_v.weight", spec->type, d, kv_dim, 0);
      if (bias)
        {
          PLAN ("attn_q.bias", SM_TYPE_F32, q_dim, 0, 2);
          PLAN ("attn_k.bias", SM_TYPE_F32, kv_dim, 0, 2);
          PLAN ("attn_v.bias", SM_TYPE_F32, kv_dim, 0, 2);
        }
      PLAN ("attn_output.weight", spec->type, q_dim, d, 0);
      PLAN ("ffn_norm.weight", SM_TYPE_F32, d, 0, 1);
      PLAN ("ffn_gate.weight", spec->type, d, spec->n_ff, 0);
      PLAN ("ffn_up.weight", spec->type, d, spec->n_ff, 0);
      PLAN ("ffn_down.weight", spec->type, spec->n_ff, d, 0);
#undef PLAN
    }
  add_plan (plans, &n_plans, "output_norm.weight", SM_TYPE_F32, d, 0, 1);
  if (!spec->tied)
    add_plan (plans, &n_plans, "output.weight", et, d, n_vocab, 0);

  for (int i = 0; i < n_plans; i++)
    {
      tensor_plan *p = &plans[i];
      if (spec->drop_tensor != NULL && strcmp (p->name, spec->drop_tensor) == 0)
        {
          p->name[0] = '\0';
          continue;
        }
      if (spec->bad_shape != NULL && strcmp (p->name, spec->bad_shape) == 0)
        p->ne[p->n_dims - 1] /= 2;
      if ((st = sm_gguf_writer_add_tensor (w, p->name, p->type, (uint32_t) p->n_dims, p->ne,
                                           err)) != SM_OK)
        goto out;
    }
  if (spec->split_bytes > 0)
    sm_gguf_writer_set_split (w, spec->split_bytes, 0);
  if ((st = sm_gguf_writer_begin (w, path, err)) != SM_OK)
    goto out;
  for (int i = 0; i < n_plans; i++)
    if (plans[i].name[0] != '\0'
        && (st = write_tensor (w, spec, &plans[i], err)) != SM_OK)
      goto out;
  st = sm_gguf_writer_finish (w, err);

out:
  sm_gguf_writer_free (w);
  free (plans);
  return st;
}
