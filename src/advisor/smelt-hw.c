/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-hw.c: the hardware profile readers behind smelt-hw.h: /proc/meminfo with cgroup caps,
 * sysfs DRM cards, NVML through dlopen, statvfs of the models folder, the bandwidth measurement and
 * its cache, and the profile's JSON form. Not the CPU probe itself (engine, sm-cpu.c).
 */
#include "config.h"

#include "smelt-hw.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "sm-cpu.h"

G_DEFINE_QUARK (smelt-hw-error-quark, smelt_hw_error)

/* cgroup limits at or above this are "no limit" (v1 prints LONG_MAX rounded to a page). */
#define CGROUP_UNLIMITED (G_GUINT64_CONSTANT (1) << 60)

SmeltHwGpu *
smelt_hw_gpu_new (const char *vendor,
                  const char *name)
{
  SmeltHwGpu *gpu = g_new0 (SmeltHwGpu, 1);

  gpu->vendor = g_strdup (vendor);
  gpu->name = g_strdup (name);
  return gpu;
}

void
smelt_hw_gpu_free (SmeltHwGpu *gpu)
{
  if (gpu == NULL)
    return;
  g_free (gpu->vendor);
  g_free (gpu->name);
  g_free (gpu);
}

SmeltHwProfile *
smelt_hw_profile_new (void)
{
  SmeltHwProfile *p = g_new0 (SmeltHwProfile, 1);

  p->arch = g_strdup ("unknown");
  p->model = g_strdup ("");
  p->cores = 1;
  p->threads = 1;
  p->features = g_new0 (char *, 1);
  p->gpus = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_hw_gpu_free);
  return p;
}

void
smelt_hw_profile_free (SmeltHwProfile *profile)
{
  if (profile == NULL)
    return;
  g_free (profile->arch);
  g_free (profile->model);
  g_strfreev (profile->features);
  g_clear_pointer (&profile->gpus, g_ptr_array_unref);
  g_free (profile->disk_path);
  g_free (profile);
}

gboolean
smelt_hw_profile_has_feature (const SmeltHwProfile *profile,
                              const char           *feature)
{
  g_return_val_if_fail (profile != NULL, FALSE);
  return profile->features != NULL && g_strv_contains ((const char *const *) profile->features,
                                                       feature);
}

static gboolean
is_live (const char *root)
{
  return root == NULL || root[0] == '\0' || g_str_equal (root, "/");
}

static char *
under_root (const char *root,
            const char *rel)
{
  return g_build_filename (is_live (root) ? "/" : root, rel, NULL);
}

/* Reads a small sysfs/proc number; FALSE when absent or not a number. */
static gboolean
read_u64 (const char *path,
          guint64    *out)
{
  g_autofree char *text = NULL;
  char *end;
  guint64 v;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  g_strstrip (text);
  /* strtoull accepts "-5" and negates it; sysfs never prints a sign. */
  if (!g_ascii_isdigit (text[0]))
    return FALSE;
  errno = 0;
  v = g_ascii_strtoull (text, &end, 0);
  if (errno != 0 || *end != '\0')
    return FALSE;
  *out = v;
  return TRUE;
}

static char *
read_line (const char *path)
{
  g_autofree char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return NULL;
  g_strstrip (text);
  if (text[0] == '\0' || !g_utf8_validate (text, -1, NULL))
    return NULL;
  return g_steal_pointer (&text);
}

/* ---- memory ---------------------------------------------------------------------------------- */

static gboolean
meminfo_field (const char *text,
               const char *key,
               guint64    *out)
{
  g_autofree char *needle = g_strdup_printf ("\n%s:", key);
  const char *p;
  char *end;
  guint64 kb;

  /* Prefix a newline so the first line matches like the others. */
  if (g_str_has_prefix (text, key) && text[strlen (key)] == ':')
    p = text + strlen (key) + 1;
  else if ((p = strstr (text, needle)) != NULL)
    p += strlen (needle);
  else
    return FALSE;
  while (*p == ' ' || *p == '\t')
    p++;
  kb = g_ascii_strtoull (p, &end, 10);
  if (end == p || kb > G_MAXUINT64 / 1024)
    return FALSE;
  *out = kb * 1024;
  return TRUE;
}

