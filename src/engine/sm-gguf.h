/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-gguf.h: read and write GGUF files (docs: formats.md sections 1, 2 and 7).
 *
 * File layout (all little-endian, fields packed back to back):
 *
 *   magic "GGUF" | u32 version (2 or 3) | u64 tensor_count | u64 kv_count
 *   kv_count x   { string key | u32 value_type | value }
 *   tensor_count x { string name | u32 n_dims (<= 4) | u64 ne[n_dims] | u32 ggml type | u64 offset }
 *   zero padding to a multiple of ALIGNMENT (general.alignment, u32, default 32)
 *   data section: each tensor at data_offset + offset, offsets multiples of ALIGNMENT,
 *                 tensors in info order, each padded with zeros to ALIGNMENT
 *
 *   string = u64 length + bytes (no NUL); array = u32 element type + u64 count + elements.
 *
 * The reader treats every file as hostile: every count, length, offset and size is checked against
 * the file size with overflow-safe arithmetic before it is used, and every failure is an sm_status
 * with a message naming what and where (byte offset). Nothing here reads tensor data at open time.
 *
 * A split model (`<prefix>-00001-of-0000N.gguf`) opened through its first part presents all
 * parts' tensors as one model; metadata comes from part 1.
 *
 * Threading: an sm_gguf is immutable after open (and sm_gguf_load_tensor_data, if called) and
 * may be read from any number of threads.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "sm-common.h"
#include "sm-types.h"

#define SM_GGUF_MAGIC             0x46554747u /* "GGUF" read as a little-endian u32 */
#define SM_GGUF_VERSION           3
#define SM_GGUF_DEFAULT_ALIGNMENT 32
#define SM_GGUF_MAX_DIMS          4
#define SM_GGUF_MAX_NAME          64 /* tensor names are at most 63 bytes (llama.cpp) */

typedef enum
{
  SM_GGUF_TYPE_UINT8 = 0,
  SM_GGUF_TYPE_INT8 = 1,
  SM_GGUF_TYPE_UINT16 = 2,
  SM_GGUF_TYPE_INT16 = 3,
  SM_GGUF_TYPE_UINT32 = 4,
  SM_GGUF_TYPE_INT32 = 5,
  SM_GGUF_TYPE_FLOAT32 = 6,
  SM_GGUF_TYPE_BOOL = 7,
  SM_GGUF_TYPE_STRING = 8,
  SM_GGUF_TYPE_ARRAY = 9,
  SM_GGUF_TYPE_UINT64 = 10,
  SM_GGUF_TYPE_INT64 = 11,
  SM_GGUF_TYPE_FLOAT64 = 12,
  SM_GGUF_TYPE_COUNT
} sm_gguf_type;

/* A view of a string inside the mapped file: not NUL-terminated. */
typedef struct
{
  const char *ptr;
  uint64_t    len; /* bytes */
} sm_gguf_str;

typedef struct
{
  char        name[SM_GGUF_MAX_NAME]; /* NUL-terminated copy */
  uint32_t    n_dims;                 /* 1..4 */
  int64_t     ne[SM_GGUF_MAX_DIMS];   /* GGUF/ggml order: ne[0] = row length; unused dims = 1 */
  sm_type     type;
  uint64_t    offset;                 /* relative to its file's data section, as in the file */
  uint64_t    size;                   /* bytes of data (without padding) */
  uint32_t    split;                  /* index of the part that holds it (0 for single files) */
  const void *data;                   /* points into the mapping of that part (or its copy, see
                                         sm_gguf_load_tensor_data) */
} sm_gguf_tensor;

typedef struct sm_gguf sm_gguf;

/* Maps and parses path. When path is the first part of a split set, the other parts are found
 * next to it (same directory, same prefix) and checked (split.no, split.count,
 * split.tensors.count); a missing or mismatched part is an error naming the file. Opening a part
 * other than the first is an error. *out is NULL on failure. */
