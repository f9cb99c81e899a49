/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-runtime.h: the only bridge from the engine to the GLib main loop (architecture.md).
 * Model loading and chat replies (SmeltChatSession) and quantization (SmeltQuantizeJob) run on
 * worker threads; progress and reply text reach the main loop through idle callbacks, throttled
 * to about 20 Hz, and are dropped when the receiver is gone or a newer request replaced theirs.
 * Cancellation always goes through a GCancellable. Engine errors (sm_status) become
 * SMELT_RUNTIME_ERROR GErrors carrying the engine's message.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define SMELT_RUNTIME_ERROR (smelt_runtime_error_quark ())

typedef enum
{
  SMELT_RUNTIME_ERROR_IO,          /* reading or writing a file failed */
  SMELT_RUNTIME_ERROR_FORMAT,      /* not a valid GGUF file */
  SMELT_RUNTIME_ERROR_UNSUPPORTED, /* a valid file Smelt cannot run (architecture, type) */
  SMELT_RUNTIME_ERROR_INVALID,     /* an impossible request (no model, empty message, ...) */
  SMELT_RUNTIME_ERROR_NO_MEMORY,
  SMELT_RUNTIME_ERROR_NO_SPACE,    /* not enough disk space for the output */
  SMELT_RUNTIME_ERROR_NOT_FOUND,   /* a tensor or key the model needs is missing */
  SMELT_RUNTIME_ERROR_BUSY,        /* the session is already loading or replying */
} SmeltRuntimeError;

GQuark smelt_runtime_error_quark (void);

G_END_DECLS

#include "smelt-chat-session.h"
#include "smelt-quantize-job.h"
