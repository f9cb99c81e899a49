/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-gguf.c: the GGUF reader (the writer lives in sm-gguf-write.c).
 *
 * One pass over the header, metadata and tensor infos of a mapped file, building an index (a
 * key table, a tensor table and two hash tables) that points into the mapping. Every read goes
 * through a bounds-checked cursor, so a hostile file can only ever produce an sm_status with a
 * message naming the byte offset, key or tensor at fault. Tensor data is never touched here: the
 * tensor table only records where it is. Not for writing GGUF: see sm-gguf-write.c.
 */
#include "sm-gguf.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "sm-gguf.c assumes a little-endian host (GGUF values are handed out as raw LE bytes)"
#endif

/* The smallest possible records, used to refuse absurd counts before allocating for them:
 * a KV is a non-empty key (8 + 1), a type (4) and a one-byte value; a tensor info is a one-byte
 * name (8 + 1), n_dims (4), one dim (8), a type (4) and an offset (8). */
#define MIN_KV_BYTES     14
#define MIN_TENSOR_BYTES 33

/* sm_gguf_load_tensor_data: the copy is aligned to the x86-64 transparent huge page size and
 * read in chunks of LOAD_CHUNK bytes, with a progress call after each. */
#define LOAD_ALIGN ((uint64_t) 2 << 20)
#define LOAD_CHUNK ((uint64_t) 16 << 20)

typedef struct
{
  char          *key;      /* NUL-terminated copy (owned) */
  uint64_t       key_pos;  /* byte offset of the record in its file */
  sm_gguf_type   type;
  sm_gguf_type   arr_type; /* element type when type == ARRAY */
  uint64_t       n;        /* array elements; 1 for scalars */
  const uint8_t *data;     /* scalar value, first array element, or string bytes */
  uint64_t       len;      /* bytes of a STRING value */
  const uint8_t **strs;    /* ARRAY of STRING: n pointers to each element's u64 length (owned) */
} gguf_kv;

typedef struct
{
  char          *path;        /* owned; NULL for an in-memory image */
  const uint8_t *base;
  uint64_t       size;        /* bytes */
  bool           mapped;      /* base is our own mmap */
  uint64_t       data_offset; /* bytes from base */
  dev_t          dev;         /* identity of the mapped file, checked before it is read again */
  ino_t          ino;
  uint8_t       *copy;        /* NULL, or the data section read into anonymous memory
                                 (sm_gguf_load_tensor_data) */
  uint64_t       copy_mapped; /* bytes of that mapping (a multiple of LOAD_ALIGN) */
} gguf_part;

/* Open-addressing hash table of indices (-1 = empty). */
typedef struct
{
  int64_t *slots;
  uint64_t mask; /* n_slots - 1, n_slots a power of two */
} gguf_index;

struct sm_gguf
{
  uint32_t version;
  uint32_t alignment; /* bytes */

  gguf_part *parts; /* (n_parts) */
  uint32_t   n_parts;

  gguf_kv   *kvs;   /* (n_kv) */
  int64_t    n_kv;
  gguf_index kv_index;

  sm_gguf_tensor *tensors; /* (n_tensors) */
  int64_t         n_tensors;
  gguf_index      tensor_index;
};

/* ---- Bounds-checked cursor ---- */

typedef struct
{
  const uint8_t *base;
  uint64_t       size;
  uint64_t       pos;
} cursor;

static bool
cur_has (const cursor *c,
         uint64_t      n)
{
  return c->pos <= c->size && n <= c->size - c->pos;
}

static sm_status
truncated (sm_error   *err,
           const cursor *c,
           const char *what,
           uint64_t    need)
{
  return sm_error_set (err, SM_ERR_FORMAT,
                       "file truncated: %s at byte %" PRIu64 " needs %" PRIu64
                       " bytes, only %" PRIu64 " left",
                       what, c->pos, need, c->pos <= c->size ? c->size - c->pos : 0);
}

static sm_status
read_u32 (cursor     *c,
          uint32_t   *out,
          const char *what,
          sm_error   *err)
{
  if (!cur_has (c, 4))
    return truncated (err, c, what, 4);
  memcpy (out, c->base + c->pos, 4);
  c->pos += 4;
  return SM_OK;
}

static sm_status
read_u64 (cursor     *c,
          uint64_t   *out,
          const char *what,
          sm_error   *err)
{
  if (!cur_has (c, 8))
    return truncated (err, c, what, 8);
  memcpy (out, c->base + c->pos, 8);
  c->pos += 8;
  return SM_OK;
}

/* A GGUF string: u64 length + bytes. On success *ptr points at the bytes inside the image. */
static sm_status
read_str (cursor         *c,
          const uint8_t **ptr,
          uint64_t       *len,
          const char     *what,
          sm_error       *err)
{
  uint64_t start = c->pos;
  sm_status st;

  if ((st = read_u64 (c, len, what, err)) != SM_OK)
    return st;
  if (!cur_has (c, *len))
    {
      c->pos = start;
      return sm_error_set (err, SM_ERR_FORMAT,
                           "%s at byte %" PRIu64 " has length %" PRIu64
                           ", beyond the end of the file (%" PRIu64 " bytes)",
                           what, start, *len, c->size);
    }
  *ptr = c->base + c->pos;
  c->pos += *len;
  return SM_OK;
}

/* ---- Hashing ---- */

static uint64_t
hash_bytes (const char *s,
            size_t      n)
{
  /* FNV-1a, 64 bit: short keys, no adversarial pressure that matters (a probe is bounded by n). */
  uint64_t h = 0xcbf29ce484222325u;

  for (size_t i = 0; i < n; i++)
    {
      h ^= (uint8_t) s[i];
      h *= 0x100000001b3u;
    }
  return h;
}

static sm_status
index_init (gguf_index *ix,
            int64_t     n,
            sm_error   *err)
{
  uint64_t n_slots = 8;

  while (n_slots < (uint64_t) n * 2)
    n_slots *= 2;
  ix->slots = malloc (n_slots * sizeof *ix->slots);
  if (ix->slots == NULL)
    return sm_error_set (err, SM_ERR_NOMEM, "out of memory for a table of %" PRId64 " entries", n);
  for (uint64_t i = 0; i < n_slots; i++)
    ix->slots[i] = -1;
  ix->mask = n_slots - 1;
  return SM_OK;
}

/* Finds name through get_name (the key or tensor name of entry i); returns the slot where it is
 * or where it would go. */
typedef const char *(*name_func) (const sm_gguf *g, int64_t i);

static uint64_t
index_slot (const gguf_index *ix,
            const sm_gguf    *g,
            name_func         get_name,
            const char       *name)
{
  uint64_t s = hash_bytes (name, strlen (name)) & ix->mask;

  while (ix->slots[s] >= 0 && strcmp (get_name (g, ix->slots[s]), name) != 0)
    s = (s + 1) & ix->mask;
  return s;
}

static const char *
kv_name (const sm_gguf *g,
         int64_t        i)
{
  return g->kvs[i].key;
}

static const char *
tensor_name (const sm_gguf *g,
             int64_t        i)
{
  return g->tensors[i].name;
}

/* Makes room for one more entry in a table that already holds n (entries 0..n-1, all indexed):
 * the slots stay at most half full. Tables grow with what was parsed, never with what a header
 * claims, so a hostile count cannot make us allocate more than the file's size suggests. */
