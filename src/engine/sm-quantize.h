/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-quantize.h: the model quantizer (docs: formats.md sections 4, 5 and 7). Turns a GGUF model
 * (F32/F16/BF16, optionally split) into a llama.cpp-compatible quantized GGUF, choosing a type per
 * tensor exactly as llama-quantize's mix rules do, or by Smelt's `dynamic-gate` layer policy.
 *
 * Two levels:
 *   - the plan (sm_quantize_plan_make): a pure function from a tensor list and a few model
 *     hyper-parameters to "tensor -> type, with reason"; no files, no threads;
 *   - the file quantizer (sm_quantize_file): maps the input, streams the output to `OUT.part`
 *     one tensor at a time on the engine's compute pool, renames it when complete and
 *     removes it on failure or cancellation.
 * Not for single rows or blocks: that is sm-quant.h.
 *
 * Layer policy `dynamic-gate` (Smelt's own, not llama-quantize's): tensors of the first and the
 * last 25% of layers (layer i < q or i >= n - q, with q = (n + 2) / 4, n/4 rounded) get the
 * `higher` type, the middle layers the `lower` one, token_embd and output the `embed` type; the
 * mix rules are not applied, the shape fallback and explicit --output-tensor-type and
 * --token-embedding-type still are. Mapping per TYPE:
 *
 *   TYPE            lower    higher   embed/output
 *   Q2_K            Q2_K     Q4_K     Q5_K
 *   Q3_K_S          Q3_K     Q4_K     Q5_K
 *   Q3_K_M          Q3_K     Q5_K     Q5_K
 *   Q3_K_L          Q3_K     Q6_K     Q5_K
 *   Q4_K_S          Q4_K     Q5_K     Q5_K
 *   Q4_K_M          Q4_K     Q6_K     Q5_K
 *   Q5_K_S          Q5_K     Q6_K     Q5_K
 *   Q5_K_M          Q5_K     Q8_0     Q5_K
 *   Q6_K            Q6_K     Q8_0     Q6_K
 *   Q4_0            Q4_0     Q5_0     Q5_K
 *   Q4_1            Q4_1     Q5_1     Q5_K
 *   Q5_0            Q5_0     Q8_0     Q5_K
 *   Q5_1            Q5_1     Q8_0     Q5_K
 *   IQ4_NL          IQ4_NL   Q5_K     Q5_K
 *   IQ4_XS          IQ4_XS   Q5_K     Q5_K
 *   Q8_0, F16, BF16: refused (nothing higher to give the outer layers).
 *
 * Threading: the plan functions are reentrant. sm_quantize_file blocks the calling thread and runs
 * its rows on a compute pool of params->n_threads (sm-threadpool.h) of its own; the progress
 * callback runs on the calling thread.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "sm-common.h"
#include "sm-types.h"

#define SM_QUANTIZE_MAX_NAME   64
#define SM_QUANTIZE_MAX_REASON 96

/* ---- Types as the user names them ---- */

typedef struct
{
  const char *name;        /* "Q4_K_M", as llama-quantize spells it */
  sm_ftype    ftype;       /* general.file_type value */
  sm_type     base;        /* the type most tensors get (formats.md 5.2) */
  const char *description; /* one line for --help */
} sm_quantize_ftype_info;

/* The TYPEs Smelt can make, in --help order; n via sm_quantize_n_ftypes. */
size_t                        sm_quantize_n_ftypes (void);
const sm_quantize_ftype_info *sm_quantize_ftype_at (size_t i);

/* Looks TYPE up: a name (case-insensitive), an alias (Q3_K = Q3_K_M, Q4_K = Q4_K_M,
 * Q5_K = Q5_K_M) or a numeric llama_ftype value of a supported TYPE. NULL when unknown. */
const sm_quantize_ftype_info *sm_quantize_ftype_lookup (const char *name);

typedef enum
{
  SM_LAYER_POLICY_NONE = 0,     /* llama-quantize's mix rules */
  SM_LAYER_POLICY_DYNAMIC_GATE, /* see the table at the top of this file */
} sm_layer_policy;

/* Parses "dynamic-gate" (or "none"); false when unknown. */
bool sm_layer_policy_from_name (const char *name,
                                sm_layer_policy *out);

typedef struct
{
  sm_type lower;  /* middle layers */
  sm_type higher; /* first and last quarter of layers */
  sm_type embed;  /* token_embd and output */
} sm_dynamic_gate_types;

/* The dynamic-gate mapping for ftype; false when the policy refuses that TYPE. */
bool sm_dynamic_gate_get_types (sm_ftype               ftype,
                                sm_dynamic_gate_types *out);

/* ---- Parameters ---- */

/* Called on the thread running sm_quantize_file after each slice of work: tensor_i of n_tensors
 * (0-based, the one in progress), bytes_done of bytes_total (input tensor bytes); once more with
 * tensor_i == n_tensors when the output is complete (its return value is then ignored). Return
 * false to cancel: the output is removed and sm_quantize_file returns SM_ERR_CANCELLED. */
typedef bool (*sm_quantize_progress_cb) (int64_t  tensor_i,
                                         int64_t  n_tensors,
                                         uint64_t bytes_done,
                                         uint64_t bytes_total,
                                         void    *user_data);

