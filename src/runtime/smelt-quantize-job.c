/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-quantize-job.c: sm_quantize_file on a worker with throttled progress. See the header.
 */
#include "config.h"

#include "sm-gguf.h"
#include "sm-quantize.h"
#include "sm-types.h"

#include "smelt-runtime.h"
#include "smelt-runtime-private.h"

#define PROGRESS_INTERVAL_US (50 * 1000)

struct _SmeltQuantizeJob
{
  GObject parent_instance;

  char                *input_path;
  char                *output_path;
  sm_quantize_params   params;       /* checked in _new; callbacks set per run */
  char                *imatrix_path; /* owned; params.imatrix_path points here */
  gboolean             running;
};

G_DEFINE_FINAL_TYPE (SmeltQuantizeJob, smelt_quantize_job, G_TYPE_OBJECT)

enum { PROGRESS, N_SIGNALS };
static guint signals[N_SIGNALS];

void
smelt_quantize_options_clear (SmeltQuantizeOptions *options)
{
  g_clear_pointer (&options->ftype, g_free);
  g_clear_pointer (&options->output_type, g_free);
  g_clear_pointer (&options->embedding_type, g_free);
  g_clear_pointer (&options->imatrix_path, g_free);
}

/* ---- progress from the worker ---- */

typedef struct
{
  GWeakRef  job;
  GMutex    lock;
  double    fraction;
  char     *tensor;      /* (nullable) name of the tensor in progress */
  double    eta;
  gboolean  scheduled;
  gint64    last_us;
  gint64    started_us;
  char    **names;       /* tensor names in input order, for the progress text */
  gint64    n_names;
  GCancellable *cancellable;
} Progress;

static void
progress_clear (Progress *p)
{
  g_weak_ref_clear (&p->job);
  g_mutex_clear (&p->lock);
  g_free (p->tensor);
  g_strfreev (p->names);
}

static void
progress_unref (gpointer p)
{
  g_atomic_rc_box_release_full (p, (GDestroyNotify) progress_clear);
}

static void
progress_drain (Progress *p)
{
  g_autoptr(SmeltQuantizeJob) job = g_weak_ref_get (&p->job);
  g_autofree char *tensor = NULL;
  double fraction, eta;

  g_mutex_lock (&p->lock);
  p->scheduled = FALSE;
  fraction = p->fraction;
  eta = p->eta;
  tensor = g_strdup (p->tensor);
  g_mutex_unlock (&p->lock);

  if (job != NULL)
    g_signal_emit (job, signals[PROGRESS], 0, fraction, tensor, eta);
}

static gboolean
progress_flush_cb (gpointer data)
{
  progress_drain (data);
  return G_SOURCE_REMOVE;
}

static bool
quantize_progress_cb (int64_t  tensor_i,
                      int64_t  n_tensors,
                      uint64_t bytes_done,
                      uint64_t bytes_total,
                      void    *user_data)
{
  Progress *p = user_data;
  gint64 now = g_get_monotonic_time ();
  double fraction = bytes_total > 0 ? (double) bytes_done / bytes_total : 0;

  if (tensor_i >= n_tensors)
    fraction = 1.0;
  g_mutex_lock (&p->lock);
  p->fraction = fraction;
  g_free (p->tensor);
  p->tensor = tensor_i < p->n_names ? g_strdup (p->names[tensor_i]) : NULL;
  /* A linear estimate from the bytes done so far; meaningless in the first percent. */
  p->eta = fraction > 0.01 && fraction < 1.0
         ? (now - p->started_us) / 1e6 * (1.0 - fraction) / fraction
         : (fraction >= 1.0 ? 0 : -1);
  if (!p->scheduled && (now - p->last_us >= PROGRESS_INTERVAL_US || fraction >= 1.0))
    {
      p->scheduled = TRUE;
      p->last_us = now;
      g_idle_add_full (G_PRIORITY_DEFAULT, progress_flush_cb, g_atomic_rc_box_acquire (p),
                       progress_unref);
    }
  g_mutex_unlock (&p->lock);
  return !g_cancellable_is_cancelled (p->cancellable);
}

/* ---- running ---- */

static void
run_worker (GTask        *task,
            gpointer      source,
            gpointer      task_data,
            GCancellable *cancellable)
{
  SmeltQuantizeJob *self = source;
  Progress *p = task_data;
  sm_quantize_params params = self->params;
  sm_gguf *g = NULL;
  sm_error err = { 0 };
  GError *error = NULL;

  /* The tensor names, so progress can say which one is being written. */
  if (sm_gguf_open (self->input_path, &g, &err) != SM_OK)
    {
      smelt_runtime_set_error (&error, &err);
      g_task_return_error (task, error);
      return;
    }
  p->n_names = sm_gguf_get_n_tensors (g);
  p->names = g_new0 (char *, p->n_names + 1);
  for (gint64 i = 0; i < p->n_names; i++)
    p->names[i] = g_strdup (sm_gguf_get_tensor (g, i)->name);
  sm_gguf_free (g);

  p->cancellable = cancellable;
  p->started_us = g_get_monotonic_time ();
  params.progress = quantize_progress_cb;
  params.progress_data = p;
  if (sm_quantize_file (self->input_path, self->output_path, &params, &err) != SM_OK)
    {
      smelt_runtime_set_error (&error, &err);
      g_task_return_error (task, error);
      return;
    }
  g_task_return_boolean (task, TRUE);
}

