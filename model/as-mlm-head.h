/* as-mlm-head.h — an encoder's masked-language-model head: what the model
 * would put in place of a [MASK] token.
 *
 * BertForMaskedLM's head (BertLMPredictionHead) takes a token's last hidden
 * state h [hidden] to logits [vocab]:
 *
 *   t      = LayerNorm (gelu (W_dense h + b_dense))    the transform
 *   logits = W_dec t + b_dec                            the decoder
 *
 * with the erf GELU of the config's hidden_act, the config's
 * layer_norm_eps, and W_dec [vocab, hidden] usually the word embeddings
 * (tied). Checkpoints without the head (sentence-transformers, BertModel)
 * simply do not offer predictions; a checkpoint with part of one is refused
 * when it is loaded (as-arch-bert.c).
 */
#pragma once

#include <glib.h>

#include "as-model.h"

G_BEGIN_DECLS

#define AS_MLM_MAX_K 100   /* more predictions than anyone reads */

/* The head's tensors, in the checkpoint's layout (Linear weights [out, in]).
 * All NULL when the checkpoint has no head. */
typedef struct _AsMlmHeadWeights {
  const float *dense_w;     /* [hidden, hidden]  transform.dense */
  const float *dense_b;     /* [hidden] */
  const float *ln_g;        /* [hidden]  transform.LayerNorm */
  const float *ln_b;        /* [hidden] */
  const float *decoder_w;   /* [vocab, hidden]  decoder; the word embeddings when tied */
  const float *decoder_b;   /* [vocab] */
} AsMlmHeadWeights;

/* One prediction for a masked position. */
typedef struct {
  int   id;
  float prob;   /* softmax over the whole vocabulary */
} AsMlmPrediction;

/* MODEL's head, or NULL when its checkpoint has none. */
const AsMlmHeadWeights *as_mlm_head_get       (const AsModel          *model);
/* TRUE when MODEL has a masked-LM head; else FALSE with an
 * AS_MODEL_ERROR_UNSUPPORTED error "…: no masked-LM head …" naming the model. */
gboolean                as_mlm_head_check     (const AsModel          *model,
                                               GError                **error);
/* LOGITS [vocab] of the token whose last hidden state is HIDDEN [hidden].
 * MODEL must pass as_mlm_head_check. Runs on the calling thread only. */
void                    as_mlm_head_logits    (const AsModel          *model,
                                               const float            *hidden,
                                               float                  *logits);
/* The K most probable tokens at POSITION of LAST_HIDDEN [n, hidden] (the
 * final layer's output), most probable first, lower id first among equals,
 * into OUT [k]. Refuses a model without the head, a POSITION outside
 * 0..N-1 and a K outside 1..MIN (vocab, AS_MLM_MAX_K). */
gboolean                as_mlm_head_predict   (const AsModel          *model,
                                               const float            *last_hidden,
                                               int                     n,
                                               int                     position,
                                               int                     k,
                                               AsMlmPrediction        *out,
                                               GError                **error);
/* The positions of TOKEN_IDS [n] that hold the tokenizer's [MASK] into
 * POSITIONS [n] (may be NULL: only counted); returns how many. 0 when the
 * vocabulary has no [MASK]. */
int                     as_mlm_mask_positions (const AsModel          *model,
                                               const int              *token_ids,
                                               int                     n,
                                               int                    *positions);
/* The tokenizer's [MASK] id, or -1 when it has none. */
int                     as_mlm_mask_id        (const AsModel          *model);

/* The predictions at every [MASK] of one input, for the app. */
typedef struct _AsMlmFill {
  int              n_masks;
  int              k;           /* predictions per mask */
  int             *positions;   /* [n_masks] token positions, ascending */
  AsMlmPrediction *top;         /* [n_masks, k] most probable first */
  char           **labels;      /* [n_masks, k] what each id stands for (may be NULL) */
} AsMlmFill;

/* The K most probable tokens (K as in as_mlm_head_predict) at each [MASK]
 * of IDS [n], from LAST_HIDDEN [n, hidden]; NULL when IDS has no [MASK] or
 * on an error (ERROR set). */
AsMlmFill              *as_mlm_fill           (const AsModel          *model,
                                               const int              *ids,
                                               int                     n,
                                               const float            *last_hidden,
                                               int                     k,
                                               GError                **error);
void                    as_mlm_fill_free      (AsMlmFill              *fill);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AsMlmFill, as_mlm_fill_free)

G_END_DECLS