/* The tightest memory limit on the process's cgroup and the usage counted against it. */
static gboolean
cgroup_limit (const char *root,
              guint64    *limit,
              guint64    *usage)
{
  g_autofree char *self_path = under_root (root, "proc/self/cgroup");
  g_autofree char *self = NULL;
  g_auto(GStrv) lines = NULL;
  const char *v2_path = NULL, *v1_path = NULL;
  gboolean found = FALSE;

  *limit = G_MAXUINT64;
  *usage = 0;
  if (g_file_get_contents (self_path, &self, NULL, NULL))
    {
      lines = g_strsplit (self, "\n", -1);
      for (guint i = 0; lines[i] != NULL; i++)
        {
          g_auto(GStrv) f = g_strsplit (lines[i], ":", 3);

          if (g_strv_length (f) != 3)
            continue;
          if (g_str_equal (f[0], "0") && f[1][0] == '\0')
            v2_path = strchr (lines[i], '/');
          else
            {
              g_auto(GStrv) ctrls = g_strsplit (f[1], ",", -1);

              if (g_strv_contains ((const char *const *) ctrls, "memory"))
                v1_path = strchr (lines[i], '/');
            }
        }
    }

  /* v1: the memory controller's own hierarchy. Inside a container the path in /proc/self/cgroup
   * may not exist in its namespace; the mount's top then is the container's cgroup. */
  if (v1_path != NULL || v2_path == NULL)
    {
      const char *tries[] = { v1_path, "/" };

      for (guint t = 0; t < G_N_ELEMENTS (tries) && !found; t++)
        {
          g_autofree char *rel = NULL;
          g_autofree char *lim_path = NULL, *use_path = NULL;
          guint64 lim, use = 0;

          if (tries[t] == NULL)
            continue;
          rel = g_build_filename ("sys/fs/cgroup/memory", tries[t], "memory.limit_in_bytes", NULL);
          lim_path = under_root (root, rel);
          if (!read_u64 (lim_path, &lim))
            continue;
          found = TRUE;
          if (lim < CGROUP_UNLIMITED)
            {
              g_free (rel);
              rel = g_build_filename ("sys/fs/cgroup/memory", tries[t], "memory.usage_in_bytes",
                                      NULL);
              use_path = under_root (root, rel);
              read_u64 (use_path, &use);
              *limit = lim;
              *usage = use;
            }
        }
    }

  /* v2: memory.max on the process's cgroup and every ancestor up to the mount's top. */
  if (!found)
    {
      g_autofree char *path = g_strdup (v2_path != NULL ? v2_path : "/");

      for (;;)
        {
          g_autofree char *rel = g_build_filename ("sys/fs/cgroup", path, "memory.max", NULL);
          g_autofree char *max_path = under_root (root, rel);
          guint64 lim;

          if (read_u64 (max_path, &lim) && lim < CGROUP_UNLIMITED && lim < *limit)
            {
              g_autofree char *crel = g_build_filename ("sys/fs/cgroup", path, "memory.current",
                                                        NULL);
              g_autofree char *cur_path = under_root (root, crel);
              guint64 cur = 0;

              read_u64 (cur_path, &cur);
              *limit = lim;
              *usage = cur;
            }
          if (g_str_equal (path, "/") || path[0] == '\0')
            break;
          {
            char *parent = g_path_get_dirname (path);

            g_free (path);
            path = parent;
          }
        }
    }
  return *limit != G_MAXUINT64;
}

gboolean
smelt_hw_read_memory (const char *root,
                      guint64    *total_bytes,
                      guint64    *available_bytes,
                      GError    **error)
{
  g_autofree char *path = under_root (root, "proc/meminfo");
  g_autofree char *text = NULL;
  guint64 total = 0, avail = 0, limit, usage;

  g_return_val_if_fail (total_bytes != NULL && available_bytes != NULL, FALSE);

  if (!g_file_get_contents (path, &text, NULL, NULL))
    {
      g_set_error (error, SMELT_HW_ERROR, SMELT_HW_ERROR_IO, "Cannot read %s", path);
      return FALSE;
    }
  if (!meminfo_field (text, "MemTotal", &total))
    {
      g_set_error (error, SMELT_HW_ERROR, SMELT_HW_ERROR_IO, "%s has no MemTotal", path);
      return FALSE;
    }
  if (!meminfo_field (text, "MemAvailable", &avail))
    {
      /* Kernels before 3.14 lack MemAvailable: free plus page cache is the old estimate. */
      guint64 mfree = 0, cached = 0, buffers = 0;

      meminfo_field (text, "MemFree", &mfree);
      meminfo_field (text, "Cached", &cached);
      meminfo_field (text, "Buffers", &buffers);
      avail = mfree + cached + buffers;
    }
  if (avail > total)
    avail = total;

  if (cgroup_limit (root, &limit, &usage))
    {
      guint64 room = usage < limit ? limit - usage : 0;

      total = MIN (total, limit);
      avail = MIN (avail, room);
    }
  *total_bytes = total;
  *available_bytes = avail;
  return TRUE;
}

/* ---- GPUs: sysfs ----------------------------------------------------------------------------- */

