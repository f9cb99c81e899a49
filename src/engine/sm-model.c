/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-model.c: loading llama/qwen2 GGUF models and their forward pass.
 *
 * Shaped like llama2.c's run.c: hyper-parameters (sm_model_hparams), weights as views into the
 * mapping (sm_weights), run state of scratch buffers (sm_run_state), and the owner structs
 * (sm_model for what is shared, sm_context for one conversation). The forward pass at the end of
 * the file reads top to bottom like formats.md section 9. Matrix products go row by row through
 * sm_vec_dot with the activations converted once per token to the weight type's dot partner; the
 * compute pool splits output rows, and prompt batches walk a block of weight rows over every
 * token so the block stays in cache. Not here: tokenizer, templates, sampling.
 */
#include "sm-model.h"

#include <assert.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sm-dispatch.h"
#include "sm-quant.h"
#include "sm-threadpool.h"
#ifdef SM_HAVE_X86_KERNELS
#include "arch/sm-amx-bf16.h"
#define SM_HAVE_AMX_PATH 1
#endif

/* Fewest tokens of a batch that take the AMX-BF16 prompt path (decoding the weights to BF16
 * costs about what 20-30 tokens of tile work do; below, the int8 panels are faster). */
#define SM_AMX_MIN_TOKENS 32

/* ---- Structs ---- */

/* A 2-D weight viewed in the mapping: n_out rows of n_in elements of `type`. */
typedef struct
{
  const void *data;     /* (n_out, row_size) bytes in the mapped file */
  sm_type     type;
  int64_t     n_in;     /* ne0: elements per row */
  int64_t     n_out;    /* ne1: rows */
  size_t      row_size; /* bytes per row */
} sm_weight;

typedef struct
{
  float    *attn_norm; /* (dim) owned F32 copy */
  sm_weight wq;        /* (H*h, dim) */
  sm_weight wk;        /* (Hkv*h, dim) */
  sm_weight wv;        /* (Hkv*h, dim) */
  sm_weight wo;        /* (dim, H*h) */
  float    *bq;        /* (H*h) or NULL */
  float    *bk;        /* (Hkv*h) or NULL */
  float    *bv;        /* (Hkv*h) or NULL */
  float    *ffn_norm;  /* (dim) */
  sm_weight w_gate;    /* (n_ff, dim) */
  sm_weight w_up;      /* (n_ff, dim) */
  sm_weight w_down;    /* (dim, n_ff) */
} sm_layer_weights;

typedef struct
{
  sm_weight         token_embd;  /* (n_vocab, dim) */
  sm_layer_weights *layers;      /* (n_layer) */
  float            *output_norm; /* (dim) */
  sm_weight         output;      /* (n_vocab, dim); token_embd's view when tied */
  float            *rope_inv_freq; /* (n_rot/2) angle per position for each pair, scaling applied */
} sm_weights;

struct sm_model
{
  sm_model_hparams hp;
  sm_weights       w;
  sm_gguf         *gguf;         /* owns the mapping (or the copy) the weights point into */
  uint64_t         weight_bytes; /* tensor bytes read by the forward pass */
};

/* Scratch for one batch of up to n_batch tokens. */
typedef struct
{
  float   *x;       /* (n_batch, dim) residual stream */
  float   *xb;      /* (n_batch, dim) normed input of a sub-layer */
  float   *xb2;     /* (n_batch, dim) sub-layer output */
  float   *q;       /* (n_batch, H*h) */
  float   *k;       /* (n_batch, Hkv*h) */
  float   *v;       /* (n_batch, Hkv*h) */
  float   *att_out; /* (n_batch, H*h) attention result before Wo */
  float   *hb;      /* (n_batch, n_ff) gate, then silu(gate) * up */
  float   *hb2;     /* (n_batch, n_ff) up */
  float   *logits;  /* (n_vocab) after the last token */
  float   *logits_batch; /* (n_batch, n_vocab) only when all logits are asked for; else NULL */
  uint8_t *act;     /* (n_batch, act_row_max) activations in the dot partner type */
  size_t   act_row_max; /* bytes of one converted activation row, largest over all weights */
  /* Per worker thread: attention scores and their F16 copies. */
  float   *att;     /* (n_threads, n_ctx) */
  uint16_t *att16;  /* (n_threads, n_ctx) */
  uint16_t *q16;    /* (n_threads, h) */
  /* uint16_t key_cache / value_cache: F16 bits. */
  uint16_t *key_cache;   /* (n_layer, n_ctx, Hkv*h) */
  uint16_t *value_cache; /* (n_layer, Hkv*h, n_ctx): transposed so one output element is a dot
                            product over positions */
  /* The AMX-BF16 prompt path (NULL where the CPU has none or n_batch is below
   * SM_AMX_MIN_TOKENS): a batch's activations packed as BF16 tiles, and per thread the decoded
   * weight tiles and partial sums (amx_scratch_bytes each). */
  uint8_t  *act_bf16;
  uint8_t  *act_bf16_lo; /* F16 weights: the lo parts of the split activations */
  uint8_t  *amx_scratch;
  size_t    amx_scratch_bytes;
} sm_run_state;

struct sm_context
{
  const sm_model *model;
  sm_run_state    s;
  sm_threadpool  *pool;
  uint32_t        n_ctx;   /* tokens */
  uint32_t        n_batch; /* tokens per forward call */
  uint32_t        n_past;  /* tokens in the cache */
  bool          (*abort_cb) (void *user_data);
  void           *abort_user_data;
  /* Which activation rows are in s.act: src pointer, dot type and count (a cache, so Wq/Wk/Wv
   * and gate/up convert their shared input once). */
  const float    *act_src;
  sm_type         act_type;
  int32_t         act_n;
  bool            act_packed; /* s.act_bf16 holds them (AMX path), not s.act */
  bool            act_split;  /* ... as the F16 hi + lo split (s.act_bf16, s.act_bf16_lo) */
};

/* ---- Loading ---- */

const char *
sm_arch_name (sm_arch arch)
{
  switch (arch)
    {
    case SM_ARCH_LLAMA:
      return "llama";
    case SM_ARCH_QWEN2:
      return "qwen2";
    }
  return "?";
}

sm_model_params
sm_model_default_params (void)
{
  sm_model_params p = { NULL, NULL, false, SM_WEIGHTS_AUTO };
  return p;
}

/* ---- Where the weights live ---- */

/* Bytes of MemAvailable from /proc/meminfo; 0 when it cannot be read. */
static uint64_t
mem_available (void)
{
  char line[256];
  unsigned long long kb = 0;
  FILE *f = fopen ("/proc/meminfo", "re");

  if (f == NULL)
    return 0;
  while (fgets (line, sizeof line, f) != NULL)
    if (sscanf (line, "MemAvailable: %llu kB", &kb) == 1)
      break;
  fclose (f);
  return (uint64_t) kb * 1024;
}

/* The first number in a one-line file; false when it is missing or not a number ("max"). */
static bool
read_u64_file (const char *path,
               uint64_t   *out)
{
  unsigned long long v = 0;
  FILE *f = fopen (path, "re");
  bool ok;

  if (f == NULL)
    return false;
  ok = fscanf (f, "%llu", &v) == 1;
  fclose (f);
  if (ok)
    *out = v;
  return ok;
}

/* Room left under this process's memory cgroup limit, as mounted in its namespace (cgroup v2,
 * else v1); UINT64_MAX when there is no limit to see. Usage counts page cache, so this errs on
 * the side of the file mapping. */
static uint64_t
cgroup_headroom (void)
{
  uint64_t limit, usage;

  if ((read_u64_file ("/sys/fs/cgroup/memory.max", &limit)
       && read_u64_file ("/sys/fs/cgroup/memory.current", &usage))
      || (read_u64_file ("/sys/fs/cgroup/memory/memory.limit_in_bytes", &limit)
          && read_u64_file ("/sys/fs/cgroup/memory/memory.usage_in_bytes", &usage)))
    return limit > usage ? limit - usage : 0;
  return UINT64_MAX;
}

