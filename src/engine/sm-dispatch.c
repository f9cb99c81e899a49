/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-dispatch.c: the CPU dispatch table (the engine's only global), in the manner of zlib-ng's
 * functable.c: built once under pthread_once, read lock-free afterwards. One table per variant
 * the CPU supports is built (each starting from the one below it, so a variant without its own
 * kernel for a type inherits the lower one); the active table is the best supported variant, or
 * the one SMELT_CPU_VARIANT names when the CPU supports it (otherwise the best it has).
 *
 * Feature detection uses __builtin_cpu_supports plus CPUID for F16C (clang 14 cannot name it);
 * on aarch64 NEON is always there. sm-cpu.c owns full CPU reporting.
 */
#include "sm-quant-private.h"
#include "sm-gemv-private.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && defined(SM_HAVE_X86_KERNELS)
#include <cpuid.h>
#include "arch/sm-float-kernels.h"
#define SM_X86 1
#endif
#if defined(SM_X86) && defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#define SM_AMX 1
#endif

typedef struct
{
  bool             supported;
  sm_vec_dot_fn    vec_dot[SM_TYPE_COUNT];
  sm_activation_fn act[SM_TYPE_COUNT];
  sm_gemm_tile_fn  gemm[SM_TYPE_COUNT];  /* NULL: no tile kernel, use vec_dot per pair */
  sm_gemv_fn       gemv[SM_TYPE_COUNT];  /* NULL: no multi-row kernel, use vec_dot per row */
  sm_bf16_rows_fn  bf16_rows[SM_TYPE_COUNT]; /* NULL: no AMX-BF16 prompt path for the type */
  bool             amx_bf16;             /* the AMX-BF16 prompt tiles may run */
} variant_table;

static pthread_once_t dispatch_once = PTHREAD_ONCE_INIT;
static variant_table tables[SM_CPU_VARIANT_COUNT];
static const variant_table *active;
static sm_cpu_variant active_variant;

static const char *const variant_names[SM_CPU_VARIANT_COUNT] = {
  [SM_CPU_VARIANT_REF] = "ref",
  [SM_CPU_VARIANT_AVX2] = "avx2",
  [SM_CPU_VARIANT_AVX512] = "avx512",
  [SM_CPU_VARIANT_NEON] = "neon",
};

#ifdef SM_X86
static bool
cpu_has_f16c (void)
{
  unsigned eax, ebx, ecx, edx;

  if (!__get_cpuid (1, &eax, &ebx, &ecx, &edx))
    return false;
  return (ecx & bit_F16C) != 0;
}
#endif

#ifdef SM_AMX
/* CPUID.(7,0):EDX bits of the AMX features the kernels use. */
#define SM_AMX_BF16_BIT 22
#define SM_AMX_INT8_BIT 25

/* AMX with the tile feature of EDX bit feature_bit (SM_AMX_BF16_BIT, SM_AMX_INT8_BIT), and
 * Linux's permission for this process to use the tile registers (arch_prctl
 * ARCH_REQ_XCOMP_PERM = 0x1023 for XFEATURE_XTILEDATA = 18; refused by kernels before 5.16 or
 * without AMX support, and then the kernels are simply not installed). */
static bool
amx_usable (unsigned feature_bit)
{
  unsigned eax, ebx, ecx, edx;

  if (!__get_cpuid_count (7, 0, &eax, &ebx, &ecx, &edx))
    return false;
  if ((edx & (1u << 24)) == 0 || (edx & (1u << feature_bit)) == 0) /* amx_tile, the feature */
    return false;
  return syscall (SYS_arch_prctl, 0x1023, 18) == 0;
}
#endif

static void
dispatch_init (void)
{
  bool avx2 = false, avx512 = false, avx512bf16 = false;

#if defined(SM_X86)
  __builtin_cpu_init ();
  avx2 = __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma") && cpu_has_f16c ();
  avx512 = avx2 && __builtin_cpu_supports ("avx512f") && __builtin_cpu_supports ("avx512bw")
           && __builtin_cpu_supports ("avx512vl") && __builtin_cpu_supports ("avx512dq")
           && __builtin_cpu_supports ("avx512vnni") && __builtin_cpu_supports ("bmi2");
  avx512bf16 = avx512 && __builtin_cpu_supports ("avx512bf16");
#endif

  tables[SM_CPU_VARIANT_REF].supported = true;
  sm_quant_fill_ref (tables[SM_CPU_VARIANT_REF].vec_dot, tables[SM_CPU_VARIANT_REF].act);

#if defined(SM_X86)
  if (avx2)
    {
      tables[SM_CPU_VARIANT_AVX2] = tables[SM_CPU_VARIANT_REF];
      sm_quant_fill_avx2 (tables[SM_CPU_VARIANT_AVX2].vec_dot, tables[SM_CPU_VARIANT_AVX2].act);
      sm_quant_fill_gemm_avx2 (tables[SM_CPU_VARIANT_AVX2].gemm);
      /* F16/BF16 prompt tiles: arch/sm-float-avx2.c. */
      tables[SM_CPU_VARIANT_AVX2].gemm[SM_TYPE_F16] = sm_float_gemm_f16_avx2;
      tables[SM_CPU_VARIANT_AVX2].gemm[SM_TYPE_BF16] = sm_float_gemm_bf16_avx2;
      sm_gemm_fill_k4_avx2 (tables[SM_CPU_VARIANT_AVX2].gemm);
      sm_gemv_fill_avx2 (tables[SM_CPU_VARIANT_AVX2].gemv);
      sm_gemv_fill_k_avx2 (tables[SM_CPU_VARIANT_AVX2].gemv);
      tables[SM_CPU_VARIANT_AVX2].gemv[SM_TYPE_F16] = sm_float_gemv_f16_avx2;
      tables[SM_CPU_VARIANT_AVX2].gemv[SM_TYPE_BF16] = sm_float_gemv_bf16_avx2;
      tables[SM_CPU_VARIANT_AVX2].gemm[SM_TYPE_Q6_K] = sm_gemm_q6_K_avx2;
      tables[SM_CPU_VARIANT_AVX2].gemm[SM_TYPE_IQ4_XS] = sm_gemm_iq4_xs_avx2;
    }
  if (avx512)
    {
      tables[SM_CPU_VARIANT_AVX512] = tables[SM_CPU_VARIANT_AVX2];
      sm_quant_fill_avx512 (tables[SM_CPU_VARIANT_AVX512].vec_dot,
                            tables[SM_CPU_VARIANT_AVX512].act);
      sm_quant_fill_gemm_avx512 (tables[SM_CPU_VARIANT_AVX512].gemm);
      sm_gemm_fill_k4_avx512 (tables[SM_CPU_VARIANT_AVX512].gemm);
      /* F16/BF16: arch/sm-float-avx512.c (dots with prefetch, 16-row panels). */
      tables[SM_CPU_VARIANT_AVX512].vec_dot[SM_TYPE_F16] = sm_float_dot_f16_avx512;
      tables[SM_CPU_VARIANT_AVX512].vec_dot[SM_TYPE_BF16]
          = avx512bf16 ? sm_float_dot_bf16_avx512bf16 : sm_float_dot_bf16_avx512;
      tables[SM_CPU_VARIANT_AVX512].gemm[SM_TYPE_F16] = sm_float_gemm_f16_avx512;
      tables[SM_CPU_VARIANT_AVX512].gemm[SM_TYPE_BF16] = sm_float_gemm_bf16_avx512;
#ifdef SM_AMX
      if (amx_usable (SM_AMX_BF16_BIT))
        {
          tables[SM_CPU_VARIANT_AVX512].gemm[SM_TYPE_BF16] = sm_float_gemm_bf16_amx;
          tables[SM_CPU_VARIANT_AVX512].gemm[SM_TYPE_F16] = sm_float_gemm_f16_amx;
          tables[SM_CPU_VARIANT_AVX512].amx_bf16 = avx512bf16;
        }
#endif
      sm_gemv_fill_avx512 (tables[SM_CPU_VARIANT_AVX512].gemv);
      sm_gemv_fill_k_avx512 (tables[SM_CPU_VARIANT_AVX512].gemv);
      /* F16/BF16 one-token products: four rows per pass (arch/sm-float-avx512.c). */
      tables[SM_CPU_VARIANT_AVX512].gemv[SM_TYPE_F16] = sm_float_gemv_f16_avx512;
      tables[SM_CPU_VARIANT_AVX512].gemv[SM_TYPE_BF16]
          = avx512bf16 ? sm_float_gemv_bf16_avx512bf16 : sm_float_gemv_bf16_avx512;
      tables[SM_CPU_VARIANT_AVX512].gemm[SM_TYPE_Q6_K] = sm_gemm_q6_K_avx512;
      tables[SM_CPU_VARIANT_AVX512].gemm[SM_TYPE_IQ4_XS] = sm_gemm_iq4_xs_avx512;
      tables[SM_CPU_VARIANT_AVX512].gemm[SM_TYPE_IQ4_NL] = sm_gemm_iq4_nl_avx512;
      /* BF16 row decoders for the AMX-BF16 prompt tiles (arch/sm-bf16rows-avx512.c), rounding
       * with vcvtne2ps2bf16 where the CPU has it; the lower variants have none, F16 none either
       * (its conversion to BF16 would lose bits). */
      if (avx512bf16)
        sm_bf16_rows_fill_avx512bf16 (tables[SM_CPU_VARIANT_AVX512].bf16_rows);
      else
        sm_bf16_rows_fill_avx512 (tables[SM_CPU_VARIANT_AVX512].bf16_rows);
#ifdef SM_AMX
      /* Q8_0 prompt tiles on AMX-INT8 (arch/sm-gemm-amx8.c). Its Q4_0 and IQ4_NL twins are
       * tested but not installed: with their weights unpacked per call they measured slower
       * than the VNNI panels on whole prompts (benchmarks/NOTES.md, branch amx8). */
      if (amx_usable (SM_AMX_INT8_BIT))
        tables[SM_CPU_VARIANT_AVX512].gemm[SM_TYPE_Q8_0] = sm_gemm_q8_0_amx;
#endif
    }
#else
  (void) avx2;
  (void) avx512;
  (void) avx512bf16;
#endif

#if defined(__aarch64__) && defined(SM_HAVE_NEON_KERNELS)
  /* Advanced SIMD is part of the aarch64 base architecture. */
  tables[SM_CPU_VARIANT_NEON] = tables[SM_CPU_VARIANT_REF];
  sm_quant_fill_neon (tables[SM_CPU_VARIANT_NEON].vec_dot, tables[SM_CPU_VARIANT_NEON].act);
#endif

  sm_cpu_variant best = SM_CPU_VARIANT_REF;
  for (int v = 0; v < SM_CPU_VARIANT_COUNT; v++)
    if (tables[v].supported)
      best = (sm_cpu_variant) v;

  /* The override may only lower the choice; an unknown or unsupported name keeps the best. */
  const char *want = getenv ("SMELT_CPU_VARIANT");
  if (want != NULL)
    for (int v = 0; v < SM_CPU_VARIANT_COUNT; v++)
      if (strcmp (want, variant_names[v]) == 0 && tables[v].supported)
        best = (sm_cpu_variant) v;

  active_variant = best;
  active = &tables[best];
}

static inline const variant_table *
get_active (void)
{
  pthread_once (&dispatch_once, dispatch_init);
  return active;
}

const char *
sm_cpu_variant_name (sm_cpu_variant v)
{
  if ((unsigned) v >= SM_CPU_VARIANT_COUNT)
    return NULL;
  return variant_names[v];
}

bool
sm_cpu_variant_supported (sm_cpu_variant v)
{
  get_active ();
  return (unsigned) v < SM_CPU_VARIANT_COUNT && tables[v].supported;
}

sm_cpu_variant
sm_dispatch_variant (void)
{
  get_active ();
  return active_variant;
}

sm_vec_dot_fn
sm_dispatch_vec_dot (sm_type weight_type)
{
  if ((unsigned) weight_type >= SM_TYPE_COUNT)
    return NULL;
  return get_active ()->vec_dot[weight_type];
}

sm_vec_dot_fn
sm_dispatch_vec_dot_variant (sm_type        weight_type,
                             sm_cpu_variant v)
{
  if ((unsigned) weight_type >= SM_TYPE_COUNT || !sm_cpu_variant_supported (v))
    return NULL;
  return tables[v].vec_dot[weight_type];
}

sm_gemm_tile_fn
sm_dispatch_gemm_tile (sm_type weight_type)
{
  if ((unsigned) weight_type >= SM_TYPE_COUNT)
    return NULL;
  return get_active ()->gemm[weight_type];
}

sm_gemm_tile_fn
sm_dispatch_gemm_tile_variant (sm_type        weight_type,
                               sm_cpu_variant v)
{
  if ((unsigned) weight_type >= SM_TYPE_COUNT || !sm_cpu_variant_supported (v))
    return NULL;
  return tables[v].gemm[weight_type];
}

sm_gemv_fn
sm_dispatch_gemv (sm_type weight_type)
{
  if ((unsigned) weight_type >= SM_TYPE_COUNT)
    return NULL;
  return get_active ()->gemv[weight_type];
}

sm_gemv_fn
sm_dispatch_gemv_variant (sm_type        weight_type,
                          sm_cpu_variant v)
{
  if ((unsigned) weight_type >= SM_TYPE_COUNT || !sm_cpu_variant_supported (v))
    return NULL;
  return tables[v].gemv[weight_type];
}

sm_bf16_rows_fn
sm_dispatch_bf16_rows (sm_type weight_type)
{
  if ((unsigned) weight_type >= SM_TYPE_COUNT)
    return NULL;
  return get_active ()->bf16_rows[weight_type];
}

bool
sm_dispatch_amx_bf16 (void)
{
  return get_active ()->amx_bf16;
}

sm_bf16_rows_fn
sm_dispatch_bf16_rows_variant (sm_type        weight_type,
                               sm_cpu_variant v)
{
  if ((unsigned) weight_type >= SM_TYPE_COUNT || !sm_cpu_variant_supported (v))
    return NULL;
  return tables[v].bf16_rows[weight_type];
}

bool
sm_bf16_rows_ref (sm_type     weight_type,
                  const void *row,
                  int64_t     k0,
                  int64_t     nk,
                  void       *dst,
                  size_t      step)
{
  const sm_type_traits *tt = sm_type_get_traits (weight_type);
  float buf[256];

  if (tt == NULL || tt->blck_size == 0 || 256 % tt->blck_size != 0 || !sm_quant_can_dequantize
      (weight_type) || k0 < 0 || nk < 0 || k0 % 32 != 0 || nk % 32 != 0
      || k0 % tt->blck_size != 0 || nk % tt->blck_size != 0)
    return false;
  /* 256 elements (or what is left) at a time: whole blocks of every type with blocks of up to
   * 256 elements. */
  for (int64_t k = 0; k < nk; k += 256)
    {
      const int64_t m = nk - k < 256 ? nk - k : 256;
      const uint8_t *src = (const uint8_t *) row
                           + (size_t) ((k0 + k) / tt->blck_size) * tt->type_size;
      if (!sm_dequantize_row (weight_type, src, buf, m))
        return false;
      for (int64_t i = 0; i < m; i++)
        {
          uint16_t *d = (uint16_t *) ((uint8_t *) dst + (size_t) ((k + i) / 32) * step);
          d[(k + i) % 32] = sm_fp32_to_bf16 (buf[i]);
        }
    }
  return true;
}

sm_activation_fn
sm_dispatch_activation_variant (sm_type        weight_type,
                                sm_cpu_variant v)
{
  sm_type at = sm_quant_vec_dot_type (weight_type);

  if (at == SM_TYPE_COUNT || !sm_cpu_variant_supported (v))
    return NULL;
  return tables[v].act[at];
}

/* ---- The dot-product entry points of sm-quant.h ---- */

void
sm_quant_activation_row (sm_type      weight_type,
                         const float *src,
                         void        *dst,
                         int64_t      n)
{
  sm_type at = sm_quant_vec_dot_type (weight_type);

  if (at == SM_TYPE_COUNT)
    return;
  get_active ()->act[at] (src, dst, n);
}

float
sm_vec_dot (sm_type     weight_type,
            int64_t     n,
            const void *w,
            const void *a)
{
  sm_vec_dot_fn f = sm_dispatch_vec_dot (weight_type);

  return f != NULL ? f (n, w, a) : 0.0f;
}

void
sm_gemm_tile (sm_type     weight_type,
              int64_t     n,
              const void *w,
              size_t      w_stride,
              int         nr,
              const void *a,
              size_t      a_stride,
              int         nc,
              float      *out,
              size_t      out_stride)
{
  sm_gemm_tile_fn g = sm_dispatch_gemm_tile (weight_type);
  sm_vec_dot_fn f = sm_dispatch_vec_dot (weight_type);
  const uint8_t *wp = w, *ap = a;

  if (g != NULL)
    {
      g (n, w, w_stride, nr, a, a_stride, nc, out, out_stride);
      return;
    }
  for (int c = 0; c < nc; c++)
    for (int r = 0; r < nr; r++)
      out[(size_t) c * out_stride + r]
          = f != NULL ? f (n, wp + (size_t) r * w_stride, ap + (size_t) c * a_stride) : 0.0f;
}

void
sm_gemm_tile_ref (sm_type     weight_type,
                  int64_t     n,
                  const void *w,
                  size_t      w_stride,
                  int         nr,
                  const void *a,
                  size_t      a_stride,
                  int         nc,
                  float      *out,
                  size_t      out_stride)
{
  sm_vec_dot_fn f = sm_dispatch_vec_dot_variant (weight_type, SM_CPU_VARIANT_REF);
  const uint8_t *wp = w, *ap = a;

  for (int c = 0; c < nc; c++)
    for (int r = 0; r < nr; r++)
      out[(size_t) c * out_stride + r]
          = f != NULL ? f (n, wp + (size_t) r * w_stride, ap + (size_t) c * a_stride) : 0.0f;
}

void
sm_gemv (sm_type     weight_type,
         int64_t     n,
         const void *w,
         size_t      w_stride,
         int64_t     nr,
         const void *a,
         float      *out)
{
  sm_gemv_fn g = sm_dispatch_gemv (weight_type);
  sm_vec_dot_fn f = sm_dispatch_vec_dot (weight_type);
  const uint8_t *wp = w;

  if (g != NULL)
    {
      g (n, w, w_stride, nr, a, out);
      return;
    }
  for (int64_t r = 0; r < nr; r++)
    out[r] = f != NULL ? f (n, wp + (size_t) r * w_stride, a) : 0.0f;
}

void
sm_gemv_ref (sm_type     weight_type,
             int64_t     n,
             const void *w,
             size_t      w_stride,
             int64_t     nr,
             const void *a,
             float      *out)
{
  sm_vec_dot_fn f = sm_dispatch_vec_dot_variant (weight_type, SM_CPU_VARIANT_REF);
  const uint8_t *wp = w;

  for (int64_t r = 0; r < nr; r++)
    out[r] = f != NULL ? f (n, wp + (size_t) r * w_stride, a) : 0.0f;
}
