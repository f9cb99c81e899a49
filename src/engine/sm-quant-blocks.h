/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-quant-blocks.h: the byte layout of every block format (docs: formats.md section 3), one
 * struct per layout with a static_assert on its size so a padding mistake cannot compile.
 *
 * The layouts are llama.cpp's (ggml-common.h): the same field order, the same sizes, every
 * multi-byte field little-endian. Scales marked "f16" are IEEE half bit patterns; decode them with
 * sm_fp16_to_fp32. Not for maths: that is sm-quant-ref.c. Engine-internal: the model code and the
 * kernels include it, the GLib layers never do.
 */
#pragma once

#include <stdint.h>
#include <assert.h>

#define SM_QK4_0 32
#define SM_QK4_1 32
#define SM_QK5_0 32
#define SM_QK5_1 32
#define SM_QK8_0 32
#define SM_QK8_1 32
#define SM_QK4_NL 32
#define SM_QK_K 256      /* super-block of the K and IQ types */
#define SM_K_SCALE_SIZE 12

typedef uint16_t sm_half; /* IEEE 754 binary16 bits */

/* ---- 32-element legacy blocks: x = d * (q - offset), or x = d * q + m ---- */

typedef struct
{
  sm_half d;                 /* scale */
  uint8_t qs[SM_QK4_0 / 2];  /* byte j: element j (low nibble), element j+16 (high nibble) */
} sm_block_q4_0;
static_assert (sizeof (sm_block_q4_0) == 18, "q4_0 block size");

typedef struct
{
  sm_half d;                 /* scale */
  sm_half m;                 /* minimum (offset) */
  uint8_t qs[SM_QK4_1 / 2];  /* nibbles as in q4_0 */
} sm_block_q4_1;
static_assert (sizeof (sm_block_q4_1) == 20, "q4_1 block size");

typedef struct
{
  sm_half d;                 /* scale */
  uint8_t qh[4];             /* LE uint32: bit j = 5th bit of element j */
  uint8_t qs[SM_QK5_0 / 2];  /* low 4 bits, nibbles as in q4_0 */
} sm_block_q5_0;
static_assert (sizeof (sm_block_q5_0) == 22, "q5_0 block size");

typedef struct
{
  sm_half d;                 /* scale */
  sm_half m;                 /* minimum */
  uint8_t qh[4];             /* 5th bits as in q5_0 */
  uint8_t qs[SM_QK5_1 / 2];  /* low 4 bits */
} sm_block_q5_1;
static_assert (sizeof (sm_block_q5_1) == 24, "q5_1 block size");

typedef struct
{
  sm_half d;                 /* scale */
  int8_t  qs[SM_QK8_0];      /* codes, x = d * qs */
} sm_block_q8_0;
static_assert (sizeof (sm_block_q8_0) == 34, "q8_0 block size");

typedef struct
{
  sm_half d;                 /* scale */
  sm_half s;                 /* d * sum(qs), so the min term of q4_1/q5_1 costs one multiply */
  int8_t  qs[SM_QK8_1];      /* codes */
} sm_block_q8_1;
static_assert (sizeof (sm_block_q8_1) == 36, "q8_1 block size");

/* ---- K-quants: 256-element super-blocks of 16 or 32-element sub-blocks ---- */

typedef struct
{
  uint8_t scales[SM_QK_K / 16]; /* sub-block j: scale low nibble, min high nibble */
  uint8_t qs[SM_QK_K / 4];      /* 2-bit codes, 4 per byte (see formats.md 3.2) */
  sm_half d;                    /* super-scale of the scales */
  sm_half dmin;                 /* super-scale of the mins */
} sm_block_q2_K;
static_assert (sizeof (sm_block_q2_K) == 84, "q2_K block size");

typedef struct
{
  uint8_t hmask[SM_QK_K / 8];   /* high (3rd) bit: element e -> bit e/32 of hmask[e%32] */
  uint8_t qs[SM_QK_K / 4];      /* low 2 bits */
  uint8_t scales[12];           /* 16 6-bit signed scales (offset 32) */
  sm_half d;                    /* super-scale */
} sm_block_q3_K;
static_assert (sizeof (sm_block_q3_K) == 110, "q3_K block size");

typedef struct
{
  sm_half d;                        /* super-scale of the scales */
  sm_half dmin;                     /* super-scale of the mins */
  uint8_t scales[SM_K_SCALE_SIZE];  /* 8 6-bit scales + 8 6-bit mins */
  uint8_t qs[SM_QK_K / 2];          /* 4-bit codes: 32 bytes per 64 elements, low nibbles first */
} sm_block_q4_K;
static_assert (sizeof (sm_block_q4_K) == 144, "q4_K block size");