/* Whether the kernel can back an madvise(MADV_HUGEPAGE) region with huge pages: THP built in
 * and its mode not "[never]". */
static bool
huge_pages_usable (void)
{
  char line[256];
  bool ok;
  FILE *f = fopen ("/sys/kernel/mm/transparent_hugepage/enabled", "re");

  if (f == NULL)
    return false;
  ok = fgets (line, sizeof line, f) != NULL && strstr (line, "[never]") == NULL;
  fclose (f);
  return ok;
}

/* SM_WEIGHTS_AUTO: copying pays only with huge pages, and only when the copy leaves the rest of
 * the system room (1 GiB + 10% of what is available, in the machine and under the cgroup
 * limit); otherwise the page cache serves. */
static sm_weight_storage
choose_storage (const sm_gguf *g)
{
  uint64_t bytes = sm_gguf_get_tensor_data_bytes (g), avail, margin;

  if (!huge_pages_usable ())
    return SM_WEIGHTS_MMAP;
  avail = mem_available ();
  if (cgroup_headroom () < avail)
    avail = cgroup_headroom ();
  margin = ((uint64_t) 1 << 30) + avail / 10;
  return avail > margin && bytes < avail - margin ? SM_WEIGHTS_COPY : SM_WEIGHTS_MMAP;
}

/* The copy is the bulk of a load: it reports progress in [0, LOAD_COPY_SHARE]. */
#define LOAD_COPY_SHARE 0.8f

static bool
copy_progress (uint64_t done,
               uint64_t total,
               void    *user_data)
{
  const sm_model_params *params = user_data;
  float f = total > 0 ? (float) ((double) done / (double) total) : 1.0f;

  return params->progress (LOAD_COPY_SHARE * f, params->progress_user_data);
}

/* Reads "{arch}.<suffix>" as an unsigned integer; a scalar or an array whose elements are all
 * equal (per-layer arrays). */
static sm_status
get_arch_uint (const sm_gguf *g,
               const char    *arch,
               const char    *suffix,
               bool           required,
               uint64_t       fallback,
               uint64_t      *out,
               sm_error      *err)
{
  char key[128];
  int64_t i;

  snprintf (key, sizeof key, "%s.%s", arch, suffix);
  i = sm_gguf_find_key (g, key);
  if (i < 0)
    {
      if (required)
        return sm_error_set (err, SM_ERR_NOT_FOUND, "missing metadata key %s", key);
      *out = fallback;
      return SM_OK;
    }
  if (sm_gguf_get_kv_type (g, i) == SM_GGUF_TYPE_ARRAY)
    {
      sm_gguf_type et = sm_gguf_get_arr_type (g, i);
      uint64_t n = sm_gguf_get_arr_n (g, i);
      const uint8_t *d = sm_gguf_get_arr_data (g, i);
      uint64_t first = 0;

      if (n == 0 || (et != SM_GGUF_TYPE_UINT32 && et != SM_GGUF_TYPE_INT32) || d == NULL)
        return sm_error_set (err, SM_ERR_FORMAT, "metadata key %s: unsupported array", key);
      for (uint64_t j = 0; j < n; j++)
        {
          uint32_t v;
          memcpy (&v, d + 4 * j, 4);
          if (j == 0)
            first = v;
          else if (v != first)
            return sm_error_set (err, SM_ERR_UNSUPPORTED,
                                 "metadata key %s: layers of different sizes are not supported",
                                 key);
        }
      *out = first;
      return SM_OK;
    }
  if (!sm_gguf_find_uint (g, key, out))
    return sm_error_set (err, SM_ERR_FORMAT, "metadata key %s is not an unsigned integer", key);
  return SM_OK;
}

static double
get_arch_float (const sm_gguf *g,
                const char    *arch,
                const char    *suffix,
                double         fallback)
{
  char key[128];
  double v;

  snprintf (key, sizeof key, "%s.%s", arch, suffix);
  return sm_gguf_find_float (g, key, &v) ? v : fallback;
}

static sm_status
find_weight (const sm_gguf *g,
             const char    *name,
             int64_t        n_in,
             int64_t        n_out,
             sm_weight     *out,
             sm_error      *err)
{
  const sm_gguf_tensor *t = sm_gguf_find_tensor (g, name);

  if (t == NULL)
    return sm_error_set (err, SM_ERR_NOT_FOUND, "missing tensor %s", name);
  if (t->ne[0] != n_in || t->ne[1] != n_out || t->ne[2] != 1 || t->ne[3] != 1)
    return sm_error_set (err, SM_ERR_FORMAT,
                         "tensor %s has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]",
                         name, (long long) t->ne[0], (long long) t->ne[1], (long long) t->ne[2],
                         (long long) t->ne[3], (long long) n_in, (long long) n_out);
  if (!sm_quant_can_dequantize (t->type))
    {
      const sm_type_traits *tr = sm_type_get_traits (t->type);
      return sm_error_set (err, SM_ERR_UNSUPPORTED, "tensor %s has type %s, which is not supported",
                           name, tr != NULL ? tr->upper : "?");
    }
  out->data = t->data;
  out->type = t->type;
  out->n_in = n_in;
  out->n_out = n_out;
  out->row_size = sm_type_row_size (t->type, n_in);
  if (out->row_size == 0 || out->row_size * (uint64_t) n_out > t->size)
    return sm_error_set (err, SM_ERR_FORMAT, "tensor %s: rows of %lld do not fit its type",
                         name, (long long) n_in);
  return SM_OK;
}

/* A 1-D tensor of n values copied to F32 (norm gains, biases, rope factors are tiny). */
static sm_status
load_vector (const sm_gguf *g,
             const char    *name,
             int64_t        n,
             bool           required,
             float        **out,
             sm_error      *err)
{
  const sm_gguf_tensor *t = sm_gguf_find_tensor (g, name);
  float *v;

  *out = NULL;
  if (t == NULL)
    return required ? sm_error_set (err, SM_ERR_NOT_FOUND, "missing tensor %s", name) : SM_OK;
  if (sm_gguf_tensor_nelements (t) != n || t->ne[0] != n)
    return sm_error_set (err, SM_ERR_FORMAT, "tensor %s has %lld elements, expected %lld",
                         name, (long long) sm_gguf_tensor_nelements (t), (long long) n);
  if (sm_type_row_size (t->type, n) == 0 || sm_type_row_size (t->type, n) > t->size)
    return sm_error_set (err, SM_ERR_FORMAT, "tensor %s: bad size for its type", name);
  v = malloc (sizeof *v * (size_t) n);
  if (v == NULL)
    return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
  if (!sm_dequantize_row (t->type, t->data, v, n))
    {
      free (v);
      return sm_error_set (err, SM_ERR_UNSUPPORTED, "tensor %s: unsupported type", name);
    }
  *out = v;
  return SM_OK;
}