static gboolean
is_card_name (const char *name)
{
  if (!g_str_has_prefix (name, "card") || name[4] == '\0')
    return FALSE;
  for (const char *p = name + 4; *p; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;
  return TRUE;
}

static int
compare_names (gconstpointer a,
               gconstpointer b)
{
  return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

GPtrArray *
smelt_hw_read_drm_gpus (const char *root)
{
  g_autofree char *drm = under_root (root, "sys/class/drm");
  g_autoptr(GPtrArray) gpus = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_hw_gpu_free);
  g_autoptr(GPtrArray) cards = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GDir) dir = g_dir_open (drm, 0, NULL);
  const char *entry;

  if (dir == NULL)
    return g_steal_pointer (&gpus); /* no DRM at all: a server or a container */
  while ((entry = g_dir_read_name (dir)) != NULL)
    if (is_card_name (entry))
      g_ptr_array_add (cards, g_strdup (entry));
  g_ptr_array_sort (cards, compare_names);

  for (guint i = 0; i < cards->len; i++)
    {
      g_autofree char *dev = g_build_filename (drm, g_ptr_array_index (cards, i), "device", NULL);
      g_autofree char *vendor_path = g_build_filename (dev, "vendor", NULL);
      g_autofree char *device_path = g_build_filename (dev, "device", NULL);
      g_autofree char *vendor_id = read_line (vendor_path);
      g_autofree char *device_id = read_line (device_path);
      g_autofree char *product = NULL;
      const char *vendor;
      guint64 vram_total = 0, vram_used = 0, gtt_total = 0, gtt_used = 0;
      gboolean have_vram, have_gtt, unified;
      SmeltHwGpu *gpu;
      char *p;

      if (vendor_id == NULL)
        continue;
      if (g_ascii_strcasecmp (vendor_id, "0x1002") == 0)
        vendor = "amd";
      else if (g_ascii_strcasecmp (vendor_id, "0x8086") == 0)
        vendor = "intel";
      else
        continue; /* NVIDIA comes through NVML, others are not offload targets */

      p = g_build_filename (dev, "mem_info_vram_total", NULL);
      have_vram = read_u64 (p, &vram_total);
      g_free (p);
      p = g_build_filename (dev, "mem_info_vram_used", NULL);
      read_u64 (p, &vram_used);
      g_free (p);
      p = g_build_filename (dev, "mem_info_gtt_total", NULL);
      have_gtt = read_u64 (p, &gtt_total);
      g_free (p);
      p = g_build_filename (dev, "mem_info_gtt_used", NULL);
      read_u64 (p, &gtt_used);
      g_free (p);
      if (!have_vram && !have_gtt)
        {
          g_debug ("%s: no memory counters, not an offload target", dev);
          continue;
        }
      vram_used = MIN (vram_used, vram_total);
      gtt_used = MIN (gtt_used, gtt_total);

      /* sysfs has no "integrated" flag. An APU's VRAM is a BIOS carve-out of a few hundred MB to
       * a few GB and the GTT window onto system RAM is larger (the same holds for Intel's
       * integrated GPUs). Those can hold weights in carve-out + GTT, all of it taken from RAM. */
      unified = vram_total <= (G_GUINT64_CONSTANT (4) << 30) && gtt_total > vram_total;

      p = g_build_filename (dev, "product_name", NULL);
      product = read_line (p);
      g_free (p);
      if (product != NULL)
        gpu = smelt_hw_gpu_new (vendor, product);
      else
        {
          g_autofree char *name = g_strdup_printf ("%s%s (%s)",
                                                   g_str_equal (vendor, "amd") ? "AMD Radeon"
                                                                               : "Intel",
                                                   unified ? " integrated graphics" : " GPU",
                                                   device_id != NULL ? device_id : "?");
          gpu = smelt_hw_gpu_new (vendor, name);
        }
      gpu->unified_memory = unified;
      if (unified)
        {
          gpu->vram_total_bytes = vram_total + gtt_total;
          gpu->vram_free_bytes = (vram_total - vram_used) + (gtt_total - gtt_used);
        }
      else
        {
          gpu->vram_total_bytes = vram_total;
          gpu->vram_free_bytes = vram_total - vram_used;
        }
      /* Every GPU these drivers run computes in FP16; BF16 support cannot be read from sysfs, so
       * it is not claimed. */
      gpu->fp16 = TRUE;
      gpu->bf16 = FALSE;
      g_ptr_array_add (gpus, gpu);
    }
  return g_steal_pointer (&gpus);
}

/* ---- GPUs: NVML ------------------------------------------------------------------------------ */

/* The few NVML entry points used, declared from the NVML API reference (nvml.h is not needed at
 * build time: the driver may be absent on the build machine and on the user's). */
typedef int nvml_return;
typedef void *nvml_device;
typedef struct
{
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
} nvml_memory;

#define NVML_SUCCESS   0
#define NVML_CLOCK_MEM 2

