/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-sampler.c: greedy choice, seeded reproducibility, and the effect of each filter (top-k,
 * top-p, min-p, temperature, repetition penalty with its window) on synthetic logits.
 */
#include <glib.h>
#include <math.h>

#include "sm-sampler.h"

static sm_sampler *
make (sm_sampler_params p, uint32_t n_vocab)
{
  sm_sampler *s = NULL;
  sm_error err = { 0 };

  g_assert_cmpint (sm_sampler_new (&p, n_vocab, &s, &err), ==, SM_OK);
  return s;
}

static sm_sampler_params
plain (float temperature)
{
  sm_sampler_params p = sm_sampler_default_params ();

  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.repeat_penalty = 1.0f;
  p.seed = 1234;
  return p;
}

/* Draws n times and counts how often each of the first n_vocab ids came up. */
static void
histogram (sm_sampler *s, const float *logits, uint32_t n_vocab, int n, int *counts)
{
  for (uint32_t i = 0; i < n_vocab; i++)
    counts[i] = 0;
  for (int i = 0; i < n; i++)
    {
      sm_token t = sm_sampler_sample (s, logits);

      g_assert_cmpint (t, >=, 0);
      g_assert_cmpint (t, <, (int) n_vocab);
      counts[t]++;
    }
}

static void
test_greedy (void)
{
  const float logits[] = { 0.5f, 3.0f, -1.0f, 3.0f, NAN, 2.9f };
  const float nan_only[] = { NAN, -INFINITY };
  sm_sampler *s = make (plain (0.0f), 6);
  sm_sampler *t = make (plain (0.0f), 2);

  /* Highest logit, lowest id on a tie; NaN is never chosen. */
  for (int i = 0; i < 5; i++)
    g_assert_cmpint (sm_sampler_sample (s, logits), ==, 1);
  g_assert_cmpint (sm_sampler_sample (t, nan_only), ==, 0);
  sm_sampler_free (s);
  sm_sampler_free (t);
  sm_sampler_free (NULL);
}

static void
test_seed (void)
{
  float logits[100];
  sm_token a[200], b[200];
  sm_sampler_params p = plain (1.0f);
  sm_sampler *s1, *s2, *s3;
  int same = 0;

  for (int i = 0; i < 100; i++)
    logits[i] = (float) ((i * 37) % 11) * 0.3f;
  s1 = make (p, 100);
  s2 = make (p, 100);
  p.seed = 99;
  s3 = make (p, 100);
  for (int i = 0; i < 200; i++)
    {
      a[i] = sm_sampler_sample (s1, logits);
      b[i] = sm_sampler_sample (s2, logits);
      g_assert_cmpint (a[i], ==, b[i]);
      same += sm_sampler_sample (s3, logits) == a[i];
    }
  g_assert_cmpint (same, <, 100);
  /* reset replays the same stream. */
  sm_sampler_reset (s1);
  for (int i = 0; i < 200; i++)
    g_assert_cmpint (sm_sampler_sample (s1, logits), ==, a[i]);
  sm_sampler_free (s1);
  sm_sampler_free (s2);
  sm_sampler_free (s3);
}

static void
test_temperature (void)
{
  const float logits[] = { 1.0f, 0.0f };
  int counts[2];
  sm_sampler *s = make (plain (1.0f), 2);
  sm_sampler *cold = make (plain (0.1f), 2);
  sm_sampler *hot = make (plain (100.0f), 2);

  /* p(0) = e / (e + 1) = 0.731 at temperature 1. */
  histogram (s, logits, 2, 4000, counts);
  g_assert_cmpfloat (fabs (counts[0] / 4000.0 - 0.7311), <, 0.03);
  /* Cold: almost always the best; hot: close to a coin toss. */
  histogram (cold, logits, 2, 2000, counts);
  g_assert_cmpint (counts[0], >, 1990);
  histogram (hot, logits, 2, 4000, counts);
  g_assert_cmpfloat (fabs (counts[0] / 4000.0 - 0.5025), <, 0.03);
  sm_sampler_free (s);
  sm_sampler_free (cold);
  sm_sampler_free (hot);
}

static void
test_top_k (void)
{
  float logits[50];
  int counts[50];
  sm_sampler_params p = plain (5.0f);
  sm_sampler *s;

  /* Nearly flat logits so that, without the filter, every id would come up. */
  for (int i = 0; i < 50; i++)
    logits[i] = (float) ((i * 7) % 50) * 0.001f;
  p.top_k = 3;
  s = make (p, 50);
  histogram (s, logits, 50, 3000, counts);
  /* The three highest logits: (i*7)%50 = 49, 48, 47 -> i = 7, 14, 21. */
  for (int i = 0; i < 50; i++)
    {
      if (i == 7 || i == 14 || i == 21)
        g_assert_cmpint (counts[i], >, 700);
      else
        g_assert_cmpint (counts[i], ==, 0);
    }
  sm_sampler_free (s);
  p.top_k = 1;
  s = make (p, 50);
  histogram (s, logits, 50, 200, counts);
  g_assert_cmpint (counts[7], ==, 200);
  sm_sampler_free (s);
}

