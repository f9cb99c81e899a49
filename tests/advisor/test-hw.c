/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test-hw.c: the hardware readers on the recorded trees in tests/fixtures/hw (memory with cgroup
 * caps, DRM GPUs, the whole profile), on small trees written here for the cgroup and old-kernel
 * corners, NVML's absence (or, on a machine with the driver, its consistency), the bandwidth
 * override and cache, and the profile JSON in both directions.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "smelt-hw.h"

#define GiB (G_GUINT64_CONSTANT (1) << 30)
#define MiB (G_GUINT64_CONSTANT (1) << 20)

static char *tmp_root;

typedef struct
{
  const char *machine;
  const char *arch;
  int         cores, threads;
  guint64     mem_total, mem_avail;
  guint       n_gpus;
  const char *gpu_name;
  guint64     vram_total, vram_free;
  gboolean    unified;
} HwCase;

static const HwCase cases[] = {
  { "intel-avx2-laptop", "x86_64", 4, 8, 16 * GiB - 400 * MiB, 10 * GiB, 0 },
  { "xeon-avx512-bf16-server", "x86_64", 8, 16, 256 * GiB, 240 * GiB, 0 },
  { "amd-radeon-dgpu", "x86_64", 8, 16, 32 * GiB, 26 * GiB, 1, "Radeon RX 7900 XTX",
    25753026560, 25753026560 - 1610612736, FALSE },
  { "amd-apu", "x86_64", 8, 16, 32 * GiB - 512 * MiB, 24 * GiB, 1,
    "AMD Radeon integrated graphics (0x15bf)", 512 * MiB + 15 * GiB,
    (512 - 300) * MiB + 15 * GiB - 200 * MiB, TRUE },
  { "raspberry-pi-5", "aarch64", 4, 4, 8 * GiB - 200 * MiB, 7 * GiB, 0 },
  { "ampere-arm-server", "aarch64", 48, 48, 192 * GiB, 180 * GiB, 0 },
  /* cgroup v2 memory.max 8 GiB with 1 GiB in use, on a 64 GiB host */
  { "container-cgroup-limit", "x86_64", 4, 8, 8 * GiB, 7 * GiB, 0 },
  /* cgroup v1 without a limit */
  { "old-cpu-no-avx", "x86_64", 2, 2, 4 * GiB - 100 * MiB, 3 * GiB, 0 },
};

static char *
fixture_root (const char *machine)
{
  return g_build_filename (g_getenv ("SMELT_SOURCE_DIR"), "tests", "fixtures", "hw", machine,
                           NULL);
}

