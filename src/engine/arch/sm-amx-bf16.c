/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-amx-bf16.c: prompt batches of any weight type on AMX-BF16 tiles. The weight rows are
 * decoded to BF16 (the type's sm_bf16_rows_fn) into a per-thread scratch already in tile order,
 * the activations were converted to BF16 and packed once per product (sm_amx_bf16_pack_acts),
 * and tdpbf16ps multiplies them: 16 rows x 16 tokens x 32 elements per instruction, float sums.
 *
 * Roles: tile A (16 rows x 64 bytes) is 16 weight rows x 32 elements, straight from the decoded
 * scratch (row r of a 16-row half at +64 r, one 1 KiB tile per 32 elements); tile B (16 x 64
 * bytes) is the activations in the pair-interleaved layout tdpbf16ps wants (row j = element
 * pair j, dword t = that pair of token t); the float accumulator C is 16 rows x 16 tokens. Two
 * row halves x two token groups are in flight (C in tmm0-3, A in tmm4-5, B in tmm6-7), so each
 * step loads four tiles for four products. The scratch holds up to SM_AMX_KC elements of 32
 * rows (128 KiB, in L2 with the packed activations of that stretch); longer rows go in stretches
 * whose partial sums wait in a per-thread float buffer. Once per (32 rows, every token) the sums
 * are transposed (C is row-major per weight row, the output token-major) and stored, rows and
 * tokens past the end masked.
 *
 * Compared with the int8 paths, the activations are rounded to BF16 (8 significant bits)
 * rather than quantized per block, and the decoded weights are rounded to BF16 (exact for BF16
 * weights and for the integer codes of most types, within 2^-9 relative otherwise): an error of
 * the same order as Q8 activations. The tile instructions are inline assembly (see
 * sm-float-avx512.c for why); only called after sm-dispatch.c obtained the tile permission.
 *
 * Threading: reentrant; the caller gives each thread its own scratch.
 */
#include <immintrin.h>
#include <string.h>

#include "sm-amx-bf16.h"
#include "sm-avx512-util.h"

#define TILE_LOAD(t, base)                                                                     \
  __asm__ volatile ("tileloadd (%0,%1,1), %%tmm" #t ::"r"(base), "r"(64L) : "memory")
#define TILE_STORE(t, base)                                                                    \
  __asm__ volatile ("tilestored %%tmm" #t ", (%0,%1,1)" ::"r"(base), "r"(64L) : "memory")
#define TILE_ZERO(t) __asm__ volatile ("tilezero %%tmm" #t ::)
#define TILE_DP(c, a, b) __asm__ volatile ("tdpbf16ps %%tmm" #b ", %%tmm" #a ", %%tmm" #c ::)

typedef struct
{
  uint8_t  palette;
  uint8_t  start_row;
  uint8_t  reserved[14];
  uint16_t colsb[16];
  uint8_t  rows[16];
} tile_config;

/* All eight tiles 16 rows x 64 bytes. */
static inline void
load_tile_config (void)
{
  _Alignas (64) tile_config cfg;

  memset (&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int t = 0; t < 8; t++)
    {
      cfg.colsb[t] = 64;
      cfg.rows[t] = 16;
    }
  __asm__ volatile ("ldtilecfg %0" ::"m"(cfg) : "memory");
}

/* The ng sum tiles at c (16 rows x 16 tokens each, row-major) into out[token][r0 + row] for
 * rows < nrows and tokens < nc. */
static inline void
store_sums (const float *c,
            int          ng,
            int          nrows,
            int          nc,
            float       *out,
            size_t       os,
            int64_t      r0)
{
  const __mmask16 mrow = (__mmask16) ((1u << nrows) - 1);

  for (int g = 0; g < ng; g++, c += 256)
    {
      const int nt = nc - 16 * g < 16 ? nc - 16 * g : 16;
      __m512i v[16];
      for (int i = 0; i < 16; i++)
        v[i] = _mm512_load_si512 ((const __m512i *) (c + 16 * i));
      sm_transpose16_epi32 (v);
      for (int t = 0; t < nt; t++)
        _mm512_mask_storeu_ps (out + (size_t) (16 * g + t) * os + r0, mrow,
                               _mm512_castsi512_ps (v[t]));
    }
}

size_t
sm_amx_bf16_acts_bytes (int64_t n,
                        int     nc)
{
  return (size_t) ((nc + 15) / 16) * (size_t) (n / 32) * 1024;
}

size_t
sm_amx_bf16_scratch_bytes (int nc)
{
  return (size_t) 2 * (SM_AMX_KC / 32) * 1024 + (size_t) 2 * ((nc + 15) / 16) * 1024;
}

__attribute__ ((target ("avx512bf16"))) void
sm_amx_bf16_pack_acts (const float *x,
                       size_t       xs,
                       int64_t      n,
                       int          g0,
                       int          g1,
                       int          nc,
                       void        *dst)
{
  const int64_t ns = n / 32;
  uint16_t *d = dst;

  for (int g = g0; g < g1; g++)
    {
      const int nt = nc - 16 * g < 16 ? nc - 16 * g : 16;
      const float *xg = x + (size_t) 16 * g * xs;
      for (int64_t s = 0; s < ns; s++)
        {
          __m512i v[16];
          for (int t = 0; t < 16; t++)
            {
              if (t < nt)
                {
                  const float *p = xg + (size_t) t * xs + 32 * s;
                  v[t] = (__m512i) _mm512_cvtne2ps_pbh (_mm512_loadu_ps (p + 16),
                                                        _mm512_loadu_ps (p));
                }
              else
                v[t] = _mm512_setzero_si512 ();
            }
          sm_transpose16_epi32 (v);
          uint16_t *tile = d + ((size_t) g * ns + s) * 512;
          for (int j = 0; j < 16; j++)
            _mm512_store_si512 ((__m512i *) (tile + 32 * j), v[j]);
        }
    }
}

/* The weight bytes of the next stretch, fetched into L2 a few lines per step while the tiles
 * of this one run (the decoder would otherwise wait on memory row after row). */
typedef struct
{
  const uint8_t *row;   /* next line: row `r`, byte `off` of its stretch */
  size_t         ws;
  size_t         bytes; /* of one row's stretch */
  size_t         off;
  int            r, nr;
  int            per_step;
} prefetch_cursor;

static inline __attribute__ ((always_inline)) void
prefetch_some (prefetch_cursor *pf)
{
  for (int i = 0; i < pf->per_step && pf->r < pf->nr; i++)
    {
      _mm_prefetch ((const char *) pf->row + pf->off, _MM_HINT_T1);
      pf->off += 64;
      if (pf->off >= pf->bytes)
        {
          pf->off = 0;
          pf->row += pf->ws;
          pf->r++;
        }
    }
}

/* The stretch after rows [r0, r0 + rb) x elements [k0, k0 + nk): the next stretch of those rows,
 * or the first of the next rb rows; its bytes spread over the tile steps of this one (row
 * stretches cover whole blocks: ws * nk / n bytes). */
static inline prefetch_cursor
next_stretch_prefetch (const void *w,
                       size_t      ws,
                       int64_t     n,
                       int64_t     nr,
                       int64_t     r0,
                       int64_t     k0,
                       int64_t     nk,
                       int         rb,
                       int         ng)
{
  const int64_t k1 = k0 + nk < n ? k0 + nk : 0;
  const int64_t r1 = k0 + nk < n ? r0 : r0 + rb;
  const int64_t nk1 = n - k1 < SM_AMX_KC ? n - k1 : SM_AMX_KC;
  const int64_t steps = nk / 32 * ((ng + 1) / 2);
  prefetch_cursor pf;

  pf.ws = ws;
  pf.bytes = (size_t) ((uint64_t) ws * (uint64_t) nk1 / (uint64_t) n);
  pf.row = (const uint8_t *) w + (size_t) r1 * ws
           + (size_t) ((uint64_t) ws * (uint64_t) k1 / (uint64_t) n);
  pf.off = 0;
  pf.r = 0;
  pf.nr = r1 < nr ? (nr - r1 < rb ? (int) (nr - r1) : rb) : 0;
  pf.per_step = (int) (((int64_t) pf.nr * (int64_t) ((pf.bytes + 63) / 64) + steps - 1) / steps);
  return pf;
}

/* Steps [0, nsc) of one (row half, token group) pair or two: C tiles h * 2 + g. Constant
 * arguments after inlining, so each shape is its own straight loop. */
static inline __attribute__ ((always_inline)) void
run_steps (bool             two_halves,
           bool             two_groups,
           const uint16_t  *a0,
           const uint16_t  *a1,
           const uint16_t  *b0,
           const uint16_t  *b1,
           int64_t          nsc,
           prefetch_cursor *pf)
{
  for (int64_t s = 0; s < nsc; s++)
    {
      TILE_LOAD (4, a0 + 512 * s);
      TILE_LOAD (6, b0 + 512 * s);
      TILE_DP (0, 4, 6);
      if (two_groups)
        {
          TILE_LOAD (7, b1 + 512 * s);
          TILE_DP (1, 4, 7);
        }
      if (two_halves)
        {
          TILE_LOAD (5, a1 + 512 * s);
          TILE_DP (2, 5, 6);
          if (two_groups)
            TILE_DP (3, 5, 7);
        }
      prefetch_some (pf);
    }
}

void
sm_amx_bf16_gemm (sm_bf16_rows_fn decode,
                  int64_t         n,
                  const void     *w,
                  size_t          ws,
                  int64_t         nr,
                  const void     *acts,
                  int             nc,
                  float          *out,
                  size_t          os,
                  void           *scratch)
{
  const int ng = (nc + 15) / 16;
  const int64_t ns = n / 32;
  uint16_t *atile = scratch;                             /* 2 halves x (KC / 32) tiles */
  float *cacc = (float *) (atile + 2 * (SM_AMX_KC / 32) * 512); /* 2 halves x ng tiles */
  const uint16_t *bt = acts;

  load_tile_config ();

  for (int64_t r0 = 0; r0 < nr; r0 += 32)
    {
      const int nrb = nr - r0 < 32 ? (int) (nr - r0) : 32;
      const bool halves = nrb > 16;

      for (int64_t k0 = 0; k0 < n; k0 += SM_AMX_KC)
        {
          const int64_t nk = n - k0 < SM_AMX_KC ? n - k0 : SM_AMX_KC;
          const int64_t nsc = nk / 32;
          uint16_t *a1 = atile + nsc * 512;

          for (int r = 0; r < nrb; r++)
            decode ((const uint8_t *) w + (size_t) (r0 + r) * ws, k0, nk,
                    (r < 16 ? atile : a1) + 32 * (r & 15), 1024);
          for (int r = nrb; r < (halves ? 32 : 16); r++)
            for (int64_t s = 0; s < nsc; s++)
              _mm512_store_si512 ((__m512i *) ((r < 16 ? atile : a1) + 512 * s + 32 * (r & 15)),
                                  _mm512_setzero_si512 ());

          /* Fetched while these tiles run: the stretch after this one. */
          prefetch_cursor pf = next_stretch_prefetch (w, ws, n, nr, r0, k0, nk, 32, ng);
          for (int g = 0; g < ng; g += 2)
            {
              const bool groups = g + 1 < ng;
              const uint16_t *b0 = bt + ((size_t) g * ns + k0 / 32) * 512;
              const uint16_t *b1 = b0 + ns * 512;
              float *c0 = cacc + (size_t) g * 256, *c1 = c0 + 256;
              float *c2 = c0 + (size_t) ng * 256, *c3 = c2 + 256;

              if (k0 == 0)
                {
                  TILE_ZERO (0);
                  TILE_ZERO (1);
                  TILE_ZERO (2);
                  TILE_ZERO (3);
                }
              else
                {
                  TILE_LOAD (0, c0);
                  if (groups)
                    TILE_LOAD (1, c1);
                  if (halves)
                    {
                      TILE_LOAD (2, c2);
                      if (groups)
                        TILE_LOAD (3, c3);
                    }
                }
              if (halves && groups)
                run_steps (true, true, atile, a1, b0, b1, nsc, &pf);
              else if (halves)
                run_steps (true, false, atile, a1, b0, b1, nsc, &pf);
              else if (groups)
                run_steps (false, true, atile, a1, b0, b1, nsc, &pf);
              else
                run_steps (false, false, atile, a1, b0, b1, nsc, &pf);
              TILE_STORE (0, c0);
              if (groups)
                TILE_STORE (1, c1);
              if (halves)
                {
                  TILE_STORE (2, c2);
                  if (groups)
                    TILE_STORE (3, c3);
                }
            }
        }

      /* Sums (row, token) -> out[token][row]. */
      for (int h = 0; h < (halves ? 2 : 1); h++)
        store_sums (cacc + (size_t) h * ng * 256, ng, nrb - 16 * h < 16 ? nrb - 16 * h : 16, nc,
                    out, os, r0 + 16 * h);
    }
  __asm__ volatile ("tilerelease" ::: "memory");
}

/* ---- F16 weights, exactly ----
 * An F16 value v is hi + lo exactly with hi = v cut to BF16's 8 significant bits and lo = v - hi
 * (at most 3 significant bits, a BF16 too; both normal or zero, as F16's smallest magnitude
 * 2^-24 is far above BF16's smallest normal). The activations are rounded to F16 first (as for
 * the F16 dot products) and split the same way, and four tdpbf16ps per step add
 * hi.a_hi + hi.a_lo + lo.a_hi + lo.a_lo: the exact products of the F16 values, summed in float.
 * Non-finite weights or activations keep lo = 0, so inf stays inf rather than inf - inf. Tiles:
 * C of two token groups in tmm0-1, B (hi, lo) of those groups in tmm2, 3, 6, 7, A (hi, lo) of
 * 16 rows in tmm4-5; rows go 16 at a time. */

/* hi and lo of the 16 floats of f (each an F16 value), as floats that BF16 holds exactly. */
static inline __attribute__ ((always_inline)) void
split16 (__m512 f,
         __m512 *hi,
         __m512 *lo)
{
  const __mmask16 finite = _knot_mask16 (_mm512_fpclass_ps_mask (f, 0x99)); /* NaN, +-inf */
  *hi = _mm512_castsi512_ps (_mm512_and_si512 (_mm512_castps_si512 (f),
                                               _mm512_set1_epi32 ((int) 0xffff0000u)));
  *lo = _mm512_maskz_sub_ps (finite, f, *hi);
}

__attribute__ ((target ("avx512bf16,f16c"))) void
sm_amx_f16_pack_acts (const float *x,
                      size_t       xs,
                      int64_t      n,
                      int          g0,
                      int          g1,
                      int          nc,
                      void        *dst_hi,
                      void        *dst_lo)
{
  const int64_t ns = n / 32;

  for (int g = g0; g < g1; g++)
    {
      const int nt = nc - 16 * g < 16 ? nc - 16 * g : 16;
      const float *xg = x + (size_t) 16 * g * xs;
      for (int64_t s = 0; s < ns; s++)
        {
          __m512i vh[16], vl[16];
          for (int t = 0; t < 16; t++)
            {
              if (t < nt)
                {
                  const float *p = xg + (size_t) t * xs + 32 * s;
                  __m512 h0, l0, h1, l1;
                  /* Round to F16 and back: the activation the F16 dot products use. */
                  const __m512 f0 = _mm512_cvtph_ps (_mm512_cvtps_ph (_mm512_loadu_ps (p),
                                                                      _MM_FROUND_TO_NEAREST_INT));
                  const __m512 f1 = _mm512_cvtph_ps (_mm512_cvtps_ph (_mm512_loadu_ps (p + 16),
                                                                      _MM_FROUND_TO_NEAREST_INT));
                  split16 (f0, &h0, &l0);
                  split16 (f1, &h1, &l1);
                  vh[t] = (__m512i) _mm512_cvtne2ps_pbh (h1, h0);
                  vl[t] = (__m512i) _mm512_cvtne2ps_pbh (l1, l0);
                }
              else
                vh[t] = vl[t] = _mm512_setzero_si512 ();
            }
          sm_transpose16_epi32 (vh);
          sm_transpose16_epi32 (vl);
          uint16_t *th = (uint16_t *) dst_hi + ((size_t) g * ns + s) * 512;
          uint16_t *tl = (uint16_t *) dst_lo + ((size_t) g * ns + s) * 512;
          for (int j = 0; j < 16; j++)
            {
              _mm512_store_si512 ((__m512i *) (th + 32 * j), vh[j]);
              _mm512_store_si512 ((__m512i *) (tl + 32 * j), vl[j]);
            }
        }
    }
}

/* Elements [k0, k0 + nk) of an F16 row split into hi and lo tiles (32 elements per 64 bytes,
 * `step` bytes apart). */
__attribute__ ((target ("avx512bf16,f16c"))) static void
f16_split_row (const uint16_t *row,
               int64_t         k0,
               int64_t         nk,
               uint16_t       *hi,
               uint16_t       *lo,
               size_t          step)
{
  for (int64_t g = 0; g < nk / 32; g++)
    {
      const __m512i v = _mm512_loadu_si512 ((const void *) (row + k0 + 32 * g));
      __m512 h0, l0, h1, l1;
      split16 (_mm512_cvtph_ps (_mm512_castsi512_si256 (v)), &h0, &l0);
      split16 (_mm512_cvtph_ps (_mm512_extracti64x4_epi64 (v, 1)), &h1, &l1);
      _mm512_store_si512 ((__m512i *) ((uint8_t *) hi + g * step),
                          (__m512i) _mm512_cvtne2ps_pbh (h1, h0));
      _mm512_store_si512 ((__m512i *) ((uint8_t *) lo + g * step),
                          (__m512i) _mm512_cvtne2ps_pbh (l1, l0));
    }
}

static inline __attribute__ ((always_inline)) void
run_steps_f16 (bool             two_groups,
               const uint16_t  *ahi,
               const uint16_t  *alo,
               const uint16_t  *b0h,
               const uint16_t  *b0l,
               const uint16_t  *b1h,
               const uint16_t  *b1l,
               int64_t          nsc,
               prefetch_cursor *pf)
{
  for (int64_t s = 0; s < nsc; s++)
    {
      TILE_LOAD (4, ahi + 512 * s);
      TILE_LOAD (5, alo + 512 * s);
      TILE_LOAD (6, b0h + 512 * s);
      TILE_LOAD (7, b0l + 512 * s);
      if (two_groups)
        {
          TILE_LOAD (2, b1h + 512 * s);
          TILE_LOAD (3, b1l + 512 * s);
        }
      TILE_DP (0, 4, 6);
      if (two_groups)
        TILE_DP (1, 4, 2);
      TILE_DP (0, 4, 7);
      if (two_groups)
        TILE_DP (1, 4, 3);
      TILE_DP (0, 5, 6);
      if (two_groups)
        TILE_DP (1, 5, 2);
      TILE_DP (0, 5, 7);
      if (two_groups)
        TILE_DP (1, 5, 3);
      prefetch_some (pf);
    }
}

size_t
sm_amx_f16_scratch_bytes (int nc)
{
  /* hi and lo tiles of 16 rows x KC elements, then the partial sums of one row block. */
  return (size_t) 2 * (SM_AMX_KC / 32) * 1024 + (size_t) ((nc + 15) / 16) * 1024;
}

__attribute__ ((target ("avx512bf16,f16c"))) void
sm_amx_f16_gemm (int64_t     n,
                 const void *w,
                 size_t      ws,
                 int64_t     nr,
                 const void *acts_hi,
                 const void *acts_lo,
                 int         nc,
                 float      *out,
                 size_t      os,
                 void       *scratch)
{
  const int ng = (nc + 15) / 16;
  const int64_t ns = n / 32;
  uint16_t *ahi = scratch, *alo = ahi + (SM_AMX_KC / 32) * 512;
  float *cacc = (float *) (alo + (SM_AMX_KC / 32) * 512); /* ng tiles */
  const uint16_t *bh = acts_hi, *bl = acts_lo;

  load_tile_config ();

  for (int64_t r0 = 0; r0 < nr; r0 += 16)
    {
      const int nrb = nr - r0 < 16 ? (int) (nr - r0) : 16;

      for (int64_t k0 = 0; k0 < n; k0 += SM_AMX_KC)
        {
          const int64_t nk = n - k0 < SM_AMX_KC ? n - k0 : SM_AMX_KC;
          const int64_t nsc = nk / 32;

          for (int r = 0; r < nrb; r++)
            f16_split_row ((const uint16_t *) ((const uint8_t *) w + (size_t) (r0 + r) * ws), k0,
                           nk, ahi + 32 * r, alo + 32 * r, 1024);
          for (int r = nrb; r < 16; r++)
            for (int64_t s = 0; s < nsc; s++)
              {
                _mm512_store_si512 ((__m512i *) (ahi + 512 * s + 32 * r), _mm512_setzero_si512 ());
                _mm512_store_si512 ((__m512i *) (alo + 512 * s + 32 * r), _mm512_setzero_si512 ());
              }

          /* Fetched while these tiles run: the stretch after this one. */
          prefetch_cursor pf = next_stretch_prefetch (w, ws, n, nr, r0, k0, nk, 16, ng);
          for (int g = 0; g < ng; g += 2)
            {
              const bool groups = g + 1 < ng;
              const size_t b0 = ((size_t) g * ns + k0 / 32) * 512, b1 = b0 + ns * 512;
              float *c0 = cacc + (size_t) g * 256, *c1 = c0 + 256;

              if (k0 == 0)
                {
                  TILE_ZERO (0);
                  TILE_ZERO (1);
                }
              else
                {
                  TILE_LOAD (0, c0);
                  if (groups)
                    TILE_LOAD (1, c1);
                }
              if (groups)
                run_steps_f16 (true, ahi, alo, bh + b0, bl + b0, bh + b1, bl + b1, nsc, &pf);
              else
                run_steps_f16 (false, ahi, alo, bh + b0, bl + b0, bh + b1, bl + b1, nsc, &pf);
              TILE_STORE (0, c0);
              if (groups)
                TILE_STORE (1, c1);
            }
        }

      /* Sums (row, token) -> out[token][row]. */
      store_sums (cacc, ng, nrb, nc, out, os, r0);
    }
  __asm__ volatile ("tilerelease" ::: "memory");
}
