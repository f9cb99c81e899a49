/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-runtime.c: the runtime's error domain and the sm_status -> GError mapping.
 */
#include "config.h"

#include "smelt-runtime.h"
#include "smelt-runtime-private.h"

G_DEFINE_QUARK (smelt-runtime-error-quark, smelt_runtime_error)

void
smelt_runtime_set_error (GError        **error,
                         const sm_error *err)
{
  int code;

  g_assert (err != NULL);

  switch (err->status)
    {
    case SM_ERR_CANCELLED:
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, err->msg);
      return;
    case SM_ERR_IO: code = SMELT_RUNTIME_ERROR_IO; break;
    case SM_ERR_FORMAT: code = SMELT_RUNTIME_ERROR_FORMAT; break;
    case SM_ERR_UNSUPPORTED: code = SMELT_RUNTIME_ERROR_UNSUPPORTED; break;
    case SM_ERR_NOMEM: code = SMELT_RUNTIME_ERROR_NO_MEMORY; break;
    case SM_ERR_NO_SPACE: code = SMELT_RUNTIME_ERROR_NO_SPACE; break;
    case SM_ERR_NOT_FOUND: code = SMELT_RUNTIME_ERROR_NOT_FOUND; break;
    case SM_OK:
    case SM_ERR_INVALID_ARG:
    default: code = SMELT_RUNTIME_ERROR_INVALID; break;
    }
  g_set_error_literal (error, SMELT_RUNTIME_ERROR, code,
                       err->msg[0] != '\0' ? err->msg : "engine error");
}
