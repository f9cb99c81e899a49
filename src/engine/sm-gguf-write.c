/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-gguf-write.c: the streaming GGUF writer (API in sm-gguf.h).
 *
 * Metadata and tensor declarations are collected in memory; begin() plans the parts, writes the
 * first part's header, metadata, tensor infos and padding to `<name>.part`; each tensor's bytes
 * then go straight to the file followed by zero padding to the alignment (llama.cpp pads after
 * the last tensor too, formats.md 1.5). finish() syncs and renames every part. Any failure, or a
 * free() before finish(), removes what was written. Not for reading: see sm-gguf.c.
 */
#include "sm-gguf.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct
{
  char        *key;     /* owned, NUL-terminated */
  sm_gguf_type type;
  uint8_t     *payload; /* encoded value as it goes after the type field (owned) */
  size_t       n_payload;
} wkv;

typedef struct
{
  char     name[SM_GGUF_MAX_NAME];
  sm_type  type;
  uint32_t n_dims;
  int64_t  ne[SM_GGUF_MAX_DIMS];
  uint64_t size;   /* bytes, without padding */
  uint32_t part;   /* which output file */
  uint64_t offset; /* within its part's data section */
} wtensor;

typedef struct
{
  char    *path;      /* final name (owned) */
  char    *tmp_path;  /* path + ".part" (owned) */
  bool     created;   /* tmp_path exists on disk and is ours to remove */
  bool     renamed;   /* moved to path */
  uint64_t data_size; /* bytes of the data section, padding included */
  uint32_t n_tensors;
} wpart;

struct sm_gguf_writer
{
  wkv     *kvs; /* (n_kv) */
  size_t   n_kv;
  wtensor *tensors; /* (n_tensors) */
  size_t   n_tensors;

  /* A setter that failed (out of memory, bad key) is reported by begin(). */
  sm_status deferred;
  char      deferred_msg[160];

  uint64_t split_max_bytes;   /* 0 = no limit */
  uint32_t split_max_tensors; /* 0 = no limit */

  /* State once begun */
  bool     begun;
  bool     finished;
  bool     failed;
  uint32_t alignment; /* bytes */
  wpart   *parts;     /* (n_parts) */
  uint32_t n_parts;
  uint32_t cur_part;  /* part whose file is open */
  int      fd;        /* -1 when none */
  size_t   next_tensor;
  uint64_t file_pos;  /* bytes of the open part written so far */
};

static const uint8_t zeros[4096];

/* ---- Metadata ---- */

sm_gguf_writer *
sm_gguf_writer_new (void)
{
  sm_gguf_writer *w = calloc (1, sizeof *w);

  if (w != NULL)
    w->fd = -1;
  return w;
}

static void
defer_error (sm_gguf_writer *w,
             sm_status       status,
             const char     *what,
             const char     *key)
{
  if (w->deferred != SM_OK)
    return;
  w->deferred = status;
  snprintf (w->deferred_msg, sizeof w->deferred_msg, "%s '%.100s'", what, key);
}

static int64_t
find_kv (const sm_gguf_writer *w,
         const char           *key)
{
  for (size_t i = 0; i < w->n_kv; i++)
    if (strcmp (w->kvs[i].key, key) == 0)
      return (int64_t) i;
  return -1;
}

/* Takes ownership of payload. */
static void
set_kv (sm_gguf_writer *w,
        const char     *key,
        sm_gguf_type    type,
        uint8_t        *payload,
        size_t          n_payload)
{
  int64_t i;
  wkv *kvs;

  assert (w != NULL && key != NULL);
  if (payload == NULL)
    {
      defer_error (w, SM_ERR_NOMEM, "out of memory for metadata key", key);
      return;
    }
  if (key[0] == '\0')
    {
      free (payload);
      defer_error (w, SM_ERR_INVALID_ARG, "empty metadata key", key);
      return;
    }
  i = find_kv (w, key);
  if (i >= 0)
    {
      free (w->kvs[i].payload);
      w->kvs[i].type = type;
      w->kvs[i].payload = payload;
      w->kvs[i].n_payload = n_payload;
      return;
    }
  kvs = realloc (w->kvs, (w->n_kv + 1) * sizeof *kvs);
  if (kvs == NULL || (kvs[w->n_kv].key = strdup (key)) == NULL)
    {
      if (kvs != NULL)
        w->kvs = kvs;
      free (payload);
      defer_error (w, SM_ERR_NOMEM, "out of memory for metadata key", key);
      return;
    }
  w->kvs = kvs;
  kvs[w->n_kv].type = type;
  kvs[w->n_kv].payload = payload;
  kvs[w->n_kv].n_payload = n_payload;
  w->n_kv++;
}

