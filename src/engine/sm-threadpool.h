/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-threadpool.h: the engine's compute pool, the only place the engine starts threads.
 *
 * A pool of n workers (the calling thread counts as worker 0) that run one parallel-for at a time.
 * Between the operations of a forward pass the workers do not go to sleep: they spin briefly on an
 * atomic generation counter and only then block on a futex, so back-to-back matrix products do not
 * pay a wake-up each. Not a general task queue: jobs cannot be nested or queued.
 *
 * Threading: one thread at a time may submit work to a pool (the thread that owns the model).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef struct sm_threadpool sm_threadpool;

/* Work for rows [begin, end) on worker `ith` (0 <= ith < n_threads). */
typedef void (*sm_parallel_fn) (void    *ctx,
                                int64_t  begin,
                                int64_t  end,
                                int      ith);

/* Physical cores available to this process (its affinity mask, SMT siblings counted once);
 * at least 1. */
int sm_threadpool_default_threads (void);

/* Starts n_threads - 1 workers (n_threads <= 0: sm_threadpool_default_threads()). NULL when a
 * thread cannot be started or memory runs out. */
sm_threadpool *sm_threadpool_new (int n_threads);

/* Stops and joins the workers; NULL is accepted. */
void sm_threadpool_free (sm_threadpool *pool);

int sm_threadpool_get_n_threads (const sm_threadpool *pool);

/* Calls fn over [0, n) split into chunks of `grain` rows (grain <= 0: chosen from n and the
 * number of threads). Each worker starts on its own contiguous share of the chunks, in order, and
 * takes over part of another's share when done, so a worker slowed by another process does not
 * hold the others up. Returns when every chunk is done. pool may be NULL (runs on the caller). */
void sm_threadpool_parallel_for (sm_threadpool  *pool,
                                 int64_t         n,
                                 int64_t         grain,
                                 sm_parallel_fn  fn,
                                 void           *ctx);
