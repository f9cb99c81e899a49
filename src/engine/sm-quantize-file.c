/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-quantize-file.c: the streaming model quantizer (API in sm-quantize.h). Reads the mapped
 * input one tensor at a time, converts each row to f32 and quantizes it on the engine's compute
 * pool, and hands the finished tensor to the streaming GGUF writer, which writes `OUT.part`
 * and renames it at the end. Peak memory is one output tensor plus a row of scratch per thread:
 * input pages are dropped from the process (madvise) once a tensor is done. The pool is
 * sm-threadpool.h; the choice of types is sm-quantize.c; the block formats are sm-quant.h.
 */
#include "sm-quantize.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "sm-gguf.h"
#include "sm-imatrix.h"
#include "sm-quant.h"
#include "sm-quant-fast.h"
#include "sm-threadpool.h"

/* Work is handed out in chunks of at least this many elements (llama-quantize uses 32 x 512). */
#define MIN_CHUNK_ELEMENTS (32 * 512)
/* The progress callback (and so a cancel) runs after each slice of about this many input bytes:
 * well under a second of work even for the slowest types. */
#define SLICE_BYTES (8u << 20)
#define MAX_THREADS 256

/* ---- One tensor's rows ---- */

typedef struct
{
  const sm_gguf_tensor *src;
  sm_type               dst_type;
  uint8_t              *dst;
  int64_t               ne0;
  int64_t               rows_per_mat;  /* ne1: rows that share one imatrix slice */
  const float          *importance;    /* (ne0 x n_mat) or NULL */
  size_t                src_row_size;
  size_t                dst_row_size;
  int64_t               row_begin;     /* this slice; the pool's ranges are relative to it */
  atomic_int            failed;        /* FAIL_NONE or the kind of failure */
  atomic_int_fast64_t   bad_row;
  float               **scratch;       /* (n_threads) rows of ne0 floats */
  sm_row_to_f32_fn      to_f32;        /* SIMD conversion + finiteness check, or NULL */
} rows_job;

enum { FAIL_NONE, FAIL_NONFINITE, FAIL_QUANTIZE, FAIL_DEQUANTIZE };

static bool
row_to_f32 (sm_type     type,
            const void *src,
            float      *dst,
            int64_t     n)
{
  switch (type)
    {
    case SM_TYPE_F32:
      memcpy (dst, src, (size_t) n * sizeof (float));
      return true;
    case SM_TYPE_F16:
      {
        const uint8_t *s = src;
        for (int64_t i = 0; i < n; i++)
          {
            uint16_t h;
            memcpy (&h, s + 2 * i, 2);
            dst[i] = sm_fp16_to_fp32 (h);
          }
        return true;
      }
    case SM_TYPE_BF16:
      {
        const uint8_t *s = src;
        for (int64_t i = 0; i < n; i++)
          {
            uint16_t h;
            memcpy (&h, s + 2 * i, 2);
            dst[i] = sm_bf16_to_fp32 (h);
          }
        return true;
      }
    default:
      return sm_dequantize_row (type, src, dst, n);
    }
}

static void
rows_worker (void    *arg,
             int64_t  begin,
             int64_t  end,
             int      ith)
{
  rows_job *job = arg;
  float *row = job->scratch[ith];
  const uint8_t *src = job->src->data;

  if (atomic_load (&job->failed) != FAIL_NONE)
    return;
  for (int64_t r = job->row_begin + begin; r < job->row_begin + end; r++)
    {
      const float *imp = NULL;
      int64_t i;

      if (job->to_f32 != NULL)
        {
          if (!job->to_f32 (src + (size_t) r * job->src_row_size, row, job->ne0))
            {
              atomic_store (&job->failed, FAIL_NONFINITE);
              atomic_store (&job->bad_row, r);
              return;
            }
        }
      else if (!row_to_f32 (job->src->type, src + (size_t) r * job->src_row_size, row, job->ne0))
        {
          atomic_store (&job->failed, FAIL_DEQUANTIZE);
          atomic_store (&job->bad_row, r);
          return;
        }
      /* A NaN or Inf would poison a whole block's scale: refuse rather than write it. */
      for (i = 0; job->to_f32 == NULL && i < job->ne0 && isfinite (row[i]); i++)
        ;
      if (job->to_f32 == NULL && i < job->ne0)
        {
          atomic_store (&job->failed, FAIL_NONFINITE);
          atomic_store (&job->bad_row, r);
          return;
        }
      if (job->importance != NULL)
        imp = job->importance + (r / job->rows_per_mat) * job->ne0;
      if (sm_quantize_row (job->dst_type, row, job->dst + (size_t) r * job->dst_row_size,
                           job->ne0, imp) != job->dst_row_size)
        {
          atomic_store (&job->failed, FAIL_QUANTIZE);
          atomic_store (&job->bad_row, r);
          return;
        }
    }
}

