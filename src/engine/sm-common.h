/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-common.h: status codes and the error record every engine call may fill.
 *
 * The engine never prints and never exits: a failing call returns a non-zero sm_status and, when
 * the caller passed an sm_error, a one-line message saying what went wrong and where. Not for
 * programming errors: those are assert()s.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef enum
{
  SM_OK = 0,
  SM_ERR_IO,          /* open/read/write/mmap/rename failed (errno-based message) */
  SM_ERR_FORMAT,      /* the bytes do not follow the format (hostile or damaged file) */
  SM_ERR_UNSUPPORTED, /* valid but not something we handle (GGUF v1, unknown architecture, ...) */
  SM_ERR_INVALID_ARG, /* the caller asked for something impossible (unknown type name, ...) */
  SM_ERR_NOMEM,       /* an allocation failed */
  SM_ERR_CANCELLED,   /* a callback returned false */
  SM_ERR_NOT_FOUND,   /* a key, tensor or file that must exist does not */
  SM_ERR_NO_SPACE,    /* not enough disk space for the output */
} sm_status;

#define SM_ERROR_MSG_MAX 512

/* A message buffer owned by the caller (usually on its stack). */
typedef struct
{
  sm_status status;
  char msg[SM_ERROR_MSG_MAX]; /* NUL-terminated, one line, no trailing newline */
} sm_error;

/* Fills err (when non-NULL) with status and a printf-style message; returns status so callers can
 * write `return sm_error_set (err, SM_ERR_FORMAT, "...")`. */
sm_status sm_error_set (sm_error   *err,
                        sm_status   status,
                        const char *fmt,
                        ...) __attribute__ ((format (printf, 3, 4)));

/* Prepends "prefix: " to an already set message (for adding the file name at a higher level). */
void sm_error_prefix (sm_error   *err,
                      const char *prefix);

/* A short English name of a status ("format error", ...), never NULL. */
const char *sm_status_name (sm_status status);