static sm_status
load_hparams (sm_model *m,
              sm_error *err)
{
  const sm_gguf *g = m->gguf;
  sm_model_hparams *hp = &m->hp;
  sm_gguf_str s;
  char arch[64];
  uint64_t v;
  sm_status st;

  if (!sm_gguf_find_str (g, "general.architecture", &s))
    return sm_error_set (err, SM_ERR_NOT_FOUND, "missing metadata key general.architecture");
  if (s.len == 0 || s.len >= sizeof arch)
    return sm_error_set (err, SM_ERR_UNSUPPORTED, "unknown architecture (%llu bytes long)",
                         (unsigned long long) s.len);
  memcpy (arch, s.ptr, s.len);
  arch[s.len] = '\0';
  for (size_t i = 0; i < s.len; i++)
    if (arch[i] < 0x20 || arch[i] > 0x7e)
      arch[i] = '?';
  if (strcmp (arch, "llama") == 0)
    {
      hp->arch = SM_ARCH_LLAMA;
      hp->rope_type = SM_ROPE_NORM;
    }
  else if (strcmp (arch, "qwen2") == 0)
    {
      hp->arch = SM_ARCH_QWEN2;
      hp->rope_type = SM_ROPE_NEOX;
    }
  else
    return sm_error_set (err, SM_ERR_UNSUPPORTED,
                         "unsupported architecture '%s' (supported: llama, qwen2)", arch);

#define GET(suffix, req, def, field, lo, hi)                                                     \
  do                                                                                             \
    {                                                                                            \
      if ((st = get_arch_uint (g, arch, suffix, req, def, &v, err)) != SM_OK)                    \
        return st;                                                                               \
      if (v < (uint64_t) (lo) || v > (uint64_t) (hi))                                            \
        return sm_error_set (err, SM_ERR_FORMAT, "%s.%s = %llu is out of range", arch, suffix,   \
                             (unsigned long long) v);                                            \
      hp->field = (int32_t) v;                                                                   \
    }                                                                                            \
  while (0)

  GET ("embedding_length", true, 0, dim, 1, 1 << 17);
  GET ("block_count", true, 0, n_layer, 1, 4096);
  GET ("feed_forward_length", true, 0, n_ff, 1, 1 << 20);
  GET ("attention.head_count", true, 0, n_head, 1, 4096);
  GET ("attention.head_count_kv", false, (uint64_t) hp->n_head, n_head_kv, 1, 4096);
  GET ("context_length", false, 2048, n_ctx_train, 1, 1 << 30);
  if (hp->dim % hp->n_head != 0)
    return sm_error_set (err, SM_ERR_FORMAT, "embedding length %d is not a multiple of %d heads",
                         hp->dim, hp->n_head);
  GET ("attention.key_length", false, (uint64_t) (hp->dim / hp->n_head), head_dim, 1, 1 << 16);
  {
    int32_t key_len = hp->head_dim;
    GET ("attention.value_length", false, (uint64_t) key_len, head_dim, 1, 1 << 16);
    if (hp->head_dim != key_len)
      return sm_error_set (err, SM_ERR_UNSUPPORTED,
                           "key length %d differs from value length %d", key_len, hp->head_dim);
  }
  GET ("rope.dimension_count", false, (uint64_t) hp->head_dim, n_rot, 2, hp->head_dim);
#undef GET
  if (hp->n_head % hp->n_head_kv != 0)
    return sm_error_set (err, SM_ERR_FORMAT, "%d heads are not a multiple of %d KV heads",
                         hp->n_head, hp->n_head_kv);
  if (hp->n_rot % 2 != 0)
    return sm_error_set (err, SM_ERR_FORMAT, "rope dimension count %d is odd", hp->n_rot);

  hp->norm_eps = (float) get_arch_float (g, arch, "attention.layer_norm_rms_epsilon",
                                         hp->arch == SM_ARCH_QWEN2 ? 1e-6 : 1e-5);
  hp->rope_freq_base = (float) get_arch_float (g, arch, "rope.freq_base", 10000.0);
  if (!(hp->norm_eps > 0.0f) || !(hp->rope_freq_base > 0.0f))
    return sm_error_set (err, SM_ERR_FORMAT, "bad rms epsilon or rope frequency base");

  /* Rope scaling: linear divides positions; llama3 ("rope_freqs.weight") divides per pair and is
   * read with the tensors; YaRN and longrope change the attention maths and are refused. */
  hp->rope_freq_scale = 1.0f;
  {
    char key[128];
    sm_gguf_str type;
    double factor = get_arch_float (g, arch, "rope.scaling.factor", 0.0);

    snprintf (key, sizeof key, "%s.rope.scaling.type", arch);
    if (sm_gguf_find_str (g, key, &type))
      {
        if (type.len == 6 && memcmp (type.ptr, "linear", 6) == 0)
          {
            if (factor > 0.0)
              hp->rope_freq_scale = (float) (1.0 / factor);
          }
        else if (type.len == 6 && memcmp (type.ptr, "llama3", 6) == 0)
          {
            /* The llama3 per-pair factors only exist as rope_freqs.weight. */
            if (sm_gguf_find_tensor (g, "rope_freqs.weight") == NULL)
              return sm_error_set (err, SM_ERR_NOT_FOUND,
                                   "rope scaling llama3 without tensor rope_freqs.weight");
          }
        else if (!(type.len == 4 && memcmp (type.ptr, "none", 4) == 0))
          return sm_error_set (err, SM_ERR_UNSUPPORTED, "rope scaling type '%.*s' is not supported",
                               (int) (type.len < 32 ? type.len : 32), type.ptr);
      }
    else
      {
        double lin = get_arch_float (g, arch, "rope.scale_linear", 0.0);
        if (lin > 0.0)
          hp->rope_freq_scale = (float) (1.0 / lin);
      }
  }
  return SM_OK;
}

