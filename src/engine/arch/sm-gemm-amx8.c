/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-gemm-amx8.c: prompt tiles (sm_gemm_tile_fn) of the Q8_0, Q4_0 and IQ4_NL weights on AMX-INT8
 * (amx_tile + amx_int8), compiled with the avx512 flags. sm-dispatch.c installs the Q8_0 one
 * where the CPU has AMX-INT8 and Linux gave this process the tile registers; the Q4_0 and IQ4_NL
 * ones are tested but not installed, as they measured slower than the VNNI panels on whole
 * prompts (benchmarks/NOTES.md, branch amx8).
 *
 * One tdpbssd multiplies a 16 x 64-byte tile A by a 16 x 64-byte tile B in the VNNI layout and
 * adds the 16 x 16 int32 sums into tile C. Here K is one 32-element block (the weight block and
 * the Q8_0 activation block share one f16 scale each), so A is 16 tokens x 32 bytes, read
 * straight from the activation rows (the qs of block b of tokens t0..t0+15, a_stride apart, no
 * copy), and B is 8 rows x 64 bytes: B row j holds elements 4j..4j+3 of the 16 weight rows side
 * by side. The weights are packed into that layout (Q4_0: nibbles - 8, IQ4_NL: the level
 * table), with their scales as floats, once per chunk of blocks and shared by every group of 16
 * tokens. After each block the int32 tile is stored, and every token row is converted to float,
 * multiplied by the 16 weight scales times the token's activation scale and added into that
 * token's accumulator register. The blocks go in pairs (two C tiles), and the tiles of the next
 * pair are computed and stored before the sums of the previous pair are flushed, so the tile
 * unit works while the vector unit flushes and the vector loads do not wait on fresh tile
 * stores; the activation scales of a group are converted 16 blocks at a time (a gather of the
 * f16 words, vcvtph2ps). The sums in a block are exact, so the result differs from the
 * reference dot only by float rounding. Each call loads its tile configuration and releases the
 * tiles before it returns; the tile instructions are inline assembly with a memory clobber, as
 * in arch/sm-float-avx512.c.
 */
#include <stdint.h>
#include <string.h>

#include <immintrin.h>

#include "sm-quant-private.h"
#include "sm-quant-blocks.h"

/* gcc and clang both read this; clang ignores the count it cannot honour. */
#define SM_UNROLL _Pragma ("GCC unroll 16")

#define AMX8_CHUNK 64  /* blocks per packed panel: 32 KiB of weight tiles, 4 KiB of scales */

#define T_LOAD(t, base, stride)                                                               \
  __asm__ volatile ("tileloadd (%0,%1,1), %%tmm" #t ::"r"(base), "r"((long) (stride)) : "memory")
#define T_STORE(t, base, stride)                                                              \
  __asm__ volatile ("tilestored %%tmm" #t ", (%0,%1,1)" ::"r"(base), "r"((long) (stride))     \
                    : "memory")
#define T_ZERO(t) __asm__ volatile ("tilezero %%tmm" #t ::)
#define T_DP(c, a, b) __asm__ volatile ("tdpbssd %%tmm" #b ", %%tmm" #a ", %%tmm" #c ::)

typedef struct
{
  uint8_t  palette;
  uint8_t  start_row;
  uint8_t  reserved[14];
  uint16_t colsb[16];
  uint8_t  rows[16];
} amx8_config;

typedef enum
{
  W_Q8_0,
  W_Q4_0,
  W_IQ4_NL,
} weight_kind;

/* Tiles: C 0 and 1 (tokens x 16 int32), A 2 and 3 (tokens x 32 bytes), B 4 and 5 (8 x 64
 * bytes). tokens is 16 or the batch's last partial group. */
static void
load_config (int tokens)
{
  _Alignas (64) amx8_config cfg;

  memset (&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int t = 0; t < 2; t++)
    {
      cfg.rows[t] = (uint8_t) tokens;
      cfg.colsb[t] = 64;
      cfg.rows[2 + t] = (uint8_t) tokens;
      cfg.colsb[2 + t] = 32;
      cfg.rows[4 + t] = 8;
      cfg.colsb[4 + t] = 64;
    }
  __asm__ volatile ("ldtilecfg %0" ::"m"(cfg) : "memory");
}

/* Blocks [b0, b0 + nb) of rows 0..nr-1 into B tiles (512 bytes per block) and their scales
 * (16 floats per block; rows >= nr are zero). */
static inline void
pack (weight_kind    kind,
      const uint8_t *w,
      size_t         ws,
      int            nr,
      int64_t        b0,
      int            nb,
      uint8_t       *panel,
      float         *scales)
{
  _Alignas (64) int8_t rows[16 * 32];
  const __m512i idx = _mm512_mullo_epi32 (_mm512_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                                             11, 12, 13, 14, 15),
                                          _mm512_set1_epi32 (32));
  const __m128i m4 = _mm_set1_epi8 (0x0f);
  const __m128i lut = kind == W_IQ4_NL ? _mm_loadu_si128 ((const __m128i *) sm_kvalues_iq4nl)
                                       : _mm_set1_epi8 (8);
  const size_t bsz = kind == W_Q8_0 ? sizeof (sm_block_q8_0) : sizeof (sm_block_q4_0);

  if (nr < 16)
    memset (rows + 32 * nr, 0, (size_t) (16 - nr) * 32);
  for (int s = 0; s < nb; s++)
    {
      for (int r = 0; r < 16; r++)
        {
          if (r >= nr)
            {
              scales[16 * s + r] = 0.0f;
              continue;
            }
          const uint8_t *blk = w + (size_t) r * ws + (size_t) (b0 + s) * bsz;
          uint16_t d;
          memcpy (&d, blk, 2);
          scales[16 * s + r] = _cvtsh_ss (d);
          if (kind == W_Q8_0)
            _mm256_store_si256 ((__m256i *) (rows + 32 * r),
                                _mm256_loadu_si256 ((const __m256i *) (blk + 2)));
          else
            {
              const __m128i q = _mm_loadu_si128 ((const __m128i *) (blk + 2));
              __m128i lo = _mm_and_si128 (q, m4), hi = _mm_and_si128 (_mm_srli_epi16 (q, 4), m4);
              if (kind == W_Q4_0)
                {
                  lo = _mm_sub_epi8 (lo, lut);
                  hi = _mm_sub_epi8 (hi, lut);
                }
              else
                {
                  lo = _mm_shuffle_epi8 (lut, lo);
                  hi = _mm_shuffle_epi8 (lut, hi);
                }
              _mm_store_si128 ((__m128i *) (rows + 32 * r), lo);
              _mm_store_si128 ((__m128i *) (rows + 32 * r + 16), hi);
            }
        }
      /* B row j = dword j of each of the 16 rows. */
      SM_UNROLL
      for (int j = 0; j < 8; j++)
        _mm512_store_si512 ((__m512i *) (panel + 512 * s + 64 * j),
                            _mm512_i32gather_epi32 (idx, rows + 4 * j, 1));
    }
}

