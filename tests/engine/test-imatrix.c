/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-imatrix.c: importance-matrix files (formats.md section 6). Legacy .dat files are written
 * byte by byte here, GGUF imatrix files with Smelt's own writer; then damaged and hostile
 * variants of both must fail with a message and without crashing.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "sm-gguf.h"
#include "sm-imatrix.h"

typedef struct
{
  char *dir;
} Fixture;

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  GError *error = NULL;

  f->dir = g_dir_make_tmp ("smelt-imatrix-XXXXXX", &error);
  g_assert_no_error (error);
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
}

static void
put_i32 (GByteArray *b,
         int32_t     v)
{
  g_byte_array_append (b, (const guint8 *) &v, 4);
}

static void
put_entry (GByteArray  *b,
           const char  *name,
           int32_t      ncall,
           int32_t      nval,
           const float *vals)
{
  put_i32 (b, (int32_t) strlen (name));
  g_byte_array_append (b, (const guint8 *) name, (guint) strlen (name));
  put_i32 (b, ncall);
  put_i32 (b, nval);
  g_byte_array_append (b, (const guint8 *) vals, (guint) nval * 4);
}

static char *
write_bytes (Fixture    *f,
             const char *name,
             GByteArray *b)
{
  char *path = g_build_filename (f->dir, name, NULL);
  GError *error = NULL;

  g_file_set_contents (path, (const char *) b->data, b->len, &error);
  g_assert_no_error (error);
  return path;
}

static GByteArray *
legacy_good (void)
{
  GByteArray *b = g_byte_array_new ();
  float a[4] = { 2, 4, 6, 8 }, c[2] = { 1, 0 };

  put_i32 (b, 2);
  put_entry (b, "blk.0.attn_q.weight", 2, 4, a);
  put_entry (b, "blk.0.ffn_down.weight", 1, 2, c);
  put_i32 (b, 10);            /* last chunk */
  put_i32 (b, 9);
  g_byte_array_append (b, (const guint8 *) "wiki.test", 9);
  return b;
}

static void
test_legacy (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(GByteArray) b = legacy_good ();
  g_autofree char *path = write_bytes (f, "good.dat", b);
  sm_imatrix *im = NULL;
  sm_error err = { 0 };
  const float *v;
  int64_t n;

  g_assert_cmpint (sm_imatrix_open (path, &im, &err), ==, SM_OK);
  g_assert_cmpuint (sm_imatrix_get_n_entries (im), ==, 2);
  g_assert_cmpstr (sm_imatrix_get_name (im, 1), ==, "blk.0.ffn_down.weight");
  v = sm_imatrix_find (im, "blk.0.attn_q.weight", &n);
  g_assert_nonnull (v);
  g_assert_cmpint (n, ==, 4);
  /* Stored as mean x ncall (2): read back as the mean. */
  g_assert_cmpfloat (v[0], ==, 1.0f);
  g_assert_cmpfloat (v[3], ==, 4.0f);
  g_assert_null (sm_imatrix_find (im, "blk.1.attn_q.weight", &n));
  g_assert_cmpint (n, ==, 0);
  g_assert_cmpstr (sm_imatrix_get_dataset (im), ==, "wiki.test");
  g_assert_cmpint (sm_imatrix_get_chunk_count (im), ==, 10);
  sm_imatrix_free (im);

  /* Without the trailer. */
  g_byte_array_set_size (b, b->len - 17);
  g_free (path);
  path = write_bytes (f, "notrailer.dat", b);
  g_assert_cmpint (sm_imatrix_open (path, &im, &err), ==, SM_OK);
  g_assert_cmpstr (sm_imatrix_get_dataset (im), ==, "");
  g_assert_cmpint (sm_imatrix_get_chunk_count (im), ==, 0);
  sm_imatrix_free (im);
}

static void
expect_fail (Fixture    *f,
             GByteArray *b,
             const char *what)
{
  g_autofree char *path = write_bytes (f, "bad.dat", b);
  sm_imatrix *im = (sm_imatrix *) 1;
  sm_error err = { 0 };
  sm_status st = sm_imatrix_open (path, &im, &err);

  if (st == SM_OK)
    g_error ("%s: accepted", what);
  g_assert_null (im);
  g_assert_cmpstr (err.msg, !=, "");
  g_assert_nonnull (strstr (err.msg, "bad.dat"));
}

