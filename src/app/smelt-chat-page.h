/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * smelt-chat-page.h: the Chat page: saved conversations (list, new, rename, delete), a model
 * picker over the Library's models, streaming replies through SmeltChatSession (stop,
 * regenerate, copy), a system prompt and sampling settings (the GSettings defaults), context
 * usage and tokens per second. Code blocks (``` fences) are shown in monospace. Not for
 * downloading or managing models. The saved conversations are read (and the newest one's model
 * reopened) when the page is first shown or a conversation is started, not at construction.
 */
#pragma once

#include <adwaita.h>

#include "smelt-library.h"

G_BEGIN_DECLS

#define SMELT_TYPE_CHAT_PAGE (smelt_chat_page_get_type ())

G_DECLARE_FINAL_TYPE (SmeltChatPage, smelt_chat_page, SMELT, CHAT_PAGE, AdwBin)

/* The models the picker offers (element-type SmeltLocalModel; copied). */
void     smelt_chat_page_set_models       (SmeltChatPage *self,
                                           GPtrArray     *models);
/* Picks and loads the model at path; FALSE when it is not among the models. */
gboolean smelt_chat_page_select_model     (SmeltChatPage *self,
                                           const char    *path);
void     smelt_chat_page_new_conversation (SmeltChatPage *self);
/* Sends `text` as the user's next message (the input box's text when NULL). */
void     smelt_chat_page_send             (SmeltChatPage *self,
                                           const char    *text);
/* Stops a reply in progress; does nothing otherwise. */
void     smelt_chat_page_stop             (SmeltChatPage *self);
gboolean smelt_chat_page_get_busy         (SmeltChatPage *self);

G_END_DECLS
