/* as-lm-head.h — a decoder's language-model head: final hidden states to
 * next-token logits through the output embedding, for generation and the
 * logit lens alike. The architecture says where its output embedding is
 * and how it normalises the stream (as-architecture.h).
 */
#pragma once

#include <glib.h>

#include "as-model.h"

G_BEGIN_DECLS

/* TRUE when MODEL's architecture has a language-model head. */
gboolean as_lm_head_available (const AsModel *model);

/* LOGITS [n, vocab] = FINAL_HIDDEN [n, hidden] E^T, E the output embedding
 * [vocab, hidden]. FINAL_HIDDEN is after the final norm. */
void     as_lm_head_logits    (const AsModel *model,
                               const float   *final_hidden,
                               int            n,
                               float         *logits);

G_END_DECLS
