/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-imatrix.c: reading llama.cpp importance matrices, GGUF and legacy .dat (formats.md section 6).
 * Everything is copied into one owned table of (name, values) so the quantizer never touches the
 * file again. Not a writer.
 */
#include "sm-imatrix.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sm-gguf.h"

/* Cap on one legacy file: an imatrix of a 1T-parameter model is well under this. */
#define MAX_LEGACY_FILE (1ull << 32)

typedef struct
{
  char    *name;     /* owned */
  float   *values;   /* (n_values) owned */
  int64_t  n_values;
} entry;

struct sm_imatrix
{
  entry   *entries;   /* (n) */
  size_t   n;
  char    *dataset;   /* owned, "" when none */
  int64_t  chunk_count;
};

void
sm_imatrix_free (sm_imatrix *im)
{
  if (im == NULL)
    return;
  for (size_t i = 0; i < im->n; i++)
    {
      free (im->entries[i].name);
      free (im->entries[i].values);
    }
  free (im->entries);
  free (im->dataset);
  free (im);
}

size_t
sm_imatrix_get_n_entries (const sm_imatrix *im)
{
  return im->n;
}

const char *
sm_imatrix_get_name (const sm_imatrix *im,
                     size_t            i)
{
  return i < im->n ? im->entries[i].name : NULL;
}

const float *
sm_imatrix_find (const sm_imatrix *im,
                 const char       *name,
                 int64_t          *n_values)
{
  for (size_t i = 0; i < im->n; i++)
    if (strcmp (im->entries[i].name, name) == 0)
      {
        *n_values = im->entries[i].n_values;
        return im->entries[i].values;
      }
  *n_values = 0;
  return NULL;
}

const char *
sm_imatrix_get_dataset (const sm_imatrix *im)
{
  return im->dataset != NULL ? im->dataset : "";
}

int64_t
sm_imatrix_get_chunk_count (const sm_imatrix *im)
{
  return im->chunk_count;
}

static char *
strndup_safe (const char *s,
              size_t      n)
{
  char *r = malloc (n + 1);

  if (r != NULL)
    {
      memcpy (r, s, n);
      r[n] = '\0';
    }
  return r;
}

static sm_status
add_entry (sm_imatrix *im,
           size_t      cap,
           const char *name,
           size_t      name_len,
           float      *values,
           int64_t     n_values,
           sm_error   *err)
{
  entry *e;

  for (size_t i = 0; i < im->n; i++)
    if (strlen (im->entries[i].name) == name_len
        && memcmp (im->entries[i].name, name, name_len) == 0)
      {
        free (values);
        return sm_error_set (err, SM_ERR_FORMAT, "duplicate entry '%.*s'", (int) name_len, name);
      }
  if (im->n >= cap)
    {
      free (values);
      return sm_error_set (err, SM_ERR_FORMAT, "more entries than declared");
    }
  e = &im->entries[im->n];
  e->name = strndup_safe (name, name_len);
  if (e->name == NULL)
    {
      free (values);
      return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
    }
  e->values = values;
  e->n_values = n_values;
  im->n++;
  return SM_OK;
}

static bool
check_values (const float *v,
              int64_t      n)
{
  for (int64_t i = 0; i < n; i++)
    if (!isfinite (v[i]) || v[i] < 0.0f)
      return false;
  return true;
}

/* ---- legacy .dat ---- */

typedef struct
{
  const uint8_t *p;
  size_t         left;
  size_t         pos;
} cursor;

static bool
take (cursor *c,
      void   *dst,
      size_t  n)
{
  if (c->left < n)
    return false;
  memcpy (dst, c->p, n);
  c->p += n;
  c->left -= n;
  c->pos += n;
  return true;
}

