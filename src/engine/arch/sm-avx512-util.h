/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-avx512-util.h: small AVX-512 helpers shared by the arch/ files compiled for the avx512
 * variant (only include from those).
 */
#pragma once

#include <immintrin.h>

/* In place: v[r] lane k becomes v[k] lane r (16 x 16 dwords). Four rounds of 16 shuffles. */
static inline __attribute__ ((always_inline)) void
sm_transpose16_epi32 (__m512i v[16])
{
  __m512i t[16], u[16];

  for (int i = 0; i < 16; i += 2)
    {
      /* Per 128-bit lane: t[i] = a0 b0 a1 b1, t[i + 1] = a2 b2 a3 b3 (a = row i, b = i + 1). */
      t[i] = _mm512_unpacklo_epi32 (v[i], v[i + 1]);
      t[i + 1] = _mm512_unpackhi_epi32 (v[i], v[i + 1]);
    }
  for (int q = 0; q < 16; q += 4)
    {
      /* Rows q..q+3, per 128-bit lane j: u[q + c] holds column 4j + c of the four rows. */
      u[q] = _mm512_unpacklo_epi64 (t[q], t[q + 2]);
      u[q + 1] = _mm512_unpackhi_epi64 (t[q], t[q + 2]);
      u[q + 2] = _mm512_unpacklo_epi64 (t[q + 1], t[q + 3]);
      u[q + 3] = _mm512_unpackhi_epi64 (t[q + 1], t[q + 3]);
    }
  for (int c = 0; c < 4; c++)
    {
      /* Lanes: [rows 0-3 | rows 4-7] and [rows 8-11 | rows 12-15], columns c and c + 8 (0x88)
       * or c + 4 and c + 12 (0xdd); then the halves are joined. */
      const __m512i a0 = _mm512_shuffle_i32x4 (u[c], u[4 + c], 0x88);
      const __m512i a1 = _mm512_shuffle_i32x4 (u[c], u[4 + c], 0xdd);
      const __m512i b0 = _mm512_shuffle_i32x4 (u[8 + c], u[12 + c], 0x88);
      const __m512i b1 = _mm512_shuffle_i32x4 (u[8 + c], u[12 + c], 0xdd);
      v[c] = _mm512_shuffle_i32x4 (a0, b0, 0x88);
      v[c + 8] = _mm512_shuffle_i32x4 (a0, b0, 0xdd);
      v[c + 4] = _mm512_shuffle_i32x4 (a1, b1, 0x88);
      v[c + 12] = _mm512_shuffle_i32x4 (a1, b1, 0xdd);
    }
}
