/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-model-maker.h: writes llama/qwen2-shaped GGUF models with random weights (fixed seed)
 * through Smelt's own GGUF writer and quantizer, for the engine and parity tests and the
 * benchmark script. A vocabulary fixture can be copied in so llama.cpp can load the result.
 * Test code only: links the engine, never GLib.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "sm-common.h"
#include "sm-types.h"

typedef struct
{
  const char *arch;          /* general.architecture ("llama", "qwen2", or anything for tests) */
  const char *vocab_path;    /* GGUF whose tokenizer.* keys are copied; NULL: a plain made-up
                                SPM vocabulary of n_vocab tokens */
  int32_t     n_vocab;       /* used when vocab_path is NULL */
  int32_t     dim;           /* d */
  int32_t     n_layer;
  int32_t     n_head;
  int32_t     n_head_kv;
  int32_t     n_ff;
  int32_t     n_ctx;         /* context_length written */
  sm_type     type;          /* type of the 2-D weights */
  int         embd_type;     /* type of token_embd (and output); -1: same as type */
  bool        tied;          /* no output.weight */
  bool        qkv_bias;      /* write attn_q/k/v.bias (always for qwen2) */
  bool        rope_freqs;    /* write rope_freqs.weight (llama3 scaling) */
  float       rope_base;     /* 0: 10000 */
  const char *rope_scaling;  /* {arch}.rope.scaling.type to write (factor 2); NULL: none */
  uint64_t    seed;
  const char *drop_tensor;   /* omit this tensor (error tests); NULL */
  const char *bad_shape;     /* write this tensor with its last dimension halved; NULL */
  uint64_t    split_bytes;   /* > 0: split into parts of at most this many tensor bytes
                                (gguf-split naming, path is then the prefix + ".gguf") */
} sm_test_model_spec;

/* A small llama: d 256, 2 layers, 4 heads / 2 KV heads, FFN 512, F32, made-up vocab of 512. */
sm_test_model_spec sm_test_model_default_spec (void);

/* Writes the model to path (through path.part). */
sm_status sm_test_model_write (const sm_test_model_spec *spec,
                               const char               *path,
                               sm_error                 *err);
