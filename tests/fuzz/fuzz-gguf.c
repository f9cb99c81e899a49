/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * fuzz-gguf.c: libFuzzer target for the GGUF reader. Every input is parsed with
 * sm_gguf_open_memory(); when it is accepted, every accessor is called over everything it
 * returned (keys, typed values, array elements, tensor infos, the first and last byte of each
 * tensor's data), so ASan sees any index or pointer that points outside the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sm-gguf.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static volatile uint64_t sink;

static void
touch (const void *p,
       uint64_t    n)
{
  if (n > 0)
    sink += ((const uint8_t *) p)[0] + ((const uint8_t *) p)[n - 1];
}

static void
walk_kv (const sm_gguf *g,
         int64_t        i)
{
  const char *key = sm_gguf_get_key (g, i);
  uint64_t u;
  int64_t s;
  double d;
  bool b;
  sm_gguf_str str;

  sink += strlen (key);
  if (sm_gguf_find_key (g, key) != i)
    abort (); /* the index must find every key it holds */
  sink += sm_gguf_find_uint (g, key, &u) + sm_gguf_find_int (g, key, &s)
          + sm_gguf_find_float (g, key, &d) + sm_gguf_find_bool (g, key, &b)
          + sm_gguf_find_str (g, key, &str);
  switch (sm_gguf_get_kv_type (g, i))
    {
    case SM_GGUF_TYPE_UINT8: sink += sm_gguf_get_u8 (g, i); break;
    case SM_GGUF_TYPE_INT8: sink += (uint64_t) sm_gguf_get_i8 (g, i); break;
    case SM_GGUF_TYPE_UINT16: sink += sm_gguf_get_u16 (g, i); break;
    case SM_GGUF_TYPE_INT16: sink += (uint64_t) sm_gguf_get_i16 (g, i); break;
    case SM_GGUF_TYPE_UINT32: sink += sm_gguf_get_u32 (g, i); break;
    case SM_GGUF_TYPE_INT32: sink += (uint64_t) sm_gguf_get_i32 (g, i); break;
    case SM_GGUF_TYPE_FLOAT32: sink += sm_gguf_get_f32 (g, i) > 0; break;
    case SM_GGUF_TYPE_BOOL: sink += sm_gguf_get_bool (g, i); break;
    case SM_GGUF_TYPE_UINT64: sink += sm_gguf_get_u64 (g, i); break;
    case SM_GGUF_TYPE_INT64: sink += (uint64_t) sm_gguf_get_i64 (g, i); break;
    case SM_GGUF_TYPE_FLOAT64: sink += sm_gguf_get_f64 (g, i) > 0; break;
    case SM_GGUF_TYPE_STRING:
      str = sm_gguf_get_str (g, i);
      touch (str.ptr, str.len);
      break;
    case SM_GGUF_TYPE_ARRAY:
      {
        sm_gguf_type et = sm_gguf_get_arr_type (g, i);
        uint64_t n = sm_gguf_get_arr_n (g, i);

        if (et == SM_GGUF_TYPE_STRING)
          {
            for (uint64_t j = 0; j < n; j++)
              {
                str = sm_gguf_get_arr_str (g, i, j);
                touch (str.ptr, str.len);
              }
          }
        else
          {
            touch (sm_gguf_get_arr_data (g, i), n * sm_gguf_type_size (et));
          }
        break;
      }
    case SM_GGUF_TYPE_COUNT:
      abort ();
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  /* An exact-size copy: ASan then flags a read one byte past the input. */
  uint8_t *copy = malloc (size ? size : 1);
  sm_gguf *g = NULL;
  sm_error err;

  if (copy == NULL)
    return 0;
  memcpy (copy, data, size);
  if (sm_gguf_open_memory (copy, size, &g, &err) == SM_OK)
    {
      sink += sm_gguf_get_version (g) + sm_gguf_get_alignment (g) + sm_gguf_get_data_offset (g)
              + sm_gguf_get_file_size (g) + sm_gguf_get_n_splits (g);
      for (int64_t i = 0; i < sm_gguf_get_n_kv (g); i++)
        walk_kv (g, i);
      for (int64_t i = 0; i < sm_gguf_get_n_tensors (g); i++)
        {
          const sm_gguf_tensor *t = sm_gguf_get_tensor (g, i);

          if (sm_gguf_find_tensor (g, t->name) != t)
            abort ();
          sink += (uint64_t) sm_gguf_tensor_nelements (t) + strlen (t->name);
          touch (t->data, t->size);
        }
      sm_gguf_free (g);
    }
  else
    {
      /* Failures always say something, on one line. */
      if (g != NULL || err.msg[0] == '\0' || strchr (err.msg, '\n') != NULL)
        abort ();
    }
  free (copy);
  return 0;
}
