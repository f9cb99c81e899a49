/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-gemv-walk.h: the order in which the one-token kernels (arch/sm-gemv-*.c) read the rows of
 * a call, and their software prefetch. A kernel reads R rows side by side in a pass, a step of
 * each at a time, so one pass is R streams of memory; the hardware prefetchers lose such slow
 * streams at every 4 KiB page, so the kernels ask for the bytes themselves, ahead of the reads.
 *
 * The call's rows are cut into R runs of q = nr / R consecutive rows, and pass g takes row g
 * of every run (lane i: row i q + g). Each lane then reads one long ascending stream, which
 * is prefetched SM_GEMV_STREAM_AHEAD bytes ahead. The last nr - q R rows are read in one
 * adjacent pass, prefetched at the same offset R rows on.
 *
 * Reading R adjacent rows per pass instead, every row is a stream of its own that starts and
 * stops within a few pages, and neither a linear prefetch of the group 8 KiB ahead (each row
 * of it in turn) nor one of each row's counterpart in the next group kept the memory busy:
 * with the runs, Q4_0 and IQ4_XS rows of 2048 elements stream 13-22% faster, Q8_0 rows of
 * 2048 and 8192 elements 8-22% faster (benchmarks/NOTES.md, "Generation as long streams",
 * stop 13).
 *
 * Addresses are formed as integers and may point past the matrix: a prefetch never faults.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <xmmintrin.h>

/* Prefetch distance of a run, in bytes ahead of its reads (1-3 KiB measured the same, 4 KiB
 * worse). */
#define SM_GEMV_STREAM_AHEAD 2048

typedef struct
{
  int64_t nr;   /* rows of the call */
  int64_t q;    /* rows per run; 0: adjacent passes only */
  size_t  ws;   /* bytes from one row to the next */
  int     R;    /* rows per pass */
} sm_gemv_walk;

static inline sm_gemv_walk
sm_gemv_walk_init (int64_t nr,
                   size_t  ws,
                   int     R)
{
  /* (The runs lie up to the call's size apart: calls of 2 GiB and more, which 32-bit gather
   * offsets cannot span, read adjacent rows.) */
  sm_gemv_walk w = { nr, (uint64_t) nr * ws < (1u << 31) ? nr / R : 0, ws, R };
  return w;
}

/* Passes of the call: ceil (nr / R). */
static inline int64_t
sm_gemv_walk_passes (const sm_gemv_walk *w)
{
  return (w->nr + w->R - 1) / w->R;
}

/* The row lane i of pass g reads. A last adjacent pass short of R rows repeats its last row
 * (the kernels keep only lanes with g R + i < nr there, see sm_gemv_walk_lane_used). */
static inline int64_t
sm_gemv_walk_row (const sm_gemv_walk *w,
                  int64_t             g,
                  int                 i)
{
  if (g < w->q)
    return (int64_t) i * w->q + g;
  const int64_t r = g * w->R + i;
  return r < w->nr ? r : w->nr - 1;
}

static inline int
sm_gemv_walk_lane_used (const sm_gemv_walk *w,
                        int64_t             g,
                        int                 i)
{
  return g < w->q || g * w->R + i < w->nr;
}

/* The rows of pass g that exist (all R but in a last adjacent pass), from the matrix at wb:
 * their indices in ri[], their bytes in rows[]; returns how many. */
static inline int
sm_gemv_walk_pass (const sm_gemv_walk *w,
                   int64_t             g,
                   const uint8_t      *wb,
                   const uint8_t      *rows[],
                   int64_t             ri[])
{
  int i = 0;
  while (i < w->R && sm_gemv_walk_lane_used (w, g, i))
    {
      ri[i] = sm_gemv_walk_row (w, g, i);
      rows[i] = wb + (size_t) ri[i] * w->ws;
      i++;
    }
  return i;
}

/* How far ahead of its reads each row of pass g is prefetched. */
static inline size_t
sm_gemv_walk_ahead (const sm_gemv_walk *w,
                    int64_t             g)
{
  return g < w->q ? (size_t) SM_GEMV_STREAM_AHEAD : (size_t) w->R * w->ws;
}

/* Prefetches the step bytes at offset off + ahead of each of the R rows. */
static inline __attribute__ ((always_inline)) void
sm_gemv_prefetch (const uint8_t *const rows[],
                  int                  R,
                  size_t               ahead,
                  size_t               off,
                  size_t               step)
{
  for (int i = 0; i < R; i++)
    {
      const uintptr_t pf = (uintptr_t) rows[i] + ahead + off;
      for (size_t k = 0; k < step; k += 64)
        _mm_prefetch ((const char *) (pf + k), _MM_HINT_T0);
      _mm_prefetch ((const char *) (pf + step - 1), _MM_HINT_T0);
    }
}