sm_status sm_gguf_open (const char *path,
                        sm_gguf   **out,
                        sm_error   *err);

/* Parses a GGUF image already in memory (not copied: it must outlive the result). No split
 * handling. For tests and the fuzzer. */
sm_status sm_gguf_open_memory (const void *data,
                               size_t      size,
                               sm_gguf   **out,
                               sm_error   *err);

/* Unmaps and frees; NULL is accepted. */
void sm_gguf_free (sm_gguf *g);

uint32_t sm_gguf_get_version (const sm_gguf *g);
uint32_t sm_gguf_get_alignment (const sm_gguf *g);     /* bytes */
uint64_t sm_gguf_get_data_offset (const sm_gguf *g);   /* bytes from the start of part 1; always
                                                          aligned, even past the end of a file
                                                          without tensors */
uint64_t sm_gguf_get_file_size (const sm_gguf *g);     /* all parts together, bytes */

/* Split parts: 1 for a single file. The path is as given to sm_gguf_open (siblings built from
 * it); NULL for an image opened with sm_gguf_open_memory. */
uint32_t    sm_gguf_get_n_splits (const sm_gguf *g);
const char *sm_gguf_get_split_path (const sm_gguf *g,
                                    uint32_t       i);
/* Size in bytes of part i, and where its data section starts (bytes from the start of part i). */
uint64_t    sm_gguf_get_split_size (const sm_gguf *g,
                                    uint32_t       i);
uint64_t    sm_gguf_get_split_data_offset (const sm_gguf *g,
                                           uint32_t       i);

/* ---- Tensor data in memory ----
 *
 * By default tensor data is read through the file mapping (page cache, 4 KiB pages, loaded on
 * first touch). sm_gguf_load_tensor_data reads the data section of every part (the tensors and
 * their padding, not the metadata) into private anonymous memory aligned to 2 MiB and advised
 * for transparent huge pages (MADV_HUGEPAGE), then points every tensor's data there; the
 * metadata stays in the file mapping. The copy is read-only and freed by sm_gguf_free. */

/* done of total bytes read so far; return false to cancel. Called once with done = 0 first. */
typedef bool (*sm_gguf_load_fn) (uint64_t done,
                                 uint64_t total,
                                 void    *user_data);

/* Bytes sm_gguf_load_tensor_data reads: the data sections of all parts. */
uint64_t sm_gguf_get_tensor_data_bytes (const sm_gguf *g);

/* Reads with pread in 16 MiB chunks, calling progress (nullable) after each. Failures leave g
 * exactly as it was and nothing allocated: SM_ERR_IO (a read error, or a part that was replaced
 * or changed size since it was opened, named in the message), SM_ERR_NOMEM, SM_ERR_CANCELLED,
 * SM_ERR_INVALID_ARG for an image from sm_gguf_open_memory. Changes the tensor pointers: call
 * it before the tensors are used or g is shared. A second call does nothing. */
sm_status sm_gguf_load_tensor_data (sm_gguf        *g,
                                    sm_gguf_load_fn progress,
                                    void           *user_data,
                                    sm_error       *err);

/* Whether sm_gguf_load_tensor_data has succeeded on g. */
bool sm_gguf_tensor_data_loaded (const sm_gguf *g);

/* ---- Metadata (of part 1; the split.* keys included) ---- */

int64_t      sm_gguf_get_n_kv (const sm_gguf *g);
const char  *sm_gguf_get_key (const sm_gguf *g, int64_t i);          /* NUL-terminated */
int64_t      sm_gguf_find_key (const sm_gguf *g, const char *key);   /* -1 when absent */
sm_gguf_type sm_gguf_get_kv_type (const sm_gguf *g, int64_t i);

