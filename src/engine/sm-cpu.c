/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-cpu.c: the processor probe behind sm-cpu.h. Live features come from CPUID + XGETBV (x86) or
 * getauxval (AArch64); model name, cores and threads from /proc/cpuinfo and the sysfs topology,
 * read under a root directory so recorded trees can stand in for the machine. Not the SIMD kernel
 * dispatcher (sm-dispatch.c).
 */
#include "sm-cpu.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define SM_CPU_LIVE_X86 1
#endif

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#define SM_CPU_LIVE_ARM 1
#endif

static const char *const feature_names[SM_CPU_FEATURE_COUNT] = {
  [SM_CPU_SSE3] = "sse3",
  [SM_CPU_SSSE3] = "ssse3",
  [SM_CPU_AVX] = "avx",
  [SM_CPU_AVX2] = "avx2",
  [SM_CPU_FMA] = "fma",
  [SM_CPU_F16C] = "f16c",
  [SM_CPU_AVX512F] = "avx512f",
  [SM_CPU_AVX512BW] = "avx512bw",
  [SM_CPU_AVX512VL] = "avx512vl",
  [SM_CPU_AVX512_VNNI] = "avx512_vnni",
  [SM_CPU_AVX512_BF16] = "avx512_bf16",
  [SM_CPU_AVX512_FP16] = "avx512_fp16",
  [SM_CPU_AVX_VNNI] = "avx_vnni",
  [SM_CPU_AMX_TILE] = "amx_tile",
  [SM_CPU_AMX_INT8] = "amx_int8",
  [SM_CPU_AMX_BF16] = "amx_bf16",
  [SM_CPU_NEON] = "neon",
  [SM_CPU_ASIMDHP] = "asimdhp",
  [SM_CPU_ASIMDDP] = "asimddp",
  [SM_CPU_I8MM] = "i8mm",
  [SM_CPU_BF16] = "bf16",
  [SM_CPU_SVE] = "sve",
  [SM_CPU_SVE2] = "sve2",
};

/* The kernel's spelling in /proc/cpuinfo where it differs from ours (x86 "pni" is SSE3, AArch64
 * "asimd" and 32-bit ARM "neon" are both Advanced SIMD). */
static const struct
{
  const char    *kernel;
  sm_cpu_feature feature;
} kernel_aliases[] = {
  { "pni", SM_CPU_SSE3 },
  { "asimd", SM_CPU_NEON },
};

/* ARM implementer/part ids to marketing names, for kernels whose cpuinfo has no "model name"
 * (AArch64 never prints one). Ids from the Arm and Ampere technical reference manuals. */
static const struct
{
  unsigned    implementer;
  unsigned    part;
  const char *name;
} arm_parts[] = {
  { 0x41, 0xd03, "ARM Cortex-A53" },
  { 0x41, 0xd05, "ARM Cortex-A55" },
  { 0x41, 0xd08, "ARM Cortex-A72" },
  { 0x41, 0xd0b, "ARM Cortex-A76" },
  { 0x41, 0xd0c, "ARM Neoverse-N1" },
  { 0x41, 0xd40, "ARM Neoverse-V1" },
  { 0x41, 0xd49, "ARM Neoverse-N2" },
  { 0x41, 0xd4f, "ARM Neoverse-V2" },
  { 0xc0, 0xac3, "Ampere AmpereOne" },
};

const char *
sm_cpu_feature_name (sm_cpu_feature feature)
{
  if ((int) feature < 0 || feature >= SM_CPU_FEATURE_COUNT)
    return NULL;
  return feature_names[feature];
}

sm_cpu_feature
sm_cpu_feature_from_name (const char *name)
{
  if (name == NULL)
    return SM_CPU_FEATURE_COUNT;
  for (int i = 0; i < SM_CPU_FEATURE_COUNT; i++)
    if (strcmp (feature_names[i], name) == 0)
      return (sm_cpu_feature) i;
  return SM_CPU_FEATURE_COUNT;
}

bool
sm_cpu_has (const sm_cpu_profile *cpu,
            sm_cpu_feature        feature)
{
  if (cpu == NULL || (int) feature < 0 || feature >= SM_CPU_FEATURE_COUNT)
    return false;
  return (cpu->features >> feature) & 1u;
}