/* Progress runs from p0 to 0.9 over the layers, then (prefault) to 1. */
static sm_status
load_weights (sm_model              *m,
              const sm_model_params *params,
              float                  p0,
              sm_error              *err)
{
  const sm_gguf *g = m->gguf;
  sm_model_hparams *hp = &m->hp;
  sm_weights *w = &m->w;
  const sm_gguf_tensor *embd = sm_gguf_find_tensor (g, "token_embd.weight");
  int64_t d = hp->dim, hd = hp->head_dim;
  int64_t q_dim = (int64_t) hp->n_head * hd, kv_dim = (int64_t) hp->n_head_kv * hd;
  char name[SM_GGUF_MAX_NAME];
  sm_status st;

  if (embd == NULL)
    return sm_error_set (err, SM_ERR_NOT_FOUND, "missing tensor token_embd.weight");
  if (embd->ne[1] < 1 || embd->ne[1] > (1 << 24))
    return sm_error_set (err, SM_ERR_FORMAT, "token_embd.weight has a bad vocabulary size");
  hp->n_vocab = (int32_t) embd->ne[1];
  if ((st = find_weight (g, "token_embd.weight", d, hp->n_vocab, &w->token_embd, err)) != SM_OK)
    return st;
  m->weight_bytes = w->token_embd.row_size * (uint64_t) hp->n_vocab;

  w->layers = calloc ((size_t) hp->n_layer, sizeof *w->layers);
  if (w->layers == NULL)
    return sm_error_set (err, SM_ERR_NOMEM, "out of memory");

  hp->has_qkv_bias = sm_gguf_find_tensor (g, "blk.0.attn_q.bias") != NULL;
  if (hp->arch == SM_ARCH_QWEN2 && !hp->has_qkv_bias)
    return sm_error_set (err, SM_ERR_NOT_FOUND, "missing tensor blk.0.attn_q.bias");

  for (int32_t l = 0; l < hp->n_layer; l++)
    {
      sm_layer_weights *lw = &w->layers[l];

#define WEIGHT(suffix, rows_in, rows_out, field)                                                       \
  do                                                                                             \
    {                                                                                            \
      snprintf (name, sizeof name, "blk.%d.%s", (int) l, suffix);                                \
      if ((st = find_weight (g, name, rows_in, rows_out, &lw->field, err)) != SM_OK)             \
        return st;                                                                               \
      m->weight_bytes += lw->field.row_size * (uint64_t) lw->field.n_out;                        \
    }                                                                                            \
  while (0)
#define VECTOR(suffix, n, req, field)                                                            \
  do                                                                                             \
    {                                                                                            \
      snprintf (name, sizeof name, "blk.%d.%s", (int) l, suffix);                                \
      if ((st = load_vector (g, name, n, req, &lw->field, err)) != SM_OK)                        \
        return st;                                                                               \
    }                                                                                            \
  while (0)

      VECTOR ("attn_norm.weight", d, true, attn_norm);
      WEIGHT ("attn_q.weight", d, q_dim, wq);
      WEIGHT ("attn_k.weight", d, kv_dim, wk);
      WEIGHT ("attn_v.weight", d, kv_dim, wv);
      WEIGHT ("attn_output.weight", q_dim, d, wo);
      VECTOR ("attn_q.bias", q_dim, hp->has_qkv_bias, bq);
      VECTOR ("attn_k.bias", kv_dim, hp->has_qkv_bias, bk);
      VECTOR ("attn_v.bias", kv_dim, hp->has_qkv_bias, bv);
      VECTOR ("ffn_norm.weight", d, true, ffn_norm);
      WEIGHT ("ffn_gate.weight", d, hp->n_ff, w_gate);
      WEIGHT ("ffn_up.weight", d, hp->n_ff, w_up);
      WEIGHT ("ffn_down.weight", hp->n_ff, d, w_down);
#undef WEIGHT
#undef VECTOR
      if (params->progress != NULL
          && !params->progress (p0 + (0.9f - p0) * (float) (l + 1) / (float) hp->n_layer,
                                params->progress_user_data))
        return sm_error_set (err, SM_ERR_CANCELLED, "model load cancelled");
    }

  if ((st = load_vector (g, "output_norm.weight", d, true, &w->output_norm, err)) != SM_OK)
    return st;
  hp->tied_embeddings = sm_gguf_find_tensor (g, "output.weight") == NULL;
  if (hp->tied_embeddings)
    w->output = w->token_embd;
  else
    {
      if ((st = find_weight (g, "output.weight", d, hp->n_vocab, &w->output, err)) != SM_OK)
        return st;
      m->weight_bytes += w->output.row_size * (uint64_t) hp->n_vocab;
    }

  /* Rope: the angle of pair i at position p is p * base^(-2i/n_rot) / rope_freqs[i] * scale. */
  {
    int32_t n_pairs = hp->n_rot / 2;
    float *ff = NULL;

    if ((st = load_vector (g, "rope_freqs.weight", n_pairs, false, &ff, err)) != SM_OK)
      return st;
    hp->has_rope_freqs = ff != NULL;
    w->rope_inv_freq = malloc (sizeof (float) * (size_t) n_pairs);
    if (w->rope_inv_freq == NULL)
      {
        free (ff);
        return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
      }
    for (int32_t i = 0; i < n_pairs; i++)
      {
        double f = pow ((double) hp->rope_freq_base, -2.0 * i / (double) hp->n_rot);
        if (ff != NULL)
          f /= (double) ff[i];
        w->rope_inv_freq[i] = (float) (f * hp->rope_freq_scale);
      }
    free (ff);
  }

  if (params->prefault && !sm_gguf_tensor_data_loaded (g))
    {
      /* Touch one byte per page of every tensor so the first prompt does not pay the faults. */
      volatile uint8_t sink = 0;
      int64_t n = sm_gguf_get_n_tensors (g);
      for (int64_t i = 0; i < n; i++)
        {
          const sm_gguf_tensor *t = sm_gguf_get_tensor (g, i);
          for (uint64_t off = 0; off < t->size; off += 4096)
            sink ^= ((const uint8_t *) t->data)[off];
          if (params->progress != NULL
              && !params->progress (0.9f + 0.1f * (float) (i + 1) / (float) n,
                                    params->progress_user_data))
            return sm_error_set (err, SM_ERR_CANCELLED, "model load cancelled");
        }
      (void) sink;
    }
  return SM_OK;
}

sm_status
sm_model_open (const char            *path,
               const sm_model_params *params,
               sm_model             **out,
               sm_error              *err)
{
  sm_model_params defaults = sm_model_default_params ();
  sm_weight_storage storage;
  sm_model *m;
  sm_status st;

  *out = NULL;
  if (params == NULL)
    params = &defaults;
  m = calloc (1, sizeof *m);
  if (m == NULL)
    return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
  if ((st = sm_gguf_open (path, &m->gguf, err)) != SM_OK
      || (st = load_hparams (m, err)) != SM_OK)
    {
      sm_model_free (m);
      return st;
    }
  storage = params->storage == SM_WEIGHTS_AUTO ? choose_storage (m->gguf) : params->storage;
  if (storage == SM_WEIGHTS_COPY
      && (st = sm_gguf_load_tensor_data (m->gguf, params->progress != NULL ? copy_progress : NULL,
                                         (void *) params, err)) != SM_OK)
    {
      /* A copy that AUTO chose but cannot be allocated (an address-space or overcommit limit
       * MemAvailable does not show) leaves the model on its mapping, which still works. */
      if (!(st == SM_ERR_NOMEM && params->storage == SM_WEIGHTS_AUTO))
        {
          sm_model_free (m);
          return st;
        }
      storage = SM_WEIGHTS_MMAP;
    }
  if ((st = load_weights (m, params, storage == SM_WEIGHTS_COPY ? LOAD_COPY_SHARE : 0.0f,
                          err)) != SM_OK)
    {
      sm_model_free (m);
      return st;
    }
  if (params->progress != NULL && !params->progress (1.0f, params->progress_user_data))
    {
      sm_model_free (m);
      return sm_error_set (err, SM_ERR_CANCELLED, "model load cancelled");
    }
  *out = m;
  return SM_OK;
}

void
sm_model_free (sm_model *m)
{
  if (m == NULL)
    return;
  if (m->w.layers != NULL)
    for (int32_t l = 0; l < m->hp.n_layer; l++)
      {
        sm_layer_weights *lw = &m->w.layers[l];
        free (lw->attn_norm);
        free (lw->ffn_norm);
        free (lw->bq);
        free (lw->bk);
        free (lw->bv);
      }
  free (m->w.layers);
  free (m->w.output_norm);
  free (m->w.rope_inv_freq);
  sm_gguf_free (m->gguf);
  free (m);
}

const sm_model_hparams *
sm_model_get_hparams (const sm_model *model)
{
  return &model->hp;
}

const sm_gguf *
sm_model_get_gguf (const sm_model *model)
{
  return model->gguf;
}

uint64_t
sm_model_get_weight_bytes (const sm_model *model)
{
  return model->weight_bytes;
}

sm_weight_storage
sm_model_get_weight_storage (const sm_model *model)
{
  return sm_gguf_tensor_data_loaded (model->gguf) ? SM_WEIGHTS_COPY : SM_WEIGHTS_MMAP;
}

/* ---- Context ---- */

sm_context_params
sm_context_default_params (void)
{
  sm_context_params p = { 0, 0, 0 };
  return p;
}

static size_t
act_row_bytes (const sm_weight *w)
{
  return sm_type_row_size (sm_quant_vec_dot_type (w->type), w->n_in);
}