/* Typed getters: the caller checks sm_gguf_get_kv_type first (assert otherwise). */
uint8_t     sm_gguf_get_u8 (const sm_gguf *g, int64_t i);
int8_t      sm_gguf_get_i8 (const sm_gguf *g, int64_t i);
uint16_t    sm_gguf_get_u16 (const sm_gguf *g, int64_t i);
int16_t     sm_gguf_get_i16 (const sm_gguf *g, int64_t i);
uint32_t    sm_gguf_get_u32 (const sm_gguf *g, int64_t i);
int32_t     sm_gguf_get_i32 (const sm_gguf *g, int64_t i);
float       sm_gguf_get_f32 (const sm_gguf *g, int64_t i);
bool        sm_gguf_get_bool (const sm_gguf *g, int64_t i);
uint64_t    sm_gguf_get_u64 (const sm_gguf *g, int64_t i);
int64_t     sm_gguf_get_i64 (const sm_gguf *g, int64_t i);
double      sm_gguf_get_f64 (const sm_gguf *g, int64_t i);
sm_gguf_str sm_gguf_get_str (const sm_gguf *g, int64_t i);

/* Convenience lookups by key: true and *out set when the key exists and holds any integer type
 * whose value fits (resp. any numeric type, a string, a bool). */
bool sm_gguf_find_uint (const sm_gguf *g, const char *key, uint64_t *out);
bool sm_gguf_find_int (const sm_gguf *g, const char *key, int64_t *out);
bool sm_gguf_find_float (const sm_gguf *g, const char *key, double *out);
bool sm_gguf_find_bool (const sm_gguf *g, const char *key, bool *out);
bool sm_gguf_find_str (const sm_gguf *g, const char *key, sm_gguf_str *out);

/* Arrays: element type, count, and either raw little-endian elements (numeric/bool) or strings. */
sm_gguf_type sm_gguf_get_arr_type (const sm_gguf *g, int64_t i);
uint64_t     sm_gguf_get_arr_n (const sm_gguf *g, int64_t i);
const void  *sm_gguf_get_arr_data (const sm_gguf *g, int64_t i);    /* numeric/bool only */
sm_gguf_str  sm_gguf_get_arr_str (const sm_gguf *g, int64_t i, uint64_t j);

/* ---- Tensors (all parts, in file order) ---- */

int64_t               sm_gguf_get_n_tensors (const sm_gguf *g);
const sm_gguf_tensor *sm_gguf_get_tensor (const sm_gguf *g, int64_t i);
const sm_gguf_tensor *sm_gguf_find_tensor (const sm_gguf *g, const char *name); /* NULL if absent */

/* Number of elements of t (product of ne). */
int64_t sm_gguf_tensor_nelements (const sm_gguf_tensor *t);

/* Size in bytes of one value of a scalar GGUF type; 0 for STRING and ARRAY. */
size_t sm_gguf_type_size (sm_gguf_type t);
/* "UINT32", "STRING", ... */
const char *sm_gguf_type_name (sm_gguf_type t);

/* ---- Writer ----
 *
 * Streaming: set metadata and declare every tensor (name, type, shape) first, then
 * sm_gguf_writer_begin() writes header, metadata and tensor infos to `<path>.part`, then tensor
 * data is appended one tensor at a time in declaration order, then sm_gguf_writer_finish() pads,
 * syncs and renames `<path>.part` to path. Any failure or sm_gguf_writer_free() before finish
 * removes the .part file. Alignment is 32 unless general.alignment is set.
 *
 * Split output (sm_gguf_writer_set_split): parts named `<prefix>-%05d-of-%05d.gguf` where prefix
 * is path without ".gguf"; part 1 carries all metadata, every part carries split.no (u16,
 * 0-based), split.count (u16) and split.tensors.count (i32), as gguf-split writes them.
 * A non-default general.alignment is repeated in every part, since each is read on its own.
 * When everything fits in one part the output is the single file path, and split.* keys (e.g.
 * copied from a split source) are dropped: they always describe this output. */

typedef struct sm_gguf_writer sm_gguf_writer;