const char *
sm_cpu_arch_name (sm_cpu_arch arch)
{
  switch (arch)
    {
    case SM_CPU_ARCH_X86_64:
      return "x86_64";
    case SM_CPU_ARCH_AARCH64:
      return "aarch64";
    case SM_CPU_ARCH_UNKNOWN:
    default:
      return "unknown";
    }
}

sm_cpu_arch
sm_cpu_arch_from_name (const char *name)
{
  if (name == NULL)
    return SM_CPU_ARCH_UNKNOWN;
  if (strcmp (name, "x86_64") == 0 || strcmp (name, "amd64") == 0)
    return SM_CPU_ARCH_X86_64;
  if (strcmp (name, "aarch64") == 0 || strcmp (name, "arm64") == 0)
    return SM_CPU_ARCH_AARCH64;
  return SM_CPU_ARCH_UNKNOWN;
}

static bool
root_is_live (const char *root)
{
  return root == NULL || root[0] == '\0' || strcmp (root, "/") == 0;
}

static void
join_path (char       *buf,
           size_t      size,
           const char *root,
           const char *rel)
{
  snprintf (buf, size, "%s/%s", root_is_live (root) ? "" : root, rel);
}

/* Reads a whole (small) file into a NUL-terminated buffer; NULL with errno set on failure. Files
 * under /proc report size 0, so this reads until EOF with a hard cap against hostile trees. */
static char *
read_text_file (const char *path,
                size_t      cap)
{
  FILE *f = fopen (path, "r");
  char *buf = NULL;
  size_t len = 0, alloc = 0;

  if (f == NULL)
    return NULL;
  for (;;)
    {
      size_t n;

      if (alloc - len < 4096 + 1)
        {
          size_t grow = alloc == 0 ? 16384 : alloc * 2;
          char *nb;

          if (grow > cap + 4097)
            grow = cap + 4097;
          if (grow <= alloc)
            break;
          nb = realloc (buf, grow);
          if (nb == NULL)
            {
              free (buf);
              fclose (f);
              errno = ENOMEM;
              return NULL;
            }
          buf = nb;
          alloc = grow;
        }
      n = fread (buf + len, 1, alloc - len - 1, f);
      len += n;
      if (n == 0 || len >= cap)
        break;
    }
  fclose (f);
  if (buf == NULL)
    {
      buf = malloc (1);
      if (buf == NULL)
        return NULL;
    }
  buf[len] = '\0';
  return buf;
}

/* Reads one small integer file (sysfs topology); false when absent or not a number. */
static bool
read_int_file (const char *path,
               long       *out)
{
  char *text = read_text_file (path, 64);
  char *end;
  long v;

  if (text == NULL)
    return false;
  errno = 0;
  v = strtol (text, &end, 10);
  if (end == text || errno != 0)
    {
      free (text);
      return false;
    }
  free (text);
  *out = v;
  return true;
}

static char *
trim (char *s)
{
  char *e;

  while (*s == ' ' || *s == '\t')
    s++;
  e = s + strlen (s);
  while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
    *--e = '\0';
  return s;
}

static void
add_flag_word (uint64_t   *features,
               const char *word)
{
  for (size_t i = 0; i < sizeof kernel_aliases / sizeof kernel_aliases[0]; i++)
    if (strcmp (kernel_aliases[i].kernel, word) == 0)
      {
        *features |= UINT64_C (1) << kernel_aliases[i].feature;
        return;
      }
  {
    sm_cpu_feature f = sm_cpu_feature_from_name (word);

    if (f != SM_CPU_FEATURE_COUNT)
      *features |= UINT64_C (1) << f;
  }
}

static uint64_t
parse_flag_list (char *value)
{
  uint64_t features = 0;
  char *save = NULL;

  for (char *w = strtok_r (value, " \t", &save); w != NULL; w = strtok_r (NULL, " \t", &save))
    add_flag_word (&features, w);
  return features;
}

/* What /proc/cpuinfo says, processor blocks folded together. */
typedef struct
{
  int      processors;        /* "processor" entries */
  bool     have_flags;        /* x86 "flags" seen */
  bool     have_arm_features; /* ARM "Features" seen */
  uint64_t features;          /* from the first flags/Features line */
  char     model[SM_CPU_MODEL_MAX];
  long     arm_implementer;
  long     arm_part;
  uint64_t *pairs;            /* (physical id << 32 | core id) per processor, x86 only */
  int      n_pairs;
  long     pending_phys;
} cpuinfo_summary;