typedef struct
{
  sm_half d;
  sm_half dmin;
  uint8_t scales[SM_K_SCALE_SIZE];  /* as q4_K */
  uint8_t qh[SM_QK_K / 8];          /* 5th bit: element e -> bit e/32 of qh[e%32] */
  uint8_t qs[SM_QK_K / 2];          /* low 4 bits as q4_K */
} sm_block_q5_K;
static_assert (sizeof (sm_block_q5_K) == 176, "q5_K block size");

typedef struct
{
  uint8_t ql[SM_QK_K / 2];      /* low 4 bits */
  uint8_t qh[SM_QK_K / 4];      /* high 2 bits */
  int8_t  scales[SM_QK_K / 16]; /* signed 8-bit sub-block scales */
  sm_half d;                    /* super-scale */
} sm_block_q6_K;
static_assert (sizeof (sm_block_q6_K) == 210, "q6_K block size");

typedef struct
{
  float   d;                     /* scale (f32, not f16) */
  int8_t  qs[SM_QK_K];           /* codes */
  int16_t bsums[SM_QK_K / 16];   /* sum of each run of 16 codes (for the min terms) */
} sm_block_q8_K;
static_assert (sizeof (sm_block_q8_K) == 292, "q8_K block size");

/* ---- Non-linear 4-bit ---- */

typedef struct
{
  sm_half d;
  uint8_t qs[SM_QK4_NL / 2];     /* indices into sm_kvalues_iq4nl, nibbles as q4_0 */
} sm_block_iq4_nl;
static_assert (sizeof (sm_block_iq4_nl) == 18, "iq4_nl block size");

typedef struct
{
  sm_half  d;
  uint16_t scales_h;             /* 2 high bits of each of the 8 6-bit scales */
  uint8_t  scales_l[SM_QK_K / 64]; /* 4 low bits, sub-block 2k in the low nibble of byte k */
  uint8_t  qs[SM_QK_K / 2];      /* 16 bytes per 32 elements, nibbles as q4_0 */
} sm_block_iq4_xs;
static_assert (sizeof (sm_block_iq4_xs) == 136, "iq4_xs block size");

/* ---- Grid (codebook) types: decode only ---- */

typedef struct
{
  sm_half  d;
  uint16_t qs[SM_QK_K / 8];      /* per 32: 4 grid bytes, then 4x7 sign bits + a 4-bit scale */
} sm_block_iq2_xxs;
static_assert (sizeof (sm_block_iq2_xxs) == 66, "iq2_xxs block size");

typedef struct
{
  sm_half  d;
  uint16_t qs[SM_QK_K / 8];      /* 9-bit grid index + 7-bit sign index */
  uint8_t  scales[SM_QK_K / 32]; /* two 4-bit scales */
} sm_block_iq2_xs;
static_assert (sizeof (sm_block_iq2_xs) == 74, "iq2_xs block size");

typedef struct
{
  sm_half d;
  uint8_t qs[SM_QK_K / 4];       /* 32 low index bytes, then 32 sign bytes */
  uint8_t qh[SM_QK_K / 32];      /* 2 high index bits per 8 elements */
  uint8_t scales[SM_QK_K / 32];
} sm_block_iq2_s;
static_assert (sizeof (sm_block_iq2_s) == 82, "iq2_s block size");

typedef struct
{
  sm_half d;
  uint8_t qs[3 * SM_QK_K / 8];   /* 64 grid bytes, then 8 LE uint32 of signs + scale */
} sm_block_iq3_xxs;
static_assert (sizeof (sm_block_iq3_xxs) == 98, "iq3_xxs block size");

typedef struct
{
  sm_half d;
  uint8_t qs[SM_QK_K / 4];       /* low 8 bits of the 9-bit grid indices */
  uint8_t qh[SM_QK_K / 32];      /* 9th bits */
  uint8_t signs[SM_QK_K / 8];    /* one sign bit per element */
  uint8_t scales[SM_QK_K / 64];  /* 4-bit scales */
} sm_block_iq3_s;
static_assert (sizeof (sm_block_iq3_s) == 110, "iq3_s block size");

typedef struct
{
  sm_half  d;
  uint8_t  qs[SM_QK_K / 8];      /* low 8 bits of the 11-bit grid indices */
  uint16_t qh[SM_QK_K / 32];     /* 4x3 high index bits, 3-bit scale, delta sign */
} sm_block_iq1_s;
static_assert (sizeof (sm_block_iq1_s) == 50, "iq1_s block size");

typedef struct
{
  uint8_t qs[SM_QK_K / 8];       /* low 8 bits of the grid indices */
  uint8_t qh[SM_QK_K / 16];      /* 3 high index bits + delta sign per 8 elements */
  uint8_t scales[SM_QK_K / 32];  /* 3-bit sub-scales; the top nibbles of the 4 LE uint16 form d */
} sm_block_iq1_m;
static_assert (sizeof (sm_block_iq1_m) == 56, "iq1_m block size");

/* The 16 levels of IQ4_NL / IQ4_XS (formats.md 3.3). */
extern const int8_t sm_kvalues_iq4nl[16];
