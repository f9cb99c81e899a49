/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-common.c: the error record. Formatting into a caller's buffer is the only "output" the
 * engine ever does.
 */
#include "sm-common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

sm_status
sm_error_set (sm_error   *err,
              sm_status   status,
              const char *fmt,
              ...)
{
  if (err != NULL)
    {
      va_list ap;

      err->status = status;
      va_start (ap, fmt);
      vsnprintf (err->msg, sizeof err->msg, fmt, ap);
      va_end (ap);
    }
  return status;
}

void
sm_error_prefix (sm_error   *err,
                 const char *prefix)
{
  size_t plen, mlen;

  if (err == NULL || prefix == NULL)
    return;
  /* Shift the message right and write "prefix: " in front, truncating the tail if needed. */
  plen = strlen (prefix);
  if (plen > SM_ERROR_MSG_MAX - 3)
    plen = SM_ERROR_MSG_MAX - 3;
  mlen = strnlen (err->msg, SM_ERROR_MSG_MAX - 1);
  if (plen + 2 + mlen > SM_ERROR_MSG_MAX - 1)
    mlen = SM_ERROR_MSG_MAX - 1 - plen - 2;
  memmove (err->msg + plen + 2, err->msg, mlen);
  memcpy (err->msg, prefix, plen);
  err->msg[plen] = ':';
  err->msg[plen + 1] = ' ';
  err->msg[plen + 2 + mlen] = '\0';
}

const char *
sm_status_name (sm_status status)
{
  switch (status)
    {
    case SM_OK: return "ok";
    case SM_ERR_IO: return "I/O error";
    case SM_ERR_FORMAT: return "format error";
    case SM_ERR_UNSUPPORTED: return "unsupported";
    case SM_ERR_INVALID_ARG: return "invalid argument";
    case SM_ERR_NOMEM: return "out of memory";
    case SM_ERR_CANCELLED: return "cancelled";
    case SM_ERR_NOT_FOUND: return "not found";
    case SM_ERR_NO_SPACE: return "not enough disk space";
    }
  return "unknown error";
}
