/* as-decode.h — a decoder run token by token.
 *
 * A prompt pass (every layer streamed as as_backend_forward does) fills the
 * backend's key/value cache; each step then appends one token, hands over
 * that token's attention row in every layer as it is computed, and gives
 * the next-token logits. A backend without a cache (decode_* NULL in its
 * vtable) is run whole on all the tokens at each step instead: the same
 * numbers, slower, which is what the cached paths are tested against.
 */
#pragma once

#include <glib.h>

#include "as-backend.h"

G_BEGIN_DECLS

typedef struct _AsDecoder AsDecoder;


/* "auto", "fp32", "file", "int8" (the names the CLI's --weights takes). */
const char *as_decode_weights_to_string   (AsDecodeWeights  weights);
gboolean    as_decode_weights_from_string (const char      *name,
                                           AsDecodeWeights *weights);

/* For BACKEND's model, which must be causal and have a language-model head
 * (as-lm-head.h); CAPACITY tokens at most (prompt and generated), bounded
 * by the model's positions and the attention memory budget. Its steps read
 * AS_DECODE_WEIGHTS_AUTO's weights: exact. */
AsDecoder *as_decoder_new        (AsBackend              *backend,
                                  int                     capacity,
                                  GError                **error);
/* The same, its steps reading WEIGHTS. FILE and INT8 are refused (naming
 * the backend) where the backend has no key/value cache with block steps,
 * FILE also where the model's file holds no weight in a block type. */
AsDecoder *as_decoder_new_with_weights (AsBackend         *backend,
                                        int                capacity,
                                        AsDecodeWeights    weights,
                                        GError           **error);
/* Runs the prompt REQUEST (its ids, callbacks, cancel flag and heads to
 * ablate, which every step then ablates too: as-ablation.h); only as the
 * first call. LOGITS [vocab] gets the last prompt token's next-token
 * logits. */
gboolean   as_decoder_prompt     (AsDecoder              *self,
                                  const AsForwardRequest *request,
                                  float                  *logits,
                                  GError                **error);
/* Appends TOKEN: ON_ROW (may be NULL) gets its attention row in each
 * layer, CANCEL (may be NULL) is checked between layers, LOGITS [vocab]
 * gets the next-token logits. Refused once CAPACITY tokens are in. */
gboolean   as_decoder_step       (AsDecoder              *self,
                                  int                     token,
                                  AsRowFunc               on_row,
                                  gpointer                user_data,
                                  const gint             *cancel,
                                  float                  *logits,
                                  GError                **error);
/* Tokens so far, prompt included, and their ids. */
int        as_decoder_get_length (AsDecoder              *self);
const int *as_decoder_get_ids    (AsDecoder              *self);
int        as_decoder_get_capacity (AsDecoder            *self);
/* TRUE when the backend keeps a key/value cache (FALSE: whole reruns). */
gboolean   as_decoder_is_cached  (AsDecoder              *self);
/* What the steps read: FP32, FILE or INT8 (AUTO resolved). */
AsDecodeWeights as_decoder_get_weights (AsDecoder         *self);
/* Bytes of weights one step reads: the layers' and the output embedding's. */
gsize      as_decoder_get_step_weight_bytes (AsDecoder    *self);
void       as_decoder_free       (AsDecoder              *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AsDecoder, as_decoder_free)

G_END_DECLS
