/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-threadpool.c: the compute pool behind every parallel matrix product of the forward pass.
 *
 * One job at a time: the submitting thread publishes (fn, ctx, n, grain), bumps the generation
 * counter and works on chunks itself; workers notice the new generation by spinning for a short
 * while (ops of a forward pass come microseconds apart) and otherwise sleep on a futex on that
 * counter. Each worker owns a contiguous slice of the chunks and takes them in order from its
 * front, so its reads of a weight matrix form one ascending stream whose prefetches run into its
 * own next chunk; a worker with an empty slice steals the back half of the fullest other slice
 * (benchmarks/NOTES.md, "Generation as long streams", stop 13). The last worker to finish
 * raises a done word the submitter waits on the same way. Not for I/O or long-lived tasks.
 */
#include "sm-threadpool.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Spins before sleeping: about 0.1-0.5 ms on current x86 cores, longer than the gap between two
 * matrix products of a forward pass, far shorter than the gap between two user requests. */
#define SM_POOL_SPIN 4096

/* Chunks [lo, hi) of the current job still owned by one worker, packed as hi << 32 | lo so that
 * the owner (lo + 1) and a thief (hi lowered) change it with one compare-and-swap. One per cache
 * line. */
typedef struct
{
  _Atomic uint64_t range;
  char             pad[64 - sizeof (uint64_t)];
} sm_pool_slice;

static inline uint64_t
slice_pack (uint32_t lo,
            uint32_t hi)
{
  return (uint64_t) hi << 32 | lo;
}

struct sm_threadpool
{
  int              n_threads;   /* workers including the caller */
  pthread_t       *threads;     /* (n_threads - 1) */

  _Atomic uint32_t generation;  /* bumped once per job; futex word of sleeping workers */
  _Atomic int      n_sleeping;  /* workers blocked (or about to block) on generation */
  _Atomic int      pending;     /* workers that have not finished the current job */
  _Atomic uint32_t done;        /* 1 when pending reached 0; futex word of the submitter */
  _Atomic int      main_sleeping;
  _Atomic bool     stop;

  /* The current job, written before generation is bumped. */
  sm_parallel_fn   fn;
  void            *ctx;
  int64_t          n;           /* rows */
  int64_t          grain;       /* rows per chunk */
  sm_pool_slice   *slices;      /* (n_threads): the chunks each worker has left */
};

typedef struct
{
  sm_threadpool *pool;
  int            ith;
} sm_worker_arg;

static inline void
cpu_relax (void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause ();
#elif defined(__aarch64__)
  __asm__ __volatile__ ("yield");
#endif
}