/* acc[t] += float (c[t]) * wsc * asc[t][s] for the 16 token rows of the stored C tile. */
#define FLUSH(cbuf, wsc, s)                                                                  \
  do                                                                                          \
    {                                                                                         \
      SM_UNROLL                                                                               \
      for (int t = 0; t < 16; t++)                                                            \
        acc[t] = _mm512_fmadd_ps (_mm512_cvtepi32_ps (_mm512_load_si512 ((cbuf) + 16 * t)),   \
                                  _mm512_mul_ps ((wsc), _mm512_set1_ps (asc[t][s])), acc[t]); \
    }                                                                                         \
  while (0)

/* Tokens [0, nt) of the group at a (nt <= 16, tile rows configured to nt) against the nb
 * packed blocks starting at block b0; add == false: store, else add to out. */
static inline void
group (const uint8_t *a,
       size_t         as,
       int            nt,
       int64_t        b0,
       int            nb,
       const uint8_t *panel,
       const float   *scales,
       __mmask16      mrow,
       bool           add,
       float         *out,
       size_t         os)
{
  _Alignas (64) int32_t cb[4][256];
  _Alignas (64) float asc[16][AMX8_CHUNK];
  __m512 acc[16];
  const size_t abs = sizeof (sm_block_q8_0);

  /* The activation scales asc[t][s] of the group's tokens, 16 blocks at a time. */
  const __m512i sidx = _mm512_mullo_epi32 (_mm512_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                                              11, 12, 13, 14, 15),
                                           _mm512_set1_epi32 ((int) abs));
  for (int t = 0; t < 16; t++)
    for (int s = 0; s < nb; s += 16)
      {
        __m512 v = _mm512_setzero_ps ();
        if (t < nt)
          {
            const __mmask16 m = nb - s >= 16 ? (__mmask16) 0xffff
                                             : (__mmask16) ((1u << (nb - s)) - 1);
            const __m512i d = _mm512_mask_i32gather_epi32 (
                _mm512_setzero_si512 (), m, sidx,
                a + (size_t) t * as + (size_t) (b0 + s) * abs, 1);
            v = _mm512_cvtph_ps (_mm512_cvtepi32_epi16 (d));
          }
        _mm512_store_ps (&asc[t][s], v);
      }
  if (nt < 16)
    {
      memset (cb[0] + 16 * nt, 0, sizeof (int32_t) * 16 * (size_t) (16 - nt));
      memset (cb[1] + 16 * nt, 0, sizeof (int32_t) * 16 * (size_t) (16 - nt));
      memset (cb[2] + 16 * nt, 0, sizeof (int32_t) * 16 * (size_t) (16 - nt));
      memset (cb[3] + 16 * nt, 0, sizeof (int32_t) * 16 * (size_t) (16 - nt));
    }
  for (int t = 0; t < 16; t++)
    acc[t] = _mm512_setzero_ps ();

  /* Pairs of blocks: the tiles of pair k + 1 are computed and stored before the stored sums
   * of pair k are flushed, so the vector loads never wait on the tile stores just issued. */
  const uint8_t *ab = a + (size_t) b0 * abs + 2;
  const int np = (nb + 1) / 2;
  for (int k = 0; k <= np; k++)
    {
      if (k < np)
        {
          const int s = 2 * k;
          int32_t *d0 = cb[2 * (k & 1)], *d1 = cb[2 * (k & 1) + 1];
          T_ZERO (0);
          T_LOAD (2, ab + (size_t) s * abs, as);
          T_LOAD (4, panel + 512 * s, 64);
          T_DP (0, 2, 4);
          if (s + 1 < nb)
            {
              T_ZERO (1);
              T_LOAD (3, ab + (size_t) (s + 1) * abs, as);
              T_LOAD (5, panel + 512 * (s + 1), 64);
              T_DP (1, 3, 5);
            }
          T_STORE (0, d0, 64);
          if (s + 1 < nb)
            T_STORE (1, d1, 64);
        }
      if (k > 0)
        {
          const int s = 2 * (k - 1);
          const int32_t *d0 = cb[2 * ((k - 1) & 1)], *d1 = cb[2 * ((k - 1) & 1) + 1];
          const __m512 w0 = _mm512_load_ps (scales + 16 * s);
          FLUSH (d0, w0, s);
          if (s + 1 < nb)
            {
              const __m512 w1 = _mm512_load_ps (scales + 16 * (s + 1));
              FLUSH (d1, w1, s + 1);
            }
        }
    }
  for (int t = 0; t < nt; t++)
    {
      float *o = out + (size_t) t * os;
      __m512 v = acc[t];
      if (add)
        v = _mm512_add_ps (v, _mm512_maskz_loadu_ps (mrow, o));
      _mm512_mask_storeu_ps (o, mrow, v);
    }
}

