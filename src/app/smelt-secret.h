/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-secret.h: the Hub access token, kept in the user's keyring through libsecret (never in
 * GSettings or a file). Async only: the keyring may prompt or be slow to start. Not a general
 * secret store: it knows exactly one secret.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Looks the token up. _finish returns it (transfer full), or NULL with no error when none is
 * stored, or NULL with an error when the keyring cannot be reached. */
void   smelt_secret_lookup_token_async  (GCancellable       *cancellable,
                                         GAsyncReadyCallback callback,
                                         gpointer            user_data);
char  *smelt_secret_lookup_token_finish (GAsyncResult       *result,
                                         GError            **error);

/* Stores `token`, replacing any previous one; an empty token clears it. */
void     smelt_secret_store_token_async  (const char         *token,
                                          GCancellable       *cancellable,
                                          GAsyncReadyCallback callback,
                                          gpointer            user_data);
gboolean smelt_secret_store_token_finish (GAsyncResult       *result,
                                          GError            **error);

G_END_DECLS
