/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-conversation.h: a saved chat: title, model, system prompt and messages, stored as one
 * JSON file per conversation in $XDG_DATA_HOME/smelt/conversations/ (written to a temporary name
 * and renamed, so a crash never leaves half a file). A plain struct, main thread only; the Chat
 * page owns the list.
 *
 * File format: { "version": 1, "id": "...", "title": "...", "model": "/path/or/null",
 *   "system_prompt": "...", "updated": <unix seconds>,
 *   "messages": [ { "role": "user" | "assistant", "content": "..." }, ... ] }
 */
#pragma once

#include <gio/gio.h>

#include "smelt-runtime.h"

G_BEGIN_DECLS

typedef struct
{
  char      *id;            /* file stem, unique */
  char      *title;
  char      *model_path;    /* (nullable) */
  char      *system_prompt; /* (nullable) */
  gint64     updated;       /* unix seconds */
  GPtrArray *messages;      /* (element-type SmeltChatMessage) */
} SmeltConversation;

/* A new, empty, unsaved conversation titled `title`. */
SmeltConversation *smelt_conversation_new  (const char *title);
void               smelt_conversation_free (SmeltConversation *conv);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmeltConversation, smelt_conversation_free)

/* The folder conversations live in (transfer full): $XDG_DATA_HOME/smelt/conversations. */
char *smelt_conversation_get_dir (void);

/* Writes dir/<id>.json atomically, creating dir. */
gboolean smelt_conversation_save (SmeltConversation *conv,
                                  const char        *dir,
                                  GError           **error);

/* Parses one file; G_IO_ERROR_INVALID_DATA for anything that is not a conversation. */
SmeltConversation *smelt_conversation_load (const char *path,
                                            GError    **error);

/* Every readable conversation of dir, newest first (unreadable files are skipped with a debug
 * message: one damaged file must not hide the others). (element-type SmeltConversation) */
GPtrArray *smelt_conversation_load_all (const char *dir);

gboolean smelt_conversation_delete (SmeltConversation *conv,
                                    const char        *dir,
                                    GError           **error);

G_END_DECLS