sm_gguf_writer *sm_gguf_writer_new (void);
void            sm_gguf_writer_free (sm_gguf_writer *w); /* aborts an unfinished write */

/* Metadata setters: replace an existing key of the same name, keeping its position. */
void sm_gguf_writer_set_u8 (sm_gguf_writer *w, const char *key, uint8_t v);
void sm_gguf_writer_set_i8 (sm_gguf_writer *w, const char *key, int8_t v);
void sm_gguf_writer_set_u16 (sm_gguf_writer *w, const char *key, uint16_t v);
void sm_gguf_writer_set_i16 (sm_gguf_writer *w, const char *key, int16_t v);
void sm_gguf_writer_set_u32 (sm_gguf_writer *w, const char *key, uint32_t v);
void sm_gguf_writer_set_i32 (sm_gguf_writer *w, const char *key, int32_t v);
void sm_gguf_writer_set_f32 (sm_gguf_writer *w, const char *key, float v);
void sm_gguf_writer_set_bool (sm_gguf_writer *w, const char *key, bool v);
void sm_gguf_writer_set_u64 (sm_gguf_writer *w, const char *key, uint64_t v);
void sm_gguf_writer_set_i64 (sm_gguf_writer *w, const char *key, int64_t v);
void sm_gguf_writer_set_f64 (sm_gguf_writer *w, const char *key, double v);
void sm_gguf_writer_set_str (sm_gguf_writer *w, const char *key, const char *v); /* NUL-terminated */
void sm_gguf_writer_set_strn (sm_gguf_writer *w, const char *key, const char *v, uint64_t len);
/* Numeric/bool array: n elements of elem_type, copied. */
void sm_gguf_writer_set_arr_data (sm_gguf_writer *w, const char *key, sm_gguf_type elem_type,
                                  const void *data, uint64_t n);
void sm_gguf_writer_set_arr_str (sm_gguf_writer *w, const char *key,
                                 const char *const *strs, uint64_t n);
/* Copies key i of g (any type, arrays included). */
void sm_gguf_writer_copy_kv (sm_gguf_writer *w, const sm_gguf *g, int64_t i);
/* Removes a key if present. */
void sm_gguf_writer_remove_key (sm_gguf_writer *w, const char *key);

/* Declares the next tensor; ne has n_dims entries in GGUF order. Fails on a duplicate or too long
 * name, a bad shape, or ne[0] not a multiple of the type's block size. */
sm_status sm_gguf_writer_add_tensor (sm_gguf_writer *w,
                                     const char     *name,
                                     sm_type         type,
                                     uint32_t        n_dims,
                                     const int64_t  *ne,
                                     sm_error       *err);

/* Split the output into parts of at most max_bytes of tensor data (0 = no limit) and at most
 * max_tensors tensors (0 = no limit). Call before begin. */
void sm_gguf_writer_set_split (sm_gguf_writer *w,
                               uint64_t        max_bytes,
                               uint32_t        max_tensors);

sm_status sm_gguf_writer_begin (sm_gguf_writer *w,
                                const char     *path,
                                sm_error       *err);

/* Appends the data of the next declared tensor; size must equal its byte size. */
sm_status sm_gguf_writer_write_tensor (sm_gguf_writer *w,
                                       const void     *data,
                                       uint64_t        size,
                                       sm_error       *err);

/* Appends the next declared tensor as zeros without writing them (a sparse hole where the file
 * system supports it): for benchmarks and tests of huge files. */
sm_status sm_gguf_writer_write_tensor_zeros (sm_gguf_writer *w,
                                             sm_error       *err);

sm_status sm_gguf_writer_finish (sm_gguf_writer *w,
                                 sm_error       *err);

/* Paths written (after finish): 1 for a single file. */
uint32_t    sm_gguf_writer_get_n_outputs (const sm_gguf_writer *w);
const char *sm_gguf_writer_get_output_path (const sm_gguf_writer *w,
                                            uint32_t              i);