static void
set_scalar (sm_gguf_writer *w,
            const char     *key,
            sm_gguf_type    type,
            const void     *v)
{
  size_t n = sm_gguf_type_size (type);
  uint8_t *p = malloc (n);

  if (p != NULL)
    memcpy (p, v, n);
  set_kv (w, key, type, p, n);
}

#define SETTER(fn, ctype, gtype)                  \
  void                                            \
  fn (sm_gguf_writer *w,                          \
      const char     *key,                        \
      ctype           v)                          \
  {                                               \
    set_scalar (w, key, gtype, &v);               \
  }

SETTER (sm_gguf_writer_set_u8, uint8_t, SM_GGUF_TYPE_UINT8)
SETTER (sm_gguf_writer_set_i8, int8_t, SM_GGUF_TYPE_INT8)
SETTER (sm_gguf_writer_set_u16, uint16_t, SM_GGUF_TYPE_UINT16)
SETTER (sm_gguf_writer_set_i16, int16_t, SM_GGUF_TYPE_INT16)
SETTER (sm_gguf_writer_set_u32, uint32_t, SM_GGUF_TYPE_UINT32)
SETTER (sm_gguf_writer_set_i32, int32_t, SM_GGUF_TYPE_INT32)
SETTER (sm_gguf_writer_set_f32, float, SM_GGUF_TYPE_FLOAT32)
SETTER (sm_gguf_writer_set_u64, uint64_t, SM_GGUF_TYPE_UINT64)
SETTER (sm_gguf_writer_set_i64, int64_t, SM_GGUF_TYPE_INT64)
SETTER (sm_gguf_writer_set_f64, double, SM_GGUF_TYPE_FLOAT64)

#undef SETTER

void
sm_gguf_writer_set_bool (sm_gguf_writer *w,
                         const char     *key,
                         bool            v)
{
  uint8_t b = v ? 1 : 0;

  set_scalar (w, key, SM_GGUF_TYPE_BOOL, &b);
}

void
sm_gguf_writer_set_strn (sm_gguf_writer *w,
                         const char     *key,
                         const char     *v,
                         uint64_t        len)
{
  uint8_t *p = malloc (8 + len);

  if (p != NULL)
    {
      memcpy (p, &len, 8);
      if (len > 0)
        memcpy (p + 8, v, len);
    }
  set_kv (w, key, SM_GGUF_TYPE_STRING, p, 8 + len);
}

void
sm_gguf_writer_set_str (sm_gguf_writer *w,
                        const char     *key,
                        const char     *v)
{
  sm_gguf_writer_set_strn (w, key, v, strlen (v));
}

void
sm_gguf_writer_set_arr_data (sm_gguf_writer *w,
                             const char     *key,
                             sm_gguf_type    elem_type,
                             const void     *data,
                             uint64_t        n)
{
  size_t esize = sm_gguf_type_size (elem_type);
  uint32_t et = elem_type;
  uint8_t *p;

  assert (esize > 0);
  if (n > (SIZE_MAX - 12) / esize)
    {
      defer_error (w, SM_ERR_NOMEM, "array too large for key", key);
      return;
    }
  p = malloc (12 + n * esize);
  if (p != NULL)
    {
      memcpy (p, &et, 4);
      memcpy (p + 4, &n, 8);
      if (n > 0)
        memcpy (p + 12, data, n * esize);
    }
  set_kv (w, key, SM_GGUF_TYPE_ARRAY, p, 12 + n * esize);
}

