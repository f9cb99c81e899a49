/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-quantize-file.c: the streaming model quantizer end to end. A small llama-shaped model
 * (random F32/F16/BF16 weights, fixed seed, rows of 256 plus one tensor with rows of 96) is written
 * with Smelt's own writer, quantized to every TYPE and read back with the GGUF reader: tensor
 * types follow the plan, metadata is right, values decode close to the input. Then cancel,
 * refusals, requantizing, imatrix, threads and split input/output.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sm-gguf.h"
#include "sm-quant.h"
#include "sm-quantize.h"
#include "sm-test-model.h"

typedef struct
{
  char *dir;
  char *model;  /* the F32/F16/BF16 input */
} Fixture;

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  sm_test_model_spec spec;
  sm_error err = { 0 };
  GError *error = NULL;

  f->dir = g_dir_make_tmp ("smelt-quantize-XXXXXX", &error);
  g_assert_no_error (error);
  f->model = g_build_filename (f->dir, "model-f32.gguf", NULL);
  sm_test_model_default_spec (&spec);
  spec.odd_tensor = true;
  g_assert_cmpint (sm_test_model_write (f->model, &spec, &err), ==, SM_OK);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  GDir *d = g_dir_open (f->dir, 0, NULL);
  const char *n;

  while (d != NULL && (n = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *p = g_build_filename (f->dir, n, NULL);
      g_unlink (p);
    }
  if (d != NULL)
    g_dir_close (d);
  g_rmdir (f->dir);
  g_free (f->dir);
  g_free (f->model);
}