sm_status
sm_context_new (const sm_model          *model,
                const sm_context_params *params,
                sm_context             **out,
                sm_error                *err)
{
  sm_context_params defaults = sm_context_default_params ();
  const sm_model_hparams *hp = &model->hp;
  sm_context *c;
  sm_run_state *s;
  size_t nb, kv_dim = (size_t) hp->n_head_kv * hp->head_dim;
  size_t q_dim = (size_t) hp->n_head * hp->head_dim;
  int64_t n_in_max;
  int nth;

  *out = NULL;
  if (params == NULL)
    params = &defaults;
  c = calloc (1, sizeof *c);
  if (c == NULL)
    return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
  c->model = model;
  c->n_ctx = params->n_ctx != 0 ? params->n_ctx
             : (uint32_t) (hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096);
  c->n_batch = params->n_batch != 0 ? params->n_batch : 128;
  if (c->n_batch > c->n_ctx)
    c->n_batch = c->n_ctx;
  if (c->n_ctx > (1u << 24))
    {
      uint32_t n_ctx = c->n_ctx;
      free (c);
      return sm_error_set (err, SM_ERR_INVALID_ARG, "context of %u tokens is too large", n_ctx);
    }
  c->pool = sm_threadpool_new (params->n_threads);
  if (c->pool == NULL)
    {
      free (c);
      return sm_error_set (err, SM_ERR_NOMEM, "cannot start the compute threads");
    }
  nth = sm_threadpool_get_n_threads (c->pool);
  nb = c->n_batch;

  s = &c->s;
  /* The largest converted activation row (and row length) over every weight the forward pass
   * multiplies. */
  s->act_row_max = act_row_bytes (&model->w.output);
  n_in_max = model->w.output.n_in;
  for (int32_t l = 0; l < hp->n_layer; l++)
    {
      const sm_layer_weights *lw = &model->w.layers[l];
      const sm_weight *ws[] = { &lw->wq, &lw->wk, &lw->wv, &lw->wo, &lw->w_gate, &lw->w_up,
                                &lw->w_down };
      for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
        {
          if (act_row_bytes (ws[i]) > s->act_row_max)
            s->act_row_max = act_row_bytes (ws[i]);
          if (ws[i]->n_in > n_in_max)
            n_in_max = ws[i]->n_in;
        }
    }
  s->act_row_max = (s->act_row_max + 63) & ~(size_t) 63;

  s->x = malloc (sizeof (float) * nb * hp->dim);
  s->xb = malloc (sizeof (float) * nb * hp->dim);
  s->xb2 = malloc (sizeof (float) * nb * hp->dim);
  s->q = malloc (sizeof (float) * nb * q_dim);
  s->k = malloc (sizeof (float) * nb * kv_dim);
  s->v = malloc (sizeof (float) * nb * kv_dim);
  s->att_out = malloc (sizeof (float) * nb * q_dim);
  s->hb = malloc (sizeof (float) * nb * hp->n_ff);
  s->hb2 = malloc (sizeof (float) * nb * hp->n_ff);
  s->logits = calloc ((size_t) hp->n_vocab, sizeof (float));
  s->act = aligned_alloc (64, nb * s->act_row_max);
  s->att = malloc (sizeof (float) * nth * c->n_ctx);
  s->att16 = malloc (sizeof (uint16_t) * nth * c->n_ctx);
  s->q16 = malloc (sizeof (uint16_t) * nth * hp->head_dim);
#ifdef SM_HAVE_AMX_PATH
  if (sm_dispatch_amx_bf16 () && nb >= SM_AMX_MIN_TOKENS && n_in_max >= 32)
    {
      /* Products whose n_in is not a multiple of 32 never take this path (use_amx). */
      s->act_bf16 = aligned_alloc (64, sm_amx_bf16_acts_bytes (n_in_max, (int) nb));
      s->act_bf16_lo = aligned_alloc (64, sm_amx_bf16_acts_bytes (n_in_max, (int) nb));
      s->amx_scratch_bytes = sm_amx_bf16_scratch_bytes ((int) nb);
      s->amx_scratch = aligned_alloc (64, (size_t) nth * s->amx_scratch_bytes);
      if (s->act_bf16 == NULL || s->act_bf16_lo == NULL || s->amx_scratch == NULL)
        {
          sm_context_free (c);
          return sm_error_set (err, SM_ERR_NOMEM, "out of memory for a context of %u tokens",
                               c->n_ctx);
        }
    }
#endif
  s->key_cache = calloc ((size_t) hp->n_layer * c->n_ctx * kv_dim, sizeof (uint16_t));
  s->value_cache = calloc ((size_t) hp->n_layer * c->n_ctx * kv_dim, sizeof (uint16_t));
  if (!s->x || !s->xb || !s->xb2 || !s->q || !s->k || !s->v || !s->att_out || !s->hb || !s->hb2
      || !s->logits || !s->act || !s->att || !s->att16 || !s->q16 || !s->key_cache
      || !s->value_cache)
    {
      sm_context_free (c);
      return sm_error_set (err, SM_ERR_NOMEM, "out of memory for a context of %u tokens",
                           c->n_ctx);
    }
  *out = c;
  return SM_OK;
}

void
sm_context_free (sm_context *c)
{
  if (c == NULL)
    return;
  sm_threadpool_free (c->pool);
  free (c->s.x);
  free (c->s.xb);
  free (c->s.xb2);
  free (c->s.q);
  free (c->s.k);
  free (c->s.v);
  free (c->s.att_out);
  free (c->s.hb);
  free (c->s.hb2);
  free (c->s.logits);
  free (c->s.logits_batch);
  free (c->s.act);
  free (c->s.att);
  free (c->s.att16);
  free (c->s.q16);
  free (c->s.act_bf16);
  free (c->s.act_bf16_lo);
  free (c->s.amx_scratch);
  free (c->s.key_cache);
  free (c->s.value_cache);
  free (c);
}

uint32_t
sm_context_get_n_ctx (const sm_context *ctx)
{
  return ctx->n_ctx;
}

int
sm_context_get_n_threads (const sm_context *ctx)
{
  return sm_threadpool_get_n_threads (ctx->pool);
}

uint32_t
sm_context_get_n_past (const sm_context *ctx)
{
  return ctx->n_past;
}

void
sm_context_truncate (sm_context *ctx,
                     uint32_t    n_past)
{
  if (n_past < ctx->n_past)
    ctx->n_past = n_past;
}

void
sm_context_set_abort (sm_context *ctx,
                      bool      (*abort_cb) (void *user_data),
                      void       *user_data)
{
  ctx->abort_cb = abort_cb;
  ctx->abort_user_data = user_data;
}

const float *
sm_context_get_logits (const sm_context *ctx)
{
  return ctx->s.logits;
}

/* ---- Building blocks of the forward pass ---- */

/* o = RMSNorm(x) * weight, for one row of n. */
static void
rmsnorm (float       *o,
         const float *x,
         const float *weight,
         int64_t      n,
         float        eps)
{
  double ss = 0.0;
  for (int64_t i = 0; i < n; i++)
    ss += (double) x[i] * x[i];
  float scale = (float) (1.0 / sqrt (ss / (double) n + eps));
  for (int64_t i = 0; i < n; i++)
    o[i] = x[i] * scale * weight[i];
}

static void
softmax (float  *x,
         int64_t n)
{
  float max = x[0];
  for (int64_t i = 1; i < n; i++)
    if (x[i] > max)
      max = x[i];
  double sum = 0.0;
  for (int64_t i = 0; i < n; i++)
    {
      x[i] = expf (x[i] - max);
      sum += x[i];
    }
  float inv = (float) (1.0 / sum);
  for (int64_t i = 0; i < n; i++)
    x[i] *= inv;
}

static inline float
silu (float x)
{
  return x / (1.0f + expf (-x));
}

/* Rotates the n_heads heads of h elements in v for position pos. */
static void
rope (float              *v,
      int32_t             n_heads,
      int32_t             h,
      int32_t             n_rot,
      sm_rope_type        type,
      const float        *inv_freq,
      int64_t             pos)
{
  int32_t n_pairs = n_rot / 2;
  for (int32_t i = 0; i < n_pairs; i++)
    {
      float theta = (float) pos * inv_freq[i];
      float c = cosf (theta), s = sinf (theta);
      for (int32_t hd = 0; hd < n_heads; hd++)
        {
          float *x = v + (int64_t) hd * h;
          int32_t i0 = type == SM_ROPE_NORM ? 2 * i : i;
          int32_t i1 = type == SM_ROPE_NORM ? 2 * i + 1 : i + n_pairs;
          float x0 = x[i0], x1 = x[i1];
          x[i0] = x0 * c - x1 * s;
          x[i1] = x0 * s + x1 * c;
        }
    }
}

