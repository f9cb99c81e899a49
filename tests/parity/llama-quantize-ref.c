/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * llama-quantize-ref.c: llama.cpp's own model quantizer (llama_model_quantize in the libllama that
 * npm's node-llama-cpp ships, loaded at run time with dlopen) as a command, so the parity test and
 * the benchmark can compare Smelt's output with llama.cpp's on the same input. Nothing of
 * llama.cpp is built or committed here; only its public C entry points are called.
 *
 *   llama-quantize-ref LIBLLAMA.so IN.gguf OUT.gguf FTYPE_NUMBER NTHREADS
 *
 * Only the first two fields of llama_model_quantize_params (int32 nthread, int32 ftype) are set;
 * the rest keep llama_model_quantize_default_params()'s values. The struct is received into a
 * buffer larger than any version of it (it is returned through a hidden pointer either way).
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct
{
  int32_t       nthread;
  int32_t       ftype;
  unsigned char rest[504];
} quantize_params;

typedef quantize_params (*default_params_fn) (void);
typedef uint32_t (*quantize_fn) (const char *in, const char *out, const quantize_params *p);
typedef void (*backend_init_fn) (void);

int
main (int    argc,
      char **argv)
{
  default_params_fn default_params;
  quantize_fn quantize;
  backend_init_fn backend_init;
  quantize_params p;
  void *lib;
  uint32_t rc;

  if (argc != 6)
    {
      fprintf (stderr, "usage: llama-quantize-ref LIBLLAMA.so IN.gguf OUT.gguf FTYPE NTHREADS\n");
      return 2;
    }
  lib = dlopen (argv[1], RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL)
    {
      fprintf (stderr, "llama-quantize-ref: %s\n", dlerror ());
      return 1;
    }
  default_params = (default_params_fn) dlsym (lib, "llama_model_quantize_default_params");
  quantize = (quantize_fn) dlsym (lib, "llama_model_quantize");
  backend_init = (backend_init_fn) dlsym (lib, "llama_backend_init");
  if (default_params == NULL || quantize == NULL || backend_init == NULL)
    {
      fprintf (stderr, "llama-quantize-ref: %s lacks the quantize API\n", argv[1]);
      return 1;
    }
  backend_init ();
  p = default_params ();
  p.ftype = atoi (argv[4]);
  p.nthread = atoi (argv[5]);
  rc = quantize (argv[2], argv[3], &p);
  if (rc != 0)
    {
      fprintf (stderr, "llama-quantize-ref: llama_model_quantize failed (%u)\n", rc);
      return 1;
    }
  return 0;
}