/* ---- The file ---- */

typedef struct
{
  sm_gguf          *in;
  sm_gguf_writer   *w;
  sm_imatrix       *imatrix;
  sm_quantize_plan *plan;
  sm_threadpool    *pool;
  uint8_t          *out_buf;
  float           **scratch;
  int               n_scratch;
} run_state;

static void
run_state_clear (run_state *s)
{
  sm_gguf_writer_free (s->w); /* removes the .part files of an unfinished write */
  sm_threadpool_free (s->pool);
  if (s->scratch != NULL)
    for (int i = 0; i < s->n_scratch; i++)
      free (s->scratch[i]);
  free (s->scratch);
  free (s->out_buf);
  sm_quantize_plan_free (s->plan);
  sm_imatrix_free (s->imatrix);
  sm_gguf_free (s->in);
}

static bool
same_file (const char *a,
           const char *b)
{
  struct stat sa, sb;

  if (strcmp (a, b) == 0)
    return true;
  return stat (a, &sa) == 0 && stat (b, &sb) == 0 && sa.st_dev == sb.st_dev
         && sa.st_ino == sb.st_ino;
}

static uint32_t
find_u32 (const sm_gguf *g,
          const char    *arch,
          const char    *suffix)
{
  char key[128];
  uint64_t v = 0;

  snprintf (key, sizeof key, "%s.%s", arch, suffix);
  if (!sm_gguf_find_uint (g, key, &v) || v > UINT32_MAX)
    return 0;
  return (uint32_t) v;
}

/* Drops the pages of [p, p + n) from this process: the file stays in the page cache but no longer
 * counts as our memory. */
static void
release_input (const void *p,
               uint64_t    n)
{
  long page = sysconf (_SC_PAGESIZE);
  uintptr_t a = (uintptr_t) p, b = a + n;

  if (page <= 0)
    return;
  a = (a + (uintptr_t) page - 1) & ~((uintptr_t) page - 1);
  b &= ~((uintptr_t) page - 1);
  if (b > a)
    madvise ((void *) a, b - a, MADV_DONTNEED);
}

static char *
dir_of (const char *path)
{
  const char *slash = strrchr (path, '/');
  size_t n;
  char *d;

  if (slash == NULL)
    return strdup (".");
  n = slash == path ? 1 : (size_t) (slash - path);
  d = malloc (n + 1);
  if (d != NULL)
    {
      memcpy (d, path, n);
      d[n] = '\0';
    }
  return d;
}

static sm_status
check_space (const char *out_path,
             uint64_t    need,
             sm_error   *err)
{
  struct statvfs vfs;
  char *dir = dir_of (out_path);
  int rc;

  if (dir == NULL)
    return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
  rc = statvfs (dir, &vfs);
  if (rc != 0)
    {
      sm_error_set (err, SM_ERR_IO, "%s: %s", dir, strerror (errno));
      free (dir);
      return SM_ERR_IO;
    }
  if ((uint64_t) vfs.f_bavail * vfs.f_frsize < need)
    {
      sm_error_set (err, SM_ERR_NO_SPACE, "%s: %.1f MB free, the output needs %.1f MB", dir,
                    (double) vfs.f_bavail * vfs.f_frsize / 1e6, (double) need / 1e6);
      free (dir);
      return SM_ERR_NO_SPACE;
    }
  free (dir);
  return SM_OK;
}

/* The plan of an opened model: its tensors and the hyper-parameters the mix rules look at. */
static sm_status
plan_gguf (const sm_gguf             *in,
           const sm_quantize_params  *p,
           sm_quantize_plan         **out,
           sm_error                  *err)
{
  sm_quantize_model_info info = { 0 };
  sm_quantize_tensor_desc *descs;
  int64_t n_tensors = sm_gguf_get_n_tensors (in);
  sm_gguf_str arch_str;
  char arch[64] = "";
  sm_status st;

  if (sm_gguf_find_str (in, "general.architecture", &arch_str) && arch_str.len < sizeof arch)
    {
      memcpy (arch, arch_str.ptr, arch_str.len);
      arch[arch_str.len] = '\0';
      info.arch = arch;
      info.n_layer = find_u32 (in, arch, "block_count");
      info.n_head = find_u32 (in, arch, "attention.head_count");
      info.n_head_kv = find_u32 (in, arch, "attention.head_count_kv");
      info.n_expert = find_u32 (in, arch, "expert_count");
    }
  descs = calloc ((size_t) n_tensors + 1, sizeof *descs);
  if (descs == NULL)
    return sm_error_set (err, SM_ERR_NOMEM, "out of memory");
  for (int64_t i = 0; i < n_tensors; i++)
    {
      const sm_gguf_tensor *t = sm_gguf_get_tensor (in, i);

      descs[i].name = t->name;
      descs[i].n_dims = t->n_dims;
      memcpy (descs[i].ne, t->ne, sizeof descs[i].ne);
      descs[i].type = t->type;
    }
  st = sm_quantize_plan_make (descs, (size_t) n_tensors, &info, p, out, err);
  free (descs);
  return st;
}