GPtrArray *
smelt_hw_read_nvml_gpus (void)
{
  GPtrArray *gpus = g_ptr_array_new_with_free_func ((GDestroyNotify) smelt_hw_gpu_free);
  nvml_return (*init) (void);
  nvml_return (*shutdown) (void);
  nvml_return (*get_count) (unsigned int *);
  nvml_return (*get_handle) (unsigned int, nvml_device *);
  nvml_return (*get_name) (nvml_device, char *, unsigned int);
  nvml_return (*get_memory) (nvml_device, nvml_memory *);
  nvml_return (*get_cc) (nvml_device, int *, int *);
  nvml_return (*get_bus_width) (nvml_device, unsigned int *);
  nvml_return (*get_max_clock) (nvml_device, int, unsigned int *);
  unsigned int count = 0;
  void *lib;

  lib = dlopen ("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL)
    return gpus; /* no NVIDIA driver: normal */

  *(void **) &init = dlsym (lib, "nvmlInit_v2");
  *(void **) &shutdown = dlsym (lib, "nvmlShutdown");
  *(void **) &get_count = dlsym (lib, "nvmlDeviceGetCount_v2");
  *(void **) &get_handle = dlsym (lib, "nvmlDeviceGetHandleByIndex_v2");
  *(void **) &get_name = dlsym (lib, "nvmlDeviceGetName");
  *(void **) &get_memory = dlsym (lib, "nvmlDeviceGetMemoryInfo");
  *(void **) &get_cc = dlsym (lib, "nvmlDeviceGetCudaComputeCapability");
  *(void **) &get_bus_width = dlsym (lib, "nvmlDeviceGetMemoryBusWidth");
  *(void **) &get_max_clock = dlsym (lib, "nvmlDeviceGetMaxClockInfo");

  if (init == NULL || shutdown == NULL || get_count == NULL || get_handle == NULL
      || get_name == NULL || get_memory == NULL || init () != NVML_SUCCESS)
    {
      g_debug ("NVML present but unusable");
      dlclose (lib);
      return gpus;
    }
  if (get_count (&count) != NVML_SUCCESS)
    count = 0;
  for (unsigned int i = 0; i < count && i < 64; i++)
    {
      nvml_device dev = NULL;
      char name[96] = "";
      nvml_memory mem = { 0, 0, 0 };
      int major = 0, minor = 0;
      unsigned int bus = 0, clock = 0;
      SmeltHwGpu *gpu;

      if (get_handle (i, &dev) != NVML_SUCCESS)
        continue;
      if (get_name (dev, name, sizeof name) != NVML_SUCCESS || !g_utf8_validate (name, -1, NULL))
        g_snprintf (name, sizeof name, "NVIDIA GPU %u", i);
      if (get_memory (dev, &mem) != NVML_SUCCESS)
        continue;
      gpu = smelt_hw_gpu_new ("nvidia", name);
      gpu->vram_total_bytes = mem.total;
      gpu->vram_free_bytes = MIN (mem.free, mem.total);
      if (get_cc != NULL && get_cc (dev, &major, &minor) == NVML_SUCCESS)
        {
          int cc = major * 10 + minor;

          gpu->bf16 = cc >= 80;
          gpu->fp16 = cc >= 53;
        }
      /* NVML reports the memory clock before the double data rate. */
      if (get_bus_width != NULL && get_max_clock != NULL
          && get_bus_width (dev, &bus) == NVML_SUCCESS
          && get_max_clock (dev, NVML_CLOCK_MEM, &clock) == NVML_SUCCESS)
        gpu->bandwidth_bytes_per_second = (double) bus / 8.0 * (double) clock * 1e6 * 2.0;
      g_ptr_array_add (gpus, gpu);
    }
  shutdown ();
  dlclose (lib);
  return gpus;
}

/* ---- disk ------------------------------------------------------------------------------------ */

char *
smelt_hw_default_models_dir (void)
{
  const char *hub = g_getenv ("HF_HUB_CACHE");
  const char *home = g_getenv ("HF_HOME");

  if (hub != NULL && hub[0] != '\0')
    return g_strdup (hub);
  if (home != NULL && home[0] != '\0')
    return g_build_filename (home, "hub", NULL);
  return g_build_filename (g_get_user_cache_dir (), "huggingface", "hub", NULL);
}

static void
read_disk (const char     *models_dir,
           SmeltHwProfile *profile)
{
  g_autofree char *path = models_dir != NULL ? g_strdup (models_dir)
                                             : smelt_hw_default_models_dir ();
  struct statvfs st;

  profile->disk_path = g_strdup (path);
  /* The folder may not exist before the first download: its filesystem is the nearest parent's. */
  while (statvfs (path, &st) != 0)
    {
      char *parent = g_path_get_dirname (path);

      if (g_str_equal (parent, path))
        {
          g_free (parent);
          return;
        }
      g_free (path);
      path = parent;
    }
  profile->disk_free_bytes = (guint64) st.f_bavail * (guint64) st.f_frsize;
}

/* ---- the whole profile ----------------------------------------------------------------------- */

SmeltHwProfile *
smelt_hw_profile_probe (const char *root,
                        const char *models_dir,
                        GError    **error)
{
  g_autoptr(SmeltHwProfile) profile = smelt_hw_profile_new ();
  g_autoptr(GPtrArray) features = g_ptr_array_new ();
  g_autoptr(GPtrArray) drm = NULL;
  sm_cpu_profile cpu;
  sm_error err = { 0 };

  if (sm_cpu_profile_read (is_live (root) ? "" : root, &cpu, &err) != SM_OK)
    {
      g_set_error (error, SMELT_HW_ERROR, SMELT_HW_ERROR_IO, "%s", err.msg);
      return NULL;
    }
  g_free (profile->arch);
  profile->arch = g_strdup (sm_cpu_arch_name (cpu.arch));
  g_free (profile->model);
  profile->model = g_strdup (g_utf8_validate (cpu.model, -1, NULL) ? cpu.model : "");
  profile->cores = cpu.cores;
  profile->threads = cpu.threads;
  for (int f = 0; f < SM_CPU_FEATURE_COUNT; f++)
    if (sm_cpu_has (&cpu, f))
      g_ptr_array_add (features, g_strdup (sm_cpu_feature_name (f)));
  g_ptr_array_add (features, NULL);
  g_strfreev (profile->features);
  profile->features = (char **) g_ptr_array_free (g_steal_pointer (&features), FALSE);

  if (!smelt_hw_read_memory (root, &profile->memory_total_bytes,
                             &profile->memory_available_bytes, error))
    return NULL;

  if (is_live (root))
    {
      g_autoptr(GPtrArray) nv = smelt_hw_read_nvml_gpus ();

      while (nv->len > 0)
        g_ptr_array_add (profile->gpus, g_ptr_array_steal_index (nv, 0));
    }
  drm = smelt_hw_read_drm_gpus (root);
  while (drm->len > 0)
    g_ptr_array_add (profile->gpus, g_ptr_array_steal_index (drm, 0));

  read_disk (models_dir, profile);
  return g_steal_pointer (&profile);
}

/* ---- memory bandwidth ------------------------------------------------------------------------ */

#define BW_BUFFER_BYTES (32u << 20) /* per thread: well past any last-level cache share */
#define BW_PASSES       5

typedef struct
{
  guint64 *buf;
  gsize    n;
  guint64  sum;     /* kept so the reads cannot be optimised away */
  gint64   best_us; /* the fastest of the passes */
} BwJob;

static gpointer
bw_touch_worker (gpointer data)
{
  BwJob *job = data;

  job->buf = g_malloc (job->n * sizeof (guint64));
  for (gsize i = 0; i < job->n; i++)
    job->buf[i] = i;
  return NULL;
}

static gpointer
bw_read_worker (gpointer data)
{
  BwJob *job = data;
  guint64 a = 0, b = 0, c = 0, d = 0;

  /* Four independent sums keep several loads in flight, as a matrix-vector product does. Each
   * pass is timed on its own and the fastest one counts: on a busy machine a pass that loses
   * its core to another process for a while says nothing about the memory. */
  job->best_us = G_MAXINT64;
  for (int pass = 0; pass < BW_PASSES; pass++)
    {
      gint64 start = g_get_monotonic_time ();

      for (gsize i = 0; i + 4 <= job->n; i += 4)
        {
          a += job->buf[i];
          b += job->buf[i + 1];
          c += job->buf[i + 2];
          d += job->buf[i + 3];
        }
      job->best_us = MIN (job->best_us, MAX (g_get_monotonic_time () - start, 1));
    }
  job->sum = a + b + c + d;
  return NULL;
}

double
smelt_hw_measure_memory_bandwidth (void)
{
  /* Token generation streams the weights once per token on every core, so the figure that
   * matters is the read bandwidth with all cores busy (capped: a few threads saturate a desktop's
   * channels, and more would only add noise). The threads run at once; each one's best pass is
   * its share of the bandwidth. */
  guint n_threads = CLAMP (g_get_num_processors (), 1, 8);
  g_autofree BwJob *jobs = g_new0 (BwJob, n_threads);
  g_autofree GThread **threads = g_new0 (GThread *, n_threads);
  guint64 sink = 0;
  double total = 0;

  for (guint t = 0; t < n_threads; t++)
    {
      jobs[t].n = BW_BUFFER_BYTES / sizeof (guint64);
      threads[t] = g_thread_new ("smelt-bw", bw_touch_worker, &jobs[t]);
    }
  for (guint t = 0; t < n_threads; t++)
    g_thread_join (threads[t]);

  for (guint t = 0; t < n_threads; t++)
    threads[t] = g_thread_new ("smelt-bw", bw_read_worker, &jobs[t]);
  for (guint t = 0; t < n_threads; t++)
    g_thread_join (threads[t]);

  for (guint t = 0; t < n_threads; t++)
    {
      sink += jobs[t].sum;
      total += (double) BW_BUFFER_BYTES / ((double) jobs[t].best_us / 1e6);
      g_free (jobs[t].buf);
    }
  g_debug ("bandwidth probe checksum %" G_GUINT64_FORMAT, sink);
  return total;
}

static gboolean
parse_positive_double (const char *text,
                       double     *out)
{
  char *end;
  double v;

  if (text == NULL)
    return FALSE;
  v = g_ascii_strtod (text, &end);
  while (*end == ' ' || *end == '\n')
    end++;
  if (end == text || *end != '\0' || !(v > 0) || v > 1e15)
    return FALSE;
  *out = v;
  return TRUE;
}

double
smelt_hw_memory_bandwidth (void)
{
  g_autofree char *dir = g_build_filename (g_get_user_cache_dir (), "smelt", NULL);
  g_autofree char *path = g_build_filename (dir, "memory-bandwidth", NULL);
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  double bw;

  if (parse_positive_double (g_getenv ("SMELT_MEMORY_BANDWIDTH"), &bw))
    return bw;
  if (g_file_get_contents (path, &text, NULL, NULL) && parse_positive_double (text, &bw))
    return bw;

  bw = smelt_hw_measure_memory_bandwidth ();
  g_ascii_dtostr (buf, sizeof buf, bw);
  /* g_file_set_contents writes a temporary file and renames it into place. */
  if (g_mkdir_with_parents (dir, 0700) != 0
      || !g_file_set_contents (path, buf, -1, &error))
    g_debug ("cannot cache the memory bandwidth in %s: %s", path,
             error != NULL ? error->message : g_strerror (errno));
  return bw;
}

/* ---- probing the live machine off the main thread --------------------------------------------- */

static void
probe_live_thread (GTask        *task,
                   gpointer      source_object,
                   gpointer      task_data,
                   GCancellable *cancellable)
{
  GError *error = NULL;
  SmeltHwProfile *hw = smelt_hw_profile_probe (NULL, NULL, &error);

  (void) source_object;
  (void) task_data;
  (void) cancellable;
  if (hw == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  if (hw->memory_bandwidth_bytes_per_second <= 0)
    hw->memory_bandwidth_bytes_per_second = smelt_hw_memory_bandwidth ();
  g_task_return_pointer (task, hw, (GDestroyNotify) smelt_hw_profile_free);
}

void
smelt_hw_profile_probe_live_async (GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);

  g_task_set_source_tag (task, smelt_hw_profile_probe_live_async);
  /* A cancelled caller hears back at once, even while the worker is still probing. */
  g_task_set_return_on_cancel (task, TRUE);
  g_task_run_in_thread (task, probe_live_thread);
}

SmeltHwProfile *
smelt_hw_profile_probe_live_finish (GAsyncResult  *result,
                                    GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- JSON ------------------------------------------------------------------------------------ */

JsonNode *
smelt_hw_profile_to_json (const SmeltHwProfile *profile)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  g_return_val_if_fail (profile != NULL, NULL);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "cpu");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "arch");
  json_builder_add_string_value (b, profile->arch);
  json_builder_set_member_name (b, "model");
  json_builder_add_string_value (b, profile->model);
  json_builder_set_member_name (b, "cores");
  json_builder_add_int_value (b, profile->cores);
  json_builder_set_member_name (b, "threads");
  json_builder_add_int_value (b, profile->threads);
  json_builder_set_member_name (b, "features");
  json_builder_begin_array (b);
  for (guint i = 0; profile->features != NULL && profile->features[i] != NULL; i++)
    json_builder_add_string_value (b, profile->features[i]);
  json_builder_end_array (b);
  json_builder_end_object (b);

  json_builder_set_member_name (b, "memory");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "total_bytes");
  json_builder_add_int_value (b, (gint64) profile->memory_total_bytes);
  json_builder_set_member_name (b, "available_bytes");
  json_builder_add_int_value (b, (gint64) profile->memory_available_bytes);
  json_builder_end_object (b);

  json_builder_set_member_name (b, "gpus");
  json_builder_begin_array (b);
  for (guint i = 0; i < profile->gpus->len; i++)
    {
      const SmeltHwGpu *g = g_ptr_array_index (profile->gpus, i);

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "vendor");
      json_builder_add_string_value (b, g->vendor);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, g->name);
      json_builder_set_member_name (b, "vram_total_bytes");
      json_builder_add_int_value (b, (gint64) g->vram_total_bytes);
      json_builder_set_member_name (b, "vram_free_bytes");
      json_builder_add_int_value (b, (gint64) g->vram_free_bytes);
      json_builder_set_member_name (b, "bf16");
      json_builder_add_boolean_value (b, g->bf16);
      json_builder_set_member_name (b, "fp16");
      json_builder_add_boolean_value (b, g->fp16);
      json_builder_set_member_name (b, "unified_memory");
      json_builder_add_boolean_value (b, g->unified_memory);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);

  json_builder_set_member_name (b, "disk");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "path");
  if (profile->disk_path != NULL)
    json_builder_add_string_value (b, profile->disk_path);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "free_bytes");
  json_builder_add_int_value (b, (gint64) profile->disk_free_bytes);
  json_builder_end_object (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* Typed member access that names the field on failure. */
static JsonNode *
member (JsonObject *obj,
        const char *where,
        const char *name,
        GType       want,
        gboolean    optional,
        GError    **error)
{
  JsonNode *node = json_object_get_member (obj, name);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    {
      if (!optional)
        g_set_error (error, SMELT_HW_ERROR, SMELT_HW_ERROR_PARSE, "%s.%s is missing", where, name);
      return NULL;
    }
  if ((want == JSON_TYPE_OBJECT && !JSON_NODE_HOLDS_OBJECT (node))
      || (want == JSON_TYPE_ARRAY && !JSON_NODE_HOLDS_ARRAY (node))
      || (want != JSON_TYPE_OBJECT && want != JSON_TYPE_ARRAY
          && (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != want)))
    {
      g_set_error (error, SMELT_HW_ERROR, SMELT_HW_ERROR_PARSE, "%s.%s has the wrong type", where,
                   name);
      return NULL;
    }
  return node;
}

static gboolean
get_count (JsonObject *obj,
           const char *where,
           const char *name,
           gboolean    optional,
           guint64    *out,
           GError    **error)
{
  JsonNode *n = member (obj, where, name, G_TYPE_INT64, optional, error);
  gint64 v;

  if (n == NULL)
    return optional && (error == NULL || *error == NULL);
  v = json_node_get_int (n);
  if (v < 0)
    {
      g_set_error (error, SMELT_HW_ERROR, SMELT_HW_ERROR_PARSE, "%s.%s is negative", where, name);
      return FALSE;
    }
  *out = (guint64) v;
  return TRUE;
}

static gboolean
get_rate (JsonObject *obj,
          const char *name,
          double     *out)
{
  JsonNode *n = json_object_get_member (obj, name);

  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n))
    return FALSE;
  if (json_node_get_value_type (n) == G_TYPE_INT64)
    *out = (double) json_node_get_int (n);
  else if (json_node_get_value_type (n) == G_TYPE_DOUBLE)
    *out = json_node_get_double (n);
  else
    return FALSE;
  if (!(*out >= 0))
    *out = 0;
  return TRUE;
}

