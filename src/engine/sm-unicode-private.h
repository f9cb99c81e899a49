/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-unicode-private.h: the generated range table shared by sm-unicode.c and sm-unicode-data.c.
 */
#pragma once

#include <stdint.h>

typedef struct
{
  uint32_t first; /* first code point of the run */
  uint32_t flags; /* SM_UNICODE_* bits of every code point in the run */
} sm_unicode_range;

extern const sm_unicode_range sm_unicode_ranges[];
extern const uint32_t         sm_unicode_n_ranges;
extern const char             sm_unicode_data_version[];