sm_status
sm_quantize_plan_file (const char               *in_path,
                       const sm_quantize_params *params,
                       sm_quantize_plan        **out,
                       uint64_t                 *out_bytes,
                       sm_error                 *err)
{
  sm_quantize_params p = *params;
  sm_gguf *in = NULL;
  sm_status st;

  *out = NULL;
  if (out_bytes != NULL)
    *out_bytes = 0;
  st = sm_gguf_open (in_path, &in, err);
  if (st != SM_OK)
    {
      sm_error_prefix (err, in_path);
      return st;
    }
  p.has_imatrix = p.has_imatrix || p.imatrix_path != NULL;
  st = plan_gguf (in, &p, out, err);
  if (st == SM_OK && out_bytes != NULL)
    for (size_t k = 0; k < sm_quantize_plan_get_n (*out); k++)
      {
        const sm_quantize_plan_entry *e = sm_quantize_plan_get (*out, k);
        const sm_gguf_tensor *t = sm_gguf_get_tensor (in, e->src_index);
        int64_t rows = t->ne[0] > 0 ? sm_gguf_tensor_nelements (t) / t->ne[0] : 0;

        *out_bytes += (uint64_t) rows * sm_type_row_size (e->type, t->ne[0]);
      }
  sm_gguf_free (in);
  return st;
}