/* error is never NULL here: the optional-member checks look at *error. */
static SmeltHwProfile *
profile_from_json (const char *data,
                   gssize      length,
                   GError    **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(SmeltHwProfile) p = smelt_hw_profile_new ();
  g_autoptr(GPtrArray) features = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) local = NULL;
  JsonObject *top, *cpu, *mem, *disk;
  JsonNode *n;
  JsonArray *arr;
  guint64 count;

  if (!json_parser_load_from_data (parser, data, length, &local))
    {
      g_set_error (error, SMELT_HW_ERROR, SMELT_HW_ERROR_PARSE, "Not JSON: %s", local->message);
      return NULL;
    }
  n = json_parser_get_root (parser);
  if (n == NULL || !JSON_NODE_HOLDS_OBJECT (n))
    {
      g_set_error (error, SMELT_HW_ERROR, SMELT_HW_ERROR_PARSE, "A profile is a JSON object");
      return NULL;
    }
  top = json_node_get_object (n);

  if ((n = member (top, "profile", "cpu", JSON_TYPE_OBJECT, FALSE, error)) == NULL)
    return NULL;
  cpu = json_node_get_object (n);
  if ((n = member (cpu, "cpu", "arch", G_TYPE_STRING, FALSE, error)) == NULL)
    return NULL;
  g_free (p->arch);
  p->arch = g_strdup (json_node_get_string (n));
  if ((n = member (cpu, "cpu", "model", G_TYPE_STRING, TRUE, error)) != NULL)
    {
      g_free (p->model);
      p->model = g_strdup (json_node_get_string (n));
    }
  else if (*error != NULL)
    return NULL;
  if (!get_count (cpu, "cpu", "cores", FALSE, &count, error))
    return NULL;
  p->cores = (int) CLAMP (count, 1, 1 << 20);
  if (!get_count (cpu, "cpu", "threads", FALSE, &count, error))
    return NULL;
  p->threads = (int) CLAMP (count, (guint64) p->cores, 1 << 20);
  if ((n = member (cpu, "cpu", "features", JSON_TYPE_ARRAY, FALSE, error)) == NULL)
    return NULL;
  arr = json_node_get_array (n);
  for (guint i = 0; i < json_array_get_length (arr); i++)
    {
      JsonNode *f = json_array_get_element (arr, i);

      if (!JSON_NODE_HOLDS_VALUE (f) || json_node_get_value_type (f) != G_TYPE_STRING)
        {
          g_set_error (error, SMELT_HW_ERROR, SMELT_HW_ERROR_PARSE,
                       "cpu.features[%u] is not a string", i);
          return NULL;
        }
      g_ptr_array_add (features, g_ascii_strdown (json_node_get_string (f), -1));
    }
  g_ptr_array_add (features, NULL);
  g_strfreev (p->features);
  p->features = (char **) g_ptr_array_free (g_steal_pointer (&features), FALSE);

  if ((n = member (top, "profile", "memory", JSON_TYPE_OBJECT, FALSE, error)) == NULL)
    return NULL;
  mem = json_node_get_object (n);
  if (!get_count (mem, "memory", "total_bytes", FALSE, &p->memory_total_bytes, error)
      || !get_count (mem, "memory", "available_bytes", FALSE, &p->memory_available_bytes, error))
    return NULL;
  p->memory_available_bytes = MIN (p->memory_available_bytes, p->memory_total_bytes);
  get_rate (mem, "bandwidth_bytes_per_second", &p->memory_bandwidth_bytes_per_second);

  if ((n = member (top, "profile", "gpus", JSON_TYPE_ARRAY, TRUE, error)) != NULL)
    {
      arr = json_node_get_array (n);
      for (guint i = 0; i < json_array_get_length (arr); i++)
        {
          JsonNode *gn = json_array_get_element (arr, i);
          g_autofree char *where = g_strdup_printf ("gpus[%u]", i);
          g_autoptr(SmeltHwGpu) gpu = NULL;
          JsonObject *g;
          JsonNode *v, *nm, *b;

          if (!JSON_NODE_HOLDS_OBJECT (gn))
            {
              g_set_error (error, SMELT_HW_ERROR, SMELT_HW_ERROR_PARSE, "%s is not an object",
                           where);
              return NULL;
            }
          g = json_node_get_object (gn);
          if ((v = member (g, where, "vendor", G_TYPE_STRING, FALSE, error)) == NULL
              || (nm = member (g, where, "name", G_TYPE_STRING, FALSE, error)) == NULL)
            return NULL;
          gpu = smelt_hw_gpu_new (json_node_get_string (v), json_node_get_string (nm));
          if (!get_count (g, where, "vram_total_bytes", FALSE, &gpu->vram_total_bytes, error)
              || !get_count (g, where, "vram_free_bytes", FALSE, &gpu->vram_free_bytes, error))
            return NULL;
          gpu->vram_free_bytes = MIN (gpu->vram_free_bytes, gpu->vram_total_bytes);
          if ((b = member (g, where, "bf16", G_TYPE_BOOLEAN, FALSE, error)) == NULL)
            return NULL;
          gpu->bf16 = json_node_get_boolean (b);
          if ((b = member (g, where, "fp16", G_TYPE_BOOLEAN, FALSE, error)) == NULL)
            return NULL;
          gpu->fp16 = json_node_get_boolean (b);
          if ((b = member (g, where, "unified_memory", G_TYPE_BOOLEAN, TRUE, error)) != NULL)
            gpu->unified_memory = json_node_get_boolean (b);
          else if (*error != NULL)
            return NULL;
          get_rate (g, "bandwidth_bytes_per_second", &gpu->bandwidth_bytes_per_second);
          g_ptr_array_add (p->gpus, g_steal_pointer (&gpu));
        }
    }
  else if (*error != NULL)
    return NULL;

  if ((n = member (top, "profile", "disk", JSON_TYPE_OBJECT, TRUE, error)) != NULL)
    {
      disk = json_node_get_object (n);
      if ((n = member (disk, "disk", "path", G_TYPE_STRING, TRUE, error)) != NULL)
        p->disk_path = g_strdup (json_node_get_string (n));
      else if (*error != NULL)
        return NULL;
      if (!get_count (disk, "disk", "free_bytes", TRUE, &p->disk_free_bytes, error))
        return NULL;
    }
  else if (*error != NULL)
    return NULL;

  return g_steal_pointer (&p);
}

SmeltHwProfile *
smelt_hw_profile_from_json (const char *data,
                            gssize      length,
                            GError    **error)
{
  g_autoptr(GError) local = NULL;
  SmeltHwProfile *p;

  g_return_val_if_fail (data != NULL, NULL);

  p = profile_from_json (data, length, &local);
  if (p == NULL)
    g_propagate_error (error, g_steal_pointer (&local));
  return p;
}