static void
add_pair (cpuinfo_summary *s,
          long             phys,
          long             core)
{
  uint64_t key = ((uint64_t) (uint32_t) phys << 32) | (uint32_t) core;
  uint64_t *np;

  for (int i = 0; i < s->n_pairs; i++)
    if (s->pairs[i] == key)
      return;
  np = realloc (s->pairs, sizeof (uint64_t) * (size_t) (s->n_pairs + 1));
  if (np == NULL)
    return; /* only a fallback count is lost */
  s->pairs = np;
  s->pairs[s->n_pairs++] = key;
}

static void
parse_cpuinfo (char            *text,
               cpuinfo_summary *s)
{
  char *save = NULL;

  s->arm_implementer = -1;
  s->arm_part = -1;
  s->pending_phys = -1;
  for (char *line = strtok_r (text, "\n", &save); line != NULL; line = strtok_r (NULL, "\n", &save))
    {
      char *colon = strchr (line, ':');
      char *key, *value;

      if (colon == NULL)
        continue;
      *colon = '\0';
      key = trim (line);
      value = trim (colon + 1);

      if (strcmp (key, "processor") == 0)
        s->processors++;
      else if (strcmp (key, "flags") == 0 && !s->have_flags)
        {
          s->have_flags = true;
          s->features = parse_flag_list (value);
        }
      else if (strcmp (key, "Features") == 0 && !s->have_arm_features)
        {
          s->have_arm_features = true;
          s->features = parse_flag_list (value);
        }
      else if (strcmp (key, "model name") == 0 && s->model[0] == '\0')
        snprintf (s->model, sizeof s->model, "%s", value);
      else if (strcmp (key, "CPU implementer") == 0 && s->arm_implementer < 0)
        s->arm_implementer = strtol (value, NULL, 0);
      else if (strcmp (key, "CPU part") == 0 && s->arm_part < 0)
        s->arm_part = strtol (value, NULL, 0);
      else if (strcmp (key, "physical id") == 0)
        s->pending_phys = strtol (value, NULL, 10);
      else if (strcmp (key, "core id") == 0 && s->pending_phys >= 0)
        add_pair (s, s->pending_phys, strtol (value, NULL, 10));
    }
}

/* Parses a sysfs cpu list ("0-3,8-11") and returns how many cpus it names, 0 if malformed. */
static int
count_cpu_list (const char *text)
{
  int count = 0;
  const char *p = text;

  while (*p != '\0' && *p != '\n')
    {
      char *end;
      long a = strtol (p, &end, 10), b;

      if (end == p || a < 0)
        return 0;
      b = a;
      p = end;
      if (*p == '-')
        {
          p++;
          b = strtol (p, &end, 10);
          if (end == p || b < a)
            return 0;
          p = end;
        }
      if (b - a + 1 > 1 << 20)
        return 0;
      count += (int) (b - a + 1);
      if (*p == ',')
        p++;
      else if (*p != '\0' && *p != '\n')
        return 0;
    }
  return count;
}

/* Physical cores from sysfs topology: distinct (package, core) pairs over cpu0..cpu{n-1}. 0 when
 * the topology is not there. */
static int
count_topology_cores (const char *root,
                      int         n_cpus)
{
  uint64_t *keys;
  int n = 0;

  if (n_cpus <= 0 || n_cpus > 1 << 16)
    return 0;
  keys = calloc ((size_t) n_cpus, sizeof (uint64_t));
  if (keys == NULL)
    return 0;
  for (int cpu = 0; cpu < n_cpus; cpu++)
    {
      char rel[128], path[4096];
      long pkg, core;
      uint64_t key;
      bool seen = false;

      snprintf (rel, sizeof rel, "sys/devices/system/cpu/cpu%d/topology/core_id", cpu);
      join_path (path, sizeof path, root, rel);
      if (!read_int_file (path, &core))
        continue;
      snprintf (rel, sizeof rel, "sys/devices/system/cpu/cpu%d/topology/physical_package_id", cpu);
      join_path (path, sizeof path, root, rel);
      if (!read_int_file (path, &pkg))
        pkg = 0;
      key = ((uint64_t) (uint32_t) pkg << 32) | (uint32_t) core;
      for (int i = 0; i < n && !seen; i++)
        seen = keys[i] == key;
      if (!seen)
        keys[n++] = key;
    }
  free (keys);
  return n;
}