static inline void
gemm_amx8 (weight_kind kind,
           int64_t     n,
           const void *w,
           size_t      ws,
           int         nr,
           const void *a,
           size_t      as,
           int         nc,
           float      *out,
           size_t      os)
{
  _Alignas (64) uint8_t panel[AMX8_CHUNK * 512];
  _Alignas (64) float scales[AMX8_CHUNK * 16];
  const uint8_t *wb = w, *ab = a;
  const int64_t nblocks = n / 32;
  const int full = nc / 16, rest = nc % 16;

  if (nr <= 0 || nc <= 0 || nblocks <= 0)
    return;
  for (int r0 = 0; r0 < nr; r0 += 16)
    {
      const int nrp = nr - r0 < 16 ? nr - r0 : 16;
      const __mmask16 mrow = (__mmask16) ((1u << nrp) - 1);
      const uint8_t *wr = wb + (size_t) r0 * ws;

      for (int64_t b0 = 0; b0 < nblocks; b0 += AMX8_CHUNK)
        {
          const int nb = nblocks - b0 < AMX8_CHUNK ? (int) (nblocks - b0) : AMX8_CHUNK;
          pack (kind, wr, ws, nrp, b0, nb, panel, scales);
          if (full > 0)
            {
              load_config (16);
              for (int g = 0; g < full; g++)
                group (ab + (size_t) (16 * g) * as, as, 16, b0, nb, panel, scales, mrow, b0 > 0,
                       out + (size_t) (16 * g) * os + r0, os);
            }
          if (rest > 0)
            {
              load_config (rest);
              group (ab + (size_t) (16 * full) * as, as, rest, b0, nb, panel, scales, mrow,
                     b0 > 0, out + (size_t) (16 * full) * os + r0, os);
            }
        }
    }
  __asm__ volatile ("tilerelease" ::: "memory");
}

void
sm_gemm_q8_0_amx (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int nc,
                  float *out, size_t os)
{
  gemm_amx8 (W_Q8_0, n, w, ws, nr, a, as, nc, out, os);
}

void
sm_gemm_q4_0_amx (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as, int nc,
                  float *out, size_t os)
{
  gemm_amx8 (W_Q4_0, n, w, ws, nr, a, as, nc, out, os);
}

void
sm_gemm_iq4_nl_amx (int64_t n, const void *w, size_t ws, int nr, const void *a, size_t as,
                    int nc, float *out, size_t os)
{
  gemm_amx8 (W_IQ4_NL, n, w, ws, nr, a, as, nc, out, os);
}
