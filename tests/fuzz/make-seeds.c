/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * make-seeds.c: writes the fuzzer's seed corpus into a directory: small valid GGUF files made
 * by Smelt's own writer (every value type, arrays, several tensor types, a split set, a custom
 * alignment) and a few broken variants of them (truncated, bad version, bad type), each a few
 * hundred bytes so the fuzzer mutates structure rather than tensor data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm-gguf.h"

static void die (const char *what, const sm_error *err) __attribute__ ((noreturn));

static void
die (const char     *what,
     const sm_error *err)
{
  fprintf (stderr, "make-seeds: %s: %s\n", what, err ? err->msg : "");
  exit (1);
}

static void
write_model (const char *path,
             uint32_t    alignment,
             uint32_t    split_tensors)
{
  static const float scores[] = { 0.0f, -1.5f, 2.25f };
  static const int32_t types[] = { 2, 3, 1 };
  static const uint8_t flags[] = { 1, 0 };
  static const uint64_t big[] = { 1, 18446744073709551615u };
  static const char *const tokens[] = { "<unk>", "<s>", "\xe2\x96\x81the" };
  static const struct { const char *name; sm_type type; uint32_t n_dims; int64_t ne[4]; } ts[] = {
    { "token_embd.weight", SM_TYPE_Q4_0, 2, { 32, 3 } },
    { "blk.0.attn_norm.weight", SM_TYPE_F32, 1, { 5 } },
    { "blk.0.ffn_up.weight", SM_TYPE_F16, 3, { 2, 2, 2 } },
    { "output.weight", SM_TYPE_Q8_0, 2, { 32, 1 } },
  };
  sm_gguf_writer *w = sm_gguf_writer_new ();
  sm_error err;
  uint8_t buf[256];

  sm_gguf_writer_set_str (w, "general.architecture", "llama");
  if (alignment != SM_GGUF_DEFAULT_ALIGNMENT)
    sm_gguf_writer_set_u32 (w, "general.alignment", alignment);
  sm_gguf_writer_set_u8 (w, "a.u8", 1);
  sm_gguf_writer_set_i8 (w, "a.i8", -1);
  sm_gguf_writer_set_u16 (w, "a.u16", 2);
  sm_gguf_writer_set_i16 (w, "a.i16", -2);
  sm_gguf_writer_set_u32 (w, "llama.block_count", 1);
  sm_gguf_writer_set_i32 (w, "a.i32", -3);
  sm_gguf_writer_set_f32 (w, "a.f32", 1e-5f);
  sm_gguf_writer_set_bool (w, "a.bool", true);
  sm_gguf_writer_set_u64 (w, "a.u64", 4);
  sm_gguf_writer_set_i64 (w, "a.i64", -4);
  sm_gguf_writer_set_f64 (w, "a.f64", 0.5);
  sm_gguf_writer_set_arr_str (w, "tokenizer.ggml.tokens", tokens, 3);
  sm_gguf_writer_set_arr_data (w, "tokenizer.ggml.scores", SM_GGUF_TYPE_FLOAT32, scores, 3);
  sm_gguf_writer_set_arr_data (w, "tokenizer.ggml.token_type", SM_GGUF_TYPE_INT32, types, 3);
  sm_gguf_writer_set_arr_data (w, "a.bools", SM_GGUF_TYPE_BOOL, flags, 2);
  sm_gguf_writer_set_arr_data (w, "a.u64s", SM_GGUF_TYPE_UINT64, big, 2);
  for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
    if (sm_gguf_writer_add_tensor (w, ts[i].name, ts[i].type, ts[i].n_dims, ts[i].ne, &err))
      die ("add_tensor", &err);
  sm_gguf_writer_set_split (w, 0, split_tensors);
  if (sm_gguf_writer_begin (w, path, &err))
    die (path, &err);
  for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
    {
      const sm_type_traits *tr = sm_type_get_traits (ts[i].type);
      int64_t nel = 1;
      uint64_t size;

      for (uint32_t d = 0; d < ts[i].n_dims; d++)
        nel *= ts[i].ne[d];
      size = (uint64_t) nel / tr->blck_size * tr->type_size;
      for (uint64_t k = 0; k < size; k++)
        buf[k] = (uint8_t) (k * 7 + i);
      if (sm_gguf_writer_write_tensor (w, buf, size, &err))
        die ("write_tensor", &err);
    }
  if (sm_gguf_writer_finish (w, &err))
    die ("finish", &err);
  sm_gguf_writer_free (w);
}

static unsigned char *
slurp (const char *path,
       size_t     *len)
{
  FILE *f = fopen (path, "rb");
  unsigned char *p;
  long n;

  if (f == NULL || fseek (f, 0, SEEK_END) != 0 || (n = ftell (f)) < 0)
    die (path, NULL);
  rewind (f);
  p = malloc ((size_t) n + 1);
  if (p == NULL || fread (p, 1, (size_t) n, f) != (size_t) n)
    die (path, NULL);
  fclose (f);
  *len = (size_t) n;
  return p;
}

static void
spit (const char          *dir,
      const char          *name,
      const unsigned char *p,
      size_t               len)
{
  char path[4096];
  FILE *f;

  snprintf (path, sizeof path, "%s/%s", dir, name);
  f = fopen (path, "wb");
  if (f == NULL || fwrite (p, 1, len, f) != len || fclose (f) != 0)
    die (path, NULL);
}

int
main (int    argc,
      char **argv)
{
  char path[4096];
  unsigned char *p;
  size_t len;

  if (argc != 2)
    {
      fprintf (stderr, "usage: make-seeds DIR\n");
      return 2;
    }
  snprintf (path, sizeof path, "%s/model.gguf", argv[1]);
  write_model (path, 32, 0);
  snprintf (path, sizeof path, "%s/aligned64.gguf", argv[1]);
  write_model (path, 64, 0);
  snprintf (path, sizeof path, "%s/split.gguf", argv[1]); /* split-0000k-of-00002.gguf */
  write_model (path, 32, 2);

  /* Broken variants of the first model. */
  snprintf (path, sizeof path, "%s/model.gguf", argv[1]);
  p = slurp (path, &len);
  spit (argv[1], "truncated-header.bin", p, 40);
  spit (argv[1], "truncated-infos.bin", p, len / 2);
  p[4] = 1; /* version 1 */
  spit (argv[1], "version1.bin", p, len);
  p[4] = 3;
  memcpy (p + 8, "\xff\xff\xff\xff\xff\xff\xff\x7f", 8); /* absurd tensor count */
  spit (argv[1], "tensor-count.bin", p, len);
  free (p);
  spit (argv[1], "empty-header.bin",
        (const unsigned char *) "GGUF\x03\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 24);
  return 0;
}
