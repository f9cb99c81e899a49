/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-runtime-private.h: helpers shared inside src/runtime only.
 */
#pragma once

#include <gio/gio.h>

#include "sm-common.h"

G_BEGIN_DECLS

/* Sets *error from an engine status and message; SM_ERR_CANCELLED becomes G_IO_ERROR_CANCELLED. */
void smelt_runtime_set_error (GError        **error,
                              const sm_error *err);

G_END_DECLS
