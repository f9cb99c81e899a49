/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-quant-fast.c: the table of SIMD quantizers per CPU variant (sm-quant-fast.h). Built once
 * under pthread_once from the variants sm-dispatch.c says the CPU supports; a variant starts from
 * the one below it, so it inherits what it does not implement.
 */
#include "sm-quant-fast.h"

#include <pthread.h>
#include <string.h>

static pthread_once_t fast_once = PTHREAD_ONCE_INIT;
static sm_quantize_fn fast[SM_CPU_VARIANT_COUNT][SM_TYPE_COUNT];
static sm_row_to_f32_fn conv[SM_CPU_VARIANT_COUNT][SM_TYPE_COUNT];

static void
fast_init (void)
{
  memset (fast, 0, sizeof fast);
  memset (conv, 0, sizeof conv);
#if (defined(__x86_64__) || defined(__i386__)) && defined(SM_HAVE_X86_KERNELS)
  if (sm_cpu_variant_supported (SM_CPU_VARIANT_AVX2))
    sm_quantize_fill_avx2 (fast[SM_CPU_VARIANT_AVX2], conv[SM_CPU_VARIANT_AVX2]);
  if (sm_cpu_variant_supported (SM_CPU_VARIANT_AVX512))
    {
      memcpy (fast[SM_CPU_VARIANT_AVX512], fast[SM_CPU_VARIANT_AVX2],
              sizeof fast[SM_CPU_VARIANT_AVX512]);
      memcpy (conv[SM_CPU_VARIANT_AVX512], conv[SM_CPU_VARIANT_AVX2],
              sizeof conv[SM_CPU_VARIANT_AVX512]);
      sm_quantize_fill_avx512 (fast[SM_CPU_VARIANT_AVX512], conv[SM_CPU_VARIANT_AVX512]);
    }
#endif
}

sm_quantize_fn
sm_quantize_fast_variant (sm_type        type,
                          sm_cpu_variant v)
{
  if ((unsigned) type >= SM_TYPE_COUNT || (unsigned) v >= SM_CPU_VARIANT_COUNT
      || !sm_cpu_variant_supported (v))
    return NULL;
  pthread_once (&fast_once, fast_init);
  return fast[v][type];
}

sm_quantize_fn
sm_quantize_fast (sm_type type)
{
  return sm_quantize_fast_variant (type, sm_dispatch_variant ());
}

sm_row_to_f32_fn
sm_quantize_fast_to_f32_variant (sm_type        src_type,
                                 sm_cpu_variant v)
{
  if ((unsigned) src_type >= SM_TYPE_COUNT || (unsigned) v >= SM_CPU_VARIANT_COUNT
      || !sm_cpu_variant_supported (v))
    return NULL;
  pthread_once (&fast_once, fast_init);
  return conv[v][src_type];
}

sm_row_to_f32_fn
sm_quantize_fast_to_f32 (sm_type src_type)
{
  return sm_quantize_fast_to_f32_variant (src_type, sm_dispatch_variant ());
}