static sm_status
index_reserve (gguf_index    *ix,
               const sm_gguf *g,
               name_func      get_name,
               int64_t        n,
               sm_error      *err)
{
  gguf_index bigger;
  sm_status st;

  if ((uint64_t) (n + 1) * 2 <= ix->mask + 1)
    return SM_OK;
  if ((st = index_init (&bigger, (n + 1) * 2, err)) != SM_OK)
    return st;
  for (int64_t i = 0; i < n; i++)
    bigger.slots[index_slot (&bigger, g, get_name, get_name (g, i))] = i;
  free (ix->slots);
  *ix = bigger;
  return SM_OK;
}

/* Grows *arr (of *cap elements of elem bytes) to hold at least n + 1, at most max. */
static sm_status
grow (void     **arr,
      uint64_t  *cap,
      uint64_t   n,
      uint64_t   max,
      size_t     elem,
      sm_error  *err)
{
  uint64_t want;
  void *p;

  if (n < *cap)
    return SM_OK;
  want = *cap ? *cap * 2 : 16;
  if (want > max)
    want = max;
  if (want <= n)
    want = n + 1;
  p = realloc (*arr, want * elem);
  if (p == NULL)
    return sm_error_set (err, SM_ERR_NOMEM, "out of memory for %" PRIu64 " entries", want);
  memset ((char *) p + *cap * elem, 0, (want - *cap) * elem);
  *arr = p;
  *cap = want;
  return SM_OK;
}

/* ---- Values ---- */

size_t
sm_gguf_type_size (sm_gguf_type t)
{
  switch (t)
    {
    case SM_GGUF_TYPE_UINT8:
    case SM_GGUF_TYPE_INT8:
    case SM_GGUF_TYPE_BOOL:
      return 1;
    case SM_GGUF_TYPE_UINT16:
    case SM_GGUF_TYPE_INT16:
      return 2;
    case SM_GGUF_TYPE_UINT32:
    case SM_GGUF_TYPE_INT32:
    case SM_GGUF_TYPE_FLOAT32:
      return 4;
    case SM_GGUF_TYPE_UINT64:
    case SM_GGUF_TYPE_INT64:
    case SM_GGUF_TYPE_FLOAT64:
      return 8;
    case SM_GGUF_TYPE_STRING:
    case SM_GGUF_TYPE_ARRAY:
    case SM_GGUF_TYPE_COUNT:
      break;
    }
  return 0;
}

const char *
sm_gguf_type_name (sm_gguf_type t)
{
  static const char *const names[SM_GGUF_TYPE_COUNT] = {
    "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
    "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64",
  };

  if ((unsigned) t >= SM_GGUF_TYPE_COUNT)
    return "INVALID";
  return names[t];
}

/* Bools must be 0 or 1 (formats.md 1.3); n of them start at p. */
static bool
bools_valid (const uint8_t *p,
             uint64_t       n,
             uint64_t      *bad)
{
  for (uint64_t i = 0; i < n; i++)
    if (p[i] > 1)
      {
        *bad = i;
        return false;
      }
  return true;
}

static sm_status
read_kv_value (cursor     *c,
               gguf_kv    *kv,
               sm_error   *err)
{
  sm_status st;
  uint64_t at = c->pos, bad;
  size_t esize;

  kv->n = 1;
  switch (kv->type)
    {
    case SM_GGUF_TYPE_STRING:
      {
        const uint8_t *p;

        if ((st = read_str (c, &p, &kv->len, "string value", err)) != SM_OK)
          return st;
        kv->data = p;
        return SM_OK;
      }

    case SM_GGUF_TYPE_ARRAY:
      {
        uint32_t et = 0;

        if ((st = read_u32 (c, &et, "array element type", err)) != SM_OK)
          return st;
        if (et == SM_GGUF_TYPE_ARRAY)
          return sm_error_set (err, SM_ERR_UNSUPPORTED,
                               "array of arrays at byte %" PRIu64 " (not supported by llama.cpp)",
                               at);
        if (et >= SM_GGUF_TYPE_COUNT)
          return sm_error_set (err, SM_ERR_FORMAT,
                               "unknown array element type %" PRIu32 " at byte %" PRIu64, et, at);
        kv->arr_type = et;
        at = c->pos;
        if ((st = read_u64 (c, &kv->n, "array length", err)) != SM_OK)
          return st;
        kv->data = c->base + c->pos;
        if (et == SM_GGUF_TYPE_STRING)
          {
            /* Every element is at least its 8-byte length: refuse impossible counts before
             * allocating the element table. */
            if (!cur_has (c, 0) || kv->n > (c->size - c->pos) / 8)
              return sm_error_set (err, SM_ERR_FORMAT,
                                   "string array at byte %" PRIu64 " claims %" PRIu64
                                   " elements, more than the %" PRIu64 " bytes left can hold",
                                   at, kv->n, c->size - c->pos);
            kv->strs = malloc ((kv->n ? kv->n : 1) * sizeof *kv->strs);
            if (kv->strs == NULL)
              return sm_error_set (err, SM_ERR_NOMEM, "out of memory for a string array of %"
                                   PRIu64 " elements", kv->n);
            for (uint64_t j = 0; j < kv->n; j++)
              {
                const uint8_t *p;
                uint64_t len;

                kv->strs[j] = c->base + c->pos;
                if ((st = read_str (c, &p, &len, "array string", err)) != SM_OK)
                  return st;
              }
            return SM_OK;
          }
        esize = sm_gguf_type_size (et);
        if (!cur_has (c, 0) || kv->n > (c->size - c->pos) / esize)
          return sm_error_set (err, SM_ERR_FORMAT,
                               "%s array at byte %" PRIu64 " claims %" PRIu64
                               " elements, more than the %" PRIu64 " bytes left can hold",
                               sm_gguf_type_name (et), at, kv->n, c->size - c->pos);
        if (et == SM_GGUF_TYPE_BOOL && !bools_valid (kv->data, kv->n, &bad))
          return sm_error_set (err, SM_ERR_FORMAT,
                               "BOOL array at byte %" PRIu64 ": element %" PRIu64
                               " is %u, not 0 or 1", at, bad, kv->data[bad]);
        c->pos += kv->n * esize;
        return SM_OK;
      }

    default:
      if ((unsigned) kv->type >= SM_GGUF_TYPE_COUNT)
        return sm_error_set (err, SM_ERR_FORMAT,
                             "unknown value type %u at byte %" PRIu64, (unsigned) kv->type,
                             at - 4);
      esize = sm_gguf_type_size (kv->type);
      if (!cur_has (c, esize))
        return truncated (err, c, sm_gguf_type_name (kv->type), esize);
      kv->data = c->base + c->pos;
      if (kv->type == SM_GGUF_TYPE_BOOL && kv->data[0] > 1)
        return sm_error_set (err, SM_ERR_FORMAT,
                             "BOOL value at byte %" PRIu64 " is %u, not 0 or 1", at, kv->data[0]);
      c->pos += esize;
      return SM_OK;
    }
}

/* Keys and tensor names are handed out NUL-terminated, so an embedded NUL would silently change
 * them: refuse it. */
static bool
has_nul (const uint8_t *p,
         uint64_t       n)
{
  return memchr (p, 0, n) != NULL;
}