static sm_status
parse_legacy (sm_imatrix    *im,
              const uint8_t *data,
              size_t         size,
              sm_error      *err)
{
  cursor c = { data, size, 0 };
  int32_t n_entries;

  if (!take (&c, &n_entries, 4))
    return sm_error_set (err, SM_ERR_FORMAT, "file too short for an entry count");
  /* Each entry needs at least 4 + 1 + 4 + 4 + 4 bytes. */
  if (n_entries < 0 || (uint64_t) n_entries > size / 17)
    return sm_error_set (err, SM_ERR_FORMAT, "entry count %d does not fit a file of %zu bytes",
                         n_entries, size);
  im->entries = calloc ((size_t) n_entries + 1, sizeof *im->entries);
  if (im->entries == NULL)
    return sm_error_set (err, SM_ERR_NOMEM, "out of memory");

  for (int32_t i = 0; i < n_entries; i++)
    {
      int32_t name_len, ncall, nval;
      const char *name;
      float *values;
      size_t at = c.pos;
      sm_status st;

      if (!take (&c, &name_len, 4))
        return sm_error_set (err, SM_ERR_FORMAT, "entry %d truncated at byte %zu", i, at);
      if (name_len <= 0 || (size_t) name_len > c.left || name_len > 4096)
        return sm_error_set (err, SM_ERR_FORMAT, "entry %d: bad name length %d at byte %zu", i,
                             name_len, at);
      name = (const char *) c.p;
      c.p += name_len;
      c.left -= (size_t) name_len;
      c.pos += (size_t) name_len;
      if (memchr (name, '\0', (size_t) name_len) != NULL)
        return sm_error_set (err, SM_ERR_FORMAT, "entry %d: NUL in name", i);
      if (!take (&c, &ncall, 4) || !take (&c, &nval, 4))
        return sm_error_set (err, SM_ERR_FORMAT, "entry '%.*s' truncated", name_len, name);
      if (ncall < 0 || nval <= 0 || (size_t) nval > c.left / 4)
        return sm_error_set (err, SM_ERR_FORMAT,
                             "entry '%.*s': bad counts (ncall %d, nval %d) at byte %zu",
                             name_len, name, ncall, nval, c.pos - 8);
      values = malloc ((size_t) nval * sizeof (float));
      if (values == NULL)
        return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
      take (&c, values, (size_t) nval * 4);
      if (!check_values (values, nval))
        {
          free (values);
          return sm_error_set (err, SM_ERR_FORMAT, "entry '%.*s': negative or non-finite value",
                               name_len, name);
        }
      /* Stored as mean x ncall. */
      if (ncall > 0)
        for (int32_t k = 0; k < nval; k++)
          values[k] /= (float) ncall;
      st = add_entry (im, (size_t) n_entries, name, (size_t) name_len, values, nval, err);
      if (st != SM_OK)
        return st;
    }

  /* Optional trailer: last chunk, then the dataset name. */
  if (c.left > 0)
    {
      int32_t last_chunk, len;

      if (!take (&c, &last_chunk, 4) || last_chunk < 0)
        return sm_error_set (err, SM_ERR_FORMAT, "bad trailer at byte %zu", c.pos);
      im->chunk_count = last_chunk;
      if (c.left > 0)
        {
          if (!take (&c, &len, 4) || len < 0 || (size_t) len != c.left)
            return sm_error_set (err, SM_ERR_FORMAT, "bad dataset name at byte %zu", c.pos);
          im->dataset = strndup_safe ((const char *) c.p, (size_t) len);
          if (im->dataset == NULL)
            return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
        }
    }
  return SM_OK;
}

static sm_status
open_legacy (sm_imatrix *im,
             const char *path,
             sm_error   *err)
{
  struct stat sb;
  uint8_t *data;
  FILE *f;
  sm_status st;

  f = fopen (path, "rb");
  if (f == NULL)
    return sm_error_set (err, SM_ERR_IO, "cannot open: %s", strerror (errno));
  if (fstat (fileno (f), &sb) != 0 || !S_ISREG (sb.st_mode))
    {
      fclose (f);
      return sm_error_set (err, SM_ERR_IO, "not a regular file");
    }
  if ((uint64_t) sb.st_size > MAX_LEGACY_FILE)
    {
      fclose (f);
      return sm_error_set (err, SM_ERR_FORMAT, "file too large for an imatrix");
    }
  data = malloc ((size_t) sb.st_size + 1);
  if (data == NULL)
    {
      fclose (f);
      return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
    }
  if (fread (data, 1, (size_t) sb.st_size, f) != (size_t) sb.st_size)
    {
      free (data);
      fclose (f);
      return sm_error_set (err, SM_ERR_IO, "read failed");
    }
  fclose (f);
  st = parse_legacy (im, data, (size_t) sb.st_size, err);
  free (data);
  return st;
}

/* ---- GGUF imatrix ---- */