/* Matrix products: out (n, n_out) = x (n, n_in) . W^T, through the compute pool. */

typedef struct
{
  const sm_weight *w;
  sm_vec_dot_fn    dot;     /* the dispatched kernel of w->type, looked up once per product */
  sm_gemm_tile_fn  gemm;    /* its tile kernel for batches; NULL: one dot per (row, token) */
  sm_gemv_fn       gemv;    /* its multi-row kernel for one token; NULL: one dot per row */
  sm_bf16_rows_fn  decode;  /* AMX-BF16 path: its BF16 row decoder (act = packed tiles) */
  const uint8_t   *act_lo;  /* AMX-BF16 path of F16 weights (decode NULL): the lo parts */
  uint8_t         *scratch; /* AMX-BF16 path: per-thread scratch, scratch_bytes apart */
  size_t           scratch_bytes;
  const uint8_t   *act;     /* (n, act_stride) converted rows */
  size_t           act_stride;
  float           *out;     /* (n, out_stride) */
  int64_t          out_stride;
  int32_t          n;       /* tokens */
} sm_matmul_job;

/* Rows per cache block: a block of weight rows is walked over every token of the batch, so
 * it is read from memory once per batch rather than once per token. */
#define SM_MATMUL_BLOCK 16

/* Prefetch distance of the one-token per-row path, in bytes (benchmarks/NOTES.md, stop 10). */
#define SM_MATMUL_PREFETCH 8192

static void
matmul_rows (void    *data,
             int64_t  begin,
             int64_t  end,
             int      ith)
{
  const sm_matmul_job *j = data;
  const sm_weight *w = j->w;
  const uint8_t *wdata = w->data;
  sm_vec_dot_fn dot = j->dot;

#ifdef SM_HAVE_AMX_PATH
  if (j->act_lo != NULL)
    {
      /* F16 weights on AMX-BF16 tiles, exactly (hi + lo parts, arch/sm-amx-bf16.c). */
      sm_amx_f16_gemm (w->n_in, wdata + (size_t) begin * w->row_size, w->row_size, end - begin,
                       j->act, j->act_lo, j->n, j->out + begin, (size_t) j->out_stride,
                       j->scratch + (size_t) ith * j->scratch_bytes);
      return;
    }
  if (j->decode != NULL)
    {
      /* A batch on AMX-BF16 tiles: the chunk's rows decoded 32 at a time (arch/sm-amx-bf16.c). */
      sm_amx_bf16_gemm (j->decode, w->n_in, wdata + (size_t) begin * w->row_size, w->row_size,
                        end - begin, j->act, j->n, j->out + begin, (size_t) j->out_stride,
                        j->scratch + (size_t) ith * j->scratch_bytes);
      return;
    }
#else
  (void) ith;
#endif
  if (j->gemv != NULL)
    {
      /* One token: the whole chunk of rows in one call (the kernel walks its rows in groups
       * against the one activation row). */
      j->gemv (w->n_in, wdata + (size_t) begin * w->row_size, w->row_size, end - begin, j->act,
               j->out + begin);
      return;
    }
  if (j->gemm != NULL && w->type == SM_TYPE_F16)
    {
      /* F16 tiles take the whole chunk of rows in one call: the AMX kernel splits each
       * activation into two BF16 parts once per call and shares them across its 16-row blocks
       * (arch/sm-float-avx512.c); the float panels walk their blocks themselves. */
      j->gemm (w->n_in, wdata + (size_t) begin * w->row_size, w->row_size, (int) (end - begin),
               j->act, j->act_stride, j->n, j->out + begin, (size_t) j->out_stride);
      return;
    }
  for (int64_t r0 = begin; r0 < end; r0 += SM_MATMUL_BLOCK)
    {
      int64_t r1 = r0 + SM_MATMUL_BLOCK < end ? r0 + SM_MATMUL_BLOCK : end;
      if (j->gemm != NULL)
        {
          /* The whole block against every token: weights decoded once per tile of tokens. */
          j->gemm (w->n_in, wdata + (size_t) r0 * w->row_size, w->row_size, (int) (r1 - r0),
                   j->act, j->act_stride, j->n, j->out + r0, (size_t) j->out_stride);
          continue;
        }
      if (j->n == 1)
        {
          /* One token streams every row once: prefetch each row's cache lines
           * SM_MATMUL_PREFETCH bytes ahead (the hardware prefetchers restart at every 4 KiB
           * page; a prefetch never faults, so passing the end of the matrix is harmless). */
          for (int64_t r = r0; r < r1; r++)
            {
              const uint8_t *row = wdata + (size_t) r * w->row_size;
              const uintptr_t pf = (uintptr_t) row + SM_MATMUL_PREFETCH; /* may pass the end */
              for (size_t k = 0; k < w->row_size; k += 64)
                __builtin_prefetch ((const void *) (pf + k));
              j->out[r] = dot (w->n_in, row, j->act);
            }
          continue;
        }
      for (int32_t t = 0; t < j->n; t++)
        {
          const uint8_t *a = j->act + (size_t) t * j->act_stride;
          float *o = j->out + (int64_t) t * j->out_stride;
          for (int64_t r = r0; r < r1; r++)
            o[r] = dot (w->n_in, wdata + (size_t) r * w->row_size, a);
        }
    }
}

typedef struct
{
  sm_type      type;
  const float *x;
  int64_t      n_in;
  uint8_t     *act;
  size_t       stride;
} sm_convert_job;

static void
convert_rows (void    *data,
              int64_t  begin,
              int64_t  end,
              int      ith)
{
  const sm_convert_job *j = data;
  for (int64_t t = begin; t < end; t++)
    sm_quant_activation_row (j->type, j->x + t * j->n_in, j->act + (size_t) t * j->stride,
                             j->n_in);
}

/* Converts x (n, w->n_in) for w unless the same rows are already converted for the same type. */
static void
prepare_activations (sm_context      *c,
                     const sm_weight *w,
                     const float     *x,
                     int32_t          n)
{
  sm_type vt = sm_quant_vec_dot_type (w->type);

  if (c->act_src == x && !c->act_packed && c->act_type == vt && c->act_n == n)
    return;
  sm_convert_job job = { w->type, x, w->n_in, c->s.act, c->s.act_row_max };
  sm_threadpool_parallel_for (c->pool, n, 1, convert_rows, &job);
  c->act_src = x;
  c->act_type = vt;
  c->act_n = n;
  c->act_packed = false;
}

#ifdef SM_HAVE_AMX_PATH
/* Whether the product of w with a batch of n tokens takes the AMX-BF16 path. */
static bool
use_amx (const sm_context *c,
         const sm_weight  *w,
         int32_t           n)
{
  return c->s.act_bf16 != NULL && n >= SM_AMX_MIN_TOKENS && w->n_in % 32 == 0
         && (w->type == SM_TYPE_F16 || sm_dispatch_bf16_rows (w->type) != NULL);
}

typedef struct
{
  const float *x;
  int64_t      n_in;
  int32_t      n;
  uint8_t     *dst;
  uint8_t     *dst_lo; /* F16 split: the lo parts; NULL: plain BF16 */
} sm_pack_job;

static void
pack_groups (void    *data,
             int64_t  begin,
             int64_t  end,
             int      ith)
{
  const sm_pack_job *j = data;

  (void) ith;
  if (j->dst_lo != NULL)
    sm_amx_f16_pack_acts (j->x, (size_t) j->n_in, j->n_in, (int) begin, (int) end, j->n, j->dst,
                          j->dst_lo);
  else
    sm_amx_bf16_pack_acts (j->x, (size_t) j->n_in, j->n_in, (int) begin, (int) end, j->n,
                           j->dst);
}

