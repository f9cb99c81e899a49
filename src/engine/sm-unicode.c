/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * sm-unicode.c: UTF-8 coding, category lookups and the GPT-2 byte alphabet (see sm-unicode.h).
 */
#include "sm-unicode.h"
#include "sm-unicode-private.h"

uint32_t
sm_unicode_flags (uint32_t cpt)
{
  uint32_t lo = 0, hi = sm_unicode_n_ranges;

  if (cpt > SM_UNICODE_MAX)
    return SM_UNICODE_UNDEFINED;
  /* Last range whose first code point is <= cpt; ranges[0].first is 0. */
  while (hi - lo > 1)
    {
      uint32_t mid = lo + (hi - lo) / 2;

      if (sm_unicode_ranges[mid].first <= cpt)
        lo = mid;
      else
        hi = mid;
    }
  return sm_unicode_ranges[lo].flags;
}

const char *
sm_unicode_version (void)
{
  return sm_unicode_data_version;
}

size_t
sm_utf8_seq_len (uint8_t lead)
{
  static const uint8_t len_by_high_nibble[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };

  return len_by_high_nibble[lead >> 4];
}

static bool
is_cont (const char *s, size_t len, size_t i)
{
  return i < len && ((uint8_t) s[i] & 0xC0) == 0x80;
}

uint32_t
sm_utf8_decode (const char *s,
                size_t      len,
                size_t     *pos)
{
  size_t i = *pos;
  uint8_t b0 = (uint8_t) s[i];
  uint32_t cpt;
  size_t n;

  if (b0 < 0x80)
    {
      *pos = i + 1;
      return b0;
    }
  /* Like llama.cpp: only the lead byte's bit pattern and the continuation bytes are checked;
   * overlong forms and surrogates pass through unchanged. */
  if ((b0 & 0xE0) == 0xC0)
    {
      n = 2;
      cpt = b0 & 0x1F;
    }
  else if ((b0 & 0xF0) == 0xE0)
    {
      n = 3;
      cpt = b0 & 0x0F;
    }
  else if ((b0 & 0xF8) == 0xF0)
    {
      n = 4;
      cpt = b0 & 0x07;
    }
  else
    {
      *pos = i + 1;
      return SM_UNICODE_REPLACEMENT;
    }
  for (size_t k = 1; k < n; k++)
    {
      if (!is_cont (s, len, i + k))
        {
          *pos = i + 1;
          return SM_UNICODE_REPLACEMENT;
        }
      cpt = (cpt << 6) | ((uint8_t) s[i + k] & 0x3F);
    }
  if (cpt > SM_UNICODE_MAX)
    {
      *pos = i + 1;
      return SM_UNICODE_REPLACEMENT;
    }
  *pos = i + n;
  return cpt;
}

size_t
sm_utf8_encode (uint32_t cpt,
                char    *out)
{
  if (cpt > SM_UNICODE_MAX)
    cpt = SM_UNICODE_REPLACEMENT;
  if (cpt < 0x80)
    {
      out[0] = (char) cpt;
      return 1;
    }
  if (cpt < 0x800)
    {
      out[0] = (char) (0xC0 | (cpt >> 6));
      out[1] = (char) (0x80 | (cpt & 0x3F));
      return 2;
    }
  if (cpt < 0x10000)
    {
      out[0] = (char) (0xE0 | (cpt >> 12));
      out[1] = (char) (0x80 | ((cpt >> 6) & 0x3F));
      out[2] = (char) (0x80 | (cpt & 0x3F));
      return 3;
    }
  out[0] = (char) (0xF0 | (cpt >> 18));
  out[1] = (char) (0x80 | ((cpt >> 12) & 0x3F));
  out[2] = (char) (0x80 | ((cpt >> 6) & 0x3F));
  out[3] = (char) (0x80 | (cpt & 0x3F));
  return 4;
}

size_t
sm_utf8_incomplete_tail (const char *s,
                         size_t      len)
{
  /* Walk back over at most three continuation bytes to the lead byte that owns them. */
  for (size_t back = 1; back <= 4 && back <= len; back++)
    {
      uint8_t b = (uint8_t) s[len - back];

      if ((b & 0xC0) == 0x80)
        continue;
      if (b < 0xC0 || b > 0xF7)
        return 0; /* ASCII or an invalid lead: nothing to wait for */
      return sm_utf8_seq_len (b) > back ? back : 0;
    }
  return 0;
}

uint32_t
sm_unicode_byte_to_cpt (uint8_t byte)
{
  uint32_t shifted = 0;

  if ((byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) || byte >= 0xAE)
    return byte;
  /* The bytes outside the printable runs, in increasing order, take U+0100 onwards:
   * 0x00-0x20 (33 of them), 0x7F-0xA0 (34), 0xAD (1). */
  if (byte <= 0x20)
    shifted = byte;
  else if (byte <= 0xA0)
    shifted = 33 + (byte - 0x7F);
  else
    shifted = 33 + 34;
  return 0x100 + shifted;
}

int
sm_unicode_cpt_to_byte (uint32_t cpt)
{
  if ((cpt >= 0x21 && cpt <= 0x7E) || (cpt >= 0xA1 && cpt <= 0xAC) || (cpt >= 0xAE && cpt <= 0xFF))
    return (int) cpt;
  if (cpt < 0x100 || cpt > 0x100 + 67)
    return -1;
  cpt -= 0x100;
  if (cpt <= 0x20)
    return (int) cpt;
  if (cpt < 33 + 34)
    return (int) (0x7F + (cpt - 33));
  return 0xAD;
}