static void
kvs_free (gguf_kv *kvs,
          int64_t  n)
{
  if (kvs == NULL)
    return;
  for (int64_t i = 0; i < n; i++)
    {
      free (kvs[i].key);
      free (kvs[i].strs);
    }
  free (kvs);
}

void
sm_gguf_free (sm_gguf *g)
{
  if (g == NULL)
    return;
  for (uint32_t p = 0; p < g->n_parts; p++)
    {
      if (g->parts[p].mapped)
        munmap ((void *) g->parts[p].base, g->parts[p].size);
      if (g->parts[p].copy != NULL)
        munmap (g->parts[p].copy, g->parts[p].copy_mapped);
      free (g->parts[p].path);
    }
  free (g->parts);
  kvs_free (g->kvs, g->n_kv);
  free (g->kv_index.slots);
  free (g->tensors);
  free (g->tensor_index.slots);
  free (g);
}

static int
cmp_by_offset (const void *a,
               const void *b)
{
  const sm_gguf_tensor *x = *(const sm_gguf_tensor *const *) a;
  const sm_gguf_tensor *y = *(const sm_gguf_tensor *const *) b;

  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Tensor data may not overlap (the spec allows any order; llama.cpp additionally demands info
 * order, which we do not need to read a file). */
static sm_status
check_overlap (sm_gguf_tensor *t,
               int64_t         n,
               sm_error       *err)
{
  sm_gguf_tensor **order;
  sm_status st = SM_OK;

  if (n < 2)
    return SM_OK;
  order = malloc ((size_t) n * sizeof *order);
  if (order == NULL)
    return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
  for (int64_t i = 0; i < n; i++)
    order[i] = &t[i];
  qsort (order, (size_t) n, sizeof *order, cmp_by_offset);
  for (int64_t i = 1; i < n; i++)
    {
      const sm_gguf_tensor *a = order[i - 1], *b = order[i];

      /* Offsets and sizes were checked against the file size already: no overflow here. */
      if (a->offset + a->size > b->offset)
        {
          st = sm_error_set (err, SM_ERR_FORMAT,
                             "tensor '%s' data (offset %" PRIu64 ", %" PRIu64
                             " bytes) overlaps tensor '%s' (offset %" PRIu64 ")",
                             a->name, a->offset, a->size, b->name, b->offset);
          break;
        }
    }
  free (order);
  return st;
}

static sm_status
read_tensor_info (cursor         *c,
                  sm_gguf_tensor *t,
                  int64_t         i,
                  sm_error       *err)
{
  const sm_type_traits *tr;
  const uint8_t *name;
  uint64_t name_len, at = c->pos, nel = 1, size;
  uint32_t type = 0;
  sm_status st;

  if ((st = read_str (c, &name, &name_len, "tensor name", err)) != SM_OK)
    return st;
  if (name_len == 0)
    return sm_error_set (err, SM_ERR_FORMAT, "tensor %" PRId64 " at byte %" PRIu64
                         " has an empty name", i, at);
  if (name_len >= SM_GGUF_MAX_NAME)
    return sm_error_set (err, SM_ERR_FORMAT,
                         "tensor %" PRId64 " at byte %" PRIu64 ": name is %" PRIu64
                         " bytes long, at most %d allowed", i, at, name_len, SM_GGUF_MAX_NAME - 1);
  if (has_nul (name, name_len))
    return sm_error_set (err, SM_ERR_FORMAT,
                         "tensor %" PRId64 " at byte %" PRIu64 ": name contains a NUL byte", i, at);
  memcpy (t->name, name, name_len);
  t->name[name_len] = '\0';

  if ((st = read_u32 (c, &t->n_dims, "tensor n_dims", err)) != SM_OK)
    return st;
  if (t->n_dims == 0 || t->n_dims > SM_GGUF_MAX_DIMS)
    return sm_error_set (err, SM_ERR_FORMAT,
                         "tensor '%s' (info at byte %" PRIu64 "): n_dims is %" PRIu32
                         ", must be 1 to %d", t->name, at, t->n_dims, SM_GGUF_MAX_DIMS);
  for (uint32_t d = 0; d < SM_GGUF_MAX_DIMS; d++)
    t->ne[d] = 1;
  for (uint32_t d = 0; d < t->n_dims; d++)
    {
      uint64_t v = 0;

      if ((st = read_u64 (c, &v, "tensor dimension", err)) != SM_OK)
        return st;
      if (v > INT64_MAX)
        return sm_error_set (err, SM_ERR_FORMAT,
                             "tensor '%s' (info at byte %" PRIu64 "): dimension %" PRIu32
                             " is negative (%" PRId64 ")", t->name, at, d, (int64_t) v);
      t->ne[d] = (int64_t) v;
      if (__builtin_mul_overflow (nel, v, &nel) || nel > INT64_MAX)
        return sm_error_set (err, SM_ERR_FORMAT,
                             "tensor '%s' (info at byte %" PRIu64 "): the element count "
                             "overflows 64 bits at dimension %" PRIu32, t->name, at, d);
    }

  if ((st = read_u32 (c, &type, "tensor type", err)) != SM_OK)
    return st;
  tr = sm_type_get_traits (type);
  if (tr == NULL)
    return sm_error_set (err, SM_ERR_UNSUPPORTED,
                         "tensor '%s' (info at byte %" PRIu64 "): type id %" PRIu32 " is %s",
                         t->name, at, type,
                         type < SM_TYPE_COUNT ? "a retired ggml type" : "not a known ggml type");
  t->type = (sm_type) type;
  if (t->ne[0] % tr->blck_size != 0)
    return sm_error_set (err, SM_ERR_FORMAT,
                         "tensor '%s' (info at byte %" PRIu64 "): ne[0] = %" PRId64
                         " is not a multiple of the %s block size %" PRIu32,
                         t->name, at, t->ne[0], tr->upper, tr->blck_size);
  /* bytes = nelements / blck * type_size, computed without overflow */
  if (__builtin_mul_overflow (nel / tr->blck_size, (uint64_t) tr->type_size, &size))
    return sm_error_set (err, SM_ERR_FORMAT,
                         "tensor '%s' (info at byte %" PRIu64 "): its byte size overflows 64 bits",
                         t->name, at);
  t->size = size;
  if ((st = read_u64 (c, &t->offset, "tensor offset", err)) != SM_OK)
    return st;
  return SM_OK;
}

/* Keys and names from the file end up in messages: a hostile control character (a newline, an
 * escape sequence) must not reach a terminal or split the one-line message. */
static sm_status
clean_message (sm_error *err,
               sm_status st)
{
  if (err != NULL)
    for (char *p = err->msg; *p != '\0'; p++)
      if ((unsigned char) *p < 0x20 || *p == 0x7f)
        *p = '?';
  return st;
}

/* Parses one image into a fresh sm_gguf with a single part that does not own the bytes. */
static sm_status
parse_image (const uint8_t *base,
             uint64_t       size,
             sm_gguf      **out,
             sm_error      *err)
{
  cursor c = { base, size, 0 };
  sm_gguf *g;
  uint32_t magic;
  uint64_t n_tensors = 0, n_kv = 0, kv_cap = 0, tensor_cap = 0;
  int64_t ai;
  sm_status st;

  *out = NULL;
  if (size == 0)
    return sm_error_set (err, SM_ERR_FORMAT, "file is empty");
  if (size < 4)
    return sm_error_set (err, SM_ERR_FORMAT, "file is %" PRIu64 " bytes, too short for a GGUF "
                         "header", size);
  memcpy (&magic, base, 4);
  if (magic != SM_GGUF_MAGIC)
    return sm_error_set (err, SM_ERR_FORMAT,
                         "not a GGUF file: magic is %02x %02x %02x %02x, expected \"GGUF\"",
                         base[0], base[1], base[2], base[3]);
  c.pos = 4;

  g = calloc (1, sizeof *g);
  if (g == NULL)
    return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
  g->parts = calloc (1, sizeof *g->parts);
  if (g->parts == NULL)
    {
      free (g);
      return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
    }
  g->n_parts = 1;
  g->parts[0].base = base;
  g->parts[0].size = size;
  g->alignment = SM_GGUF_DEFAULT_ALIGNMENT;

  if ((st = read_u32 (&c, &g->version, "version", err)) != SM_OK)
    goto fail;
  if ((g->version & 0xffffu) == 0 && g->version != 0)
    {
      st = sm_error_set (err, SM_ERR_UNSUPPORTED,
                         "version field reads 0x%08" PRIx32 ": this looks like a big-endian "
                         "GGUF file, which Smelt does not read", g->version);
      goto fail;
    }
  if (g->version == 1)
    {
      st = sm_error_set (err, SM_ERR_UNSUPPORTED,
                         "GGUF version 1 is no longer supported (32-bit counts); convert the "
                         "model again with a current llama.cpp");
      goto fail;
    }
  if (g->version != 2 && g->version != 3)
    {
      st = sm_error_set (err, SM_ERR_UNSUPPORTED,
                         "GGUF version %" PRIu32 " is not supported (only 2 and 3)", g->version);
      goto fail;
    }
  if ((st = read_u64 (&c, &n_tensors, "tensor count", err)) != SM_OK
      || (st = read_u64 (&c, &n_kv, "metadata count", err)) != SM_OK)
    goto fail;
  if (n_tensors > (size - c.pos) / MIN_TENSOR_BYTES)
    {
      st = sm_error_set (err, SM_ERR_FORMAT,
                         "tensor count %" PRIu64 " (at byte 8) cannot fit in a %" PRIu64
                         "-byte file", n_tensors, size);
      goto fail;
    }
  if (n_kv > (size - c.pos) / MIN_KV_BYTES)
    {
      st = sm_error_set (err, SM_ERR_FORMAT,
                         "metadata count %" PRIu64 " (at byte 16) cannot fit in a %" PRIu64
                         "-byte file", n_kv, size);
      goto fail;
    }

  /* Metadata */
  if ((st = index_init (&g->kv_index, 0, err)) != SM_OK)
    goto fail;
  for (uint64_t i = 0; i < n_kv; i++)
    {
      gguf_kv *kv;
      const uint8_t *key;
      uint64_t key_len, slot;
      uint32_t type = 0;

      if ((st = grow ((void **) &g->kvs, &kv_cap, i, n_kv, sizeof *g->kvs, err)) != SM_OK
          || (st = index_reserve (&g->kv_index, g, kv_name, (int64_t) i, err)) != SM_OK)
        goto fail;
      kv = &g->kvs[i];
      kv->key_pos = c.pos;
      if ((st = read_str (&c, &key, &key_len, "metadata key", err)) != SM_OK)
        goto fail;
      if (key_len == 0)
        {
          st = sm_error_set (err, SM_ERR_FORMAT, "metadata key %" PRIu64 " at byte %" PRIu64
                             " is empty", i, kv->key_pos);
          goto fail;
        }
      if (has_nul (key, key_len))
        {
          st = sm_error_set (err, SM_ERR_FORMAT, "metadata key %" PRIu64 " at byte %" PRIu64
                             " contains a NUL byte", i, kv->key_pos);
          goto fail;
        }
      kv->key = malloc (key_len + 1);
      if (kv->key == NULL)
        {
          st = sm_error_set (err, SM_ERR_NOMEM, "out of memory");
          goto fail;
        }
      memcpy (kv->key, key, key_len);
      kv->key[key_len] = '\0';
      g->n_kv = (int64_t) i + 1;

      slot = index_slot (&g->kv_index, g, kv_name, kv->key);
      if (g->kv_index.slots[slot] >= 0)
        {
          st = sm_error_set (err, SM_ERR_FORMAT,
                             "duplicate metadata key '%.80s' at byte %" PRIu64 " (first at byte %"
                             PRIu64 ")", kv->key, kv->key_pos,
                             g->kvs[g->kv_index.slots[slot]].key_pos);
          goto fail;
        }
      if ((st = read_u32 (&c, &type, "value type", err)) != SM_OK)
        goto fail;
      kv->type = (sm_gguf_type) type;
      if (type >= SM_GGUF_TYPE_COUNT)
        {
          st = sm_error_set (err, SM_ERR_FORMAT,
                             "metadata key '%.80s' at byte %" PRIu64 ": unknown value type %" PRIu32,
                             kv->key, kv->key_pos, type);
          goto fail;
        }
      if ((st = read_kv_value (&c, kv, err)) != SM_OK)
        {
          char prefix[128];

          snprintf (prefix, sizeof prefix, "metadata key '%.80s'", kv->key);
          sm_error_prefix (err, prefix);
          goto fail;
        }
      g->kv_index.slots[slot] = (int64_t) i;
    }

  /* general.alignment: llama.cpp insists on UINT32, non-zero, a power of two. */
  ai = sm_gguf_find_key (g, "general.alignment");
  if (ai >= 0)
    {
      uint32_t a;

      if (g->kvs[ai].type != SM_GGUF_TYPE_UINT32)
        {
          st = sm_error_set (err, SM_ERR_FORMAT,
                             "general.alignment (byte %" PRIu64 ") has type %s, must be UINT32",
                             g->kvs[ai].key_pos, sm_gguf_type_name (g->kvs[ai].type));
          goto fail;
        }
      a = sm_gguf_get_u32 (g, ai);
      if (a == 0 || (a & (a - 1)) != 0)
        {
          st = sm_error_set (err, SM_ERR_FORMAT,
                             "general.alignment (byte %" PRIu64 ") is %" PRIu32
                             ", must be a non-zero power of two", g->kvs[ai].key_pos, a);
          goto fail;
        }
      g->alignment = a;
    }

  /* Tensor infos */
  if ((st = index_init (&g->tensor_index, 0, err)) != SM_OK)
    goto fail;
  for (uint64_t i = 0; i < n_tensors; i++)
    {
      sm_gguf_tensor *t;
      uint64_t slot;

      if ((st = grow ((void **) &g->tensors, &tensor_cap, i, n_tensors, sizeof *g->tensors, err))
            != SM_OK
          || (st = index_reserve (&g->tensor_index, g, tensor_name, (int64_t) i, err)) != SM_OK)
        goto fail;
      t = &g->tensors[i];
      if ((st = read_tensor_info (&c, t, (int64_t) i, err)) != SM_OK)
        goto fail;
      g->n_tensors = (int64_t) i + 1;
      slot = index_slot (&g->tensor_index, g, tensor_name, t->name);
      if (g->tensor_index.slots[slot] >= 0)
        {
          st = sm_error_set (err, SM_ERR_FORMAT, "duplicate tensor name '%s' (tensors %" PRId64
                             " and %" PRIu64 ")", t->name, g->tensor_index.slots[slot], i);
          goto fail;
        }
      g->tensor_index.slots[slot] = (int64_t) i;
    }

  /* Data section: starts at the next multiple of the alignment. */
  {
    uint64_t pad = (g->alignment - c.pos % g->alignment) % g->alignment;
    uint64_t data_offset = c.pos + pad, room;

    if (n_tensors > 0 && data_offset > size)
      {
        st = sm_error_set (err, SM_ERR_FORMAT,
                           "data section would start at byte %" PRIu64
                           ", beyond the end of the file (%" PRIu64 " bytes)", data_offset, size);
        goto fail;
      }
    /* Without tensors nothing is read there, and gguf-py omits the padding: keep the aligned
     * offset anyway, as ggml reports it. */
    g->parts[0].data_offset = data_offset;
    room = data_offset <= size ? size - data_offset : 0;
    for (int64_t i = 0; i < g->n_tensors; i++)
      {
        sm_gguf_tensor *t = &g->tensors[i];

        if (t->offset % g->alignment != 0)
          {
            st = sm_error_set (err, SM_ERR_FORMAT,
                               "tensor '%s': data offset %" PRIu64
                               " is not a multiple of the alignment %" PRIu32,
                               t->name, t->offset, g->alignment);
            goto fail;
          }
        if (t->offset > room || t->size > room - t->offset)
          {
            st = sm_error_set (err, SM_ERR_FORMAT,
                               "tensor '%s': data (offset %" PRIu64 ", %" PRIu64
                               " bytes) runs past the end of the file (%" PRIu64
                               " bytes of data after byte %" PRIu64 ")",
                               t->name, t->offset, t->size, room, data_offset);
            goto fail;
          }
        t->split = 0;
        t->data = base + data_offset + t->offset;
      }
    if ((st = check_overlap (g->tensors, g->n_tensors, err)) != SM_OK)
      goto fail;
  }

  *out = g;
  return SM_OK;

fail:
  sm_gguf_free (g);
  return clean_message (err, st);
}

sm_status
sm_gguf_open_memory (const void *data,
                     size_t      size,
                     sm_gguf   **out,
                     sm_error   *err)
{
  assert (out != NULL);
  *out = NULL;
  if (data == NULL && size > 0)
    return sm_error_set (err, SM_ERR_INVALID_ARG, "no data");
  if (data == NULL)
    return sm_error_set (err, SM_ERR_FORMAT, "file is empty");
  return parse_image (data, size, out, err);
}

/* ---- Files and split sets ---- */

static sm_status
map_file (const char     *path,
          const uint8_t **base,
          uint64_t       *size,
          struct stat    *out_sb,
          sm_error       *err)
{
  struct stat sb;
  void *m;
  int fd;

  /* O_NONBLOCK: a FIFO given by mistake must not hang the open (it is refused below). */
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return sm_error_set (err, errno == ENOENT ? SM_ERR_NOT_FOUND : SM_ERR_IO,
                         "%s: %s", path, strerror (errno));
  if (fstat (fd, &sb) != 0)
    {
      int e = errno;

      close (fd);
      return sm_error_set (err, SM_ERR_IO, "%s: %s", path, strerror (e));
    }
  if (!S_ISREG (sb.st_mode))
    {
      close (fd);
      return sm_error_set (err, SM_ERR_IO, "%s: not a regular file", path);
    }
  if (sb.st_size == 0)
    {
      close (fd);
      return sm_error_set (err, SM_ERR_FORMAT, "%s: file is empty", path);
    }
  /* Read-only private mapping: nothing is read until a page is touched. */
  m = mmap (NULL, (size_t) sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close (fd);
  if (m == MAP_FAILED)
    return sm_error_set (err, SM_ERR_IO, "%s: mmap failed: %s", path, strerror (errno));
  *base = m;
  *size = (uint64_t) sb.st_size;
  *out_sb = sb;
  return SM_OK;
}

static sm_status
open_one (const char *path,
          sm_gguf   **out,
          sm_error   *err)
{
  const uint8_t *base = NULL;
  uint64_t size = 0;
  struct stat sb = { 0 };
  sm_status st;

  *out = NULL;
  if ((st = map_file (path, &base, &size, &sb, err)) != SM_OK)
    return st;
  st = parse_image (base, size, out, err);
  if (st != SM_OK)
    {
      munmap ((void *) base, size);
      sm_error_prefix (err, path);
      return st;
    }
  (*out)->parts[0].mapped = true;
  (*out)->parts[0].dev = sb.st_dev;
  (*out)->parts[0].ino = sb.st_ino;
  (*out)->parts[0].path = strdup (path);
  if ((*out)->parts[0].path == NULL)
    {
      sm_gguf_free (*out);
      *out = NULL;
      return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
    }
  return SM_OK;
}

/* Reads an unsigned split.* key of any integer type (gguf-split writes UINT16 / INT32). */
static bool
split_key (const sm_gguf *g,
           const char    *key,
           uint64_t      *out)
{
  return sm_gguf_find_uint (g, key, out);
}

/* Moves the parts and tensors of `from` into `into` (which owns them afterwards). */
static sm_status
absorb_part (sm_gguf  *into,
             sm_gguf  *from,
             sm_error *err)
{
  gguf_part *parts;
  sm_gguf_tensor *tensors;
  int64_t n = into->n_tensors + from->n_tensors;

  parts = realloc (into->parts, (into->n_parts + 1) * sizeof *parts);
  if (parts == NULL)
    return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
  into->parts = parts;
  tensors = realloc (into->tensors, (size_t) (n ? n : 1) * sizeof *tensors);
  if (tensors == NULL)
    return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
  into->tensors = tensors;
  for (int64_t i = 0; i < from->n_tensors; i++)
    {
      tensors[into->n_tensors + i] = from->tensors[i];
      tensors[into->n_tensors + i].split = into->n_parts;
    }
  into->n_tensors = n;
  parts[into->n_parts++] = from->parts[0];
  from->n_parts = 0; /* the mapping now belongs to `into` */
  return SM_OK;
}

static sm_status
rebuild_tensor_index (sm_gguf  *g,
                      sm_error *err)
{
  sm_status st;

  free (g->tensor_index.slots);
  g->tensor_index.slots = NULL;
  if ((st = index_init (&g->tensor_index, g->n_tensors, err)) != SM_OK)
    return st;
  for (int64_t i = 0; i < g->n_tensors; i++)
    {
      uint64_t slot = index_slot (&g->tensor_index, g, tensor_name, g->tensors[i].name);

      if (g->tensor_index.slots[slot] >= 0)
        return sm_error_set (err, SM_ERR_FORMAT,
                             "duplicate tensor name '%s' in split parts %" PRIu32 " and %" PRIu32,
                             g->tensors[i].name,
                             g->tensors[g->tensor_index.slots[slot]].split + 1,
                             g->tensors[i].split + 1);
      g->tensor_index.slots[slot] = i;
    }
  return SM_OK;
}

sm_status
sm_gguf_open (const char *path,
              sm_gguf   **out,
              sm_error   *err)
{
  sm_gguf *g = NULL;
  uint64_t count, no, total;
  char suffix[32];
  size_t plen, slen;
  char *prefix = NULL;
  sm_status st;

  assert (path != NULL && out != NULL);
  *out = NULL;
  if ((st = open_one (path, &g, err)) != SM_OK)
    return clean_message (err, st);
  if (!split_key (g, "split.count", &count) || count <= 1)
    {
      *out = g;
      return SM_OK;
    }

  if (!split_key (g, "split.no", &no))
    {
      st = sm_error_set (err, SM_ERR_FORMAT, "%s: split.count is %" PRIu64
                         " but split.no is missing or not an unsigned integer", path, count);
      goto fail;
    }
  if (no != 0)
    {
      st = sm_error_set (err, SM_ERR_INVALID_ARG,
                         "%s is part %" PRIu64 " of %" PRIu64
                         " of a split model: open the first part (-00001-of-%05" PRIu64 ".gguf)",
                         path, no + 1, count, count);
      goto fail;
    }
  if (count > 99999)
    {
      st = sm_error_set (err, SM_ERR_FORMAT, "%s: split.count %" PRIu64 " is too large", path,
                         count);
      goto fail;
    }
  if (!split_key (g, "split.tensors.count", &total))
    {
      st = sm_error_set (err, SM_ERR_FORMAT, "%s: split.tensors.count is missing or not an "
                         "unsigned integer", path);
      goto fail;
    }

  /* The siblings' names come from ours (llama_split_prefix): same directory, same prefix. */
  snprintf (suffix, sizeof suffix, "-%05d-of-%05d.gguf", 1, (int) count);
  plen = strlen (path);
  slen = strlen (suffix);
  if (plen <= slen || strcmp (path + plen - slen, suffix) != 0)
    {
      st = sm_error_set (err, SM_ERR_FORMAT,
                         "%s: split.count is %" PRIu64 " but the file name does not end with "
                         "'%s', so the other parts cannot be found", path, count, suffix);
      goto fail;
    }
  prefix = strndup (path, plen - slen);
  if (prefix == NULL)
    {
      st = sm_error_set (err, SM_ERR_NOMEM, "out of memory");
      goto fail;
    }

  for (uint64_t k = 1; k < count; k++)
    {
      char *part_path;
      sm_gguf *p = NULL;
      uint64_t pno, pcount;

      part_path = malloc (plen + 1);
      if (part_path == NULL)
        {
          st = sm_error_set (err, SM_ERR_NOMEM, "out of memory");
          goto fail;
        }
      /* Same length as path: only the part number differs. */
      snprintf (part_path, plen + 1, "%s-%05d-of-%05d.gguf", prefix, (int) k + 1, (int) count);
      st = open_one (part_path, &p, err);
      if (st == SM_OK && (!split_key (p, "split.no", &pno) || pno != k))
        st = sm_error_set (err, SM_ERR_FORMAT,
                           "%s: split.no is missing or wrong (expected %" PRIu64 ")", part_path,
                           k);
      if (st == SM_OK && (!split_key (p, "split.count", &pcount) || pcount != count))
        st = sm_error_set (err, SM_ERR_FORMAT,
                           "%s: split.count is missing or differs from part 1 (%" PRIu64 ")",
                           part_path, count);
      if (st == SM_OK && p->alignment != g->alignment)
        st = sm_error_set (err, SM_ERR_FORMAT,
                           "%s: alignment %" PRIu32 " differs from part 1 (%" PRIu32 ")",
                           part_path, p->alignment, g->alignment);
      if (st == SM_OK && p->version != g->version)
        st = sm_error_set (err, SM_ERR_FORMAT,
                           "%s: GGUF version %" PRIu32 " differs from part 1 (%" PRIu32 ")",
                           part_path, p->version, g->version);
      if (st == SM_OK)
        st = absorb_part (g, p, err);
      free (part_path);
      sm_gguf_free (p);
      if (st != SM_OK)
        goto fail;
    }
  if ((uint64_t) g->n_tensors != total)
    {
      st = sm_error_set (err, SM_ERR_FORMAT,
                         "%s: split.tensors.count is %" PRIu64 " but the %" PRIu64
                         " parts hold %" PRId64 " tensors", path, total, count, g->n_tensors);
      goto fail;
    }
  if ((st = rebuild_tensor_index (g, err)) != SM_OK)
    {
      sm_error_prefix (err, path);
      goto fail;
    }
  free (prefix);
  *out = g;
  return SM_OK;

fail:
  free (prefix);
  sm_gguf_free (g);
  return clean_message (err, st);
}

/* ---- Tensor data in anonymous memory ---- */

static uint64_t
part_data_bytes (const gguf_part *part)
{
  return part->data_offset < part->size ? part->size - part->data_offset : 0;
}

uint64_t
sm_gguf_get_tensor_data_bytes (const sm_gguf *g)
{
  uint64_t n = 0;

  for (uint32_t p = 0; p < g->n_parts; p++)
    n += part_data_bytes (&g->parts[p]);
  return n;
}

bool
sm_gguf_tensor_data_loaded (const sm_gguf *g)
{
  for (uint32_t p = 0; p < g->n_parts; p++)
    if (g->parts[p].copy != NULL)
      return true;
  return false;
}

/* A private anonymous mapping of at least size bytes starting on a LOAD_ALIGN boundary, advised
 * for transparent huge pages; *mapped receives its exact length. NULL when the mapping fails. */
static uint8_t *
map_aligned (uint64_t  size,
             uint64_t *mapped)
{
  uint64_t len;
  uint8_t *raw, *p;
  size_t head;

  if (size > SIZE_MAX - 2 * LOAD_ALIGN)
    return NULL;
  len = (size + LOAD_ALIGN - 1) & ~(LOAD_ALIGN - 1);
  /* Over-allocate by one alignment unit, then give back what lies before and after. */
  raw = mmap (NULL, (size_t) (len + LOAD_ALIGN), PROT_READ | PROT_WRITE,
              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED)
    return NULL;
  p = (uint8_t *) (((uintptr_t) raw + LOAD_ALIGN - 1) & ~(uintptr_t) (LOAD_ALIGN - 1));
  head = (size_t) (p - raw);
  if (head > 0)
    munmap (raw, head);
  munmap (p + len, (size_t) (LOAD_ALIGN - head));
#ifdef MADV_HUGEPAGE
  /* Advice only: without THP in the kernel it fails and the copy lives on 4 KiB pages. */
  (void) madvise (p, (size_t) len, MADV_HUGEPAGE);
#endif
  *mapped = len;
  return p;
}

/* Reads the data section of part into dst, calling progress after every chunk. */
static sm_status
read_part (const gguf_part *part,
           uint8_t         *dst,
           uint64_t        *done,
           uint64_t         total,
           sm_gguf_load_fn  progress,
           void            *user_data,
           sm_error        *err)
{
  uint64_t n = part_data_bytes (part), got = 0;
  struct stat sb;
  sm_status st = SM_OK;
  int fd;

  fd = open (part->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return sm_error_set (err, SM_ERR_IO, "%s: %s", part->path, strerror (errno));
  if (fstat (fd, &sb) != 0)
    {
      st = sm_error_set (err, SM_ERR_IO, "%s: %s", part->path, strerror (errno));
      goto out;
    }
  /* The bytes parsed at open must be the bytes read now. */
  if (!S_ISREG (sb.st_mode) || sb.st_dev != part->dev || sb.st_ino != part->ino)
    {
      st = sm_error_set (err, SM_ERR_IO, "%s: the file was replaced since it was opened",
                         part->path);
      goto out;
    }
  if ((uint64_t) sb.st_size != part->size)
    {
      st = sm_error_set (err, SM_ERR_IO, "%s: the file changed size since it was opened (%" PRIu64
                         " bytes then, %" PRIu64 " now)", part->path, part->size,
                         (uint64_t) sb.st_size);
      goto out;
    }
  (void) posix_fadvise (fd, (off_t) part->data_offset, (off_t) n, POSIX_FADV_SEQUENTIAL);
  while (got < n)
    {
      uint64_t want = n - got < LOAD_CHUNK ? n - got : LOAD_CHUNK;
      ssize_t r = pread (fd, dst + got, (size_t) want, (off_t) (part->data_offset + got));

      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        {
          st = sm_error_set (err, SM_ERR_IO, "%s: read failed at byte %" PRIu64 ": %s",
                             part->path, part->data_offset + got, strerror (errno));
          goto out;
        }
      if (r == 0)
        {
          st = sm_error_set (err, SM_ERR_IO, "%s: the file ends at byte %" PRIu64
                             " but was %" PRIu64 " bytes when it was opened", part->path,
                             part->data_offset + got, part->size);
          goto out;
        }
      got += (uint64_t) r;
      *done += (uint64_t) r;
      if (progress != NULL && !progress (*done, total, user_data))
        {
          st = sm_error_set (err, SM_ERR_CANCELLED, "model load cancelled");
          goto out;
        }
    }
out:
  close (fd);
  return st;
}

sm_status
sm_gguf_load_tensor_data (sm_gguf        *g,
                          sm_gguf_load_fn progress,
                          void           *user_data,
                          sm_error       *err)
{
  uint64_t total = sm_gguf_get_tensor_data_bytes (g), done = 0;
  uint8_t **copies;
  uint64_t *mapped;
  sm_status st = SM_OK;

  assert (g != NULL);
  if (sm_gguf_tensor_data_loaded (g))
    return SM_OK;
  for (uint32_t p = 0; p < g->n_parts; p++)
    if (g->parts[p].path == NULL)
      return sm_error_set (err, SM_ERR_INVALID_ARG, "an image opened from memory has no file "
                           "to read its tensor data from");
  copies = calloc (g->n_parts, sizeof *copies);
  mapped = calloc (g->n_parts, sizeof *mapped);
  if (copies == NULL || mapped == NULL)
    {
      st = sm_error_set (err, SM_ERR_NOMEM, "out of memory");
      goto out;
    }
  if (progress != NULL && !progress (0, total, user_data))
    {
      st = sm_error_set (err, SM_ERR_CANCELLED, "model load cancelled");
      goto out;
    }
  for (uint32_t p = 0; p < g->n_parts && st == SM_OK; p++)
    {
      const gguf_part *part = &g->parts[p];
      uint64_t n = part_data_bytes (part);

      if (n == 0)
        continue;
      copies[p] = map_aligned (n, &mapped[p]);
      if (copies[p] == NULL)
        {
          st = sm_error_set (err, SM_ERR_NOMEM, "%s: cannot allocate %" PRIu64 " bytes for the "
                             "tensor data: %s", part->path, n, strerror (errno));
          break;
        }
      st = read_part (part, copies[p], &done, total, progress, user_data, err);
      /* The weights are never written: make the copy read-only like the file mapping. */
      if (st == SM_OK && mprotect (copies[p], (size_t) mapped[p], PROT_READ) != 0)
        st = sm_error_set (err, SM_ERR_IO, "mprotect failed: %s", strerror (errno));
    }
  if (st != SM_OK)
    goto out;

  /* Everything is read: only now point the tensors at the copies. */
  for (int64_t i = 0; i < g->n_tensors; i++)
    {
      sm_gguf_tensor *t = &g->tensors[i];
      const gguf_part *part = &g->parts[t->split];

      assert (t->data == part->base + part->data_offset + t->offset);
      if (t->size == 0 && copies[t->split] == NULL)
        continue; /* an empty tensor at the very end of a part without data */
      t->data = copies[t->split] + t->offset;
    }
  for (uint32_t p = 0; p < g->n_parts; p++)
    {
      g->parts[p].copy = copies[p];
      g->parts[p].copy_mapped = mapped[p];
      copies[p] = NULL;
    }

out:
  if (copies != NULL)
    for (uint32_t p = 0; p < g->n_parts; p++)
      if (copies[p] != NULL)
        munmap (copies[p], (size_t) mapped[p]);
  free (copies);
  free (mapped);
  return st;
}

/* ---- Accessors ---- */

uint32_t
sm_gguf_get_version (const sm_gguf *g)
{
  return g->version;
}

uint32_t
sm_gguf_get_alignment (const sm_gguf *g)
{
  return g->alignment;
}

uint64_t
sm_gguf_get_data_offset (const sm_gguf *g)
{
  return g->parts[0].data_offset;
}

uint64_t
sm_gguf_get_file_size (const sm_gguf *g)
{
  uint64_t total = 0;

  for (uint32_t p = 0; p < g->n_parts; p++)
    total += g->parts[p].size;
  return total;
}

uint32_t
sm_gguf_get_n_splits (const sm_gguf *g)
{
  return g->n_parts;
}

const char *
sm_gguf_get_split_path (const sm_gguf *g,
                        uint32_t       i)
{
  assert (i < g->n_parts);
  return g->parts[i].path;
}

uint64_t
sm_gguf_get_split_size (const sm_gguf *g,
                        uint32_t       i)
{
  assert (i < g->n_parts);
  return g->parts[i].size;
}

uint64_t
sm_gguf_get_split_data_offset (const sm_gguf *g,
                               uint32_t       i)
{
  assert (i < g->n_parts);
  return g->parts[i].data_offset;
}

int64_t
sm_gguf_get_n_kv (const sm_gguf *g)
{
  return g->n_kv;
}

const char *
sm_gguf_get_key (const sm_gguf *g,
                 int64_t        i)
{
  assert (i >= 0 && i < g->n_kv);
  return g->kvs[i].key;
}

int64_t
sm_gguf_find_key (const sm_gguf *g,
                  const char    *key)
{
  uint64_t slot;

  if (g->kv_index.slots == NULL)
    return -1;
  slot = index_slot (&g->kv_index, g, kv_name, key);
  return g->kv_index.slots[slot];
}

sm_gguf_type
sm_gguf_get_kv_type (const sm_gguf *g,
                     int64_t        i)
{
  assert (i >= 0 && i < g->n_kv);
  return g->kvs[i].type;
}

static const gguf_kv *
scalar (const sm_gguf *g,
        int64_t        i,
        sm_gguf_type   type)
{
  assert (i >= 0 && i < g->n_kv);
  assert (g->kvs[i].type == type);
  (void) type;
  return &g->kvs[i];
}

#define GETTER(fn, ctype, gtype)                                  \
  ctype                                                           \
  fn (const sm_gguf *g,                                           \
      int64_t        i)                                           \
  {                                                               \
    ctype v;                                                      \
    memcpy (&v, scalar (g, i, gtype)->data, sizeof v);            \
    return v;                                                     \
  }

GETTER (sm_gguf_get_u8, uint8_t, SM_GGUF_TYPE_UINT8)
GETTER (sm_gguf_get_i8, int8_t, SM_GGUF_TYPE_INT8)
GETTER (sm_gguf_get_u16, uint16_t, SM_GGUF_TYPE_UINT16)
GETTER (sm_gguf_get_i16, int16_t, SM_GGUF_TYPE_INT16)
GETTER (sm_gguf_get_u32, uint32_t, SM_GGUF_TYPE_UINT32)
GETTER (sm_gguf_get_i32, int32_t, SM_GGUF_TYPE_INT32)
GETTER (sm_gguf_get_f32, float, SM_GGUF_TYPE_FLOAT32)
GETTER (sm_gguf_get_u64, uint64_t, SM_GGUF_TYPE_UINT64)
GETTER (sm_gguf_get_i64, int64_t, SM_GGUF_TYPE_INT64)
GETTER (sm_gguf_get_f64, double, SM_GGUF_TYPE_FLOAT64)

#undef GETTER

bool
sm_gguf_get_bool (const sm_gguf *g,
                  int64_t        i)
{
  return scalar (g, i, SM_GGUF_TYPE_BOOL)->data[0] != 0;
}

sm_gguf_str
sm_gguf_get_str (const sm_gguf *g,
                 int64_t        i)
{
  const gguf_kv *kv = scalar (g, i, SM_GGUF_TYPE_STRING);
  sm_gguf_str s = { (const char *) kv->data, kv->len };

  return s;
}

/* Any integer type as signed/unsigned 64 bits; false for other types. */
static bool
kv_integer (const gguf_kv *kv,
            bool          *negative,
            uint64_t      *magnitude_or_value,
            int64_t       *signed_value)
{
  union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
          uint64_t u64; int64_t i64; } v;
  int64_t s;

  memset (&v, 0, sizeof v);
  switch (kv->type)
    {
    case SM_GGUF_TYPE_UINT8: memcpy (&v.u8, kv->data, 1); *magnitude_or_value = v.u8; break;
    case SM_GGUF_TYPE_UINT16: memcpy (&v.u16, kv->data, 2); *magnitude_or_value = v.u16; break;
    case SM_GGUF_TYPE_UINT32: memcpy (&v.u32, kv->data, 4); *magnitude_or_value = v.u32; break;
    case SM_GGUF_TYPE_UINT64: memcpy (&v.u64, kv->data, 8); *magnitude_or_value = v.u64; break;
    case SM_GGUF_TYPE_INT8: memcpy (&v.i8, kv->data, 1); s = v.i8; goto sgn;
    case SM_GGUF_TYPE_INT16: memcpy (&v.i16, kv->data, 2); s = v.i16; goto sgn;
    case SM_GGUF_TYPE_INT32: memcpy (&v.i32, kv->data, 4); s = v.i32; goto sgn;
    case SM_GGUF_TYPE_INT64: memcpy (&v.i64, kv->data, 8); s = v.i64; goto sgn;
    default:
      return false;
    }
  *negative = false;
  *signed_value = *magnitude_or_value > INT64_MAX ? 0 : (int64_t) *magnitude_or_value;
  return true;

sgn:
  *negative = s < 0;
  *signed_value = s;
  *magnitude_or_value = s < 0 ? 0 : (uint64_t) s;
  return true;
}

bool
sm_gguf_find_uint (const sm_gguf *g,
                   const char    *key,
                   uint64_t      *out)
{
  int64_t i = sm_gguf_find_key (g, key), s;
  bool neg;
  uint64_t u;

  if (i < 0 || !kv_integer (&g->kvs[i], &neg, &u, &s) || neg)
    return false;
  *out = u;
  return true;
}

bool
sm_gguf_find_int (const sm_gguf *g,
                  const char    *key,
                  int64_t       *out)
{
  int64_t i = sm_gguf_find_key (g, key), s;
  bool neg;
  uint64_t u;

  if (i < 0 || !kv_integer (&g->kvs[i], &neg, &u, &s))
    return false;
  if (!neg && u > INT64_MAX)
    return false;
  *out = s;
  return true;
}

bool
sm_gguf_find_float (const sm_gguf *g,
                    const char    *key,
                    double        *out)
{
  int64_t i = sm_gguf_find_key (g, key), s;
  bool neg;
  uint64_t u;

  if (i < 0)
    return false;
  if (g->kvs[i].type == SM_GGUF_TYPE_FLOAT32)
    *out = sm_gguf_get_f32 (g, i);
  else if (g->kvs[i].type == SM_GGUF_TYPE_FLOAT64)
    *out = sm_gguf_get_f64 (g, i);
  else if (kv_integer (&g->kvs[i], &neg, &u, &s))
    *out = neg ? (double) s : (double) u;
  else
    return false;
  return true;
}

bool
sm_gguf_find_bool (const sm_gguf *g,
                   const char    *key,
                   bool          *out)
{
  int64_t i = sm_gguf_find_key (g, key);

  if (i < 0 || g->kvs[i].type != SM_GGUF_TYPE_BOOL)
    return false;
  *out = sm_gguf_get_bool (g, i);
  return true;
}

bool
sm_gguf_find_str (const sm_gguf *g,
                  const char    *key,
                  sm_gguf_str   *out)
{
  int64_t i = sm_gguf_find_key (g, key);

  if (i < 0 || g->kvs[i].type != SM_GGUF_TYPE_STRING)
    return false;
  *out = sm_gguf_get_str (g, i);
  return true;
}

static const gguf_kv *
array (const sm_gguf *g,
       int64_t        i)
{
  assert (i >= 0 && i < g->n_kv);
  assert (g->kvs[i].type == SM_GGUF_TYPE_ARRAY);
  return &g->kvs[i];
}

sm_gguf_type
sm_gguf_get_arr_type (const sm_gguf *g,
                      int64_t        i)
{
  return array (g, i)->arr_type;
}

uint64_t
sm_gguf_get_arr_n (const sm_gguf *g,
                   int64_t        i)
{
  return array (g, i)->n;
}

const void *
sm_gguf_get_arr_data (const sm_gguf *g,
                      int64_t        i)
{
  const gguf_kv *kv = array (g, i);

  assert (kv->arr_type != SM_GGUF_TYPE_STRING);
  return kv->data;
}

sm_gguf_str
sm_gguf_get_arr_str (const sm_gguf *g,
                     int64_t        i,
                     uint64_t       j)
{
  const gguf_kv *kv = array (g, i);
  sm_gguf_str s;

  assert (kv->arr_type == SM_GGUF_TYPE_STRING && j < kv->n);
  memcpy (&s.len, kv->strs[j], 8);
  s.ptr = (const char *) kv->strs[j] + 8;
  return s;
}

int64_t
sm_gguf_get_n_tensors (const sm_gguf *g)
{
  return g->n_tensors;
}

const sm_gguf_tensor *
sm_gguf_get_tensor (const sm_gguf *g,
                    int64_t        i)
{
  assert (i >= 0 && i < g->n_tensors);
  return &g->tensors[i];
}

const sm_gguf_tensor *
sm_gguf_find_tensor (const sm_gguf *g,
                     const char    *name)
{
  uint64_t slot;

  if (g->tensor_index.slots == NULL)
    return NULL;
  slot = index_slot (&g->tensor_index, g, tensor_name, name);
  return g->tensor_index.slots[slot] >= 0 ? &g->tensors[g->tensor_index.slots[slot]] : NULL;
}

int64_t
sm_gguf_tensor_nelements (const sm_gguf_tensor *t)
{
  return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}