/* Strings given with explicit lengths (they may hold NUL bytes when copied from a file). */
static void
set_arr_strn (sm_gguf_writer     *w,
              const char         *key,
              const char *const  *strs,
              const uint64_t     *lens,
              uint64_t            n)
{
  uint32_t et = SM_GGUF_TYPE_STRING;
  size_t total = 12, pos;
  uint8_t *p;

  for (uint64_t j = 0; j < n; j++)
    {
      if (lens[j] > SIZE_MAX - total - 8)
        {
          defer_error (w, SM_ERR_NOMEM, "array too large for key", key);
          return;
        }
      total += 8 + lens[j];
    }
  p = malloc (total);
  if (p != NULL)
    {
      memcpy (p, &et, 4);
      memcpy (p + 4, &n, 8);
      pos = 12;
      for (uint64_t j = 0; j < n; j++)
        {
          memcpy (p + pos, &lens[j], 8);
          if (lens[j] > 0)
            memcpy (p + pos + 8, strs[j], lens[j]);
          pos += 8 + lens[j];
        }
    }
  set_kv (w, key, SM_GGUF_TYPE_ARRAY, p, total);
}

void
sm_gguf_writer_set_arr_str (sm_gguf_writer    *w,
                            const char        *key,
                            const char *const *strs,
                            uint64_t           n)
{
  uint64_t *lens = malloc ((n ? n : 1) * sizeof *lens);

  if (lens == NULL)
    {
      defer_error (w, SM_ERR_NOMEM, "out of memory for metadata key", key);
      return;
    }
  for (uint64_t j = 0; j < n; j++)
    lens[j] = strlen (strs[j]);
  set_arr_strn (w, key, strs, lens, n);
  free (lens);
}

void
sm_gguf_writer_copy_kv (sm_gguf_writer *w,
                        const sm_gguf  *g,
                        int64_t         i)
{
  const char *key = sm_gguf_get_key (g, i);
  sm_gguf_type t = sm_gguf_get_kv_type (g, i);

  switch (t)
    {
    case SM_GGUF_TYPE_UINT8: sm_gguf_writer_set_u8 (w, key, sm_gguf_get_u8 (g, i)); break;
    case SM_GGUF_TYPE_INT8: sm_gguf_writer_set_i8 (w, key, sm_gguf_get_i8 (g, i)); break;
    case SM_GGUF_TYPE_UINT16: sm_gguf_writer_set_u16 (w, key, sm_gguf_get_u16 (g, i)); break;
    case SM_GGUF_TYPE_INT16: sm_gguf_writer_set_i16 (w, key, sm_gguf_get_i16 (g, i)); break;
    case SM_GGUF_TYPE_UINT32: sm_gguf_writer_set_u32 (w, key, sm_gguf_get_u32 (g, i)); break;
    case SM_GGUF_TYPE_INT32: sm_gguf_writer_set_i32 (w, key, sm_gguf_get_i32 (g, i)); break;
    case SM_GGUF_TYPE_FLOAT32: sm_gguf_writer_set_f32 (w, key, sm_gguf_get_f32 (g, i)); break;
    case SM_GGUF_TYPE_BOOL: sm_gguf_writer_set_bool (w, key, sm_gguf_get_bool (g, i)); break;
    case SM_GGUF_TYPE_UINT64: sm_gguf_writer_set_u64 (w, key, sm_gguf_get_u64 (g, i)); break;
    case SM_GGUF_TYPE_INT64: sm_gguf_writer_set_i64 (w, key, sm_gguf_get_i64 (g, i)); break;
    case SM_GGUF_TYPE_FLOAT64: sm_gguf_writer_set_f64 (w, key, sm_gguf_get_f64 (g, i)); break;
    case SM_GGUF_TYPE_STRING:
      {
        sm_gguf_str s = sm_gguf_get_str (g, i);

        sm_gguf_writer_set_strn (w, key, s.ptr, s.len);
        break;
      }
    case SM_GGUF_TYPE_ARRAY:
      {
        sm_gguf_type et = sm_gguf_get_arr_type (g, i);
        uint64_t n = sm_gguf_get_arr_n (g, i);

        if (et != SM_GGUF_TYPE_STRING)
          {
            sm_gguf_writer_set_arr_data (w, key, et, sm_gguf_get_arr_data (g, i), n);
          }
        else
          {
            const char **strs = malloc ((n ? n : 1) * sizeof *strs);
            uint64_t *lens = malloc ((n ? n : 1) * sizeof *lens);

            if (strs != NULL && lens != NULL)
              {
                for (uint64_t j = 0; j < n; j++)
                  {
                    sm_gguf_str s = sm_gguf_get_arr_str (g, i, j);

                    strs[j] = s.ptr;
                    lens[j] = s.len;
                  }
                set_arr_strn (w, key, strs, lens, n);
              }
            else
              {
                defer_error (w, SM_ERR_NOMEM, "out of memory for metadata key", key);
              }
            free (strs);
            free (lens);
          }
        break;
      }
    case SM_GGUF_TYPE_COUNT:
      assert (!"invalid type");
      break;
    }
}