static void
futex_wait (_Atomic uint32_t *addr,
            uint32_t          expected)
{
  syscall (SYS_futex, (uint32_t *) addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void
futex_wake_all (_Atomic uint32_t *addr)
{
  syscall (SYS_futex, (uint32_t *) addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Takes the first chunk of slice `own`; false when it is empty. */
static bool
take_front (sm_pool_slice *own,
            uint32_t      *chunk)
{
  uint64_t r = atomic_load_explicit (&own->range, memory_order_relaxed);
  for (;;)
    {
      uint32_t lo = (uint32_t) r, hi = (uint32_t) (r >> 32);
      if (lo >= hi)
        return false;
      if (atomic_compare_exchange_weak_explicit (&own->range, &r, slice_pack (lo + 1, hi),
                                                 memory_order_relaxed, memory_order_relaxed))
        {
          *chunk = lo;
          return true;
        }
    }
}

/* Moves the back half (at least one chunk) of the fullest other slice into the empty slice of
 * worker ith; false when every slice is empty. A chunk in flight between two slices is still
 * run by its thief, so a worker that finds nothing may leave. */
static bool
steal (sm_threadpool *pool,
       int            ith)
{
  for (;;)
    {
      int victim = -1;
      uint32_t most = 0;
      uint64_t r = 0;
      for (int v = 0; v < pool->n_threads; v++)
        {
          uint64_t rv;
          uint32_t lo, hi;
          if (v == ith)
            continue;
          rv = atomic_load_explicit (&pool->slices[v].range, memory_order_relaxed);
          lo = (uint32_t) rv;
          hi = (uint32_t) (rv >> 32);
          if (lo < hi && hi - lo > most)
            {
              most = hi - lo;
              victim = v;
              r = rv;
            }
        }
      if (victim < 0)
        return false;
      uint32_t lo = (uint32_t) r, hi = (uint32_t) (r >> 32);
      uint32_t mid = hi - (hi - lo + 1) / 2;
      if (atomic_compare_exchange_strong_explicit (&pool->slices[victim].range, &r,
                                                   slice_pack (lo, mid), memory_order_relaxed,
                                                   memory_order_relaxed))
        {
          atomic_store_explicit (&pool->slices[ith].range, slice_pack (mid, hi),
                                 memory_order_relaxed);
          return true;
        }
    }
}

static void
run_chunks (sm_threadpool *pool,
            int            ith)
{
  for (;;)
    {
      uint32_t c;
      if (!take_front (&pool->slices[ith], &c))
        {
          if (!steal (pool, ith))
            break;
          continue;
        }
      int64_t begin = (int64_t) c * pool->grain;
      int64_t end = begin + pool->grain < pool->n ? begin + pool->grain : pool->n;
      pool->fn (pool->ctx, begin, end, ith);
    }
}

static void *
worker_main (void *data)
{
  sm_worker_arg *arg = data;
  sm_threadpool *pool = arg->pool;
  int ith = arg->ith;
  uint32_t seen = 0;

  free (arg);
  for (;;)
    {
      uint32_t gen;
      int spins = 0;

      while ((gen = atomic_load_explicit (&pool->generation, memory_order_acquire)) == seen)
        {
          if (++spins < SM_POOL_SPIN)
            {
              cpu_relax ();
              continue;
            }
          /* Announce the sleep before re-checking the word inside the futex call: the submitter
           * bumps the generation first and reads n_sleeping second, so one of us sees the other. */
          atomic_fetch_add (&pool->n_sleeping, 1);
          futex_wait (&pool->generation, seen);
          atomic_fetch_sub (&pool->n_sleeping, 1);
          spins = 0;
        }
      seen = gen;
      if (atomic_load (&pool->stop))
        break;

      run_chunks (pool, ith);

      if (atomic_fetch_sub_explicit (&pool->pending, 1, memory_order_acq_rel) == 1)
        {
          atomic_store (&pool->done, 1);
          if (atomic_load (&pool->main_sleeping) > 0)
            futex_wake_all (&pool->done);
        }
    }
  return NULL;
}

int
sm_threadpool_default_threads (void)
{
  cpu_set_t set;
  int n_logical = 0;
  int n_physical = 0;
  /* (package, core) pairs already counted; bounded by the affinity mask size. */
  static const int max_pairs = CPU_SETSIZE;
  long *pairs = NULL;

  if (sched_getaffinity (0, sizeof set, &set) != 0)
    {
      long n = sysconf (_SC_NPROCESSORS_ONLN);
      return n > 0 ? (int) n : 1;
    }
  n_logical = CPU_COUNT (&set);
  pairs = malloc (sizeof *pairs * max_pairs);
  if (pairs == NULL)
    return n_logical > 0 ? n_logical : 1;

  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
    {
      char path[128];
      long core = -1, pkg = 0;
      FILE *f;

      if (!CPU_ISSET (cpu, &set))
        continue;
      snprintf (path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/core_id", cpu);
      if ((f = fopen (path, "r")) != NULL)
        {
          if (fscanf (f, "%ld", &core) != 1)
            core = -1;
          fclose (f);
        }
      snprintf (path, sizeof path,
                "/sys/devices/system/cpu/cpu%d/topology/physical_package_id", cpu);
      if ((f = fopen (path, "r")) != NULL)
        {
          if (fscanf (f, "%ld", &pkg) != 1)
            pkg = 0;
          fclose (f);
        }
      if (core < 0)
        {
          /* No topology: count every logical CPU. */
          free (pairs);
          return n_logical > 0 ? n_logical : 1;
        }
      long key = pkg * 65536 + core;
      bool seen = false;
      for (int i = 0; i < n_physical; i++)
        if (pairs[i] == key)
          seen = true;
      if (!seen && n_physical < max_pairs)
        pairs[n_physical++] = key;
    }
  free (pairs);
  if (n_physical <= 0)
    n_physical = n_logical;
  return n_physical > 0 ? n_physical : 1;
}

sm_threadpool *
sm_threadpool_new (int n_threads)
{
  sm_threadpool *pool;

  if (n_threads <= 0)
    n_threads = sm_threadpool_default_threads ();
  if (n_threads > 512)
    n_threads = 512;

  pool = calloc (1, sizeof *pool);
  if (pool == NULL)
    return NULL;
  pool->n_threads = n_threads;
  atomic_init (&pool->generation, 0);
  atomic_init (&pool->n_sleeping, 0);
  atomic_init (&pool->pending, 0);
  atomic_init (&pool->done, 0);
  atomic_init (&pool->main_sleeping, 0);
  atomic_init (&pool->stop, false);
  pool->slices = aligned_alloc (64, sizeof *pool->slices * (size_t) n_threads);
  if (pool->slices == NULL)
    {
      free (pool);
      return NULL;
    }
  for (int i = 0; i < n_threads; i++)
    atomic_init (&pool->slices[i].range, 0);

  if (n_threads > 1)
    {
      pool->threads = calloc ((size_t) n_threads - 1, sizeof *pool->threads);
      if (pool->threads == NULL)
        {
          free (pool->slices);
          free (pool);
          return NULL;
        }
    }
  for (int i = 1; i < n_threads; i++)
    {
      sm_worker_arg *arg = malloc (sizeof *arg);
      if (arg != NULL)
        {
          arg->pool = pool;
          arg->ith = i;
        }
      if (arg == NULL || pthread_create (&pool->threads[i - 1], NULL, worker_main, arg) != 0)
        {
          free (arg);
          pool->n_threads = i; /* the ones started so far */
          sm_threadpool_free (pool);
          return NULL;
        }
    }
  return pool;
}

void
sm_threadpool_free (sm_threadpool *pool)
{
  if (pool == NULL)
    return;
  atomic_store (&pool->stop, true);
  atomic_fetch_add (&pool->generation, 1);
  futex_wake_all (&pool->generation);
  for (int i = 1; i < pool->n_threads; i++)
    pthread_join (pool->threads[i - 1], NULL);
  free (pool->threads);
  free (pool->slices);
  free (pool);
}

int
sm_threadpool_get_n_threads (const sm_threadpool *pool)
{
  return pool != NULL ? pool->n_threads : 1;
}

void
sm_threadpool_parallel_for (sm_threadpool  *pool,
                            int64_t         n,
                            int64_t         grain,
                            sm_parallel_fn  fn,
                            void           *ctx)
{
  int nth = pool != NULL ? pool->n_threads : 1;

  if (n <= 0)
    return;
  if (grain <= 0)
    {
      /* About four chunks per thread: enough to even out a slow worker, few enough that the
       * slices' words stay cold. */
      grain = n / ((int64_t) nth * 4);
      if (grain < 1)
        grain = 1;
    }
  /* Slices count chunks in 32 bits. */
  if ((n + grain - 1) / grain > (int64_t) UINT32_MAX)
    grain = n / (int64_t) UINT32_MAX + 1;
  if (nth == 1 || n <= grain)
    {
      for (int64_t b = 0; b < n; b += grain)
        fn (ctx, b, b + grain < n ? b + grain : n, 0);
      return;
    }

  pool->fn = fn;
  pool->ctx = ctx;
  pool->n = n;
  pool->grain = grain;
  {
    const int64_t n_chunks = (n + grain - 1) / grain;
    for (int t = 0; t < nth; t++)
      atomic_store_explicit (&pool->slices[t].range,
                             slice_pack ((uint32_t) (n_chunks * t / nth),
                                         (uint32_t) (n_chunks * (t + 1) / nth)),
                             memory_order_relaxed);
  }
  atomic_store_explicit (&pool->done, 0, memory_order_relaxed);
  atomic_store_explicit (&pool->pending, nth - 1, memory_order_relaxed);
  atomic_fetch_add (&pool->generation, 1); /* seq_cst: publishes the job */
  if (atomic_load (&pool->n_sleeping) > 0)
    futex_wake_all (&pool->generation);

  run_chunks (pool, 0);

  int spins = 0;
  while (atomic_load_explicit (&pool->done, memory_order_acquire) == 0)
    {
      if (++spins < SM_POOL_SPIN)
        {
          cpu_relax ();
          continue;
        }
      atomic_fetch_add (&pool->main_sleeping, 1);
      futex_wait (&pool->done, 0);
      atomic_fetch_sub (&pool->main_sleeping, 1);
      spins = 0;
    }
}
