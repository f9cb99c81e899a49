/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-types.c: the ggml type table against formats.md section 2 (block elements and bytes, bits
 * per weight), retired ids, name lookup and row sizes.
 */
#include <glib.h>

#include "sm-types.h"

static void
test_table_values (void)
{
  static const struct { int id; const char *name; unsigned blk, bytes; } expect[] = {
    { 0, "F32", 1, 4 },        { 1, "F16", 1, 2 },         { 2, "Q4_0", 32, 18 },
    { 3, "Q4_1", 32, 20 },     { 6, "Q5_0", 32, 22 },      { 7, "Q5_1", 32, 24 },
    { 8, "Q8_0", 32, 34 },     { 9, "Q8_1", 32, 36 },      { 10, "Q2_K", 256, 84 },
    { 11, "Q3_K", 256, 110 },  { 12, "Q4_K", 256, 144 },   { 13, "Q5_K", 256, 176 },
    { 14, "Q6_K", 256, 210 },  { 15, "Q8_K", 256, 292 },   { 16, "IQ2_XXS", 256, 66 },
    { 17, "IQ2_XS", 256, 74 }, { 18, "IQ3_XXS", 256, 98 }, { 19, "IQ1_S", 256, 50 },
    { 20, "IQ4_NL", 32, 18 },  { 21, "IQ3_S", 256, 110 },  { 22, "IQ2_S", 256, 82 },
    { 23, "IQ4_XS", 256, 136 },{ 24, "I8", 1, 1 },         { 25, "I16", 1, 2 },
    { 26, "I32", 1, 4 },       { 27, "I64", 1, 8 },        { 28, "F64", 1, 8 },
    { 29, "IQ1_M", 256, 56 },  { 30, "BF16", 1, 2 },       { 34, "TQ1_0", 256, 54 },
    { 35, "TQ2_0", 256, 66 },  { 39, "MXFP4", 32, 17 },    { 40, "NVFP4", 64, 36 },
    { 41, "Q1_0", 128, 18 },   { 42, "Q2_0", 64, 18 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (expect); i++)
    {
      const sm_type_traits *tr = sm_type_get_traits (expect[i].id);

      g_assert_nonnull (tr);
      g_assert_cmpstr (tr->upper, ==, expect[i].name);
      g_assert_cmpuint (tr->blck_size, ==, expect[i].blk);
      g_assert_cmpuint (tr->type_size, ==, expect[i].bytes);
      g_assert_cmpint (sm_type_from_name (expect[i].name), ==, expect[i].id);
    }
}

static void
test_retired_ids (void)
{
  static const int retired[] = { 4, 5, 31, 32, 33, 36, 37, 38, 43, 44, 1000 };

  for (gsize i = 0; i < G_N_ELEMENTS (retired); i++)
    {
      g_assert_null (sm_type_get_traits (retired[i]));
      g_assert_false (sm_type_is_valid (retired[i]));
    }
  g_assert_null (sm_type_get_traits (UINT32_MAX));
}

static void
test_row_size (void)
{
  g_assert_cmpuint (sm_type_row_size (SM_TYPE_Q4_K, 4096), ==, 16 * 144);
  g_assert_cmpuint (sm_type_row_size (SM_TYPE_Q4_K, 100), ==, 0); /* not a multiple of 256 */
  g_assert_cmpuint (sm_type_row_size (SM_TYPE_F32, 7), ==, 28);
  g_assert_cmpuint (sm_type_row_size (SM_TYPE_Q8_0, 64), ==, 68);
  g_assert_cmpint (sm_type_from_name ("q4_k"), ==, SM_TYPE_Q4_K);
  g_assert_cmpint (sm_type_from_name ("bogus"), ==, -1);
}

static void
test_ftype_names (void)
{
  g_assert_cmpstr (sm_ftype_name (15), ==, "Q4_K_M");
  g_assert_cmpstr (sm_ftype_name (32), ==, "BF16");
  g_assert_cmpstr (sm_ftype_name (7), ==, "Q8_0");
  g_assert_null (sm_ftype_name (5));
  g_assert_null (sm_ftype_name (9999));
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/types/table", test_table_values);
  g_test_add_func ("/types/retired", test_retired_ids);
  g_test_add_func ("/types/row-size", test_row_size);
  g_test_add_func ("/types/ftype-names", test_ftype_names);
  return g_test_run ();
}