void
sm_gguf_writer_remove_key (sm_gguf_writer *w,
                           const char     *key)
{
  int64_t i = find_kv (w, key);

  if (i < 0)
    return;
  free (w->kvs[i].key);
  free (w->kvs[i].payload);
  memmove (&w->kvs[i], &w->kvs[i + 1], (w->n_kv - (size_t) i - 1) * sizeof *w->kvs);
  w->n_kv--;
}

/* ---- Tensors ---- */

sm_status
sm_gguf_writer_add_tensor (sm_gguf_writer *w,
                           const char     *name,
                           sm_type         type,
                           uint32_t        n_dims,
                           const int64_t  *ne,
                           sm_error       *err)
{
  const sm_type_traits *tr = sm_type_get_traits (type);
  size_t len = strlen (name);
  uint64_t nel = 1, size;
  wtensor *ts, *t;

  assert (w != NULL && !w->begun);
  if (len == 0 || len >= SM_GGUF_MAX_NAME)
    return sm_error_set (err, SM_ERR_INVALID_ARG,
                         "tensor name '%s' must be 1 to %d bytes long", name, SM_GGUF_MAX_NAME - 1);
  if (tr == NULL)
    return sm_error_set (err, SM_ERR_INVALID_ARG, "tensor '%s': invalid type id %d", name,
                         (int) type);
  if (n_dims == 0 || n_dims > SM_GGUF_MAX_DIMS)
    return sm_error_set (err, SM_ERR_INVALID_ARG, "tensor '%s': n_dims %" PRIu32
                         " must be 1 to %d", name, n_dims, SM_GGUF_MAX_DIMS);
  for (uint32_t d = 0; d < n_dims; d++)
    if (ne[d] < 0 || __builtin_mul_overflow (nel, (uint64_t) ne[d], &nel) || nel > INT64_MAX)
      return sm_error_set (err, SM_ERR_INVALID_ARG, "tensor '%s': bad shape (dimension %" PRIu32
                           " = %" PRId64 ")", name, d, ne[d]);
  if (ne[0] % tr->blck_size != 0)
    return sm_error_set (err, SM_ERR_INVALID_ARG,
                         "tensor '%s': ne[0] = %" PRId64 " is not a multiple of the %s block size %"
                         PRIu32, name, ne[0], tr->upper, tr->blck_size);
  if (__builtin_mul_overflow (nel / tr->blck_size, (uint64_t) tr->type_size, &size))
    return sm_error_set (err, SM_ERR_INVALID_ARG, "tensor '%s': byte size overflows", name);
  for (size_t i = 0; i < w->n_tensors; i++)
    if (strcmp (w->tensors[i].name, name) == 0)
      return sm_error_set (err, SM_ERR_INVALID_ARG, "duplicate tensor name '%s'", name);

  ts = realloc (w->tensors, (w->n_tensors + 1) * sizeof *ts);
  if (ts == NULL)
    return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
  w->tensors = ts;
  t = &ts[w->n_tensors++];
  memset (t, 0, sizeof *t);
  memcpy (t->name, name, len + 1);
  t->type = type;
  t->n_dims = n_dims;
  for (uint32_t d = 0; d < SM_GGUF_MAX_DIMS; d++)
    t->ne[d] = d < n_dims ? ne[d] : 1;
  t->size = size;
  return SM_OK;
}