/* Files in the fixture's directory, sorted, as one string ("a b c"). */
static char *
dir_listing (Fixture *f)
{
  GDir *d = g_dir_open (f->dir, 0, NULL);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *n;

  while ((n = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (names, g_strdup (n));
  g_dir_close (d);
  g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

static void
row_f32 (const sm_gguf_tensor *t,
         int64_t               r,
         float                *out)
{
  size_t rs = sm_type_row_size (t->type, t->ne[0]);
  const uint8_t *p = (const uint8_t *) t->data + (size_t) r * rs;

  if (t->type == SM_TYPE_F32)
    memcpy (out, p, (size_t) t->ne[0] * 4);
  else
    g_assert_true (sm_dequantize_row (t->type, p, out, t->ne[0]));
}

/* Relative RMS error of tensor b against tensor a (same shape). */
static double
rel_rmse (const sm_gguf_tensor *a,
          const sm_gguf_tensor *b)
{
  int64_t rows = sm_gguf_tensor_nelements (a) / a->ne[0];
  g_autofree float *x = g_new (float, a->ne[0]);
  g_autofree float *y = g_new (float, a->ne[0]);
  double se = 0, ss = 0;

  g_assert_cmpint (sm_gguf_tensor_nelements (a), ==, sm_gguf_tensor_nelements (b));
  for (int64_t r = 0; r < rows; r++)
    {
      row_f32 (a, r, x);
      row_f32 (b, r, y);
      for (int64_t i = 0; i < a->ne[0]; i++)
        {
          se += (double) (x[i] - y[i]) * (x[i] - y[i]);
          ss += (double) x[i] * x[i];
        }
    }
  return sqrt (se / ss);
}

/* Loose bounds on the relative RMS error of Gaussian weights per output type. */
static double
max_error (sm_type t)
{
  switch (t)
    {
    case SM_TYPE_F32: return 0.0;
    case SM_TYPE_F16: return 1e-3;
    case SM_TYPE_BF16: return 8e-3;
    case SM_TYPE_Q8_0: return 0.01;
    case SM_TYPE_Q6_K: return 0.03;
    case SM_TYPE_Q5_0: case SM_TYPE_Q5_1: case SM_TYPE_Q5_K: return 0.06;
    case SM_TYPE_Q4_0: case SM_TYPE_Q4_1: case SM_TYPE_Q4_K:
    case SM_TYPE_IQ4_NL: case SM_TYPE_IQ4_XS: return 0.13;
    case SM_TYPE_Q3_K: return 0.25;
    case SM_TYPE_Q2_K: return 0.45;
    default: g_assert_not_reached ();
    }
  return 0;
}

static sm_quantize_plan *
plan_for (const sm_gguf            *g,
          const sm_quantize_params *p)
{
  int64_t n = sm_gguf_get_n_tensors (g);
  g_autofree sm_quantize_tensor_desc *d = g_new0 (sm_quantize_tensor_desc, n);
  sm_quantize_model_info info = { "llama", 2, 4, 2, 0 };
  sm_quantize_plan *plan = NULL;

  for (int64_t i = 0; i < n; i++)
    {
      const sm_gguf_tensor *t = sm_gguf_get_tensor (g, i);
      d[i].name = t->name;
      d[i].n_dims = t->n_dims;
      memcpy (d[i].ne, t->ne, sizeof d[i].ne);
      d[i].type = t->type;
    }
  g_assert_cmpint (sm_quantize_plan_make (d, (size_t) n, &info, p, &plan, NULL), ==, SM_OK);
  return plan;
}

/* Checks out against in for params p: types per the plan in loader order, metadata, values. */
static void
check_output (const char               *in_path,
              const char               *out_path,
              const sm_quantize_params *p)
{
  sm_gguf *in = NULL, *out = NULL;
  sm_quantize_plan *plan;
  sm_error err = { 0 };
  uint64_t v;
  sm_gguf_str s;

  g_assert_cmpint (sm_gguf_open (in_path, &in, &err), ==, SM_OK);
  if (sm_gguf_open (out_path, &out, &err) != SM_OK)
    g_error ("%s: %s", out_path, err.msg);
  plan = plan_for (in, p);

  g_assert_true (sm_gguf_find_uint (out, "general.file_type", &v));
  g_assert_cmpuint (v, ==, p->ftype);
  g_assert_cmpint (sm_gguf_get_kv_type (out, sm_gguf_find_key (out, "general.file_type")), ==,
                   SM_GGUF_TYPE_UINT32);
  g_assert_true (sm_gguf_find_uint (out, "general.quantization_version", &v));
  g_assert_cmpuint (v, ==, 2);
  g_assert_true (sm_gguf_find_str (out, "general.name", &s));
  g_assert_cmpint (strncmp (s.ptr, "smelt-test-model", s.len), ==, 0);
  g_assert_true (sm_gguf_find_uint (out, "llama.block_count", &v));
  g_assert_cmpuint (v, ==, 2);
  g_assert_cmpint (sm_gguf_get_alignment (out), ==, 32);

  g_assert_cmpint (sm_gguf_get_n_tensors (out), ==, sm_gguf_get_n_tensors (in));
  for (size_t k = 0; k < sm_quantize_plan_get_n (plan); k++)
    {
      const sm_quantize_plan_entry *e = sm_quantize_plan_get (plan, k);
      const sm_gguf_tensor *a = sm_gguf_find_tensor (in, e->name);
      const sm_gguf_tensor *b = sm_gguf_get_tensor (out, (int64_t) k);
      double rmse;

      g_assert_cmpstr (b->name, ==, e->name); /* loader order */
      if (b->type != e->type)
        g_error ("%s: %s in the file, %s planned", b->name, sm_type_get_traits (b->type)->upper,
                 sm_type_get_traits (e->type)->upper);
      g_assert_cmpint (b->n_dims, ==, a->n_dims);
      for (int d = 0; d < 4; d++)
        g_assert_cmpint (b->ne[d], ==, a->ne[d]);
      if (!e->quantize)
        {
          g_assert_cmpuint (a->size, ==, b->size);
          g_assert_cmpint (memcmp (a->data, b->data, a->size), ==, 0);
          continue;
        }
      rmse = rel_rmse (a, b);
      if (rmse > max_error (b->type) + (a->type == SM_TYPE_BF16 ? 0 : 0))
        g_error ("%s as %s: relative RMSE %.4f > %.4f", b->name,
                 sm_type_get_traits (b->type)->upper, rmse, max_error (b->type));
    }
  sm_quantize_plan_free (plan);

  /* The preview agrees with the file: same types, same tensor bytes. */
  {
    uint64_t bytes = 0, expect = 0;
    sm_quantize_plan *preview = NULL;

    g_assert_cmpint (sm_quantize_plan_file (in_path, p, &preview, &bytes, &err), ==, SM_OK);
    for (int64_t i = 0; i < sm_gguf_get_n_tensors (out); i++)
      {
        const sm_gguf_tensor *t = sm_gguf_get_tensor (out, i);
        expect += t->size;
        g_assert_cmpint (sm_quantize_plan_get (preview, (size_t) i)->type, ==, t->type);
      }
    g_assert_cmpuint (bytes, ==, expect);
    sm_quantize_plan_free (preview);
  }
  sm_gguf_free (in);
  sm_gguf_free (out);
}

static void
test_every_type (Fixture       *f,
                 gconstpointer  data)
{
  for (size_t i = 0; i < sm_quantize_n_ftypes (); i++)
    {
      const sm_quantize_ftype_info *fi = sm_quantize_ftype_at (i);
      g_autofree char *out = g_strdup_printf ("%s/out-%s.gguf", f->dir, fi->name);
      sm_quantize_params p = sm_quantize_default_params ();
      sm_error err = { 0 };

      p.ftype = fi->ftype;
      p.n_threads = 2;
      if (sm_quantize_file (f->model, out, &p, &err) != SM_OK)
        g_error ("%s: %s", fi->name, err.msg);
      check_output (f->model, out, &p);
      g_unlink (out);
    }
  /* Nothing but the input is left: no .part files. */
  {
    g_autofree char *ls = dir_listing (f);
    g_assert_cmpstr (ls, ==, "model-f32.gguf");
  }
}

static void
test_options (Fixture       *f,
              gconstpointer  data)
{
  g_autofree char *out = g_build_filename (f->dir, "out.gguf", NULL);
  sm_quantize_params p = sm_quantize_default_params ();
  sm_error err = { 0 };

  p.pure = true;
  p.output_tensor_type = SM_TYPE_Q8_0;
  p.n_threads = 1;
  g_assert_cmpint (sm_quantize_file (f->model, out, &p, &err), ==, SM_OK);
  check_output (f->model, out, &p);

  p = sm_quantize_default_params ();
  p.layer_policy = SM_LAYER_POLICY_DYNAMIC_GATE;
  p.ftype = SM_FTYPE_MOSTLY_IQ4_XS;
  p.leave_output_tensor = true;
  g_assert_cmpint (sm_quantize_file (f->model, out, &p, &err), ==, SM_OK);
  check_output (f->model, out, &p);
}

/* The same bytes whatever the number of threads. */
static void
test_threads (Fixture       *f,
              gconstpointer  data)
{
  g_autofree char *a = g_build_filename (f->dir, "t1.gguf", NULL);
  g_autofree char *b = g_build_filename (f->dir, "t3.gguf", NULL);
  g_autofree char *ca = NULL, *cb = NULL;
  gsize la, lb;
  sm_quantize_params p = sm_quantize_default_params ();

  p.ftype = SM_FTYPE_MOSTLY_Q4_K_M;
  p.n_threads = 1;
  g_assert_cmpint (sm_quantize_file (f->model, a, &p, NULL), ==, SM_OK);
  p.n_threads = 3;
  g_assert_cmpint (sm_quantize_file (f->model, b, &p, NULL), ==, SM_OK);
  g_assert_true (g_file_get_contents (a, &ca, &la, NULL));
  g_assert_true (g_file_get_contents (b, &cb, &lb, NULL));
  g_assert_cmpuint (la, ==, lb);
  g_assert_true (memcmp (ca, cb, la) == 0);
}

typedef struct
{
  int      calls;
  int      cancel_at;
  int64_t  last_tensor;
  uint64_t last_done;
  uint64_t total;
  gboolean saw_part;
  const char *part_path;
} ProgressLog;

static bool
progress_cb (int64_t  tensor_i,
             int64_t  n_tensors,
             uint64_t bytes_done,
             uint64_t bytes_total,
             void    *user_data)
{
  ProgressLog *log = user_data;

  g_assert_cmpint (tensor_i, >=, log->last_tensor);
  g_assert_cmpint (tensor_i, <=, n_tensors);
  g_assert_cmpuint (bytes_done, >=, log->last_done);
  g_assert_cmpuint (bytes_done, <=, bytes_total);
  log->last_tensor = tensor_i;
  log->last_done = bytes_done;
  log->total = bytes_total;
  if (log->part_path != NULL && g_file_test (log->part_path, G_FILE_TEST_EXISTS))
    log->saw_part = TRUE;
  return ++log->calls != log->cancel_at;
}

static void
test_progress_and_cancel (Fixture       *f,
                          gconstpointer  data)
{
  g_autofree char *out = g_build_filename (f->dir, "out.gguf", NULL);
  g_autofree char *part = g_strconcat (out, ".part", NULL);
  sm_quantize_params p = sm_quantize_default_params ();
  ProgressLog log = { 0, -1, 0, 0, 0, FALSE, part };
  sm_error err = { 0 };

  p.progress = progress_cb;
  p.progress_data = &log;
  g_assert_cmpint (sm_quantize_file (f->model, out, &p, &err), ==, SM_OK);
  g_assert_cmpint (log.calls, >, 10);
  g_assert_true (log.saw_part); /* written under the temporary name */
  g_assert_cmpuint (log.last_done, ==, log.total);
  g_assert_false (g_file_test (part, G_FILE_TEST_EXISTS));
  g_unlink (out);

  for (int at = 1; at < 12; at += 5)
    {
      g_autofree char *ls = NULL;
      ProgressLog c = { 0, at, 0, 0, 0, FALSE, part };

      p.progress_data = &c;
      g_assert_cmpint (sm_quantize_file (f->model, out, &p, &err), ==, SM_ERR_CANCELLED);
      ls = dir_listing (f);
      g_assert_cmpstr (ls, ==, "model-f32.gguf");
    }
}

static void
test_refusals (Fixture       *f,
               gconstpointer  data)
{
  g_autofree char *q8 = g_build_filename (f->dir, "q8.gguf", NULL);
  g_autofree char *out = g_build_filename (f->dir, "out.gguf", NULL);
  g_autofree char *link = g_build_filename (f->dir, "link.gguf", NULL);
  g_autofree char *ls = NULL;
  sm_quantize_params p = sm_quantize_default_params ();
  sm_error err = { 0 };

  /* Output equal to the input, by name or through a link. */
  g_assert_cmpint (sm_quantize_file (f->model, f->model, &p, &err), ==, SM_ERR_INVALID_ARG);
  g_assert_nonnull (strstr (err.msg, "is the input"));
  g_assert_cmpint (symlink (f->model, link), ==, 0);
  g_assert_cmpint (sm_quantize_file (f->model, link, &p, &err), ==, SM_ERR_INVALID_ARG);
  g_unlink (link);

  /* Unknown ftype. */
  p.ftype = (sm_ftype) 19; /* IQ2_XXS: not made by Smelt */
  g_assert_cmpint (sm_quantize_file (f->model, out, &p, &err), ==, SM_ERR_INVALID_ARG);

  /* Requantizing needs allow_requantize. */
  p = sm_quantize_default_params ();
  p.ftype = SM_FTYPE_MOSTLY_Q8_0;
  g_assert_cmpint (sm_quantize_file (f->model, q8, &p, &err), ==, SM_OK);
  p.ftype = SM_FTYPE_MOSTLY_Q4_K_M;
  g_assert_cmpint (sm_quantize_file (q8, out, &p, &err), ==, SM_ERR_INVALID_ARG);
  g_assert_nonnull (strstr (err.msg, "--allow-requantize"));
  p.ftype = SM_FTYPE_MOSTLY_F16; /* finer than the input: refused the same way */
  g_assert_cmpint (sm_quantize_file (q8, out, &p, &err), ==, SM_ERR_INVALID_ARG);
  p.ftype = SM_FTYPE_MOSTLY_Q4_K_M;
  p.allow_requantize = true;
  g_assert_cmpint (sm_quantize_file (q8, out, &p, &err), ==, SM_OK);
  {
    sm_gguf *g = NULL;
    g_assert_cmpint (sm_gguf_open (out, &g, NULL), ==, SM_OK);
    g_assert_cmpint (sm_gguf_find_tensor (g, "blk.1.attn_q.weight")->type, ==, SM_TYPE_Q4_K);
    sm_gguf_free (g);
  }
  g_unlink (out);

  /* Q8_0 -> Q8_0 copies quantized tensors without allow_requantize. */
  p = sm_quantize_default_params ();
  p.ftype = SM_FTYPE_MOSTLY_Q8_0;
  g_assert_cmpint (sm_quantize_file (q8, out, &p, &err), ==, SM_OK);
  g_unlink (out);
  g_unlink (q8);

  /* A missing input, a damaged input. */
  g_assert_cmpint (sm_quantize_file (q8, out, &p, &err), !=, SM_OK);
  g_assert_nonnull (strstr (err.msg, "q8.gguf"));
  {
    g_autofree char *bytes = NULL;
    gsize len;
    g_autofree char *bad = g_build_filename (f->dir, "bad.gguf", NULL);

    g_assert_true (g_file_get_contents (f->model, &bytes, &len, NULL));
    g_assert_true (g_file_set_contents (bad, bytes, (gssize) len - 1000, NULL));
    g_assert_cmpint (sm_quantize_file (bad, out, &p, &err), ==, SM_ERR_FORMAT);
    g_unlink (bad);
  }

  /* An output directory that does not exist. */
  {
    g_autofree char *nodir = g_build_filename (f->dir, "no", "such", "out.gguf", NULL);
    g_assert_cmpint (sm_quantize_file (f->model, nodir, &p, &err), ==, SM_ERR_IO);
  }
  ls = dir_listing (f);
  g_assert_cmpstr (ls, ==, "model-f32.gguf");
}

/* NaN in the weights: refused with the tensor's name, nothing left behind. */
static void
test_nan (Fixture       *f,
          gconstpointer  data)
{
  g_autofree char *bad = g_build_filename (f->dir, "nan.gguf", NULL);
  g_autofree char *out = g_build_filename (f->dir, "out.gguf", NULL);
  g_autofree char *bytes = NULL;
  g_autofree char *ls = NULL;
  sm_gguf *g = NULL;
  const sm_gguf_tensor *t;
  sm_quantize_params p = sm_quantize_default_params ();
  sm_error err = { 0 };
  gsize len;
  float nan = NAN;
  size_t off;

  g_assert_true (g_file_get_contents (f->model, &bytes, &len, NULL));
  g_assert_cmpint (sm_gguf_open (f->model, &g, NULL), ==, SM_OK);
  t = sm_gguf_find_tensor (g, "token_embd.weight");
  g_assert_cmpint (t->type, ==, SM_TYPE_F32);
  off = (size_t) (sm_gguf_get_data_offset (g) + t->offset);
  sm_gguf_free (g);
  memcpy (bytes + off + 4 * 300, &nan, 4);
  g_assert_true (g_file_set_contents (bad, bytes, (gssize) len, NULL));
  g_assert_cmpint (sm_quantize_file (bad, out, &p, &err), ==, SM_ERR_FORMAT);
  g_assert_nonnull (strstr (err.msg, "token_embd.weight"));
  g_assert_nonnull (strstr (err.msg, "row 1"));
  g_unlink (bad);
  ls = dir_listing (f);
  g_assert_cmpstr (ls, ==, "model-f32.gguf");
}

static void
test_imatrix (Fixture       *f,
              gconstpointer  data)
{
  g_autofree char *im = g_build_filename (f->dir, "imatrix.dat", NULL);
  g_autofree char *out = g_build_filename (f->dir, "out.gguf", NULL);
  g_autoptr(GByteArray) b = g_byte_array_new ();
  sm_quantize_params p = sm_quantize_default_params ();
  sm_error err = { 0 };
  sm_gguf *g = NULL;
  sm_gguf_str s;
  int64_t v;
  float vals[256];
  int32_t i32;

  /* A legacy imatrix with one entry for blk.0.attn_q.weight (256 columns). */
  for (int k = 0; k < 256; k++)
    vals[k] = 1.0f + (float) (k % 7);
  i32 = 1;
  g_byte_array_append (b, (const guint8 *) &i32, 4);
  i32 = (int32_t) strlen ("blk.0.attn_q.weight");
  g_byte_array_append (b, (const guint8 *) &i32, 4);
  g_byte_array_append (b, (const guint8 *) "blk.0.attn_q.weight", (guint) i32);
  i32 = 1;
  g_byte_array_append (b, (const guint8 *) &i32, 4);
  i32 = 256;
  g_byte_array_append (b, (const guint8 *) &i32, 4);
  g_byte_array_append (b, (const guint8 *) vals, sizeof vals);
  g_assert_true (g_file_set_contents (im, (const char *) b->data, b->len, NULL));

  p.ftype = SM_FTYPE_MOSTLY_Q4_0;
  p.imatrix_path = im;
  if (sm_quantize_file (f->model, out, &p, &err) != SM_OK)
    g_error ("%s", err.msg);
  g_assert_cmpint (sm_gguf_open (out, &g, NULL), ==, SM_OK);
  g_assert_true (sm_gguf_find_str (g, "quantize.imatrix.file", &s));
  g_assert_cmpint (strncmp (s.ptr, im, s.len), ==, 0);
  g_assert_true (sm_gguf_find_int (g, "quantize.imatrix.entries_count", &v));
  g_assert_cmpint (v, ==, 1);
  g_assert_true (sm_gguf_find_int (g, "quantize.imatrix.chunks_count", &v));
  g_assert_true (sm_gguf_find_str (g, "quantize.imatrix.dataset", &s));
  /* With an imatrix Q4_0 bumps ffn_down of layers i < n/8 only: none of 2 layers. */
  g_assert_cmpint (sm_gguf_find_tensor (g, "blk.0.ffn_down.weight")->type, ==, SM_TYPE_Q4_0);
  sm_gguf_free (g);
  p.has_imatrix = true;
  check_output (f->model, out, &p);
  g_unlink (out);

  /* An entry whose length does not match the tensor. */
  i32 = 128;
  memcpy (b->data + 4 + 4 + strlen ("blk.0.attn_q.weight") + 4, &i32, 4);
  g_byte_array_set_size (b, b->len - 512);
  g_assert_true (g_file_set_contents (im, (const char *) b->data, b->len, NULL));
  g_assert_cmpint (sm_quantize_file (f->model, out, &p, &err), ==, SM_ERR_INVALID_ARG);
  g_assert_nonnull (strstr (err.msg, "imatrix"));
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
}

/* The first part of a split set named prefix-00001-of-*.gguf in the fixture's directory. */
static char *
first_part (Fixture    *f,
            const char *prefix,
            int        *n_parts)
{
  GDir *d = g_dir_open (f->dir, 0, NULL);
  g_autofree char *start = g_strconcat (prefix, "-00001-of-", NULL);
  const char *n;
  char *found = NULL;

  while ((n = g_dir_read_name (d)) != NULL)
    if (g_str_has_prefix (n, start) && g_str_has_suffix (n, ".gguf"))
      {
        found = g_build_filename (f->dir, n, NULL);
        *n_parts = atoi (n + strlen (start));
      }
  g_dir_close (d);
  g_assert_nonnull (found);
  return found;
}

static void
test_split (Fixture       *f,
            gconstpointer  data)
{
  g_autofree char *split_in = g_build_filename (f->dir, "in.gguf", NULL);
  g_autofree char *split_in1 = NULL, *out1 = NULL;
  g_autofree char *out = g_build_filename (f->dir, "out.gguf", NULL);
  g_autofree char *whole = g_build_filename (f->dir, "whole.gguf", NULL);
  sm_test_model_spec spec;
  sm_quantize_params p = sm_quantize_default_params ();
  sm_error err = { 0 };
  sm_gguf *g = NULL, *w = NULL;
  uint64_t v;
  int n_in = 0, n_out = 0;

  /* A split input quantized into a split output. */
  sm_test_model_default_spec (&spec);
  spec.odd_tensor = true;
  spec.split_max_size = 500000;
  g_assert_cmpint (sm_test_model_write (split_in, &spec, &err), ==, SM_OK);
  split_in1 = first_part (f, "in", &n_in);
  g_assert_cmpint (n_in, >=, 2);
  p.ftype = SM_FTYPE_MOSTLY_Q8_0;
  p.split_max_size = 300000;
  if (sm_quantize_file (split_in1, out, &p, &err) != SM_OK)
    g_error ("%s", err.msg);
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  out1 = first_part (f, "out", &n_out);
  g_assert_cmpint (n_out, >=, 2);
  g_assert_cmpint (sm_gguf_open (out1, &g, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_get_n_splits (g), ==, n_out);
  g_assert_true (sm_gguf_find_uint (g, "split.count", &v));
  g_assert_cmpuint (v, ==, (guint64) n_out);
  for (uint32_t k = 0; k < sm_gguf_get_n_splits (g); k++)
    {
      struct stat sb;
      g_assert_cmpint (g_stat (sm_gguf_get_split_path (g, k), &sb), ==, 0);
      g_assert_cmpint (sb.st_size, <, 300000 + 20000);
    }

  /* The same tensors as quantizing the unsplit model. */
  p.split_max_size = 0;
  g_assert_cmpint (sm_quantize_file (f->model, whole, &p, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_open (whole, &w, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_get_n_tensors (w), ==, sm_gguf_get_n_tensors (g));
  for (int64_t i = 0; i < sm_gguf_get_n_tensors (w); i++)
    {
      const sm_gguf_tensor *a = sm_gguf_get_tensor (w, i), *b = sm_gguf_get_tensor (g, i);
      g_assert_cmpstr (a->name, ==, b->name);
      g_assert_cmpint (a->type, ==, b->type);
      g_assert_cmpuint (a->size, ==, b->size);
      g_assert_true (memcmp (a->data, b->data, a->size) == 0);
    }
  g_assert_false (sm_gguf_find_uint (w, "split.count", &v)); /* split.* of the input dropped */
  sm_gguf_free (w);
  sm_gguf_free (g);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/quantize-file/every-type", test_every_type);
  ADD ("/quantize-file/options", test_options);
  ADD ("/quantize-file/threads", test_threads);
  ADD ("/quantize-file/progress-and-cancel", test_progress_and_cancel);
  ADD ("/quantize-file/refusals", test_refusals);
  ADD ("/quantize-file/nan", test_nan);
  ADD ("/quantize-file/imatrix", test_imatrix);
  ADD ("/quantize-file/split", test_split);
#undef ADD
  return g_test_run ();
}
