/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-quantize-job.h: one quantization (sm_quantize_file) on a worker thread, for the main
 * loop: "progress" signals at about 20 Hz with the tensor being written, the fraction of input
 * bytes done and an estimate of the time left; cancellation through the GCancellable (the
 * engine then removes its .part output, so nothing is left behind). Not for choosing what to
 * quantize: the decision table lives in src/advisor.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct
{
  char    *ftype;             /* target type as llama-quantize names it ("Q4_K_M") */
  char    *output_type;       /* (nullable) tensor type for output.weight, e.g. "Q8_0" */
  char    *embedding_type;    /* (nullable) tensor type for token_embd.weight */
  gboolean dynamic_gate;      /* the DynamicGate layer policy (IQ mixes) */
  char    *imatrix_path;      /* (nullable) importance matrix file */
  int      n_threads;         /* 0 = one less than the CPUs (at least 1) */
} SmeltQuantizeOptions;

void smelt_quantize_options_clear (SmeltQuantizeOptions *options);

#define SMELT_TYPE_QUANTIZE_JOB (smelt_quantize_job_get_type ())
G_DECLARE_FINAL_TYPE (SmeltQuantizeJob, smelt_quantize_job, SMELT, QUANTIZE_JOB, GObject)

/* Checks the options (known type names, a policy that accepts the type) up front; NULL with a
 * SMELT_RUNTIME_ERROR_INVALID error otherwise. The options are copied. */
SmeltQuantizeJob *smelt_quantize_job_new (const char                 *input_path,
                                          const char                 *output_path,
                                          const SmeltQuantizeOptions *options,
                                          GError                    **error);

const char *smelt_quantize_job_get_output_path (SmeltQuantizeJob *self);

/* Runs the job once. "progress" (double fraction, const char *tensor, double eta_seconds, -1
 * while unknown) is emitted on the main thread; the last one has fraction 1 on success. */
void     smelt_quantize_job_run_async  (SmeltQuantizeJob   *self,
                                        GCancellable       *cancellable,
                                        GAsyncReadyCallback callback,
                                        gpointer            user_data);
gboolean smelt_quantize_job_run_finish (SmeltQuantizeJob *self,
                                        GAsyncResult     *result,
                                        GError          **error);

G_END_DECLS