void
sm_gguf_writer_set_split (sm_gguf_writer *w,
                          uint64_t        max_bytes,
                          uint32_t        max_tensors)
{
  assert (w != NULL && !w->begun);
  w->split_max_bytes = max_bytes;
  w->split_max_tensors = max_tensors;
}

/* ---- Output ---- */

static uint64_t
pad_to (uint64_t x,
        uint64_t a)
{
  return (a - x % a) % a;
}

static sm_status
io_error (sm_error   *err,
          int         e,
          const char *what,
          const char *path)
{
  return sm_error_set (err, e == ENOSPC || e == EDQUOT ? SM_ERR_NO_SPACE : SM_ERR_IO,
                       "%s %s: %s", what, path, strerror (e));
}

static sm_status
write_all (sm_gguf_writer *w,
           const void     *data,
           uint64_t        n,
           sm_error       *err)
{
  const uint8_t *p = data;

  while (n > 0)
    {
      size_t chunk = n > (1u << 30) ? (1u << 30) : (size_t) n;
      ssize_t r = write (w->fd, p, chunk);

      if (r < 0)
        {
          if (errno == EINTR)
            continue;
          return io_error (err, errno, "cannot write", w->parts[w->cur_part].tmp_path);
        }
      p += r;
      n -= (uint64_t) r;
      w->file_pos += (uint64_t) r;
    }
  return SM_OK;
}

static sm_status
write_zeros (sm_gguf_writer *w,
             uint64_t        n,
             sm_error       *err)
{
  sm_status st;

  while (n > 0)
    {
      uint64_t chunk = n > sizeof zeros ? sizeof zeros : n;

      if ((st = write_all (w, zeros, chunk, err)) != SM_OK)
        return st;
      n -= chunk;
    }
  return SM_OK;
}

/* A growable byte buffer for one part's header. */
typedef struct
{
  uint8_t *p;
  size_t   len, cap;
  bool     oom;
} bytes;

static void
put (bytes      *b,
     const void *data,
     size_t      n)
{
  if (b->oom)
    return;
  if (b->len + n > b->cap)
    {
      size_t cap = b->cap ? b->cap : 4096;
      uint8_t *np;

      while (cap < b->len + n)
        cap *= 2;
      np = realloc (b->p, cap);
      if (np == NULL)
        {
          b->oom = true;
          return;
        }
      b->p = np;
      b->cap = cap;
    }
  memcpy (b->p + b->len, data, n);
  b->len += n;
}

static void
put_u32 (bytes   *b,
         uint32_t v)
{
  put (b, &v, 4);
}

static void
put_u64 (bytes   *b,
         uint64_t v)
{
  put (b, &v, 8);
}

static void
put_str (bytes      *b,
         const char *s)
{
  put_u64 (b, strlen (s));
  put (b, s, strlen (s));
}

static void
put_kv (bytes       *b,
        const char  *key,
        sm_gguf_type type,
        const void  *payload,
        size_t       n)
{
  put_str (b, key);
  put_u32 (b, type);
  put (b, payload, n);
}

