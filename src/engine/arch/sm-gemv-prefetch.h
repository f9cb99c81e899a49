/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-gemv-prefetch.h: the software prefetch of the one-token kernels (arch/sm-gemv-*.c), which
 * read R weight rows side by side, a step of `step` bytes of each at a time. The hardware
 * prefetchers lose those R slow streams at every 4 KiB page, so the kernels ask for the bytes
 * themselves, ahead of the reads:
 *
 * - short rows (the R rows together no longer than SM_GEMV_PREFETCH bytes): the group is one
 *   stretch of memory consumed about linearly, R bytes per byte of offset; it is prefetched
 *   SM_GEMV_PREFETCH bytes ahead of that position, which reaches into the next group;
 * - long rows: each row's counterpart in the next group (R rows further on, same offset), so
 *   every row's bytes arrive one group ahead of its reads. The linear form would reach rows
 *   1..R-1 of a group only once the reads of row 0 are well past their start, and their first
 *   kilobytes came from memory on demand: 15-23% slower on 8192-element rows
 *   (benchmarks/NOTES.md, "Prefetch of long rows", stop 13).
 *
 * Addresses are formed as integers and may point past the matrix: a prefetch never faults.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <xmmintrin.h>

/* Bytes ahead of the reads (measured best at 8 KiB among 1-32 KiB for short rows). */
#define SM_GEMV_PREFETCH 8192

/* Prefetches for the step at byte offset off of the R rows from r0 (ws bytes apart). */
static inline __attribute__ ((always_inline)) void
sm_gemv_prefetch_rows (const uint8_t *r0,
                       size_t         ws,
                       int            R,
                       size_t         off,
                       size_t         step)
{
  if ((size_t) R * ws <= SM_GEMV_PREFETCH)
    {
      const uintptr_t pf = (uintptr_t) r0 + (size_t) R * off + SM_GEMV_PREFETCH;
      for (size_t k = 0; k < (size_t) R * step; k += 64)
        _mm_prefetch ((const char *) (pf + k), _MM_HINT_T0);
      return;
    }
  for (int i = 0; i < R; i++)
    {
      const uintptr_t pf = (uintptr_t) r0 + (size_t) (R + i) * ws + off;
      for (size_t k = 0; k < step; k += 64)
        _mm_prefetch ((const char *) (pf + k), _MM_HINT_T0);
      _mm_prefetch ((const char *) (pf + step - 1), _MM_HINT_T0);
    }
}