void
smelt_quantize_job_run_async (SmeltQuantizeJob   *self,
                              GCancellable       *cancellable,
                              GAsyncReadyCallback callback,
                              gpointer            user_data)
{
  g_autoptr(GTask) task = NULL;
  Progress *p;

  g_return_if_fail (SMELT_IS_QUANTIZE_JOB (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, smelt_quantize_job_run_async);
  if (self->running)
    {
      g_task_return_new_error (task, SMELT_RUNTIME_ERROR, SMELT_RUNTIME_ERROR_BUSY,
                               "the job is already running");
      return;
    }
  self->running = TRUE;
  p = g_atomic_rc_box_new0 (Progress);
  g_weak_ref_init (&p->job, self);
  g_mutex_init (&p->lock);
  p->eta = -1;
  g_task_set_task_data (task, p, progress_unref);
  g_task_run_in_thread (task, run_worker);
}

gboolean
smelt_quantize_job_run_finish (SmeltQuantizeJob *self,
                               GAsyncResult     *result,
                               GError          **error)
{
  Progress *p;

  g_return_val_if_fail (SMELT_IS_QUANTIZE_JOB (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  p = g_task_get_task_data (G_TASK (result));
  if (p != NULL)
    {
      self->running = FALSE;
      /* The final state (100 % on success) reaches the listener before the result. */
      progress_drain (p);
    }
  return g_task_propagate_boolean (G_TASK (result), error);
}

static gboolean
parse_type (const char *name,
            int        *out,
            GError    **error)
{
  int t;

  *out = -1;
  if (name == NULL || *name == '\0')
    return TRUE;
  if ((t = sm_type_from_name (name)) < 0)
    {
      g_set_error (error, SMELT_RUNTIME_ERROR, SMELT_RUNTIME_ERROR_INVALID,
                   "unknown tensor type “%s”", name);
      return FALSE;
    }
  *out = t;
  return TRUE;
}

SmeltQuantizeJob *
smelt_quantize_job_new (const char                 *input_path,
                        const char                 *output_path,
                        const SmeltQuantizeOptions *options,
                        GError                    **error)
{
  g_autoptr(SmeltQuantizeJob) self = NULL;
  const sm_quantize_ftype_info *fi;

  g_return_val_if_fail (input_path != NULL, NULL);
  g_return_val_if_fail (output_path != NULL, NULL);
  g_return_val_if_fail (options != NULL && options->ftype != NULL, NULL);

  if ((fi = sm_quantize_ftype_lookup (options->ftype)) == NULL)
    {
      g_set_error (error, SMELT_RUNTIME_ERROR, SMELT_RUNTIME_ERROR_INVALID,
                   "unknown quantization type “%s”", options->ftype);
      return NULL;
    }
  if (g_strcmp0 (input_path, output_path) == 0)
    {
      g_set_error_literal (error, SMELT_RUNTIME_ERROR, SMELT_RUNTIME_ERROR_INVALID,
                           "the output must not replace the input");
      return NULL;
    }

  self = g_object_new (SMELT_TYPE_QUANTIZE_JOB, NULL);
  self->input_path = g_strdup (input_path);
  self->output_path = g_strdup (output_path);
  self->params = sm_quantize_default_params ();
  self->params.ftype = fi->ftype;
  /* 0 leaves one CPU to the main loop, as for chat. */
  self->params.n_threads = options->n_threads > 0 ? options->n_threads
                                                  : MAX (1, (int) g_get_num_processors () - 1);
  if (!parse_type (options->output_type, &self->params.output_tensor_type, error)
      || !parse_type (options->embedding_type, &self->params.token_embedding_type, error))
    return NULL;
  if (options->dynamic_gate)
    {
      sm_dynamic_gate_types gt;

      if (!sm_dynamic_gate_get_types (fi->ftype, &gt))
        {
          g_set_error (error, SMELT_RUNTIME_ERROR, SMELT_RUNTIME_ERROR_INVALID,
                       "the DynamicGate policy has no mix for %s", options->ftype);
          return NULL;
        }
      self->params.layer_policy = SM_LAYER_POLICY_DYNAMIC_GATE;
    }
  if (options->imatrix_path != NULL && *options->imatrix_path != '\0')
    {
      self->imatrix_path = g_strdup (options->imatrix_path);
      self->params.imatrix_path = self->imatrix_path;
      self->params.has_imatrix = true;
    }
  return g_steal_pointer (&self);
}

const char *
smelt_quantize_job_get_output_path (SmeltQuantizeJob *self)
{
  g_return_val_if_fail (SMELT_IS_QUANTIZE_JOB (self), NULL);

  return self->output_path;
}

static void
smelt_quantize_job_finalize (GObject *object)
{
  SmeltQuantizeJob *self = SMELT_QUANTIZE_JOB (object);

  g_free (self->input_path);
  g_free (self->output_path);
  g_free (self->imatrix_path);
  G_OBJECT_CLASS (smelt_quantize_job_parent_class)->finalize (object);
}

static void
smelt_quantize_job_class_init (SmeltQuantizeJobClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = smelt_quantize_job_finalize;

  signals[PROGRESS] = g_signal_new ("progress", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                    NULL, NULL, NULL, G_TYPE_NONE, 3,
                                    G_TYPE_DOUBLE, G_TYPE_STRING, G_TYPE_DOUBLE);
}

static void
smelt_quantize_job_init (SmeltQuantizeJob *self)
{
}
