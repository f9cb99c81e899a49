/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-test-model.h: writes llama-shaped GGUF models with random weights (fixed seed) through
 * Smelt's own GGUF writer, for the quantizer's tests, the parity test and the benchmark. Plain C
 * on the engine only, so benchmark helpers can use it without GLib. Not a model converter.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "sm-common.h"
#include "sm-types.h"

#define SM_TEST_MODEL_MIXED (-1) /* weight matrices cycle through F32, F16 and BF16 */

typedef struct
{
  int         n_layer;
  int         dim;          /* embedding length; a multiple of n_head */
  int         n_head;
  int         n_head_kv;
  int         ffn;          /* feed-forward length */
  int         vocab;        /* ignored when vocab_path is set */
  int         weight_type;  /* an sm_type for all 2-D weights, or SM_TEST_MODEL_MIXED */
  bool        tied;         /* no output.weight */
  bool        odd_tensor;   /* adds blk.0.ffn_odd.weight with rows of 96 (shape fallback) */
  bool        bigram;       /* output.weight makes the model predict perm(last token) strongly */
  uint32_t    seed;
  const char *vocab_path;   /* a GGUF whose tokenizer.* keys (and vocabulary size) are copied */
  uint64_t    split_max_size; /* bytes per part; 0 = one file */
} sm_test_model_spec;

void sm_test_model_default_spec (sm_test_model_spec *spec); /* 2 layers, dim 256, mixed types */

/* Writes the model to path (via path.part). */
sm_status sm_test_model_write (const char               *path,
                               const sm_test_model_spec *spec,
                               sm_error                 *err);

/* The token the bigram model predicts after token t. */
int sm_test_model_bigram_next (int t,
                               int vocab);