static void
test_legacy_hostile (Fixture       *f,
                     gconstpointer  data)
{
  float one = 1.0f, nan = NAN, neg = -1.0f;

  /* Every truncation of a good file but the ones at entry/trailer boundaries is an error. */
  {
    g_autoptr(GByteArray) good = legacy_good ();

    for (guint cut = 0; cut < good->len; cut++)
      {
        g_autoptr(GByteArray) b = g_byte_array_new ();
        g_autofree char *path = NULL;
        sm_imatrix *im = NULL;
        sm_status st;

        g_byte_array_append (b, good->data, cut);
        path = write_bytes (f, "cut.dat", b);
        st = sm_imatrix_open (path, &im, NULL);
        /* Valid prefixes: both entries, + last chunk (no dataset). */
        if (cut == good->len - 13 || cut == good->len - 17)
          g_assert_cmpint (st, ==, SM_OK);
        else
          g_assert_cmpint (st, !=, SM_OK);
        sm_imatrix_free (im);
      }
  }
  {
    g_autoptr(GByteArray) b = g_byte_array_new ();
    put_i32 (b, 0x7fffffff); /* a huge count */
    put_entry (b, "a.weight", 1, 1, &one);
    expect_fail (f, b, "huge count");
  }
  {
    g_autoptr(GByteArray) b = g_byte_array_new ();
    put_i32 (b, -1);
    expect_fail (f, b, "negative count");
  }
  {
    g_autoptr(GByteArray) b = g_byte_array_new ();
    put_i32 (b, 1);
    put_i32 (b, -5);
    expect_fail (f, b, "negative name length");
  }
  {
    g_autoptr(GByteArray) b = g_byte_array_new ();
    put_i32 (b, 1);
    put_entry (b, "a.weight", 1, 1, &one);
    b->data[b->len - 8] = 0x7f; /* nval -> huge */
    expect_fail (f, b, "huge nval");
  }
  {
    g_autoptr(GByteArray) b = g_byte_array_new ();
    put_i32 (b, 1);
    put_entry (b, "a.weight", 1, 1, &nan);
    expect_fail (f, b, "NaN");
  }
  {
    g_autoptr(GByteArray) b = g_byte_array_new ();
    put_i32 (b, 1);
    put_entry (b, "a.weight", 1, 1, &neg);
    expect_fail (f, b, "negative value");
  }
  {
    g_autoptr(GByteArray) b = g_byte_array_new ();
    put_i32 (b, 2);
    put_entry (b, "a.weight", 1, 1, &one);
    put_entry (b, "a.weight", 1, 1, &one);
    expect_fail (f, b, "duplicate");
  }
  {
    g_autoptr(GByteArray) b = g_byte_array_new ();
    put_i32 (b, 0);
    expect_fail (f, b, "no entries");
  }
  {
    g_autoptr(GByteArray) b = g_byte_array_new ();
    put_i32 (b, 1);
    put_entry (b, "a.weight", 1, 1, &one);
    put_i32 (b, 3);
    put_i32 (b, 100); /* dataset longer than the file */
    expect_fail (f, b, "dataset length");
  }
  {
    g_autofree char *missing = g_build_filename (f->dir, "missing.dat", NULL);
    sm_error err = { 0 };
    sm_imatrix *im = NULL;

    g_assert_cmpint (sm_imatrix_open (missing, &im, &err), ==, SM_ERR_IO);
    g_assert_nonnull (strstr (err.msg, "missing.dat"));
  }
}

/* A GGUF imatrix with one dense entry (3 calls) and one 2-expert entry whose second expert was
 * never routed. Variants break one thing each. */
typedef enum
{
  GG_GOOD,
  GG_NO_COUNTS,
  GG_NO_KEYS,
  GG_WRONG_TYPE,
  GG_BAD_SHAPE,
  GG_NEGATIVE,
  GG_NOT_IMATRIX,
} GgufVariant;