#ifdef SM_CPU_LIVE_X86
/* XCR0: which register states the OS saves on a context switch. Only valid when CPUID says
 * OSXSAVE; without it no AVX state is saved and AVX must be treated as absent. */
static uint64_t
read_xcr0 (void)
{
  uint32_t eax, edx;

  __asm__ volatile ("xgetbv" : "=a" (eax), "=d" (edx) : "c" (0));
  return ((uint64_t) edx << 32) | eax;
}

static uint64_t
probe_x86 (void)
{
  unsigned a, b, c, d, max_leaf;
  uint64_t f = 0, xcr0 = 0;
  bool os_avx, os_avx512, os_amx;

#define SET(feature, cond) \
  do { if (cond) f |= UINT64_C (1) << (feature); } while (0)

  max_leaf = __get_cpuid_max (0, NULL);
  if (max_leaf < 1)
    return 0;
  __cpuid_count (1, 0, a, b, c, d);
  if (c & (1u << 27)) /* OSXSAVE */
    xcr0 = read_xcr0 ();
  /* XCR0 bits: 1 SSE, 2 AVX (YMM upper halves), 5-7 opmask + ZMM, 17-18 AMX tile config/data. */
  os_avx = (xcr0 & 0x6) == 0x6;
  os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;
  os_amx = (xcr0 & 0x60000) == 0x60000;

  SET (SM_CPU_SSE3, c & (1u << 0));
  SET (SM_CPU_SSSE3, c & (1u << 9));
  SET (SM_CPU_FMA, os_avx && (c & (1u << 12)));
  SET (SM_CPU_AVX, os_avx && (c & (1u << 28)));
  SET (SM_CPU_F16C, os_avx && (c & (1u << 29)));

  if (max_leaf >= 7)
    {
      unsigned sub_max;

      __cpuid_count (7, 0, a, b, c, d);
      sub_max = a;
      SET (SM_CPU_AVX2, os_avx && (b & (1u << 5)));
      SET (SM_CPU_AVX512F, os_avx512 && (b & (1u << 16)));
      SET (SM_CPU_AVX512BW, os_avx512 && (b & (1u << 30)));
      SET (SM_CPU_AVX512VL, os_avx512 && (b & (1u << 31)));
      SET (SM_CPU_AVX512_VNNI, os_avx512 && (c & (1u << 11)));
      SET (SM_CPU_AVX512_FP16, os_avx512 && (d & (1u << 23)));
      SET (SM_CPU_AMX_BF16, os_amx && (d & (1u << 22)));
      SET (SM_CPU_AMX_TILE, os_amx && (d & (1u << 24)));
      SET (SM_CPU_AMX_INT8, os_amx && (d & (1u << 25)));
      if (sub_max >= 1)
        {
          __cpuid_count (7, 1, a, b, c, d);
          SET (SM_CPU_AVX_VNNI, os_avx && (a & (1u << 4)));
          SET (SM_CPU_AVX512_BF16, os_avx512 && (a & (1u << 5)));
        }
    }
#undef SET
  return f;
}
#endif

#ifdef SM_CPU_LIVE_ARM
/* Linux arm64 hwcap bits (arch/arm64/include/uapi/asm/hwcap.h), spelled out so older libc
 * headers still build. */
#define SM_HWCAP_ASIMD    (1ul << 1)
#define SM_HWCAP_ASIMDHP  (1ul << 10)
#define SM_HWCAP_ASIMDDP  (1ul << 20)
#define SM_HWCAP_SVE      (1ul << 22)
#define SM_HWCAP2_SVE2    (1ul << 1)
#define SM_HWCAP2_I8MM    (1ul << 13)
#define SM_HWCAP2_BF16    (1ul << 14)
#ifndef AT_HWCAP2
#define AT_HWCAP2 26
#endif

