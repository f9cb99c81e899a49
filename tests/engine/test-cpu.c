/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-cpu.c: the CPU probe on the recorded /proc and /sys trees in tests/fixtures/hw (features
 * from the kernel's flag lists, model names, physical cores and threads), the feature name table,
 * and the live probe's own consistency on this machine.
 */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "sm-cpu.h"

typedef struct
{
  const char *machine;
  sm_cpu_arch arch;
  const char *model;
  int         cores;
  int         threads;
  const char *features; /* exactly these, space-separated */
} CpuCase;

static const CpuCase cases[] = {
  { "intel-avx2-laptop", SM_CPU_ARCH_X86_64, "Intel(R) Core(TM) i7-10510U CPU @ 1.80GHz", 4, 8,
    "sse3 ssse3 avx avx2 fma f16c" },
  { "xeon-avx512-bf16-server", SM_CPU_ARCH_X86_64, "Intel(R) Xeon(R) Platinum 8480+", 8, 16,
    "sse3 ssse3 avx avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni avx512_bf16 avx512_fp16 "
    "avx_vnni amx_tile amx_int8 amx_bf16" },
  { "amd-radeon-dgpu", SM_CPU_ARCH_X86_64, "AMD Ryzen 7 5800X 8-Core Processor", 8, 16,
    "sse3 ssse3 avx avx2 fma f16c" },
  { "amd-apu", SM_CPU_ARCH_X86_64, "AMD Ryzen 7 7840U w/ Radeon  780M Graphics", 8, 16,
    "sse3 ssse3 avx avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni avx512_bf16" },
  { "raspberry-pi-5", SM_CPU_ARCH_AARCH64, "ARM Cortex-A76", 4, 4, "neon asimdhp asimddp" },
  { "ampere-arm-server", SM_CPU_ARCH_AARCH64, "Ampere AmpereOne", 48, 48,
    "neon asimdhp asimddp i8mm bf16" },
  { "container-cgroup-limit", SM_CPU_ARCH_X86_64, "AMD EPYC 7763 64-Core Processor", 4, 8,
    "sse3 ssse3 avx avx2 fma f16c" },
  { "old-cpu-no-avx", SM_CPU_ARCH_X86_64, "Intel(R) Core(TM)2 Duo CPU     E8400  @ 3.00GHz", 2, 2,
    "sse3 ssse3" },
};

static char *
fixture_root (const char *machine)
{
  const char *src = g_getenv ("SMELT_SOURCE_DIR");

  g_assert_nonnull (src);
  return g_build_filename (src, "tests", "fixtures", "hw", machine, NULL);
}

static void
test_recorded (gconstpointer data)
{
  const CpuCase *c = data;
  g_autofree char *root = fixture_root (c->machine);
  g_auto(GStrv) want = g_strsplit (c->features, " ", -1);
  sm_cpu_profile cpu;
  sm_error err = { 0 };
  uint64_t expect = 0;

  g_assert_cmpint (sm_cpu_profile_read (root, &cpu, &err), ==, SM_OK);
  g_assert_cmpint (cpu.arch, ==, c->arch);
  g_assert_cmpstr (cpu.model, ==, c->model);
  g_assert_cmpint (cpu.cores, ==, c->cores);
  g_assert_cmpint (cpu.threads, ==, c->threads);
  for (guint i = 0; want[i] != NULL; i++)
    {
      sm_cpu_feature f = sm_cpu_feature_from_name (want[i]);

      g_assert_cmpint (f, <, SM_CPU_FEATURE_COUNT);
      expect |= UINT64_C (1) << f;
    }
  for (int f = 0; f < SM_CPU_FEATURE_COUNT; f++)
    if (sm_cpu_has (&cpu, f) != ((expect >> f) & 1))
      g_error ("%s: feature %s is %s", c->machine, sm_cpu_feature_name (f),
               sm_cpu_has (&cpu, f) ? "set but not expected" : "expected but missing");
}

static void
test_missing_root (void)
{
  sm_cpu_profile cpu;
  sm_error err = { 0 };

  g_assert_cmpint (sm_cpu_profile_read ("/nonexistent/smelt-root", &cpu, &err), ==, SM_ERR_IO);
  g_assert_nonnull (strstr (err.msg, "cpuinfo"));
}

static void
test_names (void)
{
  for (int f = 0; f < SM_CPU_FEATURE_COUNT; f++)
    {
      const char *name = sm_cpu_feature_name (f);

      g_assert_nonnull (name);
      for (const char *p = name; *p; p++)
        g_assert_false (g_ascii_isupper (*p));
      g_assert_cmpint (sm_cpu_feature_from_name (name), ==, f);
    }
  g_assert_null (sm_cpu_feature_name (SM_CPU_FEATURE_COUNT));
  g_assert_cmpint (sm_cpu_feature_from_name ("pni"), ==, SM_CPU_FEATURE_COUNT);
  g_assert_cmpint (sm_cpu_arch_from_name ("arm64"), ==, SM_CPU_ARCH_AARCH64);
  g_assert_cmpstr (sm_cpu_arch_name (SM_CPU_ARCH_X86_64), ==, "x86_64");
}

static void
write_file (const char *root,
            const char *rel,
            const char *text,
            gssize      len)
{
  g_autofree char *path = g_build_filename (root, rel, NULL);
  g_autofree char *dir = g_path_get_dirname (path);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_assert_true (g_file_set_contents (path, text, len, NULL));
}

/* Damaged trees: junk lines, NUL bytes, a malformed cpu list, topology files that are not
 * numbers. The probe keeps what it can read and falls back for the rest, never failing. */
static void
test_damaged (void)
{
  g_autofree char *root = g_dir_make_tmp ("smelt-test-cpu-XXXXXX", NULL);
  static const char junk[] = "processor\t: 0\nflags\t\t: avx2 \x01\xff pni\n:::\nprocessor\n"
                             "processor : 1\nmodel name\t:\n\0\0garbage\nCPU part: zz\n";
  g_autofree char *long_line = g_strnfill (200000, 'a');
  sm_cpu_profile cpu;
  sm_error err = { 0 };

  write_file (root, "proc/cpuinfo", junk, sizeof junk - 1);
  write_file (root, "sys/devices/system/cpu/online", "0-1,x\n", -1);
  write_file (root, "sys/devices/system/cpu/cpu0/topology/core_id", "zero\n", -1);
  g_assert_cmpint (sm_cpu_profile_read (root, &cpu, &err), ==, SM_OK);
  g_assert_cmpint (cpu.arch, ==, SM_CPU_ARCH_X86_64);
  g_assert_true (sm_cpu_has (&cpu, SM_CPU_AVX2));
  g_assert_true (sm_cpu_has (&cpu, SM_CPU_SSE3));
  /* The malformed online list is ignored: two well-formed "processor" lines remain. */
  g_assert_cmpint (cpu.threads, ==, 2);
  g_assert_cmpint (cpu.cores, ==, 2);
  g_assert_cmpstr (cpu.model, ==, "");

  /* One enormous line: the model name is cut to the buffer, nothing overflows. */
  {
    g_autofree char *text = g_strdup_printf ("processor\t: 0\nmodel name\t: %s\n", long_line);

    write_file (root, "proc/cpuinfo", text, -1);
    write_file (root, "sys/devices/system/cpu/online", "0-3,8-11\n", -1);
    g_assert_cmpint (sm_cpu_profile_read (root, &cpu, &err), ==, SM_OK);
    g_assert_cmpuint (strlen (cpu.model), ==, SM_CPU_MODEL_MAX - 1);
    g_assert_cmpint (cpu.threads, ==, 8);
    g_assert_cmpint (cpu.arch, ==, SM_CPU_ARCH_UNKNOWN);
    g_assert_cmpuint (cpu.features, ==, 0);
  }
  {
    g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", root);

    g_assert_cmpint (system (cmd), ==, 0);
  }
}

/* The live probe must agree with the kernel's view where both exist: every feature CPUID+XGETBV
 * reports is one the kernel also lists (the kernel hides features the OS does not enable). */
static void
test_live (void)
{
  sm_cpu_profile live, recorded;
  sm_error err = { 0 };

  g_assert_cmpint (sm_cpu_profile_read ("", &live, &err), ==, SM_OK);
  g_assert_cmpint (live.cores, >=, 1);
  g_assert_cmpint (live.threads, >=, live.cores);
#if defined(__x86_64__)
  g_assert_cmpint (live.arch, ==, SM_CPU_ARCH_X86_64);
  g_assert_true (sm_cpu_has (&live, SM_CPU_SSE3)); /* every x86-64 CPU since 2005 */
  if (sm_cpu_has (&live, SM_CPU_AVX2))
    g_assert_true (sm_cpu_has (&live, SM_CPU_AVX));
  if (sm_cpu_has (&live, SM_CPU_AVX512BW))
    g_assert_true (sm_cpu_has (&live, SM_CPU_AVX512F));
#endif
  /* "/proc" read as a recorded root gives the kernel's flags to compare with. */
  if (g_file_test ("/proc/cpuinfo", G_FILE_TEST_EXISTS)
      && sm_cpu_profile_read ("/proc/..", &recorded, &err) == SM_OK)
    {
      for (int f = 0; f < SM_CPU_FEATURE_COUNT; f++)
        if (sm_cpu_has (&live, f) && !sm_cpu_has (&recorded, f))
          g_error ("CPUID reports %s but the kernel does not list it", sm_cpu_feature_name (f));
      g_assert_cmpstr (live.model, ==, recorded.model);
      g_assert_cmpint (live.threads, ==, recorded.threads);
    }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/cpu/recorded/%s", cases[i].machine);

      g_test_add_data_func (path, &cases[i], test_recorded);
    }
  g_test_add_func ("/cpu/missing-root", test_missing_root);
  g_test_add_func ("/cpu/names", test_names);
  g_test_add_func ("/cpu/damaged", test_damaged);
  g_test_add_func ("/cpu/live", test_live);
  return g_test_run ();
}
