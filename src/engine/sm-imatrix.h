/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-imatrix.h: llama.cpp importance-matrix files (docs: formats.md section 6), read for the
 * model quantizer. Both formats are accepted and told apart by the GGUF magic:
 *
 *   GGUF imatrix: general.type = "imatrix", imatrix.datasets (array of strings),
 *     imatrix.chunk_count (u32), imatrix.chunk_size (u32); per weight W two F32 tensors,
 *     `W.in_sum2` [ne0, n_mat] (sums of x^2) and `W.counts` [1, n_mat] (rows accumulated).
 *   legacy .dat: i32 n_entries, then per entry i32 name_len, name bytes, i32 ncall, i32 nval,
 *     f32 values[nval] (mean x ncall); optional trailer i32 last_chunk, i32 len, dataset bytes.
 *
 * Either way an entry's values are the per-column means (sum / count), n_mat matrices of ne0
 * values back to back (n_mat > 1 for expert tensors); a matrix never counted gets all 1s. The
 * files are untrusted: lengths and counts are checked against the file size, values must be
 * finite and non-negative. Not for writing imatrix files (Smelt does not compute them).
 *
 * Threading: an sm_imatrix is immutable after open.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "sm-common.h"

typedef struct sm_imatrix sm_imatrix;

/* Reads path (GGUF or legacy .dat) into memory. *out is NULL on failure. */
sm_status sm_imatrix_open (const char  *path,
                           sm_imatrix **out,
                           sm_error    *err);

void sm_imatrix_free (sm_imatrix *im); /* NULL ok */

size_t      sm_imatrix_get_n_entries (const sm_imatrix *im);
const char *sm_imatrix_get_name (const sm_imatrix *im,
                                 size_t            i); /* the weight's tensor name */

/* Values for the weight `name` (e.g. "blk.0.attn_q.weight"): *n_values floats, borrowed from im;
 * NULL when the file has no entry for it. */
const float *sm_imatrix_find (const sm_imatrix *im,
                              const char       *name,
                              int64_t          *n_values);

/* The first dataset named in the file ("" when none) and the number of chunks (0 when unknown). */
const char *sm_imatrix_get_dataset (const sm_imatrix *im);
int64_t     sm_imatrix_get_chunk_count (const sm_imatrix *im);
