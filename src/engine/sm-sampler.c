/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-sampler.c: repetition penalty, greedy, top-k, top-p, min-p and temperature sampling with a
 * seeded xoshiro256** generator (see sm-sampler.h for the order of the steps).
 */
#include "sm-sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct
{
  sm_token id;
  float    logit;
} candidate;

struct sm_sampler
{
  sm_sampler_params p;
  uint32_t          n_vocab;
  candidate        *cand;     /* (n_vocab) scratch */
  float            *prob;     /* (n_vocab) scratch */
  sm_token         *history;  /* ring of the last repeat_last_n accepted tokens */
  size_t            n_history;
  size_t            history_pos;
  uint32_t         *seen;     /* (n_vocab) epoch marks for de-duplicating the window */
  uint32_t          epoch;
  uint64_t          rng[4];
};

/* ---- xoshiro256** (Blackman & Vigna), seeded with splitmix64 ---- */

static uint64_t
splitmix64 (uint64_t *x)
{
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint64_t
rotl (uint64_t x, int k)
{
  return (x << k) | (x >> (64 - k));
}

static uint64_t
rng_next (uint64_t s[4])
{
  uint64_t result = rotl (s[1] * 5, 7) * 9, t = s[1] << 17;

  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl (s[3], 45);
  return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double
rng_uniform (uint64_t s[4])
{
  return (double) (rng_next (s) >> 11) * (1.0 / 9007199254740992.0);
}

sm_sampler_params
sm_sampler_default_params (void)
{
  sm_sampler_params p;

  p.temperature = 0.8f;
  p.top_k = 40;
  p.top_p = 0.95f;
  p.min_p = 0.05f;
  p.repeat_penalty = 1.0f;
  p.repeat_last_n = 64;
  p.seed = 0;
  return p;
}

sm_status
sm_sampler_new (const sm_sampler_params *params,
                uint32_t                 n_vocab,
                sm_sampler             **out,
                sm_error                *err)
{
  sm_sampler *s;

  *out = NULL;
  if (n_vocab == 0 || params->repeat_last_n < 0 || isnan (params->temperature)
      || isnan (params->top_p) || isnan (params->min_p) || isnan (params->repeat_penalty)
      || params->repeat_penalty <= 0.0f)
    return sm_error_set (err, SM_ERR_INVALID_ARG, "invalid sampler parameters");
  s = calloc (1, sizeof *s);
  if (!s)
    return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
  s->p = *params;
  s->n_vocab = n_vocab;
  s->cand = malloc (n_vocab * sizeof *s->cand);
  s->prob = malloc (n_vocab * sizeof *s->prob);
  s->seen = calloc (n_vocab, sizeof *s->seen);
  s->history = malloc (((size_t) params->repeat_last_n + 1) * sizeof *s->history);
  if (!s->cand || !s->prob || !s->seen || !s->history)
    {
      sm_sampler_free (s);
      return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
    }
  sm_sampler_reset (s);
  *out = s;
  return SM_OK;
}

void
sm_sampler_free (sm_sampler *s)
{
  if (!s)
    return;
  free (s->cand);
  free (s->prob);
  free (s->seen);
  free (s->history);
  free (s);
}

void
sm_sampler_reset (sm_sampler *s)
{
  uint64_t x = s->p.seed;

  s->n_history = 0;
  s->history_pos = 0;
  for (int i = 0; i < 4; i++)
    s->rng[i] = splitmix64 (&x);
}

void
sm_sampler_accept (sm_sampler *s,
                   sm_token    id)
{
  size_t cap = (size_t) s->p.repeat_last_n;

  if (cap == 0)
    return;
  s->history[s->history_pos] = id;
  s->history_pos = (s->history_pos + 1) % cap;
  if (s->n_history < cap)
    s->n_history++;
}

/* Descending by logit, then ascending id, so equal logits keep a fixed order. */
static int
cmp_cand (const void *a, const void *b)
{
  const candidate *x = a, *y = b;

  if (x->logit != y->logit)
    return x->logit > y->logit ? -1 : 1;
  return (x->id > y->id) - (x->id < y->id);
}

/* Moves the k best candidates to the front of c[0 .. n) (quickselect; order among them
 * unspecified). cmp_cand is a strict total order, so only the pivot compares equal to itself. */
static void
select_top (candidate *c, size_t n, size_t k)
{
  ptrdiff_t lo = 0, hi = (ptrdiff_t) n - 1, want = (ptrdiff_t) k - 1;

  while (lo < hi)
    {
      candidate pivot = c[lo + (hi - lo) / 2];
      ptrdiff_t i = lo, j = hi;

      while (i <= j)
        {
          while (cmp_cand (&c[i], &pivot) < 0)
            i++;
          while (cmp_cand (&c[j], &pivot) > 0)
            j--;
          if (i <= j)
            {
              candidate t = c[i];

              c[i] = c[j];
              c[j] = t;
              i++;
              j--;
            }
        }
      /* Now c[lo .. j] come before the pivot and c[i .. hi] after it. */
      if (want <= j)
        hi = j;
      else if (want >= i)
        lo = i;
      else
        break;
    }
}

/* Probabilities of c[0 .. n) at the given temperature into prob (they sum to 1). */
static void
softmax (const candidate *c, size_t n, float *prob, float temperature)
{
  float max = c[0].logit;
  double sum = 0.0;

  for (size_t i = 1; i < n; i++)
    if (c[i].logit > max)
      max = c[i].logit;
  for (size_t i = 0; i < n; i++)
    {
      prob[i] = expf ((c[i].logit - max) / temperature);
      sum += prob[i];
    }
  for (size_t i = 0; i < n; i++)
    prob[i] = (float) (prob[i] / sum);
}

sm_token
sm_sampler_sample (sm_sampler  *s,
                   const float *logits)
{
  candidate *c = s->cand;
  size_t n = 0;
  double r, acc;

  /* Candidates: every token with a usable logit. */
  for (uint32_t i = 0; i < s->n_vocab; i++)
    if (!isnan (logits[i]) && logits[i] != -INFINITY)
      {
        c[n].id = (sm_token) i;
        c[n].logit = logits[i];
        n++;
      }
  if (n == 0)
    return 0;

  /* Repetition penalty: once per distinct token in the window. */
  if (s->p.repeat_penalty != 1.0f && s->n_history > 0)
    {
      if (++s->epoch == 0)
        {
          memset (s->seen, 0, s->n_vocab * sizeof *s->seen);
          s->epoch = 1;
        }
      for (size_t h = 0; h < s->n_history; h++)
        {
          sm_token t = s->history[h];

          if (t >= 0 && (uint32_t) t < s->n_vocab)
            s->seen[t] = s->epoch;
        }
      for (size_t i = 0; i < n; i++)
        if (s->seen[c[i].id] == s->epoch)
          c[i].logit = c[i].logit > 0 ? c[i].logit / s->p.repeat_penalty
                                      : c[i].logit * s->p.repeat_penalty;
    }

  if (s->p.temperature <= 0.0f)
    {
      size_t best = 0;

      for (size_t i = 1; i < n; i++)
        if (cmp_cand (&c[i], &c[best]) < 0)
          best = i;
      return c[best].id;
    }

  if (s->p.top_k > 0 && (size_t) s->p.top_k < n)
    {
      select_top (c, n, (size_t) s->p.top_k);
      n = (size_t) s->p.top_k;
    }
  qsort (c, n, sizeof *c, cmp_cand);

  if (s->p.top_p < 1.0f)
    {
      double cum = 0.0;
      size_t keep = n;

      softmax (c, n, s->prob, 1.0f);
      for (size_t i = 0; i < n; i++)
        {
          cum += s->prob[i];
          if (cum >= s->p.top_p)
            {
              keep = i + 1;
              break;
            }
        }
      n = keep;
    }

  if (s->p.min_p > 0.0f)
    {
      /* p_i >= min_p * p_max  <=>  logit_i >= logit_max + log (min_p); c is sorted. */
      float floor_logit = c[0].logit + logf (s->p.min_p);
      size_t keep = 1;

      while (keep < n && c[keep].logit >= floor_logit)
        keep++;
      n = keep;
    }

  softmax (c, n, s->prob, s->p.temperature);
  r = rng_uniform (s->rng);
  acc = 0.0;
  for (size_t i = 0; i < n; i++)
    {
      acc += s->prob[i];
      if (r < acc)
        return c[i].id;
    }
  return c[n - 1].id;
}