static void
test_top_p_min_p (void)
{
  /* Probabilities 0.5, 0.3, 0.15, 0.05 at temperature 1. */
  const float logits[] = { logf (0.05f), logf (0.5f), logf (0.15f), logf (0.3f) };
  int counts[4];
  sm_sampler_params p = plain (1.0f);
  sm_sampler *s;

  /* top-p 0.75: 0.5 + 0.3 reaches it: ids 1 and 3 only. */
  p.top_p = 0.75f;
  s = make (p, 4);
  histogram (s, logits, 4, 3000, counts);
  g_assert_cmpint (counts[0], ==, 0);
  g_assert_cmpint (counts[2], ==, 0);
  g_assert_cmpfloat (fabs (counts[1] / 3000.0 - 0.625), <, 0.04);
  sm_sampler_free (s);

  /* min-p 0.2: keep p >= 0.1, drops only the 0.05 token. */
  p.top_p = 1.0f;
  p.min_p = 0.2f;
  s = make (p, 4);
  histogram (s, logits, 4, 3000, counts);
  g_assert_cmpint (counts[0], ==, 0);
  g_assert_cmpint (counts[1], >, 0);
  g_assert_cmpint (counts[2], >, 0);
  g_assert_cmpint (counts[3], >, 0);
  sm_sampler_free (s);

  /* Without filters every token appears. */
  s = make (plain (1.0f), 4);
  histogram (s, logits, 4, 3000, counts);
  g_assert_cmpint (counts[0], >, 60);
  sm_sampler_free (s);
}

static void
test_repeat_penalty (void)
{
  const float pos[] = { 2.0f, 1.9f, 0.0f };
  const float neg[] = { -1.0f, -1.2f, -5.0f };
  sm_sampler_params p = plain (0.0f);
  sm_sampler *s;

  p.repeat_penalty = 1.5f;
  p.repeat_last_n = 2;
  s = make (p, 3);
  g_assert_cmpint (sm_sampler_sample (s, pos), ==, 0);
  sm_sampler_accept (s, 0);
  /* 2.0 / 1.5 = 1.33 < 1.9; -1.0 * 1.5 = -1.5 < -1.2. */
  g_assert_cmpint (sm_sampler_sample (s, pos), ==, 1);
  g_assert_cmpint (sm_sampler_sample (s, neg), ==, 1);
  /* Repeats in the window count once. */
  sm_sampler_accept (s, 0);
  g_assert_cmpint (sm_sampler_sample (s, pos), ==, 1);
  /* The window holds the last 2 tokens: after two others, 0 is free again. */
  sm_sampler_accept (s, 2);
  sm_sampler_accept (s, 2);
  g_assert_cmpint (sm_sampler_sample (s, pos), ==, 0);
  /* reset forgets the history. */
  sm_sampler_accept (s, 0);
  sm_sampler_reset (s);
  g_assert_cmpint (sm_sampler_sample (s, pos), ==, 0);
  sm_sampler_free (s);
}

static void
test_bad_params (void)
{
  sm_sampler_params p = sm_sampler_default_params ();
  sm_sampler *s = NULL;
  sm_error err = { 0 };

  g_assert_cmpint (sm_sampler_new (&p, 0, &s, &err), ==, SM_ERR_INVALID_ARG);
  p.repeat_last_n = -1;
  g_assert_cmpint (sm_sampler_new (&p, 10, &s, &err), ==, SM_ERR_INVALID_ARG);
  p = sm_sampler_default_params ();
  p.top_p = NAN;
  g_assert_cmpint (sm_sampler_new (&p, 10, &s, &err), ==, SM_ERR_INVALID_ARG);
  g_assert_null (s);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sampler/greedy", test_greedy);
  g_test_add_func ("/sampler/seed", test_seed);
  g_test_add_func ("/sampler/temperature", test_temperature);
  g_test_add_func ("/sampler/top-k", test_top_k);
  g_test_add_func ("/sampler/top-p-min-p", test_top_p_min_p);
  g_test_add_func ("/sampler/repeat-penalty", test_repeat_penalty);
  g_test_add_func ("/sampler/bad-params", test_bad_params);
  return g_test_run ();
}