static void
write_file (const char *root,
            const char *rel,
            const char *text)
{
  g_autofree char *path = g_build_filename (root, rel, NULL);
  g_autofree char *dir = g_path_get_dirname (path);
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

static void
test_recorded (gconstpointer data)
{
  const HwCase *c = data;
  g_autofree char *root = fixture_root (c->machine);
  g_autofree char *models = g_build_filename (tmp_root, "not-yet", "hub", NULL);
  g_autoptr(SmeltHwProfile) hw = NULL;
  g_autoptr(GError) error = NULL;

  hw = smelt_hw_profile_probe (root, models, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (hw->arch, ==, c->arch);
  g_assert_cmpint (hw->cores, ==, c->cores);
  g_assert_cmpint (hw->threads, ==, c->threads);
  g_assert_cmpuint (hw->memory_total_bytes, ==, c->mem_total);
  g_assert_cmpuint (hw->memory_available_bytes, ==, c->mem_avail);
  g_assert_cmpuint (hw->gpus->len, ==, c->n_gpus);
  if (c->n_gpus > 0)
    {
      const SmeltHwGpu *g = g_ptr_array_index (hw->gpus, 0);

      g_assert_cmpstr (g->vendor, ==, "amd");
      g_assert_cmpstr (g->name, ==, c->gpu_name);
      g_assert_cmpuint (g->vram_total_bytes, ==, c->vram_total);
      g_assert_cmpuint (g->vram_free_bytes, ==, c->vram_free);
      g_assert_cmpint (g->unified_memory, ==, c->unified);
      g_assert_true (g->fp16);
      g_assert_false (g->bf16);
    }
  /* The models folder does not exist yet: its filesystem's space is still reported. */
  g_assert_cmpstr (hw->disk_path, ==, models);
  g_assert_cmpuint (hw->disk_free_bytes, >, 0);
  g_assert_true (hw->memory_bandwidth_bytes_per_second == 0);
}

static void
test_missing_files (void)
{
  g_autofree char *root = g_build_filename (tmp_root, "no-meminfo", NULL);
  g_autoptr(SmeltHwProfile) hw = NULL;
  g_autoptr(GError) error = NULL;

  write_file (root, "proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu sse2 pni\n");
  hw = smelt_hw_profile_probe (root, tmp_root, &error);
  g_assert_error (error, SMELT_HW_ERROR, SMELT_HW_ERROR_IO);
  g_assert_null (hw);
  g_clear_error (&error);
  hw = smelt_hw_profile_probe ("/nonexistent/smelt", tmp_root, &error);
  g_assert_error (error, SMELT_HW_ERROR, SMELT_HW_ERROR_IO);
  g_assert_null (hw);
}

/* A nested cgroup v2 path: the limit of an ancestor counts, with that ancestor's usage. */
static void
test_cgroup_v2_nested (void)
{
  g_autofree char *root = g_build_filename (tmp_root, "cg2", NULL);
  guint64 total = 0, avail = 0;
  g_autoptr(GError) error = NULL;

  write_file (root, "proc/meminfo", "MemTotal:       33554432 kB\nMemFree:  1000 kB\n"
                                    "MemAvailable:   25165824 kB\n");
  write_file (root, "proc/self/cgroup", "0::/user.slice/app.scope\n");
  write_file (root, "sys/fs/cgroup/memory.max", "max\n");
  write_file (root, "sys/fs/cgroup/user.slice/memory.max", "4294967296\n");
  write_file (root, "sys/fs/cgroup/user.slice/memory.current", "1073741824\n");
  write_file (root, "sys/fs/cgroup/user.slice/app.scope/memory.max", "max\n");
  g_assert_true (smelt_hw_read_memory (root, &total, &avail, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (total, ==, 4 * GiB);
  g_assert_cmpuint (avail, ==, 3 * GiB);
}

/* cgroup v1 with a limit; an old kernel's meminfo without MemAvailable. */
static void
test_cgroup_v1_old_kernel (void)
{
  g_autofree char *root = g_build_filename (tmp_root, "cg1", NULL);
  guint64 total = 0, avail = 0;
  g_autoptr(GError) error = NULL;

  write_file (root, "proc/meminfo", "MemTotal:       16777216 kB\nMemFree:         1048576 kB\n"
                                    "Buffers:          524288 kB\nCached:          2097152 kB\n");
  write_file (root, "proc/self/cgroup", "4:cpu,cpuacct:/docker/abc\n9:memory:/docker/abc\n");
  g_assert_true (smelt_hw_read_memory (root, &total, &avail, &error));
  g_assert_cmpuint (total, ==, 16 * GiB);
  g_assert_cmpuint (avail, ==, 3584 * MiB); /* free + buffers + cached */
  /* Inside the container the path is not there: the mount's top is the container's cgroup. */
  write_file (root, "sys/fs/cgroup/memory/memory.limit_in_bytes", "2147483648\n");
  write_file (root, "sys/fs/cgroup/memory/memory.usage_in_bytes", "536870912\n");
  g_assert_true (smelt_hw_read_memory (root, &total, &avail, &error));
  g_assert_cmpuint (total, ==, 2 * GiB);
  g_assert_cmpuint (avail, ==, 1536 * MiB);
}

static void
test_drm_skips (void)
{
  g_autofree char *root = g_build_filename (tmp_root, "drm", NULL);
  g_autoptr(GPtrArray) gpus = NULL;
  g_autoptr(GPtrArray) none = NULL;

  /* NVIDIA in sysfs is NVML's business; a connector is not a card; garbage numbers are skipped. */
  write_file (root, "sys/class/drm/card0/device/vendor", "0x10de\n");
  write_file (root, "sys/class/drm/card0/device/mem_info_vram_total", "8589934592\n");
  write_file (root, "sys/class/drm/card0-HDMI-A-1/device/vendor", "0x1002\n");
  write_file (root, "sys/class/drm/card0-HDMI-A-1/device/mem_info_vram_total", "1\n");
  write_file (root, "sys/class/drm/card2/device/vendor", "0x1002\n");
  write_file (root, "sys/class/drm/card2/device/device", "0x73ff\n");
  write_file (root, "sys/class/drm/card2/device/mem_info_vram_total", "8573157376\n");
  write_file (root, "sys/class/drm/card2/device/mem_info_vram_used", "not a number\n");
  write_file (root, "sys/class/drm/card3/device/vendor", "0x8086\n");
  write_file (root, "sys/class/drm/card3/device/mem_info_vram_total", "-5\n");
  gpus = smelt_hw_read_drm_gpus (root);
  g_assert_cmpuint (gpus->len, ==, 1);
  g_assert_cmpstr (((SmeltHwGpu *) g_ptr_array_index (gpus, 0))->name, ==,
                   "AMD Radeon GPU (0x73ff)");
  g_assert_cmpuint (((SmeltHwGpu *) g_ptr_array_index (gpus, 0))->vram_free_bytes, ==,
                    8573157376);
  none = smelt_hw_read_drm_gpus ("/nonexistent/smelt");
  g_assert_cmpuint (none->len, ==, 0);
}

/* Without the NVIDIA driver the list is empty; with it, what NVML says must be coherent. */
static void
test_nvml (void)
{
  g_autoptr(GPtrArray) gpus = smelt_hw_read_nvml_gpus ();

  g_assert_nonnull (gpus);
  if (!g_file_test ("/dev/nvidiactl", G_FILE_TEST_EXISTS))
    g_assert_cmpuint (gpus->len, ==, 0);
  for (guint i = 0; i < gpus->len; i++)
    {
      const SmeltHwGpu *g = g_ptr_array_index (gpus, i);

      g_test_message ("NVML: %s, %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes free, "
                      "bf16 %d fp16 %d, %.0f GB/s", g->name, g->vram_free_bytes,
                      g->vram_total_bytes, g->bf16, g->fp16, g->bandwidth_bytes_per_second / 1e9);
      g_assert_cmpstr (g->vendor, ==, "nvidia");
      g_assert_cmpuint (g->vram_total_bytes, >, 0);
      g_assert_cmpuint (g->vram_free_bytes, <=, g->vram_total_bytes);
      if (g->bf16)
        g_assert_true (g->fp16);
    }
}

static void
test_json_round_trip (void)
{
  g_autofree char *root = fixture_root ("amd-apu");
  g_autoptr(SmeltHwProfile) hw = smelt_hw_profile_probe (root, tmp_root, NULL);
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *text = NULL;
  g_autoptr(SmeltHwProfile) back = NULL;
  g_autoptr(GError) error = NULL;
  JsonObject *top, *cpu, *mem, *gpu, *disk;
  const SmeltHwGpu *a, *b;

  g_assert_nonnull (hw);
  node = smelt_hw_profile_to_json (hw);
  top = json_node_get_object (node);
  g_assert_cmpuint (json_object_get_size (top), ==, 4);
  cpu = json_object_get_object_member (top, "cpu");
  mem = json_object_get_object_member (top, "memory");
  disk = json_object_get_object_member (top, "disk");
  gpu = json_array_get_object_element (json_object_get_array_member (top, "gpus"), 0);
  g_assert_cmpuint (json_object_get_size (cpu), ==, 5);
  g_assert_cmpuint (json_object_get_size (mem), ==, 2);
  g_assert_cmpuint (json_object_get_size (disk), ==, 2);
  g_assert_cmpuint (json_object_get_size (gpu), ==, 7);
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (cpu, "features"),
                                                  10), ==, "avx512_bf16");
  g_assert_cmpint (json_object_get_int_member (mem, "total_bytes"), ==, 32 * GiB - 512 * MiB);
  g_assert_true (json_object_get_boolean_member (gpu, "fp16"));

  text = json_to_string (node, FALSE);
  back = smelt_hw_profile_from_json (text, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (back->arch, ==, hw->arch);
  g_assert_cmpstr (back->model, ==, hw->model);
  g_assert_cmpint (back->cores, ==, hw->cores);
  g_assert_cmpint (back->threads, ==, hw->threads);
  g_assert_true (g_strv_equal ((const char *const *) back->features,
                               (const char *const *) hw->features));
  g_assert_cmpuint (back->memory_total_bytes, ==, hw->memory_total_bytes);
  g_assert_cmpuint (back->memory_available_bytes, ==, hw->memory_available_bytes);
  g_assert_cmpuint (back->gpus->len, ==, 1);
  a = g_ptr_array_index (hw->gpus, 0);
  b = g_ptr_array_index (back->gpus, 0);
  g_assert_cmpstr (a->name, ==, b->name);
  g_assert_cmpuint (a->vram_total_bytes, ==, b->vram_total_bytes);
  g_assert_cmpuint (a->vram_free_bytes, ==, b->vram_free_bytes);
  g_assert_true (b->unified_memory);
  g_assert_cmpstr (back->disk_path, ==, hw->disk_path);
  g_assert_cmpuint (back->disk_free_bytes, ==, hw->disk_free_bytes);
}

static void
test_json_minimal_and_extras (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SmeltHwProfile) p = smelt_hw_profile_from_json (
    "{\"cpu\":{\"arch\":\"aarch64\",\"cores\":4,\"threads\":4,\"features\":[\"NEON\"]},"
    "\"memory\":{\"total_bytes\":8000000000,\"available_bytes\":9000000000,"
    "\"bandwidth_bytes_per_second\":17000000000}}", -1, &error);

  g_assert_no_error (error);
  g_assert_true (smelt_hw_profile_has_feature (p, "neon"));
  g_assert_cmpuint (p->memory_available_bytes, ==, 8000000000); /* never above the total */
  g_assert_cmpfloat (p->memory_bandwidth_bytes_per_second, ==, 17e9);
  g_assert_cmpuint (p->gpus->len, ==, 0);
  g_assert_null (p->disk_path);
}

static void
test_json_errors (void)
{
  const struct { const char *json; const char *needle; } bad[] = {
    { "not json", "Not JSON" },
    { "[]", "object" },
    { "{\"memory\":{}}", "profile.cpu is missing" },
    { "{\"cpu\":{\"arch\":\"x86_64\",\"cores\":\"4\",\"threads\":8,\"features\":[]},"
      "\"memory\":{\"total_bytes\":1,\"available_bytes\":1}}", "cpu.cores has the wrong type" },
    { "{\"cpu\":{\"arch\":\"x86_64\",\"cores\":4,\"threads\":8,\"features\":[1]},"
      "\"memory\":{\"total_bytes\":1,\"available_bytes\":1}}", "cpu.features[0]" },
    { "{\"cpu\":{\"arch\":\"x86_64\",\"cores\":4,\"threads\":8,\"features\":[]},"
      "\"memory\":{\"total_bytes\":-1,\"available_bytes\":1}}", "memory.total_bytes is negative" },
    { "{\"cpu\":{\"arch\":\"x86_64\",\"cores\":4,\"threads\":8,\"features\":[]},"
      "\"memory\":{\"total_bytes\":1,\"available_bytes\":1},\"gpus\":[3]}", "gpus[0]" },
    { "{\"cpu\":{\"arch\":\"x86_64\",\"cores\":4,\"threads\":8,\"features\":[]},"
      "\"memory\":{\"total_bytes\":1,\"available_bytes\":1},\"gpus\":[{\"vendor\":\"amd\","
      "\"name\":\"x\",\"vram_total_bytes\":1,\"vram_free_bytes\":1,\"bf16\":false}]}",
      "gpus[0].fp16 is missing" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(SmeltHwProfile) p = smelt_hw_profile_from_json (bad[i].json, -1, &error);

      g_assert_null (p);
      g_assert_error (error, SMELT_HW_ERROR, SMELT_HW_ERROR_PARSE);
      if (strstr (error->message, bad[i].needle) == NULL)
        g_error ("case %zu: '%s' lacks '%s'", i, error->message, bad[i].needle);
    }
}

/* The override wins; without it the first call measures and caches, later calls read the cache. */
static void
test_bandwidth_cache (void)
{
  g_autofree char *cache = g_build_filename (g_get_user_cache_dir (), "smelt",
                                             "memory-bandwidth", NULL);
  g_autofree char *text = NULL;
  double first, second;

  g_assert_true (g_str_has_prefix (cache, tmp_root));
  g_setenv ("SMELT_MEMORY_BANDWIDTH", "12345678900", TRUE);
  g_assert_cmpfloat (smelt_hw_memory_bandwidth (), ==, 12345678900.0);
  g_setenv ("SMELT_MEMORY_BANDWIDTH", "fast", TRUE); /* not a number: ignored */
  g_remove (cache);
  first = smelt_hw_memory_bandwidth ();
  g_assert_cmpfloat (first, >, 1e8);
  g_assert_true (g_file_get_contents (cache, &text, NULL, NULL));
  g_assert_cmpfloat (g_ascii_strtod (text, NULL), ==, first);
  second = smelt_hw_memory_bandwidth ();
  g_assert_cmpfloat (second, ==, first);
  write_file (g_get_user_cache_dir (), "smelt/memory-bandwidth", "2.5e10\n");
  g_assert_cmpfloat (smelt_hw_memory_bandwidth (), ==, 2.5e10);
  g_unsetenv ("SMELT_MEMORY_BANDWIDTH");
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = NULL;
  const char *name;

  if (!g_file_test (path, G_FILE_TEST_IS_DIR) || g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      g_remove (path);
      return;
    }
  dir = g_dir_open (path, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      remove_tree (child);
    }
  g_rmdir (path);
}

int
main (int    argc,
      char **argv)
{
  g_autofree char *cache = NULL;
  int status;


  tmp_root = g_dir_make_tmp ("smelt-test-hw-XXXXXX", NULL);
  g_assert_nonnull (tmp_root);
  /* Before GLib reads it: the bandwidth cache goes under the test's own folder. */
  cache = g_build_filename (tmp_root, "cache", NULL);
  g_setenv ("XDG_CACHE_HOME", cache, TRUE);
  g_unsetenv ("SMELT_MEMORY_BANDWIDTH");

  g_test_init (&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/hw/recorded/%s", cases[i].machine);

      g_test_add_data_func (path, &cases[i], test_recorded);
    }
  g_test_add_func ("/hw/missing-files", test_missing_files);
  g_test_add_func ("/hw/cgroup-v2-nested", test_cgroup_v2_nested);
  g_test_add_func ("/hw/cgroup-v1-old-kernel", test_cgroup_v1_old_kernel);
  g_test_add_func ("/hw/drm-skips", test_drm_skips);
  g_test_add_func ("/hw/nvml", test_nvml);
  g_test_add_func ("/hw/json/round-trip", test_json_round_trip);
  g_test_add_func ("/hw/json/minimal-and-extras", test_json_minimal_and_extras);
  g_test_add_func ("/hw/json/errors", test_json_errors);
  g_test_add_func ("/hw/bandwidth-cache", test_bandwidth_cache);
  status = g_test_run ();
  remove_tree (tmp_root);
  g_free (tmp_root);
  return status;
}
