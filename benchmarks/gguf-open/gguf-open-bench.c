/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * gguf-open-bench.c: how long sm_gguf_open() takes to map and index a multi-GB model.
 *
 * Writes, with Smelt's own writer, a GGUF laid out like Llama-3.2-1B in BF16 (16 layers, dim
 * 2048, FFN 8192, 8 KV heads, tied embeddings: about 2.47 GB) carrying the real Llama 3 tokenizer
 * metadata (128256 tokens, 280147 merges, copied from the vocab fixture), with sparse zero tensor
 * data, into a temporary directory. Then opens it RUNS times and prints the median, minimum and
 * maximum time of open + index, warm and with the file's pages dropped from the page cache
 * first, and how much tensor data was resident right after the open: 0 warm (open reads no
 * tensor data); cold, only what the kernel's readahead fetched past the end of the header (bounded
 * by the readahead window, whatever the model's size). Not a test: run it by hand (benchmarks/gguf-open/README.md).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "sm-gguf.h"

#define N_LAYER 16
#define DIM     2048
#define N_FF    8192
#define KV_DIM  512 /* 8 KV heads x 64 */
#define N_VOCAB 128256

static double
now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* CPU time of this process: unlike wall time, barely disturbed by other load on the machine. */
static double
cpu_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
cmp_double (const void *a,
            const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y;
}

static void
check (sm_status       st,
       const sm_error *err,
       const char     *what)
{
  if (st != SM_OK)
    {
      fprintf (stderr, "gguf-open-bench: %s: %s\n", what, err->msg);
      exit (1);
    }
}

static void
add (sm_gguf_writer *w,
     const char     *name,
     sm_type         type,
     int64_t         ne0,
     int64_t         ne1)
{
  int64_t ne[2] = { ne0, ne1 };
  sm_error err;

  check (sm_gguf_writer_add_tensor (w, name, type, ne1 > 0 ? 2 : 1, ne, &err), &err, name);
}