static sm_status
open_gguf (sm_imatrix *im,
           const char *path,
           sm_error   *err)
{
  sm_gguf *g = NULL;
  sm_gguf_str type_str;
  uint64_t chunk_count, chunk_size;
  int64_t ds, n_tensors;
  sm_status st;
  static const char sfx[] = ".in_sum2";

  st = sm_gguf_open (path, &g, err);
  if (st != SM_OK)
    return st;
  if (sm_gguf_find_str (g, "general.type", &type_str)
      && !(type_str.len == 7 && memcmp (type_str.ptr, "imatrix", 7) == 0))
    {
      sm_error_set (err, SM_ERR_FORMAT, "a GGUF file but not an imatrix (general.type '%.*s')",
                    (int) (type_str.len > 64 ? 64 : type_str.len), type_str.ptr);
      sm_gguf_free (g);
      return SM_ERR_FORMAT;
    }
  ds = sm_gguf_find_key (g, "imatrix.datasets");
  if (ds < 0 || sm_gguf_get_kv_type (g, ds) != SM_GGUF_TYPE_ARRAY
      || sm_gguf_get_arr_type (g, ds) != SM_GGUF_TYPE_STRING
      || !sm_gguf_find_uint (g, "imatrix.chunk_count", &chunk_count)
      || !sm_gguf_find_uint (g, "imatrix.chunk_size", &chunk_size))
    {
      sm_gguf_free (g);
      return sm_error_set (err, SM_ERR_FORMAT, "GGUF imatrix without imatrix.datasets, "
                                               "imatrix.chunk_count and imatrix.chunk_size");
    }
  im->chunk_count = (int64_t) (chunk_count > INT64_MAX ? INT64_MAX : chunk_count);
  if (sm_gguf_get_arr_n (g, ds) > 0)
    {
      sm_gguf_str s = sm_gguf_get_arr_str (g, ds, 0);
      im->dataset = strndup_safe (s.ptr, s.len > 4096 ? 4096 : s.len);
    }
  else
    im->dataset = strndup_safe ("", 0);
  if (im->dataset == NULL)
    {
      sm_gguf_free (g);
      return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
    }

  n_tensors = sm_gguf_get_n_tensors (g);
  im->entries = calloc ((size_t) n_tensors + 1, sizeof *im->entries);
  if (im->entries == NULL)
    {
      sm_gguf_free (g);
      return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
    }
  for (int64_t i = 0; i < n_tensors && st == SM_OK; i++)
    {
      const sm_gguf_tensor *sum = sm_gguf_get_tensor (g, i), *cnt;
      size_t len = strlen (sum->name), base_len;
      char counts_name[SM_GGUF_MAX_NAME + 8];
      int64_t ne0, n_mat;
      const float *s, *c;
      float *values;

      if (len < sizeof sfx - 1 || strcmp (sum->name + len - (sizeof sfx - 1), sfx) != 0)
        continue; /* a .counts tensor, handled with its in_sum2 */
      base_len = len - (sizeof sfx - 1);
      snprintf (counts_name, sizeof counts_name, "%.*s.counts", (int) base_len, sum->name);
      cnt = sm_gguf_find_tensor (g, counts_name);
      ne0 = sum->ne[0];
      n_mat = sum->ne[1];
      if (cnt == NULL)
        st = sm_error_set (err, SM_ERR_FORMAT, "'%s' has no '%s'", sum->name, counts_name);
      else if (sum->type != SM_TYPE_F32 || cnt->type != SM_TYPE_F32)
        st = sm_error_set (err, SM_ERR_FORMAT, "'%s' and its counts must be F32", sum->name);
      else if (sum->ne[2] != 1 || sum->ne[3] != 1 || cnt->ne[0] != 1 || cnt->ne[1] != n_mat
               || cnt->ne[2] != 1 || cnt->ne[3] != 1 || ne0 <= 0 || n_mat <= 0)
        st = sm_error_set (err, SM_ERR_FORMAT, "'%s': shapes [%lld, %lld] and counts [%lld, %lld] "
                           "do not match", sum->name, (long long) ne0, (long long) n_mat,
                           (long long) cnt->ne[0], (long long) cnt->ne[1]);
      if (st != SM_OK)
        break;
      values = malloc ((size_t) (ne0 * n_mat) * sizeof (float));
      if (values == NULL)
        {
          st = sm_error_set (err, SM_ERR_NOMEM, "out of memory");
          break;
        }
      s = sum->data;
      c = cnt->data;
      for (int64_t m = 0; m < n_mat; m++)
        {
          float count;

          memcpy (&count, &c[m], sizeof count);
          for (int64_t k = 0; k < ne0; k++)
            {
              float v;

              memcpy (&v, &s[m * ne0 + k], sizeof v);
              /* A matrix never counted (expert never routed) gets neutral weights. */
              values[m * ne0 + k] = count > 0.0f ? v / count : 1.0f;
            }
          if (!isfinite (count) || count < 0.0f)
            {
              st = sm_error_set (err, SM_ERR_FORMAT, "'%s': bad count", counts_name);
              break;
            }
        }
      if (st == SM_OK && !check_values (values, ne0 * n_mat))
        st = sm_error_set (err, SM_ERR_FORMAT, "'%s': negative or non-finite value", sum->name);
      if (st != SM_OK)
        {
          free (values);
          break;
        }
      st = add_entry (im, (size_t) n_tensors, sum->name, base_len, values, ne0 * n_mat, err);
    }
  sm_gguf_free (g);
  return st;
}

sm_status
sm_imatrix_open (const char  *path,
                 sm_imatrix **out,
                 sm_error    *err)
{
  uint8_t magic[4] = { 0 };
  sm_imatrix *im;
  sm_status st;
  FILE *f;
  bool is_gguf;

  *out = NULL;
  f = fopen (path, "rb");
  if (f == NULL)
    {
      sm_error_set (err, SM_ERR_IO, "cannot open: %s", strerror (errno));
      sm_error_prefix (err, path);
      return SM_ERR_IO;
    }
  is_gguf = fread (magic, 1, 4, f) == 4 && memcmp (magic, "GGUF", 4) == 0;
  fclose (f);

  im = calloc (1, sizeof *im);
  if (im == NULL)
    return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
  st = is_gguf ? open_gguf (im, path, err) : open_legacy (im, path, err);
  if (st != SM_OK)
    {
      sm_error_prefix (err, path);
      sm_imatrix_free (im);
      return st;
    }
  if (im->n == 0)
    {
      sm_imatrix_free (im);
      sm_error_set (err, SM_ERR_FORMAT, "no entries");
      sm_error_prefix (err, path);
      return SM_ERR_FORMAT;
    }
  *out = im;
  return SM_OK;
}
