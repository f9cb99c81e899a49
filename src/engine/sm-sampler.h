/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-sampler.h: picks the next token from a row of logits.
 *
 * Order of the steps, as llama.cpp's default chain: repetition penalty (over the last
 * repeat_last_n accepted tokens) -> greedy when temperature <= 0 -> top-k -> top-p -> min-p ->
 * temperature -> a draw from the remaining distribution. top-p and min-p judge probabilities
 * at temperature 1, like llama.cpp. Each filter keeps at least one token.
 *
 * Randomness comes from the sampler's own xoshiro256** generator seeded through splitmix64, so
 * a seed gives the same tokens on every machine and run (never rand()).
 *
 * Threading: one sampler per generating thread; it is not shared.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "sm-common.h"
#include "sm-tokenizer.h"

typedef struct
{
  float    temperature;    /* <= 0: greedy (argmax, lowest id on ties) */
  int32_t  top_k;          /* keep the k most likely; <= 0: off */
  float    top_p;          /* keep the smallest set with probability >= top_p; >= 1: off */
  float    min_p;          /* drop tokens below min_p x the top probability; <= 0: off */
  float    repeat_penalty; /* > 1 discourages repeats (positive logits / penalty, negative x
                            * penalty); 1: off */
  int32_t  repeat_last_n;  /* how many accepted tokens the penalty looks back at; 0: off */
  uint64_t seed;
} sm_sampler_params;

/* llama.cpp's defaults: temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, repeat penalty 1.0
 * (off) over the last 64 tokens, seed 0. */
sm_sampler_params sm_sampler_default_params (void);

typedef struct sm_sampler sm_sampler;

/* n_vocab: length of every logits row. Fails with SM_ERR_INVALID_ARG (n_vocab 0, negative
 * window, NaN parameters) or SM_ERR_NOMEM. */
sm_status sm_sampler_new (const sm_sampler_params *params,
                          uint32_t                 n_vocab,
                          sm_sampler             **out,
                          sm_error                *err);

void sm_sampler_free (sm_sampler *s);

/* Picks a token from logits (n_vocab floats, not modified). Does not record it: call
 * sm_sampler_accept with the token actually used. NaN logits are never picked (if every logit
 * is NaN or -inf, token 0 is returned). */
sm_token sm_sampler_sample (sm_sampler  *s,
                            const float *logits);

/* Records a token of the context (prompt tokens too) for the repetition penalty. */
void sm_sampler_accept (sm_sampler *s,
                        sm_token    id);

/* Forgets the history and restarts the generator from the seed. */
void sm_sampler_reset (sm_sampler *s);
