/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-hw.h: the hardware profile the advisor reasons about: processor (from the engine's
 * sm-cpu probe), memory (capped by the cgroup limit), GPUs (NVIDIA through NVML loaded at run time,
 * AMD and Intel through sysfs), free disk space where models are stored, and a memory bandwidth
 * figure measured once and cached.
 *
 * Every reader takes a root directory ("" or "/" for the live machine) so tests run them on
 * recorded /proc and /sys trees. A missing driver or file is normal (no GPU, no cgroup limit), not
 * an error. The profile also round-trips through the JSON that `smelt hw --json` prints. Not the
 * place for recommendations: smelt-advisor.h reads a profile and decides.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define SMELT_HW_ERROR (smelt_hw_error_quark ())

typedef enum
{
  SMELT_HW_ERROR_IO,    /* a recorded root lacks a file every machine has (/proc/meminfo, ...) */
  SMELT_HW_ERROR_PARSE, /* a profile JSON is malformed or has fields of the wrong type */
} SmeltHwError;

GQuark smelt_hw_error_quark (void);

typedef struct
{
  char    *vendor;                     /* "nvidia", "amd" or "intel" */
  char    *name;                       /* "NVIDIA GeForce RTX 4090", "Radeon RX 7900 XTX" */
  guint64  vram_total_bytes;           /* memory the GPU can hold weights in; for unified
                                          memory this includes the GTT share of system RAM */
  guint64  vram_free_bytes;
  gboolean bf16;                       /* native BF16 arithmetic (NVIDIA compute >= 8.0) */
  gboolean fp16;                       /* native FP16 arithmetic (NVIDIA compute >= 5.3) */
  gboolean unified_memory;             /* an integrated GPU whose memory is system RAM */
  double   bandwidth_bytes_per_second; /* 0 when unknown (the advisor then estimates) */
} SmeltHwGpu;

SmeltHwGpu *smelt_hw_gpu_new (const char *vendor,
                              const char *name);
void        smelt_hw_gpu_free (SmeltHwGpu *gpu);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmeltHwGpu, smelt_hw_gpu_free)

typedef struct
{
  char      *arch;                       /* "x86_64", "aarch64", "unknown" */
  char      *model;                      /* CPU model name, "" when unknown */
  int        cores;                      /* physical cores */
  int        threads;                    /* logical processors */
  char     **features;                   /* lowercase names as sm_cpu_feature_name() spells them */
  guint64    memory_total_bytes;         /* RAM, capped by the cgroup limit */
  guint64    memory_available_bytes;     /* what can be used now, capped the same way */
  double     memory_bandwidth_bytes_per_second; /* 0 when unknown */
  GPtrArray *gpus;                       /* (element-type SmeltHwGpu) */
  char      *disk_path;                  /* where models are stored; NULL when unknown */
  guint64    disk_free_bytes;
} SmeltHwProfile;

SmeltHwProfile *smelt_hw_profile_new (void);
void            smelt_hw_profile_free (SmeltHwProfile *profile);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmeltHwProfile, smelt_hw_profile_free)

/* TRUE when the profile's CPU lists the feature (lowercase name). */
gboolean smelt_hw_profile_has_feature (const SmeltHwProfile *profile,
                                       const char           *feature);

/* Probes the machine under root ("" or "/" = live): CPU, memory, GPUs (NVML on the live root
 * only), and the free space of models_dir (or of its nearest existing parent; NULL = the default
 * models folder, see smelt_hw_default_models_dir()). The memory bandwidth is left at 0: call
 * smelt_hw_memory_bandwidth() for the live machine. Fails only when a recorded root lacks
 * proc/cpuinfo or proc/meminfo. Blocking (file reads, dlopen); any thread. */
SmeltHwProfile *smelt_hw_profile_probe (const char *root,
                                        const char *models_dir,
                                        GError    **error);

/* The live machine as the window needs it, on a worker thread: smelt_hw_profile_probe ("",
 * NULL) with the memory bandwidth filled in from smelt_hw_memory_bandwidth() (which may time
 * the memory bus). A cancelled probe finishes with G_IO_ERROR_CANCELLED. */
void            smelt_hw_profile_probe_live_async  (GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
SmeltHwProfile *smelt_hw_profile_probe_live_finish (GAsyncResult        *result,
                                                    GError             **error);

/* Reads MemTotal/MemAvailable from root/proc/meminfo and caps them by the cgroup v2
 * memory.max (minus memory.current) or the v1 memory.limit_in_bytes of the process's cgroup
 * (root/proc/self/cgroup, root/sys/fs/cgroup). */
gboolean smelt_hw_read_memory (const char *root,
                               guint64    *total_bytes,
                               guint64    *available_bytes,
                               GError    **error);

/* AMD (0x1002) and Intel (0x8086) GPUs from root/sys/class/drm/card<N>/device: VRAM and GTT
 * counters; devices that expose no memory counters are left out. Integrated GPUs (a carve-out of
 * at most 4 GiB plus a larger GTT) are marked unified_memory and count VRAM + GTT. Returns
 * (element-type SmeltHwGpu), possibly empty. */
GPtrArray *smelt_hw_read_drm_gpus (const char *root);

/* NVIDIA GPUs through libnvidia-ml.so.1 loaded with dlopen: name, memory, compute capability,
 * bandwidth from bus width and memory clock. An absent driver gives an empty array. */
GPtrArray *smelt_hw_read_nvml_gpus (void);

/* The folder models are stored in: $HF_HUB_CACHE, else $HF_HOME/hub, else
 * <user cache>/huggingface/hub (the cache huggingface_hub and llama.cpp share). */
char *smelt_hw_default_models_dir (void);

/* Main-memory read bandwidth in bytes per second. SMELT_MEMORY_BANDWIDTH (a number of bytes per
 * second) overrides it, for tests; otherwise the figure cached in
 * <user cache>/smelt/memory-bandwidth is used, and only when that is missing is it measured
 * (about 0.1 s: every thread streams its own buffer; the fastest of 5 passes counts, so a
 * busy machine is not mistaken for slow memory) and the cache written. */
double smelt_hw_memory_bandwidth (void);

/* Measures now, without the cache or the override. */
double smelt_hw_measure_memory_bandwidth (void);

/* The `smelt hw --json` shape: {"cpu":{"arch","model","cores","threads","features"},
 * "memory":{"total_bytes","available_bytes"},"gpus":[{"vendor","name","vram_total_bytes",
 * "vram_free_bytes","bf16","fp16","unified_memory"}],"disk":{"path","free_bytes"}}. */
JsonNode *smelt_hw_profile_to_json (const SmeltHwProfile *profile);

/* Parses that shape back (a profile recorded elsewhere). "gpus", "disk" and "unified_memory" may
 * be absent; "memory.bandwidth_bytes_per_second" and a GPU's "bandwidth_bytes_per_second" are
 * read when present. Fails with SMELT_HW_ERROR_PARSE naming the bad field. */
SmeltHwProfile *smelt_hw_profile_from_json (const char *data,
                                            gssize      length,
                                            GError    **error);

G_END_DECLS