/* Packs x (n, n_in) as BF16 tiles into s.act_bf16 (split: as the F16 hi + lo parts into
 * s.act_bf16 and s.act_bf16_lo) unless they hold them already. */
static void
prepare_packed (sm_context  *c,
                const float *x,
                int64_t      n_in,
                int32_t      n,
                bool         split)
{
  if (c->act_src == x && c->act_packed && c->act_split == split && c->act_n == n)
    return;
  sm_pack_job job = { x, n_in, n, c->s.act_bf16, split ? c->s.act_bf16_lo : NULL };
  sm_threadpool_parallel_for (c->pool, (n + 15) / 16, 1, pack_groups, &job);
  c->act_src = x;
  c->act_n = n;
  c->act_packed = true;
  c->act_split = split;
}
#endif

/* The inputs of the next products changed: forget the converted copy. */
static void
invalidate_activations (sm_context *c)
{
  c->act_src = NULL;
}

/* Products of one input by up to three weights (Wq/Wk/Wv, gate/up) as one parallel region over
 * their rows laid end to end: one wait for the pool instead of one per weight. */
#define SM_MATMUL_MAX_PARTS 3

typedef struct
{
  sm_matmul_job parts[SM_MATMUL_MAX_PARTS];
  int64_t       first[SM_MATMUL_MAX_PARTS + 1]; /* first joint row of each part, then the total */
  int           n_parts;
} sm_matmul_group_job;

static void
matmul_group_rows (void    *data,
                   int64_t  begin,
                   int64_t  end,
                   int      ith)
{
  sm_matmul_group_job *g = data;

  for (int p = 0; p < g->n_parts; p++)
    {
      int64_t b = begin > g->first[p] ? begin : g->first[p];
      int64_t e = end < g->first[p + 1] ? end : g->first[p + 1];
      if (b < e)
        matmul_rows (&g->parts[p], b - g->first[p], e - g->first[p], ith);
    }
}

/* outs[p] (n, strides[p]) = x (n, n_in) . ws[p]^T for p < n_parts; the weights share n_in. */
static void
matmul_group (sm_context      *c,
              int              n_parts,
              float           *const outs[],
              const int64_t    strides[],
              const sm_weight *const ws[],
              const float     *x,
              int32_t          n)
{
  sm_matmul_group_job g;
  int nth = sm_threadpool_get_n_threads (c->pool);
  int64_t grain;

#ifdef SM_HAVE_AMX_PATH
  const bool amx = use_amx (c, ws[0], n);
#else
  const bool amx = false;
#endif

  /* Parts whose activations convert differently run one after the other. */
  for (int p = 1; p < n_parts; p++)
    if ((!amx && sm_quant_vec_dot_type (ws[p]->type) != sm_quant_vec_dot_type (ws[0]->type))
#ifdef SM_HAVE_AMX_PATH
        || use_amx (c, ws[p], n) != amx
        || (amx && (ws[p]->type == SM_TYPE_F16) != (ws[0]->type == SM_TYPE_F16))
#endif
        || ws[p]->n_in != ws[0]->n_in)
      {
        for (int q = 0; q < n_parts; q++)
          matmul_group (c, 1, outs + q, strides + q, ws + q, x, n);
        return;
      }

#ifdef SM_HAVE_AMX_PATH
  if (amx)
    prepare_packed (c, x, ws[0]->n_in, n, ws[0]->type == SM_TYPE_F16);
  else
#endif
    prepare_activations (c, ws[0], x, n);
  g.n_parts = n_parts;
  g.first[0] = 0;
  for (int p = 0; p < n_parts; p++)
    {
      const sm_weight *w = ws[p];
      g.parts[p] = (sm_matmul_job) { w, sm_dispatch_vec_dot (w->type),
                                     n > 1 ? sm_dispatch_gemm_tile (w->type) : NULL,
                                     n == 1 ? sm_dispatch_gemv (w->type) : NULL,
                                     amx ? sm_dispatch_bf16_rows (w->type) : NULL,
                                     amx && w->type == SM_TYPE_F16 ? c->s.act_bf16_lo : NULL,
                                     c->s.amx_scratch, c->s.amx_scratch_bytes,
                                     amx ? c->s.act_bf16 : c->s.act, c->s.act_row_max, outs[p],
                                     strides[p], n };
      g.first[p + 1] = g.first[p] + w->n_out;
    }
  /* Whole cache blocks, about four chunks per thread; sixteen for one token, whose chunks are
   * short, so that the thread finishing first waits at most a sixteenth of its share. */
  grain = g.first[n_parts] / ((int64_t) nth * (n == 1 ? 16 : 4));
  {
    /* The AMX tiles take rows 32 at a time. */
    const int64_t blk = amx ? 2 * SM_MATMUL_BLOCK : SM_MATMUL_BLOCK;
    grain = (grain + blk - 1) / blk * blk;
    if (grain < blk)
      grain = blk;
  }
  sm_threadpool_parallel_for (c->pool, g.first[n_parts], grain, matmul_group_rows, &g);
}

static void
matmul (sm_context      *c,
        float           *out,
        int64_t          out_stride,
        const sm_weight *w,
        const float     *x,
        int32_t          n)
{
  matmul_group (c, 1, &out, &out_stride, &w, x, n);
}

/* Attention of every (token, head) pair of a batch, parallel over pairs. */
typedef struct
{
  sm_context *c;
  int32_t     layer;
  int32_t     n;        /* tokens in the batch */
  uint32_t    pos0;     /* position of the first */
} sm_attention_job;

static void
attention_rows (void    *data,
                int64_t  begin,
                int64_t  end,
                int      ith)
{
  const sm_attention_job *j = data;
  sm_context *c = j->c;
  const sm_model_hparams *hp = &c->model->hp;
  sm_run_state *s = &c->s;
  int32_t hd = hp->head_dim, H = hp->n_head;
  int64_t kv_dim = (int64_t) hp->n_head_kv * hd;
  int32_t group = hp->n_head / hp->n_head_kv;
  float scale = 1.0f / sqrtf ((float) hd);
  const uint16_t *kc = s->key_cache + (size_t) j->layer * c->n_ctx * kv_dim;
  const uint16_t *vc = s->value_cache + (size_t) j->layer * c->n_ctx * kv_dim;
  float *att = s->att + (size_t) ith * c->n_ctx;
  uint16_t *att16 = s->att16 + (size_t) ith * c->n_ctx;
  uint16_t *q16 = s->q16 + (size_t) ith * hd;
  sm_vec_dot_fn dot16 = sm_dispatch_vec_dot (SM_TYPE_F16);

  for (int64_t pair = begin; pair < end; pair++)
    {
      int32_t t = (int32_t) (pair / H), h = (int32_t) (pair % H);
      int32_t kvh = h / group;
      int64_t n_pos = (int64_t) j->pos0 + t + 1; /* causal: positions 0 .. pos */
      const float *q = s->q + (int64_t) t * H * hd + (int64_t) h * hd;
      float *o = s->att_out + (int64_t) t * H * hd + (int64_t) h * hd;

      /* Scores against F16 keys, as llama.cpp multiplies its F16 cache. */
      sm_quant_activation_row (SM_TYPE_F16, q, q16, hd);
      for (int64_t p = 0; p < n_pos; p++)
        att[p] = scale * dot16 (hd, kc + p * kv_dim + (int64_t) kvh * hd, q16);
      softmax (att, n_pos);

      /* Weighted sum of values: each output element is a dot product along a transposed
       * value row. */
      sm_quant_activation_row (SM_TYPE_F16, att, att16, n_pos);
      for (int32_t i = 0; i < hd; i++)
        o[i] = dot16 (n_pos, vc + ((int64_t) kvh * hd + i) * c->n_ctx, att16);
    }
}

typedef struct
{
  sm_context *c;
  int32_t     n;
} sm_ffn_job;