sm_status
sm_quantize_file (const char               *in_path,
                  const char               *out_path,
                  const sm_quantize_params *params,
                  sm_error                 *err)
{
  run_state s = { 0 };
  sm_quantize_params p = *params;
  uint64_t bytes_total = 0, bytes_done = 0, out_bytes = 0, max_out = 0;
  int64_t max_ne0 = 0;
  int n_threads;
  sm_status st;

  if (in_path == NULL || out_path == NULL || *out_path == '\0')
    return sm_error_set (err, SM_ERR_INVALID_ARG, "input and output paths are required");

  st = sm_gguf_open (in_path, &s.in, err);
  if (st != SM_OK)
    {
      sm_error_prefix (err, in_path);
      return st;
    }
  for (uint32_t k = 0; k < sm_gguf_get_n_splits (s.in); k++)
    if (same_file (sm_gguf_get_split_path (s.in, k), out_path))
      {
        run_state_clear (&s);
        return sm_error_set (err, SM_ERR_INVALID_ARG,
                             "the output %s is the input: choose another name", out_path);
      }

  if (p.imatrix_path != NULL)
    {
      st = sm_imatrix_open (p.imatrix_path, &s.imatrix, err);
      if (st != SM_OK)
        goto out;
      p.has_imatrix = true;
    }

  for (int64_t i = 0; i < sm_gguf_get_n_tensors (s.in); i++)
    bytes_total += sm_gguf_get_tensor (s.in, i)->size;
  st = plan_gguf (s.in, &p, &s.plan, err);
  if (st != SM_OK)
    goto out;

  /* Check every tensor before writing anything. */
  for (size_t k = 0; k < sm_quantize_plan_get_n (s.plan); k++)
    {
      const sm_quantize_plan_entry *e = sm_quantize_plan_get (s.plan, k);
      const sm_gguf_tensor *t = sm_gguf_get_tensor (s.in, e->src_index);
      const sm_type_traits *src_tr = sm_type_get_traits (t->type);
      uint64_t rows = t->ne[0] > 0 ? (uint64_t) (sm_gguf_tensor_nelements (t) / t->ne[0]) : 0;
      uint64_t size = rows * sm_type_row_size (e->type, t->ne[0]);

      if (e->quantize)
        {
          if (src_tr->quantized && !p.allow_requantize)
            {
              st = sm_error_set (err, SM_ERR_INVALID_ARG,
                                 "tensor '%s' is already quantized (%s); making it %s needs "
                                 "--allow-requantize", t->name, src_tr->upper,
                                 sm_type_get_traits (e->type)->upper);
              goto out;
            }
          if (t->type != SM_TYPE_F32 && t->type != SM_TYPE_F16 && t->type != SM_TYPE_BF16
              && !sm_quant_can_dequantize (t->type))
            {
              st = sm_error_set (err, SM_ERR_UNSUPPORTED, "tensor '%s': cannot read type %s",
                                 t->name, src_tr->upper);
              goto out;
            }
          if (!sm_quant_can_quantize (e->type))
            {
              st = sm_error_set (err, SM_ERR_UNSUPPORTED, "tensor '%s': cannot make type %s",
                                 t->name, sm_type_get_traits (e->type)->upper);
              goto out;
            }
          if (s.imatrix != NULL)
            {
              int64_t n_values;

              if (sm_imatrix_find (s.imatrix, t->name, &n_values) != NULL
                  && n_values != t->ne[0] * t->ne[2])
                {
                  st = sm_error_set (err, SM_ERR_INVALID_ARG,
                                     "imatrix entry '%s' has %lld values, the tensor needs %lld",
                                     t->name, (long long) n_values,
                                     (long long) (t->ne[0] * t->ne[2]));
                  goto out;
                }
            }
          if (size > max_out)
            max_out = size;
          if (t->ne[0] > max_ne0)
            max_ne0 = t->ne[0];
        }
      out_bytes += size + 64; /* + alignment padding */
    }

  /* The output's metadata: the input's minus split.* (the writer adds its own for a split output)
   * and the alignment (llama-quantize writes 32), then the quantizer's keys. */
  s.w = sm_gguf_writer_new ();
  if (s.w == NULL)
    {
      st = sm_error_set (err, SM_ERR_NOMEM, "out of memory");
      goto out;
    }
  for (int64_t i = 0; i < sm_gguf_get_n_kv (s.in); i++)
    {
      const char *key = sm_gguf_get_key (s.in, i);

      if (strncmp (key, "split.", 6) == 0 || strcmp (key, "general.alignment") == 0)
        continue;
      sm_gguf_writer_copy_kv (s.w, s.in, i);
    }
  sm_gguf_writer_set_u32 (s.w, "general.quantization_version", 2);
  sm_gguf_writer_set_u32 (s.w, "general.file_type", (uint32_t) p.ftype);
  if (s.imatrix != NULL)
    {
      sm_gguf_writer_set_str (s.w, "quantize.imatrix.file", p.imatrix_path);
      sm_gguf_writer_set_str (s.w, "quantize.imatrix.dataset", sm_imatrix_get_dataset (s.imatrix));
      sm_gguf_writer_set_i32 (s.w, "quantize.imatrix.entries_count",
                              (int32_t) sm_imatrix_get_n_entries (s.imatrix));
      sm_gguf_writer_set_i32 (s.w, "quantize.imatrix.chunks_count",
                              (int32_t) sm_imatrix_get_chunk_count (s.imatrix));
    }
  for (size_t k = 0; k < sm_quantize_plan_get_n (s.plan); k++)
    {
      const sm_quantize_plan_entry *e = sm_quantize_plan_get (s.plan, k);
      const sm_gguf_tensor *t = sm_gguf_get_tensor (s.in, e->src_index);

      st = sm_gguf_writer_add_tensor (s.w, t->name, e->type, t->n_dims, t->ne, err);
      if (st != SM_OK)
        goto out;
    }
  sm_gguf_writer_set_split (s.w, p.split_max_size, 0);

  /* Header and metadata are at most the input's plus a little. */
  st = check_space (out_path, out_bytes + sm_gguf_get_data_offset (s.in) + (1u << 16), err);
  if (st != SM_OK)
    goto out;

  /* 0: the pool's default (the physical cores this process may use). */
  n_threads = p.n_threads > MAX_THREADS ? MAX_THREADS : p.n_threads;
  s.pool = sm_threadpool_new (n_threads);
  if (s.pool == NULL)
    {
      st = sm_error_set (err, SM_ERR_NOMEM, "cannot start %d threads", n_threads);
      goto out;
    }
  s.n_scratch = sm_threadpool_get_n_threads (s.pool);
  s.scratch = calloc ((size_t) s.n_scratch, sizeof *s.scratch);
  if (max_out > 0)
    s.out_buf = malloc (max_out);
  if (s.scratch == NULL || (max_out > 0 && s.out_buf == NULL))
    {
      st = sm_error_set (err, SM_ERR_NOMEM, "cannot allocate %.1f MB for the largest tensor",
                         (double) max_out / 1e6);
      goto out;
    }
  for (int i = 0; i < s.n_scratch; i++)
    if ((s.scratch[i] = malloc ((size_t) (max_ne0 > 0 ? max_ne0 : 1) * sizeof (float))) == NULL)
      {
        st = sm_error_set (err, SM_ERR_NOMEM, "out of memory");
        goto out;
      }

  st = sm_gguf_writer_begin (s.w, out_path, err);
  if (st != SM_OK)
    goto out;

  for (size_t k = 0; k < sm_quantize_plan_get_n (s.plan); k++)
    {
      const sm_quantize_plan_entry *e = sm_quantize_plan_get (s.plan, k);
      const sm_gguf_tensor *t = sm_gguf_get_tensor (s.in, e->src_index);
      int64_t n_rows = t->ne[0] > 0 ? sm_gguf_tensor_nelements (t) / t->ne[0] : 0;
      uint64_t out_size;

      if (p.progress != NULL
          && !p.progress ((int64_t) k, (int64_t) sm_quantize_plan_get_n (s.plan), bytes_done,
                          bytes_total, p.progress_data))
        {
          st = sm_error_set (err, SM_ERR_CANCELLED, "cancelled");
          goto out;
        }

      if (!e->quantize || n_rows == 0)
        {
          st = sm_gguf_writer_write_tensor (s.w, t->data, t->size, err);
          if (st != SM_OK)
            goto out;
          release_input (t->data, t->size);
          bytes_done += t->size;
          continue;
        }

      {
        rows_job job;
        int64_t rows_per_slice, chunk_rows;

        memset (&job, 0, sizeof job);
        job.src = t;
        job.dst_type = e->type;
        job.dst = s.out_buf;
        job.ne0 = t->ne[0];
        job.rows_per_mat = t->ne[1];
        job.src_row_size = (size_t) (t->size / (uint64_t) n_rows);
        job.dst_row_size = sm_type_row_size (e->type, t->ne[0]);
        chunk_rows = (MIN_CHUNK_ELEMENTS + job.ne0 - 1) / job.ne0;
        job.scratch = s.scratch;
        job.to_f32 = sm_quantize_fast_to_f32 (t->type);
        if (s.imatrix != NULL && t->ne[3] == 1)
          {
            int64_t n_values;
            job.importance = sm_imatrix_find (s.imatrix, t->name, &n_values);
          }
        out_size = (uint64_t) n_rows * job.dst_row_size;
        rows_per_slice = (int64_t) (SLICE_BYTES / (job.src_row_size ? job.src_row_size : 1));
        if (rows_per_slice < chunk_rows * s.n_scratch)
          rows_per_slice = chunk_rows * s.n_scratch;

        for (int64_t r = 0; r < n_rows; r += rows_per_slice)
          {
            int64_t row_end = r + rows_per_slice < n_rows ? r + rows_per_slice : n_rows;

            job.row_begin = r;
            sm_threadpool_parallel_for (s.pool, row_end - r, chunk_rows, rows_worker, &job);
            if (atomic_load (&job.failed) != FAIL_NONE)
              {
                int kind = atomic_load (&job.failed);
                long long row = (long long) atomic_load (&job.bad_row);

                st = sm_error_set (err, SM_ERR_FORMAT, "tensor '%s', row %lld: %s", t->name, row,
                                   kind == FAIL_NONFINITE ? "NaN or infinity in the weights"
                                   : kind == FAIL_DEQUANTIZE ? "cannot decode the input"
                                                             : "quantization failed");
                goto out;
              }
            release_input ((const uint8_t *) t->data + (size_t) r * job.src_row_size,
                           (uint64_t) (row_end - r) * job.src_row_size);
            bytes_done += (uint64_t) (row_end - r) * job.src_row_size;
            if (p.progress != NULL && row_end < n_rows
                && !p.progress ((int64_t) k, (int64_t) sm_quantize_plan_get_n (s.plan),
                                bytes_done, bytes_total, p.progress_data))
              {
                st = sm_error_set (err, SM_ERR_CANCELLED, "cancelled");
                goto out;
              }
          }
        st = sm_gguf_writer_write_tensor (s.w, s.out_buf, out_size, err);
        if (st != SM_OK)
          goto out;
      }
    }

  st = sm_gguf_writer_finish (s.w, err);
  if (st == SM_OK && p.progress != NULL)
    {
      int64_t n = (int64_t) sm_quantize_plan_get_n (s.plan);
      p.progress (n, n, bytes_total, bytes_total, p.progress_data);
    }

out:
  run_state_clear (&s);
  return st;
}