static char *
write_gguf_imatrix (Fixture     *f,
                    GgufVariant  variant)
{
  char *path = g_build_filename (f->dir, "imatrix.gguf", NULL);
  sm_gguf_writer *w = sm_gguf_writer_new ();
  const char *ds[] = { "calibration.txt" };
  float sum1[8] = { 3, 6, 9, 12, 15, 18, 21, 24 }, cnt1[1] = { 3 };
  float sum2[8] = { 2, 4, 6, 8, 5, 5, 5, 5 }, cnt2[2] = { 2, 0 };
  int64_t ne_sum1[2] = { 8, 1 }, ne_cnt1[2] = { 1, 1 };
  int64_t ne_sum2[2] = { 4, 2 }, ne_cnt2[2] = { 1, 2 };
  sm_error err = { 0 };

  sm_gguf_writer_set_str (w, "general.type", variant == GG_NOT_IMATRIX ? "model" : "imatrix");
  if (variant != GG_NO_KEYS)
    {
      sm_gguf_writer_set_arr_str (w, "imatrix.datasets", ds, 1);
      sm_gguf_writer_set_u32 (w, "imatrix.chunk_count", 7);
      sm_gguf_writer_set_u32 (w, "imatrix.chunk_size", 512);
    }
  if (variant == GG_BAD_SHAPE)
    ne_cnt2[1] = 1;
  if (variant == GG_NEGATIVE)
    sum1[2] = -9;
  g_assert_cmpint (sm_gguf_writer_add_tensor (w, "blk.0.attn_q.weight.counts", SM_TYPE_F32, 2,
                                              ne_cnt1, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_add_tensor (w, "blk.0.attn_q.weight.in_sum2",
                                              variant == GG_WRONG_TYPE ? SM_TYPE_I32 : SM_TYPE_F32,
                                              2, ne_sum1, &err), ==, SM_OK);
  if (variant != GG_NO_COUNTS)
    g_assert_cmpint (sm_gguf_writer_add_tensor (w, "blk.1.ffn_down_exps.weight.counts",
                                                SM_TYPE_F32, 2, ne_cnt2, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_add_tensor (w, "blk.1.ffn_down_exps.weight.in_sum2",
                                              SM_TYPE_F32, 2, ne_sum2, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_begin (w, path, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_write_tensor (w, cnt1, 4, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_write_tensor (w, sum1, 32, &err), ==, SM_OK);
  if (variant != GG_NO_COUNTS)
    g_assert_cmpint (sm_gguf_writer_write_tensor (w, cnt2, variant == GG_BAD_SHAPE ? 4 : 8, &err),
                     ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_write_tensor (w, sum2, 32, &err), ==, SM_OK);
  g_assert_cmpint (sm_gguf_writer_finish (w, &err), ==, SM_OK);
  sm_gguf_writer_free (w);
  return path;
}

static void
test_gguf (Fixture       *f,
           gconstpointer  data)
{
  g_autofree char *path = write_gguf_imatrix (f, GG_GOOD);
  sm_imatrix *im = NULL;
  sm_error err = { 0 };
  const float *v;
  int64_t n;

  g_assert_cmpint (sm_imatrix_open (path, &im, &err), ==, SM_OK);
  g_assert_cmpstr (err.msg, ==, "");
  g_assert_cmpuint (sm_imatrix_get_n_entries (im), ==, 2);
  g_assert_cmpstr (sm_imatrix_get_dataset (im), ==, "calibration.txt");
  g_assert_cmpint (sm_imatrix_get_chunk_count (im), ==, 7);
  v = sm_imatrix_find (im, "blk.0.attn_q.weight", &n);
  g_assert_cmpint (n, ==, 8);
  for (int k = 0; k < 8; k++)
    g_assert_cmpfloat_with_epsilon (v[k], k + 1.0f, 1e-6);
  v = sm_imatrix_find (im, "blk.1.ffn_down_exps.weight", &n);
  g_assert_cmpint (n, ==, 8);
  g_assert_cmpfloat (v[0], ==, 1.0f);
  g_assert_cmpfloat (v[3], ==, 4.0f);
  for (int k = 4; k < 8; k++)
    g_assert_cmpfloat (v[k], ==, 1.0f); /* expert never routed */
  sm_imatrix_free (im);
}

static void
test_gguf_hostile (Fixture       *f,
                   gconstpointer  data)
{
  static const GgufVariant bad[] = { GG_NO_COUNTS, GG_NO_KEYS, GG_WRONG_TYPE, GG_BAD_SHAPE,
                                     GG_NEGATIVE, GG_NOT_IMATRIX };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *path = write_gguf_imatrix (f, bad[i]);
      sm_imatrix *im = NULL;
      sm_error err = { 0 };

      g_assert_cmpint (sm_imatrix_open (path, &im, &err), ==, SM_ERR_FORMAT);
      g_assert_null (im);
      g_assert_nonnull (strstr (err.msg, "imatrix.gguf"));
    }
  /* A truncated GGUF: the reader's checks apply. */
  {
    g_autofree char *path = write_gguf_imatrix (f, GG_GOOD);
    g_autofree char *contents = NULL;
    gsize len;
    sm_imatrix *im = NULL;

    g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
    g_assert_true (g_file_set_contents (path, contents, (gssize) len / 2, NULL));
    g_assert_cmpint (sm_imatrix_open (path, &im, NULL), !=, SM_OK);
    g_assert_null (im);
  }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/imatrix/legacy", Fixture, NULL, fixture_setup, test_legacy, fixture_teardown);
  g_test_add ("/imatrix/legacy-hostile", Fixture, NULL, fixture_setup, test_legacy_hostile,
              fixture_teardown);
  g_test_add ("/imatrix/gguf", Fixture, NULL, fixture_setup, test_gguf, fixture_teardown);
  g_test_add ("/imatrix/gguf-hostile", Fixture, NULL, fixture_setup, test_gguf_hostile,
              fixture_teardown);
  return g_test_run ();
}