static uint64_t
probe_arm (void)
{
  unsigned long hw = getauxval (AT_HWCAP), hw2 = getauxval (AT_HWCAP2);
  uint64_t f = 0;

  if (hw & SM_HWCAP_ASIMD)
    f |= UINT64_C (1) << SM_CPU_NEON;
  if (hw & SM_HWCAP_ASIMDHP)
    f |= UINT64_C (1) << SM_CPU_ASIMDHP;
  if (hw & SM_HWCAP_ASIMDDP)
    f |= UINT64_C (1) << SM_CPU_ASIMDDP;
  if (hw & SM_HWCAP_SVE)
    f |= UINT64_C (1) << SM_CPU_SVE;
  if (hw2 & SM_HWCAP2_SVE2)
    f |= UINT64_C (1) << SM_CPU_SVE2;
  if (hw2 & SM_HWCAP2_I8MM)
    f |= UINT64_C (1) << SM_CPU_I8MM;
  if (hw2 & SM_HWCAP2_BF16)
    f |= UINT64_C (1) << SM_CPU_BF16;
  return f;
}
#endif

sm_status
sm_cpu_profile_read (const char     *root,
                     sm_cpu_profile *out,
                     sm_error       *err)
{
  cpuinfo_summary s;
  char path[4096];
  char *text;
  bool live = root_is_live (root);
  int online = 0, topo_cores;

  if (out == NULL)
    return sm_error_set (err, SM_ERR_INVALID_ARG, "sm_cpu_profile_read: no output");
  memset (out, 0, sizeof *out);
  memset (&s, 0, sizeof s);

  join_path (path, sizeof path, root, "proc/cpuinfo");
  text = read_text_file (path, 8u << 20);
  if (text == NULL && !live)
    return sm_error_set (err, SM_ERR_IO, "%s: %s", path, strerror (errno));
  if (text != NULL)
    {
      parse_cpuinfo (text, &s);
      free (text);
    }

  if (live)
    {
#if defined(__x86_64__)
      out->arch = SM_CPU_ARCH_X86_64;
#elif defined(__aarch64__)
      out->arch = SM_CPU_ARCH_AARCH64;
#else
      out->arch = SM_CPU_ARCH_UNKNOWN;
#endif
#if defined(SM_CPU_LIVE_X86)
      out->features = probe_x86 ();
#elif defined(SM_CPU_LIVE_ARM)
      out->features = probe_arm ();
#endif
    }
  else
    {
      /* A recorded tree says nothing about the machine that wrote it except through its shape. */
      if (s.have_flags)
        out->arch = SM_CPU_ARCH_X86_64;
      else if (s.have_arm_features || s.arm_implementer >= 0)
        out->arch = SM_CPU_ARCH_AARCH64;
      else
        out->arch = SM_CPU_ARCH_UNKNOWN;
      out->features = s.features;
    }

  if (s.model[0] != '\0')
    snprintf (out->model, sizeof out->model, "%s", s.model);
  else if (s.arm_implementer >= 0)
    {
      const char *name = NULL;

      for (size_t i = 0; i < sizeof arm_parts / sizeof arm_parts[0]; i++)
        if ((long) arm_parts[i].implementer == s.arm_implementer
            && (long) arm_parts[i].part == s.arm_part)
          name = arm_parts[i].name;
      if (name != NULL)
        snprintf (out->model, sizeof out->model, "%s", name);
      else
        snprintf (out->model, sizeof out->model, "ARM implementer 0x%02lx part 0x%03lx",
                  s.arm_implementer, s.arm_part < 0 ? 0 : s.arm_part);
    }

  /* Threads: the kernel's online list, else the cpuinfo processor count. */
  join_path (path, sizeof path, root, "sys/devices/system/cpu/online");
  text = read_text_file (path, 4096);
  if (text != NULL)
    {
      online = count_cpu_list (text);
      free (text);
    }
  out->threads = online > 0 ? online : s.processors;
  if (out->threads <= 0 && live)
    {
      long n = sysconf (_SC_NPROCESSORS_ONLN);

      out->threads = n > 0 && n < 1 << 20 ? (int) n : 1;
    }
  if (out->threads <= 0)
    out->threads = 1;

  /* Cores: sysfs topology, else cpuinfo's (physical id, core id) pairs, else one per thread
   * (ARM cpuinfo carries no core ids, and most ARM cores run one thread). */
  topo_cores = count_topology_cores (root, out->threads);
  if (topo_cores > 0)
    out->cores = topo_cores;
  else if (s.n_pairs > 0)
    out->cores = s.n_pairs;
  else
    out->cores = out->threads;
  if (out->cores > out->threads)
    out->cores = out->threads;
  free (s.pairs);
  return SM_OK;
}