static void
swiglu_rows (void    *data,
             int64_t  begin,
             int64_t  end,
             int      ith)
{
  const sm_ffn_job *j = data;
  sm_run_state *s = &j->c->s;
  int64_t n_ff = j->c->model->hp.n_ff;
  for (int64_t t = begin; t < end; t++)
    for (int64_t i = 0; i < n_ff; i++)
      s->hb[t * n_ff + i] = silu (s->hb[t * n_ff + i]) * s->hb2[t * n_ff + i];
}

/* ---- The forward pass ----
 *
 * One batch of n tokens at positions pos0 .. pos0+n-1, the cache already holding 0 .. pos0-1.
 * logits_out: (n, n_vocab) for every token, or NULL for only the last into s->logits. */
static sm_status
forward (sm_context    *c,
         const int32_t *tokens,
         int32_t        n,
         float         *logits_out,
         sm_error      *err)
{
  const sm_model *m = c->model;
  const sm_model_hparams *hp = &m->hp;
  const sm_weights *w = &m->w;
  sm_run_state *s = &c->s;
  int64_t d = hp->dim, hd = hp->head_dim;
  int64_t q_dim = (int64_t) hp->n_head * hd, kv_dim = (int64_t) hp->n_head_kv * hd;
  int64_t n_ff = hp->n_ff;
  uint32_t pos0 = c->n_past;

  /* x = embd[token] */
  for (int32_t t = 0; t < n; t++)
    sm_dequantize_row (w->token_embd.type,
                       (const uint8_t *) w->token_embd.data
                         + (size_t) tokens[t] * w->token_embd.row_size,
                       s->x + t * d, d);

  for (int32_t l = 0; l < hp->n_layer; l++)
    {
      const sm_layer_weights *lw = &w->layers[l];
      uint16_t *kc = s->key_cache + (size_t) l * c->n_ctx * kv_dim;
      uint16_t *vc = s->value_cache + (size_t) l * c->n_ctx * kv_dim;

      if (c->abort_cb != NULL && !c->abort_cb (c->abort_user_data))
        return sm_error_set (err, SM_ERR_CANCELLED, "evaluation cancelled");

      /* n1 = RMSNorm(x) * attn_norm */
      for (int32_t t = 0; t < n; t++)
        rmsnorm (s->xb + t * d, s->x + t * d, lw->attn_norm, d, hp->norm_eps);
      invalidate_activations (c);

      /* q, k, v = Wq n1 + bq, Wk n1 + bk, Wv n1 + bv */
      {
        float *const outs[] = { s->q, s->k, s->v };
        const int64_t strides[] = { q_dim, kv_dim, kv_dim };
        const sm_weight *const ws[] = { &lw->wq, &lw->wk, &lw->wv };
        matmul_group (c, 3, outs, strides, ws, s->xb, n);
      }
      for (int32_t t = 0; t < n; t++)
        {
          float *q = s->q + t * q_dim, *k = s->k + t * kv_dim, *v = s->v + t * kv_dim;
          if (lw->bq != NULL)
            for (int64_t i = 0; i < q_dim; i++)
              q[i] += lw->bq[i];
          if (lw->bk != NULL)
            for (int64_t i = 0; i < kv_dim; i++)
              k[i] += lw->bk[i];
          if (lw->bv != NULL)
            for (int64_t i = 0; i < kv_dim; i++)
              v[i] += lw->bv[i];

          /* RoPE(q), RoPE(k), then k and v into the F16 cache at their position. */
          rope (q, hp->n_head, (int32_t) hd, hp->n_rot, hp->rope_type, w->rope_inv_freq,
                pos0 + t);
          rope (k, hp->n_head_kv, (int32_t) hd, hp->n_rot, hp->rope_type, w->rope_inv_freq,
                pos0 + t);
          sm_quant_activation_row (SM_TYPE_F16, k, kc + (size_t) (pos0 + t) * kv_dim, kv_dim);
          for (int64_t i = 0; i < kv_dim; i++)
            vc[i * c->n_ctx + pos0 + t] = sm_fp32_to_fp16 (v[i]);
        }

      /* Attn(q, K, V) per head, then h = x + Wo . attn */
      {
        sm_attention_job job = { c, l, n, pos0 };
        sm_threadpool_parallel_for (c->pool, (int64_t) n * hp->n_head, 1, attention_rows, &job);
      }
      matmul (c, s->xb2, d, &lw->wo, s->att_out, n);
      for (int64_t i = 0; i < n * d; i++)
        s->x[i] += s->xb2[i];

      /* n2 = RMSNorm(h) * ffn_norm; x = h + Wdown . (silu(Wgate n2) * (Wup n2)) */
      for (int32_t t = 0; t < n; t++)
        rmsnorm (s->xb + t * d, s->x + t * d, lw->ffn_norm, d, hp->norm_eps);
      invalidate_activations (c);
      {
        float *const outs[] = { s->hb, s->hb2 };
        const int64_t strides[] = { n_ff, n_ff };
        const sm_weight *const ws[] = { &lw->w_gate, &lw->w_up };
        matmul_group (c, 2, outs, strides, ws, s->xb, n);
      }
      {
        sm_ffn_job job = { c, n };
        sm_threadpool_parallel_for (c->pool, n, 1, swiglu_rows, &job);
      }
      invalidate_activations (c);
      matmul (c, s->xb2, d, &lw->w_down, s->hb, n);
      for (int64_t i = 0; i < n * d; i++)
        s->x[i] += s->xb2[i];
    }

  /* logits = output . (RMSNorm(x) * output_norm), for the last token or all of them. */
  invalidate_activations (c);
  if (logits_out != NULL)
    {
      for (int32_t t = 0; t < n; t++)
        rmsnorm (s->xb + t * d, s->x + t * d, w->output_norm, d, hp->norm_eps);
      matmul (c, logits_out, hp->n_vocab, &w->output, s->xb, n);
      memcpy (s->logits, logits_out + (int64_t) (n - 1) * hp->n_vocab,
              sizeof (float) * hp->n_vocab);
    }
  else
    {
      rmsnorm (s->xb, s->x + (int64_t) (n - 1) * d, w->output_norm, d, hp->norm_eps);
      matmul (c, s->logits, hp->n_vocab, &w->output, s->xb, 1);
    }
  invalidate_activations (c);
  return SM_OK;
}

sm_status
sm_context_eval (sm_context    *c,
                 const int32_t *tokens,
                 int32_t        n_tokens,
                 float         *all_logits,
                 sm_error      *err)
{
  const sm_model_hparams *hp = &c->model->hp;
  uint32_t start = c->n_past;

  if (n_tokens <= 0)
    return sm_error_set (err, SM_ERR_INVALID_ARG, "nothing to evaluate (no tokens)");
  if ((uint64_t) c->n_past + (uint64_t) n_tokens > c->n_ctx)
    return sm_error_set (err, SM_ERR_INVALID_ARG,
                         "context full: %u tokens in the cache + %d new > context of %u",
                         c->n_past, n_tokens, c->n_ctx);
  for (int32_t i = 0; i < n_tokens; i++)
    if (tokens[i] < 0 || tokens[i] >= hp->n_vocab)
      return sm_error_set (err, SM_ERR_INVALID_ARG, "token id %d is outside the vocabulary of %d",
                           tokens[i], hp->n_vocab);

  for (int32_t i = 0; i < n_tokens; i += (int32_t) c->n_batch)
    {
      int32_t n = n_tokens - i < (int32_t) c->n_batch ? n_tokens - i : (int32_t) c->n_batch;
      sm_status st = forward (c, tokens + i, n,
                              all_logits != NULL ? all_logits + (int64_t) i * hp->n_vocab : NULL,
                              err);
      if (st != SM_OK)
        {
          c->n_past = start;
          return st;
        }
      c->n_past += (uint32_t) n;
    }
  return SM_OK;
}
