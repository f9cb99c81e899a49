/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-model.h: llama-family transformers (architectures `llama` and `qwen2`) loaded from GGUF, and
 * the evaluation context that runs their forward pass (docs: formats.md sections 8, 9 and 10).
 *
 * An sm_model is the hyper-parameters plus the weights as views into the mapped file, or into a
 * copy of its tensor data on huge pages (sm_weight_storage): weights keep their on-disk type and
 * are multiplied with per-format dot products (sm-quant.h) against activations converted once
 * per row; nothing is dequantized at load. An sm_context owns what one
 * conversation needs: the KV cache (F16), scratch buffers and the compute pool. Tokenization,
 * templates and sampling are not here (sm-tokenizer.h, sm-chat-template.h, sm-sampler.h, and
 * sm-session.h which puts them together).
 *
 * Threading: a model is immutable after open and may be shared by any number of contexts; a
 * context is used by one thread at a time.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "sm-common.h"
#include "sm-gguf.h"
#include "sm-types.h"

typedef enum
{
  SM_ARCH_LLAMA = 0, /* Llama 1/2/3/3.1/3.2, Mistral converted as llama: NORM rope */
  SM_ARCH_QWEN2 = 1, /* Qwen2/2.5: Q/K/V biases, NEOX rope */
} sm_arch;

typedef enum
{
  SM_ROPE_NORM = 0, /* rotates adjacent pairs (x[2i], x[2i+1]) */
  SM_ROPE_NEOX = 2, /* rotates (x[i], x[i + n_rot/2]) */
} sm_rope_type;

/* Hyper-parameters as read from the GGUF metadata (formats.md section 8). */
typedef struct
{
  sm_arch      arch;
  int32_t      n_vocab;         /* rows of token_embd.weight */
  int32_t      n_ctx_train;     /* {arch}.context_length, tokens */
  int32_t      dim;             /* {arch}.embedding_length (d) */
  int32_t      n_layer;         /* {arch}.block_count */
  int32_t      n_head;          /* query heads (H) */
  int32_t      n_head_kv;       /* key/value heads (Hkv), H % Hkv == 0 */
  int32_t      head_dim;        /* h: key_length == value_length, default d / H */
  int32_t      n_ff;            /* feed-forward hidden size (f) */
  int32_t      n_rot;           /* rotated dimensions per head, even, <= h */
  float        norm_eps;        /* RMSNorm epsilon */
  float        rope_freq_base;  /* theta */
  float        rope_freq_scale; /* 1 / linear scaling factor (1 = none) */
  sm_rope_type rope_type;
  bool         has_rope_freqs;  /* rope_freqs.weight (Llama 3.1 "llama3" scaling) present */
  bool         tied_embeddings; /* output.weight absent: logits use token_embd.weight */
  bool         has_qkv_bias;    /* attn_q/k/v biases present (qwen2) */
} sm_model_hparams;

typedef struct sm_model sm_model;
typedef struct sm_context sm_context;

/* Load progress in [0, 1]; return false to cancel the load (SM_ERR_CANCELLED). */
typedef bool (*sm_progress_fn) (float  progress,
                                void  *user_data);

/* Where the weights live while the model is open. */
typedef enum
{
  SM_WEIGHTS_AUTO = 0, /* COPY when it is safe: the tensor data fits in MemAvailable (and the
                          cgroup limit) with 1 GiB + 10% to spare and transparent huge pages are
                          not "[never]"; else, or when the copy cannot be allocated, MMAP */
  SM_WEIGHTS_MMAP = 1, /* views into the file mapping (page cache, 4 KiB pages, read on first
                          use, shared with other processes, no memory of its own) */
  SM_WEIGHTS_COPY = 2, /* read at open into anonymous memory on 2 MiB transparent huge pages
                          (sm_gguf_load_tensor_data): generation streams the weights faster, the
                          load reads the whole file, and the process holds the weights in RAM */
} sm_weight_storage;

typedef struct
{
  sm_progress_fn    progress;        /* nullable */
  void             *progress_user_data;
  bool              prefault;        /* MMAP only: read every weight page once at load (default
                                        false: pages come in on first use) */
  sm_weight_storage storage;         /* default SM_WEIGHTS_AUTO */
} sm_model_params;

