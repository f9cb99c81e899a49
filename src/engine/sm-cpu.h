/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-cpu.h: what the processor can do, as the hardware advisor and `smelt hw` report it.
 *
 * On the live machine the instruction-set features come from the processor itself: x86 CPUID,
 * with the operating system's support for the wider register files checked through XGETBV (a CPU
 * may have AVX-512 while the kernel does not save ZMM state), and on ARM from the kernel's
 * auxiliary vector (getauxval). Model name, physical cores and threads come from /proc/cpuinfo and
 * the /sys/devices/system/cpu topology. Every reader takes a root directory so tests run them on
 * recorded /proc and /sys trees; under a recorded root the features are the kernel's own flag list
 * ("flags" on x86, "Features" on ARM), which already has the OS support folded in.
 *
 * Not the kernel dispatcher: picking SIMD kernels is sm-dispatch.c's business.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "sm-common.h"

typedef enum
{
  /* x86 */
  SM_CPU_SSE3,
  SM_CPU_SSSE3,
  SM_CPU_AVX,
  SM_CPU_AVX2,
  SM_CPU_FMA,
  SM_CPU_F16C,
  SM_CPU_AVX512F,
  SM_CPU_AVX512BW,
  SM_CPU_AVX512VL,
  SM_CPU_AVX512_VNNI,
  SM_CPU_AVX512_BF16,
  SM_CPU_AVX512_FP16,
  SM_CPU_AVX_VNNI,
  SM_CPU_AMX_TILE,
  SM_CPU_AMX_INT8,
  SM_CPU_AMX_BF16,
  /* ARM (AArch64) */
  SM_CPU_NEON,    /* Advanced SIMD; "asimd" in the kernel's list, "neon" on 32-bit ARM */
  SM_CPU_ASIMDHP, /* FP16 arithmetic */
  SM_CPU_ASIMDDP, /* dot product (SDOT/UDOT) */
  SM_CPU_I8MM,    /* int8 matrix multiply */
  SM_CPU_BF16,
  SM_CPU_SVE,
  SM_CPU_SVE2,
  SM_CPU_FEATURE_COUNT,
} sm_cpu_feature;

typedef enum
{
  SM_CPU_ARCH_UNKNOWN,
  SM_CPU_ARCH_X86_64,
  SM_CPU_ARCH_AARCH64,
} sm_cpu_arch;

#define SM_CPU_MODEL_MAX 128

typedef struct
{
  sm_cpu_arch arch;
  char        model[SM_CPU_MODEL_MAX]; /* "Intel(R) Core(TM) i7-1165G7 @ 2.80GHz"; "" if unknown */
  int         cores;                   /* physical cores, >= 1 */
  int         threads;                 /* logical processors online, >= cores */
  uint64_t    features;                /* bit (1 << sm_cpu_feature) per supported feature */
} sm_cpu_profile;

/* Reads the processor profile. root is "" , "/" or NULL for the live machine (features from
 * CPUID/XGETBV or getauxval), otherwise a directory holding a recorded proc/cpuinfo and optionally
 * sys/devices/system/cpu (features from the recorded flag list, arch guessed from its shape).
 * Fails with SM_ERR_IO when a recorded root has no readable proc/cpuinfo; on the live machine a
 * missing /proc only leaves model, cores and threads at their fallbacks (""; 1; 1). */
sm_status sm_cpu_profile_read (const char     *root,
                               sm_cpu_profile *out,
                               sm_error       *err);

/* true when the profile has the feature. */
bool sm_cpu_has (const sm_cpu_profile *cpu,
                 sm_cpu_feature        feature);

/* The lowercase name used in `smelt hw` output: "avx512_bf16", "asimddp", ...; NULL if out of
 * range. */
const char *sm_cpu_feature_name (sm_cpu_feature feature);

/* The feature with that lowercase name, or SM_CPU_FEATURE_COUNT when none has it. */
sm_cpu_feature sm_cpu_feature_from_name (const char *name);

/* "x86_64", "aarch64" or "unknown". */
const char *sm_cpu_arch_name (sm_cpu_arch arch);

/* The arch with that name (also accepts "arm64", "amd64"), SM_CPU_ARCH_UNKNOWN otherwise. */
sm_cpu_arch sm_cpu_arch_from_name (const char *name);