/* Writes the header, metadata and tensor infos of part k, padded to the alignment. */
static sm_status
write_header (sm_gguf_writer *w,
              uint32_t        k,
              sm_error       *err)
{
  wpart *part = &w->parts[k];
  bytes b = { 0 };
  uint64_t n_kv;
  sm_status st;

  part->created = true;
  w->fd = open (part->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (w->fd < 0)
    {
      part->created = false;
      return io_error (err, errno, "cannot create", part->tmp_path);
    }
  w->cur_part = k;
  w->file_pos = 0;

  /* Part 1 carries all metadata (split keys already set in w->kvs); the others only the split
   * keys, plus the alignment when it is not the default, since each part is read on its own. */
  n_kv = k == 0 ? w->n_kv : 3 + (w->alignment != SM_GGUF_DEFAULT_ALIGNMENT);
  put_u32 (&b, SM_GGUF_MAGIC);
  put_u32 (&b, SM_GGUF_VERSION);
  put_u64 (&b, part->n_tensors);
  put_u64 (&b, n_kv);
  if (k == 0)
    {
      for (size_t i = 0; i < w->n_kv; i++)
        put_kv (&b, w->kvs[i].key, w->kvs[i].type, w->kvs[i].payload, w->kvs[i].n_payload);
    }
  else
    {
      uint16_t no = (uint16_t) k, count = (uint16_t) w->n_parts;
      int32_t total = (int32_t) w->n_tensors;

      if (w->alignment != SM_GGUF_DEFAULT_ALIGNMENT)
        put_kv (&b, "general.alignment", SM_GGUF_TYPE_UINT32, &w->alignment, 4);
      put_kv (&b, "split.no", SM_GGUF_TYPE_UINT16, &no, 2);
      put_kv (&b, "split.count", SM_GGUF_TYPE_UINT16, &count, 2);
      put_kv (&b, "split.tensors.count", SM_GGUF_TYPE_INT32, &total, 4);
    }
  for (size_t i = 0; i < w->n_tensors; i++)
    {
      const wtensor *t = &w->tensors[i];

      if (t->part != k)
        continue;
      put_str (&b, t->name);
      put_u32 (&b, t->n_dims);
      for (uint32_t d = 0; d < t->n_dims; d++)
        put_u64 (&b, (uint64_t) t->ne[d]);
      put_u32 (&b, t->type);
      put_u64 (&b, t->offset);
    }
  put (&b, zeros, pad_to (b.len, w->alignment));
  if (b.oom)
    {
      free (b.p);
      return sm_error_set (err, SM_ERR_NOMEM, "out of memory for the GGUF header");
    }
  st = write_all (w, b.p, b.len, err);
  free (b.p);
  return st;
}

/* Syncs and closes the open part. */
static sm_status
close_part (sm_gguf_writer *w,
            sm_error       *err)
{
  wpart *part = &w->parts[w->cur_part];
  int fd = w->fd;

  w->fd = -1;
  /* Zero tensors may have been skipped with lseek: make the file as long as it must be. */
  if (ftruncate (fd, (off_t) w->file_pos) != 0 || fsync (fd) != 0)
    {
      int e = errno;

      close (fd);
      return io_error (err, e, "cannot write", part->tmp_path);
    }
  if (close (fd) != 0)
    return io_error (err, errno, "cannot write", part->tmp_path);
  return SM_OK;
}

/* Removes every file this writer created (used on failure and on an early free). */
static void
abort_write (sm_gguf_writer *w)
{
  if (w->fd >= 0)
    {
      close (w->fd);
      w->fd = -1;
    }
  for (uint32_t k = 0; k < w->n_parts; k++)
    {
      if (w->parts[k].created && !w->parts[k].renamed)
        unlink (w->parts[k].tmp_path);
      w->parts[k].created = false;
    }
  w->failed = true;
}

static sm_status
fail (sm_gguf_writer *w,
      sm_status       st)
{
  abort_write (w);
  return st;
}

static sm_status
plan_parts (sm_gguf_writer *w,
            const char     *path,
            sm_error       *err)
{
  uint64_t bytes_in_part = 0;
  uint32_t tensors_in_part = 0, k = 0;
  size_t plen;

  for (size_t i = 0; i < w->n_tensors; i++)
    {
      wtensor *t = &w->tensors[i];
      uint64_t padded = t->size + pad_to (t->size, w->alignment);

      if (tensors_in_part > 0
          && ((w->split_max_tensors > 0 && tensors_in_part >= w->split_max_tensors)
              || (w->split_max_bytes > 0 && bytes_in_part + padded > w->split_max_bytes)))
        {
          k++;
          bytes_in_part = 0;
          tensors_in_part = 0;
        }
      t->part = k;
      t->offset = bytes_in_part;
      bytes_in_part += padded;
      tensors_in_part++;
    }
  if (k + 1 > 99999)
    return sm_error_set (err, SM_ERR_INVALID_ARG, "%u parts: more than gguf-split can name", k + 1);
  w->n_parts = k + 1;
  w->parts = calloc (w->n_parts, sizeof *w->parts);
  if (w->parts == NULL)
    return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < w->n_tensors; i++)
    {
      wpart *part = &w->parts[w->tensors[i].part];

      part->n_tensors++;
      part->data_size = w->tensors[i].offset + w->tensors[i].size
                        + pad_to (w->tensors[i].size, w->alignment);
    }

  /* Names: the path itself, or `<prefix>-%05d-of-%05d.gguf` with prefix = path minus ".gguf". */
  plen = strlen (path);
  if (plen > 5 && strcmp (path + plen - 5, ".gguf") == 0)
    plen -= 5;
  for (uint32_t p = 0; p < w->n_parts; p++)
    {
      wpart *part = &w->parts[p];
      size_t n = plen + 32;

      part->path = malloc (n);
      part->tmp_path = malloc (n + 5);
      if (part->path == NULL || part->tmp_path == NULL)
        return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
      if (w->n_parts == 1)
        snprintf (part->path, n, "%s", path);
      else
        snprintf (part->path, n, "%.*s-%05u-of-%05u.gguf", (int) plen, path, p + 1, w->n_parts);
      snprintf (part->tmp_path, n + 5, "%s.part", part->path);
    }
  return SM_OK;
}