typedef struct
{
  sm_ftype        ftype;                /* TYPE (a value sm_quantize_ftype_lookup returns) */
  int             output_tensor_type;   /* sm_type of output.weight (or tied token_embd); -1: rules */
  int             token_embedding_type; /* sm_type for token_embd.weight; -1 = rules */
  bool            pure;                 /* no mix rules: every quantizable tensor at base type */
  bool            leave_output_tensor;  /* copy output.weight unchanged */
  bool            allow_requantize;     /* permit re-quantizing already quantized input tensors */
  sm_layer_policy layer_policy;
  bool            has_imatrix;          /* plan only: an imatrix is used (changes a few rules) */
  const char     *imatrix_path;         /* file only: legacy .dat or GGUF imatrix; NULL = none */
  int             n_threads;            /* file only: 0 = physical cores (sm-threadpool.h) */
  uint64_t        split_max_size;       /* file only: max tensor bytes per part; 0 = one file */
  sm_quantize_progress_cb progress;     /* file only: may be NULL */
  void           *progress_data;
} sm_quantize_params;

sm_quantize_params sm_quantize_default_params (void); /* Q4_K_M, rules, no imatrix, all cores */

/* ---- The plan ---- */

typedef struct
{
  const char *name;                    /* borrowed, NUL-terminated */
  uint32_t    n_dims;                  /* 1..4 */
  int64_t     ne[4];                   /* GGUF order, ne[0] = row length; unused = 1 */
  sm_type     type;                    /* type in the input */
} sm_quantize_tensor_desc;

typedef struct
{
  const char *arch;      /* general.architecture ("llama", "falcon", ...); NULL = unknown */
  uint32_t    n_layer;   /* {arch}.block_count; 0 = count blk.N tensors */
  uint32_t    n_head;    /* {arch}.attention.head_count; 0 = unknown */
  uint32_t    n_head_kv; /* {arch}.attention.head_count_kv; 0 = same as n_head */
  uint32_t    n_expert;  /* {arch}.expert_count; 0 = dense */
} sm_quantize_model_info;

typedef struct
{
  char    name[SM_QUANTIZE_MAX_NAME];
  int64_t src_index;                     /* index in the input list */
  sm_type src_type;
  sm_type type;                          /* type in the output */
  bool    quantize;                      /* false: the bytes are copied unchanged */
  bool    fallback;                      /* the shape fallback (5.8) changed the type */
  char    reason[SM_QUANTIZE_MAX_REASON]; /* "attn_v: use_more_bits(3, 32)", "norm: kept", ... */
} sm_quantize_plan_entry;

typedef struct sm_quantize_plan sm_quantize_plan;

/* Chooses a type for every tensor. Entries come out in llama.cpp's loader order (non-layer
 * tensors first, then by layer number, each group sorted by name), which is also the order the
 * output file uses and the order the mix counters advance in. Fails with SM_ERR_INVALID_ARG on an
 * unsupported ftype or policy combination, and on a duplicate tensor name. */
sm_status sm_quantize_plan_make (const sm_quantize_tensor_desc *tensors,
                                 size_t                         n_tensors,
                                 const sm_quantize_model_info  *model,
                                 const sm_quantize_params      *params,
                                 sm_quantize_plan             **out,
                                 sm_error                      *err);

void                          sm_quantize_plan_free (sm_quantize_plan *plan); /* NULL ok */
size_t                        sm_quantize_plan_get_n (const sm_quantize_plan *plan);
const sm_quantize_plan_entry *sm_quantize_plan_get (const sm_quantize_plan *plan,
                                                    size_t                  i);
const sm_quantize_plan_entry *sm_quantize_plan_find (const sm_quantize_plan *plan,
                                                     const char             *name);
size_t                        sm_quantize_plan_get_n_fallback (const sm_quantize_plan *plan);

/* llama.cpp's use_more_bits(i, n): i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2. */
bool sm_quantize_use_more_bits (int i,
                                int n);

/* ---- The file quantizer ---- */

/* The plan sm_quantize_file would follow for in_path (header only, no tensor data read), and the
 * bytes of tensor data it would write (*out_bytes, may be NULL). imatrix_path only sets
 * has_imatrix; the file is not read. For previews and `smelt quantize --dry-run`. */
sm_status sm_quantize_plan_file (const char               *in_path,
                                 const sm_quantize_params *params,
                                 sm_quantize_plan        **out,
                                 uint64_t                 *out_bytes,
                                 sm_error                 *err);

/* Quantizes in_path (the first part of a split model is enough) into out_path per params.
 * Refuses (SM_ERR_INVALID_ARG) an output equal to the input, an unknown ftype, quantized input
 * tensors that would change type without allow_requantize; SM_ERR_NO_SPACE when the output's
 * file system has less free space than the output needs. The output is written to
 * `out_path.part` (or the split parts' names + ".part") and renamed when complete; on any
 * failure or cancel nothing is left behind. Output metadata: the input's keys minus split.*, plus
 * general.file_type, general.quantization_version = 2 and, with an imatrix, the
 * quantize.imatrix.* keys. */
sm_status sm_quantize_file (const char               *in_path,
                            const char               *out_path,
                            const sm_quantize_params *params,
                            sm_error                 *err);
