/* as-logit-lens.h — the logit lens: what a decoder would predict if it stopped
 * after a given layer.
 *
 * For layer l's output residual stream X_l [n, hidden] (as the backend hands
 * it to the layer callback with want_hidden), the lens is
 *
 *   P_l = softmax (final_norm (X_l) E^T)      [n, vocab]
 *
 * with E the output embedding [vocab, hidden] (as-lm-head.h): the model's
 * own head put on an intermediate layer (nostalgebraist 2020, "interpreting
 * GPT: the logit lens"). Row i is the next-token distribution after token i.
 * For the last layer it is the model's own output distribution.
 *
 * Only the top K tokens of each row are kept; a full [n, vocab] block of
 * logits exists for at most AS_LOGIT_LENS_ROWS rows at a time, so memory does
 * not grow with n times the vocabulary.
 */
#pragma once

#include <glib.h>

#include "as-backend.h"
#include "as-model.h"

G_BEGIN_DECLS

#define AS_LOGIT_LENS_MAX_K  100   /* a table of more is not read by anyone */
#define AS_LOGIT_LENS_ROWS   64    /* rows of logits held at once */

/* TRUE when MODEL has a language-model head (a decoder); else FALSE with an
 * AS_MODEL_ERROR_UNSUPPORTED error naming the model and its family. */
gboolean  as_logit_lens_check      (const AsModel  *model,
                                    GError        **error);

/* The lens of one layer: HIDDEN [n, hidden] residual rows; TOP_IDS and
 * TOP_PROBS [n, k] get each row's K most probable next tokens, most probable
 * first (ties: the lower id first). MODEL must pass as_logit_lens_check and
 * 1 <= K <= MIN (vocab, AS_LOGIT_LENS_MAX_K). */
void      as_logit_lens_layer      (const AsModel  *model,
                                    const float    *hidden,
                                    int             n,
                                    int             k,
                                    int            *top_ids,
                                    float          *top_probs);

/* The K largest of ROW [len] by value (ties: the lower index first), in
 * descending order: indices into TOP_IDS [k], values into TOP_VALUES [k].
 * K <= LEN. */
void      as_logit_lens_top_k      (const float    *row,
                                    int             len,
                                    int             k,
                                    int            *top_ids,
                                    float          *top_values);

/* Every layer's lens for one input. Layers are counted from 0 here. */
typedef struct {
  int    n_layers;   /* layers kept: all of them, or the one asked for */
  int    first;      /* the model layer of ids[0] */
  int    n;          /* tokens */
  int    k;
  int   *ids;        /* [n_layers, n, k] */
  float *probs;      /* [n_layers, n, k] */
} AsLogitLens;

/* Runs IDS [n] through BACKEND with hidden states and takes the lens of every
 * layer (LAYER < 0) or of LAYER alone, as each layer arrives. Refuses an
 * encoder, a K or LAYER out of range and a bad request with a message;
 * stops with AS_MODEL_ERROR_CANCELLED once *CANCEL (may be NULL) is
 * non-zero. */
AsLogitLens *as_logit_lens_run     (AsBackend      *backend,
                                    const int      *ids,
                                    int             n,
                                    int             k,
                                    int             layer,
                                    const gint     *cancel,
                                    GError        **error);
void         as_logit_lens_free    (AsLogitLens    *lens);

/* Row I of layer slot L (0 .. n_layers - 1): [k] ids and probabilities. */
static inline const int *
as_logit_lens_ids (const AsLogitLens *lens, int l, int i)
{
  return lens->ids + ((gsize) l * lens->n + i) * lens->k;
}

static inline const float *
as_logit_lens_probs (const AsLogitLens *lens, int l, int i)
{
  return lens->probs + ((gsize) l * lens->n + i) * lens->k;
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AsLogitLens, as_logit_lens_free)

G_END_DECLS