sm_status
sm_gguf_writer_begin (sm_gguf_writer *w,
                      const char     *path,
                      sm_error       *err)
{
  int64_t ai;
  sm_status st;

  assert (w != NULL && path != NULL && !w->begun);
  w->begun = true;
  if (w->deferred != SM_OK)
    {
      w->failed = true;
      return sm_error_set (err, w->deferred, "%s", w->deferred_msg);
    }

  w->alignment = SM_GGUF_DEFAULT_ALIGNMENT;
  ai = find_kv (w, "general.alignment");
  if (ai >= 0)
    {
      uint32_t a = 0;

      if (w->kvs[ai].type == SM_GGUF_TYPE_UINT32)
        memcpy (&a, w->kvs[ai].payload, 4);
      if (w->kvs[ai].type != SM_GGUF_TYPE_UINT32 || a == 0 || (a & (a - 1)) != 0)
        {
          w->failed = true;
          return sm_error_set (err, SM_ERR_INVALID_ARG,
                               "general.alignment must be a UINT32 power of two");
        }
      w->alignment = a;
    }

  if ((st = plan_parts (w, path, err)) != SM_OK)
    return fail (w, st);

  /* Split keys describe this output, never a source it was copied from. */
  if (w->n_parts == 1)
    {
      sm_gguf_writer_remove_key (w, "split.no");
      sm_gguf_writer_remove_key (w, "split.count");
      sm_gguf_writer_remove_key (w, "split.tensors.count");
    }
  else
    {
      sm_gguf_writer_set_u16 (w, "split.no", 0);
      sm_gguf_writer_set_u16 (w, "split.count", (uint16_t) w->n_parts);
      sm_gguf_writer_set_i32 (w, "split.tensors.count", (int32_t) w->n_tensors);
      if (w->deferred != SM_OK)
        return fail (w, sm_error_set (err, w->deferred, "%s", w->deferred_msg));
    }

  if ((st = write_header (w, 0, err)) != SM_OK)
    return fail (w, st);
  return SM_OK;
}

/* Moves to the part of the next tensor, closing the current one. */
static sm_status
enter_next_tensor (sm_gguf_writer *w,
                   uint64_t        size,
                   sm_error       *err)
{
  const wtensor *t;
  sm_status st;

  assert (w->begun && !w->finished);
  if (w->failed)
    return sm_error_set (err, SM_ERR_INVALID_ARG, "the write already failed");
  if (w->next_tensor >= w->n_tensors)
    return fail (w, sm_error_set (err, SM_ERR_INVALID_ARG, "all %zu declared tensors are "
                                  "already written", w->n_tensors));
  t = &w->tensors[w->next_tensor];
  if (size != t->size)
    return fail (w, sm_error_set (err, SM_ERR_INVALID_ARG, "tensor '%s' is %" PRIu64
                                  " bytes, %" PRIu64 " given", t->name, t->size, size));
  if (t->part != w->cur_part)
    {
      if ((st = close_part (w, err)) != SM_OK || (st = write_header (w, t->part, err)) != SM_OK)
        return fail (w, st);
    }
  return SM_OK;
}