static void
write_model (const char *path,
             const char *vocab_path)
{
  sm_gguf_writer *w = sm_gguf_writer_new ();
  sm_gguf *vocab = NULL;
  sm_error err;
  char name[64];

  check (sm_gguf_open (vocab_path, &vocab, &err), &err, vocab_path);
  sm_gguf_writer_set_str (w, "general.architecture", "llama");
  sm_gguf_writer_set_str (w, "general.name", "Llama 3.2 1B (layout only)");
  sm_gguf_writer_set_u32 (w, "general.file_type", SM_FTYPE_MOSTLY_BF16);
  sm_gguf_writer_set_u32 (w, "llama.block_count", N_LAYER);
  sm_gguf_writer_set_u32 (w, "llama.context_length", 131072);
  sm_gguf_writer_set_u32 (w, "llama.embedding_length", DIM);
  sm_gguf_writer_set_u32 (w, "llama.feed_forward_length", N_FF);
  sm_gguf_writer_set_u32 (w, "llama.attention.head_count", 32);
  sm_gguf_writer_set_u32 (w, "llama.attention.head_count_kv", 8);
  sm_gguf_writer_set_f32 (w, "llama.rope.freq_base", 500000.0f);
  sm_gguf_writer_set_f32 (w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
  for (int64_t i = 0; i < sm_gguf_get_n_kv (vocab); i++)
    if (strncmp (sm_gguf_get_key (vocab, i), "tokenizer.", 10) == 0)
      sm_gguf_writer_copy_kv (w, vocab, i);

  add (w, "rope_freqs.weight", SM_TYPE_F32, 32, 0);
  add (w, "token_embd.weight", SM_TYPE_BF16, DIM, N_VOCAB);
  for (int l = 0; l < N_LAYER; l++)
    {
#define LAYER(suffix, type, a, b) \
      snprintf (name, sizeof name, "blk.%d." suffix, l); \
      add (w, name, type, a, b)
      LAYER ("attn_norm.weight", SM_TYPE_F32, DIM, 0);
      LAYER ("attn_q.weight", SM_TYPE_BF16, DIM, DIM);
      LAYER ("attn_k.weight", SM_TYPE_BF16, DIM, KV_DIM);
      LAYER ("attn_v.weight", SM_TYPE_BF16, DIM, KV_DIM);
      LAYER ("attn_output.weight", SM_TYPE_BF16, DIM, DIM);
      LAYER ("ffn_norm.weight", SM_TYPE_F32, DIM, 0);
      LAYER ("ffn_gate.weight", SM_TYPE_BF16, DIM, N_FF);
      LAYER ("ffn_up.weight", SM_TYPE_BF16, DIM, N_FF);
      LAYER ("ffn_down.weight", SM_TYPE_BF16, N_FF, DIM);
#undef LAYER
    }
  add (w, "output_norm.weight", SM_TYPE_F32, DIM, 0);

  check (sm_gguf_writer_begin (w, path, &err), &err, path);
  for (int i = 0; i < 2 + N_LAYER * 9 + 1; i++)
    check (sm_gguf_writer_write_tensor_zeros (w, &err), &err, "write");
  check (sm_gguf_writer_finish (w, &err), &err, "finish");
  sm_gguf_writer_free (w);
  sm_gguf_free (vocab);
}

static void
drop_cache (const char *path)
{
  int fd = open (path, O_RDONLY);

  if (fd >= 0)
    {
      posix_fadvise (fd, 0, 0, POSIX_FADV_DONTNEED);
      close (fd);
    }
}

/* Pages of tensor data resident right after open (0 when open read none of it). */
static size_t
resident_data_pages (const sm_gguf *g)
{
  long page = sysconf (_SC_PAGESIZE);
  const sm_gguf_tensor *first = sm_gguf_get_tensor (g, 0);
  uintptr_t base = (uintptr_t) first->data - first->offset;
  uintptr_t start = (base + (uintptr_t) page - 1) & ~((uintptr_t) page - 1);
  uintptr_t end = (base + (sm_gguf_get_file_size (g) - sm_gguf_get_data_offset (g)))
                  & ~((uintptr_t) page - 1);
  size_t n = (end - start) / (uintptr_t) page, resident = 0;
  unsigned char *vec = malloc (n);

  if (vec == NULL || mincore ((void *) start, end - start, vec) != 0)
    {
      free (vec);
      return (size_t) -1;
    }
  for (size_t i = 0; i < n; i++)
    resident += vec[i] & 1;
  free (vec);
  return resident;
}

static void
measure (const char *path,
         int         runs,
         int         cold)
{
  double *t = calloc ((size_t) runs, sizeof *t), *c = calloc ((size_t) runs, sizeof *c);
  size_t resident = 0;
  sm_error err;

  for (int r = 0; r < runs; r++)
    {
      sm_gguf *g = NULL;
      double t0, c0;

      if (cold)
        drop_cache (path);
      t0 = now_ms ();
      c0 = cpu_ms ();
      check (sm_gguf_open (path, &g, &err), &err, path);
      t[r] = now_ms () - t0;
      c[r] = cpu_ms () - c0;
      resident += resident_data_pages (g);
      sm_gguf_free (g);
    }
  qsort (t, (size_t) runs, sizeof *t, cmp_double);
  qsort (c, (size_t) runs, sizeof *c, cmp_double);
  printf ("%-5s open + index: median %.2f ms (CPU %.2f ms), min %.2f ms, max %.2f ms over %d "
          "runs; tensor data resident after open: %.2f MB per run\n",
          cold ? "cold" : "warm", t[runs / 2], c[runs / 2], t[0], t[runs - 1], runs,
          resident * (double) sysconf (_SC_PAGESIZE) / runs / 1e6);
  free (t);
  free (c);
}

int
main (int    argc,
      char **argv)
{
  const char *vocab = argc > 1 ? argv[1] : SMELT_DEFAULT_VOCAB;
  int runs = argc > 2 ? atoi (argv[2]) : 11;
  char dir[] = "/tmp/smelt-bench-XXXXXX", path[128];
  sm_gguf *g = NULL;
  sm_error err;
  double t0;

  if (runs < 1)
    runs = 1;
  if (mkdtemp (dir) == NULL)
    {
      perror ("mkdtemp");
      return 1;
    }
  snprintf (path, sizeof path, "%s/llama-3.2-1b-bf16-layout.gguf", dir);
  t0 = now_ms ();
  write_model (path, vocab);
  check (sm_gguf_open (path, &g, &err), &err, path);
  printf ("wrote %s: %.3f GB, %lld tensors, %lld keys, %.1f MB of header (%.0f ms)\n", path,
          sm_gguf_get_file_size (g) / 1e9, (long long) sm_gguf_get_n_tensors (g),
          (long long) sm_gguf_get_n_kv (g), sm_gguf_get_data_offset (g) / 1e6, now_ms () - t0);

  /* Lookups through the hash tables: every tensor by name, and a few keys, many times over. */
  {
    const int rounds = 2000;
    int64_t n_t = sm_gguf_get_n_tensors (g), found = 0;
    static const char *const keys[] = { "general.architecture", "tokenizer.ggml.tokens",
                                        "llama.block_count", "no.such.key" };

    t0 = now_ms ();
    for (int r = 0; r < rounds; r++)
      for (int64_t i = 0; i < n_t; i++)
        found += sm_gguf_find_tensor (g, sm_gguf_get_tensor (g, i)->name) != NULL;
    printf ("find_tensor: %.0f ns per lookup (%lld found)\n",
            (now_ms () - t0) * 1e6 / ((double) rounds * (double) n_t), (long long) found);
    found = 0;
    t0 = now_ms ();
    for (int r = 0; r < rounds * 100; r++)
      found += sm_gguf_find_key (g, keys[r % 4]) >= 0;
    printf ("find_key:    %.0f ns per lookup (%lld found)\n",
            (now_ms () - t0) * 1e6 / (rounds * 100.0), (long long) found);
  }
  sm_gguf_free (g);

  measure (path, runs, 0);
  measure (path, runs, 1);

  unlink (path);
  rmdir (dir);
  return 0;
}