sm_model_params sm_model_default_params (void);

/* Maps path (split models through their first part), reads the weights into memory when
 * params->storage says so (see sm_weight_storage), and checks that every tensor the
 * architecture needs is present with the right shape and a supported type. Failures: SM_ERR_IO
 * (also a file changed or unreadable while it is copied), SM_ERR_NOMEM (SM_WEIGHTS_COPY that
 * cannot be allocated), SM_ERR_FORMAT, SM_ERR_UNSUPPORTED (unknown architecture, named in the message; unsupported
 * tensor type or rope scaling), SM_ERR_NOT_FOUND (missing tensor or key, named),
 * SM_ERR_CANCELLED. *out is NULL on failure. */
sm_status sm_model_open (const char            *path,
                         const sm_model_params *params,
                         sm_model             **out,
                         sm_error              *err);

/* NULL is accepted. Every context of the model must be freed first. */
void sm_model_free (sm_model *model);

const sm_model_hparams *sm_model_get_hparams (const sm_model *model);

/* The underlying file (for the tokenizer, the chat template and `smelt info`); owned by model. */
const sm_gguf *sm_model_get_gguf (const sm_model *model);

/* Bytes of tensor data the forward pass reads (all weights, tied embeddings counted once). */
uint64_t sm_model_get_weight_bytes (const sm_model *model);

/* SM_WEIGHTS_MMAP or SM_WEIGHTS_COPY: where this model's weights ended up. */
sm_weight_storage sm_model_get_weight_storage (const sm_model *model);

/* "llama", "qwen2". */
const char *sm_arch_name (sm_arch arch);

/* ---- Evaluation context ---- */

typedef struct
{
  uint32_t n_ctx;     /* tokens the KV cache holds; 0 = min(n_ctx_train, 4096) */
  uint32_t n_batch;   /* prompt tokens evaluated together; 0 = 128 */
  int      n_threads; /* compute threads; <= 0 = physical cores */
} sm_context_params;

sm_context_params sm_context_default_params (void);

/* Allocates the KV cache (2 * n_layer * n_ctx * Hkv * h F16 values, untouched pages stay
 * unresident), scratch and the compute pool. model must outlive the context. */
sm_status sm_context_new (const sm_model          *model,
                          const sm_context_params *params,
                          sm_context             **out,
                          sm_error                *err);

/* NULL is accepted; joins the pool's threads. */
void sm_context_free (sm_context *ctx);

uint32_t sm_context_get_n_ctx (const sm_context *ctx);
int      sm_context_get_n_threads (const sm_context *ctx);

/* Tokens already in the KV cache (positions 0 .. n_past-1). */
uint32_t sm_context_get_n_past (const sm_context *ctx);

/* Forgets the cache from position n_past on (n_past <= current n_past): keeps a common prefix
 * when a conversation is re-evaluated. */
void sm_context_truncate (sm_context *ctx,
                          uint32_t    n_past);

/* Called between layers during evaluation; returning false stops it (SM_ERR_CANCELLED, the
 * cache is left at the n_past from before the call). Nullable. */
void sm_context_set_abort (sm_context     *ctx,
                           bool          (*abort_cb) (void *user_data),
                           void           *user_data);

/* Runs tokens[0..n_tokens) at positions n_past.. through the model (in batches of n_batch) and
 * appends them to the cache. The next-token logits after the last one are then available from
 * sm_context_get_logits. all_logits: NULL, or n_tokens * n_vocab floats that receive the logits
 * after every token (perplexity). Errors: SM_ERR_INVALID_ARG for n_tokens <= 0, a token id out
 * of range, or n_past + n_tokens > n_ctx (message says "context full" with the numbers). */
sm_status sm_context_eval (sm_context    *ctx,
                           const int32_t *tokens,
                           int32_t        n_tokens,
                           float         *all_logits,
                           sm_error      *err);

/* n_vocab floats: logits after the last evaluated token; valid until the next eval. */
const float *sm_context_get_logits (const sm_context *ctx);