sm_status
sm_gguf_writer_write_tensor (sm_gguf_writer *w,
                             const void     *data,
                             uint64_t        size,
                             sm_error       *err)
{
  sm_status st;

  if ((st = enter_next_tensor (w, size, err)) != SM_OK)
    return st;
  if ((st = write_all (w, data, size, err)) != SM_OK
      || (st = write_zeros (w, pad_to (size, w->alignment), err)) != SM_OK)
    return fail (w, st);
  w->next_tensor++;
  return SM_OK;
}

sm_status
sm_gguf_writer_write_tensor_zeros (sm_gguf_writer *w,
                                   sm_error       *err)
{
  const wtensor *t;
  uint64_t n;
  sm_status st;

  assert (w->begun && !w->finished);
  if (w->next_tensor >= w->n_tensors)
    return enter_next_tensor (w, 0, err);
  t = &w->tensors[w->next_tensor];
  if ((st = enter_next_tensor (w, t->size, err)) != SM_OK)
    return st;
  n = t->size + pad_to (t->size, w->alignment);
  /* A hole reads back as zeros and costs no disk space where the file system supports it. */
  if (lseek (w->fd, (off_t) n, SEEK_CUR) < 0)
    return fail (w, io_error (err, errno, "cannot seek in", w->parts[w->cur_part].tmp_path));
  w->file_pos += n;
  w->next_tensor++;
  return SM_OK;
}

sm_status
sm_gguf_writer_finish (sm_gguf_writer *w,
                       sm_error       *err)
{
  sm_status st;

  assert (w->begun && !w->finished);
  if (w->failed)
    return sm_error_set (err, SM_ERR_INVALID_ARG, "the write already failed");
  if (w->next_tensor != w->n_tensors)
    return fail (w, sm_error_set (err, SM_ERR_INVALID_ARG,
                                  "only %zu of %zu declared tensors were written",
                                  w->next_tensor, w->n_tensors));
  if ((st = close_part (w, err)) != SM_OK)
    return fail (w, st);
  for (uint32_t k = 0; k < w->n_parts; k++)
    {
      if (rename (w->parts[k].tmp_path, w->parts[k].path) != 0)
        return fail (w, io_error (err, errno, "cannot rename", w->parts[k].tmp_path));
      w->parts[k].renamed = true;
    }
  /* Make the renames durable too. */
  {
    char *dir = strdup (w->parts[0].path);
    char *slash = dir ? strrchr (dir, '/') : NULL;
    int dfd;

    if (dir != NULL)
      {
        if (slash == dir)
          slash[1] = '\0';
        else if (slash != NULL)
          *slash = '\0';
        dfd = open (slash != NULL ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
          {
            fsync (dfd);
            close (dfd);
          }
        free (dir);
      }
  }
  w->finished = true;
  return SM_OK;
}

uint32_t
sm_gguf_writer_get_n_outputs (const sm_gguf_writer *w)
{
  return w->n_parts;
}

const char *
sm_gguf_writer_get_output_path (const sm_gguf_writer *w,
                                uint32_t              i)
{
  assert (i < w->n_parts);
  return w->parts[i].path;
}

void
sm_gguf_writer_free (sm_gguf_writer *w)
{
  if (w == NULL)
    return;
  if (w->begun && !w->finished)
    abort_write (w);
  for (size_t i = 0; i < w->n_kv; i++)
    {
      free (w->kvs[i].key);
      free (w->kvs[i].payload);
    }
  free (w->kvs);
  free (w->tensors);
  for (uint32_t k = 0; k < w->n_parts; k++)
    {
      free (w->parts[k].path);
      free (w->parts[k].tmp_path);
    }
  free (w->parts);
  free (w);
}
